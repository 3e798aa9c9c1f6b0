/* toml: a strict TOML 1.0 reader (see toml.h).
 *
 * One pass over the text with a cursor, building the tree as it goes.
 * Recursion only follows arrays and inline tables, and every container
 * carries its depth, which is capped at TOML_MAX_DEPTH: a hostile document
 * cannot make the parser (or toml_free) recurse deeper than that.
 *
 * The table rules of TOML 1.0 are kept with a few flags per table, saying
 * how the table came to be: as the parent of a [header] (implicit, may be
 * defined later, once), by a [header], by dotted keys, or as an inline table
 * (closed for good). */
#define _GNU_SOURCE	/* newlocale, strtod_l */
#include "config/toml.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "util/buf.h"
#include "util/secure.h"

enum {
	TF_IMPLICIT = 1 << 0,	/* parent of a [header], not defined yet */
	TF_HEADER = 1 << 1,	/* defined by [header] or [[header]] */
	TF_DOTTED = 1 << 2,	/* made by dotted keys */
	TF_INLINE = 1 << 3,	/* inline table: nothing may be added */
	TF_AOT = 1 << 4,	/* array made by [[header]] */
};

/* Tables this large get a hash index for lookups. */
#define INDEX_MIN 8

struct toml_entry {
	char *key;
	size_t keylen;
	struct toml_value *val;
};

struct toml_table {
	struct toml_entry *ents;
	size_t len, cap;
	uint32_t *index;	/* entry number + 1, 0 = free slot */
	size_t icap;		/* power of two, or 0 without index */
	uint64_t seed[2];	/* hash key: keeps collisions unguessable */
};

struct toml_array {
	struct toml_value **items;
	size_t len, cap;
};

struct toml_value {
	enum toml_type type;
	unsigned flags;
	int depth;
	int line;
	union {
		struct toml_table tab;
		struct toml_array arr;
		struct {
			char *s;
			size_t len;
		} str;
		int64_t i;
		double f;
		bool b;
		struct toml_datetime dt;
	} u;
};

struct parser {
	const char *start, *p, *end;
	char *err;
	size_t errlen;
	bool failed;
	const char *lpos;	/* line_at() has counted lines up to here */
	int line;
	locale_t c_locale;	/* floats are read the same in any locale */
	uint64_t seed[2];
	long nvalues;
	struct toml_value *root, *cur;
};

struct key_part {
	char *s;
	size_t len;
	const char *at;
};

struct key {
	struct key_part *parts;
	int n, cap;
};

/* ------------------------------------------------------------------ */
/* Errors and positions                                                */

static int line_at(struct parser *ps, const char *at)
{
	if (at < ps->lpos) {
		ps->lpos = ps->start;
		ps->line = 1;
	}
	for (; ps->lpos < at; ps->lpos++)
		if (*ps->lpos == '\n')
			ps->line++;
	return ps->line;
}

