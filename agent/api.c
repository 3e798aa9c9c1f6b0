/* The agent's HTTP API (Keylime pull mode, API v2.0 to v2.5).
 *
 * Every parameter is checked before the TPM or any state is touched; errors
 * use Keylime's envelope and, where Keylime's agents have a fixed wording,
 * that wording, since verifiers match on some of it. */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <time.h>

#include "agent/agent.h"
#include "attest/quote.h"
#include "crypto/crypto.h"
#include "util/encode.h"
#include "util/log.h"
#include "util/secure.h"

const char *const agent_api_versions[] = {
	"2.0", "2.1", "2.2", "2.3", "2.4", "2.5", NULL
};

static int alnum(const char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s))
			return 0;
	return 1;
}

/* Keylime spells the EK algorithm differently from API 2.5 on. */
static const char *enc_alg_name(const struct agent *a, const char *version)
{
	int new_names = strcmp(version, "2.5") >= 0;
	if (a->ek_alg == TPM_ALG_KIND_RSA)
		return new_names ? "rsa2048" : "rsa";
	return new_names ? "ecc256" : "ecc";
}

static void reply_version(struct http_response *resp)
{
	json_t *list = json_array();
	const char *last = NULL;
	for (int i = 0; agent_api_versions[i]; i++) {
		json_array_append_new(list, json_string(agent_api_versions[i]));
		last = agent_api_versions[i];
	}
	http_reply(resp, 200, "Success", json_pack("{s:s, s:o}", "supported_version",
						   last, "supported_versions", list));
}

static void agent_info(struct agent *a, struct http_request *req,
		       struct http_response *resp)
{
	http_reply(resp, 200, "Success", json_pack(
		"{s:s, s:s, s:s, s:s, s:I}", "agent_uuid", a->uuid,
		"tpm_hash_alg", tpm_alg_name(a->hash_alg),
		"tpm_enc_alg", enc_alg_name(a, req->version),
		"tpm_sign_alg", tpm_alg_name(a->sign_alg),
		"ak_handle", (json_int_t)a->ak));
}

/* Resets PCR 16, extends it with H(NK's PEM) and quotes mask | PCR 16, as
 * Keylime's agents do: the verifier recomputes PCR 16 from the pubkey we
 * send, which binds NK to this TPM. */
static int make_quote(struct agent *a, const char *nonce, uint32_t mask,
		      struct buf *quote, char *err, size_t errlen)
{
	struct buf digest = BUF_INIT, attest = BUF_INIT, sig = BUF_INIT, pcrs = BUF_INIT;
	const EVP_MD *md = crypto_md(tpm_alg_name(a->hash_alg));
	int r = -1;
	if (!md || crypto_digest(md, a->nk_pem.data, a->nk_pem.len, &digest) < 0) {
		snprintf(err, errlen, "digest failed");
		goto out;
	}
	if (tpm_pcr_reset(a->tpm, QUOTE_DATA_PCR) < 0 ||
	    tpm_pcr_extend(a->tpm, QUOTE_DATA_PCR, a->hash_alg, digest.data, digest.len) < 0 ||
	    tpm_quote(a->tpm, a->ak, (const uint8_t *)nonce, strlen(nonce),
		      mask | 1u << QUOTE_DATA_PCR, a->hash_alg, &attest, &sig, &pcrs) < 0) {
		snprintf(err, errlen, "%s", tpm_error(a->tpm));
		goto out;
	}
	r = quote_build(quote, attest.data, attest.len, sig.data, sig.len,
			pcrs.data, pcrs.len);
out:
	buf_free(&digest);
	buf_free(&attest);
	buf_free(&sig);
	buf_free(&pcrs);
	return r;
}

static long long boottime(void)
{
	struct sysinfo si;
	if (sysinfo(&si) < 0)
		return 0;
	return (long long)time(NULL) - si.uptime;
}

