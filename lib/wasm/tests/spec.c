/* wasm_spec: runs the WebAssembly core spec tests against the engine.
 *
 * Input is wast2json output: X.json (a list of commands) beside X.N.wasm
 * (binary modules) and X.N.wat (text modules, which we do not parse: the
 * commands using them are counted as skipped). Only the public embedding
 * API (include/assay/wasm.h) is used, so this also tests that the API is
 * enough to host the spec's own test driver.
 *
 *   wasm_spec [-v] [--strict-text] [--timeout SECONDS] [-j N]
 *             [--expected-failures FILE] [DIR | FILE.json]...
 *   wasm_spec --self-test
 *
 * Without a path, $ASSAY_FIXTURES/wasm/spec-2.0/core is used; when the
 * fixtures are absent the program prints "SKIP: ..." and exits 77.
 *
 * Each file runs in a forked child with a fresh store, so an engine crash
 * or hang (alarm) costs that file's remaining commands, never the other
 * files' results. Up to N children (-j, default one per CPU) run at once;
 * the reports are printed in file order. A child reports one record per
 * command through a pipe; the parent parses the JSON itself too, so it
 * knows which command was running when a child died and how many never
 * ran.
 *
 * Exit status: 0 when every command passed or is listed in the expected
 * failures file, 1 otherwise (including a listed test that now passes: the
 * list must stay accurate), 77 when skipped. */
#include <assay/wasm.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/check.h"
#include "util/error.h"
#include "util/file.h"
#include "util/map.h"

/* Bounds on what we read: the real files are far below these. */
#define SPEC_MAX_JSON ((size_t)64 << 20)
#define SPEC_MAX_WASM ((size_t)64 << 20)
#define SPEC_MAX_COMMANDS 1000000
#define SPEC_MAX_VALUES 256	/* params or results of one call */
#define SPEC_MAX_IMPORTS 100000

/* Runaway limits. Generous: a whole spec file takes well under a second,
 * so anything near these is an engine bug (an infinite loop), not a slow
 * test. The per-action limits turn a runaway into a trap and let the rest
 * of the file run; the per-file alarm catches what they cannot (a hang in
 * load or in the host side). */
#define SPEC_FUEL 1000000000ULL
#define SPEC_ACTION_SECONDS 5
#define SPEC_FILE_SECONDS 60

#define SPEC_MSG 900		/* one record; below PIPE_BUF */
#define SPEC_ERR 512

/* ---- values ---- */

/* How an expected value is compared with a result. */
enum spec_match {
	SPEC_EXACT,		/* same type and bits (refs: same pointer) */
	SPEC_NAN_CANONICAL,	/* nan:canonical */
	SPEC_NAN_ARITHMETIC,	/* nan:arithmetic */
	SPEC_NONNULL,		/* ref.func / ref.extern without a value */
};

struct spec_expect {
	struct assay_wasm_value v;
	enum spec_match match;
};

/* The spec's canonical NaN has only the top fraction bit set (either
 * sign); an arithmetic NaN has that bit set and any other payload. */
static int spec_f32_nan_canonical(uint32_t b)
{
	return (b & 0x7fffffffu) == 0x7fc00000u;
}

static int spec_f32_nan_arithmetic(uint32_t b)
{
	return (b & 0x7fc00000u) == 0x7fc00000u;
}

static int spec_f64_nan_canonical(uint64_t b)
{
	return (b & 0x7fffffffffffffffull) == 0x7ff8000000000000ull;
}

static int spec_f64_nan_arithmetic(uint64_t b)
{
	return (b & 0x7ff8000000000000ull) == 0x7ff8000000000000ull;
}

/* wast2json writes integers and float bits as unsigned decimal strings.
 * Digits only: no sign, no blanks, no hex, nothing after. */
static int spec_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		unsigned d;

		if (*s < '0' || *s > '9')
			return -1;
		d = (unsigned)(*s - '0');
		if (d > max || v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int spec_parse_type(const char *s, enum assay_wasm_type *t)
{
	static const struct {
		const char *name;
		enum assay_wasm_type type;
	} types[] = {
		{ "i32", ASSAY_WASM_I32 }, { "i64", ASSAY_WASM_I64 },
		{ "f32", ASSAY_WASM_F32 }, { "f64", ASSAY_WASM_F64 },
		{ "funcref", ASSAY_WASM_FUNCREF },
		{ "externref", ASSAY_WASM_EXTERNREF },
	};
	size_t i;

	if (!s)
		return -1;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (!strcmp(s, types[i].name)) {
			*t = types[i].type;
			return 0;
		}
	}
	return -1;
}

/* A string member as a C string: NULL when absent, not a string, or
 * holding a NUL byte (which would silently cut it short). */
static const char *spec_str(const json_t *obj, const char *key)
{
	const json_t *j = json_object_get(obj, key);
	const char *s = json_string_value(j);

	if (!s || strlen(s) != json_string_length(j))
		return NULL;
	return s;
}

/* The spec's host reference "ref.extern N" becomes a pointer wasm cannot
 * look into; N + 1 keeps ref.extern 0 distinct from ref.null. */
static void *spec_extern_ptr(uint64_t n)
{
	return (void *)(uintptr_t)(n + 1);
}

/* Parses {"type": T, "value": V}. Patterns (NaN classes, non-null refs)
 * only make sense in expected results. */
static int spec_parse_value(const json_t *j, int patterns, struct spec_expect *out,
			    char *err, size_t errlen)
{
	const char *ts, *vs;
	const json_t *jv;
	uint64_t u;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(j)) {
		error_set(err, errlen, "value is not an object");
		return -1;
	}
	ts = spec_str(j, "type");
	if (spec_parse_type(ts, &out->v.type) < 0) {
		error_set(err, errlen, "unsupported value type %s", ts ? ts : "(none)");
		return -1;
	}
	jv = json_object_get(j, "value");
	if (!jv) {
		if (patterns && (out->v.type == ASSAY_WASM_FUNCREF ||
				 out->v.type == ASSAY_WASM_EXTERNREF)) {
			out->match = SPEC_NONNULL;
			return 0;
		}
		error_set(err, errlen, "%s value missing", ts);
		return -1;
	}
	vs = json_string_value(jv);
	if (!vs) {
		error_set(err, errlen, "%s value is not a string", ts);
		return -1;
	}
	switch (out->v.type) {
	case ASSAY_WASM_I32:
		if (spec_parse_u64(vs, UINT32_MAX, &u) < 0)
			goto bad;
		out->v.of.i32 = (int32_t)(uint32_t)u;
		return 0;
	case ASSAY_WASM_I64:
		if (spec_parse_u64(vs, UINT64_MAX, &u) < 0)
			goto bad;
		out->v.of.i64 = (int64_t)u;
		return 0;
	case ASSAY_WASM_F32:
	case ASSAY_WASM_F64:
		if (patterns && !strcmp(vs, "nan:canonical")) {
			out->match = SPEC_NAN_CANONICAL;
			return 0;
		}
		if (patterns && !strcmp(vs, "nan:arithmetic")) {
			out->match = SPEC_NAN_ARITHMETIC;
			return 0;
		}
		if (out->v.type == ASSAY_WASM_F32) {
			if (spec_parse_u64(vs, UINT32_MAX, &u) < 0)
				goto bad;
			out->v.of.f32 = (uint32_t)u;
		} else {
			if (spec_parse_u64(vs, UINT64_MAX, &u) < 0)
				goto bad;
			out->v.of.f64 = u;
		}
		return 0;
	case ASSAY_WASM_FUNCREF:
		/* A test cannot name a function by number from outside. */
		if (strcmp(vs, "null"))
			goto bad;
		out->v.of.funcref = NULL;
		return 0;
	case ASSAY_WASM_EXTERNREF:
		if (!strcmp(vs, "null")) {
			out->v.of.externref = NULL;
			return 0;
		}
		if (spec_parse_u64(vs, UINTPTR_MAX - 1, &u) < 0)
			goto bad;
		out->v.of.externref = spec_extern_ptr(u);
		return 0;
	}
bad:
	error_set(err, errlen, "bad %s value \"%.40s\"", ts, vs);
	return -1;
}

static int spec_value_matches(const struct spec_expect *e,
			      const struct assay_wasm_value *v)
{
	if (v->type != e->v.type)
		return 0;
	switch (e->match) {
	case SPEC_NAN_CANONICAL:
		if (v->type == ASSAY_WASM_F32)
			return spec_f32_nan_canonical(v->of.f32);
		return v->type == ASSAY_WASM_F64 && spec_f64_nan_canonical(v->of.f64);
	case SPEC_NAN_ARITHMETIC:
		if (v->type == ASSAY_WASM_F32)
			return spec_f32_nan_arithmetic(v->of.f32);
		return v->type == ASSAY_WASM_F64 && spec_f64_nan_arithmetic(v->of.f64);
	case SPEC_NONNULL:
		if (v->type == ASSAY_WASM_FUNCREF)
			return v->of.funcref != NULL;
		return v->type == ASSAY_WASM_EXTERNREF && v->of.externref != NULL;
	case SPEC_EXACT:
		break;
	}
	switch (v->type) {
	case ASSAY_WASM_I32:
		return v->of.i32 == e->v.of.i32;
	case ASSAY_WASM_I64:
		return v->of.i64 == e->v.of.i64;
	case ASSAY_WASM_F32:
		return v->of.f32 == e->v.of.f32;	/* bits: -0 != 0, NaN == NaN */
	case ASSAY_WASM_F64:
		return v->of.f64 == e->v.of.f64;
	case ASSAY_WASM_FUNCREF:
		return v->of.funcref == e->v.of.funcref;
	case ASSAY_WASM_EXTERNREF:
		return v->of.externref == e->v.of.externref;
	}
	return 0;
}

static const char *spec_type_name(enum assay_wasm_type t)
{
	switch (t) {
	case ASSAY_WASM_I32: return "i32";
	case ASSAY_WASM_I64: return "i64";
	case ASSAY_WASM_F32: return "f32";
	case ASSAY_WASM_F64: return "f64";
	case ASSAY_WASM_FUNCREF: return "funcref";
	case ASSAY_WASM_EXTERNREF: return "externref";
	}
	return "?";
}

/* Values are shown as the JSON spells them (so a failure can be found in
 * the file), floats with their decimal value as well. */
static void spec_value_str(const struct assay_wasm_value *v, char *buf, size_t n)
{
	float f;
	double d;

	switch (v->type) {
	case ASSAY_WASM_I32:
		snprintf(buf, n, "i32:%" PRIu32, (uint32_t)v->of.i32);
		return;
	case ASSAY_WASM_I64:
		snprintf(buf, n, "i64:%" PRIu64, (uint64_t)v->of.i64);
		return;
	case ASSAY_WASM_F32:
		memcpy(&f, &v->of.f32, sizeof(f));
		snprintf(buf, n, "f32:%" PRIu32 "(%.9g)", v->of.f32, (double)f);
		return;
	case ASSAY_WASM_F64:
		memcpy(&d, &v->of.f64, sizeof(d));
		snprintf(buf, n, "f64:%" PRIu64 "(%.17g)", v->of.f64, d);
		return;
	case ASSAY_WASM_FUNCREF:
		if (v->of.funcref)
			snprintf(buf, n, "funcref:%p", (void *)v->of.funcref);
		else
			snprintf(buf, n, "funcref:null");
		return;
	case ASSAY_WASM_EXTERNREF:
		if (v->of.externref)
			snprintf(buf, n, "externref:%" PRIuPTR,
				 (uintptr_t)v->of.externref - 1);
		else
			snprintf(buf, n, "externref:null");
		return;
	}
	snprintf(buf, n, "type0x%x", (unsigned)v->type);
}