static int fail(struct parser *ps, const char *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records the first error only: later ones are consequences of it. */
static int fail(struct parser *ps, const char *at, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ps->failed)
		return -1;
	ps->failed = true;
	if (!ps->err || !ps->errlen)
		return -1;
	n = snprintf(ps->err, ps->errlen, "line %d: ", line_at(ps, at));
	if (n < 0 || (size_t)n >= ps->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(ps->err + n, ps->errlen - n, fmt, ap);
	va_end(ap);
	return -1;
}

static bool is_ctrl(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* Copies text for an error message: control characters are escaped,
 * long text is cut (at a character boundary) and marked with "...". */
static void show_text(char *out, size_t outn, const char *s, size_t n)
{
	size_t o = 0, i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t need = is_ctrl(c) ? 6 : 1;

		if (o + need + 4 > outn) {
			/* never leave half a UTF-8 sequence behind */
			if ((c & 0xc0) == 0x80) {
				while (o > 0 &&
				       ((unsigned char)out[o - 1] & 0xc0) == 0x80)
					o--;
				if (o > 0)
					o--;
			}
			memcpy(out + o, "...", 4);
			return;
		}
		if (is_ctrl(c))
			snprintf(out + o, 7, "\\u%04x", c);
		else
			out[o] = (char)c;
		o += need;
	}
	out[o] = '\0';
}

/* "a.b.c" for the first n parts of a key, for messages. */
static const char *show_key(const struct key *k, int n, char *out,
			    size_t outn)
{
	char part[128];
	size_t o = 0;
	int i;

	out[0] = '\0';
	for (i = 0; i < n && o + 1 < outn; i++) {
		show_text(part, sizeof(part), k->parts[i].s, k->parts[i].len);
		o += snprintf(out + o, outn - o, "%s%s", i ? "." : "", part);
	}
	return out;
}

/* The code point of the (already validated) UTF-8 sequence at s. */
static unsigned utf8_decode(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	if (u[0] < 0xe0)
		return (u[0] & 0x1fu) << 6 | (u[1] & 0x3fu);
	if (u[0] < 0xf0)
		return (u[0] & 0x0fu) << 12 | (u[1] & 0x3fu) << 6 |
		       (u[2] & 0x3fu);
	return (u[0] & 0x07u) << 18 | (u[1] & 0x3fu) << 12 |
	       (u[2] & 0x3fu) << 6 | (u[3] & 0x3fu);
}

/* What the cursor is looking at, for "expected X, found Y" messages. */
static const char *show_here(const struct parser *ps, const char *at,
			     char out[32])
{
	unsigned char c;

	if (at >= ps->end)
		return "end of file";
	c = (unsigned char)*at;
	if (c == '\n' || (c == '\r' && at + 1 < ps->end && at[1] == '\n'))
		return "end of line";
	if (is_ctrl(c) || c == ' ')
		snprintf(out, 32, "U+%04X", c);
	else if (c < 0x80)
		snprintf(out, 32, "'%c'", c);
	else
		snprintf(out, 32, "U+%04X", utf8_decode(at));
	return out;
}

static const char *a_type(enum toml_type t)
{
	switch (t) {
	case TOML_NONE: return "nothing";
	case TOML_TABLE: return "a table";
	case TOML_ARRAY: return "an array";
	case TOML_STRING: return "a string";
	case TOML_INTEGER: return "an integer";
	case TOML_FLOAT: return "a float";
	case TOML_BOOL: return "a boolean";
	case TOML_DATETIME: return "a datetime";
	case TOML_DATETIME_LOCAL: return "a local datetime";
	case TOML_DATE_LOCAL: return "a local date";
	case TOML_TIME_LOCAL: return "a local time";
	}
	return "a value";
}

/* ------------------------------------------------------------------ */
/* UTF-8                                                               */

/* Length of the valid UTF-8 sequence at s, or 0: rejects overlong forms,
 * surrogates and anything above U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

static int check_utf8(struct parser *ps)
{
	const unsigned char *s = (const unsigned char *)ps->start;
	size_t n = (size_t)(ps->end - ps->start), i = 0, l;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		l = utf8_len(s + i, n - i);
		if (!l)
			return fail(ps, ps->start + i, "invalid UTF-8");
		i += l;
	}
	return 0;
}

static int utf8_put(struct buf *b, uint32_t cp)
{
	uint8_t u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (uint8_t)(0xc0 | cp >> 6);
		u[1] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (uint8_t)(0xe0 | cp >> 12);
		u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (uint8_t)(0xf0 | cp >> 18);
		u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_append(b, u, n);
}

/* ------------------------------------------------------------------ */
/* Values and tables                                                   */

/* SipHash-1-3 over the key bytes, keyed per document: the index of a table
 * with many keys cannot be degraded by keys chosen to collide. */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void sip_round(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = ROTL(v[1], 13) ^ v[0];
	v[0] = ROTL(v[0], 32);
	v[2] += v[3];
	v[3] = ROTL(v[3], 16) ^ v[2];
	v[0] += v[3];
	v[3] = ROTL(v[3], 21) ^ v[0];
	v[2] += v[1];
	v[1] = ROTL(v[1], 17) ^ v[2];
	v[2] = ROTL(v[2], 32);
}

static uint64_t key_hash(const uint64_t seed[2], const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	uint64_t v[4] = {
		seed[0] ^ 0x736f6d6570736575ULL, seed[1] ^ 0x646f72616e646f6dULL,
		seed[0] ^ 0x6c7967656e657261ULL, seed[1] ^ 0x7465646279746573ULL,
	};
	uint64_t m, last = (uint64_t)n << 56;
	size_t i;

	for (; n >= 8; n -= 8, p += 8) {
		m = 0;
		for (i = 0; i < 8; i++)
			m |= (uint64_t)p[i] << (8 * i);
		v[3] ^= m;
		sip_round(v);
		v[0] ^= m;
	}
	for (i = 0; i < n; i++)
		last |= (uint64_t)p[i] << (8 * i);
	v[3] ^= last;
	sip_round(v);
	v[0] ^= last;
	v[2] ^= 0xff;
	sip_round(v);
	sip_round(v);
	sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static struct toml_value *value_new(struct parser *ps, enum toml_type type,
				    const char *at)
{
	struct toml_value *v;

	if (++ps->nvalues > TOML_MAX_VALUES) {
		fail(ps, at, "more than %d values", TOML_MAX_VALUES);
		return NULL;
	}
	v = calloc(1, sizeof(*v));
	if (!v) {
		fail(ps, at, "out of memory");
		return NULL;
	}
	v->type = type;
	v->line = line_at(ps, at);
	return v;
}

static struct toml_value *table_new(struct parser *ps, const char *at,
				    int depth, unsigned flags)
{
	struct toml_value *t;

	if (depth > TOML_MAX_DEPTH) {
		fail(ps, at, "tables and arrays nested deeper than %d levels",
		     TOML_MAX_DEPTH);
		return NULL;
	}
	t = value_new(ps, TOML_TABLE, at);
	if (!t)
		return NULL;
	t->depth = depth;
	t->flags = flags;
	t->u.tab.seed[0] = ps->seed[0];
	t->u.tab.seed[1] = ps->seed[1];
	return t;
}

static struct toml_entry *table_find(const struct toml_value *t,
				     const char *k, size_t n)
{
	const struct toml_table *tab = &t->u.tab;
	struct toml_entry *e;
	size_t i, mask;

	if (tab->index) {
		mask = tab->icap - 1;
		for (i = key_hash(tab->seed, k, n) & mask; tab->index[i];
		     i = (i + 1) & mask) {
			e = &tab->ents[tab->index[i] - 1];
			if (e->keylen == n && !memcmp(e->key, k, n))
				return e;
		}
		return NULL;
	}
	for (i = 0; i < tab->len; i++) {
		e = &tab->ents[i];
		if (e->keylen == n && !memcmp(e->key, k, n))
			return e;
	}
	return NULL;
}

static void index_put(struct toml_table *tab, size_t ent)
{
	const struct toml_entry *e = &tab->ents[ent];
	size_t mask = tab->icap - 1;
	size_t i = key_hash(tab->seed, e->key, e->keylen) & mask;

	while (tab->index[i])
		i = (i + 1) & mask;
	tab->index[i] = (uint32_t)(ent + 1);
}

/* Keeps the index at most half full, rebuilding it when it grows. */
static int index_update(struct toml_table *tab)
{
	size_t icap, i;
	uint32_t *index;

	if (tab->len < INDEX_MIN)
		return 0;
	if (tab->index && tab->len * 2 <= tab->icap) {
		index_put(tab, tab->len - 1);
		return 0;
	}
	for (icap = 16; icap < tab->len * 2; icap *= 2)
		;
	index = calloc(icap, sizeof(*index));
	if (!index)
		return -1;
	free(tab->index);
	tab->index = index;
	tab->icap = icap;
	for (i = 0; i < tab->len; i++)
		index_put(tab, i);
	return 0;
}

/* Adds key -> v to table t, taking the key string from kp. The caller has
 * checked that the key is new. On failure v is left to the caller. */
static int table_add(struct parser *ps, struct toml_value *t,
		     struct key_part *kp, struct toml_value *v)
{
	struct toml_table *tab = &t->u.tab;

	if (tab->len == tab->cap) {
		size_t cap = tab->cap ? tab->cap * 2 : 4;
		struct toml_entry *ents;

		if (cap > UINT32_MAX - 1)
			return fail(ps, kp->at, "too many keys in one table");
		ents = realloc(tab->ents, cap * sizeof(*ents));
		if (!ents)
			return fail(ps, kp->at, "out of memory");
		tab->ents = ents;
		tab->cap = cap;
	}
	tab->ents[tab->len].key = kp->s;
	tab->ents[tab->len].keylen = kp->len;
	tab->ents[tab->len].val = v;
	tab->len++;
	if (index_update(tab) < 0) {
		tab->len--;
		return fail(ps, kp->at, "out of memory");
	}
	kp->s = NULL;
	return 0;
}

/* Creates an empty table under key kp of t. */
static struct toml_value *table_add_table(struct parser *ps,
					  struct toml_value *t,
					  struct key_part *kp, unsigned flags)
{
	struct toml_value *sub = table_new(ps, kp->at, t->depth + 1, flags);

	if (!sub)
		return NULL;
	if (table_add(ps, t, kp, sub) < 0) {
		toml_free(sub);
		return NULL;
	}
	return sub;
}

static int array_push(struct parser *ps, struct toml_value *a,
		      struct toml_value *v, const char *at)
{
	struct toml_array *arr = &a->u.arr;

	if (arr->len == arr->cap) {
		size_t cap = arr->cap ? arr->cap * 2 : 4;
		struct toml_value **items;

		items = realloc(arr->items, cap * sizeof(*items));
		if (!items)
			return fail(ps, at, "out of memory");
		arr->items = items;
		arr->cap = cap;
	}
	arr->items[arr->len++] = v;
	return 0;
}

void toml_free(struct toml_value *v)
{
	size_t i;

	if (!v)
		return;
	switch (v->type) {
	case TOML_TABLE:
		for (i = 0; i < v->u.tab.len; i++) {
			free(v->u.tab.ents[i].key);
			toml_free(v->u.tab.ents[i].val);
		}
		free(v->u.tab.ents);
		free(v->u.tab.index);
		break;
	case TOML_ARRAY:
		for (i = 0; i < v->u.arr.len; i++)
			toml_free(v->u.arr.items[i]);
		free(v->u.arr.items);
		break;
	case TOML_STRING:
		/* config values may be secrets (PINs, passwords) */
		secure_wipe(v->u.str.s, v->u.str.len);
		free(v->u.str.s);
		break;
	default:
		break;
	}
	free(v);
}

/* ------------------------------------------------------------------ */
/* Whitespace, newlines, comments                                      */

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'))
		ps->p++;
}

/* Consumes one LF or CRLF: 1 if it did, 0 if not at a newline. */
static int eat_newline(struct parser *ps)
{
	if (ps->p < ps->end && *ps->p == '\n') {
		ps->p++;
		return 1;
	}
	if (ps->p < ps->end && *ps->p == '\r') {
		if (ps->p + 1 < ps->end && ps->p[1] == '\n') {
			ps->p += 2;
			return 1;
		}
		return fail(ps, ps->p,
			    "carriage return not followed by a line feed");
	}
	return 0;
}

/* At '#': skips to the end of the line (not past it). */
static int skip_comment(struct parser *ps)
{
	for (ps->p++; ps->p < ps->end; ps->p++) {
		unsigned char c = (unsigned char)*ps->p;

		if (c == '\n')
			break;
		if (c == '\r' && ps->p + 1 < ps->end && ps->p[1] == '\n')
			break;
		if (is_ctrl(c))
			return fail(ps, ps->p,
				    "control character U+%04X in a comment", c);
	}
	return 0;
}

/* Whitespace, comments and newlines, as allowed inside arrays. */
static int skip_ws_nl(struct parser *ps)
{
	int r;

	for (;;) {
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == '#' && skip_comment(ps) < 0)
			return -1;
		r = eat_newline(ps);
		if (r <= 0)
			return r;
	}
}

