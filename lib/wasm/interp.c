/* interp: runs the internal code of compile.c.
 *
 * One C function, dispatching with computed goto ("labels as values"):
 * every instruction starts with the offset of its handler from a base
 * label, so dispatch is a load, an add and an indirect jump, replicated at
 * the end of each handler so the branch predictor sees one site per
 * handler. The hot state lives in locals: the instruction pointer, the
 * frame pointer (slots), the instance, memory 0's base and size, and the
 * fuel counter.
 *
 * Calls between wasm functions do not recurse on the C stack: a call
 * pushes a struct wasm_frame on the store's frame array (bounded by the
 * call-depth limit) and the callee's slots start at the caller's argument
 * slots on the store's value stack (bounded too). Host functions are
 * plain C calls; a host function calling back into wasm starts a nested
 * run, and those nest at most WASM_MAX_NESTED_CALLS deep.
 *
 * Fuel is charged by each call (the function's instructions outside
 * loops) and each loop iteration (the loop's instructions up to the back
 * edge), from a local counter refilled in slices so the deadline is
 * checked every slice. */
#include "wasm/wasm_internal.h"

#include <math.h>
#include <string.h>
#include <time.h>

#define WASM_FUEL_SLICE ((int64_t)1 << 22)

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- fuel and deadline ---- */

static uint64_t wasm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A slice of the store's fuel for the local counter. */
static int64_t wasm_fuel_take(struct assay_wasm_store *s)
{
	int64_t slice = s->deadline_ns ? WASM_FUEL_SLICE : INT64_MAX;

	if (s->fuel_limited) {
		if ((uint64_t)slice > s->fuel)
			slice = (int64_t)s->fuel;
		s->fuel -= (uint64_t)slice;
	}
	return slice;
}

static void wasm_fuel_give(struct assay_wasm_store *s, int64_t left)
{
	if (s->fuel_limited && left > 0)
		s->fuel += (uint64_t)left;
}

/* The local counter went negative: settle, check the deadline, refill. */
static __attribute__((noinline)) int wasm_fuel_refill(struct assay_wasm_store *s,
						      int64_t *fuel)
{
	uint64_t deficit = (uint64_t)-*fuel;

	if (s->fuel_limited) {
		if (s->fuel < deficit) {
			s->fuel = 0;
			*fuel = 0;
			wasm_trap_set(s, "fuel exhausted");
			return -1;
		}
		s->fuel -= deficit;
	}
	if (s->deadline_ns && wasm_now_ns() >= s->deadline_ns) {
		*fuel = 0;
		wasm_trap_set(s, "deadline exceeded");
		return -1;
	}
	*fuel = wasm_fuel_take(s);
	return 0;
}

/* ---- float semantics the C operators do not give ----
 *
 * libm's rounding functions may return a signalling NaN unchanged; wasm
 * wants an arithmetic (quiet) NaN, which a + a gives. */

static inline uint32_t f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

static inline float f32_from(uint32_t u)
{
	float f;

	memcpy(&f, &u, 4);
	return f;
}

static inline uint64_t f64_bits(double d)
{
	uint64_t u;

	memcpy(&u, &d, 8);
	return u;
}

static inline double f64_from(uint64_t u)
{
	double d;

	memcpy(&d, &u, 8);
	return d;
}

/* min/max: NaN if either is, and -0 < +0. */
static inline float wasm_fminf(float a, float b)
{
	if (a != a || b != b)
		return a + b;
	if (a == b)
		return f32_from(f32_bits(a) | f32_bits(b));
	return a < b ? a : b;
}

static inline float wasm_fmaxf(float a, float b)
{
	if (a != a || b != b)
		return a + b;
	if (a == b)
		return f32_from(f32_bits(a) & f32_bits(b));
	return a > b ? a : b;
}

static inline double wasm_fmin(double a, double b)
{
	if (a != a || b != b)
		return a + b;
	if (a == b)
		return f64_from(f64_bits(a) | f64_bits(b));
	return a < b ? a : b;
}

static inline double wasm_fmax(double a, double b)
{
	if (a != a || b != b)
		return a + b;
	if (a == b)
		return f64_from(f64_bits(a) & f64_bits(b));
	return a > b ? a : b;
}

static inline uint32_t rotl32(uint32_t x, uint32_t n)
{
	n &= 31;
	return (x << n) | (x >> ((32 - n) & 31));
}

static inline uint32_t rotr32(uint32_t x, uint32_t n)
{
	n &= 31;
	return (x >> n) | (x << ((32 - n) & 31));
}

static inline uint64_t rotl64(uint64_t x, uint64_t n)
{
	n &= 63;
	return (x << n) | (x >> ((64 - n) & 63));
}

static inline uint64_t rotr64(uint64_t x, uint64_t n)
{
	n &= 63;
	return (x >> n) | (x << ((64 - n) & 63));
}

/* Saturating truncations. */
static inline int32_t sat_i32(double x)
{
	if (x != x)
		return 0;
	if (x <= -2147483649.0)
		return INT32_MIN;
	if (x >= 2147483648.0)
		return INT32_MAX;
	return (int32_t)x;
}

