/* assay-keep: runs a WASI (preview1) command module with Assay's
 * WebAssembly engine, confined to the directories it is given.
 *
 *	assay-keep run [--dir HOST[::GUEST]]... [--env NAME=VALUE]...
 *		[--listen HOST:PORT]... [--fuel N] [--timeout-ms N]
 *		[--max-memory-pages N] module.wasm [ARG]...
 *
 * --dir, --env and --listen may be repeated, which the option table (lib/config)
 * cannot express: they are taken out of the command line here, and the
 * rest goes to config_start as usual (so a configuration file or
 * ASSAY_KEEP_DIR / ASSAY_KEEP_ENV can still give one more of each). */
#include <limits.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assay/wasm.h"
#include "config/config.h"
#include "keep/sockets.h"
#include "util/buf.h"
#include "util/file.h"
#include "wasm/wasi.h"

/* Exit statuses besides the module's own. */
#define EXIT_USAGE 2		/* bad usage, unreadable/invalid module, link error */
#define EXIT_TRAP 134		/* 128 + SIGABRT, as other runtimes and a native abort() */

#define MAX_MODULE_BYTES (256u << 20)

static const struct config_option options[] = {
	{ "dir", CONFIG_STRING, NULL, "HOST[::GUEST]: let the module use the host directory HOST, and what is beneath it, under the name GUEST (default: HOST as written; \"/\" makes it the module's root, \".\" its working directory). Repeat the option for more directories. Paths the module names cannot leave these directories: not by \"..\", absolute paths or symlinks.", 0, 0 },
	{ "env", CONFIG_STRING, NULL, "NAME=VALUE: an environment variable of the module, which sees no other. Repeat the option for more.", 0, 0 },
	{ "listen", CONFIG_STRING, NULL, "HOST:PORT or [IPV6]:PORT: listen on this TCP address and give the module the listening socket, for WASI's sock_accept. Sockets come after the directories: with two --dir, the first socket is the module's fd 5. Sockets systemd passes (socket activation: LISTEN_FDS) come first. Repeat the option for more.", 0, 0 },
	{ "timeout_ms", CONFIG_INT, "0", "Wall-clock time the module may run, in milliseconds, counted from the start of instantiation; then it is stopped with the trap \"deadline exceeded\", also while it waits in a WASI call (a read, accept, poll...). 0: no limit.", 0, LLONG_MAX / 1000000 },
	{ "fuel", CONFIG_INT, "0", "Instructions the module may execute (approximately); running out is a trap. 0: no limit.", 0, LLONG_MAX },
	{ "max_memory_pages", CONFIG_INT, "16384", "Largest size of each memory of the module, in 64 KiB pages (16384: 1 GiB); growing beyond fails as in a memory.grow that cannot be satisfied.", 1, 65536 },
	{ "log_level", CONFIG_STRING, "warn", "error, warn, info or debug.", 0, 0 },
	{ NULL, 0, NULL, NULL, 0, 0 },
};

static const struct config_program program = {
	.name = "assay-keep",
	.section = "keep",
	.summary = "run a WebAssembly (WASI preview1) program, confined",
	.description =
		"Usage: assay-keep run [OPTIONS] MODULE.wasm [ARG]... "
		"Runs the WASI command MODULE.wasm (its _start function) with "
		"the arguments ARG (its argv[0] is MODULE.wasm as written), the "
		"environment given by --env only, the standard input, output "
		"and error of assay-keep, and the directories given by --dir. "
		"Options come before MODULE.wasm; everything after it is the "
		"module's. The module's file descriptors: 0, 1 and 2, then one "
		"per --dir in order, then the sockets (systemd's, then one per "
		"--listen). Limits: --max-memory-pages per memory, a call depth "
		"of 10,000 wasm frames, --fuel instructions and --timeout-ms of "
		"wall-clock time (both unlimited by default); modules of at "
		"most 256 MiB. The engine is Assay's interpreter of WebAssembly 2.0 "
		"(no SIMD); the system interface is wasi_snapshot_preview1. "
		"Exit status: the module's exit code (its proc_exit value, or 0 "
		"when _start returns; only its low 8 bits reach the shell); 134 "
		"when the module traps (an error such as unreachable, an out of "
		"bounds access, running out of fuel or of time), after printing "
		"\"assay-keep: trap: MESSAGE\" on the standard error, which is "
		"the status of a native program that calls abort(); 2 for bad "
		"usage, a module that cannot be read, decoded, validated or "
		"linked (an import WASI does not provide), with the reason.",
	.default_file = NULL,
	.options = options,
};

