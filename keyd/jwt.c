/* jwt: JWKS trust bundles and JWT-SVID verification.
 *
 * RFC 7515 (JWS), 7517 (JWK), 7518 (algorithms) and 7519 (JWT), narrowed by
 * the SPIFFE JWT-SVID and trust bundle specifications. The algorithm comes
 * from a fixed table keyed by the header's "alg" and must agree with the
 * type of the key it is checked with, so a token can never choose HMAC,
 * "none", or an RSA key to be read as something else. */
#include "keyd/jwt.h"

#include <jansson.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/encode.h"
#include "util/error.h"

#define JWT_KID_MAX 256
#define JWT_RSA_MIN_BITS 2048	/* RFC 7518, 3.3 and 3.5 */
#define JWT_RSA_MAX_BITS 8192	/* bounds the cost of one verification */
#define JWT_RSA_MAX_E_BYTES 8

enum jwt_kty {
	JWT_KTY_RSA = 1,
	JWT_KTY_EC,
};

struct jwt_curve {
	const char *crv;	/* JWK name, also an OpenSSL group name */
	size_t size;		/* bytes of a coordinate, and of r and of s */
};

static const struct jwt_curve jwt_curves[] = {
	{ "P-256", 32 },
	{ "P-384", 48 },
	{ "P-521", 66 },
};

struct jwt_alg {
	const char *name;
	enum jwt_kty kty;
	const char *md;			/* OpenSSL digest name */
	int pss;			/* RSASSA-PSS rather than PKCS#1 v1.5 */
	const struct jwt_curve *curve;	/* ES*: the one curve it goes with */
};

/* The algorithms JWT-SVID allows (JWT-SVID spec, 2.1); nothing else is
 * ever looked up, which is what keeps "none" and HS* out. */
static const struct jwt_alg jwt_algs[] = {
	{ "RS256", JWT_KTY_RSA, "SHA256", 0, NULL },
	{ "RS384", JWT_KTY_RSA, "SHA384", 0, NULL },
	{ "RS512", JWT_KTY_RSA, "SHA512", 0, NULL },
	{ "PS256", JWT_KTY_RSA, "SHA256", 1, NULL },
	{ "PS384", JWT_KTY_RSA, "SHA384", 1, NULL },
	{ "PS512", JWT_KTY_RSA, "SHA512", 1, NULL },
	{ "ES256", JWT_KTY_EC, "SHA256", 0, &jwt_curves[0] },
	{ "ES384", JWT_KTY_EC, "SHA384", 0, &jwt_curves[1] },
	{ "ES512", JWT_KTY_EC, "SHA512", 0, &jwt_curves[2] },
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

struct jwt_key {
	char *kid;
	enum jwt_kty kty;
	const struct jwt_curve *curve;	/* EC only */
	const struct jwt_alg *alg;	/* the JWK's own "alg"; NULL: any */
	EVP_PKEY *pkey;
};

struct jwt_keys {
	struct jwt_key *keys;
	size_t n;
};

static const struct jwt_alg *jwt_alg_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(jwt_algs); i++)
		if (!strcmp(jwt_algs[i].name, name))
			return &jwt_algs[i];
	return NULL;
}

static const struct jwt_curve *jwt_curve_find(const char *crv)
{
	for (size_t i = 0; i < ARRAY_LEN(jwt_curves); i++)
		if (!strcmp(jwt_curves[i].crv, crv))
			return &jwt_curves[i];
	return NULL;
}

static const char *jwt_kty_name(enum jwt_kty kty)
{
	return kty == JWT_KTY_RSA ? "RSA" : "EC";
}

/* Copies a value taken from a token (kid, alg) into an error message:
 * printable ASCII only and bounded, so a hostile token cannot forge log
 * lines or flood them. */
static const char *jwt_printable(char *out, size_t outsz, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < outsz; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ?
			(char)c : '?';
	}
	out[i] = 0;
	if (s[i] && outsz > 4)
		memcpy(out + outsz - 4, "...", 4);
	return out;
}

