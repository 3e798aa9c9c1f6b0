/* A hostile module: every way it tries to reach outside its preopened
 * directory, through the raw WASI calls (not wasi-libc's path handling,
 * which would hide some of them), and a few rights and pointer abuses.
 * Prints one line per attempt with preview1's errno name; the test
 * compares them with what a confined runtime must answer, and checks
 * the host directory outside is untouched.
 *
 * The directory (fd 3, the module's "/") holds: file, sub/,
 * link_out -> /etc, rel_out -> ../outside/secret, rel_dir_out ->
 * ../outside, dangling_out -> ../outside/created. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

#define ROOT 3

static const char *name(__wasi_errno_t e)
{
	switch (e) {
	case __WASI_ERRNO_SUCCESS: return "ok";
	case __WASI_ERRNO_NOTCAPABLE: return "ENOTCAPABLE";
	case __WASI_ERRNO_PERM: return "EPERM";
	case __WASI_ERRNO_LOOP: return "ELOOP";
	case __WASI_ERRNO_NOENT: return "ENOENT";
	case __WASI_ERRNO_BADF: return "EBADF";
	case __WASI_ERRNO_FAULT: return "EFAULT";
	case __WASI_ERRNO_INVAL: return "EINVAL";
	case __WASI_ERRNO_EXIST: return "EEXIST";
	case __WASI_ERRNO_NOTDIR: return "ENOTDIR";
	case __WASI_ERRNO_ISDIR: return "EISDIR";
	case __WASI_ERRNO_NOTEMPTY: return "ENOTEMPTY";
	case __WASI_ERRNO_BUSY: return "EBUSY";
	case __WASI_ERRNO_NOTSOCK: return "ENOTSOCK";
	default: return "other";
	}
}

static void show(const char *what, __wasi_errno_t e)
{
	printf("%s: %s\n", what, name(e));
}

static __wasi_errno_t open_at(__wasi_fd_t dir, const char *path, int follow,
			      __wasi_oflags_t oflags, __wasi_rights_t rights,
			      __wasi_fd_t *fd)
{
	return __wasi_path_open(dir, follow ? __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW : 0,
				path, oflags, rights, rights, 0, fd);
}

static void try_open(const char *path, int follow, __wasi_oflags_t oflags)
{
	char what[128];
	__wasi_fd_t fd;
	__wasi_errno_t e;

	e = open_at(ROOT, path, follow, oflags,
		    __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE, &fd);
	snprintf(what, sizeof(what), "open %s%s%s", path,
		 follow ? " (follow)" : "", oflags & __WASI_OFLAGS_CREAT ?
		 " (create)" : "");
	show(what, e);
	if (!e)
		(void)__wasi_fd_close(fd);
}

static void try_stat(const char *path, int follow)
{
	__wasi_filestat_t st;
	char what[128];

	snprintf(what, sizeof(what), "stat %s%s", path, follow ? " (follow)" : "");
	show(what, __wasi_path_filestat_get(ROOT, follow ?
		__WASI_LOOKUPFLAGS_SYMLINK_FOLLOW : 0, path, &st));
}

static void paths(void)
{
	__wasi_filestat_t st;
	__wasi_fdstat_t fs;
	__wasi_fd_t sub;
	__wasi_size_t used;
	char link[64];

	try_open("file", 0, 0);
	try_open("../outside/secret", 1, 0);
	try_open("/etc/passwd", 1, 0);
	try_open("/", 1, 0);
	try_open("..", 1, 0);
	try_open("sub/../../outside/secret", 1, 0);
	try_open("link_out/passwd", 1, 0);
	try_open("link_out", 1, 0);
	try_open("link_out", 0, 0);
	try_open("rel_out", 1, 0);
	try_open("rel_dir_out/secret", 1, 0);
	try_open("dangling_out", 1, __WASI_OFLAGS_CREAT);
	try_open("dangling_out", 0, __WASI_OFLAGS_CREAT);

	show("mkdir ../evil", __wasi_path_create_directory(ROOT, "../evil"));
	show("mkdir rel_dir_out/evil",
	     __wasi_path_create_directory(ROOT, "rel_dir_out/evil"));
	show("mkdir /tmp/evil", __wasi_path_create_directory(ROOT, "/tmp/evil"));
	show("unlink ../outside/secret",
	     __wasi_path_unlink_file(ROOT, "../outside/secret"));
	show("unlink rel_dir_out/secret",
	     __wasi_path_unlink_file(ROOT, "rel_dir_out/secret"));
	show("rmdir ..", __wasi_path_remove_directory(ROOT, ".."));
	show("rmdir rel_dir_out/.", __wasi_path_remove_directory(ROOT,
		"rel_dir_out/."));
	show("rename file ../moved",
	     __wasi_path_rename(ROOT, "file", ROOT, "../moved"));
	show("rename file rel_dir_out/moved",
	     __wasi_path_rename(ROOT, "file", ROOT, "rel_dir_out/moved"));
	show("rename ../outside/secret stolen",
	     __wasi_path_rename(ROOT, "../outside/secret", ROOT, "stolen"));
	show("link file ../hard", __wasi_path_link(ROOT, 0, "file", ROOT, "../hard"));
	show("link (follow) rel_out stolen",
	     __wasi_path_link(ROOT, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "rel_out",
			      ROOT, "stolen"));
	show("link (follow) link_out/passwd stolen",
	     __wasi_path_link(ROOT, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW,
			      "link_out/passwd", ROOT, "stolen"));
	/* The link itself is only a name: copying it is harmless, and what
	 * it points to stays out of reach. */
	show("link rel_out linkcopy",
	     __wasi_path_link(ROOT, 0, "rel_out", ROOT, "linkcopy"));
	try_open("linkcopy", 1, 0);
	show("symlink /etc/passwd abs_new",
	     __wasi_path_symlink("/etc/passwd", ROOT, "abs_new"));
	show("symlink ../outside/secret rel_new",
	     __wasi_path_symlink("../outside/secret", ROOT, "rel_new"));
	try_open("rel_new", 1, 0);
	try_stat("link_out", 1);
	try_stat("link_out", 0);
	try_stat("..", 1);
	try_stat("rel_dir_out/secret", 1);
	show("utimes (follow) rel_out",
	     __wasi_path_filestat_set_times(ROOT, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW,
					    "rel_out", 0, 0,
					    __WASI_FSTFLAGS_MTIM_NOW));
	used = 0;
	memset(link, 0, sizeof(link));
	show("readlink link_out", __wasi_path_readlink(ROOT, "link_out",
		(uint8_t *)link, sizeof(link) - 1, &used));
	printf("link_out points to '%s'\n", link);

	/* A directory fd is a capability for what is beneath it only (with
	 * every right the root passes on, so rights are not what stops it). */
	show("fdstat of root", __wasi_fd_fdstat_get(ROOT, &fs));
	show("open sub", open_at(ROOT, "sub", 0, __WASI_OFLAGS_DIRECTORY,
				 fs.fs_rights_inheriting, &sub));
	show("open ../file from sub", open_at(sub, "../file", 1, 0,
					     __WASI_RIGHTS_FD_READ, &sub));
	show("stat . from sub", __wasi_path_filestat_get(sub, 0, ".", &st));
}

