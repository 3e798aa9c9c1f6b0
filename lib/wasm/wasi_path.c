/* wasi_path: path resolution confined beneath a directory (see
 * wasi_path.h for the rules and the two implementations). */
#define _GNU_SOURCE		/* O_PATH, O_NOFOLLOW, AT_EMPTY_PATH */

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "wasm/wasi_path.h"

/* Symlinks followed in one resolution, as the kernel's own limit. */
#define WALK_MAX_LINKS 40

/* -1 unknown yet, 0 missing, 1 present. One process, one kernel: a plain
 * int is enough (a race only makes two threads both probe). */
static int have_openat2 = -1;

int wasi_path_has_openat2(void)
{
	return have_openat2 == 1;
}

/* ---- openat2 ---- */

/* Returns the fd, a negative errno, or -ENOSYS when the kernel (or a
 * seccomp filter) does not offer openat2. */
static int open_beneath(int dirfd, const char *path, int flags, mode_t mode)
{
#ifdef SYS_openat2
	struct open_how how;
	int fd, tries = 0;

	memset(&how, 0, sizeof(how));
	/* openat2 refuses O_PATH with flags it would ignore (O_NOCTTY). */
	if (!(flags & O_PATH))
		flags |= O_NOCTTY;
	how.flags = (unsigned long long)(flags | O_CLOEXEC);
	/* A mode without O_CREAT is EINVAL; O_TMPFILE contains
	 * O_DIRECTORY, hence the full comparison. */
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
		how.mode = mode & 07777;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	for (;;) {
		fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
		if (fd >= 0)
			return fd;
		/* EAGAIN: a concurrent rename raced with a ".." step; the
		 * kernel asks us to try again rather than guess. */
		if (errno == EINTR || (errno == EAGAIN && ++tries < 16))
			continue;
		return -errno;
	}
#else
	return -ENOSYS;
#endif
}

/* ---- the walk ---- */

/* The directories from dirfd down to where the walk is: stack[0] is
 * dirfd itself (not ours to close), the others O_PATH fds we opened. */
struct walk {
	int *stack;
	size_t depth, cap;
	char *rest;		/* what is left to resolve, heap-allocated */
	int links;
};

static void walk_free(struct walk *wk)
{
	size_t i;

	for (i = 1; i < wk->depth; i++)
		close(wk->stack[i]);
	free(wk->stack);
	free(wk->rest);
}

/* Directories held open at once: one per level. A plain path of
 * WASI_PATH_MAX bytes has at most half as many levels; symlinks could
 * splice in more, each level costing the host an fd. */
#define WALK_MAX_DEPTH (WASI_PATH_MAX / 2 + 1)

static int walk_push(struct walk *wk, int fd)
{
	int *n;

	if (wk->depth >= WALK_MAX_DEPTH) {
		close(fd);
		return -ENAMETOOLONG;
	}
	if (wk->depth == wk->cap) {
		wk->cap = wk->cap ? wk->cap * 2 : 16;
		n = realloc(wk->stack, wk->cap * sizeof(*n));
		if (!n) {
			close(fd);
			return -ENOMEM;
		}
		wk->stack = n;
	}
	wk->stack[wk->depth++] = fd;
	return 0;
}

/* The symlink's target followed by the rest of the path: the new path
 * to resolve, in *next (malloc'd). keep_slash keeps a trailing slash of
 * the link's name, which requires the target to be a directory. */
static int walk_splice(struct walk *wk, int linkfd, const char *after,
		       int keep_slash, char **next)
{
	char target[WASI_PATH_MAX + 1], *n;
	size_t tlen, alen = strlen(after);
	ssize_t r;

	if (++wk->links > WALK_MAX_LINKS)
		return -ELOOP;
	r = readlinkat(linkfd, "", target, sizeof(target));
	if (r < 0)
		return -errno;
	if ((size_t)r >= sizeof(target))
		return -ENAMETOOLONG;
	tlen = (size_t)r;
	if (tlen == 0)
		return -ENOENT;
	/* An absolute target names the host's root: outside, always. */
	if (target[0] == '/')
		return -EXDEV;
	n = malloc(tlen + alen + 2);
	if (!n)
		return -ENOMEM;
	memcpy(n, target, tlen);
	if (alen || keep_slash)
		n[tlen++] = '/';
	memcpy(n + tlen, after, alen + 1);
	*next = n;
	return 0;
}

/* The final open, in the directory the walk reached: the fd or a
 * negative errno. */
static int walk_final(struct walk *wk, const char *name, int flags, mode_t mode)
{
	int fd;

	do
		fd = openat(wk->stack[wk->depth - 1], name,
			    flags | O_CLOEXEC | O_NOCTTY, mode);
	while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : fd;
}

/* One component: name (no '/'), followed in the path by after. Returns 1
 * when the walk is over (*out: an fd or a negative errno), 0 to go on
 * (with *next set when a symlink replaced the path), or a negative errno. */