static void quote(struct agent *a, struct http_request *req,
		  struct http_response *resp, int integrity)
{
	char msg[256];
	const char *nonce = http_query(req, "nonce");
	const char *mask_s = integrity ? http_query(req, "mask") : "0";
	const char *partial = integrity ? http_query(req, "partial") : "0";
	const char *entry_s = integrity ? http_query(req, "ima_ml_entry") : NULL;
	uint32_t mask = 0;
	if (!nonce || !*nonce || !alnum(nonce)) {
		http_reply(resp, 400, "nonce should be strictly alphanumeric", NULL);
		return;
	}
	if (strlen(nonce) > TPM_NONCE_MAX) {
		snprintf(msg, sizeof msg, "Nonce is too long (max size: %d): %zu",
			 TPM_NONCE_MAX, strlen(nonce));
		http_reply(resp, 400, msg, NULL);
		return;
	}
	if (!mask_s || !alnum(mask_s + (strncmp(mask_s, "0x", 2) ? 0 : 2))) {
		http_reply(resp, 400, "mask should be strictly alphanumeric", NULL);
		return;
	}
	const char *hex = strncmp(mask_s, "0x", 2) == 0 ? mask_s + 2 : mask_s;
	char *end;
	unsigned long long m = strtoull(hex, &end, 16);
	if (!*hex || *end || strlen(hex) > 8 || m >> TPM_PCR_COUNT) {
		http_reply(resp, 400, "mask should be a hex encoded 32-bit integer "
			   "naming PCRs 0 to 23", NULL);
		return;
	}
	mask = (uint32_t)m;
	if (!partial || (strcmp(partial, "0") && strcmp(partial, "1"))) {
		http_reply(resp, 400, "uri must contain key 'partial' and value '0' or '1'",
			   NULL);
		return;
	}
	uint64_t entry = 0;
	if (entry_s) {
		entry = strtoull(entry_s, &end, 10);
		if (!*entry_s || *end) {
			http_reply(resp, 400, "ima_ml_entry should be a decimal number", NULL);
			return;
		}
	}

	struct buf q = BUF_INIT;
	if (make_quote(a, nonce, mask, &q, msg, sizeof msg) < 0) {
		log_error("quote failed: %s", msg);
		http_reply(resp, 500, "Unable to retrieve quote", NULL);
		buf_free(&q);
		return;
	}
	json_t *res = json_pack("{s:s, s:s, s:s, s:s, s:I}", "quote", (char *)q.data,
				"hash_alg", tpm_alg_name(a->hash_alg),
				"enc_alg", enc_alg_name(a, req->version),
				"sign_alg", tpm_alg_name(a->sign_alg),
				"boottime", (json_int_t)boottime());
	buf_free(&q);
	if (strcmp(partial, "0") == 0)
		json_object_set_new(res, "pubkey", json_string((char *)a->nk_pem.data));
	if (integrity && a->ima_fd >= 0) {
		struct buf ima = BUF_INIT;
		uint64_t first;
		if (agent_ima_read(a, entry, &ima, &first) < 0) {
			json_decref(res);
			buf_free(&ima);
			http_reply(resp, 500, "Unable to read the IMA measurement list", NULL);
			return;
		}
		json_object_set_new(res, "ima_measurement_list",
				    json_stringn(ima.data ? (char *)ima.data : "", ima.len));
		json_object_set_new(res, "ima_measurement_list_entry",
				    json_integer((json_int_t)first));
		buf_free(&ima);
	}
	if (integrity && (mask & 1) && a->mb_fd >= 0) {
		struct buf mb = BUF_INIT;
		if (agent_mb_read(a, &mb) == 0) {
			char *b64 = b64_encode_str(mb.data, mb.len);
			json_object_set_new(res, "mb_measurement_list", json_string(b64));
			free(b64);
		}
		buf_free(&mb);
	}
	http_reply(resp, 200, "Success", res);
}

/* POST ukey / vkey: {"encrypted_key": b64, "auth_tag": hex, "payload": b64} */
static void key_half(struct agent *a, struct http_request *req,
		     struct http_response *resp, int is_u)
{
	char msg[256];
	struct buf enc = BUF_INIT, half = BUF_INIT, tag = BUF_INIT, payload = BUF_INIT;
	json_t *body = http_body_json(req, resp);
	if (!body)
		return;
	const char *ek = json_string_value(json_object_get(body, "encrypted_key"));
	const char *at = json_string_value(json_object_get(body, "auth_tag"));
	json_t *pl = json_object_get(body, "payload");
	if (!ek || b64_decode(&enc, ek, strlen(ek)) < 0) {
		http_reply(resp, 400, "Field 'encrypted_key' must be base64", NULL);
		goto out;
	}
	if (crypto_rsa_oaep_decrypt(a->nk, EVP_sha1(), enc.data, enc.len, &half) < 0) {
		http_reply(resp, 400, "Failed to decrypt encrypted_key", NULL);
		goto out;
	}
	if (half.len != AGENT_KEY_LEN) {
		snprintf(msg, sizeof msg, "Invalid decrypted key: %zu bytes, expected %d",
			 half.len, AGENT_KEY_LEN);
		http_reply(resp, 400, msg, NULL);
		goto out;
	}
	if (is_u) {
		if (!at || hex_decode(&tag, at, strlen(at)) < 0 || tag.len != 48) {
			http_reply(resp, 400, "Field 'auth_tag' must be a hex HMAC-SHA384",
				   NULL);
			goto out;
		}
		if (pl && !json_is_null(pl)) {
			const char *p = json_string_value(pl);
			if (!p || b64_decode(&payload, p, strlen(p)) < 0) {
				http_reply(resp, 400, "Field 'payload' must be base64", NULL);
				goto out;
			}
		}
	}
	if (agent_add_half(a, is_u, half.data, tag.data, payload.data, payload.len,
			   msg, sizeof msg) < 0) {
		http_reply(resp, 400, msg, NULL);
		goto out;
	}
	http_reply(resp, 200, "Success", NULL);
out:
	json_decref(body);
	buf_free(&enc);
	buf_free(&half);
	buf_free(&tag);
	buf_free(&payload);
}

