/* compile: validates one function body and translates it, in the same
 * pass, into the internal register code (see wasm_internal.h).
 *
 * Validation is the spec's algorithm (operand stack of types, control
 * stack of frames, polymorphic stack after unconditional branches). The
 * operand stack entries double as the translator's knowledge of where each
 * value is: in its home slot, still in a local (local.get emits nothing),
 * or a constant (i32.const emits nothing). An instruction reads its
 * operands wherever they are and writes its result to the home slot of its
 * stack position, so
 *
 *   local.get 0; local.get 1; i32.add; local.set 2   ->  I32_ADD  2, 0, 1
 *   local.get 0; i32.const 1; i32.sub; local.set 0   ->  I32_SUB_IMM 0, 0, 1
 *   local.get 0; local.get 1; i32.lt_s; br_if 0      ->  BR_I32_LT_S 0, 1, L
 *
 * Rules keeping this correct:
 *   - a deferred local.get must see the value of the local when it was
 *     read: before a local is written while such references are on the
 *     stack, every deferred entry is copied to its home slot;
 *   - at every control-flow boundary (block, loop, if, else, end, calls
 *     and branches for the values they carry) values live in home slots,
 *     so all paths into a label agree on where the values are;
 *   - rewriting an instruction already emitted (retargeting its result to
 *     a local, fusing it with the next: compare + branch, (x >> k) & m,
 *     a * b + c) happens only when it is the last instruction and no
 *     label lies after its start.
 *
 * Integer operations on two constants are folded, identities (x + 0,
 * x * 1, ...) vanish. Dead code (after br, return, unreachable) is
 * validated but not emitted. */
#include "wasm/wasm_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

#define WC_MAX_WORDS ((size_t)64 << 20)	/* per function: 256 MiB of code */

enum { WC_HOME, WC_LOCAL, WC_CONST };

struct wc_opnd {
	uint8_t type;
	uint8_t kind;
	uint32_t slot;		/* HOME, LOCAL */
	uint64_t val;		/* CONST */
};

struct wc_ctrl {
	uint32_t op;			/* block, loop, if; 0 for the function */
	uint32_t n_params, n_results;
	const uint8_t *params, *results;
	uint32_t height;		/* stack height under the params */
	uint8_t unreachable;		/* the validator's flag */
	uint8_t entry_dead;		/* entered in dead code */
	uint8_t has_else;
	uint32_t loop_pos;		/* loop: its first instruction */
	uint32_t fixups;		/* forward branches to the end: chain */
	uint32_t else_fixup;		/* if: the branch to else */
	uint32_t fuel_word;		/* loop: its FUEL amount */
	uint32_t fuel_owner;		/* the frame counting our instructions */
	uint32_t fuel_count;
	uint32_t stub_stamp, stub_pos;	/* br_table stubs shared per label */
	uint32_t check_stamp;		/* br_table: label checked already */
	uint8_t stub_moves;		/* br_table: the label needs moves */
};

struct wc {
	struct assay_wasm_module *m;
	struct wasm_func *f;
	const struct wasm_functype *ft;
	uint32_t fidx;
	struct wasm_reader r;
	const uint8_t *instr_at;	/* the instruction being translated */
	const int32_t *h;		/* handler offsets */
	char *err;
	size_t errlen;
	int failed;

	uint32_t *code;
	size_t n, cap;

	struct wc_opnd *st;
	uint32_t sp, st_cap, max_height;
	uint32_t mat;			/* entries below are all in home slots */

	struct wc_ctrl *cs;
	uint32_t csp, cs_cap;

	uint32_t n_locals;
	const uint8_t *ltypes;
	uint32_t *lrefs;		/* deferred local.get entries per local */

	uint32_t const_cap, n_consts;
	uint64_t *consts;
	uint32_t *const_hash;		/* 1 + index, 0 empty */
	uint32_t hash_mask;		/* the table's size (a power of 2) - 1 */
	uint32_t stack_base;

	int dead;
	uint32_t label_pos;		/* the last position branched to */

	/* The last instruction's result, for retargeting it; and what the
	 * last numeric instruction was, for fusing it with the next. */
	uint32_t res_start, res_end, res_word, res_idx;
	uint32_t res_xop, res_a, res_b;
	/* The last i32 compare (or eqz), for fusing it into a branch. */
	uint32_t cmp_start, cmp_end, cmp_idx, cmp_xop, cmp_a, cmp_b;
	uint32_t stub_stamp;
	uint32_t entry_fuel;		/* charged by the calls into the function */
};

/* ---- errors ---- */

static void wc_fail(struct wc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wc_fail(struct wc *c, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	if (c->failed)
		return;
	c->failed = 1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	error_set(c->err, c->errlen, "invalid: %s at function %u offset 0x%zx", msg, c->fidx,
		  (size_t)(c->instr_at - c->m->bytes));
}

/* ---- code emission ---- */

static void wc_emit(struct wc *c, uint32_t w)
{
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 256;
		uint32_t *nc;

		if (ncap > WC_MAX_WORDS) {
			wc_fail(c, "function too large to translate");
			c->n = 0;
			return;
		}
		nc = realloc(c->code, ncap * sizeof(*nc));
		if (!nc) {
			wc_fail(c, "out of memory");
			c->n = 0;
			return;
		}
		c->code = nc;
		c->cap = ncap;
	}
	c->code[c->n++] = w;
}

static void wc_op(struct wc *c, enum wasm_xop x)
{
	wc_emit(c, (uint32_t)c->h[x]);
}

static void wc_emit64(struct wc *c, uint64_t v)
{
	wc_emit(c, (uint32_t)v);
	wc_emit(c, (uint32_t)(v >> 32));
}

/* A branch offset word to a known target (loops). */
static void wc_emit_back(struct wc *c, uint32_t target)
{
	wc_emit(c, (uint32_t)(int32_t)((int64_t)target - (int64_t)c->n));
}

/* A branch offset word to be patched: chained through the words. */
static void wc_emit_fixup(struct wc *c, uint32_t *chain)
{
	uint32_t pos = (uint32_t)c->n;

	wc_emit(c, *chain);
	*chain = pos + 1;
}

static void wc_patch_chain(struct wc *c, uint32_t chain, uint32_t target)
{
	while (chain && !c->failed) {
		uint32_t pos = chain - 1;

		chain = c->code[pos];
		c->code[pos] = (uint32_t)(int32_t)((int64_t)target - (int64_t)pos);
	}
}

static void wc_label_here(struct wc *c)
{
	c->label_pos = (uint32_t)c->n;
}

/* ---- constants ---- */

static uint32_t wc_hash64(uint64_t v)
{
	v ^= v >> 33;
	v *= 0xff51afd7ed558ccdull;
	v ^= v >> 33;
	return (uint32_t)v;
}

/* The slot of a pooled constant, or UINT32_MAX when the pool is full. */
static uint32_t wc_const_slot(struct wc *c, uint64_t v)
{
	uint32_t mask, i;

	if (!c->const_cap)
		return UINT32_MAX;
	mask = c->hash_mask;
	for (i = wc_hash64(v) & mask;; i = (i + 1) & mask) {
		uint32_t k = c->const_hash[i];

		if (!k)
			break;
		if (c->consts[k - 1] == v)
			return c->n_locals + k - 1;
	}
	if (c->n_consts == c->const_cap)
		return UINT32_MAX;
	c->consts[c->n_consts++] = v;
	c->const_hash[i] = c->n_consts;
	return c->n_locals + c->n_consts - 1;
}

/* ---- the operand stack ---- */

static uint32_t wc_home(struct wc *c, uint32_t idx)
{
	return c->stack_base + idx;
}

static int wc_grow_stack(struct wc *c)
{
	uint32_t ncap = c->st_cap ? c->st_cap * 2 : 64;
	struct wc_opnd *ns = realloc(c->st, ncap * sizeof(*ns));

	if (!ns) {
		wc_fail(c, "out of memory");
		return -1;
	}
	c->st = ns;
	c->st_cap = ncap;
	return 0;
}

static struct wc_opnd *wc_push_entry(struct wc *c, uint8_t type, uint8_t kind)
{
	struct wc_opnd *e;

	if (c->sp == c->st_cap && wc_grow_stack(c) < 0)
		return NULL;
	e = &c->st[c->sp++];
	e->type = type;
	e->kind = kind;
	e->slot = kind == WC_HOME ? wc_home(c, c->sp - 1) : 0;
	e->val = 0;
	if (c->sp > c->max_height)
		c->max_height = c->sp;
	return e;
}

/* Pushes a result in its home slot; returns that slot. */
static uint32_t wc_push(struct wc *c, uint8_t type)
{
	struct wc_opnd *e = wc_push_entry(c, type, WC_HOME);

	return e ? e->slot : 0;
}

static void wc_push_local(struct wc *c, uint8_t type, uint32_t local)
{
	struct wc_opnd *e = wc_push_entry(c, type, WC_LOCAL);

	if (!e)
		return;
	e->slot = local;
	c->lrefs[local]++;
}

static void wc_push_const(struct wc *c, uint8_t type, uint64_t v)
{
	struct wc_opnd *e = wc_push_entry(c, type, WC_CONST);

	if (e)
		e->val = v;
}

/* Removes the top entry (its deferred local reference with it). */
static struct wc_opnd wc_take(struct wc *c)
{
	struct wc_opnd e = c->st[--c->sp];

	if (e.kind == WC_LOCAL)
		c->lrefs[e.slot]--;
	if (c->mat > c->sp)
		c->mat = c->sp;
	return e;
}

/* Pops a value of type want (WASM_T_UNKNOWN: any), the spec's pop_val. */
static struct wc_opnd wc_pop(struct wc *c, uint8_t want, uint32_t op)
{
	struct wc_ctrl *f = &c->cs[c->csp - 1];
	struct wc_opnd e;

	if (c->sp == f->height) {
		if (!f->unreachable)
			wc_fail(c, "type mismatch in %s: expected %s, but the stack is empty",
				wasm_op_name(op), wasm_type_name(want));
		memset(&e, 0, sizeof(e));
		e.type = WASM_T_UNKNOWN;
		e.slot = wc_home(c, c->sp);
		return e;
	}
	e = wc_take(c);
	if (want != WASM_T_UNKNOWN && e.type != WASM_T_UNKNOWN && e.type != want)
		wc_fail(c, "type mismatch in %s: expected %s, got %s", wasm_op_name(op),
			wasm_type_name(want), wasm_type_name(e.type));
	return e;
}

static void wc_truncate(struct wc *c, uint32_t height)
{
	while (c->sp > height)
		(void)wc_take(c);
}

static void wc_mov_imm(struct wc *c, uint32_t dst, uint8_t type, uint64_t v)
{
	if (type == WASM_T_I32 || type == WASM_T_F32) {
		wc_op(c, WASM_X_MOV_IMM32);
		wc_emit(c, dst);
		wc_emit(c, (uint32_t)v);
	} else {
		wc_op(c, WASM_X_MOV_IMM64);
		wc_emit(c, dst);
		wc_emit64(c, v);
	}
}

/* Copies entry idx to its home slot. */
static void wc_materialize(struct wc *c, uint32_t idx)
{
	struct wc_opnd *e = &c->st[idx];
	uint32_t home = wc_home(c, idx);

	if (e->kind == WC_HOME)
		return;
	if (!c->dead) {
		if (e->kind == WC_LOCAL) {
			wc_op(c, WASM_X_MOV);
			wc_emit(c, home);
			wc_emit(c, e->slot);
		} else {
			wc_mov_imm(c, home, e->type, e->val);
		}
	}
	if (e->kind == WC_LOCAL)
		c->lrefs[e->slot]--;
	e->kind = WC_HOME;
	e->slot = home;
}

static void wc_materialize_all(struct wc *c)
{
	uint32_t i;

	for (i = c->mat; i < c->sp; i++)
		wc_materialize(c, i);
	c->mat = c->sp;
}

/* The slot an operand (already popped, formerly at stack index idx) is
 * read from; a constant goes to the pool, or inline to its home slot. */
