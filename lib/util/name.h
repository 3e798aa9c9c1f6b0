/* name: the identifiers peers choose (agent ids, policy names). */
#ifndef ASSAY_UTIL_NAME_H
#define ASSAY_UTIL_NAME_H

#include <stddef.h>

/* 1 when s is 1..max bytes of letters, digits, '-', '_' and '.', as
 * Keylime's ids (UUIDs in practice) and policy names are. Such a name is
 * safe in a URL path, a log line and a file name. */
int name_valid(const char *s, size_t max);

#endif
