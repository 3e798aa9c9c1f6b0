/* Unit tests of the WebAssembly engine: hand-made modules (built by the
 * small assembler below, so no external tool is needed) covering decode
 * and validation errors, arithmetic, control flow, calls, memory, tables,
 * traps, limits, host functions, linking, and hostile inputs. The spec
 * test suite (tests/spec.c) covers conformance in depth; these tests pin
 * the engine's own behaviour: messages, limits, the translation's
 * peepholes (fused compares, retargeted results, deferred locals). */
#include <assay/wasm.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/check.h"

/* ---- a tiny module assembler ---- */

struct mb {
	uint8_t *p;
	size_t n, cap;
};

static void mb_byte(struct mb *b, uint8_t v)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 256;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	b->p[b->n++] = v;
}

static void mb_bytes(struct mb *b, const void *p, size_t n)
{
	const uint8_t *s = p;
	size_t i;

	for (i = 0; i < n; i++)
		mb_byte(b, s[i]);
}

static void mb_u32(struct mb *b, uint32_t v)
{
	do {
		uint8_t c = v & 0x7f;

		v >>= 7;
		mb_byte(b, (uint8_t)(c | (v ? 0x80 : 0)));
	} while (v);
}

static void mb_str(struct mb *b, const char *s)
{
	mb_u32(b, (uint32_t)strlen(s));
	mb_bytes(b, s, strlen(s));
}

static void mb_section(struct mb *b, uint8_t id, struct mb *content)
{
	mb_byte(b, id);
	mb_u32(b, (uint32_t)content->n);
	mb_bytes(b, content->p, content->n);
	free(content->p);
	memset(content, 0, sizeof(*content));
}

static void mb_header(struct mb *b)
{
	static const uint8_t h[8] = { 0, 'a', 's', 'm', 1, 0, 0, 0 };

	mb_bytes(b, h, 8);
}

static uint8_t type_code(char c)
{
	switch (c) {
	case 'i': return 0x7f;
	case 'I': return 0x7e;
	case 'f': return 0x7d;
	case 'F': return 0x7c;
	case 'r': return 0x70;
	case 'x': return 0x6f;
	}
	abort();
}

static void mb_functype(struct mb *b, const char *params, const char *results)
{
	size_t i;

	mb_byte(b, 0x60);
	mb_u32(b, (uint32_t)strlen(params));
	for (i = 0; params[i]; i++)
		mb_byte(b, type_code(params[i]));
	mb_u32(b, (uint32_t)strlen(results));
	for (i = 0; results[i]; i++)
		mb_byte(b, type_code(results[i]));
}

/* One function exported as "f" (plus optional pieces), the common case. */
struct fspec {
	const char *params, *results, *locals;	/* locals: one char per local */
	const uint8_t *body;			/* instructions, end included */
	size_t body_len;
	int memory_pages;			/* -1: none */
	int table;				/* funcref table of this size, -1: none */
	const uint8_t *data;			/* active data at offset 0 */
	size_t data_len;
};

static struct mb build_func(const struct fspec *s)
{
	struct mb m = { 0 }, c = { 0 }, body = { 0 };
	size_t i;

	mb_header(&m);
	mb_u32(&c, 1);
	mb_functype(&c, s->params, s->results);
	mb_section(&m, 1, &c);
	mb_u32(&c, 1);
	mb_u32(&c, 0);
	mb_section(&m, 3, &c);
	if (s->table >= 0) {
		mb_u32(&c, 1);
		mb_byte(&c, 0x70);
		mb_byte(&c, 0);
		mb_u32(&c, (uint32_t)s->table);
		mb_section(&m, 4, &c);
	}
	if (s->memory_pages >= 0) {
		mb_u32(&c, 1);
		mb_byte(&c, 0);
		mb_u32(&c, (uint32_t)s->memory_pages);
		mb_section(&m, 5, &c);
	}
	mb_u32(&c, 1);
	mb_str(&c, "f");
	mb_byte(&c, 0);
	mb_u32(&c, 0);
	mb_section(&m, 7, &c);
	/* locals, one group per local: simple and valid */
	mb_u32(&body, (uint32_t)strlen(s->locals));
	for (i = 0; s->locals[i]; i++) {
		mb_u32(&body, 1);
		mb_byte(&body, type_code(s->locals[i]));
	}
	mb_bytes(&body, s->body, s->body_len);
	mb_u32(&c, 1);
	mb_u32(&c, (uint32_t)body.n);
	mb_bytes(&c, body.p, body.n);
	free(body.p);
	mb_section(&m, 10, &c);
	if (s->data) {
		mb_u32(&c, 1);
		mb_byte(&c, 0);
		mb_byte(&c, 0x41);
		mb_byte(&c, 0);
		mb_byte(&c, 0x0b);
		mb_u32(&c, (uint32_t)s->data_len);
		mb_bytes(&c, s->data, s->data_len);
		mb_section(&m, 11, &c);
	}
	return m;
}

/* ---- running ---- */

static struct assay_wasm_store *store;

struct loaded {
	struct assay_wasm_module *mod;
	struct assay_wasm_instance *inst;
	struct assay_wasm_func *f;
	char err[256];
};

static int load_spec(const struct fspec *s, struct loaded *l)
{
	struct mb m = build_func(s);
	struct assay_wasm_trap trap;
	struct assay_wasm_extern ext;

	memset(l, 0, sizeof(*l));
	l->mod = assay_wasm_module_load(m.p, m.n, l->err, sizeof(l->err));
	free(m.p);
	if (!l->mod)
		return -1;
	l->inst = assay_wasm_instantiate(store, l->mod, NULL, 0, &trap, l->err, sizeof(l->err));
	if (!l->inst) {
		if (trap.message[0])
			snprintf(l->err, sizeof(l->err), "trap: %s", trap.message);
		return -1;
	}
	if (assay_wasm_instance_export(l->inst, "f", &ext) < 0)
		return -1;
	l->f = ext.of.func;
	return 0;
}

#define FSPEC(p, r, loc, ...)                                                 \
	static const uint8_t body_[] = { __VA_ARGS__ };                      \
	struct fspec spec_ = { p, r, loc, body_, sizeof(body_), 1, -1, NULL, 0 }

static struct assay_wasm_value vi32(int32_t v)
{
	struct assay_wasm_value x = { .type = ASSAY_WASM_I32 };

	x.of.i32 = v;
	return x;
}

static struct assay_wasm_value vi64(int64_t v)
{
	struct assay_wasm_value x = { .type = ASSAY_WASM_I64 };

	x.of.i64 = v;
	return x;
}

static struct assay_wasm_value vf32(float f)
{
	struct assay_wasm_value x = { .type = ASSAY_WASM_F32 };

	memcpy(&x.of.f32, &f, 4);
	return x;
}

static struct assay_wasm_value vf64(double d)
{
	struct assay_wasm_value x = { .type = ASSAY_WASM_F64 };

	memcpy(&x.of.f64, &d, 8);
	return x;
}

/* Calls l->f with up to 3 args and one result; returns the trap message
 * ("" when none). */
static const char *call1(struct loaded *l, const struct assay_wasm_value *args, uint32_t n,
			 struct assay_wasm_value *res, uint32_t nres)
{
	static struct assay_wasm_trap trap;

	if (assay_wasm_call(store, l->f, args, n, res, nres, &trap) == 0)
		return "";
	return trap.message[0] ? trap.message : "(trap without message)";
}

static int32_t run_i32(const struct fspec *s, const struct assay_wasm_value *args, uint32_t n,
		       const char **trap)
{
	struct loaded l;
	struct assay_wasm_value r;

	memset(&r, 0, sizeof(r));
	*trap = "(load failed)";
	if (load_spec(s, &l) < 0) {
		printf("  load: %s\n", l.err);
		assay_wasm_module_free(l.mod);
		return 0;
	}
	*trap = call1(&l, args, n, &r, 1);
	assay_wasm_module_free(l.mod);
	return r.of.i32;
}

static const char *load_error(const uint8_t *p, size_t n)
{
	static char err[256];
	struct assay_wasm_module *m;
	char verr[256];

	err[0] = 0;
	m = assay_wasm_module_load(p, n, err, sizeof(err));
	if (m) {
		assay_wasm_module_free(m);
		return "(loaded)";
	}
	/* validate must agree with load */
	if (assay_wasm_module_validate(p, n, verr, sizeof(verr)) == 0 || strcmp(verr, err))
		return "(validate disagrees)";
	return err;
}