static inline uint32_t sat_u32(double x)
{
	if (x != x || x <= -1.0)
		return 0;
	if (x >= 4294967296.0)
		return UINT32_MAX;
	return (uint32_t)x;
}

static inline int64_t sat_i64(double x)
{
	if (x != x)
		return 0;
	if (x < -9223372036854775808.0)
		return INT64_MIN;
	if (x >= 9223372036854775808.0)
		return INT64_MAX;
	return (int64_t)x;
}

static inline uint64_t sat_u64(double x)
{
	if (x != x || x <= -1.0)
		return 0;
	if (x >= 18446744073709551616.0)
		return UINT64_MAX;
	return (uint64_t)x;
}

/* ---- the interpreter ---- */

static inline uint64_t wasm_imm64(const uint32_t *w)
{
	return (uint64_t)w[0] | (uint64_t)w[1] << 32;
}

/* A callee's code, its pointer stored in two words. */
static inline const struct wasm_code *wasm_code_at(const uint32_t *w)
{
	return (const struct wasm_code *)(uintptr_t)wasm_imm64(w);
}

#define WASM_XOP_LABEL(name) [WASM_X_##name] = &&L_##name - &&L_UNREACHABLE,

static int wasm_exec(struct assay_wasm_store *s, struct assay_wasm_func *entry,
		     union wasm_val *fp0, const int32_t **table)
{
	static const int32_t handlers[WASM_X_COUNT] = { WASM_XOPS(WASM_XOP_LABEL) };
	const uint32_t *ip, *next;
	union wasm_val *fp, *nfp;
	struct assay_wasm_instance *inst;
	struct assay_wasm_func *f;
	struct wasm_frame *frame, *base, *saved_frame_end;
	const struct wasm_code *cd;
	uint8_t *mem;
	uint64_t memsize;
	int64_t fuel;
	const char *msg;
	uint32_t elem_idx = 0;

	if (table) {
		*table = handlers;
		return 0;
	}

#define NEXT() goto *(&&L_UNREACHABLE + (int32_t)ip[0])
#define LOAD_MEM() do { mem = inst->mem0->data; memsize = inst->mem0->size; } while (0)
/* Zero the locals, copy the constants in: plain loops, the counts are
 * small and a library call per wasm call costs more. */
#define ENTER(c) do {                                                        \
		uint32_t i_, n_ = (c)->n_locals;                             \
		const uint64_t *k_ = (c)->consts;                            \
		for (i_ = (c)->n_params; i_ < n_; i_++)                      \
			fp[i_].u64 = 0;                                      \
		for (i_ = 0; i_ < (c)->n_consts; i_++)                       \
			fp[n_ + i_].u64 = k_[i_];                            \
	} while (0)
#define TRAP(m) do { msg = (m); goto trap; } while (0)
/* A function's fuel, charged by the call (ip already at its code). */
#define CHARGE_ENTRY(c) do {                                                 \
		fuel -= (int64_t)(c)->entry_fuel;                            \
		if (UNLIKELY(fuel < 0))                                      \
			goto refuel;                                         \
		NEXT();                                                      \
	} while (0)

	base = frame = s->frame_top;
	/* call_depth wasm frames, plus one entry frame per nested run. The
	 * limits live in the store, not in registers: only calls need them,
	 * and the hot handlers need the registers. */
	saved_frame_end = s->frame_end;
	s->frame_end = s->frames + s->limits.call_depth + s->nested;
	cd = entry->code;
	inst = entry->inst;
	fp = fp0;
	fuel = wasm_fuel_take(s);
	if (frame >= s->frame_end || fp + cd->frame_slots > s->stack_end)
		TRAP("call stack exhausted");
	frame->ip = NULL;
	frame->fp = NULL;
	frame->inst = NULL;
	frame++;
	ENTER(cd);
	ip = cd->words;
	LOAD_MEM();
	CHARGE_ENTRY(cd);

	/* ---- control ---- */
L_UNREACHABLE:
	TRAP("unreachable");
L_FUEL:
	fuel -= (int64_t)ip[1];
	if (UNLIKELY(fuel < 0)) {
		if (wasm_fuel_refill(s, &fuel) < 0)
			goto trapped;
	}
	ip += 2;
	NEXT();
L_BR:
	ip += 1 + (int32_t)ip[1];
	NEXT();
L_BR_Z:
	if (!fp[ip[1]].u32) {
		ip += 2 + (int32_t)ip[2];
		NEXT();
	}
	ip += 3;
	NEXT();
L_BR_NZ:
	if (fp[ip[1]].u32) {
		ip += 2 + (int32_t)ip[2];
		NEXT();
	}
	ip += 3;
	NEXT();
/* A back edge: charge ip[k] fuel, jump by the offset in ip[k + 1]. */
#define BACK_EDGE(k) do {                                                    \
		fuel -= (int64_t)ip[k];                                      \
		ip += (k) + 1 + (int32_t)ip[(k) + 1];                        \
		if (UNLIKELY(fuel < 0))                                      \
			goto refuel;                                         \
		NEXT();                                                      \
	} while (0)
