#include "util/name.h"

#include <string.h>

int name_valid(const char *s, size_t max)
{
	static const char allowed[] = "abcdefghijklmnopqrstuvwxyz"
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.";
	size_t n = strlen(s);
	return n > 0 && n <= max && strspn(s, allowed) == n &&
	       strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}
