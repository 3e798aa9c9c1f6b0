/* pg_open refuses a database_url libpq cannot parse without repeating it:
 * libpq's own message quotes the whole URI, password included, and the
 * verifier logs pg_open's error. No server is needed: no URI here gets
 * as far as a connection. */
#include <string.h>

#include "store/pg.h"
#include "util/check.h"

int main(void)
{
	static const char *const bad[] = {
		"postgresql://u:hunter2@[::1/db",
		"postgresql://u:hunter2@[]:5432/db",
		"postgresql://u:hunter2@host/db?no_such_option=1",
	};
	static const char *const none[] = { NULL };
	char err[512];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		CHECK(pg_open(bad[i], "test", none, 0, err, sizeof(err)) == NULL);
		CHECK(strstr(err, "database_url does not parse") != NULL);
		CHECK(strstr(err, "hunter2") == NULL);
	}
	/* A URI that parses but names a bad port fails in libpq before any
	 * connection, with a message of its own: no password in it either. */
	err[0] = 0;
	CHECK(pg_open("postgresql://u:hunter2@localhost:port/db", "test", none, 0,
		      err, sizeof(err)) == NULL);
	CHECK(strstr(err, "port") != NULL);
	CHECK(strstr(err, "hunter2") == NULL);
	return check_done();
}
