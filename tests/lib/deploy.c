#include "tests/lib/deploy.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/swtpm.h"
#include "crypto/crypto.h"
#include "util/file.h"
#include "util/zip.h"

int deploy_init(struct deploy *d)
{
	memset(d, 0, sizeof *d);
	snprintf(d->dir, sizeof d->dir, "/tmp/assay-e2e-XXXXXX");
	if (!mkdtemp(d->dir))
		return -1;
	chmod(d->dir, 0755);	/* the daemons may run as nobody */
	snprintf(d->tls, sizeof d->tls, "%s/tls", d->dir);
	snprintf(d->ca, sizeof d->ca, "%s/ca.pem", d->tls);
	snprintf(d->cert, sizeof d->cert, "%s/client.pem", d->tls);
	snprintf(d->key, sizeof d->key, "%s/client.key", d->tls);
	d->reg_port = daemon_free_port();
	d->reg_tls_port = daemon_free_port();
	d->ver_port = daemon_free_port();
	return 0;
}

static const char *as_user(const char *flag)
{
	return geteuid() == 0 ? flag : NULL;
}

int deploy_start_registrar(struct deploy *d)
{
	char p[16], tp[16], log[128], state[96];
	snprintf(p, sizeof p, "%d", d->reg_port);
	snprintf(tp, sizeof tp, "%d", d->reg_tls_port);
	snprintf(log, sizeof log, "%s/registrar.log", d->dir);
	snprintf(state, sizeof state, "%s/registrar", d->dir);
	char *argv[] = { (char *)daemon_program("registrar/assay-registrar"),
			 "--port", p, "--tls-port", tp, "--state-dir", state,
			 "--tls-dir", d->tls, (char *)as_user("--user"), "nobody", NULL };
	d->reg = daemon_start(argv, log);
	char url[128];
	struct http_client_config c = { NULL, 0, 1000, 1 << 16, NULL };
	snprintf(url, sizeof url, "http://127.0.0.1:%d/version", d->reg_port);
	return daemon_wait_http(&c, url, 10000);
}

int deploy_verifier(struct deploy *d, const char *name, int port,
		    const char *const *extra, pid_t *pid)
{
	char p[16], log[128], state[96];
	char *argv[32];
	int n = 0;
	snprintf(p, sizeof p, "%d", port);
	snprintf(log, sizeof log, "%s/%s.log", d->dir, name);
	snprintf(state, sizeof state, "%s/%s", d->dir, name);
	argv[n++] = (char *)daemon_program("verifier/assay-verifier");
	argv[n++] = "--port";
	argv[n++] = p;
	argv[n++] = "--state-dir";
	argv[n++] = state;
	argv[n++] = "--tls-dir";
	argv[n++] = d->tls;
	argv[n++] = "--log-level";
	argv[n++] = "debug";
	for (int i = 0; extra && extra[i] && n < 28; i++)
		argv[n++] = (char *)extra[i];
	if (geteuid() == 0) {
		argv[n++] = "--user";
		argv[n++] = "nobody";
	}
	argv[n] = NULL;
	*pid = daemon_start(argv, log);
	char url[128];
	struct http_tls t = { d->cert, d->key, d->ca };
	struct http_client_config c = { &t, 0, 1000, 1 << 16, NULL };
	snprintf(url, sizeof url, "https://127.0.0.1:%d/version", port);
	return daemon_wait_http(&c, url, 10000);
}

int deploy_start_verifier(struct deploy *d, const char *const *extra)
{
	return deploy_verifier(d, "verifier", d->ver_port, extra, &d->ver);
}

int deploy_fetch(struct deploy *d, int port, int tls, const char *method,
		 const char *path, const char *body, struct buf *out)
{
	char url[600], err[256];
	struct http_tls t = { d->cert, d->key, d->ca };
	struct http_client_config cfg = { tls ? &t : NULL, 0, 20000, 32 << 20, NULL };
	snprintf(url, sizeof url, "%s://127.0.0.1:%d%s", tls ? "https" : "http", port, path);
	buf_reset(out);
	int st = http_fetch(&cfg, method, url, body, body ? strlen(body) : 0, out, err,
			    sizeof err);
	if (st < 0)
		printf("  (%s %s: %s)\n", method, path, err);
	return st;
}

int node_init(struct deploy *d, struct node *n, const char *name, const char *uuid)
{
	memset(n, 0, sizeof *n);
	snprintf(n->name, sizeof n->name, "%s", name);
	snprintf(n->uuid, sizeof n->uuid, "%s", uuid);
	snprintf(n->dir, sizeof n->dir, "%s/%s", d->dir, name);
	snprintf(n->tpm_dir, sizeof n->tpm_dir, "%s/%s-tpm", d->dir, name);
	snprintf(n->log, sizeof n->log, "%s/%s.log", d->dir, name);
	snprintf(n->ima, sizeof n->ima, "%s/%s-ima", d->dir, name);
	n->port = daemon_free_port();
	file_mkdirs(n->tpm_dir, 0700);
	/* The agent reads the IMA log as its (unprivileged) self. */
	const char *fx = getenv("ASSAY_FIXTURES");
	char src[PATH_MAX];
	struct buf ima = BUF_INIT;
	snprintf(src, sizeof src, "%s/keylime/ima/ascii_runtime_measurements",
		 fx ? fx : ".");
	if (file_read(src, 16 << 20, &ima) < 0)
		buf_append_str(&ima, "10 0000000000000000000000000000000000000000 ima-ng "
			       "sha256:0000000000000000000000000000000000000000000000000000000000000000 boot_aggregate\n");
	file_write_atomic(n->ima, ima.data, ima.len, 0644);
	buf_free(&ima);
	return swtpm_start(n->tpm_dir, n->tcti, sizeof n->tcti);
}

