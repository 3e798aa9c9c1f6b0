/* Ways to end: exit(N), return N from main, abort(). Output before the
 * end must still come out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	const char *how = argc > 1 ? argv[1] : "0";

	printf("ending with %s\n", how);
	if (!strcmp(how, "abort")) {
		fflush(stdout);
		abort();
	}
	if (!strncmp(how, "return", 6))
		return atoi(how + 6);
	exit(atoi(how));
}