static const char *spec_error(const struct fspec *s)
{
	struct mb m = build_func(s);
	const char *e = load_error(m.p, m.n);

	free(m.p);
	return e;
}

static int starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- opcodes ---- */

#define END 0x0b
#define LGET(i) 0x20, (i)
#define LSET(i) 0x21, (i)
#define LTEE(i) 0x22, (i)
#define I32C(v) 0x41, ((v) & 0x7f)		/* -64 .. 63 */
#define I64C(v) 0x42, ((v) & 0x7f)
#define I32_ADD 0x6a
#define I32_SUB 0x6b
#define I32_MUL 0x6c
#define I32_LT_S 0x48
#define I32_EQZ 0x45
#define BR_IF(l) 0x0d, (l)
#define BR(l) 0x0c, (l)
#define BLOCK(t) 0x02, (t)
#define LOOP(t) 0x03, (t)
#define IF(t) 0x04, (t)
#define ELSE 0x05
#define VOID 0x40
#define T_I32 0x7f
#define T_I64 0x7e
#define CALL(f) 0x10, (f)
#define DROP 0x1a
#define RETURN 0x0f

/* ---- decode errors ---- */

static void test_decode_errors(void)
{
	static const uint8_t empty[1] = { 0 };
	static const uint8_t badmagic[] = { 0, 'a', 's', 'n', 1, 0, 0, 0 };
	static const uint8_t badver[] = { 0, 'a', 's', 'm', 2, 0, 0, 0 };
	static const uint8_t trunc[] = { 0, 'a', 's', 'm', 1, 0 };
	static const uint8_t badsec[] = { 0, 'a', 's', 'm', 1, 0, 0, 0, 14, 0 };
	/* a type section claiming 0xffffffff types in 2 bytes */
	static const uint8_t hugecount[] = { 0, 'a', 's', 'm', 1, 0, 0, 0,
		1, 6, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x60 };
	/* over-long and too-large LEB128 section sizes */
	static const uint8_t toolong[] = { 0, 'a', 's', 'm', 1, 0, 0, 0,
		1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00 };
	static const uint8_t toolarge[] = { 0, 'a', 's', 'm', 1, 0, 0, 0,
		1, 0x80, 0x80, 0x80, 0x80, 0x70 };
	/* a type section of size 5 whose one type takes 4 bytes */
	static const uint8_t mismatch[] = { 0, 'a', 's', 'm', 1, 0, 0, 0,
		1, 5, 1, 0x60, 0, 0, 5, 1, 0 };
	/* an export name that is not UTF-8 (a lone continuation byte) */
	static const uint8_t badname[] = { 0, 'a', 's', 'm', 1, 0, 0, 0,
		7, 5, 1, 1, 0x80, 2, 0 };
	/* sections out of order: memory before function */
	static const uint8_t order[] = { 0, 'a', 's', 'm', 1, 0, 0, 0,
		5, 3, 1, 0, 1, 3, 1, 0 };
	/* a function whose locals add up to more than 2^32 */
	static const uint8_t locals[] = { 0, 'a', 's', 'm', 1, 0, 0, 0,
		1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0,
		10, 16, 1, 14, 2, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7f,
		0xff, 0xff, 0xff, 0xff, 0x0f, 0x7e, 0x0b };
	/* many locals, but within 2^32: our own limit refuses them */
	static const uint8_t locals2[] = { 0, 'a', 's', 'm', 1, 0, 0, 0,
		1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0,
		10, 9, 1, 7, 1, 0xff, 0xff, 0xff, 0x0f, 0x7f, 0x0b };
	/* an unknown opcode in a body */
	static const uint8_t badop[] = { 0, 'a', 's', 'm', 1, 0, 0, 0,
		1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 10, 5, 1, 3, 0, 0xff, 0x0b };
	/* a SIMD instruction (v128.const): named, not just unknown */
	static const uint8_t simd[] = { 0, 'a', 's', 'm', 1, 0, 0, 0,
		1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 10, 6, 1, 4, 0, 0xfd, 0x0c, 0x0b };
	/* a body without its end */
	static const uint8_t noend[] = { 0, 'a', 's', 'm', 1, 0, 0, 0,
		1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 10, 4, 1, 2, 0, 0x01 };

	CHECK(starts_with(load_error(empty, 0), "malformed: unexpected end"));
	CHECK(starts_with(load_error(badmagic, sizeof(badmagic)),
			  "malformed: magic header not detected"));
	CHECK(starts_with(load_error(badver, sizeof(badver)),
			  "malformed: unknown binary version"));
	CHECK(starts_with(load_error(trunc, sizeof(trunc)), "malformed: unexpected end"));
	CHECK(starts_with(load_error(badsec, sizeof(badsec)),
			  "malformed: malformed section id"));
	CHECK(starts_with(load_error(hugecount, sizeof(hugecount)),
			  "malformed: length out of bounds"));
	CHECK(starts_with(load_error(toolong, sizeof(toolong)),
			  "malformed: integer representation too long"));
	CHECK(starts_with(load_error(toolarge, sizeof(toolarge)),
			  "malformed: integer too large"));
	CHECK(starts_with(load_error(mismatch, sizeof(mismatch)),
			  "malformed: section size mismatch"));
	CHECK(starts_with(load_error(badname, sizeof(badname)),
			  "malformed: malformed UTF-8 encoding"));
	CHECK(starts_with(load_error(order, sizeof(order)),
			  "malformed: unexpected content after last section"));
	CHECK(starts_with(load_error(locals, sizeof(locals)), "malformed: too many locals"));
	CHECK(starts_with(load_error(locals2, sizeof(locals2)), "malformed: too many locals"));
	CHECK(starts_with(load_error(badop, sizeof(badop)), "malformed: illegal opcode"));
	CHECK(starts_with(load_error(simd, sizeof(simd)),
			  "malformed: illegal opcode 0xfd (SIMD, which this engine does not support)"));
	CHECK(starts_with(load_error(noend, sizeof(noend)), "malformed: unexpected end"));
	CHECK(starts_with(load_error(NULL, 0), "malformed: unexpected end"));
}

/* ---- validation errors ---- */

static void test_validation_errors(void)
{
	{
		FSPEC("i", "i", "", LGET(0), I64C(1), I32_ADD, END);
		CHECK(starts_with(spec_error(&spec_), "invalid: type mismatch in i32.add"));
	}
	{
		FSPEC("", "", "", LGET(3), DROP, END);
		CHECK(starts_with(spec_error(&spec_), "invalid: unknown local 3"));
	}
	{
		FSPEC("", "", "", BR(2), END);
		CHECK(starts_with(spec_error(&spec_), "invalid: unknown label"));
	}
	{
		FSPEC("", "i", "", END);	/* missing result */
		CHECK(starts_with(spec_error(&spec_), "invalid: type mismatch"));
	}
	{
		FSPEC("", "", "", I32C(1), END);	/* value left over */
		CHECK(starts_with(spec_error(&spec_), "invalid: type mismatch"));
	}
	{
		/* i32.load with alignment 2^3 > 4 */
		FSPEC("", "", "", I32C(0), 0x28, 3, 0, DROP, END);
		CHECK(starts_with(spec_error(&spec_),
				  "invalid: alignment must not be larger than natural"));
	}
	{
		FSPEC("", "", "", I32C(0), 0x28, 2, 0, DROP, END);
		spec_.memory_pages = -1;
		CHECK(starts_with(spec_error(&spec_), "invalid: unknown memory 0"));
	}
	{
		/* ref.func of a function not declared anywhere else */
		FSPEC("", "", "", 0xd2, 0, DROP, END);
		/* exported as "f", so declared: valid */
		CHECK(!strcmp(spec_error(&spec_), "(loaded)"));
	}
	{
		/* unreachable code is still type-checked, with a polymorphic stack */
		FSPEC("", "i", "", 0x00, I32_ADD, END);
		CHECK(!strcmp(spec_error(&spec_), "(loaded)"));
	}
	{
		FSPEC("", "i", "", 0x00, I64C(0), I32_ADD, END);
		CHECK(starts_with(spec_error(&spec_), "invalid: type mismatch"));
	}
	{
		/* select on references needs the typed form */
		FSPEC("", "", "", 0xd0, 0x70, 0xd0, 0x70, I32C(1), 0x1b, DROP, END);
		CHECK(starts_with(spec_error(&spec_), "invalid: type mismatch in select"));
	}
	{
		/* memory.init without a data count section nor data: unknown segment */
		FSPEC("", "", "", I32C(0), I32C(0), I32C(0), 0xfc, 8, 0, 0, END);
		CHECK(starts_with(spec_error(&spec_), "invalid: unknown data segment 0"));
	}
}

