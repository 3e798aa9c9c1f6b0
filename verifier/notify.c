/* Revocation notices. When an agent fails, every agent of the fleet
 * (Keylime's "agent" notifier, the failed one included; in shared mode
 * also those other verifiers attest, from the database) and the webhook,
 * if configured, get {"msg": <JSON text>, "signature": <base64>}: the
 * message signed RSA-PSS-SHA256 with the revocation key the tenant
 * enrolled the failed agent with. Sends are fire-and-forget on the loop;
 * answers are logged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "util/encode.h"
#include "util/log.h"
#include "verifier/verifier.h"

struct send {
	char target[AGENT_ID_MAX + 16];
};

static void on_sent(int status, struct buf *body, const char *err, void *arg)
{
	struct send *s = arg;
	if (status == 200 || status == 202)
		log_info("revocation notice delivered to %s", s->target);
	else
		log_warn("revocation notice to %s: %s", s->target,
			 status < 0 ? err : "refused");
	free(s);
}

static void post(struct verifier *v, const char *url, X509 *pinned, const char *body,
		 const char *target)
{
	char err[256];
	struct send *s = calloc(1, sizeof *s);
	if (!s)
		return;
	snprintf(s->target, sizeof s->target, "%s", target);
	struct http_call call = { "POST", url, body, strlen(body), pinned, pinned == NULL,
				  v->request_timeout_ms, 1 << 16 };
	if (http_client_send(v->client, &call, on_sent, s, err, sizeof err) < 0) {
		log_warn("revocation notice to %s: %s", target, err);
		free(s);
	}
}

struct fanout {
	struct verifier *v;
	const char *body;
};

static void to(struct verifier *v, const char *id, const char *ip, long long port,
	       const char *version, X509 *cert, const char *body)
{
	char url[512];
	snprintf(url, sizeof url, "%s://%s%s%s:%lld/v%s/notifications/revocation",
		 cert ? "https" : "http", strchr(ip, ':') ? "[" : "", ip,
		 strchr(ip, ':') ? "]" : "", port, version);
	post(v, url, cert, body, id);
}

static void to_agent(const char *id, void *value, void *arg)
{
	struct agent *a = value;
	struct fanout *f = arg;
	if (!a->deleted)
		to(a->v, a->id, a->ip, a->port, a->version, a->mtls_cert, f->body);
}

/* An agent another verifier attests: its address from the enrolment
 * (checked when it was accepted). */
static int to_row(json_t *row, void *arg)
{
	struct fanout *f = arg;
	const char *id = json_string_value(json_object_get(row, "agent_id"));
	const char *text = json_string_value(json_object_get(row, "enrolment"));
	if (!id || !text || map_get(f->v->agents, id))
		return 0;
	json_t *e = json_loads(text, 0, NULL);
	const char *ip = json_string_value(json_object_get(e, "cloudagent_ip"));
	json_t *port = json_object_get(e, "cloudagent_port");
	long long p = json_is_integer(port) ? json_integer_value(port)
		    : json_is_string(port) ? atoll(json_string_value(port)) : 0;
	const char *ver = json_string_value(json_object_get(e, "supported_version"));
	const char *pem = json_string_value(json_object_get(e, "mtls_cert"));
	X509 *cert = pem && strcmp(pem, "disabled") ? crypto_cert_from_pem(pem, strlen(pem))
		   : NULL;
	if (ip && p > 0 && p < 65536 && (cert || !pem || !strcmp(pem, "disabled")))
		to(f->v, id, ip, p, ver ? ver : VERIFIER_API_CURRENT, cert, f->body);
	X509_free(cert);
	json_decref(e);
	return 0;
}

void notify_revocation(struct agent *failed, const char *type)
{
	if (!type)
		return;
	struct verifier *v = failed->v;
	char when[64];
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(when, sizeof when, "%a %b %e %H:%M:%S %Y", &tm);
	json_t *context = json_pack("{s:s}", "message", failed->reason);
	char *ctx = json_dumps(context, JSON_COMPACT);
	json_decref(context);
	json_t *m = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s}",
			      "type", type, "ip", failed->ip, "agent_id", failed->id,
			      "port", failed->port, "tpm_policy", failed->tpm_policy_json,
			      "meta_data", failed->metadata, "event_time", when,
			      "event_id", failed->last_event_id,
			      "severity_label", "emergency", "context", ctx ? ctx : "{}");
	free(ctx);
	char *msg = m ? json_dumps(m, 0) : NULL;
	json_decref(m);
	if (!msg)
		return;

	char *sig_b64 = NULL;
	if (failed->revocation_key_pem) {
		EVP_PKEY *key = crypto_key_from_pem(failed->revocation_key_pem,
						    strlen(failed->revocation_key_pem), 1);
		struct buf sig = BUF_INIT;
		if (key && crypto_rsa_pss_sign(key, msg, strlen(msg), &sig) == 0)
			sig_b64 = b64_encode_str(sig.data, sig.len);
		else
			log_error("agent %s: cannot sign the revocation notice", failed->id);
		EVP_PKEY_free(key);
		buf_free(&sig);
	}
	json_t *p = json_pack("{s:s, s:s}", "msg", msg, "signature", sig_b64 ? sig_b64 : "");
	char *payload = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	log_warn("agent %s: sending %s notices (%s)", failed->id, type, failed->last_event_id);
	struct fanout f = { v, payload };
	map_each(v->agents, to_agent, &f);
	if (verifier_db_shared(v->db) && verifier_db_each_agent(v->db, NULL, to_row, &f) < 0)
		log_error("revocation notices: cannot list the fleet: %s",
			  verifier_db_error(v->db));
	if (v->webhook_url && *v->webhook_url)
		post(v, v->webhook_url, NULL, payload, "webhook");
	free(payload);
	free(sig_b64);
	free(msg);
}
