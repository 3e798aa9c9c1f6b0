/* runtime_policy: loading Keylime runtime policies and looking names up.
 *
 * A policy is kept as one array of (table, name, digest) entries sorted by
 * table and name: a lookup is a binary search, and the flat allowlist,
 * whose names may repeat, needs no grouping step. */
#include "attest/runtime_policy.h"

#include <ctype.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <tss2/tss2_tpm2_types.h>

#include "attest/ima.h"
#include "util/error.h"

struct rp_entry {
	const char *name;	/* owned by runtime_policy.names */
	uint8_t table;
	uint8_t len;
	uint8_t digest[RUNTIME_POLICY_DIGEST_MAX];
};

struct runtime_policy {
	struct rp_entry *entries;
	size_t nentries, entcap;
	char **names;
	size_t nnames, namecap;
	regex_t *excludes;
	size_t nexcludes;
	char **ignored;
	size_t nignored;
	bool ignore_all;
	uint16_t log_hash_alg;
	size_t nkeys;
};

static const struct {
	const char *name;
	uint16_t alg;
	size_t size;
} rp_algs[] = {
	{ "sha1", TPM2_ALG_SHA1, 20 },
	{ "sha256", TPM2_ALG_SHA256, 32 },
	{ "sha384", TPM2_ALG_SHA384, 48 },
	{ "sha512", TPM2_ALG_SHA512, 64 },
};

static const char *const rp_table_names[] = { "digests", "keyrings",
					       "ima-buf" };

/* A name for an error message: non-printable bytes escaped, truncated. */
#define NAME_SHOW 160
static const char *show(char out[NAME_SHOW], const char *s)
{
	ima_printable(out, NAME_SHOW, s, strlen(s));
	return out;
}

static int grow(void **v, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 64;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*v, n * size);
	if (!p)
		return -1;
	*v = p;
	*cap = n;
	return 0;
}

static const char *add_name(struct runtime_policy *pol, const char *s,
			    size_t n)
{
	char *c;

	if (grow((void **)&pol->names, &pol->namecap, pol->nnames + 1,
		 sizeof(*pol->names)))
		return NULL;
	c = malloc(n + 1);
	if (!c)
		return NULL;
	memcpy(c, s, n);
	c[n] = 0;
	pol->names[pol->nnames++] = c;
	return c;
}

/* Parses "[alg:]hex" into out: lowercase hex of 40 to 128 digits (as the
 * schema's ^[0-9a-f]{40,128}$), even, of alg's size when alg is given. */
static int digest_parse(const char *s, size_t n, uint8_t *out, size_t *len)
{
	const char *colon = memchr(s, ':', n);
	size_t i, want = 0;

	if (colon) {
		size_t a = (size_t)(colon - s);

		for (i = 0; i < sizeof(rp_algs) / sizeof(rp_algs[0]); i++)
			if (strlen(rp_algs[i].name) == a &&
			    !memcmp(rp_algs[i].name, s, a))
				want = rp_algs[i].size;
		if (!want)
			return -1;
		n -= a + 1;
		s = colon + 1;
	}
	if (n < 40 || n > 128 || n % 2 || (want && n != 2 * want))
		return -1;
	for (i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		int v = c >= '0' && c <= '9' ? c - '0' :
			c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

		if (v < 0)
			return -1;
		if (i % 2)
			out[i / 2] |= (uint8_t)v;
		else
			out[i / 2] = (uint8_t)(v << 4);
	}
	*len = n / 2;
	return 0;
}

static int add_entry(struct runtime_policy *pol, int table, const char *name,
		     const char *hex, size_t hexlen, char *err, size_t errlen)
{
	struct rp_entry *e;
	size_t len;

	if (pol->nentries >= RUNTIME_POLICY_MAX_DIGESTS) {
		error_set(err, errlen, "more than %zu digests",
			  RUNTIME_POLICY_MAX_DIGESTS);
		return -1;
	}
	if (grow((void **)&pol->entries, &pol->entcap, pol->nentries + 1,
		 sizeof(*pol->entries))) {
		error_set(err, errlen, "out of memory");
		return -1;
	}
	e = &pol->entries[pol->nentries];
	if (digest_parse(hex, hexlen, e->digest, &len))
		return 1;	/* the caller names the member */
	e->name = name;
	e->table = (uint8_t)table;
	e->len = (uint8_t)len;
	pol->nentries++;
	return 0;
}

