#include "util/secure.h"

#include <string.h>

void secure_wipe(void *p, size_t n)
{
	if (p && n)
		explicit_bzero(p, n);
}

int secure_equal(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char d = 0;
	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

int secure_equal_str(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	/* Always walk the expected string (b) fully; the length check is folded
	 * in at the end so the loop's duration does not depend on a. */
	const volatile unsigned char *x = (const unsigned char *)a;
	const volatile unsigned char *y = (const unsigned char *)b;
	unsigned char d = (unsigned char)(la != lb);
	for (size_t i = 0; i < lb; i++)
		d |= (i < la ? x[i] : 0) ^ y[i];
	return d == 0;
}
