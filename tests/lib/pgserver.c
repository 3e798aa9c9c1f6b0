#include "tests/lib/pgserver.h"

#include <dirent.h>
#include <libpq-fe.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char bindir[64];

/* The newest /usr/lib/postgresql/<major>/bin with both programs. */
int pgserver_available(void)
{
	DIR *d = opendir("/usr/lib/postgresql");
	struct dirent *e;
	int best = 0;
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		int major = atoi(e->d_name);
		if (strlen(e->d_name) > 8)
			continue;
		char path[300];
		snprintf(path, sizeof path, "/usr/lib/postgresql/%s/bin/postgres", e->d_name);
		if (major > best && access(path, X_OK) == 0) {
			snprintf(path, sizeof path, "/usr/lib/postgresql/%s/bin/initdb", e->d_name);
			if (access(path, X_OK) == 0) {
				best = major;
				snprintf(bindir, sizeof bindir, "/usr/lib/postgresql/%s/bin",
					 e->d_name);
			}
		}
	}
	closedir(d);
	return best > 0;
}

/* Runs argv as the server's user, output to log; returns the pid. */
static pid_t run(const struct pgserver *p, char *const argv[], const char *log)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	if (geteuid() == 0) {
		struct passwd *pw = getpwnam("nobody");
		if (!pw || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
			perror("pgserver: cannot become nobody");
			_exit(126);
		}
	}
	if (chdir(p->dir) < 0)
		_exit(126);
	execv(argv[0], argv);
	perror(argv[0]);
	_exit(127);
}

int pgserver_start(struct pgserver *p, const char *parent)
{
	char data[240], sock[240], log[240], initdb[300], postgres[300];
	int status;
	memset(p, 0, sizeof *p);
	p->pid = -1;
	if (!bindir[0] && !pgserver_available())
		return -1;
	snprintf(p->dir, sizeof p->dir, "%s/pg", parent);
	snprintf(data, sizeof data, "%s/data", p->dir);
	snprintf(sock, sizeof sock, "%s/socket", p->dir);
	snprintf(log, sizeof log, "%s/server.log", p->dir);
	snprintf(initdb, sizeof initdb, "%s/initdb", bindir);
	snprintf(postgres, sizeof postgres, "%s/postgres", bindir);
	if (mkdir(p->dir, 0755) < 0 || mkdir(sock, 0777) < 0 || chmod(sock, 0777) < 0 ||
	    chmod(p->dir, 0777) < 0)
		return -1;
	char *init_argv[] = { initdb, "-D", data, "-U", "assay", "-A", "trust",
			      "--no-sync", "-E", "UTF8", "--locale", "C", NULL };
	pid_t pid = run(p, init_argv, log);
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "pgserver: initdb failed (see %s)\n", log);
		return -1;
	}
	char *srv_argv[] = { postgres, "-D", data, "-k", sock, "-c", "listen_addresses=",
			     "-c", "fsync=off", "-c", "max_connections=50", NULL };
	p->pid = run(p, srv_argv, log);
	if (p->pid < 0)
		return -1;
	snprintf(p->url, sizeof p->url, "postgresql:///postgres?host=%s&user=assay", sock);
	for (int i = 0; i < 300; i++) {
		if (PQping(p->url) == PQPING_OK)
			return 0;
		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			p->pid = -1;
			break;
		}
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "pgserver: the server did not start (see %s)\n", log);
	return -1;
}

void pgserver_stop(struct pgserver *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGINT);	/* fast shutdown: clients are cut off */
		waitpid(p->pid, NULL, 0);
		p->pid = -1;
	}
}
