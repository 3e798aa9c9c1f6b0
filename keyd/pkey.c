/* OpenSSL keys in PSA's formats, and the public-key operations on them.
 *
 * Everything goes through EVP and OSSL_PARAM, with two exceptions that the
 * EVP layer cannot express: an ECC private key is rebuilt from its scalar
 * alone (the public point is computed with EC_POINT_mul, since 3.0's
 * fromdata does not derive it), and deterministic ECDSA (RFC 6979) is done
 * here with EC_POINT/BIGNUM arithmetic because OpenSSL only gained its
 * "nonce-type" parameter in 3.2. Both use only the non-deprecated
 * EC_GROUP/EC_POINT/BN functions; no EC_KEY or RSA structure is touched.
 *
 * Every function returns a Parsec status and leaves OpenSSL's error queue
 * empty when it fails, so a stale error never surfaces elsewhere. */
#include "keyd/pkey.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "util/secure.h"

#define PKEY_RSA_MIN_BITS 1024
#define PKEY_RSA_MAX_BITS 8192
/* The largest field (P-521: 66 bytes) and uncompressed point. */
#define PKEY_EC_MAX_FIELD 66
#define PKEY_EC_MAX_POINT (1 + 2 * PKEY_EC_MAX_FIELD)

static int done(int st)
{
	if (st != PSA_OK)
		ERR_clear_error();
	return st;
}

/* Takes n bytes written past b->len into the buffer (which keeps a NUL
 * after its last byte). */
static void buf_commit(struct buf *b, size_t n)
{
	b->len += n;
	b->data[b->len] = 0;
}

static size_t bits_to_bytes(uint32_t bits)
{
	return (bits + 7) / 8;
}

/* ---- curves ---- */

static int ecc_family_known(int family)
{
	static const uint32_t sizes[] = { 224, 255, 256, 384, 448, 512, 521 };

	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
		if (psa_ecc_group(family, sizes[i]))
			return 1;
	return 0;
}

/* The curve of a family whose field is field_len bytes long: PSA lets
 * an import leave the size out, and within one family the sizes differ. */
static uint32_t ecc_bits_for_len(int family, size_t field_len)
{
	static const uint32_t sizes[] = { 224, 255, 256, 384, 448, 512, 521 };

	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
		if (psa_ecc_group(family, sizes[i]) &&
		    bits_to_bytes(sizes[i]) == field_len)
			return sizes[i];
	return 0;
}

/* Settles a->bits (given, or deduced from the field length) and the
 * curve's OpenSSL name. */
static int ecc_resolve(struct psa_attrs *a, size_t field_len, const char **group)
{
	uint32_t bits = a->bits ? a->bits : ecc_bits_for_len(a->family, field_len);

	if (!ecc_family_known(a->family))
		return PSA_ERR_NOT_SUPPORTED;
	if (!bits)
		return PSA_ERR_INVALID_ARGUMENT;
	*group = psa_ecc_group(a->family, bits);
	if (!*group)
		return PSA_ERR_NOT_SUPPORTED;
	if (bits_to_bytes(bits) != field_len)
		return PSA_ERR_INVALID_ARGUMENT;
	a->bits = bits;
	return PSA_OK;
}

static int ecc_is_montgomery(const struct psa_attrs *a)
{
	return a->family == PSA_ECC_MONTGOMERY;
}

static EC_GROUP *ec_group_new(const char *name)
{
	OSSL_PARAM params[2];

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
						     (char *)name, 0);
	params[1] = OSSL_PARAM_construct_end();
	return EC_GROUP_new_from_params(params, NULL, NULL);
}

/* The NID of a curve named in any of OpenSSL's spellings ("P-256",
 * "prime256v1", "brainpoolP256r1"). */
static int ec_nid(const char *name)
{
	int nid = EC_curve_nist2nid(name);

	if (nid == NID_undef)
		nid = OBJ_sn2nid(name);
	if (nid == NID_undef)
		nid = OBJ_ln2nid(name);
	return nid;
}

/* The group of a Weierstrass EVP key. */
static EC_GROUP *ec_group_of(EVP_PKEY *k)
{
	char name[64];
	size_t len;

	if (!EVP_PKEY_is_a(k, "EC") ||
	    !EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, name,
					    sizeof name, &len))
		return NULL;
	return ec_group_new(name);
}

/* Whether k is the kind of key the attributes describe (type, curve,
 * size): a provider's key and its attributes must never disagree, and an
 * operation on a mismatched pair would give wrong-sized results. */
static int key_matches(const struct psa_attrs *a, EVP_PKEY *k)
{
	switch (a->type) {
	case PSA_KEY_RSA_PAIR:
	case PSA_KEY_RSA_PUBLIC:
		return EVP_PKEY_is_a(k, "RSA") &&
		       (!a->bits || (uint32_t)EVP_PKEY_get_bits(k) == a->bits);
	case PSA_KEY_ECC_PAIR:
	case PSA_KEY_ECC_PUBLIC: {
		const char *want = psa_ecc_group(a->family, a->bits);
		char name[64];
		size_t len;

		if (!want)
			return 0;
		if (ecc_is_montgomery(a))
			return EVP_PKEY_is_a(k, want);
		return EVP_PKEY_is_a(k, "EC") &&
		       EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME,
						      name, sizeof name, &len) &&
		       ec_nid(name) == ec_nid(want);
	}
	default:
		return 0;
	}
}

/* The PSA size of an ECC key: OpenSSL calls X25519 253 bits. */
static uint32_t ecc_bits_of(EVP_PKEY *k)
{
	EC_GROUP *g;
	uint32_t bits;

	if (EVP_PKEY_is_a(k, "X25519"))
		return 255;
	if (EVP_PKEY_is_a(k, "X448"))
		return 448;
	g = ec_group_of(k);
	if (!g)
		return 0;
	bits = (uint32_t)EC_GROUP_get_degree(g);
	EC_GROUP_free(g);
	return bits;
}

/* Whether k holds a private key, asked without copying it out. */
static int key_has_private(EVP_PKEY *k)
{
	OSSL_PARAM p[2];
	size_t len = 0;

	if (EVP_PKEY_is_a(k, "X25519") || EVP_PKEY_is_a(k, "X448"))
		return EVP_PKEY_get_raw_private_key(k, NULL, &len) && len > 0;
	p[0] = OSSL_PARAM_construct_BN(EVP_PKEY_is_a(k, "RSA") ? OSSL_PKEY_PARAM_RSA_D
							       : OSSL_PKEY_PARAM_PRIV_KEY,
				       NULL, 0);
	p[1] = OSSL_PARAM_construct_end();
	return EVP_PKEY_get_params(k, p) && OSSL_PARAM_modified(p) && p[0].return_size > 0;
}

