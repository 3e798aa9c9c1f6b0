/* Runs the toml-test corpus (TOML 1.0 list) through toml_parse().
 *
 * Every valid/ file must parse to exactly the values of its .json twin
 * (toml-test's tagged format), compared by meaning: integers and floats by
 * value (inf, nan, -0 included), dates and times by their parts, strings
 * byte for byte. Every invalid/ file must be refused with "line N: ...".
 * TOML_CORPUS_VERBOSE=1 also prints the error given for each invalid file. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config/toml.h"
#include "util/buf.h"
#include "util/check.h"
#include "util/file.h"

static int failures;

/* jansson cannot hold NUL in object keys, so before decoding, each JSON
 * escape \u0000 becomes this noncharacter, and NUL in the parsed TOML is
 * mapped to it before comparing. The corpus never uses U+FDD0 itself. */
#define NUL_STANDIN "\xef\xb7\x90"
#define NUL_STANDIN_ESC "\\ufdd0"

static void nul_standin_json(char *s)
{
	for (; *s; s++) {
		if (*s != '\\')
			continue;
		if (!strncmp(s, "\\u0000", 6))
			memcpy(s, NUL_STANDIN_ESC, 6);
		else if (s[1])
			s++;	/* skip the escaped character */
	}
}

/* A malloc'd copy of n bytes, NUL replaced by NUL_STANDIN. */
static char *nul_standin(const char *s, size_t n, size_t *outlen)
{
	char *out = malloc(3 * n + 1);
	size_t o = 0, i;

	if (!out)
		abort();
	for (i = 0; i < n; i++) {
		if (s[i]) {
			out[o++] = s[i];
		} else {
			memcpy(out + o, NUL_STANDIN, 3);
			o += 3;
		}
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

static void failure(const char *file, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void failure(const char *file, const char *fmt, ...)
{
	va_list ap;

	failures++;
	printf("FAIL %s: ", file);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* Expected date/time text, read independently of the parser under test:
 * [YYYY-MM-DD][(T|t| )HH:MM:SS[.frac]][Z|z|+HH:MM|-HH:MM] */
static int expected_datetime(const char *s, struct toml_datetime *dt)
{
	int n = 0, h, m, i;

	memset(dt, 0, sizeof(*dt));
	if (strlen(s) >= 10 && s[4] == '-') {
		if (sscanf(s, "%4d-%2d-%2d%n", &dt->year, &dt->month, &dt->day,
			   &n) != 3 || n != 10)
			return -1;
		dt->has_date = true;
		s += 10;
		if (*s == 'T' || *s == 't' || *s == ' ')
			s++;
		else if (*s)
			return -1;
		else
			return 0;
	}
	if (sscanf(s, "%2d:%2d:%2d%n", &dt->hour, &dt->minute, &dt->second,
		   &n) != 3 || n != 8)
		return -1;
	dt->has_time = true;
	s += 8;
	if (*s == '.') {
		for (s++, i = 0; *s >= '0' && *s <= '9'; s++, i++)
			if (i < 9)
				dt->nanosecond = dt->nanosecond * 10 + *s - '0';
		for (; i < 9; i++)
			dt->nanosecond *= 10;
	}
	if (*s == 'Z' || *s == 'z') {
		dt->has_offset = true;
		s++;
	} else if (*s == '+' || *s == '-') {
		if (sscanf(s + 1, "%2d:%2d%n", &h, &m, &n) != 2 || n != 5)
			return -1;
		dt->has_offset = true;
		dt->offset_minutes = (*s == '-' ? -1 : 1) * (h * 60 + m);
		s += 6;
	}
	return *s ? -1 : 0;
}

static const char *tag_of(enum toml_type t)
{
	switch (t) {
	case TOML_STRING: return "string";
	case TOML_INTEGER: return "integer";
	case TOML_FLOAT: return "float";
	case TOML_BOOL: return "bool";
	case TOML_DATETIME: return "datetime";
	case TOML_DATETIME_LOCAL: return "datetime-local";
	case TOML_DATE_LOCAL: return "date-local";
	case TOML_TIME_LOCAL: return "time-local";
	default: return "?";
	}
}

static int same_float(double got, const char *want)
{
	double w = strtod(want, NULL);

	if (isnan(w) || isnan(got))
		return isnan(w) && isnan(got);
	return got == w && signbit(got) == signbit(w);
}

static int same_datetime(const struct toml_value *v, const char *want)
{
	struct toml_datetime a, b;

	if (toml_datetime(v, &a) < 0 || expected_datetime(want, &b) < 0)
		return 0;
	return a.year == b.year && a.month == b.month && a.day == b.day &&
	       a.hour == b.hour && a.minute == b.minute &&
	       a.second == b.second && a.nanosecond == b.nanosecond &&
	       a.offset_minutes == b.offset_minutes &&
	       a.has_date == b.has_date && a.has_time == b.has_time &&
	       a.has_offset == b.has_offset;
}

static int compare(const struct toml_value *v, json_t *j, const char *file,
		   const char *path);

static int compare_scalar(const struct toml_value *v, json_t *j,
			  const char *file, const char *path)
{
	json_t *jt = json_object_get(j, "type"), *jv = json_object_get(j, "value");
	const char *want;
	char *got;
	size_t len;
	int ok;

	if (!json_is_object(j) || json_object_size(j) != 2 ||
	    !json_is_string(jt) || !json_is_string(jv)) {
		failure(file, "%s: got %s, expected something else", path,
			toml_type_name(toml_type(v)));
		return -1;
	}
	if (strcmp(json_string_value(jt), tag_of(toml_type(v)))) {
		failure(file, "%s: got %s, expected %s", path,
			tag_of(toml_type(v)), json_string_value(jt));
		return -1;
	}
	want = json_string_value(jv);
	switch (toml_type(v)) {
	case TOML_STRING:
		want = toml_string(v, &len);
		got = nul_standin(want, len, &len);
		want = json_string_value(jv);
		ok = len == json_string_length(jv) && !memcmp(got, want, len);
		free(got);
		break;
	case TOML_INTEGER:
		ok = toml_int(v) == strtoll(want, NULL, 10);
		break;
	case TOML_FLOAT:
		ok = same_float(toml_float(v), want);
		break;
	case TOML_BOOL:
		ok = !strcmp(want, toml_bool(v) ? "true" : "false");
		break;
	default:
		ok = same_datetime(v, want);
		break;
	}
	if (!ok) {
		failure(file, "%s: value differs from expected '%s'", path,
			want);
		return -1;
	}
	return 0;
}

static int compare_table(const struct toml_value *v, json_t *j,
			 const char *file, const char *path)
{
	const struct toml_value *item;
	const char *key;
	char sub[512], *mapped;
	size_t i, klen;
	int rc;

	if (!json_is_object(j) || json_object_size(j) != toml_table_len(v)) {
		failure(file, "%s: table with %zu keys, expected %zu", path,
			toml_table_len(v),
			json_is_object(j) ? json_object_size(j) : 0);
		return -1;
	}
	for (i = 0; i < toml_table_len(v); i++) {
		key = toml_table_key_at(v, i, &klen, &item);
		mapped = nul_standin(key, klen, &klen);
		snprintf(sub, sizeof(sub), "%.250s.%.250s", path, mapped);
		rc = compare(item, json_object_getn(j, mapped, klen), file, sub);
		free(mapped);
		if (rc)
			return -1;
	}
	return 0;
}

static int compare_array(const struct toml_value *v, json_t *j,
			 const char *file, const char *path)
{
	char sub[512];
	size_t i;

	if (!json_is_array(j) || json_array_size(j) != toml_array_len(v)) {
		failure(file, "%s: array with %zu items, expected %zu", path,
			toml_array_len(v),
			json_is_array(j) ? json_array_size(j) : 0);
		return -1;
	}
	for (i = 0; i < toml_array_len(v); i++) {
		snprintf(sub, sizeof(sub), "%.400s[%zu]", path, i);
		if (compare(toml_array_at(v, i), json_array_get(j, i), file,
			    sub))
			return -1;
	}
	return 0;
}

static int compare(const struct toml_value *v, json_t *j, const char *file,
		   const char *path)
{
	if (!j) {
		failure(file, "%s: not expected", path);
		return -1;
	}
	switch (toml_type(v)) {
	case TOML_TABLE:
		return compare_table(v, j, file, path);
	case TOML_ARRAY:
		return compare_array(v, j, file, path);
	default:
		return compare_scalar(v, j, file, path);
	}
}

static struct toml_value *parse_file(const char *path, char *err,
				     size_t errlen)
{
	struct buf text = BUF_INIT;
	struct toml_value *root;

	if (file_read(path, TOML_MAX_INPUT, &text) < 0) {
		snprintf(err, errlen, "cannot read the file");
		return NULL;
	}
	root = toml_parse((const char *)text.data, text.len, err, errlen);
	buf_free(&text);
	return root;
}

static int check_valid(const char *dir, const char *name)
{
	char path[2200], err[256];
	struct toml_value *root;
	struct buf text = BUF_INIT;
	json_error_t jerr;
	json_t *want = NULL;
	size_t n = strlen(name);
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	root = parse_file(path, err, sizeof(err));
	if (!root) {
		failure(name, "refused: %s", err);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%.*s.json", dir, (int)(n - 5), name);
	snprintf(jerr.text, sizeof(jerr.text), "cannot read the file");
	if (file_read(path, 1 << 20, &text) == 0) {
		nul_standin_json((char *)text.data);
		want = json_loadb((const char *)text.data, text.len,
				  JSON_ALLOW_NUL, &jerr);
	}
	buf_free(&text);
	if (!want) {
		failure(name, "cannot read the expected JSON: %s", jerr.text);
		toml_free(root);
		return -1;
	}
	rc = compare(root, want, name, "");
	json_decref(want);
	toml_free(root);
	return rc;
}

static bool line_numbered(const char *err)
{
	int line = 0, n = 0;

	return sscanf(err, "line %d: %n", &line, &n) == 1 && line > 0 &&
	       n > 0 && err[n] != '\0';
}

static int check_invalid(const char *dir, const char *name)
{
	char path[2200], err[256];
	struct toml_value *root;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	root = parse_file(path, err, sizeof(err));
	if (root) {
		toml_free(root);
		failure(name, "accepted, should be refused");
		return -1;
	}
	if (!line_numbered(err)) {
		failure(name, "error without a line number: '%s'", err);
		return -1;
	}
	if (getenv("TOML_CORPUS_VERBOSE"))
		printf("%s: %s\n", name, err);
	return 0;
}

int main(void)
{
	const char *fixtures = getenv("ASSAY_FIXTURES");
	char dir[1024], list[1100], line[1024];
	int valid = 0, invalid = 0;
	size_t n;
	FILE *f;

	if (!fixtures)
		CHECK_SKIP("ASSAY_FIXTURES is not set");
	snprintf(dir, sizeof(dir), "%s/toml/tests", fixtures);
	snprintf(list, sizeof(list), "%s/files-toml-1.0.0", dir);
	f = fopen(list, "r");
	if (!f)
		CHECK_SKIP("toml-test corpus missing: %s", list);
	while (fgets(line, sizeof(line), f)) {
		n = strcspn(line, "\r\n");
		line[n] = '\0';
		if (n < 5 || strcmp(line + n - 5, ".toml"))
			continue;
		if (!strncmp(line, "valid/", 6))
			valid += check_valid(dir, line) == 0;
		else if (!strncmp(line, "invalid/", 8))
			invalid += check_invalid(dir, line) == 0;
	}
	fclose(f);
	printf("toml corpus: %d valid ok, %d invalid rejected, %d failures\n",
	       valid, invalid, failures);
	/* an empty or unreadable list must not pass */
	CHECK(valid > 0 && invalid > 0);
	CHECK_INT(failures, 0);
	return check_done();
}
