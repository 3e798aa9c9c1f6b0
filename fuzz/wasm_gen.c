/* The structured module generator (see wasm_gen.h).
 *
 * Bytes to choices: each decision reads one input byte (four for a random
 * constant); past the end every read is 0 and choice 0 is always the
 * smallest one (a constant, no statement), so generation ends. The
 * module's shape comes first, then each function reads its own share of
 * the remaining bytes, so a mutation mostly changes one function.
 *
 * Validity by construction: code is generated as trees of expressions of
 * a wanted type and of statements that leave the stack as they found it;
 * where an operation gives several values and one is wanted, they are
 * folded into one. Branches carry their label's types; after br,
 * br_table, return and unreachable the generator sometimes adds
 * instructions that only validate against the stack-polymorphic rule.
 *
 * Termination and cost:
 * - calls go only to functions of a higher index, so there is no
 *   recursion; functions are generated from the last to the first and
 *   each knows the cost of its callees;
 * - call_indirect appears only in functions below the "tier" index, and
 *   the table only ever holds functions at or above it (every segment,
 *   table.set, table.grow and table.fill uses those or null);
 * - every loop has its own counter local, set just before the loop and
 *   checked at its head: once spent, the loop leaves through a block
 *   wrapped around it with fresh results, whatever branch re-entered it;
 * - the cost of a function (instructions times the product of the
 *   enclosing loops' counts, callees included) stays near GEN_BUDGET.
 *
 * Determinism across engines:
 * - the spec leaves the payload and sign of a NaN produced by arithmetic
 *   open, so a float whose bits become observable (reinterpret, store,
 *   the sign operand of copysign) is canonicalised first: x is replaced
 *   by select(x, nan, x == x), with the local and the constant that
 *   needs. Floats whose bits the spec fixes (constants, loads,
 *   reinterpretations of integers, conversions from integers, abs and
 *   neg of those) are left alone, so NaN payloads carried bit-exactly
 *   through memory are still compared;
 * - memory.grow asks either for pages within a declared maximum (at
 *   most 6 pages in all) or for more than any engine grants (over 65536
 *   pages); table.grow for at most 3 elements at a time when the table
 *   has no maximum. Growth beyond that would depend on each engine's own
 *   limits, not on the spec. */
#include "fuzz/wasm_gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	T_I32 = 0x7f,
	T_I64 = 0x7e,
	T_F32 = 0x7d,
	T_F64 = 0x7c,
	T_FUNCREF = 0x70,
};

static const uint8_t num_types[4] = { T_I32, T_I64, T_F32, T_F64 };

#define GEN_MAX_VALS 3		/* params or results of a generated type */
#define GEN_MAX_TYPES 48
#define GEN_MAX_FUNCS 8
#define GEN_MAX_LOCALS 32
#define GEN_USER_LOCALS 24	/* the rest is kept for loop counters */
#define GEN_MAX_LABELS 10
#define GEN_MAX_DEPTH 7		/* nesting of expressions and statements */
#define GEN_MAX_GLOBALS 6
#define GEN_MAX_DATA 4
#define GEN_MAX_DATA_BYTES 24
#define GEN_MAX_ELEMS 4
#define GEN_MAX_SEG_FUNCS 8
#define GEN_BUDGET 20000	/* cost units per function, callees included */
#define GEN_MAX_LOOP 6		/* iterations of one loop */
#define GEN_MAX_MULT 64		/* product of the enclosing loops' counts */
#define GEN_MAX_CODE 16384	/* bytes of code per function */
#define GEN_PAGE 65536u

/* A block type with a type index, or one of these. */
#define BT_EMPTY 0x40000
#define BT_VAL 0x20000		/* | the value type */

struct gen_type {
	uint8_t np, nr;
	uint8_t p[GEN_MAX_VALS], r[GEN_MAX_VALS];
};

/* What a branch to a label carries: a loop's params, else the results. */
struct gen_label {
	uint8_t n;
	uint8_t t[GEN_MAX_VALS];
};

struct gen_global {
	uint8_t type, mut;
	uint64_t init;		/* bits; funcref: a function, UINT64_MAX null */
};

struct gen_data {
	uint8_t passive, explicit_mem;
	uint32_t offset, len;
	uint8_t bytes[GEN_MAX_DATA_BYTES];
};

enum { SEG_ACTIVE, SEG_PASSIVE, SEG_DECLARATIVE };

struct gen_elem {
	uint8_t mode;
	uint8_t exprs;		/* encoded as expressions (nulls allowed) */
	uint8_t explicit_table;	/* active: flags 2 or 6 */
	uint32_t offset, n;
	int32_t funcs[GEN_MAX_SEG_FUNCS];	/* -1: ref.null */
};

struct gen {
	const uint8_t *in;
	size_t in_len, in_pos;
	int oom;

	struct gen_type types[GEN_MAX_TYPES];
	uint32_t n_types;

	uint32_t n_funcs, n_exports;
	uint32_t tier;		/* functions >= tier may sit in the table */
	uint32_t func_type[GEN_MAX_FUNCS];
	uint64_t func_cost[GEN_MAX_FUNCS];
	struct buf body[GEN_MAX_FUNCS];	/* locals and code */

	struct gen_global globals[GEN_MAX_GLOBALS];
	uint32_t n_globals;
	int has_mem, mem_has_max;
	uint32_t mem_min, mem_max;
	int has_table, tab_has_max;
	uint32_t tab_min, tab_max;
	struct gen_data data[GEN_MAX_DATA];
	uint32_t n_data;
	struct gen_elem elems[GEN_MAX_ELEMS];
	uint32_t n_elems;

	/* the function being generated */
	uint32_t fn;
	struct buf code;
	uint8_t local_type[GEN_MAX_LOCALS];
	uint8_t local_counter[GEN_MAX_LOCALS];
	uint32_t n_params, n_locals;
	struct gen_label labels[GEN_MAX_LABELS];
	uint32_t n_labels;
	uint64_t cost, mult;
	unsigned depth;
};

static int gen_expr(struct gen *g, uint8_t t);
static void gen_compare(struct gen *g);
static void gen_stmt(struct gen *g);
static void gen_values(struct gen *g, const uint8_t *t, unsigned n);

/* ---- choices ---- */

static unsigned gen_byte(struct gen *g)
{
	return g->in_pos < g->in_len ? g->in[g->in_pos++] : 0;
}

static uint32_t gen_u32(struct gen *g)
{
	uint32_t v = 0;
	int i;

	for (i = 0; i < 4; i++)
		v |= (uint32_t)gen_byte(g) << (8 * i);
	return v;
}

static uint64_t gen_u64(struct gen *g)
{
	uint64_t lo = gen_u32(g);

	return lo | (uint64_t)gen_u32(g) << 32;
}

/* A choice in [0, n). */
static unsigned pick(struct gen *g, unsigned n)
{
	if (n <= 1)
		return 0;
	if (n <= 256)
		return gen_byte(g) % n;
	return gen_u32(g) % n;
}

/* num in den; never at the end of the input. */
static int chance(struct gen *g, unsigned num, unsigned den)
{
	return pick(g, den) >= den - num;
}

/* An index into w[0..n) with probability proportional to w[i]; the
 * first non-zero entry at the end of the input. */
static unsigned pick_weighted(struct gen *g, const uint8_t *w, unsigned n)
{
	unsigned total = 0, i, r;

	for (i = 0; i < n; i++)
		total += w[i];
	r = pick(g, total);
	for (i = 0; i < n; i++) {
		if (r < w[i])
			return i;
		r -= w[i];
	}
	return 0;
}

static uint8_t pick_num_type(struct gen *g)
{
	return num_types[pick(g, 4)];
}

/* ---- encoding ---- */

static void put_u8(struct gen *g, struct buf *b, uint8_t v)
{
	if (buf_append_u8(b, v) < 0)
		g->oom = 1;
}

static void put_bytes(struct gen *g, struct buf *b, const void *p, size_t n)
{
	if (n && buf_append(b, p, n) < 0)
		g->oom = 1;
}

static void put_uleb(struct gen *g, struct buf *b, uint64_t v)
{
	do {
		uint8_t c = v & 0x7f;

		v >>= 7;
		if (v)
			c |= 0x80;
		put_u8(g, b, c);
	} while (v);
}

static void put_sleb(struct gen *g, struct buf *b, int64_t v)
{
	uint64_t u = (uint64_t)v;
	int neg = v < 0;

	for (;;) {
		uint8_t c = u & 0x7f;
		int done;

		u >>= 7;
		if (neg)
			u |= ~(UINT64_MAX >> 7);	/* an arithmetic shift */
		done = neg ? u == UINT64_MAX && (c & 0x40) : u == 0 && !(c & 0x40);
		put_u8(g, b, done ? c : c | 0x80);
		if (done)
			break;
	}
}

static void put_le(struct gen *g, struct buf *b, uint64_t v, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		put_u8(g, b, (uint8_t)(v >> (8 * i)));
}

/* A constant instruction (code or constant expression). */
static void put_const(struct gen *g, struct buf *b, uint8_t t, uint64_t bits)
{
	switch (t) {
	case T_I32:
		put_u8(g, b, 0x41);
		put_sleb(g, b, (int32_t)(uint32_t)bits);
		break;
	case T_I64:
		put_u8(g, b, 0x42);
		put_sleb(g, b, (int64_t)bits);
		break;
	case T_F32:
		put_u8(g, b, 0x43);
		put_le(g, b, bits, 4);
		break;
	default:
		put_u8(g, b, 0x44);
		put_le(g, b, bits, 8);
		break;
	}
}

/* An instruction of the current function: every one costs the product
 * of the enclosing loops' counts. */
static void op(struct gen *g, uint8_t code)
{
	put_u8(g, &g->code, code);
	g->cost += g->mult;
}

