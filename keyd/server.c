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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/error.h"
#include "util/log.h"

static long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Reads exactly n bytes before the deadline. 0, or -1 (closed, error,
 * timeout). */
static int read_full(int fd, uint8_t *p, size_t n, long long deadline)
{
	while (n) {
		long long left = deadline - now_ms();
		struct pollfd pfd = { fd, POLLIN, 0 };
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return -1;
		ssize_t r = read(fd, p, n);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static void write_full(int fd, const uint8_t *p, size_t n, long long deadline)
{
	while (n) {
		long long left = deadline - now_ms();
		struct pollfd pfd = { fd, POLLOUT, 0 };
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return;
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
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
	uint8_t hdr[PARSEC_HEADER_SIZE];
	if (read_full(fd, hdr, sizeof hdr, deadline) < 0)
		goto out;	/* nothing to answer: the client went away */
	int st = parsec_header_read(hdr, &h);
	if (st == PARSEC_SUCCESS && h.body_len > k->max_body)
		st = PARSEC_BODY_SIZE_EXCEEDS_LIMIT;
	if (st != PARSEC_SUCCESS) {
		/* Refused before the body is read: an oversized or garbled
		 * request costs us 36 bytes. */
		keyd_error_response(st, &resp);
		write_full(fd, resp.data, resp.len, deadline);
		goto out;
	}
	size_t rest = (size_t)h.body_len + h.auth_len;
	buf_append(&req, hdr, sizeof hdr);
	if (rest) {
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
	buf_free(&req);
	buf_free(&resp);
	close(fd);
}

/* ---- the pool ---- */

struct pool {
	struct keyd *k;
	int timeout_ms;
	pthread_mutex_t lock;
	pthread_cond_t ready, room;
	int *queue;
	size_t cap, head, len;
	int stopping;
};

static void *worker(void *arg)
{
	struct pool *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (!p->len && !p->stopping)
			pthread_cond_wait(&p->ready, &p->lock);
		if (!p->len) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		int fd = p->queue[p->head];
		p->head = (p->head + 1) % p->cap;
		p->len--;
		pthread_cond_signal(&p->room);
		pthread_mutex_unlock(&p->lock);
		server_serve(p->k, fd, p->timeout_ms);
	}
}

static void enqueue(struct pool *p, int fd)
{
	pthread_mutex_lock(&p->lock);
	while (p->len == p->cap)
		pthread_cond_wait(&p->room, &p->lock);
	p->queue[(p->head + p->len) % p->cap] = fd;
	p->len++;
	pthread_cond_signal(&p->ready);
	pthread_mutex_unlock(&p->lock);
}

int server_run(struct keyd *k, const struct server_config *c,
	       int (*on_wake)(char what, void *arg), void *arg)
{
	struct pool p = { .k = k, .timeout_ms = c->timeout_ms };
	pthread_t *threads = calloc((size_t)c->threads, sizeof *threads);
	p.cap = (size_t)c->threads * 16;
	p.queue = calloc(p.cap, sizeof *p.queue);
	if (!threads || !p.queue) {
		free(threads);
		free(p.queue);
		log_error("out of memory");
		return -1;
	}
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.ready, NULL);
	pthread_cond_init(&p.room, NULL);
	int started = 0;
	for (; started < c->threads; started++)
		if (pthread_create(&threads[started], NULL, worker, &p) != 0)
			break;
	if (!started) {
		log_error("cannot start worker threads");
		free(threads);
		free(p.queue);
		return -1;
	}
	for (;;) {
		struct pollfd fds[2] = { { c->listen_fd, POLLIN, 0 }, { c->wake_fd, POLLIN, 0 } };
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll: %s", strerror(errno));
			break;
		}
		if (fds[1].revents) {
			char what = 0;
			if (read(c->wake_fd, &what, 1) == 1 && on_wake(what, arg))
				break;
		}
		if (fds[0].revents & POLLIN) {
			int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0)
				enqueue(&p, fd);
			else if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
				log_warn("accept: %s", strerror(errno));
		}
	}
	pthread_mutex_lock(&p.lock);
	p.stopping = 1;
	pthread_cond_broadcast(&p.ready);
	pthread_mutex_unlock(&p.lock);
	for (int i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	pthread_mutex_destroy(&p.lock);
	pthread_cond_destroy(&p.ready);
	pthread_cond_destroy(&p.room);
	free(threads);
	free(p.queue);
	return 0;
}

/* systemd socket activation: LISTEN_PID is us and LISTEN_FDS is 1. */
static int inherited(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	if (!pid || !fds || atol(pid) != (long)getpid() || atoi(fds) != 1)
		return -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	fcntl(3, F_SETFD, FD_CLOEXEC);
	return 3;
}

int server_listen(const char *path, char *err, size_t errlen)
{
	int fd = inherited();
	if (fd >= 0) {
		log_info("listening on the socket systemd passed");
		return fd;
	}
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof a.sun_path) {
		error_set(err, errlen, "socket path too long: %s", path);
		return -1;
	}
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
