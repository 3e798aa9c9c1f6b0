#include "keyd/keystore.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parsec/psa_pb.h"
#include "store/store.h"
#include "util/error.h"
#include "util/log.h"

static const char *const schema[] = {
	"CREATE TABLE keys ("
	" auth INTEGER NOT NULL,"
	" app TEXT NOT NULL,"
	" provider INTEGER NOT NULL,"
	" name TEXT NOT NULL,"
	" attributes BLOB NOT NULL,"	/* PsaKeyAttributes, protobuf */
	" ref BLOB,"			/* the provider's reference */
	" state INTEGER NOT NULL,"
	" PRIMARY KEY (auth, app, provider, name));",
};

struct keystore {
	struct store *s;
	pthread_mutex_t lock;
};

struct keystore *keystore_open(const char *path, char *err, size_t errlen)
{
	struct keystore *ks = calloc(1, sizeof *ks);
	if (!ks) {
		error_set(err, errlen, "out of memory");
		return NULL;
	}
	ks->s = store_open(path, schema, sizeof schema / sizeof *schema, err, errlen);
	if (!ks->s) {
		free(ks);
		return NULL;
	}
	pthread_mutex_init(&ks->lock, NULL);
	return ks;
}

void keystore_close(struct keystore *ks)
{
	if (!ks)
		return;
	store_close(ks->s);
	pthread_mutex_destroy(&ks->lock);
	free(ks);
}

static void bind_id(sqlite3_stmt *st, const struct key_id *id)
{
	sqlite3_bind_int(st, 1, id->auth);
	sqlite3_bind_text(st, 2, id->app, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, id->provider);
	sqlite3_bind_text(st, 4, id->name, -1, SQLITE_STATIC);
}

static int pack_attrs(const struct psa_attrs *a, uint8_t **out, size_t *n)
{
	struct psa_attrs_pb pb;
	if (psa_attrs_to_pb(a, &pb) < 0)
		return -1;
	*n = psa_key_attributes__key_attributes__get_packed_size(&pb.attrs);
	*out = malloc(*n ? *n : 1);
	if (!*out)
		return -1;
	psa_key_attributes__key_attributes__pack(&pb.attrs, *out);
	return 0;
}

static int unpack_attrs(const void *p, int n, struct psa_attrs *a)
{
	PsaKeyAttributes__KeyAttributes *pb =
		psa_key_attributes__key_attributes__unpack(NULL, (size_t)n, p);
	int r = pb ? psa_attrs_from_pb(pb, a) : -1;
	psa_key_attributes__key_attributes__free_unpacked(pb, NULL);
	return r == PSA_OK ? 0 : -1;
}

static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

int keystore_create_begin(struct keystore *ks, const struct key_id *id,
			  const struct psa_attrs *a, const struct buf *planned)
{
	static const char sql[] = "INSERT INTO keys (auth, app, provider, name, attributes,"
				  " ref, state) VALUES (?, ?, ?, ?, ?, ?, 0)";
	uint8_t *attrs;
	size_t n;
	if (pack_attrs(a, &attrs, &n) < 0)
		return PSA_ERR_INVALID_ARGUMENT;
	pthread_mutex_lock(&ks->lock);
	sqlite3_stmt *st = store_prepare(ks->s, sql);
	int r = PSA_ERR_STORAGE_FAILURE;
	if (st) {
		bind_id(st, id);
		sqlite3_bind_blob(st, 5, attrs, (int)n, SQLITE_STATIC);
		sqlite3_bind_blob(st, 6, planned->data ? (const void *)planned->data : "",
				  (int)planned->len, SQLITE_STATIC);
		int rc = step_done(st);
		r = rc == SQLITE_DONE ? PSA_OK : rc == SQLITE_CONSTRAINT
			? PSA_ERR_ALREADY_EXISTS : PSA_ERR_STORAGE_FAILURE;
	}
	pthread_mutex_unlock(&ks->lock);
	free(attrs);
	return r;
}

int keystore_create_finish(struct keystore *ks, const struct key_id *id,
			   const struct psa_attrs *a, const struct buf *ref)
{
	static const char sql[] = "UPDATE keys SET state = 1, ref = ?5, attributes = ?6"
				  " WHERE auth = ?1 AND app = ?2 AND provider = ?3 AND name = ?4"
				  " AND state = 0";
	uint8_t *attrs;
	size_t n;
	if (pack_attrs(a, &attrs, &n) < 0)
		return PSA_ERR_INVALID_ARGUMENT;
	pthread_mutex_lock(&ks->lock);
	sqlite3_stmt *st = store_prepare(ks->s, sql);
	int r = PSA_ERR_STORAGE_FAILURE;
	if (st) {
		bind_id(st, id);
		sqlite3_bind_blob(st, 5, ref->data ? (const void *)ref->data : "",
				  (int)ref->len, SQLITE_STATIC);
		sqlite3_bind_blob(st, 6, attrs, (int)n, SQLITE_STATIC);
		if (step_done(st) == SQLITE_DONE && sqlite3_changes(store_db(ks->s)) == 1)
			r = PSA_OK;
	}
	pthread_mutex_unlock(&ks->lock);
	free(attrs);
	return r;
}

