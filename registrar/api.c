/* The registrar's two HTTP front ends.
 *
 * Agent port (plain HTTP, as in Keylime): POST /v2.x/agents/{id} registers
 * and answers with a MakeCredential challenge; PUT /v2.x/agents/{id}/activate
 * (or PUT /v2.x/agents/{id}) presents the auth tag that proves the agent ran
 * ActivateCredential with that EK. Admin port (mutual TLS): list, show and
 * delete. Every handler validates all of its input before it touches the
 * database, and changes at most one row in one transaction. */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "registrar/registrar.h"
#include "tpm/credential.h"
#include "tpm/tpm_public.h"
#include "util/encode.h"
#include "util/log.h"
#include "util/name.h"
#include "util/secure.h"

const char *const registrar_api_versions[] = {
	"2.0", "2.1", "2.2", "2.3", "2.4", "2.5", NULL
};

/* The challenge drawn for each registration: what ActivateCredential must
 * recover. As in Keylime, 32 random letters and digits; the HMAC key the
 * agent proves possession with is the base64 text of those bytes (that is
 * what Keylime's agents compute, so we must too). */
#define CHALLENGE_LEN 32

static int version_supported(const char *v)
{
	for (int i = 0; registrar_api_versions[i]; i++)
		if (strcmp(v, registrar_api_versions[i]) == 0)
			return 1;
	return 0;
}

static void reply_version(struct http_response *resp)
{
	json_t *versions = json_array();
	for (int i = 0; registrar_api_versions[i]; i++)
		json_array_append_new(versions, json_string(registrar_api_versions[i]));
	http_reply(resp, 200, "Success",
		   json_pack("{s:s, s:o}", "current_version", REGISTRAR_API_CURRENT,
			     "supported_versions", versions));
}

/* Routes common to both ports: /version, the version prefix, /agents/{id}.
 * Returns 1 when the request was answered. */
static int route_common(struct http_request *req, struct http_response *resp)
{
	if (!req->version[0]) {
		if (req->n_segments == 1 && strcmp(req->segments[0], "version") == 0 &&
		    strcmp(req->method, "GET") == 0)
			reply_version(resp);
		else
			http_reply(resp, 400, "Missing API version in path "
				   "(expected /v2.x/...)", NULL);
		return 1;
	}
	if (!version_supported(req->version)) {
		http_reply(resp, 400, "API version not supported", NULL);
		return 1;
	}
	if (req->n_segments < 1 || strcmp(req->segments[0], "agents") != 0) {
		http_reply(resp, 404, "Not found", NULL);
		return 1;
	}
	if (req->n_segments >= 2 && !name_valid(req->segments[1], AGENT_ID_MAX)) {
		http_reply(resp, 400, "Invalid agent id", NULL);
		return 1;
	}
	return 0;
}

/* Decodes a required or optional base64 field. Returns 0 when present and
 * valid, 1 when absent (or JSON null) and optional, -1 after replying. */
static int b64_field(json_t *body, const char *name, int required,
		     size_t max, struct buf *out, struct http_response *resp)
{
	char msg[160];
	json_t *v = json_object_get(body, name);
	if (!v || json_is_null(v)) {
		if (!required)
			return 1;
		snprintf(msg, sizeof msg, "Missing required field '%s'", name);
		http_reply(resp, 400, msg, NULL);
		return -1;
	}
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (!s || n > max || b64_decode(out, s, n) < 0 || out->len == 0) {
		snprintf(msg, sizeof msg, "Field '%s' must be a non-empty base64 "
			 "string of at most %zu characters", name, max);
		http_reply(resp, 400, msg, NULL);
		return -1;
	}
	return 0;
}

/* Keylime agents send the EK certificate as base64 DER (Python) or as PEM,
 * possibly followed by the NV chain (Rust); "" and null mean none. We keep
 * the EK certificate itself, as DER. */
static int ekcert_field(json_t *body, struct buf *out, struct http_response *resp)
{
	json_t *v = json_object_get(body, "ekcert");
	if (!v || json_is_null(v) ||
	    (json_is_string(v) && json_string_length(v) == 0))
		return 0;
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (s && n <= 65536 && strncmp(s, "-----BEGIN", 10) == 0) {
		X509 *cert = crypto_cert_from_pem(s, n);
		unsigned char *der = NULL;
		int len = cert ? i2d_X509(cert, &der) : -1;
		X509_free(cert);
		if (len > 0) {
			int r = buf_append(out, der, (size_t)len);
			OPENSSL_free(der);
			return r;
		}
		http_reply(resp, 400, "Field 'ekcert' is not a PEM certificate", NULL);
		return -1;
	}
	return b64_field(body, "ekcert", 0, 65536, out, resp);
}

