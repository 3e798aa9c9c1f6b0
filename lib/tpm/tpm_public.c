/* tpm_public: TPM2B_PUBLIC parsing, keys and Names. */
#include "tpm/tpm_public.h"
#include "util/error.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

const EVP_MD *tpm_alg_md(uint16_t alg)
{
	switch (alg) {
	case TPM2_ALG_SHA1:
		return EVP_sha1();
	case TPM2_ALG_SHA256:
		return EVP_sha256();
	case TPM2_ALG_SHA384:
		return EVP_sha384();
	case TPM2_ALG_SHA512:
		return EVP_sha512();
#ifndef OPENSSL_NO_SM3
	case TPM2_ALG_SM3_256:
		return EVP_sm3();
#endif
	default:
		return NULL;
	}
}

/* Imports key material through the provider interface: the RSA_ and
 * EC_KEY_ setters are deprecated in OpenSSL 3. */
static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM *params)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pkey = NULL;

	if (!ctx)
		return NULL;
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

static EVP_PKEY *rsa_from_area(const TPMT_PUBLIC *a, char *err,
			       size_t errlen)
{
	const TPMS_RSA_PARMS *parms = &a->parameters.rsaDetail;
	const TPM2B_PUBLIC_KEY_RSA *mod = &a->unique.rsa;
	/* The TPM encodes the default exponent 65537 as zero. */
	uint32_t exp = parms->exponent ? parms->exponent : 65537;
	BIGNUM *n = NULL, *e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY *pkey = NULL;

	if (parms->keyBits < 1024 || parms->keyBits % 8 ||
	    parms->keyBits / 8 > sizeof(mod->buffer)) {
		error_set(err, errlen, "unsupported RSA key size %u bits",
			parms->keyBits);
		return NULL;
	}
	if (mod->size != parms->keyBits / 8) {
		error_set(err, errlen,
			"RSA modulus is %u bytes, keyBits says %u bits",
			mod->size, parms->keyBits);
		return NULL;
	}
	if (exp < 3 || !(exp & 1)) {
		error_set(err, errlen, "invalid RSA exponent %u", exp);
		return NULL;
	}
	n = BN_bin2bn(mod->buffer, mod->size, NULL);
	e = BN_new();
	bld = OSSL_PARAM_BLD_new();
	if (!n || !e || !bld || !BN_set_word(e, exp) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    !(params = OSSL_PARAM_BLD_to_param(bld))) {
		error_set(err, errlen, "out of memory");
		goto out;
	}
	pkey = pkey_fromdata("RSA", params);
	if (!pkey)
		error_set(err, errlen, "OpenSSL rejected the RSA key");
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return pkey;
}

static const struct tpm_curve {
	uint16_t id;
	const char *group;
	size_t size;	/* bytes of a coordinate */
} tpm_curves[] = {
	{ TPM2_ECC_NIST_P256, "P-256", 32 },
	{ TPM2_ECC_NIST_P384, "P-384", 48 },
	{ TPM2_ECC_NIST_P521, "P-521", 66 },
};

