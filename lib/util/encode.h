/* encode: base64 (RFC 4648, standard alphabet, padded) and hex. */
#ifndef ASSAY_UTIL_ENCODE_H
#define ASSAY_UTIL_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Appends the encoding to out. Returns 0, or -1 when out cannot grow. */
int b64_encode(struct buf *out, const void *p, size_t n);
/* Strict: rejects bad characters, bad padding and non-zero trailing bits.
 * Returns 0, or -1 with out unchanged. */
int b64_decode(struct buf *out, const char *s, size_t n);

int hex_encode(struct buf *out, const void *p, size_t n);
/* Accepts upper and lower case; rejects odd lengths. */
int hex_decode(struct buf *out, const char *s, size_t n);

/* Convenience: returns a malloc'd NUL-terminated string, or NULL. */
char *b64_encode_str(const void *p, size_t n);
char *hex_encode_str(const void *p, size_t n);

#endif