/* Why p (one exclude) would not mean in POSIX ERE what it means to
 * Python's re, or NULL; *at is the offending offset. See the header. */
static const char *pattern_unportable(const char *p, size_t *at)
{
	enum { NONE, ATOM, QUANT, LAZY } prev = NONE;
	int depth = 0;
	size_t i, j;

	for (i = 0; p[i]; i++) {
		unsigned char c = (unsigned char)p[i], e = (unsigned char)p[i + 1];

		*at = i;
		if (c >= 0x80)
			return "non-ASCII byte";
		if (c == '\\') {
			if (!e)
				return "trailing backslash";
			if (strchr("<>`'", e) ||
			    (isalnum(e) && !strchr("wWsSbB", e)))
				return "escape without the same meaning in POSIX";
			prev = e == 'b' || e == 'B' ? NONE : ATOM;
			i++;
		} else if (c == '[') {
			j = i + 1;
			if (p[j] == '^')
				j++;
			if (p[j] == ']')
				j++;
			for (; p[j] != ']'; j++) {
				*at = j;
				if (!p[j])
					return "unterminated [";
				if (p[j] == '\\')
					return "backslash inside [] (literal in POSIX)";
				if (p[j] == '[' && p[j + 1] && strchr(":=.", p[j + 1]))
					return "POSIX class inside [] (literal in Python)";
				if ((unsigned char)p[j] >= 0x80)
					return "non-ASCII byte";
			}
			i = j;
			prev = ATOM;
		} else if (c == '(') {
			if (e == '?')
				return "(? groups are not POSIX";
			depth++;
			prev = NONE;
		} else if (c == ')') {
			if (--depth < 0)
				return "unbalanced )";
			prev = ATOM;
		} else if (c == '*' || c == '+' || c == '?' || c == '{') {
			if (c == '{') {
				/* A valid {m,n} repeats; anything else is a
				 * literal to Python: leave that to regcomp. */
				for (j = i + 1; isdigit((unsigned char)p[j]); j++)
					;
				if (p[j] == ',')
					for (j++; isdigit((unsigned char)p[j]); j++)
						;
				if (p[j] != '}') {
					prev = ATOM;
					continue;
				}
				i = j;
			}
			if (c == '?' && prev == QUANT)
				prev = LAZY;
			else if (prev == NONE)
				return "nothing to repeat";
			else if (prev != ATOM)
				return "repeated quantifier";
			else
				prev = QUANT;
		} else {
			prev = c == '|' || c == '^' || c == '$' ? NONE : ATOM;
		}
	}
	*at = i;
	return depth ? "unbalanced (" : NULL;
}

static int exclude_add(struct runtime_policy *pol, const char *p, size_t idx,
		       char *err, size_t errlen)
{
	char re[RUNTIME_POLICY_MAX_PATTERN + 8], msg[128], nm[NAME_SHOW];
	const char *why;
	size_t at, n = strlen(p);
	int rc;

	if (n > RUNTIME_POLICY_MAX_PATTERN) {
		error_set(err, errlen, "excludes[%zu]: longer than %d bytes",
			  idx, RUNTIME_POLICY_MAX_PATTERN);
		return -1;
	}
	why = pattern_unportable(p, &at);
	if (why) {
		error_set(err, errlen, "excludes[%zu]: \"%s\": %s at offset %zu",
			  idx, show(nm, p), why, at);
		return -1;
	}
	memcpy(re, "^(", 2);
	memcpy(re + 2, p, n);
	memcpy(re + 2 + n, ")", 2);
	rc = regcomp(&pol->excludes[pol->nexcludes], re,
		     REG_EXTENDED | REG_NOSUB);
	if (rc) {
		regerror(rc, &pol->excludes[pol->nexcludes], msg, sizeof(msg));
		error_set(err, errlen, "excludes[%zu]: \"%s\": %s", idx,
			  show(nm, p), msg);
		return -1;
	}
	pol->nexcludes++;
	return 0;
}