/* base64url without padding (RFC 7515, 2), decoded strictly. The
 * standard-alphabet decoder of util/encode does the work, including the
 * refusal of non-zero trailing bits, once the two alphabet differences are
 * mapped back and the padding is restored. Characters only the standard
 * alphabet has ('+', '/', '=') are refused. */
static int jwt_b64url_decode(struct buf *out, const char *s, size_t n)
{
	size_t padded, i;
	char *std;
	int rc;

	if (n % 4 == 1 || n > BUF_MAX / 2)
		return -1;
	padded = (n + 3) / 4 * 4;
	std = malloc(padded + 1);
	if (!std)
		return -1;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (c == '+' || c == '/' || c == '=')
			c = '!';	/* not in either alphabet: refused */
		std[i] = c;
	}
	for (; i < padded; i++)
		std[i] = '=';
	rc = b64_decode(out, std, padded);
	free(std);
	return rc;
}

/* ---- JWKS ---------------------------------------------------------- */

static EVP_PKEY *jwt_pkey_fromdata(const char *type, OSSL_PARAM *params)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pkey = NULL;

	if (ctx && (EVP_PKEY_fromdata_init(ctx) != 1 ||
		    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY,
				      params) != 1))
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

/* Decodes the base64url member name of jwk; -1 with err when it is
 * missing, not a string or not base64url. */
static int jwk_member_bytes(const json_t *jwk, const char *name, size_t idx,
			    struct buf *out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(jwk, name);

	if (!json_is_string(v)) {
		error_set(err, errlen, "keys[%zu]: %s missing or not a string",
			  idx, name);
		return -1;
	}
	if (jwt_b64url_decode(out, json_string_value(v),
			      json_string_length(v)) < 0) {
		error_set(err, errlen, "keys[%zu]: %s is not base64url", idx,
			  name);
		return -1;
	}
	return 0;
}

static EVP_PKEY *jwk_rsa(const json_t *jwk, size_t idx, char *err,
			 size_t errlen)
{
	struct buf nb = BUF_INIT, eb = BUF_INIT;
	BIGNUM *n = NULL, *e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY *pkey = NULL;
	int bits;

	if (jwk_member_bytes(jwk, "n", idx, &nb, err, errlen) < 0 ||
	    jwk_member_bytes(jwk, "e", idx, &eb, err, errlen) < 0)
		goto out;
	n = BN_bin2bn(nb.data, (int)nb.len, NULL);
	e = BN_bin2bn(eb.data, (int)eb.len, NULL);
	if (!n || !e) {
		error_set(err, errlen, "out of memory");
		goto out;
	}
	bits = BN_num_bits(n);
	if (bits < JWT_RSA_MIN_BITS || bits > JWT_RSA_MAX_BITS) {
		error_set(err, errlen,
			  "keys[%zu]: RSA modulus of %d bits (allowed: %d to %d)",
			  idx, bits, JWT_RSA_MIN_BITS, JWT_RSA_MAX_BITS);
		goto out;
	}
	if (!BN_is_odd(n)) {
		error_set(err, errlen, "keys[%zu]: RSA modulus is even", idx);
		goto out;
	}
	/* OpenSSL refuses large exponents with large moduli at verification
	 * time; refusing them here reports the problem where it is. */
	if (!BN_is_odd(e) || BN_is_one(e) ||
	    BN_num_bytes(e) > JWT_RSA_MAX_E_BYTES) {
		error_set(err, errlen, "keys[%zu]: bad RSA exponent", idx);
		goto out;
	}
	bld = OSSL_PARAM_BLD_new();
	if (!bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    !(params = OSSL_PARAM_BLD_to_param(bld))) {
		error_set(err, errlen, "out of memory");
		goto out;
	}
	pkey = jwt_pkey_fromdata("RSA", params);
	if (!pkey)
		error_set(err, errlen, "keys[%zu]: OpenSSL refused the RSA key",
			  idx);
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	buf_free(&nb);
	buf_free(&eb);
	return pkey;
}

/* The point must be on the curve: a point off it can leak nothing in
 * verification, but a bundle that holds one is broken and should say so
 * when it is loaded, not fail every token later. */
static int jwt_pkey_public_ok(EVP_PKEY *pkey)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	int ok = ctx && EVP_PKEY_public_check(ctx) == 1;

	EVP_PKEY_CTX_free(ctx);
	return ok;
}