#define BRCMP(name, f, op)                                                   \
L_BR_I32_##name:                                                             \
	if (fp[ip[1]].f op fp[ip[2]].f) {                                    \
		ip += 3 + (int32_t)ip[3];                                    \
		NEXT();                                                      \
	}                                                                    \
	ip += 4;                                                             \
	NEXT();                                                              \
L_BR_I32_##name##_IMM:                                                       \
	if (fp[ip[1]].f op (__typeof__(fp[0].f))ip[2]) {                     \
		ip += 3 + (int32_t)ip[3];                                    \
		NEXT();                                                      \
	}                                                                    \
	ip += 4;                                                             \
	NEXT();                                                              \
L_BR_I32_##name##_BACK:                                                      \
	if (fp[ip[1]].f op fp[ip[2]].f)                                      \
		BACK_EDGE(3);                                                \
	ip += 5;                                                             \
	NEXT();                                                              \
L_BR_I32_##name##_IMM_BACK:                                                  \
	if (fp[ip[1]].f op (__typeof__(fp[0].f))ip[2])                       \
		BACK_EDGE(3);                                                \
	ip += 5;                                                             \
	NEXT();
	BRCMP(EQ, u32, ==)
	BRCMP(NE, u32, !=)
	BRCMP(LT_S, i32, <)
	BRCMP(LT_U, u32, <)
	BRCMP(GT_S, i32, >)
	BRCMP(GT_U, u32, >)
	BRCMP(LE_S, i32, <=)
	BRCMP(LE_U, u32, <=)
	BRCMP(GE_S, i32, >=)
	BRCMP(GE_U, u32, >=)
L_BR_BACK:
	BACK_EDGE(1);
L_BR_Z_BACK:
	if (!fp[ip[1]].u32)
		BACK_EDGE(2);
	ip += 4;
	NEXT();
L_BR_NZ_BACK:
	if (fp[ip[1]].u32)
		BACK_EDGE(2);
	ip += 4;
	NEXT();
refuel:
	if (wasm_fuel_refill(s, &fuel) < 0)
		goto trapped;
	NEXT();
L_BR_TABLE: {
		uint32_t i = fp[ip[1]].u32, n = ip[2];

		if (i > n)
			i = n;
		/* signed: a target may lie behind (a loop) */
		ip += 3 + (ptrdiff_t)i + (int32_t)ip[3 + i];
		NEXT();
	}
L_RET0:
	goto ret;
L_RET1:
	fp[0] = fp[ip[1]];
	goto ret;
L_RETN: {
		union wasm_val tmp[WASM_MAX_FUNC_VALUES];
		uint32_t i, n = ip[1];

		for (i = 0; i < n; i++)
			tmp[i] = fp[ip[2 + i]];
		memcpy(fp, tmp, n * sizeof(*fp));
		goto ret;
	}
ret:
	frame--;
	if (UNLIKELY(!frame->ip))
		goto done;
	ip = frame->ip;
	fp = frame->fp;
	inst = frame->inst;
	LOAD_MEM();
	NEXT();

	/* ---- calls ---- */
L_CALL:
	cd = wasm_code_at(ip + 1);
	nfp = fp + ip[3];
	if (UNLIKELY(frame >= s->frame_end || nfp + cd->frame_slots > s->stack_end))
		TRAP("call stack exhausted");
	frame->ip = ip + 4;
	frame->fp = fp;
	frame->inst = inst;
	frame++;
	fp = nfp;
	ENTER(cd);
	ip = cd->words;
	CHARGE_ENTRY(cd);
L_CALL_IMPORT:
	f = inst->funcs[ip[1]];
	nfp = fp + ip[2];
	next = ip + 3;
	goto call_func;
L_CALL_INDIRECT: {
		struct assay_wasm_table *t = inst->tables[ip[1]];
		const struct wasm_functype *want =
			(const struct wasm_functype *)(uintptr_t)wasm_imm64(ip + 2);
		uint32_t i = fp[ip[4]].u32;

		if (UNLIKELY(i >= t->size))
			TRAP("undefined element");
		f = t->elems[i];
		if (UNLIKELY(!f)) {
			elem_idx = i;
			goto trap_uninit;
		}
		if (UNLIKELY(f->type != want && !wasm_functype_equal(f->type, want)))
			TRAP("indirect call type mismatch");
		nfp = fp + ip[5];
		next = ip + 6;
		goto call_func;
	}
call_func:
	if (f->code) {
		cd = f->code;
		if (UNLIKELY(frame >= s->frame_end || nfp + cd->frame_slots > s->stack_end))
			TRAP("call stack exhausted");
		frame->ip = next;
		frame->fp = fp;
		frame->inst = inst;
		frame++;
		fp = nfp;
		inst = f->inst;
		LOAD_MEM();
		ENTER(cd);
		ip = cd->words;
		CHARGE_ENTRY(cd);
	} else {
		uint32_t np = f->type->n_params, nr = f->type->n_results;
		int r;

		s->sp = nfp + (np > nr ? np : nr);
		s->frame_top = frame;
		wasm_fuel_give(s, fuel);
		r = wasm_call_host(s, f, inst, nfp);
		fuel = wasm_fuel_take(s);
		LOAD_MEM();
		if (r < 0)
			goto trapped;
		ip = next;
		NEXT();
	}

	/* ---- variables and parametric ---- */
