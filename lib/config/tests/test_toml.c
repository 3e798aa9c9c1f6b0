/* Unit tests for the TOML reader: the API, the table rules, limits, and the
 * exact error messages with their line numbers. The toml-test corpus is run
 * separately (test_toml_corpus.c). */
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/toml.h"
#include "util/check.h"

static char err[256];

static struct toml_value *parse(const char *text)
{
	return toml_parse(text, strlen(text), err, sizeof(err));
}

/* Parses text that must fail, returns the message. */
static const char *error_of(const char *text)
{
	struct toml_value *v = parse(text);

	if (v) {
		toml_free(v);
		return "(accepted)";
	}
	return err;
}

static void test_scalars(void)
{
	struct toml_value *root = parse(
		"s = \"a\\tb\\u00e9\\U0001F600\"\n"
		"lit = 'C:\\path'\n"
		"nul = \"x\\u0000y\"\n"
		"ml = \"\"\"\nline1\r\nline2 \\\n     joined\"\"\"\n"
		"i = -9_223_372_036_854_775_808\n"
		"imax = 9223372036854775807\n"
		"hex = 0xDEAD_beef\n"
		"oct = 0o755\n"
		"bin = 0b1010\n"
		"f = 6.626e-34\n"
		"ninf = -inf\n"
		"nan = nan\n"
		"nz = -0.0\n"
		"yes = true\n"
		"no = false\n");
	const struct toml_value *v;
	size_t len;

	CHECK(root != NULL);
	if (!root) {
		printf("error: %s\n", err);
		return;
	}
	CHECK_INT(toml_type(root), TOML_TABLE);
	CHECK_STR(toml_string(toml_table_get(root, "s"), NULL),
		  "a\tb\xc3\xa9\xf0\x9f\x98\x80");
	CHECK_STR(toml_string(toml_table_get(root, "lit"), NULL), "C:\\path");
	v = toml_table_get(root, "nul");
	CHECK(toml_string(v, &len) != NULL);
	CHECK_INT(len, 3);
	CHECK(!memcmp(toml_string(v, NULL), "x\0y", 4));
	/* first newline trimmed, CRLF read as LF, backslash joins lines */
	CHECK_STR(toml_string(toml_table_get(root, "ml"), NULL),
		  "line1\nline2 joined");
	CHECK(toml_int(toml_table_get(root, "i")) == INT64_MIN);
	CHECK(toml_int(toml_table_get(root, "imax")) == INT64_MAX);
	CHECK_INT(toml_int(toml_table_get(root, "hex")), 0xdeadbeef);
	CHECK_INT(toml_int(toml_table_get(root, "oct")), 0755);
	CHECK_INT(toml_int(toml_table_get(root, "bin")), 10);
	CHECK(toml_float(toml_table_get(root, "f")) == 6.626e-34);
	CHECK(isinf(toml_float(toml_table_get(root, "ninf"))));
	CHECK(toml_float(toml_table_get(root, "ninf")) < 0);
	CHECK(isnan(toml_float(toml_table_get(root, "nan"))));
	v = toml_table_get(root, "nz");
	CHECK(toml_float(v) == 0.0 && signbit(toml_float(v)));
	CHECK(toml_bool(toml_table_get(root, "yes")) == true);
	CHECK(toml_bool(toml_table_get(root, "no")) == false);
	CHECK_INT(toml_type(toml_table_get(root, "no")), TOML_BOOL);
	/* wrong-type and out-of-range access is harmless */
	CHECK(toml_string(toml_table_get(root, "i"), &len) == NULL);
	CHECK_INT(toml_int(toml_table_get(root, "s")), 0);
	CHECK(toml_table_get(root, "missing") == NULL);
	CHECK(toml_table_get(toml_table_get(root, "s"), "x") == NULL);
	CHECK(toml_array_at(root, 0) == NULL);
	CHECK(toml_table_key_at(root, 99, NULL, NULL) == NULL);
	CHECK_STR(toml_type_name(TOML_INTEGER), "integer");
	CHECK_STR(toml_type_name(TOML_ARRAY), "array");
	CHECK_STR(toml_type_name(TOML_TIME_LOCAL), "local time");
	CHECK_STR(toml_type_name(TOML_NONE), "nothing");
	CHECK_INT(toml_type(toml_table_get(root, "missing")), TOML_NONE);
	toml_free(root);
}

