/* test_tpm_provider: keyd's TPM provider against a throw-away swtpm.
 *
 * Every result is checked outside the provider: public keys are rebuilt
 * with plain OpenSSL from what export_public gives, TPM signatures are
 * verified with them, OpenSSL encrypts what the TPM decrypts (and the
 * reverse for imported keys), ECDH secrets are compared with OpenSSL's,
 * and key attestation runs against a credential made in software
 * (lib/tpm/credential.c) from the EK public key as a verifier would
 * rebuild it. Also: corrupted blobs, the storage key surviving a restart,
 * owner hierarchy authorisation, concurrent use. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <tss2/tss2_esys.h>

#include "config/config.h"
#include "keyd/provider.h"
#include "tests/lib/swtpm.h"
#include "tests/lib/tpub.h"
#include "tpm/credential.h"
#include "tpm/tpm.h"
#include "tpm/tpm_public.h"
#include "util/buf.h"
#include "util/check.h"

static const struct config_option test_options[] = {
	{ "tpm_tcti", CONFIG_STRING, "device:/dev/tpmrm0", "TCTI.", 0, 0 },
	{ "tpm_owner_auth", CONFIG_STRING, NULL, "Owner password.", 0, 0 },
	{ 0 },
};

static const struct config_program test_prog = {
	.name = "test-tpm-provider",
	.section = "tpmprovtest",
	.summary = "exercise the TPM provider",
	.options = test_options,
};

static char dir[64];
static char tcti[256];
static int swtpm_running;
static struct provider prov = { .ops = &provider_tpm };

static void cleanup(void)
{
	char cmd[128];

	if (prov.state)
		provider_tpm.close(&prov);
	if (swtpm_running)
		swtpm_stop(dir);
	if (dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			printf("warning: could not remove %s\n", dir);
	}
}

/* Opens the provider on our swtpm, with an owner password if given. */
static int prov_open(const char *owner_auth, char *err, size_t errlen)
{
	char a0[] = "test", a1[] = "--tpm-tcti", a3[] = "--tpm-owner-auth";
	char auth[128];
	char *argv[6] = { a0, a1, tcti, NULL, NULL, NULL };
	struct config *cfg = NULL;
	int argc = 3, ret;

	if (owner_auth) {
		snprintf(auth, sizeof(auth), "%s", owner_auth);
		argv[argc++] = a3;
		argv[argc++] = auth;
	}
	if (config_load(&test_prog, argc, argv, &cfg, err, errlen) != 0)
		return -1;
	ret = provider_tpm.open(&prov, cfg, err, errlen);
	config_free(cfg);
	return ret;
}

static struct psa_attrs attrs(enum psa_key_type type, int family,
			      uint32_t bits, uint32_t usage,
			      enum psa_alg_kind kind, int variant,
			      enum psa_hash hash)
{
	struct psa_attrs a;

	memset(&a, 0, sizeof(a));
	a.type = type;
	a.family = family;
	a.bits = bits;
	a.usage = usage;
	a.alg.kind = kind;
	a.alg.variant = variant;
	a.alg.hash = hash;
	return a;
}

static struct psa_alg alg_of(enum psa_alg_kind kind, int variant,
			     enum psa_hash hash)
{
	struct psa_alg g;

	memset(&g, 0, sizeof(g));
	g.kind = kind;
	g.variant = variant;
	g.hash = hash;
	return g;
}

#define SIGN_USAGE (PSA_USAGE_SIGN_HASH | PSA_USAGE_VERIFY_HASH)
#define CRYPT_USAGE (PSA_USAGE_ENCRYPT | PSA_USAGE_DECRYPT)

/* ---- OpenSSL, independent of the provider ---- */

static const char *md_name(enum psa_hash h)
{
	switch (h) {
	case PSA_HASH_SHA_1: return "SHA1";
	case PSA_HASH_SHA_256: return "SHA256";
	case PSA_HASH_SHA_384: return "SHA384";
	case PSA_HASH_SHA_512: return "SHA512";
	case PSA_HASH_SHA3_256: return "SHA3-256";
	default: return NULL;
	}
}

static void random_bytes(uint8_t *p, size_t n)
{
	if (RAND_bytes(p, (int)n) != 1)
		abort();
}

/* The exported public key as OpenSSL sees it. */
static EVP_PKEY *ossl_public(const struct psa_attrs *a, const struct buf *b)
{
	const unsigned char *p = b->data;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;
	OSSL_PARAM params[3];
	const char *group;

	if (a->type == PSA_KEY_RSA_PAIR || a->type == PSA_KEY_RSA_PUBLIC) {
		/* For RSA, d2i_PublicKey reads PKCS#1 RSAPublicKey. */
		pk = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)b->len);
		if (pk && p != b->data + b->len) {
			EVP_PKEY_free(pk);
			pk = NULL;
		}
		return pk;
	}
	group = a->bits == 256 ? "P-256" : a->bits == 384 ? "P-384" : NULL;
	if (!group)
		return NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(
		OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(
		OSSL_PKEY_PARAM_PUB_KEY, b->data, b->len);
	params[2] = OSSL_PARAM_construct_end();
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pk = NULL;
	EVP_PKEY_CTX_free(ctx);
	return pk;
}

/* raw r||s -> DER ECDSA-Sig-Value */
static int ecdsa_der(const uint8_t *sig, size_t n, struct buf *der)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)(n / 2), NULL);
	BIGNUM *s = BN_bin2bn(sig + n / 2, (int)(n / 2), NULL);
	unsigned char *out = NULL;
	int len = -1;

	if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
		r = s = NULL;
		len = i2d_ECDSA_SIG(es, &out);
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	if (len <= 0)
		return -1;
	buf_reset(der);
	len = buf_append(der, out, (size_t)len);
	OPENSSL_free(out);
	return len;
}

/* DER ECDSA-Sig-Value -> raw r||s of cs bytes each */
static int ecdsa_raw(const uint8_t *der, size_t n, size_t cs, struct buf *raw)
{
	const unsigned char *p = der;
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
	uint8_t tmp[2 * 66];
	int ok;

	if (!es)
		return -1;
	ok = BN_bn2binpad(ECDSA_SIG_get0_r(es), tmp, (int)cs) == (int)cs &&
	     BN_bn2binpad(ECDSA_SIG_get0_s(es), tmp + cs, (int)cs) == (int)cs;
	ECDSA_SIG_free(es);
	buf_reset(raw);
	return ok ? buf_append(raw, tmp, 2 * cs) : -1;
}