static EVP_PKEY *jwk_ec(const json_t *jwk, const struct jwt_curve *c,
			size_t idx, char *err, size_t errlen)
{
	struct buf xb = BUF_INIT, yb = BUF_INIT;
	uint8_t pt[1 + 2 * 66];
	OSSL_PARAM params[3];
	EVP_PKEY *pkey = NULL;

	if (jwk_member_bytes(jwk, "x", idx, &xb, err, errlen) < 0 ||
	    jwk_member_bytes(jwk, "y", idx, &yb, err, errlen) < 0)
		goto out;
	/* RFC 7518, 6.2.1.2: coordinates are always the full size. */
	if (xb.len != c->size || yb.len != c->size) {
		error_set(err, errlen,
			  "keys[%zu]: %s coordinates must be %zu bytes", idx,
			  c->crv, c->size);
		goto out;
	}
	pt[0] = 0x04;	/* uncompressed SEC1 point */
	memcpy(pt + 1, xb.data, c->size);
	memcpy(pt + 1 + c->size, yb.data, c->size);
	params[0] = OSSL_PARAM_construct_utf8_string(
		OSSL_PKEY_PARAM_GROUP_NAME, (char *)c->crv, 0);
	params[1] = OSSL_PARAM_construct_octet_string(
		OSSL_PKEY_PARAM_PUB_KEY, pt, 1 + 2 * c->size);
	params[2] = OSSL_PARAM_construct_end();
	pkey = jwt_pkey_fromdata("EC", params);
	if (pkey && !jwt_pkey_public_ok(pkey)) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	if (!pkey)
		error_set(err, errlen, "keys[%zu]: point is not on curve %s",
			  idx, c->crv);
out:
	buf_free(&xb);
	buf_free(&yb);
	return pkey;
}