static int delete_row(struct keystore *ks, const struct key_id *id, int state)
{
	static const char any[] = "DELETE FROM keys WHERE auth = ? AND app = ? AND"
				  " provider = ? AND name = ?";
	static const char in_state[] = "DELETE FROM keys WHERE auth = ? AND app = ? AND"
				       " provider = ? AND name = ? AND state = ?";
	pthread_mutex_lock(&ks->lock);
	sqlite3_stmt *st = store_prepare(ks->s, state < 0 ? any : in_state);
	int r = PSA_ERR_STORAGE_FAILURE;
	if (st) {
		bind_id(st, id);
		if (state >= 0)
			sqlite3_bind_int(st, 5, state);
		if (step_done(st) == SQLITE_DONE)
			r = sqlite3_changes(store_db(ks->s)) ? PSA_OK : PSA_ERR_DOES_NOT_EXIST;
	}
	pthread_mutex_unlock(&ks->lock);
	return r;
}

int keystore_create_abort(struct keystore *ks, const struct key_id *id)
{
	return delete_row(ks, id, KEY_CREATING);
}

int keystore_destroy_finish(struct keystore *ks, const struct key_id *id)
{
	return delete_row(ks, id, KEY_DESTROYING);
}

int keystore_forget(struct keystore *ks, const struct key_id *id)
{
	return delete_row(ks, id, -1);
}

/* Reads the READY row of id; with `to` >= 0 also moves it to that state
 * in the same transaction. */