static EVP_PKEY_CTX *sig_ctx(EVP_PKEY *pk, const struct psa_alg *alg,
			     int sign)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	int ok = ctx && (sign ? EVP_PKEY_sign_init(ctx) :
			 EVP_PKEY_verify_init(ctx)) == 1 &&
		 EVP_PKEY_CTX_set_signature_md(ctx,
			EVP_get_digestbyname(md_name(alg->hash))) == 1;

	if (ok && alg->variant == PSA_SIGN_RSA_PKCS1V15)
		ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1;
	if (ok && alg->variant == PSA_SIGN_RSA_PSS)
		ok = EVP_PKEY_CTX_set_rsa_padding(ctx,
				RSA_PKCS1_PSS_PADDING) == 1 &&
		     /* PSA's RSA-PSS: the salt is as long as the hash,
		      * both ways. */
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx,
				RSA_PSS_SALTLEN_DIGEST) == 1;
	if (!ok) {
		EVP_PKEY_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* 1 when OpenSSL accepts the PSA-format signature. */
static int ossl_verify(EVP_PKEY *pk, const struct psa_alg *alg,
		       const uint8_t *hash, size_t n, const struct buf *sig)
{
	EVP_PKEY_CTX *ctx = sig_ctx(pk, alg, 0);
	struct buf der = BUF_INIT;
	int ok = 0;

	if (!ctx)
		return 0;
	if (alg->variant == PSA_SIGN_ECDSA) {
		if (ecdsa_der(sig->data, sig->len, &der) == 0)
			ok = EVP_PKEY_verify(ctx, der.data, der.len, hash,
					     n) == 1;
	} else {
		ok = EVP_PKEY_verify(ctx, sig->data, sig->len, hash, n) == 1;
	}
	buf_free(&der);
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

/* A PSA-format signature made by OpenSSL. */
static int ossl_sign(EVP_PKEY *pk, const struct psa_alg *alg,
		     const uint8_t *hash, size_t n, size_t cs, struct buf *sig)
{
	EVP_PKEY_CTX *ctx = sig_ctx(pk, alg, 1);
	uint8_t tmp[1024];
	size_t len = sizeof(tmp);
	int ret = -1;

	if (ctx && EVP_PKEY_sign(ctx, tmp, &len, hash, n) == 1) {
		buf_reset(sig);
		ret = alg->variant == PSA_SIGN_ECDSA ?
		      ecdsa_raw(tmp, len, cs, sig) : buf_append(sig, tmp, len);
	}
	EVP_PKEY_CTX_free(ctx);
	return ret;
}

static EVP_PKEY_CTX *crypt_ctx(EVP_PKEY *pk, const struct psa_alg *alg,
			       const uint8_t *label, size_t ln, int enc)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	const EVP_MD *md = EVP_get_digestbyname(md_name(alg->hash));
	void *l;
	int ok = ctx && (enc ? EVP_PKEY_encrypt_init(ctx) :
			 EVP_PKEY_decrypt_init(ctx)) == 1;

	if (ok && alg->variant == PSA_ENCRYPT_RSA_PKCS1V15) {
		ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1;
	} else if (ok) {
		ok = EVP_PKEY_CTX_set_rsa_padding(ctx,
				RSA_PKCS1_OAEP_PADDING) == 1 &&
		     EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) == 1 &&
		     EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) == 1;
		if (ok && ln) {
			l = OPENSSL_memdup(label, ln);
			ok = l && EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, l,
								   (int)ln) > 0;
			if (!ok)
				OPENSSL_free(l);
		}
	}
	if (!ok) {
		EVP_PKEY_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static int ossl_encrypt(EVP_PKEY *pk, const struct psa_alg *alg,
			const uint8_t *label, size_t ln, const uint8_t *in,
			size_t n, struct buf *out)
{
	EVP_PKEY_CTX *ctx = crypt_ctx(pk, alg, label, ln, 1);
	uint8_t tmp[1024];
	size_t len = sizeof(tmp);
	int ret = -1;

	if (ctx && EVP_PKEY_encrypt(ctx, tmp, &len, in, n) == 1) {
		buf_reset(out);
		ret = buf_append(out, tmp, len);
	}
	EVP_PKEY_CTX_free(ctx);
	return ret;
}

static int ossl_decrypt(EVP_PKEY *pk, const struct psa_alg *alg,
			const uint8_t *label, size_t ln, const struct buf *in,
			struct buf *out)
{
	EVP_PKEY_CTX *ctx = crypt_ctx(pk, alg, label, ln, 0);
	uint8_t tmp[1024];
	size_t len = sizeof(tmp);
	int ret = -1;

	if (ctx && EVP_PKEY_decrypt(ctx, tmp, &len, in->data, in->len) == 1) {
		buf_reset(out);
		ret = buf_append(out, tmp, len);
	}
	EVP_PKEY_CTX_free(ctx);
	return ret;
}

/* ECDH with OpenSSL: our private key, the peer's PSA public point. */
static int ossl_ecdh(EVP_PKEY *mine, EVP_PKEY *peer, struct buf *out)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, mine, NULL);
	uint8_t z[66];
	size_t zlen = sizeof(z);
	int ret = -1;

	if (ctx && EVP_PKEY_derive_init(ctx) == 1 &&
	    EVP_PKEY_derive_set_peer(ctx, peer) == 1 &&
	    EVP_PKEY_derive(ctx, z, &zlen) == 1) {
		buf_reset(out);
		ret = buf_append(out, z, zlen);
	}
	EVP_PKEY_CTX_free(ctx);
	return ret;
}

/* PSA export formats of an OpenSSL key. */
static int ossl_export_public(EVP_PKEY *pk, struct buf *out)
{
	unsigned char *der = NULL;
	uint8_t pt[200];
	size_t len = 0;
	int n;

	buf_reset(out);
	if (EVP_PKEY_is_a(pk, "RSA")) {
		n = i2d_PublicKey(pk, &der);
		if (n <= 0)
			return -1;
		n = buf_append(out, der, (size_t)n);
		OPENSSL_free(der);
		return n;
	}
	if (EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, pt,
					    sizeof(pt), &len) != 1)
		return -1;
	return buf_append(out, pt, len);
}

static int ossl_export_private(EVP_PKEY *pk, size_t cs, struct buf *out)
{
	unsigned char *der = NULL;
	uint8_t d[66];
	BIGNUM *bn = NULL;
	int n;

	buf_reset(out);
	if (EVP_PKEY_is_a(pk, "RSA")) {
		/* For RSA, i2d_PrivateKey writes PKCS#1 RSAPrivateKey. */
		n = i2d_PrivateKey(pk, &der);
		if (n <= 0)
			return -1;
		n = buf_append(out, der, (size_t)n);
		OPENSSL_clear_free(der, (size_t)n);
		return n;
	}
	if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_PRIV_KEY, &bn) != 1 ||
	    BN_bn2binpad(bn, d, (int)cs) != (int)cs) {
		BN_clear_free(bn);
		return -1;
	}
	BN_clear_free(bn);
	n = buf_append(out, d, cs);
	OPENSSL_cleanse(d, sizeof(d));
	return n;
}

static int buf_eq(const struct buf *a, const struct buf *b)
{
	return a->len == b->len && (a->len == 0 ||
				    memcmp(a->data, b->data, a->len) == 0);
}

/* ---- the provider's operations ---- */

static int gen(const struct psa_attrs *a, struct buf *ref)
{
	buf_reset(ref);
	return provider_tpm.generate(&prov, a, ref);
}

/* Signs a random hash on the TPM; checks it with OpenSSL and with the
 * provider's verify, then a tampered signature with both. */
