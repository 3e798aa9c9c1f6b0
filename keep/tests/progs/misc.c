/* The WASI calls the other programs do not reach, raw: preopen names,
 * fd_renumber, fd_datasync/fd_sync, fd_advise, fd_allocate,
 * fd_fdstat_set_flags, fd_filestat_set_times, fd_readdir with small
 * buffers (resuming from cookies), poll_oneoff edge cases, clocks,
 * sched_yield, proc_raise, and argument errors. Prints one line per step;
 * test_wasi compares them with misc.expected.
 *
 * Preopens: fd 3 "/" (an empty directory), fd 4 "data" (the same);
 * stdin closed, stdout a file. */
#include <stdio.h>
#include <string.h>
#include <wasi/api.h>

#define ROOT 3

__attribute__((import_module("wasi_snapshot_preview1"), import_name("path_filestat_get")))
int32_t raw_path_filestat_get(int32_t fd, int32_t flags, int32_t path,
			      int32_t len, int32_t buf);

static const char *name(__wasi_errno_t e)
{
	switch (e) {
	case __WASI_ERRNO_SUCCESS: return "ok";
	case __WASI_ERRNO_BADF: return "EBADF";
	case __WASI_ERRNO_INVAL: return "EINVAL";
	case __WASI_ERRNO_NOSYS: return "ENOSYS";
	case __WASI_ERRNO_NOTDIR: return "ENOTDIR";
	case __WASI_ERRNO_EXIST: return "EEXIST";
	case __WASI_ERRNO_NOENT: return "ENOENT";
	case __WASI_ERRNO_NOTCAPABLE: return "ENOTCAPABLE";
	case __WASI_ERRNO_NAMETOOLONG: return "ENAMETOOLONG";
	case __WASI_ERRNO_ISDIR: return "EISDIR";
	case __WASI_ERRNO_SPIPE: return "ESPIPE";
	case __WASI_ERRNO_NOTSUP: return "ENOTSUP";
	case __WASI_ERRNO_FAULT: return "EFAULT";
	default: return "other";
	}
}

static void show(const char *what, __wasi_errno_t e)
{
	printf("%s: %s\n", what, name(e));
}

static __wasi_fd_t open_file(const char *path, __wasi_oflags_t of,
			     __wasi_fdflags_t ff)
{
	__wasi_fdstat_t root;
	__wasi_fd_t fd = (__wasi_fd_t)-1;
	__wasi_errno_t e;

	(void)__wasi_fd_fdstat_get(ROOT, &root);
	e = __wasi_path_open(ROOT, 0, path, of, root.fs_rights_inheriting,
			     root.fs_rights_inheriting, ff, &fd);
	if (e)
		printf("open %s: %s\n", path, name(e));
	return fd;
}

static void prestats(void)
{
	__wasi_prestat_t ps;
	char buf[16];
	__wasi_fd_t fd;

	for (fd = 3; fd < 6; fd++) {
		__wasi_errno_t e = __wasi_fd_prestat_get(fd, &ps);

		if (e) {
			printf("prestat %u: %s\n", fd, name(e));
			continue;
		}
		memset(buf, 0, sizeof(buf));
		show("prestat_dir_name too short",
		     __wasi_fd_prestat_dir_name(fd, (uint8_t *)buf, 0));
		e = __wasi_fd_prestat_dir_name(fd, (uint8_t *)buf, sizeof(buf));
		printf("prestat %u: tag %u len %u name '%s' %s\n", fd, ps.tag,
		       (unsigned)ps.u.dir.pr_name_len, buf, name(e));
	}
}