static uint32_t wc_slot(struct wc *c, const struct wc_opnd *e, uint32_t idx)
{
	uint32_t s;

	if (e->kind != WC_CONST)
		return e->slot;
	s = wc_const_slot(c, e->val);
	if (s != UINT32_MAX)
		return s;
	s = wc_home(c, idx);
	if (!c->dead)
		wc_mov_imm(c, s, e->type, e->val);
	return s;
}

/* Records that the instruction from start wrote its result to the home
 * slot of stack index idx through the word at res_word. */
static void wc_note_result(struct wc *c, uint32_t start, uint32_t word, uint32_t idx)
{
	c->res_start = start;
	c->res_word = word;
	c->res_end = (uint32_t)c->n;
	c->res_idx = idx;
	c->res_xop = WASM_X_COUNT;
}

/* Notes a numeric instruction x(a, b) just emitted, for fusion. */
static void wc_note_numeric(struct wc *c, enum wasm_xop x, uint32_t a, uint32_t b)
{
	c->res_xop = x;
	c->res_a = a;
	c->res_b = b;
}

/* Is the operand formerly at stack index idx the result of the last
 * instruction, an x, with nothing branching in between? */
static int wc_last_is(struct wc *c, const struct wc_opnd *e, uint32_t idx, enum wasm_xop x)
{
	return e->kind == WC_HOME && c->res_xop == (uint32_t)x && c->res_end &&
	       c->res_end == c->n && c->label_pos <= c->res_start && c->res_idx == idx;
}

static int wc_can_retarget(struct wc *c)
{
	return c->res_end && c->res_end == c->n && c->label_pos <= c->res_start &&
	       c->res_idx == c->sp;
}

/* ---- control frames ---- */

static const uint8_t wc_self_type[256] = {
	[WASM_T_I32] = WASM_T_I32, [WASM_T_I64] = WASM_T_I64,
	[WASM_T_F32] = WASM_T_F32, [WASM_T_F64] = WASM_T_F64,
	[WASM_T_FUNCREF] = WASM_T_FUNCREF, [WASM_T_EXTERNREF] = WASM_T_EXTERNREF,
};

static struct wc_ctrl *wc_push_ctrl(struct wc *c, uint32_t op)
{
	struct wc_ctrl *f;

	if (c->csp == c->cs_cap) {
		uint32_t ncap = c->cs_cap ? c->cs_cap * 2 : 16;
		struct wc_ctrl *ns = realloc(c->cs, ncap * sizeof(*ns));

		if (!ns) {
			wc_fail(c, "out of memory");
			return NULL;
		}
		c->cs = ns;
		c->cs_cap = ncap;
	}
	f = &c->cs[c->csp++];
	memset(f, 0, sizeof(*f));
	f->op = op;
	f->entry_dead = (uint8_t)c->dead;
	f->fuel_owner = c->csp - 1;
	if (op != WASM_OP_LOOP && c->csp > 1)
		f->fuel_owner = c->cs[c->csp - 2].fuel_owner;
	return f;
}

static uint32_t wc_label_arity(const struct wc_ctrl *f)
{
	return f->op == WASM_OP_LOOP ? f->n_params : f->n_results;
}

static const uint8_t *wc_label_types(const struct wc_ctrl *f)
{
	return f->op == WASM_OP_LOOP ? f->params : f->results;
}

static void wc_unreachable(struct wc *c)
{
	struct wc_ctrl *f = &c->cs[c->csp - 1];

	wc_truncate(c, f->height);
	f->unreachable = 1;
	c->dead = 1;
}

/* The block type of block/loop/if. */
static int wc_blocktype(struct wc *c, const struct wasm_instr *in, struct wc_ctrl *f)
{
	if (in->blocktype == -1)
		return 0;
	if (in->blocktype == -2) {
		f->n_results = 1;
		f->results = &wc_self_type[in->type];
		return 0;
	}
	if (in->blocktype >= c->m->n_types) {
		wc_fail(c, "unknown type %lld in %s", (long long)in->blocktype,
			wasm_op_name(in->op));
		return -1;
	}
	{
		const struct wasm_functype *t = &c->m->types[in->blocktype];

		f->n_params = t->n_params;
		f->n_results = t->n_results;
		f->params = t->types;
		f->results = t->types + t->n_params;
	}
	return 0;
}

/* Checks (and keeps) the top n entries against types, the spec's
 * push_vals(pop_vals(types)); with retype, unknown entries become the
 * expected types (br_if's push of the label types). */
static void wc_check_top(struct wc *c, const uint8_t *types, uint32_t n, uint32_t op,
			 int retype)
{
	struct wc_opnd small[8], *saved = small;
	uint32_t i;

	if (n > 8) {
		saved = malloc(n * sizeof(*saved));
		if (!saved) {
			wc_fail(c, "out of memory");
			return;
		}
	}
	for (i = n; i-- > 0;)
		saved[i] = wc_pop(c, types[i], op);
	for (i = 0; i < n && !c->failed; i++) {
		struct wc_opnd *e = wc_push_entry(c, saved[i].type, saved[i].kind);

		if (!e)
			break;
		if (retype)
			e->type = types[i];
		if (saved[i].kind != WC_HOME)
			e->slot = saved[i].slot;
		e->val = saved[i].val;
		if (e->kind == WC_LOCAL)
			c->lrefs[e->slot]++;
	}
	if (saved != small)
		free(saved);
}

/* Checks and drops the top n entries against types (the spec's pop_vals
 * before an unconditional branch); costs only what the stack holds. */
static void wc_pop_types(struct wc *c, const uint8_t *types, uint32_t n, uint32_t op)
{
	struct wc_ctrl *f = &c->cs[c->csp - 1];
	uint32_t i;

	for (i = n; i-- > 0 && !c->failed;) {
		if (c->sp == f->height && f->unreachable)
			return;		/* the rest comes from the polymorphic base */
		(void)wc_pop(c, types[i], op);
	}
}

/* Does a branch to frame f need to move the values it carries? */
static int wc_needs_moves(struct wc *c, const struct wc_ctrl *f)
{
	uint32_t n = wc_label_arity(f), i;

	for (i = 0; i < n; i++) {
		const struct wc_opnd *e = &c->st[c->sp - n + i];

		if (e->kind != WC_HOME || e->slot != wc_home(c, f->height + i))
			return 1;
	}
	return 0;
}

/* Moves the top values to frame f's label slots. Sources are never below
 * their targets, so copying upwards from the first is safe. */
static void wc_emit_moves(struct wc *c, const struct wc_ctrl *f)
{
	uint32_t n = wc_label_arity(f), i;

	for (i = 0; i < n; i++) {
		const struct wc_opnd *e = &c->st[c->sp - n + i];
		uint32_t dst = wc_home(c, f->height + i);

		if (e->kind == WC_CONST) {
			wc_mov_imm(c, dst, e->type, e->val);
		} else if (e->slot != dst) {
			wc_op(c, WASM_X_MOV);
			wc_emit(c, dst);
			wc_emit(c, e->slot);
		}
	}
}

/* The offset word of a branch to frame f (after the moves). */
static void wc_emit_target(struct wc *c, struct wc_ctrl *f)
{
	if (f->op == WASM_OP_LOOP)
		wc_emit_back(c, f->loop_pos);
	else
		wc_emit_fixup(c, &f->fixups);
}

/* The _BACK form of a branch (see wasm_internal.h). */
static enum wasm_xop wc_back_form(enum wasm_xop x)
{
	if (x >= WASM_X_BR_I32_EQ && x <= WASM_X_BR_I32_GE_U_IMM)
		return (enum wasm_xop)(WASM_X_BR_I32_EQ_BACK + (x - WASM_X_BR_I32_EQ));
	switch (x) {
	case WASM_X_BR: return WASM_X_BR_BACK;
	case WASM_X_BR_Z: return WASM_X_BR_Z_BACK;
	case WASM_X_BR_NZ: return WASM_X_BR_NZ_BACK;
	default: return x;
	}
}

/* The fuel and offset words of a back edge to loop f: the wasm
 * instructions from the loop's start to here, then the first instruction
 * after the loop's FUEL. */
static void wc_emit_back_edge(struct wc *c, const struct wc_ctrl *f)
{
	wc_emit(c, f->fuel_count + 1);
	wc_emit_back(c, f->loop_pos + 2);
}

/* Emits an unconditional branch to frame f (after any moves). */
static void wc_emit_br(struct wc *c, struct wc_ctrl *f)
{
	if (f->op == WASM_OP_LOOP) {
		wc_op(c, WASM_X_BR_BACK);
		wc_emit_back_edge(c, f);
	} else {
		wc_op(c, WASM_X_BR);
		wc_emit_fixup(c, &f->fixups);
	}
}

static struct wc_ctrl *wc_label(struct wc *c, uint32_t depth, uint32_t op)
{
	if (depth >= c->csp) {
		wc_fail(c, "unknown label %u in %s", depth, wasm_op_name(op));
		return NULL;
	}
	return &c->cs[c->csp - 1 - depth];
}

/* ---- compare fusion ---- */

static enum wasm_xop wc_invert_cmp(enum wasm_xop x)
{
	switch (x) {
	case WASM_X_BR_I32_EQ: return WASM_X_BR_I32_NE;
	case WASM_X_BR_I32_NE: return WASM_X_BR_I32_EQ;
	case WASM_X_BR_I32_LT_S: return WASM_X_BR_I32_GE_S;
	case WASM_X_BR_I32_GE_S: return WASM_X_BR_I32_LT_S;
	case WASM_X_BR_I32_LT_U: return WASM_X_BR_I32_GE_U;
	case WASM_X_BR_I32_GE_U: return WASM_X_BR_I32_LT_U;
	case WASM_X_BR_I32_GT_S: return WASM_X_BR_I32_LE_S;
	case WASM_X_BR_I32_LE_S: return WASM_X_BR_I32_GT_S;
	case WASM_X_BR_I32_GT_U: return WASM_X_BR_I32_LE_U;
	case WASM_X_BR_I32_LE_U: return WASM_X_BR_I32_GT_U;
	case WASM_X_BR_I32_EQ_IMM: return WASM_X_BR_I32_NE_IMM;
	case WASM_X_BR_I32_NE_IMM: return WASM_X_BR_I32_EQ_IMM;
	case WASM_X_BR_I32_LT_S_IMM: return WASM_X_BR_I32_GE_S_IMM;
	case WASM_X_BR_I32_GE_S_IMM: return WASM_X_BR_I32_LT_S_IMM;
	case WASM_X_BR_I32_LT_U_IMM: return WASM_X_BR_I32_GE_U_IMM;
	case WASM_X_BR_I32_GE_U_IMM: return WASM_X_BR_I32_LT_U_IMM;
	case WASM_X_BR_I32_GT_S_IMM: return WASM_X_BR_I32_LE_S_IMM;
	case WASM_X_BR_I32_LE_S_IMM: return WASM_X_BR_I32_GT_S_IMM;
	case WASM_X_BR_I32_GT_U_IMM: return WASM_X_BR_I32_LE_U_IMM;
	case WASM_X_BR_I32_LE_U_IMM: return WASM_X_BR_I32_GT_U_IMM;
	case WASM_X_BR_Z: return WASM_X_BR_NZ;
	case WASM_X_BR_NZ: return WASM_X_BR_Z;
	default: return x;
	}
}

