/* Verifier storage in SQLite. An agent row holds the enrolment exactly as
 * the tenant sent it (JSON) beside the attestation state, so a restart
 * rebuilds each record with the same code that handled the POST. The file
 * holds V and revocation keys: it is created 0600 (lib/store). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

struct store *verifier_db_open(const char *path, char *err, size_t errlen)
{
	return store_open(path, schema, sizeof schema / sizeof *schema, err, errlen);
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

int verifier_db_add(struct store *s, const char *id, const char *enrolment,
		    int state, const char *rp_name, const char *mb_name)
{
	static const char sql[] =
		"INSERT OR IGNORE INTO agents (agent_id, enrolment, state,"
		" runtime_policy_name, mb_policy_name) VALUES (?, ?, ?, ?, ?)";
	sqlite3_stmt *st = store_prepare(s, sql);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, enrolment, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, state);
	bind_text(st, 4, rp_name);
	bind_text(st, 5, mb_name);
	if (done(st) < 0)
		return -1;
	return sqlite3_changes(store_db(s)) ? 0 : 1;
}

int verifier_db_save_state(struct store *s, const struct agent *a)
{
	static const char sql[] =
		"UPDATE agents SET state = ?, attestation_count = ?,"
		" last_received_quote = ?, last_successful_attestation = ?,"
		" hash_alg = ?, enc_alg = ?, sign_alg = ?, nk_pem = ?, tpm_clock = ?,"
		" tpm_reset = ?, tpm_restart = ?, severity = ?, last_event_id = ?,"
		" reason = ?, ima_next_entry = ?, ima_boottime = ?, ima_lag = ?,"
		" ima_bank = ?, ima_pcr10 = ? WHERE agent_id = ?";
	char pcr10[2 * IMA_DIGEST_MAX + 1];
	sqlite3_stmt *st = store_prepare(s, sql);
	if (!st)
		return -1;
	sqlite3_bind_int(st, 1, a->state);
	sqlite3_bind_int64(st, 2, a->attestation_count);
	sqlite3_bind_int64(st, 3, a->last_received_quote);
	sqlite3_bind_int64(st, 4, a->last_successful);
	bind_text(st, 5, a->hash_alg);
	bind_text(st, 6, a->enc_alg);
	bind_text(st, 7, a->sign_alg);
	bind_text(st, 8, a->nk_pem);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)a->tpm_clock);
	sqlite3_bind_int64(st, 10, a->tpm_reset);
	sqlite3_bind_int64(st, 11, a->tpm_restart);
	if (a->severity >= 0)
		sqlite3_bind_int(st, 12, a->severity);
	else
		sqlite3_bind_null(st, 12);
	bind_text(st, 13, a->last_event_id);
	bind_text(st, 14, a->reason);
	sqlite3_bind_int64(st, 15, (sqlite3_int64)a->ima.next_entry);
	sqlite3_bind_int64(st, 16, (sqlite3_int64)a->ima.boottime);
	sqlite3_bind_int64(st, 17, (sqlite3_int64)a->ima.lag);
	sqlite3_bind_int(st, 18, a->ima.bank);
	for (int i = 0; i < IMA_DIGEST_MAX; i++)
		snprintf(pcr10 + 2 * i, 3, "%02x", a->ima.pcr10[i]);
	sqlite3_bind_text(st, 19, pcr10, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 20, a->id, -1, SQLITE_STATIC);
	return done(st);
}

int verifier_db_delete_agent(struct store *s, const char *id)
{
	static const char sql[] = "DELETE FROM agents WHERE agent_id = ?";
	sqlite3_stmt *st = store_prepare(s, sql);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (done(st) < 0)
		return -1;
	return sqlite3_changes(store_db(s)) ? 0 : 1;
}

int verifier_db_each_agent(struct store *s, int (*fn)(json_t *row, void *arg),
			   void *arg)
{
	static const char sql[] =
		"SELECT agent_id, enrolment, state, attestation_count,"
		" last_received_quote, last_successful_attestation, hash_alg, enc_alg,"
		" sign_alg, nk_pem, tpm_clock, tpm_reset, tpm_restart, severity,"
		" last_event_id, reason, ima_next_entry, ima_boottime, ima_lag, ima_bank,"
		" ima_pcr10 FROM agents ORDER BY agent_id";
	sqlite3_stmt *st = store_prepare(s, sql);
	int rc, r = 0;
	if (!st)
		return -1;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *row = json_object();
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
	sqlite3_reset(st);
	return r;
}

/* The policy tables are fixed names, never from input: the SQL strings
 * are chosen, not built. */
static const char *policy_sql(const char *table, int op)
{
	static const char *const rp[] = {
		"SELECT policy FROM runtime_policies WHERE name = ?",
		"INSERT INTO runtime_policies (name, policy) VALUES (?, ?)",
		"UPDATE runtime_policies SET policy = ? WHERE name = ?",
		"DELETE FROM runtime_policies WHERE name = ?",
		"SELECT name FROM runtime_policies ORDER BY name",
	};
	static const char *const mb[] = {
		"SELECT policy FROM mb_policies WHERE name = ?",
		"INSERT INTO mb_policies (name, policy) VALUES (?, ?)",
		"UPDATE mb_policies SET policy = ? WHERE name = ?",
		"DELETE FROM mb_policies WHERE name = ?",
		"SELECT name FROM mb_policies ORDER BY name",
	};
	return strcmp(table, "runtime_policies") == 0 ? rp[op] : mb[op];
}

int verifier_db_policy_get(struct store *s, const char *table, const char *name,
			   char **text)
{
	sqlite3_stmt *st = store_prepare(s, policy_sql(table, 0));
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st), r = 1;
	*text = NULL;
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

int verifier_db_policy_put(struct store *s, const char *table, const char *name,
			   const char *text, int replace)
{
	sqlite3_stmt *st = store_prepare(s, policy_sql(table, replace ? 2 : 1));
	if (!st)
		return -1;
	if (replace) {
		bind_text(st, 1, text);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	} else {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		bind_text(st, 2, text);
	}
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_CONSTRAINT)
		return 1;	/* exists */
	if (rc != SQLITE_DONE)
		return -1;
	return sqlite3_changes(store_db(s)) ? 0 : 1;
}

int verifier_db_policy_delete(struct store *s, const char *table, const char *name)
{
	sqlite3_stmt *st = store_prepare(s, policy_sql(table, 3));
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (done(st) < 0)
		return -1;
	return sqlite3_changes(store_db(s)) ? 0 : 1;
}

int verifier_db_policy_list(struct store *s, const char *table, json_t *names)
{
	sqlite3_stmt *st = store_prepare(s, policy_sql(table, 4));
	int rc;
	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(names, json_string(
			(const char *)sqlite3_column_text(st, 0)));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int verifier_db_policy_user(struct store *s, const char *column, const char *name,
			    char *agent_id, size_t n)
{
	static const char rp[] =
		"SELECT agent_id FROM agents WHERE runtime_policy_name = ? LIMIT 1";
	static const char mb[] =
		"SELECT agent_id FROM agents WHERE mb_policy_name = ? LIMIT 1";
	sqlite3_stmt *st = store_prepare(s, strcmp(column, "runtime_policy_name") == 0
					 ? rp : mb);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
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
