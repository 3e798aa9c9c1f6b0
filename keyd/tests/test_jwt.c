/* Tests for keyd/jwt: JWKS parsing and JWT-SVID verification.
 *
 * Keys are generated here and tokens signed here with OpenSSL directly, so
 * every refusal is checked against a token that would otherwise pass. Two
 * sources do not go through this file's signing code at all: the published
 * examples of RFC 7515 appendix A, and tokens signed by the openssl
 * command-line tool. */
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keyd/jwt.h"
#include "util/buf.h"
#include "util/check.h"
#include "util/encode.h"

#define NOW 1700000000LL
#define AUD "assay-keyd"
#define SUB "spiffe://example.org/ns/prod/sa/web"

static EVP_PKEY *rsa_key, *ec_key, *ec_other;

/* ---- helpers: encoding and signing ---------------------------------- */

/* base64url without padding, malloc'd. */
static char *b64url(const void *p, size_t n)
{
	char *s = b64_encode_str(p, n), *o = s;

	if (!s)
		abort();
	for (char *c = s; *c; c++) {
		if (*c == '=')
			continue;
		*o++ = *c == '+' ? '-' : *c == '/' ? '_' : *c;
	}
	*o = 0;
	return s;
}

static char *b64url_bn(EVP_PKEY *key, const char *param, size_t pad)
{
	BIGNUM *bn = NULL;
	unsigned char tmp[1024];
	int n;

	if (EVP_PKEY_get_bn_param(key, param, &bn) != 1)
		abort();
	n = pad ? BN_bn2binpad(bn, tmp, (int)pad) : BN_bn2bin(bn, tmp);
	BN_free(bn);
	if (n <= 0)
		abort();
	return b64url(tmp, (size_t)n);
}

/* JWS r || s from OpenSSL's DER ECDSA signature. */
static void ecdsa_raw(const unsigned char *der, size_t derlen, size_t size,
		      struct buf *out)
{
	const unsigned char *p = der;
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
	unsigned char raw[132];

	if (!es || BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, (int)size) < 0 ||
	    BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + size, (int)size) < 0)
		abort();
	ECDSA_SIG_free(es);
	buf_append(out, raw, 2 * size);
}

/* Signs msg the way alg says; the test's own implementation of JWS
 * signing, independent of the module's verification code. */
static void jws_sign(EVP_PKEY *key, const char *alg, const char *msg,
		     struct buf *sig)
{
	const char *md = strstr(alg, "256") ? "SHA256" :
			 strstr(alg, "384") ? "SHA384" : "SHA512";
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char out[1024];
	size_t outlen = sizeof(out);

	if (!ctx || EVP_DigestSignInit_ex(ctx, &pctx, md, NULL, NULL, key,
					  NULL) != 1)
		abort();
	if (alg[0] == 'P' &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0))
		abort();
	if (EVP_DigestSign(ctx, out, &outlen, (const unsigned char *)msg,
			   strlen(msg)) != 1)
		abort();
	EVP_MD_CTX_free(ctx);
	if (alg[0] == 'E')
		ecdsa_raw(out, outlen, alg[2] == '2' ? 32 : alg[2] == '3' ?
			  48 : 66, sig);
	else
		buf_append(sig, out, outlen);
}

/* header.payload.signature; key NULL signs with junk bytes. */
static char *token(const char *header, const char *payload, EVP_PKEY *key)
{
	char *h = b64url(header, strlen(header));
	char *p = b64url(payload, strlen(payload));
	struct buf in = BUF_INIT, sig = BUF_INIT, out = BUF_INIT;
	json_t *hdr = json_loads(header, 0, NULL);
	const char *alg = json_string_value(json_object_get(hdr, "alg"));
	char *s;

	buf_printf(&in, "%s.%s", h, p);
	if (key && alg)
		jws_sign(key, alg, (const char *)in.data, &sig);
	else
		buf_append_str(&sig, "not a signature at all");
	s = b64url(sig.data, sig.len);
	buf_printf(&out, "%s.%s", (const char *)in.data, s);
	json_decref(hdr);
	free(h);
	free(p);
	free(s);
	buf_free(&in);
	buf_free(&sig);
	return (char *)buf_steal(&out, NULL);
}

static char *claims(const char *sub, const char *aud, long long exp,
		    const char *extra)
{
	struct buf b = BUF_INIT;

	buf_printf(&b, "{\"sub\":\"%s\",\"aud\":%s,\"exp\":%lld%s%s}", sub,
		   aud, exp, extra ? "," : "", extra ? extra : "");
	return (char *)buf_steal(&b, NULL);
}

/* ---- helpers: checking ---------------------------------------------- */

static char got_id[JWT_SPIFFE_ID_MAX + 1];
static char got_err[256];

static int verify_at(const struct jwt_keys *k, const char *tok,
		     long long now, long leeway)
{
	memset(got_err, 0, sizeof(got_err));
	strcpy(got_id, "untouched");
	return jwt_svid_verify(k, tok, strlen(tok), AUD, now, leeway, got_id,
			       sizeof(got_id), got_err, sizeof(got_err));
}

#define EXPECT_OK(k, tok, sub)                                               \
	do {                                                                 \
		CHECK_INT(verify_at((k), (tok), NOW, 30), 0);                \
		CHECK_STR(got_err, "");                                      \
		CHECK_STR(got_id, (sub));                                    \
	} while (0)

#define EXPECT_ERR_AT(k, tok, now, leeway, msg)                              \
	do {                                                                 \
		CHECK_INT(verify_at((k), (tok), (now), (leeway)), -1);       \
		CHECK_STR(got_err, (msg));                                   \
		CHECK_STR(got_id, "");                                       \
	} while (0)

#define EXPECT_ERR(k, tok, msg) EXPECT_ERR_AT(k, tok, NOW, 30, msg)

/* For messages whose tail is the JSON parser's (a position). */
#define EXPECT_ERR_PREFIX(k, tok, now, msg)                                  \
	do {                                                                 \
		CHECK_INT(verify_at((k), (tok), (now), 0), -1);              \
		CHECK(!strncmp(got_err, (msg), strlen(msg)));                \
		if (strncmp(got_err, (msg), strlen(msg)))                    \
			printf("  got \"%s\"\n", got_err);                    \
	} while (0)

