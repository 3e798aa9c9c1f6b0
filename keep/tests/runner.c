/* runner: subprocesses and directory trees for the assay-keep tests. */
#define _GNU_SOURCE		/* pipe2, execvpe */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "keep/tests/runner.h"

extern char **environ;

static void child(const char *const *argv, const char *const *envp,
		  const char *cwd, int in, int out, int err)
{
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		_exit(126);
	if (cwd && chdir(cwd)) {
		perror(cwd);
		_exit(126);
	}
	signal(SIGPIPE, SIG_DFL);
	execve(argv[0], (char *const *)argv,
	       envp ? (char *const *)envp : environ);
	perror(argv[0]);
	_exit(127);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Feeds input and drains both outputs until they close or time runs out. */
static int pump(int in, int out, int err, const char *input, int timeout_s,
		struct run_result *res)
{
	size_t sent = 0, ilen = input ? strlen(input) : 0;
	long deadline = now_ms() + timeout_s * 1000L;
	struct pollfd p[3];
	char chunk[4096];
	ssize_t n;
	int open_out = 1, open_err = 1;

	if (!ilen) {
		close(in);
		in = -1;
	}
	while (open_out || open_err) {
		long left = deadline - now_ms();
		int np = 0, r, i;

		if (left <= 0)
			return -1;
		if (open_out)
			p[np++] = (struct pollfd){ out, POLLIN, 0 };
		if (open_err)
			p[np++] = (struct pollfd){ err, POLLIN, 0 };
		if (in >= 0)
			p[np++] = (struct pollfd){ in, POLLOUT, 0 };
		r = poll(p, (nfds_t)np, (int)left);
		if (r < 0 && errno != EINTR)
			return -1;
		for (i = 0; r > 0 && i < np; i++) {
			if (!p[i].revents)
				continue;
			if (p[i].fd == in) {
				n = write(in, input + sent, ilen - sent);
				if (n > 0)
					sent += (size_t)n;
				if (n < 0 || sent == ilen) {
					close(in);
					in = -1;
				}
				continue;
			}
			n = read(p[i].fd, chunk, sizeof(chunk));
			if (n > 0) {
				buf_append(p[i].fd == out ? &res->out : &res->err,
					   chunk, (size_t)n);
			} else if (p[i].fd == out) {
				open_out = 0;
			} else {
				open_err = 0;
			}
		}
	}
	if (in >= 0)
		close(in);
	return 0;
}

int run_program(const char *const *argv, const char *const *envp,
		const char *cwd, const char *input, int timeout_s,
		struct run_result *res)
{
	int pin[2], pout[2], perr[2], st, timed_out;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	res->status = -1;
	if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC) ||
	    pipe2(perr, O_CLOEXEC)) {
		perror("pipe2");
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (pid == 0)
		child(argv, envp, cwd, pin[0], pout[1], perr[1]);
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	signal(SIGPIPE, SIG_IGN);
	timed_out = pump(pin[1], pout[0], perr[0], input, timeout_s, res);
	close(pout[0]);
	close(perr[0]);
	if (timed_out)
		kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!timed_out)
		res->status = WIFEXITED(st) ? WEXITSTATUS(st) :
			      128 + WTERMSIG(st);
	buf_append(&res->out, "", 1);
	res->out.len--;
	buf_append(&res->err, "", 1);
	res->err.len--;
	return 0;
}

void run_result_free(struct run_result *res)
{
	buf_free(&res->out);
	buf_free(&res->err);
}

int run_tmpdir(char *buf, size_t n, const char *tag)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(buf, n, "%s/assay-keep-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp",
		 tag);
	if (!mkdtemp(buf)) {
		perror("mkdtemp");
		return -1;
	}
	return 0;
}

static int copy_file(const char *src, const char *dst, mode_t mode)
{
	char chunk[8192];
	int in, out, r = 0;
	ssize_t n;

	in = open(src, O_RDONLY | O_CLOEXEC);
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		   (mode & 0777) | 0200);
	if (in < 0 || out < 0) {
		perror(in < 0 ? src : dst);
		r = -1;
	}
	while (!r && (n = read(in, chunk, sizeof(chunk))) > 0)
		if (write(out, chunk, (size_t)n) != n)
			r = -1;
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out))
		r = -1;
	return r;
}