static void check_sign(const struct psa_attrs *a, const struct buf *ref,
		       const struct psa_alg *alg)
{
	struct buf pub = BUF_INIT, sig = BUF_INIT;
	uint8_t hash[64];
	size_t n = psa_hash_size(alg->hash);
	EVP_PKEY *pk;

	random_bytes(hash, sizeof(hash));
	CHECK_INT(provider_tpm.export_public(&prov, a, ref, &pub), PSA_OK);
	pk = ossl_public(a, &pub);
	CHECK(pk != NULL);
	CHECK_INT(provider_tpm.sign_hash(&prov, a, ref, alg, hash, n, &sig),
		  PSA_OK);
	if (!pk || sig.len == 0)
		goto out;
	if (alg->variant == PSA_SIGN_ECDSA)
		CHECK_INT(sig.len, 2 * ((a->bits + 7) / 8));
	else
		CHECK_INT(sig.len, a->bits / 8);
	CHECK(ossl_verify(pk, alg, hash, n, &sig));
	CHECK_INT(provider_tpm.verify_hash(&prov, a, ref, alg, hash, n,
					   sig.data, sig.len), PSA_OK);
	/* A wrong hash, a damaged signature, a truncated one. */
	hash[0] ^= 1;
	CHECK(!ossl_verify(pk, alg, hash, n, &sig));
	CHECK_INT(provider_tpm.verify_hash(&prov, a, ref, alg, hash, n,
					   sig.data, sig.len),
		  PSA_ERR_INVALID_SIGNATURE);
	hash[0] ^= 1;
	sig.data[sig.len / 2] ^= 0x40;
	CHECK_INT(provider_tpm.verify_hash(&prov, a, ref, alg, hash, n,
					   sig.data, sig.len),
		  PSA_ERR_INVALID_SIGNATURE);
	CHECK_INT(provider_tpm.verify_hash(&prov, a, ref, alg, hash, n,
					   sig.data, sig.len - 1),
		  PSA_ERR_INVALID_SIGNATURE);
	memset(sig.data, 0, sig.len);
	CHECK_INT(provider_tpm.verify_hash(&prov, a, ref, alg, hash, n,
					   sig.data, sig.len),
		  PSA_ERR_INVALID_SIGNATURE);
	memset(sig.data, 0xff, sig.len);
	CHECK_INT(provider_tpm.verify_hash(&prov, a, ref, alg, hash, n,
					   sig.data, sig.len),
		  PSA_ERR_INVALID_SIGNATURE);
	/* The hash must have the algorithm's length. */
	CHECK_INT(provider_tpm.sign_hash(&prov, a, ref, alg, hash, n - 1,
					 &sig), PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(sig.len, 0);
out:
	EVP_PKEY_free(pk);
	buf_free(&pub);
	buf_free(&sig);
}

static void test_info(void)
{
	CHECK_STR(provider_tpm.name, "tpm");
	CHECK_INT(provider_tpm.id, 3);
	CHECK_STR(provider_tpm.uuid, "1e4954a4-ff21-46d3-ab0c-661eeb667e1d");
	CHECK_STR(provider_tpm.description, "TPM provider");
	CHECK_STR(provider_tpm.vendor, "Assay");
	CHECK_INT(provider_tpm.version[0], 0);
	CHECK_INT(provider_tpm.version[1], 1);
	CHECK_INT(provider_tpm.version[2], 0);
	CHECK(provider_tpm.plan == NULL);
	CHECK(provider_tpm.export_key == NULL);
}

static void test_rsa_sign(void)
{
	struct psa_attrs a = attrs(PSA_KEY_RSA_PAIR, 0, 2048, SIGN_USAGE,
				   PSA_ALG_SIGN, PSA_SIGN_RSA_PKCS1V15,
				   PSA_HASH_ANY);
	struct psa_alg pkcs = alg_of(PSA_ALG_SIGN, PSA_SIGN_RSA_PKCS1V15,
				     PSA_HASH_SHA_256);
	struct psa_alg pkcs384 = alg_of(PSA_ALG_SIGN, PSA_SIGN_RSA_PKCS1V15,
					PSA_HASH_SHA_384);
	struct psa_alg pss = alg_of(PSA_ALG_SIGN, PSA_SIGN_RSA_PSS,
				    PSA_HASH_SHA_256);
	struct psa_alg raw = alg_of(PSA_ALG_SIGN, PSA_SIGN_RSA_PKCS1V15_RAW,
				    PSA_HASH_NONE);
	struct psa_alg any = alg_of(PSA_ALG_SIGN, PSA_SIGN_RSA_PKCS1V15,
				    PSA_HASH_ANY);
	struct psa_alg ecdsa = alg_of(PSA_ALG_SIGN, PSA_SIGN_ECDSA,
				      PSA_HASH_SHA_256);
	struct buf ref = BUF_INIT, sig = BUF_INIT;
	uint8_t hash[32] = { 1 };

	CHECK_INT(gen(&a, &ref), PSA_OK);
	CHECK(ref.len > 300);
	check_sign(&a, &ref, &pkcs);
	check_sign(&a, &ref, &pkcs384);
	/* Scheme NULL keys take any RSA scheme per call. */
	check_sign(&a, &ref, &pss);
	CHECK_INT(provider_tpm.sign_hash(&prov, &a, &ref, &raw, hash, 32,
					 &sig), PSA_ERR_NOT_SUPPORTED);
	CHECK_INT(provider_tpm.sign_hash(&prov, &a, &ref, &any, hash, 32,
					 &sig), PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(provider_tpm.sign_hash(&prov, &a, &ref, &ecdsa, hash, 32,
					 &sig), PSA_ERR_INVALID_ARGUMENT);
	/* Destroying leaves nothing in the TPM to remove. */
	CHECK_INT(provider_tpm.destroy(&prov, &a, &ref), PSA_OK);

	/* A PSS key made for PSS. */
	a = attrs(PSA_KEY_RSA_PAIR, 0, 2048, SIGN_USAGE, PSA_ALG_SIGN,
		  PSA_SIGN_RSA_PSS, PSA_HASH_SHA_256);
	CHECK_INT(gen(&a, &ref), PSA_OK);
	check_sign(&a, &ref, &pss);
	buf_free(&ref);
	buf_free(&sig);
}

static void test_rsa_3072(void)
{
	struct psa_attrs a = attrs(PSA_KEY_RSA_PAIR, 0, 3072, SIGN_USAGE,
				   PSA_ALG_SIGN, PSA_SIGN_RSA_PKCS1V15,
				   PSA_HASH_SHA_256);
	struct psa_alg pkcs = alg_of(PSA_ALG_SIGN, PSA_SIGN_RSA_PKCS1V15,
				     PSA_HASH_SHA_256);
	struct buf ref = BUF_INIT;
	int st = gen(&a, &ref);

	CHECK(st == PSA_OK || st == PSA_ERR_NOT_SUPPORTED);
	if (st == PSA_OK)
		check_sign(&a, &ref, &pkcs);
	else
		printf("note: this swtpm has no RSA 3072\n");
	buf_free(&ref);
}

static void test_ecc_sign(void)
{
	struct psa_attrs a = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_SECP_R1, 256,
				   SIGN_USAGE, PSA_ALG_SIGN, PSA_SIGN_ECDSA,
				   PSA_HASH_SHA_256);
	struct psa_alg e256 = alg_of(PSA_ALG_SIGN, PSA_SIGN_ECDSA,
				     PSA_HASH_SHA_256);
	struct psa_alg e384 = alg_of(PSA_ALG_SIGN, PSA_SIGN_ECDSA,
				     PSA_HASH_SHA_384);
	struct psa_alg det = alg_of(PSA_ALG_SIGN, PSA_SIGN_DETERMINISTIC_ECDSA,
				    PSA_HASH_SHA_256);
	struct psa_alg pkcs = alg_of(PSA_ALG_SIGN, PSA_SIGN_RSA_PKCS1V15,
				     PSA_HASH_SHA_256);
	struct buf ref = BUF_INIT, pub = BUF_INIT, sig = BUF_INIT;
	uint8_t hash[32] = { 2 };

	CHECK_INT(gen(&a, &ref), PSA_OK);
	check_sign(&a, &ref, &e256);
	CHECK_INT(provider_tpm.export_public(&prov, &a, &ref, &pub), PSA_OK);
	CHECK_INT(pub.len, 65);
	CHECK_INT(pub.len ? pub.data[0] : -1, 4);
	CHECK_INT(provider_tpm.sign_hash(&prov, &a, &ref, &det, hash, 32,
					 &sig), PSA_ERR_NOT_SUPPORTED);
	CHECK_INT(provider_tpm.sign_hash(&prov, &a, &ref, &pkcs, hash, 32,
					 &sig), PSA_ERR_INVALID_ARGUMENT);
	/* SHA3 is optional in a TPM. */
	{
		struct psa_alg s3 = alg_of(PSA_ALG_SIGN, PSA_SIGN_ECDSA,
					   PSA_HASH_SHA3_256);
		int st = provider_tpm.sign_hash(&prov, &a, &ref, &s3, hash,
						32, &sig);

		CHECK(st == PSA_OK || st == PSA_ERR_NOT_SUPPORTED);
		if (st == PSA_OK)
			check_sign(&a, &ref, &s3);
		else
			printf("note: this swtpm has no SHA3\n");
	}

	a = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_SECP_R1, 384, SIGN_USAGE,
		  PSA_ALG_SIGN, PSA_SIGN_ECDSA, PSA_HASH_SHA_384);
	CHECK_INT(gen(&a, &ref), PSA_OK);
	check_sign(&a, &ref, &e384);
	check_sign(&a, &ref, &e256);
	CHECK_INT(provider_tpm.export_public(&prov, &a, &ref, &pub), PSA_OK);
	CHECK_INT(pub.len, 97);

	/* A key made for deterministic ECDSA could never be used. */
	a.alg.variant = PSA_SIGN_DETERMINISTIC_ECDSA;
	CHECK_INT(gen(&a, &ref), PSA_ERR_NOT_SUPPORTED);
	buf_free(&ref);
	buf_free(&pub);
	buf_free(&sig);
}

