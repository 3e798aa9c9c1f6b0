/* assay-keep's own options, through the command: --listen (a TCP socket
 * the module accepts on), systemd socket activation (LISTEN_FDS), and
 * --timeout-ms (a module stopped while it computes or while it waits in
 * WASI); each with its errors: exit status 2 and the reason.
 *
 * Usage: test_keep_cli ASSAY-KEEP PROGS-BUILD-DIR (sockets.wasm and
 *        block.wasm; without them, no toolchain at build time: skipped) */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "keep/tests/runner.h"
#include "util/check.h"

static const char *keep, *progs;

/* What progs/sockets.c prints when a client sends "ping" and closes. */
static const char sockets_transcript[] =
	"listener type stream\n"
	"accepted\n"
	"poll: 1 event(s), first userdata 1 type 1 error 0 nbytes 4\n"
	"peeked 4\n"
	"received 'ping'\n"
	"sent 4\n"
	"bad shutdown flags: errno 28\n"
	"shut down\n"
	"after the peer closed: errno 0, 0 bytes\n"
	"accept on the connection: errno 76\n";

struct client {
	struct sockaddr_storage addr;
	socklen_t len;
	char got[64];
};

/* Connects (retrying while assay-keep starts), sends "ping", reads until
 * the module shuts its side. */
static void *client_main(void *arg)
{
	struct client *c = arg;
	struct timespec pause = { 0, 20 * 1000000 };
	size_t len = 0;
	ssize_t n;
	int fd = -1, i;

	for (i = 0; i < 500; i++) {
		fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && !connect(fd, (struct sockaddr *)&c->addr, c->len))
			break;
		if (fd >= 0)
			close(fd);
		fd = -1;
		nanosleep(&pause, NULL);
	}
	if (fd < 0 || write(fd, "ping", 4) != 4)
		return NULL;
	shutdown(fd, SHUT_WR);
	while (len < sizeof(c->got) - 1 &&
	       (n = read(fd, c->got + len, sizeof(c->got) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	return NULL;
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &len))
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static void wasm_path(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s.wasm", progs, name);
}

static void test_listen(void)
{
	struct sockaddr_in *sin;
	struct client c;
	struct run_result r;
	char spec[64], wasm[4096];
	const char *argv[8];
	pthread_t t;
	int port = free_port();

	CHECK(port > 0);
	memset(&c, 0, sizeof(c));
	sin = (struct sockaddr_in *)&c.addr;
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c.len = sizeof(*sin);
	snprintf(spec, sizeof(spec), "127.0.0.1:%d", port);
	wasm_path(wasm, sizeof(wasm), "sockets");
	argv[0] = keep;
	argv[1] = "run";
	argv[2] = "--listen";
	argv[3] = spec;
	argv[4] = wasm;
	argv[5] = NULL;
	CHECK(pthread_create(&t, NULL, client_main, &c) == 0);
	CHECK(run_program(argv, NULL, NULL, NULL, 60, &r) == 0);
	pthread_join(t, NULL);
	CHECK_INT(r.status, 0);
	CHECK_STR((char *)r.out.data, sockets_transcript);
	CHECK_STR(c.got, "pong");
	run_result_free(&r);
}

/* assay-keep run --listen SPEC block.wasm accept: refused before the
 * module runs, with a message naming the option. */
static void check_bad_listen(const char *spec, const char *why)
{
	char wasm[4096];
	const char *argv[] = { keep, "run", "--listen", spec, wasm, "accept",
			       NULL };
	struct run_result r;

	wasm_path(wasm, sizeof(wasm), "block");
	CHECK(run_program(argv, NULL, NULL, NULL, 30, &r) == 0);
	CHECK_INT(r.status, 2);
	if (!strstr((char *)r.err.data, why))
		printf("FAIL --listen '%s': want '%s' in: %s\n", spec, why,
		       (char *)r.err.data);
	CHECK(strstr((char *)r.err.data, why) != NULL);
	CHECK_STR((char *)r.out.data, "");
	run_result_free(&r);
}

static void test_listen_errors(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	char spec[64];
	int fd;

	check_bad_listen("8080", "give HOST:PORT");
	check_bad_listen("127.0.0.1:0", "PORT 1-65535");
	check_bad_listen("127.0.0.1:65536", "PORT 1-65535");
	check_bad_listen("127.0.0.1:http", "PORT 1-65535");
	check_bad_listen("::1:80", "[IPV6]:PORT");
	check_bad_listen("[::1]80", "[IPV6]:PORT");
	check_bad_listen(":80", "give HOST:PORT");
	check_bad_listen("no.such.host.invalid:80", "--listen 'no.such.host.invalid:80'");
	/* A port taken by another listener. */
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	      !listen(fd, 1) &&
	      !getsockname(fd, (struct sockaddr *)&a, &len));
	snprintf(spec, sizeof(spec), "127.0.0.1:%d", ntohs(a.sin_port));
	check_bad_listen(spec, "Address already in use");
	close(fd);
}