/* ---- arithmetic ---- */

static void test_arith(void)
{
	const char *trap;
	struct assay_wasm_value a[2];

	{
		FSPEC("ii", "i", "", LGET(0), LGET(1), 0x6d, END);	/* div_s */
		a[0] = vi32(-7), a[1] = vi32(2);
		CHECK_INT(run_i32(&spec_, a, 2, &trap), -3);
		CHECK_STR(trap, "");
		a[1] = vi32(0);
		run_i32(&spec_, a, 2, &trap);
		CHECK_STR(trap, "integer divide by zero");
		a[0] = vi32(INT32_MIN), a[1] = vi32(-1);
		run_i32(&spec_, a, 2, &trap);
		CHECK_STR(trap, "integer overflow");
	}
	{
		FSPEC("ii", "i", "", LGET(0), LGET(1), 0x6f, END);	/* rem_s */
		a[0] = vi32(INT32_MIN), a[1] = vi32(-1);
		CHECK_INT(run_i32(&spec_, a, 2, &trap), 0);
		CHECK_STR(trap, "");
		a[0] = vi32(-7), a[1] = vi32(2);
		CHECK_INT(run_i32(&spec_, a, 2, &trap), -1);
	}
	{
		FSPEC("ii", "i", "", LGET(0), LGET(1), 0x74, END);	/* shl masks */
		a[0] = vi32(1), a[1] = vi32(33);
		CHECK_INT(run_i32(&spec_, a, 2, &trap), 2);
	}
	{
		FSPEC("ii", "i", "", LGET(0), LGET(1), 0x77, END);	/* rotl */
		a[0] = vi32((int32_t)0x80000001u), a[1] = vi32(1);
		CHECK_INT(run_i32(&spec_, a, 2, &trap), 3);
	}
	{
		FSPEC("i", "i", "", LGET(0), 0x67, END);		/* clz */
		a[0] = vi32(0);
		CHECK_INT(run_i32(&spec_, a, 1, &trap), 32);
		a[0] = vi32(1);
		CHECK_INT(run_i32(&spec_, a, 1, &trap), 31);
	}
	{
		/* (x + 5) with a constant operand: the immediate form */
		FSPEC("i", "i", "", LGET(0), I32C(5), I32_ADD, END);
		a[0] = vi32(10);
		CHECK_INT(run_i32(&spec_, a, 1, &trap), 15);
	}
	{
		/* 5 - x: a constant first operand of a non-commutative op */
		FSPEC("i", "i", "", I32C(5), LGET(0), I32_SUB, END);
		a[0] = vi32(7);
		CHECK_INT(run_i32(&spec_, a, 1, &trap), -2);
	}
	{
		/* 3 < x: the compare is mirrored to x > 3 */
		FSPEC("i", "i", "", I32C(3), LGET(0), I32_LT_S, END);
		a[0] = vi32(4);
		CHECK_INT(run_i32(&spec_, a, 1, &trap), 1);
		a[0] = vi32(3);
		CHECK_INT(run_i32(&spec_, a, 1, &trap), 0);
	}
	{
		/* constants folded at load time; x + 0 is x */
		FSPEC("i", "i", "i", I32C(-8), I32C(1), 0x76, LGET(0), I32C(0), I32_ADD,
		      LTEE(1), I32_ADD, LGET(1), I32_SUB, END);
		a[0] = vi32(5);
		CHECK_INT(run_i32(&spec_, a, 1, &trap), 0x7ffffffc);
	}
	{
		/* 0 + x*3, 0 | x*3, 0 ^ x*3, 1 * x*3, -1 & x*3 where x*3 was
		 * computed: the constant first operand is swapped away, x*3
		 * is its identity and must be taken from its own slot, not
		 * from the slot below (which holds x*7 here). Found by the
		 * differential fuzzer (fuzz/diff_wasm.sh). */
		static const uint8_t ops[5][2] = {
			{ 0, I32_ADD }, { 0, 0x72 }, { 0, 0x73 }, { 1, I32_MUL }, { 0x7f, 0x71 },
		};
		size_t k;

		for (k = 0; k < 5; k++) {
			const uint8_t body[] = { LGET(0), I32C(7), I32_MUL, DROP,
						 I32C(ops[k][0]), LGET(0), I32C(3), I32_MUL,
						 ops[k][1], END };
			struct fspec s = { "i", "i", "", body, sizeof(body), 1, -1, NULL, 0 };

			a[0] = vi32(5);
			CHECK_INT(run_i32(&s, a, 1, &trap), 15);
			CHECK_STR(trap, "");
		}
	}
	{
		/* the same in i64: 0 + x*3 */
		FSPEC("I", "i", "", LGET(0), I64C(7), 0x7e, DROP, I64C(0), LGET(0), I64C(3),
		      0x7e, 0x7c, 0xa7, END);
		a[0] = vi64(5);
		CHECK_INT(run_i32(&spec_, a, 1, &trap), 15);
	}
	{
		/* (x >> 4) & 0xf, fused, then retargeted to a local */
		FSPEC("i", "i", "i", LGET(0), I32C(4), 0x76, I32C(15), 0x71, LSET(1),
		      LGET(1), END);
		a[0] = vi32(0x1234);
		CHECK_INT(run_i32(&spec_, a, 1, &trap), 3);
	}
	{
		/* a * b + c with the product on either side of the add */
		FSPEC("ii", "i", "", LGET(0), LGET(1), I32_MUL, I32C(7), LGET(0), I32_MUL,
		      I32_ADD, LGET(1), LGET(1), I32_MUL, I32_ADD, END);
		a[0] = vi32(3), a[1] = vi32(-5);
		CHECK_INT(run_i32(&spec_, a, 2, &trap), -15 + 21 + 25);
	}
	{
		/* i64: (x * 1000000007) >> 3 on negative numbers */
		static const uint8_t body[] = { LGET(0), 0x42, 0x87, 0x94, 0xeb, 0xdc, 0x03,
			0x7e, I64C(3), 0x87, 0xa7, END };
		struct fspec s = { "I", "i", "", body, sizeof(body), -1, -1, NULL, 0 };

		a[0] = vi64(-123456789);
		CHECK_INT(run_i32(&s, a, 1, &trap),
			  (int32_t)(((int64_t)-123456789 * 1000000007) >> 3));
	}
}

/* Runs a float function of one or two f32/f64 operands; returns bits. */
static uint64_t run_float(const char *params, const char *res, const uint8_t *body,
			  size_t n, const struct assay_wasm_value *args, const char **trap)
{
	struct fspec s = { params, res, "", body, n, -1, -1, NULL, 0 };
	struct loaded l;
	struct assay_wasm_value r;

	memset(&r, 0, sizeof(r));
	*trap = "(load failed)";
	if (load_spec(&s, &l) < 0) {
		assay_wasm_module_free(l.mod);
		return 0;
	}
	*trap = call1(&l, args, (uint32_t)strlen(params), &r, 1);
	assay_wasm_module_free(l.mod);
	return r.type == ASSAY_WASM_F64 || r.type == ASSAY_WASM_I64 ? r.of.f64 : r.of.f32;
}

