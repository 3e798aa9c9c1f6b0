/* Verifier storage in SQLite: one verifier, every agent its own. The file
 * holds V and revocation keys: it is created 0600 (lib/store). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/error.h"
#include "verifier/verifier.h"

static const char *const schema[] = {
	"CREATE TABLE agents ("
	" agent_id TEXT PRIMARY KEY,"
	" enrolment TEXT NOT NULL,"
	" state INTEGER NOT NULL,"
	" attestation_count INTEGER NOT NULL DEFAULT 0,"
	" last_received_quote INTEGER NOT NULL DEFAULT 0,"
	" last_successful_attestation INTEGER NOT NULL DEFAULT 0,"
	" hash_alg TEXT, enc_alg TEXT, sign_alg TEXT,"
	" nk_pem TEXT,"
	" tpm_clock INTEGER NOT NULL DEFAULT 0,"
	" tpm_reset INTEGER NOT NULL DEFAULT 0,"
	" tpm_restart INTEGER NOT NULL DEFAULT 0,"
	" severity INTEGER,"
	" last_event_id TEXT,"
	" reason TEXT,"
	" runtime_policy_name TEXT,"
	" mb_policy_name TEXT);"
	"CREATE TABLE runtime_policies (name TEXT PRIMARY KEY, policy TEXT NOT NULL);"
	"CREATE TABLE mb_policies (name TEXT PRIMARY KEY, policy TEXT);",
	/* version 2: IMA progress, so a restart does not refetch whole logs */
	"ALTER TABLE agents ADD COLUMN ima_next_entry INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE agents ADD COLUMN ima_boottime INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE agents ADD COLUMN ima_lag INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE agents ADD COLUMN ima_bank INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE agents ADD COLUMN ima_pcr10 TEXT;",
};

struct sqlite_db {
	struct verifier_db base;
	struct store *s;
};

static struct store *S(struct verifier_db *db)
{
	return ((struct sqlite_db *)db)->s;
}

static int done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s && *s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static int add(struct verifier_db *db, const char *id, const char *enrolment,
	       int state, const char *rp_name, const char *mb_name)
{
	static const char sql[] =
		"INSERT OR IGNORE INTO agents (agent_id, enrolment, state,"
		" runtime_policy_name, mb_policy_name) VALUES (?, ?, ?, ?, ?)";
	sqlite3_stmt *st = store_prepare(S(db), sql);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, enrolment, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, state);
	bind_text(st, 4, rp_name);
	bind_text(st, 5, mb_name);
	if (done(st) < 0)
		return -1;
	return sqlite3_changes(store_db(S(db))) ? 0 : 1;
}

/* The numbers go in as text: the columns' INTEGER affinity stores them as
 * integers. */
static int save_states(struct verifier_db *db, struct agent *list)
{
	static const char sql[] =
		"UPDATE agents SET state = ?, attestation_count = ?,"
		" last_received_quote = ?, last_successful_attestation = ?,"
		" hash_alg = ?, enc_alg = ?, sign_alg = ?, nk_pem = ?, tpm_clock = ?,"
		" tpm_reset = ?, tpm_restart = ?, severity = ?, last_event_id = ?,"
		" reason = ?, ima_next_entry = ?, ima_boottime = ?, ima_lag = ?,"
		" ima_bank = ?, ima_pcr10 = ? WHERE agent_id = ?";
	struct store *s = S(db);
	if (store_begin(s) < 0)
		return -1;
	for (struct agent *a = list; a; a = a->next_dirty) {
		struct verifier_db_state v;
		sqlite3_stmt *st = store_prepare(s, sql);
		if (!st)
			goto fail;
		verifier_db_state_values(a, &v);
		for (int i = 0; i < VERIFIER_DB_STATE_COLUMNS; i++)
			bind_text(st, i + 1, v.values[i]);
		sqlite3_bind_text(st, VERIFIER_DB_STATE_COLUMNS + 1, a->id, -1, SQLITE_STATIC);
		if (done(st) < 0)
			goto fail;
		a->lost = sqlite3_changes(store_db(s)) == 0;
	}
	if (store_commit(s) == 0)
		return 0;
fail:
	store_rollback(s);
	return -1;
}

static int delete_agent(struct verifier_db *db, const char *id)
{
	static const char sql[] = "DELETE FROM agents WHERE agent_id = ?";
	sqlite3_stmt *st = store_prepare(S(db), sql);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (done(st) < 0)
		return -1;
	return sqlite3_changes(store_db(S(db))) ? 0 : 1;
}

#define ROW_COLUMNS VERIFIER_DB_ROW_COLUMNS

/* Steps st and hands each row to fn as JSON. Returns 1 when there was no
 * row, else fn's last result or -1. */
