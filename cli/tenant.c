/* The operator's side of an enrolment, as keylime_tenant -c add does it:
 *
 *   registrar: the agent's AK, EK (and certificate), address, mTLS cert
 *   EK certificate checked against the TPM vendor CAs (unless told not to)
 *   agent: an identity quote over a fresh nonce, checked against the AK,
 *          PCR 16 bound to its payload key NK
 *   K split into U and V; the payload (with our revocation certificate)
 *          encrypted with K; U and the payload to the agent
 *   verifier: the enrolment with V, the policies and the revocation key
 *   --verify: HMAC(K, challenge) from the agent once V has arrived */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "attest/quote.h"
#include "cli/tenant.h"
#include "crypto/crypto.h"
#include "tpm/tpm.h"
#include "tpm/tpm_public.h"
#include "util/encode.h"
#include "util/error.h"
#include "util/file.h"
#include "util/secure.h"
#include "util/zip.h"

int tenant_init(struct tenant *t, const struct config *cfg, char *err, size_t errlen)
{
	static char cert[PATH_MAX], key[PATH_MAX], ca[PATH_MAX];
	const char *dir = config_str(cfg, "tls_dir");
	memset(t, 0, sizeof *t);
	t->cfg = cfg;
	t->tls.cert_file = config_path_or(cfg, "client_cert", dir, "client.pem", cert, sizeof cert);
	t->tls.key_file = config_path_or(cfg, "client_key", dir, "client.key", key, sizeof key);
	t->tls.ca_file = config_path_or(cfg, "ca_cert", dir, "ca.pem", ca, sizeof ca);
	if (access(t->tls.cert_file, R_OK) != 0 || access(t->tls.key_file, R_OK) != 0) {
		error_set(err, errlen, "no client certificate at %s (set tls_dir, or "
			  "client_cert and client_key)", t->tls.cert_file);
		return -1;
	}
	snprintf(t->verifier, sizeof t->verifier, "https://%s:%lld",
		 config_str(cfg, "verifier_ip"), config_int(cfg, "verifier_port"));
	snprintf(t->registrar, sizeof t->registrar, "https://%s:%lld",
		 config_str(cfg, "registrar_ip"), config_int(cfg, "registrar_tls_port"));
	snprintf(t->version, sizeof t->version, "2.5");
	return 0;
}

const char *tenant_state_name(int s)
{
	static const char *const names[] = {
		"Registered", "Start", "Saved", "Get Quote", "Get Quote (retry)",
		"Provide V", "Provide V (retry)", "Failed", "Terminated",
		"Invalid Quote", "Tenant Quote Failed" };
	return s >= 0 && s <= 10 ? names[s] : "Unknown";
}

/* One request; 2xx gives the status and results, anything else -1 with the
 * peer's own message. */
static int request(const struct http_tls *tls, X509 *pinned, const char *method,
		   const char *url, const char *body, json_t **res, char *err,
		   size_t errlen)
{
	struct buf out = BUF_INIT;
	char why[256];
	int st;
	/* pinned: the agent's own certificate, as the registrar vouched. */
	struct http_client_config c = { tls, 0, 30000, 64 << 20, pinned };
	st = http_fetch(&c, method, url, body, body ? strlen(body) : 0, &out, why,
			sizeof why);
	json_t *j = st > 0 && out.len ? json_loadb((char *)out.data, out.len, 0, NULL) : NULL;
	if (st < 200 || st > 299) {
		const char *msg = json_string_value(json_object_get(j, "status"));
		if (st < 0)
			error_set(err, errlen, "%s", why);
		else
			error_set(err, errlen, "HTTP %d: %s", st, msg ? msg : "(no message)");
		json_decref(j);
		buf_free(&out);
		return -1;
	}
	if (res)
		*res = json_incref(json_object_get(j, "results"));
	json_decref(j);
	buf_free(&out);
	return st;
}

int tenant_verifier(struct tenant *t, const char *method, const char *path,
		    const char *body, json_t **res, char *err, size_t errlen)
{
	char url[1024];
	snprintf(url, sizeof url, "%s/v%s/%s", t->verifier, t->version, path);
	return request(&t->tls, NULL, method, url, body, res, err, errlen);
}

int tenant_registrar(struct tenant *t, const char *method, const char *path,
		     json_t **res, char *err, size_t errlen)
{
	char url[1024];
	snprintf(url, sizeof url, "%s/v%s/%s", t->registrar, t->version, path);
	return request(&t->tls, NULL, method, url, NULL, res, err, errlen);
}

