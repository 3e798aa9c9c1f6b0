/* Agent records: enrolment from the tenant's JSON, status as JSON. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "tpm/tpm_public.h"
#include "util/encode.h"
#include "util/log.h"
#include "util/error.h"
#include "util/name.h"
#include "util/secure.h"
#include "verifier/verifier.h"

struct agent *agent_new(struct verifier *v, const char *id)
{
	struct agent *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	a->v = v;
	snprintf(a->id, sizeof a->id, "%s", id);
	a->severity = -1;
	a->need_pubkey = 1;
	a->state = STATE_START;
	return a;
}

void tpm_policy_free(struct tpm_policy *p)
{
	for (int i = 0; i < 24; i++)
		for (int k = 0; k < p->n_values[i]; k++)
			free(p->values[i][k]);
	memset(p, 0, sizeof *p);
}

void agent_free(struct agent *a)
{
	if (!a)
		return;
	if (a->timer)
		event_free(a->timer);
	buf_free(&a->ak_tpm);
	buf_free(&a->mtls_pem);
	EVP_PKEY_free(a->ak);
	X509_free(a->mtls_cert);
	free(a->tpm_policy_json);
	free(a->metadata);
	if (a->revocation_key_pem) {
		secure_wipe(a->revocation_key_pem, strlen(a->revocation_key_pem));
		free(a->revocation_key_pem);
	}
	secure_wipe(a->v_half, sizeof a->v_half);
	for (int k = 0; k < 3; k++)
		for (int i = 0; i < ALGS_MAX; i++)
			free(a->accept[k][i]);
	free(a->runtime_policy_name);
	runtime_policy_free(a->rpolicy);
	free(a->rp_text);
	mb_refstate_free(a->mbpolicy);
	free(a->mb_text);
	free(a->mb_policy_name);
	free(a->nk_pem);
	tpm_policy_free(&a->tpm_policy);
	free(a);
}

/* {"mask": "0x...", "<pcr>": ["hex", ...], ...}: each listed PCR must hold
 * one of its values. The mask names PCRs to quote; listed PCRs are quoted
 * too. */
int tpm_policy_parse(const char *json, struct tpm_policy *p, char *err, size_t errlen)
{
	json_error_t je;
	memset(p, 0, sizeof *p);
	json_t *j = json_loads(json, JSON_REJECT_DUPLICATES, &je);
	if (!j || !json_is_object(j)) {
		error_set(err, errlen, "tpm_policy is not a JSON object%s%s",
			  j ? "" : ": ", j ? "" : je.text);
		json_decref(j);
		return -1;
	}
	const char *key;
	json_t *val;
	json_object_foreach(j, key, val) {
		if (strcmp(key, "mask") == 0) {
			const char *m = json_string_value(val);
			char *end;
			unsigned long long x = m ? strtoull(m, &end, 16) : 0;
			if (!m || !*m || *end || x >> 24) {
				error_set(err, errlen, "tpm_policy: mask must be a hex string "
					  "naming PCRs 0 to 23");
				goto fail;
			}
			p->mask |= (uint32_t)x;
			continue;
		}
		char *end;
		long pcr = strtol(key, &end, 10);
		if (!*key || *end || pcr < 0 || pcr > 23 || !json_is_array(val) ||
		    json_array_size(val) > 8) {
			error_set(err, errlen, "tpm_policy: '%.32s' is not a PCR number (0-23) "
				  "with a list of at most 8 values", key);
			goto fail;
		}
		size_t i;
		json_t *h;
		json_array_foreach(val, i, h) {
			const char *s = json_string_value(h);
			size_t n = s ? strlen(s) : 0;
			if (!s || (n != 40 && n != 64 && n != 96 && n != 128) ||
			    strspn(s, "0123456789abcdefABCDEF") != n) {
				error_set(err, errlen, "tpm_policy: PCR %ld: values must be hex "
					  "digests", pcr);
				goto fail;
			}
			char *lower = strdup(s);
			for (char *c = lower; c && *c; c++)
				*c = (char)tolower((unsigned char)*c);
			p->values[pcr][p->n_values[pcr]++] = lower;
		}
		p->mask |= 1u << pcr;
	}
	json_decref(j);
	return 0;
fail:
	json_decref(j);
	tpm_policy_free(p);
	return -1;
}

