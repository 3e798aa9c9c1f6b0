#include "store/pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/log.h"

/* An arbitrary constant of ours: the advisory lock held while migrating. */
#define MIGRATION_LOCK 0x61737361	/* "assa" */

struct pg {
	PGconn *conn;
	char error[256];
	char sqlstate[6];
};

static void set_error(struct pg *p, const char *msg)
{
	snprintf(p->error, sizeof p->error, "%s", msg ? msg : "unknown error");
	size_t n = strlen(p->error);
	while (n && (p->error[n - 1] == '\n' || p->error[n - 1] == ' '))
		p->error[--n] = 0;
}

const char *pg_error(struct pg *p)
{
	return p->error;
}

const char *pg_sqlstate(struct pg *p)
{
	return p->sqlstate;
}

PGconn *pg_conn(struct pg *p)
{
	return p->conn;
}

PGresult *pg_exec(struct pg *p, const char *sql, int n, const char *const *params)
{
	PGresult *r = PQexecParams(p->conn, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	p->sqlstate[0] = 0;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return r;
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	snprintf(p->sqlstate, sizeof p->sqlstate, "%s", state ? state : "");
	set_error(p, r ? PQresultErrorMessage(r) : PQerrorMessage(p->conn));
	PQclear(r);
	return NULL;
}

long pg_exec_count(struct pg *p, const char *sql, int n, const char *const *params)
{
	PGresult *r = pg_exec(p, sql, n, params);
	if (!r)
		return -1;
	long c = strtol(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return c;
}

/* Without parameters, through the simple protocol: sql may hold several
 * statements (a migration). */
static int exec_plain(struct pg *p, const char *sql)
{
	PGresult *r = PQexec(p->conn, sql);
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
	if (!ok)
		set_error(p, r ? PQresultErrorMessage(r) : PQerrorMessage(p->conn));
	PQclear(r);
	return ok ? 0 : -1;
}

/* The server's notices ("relation already exists, skipping") are not
 * worth a line on stderr. */
static void quiet(void *arg, const char *message)
{
	log_debug("database: %.200s", message);
}

/* Per-session settings, again after every reconnection. */
static int session_setup(struct pg *p)
{
	return exec_plain(p, "SET statement_timeout = 10000");
}

int pg_ensure(struct pg *p)
{
	if (PQstatus(p->conn) == CONNECTION_OK)
		return 0;
	PQreset(p->conn);
	if (PQstatus(p->conn) != CONNECTION_OK) {
		set_error(p, PQerrorMessage(p->conn));
		return -1;
	}
	log_info("database: reconnected");
	return session_setup(p);
}

static int schema_version(struct pg *p, const char *component)
{
	const char *params[] = { component };
	PGresult *r = pg_exec(p, "SELECT version FROM assay_schema WHERE component = $1",
			      1, params);
	if (!r)
		return -1;
	int v = PQntuples(r) ? atoi(PQgetvalue(r, 0, 0)) : 0;
	PQclear(r);
	return v;
}

static int migrate(struct pg *p, const char *component, const char *const *migrations,
		   size_t n, char *err, size_t errlen)
{
	char lock[64], version[24];
	snprintf(lock, sizeof lock, "SELECT pg_advisory_lock(%d)", MIGRATION_LOCK);
	if (exec_plain(p, lock) < 0 ||
	    exec_plain(p, "CREATE TABLE IF NOT EXISTS assay_schema (component TEXT "
		       "PRIMARY KEY, version INTEGER NOT NULL)") < 0)
		goto fail;
	int v = schema_version(p, component);
	if (v < 0)
		goto fail;
	if ((size_t)v > n) {
		error_set(err, errlen, "database schema version %d of %s is newer than "
			 "this program (%zu)", v, component, n);
		goto unlock;
	}
	for (size_t i = (size_t)v; i < n; i++) {
		snprintf(version, sizeof version, "%zu", i + 1);
		const char *params[] = { component, version };
		if (exec_plain(p, "BEGIN") < 0)
			goto fail;
		PGresult *r = NULL;
		if (exec_plain(p, migrations[i]) < 0 ||
		    !(r = pg_exec(p, "INSERT INTO assay_schema (component, version) "
				  "VALUES ($1, $2) ON CONFLICT (component) DO UPDATE "
				  "SET version = excluded.version", 2, params)) ||
		    exec_plain(p, "COMMIT") < 0) {
			PQclear(r);
			error_set(err, errlen, "schema migration %zu of %s failed: %s",
				 i + 1, component, p->error);
			PQclear(PQexec(p->conn, "ROLLBACK"));
			goto unlock;
		}
		PQclear(r);
	}
	snprintf(lock, sizeof lock, "SELECT pg_advisory_unlock(%d)", MIGRATION_LOCK);
	return exec_plain(p, lock) < 0 ? -1 : 0;
fail:
	error_set(err, errlen, "database: %s", p->error);
unlock:
	snprintf(lock, sizeof lock, "SELECT pg_advisory_unlock(%d)", MIGRATION_LOCK);
	PQclear(PQexec(p->conn, lock));
	return -1;
}

struct pg *pg_open(const char *url, const char *component,
		   const char *const *migrations, size_t n_migrations,
		   char *err, size_t errlen)
{
	struct pg *p = calloc(1, sizeof *p);
	if (!p) {
		error_set(err, errlen, "out of memory");
		return NULL;
	}
	/* The URL's own settings win over ours: dbname is expanded in place,
	 * after the defaults before it. */
	const char *const keys[] = { "connect_timeout", "application_name", "dbname", NULL };
	const char *const vals[] = { "5", component, url, NULL };
	/* libpq quotes a URI it cannot parse whole, password included, in
	 * its message: such a URI is refused here without being shown. */
	char *perr = NULL;
	PQconninfoOption *parsed = PQconninfoParse(url, &perr);
	if (!parsed) {
		PQfreemem(perr);
		error_set(err, errlen, "database: database_url does not parse as a "
			  "PostgreSQL URI (not shown: it may hold a password)");
		pg_close(p);
		return NULL;
	}
	PQconninfoFree(parsed);
	p->conn = PQconnectdbParams(keys, vals, 1);
	if (!p->conn || PQstatus(p->conn) != CONNECTION_OK) {
		/* The URI parsed: libpq's message names host and port now,
		 * not the password. */
		set_error(p, p->conn ? PQerrorMessage(p->conn) : "out of memory");
		error_set(err, errlen, "database: %s", p->error);
		pg_close(p);
		return NULL;
	}
	PQsetNoticeProcessor(p->conn, quiet, NULL);
	if (session_setup(p) < 0) {
		error_set(err, errlen, "database: %s", p->error);
		pg_close(p);
		return NULL;
	}
	if (migrate(p, component, migrations, n_migrations, err, errlen) < 0) {
		pg_close(p);
		return NULL;
	}
	return p;
}

void pg_close(struct pg *p)
{
	if (!p)
		return;
	PQfinish(p->conn);
	free(p);
}