static void test_generate_errors(void)
{
	struct psa_attrs a = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_SECP_K1, 256,
				   SIGN_USAGE, PSA_ALG_SIGN, PSA_SIGN_ECDSA,
				   PSA_HASH_SHA_256);
	struct buf ref = BUF_INIT;

	CHECK_INT(gen(&a, &ref), PSA_ERR_NOT_SUPPORTED);
	a = attrs(PSA_KEY_RSA_PAIR, 0, 0, SIGN_USAGE, PSA_ALG_SIGN,
		  PSA_SIGN_RSA_PKCS1V15, PSA_HASH_SHA_256);
	CHECK_INT(gen(&a, &ref), PSA_ERR_INVALID_ARGUMENT);
	a.bits = 1000;
	CHECK_INT(gen(&a, &ref), PSA_ERR_NOT_SUPPORTED);
	a.bits = 8192;
	CHECK_INT(gen(&a, &ref), PSA_ERR_NOT_SUPPORTED);
	a = attrs(PSA_KEY_AES, 0, 128, PSA_USAGE_ENCRYPT, PSA_ALG_NONE, 0, 0);
	CHECK_INT(gen(&a, &ref), PSA_ERR_NOT_SUPPORTED);
	CHECK_INT(ref.len, 0);
	buf_free(&ref);
}

/* OpenSSL encrypts, the TPM decrypts; the TPM encrypts, the TPM and
 * nobody else decrypts. */