/* Signs header/payload with key, checks the result, frees the token. */
#define SIGNED_OK(k, hdr, pl, key, sub)                                      \
	do {                                                                 \
		char *t_ = token((hdr), (pl), (key));                        \
		EXPECT_OK(k, t_, sub);                                       \
		free(t_);                                                    \
	} while (0)

#define SIGNED_ERR(k, hdr, pl, key, msg)                                     \
	do {                                                                 \
		char *t_ = token((hdr), (pl), (key));                        \
		EXPECT_ERR(k, t_, msg);                                      \
		free(t_);                                                    \
	} while (0)

static struct jwt_keys *keys_from(const char *json, char *err, size_t n)
{
	return jwt_keys_parse(json, strlen(json), err, n);
}

/* The bundle of the test keys, shaped like a SPIFFE bundle: sequence and
 * refresh hint, an x509-svid root and two kinds of keys to skip. */
static char *test_jwks(const char *ec_kid)
{
	char *n = b64url_bn(rsa_key, OSSL_PKEY_PARAM_RSA_N, 0);
	char *e = b64url_bn(rsa_key, OSSL_PKEY_PARAM_RSA_E, 0);
	char *x = b64url_bn(ec_key, OSSL_PKEY_PARAM_EC_PUB_X, 32);
	char *y = b64url_bn(ec_key, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
	struct buf b = BUF_INIT;

	buf_printf(&b,
		"{\"spiffe_sequence\": 7, \"spiffe_refresh_hint\": 300,\n"
		" \"keys\": [\n"
		"  {\"kty\":\"RSA\",\"use\":\"x509-svid\",\"n\":\"%s\",\"e\":\"%s\","
		"\"x5c\":[\"MIIB\"]},\n"
		"  {\"kty\":\"RSA\",\"use\":\"jwt-svid\",\"kid\":\"rsa-1\","
		"\"n\":\"%s\",\"e\":\"%s\"},\n"
		"  {\"kty\":\"EC\",\"use\":\"jwt-svid\",\"kid\":\"%s\","
		"\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"},\n"
		"  {\"kty\":\"OKP\",\"use\":\"jwt-svid\",\"kid\":\"ed-1\","
		"\"crv\":\"Ed25519\",\"x\":\"AAAA\"},\n"
		"  {\"kty\":\"EC\",\"use\":\"jwt-svid\",\"kid\":\"k1\","
		"\"crv\":\"secp256k1\",\"x\":\"AAAA\",\"y\":\"AAAA\"}\n"
		" ]}", n, e, n, e, ec_kid, x, y);
	free(n);
	free(e);
	free(x);
	free(y);
	return (char *)buf_steal(&b, NULL);
}

/* ---- JWKS ----------------------------------------------------------- */

static void expect_keys_err(const char *json, const char *msg)
{
	char err[256] = "";
	struct jwt_keys *k = keys_from(json, err, sizeof(err));

	CHECK(k == NULL);
	CHECK_STR(err, msg);
	jwt_keys_free(k);
}