static void test_floats(void)
{
	static const uint8_t min32[] = { LGET(0), LGET(1), 0x96, END };
	static const uint8_t max32[] = { LGET(0), LGET(1), 0x97, END };
	static const uint8_t nearest32[] = { LGET(0), 0x90, END };
	static const uint8_t floor64[] = { LGET(0), 0x9c, END };
	static const uint8_t copysign64[] = { LGET(0), LGET(1), 0xa6, END };
	static const uint8_t trunc_s[] = { LGET(0), 0xa8, END };	/* i32.trunc_f32_s */
	static const uint8_t sat_u[] = { LGET(0), 0xfc, 1, END };	/* i32.trunc_sat_f32_u */
	static const uint8_t conv_u64[] = { LGET(0), 0xb5, END };	/* f32.convert_i64_u */
	struct assay_wasm_value a[2];
	const char *trap;
	uint64_t r;

	a[0] = vf32(-0.0f), a[1] = vf32(0.0f);
	CHECK_INT(run_float("ff", "f", min32, sizeof(min32), a, &trap), 0x80000000u);
	CHECK_INT(run_float("ff", "f", max32, sizeof(max32), a, &trap), 0);
	a[0] = vf32(NAN), a[1] = vf32(1.0f);
	r = run_float("ff", "f", min32, sizeof(min32), a, &trap);
	CHECK((r & 0x7fc00000u) == 0x7fc00000u);
	a[0] = vf32(2.5f);
	CHECK_INT(run_float("f", "f", nearest32, sizeof(nearest32), a, &trap), 0x40000000u);
	a[0] = vf32(-3.5f);
	CHECK_INT(run_float("f", "f", nearest32, sizeof(nearest32), a, &trap), 0xc0800000u);
	/* a signalling NaN comes back quiet from floor */
	a[0].type = ASSAY_WASM_F64;
	a[0].of.f64 = 0x7ff0000000000001ull;
	r = run_float("F", "F", floor64, sizeof(floor64), a, &trap);
	CHECK((r & 0x7ff8000000000000ull) == 0x7ff8000000000000ull);
	a[0] = vf64(3.0), a[1] = vf64(-0.0);
	CHECK(run_float("FF", "F", copysign64, sizeof(copysign64), a, &trap) ==
	      0xc008000000000000ull);
	a[0] = vf32(-2147483648.0f);
	CHECK_INT(run_float("f", "i", trunc_s, sizeof(trunc_s), a, &trap), 0x80000000u);
	CHECK_STR(trap, "");
	a[0] = vf32(2147483648.0f);
	run_float("f", "i", trunc_s, sizeof(trunc_s), a, &trap);
	CHECK_STR(trap, "integer overflow");
	a[0] = vf32(NAN);
	run_float("f", "i", trunc_s, sizeof(trunc_s), a, &trap);
	CHECK_STR(trap, "invalid conversion to integer");
	a[0] = vf32(-5.0f);
	CHECK_INT(run_float("f", "i", sat_u, sizeof(sat_u), a, &trap), 0);
	a[0] = vf32(1e20f);
	CHECK_INT(run_float("f", "i", sat_u, sizeof(sat_u), a, &trap), 0xffffffffu);
	/* 2^64 - 1 rounds to 2^64 in f32 */
	a[0] = vi64(-1);
	CHECK_INT(run_float("I", "f", conv_u64, sizeof(conv_u64), a, &trap), 0x5f800000u);
}

/* ---- control flow ---- */

static void test_control(void)
{
	struct assay_wasm_value a[2];
	const char *trap;

	{
		/* sum 1..n with a loop: local.tee, fused compare + br_if */
		FSPEC("i", "i", "ii",
		      LOOP(VOID),
			LGET(1), I32C(1), I32_ADD, LTEE(1),
			LGET(2), I32_ADD, LSET(2),
			LGET(1), LGET(0), I32_LT_S, BR_IF(0),
		      END,
		      LGET(2), END);
		a[0] = vi32(100);
		CHECK_INT(run_i32(&spec_, a, 1, &trap), 5050);
		CHECK_STR(trap, "");
	}
	{
		/* if/else with a result, the condition a fused eqz */
		FSPEC("i", "i", "", LGET(0), I32_EQZ, IF(T_I32), I32C(10), ELSE, I32C(20), END,
		      END);
		a[0] = vi32(0);
		CHECK_INT(run_i32(&spec_, a, 1, &trap), 10);
		a[0] = vi32(3);
		CHECK_INT(run_i32(&spec_, a, 1, &trap), 20);
	}
	{
		/* br_table: 0 -> 100, 1 -> 101, others -> 102 */
		FSPEC("i", "i", "",
		      BLOCK(VOID), BLOCK(VOID), BLOCK(VOID),
		      LGET(0), 0x0e, 2, 0, 1, 2,
		      END, I32C(100 - 128), RETURN,
		      END, I32C(101 - 128), RETURN,
		      END, I32C(102 - 128), END);
		a[0] = vi32(0);
		CHECK_INT(run_i32(&spec_, a, 1, &trap), 100 - 128);
		a[0] = vi32(1);
		CHECK_INT(run_i32(&spec_, a, 1, &trap), 101 - 128);
		a[0] = vi32(77);
		CHECK_INT(run_i32(&spec_, a, 1, &trap), 102 - 128);
	}
	{
		/* br_table carrying a value to labels at different heights */
		FSPEC("i", "i", "",
		      BLOCK(T_I32), I32C(1), BLOCK(T_I32),
		      I32C(7), LGET(0), 0x0e, 1, 0, 1,
		      END, I32_ADD,
		      END, END);
		a[0] = vi32(0);
		CHECK_INT(run_i32(&spec_, a, 1, &trap), 8);	/* 7 to inner, + 1 */
		a[0] = vi32(1);
		CHECK_INT(run_i32(&spec_, a, 1, &trap), 7);	/* 7 to outer */
	}
	{
		/* br_table jumping backwards to a loop: count x down to 0 */
		FSPEC("i", "i", "i",
		      BLOCK(VOID), LOOP(VOID),
		      LGET(1), I32C(1), I32_ADD, LSET(1),
		      LGET(0), I32C(1), I32_SUB, LTEE(0), I32_EQZ,
		      0x0e, 1, 0, 1,
		      END, END, LGET(1), END);
		a[0] = vi32(5);
		CHECK_INT(run_i32(&spec_, a, 1, &trap), 5);
		CHECK_STR(trap, "");
	}
	{
		/* a deferred local.get must keep the old value across local.set */
		FSPEC("i", "i", "", LGET(0), I32C(5), LSET(0), LGET(0), I32_SUB, END);
		a[0] = vi32(20);
		CHECK_INT(run_i32(&spec_, a, 1, &trap), 15);
	}
	{
		/* ... and across a block boundary with a branch out of it */
		FSPEC("i", "i", "",
		      LGET(0),
		      BLOCK(VOID), LGET(0), BR_IF(0), I32C(9), LSET(0), END,
		      LGET(0), I32_ADD, END);
		a[0] = vi32(0);
		CHECK_INT(run_i32(&spec_, a, 1, &trap), 9);
		a[0] = vi32(4);
		CHECK_INT(run_i32(&spec_, a, 1, &trap), 8);
	}
	{
		/* multi-value: a block with a type-index block type is tested in
		 * the spec suite; here select and a br_if carrying a value */
		FSPEC("i", "i", "",
		      BLOCK(T_I32), I32C(1), LGET(0), BR_IF(0), DROP, I32C(2), END, END);
		a[0] = vi32(1);
		CHECK_INT(run_i32(&spec_, a, 1, &trap), 1);
		a[0] = vi32(0);
		CHECK_INT(run_i32(&spec_, a, 1, &trap), 2);
	}
	{
		FSPEC("", "i", "", 0x00, END);
		run_i32(&spec_, NULL, 0, &trap);
		CHECK_STR(trap, "unreachable");
	}
}

/* ---- calls, recursion, call depth ---- */

static void test_calls(void)
{
	struct assay_wasm_value a[1], r;
	struct loaded l;

	{
		/* fac(n) = n < 2 ? 1 : n * fac(n - 1), as i64 */
		FSPEC("I", "I", "",
		      LGET(0), I64C(2), 0x53, IF(T_I64), I64C(1), ELSE,
		      LGET(0), LGET(0), I64C(1), 0x7d, CALL(0), 0x7e, END, END);
		CHECK(load_spec(&spec_, &l) == 0);
		a[0] = vi64(20);
		CHECK_STR(call1(&l, a, 1, &r, 1), "");
		CHECK(r.of.i64 == 2432902008176640000LL);
		assay_wasm_module_free(l.mod);
	}
	{
		/* endless recursion: a trap, not a crash, and the store lives on */
		FSPEC("i", "i", "", LGET(0), CALL(0), END);
		CHECK(load_spec(&spec_, &l) == 0);
		a[0] = vi32(1);
		CHECK_STR(call1(&l, a, 1, &r, 1), "call stack exhausted");
		CHECK_STR(call1(&l, a, 1, &r, 1), "call stack exhausted");
		assay_wasm_module_free(l.mod);
	}
	{
		/* a wrong argument list is refused */
		FSPEC("i", "i", "", LGET(0), END);
		CHECK(load_spec(&spec_, &l) == 0);
		a[0] = vi64(1);
		CHECK(strstr(call1(&l, a, 1, &r, 1), "argument 0"));
		CHECK(strstr(call1(&l, a, 0, &r, 1), "arguments"));
		assay_wasm_module_free(l.mod);
	}
}