static const char *str(json_t *body, const char *k)
{
	return json_string_value(json_object_get(body, k));
}

static int set_algs(struct agent *a, int kind, json_t *list)
{
	size_t i;
	json_t *s;
	if (!json_is_array(list) || json_array_size(list) == 0 ||
	    json_array_size(list) > ALGS_MAX)
		return -1;
	json_array_foreach(list, i, s) {
		if (!json_is_string(s) || json_string_length(s) > 15)
			return -1;
		a->accept[kind][i] = strdup(json_string_value(s));
	}
	return 0;
}

int agent_enrol(struct agent *a, json_t *body, int *status, char *err, size_t errlen)
{
	char why[256];
	struct buf b = BUF_INIT;
	*status = 400;
	json_t *port = json_object_get(body, "cloudagent_port");
	const char *ip = str(body, "cloudagent_ip");
	long long p = json_is_integer(port) ? json_integer_value(port)
		    : json_is_string(port) ? atoll(json_string_value(port)) : -1;
	if (!ip || strlen(ip) >= sizeof a->ip ||
	    strspn(ip, "0123456789abcdefABCDEF.:") != strlen(ip) || p < 1 || p > 65535) {
		error_set(err, errlen, "cloudagent_ip and cloudagent_port must give the "
			  "agent's IP address and port");
		return -1;
	}
	snprintf(a->ip, sizeof a->ip, "%s", ip);
	a->port = (int)p;

	const char *ver = str(body, "supported_version");
	snprintf(a->version, sizeof a->version, "%s", ver ? ver : VERIFIER_API_CURRENT);
	if (strspn(a->version, "0123456789.") != strlen(a->version) || !a->version[0]) {
		error_set(err, errlen, "supported_version must be an API version like 2.4");
		return -1;
	}

	const char *tp = str(body, "tpm_policy");
	if (!tp) {
		error_set(err, errlen, "tpm_policy (a JSON string) is required");
		return -1;
	}
	if (tpm_policy_parse(tp, &a->tpm_policy, why, sizeof why) < 0) {
		error_set(err, errlen, "%s", why);
		return -1;
	}
	a->tpm_policy_json = strdup(tp);
	a->metadata = strdup(str(body, "metadata") ? str(body, "metadata") : "{}");

	const char *ak = str(body, "ak_tpm");
	struct tpm_public pub;
	if (!ak || b64_decode(&a->ak_tpm, ak, strlen(ak)) < 0 ||
	    tpm_public_parse(a->ak_tpm.data, a->ak_tpm.len, &pub, why, sizeof why) < 0) {
		error_set(err, errlen, "ak_tpm must be a base64 TPM2B_PUBLIC");
		return -1;
	}
	if (tpm_public_check_ak(&pub, why, sizeof why) < 0) {
		tpm_public_free(&pub);
		error_set(err, errlen, "ak_tpm: %s", why);
		return -1;
	}
	a->ak = pub.pkey;
	pub.pkey = NULL;
	tpm_public_free(&pub);

	const char *cert = str(body, "mtls_cert");
	if (cert && strcmp(cert, "disabled") != 0) {
		if (!(a->mtls_cert = crypto_cert_from_pem(cert, strlen(cert)))) {
			error_set(err, errlen, "mtls_cert is not a PEM certificate");
			return -1;
		}
		buf_append_str(&a->mtls_pem, cert);
	} else if (a->v->enable_agent_mtls) {
		error_set(err, errlen, "mTLS certificate for agent is required!");
		return -1;
	}

	const char *v = str(body, "v");
	if (v && *v) {
		if (b64_decode(&b, v, strlen(v)) < 0 || b.len == 0 || b.len > sizeof a->v_half) {
			buf_free(&b);
			error_set(err, errlen, "v must be base64 of the key half V");
			return -1;
		}
		memcpy(a->v_half, b.data, b.len);
		a->v_len = b.len;
		buf_free(&b);
	}
	const char *rk = str(body, "revocation_key");
	if (rk && *rk) {
		EVP_PKEY *k = crypto_key_from_pem(rk, strlen(rk), 1);
		if (!k || EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
			EVP_PKEY_free(k);
			error_set(err, errlen, "revocation_key must be a PEM RSA private key");
			return -1;
		}
		EVP_PKEY_free(k);
		a->revocation_key_pem = strdup(rk);
	}
	static const char *const alg_fields[3] = {
		"accept_tpm_hash_algs", "accept_tpm_encryption_algs", "accept_tpm_signing_algs" };
	for (int k = 0; k < 3; k++) {
		json_t *list = json_object_get(body, alg_fields[k]);
		if (set_algs(a, k, list) < 0) {
			error_set(err, errlen, "%s must be a list of 1 to %d algorithm names",
				  alg_fields[k], ALGS_MAX);
			return -1;
		}
	}
	/* The runtime (IMA) policy: inline (base64 JSON, stored under its name
	 * or the agent id when the enrolment is accepted) or by name from the
	 * store. */
	const char *rp = str(body, "runtime_policy");
	const char *rpn = str(body, "runtime_policy_name");
	if (rpn && *rpn) {
		if (!name_valid(rpn, AGENT_ID_MAX)) {
			error_set(err, errlen, "runtime_policy_name is not a valid name");
			return -1;
		}
		a->runtime_policy_name = strdup(rpn);
	}
	if (rp && *rp) {
		if (b64_decode(&b, rp, strlen(rp)) < 0) {
			error_set(err, errlen, "runtime_policy must be base64 of the policy JSON");
			return -1;
		}
		a->rp_text = (char *)buf_steal(&b, NULL);
	} else if (a->runtime_policy_name) {
		int r = verifier_db_policy_get(a->v->db, "runtime_policies",
					       a->runtime_policy_name, &a->rp_text);
		if (r != 0) {
			*status = r < 0 ? 500 : 404;
			error_set(err, errlen, "Could not find IMA policy with name %s!",
				  a->runtime_policy_name);
			return -1;
		}
	}
	if (a->rp_text && runtime_policy_load(a->rp_text, strlen(a->rp_text),
					      &a->rpolicy, why, sizeof why) < 0) {
		error_set(err, errlen, "Runtime policy is malformatted: %s", why);
		return -1;
	}
	/* The measured-boot reference state: inline (a JSON string) or by name
	 * from the store; {} means accept-all, as in Keylime. */
	json_t *mb = json_object_get(body, "mb_policy");
	const char *mbn = str(body, "mb_policy_name");
	if (mbn && *mbn) {
		if (!name_valid(mbn, AGENT_ID_MAX)) {
			error_set(err, errlen, "mb_policy_name is not a valid name");
			return -1;
		}
		a->mb_policy_name = strdup(mbn);
	}
	if (mb && !json_is_null(mb) && !json_is_string(mb)) {
		error_set(err, errlen, "mb_policy must be a JSON string or null");
		return -1;
	}
	if (json_is_string(mb) && json_string_length(mb) > 0) {
		a->mb_text = strdup(json_string_value(mb));
	} else if (a->mb_policy_name) {
		int r = verifier_db_policy_get(a->v->db, "mb_policies", a->mb_policy_name,
					       &a->mb_text);
		if (r != 0) {
			*status = r < 0 ? 500 : 404;
			error_set(err, errlen, "Could not find mb_policy with name %s!",
				  a->mb_policy_name);
			return -1;
		}
	}
	if (a->mb_text) {
		a->mbpolicy = mb_refstate_load(a->mb_text, strlen(a->mb_text), why, sizeof why);
		if (!a->mbpolicy) {
			error_set(err, errlen, "Measured boot policy is malformatted: %s", why);
			return -1;
		}
		if (mb_refstate_is_empty(a->mbpolicy)) {
			mb_refstate_free(a->mbpolicy);
			a->mbpolicy = NULL;
		}
	}
	return 0;
}