static void test_jwks_parse(void)
{
	char err[256] = "", *jwks = test_jwks("ec-1"), *x, *y, *n1024, *e;
	struct jwt_keys *k = keys_from(jwks, err, sizeof(err));
	struct buf b = BUF_INIT;
	EVP_PKEY *small;

	CHECK(k != NULL);
	CHECK_STR(err, "");
	/* rsa-1 and ec-1; the x509-svid root, OKP and secp256k1 skipped. */
	CHECK_INT(jwt_keys_count(k), 2);
	jwt_keys_free(k);
	free(jwks);

	expect_keys_err("{\"keys\": [", "JWKS is not valid JSON: "
			"']' expected near end of file (line 1)");
	expect_keys_err("[]", "JWKS has no \"keys\" array");
	expect_keys_err("{\"keys\": {}}", "JWKS has no \"keys\" array");
	expect_keys_err("{\"keys\": [], \"keys\": []}",
			"JWKS is not valid JSON: duplicate object key "
			"near '\"keys\"' (line 1)");
	expect_keys_err("{\"keys\": []}", "JWKS has no usable key (kty RSA "
			"or EC P-256/P-384/P-521, use jwt-svid or sig)");
	expect_keys_err("{\"keys\": [{\"kty\":\"RSA\",\"use\":\"x509-svid\"}]}",
			"JWKS has no usable key (kty RSA or EC "
			"P-256/P-384/P-521, use jwt-svid or sig)");
	expect_keys_err("{\"keys\": [1]}", "keys[0] is not an object");
	expect_keys_err("{\"keys\": [{\"use\":\"sig\"}]}", "keys[0]: kty missing");
	expect_keys_err("{\"keys\": [{\"kty\":7}]}",
			"keys[0]: kty is not a string");
	expect_keys_err("{\"keys\": [{\"kty\":\"EC\",\"kid\":\"a\"}]}",
			"keys[0]: crv missing");
	expect_keys_err("{\"keys\": [{\"kty\":\"RSA\",\"e\":\"AQAB\","
			"\"n\":\"AQAB\"}]}", "keys[0]: kid missing");
	expect_keys_err("{\"keys\": [{\"kty\":\"RSA\",\"kid\":\"a\","
			"\"e\":\"AQAB\"}]}",
			"keys[0]: n missing or not a string");
	expect_keys_err("{\"keys\": [{\"kty\":\"RSA\",\"kid\":\"a\","
			"\"n\":\"AQ+B\",\"e\":\"AQAB\"}]}",
			"keys[0]: n is not base64url");
	expect_keys_err("{\"keys\": [{\"kty\":\"RSA\",\"kid\":\"a\","
			"\"alg\":\"ES256\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
			"keys[0]: alg ES256 needs kty EC");

	/* Key material checks. */
	small = EVP_RSA_gen(1024);
	n1024 = b64url_bn(small, OSSL_PKEY_PARAM_RSA_N, 0);
	e = b64url_bn(small, OSSL_PKEY_PARAM_RSA_E, 0);
	buf_printf(&b, "{\"keys\": [{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":\"%s\","
		   "\"e\":\"%s\"}]}", n1024, e);
	expect_keys_err((const char *)b.data, "keys[0]: RSA modulus of 1024 "
			"bits (allowed: 2048 to 8192)");
	buf_reset(&b);
	free(n1024);
	free(e);
	EVP_PKEY_free(small);

	x = b64url_bn(ec_key, OSSL_PKEY_PARAM_EC_PUB_X, 32);
	y = b64url_bn(ec_key, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
	buf_printf(&b, "{\"keys\": [{\"kty\":\"EC\",\"kid\":\"a\",\"crv\":\"P-384\","
		   "\"x\":\"%s\",\"y\":\"%s\"}]}", x, y);
	expect_keys_err((const char *)b.data,
			"keys[0]: P-384 coordinates must be 48 bytes");
	buf_reset(&b);
	/* A y that is not the point's: off the curve. */
	y[5] = y[5] == 'A' ? 'B' : 'A';
	buf_printf(&b, "{\"keys\": [{\"kty\":\"EC\",\"kid\":\"a\",\"crv\":\"P-256\","
		   "\"x\":\"%s\",\"y\":\"%s\"}]}", x, y);
	expect_keys_err((const char *)b.data,
			"keys[0]: point is not on curve P-256");
	buf_reset(&b);
	buf_printf(&b, "{\"keys\": [{\"kty\":\"EC\",\"kid\":\"a\",\"crv\":\"P-256\","
		   "\"x\":\"%s\",\"y\":\"%s\",\"d\":\"AAAA\"}]}", x, y);
	expect_keys_err((const char *)b.data, "keys[0]: holds a private key "
			"(\"d\"); a trust bundle must hold public keys only");
	buf_reset(&b);
	free(x);
	free(y);

	/* Duplicate kid, in usable keys. */
	jwks = test_jwks("rsa-1");
	expect_keys_err(jwks, "keys[2]: duplicate kid \"rsa-1\"");
	free(jwks);

	/* 65 elements, even ignorable ones, are too many. */
	buf_append_str(&b, "{\"keys\": [");
	for (int i = 0; i < 65; i++)
		buf_printf(&b, "%s{\"kty\":\"oct\"}", i ? "," : "");
	buf_append_str(&b, "]}");
	expect_keys_err((const char *)b.data,
			"JWKS has 65 keys, at most 64 allowed");
	buf_reset(&b);

	/* Size bound, checked before anything is read. */
	{
		size_t big = JWT_JWKS_MAX + 1;
		char *s = malloc(big);

		memset(s, ' ', big);
		k = jwt_keys_parse(s, big, err, sizeof(err));
		CHECK(k == NULL);
		CHECK_STR(err, "JWKS larger than 1048576 bytes");
		free(s);
	}
	buf_free(&b);
}

/* ---- tokens --------------------------------------------------------- */

static void test_valid(const struct jwt_keys *k)
{
	char *pl = claims(SUB, "\"" AUD "\"", NOW + 300, NULL);
	char *pl2;

	SIGNED_OK(k, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"typ\":\"JWT\"}",
		  pl, rsa_key, SUB);
	SIGNED_OK(k, "{\"alg\":\"PS256\",\"kid\":\"rsa-1\"}", pl, rsa_key, SUB);
	SIGNED_OK(k, "{\"alg\":\"RS512\",\"kid\":\"rsa-1\"}", pl, rsa_key, SUB);
	SIGNED_OK(k, "{\"alg\":\"PS384\",\"kid\":\"rsa-1\"}", pl, rsa_key, SUB);
	SIGNED_OK(k, "{\"alg\":\"ES256\",\"kid\":\"ec-1\",\"typ\":\"JOSE\"}",
		  pl, ec_key, SUB);
	/* No kid: every key of the right type is tried. */
	SIGNED_OK(k, "{\"alg\":\"ES256\"}", pl, ec_key, SUB);
	SIGNED_OK(k, "{\"alg\":\"RS256\"}", pl, rsa_key, SUB);
	SIGNED_ERR(k, "{\"alg\":\"ES256\"}", pl, ec_other, "signature invalid");
	SIGNED_ERR(k, "{\"alg\":\"ES384\"}", pl, NULL,
		   "malformed: ES384 signature of 22 bytes, expected 96");
	free(pl);

	/* Extra claims are allowed; a trust domain without a path too. */
	pl = claims("spiffe://example.org", "[\"other\",\"" AUD "\"]",
		    NOW + 300, "\"iat\":1700000000,\"nbf\":1699999990.5,"
		    "\"jti\":\"x\",\"iss\":\"spire\"");
	SIGNED_OK(k, "{\"alg\":\"ES256\",\"kid\":\"ec-1\"}", pl, ec_key,
		  "spiffe://example.org");
	free(pl);

	/* The id must fit the caller's buffer, NUL included. */
	pl2 = claims(SUB, "\"" AUD "\"", NOW + 300, NULL);
	{
		char *t = token("{\"alg\":\"ES256\"}", pl2, ec_key);
		char id[sizeof(SUB)], small[sizeof(SUB) - 1], err[128];

		CHECK_INT(jwt_svid_verify(k, t, strlen(t), AUD, NOW, 0, id,
					  sizeof(id), err, sizeof(err)), 0);
		CHECK_STR(id, SUB);
		CHECK_INT(jwt_svid_verify(k, t, strlen(t), AUD, NOW, 0, small,
					  sizeof(small), err, sizeof(err)), -1);
		CHECK_STR(err, "SPIFFE ID of 35 bytes does not fit the buffer");
		CHECK_STR(small, "");
		/* No audience configured: nothing can pass. */
		CHECK_INT(jwt_svid_verify(k, t, strlen(t), "", NOW, 0, id,
					  sizeof(id), err, sizeof(err)), -1);
		CHECK_STR(err, "no trust bundle or audience configured");
		free(t);
	}
	free(pl2);
}

static void test_times(const struct jwt_keys *k)
{
	const char *h = "{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}";
	char *t, *pl;

	pl = claims(SUB, "\"" AUD "\"", NOW, NULL);
	t = token(h, pl, rsa_key);
	/* exp must be after now: exp == now is expired without leeway... */
	EXPECT_ERR_AT(k, t, NOW, 0, "token expired");
	EXPECT_ERR_AT(k, t, NOW + 3600, 30, "token expired");
	/* ...and leeway extends it, up to and excluding exp + leeway. */
	CHECK_INT(verify_at(k, t, NOW + 29, 30), 0);
	EXPECT_ERR_AT(k, t, NOW + 30, 30, "token expired");
	/* A negative leeway counts as none. */
	EXPECT_ERR_AT(k, t, NOW, -100, "token expired");
	CHECK_INT(verify_at(k, t, NOW - 1, -100), 0);
	free(t);
	free(pl);

	/* Fractional exp rounds down: 1700000000.5 expires at ...000. */
	SIGNED_ERR(k, h, "{\"sub\":\"" SUB "\",\"aud\":\"" AUD "\","
		   "\"exp\":1699999970.5}", rsa_key, "token expired");

	pl = claims(SUB, "\"" AUD "\"", NOW + 300, "\"nbf\":1700000100");
	t = token(h, pl, rsa_key);
	EXPECT_ERR(k, t, "token not yet valid");
	CHECK_INT(verify_at(k, t, NOW + 70, 30), 0);
	free(t);
	free(pl);

	/* Fractional nbf rounds up: ...030.5 is after now + leeway. */
	pl = claims(SUB, "\"" AUD "\"", NOW + 300, "\"nbf\":1700000030.5");
	SIGNED_ERR(k, h, pl, rsa_key, "token not yet valid");
	free(pl);

	pl = claims(SUB, "\"" AUD "\"", NOW + 300, "\"iat\":1700000031");
	SIGNED_ERR(k, h, pl, rsa_key, "token issued in the future");
	free(pl);
	pl = claims(SUB, "\"" AUD "\"", NOW + 300, "\"iat\":1700000030");
	SIGNED_OK(k, h, pl, rsa_key, SUB);
	free(pl);
	pl = claims(SUB, "\"" AUD "\"", NOW + 300, "\"iat\":\"now\"");
	SIGNED_ERR(k, h, pl, rsa_key, "malformed: iat is not a number");
	free(pl);

	SIGNED_ERR(k, h, "{\"sub\":\"" SUB "\",\"aud\":\"" AUD "\"}", rsa_key,
		   "malformed: exp claim missing");
	SIGNED_ERR(k, h, "{\"sub\":\"" SUB "\",\"aud\":\"" AUD "\","
		   "\"exp\":\"2100-01-01\"}", rsa_key,
		   "malformed: exp is not a number");
	/* Extremes must not overflow into acceptance. */
	SIGNED_ERR(k, h, "{\"sub\":\"" SUB "\",\"aud\":\"" AUD "\","
		   "\"exp\":-9223372036854775808}", rsa_key, "token expired");
	SIGNED_ERR(k, h, "{\"sub\":\"" SUB "\",\"aud\":\"" AUD "\","
		   "\"exp\":-1e300}", rsa_key, "token expired");
	SIGNED_OK(k, h, "{\"sub\":\"" SUB "\",\"aud\":\"" AUD "\","
		  "\"exp\":9223372036854775807}", rsa_key, SUB);
}

static void test_audience(const struct jwt_keys *k)
{
	const char *h = "{\"alg\":\"ES256\",\"kid\":\"ec-1\"}";
	char *pl;

	pl = claims(SUB, "\"someone-else\"", NOW + 300, NULL);
	SIGNED_ERR(k, h, pl, ec_key, "audience mismatch");
	free(pl);
	pl = claims(SUB, "\"assay-keyd2\"", NOW + 300, NULL);
	SIGNED_ERR(k, h, pl, ec_key, "audience mismatch");
	free(pl);
	pl = claims(SUB, "[\"a\",\"" AUD "\",\"b\"]", NOW + 300, NULL);
	SIGNED_OK(k, h, pl, ec_key, SUB);
	free(pl);
	pl = claims(SUB, "[\"a\",\"b\"]", NOW + 300, NULL);
	SIGNED_ERR(k, h, pl, ec_key, "audience mismatch");
	free(pl);
	pl = claims(SUB, "[]", NOW + 300, NULL);
	SIGNED_ERR(k, h, pl, ec_key, "malformed: aud is an empty array");
	free(pl);
	pl = claims(SUB, "[\"" AUD "\",1]", NOW + 300, NULL);
	SIGNED_ERR(k, h, pl, ec_key, "malformed: aud array holds a non-string");
	free(pl);
	pl = claims(SUB, "{\"" AUD "\":1}", NOW + 300, NULL);
	SIGNED_ERR(k, h, pl, ec_key,
		   "malformed: aud is not a string or an array");
	free(pl);
	SIGNED_ERR(k, h, "{\"sub\":\"" SUB "\",\"exp\":1800000000}", ec_key,
		   "malformed: aud claim missing");
}

static void test_subject(const struct jwt_keys *k)
{
	static const struct {
		const char *sub, *err;
	} bad[] = {
		{ "https://example.org/web", "sub is not a SPIFFE ID" },
		{ "SPIFFE://example.org/web", "sub is not a SPIFFE ID" },
		{ "web", "sub is not a SPIFFE ID" },
		{ "spiffe://", "sub is not a valid SPIFFE ID: empty trust domain" },
		{ "spiffe:///web", "sub is not a valid SPIFFE ID: empty trust domain" },
		{ "spiffe://Example.org/web", "sub is not a valid SPIFFE ID: "
		  "trust domain holds a character outside [a-z0-9._-]" },
		{ "spiffe://example.org:8443/web", "sub is not a valid SPIFFE "
		  "ID: trust domain holds a character outside [a-z0-9._-]" },
		{ "spiffe://u@example.org/web", "sub is not a valid SPIFFE "
		  "ID: trust domain holds a character outside [a-z0-9._-]" },
		{ "spiffe://example.org/", "sub is not a valid SPIFFE ID: "
		  "trailing slash" },
		{ "spiffe://example.org/a//b", "sub is not a valid SPIFFE ID: "
		  "empty path segment" },
		{ "spiffe://example.org/a/../admin", "sub is not a valid SPIFFE "
		  "ID: path segment . or .." },
		{ "spiffe://example.org/./a", "sub is not a valid SPIFFE ID: "
		  "path segment . or .." },
		{ "spiffe://example.org/%61dmin", "sub is not a valid SPIFFE "
		  "ID: path holds a character outside [a-zA-Z0-9._-]" },
		{ "spiffe://example.org/a?b", "sub is not a valid SPIFFE ID: "
		  "path holds a character outside [a-zA-Z0-9._-]" },
		{ "spiffe://example.org/a#b", "sub is not a valid SPIFFE ID: "
		  "path holds a character outside [a-zA-Z0-9._-]" },
	};
	const char *h = "{\"alg\":\"PS256\",\"kid\":\"rsa-1\"}";
	struct buf b = BUF_INIT;
	char *pl;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pl = claims(bad[i].sub, "\"" AUD "\"", NOW + 300, NULL);
		SIGNED_ERR(k, h, pl, rsa_key, bad[i].err);
		free(pl);
	}
	pl = claims("spiffe://a-b_c.example/A-Z_0.9/..x/x..", "\"" AUD "\"",
		    NOW + 300, NULL);
	SIGNED_OK(k, h, pl, rsa_key, "spiffe://a-b_c.example/A-Z_0.9/..x/x..");
	free(pl);
	SIGNED_ERR(k, h, "{\"aud\":\"" AUD "\",\"exp\":1800000000}", rsa_key,
		   "malformed: sub claim missing");
	SIGNED_ERR(k, h, "{\"sub\":[\"" SUB "\"],\"aud\":\"" AUD "\","
		   "\"exp\":1800000000}", rsa_key,
		   "malformed: sub is not a string");

	/* 2048 bytes is the most a SPIFFE ID may have. */
	buf_append_str(&b, "spiffe://example.org/");
	while (b.len < JWT_SPIFFE_ID_MAX)
		buf_append_str(&b, "a");
	pl = claims((const char *)b.data, "\"" AUD "\"", NOW + 300, NULL);
	SIGNED_OK(k, h, pl, rsa_key, (const char *)b.data);
	free(pl);
	buf_append_str(&b, "a");
	pl = claims((const char *)b.data, "\"" AUD "\"", NOW + 300, NULL);
	SIGNED_ERR(k, h, pl, rsa_key,
		   "sub is not a valid SPIFFE ID: longer than 2048 bytes");
	free(pl);
	buf_free(&b);
}

