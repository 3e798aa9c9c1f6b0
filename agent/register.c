/* Registration with the registrar, as Keylime's agents do it:
 * GET /version to agree on an API version, POST the EK, AK and mTLS
 * certificate, answer the MakeCredential challenge with ActivateCredential
 * and prove it with auth_tag = HMAC-SHA384(base64(credential), uuid). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "crypto/crypto.h"
#include "util/encode.h"
#include "util/log.h"
#include "util/secure.h"

/* Highest version both sides speak, from the registrar's /version. */
static void negotiate(const char *base, const struct http_client_config *hc,
		      char *version, size_t n)
{
	struct buf out = BUF_INIT;
	char url[512], err[256];
	snprintf(version, n, "2.1");
	snprintf(url, sizeof url, "%s/version", base);
	if (http_fetch(hc, "GET", url, NULL, 0, &out, err, sizeof err) != 200)
		goto out;
	json_t *j = json_loadb((char *)out.data, out.len, 0, NULL);
	json_t *list = json_object_get(json_object_get(j, "results"),
				       "supported_versions");
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v) {
		const char *s = json_string_value(v);
		for (int k = 0; s && agent_api_versions[k]; k++)
			if (strcmp(s, agent_api_versions[k]) == 0 &&
			    strcmp(s, version) > 0)
				snprintf(version, n, "%s", s);
	}
	json_decref(j);
out:
	buf_free(&out);
}

static char *register_body(struct agent *a)
{
	char *ek = b64_encode_str(a->ek_pub.data, a->ek_pub.len);
	char *ak = b64_encode_str(a->ak_pub.data, a->ak_pub.len);
	char *cert = a->ek_cert.len ? b64_encode_str(a->ek_cert.data, a->ek_cert.len)
				    : NULL;
	json_t *j = json_pack("{s:s, s:s, s:s?, s:s, s:s, s:I}",
			      "ek_tpm", ek, "aik_tpm", ak, "ekcert", cert,
			      "mtls_cert", a->mtls_pem.len ? (char *)a->mtls_pem.data
							   : "disabled",
			      "ip", config_str(a->cfg, "contact_ip"),
			      "port", (json_int_t)config_int(a->cfg, "contact_port"));
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	free(ek);
	free(ak);
	free(cert);
	return s;
}

/* One attempt. Returns 0, -1 to retry, -2 for a refusal that retrying
 * will not change (403, 400). */
static int attempt(struct agent *a, const char *base,
		   const struct http_client_config *hc, char *err, size_t errlen)
{
	char version[16], url[1024], msg[256];
	struct buf out = BUF_INIT, blob = BUF_INIT, cred = BUF_INIT, tag = BUF_INIT;
	char *body = NULL, *key = NULL, *hex = NULL;
	json_t *j = NULL;
	int r = -1;

	negotiate(base, hc, version, sizeof version);
	snprintf(url, sizeof url, "%s/v%s/agents/%s", base, version, a->uuid);
	if (!(body = register_body(a))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	int st = http_fetch(hc, "POST", url, body, strlen(body), &out, msg, sizeof msg);
	j = st > 0 ? json_loadb((char *)out.data, out.len, 0, NULL) : NULL;
	if (st != 200) {
		const char *why = j ? json_string_value(json_object_get(j, "status")) : NULL;
		snprintf(err, errlen, "registrar %s: %s", st < 0 ? "unreachable" : "refused",
			 st < 0 ? msg : why ? why : "(no reason given)");
		r = st == 400 || st == 403 ? -2 : -1;
		goto out;
	}
	const char *b64 = json_string_value(json_object_get(json_object_get(j, "results"),
							     "blob"));
	if (!b64 || b64_decode(&blob, b64, strlen(b64)) < 0) {
		snprintf(err, errlen, "registrar sent no usable blob");
		goto out;
	}
	if (tpm_activate_credential(a->tpm, a->ak, a->ek, blob.data, blob.len, &cred) < 0) {
		snprintf(err, errlen, "ActivateCredential failed: %s", tpm_error(a->tpm));
		r = -2;
		goto out;
	}
	key = b64_encode_str(cred.data, cred.len);
	if (!key || crypto_hmac(EVP_sha384(), key, strlen(key), a->uuid,
				strlen(a->uuid), &tag) < 0 ||
	    !(hex = hex_encode_str(tag.data, tag.len))) {
		snprintf(err, errlen, "HMAC failed");
		goto out;
	}
	free(body);
	body = NULL;
	if (!(body = malloc(strlen(hex) + 32)))
		goto out;
	sprintf(body, "{\"auth_tag\":\"%s\"}", hex);
	buf_reset(&out);
	st = http_fetch(hc, "PUT", url, body, strlen(body), &out, msg, sizeof msg);
	if (st != 200) {
		snprintf(err, errlen, "activation %s (HTTP %d)", st < 0 ? msg : "refused", st);
		r = st == 400 ? -2 : -1;
		goto out;
	}
	log_info("registered with %s as %s (API v%s) and activated", base,
		 a->uuid, version);
	r = 0;
out:
	if (key) {
		secure_wipe(key, strlen(key));
		free(key);
	}
	free(hex);
	free(body);
	json_decref(j);
	buf_free(&out);
	buf_free(&blob);
	buf_free(&cred);
	buf_free(&tag);
	return r;
}

int agent_register(struct agent *a, char *err, size_t errlen)
{
	char base[300];
	struct http_client_config hc = { NULL, 0, 30000, 1 << 20, NULL };
	snprintf(base, sizeof base, "http://%s:%lld", config_str(a->cfg, "registrar_ip"),
		 config_int(a->cfg, "registrar_port"));
	long long tries = config_int(a->cfg, "registration_retries");
	long long delay = config_int(a->cfg, "registration_delay_ms");
	for (long long i = 0;; i++) {
		int r = attempt(a, base, &hc, err, errlen);
		if (r == 0 || r == -2 || i >= tries)
			return r == 0 ? 0 : -1;
		log_warn("registration failed: %s; retrying in %lld ms", err, delay);
		struct timespec ts = { delay / 1000, (delay % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		if (delay < 300000)
			delay *= 2;
	}
}
