/* The WebAssembly engine's internals, shared by its files:
 *
 *   decode.c    the binary format -> struct assay_wasm_module (bodies kept
 *               as byte ranges, every instruction checked for well-formedness)
 *   validate.c  module-level validation and constant expressions
 *   compile.c   each function body, validated and translated in one pass
 *               into the internal code below
 *   interp.c    runs the internal code
 *   runtime.c   stores, instances, memories, tables, globals, the API
 *
 * The internal code ("wcode") is a register machine over a frame of 8-byte
 * slots. A function's frame is
 *
 *   fp[0 .. n_params)                      parameters
 *   fp[n_params .. n_locals)               other locals (zeroed on entry)
 *   fp[n_locals .. n_locals + n_consts)    constants (copied on entry)
 *   fp[stack_base ..]                      operand-stack "home" slots
 *
 * where the operand stack of the validator maps statically onto home slots:
 * the value at stack height h lives in fp[stack_base + h]. Instructions are
 * 32-bit words: a handler offset (relative to a base label, for computed
 * goto) followed by operand slot indices and immediates, so an i32.add of
 * two locals into a third is one instruction with three slot numbers and
 * no stack traffic. A call passes its arguments in place: the callee's
 * frame starts at the caller's home slot of the first argument, and its
 * results come back in the same slots. */
#ifndef ASSAY_WASM_INTERNAL_H
#define ASSAY_WASM_INTERNAL_H

#include <assay/wasm.h>

#include <stddef.h>
#include <stdint.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the wasm engine assumes a little-endian host (slot and memory layout)"
#endif

/* ---- value types ---- */

#define WASM_T_I32 0x7f
#define WASM_T_I64 0x7e
#define WASM_T_F32 0x7d
#define WASM_T_F64 0x7c
#define WASM_T_FUNCREF 0x70
#define WASM_T_EXTERNREF 0x6f
#define WASM_T_UNKNOWN 0x00	/* the validator's bottom type */

static inline int wasm_is_num(uint8_t t)
{
	return t == WASM_T_I32 || t == WASM_T_I64 || t == WASM_T_F32 || t == WASM_T_F64;
}

static inline int wasm_is_ref(uint8_t t)
{
	return t == WASM_T_FUNCREF || t == WASM_T_EXTERNREF;
}

const char *wasm_type_name(uint8_t t);

/* One slot of a frame, a global's cell, a constant. */
union wasm_val {
	int32_t i32;
	uint32_t u32;
	int64_t i64;
	uint64_t u64;
	float f32;
	double f64;
	void *ref;
};

/* ---- implementation limits (beyond the spec's, to stay safe) ---- */

#define WASM_MAX_MODULE_BYTES ((size_t)256 << 20)
#define WASM_MAX_BLOCK_DEPTH 100000u	/* open blocks in one function body */
#define WASM_MAX_LOCALS 50000		/* per function, params included */
#define WASM_MAX_FUNC_VALUES 255	/* params or results of a type */
#define WASM_MAX_PAGES 65536u
#define WASM_PAGE 65536u
#define WASM_MAX_CONST_SLOTS 256	/* per function; more go inline */
#define WASM_MAX_NESTED_CALLS 200	/* host -> wasm re-entries */
#define WASM_C_STACK_BUDGET ((size_t)1 << 20)	/* of the thread's C stack */

/* ---- module structure ---- */

struct wasm_functype {
	uint32_t n_params, n_results;
	uint8_t *types;			/* params then results */
	enum assay_wasm_type *api;	/* the same, for the API */
};

int wasm_functype_equal(const struct wasm_functype *a, const struct wasm_functype *b);

struct wasm_limits {
	uint32_t min, max;
	int has_max;
};

struct wasm_tabletype {
	uint8_t elem;
	struct wasm_limits lim;
};

struct wasm_globaltype {
	uint8_t type;
	uint8_t mut;
};