struct keep_args {
	const char **fwd;	/* for config_start */
	int n_fwd;
	const char **dirs, **envs, **listens;
	size_t n_dirs, n_envs, n_listens;
	const char *module;
	char **guest;		/* the module's arguments after argv[0] */
	int n_guest;
};

/* Whether --name (without '=') takes the next argument as its value. */
static int takes_value(const char *arg)
{
	const struct config_option *o;
	char name[64];
	char *p;

	if (!strcmp(arg, "-c"))
		return 1;
	if (strncmp(arg, "--", 2) || strchr(arg, '='))
		return 0;
	snprintf(name, sizeof(name), "%s", arg + 2);
	for (p = name; *p; p++)
		if (*p == '-')
			*p = '_';
	if (!strcmp(name, "config"))
		return 1;
	for (o = options; o->name; o++)
		if (!strcmp(o->name, name))
			return o->kind != CONFIG_BOOL;
	return 0;
}

/* --dir VALUE, --dir=VALUE (either spelling of '-'/'_' is not needed:
 * the names have none). Returns 1 and the value when arg is opt. */
static int repeated(const char *opt, char **argv, int argc, int *i,
		    const char **value)
{
	size_t n = strlen(opt);
	const char *a = argv[*i];

	if (strncmp(a, opt, n))
		return 0;
	if (a[n] == '=') {
		*value = a + n + 1;
		return 1;
	}
	if (a[n])
		return 0;
	*value = *i + 1 < argc ? argv[++*i] : NULL;
	return 1;
}

static int push(const char ***list, size_t *n, const char *v)
{
	const char **l = realloc(*list, (*n + 1) * sizeof(*l));

	if (!l)
		return -1;
	l[(*n)++] = v;
	*list = l;
	return 0;
}

/* Splits argv (after "run") into the options for lib/config, the
 * repeated ones, the module and its arguments. */
static int split_args(int argc, char **argv, struct keep_args *ka)
{
	const char *v;
	int i;

	ka->fwd = calloc((size_t)argc + 1, sizeof(*ka->fwd));
	if (!ka->fwd)
		return -1;
	ka->fwd[ka->n_fwd++] = program.name;
	for (i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (a[0] != '-' || !a[1])
			break;
		if (repeated("--dir", argv, argc, &i, &v) ||
		    repeated("--env", argv, argc, &i, &v) ||
		    repeated("--listen", argv, argc, &i, &v)) {
			const char ***list = a[2] == 'd' ? &ka->dirs :
					     a[2] == 'e' ? &ka->envs : &ka->listens;
			size_t *n = a[2] == 'd' ? &ka->n_dirs :
				    a[2] == 'e' ? &ka->n_envs : &ka->n_listens;

			if (!v) {
				fprintf(stderr, "assay-keep: %s: missing value\n",
					a);
				return -1;
			}
			if (push(list, n, v))
				return -1;
			continue;
		}
		ka->fwd[ka->n_fwd++] = a;
		if (takes_value(a) && i + 1 < argc)
			ka->fwd[ka->n_fwd++] = argv[++i];
	}
	if (i < argc) {
		ka->module = argv[i];
		ka->guest = argv + i + 1;
		ka->n_guest = argc - i - 1;
	}
	return 0;
}

/* HOST[::GUEST] as a preopen; GUEST defaults to HOST. */
static int parse_dir(const char *spec, struct wasi_preopen *p, char **owned)
{
	const char *sep = strstr(spec, "::");

	*owned = NULL;
	if (!sep) {
		p->host = p->guest = spec;
	} else {
		*owned = strndup(spec, (size_t)(sep - spec));
		if (!*owned)
			return -1;
		p->host = *owned;
		p->guest = sep + 2;
	}
	if (!*p->host || !*p->guest) {
		fprintf(stderr, "assay-keep: --dir '%s': give HOST or "
			"HOST::GUEST, both non-empty\n", spec);
		return -1;
	}
	return 0;
}

struct keep_run {
	struct assay_wasm_store *store;
	struct assay_wasm_module *module;
	struct wasi *wasi;
	struct assay_wasm_extern *imports;
	struct wasi_preopen *preopens;
	char **owned_hosts;
	size_t n_preopens;
	int *sockets;		/* ours: WASI has its own duplicates */
	size_t n_sockets;
	const char **argv;
};

