/* Verifier storage in PostgreSQL: several verifiers share one fleet.
 *
 * Each verifier holds a lease (a row in verifiers, renewed by lease.c) and
 * each agent row names its owner. An agent whose owner's lease ran out is
 * free to claim; claims lock rows with SKIP LOCKED so two verifiers never
 * claim the same agent. Times are the database server's, so the
 * verifiers' clocks need not agree. State writes name the owner in their
 * WHERE clause: a verifier that lost an agent cannot overwrite the state
 * its new owner writes. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "store/pg.h"
#include "util/encode.h"
#include "util/error.h"
#include "util/log.h"
#include "verifier/verifier.h"

static const char *const schema[] = {
	"CREATE TABLE verifiers ("
	" verifier_id TEXT PRIMARY KEY,"
	" instance TEXT NOT NULL,"	/* the process holding the lease */
	" ip TEXT, port INTEGER,"
	" lease_until TIMESTAMPTZ NOT NULL);"
	"CREATE TABLE agents ("
	" agent_id TEXT PRIMARY KEY,"
	" enrolment TEXT NOT NULL,"
	" state INTEGER NOT NULL,"
	" attestation_count BIGINT NOT NULL DEFAULT 0,"
	" last_received_quote BIGINT NOT NULL DEFAULT 0,"
	" last_successful_attestation BIGINT NOT NULL DEFAULT 0,"
	" hash_alg TEXT, enc_alg TEXT, sign_alg TEXT,"
	" nk_pem TEXT,"
	" tpm_clock BIGINT NOT NULL DEFAULT 0,"
	" tpm_reset BIGINT NOT NULL DEFAULT 0,"
	" tpm_restart BIGINT NOT NULL DEFAULT 0,"
	" severity INTEGER,"
	" last_event_id TEXT,"
	" reason TEXT,"
	" runtime_policy_name TEXT,"
	" mb_policy_name TEXT,"
	" ima_next_entry BIGINT NOT NULL DEFAULT 0,"
	" ima_boottime BIGINT NOT NULL DEFAULT 0,"
	" ima_lag BIGINT NOT NULL DEFAULT 0,"
	" ima_bank INTEGER NOT NULL DEFAULT 0,"
	" ima_pcr10 TEXT,"
	" owner TEXT);"
	"CREATE INDEX agents_owner ON agents (owner);"
	"CREATE TABLE runtime_policies (name TEXT PRIMARY KEY, policy TEXT NOT NULL);"
	"CREATE TABLE mb_policies (name TEXT PRIMARY KEY, policy TEXT);",
};

struct pg_db {
	struct verifier_db base;
	struct pg *pg;
	char id[64];
	char instance[33];	/* random: tells two processes of one id apart */
};

static struct pg_db *P(struct verifier_db *db)
{
	return (struct pg_db *)db;
}

static struct pg *C(struct verifier_db *db)
{
	struct pg_db *p = P(db);
	pg_ensure(p->pg);
	return p->pg;
}

static int add(struct verifier_db *db, const char *id, const char *enrolment,
	       int state, const char *rp_name, const char *mb_name)
{
	char st[16];
	snprintf(st, sizeof st, "%d", state);
	const char *params[] = { id, enrolment, st, rp_name, mb_name, P(db)->id };
	long n = pg_exec_count(C(db),
		"INSERT INTO agents (agent_id, enrolment, state, runtime_policy_name,"
		" mb_policy_name, owner) VALUES ($1, $2, $3, $4, $5, $6)"
		" ON CONFLICT (agent_id) DO NOTHING", 6, params);
	return n < 0 ? -1 : n == 0 ? 1 : 0;
}

/* One round trip for the whole batch: the updates go out in a pipeline
 * and run as one implicit transaction (up to the sync). */
