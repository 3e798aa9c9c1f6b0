/* Unit tests for the settings layer: precedence of the four sources, every
 * kind of error with its exact message, and the --help manual. */
#define _GNU_SOURCE	/* open_memstream */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "util/check.h"

static const struct config_option test_options[] = {
	{ "registrar_port", CONFIG_INT, "8890", "Port of the registrar.",
	  1, 65535 },
	{ "registrar_ip", CONFIG_STRING, "127.0.0.1",
	  "Address of the registrar.", 0, 0 },
	{ "verbose", CONFIG_BOOL, "false", "Log more.", 0, 0 },
	{ "cert", CONFIG_PATH, NULL, "TLS certificate.", 0, 0 },
	{ "offset", CONFIG_INT, "-5", "Any integer at all.", 0, 0 },
	{ 0 },
};

static char dir[64];
static char default_file[128];

static const struct config_program test_prog = {
	.name = "assay-test",
	.section = "test",
	.summary = "exercise the configuration layer",
	.description = "A program that only exists in the unit tests.",
	.default_file = default_file,
	.options = test_options,
};

static char err[512];

static void clear_env(void)
{
	unsetenv("ASSAY_TEST_CONFIG");
	unsetenv("ASSAY_TEST_REGISTRAR_PORT");
	unsetenv("ASSAY_TEST_REGISTRAR_IP");
	unsetenv("ASSAY_TEST_VERBOSE");
	unsetenv("ASSAY_TEST_CERT");
	unsetenv("ASSAY_TEST_OFFSET");
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		printf("cannot write %s\n", path);
		exit(1);
	}
}