/* Replaces part idx (0 header, 1 payload, 2 signature) of tok. */
static char *with_part(const char *tok, int idx, const char *part)
{
	const char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
	struct buf b = BUF_INIT;

	if (idx == 0)
		buf_printf(&b, "%s%s", part, d1);
	else if (idx == 1)
		buf_printf(&b, "%.*s.%s%s", (int)(d1 - tok), tok, part, d2);
	else
		buf_printf(&b, "%.*s.%s", (int)(d2 - tok), tok, part);
	return (char *)buf_steal(&b, NULL);
}

static void test_tampering(const struct jwt_keys *k)
{
	char *pl = claims(SUB, "\"" AUD "\"", NOW + 300, NULL);
	char *other = claims("spiffe://example.org/ns/prod/sa/admin",
			     "\"" AUD "\"", NOW + 300, NULL);
	char *other64 = b64url(other, strlen(other));
	const char *algs[][3] = {
		{ "{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", "rsa" },
		{ "{\"alg\":\"PS256\",\"kid\":\"rsa-1\"}", "rsa" },
		{ "{\"alg\":\"ES256\",\"kid\":\"ec-1\"}", "ec" },
	};

	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		EVP_PKEY *key = algs[i][1][0] == 'r' ? rsa_key : ec_key;
		char *t = token(algs[i][0], pl, key), *t2, *sig;
		size_t mid;

		EXPECT_OK(k, t, SUB);
		/* Another payload under the same signature. */
		t2 = with_part(t, 1, other64);
		EXPECT_ERR(k, t2, "signature invalid");
		free(t2);
		/* One payload character changed. */
		t2 = strdup(t);
		t2[strchr(t2, '.') - t2 + 10] ^= 1;
		EXPECT_ERR(k, t2, "signature invalid");
		free(t2);
		/* One signature character changed (not the last: its low
		 * bits are padding, and changing them is a base64 error). */
		t2 = strdup(t);
		sig = strrchr(t2, '.') + 1;
		mid = strlen(sig) / 2;
		sig[mid] = sig[mid] == 'A' ? 'B' : 'A';
		EXPECT_ERR(k, t2, "signature invalid");
		free(t2);
		free(t);
	}

	/* RS256 signature presented as PS256 and the reverse. */
	{
		char *rs = token("{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", pl,
				 rsa_key);
		char *ps64 = b64url("{\"alg\":\"PS256\",\"kid\":\"rsa-1\"}",
				    strlen("{\"alg\":\"PS256\",\"kid\":\"rsa-1\"}"));
		char *t = with_part(rs, 0, ps64);

		EXPECT_ERR(k, t, "signature invalid");
		free(t);
		free(ps64);
		free(rs);
	}
	/* Signed by a key not in the bundle but claiming a kid that is. */
	SIGNED_ERR(k, "{\"alg\":\"ES256\",\"kid\":\"ec-1\"}", pl, ec_other,
		   "signature invalid");
	free(pl);
	free(other);
	free(other64);
}