static void run_free(struct keep_run *r)
{
	size_t i;

	wasi_free(r->wasi);
	if (r->store)
		assay_wasm_store_free(r->store);
	if (r->module)
		assay_wasm_module_free(r->module);
	free(r->imports);
	for (i = 0; i < r->n_preopens; i++)
		free(r->owned_hosts[i]);
	free(r->owned_hosts);
	free(r->preopens);
	for (i = 0; i < r->n_sockets; i++)
		close(r->sockets[i]);
	free(r->sockets);
	free(r->argv);
}

static int trap_exit(const struct assay_wasm_trap *trap)
{
	if (trap->exited)
		return trap->exit_code & 0xff;
	fprintf(stderr, "assay-keep: trap: %s\n", trap->message);
	return EXIT_TRAP;
}

/* Every import must come from WASI: anything else is a link error. */
static int link_module(struct keep_run *r, const char *path)
{
	uint32_t i, n = assay_wasm_module_import_count(r->module);
	struct assay_wasm_import_desc d;
	char err[256];

	r->imports = calloc(n ? n : 1, sizeof(*r->imports));
	if (!r->imports)
		return -1;
	if (wasi_imports(r->wasi, r->module, r->imports, err, sizeof(err))) {
		fprintf(stderr, "assay-keep: %s: %s\n", path, err);
		return -1;
	}
	for (i = 0; i < n; i++) {
		assay_wasm_module_import(r->module, i, &d);
		if (strcmp(d.module, WASI_MODULE)) {
			fprintf(stderr, "assay-keep: %s: unknown import %s.%s "
				"(only %s is provided)\n", path, d.module,
				d.name, WASI_MODULE);
			return -1;
		}
	}
	return 0;
}

/* systemd's sockets, then one per --listen. */
static int open_sockets(struct keep_run *r, const char **listens,
			size_t n_listens)
{
	char err[512];
	size_t i;
	int *l;

	if (keep_inherited(&r->sockets, &r->n_sockets, err, sizeof(err))) {
		fprintf(stderr, "assay-keep: %s\n", err);
		return -1;
	}
	l = realloc(r->sockets, (r->n_sockets + n_listens + 1) * sizeof(*l));
	if (!l)
		return -1;
	r->sockets = l;
	for (i = 0; i < n_listens; i++) {
		int fd = keep_listen(listens[i], err, sizeof(err));

		if (fd < 0) {
			fprintf(stderr, "assay-keep: %s\n", err);
			return -1;
		}
		r->sockets[r->n_sockets++] = fd;
	}
	return 0;
}

/* Now plus ms on CLOCK_MONOTONIC, in ns; 0 (none) for 0. */
static uint64_t deadline_after(long long ms)
{
	struct timespec ts;

	if (ms <= 0)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec +
	       (uint64_t)ms * 1000000u;
}

static int setup(struct keep_run *r, const struct config *cfg,
		 const struct keep_args *ka, const char **dirs, size_t n_dirs,
		 const char **envs, size_t n_envs)
{
	struct assay_wasm_limits limits;
	struct wasi_config wc;
	struct buf bytes = BUF_INIT;
	char err[512];
	size_t i;
	int k;

	r->preopens = calloc(n_dirs ? n_dirs : 1, sizeof(*r->preopens));
	r->owned_hosts = calloc(n_dirs ? n_dirs : 1, sizeof(char *));
	r->argv = calloc((size_t)ka->n_guest + 1, sizeof(*r->argv));
	if (!r->preopens || !r->owned_hosts || !r->argv)
		return -1;
	for (i = 0; i < n_dirs; i++, r->n_preopens++)
		if (parse_dir(dirs[i], &r->preopens[i], &r->owned_hosts[i]))
			return -1;
	for (i = 0; i < n_envs; i++) {
		const char *eq = strchr(envs[i], '=');

		if (!eq || eq == envs[i]) {
			fprintf(stderr, "assay-keep: --env '%s': give "
				"NAME=VALUE\n", envs[i]);
			return -1;
		}
	}
	if (file_read(ka->module, MAX_MODULE_BYTES, &bytes)) {
		fprintf(stderr, "assay-keep: %s: %m\n", ka->module);
		return -1;
	}
	r->module = assay_wasm_module_load(bytes.data, bytes.len, err,
					   sizeof(err));
	buf_free(&bytes);
	if (!r->module) {
		fprintf(stderr, "assay-keep: %s: %s\n", ka->module, err);
		return -1;
	}
	if (open_sockets(r, ka->listens, ka->n_listens))
		return -1;
	memset(&limits, 0, sizeof(limits));
	limits.memory_pages = (uint32_t)config_int(cfg, "max_memory_pages");
	limits.fuel = (uint64_t)config_int(cfg, "fuel");
	r->store = assay_wasm_store_new(&limits);
	if (!r->store)
		return -1;
	r->argv[0] = ka->module;
	for (k = 0; k < ka->n_guest; k++)
		r->argv[k + 1] = ka->guest[k];
	wasi_config_init(&wc);
	wc.argv = r->argv;
	wc.argc = (size_t)ka->n_guest + 1;
	wc.env = envs;
	wc.n_env = n_envs;
	wc.preopens = r->preopens;
	wc.n_preopens = r->n_preopens;
	wc.sockets = r->sockets;
	wc.n_sockets = r->n_sockets;
	r->wasi = wasi_new(r->store, &wc, err, sizeof(err));
	if (!r->wasi) {
		fprintf(stderr, "assay-keep: %s\n", err);
		return -1;
	}
	return link_module(r, ka->module);
}

