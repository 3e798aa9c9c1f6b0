/* pgserver: a throw-away PostgreSQL server for tests, from Debian's
 * postgresql package: initdb into a directory, the server on a Unix socket
 * only (no TCP port to collide with), fsync off. When the tests run as
 * root it runs as nobody (PostgreSQL refuses root). */
#ifndef ASSAY_TESTS_PGSERVER_H
#define ASSAY_TESTS_PGSERVER_H

#include <sys/types.h>

struct pgserver {
	char dir[200];		/* data in DIR/data, socket in DIR/socket */
	char url[320];		/* a postgresql:// URI of database "postgres" */
	pid_t pid;
};

/* 1 when initdb and postgres are installed. */
int pgserver_available(void);
/* Initialises and starts a server under parent; 0 once it takes
 * connections. */
int pgserver_start(struct pgserver *p, const char *parent);
/* A fast shutdown; the files go with the parent directory. */
void pgserver_stop(struct pgserver *p);

#endif