static int rp_entry_cmp(const void *a, const void *b)
{
	const struct rp_entry *x = a, *y = b;

	if (x->table != y->table)
		return x->table < y->table ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* ------------------------------------------------------------------ JSON */

static json_t *member(json_t *obj, const char *where, const char *key,
		      json_type type, bool required, char *err, size_t errlen)
{
	static const char *const tn[] = { "an object", "an array", "a string",
					  "an integer", "a number", "true",
					  "false", "null" };
	json_t *v = json_object_get(obj, key);

	if (!v) {
		if (required)
			error_set(err, errlen, "%s%s: missing", where, key);
		return NULL;
	}
	if (json_typeof(v) != type) {
		error_set(err, errlen, "%s%s: not %s", where, key, tn[type]);
		return NULL;
	}
	return v;
}

static int json_table(struct runtime_policy *pol, json_t *root, int table,
		      char *err, size_t errlen)
{
	const char *tname = rp_table_names[table], *key, *name;
	json_t *obj, *list, *v;
	char nm[NAME_SHOW];
	size_t i;
	int rc;

	obj = member(root, "", tname, JSON_OBJECT, true, err, errlen);
	if (!obj)
		return -1;
	json_object_foreach(obj, key, list) {
		if (!json_is_array(list) || !json_array_size(list)) {
			error_set(err, errlen, "%s[\"%s\"]: not a non-empty "
				  "array", tname, show(nm, key));
			return -1;
		}
		name = add_name(pol, key, strlen(key));
		if (!name) {
			error_set(err, errlen, "out of memory");
			return -1;
		}
		json_array_foreach(list, i, v) {
			rc = json_is_string(v) ? add_entry(pol, table, name,
				json_string_value(v), json_string_length(v),
				err, errlen) : 1;
			if (rc < 0)
				return -1;
			if (rc > 0) {
				error_set(err, errlen, "%s[\"%s\"][%zu]: not a "
					  "digest (lowercase hex, 40 to 128 "
					  "digits, optional alg: prefix)",
					  tname, show(nm, key), i);
				return -1;
			}
		}
	}
	return 0;
}

static int json_meta(json_t *root, char *err, size_t errlen)
{
	json_t *meta, *v;

	meta = member(root, "", "meta", JSON_OBJECT, true, err, errlen);
	if (!meta)
		return -1;
	v = member(meta, "meta.", "version", JSON_INTEGER, true, err, errlen);
	if (!v)
		return -1;
	if (json_integer_value(v) < 0 ||
	    json_integer_value(v) > RUNTIME_POLICY_VERSION) {
		error_set(err, errlen, "meta.version: %lld not supported "
			  "(0 to %d)", (long long)json_integer_value(v),
			  RUNTIME_POLICY_VERSION);
		return -1;
	}
	v = member(meta, "meta.", "generator", JSON_INTEGER, true, err,
		   errlen);
	if (!v)
		return -1;
	if (json_integer_value(v) < 0 || json_integer_value(v) > 3) {
		error_set(err, errlen, "meta.generator: not 0 to 3");
		return -1;
	}
	if (json_object_get(meta, "timestamp") &&
	    !member(meta, "meta.", "timestamp", JSON_STRING, false, err,
		    errlen))
		return -1;
	v = json_object_get(root, "release");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 0)) {
		error_set(err, errlen, "release: not an integer >= 0");
		return -1;
	}
	return 0;
}

