/* deploy: a local deployment for end-to-end tests. Registrar, verifier
 * and agents as processes on loopback, each agent on its own swtpm, one CA
 * (the registrar makes it in DIR/tls; the verifier shares it). When the
 * tests run as root the daemons run as nobody, like a real deployment. */
#ifndef ASSAY_TESTS_DEPLOY_H
#define ASSAY_TESTS_DEPLOY_H

#include <sys/types.h>

#include "tests/lib/daemon.h"
#include <jansson.h>
#include <openssl/x509.h>

#include "util/buf.h"

struct deploy {
	char dir[64];
	char tls[96], ca[128], cert[128], key[128];
	int reg_port, reg_tls_port, ver_port;
	pid_t reg, ver;
};

struct node {
	char name[16], dir[160], tpm_dir[180], tcti[128], log[180], ima[180];
	char uuid[128];
	int port;
	pid_t pid;
};

/* Makes the directory and picks ports. Returns -1 when it cannot. */
int deploy_init(struct deploy *d);
int deploy_start_registrar(struct deploy *d);
/* extra: more verifier flags, NULL-terminated (may be NULL). */
int deploy_start_verifier(struct deploy *d, const char *const *extra);
/* Another verifier: state in DIR/name, log in DIR/name.log. */
int deploy_verifier(struct deploy *d, const char *name, int port,
		    const char *const *extra, pid_t *pid);
/* HTTPS with the shared client certificate, to the registrar admin port or
 * the verifier; tls 0 means plain HTTP. Returns the status or -1. */
int deploy_fetch(struct deploy *d, int port, int tls, const char *method,
		 const char *path, const char *body, struct buf *out);

/* A node: its swtpm manufactured and started, the IMA log fixture copied. */
int node_init(struct deploy *d, struct node *n, const char *name, const char *uuid);
/* Starts the agent; returns 0 once its API answers (it has registered). */
int node_start(struct deploy *d, struct node *n, const char *sign, const char *enc);
/* HTTPS to the agent, pinning its self-signed certificate. */
int node_fetch(struct node *n, struct deploy *d, const char *method,
	       const char *path, const char *body, struct buf *out);
/* The "results" object of a Keylime reply (a new reference), or NULL. */
json_t *deploy_results(const struct buf *reply);
/* A test payload (ZIP): an autorun.sh that writes "autorun-ran" in the
 * payload directory, the revocation certificate, and an action (listed in
 * action_list) that copies each verified notice to STATE_DIR/revoked. */
int deploy_payload(X509 *revocation_cert, struct buf *zip);
/* Waits until path exists: 0, or -1 after seconds. */
int deploy_wait_file(const char *path, int seconds);
/* Stops everything; removes the directory unless keep (then prints logs). */
void deploy_finish(struct deploy *d, struct node *nodes, int n, int keep);

#endif