static int fetch(struct keystore *ks, const struct key_id *id, struct psa_attrs *a,
		 struct buf *ref, int to)
{
	static const char sel[] = "SELECT attributes, ref FROM keys WHERE auth = ? AND"
				  " app = ? AND provider = ? AND name = ? AND state = 1";
	static const char upd[] = "UPDATE keys SET state = ? WHERE auth = ? AND app = ? AND"
				  " provider = ? AND name = ? AND state = 1";
	pthread_mutex_lock(&ks->lock);
	int r = PSA_ERR_STORAGE_FAILURE, tx = to >= 0 && store_begin(ks->s) == 0;
	if (to >= 0 && !tx)
		goto out;
	sqlite3_stmt *st = store_prepare(ks->s, sel);
	if (!st)
		goto out;
	bind_id(st, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		r = unpack_attrs(sqlite3_column_blob(st, 0), sqlite3_column_bytes(st, 0), a) == 0
			? PSA_OK : PSA_ERR_DATA_CORRUPT;
		buf_reset(ref);
		if (r == PSA_OK && sqlite3_column_bytes(st, 1) > 0)
			buf_append(ref, sqlite3_column_blob(st, 1),
				   (size_t)sqlite3_column_bytes(st, 1));
	} else if (rc == SQLITE_DONE) {
		r = PSA_ERR_DOES_NOT_EXIST;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (r == PSA_OK && to >= 0) {
		sqlite3_stmt *u = store_prepare(ks->s, upd);
		if (!u) {
			r = PSA_ERR_STORAGE_FAILURE;
		} else {
			sqlite3_bind_int(u, 1, to);
			sqlite3_bind_int(u, 2, id->auth);
			sqlite3_bind_text(u, 3, id->app, -1, SQLITE_STATIC);
			sqlite3_bind_int(u, 4, id->provider);
			sqlite3_bind_text(u, 5, id->name, -1, SQLITE_STATIC);
			if (step_done(u) != SQLITE_DONE)
				r = PSA_ERR_STORAGE_FAILURE;
		}
	}
	if (tx) {
		if (r == PSA_OK && store_commit(ks->s) < 0)
			r = PSA_ERR_STORAGE_FAILURE;
		if (r != PSA_OK)
			store_rollback(ks->s);
	}
out:
	pthread_mutex_unlock(&ks->lock);
	return r;
}

int keystore_get(struct keystore *ks, const struct key_id *id, struct psa_attrs *a,
		 struct buf *ref)
{
	return fetch(ks, id, a, ref, -1);
}

int keystore_destroy_begin(struct keystore *ks, const struct key_id *id,
			   struct psa_attrs *a, struct buf *ref)
{
	return fetch(ks, id, a, ref, KEY_DESTROYING);
}

int keystore_list(struct keystore *ks, uint8_t auth, const char *app,
		  void (*fn)(const char *name, uint8_t provider, const struct psa_attrs *a,
			     void *arg), void *arg)
{
	static const char sql[] = "SELECT name, provider, attributes FROM keys WHERE"
				  " auth = ? AND app = ? AND state = 1 ORDER BY rowid";
	pthread_mutex_lock(&ks->lock);
	sqlite3_stmt *st = store_prepare(ks->s, sql);
	int rc = SQLITE_ERROR;
	if (st) {
		sqlite3_bind_int(st, 1, auth);
		sqlite3_bind_text(st, 2, app, -1, SQLITE_STATIC);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			struct psa_attrs a;
			if (unpack_attrs(sqlite3_column_blob(st, 2), sqlite3_column_bytes(st, 2),
					 &a) == 0)
				fn((const char *)sqlite3_column_text(st, 0),
				   (uint8_t)sqlite3_column_int(st, 1), &a, arg);
		}
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	pthread_mutex_unlock(&ks->lock);
	return rc == SQLITE_DONE ? PSA_OK : PSA_ERR_STORAGE_FAILURE;
}

int keystore_clients(struct keystore *ks, uint8_t auth,
		     void (*fn)(const char *app, void *arg), void *arg)
{
	static const char sql[] = "SELECT app FROM keys WHERE auth = ? AND state = 1"
				  " GROUP BY app ORDER BY min(rowid)";
	pthread_mutex_lock(&ks->lock);
	sqlite3_stmt *st = store_prepare(ks->s, sql);
	int rc = SQLITE_ERROR;
	if (st) {
		sqlite3_bind_int(st, 1, auth);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			fn((const char *)sqlite3_column_text(st, 0), arg);
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	pthread_mutex_unlock(&ks->lock);
	return rc == SQLITE_DONE ? PSA_OK : PSA_ERR_STORAGE_FAILURE;
}

int keystore_app_keys(struct keystore *ks, uint8_t auth, const char *app,
		      void (*fn)(const char *name, uint8_t provider, void *arg), void *arg)
{
	static const char sql[] = "SELECT name, provider FROM keys WHERE auth = ? AND"
				  " app = ? AND state = 1 ORDER BY rowid";
	struct names { char *name; uint8_t provider; } *list = NULL;
	size_t n = 0;
	pthread_mutex_lock(&ks->lock);
	sqlite3_stmt *st = store_prepare(ks->s, sql);
	int rc = SQLITE_ERROR;
	if (st) {
		sqlite3_bind_int(st, 1, auth);
		sqlite3_bind_text(st, 2, app, -1, SQLITE_STATIC);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			void *p = realloc(list, (n + 1) * sizeof *list);
			if (!p)
				break;
			list = p;
			list[n].name = strdup((const char *)sqlite3_column_text(st, 0));
			list[n].provider = (uint8_t)sqlite3_column_int(st, 1);
			if (list[n].name)
				n++;
		}
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	pthread_mutex_unlock(&ks->lock);
	/* fn runs unlocked: it destroys keys, which takes the lock. */
	for (size_t i = 0; i < n; i++) {
		fn(list[i].name, list[i].provider, arg);
		free(list[i].name);
	}
	free(list);
	return rc == SQLITE_DONE ? PSA_OK : PSA_ERR_STORAGE_FAILURE;
}

int keystore_unfinished(struct keystore *ks,
			void (*fn)(const struct key_id *id, enum key_state st,
				   const struct psa_attrs *a, const struct buf *ref,
				   void *arg), void *arg)
{
	static const char sql[] = "SELECT auth, app, provider, name, attributes, ref, state"
				  " FROM keys WHERE state != 1";
	pthread_mutex_lock(&ks->lock);
	sqlite3_stmt *st = store_prepare(ks->s, sql);
	int rc = SQLITE_ERROR;
	struct row { struct key_id id; char *app, *name; enum key_state st;
		     struct psa_attrs a; int attrs_ok; struct buf ref; } *rows = NULL;
	size_t n = 0;
	if (st) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			void *p = realloc(rows, (n + 1) * sizeof *rows);
			if (!p)
				break;
			rows = p;
			struct row *r = &rows[n];
			memset(r, 0, sizeof *r);
			r->app = strdup((const char *)sqlite3_column_text(st, 1));
			r->name = strdup((const char *)sqlite3_column_text(st, 3));
			r->id = (struct key_id){ (uint8_t)sqlite3_column_int(st, 0), r->app,
						 (uint8_t)sqlite3_column_int(st, 2), r->name };
			r->st = (enum key_state)sqlite3_column_int(st, 6);
			r->attrs_ok = unpack_attrs(sqlite3_column_blob(st, 4),
						   sqlite3_column_bytes(st, 4), &r->a) == 0;
			if (sqlite3_column_bytes(st, 5) > 0)
				buf_append(&r->ref, sqlite3_column_blob(st, 5),
					   (size_t)sqlite3_column_bytes(st, 5));
			n++;
		}
		sqlite3_reset(st);
	}
	pthread_mutex_unlock(&ks->lock);
	for (size_t i = 0; i < n; i++) {
		/* Attributes that do not unpack would send the provider
		 * zeroes: such a row is left for an operator to look at. */
		if (rows[i].app && rows[i].name && !rows[i].attrs_ok)
			log_warn("key store: key '%s' has unreadable attributes; "
				 "left as it is", rows[i].name);
		else if (rows[i].app && rows[i].name)
			fn(&rows[i].id, rows[i].st, &rows[i].a, &rows[i].ref, arg);
		free(rows[i].app);
		free(rows[i].name);
		buf_free(&rows[i].ref);
	}
	free(rows);
	return rc == SQLITE_DONE ? PSA_OK : PSA_ERR_STORAGE_FAILURE;
}