/* A constant expression. 2.0 allows one instruction of the kinds below;
 * anything else is remembered (bad_op) for the validator to refuse. */
enum wasm_cexpr_kind {
	WASM_CE_CONST,		/* value in val (i32/i64/f32/f64 bits) */
	WASM_CE_REF_NULL,	/* type in type */
	WASM_CE_REF_FUNC,	/* index in index */
	WASM_CE_GLOBAL_GET,	/* index in index */
};

struct wasm_cexpr {
	uint8_t kind;
	uint8_t type;		/* of the value pushed by the first instruction */
	uint8_t n_instrs;	/* 0, 1, or 2 meaning "two or more" */
	uint8_t not_const;	/* an instruction not allowed in constant expressions */
	uint32_t index;
	uint64_t val;
};

struct wasm_import {
	char *module, *name;
	uint8_t kind;		/* enum assay_wasm_extern_kind */
	uint32_t type_idx;	/* FUNC */
	struct wasm_tabletype table;
	struct wasm_limits mem;
	struct wasm_globaltype global;
};

struct wasm_export {
	char *name;		/* NUL-terminated, but may contain NULs */
	uint32_t name_len;
	uint8_t kind;
	uint32_t index;
};

struct wasm_global {
	struct wasm_globaltype type;
	struct wasm_cexpr init;
};

enum wasm_seg_mode { WASM_SEG_ACTIVE, WASM_SEG_PASSIVE, WASM_SEG_DECLARATIVE };

struct wasm_elem {
	uint8_t mode;
	uint8_t type;
	uint32_t table;
	struct wasm_cexpr offset;
	uint32_t n;
	struct wasm_cexpr *items;
};

struct wasm_data {
	uint8_t mode;
	uint32_t mem;
	struct wasm_cexpr offset;
	const uint8_t *bytes;	/* inside the module's copy of the binary */
	uint32_t len;
};

struct wasm_code;

/* A function defined by the module. */
struct wasm_func {
	uint32_t type_idx;
	const uint8_t *body;		/* the locals vector onwards */
	size_t body_len;
	const uint8_t *instrs;		/* the first instruction */
	uint32_t n_locals;		/* params included */
	uint8_t *local_types;		/* n_locals */
	uint32_t n_const_instrs;	/* for the constant slots */
	struct wasm_code *code;		/* the translation */
};

struct assay_wasm_module {
	int refs;			/* the owner and every instance */
	uint8_t *bytes;			/* our copy of the binary */
	size_t len;

	uint32_t n_types;
	struct wasm_functype *types;
	uint32_t *canon;		/* type index -> first equal type */

	uint32_t n_imports;
	struct wasm_import *imports;
	uint32_t n_func_imports, n_table_imports, n_mem_imports, n_global_imports;

	uint32_t n_funcs;		/* imports included */
	uint32_t *func_types;		/* type index of every function */
	struct wasm_func *funcs;	/* the defined ones */
	uint32_t n_bodies_read;		/* funcs[] entries to free */

	uint32_t n_tables;		/* imports included */
	struct wasm_tabletype *tables;
	uint32_t n_mems;
	struct wasm_limits *mems;
	uint32_t n_globals;
	struct wasm_globaltype *global_types;	/* imports included */
	struct wasm_global *globals;		/* the defined ones */

	uint32_t n_exports;
	struct wasm_export *exports;

	int has_start;
	uint32_t start;

	uint32_t n_elems;
	struct wasm_elem *elems;

	int has_data_count;
	uint32_t data_count;
	uint32_t n_datas;
	struct wasm_data *datas;

	uint8_t *declared_refs;	/* per function: may appear in ref.func */
	struct wasm_code *codes;	/* the translations, one per defined function */
};

/* ---- the binary reader ---- */

/* Reads over the whole binary, as the reference interpreter does: a
 * section's own bounds are checked after it was read ("section size
 * mismatch"). err is the first error; reads after it return zeros. */
struct wasm_reader {
	const uint8_t *p, *end;
	const char *err;
};