/* After a key/value or header: only a comment may follow on the line. */
static int end_of_line(struct parser *ps)
{
	char here[32];
	int r;

	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '#' && skip_comment(ps) < 0)
		return -1;
	if (ps->p == ps->end)
		return 0;
	r = eat_newline(ps);
	if (r < 0)
		return -1;
	if (r == 0)
		return fail(ps, ps->p, "expected end of line, found %s",
			    show_here(ps, ps->p, here));
	return 0;
}

/* ------------------------------------------------------------------ */
/* Strings                                                             */

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int parse_unicode_escape(struct parser *ps, struct buf *b,
				const char *at, int ndigits)
{
	uint32_t cp = 0;
	int i, h;

	for (i = 0; i < ndigits; i++) {
		if (ps->p >= ps->end || (h = hex_val(*ps->p)) < 0)
			return fail(ps, at, "\\%c escape needs %d hex digits",
				    ndigits == 4 ? 'u' : 'U', ndigits);
		cp = cp << 4 | (uint32_t)h;
		ps->p++;
	}
	if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return fail(ps, at, "escape %.*s is not a Unicode scalar value",
			    ndigits + 2, at);
	return utf8_put(b, cp) < 0 ? fail(ps, at, "out of memory") : 0;
}

/* A backslash at the end of a line in a multi-line basic string eats the
 * newline and all whitespace and newlines after it. */
static int line_ending_backslash(struct parser *ps, const char *at)
{
	int r;

	skip_ws(ps);
	r = eat_newline(ps);
	if (r < 0)
		return -1;
	if (r == 0)
		return fail(ps, at, "only whitespace may follow a backslash "
			    "that ends a line");
	do {
		skip_ws(ps);
		r = eat_newline(ps);
	} while (r > 0);
	return r;
}

static int parse_escape(struct parser *ps, struct buf *b, bool multi)
{
	const char *at = ps->p++;
	char c, out, here[32];

	if (ps->p >= ps->end)
		return fail(ps, at, "unterminated string");
	c = *ps->p;
	switch (c) {
	case 'b': out = '\b'; break;
	case 't': out = '\t'; break;
	case 'n': out = '\n'; break;
	case 'f': out = '\f'; break;
	case 'r': out = '\r'; break;
	case '"': out = '"'; break;
	case '\\': out = '\\'; break;
	case 'u':
		ps->p++;
		return parse_unicode_escape(ps, b, at, 4);
	case 'U':
		ps->p++;
		return parse_unicode_escape(ps, b, at, 8);
	case ' ': case '\t': case '\n': case '\r':
		if (multi)
			return line_ending_backslash(ps, at);
		/* fall through */
	default:
		return fail(ps, at, "invalid escape sequence: backslash "
			    "followed by %s", show_here(ps, ps->p, here));
	}
	ps->p++;
	return buf_append(b, &out, 1) < 0 ? fail(ps, at, "out of memory") : 0;
}

/* At a quote q inside a string: 1 if it closes the string, 0 if it is
 * content (appended), -1 on error. In a multi-line string up to two quotes
 * may come right before the closing three. */
