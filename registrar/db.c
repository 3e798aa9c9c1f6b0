/* Agent records in SQLite. One row per agent; every change is one
 * transaction, so a crash leaves the old row or the new one. */
#include <string.h>

#include "registrar/registrar.h"

static const char *const schema[] = {
	/* version 1 */
	"CREATE TABLE agents ("
	" agent_id TEXT PRIMARY KEY,"
	" ek_tpm BLOB NOT NULL,"
	" ekcert BLOB,"
	" aik_tpm BLOB NOT NULL,"
	" mtls_cert TEXT,"
	" ip TEXT,"
	" port INTEGER,"
	" active INTEGER NOT NULL DEFAULT 0,"
	" auth_tag TEXT,"
	" regcount INTEGER NOT NULL DEFAULT 0,"
	" updated_at INTEGER NOT NULL DEFAULT (strftime('%s','now')))",
};

struct store *registrar_db_open(const char *path, char *err, size_t errlen)
{
	return store_open(path, schema, sizeof schema / sizeof *schema, err,
			  errlen);
}

void agent_record_free(struct agent_record *a)
{
	buf_free(&a->ek_tpm);
	buf_free(&a->ekcert);
	buf_free(&a->aik_tpm);
	buf_free(&a->mtls_cert);
	memset(a->auth_tag, 0, sizeof a->auth_tag);
}

static int column_blob(sqlite3_stmt *st, int i, struct buf *out)
{
	const void *p = sqlite3_column_blob(st, i);
	int n = sqlite3_column_bytes(st, i);
	return n > 0 ? buf_append(out, p, (size_t)n) : 0;
}

static void column_text(sqlite3_stmt *st, int i, char *out, size_t n)
{
	const unsigned char *p = sqlite3_column_text(st, i);
	snprintf(out, n, "%s", p ? (const char *)p : "");
}

int registrar_db_get(struct store *s, const char *agent_id,
		     struct agent_record *out)
{
	static const char sql[] =
		"SELECT ek_tpm, ekcert, aik_tpm, mtls_cert, ip, port, active,"
		" auth_tag, regcount FROM agents WHERE agent_id = ?";
	sqlite3_stmt *st = store_prepare(s, sql);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, agent_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return 1;
	}
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return -1;
	}
	memset(out, 0, sizeof *out);
	snprintf(out->agent_id, sizeof out->agent_id, "%s", agent_id);
	int r = column_blob(st, 0, &out->ek_tpm) | column_blob(st, 1, &out->ekcert) |
		column_blob(st, 2, &out->aik_tpm) | column_blob(st, 3, &out->mtls_cert);
	column_text(st, 4, out->ip, sizeof out->ip);
	out->port = sqlite3_column_int(st, 5);
	out->active = sqlite3_column_int(st, 6);
	column_text(st, 7, out->auth_tag, sizeof out->auth_tag);
	out->regcount = sqlite3_column_int(st, 8);
	sqlite3_reset(st);
	if (r < 0) {
		agent_record_free(out);
		return -1;
	}
	return 0;
}

static void bind_blob(sqlite3_stmt *st, int i, const struct buf *b)
{
	if (b->len)
		sqlite3_bind_blob(st, i, b->data, (int)b->len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

int registrar_db_put(struct store *s, const struct agent_record *a)
{
	static const char sql[] =
		"INSERT OR REPLACE INTO agents (agent_id, ek_tpm, ekcert, aik_tpm,"
		" mtls_cert, ip, port, active, auth_tag, regcount, updated_at)"
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, strftime('%s','now'))";
	sqlite3_stmt *st = store_prepare(s, sql);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, a->agent_id, -1, SQLITE_STATIC);
	bind_blob(st, 2, &a->ek_tpm);
	bind_blob(st, 3, &a->ekcert);
	bind_blob(st, 4, &a->aik_tpm);
	if (a->mtls_cert.len)
		sqlite3_bind_text(st, 5, (const char *)a->mtls_cert.data,
				  (int)a->mtls_cert.len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 5);
	sqlite3_bind_text(st, 6, a->ip, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 7, a->port);
	sqlite3_bind_int(st, 8, a->active);
	if (a->auth_tag[0])
		sqlite3_bind_text(st, 9, a->auth_tag, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 9);
	sqlite3_bind_int(st, 10, a->regcount);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Runs a one-row statement keyed by agent id: 0 done, 1 no such agent. */
static int for_agent(struct store *s, const char *sql, const char *agent_id)
{
	sqlite3_stmt *st = store_prepare(s, sql);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, agent_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return -1;
	return sqlite3_changes(store_db(s)) ? 0 : 1;
}

int registrar_db_activate(struct store *s, const char *agent_id)
{
	static const char sql[] =
		"UPDATE agents SET active = 1,"
		" updated_at = strftime('%s','now') WHERE agent_id = ?";
	return for_agent(s, sql, agent_id);
}

int registrar_db_delete(struct store *s, const char *agent_id)
{
	static const char sql[] = "DELETE FROM agents WHERE agent_id = ?";
	return for_agent(s, sql, agent_id);
}

int registrar_db_list(struct store *s, json_t *ids)
{
	static const char sql[] = "SELECT agent_id FROM agents ORDER BY agent_id";
	sqlite3_stmt *st = store_prepare(s, sql);
	if (!st)
		return -1;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(ids, json_string(
			(const char *)sqlite3_column_text(st, 0)));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}