uint8_t wasm_read_u8(struct wasm_reader *r);
uint32_t wasm_read_u32(struct wasm_reader *r);
int32_t wasm_read_s32(struct wasm_reader *r);
int64_t wasm_read_s33(struct wasm_reader *r);
int64_t wasm_read_s64(struct wasm_reader *r);
void wasm_reader_fail(struct wasm_reader *r, const char *msg);

/* Wasm opcodes: single bytes, and 0xfc-prefixed ones as 0xfc00 | sub. */
enum {
	WASM_OP_UNREACHABLE = 0x00, WASM_OP_NOP = 0x01, WASM_OP_BLOCK = 0x02,
	WASM_OP_LOOP = 0x03, WASM_OP_IF = 0x04, WASM_OP_ELSE = 0x05,
	WASM_OP_END = 0x0b, WASM_OP_BR = 0x0c, WASM_OP_BR_IF = 0x0d,
	WASM_OP_BR_TABLE = 0x0e, WASM_OP_RETURN = 0x0f, WASM_OP_CALL = 0x10,
	WASM_OP_CALL_INDIRECT = 0x11, WASM_OP_DROP = 0x1a, WASM_OP_SELECT = 0x1b,
	WASM_OP_SELECT_T = 0x1c, WASM_OP_LOCAL_GET = 0x20, WASM_OP_LOCAL_SET = 0x21,
	WASM_OP_LOCAL_TEE = 0x22, WASM_OP_GLOBAL_GET = 0x23, WASM_OP_GLOBAL_SET = 0x24,
	WASM_OP_TABLE_GET = 0x25, WASM_OP_TABLE_SET = 0x26,
	WASM_OP_I32_LOAD = 0x28, WASM_OP_I64_STORE32 = 0x3e,
	WASM_OP_MEMORY_SIZE = 0x3f, WASM_OP_MEMORY_GROW = 0x40,
	WASM_OP_I32_CONST = 0x41, WASM_OP_I64_CONST = 0x42, WASM_OP_F32_CONST = 0x43,
	WASM_OP_F64_CONST = 0x44, WASM_OP_I32_EQZ = 0x45, WASM_OP_I32_EQ = 0x46,
	WASM_OP_I32_NE = 0x47, WASM_OP_I32_LT_S = 0x48, WASM_OP_I32_GE_U = 0x4f,
	WASM_OP_I32_WRAP_I64 = 0xa7, WASM_OP_I32_REINTERPRET_F32 = 0xbc,
	WASM_OP_I64_REINTERPRET_F64 = 0xbd, WASM_OP_F32_REINTERPRET_I32 = 0xbe,
	WASM_OP_F64_REINTERPRET_I64 = 0xbf, WASM_OP_I64_EXTEND32_S = 0xc4,
	WASM_OP_REF_NULL = 0xd0, WASM_OP_REF_IS_NULL = 0xd1, WASM_OP_REF_FUNC = 0xd2,
	WASM_OP_PREFIX_FC = 0xfc,
	WASM_OP_TRUNC_SAT_FIRST = 0xfc00, WASM_OP_TRUNC_SAT_LAST = 0xfc07,
	WASM_OP_MEMORY_INIT = 0xfc08, WASM_OP_DATA_DROP = 0xfc09,
	WASM_OP_MEMORY_COPY = 0xfc0a, WASM_OP_MEMORY_FILL = 0xfc0b,
	WASM_OP_TABLE_INIT = 0xfc0c, WASM_OP_ELEM_DROP = 0xfc0d,
	WASM_OP_TABLE_COPY = 0xfc0e, WASM_OP_TABLE_GROW = 0xfc0f,
	WASM_OP_TABLE_SIZE = 0xfc10, WASM_OP_TABLE_FILL = 0xfc11,
};

