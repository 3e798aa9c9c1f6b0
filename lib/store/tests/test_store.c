/* Unit tests for lib/store: migrations, transactions, file mode. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "util/check.h"

static const char *const schema_v1[] = {
	"CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)",
};
static const char *const schema_v2[] = {
	"CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)",
	"ALTER TABLE t ADD COLUMN w TEXT",
};

static int count(struct store *s)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT count(*) FROM t");
	int n = -1;
	if (st && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	return n;
}

int main(void)
{
	char dir[] = "/tmp/assay-store-XXXXXX", path[128], err[256];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/db.sqlite", dir);

	struct store *s = store_open(path, schema_v1, 1, err, sizeof err);
	CHECK(s != NULL);
	struct stat st;
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);

	/* A rolled-back transaction leaves nothing. */
	CHECK_INT(store_begin(s), 0);
	sqlite3_stmt *ins = store_prepare(s, "INSERT INTO t (k, v) VALUES (?, ?)");
	sqlite3_bind_text(ins, 1, "a", -1, SQLITE_STATIC);
	sqlite3_bind_int(ins, 2, 1);
	CHECK_INT(sqlite3_step(ins), SQLITE_DONE);
	store_rollback(s);
	CHECK_INT(count(s), 0);

	CHECK_INT(store_begin(s), 0);
	ins = store_prepare(s, "INSERT INTO t (k, v) VALUES (?, ?)");
	sqlite3_bind_text(ins, 1, "a", -1, SQLITE_STATIC);
	sqlite3_bind_int(ins, 2, 1);
	CHECK_INT(sqlite3_step(ins), SQLITE_DONE);
	CHECK_INT(store_commit(s), 0);
	CHECK_INT(count(s), 1);
	store_close(s);

	/* Reopening with a newer schema migrates and keeps the data. */
	s = store_open(path, schema_v2, 2, err, sizeof err);
	CHECK(s != NULL);
	CHECK_INT(count(s), 1);
	CHECK(sqlite3_exec(store_db(s), "UPDATE t SET w='x'", NULL, NULL, NULL) == SQLITE_OK);
	store_close(s);

	/* An older program refuses a newer database rather than corrupt it. */
	s = store_open(path, schema_v1, 1, err, sizeof err);
	CHECK(s == NULL);
	CHECK(strstr(err, "newer") != NULL);

	/* A failing migration leaves the old version in place. */
	const char *const broken[] = { schema_v2[0], schema_v2[1], "NOT SQL" };
	s = store_open(path, broken, 3, err, sizeof err);
	CHECK(s == NULL);
	CHECK(strstr(err, "migration 3") != NULL);
	s = store_open(path, schema_v2, 2, err, sizeof err);
	CHECK(s != NULL);
	CHECK_INT(count(s), 1);
	store_close(s);

	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
	return check_done();
}
