/* The confined path resolution of WASI (lib/wasm/wasi_path.c), with and
 * without openat2: every way out of the directory is refused, every way
 * that stays inside works. Needs no WebAssembly. */
#define _GNU_SOURCE		/* O_PATH */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/check.h"
#include "wasm/wasi_path.h"

static char top[4096];

static void mk(const char *rel, const char *content)
{
	char p[4200];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	f = fopen(p, "w");
	if (!f) {
		perror(p);
		exit(1);
	}
	fputs(content, f);
	fclose(f);
}

static void mkd(const char *rel)
{
	char p[4200];

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	if (mkdir(p, 0755)) {
		perror(p);
		exit(1);
	}
}

static void ln(const char *target, const char *rel)
{
	char p[4200];

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	if (symlink(target, p)) {
		perror(p);
		exit(1);
	}
}

static int exists(const char *rel)
{
	char p[4200];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	return lstat(p, &st) == 0;
}

/* What path opens to, read as text ("" when it cannot be read), or the
 * negative errno. */
static int open_read(int root, const char *path, int flags, mode_t mode,
		     enum wasi_resolve_mode how, char *out, size_t n)
{
	int fd = wasi_path_open(root, path, flags, mode, how);
	ssize_t r;

	out[0] = '\0';
	if (fd < 0)
		return fd;
	r = read(fd, out, n - 1);
	out[r > 0 ? r : 0] = '\0';
	close(fd);
	return 0;
}

#define OPEN_OK(path, want)                                                \
	do {                                                               \
		CHECK_INT(open_read(root, path, O_RDONLY, 0, how, buf,      \
				    sizeof(buf)), 0);                      \
		CHECK_STR(buf, want);                                      \
	} while (0)

#define OPEN_ERR(path, flags, err)                                         \
	CHECK_INT(open_read(root, path, flags, 0644, how, buf, sizeof(buf)), \
		  -(err))

static void same_dir(int fd, const char *rel)
{
	struct stat a, b;
	char p[4200];

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	CHECK(fstat(fd, &a) == 0 && stat(p, &b) == 0 &&
	      a.st_ino == b.st_ino && a.st_dev == b.st_dev);
}

