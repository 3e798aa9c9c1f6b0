/* pg: PostgreSQL through libpq, opened the one way Assay daemons use it.
 *
 * Several processes share one database (the verifier's shared mode), so
 * schema migrations run under an advisory lock: the first process to start
 * brings the schema up to date, the others wait and find nothing to do.
 * Calls are blocking; every session gets a statement timeout so a stuck
 * server stalls a daemon for seconds, not forever. */
#ifndef ASSAY_STORE_PG_H
#define ASSAY_STORE_PG_H

#include <libpq-fe.h>
#include <stddef.h>

struct pg;

/* Connects to url (a postgresql:// URI or a libpq key=value string) and
 * brings the schema of component (a name of ours, e.g. "verifier") to the
 * last version: migrations[i] takes version i to i+1. */
struct pg *pg_open(const char *url, const char *component,
		   const char *const *migrations, size_t n_migrations,
		   char *err, size_t errlen);
void pg_close(struct pg *p);
PGconn *pg_conn(struct pg *p);

/* Reconnects when the connection was lost. Returns 0 when usable. */
int pg_ensure(struct pg *p);

/* Runs sql with text parameters (NULL for SQL NULL). Returns the result
 * when its status is a success (command or tuples), else NULL with the
 * server's message in pg_error(). The caller PQclear()s the result. */
PGresult *pg_exec(struct pg *p, const char *sql, int n, const char *const *params);
/* For statements whose result is only a row count: -1 on error. */
long pg_exec_count(struct pg *p, const char *sql, int n, const char *const *params);
const char *pg_error(struct pg *p);
/* The SQLSTATE of the last failed pg_exec ("" when none). */
const char *pg_sqlstate(struct pg *p);

#endif
