/* diff_wasm: the engine's half of the differential test against wabt.
 *
 * Generates a module with fuzz/wasm_gen.c (or takes one), instantiates it
 * on Assay's engine and calls every exported function in export order in
 * that one instance, printing each outcome the way wabt's
 * `wasm-interp MODULE --run-all-exports` does:
 *
 *   e0() => i64:18446744073709551615      (integers unsigned, as wabt)
 *   e1() => i32:7, i64:0                  (several results)
 *   e2() => error: integer divide by zero (the trap message is ours)
 *
 * fuzz/diff_wasm.sh compares the two outputs, trap messages aside.
 *
 *   diff_wasm --seed N [-o OUT.wasm] [--no-run]
 *   diff_wasm --from BYTES [-o OUT.wasm] [--no-run]
 *   diff_wasm MODULE.wasm
 *
 * --seed turns N into generator input with splitmix64 (512 to 16384
 * bytes, by N); --from uses a file's bytes (a fuzz seed or corpus entry). The
 * module is written before it runs, so a crash leaves it behind. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <assay/wasm.h>

#include "fuzz/wasm_gen.h"
#include "util/buf.h"
#include "util/file.h"

#define DIFF_MAX_INPUT ((size_t)1 << 20)
#define DIFF_MAX_MODULE ((size_t)64 << 20)

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Generator input for a seed: lengths vary with the seed so that small
 * modules (input runs out) and large ones (budget runs out) both occur. */
static int seed_bytes(uint64_t seed, struct buf *out)
{
	size_t len = (size_t)512 << (seed % 6), i;
	uint64_t state = seed;

	for (i = 0; i < len; i += 8) {
		uint64_t v = splitmix64(&state);

		if (buf_append(out, &v, 8) < 0)
			return -1;
	}
	out->len = len;
	return 0;
}

static int write_file(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	int rc = 0;

	if (!f)
		return -1;
	if (n && fwrite(p, 1, n, f) != n)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

static void print_value(const struct assay_wasm_value *v)
{
	switch (v->type) {
	case ASSAY_WASM_I32:
		printf("i32:%" PRIu32, (uint32_t)v->of.i32);
		break;
	case ASSAY_WASM_I64:
		printf("i64:%" PRIu64, (uint64_t)v->of.i64);
		break;
	/* wabt prints floats in decimal; generated modules never export
	 * them, so the bits are enough here. */
	case ASSAY_WASM_F32:
		printf("f32:bits 0x%08" PRIx32, v->of.f32);
		break;
	case ASSAY_WASM_F64:
		printf("f64:bits 0x%016" PRIx64, v->of.f64);
		break;
	default:
		printf("%s", v->type == ASSAY_WASM_FUNCREF ? "funcref" : "externref");
		break;
	}
}

/* Runs every exported function of the module in one instance. Returns 0,
 * or -1 when the module does not load or instantiate. */
static int run_module(const uint8_t *bytes, size_t len)
{
	struct assay_wasm_limits lim;
	struct assay_wasm_module *m;
	struct assay_wasm_store *s = NULL;
	struct assay_wasm_instance *inst;
	struct assay_wasm_trap trap;
	char err[256];
	uint32_t i, k;
	int rc = -1;

	memset(&lim, 0, sizeof(lim));	/* the defaults */
	m = assay_wasm_module_load(bytes, len, err, sizeof(err));
	if (!m) {
		fprintf(stderr, "diff_wasm: load: %s\n", err);
		return -1;
	}
	if (assay_wasm_module_import_count(m)) {
		fprintf(stderr, "diff_wasm: the module has imports\n");
		goto out;
	}
	s = assay_wasm_store_new(&lim);
	if (!s) {
		fprintf(stderr, "diff_wasm: out of memory\n");
		goto out;
	}
	memset(&trap, 0, sizeof(trap));
	inst = assay_wasm_instantiate(s, m, NULL, 0, &trap, err, sizeof(err));
	if (!inst) {
		fprintf(stderr, "diff_wasm: instantiate: %s\n", trap.message[0] ? trap.message : err);
		goto out;
	}
	for (i = 0; i < assay_wasm_module_export_count(m); i++) {
		enum assay_wasm_extern_kind kind;
		const char *name = assay_wasm_module_export(m, i, &kind);
		struct assay_wasm_value results[256];
		struct assay_wasm_functype ft;
		struct assay_wasm_extern x;

		if (kind != ASSAY_WASM_EXTERN_FUNC ||
		    assay_wasm_instance_export(inst, name, &x) < 0)
			continue;
		assay_wasm_func_type(x.of.func, &ft);
		if (ft.n_params) {	/* wabt calls them with zeros; not generated */
			printf("%s() => error: has parameters\n", name);
			continue;
		}
		printf("%s() =>", name);
		memset(&trap, 0, sizeof(trap));
		if (assay_wasm_call(s, x.of.func, NULL, 0, results, ft.n_results, &trap) < 0) {
			printf(" error: %s\n", trap.message);
			fflush(stdout);
			continue;
		}
		for (k = 0; k < ft.n_results; k++) {
			printf(k ? ", " : " ");
			print_value(&results[k]);
		}
		printf("\n");
		fflush(stdout);	/* what ran is on record if the next call crashes */
	}
	rc = 0;
out:
	assay_wasm_store_free(s);
	assay_wasm_module_free(m);
	return rc;
}

static int usage(void)
{
	fprintf(stderr, "usage: diff_wasm --seed N [-o OUT.wasm] [--no-run]\n"
			"       diff_wasm --from BYTES [-o OUT.wasm] [--no-run]\n"
			"       diff_wasm MODULE.wasm\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *seed = NULL, *from = NULL, *out = NULL, *module = NULL;
	struct buf input = BUF_INIT, mod = BUF_INIT;
	int i, run = 1, rc = 2;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = argv[++i];
		else if (!strcmp(argv[i], "--from") && i + 1 < argc)
			from = argv[++i];
		else if (!strcmp(argv[i], "-o") && i + 1 < argc)
			out = argv[++i];
		else if (!strcmp(argv[i], "--no-run"))
			run = 0;
		else if (argv[i][0] != '-' && !module)
			module = argv[i];
		else
			return usage();
	}
	if (!!seed + !!from + !!module != 1)
		return usage();

	if (module) {
		if (file_read(module, DIFF_MAX_MODULE, &mod) < 0) {
			fprintf(stderr, "diff_wasm: %s: %s\n", module, strerror(errno));
			goto done;
		}
	} else {
		if (seed) {
			char *end;
			unsigned long long n;

			errno = 0;
			n = strtoull(seed, &end, 0);
			if (errno || !*seed || *end) {
				fprintf(stderr, "diff_wasm: bad seed %s\n", seed);
				goto done;
			}
			if (seed_bytes(n, &input) < 0)
				goto oom;
		} else if (file_read(from, DIFF_MAX_INPUT, &input) < 0) {
			fprintf(stderr, "diff_wasm: %s: %s\n", from, strerror(errno));
			goto done;
		}
		if (wasm_gen_module(input.data, input.len, &mod) < 0)
			goto oom;
		if (out && write_file(out, mod.data, mod.len) < 0) {
			fprintf(stderr, "diff_wasm: %s: %s\n", out, strerror(errno));
			goto done;
		}
	}
	rc = 0;
	if (run && run_module(mod.data, mod.len) < 0)
		rc = 1;
	goto done;
oom:
	fprintf(stderr, "diff_wasm: out of memory\n");
done:
	buf_free(&input);
	buf_free(&mod);
	return rc;
}