/* ip and port are optional contact details; port may be a number or a
 * string of digits (Keylime's agents send either). */
static int contact_fields(json_t *body, struct agent_record *a,
			  struct http_response *resp)
{
	json_t *ip = json_object_get(body, "ip");
	json_t *port = json_object_get(body, "port");
	if (ip && !json_is_null(ip)) {
		const char *s = json_string_value(ip);
		if (!s || json_string_length(ip) >= sizeof a->ip ||
		    strspn(s, "0123456789abcdefABCDEF.:") != strlen(s)) {
			http_reply(resp, 400, "Field 'ip' must be an IP address", NULL);
			return -1;
		}
		snprintf(a->ip, sizeof a->ip, "%s", s);
	}
	if (port && !json_is_null(port)) {
		long long p = -1;
		if (json_is_integer(port)) {
			p = json_integer_value(port);
		} else if (json_is_string(port)) {
			const char *s = json_string_value(port);
			char *end;
			if (*s && strspn(s, "0123456789") == strlen(s) && strlen(s) < 6)
				p = strtoll(s, &end, 10);
		}
		if (p < 1 || p > 65535) {
			http_reply(resp, 400, "Field 'port' must be a port number "
				   "(1-65535)", NULL);
			return -1;
		}
		a->port = (int)p;
	}
	return 0;
}

static int mtls_field(json_t *body, struct agent_record *a,
		      struct http_response *resp)
{
	json_t *v = json_object_get(body, "mtls_cert");
	if (!v || json_is_null(v))
		return 0;
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (!s || n > 16384) {
		http_reply(resp, 400, "Field 'mtls_cert' must be a PEM certificate "
			   "or \"disabled\"", NULL);
		return -1;
	}
	if (strcmp(s, "disabled") != 0) {
		X509 *cert = crypto_cert_from_pem(s, n);
		if (!cert) {
			http_reply(resp, 400, "Field 'mtls_cert' is not a PEM "
				   "certificate", NULL);
			return -1;
		}
		X509_free(cert);
	}
	return buf_append(&a->mtls_cert, s, n);
}

static int random_challenge(struct buf *out)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	uint8_t raw[CHALLENGE_LEN];
	if (buf_reserve(out, CHALLENGE_LEN) < 0 || crypto_random(raw, sizeof raw) < 0)
		return -1;
	/* 256 % 62 != 0: reject the top values so every letter is equally
	 * likely. */
	for (size_t i = 0; i < CHALLENGE_LEN;) {
		for (size_t j = 0; j < sizeof raw && i < CHALLENGE_LEN; j++)
			if (raw[j] < 248)
				out->data[i++] = (uint8_t)alphabet[raw[j] % 62];
		if (i < CHALLENGE_LEN && crypto_random(raw, sizeof raw) < 0)
			return -1;
	}
	out->len = CHALLENGE_LEN;
	secure_wipe(raw, sizeof raw);
	return 0;
}

