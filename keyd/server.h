/* The socket side of assay-keyd: a Unix stream socket, one request per
 * connection, a bounded pool of worker threads.
 *
 * Each worker accepts a connection itself, reads the header, refuses an
 * oversized body before reading it, reads the rest within the
 * connection's time limit, asks keyd_handle, writes the response and
 * closes. The main thread only waits for signals. */
#ifndef ASSAY_KEYD_SERVER_H
#define ASSAY_KEYD_SERVER_H

#include "keyd/keyd.h"

struct server_config {
	int listen_fd;
	int threads;
	int timeout_ms;		/* per connection: the whole request */
	int wake_fd;		/* readable: stop (or reload, see reload_fd) */
};

/* Runs until wake_fd says stop. on_wake is called with the byte read
 * from wake_fd ('t' stop, 'h' reload); it returns 1 to stop. listen_fd is
 * made non-blocking and is left listening when this returns (under
 * socket activation it is systemd's too). */
int server_run(struct keyd *k, const struct server_config *c,
	       int (*on_wake)(char what, void *arg), void *arg);

/* Serves one connection (what a worker does); for tests. */
void server_serve(struct keyd *k, int fd, int timeout_ms);

/* A listening socket at path (0666, any stale socket replaced, its
 * directory made 0755 when missing), or the one systemd passed
 * (LISTEN_FDS; then nothing is made at path). -1 with err. */
int server_listen(const char *path, char *err, size_t errlen);
/* Tells systemd we are ready, when started by it (NOTIFY_SOCKET). */
void server_notify_ready(void);

#endif
