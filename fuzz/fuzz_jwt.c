/* Fuzz target: jwt_keys_parse() and jwt_svid_verify() on arbitrary bytes.
 *
 * Every input is tried as a JWKS and as a token against a fixed bundle
 * (public keys generated once with the openssl tool; the seeds in
 * fuzz/seeds/jwt/ are tokens they signed, valid until 2100). A bundle the
 * input yields is also used to check a fixed token, so fuzzed key material
 * reaches signature verification. Besides "no crash, no leak" it checks the
 * API's promises: a refusal always says why and leaves no identity behind,
 * an acceptance always yields a SPIFFE ID. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyd/jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW 1700000000LL
#define FUZZ_AUD "assay-keyd"

static const char fuzz_jwks[] =
	"{\"spiffe_sequence\":1,\"spiffe_refresh_hint\":300,\"keys\":["
	"{\"kty\":\"RSA\",\"use\":\"jwt-svid\",\"kid\":\"fuzz-rsa\",\"e\":\"AQAB\",\"n\":\""
	"u3UZ2r0hX79qAqjuUyvWHSSgsPWMSHc5N2B4PDo6QCxzOtBh76kk7VVlf1FuxX8R"
	"IRicwWhJb1pxKwy9SSWRo15hkujCQZrI7DgBWORvNIOJVuFszrNmCCFVHqXB98Pm"
	"C6RCEFW3uQ18LtRPDjkZkPlH3fYQ1EexHP3N0WVk39YjKwVSgJiPQ8xiW5Pi4FlN"
	"BIA-xq77o-v80YzIF0B-CmQmKyla_1UvSTBHSLcuAj9ZgOmkAD5_nhzSJK0gQQOD"
	"3WUhcPdb98mJMD0sZsR6BZxQ7dQp60UrI68C8KhOG-AEBnkfD_2fd7PzL5zdQzPF"
	"bL4Ojeg7DrSE_U78N8QjwQ"
	"\"},"
	"{\"kty\":\"EC\",\"use\":\"jwt-svid\",\"kid\":\"fuzz-ec\",\"crv\":\"P-256\","
	"\"x\":\"oyI7K1xMcQ1j7Tt9X72APfHTiOKP6iuApbXLU17ALyg\","
	"\"y\":\"rBaJhc9pVxIIjfOPjajkRfS6RJ09pklDJdUYaY03TQ0\"}]}";

/* ES256, kid fuzz-ec, sub spiffe://example.org/fuzz, exp 2100. */
static const char fuzz_token[] =
	"eyJhbGciOiJFUzI1NiIsImtpZCI6ImZ1enotZWMifQ.eyJzdWIiOiJzcGlmZmU6L"
	"y9leGFtcGxlLm9yZy9mdXp6IiwiYXVkIjoiYXNzYXkta2V5ZCIsImV4cCI6NDEwM"
	"jQ0NDgwMCwiaWF0IjoxNzAwMDAwMDAwfQ.-gsLcS3O9yin8nXZjVSCjxbPJJE5YN"
	"TbYB-B6HZVaKKRnw95eA6PTwUV0hEAIvIcFIfNAAqfUTYJ9FHT56-Qkg";

static struct jwt_keys *fuzz_keys;

static void fuzz_verify(const struct jwt_keys *k, const char *tok, size_t n)
{
	char err[256] = "", id[JWT_SPIFFE_ID_MAX + 1];
	int rc = jwt_svid_verify(k, tok, n, FUZZ_AUD, FUZZ_NOW, 30, id,
				 sizeof(id), err, sizeof(err));

	if (rc == 0 && (strncmp(id, "spiffe://", 9) || err[0]))
		abort();
	if (rc != 0 && (rc != -1 || !err[0] || id[0]))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256] = "", id[JWT_SPIFFE_ID_MAX + 1];
	struct jwt_keys *k;

	if (!fuzz_keys) {
		fuzz_keys = jwt_keys_parse(fuzz_jwks, strlen(fuzz_jwks), err,
					   sizeof(err));
		/* The harness is only worth running if its seeds pass. */
		if (!fuzz_keys || jwt_keys_count(fuzz_keys) != 2 ||
		    jwt_svid_verify(fuzz_keys, fuzz_token, strlen(fuzz_token),
				    FUZZ_AUD, FUZZ_NOW, 30, id, sizeof(id),
				    err, sizeof(err)) != 0)
			abort();
	}

	k = jwt_keys_parse((const char *)data, size, err, sizeof(err));
	if (!k && !err[0])
		abort();
	if (k) {
		if (jwt_keys_count(k) == 0 ||
		    jwt_keys_count(k) > JWT_JWKS_MAX_KEYS)
			abort();
		fuzz_verify(k, fuzz_token, strlen(fuzz_token));
		jwt_keys_free(k);
	}

	fuzz_verify(fuzz_keys, (const char *)data, size);
	return 0;
}
