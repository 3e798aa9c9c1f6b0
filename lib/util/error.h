/* error: filling the caller's error buffer. */
#ifndef ASSAY_UTIL_ERROR_H
#define ASSAY_UTIL_ERROR_H

#include <stddef.h>

/* Formats into err (when err is not NULL and errlen is not 0). */
void error_set(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