/* The attributes of k with the size filled in from the key itself, for
 * callers whose attributes leave it 0 ("whatever the data said"), and
 * the type made public when k is only the public half of a pair (as
 * pkey_from_public makes it). */
static int attrs_of_key(const struct psa_attrs *a, EVP_PKEY *k, struct psa_attrs *ka)
{
	*ka = *a;
	if (!ka->bits) {
		if (a->type == PSA_KEY_RSA_PAIR || a->type == PSA_KEY_RSA_PUBLIC)
			ka->bits = (uint32_t)EVP_PKEY_get_bits(k);
		else if (a->type == PSA_KEY_ECC_PAIR || a->type == PSA_KEY_ECC_PUBLIC)
			ka->bits = ecc_bits_of(k);
	}
	if (!key_matches(ka, k))
		return PSA_ERR_INVALID_ARGUMENT;
	if ((ka->type == PSA_KEY_RSA_PAIR || ka->type == PSA_KEY_ECC_PAIR) &&
	    !key_has_private(k))
		ka->type = ka->type == PSA_KEY_RSA_PAIR ? PSA_KEY_RSA_PUBLIC
							: PSA_KEY_ECC_PUBLIC;
	return PSA_OK;
}

/* ---- key generation ---- */

int pkey_generate(const struct psa_attrs *a, EVP_PKEY **out)
{
	EVP_PKEY_CTX *ctx = NULL;
	const char *group = NULL;
	int st = PSA_OK;

	*out = NULL;
	switch (a->type) {
	case PSA_KEY_RSA_PAIR:
		if (a->bits < PKEY_RSA_MIN_BITS || a->bits > PKEY_RSA_MAX_BITS ||
		    a->bits % 8)
			return a->bits ? PSA_ERR_NOT_SUPPORTED : PSA_ERR_INVALID_ARGUMENT;
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
		if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)a->bits) <= 0)
			st = PSA_ERR_GENERIC;
		break;
	case PSA_KEY_ECC_PAIR:
		if (!a->bits)
			return PSA_ERR_INVALID_ARGUMENT;
		group = psa_ecc_group(a->family, a->bits);
		if (!group)
			return PSA_ERR_NOT_SUPPORTED;
		ctx = EVP_PKEY_CTX_new_from_name(NULL, ecc_is_montgomery(a) ? group : "EC",
						 NULL);
		if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 ||
		    (!ecc_is_montgomery(a) && EVP_PKEY_CTX_set_group_name(ctx, group) <= 0))
			st = PSA_ERR_GENERIC;
		break;
	case PSA_KEY_RSA_PUBLIC:
	case PSA_KEY_ECC_PUBLIC:
		return PSA_ERR_INVALID_ARGUMENT;
	default:
		return PSA_ERR_NOT_SUPPORTED;
	}
	if (st == PSA_OK && EVP_PKEY_generate(ctx, out) <= 0)
		st = PSA_ERR_GENERIC;
	EVP_PKEY_CTX_free(ctx);
	return done(st);
}

/* ---- import ---- */

/* Whether p is one DER SEQUENCE filling exactly n bytes: OpenSSL's
 * decoder stops after the key and would accept trailing bytes. */
static int der_sequence_exact(const uint8_t *p, size_t n)
{
	size_t len = 0, hdr;

	if (n < 2 || p[0] != 0x30)
		return 0;
	if (p[1] < 0x80) {
		len = p[1];
		hdr = 2;
	} else {
		size_t nb = p[1] & 0x7f;

		if (nb == 0 || nb > 4 || n < 2 + nb)
			return 0;
		for (size_t i = 0; i < nb; i++)
			len = len << 8 | p[2 + i];
		hdr = 2 + nb;
	}
	return len == n - hdr;
}

/* How much an imported key is checked: keys we stored ourselves not at
 * all, public keys a provider exported for their points only, keys from
 * outside fully (an RSA pair's primes take tens of milliseconds, an RSA
 * public key's Miller-Rabin test of n several). */
enum pkey_check { CHECK_NONE, CHECK_POINTS, CHECK_FULL };

/* RSAPrivateKey (pair) or RSAPublicKey. */
static int rsa_parse(struct psa_attrs *a, const uint8_t *data, size_t n, int pair,
		     enum pkey_check check, EVP_PKEY **out)
{
	OSSL_DECODER_CTX *dctx;
	EVP_PKEY *k = NULL;
	const unsigned char *p = data;
	size_t left = n;
	uint32_t bits;

	if (!der_sequence_exact(data, n))
		return PSA_ERR_INVALID_ARGUMENT;
	dctx = OSSL_DECODER_CTX_new_for_pkey(&k, "DER", "type-specific", "RSA",
					     pair ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
					     NULL, NULL);
	if (!dctx)
		return PSA_ERR_INSUFFICIENT_MEMORY;
	if (!OSSL_DECODER_from_data(dctx, &p, &left) || !k) {
		OSSL_DECODER_CTX_free(dctx);
		EVP_PKEY_free(k);
		return PSA_ERR_INVALID_ARGUMENT;
	}
	OSSL_DECODER_CTX_free(dctx);
	bits = (uint32_t)EVP_PKEY_get_bits(k);
	int st = PSA_OK;
	if (bits < PKEY_RSA_MIN_BITS || bits > PKEY_RSA_MAX_BITS || bits % 8)
		st = PSA_ERR_NOT_SUPPORTED;
	else if (a->bits && a->bits != bits)
		st = PSA_ERR_INVALID_ARGUMENT;
	if (st == PSA_OK && check == CHECK_FULL) {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);

		if (!ctx || (pair ? EVP_PKEY_pairwise_check(ctx)
				  : EVP_PKEY_public_check(ctx)) != 1)
			st = PSA_ERR_INVALID_ARGUMENT;
		EVP_PKEY_CTX_free(ctx);
	}
	if (st != PSA_OK) {
		EVP_PKEY_free(k);
		return st;
	}
	a->bits = bits;
	*out = k;
	return PSA_OK;
}

/* An EC key from its curve, public point and (for a pair) scalar. The
 * scalar must be a secure BIGNUM: OSSL_PARAM_free wipes only the secure
 * part of the parameters it built. */
static int ec_fromdata(const char *group, const BIGNUM *d, const uint8_t *pub,
		       size_t pn, EVP_PKEY **out)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	int st = PSA_ERR_INSUFFICIENT_MEMORY;

	if (!bld ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, pn) ||
	    (d && !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d)))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0)
		goto out;
	st = EVP_PKEY_fromdata(ctx, out, d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
			       params) > 0 ? PSA_OK : PSA_ERR_INVALID_ARGUMENT;
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	return st;
}