static void test_open(int root, enum wasi_resolve_mode how)
{
	char buf[256];
	int fd;

	/* Inside: plain, through "..", through symlinks that stay inside. */
	OPEN_OK("file", "hello");
	OPEN_OK("sub/inner", "inner");
	OPEN_OK("sub//inner", "inner");
	OPEN_OK("./sub/./inner", "inner");
	OPEN_OK("sub/../file", "hello");
	OPEN_OK("sub/deeper/../../file", "hello");
	OPEN_OK("in_link", "inner");
	OPEN_OK("in_dir_link/inner", "inner");
	OPEN_OK("sub/up_link", "hello");
	OPEN_OK("in_dir_link/../file", "hello");
	OPEN_OK("chain1", "inner");

	/* Out: "..", absolute paths, symlinks of both kinds. */
	OPEN_ERR("..", O_RDONLY | O_DIRECTORY, EXDEV);
	OPEN_ERR("../outside/secret", O_RDONLY, EXDEV);
	OPEN_ERR("sub/../../outside/secret", O_RDONLY, EXDEV);
	OPEN_ERR("sub/deeper/../../..", O_RDONLY, EXDEV);
	OPEN_ERR("/etc/passwd", O_RDONLY, EXDEV);
	OPEN_ERR("/", O_RDONLY, EXDEV);
	OPEN_ERR("abs_link", O_RDONLY, EXDEV);
	OPEN_ERR("abs_dir_link/passwd", O_RDONLY, EXDEV);
	OPEN_ERR("rel_out", O_RDONLY, EXDEV);
	OPEN_ERR("rel_out_dir/secret", O_RDONLY, EXDEV);
	OPEN_ERR("sub/rel_out2", O_RDONLY, EXDEV);
	OPEN_ERR("rel_proc", O_RDONLY, EXDEV);
	OPEN_ERR("in_dir_link/../../outside/secret", O_RDONLY, EXDEV);
	/* Creating through a dangling link that points out: refused, and
	 * nothing appears outside. */
	OPEN_ERR("dangling_out", O_WRONLY | O_CREAT, EXDEV);
	OPEN_ERR("dangling_out", O_WRONLY | O_CREAT | O_NOFOLLOW, ELOOP);
	CHECK(!exists("outside/new"));

	/* Not following the last component. */
	OPEN_ERR("abs_link", O_RDONLY | O_NOFOLLOW, ELOOP);
	OPEN_ERR("in_link", O_RDONLY | O_NOFOLLOW, ELOOP);
	fd = wasi_path_open(root, "abs_link", O_PATH | O_NOFOLLOW, 0, how);
	CHECK(fd >= 0);
	if (fd >= 0) {
		struct stat st;

		CHECK(fstat(fd, &st) == 0 && S_ISLNK(st.st_mode));
		close(fd);
	}

	/* Ordinary errors keep their errno. */
	OPEN_ERR("", O_RDONLY, ENOENT);
	OPEN_ERR("missing", O_RDONLY, ENOENT);
	OPEN_ERR("missing/x", O_RDONLY, ENOENT);
	OPEN_ERR("file/", O_RDONLY, ENOTDIR);
	OPEN_ERR("file/x", O_RDONLY, ENOTDIR);
	OPEN_ERR("file", O_RDONLY | O_DIRECTORY, ENOTDIR);
	OPEN_ERR("loop1", O_RDONLY, ELOOP);
	{
		char longname[300];

		memset(longname, 'a', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		OPEN_ERR(longname, O_RDONLY, ENAMETOOLONG);
	}

	/* Directories. */
	fd = wasi_path_open(root, ".", O_RDONLY | O_DIRECTORY, 0, how);
	CHECK(fd >= 0);
	if (fd >= 0) {
		same_dir(fd, "root");
		close(fd);
	}
	fd = wasi_path_open(root, "sub/", O_RDONLY | O_DIRECTORY, 0, how);
	CHECK(fd >= 0);
	if (fd >= 0) {
		same_dir(fd, "root/sub");
		close(fd);
	}
	fd = wasi_path_open(root, "in_dir_link/", O_RDONLY | O_DIRECTORY, 0,
			    how);
	CHECK(fd >= 0);
	if (fd >= 0) {
		same_dir(fd, "root/sub");
		close(fd);
	}

	/* Creating inside, and through a dangling link that stays inside. */
	fd = wasi_path_open(root, how ? "sub/made_walk" : "sub/made",
			    O_WRONLY | O_CREAT | O_EXCL, 0644, how);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	CHECK(exists(how ? "root/sub/made_walk" : "root/sub/made"));
	if (how) {
		fd = wasi_path_open(root, "dangling_in_walk",
				    O_WRONLY | O_CREAT, 0644, how);
		CHECK(fd >= 0);
		if (fd >= 0)
			close(fd);
		CHECK(exists("root/sub/target_walk"));
	}
}

static void test_parent(int root, enum wasi_resolve_mode how)
{
	char base[WASI_NAME_MAX + 1];
	int fd, trailing;

	fd = wasi_path_parent(root, "sub/inner", base, &trailing, how);
	CHECK(fd >= 0);
	if (fd >= 0) {
		same_dir(fd, "root/sub");
		CHECK_STR(base, "inner");
		CHECK_INT(trailing, 0);
		close(fd);
	}
	fd = wasi_path_parent(root, "sub/deeper//", base, &trailing, how);
	CHECK(fd >= 0);
	if (fd >= 0) {
		same_dir(fd, "root/sub");
		CHECK_STR(base, "deeper");
		CHECK_INT(trailing, 1);
		close(fd);
	}
	fd = wasi_path_parent(root, "file", base, &trailing, how);
	CHECK(fd >= 0);
	if (fd >= 0) {
		same_dir(fd, "root");
		CHECK_STR(base, "file");
		close(fd);
	}
	fd = wasi_path_parent(root, "in_dir_link/new", base, &trailing, how);
	CHECK(fd >= 0);
	if (fd >= 0) {
		same_dir(fd, "root/sub");
		close(fd);
	}
	/* The last component is returned as is, never followed: a symlink
	 * pointing out is only a name in its directory. */
	fd = wasi_path_parent(root, "abs_dir_link", base, &trailing, how);
	CHECK(fd >= 0);
	if (fd >= 0) {
		same_dir(fd, "root");
		CHECK_STR(base, "abs_dir_link");
		close(fd);
	}
	fd = wasi_path_parent(root, "sub/..", base, &trailing, how);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK_STR(base, "..");
		close(fd);
	}

	CHECK_INT(wasi_path_parent(root, "/etc/passwd", base, &trailing, how),
		  -EXDEV);
	CHECK_INT(wasi_path_parent(root, "/", base, &trailing, how), -EXDEV);
	CHECK_INT(wasi_path_parent(root, "//x", base, &trailing, how), -EXDEV);
	CHECK_INT(wasi_path_parent(root, "..", base, &trailing, how), -EXDEV);
	CHECK_INT(wasi_path_parent(root, "sub/../..", base, &trailing, how),
		  -EXDEV);
	CHECK_INT(wasi_path_parent(root, "../outside/secret", base, &trailing,
				   how), -EXDEV);
	CHECK_INT(wasi_path_parent(root, "abs_dir_link/passwd", base,
				   &trailing, how), -EXDEV);
	CHECK_INT(wasi_path_parent(root, "rel_out_dir/secret", base, &trailing,
				   how), -EXDEV);
	CHECK_INT(wasi_path_parent(root, "", base, &trailing, how), -ENOENT);
	CHECK_INT(wasi_path_parent(root, "missing/x", base, &trailing, how),
		  -ENOENT);
	CHECK_INT(wasi_path_parent(root, "file/x", base, &trailing, how),
		  -ENOTDIR);
}