/* Socket activation: a shell puts the listener at fd 3 and sets
 * LISTEN_PID to its own pid, which exec keeps for assay-keep. */
static void test_systemd(void)
{
	static const char script[] =
		"exec 3<&\"$1\"; shift; export LISTEN_PID=$$ LISTEN_FDS=1; "
		"exec \"$@\"";
	struct sockaddr_un *sun;
	struct client c;
	struct run_result r;
	char wasm[4096], dir[4096], fdnum[16];
	const char *argv[10];
	pthread_t t;
	int lfd;

	memset(&c, 0, sizeof(c));
	CHECK(run_tmpdir(dir, sizeof(dir), "sd") == 0);
	sun = (struct sockaddr_un *)&c.addr;
	sun->sun_family = AF_UNIX;
	CHECK(strlen(dir) + 3 <= sizeof(sun->sun_path));
	snprintf(sun->sun_path, sizeof(sun->sun_path), "%.100s/s", dir);
	c.len = sizeof(*sun);
	/* Not close-on-exec: the shell gets it. */
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(lfd >= 0 && !bind(lfd, (struct sockaddr *)sun, sizeof(*sun)) &&
	      !listen(lfd, 1));
	snprintf(fdnum, sizeof(fdnum), "%d", lfd);
	wasm_path(wasm, sizeof(wasm), "sockets");
	argv[0] = "/bin/sh";
	argv[1] = "-c";
	argv[2] = script;
	argv[3] = "sh";
	argv[4] = fdnum;
	argv[5] = keep;
	argv[6] = "run";
	argv[7] = wasm;
	argv[8] = NULL;
	CHECK(pthread_create(&t, NULL, client_main, &c) == 0);
	CHECK(run_program(argv, NULL, NULL, NULL, 60, &r) == 0);
	pthread_join(t, NULL);
	CHECK_INT(r.status, 0);
	CHECK_STR((char *)r.out.data, sockets_transcript);
	CHECK_STR(c.got, "pong");
	run_result_free(&r);
	close(lfd);

	/* LISTEN_FDS=1 and fd 3 is a file, not a socket. */
	argv[2] = "exec 3</dev/null; export LISTEN_PID=$$ LISTEN_FDS=1; "
		  "exec \"$@\"";
	argv[3] = "sh";
	argv[4] = keep;
	argv[5] = "run";
	argv[6] = wasm;
	argv[7] = NULL;
	CHECK(run_program(argv, NULL, NULL, NULL, 30, &r) == 0);
	CHECK_INT(r.status, 2);
	CHECK(strstr((char *)r.err.data, "fd 3 is not a socket") != NULL);
	run_result_free(&r);
	run_remove_tree(dir);
}

/* --timeout-ms: a module computing forever, and one waiting forever in
 * WASI (a clock an hour away), both stopped with the trap's status. */
static void test_timeout(void)
{
	static const char *const modes[] = { "spin", "poll" };
	char wasm[4096];
	const char *argv[] = { keep, "run", "--timeout-ms", "300", wasm, NULL,
			       NULL };
	struct run_result r;
	size_t i;

	wasm_path(wasm, sizeof(wasm), "block");
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		argv[5] = modes[i];
		CHECK(run_program(argv, NULL, NULL, NULL, 60, &r) == 0);
		CHECK_INT(r.status, 134);
		CHECK_STR((char *)r.err.data,
			  "assay-keep: trap: deadline exceeded\n");
		run_result_free(&r);
	}
	argv[3] = "-5";
	argv[5] = "spin";
	CHECK(run_program(argv, NULL, NULL, NULL, 30, &r) == 0);
	CHECK_INT(r.status, 2);
	CHECK(strstr((char *)r.err.data, "timeout") != NULL);
	run_result_free(&r);
}

int main(int argc, char **argv)
{
	char probe[4096];

	if (argc != 3) {
		fprintf(stderr, "usage: %s ASSAY-KEEP PROGS-BUILD-DIR\n", argv[0]);
		return 2;
	}
	keep = argv[1];
	progs = argv[2];
	wasm_path(probe, sizeof(probe), "block");
	if (access(probe, R_OK)) {
		printf("SKIP: no wasm32-wasi toolchain at build time: %s missing\n",
		       probe);
		return 77;
	}
	test_listen();
	test_listen_errors();
	test_systemd();
	test_timeout();
	return check_done();
}