/* The --dir/--env of the command line, plus one from the configuration
 * file or environment when set there. */
static int with_config(const struct config *cfg, const char *name,
		       const char ***list, size_t *n)
{
	const char **l;

	if (!config_isset(cfg, name))
		return 0;
	l = realloc(*list, (*n + 1) * sizeof(*l));
	if (!l)
		return -1;
	memmove(l + 1, l, *n * sizeof(*l));
	l[0] = config_str(cfg, name);
	(*n)++;
	*list = l;
	return 0;
}

static int run(int argc, char **argv)
{
	struct keep_args ka;
	struct keep_run r;
	struct assay_wasm_instance *inst;
	struct assay_wasm_trap trap;
	struct config *cfg = NULL;
	char err[512];
	int status = EXIT_USAGE, code, started;

	memset(&ka, 0, sizeof(ka));
	memset(&r, 0, sizeof(r));
	if (split_args(argc, argv, &ka))
		goto out;
	started = config_start(&program, ka.n_fwd, (char **)ka.fwd, &cfg);
	if (started) {
		status = started < 0 ? EXIT_USAGE : 0;
		goto out;
	}
	if (!ka.module) {
		fprintf(stderr, "assay-keep: give the module to run (see "
			"--help)\n");
		goto out;
	}
	if (with_config(cfg, "dir", &ka.dirs, &ka.n_dirs) ||
	    with_config(cfg, "env", &ka.envs, &ka.n_envs) ||
	    with_config(cfg, "listen", &ka.listens, &ka.n_listens) ||
	    setup(&r, cfg, &ka, ka.dirs, ka.n_dirs, ka.envs, ka.n_envs))
		goto out;
	/* A write to a closed pipe is EPIPE for the module, not death. */
	signal(SIGPIPE, SIG_IGN);
	assay_wasm_store_set_deadline(r.store,
				      deadline_after(config_int(cfg, "timeout_ms")));
	memset(&trap, 0, sizeof(trap));
	inst = assay_wasm_instantiate(r.store, r.module, r.imports,
				      assay_wasm_module_import_count(r.module),
				      &trap, err, sizeof(err));
	if (!inst) {
		if (trap.message[0] || trap.exited)
			status = trap_exit(&trap);
		else
			fprintf(stderr, "assay-keep: %s: %s\n", ka.module, err);
		goto out;
	}
	switch (wasi_run(r.wasi, inst, &code, &trap, err, sizeof(err))) {
	case 0:
		status = code & 0xff;
		break;
	case 1:
		status = trap_exit(&trap);
		break;
	default:
		fprintf(stderr, "assay-keep: %s: %s\n", ka.module, err);
		break;
	}
out:
	run_free(&r);
	config_free(cfg);
	free(ka.fwd);
	free(ka.dirs);
	free(ka.envs);
	free(ka.listens);
	return status;
}

int main(int argc, char **argv)
{
	struct config *cfg;
	int r;

	if (argc >= 2 && !strcmp(argv[1], "run"))
		return run(argc, argv);
	/* --help and --version without a command. */
	if (argc >= 2 && argv[1][0] == '-') {
		r = config_start(&program, argc, argv, &cfg);
		if (r == 0) {
			config_free(cfg);
			fprintf(stderr, "assay-keep: give a command: run (see "
				"--help)\n");
			return EXIT_USAGE;
		}
		return r < 0 ? EXIT_USAGE : 0;
	}
	if (argc >= 2)
		fprintf(stderr, "assay-keep: unknown command '%s' (the "
			"command is: run; see --help)\n", argv[1]);
	else
		fprintf(stderr, "usage: assay-keep run [OPTIONS] MODULE.wasm "
			"[ARG]... (see --help)\n");
	return EXIT_USAGE;
}
