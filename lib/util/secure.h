/* secure: handling of secret bytes. */
#ifndef ASSAY_UTIL_SECURE_H
#define ASSAY_UTIL_SECURE_H

#include <stddef.h>

/* Zeroes memory in a way the compiler may not elide. */
void secure_wipe(void *p, size_t n);
/* Compares in time that depends only on n. Returns 1 when equal. */
int secure_equal(const void *a, const void *b, size_t n);
/* Compares two hex or text tokens of possibly different lengths without
 * leaking where they differ. Returns 1 when equal. */
int secure_equal_str(const char *a, const char *b);

#endif
