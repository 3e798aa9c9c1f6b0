/* String processing: the same output natively and under assay-keep. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void reverse(char *s)
{
	size_t i, n = strlen(s);

	for (i = 0; i < n / 2; i++) {
		char t = s[i];

		s[i] = s[n - 1 - i];
		s[n - 1 - i] = t;
	}
}

int main(int argc, char **argv)
{
	char text[] = "the quick brown fox jumps over the lazy dog, twice: "
		      "the quick brown fox";
	char *words[64], *tok, buf[256];
	unsigned long hash = 5381;
	int counts[26] = { 0 };
	int n = 0, i;
	double sum = 0;

	for (tok = strtok(text, " ,:"); tok && n < 64; tok = strtok(NULL, " ,:"))
		words[n++] = tok;
	qsort(words, (size_t)n, sizeof(words[0]), cmp);
	for (i = 0; i < n; i++)
		printf("%s%s", i ? " " : "", words[i]);
	printf("\n%d words\n", n);
	for (i = 1; i < argc; i++) {
		const char *p;

		snprintf(buf, sizeof(buf), "%s", argv[i]);
		reverse(buf);
		for (p = argv[i]; *p; p++) {
			if (isalpha((unsigned char)*p))
				counts[tolower((unsigned char)*p) - 'a']++;
			hash = hash * 33 + (unsigned char)*p;
		}
		printf("arg %d: '%s' reversed '%s' length %zu upper ", i,
		       argv[i], buf, strlen(argv[i]));
		for (p = argv[i]; *p; p++)
			putchar(toupper((unsigned char)*p));
		putchar('\n');
		sum += strtod(argv[i], NULL);
	}
	for (i = 0; i < 26; i++)
		if (counts[i])
			printf("%c=%d ", 'a' + i, counts[i]);
	printf("\nhash %08lx sum %.3f %e %g\n", hash & 0xffffffffUL, sum,
	       sum * 1e10, sum / 7);
	printf("%5d|%-5d|%05d|%x|%o|%+d|%lld\n", 42, 42, 42, 255, 8, 7,
	       -1234567890123LL);
	snprintf(buf, sizeof(buf), "%s-%s", "alpha", "omega");
	printf("%s %d %s\n", buf, (int)strlen(buf), strstr(buf, "-o") ? "found" : "missing");
	return 0;
}
