#include "util/encode.h"

#include <stdlib.h>
#include <string.h>

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_encode(struct buf *out, const void *p, size_t n)
{
	const uint8_t *s = p;
	if (n > BUF_MAX / 4 * 3 || buf_reserve(out, (n + 2) / 3 * 4) < 0)
		return -1;
	char *o = (char *)out->data + out->len;
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		*o++ = b64_alphabet[v >> 18];
		*o++ = b64_alphabet[(v >> 12) & 63];
		*o++ = b64_alphabet[(v >> 6) & 63];
		*o++ = b64_alphabet[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)s[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		*o++ = b64_alphabet[v >> 18];
		*o++ = b64_alphabet[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	out->len = (size_t)((uint8_t *)o - out->data);
	out->data[out->len] = 0;
	return 0;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

int b64_decode(struct buf *out, const char *s, size_t n)
{
	if (n % 4 != 0 || buf_reserve(out, n / 4 * 3) < 0)
		return -1;
	size_t start = out->len;
	uint8_t *o = out->data + out->len;
	for (size_t i = 0; i < n; i += 4) {
		int last = i + 4 == n;
		int v[4], pad = 0;
		for (int j = 0; j < 4; j++) {
			unsigned char c = (unsigned char)s[i + j];
			if (c == '=' && last && j >= 2) {
				/* '=' only at the end, and "x=y=" is not valid. */
				if (j == 2 && s[i + 3] != '=')
					goto bad;
				pad++;
				v[j] = 0;
				continue;
			}
			if (pad || (v[j] = b64_value(c)) < 0)
				goto bad;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
			     (uint32_t)v[2] << 6 | (uint32_t)v[3];
		/* Canonical form: the bits dropped by padding must be zero. */
		if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
			goto bad;
		*o++ = (uint8_t)(w >> 16);
		if (pad < 2)
			*o++ = (uint8_t)(w >> 8);
		if (pad < 1)
			*o++ = (uint8_t)w;
	}
	out->len = (size_t)(o - out->data);
	out->data[out->len] = 0;
	return 0;
bad:
	out->len = start;
	out->data[start] = 0;
	return -1;
}

int hex_encode(struct buf *out, const void *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *s = p;
	if (n > BUF_MAX / 2 || buf_reserve(out, 2 * n) < 0)
		return -1;
	char *o = (char *)out->data + out->len;
	for (size_t i = 0; i < n; i++) {
		*o++ = digits[s[i] >> 4];
		*o++ = digits[s[i] & 15];
	}
	out->len += 2 * n;
	out->data[out->len] = 0;
	return 0;
}

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

int hex_decode(struct buf *out, const char *s, size_t n)
{
	if (n % 2 != 0 || buf_reserve(out, n / 2) < 0)
		return -1;
	uint8_t *o = out->data + out->len;
	for (size_t i = 0; i < n; i += 2) {
		int hi = hex_value((unsigned char)s[i]);
		int lo = hex_value((unsigned char)s[i + 1]);
		if (hi < 0 || lo < 0) {
			out->data[out->len] = 0;
			return -1;
		}
		o[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	out->len += n / 2;
	out->data[out->len] = 0;
	return 0;
}

char *b64_encode_str(const void *p, size_t n)
{
	struct buf b = BUF_INIT;
	if (b64_encode(&b, p, n) < 0) {
		buf_free(&b);
		return NULL;
	}
	return (char *)buf_steal(&b, NULL);
}

char *hex_encode_str(const void *p, size_t n)
{
	struct buf b = BUF_INIT;
	if (hex_encode(&b, p, n) < 0) {
		buf_free(&b);
		return NULL;
	}
	return (char *)buf_steal(&b, NULL);
}