static int json_ima(struct runtime_policy *pol, json_t *root, char *err,
		    size_t errlen)
{
	json_t *ima, *list, *v;
	const char *alg;
	size_t i;

	ima = member(root, "", "ima", JSON_OBJECT, true, err, errlen);
	if (!ima)
		return -1;
	list = member(ima, "ima.", "ignored_keyrings", JSON_ARRAY, true, err,
		      errlen);
	if (!list)
		return -1;
	pol->ignored = calloc(json_array_size(list) + 1, sizeof(char *));
	if (!pol->ignored) {
		error_set(err, errlen, "out of memory");
		return -1;
	}
	json_array_foreach(list, i, v) {
		if (!json_is_string(v) ||
		    strlen(json_string_value(v)) != json_string_length(v)) {
			error_set(err, errlen, "ima.ignored_keyrings[%zu]: "
				  "not a string", i);
			return -1;
		}
		pol->ignored[pol->nignored] = strdup(json_string_value(v));
		if (!pol->ignored[pol->nignored++]) {
			error_set(err, errlen, "out of memory");
			return -1;
		}
		if (!strcmp(json_string_value(v), "*"))
			pol->ignore_all = true;
	}
	v = member(ima, "ima.", "log_hash_alg", JSON_STRING, true, err,
		   errlen);
	if (!v)
		return -1;
	alg = json_string_value(v);
	for (i = 0; i < sizeof(rp_algs) / sizeof(rp_algs[0]); i++)
		if (!strcmp(alg, rp_algs[i].name))
			pol->log_hash_alg = rp_algs[i].alg;
	if (!pol->log_hash_alg) {
		error_set(err, errlen, "ima.log_hash_alg: not sha1, sha256, "
			  "sha384 or sha512");
		return -1;
	}
	v = json_object_get(ima, "dm_policy");
	if (!v) {
		error_set(err, errlen, "ima.dm_policy: missing");
		return -1;
	}
	if (!json_is_null(v)) {
		error_set(err, errlen, "ima.dm_policy: device-mapper policies "
			  "are not supported (must be null)");
		return -1;
	}
	return 0;
}

/* "verification-keys": "" or a JSON text as Keylime's
 * IMA_KEYRING_JSON_SCHEMA (keylime/ima/file_signatures.py). */
static int json_keys(struct runtime_policy *pol, json_t *root, char *err,
		     size_t errlen)
{
	const char *w = "verification-keys: ";
	json_t *s, *keys, *ids, *pubs, *meta, *v;
	json_error_t jerr;
	size_t i;
	int rc = -1;

	s = member(root, "", "verification-keys", JSON_STRING, true, err,
		   errlen);
	if (!s)
		return -1;
	if (!json_string_length(s))
		return 0;
	keys = json_loadb(json_string_value(s), json_string_length(s),
			  JSON_REJECT_DUPLICATES, &jerr);
	if (!keys) {
		error_set(err, errlen, "%sinvalid JSON: %s", w, jerr.text);
		return -1;
	}
	if (!json_is_object(keys)) {
		error_set(err, errlen, "%snot a JSON object", w);
		goto out;
	}
	ids = member(keys, w, "keyids", JSON_ARRAY, true, err, errlen);
	pubs = ids ? member(keys, w, "pubkeys", JSON_ARRAY, true, err, errlen)
		   : NULL;
	if (!pubs)
		goto out;
	json_array_foreach(ids, i, v) {
		if (!json_is_integer(v)) {
			error_set(err, errlen, "%skeyids[%zu]: not an integer",
				  w, i);
			goto out;
		}
	}
	json_array_foreach(pubs, i, v) {
		if (!json_is_string(v)) {
			error_set(err, errlen, "%spubkeys[%zu]: not a string",
				  w, i);
			goto out;
		}
	}
	meta = json_object_get(keys, "meta");
	if (meta) {
		v = json_is_object(meta) ? json_object_get(meta, "version")
					 : NULL;
		if (!json_is_integer(v) || json_integer_value(v) < 1) {
			error_set(err, errlen, "%smeta.version: not an integer "
				  ">= 1", w);
			goto out;
		}
	}
	pol->nkeys = json_array_size(pubs);
	rc = 0;
out:
	json_decref(keys);
	return rc;
}

