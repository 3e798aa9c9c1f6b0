/* assay-registrar: vouches that an agent's AK lives in the TPM of its EK.
 *
 * Shared between the registrar's files: the agent record, its storage, and
 * the two HTTP front ends (agent port: register and activate; admin port
 * with mutual TLS: list, show, delete). */
#ifndef ASSAY_REGISTRAR_H
#define ASSAY_REGISTRAR_H

#include <stdint.h>

#include "http/http.h"
#include "store/store.h"
#include "util/buf.h"

#define AGENT_ID_MAX 255

struct agent_record {
	char agent_id[AGENT_ID_MAX + 1];
	struct buf ek_tpm;	/* marshaled TPM2B_PUBLIC */
	struct buf ekcert;	/* DER, may be empty */
	struct buf aik_tpm;	/* marshaled TPM2B_PUBLIC */
	struct buf mtls_cert;	/* PEM text, or "disabled", or empty */
	char ip[64];
	int port;
	int active;
	int regcount;
	/* Hex HMAC-SHA384(base64(challenge), agent_id): what activation must
	 * present. Kept after activation so a repeated activation is checked
	 * too; it proves nothing without the registration it belongs to. */
	char auth_tag[97];
};

void agent_record_free(struct agent_record *a);

/* Storage (db.c). All return 0 on success, 1 when not found, -1 on error. */
struct store *registrar_db_open(const char *path, char *err, size_t errlen);
int registrar_db_get(struct store *s, const char *agent_id,
		     struct agent_record *out);
/* Inserts or replaces the record in one transaction. */
int registrar_db_put(struct store *s, const struct agent_record *a);
/* Marks the agent active. */
int registrar_db_activate(struct store *s, const char *agent_id);
int registrar_db_delete(struct store *s, const char *agent_id);
/* Appends the ids of all agents to a JSON array. */
int registrar_db_list(struct store *s, json_t *ids);

struct registrar {
	struct store *db;
	int require_ek_cert;
};

/* HTTP handlers (api.c); arg is the struct registrar. */
void registrar_agent_api(struct http_request *req, struct http_response *resp,
			 void *arg);
void registrar_admin_api(struct http_request *req, struct http_response *resp,
			 void *arg);

/* Keylime API versions this registrar speaks, oldest first. */
extern const char *const registrar_api_versions[];
#define REGISTRAR_API_CURRENT "2.5"


#endif