/* An optional string member; -1 with err when present but not a string. */
static int jwk_opt_string(const json_t *jwk, const char *name, size_t idx,
			  const char **out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(jwk, name);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v)) {
		error_set(err, errlen, "keys[%zu]: %s is not a string", idx,
			  name);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

/* Reads keys[idx]. Returns 1 when out holds a usable key, 0 when the
 * element is to be ignored (the bundle spec's rule for unknown key types
 * and uses; also keys for another algorithm family), -1 with err when it
 * is a key we would use but it is broken. */
static int jwk_parse(const json_t *jwk, size_t idx, struct jwt_key *out,
		     char *err, size_t errlen)
{
	const char *kty, *use, *crv = NULL, *alg, *kid;
	const struct jwt_curve *curve = NULL;
	const struct jwt_alg *a = NULL;
	enum jwt_kty type;

	if (!json_is_object(jwk)) {
		error_set(err, errlen, "keys[%zu] is not an object", idx);
		return -1;
	}
	if (jwk_opt_string(jwk, "kty", idx, &kty, err, errlen) < 0 ||
	    jwk_opt_string(jwk, "use", idx, &use, err, errlen) < 0 ||
	    jwk_opt_string(jwk, "alg", idx, &alg, err, errlen) < 0 ||
	    jwk_opt_string(jwk, "kid", idx, &kid, err, errlen) < 0)
		return -1;
	if (!kty) {
		error_set(err, errlen, "keys[%zu]: kty missing", idx);
		return -1;
	}
	/* x509-svid roots share the bundle; they do not sign tokens. */
	if (use && strcmp(use, "jwt-svid") && strcmp(use, "sig"))
		return 0;
	if (!strcmp(kty, "RSA")) {
		type = JWT_KTY_RSA;
	} else if (!strcmp(kty, "EC")) {
		type = JWT_KTY_EC;
		if (jwk_opt_string(jwk, "crv", idx, &crv, err, errlen) < 0)
			return -1;
		if (!crv) {
			error_set(err, errlen, "keys[%zu]: crv missing", idx);
			return -1;
		}
		curve = jwt_curve_find(crv);
		if (!curve)
			return 0;
	} else {
		return 0;
	}
	if (alg) {
		a = jwt_alg_find(alg);
		if (!a)
			return 0;	/* e.g. RSA-OAEP: not a signing key */
		if (a->kty != type) {
			error_set(err, errlen, "keys[%zu]: alg %s needs kty %s",
				  idx, a->name, jwt_kty_name(a->kty));
			return -1;
		}
		if (a->curve != curve) {
			error_set(err, errlen, "keys[%zu]: alg %s needs crv %s",
				  idx, a->name, a->curve->crv);
			return -1;
		}
	}
	/* A bundle is public; a private part in it means a key leaked. */
	if (json_object_get(jwk, "d")) {
		error_set(err, errlen,
			  "keys[%zu]: holds a private key (\"d\"); a trust bundle must hold public keys only",
			  idx);
		return -1;
	}
	if (!kid || !kid[0]) {
		error_set(err, errlen, "keys[%zu]: kid missing", idx);
		return -1;
	}
	if (strlen(kid) > JWT_KID_MAX) {
		error_set(err, errlen, "keys[%zu]: kid longer than %d bytes",
			  idx, JWT_KID_MAX);
		return -1;
	}
	out->pkey = type == JWT_KTY_RSA ? jwk_rsa(jwk, idx, err, errlen) :
		    jwk_ec(jwk, curve, idx, err, errlen);
	if (!out->pkey)
		return -1;
	out->kid = strdup(kid);
	if (!out->kid) {
		EVP_PKEY_free(out->pkey);
		out->pkey = NULL;
		error_set(err, errlen, "out of memory");
		return -1;
	}
	out->kty = type;
	out->curve = curve;
	out->alg = a;
	return 1;
}

static const struct jwt_key *jwt_key_by_kid(const struct jwt_keys *k,
					    const char *kid)
{
	for (size_t i = 0; i < k->n; i++)
		if (!strcmp(k->keys[i].kid, kid))
			return &k->keys[i];
	return NULL;
}

struct jwt_keys *jwt_keys_parse(const char *json, size_t len, char *err,
				size_t errlen)
{
	struct jwt_keys *k = NULL;
	json_t *root = NULL;
	const json_t *keys;
	json_error_t jerr;
	size_t n, i;

	if (!json) {
		error_set(err, errlen, "no JWKS");
		return NULL;
	}
	if (len > JWT_JWKS_MAX) {
		error_set(err, errlen, "JWKS larger than %d bytes",
			  JWT_JWKS_MAX);
		return NULL;
	}
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		error_set(err, errlen, "JWKS is not valid JSON: %s (line %d)",
			  jerr.text, jerr.line);
		return NULL;
	}
	keys = json_object_get(root, "keys");
	if (!json_is_object(root) || !json_is_array(keys)) {
		error_set(err, errlen, "JWKS has no \"keys\" array");
		goto fail;
	}
	n = json_array_size(keys);
	if (n > JWT_JWKS_MAX_KEYS) {
		error_set(err, errlen, "JWKS has %zu keys, at most %d allowed",
			  n, JWT_JWKS_MAX_KEYS);
		goto fail;
	}
	k = calloc(1, sizeof(*k));
	if (!k || !(k->keys = calloc(n ? n : 1, sizeof(*k->keys)))) {
		error_set(err, errlen, "out of memory");
		goto fail;
	}
	for (i = 0; i < n; i++) {
		struct jwt_key key = { 0 };
		int rc = jwk_parse(json_array_get(keys, i), i, &key, err,
				   errlen);

		if (rc < 0)
			goto fail;
		if (rc == 0)
			continue;
		/* A kid names one key; two would make the choice ambiguous. */
		if (jwt_key_by_kid(k, key.kid)) {
			char shown[72];

			error_set(err, errlen, "keys[%zu]: duplicate kid \"%s\"",
				  i, jwt_printable(shown, sizeof(shown),
						   key.kid));
			free(key.kid);
			EVP_PKEY_free(key.pkey);
			goto fail;
		}
		k->keys[k->n++] = key;
	}
	if (!k->n) {
		error_set(err, errlen,
			  "JWKS has no usable key (kty RSA or EC P-256/P-384/P-521, use jwt-svid or sig)");
		goto fail;
	}
	json_decref(root);
	return k;
fail:
	ERR_clear_error();
	jwt_keys_free(k);
	json_decref(root);
	return NULL;
}

