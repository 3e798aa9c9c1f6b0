/* config: the settings layer of every Assay program.
 *
 * A program declares its options once, in a table, and gets each value from
 * four sources, lowest to highest precedence:
 *
 *   1. the default in the table,
 *   2. the program's own section of a TOML file (e.g. [agent]); keys are the
 *      option names, and an unknown key is an error,
 *   3. the environment: ASSAY_<SECTION>_<NAME>, e.g.
 *      ASSAY_AGENT_REGISTRAR_PORT,
 *   4. the command line: --name=value or --name value, with '-' and '_'
 *      interchangeable (--registrar-port 8890); boolean options are
 *      --name / --no-name / --name=true|false.
 *
 * The file is the one named by -c/--config, else by ASSAY_<SECTION>_CONFIG,
 * else the program's default path; only a missing *default* file is fine.
 * -h/--help prints a manual page built from the table, --version the version.
 *
 * Errors name the source exactly: "--registrar-port: 'abc' is not an
 * integer", "agent.toml:7: [agent] unknown key 'foo'", "ASSAY_AGENT_PORT:
 * 70000 is out of range 1..65535". Programs print them and exit 2. */
#ifndef ASSAY_CONFIG_CONFIG_H
#define ASSAY_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum config_kind {
	CONFIG_STRING,
	CONFIG_INT,
	CONFIG_BOOL,
	/* A non-empty string naming a file. A relative path written in the
	 * config file is taken relative to that file's directory (so a config
	 * directory can be moved as a whole); from the environment or the
	 * command line it is left as given (relative to the working dir). */
	CONFIG_PATH,
};

/* Declare options with designated initializers, e.g.
 *	{ .name = "registrar_port", .kind = CONFIG_INT, .def = "8890",
 *	  .help = "Port of the registrar.", .min = 1, .max = 65535 },
 * and end the table with { 0 }. */
struct config_option {
	const char *name;	/* e.g. "registrar_port": [a-z0-9_] */
	enum config_kind kind;
	const char *def;	/* default as text, or NULL for none */
	const char *help;	/* one line */
	long long min, max;	/* CONFIG_INT: inclusive range, unless both 0 */
};

struct config_program {
	const char *name;	  /* "assay-agent" */
	const char *section;	  /* "agent": [agent], ASSAY_AGENT_* */
	const char *summary;	  /* one line, for NAME */
	const char *description;  /* a paragraph, or NULL */
	const char *default_file; /* e.g. "/etc/assay/agent.toml", or NULL */
	const struct config_option *options;	/* ends with { 0 } */
};

struct config;

/* Reads every source. Returns 0 with *out set; 1 if --help or --version
 * was given (printed on stdout; the program exits 0); -1 with err filled
 * (the program prints it and exits 2). */
int config_load(const struct config_program *prog, int argc, char **argv,
		struct config **out, char *err, size_t errlen);
void config_free(struct config *cfg);

/* Values. Asking for a name the table does not declare, or with the
 * wrong kind, is a bug in the program: it aborts with a message. */
const char *config_str(const struct config *cfg, const char *name);
long long config_int(const struct config *cfg, const char *name);
bool config_bool(const struct config *cfg, const char *name);
/* False when the option has no default and was not set anywhere (then
 * config_str returns NULL and config_int 0). */
bool config_isset(const struct config *cfg, const char *name);
/* Where the value came from: "default", "agent.toml:7",
 * "ASSAY_AGENT_PORT" or "--port"; for logs and error messages. */
const char *config_source(const struct config *cfg, const char *name);
/* The file that was read, or NULL. */
const char *config_file(const struct config *cfg);

/* What every program's main() does first: config_load, errors printed as
 * "<program>: <message>", then the "log_level" option (which the program's
 * table must declare) checked and the log set up. Returns 0 to go on, 1
 * when the program should exit 0 (--help, --version), -1 when it should
 * exit 2. */
int config_start(const struct config_program *prog, int argc, char **argv,
		 struct config **out);

/* The value of the path option name when it is set, else dir "/" file
 * written into buf (n bytes). Returns "" when that does not fit. */
const char *config_path_or(const struct config *cfg, const char *name,
			   const char *dir, const char *file, char *buf, size_t n);

/* The manual page that --help prints. */
void config_help(const struct config_program *prog, FILE *out);

#endif