static void files(void)
{
	__wasi_ciovec_t iov = { (const uint8_t *)"0123456789", 10 };
	__wasi_filestat_t st;
	__wasi_fdstat_t fs;
	__wasi_filesize_t pos;
	__wasi_size_t n;
	__wasi_fd_t a, b;

	a = open_file("a", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_EXCL, 0);
	show("create a again", __wasi_path_open(ROOT, 0, "a",
		__WASI_OFLAGS_CREAT | __WASI_OFLAGS_EXCL, 0, 0, 0, &b));
	show("write", __wasi_fd_write(a, &iov, 1, &n));
	show("datasync", __wasi_fd_datasync(a));
	show("sync", __wasi_fd_sync(a));
	show("advise", __wasi_fd_advise(a, 0, 10, __WASI_ADVICE_SEQUENTIAL));
	show("advise bad", __wasi_fd_advise(a, 0, 10, 9));
	show("allocate", __wasi_fd_allocate(a, 0, 4096));
	(void)__wasi_fd_filestat_get(a, &st);
	printf("size after allocate %llu\n", (unsigned long long)st.size);
	show("set size", __wasi_fd_filestat_set_size(a, 5));
	(void)__wasi_fd_filestat_get(a, &st);
	printf("size %llu type %u nlink %llu\n", (unsigned long long)st.size,
	       st.filetype, (unsigned long long)st.nlink);

	show("set times", __wasi_fd_filestat_set_times(a, 1000000000ull * 7,
		1000000000ull * 9 + 5, __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM));
	(void)__wasi_fd_filestat_get(a, &st);
	printf("atim %llu mtim %llu\n", (unsigned long long)st.atim,
	       (unsigned long long)st.mtim);
	show("set times both ways", __wasi_fd_filestat_set_times(a, 0, 0,
		__WASI_FSTFLAGS_MTIM | __WASI_FSTFLAGS_MTIM_NOW));
	show("set times (path)", __wasi_path_filestat_set_times(ROOT, 0, "a",
		1000000000ull * 3, 0, __WASI_FSTFLAGS_ATIM));
	(void)__wasi_path_filestat_get(ROOT, 0, "a", &st);
	printf("atim %llu mtim %llu\n", (unsigned long long)st.atim,
	       (unsigned long long)st.mtim);

	/* Append: writes go to the end whatever the offset. */
	show("set append", __wasi_fd_fdstat_set_flags(a, __WASI_FDFLAGS_APPEND));
	(void)__wasi_fd_fdstat_get(a, &fs);
	printf("flags %u\n", fs.fs_flags);
	(void)__wasi_fd_seek(a, 0, __WASI_WHENCE_SET, &pos);
	show("append write", __wasi_fd_write(a, &iov, 1, &n));
	(void)__wasi_fd_tell(a, &pos);
	printf("offset after append %llu\n", (unsigned long long)pos);
	show("set sync", __wasi_fd_fdstat_set_flags(a, __WASI_FDFLAGS_SYNC));
	show("set bad flags", __wasi_fd_fdstat_set_flags(a, 0x100));
	show("seek bad whence", __wasi_fd_seek(a, 0, 7, &pos));
	show("seek before start", __wasi_fd_seek(a, -100, __WASI_WHENCE_SET, &pos));

	/* Renumbering: b takes a's file, a is gone. */
	b = open_file("b", __WASI_OFLAGS_CREAT, 0);
	show("renumber a to b", __wasi_fd_renumber(a, b));
	(void)__wasi_fd_filestat_get(b, &st);
	printf("b now has size %llu\n", (unsigned long long)st.size);
	show("close a", __wasi_fd_close(a));
	show("renumber to a closed fd", __wasi_fd_renumber(b, a));
	show("renumber stdin to itself", __wasi_fd_renumber(0, 0));
	show("close b", __wasi_fd_close(b));

	show("open a as directory", __wasi_path_open(ROOT, 0, "a",
		__WASI_OFLAGS_DIRECTORY, 0, 0, 0, &a));
	show("unlink a/", __wasi_path_unlink_file(ROOT, "a/"));
	show("symlink to a/", __wasi_path_symlink("a", ROOT, "new/"));
	show("mkdir d/", __wasi_path_create_directory(ROOT, "d/"));
	show("rename d/ e", __wasi_path_rename(ROOT, "d/", ROOT, "e"));
	show("rename a e/", __wasi_path_rename(ROOT, "a", ROOT, "e/"));
	show("rmdir e/", __wasi_path_remove_directory(ROOT, "e/"));
	/* wasi-libc measures paths with strlen: the raw import does not. */
	show("path with NUL", (__wasi_errno_t)raw_path_filestat_get(ROOT, 0,
		(int32_t)(uintptr_t)"a\0b", 3, (int32_t)(uintptr_t)&st));
	show("path beyond memory", (__wasi_errno_t)raw_path_filestat_get(ROOT, 0,
		(int32_t)0xfffffff0u, 100, (int32_t)(uintptr_t)&st));
	show("empty path", __wasi_path_filestat_get(ROOT, 0, "", &st));
	show("seek closed stdin", __wasi_fd_seek(0, 0, __WASI_WHENCE_CUR, &pos));
}

/* fd_readdir with a buffer too small for even one entry, then one entry
 * at a time from each cookie: every name comes back exactly once. */
