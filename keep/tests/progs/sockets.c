/* Sockets handed in by the host: fd 3 is a listening socket. Accepts one
 * connection, waits for it to be readable with poll_oneoff (a clock
 * subscription as a timeout beside it), receives "ping" (peeking first),
 * answers "pong", shuts down its side, and reports each step. The test
 * (test_wasi.c) plays the client. */
#include <stdio.h>
#include <string.h>
#include <wasi/api.h>

#define LISTENER 3

static int fail(const char *what, __wasi_errno_t e)
{
	printf("%s: errno %u\n", what, (unsigned)e);
	return 1;
}

int main(void)
{
	__wasi_subscription_t sub[2];
	__wasi_event_t ev[2];
	__wasi_size_t n, nev;
	__wasi_roflags_t ro;
	__wasi_fdstat_t fs;
	__wasi_fd_t conn;
	__wasi_errno_t e;
	char buf[16];
	__wasi_iovec_t iov = { (uint8_t *)buf, sizeof(buf) };
	__wasi_ciovec_t out = { (const uint8_t *)"pong", 4 };

	e = __wasi_fd_fdstat_get(LISTENER, &fs);
	if (e)
		return fail("fdstat", e);
	printf("listener type %s\n",
	       fs.fs_filetype == __WASI_FILETYPE_SOCKET_STREAM ? "stream" : "other");
	e = __wasi_sock_accept(LISTENER, 0, &conn);
	if (e)
		return fail("accept", e);
	printf("accepted\n");

	memset(sub, 0, sizeof(sub));
	sub[0].userdata = 1;
	sub[0].u.tag = __WASI_EVENTTYPE_FD_READ;
	sub[0].u.u.fd_read.file_descriptor = conn;
	sub[1].userdata = 2;
	sub[1].u.tag = __WASI_EVENTTYPE_CLOCK;
	sub[1].u.u.clock.id = __WASI_CLOCKID_MONOTONIC;
	sub[1].u.u.clock.timeout = 30ull * 1000000000ull;
	e = __wasi_poll_oneoff(sub, ev, 2, &nev);
	if (e)
		return fail("poll", e);
	printf("poll: %u event(s), first userdata %llu type %u error %u "
	       "nbytes %llu\n", (unsigned)nev, (unsigned long long)ev[0].userdata,
	       (unsigned)ev[0].type, (unsigned)ev[0].error,
	       (unsigned long long)ev[0].fd_readwrite.nbytes);

	e = __wasi_sock_recv(conn, &iov, 1, __WASI_RIFLAGS_RECV_PEEK, &n, &ro);
	if (e)
		return fail("peek", e);
	printf("peeked %u\n", (unsigned)n);
	/* Exactly the 4 bytes the peer sends: WAITALL waits for all. */
	iov.buf_len = 4;
	e = __wasi_sock_recv(conn, &iov, 1, __WASI_RIFLAGS_RECV_WAITALL, &n, &ro);
	if (e)
		return fail("recv", e);
	printf("received '%.*s'\n", (int)n, buf);
	e = __wasi_sock_send(conn, &out, 1, 0, &n);
	if (e)
		return fail("send", e);
	printf("sent %u\n", (unsigned)n);
	printf("bad shutdown flags: errno %u\n",
	       (unsigned)__wasi_sock_shutdown(conn, 0));
	e = __wasi_sock_shutdown(conn, __WASI_SDFLAGS_WR);
	if (e)
		return fail("shutdown", e);
	printf("shut down\n");
	iov.buf_len = sizeof(buf);
	e = __wasi_sock_recv(conn, &iov, 1, 0, &n, &ro);
	printf("after the peer closed: errno %u, %u bytes\n", (unsigned)e,
	       (unsigned)n);
	printf("accept on the connection: errno %u\n",
	       (unsigned)__wasi_sock_accept(conn, 0, &(__wasi_fd_t){ 0 }));
	return __wasi_fd_close(conn);
}