static int save_states(struct verifier_db *db, struct agent *list)
{
	static const char sql[] =
		"UPDATE agents SET state = $1, attestation_count = $2,"
		" last_received_quote = $3, last_successful_attestation = $4,"
		" hash_alg = $5, enc_alg = $6, sign_alg = $7, nk_pem = $8, tpm_clock = $9,"
		" tpm_reset = $10, tpm_restart = $11, severity = $12, last_event_id = $13,"
		" reason = $14, ima_next_entry = $15, ima_boottime = $16, ima_lag = $17,"
		" ima_bank = $18, ima_pcr10 = $19 WHERE agent_id = $20 AND owner = $21";
	struct pg *pg = C(db);
	PGconn *c = pg_conn(pg);
	int r = 0;
	if (!PQenterPipelineMode(c))
		return -1;
	for (struct agent *a = list; a; a = a->next_dirty) {
		struct verifier_db_state v;
		const char *params[VERIFIER_DB_STATE_COLUMNS + 2];
		verifier_db_state_values(a, &v);
		memcpy(params, v.values, sizeof v.values);
		params[VERIFIER_DB_STATE_COLUMNS] = a->id;
		params[VERIFIER_DB_STATE_COLUMNS + 1] = P(db)->id;
		if (!PQsendQueryParams(c, sql, VERIFIER_DB_STATE_COLUMNS + 2, NULL, params,
				       NULL, NULL, 0)) {
			r = -1;
			break;
		}
	}
	if (!PQpipelineSync(c))
		r = -1;
	/* Every query's result, then the sync's. */
	for (struct agent *a = list; a && r == 0; a = a->next_dirty) {
		PGresult *res = PQgetResult(c);
		if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
			log_error("database: storing agent states: %s", res
				  ? PQresultErrorMessage(res) : PQerrorMessage(c));
			r = -1;
		} else {
			a->lost = strcmp(PQcmdTuples(res), "0") == 0;
		}
		PQclear(res);
		PQclear(PQgetResult(c));	/* the NULL ending this query */
	}
	/* Drain up to the sync, whatever happened. */
	for (int i = 0; i < 1 << 20; i++) {
		PGresult *res = PQgetResult(c);
		if (!res) {
			if (PQstatus(c) != CONNECTION_OK)
				break;
			continue;
		}
		int sync = PQresultStatus(res) == PGRES_PIPELINE_SYNC;
		PQclear(res);
		if (sync)
			break;
	}
	PQexitPipelineMode(c);
	if (r < 0)
		for (struct agent *a = list; a; a = a->next_dirty)
			a->lost = 0;
	return r;
}

static int delete_agent(struct verifier_db *db, const char *id)
{
	const char *params[] = { id };
	long n = pg_exec_count(C(db), "DELETE FROM agents WHERE agent_id = $1", 1, params);
	return n < 0 ? -1 : n == 0 ? 1 : 0;
}

#define ROW_COLUMNS VERIFIER_DB_ROW_COLUMNS ", owner"
/* Rows to show: with the address of the verifier that attests the agent. */
#define SHOWN "SELECT " ROW_COLUMNS ", verifiers.ip AS verifier_ip," \
	" verifiers.port AS verifier_port FROM agents LEFT JOIN verifiers" \
	" ON verifiers.verifier_id = agents.owner"

/* Integer columns become JSON integers, NULLs are left out: the rows look
 * the same as SQLite's. */
static int rows(PGresult *res, verifier_db_row_fn fn, void *arg)
{
	int r = 0;
	if (!res)
		return -1;
	for (int i = 0; r == 0 && i < PQntuples(res); i++) {
		json_t *row = json_object();
		for (int k = 0; k < PQnfields(res); k++) {
			if (PQgetisnull(res, i, k))
				continue;
			const char *val = PQgetvalue(res, i, k);
			Oid t = PQftype(res, k);
			/* int8, int2, int4 */
			json_t *j = t == 20 || t == 21 || t == 23
				? json_integer(strtoll(val, NULL, 10)) : json_string(val);
			json_object_set_new(row, PQfname(res, k), j);
		}
		r = fn(row, arg);
		json_decref(row);
	}
	int none = PQntuples(res) == 0;
	PQclear(res);
	return r == 0 && none ? 1 : r;
}

static int each_agent(struct verifier_db *db, const char *owner, verifier_db_row_fn fn,
		      void *arg)
{
	const char *params[] = { owner };
	int r = rows(owner
		? pg_exec(C(db), SHOWN " WHERE owner = $1 ORDER BY agent_id", 1, params)
		: pg_exec(C(db), SHOWN " ORDER BY agent_id", 0, NULL), fn, arg);
	return r == 1 ? 0 : r;
}

