/* store: SQLite, opened the one way every Assay daemon uses it.
 *
 * WAL journal with synchronous=FULL: a committed transaction survives a
 * crash or kill -9, and an uncommitted one leaves no trace. Writers use
 * store_begin/store_commit around every change that spans more than one
 * statement, so readers see the old record or the new one, never a mix. */
#ifndef ASSAY_STORE_STORE_H
#define ASSAY_STORE_STORE_H

#include <sqlite3.h>
#include <stddef.h>

struct store;

/* Opens (creating with mode 0600) the database at path and brings its schema
 * to the last version: migrations[i] takes user_version i to i+1, each in
 * its own transaction. */
struct store *store_open(const char *path, const char *const *migrations,
			 size_t n_migrations, char *err, size_t errlen);
void store_close(struct store *s);
sqlite3 *store_db(struct store *s);

/* BEGIN IMMEDIATE: takes the write lock up front so a transaction never
 * fails half-way on a lock upgrade. */
int store_begin(struct store *s);
int store_commit(struct store *s);
void store_rollback(struct store *s);

/* Prepares a statement, caching it by SQL text pointer: callers pass string
 * literals, so the pointer identifies the statement. The statement is reset
 * and its bindings cleared before it is handed out. */
sqlite3_stmt *store_prepare(struct store *s, const char *sql);
const char *store_error(struct store *s);

#endif
