/* tpm2tools: a throw-away swtpm driven by tpm2-tools, for unit tests.
 *
 * The tests check our software against the real thing: tpm2-tools talking
 * to swtpm produce keys, quotes and ActivateCredential results. swtpm is
 * started through scripts/swtpm-env.sh (EK certificates included) in a
 * private temporary directory, which is also the working directory of every
 * command run with tt_run. Header-only (static) so that tests in several
 * libraries can use it. */
#ifndef ASSAY_ATTEST_TESTS_TPM2TOOLS_H
#define ASSAY_ATTEST_TESTS_TPM2TOOLS_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/file.h"

struct tt {
	char dir[64];
	char script[1024];
	char tcti[256];
	int running;
};

static inline int tt_have(const char *prog)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v '%s' >/dev/null 2>&1", prog);
	return system(cmd) == 0;
}

/* Returns 0 when swtpm runs, 77 with a reason in why when a needed program
 * or the environment is missing, -1 with a reason when starting failed. */
static inline int tt_start(struct tt *t, char *why, size_t whylen)
{
	static const char *progs[] = {
		"bash", "swtpm", "swtpm_setup", "swtpm_localca",
		"tpm2_createek", "tpm2_createak", "tpm2_activatecredential",
		"tpm2_startauthsession", "tpm2_policysecret", "tpm2_quote",
		"tpm2_pcrreset", "tpm2_pcrextend", "tpm2_nvread",
		"tpm2_flushcontext",
	};
	const char *src = getenv("ASSAY_SOURCE_ROOT");
	struct buf tcti = BUF_INIT;
	char cmd[2048], path[128];
	size_t i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		if (!tt_have(progs[i])) {
			snprintf(why, whylen, "%s not installed", progs[i]);
			return 77;
		}
	}
	if (!src) {
		snprintf(why, whylen, "ASSAY_SOURCE_ROOT not set (use meson test)");
		return 77;
	}
	snprintf(t->script, sizeof(t->script), "%s/scripts/swtpm-env.sh", src);
	if (access(t->script, R_OK)) {
		snprintf(why, whylen, "scripts/swtpm-env.sh missing");
		return 77;
	}
	snprintf(t->dir, sizeof(t->dir), "/tmp/assay-attest-XXXXXX");
	if (!mkdtemp(t->dir)) {
		t->dir[0] = 0;
		snprintf(why, whylen, "cannot create a temporary directory");
		return -1;
	}
	snprintf(cmd, sizeof(cmd),
		 "bash -c '. \"%s\" && swtpm_start \"%s\"' >\"%s/start.log\" 2>&1",
		 t->script, t->dir, t->dir);
	if (system(cmd) != 0) {
		snprintf(why, whylen, "swtpm_start failed, see %s/start.log",
			 t->dir);
		return -1;
	}
	t->running = 1;
	snprintf(path, sizeof(path), "%s/tcti", t->dir);
	if (file_read(path, sizeof(t->tcti) - 1, &tcti) < 0 || tcti.len < 2) {
		buf_free(&tcti);
		snprintf(why, whylen, "no %s", path);
		return -1;
	}
	snprintf(t->tcti, sizeof(t->tcti), "%.*s", (int)tcti.len - 1,
		 (const char *)tcti.data);
	buf_free(&tcti);
	return 0;
}

static inline void tt_stop(struct tt *t)
{
	char cmd[2048];

	if (t->running) {
		snprintf(cmd, sizeof(cmd),
			 "bash -c '. \"%s\" && swtpm_stop \"%s\"'", t->script,
			 t->dir);
		if (system(cmd) != 0)
			printf("warning: swtpm_stop failed\n");
		t->running = 0;
	}
	if (t->dir[0] && !getenv("ASSAY_KEEP_TMP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
		if (system(cmd) != 0)
			printf("warning: could not remove %s\n", t->dir);
	}
	t->dir[0] = 0;
}

/* Runs a shell command in t->dir against the swtpm; output goes to
 * cmd.log there and is printed when the command fails. Returns its exit
 * status (0 = success). */
static inline int tt_run(struct tt *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static inline int tt_run(struct tt *t, const char *fmt, ...)
{
	char body[4096], cmd[5120];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && export TPM2TOOLS_TCTI='%s' TSS2_LOG=all+none && "
		 "( %s ) >cmd.log 2>&1", t->dir, t->tcti, body);
	fflush(stdout);
	rc = system(cmd);
	if (rc != 0) {
		printf("command failed (%d): %s\n", rc, body);
		snprintf(cmd, sizeof(cmd), "tail -n 15 '%s/cmd.log'", t->dir);
		if (system(cmd) != 0)
			printf("(no log)\n");
	}
	return rc;
}

static inline int tt_read(const struct tt *t, const char *name,
			  struct buf *out)
{
	char path[256];

	buf_reset(out);
	snprintf(path, sizeof(path), "%s/%s", t->dir, name);
	return file_read(path, 1 << 20, out);
}

static inline int tt_write(const struct tt *t, const char *name,
			   const void *p, size_t n)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", t->dir, name);
	return file_write_atomic(path, p, n, 0600);
}

#endif