static void test_header(const struct jwt_keys *k)
{
	char *pl = claims(SUB, "\"" AUD "\"", NOW + 300, NULL);
	char *n, *h64, *p64;
	struct buf b = BUF_INIT;

	/* alg none: an empty signature and no key at all. */
	h64 = b64url("{\"alg\":\"none\"}", 14);
	p64 = b64url(pl, strlen(pl));
	buf_printf(&b, "%s.%s.", h64, p64);
	EXPECT_ERR(k, (const char *)b.data, "unsupported alg \"none\"");
	buf_reset(&b);
	free(h64);
	SIGNED_ERR(k, "{\"alg\":\"None\",\"kid\":\"rsa-1\"}", pl, NULL,
		   "unsupported alg \"None\"");
	SIGNED_ERR(k, "{\"alg\":\"rs256\",\"kid\":\"rsa-1\"}", pl, NULL,
		   "unsupported alg \"rs256\"");
	SIGNED_ERR(k, "{\"alg\":\"ES256K\"}", pl, NULL,
		   "unsupported alg \"ES256K\"");
	SIGNED_ERR(k, "{\"alg\":\"EdDSA\"}", pl, NULL,
		   "unsupported alg \"EdDSA\"");

	/* HS256 keyed with the RSA public key: the classic confusion. */
	n = b64url_bn(rsa_key, OSSL_PKEY_PARAM_RSA_N, 0);
	{
		const char *hh = "{\"alg\":\"HS256\",\"kid\":\"rsa-1\"}";
		unsigned char mac[EVP_MAX_MD_SIZE];
		unsigned int maclen = 0;
		char *mac64;

		h64 = b64url(hh, strlen(hh));
		buf_printf(&b, "%s.%s", h64, p64);
		HMAC(EVP_sha256(), n, (int)strlen(n), b.data, b.len, mac,
		     &maclen);
		mac64 = b64url(mac, maclen);
		buf_printf(&b, ".%s", mac64);
		EXPECT_ERR(k, (const char *)b.data, "unsupported alg \"HS256\"");
		buf_reset(&b);
		free(mac64);
		free(h64);
	}
	free(n);
	/* A hostile alg is shown bounded and printable only. */
	SIGNED_ERR(k, "{\"alg\":\"A\\nB\\\"C\"}", pl, NULL,
		   "unsupported alg \"A?B?C\"");
	SIGNED_ERR(k, "{\"alg\":\"0123456789012345678901234567890123456789"
		   "0123456789012345678901234567890123456789\"}", pl, NULL,
		   "unsupported alg \"0123456789012345678901234567890123456789"
		   "0123456789012345678901234567...\"");

	/* Key selection. */
	SIGNED_ERR(k, "{\"alg\":\"RS256\",\"kid\":\"nope\"}", pl, rsa_key,
		   "unknown kid \"nope\"");
	SIGNED_ERR(k, "{\"alg\":\"ES256\",\"kid\":\"rsa-1\"}", pl, ec_key,
		   "kid \"rsa-1\" (RSA key) cannot be used with ES256");
	SIGNED_ERR(k, "{\"alg\":\"RS256\",\"kid\":\"ec-1\"}", pl, rsa_key,
		   "kid \"ec-1\" (P-256 key) cannot be used with RS256");
	SIGNED_ERR(k, "{\"alg\":\"ES384\",\"kid\":\"ec-1\"}", pl, ec_key,
		   "kid \"ec-1\" (P-256 key) cannot be used with ES384");
	SIGNED_ERR(k, "{\"alg\":\"ES512\"}", pl, NULL,
		   "malformed: ES512 signature of 22 bytes, expected 132");
	/* An empty kid names nothing (the x509-svid root has no kid). */
	SIGNED_ERR(k, "{\"alg\":\"RS256\",\"kid\":\"\"}", pl, rsa_key,
		   "unknown kid \"\"");

	/* Header shape. */
	SIGNED_ERR(k, "{\"alg\":\"RS256\",\"alg\":\"none\"}", pl, NULL,
		   "malformed: header has a duplicate member");
	SIGNED_ERR(k, "[\"RS256\"]", pl, NULL,
		   "malformed: header is not a JSON object");
	{
		char *t = token("{\"alg\":\"RS256\"", pl, NULL);

		EXPECT_ERR_PREFIX(k, t, NOW,
				  "malformed: header is not valid JSON (byte ");
		free(t);
	}
	SIGNED_ERR(k, "{\"kid\":\"rsa-1\"}", pl, NULL,
		   "malformed: header has no alg string");
	SIGNED_ERR(k, "{\"alg\":[\"RS256\"]}", pl, NULL,
		   "malformed: header has no alg string");
	SIGNED_ERR(k, "{\"alg\":\"RS256\",\"kid\":1}", pl, rsa_key,
		   "malformed: kid is not a string");
	SIGNED_ERR(k, "{\"alg\":\"RS256\",\"typ\":\"at+jwt\"}", pl, rsa_key,
		   "malformed: typ must be JWT or JOSE");
	SIGNED_ERR(k, "{\"alg\":\"RS256\",\"crit\":[\"b64\"],\"b64\":false}",
		   pl, rsa_key, "unsupported critical header extensions (crit)");

	/* Payload shape, signed: checked after the signature. */
	SIGNED_ERR(k, "{\"alg\":\"RS256\"}", "{\"sub\":\"" SUB "\",\"sub\":"
		   "\"spiffe://example.org/admin\",\"aud\":\"" AUD "\","
		   "\"exp\":1800000000}", rsa_key,
		   "malformed: payload has a duplicate member");
	SIGNED_ERR(k, "{\"alg\":\"RS256\"}", "\"" SUB "\"", rsa_key,
		   "malformed: payload is not a JSON object");
	free(p64);
	buf_free(&b);
	free(pl);
}