static int same_bytes(const struct buf *a, const struct buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static void do_register(struct registrar *r, const char *agent_id, json_t *body,
			struct http_response *resp)
{
	struct agent_record a, old;
	struct tpm_public ek, ak;
	struct buf challenge = BUF_INIT, key = BUF_INIT, tag = BUF_INIT, blob = BUF_INIT;
	char err[256], msg[400];
	int have_old = 0;
	memset(&a, 0, sizeof a);
	memset(&ek, 0, sizeof ek);
	memset(&ak, 0, sizeof ak);
	snprintf(a.agent_id, sizeof a.agent_id, "%s", agent_id);

	if (b64_field(body, "ek_tpm", 1, 4096, &a.ek_tpm, resp) < 0 ||
	    b64_field(body, "aik_tpm", 1, 4096, &a.aik_tpm, resp) < 0 ||
	    ekcert_field(body, &a.ekcert, resp) < 0 ||
	    mtls_field(body, &a, resp) < 0 || contact_fields(body, &a, resp) < 0)
		goto out;

	if (tpm_public_parse(a.ek_tpm.data, a.ek_tpm.len, &ek, err, sizeof err) < 0) {
		snprintf(msg, sizeof msg, "Field 'ek_tpm' is not a usable TPM2B_PUBLIC: %s", err);
		http_reply(resp, 400, msg, NULL);
		goto out;
	}
	if (tpm_public_parse(a.aik_tpm.data, a.aik_tpm.len, &ak, err, sizeof err) < 0 ||
	    tpm_public_check_ak(&ak, err, sizeof err) < 0) {
		snprintf(msg, sizeof msg, "Field 'aik_tpm' is not a usable attestation key: %s", err);
		http_reply(resp, 400, msg, NULL);
		goto out;
	}
	if (a.ekcert.len) {
		if (tpm_public_cert_matches(&ek, a.ekcert.data, a.ekcert.len, err,
					    sizeof err) < 0) {
			snprintf(msg, sizeof msg, "Field 'ekcert' does not match 'ek_tpm': %s", err);
			http_reply(resp, 400, msg, NULL);
			goto out;
		}
	} else if (r->require_ek_cert) {
		http_reply(resp, 400, "An EK certificate ('ekcert') is required by "
			   "this registrar", NULL);
		goto out;
	}

	int got = registrar_db_get(r->db, agent_id, &old);
	if (got < 0) {
		http_reply(resp, 500, "Database error", NULL);
		goto out;
	}
	have_old = got == 0;
	if (have_old && (!same_bytes(&old.ek_tpm, &a.ek_tpm) ||
			 (old.ekcert.len && !same_bytes(&old.ekcert, &a.ekcert)))) {
		log_warn("refused re-registration of agent %s with a different EK",
			 agent_id);
		http_reply(resp, 403, "Agent re-registration with a different TPM "
			   "identity (EK) is forbidden; delete the agent first", NULL);
		goto out;
	}

	if (random_challenge(&challenge) < 0) {
		http_reply(resp, 500, "Random number generator failed", NULL);
		goto out;
	}
	if (tpm_credential_make(&ek, ak.name, ak.name_len, challenge.data, challenge.len,
				&blob, err, sizeof err) < 0) {
		snprintf(msg, sizeof msg, "Cannot make a credential for this EK: %s", err);
		http_reply(resp, 400, msg, NULL);
		goto out;
	}
	if (b64_encode(&key, challenge.data, challenge.len) < 0 ||
	    crypto_hmac(EVP_sha384(), key.data, key.len, agent_id,
			strlen(agent_id), &tag) < 0 ||
	    tag.len * 2 + 1 > sizeof a.auth_tag) {
		http_reply(resp, 500, "HMAC failed", NULL);
		goto out;
	}
	for (size_t i = 0; i < tag.len; i++)
		snprintf(a.auth_tag + 2 * i, 3, "%02x", tag.data[i]);
	a.active = 0;
	a.regcount = have_old ? old.regcount + 1 : 1;

	if (store_begin(r->db) < 0 || registrar_db_put(r->db, &a) < 0 ||
	    store_commit(r->db) < 0) {
		store_rollback(r->db);
		http_reply(resp, 500, "Database error", NULL);
		goto out;
	}
	char *b64 = b64_encode_str(blob.data, blob.len);
	log_info("agent %s registered (registration %d), waiting for activation",
		 agent_id, a.regcount);
	http_reply(resp, 200, "Success", json_pack("{s:s}", "blob", b64 ? b64 : ""));
	free(b64);
out:
	if (have_old)
		agent_record_free(&old);
	agent_record_free(&a);
	tpm_public_free(&ek);
	tpm_public_free(&ak);
	buf_free(&challenge);
	buf_free(&key);
	buf_free(&tag);
	buf_free(&blob);
}

static void do_activate(struct registrar *r, const char *agent_id, json_t *body,
			struct http_response *resp)
{
	struct agent_record a;
	const char *tag = json_string_value(json_object_get(body, "auth_tag"));
	if (!tag || strlen(tag) > 128) {
		http_reply(resp, 400, "Missing or malformed field 'auth_tag' "
			   "(a hex HMAC-SHA384)", NULL);
		return;
	}
	int got = registrar_db_get(r->db, agent_id, &a);
	if (got < 0) {
		http_reply(resp, 500, "Database error", NULL);
		return;
	}
	if (got == 1) {
		http_reply(resp, 404, "Agent not found", NULL);
		return;
	}
	if (!a.auth_tag[0] || !secure_equal_str(tag, a.auth_tag)) {
		/* Keylime deletes the agent here. We keep it: anyone who knows an
		 * agent id could otherwise erase a pending registration. */
		log_warn("agent %s presented a wrong auth_tag", agent_id);
		http_reply(resp, 400, "Auth tag does not match the expected value",
			   NULL);
	} else if (registrar_db_activate(r->db, agent_id) != 0) {
		http_reply(resp, 500, "Database error", NULL);
	} else {
		log_info("agent %s activated", agent_id);
		http_reply(resp, 200, "Success", NULL);
	}
	agent_record_free(&a);
}

void registrar_agent_api(struct http_request *req, struct http_response *resp,
			 void *arg)
{
	struct registrar *r = arg;
	if (route_common(req, resp))
		return;
	int post = strcmp(req->method, "POST") == 0;
	int put = strcmp(req->method, "PUT") == 0;
	int activate = req->n_segments == 3 &&
		       strcmp(req->segments[2], "activate") == 0;
	if (!(req->n_segments == 2 && (post || put)) && !(activate && (put || post))) {
		http_reply(resp, 405, "Method not allowed on the agent port "
			   "(the admin API is on the TLS port)", NULL);
		return;
	}
	json_t *body = http_body_json(req, resp);
	if (!body)
		return;
	if (post && req->n_segments == 2)
		do_register(r, req->segments[1], body, resp);
	else
		do_activate(r, req->segments[1], body, resp);
	json_decref(body);
}

static json_t *render(const struct agent_record *a)
{
	char *ek = b64_encode_str(a->ek_tpm.data, a->ek_tpm.len);
	char *ak = b64_encode_str(a->aik_tpm.data, a->aik_tpm.len);
	char *cert = a->ekcert.len ? b64_encode_str(a->ekcert.data, a->ekcert.len)
				   : NULL;
	json_t *j = json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:o, s:i}",
			      "aik_tpm", ak ? ak : "", "ek_tpm", ek ? ek : "",
			      "ekcert", cert,
			      "mtls_cert", a->mtls_cert.len ? (char *)a->mtls_cert.data : NULL,
			      "ip", a->ip[0] ? a->ip : NULL,
			      "port", a->port ? json_integer(a->port) : json_null(),
			      "regcount", a->regcount);
	free(ek);
	free(ak);
	free(cert);
	return j;
}

