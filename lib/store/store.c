#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

#define STORE_CACHE 32

struct store {
	sqlite3 *db;
	struct {
		const char *sql;
		sqlite3_stmt *stmt;
	} cache[STORE_CACHE];
};

static int exec(struct store *s, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_error("store: %s: %s", sql, msg ? msg : "?");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int user_version(struct store *s)
{
	sqlite3_stmt *st;
	int v = -1;
	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int migrate(struct store *s, const char *const *migrations, size_t n,
		   char *err, size_t errlen)
{
	int v = user_version(s);
	if (v < 0 || (size_t)v > n) {
		snprintf(err, errlen, "database schema version %d is newer than "
			 "this program (%zu)", v, n);
		return -1;
	}
	for (size_t i = (size_t)v; i < n; i++) {
		char pragma[64];
		snprintf(pragma, sizeof pragma, "PRAGMA user_version=%zu", i + 1);
		if (store_begin(s) < 0 || exec(s, migrations[i]) < 0 ||
		    exec(s, pragma) < 0 || store_commit(s) < 0) {
			store_rollback(s);
			snprintf(err, errlen, "schema migration %zu failed: %s",
				 i + 1, sqlite3_errmsg(s->db));
			return -1;
		}
	}
	return 0;
}

struct store *store_open(const char *path, const char *const *migrations,
			 size_t n_migrations, char *err, size_t errlen)
{
	/* Create the file ourselves so it is 0600 from the first byte. */
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	close(fd);
	struct store *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
			    SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
			 s->db ? sqlite3_errmsg(s->db) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 5000);
	if (exec(s, "PRAGMA journal_mode=WAL") < 0 ||
	    exec(s, "PRAGMA synchronous=FULL") < 0 ||
	    exec(s, "PRAGMA foreign_keys=ON") < 0 ||
	    exec(s, "PRAGMA secure_delete=ON") < 0) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(s->db));
		goto fail;
	}
	if (migrate(s, migrations, n_migrations, err, errlen) < 0)
		goto fail;
	return s;
fail:
	store_close(s);
	return NULL;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	for (int i = 0; i < STORE_CACHE; i++)
		sqlite3_finalize(s->cache[i].stmt);
	sqlite3_close(s->db);
	free(s);
}

sqlite3 *store_db(struct store *s)
{
	return s->db;
}

int store_begin(struct store *s)
{
	return exec(s, "BEGIN IMMEDIATE");
}

int store_commit(struct store *s)
{
	return exec(s, "COMMIT");
}

void store_rollback(struct store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		exec(s, "ROLLBACK");
}

sqlite3_stmt *store_prepare(struct store *s, const char *sql)
{
	int slot = -1;
	for (int i = 0; i < STORE_CACHE; i++) {
		if (s->cache[i].sql == sql) {
			sqlite3_reset(s->cache[i].stmt);
			sqlite3_clear_bindings(s->cache[i].stmt);
			return s->cache[i].stmt;
		}
		if (slot < 0 && !s->cache[i].sql)
			slot = i;
	}
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_error("store: prepare: %s", sqlite3_errmsg(s->db));
		return NULL;
	}
	if (slot < 0) {
		/* Full: callers use a fixed set of statements, so this is a
		 * programming error; recycle slot 0 rather than leak. */
		slot = 0;
		sqlite3_finalize(s->cache[0].stmt);
	}
	s->cache[slot].sql = sql;
	s->cache[slot].stmt = st;
	return st;
}

const char *store_error(struct store *s)
{
	return sqlite3_errmsg(s->db);
}