static int get_agent(struct verifier_db *db, const char *id, verifier_db_row_fn fn,
		     void *arg)
{
	const char *params[] = { id };
	return rows(pg_exec(C(db), SHOWN " WHERE agent_id = $1", 1, params), fn, arg);
}

static int policy_get(struct verifier_db *db, const char *table, const char *name,
		      char **text)
{
	const char *params[] = { name };
	PGresult *res = pg_exec(C(db), verifier_db_policy_sql(table, POLICY_GET), 1, params);
	if (!res)
		return -1;
	int r = PQntuples(res) ? 0 : 1;
	if (r == 0 && !PQgetisnull(res, 0, 0))
		*text = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return r;
}

static int policy_put(struct verifier_db *db, const char *table, const char *name,
		      const char *text, int replace)
{
	const char *params[] = { name, text && *text ? text : NULL };
	long n = pg_exec_count(C(db), verifier_db_policy_sql(table, replace ? POLICY_UPDATE
							    : POLICY_INSERT), 2, params);
	return n < 0 ? -1 : n == 0 ? 1 : 0;
}

static int policy_delete(struct verifier_db *db, const char *table, const char *name)
{
	const char *params[] = { name };
	long n = pg_exec_count(C(db), verifier_db_policy_sql(table, POLICY_DELETE), 1, params);
	return n < 0 ? -1 : n == 0 ? 1 : 0;
}

static int policy_list(struct verifier_db *db, const char *table, json_t *names)
{
	PGresult *res = pg_exec(C(db), verifier_db_policy_sql(table, POLICY_LIST), 0, NULL);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++)
		json_array_append_new(names, json_string(PQgetvalue(res, i, 0)));
	PQclear(res);
	return 0;
}

static int policy_user(struct verifier_db *db, const char *column, const char *name,
		       char *agent_id, size_t n)
{
	const char *params[] = { name };
	PGresult *res = pg_exec(C(db), verifier_db_policy_user_sql(column), 1, params);
	if (!res)
		return -1;
	int r = PQntuples(res) ? 0 : 1;
	if (r == 0)
		snprintf(agent_id, n, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return r;
}

/* ---- leases ---- */

#define LEASE_UNTIL "clock_timestamp() + $3::bigint * interval '1 millisecond'"

static int join(struct verifier_db *db, long lease_ms, const char *ip, int port)
{
	char ms[24], p[16];
	snprintf(ms, sizeof ms, "%ld", lease_ms);
	snprintf(p, sizeof p, "%d", port);
	const char *params[] = { P(db)->id, P(db)->instance, ms, ip, p };
	long n = pg_exec_count(C(db),
		"INSERT INTO verifiers (verifier_id, instance, lease_until, ip, port)"
		" VALUES ($1, $2, " LEASE_UNTIL ", $4, $5) ON CONFLICT (verifier_id) DO"
		" UPDATE SET instance = $2, lease_until = " LEASE_UNTIL ", ip = $4, port = $5",
		5, params);
	return n < 0 ? -1 : 0;
}

static int renew(struct verifier_db *db, long lease_ms)
{
	char ms[24];
	snprintf(ms, sizeof ms, "%ld", lease_ms);
	const char *params[] = { P(db)->id, P(db)->instance, ms };
	long n = pg_exec_count(C(db),
		"UPDATE verifiers SET lease_until = " LEASE_UNTIL
		" WHERE verifier_id = $1 AND instance = $2", 3, params);
	return n < 0 ? -1 : n == 0 ? 1 : 0;
}

#define LIVE "(SELECT verifier_id FROM verifiers WHERE lease_until > clock_timestamp())"

static int counts(struct verifier_db *db, long *verifiers, long *agents, long *mine)
{
	const char *params[] = { P(db)->id };
	PGresult *res = pg_exec(C(db),
		"SELECT (SELECT count(*) FROM " LIVE " AS live),"
		" (SELECT count(*) FROM agents),"
		" (SELECT count(*) FROM agents WHERE owner = $1)", 1, params);
	if (!res)
		return -1;
	*verifiers = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	*agents = strtol(PQgetvalue(res, 0, 1), NULL, 10);
	*mine = strtol(PQgetvalue(res, 0, 2), NULL, 10);
	PQclear(res);
	return 0;
}

static int claim(struct verifier_db *db, long max, verifier_db_row_fn fn, void *arg)
{
	char n[24];
	snprintf(n, sizeof n, "%ld", max);
	const char *params[] = { P(db)->id, n };
	int r = rows(pg_exec(C(db),
		"UPDATE agents SET owner = $1 WHERE agent_id IN ("
		" SELECT agent_id FROM agents WHERE owner IS NULL OR owner NOT IN " LIVE
		" ORDER BY agent_id LIMIT $2::bigint FOR UPDATE SKIP LOCKED)"
		" RETURNING " ROW_COLUMNS, 2, params), fn, arg);
	return r == 1 ? 0 : r;
}

static int take(struct verifier_db *db, const char *id, verifier_db_row_fn fn, void *arg)
{
	const char *params[] = { P(db)->id, id };
	return rows(pg_exec(C(db), "UPDATE agents SET owner = $1 WHERE agent_id = $2"
			    " RETURNING " ROW_COLUMNS, 2, params), fn, arg);
}

static int release(struct verifier_db *db, const char *id)
{
	const char *params[] = { P(db)->id, id };
	long n = pg_exec_count(C(db), "UPDATE agents SET owner = NULL"
			       " WHERE agent_id = $2 AND owner = $1", 2, params);
	return n < 0 ? -1 : n == 0 ? 1 : 0;
}

static int owned(struct verifier_db *db, json_t *ids)
{
	const char *params[] = { P(db)->id };
	PGresult *res = pg_exec(C(db), "SELECT agent_id FROM agents WHERE owner = $1",
				1, params);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++)
		json_object_set_new(ids, PQgetvalue(res, i, 0), json_true());
	PQclear(res);
	return 0;
}