static int close_quote(struct parser *ps, struct buf *b, char q, bool multi)
{
	size_t n = 0;

	if (!multi) {
		ps->p++;
		return 1;
	}
	while (ps->p + n < ps->end && ps->p[n] == q && n < 6)
		n++;
	if (n > 5)
		return fail(ps, ps->p, "too many quotes in a row at the end "
			    "of a multi-line string");
	if (buf_append(b, ps->p, n < 3 ? n : n - 3) < 0)
		return fail(ps, ps->p, "out of memory");
	ps->p += n;
	return n >= 3;
}

/* The body of a string; the opening quote(s) are consumed. */
static int parse_string_body(struct parser *ps, struct buf *b, char q,
			     bool multi, const char *start)
{
	const char *run;
	int r;

	for (;;) {
		run = ps->p;
		while (ps->p < ps->end && *ps->p != q &&
		       (*ps->p != '\\' || q == '\'') &&
		       !is_ctrl((unsigned char)*ps->p))
			ps->p++;
		if (ps->p > run && buf_append(b, run, ps->p - run) < 0)
			return fail(ps, run, "out of memory");
		if (ps->p == ps->end)
			return fail(ps, start, "unterminated string");
		if (*ps->p == q) {
			r = close_quote(ps, b, q, multi);
			if (r)
				return r < 0 ? -1 : 0;
		} else if (*ps->p == '\\') {
			if (parse_escape(ps, b, multi) < 0)
				return -1;
		} else if (*ps->p == '\n' || *ps->p == '\r') {
			if (!multi)
				return fail(ps, ps->p, "unterminated string: "
					    "newline in a single-line string");
			/* CRLF becomes LF: the value does not depend on how
			 * the file was saved */
			if (eat_newline(ps) < 0)
				return -1;
			if (buf_append(b, "\n", 1) < 0)
				return fail(ps, ps->p, "out of memory");
		} else {
			return fail(ps, ps->p,
				    "control character U+%04X in a string",
				    (unsigned char)*ps->p);
		}
	}
}

