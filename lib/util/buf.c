#include "util/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/secure.h"

int buf_reserve(struct buf *b, size_t extra)
{
	if (extra >= BUF_MAX || b->len >= BUF_MAX - extra)
		return -1;
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	/* Grow by copy, not realloc, so the old block can be wiped. */
	uint8_t *p = malloc(cap);
	if (!p)
		return -1;
	if (b->data) {
		memcpy(p, b->data, b->len + 1);
		secure_wipe(b->data, b->cap);
		free(b->data);
	} else {
		p[0] = 0;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) < 0)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
	return 0;
}

int buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_append_u8(struct buf *b, uint8_t v)
{
	return buf_append(b, &v, 1);
}

int buf_append_be16(struct buf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	return buf_append(b, x, 2);
}

int buf_append_be32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
			 (uint8_t)(v >> 8), (uint8_t)v };
	return buf_append(b, x, 4);
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_reserve(b, (size_t)n) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void buf_reset(struct buf *b)
{
	if (b->data) {
		secure_wipe(b->data, b->len);
		b->data[0] = 0;
	}
	b->len = 0;
}

void buf_free(struct buf *b)
{
	if (b->data) {
		secure_wipe(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->len = b->cap = 0;
}

uint8_t *buf_steal(struct buf *b, size_t *len)
{
	if (!b->data && buf_reserve(b, 0) < 0)
		return NULL;
	uint8_t *p = b->data;
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

const uint8_t *cursor_bytes(struct cursor *c, size_t n)
{
	if (c->err || n > c->left) {
		c->err = 1;
		return NULL;
	}
	const uint8_t *p = c->p;
	c->p += n;
	c->left -= n;
	return p;
}

uint8_t cursor_u8(struct cursor *c)
{
	const uint8_t *p = cursor_bytes(c, 1);
	return p ? p[0] : 0;
}

uint16_t cursor_be16(struct cursor *c)
{
	const uint8_t *p = cursor_bytes(c, 2);
	return p ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

uint32_t cursor_be32(struct cursor *c)
{
	const uint8_t *p = cursor_bytes(c, 4);
	return p ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		   (uint32_t)p[2] << 8 | p[3] : 0;
}

uint64_t cursor_be64(struct cursor *c)
{
	uint64_t hi = cursor_be32(c);
	return hi << 32 | cursor_be32(c);
}

uint16_t cursor_le16(struct cursor *c)
{
	const uint8_t *p = cursor_bytes(c, 2);
	return p ? (uint16_t)(p[1] << 8 | p[0]) : 0;
}

uint32_t cursor_le32(struct cursor *c)
{
	const uint8_t *p = cursor_bytes(c, 4);
	return p ? (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 |
		   (uint32_t)p[1] << 8 | p[0] : 0;
}

uint64_t cursor_le64(struct cursor *c)
{
	uint64_t lo = cursor_le32(c);
	return (uint64_t)cursor_le32(c) << 32 | lo;
}