/* The branch-if-true form of an i32 compare, or COUNT when none. */
static enum wasm_xop wc_branch_form(enum wasm_xop x)
{
	static const struct { enum wasm_xop cmp, br; } map[] = {
		{ WASM_X_I32_EQ, WASM_X_BR_I32_EQ }, { WASM_X_I32_NE, WASM_X_BR_I32_NE },
		{ WASM_X_I32_LT_S, WASM_X_BR_I32_LT_S }, { WASM_X_I32_LT_U, WASM_X_BR_I32_LT_U },
		{ WASM_X_I32_GT_S, WASM_X_BR_I32_GT_S }, { WASM_X_I32_GT_U, WASM_X_BR_I32_GT_U },
		{ WASM_X_I32_LE_S, WASM_X_BR_I32_LE_S }, { WASM_X_I32_LE_U, WASM_X_BR_I32_LE_U },
		{ WASM_X_I32_GE_S, WASM_X_BR_I32_GE_S }, { WASM_X_I32_GE_U, WASM_X_BR_I32_GE_U },
		{ WASM_X_I32_EQ_IMM, WASM_X_BR_I32_EQ_IMM },
		{ WASM_X_I32_NE_IMM, WASM_X_BR_I32_NE_IMM },
		{ WASM_X_I32_LT_S_IMM, WASM_X_BR_I32_LT_S_IMM },
		{ WASM_X_I32_LT_U_IMM, WASM_X_BR_I32_LT_U_IMM },
		{ WASM_X_I32_GT_S_IMM, WASM_X_BR_I32_GT_S_IMM },
		{ WASM_X_I32_GT_U_IMM, WASM_X_BR_I32_GT_U_IMM },
		{ WASM_X_I32_LE_S_IMM, WASM_X_BR_I32_LE_S_IMM },
		{ WASM_X_I32_LE_U_IMM, WASM_X_BR_I32_LE_U_IMM },
		{ WASM_X_I32_GE_S_IMM, WASM_X_BR_I32_GE_S_IMM },
		{ WASM_X_I32_GE_U_IMM, WASM_X_BR_I32_GE_U_IMM },
		{ WASM_X_I32_EQZ, WASM_X_BR_Z },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].cmp == x)
			return map[i].br;
	return WASM_X_COUNT;
}

/* A conditional branch on the condition just popped (formerly at stack
 * index idx), to frame f's label, or (f NULL) forward through *chain;
 * fuses the compare that produced the condition when it is the last
 * instruction. when_true: branch when the condition holds. */
static void wc_emit_cond_branch(struct wc *c, const struct wc_opnd *cond, uint32_t idx,
				int when_true, struct wc_ctrl *f, uint32_t *chain)
{
	int back = f && f->op == WASM_OP_LOOP;
	enum wasm_xop br = WASM_X_COUNT;
	uint32_t a = 0, b = 0;

	if (cond->kind == WC_HOME && c->cmp_end && c->cmp_end == c->n &&
	    c->label_pos <= c->cmp_start && c->cmp_idx == idx)
		br = wc_branch_form((enum wasm_xop)c->cmp_xop);
	if (br != WASM_X_COUNT) {
		a = c->cmp_a;
		b = c->cmp_b;
		c->n = c->cmp_start;
		c->res_end = c->cmp_end = 0;
		if (!when_true)
			br = wc_invert_cmp(br);
	} else {
		br = when_true ? WASM_X_BR_NZ : WASM_X_BR_Z;
		a = wc_slot(c, cond, idx);
	}
	wc_op(c, back ? wc_back_form(br) : br);
	wc_emit(c, a);
	if (br != WASM_X_BR_Z && br != WASM_X_BR_NZ)
		wc_emit(c, b);
	if (back)
		wc_emit_back_edge(c, f);
	else
		wc_emit_fixup(c, f ? &f->fixups : chain);
}

/* ---- numeric instructions ---- */

enum { WC_COMMUT = 1, WC_CMP = 2, WC_RETYPE = 4 };

struct wc_numop {
	uint8_t in1, in2, out;	/* in2 0: unary */
	uint8_t flags;
	uint16_t xop, imm_xop;	/* imm_xop COUNT: none */
};

#define I32 WASM_T_I32
#define I64 WASM_T_I64
#define F32 WASM_T_F32
#define F64 WASM_T_F64
#define NONE WASM_X_COUNT
#define U(a, o, x) { a, 0, o, 0, WASM_X_##x, NONE }
#define B(a, o, x, f) { a, a, o, f, WASM_X_##x, NONE }
#define BI(a, o, x, f) { a, a, o, f, WASM_X_##x, WASM_X_##x##_IMM }
#define R(a, o) { a, 0, o, WC_RETYPE, NONE, NONE }

/* Opcodes 0x45 .. 0xc4. */
static const struct wc_numop wc_numops[0xc5 - 0x45] = {
	U(I32, I32, I32_EQZ),
	BI(I32, I32, I32_EQ, WC_COMMUT | WC_CMP), BI(I32, I32, I32_NE, WC_COMMUT | WC_CMP),
	BI(I32, I32, I32_LT_S, WC_CMP), BI(I32, I32, I32_LT_U, WC_CMP),
	BI(I32, I32, I32_GT_S, WC_CMP), BI(I32, I32, I32_GT_U, WC_CMP),
	BI(I32, I32, I32_LE_S, WC_CMP), BI(I32, I32, I32_LE_U, WC_CMP),
	BI(I32, I32, I32_GE_S, WC_CMP), BI(I32, I32, I32_GE_U, WC_CMP),
	U(I64, I32, I64_EQZ),
	BI(I64, I32, I64_EQ, WC_COMMUT), BI(I64, I32, I64_NE, WC_COMMUT),
	BI(I64, I32, I64_LT_S, 0), BI(I64, I32, I64_LT_U, 0),
	BI(I64, I32, I64_GT_S, 0), BI(I64, I32, I64_GT_U, 0),
	BI(I64, I32, I64_LE_S, 0), BI(I64, I32, I64_LE_U, 0),
	BI(I64, I32, I64_GE_S, 0), BI(I64, I32, I64_GE_U, 0),
	B(F32, I32, F32_EQ, 0), B(F32, I32, F32_NE, 0), B(F32, I32, F32_LT, 0),
	B(F32, I32, F32_GT, 0), B(F32, I32, F32_LE, 0), B(F32, I32, F32_GE, 0),
	B(F64, I32, F64_EQ, 0), B(F64, I32, F64_NE, 0), B(F64, I32, F64_LT, 0),
	B(F64, I32, F64_GT, 0), B(F64, I32, F64_LE, 0), B(F64, I32, F64_GE, 0),
	U(I32, I32, I32_CLZ), U(I32, I32, I32_CTZ), U(I32, I32, I32_POPCNT),
	BI(I32, I32, I32_ADD, WC_COMMUT), BI(I32, I32, I32_SUB, 0),
	BI(I32, I32, I32_MUL, WC_COMMUT), B(I32, I32, I32_DIV_S, 0),
	B(I32, I32, I32_DIV_U, 0), B(I32, I32, I32_REM_S, 0), B(I32, I32, I32_REM_U, 0),
	BI(I32, I32, I32_AND, WC_COMMUT), BI(I32, I32, I32_OR, WC_COMMUT),
	BI(I32, I32, I32_XOR, WC_COMMUT), BI(I32, I32, I32_SHL, 0),
	BI(I32, I32, I32_SHR_S, 0), BI(I32, I32, I32_SHR_U, 0),
	B(I32, I32, I32_ROTL, 0), B(I32, I32, I32_ROTR, 0),
	U(I64, I64, I64_CLZ), U(I64, I64, I64_CTZ), U(I64, I64, I64_POPCNT),
	BI(I64, I64, I64_ADD, WC_COMMUT), BI(I64, I64, I64_SUB, 0),
	BI(I64, I64, I64_MUL, WC_COMMUT), B(I64, I64, I64_DIV_S, 0),
	B(I64, I64, I64_DIV_U, 0), B(I64, I64, I64_REM_S, 0), B(I64, I64, I64_REM_U, 0),
	BI(I64, I64, I64_AND, WC_COMMUT), BI(I64, I64, I64_OR, WC_COMMUT),
	BI(I64, I64, I64_XOR, WC_COMMUT), BI(I64, I64, I64_SHL, 0),
	BI(I64, I64, I64_SHR_S, 0), BI(I64, I64, I64_SHR_U, 0),
	B(I64, I64, I64_ROTL, 0), B(I64, I64, I64_ROTR, 0),
	U(F32, F32, F32_ABS), U(F32, F32, F32_NEG), U(F32, F32, F32_CEIL),
	U(F32, F32, F32_FLOOR), U(F32, F32, F32_TRUNC), U(F32, F32, F32_NEAREST),
	U(F32, F32, F32_SQRT),
	B(F32, F32, F32_ADD, 0), B(F32, F32, F32_SUB, 0), B(F32, F32, F32_MUL, 0),
	B(F32, F32, F32_DIV, 0), B(F32, F32, F32_MIN, 0), B(F32, F32, F32_MAX, 0),
	B(F32, F32, F32_COPYSIGN, 0),
	U(F64, F64, F64_ABS), U(F64, F64, F64_NEG), U(F64, F64, F64_CEIL),
	U(F64, F64, F64_FLOOR), U(F64, F64, F64_TRUNC), U(F64, F64, F64_NEAREST),
	U(F64, F64, F64_SQRT),
	B(F64, F64, F64_ADD, 0), B(F64, F64, F64_SUB, 0), B(F64, F64, F64_MUL, 0),
	B(F64, F64, F64_DIV, 0), B(F64, F64, F64_MIN, 0), B(F64, F64, F64_MAX, 0),
	B(F64, F64, F64_COPYSIGN, 0),
	R(I64, I32),		/* i32.wrap_i64: the low half of the slot */
	U(F32, I32, I32_TRUNC_F32_S), U(F32, I32, I32_TRUNC_F32_U),
	U(F64, I32, I32_TRUNC_F64_S), U(F64, I32, I32_TRUNC_F64_U),
	U(I32, I64, I64_EXTEND32_S), U(I32, I64, I64_EXTEND_I32_U),
	U(F32, I64, I64_TRUNC_F32_S), U(F32, I64, I64_TRUNC_F32_U),
	U(F64, I64, I64_TRUNC_F64_S), U(F64, I64, I64_TRUNC_F64_U),
	U(I32, F32, F32_CONVERT_I32_S), U(I32, F32, F32_CONVERT_I32_U),
	U(I64, F32, F32_CONVERT_I64_S), U(I64, F32, F32_CONVERT_I64_U),
	U(F64, F32, F32_DEMOTE_F64),
	U(I32, F64, F64_CONVERT_I32_S), U(I32, F64, F64_CONVERT_I32_U),
	U(I64, F64, F64_CONVERT_I64_S), U(I64, F64, F64_CONVERT_I64_U),
	U(F32, F64, F64_PROMOTE_F32),
	R(F32, I32), R(F64, I64), R(I32, F32), R(I64, F64),	/* reinterpret */
	U(I32, I32, I32_EXTEND8_S), U(I32, I32, I32_EXTEND16_S),
	U(I64, I64, I64_EXTEND8_S), U(I64, I64, I64_EXTEND16_S),
	U(I64, I64, I64_EXTEND32_S),
};

static const struct wc_numop wc_satops[8] = {
	U(F32, I32, I32_TRUNC_SAT_F32_S), U(F32, I32, I32_TRUNC_SAT_F32_U),
	U(F64, I32, I32_TRUNC_SAT_F64_S), U(F64, I32, I32_TRUNC_SAT_F64_U),
	U(F32, I64, I64_TRUNC_SAT_F32_S), U(F32, I64, I64_TRUNC_SAT_F32_U),
	U(F64, I64, I64_TRUNC_SAT_F64_S), U(F64, I64, I64_TRUNC_SAT_F64_U),
};

#undef I32
#undef I64
#undef F32
#undef F64
#undef NONE
#undef U
#undef B
#undef BI
#undef R