static void spec_expect_str(const struct spec_expect *e, char *buf, size_t n)
{
	switch (e->match) {
	case SPEC_NAN_CANONICAL:
		snprintf(buf, n, "%s:nan:canonical", spec_type_name(e->v.type));
		return;
	case SPEC_NAN_ARITHMETIC:
		snprintf(buf, n, "%s:nan:arithmetic", spec_type_name(e->v.type));
		return;
	case SPEC_NONNULL:
		snprintf(buf, n, "%s:non-null", spec_type_name(e->v.type));
		return;
	case SPEC_EXACT:
		spec_value_str(&e->v, buf, n);
		return;
	}
}

/* Appends "a, b, c" of n values to out (bounded). */
static void spec_values_str(struct buf *out, const struct assay_wasm_value *v, uint32_t n)
{
	char one[96];
	uint32_t i;

	for (i = 0; i < n; i++) {
		spec_value_str(&v[i], one, sizeof(one));
		buf_printf(out, "%s%s", i ? ", " : "", one);
	}
}

/* The reference interpreter's rule: the engine's message must start with
 * the text the test gives. */
static int spec_text_matches(const char *got, const char *want)
{
	size_t n;

	if (!got || !want)
		return 0;
	n = strlen(want);
	return strncmp(got, want, n) == 0;
}

/* ---- expected failures ---- */

struct spec_xfail {
	char file[128];
	long line;
	char reason[256];
	int hit;		/* 1 failed as listed, 2 passed (stale entry) */
};

struct spec_xfails {
	struct spec_xfail *v;
	size_t n;
};

/* One entry per line: "file.json:LINE reason"; '#' starts a comment line.
 * The reason is required: the list is a list of justifications. */
static int spec_xfail_parse(const char *text, size_t len, struct spec_xfails *out,
			    char *err, size_t errlen)
{
	size_t pos = 0, lineno = 0;

	out->v = NULL;
	out->n = 0;
	while (pos < len) {
		char line[512], *p, *colon, *sp;
		size_t end = pos, n;
		uint64_t ln;
		struct spec_xfail *x, *nv;

		while (end < len && text[end] != '\n')
			end++;
		n = end - pos;
		lineno++;
		if (n >= sizeof(line)) {
			error_set(err, errlen, "line %zu: too long", lineno);
			goto fail;
		}
		memcpy(line, text + pos, n);
		line[n] = 0;
		pos = end + 1;
		for (p = line; *p == ' ' || *p == '\t'; p++)
			;
		if (!*p || *p == '#' || *p == '\r')
			continue;
		sp = strpbrk(p, " \t");
		if (!sp) {
			error_set(err, errlen, "line %zu: a reason is required", lineno);
			goto fail;
		}
		*sp++ = 0;
		while (*sp == ' ' || *sp == '\t')
			sp++;
		sp[strcspn(sp, "\r")] = 0;
		colon = strrchr(p, ':');
		if (!colon || colon == p || !*sp ||
		    spec_parse_u64(colon + 1, LONG_MAX, &ln) < 0 || !ln) {
			error_set(err, errlen, "line %zu: expected \"file.json:LINE reason\"",
				  lineno);
			goto fail;
		}
		*colon = 0;
		if (strlen(p) >= sizeof(x->file) || strlen(sp) >= sizeof(x->reason)) {
			error_set(err, errlen, "line %zu: too long", lineno);
			goto fail;
		}
		nv = realloc(out->v, (out->n + 1) * sizeof(*out->v));
		if (!nv) {
			error_set(err, errlen, "out of memory");
			goto fail;
		}
		out->v = nv;
		x = &out->v[out->n++];
		memset(x, 0, sizeof(*x));
		memcpy(x->file, p, strlen(p) + 1);	/* lengths checked above */
		x->line = (long)ln;
		memcpy(x->reason, sp, strlen(sp) + 1);
	}
	return 0;
fail:
	free(out->v);
	out->v = NULL;
	out->n = 0;
	return -1;
}

static struct spec_xfail *spec_xfail_find(const struct spec_xfails *x, const char *file,
					  long line)
{
	size_t i;

	for (i = 0; i < x->n; i++)
		if (x->v[i].line == line && !strcmp(x->v[i].file, file))
			return &x->v[i];
	return NULL;
}

/* ---- the child: running one file's commands ---- */

/* The command types, for the per-category counts. */
static const char *const spec_kinds[] = {
	"module", "register", "action", "assert_return", "assert_trap",
	"assert_exhaustion", "assert_invalid", "assert_malformed",
	"assert_unlinkable", "assert_uninstantiable",
	"harness",		/* unknown command, broken JSON */
	"crash",		/* child died: the command running then */
	"not-run",		/* child died: the commands after it */
};
#define SPEC_N_KINDS (sizeof(spec_kinds) / sizeof(spec_kinds[0]))
#define SPEC_KIND_HARNESS 10
#define SPEC_KIND_CRASH 11
#define SPEC_KIND_NOTRUN 12

static size_t spec_kind(const char *type)
{
	size_t i;

	for (i = 0; type && i < SPEC_KIND_HARNESS; i++)
		if (!strcmp(type, spec_kinds[i]))
			return i;
	return SPEC_KIND_HARNESS;
}

enum spec_status { SPEC_PASS = 'P', SPEC_FAIL = 'F', SPEC_SKIP = 'S' };

struct spec_file;

/* A spectest print function's context. */
struct spec_printer {
	struct spec_file *file;
	const char *name;
	struct assay_wasm_functype type;
};

struct spec_host {
	const char *name;
	struct assay_wasm_extern ext;
};

#define SPEC_N_PRINTERS 7
#define SPEC_N_HOST (SPEC_N_PRINTERS + 6)

struct spec_file {
	const char *dir;	/* where the .wasm files are */
	int fd;			/* records to the parent */
	int verbose, strict_text;
	struct assay_wasm_store *store;
	struct map *named;	/* "$M" -> instance */
	struct map *registered;	/* "as" name -> instance */
	struct assay_wasm_instance *current;
	char current_why[SPEC_ERR];	/* why current is NULL */
	int current_skipped;		/* the module was text */
	struct assay_wasm_module **modules;	/* freed after the store */
	size_t n_modules;
	struct spec_printer printers[SPEC_N_PRINTERS];
	struct spec_host host[SPEC_N_HOST];
};

static void spec_write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;	/* the parent is gone: nothing to tell */
		p += w;
		n -= (size_t)w;
	}
}

/* One record per line: control characters (engine messages, export
 * names) are flattened so they cannot break the framing. */
static void spec_emit(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void spec_emit(int fd, const char *fmt, ...)
{
	char rec[SPEC_MSG + 2];
	va_list ap;
	size_t n, i;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(rec, SPEC_MSG, fmt, ap);
	va_end(ap);
	if (r < 0)
		return;
	n = strlen(rec);
	for (i = 0; i < n; i++)
		if ((unsigned char)rec[i] < 0x20 || rec[i] == 0x7f)
			rec[i] = ' ';
	rec[n++] = '\n';
	spec_write_all(fd, rec, n);
}

static const enum assay_wasm_type spec_t_i32[] = { ASSAY_WASM_I32 };
static const enum assay_wasm_type spec_t_i64[] = { ASSAY_WASM_I64 };
static const enum assay_wasm_type spec_t_f32[] = { ASSAY_WASM_F32 };
static const enum assay_wasm_type spec_t_f64[] = { ASSAY_WASM_F64 };
static const enum assay_wasm_type spec_t_i32_f32[] = { ASSAY_WASM_I32, ASSAY_WASM_F32 };
static const enum assay_wasm_type spec_t_f64_f64[] = { ASSAY_WASM_F64, ASSAY_WASM_F64 };

static int spec_print(struct assay_wasm_call *call, void *env,
		      const struct assay_wasm_value *args, struct assay_wasm_value *results)
{
	struct spec_printer *p = env;
	struct buf b = BUF_INIT;

	(void)call;
	(void)results;
	if (p->file->verbose < 2)
		return 0;
	spec_values_str(&b, args, p->type.n_params);
	spec_emit(p->file->fd, "V spectest.%s(%s)", p->name,
		  b.data ? (const char *)b.data : "");
	buf_free(&b);
	return 0;
}

static uint32_t spec_f32_bits(float f)
{
	uint32_t b;

	memcpy(&b, &f, sizeof(b));
	return b;
}

static uint64_t spec_f64_bits(double d)
{
	uint64_t b;

	memcpy(&b, &d, sizeof(b));
	return b;
}

/* The "spectest" module every test file may import from. */
static int spec_host_init(struct spec_file *f, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		uint32_t n;
		const enum assay_wasm_type *params;
	} prints[SPEC_N_PRINTERS] = {
		{ "print", 0, NULL },
		{ "print_i32", 1, spec_t_i32 },
		{ "print_i64", 1, spec_t_i64 },
		{ "print_f32", 1, spec_t_f32 },
		{ "print_f64", 1, spec_t_f64 },
		{ "print_i32_f32", 2, spec_t_i32_f32 },
		{ "print_f64_f64", 2, spec_t_f64_f64 },
	};
	struct assay_wasm_value g;
	size_t i, h = 0;

	for (i = 0; i < SPEC_N_PRINTERS; i++) {
		struct spec_printer *p = &f->printers[i];

		p->file = f;
		p->name = prints[i].name;
		p->type.n_params = prints[i].n;
		p->type.params = prints[i].params;
		f->host[h].name = p->name;
		f->host[h].ext.kind = ASSAY_WASM_EXTERN_FUNC;
		f->host[h].ext.of.func = assay_wasm_func_new_host(f->store, &p->type,
								  spec_print, p);
		if (!f->host[h++].ext.of.func)
			goto fail;
	}
	memset(&g, 0, sizeof(g));
	g.type = ASSAY_WASM_I32;
	g.of.i32 = 666;
	f->host[h].name = "global_i32";
	f->host[h].ext.kind = ASSAY_WASM_EXTERN_GLOBAL;
	f->host[h].ext.of.global = assay_wasm_global_new(f->store, g, 0);
	if (!f->host[h++].ext.of.global)
		goto fail;
	g.type = ASSAY_WASM_I64;
	g.of.i64 = 666;
	f->host[h].name = "global_i64";
	f->host[h].ext.kind = ASSAY_WASM_EXTERN_GLOBAL;
	f->host[h].ext.of.global = assay_wasm_global_new(f->store, g, 0);
	if (!f->host[h++].ext.of.global)
		goto fail;
	g.type = ASSAY_WASM_F32;
	g.of.f32 = spec_f32_bits(666.6f);
	f->host[h].name = "global_f32";
	f->host[h].ext.kind = ASSAY_WASM_EXTERN_GLOBAL;
	f->host[h].ext.of.global = assay_wasm_global_new(f->store, g, 0);
	if (!f->host[h++].ext.of.global)
		goto fail;
	g.type = ASSAY_WASM_F64;
	g.of.f64 = spec_f64_bits(666.6);
	f->host[h].name = "global_f64";
	f->host[h].ext.kind = ASSAY_WASM_EXTERN_GLOBAL;
	f->host[h].ext.of.global = assay_wasm_global_new(f->store, g, 0);
	if (!f->host[h++].ext.of.global)
		goto fail;
	f->host[h].name = "table";
	f->host[h].ext.kind = ASSAY_WASM_EXTERN_TABLE;
	f->host[h].ext.of.table = assay_wasm_table_new(f->store, ASSAY_WASM_FUNCREF, 10, 20);
	if (!f->host[h++].ext.of.table)
		goto fail;
	f->host[h].name = "memory";
	f->host[h].ext.kind = ASSAY_WASM_EXTERN_MEMORY;
	f->host[h].ext.of.memory = assay_wasm_memory_new(f->store, 1, 2);
	if (!f->host[h++].ext.of.memory)
		goto fail;
	return 0;
fail:
	error_set(err, errlen, "cannot create spectest.%s", f->host[h - 1].name);
	return -1;
}

