/* mb_policy: loading, evaluating and creating Keylime measured-boot
 * reference states. Semantics and differences from Keylime: mb_policy.h. */
#include "attest/mb_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "tpm/tpm.h"
#include "util/encode.h"
#include "util/error.h"

#define SHA256_LEN 32

static const char cmdline_prefix[] = "kernel_cmdline: ";

struct mb_digest {
	size_t n;
	uint16_t alg[UEFI_MAX_BANKS];
	uint8_t v[UEFI_MAX_BANKS][TPM_DIGEST_MAX];
};

struct mb_digests {
	size_t n;
	struct mb_digest *v;
};

struct mb_sig {
	uint8_t owner[16];	/* the GUID text read as an EFI_GUID */
	uint8_t owner_raw[16];	/* read byte by byte (tpm2-tools < 5.2) */
	struct buf data;
};

struct mb_sigs {
	size_t n;
	struct mb_sig *v;
};

struct mb_bios {
	struct mb_digest scrtm;
	struct mb_digests fw;
};


struct mb_refstate {
	bool empty;
	bool has_secureboot;
	size_t nbios;
	struct mb_bios *bios;
	struct mb_sigs pk, kek, db, dbx, vendor_db;
	struct mb_digests mokdig, mokxdig;
	bool has_fw_apps;
	struct mb_digests fw_apps;
	size_t nkernels;
	struct mb_kernel *kernels;
};

/* ---- loading ---- */

/* "0x" and lower-case hex, an even number of digits; want > 0: that many
 * bytes. */
static int hex_load(json_t *j, const char *path, size_t want,
		    struct buf *out, char *err, size_t errlen)
{
	const char *s = json_string_value(j);
	size_t i, n;

	n = s ? json_string_length(j) : 0;
	for (i = 2; s && i < n; i++)
		if (!(s[i] >= '0' && s[i] <= '9') &&
		    !(s[i] >= 'a' && s[i] <= 'f'))
			break;
	if (!s || n < 4 || s[0] != '0' || s[1] != 'x' || i != n || n % 2) {
		error_set(err, errlen, "%s: expected 0x and lower-case hex "
			  "digits", path);
		return -1;
	}
	if (want && (n - 2) / 2 != want) {
		error_set(err, errlen, "%s: expected %zu bytes, got %zu", path,
			  want, (n - 2) / 2);
		return -1;
	}
	if (hex_decode(out, s + 2, n - 2)) {
		error_set(err, errlen, "%s: out of memory", path);
		return -1;
	}
	return 0;
}

static int hex_load_fixed(json_t *j, const char *path, uint8_t *out,
			  size_t len, char *err, size_t errlen)
{
	struct buf b = BUF_INIT;

	if (hex_load(j, path, len, &b, err, errlen)) {
		buf_free(&b);
		return -1;
	}
	memcpy(out, b.data, len);
	buf_free(&b);
	return 0;
}

/* {"sha256": "0x..", ...} */
static int digest_load(json_t *j, const char *path, struct mb_digest *d,
		       char *err, size_t errlen)
{
	char sub[96];
	const char *key;
	json_t *v;
	TPM2_ALG_ID alg;

	memset(d, 0, sizeof(*d));
	if (!json_is_object(j) || !json_object_size(j)) {
		error_set(err, errlen, "%s: expected a digest such as "
			  "{\"sha256\": \"0x...\"}", path);
		return -1;
	}
	json_object_foreach(j, key, v) {
		if (tpm_alg_from_name(key, &alg) || !tpm_hash_size(alg) ||
		    d->n == UEFI_MAX_BANKS) {
			error_set(err, errlen, "%s: unknown hash algorithm "
				  "\"%s\"", path, key);
			return -1;
		}
		snprintf(sub, sizeof(sub), "%s.%s", path, key);
		d->alg[d->n] = alg;
		if (hex_load_fixed(v, sub, d->v[d->n], tpm_hash_size(alg), err,
				   errlen))
			return -1;
		d->n++;
	}
	return 0;
}

static json_t *list_get(json_t *top, const char *key, bool required,
			char *err, size_t errlen)
{
	json_t *j = json_object_get(top, key);

	if (!j && !required)
		return NULL;
	if (!json_is_array(j)) {
		error_set(err, errlen, j ? "%s: expected a list" :
			  "the reference state lacks %s", key);
		return NULL;
	}
	return j;
}

