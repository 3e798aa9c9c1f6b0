/* The key store: which keys exist, under whose name, where, with which
 * attributes. SQLite (lib/store): one row per key, keyed by
 * (authenticator, application, provider, key name), so an application
 * never reaches another's keys, nor keys it made through another
 * authenticator.
 *
 * Crash safety: a key is made in three steps and destroyed in three, each
 * step durable before the next:
 *   create:  row CREATING (with the planned backend reference)
 *            -> the key made in the backend -> row READY (final reference)
 *   destroy: row DESTROYING -> the key destroyed in the backend -> row gone
 * Only READY rows are keys to clients. At start, keyd finishes what a
 * crash interrupted: every CREATING or DESTROYING row's backend key is
 * destroyed and the row removed. So a name never points at a missing key,
 * and an orphan left in a backend is cleaned at the next start.
 * Calls are serialised by a mutex: the daemon's threads share one store. */
#ifndef ASSAY_KEYD_KEYSTORE_H
#define ASSAY_KEYD_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "parsec/psa.h"
#include "util/buf.h"

struct keystore;

struct key_id {
	uint8_t auth;		/* the authenticator type */
	const char *app;	/* the application's name under it */
	uint8_t provider;
	const char *name;
};

enum key_state { KEY_CREATING = 0, KEY_READY = 1, KEY_DESTROYING = 2 };

struct keystore *keystore_open(const char *path, char *err, size_t errlen);
void keystore_close(struct keystore *ks);

/* 0, PSA_ERR_ALREADY_EXISTS, or PSA_ERR_STORAGE_FAILURE. */
int keystore_create_begin(struct keystore *ks, const struct key_id *id,
			  const struct psa_attrs *a, const struct buf *planned);
int keystore_create_finish(struct keystore *ks, const struct key_id *id,
			   const struct psa_attrs *a, const struct buf *ref);
/* The backend refused: the name is free again. */
int keystore_create_abort(struct keystore *ks, const struct key_id *id);
/* A READY key: 0, PSA_ERR_DOES_NOT_EXIST or PSA_ERR_STORAGE_FAILURE. */
int keystore_get(struct keystore *ks, const struct key_id *id, struct psa_attrs *a,
		 struct buf *ref);
/* READY -> DESTROYING, returning what the backend needs. */
int keystore_destroy_begin(struct keystore *ks, const struct key_id *id,
			   struct psa_attrs *a, struct buf *ref);
int keystore_destroy_finish(struct keystore *ks, const struct key_id *id);

/* Every READY key of (auth, app): fn(name, provider, attributes). */
int keystore_list(struct keystore *ks, uint8_t auth, const char *app,
		  void (*fn)(const char *name, uint8_t provider, const struct psa_attrs *a,
			     void *arg), void *arg);
/* The applications of one authenticator that have keys, first key first. */
int keystore_clients(struct keystore *ks, uint8_t auth,
		     void (*fn)(const char *app, void *arg), void *arg);
/* Every key of one application, any state (DeleteClient). */
int keystore_app_keys(struct keystore *ks, uint8_t auth, const char *app,
		      void (*fn)(const char *name, uint8_t provider, void *arg), void *arg);
/* Rows a crash left CREATING or DESTROYING. */
int keystore_unfinished(struct keystore *ks,
			void (*fn)(const struct key_id *id, enum key_state st,
				   const struct psa_attrs *a, const struct buf *ref,
				   void *arg), void *arg);
/* Removes a row whatever its state (after cleaning its backend key). */
int keystore_forget(struct keystore *ks, const struct key_id *id);

#endif