/* An ECC private key: the big-endian scalar (Weierstrass) or the raw
 * RFC 7748 string (Montgomery). */
static int ecc_parse_private(struct psa_attrs *a, const uint8_t *data, size_t n,
			     EVP_PKEY **out)
{
	const char *group;
	int st = ecc_resolve(a, n, &group);

	if (st != PSA_OK)
		return st;
	if (ecc_is_montgomery(a)) {
		*out = EVP_PKEY_new_raw_private_key_ex(NULL, group, NULL, data, n);
		return *out ? PSA_OK : PSA_ERR_INVALID_ARGUMENT;
	}

	EC_GROUP *g = ec_group_new(group);
	BIGNUM *d = BN_secure_new();
	EC_POINT *q = g ? EC_POINT_new(g) : NULL;
	uint8_t pub[PKEY_EC_MAX_POINT];
	size_t pn = 0;

	st = PSA_ERR_INSUFFICIENT_MEMORY;
	if (!g || !d || !q)
		goto out;
	BN_set_flags(d, BN_FLG_CONSTTIME);
	if (!BN_bin2bn(data, (int)n, d))
		goto out;
	/* PSA: the scalar must be in [1, n-1]. */
	st = PSA_ERR_INVALID_ARGUMENT;
	if (BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(g)) >= 0)
		goto out;
	st = PSA_ERR_GENERIC;
	if (!EC_POINT_mul(g, q, d, NULL, NULL, NULL))
		goto out;
	pn = EC_POINT_point2oct(g, q, POINT_CONVERSION_UNCOMPRESSED, pub, sizeof pub, NULL);
	if (!pn)
		goto out;
	st = ec_fromdata(group, d, pub, pn, out);
out:
	BN_clear_free(d);
	EC_POINT_free(q);
	EC_GROUP_free(g);
	return st;
}

/* An ECC public key: 04||X||Y (Weierstrass) or the raw u (Montgomery). */
static int ecc_parse_public(struct psa_attrs *a, const uint8_t *data, size_t n,
			    enum pkey_check check, EVP_PKEY **out)
{
	const char *group;
	int st;

	if (!ecc_family_known(a->family))
		return PSA_ERR_NOT_SUPPORTED;
	if (ecc_is_montgomery(a)) {
		st = ecc_resolve(a, n, &group);
		if (st != PSA_OK)
			return st;
		*out = EVP_PKEY_new_raw_public_key_ex(NULL, group, NULL, data, n);
		return *out ? PSA_OK : PSA_ERR_INVALID_ARGUMENT;
	}
	/* Only the uncompressed form is a PSA public key. */
	if (n < 3 || n % 2 == 0 || data[0] != 0x04)
		return PSA_ERR_INVALID_ARGUMENT;
	st = ecc_resolve(a, (n - 1) / 2, &group);
	if (st != PSA_OK)
		return st;
	st = ec_fromdata(group, NULL, data, n, out);
	if (st == PSA_OK && check != CHECK_NONE) {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, *out, NULL);

		if (!ctx || EVP_PKEY_public_check(ctx) != 1) {
			EVP_PKEY_free(*out);
			*out = NULL;
			st = PSA_ERR_INVALID_ARGUMENT;
		}
		EVP_PKEY_CTX_free(ctx);
	}
	return st;
}

static int key_parse(struct psa_attrs *a, const uint8_t *data, size_t n,
		     enum pkey_check check, EVP_PKEY **out)
{
	*out = NULL;
	if (!data || !n)
		return PSA_ERR_INVALID_ARGUMENT;
	switch (a->type) {
	case PSA_KEY_RSA_PAIR:
		return rsa_parse(a, data, n, 1, check, out);
	case PSA_KEY_RSA_PUBLIC:
		return rsa_parse(a, data, n, 0, check, out);
	case PSA_KEY_ECC_PAIR:
		return ecc_parse_private(a, data, n, out);
	case PSA_KEY_ECC_PUBLIC:
		return ecc_parse_public(a, data, n, check, out);
	default:
		return PSA_ERR_NOT_SUPPORTED;
	}
}

int pkey_import(struct psa_attrs *a, const uint8_t *data, size_t n, EVP_PKEY **out)
{
	struct psa_attrs t = *a;
	int st = key_parse(&t, data, n, CHECK_FULL, out);

	if (st == PSA_OK)
		a->bits = t.bits;
	return done(st);
}

int pkey_load(struct psa_attrs *a, const uint8_t *data, size_t n, EVP_PKEY **out)
{
	struct psa_attrs t = *a;
	int st = key_parse(&t, data, n, CHECK_NONE, out);

	if (st == PSA_OK)
		a->bits = t.bits;
	return done(st);
}

int pkey_from_public(const struct psa_attrs *a, const uint8_t *data, size_t n,
		     EVP_PKEY **out)
{
	struct psa_attrs t = *a;

	if (t.type == PSA_KEY_RSA_PAIR)
		t.type = PSA_KEY_RSA_PUBLIC;
	else if (t.type == PSA_KEY_ECC_PAIR)
		t.type = PSA_KEY_ECC_PUBLIC;
	else if (t.type != PSA_KEY_RSA_PUBLIC && t.type != PSA_KEY_ECC_PUBLIC) {
		*out = NULL;
		return PSA_ERR_INVALID_ARGUMENT;
	}
	/* A provider's export: its points are checked (cheap), an RSA
	 * modulus is not tested for primality on every verify. */
	return done(key_parse(&t, data, n, CHECK_POINTS, out));
}

/* ---- export ---- */

static int export_ec_point(EVP_PKEY *k, size_t field_len, struct buf *out)
{
	uint8_t pt[PKEY_EC_MAX_POINT];
	size_t len = 0;
	int st = PSA_ERR_GENERIC;

	if (!EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt,
					     &len))
		return PSA_ERR_GENERIC;
	if (len != 1 + 2 * field_len || pt[0] != 0x04) {
		/* A key that keeps its point compressed: re-encode it. */
		EC_GROUP *g = ec_group_of(k);
		EC_POINT *q = g ? EC_POINT_new(g) : NULL;

		if (q && EC_POINT_oct2point(g, q, pt, len, NULL))
			len = EC_POINT_point2oct(g, q, POINT_CONVERSION_UNCOMPRESSED, pt,
						 sizeof pt, NULL);
		else
			len = 0;
		EC_POINT_free(q);
		EC_GROUP_free(g);
		if (len != 1 + 2 * field_len)
			return PSA_ERR_GENERIC;
	}
	st = buf_append(out, pt, len) == 0 ? PSA_OK : PSA_ERR_INSUFFICIENT_MEMORY;
	return st;
}

