/* daemon: start and stop Assay programs from end-to-end tests. */
#ifndef ASSAY_TESTS_DAEMON_H
#define ASSAY_TESTS_DAEMON_H

#include <sys/types.h>

#include "http/http.h"

/* A TCP port that was free a moment ago on 127.0.0.1. */
int daemon_free_port(void);
/* Starts argv[0] (a path) with the given arguments, stderr appended to
 * log_path. Returns the pid, or -1. */
pid_t daemon_start(char *const argv[], const char *log_path);
/* Polls url until it answers (any HTTP status) or timeout_ms passes.
 * Returns 0 when it answered. */
int daemon_wait_http(const struct http_client_config *cfg, const char *url,
		     int timeout_ms);
/* SIGTERM (or SIGKILL when hard), then waits. Returns the exit status as
 * waitpid reports it. */
int daemon_stop(pid_t pid, int hard);
/* Sends raw bytes to 127.0.0.1:port and returns the status code of the
 * HTTP answer, or -1. For requests no well-behaved client would send
 * (a Content-Length far past the limit, with no body following). */
int daemon_raw_status(int port, const char *request);
/* The path of a program built by meson: $ASSAY_BUILD_ROOT/<rel>. */
const char *daemon_program(const char *rel);

#endif
