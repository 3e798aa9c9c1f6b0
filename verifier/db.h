/* Verifier storage: SQLite for one verifier, or PostgreSQL for several
 * verifiers sharing one fleet (shared mode).
 *
 * An agent row holds the enrolment exactly as the tenant sent it (JSON)
 * beside the attestation state, so a restart (or another verifier taking
 * the agent over) rebuilds the record with the code that handled the POST.
 * Rows reach callers as JSON objects of their columns.
 *
 * Shared mode: every verifier holds a lease in the database, renewed by
 * lease.c; each agent row names its owner. Writes of attestation state are
 * fenced by ownership, so a verifier whose agent was taken over learns it
 * from its next write instead of overwriting the new owner's state.
 *
 * Every function returns 0, 1 (not found, or exists for inserts) or -1. */
#ifndef ASSAY_VERIFIER_DB_H
#define ASSAY_VERIFIER_DB_H

#include <jansson.h>
#include <stddef.h>

struct agent;
struct verifier_db;
typedef int (*verifier_db_row_fn)(json_t *row, void *arg);

/* SQLite at path, or PostgreSQL when url is set. verifier_id owns the
 * agents this process adds. */
struct verifier_db *verifier_db_open(const char *path, const char *url,
				     const char *verifier_id, char *err, size_t errlen);
void verifier_db_close(struct verifier_db *db);
int verifier_db_shared(const struct verifier_db *db);
const char *verifier_db_error(struct verifier_db *db);

/* A new enrolment (the tenant's JSON, as received), owned by this verifier. */
int verifier_db_add(struct verifier_db *db, const char *id, const char *enrolment,
		    int state, const char *rp_name, const char *mb_name);
/* Writes the state of every agent on the list (linked by next_dirty) in
 * one transaction. An agent whose row is gone or owned by another
 * verifier gets lost = 1. */
int verifier_db_save_states(struct verifier_db *db, struct agent *list);
int verifier_db_delete_agent(struct verifier_db *db, const char *id);
/* Rows of every agent (owner NULL), or of the agents owned by owner. */
int verifier_db_each_agent(struct verifier_db *db, const char *owner,
			   verifier_db_row_fn fn, void *arg);
int verifier_db_get_agent(struct verifier_db *db, const char *id,
			  verifier_db_row_fn fn, void *arg);

/* The named policy stores; table is "runtime_policies" or "mb_policies". */
int verifier_db_policy_get(struct verifier_db *db, const char *table,
			   const char *name, char **text);
int verifier_db_policy_put(struct verifier_db *db, const char *table,
			   const char *name, const char *text, int replace);
int verifier_db_policy_delete(struct verifier_db *db, const char *table,
			      const char *name);
int verifier_db_policy_list(struct verifier_db *db, const char *table, json_t *names);
/* The id of an agent using the policy (column "runtime_policy_name" or
 * "mb_policy_name"), or 1 when none does. */
int verifier_db_policy_user(struct verifier_db *db, const char *column,
			    const char *name, char *agent_id, size_t n);

/* Shared mode only. */
/* Takes this verifier's lease row, replacing any earlier process of the
 * same id (which finds out at its next renewal). */
int verifier_db_join(struct verifier_db *db, long lease_ms, const char *ip, int port);
/* Extends the lease. 1: another process took this verifier's id. */
int verifier_db_renew(struct verifier_db *db, long lease_ms);
/* Live verifiers, all agents, and the agents this verifier owns. */
int verifier_db_counts(struct verifier_db *db, long *verifiers, long *agents,
		       long *mine);
/* Takes up to max agents that nobody live owns; fn gets each row. */
int verifier_db_claim(struct verifier_db *db, long max, verifier_db_row_fn fn,
		      void *arg);
/* Takes one agent whoever owns it (an operator acts on it here). */
int verifier_db_take(struct verifier_db *db, const char *id, verifier_db_row_fn fn,
		     void *arg);
/* Gives up one agent for another verifier to claim. */
int verifier_db_release(struct verifier_db *db, const char *id);
/* The ids this verifier owns, as keys of the object ids. */
int verifier_db_owned(struct verifier_db *db, json_t *ids);
/* Releases every agent and drops the lease (a clean shutdown). */
int verifier_db_leave(struct verifier_db *db);

/* Backends (db_sqlite.c, db_pg.c). */
struct verifier_db_ops {
	int (*add)(struct verifier_db *, const char *, const char *, int, const char *,
		   const char *);
	int (*save_states)(struct verifier_db *, struct agent *);
	int (*delete_agent)(struct verifier_db *, const char *);
	int (*each_agent)(struct verifier_db *, const char *, verifier_db_row_fn, void *);
	int (*get_agent)(struct verifier_db *, const char *, verifier_db_row_fn, void *);
	int (*policy_get)(struct verifier_db *, const char *, const char *, char **);
	int (*policy_put)(struct verifier_db *, const char *, const char *, const char *,
			  int);
	int (*policy_delete)(struct verifier_db *, const char *, const char *);
	int (*policy_list)(struct verifier_db *, const char *, json_t *);
	int (*policy_user)(struct verifier_db *, const char *, const char *, char *,
			   size_t);
	const char *(*error)(struct verifier_db *);
	void (*close)(struct verifier_db *);
	/* NULL in SQLite mode. */
	int (*join)(struct verifier_db *, long, const char *, int);
	int (*renew)(struct verifier_db *, long);
	int (*counts)(struct verifier_db *, long *, long *, long *);
	int (*claim)(struct verifier_db *, long, verifier_db_row_fn, void *);
	int (*take)(struct verifier_db *, const char *, verifier_db_row_fn, void *);
	int (*release)(struct verifier_db *, const char *);
	int (*owned)(struct verifier_db *, json_t *);
	int (*leave)(struct verifier_db *);
};

struct verifier_db {
	const struct verifier_db_ops *ops;
};

struct verifier_db *verifier_db_sqlite_open(const char *path, char *err, size_t errlen);
struct verifier_db *verifier_db_pg_open(const char *url, const char *verifier_id,
					char *err, size_t errlen);

/* The columns of an agent row, as both backends select them. */
#define VERIFIER_DB_ROW_COLUMNS \
	"agent_id, enrolment, state, attestation_count, last_received_quote," \
	" last_successful_attestation, hash_alg, enc_alg, sign_alg, nk_pem," \
	" tpm_clock, tpm_reset, tpm_restart, severity, last_event_id, reason," \
	" ima_next_entry, ima_boottime, ima_lag, ima_bank, ima_pcr10"

/* The attestation state of an agent as text parameters, in the order of
 * VERIFIER_DB_STATE_COLUMNS (NULL for SQL NULL); both backends bind these. */
#define VERIFIER_DB_STATE_COLUMNS 19
struct verifier_db_state {
	const char *values[VERIFIER_DB_STATE_COLUMNS];
	char text[12][24];
	char pcr10[2 * 64 + 1];
};
void verifier_db_state_values(const struct agent *a, struct verifier_db_state *s);
extern const char *const verifier_db_state_names[VERIFIER_DB_STATE_COLUMNS];
/* The policy tables are fixed names, never from input. */
int verifier_db_policy_table(const char *table);	/* 0 runtime, 1 mb, -1 */
enum policy_op { POLICY_GET, POLICY_INSERT, POLICY_UPDATE, POLICY_DELETE, POLICY_LIST };
/* Parameters: $1 the name, $2 the policy text. */
const char *verifier_db_policy_sql(const char *table, enum policy_op op);
const char *verifier_db_policy_user_sql(const char *column);

#endif