/* One decoded instruction. */
struct wasm_instr {
	uint32_t op;
	uint32_t a, b;		/* indices, memarg align/offset, ... */
	int64_t blocktype;	/* block/loop/if: -64 empty, <0 value type, >=0 type index */
	uint64_t imm;		/* constants (float bits) */
	const uint8_t *targets;	/* br_table: a targets then the default (LEBs) */
	uint8_t type;		/* select t, ref.null */
	uint32_t n;		/* br_table: target count; select t: type count */
};

/* Reads one instruction with its immediates. Returns 0 or -1 (r->err). */
int wasm_read_instr(struct wasm_reader *r, struct wasm_instr *in, int has_data_count);
const char *wasm_op_name(uint32_t op);

/* ---- decode.c / validate.c / compile.c ---- */

/* Decodes bytes (copied) into a module, or NULL with "malformed: ..." */
struct assay_wasm_module *wasm_decode(const uint8_t *bytes, size_t len,
				      char *err, size_t errlen);
void wasm_module_free(struct assay_wasm_module *m);
/* Module-level validation: "invalid: ..." */
int wasm_validate_module(struct assay_wasm_module *m, char *err, size_t errlen);
/* What the reference checks after the bodies: start, exports, memories. */
int wasm_validate_module_tail(struct assay_wasm_module *m, char *err, size_t errlen);
/* Validates and translates function i (a defined function's index). */
int wasm_compile_func(struct assay_wasm_module *m, uint32_t i, char *err, size_t errlen);
void wasm_code_free(struct wasm_code *c);

/* ---- the internal code ---- */

/* The operations of the internal code. Branches to a loop from inside it
 * (the back edges) have _BACK forms: they charge the fuel of the path
 * taken (one word before the offset) and land after the loop's own FUEL
 * instruction, which only entries into the loop (and br_table) execute. */
