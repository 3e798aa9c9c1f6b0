/* The agent's keys: EK (derived by the TPM each start), AK (created once,
 * kept as a wrapped blob in the state directory), NK (the RSA payload key)
 * and the mTLS server certificate. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "crypto/crypto.h"
#include "tpm/tpm_public.h"
#include "util/encode.h"
#include "util/file.h"
#include "util/log.h"
#include "util/name.h"

static void state_path(const struct agent *a, char *out, size_t n, const char *file)
{
	snprintf(out, n, "%s/%s", a->state_dir, file);
}

static int parse_algs(struct agent *a, char *err, size_t errlen)
{
	const char *hash = config_str(a->cfg, "tpm_hash_alg");
	const char *enc = config_str(a->cfg, "tpm_encryption_alg");
	const char *sign = config_str(a->cfg, "tpm_signing_alg");
	TPM2_ALG_ID id;
	if (tpm_alg_from_name(hash, &a->hash_alg) < 0 || !tpm_hash_size(a->hash_alg)) {
		snprintf(err, errlen, "tpm_hash_alg: '%s' is not sha1, sha256, "
			 "sha384 or sha512", hash);
		return -1;
	}
	if (strcmp(enc, "rsa") == 0 || strcmp(enc, "rsa2048") == 0) {
		a->ek_alg = TPM_ALG_KIND_RSA;
	} else if (strcmp(enc, "ecc") == 0 || strcmp(enc, "ecc256") == 0) {
		a->ek_alg = TPM_ALG_KIND_ECC;
	} else {
		snprintf(err, errlen, "tpm_encryption_alg: '%s' is not rsa or ecc", enc);
		return -1;
	}
	if (tpm_alg_from_name(sign, &id) < 0 ||
	    (id != TPM2_ALG_RSASSA && id != TPM2_ALG_RSAPSS && id != TPM2_ALG_ECDSA)) {
		snprintf(err, errlen, "tpm_signing_alg: '%s' is not rsassa, rsapss "
			 "or ecdsa", sign);
		return -1;
	}
	a->sign_alg = id;
	return 0;
}

/* Keylime's "hash_ek": the SHA-256 of the EK's public key as SPKI PEM. */
static int uuid_from_ek(struct agent *a, char *err, size_t errlen)
{
	struct tpm_public ek;
	struct buf pem = BUF_INIT, digest = BUF_INIT;
	int r = -1;
	if (tpm_public_parse(a->ek_pub.data, a->ek_pub.len, &ek, err, errlen) < 0)
		return -1;
	if (crypto_key_to_pem(ek.pkey, 0, &pem) == 0 &&
	    crypto_digest(EVP_sha256(), pem.data, pem.len, &digest) == 0) {
		char *hex = hex_encode_str(digest.data, digest.len);
		if (hex) {
			snprintf(a->uuid, sizeof a->uuid, "%s", hex);
			free(hex);
			r = 0;
		}
	}
	if (r < 0)
		snprintf(err, errlen, "cannot hash the EK");
	tpm_public_free(&ek);
	buf_free(&pem);
	buf_free(&digest);
	return r;
}

/* "generate": a random version 4 UUID, kept in the state directory so the
 * agent keeps its identity across restarts. */