static void test_datetimes(void)
{
	struct toml_value *root = parse(
		"odt = 1979-05-27T00:32:00.999999999999-07:30\n"
		"z = 2000-02-29 23:59:60z\n"
		"ldt = 1979-05-27T07:32:00\n"
		"ld = 1979-05-27\n"
		"lt = 07:32:00.5\n");
	struct toml_datetime dt;

	CHECK(root != NULL);
	if (!root)
		return;
	CHECK_INT(toml_datetime(toml_table_get(root, "odt"), &dt), 0);
	CHECK_INT(toml_type(toml_table_get(root, "odt")), TOML_DATETIME);
	CHECK(dt.has_date && dt.has_time && dt.has_offset);
	CHECK_INT(dt.year, 1979);
	CHECK_INT(dt.month, 5);
	CHECK_INT(dt.day, 27);
	CHECK_INT(dt.minute, 32);
	CHECK_INT(dt.nanosecond, 999999999);	/* truncated, not rounded */
	CHECK_INT(dt.offset_minutes, -450);
	CHECK_INT(toml_datetime(toml_table_get(root, "z"), &dt), 0);
	CHECK(dt.has_offset && dt.offset_minutes == 0 && dt.second == 60);
	CHECK_INT(toml_type(toml_table_get(root, "ldt")), TOML_DATETIME_LOCAL);
	CHECK_INT(toml_datetime(toml_table_get(root, "ld"), &dt), 0);
	CHECK_INT(toml_type(toml_table_get(root, "ld")), TOML_DATE_LOCAL);
	CHECK(dt.has_date && !dt.has_time && !dt.has_offset);
	CHECK_INT(toml_datetime(toml_table_get(root, "lt"), &dt), 0);
	CHECK_INT(toml_type(toml_table_get(root, "lt")), TOML_TIME_LOCAL);
	CHECK(!dt.has_date && dt.has_time);
	CHECK_INT(dt.hour, 7);
	CHECK_INT(dt.nanosecond, 500000000);
	CHECK_INT(toml_datetime(root, &dt), -1);
	toml_free(root);
}

static void test_tables(void)
{
	struct toml_value *root = parse(
		"title = 'x'\n"
		"[server]\n"
		"port = 1\n"
		"tls.cert = 'c'\n"
		"tls.key = 'k'\n"
		"[[peer]]\n"
		"name = 'a'\n"
		"[peer.extra]\n"
		"n = 1\n"
		"[[peer]]\n"
		"name = 'b'\n"
		"[x.y.z]\n"
		"[x]\n"
		"\"\\u0000\" = 1\n"
		"inl = { a.b = 1, c = [1, 'two', { d = 3 }] }\n");
	const struct toml_value *t, *peer, *v;
	const char *k;
	size_t klen;

	CHECK(root != NULL);
	if (!root) {
		printf("error: %s\n", err);
		return;
	}
	/* insertion order */
	CHECK_INT(toml_table_len(root), 4);
	CHECK_STR(toml_table_key_at(root, 0, NULL, NULL), "title");
	CHECK_STR(toml_table_key_at(root, 1, NULL, &t), "server");
	CHECK_INT(toml_type(t), TOML_TABLE);
	CHECK_STR(toml_table_key_at(root, 2, NULL, NULL), "peer");
	CHECK_STR(toml_table_key_at(root, 3, NULL, NULL), "x");
	CHECK_STR(toml_string(toml_table_get(toml_table_get(t, "tls"), "key"),
			      NULL), "k");
	CHECK_INT(toml_line(toml_table_get(t, "port")), 3);
	CHECK_INT(toml_line(t), 2);
	peer = toml_table_get(root, "peer");
	CHECK_INT(toml_type(peer), TOML_ARRAY);
	CHECK_INT(toml_array_len(peer), 2);
	CHECK_STR(toml_string(toml_table_get(toml_array_at(peer, 1), "name"),
			      NULL), "b");
	CHECK_INT(toml_int(toml_table_get(toml_table_get(
		toml_array_at(peer, 0), "extra"), "n")), 1);
	CHECK(toml_table_get(toml_array_at(peer, 1), "extra") == NULL);
	/* [x] defined after its child: its line is that of [x] */
	t = toml_table_get(root, "x");
	CHECK_INT(toml_line(t), 13);
	k = toml_table_key_at(t, 1, &klen, &v);
	CHECK(k && klen == 1 && k[0] == '\0');
	CHECK_INT(toml_int(v), 1);
	v = toml_table_get(toml_table_get(t, "inl"), "c");
	CHECK_INT(toml_array_len(v), 3);
	CHECK_INT(toml_int(toml_table_get(toml_array_at(v, 2), "d")), 3);
	CHECK_INT(toml_type(toml_array_at(v, 1)), TOML_STRING);
	toml_free(root);
}