static json_t *alg_list(char *const *algs)
{
	json_t *l = json_array();
	for (int i = 0; i < ALGS_MAX && algs[i]; i++)
		json_array_append_new(l, json_string(algs[i]));
	return l;
}

static const char *attestation_status(enum agent_state s)
{
	if (s == STATE_GET_QUOTE || s == STATE_GET_QUOTE_RETRY ||
	    s == STATE_PROVIDE_V || s == STATE_PROVIDE_V_RETRY)
		return "PASS";
	if (s == STATE_FAILED || s == STATE_INVALID_QUOTE || s == STATE_TENANT_FAILED)
		return "FAIL";
	return "PENDING";
}

json_t *agent_status_json(const struct agent *a, const char *version)
{
	/* Keylime returns V here; we do not hand a key half to every admin
	 * client: the field is there, always null. */
	json_t *j = json_pack("{s:i, s:n, s:s, s:i, s:s, s:s, s:i, s:i, s:o, s:o, s:o,"
			      " s:s, s:s, s:s, s:s, s:I, s:I, s:I}",
		"operational_state", a->state, "v", "ip", a->ip, "port", a->port,
		"tpm_policy", a->tpm_policy_json, "meta_data", a->metadata,
		"has_mb_refstate", a->mbpolicy ? 1 : 0,
		"has_runtime_policy", a->rpolicy ? 1 : 0,
		"accept_tpm_hash_algs", alg_list(a->accept[0]),
		"accept_tpm_encryption_algs", alg_list(a->accept[1]),
		"accept_tpm_signing_algs", alg_list(a->accept[2]),
		"hash_alg", a->hash_alg, "enc_alg", a->enc_alg, "sign_alg", a->sign_alg,
		"verifier_id", a->v->verifier_id,
		"attestation_count", (json_int_t)a->attestation_count,
		"last_received_quote", (json_int_t)a->last_received_quote,
		"last_successful_attestation", (json_int_t)a->last_successful);
	json_object_set_new(j, "verifier_ip", json_string(config_str(a->v->cfg, "ip")));
	json_object_set_new(j, "verifier_port", json_integer(config_int(a->v->cfg, "port")));
	json_object_set_new(j, "severity_level", a->severity >= 0
			    ? json_integer(a->severity) : json_null());
	json_object_set_new(j, "last_event_id", a->last_event_id[0]
			    ? json_string(a->last_event_id) : json_null());
	/* Ours: why the agent failed, in words. */
	json_object_set_new(j, "failure_reason", a->reason[0] ? json_string(a->reason)
							    : json_null());
	if (!version || strcmp(version, "2.5") >= 0) {
		char period[32];
		json_object_set_new(j, "attestation_status",
				    json_string(attestation_status(a->state)));
		snprintf(period, sizeof period, "%lds", a->v->quote_interval_ms / 1000);
		json_object_set_new(j, "attestation_period", json_string(period));
	}
	return j;
}