L_MOV:
	fp[ip[1]] = fp[ip[2]];
	ip += 3;
	NEXT();
L_MOV_IMM32:
	fp[ip[1]].u64 = ip[2];
	ip += 3;
	NEXT();
L_MOV_IMM64:
	fp[ip[1]].u64 = wasm_imm64(ip + 2);
	ip += 4;
	NEXT();
L_SELECT:
	fp[ip[1]] = fp[ip[4]].u32 ? fp[ip[2]] : fp[ip[3]];
	ip += 5;
	NEXT();
L_GLOBAL_GET:
	fp[ip[1]] = inst->globals[ip[2]]->val;
	ip += 3;
	NEXT();
L_GLOBAL_SET:
	inst->globals[ip[1]]->val = fp[ip[2]];
	ip += 3;
	NEXT();

	/* ---- tables ---- */
L_TABLE_GET: {
		struct assay_wasm_table *t = inst->tables[ip[2]];
		uint32_t i = fp[ip[3]].u32;

		if (UNLIKELY(i >= t->size))
			TRAP("out of bounds table access");
		fp[ip[1]].ref = t->elems[i];
		ip += 4;
		NEXT();
	}
L_TABLE_SET: {
		struct assay_wasm_table *t = inst->tables[ip[1]];
		uint32_t i = fp[ip[2]].u32;

		if (UNLIKELY(i >= t->size))
			TRAP("out of bounds table access");
		t->elems[i] = fp[ip[3]].ref;
		ip += 4;
		NEXT();
	}
L_TABLE_SIZE:
	fp[ip[1]].u32 = inst->tables[ip[2]]->size;
	ip += 3;
	NEXT();
L_TABLE_GROW:
	fp[ip[1]].i32 = (int32_t)wasm_table_grow(inst->tables[ip[2]], fp[ip[4]].u32,
						 fp[ip[3]].ref);
	ip += 5;
	NEXT();
L_TABLE_FILL: {
		struct assay_wasm_table *t = inst->tables[ip[1]];
		uint64_t i = fp[ip[2]].u32, n = fp[ip[4]].u32, k;
		void *v = fp[ip[3]].ref;

		if (UNLIKELY(i + n > t->size))
			TRAP("out of bounds table access");
		for (k = 0; k < n; k++)
			t->elems[i + k] = v;
		ip += 5;
		NEXT();
	}
L_TABLE_COPY: {
		struct assay_wasm_table *dt = inst->tables[ip[1]], *st = inst->tables[ip[2]];
		uint64_t d = fp[ip[3]].u32, sr = fp[ip[4]].u32, n = fp[ip[5]].u32;

		if (UNLIKELY(sr + n > st->size || d + n > dt->size))
			TRAP("out of bounds table access");
		if (n)
			memmove(dt->elems + d, st->elems + sr, n * sizeof(void *));
		ip += 6;
		NEXT();
	}
L_TABLE_INIT:
	if (wasm_table_init(s, inst, ip[1], ip[2], fp[ip[3]].u32, fp[ip[4]].u32,
			    fp[ip[5]].u32) < 0)
		goto trapped;
	ip += 6;
	NEXT();
L_ELEM_DROP:
	inst->elems[ip[1]].n = 0;
	ip += 2;
	NEXT();

	/* ---- memory ---- */
L_MEMORY_SIZE:
	fp[ip[1]].u32 = (uint32_t)(memsize / WASM_PAGE);
	ip += 2;
	NEXT();
L_MEMORY_GROW:
	fp[ip[1]].i32 = (int32_t)wasm_memory_grow(inst->mem0, fp[ip[2]].u32);
	LOAD_MEM();
	ip += 3;
	NEXT();
L_MEMORY_FILL: {
		uint64_t d = fp[ip[1]].u32, n = fp[ip[3]].u32;

		if (UNLIKELY(d + n > memsize))
			TRAP("out of bounds memory access");
		if (n)
			memset(mem + d, (int)(fp[ip[2]].u32 & 0xff), n);
		ip += 4;
		NEXT();
	}
L_MEMORY_COPY: {
		uint64_t d = fp[ip[1]].u32, sr = fp[ip[2]].u32, n = fp[ip[3]].u32;

		if (UNLIKELY(sr + n > memsize || d + n > memsize))
			TRAP("out of bounds memory access");
		if (n)
			memmove(mem + d, mem + sr, n);
		ip += 4;
		NEXT();
	}
L_MEMORY_INIT:
	if (wasm_memory_init(s, inst, ip[1], fp[ip[2]].u32, fp[ip[3]].u32,
			     fp[ip[4]].u32) < 0)
		goto trapped;
	ip += 5;
	NEXT();
L_DATA_DROP:
	inst->data_len[ip[1]] = 0;
	ip += 2;
	NEXT();

	/* ---- references ---- */
L_REF_IS_NULL:
	fp[ip[1]].u32 = fp[ip[2]].ref == NULL;
	ip += 3;
	NEXT();