static EVP_PKEY *ecc_from_area(const TPMT_PUBLIC *a, char *err,
			       size_t errlen)
{
	const TPMS_ECC_POINT *q = &a->unique.ecc;
	const struct tpm_curve *c = NULL;
	uint8_t pt[1 + 2 * 66];
	OSSL_PARAM params[3];
	EVP_PKEY *pkey;
	size_t i;

	for (i = 0; i < sizeof(tpm_curves) / sizeof(tpm_curves[0]); i++)
		if (tpm_curves[i].id == a->parameters.eccDetail.curveID)
			c = &tpm_curves[i];
	if (!c) {
		error_set(err, errlen, "unsupported ECC curve 0x%04x",
			a->parameters.eccDetail.curveID);
		return NULL;
	}
	if (q->x.size > c->size || q->y.size > c->size) {
		error_set(err, errlen, "ECC point coordinate longer than %s",
			c->group);
		return NULL;
	}
	/* An uncompressed SEC1 point; the TPM may drop leading zeros. */
	memset(pt, 0, sizeof(pt));
	pt[0] = 0x04;
	memcpy(pt + 1 + c->size - q->x.size, q->x.buffer, q->x.size);
	memcpy(pt + 1 + 2 * c->size - q->y.size, q->y.buffer, q->y.size);
	params[0] = OSSL_PARAM_construct_utf8_string(
		OSSL_PKEY_PARAM_GROUP_NAME, (char *)c->group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(
		OSSL_PKEY_PARAM_PUB_KEY, pt, 1 + 2 * c->size);
	params[2] = OSSL_PARAM_construct_end();
	pkey = pkey_fromdata("EC", params);
	if (!pkey)
		error_set(err, errlen, "ECC point is not on curve %s", c->group);
	return pkey;
}

/* OpenSSL's own sanity checks (point on curve, odd modulus, ...). */
static int pkey_public_ok(EVP_PKEY *pkey)
{
	/* EC: the point must be on the curve, or ECDH in MakeCredential could
	 * leak through an invalid-curve point. RSA: OpenSSL's public check
	 * runs a primality test on the modulus (milliseconds per key, most of
	 * a registration's CPU) and protects nothing here: a bogus EK modulus
	 * only yields a credential nobody can open, a bogus AK modulus only
	 * signatures that never verify. Size and exponent are checked by
	 * rsa_from_area; an even modulus is refused below. */
	if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA) {
		BIGNUM *n = NULL;
		int ok = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
			 BN_is_odd(n);
		BN_free(n);
		return ok;
	}
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	int ok;

	if (!ctx)
		return 0;
	ok = EVP_PKEY_public_check(ctx) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

int tpm_public_parse(const uint8_t *p, size_t n, struct tpm_public *pub,
		     char *err, size_t errlen)
{
	const EVP_MD *md;
	size_t size, off = 0;
	unsigned int dlen = 0;
	TSS2_RC rc;

	memset(pub, 0, sizeof(*pub));
	if (!p || n < 2) {
		error_set(err, errlen, "TPM2B_PUBLIC truncated");
		return -1;
	}
	size = (size_t)p[0] << 8 | p[1];
	if (size == 0 || size != n - 2) {
		error_set(err, errlen,
			"TPM2B_PUBLIC size %zu does not match its %zu bytes",
			size, n - 2);
		return -1;
	}
	/* Unmarshal from exactly size bytes: tss2-mu's TPM2B reader would
	 * let the inner structure run past the declared size. */
	rc = Tss2_MU_TPMT_PUBLIC_Unmarshal(p + 2, size, &off, &pub->area);
	if (rc != TSS2_RC_SUCCESS) {
		error_set(err, errlen, "malformed TPMT_PUBLIC (tss2 rc 0x%x)",
			(unsigned)rc);
		goto fail;
	}
	if (off != size) {
		error_set(err, errlen, "TPMT_PUBLIC followed by %zu extra bytes",
			size - off);
		goto fail;
	}
	md = tpm_alg_md(pub->area.nameAlg);
	if (!md) {
		error_set(err, errlen, "unsupported nameAlg 0x%04x",
			pub->area.nameAlg);
		goto fail;
	}
	/* Name = nameAlg || H_nameAlg(marshaled TPMT_PUBLIC). The input is
	 * the TPM's own marshaling, so hash it as received. */
	pub->name[0] = (uint8_t)(pub->area.nameAlg >> 8);
	pub->name[1] = (uint8_t)pub->area.nameAlg;
	if (EVP_Digest(p + 2, size, pub->name + 2, &dlen, md, NULL) != 1) {
		error_set(err, errlen, "hashing the public area failed");
		goto fail;
	}
	pub->name_len = 2 + dlen;

	switch (pub->area.type) {
	case TPM2_ALG_RSA:
		pub->pkey = rsa_from_area(&pub->area, err, errlen);
		break;
	case TPM2_ALG_ECC:
		pub->pkey = ecc_from_area(&pub->area, err, errlen);
		break;
	default:
		error_set(err, errlen, "unsupported key type 0x%04x",
			pub->area.type);
		goto fail;
	}
	if (!pub->pkey)
		goto fail;
	if (!pkey_public_ok(pub->pkey)) {
		error_set(err, errlen, "public key fails OpenSSL's checks");
		goto fail;
	}
	return 0;
fail:
	tpm_public_free(pub);
	return -1;
}

void tpm_public_free(struct tpm_public *pub)
{
	if (!pub)
		return;
	EVP_PKEY_free(pub->pkey);
	memset(pub, 0, sizeof(*pub));
}

int tpm_public_cert_matches(const struct tpm_public *pub, const uint8_t *der,
			    size_t n, char *err, size_t errlen)
{
	const unsigned char *q = der, *rest;
	EVP_PKEY *ck;
	X509 *x;
	int ret = -1;

	if (!pub->pkey) {
		error_set(err, errlen, "no TPM key");
		return -1;
	}
	if (!der || n == 0 || n > LONG_MAX) {
		error_set(err, errlen, "empty certificate");
		return -1;
	}
	x = d2i_X509(NULL, &q, (long)n);
	if (!x) {
		error_set(err, errlen, "certificate is not valid DER X.509");
		return -1;
	}
	/* NV indices are often larger than the certificate they hold and
	 * come back zero-padded; anything else after it is an error. */
	for (rest = q; rest < der + n && *rest == 0; rest++)
		;
	if (rest != der + n) {
		error_set(err, errlen, "certificate followed by %zu extra bytes",
			(size_t)(der + n - q));
		goto out;
	}
	ck = X509_get0_pubkey(x);
	if (!ck) {
		error_set(err, errlen, "certificate public key is unreadable");
		goto out;
	}
	if (EVP_PKEY_eq(ck, pub->pkey) != 1) {
		error_set(err, errlen,
			"certificate public key does not match the TPM key");
		goto out;
	}
	ret = 0;
out:
	X509_free(x);
	return ret;
}

int tpm_public_check_ak(const struct tpm_public *pub, char *err,
			size_t errlen)
{
	static const struct {
		TPMA_OBJECT bit;
		const char *name;
	} need[] = {
		{ TPMA_OBJECT_SIGN_ENCRYPT, "sign" },
		{ TPMA_OBJECT_RESTRICTED, "restricted" },
		{ TPMA_OBJECT_FIXEDTPM, "fixedTPM" },
		{ TPMA_OBJECT_FIXEDPARENT, "fixedParent" },
		{ TPMA_OBJECT_SENSITIVEDATAORIGIN, "sensitiveDataOrigin" },
	};
	TPMA_OBJECT attr = pub->area.objectAttributes;
	size_t i;

	for (i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (!(attr & need[i].bit)) {
			error_set(err, errlen, "AK attribute %s is not set",
				need[i].name);
			return -1;
		}
	}
	if (attr & TPMA_OBJECT_DECRYPT) {
		error_set(err, errlen, "AK must not be a decryption key");
		return -1;
	}
	return 0;
}