/* Enough keys to use the hash index, and duplicates found through it. */
static void test_big_table(void)
{
	char *text = malloc(20 * 5000 + 64), *p = text;
	struct toml_value *root;
	char key[32];
	int i;

	if (!text)
		abort();
	for (i = 0; i < 5000; i++)
		p += sprintf(p, "k%d = %d\n", i, i);
	root = toml_parse(text, (size_t)(p - text), err, sizeof(err));
	CHECK(root != NULL);
	CHECK_INT(toml_table_len(root), 5000);
	for (i = 0; i < 5000; i += 499) {
		snprintf(key, sizeof(key), "k%d", i);
		CHECK_INT(toml_int(toml_table_get(root, key)), i);
	}
	CHECK(toml_table_get(root, "k5000") == NULL);
	toml_free(root);
	p += sprintf(p, "k4321 = 0\n");
	root = toml_parse(text, (size_t)(p - text), err, sizeof(err));
	CHECK(root == NULL);
	CHECK_STR(err, "line 5001: duplicate key 'k4321'");
	free(text);
}

static void test_errors(void)
{
	CHECK_STR(error_of("a = 1\nb = 2\n\nc =\n"),
		  "line 4: expected a value, found end of line");
	CHECK_STR(error_of("a = 1\r\nb = 2\r\nb = 3\r\n"),
		  "line 3: duplicate key 'b'");
	CHECK_STR(error_of("s = \"\"\"\none\ntwo\n\"\"\"\nx = 1 2\n"),
		  "line 5: expected end of line, found '2'");
	CHECK_STR(error_of("a = 1\ns = '''\nnever closed\n"),
		  "line 2: unterminated string");
	CHECK_STR(error_of("a = [\n  1,\n  2\n  3,\n]\n"),
		  "line 4: expected ',' or ']' in an array, found '3'");
	CHECK_STR(error_of("i = 9223372036854775808\n"),
		  "line 1: integer out of range '9223372036854775808'");
	CHECK_STR(error_of("i = -9223372036854775809\n"),
		  "line 1: integer out of range '-9223372036854775809'");
	CHECK_STR(error_of("i = 0x8000000000000000\n"),
		  "line 1: integer out of range '0x8000000000000000'");
	CHECK_STR(error_of("f = 1e400\n"),
		  "line 1: float out of range '1e400'");
	CHECK_STR(error_of("i = 007\n"),
		  "line 1: leading zeros are not allowed in '007'");
	CHECK_STR(error_of("i = 1__0\n"), "line 1: invalid number '1__0'");
	CHECK_STR(error_of("d = 2023-02-29\n"),
		  "line 1: day out of range in '2023-02-29'");
	CHECK_STR(error_of("d = 1979-05-27T25:00:00Z\n"),
		  "line 1: time out of range in '1979-05-27T25:00:00Z'");
	CHECK_STR(error_of("s = \"\\q\"\n"), "line 1: invalid escape "
		  "sequence: backslash followed by 'q'");
	CHECK_STR(error_of("s = \"\\uD800\"\n"),
		  "line 1: escape \\uD800 is not a Unicode scalar value");
	CHECK_STR(error_of("s = \"a\x01\"\n"),
		  "line 1: control character U+0001 in a string");
	CHECK_STR(error_of("# ok\n# bad \x7f\n"),
		  "line 2: control character U+007F in a comment");
	CHECK_STR(error_of("a = 1\n\xc0\xaf = 2\n"), "line 2: invalid UTF-8");
	CHECK_STR(error_of("a = 1\rb = 2\n"),
		  "line 1: carriage return not followed by a line feed");
	CHECK_STR(error_of("[a]\nb = 1\n[a]\n"),
		  "line 3: table 'a' is already defined");
	CHECK_STR(error_of("[a]\nb.c = 1\n[a.b]\n"),
		  "line 3: table 'a.b' is already defined");
	CHECK_STR(error_of("[a.b]\n[a]\nb.c = 1\n"),
		  "line 3: cannot add to table 'b' with dotted keys: it "
		  "belongs to a [table] header");
	CHECK_STR(error_of("a = {b = 1}\n[a.c]\n"),
		  "line 2: cannot add to inline table 'a'");
	CHECK_STR(error_of("a = [1]\n[[a]]\n"), "line 2: cannot make 'a' an "
		  "array of tables: it is already a static array");
	CHECK_STR(error_of("a = 1\n[a.b]\n"),
		  "line 2: key 'a' is already an integer, not a table");
	CHECK_STR(error_of("a = {b = 1,\n}\n"),
		  "line 1: an inline table must be on one line");
	CHECK_STR(error_of("a = {b = 1, }\n"),
		  "line 1: trailing comma in an inline table");
	CHECK_STR(error_of("[a] x = 1\n"),
		  "line 1: expected end of line, found 'x'");
	CHECK_STR(error_of("[[a]\n"),
		  "line 1: expected ']]' to close the header, found end of line");
	CHECK_STR(error_of("a = truex\n"), "line 1: unexpected 'x' after 'true'");
	CHECK_STR(error_of("\"\"\"k\"\"\" = 1\n"),
		  "line 1: a multi-line string cannot be a key");
	/* implicit table filled by dotted keys cannot be defined later */
	CHECK_STR(error_of("[a.b.c]\n[a]\nb.d = 1\n[a.b]\n"),
		  "line 4: table 'a.b' is already defined");
	/* a short error buffer is truncated, never overrun */
	{
		char small[10];

		CHECK(toml_parse("x", 1, small, sizeof(small)) == NULL);
		CHECK_STR(small, "line 1: e");
		CHECK(toml_parse("x", 1, NULL, 0) == NULL);
	}
}