#define WASM_XOPS(X) \
	X(UNREACHABLE) X(FUEL) \
	X(BR) X(BR_Z) X(BR_NZ) X(BR_TABLE) \
	X(BR_I32_EQ) X(BR_I32_NE) X(BR_I32_LT_S) X(BR_I32_LT_U) X(BR_I32_GT_S) \
	X(BR_I32_GT_U) X(BR_I32_LE_S) X(BR_I32_LE_U) X(BR_I32_GE_S) X(BR_I32_GE_U) \
	X(BR_I32_EQ_IMM) X(BR_I32_NE_IMM) X(BR_I32_LT_S_IMM) X(BR_I32_LT_U_IMM) \
	X(BR_I32_GT_S_IMM) X(BR_I32_GT_U_IMM) X(BR_I32_LE_S_IMM) X(BR_I32_LE_U_IMM) \
	X(BR_I32_GE_S_IMM) X(BR_I32_GE_U_IMM) \
	X(BR_BACK) X(BR_Z_BACK) X(BR_NZ_BACK) \
	X(BR_I32_EQ_BACK) X(BR_I32_NE_BACK) X(BR_I32_LT_S_BACK) X(BR_I32_LT_U_BACK) \
	X(BR_I32_GT_S_BACK) X(BR_I32_GT_U_BACK) X(BR_I32_LE_S_BACK) \
	X(BR_I32_LE_U_BACK) X(BR_I32_GE_S_BACK) X(BR_I32_GE_U_BACK) \
	X(BR_I32_EQ_IMM_BACK) X(BR_I32_NE_IMM_BACK) X(BR_I32_LT_S_IMM_BACK) \
	X(BR_I32_LT_U_IMM_BACK) X(BR_I32_GT_S_IMM_BACK) X(BR_I32_GT_U_IMM_BACK) \
	X(BR_I32_LE_S_IMM_BACK) X(BR_I32_LE_U_IMM_BACK) X(BR_I32_GE_S_IMM_BACK) \
	X(BR_I32_GE_U_IMM_BACK) \
	X(RET0) X(RET1) X(RETN) \
	X(CALL) X(CALL_IMPORT) X(CALL_INDIRECT) \
	X(MOV) X(MOV_IMM32) X(MOV_IMM64) X(SELECT) \
	X(GLOBAL_GET) X(GLOBAL_SET) \
	X(TABLE_GET) X(TABLE_SET) X(TABLE_SIZE) X(TABLE_GROW) X(TABLE_FILL) \
	X(TABLE_COPY) X(TABLE_INIT) X(ELEM_DROP) \
	X(MEMORY_SIZE) X(MEMORY_GROW) X(MEMORY_FILL) X(MEMORY_COPY) \
	X(MEMORY_INIT) X(DATA_DROP) \
	X(REF_IS_NULL) X(REF_FUNC) \
	X(LOAD32) X(LOAD64) X(LOAD8_S32) X(LOAD8_U) X(LOAD16_S32) X(LOAD16_U) \
	X(LOAD8_S64) X(LOAD16_S64) X(LOAD32_S64) \
	X(STORE8) X(STORE16) X(STORE32) X(STORE64) \
	X(I32_EQZ) X(I32_CLZ) X(I32_CTZ) X(I32_POPCNT) X(I32_EXTEND8_S) X(I32_EXTEND16_S) \
	X(I32_ADD) X(I32_SUB) X(I32_MUL) X(I32_DIV_S) X(I32_DIV_U) X(I32_REM_S) \
	X(I32_REM_U) X(I32_AND) X(I32_OR) X(I32_XOR) X(I32_SHL) X(I32_SHR_S) \
	X(I32_SHR_U) X(I32_ROTL) X(I32_ROTR) \
	X(I32_EQ) X(I32_NE) X(I32_LT_S) X(I32_LT_U) X(I32_GT_S) X(I32_GT_U) \
	X(I32_LE_S) X(I32_LE_U) X(I32_GE_S) X(I32_GE_U) \
	X(I32_ADD_IMM) X(I32_SUB_IMM) X(I32_MUL_IMM) X(I32_AND_IMM) X(I32_OR_IMM) \
	X(I32_XOR_IMM) X(I32_SHL_IMM) X(I32_SHR_S_IMM) X(I32_SHR_U_IMM) \
	X(I32_EQ_IMM) X(I32_NE_IMM) X(I32_LT_S_IMM) X(I32_LT_U_IMM) X(I32_GT_S_IMM) \
	X(I32_GT_U_IMM) X(I32_LE_S_IMM) X(I32_LE_U_IMM) X(I32_GE_S_IMM) X(I32_GE_U_IMM) \
	X(I32_SHR_U_AND_IMM) X(I32_MUL_ADD) \
	X(I64_EQZ) X(I64_CLZ) X(I64_CTZ) X(I64_POPCNT) X(I64_EXTEND8_S) \
	X(I64_EXTEND16_S) X(I64_EXTEND32_S) \
	X(I64_ADD) X(I64_SUB) X(I64_MUL) X(I64_DIV_S) X(I64_DIV_U) X(I64_REM_S) \
	X(I64_REM_U) X(I64_AND) X(I64_OR) X(I64_XOR) X(I64_SHL) X(I64_SHR_S) \
	X(I64_SHR_U) X(I64_ROTL) X(I64_ROTR) \
	X(I64_EQ) X(I64_NE) X(I64_LT_S) X(I64_LT_U) X(I64_GT_S) X(I64_GT_U) \
	X(I64_LE_S) X(I64_LE_U) X(I64_GE_S) X(I64_GE_U) \
	X(I64_ADD_IMM) X(I64_SUB_IMM) X(I64_MUL_IMM) X(I64_AND_IMM) X(I64_OR_IMM) \
	X(I64_XOR_IMM) X(I64_SHL_IMM) X(I64_SHR_S_IMM) X(I64_SHR_U_IMM) \
	X(I64_EQ_IMM) X(I64_NE_IMM) X(I64_LT_S_IMM) X(I64_LT_U_IMM) X(I64_GT_S_IMM) \
	X(I64_GT_U_IMM) X(I64_LE_S_IMM) X(I64_LE_U_IMM) X(I64_GE_S_IMM) X(I64_GE_U_IMM) \
	X(F32_ABS) X(F32_NEG) X(F32_CEIL) X(F32_FLOOR) X(F32_TRUNC) X(F32_NEAREST) \
	X(F32_SQRT) X(F32_ADD) X(F32_SUB) X(F32_MUL) X(F32_DIV) X(F32_MIN) X(F32_MAX) \
	X(F32_COPYSIGN) X(F32_EQ) X(F32_NE) X(F32_LT) X(F32_GT) X(F32_LE) X(F32_GE) \
	X(F64_ABS) X(F64_NEG) X(F64_CEIL) X(F64_FLOOR) X(F64_TRUNC) X(F64_NEAREST) \
	X(F64_SQRT) X(F64_ADD) X(F64_SUB) X(F64_MUL) X(F64_DIV) X(F64_MIN) X(F64_MAX) \
	X(F64_COPYSIGN) X(F64_EQ) X(F64_NE) X(F64_LT) X(F64_GT) X(F64_LE) X(F64_GE) \
	X(I64_EXTEND_I32_U) \
	X(I32_TRUNC_F32_S) X(I32_TRUNC_F32_U) X(I32_TRUNC_F64_S) X(I32_TRUNC_F64_U) \
	X(I64_TRUNC_F32_S) X(I64_TRUNC_F32_U) X(I64_TRUNC_F64_S) X(I64_TRUNC_F64_U) \
	X(F32_CONVERT_I32_S) X(F32_CONVERT_I32_U) X(F32_CONVERT_I64_S) \
	X(F32_CONVERT_I64_U) X(F32_DEMOTE_F64) \
	X(F64_CONVERT_I32_S) X(F64_CONVERT_I32_U) X(F64_CONVERT_I64_S) \
	X(F64_CONVERT_I64_U) X(F64_PROMOTE_F32) \
	X(I32_TRUNC_SAT_F32_S) X(I32_TRUNC_SAT_F32_U) X(I32_TRUNC_SAT_F64_S) \
	X(I32_TRUNC_SAT_F64_U) X(I64_TRUNC_SAT_F32_S) X(I64_TRUNC_SAT_F32_U) \
	X(I64_TRUNC_SAT_F64_S) X(I64_TRUNC_SAT_F64_U)