int node_start(struct deploy *d, struct node *n, const char *sign, const char *enc)
{
	char p[16], rp[16];
	const char *uefi = getenv("UEFI_LOG");
	snprintf(p, sizeof p, "%d", n->port);
	snprintf(rp, sizeof rp, "%d", d->reg_port);
	char *argv[] = { (char *)daemon_program("agent/assay-agent"),
			 "--uuid", n->uuid, "--port", p, "--contact-port", p,
			 "--registrar-port", rp, "--tcti", n->tcti,
			 "--state-dir", n->dir, "--trusted-client-ca", d->ca,
			 "--ima-ml-path", n->ima,
			 "--measuredboot-ml-path", (char *)(uefi ? uefi : "/nonexistent"),
			 "--tpm-signing-alg", (char *)sign, "--tpm-encryption-alg", (char *)enc,
			 "--registration-delay-ms", "200", "--log-level", "debug",
			 (char *)as_user("--run-as"), "nobody", NULL };
	n->pid = daemon_start(argv, n->log);
	struct buf out = BUF_INIT;
	for (int i = 0; i < 200; i++) {
		char pin[200];
		snprintf(pin, sizeof pin, "%s/server-cert.crt", n->dir);
		if (access(pin, R_OK) == 0 && node_fetch(n, d, "GET", "/version", NULL, &out) == 200) {
			buf_free(&out);
			return 0;
		}
		struct timespec ts = { 0, 100 * 1000000L };
		nanosleep(&ts, NULL);
	}
	buf_free(&out);
	return -1;
}

int node_fetch(struct node *n, struct deploy *d, const char *method,
	       const char *path, const char *body, struct buf *out)
{
	char url[600], err[256], pin[200];
	snprintf(pin, sizeof pin, "%s/server-cert.crt", n->dir);
	struct http_tls t = { d->cert, d->key, pin };
	struct http_client_config cfg = { &t, 0, 20000, 32 << 20, NULL };
	snprintf(url, sizeof url, "https://127.0.0.1:%d%s", n->port, path);
	buf_reset(out);
	int st = http_fetch(&cfg, method, url, body, body ? strlen(body) : 0, out, err,
			    sizeof err);
	if (st < 0 && strcmp(path, "/version") != 0)
		printf("  (%s %s: %s)\n", method, path, err);
	return st;
}

void deploy_finish(struct deploy *d, struct node *nodes, int n, int keep)
{
	for (int i = 0; i < n; i++) {
		if (nodes[i].pid > 0)
			daemon_stop(nodes[i].pid, 0);
		swtpm_stop(nodes[i].tpm_dir);
	}
	if (d->ver > 0)
		daemon_stop(d->ver, 0);
	if (d->reg > 0)
		daemon_stop(d->reg, 0);
	char cmd[256];
	if (keep) {
		snprintf(cmd, sizeof cmd, "tail -n 30 %s/*.log", d->dir);
	} else {
		snprintf(cmd, sizeof cmd, "rm -rf %s", d->dir);
	}
	if (system(cmd) < 0)
		perror(cmd);
}

json_t *deploy_results(const struct buf *reply)
{
	json_t *j = reply->data ? json_loadb((const char *)reply->data, reply->len, 0, NULL)
				: NULL;
	json_t *r = json_incref(json_object_get(j, "results"));
	json_decref(j);
	return r;
}

int deploy_payload(X509 *revocation_cert, struct buf *zip)
{
	/* Both scripts run as the agent's user: they write where it may. */
	static const char autorun[] = "#!/bin/sh\necho ok > autorun-ran\n";
	static const char action[] = "#!/bin/sh\ncp \"$1\" revoked\n";
	static const char list[] = "record_revocation\n";
	struct buf pem = BUF_INIT;
	struct zip_writer w;
	memset(&w, 0, sizeof w);
	int r = crypto_cert_to_pem(revocation_cert, &pem) |
		zip_writer_add(&w, "autorun.sh", (const uint8_t *)autorun, strlen(autorun)) |
		zip_writer_add(&w, "RevocationNotifier-cert.crt", pem.data, pem.len) |
		zip_writer_add(&w, "record_revocation", (const uint8_t *)action, strlen(action)) |
		zip_writer_add(&w, "action_list", (const uint8_t *)list, strlen(list));
	r |= zip_writer_finish(&w, zip);
	buf_free(&pem);
	return r ? -1 : 0;
}

int deploy_wait_file(const char *path, int seconds)
{
	for (int i = 0; i < seconds * 10; i++) {
		if (access(path, F_OK) == 0)
			return 0;
		struct timespec ts = { 0, 100 * 1000000L };
		nanosleep(&ts, NULL);
	}
	return -1;
}
