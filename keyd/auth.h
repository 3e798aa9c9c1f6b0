/* Authenticators: who sends a request. Several may be enabled at once;
 * the request's auth type picks one, and the application's name is
 * namespaced by it (an application "1000" through direct authentication
 * is not uid 1000 through Unix peer credentials).
 *
 *   none (0)      only operations that touch no keys (parsec_opcode_needs_identity)
 *   direct (1)    the auth bytes are the application's name (UTF-8); trusts
 *                 the client entirely: for tests and trusted hosts
 *   unix (3)      the auth bytes are a 4-byte little-endian uid that must be
 *                 the connection's SO_PEERCRED uid; the name is the uid in decimal
 *   jwt-svid (4)  the auth bytes are a JWT-SVID checked against a JWKS
 *                 bundle (signature, audience, expiry); the name is its SPIFFE ID */
#ifndef ASSAY_KEYD_AUTH_H
#define ASSAY_KEYD_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define AUTH_NAME_MAX 2048	/* SPIFFE IDs may be this long */
#define AUTH_DIRECT_NAME_MAX 255

struct config;
struct jwt_keys;

struct auth {
	int enabled[5];		/* by auth type, in... */
	uint8_t order[5];	/* ...configuration order */
	int n_order;
	char **admins;		/* application names */
	int n_admins;
	struct jwt_keys *jwks;
	char *audience;
};

struct identity {
	uint8_t auth;		/* 0: none */
	char app[AUTH_NAME_MAX + 1];
	int admin;
};

/* From the authenticators, admins and jwt_svid_* settings. -1 with err. */
int auth_load(struct auth *a, const struct config *cfg, char *err, size_t errlen);
void auth_free(struct auth *a);
/* Parsec status: PARSEC_SUCCESS with id filled, or why not. */
int auth_identify(const struct auth *a, uint8_t auth_type, const uint8_t *bytes,
		  size_t n, uid_t peer_uid, int have_peer, struct identity *id);
const char *auth_type_name(uint8_t type);

#endif