/* An instruction with the 0xfc prefix. */
static void op_fc(struct gen *g, uint32_t sub)
{
	op(g, 0xfc);
	put_uleb(g, &g->code, sub);
}

/* One-byte opcodes, or 0xfcNN for the prefixed ones. */
static void op_any(struct gen *g, uint16_t code)
{
	if (code >= 0xfc00)
		op_fc(g, code & 0xff);
	else
		op(g, (uint8_t)code);
}

static void imm(struct gen *g, uint64_t v)
{
	put_uleb(g, &g->code, v);
}

static void imm_u8(struct gen *g, uint8_t v)
{
	put_u8(g, &g->code, v);
}

static void code_const(struct gen *g, uint8_t t, uint64_t bits)
{
	g->cost += g->mult;
	put_const(g, &g->code, t, bits);
}

/* Whether units more (times the loop product) fit the budget. */
static int afford(const struct gen *g, uint64_t units)
{
	return g->cost + g->mult * units <= GEN_BUDGET && g->code.len < GEN_MAX_CODE &&
	       !g->oom;
}

/* ---- types, locals, labels ---- */

static int vals_equal(const uint8_t *a, unsigned na, const uint8_t *b, unsigned nb)
{
	return na == nb && (na == 0 || memcmp(a, b, na) == 0);
}

static int type_equal(const struct gen_type *a, const struct gen_type *b)
{
	return vals_equal(a->p, a->np, b->p, b->np) && vals_equal(a->r, a->nr, b->r, b->nr);
}

/* The index of type t, added when missing (or always when fresh, so
 * that equal types under different indices occur); -1 when full. */
static int type_add(struct gen *g, const struct gen_type *t, int fresh)
{
	uint32_t i;

	if (!fresh || g->n_types == GEN_MAX_TYPES)
		for (i = 0; i < g->n_types; i++)
			if (type_equal(&g->types[i], t))
				return (int)i;
	if (g->n_types == GEN_MAX_TYPES)
		return -1;
	g->types[g->n_types] = *t;
	return (int)g->n_types++;
}

static void random_vals(struct gen *g, uint8_t *t, uint8_t *n, unsigned max)
{
	unsigned i;

	*n = (uint8_t)pick(g, max + 1);
	for (i = 0; i < *n; i++)
		t[i] = pick_num_type(g);
}

/* The block type of P -> R: BT_EMPTY, BT_VAL | t or a type index; -1
 * when that needs a new type and the table is full. */
static int32_t gen_blocktype(struct gen *g, const uint8_t *p, unsigned np,
			     const uint8_t *r, unsigned nr)
{
	struct gen_type t;

	if (np == 0 && nr == 0 && !chance(g, 1, 8))
		return BT_EMPTY;
	if (np == 0 && nr == 1 && !chance(g, 1, 8))
		return BT_VAL | r[0];
	memset(&t, 0, sizeof(t));
	t.np = (uint8_t)np;
	t.nr = (uint8_t)nr;
	if (np)
		memcpy(t.p, p, np);
	if (nr)
		memcpy(t.r, r, nr);
	return type_add(g, &t, chance(g, 1, 8));
}

static void put_blocktype(struct gen *g, int32_t bt)
{
	if (bt == BT_EMPTY)
		imm_u8(g, 0x40);
	else if (bt & BT_VAL)
		imm_u8(g, (uint8_t)bt);
	else
		put_sleb(g, &g->code, bt);	/* s33 */
}

static int local_new(struct gen *g, uint8_t t, int counter)
{
	uint32_t limit = counter ? GEN_MAX_LOCALS : GEN_USER_LOCALS;

	if (g->n_locals >= limit)
		return -1;
	g->local_type[g->n_locals] = t;
	g->local_counter[g->n_locals] = (uint8_t)counter;
	return (int)g->n_locals++;
}

/* A local of type t that is not a loop counter (every function has one
 * of each numeric type from the start); sometimes a new one. */
static uint32_t local_pick(struct gen *g, uint8_t t)
{
	uint32_t cand[GEN_MAX_LOCALS], n = 0, i;
	int l;

	for (i = 0; i < g->n_locals; i++)
		if (g->local_type[i] == t && !g->local_counter[i])
			cand[n++] = i;
	if (n == 0 || chance(g, 1, 16)) {
		l = local_new(g, t, 0);
		if (l >= 0)
			return (uint32_t)l;
	}
	return cand[pick(g, n)];
}

static void label_push(struct gen *g, const uint8_t *t, unsigned n)
{
	struct gen_label *l = &g->labels[g->n_labels++];

	l->n = (uint8_t)n;
	if (n)
		memcpy(l->t, t, n);
}

/* A label to branch to, the innermost ones more likely: a branch to
 * the outermost returns from the function. */
static uint32_t label_pick(struct gen *g)
{
	uint32_t a = pick(g, g->n_labels), b = pick(g, g->n_labels);

	return a > b ? a : b;
}

/* A branch condition: a comparison half of the time, so branches are
 * taken about as often as not. */
static void gen_cond(struct gen *g)
{
	if (chance(g, 1, 2))
		gen_expr(g, T_I32);
	else
		gen_compare(g);
}

/* The relative depth of the label at index i of the stack. */
static uint32_t label_depth(const struct gen *g, uint32_t i)
{
	return g->n_labels - 1 - i;
}

/* ---- constants and leaves ---- */

static const uint32_t i32_special[] = {
	0, 1, 0xffffffff, 2, 0x7fffffff, 0x80000000, 0xff, 0x80, 0xffff, 0x8000,
	0x10000, 31, 32, 0xfffffffe, 0x7ffffffe, 0x80000001, 16, 8,
};

static const uint64_t i64_special[] = {
	0, 1, UINT64_MAX, 2, INT64_MAX, 0x8000000000000000ull, 0xffffffff,
	0x80000000, 0x100000000ull, 0x7fffffff, 63, 64, 32, 0xff, 0xffff,
	0xfffffffffffffffeull, 0xffffffff80000000ull, 0x8000000000000001ull,
};

static const uint32_t f32_special[] = {
	0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x7f800000, 0xff800000,
	0x7fc00000, 0xffc00000, 0x7fa00000, 0x7f800001, 0xff812345, 0x00000001,
	0x80000001, 0x00800000, 0x7f7fffff, 0x4f000000, 0x4effffff, 0xcf000000,
	0xcf000001, 0x4f800000, 0x4f7fffff, 0x5f000000, 0x5effffff, 0xdf000000,
	0xdf000001, 0x5f800000, 0x3f000000, 0xbf000000, 0x3fc00000, 0x40200000,
	0xbf7fffff, 0xbfc00000, 0x4b000000, 0x4b7fffff, 0x3effffff,
};