static int json_excludes(struct runtime_policy *pol, json_t *root,
			 char *err, size_t errlen)
{
	json_t *list, *v;
	size_t i;

	list = member(root, "", "excludes", JSON_ARRAY, true, err, errlen);
	if (!list)
		return -1;
	if (json_array_size(list) > RUNTIME_POLICY_MAX_EXCLUDES) {
		error_set(err, errlen, "excludes: more than %d patterns",
			  RUNTIME_POLICY_MAX_EXCLUDES);
		return -1;
	}
	pol->excludes = calloc(json_array_size(list) + 1, sizeof(regex_t));
	if (!pol->excludes) {
		error_set(err, errlen, "out of memory");
		return -1;
	}
	json_array_foreach(list, i, v) {
		/* A NUL inside would cut the pattern short. */
		if (!json_is_string(v) ||
		    strlen(json_string_value(v)) != json_string_length(v)) {
			error_set(err, errlen, "excludes[%zu]: not a string", i);
			return -1;
		}
		if (exclude_add(pol, json_string_value(v), i, err, errlen))
			return -1;
	}
	return 0;
}

static int policy_new(struct runtime_policy **out, size_t len, char *err,
		      size_t errlen)
{
	*out = NULL;
	if (len > RUNTIME_POLICY_MAX_LEN) {
		error_set(err, errlen, "runtime policy larger than %zu bytes",
			  RUNTIME_POLICY_MAX_LEN);
		return -1;
	}
	*out = calloc(1, sizeof(**out));
	if (!*out) {
		error_set(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static void policy_finish(struct runtime_policy *pol)
{
	if (pol->nentries)
		qsort(pol->entries, pol->nentries, sizeof(*pol->entries),
		      rp_entry_cmp);
}

int runtime_policy_load(const char *json, size_t len,
			struct runtime_policy **out, char *err, size_t errlen)
{
	struct runtime_policy *pol;
	json_error_t jerr;
	json_t *root;
	int t, rc = -1;

	if (policy_new(&pol, len, err, errlen))
		return -1;
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		error_set(err, errlen, "invalid JSON at line %d column %d: %s",
			  jerr.line, jerr.column, jerr.text);
		goto out;
	}
	if (!json_is_object(root)) {
		error_set(err, errlen, "runtime policy is not a JSON object");
		goto out;
	}
	if (json_object_get(root, "payload")) {
		error_set(err, errlen, "DSSE-signed runtime policies are not "
			  "supported yet");
		goto out;
	}
	if (json_meta(root, err, errlen))
		goto out;
	for (t = RUNTIME_POLICY_DIGESTS; t <= RUNTIME_POLICY_IMA_BUF; t++)
		if (json_table(pol, root, t, err, errlen))
			goto out;
	if (json_excludes(pol, root, err, errlen) ||
	    json_ima(pol, root, err, errlen) ||
	    json_keys(pol, root, err, errlen))
		goto out;
	policy_finish(pol);
	*out = pol;
	rc = 0;
out:
	json_decref(root);
	if (rc)
		runtime_policy_free(pol);
	return rc;
}

/* ------------------------------------------------------------- allowlist */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static int allowlist_line(struct runtime_policy *pol, const char *s,
			  size_t n, size_t lineno, char *err, size_t errlen)
{
	static const char kr[] = "%keyring:";
	const char *hex, *path, *name;
	size_t hexlen = 0, pathlen;
	int table = RUNTIME_POLICY_DIGESTS, rc;

	while (n && is_space(*s))
		s++, n--;
	while (n && is_space(s[n - 1]))
		n--;
	if (!n)
		return 0;
	hex = s;
	while (hexlen < n && !is_space(hex[hexlen]))
		hexlen++;
	path = hex + hexlen;
	pathlen = n - hexlen;
	while (pathlen && is_space(*path))
		path++, pathlen--;
	if (!pathlen) {
		error_set(err, errlen, "allowlist line %zu: expected "
			  "\"<digest> <path>\"", lineno);
		return -1;
	}
	if (memchr(path, 0, pathlen)) {
		error_set(err, errlen, "allowlist line %zu: NUL byte", lineno);
		return -1;
	}
	if (pathlen >= sizeof(kr) - 1 && !memcmp(path, kr, sizeof(kr) - 1)) {
		table = RUNTIME_POLICY_KEYRINGS;
		path += sizeof(kr) - 1;
		pathlen -= sizeof(kr) - 1;
	}
	name = add_name(pol, path, pathlen);
	if (!name) {
		error_set(err, errlen, "out of memory");
		return -1;
	}
	rc = add_entry(pol, table, name, hex, hexlen, err, errlen);
	if (rc > 0)
		error_set(err, errlen, "allowlist line %zu: not a digest "
			  "(lowercase hex, 40 to 128 digits)", lineno);
	return rc ? -1 : 0;
}

int runtime_policy_load_allowlist(const char *text, size_t len,
				  struct runtime_policy **out, char *err,
				  size_t errlen)
{
	struct runtime_policy *pol;
	size_t lineno = 1, n;
	const char *nl;

	if (policy_new(&pol, len, err, errlen))
		return -1;
	pol->log_hash_alg = TPM2_ALG_SHA1;
	while (len) {
		nl = memchr(text, '\n', len);
		n = nl ? (size_t)(nl - text) : len;
		if (allowlist_line(pol, text, n, lineno++, err, errlen)) {
			runtime_policy_free(pol);
			return -1;
		}
		text += n + (nl != NULL);
		len -= n + (nl != NULL);
	}
	policy_finish(pol);
	*out = pol;
	return 0;
}

/* ----------------------------------------------------------------- query */

void runtime_policy_free(struct runtime_policy *pol)
{
	size_t i;

	if (!pol)
		return;
	for (i = 0; i < pol->nnames; i++)
		free(pol->names[i]);
	for (i = 0; i < pol->nexcludes; i++)
		regfree(&pol->excludes[i]);
	for (i = 0; i < pol->nignored; i++)
		free(pol->ignored[i]);
	free(pol->names);
	free(pol->entries);
	free(pol->excludes);
	free(pol->ignored);
	free(pol);
}

uint16_t runtime_policy_log_hash_alg(const struct runtime_policy *pol)
{
	return pol->log_hash_alg;
}

size_t runtime_policy_verification_keys(const struct runtime_policy *pol)
{
	return pol->nkeys;
}

bool runtime_policy_excluded(const struct runtime_policy *pol,
			     const char *name)
{
	size_t i;

	for (i = 0; i < pol->nexcludes; i++)
		if (!regexec(&pol->excludes[i], name, 0, NULL, 0))
			return true;
	return false;
}

bool runtime_policy_keyring_ignored(const struct runtime_policy *pol,
				    const char *name)
{
	size_t i;

	if (pol->ignore_all)
		return true;
	for (i = 0; i < pol->nignored; i++)
		if (!strcmp(pol->ignored[i], name))
			return true;
	return false;
}

enum runtime_policy_match runtime_policy_lookup(
	const struct runtime_policy *pol, enum runtime_policy_table table,
	const char *name, const uint8_t *digest, size_t len)
{
	struct rp_entry key = { .name = name, .table = (uint8_t)table };
	size_t lo = 0, hi = pol->nentries, i;
	bool listed = false;

	while (lo < hi) {	/* first entry >= key */
		size_t mid = lo + (hi - lo) / 2;

		if (rp_entry_cmp(&pol->entries[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < pol->nentries &&
		     !rp_entry_cmp(&pol->entries[i], &key); i++) {
		listed = true;
		if (pol->entries[i].len == len &&
		    !memcmp(pol->entries[i].digest, digest, len))
			return RUNTIME_POLICY_ALLOWED;
	}
	return listed ? RUNTIME_POLICY_WRONG_DIGEST : RUNTIME_POLICY_NOT_LISTED;
}