/* Runs config_load on a NULL-terminated argument list. */
static int load(struct config **cfg, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;

	argv[argc++] = (char *)"assay-test";
	va_start(ap, cfg);
	while (argc < 31 && (argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	return config_load(&test_prog, argc, argv, cfg, err, sizeof(err));
}

/* The error config_load gives for the arguments. */
#define LOAD_ERROR(...) load_error(NULL, __VA_ARGS__, NULL)

static const char *load_error(void *unused, ...)
{
	char *argv[32];
	struct config *cfg = NULL;
	int argc = 0, r;
	va_list ap;

	(void)unused;
	argv[argc++] = (char *)"assay-test";
	va_start(ap, unused);
	while (argc < 31 && (argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	r = config_load(&test_prog, argc, argv, &cfg, err, sizeof(err));
	if (r != -1 || cfg) {
		config_free(cfg);
		return "(no error)";
	}
	return err;
}

static void test_defaults(void)
{
	struct config *cfg;

	clear_env();
	CHECK_INT(load(&cfg, NULL), 0);
	if (!cfg)
		return;
	CHECK_INT(config_int(cfg, "registrar_port"), 8890);
	CHECK_STR(config_str(cfg, "registrar_ip"), "127.0.0.1");
	CHECK(config_bool(cfg, "verbose") == false);
	CHECK_INT(config_int(cfg, "offset"), -5);
	CHECK(config_str(cfg, "cert") == NULL);
	CHECK(!config_isset(cfg, "cert"));
	CHECK(config_isset(cfg, "verbose"));
	CHECK_STR(config_source(cfg, "registrar_port"), "default");
	CHECK_STR(config_source(cfg, "cert"), "unset");
	/* the default file is missing, and that is fine */
	CHECK(config_file(cfg) == NULL);
	config_free(cfg);
}

static void test_precedence(void)
{
	struct config *cfg;
	char src[160];

	clear_env();
	write_file(default_file,
		   "# shared by several programs\n"
		   "[other]\n"
		   "anything = 'goes'\n"
		   "[test]\n"
		   "registrar_port = 1000\n"
		   "registrar_ip = '10.0.0.1'\n"
		   "verbose = true\n"
		   "cert = 'certs/agent.pem'\n");
	CHECK_INT(load(&cfg, NULL), 0);
	if (cfg) {
		CHECK_STR(config_file(cfg), default_file);
		CHECK_INT(config_int(cfg, "registrar_port"), 1000);
		snprintf(src, sizeof(src), "%s:5", default_file);
		CHECK_STR(config_source(cfg, "registrar_port"), src);
		CHECK_STR(config_str(cfg, "registrar_ip"), "10.0.0.1");
		CHECK(config_bool(cfg, "verbose") == true);
		/* relative to the file's directory */
		snprintf(src, sizeof(src), "%s/certs/agent.pem", dir);
		CHECK_STR(config_str(cfg, "cert"), src);
		CHECK_STR(config_source(cfg, "offset"), "default");
		config_free(cfg);
	}

	/* environment beats the file */
	setenv("ASSAY_TEST_REGISTRAR_PORT", "2000", 1);
	setenv("ASSAY_TEST_VERBOSE", "no", 1);
	setenv("ASSAY_TEST_CERT", "rel/env.pem", 1);
	CHECK_INT(load(&cfg, NULL), 0);
	if (cfg) {
		CHECK_INT(config_int(cfg, "registrar_port"), 2000);
		CHECK_STR(config_source(cfg, "registrar_port"),
			  "ASSAY_TEST_REGISTRAR_PORT");
		CHECK(config_bool(cfg, "verbose") == false);
		CHECK_STR(config_str(cfg, "cert"), "rel/env.pem");
		CHECK_STR(config_str(cfg, "registrar_ip"), "10.0.0.1");
		config_free(cfg);
	}

	/* the command line beats the environment; both spellings; the last
	 * one given wins */
	CHECK_INT(load(&cfg, "--registrar-port", "3000", "--verbose",
		       "--registrar_ip=192.0.2.1", "--offset", "-7",
		       "--cert=x.pem", NULL), 0);
	if (cfg) {
		CHECK_INT(config_int(cfg, "registrar_port"), 3000);
		CHECK_STR(config_source(cfg, "registrar_port"),
			  "--registrar-port");
		CHECK(config_bool(cfg, "verbose") == true);
		CHECK_STR(config_str(cfg, "registrar_ip"), "192.0.2.1");
		CHECK_STR(config_source(cfg, "registrar_ip"),
			  "--registrar_ip");
		CHECK_INT(config_int(cfg, "offset"), -7);
		CHECK_STR(config_str(cfg, "cert"), "x.pem");
		config_free(cfg);
	}
	CHECK_INT(load(&cfg, "--verbose", "--no-verbose",
		       "--registrar-port=1", "--registrar-port=65535", NULL), 0);
	if (cfg) {
		CHECK(config_bool(cfg, "verbose") == false);
		CHECK_INT(config_int(cfg, "registrar_port"), 65535);
		config_free(cfg);
	}
	CHECK_INT(load(&cfg, "--verbose", "--no_verbose", NULL), 0);
	if (cfg) {
		CHECK(config_bool(cfg, "verbose") == false);
		CHECK_STR(config_source(cfg, "verbose"), "--no_verbose");
		config_free(cfg);
	}
	CHECK_INT(load(&cfg, "--verbose=off", NULL), 0);
	if (cfg) {
		CHECK(config_bool(cfg, "verbose") == false);
		config_free(cfg);
	}
	clear_env();
}

static void test_choose_file(void)
{
	struct config *cfg;
	char other[160], opt[200];

	clear_env();
	snprintf(other, sizeof(other), "%s/other.toml", dir);
	write_file(other, "[test]\nregistrar_port = 4000\n");
	write_file(default_file, "[test]\nregistrar_port = 1000\n");

	CHECK_INT(load(&cfg, "-c", other, NULL), 0);
	CHECK(cfg && config_int(cfg, "registrar_port") == 4000);
	config_free(cfg);
	snprintf(opt, sizeof(opt), "-c%s", other);
	CHECK_INT(load(&cfg, opt, NULL), 0);
	CHECK(cfg && config_int(cfg, "registrar_port") == 4000);
	config_free(cfg);
	snprintf(opt, sizeof(opt), "--config=%s", other);
	CHECK_INT(load(&cfg, opt, NULL), 0);
	CHECK(cfg && config_int(cfg, "registrar_port") == 4000);
	config_free(cfg);
	CHECK_INT(load(&cfg, "--config", other, NULL), 0);
	CHECK(cfg && !strcmp(config_file(cfg), other));
	config_free(cfg);
	setenv("ASSAY_TEST_CONFIG", other, 1);
	CHECK_INT(load(&cfg, NULL), 0);
	CHECK(cfg && config_int(cfg, "registrar_port") == 4000);
	config_free(cfg);
	/* -c beats the environment */
	CHECK_INT(load(&cfg, "-c", default_file, NULL), 0);
	CHECK(cfg && config_int(cfg, "registrar_port") == 1000);
	config_free(cfg);
	clear_env();
	unlink(other);
}

static void test_errors(void)
{
	char path[160], expect[300];

	clear_env();
	unlink(default_file);
	/* command line */
	CHECK_STR(LOAD_ERROR("--registrar-port", "abc"),
		  "--registrar-port: 'abc' is not an integer");
	CHECK_STR(LOAD_ERROR("--registrar-port=12x"),
		  "--registrar-port: '12x' is not an integer");
	CHECK_STR(LOAD_ERROR("--registrar-port=99999999999999999999"),
		  "--registrar-port: '99999999999999999999' is not an "
		  "integer");
	CHECK_STR(LOAD_ERROR("--registrar-port", "70000"),
		  "--registrar-port: 70000 is out of range 1..65535");
	CHECK_STR(LOAD_ERROR("--registrar-port=0"),
		  "--registrar-port: 0 is out of range 1..65535");
	CHECK_STR(LOAD_ERROR("--registrar-port"),
		  "--registrar-port: missing value");
	CHECK_STR(LOAD_ERROR("--verbose=maybe"),
		  "--verbose: 'maybe' is not a boolean (use true or false)");
	CHECK_STR(LOAD_ERROR("--no-verbose=1"), "--no-verbose: takes no value");
	CHECK_STR(LOAD_ERROR("--no-registrar-port"),
		  "unknown option '--no-registrar-port' (see --help)");
	CHECK_STR(LOAD_ERROR("--bogus=1"),
		  "unknown option '--bogus' (see --help)");
	CHECK_STR(LOAD_ERROR("-x"), "unknown option '-x' (see --help)");
	CHECK_STR(LOAD_ERROR("stray"), "unexpected argument 'stray'");
	CHECK_STR(LOAD_ERROR("--", "stray"), "unexpected argument 'stray'");
	CHECK_STR(LOAD_ERROR("--cert="), "--cert: the path is empty");
	CHECK_STR(LOAD_ERROR("-c"), "-c: missing value");
	CHECK_STR(LOAD_ERROR("--config="), "--config: the file name is empty");
	CHECK_STR(LOAD_ERROR("--help=x"), "--help: takes no value");
	CHECK_STR(LOAD_ERROR("--registrar-port=\x1b[31m"),
		  "--registrar-port: '\\x1b[31m' is not an integer");

	/* environment */
	setenv("ASSAY_TEST_REGISTRAR_PORT", "70000", 1);
	CHECK_STR(LOAD_ERROR(NULL),
		  "ASSAY_TEST_REGISTRAR_PORT: 70000 is out of range 1..65535");
	setenv("ASSAY_TEST_REGISTRAR_PORT", "", 1);
	CHECK_STR(LOAD_ERROR(NULL),
		  "ASSAY_TEST_REGISTRAR_PORT: '' is not an integer");
	clear_env();
	setenv("ASSAY_TEST_VERBOSE", "2", 1);
	CHECK_STR(LOAD_ERROR(NULL), "ASSAY_TEST_VERBOSE: '2' is not a boolean "
		  "(use true or false)");
	clear_env();
	/* the command line is not applied before the environment is read,
	 * but a bad environment still fails even if a flag would win */
	setenv("ASSAY_TEST_OFFSET", "x", 1);
	CHECK_STR(LOAD_ERROR("--offset=1"),
		  "ASSAY_TEST_OFFSET: 'x' is not an integer");
	clear_env();

	/* files */
	snprintf(path, sizeof(path), "%s/missing.toml", dir);
	snprintf(expect, sizeof(expect), "%s: No such file or directory",
		 path);
	CHECK_STR(LOAD_ERROR("-c", path), expect);
	setenv("ASSAY_TEST_CONFIG", path, 1);
	CHECK_STR(LOAD_ERROR(NULL), expect);
	clear_env();

	snprintf(path, sizeof(path), "%s/bad.toml", dir);
	write_file(path, "[test]\nregistrar_port = 1\n\nfoo = 2\n");
	snprintf(expect, sizeof(expect), "%s:4: [test] unknown key 'foo'",
		 path);
	CHECK_STR(LOAD_ERROR("-c", path), expect);
	write_file(path, "[test]\nregistrar_port = '8890'\n");
	snprintf(expect, sizeof(expect), "%s:2: [test] registrar_port: "
		 "expected an integer, found a string", path);
	CHECK_STR(LOAD_ERROR("-c", path), expect);
	write_file(path, "[test]\nregistrar_port = 70000\n");
	snprintf(expect, sizeof(expect), "%s:2: [test] registrar_port: "
		 "70000 is out of range 1..65535", path);
	CHECK_STR(LOAD_ERROR("-c", path), expect);
	write_file(path, "[test]\nverbose = 'yes'\n");
	snprintf(expect, sizeof(expect), "%s:2: [test] verbose: expected "
		 "true or false, found a string", path);
	CHECK_STR(LOAD_ERROR("-c", path), expect);
	write_file(path, "[test]\ncert = 5\n");
	snprintf(expect, sizeof(expect), "%s:2: [test] cert: expected a "
		 "string, found an integer", path);
	CHECK_STR(LOAD_ERROR("-c", path), expect);
	write_file(path, "[test]\ncert = ''\n");
	snprintf(expect, sizeof(expect), "%s:2: [test] cert: the path is "
		 "empty", path);
	CHECK_STR(LOAD_ERROR("-c", path), expect);
	write_file(path, "[test]\nregistrar_ip = \"a\\u0000b\"\n");
	snprintf(expect, sizeof(expect), "%s:2: [test] registrar_ip: the "
		 "string contains a NUL character", path);
	CHECK_STR(LOAD_ERROR("-c", path), expect);
	write_file(path, "[test]\n[test.sub]\n");
	snprintf(expect, sizeof(expect), "%s:2: [test] unknown key 'sub'",
		 path);
	CHECK_STR(LOAD_ERROR("-c", path), expect);
	write_file(path, "port = 1\n[test]\n");
	snprintf(expect, sizeof(expect), "%s:1: unknown key 'port' outside "
		 "of any [section]", path);
	CHECK_STR(LOAD_ERROR("-c", path), expect);
	write_file(path, "test = 1\n");
	snprintf(expect, sizeof(expect), "%s:1: 'test' must be a table: "
		 "[test]", path);
	CHECK_STR(LOAD_ERROR("-c", path), expect);
	write_file(path, "[test]\nverbose = true\nverbose = false\n");
	snprintf(expect, sizeof(expect), "%s:3: duplicate key 'verbose'",
		 path);
	CHECK_STR(LOAD_ERROR("-c", path), expect);
	unlink(path);
	/* a directory cannot be read as the default file either */
	CHECK(mkdir(default_file, 0700) == 0);
	snprintf(expect, sizeof(expect), "%s: Is a directory", default_file);
	CHECK_STR(LOAD_ERROR(NULL), expect);
	rmdir(default_file);
}

/* Mistakes in a program's option table are reported, not ignored. */
static void test_bad_tables(void)
{
	static const struct config_option dup[] = {
		{ "a", CONFIG_INT, "1", "x", 0, 0 },
		{ "a", CONFIG_INT, "1", "x", 0, 0 },
		{ 0 },
	};
	static const struct config_option bad_default[] = {
		{ "port", CONFIG_INT, "http", "x", 0, 0 },
		{ 0 },
	};
	static const struct config_option reserved[] = {
		{ "config", CONFIG_PATH, NULL, "x", 0, 0 },
		{ 0 },
	};
	struct config_program prog = test_prog;
	char *argv[] = { (char *)"assay-test", NULL };
	struct config *cfg;

	prog.options = dup;
	CHECK_INT(config_load(&prog, 1, argv, &cfg, err, sizeof(err)), -1);
	CHECK_STR(err, "bug: option 'a' declared twice");
	prog.options = bad_default;
	CHECK_INT(config_load(&prog, 1, argv, &cfg, err, sizeof(err)), -1);
	CHECK_STR(err, "bug: default of 'port': 'http' is not an integer");
	prog.options = reserved;
	CHECK_INT(config_load(&prog, 1, argv, &cfg, err, sizeof(err)), -1);
	CHECK_STR(err, "bug: option 0: bad name 'config'");
}

static void test_help(void)
{
	char *text = NULL, *line, *save = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	struct config *cfg;
	int saved, devnull, too_long = 0;

	if (!out) {
		CHECK(out != NULL);
		return;
	}
	config_help(&test_prog, out);
	fclose(out);
	CHECK(strstr(text, "NAME\n       assay-test - exercise the "
		     "configuration layer\n") != NULL);
	CHECK(strstr(text, "SYNOPSIS\n       assay-test [-c FILE]") != NULL);
	CHECK(strstr(text, "A program that only exists in the unit tests.")
	      != NULL);
	CHECK(strstr(text, "OPTIONS\n") != NULL);
	CHECK(strstr(text, "       -c, --config=FILE\n") != NULL);
	CHECK(strstr(text, "       --registrar-port=N\n              Port of "
		     "the registrar.\n              Default: 8890. Range: "
		     "1..65535.\n              Environment: "
		     "ASSAY_TEST_REGISTRAR_PORT. File: registrar_port = N\n")
	      != NULL);
	CHECK(strstr(text, "Default: \"127.0.0.1\".") != NULL);
	CHECK(strstr(text, "       --verbose, --no-verbose\n") != NULL);
	CHECK(strstr(text, "       --cert=PATH\n") != NULL);
	CHECK(strstr(text, "No default.") != NULL);
	CHECK(strstr(text, "FILES\n       ") != NULL);
	CHECK(strstr(text, default_file) != NULL);
	CHECK(strstr(text, "[test] table") != NULL);
	CHECK(strstr(text, "ENVIRONMENT\n       ASSAY_TEST_CONFIG\n") != NULL);
	CHECK(strstr(text, "       ASSAY_TEST_OFFSET\n              Same as "
		     "--offset.\n") != NULL);
	CHECK(strstr(text, "Same as --verbose=true|false.") != NULL);
	CHECK(strstr(text, "EXIT STATUS\n") != NULL);
	CHECK(strstr(text, "--version") != NULL);
	/* a manual page fits a terminal */
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		if (strlen(line) > 79)
			too_long++;
	CHECK_INT(too_long, 0);
	free(text);

	/* --help and --version end the program (return 1), quietly here */
	fflush(stdout);
	saved = dup(1);
	devnull = open("/dev/null", O_WRONLY);
	dup2(devnull, 1);
	close(devnull);
	CHECK_INT(load(&cfg, "--help", NULL), 1);
	CHECK(cfg == NULL);
	CHECK_INT(load(&cfg, "-h", NULL), 1);
	CHECK_INT(load(&cfg, "--version", NULL), 1);
	/* help is given even when the rest would fail */
	CHECK_INT(load(&cfg, "--help", "--bogus", NULL), 1);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%.40s/assay-cfg-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		printf("cannot create a temporary directory\n");
		return 1;
	}
	snprintf(default_file, sizeof(default_file), "%s/assay.toml", dir);
	test_defaults();
	test_precedence();
	test_choose_file();
	test_errors();
	test_bad_tables();
	test_help();
	unlink(default_file);
	rmdir(dir);
	return check_done();
}