static void readdir_small(void)
{
	char buf[64];
	__wasi_dircookie_t cookie = 0;
	__wasi_size_t used;
	int names = 0, calls = 0, seen_a = 0, seen_b = 0, dots = 0;
	__wasi_fd_t dir = (__wasi_fd_t)-1;
	__wasi_fdstat_t root;

	(void)__wasi_fd_fdstat_get(ROOT, &root);
	show("open . as directory", __wasi_path_open(ROOT, 0, ".",
		__WASI_OFLAGS_DIRECTORY, root.fs_rights_inheriting,
		root.fs_rights_inheriting, 0, &dir));
	show("readdir tiny buffer", __wasi_fd_readdir(dir, (uint8_t *)buf, 10, 0,
						      &used));
	printf("tiny buffer used %u\n", (unsigned)used);
	for (;;) {
		__wasi_dirent_t d;

		if (__wasi_fd_readdir(dir, (uint8_t *)buf, sizeof(buf), cookie,
				      &used) || ++calls > 100)
			break;
		if (used < sizeof(d))
			break;
		memcpy(&d, buf, sizeof(d));
		if (d.d_namlen == 1 && buf[sizeof(d)] == 'a')
			seen_a++;
		else if (d.d_namlen == 1 && buf[sizeof(d)] == 'b')
			seen_b++;
		else if (buf[sizeof(d)] == '.')
			dots++;
		names++;
		cookie = d.d_next;
	}
	printf("readdir one by one: %d names, a %d, b %d, dot entries %d\n",
	       names, seen_a, seen_b, dots);
	show("readdir of a file", __wasi_fd_readdir(1, (uint8_t *)buf, sizeof(buf),
						    0, &used));
	(void)__wasi_fd_close(dir);
}

static void polls(void)
{
	__wasi_subscription_t s[3];
	__wasi_event_t ev[3];
	__wasi_timestamp_t now, res;
	__wasi_size_t n;

	memset(s, 0, sizeof(s));
	/* An absolute deadline in the past: at once. */
	(void)__wasi_clock_time_get(__WASI_CLOCKID_MONOTONIC, 0, &now);
	s[0].userdata = 10;
	s[0].u.tag = __WASI_EVENTTYPE_CLOCK;
	s[0].u.u.clock.id = __WASI_CLOCKID_MONOTONIC;
	s[0].u.u.clock.timeout = now - 1;
	s[0].u.u.clock.flags = __WASI_SUBCLOCKFLAGS_SUBSCRIPTION_CLOCK_ABSTIME;
	show("poll past deadline", __wasi_poll_oneoff(s, ev, 1, &n));
	printf("events %u userdata %llu type %u error %u\n", (unsigned)n,
	       (unsigned long long)ev[0].userdata, ev[0].type, ev[0].error);
	/* A bad fd and a long clock: the fd's error comes at once. */
	s[0].userdata = 11;
	s[0].u.tag = __WASI_EVENTTYPE_FD_READ;
	s[0].u.u.fd_read.file_descriptor = 77;
	s[1].userdata = 12;
	s[1].u.tag = __WASI_EVENTTYPE_CLOCK;
	s[1].u.u.clock.id = __WASI_CLOCKID_REALTIME;
	s[1].u.u.clock.timeout = 3600ull * 1000000000ull;
	show("poll bad fd", __wasi_poll_oneoff(s, ev, 2, &n));
	printf("events %u userdata %llu type %u error %s\n", (unsigned)n,
	       (unsigned long long)ev[0].userdata, ev[0].type, name(ev[0].error));
	/* A clock this runtime cannot wait on. */
	s[0].userdata = 13;
	s[0].u.tag = __WASI_EVENTTYPE_CLOCK;
	s[0].u.u.clock.id = __WASI_CLOCKID_PROCESS_CPUTIME_ID;
	s[0].u.u.clock.timeout = 1;
	s[0].u.u.clock.flags = 0;
	show("poll cputime clock", __wasi_poll_oneoff(s, ev, 1, &n));
	printf("events %u error %s\n", (unsigned)n, name(ev[0].error));
	s[0].u.tag = 9;
	show("poll bad tag", __wasi_poll_oneoff(s, ev, 1, &n));
	/* stdout (a file here) is writable at once. */
	s[0].userdata = 14;
	s[0].u.tag = __WASI_EVENTTYPE_FD_WRITE;
	s[0].u.u.fd_write.file_descriptor = 1;
	show("poll stdout writable", __wasi_poll_oneoff(s, ev, 2, &n));
	printf("events %u userdata %llu type %u\n", (unsigned)n,
	       (unsigned long long)ev[0].userdata, ev[0].type);

	show("clock res realtime", __wasi_clock_res_get(__WASI_CLOCKID_REALTIME, &res));
	show("clock res process", __wasi_clock_res_get(__WASI_CLOCKID_PROCESS_CPUTIME_ID, &res));
	show("clock time thread", __wasi_clock_time_get(__WASI_CLOCKID_THREAD_CPUTIME_ID, 0, &now));
	printf("thread time positive %d\n", now > 0);
	show("clock res 4", __wasi_clock_res_get(4, &res));
}

/* Not in wasi-libc's header any more, but in preview1's witx. */
__attribute__((import_module("wasi_snapshot_preview1"), import_name("proc_raise")))
int32_t raw_proc_raise(int32_t sig);

int main(void)
{
	prestats();
	files();
	readdir_small();
	polls();
	show("sched_yield", __wasi_sched_yield());
	show("proc_raise", (__wasi_errno_t)raw_proc_raise(6));
	show("random 0 bytes", __wasi_random_get(NULL, 0));
	return 0;
}
