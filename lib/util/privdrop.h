/* privdrop: give up root once a daemon holds what it needs. */
#ifndef ASSAY_UTIL_PRIVDROP_H
#define ASSAY_UTIL_PRIVDROP_H

#include <stddef.h>

/* When running as root: hands the given paths (files or directories, not
 * recursive; NULL-terminated list) to user, then switches to that user's
 * uid, gid and supplementary groups for good, and checks that root cannot
 * be regained. When not root, does nothing and returns 0. */
int privdrop(const char *user, const char *const *paths, char *err,
	     size_t errlen);

#endif