/* a < b is b > a: the compare for swapped operands. */
static enum wasm_xop wc_mirror(enum wasm_xop x)
{
	switch (x) {
	case WASM_X_I32_LT_S: return WASM_X_I32_GT_S;
	case WASM_X_I32_GT_S: return WASM_X_I32_LT_S;
	case WASM_X_I32_LT_U: return WASM_X_I32_GT_U;
	case WASM_X_I32_GT_U: return WASM_X_I32_LT_U;
	case WASM_X_I32_LE_S: return WASM_X_I32_GE_S;
	case WASM_X_I32_GE_S: return WASM_X_I32_LE_S;
	case WASM_X_I32_LE_U: return WASM_X_I32_GE_U;
	case WASM_X_I32_GE_U: return WASM_X_I32_LE_U;
	case WASM_X_I64_LT_S: return WASM_X_I64_GT_S;
	case WASM_X_I64_GT_S: return WASM_X_I64_LT_S;
	case WASM_X_I64_LT_U: return WASM_X_I64_GT_U;
	case WASM_X_I64_GT_U: return WASM_X_I64_LT_U;
	case WASM_X_I64_LE_S: return WASM_X_I64_GE_S;
	case WASM_X_I64_GE_S: return WASM_X_I64_LE_S;
	case WASM_X_I64_LE_U: return WASM_X_I64_GE_U;
	case WASM_X_I64_GE_U: return WASM_X_I64_LE_U;
	default: return x;
	}
}

static enum wasm_xop wc_imm_of(enum wasm_xop x)
{
	size_t i;

	for (i = 0; i < sizeof(wc_numops) / sizeof(wc_numops[0]); i++)
		if (wc_numops[i].xop == x)
			return (enum wasm_xop)wc_numops[i].imm_xop;
	return WASM_X_COUNT;
}

/* Folds an integer operation of two constants: 0 with the result in *r,
 * -1 when it cannot be folded (floats, traps: those run as usual). */
static int wc_fold(enum wasm_xop x, uint64_t a, uint64_t b, uint64_t *r)
{
	uint32_t a32 = (uint32_t)a, b32 = (uint32_t)b;

	switch (x) {
	case WASM_X_I32_ADD: *r = (uint32_t)(a32 + b32); return 0;
	case WASM_X_I32_SUB: *r = (uint32_t)(a32 - b32); return 0;
	case WASM_X_I32_MUL: *r = (uint32_t)(a32 * b32); return 0;
	case WASM_X_I32_AND: *r = a32 & b32; return 0;
	case WASM_X_I32_OR: *r = a32 | b32; return 0;
	case WASM_X_I32_XOR: *r = a32 ^ b32; return 0;
	case WASM_X_I32_SHL: *r = (uint32_t)(a32 << (b32 & 31)); return 0;
	case WASM_X_I32_SHR_U: *r = a32 >> (b32 & 31); return 0;
	case WASM_X_I32_SHR_S: *r = (uint32_t)((int32_t)a32 >> (b32 & 31)); return 0;
	case WASM_X_I32_EQ: *r = a32 == b32; return 0;
	case WASM_X_I32_NE: *r = a32 != b32; return 0;
	case WASM_X_I32_LT_S: *r = (int32_t)a32 < (int32_t)b32; return 0;
	case WASM_X_I32_LT_U: *r = a32 < b32; return 0;
	case WASM_X_I32_GT_S: *r = (int32_t)a32 > (int32_t)b32; return 0;
	case WASM_X_I32_GT_U: *r = a32 > b32; return 0;
	case WASM_X_I32_LE_S: *r = (int32_t)a32 <= (int32_t)b32; return 0;
	case WASM_X_I32_LE_U: *r = a32 <= b32; return 0;
	case WASM_X_I32_GE_S: *r = (int32_t)a32 >= (int32_t)b32; return 0;
	case WASM_X_I32_GE_U: *r = a32 >= b32; return 0;
	case WASM_X_I64_ADD: *r = a + b; return 0;
	case WASM_X_I64_SUB: *r = a - b; return 0;
	case WASM_X_I64_MUL: *r = a * b; return 0;
	case WASM_X_I64_AND: *r = a & b; return 0;
	case WASM_X_I64_OR: *r = a | b; return 0;
	case WASM_X_I64_XOR: *r = a ^ b; return 0;
	case WASM_X_I64_SHL: *r = a << (b & 63); return 0;
	case WASM_X_I64_SHR_U: *r = a >> (b & 63); return 0;
	case WASM_X_I64_SHR_S: *r = (uint64_t)((int64_t)a >> (b & 63)); return 0;
	case WASM_X_I64_EQ: *r = a == b; return 0;
	case WASM_X_I64_NE: *r = a != b; return 0;
	case WASM_X_I64_LT_S: *r = (int64_t)a < (int64_t)b; return 0;
	case WASM_X_I64_LT_U: *r = a < b; return 0;
	case WASM_X_I64_GT_S: *r = (int64_t)a > (int64_t)b; return 0;
	case WASM_X_I64_GT_U: *r = a > b; return 0;
	case WASM_X_I64_LE_S: *r = (int64_t)a <= (int64_t)b; return 0;
	case WASM_X_I64_LE_U: *r = a <= b; return 0;
	case WASM_X_I64_GE_S: *r = (int64_t)a >= (int64_t)b; return 0;
	case WASM_X_I64_GE_U: *r = a >= b; return 0;
	default: return -1;
	}
}

/* x op imm that gives x back: add, sub, or, xor, shifts of 0, mul by 1,
 * and with all ones. */
static int wc_identity(enum wasm_xop xi, uint64_t imm, int is64)
{
	uint64_t ones = is64 ? UINT64_MAX : 0xffffffffu;
	uint64_t shift = imm & (is64 ? 63 : 31);

	switch (xi) {
	case WASM_X_I32_ADD_IMM: case WASM_X_I32_SUB_IMM: case WASM_X_I32_OR_IMM:
	case WASM_X_I32_XOR_IMM: case WASM_X_I64_ADD_IMM: case WASM_X_I64_SUB_IMM:
	case WASM_X_I64_OR_IMM: case WASM_X_I64_XOR_IMM:
		return imm == 0;
	case WASM_X_I32_SHL_IMM: case WASM_X_I32_SHR_S_IMM: case WASM_X_I32_SHR_U_IMM:
	case WASM_X_I64_SHL_IMM: case WASM_X_I64_SHR_S_IMM: case WASM_X_I64_SHR_U_IMM:
		return shift == 0;
	case WASM_X_I32_MUL_IMM: case WASM_X_I64_MUL_IMM:
		return imm == 1;
	case WASM_X_I32_AND_IMM: case WASM_X_I64_AND_IMM:
		return imm == ones;
	default:
		return 0;
	}
}

/* Pushes back an operand unchanged (the result of an identity). */
static void wc_push_same(struct wc *c, const struct wc_opnd *e, uint8_t type)
{
	struct wc_opnd *n = wc_push_entry(c, type, e->kind);

	if (!n)
		return;
	if (e->kind == WC_HOME && e->slot != n->slot && !c->dead) {
		/* the second operand (a constant first operand of a
		 * commutative op was swapped away): its home is one up */
		wc_op(c, WASM_X_MOV);
		wc_emit(c, n->slot);
		wc_emit(c, e->slot);
	}
	if (e->kind != WC_HOME)
		n->slot = e->slot;
	n->val = e->val;
	if (e->kind == WC_LOCAL)
		c->lrefs[e->slot]++;
}

static void wc_numeric(struct wc *c, const struct wc_numop *o, uint32_t op)
{
	struct wc_opnd a, b;
	uint32_t idx, start, dst;
	enum wasm_xop x = (enum wasm_xop)o->xop;

	if (o->flags & WC_RETYPE) {
		/* wrap and reinterpret: the slot's bits already are the result */
		struct wc_opnd *e;

		a = wc_pop(c, o->in1, op);
		idx = c->sp;
		e = wc_push_entry(c, o->out, a.kind);
		if (!e)
			return;
		if (a.kind == WC_HOME) {
			e->slot = wc_home(c, idx);
		} else {
			e->slot = a.slot;
			if (a.kind == WC_LOCAL)
				c->lrefs[a.slot]++;
		}
		e->val = op == WASM_OP_I32_WRAP_I64 ? (a.val & 0xffffffffu) : a.val;
		return;
	}
	if (!o->in2) {
		a = wc_pop(c, o->in1, op);
		idx = c->sp;
		if (c->dead) {
			wc_push(c, o->out);
			return;
		}
		{
			uint32_t sa = wc_slot(c, &a, idx);

			start = (uint32_t)c->n;
			dst = wc_push(c, o->out);
			wc_op(c, x);
			wc_emit(c, dst);
			wc_emit(c, sa);
			wc_note_result(c, start, start + 1, idx);
			if (x == WASM_X_I32_EQZ) {
				c->cmp_start = start;
				c->cmp_end = (uint32_t)c->n;
				c->cmp_idx = idx;
				c->cmp_xop = x;
				c->cmp_a = sa;
			}
		}
		return;
	}
	b = wc_pop(c, o->in2, op);
	a = wc_pop(c, o->in1, op);
	idx = c->sp;
	if (c->dead) {
		wc_push(c, o->out);
		return;
	}
	if (a.kind == WC_CONST && b.kind != WC_CONST && o->imm_xop != WASM_X_COUNT &&
	    (o->flags & WC_COMMUT || wc_mirror(x) != x)) {
		struct wc_opnd t = a;

		a = b;
		b = t;
		x = wc_mirror(x);
	}
	if (a.kind == WC_CONST && b.kind == WC_CONST) {
		uint64_t r;

		if (wc_fold(x, a.val, b.val, &r) == 0) {
			wc_push_const(c, o->out, r);
			return;
		}
	}
	/* An op with an immediate form; o's own when x was not swapped. */
	enum wasm_xop xi = b.kind != WC_CONST ? WASM_X_COUNT :
			   x == o->xop ? o->imm_xop : wc_imm_of(x);
	if (xi != WASM_X_COUNT) {
		uint32_t sa, shift;
		int is64 = o->in1 == WASM_T_I64;

		if (wc_identity(xi, b.val, is64)) {
			wc_push_same(c, &a, o->out);
			return;
		}

		if (xi == WASM_X_I32_AND_IMM && wc_last_is(c, &a, idx, WASM_X_I32_SHR_U_IMM)) {
			/* (x >> k) & m: a bit field in one instruction */
			sa = c->res_a;
			shift = c->res_b;
			c->n = c->res_start;
			start = (uint32_t)c->n;
			dst = wc_push(c, o->out);
			wc_op(c, WASM_X_I32_SHR_U_AND_IMM);
			wc_emit(c, dst);
			wc_emit(c, sa);
			wc_emit(c, shift);
			wc_emit(c, (uint32_t)b.val);
			wc_note_result(c, start, start + 1, idx);
			return;
		}
		sa = wc_slot(c, &a, idx);
		start = (uint32_t)c->n;
		dst = wc_push(c, o->out);
		wc_op(c, xi);
		wc_emit(c, dst);
		wc_emit(c, sa);
		if (is64)
			wc_emit64(c, b.val);
		else
			wc_emit(c, (uint32_t)b.val);
		wc_note_result(c, start, start + 1, idx);
		wc_note_numeric(c, xi, sa, (uint32_t)b.val);
		if (o->in1 == WASM_T_I32 && (o->flags & WC_CMP)) {
			c->cmp_start = start;
			c->cmp_end = (uint32_t)c->n;
			c->cmp_idx = idx;
			c->cmp_xop = xi;
			c->cmp_a = sa;
			c->cmp_b = (uint32_t)b.val;
		}
		return;
	}
	if (x == WASM_X_I32_ADD && (wc_last_is(c, &a, idx, WASM_X_I32_MUL) ||
				    wc_last_is(c, &b, idx + 1, WASM_X_I32_MUL))) {
		/* a * b + c in one instruction; the multiply's operands are
		 * intact: nothing was emitted after it */
		const struct wc_opnd *other = c->res_idx == idx ? &b : &a;
		uint32_t ma = c->res_a, mb = c->res_b, so;

		c->n = c->res_start;
		c->res_end = 0;
		so = wc_slot(c, other, other == &a ? idx : idx + 1);
		start = (uint32_t)c->n;
		dst = wc_push(c, o->out);
		wc_op(c, WASM_X_I32_MUL_ADD);
		wc_emit(c, dst);
		wc_emit(c, ma);
		wc_emit(c, mb);
		wc_emit(c, so);
		wc_note_result(c, start, start + 1, idx);
		return;
	}
	{
		uint32_t sa = wc_slot(c, &a, idx), sb = wc_slot(c, &b, idx + 1);

		start = (uint32_t)c->n;
		dst = wc_push(c, o->out);
		wc_op(c, x);
		wc_emit(c, dst);
		wc_emit(c, sa);
		wc_emit(c, sb);
		wc_note_result(c, start, start + 1, idx);
		wc_note_numeric(c, x, sa, sb);
		if (o->in1 == WASM_T_I32 && (o->flags & WC_CMP)) {
			c->cmp_start = start;
			c->cmp_end = (uint32_t)c->n;
			c->cmp_idx = idx;
			c->cmp_xop = x;
			c->cmp_a = sa;
			c->cmp_b = sb;
		}
	}
}

