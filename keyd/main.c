#define _GNU_SOURCE
/* assay-keyd: configuration, providers, the key store and the socket,
 * then privileges dropped and requests served until SIGTERM. SIGHUP
 * reloads the authenticators (and their admins and JWKS bundle) from the
 * configuration; providers keep running as they were opened. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assay_build.h"
#include "config/config.h"
#include "keyd/keyd.h"
#include "keyd/server.h"
#include "util/file.h"
#include "util/log.h"
#include "util/privdrop.h"

static int wake_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
	char c = sig == SIGHUP ? 'h' : 't';
	int saved = errno;
	if (write(wake_pipe[1], &c, 1) < 0) {
		/* the pipe is full: a wake-up is pending anyway */
	}
	errno = saved;
}

struct running {
	struct keyd *k;
	int argc;
	char **argv;
};

static int on_wake(char what, void *arg)
{
	struct running *r = arg;
	if (what != 'h') {
		log_info("shutting down");
		return 1;
	}
	char err[512];
	struct config *cfg;
	struct auth fresh;
	if (config_load(&keyd_program, r->argc, r->argv, &cfg, err, sizeof err) != 0) {
		log_error("reload: %s; keeping the running configuration", err);
		return 0;
	}
	if (auth_load(&fresh, cfg, err, sizeof err) < 0) {
		log_error("reload: %s; keeping the running configuration", err);
		config_free(cfg);
		return 0;
	}
	pthread_rwlock_wrlock(&r->k->auth_lock);
	auth_free(&r->k->auth);
	r->k->auth = fresh;
	pthread_rwlock_unlock(&r->k->auth_lock);
	config_free(cfg);
	log_info("reloaded: %d authenticators", fresh.n_order);
	return 0;
}

int main(int argc, char **argv)
{
	char err[512], db[PATH_MAX];
	struct config *cfg;
	static struct keyd k;
	int fd = -1, rc = 1;
	setenv("TSS2_LOG", "all+none", 0);
	int started = config_start(&keyd_program, argc, argv, &cfg);
	if (started != 0)
		return started < 0 ? 2 : 0;
	/* Every exit below frees what was made, so that a leak checker
	 * (ASan's) finds none on the error paths either. */
	if (geteuid() == 0 && !config_isset(cfg, "user") && !config_bool(cfg, "allow_root")) {
		log_error("refusing to run as root: set user (the account to run as) or allow_root");
		config_free(cfg);
		return 2;
	}
	umask(077);
	const char *state = config_str(cfg, "state_dir");
	if (file_mkdirs(state, 0700) < 0) {
		log_error("%s: %s", state, strerror(errno));
		config_free(cfg);
		return 1;
	}
	if (keyd_open(&k, cfg, err, sizeof err) < 0) {
		log_error("%s", err);
		config_free(cfg);
		return 1;
	}
	if (path_join(db, sizeof db, state, "keys.sqlite") < 0)
		goto out;

	const char *path = config_str(cfg, "socket");
	fd = server_listen(path, err, sizeof err);
	if (fd < 0) {
		log_error("%s", err);
		goto out;
	}
	char wal[PATH_MAX + 8], shm[PATH_MAX + 8];
	snprintf(wal, sizeof wal, "%s-wal", db);
	snprintf(shm, sizeof shm, "%s-shm", db);
	const char *owned[] = { state, db, wal, shm, NULL };
	if (geteuid() == 0 && config_isset(cfg, "user") &&
	    privdrop(config_str(cfg, "user"), owned, err, sizeof err) < 0) {
		log_error("%s", err);
		goto out;
	}
	if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		log_error("pipe: %s", strerror(errno));
		goto out;
	}
	struct sigaction sa = { 0 };
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct server_config sc = { fd, (int)config_int(cfg, "threads"),
				    (int)config_int(cfg, "timeout_ms"), wake_pipe[0] };
	struct running r = { &k, argc, argv };
	log_info("version %s: serving %s with %d threads, %d providers, %d authenticators",
		 ASSAY_VERSION, path, sc.threads, k.n_providers, k.auth.n_order);
	server_notify_ready();
	rc = server_run(&k, &sc, on_wake, &r) < 0 ? 1 : 0;
out:
	if (fd >= 0)
		close(fd);
	keyd_close(&k);
	config_free(cfg);
	return rc;
}
