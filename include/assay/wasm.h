/* Assay's WebAssembly engine: the embedding API.
 *
 * WebAssembly 2.0 without SIMD: MVP, mutable globals, sign extension,
 * non-trapping float-to-int, multi-value, bulk memory, reference types.
 *
 * Life of a module:
 *   assay_wasm_module_load()   decode, validate and translate every function
 *                              once into the engine's internal form
 *   assay_wasm_instantiate()   resolve imports, allocate memories, tables and
 *                              globals within the limits, run the data and
 *                              element segments and the start function
 *   assay_wasm_call()          call an exported function (or any function
 *                              reference), with a trap as a result, never a
 *                              crash of the host
 *
 * Objects: a module is read-only once loaded and may be instantiated many
 * times. An instance owns (or shares, when imported) memories, tables,
 * globals and functions: "externs". Externs from one instance can satisfy
 * another's imports (the spec tests' "register"), so externs live as long
 * as the store they belong to: every instance belongs to a store, and a
 * store is freed as a whole. Modules alone are reference-counted: one may
 * be freed while instances of it live on. A store is used by one thread at
 * a time.
 *
 * Errors: functions that can fail return 0 or -1 and fill err (errlen
 * bytes) with a precise message ("type mismatch in i32.add at function 3
 * offset 0x4f", "unknown import spectest.foo", "out of bounds memory
 * access"). The messages of traps use the spec's wording where the spec
 * tests check it (assert_trap's "text"). */
#ifndef ASSAY_WASM_H
#define ASSAY_WASM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- values ---- */

enum assay_wasm_type {
	ASSAY_WASM_I32 = 0x7f,
	ASSAY_WASM_I64 = 0x7e,
	ASSAY_WASM_F32 = 0x7d,
	ASSAY_WASM_F64 = 0x7c,
	ASSAY_WASM_FUNCREF = 0x70,
	ASSAY_WASM_EXTERNREF = 0x6f,
};

struct assay_wasm_func;		/* a function: wasm or host */

/* Floats travel as their bits so NaN payloads are kept exactly. */
struct assay_wasm_value {
	enum assay_wasm_type type;
	union {
		int32_t i32;
		int64_t i64;
		uint32_t f32;			/* IEEE 754 bits */
		uint64_t f64;			/* IEEE 754 bits */
		struct assay_wasm_func *funcref; /* NULL: ref.null func */
		void *externref;		/* NULL: ref.null extern; opaque to wasm */
	} of;
};

/* A function type: params then results, at most 255 of each (more than
 * any real module; the validator refuses beyond). */
struct assay_wasm_functype {
	uint32_t n_params, n_results;
	const enum assay_wasm_type *params, *results;
};

/* ---- limits ---- */

/* Zero fields take the defaults shown. Exceeding a limit at instantiation
 * is an error; at run time (memory.grow, table.grow) it makes the grow
 * fail (-1), as the spec allows; call depth and fuel are traps. */
struct assay_wasm_limits {
	uint32_t memory_pages;		/* per memory; default 16384 (1 GiB) */
	uint32_t table_elements;	/* per table; default 1,000,000 */
	uint32_t call_depth;		/* wasm frames; default 10,000 */
	uint64_t fuel;			/* instructions (approximately); 0: unlimited */
	uint64_t deadline_ns;		/* CLOCK_MONOTONIC; 0: none */
};

/* ---- modules ---- */

struct assay_wasm_module;

struct assay_wasm_module *assay_wasm_module_load(const uint8_t *bytes, size_t len,
						 char *err, size_t errlen);
/* Load (decode, validate, translate) and free at once, for tests and
 * fuzzing: 0 or -1 with err, the same as assay_wasm_module_load's. The
 * message tells a malformed binary ("malformed: ...") from an invalid
 * module ("invalid: ..."), as the spec tests distinguish. */
int assay_wasm_module_validate(const uint8_t *bytes, size_t len, char *err, size_t errlen);
void assay_wasm_module_free(struct assay_wasm_module *m);