/* ---- memory ---- */

static int wc_need_memory(struct wc *c, uint32_t op)
{
	if (c->m->n_mems == 0) {
		wc_fail(c, "unknown memory 0 in %s", wasm_op_name(op));
		return -1;
	}
	return 0;
}

struct wc_memop {
	uint8_t type;		/* value type */
	uint8_t size_log2;	/* natural alignment */
	uint16_t xop;
};

/* Opcodes 0x28 .. 0x3e. */
static const struct wc_memop wc_memops[0x3f - 0x28] = {
	{ WASM_T_I32, 2, WASM_X_LOAD32 }, { WASM_T_I64, 3, WASM_X_LOAD64 },
	{ WASM_T_F32, 2, WASM_X_LOAD32 }, { WASM_T_F64, 3, WASM_X_LOAD64 },
	{ WASM_T_I32, 0, WASM_X_LOAD8_S32 }, { WASM_T_I32, 0, WASM_X_LOAD8_U },
	{ WASM_T_I32, 1, WASM_X_LOAD16_S32 }, { WASM_T_I32, 1, WASM_X_LOAD16_U },
	{ WASM_T_I64, 0, WASM_X_LOAD8_S64 }, { WASM_T_I64, 0, WASM_X_LOAD8_U },
	{ WASM_T_I64, 1, WASM_X_LOAD16_S64 }, { WASM_T_I64, 1, WASM_X_LOAD16_U },
	{ WASM_T_I64, 2, WASM_X_LOAD32_S64 }, { WASM_T_I64, 2, WASM_X_LOAD32 },
	{ WASM_T_I32, 2, WASM_X_STORE32 }, { WASM_T_I64, 3, WASM_X_STORE64 },
	{ WASM_T_F32, 2, WASM_X_STORE32 }, { WASM_T_F64, 3, WASM_X_STORE64 },
	{ WASM_T_I32, 0, WASM_X_STORE8 }, { WASM_T_I32, 1, WASM_X_STORE16 },
	{ WASM_T_I64, 0, WASM_X_STORE8 }, { WASM_T_I64, 1, WASM_X_STORE16 },
	{ WASM_T_I64, 2, WASM_X_STORE32 },
};

static void wc_memaccess(struct wc *c, const struct wasm_instr *in)
{
	const struct wc_memop *o = &wc_memops[in->op - 0x28];
	int store = in->op >= 0x36;
	struct wc_opnd addr, val;
	uint32_t idx, start, dst;

	if (wc_need_memory(c, in->op) < 0)
		return;
	if (in->a > o->size_log2) {
		wc_fail(c, "alignment must not be larger than natural in %s",
			wasm_op_name(in->op));
		return;
	}
	if (store) {
		uint32_t sa, sv;

		val = wc_pop(c, o->type, in->op);
		addr = wc_pop(c, WASM_T_I32, in->op);
		idx = c->sp;
		if (c->dead)
			return;
		sa = wc_slot(c, &addr, idx);
		sv = wc_slot(c, &val, idx + 1);
		wc_op(c, (enum wasm_xop)o->xop);
		wc_emit(c, sa);
		wc_emit(c, sv);
		wc_emit(c, in->b);
		return;
	}
	addr = wc_pop(c, WASM_T_I32, in->op);
	idx = c->sp;
	if (c->dead) {
		wc_push(c, o->type);
		return;
	}
	{
		uint32_t sa = wc_slot(c, &addr, idx);

		start = (uint32_t)c->n;
		dst = wc_push(c, o->type);
		wc_op(c, (enum wasm_xop)o->xop);
		wc_emit(c, dst);
		wc_emit(c, sa);
		wc_emit(c, in->b);
		wc_note_result(c, start, start + 1, idx);
	}
}

/* Pops n i32 operands (the last pushed last in slots[]) for a bulk op. */
static void wc_pop_operands(struct wc *c, const uint8_t *types, uint32_t n, uint32_t op,
			    uint32_t *slots)
{
	struct wc_opnd e[4];
	uint32_t i, base;

	for (i = n; i-- > 0;)
		e[i] = wc_pop(c, types[i], op);
	base = c->sp;
	for (i = 0; i < n; i++)
		slots[i] = c->dead ? 0 : wc_slot(c, &e[i], base + i);
}

/* ---- tables ---- */

static const struct wasm_tabletype *wc_table(struct wc *c, uint32_t x, uint32_t op)
{
	if (x >= c->m->n_tables) {
		wc_fail(c, "unknown table %u in %s", x, wasm_op_name(op));
		return NULL;
	}
	return &c->m->tables[x];
}

static int wc_elem_seg(struct wc *c, uint32_t x, uint32_t op)
{
	if (x >= c->m->n_elems) {
		wc_fail(c, "unknown elem segment %u in %s", x, wasm_op_name(op));
		return -1;
	}
	return 0;
}

/* Without a data count section (allowed when there is no data section:
 * wast2json drops the section from modules of assert_invalid), the count
 * is the data section's. */
static int wc_data_seg(struct wc *c, uint32_t x, uint32_t op)
{
	uint32_t n = c->m->has_data_count ? c->m->data_count : c->m->n_datas;

	if (x >= n) {
		wc_fail(c, "unknown data segment %u in %s", x, wasm_op_name(op));
		return -1;
	}
	return 0;
}

/* ---- calls ---- */

/* The arguments of a call: the top n entries, made to sit in their home
 * slots, where the callee's frame will find them as its parameters. */
static uint32_t wc_call_args(struct wc *c, const struct wasm_functype *t, uint32_t op)
{
	uint32_t i, base;

	for (i = t->n_params; i-- > 0;)
		(void)wc_pop(c, t->types[i], op);
	base = c->sp;
	/* wc_pop removed the entries; look at them again in place to move
	 * deferred ones home (the array still holds them). */
	if (!c->dead && !c->failed)
		for (i = 0; i < t->n_params; i++) {
			struct wc_opnd *e = &c->st[base + i];
			uint32_t home = wc_home(c, base + i);

			if (e->kind == WC_LOCAL) {
				wc_op(c, WASM_X_MOV);
				wc_emit(c, home);
				wc_emit(c, e->slot);
			} else if (e->kind == WC_CONST) {
				wc_mov_imm(c, home, e->type, e->val);
			}
		}
	return base;
}

static void wc_call_results(struct wc *c, const struct wasm_functype *t)
{
	uint32_t i;

	for (i = 0; i < t->n_results; i++)
		wc_push(c, t->types[t->n_params + i]);
	/* The callee's frame covers our slots from the arguments up. */
	if (c->sp + t->n_params > c->max_height)
		c->max_height = c->sp + t->n_params;
	c->res_end = c->cmp_end = 0;
}

static void wc_call(struct wc *c, const struct wasm_instr *in)
{
	struct assay_wasm_module *m = c->m;
	const struct wasm_functype *t;
	uint32_t base;

	if (in->a >= m->n_funcs) {
		wc_fail(c, "unknown function %u in call", in->a);
		return;
	}
	t = &m->types[m->func_types[in->a]];
	/* wc_pop keeps the popped entries in the array: wc_call_args reads them */
	base = wc_call_args(c, t, in->op);
	if (!c->dead) {
		if (in->a >= m->n_func_imports) {
			wc_op(c, WASM_X_CALL);
			wc_emit64(c, (uint64_t)(uintptr_t)m->funcs[in->a - m->n_func_imports].code);
		} else {
			wc_op(c, WASM_X_CALL_IMPORT);
			wc_emit(c, in->a);
		}
		wc_emit(c, wc_home(c, base));
	}
	wc_call_results(c, t);
}

static void wc_call_indirect(struct wc *c, const struct wasm_instr *in)
{
	struct assay_wasm_module *m = c->m;
	const struct wasm_tabletype *tt = wc_table(c, in->b, in->op);
	const struct wasm_functype *t;
	struct wc_opnd idx;
	uint32_t base, sidx, idx_pos;

	if (!tt)
		return;
	if (tt->elem != WASM_T_FUNCREF) {
		wc_fail(c, "type mismatch in call_indirect: table %u is not of funcref", in->b);
		return;
	}
	if (in->a >= m->n_types) {
		wc_fail(c, "unknown type %u in call_indirect", in->a);
		return;
	}
	t = &m->types[m->canon[in->a]];
	idx = wc_pop(c, WASM_T_I32, in->op);
	idx_pos = c->sp;
	sidx = c->dead ? 0 : wc_slot(c, &idx, idx_pos);
	base = wc_call_args(c, t, in->op);
	if (!c->dead) {
		wc_op(c, WASM_X_CALL_INDIRECT);
		wc_emit(c, in->b);
		wc_emit64(c, (uint64_t)(uintptr_t)t);
		wc_emit(c, sidx);
		wc_emit(c, wc_home(c, base));
	}
	wc_call_results(c, t);
}

/* ---- control ---- */

static void wc_block(struct wc *c, const struct wasm_instr *in)
{
	struct wc_ctrl tmp, *f;
	struct wc_opnd cond;
	uint32_t cond_idx = 0, i;

	memset(&tmp, 0, sizeof(tmp));
	if (wc_blocktype(c, in, &tmp) < 0)
		return;
	if (in->op == WASM_OP_IF) {
		cond = wc_pop(c, WASM_T_I32, in->op);
		cond_idx = c->sp;
	}
	/* The parameters must be there, typed. */
	wc_check_top(c, tmp.params, tmp.n_params, in->op, 0);
	if (c->failed)
		return;
	if (in->op == WASM_OP_IF && !c->dead) {
		/* Fuse before the moves below: they may follow the compare. */
		if (cond.kind == WC_HOME && c->cmp_end == c->n && c->label_pos <= c->cmp_start &&
		    c->cmp_idx == cond_idx &&
		    wc_branch_form((enum wasm_xop)c->cmp_xop) != WASM_X_COUNT) {
			/* the compare's operands stay valid: moves only write
			 * home slots below the condition */
			uint32_t xop = c->cmp_xop, a = c->cmp_a, b = c->cmp_b;
			uint32_t start = c->cmp_start;
			enum wasm_xop br;

			c->n = start;
			c->res_end = c->cmp_end = 0;
			wc_materialize_all(c);
			br = wc_invert_cmp(wc_branch_form((enum wasm_xop)xop));
			wc_op(c, br);
			wc_emit(c, a);
			if (br != WASM_X_BR_Z && br != WASM_X_BR_NZ)
				wc_emit(c, b);
		} else {
			uint32_t s = wc_slot(c, &cond, cond_idx);

			wc_materialize_all(c);
			wc_op(c, WASM_X_BR_Z);
			wc_emit(c, s);
		}
	} else if (!c->dead) {
		wc_materialize_all(c);
	}
	f = wc_push_ctrl(c, in->op);
	if (!f)
		return;
	f->n_params = tmp.n_params;
	f->n_results = tmp.n_results;
	f->params = tmp.params;
	f->results = tmp.results;
	f->height = c->sp - tmp.n_params;
	if (in->op == WASM_OP_IF && !c->dead)
		wc_emit_fixup(c, &f->else_fixup);
	if (in->op == WASM_OP_LOOP) {
		f->loop_pos = (uint32_t)c->n;
		if (!c->dead) {
			wc_op(c, WASM_X_FUEL);
			f->fuel_word = (uint32_t)c->n;
			wc_emit(c, 1);
		}
		wc_label_here(c);
	}
	for (i = 0; i < tmp.n_params; i++)
		c->st[f->height + i].type = tmp.params[i];
}

