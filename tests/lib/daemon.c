#include "tests/lib/daemon.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int daemon_free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof a;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return ntohs(a.sin_port);
}

pid_t daemon_start(char *const argv[], const char *log_path)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (fd >= 0) {
		dup2(fd, 2);
		dup2(fd, 1);
		close(fd);
	}
	execv(argv[0], argv);
	perror(argv[0]);
	_exit(127);
}

int daemon_wait_http(const struct http_client_config *cfg, const char *url,
		     int timeout_ms)
{
	struct buf out = BUF_INIT;
	char err[256];
	for (int waited = 0; waited < timeout_ms; waited += 50) {
		buf_reset(&out);
		if (http_fetch(cfg, "GET", url, NULL, 0, &out, err, sizeof err) > 0) {
			buf_free(&out);
			return 0;
		}
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
	buf_free(&out);
	fprintf(stderr, "no answer from %s: %s\n", url, err);
	return -1;
}

int daemon_stop(pid_t pid, int hard)
{
	int status = 0;
	kill(pid, hard ? SIGKILL : SIGTERM);
	waitpid(pid, &status, 0);
	return status;
}

const char *daemon_program(const char *rel)
{
	static char path[4096];
	const char *root = getenv("ASSAY_BUILD_ROOT");
	snprintf(path, sizeof path, "%s/%s", root ? root : ".", rel);
	return path;
}

int daemon_raw_status(int port, const char *request)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	char reply[256] = "";
	int fd = socket(AF_INET, SOCK_STREAM, 0), status = -1;
	struct timeval tv = { 5, 0 };
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    write(fd, request, strlen(request)) == (ssize_t)strlen(request) &&
	    read(fd, reply, sizeof reply - 1) > 12 &&
	    sscanf(reply, "HTTP/1.%*d %d", &status) != 1)
		status = -1;
	close(fd);
	return status;
}