#define WASM_XOP_ENUM(name) WASM_X_##name,
enum wasm_xop { WASM_XOPS(WASM_XOP_ENUM) WASM_X_COUNT };
#undef WASM_XOP_ENUM

/* A translated function. */
struct wasm_code {
	uint32_t *words;		/* the internal code */
	uint32_t n_params;
	uint32_t n_locals;		/* params included */
	uint32_t n_consts;
	uint32_t frame_slots;		/* everything the frame may use */
	uint32_t entry_fuel;		/* charged on each call */
	uint64_t *consts;
};

/* The handler offsets of interp.c, indexed by enum wasm_xop. */
const int32_t *wasm_interp_handlers(void);

/* ---- runtime objects ---- */

struct assay_wasm_func {
	const struct wasm_functype *type;
	struct assay_wasm_instance *inst;	/* NULL for a host function */
	const struct wasm_code *code;		/* wasm functions */
	assay_wasm_host_fn host;
	void *env;
	struct wasm_functype own_type;		/* host functions' type */
	struct assay_wasm_store *store;
	struct assay_wasm_func *next;		/* the store's host functions */
};

struct assay_wasm_memory {
	uint8_t *data;
	uint64_t size;			/* bytes */
	uint32_t pages;
	uint32_t max_pages;		/* what grow may reach (limits applied) */
	uint32_t decl_max;		/* the declared max, UINT32_MAX: none */
	size_t reserved;		/* bytes of address space mapped */
	int exact;			/* mapped exactly, moves as it grows */
	struct assay_wasm_store *store;
	struct assay_wasm_memory *next;
};