/* Checks the frame's results are exactly on the stack; with emission,
 * moves them to their home slots (where the label's other paths put them). */
static void wc_end_results(struct wc *c, struct wc_ctrl *f, uint32_t op)
{
	uint32_t i;

	wc_check_top(c, f->results, f->n_results, op, 1);
	if (c->sp != f->height + f->n_results && !c->failed) {
		wc_fail(c, "type mismatch in %s: %u values left on the stack, expected %u",
			wasm_op_name(op), c->sp - f->height, f->n_results);
		return;
	}
	if (!c->dead && !c->failed)
		for (i = 0; i < f->n_results; i++)
			wc_materialize(c, f->height + i);
}

static void wc_else(struct wc *c)
{
	struct wc_ctrl *f = &c->cs[c->csp - 1];
	uint32_t i;

	if (f->op != WASM_OP_IF || f->has_else) {
		wc_fail(c, "else without if");
		return;
	}
	wc_end_results(c, f, WASM_OP_ELSE);
	if (!c->dead) {
		wc_op(c, WASM_X_BR);
		wc_emit_fixup(c, &f->fixups);
	}
	wc_patch_chain(c, f->else_fixup, (uint32_t)c->n);
	f->else_fixup = 0;
	wc_label_here(c);
	f->has_else = 1;
	wc_truncate(c, f->height);
	f->unreachable = 0;
	c->dead = f->entry_dead;
	for (i = 0; i < f->n_params; i++)
		wc_push(c, f->params[i]);
}

/* Emits the return of the results at stack indices base..; from_home:
 * read them from their home slots (where branches to the end put them). */
static void wc_return_values(struct wc *c, uint32_t base, int from_home)
{
	const struct wasm_functype *t = c->ft;
	uint32_t i, *slots;

	if (t->n_results == 0) {
		wc_op(c, WASM_X_RET0);
		return;
	}
	slots = malloc(t->n_results * sizeof(*slots));
	if (!slots) {
		wc_fail(c, "out of memory");
		return;
	}
	for (i = 0; i < t->n_results; i++)
		slots[i] = from_home ? wc_home(c, base + i) :
			   wc_slot(c, &c->st[base + i], base + i);
	if (t->n_results == 1) {
		wc_op(c, WASM_X_RET1);
		wc_emit(c, slots[0]);
	} else {
		wc_op(c, WASM_X_RETN);
		wc_emit(c, t->n_results);
		for (i = 0; i < t->n_results; i++)
			wc_emit(c, slots[i]);
	}
	free(slots);
}

static void wc_end(struct wc *c)
{
	struct wc_ctrl *f = &c->cs[c->csp - 1];
	uint32_t i, reachable;

	if (c->csp == 1) {
		/* the function's end: an implicit return */
		wc_check_top(c, f->results, f->n_results, WASM_OP_END, 1);
		if (c->sp != f->n_results && !c->failed)
			wc_fail(c, "type mismatch at the end of the function: %u values "
				"on the stack, expected %u", c->sp, f->n_results);
		if (c->failed)
			return;
		if (!f->fixups) {
			if (!c->dead)
				wc_return_values(c, 0, 0);
		} else {
			/* branches to the function's label bring the results
			 * to their home slots: join them there */
			if (!c->dead)
				for (i = 0; i < f->n_results; i++)
					wc_materialize(c, i);
			wc_patch_chain(c, f->fixups, (uint32_t)c->n);
			wc_label_here(c);
			wc_return_values(c, 0, 1);
		}
		c->entry_fuel = f->fuel_count + 1;
		c->csp = 0;
		return;
	}
	if (f->op == WASM_OP_IF && !f->has_else) {
		/* the missing else passes the parameters through */
		if (f->n_params != f->n_results ||
		    (f->n_params && memcmp(f->params, f->results, f->n_params))) {
			wc_fail(c, "type mismatch in if without else: parameters and "
				"results differ");
			return;
		}
	}
	wc_end_results(c, f, WASM_OP_END);
	if (c->failed)
		return;
	reachable = !c->dead || f->fixups || (f->op == WASM_OP_IF && !f->has_else);
	if (f->entry_dead)
		reachable = 0;
	wc_patch_chain(c, f->fixups, (uint32_t)c->n);
	wc_patch_chain(c, f->else_fixup, (uint32_t)c->n);
	wc_label_here(c);
	if (f->op == WASM_OP_LOOP && f->fuel_word)
		c->code[f->fuel_word] = f->fuel_count + 1;
	{
		uint32_t height = f->height, n = f->n_results;
		const uint8_t *types = f->results;

		c->csp--;
		wc_truncate(c, height);
		c->dead = !reachable;
		for (i = 0; i < n; i++)
			wc_push(c, types[i]);
	}
}

static void wc_br(struct wc *c, const struct wasm_instr *in)
{
	struct wc_ctrl *f = wc_label(c, in->a, in->op);
	uint32_t n;

	if (!f)
		return;
	n = wc_label_arity(f);
	if (c->dead) {
		wc_pop_types(c, wc_label_types(f), n, in->op);
	} else {
		wc_check_top(c, wc_label_types(f), n, in->op, 0);
		if (!c->failed) {
			wc_emit_moves(c, f);
			wc_emit_br(c, f);
		}
	}
	wc_unreachable(c);
}

static void wc_br_if(struct wc *c, const struct wasm_instr *in)
{
	struct wc_ctrl *f = wc_label(c, in->a, in->op);
	struct wc_opnd cond;
	uint32_t cond_idx, n;

	if (!f)
		return;
	cond = wc_pop(c, WASM_T_I32, in->op);
	cond_idx = c->sp;
	n = wc_label_arity(f);
	wc_check_top(c, wc_label_types(f), n, in->op, 1);
	if (c->dead || c->failed)
		return;
	if (!wc_needs_moves(c, f)) {
		wc_emit_cond_branch(c, &cond, cond_idx, 1, f, NULL);
	} else {
		uint32_t skip = 0;

		wc_emit_cond_branch(c, &cond, cond_idx, 0, NULL, &skip);
		wc_emit_moves(c, f);
		wc_emit_br(c, f);
		wc_patch_chain(c, skip, (uint32_t)c->n);
		wc_label_here(c);
	}
}

/* br_table: validation and emission look at each distinct label once, so
 * a table of millions of entries costs millions of steps, not millions
 * times the label arity. */
static void wc_br_table(struct wc *c, const struct wasm_instr *in)
{
	struct wasm_reader tr = { in->targets, c->r.end, NULL };
	struct wc_ctrl *def, *f;
	struct wc_opnd idx;
	uint32_t i, arity, idx_pos, table_pos, sidx, stamp = ++c->stub_stamp;

	idx = wc_pop(c, WASM_T_I32, in->op);
	idx_pos = c->sp;
	/* the default label first: its arity rules */
	{
		struct wasm_reader dr = tr;

		for (i = 0; i < in->n; i++)
			(void)wasm_read_u32(&dr);
		def = wc_label(c, wasm_read_u32(&dr), in->op);
	}
	if (!def)
		return;
	arity = wc_label_arity(def);
	for (i = 0; i < in->n && !c->failed; i++) {
		f = wc_label(c, wasm_read_u32(&tr), in->op);
		if (!f)
			return;
		if (wc_label_arity(f) != arity) {
			wc_fail(c, "type mismatch in br_table: labels of different arity");
			return;
		}
		if (f->check_stamp == stamp)
			continue;
		f->check_stamp = stamp;
		wc_check_top(c, wc_label_types(f), arity, in->op, 0);
	}
	if (c->dead)
		wc_pop_types(c, wc_label_types(def), arity, in->op);
	else
		wc_check_top(c, wc_label_types(def), arity, in->op, 0);
	if (c->failed)
		return;
	if (!c->dead) {
		sidx = wc_slot(c, &idx, idx_pos);
		stamp = ++c->stub_stamp;
		wc_op(c, WASM_X_BR_TABLE);
		wc_emit(c, sidx);
		wc_emit(c, in->n);
		table_pos = (uint32_t)c->n;
		/* direct targets chain into their frames; the others get a
		 * placeholder until their stub exists */
		tr.p = in->targets;
		for (i = 0; i <= in->n && !c->failed; i++) {
			f = &c->cs[c->csp - 1 - wasm_read_u32(&tr)];
			if (f->stub_stamp != stamp) {
				f->stub_stamp = stamp;
				f->stub_moves = (uint8_t)wc_needs_moves(c, f);
				f->stub_pos = 0;
			}
			if (f->stub_moves)
				wc_emit(c, 0);
			else
				wc_emit_target(c, f);
		}
		/* one stub per label whose values must move */
		tr.p = in->targets;
		for (i = 0; i <= in->n && !c->failed; i++) {
			uint32_t w = table_pos + i;

			f = &c->cs[c->csp - 1 - wasm_read_u32(&tr)];
			if (!f->stub_moves)
				continue;
			if (!f->stub_pos) {
				f->stub_pos = (uint32_t)c->n;
				wc_emit_moves(c, f);
				wc_emit_br(c, f);
			}
			if (!c->failed)
				c->code[w] = (uint32_t)(int32_t)((int64_t)f->stub_pos -
								 (int64_t)w);
		}
	}
	wc_unreachable(c);
}

static void wc_return(struct wc *c)
{
	const struct wasm_functype *t = c->ft;

	if (c->dead) {
		wc_pop_types(c, t->types + t->n_params, t->n_results, WASM_OP_RETURN);
	} else {
		wc_check_top(c, t->types + t->n_params, t->n_results, WASM_OP_RETURN, 0);
		if (!c->failed)
			wc_return_values(c, c->sp - t->n_results, 0);
	}
	wc_unreachable(c);
}

/* ---- variables ---- */

static void wc_local_set(struct wc *c, const struct wasm_instr *in, int tee)
{
	struct wc_opnd e;
	uint32_t x = in->a, idx;
	int retargeted = 0;

	if (x >= c->n_locals) {
		wc_fail(c, "unknown local %u in %s", x, wasm_op_name(in->op));
		return;
	}
	e = wc_pop(c, c->ltypes[x], in->op);
	idx = c->sp;
	if (c->dead) {
		if (tee)
			wc_push(c, c->ltypes[x]);
		return;
	}
	if (!(e.kind == WC_LOCAL && e.slot == x)) {
		if (c->lrefs[x])
			wc_materialize_all(c);
		if (e.kind == WC_HOME && wc_can_retarget(c) && c->res_idx == idx) {
			c->code[c->res_word] = x;
			c->res_end = c->cmp_end = 0;
			retargeted = 1;
		} else if (e.kind == WC_CONST) {
			wc_mov_imm(c, x, c->ltypes[x], e.val);
		} else {
			wc_op(c, WASM_X_MOV);
			wc_emit(c, x);
			wc_emit(c, e.slot);
		}
	}
	if (!tee)
		return;
	if (retargeted) {
		wc_push_local(c, c->ltypes[x], x);
	} else {
		struct wc_opnd *n = wc_push_entry(c, c->ltypes[x], e.kind);

		if (!n)
			return;
		if (e.kind != WC_HOME)
			n->slot = e.slot;
		n->val = e.val;
		if (e.kind == WC_LOCAL)
			c->lrefs[e.slot]++;
	}
}

static void wc_global(struct wc *c, const struct wasm_instr *in)
{
	struct assay_wasm_module *m = c->m;
	const struct wasm_globaltype *g;

	if (in->a >= m->n_globals) {
		wc_fail(c, "unknown global %u in %s", in->a, wasm_op_name(in->op));
		return;
	}
	g = &m->global_types[in->a];
	if (in->op == WASM_OP_GLOBAL_GET) {
		uint32_t start = (uint32_t)c->n, idx = c->sp, dst = wc_push(c, g->type);

		if (c->dead)
			return;
		wc_op(c, WASM_X_GLOBAL_GET);
		wc_emit(c, dst);
		wc_emit(c, in->a);
		wc_note_result(c, start, start + 1, idx);
		return;
	}
	if (!g->mut) {
		wc_fail(c, "global is immutable: global.set %u", in->a);
		return;
	}
	{
		struct wc_opnd e = wc_pop(c, g->type, in->op);
		uint32_t s;

		if (c->dead)
			return;
		s = wc_slot(c, &e, c->sp);
		wc_op(c, WASM_X_GLOBAL_SET);
		wc_emit(c, in->a);
		wc_emit(c, s);
	}
}