static void test_rsa_crypt(void)
{
	static const uint8_t salt[] = "assay label";	/* NUL included */
	struct psa_attrs a = attrs(PSA_KEY_RSA_PAIR, 0, 2048, CRYPT_USAGE,
				   PSA_ALG_ENCRYPT, PSA_ENCRYPT_RSA_OAEP,
				   PSA_HASH_SHA_256);
	struct psa_alg oaep = alg_of(PSA_ALG_ENCRYPT, PSA_ENCRYPT_RSA_OAEP,
				     PSA_HASH_SHA_256);
	struct psa_alg oaep1 = alg_of(PSA_ALG_ENCRYPT, PSA_ENCRYPT_RSA_OAEP,
				      PSA_HASH_SHA_1);
	struct psa_alg pkcs = alg_of(PSA_ALG_ENCRYPT, PSA_ENCRYPT_RSA_PKCS1V15,
				     PSA_HASH_NONE);
	struct buf ref = BUF_INIT, pub = BUF_INIT, ct = BUF_INIT;
	struct buf pt = BUF_INIT, want = BUF_INIT;
	uint8_t msg[200];
	size_t sn = sizeof(salt) - 1;	/* without the NUL */
	EVP_PKEY *pk;
	int st;

	random_bytes(msg, sizeof(msg));
	buf_append(&want, msg, 100);
	CHECK_INT(gen(&a, &ref), PSA_OK);
	CHECK_INT(provider_tpm.export_public(&prov, &a, &ref, &pub), PSA_OK);
	pk = ossl_public(&a, &pub);
	CHECK(pk != NULL);
	if (!pk)
		goto out;

	/* OAEP without a label. */
	CHECK_INT(ossl_encrypt(pk, &oaep, NULL, 0, msg, 100, &ct), 0);
	CHECK_INT(provider_tpm.asymmetric_decrypt(&prov, &a, &ref, &oaep,
		ct.data, ct.len, NULL, 0, &pt), PSA_OK);
	CHECK(buf_eq(&pt, &want));
	/* With a label: the TPM's is the salt and a NUL. */
	CHECK_INT(ossl_encrypt(pk, &oaep, salt, sizeof(salt), msg, 100, &ct),
		  0);
	CHECK_INT(provider_tpm.asymmetric_decrypt(&prov, &a, &ref, &oaep,
		ct.data, ct.len, salt, sn, &pt), PSA_OK);
	CHECK(buf_eq(&pt, &want));
	CHECK_INT(provider_tpm.asymmetric_decrypt(&prov, &a, &ref, &oaep,
		ct.data, ct.len, salt, sizeof(salt), &pt), PSA_OK);
	CHECK(buf_eq(&pt, &want));
	/* The wrong label, a damaged ciphertext: bad padding. */
	CHECK_INT(provider_tpm.asymmetric_decrypt(&prov, &a, &ref, &oaep,
		ct.data, ct.len, salt, sn - 1, &pt), PSA_ERR_INVALID_PADDING);
	CHECK_INT(pt.len, 0);
	ct.data[10] ^= 1;
	CHECK_INT(provider_tpm.asymmetric_decrypt(&prov, &a, &ref, &oaep,
		ct.data, ct.len, salt, sn, &pt), PSA_ERR_INVALID_PADDING);
	CHECK_INT(provider_tpm.asymmetric_decrypt(&prov, &a, &ref, &oaep,
		ct.data, ct.len - 1, salt, sn, &pt), PSA_ERR_INVALID_ARGUMENT);
	/* OAEP with SHA-1, per call. */
	CHECK_INT(ossl_encrypt(pk, &oaep1, NULL, 0, msg, 100, &ct), 0);
	CHECK_INT(provider_tpm.asymmetric_decrypt(&prov, &a, &ref, &oaep1,
		ct.data, ct.len, NULL, 0, &pt), PSA_OK);
	CHECK(buf_eq(&pt, &want));

	/* The TPM encrypts; OAEP is randomised, so two results differ. */
	CHECK_INT(provider_tpm.asymmetric_encrypt(&prov, &a, &ref, &oaep,
		msg, 100, salt, sn, &ct), PSA_OK);
	CHECK_INT(ct.len, 256);
	CHECK_INT(provider_tpm.asymmetric_decrypt(&prov, &a, &ref, &oaep,
		ct.data, ct.len, salt, sn, &pt), PSA_OK);
	CHECK(buf_eq(&pt, &want));
	/* A label longer than a TPM takes (TPM2B_DATA, NUL included). */
	{
		uint8_t big[70];

		memset(big, 'a', sizeof(big));
		CHECK_INT(provider_tpm.asymmetric_encrypt(&prov, &a, &ref,
			&oaep, msg, 10, big, 63, &ct), PSA_OK);
		CHECK_INT(provider_tpm.asymmetric_decrypt(&prov, &a, &ref,
			&oaep, ct.data, ct.len, big, 63, &pt), PSA_OK);
		CHECK(pt.len == 10 && !memcmp(pt.data, msg, 10));
		CHECK_INT(provider_tpm.asymmetric_encrypt(&prov, &a, &ref,
			&oaep, msg, 10, big, 64, &ct), PSA_ERR_NOT_SUPPORTED);
	}
	/* Too long for OAEP-SHA256 with 2048 bits: 256 - 66 = 190 max. */
	CHECK_INT(provider_tpm.asymmetric_encrypt(&prov, &a, &ref, &oaep,
		msg, 191, NULL, 0, &ct), PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(provider_tpm.asymmetric_encrypt(&prov, &a, &ref, &oaep,
		msg, 190, NULL, 0, &ct), PSA_OK);

	/* PKCS#1 v1.5 both ways; it takes no salt. */
	CHECK_INT(ossl_encrypt(pk, &pkcs, NULL, 0, msg, 100, &ct), 0);
	CHECK_INT(provider_tpm.asymmetric_decrypt(&prov, &a, &ref, &pkcs,
		ct.data, ct.len, NULL, 0, &pt), PSA_OK);
	CHECK(buf_eq(&pt, &want));
	CHECK_INT(provider_tpm.asymmetric_decrypt(&prov, &a, &ref, &pkcs,
		ct.data, ct.len, salt, sn, &pt), PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(provider_tpm.asymmetric_encrypt(&prov, &a, &ref, &pkcs,
		msg, 100, NULL, 0, &ct), PSA_OK);
	CHECK_INT(provider_tpm.asymmetric_decrypt(&prov, &a, &ref, &pkcs,
		ct.data, ct.len, NULL, 0, &pt), PSA_OK);
	CHECK(buf_eq(&pt, &want));
	/* An OAEP ciphertext is not valid PKCS#1 v1.5. (A TPM doing
	 * implicit rejection, as OpenSSL 3.2 does, answers with random
	 * bytes instead: never the message.) */
	CHECK_INT(ossl_encrypt(pk, &oaep, NULL, 0, msg, 100, &ct), 0);
	st = provider_tpm.asymmetric_decrypt(&prov, &a, &ref, &pkcs, ct.data,
					     ct.len, NULL, 0, &pt);
	CHECK(st == PSA_ERR_INVALID_PADDING ||
	      (st == PSA_OK && !buf_eq(&pt, &want)));

	/* A decryption key cannot sign: the TPM object was made so. */
	{
		struct psa_alg s = alg_of(PSA_ALG_SIGN, PSA_SIGN_RSA_PKCS1V15,
					  PSA_HASH_SHA_256);
		uint8_t h[32] = { 0 };

		CHECK_INT(provider_tpm.sign_hash(&prov, &a, &ref, &s, h, 32,
						 &ct), PSA_ERR_NOT_PERMITTED);
	}
out:
	EVP_PKEY_free(pk);
	buf_free(&ref);
	buf_free(&pub);
	buf_free(&ct);
	buf_free(&pt);
	buf_free(&want);
}

/* Public keys made by OpenSSL, imported: the TPM verifies OpenSSL's
 * signatures and encrypts for OpenSSL's private key. */
static void test_import_public(void)
{
	struct psa_attrs a = attrs(PSA_KEY_RSA_PUBLIC, 0, 0,
				   PSA_USAGE_VERIFY_HASH | PSA_USAGE_ENCRYPT,
				   PSA_ALG_SIGN, PSA_SIGN_RSA_PSS,
				   PSA_HASH_SHA_256);
	struct psa_alg pss = alg_of(PSA_ALG_SIGN, PSA_SIGN_RSA_PSS,
				    PSA_HASH_SHA_256);
	struct psa_alg e256 = alg_of(PSA_ALG_SIGN, PSA_SIGN_ECDSA,
				     PSA_HASH_SHA_256);
	struct psa_alg oaep = alg_of(PSA_ALG_ENCRYPT, PSA_ENCRYPT_RSA_OAEP,
				     PSA_HASH_SHA_256);
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	struct buf data = BUF_INIT, ref = BUF_INIT, out = BUF_INIT;
	struct buf sig = BUF_INIT, pt = BUF_INIT;
	uint8_t hash[32], msg[50];

	random_bytes(hash, sizeof(hash));
	random_bytes(msg, sizeof(msg));
	CHECK(rsa && ec);
	CHECK_INT(ossl_export_public(rsa, &data), 0);
	CHECK_INT(provider_tpm.import(&prov, &a, data.data, data.len, &ref),
		  PSA_OK);
	CHECK_INT(provider_tpm.export_public(&prov, &a, &ref, &out), PSA_OK);
	CHECK(buf_eq(&out, &data));
	CHECK_INT(ossl_sign(rsa, &pss, hash, 32, 0, &sig), 0);
	CHECK_INT(provider_tpm.verify_hash(&prov, &a, &ref, &pss, hash, 32,
					   sig.data, sig.len), PSA_OK);
	sig.data[5] ^= 1;
	CHECK_INT(provider_tpm.verify_hash(&prov, &a, &ref, &pss, hash, 32,
					   sig.data, sig.len),
		  PSA_ERR_INVALID_SIGNATURE);
	CHECK_INT(provider_tpm.sign_hash(&prov, &a, &ref, &pss, hash, 32,
					 &sig), PSA_ERR_NOT_PERMITTED);
	CHECK_INT(provider_tpm.asymmetric_encrypt(&prov, &a, &ref, &oaep,
		msg, sizeof(msg), (const uint8_t *)"x", 1, &out), PSA_OK);
	CHECK_INT(ossl_decrypt(rsa, &oaep, (const uint8_t *)"x", 2, &out,
			       &pt), 0);
	CHECK(pt.len == sizeof(msg) && !memcmp(pt.data, msg, sizeof(msg)));
	/* The stated size must match; the DER must be exact. */
	a.bits = 3072;
	CHECK_INT(provider_tpm.import(&prov, &a, data.data, data.len, &ref),
		  PSA_ERR_INVALID_ARGUMENT);
	a.bits = 2048;
	CHECK_INT(provider_tpm.import(&prov, &a, data.data, data.len - 1,
				      &ref), PSA_ERR_INVALID_ARGUMENT);
	buf_append_u8(&data, 0);
	CHECK_INT(provider_tpm.import(&prov, &a, data.data, data.len, &ref),
		  PSA_ERR_INVALID_ARGUMENT);

	a = attrs(PSA_KEY_ECC_PUBLIC, PSA_ECC_SECP_R1, 256,
		  PSA_USAGE_VERIFY_HASH, PSA_ALG_SIGN, PSA_SIGN_ECDSA,
		  PSA_HASH_SHA_256);
	CHECK_INT(ossl_export_public(ec, &data), 0);
	CHECK_INT(data.len, 65);
	CHECK_INT(provider_tpm.import(&prov, &a, data.data, data.len, &ref),
		  PSA_OK);
	CHECK_INT(provider_tpm.export_public(&prov, &a, &ref, &out), PSA_OK);
	CHECK(buf_eq(&out, &data));
	CHECK_INT(ossl_sign(ec, &e256, hash, 32, 32, &sig), 0);
	CHECK_INT(provider_tpm.verify_hash(&prov, &a, &ref, &e256, hash, 32,
					   sig.data, sig.len), PSA_OK);
	hash[0] ^= 1;
	CHECK_INT(provider_tpm.verify_hash(&prov, &a, &ref, &e256, hash, 32,
					   sig.data, sig.len),
		  PSA_ERR_INVALID_SIGNATURE);
	/* A point off the curve; a compressed point; the wrong curve. */
	data.data[64] ^= 1;
	CHECK_INT(provider_tpm.import(&prov, &a, data.data, data.len, &ref),
		  PSA_ERR_INVALID_ARGUMENT);
	data.data[64] ^= 1;
	data.data[0] = 2;
	CHECK_INT(provider_tpm.import(&prov, &a, data.data, 33, &ref),
		  PSA_ERR_INVALID_ARGUMENT);
	data.data[0] = 4;
	a.bits = 384;
	CHECK_INT(provider_tpm.import(&prov, &a, data.data, data.len, &ref),
		  PSA_ERR_INVALID_ARGUMENT);
	a.bits = 0;	/* from the data */
	CHECK_INT(provider_tpm.import(&prov, &a, data.data, data.len, &ref),
		  PSA_OK);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
	buf_free(&data);
	buf_free(&ref);
	buf_free(&out);
	buf_free(&sig);
	buf_free(&pt);
}

/* Key pairs made by OpenSSL, imported with TPM2_Import: the TPM signs
 * for OpenSSL's public key and decrypts what OpenSSL encrypted. */
static void test_import_pair(void)
{
	struct psa_attrs a = attrs(PSA_KEY_RSA_PAIR, 0, 2048,
				   SIGN_USAGE | CRYPT_USAGE, PSA_ALG_SIGN,
				   PSA_SIGN_RSA_PKCS1V15, PSA_HASH_SHA_256);
	struct psa_alg pkcs = alg_of(PSA_ALG_SIGN, PSA_SIGN_RSA_PKCS1V15,
				     PSA_HASH_SHA_256);
	struct psa_alg e384 = alg_of(PSA_ALG_SIGN, PSA_SIGN_ECDSA,
				     PSA_HASH_SHA_384);
	struct psa_alg oaep = alg_of(PSA_ALG_ENCRYPT, PSA_ENCRYPT_RSA_OAEP,
				     PSA_HASH_SHA_256);
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	struct buf data = BUF_INIT, ref = BUF_INIT, out = BUF_INIT;
	struct buf sig = BUF_INIT, pt = BUF_INIT, pub = BUF_INIT;
	uint8_t hash[48], msg[64];

	random_bytes(hash, sizeof(hash));
	random_bytes(msg, sizeof(msg));
	CHECK(rsa && ec);
	CHECK_INT(ossl_export_private(rsa, 0, &data), 0);
	CHECK_INT(provider_tpm.import(&prov, &a, data.data, data.len, &ref),
		  PSA_OK);
	CHECK_INT(provider_tpm.export_public(&prov, &a, &ref, &out), PSA_OK);
	CHECK_INT(ossl_export_public(rsa, &pub), 0);
	CHECK(buf_eq(&out, &pub));
	CHECK_INT(provider_tpm.sign_hash(&prov, &a, &ref, &pkcs, hash, 32,
					 &sig), PSA_OK);
	CHECK(ossl_verify(rsa, &pkcs, hash, 32, &sig));
	CHECK_INT(ossl_encrypt(rsa, &oaep, NULL, 0, msg, sizeof(msg), &out),
		  0);
	CHECK_INT(provider_tpm.asymmetric_decrypt(&prov, &a, &ref, &oaep,
		out.data, out.len, NULL, 0, &pt), PSA_OK);
	CHECK(pt.len == sizeof(msg) && !memcmp(pt.data, msg, sizeof(msg)));
	/* Garbage and a truncated key are refused. */
	CHECK_INT(provider_tpm.import(&prov, &a, data.data, data.len - 3,
				      &ref), PSA_ERR_INVALID_ARGUMENT);
	a.bits = 3072;
	CHECK_INT(provider_tpm.import(&prov, &a, data.data, data.len, &ref),
		  PSA_ERR_INVALID_ARGUMENT);

	a = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_SECP_R1, 384, SIGN_USAGE,
		  PSA_ALG_SIGN, PSA_SIGN_ECDSA, PSA_HASH_SHA_384);
	CHECK_INT(ossl_export_private(ec, 48, &data), 0);
	CHECK_INT(provider_tpm.import(&prov, &a, data.data, data.len, &ref),
		  PSA_OK);
	CHECK_INT(provider_tpm.export_public(&prov, &a, &ref, &out), PSA_OK);
	CHECK_INT(ossl_export_public(ec, &pub), 0);
	CHECK(buf_eq(&out, &pub));
	CHECK_INT(provider_tpm.sign_hash(&prov, &a, &ref, &e384, hash, 48,
					 &sig), PSA_OK);
	CHECK(ossl_verify(ec, &e384, hash, 48, &sig));
	/* The wrong length for the curve, a zero scalar. */
	CHECK_INT(provider_tpm.import(&prov, &a, data.data, 47, &ref),
		  PSA_ERR_INVALID_ARGUMENT);
	memset(data.data, 0, data.len);
	CHECK_INT(provider_tpm.import(&prov, &a, data.data, data.len, &ref),
		  PSA_ERR_INVALID_ARGUMENT);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
	buf_free(&data);
	buf_free(&ref);
	buf_free(&out);
	buf_free(&sig);
	buf_free(&pt);
	buf_free(&pub);
}

/* Raw ECDH on the TPM against OpenSSL's on the other side. */
static void test_ecdh(void)
{
	struct psa_attrs a = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_SECP_R1, 256,
				   PSA_USAGE_DERIVE, PSA_ALG_KEY_AGREEMENT,
				   PSA_KA_ECDH, PSA_HASH_NONE);
	struct psa_alg ka = alg_of(PSA_ALG_KEY_AGREEMENT, PSA_KA_ECDH,
				   PSA_HASH_NONE);
	EVP_PKEY *peer = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *tpmpub = NULL;
	struct buf ref = BUF_INIT, pub = BUF_INIT, peerpub = BUF_INIT;
	struct buf z = BUF_INIT, want = BUF_INIT;

	CHECK_INT(gen(&a, &ref), PSA_OK);
	CHECK_INT(provider_tpm.export_public(&prov, &a, &ref, &pub), PSA_OK);
	tpmpub = ossl_public(&a, &pub);
	CHECK(peer && tpmpub);
	if (!peer || !tpmpub)
		goto out;
	CHECK_INT(ossl_export_public(peer, &peerpub), 0);
	CHECK_INT(provider_tpm.raw_key_agreement(&prov, &a, &ref, &ka,
		peerpub.data, peerpub.len, &z), PSA_OK);
	CHECK_INT(ossl_ecdh(peer, tpmpub, &want), 0);
	CHECK_INT(z.len, 32);
	CHECK(buf_eq(&z, &want));
	peerpub.data[40] ^= 1;
	CHECK_INT(provider_tpm.raw_key_agreement(&prov, &a, &ref, &ka,
		peerpub.data, peerpub.len, &z), PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(provider_tpm.raw_key_agreement(&prov, &a, &ref, &ka,
		peerpub.data, 33, &z), PSA_ERR_INVALID_ARGUMENT);
out:
	EVP_PKEY_free(peer);
	EVP_PKEY_free(tpmpub);
	buf_free(&ref);
	buf_free(&pub);
	buf_free(&peerpub);
	buf_free(&z);
	buf_free(&want);
}

static void test_random(void)
{
	static const size_t sizes[] = { 0, 1, 47, 48, 49, 1000, 5000 };
	struct buf a = BUF_INIT, b = BUF_INIT;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		CHECK_INT(provider_tpm.generate_random(&prov, sizes[i], &a),
			  PSA_OK);
		CHECK_INT(a.len, sizes[i]);
	}
	CHECK_INT(provider_tpm.generate_random(&prov, 64, &b), PSA_OK);
	CHECK_INT(provider_tpm.generate_random(&prov, 64, &a), PSA_OK);
	CHECK(a.len == 64 && b.len == 64 && memcmp(a.data, b.data, 64));
	CHECK_INT(provider_tpm.generate_random(&prov, ((size_t)1 << 20) + 1,
					       &a), PSA_ERR_INVALID_ARGUMENT);
	buf_free(&a);
	buf_free(&b);
}