void jwt_keys_free(struct jwt_keys *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->n; i++) {
		free(k->keys[i].kid);
		EVP_PKEY_free(k->keys[i].pkey);
	}
	free(k->keys);
	free(k);
}

size_t jwt_keys_count(const struct jwt_keys *k)
{
	return k ? k->n : 0;
}

/* ---- signatures ---------------------------------------------------- */

/* JWS carries ECDSA signatures as r || s, each the curve's size
 * (RFC 7518, 3.4); EVP wants the DER structure. Returns the DER length
 * (*der to OPENSSL_free) or -1. */
static int jwt_ecdsa_der(const uint8_t *sig, size_t size, unsigned char **der)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)size, NULL);
	BIGNUM *s = BN_bin2bn(sig + size, (int)size, NULL);
	int n = -1;

	*der = NULL;
	if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
		r = s = NULL;	/* owned by es now */
		n = i2d_ECDSA_SIG(es, der);
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return n;
}

/* Returns 1 when sig is alg's signature of msg under key, else 0. */
static int jwt_sig_check(const struct jwt_key *key, const struct jwt_alg *alg,
			 const char *msg, size_t msglen, const struct buf *sig)
{
	const unsigned char *s = sig->data;
	size_t slen = sig->len;
	unsigned char *der = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD_CTX *ctx = NULL;
	int ok = 0;

	if (alg->kty == JWT_KTY_EC) {
		int n = jwt_ecdsa_der(sig->data, alg->curve->size, &der);

		if (n <= 0)
			goto out;
		s = der;
		slen = (size_t)n;
	} else if (slen != (size_t)EVP_PKEY_get_size(key->pkey)) {
		goto out;	/* RFC 8017: exactly the modulus size */
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestVerifyInit_ex(ctx, &pctx, alg->md, NULL, NULL,
					    key->pkey, NULL) != 1)
		goto out;
	/* RFC 7518, 3.5: MGF1 with the same hash, salt as long as the hash;
	 * RSA_PSS_SALTLEN_DIGEST makes the verifier insist on that length. */
	if (alg->pss &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, alg->md, NULL) <= 0 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0))
		goto out;
	ok = EVP_DigestVerify(ctx, s, slen, (const unsigned char *)msg,
			      msglen) == 1;
out:
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	ERR_clear_error();
	return ok;
}

static int jwt_key_fits(const struct jwt_key *key, const struct jwt_alg *alg)
{
	return key->kty == alg->kty &&
	       (alg->kty != JWT_KTY_EC || key->curve == alg->curve) &&
	       (!key->alg || key->alg == alg);
}

/* ---- tokens -------------------------------------------------------- */

struct jwt_token {
	const char *part[3];
	size_t partlen[3];
	struct buf header, payload, sig;
	json_t *hdr, *claims;
	const struct jwt_alg *alg;
	const char *kid;	/* inside hdr; NULL when absent */
};

static int jwt_split(struct jwt_token *t, const char *token, size_t len,
		     char *err, size_t errlen)
{
	size_t i, start = 0;
	int parts = 0;

	if (!token || !len) {
		error_set(err, errlen, "malformed: empty token");
		return -1;
	}
	if (len > JWT_TOKEN_MAX) {
		error_set(err, errlen, "malformed: token longer than %d bytes",
			  JWT_TOKEN_MAX);
		return -1;
	}
	for (i = 0; i <= len; i++) {
		if (i < len && token[i] != '.')
			continue;
		if (parts < 3) {
			t->part[parts] = token + start;
			t->partlen[parts] = i - start;
		}
		parts++;
		start = i + 1;
	}
	if (parts != 3) {
		error_set(err, errlen,
			  "malformed: %d dot-separated parts, a compact JWS has 3",
			  parts);
		return -1;
	}
	return 0;
}

/* Loads decoded JSON that must be an object; what names the part in
 * errors. The position is reported, never the text: it is the token's.
 * JSON_DECODE_ANY only so a scalar gets the clearer "not an object". */