int run_copy_tree(const char *src, const char *dst)
{
	char s[4096], d[4096], target[4096];
	struct dirent *e;
	struct stat st;
	ssize_t n;
	DIR *dir;
	int r = 0;

	if (lstat(src, &st)) {
		perror(src);
		return -1;
	}
	if (S_ISLNK(st.st_mode)) {
		n = readlink(src, target, sizeof(target) - 1);
		if (n < 0)
			return -1;
		target[n] = '\0';
		return symlink(target, dst);
	}
	if (!S_ISDIR(st.st_mode))
		return copy_file(src, dst, st.st_mode);
	if (mkdir(dst, (st.st_mode & 0777) | 0700)) {
		perror(dst);
		return -1;
	}
	dir = opendir(src);
	if (!dir)
		return -1;
	while (!r && (e = readdir(dir))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(s, sizeof(s), "%s/%s", src, e->d_name);
		snprintf(d, sizeof(d), "%s/%s", dst, e->d_name);
		r = run_copy_tree(s, d);
	}
	closedir(dir);
	return r;
}

int run_remove_tree(const char *path)
{
	char p[4096];
	struct dirent *e;
	struct stat st;
	DIR *dir;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	chmod(path, 0700);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((e = readdir(dir))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
		run_remove_tree(p);
	}
	closedir(dir);
	return rmdir(path);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_into(const char *top, const char *rel, char ***lines,
		     size_t *n)
{
	char p[8300], r[4096], line[8400], target[4096];
	struct dirent *e;
	struct stat st;
	ssize_t len;
	DIR *dir;

	snprintf(p, sizeof(p), "%s%s%s", top, *rel ? "/" : "", rel);
	dir = opendir(p);
	if (!dir)
		return -1;
	while ((e = readdir(dir))) {
		char **l;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(r, sizeof(r), "%s%s%s", rel, *rel ? "/" : "",
			 e->d_name);
		snprintf(p, sizeof(p), "%s/%s", top, r);
		if (lstat(p, &st))
			continue;
		if (S_ISLNK(st.st_mode)) {
			len = readlink(p, target, sizeof(target) - 1);
			target[len > 0 ? len : 0] = '\0';
			snprintf(line, sizeof(line), "%s link %s", r, target);
		} else if (S_ISDIR(st.st_mode)) {
			snprintf(line, sizeof(line), "%s dir", r);
		} else {
			snprintf(line, sizeof(line), "%s file %lld", r,
				 (long long)st.st_size);
		}
		l = realloc(*lines, (*n + 1) * sizeof(*l));
		if (!l)
			break;
		*lines = l;
		l[(*n)++] = strdup(line);
		if (S_ISDIR(st.st_mode))
			list_into(top, r, lines, n);
	}
	closedir(dir);
	return 0;
}

int run_list_tree(const char *dir, struct buf *out)
{
	char **lines = NULL;
	size_t n = 0, i;
	int r = list_into(dir, "", &lines, &n);

	for (i = 0; i < n; i++)
		if (!lines[i])
			r = -1;		/* out of memory: no listing to trust */
	if (r) {
		for (i = 0; i < n; i++)
			free(lines[i]);
		free(lines);
		return -1;
	}
	if (n)
		qsort(lines, n, sizeof(*lines), cmp_str);
	for (i = 0; i < n; i++) {
		if (lines[i])
			buf_printf(out, "%s\n", lines[i]);
		free(lines[i]);
	}
	free(lines);
	return r;
}

static int put(const char *dir, const char *rel, const char *content)
{
	char p[8400];
	FILE *f;
	int r;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	f = fopen(p, "w");
	if (!f)
		return -1;
	r = fputs(content, f) < 0;
	return fclose(f) || r ? -1 : 0;
}

static int lnk(const char *dir, const char *target, const char *rel)
{
	char p[8400];

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	return symlink(target, p);
}

int run_escape_prepare(const char *top)
{
	char root[4200], p[4300];

	snprintf(root, sizeof(root), "%s/root", top);
	snprintf(p, sizeof(p), "%s/outside", top);
	if (mkdir(root, 0755) || mkdir(p, 0755))
		return -1;
	snprintf(p, sizeof(p), "%s/sub", root);
	if (mkdir(p, 0755) || put(top, "outside/secret", "secret") ||
	    put(root, "file", "hello") || lnk(root, "/etc", "link_out") ||
	    lnk(root, "../outside/secret", "rel_out") ||
	    lnk(root, "../outside", "rel_dir_out") ||
	    lnk(root, "../outside/created", "dangling_out"))
		return -1;
	return 0;
}

const char run_escape_tree[] =
	"outside dir\n"
	"outside/secret file 6\n"
	"root dir\n"
	"root/dangling_out link ../outside/created\n"
	"root/file file 5\n"
	"root/link_out link /etc\n"
	"root/linkcopy link ../outside/secret\n"
	"root/rel_dir_out link ../outside\n"
	"root/rel_new link ../outside/secret\n"
	"root/rel_out link ../outside/secret\n"
	"root/sub dir\n";
