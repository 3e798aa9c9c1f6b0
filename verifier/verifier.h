/* assay-verifier: attests a fleet of agents (Keylime verifier API v2.x,
 * pull mode).
 *
 * Every enrolled agent has a record in memory and a row in the database.
 * One event loop polls each agent at its interval: a fresh nonce, a quote
 * over the policy's PCRs, the checks of check.c, then the next poll or a
 * failure with its reason, and revocation notices (notify.c). */
#ifndef ASSAY_VERIFIER_H
#define ASSAY_VERIFIER_H

#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdint.h>

#include "attest/ima.h"
#include "attest/mb_policy.h"
#include "config/config.h"
#include "http/http.h"
#include "util/buf.h"
#include "util/map.h"
#include "verifier/db.h"

/* Keylime's operational_state values. */
enum agent_state {
	STATE_REGISTERED = 0,
	STATE_START = 1,
	STATE_SAVED = 2,
	STATE_GET_QUOTE = 3,
	STATE_GET_QUOTE_RETRY = 4,
	STATE_PROVIDE_V = 5,
	STATE_PROVIDE_V_RETRY = 6,
	STATE_FAILED = 7,
	STATE_TERMINATED = 8,
	STATE_INVALID_QUOTE = 9,
	STATE_TENANT_FAILED = 10,
};

#define AGENT_ID_MAX 255
#define NONCE_LEN 20
#define ALGS_MAX 8

/* A TPM policy: allowed values per PCR (Keylime's tpm_policy JSON). */
struct tpm_policy {
	uint32_t mask;
	int n_values[24];
	char *values[24][8];	/* lowercase hex, at most 8 allowed per PCR */
};

struct agent {
	struct verifier *v;
	char id[AGENT_ID_MAX + 1];
	char ip[64];
	int port;
	char version[16];	/* the agent API version to speak */
	/* Enrolment, as the tenant sent it. */
	struct buf ak_tpm;
	EVP_PKEY *ak;
	X509 *mtls_cert;	/* NULL: plain HTTP */
	struct buf mtls_pem;
	char *tpm_policy_json, *metadata, *revocation_key_pem;
	struct tpm_policy tpm_policy;
	uint8_t v_half[64];	/* V; a secret */
	size_t v_len;
	char *accept[3][ALGS_MAX];	/* hash, encryption, signing */
	char *runtime_policy_name, *mb_policy_name;
	struct runtime_policy *rpolicy;	/* NULL: no IMA checks */
	char *rp_text;		/* the policy JSON, to store under its name */
	struct ima_state ima;
	struct mb_refstate *mbpolicy;	/* NULL: no measured-boot checks */
	char *mb_text;		/* the reference state JSON */
	int mb_evaluated;	/* evaluated for this boot (mb_reset) */
	uint32_t mb_reset;
	/* SHA-256 of the last log and quoted PCRs that passed: the same pair
	 * again needs no parse and replay. */
	uint8_t mb_checked[32];
	/* Attestation state. */
	enum agent_state state;
	long long attestation_count, last_received_quote, last_successful;
	char hash_alg[16], enc_alg[16], sign_alg[16];
	char *nk_pem;		/* the agent's payload key, from a full quote */
	uint64_t tpm_clock;
	uint32_t tpm_reset, tpm_restart;
	int severity;		/* -1: none */
	char last_event_id[96];
	char reason[512];	/* why the last attestation failed */
	int retries;
	int need_pubkey;	/* next quote is a full one (partial=0) */
	int provide_v;		/* V still to be delivered */
	int deleted;		/* freed once the request in flight returns */
	int lost;		/* another verifier owns it now (shared mode) */
	struct agent *next_dead;	/* on the verifier's graveyard */
	int dirty;		/* state changed since the last flush */
	struct agent *next_dirty;
	int busy;		/* a request to the agent is in flight */
	char nonce[NONCE_LEN + 1];
	struct timespec sent_at;
	struct event *timer;
};

struct verifier {
	const struct config *cfg;
	struct event_base *base;
	struct verifier_db *db;
	struct http_client *client;
	struct map *agents;	/* id -> struct agent */
	char verifier_id[64];
	long quote_interval_ms, retry_interval_ms, request_timeout_ms;
	int max_retries, exponential_backoff, enable_agent_mtls;
	const char *webhook_url;
	struct agent *dirty;	/* agents whose state awaits the next flush */
	struct event *flusher;
	struct agent *graveyard;	/* dropped, to free (agent_drop) */
	struct event *reaper;
	/* Shared mode (lease.c). */
	long lease_ms;
	struct event *lease_timer;
	long long lease_deadline_ms;	/* monotonic: our hold ends then */
	int superseded;			/* another process took our id */
	/* Metrics. */
	unsigned long long attestations, failures, latency_buckets[14], latency_count;
	double latency_sum;
};

/* agent.c: records. */
struct agent *agent_new(struct verifier *v, const char *id);
void agent_free(struct agent *a);
/* Fills enrolment fields from the tenant's JSON (or a stored row). Returns
 * 0, or -1 with err and the HTTP status in *status. */
int agent_enrol(struct agent *a, json_t *body, int *status, char *err, size_t errlen);
json_t *agent_status_json(const struct agent *a, const char *version);
/* A record from a stored row (restart, takeover, another verifier's
 * agent shown here). NULL when the row is unusable (logged). */
struct agent *agent_from_row(struct verifier *v, json_t *row);
/* Makes a stored agent one of ours: into the map, polling resumed where
 * its state says it was being attested (a full quote first, as Keylime
 * does). A verifier_db_row_fn; arg is the verifier. */
int agent_adopt(json_t *row, void *arg);
/* Takes an agent out of the map and its polling; freed now, or when its
 * request in flight returns, or (from_loop) on the next loop turn, for
 * callers that still hold it. */
void agent_drop(struct agent *a, int from_loop);
void agent_reap(struct verifier *v);
int tpm_policy_parse(const char *json, struct tpm_policy *p, char *err, size_t errlen);
void tpm_policy_free(struct tpm_policy *p);

/* poll.c */
void poll_start(struct agent *a, long delay_ms);
void poll_stop(struct agent *a);
/* State is written in batches: one transaction per flush interval for
 * every agent that changed, so polling never waits on the disk per
 * attestation. Failures and operator actions are written at once. */
void state_changed(struct agent *a);
void state_flush(struct verifier *v);
/* Drops a (being deleted) from the pending writes. */
void state_forget(struct agent *a);

/* check.c: the checks on one quote reply. Returns 0 (pass), -1 with
 * a.reason and the event id set, or 1 when the IMA list must be fetched
 * again from entry 0 (the agent rebooted). */
int check_quote_reply(struct agent *a, json_t *results, int full);

/* lease.c: shared mode. Every lease_ms / 3 the lease is renewed and the
 * agents rebalanced: each live verifier holds about agents / verifiers. */
int lease_join(struct verifier *v, const char *ip, int port);
void lease_start(struct verifier *v);
/* At a clean shutdown: states written, agents released, lease dropped. */
void lease_leave(struct verifier *v);

/* notify.c: revocation notices to the agents of this verifier and to the
 * webhook. type is "revocation" or "comm_error". */
void notify_revocation(struct agent *failed, const char *type);

/* api.c */
void verifier_api(struct http_request *req, struct http_response *resp, void *arg);
void verifier_metrics(struct verifier *v, struct buf *out);

extern const char *const verifier_api_versions[];
#define VERIFIER_API_CURRENT "2.5"

#endif