static int leave(struct verifier_db *db)
{
	const char *params[] = { P(db)->id, P(db)->instance };
	if (pg_exec_count(C(db), "UPDATE agents SET owner = NULL WHERE owner = $1"
			  " AND EXISTS (SELECT 1 FROM verifiers WHERE verifier_id = $1"
			  " AND instance = $2)", 2, params) < 0 ||
	    pg_exec_count(C(db), "DELETE FROM verifiers WHERE verifier_id = $1"
			  " AND instance = $2", 2, params) < 0)
		return -1;
	return 0;
}

static const char *error(struct verifier_db *db)
{
	return pg_error(P(db)->pg);
}

static void close_db(struct verifier_db *db)
{
	pg_close(P(db)->pg);
	free(db);
}

static const struct verifier_db_ops ops = {
	.add = add, .save_states = save_states, .delete_agent = delete_agent,
	.each_agent = each_agent, .get_agent = get_agent,
	.policy_get = policy_get, .policy_put = policy_put,
	.policy_delete = policy_delete, .policy_list = policy_list,
	.policy_user = policy_user, .error = error, .close = close_db,
	.join = join, .renew = renew, .counts = counts, .claim = claim, .take = take,
	.release = release, .owned = owned, .leave = leave,
};

struct verifier_db *verifier_db_pg_open(const char *url, const char *verifier_id,
					char *err, size_t errlen)
{
	struct pg_db *db = calloc(1, sizeof *db);
	uint8_t r[16];
	if (!db) {
		error_set(err, errlen, "out of memory");
		return NULL;
	}
	db->base.ops = &ops;
	snprintf(db->id, sizeof db->id, "%s", verifier_id);
	/* The instance id tells two processes with one verifier id apart:
	 * it must not be predictable. */
	if (crypto_random(r, sizeof r) < 0) {
		error_set(err, errlen, "no randomness for the instance id");
		free(db);
		return NULL;
	}
	for (size_t i = 0; i < sizeof r; i++)
		snprintf(db->instance + 2 * i, 3, "%02x", r[i]);
	db->pg = pg_open(url, "verifier", schema, sizeof schema / sizeof *schema, err,
			 errlen);
	if (!db->pg) {
		free(db);
		return NULL;
	}
	return &db->base;
}