/* A fresh budget for each action or instantiation. */
static void spec_refuel(struct spec_file *f)
{
	struct timespec ts;

	assay_wasm_store_set_fuel(f->store, SPEC_FUEL);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	assay_wasm_store_set_deadline(f->store, (uint64_t)ts.tv_sec * 1000000000ull +
				      (uint64_t)ts.tv_nsec +
				      (uint64_t)SPEC_ACTION_SECONDS * 1000000000ull);
}

/* Finds an import: registered instances first, then spectest. */
static int spec_resolve(struct spec_file *f, const struct assay_wasm_import_desc *d,
			struct assay_wasm_extern *out)
{
	struct assay_wasm_instance *inst;
	size_t i;

	if (!d->module || !d->name)
		return -1;
	inst = map_get(f->registered, d->module);
	if (inst)
		return assay_wasm_instance_export(inst, d->name, out);
	if (strcmp(d->module, "spectest"))
		return -1;
	for (i = 0; i < SPEC_N_HOST; i++) {
		if (!strcmp(f->host[i].name, d->name)) {
			*out = f->host[i].ext;
			return 0;
		}
	}
	return -1;
}

/* Instantiates m with its imports resolved by name. NULL with trap->message
 * set for a trap, with err set otherwise (our "unknown import" included:
 * the engine never sees a module whose imports we could not find). */
static struct assay_wasm_instance *spec_instantiate(struct spec_file *f,
						    const struct assay_wasm_module *m,
						    struct assay_wasm_trap *trap,
						    char *err, size_t errlen)
{
	struct assay_wasm_instance *inst;
	struct assay_wasm_extern *imports;
	uint32_t n, i;

	memset(trap, 0, sizeof(*trap));
	err[0] = 0;
	n = assay_wasm_module_import_count(m);
	if (n > SPEC_MAX_IMPORTS) {
		error_set(err, errlen, "harness: %" PRIu32 " imports", n);
		return NULL;
	}
	imports = calloc(n ? n : 1, sizeof(*imports));
	if (!imports) {
		error_set(err, errlen, "harness: out of memory");
		return NULL;
	}
	for (i = 0; i < n; i++) {
		struct assay_wasm_import_desc d;

		memset(&d, 0, sizeof(d));
		assay_wasm_module_import(m, i, &d);
		if (spec_resolve(f, &d, &imports[i]) < 0) {
			error_set(err, errlen, "unknown import %s.%s",
				  d.module ? d.module : "?", d.name ? d.name : "?");
			free(imports);
			return NULL;
		}
	}
	spec_refuel(f);
	inst = assay_wasm_instantiate(f->store, m, imports, n, trap, err, errlen);
	free(imports);
	return inst;
}

/* A module file named by the JSON: a plain name in the JSON's directory. */
static struct assay_wasm_module *spec_load(struct spec_file *f, const char *filename,
					   int validate_too, char *err, size_t errlen)
{
	struct assay_wasm_module *m;
	struct buf b = BUF_INIT;
	char path[PATH_MAX];

	err[0] = 0;
	if (!filename || !*filename || strchr(filename, '/') || filename[0] == '.') {
		error_set(err, errlen, "harness: bad module filename");
		return NULL;
	}
	if (path_join(path, sizeof(path), f->dir, filename) < 0 ||
	    file_read(path, SPEC_MAX_WASM, &b) < 0) {
		error_set(err, errlen, "harness: cannot read %s: %s", filename,
			  strerror(errno));
		return NULL;
	}
	m = assay_wasm_module_load(b.data ? b.data : (const uint8_t *)"", b.len, err, errlen);
	if (!m && !err[0])
		error_set(err, errlen, "(load failed without a message)");
	/* assay_wasm_module_validate() must agree with load: for the
	 * assert_invalid / assert_malformed commands both run, and a
	 * disagreement is reported. */
	if (validate_too) {
		char verr[SPEC_ERR];
		int vr;

		verr[0] = 0;
		vr = assay_wasm_module_validate(b.data ? b.data : (const uint8_t *)"",
						b.len, verr, sizeof(verr));
		if (m && vr < 0) {
			assay_wasm_module_free(m);
			m = NULL;
			error_set(err, errlen, "engine: load accepted a module "
				  "validate refused (%s)", verr);
		} else if (!m && vr == 0) {
			char lerr[SPEC_ERR];

			snprintf(lerr, sizeof(lerr), "%s", err);
			error_set(err, errlen, "engine: validate accepted a module "
				  "load refused (%s)", lerr);
		} else if (!m && strncmp(verr, err, strcspn(err, ":"))) {
			char lerr[SPEC_ERR];

			snprintf(lerr, sizeof(lerr), "%s", err);
			error_set(err, errlen, "engine: load (%s) and validate (%s) "
				  "disagree", lerr, verr);
		}
	}
	buf_free(&b);
	return m;
}

static int spec_keep_module(struct spec_file *f, struct assay_wasm_module *m)
{
	struct assay_wasm_module **nv;

	nv = realloc(f->modules, (f->n_modules + 1) * sizeof(*nv));
	if (!nv)
		return -1;
	f->modules = nv;
	f->modules[f->n_modules++] = m;
	return 0;
}

/* The outcome of one command. */
struct spec_outcome {
	enum spec_status status;
	char why[SPEC_MSG - 32];
};