static void test_syntax(const struct jwt_keys *k)
{
	char *pl = claims(SUB, "\"" AUD "\"", NOW + 300, NULL);
	char *t = token("{\"alg\":\"ES256\",\"kid\":\"ec-1\"}", pl, ec_key);
	char *t2, *d1 = strchr(t, '.'), *d2 = strrchr(t, '.');
	char err[128];
	struct buf b = BUF_INIT;

	EXPECT_OK(k, t, SUB);
	/* Missing parts. */
	EXPECT_ERR(k, "", "malformed: empty token");
	buf_printf(&b, "%.*s", (int)(d2 - t), t);
	EXPECT_ERR(k, (const char *)b.data,
		   "malformed: 2 dot-separated parts, a compact JWS has 3");
	buf_reset(&b);
	buf_printf(&b, "%.*s", (int)(d1 - t), t);
	EXPECT_ERR(k, (const char *)b.data,
		   "malformed: 1 dot-separated parts, a compact JWS has 3");
	buf_reset(&b);
	buf_printf(&b, "%s.", t);
	EXPECT_ERR(k, (const char *)b.data,
		   "malformed: 4 dot-separated parts, a compact JWS has 3");
	buf_reset(&b);
	EXPECT_ERR(k, "a.b.c.d.e",
		   "malformed: 5 dot-separated parts, a compact JWS has 3");
	t2 = with_part(t, 2, "");
	EXPECT_ERR(k, t2, "malformed: empty signature");
	free(t2);
	t2 = with_part(t, 0, "");
	EXPECT_ERR(k, t2, "malformed: header is not valid JSON (byte 0)");
	free(t2);
	t2 = with_part(t, 1, "");
	EXPECT_ERR(k, t2, "signature invalid");
	free(t2);
	EXPECT_ERR(k, "..", "malformed: header is not valid JSON (byte 0)");

	/* Malformed base64url: standard-alphabet characters, padding,
	 * whitespace, impossible lengths, non-zero trailing bits. */
	buf_printf(&b, "%s=", t);
	EXPECT_ERR(k, (const char *)b.data,
		   "malformed: signature is not base64url");
	buf_reset(&b);
	t2 = strdup(t);
	t2[d2 - t + 5] = '+';
	EXPECT_ERR(k, t2, "malformed: signature is not base64url");
	free(t2);
	t2 = strdup(t);
	t2[d1 - t + 3] = '/';
	EXPECT_ERR(k, t2, "malformed: payload is not base64url");
	free(t2);
	t2 = strdup(t);
	t2[2] = '*';
	EXPECT_ERR(k, t2, "malformed: header is not base64url");
	free(t2);
	buf_printf(&b, " %s", t);
	EXPECT_ERR(k, (const char *)b.data,
		   "malformed: header is not base64url");
	buf_reset(&b);
	buf_printf(&b, "%s\n", t);
	EXPECT_ERR(k, (const char *)b.data,
		   "malformed: signature is not base64url");
	buf_reset(&b);
	t2 = with_part(t, 1, "eyI");	/* 4n+3 characters: '{"' */
	EXPECT_ERR(k, t2, "signature invalid");
	free(t2);
	t2 = with_part(t, 1, "eyJhb");	/* 4n+1: no such encoding */
	EXPECT_ERR(k, t2, "malformed: payload is not base64url");
	free(t2);
	t2 = with_part(t, 1, "eyJ");	/* '{"' with a trailing bit set */
	EXPECT_ERR(k, t2, "malformed: payload is not base64url");
	free(t2);
	/* The length given counts, not a NUL inside the token. */
	t2 = strdup(t);
	t2[0] = 0;
	CHECK_INT(jwt_svid_verify(k, t2, strlen(t), AUD, NOW, 0, got_id,
				  sizeof(got_id), err, sizeof(err)), -1);
	CHECK_STR(err, "malformed: header is not base64url");
	free(t2);

	/* Size bound. */
	{
		size_t big = JWT_TOKEN_MAX + 1;
		char *s = malloc(big);

		memset(s, 'A', big);
		CHECK_INT(jwt_svid_verify(k, s, big, AUD, NOW, 0, got_id,
					  sizeof(got_id), err, sizeof(err)), -1);
		CHECK_STR(err, "malformed: token longer than 16384 bytes");
		free(s);
	}
	buf_free(&b);
	free(t);
	free(pl);
}

