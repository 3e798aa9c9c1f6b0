/* jwt: verification of JWT-SVIDs (SPIFFE's JWT identity documents).
 *
 * A client authenticates to assay-keyd with a compact JWS token; the daemon
 * checks it against a JWKS trust bundle configured by the operator and takes
 * the token's "sub" (a SPIFFE ID) as the application identity. Only the
 * asymmetric algorithms JWT-SVID allows are accepted: never "none", never
 * HMAC, whatever the token says. Nothing here logs token contents: a token
 * is a bearer credential. */
#ifndef ASSAY_KEYD_JWT_H
#define ASSAY_KEYD_JWT_H

#include <stddef.h>

/* Bounds on outside input. */
#define JWT_TOKEN_MAX (16 * 1024)
#define JWT_JWKS_MAX (1024 * 1024)
#define JWT_JWKS_MAX_KEYS 64
/* SPIFFE IDs longer than this are refused (SPIFFE-ID spec, 2.3). */
#define JWT_SPIFFE_ID_MAX 2048

/* A JWKS trust bundle: the public keys JWT-SVIDs may be signed with. */
struct jwt_keys;

/* Parses a JWKS JSON document ({"keys": [...]}): kty RSA (n, e) and EC (crv
 * P-256/P-384/P-521, x, y), each with a kid. Elements the SPIFFE bundle spec
 * says to ignore are skipped, not refused: unknown kty or crv, and a "use"
 * other than "jwt-svid" or "sig" (a SPIFFE bundle also carries x509-svid
 * roots). A usable element with broken key material is an error, and so is
 * a bundle left with no usable key. "spiffe_refresh_hint",
 * "spiffe_sequence" and other top-level members are ignored. NULL with err
 * on error. */
struct jwt_keys *jwt_keys_parse(const char *json, size_t len, char *err,
				size_t errlen);
void jwt_keys_free(struct jwt_keys *k);
/* The number of usable keys the bundle kept. */
size_t jwt_keys_count(const struct jwt_keys *k);

/* Verifies a compact JWS JWT-SVID: header alg one of RS256 RS384 RS512 PS256
 * PS384 PS512 ES256 ES384 ES512; kid, when present, must name a key of the
 * bundle with the matching type (and curve); without kid every key of the
 * right type is tried. Then the claims: "sub" a valid SPIFFE ID, "aud" a
 * string or an array containing audience, "exp" after now (allowing
 * leeway_s seconds), "nbf"/"iat" if present not after now + leeway_s.
 * now is unix seconds, passed in so tests are deterministic.
 * On success copies sub into spiffe_id (failing when it does not fit) and
 * returns 0; otherwise -1 with err: "token expired", "token not yet valid",
 * "audience mismatch", "unknown kid ...", "signature invalid",
 * "unsupported alg ...", "malformed: ...", ... */
int jwt_svid_verify(const struct jwt_keys *k, const char *token, size_t len,
		    const char *audience, long long now, long leeway_s,
		    char *spiffe_id, size_t idlen, char *err, size_t errlen);

#endif