L_REF_FUNC:
	fp[ip[1]].ref = inst->funcs[ip[2]];
	ip += 3;
	NEXT();

	/* ---- loads and stores: dst/addr, addr/value, offset ---- */
#define LOAD(name, ctype, field, cast)                                       \
L_##name: {                                                                  \
		uint64_t ea = (uint64_t)fp[ip[2]].u32 + ip[3];               \
		ctype v;                                                     \
		if (UNLIKELY(ea + sizeof(v) > memsize))                      \
			TRAP("out of bounds memory access");                 \
		memcpy(&v, mem + ea, sizeof(v));                             \
		fp[ip[1]].field = cast v;                                    \
		ip += 4;                                                     \
		NEXT();                                                      \
	}
	LOAD(LOAD32, uint32_t, u64, (uint64_t))
	LOAD(LOAD64, uint64_t, u64, (uint64_t))
	LOAD(LOAD8_S32, int8_t, i32, (int32_t))
	LOAD(LOAD8_U, uint8_t, u64, (uint64_t))
	LOAD(LOAD16_S32, int16_t, i32, (int32_t))
	LOAD(LOAD16_U, uint16_t, u64, (uint64_t))
	LOAD(LOAD8_S64, int8_t, i64, (int64_t))
	LOAD(LOAD16_S64, int16_t, i64, (int64_t))
	LOAD(LOAD32_S64, int32_t, i64, (int64_t))
#define STORE(name, n)                                                       \
L_##name: {                                                                  \
		uint64_t ea = (uint64_t)fp[ip[1]].u32 + ip[3];               \
		if (UNLIKELY(ea + (n) > memsize))                            \
			TRAP("out of bounds memory access");                 \
		memcpy(mem + ea, &fp[ip[2]], (n));                           \
		ip += 4;                                                     \
		NEXT();                                                      \
	}
	STORE(STORE8, 1)
	STORE(STORE16, 2)
	STORE(STORE32, 4)
	STORE(STORE64, 8)

	/* ---- numeric: dst, a[, b] ---- */
#define UN(name, out, in, expr)                                              \
L_##name: {                                                                  \
		__typeof__(fp[0].in) a = fp[ip[2]].in;                       \
		fp[ip[1]].out = (expr);                                      \
		ip += 3;                                                     \
		NEXT();                                                      \
	}
#define BIN(name, out, in, expr)                                             \
L_##name: {                                                                  \
		__typeof__(fp[0].in) a = fp[ip[2]].in, b = fp[ip[3]].in;     \
		fp[ip[1]].out = (expr);                                      \
		ip += 4;                                                     \
		NEXT();                                                      \
	}
#define BIN_IMM32(name, out, in, expr)                                       \
L_##name: {                                                                  \
		__typeof__(fp[0].in) a = fp[ip[2]].in;                       \
		__typeof__(fp[0].in) b = (__typeof__(fp[0].in))ip[3];        \
		fp[ip[1]].out = (expr);                                      \
		ip += 4;                                                     \
		NEXT();                                                      \
	}
#define BIN_IMM64(name, out, in, expr)                                       \
L_##name: {                                                                  \
		__typeof__(fp[0].in) a = fp[ip[2]].in;                       \
		__typeof__(fp[0].in) b = (__typeof__(fp[0].in))wasm_imm64(ip + 3); \
		fp[ip[1]].out = (expr);                                      \
		ip += 5;                                                     \
		NEXT();                                                      \
	}

	UN(I32_EQZ, u32, u32, a == 0)
	UN(I32_CLZ, u32, u32, a ? (uint32_t)__builtin_clz(a) : 32)
	UN(I32_CTZ, u32, u32, a ? (uint32_t)__builtin_ctz(a) : 32)
	UN(I32_POPCNT, u32, u32, (uint32_t)__builtin_popcount(a))
	UN(I32_EXTEND8_S, i32, u32, (int32_t)(int8_t)a)
	UN(I32_EXTEND16_S, i32, u32, (int32_t)(int16_t)a)
	BIN(I32_ADD, u32, u32, a + b)
	BIN(I32_SUB, u32, u32, a - b)
	BIN(I32_MUL, u32, u32, a * b)
L_I32_DIV_S: {
		int32_t a = fp[ip[2]].i32, b = fp[ip[3]].i32;

		if (UNLIKELY(b == 0))
			TRAP("integer divide by zero");
		if (UNLIKELY(a == INT32_MIN && b == -1))
			TRAP("integer overflow");
		fp[ip[1]].i32 = a / b;
		ip += 4;
		NEXT();
	}
L_I32_DIV_U: {
		uint32_t a = fp[ip[2]].u32, b = fp[ip[3]].u32;

		if (UNLIKELY(b == 0))
			TRAP("integer divide by zero");
		fp[ip[1]].u32 = a / b;
		ip += 4;
		NEXT();
	}
L_I32_REM_S: {
		int32_t a = fp[ip[2]].i32, b = fp[ip[3]].i32;

		if (UNLIKELY(b == 0))
			TRAP("integer divide by zero");
		fp[ip[1]].i32 = b == -1 ? 0 : a % b;
		ip += 4;
		NEXT();
	}