/* ---- independent tokens --------------------------------------------- */

/* RFC 7515 appendix A.2 (RS256), A.3 (ES256) and A.4 (ES512): tokens and
 * keys as published. Their payloads are not JWT-SVIDs, so the verdict
 * after a good signature is a claims error, and after a changed signature
 * "signature invalid". */
static void test_rfc7515(void)
{
	static const char a2_jwks[] = "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a2\","
		"\"n\":\"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx"
		"HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRP"
		"EwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBY"
		"UsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9k"
		"G4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PA"
		"cDTW9gb54h4FRWyuXpoQ\",\"e\":\"AQAB\"}]}";
	static const char a2[] = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJ"
		"leHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0"
		"cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj"
		"5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKB"
		"YNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe"
		"7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv"
		"hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0"
		"igcN_IoypGlUPQGe77Rw";
	static const char a3_jwks[] = "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"a3\","
		"\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
		"\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}]}";
	static const char a3[] = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJ"
		"leHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0"
		"cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa"
		"8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
	static const char a4_jwks[] = "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"a4\","
		"\"crv\":\"P-521\",\"x\":\"AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjx"
		"rrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk\",\"y\":\"ADSmRA43Z1"
		"DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9u"
		"bmf63e3kyMj2\"}]}";
	static const char a4[] = "eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZA.AdwMgeerwtHoh"
		"-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZqwqT2SI-KGDKB34X"
		"O0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8KpEHwJjyqOgzDO7iKvU"
		"8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn";
	/* A.1, HMAC: refused by alg whatever the key. */
	static const char a1[] = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJ"
		"pc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxl"
		"LmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFO"
		"EjXk";
	const long long then = 1300819000;	/* before the examples' exp */
	const struct {
		const char *jwks, *tok;
	} v[] = { { a2_jwks, a2 }, { a3_jwks, a3 } };
	char err[256];

	for (size_t i = 0; i < 2; i++) {
		struct jwt_keys *k = keys_from(v[i].jwks, err, sizeof(err));
		char *t;

		CHECK(k != NULL);
		if (!k) {
			printf("RFC 7515 key %zu: %s\n", i, err);
			continue;
		}
		EXPECT_ERR_AT(k, v[i].tok, then, 0,
			      "malformed: aud claim missing");
		EXPECT_ERR_AT(k, v[i].tok, 1300819380, 0, "token expired");
		t = strdup(v[i].tok);
		t[strlen(t) - 10] = t[strlen(t) - 10] == 'A' ? 'B' : 'A';
		EXPECT_ERR_AT(k, t, then, 0, "signature invalid");
		free(t);
		EXPECT_ERR_AT(k, a1, then, 0, "unsupported alg \"HS256\"");
		jwt_keys_free(k);
	}
	{
		struct jwt_keys *k = keys_from(a4_jwks, err, sizeof(err));
		char *t;

		CHECK(k != NULL);
		if (k) {
			/* "Payload" is not JSON: the signature passed. */
			EXPECT_ERR_PREFIX(k, a4, then, "malformed: payload "
					  "is not valid JSON (byte ");
			t = strdup(a4);
			t[strlen(t) - 20] = t[strlen(t) - 20] == 'w' ? 'x' : 'w';
			EXPECT_ERR_AT(k, t, then, 0, "signature invalid");
			free(t);
		} else {
			printf("RFC 7515 A.4 key: %s\n", err);
		}
		jwt_keys_free(k);
	}
}