enum assay_wasm_extern_kind {
	ASSAY_WASM_EXTERN_FUNC = 0,
	ASSAY_WASM_EXTERN_TABLE = 1,
	ASSAY_WASM_EXTERN_MEMORY = 2,
	ASSAY_WASM_EXTERN_GLOBAL = 3,
};

struct assay_wasm_import_desc {
	const char *module, *name;	/* owned by the module */
	enum assay_wasm_extern_kind kind;
	struct assay_wasm_functype func;	/* FUNC */
};

uint32_t assay_wasm_module_import_count(const struct assay_wasm_module *m);
void assay_wasm_module_import(const struct assay_wasm_module *m, uint32_t i,
			      struct assay_wasm_import_desc *out);
/* The rest of the i-th import's type, for tables, memories and globals
 * (a generic linker or a fuzzer creating stand-ins needs it). Added by
 * the engine. */
struct assay_wasm_import_type {
	enum assay_wasm_type type;	/* TABLE: element type; GLOBAL: value type */
	int mutable_;			/* GLOBAL */
	uint32_t min, max;		/* TABLE (elements), MEMORY (pages);
					 * max UINT32_MAX: none */
};
void assay_wasm_module_import_type(const struct assay_wasm_module *m, uint32_t i,
				   struct assay_wasm_import_type *out);
uint32_t assay_wasm_module_export_count(const struct assay_wasm_module *m);
/* The i-th export's name and kind. */
const char *assay_wasm_module_export(const struct assay_wasm_module *m, uint32_t i,
				     enum assay_wasm_extern_kind *kind);

/* ---- stores, externs and host functions ---- */

struct assay_wasm_store;
struct assay_wasm_instance;
struct assay_wasm_table;
struct assay_wasm_memory;
struct assay_wasm_global;

struct assay_wasm_store *assay_wasm_store_new(const struct assay_wasm_limits *limits);
/* Frees every instance, function, memory, table and global of the store. */
void assay_wasm_store_free(struct assay_wasm_store *s);

/* Where a trap comes from and what it says; host functions set it to
 * stop the wasm code that called them (WASI's proc_exit does so with
 * exit_code set). */
struct assay_wasm_trap {
	char message[160];
	int exited;		/* proc_exit: not an error */
	int exit_code;
};

/* The context a host function runs in. */
struct assay_wasm_call {
	struct assay_wasm_store *store;
	struct assay_wasm_instance *instance;	/* the caller's instance */
	struct assay_wasm_trap *trap;
};

/* A host function: args has the type's params, results receives its
 * results. Returns 0, or -1 after filling call->trap. */
typedef int (*assay_wasm_host_fn)(struct assay_wasm_call *call, void *env,
				  const struct assay_wasm_value *args,
				  struct assay_wasm_value *results);

struct assay_wasm_func *assay_wasm_func_new_host(struct assay_wasm_store *s,
						 const struct assay_wasm_functype *type,
						 assay_wasm_host_fn fn, void *env);
void assay_wasm_func_type(const struct assay_wasm_func *f, struct assay_wasm_functype *out);

/* Standalone externs (the spectest module's table, memory and globals). */
struct assay_wasm_memory *assay_wasm_memory_new(struct assay_wasm_store *s, uint32_t min_pages,
						uint32_t max_pages /* UINT32_MAX: none */);
struct assay_wasm_table *assay_wasm_table_new(struct assay_wasm_store *s,
					      enum assay_wasm_type elem, uint32_t min,
					      uint32_t max /* UINT32_MAX: none */);
struct assay_wasm_global *assay_wasm_global_new(struct assay_wasm_store *s,
						struct assay_wasm_value init, int mutable_);

/* One import's value, in the module's import order. */
struct assay_wasm_extern {
	enum assay_wasm_extern_kind kind;
	union {
		struct assay_wasm_func *func;
		struct assay_wasm_table *table;
		struct assay_wasm_memory *memory;
		struct assay_wasm_global *global;
	} of;
};