L_I32_REM_U: {
		uint32_t a = fp[ip[2]].u32, b = fp[ip[3]].u32;

		if (UNLIKELY(b == 0))
			TRAP("integer divide by zero");
		fp[ip[1]].u32 = a % b;
		ip += 4;
		NEXT();
	}
	BIN(I32_AND, u32, u32, a & b)
	BIN(I32_OR, u32, u32, a | b)
	BIN(I32_XOR, u32, u32, a ^ b)
	BIN(I32_SHL, u32, u32, a << (b & 31))
	BIN(I32_SHR_S, i32, i32, a >> (b & 31))
	BIN(I32_SHR_U, u32, u32, a >> (b & 31))
	BIN(I32_ROTL, u32, u32, rotl32(a, b))
	BIN(I32_ROTR, u32, u32, rotr32(a, b))
	BIN(I32_EQ, u32, u32, a == b)
	BIN(I32_NE, u32, u32, a != b)
	BIN(I32_LT_S, u32, i32, a < b)
	BIN(I32_LT_U, u32, u32, a < b)
	BIN(I32_GT_S, u32, i32, a > b)
	BIN(I32_GT_U, u32, u32, a > b)
	BIN(I32_LE_S, u32, i32, a <= b)
	BIN(I32_LE_U, u32, u32, a <= b)
	BIN(I32_GE_S, u32, i32, a >= b)
	BIN(I32_GE_U, u32, u32, a >= b)
	BIN_IMM32(I32_ADD_IMM, u32, u32, a + b)
	BIN_IMM32(I32_SUB_IMM, u32, u32, a - b)
	BIN_IMM32(I32_MUL_IMM, u32, u32, a * b)
	BIN_IMM32(I32_AND_IMM, u32, u32, a & b)
	BIN_IMM32(I32_OR_IMM, u32, u32, a | b)
	BIN_IMM32(I32_XOR_IMM, u32, u32, a ^ b)
	BIN_IMM32(I32_SHL_IMM, u32, u32, a << (b & 31))
	BIN_IMM32(I32_SHR_S_IMM, i32, i32, a >> (b & 31))
	BIN_IMM32(I32_SHR_U_IMM, u32, u32, a >> (b & 31))
	BIN_IMM32(I32_EQ_IMM, u32, u32, a == b)
	BIN_IMM32(I32_NE_IMM, u32, u32, a != b)
	BIN_IMM32(I32_LT_S_IMM, u32, i32, a < b)
	BIN_IMM32(I32_LT_U_IMM, u32, u32, a < b)
	BIN_IMM32(I32_GT_S_IMM, u32, i32, a > b)
	BIN_IMM32(I32_GT_U_IMM, u32, u32, a > b)
	BIN_IMM32(I32_LE_S_IMM, u32, i32, a <= b)
	BIN_IMM32(I32_LE_U_IMM, u32, u32, a <= b)
	BIN_IMM32(I32_GE_S_IMM, u32, i32, a >= b)
	BIN_IMM32(I32_GE_U_IMM, u32, u32, a >= b)
	/* fused: (a >> imm) & imm2, and a * b + c */
L_I32_SHR_U_AND_IMM:
	fp[ip[1]].u32 = (fp[ip[2]].u32 >> (ip[3] & 31)) & ip[4];
	ip += 5;
	NEXT();
L_I32_MUL_ADD:
	fp[ip[1]].u32 = fp[ip[2]].u32 * fp[ip[3]].u32 + fp[ip[4]].u32;
	ip += 5;
	NEXT();

	UN(I64_EQZ, u32, u64, a == 0)
	UN(I64_CLZ, u64, u64, a ? (uint64_t)__builtin_clzll(a) : 64)
	UN(I64_CTZ, u64, u64, a ? (uint64_t)__builtin_ctzll(a) : 64)
	UN(I64_POPCNT, u64, u64, (uint64_t)__builtin_popcountll(a))
	UN(I64_EXTEND8_S, i64, u64, (int64_t)(int8_t)a)
	UN(I64_EXTEND16_S, i64, u64, (int64_t)(int16_t)a)
	UN(I64_EXTEND32_S, i64, u64, (int64_t)(int32_t)a)
	BIN(I64_ADD, u64, u64, a + b)
	BIN(I64_SUB, u64, u64, a - b)
	BIN(I64_MUL, u64, u64, a * b)
L_I64_DIV_S: {
		int64_t a = fp[ip[2]].i64, b = fp[ip[3]].i64;

		if (UNLIKELY(b == 0))
			TRAP("integer divide by zero");
		if (UNLIKELY(a == INT64_MIN && b == -1))
			TRAP("integer overflow");
		fp[ip[1]].i64 = a / b;
		ip += 4;
		NEXT();
	}
L_I64_DIV_U: {
		uint64_t a = fp[ip[2]].u64, b = fp[ip[3]].u64;

		if (UNLIKELY(b == 0))
			TRAP("integer divide by zero");
		fp[ip[1]].u64 = a / b;
		ip += 4;
		NEXT();
	}