static int rows(sqlite3_stmt *st, verifier_db_row_fn fn, void *arg)
{
	int rc, r = 0, any = 0;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *row = json_object();
		any = 1;
		for (int i = 0; i < sqlite3_column_count(st); i++) {
			const char *name = sqlite3_column_name(st, i);
			switch (sqlite3_column_type(st, i)) {
			case SQLITE_INTEGER:
				json_object_set_new(row, name, json_integer(
					sqlite3_column_int64(st, i)));
				break;
			case SQLITE_TEXT:
				json_object_set_new(row, name, json_string(
					(const char *)sqlite3_column_text(st, i)));
				break;
			default:
				break;
			}
		}
		r = fn(row, arg);
		json_decref(row);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = -1;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r == 0 && !any ? 1 : r;
}

static int each_agent(struct verifier_db *db, const char *owner, verifier_db_row_fn fn,
		      void *arg)
{
	static const char sql[] = "SELECT " ROW_COLUMNS " FROM agents ORDER BY agent_id";
	sqlite3_stmt *st = store_prepare(S(db), sql);
	if (!st)
		return -1;
	int r = rows(st, fn, arg);
	return r == 1 ? 0 : r;
}

static int get_agent(struct verifier_db *db, const char *id, verifier_db_row_fn fn,
		     void *arg)
{
	static const char sql[] = "SELECT " ROW_COLUMNS " FROM agents WHERE agent_id = ?";
	sqlite3_stmt *st = store_prepare(S(db), sql);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	return rows(st, fn, arg);
}

/* The shared SQL names its parameters $1 and $2. */
static void bind_param(sqlite3_stmt *st, const char *name, const char *value)
{
	bind_text(st, sqlite3_bind_parameter_index(st, name), value);
}

static sqlite3_stmt *policy_stmt(struct verifier_db *db, const char *table,
				 enum policy_op op, const char *name, const char *text)
{
	sqlite3_stmt *st = store_prepare(S(db), verifier_db_policy_sql(table, op));
	if (st && op != POLICY_LIST)
		bind_param(st, "$1", name);
	if (st && (op == POLICY_INSERT || op == POLICY_UPDATE))
		bind_param(st, "$2", text);
	return st;
}

static int policy_get(struct verifier_db *db, const char *table, const char *name,
		      char **text)
{
	sqlite3_stmt *st = policy_stmt(db, table, POLICY_GET, name, NULL);
	if (!st)
		return -1;
	int rc = sqlite3_step(st), r = 1;
	if (rc == SQLITE_ROW) {
		const unsigned char *p = sqlite3_column_text(st, 0);
		*text = p ? strdup((const char *)p) : NULL;
		r = 0;
	} else if (rc != SQLITE_DONE) {
		r = -1;
	}
	sqlite3_reset(st);
	return r;
}

static int policy_put(struct verifier_db *db, const char *table, const char *name,
		      const char *text, int replace)
{
	sqlite3_stmt *st = policy_stmt(db, table, replace ? POLICY_UPDATE : POLICY_INSERT,
				       name, text);
	if (!st || done(st) < 0)
		return -1;
	return sqlite3_changes(store_db(S(db))) ? 0 : 1;
}

static int policy_delete(struct verifier_db *db, const char *table, const char *name)
{
	sqlite3_stmt *st = policy_stmt(db, table, POLICY_DELETE, name, NULL);
	if (!st || done(st) < 0)
		return -1;
	return sqlite3_changes(store_db(S(db))) ? 0 : 1;
}

static int policy_list(struct verifier_db *db, const char *table, json_t *names)
{
	sqlite3_stmt *st = policy_stmt(db, table, POLICY_LIST, NULL, NULL);
	int rc;
	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(names, json_string(
			(const char *)sqlite3_column_text(st, 0)));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int policy_user(struct verifier_db *db, const char *column, const char *name,
		       char *agent_id, size_t n)
{
	sqlite3_stmt *st = store_prepare(S(db), verifier_db_policy_user_sql(column));
	if (!st)
		return -1;
	bind_param(st, "$1", name);
	int rc = sqlite3_step(st), r = 1;
	if (rc == SQLITE_ROW) {
		snprintf(agent_id, n, "%s", (const char *)sqlite3_column_text(st, 0));
		r = 0;
	} else if (rc != SQLITE_DONE) {
		r = -1;
	}
	sqlite3_reset(st);
	return r;
}

static const char *error(struct verifier_db *db)
{
	return store_error(S(db));
}

static void close_db(struct verifier_db *db)
{
	store_close(S(db));
	free(db);
}

static const struct verifier_db_ops ops = {
	.add = add, .save_states = save_states, .delete_agent = delete_agent,
	.each_agent = each_agent, .get_agent = get_agent,
	.policy_get = policy_get, .policy_put = policy_put,
	.policy_delete = policy_delete, .policy_list = policy_list,
	.policy_user = policy_user, .error = error, .close = close_db,
};

struct verifier_db *verifier_db_sqlite_open(const char *path, char *err, size_t errlen)
{
	struct sqlite_db *db = calloc(1, sizeof *db);
	if (!db) {
		error_set(err, errlen, "out of memory");
		return NULL;
	}
	db->base.ops = &ops;
	db->s = store_open(path, schema, sizeof schema / sizeof *schema, err, errlen);
	if (!db->s) {
		free(db);
		return NULL;
	}
	return &db->base;
}