static void test_call_depth_limit(void)
{
	struct assay_wasm_limits lim = { .call_depth = 50 };
	struct assay_wasm_store *saved = store;
	struct assay_wasm_value a[1], r;
	struct loaded l;

	/* depth(n) = n == 0 ? 0 : depth(n - 1) + 1 */
	FSPEC("i", "i", "",
	      LGET(0), I32_EQZ, IF(T_I32), I32C(0), ELSE,
	      LGET(0), I32C(1), I32_SUB, CALL(0), I32C(1), I32_ADD, END, END);
	store = assay_wasm_store_new(&lim);
	CHECK(store != NULL);
	CHECK(load_spec(&spec_, &l) == 0);
	a[0] = vi32(40);
	CHECK_STR(call1(&l, a, 1, &r, 1), "");
	CHECK_INT(r.of.i32, 40);
	a[0] = vi32(60);
	CHECK_STR(call1(&l, a, 1, &r, 1), "call stack exhausted");
	assay_wasm_module_free(l.mod);
	assay_wasm_store_free(store);
	store = saved;
}

/* ---- memory ---- */

static void test_memory(void)
{
	static const uint8_t data[] = { 1, 2, 3, 4 };
	struct assay_wasm_value a[2], r;
	struct assay_wasm_memory *mem;
	struct assay_wasm_extern ext;
	const char *trap;
	struct loaded l;

	{
		/* load the data segment's word, little-endian */
		FSPEC("i", "i", "", LGET(0), 0x28, 0, 0, END);
		spec_.data = data;
		spec_.data_len = sizeof(data);
		a[0] = vi32(0);
		CHECK_INT(run_i32(&spec_, a, 1, &trap), 0x04030201);
		a[0] = vi32(65533);
		run_i32(&spec_, a, 1, &trap);
		CHECK_STR(trap, "out of bounds memory access");
		/* the offset is added without wrapping */
		a[0] = vi32(-1);
		run_i32(&spec_, a, 1, &trap);
		CHECK_STR(trap, "out of bounds memory access");
	}
	{
		/* store then load with an offset; grow; size */
		FSPEC("i", "i", "",
		      LGET(0), I32C(42), 0x36, 2, 8,
		      LGET(0), 0x28, 2, 8,
		      I32C(1), 0x40, 0, I32_ADD,
		      0x3f, 0, I32_ADD, END);
		CHECK(load_spec(&spec_, &l) == 0);
		a[0] = vi32(100);
		CHECK_STR(call1(&l, a, 1, &r, 1), "");
		CHECK_INT(r.of.i32, 42 + 1 + 2);	/* old size 1, new size 2 */
		CHECK(assay_wasm_instance_export(l.inst, "f", &ext) == 0);
		mem = assay_wasm_instance_memory(l.inst);
		CHECK(mem != NULL);
		CHECK_INT(assay_wasm_memory_size(mem), 2 * 65536);
		CHECK(assay_wasm_memory_range(mem, 108, 4) != NULL);
		CHECK_INT(assay_wasm_memory_range(mem, 108, 4)[0], 42);
		CHECK(assay_wasm_memory_range(mem, 2 * 65536 - 3, 4) == NULL);
		CHECK(assay_wasm_memory_range(mem, UINT64_MAX, 2) == NULL);
		assay_wasm_module_free(l.mod);
	}
	{
		/* memory.fill then memory.copy, out-of-range copy traps */
		FSPEC("ii", "i", "",
		      I32C(0), I32C(7), I32C(16), 0xfc, 11, 0,
		      LGET(0), I32C(0), LGET(1), 0xfc, 10, 0, 0,
		      LGET(0), 0x2d, 0, 3, END);
		a[0] = vi32(32), a[1] = vi32(8);
		CHECK_INT(run_i32(&spec_, a, 2, &trap), 7);
		a[0] = vi32(65530), a[1] = vi32(8);
		run_i32(&spec_, a, 2, &trap);
		CHECK_STR(trap, "out of bounds memory access");
	}
}

/* Under a small RLIMIT_AS a memory cannot reserve its maximum: it maps
 * just its pages and moves as it grows. Run in a child (the limit stays
 * there); its exit status is the number of failed checks. */
static int memory_exact_child(void)
{
	struct rlimit rl = { (rlim_t)768 << 20, (rlim_t)768 << 20 };
	struct assay_wasm_value a[1], r;
	struct loaded l;
	int bad = 0;
	/* f(n) = grow(n); store 99 at the last byte; load it back */
	FSPEC("i", "i", "",
	      LGET(0), 0x40, 0, DROP,
	      0x3f, 0, 0x41, 0x80, 0x80, 0x04, I32_MUL, I32C(1), I32_SUB, LTEE(0),
	      0x41, 0xe3, 0x00, 0x3a, 0, 0,
	      LGET(0), 0x2d, 0, 0, END);

	/* the parent's store holds reservations of its own: drop them */
	assay_wasm_store_free(store);
	if (setrlimit(RLIMIT_AS, &rl) < 0)
		return 100;
	store = assay_wasm_store_new(NULL);
	if (!store || load_spec(&spec_, &l) < 0)
		return 101;
	a[0] = vi32(10);
	bad += strcmp(call1(&l, a, 1, &r, 1), "") != 0;
	bad += r.of.i32 != 99;
	bad += assay_wasm_memory_size(assay_wasm_instance_memory(l.inst)) != 11 * 65536;
	a[0] = vi32(100);
	bad += strcmp(call1(&l, a, 1, &r, 1), "") != 0;
	bad += r.of.i32 != 99;
	return bad;
}

/* RLIMIT_AS cannot be tested under AddressSanitizer, whose shadow memory
 * needs terabytes of address space. */
#if defined(__SANITIZE_ADDRESS__)
#define ASSAY_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASSAY_UNDER_ASAN 1
#endif
#endif

static void test_memory_exact(void)
{
#ifdef ASSAY_UNDER_ASAN
	printf("SKIP (part): memory limits under RLIMIT_AS (AddressSanitizer build)\n");
	return;
#endif
	pid_t pid = fork();
	int status = 0;

	if (pid == 0)
		_exit(memory_exact_child());
	CHECK(pid > 0);
	if (pid <= 0)
		return;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_INT(WEXITSTATUS(status), 0);
}

/* ---- limits: memory, table, fuel, deadline ---- */