static void test_limits(void)
{
	size_t n = 100000, i;
	char *text = malloc(2 * n + 16), *p;
	struct toml_value *root;

	if (!text)
		abort();
	/* 128 levels of arrays are fine, 129 are not */
	p = text + sprintf(text, "a = ");
	for (i = 0; i < 128; i++)
		*p++ = '[';
	for (i = 0; i < 128; i++)
		*p++ = ']';
	root = toml_parse(text, (size_t)(p - text), err, sizeof(err));
	CHECK(root != NULL);
	toml_free(root);
	p = text + sprintf(text, "a = ");
	for (i = 0; i < 129; i++)
		*p++ = '[';
	for (i = 0; i < 129; i++)
		*p++ = ']';
	CHECK(toml_parse(text, (size_t)(p - text), err, sizeof(err)) == NULL);
	CHECK_STR(err, "line 1: tables and arrays nested deeper than 128 levels");
	/* a hostile depth is refused, not followed */
	p = text + sprintf(text, "a = ");
	for (i = 0; i < n; i++)
		*p++ = i % 2 ? '[' : '{';
	CHECK(toml_parse(text, (size_t)(p - text), err, sizeof(err)) == NULL);
	/* headers and dotted keys count towards the depth too */
	p = text + sprintf(text, "[");
	for (i = 0; i < 200; i++)
		p += sprintf(p, "%sk", i ? "." : "");
	p += sprintf(p, "]\n");
	CHECK(toml_parse(text, (size_t)(p - text), err, sizeof(err)) == NULL);
	CHECK_STR(err, "line 1: key has more than 128 parts");
	p = text + sprintf(text, "[");
	for (i = 0; i < 100; i++)
		p += sprintf(p, "%sk", i ? "." : "");
	p += sprintf(p, "]\n");
	for (i = 0; i < 100; i++)
		p += sprintf(p, "%sk", i ? "." : "");
	p += sprintf(p, " = 1\n");
	CHECK(toml_parse(text, (size_t)(p - text), err, sizeof(err)) == NULL);
	CHECK_STR(err, "line 2: tables and arrays nested deeper than 128 "
		  "levels");
	free(text);

	/* the number of values is bounded too: the root and the array count */
	text = malloc(2 * TOML_MAX_VALUES + 16);
	if (!text)
		abort();
	p = text + sprintf(text, "a = [");
	for (i = 0; i < TOML_MAX_VALUES - 2; i++)
		p += sprintf(p, "0,");
	p += sprintf(p, "]");
	root = toml_parse(text, (size_t)(p - text), err, sizeof(err));
	CHECK(root != NULL);
	CHECK_INT(toml_array_len(toml_table_get(root, "a")),
		  TOML_MAX_VALUES - 2);
	toml_free(root);
	p = text + sprintf(text, "a = [");
	for (i = 0; i < TOML_MAX_VALUES - 1; i++)
		p += sprintf(p, "0,");
	p += sprintf(p, "]");
	CHECK(toml_parse(text, (size_t)(p - text), err, sizeof(err)) == NULL);
	CHECK_STR(err, "line 1: more than 262144 values");
	free(text);

	/* the size limit is checked before anything is read */
	text = calloc(1, TOML_MAX_INPUT + 1);
	if (!text)
		abort();
	CHECK(toml_parse(text, TOML_MAX_INPUT + 1, err, sizeof(err)) == NULL);
	CHECK_STR(err, "line 1: document larger than 16777216 bytes");
	free(text);
	root = toml_parse(NULL, 0, err, sizeof(err));
	CHECK(root != NULL);
	CHECK_INT(toml_table_len(root), 0);
	toml_free(root);
}

/* Floats must not depend on the process locale's decimal point. */
static void test_locale(void)
{
	struct toml_value *root;

	if (!setlocale(LC_NUMERIC, "de_DE.UTF-8") &&
	    !setlocale(LC_NUMERIC, "fr_FR.UTF-8")) {
		printf("note: no comma-decimal locale installed, locale "
		       "check skipped\n");
		return;
	}
	root = parse("f = 1.5\n");
	CHECK(root && toml_float(toml_table_get(root, "f")) == 1.5);
	toml_free(root);
	setlocale(LC_NUMERIC, "C");
}

int main(void)
{
	test_scalars();
	test_datetimes();
	test_tables();
	test_big_table();
	test_errors();
	test_limits();
	test_locale();
	return check_done();
}