static int export_raw(EVP_PKEY *k, int private_part, struct buf *out)
{
	size_t len = 0;
	int ok;

	ok = private_part ? EVP_PKEY_get_raw_private_key(k, NULL, &len)
			  : EVP_PKEY_get_raw_public_key(k, NULL, &len);
	if (!ok || !len)
		return PSA_ERR_GENERIC;
	if (buf_reserve(out, len) != 0)
		return PSA_ERR_INSUFFICIENT_MEMORY;
	ok = private_part ? EVP_PKEY_get_raw_private_key(k, out->data + out->len, &len)
			  : EVP_PKEY_get_raw_public_key(k, out->data + out->len, &len);
	if (!ok)
		return PSA_ERR_GENERIC;
	buf_commit(out, len);
	return PSA_OK;
}

int pkey_export_public(const struct psa_attrs *a, EVP_PKEY *k, struct buf *out)
{
	struct psa_attrs ka;
	int st = attrs_of_key(a, k, &ka);

	if (st != PSA_OK)
		return done(st);
	if (ka.type == PSA_KEY_RSA_PAIR || ka.type == PSA_KEY_RSA_PUBLIC) {
		/* i2d_PublicKey writes an RSA key as PKCS#1 RSAPublicKey. */
		unsigned char *der = NULL;
		int len = i2d_PublicKey(k, &der);

		if (len <= 0)
			return done(PSA_ERR_GENERIC);
		st = buf_append(out, der, (size_t)len) == 0 ? PSA_OK
							    : PSA_ERR_INSUFFICIENT_MEMORY;
		OPENSSL_free(der);
		return st;
	}
	if (ecc_is_montgomery(&ka))
		return done(export_raw(k, 0, out));
	return done(export_ec_point(k, bits_to_bytes(ka.bits), out));
}

int pkey_export_private(const struct psa_attrs *a, EVP_PKEY *k, struct buf *out)
{
	struct psa_attrs ka;
	int st;

	if (psa_type_is_public(a->type))
		return pkey_export_public(a, k, out);
	st = attrs_of_key(a, k, &ka);
	if (st == PSA_OK && psa_type_is_public(ka.type))
		st = PSA_ERR_INVALID_ARGUMENT;	/* only the public half */
	if (st != PSA_OK)
		return done(st);
	if (ka.type == PSA_KEY_RSA_PAIR) {
		OSSL_ENCODER_CTX *ectx;
		unsigned char *der = NULL;
		size_t len = 0;

		ectx = OSSL_ENCODER_CTX_new_for_pkey(k, EVP_PKEY_KEYPAIR, "DER",
						     "type-specific", NULL);
		if (!ectx || !OSSL_ENCODER_to_data(ectx, &der, &len) || !len)
			st = PSA_ERR_GENERIC;
		else if (buf_append(out, der, len) != 0)
			st = PSA_ERR_INSUFFICIENT_MEMORY;
		OSSL_ENCODER_CTX_free(ectx);
		if (der)
			OPENSSL_clear_free(der, len);
		return done(st);
	}
	if (ecc_is_montgomery(&ka))
		return done(export_raw(k, 1, out));

	BIGNUM *d = NULL;
	size_t fl = bits_to_bytes(ka.bits);

	if (!EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &d))
		return done(PSA_ERR_INVALID_ARGUMENT);	/* a public key */
	if (buf_reserve(out, fl) != 0)
		st = PSA_ERR_INSUFFICIENT_MEMORY;
	else if (BN_bn2binpad(d, out->data + out->len, (int)fl) != (int)fl)
		st = PSA_ERR_GENERIC;
	else
		buf_commit(out, fl);
	BN_clear_free(d);
	return done(st);
}

/* ---- ECDSA signature formats ---- */

int pkey_ecdsa_raw_to_der(const uint8_t *raw, size_t n, struct buf *der)
{
	ECDSA_SIG *sig;
	BIGNUM *r, *s;
	unsigned char *p;
	int len, st = PSA_ERR_INSUFFICIENT_MEMORY;

	if (!raw || n == 0 || n % 2 || n > 2 * PKEY_EC_MAX_FIELD)
		return PSA_ERR_INVALID_SIGNATURE;
	sig = ECDSA_SIG_new();
	r = BN_bin2bn(raw, (int)(n / 2), NULL);
	s = BN_bin2bn(raw + n / 2, (int)(n / 2), NULL);
	if (!sig || !r || !s || !ECDSA_SIG_set0(sig, r, s)) {
		BN_free(r);
		BN_free(s);
		goto out;
	}
	len = i2d_ECDSA_SIG(sig, NULL);
	if (len <= 0 || buf_reserve(der, (size_t)len) != 0)
		goto out;
	p = der->data + der->len;
	if (i2d_ECDSA_SIG(sig, &p) != len)
		goto out;
	buf_commit(der, (size_t)len);
	st = PSA_OK;
out:
	ECDSA_SIG_free(sig);
	return done(st);
}

int pkey_ecdsa_der_to_raw(const uint8_t *der, size_t n, size_t field_len, struct buf *raw)
{
	const unsigned char *p = der;
	const BIGNUM *r, *s;
	ECDSA_SIG *sig;
	int st = PSA_ERR_INVALID_SIGNATURE;

	if (!der || !n || n > 1024 || !field_len || field_len > PKEY_EC_MAX_FIELD)
		return PSA_ERR_INVALID_SIGNATURE;
	sig = d2i_ECDSA_SIG(NULL, &p, (long)n);
	if (!sig || p != der + n)
		goto out;
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_is_negative(r) || BN_is_negative(s) ||
	    (size_t)BN_num_bytes(r) > field_len || (size_t)BN_num_bytes(s) > field_len)
		goto out;
	st = PSA_ERR_INSUFFICIENT_MEMORY;
	if (buf_reserve(raw, 2 * field_len) != 0)
		goto out;
	BN_bn2binpad(r, raw->data + raw->len, (int)field_len);
	BN_bn2binpad(s, raw->data + raw->len + field_len, (int)field_len);
	buf_commit(raw, 2 * field_len);
	st = PSA_OK;
out:
	ECDSA_SIG_free(sig);
	return done(st);
}

/* ---- signatures ---- */

static int sig_is_rsa(int variant)
{
	return variant == PSA_SIGN_RSA_PKCS1V15 || variant == PSA_SIGN_RSA_PKCS1V15_RAW ||
	       variant == PSA_SIGN_RSA_PSS;
}

static int sig_is_ecdsa(int variant)
{
	return variant == PSA_SIGN_ECDSA || variant == PSA_SIGN_ECDSA_ANY ||
	       variant == PSA_SIGN_DETERMINISTIC_ECDSA;
}