static int uuid_generated(struct agent *a, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct buf b = BUF_INIT;
	state_path(a, path, sizeof path, "uuid");
	if (file_read(path, 64, &b) == 0 && b.len >= 36) {
		snprintf(a->uuid, sizeof a->uuid, "%.36s", (char *)b.data);
		buf_free(&b);
		return 0;
	}
	buf_free(&b);
	uint8_t r[16];
	if (crypto_random(r, sizeof r) < 0) {
		snprintf(err, errlen, "random number generator failed");
		return -1;
	}
	r[6] = (r[6] & 0x0f) | 0x40;
	r[8] = (r[8] & 0x3f) | 0x80;
	snprintf(a->uuid, sizeof a->uuid,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10],
		 r[11], r[12], r[13], r[14], r[15]);
	if (file_write_atomic(path, a->uuid, strlen(a->uuid), 0600) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int resolve_uuid(struct agent *a, char *err, size_t errlen)
{
	const char *u = config_str(a->cfg, "uuid");
	if (strcmp(u, "hash_ek") == 0)
		return uuid_from_ek(a, err, errlen);
	if (strcmp(u, "generate") == 0)
		return uuid_generated(a, err, errlen);
	if (!name_valid(u, AGENT_UUID_MAX)) {
		snprintf(err, errlen, "uuid: '%s' is not an agent id (letters, digits, "
			 "'-', '_', '.'), 'hash_ek' or 'generate'", u);
		return -1;
	}
	snprintf(a->uuid, sizeof a->uuid, "%s", u);
	return 0;
}

/* Does a saved AK match the configured algorithms? A changed configuration
 * gets a new AK rather than quotes the verifier would not expect. */
static int ak_matches(const struct agent *a, const struct buf *pub)
{
	struct tpm_public p;
	char err[128];
	if (tpm_public_parse(pub->data, pub->len, &p, err, sizeof err) < 0)
		return 0;
	const TPMT_PUBLIC *t = &p.area;
	int ok;
	if (t->type == TPM2_ALG_RSA)
		ok = t->parameters.rsaDetail.scheme.scheme == a->sign_alg &&
		     t->parameters.rsaDetail.scheme.details.anySig.hashAlg == a->hash_alg;
	else
		ok = t->type == TPM2_ALG_ECC &&
		     t->parameters.eccDetail.scheme.scheme == a->sign_alg &&
		     t->parameters.eccDetail.scheme.details.anySig.hashAlg == a->hash_alg;
	tpm_public_free(&p);
	return ok;
}

static int load_or_create_ak(struct agent *a, char *err, size_t errlen)
{
	char pub_path[PATH_MAX], priv_path[PATH_MAX];
	struct buf priv = BUF_INIT;
	int r = -1;
	state_path(a, pub_path, sizeof pub_path, "ak.pub");
	state_path(a, priv_path, sizeof priv_path, "ak.priv");
	if (file_read(pub_path, 4096, &a->ak_pub) == 0 &&
	    file_read(priv_path, 4096, &priv) == 0 && ak_matches(a, &a->ak_pub) &&
	    tpm_ak_load(a->tpm, a->ek, a->ak_pub.data, a->ak_pub.len, priv.data,
			priv.len, &a->ak) == 0) {
		log_info("loaded the attestation key from %s", pub_path);
		r = 0;
		goto out;
	}
	if (a->ak_pub.len)
		log_warn("saved attestation key unusable (%s); creating a new one",
			 tpm_error(a->tpm)[0] ? tpm_error(a->tpm) : "algorithms changed");
	buf_reset(&a->ak_pub);
	buf_reset(&priv);
	if (tpm_ak_create(a->tpm, a->ek, a->hash_alg, a->sign_alg, &a->ak_pub, &priv) < 0 ||
	    tpm_ak_load(a->tpm, a->ek, a->ak_pub.data, a->ak_pub.len, priv.data,
			priv.len, &a->ak) < 0) {
		snprintf(err, errlen, "cannot create the attestation key: %s",
			 tpm_error(a->tpm));
		goto out;
	}
	/* Private blob first: a public part alone would not load. */
	if (file_write_atomic(priv_path, priv.data, priv.len, 0600) < 0 ||
	    file_write_atomic(pub_path, a->ak_pub.data, a->ak_pub.len, 0600) < 0) {
		snprintf(err, errlen, "cannot save the attestation key in %s: %s",
			 a->state_dir, strerror(errno));
		goto out;
	}
	log_info("created a new attestation key (%s, %s)",
		 tpm_alg_name(a->sign_alg), tpm_alg_name(a->hash_alg));
	r = 0;
out:
	buf_free(&priv);
	return r;
}

static int load_or_create_nk(struct agent *a, char *err, size_t errlen)
{
	char path[PATH_MAX];
	state_path(a, path, sizeof path, "payload-private.pem");
	if (access(path, F_OK) == 0) {
		a->nk = crypto_key_load(path, err, errlen);
		if (!a->nk)
			return -1;
	} else {
		a->nk = crypto_rsa_generate(2048);
		if (!a->nk || crypto_key_save(path, a->nk) < 0) {
			snprintf(err, errlen, "%s: cannot create the payload key", path);
			return -1;
		}
	}
	if (EVP_PKEY_get_base_id(a->nk) != EVP_PKEY_RSA) {
		snprintf(err, errlen, "%s: the payload key must be RSA", path);
		return -1;
	}
	return crypto_key_to_pem(a->nk, 0, &a->nk_pem);
}

static int load_or_create_mtls(struct agent *a, char *err, size_t errlen)
{
	char cert_path[PATH_MAX], key_path[PATH_MAX];
	if (config_isset(a->cfg, "server_cert")) {
		snprintf(cert_path, sizeof cert_path, "%s", config_str(a->cfg, "server_cert"));
		snprintf(key_path, sizeof key_path, "%s", config_str(a->cfg, "server_key"));
	} else {
		state_path(a, cert_path, sizeof cert_path, "server-cert.crt");
		state_path(a, key_path, sizeof key_path, "server-private.pem");
	}
	X509 *cert = crypto_cert_load(cert_path);
	if (!cert) {
		if (config_isset(a->cfg, "server_cert")) {
			snprintf(err, errlen, "server_cert: %s is not a PEM certificate",
				 cert_path);
			return -1;
		}
		EVP_PKEY *key = crypto_ec_generate("P-256");
		struct crypto_cert_spec spec = {
			a->uuid, config_str(a->cfg, "contact_ip"), "localhost", 365, 0 };
		cert = key ? crypto_cert_issue(key, &spec, NULL, NULL) : NULL;
		if (!cert || crypto_key_save(key_path, key) < 0 ||
		    crypto_cert_save(cert_path, cert) < 0) {
			EVP_PKEY_free(key);
			X509_free(cert);
			snprintf(err, errlen, "cannot create the mTLS certificate in %s",
				 a->state_dir);
			return -1;
		}
		EVP_PKEY_free(key);
		log_info("created a self-signed mTLS certificate for %s", a->uuid);
	}
	int r = crypto_cert_to_pem(cert, &a->mtls_pem);
	X509_free(cert);
	return r;
}

int agent_identity_init(struct agent *a, char *err, size_t errlen)
{
	if (parse_algs(a, err, errlen) < 0)
		return -1;
	const char *tcti = config_str(a->cfg, "tcti");
	if (!(a->tpm = tpm_open(tcti, err, errlen)))
		return -1;
	if (tpm_ek_create(a->tpm, a->ek_alg, &a->ek, &a->ek_pub) < 0) {
		snprintf(err, errlen, "cannot create the EK: %s", tpm_error(a->tpm));
		return -1;
	}
	int c = tpm_ek_cert_read(a->tpm, a->ek_alg, &a->ek_cert);
	if (c < 0) {
		snprintf(err, errlen, "cannot read the EK certificate: %s",
			 tpm_error(a->tpm));
		return -1;
	}
	if (c == 1)
		log_warn("the TPM holds no EK certificate; registering without one");
	if (resolve_uuid(a, err, errlen) < 0 || load_or_create_ak(a, err, errlen) < 0 ||
	    load_or_create_nk(a, err, errlen) < 0)
		return -1;
	if (config_bool(a->cfg, "enable_agent_mtls") &&
	    load_or_create_mtls(a, err, errlen) < 0)
		return -1;
	return 0;
}

void agent_identity_free(struct agent *a)
{
	if (a->tpm) {
		if (a->ak != ESYS_TR_NONE)
			tpm_flush(a->tpm, a->ak);
		if (a->ek != ESYS_TR_NONE)
			tpm_flush(a->tpm, a->ek);
		tpm_close(a->tpm);
	}
	EVP_PKEY_free(a->nk);
	buf_free(&a->ek_pub);
	buf_free(&a->ek_cert);
	buf_free(&a->ak_pub);
	buf_free(&a->nk_pem);
	buf_free(&a->mtls_pem);
}