static void spec_set(struct spec_outcome *o, enum spec_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void spec_set(struct spec_outcome *o, enum spec_status st, const char *fmt, ...)
{
	va_list ap;

	o->status = st;
	va_start(ap, fmt);
	vsnprintf(o->why, sizeof(o->why), fmt, ap);
	va_end(ap);
}

/* The instance an action addresses; NULL with o set when there is none
 * (a skipped text module makes the dependent command a skip). */
static struct assay_wasm_instance *spec_target(struct spec_file *f, const json_t *action,
					       struct spec_outcome *o)
{
	struct assay_wasm_instance *inst;

	if (json_object_get(action, "module")) {
		const char *name = spec_str(action, "module");

		if (!name) {
			spec_set(o, SPEC_FAIL, "harness: action module is not a string");
			return NULL;
		}
		inst = map_get(f->named, name);
		if (!inst)
			spec_set(o, SPEC_FAIL, "no module named %s", name);
		return inst;
	}
	if (!f->current) {
		spec_set(o, f->current_skipped ? SPEC_SKIP : SPEC_FAIL, "no module: %s",
			 f->current_why[0] ? f->current_why : "none defined yet");
	}
	return f->current;
}

/* Runs an action (invoke or get). Returns -1 with o set when the action
 * could not be run at all; 0 otherwise, with *trapped and results set. */
static int spec_action(struct spec_file *f, const json_t *action,
		       struct assay_wasm_value *results, uint32_t *n_results,
		       struct assay_wasm_trap *trap, int *trapped, struct buf *desc,
		       struct spec_outcome *o)
{
	struct assay_wasm_value args[SPEC_MAX_VALUES];
	struct assay_wasm_functype ft;
	struct assay_wasm_instance *inst;
	struct assay_wasm_extern ext;
	const char *type, *field;
	const json_t *jargs, *jfield;
	char err[SPEC_ERR];
	size_t i, nargs;

	*trapped = 0;
	*n_results = 0;
	memset(trap, 0, sizeof(*trap));
	if (!json_is_object(action)) {
		spec_set(o, SPEC_FAIL, "harness: action is not an object");
		return -1;
	}
	type = spec_str(action, "type");
	jfield = json_object_get(action, "field");
	field = json_string_value(jfield);
	if (!type || !field) {
		spec_set(o, SPEC_FAIL, "harness: action without type or field");
		return -1;
	}
	buf_printf(desc, "%s \"%.100s\"", type, field);
	inst = spec_target(f, action, o);
	if (!inst)
		return -1;
	/* By length: export names may hold NUL bytes (names.wast). */
	if (assay_wasm_instance_export_len(inst, field, json_string_length(jfield),
					   &ext) < 0) {
		spec_set(o, SPEC_FAIL, "%s: no export \"%s\"", (const char *)desc->data,
			 field);
		return -1;
	}
	if (!strcmp(type, "get")) {
		if (ext.kind != ASSAY_WASM_EXTERN_GLOBAL || !ext.of.global) {
			spec_set(o, SPEC_FAIL, "%s: export is not a global",
				 (const char *)desc->data);
			return -1;
		}
		results[0] = assay_wasm_global_get(ext.of.global);
		*n_results = 1;
		return 0;
	}
	if (strcmp(type, "invoke")) {
		spec_set(o, SPEC_FAIL, "harness: unknown action type %s", type);
		return -1;
	}
	if (ext.kind != ASSAY_WASM_EXTERN_FUNC || !ext.of.func) {
		spec_set(o, SPEC_FAIL, "%s: export is not a function",
			 (const char *)desc->data);
		return -1;
	}
	jargs = json_object_get(action, "args");
	nargs = jargs ? json_array_size(jargs) : 0;
	if ((jargs && !json_is_array(jargs)) || nargs > SPEC_MAX_VALUES) {
		spec_set(o, SPEC_FAIL, "harness: bad args");
		return -1;
	}
	for (i = 0; i < nargs; i++) {
		struct spec_expect e;

		if (spec_parse_value(json_array_get(jargs, i), 0, &e, err, sizeof(err)) < 0) {
			spec_set(o, SPEC_FAIL, "harness: argument %zu: %s", i, err);
			return -1;
		}
		args[i] = e.v;
	}
	buf_append_str(desc, "(");
	spec_values_str(desc, args, (uint32_t)nargs);
	buf_append_str(desc, ")");
	memset(&ft, 0, sizeof(ft));
	assay_wasm_func_type(ext.of.func, &ft);
	if (ft.n_params != nargs || ft.n_results > SPEC_MAX_VALUES ||
	    (ft.n_params && !ft.params) || (ft.n_results && !ft.results)) {
		spec_set(o, SPEC_FAIL, "%s: function type has %" PRIu32 " params and %"
			 PRIu32 " results; the test passes %zu args",
			 (const char *)desc->data, ft.n_params, ft.n_results, nargs);
		return -1;
	}
	for (i = 0; i < nargs; i++) {
		if (ft.params[i] != args[i].type) {
			spec_set(o, SPEC_FAIL, "%s: param %zu is %s, the test passes %s",
				 (const char *)desc->data, i,
				 spec_type_name(ft.params[i]), spec_type_name(args[i].type));
			return -1;
		}
	}
	spec_refuel(f);
	memset(results, 0, SPEC_MAX_VALUES * sizeof(*results));
	if (assay_wasm_call(f->store, ext.of.func, args, (uint32_t)nargs, results,
			    ft.n_results, trap) < 0) {
		*trapped = 1;
		if (!trap->message[0])
			snprintf(trap->message, sizeof(trap->message),
				 "(trap without a message)");
		return 0;
	}
	for (i = 0; i < ft.n_results; i++) {
		if (results[i].type != ft.results[i]) {
			spec_set(o, SPEC_FAIL, "%s: result %zu has type %s, the function "
				 "type says %s", (const char *)desc->data, i,
				 spec_type_name(results[i].type),
				 spec_type_name(ft.results[i]));
			return -1;
		}
	}
	*n_results = ft.n_results;
	return 0;
}

static void spec_cmd_return(struct spec_file *f, const json_t *cmd,
			    struct spec_outcome *o)
{
	struct assay_wasm_value results[SPEC_MAX_VALUES];
	struct spec_expect exp[SPEC_MAX_VALUES];
	const json_t *jexp = json_object_get(cmd, "expected");
	struct assay_wasm_trap trap;
	struct buf desc = BUF_INIT, got = BUF_INIT, want = BUF_INIT;
	char err[SPEC_ERR];
	uint32_t n, i;
	size_t nexp;
	int trapped, ok;

	nexp = json_array_size(jexp);
	if (!json_is_array(jexp) || nexp > SPEC_MAX_VALUES) {
		spec_set(o, SPEC_FAIL, "harness: bad expected list");
		return;
	}
	for (i = 0; i < nexp; i++) {
		if (spec_parse_value(json_array_get(jexp, i), 1, &exp[i], err,
				     sizeof(err)) < 0) {
			spec_set(o, SPEC_FAIL, "harness: expected %" PRIu32 ": %s", i, err);
			return;
		}
	}
	if (spec_action(f, json_object_get(cmd, "action"), results, &n, &trap, &trapped,
			&desc, o) < 0)
		goto out;
	for (i = 0; i < nexp; i++) {
		char one[96];

		spec_expect_str(&exp[i], one, sizeof(one));
		buf_printf(&want, "%s%s", i ? ", " : "", one);
	}
	if (trapped) {
		spec_set(o, SPEC_FAIL, "%s: expected (%s), got trap \"%s\"",
			 (const char *)desc.data, want.data ? (char *)want.data : "",
			 trap.message);
		goto out;
	}
	ok = n == nexp;
	for (i = 0; ok && i < n; i++)
		ok = spec_value_matches(&exp[i], &results[i]);
	if (ok) {
		spec_set(o, SPEC_PASS, "%s", (const char *)desc.data);
		goto out;
	}
	spec_values_str(&got, results, n);
	spec_set(o, SPEC_FAIL, "%s: expected (%s), got (%s)", (const char *)desc.data,
		 want.data ? (char *)want.data : "", got.data ? (char *)got.data : "");
out:
	buf_free(&desc);
	buf_free(&got);
	buf_free(&want);
}

/* assert_trap, assert_exhaustion, and a plain action (which must not). */
static void spec_cmd_trap(struct spec_file *f, const json_t *cmd, int want_trap,
			  struct spec_outcome *o)
{
	struct assay_wasm_value results[SPEC_MAX_VALUES];
	const char *text = spec_str(cmd, "text");
	struct assay_wasm_trap trap;
	struct buf desc = BUF_INIT, got = BUF_INIT;
	uint32_t n;
	int trapped;

	if (want_trap && !text) {
		spec_set(o, SPEC_FAIL, "harness: no text");
		return;
	}
	if (spec_action(f, json_object_get(cmd, "action"), results, &n, &trap, &trapped,
			&desc, o) < 0)
		goto out;
	if (!want_trap) {
		if (trapped)
			spec_set(o, SPEC_FAIL, "%s: trapped \"%s\"",
				 (const char *)desc.data, trap.message);
		else
			spec_set(o, SPEC_PASS, "%s", (const char *)desc.data);
		goto out;
	}
	if (!trapped) {
		spec_values_str(&got, results, n);
		spec_set(o, SPEC_FAIL, "%s: expected trap \"%s\", got (%s)",
			 (const char *)desc.data, text, got.data ? (char *)got.data : "");
	} else if (!spec_text_matches(trap.message, text)) {
		spec_set(o, SPEC_FAIL, "%s: expected trap \"%s\", got trap \"%s\"",
			 (const char *)desc.data, text, trap.message);
	} else {
		spec_set(o, SPEC_PASS, "%s: trap \"%s\"", (const char *)desc.data,
			 trap.message);
	}
out:
	buf_free(&desc);
	buf_free(&got);
}

static void spec_cmd_module(struct spec_file *f, const json_t *cmd,
			    struct spec_outcome *o)
{
	const char *filename = spec_str(cmd, "filename");
	const char *mtype = spec_str(cmd, "module_type");
	const json_t *jname = json_object_get(cmd, "name");
	const char *name = spec_str(cmd, "name");
	long line = (long)json_integer_value(json_object_get(cmd, "line"));
	struct assay_wasm_instance *inst = NULL;
	struct assay_wasm_module *m;
	struct assay_wasm_trap trap;
	char err[SPEC_ERR];

	f->current = NULL;
	f->current_skipped = 0;
	if (name)
		map_del(f->named, name);
	if (jname && !name) {
		spec_set(o, SPEC_FAIL, "harness: module name is not a string");
		snprintf(f->current_why, sizeof(f->current_why),
			 "module at line %ld is broken", line);
		return;
	}
	if ((mtype && !strcmp(mtype, "text")) ||
	    (filename && strlen(filename) > 4 &&
	     !strcmp(filename + strlen(filename) - 4, ".wat"))) {
		f->current_skipped = 1;
		snprintf(f->current_why, sizeof(f->current_why),
			 "module at line %ld is text (skipped)", line);
		spec_set(o, SPEC_SKIP, "text module");
		return;
	}
	m = spec_load(f, filename, 0, err, sizeof(err));
	if (!m) {
		spec_set(o, SPEC_FAIL, "load %s: %s", filename ? filename : "?", err);
		snprintf(f->current_why, sizeof(f->current_why),
			 "module at line %ld failed to load", line);
		return;
	}
	if (spec_keep_module(f, m) < 0) {
		assay_wasm_module_free(m);
		spec_set(o, SPEC_FAIL, "harness: out of memory");
		return;
	}
	inst = spec_instantiate(f, m, &trap, err, sizeof(err));
	if (!inst) {
		if (trap.message[0])
			spec_set(o, SPEC_FAIL, "instantiate %s: trap \"%s\"", filename,
				 trap.message);
		else
			spec_set(o, SPEC_FAIL, "instantiate %s: %s", filename,
				 err[0] ? err : "(failed without a message)");
		snprintf(f->current_why, sizeof(f->current_why),
			 "module at line %ld failed to instantiate", line);
		return;
	}
	f->current = inst;
	if (name && map_put(f->named, name, inst) < 0) {
		spec_set(o, SPEC_FAIL, "harness: out of memory");
		return;
	}
	spec_set(o, SPEC_PASS, "%s", filename);
}

static void spec_cmd_register(struct spec_file *f, const json_t *cmd,
			      struct spec_outcome *o)
{
	const char *as = spec_str(cmd, "as");
	const json_t *jname = json_object_get(cmd, "name");
	struct assay_wasm_instance *inst;

	if (!as) {
		spec_set(o, SPEC_FAIL, "harness: register without \"as\"");
		return;
	}
	if (jname) {
		const char *name = spec_str(cmd, "name");

		inst = name ? map_get(f->named, name) : NULL;
		if (!inst) {
			spec_set(o, SPEC_FAIL, "register %s: no module named %s", as,
				 name ? name : "?");
			return;
		}
	} else {
		inst = f->current;
		if (!inst) {
			spec_set(o, f->current_skipped ? SPEC_SKIP : SPEC_FAIL,
				 "register %s: no module: %s", as, f->current_why);
			return;
		}
	}
	if (map_put(f->registered, as, inst) < 0) {
		spec_set(o, SPEC_FAIL, "harness: out of memory");
		return;
	}
	spec_set(o, SPEC_PASS, "register %s", as);
}

/* assert_invalid / assert_malformed: the module must be refused, with a
 * message telling which of the two it is. */
static void spec_cmd_bad_module(struct spec_file *f, const json_t *cmd,
				const char *prefix, struct spec_outcome *o)
{
	const char *filename = spec_str(cmd, "filename");
	const char *mtype = spec_str(cmd, "module_type");
	const char *text = spec_str(cmd, "text");
	struct assay_wasm_module *m;
	char err[SPEC_ERR];

	if (mtype && !strcmp(mtype, "text")) {
		spec_set(o, SPEC_SKIP, "text module");
		return;
	}
	if (!text) {
		spec_set(o, SPEC_FAIL, "harness: no text");
		return;
	}
	m = spec_load(f, filename, 1, err, sizeof(err));
	if (m) {
		assay_wasm_module_free(m);
		spec_set(o, SPEC_FAIL, "%s: loaded; expected %s: %s", filename, prefix, text);
		return;
	}
	if (!spec_text_matches(err, prefix)) {
		spec_set(o, SPEC_FAIL, "%s: expected \"%s: %s\", got \"%s\"", filename,
			 prefix, text, err);
		return;
	}
	/* The spec's own text is not required by default (engines word
	 * their errors differently); it is reported, and --strict-text
	 * makes it a failure. */
	if (!strstr(err, text)) {
		if (f->strict_text) {
			spec_set(o, SPEC_FAIL, "%s: expected \"%s: %s\", got \"%s\"",
				 filename, prefix, text, err);
			return;
		}
		spec_emit(f->fd, "N %s: spec text \"%s\", engine \"%s\"", filename, text,
			  err);
	}
	spec_set(o, SPEC_PASS, "%s: %s", filename, err);
}

/* assert_unlinkable (want_trap 0) / assert_uninstantiable (want_trap 1). */
static void spec_cmd_instantiate_fails(struct spec_file *f, const json_t *cmd,
				       int want_trap, struct spec_outcome *o)
{
	const char *filename = spec_str(cmd, "filename");
	const char *mtype = spec_str(cmd, "module_type");
	const char *text = spec_str(cmd, "text");
	const char *what = want_trap ? "trap" : "link error";
	struct assay_wasm_instance *inst;
	struct assay_wasm_module *m;
	struct assay_wasm_trap trap;
	char err[SPEC_ERR];

	if (mtype && !strcmp(mtype, "text")) {
		spec_set(o, SPEC_SKIP, "text module");
		return;
	}
	if (!text) {
		spec_set(o, SPEC_FAIL, "harness: no text");
		return;
	}
	m = spec_load(f, filename, 0, err, sizeof(err));
	if (!m) {
		spec_set(o, SPEC_FAIL, "load %s: %s", filename ? filename : "?", err);
		return;
	}
	/* Kept: a failed instantiation may still have written to shared
	 * memories and tables that refer to the module's functions. */
	if (spec_keep_module(f, m) < 0) {
		assay_wasm_module_free(m);
		spec_set(o, SPEC_FAIL, "harness: out of memory");
		return;
	}
	inst = spec_instantiate(f, m, &trap, err, sizeof(err));
	if (inst) {
		spec_set(o, SPEC_FAIL, "%s: instantiated; expected %s \"%s\"", filename,
			 what, text);
	} else if (want_trap && !trap.message[0]) {
		spec_set(o, SPEC_FAIL, "%s: expected trap \"%s\", got error \"%s\"",
			 filename, text, err);
	} else if (!want_trap && trap.message[0]) {
		spec_set(o, SPEC_FAIL, "%s: expected link error \"%s\", got trap \"%s\"",
			 filename, text, trap.message);
	} else if (!spec_text_matches(want_trap ? trap.message : err, text)) {
		spec_set(o, SPEC_FAIL, "%s: expected %s \"%s\", got \"%s\"", filename,
			 what, text, want_trap ? trap.message : err);
	} else {
		spec_set(o, SPEC_PASS, "%s: %s", filename,
			 want_trap ? trap.message : err);
	}
}

static void spec_command(struct spec_file *f, const json_t *cmd, struct spec_outcome *o)
{
	const char *type = spec_str(cmd, "type");

	spec_set(o, SPEC_FAIL, "harness: unknown command %s", type ? type : "(none)");
	if (!type)
		return;
	if (!strcmp(type, "module"))
		spec_cmd_module(f, cmd, o);
	else if (!strcmp(type, "register"))
		spec_cmd_register(f, cmd, o);
	else if (!strcmp(type, "action"))
		spec_cmd_trap(f, cmd, 0, o);
	else if (!strcmp(type, "assert_return"))
		spec_cmd_return(f, cmd, o);
	else if (!strcmp(type, "assert_trap") || !strcmp(type, "assert_exhaustion"))
		spec_cmd_trap(f, cmd, 1, o);
	else if (!strcmp(type, "assert_invalid"))
		spec_cmd_bad_module(f, cmd, "invalid", o);
	else if (!strcmp(type, "assert_malformed"))
		spec_cmd_bad_module(f, cmd, "malformed", o);
	else if (!strcmp(type, "assert_unlinkable"))
		spec_cmd_instantiate_fails(f, cmd, 0, o);
	else if (!strcmp(type, "assert_uninstantiable"))
		spec_cmd_instantiate_fails(f, cmd, 1, o);
}

struct spec_opts {
	int verbose, strict_text;
	unsigned file_timeout;	/* seconds; alarm in the child */
	unsigned jobs;		/* children at a time */
	FILE *out;
	struct spec_xfails xfail;
};

/* The child's work: every command of one file, one record each:
 * "<index> P|S|F <message>", plus "N ..." notes and "V ..." detail. */
typedef void (*spec_runner)(const struct spec_opts *o, const char *dir, const char *name,
			    const json_t *cmds, int fd);

static void spec_run_commands(const struct spec_opts *opts, const char *dir,
			      const char *name, const json_t *cmds, int fd)
{
	struct assay_wasm_limits limits;
	struct spec_file f;
	struct spec_outcome o;
	char err[SPEC_ERR];
	size_t i;

	memset(&f, 0, sizeof(f));
	(void)name;
	f.dir = dir;
	f.fd = fd;
	f.verbose = opts->verbose;
	f.strict_text = opts->strict_text;
	memset(&limits, 0, sizeof(limits));
	limits.fuel = SPEC_FUEL;	/* limited from the start, refilled per action */
	f.store = assay_wasm_store_new(&limits);
	f.named = map_new();
	f.registered = map_new();
	if (!f.store || !f.named || !f.registered ||
	    spec_host_init(&f, err, sizeof(err)) < 0) {
		if (!f.store || !f.named || !f.registered)
			snprintf(err, sizeof(err), "cannot create a store");
		for (i = 0; i < json_array_size(cmds); i++)
			spec_emit(fd, "%zu F harness: %s", i, err);
		goto out;
	}
	for (i = 0; i < json_array_size(cmds); i++) {
		spec_command(&f, json_array_get(cmds, i), &o);
		spec_emit(fd, "%zu %c %s", i, (char)o.status, o.why);
	}
out:
	if (f.store)
		assay_wasm_store_free(f.store);
	for (i = 0; i < f.n_modules; i++)
		assay_wasm_module_free(f.modules[i]);
	free(f.modules);
	if (f.named)
		map_free(f.named);
	if (f.registered)
		map_free(f.registered);
}

/* ---- the parent: one child per file, several at a time ---- */

struct spec_counts {
	unsigned long pass, fail, skip, xfail, notes;
	unsigned long fail_by_kind[SPEC_N_KINDS];
};

/* One file's run. Its report goes to a memory stream, printed when the
 * files before it are done, so the output does not depend on timing. */
struct spec_job {
	const char *path;
	char dir[PATH_MAX];
	const char *name;	/* "x.json", inside path */
	json_t *root;
	const json_t *cmds;
	spec_runner run;
	pid_t pid;
	int fd;			/* the child's records; -1 when closed */
	unsigned char *done;	/* per command: a result arrived */
	struct spec_counts c;
	FILE *out;
	char *text;
	size_t len;
	char rec[SPEC_MSG + 64];	/* the record being assembled */
	size_t have;
	int finished;
};

static long spec_cmd_line(const json_t *cmd)
{
	json_int_t l = json_integer_value(json_object_get(cmd, "line"));

	return l > 0 && l < LONG_MAX ? (long)l : 0;
}

static const char *spec_cmd_type(const json_t *cmd)
{
	const char *t = json_string_value(json_object_get(cmd, "type"));

	return t ? t : "(no type)";
}

/* Counts one failure, unless it is listed as expected. A crash is never
 * an expected failure: it would hide everything after it. */
static void spec_fail(const struct spec_opts *o, struct spec_job *j, long line,
		      size_t kind, const char *type, const char *msg)
{
	struct spec_xfail *x = NULL;

	if (kind != SPEC_KIND_CRASH && kind != SPEC_KIND_NOTRUN)
		x = spec_xfail_find(&o->xfail, j->name, line);
	if (x) {
		x->hit = 1;
		j->c.xfail++;
		fprintf(j->out, "XFAIL %s:%ld %s: %s (listed: %s)\n", j->name, line, type,
			msg, x->reason);
		return;
	}
	j->c.fail++;
	j->c.fail_by_kind[kind]++;
	fprintf(j->out, "FAIL %s:%ld %s: %s\n", j->name, line, type, msg);
}

static void spec_record(const struct spec_opts *o, struct spec_job *j, char *rec)
{
	size_t n = json_array_size(j->cmds), idx;
	const json_t *cmd;
	uint64_t u;
	char *sp, *msg, st;
	long line;

	if (rec[0] == 'V' && rec[1] == ' ') {
		if (o->verbose)
			fprintf(j->out, "  %s: %s\n", j->name, rec + 2);
		return;
	}
	if (rec[0] == 'N' && rec[1] == ' ') {
		j->c.notes++;
		if (o->verbose)
			fprintf(j->out, "NOTE %s: %s\n", j->name, rec + 2);
		return;
	}
	sp = strchr(rec, ' ');
	if (!sp || !sp[1])
		return;
	*sp = 0;
	if (!n || spec_parse_u64(rec, n - 1, &u) < 0 || j->done[u])
		return;
	idx = (size_t)u;
	st = sp[1];
	msg = sp[2] == ' ' ? sp + 3 : (char *)"";
	cmd = json_array_get(j->cmds, idx);
	line = spec_cmd_line(cmd);
	j->done[idx] = 1;
	if (st == SPEC_PASS) {
		struct spec_xfail *x = spec_xfail_find(&o->xfail, j->name, line);

		j->c.pass++;
		if (x && !x->hit)
			x->hit = 2;
		if (o->verbose)
			fprintf(j->out, "ok %s:%ld %s: %s\n", j->name, line,
				spec_cmd_type(cmd), msg);
	} else if (st == SPEC_SKIP) {
		j->c.skip++;
		if (o->verbose)
			fprintf(j->out, "skip %s:%ld %s: %s\n", j->name, line,
				spec_cmd_type(cmd), msg);
	} else {
		spec_fail(o, j, line, spec_kind(json_string_value(
				json_object_get(cmd, "type"))), spec_cmd_type(cmd), msg);
	}
}

/* Reads what the child sent. Returns 1 at the end of its records. */
static int spec_job_read(const struct spec_opts *o, struct spec_job *j)
{
	char chunk[4096];
	ssize_t r, k;

	do
		r = read(j->fd, chunk, sizeof(chunk));
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return 1;
	for (k = 0; k < r; k++) {
		if (chunk[k] != '\n') {
			if (j->have < sizeof(j->rec) - 1)
				j->rec[j->have++] = chunk[k];
			continue;
		}
		j->rec[j->have] = 0;
		spec_record(o, j, j->rec);
		j->have = 0;
	}
	return 0;
}

/* Reads and checks a JSON file; NULL with err set when it is broken. */
static json_t *spec_load_json(const char *path, char *err, size_t errlen)
{
	struct buf b = BUF_INIT;
	json_error_t jerr;
	json_t *root, *cmds;

	if (file_read(path, SPEC_MAX_JSON, &b) < 0) {
		error_set(err, errlen, "cannot read: %s", strerror(errno));
		return NULL;
	}
	/* NUL is allowed: names.wast has an export name holding NULs. */
	root = json_loadb(b.data ? (const char *)b.data : "", b.len,
			  JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	buf_free(&b);
	if (!root) {
		error_set(err, errlen, "broken JSON at line %d column %d: %s",
			  jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	cmds = json_object_get(root, "commands");
	if (!json_is_array(cmds)) {
		error_set(err, errlen, "no \"commands\" array");
		json_decref(root);
		return NULL;
	}
	if (json_array_size(cmds) > SPEC_MAX_COMMANDS) {
		error_set(err, errlen, "more than %d commands", SPEC_MAX_COMMANDS);
		json_decref(root);
		return NULL;
	}
	return root;
}

static void spec_job_close(struct spec_job *j)
{
	size_t stem = strlen(j->name);

	if (stem > 5 && !strcmp(j->name + stem - 5, ".json"))
		stem -= 5;
	fprintf(j->out, "%.*s: %lu passed, %lu failed, %lu skipped\n", (int)stem,
		j->name, j->c.pass, j->c.fail, j->c.skip);
	fclose(j->out);
	j->out = NULL;
	json_decref(j->root);
	j->root = NULL;
	free(j->done);
	j->done = NULL;
	j->finished = 1;
}

/* An expected-failures entry naming no command of its file is a typo or
 * a leftover: it fails the run like a stale entry does. */
static void spec_xfail_check_lines(const struct spec_opts *o, struct spec_job *j)
{
	size_t i, k, n = json_array_size(j->cmds);

	for (i = 0; i < o->xfail.n; i++) {
		const struct spec_xfail *x = &o->xfail.v[i];

		if (strcmp(x->file, j->name))
			continue;
		for (k = 0; k < n; k++)
			if (spec_cmd_line(json_array_get(j->cmds, k)) == x->line)
				break;
		if (k < n)
			continue;
		j->c.fail++;
		j->c.fail_by_kind[SPEC_KIND_HARNESS]++;
		fprintf(j->out, "FAIL %s:%ld listed in the expected failures, but the "
			"file has no command at that line\n", j->name, x->line);
	}
}

/* Parses the file and forks its child. A file that cannot start is
 * finished at once with one failure. Returns 0, or -1 when the report
 * stream itself cannot be made. */
static int spec_job_start(const struct spec_opts *o, struct spec_job *j)
{
	const char *slash = strrchr(j->path, '/');
	char err[SPEC_ERR];
	int fds[2];

	j->fd = -1;
	j->name = slash ? slash + 1 : j->path;
	if (!slash)
		snprintf(j->dir, sizeof(j->dir), ".");
	else if (slash == j->path)
		snprintf(j->dir, sizeof(j->dir), "/");
	else
		snprintf(j->dir, sizeof(j->dir), "%.*s", (int)(slash - j->path), j->path);
	j->out = open_memstream(&j->text, &j->len);
	if (!j->out)
		return -1;
	j->root = spec_load_json(j->path, err, sizeof(err));
	if (!j->root) {
		spec_fail(o, j, 0, SPEC_KIND_HARNESS, "harness", err);
		spec_job_close(j);
		return 0;
	}
	j->cmds = json_object_get(j->root, "commands");
	spec_xfail_check_lines(o, j);
	j->done = calloc(json_array_size(j->cmds) + 1, 1);
	if (!j->done || pipe(fds) < 0) {
		spec_fail(o, j, 0, SPEC_KIND_HARNESS, "harness", "out of memory or fds");
		spec_job_close(j);
		return 0;
	}
	fflush(NULL);
	j->pid = fork();
	if (j->pid < 0) {
		close(fds[0]);
		close(fds[1]);
		spec_fail(o, j, 0, SPEC_KIND_HARNESS, "harness", strerror(errno));
		spec_job_close(j);
		return 0;
	}
	if (j->pid == 0) {
		struct rlimit nocore = { 0, 0 };

		close(fds[0]);
		setrlimit(RLIMIT_CORE, &nocore);
		alarm(o->file_timeout);
		j->run(o, j->dir, j->name, j->cmds, fds[1]);
		close(fds[1]);
		/* exit, not _exit: the sanitizers' leak check runs at exit
		 * and an engine leak should show up as a failure. */
		exit(0);
	}
	close(fds[1]);
	j->fd = fds[0];
	return 0;
}

/* After the child closed its end: how it ended, and what never ran. */
static void spec_job_finish(const struct spec_opts *o, struct spec_job *j)
{
	size_t n = json_array_size(j->cmds), i, first = n, missing = 0;
	int status = 0;
	char why[160];
	pid_t w;

	close(j->fd);
	j->fd = -1;
	do
		w = waitpid(j->pid, &status, 0);
	while (w < 0 && errno == EINTR);
	for (i = 0; i < n; i++) {
		if (!j->done[i]) {
			if (first == n)
				first = i;
			missing++;
		}
	}
	if (w < 0)
		snprintf(why, sizeof(why), "waitpid: %s", strerror(errno));
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
		snprintf(why, sizeof(why), "timed out after %u s (SIGALRM)",
			 o->file_timeout);
	else if (WIFSIGNALED(status))
		snprintf(why, sizeof(why), "child killed by signal %d (%s)",
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
	else if (WIFEXITED(status) && WEXITSTATUS(status))
		snprintf(why, sizeof(why), "child exited with status %d",
			 WEXITSTATUS(status));
	else if (missing)
		snprintf(why, sizeof(why), "child exited early");
	else
		why[0] = 0;
	if (why[0] && first == n) {
		/* Every command ran; the child died on the way out (a
		 * crash in store_free, a leak report). */
		spec_fail(o, j, 0, SPEC_KIND_CRASH, "exit", why);
	} else if (why[0]) {
		const json_t *cmd = json_array_get(j->cmds, first);

		spec_fail(o, j, spec_cmd_line(cmd), SPEC_KIND_CRASH, spec_cmd_type(cmd),
			  why);
		if (missing > 1) {
			j->c.fail += missing - 1;
			j->c.fail_by_kind[SPEC_KIND_NOTRUN] += missing - 1;
			fprintf(j->out, "FAIL %s:%ld %zu later commands not run\n", j->name,
				spec_cmd_line(cmd), missing - 1);
		}
	}
	spec_job_close(j);
}

/* Runs the jobs, at most o->jobs children at a time, printing each
 * file's report in order. Returns 0, or -1 on a harness failure. */
static int spec_run_jobs(const struct spec_opts *o, struct spec_job *jobs, size_t n)
{
	struct pollfd *pfd;
	size_t *idx, next = 0, printed = 0, running = 0, i, np;
	int rc = 0;

	pfd = calloc(o->jobs ? o->jobs : 1, sizeof(*pfd));
	idx = calloc(o->jobs ? o->jobs : 1, sizeof(*idx));
	if (!pfd || !idx) {
		free(pfd);
		free(idx);
		return -1;
	}
	while (printed < n) {
		while (next < n && running < o->jobs) {
			if (spec_job_start(o, &jobs[next]) < 0) {
				rc = -1;
				goto out;
			}
			if (!jobs[next].finished)
				running++;
			next++;
		}
		while (printed < n && jobs[printed].finished) {
			fwrite(jobs[printed].text, 1, jobs[printed].len, o->out);
			fflush(o->out);
			printed++;
		}
		if (!running)
			continue;
		for (i = 0, np = 0; i < next; i++) {
			if (jobs[i].finished || jobs[i].fd < 0)
				continue;
			pfd[np].fd = jobs[i].fd;
			pfd[np].events = POLLIN;
			pfd[np].revents = 0;
			idx[np++] = i;
		}
		if (poll(pfd, np, -1) < 0) {
			if (errno == EINTR)
				continue;
			rc = -1;
			goto out;
		}
		for (i = 0; i < np; i++) {
			struct spec_job *j = &jobs[idx[i]];

			if (!pfd[i].revents)
				continue;
			if (spec_job_read(o, j)) {
				spec_job_finish(o, j);
				running--;
			}
		}
	}
out:
	free(pfd);
	free(idx);
	return rc;
}

static void spec_add(struct spec_counts *t, const struct spec_counts *c)
{
	size_t i;

	t->pass += c->pass;
	t->fail += c->fail;
	t->skip += c->skip;
	t->xfail += c->xfail;
	t->notes += c->notes;
	for (i = 0; i < SPEC_N_KINDS; i++)
		t->fail_by_kind[i] += c->fail_by_kind[i];
}

static void spec_job_free(struct spec_job *j)
{
	if (j->fd >= 0)
		close(j->fd);
	if (j->out)
		fclose(j->out);
	json_decref(j->root);
	free(j->done);
	free(j->text);
}

/* Runs every file; totals in t. Returns 0, or -1 on a harness failure. */
static int spec_run_files(const struct spec_opts *o, char **paths, size_t n,
			  spec_runner run, struct spec_counts *t)
{
	struct spec_job *jobs = calloc(n ? n : 1, sizeof(*jobs));
	size_t i;
	int rc;

	if (!jobs)
		return -1;
	for (i = 0; i < n; i++) {
		jobs[i].path = paths[i];
		jobs[i].run = run;
		jobs[i].fd = -1;
	}
	rc = spec_run_jobs(o, jobs, n);
	for (i = 0; i < n; i++) {
		spec_add(t, &jobs[i].c);
		spec_job_free(&jobs[i]);
	}
	free(jobs);
	return rc;
}

static int spec_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.json files of dir, sorted so runs are comparable. */
static int spec_list_dir(const char *dir, char ***out, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL;
	size_t cnt = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		char path[PATH_MAX], **nv;

		if (len <= 5 || strcmp(e->d_name + len - 5, ".json"))
			continue;
		if (path_join(path, sizeof(path), dir, e->d_name) < 0)
			continue;
		nv = realloc(v, (cnt + 1) * sizeof(*v));
		if (!nv || !(nv[cnt] = strdup(path))) {
			v = nv ? nv : v;
			break;
		}
		v = nv;
		cnt++;
	}
	closedir(d);
	qsort(v, cnt, sizeof(*v), spec_cmp_str);
	*out = v;
	*n = cnt;
	return 0;
}

/* ---- self-test: the harness logic, without the engine ---- */

static int spec_parse_str(const char *json, int patterns, struct spec_expect *e)
{
	char err[128];
	json_t *j = json_loads(json, 0, NULL);
	int r;

	if (!j)
		return -2;
	r = spec_parse_value(j, patterns, e, err, sizeof(err));
	json_decref(j);
	return r;
}

static void spec_self_test_values(void)
{
	struct spec_expect e;
	struct assay_wasm_value v;

	CHECK_INT(spec_parse_str("{\"type\":\"i32\",\"value\":\"4294967295\"}", 0, &e), 0);
	CHECK_INT(e.v.type, ASSAY_WASM_I32);
	CHECK_INT(e.v.of.i32, -1);
	CHECK_INT(spec_parse_str("{\"type\":\"i32\",\"value\":\"4294967296\"}", 0, &e), -1);
	CHECK_INT(spec_parse_str("{\"type\":\"i32\",\"value\":\"-1\"}", 0, &e), -1);
	CHECK_INT(spec_parse_str("{\"type\":\"i32\",\"value\":\"\"}", 0, &e), -1);
	CHECK_INT(spec_parse_str("{\"type\":\"i32\",\"value\":\" 1\"}", 0, &e), -1);
	CHECK_INT(spec_parse_str("{\"type\":\"i32\",\"value\":\"12a\"}", 0, &e), -1);
	CHECK_INT(spec_parse_str("{\"type\":\"i32\",\"value\":1}", 0, &e), -1);
	CHECK_INT(spec_parse_str("{\"type\":\"i32\"}", 1, &e), -1);
	CHECK_INT(spec_parse_str("{\"type\":\"v128\",\"value\":\"0\"}", 0, &e), -1);
	CHECK_INT(spec_parse_str("[]", 0, &e), -1);
	CHECK_INT(spec_parse_str("{\"type\":\"i64\",\"value\":\"18446744073709551615\"}",
				 0, &e), 0);
	CHECK(e.v.of.i64 == -1);
	CHECK_INT(spec_parse_str("{\"type\":\"i64\",\"value\":\"18446744073709551616\"}",
				 0, &e), -1);
	CHECK_INT(spec_parse_str("{\"type\":\"i64\",\"value\":\"9223372036854775808\"}",
				  0, &e), 0);
	CHECK(e.v.of.i64 == INT64_MIN);
	CHECK_INT(spec_parse_str("{\"type\":\"f32\",\"value\":\"2143289344\"}", 0, &e), 0);
	CHECK(e.v.of.f32 == 0x7fc00000u && e.match == SPEC_EXACT);
	CHECK_INT(spec_parse_str("{\"type\":\"f32\",\"value\":\"nan:canonical\"}", 0, &e),
		  -1);
	CHECK_INT(spec_parse_str("{\"type\":\"f32\",\"value\":\"nan:canonical\"}", 1, &e),
		  0);
	CHECK(e.match == SPEC_NAN_CANONICAL);
	CHECK_INT(spec_parse_str("{\"type\":\"f64\",\"value\":\"nan:arithmetic\"}", 1, &e),
		  0);
	CHECK(e.match == SPEC_NAN_ARITHMETIC && e.v.type == ASSAY_WASM_F64);
	CHECK_INT(spec_parse_str("{\"type\":\"f64\",\"value\":\"nan:other\"}", 1, &e), -1);
	CHECK_INT(spec_parse_str("{\"type\":\"externref\",\"value\":\"0\"}", 0, &e), 0);
	CHECK(e.v.of.externref != NULL && e.v.of.externref == spec_extern_ptr(0));
	CHECK_INT(spec_parse_str("{\"type\":\"externref\",\"value\":\"null\"}", 0, &e), 0);
	CHECK(e.v.of.externref == NULL && e.match == SPEC_EXACT);
	CHECK_INT(spec_parse_str("{\"type\":\"externref\"}", 0, &e), -1);
	CHECK_INT(spec_parse_str("{\"type\":\"externref\"}", 1, &e), 0);
	CHECK(e.match == SPEC_NONNULL);
	CHECK_INT(spec_parse_str("{\"type\":\"funcref\",\"value\":\"3\"}", 0, &e), -1);
	CHECK_INT(spec_parse_str("{\"type\":\"funcref\",\"value\":\"null\"}", 0, &e), 0);
	CHECK(e.v.type == ASSAY_WASM_FUNCREF && !e.v.of.funcref);

	/* Exact comparison is by bits. */
	memset(&v, 0, sizeof(v));
	CHECK_INT(spec_parse_str("{\"type\":\"f32\",\"value\":\"0\"}", 1, &e), 0);
	v.type = ASSAY_WASM_F32;
	v.of.f32 = 0x80000000u;			/* -0 */
	CHECK(!spec_value_matches(&e, &v));
	v.of.f32 = 0;
	CHECK(spec_value_matches(&e, &v));
	v.type = ASSAY_WASM_I32;		/* same bits, other type */
	v.of.i32 = 0;
	CHECK(!spec_value_matches(&e, &v));
	CHECK_INT(spec_parse_str("{\"type\":\"f64\",\"value\":\"9221120237041090561\"}", 1,
				 &e), 0);
	v.type = ASSAY_WASM_F64;
	v.of.f64 = 0x7ff8000000000001ull;	/* that exact NaN payload */
	CHECK(spec_value_matches(&e, &v));
	v.of.f64 = 0x7ff8000000000000ull;
	CHECK(!spec_value_matches(&e, &v));
	CHECK_INT(spec_parse_str("{\"type\":\"externref\",\"value\":\"1\"}", 1, &e), 0);
	v.type = ASSAY_WASM_EXTERNREF;
	v.of.externref = spec_extern_ptr(1);
	CHECK(spec_value_matches(&e, &v));
	v.of.externref = spec_extern_ptr(0);
	CHECK(!spec_value_matches(&e, &v));
	CHECK_INT(spec_parse_str("{\"type\":\"funcref\"}", 1, &e), 0);
	v.type = ASSAY_WASM_FUNCREF;
	v.of.funcref = NULL;
	CHECK(!spec_value_matches(&e, &v));
	v.of.funcref = (struct assay_wasm_func *)&v;
	CHECK(spec_value_matches(&e, &v));
}

static void spec_self_test_nan(void)
{
	struct spec_expect e;
	struct assay_wasm_value v;

	CHECK(spec_f32_nan_canonical(0x7fc00000u));
	CHECK(spec_f32_nan_canonical(0xffc00000u));
	CHECK(!spec_f32_nan_canonical(0x7fc00001u));
	CHECK(!spec_f32_nan_canonical(0x7fa00000u));	/* signalling */
	CHECK(!spec_f32_nan_canonical(0x7f800000u));	/* infinity */
	CHECK(spec_f32_nan_arithmetic(0x7fc00000u));
	CHECK(spec_f32_nan_arithmetic(0xffc00001u));
	CHECK(spec_f32_nan_arithmetic(0x7fffffffu));
	CHECK(!spec_f32_nan_arithmetic(0x7fa00000u));
	CHECK(!spec_f32_nan_arithmetic(0x7f800001u));
	CHECK(!spec_f32_nan_arithmetic(0x7f800000u));
	CHECK(!spec_f32_nan_arithmetic(0x3fc00000u));
	CHECK(spec_f64_nan_canonical(0x7ff8000000000000ull));
	CHECK(spec_f64_nan_canonical(0xfff8000000000000ull));
	CHECK(!spec_f64_nan_canonical(0x7ff8000000000001ull));
	CHECK(!spec_f64_nan_canonical(0x7ff4000000000000ull));
	CHECK(!spec_f64_nan_canonical(0x7ff0000000000000ull));
	CHECK(spec_f64_nan_arithmetic(0x7ff8000000000001ull));
	CHECK(spec_f64_nan_arithmetic(0xfffc000000000000ull));
	CHECK(!spec_f64_nan_arithmetic(0x7ff0000000000001ull));
	CHECK(!spec_f64_nan_arithmetic(0x7ff0000000000000ull));
	CHECK(!spec_f64_nan_arithmetic(0x3ff8000000000000ull));

	/* Through the matcher, types included: an f32 NaN is no f64. */
	memset(&v, 0, sizeof(v));
	CHECK_INT(spec_parse_str("{\"type\":\"f64\",\"value\":\"nan:canonical\"}", 1, &e),
		  0);
	v.type = ASSAY_WASM_F64;
	v.of.f64 = 0xfff8000000000000ull;
	CHECK(spec_value_matches(&e, &v));
	v.type = ASSAY_WASM_F32;
	v.of.f32 = 0x7fc00000u;
	CHECK(!spec_value_matches(&e, &v));
	CHECK_INT(spec_parse_str("{\"type\":\"f32\",\"value\":\"nan:arithmetic\"}", 1, &e),
		  0);
	CHECK(spec_value_matches(&e, &v));
	v.of.f32 = 0x7f800001u;
	CHECK(!spec_value_matches(&e, &v));
}

static void spec_self_test_text(void)
{
	struct spec_xfails x;
	char err[128];
	const char *list = "# comment\n\n"
			   "i32.json:12 the engine rounds wrongly\n"
			   "  float_exprs.json:7\tx87 excess precision\r\n";

	CHECK(spec_text_matches("integer divide by zero", "integer divide by zero"));
	CHECK(spec_text_matches("unreachable executed", "unreachable"));
	CHECK(spec_text_matches("uninitialized element 2", "uninitialized element"));
	CHECK(!spec_text_matches("uninitialized element", "uninitialized element 2"));
	CHECK(!spec_text_matches("out of bounds", "out of bounds memory access"));
	CHECK(!spec_text_matches("trap: unreachable", "unreachable"));
	CHECK(!spec_text_matches(NULL, "x"));
	CHECK(spec_text_matches("invalid: type mismatch", "invalid"));
	CHECK(!spec_text_matches("malformed: unexpected end", "invalid"));

	CHECK_INT(spec_xfail_parse(list, strlen(list), &x, err, sizeof(err)), 0);
	CHECK_INT(x.n, 2);
	if (x.n == 2) {
		CHECK_STR(x.v[0].file, "i32.json");
		CHECK_INT(x.v[0].line, 12);
		CHECK_STR(x.v[0].reason, "the engine rounds wrongly");
		CHECK_STR(x.v[1].file, "float_exprs.json");
		CHECK_STR(x.v[1].reason, "x87 excess precision");
		CHECK(spec_xfail_find(&x, "float_exprs.json", 7) == &x.v[1]);
		CHECK(spec_xfail_find(&x, "float_exprs.json", 8) == NULL);
	}
	free(x.v);
	CHECK_INT(spec_xfail_parse("i32.json:12\n", 12, &x, err, sizeof(err)), -1);
	CHECK_INT(spec_xfail_parse("i32.json reason\n", 16, &x, err, sizeof(err)), -1);
	CHECK_INT(spec_xfail_parse("i32.json:x reason\n", 18, &x, err, sizeof(err)), -1);
	CHECK_INT(spec_xfail_parse("", 0, &x, err, sizeof(err)), 0);
	CHECK_INT(x.n, 0);
	{
		uint64_t u = 0;

		CHECK_INT(spec_parse_u64("9", 3, &u), -1);	/* digit above max */
		CHECK_INT(spec_parse_u64("3", 3, &u), 0);
		CHECK_INT(u, 3);
		CHECK_INT(spec_parse_u64("0", 0, &u), 0);
		CHECK_INT(spec_parse_u64("10", 9, &u), -1);
	}
	CHECK_INT(x.n, 0);
}

/* Fake children, chosen by file name: the parent's bookkeeping must
 * survive them. */
static void spec_fake_child(const struct spec_opts *o, const char *dir, const char *name,
			    const json_t *cmds, int fd)
{
	(void)o;
	(void)dir;
	(void)cmds;
	if (!strcmp(name, "crash.json")) {
		spec_emit(fd, "0 P fine");
		spec_emit(fd, "V detail line");
		spec_emit(fd, "1 F expected (i32:1), got (i32:2)");
		/* abort: unlike SIGSEGV, the sanitizers leave it alone. */
		abort();
	}
	if (!strcmp(name, "hang.json")) {
		spec_emit(fd, "0 S text module");
		for (;;)
			pause();
	}
	spec_emit(fd, "zz P no index");
	spec_emit(fd, "99 P out of range");
	spec_emit(fd, "0 P fine");
	spec_emit(fd, "0 F a second record for the same command");
	spec_emit(fd, "1 P fine");
	spec_emit(fd, "2 P fine");
	spec_emit(fd, "3 P fine");
}

static int spec_write_file(const char *dir, const char *name, const char *text,
			   char *path, size_t pathlen)
{
	if (path_join(path, pathlen, dir, name) < 0)
		return -1;
	return file_write_atomic(path, text, strlen(text), 0600);
}

static void spec_self_test_fork(void)
{
	static const char json[] = "{\"commands\": ["
				   "{\"type\":\"module\",\"line\":1},"
				   "{\"type\":\"assert_return\",\"line\":5},"
				   "{\"type\":\"assert_trap\",\"line\":9},"
				   "{\"type\":\"assert_return\",\"line\":10}]}";
	static const char xfails[] = "crash.json:5 known\ncrash.json:9 crash\n"
				     "crash.json:7 no such line\n";
	static const char *const names[] = {
		"broken.json", "crash.json", "garbage.json", "hang.json",
	};
	char tmp[] = "/tmp/wasm_spec_selftest.XXXXXX";
	char path[4][PATH_MAX], *paths[4];
	struct spec_opts o;
	struct spec_counts c;
	char *text = NULL, *p1, *p2, *p3;
	size_t len = 0, i;

	memset(&o, 0, sizeof(o));
	o.file_timeout = 1;
	o.jobs = 4;
	CHECK(mkdtemp(tmp) != NULL);
	o.out = open_memstream(&text, &len);
	CHECK(o.out != NULL);
	if (!o.out)
		return;
	for (i = 0; i < 4; i++) {
		CHECK_INT(spec_write_file(tmp, names[i], i ? json : "{\"commands\": [",
					  path[i], sizeof(path[i])), 0);
		paths[i] = path[i];
	}

	memset(&c, 0, sizeof(c));
	CHECK_INT(spec_run_files(&o, paths, 4, spec_fake_child, &c), 0);
	fflush(o.out);
	/* broken: 1 failure; crash: 1 pass, the failure, the crash, one not
	 * run; garbage: 4 passes; hang: 1 skip, the timeout, 2 not run. */
	CHECK_INT(c.pass, 5);
	CHECK_INT(c.skip, 1);
	CHECK_INT(c.fail, 7);
	CHECK_INT(c.fail_by_kind[SPEC_KIND_HARNESS], 1);
	CHECK_INT(c.fail_by_kind[3], 1);
	CHECK_INT(c.fail_by_kind[SPEC_KIND_CRASH], 2);
	CHECK_INT(c.fail_by_kind[SPEC_KIND_NOTRUN], 3);
	CHECK(strstr(text, "FAIL broken.json:0 harness: broken JSON") != NULL);
	CHECK(strstr(text, "FAIL crash.json:5 assert_return: expected (i32:1)") != NULL);
	CHECK(strstr(text, "FAIL crash.json:9 assert_trap: child killed by signal 6") !=
	      NULL);
	CHECK(strstr(text, "FAIL crash.json:9 1 later commands not run") != NULL);
	CHECK(strstr(text, "FAIL hang.json:5 assert_return: timed out") != NULL);
	CHECK(strstr(text, "garbage: 4 passed, 0 failed, 0 skipped") != NULL);
	/* In file order, whatever order the children end in. */
	p1 = strstr(text, "crash: ");
	p2 = strstr(text, "garbage: ");
	p3 = strstr(text, "hang: ");
	CHECK(p1 && p2 && p3 && p1 < p2 && p2 < p3);

	/* A listed failure is expected; a crash never is. */
	CHECK_INT(spec_xfail_parse(xfails, strlen(xfails), &o.xfail, NULL, 0), 0);
	memset(&c, 0, sizeof(c));
	CHECK_INT(spec_run_files(&o, paths + 1, 1, spec_fake_child, &c), 0);
	fflush(o.out);
	CHECK_INT(c.xfail, 1);
	CHECK_INT(c.fail, 3);
	CHECK(strstr(text, "FAIL crash.json:7 listed in the expected failures") != NULL);
	CHECK_INT(o.xfail.n, 3);
	if (o.xfail.n == 2) {
		CHECK_INT(o.xfail.v[0].hit, 1);
		CHECK_INT(o.xfail.v[1].hit, 0);
	}
	free(o.xfail.v);
	fclose(o.out);
	free(text);
	for (i = 0; i < 4; i++)
		unlink(path[i]);
	rmdir(tmp);
}

static int spec_self_test(void)
{
	spec_self_test_values();
	spec_self_test_nan();
	spec_self_test_text();
	spec_self_test_fork();
	return check_done();
}

/* ---- main ---- */

/* One child per CPU, bounded: the files are independent. */
static unsigned spec_default_jobs(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 16 ? 16 : (unsigned)n;
}

static void spec_usage(void)
{
	fprintf(stderr, "usage: wasm_spec [-v] [--strict-text] [--timeout SECONDS] [-j N]\n"
		"                 [--expected-failures FILE] [DIR | FILE.json]...\n"
		"       wasm_spec --self-test\n");
}

static int spec_load_xfail(const char *path, int required, struct spec_xfails *x)
{
	struct buf b = BUF_INIT;
	char err[256];

	x->v = NULL;
	x->n = 0;
	if (!path)
		return 0;
	if (file_read(path, 1 << 20, &b) < 0) {
		if (!required && errno == ENOENT)
			return 0;
		fprintf(stderr, "wasm_spec: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (spec_xfail_parse(b.data ? (const char *)b.data : "", b.len, x, err,
			     sizeof(err)) < 0) {
		fprintf(stderr, "wasm_spec: %s: %s\n", path, err);
		buf_free(&b);
		return -1;
	}
	buf_free(&b);
	return 0;
}

/* Expected failures that did not fail are stale: the list must say
 * exactly what fails, or it hides regressions. */
static void spec_report_stale(const struct spec_opts *o, struct spec_counts *t)
{
	size_t i;

	for (i = 0; i < o->xfail.n; i++) {
		if (o->xfail.v[i].hit != 2)
			continue;
		t->fail++;
		fprintf(o->out, "FAIL %s:%ld listed in the expected failures but passed "
			"(remove the entry)\n", o->xfail.v[i].file, o->xfail.v[i].line);
	}
}

/* Adds path (a .json file, or a directory's *.json) to the list. */
static int spec_add_path(const char *path, char ***v, size_t *n)
{
	struct stat st;
	char **more = NULL, **nv;
	size_t nmore = 0, k;

	if (stat(path, &st) < 0)
		return -1;
	if (S_ISDIR(st.st_mode)) {
		if (spec_list_dir(path, &more, &nmore) < 0)
			return -1;
	} else {
		more = malloc(sizeof(*more));
		if (!more || !(more[0] = strdup(path))) {
			free(more);
			return -1;
		}
		nmore = 1;
	}
	nv = realloc(*v, (*n + nmore + 1) * sizeof(*nv));
	if (!nv) {
		for (k = 0; k < nmore; k++)
			free(more[k]);
		free(more);
		return -1;
	}
	for (k = 0; k < nmore; k++)
		nv[(*n)++] = more[k];
	free(more);
	*v = nv;
	return 0;
}

int main(int argc, char **argv)
{
	struct spec_opts o;
	struct spec_counts t;
	const char *xfail_path = NULL;
	char defdir[PATH_MAX], defxfail[PATH_MAX];
	char **paths = NULL;
	size_t npaths = 0, i;
	int argi, xfail_required = 0, rc = 77;

	memset(&o, 0, sizeof(o));
	memset(&t, 0, sizeof(t));
	o.file_timeout = SPEC_FILE_SECONDS;
	o.jobs = spec_default_jobs();
	o.out = stdout;
	for (argi = 1; argi < argc && argv[argi][0] == '-'; argi++) {
		const char *a = argv[argi];
		uint64_t u;

		if (!strcmp(a, "-v")) {
			o.verbose++;
		} else if (!strcmp(a, "-vv")) {
			o.verbose += 2;
		} else if (!strcmp(a, "--self-test")) {
			return spec_self_test();
		} else if (!strcmp(a, "--strict-text")) {
			o.strict_text = 1;
		} else if (!strcmp(a, "--timeout") && argi + 1 < argc &&
			   spec_parse_u64(argv[argi + 1], 86400, &u) == 0 && u) {
			o.file_timeout = (unsigned)u;
			argi++;
		} else if (!strcmp(a, "-j") && argi + 1 < argc &&
			   spec_parse_u64(argv[argi + 1], 256, &u) == 0 && u) {
			o.jobs = (unsigned)u;
			argi++;
		} else if (!strcmp(a, "--expected-failures") && argi + 1 < argc) {
			xfail_path = argv[++argi];
			xfail_required = 1;
		} else {
			spec_usage();
			return 2;
		}
	}
	if (!xfail_path && getenv("ASSAY_SOURCE_ROOT") &&
	    path_join(defxfail, sizeof(defxfail), getenv("ASSAY_SOURCE_ROOT"),
		      "lib/wasm/tests/spec_expected_failures.txt") == 0)
		xfail_path = defxfail;
	if (spec_load_xfail(xfail_path, xfail_required, &o.xfail) < 0)
		return 1;

	/* Every path is checked before anything runs: absent fixtures
	 * skip the whole test rather than half of it. */
	if (argi == argc) {
		const char *fx = getenv("ASSAY_FIXTURES");

		if (!fx || path_join(defdir, sizeof(defdir), fx, "wasm/spec-2.0/core") < 0 ||
		    spec_add_path(defdir, &paths, &npaths) < 0) {
			printf("SKIP: spec fixtures not found ($ASSAY_FIXTURES/wasm/"
			       "spec-2.0/core)\n");
			goto out;
		}
	}
	for (; argi < argc; argi++) {
		if (spec_add_path(argv[argi], &paths, &npaths) < 0) {
			printf("SKIP: %s: %s\n", argv[argi], strerror(errno));
			goto out;
		}
	}
	if (!npaths) {
		printf("SKIP: no spec test files found\n");
		goto out;
	}
	if (spec_run_files(&o, paths, npaths, spec_run_commands, &t) < 0) {
		fprintf(stderr, "wasm_spec: %s\n", strerror(errno));
		rc = 1;
		goto out;
	}
	spec_report_stale(&o, &t);
	if (t.fail) {
		fprintf(o.out, "failures by command:");
		for (i = 0; i < SPEC_N_KINDS; i++)
			if (t.fail_by_kind[i])
				fprintf(o.out, " %s %lu", spec_kinds[i], t.fail_by_kind[i]);
		fprintf(o.out, "\n");
	}
	if (t.notes)
		fprintf(o.out, "%lu invalid/malformed messages lack the spec's text "
			"(-v lists them; --strict-text fails them)\n", t.notes);
	fprintf(o.out, "spec: %lu passed, %lu failed, %lu skipped (%lu expected failures)\n",
		t.pass, t.fail, t.skip, t.xfail);
	rc = t.fail ? 1 : 0;
out:
	for (i = 0; i < npaths; i++)
		free(paths[i]);
	free(paths);
	free(o.xfail.v);
	return rc;
}