static EVP_MD *md_fetch(enum psa_hash h, int *st)
{
	const char *name;
	EVP_MD *md;

	if (h == PSA_HASH_ANY || h == PSA_HASH_NONE) {
		*st = PSA_ERR_INVALID_ARGUMENT;
		return NULL;
	}
	name = psa_hash_name(h);
	md = name ? EVP_MD_fetch(NULL, name, NULL) : NULL;
	*st = md ? PSA_OK : PSA_ERR_NOT_SUPPORTED;
	return md;
}

/* Checks a signature algorithm against the key and the input, and fetches
 * its digest (NULL for raw PKCS#1 v1.5 and ECDSA-any, which sign the input
 * as given). The other algorithms take exactly one digest of their hash. */
static int sig_check(const struct psa_attrs *ka, const struct psa_alg *alg, size_t n,
		     EVP_MD **md)
{
	int st;

	*md = NULL;
	if (alg->kind != PSA_ALG_SIGN)
		return PSA_ERR_INVALID_ARGUMENT;
	if (sig_is_rsa(alg->variant)) {
		if (ka->type != PSA_KEY_RSA_PAIR && ka->type != PSA_KEY_RSA_PUBLIC)
			return PSA_ERR_INVALID_ARGUMENT;
	} else if (sig_is_ecdsa(alg->variant)) {
		if ((ka->type != PSA_KEY_ECC_PAIR && ka->type != PSA_KEY_ECC_PUBLIC) ||
		    ecc_is_montgomery(ka))
			return PSA_ERR_INVALID_ARGUMENT;
	} else {
		return PSA_ERR_NOT_SUPPORTED;
	}
	if (alg->variant == PSA_SIGN_RSA_PKCS1V15_RAW || alg->variant == PSA_SIGN_ECDSA_ANY)
		return n ? PSA_OK : PSA_ERR_INVALID_ARGUMENT;
	*md = md_fetch(alg->hash, &st);
	if (st != PSA_OK)
		return st;
	if (n != (size_t)EVP_MD_get_size(*md)) {
		EVP_MD_free(*md);
		*md = NULL;
		return PSA_ERR_INVALID_ARGUMENT;
	}
	return PSA_OK;
}

/* PSA's PSS salt: the hash's length, or the most the key leaves room for
 * when that is less (RFC 8017 9.1.1: emLen >= hLen + sLen + 2; our RSA
 * sizes are whole bytes, so emLen is the modulus length). -1: no room. */
static int pss_salt_len(EVP_PKEY *k, const EVP_MD *md)
{
	int room = EVP_PKEY_get_size(k) - 2 - EVP_MD_get_size(md);

	if (room < 0)
		return -1;
	return room < EVP_MD_get_size(md) ? room : EVP_MD_get_size(md);
}

/* A context set up to sign or verify with an RSA algorithm. */
static int rsa_sig_ctx(EVP_PKEY *k, int sign, const struct psa_alg *alg, EVP_MD *md,
		       size_t n, EVP_PKEY_CTX **out)
{
	EVP_PKEY_CTX *ctx;
	int salt = 0;

	*out = NULL;
	if (alg->variant == PSA_SIGN_RSA_PKCS1V15_RAW && n + 11 > (size_t)EVP_PKEY_get_size(k))
		return PSA_ERR_INVALID_ARGUMENT;
	if (alg->variant == PSA_SIGN_RSA_PSS) {
		salt = pss_salt_len(k, md);
		if (salt < 0)
			return sign ? PSA_ERR_INVALID_ARGUMENT : PSA_ERR_INVALID_SIGNATURE;
	}
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
	if (!ctx || (sign ? EVP_PKEY_sign_init(ctx) : EVP_PKEY_verify_init(ctx)) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, alg->variant == PSA_SIGN_RSA_PSS
					 ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING) <= 0 ||
	    (md && EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0) ||
	    (alg->variant == PSA_SIGN_RSA_PSS &&
	     (EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0 ||
	      EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, salt) <= 0))) {
		EVP_PKEY_CTX_free(ctx);
		return PSA_ERR_GENERIC;
	}
	*out = ctx;
	return PSA_OK;
}

static int evp_sign(EVP_PKEY_CTX *ctx, const uint8_t *h, size_t n, struct buf *sig)
{
	size_t len = 0;

	if (EVP_PKEY_sign(ctx, NULL, &len, h, n) <= 0)
		return PSA_ERR_GENERIC;
	if (buf_reserve(sig, len) != 0)
		return PSA_ERR_INSUFFICIENT_MEMORY;
	if (EVP_PKEY_sign(ctx, sig->data + sig->len, &len, h, n) <= 0)
		return PSA_ERR_GENERIC;
	buf_commit(sig, len);
	return PSA_OK;
}

static int ecdsa_verify_raw(EVP_PKEY *k, const uint8_t *h, size_t n, const uint8_t *sig,
			    size_t sn, size_t field_len)
{
	struct buf der = BUF_INIT;
	EVP_PKEY_CTX *ctx = NULL;
	int st;

	if (sn != 2 * field_len)
		return PSA_ERR_INVALID_SIGNATURE;
	st = pkey_ecdsa_raw_to_der(sig, sn, &der);
	if (st == PSA_OK) {
		ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
		if (!ctx || EVP_PKEY_verify_init(ctx) <= 0)
			st = PSA_ERR_GENERIC;
		else if (EVP_PKEY_verify(ctx, der.data, der.len, h, n) != 1)
			st = PSA_ERR_INVALID_SIGNATURE;
	}
	EVP_PKEY_CTX_free(ctx);
	buf_free(&der);
	return st;
}

/* ---- deterministic ECDSA (RFC 6979) ----
 *
 * Kept to this section. The nonce k comes from HMAC-DRBG over the private
 * key and the hash (RFC 6979 3.2); the signature is computed with:
 *  - k*G by EC_POINT_mul, which for a lone scalar uses OpenSSL's
 *    constant-time ladder (or the curve's own constant-time code);
 *  - k^-1 as k^(q-2) by BN_mod_exp_mont_consttime (q is prime);
 *  - x*r and the rest with Montgomery multiplications on operands reduced
 *    mod q, the private key blinded by a random factor b so that no
 *    non-constant-time addition sees an unblinded secret:
 *    s = (b*x*r + b*e) * k^-1 * b^-1.
 * The signature is verified with the public key before it is released. */

struct rfc6979 {
	EVP_MAC_CTX *mac;
	size_t hlen;
	uint8_t K[EVP_MAX_MD_SIZE], V[EVP_MAX_MD_SIZE];
};