/* The EK certificate must chain to a CA in tpm_cert_store (every PEM file
 * there). TPM vendors' EK certificates carry critical extensions OpenSSL
 * does not handle (the TPM's identity in subjectAltName); the signatures
 * are what matters, so those errors alone are accepted. */
static int ignore_unhandled_critical(int ok, X509_STORE_CTX *x)
{
	if (!ok && X509_STORE_CTX_get_error(x) == X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION)
		return 1;
	return ok;
}

static int check_ek_cert(struct tenant *t, const struct buf *der, char *err, size_t errlen)
{
	const char *dir = config_str(t->cfg, "tpm_cert_store");
	X509 *cert = crypto_cert_from_der(der->data, der->len);
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	DIR *d = opendir(dir);
	int cas = 0, r = -1;
	if (!cert || !store || !ctx) {
		error_set(err, errlen, "the EK certificate does not parse");
		goto out;
	}
	if (!d) {
		error_set(err, errlen, "tpm_cert_store %s: %s", dir, strerror(errno));
		goto out;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[PATH_MAX];
		if (e->d_name[0] == '.' || path_join(path, sizeof path, dir, e->d_name) < 0)
			continue;
		X509 *ca = crypto_cert_load(path);
		if (ca) {
			X509_STORE_add_cert(store, ca);
			X509_free(ca);
			cas++;
		}
	}
	if (!cas) {
		error_set(err, errlen, "tpm_cert_store %s holds no CA certificates", dir);
		goto out;
	}
	X509_STORE_set_verify_cb(store, ignore_unhandled_critical);
	if (X509_STORE_CTX_init(ctx, store, cert, NULL) != 1 || X509_verify_cert(ctx) != 1) {
		error_set(err, errlen, "the EK certificate does not chain to a CA in %s: %s",
			  dir, X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		goto out;
	}
	r = 0;
out:
	if (d)
		closedir(d);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(cert);
	return r;
}

/* Our revocation key and certificate, made once beside the client
 * certificate: the verifier signs notices with the key, agents check them
 * with the certificate we put in every payload. */
static int revocation_pair(struct tenant *t, EVP_PKEY **key, X509 **cert,
			   char *err, size_t errlen)
{
	char kp[PATH_MAX], cp[PATH_MAX];
	const char *dir = config_str(t->cfg, "tls_dir");
	if (path_join(kp, sizeof kp, dir, "revocation.key") < 0 ||
	    path_join(cp, sizeof cp, dir, "revocation.pem") < 0)
		return -1;
	if (access(kp, F_OK) != 0) {
		struct crypto_cert_spec spec = { "Assay revocation notifier", NULL, NULL, 3650, 0 };
		EVP_PKEY *k = crypto_rsa_generate(2048);
		X509 *c = k ? crypto_cert_issue(k, &spec, NULL, NULL) : NULL;
		int ok = c && crypto_key_save(kp, k) == 0 && crypto_cert_save(cp, c) == 0;
		EVP_PKEY_free(k);
		X509_free(c);
		if (!ok) {
			error_set(err, errlen, "cannot create the revocation key in %s", dir);
			return -1;
		}
	}
	*key = crypto_key_load(kp, err, errlen);
	*cert = crypto_cert_load(cp);
	return *key && *cert ? 0 : -1;
}

static int add_tree(struct zip_writer *w, const char *root, const char *rel)
{
	char path[PATH_MAX], name[PATH_MAX];
	if (snprintf(path, sizeof path, "%s%s%s", root, *rel ? "/" : "", rel) >= (int)sizeof path)
		return -1;
	DIR *d = opendir(path);
	if (!d)
		return -1;
	struct dirent *e;
	int r = 0;
	while (r == 0 && (e = readdir(d))) {
		struct stat st;
		char child[PATH_MAX];
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (snprintf(name, sizeof name, "%s%s%s", rel, *rel ? "/" : "",
			     e->d_name) >= (int)sizeof name ||
		    snprintf(child, sizeof child, "%s/%s", root, name) >= (int)sizeof child ||
		    lstat(child, &st) < 0)
			r = -1;
		else if (S_ISDIR(st.st_mode))
			r = add_tree(w, root, name);
		else if (S_ISREG(st.st_mode)) {
			struct buf b = BUF_INIT;
			r = file_read(child, 64 << 20, &b) < 0 ? -1
			    : zip_writer_add(w, name, b.data, b.len);
			buf_free(&b);
		}
	}
	closedir(d);
	return r;
}

/* The payload: the user's file or directory, plus our revocation
 * certificate, as one ZIP (the agent unpacks it). */
static int build_payload(const struct enrolment *e, X509 *rev_cert, struct buf *zip,
			 char *err, size_t errlen)
{
	struct zip_writer w;
	struct buf pem = BUF_INIT;
	memset(&w, 0, sizeof w);
	crypto_cert_to_pem(rev_cert, &pem);
	int r = zip_writer_add(&w, "RevocationNotifier-cert.crt", pem.data, pem.len);
	buf_free(&pem);
	if (r == 0 && e->payload_file) {
		struct buf b = BUF_INIT;
		const char *base = strrchr(e->payload_file, '/');
		base = base ? base + 1 : e->payload_file;
		if (file_read(e->payload_file, 64 << 20, &b) < 0) {
			error_set(err, errlen, "%s: %s", e->payload_file, strerror(errno));
			r = -1;
		} else {
			r = zip_writer_add(&w, base, b.data, b.len);
		}
		buf_free(&b);
	}
	if (r == 0 && e->payload_dir && add_tree(&w, e->payload_dir, "") < 0) {
		error_set(err, errlen, "%s: cannot pack the directory", e->payload_dir);
		r = -1;
	}
	if (zip_writer_finish(&w, zip) < 0 && r == 0) {
		error_set(err, errlen, "cannot build the payload");
		r = -1;
	}
	return r;
}

static void random_token(char *out, size_t n)
{
	static const char alnum[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	uint8_t r[64];
	crypto_random(r, sizeof r);
	for (size_t i = 0; i + 1 < n && i < sizeof r; i++)
		out[i] = alnum[r[i] % 62];
	out[n - 1] = 0;
}

struct agent_view {
	char base[300];		/* http(s)://ip:port/v<ver> */
	X509 *cert;		/* pinned, or NULL for plain HTTP */
	json_t *rec;		/* the registrar's record */
	EVP_PKEY *nk;
};

/* Asks the agent for an identity quote and checks it: AK signature over
 * our nonce, PCR 16 bound to the payload key it reports. */
static int identity(struct tenant *t, struct agent_view *v, char *err, size_t errlen)
{
	char nonce[21], url[512], why[256];
	json_t *res = NULL;
	struct quote q;
	struct tpm_public ak;
	struct pcr_values pv;
	struct buf akb = BUF_INIT;
	int r = -1;
	memset(&q, 0, sizeof q);
	memset(&ak, 0, sizeof ak);
	random_token(nonce, sizeof nonce);
	snprintf(url, sizeof url, "%s/quotes/identity?nonce=%s", v->base, nonce);
	if (request(&t->tls, v->cert, "GET", url, NULL, &res, why, sizeof why) < 0) {
		error_set(err, errlen, "agent identity quote: %s", why);
		return -1;
	}
	const char *qs = json_string_value(json_object_get(res, "quote"));
	const char *pub = json_string_value(json_object_get(res, "pubkey"));
	const char *akt = json_string_value(json_object_get(v->rec, "aik_tpm"));
	TPM2_ALG_ID bank = TPM2_ALG_SHA256;
	const char *hash = json_string_value(json_object_get(res, "hash_alg"));
	if (!qs || !pub || !akt || !hash || tpm_alg_from_name(hash, &bank) < 0) {
		error_set(err, errlen, "agent identity quote: incomplete answer");
		goto out;
	}
	if (b64_decode(&akb, akt, strlen(akt)) < 0 ||
	    tpm_public_parse(akb.data, akb.len, &ak, why, sizeof why) < 0 ||
	    quote_parse(qs, &q, why, sizeof why) < 0 ||
	    quote_verify(&q, ak.pkey, (const uint8_t *)nonce, strlen(nonce), &pv, why,
			 sizeof why) < 0 ||
	    quote_check_data_pcr(&pv, bank, pub, strlen(pub), why, sizeof why) < 0) {
		error_set(err, errlen, "agent identity quote rejected: %s", why);
		goto out;
	}
	if (!(v->nk = crypto_key_from_pem(pub, strlen(pub), 0))) {
		error_set(err, errlen, "agent's payload key is not a PEM public key");
		goto out;
	}
	r = 0;
out:
	quote_free(&q);
	tpm_public_free(&ak);
	buf_free(&akb);
	json_decref(res);
	return r;
}

static int key_challenge(struct tenant *t, struct agent_view *v, const uint8_t *k,
			 char *err, size_t errlen)
{
	char challenge[33], url[512], why[256];
	struct buf mac = BUF_INIT;
	random_token(challenge, sizeof challenge);
	snprintf(url, sizeof url, "%s/keys/verify?challenge=%s", v->base, challenge);
	crypto_hmac(EVP_sha384(), k, 32, challenge, strlen(challenge), &mac);
	char *want = hex_encode_str(mac.data, mac.len);
	buf_free(&mac);
	/* V arrives after the verifier's first good quote: wait for it. */
	for (int i = 0; i < 60; i++) {
		json_t *res = NULL;
		if (request(&t->tls, v->cert, "GET", url, NULL, &res, why, sizeof why) > 0) {
			const char *got = json_string_value(json_object_get(res, "hmac"));
			int ok = got && secure_equal_str(got, want);
			json_decref(res);
			free(want);
			if (!ok)
				error_set(err, errlen, "key challenge: the agent derived another key");
			return ok ? 0 : -1;
		}
		struct timespec ts = { 0, 500 * 1000000L };
		nanosleep(&ts, NULL);
	}
	free(want);
	error_set(err, errlen, "key challenge: no key on the agent after 30 s (%s)", why);
	return -1;
}

int tenant_add(struct tenant *t, const struct enrolment *e, char *err, size_t errlen)
{
	struct agent_view v;
	struct buf ek = BUF_INIT, ekcert = BUF_INIT, zip = BUF_INIT, ct = BUF_INIT,
		   tag = BUF_INIT, uenc = BUF_INIT, rp = BUF_INIT, keypem = BUF_INIT;
	EVP_PKEY *rev_key = NULL;
	X509 *rev_cert = NULL;
	char path[400], url[512], why[256];
	uint8_t k[32], u[32], vh[32];
	int r = -1;
	memset(&v, 0, sizeof v);

	snprintf(path, sizeof path, "agents/%s", e->uuid);
	if (tenant_registrar(t, "GET", path, &v.rec, why, sizeof why) < 0) {
		error_set(err, errlen, "registrar: agent %s: %s", e->uuid, why);
		goto out;
	}
	const char *ekc = json_string_value(json_object_get(v.rec, "ekcert"));
	if (!e->accept_any_ek) {
		struct tpm_public ekp;
		const char *ekt = json_string_value(json_object_get(v.rec, "ek_tpm"));
		if (!ekc || b64_decode(&ekcert, ekc, strlen(ekc)) < 0) {
			error_set(err, errlen, "agent %s has no EK certificate at the registrar; "
				  "--accept-any-ek enrols it anyway", e->uuid);
			goto out;
		}
		if (check_ek_cert(t, &ekcert, err, errlen) < 0)
			goto out;
		if (!ekt || b64_decode(&ek, ekt, strlen(ekt)) < 0 ||
		    tpm_public_parse(ek.data, ek.len, &ekp, why, sizeof why) < 0) {
			error_set(err, errlen, "the registrar's ek_tpm is unusable");
			goto out;
		}
		int m = tpm_public_cert_matches(&ekp, ekcert.data, ekcert.len, why, sizeof why);
		tpm_public_free(&ekp);
		if (m < 0) {
			error_set(err, errlen, "EK certificate does not match the EK: %s", why);
			goto out;
		}
	}
	const char *ip = e->ip ? e->ip : json_string_value(json_object_get(v.rec, "ip"));
	int port = e->port ? e->port : (int)json_integer_value(json_object_get(v.rec, "port"));
	const char *mtls = json_string_value(json_object_get(v.rec, "mtls_cert"));
	if (!ip || port <= 0) {
		error_set(err, errlen, "no address for agent %s: give --ip and --port", e->uuid);
		goto out;
	}
	if (mtls && strcmp(mtls, "disabled") != 0 &&
	    !(v.cert = crypto_cert_from_pem(mtls, strlen(mtls)))) {
		error_set(err, errlen, "the registrar's mtls_cert does not parse");
		goto out;
	}
	/* The agent's API version: its highest that we speak too. */
	char agent_version[16] = "2.5";
	snprintf(url, sizeof url, "%s://%s:%d/version", v.cert ? "https" : "http", ip, port);
	json_t *ver = NULL;
	if (request(&t->tls, v.cert, "GET", url, NULL, &ver, why, sizeof why) > 0) {
		const char *s = json_string_value(json_object_get(ver, "supported_version"));
		if (s && strlen(s) < sizeof agent_version && strcmp(s, "2.5") < 0)
			snprintf(agent_version, sizeof agent_version, "%s", s);
	}
	json_decref(ver);
	snprintf(v.base, sizeof v.base, "%s://%s:%d/v%s", v.cert ? "https" : "http", ip,
		 port, agent_version);
	if (identity(t, &v, err, errlen) < 0 || revocation_pair(t, &rev_key, &rev_cert,
								 err, errlen) < 0)
		goto out;

	/* K = U xor V. */
	crypto_random(k, sizeof k);
	crypto_random(u, sizeof u);
	for (int i = 0; i < 32; i++)
		vh[i] = k[i] ^ u[i];
	if (build_payload(e, rev_cert, &zip, err, errlen) < 0 ||
	    crypto_aes_gcm_encrypt(k, zip.data, zip.len, &ct) < 0 ||
	    crypto_hmac(EVP_sha384(), k, 32, e->uuid, strlen(e->uuid), &tag) < 0 ||
	    crypto_rsa_oaep_encrypt(v.nk, EVP_sha1(), u, 32, &uenc) < 0) {
		if (!*err)
			error_set(err, errlen, "cannot prepare the key halves");
		goto out;
	}
	char *uenc64 = b64_encode_str(uenc.data, uenc.len);
	char *tag_hex = hex_encode_str(tag.data, tag.len);
	char *payload = b64_encode_str(ct.data, ct.len);
	json_t *ub = json_pack("{s:s, s:s, s:s}", "encrypted_key", uenc64, "auth_tag",
			       tag_hex, "payload", payload);
	char *ubs = json_dumps(ub, JSON_COMPACT);
	json_decref(ub);
	free(uenc64);
	free(tag_hex);
	free(payload);
	snprintf(url, sizeof url, "%s/keys/ukey", v.base);
	int st = request(&t->tls, v.cert, "POST", url, ubs, NULL, why, sizeof why);
	free(ubs);
	if (st < 0) {
		error_set(err, errlen, "agent refused U: %s", why);
		goto out;
	}

	if (e->runtime_policy_file &&
	    file_read(e->runtime_policy_file, 64 << 20, &rp) < 0) {
		error_set(err, errlen, "%s: %s", e->runtime_policy_file, strerror(errno));
		goto out;
	}
	char *rp64 = rp.len ? b64_encode_str(rp.data, rp.len) : strdup("");
	char *v64 = b64_encode_str(vh, 32);
	crypto_key_to_pem(rev_key, 1, &keypem);
	json_t *body = json_pack(
		"{s:s, s:i, s:s, s:s, s:s, s:n, s:s, s:s, s:s, s:s, s:[s,s,s], s:[s,s],"
		" s:[s,s,s], s:s, s:s, s:s, s:s}",
		"cloudagent_ip", ip, "cloudagent_port", port,
		"tpm_policy", e->tpm_policy ? e->tpm_policy : "{\"mask\": \"0x0\"}",
		"runtime_policy", rp64,
		"runtime_policy_name", e->runtime_policy_name ? e->runtime_policy_name : "",
		"mb_policy", "mb_policy_name", "", "ima_sign_verification_keys", "",
		"metadata", "{}", "revocation_key", (char *)keypem.data,
		"accept_tpm_hash_algs", "sha512", "sha384", "sha256",
		"accept_tpm_encryption_algs", "ecc", "rsa",
		"accept_tpm_signing_algs", "rsassa", "rsapss", "ecdsa",
		"ak_tpm", json_string_value(json_object_get(v.rec, "aik_tpm")),
		"mtls_cert", mtls ? mtls : "disabled",
		"supported_version", agent_version, "v", v64);
	char *bs = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	secure_wipe(v64, strlen(v64));
	free(v64);
	free(rp64);
	snprintf(path, sizeof path, "agents/%s", e->uuid);
	st = tenant_verifier(t, "POST", path, bs, NULL, why, sizeof why);
	secure_wipe(bs, strlen(bs));
	free(bs);
	if (st < 0) {
		error_set(err, errlen, "verifier refused the enrolment: %s", why);
		goto out;
	}
	if (e->verify && key_challenge(t, &v, k, err, errlen) < 0)
		goto out;
	r = 0;
out:
	secure_wipe(k, sizeof k);
	secure_wipe(u, sizeof u);
	secure_wipe(vh, sizeof vh);
	json_decref(v.rec);
	X509_free(v.cert);
	EVP_PKEY_free(v.nk);
	EVP_PKEY_free(rev_key);
	X509_free(rev_cert);
	buf_free(&ek);
	buf_free(&ekcert);
	buf_free(&zip);
	buf_free(&ct);
	buf_free(&tag);
	buf_free(&uenc);
	buf_free(&rp);
	buf_free(&keypem);
	return r;
}
