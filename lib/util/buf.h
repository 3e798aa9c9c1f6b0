/* buf: a growable byte buffer, the one container for variable-length bytes.
 *
 * The buffer always keeps a NUL after the last byte so text can be used as a C
 * string, but len never counts it. Growth is bounded by BUF_MAX so a hostile
 * length can never ask for more than that. */
#ifndef ASSAY_UTIL_BUF_H
#define ASSAY_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define BUF_MAX ((size_t)1 << 30)

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_append_u8(struct buf *b, uint8_t v);
int buf_append_be16(struct buf *b, uint16_t v);
int buf_append_be32(struct buf *b, uint32_t v);
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
/* buf_free wipes the contents before freeing: buffers often hold secrets. */
void buf_free(struct buf *b);
/* Hands the storage over to the caller (NUL-terminated); b becomes empty. */
uint8_t *buf_steal(struct buf *b, size_t *len);

/* A read cursor over bytes we did not produce. Every read is bounds-checked;
 * once a read fails the cursor is poisoned and all later reads fail too, so a
 * parser can read a whole structure and check cur.err once at the end. */
struct cursor {
	const uint8_t *p;
	size_t left;
	int err;
};

static inline struct cursor cursor_init(const void *p, size_t n)
{
	struct cursor c = { (const uint8_t *)p, n, 0 };
	return c;
}

uint8_t cursor_u8(struct cursor *c);
uint16_t cursor_be16(struct cursor *c);
uint32_t cursor_be32(struct cursor *c);
uint64_t cursor_be64(struct cursor *c);
uint16_t cursor_le16(struct cursor *c);
uint32_t cursor_le32(struct cursor *c);
uint64_t cursor_le64(struct cursor *c);
/* Returns a pointer to n bytes inside the input, or NULL. */
const uint8_t *cursor_bytes(struct cursor *c, size_t n);

#endif