/* Blobs the key store might hand back damaged. */
static void test_corrupt(void)
{
	struct psa_attrs a = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_SECP_R1, 256,
				   SIGN_USAGE, PSA_ALG_SIGN, PSA_SIGN_ECDSA,
				   PSA_HASH_SHA_256);
	struct psa_attrs r = attrs(PSA_KEY_RSA_PAIR, 0, 2048, SIGN_USAGE,
				   PSA_ALG_SIGN, PSA_SIGN_RSA_PKCS1V15,
				   PSA_HASH_SHA_256);
	struct psa_alg e256 = alg_of(PSA_ALG_SIGN, PSA_SIGN_ECDSA,
				     PSA_HASH_SHA_256);
	struct buf ref = BUF_INIT, other = BUF_INIT, bad = BUF_INIT;
	struct buf sig = BUF_INIT;
	uint8_t hash[32] = { 3 };
	size_t publen;

	CHECK_INT(gen(&a, &ref), PSA_OK);
	CHECK_INT(gen(&a, &other), PSA_OK);
	if (ref.len < 2 || other.len < ref.len)
		goto out;
	publen = 2 + ((size_t)ref.data[0] << 8 | ref.data[1]);
	CHECK(publen < ref.len);

	/* One flipped bit in the sealed private part. */
	buf_append(&bad, ref.data, ref.len);
	bad.data[bad.len - 5] ^= 0x10;
	CHECK_INT(provider_tpm.sign_hash(&prov, &a, &bad, &e256, hash, 32,
					 &sig), PSA_ERR_DATA_CORRUPT);
	/* This key's public area with another key's private part: the TPM
	 * sees a blob sealed for another object. */
	buf_reset(&bad);
	buf_append(&bad, ref.data, publen);
	buf_append(&bad, other.data + publen, other.len - publen);
	CHECK_INT(provider_tpm.sign_hash(&prov, &a, &bad, &e256, hash, 32,
					 &sig), PSA_ERR_DATA_CORRUPT);
	/* Truncated, trailing garbage, empty. */
	buf_reset(&bad);
	buf_append(&bad, ref.data, ref.len - 1);
	CHECK_INT(provider_tpm.sign_hash(&prov, &a, &bad, &e256, hash, 32,
					 &sig), PSA_ERR_DATA_CORRUPT);
	CHECK_INT(provider_tpm.export_public(&prov, &a, &bad, &sig),
		  PSA_ERR_DATA_CORRUPT);
	buf_reset(&bad);
	buf_append(&bad, ref.data, ref.len);
	buf_append_u8(&bad, 0);
	CHECK_INT(provider_tpm.sign_hash(&prov, &a, &bad, &e256, hash, 32,
					 &sig), PSA_ERR_DATA_CORRUPT);
	buf_reset(&bad);
	CHECK_INT(provider_tpm.sign_hash(&prov, &a, &bad, &e256, hash, 32,
					 &sig), PSA_ERR_DATA_CORRUPT);
	/* A blob that is not what the attributes say. */
	CHECK_INT(provider_tpm.export_public(&prov, &r, &ref, &sig),
		  PSA_ERR_DATA_CORRUPT);
	a.bits = 384;
	CHECK_INT(provider_tpm.export_public(&prov, &a, &ref, &sig),
		  PSA_ERR_DATA_CORRUPT);
	a.bits = 256;
	/* The intact blob still works after all that. */
	CHECK_INT(provider_tpm.sign_hash(&prov, &a, &ref, &e256, hash, 32,
					 &sig), PSA_OK);