struct assay_wasm_table {
	uint8_t elem;
	uint32_t size;
	uint32_t max;			/* what grow may reach (limits applied) */
	uint32_t decl_max;		/* UINT32_MAX: none */
	void **elems;
	struct assay_wasm_store *store;
	struct assay_wasm_table *next;
};

struct assay_wasm_global {
	union wasm_val val;
	uint8_t type;
	uint8_t mut;
	struct assay_wasm_store *store;
	struct assay_wasm_global *next;
};

struct wasm_elem_inst {
	uint32_t n;			/* 0 once dropped */
	void **refs;
};

struct assay_wasm_instance {
	struct assay_wasm_module *module;
	struct assay_wasm_store *store;
	struct assay_wasm_func **funcs;		/* imports first */
	struct assay_wasm_func *own_funcs;	/* the defined ones */
	struct assay_wasm_table **tables;
	struct assay_wasm_memory *mem0;		/* never NULL: an empty one */
	struct assay_wasm_memory **mems;
	struct assay_wasm_global **globals;
	struct wasm_elem_inst *elems;
	uint32_t *data_len;			/* 0 once dropped */
	struct assay_wasm_instance *next;
};

/* A call frame of the interpreter's own stack (no C recursion per call). */
struct wasm_frame {
	const uint32_t *ip;			/* where to continue; NULL: leave */
	union wasm_val *fp;
	struct assay_wasm_instance *inst;
};

struct assay_wasm_store {
	struct assay_wasm_limits limits;
	int fuel_limited;
	uint64_t fuel;
	uint64_t deadline_ns;

	union wasm_val *stack;			/* the value stack (mmap) */
	size_t stack_slots;
	union wasm_val *sp;			/* first free slot */
	struct wasm_frame *frames;		/* call_depth + 1 of them */
	struct wasm_frame *frame_top;		/* first free frame */
	struct wasm_frame *frame_end;		/* of the running invocation */
	union wasm_val *stack_end;
	uint32_t nested;			/* interpreter invocations */
	/* The C stack at the outermost assay_wasm_call: host -> wasm
	 * re-entries are refused once they have used WASM_C_STACK_BUDGET
	 * below it (an unoptimised or sanitizer build has frames large enough
	 * to overflow before WASM_MAX_NESTED_CALLS). */
	const char *c_stack_top;
	struct assay_wasm_trap *trap;		/* of the running call */

	struct assay_wasm_instance *instances;
	struct assay_wasm_func *funcs;
	struct assay_wasm_memory *memories;
	struct assay_wasm_table *tables;
	struct assay_wasm_global *globals;
};

extern struct assay_wasm_memory wasm_no_memory;

/* Runs f with args in slots (results replace them). 0, or -1 with the
 * store's trap filled. */
int wasm_interp_call(struct assay_wasm_store *s, struct assay_wasm_func *f,
		     union wasm_val *args);
void wasm_trap_set(struct assay_wasm_store *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Shared by the interpreter and the API (runtime.c). */
int64_t wasm_memory_grow(struct assay_wasm_memory *m, uint32_t delta);
int64_t wasm_table_grow(struct assay_wasm_table *t, uint32_t delta, void *init);
/* table.init / memory.init on an instance: 0, or -1 having set the trap. */
int wasm_table_init(struct assay_wasm_store *s, struct assay_wasm_instance *inst,
		    uint32_t table, uint32_t seg, uint32_t d, uint32_t src, uint32_t n);
int wasm_memory_init(struct assay_wasm_store *s, struct assay_wasm_instance *inst,
		     uint32_t seg, uint32_t d, uint32_t src, uint32_t n);
/* Host call from the interpreter: args in slots, results back into them. */
int wasm_call_host(struct assay_wasm_store *s, struct assay_wasm_func *f,
		   struct assay_wasm_instance *caller, union wasm_val *slots);

#endif
