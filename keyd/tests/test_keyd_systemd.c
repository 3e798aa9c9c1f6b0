/* assay-keyd under systemd's conventions, with the test playing systemd:
 *
 *   - socket activation: the test binds the listening socket, passes it
 *     as fd 3 with LISTEN_FDS=1 and LISTEN_PID=<the daemon's pid>, and
 *     names a --socket path that does not exist: requests through the
 *     test's socket are served, nothing is made at the --socket path
 *     (neither the socket nor its directory), and the idle daemon sleeps.
 *     Stopped, it leaves the socket working (a client connecting then is
 *     queued, not refused), and a daemon started again on it (systemctl
 *     restart), non-blocking this time (NonBlocking=yes), serves. With
 *     LISTEN_PID naming another process, fd 3 is not the daemon's: it
 *     binds --socket itself. With LISTEN_FDS=1 and no socket as fd 3, it
 *     exits with an error;
 *   - readiness: READY=1 arrives on NOTIFY_SOCKET (a path, then an
 *     abstract name) from the daemon's main pid (systemd's default
 *     NotifyAccess=main), and the daemon answers at once after it;
 *   - as root with neither user nor allow_root the daemon refuses to start
 *     (exit status 2, a message naming `user`) before making anything;
 *     with allow_root it starts;
 *   - a socket directory that exists keeps its mode (a daemon running as
 *     root must not chmod /tmp because its socket is there); one that does
 *     not is made 0755, its parents too. */
#define _GNU_SOURCE	/* struct ucred, SCM_CREDENTIALS: the notifier's pid */
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "assay/key.h"
#include "tests/lib/daemon.h"
#include "util/buf.h"
#include "util/check.h"
#include "util/file.h"

static char dir[64], conf[128];

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static int exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static void path_in(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

/* Prints the end of a daemon's log (after a failed check). */
static void show_log(const char *log)
{
	char cmd[256];
	fflush(stdout);
	snprintf(cmd, sizeof cmd, "tail -n 20 %s", log);
	if (system(cmd) != 0)
		printf("(no log at %s)\n", log);
}

/* Ping through path, retried for up to ms. */
static int ping(const char *path, int ms)
{
	int st = ASSAY_KEY_CONNECTION_ERROR;
	for (int waited = 0; waited <= ms; waited += 50) {
		struct assay_key_client *c = assay_key_client_new();
		assay_key_client_set_endpoint(c, path);
		assay_key_client_set_timeout_ms(c, 2000);
		unsigned maj = 0, min = 0;
		st = assay_key_ping(c, &maj, &min);
		assay_key_client_free(c);
		if (st == ASSAY_KEY_OK)
			return maj == 1 && min == 0 ? ASSAY_KEY_OK : -1;
		sleep_ms(50);
	}
	return st;
}

/* A key operation through path: the request is authenticated (Unix peer
 * credentials) and reaches a provider. */
static int random_bytes(const char *path)
{
	struct assay_key_client *c = assay_key_client_new();
	uint8_t *r = NULL;
	assay_key_client_set_endpoint(c, path);
	assay_key_client_set_timeout_ms(c, 5000);
	assay_key_client_set_provider(c, 1);
	int st = assay_key_generate_random(c, 16, &r);
	assay_key_free(r);
	assay_key_client_free(c);
	return st;
}

/* The exit status of pid within ms, or -1 (then it is killed). */
static int wait_exit(pid_t pid, int ms)
{
	int status;
	for (int waited = 0; waited <= ms; waited += 20) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return status;
		if (r < 0)
			return -1;
		sleep_ms(20);
	}
	daemon_stop(pid, 1);
	return -1;
}

/* The daemon's command line: the configuration, the socket path, then
 * either the user to run as (when root) or, given, up to two other
 * arguments. */
static void keyd_argv(char **argv, const char *sock, const char *extra1, const char *extra2)
{
	int i = 0;
	argv[i++] = (char *)daemon_program("keyd/assay-keyd");
	argv[i++] = (char *)"--config";
	argv[i++] = conf;
	argv[i++] = (char *)"--socket";
	argv[i++] = (char *)sock;
	if (extra1) {
		argv[i++] = (char *)extra1;
		if (extra2)
			argv[i++] = (char *)extra2;
	} else if (geteuid() == 0) {
		argv[i++] = (char *)"--user";
		argv[i++] = (char *)"nobody";
	}
	argv[i] = NULL;
}

/* The address of the socket at path (which fits: the test's paths are
 * short). */