static void test_limits(void)
{
	struct assay_wasm_limits lim = { .memory_pages = 4, .table_elements = 10 };
	struct assay_wasm_store *saved = store;
	struct assay_wasm_value a[1], r;
	struct loaded l;

	store = assay_wasm_store_new(&lim);
	CHECK(store != NULL);
	{
		/* 5 pages asked, 4 allowed: an error, not a trap */
		FSPEC("", "", "", END);
		spec_.memory_pages = 5;
		CHECK(load_spec(&spec_, &l) < 0);
		CHECK(strstr(l.err, "exceeds the limit") != NULL);
		assay_wasm_module_free(l.mod);
	}
	{
		FSPEC("", "", "", END);
		spec_.table = 11;
		CHECK(load_spec(&spec_, &l) < 0);
		CHECK(strstr(l.err, "exceeds the limit") != NULL);
		assay_wasm_module_free(l.mod);
	}
	{
		/* memory.grow past the limit fails with -1 */
		FSPEC("i", "i", "", LGET(0), 0x40, 0, END);
		CHECK(load_spec(&spec_, &l) == 0);
		a[0] = vi32(3);
		CHECK_STR(call1(&l, a, 1, &r, 1), "");
		CHECK_INT(r.of.i32, 1);
		a[0] = vi32(1);
		CHECK_STR(call1(&l, a, 1, &r, 1), "");
		CHECK_INT(r.of.i32, -1);
		a[0] = vi32(-1);
		CHECK_STR(call1(&l, a, 1, &r, 1), "");
		CHECK_INT(r.of.i32, -1);
		assay_wasm_module_free(l.mod);
	}
	{
		/* an endless loop stops when the fuel runs out ... */
		FSPEC("", "", "", LOOP(VOID), BR(0), END, END);
		CHECK(load_spec(&spec_, &l) == 0);
		assay_wasm_store_set_fuel(store, 100000);
		CHECK_STR(call1(&l, NULL, 0, NULL, 0), "fuel exhausted");
		CHECK_INT(assay_wasm_store_fuel(store), 0);
		/* ... or at the deadline */
		assay_wasm_store_set_fuel(store, UINT64_MAX / 2);
		{
			struct timespec ts;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			assay_wasm_store_set_deadline(store, (uint64_t)ts.tv_sec * 1000000000ull +
						      (uint64_t)ts.tv_nsec + 50000000ull);
		}
		CHECK_STR(call1(&l, NULL, 0, NULL, 0), "deadline exceeded");
		assay_wasm_store_set_deadline(store, 0);
		assay_wasm_module_free(l.mod);
	}
	{
		/* fuel is charged per instruction, roughly: a 1000-iteration
		 * loop of 8 instructions (and its end) needs about 9000 */
		FSPEC("", "i", "i",
		      LOOP(VOID), LGET(0), I32C(1), I32_ADD, LTEE(0),
		      0x41, 0xe8, 0x07, I32_LT_S, BR_IF(0), END, LGET(0), END);
		CHECK(load_spec(&spec_, &l) == 0);
		assay_wasm_store_set_fuel(store, 20000);
		CHECK_STR(call1(&l, NULL, 0, &r, 1), "");
		CHECK_INT(r.of.i32, 1000);
		CHECK(assay_wasm_store_fuel(store) < 20000 - 5000);
		assay_wasm_store_set_fuel(store, 2000);
		CHECK_STR(call1(&l, NULL, 0, &r, 1), "fuel exhausted");
		assay_wasm_module_free(l.mod);
	}
	assay_wasm_store_free(store);
	store = saved;
}

/* ---- tables and call_indirect ---- */

/* Module: table of 3; elem [f1 f2] at 0; f0 "f"(i) = call_indirect (type
 * of f1: -> i) table[i]; f1 -> 11; f2 (i) -> i. */
static struct mb build_table_module(void)
{
	struct mb m = { 0 }, c = { 0 };
	static const uint8_t code[] = {
		3,
		7, 0, LGET(0), 0x11, 1, 0, END,		/* call_indirect type 1 */
		4, 0, I32C(11), END,
		4, 0, LGET(0), END,
	};

	mb_header(&m);
	mb_u32(&c, 2);
	mb_functype(&c, "i", "i");
	mb_functype(&c, "", "i");
	mb_section(&m, 1, &c);
	mb_u32(&c, 3);
	mb_u32(&c, 0);
	mb_u32(&c, 1);
	mb_u32(&c, 0);
	mb_section(&m, 3, &c);
	mb_u32(&c, 1);
	mb_byte(&c, 0x70);
	mb_byte(&c, 0);
	mb_u32(&c, 3);
	mb_section(&m, 4, &c);
	mb_u32(&c, 2);
	mb_str(&c, "f");
	mb_byte(&c, 0);
	mb_u32(&c, 0);
	mb_str(&c, "t");
	mb_byte(&c, 1);
	mb_u32(&c, 0);
	mb_section(&m, 7, &c);
	mb_u32(&c, 1);
	mb_byte(&c, 0);
	mb_byte(&c, 0x41);
	mb_byte(&c, 0);
	mb_byte(&c, END);
	mb_u32(&c, 2);
	mb_u32(&c, 1);
	mb_u32(&c, 2);
	mb_section(&m, 9, &c);
	mb_bytes(&c, code, sizeof(code));
	mb_section(&m, 10, &c);
	return m;
}

static void test_tables(void)
{
	struct mb m = build_table_module();
	struct assay_wasm_module *mod;
	struct assay_wasm_instance *inst;
	struct assay_wasm_extern f, t, none;
	struct assay_wasm_value a[1], r, v;
	struct assay_wasm_trap trap;
	char err[256];

	mod = assay_wasm_module_load(m.p, m.n, err, sizeof(err));
	free(m.p);
	CHECK(mod != NULL);
	if (!mod) {
		printf("  %s\n", err);
		return;
	}
	inst = assay_wasm_instantiate(store, mod, NULL, 0, &trap, err, sizeof(err));
	CHECK(inst != NULL);
	CHECK(assay_wasm_instance_export(inst, "f", &f) == 0);
	CHECK(assay_wasm_instance_export(inst, "t", &t) == 0);
	CHECK(assay_wasm_instance_export(inst, "nope", &none) < 0);
	a[0] = vi32(0);
	CHECK(assay_wasm_call(store, f.of.func, a, 1, &r, 1, &trap) == 0);
	CHECK_INT(r.of.i32, 11);
	a[0] = vi32(1);
	CHECK(assay_wasm_call(store, f.of.func, a, 1, &r, 1, &trap) < 0);
	CHECK_STR(trap.message, "indirect call type mismatch");
	a[0] = vi32(2);
	CHECK(assay_wasm_call(store, f.of.func, a, 1, &r, 1, &trap) < 0);
	CHECK_STR(trap.message, "uninitialized element 2");
	a[0] = vi32(3);
	CHECK(assay_wasm_call(store, f.of.func, a, 1, &r, 1, &trap) < 0);
	CHECK_STR(trap.message, "undefined element");
	/* the host puts the function of slot 0 into slot 2 */
	CHECK_INT(assay_wasm_table_size(t.of.table), 3);
	CHECK(assay_wasm_table_get(t.of.table, 0, &v) == 0);
	CHECK(v.type == ASSAY_WASM_FUNCREF && v.of.funcref != NULL);
	CHECK(assay_wasm_table_set(t.of.table, 2, v) == 0);
	CHECK(assay_wasm_table_get(t.of.table, 3, &v) < 0);
	a[0] = vi32(2);
	CHECK(assay_wasm_call(store, f.of.func, a, 1, &r, 1, &trap) == 0);
	CHECK_INT(r.of.i32, 11);
	assay_wasm_module_free(mod);	/* the instance keeps the module alive */
	a[0] = vi32(0);
	CHECK(assay_wasm_call(store, f.of.func, a, 1, &r, 1, &trap) == 0);
	CHECK_INT(r.of.i32, 11);
}

/* ---- host functions, imports, linking ---- */

struct host_env {
	int calls;
	struct assay_wasm_func *callback;	/* called back into */
};

static int host_add(struct assay_wasm_call *call, void *env,
		    const struct assay_wasm_value *args, struct assay_wasm_value *results)
{
	struct host_env *h = env;

	h->calls++;
	if (args[0].of.i32 == 13) {
		snprintf(call->trap->message, sizeof(call->trap->message), "unlucky");
		return -1;
	}
	if (args[0].of.i32 == 99) {
		call->trap->exited = 1;
		call->trap->exit_code = 3;
		return -1;
	}
	if (args[0].of.i32 == 7 && h->callback) {
		/* re-enter wasm: call the callback with 1 */
		struct assay_wasm_value a = vi32(1), r;

		if (assay_wasm_call(call->store, h->callback, &a, 1, &r, 1, call->trap) < 0)
			return -1;
		results[0] = vi32(r.of.i32 + 1000);
		return 0;
	}
	results[0] = vi32(args[0].of.i32 + 1);
	return 0;
}

/* (import "env" "add" (func (param i32) (result i32)))
 * (func (export "f") (param i32) (result i32) local.get 0 call 0 i32.const 1 i32.add) */
static struct mb build_import_module(const char *import_params)
{
	struct mb m = { 0 }, c = { 0 };
	static const uint8_t code[] = { 1, 9, 0, LGET(0), CALL(0), I32C(1), I32_ADD, END };