static void wc_select(struct wc *c, const struct wasm_instr *in)
{
	struct wc_opnd cond, a, b;
	uint8_t t;
	uint32_t idx, sa, sb, sc, dst;

	if (in->op == WASM_OP_SELECT_T) {
		if (in->n != 1) {
			wc_fail(c, "invalid result arity in select: %u types", in->n);
			return;
		}
		cond = wc_pop(c, WASM_T_I32, in->op);
		b = wc_pop(c, in->type, in->op);
		a = wc_pop(c, in->type, in->op);
		t = in->type;
	} else {
		cond = wc_pop(c, WASM_T_I32, in->op);
		b = wc_pop(c, WASM_T_UNKNOWN, in->op);
		a = wc_pop(c, WASM_T_UNKNOWN, in->op);
		if ((a.type != WASM_T_UNKNOWN && !wasm_is_num(a.type)) ||
		    (b.type != WASM_T_UNKNOWN && !wasm_is_num(b.type))) {
			wc_fail(c, "type mismatch in select: operands must be numeric "
				"without a type annotation");
			return;
		}
		if (a.type != b.type && a.type != WASM_T_UNKNOWN && b.type != WASM_T_UNKNOWN) {
			wc_fail(c, "type mismatch in select: %s and %s",
				wasm_type_name(a.type), wasm_type_name(b.type));
			return;
		}
		t = a.type == WASM_T_UNKNOWN ? b.type : a.type;
	}
	idx = c->sp;
	if (c->dead) {
		wc_push(c, t);
		return;
	}
	sa = wc_slot(c, &a, idx);
	sb = wc_slot(c, &b, idx + 1);
	sc = wc_slot(c, &cond, idx + 2);
	{
		uint32_t start = (uint32_t)c->n;

		dst = wc_push(c, t);
		wc_op(c, WASM_X_SELECT);
		wc_emit(c, dst);
		wc_emit(c, sa);
		wc_emit(c, sb);
		wc_emit(c, sc);
		wc_note_result(c, start, start + 1, idx);
	}
}

/* Emits op dst, operands... for instructions with one result. */
static void wc_simple(struct wc *c, enum wasm_xop x, uint8_t out, const uint32_t *words,
		      uint32_t n, uint32_t idx)
{
	uint32_t start = (uint32_t)c->n, dst, i;

	if (out) {
		dst = wc_push(c, out);
		if (c->dead)
			return;
		wc_op(c, x);
		wc_emit(c, dst);
	} else {
		if (c->dead)
			return;
		wc_op(c, x);
	}
	for (i = 0; i < n; i++)
		wc_emit(c, words[i]);
	if (out)
		wc_note_result(c, start, start + 1, idx);
}

static void wc_prefixed(struct wc *c, const struct wasm_instr *in)
{
	static const uint8_t iii[3] = { WASM_T_I32, WASM_T_I32, WASM_T_I32 };
	struct assay_wasm_module *m = c->m;
	const struct wasm_tabletype *t, *t2;
	uint32_t w[6], s[4];
	uint8_t types[3];

	if (in->op <= WASM_OP_TRUNC_SAT_LAST) {
		wc_numeric(c, &wc_satops[in->op - WASM_OP_TRUNC_SAT_FIRST], in->op);
		return;
	}
	switch (in->op) {
	case WASM_OP_MEMORY_INIT:
		if (wc_need_memory(c, in->op) < 0 || wc_data_seg(c, in->a, in->op) < 0)
			return;
		wc_pop_operands(c, iii, 3, in->op, s);
		w[0] = in->a, w[1] = s[0], w[2] = s[1], w[3] = s[2];
		wc_simple(c, WASM_X_MEMORY_INIT, 0, w, 4, 0);
		break;
	case WASM_OP_DATA_DROP:
		if (wc_data_seg(c, in->a, in->op) < 0)
			return;
		wc_simple(c, WASM_X_DATA_DROP, 0, &in->a, 1, 0);
		break;
	case WASM_OP_MEMORY_COPY:
	case WASM_OP_MEMORY_FILL:
		if (wc_need_memory(c, in->op) < 0)
			return;
		wc_pop_operands(c, iii, 3, in->op, s);
		wc_simple(c, in->op == WASM_OP_MEMORY_COPY ? WASM_X_MEMORY_COPY :
			  WASM_X_MEMORY_FILL, 0, s, 3, 0);
		break;
	case WASM_OP_TABLE_INIT:
		if (!(t = wc_table(c, in->b, in->op)) || wc_elem_seg(c, in->a, in->op) < 0)
			return;
		if (t->elem != m->elems[in->a].type) {
			wc_fail(c, "type mismatch in table.init: segment %u and table %u",
				in->a, in->b);
			return;
		}
		wc_pop_operands(c, iii, 3, in->op, s);
		w[0] = in->b, w[1] = in->a, w[2] = s[0], w[3] = s[1], w[4] = s[2];
		wc_simple(c, WASM_X_TABLE_INIT, 0, w, 5, 0);
		break;
	case WASM_OP_ELEM_DROP:
		if (wc_elem_seg(c, in->a, in->op) < 0)
			return;
		wc_simple(c, WASM_X_ELEM_DROP, 0, &in->a, 1, 0);
		break;
	case WASM_OP_TABLE_COPY:
		if (!(t = wc_table(c, in->a, in->op)) || !(t2 = wc_table(c, in->b, in->op)))
			return;
		if (t->elem != t2->elem) {
			wc_fail(c, "type mismatch in table.copy: tables %u and %u", in->a, in->b);
			return;
		}
		wc_pop_operands(c, iii, 3, in->op, s);
		w[0] = in->a, w[1] = in->b, w[2] = s[0], w[3] = s[1], w[4] = s[2];
		wc_simple(c, WASM_X_TABLE_COPY, 0, w, 5, 0);
		break;
	case WASM_OP_TABLE_GROW:
		if (!(t = wc_table(c, in->a, in->op)))
			return;
		types[0] = t->elem, types[1] = WASM_T_I32;
		wc_pop_operands(c, types, 2, in->op, s);
		w[0] = in->a, w[1] = s[0], w[2] = s[1];
		wc_simple(c, WASM_X_TABLE_GROW, WASM_T_I32, w, 3, c->sp);
		break;
	case WASM_OP_TABLE_SIZE:
		if (!(t = wc_table(c, in->a, in->op)))
			return;
		wc_simple(c, WASM_X_TABLE_SIZE, WASM_T_I32, &in->a, 1, c->sp);
		break;
	case WASM_OP_TABLE_FILL:
		if (!(t = wc_table(c, in->a, in->op)))
			return;
		types[0] = WASM_T_I32, types[1] = t->elem, types[2] = WASM_T_I32;
		wc_pop_operands(c, types, 3, in->op, s);
		w[0] = in->a, w[1] = s[0], w[2] = s[1], w[3] = s[2];
		wc_simple(c, WASM_X_TABLE_FILL, 0, w, 4, 0);
		break;
	}
}

static void wc_instr(struct wc *c, const struct wasm_instr *in)
{
	struct assay_wasm_module *m = c->m;
	uint32_t w[4], s[2], idx;
	struct wc_opnd e;
	uint8_t types[2];

	if (in->op >= 0x45 && in->op <= 0xc4) {
		wc_numeric(c, &wc_numops[in->op - 0x45], in->op);
		return;
	}
	if (in->op >= 0x28 && in->op <= 0x3e) {
		wc_memaccess(c, in);
		return;
	}
	if (in->op >= 0xfc00) {
		wc_prefixed(c, in);
		return;
	}
	switch (in->op) {
	case WASM_OP_UNREACHABLE:
		if (!c->dead)
			wc_op(c, WASM_X_UNREACHABLE);
		wc_unreachable(c);
		break;
	case WASM_OP_NOP:
		break;
	case WASM_OP_BLOCK:
	case WASM_OP_LOOP:
	case WASM_OP_IF:
		wc_block(c, in);
		break;
	case WASM_OP_ELSE:
		wc_else(c);
		break;
	case WASM_OP_END:
		wc_end(c);
		break;
	case WASM_OP_BR:
		wc_br(c, in);
		break;
	case WASM_OP_BR_IF:
		wc_br_if(c, in);
		break;
	case WASM_OP_BR_TABLE:
		wc_br_table(c, in);
		break;
	case WASM_OP_RETURN:
		wc_return(c);
		break;
	case WASM_OP_CALL:
		wc_call(c, in);
		break;
	case WASM_OP_CALL_INDIRECT:
		wc_call_indirect(c, in);
		break;
	case WASM_OP_DROP:
		(void)wc_pop(c, WASM_T_UNKNOWN, in->op);
		break;
	case WASM_OP_SELECT:
	case WASM_OP_SELECT_T:
		wc_select(c, in);
		break;
	case WASM_OP_LOCAL_GET:
		if (in->a >= c->n_locals) {
			wc_fail(c, "unknown local %u in local.get", in->a);
			return;
		}
		if (c->dead)
			wc_push(c, c->ltypes[in->a]);
		else
			wc_push_local(c, c->ltypes[in->a], in->a);
		break;
	case WASM_OP_LOCAL_SET:
	case WASM_OP_LOCAL_TEE:
		wc_local_set(c, in, in->op == WASM_OP_LOCAL_TEE);
		break;
	case WASM_OP_GLOBAL_GET:
	case WASM_OP_GLOBAL_SET:
		wc_global(c, in);
		break;
	case WASM_OP_TABLE_GET:
	case WASM_OP_TABLE_SET: {
		const struct wasm_tabletype *t = wc_table(c, in->a, in->op);

		if (!t)
			return;
		if (in->op == WASM_OP_TABLE_GET) {
			types[0] = WASM_T_I32;
			wc_pop_operands(c, types, 1, in->op, s);
			w[0] = in->a, w[1] = s[0];
			wc_simple(c, WASM_X_TABLE_GET, t->elem, w, 2, c->sp);
		} else {
			types[0] = WASM_T_I32, types[1] = t->elem;
			wc_pop_operands(c, types, 2, in->op, s);
			w[0] = in->a, w[1] = s[0], w[2] = s[1];
			wc_simple(c, WASM_X_TABLE_SET, 0, w, 3, 0);
		}
		break;
	}
	case WASM_OP_MEMORY_SIZE:
		if (wc_need_memory(c, in->op) < 0)
			return;
		wc_simple(c, WASM_X_MEMORY_SIZE, WASM_T_I32, w, 0, c->sp);
		break;
	case WASM_OP_MEMORY_GROW:
		if (wc_need_memory(c, in->op) < 0)
			return;
		types[0] = WASM_T_I32;
		wc_pop_operands(c, types, 1, in->op, s);
		wc_simple(c, WASM_X_MEMORY_GROW, WASM_T_I32, s, 1, c->sp);
		break;
	case WASM_OP_I32_CONST:
		wc_push_const(c, WASM_T_I32, in->imm & 0xffffffffu);
		break;
	case WASM_OP_I64_CONST:
		wc_push_const(c, WASM_T_I64, in->imm);
		break;
	case WASM_OP_F32_CONST:
		wc_push_const(c, WASM_T_F32, in->imm);
		break;
	case WASM_OP_F64_CONST:
		wc_push_const(c, WASM_T_F64, in->imm);
		break;
	case WASM_OP_REF_NULL:
		wc_push_const(c, in->type, 0);
		break;
	case WASM_OP_REF_IS_NULL:
		e = wc_pop(c, WASM_T_UNKNOWN, in->op);
		if (e.type != WASM_T_UNKNOWN && !wasm_is_ref(e.type)) {
			wc_fail(c, "type mismatch in ref.is_null: %s is no reference",
				wasm_type_name(e.type));
			return;
		}
		idx = c->sp;
		w[0] = c->dead ? 0 : wc_slot(c, &e, idx);
		wc_simple(c, WASM_X_REF_IS_NULL, WASM_T_I32, w, 1, idx);
		break;
	case WASM_OP_REF_FUNC:
		if (in->a >= m->n_funcs) {
			wc_fail(c, "unknown function %u in ref.func", in->a);
			return;
		}
		if (!m->declared_refs[in->a]) {
			wc_fail(c, "undeclared function reference %u", in->a);
			return;
		}
		wc_simple(c, WASM_X_REF_FUNC, WASM_T_FUNCREF, &in->a, 1, c->sp);
		break;
	default:
		wc_fail(c, "unexpected opcode 0x%x", in->op);
	}
}