static const uint64_t f64_special[] = {
	0x0000000000000000ull, 0x8000000000000000ull, 0x3ff0000000000000ull,
	0xbff0000000000000ull, 0x7ff0000000000000ull, 0xfff0000000000000ull,
	0x7ff8000000000000ull, 0xfff8000000000000ull, 0x7ff4000000000000ull,
	0x7ff0000000000001ull, 0xfff0000012345678ull, 0x0000000000000001ull,
	0x8000000000000001ull, 0x0010000000000000ull, 0x7fefffffffffffffull,
	0x41dfffffffc00000ull, 0x41e0000000000000ull, 0xc1e0000000000000ull,
	0xc1e0000000200000ull, 0xc1dfffffffffffffull, 0x41efffffffe00000ull,
	0x41f0000000000000ull, 0x43e0000000000000ull, 0x43dfffffffffffffull,
	0xc3e0000000000000ull, 0xc3e0000000000001ull, 0x43f0000000000000ull,
	0x43efffffffffffffull, 0x3fe0000000000000ull, 0xbfe0000000000000ull,
	0x3ff8000000000000ull, 0x4004000000000000ull, 0xbfefffffffffffffull,
	0x4330000000000000ull, 0x433fffffffffffffull, 0x3fdfffffffffffffull,
	0x47efffffe0000000ull, 0x47efffffefffffffull, 0x36a0000000000000ull,
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t gen_const_bits(struct gen *g, uint8_t t)
{
	unsigned how = pick(g, 4);

	switch (t) {
	case T_I32:
		if (how == 0)
			return pick(g, 16);
		if (how == 1)
			return i32_special[pick(g, N_OF(i32_special))];
		if (how == 2)
			return (uint32_t)(int32_t)(int8_t)gen_byte(g);
		return gen_u32(g);
	case T_I64:
		if (how == 0)
			return pick(g, 16);
		if (how == 1)
			return i64_special[pick(g, N_OF(i64_special))];
		if (how == 2)
			return (uint64_t)(int64_t)(int16_t)gen_u32(g);
		return gen_u64(g);
	case T_F32:
		if (how == 0)	/* small integers */
			return (uint32_t[]){ 0, 0x3f800000, 0x40000000, 0x40400000,
					     0xbf800000, 0x41200000, 0x42c80000,
					     0xc2c80000 }[pick(g, 8)];
		if (how == 3)
			return gen_u32(g);
		return f32_special[pick(g, N_OF(f32_special))];
	default:
		if (how == 0)
			return (uint64_t[]){ 0, 0x3ff0000000000000ull, 0x4000000000000000ull,
					     0x4008000000000000ull, 0xbff0000000000000ull,
					     0x4024000000000000ull, 0x4059000000000000ull,
					     0xc059000000000000ull }[pick(g, 8)];
		if (how == 3)
			return gen_u64(g);
		return f64_special[pick(g, N_OF(f64_special))];
	}
}

static int gen_global_of(struct gen *g, uint8_t t, int mutable_only)
{
	uint32_t cand[GEN_MAX_GLOBALS], n = 0, i;

	for (i = 0; i < g->n_globals; i++)
		if (g->globals[i].type == t && (!mutable_only || g->globals[i].mut))
			cand[n++] = i;
	return n ? (int)cand[pick(g, n)] : -1;
}

/* A constant, a local or a global. Returns whether the value's bits are
 * fixed by the spec (the "exact" flag every float producer returns). */
static int gen_leaf(struct gen *g, uint8_t t)
{
	int gl;

	switch (pick(g, 8)) {
	case 5:
	case 6:
		op(g, 0x20);	/* local.get */
		imm(g, local_pick(g, t));
		return 0;
	case 7:
		gl = gen_global_of(g, t, 0);
		if (gl < 0)
			break;
		op(g, 0x23);	/* global.get */
		imm(g, (uint32_t)gl);
		return !g->globals[gl].mut;
	default:
		break;
	}
	code_const(g, t, gen_const_bits(g, t));
	return 1;
}

/* ---- NaN canonicalisation, conversions, folding ---- */

/* Replaces the float x of type t on top of the stack by
 * select(x, canonical nan, x == x). */
static void gen_canon(struct gen *g, uint8_t t)
{
	uint32_t s = local_pick(g, t);

	op(g, 0x22);		/* local.tee */
	imm(g, s);
	code_const(g, t, t == T_F32 ? 0x7fc00000 : 0x7ff8000000000000ull);
	op(g, 0x20);
	imm(g, s);
	op(g, 0x20);
	imm(g, s);
	op(g, t == T_F32 ? 0x5b : 0x61);	/* eq */
	if (chance(g, 1, 2)) {
		op(g, 0x1c);	/* select t */
		imm(g, 1);
		imm_u8(g, t);
	} else {
		op(g, 0x1b);
	}
}

/* Canonicalises a float whose bits the spec does not fix. */
static void gen_canon_if(struct gen *g, uint8_t t, int exact)
{
	if ((t == T_F32 || t == T_F64) && !exact)
		gen_canon(g, t);
}

/* Turns the value of type from on top of the stack into one of type to,
 * without trapping. Returns whether the result is exact. */
static int gen_coerce(struct gen *g, uint8_t from, uint8_t to, int exact)
{
	if (from == to)
		return exact;
	switch (to) {
	case T_I32:
		if (from == T_I64) {
			op(g, 0xa7);	/* i32.wrap_i64 */
		} else if (chance(g, 1, 2)) {
			op_fc(g, (from == T_F32 ? 0 : 2) + pick(g, 2));	/* trunc_sat */
		} else {
			gen_canon_if(g, from, exact);
			if (from == T_F32) {
				op(g, 0xbc);
			} else {
				op(g, 0xbd);
				op(g, 0xa7);
			}
		}
		return 1;
	case T_I64:
		if (from == T_I32) {
			op(g, (uint8_t)(0xac + pick(g, 2)));	/* extend_i32_s/u */
		} else if (chance(g, 1, 2)) {
			op_fc(g, (from == T_F32 ? 4 : 6) + pick(g, 2));
		} else {
			gen_canon_if(g, from, exact);
			if (from == T_F64) {
				op(g, 0xbd);
			} else {
				op(g, 0xbc);
				op(g, (uint8_t)(0xac + pick(g, 2)));
			}
		}
		return 1;
	case T_F32:
		if (from == T_I32) {
			op(g, chance(g, 1, 3) ? 0xbe : (uint8_t)(0xb2 + pick(g, 2)));
			return 1;
		}
		if (from == T_I64) {
			op(g, (uint8_t)(0xb4 + pick(g, 2)));
			return 1;
		}
		op(g, 0xb6);	/* f32.demote_f64: NaN payloads are open */
		return 0;
	default:
		if (from == T_I32) {
			op(g, (uint8_t)(0xb7 + pick(g, 2)));
			return 1;
		}
		if (from == T_I64) {
			op(g, chance(g, 1, 3) ? 0xbf : (uint8_t)(0xb9 + pick(g, 2)));
			return 1;
		}
		op(g, 0xbb);	/* f64.promote_f32 */
		return 0;
	}
}

static void gen_combine(struct gen *g, uint8_t t)
{
	static const uint8_t i32_ops[] = { 0x6a, 0x6b, 0x73, 0x6c, 0x77 };
	static const uint8_t i64_ops[] = { 0x7c, 0x7d, 0x85, 0x7e, 0x89 };
	static const uint8_t f32_ops[] = { 0x92, 0x93, 0x94, 0x96, 0x97 };
	static const uint8_t f64_ops[] = { 0xa0, 0xa1, 0xa2, 0xa4, 0xa5 };
	unsigned i = pick(g, 5);

	op(g, t == T_I32 ? i32_ops[i] : t == T_I64 ? i64_ops[i] :
	   t == T_F32 ? f32_ops[i] : f64_ops[i]);
}

/* Folds the values t[0..n) on top of the stack (t[n-1] topmost) into one
 * of type to; with n == 0, generates a value of type to. */
static int gen_fold(struct gen *g, const uint8_t *t, unsigned n, uint8_t to)
{
	uint8_t types[GEN_MAX_VALS];
	unsigned i;
	int exact;

	if (n == 0)
		return gen_expr(g, to);
	memcpy(types, t, n);	/* t may be a label that moves */
	exact = gen_coerce(g, types[n - 1], to, 0);
	for (i = n - 1; i-- > 0;) {
		uint32_t s = local_pick(g, to);

		op(g, 0x21);	/* local.set: the accumulator */
		imm(g, s);
		if (chance(g, 1, 3)) {
			op(g, 0x1a);	/* drop this one */
		} else {
			gen_coerce(g, types[i], to, 0);
			op(g, 0x20);
			imm(g, s);
			gen_combine(g, to);
			exact = 0;
			continue;
		}
		op(g, 0x20);
		imm(g, s);
	}
	return exact;
}

/* Keeps or drops values t[0..n) on top of the stack as a statement. */
static void gen_consume(struct gen *g, const uint8_t *t, unsigned n)
{
	uint8_t u;

	if (n == 0)
		return;
	if (chance(g, 1, 2)) {
		while (n--)
			op(g, 0x1a);
		return;
	}
	u = pick_num_type(g);
	gen_fold(g, t, n, u);
	op(g, 0x21);
	imm(g, local_pick(g, u));
}

/* ---- memory ---- */

struct gen_mem_op {
	uint8_t type, code, align;	/* align: log2 of the access width */
};

static const struct gen_mem_op loads[] = {
	{ T_I32, 0x28, 2 }, { T_I64, 0x29, 3 }, { T_F32, 0x2a, 2 }, { T_F64, 0x2b, 3 },
	{ T_I32, 0x2c, 0 }, { T_I32, 0x2d, 0 }, { T_I32, 0x2e, 1 }, { T_I32, 0x2f, 1 },
	{ T_I64, 0x30, 0 }, { T_I64, 0x31, 0 }, { T_I64, 0x32, 1 }, { T_I64, 0x33, 1 },
	{ T_I64, 0x34, 2 }, { T_I64, 0x35, 2 },
};

static const struct gen_mem_op stores[] = {
	{ T_I32, 0x36, 2 }, { T_I64, 0x37, 3 }, { T_F32, 0x38, 2 }, { T_F64, 0x39, 3 },
	{ T_I32, 0x3a, 0 }, { T_I32, 0x3b, 1 }, { T_I64, 0x3c, 0 }, { T_I64, 0x3d, 1 },
	{ T_I64, 0x3e, 2 },
};

static uint32_t mem_bytes(const struct gen *g)
{
	return g->mem_min * GEN_PAGE;
}

/* An address for an access of width bytes. Each access that can trap
 * makes the rest of its function dead code, so most addresses are in
 * bounds; a few are at the edge of memory or far beyond. */
static void gen_addr(struct gen *g, uint32_t width)
{
	static const uint32_t masks[] = { 0xff, 0xfff, 0xfff8, 0x7ff0, 0x3ff, 0xfffc,
					  0xffff, 0x1ffff };
	static const uint32_t wild[] = { 0xffffffff, 0x80000000, 0x7fffffff, 0xfffffff0,
					 0x10000, 0xffff };
	static const uint8_t w[] = { 10, 40, 1, 1, 1 };
	uint32_t end = mem_bytes(g);

	switch (pick_weighted(g, w, N_OF(w))) {
	case 0:
		code_const(g, T_I32, pick(g, 64));
		break;
	case 1:	/* data-dependent: mostly within the first page */
		gen_expr(g, T_I32);
		code_const(g, T_I32, masks[pick(g, 32) < 31 ? pick(g, 6) : 6 + pick(g, 2)]);
		op(g, 0x71);	/* i32.and */
		break;
	case 2:	/* around the end of the initial memory */
		code_const(g, T_I32, end - 2 * width + pick(g, 2 * width + 2));
		break;
	case 3:
		code_const(g, T_I32, wild[pick(g, N_OF(wild))]);
		break;
	default:
		gen_expr(g, T_I32);
		break;
	}
}

static void gen_memarg(struct gen *g, unsigned align)
{
	static const uint32_t big[] = { 0xffff, 0x10000, 0xffffffff, 0x7fffffff, 0xfffffff8 };
	unsigned how = pick(g, 64);
	uint32_t off = 0;

	imm(g, pick(g, align + 1));
	if (how >= 48 && how < 63)
		off = pick(g, 16);
	else if (how == 63)
		off = chance(g, 1, 2) ? mem_bytes(g) : big[pick(g, N_OF(big))];
	imm(g, off);
}

static int gen_load(struct gen *g, uint8_t t)
{
	const struct gen_mem_op *cand[N_OF(loads)];
	const struct gen_mem_op *m;
	unsigned n = 0, i;

	for (i = 0; i < N_OF(loads); i++)
		if (loads[i].type == t)
			cand[n++] = &loads[i];
	m = cand[pick(g, n)];
	gen_addr(g, 1u << m->align);
	op(g, m->code);
	gen_memarg(g, m->align);
	return 1;	/* memory only ever holds exact bits */
}

static void gen_store(struct gen *g)
{
	const struct gen_mem_op *m = &stores[pick(g, N_OF(stores))];

	gen_addr(g, 1u << m->align);
	gen_canon_if(g, m->type, gen_expr(g, m->type));
	op(g, m->code);
	gen_memarg(g, m->align);
}

/* A length for a bulk operation on memory (or, small, on the table). */
static void gen_len(struct gen *g, int table)
{
	switch (pick(g, 16)) {
	case 15:
		code_const(g, T_I32, table ? (chance(g, 1, 2) ? g->tab_min : 0xffffffff) :
			   (uint32_t[]){ 0xffffffff, 0x10000, 0xffff, 0x80000000, 256,
					 mem_bytes(g) }[pick(g, 6)]);
		break;
	case 12:
	case 13:
	case 14:
		gen_expr(g, T_I32);
		code_const(g, T_I32, table ? 3 : 0x1ff);
		op(g, 0x71);
		break;
	default:
		code_const(g, T_I32, pick(g, table ? 4 : 33));
		break;
	}
}

/* A page count for memory.grow: within a declared maximum anything goes;
 * without one, only 0 or more than any engine grants. */
static void gen_mem_delta(struct gen *g)
{
	if (g->mem_has_max && chance(g, 1, 4)) {
		gen_expr(g, T_I32);
		return;
	}
	if (g->mem_has_max && chance(g, 2, 3))
		code_const(g, T_I32, pick(g, 4));
	else
		code_const(g, T_I32, (uint32_t[]){ 0, 0x10001, 0xffffffff, 0x80000000 }[pick(g, 4)]);
}

/* ---- tables and references ---- */

static uint32_t n_tier_funcs(const struct gen *g)
{
	return g->n_funcs - g->tier;
}

/* A table index: mostly below the initial size. */
static void gen_tab_index(struct gen *g)
{
	switch (pick(g, 16)) {
	case 15:
		code_const(g, T_I32, chance(g, 1, 2) ? 0xffffffff : g->tab_min + pick(g, 3));
		break;
	case 12:
	case 13:
	case 14:
		gen_expr(g, T_I32);
		code_const(g, T_I32, 7);
		op(g, 0x71);
		break;
	default:
		code_const(g, T_I32, g->tab_min ? pick(g, g->tab_min) : 0);
		break;
	}
}

/* A funcref: null, a function of the tier, an element of the table, a
 * local or a global (which only ever hold such references too). */
static void gen_ref(struct gen *g)
{
	int gl;

	switch (pick(g, 7)) {
	case 1:
		if (!n_tier_funcs(g))
			break;
		op(g, 0xd2);	/* ref.func */
		imm(g, g->tier + pick(g, n_tier_funcs(g)));
		return;
	case 2:
		if (!g->has_table)
			break;
		gen_tab_index(g);
		op(g, 0x25);	/* table.get */
		imm(g, 0);
		return;
	case 4:
		op(g, 0x20);
		imm(g, local_pick(g, T_FUNCREF));
		return;
	case 5:
		gl = gen_global_of(g, T_FUNCREF, 0);
		if (gl < 0)
			break;
		op(g, 0x23);
		imm(g, (uint32_t)gl);
		return;
	case 6:
		if (g->depth >= GEN_MAX_DEPTH)
			break;
		g->depth++;
		gen_ref(g);
		g->depth--;
		op(g, 0x22);	/* local.tee */
		imm(g, local_pick(g, T_FUNCREF));
		return;
	case 3:
		if (g->depth >= GEN_MAX_DEPTH)
			break;
		g->depth++;
		gen_ref(g);
		gen_ref(g);
		gen_expr(g, T_I32);
		g->depth--;
		op(g, 0x1c);	/* select funcref */
		imm(g, 1);
		imm_u8(g, T_FUNCREF);
		return;
	default:
		break;
	}
	op(g, 0xd0);		/* ref.null func */
	imm_u8(g, T_FUNCREF);
}

static void gen_tab_delta(struct gen *g)
{
	if (g->tab_has_max && chance(g, 1, 3)) {
		if (chance(g, 1, 2))
			code_const(g, T_I32, 0xffffffff);
		else
			gen_expr(g, T_I32);
		return;
	}
	code_const(g, T_I32, pick(g, 4));
}

/* ---- calls ---- */

/* A direct call to a later function: arguments and the call. Returns
 * the callee, or -1 when none fits the budget. */
static int gen_call(struct gen *g)
{
	uint32_t cand[GEN_MAX_FUNCS], n = 0, c;
	const struct gen_type *t;

	for (c = g->fn + 1; c < g->n_funcs; c++)
		if (afford(g, g->func_cost[c] + 8))
			cand[n++] = c;
	if (!n)
		return -1;
	c = cand[pick(g, n)];
	t = &g->types[g->func_type[c]];
	gen_values(g, t->p, t->np);
	op(g, 0x10);
	imm(g, c);
	g->cost += g->mult * g->func_cost[c];
	return (int)c;
}

/* call_indirect through the table with a type that often matches one of
 * the tier's functions (under any of its equal indices). Returns the
 * type index, or -1. */
static int gen_call_indirect(struct gen *g)
{
	const struct gen_elem *e = g->n_elems && g->elems[0].mode == SEG_ACTIVE ?
				   &g->elems[0] : NULL;
	uint32_t cand[GEN_MAX_TYPES], n = 0, i, x;
	uint64_t worst = 1;
	const struct gen_type *t;
	int64_t slot;

	for (i = g->tier; i < g->n_funcs; i++)
		if (g->func_cost[i] + 1 > worst)
			worst = g->func_cost[i] + 1;
	if (!afford(g, worst + 8))
		return -1;
	/* mostly a slot the active segment filled, with its function's type
	 * (the code may have changed the slot since) */
	slot = -1;
	if (e && e->n && !chance(g, 1, 8)) {
		i = pick(g, e->n);
		if (e->funcs[i] >= 0)
			slot = (int64_t)e->offset + i;
	}
	if (slot >= 0)
		x = g->func_type[e->funcs[slot - e->offset]];
	else if (n_tier_funcs(g) && !chance(g, 1, 4))
		x = g->func_type[g->tier + pick(g, n_tier_funcs(g))];
	else
		x = pick(g, g->n_types);
	for (i = 0; i < g->n_types; i++)
		if (type_equal(&g->types[i], &g->types[x]))
			cand[n++] = i;
	x = cand[pick(g, n)];
	t = &g->types[x];
	gen_values(g, t->p, t->np);
	if (slot >= 0)
		code_const(g, T_I32, (uint64_t)slot);
	else
		gen_tab_index(g);
	op(g, 0x11);
	imm(g, x);
	imm(g, 0);
	g->cost += g->mult * worst;
	return (int)x;
}

/* ---- control ---- */

enum { B_BLOCK, B_IF, B_LOOP };

/* The body of a block entered with P on the stack: statements, then R.
 * A loop's body (loop set) mostly ends with a conditional branch back to
 * its head, so that loops do loop (their counter stops them). */
static void gen_body(struct gen *g, const uint8_t *p, unsigned np, const uint8_t *r,
		     unsigned nr, unsigned min_stmts, unsigned max_stmts, int loop)
{
	int keep = np && vals_equal(p, np, r, nr) && chance(g, 1, 2);
	unsigned n, i;

	if (np && !keep)
		gen_consume(g, p, np);
	n = min_stmts + pick(g, max_stmts - min_stmts + 1);
	for (i = 0; i < n; i++)
		gen_stmt(g);
	if (loop && !chance(g, 1, 4)) {
		if (keep)	/* the params are still there: make room */
			gen_consume(g, p, np);
		keep = 0;
		gen_values(g, p, np);
		if (chance(g, 1, 3))
			code_const(g, T_I32, 1);	/* until the counter is spent */
		else
			gen_cond(g);
		op(g, 0x0d);	/* br_if to the loop */
		imm(g, 0);
		gen_consume(g, p, np);
	}
	if (!keep)
		gen_values(g, r, nr);
}

/* block, if or loop with results R (params chosen here). Returns -1,
 * having emitted nothing, when it cannot be made. */
static int gen_block(struct gen *g, int kind, const uint8_t *r, unsigned nr)
{
	uint8_t p[GEN_MAX_VALS], res[GEN_MAX_VALS];
	unsigned np = 0, i, k = 0;
	int32_t bt, exit_bt = BT_EMPTY;
	int counter = -1, no_else = 0;
	uint64_t mult = g->mult;

	if (g->n_labels + 3 > GEN_MAX_LABELS || g->depth >= GEN_MAX_DEPTH || !afford(g, 32))
		return -1;
	if (nr)
		memcpy(res, r, nr);
	if (kind == B_IF && chance(g, 1, 4)) {
		/* no else: the type must be [t*] -> [t*] */
		no_else = 1;
		np = nr;
		if (nr)
			memcpy(p, res, nr);
	} else if (chance(g, 1, 3)) {
		np = 1 + pick(g, 2);
		for (i = 0; i < np; i++)
			p[i] = pick_num_type(g);
	}
	bt = gen_blocktype(g, p, np, res, nr);
	if (bt < 0)
		return -1;
	if (kind == B_LOOP) {
		k = chance(g, 1, 8) ? 0 : 1 + pick(g, GEN_MAX_LOOP);
		if (g->mult * (k + 1) > GEN_MAX_MULT)
			k = (unsigned)(GEN_MAX_MULT / g->mult) - 1;
		exit_bt = gen_blocktype(g, NULL, 0, res, nr);
		if (exit_bt < 0)
			return -1;
		counter = local_new(g, T_I32, 1);
		if (counter < 0)
			return -1;
	}
	g->depth++;
	if (kind == B_LOOP) {
		op(g, 0x02);	/* the way out once the counter is spent */
		put_blocktype(g, exit_bt);
		label_push(g, res, nr);
	}
	gen_values(g, p, np);
	if (kind == B_IF)
		gen_cond(g);
	if (kind == B_LOOP) {
		code_const(g, T_I32, k);
		op(g, 0x21);
		imm(g, (uint32_t)counter);
	}
	op(g, kind == B_BLOCK ? 0x02 : kind == B_IF ? 0x04 : 0x03);
	put_blocktype(g, bt);
	if (kind == B_LOOP) {
		label_push(g, p, np);
		g->mult *= k + 1;
		op(g, 0x20);
		imm(g, (uint32_t)counter);
		op(g, 0x45);	/* i32.eqz */
		op(g, 0x04);
		imm_u8(g, 0x40);
		label_push(g, NULL, 0);
		for (i = 0; i < nr; i++)
			gen_leaf(g, res[i]);
		op(g, 0x0c);	/* br to the enclosing block */
		imm(g, 2);
		op(g, 0x0b);
		g->n_labels--;
		op(g, 0x20);
		imm(g, (uint32_t)counter);
		code_const(g, T_I32, 1);
		op(g, 0x6b);	/* i32.sub */
		op(g, 0x21);
		imm(g, (uint32_t)counter);
	} else {
		label_push(g, res, nr);
	}
	gen_body(g, p, np, res, nr, 0, 3, kind == B_LOOP);
	if (kind == B_IF && !no_else) {
		op(g, 0x05);
		gen_body(g, p, np, res, nr, 0, 3, 0);
	}
	op(g, 0x0b);
	g->n_labels--;
	if (kind == B_LOOP) {
		g->mult = mult;
		op(g, 0x0b);
		g->n_labels--;
	}
	g->depth--;
	return 0;
}

/* Values of types t[0..n): one expression each, or sometimes one block
 * or call that gives them all at once. */
static void gen_values(struct gen *g, const uint8_t *t, unsigned n)
{
	uint8_t types[GEN_MAX_VALS];
	unsigned i;

	if (n == 0)
		return;
	memcpy(types, t, n);
	if (n >= 2 && chance(g, 1, 4)) {
		uint32_t c;

		for (c = g->fn + 1; c < g->n_funcs; c++) {
			const struct gen_type *ft = &g->types[g->func_type[c]];

			if (vals_equal(ft->r, ft->nr, types, n) && ft->np == 0 &&
			    afford(g, g->func_cost[c] + 8)) {
				op(g, 0x10);
				imm(g, c);
				g->cost += g->mult * g->func_cost[c];
				return;
			}
		}
		if (gen_block(g, (int)pick(g, 3), types, n) == 0)
			return;
	}
	for (i = 0; i < n; i++)
		gen_expr(g, types[i]);
}

/* After br, br_table, return or unreachable: sometimes instructions that
 * are valid only because the stack is now polymorphic. t is the type the
 * code must seem to leave, or 0 for none. */
static void gen_dead_tail(struct gen *g, uint8_t t)
{
	static const uint8_t bin[4] = { 0x6a, 0x7c, 0x92, 0xa0 };	/* add */

	switch (pick(g, 5)) {
	case 1:
		if (t)
			op(g, bin[t == T_I32 ? 0 : t == T_I64 ? 1 : t == T_F32 ? 2 : 3]);
		else
			op(g, 0x1a);
		break;
	case 2:
		op(g, 0x1a);	/* drop */
		if (t)
			gen_leaf(g, t);
		break;
	case 3:
		op(g, 0x1b);	/* select of unknowns */
		if (!t)
			op(g, 0x1a);
		break;
	case 4:
		op(g, 0x00);	/* unreachable */
		break;
	default:
		break;
	}
}

/* br to any label with its values. */
static void gen_br(struct gen *g, uint8_t t)
{
	uint32_t l = label_pick(g);
	struct gen_label lab = g->labels[l];

	gen_values(g, lab.t, lab.n);
	op(g, 0x0c);
	imm(g, label_depth(g, l));
	gen_dead_tail(g, t);
}

/* br_if to any label: leaves the label's values. Returns the label. */
static struct gen_label gen_br_if(struct gen *g)
{
	uint32_t l = label_pick(g);
	struct gen_label lab = g->labels[l];

	gen_values(g, lab.t, lab.n);
	gen_cond(g);
	op(g, 0x0d);
	imm(g, label_depth(g, l));
	return lab;
}

/* br_table over labels of equal types. */
static void gen_br_table(struct gen *g, uint8_t t)
{
	uint32_t cand[GEN_MAX_LABELS], nc = 0, n, i;
	uint32_t l = label_pick(g);
	struct gen_label lab = g->labels[l];

	for (i = 0; i < g->n_labels; i++)
		if (vals_equal(g->labels[i].t, g->labels[i].n, lab.t, lab.n))
			cand[nc++] = i;
	gen_values(g, lab.t, lab.n);
	n = pick(g, 5);
	if (chance(g, 1, 2))
		code_const(g, T_I32, pick(g, n + 2));
	else
		gen_expr(g, T_I32);
	op(g, 0x0e);
	imm(g, n);
	for (i = 0; i < n; i++)
		imm(g, label_depth(g, cand[pick(g, nc)]));
	imm(g, label_depth(g, l));
	gen_dead_tail(g, t);
}

static void gen_return(struct gen *g, uint8_t t)
{
	struct gen_label lab = g->labels[0];

	gen_values(g, lab.t, lab.n);
	op(g, 0x0f);
	gen_dead_tail(g, t);
}

/* ---- expressions ---- */

struct gen_cvt {
	uint8_t to, from;
	uint16_t code;		/* 0xfcNN: prefixed */
	uint8_t kind;
};

enum {
	CV_PLAIN,		/* float results: NaN payload open */
	CV_TRAP,		/* traps on NaN and out of range */
	CV_BITS,		/* reinterprets a float: canonicalise first */
	CV_EXACT,		/* the result's bits are fixed */
};

static const struct gen_cvt cvts[] = {
	{ T_I32, T_I64, 0xa7, CV_PLAIN },
	{ T_I32, T_F32, 0xa8, CV_TRAP }, { T_I32, T_F32, 0xa9, CV_TRAP },
	{ T_I32, T_F64, 0xaa, CV_TRAP }, { T_I32, T_F64, 0xab, CV_TRAP },
	{ T_I32, T_F32, 0xfc00, CV_PLAIN }, { T_I32, T_F32, 0xfc01, CV_PLAIN },
	{ T_I32, T_F64, 0xfc02, CV_PLAIN }, { T_I32, T_F64, 0xfc03, CV_PLAIN },
	{ T_I32, T_F32, 0xbc, CV_BITS },
	{ T_I64, T_I32, 0xac, CV_PLAIN }, { T_I64, T_I32, 0xad, CV_PLAIN },
	{ T_I64, T_F32, 0xae, CV_TRAP }, { T_I64, T_F32, 0xaf, CV_TRAP },
	{ T_I64, T_F64, 0xb0, CV_TRAP }, { T_I64, T_F64, 0xb1, CV_TRAP },
	{ T_I64, T_F32, 0xfc04, CV_PLAIN }, { T_I64, T_F32, 0xfc05, CV_PLAIN },
	{ T_I64, T_F64, 0xfc06, CV_PLAIN }, { T_I64, T_F64, 0xfc07, CV_PLAIN },
	{ T_I64, T_F64, 0xbd, CV_BITS },
	{ T_F32, T_I32, 0xb2, CV_EXACT }, { T_F32, T_I32, 0xb3, CV_EXACT },
	{ T_F32, T_I64, 0xb4, CV_EXACT }, { T_F32, T_I64, 0xb5, CV_EXACT },
	{ T_F32, T_F64, 0xb6, CV_PLAIN }, { T_F32, T_I32, 0xbe, CV_EXACT },
	{ T_F64, T_I32, 0xb7, CV_EXACT }, { T_F64, T_I32, 0xb8, CV_EXACT },
	{ T_F64, T_I64, 0xb9, CV_EXACT }, { T_F64, T_I64, 0xba, CV_EXACT },
	{ T_F64, T_F32, 0xbb, CV_PLAIN }, { T_F64, T_I64, 0xbf, CV_EXACT },
};

static int gen_convert(struct gen *g, uint8_t t)
{
	uint8_t w[N_OF(cvts)];
	const struct gen_cvt *c;
	unsigned i;
	int exact;

	for (i = 0; i < N_OF(cvts); i++)
		w[i] = cvts[i].to != t ? 0 : cvts[i].kind == CV_TRAP ? 1 : 4;
	c = &cvts[pick_weighted(g, w, N_OF(cvts))];
	exact = gen_expr(g, c->from);
	if (c->kind == CV_BITS)
		gen_canon_if(g, c->from, exact);
	op_any(g, c->code);
	return c->kind == CV_EXACT;
}

static int gen_unary(struct gen *g, uint8_t t)
{
	static const uint8_t i32_ops[] = { 0x67, 0x68, 0x69, 0x45, 0xc0, 0xc1 };
	static const uint8_t i64_ops[] = { 0x79, 0x7a, 0x7b, 0xc2, 0xc3, 0xc4 };
	unsigned i;
	int exact = gen_expr(g, t);

	switch (t) {
	case T_I32:
		op(g, i32_ops[pick(g, N_OF(i32_ops))]);
		return 1;
	case T_I64:
		op(g, i64_ops[pick(g, N_OF(i64_ops))]);
		return 1;
	default:
		i = pick(g, 7);	/* abs neg ceil floor trunc nearest sqrt */
		op(g, (uint8_t)((t == T_F32 ? 0x8b : 0x99) + i));
		return exact && i < 2;
	}
}

static int gen_binary(struct gen *g, uint8_t t)
{
	unsigned i;
	int exact;

	switch (t) {
	case T_I32:
	case T_I64:
		i = pick(g, 15);	/* add .. rotr */
		gen_expr(g, t);
		gen_expr(g, t);
		if (i >= 3 && i <= 6 && !chance(g, 1, 4)) {
			/* a divisor that is not 0 (INT_MIN / -1 still traps) */
			code_const(g, t, 1);
			op(g, t == T_I32 ? 0x72 : 0x84);	/* or */
		}
		op(g, (uint8_t)((t == T_I32 ? 0x6a : 0x7c) + i));
		return 1;
	default:
		i = pick(g, 7);	/* add sub mul div min max copysign */
		exact = gen_expr(g, t);
		if (i == 6)	/* the sign of the second operand shows */
			gen_canon_if(g, t, gen_expr(g, t));
		else
			gen_expr(g, t);
		op(g, (uint8_t)((t == T_F32 ? 0x92 : 0xa0) + i));
		return i == 6 && exact;
	}
}

static void gen_compare(struct gen *g)
{
	uint8_t u = pick_num_type(g);

	if ((u == T_I32 || u == T_I64) && chance(g, 1, 6)) {
		gen_expr(g, u);
		op(g, u == T_I32 ? 0x45 : 0x50);	/* eqz */
		return;
	}
	gen_expr(g, u);
	gen_expr(g, u);
	switch (u) {
	case T_I32:
		op(g, (uint8_t)(0x46 + pick(g, 10)));
		break;
	case T_I64:
		op(g, (uint8_t)(0x51 + pick(g, 10)));
		break;
	case T_F32:
		op(g, (uint8_t)(0x5b + pick(g, 6)));
		break;
	default:
		op(g, (uint8_t)(0x61 + pick(g, 6)));
		break;
	}
}

enum {
	X_LEAF, X_UNARY, X_BINARY, X_COMPARE, X_CONVERT, X_LOAD, X_TEE, X_SELECT,
	X_BLOCK, X_IF, X_LOOP, X_CALL, X_CALL_INDIRECT, X_BR, X_BR_IF, X_BR_TABLE,
	X_RETURN, X_MEMORY_SIZE, X_MEMORY_GROW, X_TABLE_SIZE, X_TABLE_GROW, X_IS_NULL,
	X_SEQ, X_N
};

/* Results R of a block or call folded into t. */
static int gen_expr_block(struct gen *g, int kind, uint8_t t)
{
	uint8_t r[GEN_MAX_VALS];
	uint8_t nr = 1;

	r[0] = t;
	if (chance(g, 1, 4))
		random_vals(g, r, &nr, GEN_MAX_VALS);
	if (gen_block(g, kind, r, nr) < 0)
		return gen_leaf(g, t);
	gen_fold(g, r, nr, t);
	return 0;
}

static int gen_expr_choice(struct gen *g, uint8_t t, unsigned x)
{
	struct gen_label lab;
	uint32_t l;
	int c, exact;

	switch (x) {
	case X_UNARY:
		return gen_unary(g, t);
	case X_BINARY:
		return gen_binary(g, t);
	case X_COMPARE:
		gen_compare(g);
		return 1;
	case X_CONVERT:
		return gen_convert(g, t);
	case X_LOAD:
		return gen_load(g, t);
	case X_TEE:
		l = local_pick(g, t);
		exact = gen_expr(g, t);
		op(g, 0x22);
		imm(g, l);
		return exact;
	case X_SELECT:
		exact = gen_expr(g, t);
		exact &= gen_expr(g, t);
		gen_expr(g, T_I32);
		if (chance(g, 1, 2)) {
			op(g, 0x1c);
			imm(g, 1);
			imm_u8(g, t);
		} else {
			op(g, 0x1b);
		}
		return exact;
	case X_BLOCK:
		return gen_expr_block(g, B_BLOCK, t);
	case X_IF:
		return gen_expr_block(g, B_IF, t);
	case X_LOOP:
		return gen_expr_block(g, B_LOOP, t);
	case X_CALL:
		c = gen_call(g);
		if (c < 0)
			return gen_leaf(g, t);
		gen_fold(g, g->types[g->func_type[c]].r, g->types[g->func_type[c]].nr, t);
		return 0;
	case X_CALL_INDIRECT:
		c = gen_call_indirect(g);
		if (c < 0)
			return gen_leaf(g, t);
		gen_fold(g, g->types[c].r, g->types[c].nr, t);
		return 0;
	case X_BR:
		gen_br(g, t);
		return 0;
	case X_BR_IF:
		lab = gen_br_if(g);
		gen_fold(g, lab.t, lab.n, t);
		return 0;
	case X_BR_TABLE:
		gen_br_table(g, t);
		return 0;
	case X_RETURN:
		gen_return(g, t);
		return 0;
	case X_MEMORY_SIZE:
		op(g, 0x3f);
		imm_u8(g, 0);
		return 1;
	case X_MEMORY_GROW:
		gen_mem_delta(g);
		op(g, 0x40);
		imm_u8(g, 0);
		return 1;
	case X_TABLE_SIZE:
		op_fc(g, 16);
		imm(g, 0);
		return 1;
	case X_TABLE_GROW:
		gen_ref(g);
		gen_tab_delta(g);
		op_fc(g, 15);
		imm(g, 0);
		return 1;
	case X_IS_NULL:
		gen_ref(g);
		op(g, 0xd1);
		return 1;
	case X_SEQ:
		gen_stmt(g);
		return gen_expr(g, t);
	default:
		return gen_leaf(g, t);
	}
}

/* Code that leaves one value of type t. Returns whether its bits are
 * exact (see gen_leaf). */
static int gen_expr(struct gen *g, uint8_t t)
{
	uint8_t w[X_N];
	int exact;

	if (g->depth >= GEN_MAX_DEPTH || !afford(g, 32))
		return gen_leaf(g, t);
	memset(w, 0, sizeof(w));
	w[X_LEAF] = (uint8_t)(16 + 8 * g->depth);
	w[X_UNARY] = 8;
	w[X_BINARY] = 20;
	w[X_CONVERT] = 10;
	w[X_TEE] = 4;
	w[X_SELECT] = 4;
	w[X_SEQ] = 6;
	/* unconditional branches end the function early: rare */
	w[X_BR] = 1;
	w[X_BR_IF] = 4;
	w[X_BR_TABLE] = 1;
	w[X_RETURN] = 1;
	if (t == T_I32)
		w[X_COMPARE] = 10;
	if (g->has_mem) {
		w[X_LOAD] = 12;
		if (t == T_I32) {
			w[X_MEMORY_SIZE] = 1;
			w[X_MEMORY_GROW] = 2;
		}
	}
	if (g->has_table && t == T_I32)
		w[X_TABLE_SIZE] = w[X_TABLE_GROW] = 1;
	if (t == T_I32)
		w[X_IS_NULL] = 1;
	if (g->n_labels + 3 <= GEN_MAX_LABELS)
		w[X_BLOCK] = w[X_IF] = w[X_LOOP] = 4;
	if (g->fn + 1 < g->n_funcs)
		w[X_CALL] = 8;
	if (g->has_table && g->fn < g->tier)
		w[X_CALL_INDIRECT] = 5;
	g->depth++;
	exact = gen_expr_choice(g, t, pick_weighted(g, w, X_N));
	g->depth--;
	return exact;
}

/* ---- statements ---- */

enum {
	S_NOP, S_LOCAL_SET, S_GLOBAL_SET, S_STORE, S_DROP, S_BLOCK, S_IF, S_LOOP,
	S_BR, S_BR_IF, S_BR_TABLE, S_CALL, S_CALL_INDIRECT, S_FILL, S_COPY, S_INIT,
	S_DATA_DROP, S_TABLE_SET, S_TABLE_FILL, S_TABLE_COPY, S_TABLE_INIT, S_ELEM_DROP,
	S_UNREACHABLE, S_RETURN, S_REF_SET, S_N
};

/* A data (or element) segment, mostly a passive one: the others are
 * dropped once instantiation has used them. */
static uint32_t seg_pick(struct gen *g, uint32_t n, int elem)
{
	uint32_t cand[GEN_MAX_ELEMS + GEN_MAX_DATA], nc = 0, i;

	for (i = 0; i < n; i++)
		if (elem ? g->elems[i].mode == SEG_PASSIVE : g->data[i].passive)
			cand[nc++] = i;
	if (nc && !chance(g, 1, 8))
		return cand[pick(g, nc)];
	return pick(g, n);
}

static void gen_stmt_choice(struct gen *g, unsigned s)
{
	struct gen_label lab;
	uint8_t t;
	int c;

	switch (s) {
	case S_LOCAL_SET:
		t = pick_num_type(g);
		gen_expr(g, t);
		op(g, 0x21);
		imm(g, local_pick(g, t));
		break;
	case S_GLOBAL_SET:
		c = gen_global_of(g, pick_num_type(g), 1);
		if (c < 0)
			break;
		gen_expr(g, g->globals[c].type);
		op(g, 0x24);
		imm(g, (uint32_t)c);
		break;
	case S_STORE:
		gen_store(g);
		break;
	case S_DROP:
		gen_expr(g, pick_num_type(g));
		op(g, 0x1a);
		break;
	case S_BLOCK:
	case S_IF:
	case S_LOOP:
		gen_block(g, s == S_BLOCK ? B_BLOCK : s == S_IF ? B_IF : B_LOOP, NULL, 0);
		break;
	case S_BR:
		gen_br(g, 0);
		break;
	case S_BR_IF:
		lab = gen_br_if(g);
		gen_consume(g, lab.t, lab.n);
		break;
	case S_BR_TABLE:
		gen_br_table(g, 0);
		break;
	case S_CALL:
		c = gen_call(g);
		if (c >= 0)
			gen_consume(g, g->types[g->func_type[c]].r, g->types[g->func_type[c]].nr);
		break;
	case S_CALL_INDIRECT:
		c = gen_call_indirect(g);
		if (c >= 0)
			gen_consume(g, g->types[c].r, g->types[c].nr);
		break;
	case S_FILL:
		gen_addr(g, 1);
		gen_expr(g, T_I32);
		gen_len(g, 0);
		op_fc(g, 11);
		imm_u8(g, 0);
		g->cost += g->mult * 16;
		break;
	case S_COPY:
		gen_addr(g, 1);
		gen_addr(g, 1);
		gen_len(g, 0);
		op_fc(g, 10);
		imm_u8(g, 0);
		imm_u8(g, 0);
		g->cost += g->mult * 16;
		break;
	case S_INIT:
		c = (int)seg_pick(g, g->n_data, 0);
		gen_addr(g, 1);
		if (chance(g, 1, 8)) {
			gen_expr(g, T_I32);
			gen_len(g, 0);
		} else {	/* within the segment */
			uint32_t from = pick(g, g->data[c].len + 1);

			code_const(g, T_I32, from);
			code_const(g, T_I32, pick(g, g->data[c].len - from + 1));
		}
		op_fc(g, 8);
		imm(g, (uint32_t)c);
		imm_u8(g, 0);
		g->cost += g->mult * 16;
		break;
	case S_DATA_DROP:
		op_fc(g, 9);
		imm(g, pick(g, g->n_data));
		break;
	case S_TABLE_SET:
		gen_tab_index(g);
		gen_ref(g);
		op(g, 0x26);
		imm(g, 0);
		break;
	case S_TABLE_FILL:
		gen_tab_index(g);
		gen_ref(g);
		gen_len(g, 1);
		op_fc(g, 17);
		imm(g, 0);
		break;
	case S_TABLE_COPY:
		gen_tab_index(g);
		gen_tab_index(g);
		gen_len(g, 1);
		op_fc(g, 14);
		imm(g, 0);
		imm(g, 0);
		break;
	case S_TABLE_INIT:
		c = (int)seg_pick(g, g->n_elems, 1);
		gen_tab_index(g);
		if (chance(g, 1, 8)) {
			code_const(g, T_I32, pick(g, GEN_MAX_SEG_FUNCS + 2));
			gen_len(g, 1);
		} else {	/* within the segment */
			uint32_t from = pick(g, g->elems[c].n + 1);

			code_const(g, T_I32, from);
			code_const(g, T_I32, pick(g, g->elems[c].n - from + 1));
		}
		op_fc(g, 12);
		imm(g, (uint32_t)c);
		imm(g, 0);
		break;
	case S_ELEM_DROP:
		op_fc(g, 13);
		imm(g, pick(g, g->n_elems));
		break;
	case S_REF_SET:
		gen_ref(g);
		c = gen_global_of(g, T_FUNCREF, 1);
		if (c >= 0 && chance(g, 1, 2)) {
			op(g, 0x24);
			imm(g, (uint32_t)c);
		} else {
			op(g, 0x21);
			imm(g, local_pick(g, T_FUNCREF));
		}
		break;
	case S_UNREACHABLE:
		op(g, 0x00);
		gen_dead_tail(g, 0);
		break;
	case S_RETURN:
		gen_return(g, 0);
		break;
	default:
		if (chance(g, 1, 2))
			op(g, 0x01);	/* nop */
		break;
	}
}

/* Code that leaves the stack as it found it (or never finishes). */
static void gen_stmt(struct gen *g)
{
	uint8_t w[S_N];

	if (g->depth >= GEN_MAX_DEPTH || !afford(g, 32))
		return;
	memset(w, 0, sizeof(w));
	w[S_NOP] = (uint8_t)(8 + 4 * g->depth);
	w[S_LOCAL_SET] = 14;
	w[S_GLOBAL_SET] = g->n_globals ? 6 : 0;
	w[S_DROP] = 4;
	w[S_BR] = 1;
	w[S_BR_IF] = 6;
	w[S_BR_TABLE] = 1;
	w[S_RETURN] = 1;
	w[S_UNREACHABLE] = g->depth >= 2;
	if (g->n_labels + 3 <= GEN_MAX_LABELS) {
		w[S_BLOCK] = 4;
		w[S_IF] = w[S_LOOP] = 6;
	}
	if (g->fn + 1 < g->n_funcs)
		w[S_CALL] = 6;
	if (g->has_table && g->fn < g->tier)
		w[S_CALL_INDIRECT] = 4;
	if (g->has_mem) {
		w[S_STORE] = 14;
		w[S_FILL] = w[S_COPY] = 2;
		if (g->n_data)
			w[S_INIT] = 3;
	}
	if (g->n_data)
		w[S_DATA_DROP] = 1;
	if (g->has_table) {
		w[S_TABLE_SET] = w[S_TABLE_FILL] = w[S_TABLE_COPY] = 1;
		if (g->n_elems)
			w[S_TABLE_INIT] = 1;
	}
	if (g->n_elems)
		w[S_ELEM_DROP] = 1;
	w[S_REF_SET] = 1;
	g->depth++;
	gen_stmt_choice(g, pick_weighted(g, w, S_N));
	g->depth--;
}

/* ---- functions and the module ---- */

/* Mixes a few locals and globals into an export's result (of type t,
 * on top of the stack), so that more of the state is compared. */
static void gen_observe(struct gen *g, uint8_t t)
{
	unsigned n = pick(g, 5), i;

	for (i = 0; i < n; i++) {
		uint32_t x;
		uint8_t u;

		if (g->n_globals && chance(g, 1, 3)) {
			x = pick(g, g->n_globals);
			u = g->globals[x].type;
			if (u == T_FUNCREF)
				continue;
			op(g, 0x23);
		} else {
			x = pick(g, g->n_locals);
			u = g->local_type[x];
			if (u == T_FUNCREF)
				continue;
			op(g, 0x20);
		}
		imm(g, x);
		gen_coerce(g, u, t, 0);
		gen_combine(g, t);
	}
}

static void gen_function(struct gen *g, uint32_t fn)
{
	const struct gen_type *ft = &g->types[g->func_type[fn]];
	struct buf *b = &g->body[fn];
	uint32_t i, runs, n_extra;

	g->fn = fn;
	buf_reset(&g->code);
	g->n_locals = 0;
	for (i = 0; i < ft->np; i++)
		local_new(g, ft->p[i], 0);
	g->n_params = g->n_locals;
	for (i = 0; i < 4; i++)	/* one of each type for canonicalising */
		local_new(g, num_types[i], 0);
	local_new(g, T_FUNCREF, 0);	/* so that local_pick always finds one */
	n_extra = pick(g, 5);
	for (i = 0; i < n_extra; i++)
		local_new(g, pick_num_type(g), 0);
	g->n_labels = 0;
	label_push(g, ft->r, ft->nr);
	g->cost = 0;
	g->mult = 1;
	g->depth = 0;
	gen_body(g, NULL, 0, ft->r, ft->nr, 2, 8, 0);
	if (fn < g->n_exports)
		gen_observe(g, ft->r[0]);
	op(g, 0x0b);
	g->func_cost[fn] = g->cost;

	/* the locals, in runs of one type */
	runs = 0;
	for (i = g->n_params; i < g->n_locals; i++)
		if (i == g->n_params || g->local_type[i] != g->local_type[i - 1])
			runs++;
	put_uleb(g, b, runs);
	for (i = g->n_params; i < g->n_locals;) {
		uint32_t j = i;

		while (j < g->n_locals && g->local_type[j] == g->local_type[i])
			j++;
		put_uleb(g, b, j - i);
		put_u8(g, b, g->local_type[i]);
		i = j;
	}
	put_bytes(g, b, g->code.data, g->code.len);
}

static void gen_segments(struct gen *g)
{
	uint32_t i, j, n, ntier = n_tier_funcs(g);
	struct gen_elem *e;

	g->n_data = pick(g, GEN_MAX_DATA + 1);
	for (i = 0; i < g->n_data; i++) {
		struct gen_data *d = &g->data[i];

		d->len = pick(g, GEN_MAX_DATA_BYTES + 1);
		for (j = 0; j < d->len; j++)
			d->bytes[j] = (uint8_t)gen_byte(g);
		d->passive = !g->has_mem || mem_bytes(g) < d->len || chance(g, 1, 2);
		d->explicit_mem = chance(g, 1, 4);
		if (!d->passive)
			d->offset = chance(g, 1, 3) ? mem_bytes(g) - d->len :
				    pick(g, 256) % (mem_bytes(g) - d->len + 1);
	}

	g->n_elems = 0;
	if (g->has_table) {
		e = &g->elems[g->n_elems++];
		e->mode = SEG_ACTIVE;
		e->exprs = !ntier || chance(g, 1, 3);
		e->explicit_table = chance(g, 1, 4);
		n = g->tab_min < GEN_MAX_SEG_FUNCS ? g->tab_min : GEN_MAX_SEG_FUNCS;
		e->n = chance(g, 1, 2) ? n : pick(g, n + 1);
		e->offset = pick(g, g->tab_min - e->n + 1);
		for (j = 0; j < e->n; j++)
			e->funcs[j] = ntier && !(e->exprs && chance(g, 1, 4)) ?
				      (int32_t)(g->tier + pick(g, ntier)) : -1;
		n = pick(g, 3);
		for (i = 0; i < n; i++) {
			e = &g->elems[g->n_elems++];
			e->mode = SEG_PASSIVE;
			e->exprs = !ntier || chance(g, 1, 3);
			e->n = pick(g, GEN_MAX_SEG_FUNCS + 1);
			for (j = 0; j < e->n; j++)
				e->funcs[j] = ntier && !(e->exprs && chance(g, 1, 4)) ?
					      (int32_t)(g->tier + pick(g, ntier)) : -1;
		}
	}
	if (ntier) {	/* lets ref.func name every function of the tier */
		e = &g->elems[g->n_elems++];
		e->mode = SEG_DECLARATIVE;
		e->exprs = chance(g, 1, 3);
		e->n = ntier;
		for (j = 0; j < ntier; j++)
			e->funcs[j] = (int32_t)(g->tier + j);
	}
}

/* How many functions, of which types; memory, table, globals, segments. */
static void gen_shape(struct gen *g)
{
	struct gen_type t;
	uint32_t i, max_exports;

	memset(&t, 0, sizeof(t));
	t.nr = 1;
	t.r[0] = T_I64;
	type_add(g, &t, 1);	/* 0: () -> i64 */
	t.r[0] = T_I32;
	type_add(g, &t, 1);	/* 1: () -> i32 */
	g->n_funcs = 2 + pick(g, GEN_MAX_FUNCS - 1);
	max_exports = g->n_funcs < 4 ? g->n_funcs : 4;
	g->n_exports = 1 + pick(g, max_exports);
	for (i = 0; i < g->n_funcs; i++) {
		int x;

		if (i < g->n_exports) {
			g->func_type[i] = chance(g, 1, 4);
			continue;
		}
		random_vals(g, t.p, &t.np, GEN_MAX_VALS);
		random_vals(g, t.r, &t.nr, GEN_MAX_VALS);
		x = type_add(g, &t, chance(g, 1, 4));
		g->func_type[i] = x < 0 ? 0 : (uint32_t)x;
	}
	g->tier = 1 + pick(g, g->n_funcs);

	g->has_mem = !chance(g, 1, 8);
	g->mem_min = pick(g, 16) == 15 ? 0 : 1 + chance(g, 1, 4);
	g->mem_has_max = chance(g, 2, 3);
	g->mem_max = g->mem_min + pick(g, 5);

	g->has_table = !chance(g, 1, 4);
	g->tab_min = pick(g, 9);
	g->tab_has_max = chance(g, 1, 2);
	g->tab_max = g->tab_min + pick(g, 9);

	g->n_globals = pick(g, GEN_MAX_GLOBALS + 1);
	for (i = 0; i < g->n_globals; i++) {
		g->globals[i].type = chance(g, 1, 6) ? T_FUNCREF : pick_num_type(g);
		g->globals[i].mut = chance(g, 2, 3);
		if (g->globals[i].type != T_FUNCREF)
			g->globals[i].init = gen_const_bits(g, g->globals[i].type);
		else if (n_tier_funcs(g) && chance(g, 1, 2))
			g->globals[i].init = g->tier + pick(g, n_tier_funcs(g));
		else
			g->globals[i].init = UINT64_MAX;	/* ref.null */
	}
	gen_segments(g);
}

static void put_limits(struct gen *g, struct buf *b, uint32_t min, int has_max, uint32_t max)
{
	put_u8(g, b, has_max ? 1 : 0);
	put_uleb(g, b, min);
	if (has_max)
		put_uleb(g, b, max);
}

static void put_section(struct gen *g, struct buf *out, uint8_t id, struct buf *s)
{
	put_u8(g, out, id);
	put_uleb(g, out, s->len);
	put_bytes(g, out, s->data, s->len);
	buf_reset(s);
}

static void put_elem(struct gen *g, struct buf *b, const struct gen_elem *e)
{
	uint32_t j;
	/* flags: bit 0 passive or declarative, bit 1 explicit table or
	 * declarative, bit 2 expressions */
	uint8_t flags = (uint8_t)(e->exprs ? 4 : 0);

	if (e->mode == SEG_PASSIVE)
		flags |= 1;
	else if (e->mode == SEG_DECLARATIVE)
		flags |= 3;
	else if (e->explicit_table)
		flags |= 2;
	put_uleb(g, b, flags);
	if (e->mode == SEG_ACTIVE) {
		if (e->explicit_table)
			put_uleb(g, b, 0);
		put_const(g, b, T_I32, e->offset);
		put_u8(g, b, 0x0b);
	}
	if (flags & 3)
		put_u8(g, b, e->exprs ? T_FUNCREF : 0x00);	/* reftype or elemkind */
	put_uleb(g, b, e->n);
	for (j = 0; j < e->n; j++) {
		if (!e->exprs) {
			put_uleb(g, b, (uint32_t)e->funcs[j]);
		} else if (e->funcs[j] < 0) {
			put_u8(g, b, 0xd0);
			put_u8(g, b, T_FUNCREF);
			put_u8(g, b, 0x0b);
		} else {
			put_u8(g, b, 0xd2);
			put_uleb(g, b, (uint32_t)e->funcs[j]);
			put_u8(g, b, 0x0b);
		}
	}
}

static void gen_assemble(struct gen *g, struct buf *out)
{
	static const uint8_t header[8] = { 0, 'a', 's', 'm', 1, 0, 0, 0 };
	struct buf s = BUF_INIT;
	uint32_t i, j;
	char name[16];

	put_bytes(g, out, header, sizeof(header));

	put_uleb(g, &s, g->n_types);
	for (i = 0; i < g->n_types; i++) {
		const struct gen_type *t = &g->types[i];

		put_u8(g, &s, 0x60);
		put_uleb(g, &s, t->np);
		put_bytes(g, &s, t->p, t->np);
		put_uleb(g, &s, t->nr);
		put_bytes(g, &s, t->r, t->nr);
	}
	put_section(g, out, 1, &s);

	put_uleb(g, &s, g->n_funcs);
	for (i = 0; i < g->n_funcs; i++)
		put_uleb(g, &s, g->func_type[i]);
	put_section(g, out, 3, &s);

	if (g->has_table) {
		put_uleb(g, &s, 1);
		put_u8(g, &s, T_FUNCREF);
		put_limits(g, &s, g->tab_min, g->tab_has_max, g->tab_max);
		put_section(g, out, 4, &s);
	}
	if (g->has_mem) {
		put_uleb(g, &s, 1);
		put_limits(g, &s, g->mem_min, g->mem_has_max, g->mem_max);
		put_section(g, out, 5, &s);
	}
	if (g->n_globals) {
		put_uleb(g, &s, g->n_globals);
		for (i = 0; i < g->n_globals; i++) {
			put_u8(g, &s, g->globals[i].type);
			put_u8(g, &s, g->globals[i].mut);
			if (g->globals[i].type != T_FUNCREF) {
				put_const(g, &s, g->globals[i].type, g->globals[i].init);
			} else if (g->globals[i].init == UINT64_MAX) {
				put_u8(g, &s, 0xd0);
				put_u8(g, &s, T_FUNCREF);
			} else {
				put_u8(g, &s, 0xd2);
				put_uleb(g, &s, g->globals[i].init);
			}
			put_u8(g, &s, 0x0b);
		}
		put_section(g, out, 6, &s);
	}

	put_uleb(g, &s, g->n_exports);
	for (i = 0; i < g->n_exports; i++) {
		size_t len = (size_t)snprintf(name, sizeof(name), "e%u", (unsigned)i);

		put_uleb(g, &s, len);
		put_bytes(g, &s, name, len);
		put_u8(g, &s, 0x00);
		put_uleb(g, &s, i);
	}
	put_section(g, out, 7, &s);

	if (g->n_elems) {
		put_uleb(g, &s, g->n_elems);
		for (i = 0; i < g->n_elems; i++)
			put_elem(g, &s, &g->elems[i]);
		put_section(g, out, 9, &s);
	}
	if (g->n_data) {
		put_uleb(g, &s, g->n_data);
		put_section(g, out, 12, &s);	/* data count */
	}

	put_uleb(g, &s, g->n_funcs);
	for (i = 0; i < g->n_funcs; i++) {
		put_uleb(g, &s, g->body[i].len);
		put_bytes(g, &s, g->body[i].data, g->body[i].len);
	}
	put_section(g, out, 10, &s);

	if (g->n_data) {
		put_uleb(g, &s, g->n_data);
		for (i = 0; i < g->n_data; i++) {
			const struct gen_data *d = &g->data[i];

			if (d->passive) {
				put_u8(g, &s, 1);
			} else {
				put_u8(g, &s, d->explicit_mem ? 2 : 0);
				if (d->explicit_mem)
					put_uleb(g, &s, 0);
				put_const(g, &s, T_I32, d->offset);
				put_u8(g, &s, 0x0b);
			}
			put_uleb(g, &s, d->len);
			for (j = 0; j < d->len; j++)
				put_u8(g, &s, d->bytes[j]);
		}
		put_section(g, out, 11, &s);
	}
	buf_free(&s);
}

int wasm_gen_module(const uint8_t *data, size_t len, struct buf *out)
{
	struct gen *g = calloc(1, sizeof(*g));
	size_t base, share;
	uint32_t i;
	int rc;

	if (!g)
		return -1;
	g->in = data;
	g->in_len = len;
	gen_shape(g);
	/* Each function gets its own share of the rest of the input: they
	 * are generated last to first (callees first, for their costs), and
	 * the exports, which come first, must not be left with nothing. */
	base = g->in_pos;
	share = (len - base) / g->n_funcs;
	for (i = g->n_funcs; i-- > 0;) {
		g->in_pos = base + i * share;
		g->in_len = i + 1 == g->n_funcs ? len : base + (i + 1) * share;
		gen_function(g, i);
	}
	gen_assemble(g, out);
	rc = g->oom ? -1 : 0;
	for (i = 0; i < GEN_MAX_FUNCS; i++)
		buf_free(&g->body[i]);
	buf_free(&g->code);
	free(g);
	return rc;
}
