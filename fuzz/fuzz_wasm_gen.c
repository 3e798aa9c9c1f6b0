/* Fuzzes the WebAssembly engine's execution with VALID modules: the
 * input drives fuzz/wasm_gen.c, whose modules must validate, load and
 * instantiate (a refusal is a bug of the generator or of the validator:
 * abort), then every export runs (traps are fine, crashes are not). The
 * generator bounds each export's work, so running out of a generous
 * fuel budget means that bound is broken: abort too.
 *
 * The module runs twice, in two stores, and both runs must agree: the
 * engine must not depend on anything but the module (uninitialised
 * frame slots, state left over from an earlier call or store). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <assay/wasm.h>

#include "fuzz/wasm_gen.h"
#include "util/buf.h"

#define GEN_FUEL 5000000	/* per call; the generator's bound is far below */
#define GEN_MAX_EXPORTS 16

struct outcome {
	int trapped;
	struct assay_wasm_value results[4];
	uint32_t n_results;
};

static void fail(const char *what, const char *detail, const struct buf *mod)
{
	fprintf(stderr, "fuzz_wasm_gen: %s: %s (module of %zu bytes)\n", what, detail,
		mod->len);
	abort();
}

/* Instantiates the module in a new store and runs every export. */
static uint32_t run(const struct assay_wasm_module *m, const struct buf *mod,
		    struct outcome *out)
{
	struct assay_wasm_limits lim = { .fuel = GEN_FUEL };
	struct assay_wasm_store *s = assay_wasm_store_new(&lim);
	struct assay_wasm_instance *inst;
	struct assay_wasm_trap trap;
	char err[256];
	uint32_t i, n = 0;

	if (!s)
		fail("store", "out of memory", mod);
	memset(&trap, 0, sizeof(trap));
	inst = assay_wasm_instantiate(s, m, NULL, 0, &trap, err, sizeof(err));
	if (!inst)
		fail("instantiate", trap.message[0] ? trap.message : err, mod);
	for (i = 0; i < assay_wasm_module_export_count(m) && n < GEN_MAX_EXPORTS; i++) {
		enum assay_wasm_extern_kind kind;
		const char *name = assay_wasm_module_export(m, i, &kind);
		struct assay_wasm_functype ft;
		struct assay_wasm_extern x;
		struct outcome *o = &out[n++];

		memset(o, 0, sizeof(*o));
		if (kind != ASSAY_WASM_EXTERN_FUNC || assay_wasm_instance_export(inst, name, &x) < 0)
			fail("export", name, mod);
		assay_wasm_func_type(x.of.func, &ft);
		if (ft.n_params || ft.n_results > 4)
			fail("export type", name, mod);
		o->n_results = ft.n_results;
		assay_wasm_store_set_fuel(s, GEN_FUEL);
		memset(&trap, 0, sizeof(trap));
		if (assay_wasm_call(s, x.of.func, NULL, 0, o->results, ft.n_results, &trap) < 0) {
			if (!strcmp(trap.message, "fuel exhausted"))
				fail("the generator's cost bound is broken", name, mod);
			o->trapped = 1;
			o->n_results = 0;
		}
	}
	assay_wasm_store_free(s);
	return n;
}

/* Exports return integers (wasm_gen.h); floats would compare as bits. */
static int value_equal(const struct assay_wasm_value *a, const struct assay_wasm_value *b)
{
	if (a->type != b->type)
		return 0;
	if (a->type == ASSAY_WASM_I32 || a->type == ASSAY_WASM_F32)
		return a->of.f32 == b->of.f32;
	return a->of.f64 == b->of.f64;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome first[GEN_MAX_EXPORTS], second[GEN_MAX_EXPORTS];
	struct buf mod = BUF_INIT;
	struct assay_wasm_module *m;
	char err[256];
	uint32_t n, i, k;

	if (wasm_gen_module(data, size, &mod) < 0)
		return 0;	/* out of memory */
	if (assay_wasm_module_validate(mod.data, mod.len, err, sizeof(err)) < 0)
		fail("generated module refused", err, &mod);
	m = assay_wasm_module_load(mod.data, mod.len, err, sizeof(err));
	if (!m)
		fail("generated module does not load", err, &mod);
	n = run(m, &mod, first);
	if (run(m, &mod, second) != n)
		fail("second run", "different export count", &mod);
	for (i = 0; i < n; i++) {
		if (first[i].trapped != second[i].trapped ||
		    first[i].n_results != second[i].n_results)
			fail("second run differs", "trap or result count", &mod);
		for (k = 0; k < first[i].n_results; k++)
			if (!value_equal(&first[i].results[k], &second[i].results[k]))
				fail("second run differs", "a result", &mod);
	}
	assay_wasm_module_free(m);
	buf_free(&mod);
	return 0;
}