void registrar_admin_api(struct http_request *req, struct http_response *resp,
			 void *arg)
{
	struct registrar *r = arg;
	struct agent_record a;
	if (route_common(req, resp))
		return;
	if (req->n_segments == 1 && strcmp(req->method, "GET") == 0) {
		json_t *ids = json_array();
		if (registrar_db_list(r->db, ids) < 0) {
			json_decref(ids);
			http_reply(resp, 500, "Database error", NULL);
			return;
		}
		http_reply(resp, 200, "Success", json_pack("{s:o}", "uuids", ids));
		return;
	}
	if (req->n_segments != 2) {
		http_reply(resp, 404, "Not found", NULL);
		return;
	}
	const char *id = req->segments[1];
	if (strcmp(req->method, "GET") == 0) {
		int got = registrar_db_get(r->db, id, &a);
		if (got < 0)
			http_reply(resp, 500, "Database error", NULL);
		else if (got == 1)
			http_reply(resp, 404, "Agent not found", NULL);
		else if (!a.active)
			http_reply(resp, 404, "Agent has not been activated", NULL);
		else
			http_reply(resp, 200, "Success", render(&a));
		if (got == 0)
			agent_record_free(&a);
	} else if (strcmp(req->method, "DELETE") == 0) {
		int got = registrar_db_delete(r->db, id);
		if (got < 0)
			http_reply(resp, 500, "Database error", NULL);
		else if (got == 1)
			http_reply(resp, 404, "Agent not found", NULL);
		else {
			log_info("agent %s deleted", id);
			http_reply(resp, 200, "Success", NULL);
		}
	} else {
		http_reply(resp, 405, "Method not allowed", NULL);
	}
}