	mb_header(&m);
	mb_u32(&c, 2);
	mb_functype(&c, import_params, "i");
	mb_functype(&c, "i", "i");
	mb_section(&m, 1, &c);
	mb_u32(&c, 1);
	mb_str(&c, "env");
	mb_str(&c, "add");
	mb_byte(&c, 0);
	mb_u32(&c, 0);
	mb_section(&m, 2, &c);
	mb_u32(&c, 1);
	mb_u32(&c, 1);
	mb_section(&m, 3, &c);
	mb_u32(&c, 1);
	mb_str(&c, "f");
	mb_byte(&c, 0);
	mb_u32(&c, 1);
	mb_section(&m, 7, &c);
	mb_bytes(&c, code, sizeof(code));
	mb_section(&m, 10, &c);
	return m;
}

static void test_host(void)
{
	static const enum assay_wasm_type i32[1] = { ASSAY_WASM_I32 };
	static const enum assay_wasm_type i64[1] = { ASSAY_WASM_I64 };
	struct assay_wasm_functype ft = { 1, 1, i32, i32 }, bad = { 1, 1, i64, i32 };
	struct host_env env = { 0, NULL };
	struct mb m = build_import_module("i");
	struct assay_wasm_import_desc d;
	struct assay_wasm_module *mod;
	struct assay_wasm_instance *inst;
	struct assay_wasm_extern imp, f;
	struct assay_wasm_value a[1], r;
	struct assay_wasm_trap trap;
	char err[256];

	mod = assay_wasm_module_load(m.p, m.n, err, sizeof(err));
	free(m.p);
	CHECK(mod != NULL);
	if (!mod)
		return;
	CHECK_INT(assay_wasm_module_import_count(mod), 1);
	assay_wasm_module_import(mod, 0, &d);
	CHECK_STR(d.module, "env");
	CHECK_STR(d.name, "add");
	CHECK(d.kind == ASSAY_WASM_EXTERN_FUNC && d.func.n_params == 1 &&
	      d.func.params[0] == ASSAY_WASM_I32);
	CHECK_INT(assay_wasm_module_export_count(mod), 1);
	CHECK_STR(assay_wasm_module_export(mod, 0, NULL), "f");

	/* wrong kind, wrong type, missing imports */
	imp.kind = ASSAY_WASM_EXTERN_FUNC;
	imp.of.func = assay_wasm_func_new_host(store, &bad, host_add, &env);
	CHECK(assay_wasm_instantiate(store, mod, &imp, 1, &trap, err, sizeof(err)) == NULL);
	CHECK(starts_with(err, "incompatible import type"));
	imp.kind = ASSAY_WASM_EXTERN_GLOBAL;
	CHECK(assay_wasm_instantiate(store, mod, &imp, 1, &trap, err, sizeof(err)) == NULL);
	CHECK(starts_with(err, "incompatible import type"));
	CHECK(assay_wasm_instantiate(store, mod, NULL, 0, &trap, err, sizeof(err)) == NULL);

	imp.kind = ASSAY_WASM_EXTERN_FUNC;
	imp.of.func = assay_wasm_func_new_host(store, &ft, host_add, &env);
	CHECK(imp.of.func != NULL);
	inst = assay_wasm_instantiate(store, mod, &imp, 1, &trap, err, sizeof(err));
	CHECK(inst != NULL);
	if (!inst)
		goto out;
	CHECK(assay_wasm_instance_export(inst, "f", &f) == 0);
	a[0] = vi32(5);
	CHECK(assay_wasm_call(store, f.of.func, a, 1, &r, 1, &trap) == 0);
	CHECK_INT(r.of.i32, 7);
	CHECK_INT(env.calls, 1);
	/* a host trap stops the wasm caller with the host's message */
	a[0] = vi32(13);
	CHECK(assay_wasm_call(store, f.of.func, a, 1, &r, 1, &trap) < 0);
	CHECK_STR(trap.message, "unlucky");
	/* proc_exit-like: exited, with its code */
	a[0] = vi32(99);
	CHECK(assay_wasm_call(store, f.of.func, a, 1, &r, 1, &trap) < 0);
	CHECK(trap.exited == 1 && trap.exit_code == 3);
	/* re-entry: host -> wasm f(1) -> host(1) = 2 -> 3; + 1000 -> 1003; + 1 */
	env.callback = f.of.func;
	a[0] = vi32(7);
	CHECK(assay_wasm_call(store, f.of.func, a, 1, &r, 1, &trap) == 0);
	CHECK_INT(r.of.i32, 1004);
	/* the host function is callable directly too */
	a[0] = vi32(1);
	CHECK(assay_wasm_call(store, imp.of.func, a, 1, &r, 1, &trap) == 0);
	CHECK_INT(r.of.i32, 2);
out:
	assay_wasm_module_free(mod);
}

/* Endless re-entry host -> wasm -> host ... must end in a trap. */
static int host_recurse(struct assay_wasm_call *call, void *env,
			const struct assay_wasm_value *args, struct assay_wasm_value *results)
{
	struct host_env *h = env;
	struct assay_wasm_value r;

	(void)args;
	if (assay_wasm_call(call->store, h->callback, args, 1, &r, 1, call->trap) < 0)
		return -1;
	results[0] = r;
	return 0;
}

static void test_reentry_limit(void)
{
	static const enum assay_wasm_type i32[1] = { ASSAY_WASM_I32 };
	struct assay_wasm_functype ft = { 1, 1, i32, i32 };
	struct host_env env = { 0, NULL };
	struct mb m = build_import_module("i");
	struct assay_wasm_module *mod;
	struct assay_wasm_instance *inst;
	struct assay_wasm_extern imp, f;
	struct assay_wasm_value a[1], r;
	struct assay_wasm_trap trap;
	char err[256];

	mod = assay_wasm_module_load(m.p, m.n, err, sizeof(err));
	free(m.p);
	CHECK(mod != NULL);
	if (!mod)
		return;
	imp.kind = ASSAY_WASM_EXTERN_FUNC;
	imp.of.func = assay_wasm_func_new_host(store, &ft, host_recurse, &env);
	inst = assay_wasm_instantiate(store, mod, &imp, 1, &trap, err, sizeof(err));
	CHECK(inst != NULL);
	if (inst) {
		CHECK(assay_wasm_instance_export(inst, "f", &f) == 0);
		env.callback = f.of.func;
		a[0] = vi32(1);
		CHECK(assay_wasm_call(store, f.of.func, a, 1, &r, 1, &trap) < 0);
		CHECK_STR(trap.message, "call stack exhausted");
	}
	assay_wasm_module_free(mod);
}

/* Two instances sharing a memory: the second imports the first's. */
static void test_linking(void)
{
	struct mb m1 = { 0 }, m2 = { 0 }, c = { 0 };
	struct assay_wasm_module *a, *b;
	struct assay_wasm_instance *ia, *ib;
	struct assay_wasm_extern mem, f;
	struct assay_wasm_value r;
	struct assay_wasm_trap trap;
	char err[256];
	/* b: (import "a" "mem" (memory 1)) (func (export "f") (result i32)
	 *     i32.const 0 i32.const 77 i32.store i32.const 0 i32.load) */
	static const uint8_t code[] = { 1, 15, 0, I32C(0), 0x41, 0xcd, 0x00, 0x36, 2, 0,
		I32C(0), 0x28, 2, 0, END };

	/* a: (memory (export "mem") 1 3) */
	mb_header(&m1);
	mb_u32(&c, 1);
	mb_byte(&c, 1);
	mb_u32(&c, 1);
	mb_u32(&c, 3);
	mb_section(&m1, 5, &c);
	mb_u32(&c, 1);
	mb_str(&c, "mem");
	mb_byte(&c, 2);
	mb_u32(&c, 0);
	mb_section(&m1, 7, &c);

	mb_header(&m2);
	mb_u32(&c, 1);
	mb_functype(&c, "", "i");
	mb_section(&m2, 1, &c);
	mb_u32(&c, 1);
	mb_str(&c, "a");
	mb_str(&c, "mem");
	mb_byte(&c, 2);
	mb_byte(&c, 1);	/* limits with a max */
	mb_u32(&c, 1);
	mb_u32(&c, 5);
	mb_section(&m2, 2, &c);
	mb_u32(&c, 1);
	mb_u32(&c, 0);
	mb_section(&m2, 3, &c);
	mb_u32(&c, 1);
	mb_str(&c, "f");
	mb_byte(&c, 0);
	mb_u32(&c, 0);
	mb_section(&m2, 7, &c);
	mb_bytes(&c, code, sizeof(code));
	mb_section(&m2, 10, &c);

	a = assay_wasm_module_load(m1.p, m1.n, err, sizeof(err));
	b = assay_wasm_module_load(m2.p, m2.n, err, sizeof(err));
	free(m1.p);
	free(m2.p);
	CHECK(a && b);
	if (!a || !b)
		goto out;
	{
		struct assay_wasm_import_type it;

		assay_wasm_module_import_type(b, 0, &it);
		CHECK(it.min == 1 && it.max == 5);
		assay_wasm_module_import_type(b, 7, &it);	/* no such import */
		CHECK(it.min == 0 && it.max == UINT32_MAX);
	}
	ia = assay_wasm_instantiate(store, a, NULL, 0, &trap, err, sizeof(err));
	CHECK(ia != NULL);
	CHECK(ia && assay_wasm_instance_export(ia, "mem", &mem) == 0);
	if (!ia)
		goto out;
	ib = assay_wasm_instantiate(store, b, &mem, 1, &trap, err, sizeof(err));
	CHECK(ib != NULL);
	if (!ib)
		goto out;
	CHECK(assay_wasm_instance_export(ib, "f", &f) == 0);
	CHECK(assay_wasm_call(store, f.of.func, NULL, 0, &r, 1, &trap) == 0);
	CHECK_INT(r.of.i32, 77);
	CHECK_INT(assay_wasm_memory_data(mem.of.memory)[0], 77);
	/* a memory without a max does not satisfy an import with one */
	{
		struct assay_wasm_memory *nomax = assay_wasm_memory_new(store, 1, UINT32_MAX);
		struct assay_wasm_extern x = { .kind = ASSAY_WASM_EXTERN_MEMORY };

		x.of.memory = nomax;
		CHECK(assay_wasm_instantiate(store, b, &x, 1, &trap, err, sizeof(err)) == NULL);
		CHECK(starts_with(err, "incompatible import type"));
	}
out:
	assay_wasm_module_free(a);
	assay_wasm_module_free(b);
}