static json_t *jwt_json_object(const struct buf *b, const char *what,
			       char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *v = json_loadb((const char *)b->data, b->len,
			       JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);

	if (!v) {
		if (json_error_code(&jerr) == json_error_duplicate_key)
			error_set(err, errlen,
				  "malformed: %s has a duplicate member", what);
		else
			error_set(err, errlen,
				  "malformed: %s is not valid JSON (byte %d)",
				  what, jerr.position);
		return NULL;
	}
	if (!json_is_object(v)) {
		error_set(err, errlen, "malformed: %s is not a JSON object",
			  what);
		json_decref(v);
		return NULL;
	}
	return v;
}

static int jwt_header(struct jwt_token *t, char *err, size_t errlen)
{
	const json_t *alg, *typ, *kid;
	char shown[72];

	if (jwt_b64url_decode(&t->header, t->part[0], t->partlen[0]) < 0) {
		error_set(err, errlen, "malformed: header is not base64url");
		return -1;
	}
	t->hdr = jwt_json_object(&t->header, "header", err, errlen);
	if (!t->hdr)
		return -1;
	alg = json_object_get(t->hdr, "alg");
	if (!json_is_string(alg)) {
		error_set(err, errlen, "malformed: header has no alg string");
		return -1;
	}
	t->alg = jwt_alg_find(json_string_value(alg));
	if (!t->alg) {
		error_set(err, errlen, "unsupported alg \"%s\"",
			  jwt_printable(shown, sizeof(shown),
					json_string_value(alg)));
		return -1;
	}
	/* JWT-SVID spec, 2.3. */
	typ = json_object_get(t->hdr, "typ");
	if (typ && (!json_is_string(typ) ||
		    (strcmp(json_string_value(typ), "JWT") &&
		     strcmp(json_string_value(typ), "JOSE")))) {
		error_set(err, errlen, "malformed: typ must be JWT or JOSE");
		return -1;
	}
	/* RFC 7515, 4.1.11: we implement no extension, so any "crit" names
	 * one we do not understand. */
	if (json_object_get(t->hdr, "crit")) {
		error_set(err, errlen,
			  "unsupported critical header extensions (crit)");
		return -1;
	}
	kid = json_object_get(t->hdr, "kid");
	if (kid && !json_is_string(kid)) {
		error_set(err, errlen, "malformed: kid is not a string");
		return -1;
	}
	t->kid = kid ? json_string_value(kid) : NULL;
	return 0;
}

static int jwt_signature(struct jwt_token *t, const struct jwt_keys *k,
			 char *err, size_t errlen)
{
	/* The signing input is header.payload exactly as sent. */
	const char *msg = t->part[0];
	size_t msglen = t->partlen[0] + 1 + t->partlen[1];
	const struct jwt_alg *alg = t->alg;
	char shown[72];
	int tried = 0;

	if (jwt_b64url_decode(&t->sig, t->part[2], t->partlen[2]) < 0) {
		error_set(err, errlen, "malformed: signature is not base64url");
		return -1;
	}
	if (!t->sig.len) {
		error_set(err, errlen, "malformed: empty signature");
		return -1;
	}
	if (alg->kty == JWT_KTY_EC && t->sig.len != 2 * alg->curve->size) {
		error_set(err, errlen,
			  "malformed: %s signature of %zu bytes, expected %zu",
			  alg->name, t->sig.len, 2 * alg->curve->size);
		return -1;
	}
	if (t->kid) {
		const struct jwt_key *key = jwt_key_by_kid(k, t->kid);

		jwt_printable(shown, sizeof(shown), t->kid);
		if (!key) {
			error_set(err, errlen, "unknown kid \"%s\"", shown);
			return -1;
		}
		if (!jwt_key_fits(key, alg)) {
			error_set(err, errlen,
				  "kid \"%s\" (%s key) cannot be used with %s",
				  shown, key->curve ? key->curve->crv :
				  jwt_kty_name(key->kty), alg->name);
			return -1;
		}
		if (jwt_sig_check(key, alg, msg, msglen, &t->sig))
			return 0;
		error_set(err, errlen, "signature invalid");
		return -1;
	}
	/* No kid (JWT-SVID spec, 2.2 makes it optional): any key of the
	 * bundle that fits the algorithm may have signed. */
	for (size_t i = 0; i < k->n; i++) {
		if (!jwt_key_fits(&k->keys[i], alg))
			continue;
		tried++;
		if (jwt_sig_check(&k->keys[i], alg, msg, msglen, &t->sig))
			return 0;
	}
	if (!tried)
		error_set(err, errlen, "no key in the bundle for alg %s",
			  alg->name);
	else
		error_set(err, errlen, "signature invalid");
	return -1;
}