/* Any of the four string forms; the result is NUL-terminated. */
static int parse_string(struct parser *ps, char **s, size_t *len)
{
	const char *start = ps->p;
	char q = *ps->p;
	bool multi = ps->end - ps->p >= 3 && ps->p[1] == q && ps->p[2] == q;
	struct buf b = BUF_INIT;

	ps->p += multi ? 3 : 1;
	/* a newline right after the opening quotes is not content */
	if (multi && eat_newline(ps) < 0)
		return -1;
	if (parse_string_body(ps, &b, q, multi, start) < 0) {
		buf_free(&b);
		return -1;
	}
	*s = (char *)buf_steal(&b, len);
	if (!*s)
		return fail(ps, start, "out of memory");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Keys                                                                */

static bool is_bare(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static void key_clear(struct key *k)
{
	int i;

	for (i = 0; i < k->n; i++)
		free(k->parts[i].s);
	free(k->parts);
	k->parts = NULL;
	k->n = k->cap = 0;
}

static int parse_simple_key(struct parser *ps, struct key_part *kp)
{
	const char *s = ps->p;
	char here[32];

	kp->at = s;
	if (s < ps->end && is_bare(*s)) {
		while (ps->p < ps->end && is_bare(*ps->p))
			ps->p++;
		kp->len = (size_t)(ps->p - s);
		kp->s = malloc(kp->len + 1);
		if (!kp->s)
			return fail(ps, s, "out of memory");
		memcpy(kp->s, s, kp->len);
		kp->s[kp->len] = '\0';
		return 0;
	}
	if (s < ps->end && (*s == '"' || *s == '\'')) {
		if (ps->end - s >= 3 && s[1] == *s && s[2] == *s)
			return fail(ps, s, "a multi-line string cannot be a key");
		return parse_string(ps, &kp->s, &kp->len);
	}
	return fail(ps, s, "expected a key, found %s", show_here(ps, s, here));
}

/* A dotted key, with the whitespace around it. */
static int parse_key(struct parser *ps, struct key *k)
{
	for (;;) {
		if (k->n == TOML_MAX_DEPTH)
			return fail(ps, ps->p, "key has more than %d parts",
				    TOML_MAX_DEPTH);
		if (k->n == k->cap) {
			int cap = k->cap ? k->cap * 2 : 4;
			struct key_part *parts;

			parts = realloc(k->parts, cap * sizeof(*parts));
			if (!parts)
				return fail(ps, ps->p, "out of memory");
			k->parts = parts;
			k->cap = cap;
		}
		skip_ws(ps);
		k->parts[k->n].s = NULL;
		if (parse_simple_key(ps, &k->parts[k->n]) < 0)
			return -1;
		k->n++;
		skip_ws(ps);
		if (ps->p == ps->end || *ps->p != '.')
			return 0;
		ps->p++;
	}
}

/* ------------------------------------------------------------------ */
/* Numbers, booleans, dates and times                                  */

static bool is_digit_base(char c, int base)
{
	switch (base) {
	case 2: return c == '0' || c == '1';
	case 8: return c >= '0' && c <= '7';
	case 10: return c >= '0' && c <= '9';
	default: return hex_val(c) >= 0;
	}
}

/* digit (_? digit)*: returns the end, or NULL when there is no digit or an
 * underscore is not between two digits. */
static const char *scan_digits(const char *s, const char *e, int base)
{
	if (s == e || !is_digit_base(*s, base))
		return NULL;
	for (s++; s < e; s++) {
		if (*s == '_') {
			if (s + 1 == e || !is_digit_base(s[1], base))
				return NULL;
			s++;
		} else if (!is_digit_base(*s, base)) {
			break;
		}
	}
	return s;
}

/* Whatever could be part of a number, so that a bad one is reported whole. */
static const char *number_end(const char *s, const char *e)
{
	while (s < e && (is_bare(*s) || *s == '.' || *s == '+'))
		s++;
	return s;
}

/* The same for a date or time, which may hold one space before a time. */
static const char *datetime_end(const char *s, const char *e)
{
	while (s < e && ((*s >= '0' && *s <= '9') || strchr("-:.+TtZz", *s) ||
			 (*s == ' ' && e - s > 1 && s[1] >= '0' &&
			  s[1] <= '9')) && *s)
		s++;
	return s;
}

static int bad_text(struct parser *ps, const char *s, const char *e,
		    const char *why)
{
	char text[64];

	show_text(text, sizeof(text), s, (size_t)(e - s));
	return fail(ps, s, "%s '%s'", why, text);
}

static int bad_number(struct parser *ps, const char *s, const char *why)
{
	return bad_text(ps, s, number_end(s, ps->end), why);
}

static int bad_datetime(struct parser *ps, const char *s, const char *why)
{
	return bad_text(ps, s, datetime_end(s, ps->end), why);
}

static struct toml_value *make_int(struct parser *ps, const char *s,
				   const char *d, const char *e, int base,
				   bool neg)
{
	uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	uint64_t acc = 0, dig;
	struct toml_value *v;

	for (; d < e; d++) {
		if (*d == '_')
			continue;
		dig = (uint64_t)hex_val(*d);
		if (acc > (lim - dig) / (uint64_t)base) {
			bad_number(ps, s, "integer out of range");
			return NULL;
		}
		acc = acc * (uint64_t)base + dig;
	}
	v = value_new(ps, TOML_INTEGER, s);
	if (!v)
		return NULL;
	if (neg && acc)
		v->u.i = -(int64_t)(acc - 1) - 1;
	else
		v->u.i = (int64_t)acc;
	return v;
}

static struct toml_value *make_float(struct parser *ps, const char *s,
				     const char *e)
{
	char *text = malloc((size_t)(e - s) + 1), *o, *endp;
	struct toml_value *v;
	const char *c;
	bool bad;
	double f;

	if (!text) {
		fail(ps, s, "out of memory");
		return NULL;
	}
	for (o = text, c = s; c < e; c++)
		if (*c != '_')
			*o++ = *c;
	*o = '\0';
	errno = 0;
	f = strtod_l(text, &endp, ps->c_locale);
	bad = *endp || (errno == ERANGE && isinf(f));
	free(text);
	if (bad) {
		bad_number(ps, s, "float out of range");
		return NULL;
	}
	v = value_new(ps, TOML_FLOAT, s);
	if (v)
		v->u.f = f;
	return v;
}

static struct toml_value *parse_decimal(struct parser *ps, const char *s,
					const char *d, const char *e, bool neg)
{
	const char *q = scan_digits(d, e, 10);
	bool is_float = false;

	if (!q)
		goto bad;
	if (*d == '0' && q - d > 1) {
		bad_number(ps, s, "leading zeros are not allowed in");
		return NULL;
	}
	if (q < e && *q == '.') {
		q = scan_digits(q + 1, e, 10);
		if (!q)
			goto bad;
		is_float = true;
	}
	if (q < e && (*q == 'e' || *q == 'E')) {
		q++;
		if (q < e && (*q == '+' || *q == '-'))
			q++;
		q = scan_digits(q, e, 10);
		if (!q)
			goto bad;
		is_float = true;
	}
	if (q != e)
		goto bad;
	if (is_float)
		return make_float(ps, s, e);
	return make_int(ps, s, d, e, 10, neg);
bad:
	bad_number(ps, s, "invalid number");
	return NULL;
}

static struct toml_value *parse_number(struct parser *ps)
{
	const char *s = ps->p, *d = s, *e;
	struct toml_value *v;
	bool neg = false;
	int base = 0;

	/* a sign or exponent sign never starts a new token, so '-' and '+'
	 * inside the token are taken too */
	e = number_end(s, ps->end);
	if (*d == '+' || *d == '-')
		neg = *d++ == '-';
	if (e - d == 3 && (!memcmp(d, "inf", 3) || !memcmp(d, "nan", 3))) {
		v = value_new(ps, TOML_FLOAT, s);
		if (v) {
			v->u.f = d[0] == 'i' ? INFINITY : NAN;
			if (neg)
				v->u.f = -v->u.f;
		}
		ps->p = e;
		return v;
	}
	if (e - d > 2 && d[0] == '0') {
		if (d[1] == 'x')
			base = 16;
		else if (d[1] == 'o')
			base = 8;
		else if (d[1] == 'b')
			base = 2;
	}
	if (base && d != s) {
		bad_number(ps, s, "a sign is not allowed on");
		return NULL;
	}
	if (base) {
		if (scan_digits(d + 2, e, base) != e) {
			bad_number(ps, s, "invalid number");
			return NULL;
		}
		v = make_int(ps, s, d + 2, e, base, false);
	} else {
		v = parse_decimal(ps, s, d, e, neg);
	}
	if (v)
		ps->p = e;
	return v;
}

/* Exactly n decimal digits at s (bounded by e). */
static bool digits(const char *s, const char *e, int n, int *out)
{
	int i, v = 0;

	if (e - s < n)
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

static int days_in_month(int year, int month)
{
	static const int days[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};
	bool leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);

	return month == 2 && leap ? 29 : days[month - 1];
}

/* YYYY-MM-DD at q; returns the end or NULL. */
static const char *parse_date(struct parser *ps, const char *q,
			      struct toml_datetime *dt)
{
	const char *e = ps->end;

	if (!digits(q, e, 4, &dt->year) || q[4] != '-' ||
	    !digits(q + 5, e, 2, &dt->month) || e - q < 8 || q[7] != '-' ||
	    !digits(q + 8, e, 2, &dt->day)) {
		bad_datetime(ps, q, "invalid date");
		return NULL;
	}
	if (dt->month < 1 || dt->month > 12) {
		bad_datetime(ps, q, "month out of range in");
		return NULL;
	}
	if (dt->day < 1 || dt->day > days_in_month(dt->year, dt->month)) {
		bad_datetime(ps, q, "day out of range in");
		return NULL;
	}
	dt->has_date = true;
	return q + 10;
}

/* HH:MM:SS[.fraction] at q; returns the end or NULL. */
static const char *parse_time(struct parser *ps, const char *s,
			      const char *q, struct toml_datetime *dt)
{
	const char *e = ps->end;
	int n;

	if (!digits(q, e, 2, &dt->hour) || e - q < 3 || q[2] != ':' ||
	    !digits(q + 3, e, 2, &dt->minute) || e - q < 6 || q[5] != ':' ||
	    !digits(q + 6, e, 2, &dt->second)) {
		bad_datetime(ps, s, "invalid time in");
		return NULL;
	}
	if (dt->hour > 23 || dt->minute > 59 || dt->second > 60) {
		bad_datetime(ps, s, "time out of range in");
		return NULL;
	}
	q += 8;
	if (q < e && *q == '.') {
		q++;
		if (q == e || *q < '0' || *q > '9') {
			bad_datetime(ps, s, "missing digits after '.' in");
			return NULL;
		}
		/* digits past nanoseconds are dropped, not rounded */
		for (n = 0; q < e && *q >= '0' && *q <= '9'; q++, n++)
			if (n < 9)
				dt->nanosecond = dt->nanosecond * 10 + *q - '0';
		for (; n < 9; n++)
			dt->nanosecond *= 10;
	}
	dt->has_time = true;
	return q;
}

/* Z, z or +HH:MM / -HH:MM at q, if there; returns the end or NULL. */
static const char *parse_offset(struct parser *ps, const char *s,
				const char *q, struct toml_datetime *dt)
{
	int h, m;

	if (q < ps->end && (*q == 'Z' || *q == 'z')) {
		dt->has_offset = true;
		return q + 1;
	}
	if (q == ps->end || (*q != '+' && *q != '-'))
		return q;
	if (!digits(q + 1, ps->end, 2, &h) || ps->end - q < 4 || q[3] != ':' ||
	    !digits(q + 4, ps->end, 2, &m)) {
		bad_datetime(ps, s, "invalid time offset in");
		return NULL;
	}
	if (h > 23 || m > 59) {
		bad_datetime(ps, s, "time offset out of range in");
		return NULL;
	}
	dt->offset_minutes = (*q == '-' ? -1 : 1) * (h * 60 + m);
	dt->has_offset = true;
	return q + 6;
}

static struct toml_value *parse_datetime(struct parser *ps)
{
	const char *s = ps->p, *q = s, *e = ps->end;
	struct toml_datetime dt = { 0 };
	struct toml_value *v;
	enum toml_type type;

	if (e - q >= 3 && q[2] == ':') {
		q = parse_time(ps, s, q, &dt);
		if (!q)
			return NULL;
	} else {
		q = parse_date(ps, q, &dt);
		if (!q)
			return NULL;
		/* a space separates date and time only if a time follows */
		if (q < e && (*q == 'T' || *q == 't' ||
			      (*q == ' ' && e - q >= 4 && q[1] >= '0' &&
			       q[1] <= '9' && q[2] >= '0' && q[2] <= '9' &&
			       q[3] == ':'))) {
			q = parse_time(ps, s, q + 1, &dt);
			if (q)
				q = parse_offset(ps, s, q, &dt);
			if (!q)
				return NULL;
		}
	}
	if (dt.has_offset)
		type = TOML_DATETIME;
	else if (dt.has_date && dt.has_time)
		type = TOML_DATETIME_LOCAL;
	else
		type = dt.has_date ? TOML_DATE_LOCAL : TOML_TIME_LOCAL;
	v = value_new(ps, type, s);
	if (!v)
		return NULL;
	v->u.dt = dt;
	ps->p = q;
	return v;
}

static bool is_date_start(const char *s, const char *e)
{
	int n;

	return (digits(s, e, 4, &n) && e - s > 4 && s[4] == '-') ||
	       (digits(s, e, 2, &n) && e - s > 2 && s[2] == ':');
}

static struct toml_value *parse_bool(struct parser *ps)
{
	const char *s = ps->p;
	size_t left = (size_t)(ps->end - s);
	struct toml_value *v;
	bool b;

	if (left >= 4 && !memcmp(s, "true", 4))
		b = true;
	else if (left >= 5 && !memcmp(s, "false", 5))
		b = false;
	else {
		bad_text(ps, s, number_end(s, ps->end), "invalid value");
		return NULL;
	}
	v = value_new(ps, TOML_BOOL, s);
	if (!v)
		return NULL;
	v->u.b = b;
	ps->p += b ? 4 : 5;
	return v;
}

/* ------------------------------------------------------------------ */
/* Arrays, inline tables, key/values, headers                          */

static struct toml_value *parse_value(struct parser *ps, int depth);
static int parse_keyval(struct parser *ps, struct toml_value *t);

static struct toml_value *parse_array(struct parser *ps, int depth)
{
	const char *at = ps->p;
	struct toml_value *a, *v;
	char here[32];

	if (depth > TOML_MAX_DEPTH) {
		fail(ps, at, "tables and arrays nested deeper than %d levels",
		     TOML_MAX_DEPTH);
		return NULL;
	}
	a = value_new(ps, TOML_ARRAY, at);
	if (!a)
		return NULL;
	a->depth = depth;
	ps->p++;
	for (;;) {
		if (skip_ws_nl(ps) < 0)
			break;
		if (ps->p < ps->end && *ps->p == ']') {
			ps->p++;
			return a;
		}
		if (ps->p == ps->end) {
			fail(ps, at, "unterminated array");
			break;
		}
		v = parse_value(ps, depth + 1);
		if (!v)
			break;
		if (array_push(ps, a, v, at) < 0) {
			toml_free(v);
			break;
		}
		if (skip_ws_nl(ps) < 0)
			break;
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == ']') {
			ps->p++;
			return a;
		}
		fail(ps, ps->p, "expected ',' or ']' in an array, found %s",
		     show_here(ps, ps->p, here));
		break;
	}
	toml_free(a);
	return NULL;
}

static struct toml_value *parse_inline_table(struct parser *ps, int depth)
{
	const char *at = ps->p;
	struct toml_value *t = table_new(ps, at, depth, 0);
	char here[32];

	if (!t)
		return NULL;
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '}')
		goto done;
	for (;;) {
		if (ps->p < ps->end && strchr("\r\n#", *ps->p) && *ps->p) {
			fail(ps, ps->p, "an inline table must be on one line");
			break;
		}
		if (parse_keyval(ps, t) < 0)
			break;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == '}')
			goto done;
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			skip_ws(ps);
			if (ps->p < ps->end && *ps->p == '}') {
				fail(ps, ps->p, "trailing comma in an "
				     "inline table");
				break;
			}
			continue;
		}
		if (ps->p == ps->end)
			fail(ps, at, "unterminated inline table");
		else if (strchr("\r\n#", *ps->p) && *ps->p)
			fail(ps, ps->p, "an inline table must be on one line");
		else
			fail(ps, ps->p, "expected ',' or '}' in an inline "
			     "table, found %s", show_here(ps, ps->p, here));
		break;
	}
	toml_free(t);
	return NULL;