/* ---- one function ---- */

static void wc_free(struct wc *c)
{
	free(c->code);
	free(c->st);
	free(c->cs);
	free(c->lrefs);
	free(c->consts);
	free(c->const_hash);
}

int wasm_compile_func(struct assay_wasm_module *m, uint32_t i, char *err, size_t errlen)
{
	struct wasm_func *fn = &m->funcs[i];
	struct wasm_code *code = fn->code;
	struct wc c;
	struct wc_ctrl *top;
	struct wasm_instr in;

	memset(&c, 0, sizeof(c));
	c.m = m;
	c.f = fn;
	c.ft = &m->types[fn->type_idx];
	c.fidx = m->n_func_imports + i;
	c.err = err;
	c.errlen = errlen;
	c.h = wasm_interp_handlers();
	c.r.p = fn->instrs;
	c.r.end = fn->body + fn->body_len;
	c.instr_at = fn->instrs;
	c.n_locals = fn->n_locals;
	c.ltypes = fn->local_types;
	c.const_cap = fn->n_const_instrs < WASM_MAX_CONST_SLOTS ? fn->n_const_instrs :
		      WASM_MAX_CONST_SLOTS;
	c.stack_base = c.n_locals + c.const_cap;
	c.lrefs = calloc(c.n_locals ? c.n_locals : 1, sizeof(*c.lrefs));
	c.consts = calloc(c.const_cap ? c.const_cap : 1, sizeof(*c.consts));
	c.hash_mask = 1;
	while (c.hash_mask < 2 * c.const_cap)
		c.hash_mask <<= 1;
	c.const_hash = calloc(c.hash_mask, sizeof(*c.const_hash));
	c.hash_mask--;
	if (!c.lrefs || !c.consts || !c.const_hash) {
		wc_free(&c);
		error_set(err, errlen, "out of memory");
		return -1;
	}
	top = wc_push_ctrl(&c, 0);
	if (!top) {
		wc_free(&c);
		return -1;
	}
	top->n_params = 0;
	top->n_results = c.ft->n_results;
	top->results = c.ft->types + c.ft->n_params;
	top->height = 0;
	while (c.csp && !c.failed) {
		c.instr_at = c.r.p;
		if (wasm_read_instr(&c.r, &in, m->has_data_count) < 0) {
			error_set(err, errlen, "malformed: %s", c.r.err);
			c.failed = 1;
			break;
		}
		if (c.cs[c.csp - 1].fuel_owner < c.csp)
			c.cs[c.cs[c.csp - 1].fuel_owner].fuel_count++;
		wc_instr(&c, &in);
	}
	if (!c.failed && c.r.p != c.r.end) {
		/* decode.c checked the body's extent */
		wc_fail(&c, "instructions after the end of the function");
	}
	if (c.failed) {
		wc_free(&c);
		return -1;
	}
	code->n_params = c.ft->n_params;
	code->n_locals = c.n_locals;
	code->n_consts = c.n_consts;
	code->frame_slots = c.stack_base + c.max_height;
	if (code->frame_slots < c.ft->n_results)
		code->frame_slots = c.ft->n_results;
	code->entry_fuel = c.entry_fuel;
	code->words = realloc(c.code, c.n * sizeof(*c.code));
	if (!code->words)
		code->words = c.code;
	c.code = NULL;
	code->consts = c.consts;
	c.consts = NULL;
	wc_free(&c);
	return 0;
}

void wasm_code_free(struct wasm_code *c)
{
	if (!c)
		return;
	free(c->words);
	free(c->consts);
	c->words = NULL;
	c->consts = NULL;
}

/* ---- opcode names, for messages ---- */

const char *wasm_op_name(uint32_t op)
{
	static const char *const names[0xd3] = {
		[0x00] = "unreachable", [0x01] = "nop", [0x02] = "block", [0x03] = "loop",
		[0x04] = "if", [0x05] = "else", [0x0b] = "end", [0x0c] = "br",
		[0x0d] = "br_if", [0x0e] = "br_table", [0x0f] = "return", [0x10] = "call",
		[0x11] = "call_indirect", [0x1a] = "drop", [0x1b] = "select",
		[0x1c] = "select", [0x20] = "local.get", [0x21] = "local.set",
		[0x22] = "local.tee", [0x23] = "global.get", [0x24] = "global.set",
		[0x25] = "table.get", [0x26] = "table.set", [0x28] = "i32.load",
		[0x29] = "i64.load", [0x2a] = "f32.load", [0x2b] = "f64.load",
		[0x2c] = "i32.load8_s", [0x2d] = "i32.load8_u", [0x2e] = "i32.load16_s",
		[0x2f] = "i32.load16_u", [0x30] = "i64.load8_s", [0x31] = "i64.load8_u",
		[0x32] = "i64.load16_s", [0x33] = "i64.load16_u", [0x34] = "i64.load32_s",
		[0x35] = "i64.load32_u", [0x36] = "i32.store", [0x37] = "i64.store",
		[0x38] = "f32.store", [0x39] = "f64.store", [0x3a] = "i32.store8",
		[0x3b] = "i32.store16", [0x3c] = "i64.store8", [0x3d] = "i64.store16",
		[0x3e] = "i64.store32", [0x3f] = "memory.size", [0x40] = "memory.grow",
		[0x41] = "i32.const", [0x42] = "i64.const", [0x43] = "f32.const",
		[0x44] = "f64.const", [0x45] = "i32.eqz", [0x46] = "i32.eq",
		[0x47] = "i32.ne", [0x48] = "i32.lt_s", [0x49] = "i32.lt_u",
		[0x4a] = "i32.gt_s", [0x4b] = "i32.gt_u", [0x4c] = "i32.le_s",
		[0x4d] = "i32.le_u", [0x4e] = "i32.ge_s", [0x4f] = "i32.ge_u",
		[0x50] = "i64.eqz", [0x51] = "i64.eq", [0x52] = "i64.ne",
		[0x53] = "i64.lt_s", [0x54] = "i64.lt_u", [0x55] = "i64.gt_s",
		[0x56] = "i64.gt_u", [0x57] = "i64.le_s", [0x58] = "i64.le_u",
		[0x59] = "i64.ge_s", [0x5a] = "i64.ge_u", [0x5b] = "f32.eq",
		[0x5c] = "f32.ne", [0x5d] = "f32.lt", [0x5e] = "f32.gt", [0x5f] = "f32.le",
		[0x60] = "f32.ge", [0x61] = "f64.eq", [0x62] = "f64.ne", [0x63] = "f64.lt",
		[0x64] = "f64.gt", [0x65] = "f64.le", [0x66] = "f64.ge",
		[0x67] = "i32.clz", [0x68] = "i32.ctz", [0x69] = "i32.popcnt",
		[0x6a] = "i32.add", [0x6b] = "i32.sub", [0x6c] = "i32.mul",
		[0x6d] = "i32.div_s", [0x6e] = "i32.div_u", [0x6f] = "i32.rem_s",
		[0x70] = "i32.rem_u", [0x71] = "i32.and", [0x72] = "i32.or",
		[0x73] = "i32.xor", [0x74] = "i32.shl", [0x75] = "i32.shr_s",
		[0x76] = "i32.shr_u", [0x77] = "i32.rotl", [0x78] = "i32.rotr",
		[0x79] = "i64.clz", [0x7a] = "i64.ctz", [0x7b] = "i64.popcnt",
		[0x7c] = "i64.add", [0x7d] = "i64.sub", [0x7e] = "i64.mul",
		[0x7f] = "i64.div_s", [0x80] = "i64.div_u", [0x81] = "i64.rem_s",
		[0x82] = "i64.rem_u", [0x83] = "i64.and", [0x84] = "i64.or",
		[0x85] = "i64.xor", [0x86] = "i64.shl", [0x87] = "i64.shr_s",
		[0x88] = "i64.shr_u", [0x89] = "i64.rotl", [0x8a] = "i64.rotr",
		[0x8b] = "f32.abs", [0x8c] = "f32.neg", [0x8d] = "f32.ceil",
		[0x8e] = "f32.floor", [0x8f] = "f32.trunc", [0x90] = "f32.nearest",
		[0x91] = "f32.sqrt", [0x92] = "f32.add", [0x93] = "f32.sub",
		[0x94] = "f32.mul", [0x95] = "f32.div", [0x96] = "f32.min",
		[0x97] = "f32.max", [0x98] = "f32.copysign", [0x99] = "f64.abs",
		[0x9a] = "f64.neg", [0x9b] = "f64.ceil", [0x9c] = "f64.floor",
		[0x9d] = "f64.trunc", [0x9e] = "f64.nearest", [0x9f] = "f64.sqrt",
		[0xa0] = "f64.add", [0xa1] = "f64.sub", [0xa2] = "f64.mul",
		[0xa3] = "f64.div", [0xa4] = "f64.min", [0xa5] = "f64.max",
		[0xa6] = "f64.copysign", [0xa7] = "i32.wrap_i64",
		[0xa8] = "i32.trunc_f32_s", [0xa9] = "i32.trunc_f32_u",
		[0xaa] = "i32.trunc_f64_s", [0xab] = "i32.trunc_f64_u",
		[0xac] = "i64.extend_i32_s", [0xad] = "i64.extend_i32_u",
		[0xae] = "i64.trunc_f32_s", [0xaf] = "i64.trunc_f32_u",
		[0xb0] = "i64.trunc_f64_s", [0xb1] = "i64.trunc_f64_u",
		[0xb2] = "f32.convert_i32_s", [0xb3] = "f32.convert_i32_u",
		[0xb4] = "f32.convert_i64_s", [0xb5] = "f32.convert_i64_u",
		[0xb6] = "f32.demote_f64", [0xb7] = "f64.convert_i32_s",
		[0xb8] = "f64.convert_i32_u", [0xb9] = "f64.convert_i64_s",
		[0xba] = "f64.convert_i64_u", [0xbb] = "f64.promote_f32",
		[0xbc] = "i32.reinterpret_f32", [0xbd] = "i64.reinterpret_f64",
		[0xbe] = "f32.reinterpret_i32", [0xbf] = "f64.reinterpret_i64",
		[0xc0] = "i32.extend8_s", [0xc1] = "i32.extend16_s",
		[0xc2] = "i64.extend8_s", [0xc3] = "i64.extend16_s",
		[0xc4] = "i64.extend32_s", [0xd0] = "ref.null", [0xd1] = "ref.is_null",
		[0xd2] = "ref.func",
	};
	static const char *const fc[18] = {
		"i32.trunc_sat_f32_s", "i32.trunc_sat_f32_u", "i32.trunc_sat_f64_s",
		"i32.trunc_sat_f64_u", "i64.trunc_sat_f32_s", "i64.trunc_sat_f32_u",
		"i64.trunc_sat_f64_s", "i64.trunc_sat_f64_u", "memory.init", "data.drop",
		"memory.copy", "memory.fill", "table.init", "elem.drop", "table.copy",
		"table.grow", "table.size", "table.fill",
	};

	if (op < 0xd3 && names[op])
		return names[op];
	if (op >= 0xfc00 && op - 0xfc00 < 18)
		return fc[op - 0xfc00];
	return "instruction";
}
