/* Sockets for the module: see sockets.h. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keep/sockets.h"
#include "util/error.h"

#define KEEP_BACKLOG 128
#define KEEP_MAX_INHERITED 64

/* Splits "HOST:PORT" / "[IPV6]:PORT" into host and port (in buf). */
static int split_hostport(const char *spec, char *buf, size_t n,
			  const char **host, const char **port)
{
	char *colon;

	if (strlen(spec) >= n)
		return -1;
	strcpy(buf, spec);
	if (buf[0] == '[') {
		char *close = strchr(buf, ']');

		if (!close || close[1] != ':')
			return -1;
		*close = '\0';
		*host = buf + 1;
		*port = close + 2;
	} else {
		colon = strrchr(buf, ':');
		/* One colon only: "::1:80" is ambiguous, brackets say it. */
		if (!colon || strchr(buf, ':') != colon)
			return -1;
		*colon = '\0';
		*host = buf;
		*port = colon + 1;
	}
	return **host && **port ? 0 : -1;
}

static int port_ok(const char *port)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(port, &end, 10);
	return !errno && !*end && *port >= '0' && *port <= '9' &&
	       v >= 1 && v <= 65535;
}

int keep_listen(const char *spec, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	const char *host, *port;
	char buf[300];
	int fd = -1, one = 1, r, e = 0;

	if (split_hostport(spec, buf, sizeof(buf), &host, &port) ||
	    !port_ok(port)) {
		error_set(err, errlen, "--listen '%s': give HOST:PORT or "
			  "[IPV6]:PORT with PORT 1-65535", spec);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	r = getaddrinfo(host, port, &hints, &res);
	if (r) {
		error_set(err, errlen, "--listen '%s': %s", spec,
			  gai_strerror(r));
		return -1;
	}
	/* The first address that binds: a name may give several. */
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (!bind(fd, ai->ai_addr, ai->ai_addrlen) &&
		    !listen(fd, KEEP_BACKLOG))
			break;
		e = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		error_set(err, errlen, "--listen '%s': %s", spec, strerror(e));
	return fd;
}

int keep_inherited(int **fds, size_t *n, char *err, size_t errlen)
{
	const char *pid = getenv("LISTEN_PID"), *count = getenv("LISTEN_FDS");
	char *end;
	long want;
	int i, *l;

	*fds = NULL;
	*n = 0;
	if (!pid || !count || strtol(pid, &end, 10) != (long)getpid() || *end)
		return 0;
	errno = 0;
	want = strtol(count, &end, 10);
	if (errno || *end || want < 0 || want > KEEP_MAX_INHERITED) {
		error_set(err, errlen, "LISTEN_FDS='%s': give a count of 0-%d "
			  "sockets", count, KEEP_MAX_INHERITED);
		return -1;
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	l = calloc(want ? (size_t)want : 1, sizeof(*l));
	if (!l) {
		error_set(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < want; i++) {
		struct stat st;

		if (fstat(3 + i, &st) || !S_ISSOCK(st.st_mode)) {
			error_set(err, errlen, "LISTEN_FDS=%ld, but fd %d is "
				  "not a socket", want, 3 + i);
			free(l);
			return -1;
		}
		fcntl(3 + i, F_SETFD, FD_CLOEXEC);
		l[i] = 3 + i;
	}
	*fds = l;
	*n = (size_t)want;
	return 0;
}
