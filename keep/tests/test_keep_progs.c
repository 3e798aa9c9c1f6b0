/* The C programs of keep/tests/progs and the benchmark kernels of
 * bench/wasm, built natively and for wasm32-wasi at build time, run both
 * ways with the same arguments, environment, input and an empty working
 * directory: same standard output, same exit status, same files left
 * behind. Then the hostile module (escape.c, wasm only) against a
 * directory with ways out: every one refused, the outside untouched.
 *
 * Usage: test_keep_progs ASSAY-KEEP PROGS-BUILD-DIR ESCAPE.expected
 *        (the wasm files missing: no toolchain at build time, skipped) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keep/tests/runner.h"
#include "util/check.h"
#include "util/file.h"

#define MAX_ARGS 16

struct prog_case {
	const char *prog;
	const char *args[MAX_ARGS];
	const char *env[MAX_ARGS];
	const char *input;
};

static const struct prog_case cases[] = {
	{ "strings", { "3.5", "Hello", "two words", "", "-17.25", NULL }, { NULL }, NULL },
	{ "strings", { NULL }, { NULL }, NULL },
	{ "upper", { NULL }, { NULL }, "hello world\nsecond line\n\nlast without newline" },
	{ "upper", { NULL }, { NULL }, NULL },
	{ "argsenv", { "one", "two words", "", "--dir", "x=y", NULL },
	  { "ALPHA=1", "BETA=two=2", "EMPTY=", "SPACES=a b c", NULL }, NULL },
	{ "argsenv", { NULL }, { NULL }, NULL },
	{ "exitcode", { "0", NULL }, { NULL }, NULL },
	{ "exitcode", { "3", NULL }, { NULL }, NULL },
	{ "exitcode", { "255", NULL }, { NULL }, NULL },
	{ "exitcode", { "return7", NULL }, { NULL }, NULL },
	{ "exitcode", { "return0", NULL }, { NULL }, NULL },
	{ "exitcode", { "abort", NULL }, { NULL }, NULL },
	{ "clockrand", { NULL }, { NULL }, NULL },
	{ "fileio", { NULL }, { NULL }, NULL },
	/* The kernels of bench/wasm.sh (bench/wasm/), small sizes. */
	{ "sha256", { "3", NULL }, { NULL }, NULL },
	{ "sort", { "3000", NULL }, { NULL }, NULL },
	{ "matmul", { "2", NULL }, { NULL }, NULL },
	{ "vm", { "3000", NULL }, { NULL }, NULL },
	{ "lz", { "1", NULL }, { NULL }, NULL },
	{ "hashtab", { "2", NULL }, { NULL }, NULL },
};

static const char *keep, *progs;

static size_t count(const char *const *l)
{
	size_t n = 0;

	while (l[n])
		n++;
	return n;
}

static void describe(const struct prog_case *c, char *out, size_t n)
{
	size_t i, k = (size_t)snprintf(out, n, "%s", c->prog);

	for (i = 0; c->args[i] && k < n; i++)
		k += (size_t)snprintf(out + k, n - k, " '%s'", c->args[i]);
}