static struct sockaddr_un unix_addr(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	size_t n = strlen(path);
	memcpy(a.sun_path, path, n < sizeof a.sun_path ? n : sizeof a.sun_path - 1);
	return a;
}

/* A listening Unix stream socket at path. */
static int listen_at(const char *path)
{
	struct sockaddr_un a = unix_addr(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 16) < 0) {
		perror(path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	chmod(path, 0666);	/* as systemd's SocketMode= default */
	return fd;
}

/* ---- socket activation ---- */

/* Forks the daemon with fd3 as its fd 3 and LISTEN_FDS=1; LISTEN_PID is
 * its own pid, or its parent's (the test's) when not_ours. */
static pid_t start_activated(int fd3, const char *sock, const char *log, int not_ours)
{
	char *argv[12];
	keyd_argv(argv, sock, NULL, NULL);
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	int out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (out >= 0) {
		dup2(out, 1);
		dup2(out, 2);
	}
	/* dup2 clears close-on-exec on fd 3; when the socket already is fd 3
	 * it has to be cleared by hand. */
	if (fd3 == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(fd3, 3) != 3)
		_exit(126);
	char num[32];
	snprintf(num, sizeof num, "%ld", (long)(not_ours ? getppid() : getpid()));
	setenv("LISTEN_PID", num, 1);
	setenv("LISTEN_FDS", "1", 1);
	setenv("LISTEN_FDNAMES", "keyd.socket", 1);
	execv(argv[0], argv);
	perror(argv[0]);
	_exit(127);
}

/* The CPU time pid has used, in clock ticks (/proc/PID/stat: utime and
 * stime, fields 14 and 15), or -1. */
static long cpu_ticks(pid_t pid)
{
	char path[64], text[1024];
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
	if (f)
		fclose(f);
	text[n] = 0;
	const char *p = strrchr(text, ')');	/* the name may hold spaces */
	long utime, stime;
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld",
			 &utime, &stime) != 2)
		return -1;
	return utime + stime;
}

/* An idle daemon sleeps: over one second it uses (nearly) no CPU. A worker
 * spinning on a failing or non-blocking accept() uses all of a core. */
static void check_idle(pid_t pid)
{
	long t0 = cpu_ticks(pid), hz = sysconf(_SC_CLK_TCK);
	sleep_ms(1000);
	long t1 = cpu_ticks(pid);
	if (t0 < 0 || t1 < 0 || hz <= 0) {
		printf("SKIP (part): no /proc/%ld/stat to read the daemon's CPU time\n",
		       (long)pid);
		return;
	}
	printf("  idle for 1 s: %ld ms of CPU\n", (t1 - t0) * 1000 / hz);
	CHECK((t1 - t0) * 5 < hz);	/* under 20% of one core */
}

/* Whether a client can connect to path now (queued in the backlog counts:
 * it is what systemd sees as a reason to start the service). */
