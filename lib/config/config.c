/* config: defaults < TOML file < environment < command line (see config.h).
 *
 * The command line is read first (it may name the file, or ask for help)
 * but applied last; every other source is applied in precedence order, so
 * a later source simply overwrites what an earlier one set. */
#define _GNU_SOURCE	/* vasprintf */
#include "config/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "assay_build.h"
#include "config/toml.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/log.h"
#include "util/secure.h"

struct config_value {
	char *str;		/* CONFIG_STRING, CONFIG_PATH */
	long long i;		/* CONFIG_INT */
	bool b;			/* CONFIG_BOOL */
	bool set;
	char *source;
};

struct config {
	const struct config_program *prog;
	size_t n;
	struct config_value *vals;
	char *file;
};

/* A command-line setting, kept until the other sources are applied. */
struct flag_set {
	size_t opt;
	const char *value;
	char *spelling;		/* "--registrar-port", as typed */
};

struct loader {
	struct config *cfg;
	char *err;
	size_t errlen;
	struct flag_set *flags;
	size_t nflags;
	const char *file;	/* from -c/--config, or NULL */
};

static int fail(struct loader *ld, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct loader *ld, const char *fmt, ...)
{
	va_list ap;

	if (ld->err && ld->errlen) {
		va_start(ap, fmt);
		vsnprintf(ld->err, ld->errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* User text for an error message: control characters escaped, cut short. */
static const char *show(const char *s, size_t n, char *out, size_t outn)
{
	size_t o = 0, i;

	for (i = 0; i < n && o + 8 < outn; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(out + o, outn - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	if (i < n)
		o += (size_t)snprintf(out + o, outn - o, "...");
	out[o] = '\0';
	return out;
}

/* "an integer", "a string" */
static const char *a_type(const struct toml_value *v)
{
	switch (toml_type(v)) {
	case TOML_INTEGER: return "an integer";
	case TOML_ARRAY: return "an array";
	case TOML_TABLE: return "a table";
	case TOML_STRING: return "a string";
	case TOML_FLOAT: return "a float";
	case TOML_BOOL: return "a boolean";
	default: return "a date/time";
	}
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d)
		abort();	/* tiny allocations: out of memory is fatal */
	return d;
}

static char *xprintf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static char *xprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	return s;
}

/* ------------------------------------------------------------------ */
/* Values                                                              */

static void value_clear(struct config_value *v)
{
	if (v->str) {
		/* string settings may be secrets */
		secure_wipe(v->str, strlen(v->str));
		free(v->str);
	}
	free(v->source);
	memset(v, 0, sizeof(*v));
}

static bool has_range(const struct config_option *o)
{
	return o->min != 0 || o->max != 0;
}

/* Strict decimal: optional sign, digits, nothing else. */
static bool parse_int(const char *s, long long *out)
{
	char *end;

	if (!*s || !(*s == '-' || *s == '+' || (*s >= '0' && *s <= '9')))
		return false;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return !*end && errno == 0 && end > s &&
	       (end[-1] >= '0' && end[-1] <= '9');
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (!strcasecmp(s, yes[i])) {
			*out = true;
			return true;
		}
		if (!strcasecmp(s, no[i])) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* Sets option i from text (a default, the environment, a flag); what is
 * the source's name, used both in errors and as the recorded source. */
static int set_text(struct loader *ld, size_t i, const char *text,
		    const char *what)
{
	const struct config_option *o = &ld->cfg->prog->options[i];
	struct config_value nv = { 0 };
	char shown[96];

	switch (o->kind) {
	case CONFIG_INT:
		if (!parse_int(text, &nv.i))
			return fail(ld, "%s: '%s' is not an integer", what,
				    show(text, strlen(text), shown,
					 sizeof(shown)));
		if (has_range(o) && (nv.i < o->min || nv.i > o->max))
			return fail(ld, "%s: %lld is out of range %lld..%lld",
				    what, nv.i, o->min, o->max);
		break;
	case CONFIG_BOOL:
		if (!parse_bool(text, &nv.b))
			return fail(ld, "%s: '%s' is not a boolean (use true "
				    "or false)", what,
				    show(text, strlen(text), shown,
					 sizeof(shown)));
		break;
	case CONFIG_PATH:
		if (!*text)
			return fail(ld, "%s: the path is empty", what);
		/* fall through */
	case CONFIG_STRING:
		nv.str = xstrdup(text);
		break;
	}
	nv.set = true;
	nv.source = xstrdup(what);
	value_clear(&ld->cfg->vals[i]);
	ld->cfg->vals[i] = nv;
	return 0;
}

/* A relative path in the file is relative to the file's directory. */
static char *resolve_path(const char *file, const char *path)
{
	const char *slash = strrchr(file, '/');

	if (path[0] == '/' || !slash)
		return xstrdup(path);
	return xprintf("%.*s/%s", (int)(slash - file), file, path);
}

/* Sets option i from a TOML value; where is "file:line: [section] name". */
static int set_toml(struct loader *ld, size_t i, const struct toml_value *tv,
		    const char *file, const char *where)
{
	const struct config_option *o = &ld->cfg->prog->options[i];
	struct config_value nv = { 0 };
	const char *s;
	size_t len;

	switch (o->kind) {
	case CONFIG_INT:
		if (toml_type(tv) != TOML_INTEGER)
			return fail(ld, "%s: expected an integer, found %s",
				    where, a_type(tv));
		nv.i = toml_int(tv);
		if (has_range(o) && (nv.i < o->min || nv.i > o->max))
			return fail(ld, "%s: %lld is out of range %lld..%lld",
				    where, nv.i, o->min, o->max);
		break;
	case CONFIG_BOOL:
		if (toml_type(tv) != TOML_BOOL)
			return fail(ld, "%s: expected true or false, found %s",
				    where, a_type(tv));
		nv.b = toml_bool(tv);
		break;
	case CONFIG_STRING:
	case CONFIG_PATH:
		if (toml_type(tv) != TOML_STRING)
			return fail(ld, "%s: expected a string, found %s",
				    where, a_type(tv));
		s = toml_string(tv, &len);
		if (strlen(s) != len)
			return fail(ld, "%s: the string contains a NUL "
				    "character", where);
		if (o->kind == CONFIG_PATH && !len)
			return fail(ld, "%s: the path is empty", where);
		nv.str = o->kind == CONFIG_PATH ? resolve_path(file, s) :
						  xstrdup(s);
		break;
	}
	nv.set = true;
	nv.source = xprintf("%s:%d", file, toml_line(tv));
	value_clear(&ld->cfg->vals[i]);
	ld->cfg->vals[i] = nv;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Names                                                               */

static const struct config_option *options_of(const struct config *cfg)
{
	return cfg->prog->options;
}

/* Option names match flags with '-' and '_' taken as the same. */
static bool flag_matches(const char *name, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (name[i] != (s[i] == '-' ? '_' : s[i]))
			return false;
	return name[n] == '\0';
}

static long find_flag(const struct config *cfg, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < cfg->n; i++)
		if (flag_matches(options_of(cfg)[i].name, s, n))
			return (long)i;
	return -1;
}

/* ASSAY_<SECTION>_<NAME>, upper case, anything else as '_'. */
static void env_name(const struct config_program *prog, const char *name,
		     char *out, size_t outn)
{
	size_t i;

	snprintf(out, outn, "ASSAY_%s_%s", prog->section, name);
	for (i = 0; out[i]; i++) {
		char c = out[i];

		if (c >= 'a' && c <= 'z')
			out[i] = (char)(c - 'a' + 'A');
		else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			out[i] = '_';
	}
}

/* "registrar_port" -> "registrar-port" */
static void flag_name(const char *name, char *out, size_t outn)
{
	size_t i;

	for (i = 0; name[i] && i + 1 < outn; i++)
		out[i] = name[i] == '_' ? '-' : name[i];
	out[i] = '\0';
}

static size_t option_index(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->n; i++)
		if (!strcmp(options_of(cfg)[i].name, name))
			return i;
	fprintf(stderr, "%s: bug: no option '%s' is declared\n",
		cfg->prog->name, name);
	abort();
}

/* ------------------------------------------------------------------ */
/* The program's table: mistakes in it are bugs, caught at startup     */

/* Short enough that every derived name (flag, variable) fits its buffer. */
static bool valid_name(const char *s)
{
	if (!s || !*s || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '_'))
			return false;
	return true;
}

static int check_table(struct loader *ld)
{
	const struct config_program *prog = ld->cfg->prog;
	const struct config_option *o;
	size_t i, j;

	if (!prog->name || !prog->section || !valid_name(prog->section))
		return fail(ld, "bug: the program needs a name and a section "
			    "of at most 64 of [a-z0-9_]");
	for (i = 0; i < ld->cfg->n; i++) {
		o = &prog->options[i];
		if (!valid_name(o->name) || !strcmp(o->name, "config") ||
		    !strcmp(o->name, "help") || !strcmp(o->name, "version"))
			return fail(ld, "bug: option %zu: bad name '%s'", i,
				    o->name ? o->name : "");
		for (j = 0; j < i; j++)
			if (!strcmp(prog->options[j].name, o->name))
				return fail(ld, "bug: option '%s' declared "
					    "twice", o->name);
		if (o->kind == CONFIG_INT && o->min > o->max)
			return fail(ld, "bug: option '%s': min > max",
				    o->name);
		if (!o->help)
			return fail(ld, "bug: option '%s' has no help",
				    o->name);
	}
	return 0;
}

static int apply_defaults(struct loader *ld)
{
	const struct config_option *o;
	char what[128];
	size_t i;

	for (i = 0; i < ld->cfg->n; i++) {
		o = &options_of(ld->cfg)[i];
		if (!o->def)
			continue;
		snprintf(what, sizeof(what), "bug: default of '%s'", o->name);
		if (set_text(ld, i, o->def, what) < 0)
			return -1;
		free(ld->cfg->vals[i].source);
		ld->cfg->vals[i].source = xstrdup("default");
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* The command line                                                    */

static int take_value(struct loader *ld, int argc, char **argv, int *i,
		      const char *eq, const char *spelling, const char **value)
{
	if (eq) {
		*value = eq + 1;
		return 0;
	}
	if (*i + 1 >= argc)
		return fail(ld, "%s: missing value", spelling);
	*value = argv[++*i];
	return 0;
}

/* --name[=value]; returns 1 after --help/--version. */
static int parse_long(struct loader *ld, int argc, char **argv, int *i)
{
	const struct config_program *prog = ld->cfg->prog;
	const char *name = argv[*i] + 2, *eq = strchr(name, '=');
	size_t n = eq ? (size_t)(eq - name) : strlen(name);
	char spelling[128], shown[96];
	struct flag_set *f;
	bool neg = false;
	long opt;

	snprintf(spelling, sizeof(spelling), "--%s",
		 show(name, n, shown, sizeof(shown)));
	if ((n == 4 && !memcmp(name, "help", 4)) ||
	    (n == 7 && !memcmp(name, "version", 7))) {
		if (eq)
			return fail(ld, "%s: takes no value", spelling);
		if (name[0] == 'h')
			config_help(prog, stdout);
		else
			printf("%s %s\n", prog->name, ASSAY_VERSION);
		return 1;
	}
	if (n == 6 && !memcmp(name, "config", 6))
		return take_value(ld, argc, argv, i, eq, spelling, &ld->file);
	opt = find_flag(ld->cfg, name, n);
	if (opt < 0 && n > 3 && !memcmp(name, "no", 2) &&
	    (name[2] == '-' || name[2] == '_')) {
		opt = find_flag(ld->cfg, name + 3, n - 3);
		if (opt >= 0 && options_of(ld->cfg)[opt].kind != CONFIG_BOOL)
			opt = -1;
		neg = true;
	}
	if (opt < 0)
		return fail(ld, "unknown option '%s' (see --help)", spelling);
	f = &ld->flags[ld->nflags];
	f->opt = (size_t)opt;
	if (options_of(ld->cfg)[opt].kind == CONFIG_BOOL) {
		if (neg && eq)
			return fail(ld, "%s: takes no value", spelling);
		f->value = neg ? "false" : eq ? eq + 1 : "true";
	} else if (take_value(ld, argc, argv, i, eq, spelling, &f->value)) {
		return -1;
	}
	f->spelling = xstrdup(spelling);
	ld->nflags++;
	return 0;
}

/* Returns 1 after --help/--version, -1 on error. */
static int parse_args(struct loader *ld, int argc, char **argv)
{
	char shown[96];
	const char *a;
	int i, r;

	for (i = 1; i < argc; i++) {
		a = argv[i];
		if (!strcmp(a, "--")) {
			if (i + 1 < argc)
				return fail(ld, "unexpected argument '%s'",
					    show(argv[i + 1],
						 strlen(argv[i + 1]), shown,
						 sizeof(shown)));
			break;
		}
		if (a[0] != '-' || a[1] == '\0')
			return fail(ld, "unexpected argument '%s'",
				    show(a, strlen(a), shown, sizeof(shown)));
		if (a[1] == '-') {
			r = parse_long(ld, argc, argv, &i);
			if (r)
				return r;
		} else if (!strcmp(a, "-h")) {
			config_help(ld->cfg->prog, stdout);
			return 1;
		} else if (a[1] == 'c') {
			if (a[2])
				ld->file = a + 2;
			else if (take_value(ld, argc, argv, &i, NULL, "-c",
					    &ld->file))
				return -1;
		} else {
			return fail(ld, "unknown option '%s' (see --help)",
				    show(a, strlen(a), shown, sizeof(shown)));
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* The file                                                            */

static int apply_section(struct loader *ld, const struct toml_value *sec,
			 const char *file)
{
	const char *section = ld->cfg->prog->section, *key;
	const struct toml_value *v;
	char where[512], shown[96];
	size_t i, klen;
	long opt;

	for (i = 0; i < toml_table_len(sec); i++) {
		key = toml_table_key_at(sec, i, &klen, &v);
		opt = -1;
		if (klen == strlen(key)) {
			size_t j;

			for (j = 0; j < ld->cfg->n; j++)
				if (!strcmp(options_of(ld->cfg)[j].name, key))
					opt = (long)j;
		}
		if (opt < 0)
			return fail(ld, "%s:%d: [%s] unknown key '%s'", file,
				    toml_line(v), section,
				    show(key, klen, shown, sizeof(shown)));
		snprintf(where, sizeof(where), "%s:%d: [%s] %s", file,
			 toml_line(v), section, key);
		if (set_toml(ld, (size_t)opt, v, file, where) < 0)
			return -1;
	}
	return 0;
}

/* The program's section is read; other tables are other programs'
 * sections of a shared file; anything else has no owner. */
static int apply_root(struct loader *ld, const struct toml_value *root,
		      const char *file)
{
	const char *section = ld->cfg->prog->section, *key;
	const struct toml_value *v;
	char shown[96];
	size_t i, klen;

	for (i = 0; i < toml_table_len(root); i++) {
		key = toml_table_key_at(root, i, &klen, &v);
		if (klen == strlen(key) && !strcmp(key, section)) {
			if (toml_type(v) != TOML_TABLE)
				return fail(ld, "%s:%d: '%s' must be a table: "
					    "[%s]", file, toml_line(v),
					    section, section);
			if (apply_section(ld, v, file) < 0)
				return -1;
		} else if (toml_type(v) != TOML_TABLE) {
			return fail(ld, "%s:%d: unknown key '%s' outside of "
				    "any [section]", file, toml_line(v),
				    show(key, klen, shown, sizeof(shown)));
		}
	}
	return 0;
}

static int load_file(struct loader *ld, const char *path, bool named)
{
	struct buf text = BUF_INIT;
	struct toml_value *root;
	char terr[256];
	int line = 0, n = 0, rc;

	if (file_read(path, TOML_MAX_INPUT, &text) < 0) {
		int e = errno;

		buf_free(&text);
		errno = e;
		if (errno == ENOENT && !named)
			return 0;
		if (errno == EFBIG)
			return fail(ld, "%s: larger than %zu bytes", path,
				    TOML_MAX_INPUT);
		return fail(ld, "%s: %s", path, strerror(errno));
	}
	root = toml_parse((const char *)text.data, text.len, terr,
			  sizeof(terr));
	buf_free(&text);
	if (!root) {
		/* "line N: msg" becomes "file:N: msg", like every other
		 * message about the file */
		if (sscanf(terr, "line %d: %n", &line, &n) == 1 && n > 0)
			return fail(ld, "%s:%d: %s", path, line, terr + n);
		return fail(ld, "%s: %s", path, terr);
	}
	ld->cfg->file = xstrdup(path);
	rc = apply_root(ld, root, path);
	toml_free(root);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Environment and loading                                             */

static int apply_env(struct loader *ld)
{
	char var[256];
	const char *val;
	size_t i;

	for (i = 0; i < ld->cfg->n; i++) {
		env_name(ld->cfg->prog, options_of(ld->cfg)[i].name, var,
			 sizeof(var));
		val = getenv(var);
		if (val && set_text(ld, i, val, var) < 0)
			return -1;
	}
	return 0;
}

static int load_all(struct loader *ld, int argc, char **argv)
{
	const struct config_program *prog = ld->cfg->prog;
	const char *file;
	char var[256];
	bool named = true;
	size_t i;
	int r;

	if (check_table(ld) < 0 || apply_defaults(ld) < 0)
		return -1;
	r = parse_args(ld, argc, argv);
	if (r)
		return r;
	env_name(prog, "config", var, sizeof(var));
	file = ld->file ? ld->file : getenv(var);
	if (!file) {
		file = prog->default_file;
		named = false;
	}
	if (file && !*file)
		return fail(ld, "%s: the file name is empty",
			    ld->file ? "--config" : var);
	if (file && load_file(ld, file, named) < 0)
		return -1;
	if (apply_env(ld) < 0)
		return -1;
	for (i = 0; i < ld->nflags; i++)
		if (set_text(ld, ld->flags[i].opt, ld->flags[i].value,
			     ld->flags[i].spelling) < 0)
			return -1;
	return 0;
}

int config_load(const struct config_program *prog, int argc, char **argv,
		struct config **out, char *err, size_t errlen)
{
	struct loader ld = { 0 };
	size_t n = 0, i;
	int r;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	while (prog->options && prog->options[n].name)
		n++;
	ld.cfg = calloc(1, sizeof(*ld.cfg));
	ld.flags = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*ld.flags));
	if (!ld.cfg || !ld.flags)
		abort();
	ld.cfg->prog = prog;
	ld.cfg->n = n;
	ld.cfg->vals = calloc(n ? n : 1, sizeof(*ld.cfg->vals));
	if (!ld.cfg->vals)
		abort();
	ld.err = err;
	ld.errlen = errlen;
	r = load_all(&ld, argc, argv);
	for (i = 0; i < ld.nflags; i++)
		free(ld.flags[i].spelling);
	free(ld.flags);
	if (r) {
		config_free(ld.cfg);
		return r;
	}
	*out = ld.cfg;
	return 0;
}

void config_free(struct config *cfg)
{
	size_t i;

	if (!cfg)
		return;
	for (i = 0; i < cfg->n; i++)
		value_clear(&cfg->vals[i]);
	free(cfg->vals);
	free(cfg->file);
	free(cfg);
}

/* ------------------------------------------------------------------ */
/* Getters                                                             */

static const struct config_value *value_of(const struct config *cfg,
					   const char *name, int kind)
{
	size_t i = option_index(cfg, name);
	enum config_kind k = options_of(cfg)[i].kind;
	bool ok = kind < 0 || (int)k == kind ||
		  (kind == CONFIG_STRING && k == CONFIG_PATH);

	if (!ok) {
		fprintf(stderr, "%s: bug: option '%s' read as the wrong "
			"kind\n", cfg->prog->name, name);
		abort();
	}
	return &cfg->vals[i];
}

const char *config_str(const struct config *cfg, const char *name)
{
	return value_of(cfg, name, CONFIG_STRING)->str;
}

long long config_int(const struct config *cfg, const char *name)
{
	return value_of(cfg, name, CONFIG_INT)->i;
}

bool config_bool(const struct config *cfg, const char *name)
{
	return value_of(cfg, name, CONFIG_BOOL)->b;
}

bool config_isset(const struct config *cfg, const char *name)
{
	return value_of(cfg, name, -1)->set;
}

const char *config_source(const struct config *cfg, const char *name)
{
	const struct config_value *v = value_of(cfg, name, -1);

	return v->set ? v->source : "unset";
}

const char *config_file(const struct config *cfg)
{
	return cfg->file;
}

/* ------------------------------------------------------------------ */
/* --help                                                              */

#define HELP_WIDTH 79

/* Prints text as a paragraph wrapped at HELP_WIDTH, indented. */
static void wrap(FILE *out, int indent, const char *text)
{
	int col = 0, len;

	for (;;) {
		while (*text == ' ')
			text++;
		if (!*text)
			break;
		len = (int)strcspn(text, " ");
		if (col > indent && col + 1 + len > HELP_WIDTH) {
			fputc('\n', out);
			col = 0;
		}
		if (col == 0)
			col = fprintf(out, "%*s", indent, "");
		else
			col += fprintf(out, " ");
		col += fprintf(out, "%.*s", len, text);
		text += len;
	}
	if (col)
		fputc('\n', out);
}

static const char *metavar(enum config_kind kind)
{
	switch (kind) {
	case CONFIG_INT: return "N";
	case CONFIG_PATH: return "PATH";
	default: return "TEXT";
	}
}

static void help_option(FILE *out, const struct config_program *prog,
			const struct config_option *o)
{
	struct buf b = BUF_INIT;
	char flag[128], var[256];

	flag_name(o->name, flag, sizeof(flag));
	env_name(prog, o->name, var, sizeof(var));
	if (o->kind == CONFIG_BOOL)
		fprintf(out, "       --%s, --no-%s\n", flag, flag);
	else
		fprintf(out, "       --%s=%s\n", flag, metavar(o->kind));
	wrap(out, 14, o->help);
	if (o->def && o->kind == CONFIG_STRING)
		buf_printf(&b, "Default: \"%s\".", o->def);
	else if (o->def)
		buf_printf(&b, "Default: %s.", o->def);
	else
		buf_printf(&b, "No default.");
	if (o->kind == CONFIG_INT && has_range(o))
		buf_printf(&b, " Range: %lld..%lld.", o->min, o->max);
	wrap(out, 14, (const char *)b.data);
	buf_reset(&b);
	buf_printf(&b, "Environment: %s. File: %s = %s", var, o->name,
		   o->kind == CONFIG_BOOL ? "true|false" :
		   o->kind == CONFIG_INT ? "N" : "\"...\"");
	wrap(out, 14, (const char *)b.data);
	buf_free(&b);
	fputc('\n', out);
}

static void help_files(FILE *out, const struct config_program *prog)
{
	struct buf b = BUF_INIT;
	char var[256];

	env_name(prog, "config", var, sizeof(var));
	fprintf(out, "FILES\n");
	fprintf(out, "       %s\n", prog->default_file ? prog->default_file :
		"(none by default)");
	buf_printf(&b, "The configuration file, read unless -c or %s names "
		   "another one; it is fine for this default file to be "
		   "missing, not for a named one. It is TOML 1.0; this "
		   "program reads the [%s] table, whose keys are the option "
		   "names with underscores (e.g. %s). A key it does not know "
		   "is an error; other tables are left to other programs. A "
		   "relative PATH in the file is taken relative to the file's "
		   "directory.", var, prog->section,
		   prog->options && prog->options[0].name ?
		   prog->options[0].name : "name = value");
	wrap(out, 14, (const char *)b.data);
	buf_free(&b);
	fputc('\n', out);
}

static void help_environment(FILE *out, const struct config_program *prog)
{
	const struct config_option *o;
	char var[256], flag[128], line[300];

	fprintf(out, "ENVIRONMENT\n");
	env_name(prog, "config", var, sizeof(var));
	fprintf(out, "       %s\n", var);
	wrap(out, 14, "The configuration file to read, like -c.");
	for (o = prog->options; o && o->name; o++) {
		env_name(prog, o->name, var, sizeof(var));
		flag_name(o->name, flag, sizeof(flag));
		fprintf(out, "       %s\n", var);
		snprintf(line, sizeof(line), "Same as --%s%s.", flag,
			 o->kind == CONFIG_BOOL ? "=true|false" : "");
		wrap(out, 14, line);
	}
	fputc('\n', out);
}

void config_help(const struct config_program *prog, FILE *out)
{
	const struct config_option *o;
	struct buf b = BUF_INIT;

	fprintf(out, "NAME\n       %s - %s\n\n", prog->name,
		prog->summary ? prog->summary : "");
	fprintf(out, "SYNOPSIS\n       %s [-c FILE] [--OPTION=VALUE]...\n"
		"       %s -h | --help | --version\n\n", prog->name,
		prog->name);
	fprintf(out, "DESCRIPTION\n");
	if (prog->description) {
		wrap(out, 7, prog->description);
		fputc('\n', out);
	}
	buf_printf(&b, "Each option below is taken from, lowest to highest "
		   "precedence: its default, the [%s] table of the "
		   "configuration file, its environment variable, the "
		   "command line. On the command line '-' and '_' in option "
		   "names are the same, and --name VALUE is the same as "
		   "--name=VALUE.", prog->section);
	wrap(out, 7, (const char *)b.data);
	buf_free(&b);
	fprintf(out, "\nOPTIONS\n       -c, --config=FILE\n");
	wrap(out, 14, "Read the configuration from FILE instead of the "
	     "default file (see FILES).");
	fputc('\n', out);
	for (o = prog->options; o && o->name; o++)
		help_option(out, prog, o);
	fprintf(out, "       -h, --help\n");
	wrap(out, 14, "Print this manual and exit.");
	fprintf(out, "\n       --version\n");
	wrap(out, 14, "Print the version and exit.");
	fputc('\n', out);
	help_files(out, prog);
	help_environment(out, prog);
	fprintf(out, "EXIT STATUS\n");
	wrap(out, 7, "0 after --help or --version; 2 when the configuration "
	     "is invalid: an unknown option, a bad value, an unreadable "
	     "or malformed file. The message names the source: the option, "
	     "the environment variable, or the file and line.");
	fprintf(out, "\nVERSION\n       %s %s\n", prog->name, ASSAY_VERSION);
}

int config_start(const struct config_program *prog, int argc, char **argv,
		 struct config **out)
{
	char err[512];
	enum log_level level;
	int r = config_load(prog, argc, argv, out, err, sizeof err);
	if (r < 0)
		fprintf(stderr, "%s: %s\n", prog->name, err);
	if (r != 0)
		return r;
	const char *s = config_str(*out, "log_level");
	if (log_level_parse(s, &level) < 0) {
		fprintf(stderr, "%s: log_level: '%s' is not one of error, warn, "
			"info, debug\n", prog->name, s);
		config_free(*out);
		*out = NULL;
		return -1;
	}
	log_init(prog->name, level);
	return 0;
}

const char *config_path_or(const struct config *cfg, const char *name,
			   const char *dir, const char *file, char *buf, size_t n)
{
	if (config_isset(cfg, name))
		return config_str(cfg, name);
	return path_join(buf, n, dir, file) == 0 ? buf : "";
}