L_I64_REM_S: {
		int64_t a = fp[ip[2]].i64, b = fp[ip[3]].i64;

		if (UNLIKELY(b == 0))
			TRAP("integer divide by zero");
		fp[ip[1]].i64 = b == -1 ? 0 : a % b;
		ip += 4;
		NEXT();
	}
L_I64_REM_U: {
		uint64_t a = fp[ip[2]].u64, b = fp[ip[3]].u64;

		if (UNLIKELY(b == 0))
			TRAP("integer divide by zero");
		fp[ip[1]].u64 = a % b;
		ip += 4;
		NEXT();
	}
	BIN(I64_AND, u64, u64, a & b)
	BIN(I64_OR, u64, u64, a | b)
	BIN(I64_XOR, u64, u64, a ^ b)
	BIN(I64_SHL, u64, u64, a << (b & 63))
	BIN(I64_SHR_S, i64, i64, a >> (b & 63))
	BIN(I64_SHR_U, u64, u64, a >> (b & 63))
	BIN(I64_ROTL, u64, u64, rotl64(a, b))
	BIN(I64_ROTR, u64, u64, rotr64(a, b))
	BIN(I64_EQ, u32, u64, a == b)
	BIN(I64_NE, u32, u64, a != b)
	BIN(I64_LT_S, u32, i64, a < b)
	BIN(I64_LT_U, u32, u64, a < b)
	BIN(I64_GT_S, u32, i64, a > b)
	BIN(I64_GT_U, u32, u64, a > b)
	BIN(I64_LE_S, u32, i64, a <= b)
	BIN(I64_LE_U, u32, u64, a <= b)
	BIN(I64_GE_S, u32, i64, a >= b)
	BIN(I64_GE_U, u32, u64, a >= b)
	BIN_IMM64(I64_ADD_IMM, u64, u64, a + b)
	BIN_IMM64(I64_SUB_IMM, u64, u64, a - b)
	BIN_IMM64(I64_MUL_IMM, u64, u64, a * b)
	BIN_IMM64(I64_AND_IMM, u64, u64, a & b)
	BIN_IMM64(I64_OR_IMM, u64, u64, a | b)
	BIN_IMM64(I64_XOR_IMM, u64, u64, a ^ b)
	BIN_IMM64(I64_SHL_IMM, u64, u64, a << (b & 63))
	BIN_IMM64(I64_SHR_S_IMM, i64, i64, a >> (b & 63))
	BIN_IMM64(I64_SHR_U_IMM, u64, u64, a >> (b & 63))
	BIN_IMM64(I64_EQ_IMM, u32, u64, a == b)
	BIN_IMM64(I64_NE_IMM, u32, u64, a != b)
	BIN_IMM64(I64_LT_S_IMM, u32, i64, a < b)
	BIN_IMM64(I64_LT_U_IMM, u32, u64, a < b)
	BIN_IMM64(I64_GT_S_IMM, u32, i64, a > b)
	BIN_IMM64(I64_GT_U_IMM, u32, u64, a > b)
	BIN_IMM64(I64_LE_S_IMM, u32, i64, a <= b)
	BIN_IMM64(I64_LE_U_IMM, u32, u64, a <= b)
	BIN_IMM64(I64_GE_S_IMM, u32, i64, a >= b)
	BIN_IMM64(I64_GE_U_IMM, u32, u64, a >= b)

	UN(F32_ABS, u32, u32, a & 0x7fffffffu)
	UN(F32_NEG, u32, u32, a ^ 0x80000000u)
	UN(F32_CEIL, f32, f32, a != a ? a + a : ceilf(a))
	UN(F32_FLOOR, f32, f32, a != a ? a + a : floorf(a))
	UN(F32_TRUNC, f32, f32, a != a ? a + a : truncf(a))
	UN(F32_NEAREST, f32, f32, a != a ? a + a : nearbyintf(a))
	UN(F32_SQRT, f32, f32, sqrtf(a))
	BIN(F32_ADD, f32, f32, a + b)
	BIN(F32_SUB, f32, f32, a - b)
	BIN(F32_MUL, f32, f32, a * b)
	BIN(F32_DIV, f32, f32, a / b)
	BIN(F32_MIN, f32, f32, wasm_fminf(a, b))
	BIN(F32_MAX, f32, f32, wasm_fmaxf(a, b))
	BIN(F32_COPYSIGN, u32, u32, (a & 0x7fffffffu) | (b & 0x80000000u))
	BIN(F32_EQ, u32, f32, a == b)
	BIN(F32_NE, u32, f32, a != b)
	BIN(F32_LT, u32, f32, a < b)
	BIN(F32_GT, u32, f32, a > b)
	BIN(F32_LE, u32, f32, a <= b)
	BIN(F32_GE, u32, f32, a >= b)
	UN(F64_ABS, u64, u64, a & 0x7fffffffffffffffull)
	UN(F64_NEG, u64, u64, a ^ 0x8000000000000000ull)
	UN(F64_CEIL, f64, f64, a != a ? a + a : ceil(a))
	UN(F64_FLOOR, f64, f64, a != a ? a + a : floor(a))
	UN(F64_TRUNC, f64, f64, a != a ? a + a : trunc(a))
	UN(F64_NEAREST, f64, f64, a != a ? a + a : nearbyint(a))
	UN(F64_SQRT, f64, f64, sqrt(a))
	BIN(F64_ADD, f64, f64, a + b)
	BIN(F64_SUB, f64, f64, a - b)
	BIN(F64_MUL, f64, f64, a * b)
	BIN(F64_DIV, f64, f64, a / b)
	BIN(F64_MIN, f64, f64, wasm_fmin(a, b))
	BIN(F64_MAX, f64, f64, wasm_fmax(a, b))
	BIN(F64_COPYSIGN, u64, u64,
	    (a & 0x7fffffffffffffffull) | (b & 0x8000000000000000ull))
	BIN(F64_EQ, u32, f64, a == b)
	BIN(F64_NE, u32, f64, a != b)
	BIN(F64_LT, u32, f64, a < b)
	BIN(F64_GT, u32, f64, a > b)
	BIN(F64_LE, u32, f64, a <= b)
	BIN(F64_GE, u32, f64, a >= b)

	/* ---- conversions ---- */
	UN(I64_EXTEND_I32_U, u64, u32, (uint64_t)a)
