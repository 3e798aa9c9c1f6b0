/* Fuzzes the WebAssembly engine: decode, validate and translate a module,
 * instantiate it with stand-in imports, then call every exported function
 * with zero arguments, under small limits and a fuel budget so an endless
 * loop or a huge memory cannot stall the fuzzer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <assay/wasm.h>

/* Every imported function: returns zeros of its result types. */
static int stub(struct assay_wasm_call *call, void *env, const struct assay_wasm_value *args,
		struct assay_wasm_value *results)
{
	(void)call;
	(void)env;
	(void)args;
	(void)results;	/* the engine typed them; the payloads are zero */
	return 0;
}

static struct assay_wasm_value zero_of(enum assay_wasm_type t)
{
	struct assay_wasm_value v;

	memset(&v, 0, sizeof(v));
	v.type = t;
	return v;
}

static int make_import(struct assay_wasm_store *s, const struct assay_wasm_module *m,
		       uint32_t i, struct assay_wasm_extern *x)
{
	struct assay_wasm_import_desc d;
	struct assay_wasm_import_type t;

	assay_wasm_module_import(m, i, &d);
	assay_wasm_module_import_type(m, i, &t);
	x->kind = d.kind;
	switch (d.kind) {
	case ASSAY_WASM_EXTERN_FUNC:
		x->of.func = assay_wasm_func_new_host(s, &d.func, stub, NULL);
		return x->of.func ? 0 : -1;
	case ASSAY_WASM_EXTERN_TABLE:
		x->of.table = assay_wasm_table_new(s, t.type, t.min, t.max);
		return x->of.table ? 0 : -1;
	case ASSAY_WASM_EXTERN_MEMORY:
		x->of.memory = assay_wasm_memory_new(s, t.min, t.max);
		return x->of.memory ? 0 : -1;
	case ASSAY_WASM_EXTERN_GLOBAL:
		x->of.global = assay_wasm_global_new(s, zero_of(t.type), t.mutable_);
		return x->of.global ? 0 : -1;
	}
	return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct assay_wasm_limits lim = {
		.memory_pages = 16, .table_elements = 10000, .call_depth = 500,
		.fuel = 200000,
	};
	struct assay_wasm_module *m;
	struct assay_wasm_store *s;
	struct assay_wasm_instance *inst;
	struct assay_wasm_extern *imports = NULL;
	struct assay_wasm_trap trap;
	char err[256];
	uint32_t i, n;

	m = assay_wasm_module_load(data, size, err, sizeof(err));
	if (!m)
		return 0;
	s = assay_wasm_store_new(&lim);
	if (!s)
		goto out;
	n = assay_wasm_module_import_count(m);
	imports = calloc(n ? n : 1, sizeof(*imports));
	if (!imports)
		goto out;
	for (i = 0; i < n; i++)
		if (make_import(s, m, i, &imports[i]) < 0)
			goto out;
	inst = assay_wasm_instantiate(s, m, imports, n, &trap, err, sizeof(err));
	if (!inst)
		goto out;
	for (i = 0; i < assay_wasm_module_export_count(m); i++) {
		enum assay_wasm_extern_kind kind;
		const char *name = assay_wasm_module_export(m, i, &kind);
		struct assay_wasm_functype ft;
		struct assay_wasm_value args[8], results[8];
		struct assay_wasm_extern x;
		uint32_t k;

		if (kind != ASSAY_WASM_EXTERN_FUNC ||
		    assay_wasm_instance_export(inst, name, &x) < 0)
			continue;
		assay_wasm_func_type(x.of.func, &ft);
		if (ft.n_params > 8 || ft.n_results > 8)
			continue;
		for (k = 0; k < ft.n_params; k++)
			args[k] = zero_of(ft.params[k]);
		assay_wasm_store_set_fuel(s, 200000);
		(void)assay_wasm_call(s, x.of.func, args, ft.n_params, results,
				      ft.n_results, &trap);
	}
out:
	free(imports);
	assay_wasm_store_free(s);
	assay_wasm_module_free(m);
	return 0;
}