static long long jwt_sat_add(long long a, long long b)
{
	long long r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? LLONG_MAX : LLONG_MIN;
	return r;
}

/* A NumericDate claim (RFC 7519, 2: seconds, maybe fractional), rounded
 * toward the stricter side: down for exp, up for nbf and iat. Returns 1
 * when present, 0 when absent, -1 with err when not a number. */
static int jwt_claim_time(const json_t *claims, const char *name,
			  int round_up, long long *out, char *err,
			  size_t errlen)
{
	const json_t *v = json_object_get(claims, name);
	double d;

	if (!v)
		return 0;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 1;
	}
	if (!json_is_real(v)) {
		error_set(err, errlen, "malformed: %s is not a number", name);
		return -1;
	}
	d = json_real_value(v);	/* finite: jansson refuses overflow */
	if (d >= 9.2e18) {
		*out = LLONG_MAX;
	} else if (d <= -9.2e18) {
		*out = LLONG_MIN;
	} else {
		*out = (long long)d;
		if (round_up && (double)*out < d)
			(*out)++;
		else if (!round_up && (double)*out > d)
			(*out)--;
	}
	return 1;
}

static int jwt_times(const json_t *claims, long long now, long leeway,
		     char *err, size_t errlen)
{
	long long exp, nbf, iat;
	int rc;

	rc = jwt_claim_time(claims, "exp", 0, &exp, err, errlen);
	if (rc < 0)
		return -1;
	if (!rc) {
		error_set(err, errlen, "malformed: exp claim missing");
		return -1;
	}
	if (now >= jwt_sat_add(exp, leeway)) {
		error_set(err, errlen, "token expired");
		return -1;
	}
	rc = jwt_claim_time(claims, "nbf", 1, &nbf, err, errlen);
	if (rc < 0)
		return -1;
	if (rc && nbf > jwt_sat_add(now, leeway)) {
		error_set(err, errlen, "token not yet valid");
		return -1;
	}
	rc = jwt_claim_time(claims, "iat", 1, &iat, err, errlen);
	if (rc < 0)
		return -1;
	if (rc && iat > jwt_sat_add(now, leeway)) {
		error_set(err, errlen, "token issued in the future");
		return -1;
	}
	return 0;
}

/* RFC 7519, 4.1.3: a string, or an array of strings that must name us. */
static int jwt_audience(const json_t *claims, const char *audience,
			char *err, size_t errlen)
{
	const json_t *aud = json_object_get(claims, "aud");
	size_t i, n;

	if (!aud) {
		error_set(err, errlen, "malformed: aud claim missing");
		return -1;
	}
	if (json_is_string(aud)) {
		if (!strcmp(json_string_value(aud), audience))
			return 0;
		error_set(err, errlen, "audience mismatch");
		return -1;
	}
	if (!json_is_array(aud)) {
		error_set(err, errlen,
			  "malformed: aud is not a string or an array");
		return -1;
	}
	n = json_array_size(aud);
	if (!n) {
		error_set(err, errlen, "malformed: aud is an empty array");
		return -1;
	}
	for (i = 0; i < n; i++)
		if (!json_is_string(json_array_get(aud, i))) {
			error_set(err, errlen,
				  "malformed: aud array holds a non-string");
			return -1;
		}
	for (i = 0; i < n; i++)
		if (!strcmp(json_string_value(json_array_get(aud, i)),
			    audience))
			return 0;
	error_set(err, errlen, "audience mismatch");
	return -1;
}

static int jwt_td_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

static int jwt_path_char(char c)
{
	return jwt_td_char(c) || (c >= 'A' && c <= 'Z');
}