done:
	ps->p++;
	t->flags = TF_INLINE;
	return t;
}

/* After a scalar, only something that can follow a value may come. */
static bool at_value_end(const struct parser *ps)
{
	if (ps->p == ps->end)
		return true;
	return strchr(" \t\r\n#,]}", *ps->p) && *ps->p != '\0';
}

static struct toml_value *parse_scalar(struct parser *ps)
{
	const char *s = ps->p;
	struct toml_value *v;
	char c = *s, here[32], text[64];

	if (c == 't' || c == 'f')
		v = parse_bool(ps);
	else if (is_date_start(s, ps->end))
		v = parse_datetime(ps);
	else
		v = parse_number(ps);
	if (v && !at_value_end(ps)) {
		show_text(text, sizeof(text), s, (size_t)(ps->p - s));
		fail(ps, ps->p, "unexpected %s after '%s'",
		     show_here(ps, ps->p, here), text);
		toml_free(v);
		return NULL;
	}
	return v;
}

static struct toml_value *parse_value(struct parser *ps, int depth)
{
	const char *s = ps->p;
	struct toml_value *v;
	char here[32];

	if (s == ps->end) {
		fail(ps, s, "expected a value, found end of file");
		return NULL;
	}
	switch (*s) {
	case '"':
	case '\'':
		v = value_new(ps, TOML_STRING, s);
		if (v && parse_string(ps, &v->u.str.s, &v->u.str.len) < 0) {
			toml_free(v);
			return NULL;
		}
		return v;
	case '[':
		return parse_array(ps, depth);
	case '{':
		return parse_inline_table(ps, depth);
	case 't': case 'f': case 'i': case 'n': case '+': case '-':
	case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		return parse_scalar(ps);
	default:
		fail(ps, s, "expected a value, found %s",
		     show_here(ps, s, here));
		return NULL;
	}
}

