/* assay-agent: the node side of attestation, speaking Keylime's agent API.
 *
 * One process, one event loop. The TPM is opened once at start; the
 * endorsement key (EK) is derived, the attestation key (AK) loaded from the
 * state directory (or created and saved there), the payload key (NK) and
 * the mTLS certificate likewise. Then the agent registers and activates
 * with the registrar and serves quotes, key halves and revocations. */
#ifndef ASSAY_AGENT_H
#define ASSAY_AGENT_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <tss2/tss2_esys.h>

#include "config/config.h"
#include "http/http.h"
#include "tpm/tpm.h"
#include "util/buf.h"

#define AGENT_UUID_MAX 255
#define AGENT_KEY_LEN 32	/* U, V and K: AES-256 */
#define AGENT_HALVES_MAX 8	/* pending U or V halves kept at most */

struct agent {
	const struct config *cfg;
	char uuid[AGENT_UUID_MAX + 1];
	const char *state_dir;

	struct tpm *tpm;
	ESYS_TR ek, ak;
	enum tpm_key_alg ek_alg;
	TPM2_ALG_ID hash_alg, sign_alg;
	struct buf ek_pub, ek_cert, ak_pub;

	EVP_PKEY *nk;		/* payload key, RSA-2048 */
	struct buf nk_pem;	/* SPKI PEM of NK: hashed into PCR 16 */
	struct buf mtls_pem;	/* our server certificate, sent to the registrar */

	int ima_fd, mb_fd;	/* opened at start, -1 when unavailable */
	/* Where the last IMA read ended, so the next one need not rescan. */
	uint64_t ima_entry;
	off_t ima_offset;

	/* Key halves waiting for their other half; K once derived. */
	uint8_t u[AGENT_HALVES_MAX][AGENT_KEY_LEN];
	uint8_t v[AGENT_HALVES_MAX][AGENT_KEY_LEN];
	int n_u, n_v;
	uint8_t auth_tag[AGENT_HALVES_MAX][48];
	struct buf payload[AGENT_HALVES_MAX];
	uint8_t k[AGENT_KEY_LEN];
	int have_k;
	char payload_dir[4096];
};

/* identity.c */
int agent_identity_init(struct agent *a, char *err, size_t errlen);
void agent_identity_free(struct agent *a);

/* register.c: registers and activates; blocks, retrying with backoff. */
int agent_register(struct agent *a, char *err, size_t errlen);

/* api.c */
void agent_api(struct http_request *req, struct http_response *resp, void *arg);
extern const char *const agent_api_versions[];

/* keys.c: U/V halves, payload, autorun. Return 0 or -1 with a message. */
int agent_add_half(struct agent *a, int is_u, const uint8_t half[AGENT_KEY_LEN],
		   const uint8_t *auth_tag, const uint8_t *payload,
		   size_t payload_len, char *err, size_t errlen);

/* revocation.c: verifies and acts on a revocation notice. Returns the HTTP
 * status to answer with, and a message. */
int agent_revocation(struct agent *a, const char *msg, const char *sig_b64,
		     char *err, size_t errlen);

/* ima.c: the IMA log from entry n on, appended to out; *first gets the
 * entry number the text starts at (Keylime's ima_measurement_list_entry). */
int agent_ima_read(struct agent *a, uint64_t n, struct buf *out, uint64_t *first);
/* The whole binary UEFI event log. */
int agent_mb_read(struct agent *a, struct buf *out);

#endif