static int digests_load(json_t *j, const char *path, struct mb_digests *ds,
			char *err, size_t errlen)
{
	char sub[96];
	size_t i;

	if (!json_is_array(j)) {
		error_set(err, errlen, "%s: expected a list", path);
		return -1;
	}
	ds->v = calloc(json_array_size(j) + 1, sizeof(*ds->v));
	if (!ds->v) {
		error_set(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < json_array_size(j); i++) {
		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		if (digest_load(json_array_get(j, i), sub, &ds->v[i], err,
				errlen))
			return -1;
		ds->n++;
	}
	return 0;
}

static int sigs_load(json_t *top, const char *key, bool required,
		     struct mb_sigs *sigs, char *err, size_t errlen)
{
	json_t *j = list_get(top, key, required, err, errlen), *e;
	char sub[96];
	const char *owner;
	struct mb_sig *s;
	size_t i, k;

	if (!j)
		return required || json_object_get(top, key) ? -1 : 0;
	sigs->v = calloc(json_array_size(j) + 1, sizeof(*sigs->v));
	if (!sigs->v) {
		error_set(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < json_array_size(j); i++) {
		e = json_array_get(j, i);
		s = &sigs->v[i];
		sigs->n++;
		owner = json_string_value(json_object_get(e, "SignatureOwner"));
		snprintf(sub, sizeof(sub), "%s[%zu].SignatureOwner", key, i);
		if (!owner || uefi_guid_parse(owner, s->owner)) {
			error_set(err, errlen, "%s: expected a lower-case GUID "
				  "such as 8be4df61-93ca-11d2-aa0d-"
				  "00e098032b8c", sub);
			return -1;
		}
		/* The other spelling: the 16 bytes in text order. */
		for (k = 0; k < 16; k++)
			s->owner_raw[k] = s->owner[(k < 4 ? 3 - k : k < 6 ?
				9 - k : k < 8 ? 13 - k : k)];
		snprintf(sub, sizeof(sub), "%s[%zu].SignatureData", key, i);
		if (hex_load(json_object_get(e, "SignatureData"), sub, 0,
			     &s->data, err, errlen))
			return -1;
	}
	return 0;
}

/* ---- kernel_cmdline patterns ----
 *
 * Keylime matches re.fullmatch("kernel_cmdline: " + pattern, line) with
 * Python's re. This is the subset of that syntax command-line patterns
 * use, compiled to a Thompson NFA and run as a Pike VM: time at most
 * (line length x program size), memory linear in the program, whatever
 * the pattern (glibc's regexec needs seconds and gigabytes for some).
 *
 * Supported: literals, '.', '^', '$', [...] (ranges, negation, escapes),
 * \d \D \s \S \w \W (ASCII only: a non-ASCII code point matches none of
 * them, where Python's Unicode classes would match some), escaped
 * non-alphanumerics, ( ), (?: ), '|', * + ? {m} {m,} {,n} {m,n} (bounds
 * <= RX_MAX_BOUND), and their lazy forms (the same full matches).
 * Refused: other (?...) groups, other escapes (\b, \A, back references,
 * ...), repeated quantifiers. Both pattern and line are read as UTF-8 code
 * points; an invalid byte of the line stands for itself and matches only
 * '.' and negated classes. */

#define RX_MAX_LEN 16384	/* longest pattern, in bytes */
#define RX_MAX_BOUND 255	/* largest {m,n} bound */
#define RX_MAX_DEPTH 64		/* nested groups */
#define RX_MAX_PROG 8192	/* instructions */
#define CMDLINE_MAX 8192	/* longest command line matched, in bytes */
#define RX_INVALID 0x110000u	/* code points of invalid UTF-8 bytes */

enum { RX_CHAR, RX_ANY, RX_CLASS, RX_BOL, RX_EOL, RX_SPLIT, RX_JMP,
       RX_MATCH };

struct rx_inst {
	uint8_t op;
	uint32_t x, y;		/* char or class; jump targets */
};

struct rx_range {
	uint32_t lo, hi;
};

struct rx_class {
	bool neg;
	size_t first, n;	/* in rx.rng */
};

struct rx {
	struct rx_inst *prog;
	size_t n;
	struct rx_class *cls;
	size_t ncls;
	struct rx_range *rng;
	size_t nrng, caprng;
};

enum { RN_CHAR, RN_ANY, RN_CLASS, RN_BOL, RN_EOL, RN_EMPTY, RN_CAT, RN_ALT,
       RN_REP };

#define RX_NONE ((size_t)-1)

/* Concatenations and alternations are lists (first child a, siblings
 * linked by next), so that neither parsing nor emitting recurses once per
 * character: only groups nest, at most RX_MAX_DEPTH deep. */
struct rx_node {
	uint8_t type;
	uint32_t v;		/* char, class */
	int min, max;		/* RN_REP; max -1: no bound */
	size_t a;		/* RN_CAT, RN_ALT: first child; RN_REP: body */
	size_t next;		/* next sibling in the parent's list */
};

struct rx_parse {
	const uint32_t *p;
	size_t n, i;
	struct rx_node *node;
	size_t nnodes, cap;
	struct rx *rx;
	int depth;
	char *why;
	size_t whylen;
};

/* UTF-8 -> code points; an invalid byte b becomes RX_INVALID + b. */
static size_t utf8_decode(const uint8_t *s, size_t n, uint32_t *out)
{
	size_t i = 0, k = 0, len, j;
	uint32_t cp, min;

	while (i < n) {
		cp = s[i];
		len = cp < 0x80 ? 1 : (cp & 0xe0) == 0xc0 ? 2 :
		      (cp & 0xf0) == 0xe0 ? 3 : (cp & 0xf8) == 0xf0 ? 4 : 0;
		min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
		if (len > 1 && i + len <= n) {
			cp &= 0x3fu >> (len - 1);
			for (j = 1; j < len && (s[i + j] & 0xc0) == 0x80; j++)
				cp = cp << 6 | (s[i + j] & 0x3f);
			if (j == len && cp >= min && cp < 0x110000 &&
			    (cp < 0xd800 || cp > 0xdfff)) {
				out[k++] = cp;
				i += len;
				continue;
			}
		}
		out[k++] = len == 1 ? cp : RX_INVALID + s[i];
		i++;
	}
	return k;
}

static long rx_node_new(struct rx_parse *ps, uint8_t type, uint32_t v)
{
	struct rx_node *nd;

	if (ps->nnodes == ps->cap) {
		error_set(ps->why, ps->whylen, "pattern too complex");
		return -1;
	}
	nd = &ps->node[ps->nnodes];
	memset(nd, 0, sizeof(*nd));
	nd->type = type;
	nd->v = v;
	nd->a = nd->next = RX_NONE;
	return (long)ps->nnodes++;
}

/* Appends child to the list node *list (made of type on first use). */
static int rx_list_add(struct rx_parse *ps, uint8_t type, long *list,
		       long *last, long child)
{
	if (*list < 0) {
		*list = rx_node_new(ps, type, 0);
		if (*list < 0)
			return -1;
		ps->node[*list].a = (size_t)child;
	} else {
		ps->node[*last].next = (size_t)child;
	}
	*last = child;
	return 0;
}

static int rx_range_add(struct rx *rx, uint32_t lo, uint32_t hi)
{
	struct rx_range *grown;

	if (rx->nrng == rx->caprng) {
		grown = realloc(rx->rng, (rx->caprng ? 2 * rx->caprng : 16) *
				sizeof(*grown));
		if (!grown)
			return -1;
		rx->rng = grown;
		rx->caprng = rx->caprng ? 2 * rx->caprng : 16;
	}
	rx->rng[rx->nrng].lo = lo;
	rx->rng[rx->nrng++].hi = hi;
	return 0;
}

/* \d \s \w and their negations, as ranges. */
static int rx_ranges_of(struct rx *rx, uint32_t c)
{
	static const struct rx_range d[] = { { '0', '9' } },
		s[] = { { '\t', '\r' }, { 0x1c, ' ' } },
		w[] = { { '0', '9' }, { 'A', 'Z' }, { '_', '_' },
			{ 'a', 'z' } };
	const struct rx_range *set;
	uint32_t next = 0;
	size_t n, i;
	int r = 0;

	switch (c | 0x20) {
	case 'd': set = d; n = 1; break;
	case 's': set = s; n = 2; break;
	default: set = w; n = 4; break;
	}
	if (c >= 'a') {
		for (i = 0; i < n && !r; i++)
			r = rx_range_add(rx, set[i].lo, set[i].hi);
		return r;
	}
	/* Upper case: the ASCII complement (see above). */
	for (i = 0; i < n && !r; i++) {
		if (set[i].lo > next)
			r = rx_range_add(rx, next, set[i].lo - 1);
		next = set[i].hi + 1;
	}
	return r ? r : rx_range_add(rx, next, 0x7f);
}

static bool rx_is_alnum(uint32_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z');
}

static bool rx_is_class_escape(uint32_t c)
{
	return c == 'd' || c == 'D' || c == 's' || c == 'S' || c == 'w' ||
	       c == 'W';
}

static long rx_class_begin(struct rx_parse *ps, bool neg)
{
	struct rx *rx = ps->rx;
	struct rx_class *grown;

	/* Each class takes at least two pattern characters. */
	if (!rx->cls) {
		rx->cls = calloc(ps->n / 2 + 1, sizeof(*rx->cls));
		if (!rx->cls) {
			error_set(ps->why, ps->whylen, "out of memory");
			return -1;
		}
	}
	grown = rx->cls;
	grown[rx->ncls].neg = neg;
	grown[rx->ncls].first = rx->nrng;
	return (long)rx->ncls++;
}

static void rx_class_end(struct rx *rx, long k)
{
	rx->cls[k].n = rx->nrng - rx->cls[k].first;
}

/* One character of a class or escape: a literal, or -1 (error set), or
 * -2 for a class escape already added. */
static long rx_escape(struct rx_parse *ps, bool in_class)
{
	uint32_t c;

	if (++ps->i >= ps->n) {
		error_set(ps->why, ps->whylen, "trailing backslash");
		return -1;
	}
	c = ps->p[ps->i++];
	if (!rx_is_alnum(c))
		return c;
	if (rx_is_class_escape(c) && in_class) {
		if (rx_ranges_of(ps->rx, c)) {
			error_set(ps->why, ps->whylen, "out of memory");
			return -1;
		}
		return -2;
	}
	error_set(ps->why, ps->whylen, "unsupported escape \\%c", (char)c);
	return -1;
}

static long rx_class(struct rx_parse *ps)
{
	long k, lo, hi;
	bool neg;

	ps->i++;
	neg = ps->i < ps->n && ps->p[ps->i] == '^';
	ps->i += neg;
	k = rx_class_begin(ps, neg);
	if (k < 0)
		return -1;
	while (ps->i < ps->n &&
	       (ps->p[ps->i] != ']' || ps->rx->nrng == ps->rx->cls[k].first)) {
		lo = ps->p[ps->i] == '\\' ? rx_escape(ps, true) :
					    (long)ps->p[ps->i++];
		if (lo == -1)
			return -1;
		if (lo == -2 && ps->i + 1 < ps->n && ps->p[ps->i] == '-' &&
		    ps->p[ps->i + 1] != ']') {
			error_set(ps->why, ps->whylen, "bad character range in "
				  "[...]");
			return -1;
		}
		if (lo == -2)
			continue;
		hi = lo;
		if (ps->i + 1 < ps->n && ps->p[ps->i] == '-' &&
		    ps->p[ps->i + 1] != ']') {
			ps->i++;
			hi = ps->p[ps->i] == '\\' ? rx_escape(ps, true) :
						    (long)ps->p[ps->i++];
			if (hi == -1)
				return -1;
			if (hi == -2 || hi < lo) {
				error_set(ps->why, ps->whylen, "bad character "
					  "range in [...]");
				return -1;
			}
		}
		if (rx_range_add(ps->rx, (uint32_t)lo, (uint32_t)hi)) {
			error_set(ps->why, ps->whylen, "out of memory");
			return -1;
		}
	}
	if (ps->i >= ps->n) {
		error_set(ps->why, ps->whylen, "unterminated [");
		return -1;
	}
	ps->i++;
	rx_class_end(ps->rx, k);
	return rx_node_new(ps, RN_CLASS, (uint32_t)k);
}

/* {m}, {m,}, {,n}, {m,n} at ps->i ('{'): consumed into min/max, or false
 * (nothing consumed) when it is none: Python then reads '{' literally. */
static bool rx_bounds(struct rx_parse *ps, long *min, long *max)
{
	size_t i = ps->i + 1, digits;
	long lo = 0, hi = 0;

	for (digits = 0; i < ps->n && ps->p[i] >= '0' && ps->p[i] <= '9' &&
	     digits < 9; i++, digits++)
		lo = lo * 10 + (long)(ps->p[i] - '0');
	if (i < ps->n && ps->p[i] == '}' && digits) {
		*min = *max = lo;
		ps->i = i + 1;
		return true;
	}
	if (i >= ps->n || ps->p[i] != ',')
		return false;
	*min = lo;
	for (i++, digits = 0; i < ps->n && ps->p[i] >= '0' &&
	     ps->p[i] <= '9' && digits < 9; i++, digits++)
		hi = hi * 10 + (long)(ps->p[i] - '0');
	if (i >= ps->n || ps->p[i] != '}')
		return false;
	*max = digits ? hi : -1;
	ps->i = i + 1;
	return true;
}

/* A quantifier at ps->i: true with its bounds (consumed), or false. */
static bool rx_quantifier(struct rx_parse *ps, long *min, long *max)
{
	if (ps->i >= ps->n)
		return false;
	switch (ps->p[ps->i]) {
	case '*':
		*min = 0, *max = -1;
		break;
	case '+':
		*min = 1, *max = -1;
		break;
	case '?':
		*min = 0, *max = 1;
		break;
	case '{':
		return rx_bounds(ps, min, max);
	default:
		return false;
	}
	ps->i++;
	return true;
}

static long rx_alt(struct rx_parse *ps);

static long rx_atom(struct rx_parse *ps)
{
	uint32_t c = ps->p[ps->i];
	long k, min, max;
	size_t at = ps->i;

	switch (c) {
	case '(':
		if (ps->depth == RX_MAX_DEPTH) {
			error_set(ps->why, ps->whylen, "groups nested deeper "
				  "than %d", RX_MAX_DEPTH);
			return -1;
		}
		if (ps->i + 1 < ps->n && ps->p[ps->i + 1] == '?') {
			if (ps->i + 2 >= ps->n || ps->p[ps->i + 2] != ':') {
				error_set(ps->why, ps->whylen, "(?...) groups "
					  "other than (?:...) are not "
					  "supported");
				return -1;
			}
			ps->i += 2;
		}
		ps->i++;
		ps->depth++;
		k = rx_alt(ps);
		ps->depth--;
		if (k < 0)
			return -1;
		if (ps->i >= ps->n || ps->p[ps->i] != ')') {
			error_set(ps->why, ps->whylen, "unbalanced (");
			return -1;
		}
		ps->i++;
		return k;
	case '[':
		return rx_class(ps);
	case '\\':
		if (ps->i + 1 < ps->n && rx_is_class_escape(ps->p[ps->i + 1])) {
			k = rx_class_begin(ps, false);
			if (k < 0 || rx_ranges_of(ps->rx, ps->p[ps->i + 1]))
				return -1;
			rx_class_end(ps->rx, k);
			ps->i += 2;
			return rx_node_new(ps, RN_CLASS, (uint32_t)k);
		}
		k = rx_escape(ps, false);
		return k < 0 ? -1 : rx_node_new(ps, RN_CHAR, (uint32_t)k);
	case '.':
		ps->i++;
		return rx_node_new(ps, RN_ANY, 0);
	case '^':
		ps->i++;
		return rx_node_new(ps, RN_BOL, 0);
	case '$':
		ps->i++;
		return rx_node_new(ps, RN_EOL, 0);
	case '*': case '+': case '?':
		break;
	case '{':
		if (rx_bounds(ps, &min, &max))
			break;
		ps->i++;	/* no quantifier: a literal '{' */
		return rx_node_new(ps, RN_CHAR, c);
	default:
		ps->i++;
		return rx_node_new(ps, RN_CHAR, c);
	}
	ps->i = at;
	/* The prefix has no special characters: at is past it. */
	error_set(ps->why, ps->whylen, "nothing to repeat at position %zu",
		  at - (sizeof(cmdline_prefix) - 1));
	return -1;
}

static long rx_repeat(struct rx_parse *ps)
{
	long a = rx_atom(ps), min, max, k;
	uint8_t t;

	if (a < 0 || !rx_quantifier(ps, &min, &max))
		return a;
	t = ps->node[a].type;
	if (t == RN_BOL || t == RN_EOL) {
		error_set(ps->why, ps->whylen, "nothing to repeat");
		return -1;
	}
	if (min > RX_MAX_BOUND || max > RX_MAX_BOUND ||
	    (max >= 0 && max < min)) {
		error_set(ps->why, ps->whylen, "repetition bounds above %d or "
			  "reversed", RX_MAX_BOUND);
		return -1;
	}
	if (ps->i < ps->n && ps->p[ps->i] == '?')	/* lazy: same matches */
		ps->i++;
	if (rx_quantifier(ps, &min, &max)) {
		error_set(ps->why, ps->whylen, "multiple repeat");
		return -1;
	}
	k = rx_node_new(ps, RN_REP, 0);
	if (k >= 0) {
		ps->node[k].a = (size_t)a;
		ps->node[k].min = (int)min;
		ps->node[k].max = (int)max;
	}
	return k;
}

static long rx_concat(struct rx_parse *ps)
{
	long list = -1, last = -1, r;

	while (ps->i < ps->n && ps->p[ps->i] != '|' && ps->p[ps->i] != ')') {
		r = rx_repeat(ps);
		if (r < 0 || rx_list_add(ps, RN_CAT, &list, &last, r))
			return -1;
	}
	return list < 0 ? rx_node_new(ps, RN_EMPTY, 0) : list;
}

static long rx_alt(struct rx_parse *ps)
{
	long first = rx_concat(ps), list = -1, last = first, r;

	if (first < 0)
		return -1;
	while (ps->i < ps->n && ps->p[ps->i] == '|') {
		ps->i++;
		r = rx_concat(ps);
		if (r < 0 || (list < 0 && rx_list_add(ps, RN_ALT, &list, &last,
						      first)) ||
		    rx_list_add(ps, RN_ALT, &list, &last, r))
			return -1;
	}
	return list < 0 ? first : list;
}

static int rx_put(struct rx *rx, uint8_t op, uint32_t x, uint32_t y)
{
	if (rx->n == RX_MAX_PROG)
		return -1;
	rx->prog[rx->n].op = op;
	rx->prog[rx->n].x = x;
	rx->prog[rx->n++].y = y;
	return 0;
}

static int rx_emit(struct rx *rx, const struct rx_node *nd, size_t k)
{
	const struct rx_node *t = &nd[k];
	size_t split, c, link = 0, next;
	int i;

	switch (t->type) {
	case RN_CHAR:
		return rx_put(rx, RX_CHAR, t->v, 0);
	case RN_ANY:
		return rx_put(rx, RX_ANY, 0, 0);
	case RN_CLASS:
		return rx_put(rx, RX_CLASS, t->v, 0);
	case RN_BOL:
		return rx_put(rx, RX_BOL, 0, 0);
	case RN_EOL:
		return rx_put(rx, RX_EOL, 0, 0);
	case RN_EMPTY:
		return 0;
	case RN_CAT:
		for (c = t->a; c != RX_NONE; c = nd[c].next)
			if (rx_emit(rx, nd, c))
				return -1;
		return 0;
	case RN_ALT:
		/* split to this one or the next; this one jumps to the end.
		 * The jumps are chained through x (index + 1, 0 ends) until
		 * the end is known. */
		for (c = t->a; c != RX_NONE; c = nd[c].next) {
			split = rx->n;
			if ((nd[c].next != RX_NONE &&
			     rx_put(rx, RX_SPLIT, (uint32_t)split + 1, 0)) ||
			    rx_emit(rx, nd, c))
				return -1;
			if (nd[c].next == RX_NONE)
				break;
			if (rx_put(rx, RX_JMP, (uint32_t)link, 0))
				return -1;
			link = rx->n;
			rx->prog[split].y = (uint32_t)rx->n;
		}
		for (; link; link = next) {
			next = rx->prog[link - 1].x;
			rx->prog[link - 1].x = (uint32_t)rx->n;
		}
		return 0;
	default:		/* RN_REP: the body min times, then the rest */
		for (i = 0; i < t->min - (t->max < 0 && t->min > 0); i++)
			if (rx_emit(rx, nd, t->a))
				return -1;
		if (t->max < 0 && t->min > 0) {	/* body, loop back */
			split = rx->n;
			if (rx_emit(rx, nd, t->a))
				return -1;
			return rx_put(rx, RX_SPLIT, (uint32_t)split,
				      (uint32_t)rx->n + 1);
		}
		if (t->max < 0) {
			split = rx->n;
			if (rx_put(rx, RX_SPLIT, (uint32_t)split + 1, 0) ||
			    rx_emit(rx, nd, t->a) ||
			    rx_put(rx, RX_JMP, (uint32_t)split, 0))
				return -1;
			rx->prog[split].y = (uint32_t)rx->n;
			return 0;
		}
		/* (body (body ...)?)?: each split may skip to the end; they
		 * are chained through y like the jumps above. */
		for (i = t->min; i < t->max; i++) {
			split = rx->n;
			if (rx_put(rx, RX_SPLIT, (uint32_t)split + 1,
				   (uint32_t)link) ||
			    rx_emit(rx, nd, t->a))
				return -1;
			link = split + 1;
		}
		for (; link; link = next) {
			next = rx->prog[link - 1].y;
			rx->prog[link - 1].y = (uint32_t)rx->n;
		}
		return 0;
	}
}

static void rx_free(struct rx *rx)
{
	free(rx->prog);
	free(rx->cls);
	free(rx->rng);
	memset(rx, 0, sizeof(*rx));
}

/* Compiles "kernel_cmdline: " + pattern (UTF-8, len bytes). */
static int rx_compile(struct rx *rx, const char *pattern, size_t len,
		      char *why, size_t whylen)
{
	struct rx_parse ps = { 0 };
	struct buf full = BUF_INIT;
	long root;
	int r = -1;

	memset(rx, 0, sizeof(*rx));
	ps.why = why;
	ps.whylen = whylen;
	ps.rx = rx;
	if (buf_append_str(&full, cmdline_prefix) ||
	    buf_append(&full, pattern, len))
		goto oom;
	ps.p = calloc(full.len + 1, sizeof(*ps.p));
	ps.cap = 3 * full.len + 4;	/* atoms, their joins, quantifiers */
	ps.node = calloc(ps.cap, sizeof(*ps.node));
	rx->prog = calloc(RX_MAX_PROG, sizeof(*rx->prog));
	if (!ps.p || !ps.node || !rx->prog)
		goto oom;
	ps.n = utf8_decode(full.data, full.len, (uint32_t *)ps.p);
	root = rx_alt(&ps);
	if (root >= 0 && ps.i < ps.n) {
		error_set(why, whylen, "unbalanced )");
		root = -1;
	}
	if (root >= 0) {
		if (rx_emit(rx, ps.node, (size_t)root) ||
		    rx_put(rx, RX_MATCH, 0, 0))
			error_set(why, whylen, "pattern too complex (more than "
				  "%d instructions)", RX_MAX_PROG);
		else
			r = 0;
	}
	goto out;
oom:
	error_set(why, whylen, "out of memory");
out:
	free((void *)ps.p);
	free(ps.node);
	buf_free(&full);
	if (r)
		rx_free(rx);
	return r;
}

static bool rx_in_class(const struct rx *rx, uint32_t k, uint32_t c)
{
	const struct rx_class *cl = &rx->cls[k];
	size_t i;

	for (i = 0; i < cl->n; i++)
		if (c >= rx->rng[cl->first + i].lo &&
		    c <= rx->rng[cl->first + i].hi)
			return !cl->neg;
	return cl->neg;
}

struct rx_vm {
	uint32_t *cur, *next, *stack;
	size_t ncur, nnext;
	size_t *mark, gen;
};

/* Adds pc and what it reaches without reading, at position pos of n. */
static void rx_add(const struct rx *rx, struct rx_vm *vm, uint32_t pc,
		   size_t pos, size_t n)
{
	const struct rx_inst *in;
	size_t top = 0;

	vm->stack[top++] = pc;
	while (top) {
		pc = vm->stack[--top];
		if (vm->mark[pc] == vm->gen)
			continue;
		vm->mark[pc] = vm->gen;
		in = &rx->prog[pc];
		switch (in->op) {
		case RX_JMP:
			vm->stack[top++] = in->x;
			break;
		case RX_SPLIT:
			vm->stack[top++] = in->y;
			vm->stack[top++] = in->x;
			break;
		case RX_BOL:
			if (pos == 0)
				vm->stack[top++] = pc + 1;
			break;
		case RX_EOL:
			if (pos == n)
				vm->stack[top++] = pc + 1;
			break;
		default:
			vm->next[vm->nnext++] = pc;
		}
	}
}

/* Full match of s (n code points). Returns 1, 0, or -1 (out of memory). */
static int rx_match(const struct rx *rx, const uint32_t *s, size_t n)
{
	struct rx_vm vm = { 0 };
	const struct rx_inst *in;
	uint32_t *swap;
	size_t pos, i;
	int r = -1;
	bool step;

	vm.cur = calloc(rx->n, sizeof(*vm.cur));
	vm.next = calloc(rx->n, sizeof(*vm.next));
	/* Each pc is pushed at most twice per closure (SPLIT pushes two). */
	vm.stack = calloc(2 * rx->n + 1, sizeof(*vm.stack));
	vm.mark = calloc(rx->n, sizeof(*vm.mark));
	if (!vm.cur || !vm.next || !vm.stack || !vm.mark)
		goto out;
	vm.gen = 1;
	rx_add(rx, &vm, 0, 0, n);
	for (pos = 0;; pos++) {
		swap = vm.cur;
		vm.cur = vm.next;
		vm.next = swap;
		vm.ncur = vm.nnext;
		vm.nnext = 0;
		if (pos == n || !vm.ncur)
			break;
		vm.gen++;
		for (i = 0; i < vm.ncur; i++) {
			in = &rx->prog[vm.cur[i]];
			step = (in->op == RX_CHAR && s[pos] == in->x) ||
			       (in->op == RX_ANY && s[pos] != '\n') ||
			       (in->op == RX_CLASS &&
				rx_in_class(rx, in->x, s[pos]));
			if (step)
				rx_add(rx, &vm, vm.cur[i] + 1, pos + 1, n);
		}
	}
	r = 0;
	for (i = 0; pos == n && i < vm.ncur; i++)
		if (rx->prog[vm.cur[i]].op == RX_MATCH)
			r = 1;
out:
	free(vm.cur);
	free(vm.next);
	free(vm.stack);
	free(vm.mark);
	return r;
}

struct mb_kernel {
	uint8_t shim[SHA256_LEN], grub[SHA256_LEN], kernel[SHA256_LEN];
	uint8_t vmlinuz[SHA256_LEN], initrd[SHA256_LEN];
	struct rx rx;		/* kernel_cmdline */
};

static int cmdline_compile(json_t *j, const char *path, struct mb_kernel *k,
			   char *err, size_t errlen)
{
	const char *s = json_string_value(j);
	char why[160];

	if (!s || json_string_length(j) > RX_MAX_LEN ||
	    strlen(s) != json_string_length(j)) {
		error_set(err, errlen, "%s: expected a regular expression of "
			  "at most %d bytes", path, RX_MAX_LEN);
		return -1;
	}
	if (rx_compile(&k->rx, s, strlen(s), why, sizeof(why))) {
		error_set(err, errlen, "%s: %s", path, why);
		return -1;
	}
	return 0;
}

static int kernel_load(json_t *e, size_t i, bool sb, struct mb_kernel *k,
		       char *err, size_t errlen)
{
	const struct {
		const char *key;
		uint8_t *out;
		bool needed;
	} fields[] = {
		{ "shim_authcode_sha256", k->shim, true },
		{ "grub_authcode_sha256", k->grub, true },
		{ "kernel_authcode_sha256", k->kernel, sb },
		{ "vmlinuz_plain_sha256", k->vmlinuz, !sb },
		{ "initrd_plain_sha256", k->initrd, true },
	};
	char path[96];
	size_t f;
	json_t *v;

	if (!json_is_object(e)) {
		error_set(err, errlen, "kernels[%zu]: expected an object", i);
		return -1;
	}
	for (f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
		if (!fields[f].needed)
			continue;
		v = json_object_get(e, fields[f].key);
		if (!v) {
			error_set(err, errlen, "kernels[%zu]: lacks %s", i,
				  fields[f].key);
			return -1;
		}
		snprintf(path, sizeof(path), "kernels[%zu].%s", i,
			 fields[f].key);
		if (hex_load_fixed(v, path, fields[f].out, SHA256_LEN, err,
				   errlen))
			return -1;
	}
	v = json_object_get(e, "kernel_cmdline");
	if (!v) {
		error_set(err, errlen, "kernels[%zu]: lacks kernel_cmdline", i);
		return -1;
	}
	snprintf(path, sizeof(path), "kernels[%zu].kernel_cmdline", i);
	return cmdline_compile(v, path, k, err, errlen);
}

static int bios_load(json_t *j, struct mb_refstate *rs, char *err,
		     size_t errlen)
{
	char path[96];
	json_t *e;
	size_t i;

	rs->bios = calloc(json_array_size(j) + 1, sizeof(*rs->bios));
	if (!rs->bios) {
		error_set(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < json_array_size(j); i++) {
		e = json_array_get(j, i);
		rs->nbios++;
		snprintf(path, sizeof(path), "scrtm_and_bios[%zu]", i);
		if (!json_is_object(e) || !json_object_get(e, "scrtm") ||
		    !json_object_get(e, "platform_firmware")) {
			error_set(err, errlen, "%s: expected an object with "
				  "scrtm and platform_firmware", path);
			return -1;
		}
		snprintf(path, sizeof(path), "scrtm_and_bios[%zu].scrtm", i);
		if (digest_load(json_object_get(e, "scrtm"), path,
				&rs->bios[i].scrtm, err, errlen))
			return -1;
		snprintf(path, sizeof(path),
			 "scrtm_and_bios[%zu].platform_firmware", i);
		if (digests_load(json_object_get(e, "platform_firmware"), path,
				 &rs->bios[i].fw, err, errlen))
			return -1;
	}
	return 0;
}

static int refstate_load(json_t *top, struct mb_refstate *rs, char *err,
			 size_t errlen)
{
	json_t *j;
	size_t i;

	j = json_object_get(top, "has_secureboot");
	if (j && !json_is_boolean(j)) {
		error_set(err, errlen, "has_secureboot: expected true or "
			  "false");
		return -1;
	}
	rs->has_secureboot = !j || json_is_true(j);
	j = list_get(top, "kernels", true, err, errlen);
	if (!j)
		return -1;
	rs->kernels = calloc(json_array_size(j) + 1, sizeof(*rs->kernels));
	if (!rs->kernels) {
		error_set(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < json_array_size(j); i++) {
		rs->nkernels++;
		if (kernel_load(json_array_get(j, i), i, rs->has_secureboot,
				&rs->kernels[i], err, errlen))
			return -1;
	}
	j = list_get(top, "scrtm_and_bios", true, err, errlen);
	if (!j || bios_load(j, rs, err, errlen))
		return -1;
	if (sigs_load(top, "pk", true, &rs->pk, err, errlen) ||
	    sigs_load(top, "kek", true, &rs->kek, err, errlen) ||
	    sigs_load(top, "db", true, &rs->db, err, errlen) ||
	    sigs_load(top, "dbx", true, &rs->dbx, err, errlen) ||
	    sigs_load(top, "vendor_db", false, &rs->vendor_db, err, errlen))
		return -1;
	j = list_get(top, "mokdig", true, err, errlen);
	if (!j || digests_load(j, "mokdig", &rs->mokdig, err, errlen))
		return -1;
	j = list_get(top, "mokxdig", true, err, errlen);
	if (!j || digests_load(j, "mokxdig", &rs->mokxdig, err, errlen))
		return -1;
	j = json_object_get(top, "firmware_apps");
	rs->has_fw_apps = j != NULL;
	return j ? digests_load(j, "firmware_apps", &rs->fw_apps, err, errlen) :
		   0;
}

struct mb_refstate *mb_refstate_load(const char *json, size_t len,
				     char *err, size_t errlen)
{
	struct mb_refstate *rs;
	json_error_t jerr;
	json_t *top;

	if (len > MB_REFSTATE_MAX) {
		error_set(err, errlen, "reference state of %zu bytes, at most "
			  "%zu accepted", len, MB_REFSTATE_MAX);
		return NULL;
	}
	top = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!top) {
		error_set(err, errlen, "reference state: line %d column %d: %s",
			  jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	rs = calloc(1, sizeof(*rs));
	if (!rs) {
		error_set(err, errlen, "out of memory");
	} else if (!json_is_object(top)) {
		error_set(err, errlen, "reference state: expected an object");
		mb_refstate_free(rs);
		rs = NULL;
	} else if (!json_object_size(top)) {
		rs->empty = true;
	} else if (refstate_load(top, rs, err, errlen)) {
		mb_refstate_free(rs);
		rs = NULL;
	}
	json_decref(top);
	return rs;
}

static void sigs_free(struct mb_sigs *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		buf_free(&s->v[i].data);
	free(s->v);
}

void mb_refstate_free(struct mb_refstate *rs)
{
	size_t i;

	if (!rs)
		return;
	for (i = 0; i < rs->nbios; i++)
		free(rs->bios[i].fw.v);
	free(rs->bios);
	for (i = 0; i < rs->nkernels; i++)
		rx_free(&rs->kernels[i].rx);
	free(rs->kernels);
	sigs_free(&rs->pk);
	sigs_free(&rs->kek);
	sigs_free(&rs->db);
	sigs_free(&rs->dbx);
	sigs_free(&rs->vendor_db);
	free(rs->mokdig.v);
	free(rs->mokxdig.v);
	free(rs->fw_apps.v);
	free(rs);
}

bool mb_refstate_is_empty(const struct mb_refstate *rs)
{
	return rs->empty;
}

/* ---- evaluation ---- */

/* For messages: "sha256:<hex>" (or the first bank when there is no
 * SHA-256). out holds 2 * TPM_DIGEST_MAX + 16 bytes. */
static const char *item_hex(const struct uefi_boot_state *st,
			    const struct uefi_item *it, char *out)
{
	size_t b = 0, i, n;

	for (i = 0; i < st->nalgs; i++)
		if (st->alg[i] == TPM2_ALG_SHA256)
			b = i;
	n = (size_t)snprintf(out, 16, "%s:", tpm_alg_name(st->alg[b]));
	for (i = 0; i < st->alg_size[b]; i++, n += 2)
		snprintf(out + n, 3, "%02x", it->digest[b][i]);
	return out;
}

static bool digest_match(const struct uefi_boot_state *st,
			 const struct uefi_item *it, const struct mb_digest *d)
{
	const uint8_t *have;
	size_t k, common = 0;

	for (k = 0; k < d->n; k++) {
		have = uefi_item_digest(st, it, d->alg[k]);
		if (!have)
			continue;
		if (memcmp(have, d->v[k], tpm_hash_size(d->alg[k])))
			return false;
		common++;
	}
	return common > 0;
}

static bool digests_match(const struct uefi_boot_state *st,
			  const struct uefi_item *it,
			  const struct mb_digests *ds)
{
	size_t i;

	for (i = 0; i < ds->n; i++)
		if (digest_match(st, it, &ds->v[i]))
			return true;
	return false;
}

static bool sha256_is(const struct uefi_boot_state *st,
		      const struct uefi_item *it, const uint8_t *want)
{
	const uint8_t *have = uefi_item_digest(st, it, TPM2_ALG_SHA256);

	return have && !memcmp(have, want, SHA256_LEN);
}

static bool sig_in(const struct mb_sigs *ref, const struct uefi_sig *s)
{
	const struct mb_sig *r;
	size_t i;

	for (i = 0; i < ref->n; i++) {
		r = &ref->v[i];
		if ((!memcmp(r->owner, s->owner, 16) ||
		     !memcmp(r->owner_raw, s->owner, 16)) &&
		    r->data.len == s->len && !memcmp(r->data.data, s->data,
						     s->len))
			return true;
	}
	return false;
}

/* For messages: what a signature is. */
static void sig_describe(const struct uefi_sig *s, char *out, size_t len)
{
	const uint8_t *p = s->data;
	char owner[37], cn[64] = "";
	X509 *x = NULL;
	size_t i, n;

	uefi_guid_str(s->owner, owner);
	if (s->len <= 65536 && s->len)
		x = d2i_X509(NULL, &p, (long)s->len);
	if (x) {
		X509_NAME_get_text_by_NID(X509_get_subject_name(x),
					  NID_commonName, cn, sizeof(cn));
		for (i = 0; cn[i]; i++)
			if ((unsigned char)cn[i] < 0x20 || cn[i] == 0x7f)
				cn[i] = '?';
		X509_free(x);
		snprintf(out, len, "X509 CN=%s (owner %s)", cn, owner);
		return;
	}
	n = (size_t)snprintf(out, len, "%s ", !memcmp(s->type,
			     uefi_guid_cert_sha256, 16) ? "sha256" : "data");
	for (i = 0; i < s->len && i < 32 && n + 3 < len; i++, n += 2)
		snprintf(out + n, 3, "%02x", s->data[i]);
	snprintf(out + n, len - n, "%s (owner %s)", s->len > 32 ? "..." : "",
		 owner);
}

/* Every entry of the log's variable is allowed by ref and of an allowed
 * list type. */
static int sigdb_subset(const struct uefi_sigdb *db, const char *name,
			const struct mb_sigs *ref, bool sha256_ok,
			bool skip, char *why, size_t whylen)
{
	char what[160], type[37];
	size_t i;

	if (skip)
		return 0;
	for (i = 0; i < db->n; i++) {
		if (memcmp(db->v[i].type, uefi_guid_cert_x509, 16) &&
		    !(sha256_ok && !memcmp(db->v[i].type,
					   uefi_guid_cert_sha256, 16))) {
			uefi_guid_str(db->v[i].type, type);
			error_set(why, whylen, "%s holds a signature list of "
				  "type %s, which the policy does not allow",
				  name, type);
			return -1;
		}
		if (!sig_in(ref, &db->v[i])) {
			sig_describe(&db->v[i], what, sizeof(what));
			error_set(why, whylen, "%s holds %s that the reference "
				  "state does not allow", name, what);
			return -1;
		}
	}
	return 0;
}

static bool log_has(const struct uefi_sigdb *db, const struct mb_sig *r)
{
	size_t i;

	for (i = 0; i < db->n; i++)
		if ((!memcmp(r->owner, db->v[i].owner, 16) ||
		     !memcmp(r->owner_raw, db->v[i].owner, 16)) &&
		    r->data.len == db->v[i].len &&
		    !memcmp(r->data.data, db->v[i].data, db->v[i].len))
			return true;
	return false;
}

static int check_keys(const struct mb_refstate *rs,
		      const struct uefi_boot_state *st, char *why,
		      size_t whylen)
{
	bool sb = rs->has_secureboot;
	struct uefi_sig s;
	char what[160];
	size_t i;

	if (sigdb_subset(&st->pk, "PK", &rs->pk, false, !sb && !rs->pk.n,
			 why, whylen) ||
	    sigdb_subset(&st->kek, "KEK", &rs->kek, false, !sb && !rs->kek.n,
			 why, whylen) ||
	    sigdb_subset(&st->db, "db", &rs->db, true, !sb && !rs->db.n, why,
			 whylen) ||
	    sigdb_subset(&st->vendor_db, "vendor_db", &rs->vendor_db, true,
			 !sb && !rs->vendor_db.n, why, whylen))
		return -1;
	for (i = 0; (sb || rs->vendor_db.n) && i < st->vendor_db_auth.n; i++) {
		if (!sig_in(&rs->vendor_db, &st->vendor_db_auth.v[i])) {
			sig_describe(&st->vendor_db_auth.v[i], what,
				     sizeof(what));
			error_set(why, whylen, "the vendor_db authority %s is "
				  "not in the reference state", what);
			return -1;
		}
	}
	for (i = 0; i < rs->dbx.n; i++) {
		if (log_has(&st->dbx, &rs->dbx.v[i]))
			continue;
		memset(&s, 0, sizeof(s));
		memcpy(s.owner, rs->dbx.v[i].owner, 16);
		if (rs->dbx.v[i].data.len == SHA256_LEN)
			memcpy(s.type, uefi_guid_cert_sha256, 16);
		s.data = rs->dbx.v[i].data.data;
		s.len = rs->dbx.v[i].data.len;
		sig_describe(&s, what, sizeof(what));
		error_set(why, whylen, "dbx lacks %s, which the reference "
			  "state requires%s", what, st->dbx.event ? "" :
			  " (dbx is not measured)");
		return -1;
	}
	return 0;
}

static int bios_check(const struct mb_bios *bios,
		      const struct uefi_boot_state *st, char *why,
		      size_t whylen)
{
	char hex[2 * TPM_DIGEST_MAX + 16];
	size_t i;

	if (st->scrtm.n != 1) {
		error_set(why, whylen, "expected one EV_S_CRTM_VERSION event, "
			  "found %zu", st->scrtm.n);
		return -1;
	}
	if (!digest_match(st, &st->scrtm.v[0], &bios->scrtm)) {
		error_set(why, whylen, "S-CRTM digest %s not allowed",
			  item_hex(st, &st->scrtm.v[0], hex));
		return -1;
	}
	if (st->firmware.n != bios->fw.n) {
		error_set(why, whylen, "expected %zu platform firmware blobs, "
			  "found %zu", bios->fw.n, st->firmware.n);
		return -1;
	}
	for (i = 0; i < st->firmware.n; i++) {
		if (!digest_match(st, &st->firmware.v[i], &bios->fw.v[i])) {
			error_set(why, whylen, "platform firmware blob %zu "
				  "(event %zu) digest %s not allowed", i,
				  st->firmware.v[i].event,
				  item_hex(st, &st->firmware.v[i], hex));
			return -1;
		}
	}
	return 0;
}

/* Fails with "<what> digest sha256:<hex> not allowed". */
static int app_check(const struct uefi_boot_state *st,
		     const struct uefi_item *it, const uint8_t *want,
		     const char *what, char *why, size_t whylen)
{
	char hex[2 * TPM_DIGEST_MAX + 16];

	if (sha256_is(st, it, want))
		return 0;
	error_set(why, whylen, "%s digest %s not allowed", what,
		  item_hex(st, it, hex));
	return -1;
}

static int cmdline_check(const struct mb_kernel *k,
			 const struct uefi_item *it, char *why, size_t whylen)
{
	uint32_t *cps;
	char shown[201];
	size_t i, n;
	int rc;

	for (i = 0; i < it->len && i < sizeof(shown) - 1; i++)
		shown[i] = it->data[i] >= 0x20 && it->data[i] < 0x7f ?
			   (char)it->data[i] : '?';
	shown[i] = 0;
	for (i = 0; i < it->len; i++) {
		if (it->data[i] < 0x20 || it->data[i] == 0x7f) {
			error_set(why, whylen, "kernel command line '%s' "
				  "contains a control character", shown);
			return -1;
		}
	}
	if (it->len > CMDLINE_MAX) {
		error_set(why, whylen, "kernel command line of %zu bytes is "
			  "too long", it->len);
		return -1;
	}
	cps = calloc(sizeof(cmdline_prefix) + it->len, sizeof(*cps));
	if (!cps) {
		error_set(why, whylen, "out of memory");
		return -1;
	}
	n = utf8_decode((const uint8_t *)cmdline_prefix,
			sizeof(cmdline_prefix) - 1, cps);
	n += utf8_decode(it->data, it->len, cps + n);
	rc = rx_match(&k->rx, cps, n);
	free(cps);
	if (rc < 0) {
		error_set(why, whylen, "out of memory");
		return -1;
	}
	if (!rc) {
		error_set(why, whylen, "kernel command line '%s' does not "
			  "match", shown);
		return -1;
	}
	return 0;
}

static int kernel_check(const struct mb_refstate *rs,
			const struct mb_kernel *k,
			const struct uefi_boot_state *st,
			const struct uefi_item *const *apps, size_t napps,
			char *why, size_t whylen)
{
	size_t want = rs->has_secureboot ? 3 : 2;

	if (napps != want && !(rs->has_secureboot && napps == 4)) {
		error_set(why, whylen, "expected %zu boot applications (%s), "
			  "found %zu", want, rs->has_secureboot ?
			  "shim, grub, kernel" : "shim, grub", napps);
		return -1;
	}
	if (app_check(st, apps[0], k->shim, "shim", why, whylen) ||
	    app_check(st, apps[1], k->grub, "grub", why, whylen))
		return -1;
	if (rs->has_secureboot &&
	    (app_check(st, apps[2], k->kernel, "kernel", why, whylen) ||
	     (napps == 4 &&
	      app_check(st, apps[3], k->kernel, "kernel", why, whylen))))
		return -1;
	if (st->initrd.n != 1) {
		error_set(why, whylen, "expected one initrd in PCR 9, found "
			  "%zu", st->initrd.n);
		return -1;
	}
	if (app_check(st, &st->initrd.v[0], k->initrd, "initrd", why, whylen))
		return -1;
	if (st->vmlinuz.n != 1) {
		error_set(why, whylen, "expected one kernel image (vmlinuz) in "
			  "PCR 9, found %zu", st->vmlinuz.n);
		return -1;
	}
	if (!rs->has_secureboot && app_check(st, &st->vmlinuz.v[0],
					     k->vmlinuz, "vmlinuz", why,
					     whylen))
		return -1;
	if (st->kernel_cmdline.n != 1) {
		error_set(why, whylen, "expected one kernel command line, "
			  "found %zu", st->kernel_cmdline.n);
		return -1;
	}
	return cmdline_check(k, &st->kernel_cmdline.v[0], why, whylen);
}

/* The boot applications to hold against kernels entries: without
 * firmware_apps in the reference state all of them, in boot order. */
static int boot_apps(const struct mb_refstate *rs,
		     const struct uefi_boot_state *st,
		     const struct uefi_item ***out, size_t *n, char *why,
		     size_t whylen)
{
	const struct uefi_items *a = &st->apps, *f = &st->fv_apps;
	char hex[2 * TPM_DIGEST_MAX + 16];
	size_t i = 0, k = 0;

	*n = 0;
	*out = calloc(a->n + f->n + 1, sizeof(**out));
	if (!*out) {
		error_set(why, whylen, "out of memory");
		return -1;
	}
	if (rs->has_fw_apps) {
		for (k = 0; k < f->n; k++) {
			if (digests_match(st, &f->v[k], &rs->fw_apps))
				continue;
			error_set(why, whylen, "firmware application (event "
				  "%zu) digest %s not allowed", f->v[k].event,
				  item_hex(st, &f->v[k], hex));
			return -1;
		}
	}
	while (i < a->n || k < f->n) {
		if (k < f->n && (i == a->n || f->v[k].event < a->v[i].event))
			(*out)[(*n)++] = &f->v[k++];
		else
			(*out)[(*n)++] = &a->v[i++];
	}
	return 0;
}

static int kernels_check(const struct mb_refstate *rs,
			 const struct uefi_boot_state *st, char *why,
			 size_t whylen)
{
	const struct uefi_item **apps;
	char first[256];
	size_t napps, i;
	int r = -1;

	if (boot_apps(rs, st, &apps, &napps, why, whylen)) {
		free(apps);
		return -1;
	}
	if (!rs->nkernels)
		error_set(why, whylen, "the reference state lists no kernels");
	for (i = 0; i < rs->nkernels && r; i++) {
		r = kernel_check(rs, &rs->kernels[i], st, apps, napps,
				 i ? why : first, i ? whylen : sizeof(first));
		if (r && !i && rs->nkernels == 1)
			error_set(why, whylen, "%s", first);
	}
	if (r && rs->nkernels > 1)
		error_set(why, whylen, "no kernels entry matches (entry 0: "
			  "%s)", first);
	free(apps);
	return r;
}

static int mok_check(const struct uefi_items *items, const char *name,
		     const struct mb_digests *ok,
		     const struct uefi_boot_state *st, char *why,
		     size_t whylen)
{
	char hex[2 * TPM_DIGEST_MAX + 16];
	size_t i;

	for (i = 0; i < items->n; i++) {
		if (digests_match(st, &items->v[i], ok))
			continue;
		error_set(why, whylen, "%s digest %s (event %zu) not allowed",
			  name, item_hex(st, &items->v[i], hex),
			  items->v[i].event);
		return -1;
	}
	return 0;
}

static bool has_sha256(const struct uefi_boot_state *st)
{
	size_t i;

	for (i = 0; i < st->nalgs; i++)
		if (st->alg[i] == TPM2_ALG_SHA256)
			return true;
	return false;
}

int mb_refstate_evaluate(const struct mb_refstate *rs,
			 const struct uefi_boot_state *st, char *why,
			 size_t whylen)
{
	char first[256];
	size_t i;
	int r = -1;

	if (rs->empty)
		return 0;
	if (!has_sha256(st)) {
		error_set(why, whylen, "the event log has no sha256 digests");
		return -1;
	}
	if (st->unexpected) {
		error_set(why, whylen, "%s", st->unexpected_why);
		return -1;
	}
	if (st->bad_separator) {
		error_set(why, whylen, "event %zu: EV_SEPARATOR is neither "
			  "00000000 nor ffffffff", st->bad_separator);
		return -1;
	}
	if (rs->has_secureboot && st->secure_boot != UEFI_SB_ON) {
		error_set(why, whylen, "secure boot is off%s", st->secure_boot ==
			  UEFI_SB_UNMEASURED ? " (no SecureBoot variable in "
			  "PCR 7)" : "");
		return -1;
	}
	if (!rs->has_secureboot && st->secure_boot == UEFI_SB_ON) {
		error_set(why, whylen, "secure boot is on, but the reference "
			  "state has has_secureboot false");
		return -1;
	}
	if (check_keys(rs, st, why, whylen))
		return -1;
	if (!rs->nbios)
		error_set(why, whylen, "the reference state lists no "
			  "scrtm_and_bios");
	for (i = 0; i < rs->nbios && r; i++)
		r = bios_check(&rs->bios[i], st, i ? why : first,
			       i ? whylen : sizeof(first));
	if (r && rs->nbios == 1)
		error_set(why, whylen, "%s", first);
	else if (r && rs->nbios > 1)
		error_set(why, whylen, "no scrtm_and_bios entry matches "
			  "(entry 0: %s)", first);
	if (r || kernels_check(rs, st, why, whylen) ||
	    mok_check(&st->moklist, "MokList", &rs->mokdig, st, why,
		      whylen) ||
	    mok_check(&st->moklistx, "MokListX", &rs->mokxdig, st, why,
		      whylen))
		return -1;
	return 0;
}

/* ---- creation ---- */

/* Takes v's reference even on failure, as jansson's _new functions do. */
static int put(json_t *o, const char *key, json_t *v)
{
	return v ? json_object_set_new(o, key, v) : -1;
}

static int push(json_t *a, json_t *v)
{
	return v ? json_array_append_new(a, v) : -1;
}

static json_t *hex0x(const uint8_t *p, size_t n)
{
	struct buf b = BUF_INIT;
	json_t *s = NULL;

	if (!buf_append_str(&b, "0x") && !hex_encode(&b, p, n))
		s = json_stringn((const char *)b.data, b.len);
	buf_free(&b);
	return s;
}

/* {"sha256": "0x.."} of an item. */
static json_t *sha256_obj(const struct uefi_boot_state *st,
			  const struct uefi_item *it)
{
	json_t *o = json_object();

	if (o && put(o, "sha256", hex0x(uefi_item_digest(st, it,
			TPM2_ALG_SHA256), SHA256_LEN))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *sha256_list(const struct uefi_boot_state *st,
			   const struct uefi_items *items)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < items->n; i++) {
		if (push(a, sha256_obj(st, &items->v[i]))) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static int sigs_put(json_t *a, const struct uefi_sigdb *db)
{
	char owner[37];
	json_t *o;
	size_t i;

	for (i = 0; i < db->n; i++) {
		uefi_guid_str(db->v[i].owner, owner);
		o = json_object();
		if (push(a, o) || put(o, "SignatureOwner", json_string(owner)) ||
		    put(o, "SignatureData", hex0x(db->v[i].data, db->v[i].len)))
			return -1;
	}
	return 0;
}

static json_t *sigs_list(const struct uefi_sigdb *a,
			 const struct uefi_sigdb *b)
{
	json_t *l = json_array();

	if (l && (sigs_put(l, a) || (b && sigs_put(l, b)))) {
		json_decref(l);
		return NULL;
	}
	return l;
}

/* Python 3.7+ re.escape: a backslash before each of these. */
static json_t *re_escape(const uint8_t *p, size_t n)
{
	static const char special[] = "()[]{}?*+-|^$\\.&~# \t\n\r\v\f";
	struct buf b = BUF_INIT;
	json_t *s = NULL;
	size_t i;
	int r = 0;

	for (i = 0; i < n && !r; i++) {
		if (p[i] && strchr(special, p[i]))
			r = buf_append_u8(&b, '\\');
		r |= buf_append_u8(&b, p[i]);
	}
	if (!r)
		s = json_stringn((const char *)b.data, b.len);
	buf_free(&b);
	return s;
}

static int kernel_create(const struct uefi_boot_state *st, bool sb,
			 json_t *k, char *err, size_t errlen)
{
	const struct uefi_items *a = &st->apps;
	json_t *cmdline;

	if (a->n != (sb ? 3 : 2) && !(sb && a->n == 4)) {
		error_set(err, errlen, "expected %s boot applications (%s), "
			  "the event log has %zu", sb ? "3" : "2", sb ?
			  "shim, grub, kernel" : "shim, grub", a->n);
		return -1;
	}
	if (!st->initrd.n || (!sb && !st->vmlinuz.n) ||
	    !st->kernel_cmdline.n) {
		error_set(err, errlen, "the event log has no %s",
			  !st->initrd.n ? "initrd in PCR 9" :
			  !st->kernel_cmdline.n ? "kernel command line in PCR 8"
						: "kernel (vmlinuz) in PCR 9");
		return -1;
	}
	cmdline = re_escape(st->kernel_cmdline.v[0].data,
			    st->kernel_cmdline.v[0].len);
	if (!cmdline) {
		error_set(err, errlen, "the kernel command line is not UTF-8");
		return -1;
	}
	if (put(k, "shim_authcode_sha256", hex0x(uefi_item_digest(st,
			&a->v[0], TPM2_ALG_SHA256), SHA256_LEN)) ||
	    put(k, "grub_authcode_sha256", hex0x(uefi_item_digest(st,
			&a->v[1], TPM2_ALG_SHA256), SHA256_LEN)) ||
	    (sb && put(k, "kernel_authcode_sha256", hex0x(uefi_item_digest(st,
			&a->v[2], TPM2_ALG_SHA256), SHA256_LEN))) ||
	    put(k, "initrd_plain_sha256", hex0x(uefi_item_digest(st,
			&st->initrd.v[0], TPM2_ALG_SHA256), SHA256_LEN)) ||
	    (!sb && put(k, "vmlinuz_plain_sha256", hex0x(uefi_item_digest(st,
			&st->vmlinuz.v[0], TPM2_ALG_SHA256), SHA256_LEN)))) {
		json_decref(cmdline);
		error_set(err, errlen, "out of memory");
		return -1;
	}
	if (put(k, "kernel_cmdline", cmdline)) {
		error_set(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int refstate_create(const struct uefi_boot_state *st, bool sb,
			   json_t *top, char *err, size_t errlen)
{
	json_t *bios, *bl, *k, *kl;

	/* Each container is attached as soon as it exists, so that freeing
	 * top frees everything whatever fails. */
	if (put(top, "has_secureboot", json_boolean(sb)) ||
	    put(top, "scrtm_and_bios", (bl = json_array())) ||
	    push(bl, (bios = json_object())) ||
	    put(bios, "scrtm", sha256_obj(st, &st->scrtm.v[0])) ||
	    put(bios, "platform_firmware", sha256_list(st, &st->firmware)) ||
	    put(top, "pk", sigs_list(&st->pk, NULL)) ||
	    put(top, "kek", sigs_list(&st->kek, NULL)) ||
	    put(top, "db", sigs_list(&st->db, NULL)) ||
	    put(top, "dbx", sigs_list(&st->dbx, NULL)) ||
	    put(top, "vendor_db", sigs_list(&st->vendor_db_auth,
					   &st->vendor_db)) ||
	    put(top, "mokdig", sha256_list(st, &st->moklist)) ||
	    put(top, "mokxdig", sha256_list(st, &st->moklistx)) ||
	    (st->fv_apps.n && put(top, "firmware_apps",
				  sha256_list(st, &st->fv_apps))) ||
	    put(top, "kernels", (kl = json_array())) ||
	    push(kl, (k = json_object()))) {
		error_set(err, errlen, "out of memory");
		return -1;
	}
	return kernel_create(st, sb, k, err, errlen);
}

static int self_check(const char *json, const struct uefi_boot_state *st,
		      char *err, size_t errlen)
{
	struct mb_refstate *rs = mb_refstate_load(json, strlen(json), err,
						  errlen);
	char why[512];
	int r = -1;

	if (!rs)
		return -1;
	if (mb_refstate_evaluate(rs, st, why, sizeof(why)))
		error_set(err, errlen, "the event log would fail its own "
			  "reference state: %s", why);
	else
		r = 0;
	mb_refstate_free(rs);
	return r;
}

int mb_refstate_create(const struct uefi_boot_state *st,
		       bool without_secureboot, struct buf *out, char *err,
		       size_t errlen)
{
	bool sb = st->secure_boot == UEFI_SB_ON;
	json_t *top;
	char *text;
	int r;

	if (!has_sha256(st)) {
		error_set(err, errlen, "the event log has no sha256 digests");
		return -1;
	}
	if (!sb && !without_secureboot) {
		error_set(err, errlen, "the event log has secure boot off; "
			  "make a reference state without secure boot if that "
			  "is intended (assay: --without-secureboot)");
		return -1;
	}
	if (st->scrtm.n != 1) {
		error_set(err, errlen, "the event log has %zu "
			  "EV_S_CRTM_VERSION events, the policy expects one",
			  st->scrtm.n);
		return -1;
	}
	top = json_object();
	if (!top) {
		error_set(err, errlen, "out of memory");
		return -1;
	}
	r = refstate_create(st, sb, top, err, errlen);
	text = r ? NULL : json_dumps(top, JSON_INDENT(2));
	json_decref(top);
	if (!r && !text) {
		error_set(err, errlen, "out of memory");
		r = -1;
	}
	/* A reference state its own log fails (two initrds, an unexpected
	 * event, ...) is no use: say why instead of writing it. */
	if (!r && self_check(text, st, err, errlen))
		r = -1;
	if (!r && (buf_append_str(out, text) || buf_append_str(out, "\n"))) {
		error_set(err, errlen, "out of memory");
		r = -1;
	}
	free(text);
	return r;
}
