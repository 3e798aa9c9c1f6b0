/* tenant: what the operator CLI does against registrar, agents and
 * verifier, as keylime_tenant does it. */
#ifndef ASSAY_CLI_TENANT_H
#define ASSAY_CLI_TENANT_H

#include <jansson.h>

#include "config/config.h"
#include "http/http.h"
#include "util/buf.h"

struct tenant {
	const struct config *cfg;
	struct http_tls tls;	/* our client certificate, the servers' CA */
	char verifier[256];	/* https://ip:port */
	char registrar[256];	/* https://ip:tls_port (admin) */
	char version[16];	/* verifier API version */
};

struct enrolment {
	const char *uuid;
	const char *ip;		/* NULL: from the registrar */
	int port;		/* 0: from the registrar */
	const char *payload_file;	/* a file, or */
	const char *payload_dir;	/* a directory packed as ZIP */
	const char *tpm_policy;	/* JSON; NULL: {"mask": "0x0"} */
	const char *runtime_policy_file;
	const char *runtime_policy_name;
	int verify;		/* run the key challenge after adding */
	int accept_any_ek;	/* skip the EK certificate check */
};

int tenant_init(struct tenant *t, const struct config *cfg, char *err, size_t errlen);
/* The enrolment, step by step; each step says what failed. */
int tenant_add(struct tenant *t, const struct enrolment *e, char *err, size_t errlen);
/* A verifier request: method and path below /v<version>/. On 2xx returns
 * the status and the results in *res (may be NULL); otherwise -1 with the
 * server's message in err. */
int tenant_verifier(struct tenant *t, const char *method, const char *path,
		    const char *body, json_t **res, char *err, size_t errlen);
int tenant_registrar(struct tenant *t, const char *method, const char *path,
		     json_t **res, char *err, size_t errlen);
/* Keylime's operational_state names. */
const char *tenant_state_name(int state);

#endif