/* The walk holds an fd per directory level: a symlink that splices a
 * deep path into another must not let a module hold thousands. 3,000
 * nested directories; "deep" names 2,000 of them, and "deep/" plus 1,000
 * more levels asks for 3,000 open at once: refused, where the plain
 * 2,000-level path still opens. */
static void test_walk_depth(int root)
{
	static char target[4100], path[4100];
	struct rlimit rl;
	int d, next, fd, i;

	/* Up to 2,049 directories open at once: above the usual soft
	 * limit of 1,024 fds. */
	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_max < 4096) {
		printf("SKIP walk depth: RLIMIT_NOFILE's hard limit is below "
		       "4096\n");
		return;
	}
	if (rl.rlim_cur < 4096) {
		rl.rlim_cur = 4096;
		CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	}
	d = dup(root);
	CHECK(d >= 0);
	for (i = 0; i < 3000 && d >= 0; i++) {
		if (mkdirat(d, "a", 0755) && errno != EEXIST)
			break;
		next = openat(d, "a", O_PATH | O_DIRECTORY | O_CLOEXEC);
		close(d);
		d = next;
	}
	CHECK_INT(i, 3000);
	if (d >= 0)
		close(d);
	for (i = 0; i < 2000; i++)
		memcpy(target + 2 * i, "a/", 2);
	target[2 * 2000 - 1] = 0;		/* "a/a/.../a" */
	CHECK(symlinkat(target, root, "deep") == 0);
	fd = wasi_path_open(root, target, O_PATH, 0, WASI_RESOLVE_WALK);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	memcpy(path, "deep/", 5);
	for (i = 0; i < 1000; i++)
		memcpy(path + 5 + 2 * i, "a/", 2);
	path[5 + 2 * 1000 - 1] = 0;
	fd = wasi_path_open(root, path, O_PATH, 0, WASI_RESOLVE_WALK);
	CHECK_INT(fd, -ENAMETOOLONG);
	if (fd >= 0)
		close(fd);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char cmd[4300];
	int root, r;

	snprintf(top, sizeof(top), "%s/assay-wasi-path-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(top)) {
		perror("mkdtemp");
		return 1;
	}
	mkd("outside");
	mk("outside/secret", "secret");
	mkd("root");
	mk("root/file", "hello");
	mkd("root/sub");
	mk("root/sub/inner", "inner");
	mkd("root/sub/deeper");
	snprintf(cmd, sizeof(cmd), "%s/outside/secret", top);
	ln(cmd, "root/abs_link");
	ln("/etc", "root/abs_dir_link");
	ln("../outside/secret", "root/rel_out");
	ln("../outside", "root/rel_out_dir");
	ln("../../outside/secret", "root/sub/rel_out2");
	ln("sub/inner", "root/in_link");
	ln("sub", "root/in_dir_link");
	ln("../file", "root/sub/up_link");
	ln("chain2", "root/chain1");
	ln("in_dir_link/inner", "root/chain2");
	ln("../outside/new", "root/dangling_out");
	ln("sub/target_walk", "root/dangling_in_walk");
	ln("loop2", "root/loop1");
	ln("loop1", "root/loop2");
	ln("../../../../../../../../../../proc/self/root", "root/rel_proc");

	snprintf(cmd, sizeof(cmd), "%s/root", top);
	root = open(cmd, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(root >= 0);
	if (root >= 0) {
		test_open(root, WASI_RESOLVE_AUTO);
		printf("openat2: %s\n", wasi_path_has_openat2() ?
		       "used" : "missing (the walk was used)");
		test_parent(root, WASI_RESOLVE_AUTO);
		test_open(root, WASI_RESOLVE_WALK);
		test_parent(root, WASI_RESOLVE_WALK);
		test_walk_depth(root);
		close(root);
	}
	CHECK(!exists("outside/new"));

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	r = system(cmd);
	CHECK_INT(r, 0);
	return check_done();
}