static void rights(void)
{
	__wasi_fd_t fd;
	__wasi_ciovec_t iov = { (const uint8_t *)"x", 1 };
	__wasi_size_t n;
	__wasi_fdstat_t fs;

	show("open file read-only", open_at(ROOT, "file", 0, 0,
					    __WASI_RIGHTS_FD_READ, &fd));
	show("write to it", __wasi_fd_write(fd, &iov, 1, &n));
	show("seek it", __wasi_fd_seek(fd, 1, __WASI_WHENCE_SET, &(__wasi_filesize_t){ 0 }));
	show("widen its rights", __wasi_fd_fdstat_set_rights(fd,
		__WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE, 0));
	show("narrow its rights", __wasi_fd_fdstat_set_rights(fd, 0, 0));
	show("read after narrowing", __wasi_fd_read(fd, (const __wasi_iovec_t *)&iov, 1, &n));
	show("fdstat", __wasi_fd_fdstat_get(fd, &fs));
	printf("rights now %llu\n", (unsigned long long)fs.fs_rights_base);
	(void)__wasi_fd_close(fd);
	show("write to closed fd", __wasi_fd_write(fd, &iov, 1, &n));
	show("write to fd 1000", __wasi_fd_write(1000, &iov, 1, &n));
	show("prestat of stdout", __wasi_fd_prestat_get(1, &(__wasi_prestat_t){ 0 }));
	show("readdir of a file", __wasi_fd_readdir(1, (uint8_t *)&fs, sizeof(fs), 0, &n));
	show("shutdown stdout", __wasi_sock_shutdown(1, __WASI_SDFLAGS_RD));
	show("accept on stdout", __wasi_sock_accept(1, 0, &fd));
}

static void pointers(void)
{
	__wasi_ciovec_t iov;
	__wasi_size_t n;

	/* Past the end of memory: 4 GiB - 16 is beyond any real memory. */
	iov.buf = (const uint8_t *)(uintptr_t)0xfffffff0u;
	iov.buf_len = 64;
	show("write from beyond memory", __wasi_fd_write(1, &iov, 1, &n));
	show("args sizes to beyond memory", __wasi_args_sizes_get(
		(__wasi_size_t *)(uintptr_t)0xfffffffcu, &n));
	show("random into beyond memory", __wasi_random_get(
		(uint8_t *)(uintptr_t)0xffff0000u, 0x20000));
	show("iovec array beyond memory", __wasi_fd_write(1,
		(const __wasi_ciovec_t *)(uintptr_t)0xfffffff8u, 2, &n));
	show("poll with no subscriptions", __wasi_poll_oneoff(NULL, NULL, 0, &n));
	show("clock 99", __wasi_clock_time_get(99, 0, &(__wasi_timestamp_t){ 0 }));
}

int main(void)
{
	paths();
	rights();
	pointers();
	/* And through wasi-libc, for good measure. */
	printf("fopen /etc/passwd: %s\n", fopen("/etc/passwd", "r") ? "opened" : "refused");
	printf("fopen ../outside/secret: %s\n",
	       fopen("../outside/secret", "r") ? "opened" : "refused");
	printf("fopen link_out/passwd: %s\n",
	       fopen("link_out/passwd", "r") ? "opened" : "refused");
	return 0;
}
