/* Verifier storage: the backend is chosen at open; what both share. */
#include "verifier/db.h"

#include <stdio.h>
#include <string.h>

#include "verifier/verifier.h"

_Static_assert(2 * IMA_DIGEST_MAX + 1 <= sizeof(((struct verifier_db_state *)0)->pcr10),
	       "pcr10 text fits");

struct verifier_db *verifier_db_open(const char *path, const char *url,
				     const char *verifier_id, char *err, size_t errlen)
{
	if (url && *url)
		return verifier_db_pg_open(url, verifier_id, err, errlen);
	return verifier_db_sqlite_open(path, err, errlen);
}

void verifier_db_close(struct verifier_db *db)
{
	if (db)
		db->ops->close(db);
}

int verifier_db_shared(const struct verifier_db *db)
{
	return db->ops->join != NULL;
}

const char *verifier_db_error(struct verifier_db *db)
{
	return db->ops->error(db);
}

const char *const verifier_db_state_names[VERIFIER_DB_STATE_COLUMNS] = {
	"state", "attestation_count", "last_received_quote",
	"last_successful_attestation", "hash_alg", "enc_alg", "sign_alg", "nk_pem",
	"tpm_clock", "tpm_reset", "tpm_restart", "severity", "last_event_id", "reason",
	"ima_next_entry", "ima_boottime", "ima_lag", "ima_bank", "ima_pcr10",
};

static const char *text_or_null(const char *s)
{
	return s && *s ? s : NULL;
}

void verifier_db_state_values(const struct agent *a, struct verifier_db_state *s)
{
	const long long nums[12] = {
		a->state, a->attestation_count, a->last_received_quote, a->last_successful,
		(long long)a->tpm_clock, a->tpm_reset, a->tpm_restart, a->severity,
		(long long)a->ima.next_entry, (long long)a->ima.boottime,
		(long long)a->ima.lag, a->ima.bank,
	};
	/* Where each number goes among the columns. */
	static const int at[12] = { 0, 1, 2, 3, 8, 9, 10, 11, 14, 15, 16, 17 };
	for (int i = 0; i < 12; i++) {
		snprintf(s->text[i], sizeof s->text[i], "%lld", nums[i]);
		s->values[at[i]] = s->text[i];
	}
	if (a->severity < 0)
		s->values[11] = NULL;
	s->values[4] = text_or_null(a->hash_alg);
	s->values[5] = text_or_null(a->enc_alg);
	s->values[6] = text_or_null(a->sign_alg);
	s->values[7] = text_or_null(a->nk_pem);
	s->values[12] = text_or_null(a->last_event_id);
	s->values[13] = text_or_null(a->reason);
	for (int i = 0; i < IMA_DIGEST_MAX; i++)
		snprintf(s->pcr10 + 2 * i, 3, "%02x", a->ima.pcr10[i]);
	s->values[18] = s->pcr10;
}

int verifier_db_policy_table(const char *table)
{
	if (strcmp(table, "runtime_policies") == 0)
		return 0;
	if (strcmp(table, "mb_policies") == 0)
		return 1;
	return -1;
}

/* SQL both backends speak ($N parameters, ON CONFLICT). The table names
 * are chosen here, never built from input. */
const char *verifier_db_policy_sql(const char *table, enum policy_op op)
{
	static const char *const sql[2][5] = {
		{ "SELECT policy FROM runtime_policies WHERE name = $1",
		  "INSERT INTO runtime_policies (name, policy) VALUES ($1, $2)"
		  " ON CONFLICT (name) DO NOTHING",
		  "UPDATE runtime_policies SET policy = $2 WHERE name = $1",
		  "DELETE FROM runtime_policies WHERE name = $1",
		  "SELECT name FROM runtime_policies ORDER BY name" },
		{ "SELECT policy FROM mb_policies WHERE name = $1",
		  "INSERT INTO mb_policies (name, policy) VALUES ($1, $2)"
		  " ON CONFLICT (name) DO NOTHING",
		  "UPDATE mb_policies SET policy = $2 WHERE name = $1",
		  "DELETE FROM mb_policies WHERE name = $1",
		  "SELECT name FROM mb_policies ORDER BY name" },
	};
	return sql[verifier_db_policy_table(table)][op];
}