/* out = HMAC_K(V || sep || data), sep < 0: none. */
static int drbg_hmac(struct rfc6979 *d, int sep, const uint8_t *data, size_t n,
		     uint8_t *out)
{
	uint8_t s = (uint8_t)sep;
	size_t len;

	return EVP_MAC_init(d->mac, d->K, d->hlen, NULL) &&
	       EVP_MAC_update(d->mac, d->V, d->hlen) &&
	       (sep < 0 || EVP_MAC_update(d->mac, &s, 1)) &&
	       (!n || EVP_MAC_update(d->mac, data, n)) &&
	       EVP_MAC_final(d->mac, out, &len, EVP_MAX_MD_SIZE) && len == d->hlen;
}

/* RFC 6979 2.3.2: the leftmost qlen bits of b as an integer. */
static int bits2int(BIGNUM *out, const uint8_t *b, size_t n, int qlen)
{
	if (!BN_bin2bn(b, (int)n, out))
		return 0;
	if ((int)(8 * n) > qlen)
		return BN_rshift(out, out, (int)(8 * n) - qlen);
	return 1;
}

/* Seeds the DRBG (RFC 6979 3.2 steps b-g). */
static int drbg_seed(struct rfc6979 *d, const BIGNUM *x, const BIGNUM *q, int qlen,
		     const uint8_t *h, size_t hn, BN_CTX *bn)
{
	size_t rlen = (size_t)(qlen + 7) / 8;
	uint8_t seed[2 * PKEY_EC_MAX_FIELD];
	BIGNUM *z;
	int ok;

	BN_CTX_start(bn);
	z = BN_CTX_get(bn);
	/* int2octets(x) || bits2octets(h1): h1 reduced mod q once. */
	ok = z && BN_bn2binpad(x, seed, (int)rlen) == (int)rlen &&
	     bits2int(z, h, hn, qlen) &&
	     (BN_cmp(z, q) < 0 || BN_sub(z, z, q)) &&
	     BN_bn2binpad(z, seed + rlen, (int)rlen) == (int)rlen;
	memset(d->V, 0x01, d->hlen);
	memset(d->K, 0x00, d->hlen);
	ok = ok && drbg_hmac(d, 0x00, seed, 2 * rlen, d->K) &&
	     drbg_hmac(d, -1, NULL, 0, d->V) &&
	     drbg_hmac(d, 0x01, seed, 2 * rlen, d->K) &&
	     drbg_hmac(d, -1, NULL, 0, d->V);
	secure_wipe(seed, sizeof seed);
	BN_CTX_end(bn);
	return ok;
}

/* The next candidate k (RFC 6979 3.2 step h): the caller retries while
 * k is not in [1, q-1] or gives r = 0 or s = 0. */
static int drbg_next(struct rfc6979 *d, BIGNUM *k, int qlen, int reseed)
{
	uint8_t t[PKEY_EC_MAX_FIELD + EVP_MAX_MD_SIZE];
	size_t tlen = 0;
	int ok = 1;

	if (reseed)
		ok = drbg_hmac(d, 0x00, NULL, 0, d->K) && drbg_hmac(d, -1, NULL, 0, d->V);
	while (ok && (int)(8 * tlen) < qlen) {
		ok = drbg_hmac(d, -1, NULL, 0, d->V);
		memcpy(t + tlen, d->V, d->hlen);
		tlen += d->hlen;
	}
	ok = ok && bits2int(k, t, tlen, qlen);
	secure_wipe(t, sizeof t);
	return ok;
}

/* out = a*b mod q, a and b reduced mod q. */
static int mont_mul(BIGNUM *out, const BIGNUM *a, const BIGNUM *b, BN_MONT_CTX *mont,
		    BN_CTX *bn)
{
	BIGNUM *t;
	int ok;

	BN_CTX_start(bn);
	t = BN_CTX_get(bn);
	ok = t && BN_to_montgomery(t, a, mont, bn) &&
	     BN_mod_mul_montgomery(out, t, b, mont, bn);
	BN_CTX_end(bn);
	return ok;
}

/* s from k, given r, e (the hash as an integer mod q) and x. */
static int ecdsa_s(BIGNUM *s, const BIGNUM *k, const BIGNUM *r, const BIGNUM *e,
		   const BIGNUM *x, const BIGNUM *q, BN_MONT_CTX *mont, BN_CTX *bn)
{
	BIGNUM *qm2, *kinv, *b, *binv, *t, *u;
	int ok;

	BN_CTX_start(bn);
	qm2 = BN_CTX_get(bn);
	kinv = BN_CTX_get(bn);
	b = BN_CTX_get(bn);
	binv = BN_CTX_get(bn);
	t = BN_CTX_get(bn);
	u = BN_CTX_get(bn);
	ok = u != NULL;
	if (ok) {
		BN_set_flags(kinv, BN_FLG_CONSTTIME);
		BN_set_flags(t, BN_FLG_CONSTTIME);
		BN_set_flags(u, BN_FLG_CONSTTIME);
	}
	do
		ok = ok && BN_priv_rand_range(b, q);
	while (ok && BN_is_zero(b));
	ok = ok && BN_sub(qm2, q, BN_value_one()) && BN_sub(qm2, qm2, BN_value_one()) &&
	     BN_mod_exp_mont_consttime(kinv, k, qm2, q, bn, mont) &&
	     BN_mod_exp_mont_consttime(binv, b, qm2, q, bn, mont) &&
	     mont_mul(t, x, b, mont, bn) &&		/* t = b*x */
	     mont_mul(t, t, r, mont, bn) &&		/* t = b*x*r */
	     mont_mul(u, e, b, mont, bn) &&		/* u = b*e */
	     BN_mod_add_quick(t, t, u, q) &&		/* t = b*(x*r + e) */
	     mont_mul(t, t, kinv, mont, bn) &&		/* t = b*s */
	     mont_mul(s, t, binv, mont, bn);
	BN_CTX_end(bn);
	return ok;
}

