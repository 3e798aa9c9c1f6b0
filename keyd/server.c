#define _GNU_SOURCE
#include "keyd/server.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/secure.h"

static long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Reads what is there, between 1 and n bytes, before the deadline: the
 * read is tried first (a client sends its request as it connects, so it
 * is usually waiting), poll() only when nothing is. Returns the count, or
 * -1 (closed, error, timeout). */
static ssize_t read_some(int fd, uint8_t *p, size_t n, long long deadline)
{
	for (;;) {
		ssize_t r = read(fd, p, n);
		if (r > 0)
			return r;
		if (r == 0 || (errno != EAGAIN && errno != EINTR))
			return -1;
		long long left = deadline - now_ms();
		struct pollfd pfd = { fd, POLLIN, 0 };
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return -1;
	}
}

static int read_full(int fd, uint8_t *p, size_t n, long long deadline)
{
	while (n) {
		ssize_t r = read_some(fd, p, n, deadline);
		if (r < 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static void write_full(int fd, const uint8_t *p, size_t n, long long deadline)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w == 0 || (errno != EAGAIN && errno != EINTR))
			return;
		long long left = deadline - now_ms();
		struct pollfd pfd = { fd, POLLOUT, 0 };
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return;
	}
}

void server_serve(struct keyd *k, int fd, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	struct buf req = BUF_INIT, resp = BUF_INIT;
	struct parsec_header h;
	struct peer peer = { 0 };
	struct ucred cred;
	socklen_t len = sizeof cred;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		peer.known = 1;
		peer.uid = cred.uid;
		peer.pid = cred.pid;
	}
	/* One read usually brings the whole request. */
	uint8_t first[4096];
	size_t have = 0;
	while (have < PARSEC_HEADER_SIZE) {
		ssize_t r = read_some(fd, first + have, sizeof first - have, deadline);
		if (r < 0)
			goto out;	/* nothing to answer: the client went away */
		have += (size_t)r;
	}
	int st = parsec_header_read(first, &h);
	if (st == PARSEC_SUCCESS && h.body_len > k->max_body)
		st = PARSEC_BODY_SIZE_EXCEEDS_LIMIT;
	if (st != PARSEC_SUCCESS) {
		/* Refused before the body is read: an oversized or garbled
		 * request costs us one read. */
		keyd_error_response(st, &resp);
		write_full(fd, resp.data, resp.len, deadline);
		goto out;
	}
	size_t total = PARSEC_HEADER_SIZE + (size_t)h.body_len + h.auth_len;
	if (buf_append(&req, first, have) < 0)
		goto out;
	if (total > have) {
		size_t rest = total - have;
		if (buf_reserve(&req, rest) < 0 ||
		    read_full(fd, req.data + req.len, rest, deadline) < 0) {
			keyd_error_response(PARSEC_CONNECTION_ERROR, &resp);
			write_full(fd, resp.data, resp.len, deadline);
			goto out;
		}
		req.len += rest;
	}
	keyd_handle(k, req.data, req.len, &peer, &resp);
	write_full(fd, resp.data, resp.len, deadline);
out:
	/* The request's first bytes may be key material or a token. */
	secure_wipe(first, sizeof first);
	buf_free(&req);
	buf_free(&resp);
	close(fd);
}

/* ---- the workers ----
 *
 * Every worker accepts on the listening socket itself: no queue and no
 * hand-off between threads (a hand-off cost a context switch per
 * request). Connections beyond the workers wait in the listen backlog.
 * The socket is non-blocking and accept() is tried first; a worker waits
 * (epoll) only when nothing is there, on the socket and on the stop
 * pipe, which is how it learns to stop: the listening socket itself is
 * never shut down, because under socket activation it is systemd's too
 * (a shut-down socket refuses every later client, and systemd could not
 * start the service again through it). */

struct pool {
	struct keyd *k;
	int listen_fd, stop_fd, timeout_ms;
	int stopping;		/* set once, read by every worker */
};

/* A worker's own epoll set: the listening socket with EPOLLEXCLUSIVE, so
 * that a connection wakes one waiting worker (as a blocking accept()
 * would), not all of them; the stop pipe without, so that the stop wakes
 * every one. -1 when it cannot be made: then poll(), which wakes all. */
static int worker_epoll(const struct pool *p)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event l = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.fd = p->listen_fd };
	struct epoll_event s = { .events = EPOLLIN, .data.fd = p->stop_fd };
	if (ep >= 0 && (epoll_ctl(ep, EPOLL_CTL_ADD, p->listen_fd, &l) < 0 ||
			epoll_ctl(ep, EPOLL_CTL_ADD, p->stop_fd, &s) < 0)) {
		close(ep);
		ep = -1;
	}
	return ep;
}