/* ---- globals ---- */

static void test_globals(void)
{
	struct assay_wasm_value v = vi32(5), w;
	struct assay_wasm_global *g = assay_wasm_global_new(store, v, 1);
	struct assay_wasm_global *k = assay_wasm_global_new(store, v, 0);

	CHECK(g && k);
	w = assay_wasm_global_get(g);
	CHECK(w.type == ASSAY_WASM_I32 && w.of.i32 == 5);
	CHECK(assay_wasm_global_set(g, vi32(6)) == 0);
	CHECK_INT(assay_wasm_global_get(g).of.i32, 6);
	CHECK(assay_wasm_global_set(g, vi64(6)) < 0);
	CHECK(assay_wasm_global_set(k, vi32(6)) < 0);
}

/* ---- hostile inputs ---- */

/* A module of one function [] -> [] whose body nests depth empty blocks. */
static struct mb nested_blocks(size_t depth)
{
	struct mb m = { 0 }, c = { 0 }, body = { 0 };
	size_t i;

	mb_header(&m);
	mb_u32(&c, 1);
	mb_functype(&c, "", "");
	mb_section(&m, 1, &c);
	mb_u32(&c, 1);
	mb_u32(&c, 0);
	mb_section(&m, 3, &c);
	mb_byte(&body, 0);
	for (i = 0; i < depth; i++) {
		mb_byte(&body, 0x02);
		mb_byte(&body, 0x40);
	}
	for (i = 0; i <= depth; i++)
		mb_byte(&body, END);
	mb_u32(&c, 1);
	mb_u32(&c, (uint32_t)body.n);
	mb_bytes(&c, body.p, body.n);
	free(body.p);
	mb_section(&m, 10, &c);
	return m;
}

static void test_hostile(void)
{
	struct mb m = { 0 }, c = { 0 }, body = { 0 };
	const char *e;
	size_t i;

	/* 100000 nested blocks: deep, but no recursion anywhere */
	m = nested_blocks(100000);
	CHECK_STR(load_error(m.p, m.n), "(loaded)");
	free(m.p);
	/* One more is refused: each open block costs the translator a
	 * control entry, so depth is what bounds its memory. */
	m = nested_blocks(100001);
	CHECK(starts_with(load_error(m.p, m.n), "malformed: blocks nested too deeply"));
	free(m.p);
	memset(&m, 0, sizeof(m));

	/* 200000 branches carrying 255 values, in unreachable code: checked
	 * against the polymorphic stack without copying 255 values each */
	memset(&m, 0, sizeof(m));
	memset(&body, 0, sizeof(body));
	mb_header(&m);
	mb_u32(&c, 2);
	mb_byte(&c, 0x60);
	mb_u32(&c, 0);
	mb_u32(&c, 255);
	for (i = 0; i < 255; i++)
		mb_byte(&c, 0x7f);
	mb_functype(&c, "", "");
	mb_section(&m, 1, &c);
	mb_u32(&c, 1);
	mb_u32(&c, 1);
	mb_section(&m, 3, &c);
	mb_byte(&body, 0);
	mb_byte(&body, 0x02);
	mb_byte(&body, 0x00);
	mb_byte(&body, 0x00);
	for (i = 0; i < 200000; i++) {
		mb_byte(&body, 0x0c);
		mb_byte(&body, 0x00);
	}
	mb_byte(&body, END);
	for (i = 0; i < 255; i++)
		mb_byte(&body, DROP);
	mb_byte(&body, END);
	mb_u32(&c, 1);
	mb_u32(&c, (uint32_t)body.n);
	mb_bytes(&c, body.p, body.n);
	free(body.p);
	memset(&body, 0, sizeof(body));
	mb_section(&m, 10, &c);
	CHECK_STR(load_error(m.p, m.n), "(loaded)");
	free(m.p);

	/* a memory of 65537 pages is invalid; 65536 is valid but over the
	 * default limit at instantiation */
	{
		FSPEC("", "", "", END);
		spec_.memory_pages = 65537;
		e = spec_error(&spec_);
		CHECK(starts_with(e, "invalid: memory size must be at most 65536 pages"));
	}
	{
		struct loaded l;

		FSPEC("", "", "", END);
		spec_.memory_pages = 65536;
		CHECK(load_spec(&spec_, &l) < 0);
		CHECK(strstr(l.err, "exceeds the limit") != NULL);
		assay_wasm_module_free(l.mod);
	}
	{
		/* a table of 2^32-1 elements: refused by the limit, not allocated */
		struct loaded l;

		FSPEC("", "", "", END);
		spec_.table = -1;
		spec_.table = 0x7fffffff;
		CHECK(load_spec(&spec_, &l) < 0);
		CHECK(strstr(l.err, "exceeds the limit") != NULL);
		assay_wasm_module_free(l.mod);
	}
	{
		/* a br_table claiming 2^32-1 targets */
		FSPEC("", "", "", BLOCK(VOID), I32C(0), 0x0e, 0xff, 0xff, 0xff, 0xff, 0x0f, 0,
		      END, END);
		CHECK(starts_with(spec_error(&spec_), "malformed: length out of bounds"));
	}
	{
		/* random bytes after a valid header never crash */
		uint8_t buf[64];
		unsigned seed = 1;
		int round;

		for (round = 0; round < 2000; round++) {
			size_t n = 8 + (size_t)(rand_r(&seed) % 56);
			struct assay_wasm_module *mod;
			char err[128];

			memcpy(buf, "\0asm\1\0\0\0", 8);
			for (i = 8; i < n; i++)
				buf[i] = (uint8_t)rand_r(&seed);
			mod = assay_wasm_module_load(buf, n, err, sizeof(err));
			if (mod)
				assay_wasm_module_free(mod);
			else
				CHECK(starts_with(err, "malformed: ") ||
				      starts_with(err, "invalid: "));
		}
	}
}

int main(void)
{
	store = assay_wasm_store_new(NULL);
	if (!store) {
		printf("cannot create a store\n");
		return 1;
	}
	test_decode_errors();
	test_validation_errors();
	test_arith();
	test_floats();
	test_control();
	test_calls();
	test_call_depth_limit();
	test_memory();
	test_memory_exact();
	test_limits();
	test_tables();
	test_host();
	test_reentry_limit();
	test_linking();
	test_globals();
	test_hostile();
	assay_wasm_store_free(store);
	return check_done();
}