static int rfc6979_sign(EVP_PKEY *k, enum psa_hash hash, const uint8_t *h, size_t hn,
			size_t field_len, struct buf *sig)
{
	struct rfc6979 d = { 0 };
	EVP_MAC *hmac = NULL;
	EC_GROUP *g = ec_group_of(k);
	EC_POINT *R = g ? EC_POINT_new(g) : NULL;
	BN_CTX *bn = BN_CTX_secure_new();
	BN_MONT_CTX *mont = BN_MONT_CTX_new();
	BIGNUM *x = NULL, *kk, *r, *s, *e, *rx;
	OSSL_PARAM params[2];
	const BIGNUM *q;
	int qlen, st = PSA_ERR_INSUFFICIENT_MEMORY, ok = 0, tries = 0;
	uint8_t out[2 * PKEY_EC_MAX_FIELD];

	if (!g || !R || !bn || !mont)
		goto out;
	BN_CTX_start(bn);
	kk = BN_CTX_get(bn);
	r = BN_CTX_get(bn);
	s = BN_CTX_get(bn);
	e = BN_CTX_get(bn);
	rx = BN_CTX_get(bn);
	if (!rx)
		goto out_bn;
	BN_set_flags(kk, BN_FLG_CONSTTIME);
	st = PSA_ERR_GENERIC;
	if (!EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &x))
		goto out_bn;
	BN_set_flags(x, BN_FLG_CONSTTIME);
	q = EC_GROUP_get0_order(g);
	qlen = BN_num_bits(q);
	if (!BN_MONT_CTX_set(mont, q, bn))
		goto out_bn;

	hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	d.mac = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)psa_hash_name(hash), 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!d.mac || !EVP_MAC_CTX_set_params(d.mac, params))
		goto out_bn;
	d.hlen = psa_hash_size(hash);
	/* e: the hash as an integer, reduced mod q. */
	if (!bits2int(e, h, hn, qlen) || !BN_nnmod(e, e, q, bn) ||
	    !drbg_seed(&d, x, q, qlen, h, hn, bn))
		goto out_bn;
	/* A retry needs k >= q or r = 0 or s = 0: each about 2^-128 or
	 * rarer on our curves, so the bound only stops a broken DRBG. */
	while (!ok && tries++ < 64) {
		if (!drbg_next(&d, kk, qlen, tries > 1))
			goto out_bn;
		if (BN_is_zero(kk) || BN_cmp(kk, q) >= 0)
			continue;
		if (!EC_POINT_mul(g, R, kk, NULL, NULL, bn) ||
		    !EC_POINT_get_affine_coordinates(g, R, rx, NULL, bn) ||
		    !BN_nnmod(r, rx, q, bn))
			goto out_bn;
		if (BN_is_zero(r))
			continue;
		if (!ecdsa_s(s, kk, r, e, x, q, mont, bn))
			goto out_bn;
		ok = !BN_is_zero(s);
	}
	if (!ok ||
	    BN_bn2binpad(r, out, (int)field_len) != (int)field_len ||
	    BN_bn2binpad(s, out + field_len, (int)field_len) != (int)field_len)
		goto out_bn;
	/* Verify before release: a fault or a bug here must not hand out a
	 * signature that leaks the key. */
	st = ecdsa_verify_raw(k, h, hn, out, 2 * field_len, field_len);
	if (st != PSA_OK)
		st = PSA_ERR_CORRUPTION_DETECTED;
	else if (buf_append(sig, out, 2 * field_len) != 0)
		st = PSA_ERR_INSUFFICIENT_MEMORY;
out_bn:
	BN_CTX_end(bn);
out:
	secure_wipe(d.K, sizeof d.K);
	secure_wipe(d.V, sizeof d.V);
	EVP_MAC_CTX_free(d.mac);
	EVP_MAC_free(hmac);
	BN_clear_free(x);
	BN_MONT_CTX_free(mont);
	BN_CTX_free(bn);
	EC_POINT_free(R);
	EC_GROUP_free(g);
	return st;
}

int pkey_sign_hash(const struct psa_attrs *a, EVP_PKEY *k, const struct psa_alg *alg,
		   const uint8_t *hash, size_t n, struct buf *sig)
{
	struct psa_attrs ka;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_MD *md = NULL;
	int st = attrs_of_key(a, k, &ka);

	if (st == PSA_OK && ka.type != PSA_KEY_RSA_PAIR && ka.type != PSA_KEY_ECC_PAIR)
		st = PSA_ERR_INVALID_ARGUMENT;
	if (st == PSA_OK)
		st = sig_check(&ka, alg, n, &md);
	if (st != PSA_OK)
		return done(st);

	size_t fl = bits_to_bytes(ka.bits);

	if (sig_is_rsa(alg->variant)) {
		st = rsa_sig_ctx(k, 1, alg, md, n, &ctx);
		if (st == PSA_OK)
			st = evp_sign(ctx, hash, n, sig);
	} else if (alg->variant == PSA_SIGN_DETERMINISTIC_ECDSA) {
		st = rfc6979_sign(k, alg->hash, hash, n, fl, sig);
	} else {
		struct buf der = BUF_INIT;

		/* No digest set: OpenSSL signs the input as given, which
		 * sig_check has already sized. */
		ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
		if (!ctx || EVP_PKEY_sign_init(ctx) <= 0)
			st = PSA_ERR_GENERIC;
		else
			st = evp_sign(ctx, hash, n, &der);
		if (st == PSA_OK)
			st = pkey_ecdsa_der_to_raw(der.data, der.len, fl, sig);
		if (st == PSA_ERR_INVALID_SIGNATURE)
			st = PSA_ERR_GENERIC;
		buf_free(&der);
	}
	EVP_PKEY_CTX_free(ctx);
	EVP_MD_free(md);
	return done(st);
}

int pkey_verify_hash(const struct psa_attrs *a, EVP_PKEY *k, const struct psa_alg *alg,
		     const uint8_t *hash, size_t n, const uint8_t *sig, size_t sn)
{
	struct psa_attrs ka;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_MD *md = NULL;
	int st = attrs_of_key(a, k, &ka);

	if (st == PSA_OK)
		st = sig_check(&ka, alg, n, &md);
	if (st != PSA_OK)
		return done(st);
	if (sig_is_rsa(alg->variant)) {
		if (sn != (size_t)EVP_PKEY_get_size(k))
			st = PSA_ERR_INVALID_SIGNATURE;
		else
			st = rsa_sig_ctx(k, 0, alg, md, n, &ctx);
		if (st == PSA_OK && EVP_PKEY_verify(ctx, sig, sn, hash, n) != 1)
			st = PSA_ERR_INVALID_SIGNATURE;
	} else {
		st = ecdsa_verify_raw(k, hash, n, sig, sn, bits_to_bytes(ka.bits));
	}
	EVP_PKEY_CTX_free(ctx);
	EVP_MD_free(md);
	return done(st);
}

/* ---- RSA encryption ---- */

/* A context for an encryption algorithm, with the longest message it
 * takes. The label (salt) belongs to OAEP only. */
