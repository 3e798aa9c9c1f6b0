/* assay-keyd: the service state and the request handler, shared by the
 * socket server (server.c), the tests and the fuzz target.
 *
 * A request's life (handler.c):
 *   header checks (wire.c) -> authenticator (auth.c) -> provider chosen by
 *   the header -> operation body decoded (protobuf-c) -> key looked up by
 *   (authenticator, application, provider, name) in the key store and its
 *   policy checked (psa.c) -> the provider's operation -> result encoded.
 * Every failure is a Parsec status in the response header, with an empty
 * body, and changes nothing. */
#ifndef ASSAY_KEYD_H
#define ASSAY_KEYD_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "keyd/auth.h"
#include "keyd/keystore.h"
#include "keyd/provider.h"
#include "parsec/wire.h"
#include "util/buf.h"

#define KEYD_PROVIDERS_MAX 4

struct keyd {
	struct keystore *ks;
	struct provider providers[KEYD_PROVIDERS_MAX];	/* config order */
	int n_providers;
	/* Authenticators, replaced on SIGHUP: readers hold the lock shared. */
	struct auth auth;
	pthread_rwlock_t auth_lock;
	size_t max_body;	/* request bodies; responses likewise */
	const char *version;
};

/* The peer of a connection (SO_PEERCRED). */
struct peer {
	int known;
	uid_t uid;
	pid_t pid;
};

/* Handles one whole request (header, body, auth bytes) and writes the
 * whole response to out. Returns the status sent. */
int keyd_handle(struct keyd *k, const uint8_t *req, size_t len, const struct peer *peer,
		struct buf *out);
/* The response to a request whose header could not be read (provider 0,
 * opcode Ping, as Parsec answers). */
void keyd_error_response(int status, struct buf *out);

extern const struct config_program keyd_program;
struct config;
/* Authenticators, key store (STATE_DIR/keys.sqlite), providers (in the
 * providers setting's order), then crash recovery. -1 with err. */
int keyd_open(struct keyd *k, const struct config *cfg, char *err, size_t errlen);
void keyd_close(struct keyd *k);

/* The provider with this id, or NULL when it is not enabled. */
struct provider *keyd_provider(struct keyd *k, uint8_t id);
/* Finishes keys a crash left half made or half destroyed (keystore.h). */
void keyd_recover(struct keyd *k);

#endif