static long long row_int(json_t *row, const char *k)
{
	return json_integer_value(json_object_get(row, k));
}

struct agent *agent_from_row(struct verifier *v, json_t *row)
{
	char err[256];
	int status;
	const char *id = str(row, "agent_id");
	const char *text = str(row, "enrolment");
	json_t *body = text ? json_loads(text, 0, NULL) : NULL;
	struct agent *a = id ? agent_new(v, id) : NULL;
	if (!a || !body || agent_enrol(a, body, &status, err, sizeof err) < 0) {
		log_error("agent %s: stored enrolment unusable: %s", id ? id : "?",
			  body ? err : "not JSON");
		agent_free(a);
		json_decref(body);
		return NULL;
	}
	json_decref(body);
	a->state = (enum agent_state)row_int(row, "state");
	a->attestation_count = row_int(row, "attestation_count");
	a->last_received_quote = row_int(row, "last_received_quote");
	a->last_successful = row_int(row, "last_successful_attestation");
	a->tpm_clock = (uint64_t)row_int(row, "tpm_clock");
	a->tpm_reset = (uint32_t)row_int(row, "tpm_reset");
	a->tpm_restart = (uint32_t)row_int(row, "tpm_restart");
	a->severity = json_object_get(row, "severity") ? (int)row_int(row, "severity") : -1;
	const char *s;
	if ((s = str(row, "last_event_id")))
		snprintf(a->last_event_id, sizeof a->last_event_id, "%s", s);
	if ((s = str(row, "reason")))
		snprintf(a->reason, sizeof a->reason, "%s", s);
	if ((s = str(row, "nk_pem")))
		a->nk_pem = strdup(s);
	a->ima.next_entry = (uint64_t)row_int(row, "ima_next_entry");
	a->ima.boottime = (uint64_t)row_int(row, "ima_boottime");
	a->ima.lag = (uint64_t)row_int(row, "ima_lag");
	a->ima.bank = (uint16_t)row_int(row, "ima_bank");
	if ((s = str(row, "ima_pcr10"))) {
		struct buf pcr = BUF_INIT;
		if (hex_decode(&pcr, s, strlen(s)) == 0 && pcr.len == sizeof a->ima.pcr10)
			memcpy(a->ima.pcr10, pcr.data, pcr.len);
		buf_free(&pcr);
	}
	/* V went out once the agent reached Get Quote; a changed payload key
	 * (the agent lost its state) makes check.c send it again. */
	a->provide_v = a->v_len > 0 && a->attestation_count == 0;
	return a;
}