static void verify_key(struct agent *a, struct http_request *req,
		       struct http_response *resp)
{
	const char *c = http_query(req, "challenge");
	struct buf mac = BUF_INIT;
	if (!c || !*c) {
		http_reply(resp, 400, "No challenge provided.", NULL);
		return;
	}
	if (!alnum(c) || strlen(c) > 1024) {
		http_reply(resp, 400, "Parameters should be strictly alphanumeric", NULL);
		return;
	}
	if (!a->have_k) {
		http_reply(resp, 400, "Bootstrap key not yet available.", NULL);
		return;
	}
	crypto_hmac(EVP_sha384(), a->k, sizeof a->k, c, strlen(c), &mac);
	char *hex = hex_encode_str(mac.data, mac.len);
	http_reply(resp, 200, "Success", json_pack("{s:s}", "hmac", hex));
	free(hex);
	buf_free(&mac);
}

static void revocation(struct agent *a, struct http_request *req,
		       struct http_response *resp)
{
	char msg[256];
	json_t *body = http_body_json(req, resp);
	if (!body)
		return;
	const char *m = json_string_value(json_object_get(body, "msg"));
	const char *s = json_string_value(json_object_get(body, "signature"));
	if (!m || !s) {
		http_reply(resp, 400, "Fields 'msg' and 'signature' must be strings", NULL);
	} else {
		int st = agent_revocation(a, m, s, msg, sizeof msg);
		http_reply(resp, st, st == 200 ? "Success" : msg, NULL);
	}
	json_decref(body);
}

static int is(const struct http_request *req, const char *method, int n,
	      const char *s0, const char *s1)
{
	return strcmp(req->method, method) == 0 && req->n_segments == n &&
	       strcmp(req->segments[0], s0) == 0 &&
	       (n < 2 || strcmp(req->segments[1], s1) == 0);
}

void agent_api(struct http_request *req, struct http_response *resp, void *arg)
{
	struct agent *a = arg;
	char msg[128];
	if (!req->version[0]) {
		if (req->n_segments == 1 && strcmp(req->segments[0], "version") == 0)
			reply_version(resp);
		else
			http_reply(resp, 400, "Not Implemented: Use /v2.x/ or /version "
				   "interfaces", NULL);
		return;
	}
	int known = 0;
	for (int i = 0; agent_api_versions[i]; i++)
		known |= strcmp(req->version, agent_api_versions[i]) == 0;
	if (!known) {
		snprintf(msg, sizeof msg, "API version not supported: v%s", req->version);
		http_reply(resp, 400, msg, NULL);
		return;
	}
	if (req->n_segments < 1) {
		http_reply(resp, 400, "Not Implemented: Use /agent, /keys, /quotes or "
			   "/notifications interfaces", NULL);
		return;
	}
	if (is(req, "GET", 2, "agent", "info") && strcmp(req->version, "2.2") >= 0)
		agent_info(a, req, resp);
	else if (is(req, "GET", 2, "quotes", "identity"))
		quote(a, req, resp, 0);
	else if (is(req, "GET", 2, "quotes", "integrity"))
		quote(a, req, resp, 1);
	else if (is(req, "GET", 2, "keys", "pubkey"))
		http_reply(resp, 200, "Success", json_pack("{s:s}", "pubkey",
							   (char *)a->nk_pem.data));
	else if (is(req, "GET", 2, "keys", "verify"))
		verify_key(a, req, resp);
	else if (is(req, "POST", 2, "keys", "ukey"))
		key_half(a, req, resp, 1);
	else if (is(req, "POST", 2, "keys", "vkey"))
		key_half(a, req, resp, 0);
	else if (is(req, "POST", 2, "notifications", "revocation"))
		revocation(a, req, resp);
	else if (strcmp(req->method, "GET") && strcmp(req->method, "POST"))
		http_reply(resp, 405, "Method is not supported", NULL);
	else
		http_reply(resp, 400, "URI not supported", NULL);
}