out:
	buf_free(&ref);
	buf_free(&other);
	buf_free(&bad);
	buf_free(&sig);
}

/* Several threads at once on one key: the mutex keeps the TPM serial. */
struct thread_arg {
	const struct psa_attrs *a;
	const struct buf *ref;
	EVP_PKEY *pk;
	int failures;
};

static void *sign_thread(void *p)
{
	struct thread_arg *t = p;
	struct psa_alg alg = alg_of(PSA_ALG_SIGN, PSA_SIGN_ECDSA,
				    PSA_HASH_SHA_256);
	struct buf sig = BUF_INIT, rnd = BUF_INIT;
	uint8_t hash[32];

	for (int i = 0; i < 8; i++) {
		random_bytes(hash, sizeof(hash));
		if (provider_tpm.sign_hash(&prov, t->a, t->ref, &alg, hash, 32,
					   &sig) != PSA_OK ||
		    !ossl_verify(t->pk, &alg, hash, 32, &sig) ||
		    provider_tpm.generate_random(&prov, 100, &rnd) != PSA_OK ||
		    rnd.len != 100)
			t->failures++;
	}
	buf_free(&sig);
	buf_free(&rnd);
	return NULL;
}

static void test_threads(void)
{
	struct psa_attrs a = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_SECP_R1, 256,
				   SIGN_USAGE, PSA_ALG_SIGN, PSA_SIGN_ECDSA,
				   PSA_HASH_SHA_256);
	struct buf ref = BUF_INIT, pub = BUF_INIT;
	struct thread_arg args[4];
	pthread_t th[4];
	EVP_PKEY *pk;

	CHECK_INT(gen(&a, &ref), PSA_OK);
	CHECK_INT(provider_tpm.export_public(&prov, &a, &ref, &pub), PSA_OK);
	pk = ossl_public(&a, &pub);
	CHECK(pk != NULL);
	for (int i = 0; pk && i < 4; i++) {
		args[i] = (struct thread_arg){ &a, &ref, pk, 0 };
		CHECK_INT(pthread_create(&th[i], NULL, sign_thread, &args[i]),
			  0);
	}
	for (int i = 0; pk && i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(args[i].failures, 0);
	}
	EVP_PKEY_free(pk);
	buf_free(&ref);
	buf_free(&pub);
}

/* ---- key attestation ---- */

/* What a verifier does with PrepareKeyAttestation's answer: check the
 * Name against the public area, rebuild the EK's public area from its
 * public key and the TCG template L-1, and MakeCredential. */
static int make_credential(const struct buf *name, const struct buf *area,
			   const struct buf *ekder, const uint8_t *cred,
			   size_t cn, TPM2B_ID_OBJECT *id,
			   TPM2B_ENCRYPTED_SECRET *secret)
{
	const unsigned char *p = ekder->data;
	EVP_PKEY *ek = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p,
				     (long)ekder->len);
	uint8_t digest[32];
	struct buf ekpub = BUF_INIT, blob = BUF_INIT;
	struct tpm_public tp;
	char err[256];
	int ret = -1;

	memset(&tp, 0, sizeof(tp));
	if (!ek || name->len != 34 || name->data[0] != 0x00 ||
	    name->data[1] != 0x0b ||
	    !EVP_Digest(area->data, area->len, digest, NULL, EVP_sha256(),
			NULL) ||
	    memcmp(name->data + 2, digest, 32)) {
		printf("attestation: the Name is not SHA-256 of the public "
		       "area\n");
		goto out;
	}
	if (tpub_build(ek, TPM2_ALG_SHA256, TPUB_EK_ATTRS, 128, &ekpub) < 0 ||
	    tpm_public_parse(ekpub.data, ekpub.len, &tp, err,
			     sizeof(err)) < 0 ||
	    tpm_credential_make(&tp, name->data, name->len, cred, cn, &blob,
				err, sizeof(err)) < 0 ||
	    tpm_credential_parse(blob.data, blob.len, id, secret, err,
				 sizeof(err)) < 0) {
		printf("attestation: %s\n", err);
		goto out;
	}
	ret = 0;
out:
	tpm_public_free(&tp);
	EVP_PKEY_free(ek);
	buf_free(&ekpub);
	buf_free(&blob);
	return ret;
}

static void attest_roundtrip(const struct psa_attrs *a, const struct buf *ref,
			     const struct psa_attrs *other_a,
			     const struct buf *other_ref, struct buf *ekder)
{
	struct buf name = BUF_INIT, area = BUF_INIT, ek = BUF_INIT;
	struct buf out = BUF_INIT, oname = BUF_INIT, oarea = BUF_INIT;
	TPM2B_ID_OBJECT id;
	TPM2B_ENCRYPTED_SECRET secret;
	uint8_t cred[32];
	TPMT_PUBLIC pa;
	size_t off = 0;

	random_bytes(cred, sizeof(cred));
	memset(&id, 0, sizeof(id));
	memset(&secret, 0, sizeof(secret));
	memset(&pa, 0, sizeof(pa));
	CHECK_INT(provider_tpm.prepare_key_attestation(&prov, a, ref, NULL,
		NULL, &name, &area, &ek), PSA_OK);
	if (!name.len)
		goto out;
	/* public is a TPMT_PUBLIC, the key's own. */
	CHECK(Tss2_MU_TPMT_PUBLIC_Unmarshal(area.data, area.len, &off,
					    &pa) == 0 && off == area.len);
	CHECK((pa.objectAttributes & TPMA_OBJECT_FIXEDTPM) != 0);
	if (ekder->len == 0)
		buf_append(ekder, ek.data, ek.len);
	CHECK(buf_eq(&ek, ekder));
	CHECK_INT(make_credential(&name, &area, &ek, cred, sizeof(cred), &id,
				  &secret), 0);
	CHECK_INT(provider_tpm.attest_key(&prov, a, ref, NULL, NULL,
		id.credential, id.size, secret.secret, secret.size, &out),
		PSA_OK);
	CHECK(out.len == sizeof(cred) && !memcmp(out.data, cred, out.len));

	/* A credential for another key does not open with this one. */
	CHECK_INT(provider_tpm.prepare_key_attestation(&prov, other_a,
		other_ref, NULL, NULL, &oname, &oarea, &ek), PSA_OK);
	CHECK(!buf_eq(&oname, &name));
	CHECK_INT(make_credential(&oname, &oarea, &ek, cred, sizeof(cred),
				  &id, &secret), 0);
	CHECK_INT(provider_tpm.attest_key(&prov, a, ref, NULL, NULL,
		id.credential, id.size, secret.secret, secret.size, &out),
		PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(out.len, 0);
	/* Damaged parts. */
	CHECK_INT(make_credential(&name, &area, &ek, cred, sizeof(cred), &id,
				  &secret), 0);
	id.credential[id.size ? id.size - 1 : 0] ^= 1;
	CHECK_INT(provider_tpm.attest_key(&prov, a, ref, NULL, NULL,
		id.credential, id.size, secret.secret, secret.size, &out),
		PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(provider_tpm.attest_key(&prov, a, ref, NULL, NULL,
		id.credential, 0, secret.secret, secret.size, &out),
		PSA_ERR_INVALID_ARGUMENT);
	/* Attesting with another key than the EK is not possible. */
	CHECK_INT(provider_tpm.attest_key(&prov, a, ref, other_a, other_ref,
		id.credential, id.size, secret.secret, secret.size, &out),
		PSA_ERR_NOT_SUPPORTED);
	CHECK_INT(provider_tpm.prepare_key_attestation(&prov, a, ref, other_a,
		other_ref, &name, &area, &ek), PSA_ERR_NOT_SUPPORTED);
out:
	buf_free(&name);
	buf_free(&area);
	buf_free(&ek);
	buf_free(&out);
	buf_free(&oname);
	buf_free(&oarea);
}

static void test_attestation(struct buf *ekder)
{
	struct psa_attrs r = attrs(PSA_KEY_RSA_PAIR, 0, 2048, SIGN_USAGE,
				   PSA_ALG_SIGN, PSA_SIGN_RSA_PKCS1V15,
				   PSA_HASH_SHA_256);
	struct psa_attrs e = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_SECP_R1, 256,
				   SIGN_USAGE, PSA_ALG_SIGN, PSA_SIGN_ECDSA,
				   PSA_HASH_SHA_256);
	struct psa_attrs pubattrs = attrs(PSA_KEY_ECC_PUBLIC, PSA_ECC_SECP_R1,
					  256, PSA_USAGE_VERIFY_HASH,
					  PSA_ALG_SIGN, PSA_SIGN_ECDSA,
					  PSA_HASH_SHA_256);
	struct buf rref = BUF_INIT, eref = BUF_INIT, pub = BUF_INIT;
	struct buf pref = BUF_INIT, x = BUF_INIT, y = BUF_INIT, z = BUF_INIT;

	CHECK_INT(gen(&r, &rref), PSA_OK);
	CHECK_INT(gen(&e, &eref), PSA_OK);
	attest_roundtrip(&r, &rref, &e, &eref, ekder);
	attest_roundtrip(&e, &eref, &r, &rref, ekder);
	/* A public key is not in the TPM: nothing to attest. */
	CHECK_INT(provider_tpm.export_public(&prov, &e, &eref, &pub), PSA_OK);
	CHECK_INT(provider_tpm.import(&prov, &pubattrs, pub.data, pub.len,
				      &pref), PSA_OK);
	CHECK_INT(provider_tpm.prepare_key_attestation(&prov, &pubattrs,
		&pref, NULL, NULL, &x, &y, &z), PSA_ERR_NOT_SUPPORTED);
	buf_free(&rref);
	buf_free(&eref);
	buf_free(&pub);
	buf_free(&pref);
	buf_free(&x);
	buf_free(&y);
	buf_free(&z);
}

/* ---- restarts and the owner hierarchy ---- */

/* Handle ranges, spelled out: the TSS header's TPM2_TRANSIENT_FIRST
 * shifts a signed int into its sign bit. */
#define HANDLES_TRANSIENT	0x80000000u
#define HANDLES_SESSION		0x02000000u	/* then 0x03: policy */

/* How many handles from first on the TPM holds (swtpm has no resource
 * manager: what a closed connection left loaded is still there). */
static int handles_in_use(ESYS_CONTEXT *ctx, TPM2_HANDLE first)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	int n = -1, i;

	if (Esys_GetCapability(ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
			       TPM2_CAP_HANDLES, first, 64, &more, &cap) == 0) {
		n = 0;
		for (i = 0; i < (int)cap->data.handles.count; i++)
			n += (cap->data.handles.handle[i] >> 24) ==
			     (first >> 24) ||
			     /* policy sessions come with the HMAC ones */
			     (first == HANDLES_SESSION &&
			      (cap->data.handles.handle[i] >> 24) == 0x03);
	}
	Esys_Free(cap);
	return n;
}