/* SPIFFE-ID spec, 2.1-2.3. The ID becomes the application name keys are
 * filed under, so only its one canonical spelling is accepted: no
 * percent-encoding, no empty, "." or ".." segments, no trailing slash,
 * no upper case in the trust domain. Returns NULL or the problem. */
static const char *jwt_spiffe_id_problem(const char *id)
{
	static const char scheme[] = "spiffe://";
	size_t n = strlen(id);
	const char *p, *td, *seg;

	if (n > JWT_SPIFFE_ID_MAX)
		return "longer than 2048 bytes";
	p = td = id + sizeof(scheme) - 1;
	while (*p && *p != '/') {
		if (!jwt_td_char(*p))
			return "trust domain holds a character outside [a-z0-9._-]";
		p++;
	}
	if (p == td)
		return "empty trust domain";
	if (p - td > 255)
		return "trust domain longer than 255 bytes";
	while (*p) {
		seg = ++p;	/* past the '/' */
		while (*p && *p != '/') {
			if (!jwt_path_char(*p))
				return "path holds a character outside [a-zA-Z0-9._-]";
			p++;
		}
		if (p == seg)
			return *p ? "empty path segment" : "trailing slash";
		if ((p - seg == 1 && seg[0] == '.') ||
		    (p - seg == 2 && seg[0] == '.' && seg[1] == '.'))
			return "path segment . or ..";
	}
	return NULL;
}

static int jwt_subject(const json_t *claims, char *spiffe_id, size_t idlen,
		       char *err, size_t errlen)
{
	const json_t *sub = json_object_get(claims, "sub");
	const char *s, *problem;
	size_t n;

	if (!sub) {
		error_set(err, errlen, "malformed: sub claim missing");
		return -1;
	}
	if (!json_is_string(sub)) {
		error_set(err, errlen, "malformed: sub is not a string");
		return -1;
	}
	s = json_string_value(sub);
	if (strncmp(s, "spiffe://", 9)) {
		error_set(err, errlen, "sub is not a SPIFFE ID");
		return -1;
	}
	problem = jwt_spiffe_id_problem(s);
	if (problem) {
		error_set(err, errlen, "sub is not a valid SPIFFE ID: %s",
			  problem);
		return -1;
	}
	n = strlen(s);
	if (!spiffe_id || n >= idlen) {
		error_set(err, errlen,
			  "SPIFFE ID of %zu bytes does not fit the buffer", n);
		return -1;
	}
	memcpy(spiffe_id, s, n + 1);
	return 0;
}

int jwt_svid_verify(const struct jwt_keys *k, const char *token, size_t len,
		    const char *audience, long long now, long leeway_s,
		    char *spiffe_id, size_t idlen, char *err, size_t errlen)
{
	struct jwt_token t = { .header = BUF_INIT, .payload = BUF_INIT,
			       .sig = BUF_INIT };
	long leeway = leeway_s > 0 ? leeway_s : 0;
	int rc = -1;

	if (spiffe_id && idlen)
		spiffe_id[0] = 0;
	if (!k || !audience || !audience[0]) {
		error_set(err, errlen, "no trust bundle or audience configured");
		return -1;
	}
	if (jwt_split(&t, token, len, err, errlen) < 0 ||
	    jwt_header(&t, err, errlen) < 0)
		goto out;
	if (jwt_b64url_decode(&t.payload, t.part[1], t.partlen[1]) < 0) {
		error_set(err, errlen, "malformed: payload is not base64url");
		goto out;
	}
	/* Claims are read only once the signature vouches for them. */
	if (jwt_signature(&t, k, err, errlen) < 0)
		goto out;
	t.claims = jwt_json_object(&t.payload, "payload", err, errlen);
	if (!t.claims ||
	    jwt_times(t.claims, now, leeway, err, errlen) < 0 ||
	    jwt_audience(t.claims, audience, err, errlen) < 0 ||
	    jwt_subject(t.claims, spiffe_id, idlen, err, errlen) < 0)
		goto out;
	rc = 0;
out:
	json_decref(t.hdr);
	json_decref(t.claims);
	buf_free(&t.header);
	buf_free(&t.payload);
	buf_free(&t.sig);
	return rc;
}