static void *worker(void *arg)
{
	struct pool *p = arg;
	int ep = worker_epoll(p);
	while (!__atomic_load_n(&p->stopping, __ATOMIC_ACQUIRE)) {
		int fd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0) {
			server_serve(p->k, fd, p->timeout_ms);
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			struct epoll_event ev[2];
			struct pollfd pfd[2] = { { p->listen_fd, POLLIN, 0 },
						 { p->stop_fd, POLLIN, 0 } };
			if (ep >= 0)
				epoll_wait(ep, ev, 2, -1);
			else
				poll(pfd, 2, -1);
		} else if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) {
			log_warn("accept: %s", strerror(errno));
			usleep(10000);	/* let other connections finish */
		}
	}
	if (ep >= 0)
		close(ep);
	return NULL;
}

int server_run(struct keyd *k, const struct server_config *c,
	       int (*on_wake)(char what, void *arg), void *arg)
{
	int stop[2], fl = fcntl(c->listen_fd, F_GETFL);
	if (fl < 0 || fcntl(c->listen_fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    pipe2(stop, O_CLOEXEC) < 0) {
		log_error("listening socket: %s", strerror(errno));
		return -1;
	}
	struct pool p = { k, c->listen_fd, stop[0], c->timeout_ms, 0 };
	pthread_t *threads = calloc((size_t)c->threads, sizeof *threads);
	int started = 0;
	for (; threads && started < c->threads; started++)
		if (pthread_create(&threads[started], NULL, worker, &p) != 0)
			break;
	if (!started) {
		log_error(threads ? "cannot start worker threads" : "out of memory");
		free(threads);
		close(stop[0]);
		close(stop[1]);
		return -1;
	}
	for (;;) {
		struct pollfd pfd = { c->wake_fd, POLLIN, 0 };
		if (poll(&pfd, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll: %s", strerror(errno));
			break;
		}
		char what = 0;
		if (read(c->wake_fd, &what, 1) == 1 && on_wake(what, arg))
			break;
	}
	/* Wakes the waiting workers: the stop pipe stays readable.
	 * Requests being served are finished first. */
	__atomic_store_n(&p.stopping, 1, __ATOMIC_RELEASE);
	if (write(stop[1], "s", 1) != 1)
		log_error("stop pipe: %s", strerror(errno));
	for (int i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	close(stop[0]);
	close(stop[1]);
	return 0;
}

/* systemd socket activation: LISTEN_PID is us and LISTEN_FDS is 1. Returns
 * 3, -1 when not activated, -2 (with err) when fd 3 is not a listening
 * Unix stream socket: serving whatever else fd 3 is (by then perhaps a
 * file this process opened) would only fail, forever. */
static int inherited(char *err, size_t errlen)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	if (!pid || !fds || atol(pid) != (long)getpid() || atoi(fds) != 1)
		return -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	int domain = 0, type = 0, listening = 0;
	socklen_t n1 = sizeof domain, n2 = sizeof type, n3 = sizeof listening;
	if (getsockopt(3, SOL_SOCKET, SO_DOMAIN, &domain, &n1) < 0 ||
	    getsockopt(3, SOL_SOCKET, SO_TYPE, &type, &n2) < 0 ||
	    getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &listening, &n3) < 0 ||
	    domain != AF_UNIX || type != SOCK_STREAM || !listening) {
		error_set(err, errlen, "LISTEN_FDS=1, but fd 3 is not a listening Unix "
			  "stream socket");
		return -2;
	}
	fcntl(3, F_SETFD, FD_CLOEXEC);
	return 3;
}

/* The socket's directory, made with its parents when missing, mode 0755
 * whatever the umask, so that every local user reaches the socket. One
 * that exists is left as it is: its mode is its owner's choice (the
 * socket may be in /tmp). */
static int socket_dir(const char *path, char *err, size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = 0;
	mode_t old = umask(022);
	int r = file_mkdirs(dir, 0755);
	umask(old);
	if (r < 0) {
		error_set(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

int server_listen(const char *path, char *err, size_t errlen)
{
	int fd = inherited(err, errlen);
	if (fd == -2)
		return -1;
	if (fd >= 0) {
		log_info("listening on the socket systemd passed");
		return fd;
	}
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof a.sun_path) {
		error_set(err, errlen, "socket path too long: %s", path);
		return -1;
	}
	if (socket_dir(path, err, errlen) < 0)
		return -1;
	memcpy(a.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		error_set(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* A socket file left by an earlier run: remove it, but never a
	 * regular file someone pointed us at by mistake. */
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			error_set(err, errlen, "%s exists and is not a socket", path);
			close(fd);
			return -1;
		}
		unlink(path);
	}
	mode_t old = umask(0111);	/* clients of every user may connect */
	int r = bind(fd, (struct sockaddr *)&a, sizeof a);
	umask(old);
	if (r < 0 || listen(fd, 128) < 0) {
		error_set(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

void server_notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (!path || !*path || strlen(path) >= sizeof a.sun_path)
		return;
	memcpy(a.sun_path, path, strlen(path));
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	if (a.sun_path[0] == '@')
		a.sun_path[0] = 0;	/* abstract namespace */
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	static const char msg[] = "READY=1";
	sendto(fd, msg, sizeof msg - 1, MSG_NOSIGNAL, (struct sockaddr *)&a, len);
	close(fd);
}