/* One step of a dotted key on the left of '=': into a table made by dotted
 * keys, or a new one. */
static struct toml_value *descend_dotted(struct parser *ps,
					 struct toml_value *t,
					 struct key *k, int i)
{
	struct key_part *kp = &k->parts[i];
	struct toml_entry *e = table_find(t, kp->s, kp->len);
	char name[256];

	if (!e)
		return table_add_table(ps, t, kp, TF_DOTTED);
	/* A table that so far only exists as the parent of a [header] may be
	 * filled by dotted keys instead; it counts as defined from then on
	 * (so no later [header] may define it), as tomllib does. */
	if (e->val->type == TOML_TABLE && e->val->flags == TF_IMPLICIT)
		e->val->flags = TF_DOTTED;
	show_key(k, i + 1, name, sizeof(name));
	if (e->val->type != TOML_TABLE)
		fail(ps, kp->at, "key '%s' is already %s, not a table", name,
		     a_type(e->val->type));
	else if (e->val->flags & TF_INLINE)
		fail(ps, kp->at, "cannot add to inline table '%s'", name);
	else if (!(e->val->flags & TF_DOTTED))
		fail(ps, kp->at, "cannot add to table '%s' with dotted keys: "
		     "it belongs to a [table] header", name);
	else
		return e->val;
	return NULL;
}

static int parse_keyval(struct parser *ps, struct toml_value *t)
{
	struct key k = { 0 };
	struct key_part *last;
	struct toml_value *v;
	char name[256], here[32];
	int i, rc = -1;

	if (parse_key(ps, &k) < 0)
		goto out;
	if (ps->p == ps->end || *ps->p != '=') {
		fail(ps, ps->p, "expected '=' after key '%s', found %s",
		     show_key(&k, k.n, name, sizeof(name)),
		     show_here(ps, ps->p, here));
		goto out;
	}
	ps->p++;
	skip_ws(ps);
	for (i = 0; i < k.n - 1 && t; i++)
		t = descend_dotted(ps, t, &k, i);
	if (!t)
		goto out;
	last = &k.parts[k.n - 1];
	if (table_find(t, last->s, last->len)) {
		fail(ps, last->at, "duplicate key '%s'",
		     show_key(&k, k.n, name, sizeof(name)));
		goto out;
	}
	v = parse_value(ps, t->depth + 1);
	if (!v)
		goto out;
	if (table_add(ps, t, last, v) < 0) {
		toml_free(v);
		goto out;
	}
	rc = 0;
out:
	key_clear(&k);
	return rc;
}

/* One step of a [header] key: into any table that is not inline, or the
 * last table of an array of tables, or a new (implicit) table. */
static struct toml_value *descend_header(struct parser *ps,
					 struct toml_value *t,
					 struct key *k, int i)
{
	struct key_part *kp = &k->parts[i];
	struct toml_entry *e = table_find(t, kp->s, kp->len);
	struct toml_value *v;
	char name[256];

	if (!e)
		return table_add_table(ps, t, kp, TF_IMPLICIT);
	v = e->val;
	if (v->type == TOML_TABLE && !(v->flags & TF_INLINE))
		return v;
	if (v->type == TOML_ARRAY && (v->flags & TF_AOT))
		return v->u.arr.items[v->u.arr.len - 1];
	show_key(k, i + 1, name, sizeof(name));
	if (v->type == TOML_TABLE)
		fail(ps, kp->at, "cannot add to inline table '%s'", name);
	else if (v->type == TOML_ARRAY)
		fail(ps, kp->at, "cannot add to '%s': it is a static array, "
		     "not an array of tables", name);
	else
		fail(ps, kp->at, "key '%s' is already %s, not a table", name,
		     a_type(v->type));
	return NULL;
}

static struct toml_value *define_table(struct parser *ps,
				       struct toml_value *t, struct key *k)
{
	struct key_part *kp = &k->parts[k->n - 1];
	struct toml_entry *e = table_find(t, kp->s, kp->len);
	char name[256];

	if (!e)
		return table_add_table(ps, t, kp, TF_HEADER);
	if (e->val->type == TOML_TABLE && e->val->flags == TF_IMPLICIT) {
		e->val->flags = TF_HEADER;
		e->val->line = line_at(ps, kp->at);
		return e->val;
	}
	show_key(k, k->n, name, sizeof(name));
	if (e->val->type == TOML_TABLE)
		fail(ps, kp->at, "table '%s' is already defined", name);
	else
		fail(ps, kp->at, "key '%s' is already %s, not a table", name,
		     a_type(e->val->type));
	return NULL;
}

static struct toml_value *define_aot(struct parser *ps, struct toml_value *t,
				     struct key *k)
{
	struct key_part *kp = &k->parts[k->n - 1];
	struct toml_entry *e = table_find(t, kp->s, kp->len);
	struct toml_value *a, *tab;
	char name[256];

