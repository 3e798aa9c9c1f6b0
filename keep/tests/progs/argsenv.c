/* Arguments and environment as the program sees them (not argv[0], which
 * names the program differently natively and under assay-keep). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	char *env[128];
	int i, n = 0;

	printf("argc %d\n", argc);
	for (i = 1; i < argc; i++)
		printf("argv[%d] = '%s' (%zu)\n", i, argv[i], strlen(argv[i]));
	for (i = 0; environ && environ[i] && n < 128; i++)
		env[n++] = environ[i];
	qsort(env, (size_t)n, sizeof(env[0]), cmp);
	printf("%d variables\n", n);
	for (i = 0; i < n; i++)
		printf("env '%s'\n", env[i]);
	printf("ALPHA=%s\n", getenv("ALPHA") ? getenv("ALPHA") : "(unset)");
	printf("MISSING=%s\n", getenv("MISSING") ? getenv("MISSING") : "(unset)");
	return argc;
}