static int connectable(const char *path)
{
	struct sockaddr_un a = unix_addr(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static void test_activation(void)
{
	int failed_before = check_failures;
	char sock[128], absent_dir[128], absent[160], log[128];
	path_in(sock, sizeof sock, "activated.sock");
	path_in(absent_dir, sizeof absent_dir, "absent");
	snprintf(absent, sizeof absent, "%s/keyd.sock", absent_dir);
	path_in(log, sizeof log, "activation.log");
	printf("socket activation\n");

	/* The test keeps its copy of the socket all along, as systemd does;
	 * it never accepts, so an answer can only come from the daemon. */
	int lfd = listen_at(sock);
	CHECK(lfd >= 0);
	if (lfd < 0)
		return;
	pid_t pid = start_activated(lfd, absent, log, 0);
	CHECK(pid > 0);
	if (pid <= 0) {
		close(lfd);
		return;
	}
	CHECK_INT(ping(sock, 10000), ASSAY_KEY_OK);
	CHECK_INT(random_bytes(sock), ASSAY_KEY_OK);
	/* The --socket path is ignored: no socket bound there, no directory
	 * made for it. */
	CHECK(!exists(absent));
	CHECK(!exists(absent_dir));
	check_idle(pid);
	CHECK_INT(daemon_stop(pid, 0), 0);
	/* Stopped, the daemon leaves systemd's socket working: a client
	 * connecting now waits in the backlog (and makes systemd start the
	 * service again) rather than being refused. The file is systemd's. */
	CHECK(exists(sock));
	CHECK(connectable(sock));

	/* Started again on the same socket (systemctl restart), this time
	 * non-blocking (systemd's NonBlocking=yes): it serves, it idles. */
	int fl = fcntl(lfd, F_GETFL);
	CHECK(fl >= 0 && fcntl(lfd, F_SETFL, fl | O_NONBLOCK) == 0);
	pid = start_activated(lfd, absent, log, 0);
	CHECK_INT(ping(sock, 10000), ASSAY_KEY_OK);
	check_idle(pid);
	CHECK_INT(daemon_stop(pid, 0), 0);

	/* LISTEN_PID is another process: fd 3 is not for this daemon, which
	 * binds --socket as if started by hand. */
	char own[128];
	path_in(own, sizeof own, "own.sock");
	pid = start_activated(lfd, own, log, 1);
	CHECK_INT(ping(own, 10000), ASSAY_KEY_OK);
	CHECK_INT(daemon_stop(pid, 0), 0);
	close(lfd);

	/* LISTEN_FDS=1 with something else than a listening socket as fd 3:
	 * an error at start, not a daemon that serves nothing. */
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	pid = start_activated(null, absent, log, 0);
	close(null);
	int status = wait_exit(pid, 10000);
	CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 1);
	if (check_failures > failed_before)
		show_log(log);
}

/* ---- sd_notify ---- */

/* A datagram socket at path, or at the abstract name path + 1 when path
 * starts with '@'; it receives the sender's credentials. */
static int notify_socket(const char *path)
{
	struct sockaddr_un a = unix_addr(path);
	size_t n = strnlen(a.sun_path, sizeof a.sun_path);
	if (path[0] == '@')
		a.sun_path[0] = 0;
	else
		unlink(path);
	int one = 1, fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
							  n)) < 0) {
		perror(path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* systemd's own notify socket is writable by every user: the daemon
	 * sends READY=1 after dropping to its user. */
	if (path[0] != '@')
		chmod(path, 0666);
	return fd;
}

/* One datagram within ms, NUL-terminated into msg; the sender's pid. */
static int notify_receive(int fd, char *msg, size_t n, pid_t *sender, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(struct ucred))];
	} ctl;
	struct iovec iov = { msg, n - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = &ctl, .msg_controllen = sizeof ctl };
	*sender = 0;
	if (poll(&p, 1, ms) != 1)
		return -1;
	ssize_t r = recvmsg(fd, &mh, 0);
	if (r < 0)
		return -1;
	msg[r] = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
			struct ucred u;
			memcpy(&u, CMSG_DATA(c), sizeof u);
			*sender = u.pid;
		}
	}
	return 0;
}

static void notify_once(const char *notify, const char *what)
{
	int failed_before = check_failures;
	char sock[128], log[128], msg[256];
	path_in(sock, sizeof sock, "notify-keyd.sock");
	path_in(log, sizeof log, "notify.log");
	printf("sd_notify (%s)\n", what);
	int fd = notify_socket(notify);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	char *argv[12];
	keyd_argv(argv, sock, NULL, NULL);
	setenv("NOTIFY_SOCKET", notify, 1);
	pid_t pid = daemon_start(argv, log);
	unsetenv("NOTIFY_SOCKET");
	pid_t sender = 0;
	int got = notify_receive(fd, msg, sizeof msg, &sender, 10000);
	CHECK_INT(got, 0);
	if (got == 0) {
		printf("  got \"%s\" from pid %ld (daemon %ld)\n", msg, (long)sender, (long)pid);
		CHECK_STR(msg, "READY=1");
		CHECK_INT(sender, pid);
		/* Ready means serving: the first try is answered. */
		CHECK_INT(ping(sock, 0), ASSAY_KEY_OK);
	}
	CHECK_INT(daemon_stop(pid, 0), 0);
	close(fd);
	if (notify[0] != '@')
		unlink(notify);
	if (check_failures > failed_before)
		show_log(log);
}

static void test_notify(void)
{
	char path[128], abstract[96];
	path_in(path, sizeof path, "notify");
	notify_once(path, "path");
	snprintf(abstract, sizeof abstract, "@assay-keyd-test-%ld", (long)getpid());
	notify_once(abstract, "abstract");
}

/* ---- root ---- */