/* Opens the TPM directly (the provider closed): checks that the provider
 * left nothing loaded and that the EK it reported is the TPM's RSA EK,
 * then sets the owner password. */
static void tpm_side(const char *new_owner, const struct buf *ekder)
{
	char err[256];
	struct tpm *t = tpm_open(tcti, err, sizeof(err));
	struct buf pub = BUF_INIT;
	struct tpm_public tp;
	ESYS_TR ek;
	TPM2B_AUTH auth = { 0 };
	unsigned char *der = NULL;
	int n;

	CHECK(t != NULL);
	if (!t) {
		printf("tpm_open: %s\n", err);
		return;
	}
	memset(&tp, 0, sizeof(tp));
	CHECK_INT(handles_in_use(tpm_esys(t), HANDLES_TRANSIENT), 0);
	CHECK_INT(handles_in_use(tpm_esys(t), HANDLES_SESSION), 0);
	if (ekder) {
		CHECK_INT(tpm_ek_create(t, TPM_ALG_KIND_RSA, &ek, &pub), 0);
		tpm_flush(t, ek);
		CHECK_INT(tpm_public_parse(pub.data, pub.len, &tp, err,
					   sizeof(err)), 0);
		n = tp.pkey ? i2d_PublicKey(tp.pkey, &der) : -1;
		CHECK(n > 0 && (size_t)n == ekder->len &&
		      !memcmp(der, ekder->data, ekder->len));
		OPENSSL_free(der);
		tpm_public_free(&tp);
	}
	if (new_owner) {
		auth.size = (UINT16)strlen(new_owner);
		memcpy(auth.buffer, new_owner, auth.size);
		CHECK_INT(Esys_HierarchyChangeAuth(tpm_esys(t),
			ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			ESYS_TR_NONE, &auth), 0);
	}
	buf_free(&pub);
	tpm_close(t);
}

static void test_restart(const struct buf *ekder)
{
	struct psa_attrs a = attrs(PSA_KEY_RSA_PAIR, 0, 2048, SIGN_USAGE,
				   PSA_ALG_SIGN, PSA_SIGN_RSA_PSS,
				   PSA_HASH_SHA_256);
	struct psa_alg pss = alg_of(PSA_ALG_SIGN, PSA_SIGN_RSA_PSS,
				    PSA_HASH_SHA_256);
	struct buf ref = BUF_INIT;
	char err[512];

	CHECK_INT(gen(&a, &ref), PSA_OK);
	provider_tpm.close(&prov);
	CHECK(prov.state == NULL);

	/* The TPM as lib/tpm sees it; then an owner password. */
	tpm_side("owner secret", ekder);

	err[0] = 0;
	CHECK_INT(prov_open(NULL, err, sizeof(err)), -1);
	CHECK(strstr(err, "tpm_owner_auth") != NULL);
	printf("expected: %s\n", err);
	CHECK_INT(prov_open("wrong", err, sizeof(err)), -1);
	CHECK_INT(prov_open("hex:zz", err, sizeof(err)), -1);
	CHECK(strstr(err, "hex") != NULL);

	/* Plain, str: and hex: forms; the key made before still works: the
	 * storage key is the same at every start. */
	CHECK_INT(prov_open("owner secret", err, sizeof(err)), 0);
	check_sign(&a, &ref, &pss);
	provider_tpm.close(&prov);
	CHECK_INT(prov_open("str:owner secret", err, sizeof(err)), 0);
	provider_tpm.close(&prov);
	CHECK_INT(prov_open("hex:6f776e657220736563726574", err, sizeof(err)),
		  0);
	if (!prov.state)
		printf("open: %s\n", err);
	check_sign(&a, &ref, &pss);
	buf_free(&ref);
}

int main(void)
{
	struct buf ekder = BUF_INIT;
	char err[512];

	if (!swtpm_available())
		CHECK_SKIP("swtpm is not installed");
	snprintf(dir, sizeof(dir), "/tmp/assay-tpmprov-XXXXXX");
	if (!mkdtemp(dir)) {
		printf("FAIL: mkdtemp\n");
		return 1;
	}
	atexit(cleanup);
	if (swtpm_start(dir, tcti, sizeof(tcti)) < 0) {
		printf("FAIL: swtpm did not start; see %s/swtpm.out\n", dir);
		dir[0] = 0;	/* keep it for a look */
		return 1;
	}
	swtpm_running = 1;
	if (prov_open(NULL, err, sizeof(err)) < 0) {
		printf("FAIL: open: %s\n", err);
		return 1;
	}
	test_info();
	test_rsa_sign();
	test_rsa_3072();
	test_ecc_sign();
	test_generate_errors();
	test_rsa_crypt();
	test_import_public();
	test_import_pair();
	test_ecdh();
	test_random();
	test_corrupt();
	test_threads();
	test_attestation(&ekder);
	test_restart(&ekder);
	buf_free(&ekder);
	return check_done();
}