	if (e && (e->val->type != TOML_ARRAY || !(e->val->flags & TF_AOT))) {
		fail(ps, kp->at, "cannot make '%s' an array of tables: it is "
		     "already %s", show_key(k, k->n, name, sizeof(name)),
		     e->val->type == TOML_ARRAY ? "a static array" :
		     a_type(e->val->type));
		return NULL;
	}
	if (e) {
		a = e->val;
	} else {
		if (t->depth + 1 > TOML_MAX_DEPTH) {
			fail(ps, kp->at, "tables and arrays nested deeper "
			     "than %d levels", TOML_MAX_DEPTH);
			return NULL;
		}
		a = value_new(ps, TOML_ARRAY, kp->at);
		if (!a)
			return NULL;
		a->flags = TF_AOT;
		a->depth = t->depth + 1;
		if (table_add(ps, t, kp, a) < 0) {
			toml_free(a);
			return NULL;
		}
	}
	tab = table_new(ps, kp->at, a->depth + 1, TF_HEADER);
	if (tab && array_push(ps, a, tab, kp->at) < 0) {
		toml_free(tab);
		tab = NULL;
	}
	/* an empty array of tables left behind is harmless: the parse fails */
	return tab;
}

static int parse_header(struct parser *ps)
{
	bool aot = ps->end - ps->p >= 2 && ps->p[1] == '[';
	struct toml_value *t = ps->root;
	struct key k = { 0 };
	char here[32];
	int i, rc = -1;

	ps->p += aot ? 2 : 1;
	if (parse_key(ps, &k) < 0)
		goto out;
	if (ps->p == ps->end || *ps->p != ']' ||
	    (aot && (ps->p + 1 == ps->end || ps->p[1] != ']'))) {
		/* "[[a]": complain about what follows the single ']' */
		if (aot && ps->p < ps->end && *ps->p == ']')
			ps->p++;
		fail(ps, ps->p, "expected '%s' to close the header, found %s",
		     aot ? "]]" : "]", show_here(ps, ps->p, here));
		goto out;
	}
	ps->p += aot ? 2 : 1;
	for (i = 0; i < k.n - 1 && t; i++)
		t = descend_header(ps, t, &k, i);
	if (t)
		t = aot ? define_aot(ps, t, &k) : define_table(ps, t, &k);
	if (!t)
		goto out;
	ps->cur = t;
	rc = 0;
out:
	key_clear(&k);
	return rc;
}

static int parse_document(struct parser *ps)
{
	char c;

	if (ps->end - ps->p >= 3 && !memcmp(ps->p, "\xef\xbb\xbf", 3))
		ps->p += 3;
	for (;;) {
		skip_ws(ps);
		if (ps->p == ps->end)
			return 0;
		c = *ps->p;
		if (c == '[') {
			if (parse_header(ps) < 0)
				return -1;
		} else if (c != '#' && c != '\n' && c != '\r') {
			if (parse_keyval(ps, ps->cur) < 0)
				return -1;
		}
		if (end_of_line(ps) < 0)
			return -1;
	}
}

static void seed_init(uint64_t seed[2])
{
	struct timespec ts;

	if (getrandom(seed, 2 * sizeof(seed[0]), GRND_NONBLOCK) ==
	    (ssize_t)(2 * sizeof(seed[0])))
		return;
	/* no entropy yet (early boot): still vary between runs */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	seed[0] = (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)seed;
	seed[1] = (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&ts;
}

struct toml_value *toml_parse(const char *text, size_t len, char *err,
			      size_t errlen)
{
	struct parser ps = { 0 };

	ps.start = ps.p = ps.lpos = text ? text : "";
	ps.end = ps.start + (text ? len : 0);
	ps.line = 1;
	ps.err = err;
	ps.errlen = errlen;
	if (err && errlen)
		err[0] = '\0';
	if (len > TOML_MAX_INPUT) {
		fail(&ps, ps.start, "document larger than %zu bytes",
		     TOML_MAX_INPUT);
		return NULL;
	}
	if (check_utf8(&ps) < 0)
		return NULL;
	ps.c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	if (!ps.c_locale) {
		fail(&ps, ps.start, "out of memory");
		return NULL;
	}
	seed_init(ps.seed);
	ps.root = ps.cur = table_new(&ps, ps.start, 0, TF_HEADER);
	if (ps.root && parse_document(&ps) < 0) {
		toml_free(ps.root);
		ps.root = NULL;
	}
	freelocale(ps.c_locale);
	return ps.root;
}

/* ------------------------------------------------------------------ */
/* Accessors                                                           */

enum toml_type toml_type(const struct toml_value *v)
{
	return v ? v->type : TOML_NONE;
}

const char *toml_type_name(enum toml_type t)
{
	const char *s = a_type(t);

	/* the same words without the article */
	if (!strncmp(s, "an ", 3))
		return s + 3;
	return strncmp(s, "a ", 2) ? s : s + 2;
}

int toml_line(const struct toml_value *v)
{
	return v ? v->line : 0;
}

const struct toml_value *toml_table_get(const struct toml_value *table,
					const char *key)
{
	const struct toml_entry *e;

	if (!table || table->type != TOML_TABLE || !key)
		return NULL;
	e = table_find(table, key, strlen(key));
	return e ? e->val : NULL;
}

size_t toml_table_len(const struct toml_value *table)
{
	return table && table->type == TOML_TABLE ? table->u.tab.len : 0;
}

const char *toml_table_key_at(const struct toml_value *table, size_t i,
			      size_t *keylen, const struct toml_value **value)
{
	const struct toml_entry *e;

	if (!table || table->type != TOML_TABLE || i >= table->u.tab.len)
		return NULL;
	e = &table->u.tab.ents[i];
	if (keylen)
		*keylen = e->keylen;
	if (value)
		*value = e->val;
	return e->key;
}

size_t toml_array_len(const struct toml_value *array)
{
	return array && array->type == TOML_ARRAY ? array->u.arr.len : 0;
}

const struct toml_value *toml_array_at(const struct toml_value *array,
				       size_t i)
{
	if (!array || array->type != TOML_ARRAY || i >= array->u.arr.len)
		return NULL;
	return array->u.arr.items[i];
}

const char *toml_string(const struct toml_value *v, size_t *len)
{
	if (!v || v->type != TOML_STRING)
		return NULL;
	if (len)
		*len = v->u.str.len;
	return v->u.str.s;
}

int64_t toml_int(const struct toml_value *v)
{
	return v && v->type == TOML_INTEGER ? v->u.i : 0;
}

double toml_float(const struct toml_value *v)
{
	return v && v->type == TOML_FLOAT ? v->u.f : 0.0;
}

bool toml_bool(const struct toml_value *v)
{
	return v && v->type == TOML_BOOL ? v->u.b : false;
}

int toml_datetime(const struct toml_value *v, struct toml_datetime *dt)
{
	if (!v || v->type < TOML_DATETIME)
		return -1;
	*dt = v->u.dt;
	return 0;
}