static void test_root(void)
{
	int failed_before = check_failures;
	char sock[128], log[128], state[128], arg[160];
	if (geteuid() != 0) {
		printf("SKIP (part): the refusal to run as root needs root\n");
		return;
	}
	printf("root without user\n");
	path_in(sock, sizeof sock, "root.sock");
	path_in(log, sizeof log, "root.log");
	path_in(state, sizeof state, "root-state");
	snprintf(arg, sizeof arg, "--state-dir=%s", state);
	char *argv[12];
	keyd_argv(argv, sock, arg, NULL);
	pid_t pid = daemon_start(argv, log);
	int status = wait_exit(pid, 10000);
	CHECK(status != -1 && WIFEXITED(status));
	CHECK_INT(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 2);
	struct buf text = BUF_INIT;
	CHECK_INT(file_read(log, 1 << 16, &text), 0);
	buf_append(&text, "", 1);
	printf("  says: %s", (char *)text.data);
	CHECK(strstr((char *)text.data, "user") != NULL);
	CHECK(strstr((char *)text.data, "root") != NULL);
	buf_free(&text);
	/* Refused before anything was made. */
	CHECK(!exists(sock));
	CHECK(!exists(state));

	/* allow_root: it runs. */
	keyd_argv(argv, sock, arg, "--allow-root");
	pid = daemon_start(argv, log);
	CHECK_INT(ping(sock, 10000), ASSAY_KEY_OK);
	CHECK_INT(daemon_stop(pid, 0), 0);
	if (check_failures > failed_before)
		show_log(log);
}

/* ---- the socket's directory ---- */

static void test_socket_dir(void)
{
	int failed_before = check_failures;
	char shared[128], sock[160], log[128];
	struct stat st;
	printf("existing socket directory\n");
	path_in(shared, sizeof shared, "shared");
	path_in(log, sizeof log, "dir.log");
	snprintf(sock, sizeof sock, "%s/keyd.sock", shared);
	/* Like /tmp: world-writable and sticky. */
	CHECK_INT(mkdir(shared, 0700), 0);
	CHECK_INT(chmod(shared, 01777), 0);
	char *argv[12];
	keyd_argv(argv, sock, NULL, NULL);
	pid_t pid = daemon_start(argv, log);
	CHECK_INT(ping(sock, 10000), ASSAY_KEY_OK);
	CHECK_INT(stat(shared, &st), 0);
	printf("  mode after start: %04o\n", (unsigned)(st.st_mode & 07777));
	CHECK_INT(st.st_mode & 07777, 01777);
	/* And the socket, as documented, lets every user connect. */
	CHECK_INT(stat(sock, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0666);
	CHECK_INT(daemon_stop(pid, 0), 0);
	/* A directory that is not there is made, reachable by every user. */
	char made[128], deep[192];
	path_in(made, sizeof made, "made");
	snprintf(deep, sizeof deep, "%s/run/keyd.sock", made);
	keyd_argv(argv, deep, NULL, NULL);
	pid = daemon_start(argv, log);
	CHECK_INT(ping(deep, 10000), ASSAY_KEY_OK);
	CHECK_INT(stat(made, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0755);
	snprintf(deep, sizeof deep, "%s/run", made);
	CHECK_INT(stat(deep, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0755);
	CHECK_INT(daemon_stop(pid, 0), 0);
	if (check_failures > failed_before)
		show_log(log);
}

int main(void)
{
	/* Settings from the environment would change what is tested. */
	unsetenv("ASSAY_KEYD_USER");
	unsetenv("ASSAY_KEYD_ALLOW_ROOT");
	unsetenv("ASSAY_KEYD_SOCKET");
	unsetenv("NOTIFY_SOCKET");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	snprintf(dir, sizeof dir, "/tmp/assay-keyd-sd-XXXXXX");
	if (!mkdtemp(dir))
		CHECK_SKIP("cannot make a temporary directory");
	chmod(dir, 0755);	/* the daemon runs as nobody */
	path_in(conf, sizeof conf, "keyd.toml");
	char text[512];
	snprintf(text, sizeof text,
		 "[keyd]\nstate_dir = \"%s/state\"\nproviders = \"software\"\n"
		 "authenticators = \"unix-peer-credentials\"\nlog_level = \"debug\"\n", dir);
	if (file_write_atomic(conf, text, strlen(text), 0644) < 0)
		CHECK_SKIP("cannot write %s", conf);

	test_activation();
	test_notify();
	test_root();
	test_socket_dir();

	int failed = check_done();
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (failed)
		printf("logs kept in %s\n", dir);
	else if (system(cmd) != 0)
		printf("(%s failed)\n", cmd);
	return failed;
}