static void run_case(const struct prog_case *c)
{
	char native[4096], wasm[4096], d1[4096], d2[4096], dirarg[4200];
	const char *argv[2 * MAX_ARGS + 8];
	struct run_result a, b;
	struct buf t1 = BUF_INIT, t2 = BUF_INIT;
	char what[512];
	size_t i, n = 0;

	describe(c, what, sizeof(what));
	snprintf(native, sizeof(native), "%s/prog_%s", progs, c->prog);
	snprintf(wasm, sizeof(wasm), "%s/%s.wasm", progs, c->prog);
	if (run_tmpdir(d1, sizeof(d1), "native") ||
	    run_tmpdir(d2, sizeof(d2), "wasm")) {
		CHECK(0);
		return;
	}

	argv[n++] = native;
	for (i = 0; c->args[i]; i++)
		argv[n++] = c->args[i];
	argv[n] = NULL;
	CHECK(run_program(argv, c->env, d1, c->input, 60, &a) == 0);

	n = 0;
	argv[n++] = keep;
	argv[n++] = "run";
	snprintf(dirarg, sizeof(dirarg), "%s::/", d2);
	argv[n++] = "--dir";
	argv[n++] = dirarg;
	for (i = 0; c->env[i]; i++) {
		argv[n++] = "--env";
		argv[n++] = c->env[i];
	}
	argv[n++] = wasm;
	for (i = 0; c->args[i]; i++)
		argv[n++] = c->args[i];
	argv[n] = NULL;
	/* assay-keep's own environment must not reach the module. */
	{
		static const char *const noise[] = { "LEAK=should-not-be-seen", NULL };

		CHECK(run_program(argv, noise, d2, c->input, 120, &b) == 0);
	}

	run_list_tree(d1, &t1);
	run_list_tree(d2, &t2);
	buf_append(&t1, "", 1);
	buf_append(&t2, "", 1);
	if (a.status != b.status || strcmp((char *)a.out.data, (char *)b.out.data) ||
	    strcmp((char *)t1.data, (char *)t2.data)) {
		printf("FAIL %s (%zu args, %zu env)\n", what, count(c->args),
		       count(c->env));
		printf("  native: status %d, stdout:\n%s\n  stderr: %s\n",
		       a.status, (char *)a.out.data, (char *)a.err.data);
		printf("  wasm: status %d, stdout:\n%s\n  stderr: %s\n",
		       b.status, (char *)b.out.data, (char *)b.err.data);
		printf("  native files:\n%s  wasm files:\n%s", (char *)t1.data,
		       (char *)t2.data);
		CHECK(0);
	} else {
		printf("PASS %s: status %d, %zu bytes out\n", what, a.status,
		       a.out.len);
		CHECK(1);
	}
	/* The trap is reported as such. */
	if (b.status == 134)
		CHECK(strstr((char *)b.err.data, "assay-keep: trap: ") != NULL);
	buf_free(&t1);
	buf_free(&t2);
	run_result_free(&a);
	run_result_free(&b);
	run_remove_tree(d1);
	run_remove_tree(d2);
}

static void run_escape(const char *expected_file)
{
	char top[4096], root[4200], dirarg[4300], wasm[4096], p[4300];
	const char *argv[8];
	struct run_result r;
	struct buf want = BUF_INIT, tree = BUF_INIT, secret = BUF_INIT;
	int ok = 1;

	snprintf(wasm, sizeof(wasm), "%s/escape.wasm", progs);
	if (file_read(expected_file, 1 << 20, &want) ||
	    run_tmpdir(top, sizeof(top), "escape")) {
		CHECK(0);
		return;
	}
	buf_append(&want, "", 1);
	CHECK(run_escape_prepare(top) == 0);
	snprintf(root, sizeof(root), "%s/root", top);
	snprintf(dirarg, sizeof(dirarg), "%s::/", root);
	argv[0] = keep;
	argv[1] = "run";
	argv[2] = "--dir";
	argv[3] = dirarg;
	argv[4] = wasm;
	argv[5] = NULL;
	CHECK(run_program(argv, NULL, top, NULL, 60, &r) == 0);
	CHECK_INT(r.status, 0);
	if (strcmp((char *)r.out.data, (char *)want.data)) {
		printf("FAIL escape: output differs from %s; got:\n%s\nstderr: %s\n",
		       expected_file, (char *)r.out.data, (char *)r.err.data);
		ok = 0;
	}
	run_list_tree(top, &tree);
	buf_append(&tree, "", 1);
	if (strcmp((char *)tree.data, run_escape_tree)) {
		printf("FAIL escape: the directory changed:\n%s", (char *)tree.data);
		ok = 0;
	}
	snprintf(p, sizeof(p), "%s/outside/secret", top);
	if (file_read(p, 100, &secret) || secret.len != 6 ||
	    memcmp(secret.data, "secret", 6)) {
		printf("FAIL escape: outside/secret was modified\n");
		ok = 0;
	}
	CHECK(ok);
	if (ok)
		printf("PASS escape: every attempt refused, outside untouched\n");
	buf_free(&want);
	buf_free(&tree);
	buf_free(&secret);
	run_result_free(&r);
	run_remove_tree(top);
}

int main(int argc, char **argv)
{
	char probe[4096];
	size_t i;

	if (argc != 4) {
		fprintf(stderr, "usage: %s ASSAY-KEEP PROGS-DIR ESCAPE.expected\n",
			argv[0]);
		return 2;
	}
	/* Absolute: the programs run in temporary directories. */
	keep = realpath(argv[1], NULL);
	if (!keep) {
		perror(argv[1]);
		return 1;
	}
	progs = argv[2];
	snprintf(probe, sizeof(probe), "%s/strings.wasm", progs);
	if (access(probe, R_OK))
		CHECK_SKIP("no wasm32-wasi toolchain at build time (clang, lld, "
			   "wasi-libc, libclang-rt-dev-wasm32): %s missing", probe);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
	run_escape(argv[3]);
	return check_done();
}