static int rsa_enc_ctx(EVP_PKEY *k, int encrypt, const struct psa_alg *alg,
		       const uint8_t *salt, size_t sn, EVP_PKEY_CTX **out, size_t *max)
{
	EVP_PKEY_CTX *ctx;
	EVP_MD *md = NULL;
	size_t klen = (size_t)EVP_PKEY_get_size(k);
	int st = PSA_OK;

	*out = NULL;
	if (alg->kind != PSA_ALG_ENCRYPT)
		return PSA_ERR_INVALID_ARGUMENT;
	if (alg->variant == PSA_ENCRYPT_RSA_PKCS1V15) {
		if (sn)
			return PSA_ERR_INVALID_ARGUMENT;
		*max = klen - 11;
	} else if (alg->variant == PSA_ENCRYPT_RSA_OAEP) {
		md = md_fetch(alg->hash, &st);
		if (st != PSA_OK)
			return st;
		if (klen < 2 * (size_t)EVP_MD_get_size(md) + 2) {
			EVP_MD_free(md);
			return PSA_ERR_INVALID_ARGUMENT;
		}
		*max = klen - 2 * (size_t)EVP_MD_get_size(md) - 2;
	} else {
		return PSA_ERR_NOT_SUPPORTED;
	}
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
	if (!ctx || (encrypt ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, md ? RSA_PKCS1_OAEP_PADDING
					      : RSA_PKCS1_PADDING) <= 0)
		st = PSA_ERR_GENERIC;
	if (st == PSA_OK && md &&
	    (EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) <= 0 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0))
		st = PSA_ERR_GENERIC;
	if (st == PSA_OK && md && sn) {
		/* The context takes ownership of the label. */
		void *label = OPENSSL_memdup(salt, sn);

		if (!label || sn > INT32_MAX ||
		    EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label, (int)sn) <= 0) {
			OPENSSL_free(label);
			st = PSA_ERR_GENERIC;
		}
	}
	EVP_MD_free(md);
	if (st != PSA_OK) {
		EVP_PKEY_CTX_free(ctx);
		return st;
	}
	*out = ctx;
	return PSA_OK;
}

static int rsa_key_check(const struct psa_attrs *a, EVP_PKEY *k, int need_private)
{
	struct psa_attrs ka;
	int st = attrs_of_key(a, k, &ka);

	if (st != PSA_OK)
		return st;
	if (ka.type != PSA_KEY_RSA_PAIR && (need_private || ka.type != PSA_KEY_RSA_PUBLIC))
		return PSA_ERR_INVALID_ARGUMENT;
	return PSA_OK;
}

int pkey_encrypt(const struct psa_attrs *a, EVP_PKEY *k, const struct psa_alg *alg,
		 const uint8_t *in, size_t n, const uint8_t *salt, size_t sn,
		 struct buf *out)
{
	EVP_PKEY_CTX *ctx = NULL;
	size_t max = 0, len = 0;
	int st = rsa_key_check(a, k, 0);

	if (st == PSA_OK)
		st = rsa_enc_ctx(k, 1, alg, salt, sn, &ctx, &max);
	if (st == PSA_OK && n > max)
		st = PSA_ERR_INVALID_ARGUMENT;
	if (st == PSA_OK && EVP_PKEY_encrypt(ctx, NULL, &len, in, n) <= 0)
		st = PSA_ERR_GENERIC;
	if (st == PSA_OK && buf_reserve(out, len) != 0)
		st = PSA_ERR_INSUFFICIENT_MEMORY;
	if (st == PSA_OK && EVP_PKEY_encrypt(ctx, out->data + out->len, &len, in, n) <= 0)
		st = PSA_ERR_GENERIC;
	if (st == PSA_OK)
		buf_commit(out, len);
	EVP_PKEY_CTX_free(ctx);
	return done(st);
}

int pkey_decrypt(const struct psa_attrs *a, EVP_PKEY *k, const struct psa_alg *alg,
		 const uint8_t *in, size_t n, const uint8_t *salt, size_t sn,
		 struct buf *out)
{
	EVP_PKEY_CTX *ctx = NULL;
	size_t max = 0, len = 0;
	int st = rsa_key_check(a, k, 1);

	if (st == PSA_OK)
		st = rsa_enc_ctx(k, 0, alg, salt, sn, &ctx, &max);
	if (st == PSA_OK && n != (size_t)EVP_PKEY_get_size(k))
		st = PSA_ERR_INVALID_ARGUMENT;
	if (st == PSA_OK && EVP_PKEY_decrypt(ctx, NULL, &len, in, n) <= 0)
		st = PSA_ERR_GENERIC;
	if (st == PSA_OK && buf_reserve(out, len) != 0)
		st = PSA_ERR_INSUFFICIENT_MEMORY;
	if (st == PSA_OK) {
		size_t room = len;

		if (EVP_PKEY_decrypt(ctx, out->data + out->len, &len, in, n) <= 0) {
			secure_wipe(out->data + out->len, room);
			st = PSA_ERR_INVALID_PADDING;
		} else {
			buf_commit(out, len);
		}
	}
	EVP_PKEY_CTX_free(ctx);
	return done(st);
}

/* ---- key agreement ---- */

int pkey_agree(const struct psa_attrs *a, EVP_PKEY *k, const struct psa_alg *alg,
	       const uint8_t *peer, size_t pn, struct buf *out)
{
	struct psa_attrs ka, pa;
	EVP_PKEY *pk = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	size_t len = 0;
	int st = attrs_of_key(a, k, &ka);

	if (st == PSA_OK && alg->kind != PSA_ALG_KEY_AGREEMENT)
		st = PSA_ERR_INVALID_ARGUMENT;
	else if (st == PSA_OK && alg->variant != PSA_KA_ECDH)
		st = PSA_ERR_NOT_SUPPORTED;
	else if (st == PSA_OK && (alg->kdf || ka.type != PSA_KEY_ECC_PAIR))
		st = PSA_ERR_INVALID_ARGUMENT;
	if (st != PSA_OK)
		return done(st);
	/* The peer's key is a public key on our curve, checked as an
	 * import would check it. */
	pa = ka;
	pa.type = PSA_KEY_ECC_PUBLIC;
	st = key_parse(&pa, peer, pn, CHECK_POINTS, &pk);
	if (st != PSA_OK)
		return done(PSA_ERR_INVALID_ARGUMENT);
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
	if (!ctx || EVP_PKEY_derive_init(ctx) <= 0)
		st = PSA_ERR_GENERIC;
	else if (EVP_PKEY_derive_set_peer(ctx, pk) <= 0 ||
		 EVP_PKEY_derive(ctx, NULL, &len) <= 0)
		st = PSA_ERR_INVALID_ARGUMENT;
	if (st == PSA_OK && buf_reserve(out, len) != 0)
		st = PSA_ERR_INSUFFICIENT_MEMORY;
	/* Fails for X25519/X448 peers of small order (all-zero secret). */
	if (st == PSA_OK && EVP_PKEY_derive(ctx, out->data + out->len, &len) <= 0)
		st = PSA_ERR_INVALID_ARGUMENT;
	if (st == PSA_OK)
		buf_commit(out, len);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pk);
	return done(st);
}
