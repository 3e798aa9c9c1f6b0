/* Standard input to standard output, upper-cased, numbered; the exit
 * code is the number of lines read. */
#include <ctype.h>
#include <stdio.h>

int main(void)
{
	char line[1024];
	int n = 0;
	size_t i;

	while (fgets(line, sizeof(line), stdin)) {
		for (i = 0; line[i]; i++)
			line[i] = (char)toupper((unsigned char)line[i]);
		printf("%d: %s", ++n, line);
	}
	fprintf(stderr, "%d lines\n", n);
	return n;
}