#define TRUNC(name, in, out, ctype, lo, hi)                                  \
L_##name: {                                                                  \
		__typeof__(fp[0].in) a = fp[ip[2]].in;                       \
		if (UNLIKELY(a != a))                                        \
			TRAP("invalid conversion to integer");               \
		if (UNLIKELY(!(a > (lo) && a < (hi))))                       \
			TRAP("integer overflow");                            \
		fp[ip[1]].out = (ctype)a;                                    \
		ip += 3;                                                     \
		NEXT();                                                      \
	}
	TRUNC(I32_TRUNC_F32_S, f32, i32, int32_t, -2147483904.0f, 2147483648.0f)
	TRUNC(I32_TRUNC_F32_U, f32, u32, uint32_t, -1.0f, 4294967296.0f)
	TRUNC(I32_TRUNC_F64_S, f64, i32, int32_t, -2147483649.0, 2147483648.0)
	TRUNC(I32_TRUNC_F64_U, f64, u32, uint32_t, -1.0, 4294967296.0)
	TRUNC(I64_TRUNC_F32_S, f32, i64, int64_t, -9223373136366403584.0f,
	      9223372036854775808.0f)
	TRUNC(I64_TRUNC_F32_U, f32, u64, uint64_t, -1.0f, 18446744073709551616.0f)
	TRUNC(I64_TRUNC_F64_S, f64, i64, int64_t, -9223372036854777856.0,
	      9223372036854775808.0)
	TRUNC(I64_TRUNC_F64_U, f64, u64, uint64_t, -1.0, 18446744073709551616.0)
	UN(F32_CONVERT_I32_S, f32, i32, (float)a)
	UN(F32_CONVERT_I32_U, f32, u32, (float)a)
	UN(F32_CONVERT_I64_S, f32, i64, (float)a)
	UN(F32_CONVERT_I64_U, f32, u64, (float)a)
	UN(F32_DEMOTE_F64, f32, f64, (float)a)
	UN(F64_CONVERT_I32_S, f64, i32, (double)a)
	UN(F64_CONVERT_I32_U, f64, u32, (double)a)
	UN(F64_CONVERT_I64_S, f64, i64, (double)a)
	UN(F64_CONVERT_I64_U, f64, u64, (double)a)
	UN(F64_PROMOTE_F32, f64, f32, (double)a)
	UN(I32_TRUNC_SAT_F32_S, i32, f32, sat_i32(a))
	UN(I32_TRUNC_SAT_F32_U, u32, f32, sat_u32(a))
	UN(I32_TRUNC_SAT_F64_S, i32, f64, sat_i32(a))
	UN(I32_TRUNC_SAT_F64_U, u32, f64, sat_u32(a))
	UN(I64_TRUNC_SAT_F32_S, i64, f32, sat_i64(a))
	UN(I64_TRUNC_SAT_F32_U, u64, f32, sat_u64(a))
	UN(I64_TRUNC_SAT_F64_S, i64, f64, sat_i64(a))
	UN(I64_TRUNC_SAT_F64_U, u64, f64, sat_u64(a))

trap_uninit:
	wasm_trap_set(s, "uninitialized element %u", elem_idx);
	goto trapped;
trap:
	wasm_trap_set(s, "%s", msg);
trapped:
	s->frame_top = base;
	s->frame_end = saved_frame_end;
	wasm_fuel_give(s, fuel);
	return -1;
done:
	s->frame_top = base;
	s->frame_end = saved_frame_end;
	wasm_fuel_give(s, fuel);
	return 0;
}

int wasm_interp_call(struct assay_wasm_store *s, struct assay_wasm_func *f,
		     union wasm_val *args)
{
	if (!f->code)
		return wasm_call_host(s, f, NULL, args);
	return wasm_exec(s, f, args, NULL);
}

const int32_t *wasm_interp_handlers(void)
{
	const int32_t *t = NULL;

	wasm_exec(NULL, NULL, NULL, &t);
	return t;
}