/* Instantiates m in s with imports[i] for the module's i-th import (types
 * and limits checked: "incompatible import type"). A trap in a segment or
 * the start function is reported as NULL with trap filled and err left
 * as it was (the spec's assert_uninstantiable); other failures return NULL
 * and fill err. The instance stays in
 * the store even when its start function traps (the spec says its
 * externs may already be shared). */
struct assay_wasm_instance *assay_wasm_instantiate(struct assay_wasm_store *s,
						   const struct assay_wasm_module *m,
						   const struct assay_wasm_extern *imports,
						   uint32_t n_imports,
						   struct assay_wasm_trap *trap,
						   char *err, size_t errlen);

/* An export of an instance by name: 0, or -1 when there is none. */
int assay_wasm_instance_export(const struct assay_wasm_instance *i, const char *name,
			       struct assay_wasm_extern *out);
/* The same for a name of len bytes: export names are any UTF-8 string,
 * NUL bytes included (the spec tests' names.wast exports one), which a C
 * string cannot carry. Added by the spec-test harness. */
int assay_wasm_instance_export_len(const struct assay_wasm_instance *i, const char *name,
				   size_t len, struct assay_wasm_extern *out);
/* The instance's memory 0, or NULL (WASI uses it). */
struct assay_wasm_memory *assay_wasm_instance_memory(const struct assay_wasm_instance *i);

/* ---- running ---- */

/* Calls f with args (checked against its type). Returns 0 with results
 * filled, or -1 with trap filled (a wasm trap, exhaustion of call depth,
 * fuel or deadline, or a host function's trap). */
int assay_wasm_call(struct assay_wasm_store *s, struct assay_wasm_func *f,
		    const struct assay_wasm_value *args, uint32_t n_args,
		    struct assay_wasm_value *results, uint32_t n_results,
		    struct assay_wasm_trap *trap);

/* Fuel left (when limited); may be refilled between calls. */
uint64_t assay_wasm_store_fuel(const struct assay_wasm_store *s);
void assay_wasm_store_set_fuel(struct assay_wasm_store *s, uint64_t fuel);
void assay_wasm_store_set_deadline(struct assay_wasm_store *s, uint64_t deadline_ns);
/* The deadline (CLOCK_MONOTONIC ns; 0: none). Host functions that may
 * block (WASI's reads, writes, accept, poll) wait no longer than it and
 * then trap with "deadline exceeded", as the interpreter does. */
uint64_t assay_wasm_store_deadline(const struct assay_wasm_store *s);

/* ---- memories, tables, globals ---- */

/* The memory's bytes and size. The pointer changes when the memory grows:
 * host functions fetch it again after calling back into wasm. */
uint8_t *assay_wasm_memory_data(struct assay_wasm_memory *m);
size_t assay_wasm_memory_size(const struct assay_wasm_memory *m);	/* bytes */
/* A bounds-checked view of [offset, offset + len): NULL when it does not
 * fit. Host functions use this for every pointer a module gives them. */
uint8_t *assay_wasm_memory_range(struct assay_wasm_memory *m, uint64_t offset, uint64_t len);
/* Grows by delta pages: the old size in pages, or -1. */
int64_t assay_wasm_memory_grow(struct assay_wasm_memory *m, uint32_t delta);

struct assay_wasm_value assay_wasm_global_get(const struct assay_wasm_global *g);
int assay_wasm_global_set(struct assay_wasm_global *g, struct assay_wasm_value v);

uint32_t assay_wasm_table_size(const struct assay_wasm_table *t);
int assay_wasm_table_get(const struct assay_wasm_table *t, uint32_t i,
			 struct assay_wasm_value *out);
int assay_wasm_table_set(struct assay_wasm_table *t, uint32_t i, struct assay_wasm_value v);

#ifdef __cplusplus
}
#endif

#endif