int agent_adopt(json_t *row, void *arg)
{
	struct verifier *v = arg;
	struct agent *a = agent_from_row(v, row);
	if (!a)
		return 0;
	struct agent *old = map_get(v->agents, a->id);
	if (old)
		agent_drop(old, 1);
	map_put(v->agents, a->id, a);
	if (a->state == STATE_START || a->state == STATE_GET_QUOTE ||
	    a->state == STATE_GET_QUOTE_RETRY || a->state == STATE_PROVIDE_V ||
	    a->state == STATE_PROVIDE_V_RETRY) {
		if (a->state == STATE_PROVIDE_V || a->state == STATE_PROVIDE_V_RETRY)
			a->provide_v = a->v_len > 0;
		a->state = STATE_START;
		poll_start(a, 0);
	}
	return 0;
}

/* Agents dropped while a caller may still hold them wait here until the
 * loop turns (or the verifier stops). */
void agent_reap(struct verifier *v)
{
	struct agent *a;
	while ((a = v->graveyard)) {
		v->graveyard = a->next_dead;
		agent_free(a);
	}
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
	agent_reap(arg);
}

void agent_drop(struct agent *a, int from_loop)
{
	struct verifier *v = a->v;
	state_forget(a);
	if (map_get(v->agents, a->id) == a)
		map_del(v->agents, a->id);
	poll_stop(a);
	if (a->busy) {
		a->deleted = 1;	/* freed when its request returns */
		return;
	}
	if (!from_loop) {
		agent_free(a);
		return;
	}
	a->next_dead = v->graveyard;
	v->graveyard = a;
	if (!v->reaper)
		v->reaper = evtimer_new(v->base, on_reap, v);
	struct timeval now = { 0, 0 };
	if (v->reaper && !evtimer_pending(v->reaper, NULL))
		evtimer_add(v->reaper, &now);
}