const char *verifier_db_policy_user_sql(const char *column)
{
	return strcmp(column, "runtime_policy_name") == 0
		? "SELECT agent_id FROM agents WHERE runtime_policy_name = $1 LIMIT 1"
		: "SELECT agent_id FROM agents WHERE mb_policy_name = $1 LIMIT 1";
}

/* Dispatch. */
int verifier_db_add(struct verifier_db *db, const char *id, const char *enrolment,
		    int state, const char *rp_name, const char *mb_name)
{
	return db->ops->add(db, id, enrolment, state, rp_name, mb_name);
}

int verifier_db_save_states(struct verifier_db *db, struct agent *list)
{
	return db->ops->save_states(db, list);
}

int verifier_db_delete_agent(struct verifier_db *db, const char *id)
{
	return db->ops->delete_agent(db, id);
}

int verifier_db_each_agent(struct verifier_db *db, const char *owner,
			   verifier_db_row_fn fn, void *arg)
{
	return db->ops->each_agent(db, owner, fn, arg);
}

int verifier_db_get_agent(struct verifier_db *db, const char *id,
			  verifier_db_row_fn fn, void *arg)
{
	return db->ops->get_agent(db, id, fn, arg);
}

int verifier_db_policy_get(struct verifier_db *db, const char *table,
			   const char *name, char **text)
{
	*text = NULL;
	return verifier_db_policy_table(table) < 0 ? -1
		: db->ops->policy_get(db, table, name, text);
}

int verifier_db_policy_put(struct verifier_db *db, const char *table,
			   const char *name, const char *text, int replace)
{
	return verifier_db_policy_table(table) < 0 ? -1
		: db->ops->policy_put(db, table, name, text, replace);
}

int verifier_db_policy_delete(struct verifier_db *db, const char *table,
			      const char *name)
{
	return verifier_db_policy_table(table) < 0 ? -1
		: db->ops->policy_delete(db, table, name);
}

int verifier_db_policy_list(struct verifier_db *db, const char *table, json_t *names)
{
	return verifier_db_policy_table(table) < 0 ? -1
		: db->ops->policy_list(db, table, names);
}

int verifier_db_policy_user(struct verifier_db *db, const char *column,
			    const char *name, char *agent_id, size_t n)
{
	return db->ops->policy_user(db, column, name, agent_id, n);
}

/* Shared mode: absent in SQLite mode, where nothing calls these. */
#define SHARED(call) (db->ops->join ? db->ops->call : -1)

int verifier_db_join(struct verifier_db *db, long lease_ms, const char *ip, int port)
{
	return SHARED(join(db, lease_ms, ip, port));
}

int verifier_db_renew(struct verifier_db *db, long lease_ms)
{
	return SHARED(renew(db, lease_ms));
}

int verifier_db_counts(struct verifier_db *db, long *verifiers, long *agents, long *mine)
{
	return SHARED(counts(db, verifiers, agents, mine));
}

int verifier_db_claim(struct verifier_db *db, long max, verifier_db_row_fn fn, void *arg)
{
	return SHARED(claim(db, max, fn, arg));
}

int verifier_db_take(struct verifier_db *db, const char *id, verifier_db_row_fn fn,
		     void *arg)
{
	return SHARED(take(db, id, fn, arg));
}

int verifier_db_release(struct verifier_db *db, const char *id)
{
	return SHARED(release(db, id));
}

int verifier_db_owned(struct verifier_db *db, json_t *ids)
{
	return SHARED(owned(db, ids));
}

int verifier_db_leave(struct verifier_db *db)
{
	return SHARED(leave(db));
}
