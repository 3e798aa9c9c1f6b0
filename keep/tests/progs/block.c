/* Calls that block until the host's deadline stops them (test_wasi.c sets
 * one): argv[1] picks the call.
 *
 *	read	fd_read from standard input
 *	accept	sock_accept on fd 3 (a listening socket)
 *	recv	sock_recv of 8 bytes with WAITALL on fd 3 (a connected socket)
 *	send	sock_send on fd 3 until the peer's buffers are full
 *	write	fd_write on fd 3, the same through the fd interface
 *	poll	poll_oneoff on a clock an hour away
 *	spin	a loop that never calls the host
 *
 * Each prints what it got when the call returns instead. */
#include <stdio.h>
#include <string.h>
#include <wasi/api.h>

#define FD 3

static char big[65536];

static int flood(int use_send)
{
	__wasi_ciovec_t v = { (const uint8_t *)big, sizeof(big) };
	unsigned long long total = 0;
	__wasi_size_t n;
	__wasi_errno_t e;

	for (;;) {
		e = use_send ? __wasi_sock_send(FD, &v, 1, 0, &n) :
			       __wasi_fd_write(FD, &v, 1, &n);
		if (e) {
			printf("errno %u after %llu bytes\n", (unsigned)e, total);
			return 1;
		}
		total += n;
	}
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	char buf[16];
	__wasi_iovec_t iov = { (uint8_t *)buf, sizeof(buf) };
	__wasi_size_t n;
	__wasi_roflags_t ro;
	__wasi_errno_t e;
	__wasi_fd_t conn;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (!strcmp(mode, "read")) {
		e = __wasi_fd_read(0, &iov, 1, &n);
		printf("read: errno %u, %u bytes\n", (unsigned)e, (unsigned)n);
	} else if (!strcmp(mode, "accept")) {
		e = __wasi_sock_accept(FD, 0, &conn);
		printf("accept: errno %u\n", (unsigned)e);
	} else if (!strcmp(mode, "recv")) {
		iov.buf_len = 8;
		e = __wasi_sock_recv(FD, &iov, 1, __WASI_RIFLAGS_RECV_WAITALL,
				     &n, &ro);
		printf("recv: errno %u, '%.*s'\n", (unsigned)e, (int)n, buf);
	} else if (!strcmp(mode, "send") || !strcmp(mode, "write")) {
		return flood(mode[0] == 's');
	} else if (!strcmp(mode, "poll")) {
		__wasi_subscription_t sub;
		__wasi_event_t ev;

		memset(&sub, 0, sizeof(sub));
		sub.u.tag = __WASI_EVENTTYPE_CLOCK;
		sub.u.u.clock.id = __WASI_CLOCKID_MONOTONIC;
		sub.u.u.clock.timeout = 3600ull * 1000000000ull;
		e = __wasi_poll_oneoff(&sub, &ev, 1, &n);
		printf("poll: errno %u, %u events\n", (unsigned)e, (unsigned)n);
	} else if (!strcmp(mode, "spin")) {
		volatile unsigned i = 0;

		for (;;)
			i++;
	} else {
		printf("unknown mode '%s'\n", mode);
		return 2;
	}
	return 0;
}