static char tmpdir[64];

static void write_file(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f))
		abort();
}

static char *read_token(void)
{
	char path[128], line[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/token", tmpdir);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	fclose(f);
	return strdup(line);
}

/* Builds header.payload.signature entirely with the openssl tool and tr:
 * encoding, digest and signature, none of it through this file's code. */
static char *openssl_token(const char *header, const char *payload,
			   const char *dgst_opts)
{
	char cmd[1024];

	write_file("header.json", header);
	write_file("payload.json", payload);
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && "
		 "b64u() { openssl base64 -A | tr '+/' '-_' | tr -d '='; } && "
		 "h=$(b64u < header.json) && p=$(b64u < payload.json) && "
		 "printf '%%s.%%s' \"$h\" \"$p\" > input && "
		 "openssl dgst %s -sign key.pem -out sig.bin input && "
		 "printf '%%s.%%s' \"$h.$p\" \"$(b64u < sig.bin)\" > token",
		 tmpdir, dgst_opts);
	if (system(cmd) != 0)
		return NULL;
	return read_token();
}

static void write_key(EVP_PKEY *key)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/key.pem", tmpdir);
	f = fopen(path, "w");
	if (!f || PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    fclose(f))
		abort();
}

static void test_openssl_cli(const struct jwt_keys *k)
{
	static const char *const files[] = { "header.json", "payload.json",
		"input", "sig.bin", "token", "key.pem" };
	char *pl = claims(SUB, "\"" AUD "\"", NOW + 300, NULL), *t;

	if (system("openssl version >/dev/null 2>&1") != 0) {
		printf("note: no openssl tool, cross-check not run\n");
		free(pl);
		return;
	}
	strcpy(tmpdir, "/tmp/test_jwt.XXXXXX");
	if (!mkdtemp(tmpdir))
		abort();

	write_key(rsa_key);
	t = openssl_token("{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", pl,
			  "-sha256");
	CHECK(t != NULL);
	if (t)
		EXPECT_OK(k, t, SUB);
	free(t);
	t = openssl_token("{\"alg\":\"PS256\",\"kid\":\"rsa-1\"}", pl,
			  "-sha256 -sigopt rsa_padding_mode:pss "
			  "-sigopt rsa_pss_saltlen:digest");
	CHECK(t != NULL);
	if (t)
		EXPECT_OK(k, t, SUB);
	free(t);
	/* PSS with another salt length is not PS256 (RFC 7518, 3.5). */
	t = openssl_token("{\"alg\":\"PS256\",\"kid\":\"rsa-1\"}", pl,
			  "-sha256 -sigopt rsa_padding_mode:pss "
			  "-sigopt rsa_pss_saltlen:20");
	CHECK(t != NULL);
	if (t)
		EXPECT_ERR(k, t, "signature invalid");
	free(t);
	/* SHA-512 signature under an RS256 header. */
	t = openssl_token("{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", pl,
			  "-sha512");
	CHECK(t != NULL);
	if (t)
		EXPECT_ERR(k, t, "signature invalid");
	free(t);

	/* ES256: the tool's DER signature is re-encoded as r || s here,
	 * the one step the tool cannot do. */
	write_key(ec_key);
	t = openssl_token("{\"alg\":\"ES256\",\"kid\":\"ec-1\"}", pl,
			  "-sha256");
	CHECK(t != NULL);
	if (t) {
		char path[128];
		unsigned char der[256];
		struct buf raw = BUF_INIT, b = BUF_INIT;
		char *s;
		size_t n;
		FILE *f;

		snprintf(path, sizeof(path), "%s/sig.bin", tmpdir);
		f = fopen(path, "rb");
		n = f ? fread(der, 1, sizeof(der), f) : 0;
		if (f)
			fclose(f);
		ecdsa_raw(der, n, 32, &raw);
		s = b64url(raw.data, raw.len);
		buf_printf(&b, "%.*s.%s", (int)(strrchr(t, '.') - t), t, s);
		EXPECT_OK(k, (const char *)b.data, SUB);
		/* As the tool wrote it, DER: not the r || s of JWS. */
		CHECK_INT(verify_at(k, t, NOW, 30), -1);
		CHECK(!strncmp(got_err, "malformed: ES256 signature of ", 30));
		free(s);
		buf_free(&raw);
		buf_free(&b);
	}
	free(t);

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[128];

		snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i]);
		unlink(path);
	}
	rmdir(tmpdir);
	free(pl);
}

int main(void)
{
	char err[256] = "", *jwks;
	struct jwt_keys *k;

	rsa_key = EVP_RSA_gen(2048);
	ec_key = EVP_EC_gen("P-256");
	ec_other = EVP_EC_gen("P-256");
	if (!rsa_key || !ec_key || !ec_other) {
		printf("FAIL: OpenSSL key generation\n");
		return 1;
	}
	test_jwks_parse();

	jwks = test_jwks("ec-1");
	k = keys_from(jwks, err, sizeof(err));
	free(jwks);
	CHECK(k != NULL);
	if (!k) {
		printf("FAIL: test bundle: %s\n", err);
		check_done();
		return 1;
	}
	test_valid(k);
	test_times(k);
	test_audience(k);
	test_subject(k);
	test_tampering(k);
	test_header(k);
	test_syntax(k);
	test_rfc7515();
	test_openssl_cli(k);

	jwt_keys_free(k);
	EVP_PKEY_free(rsa_key);
	EVP_PKEY_free(ec_key);
	EVP_PKEY_free(ec_other);
	return check_done();
}