static int walk_step(struct walk *wk, const char *name, const char *after,
		     int last, int trailing, int flags, mode_t mode, int *out,
		     char **next)
{
	struct stat st;
	int fd, r;

	if (!strcmp(name, ".") || !strcmp(name, "..")) {
		if (name[1] == '.') {
			/* Above the starting directory: outside. */
			if (wk->depth == 1)
				return -EXDEV;
			close(wk->stack[--wk->depth]);
		}
		if (!last)
			return 0;
		*out = walk_final(wk, ".", flags & ~O_NOFOLLOW, mode);
		return 1;
	}
	/* The last component, not followed: open it as it is (a symlink
	 * fails with ELOOP, or is opened itself with O_PATH). */
	if (last && !trailing && (flags & O_NOFOLLOW)) {
		*out = walk_final(wk, name, flags, mode);
		return 1;
	}
	fd = openat(wk->stack[wk->depth - 1], name,
		    O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT && last && (flags & O_CREAT)) {
			/* open("new/", O_CREAT) is EISDIR on Linux. */
			*out = trailing ? -EISDIR :
				walk_final(wk, name, flags | O_NOFOLLOW, mode);
			return 1;
		}
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (S_ISLNK(st.st_mode)) {
		r = walk_splice(wk, fd, after, last && trailing, next);
		close(fd);
		return r;
	}
	if (last) {
		close(fd);
		if (trailing && !S_ISDIR(st.st_mode))
			return -ENOTDIR;
		/* Reopened with O_NOFOLLOW: if a symlink was swapped in since
		 * the fstat, this fails rather than follows it. */
		*out = walk_final(wk, name, flags | O_NOFOLLOW, mode);
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		close(fd);
		return -ENOTDIR;
	}
	return walk_push(wk, fd);
}

static int walk_open(int dirfd, const char *path, int flags, mode_t mode)
{
	struct walk wk = { 0 };
	char name[WASI_NAME_MAX + 1];
	int r, out = -ENOENT;

	if (!*path)
		return -ENOENT;
	if (path[0] == '/')
		return -EXDEV;
	wk.rest = strdup(path);
	if (!wk.rest)
		return -ENOMEM;
	r = walk_push(&wk, dirfd);
	while (r == 0) {
		char *p = wk.rest, *next = NULL;
		const char *start, *after;
		int last, trailing;

		/* Runs of slashes separate components, as in the kernel (a
		 * leading one was refused above, and in link targets). */
		while (*p == '/')
			p++;
		if (!*p) {
			/* "dir/": ended on a directory already walked into. */
			out = walk_final(&wk, ".", flags & ~O_NOFOLLOW, mode);
			break;
		}
		start = p;
		while (*p && *p != '/')
			p++;
		if ((size_t)(p - start) > WASI_NAME_MAX) {
			r = -ENAMETOOLONG;
			break;
		}
		memcpy(name, start, (size_t)(p - start));
		name[p - start] = '\0';
		trailing = *p == '/';
		after = p;
		while (*after == '/')
			after++;
		last = !*after;
		r = walk_step(&wk, name, after, last, trailing, flags, mode,
			      &out, &next);
		if (r != 0)
			break;
		if (next) {
			free(wk.rest);
			wk.rest = next;
		} else {
			memmove(wk.rest, after, strlen(after) + 1);
		}
	}
	walk_free(&wk);
	if (r < 0)
		return r;
	return out;
}

int wasi_path_open(int dirfd, const char *path, int flags, mode_t mode,
		   enum wasi_resolve_mode how)
{
	int fd;

	if (how != WASI_RESOLVE_WALK && have_openat2 != 0) {
		fd = open_beneath(dirfd, path, flags, mode);
		if (fd != -ENOSYS) {
			have_openat2 = 1;
			return fd;
		}
		have_openat2 = 0;
	}
	return walk_open(dirfd, path, flags, mode);
}

int wasi_path_parent(int dirfd, const char *path, char *base, int *trailing,
		     enum wasi_resolve_mode how)
{
	size_t len = strlen(path), end, start;
	char *dir;
	int fd, chk;

	*trailing = 0;
	if (!len)
		return -ENOENT;
	if (len > WASI_PATH_MAX)
		return -ENAMETOOLONG;
	end = len;
	while (end > 0 && path[end - 1] == '/')
		end--;
	/* "/" (however many slashes) is the host's root directory. */
	if (end == 0)
		return -EXDEV;
	*trailing = end < len;
	start = end;
	while (start > 0 && path[start - 1] != '/')
		start--;
	if (end - start > WASI_NAME_MAX)
		return -ENAMETOOLONG;
	memcpy(base, path + start, end - start);
	base[end - start] = '\0';
	/* The directory part keeps its slash ("a/b/", "/"): an absolute
	 * path is then refused by the resolution itself. */
	dir = start ? strndup(path, start) : strdup(".");
	if (!dir)
		return -ENOMEM;
	fd = wasi_path_open(dirfd, dir, O_PATH | O_DIRECTORY, 0, how);
	free(dir);
	if (fd < 0)
		return fd;
	/* "x/.." as an entry is the directory above x: only the whole path
	 * tells whether that is still beneath dirfd. */
	if (!strcmp(base, ".") || !strcmp(base, "..")) {
		chk = wasi_path_open(dirfd, path, O_PATH | O_DIRECTORY, 0, how);
		if (chk < 0) {
			close(fd);
			return chk;
		}
		close(chk);
	}
	return fd;
}
