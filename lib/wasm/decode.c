/* decode: the WebAssembly binary format -> struct assay_wasm_module.
 *
 * Errors follow the reference interpreter (the spec tests check its
 * wording by prefix): reads run over the whole binary and a section's
 * size is checked after its contents were read ("section size mismatch");
 * a length is refused when it exceeds the bytes left counted from the
 * length itself ("length out of bounds"); LEB128 numbers are checked for
 * unused bits ("integer too large") before over-long encodings ("integer
 * representation too long"). Every count is checked against the bytes
 * left before anything is allocated, and against our implementation
 * limits, so a hostile module cannot make us allocate much more than its
 * own size. Function bodies are scanned here for well-formedness only;
 * compile.c validates and translates them. */
#include "wasm/wasm_internal.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"

/* Implementation limits on counts (the JS API's, roughly). */
#define WASM_MAX_TYPES 1000000u
#define WASM_MAX_FUNCS 1000000u
#define WASM_MAX_IMPORTS 100000u
#define WASM_MAX_EXPORTS 100000u
#define WASM_MAX_GLOBALS 1000000u
#define WASM_MAX_SEGMENTS 100000u
#define WASM_MAX_TABLES 100000u
#define WASM_MAX_MEMORIES 100000u
#define WASM_CANON_TYPES 4096u	/* types canonicalised at load (quadratic) */
#define WASM_MAX_ELEM_ITEMS 2000000u	/* all element segments together */
#define WASM_MAX_BODY 7654321u
#define WASM_MAX_TYPE_VALUES 1000u	/* the validator's limit is lower */

static const char wasm_eof[] = "unexpected end of section or function";

void wasm_reader_fail(struct wasm_reader *r, const char *msg)
{
	if (!r->err)
		r->err = msg;
	r->p = r->end;
}

uint8_t wasm_read_u8(struct wasm_reader *r)
{
	if (r->err)
		return 0;
	if (r->p >= r->end) {
		wasm_reader_fail(r, wasm_eof);
		return 0;
	}
	return *r->p++;
}

/* An unsigned LEB128 of at most bits bits, the reference's vuN. */
static uint64_t wasm_read_vu(struct wasm_reader *r, int bits)
{
	uint64_t x = 0;
	int shift = 0, n = bits;

	for (;;) {
		uint8_t b;

		if (n <= 0) {
			wasm_reader_fail(r, "integer representation too long");
			return 0;
		}
		b = wasm_read_u8(r);
		if (r->err)
			return 0;
		if (n < 7 && (b & 0x7f) >= (1u << n)) {
			wasm_reader_fail(r, "integer too large");
			return 0;
		}
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return x;
		shift += 7;
		n -= 7;
	}
}

/* A signed LEB128 of at most bits bits, the reference's vsN. */
static int64_t wasm_read_vs(struct wasm_reader *r, int bits)
{
	uint64_t x = 0;
	int shift = 0, n = bits;

	for (;;) {
		uint8_t b, mask;

		if (n <= 0) {
			wasm_reader_fail(r, "integer representation too long");
			return 0;
		}
		b = wasm_read_u8(r);
		if (r->err)
			return 0;
		if (n < 7) {
			mask = (uint8_t)((0xff << (n - 1)) & 0x7f);
			if ((b & mask) != 0 && (b & mask) != mask) {
				wasm_reader_fail(r, "integer too large");
				return 0;
			}
		}
		x |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80)) {
			if (shift < 64 && (b & 0x40))
				x |= ~(uint64_t)0 << shift;
			return (int64_t)x;
		}
		n -= 7;
	}
}

uint32_t wasm_read_u32(struct wasm_reader *r)
{
	return (uint32_t)wasm_read_vu(r, 32);
}

int32_t wasm_read_s32(struct wasm_reader *r)
{
	return (int32_t)wasm_read_vs(r, 32);
}

int64_t wasm_read_s33(struct wasm_reader *r)
{
	return wasm_read_vs(r, 33);
}

int64_t wasm_read_s64(struct wasm_reader *r)
{
	return wasm_read_vs(r, 64);
}

/* A length or count: at most the bytes left, counted from the length's
 * own first byte (the reference's len32). */
static uint32_t wasm_read_len(struct wasm_reader *r)
{
	size_t left = (size_t)(r->end - r->p);
	uint32_t n = wasm_read_u32(r);

	if (r->err)
		return 0;
	if (n > left) {
		wasm_reader_fail(r, "length out of bounds");
		return 0;
	}
	return n;
}

static const uint8_t *wasm_read_bytes(struct wasm_reader *r, size_t n)
{
	const uint8_t *p;

	if (r->err)
		return NULL;
	if ((size_t)(r->end - r->p) < n) {
		wasm_reader_fail(r, wasm_eof);
		return NULL;
	}
	p = r->p;
	r->p += n;
	return p;
}

/* Strict UTF-8: no overlong forms, surrogates or code points past U+10FFFF. */
static int wasm_utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		size_t len, k;
		uint32_t cp, min;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			len = 2, cp = c & 0x1f, min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3, cp = c & 0x0f, min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4, cp = c & 0x07, min = 0x10000;
		} else {
			return 0;
		}
		if (n - i < len)
			return 0;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

/* A name: returned NUL-terminated (malloc'd) when want is set. */
static char *wasm_read_name_len(struct wasm_reader *r, int want, uint32_t *len)
{
	uint32_t n = wasm_read_len(r);
	const uint8_t *p = wasm_read_bytes(r, n);
	char *s;

	if (r->err)
		return NULL;
	if (!wasm_utf8_valid(p, n)) {
		wasm_reader_fail(r, "malformed UTF-8 encoding");
		return NULL;
	}
	if (!want)
		return NULL;
	s = malloc((size_t)n + 1);
	if (!s) {
		wasm_reader_fail(r, "out of memory");
		return NULL;
	}
	memcpy(s, p, n);
	s[n] = 0;
	if (len)
		*len = n;
	return s;
}

static char *wasm_read_name(struct wasm_reader *r, int want)
{
	return wasm_read_name_len(r, want, NULL);
}

/* The reference's vs7 for type bytes: a one-byte signed LEB. */
static int wasm_read_s7(struct wasm_reader *r)
{
	return (int)wasm_read_vs(r, 7);
}

static uint8_t wasm_read_valtype(struct wasm_reader *r)
{
	int v = wasm_read_s7(r);

	if (r->err)
		return 0;
	switch (v) {
	case -0x01: return WASM_T_I32;
	case -0x02: return WASM_T_I64;
	case -0x03: return WASM_T_F32;
	case -0x04: return WASM_T_F64;
	case -0x10: return WASM_T_FUNCREF;
	case -0x11: return WASM_T_EXTERNREF;
	}
	wasm_reader_fail(r, "malformed value type");
	return 0;
}

static uint8_t wasm_read_reftype(struct wasm_reader *r)
{
	int v = wasm_read_s7(r);

	if (r->err)
		return 0;
	if (v == -0x10)
		return WASM_T_FUNCREF;
	if (v == -0x11)
		return WASM_T_EXTERNREF;
	wasm_reader_fail(r, "malformed reference type");
	return 0;
}

/* A reserved byte that must be zero (memory indices of the MVP). */
static void wasm_read_zero(struct wasm_reader *r)
{
	if (wasm_read_u8(r) != 0 && !r->err)
		wasm_reader_fail(r, "zero byte expected");
}

static void wasm_read_memarg(struct wasm_reader *r, struct wasm_instr *in)
{
	in->a = wasm_read_u32(r);	/* alignment exponent */
	if (!r->err && in->a >= 32) {
		wasm_reader_fail(r, "malformed memop flags");
		return;
	}
	in->b = wasm_read_u32(r);	/* offset */
}

static void wasm_read_blocktype(struct wasm_reader *r, struct wasm_instr *in)
{
	int64_t v;

	if (r->p < r->end && *r->p == 0x40) {
		r->p++;
		in->blocktype = -1;
		return;
	}
	if (r->p < r->end && (*r->p & 0xc0) == 0x40) {
		in->type = wasm_read_valtype(r);
		in->blocktype = -2;
		return;
	}
	v = wasm_read_s33(r);
	in->blocktype = v < 0 ? INT64_MAX : v;	/* negative: no such type */
}

int wasm_read_instr(struct wasm_reader *r, struct wasm_instr *in, int has_data_count)
{
	uint32_t op = wasm_read_u8(r);
	uint32_t i;

	in->op = op;
	in->a = in->b = in->n = 0;
	in->imm = 0;
	in->type = 0;
	in->blocktype = -1;
	in->targets = NULL;
	if (r->err)
		return -1;
	switch (op) {
	case 0x00: case 0x01: case 0x05: case 0x0b: case 0x0f:
	case 0x1a: case 0x1b: case 0xd1:
		break;
	case 0x02: case 0x03: case 0x04:
		wasm_read_blocktype(r, in);
		break;
	case 0x0c: case 0x0d: case 0x10: case 0x20: case 0x21: case 0x22:
	case 0x23: case 0x24: case 0x25: case 0x26: case 0xd2:
		in->a = wasm_read_u32(r);
		break;
	case 0x0e:
		in->n = wasm_read_len(r);
		in->targets = r->p;
		for (i = 0; i <= in->n && !r->err; i++)
			(void)wasm_read_u32(r);
		break;
	case 0x11:
		in->a = wasm_read_u32(r);	/* type */
		in->b = wasm_read_u32(r);	/* table */
		break;
	case 0x1c:
		in->n = wasm_read_len(r);
		for (i = 0; i < in->n && !r->err; i++) {
			uint8_t t = wasm_read_valtype(r);

			if (i == 0)
				in->type = t;
		}
		break;
	case 0x3f: case 0x40:
		wasm_read_zero(r);
		break;
	case 0x41:
		in->imm = (uint64_t)(uint32_t)wasm_read_s32(r);
		break;
	case 0x42:
		in->imm = (uint64_t)wasm_read_s64(r);
		break;
	case 0x43: {
		const uint8_t *p = wasm_read_bytes(r, 4);

		if (p)
			in->imm = (uint64_t)p[0] | (uint64_t)p[1] << 8 |
				  (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
		break;
	}
	case 0x44: {
		const uint8_t *p = wasm_read_bytes(r, 8);

		if (p)
			for (i = 0; i < 8; i++)
				in->imm |= (uint64_t)p[i] << (8 * i);
		break;
	}
	case 0xd0:
		in->type = wasm_read_reftype(r);
		break;
	case 0xfc: {
		uint32_t sub = wasm_read_u32(r);

		if (r->err)
			return -1;
		in->op = op = 0xfc00 | (sub & 0xff);
		if (sub > 17) {
			wasm_reader_fail(r, "illegal opcode");
			return -1;
		}
		switch (sub) {
		case 8:
			in->a = wasm_read_u32(r);
			wasm_read_zero(r);
			if (!has_data_count && !r->err)
				in->n = 1;	/* noted: the data count is required */
			break;
		case 9:
			in->a = wasm_read_u32(r);
			if (!has_data_count)
				in->n = 1;
			break;
		case 10:
			wasm_read_zero(r);
			wasm_read_zero(r);
			break;
		case 11:
			wasm_read_zero(r);
			break;
		case 12: case 14:
			in->a = wasm_read_u32(r);
			in->b = wasm_read_u32(r);
			break;
		case 13: case 15: case 16: case 17:
			in->a = wasm_read_u32(r);
			break;
		}
		break;
	}
	default:
		if (op >= 0x28 && op <= 0x3e) {
			wasm_read_memarg(r, in);
		} else if (op >= 0x45 && op <= 0xc4) {
			/* numeric: no immediates */
		} else {
			/* The spec's text first: its tests match the prefix. */
			wasm_reader_fail(r, op == 0xfd ? "illegal opcode 0xfd (SIMD, "
					 "which this engine does not support)" :
					 "illegal opcode");
			return -1;
		}
	}
	return r->err ? -1 : 0;
}

/* ---- expressions ---- */

struct wasm_scan {
	uint32_t n_instrs;
	uint32_t n_consts;
	int needs_data_count;
	struct wasm_instr first;
	int not_const;
};

static int wasm_is_const_op(uint32_t op)
{
	return op == WASM_OP_I32_CONST || op == WASM_OP_I64_CONST ||
	       op == WASM_OP_F32_CONST || op == WASM_OP_F64_CONST ||
	       op == WASM_OP_REF_NULL || op == WASM_OP_REF_FUNC ||
	       op == WASM_OP_GLOBAL_GET;
}

/* Reads an instruction sequence up to its final end, checking only the
 * structure: every block closed by end, else only once inside an if. */
static int wasm_scan_expr(struct wasm_reader *r, int has_data_count, struct wasm_scan *sc)
{
	/* Per open block: 1 if it is an if that may still take an else. */
	uint8_t small[64], *kinds = small, *nk;
	size_t depth = 0, cap = sizeof(small);
	struct wasm_instr in;

	memset(sc, 0, sizeof(*sc));
	for (;;) {
		if (wasm_read_instr(r, &in, has_data_count) < 0)
			break;
		if (in.op == WASM_OP_END) {
			if (depth == 0)
				break;
			depth--;
			continue;
		}
		if (in.op == WASM_OP_ELSE) {
			if (depth == 0 || !kinds[depth - 1]) {
				wasm_reader_fail(r, "END opcode expected");
				break;
			}
			kinds[depth - 1] = 0;
			continue;
		}
		if (sc->n_instrs == 0)
			sc->first = in;
		if (sc->n_instrs < UINT32_MAX)
			sc->n_instrs++;
		if (!wasm_is_const_op(in.op))
			sc->not_const = 1;
		if (in.op >= WASM_OP_I32_CONST && in.op <= WASM_OP_F64_CONST)
			sc->n_consts++;
		if ((in.op == WASM_OP_MEMORY_INIT || in.op == WASM_OP_DATA_DROP) && in.n)
			sc->needs_data_count = 1;
		if (in.op == WASM_OP_BLOCK || in.op == WASM_OP_LOOP || in.op == WASM_OP_IF) {
			/* Each open block costs the translator a control
			 * entry: without a bound, a body of nested blocks
			 * would make it allocate far more than its size. */
			if (depth == WASM_MAX_BLOCK_DEPTH) {
				wasm_reader_fail(r, "blocks nested too deeply "
						 "(implementation limit)");
				break;
			}
			if (depth == cap) {
				nk = kinds == small ? malloc(cap * 2) : realloc(kinds, cap * 2);
				if (!nk) {
					wasm_reader_fail(r, "out of memory");
					break;
				}
				if (kinds == small)
					memcpy(nk, small, cap);
				kinds = nk;
				cap *= 2;
			}
			kinds[depth++] = in.op == WASM_OP_IF;
		}
	}
	if (kinds != small)
		free(kinds);
	return r->err ? -1 : 0;
}

static void wasm_read_cexpr(struct wasm_reader *r, struct wasm_cexpr *ce)
{
	struct wasm_scan sc;

	memset(ce, 0, sizeof(*ce));
	if (wasm_scan_expr(r, 1, &sc) < 0)
		return;
	ce->n_instrs = sc.n_instrs > 2 ? 2 : (uint8_t)sc.n_instrs;
	ce->not_const = (uint8_t)sc.not_const;
	if (!sc.n_instrs || sc.not_const)
		return;
	switch (sc.first.op) {
	case WASM_OP_I32_CONST:
		ce->kind = WASM_CE_CONST, ce->type = WASM_T_I32;
		break;
	case WASM_OP_I64_CONST:
		ce->kind = WASM_CE_CONST, ce->type = WASM_T_I64;
		break;
	case WASM_OP_F32_CONST:
		ce->kind = WASM_CE_CONST, ce->type = WASM_T_F32;
		break;
	case WASM_OP_F64_CONST:
		ce->kind = WASM_CE_CONST, ce->type = WASM_T_F64;
		break;
	case WASM_OP_REF_NULL:
		ce->kind = WASM_CE_REF_NULL, ce->type = sc.first.type;
		break;
	case WASM_OP_REF_FUNC:
		ce->kind = WASM_CE_REF_FUNC, ce->type = WASM_T_FUNCREF;
		break;
	case WASM_OP_GLOBAL_GET:
		ce->kind = WASM_CE_GLOBAL_GET;
		break;
	}
	ce->val = sc.first.imm;
	ce->index = sc.first.a;
}

/* ---- sections ---- */

struct wasm_decoder {
	struct wasm_reader r;
	struct assay_wasm_module *m;
	uint32_t n_func_decls;		/* function section */
	uint32_t *func_decls;
	int has_code;
	uint32_t n_bodies;
	int needs_data_count;
	uint64_t elem_items;
};

static void *wasm_calloc_n(struct wasm_reader *r, size_t n, size_t size)
{
	void *p;

	if (!n)
		n = 1;
	p = calloc(n, size);
	if (!p)
		wasm_reader_fail(r, "out of memory");
	return p;
}

/* A count with the reference's bounds, then our own limit. */
static uint32_t wasm_read_count(struct wasm_reader *r, uint32_t limit, const char *what)
{
	uint32_t n = wasm_read_len(r);

	if (!r->err && n > limit)
		wasm_reader_fail(r, what);
	return n;
}

static void wasm_read_limits(struct wasm_reader *r, struct wasm_limits *l)
{
	l->has_max = (int)wasm_read_vu(r, 1);
	l->min = wasm_read_u32(r);
	l->max = l->has_max ? wasm_read_u32(r) : UINT32_MAX;
}

static void wasm_read_tabletype(struct wasm_reader *r, struct wasm_tabletype *t)
{
	t->elem = wasm_read_reftype(r);
	wasm_read_limits(r, &t->lim);
}

static void wasm_read_globaltype(struct wasm_reader *r, struct wasm_globaltype *g)
{
	uint8_t mut;

	g->type = wasm_read_valtype(r);
	mut = wasm_read_u8(r);
	if (!r->err && mut > 1)
		wasm_reader_fail(r, "malformed mutability");
	g->mut = mut;
}

static void wasm_sec_types(struct wasm_decoder *d)
{
	struct wasm_reader *r = &d->r;
	struct assay_wasm_module *m = d->m;
	uint32_t n = wasm_read_count(r, WASM_MAX_TYPES, "too many types"), i, k;

	if (r->err)
		return;
	m->types = wasm_calloc_n(r, n, sizeof(*m->types));
	m->canon = wasm_calloc_n(r, n, sizeof(*m->canon));
	if (r->err)
		return;
	for (i = 0; i < n && !r->err; i++) {
		struct wasm_functype *t = &m->types[i];
		uint32_t np, nr;
		uint8_t tmp[WASM_MAX_TYPE_VALUES * 2];

		if (wasm_read_s7(r) != -0x20) {
			if (!r->err)
				wasm_reader_fail(r, "malformed functype");
			return;
		}
		np = wasm_read_count(r, WASM_MAX_TYPE_VALUES, "too many parameters");
		for (k = 0; k < np && !r->err; k++)
			tmp[k] = wasm_read_valtype(r);
		nr = wasm_read_count(r, WASM_MAX_TYPE_VALUES, "too many results");
		for (k = 0; k < nr && !r->err; k++)
			tmp[np + k] = wasm_read_valtype(r);
		if (r->err)
			return;
		t->types = malloc(np + nr + 1);
		t->api = malloc(((size_t)np + nr + 1) * sizeof(*t->api));
		if (!t->types || !t->api) {
			wasm_reader_fail(r, "out of memory");
			return;
		}
		memcpy(t->types, tmp, np + nr);
		for (k = 0; k < np + nr; k++)
			t->api[k] = (enum assay_wasm_type)tmp[k];
		t->n_params = np;
		t->n_results = nr;
		m->n_types = i + 1;
		/* Canonical index: equal types share one, so call_indirect
		 * within a module mostly compares indexes. The search is
		 * quadratic, so only the first WASM_CANON_TYPES types take
		 * part; later ones keep their own index, and call_indirect
		 * then compares the types' structure (interp.c). */
		m->canon[i] = i;
		for (k = 0; k < i && i < WASM_CANON_TYPES; k++)
			if (wasm_functype_equal(&m->types[k], t)) {
				m->canon[i] = k;
				break;
			}
	}
}

static void wasm_sec_imports(struct wasm_decoder *d)
{
	struct wasm_reader *r = &d->r;
	struct assay_wasm_module *m = d->m;
	uint32_t n = wasm_read_count(r, WASM_MAX_IMPORTS, "too many imports"), i;

	if (r->err)
		return;
	m->imports = wasm_calloc_n(r, n, sizeof(*m->imports));
	for (i = 0; i < n && !r->err; i++) {
		struct wasm_import *im = &m->imports[i];
		uint8_t kind;

		im->module = wasm_read_name(r, 1);
		if (r->err)
			return;
		m->n_imports = i + 1;
		im->name = wasm_read_name(r, 1);
		kind = wasm_read_u8(r);
		if (r->err)
			return;
		im->kind = kind;
		switch (kind) {
		case ASSAY_WASM_EXTERN_FUNC:
			im->type_idx = wasm_read_u32(r);
			m->n_func_imports++;
			break;
		case ASSAY_WASM_EXTERN_TABLE:
			wasm_read_tabletype(r, &im->table);
			m->n_table_imports++;
			break;
		case ASSAY_WASM_EXTERN_MEMORY:
			wasm_read_limits(r, &im->mem);
			m->n_mem_imports++;
			break;
		case ASSAY_WASM_EXTERN_GLOBAL:
			wasm_read_globaltype(r, &im->global);
			m->n_global_imports++;
			break;
		default:
			wasm_reader_fail(r, "malformed import kind");
		}
	}
}

static void wasm_sec_funcs(struct wasm_decoder *d)
{
	struct wasm_reader *r = &d->r;
	uint32_t n = wasm_read_count(r, WASM_MAX_FUNCS, "too many functions"), i;

	if (r->err)
		return;
	d->func_decls = wasm_calloc_n(r, n, sizeof(*d->func_decls));
	for (i = 0; i < n && !r->err; i++)
		d->func_decls[i] = wasm_read_u32(r);
	if (!r->err)
		d->n_func_decls = n;
}

static void wasm_sec_tables(struct wasm_decoder *d)
{
	struct wasm_reader *r = &d->r;
	struct assay_wasm_module *m = d->m;
	uint32_t n = wasm_read_count(r, WASM_MAX_TABLES, "too many tables"), i;

	if (r->err)
		return;
	m->tables = wasm_calloc_n(r, (size_t)m->n_table_imports + n, sizeof(*m->tables));
	for (i = 0; i < n && !r->err; i++)
		wasm_read_tabletype(r, &m->tables[m->n_table_imports + i]);
	m->n_tables = m->n_table_imports + n;
}

static void wasm_sec_mems(struct wasm_decoder *d)
{
	struct wasm_reader *r = &d->r;
	struct assay_wasm_module *m = d->m;
	uint32_t n = wasm_read_count(r, WASM_MAX_MEMORIES, "too many memories"), i;

	if (r->err)
		return;
	m->mems = wasm_calloc_n(r, (size_t)m->n_mem_imports + n, sizeof(*m->mems));
	for (i = 0; i < n && !r->err; i++)
		wasm_read_limits(r, &m->mems[m->n_mem_imports + i]);
	m->n_mems = m->n_mem_imports + n;
}

static void wasm_sec_globals(struct wasm_decoder *d)
{
	struct wasm_reader *r = &d->r;
	struct assay_wasm_module *m = d->m;
	uint32_t n = wasm_read_count(r, WASM_MAX_GLOBALS, "too many globals"), i;

	if (r->err)
		return;
	m->globals = wasm_calloc_n(r, n, sizeof(*m->globals));
	for (i = 0; i < n && !r->err; i++) {
		wasm_read_globaltype(r, &m->globals[i].type);
		wasm_read_cexpr(r, &m->globals[i].init);
	}
	if (!r->err)
		m->n_globals = m->n_global_imports + n;
}

static void wasm_sec_exports(struct wasm_decoder *d)
{
	struct wasm_reader *r = &d->r;
	struct assay_wasm_module *m = d->m;
	uint32_t n = wasm_read_count(r, WASM_MAX_EXPORTS, "too many exports"), i;

	if (r->err)
		return;
	m->exports = wasm_calloc_n(r, n, sizeof(*m->exports));
	for (i = 0; i < n && !r->err; i++) {
		struct wasm_export *e = &m->exports[i];
		uint8_t kind;

		e->name = wasm_read_name_len(r, 1, &e->name_len);
		if (r->err)
			return;
		m->n_exports = i + 1;
		kind = wasm_read_u8(r);
		if (!r->err && kind > 3)
			wasm_reader_fail(r, "malformed export kind");
		e->kind = kind;
		e->index = wasm_read_u32(r);
	}
}

static void wasm_sec_start(struct wasm_decoder *d)
{
	d->m->start = wasm_read_u32(&d->r);
	d->m->has_start = 1;
}

/* Element items: function indices, or constant expressions. */
static void wasm_read_elem_items(struct wasm_decoder *d, struct wasm_elem *e, int exprs)
{
	struct wasm_reader *r = &d->r;
	uint32_t n = wasm_read_len(r), i;

	if (r->err)
		return;
	d->elem_items += n;
	if (d->elem_items > WASM_MAX_ELEM_ITEMS) {
		wasm_reader_fail(r, "too many elements");
		return;
	}
	e->items = wasm_calloc_n(r, n, sizeof(*e->items));
	for (i = 0; i < n && !r->err; i++) {
		if (exprs) {
			wasm_read_cexpr(r, &e->items[i]);
		} else {
			e->items[i].kind = WASM_CE_REF_FUNC;
			e->items[i].type = WASM_T_FUNCREF;
			e->items[i].n_instrs = 1;
			e->items[i].index = wasm_read_u32(r);
		}
	}
	if (!r->err)
		e->n = n;
}

static void wasm_read_elemkind(struct wasm_reader *r, struct wasm_elem *e)
{
	if (wasm_read_u8(r) != 0 && !r->err)
		wasm_reader_fail(r, "malformed element kind");
	e->type = WASM_T_FUNCREF;
}

static void wasm_sec_elems(struct wasm_decoder *d)
{
	struct wasm_reader *r = &d->r;
	struct assay_wasm_module *m = d->m;
	uint32_t n = wasm_read_count(r, WASM_MAX_SEGMENTS, "too many element segments"), i;

	if (r->err)
		return;
	m->elems = wasm_calloc_n(r, n, sizeof(*m->elems));
	for (i = 0; i < n && !r->err; i++) {
		struct wasm_elem *e = &m->elems[i];
		uint32_t flags = wasm_read_u32(r);

		if (r->err)
			return;
		m->n_elems = i + 1;
		e->type = WASM_T_FUNCREF;
		switch (flags) {
		case 0: case 4:
			e->mode = WASM_SEG_ACTIVE;
			wasm_read_cexpr(r, &e->offset);
			wasm_read_elem_items(d, e, flags == 4);
			break;
		case 1: case 5:
			e->mode = WASM_SEG_PASSIVE;
			goto kind;
		case 3: case 7:
			e->mode = WASM_SEG_DECLARATIVE;
			goto kind;
		case 2: case 6:
			e->mode = WASM_SEG_ACTIVE;
			e->table = wasm_read_u32(r);
			wasm_read_cexpr(r, &e->offset);
kind:
			if (flags & 4)
				e->type = wasm_read_reftype(r);
			else
				wasm_read_elemkind(r, e);
			wasm_read_elem_items(d, e, flags & 4);
			break;
		default:
			wasm_reader_fail(r, "malformed elements segment kind");
		}
	}
}

static void wasm_sec_datacount(struct wasm_decoder *d)
{
	d->m->data_count = wasm_read_u32(&d->r);
	d->m->has_data_count = 1;
}

/* One function body: locals, then the instructions scanned. */
static void wasm_read_body(struct wasm_decoder *d, struct wasm_func *f)
{
	struct wasm_reader *r = &d->r;
	struct assay_wasm_module *m = d->m;
	const struct wasm_functype *t = NULL;
	uint32_t size = wasm_read_len(r), n, i, k, at;
	const uint8_t *start = r->p, *groups;
	uint64_t total = 0;
	struct wasm_scan sc;

	if (r->err)
		return;
	if (size > WASM_MAX_BODY) {
		wasm_reader_fail(r, "function body too large");
		return;
	}
	f->body = start;
	n = wasm_read_len(r);
	groups = r->p;
	for (i = 0; i < n && !r->err; i++) {
		total += wasm_read_u32(r);
		(void)wasm_read_valtype(r);
	}
	if (r->err)
		return;
	if (total >= ((uint64_t)1 << 32)) {
		wasm_reader_fail(r, "too many locals");
		return;
	}
	if (f->type_idx < m->n_types)
		t = &m->types[f->type_idx];
	total += t ? t->n_params : 0;
	if (total > WASM_MAX_LOCALS) {
		wasm_reader_fail(r, "too many locals (implementation limit)");
		return;
	}
	f->n_locals = (uint32_t)total;
	f->local_types = wasm_calloc_n(r, total, 1);
	if (r->err)
		return;
	at = 0;
	if (t)
		for (; at < t->n_params; at++)
			f->local_types[at] = t->types[at];
	/* Read the groups again, now that the total is known to be sane. */
	{
		struct wasm_reader g = { groups, r->end, NULL };

		for (i = 0; i < n; i++) {
			uint32_t c = wasm_read_u32(&g);
			uint8_t ty = wasm_read_valtype(&g);

			for (k = 0; k < c; k++)
				f->local_types[at++] = ty;
		}
	}
	f->instrs = r->p;
	if (wasm_scan_expr(r, m->has_data_count, &sc) < 0)
		return;
	if ((size_t)(r->p - start) != size) {
		wasm_reader_fail(r, "section size mismatch");
		return;
	}
	f->body_len = size;
	f->n_const_instrs = sc.n_consts;
	if (sc.needs_data_count)
		d->needs_data_count = 1;
}

static void wasm_sec_code(struct wasm_decoder *d)
{
	struct wasm_reader *r = &d->r;
	struct assay_wasm_module *m = d->m;
	uint32_t n = wasm_read_count(r, WASM_MAX_FUNCS, "too many functions"), i;

	if (r->err)
		return;
	d->has_code = 1;
	d->n_bodies = n;
	/* A count differing from the function section's is reported once
	 * everything is read, as the reference does. */
	m->funcs = wasm_calloc_n(r, n, sizeof(*m->funcs));
	for (i = 0; i < n && !r->err; i++) {
		m->funcs[i].type_idx = i < d->n_func_decls ? d->func_decls[i] : UINT32_MAX;
		wasm_read_body(d, &m->funcs[i]);
		m->n_bodies_read = i + 1;
	}
}

static void wasm_sec_data(struct wasm_decoder *d)
{
	struct wasm_reader *r = &d->r;
	struct assay_wasm_module *m = d->m;
	uint32_t n = wasm_read_count(r, WASM_MAX_SEGMENTS, "too many data segments"), i;

	if (r->err)
		return;
	m->datas = wasm_calloc_n(r, n, sizeof(*m->datas));
	for (i = 0; i < n && !r->err; i++) {
		struct wasm_data *s = &m->datas[i];
		uint32_t flags = wasm_read_u32(r);

		if (r->err)
			return;
		switch (flags) {
		case 0:
			s->mode = WASM_SEG_ACTIVE;
			wasm_read_cexpr(r, &s->offset);
			break;
		case 1:
			s->mode = WASM_SEG_PASSIVE;
			break;
		case 2:
			s->mode = WASM_SEG_ACTIVE;
			s->mem = wasm_read_u32(r);
			wasm_read_cexpr(r, &s->offset);
			break;
		default:
			wasm_reader_fail(r, "malformed data segment kind");
			return;
		}
		s->len = wasm_read_len(r);
		s->bytes = wasm_read_bytes(r, s->len);
		if (!r->err)
			m->n_datas = i + 1;
	}
}

static void wasm_sec_custom(struct wasm_decoder *d, const uint8_t *end)
{
	struct wasm_reader *r = &d->r;

	(void)wasm_read_name(r, 0);
	if (!r->err && r->p > end)
		wasm_reader_fail(r, wasm_eof);
	if (!r->err)
		r->p = end;
}

/* Section ids in the order the binary format requires them. */
static int wasm_section_rank(uint8_t id)
{
	static const int8_t rank[13] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 10 };

	return id < 13 ? rank[id] : -1;
}

static void wasm_decode_sections(struct wasm_decoder *d)
{
	struct wasm_reader *r = &d->r;
	int last = 0;

	while (!r->err && r->p < r->end) {
		uint8_t id = *r->p;
		int rank = wasm_section_rank(id);
		const uint8_t *start, *end;
		uint32_t size;

		if (rank < 0) {
			wasm_reader_fail(r, "malformed section id");
			return;
		}
		if (id != 0 && rank <= last) {
			wasm_reader_fail(r, "unexpected content after last section");
			return;
		}
		r->p++;
		size = wasm_read_len(r);
		if (r->err)
			return;
		start = r->p;
		end = start + size;
		if (id)
			last = rank;
		switch (id) {
		case 0: wasm_sec_custom(d, end); break;
		case 1: wasm_sec_types(d); break;
		case 2: wasm_sec_imports(d); break;
		case 3: wasm_sec_funcs(d); break;
		case 4: wasm_sec_tables(d); break;
		case 5: wasm_sec_mems(d); break;
		case 6: wasm_sec_globals(d); break;
		case 7: wasm_sec_exports(d); break;
		case 8: wasm_sec_start(d); break;
		case 9: wasm_sec_elems(d); break;
		case 10: wasm_sec_code(d); break;
		case 11: wasm_sec_data(d); break;
		case 12: wasm_sec_datacount(d); break;
		}
		if (!r->err && r->p != end)
			wasm_reader_fail(r, "section size mismatch");
	}
}

/* Fills the index spaces that imports start. */
static int wasm_index_spaces(struct wasm_decoder *d)
{
	struct assay_wasm_module *m = d->m;
	struct wasm_reader *r = &d->r;
	uint32_t i, f = 0, t = 0, mm = 0, g = 0;

	m->n_funcs = m->n_func_imports + d->n_func_decls;
	m->func_types = wasm_calloc_n(r, m->n_funcs, sizeof(*m->func_types));
	if (!m->tables)
		m->tables = wasm_calloc_n(r, m->n_table_imports, sizeof(*m->tables));
	if (!m->mems)
		m->mems = wasm_calloc_n(r, m->n_mem_imports, sizeof(*m->mems));
	m->global_types = wasm_calloc_n(r, (size_t)m->n_global_imports +
					(m->n_globals > m->n_global_imports ?
					 m->n_globals - m->n_global_imports : 0),
					sizeof(*m->global_types));
	if (r->err)
		return -1;
	if (m->n_tables < m->n_table_imports)
		m->n_tables = m->n_table_imports;
	if (m->n_mems < m->n_mem_imports)
		m->n_mems = m->n_mem_imports;
	if (m->n_globals < m->n_global_imports)
		m->n_globals = m->n_global_imports;
	for (i = 0; i < m->n_imports; i++) {
		struct wasm_import *im = &m->imports[i];

		switch (im->kind) {
		case ASSAY_WASM_EXTERN_FUNC: m->func_types[f++] = im->type_idx; break;
		case ASSAY_WASM_EXTERN_TABLE: m->tables[t++] = im->table; break;
		case ASSAY_WASM_EXTERN_MEMORY: m->mems[mm++] = im->mem; break;
		case ASSAY_WASM_EXTERN_GLOBAL: m->global_types[g++] = im->global; break;
		}
	}
	for (i = 0; i < d->n_func_decls; i++)
		m->func_types[f++] = d->func_decls[i];
	for (i = 0; g < m->n_globals; i++)
		m->global_types[g++] = m->globals[i].type;
	return 0;
}

struct assay_wasm_module *wasm_decode(const uint8_t *bytes, size_t len,
				      char *err, size_t errlen)
{
	static const uint8_t magic[4] = { 0x00, 0x61, 0x73, 0x6d };
	static const uint8_t version[4] = { 0x01, 0x00, 0x00, 0x00 };
	struct wasm_decoder d;
	struct assay_wasm_module *m;

	memset(&d, 0, sizeof(d));
	if (len > WASM_MAX_MODULE_BYTES) {
		error_set(err, errlen, "malformed: module larger than %zu bytes",
			  WASM_MAX_MODULE_BYTES);
		return NULL;
	}
	if (len < 4) {
		error_set(err, errlen, "malformed: unexpected end");
		return NULL;
	}
	if (memcmp(bytes, magic, 4)) {
		error_set(err, errlen, "malformed: magic header not detected");
		return NULL;
	}
	if (len < 8) {
		error_set(err, errlen, "malformed: unexpected end");
		return NULL;
	}
	if (memcmp(bytes + 4, version, 4)) {
		error_set(err, errlen, "malformed: unknown binary version");
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m || !(m->bytes = malloc(len))) {
		free(m);
		error_set(err, errlen, "out of memory");
		return NULL;
	}
	memcpy(m->bytes, bytes, len);
	m->len = len;
	m->refs = 1;
	d.m = m;
	d.r.p = m->bytes + 8;
	d.r.end = m->bytes + len;
	wasm_decode_sections(&d);
	if (!d.r.err && d.n_func_decls != (d.has_code ? d.n_bodies : 0))
		d.r.err = "function and code section have inconsistent lengths";
	if (!d.r.err && m->has_data_count && m->data_count != m->n_datas)
		d.r.err = "data count and data section have inconsistent lengths";
	if (!d.r.err && d.needs_data_count && m->n_datas)
		d.r.err = "data count section required";
	if (!d.r.err)
		wasm_index_spaces(&d);
	free(d.func_decls);
	if (d.r.err) {
		error_set(err, errlen, "malformed: %s", d.r.err);
		wasm_module_free(m);
		return NULL;
	}
	return m;
}

void wasm_module_free(struct assay_wasm_module *m)
{
	uint32_t i;

	if (!m)
		return;
	for (i = 0; i < m->n_types; i++) {
		free(m->types[i].types);
		free(m->types[i].api);
	}
	free(m->types);
	free(m->canon);
	for (i = 0; i < m->n_imports; i++) {
		free(m->imports[i].module);
		free(m->imports[i].name);
	}
	free(m->imports);
	free(m->func_types);
	if (m->funcs)
		for (i = 0; i < m->n_bodies_read; i++) {
			free(m->funcs[i].local_types);
			wasm_code_free(m->funcs[i].code);
		}
	free(m->funcs);
	free(m->codes);
	free(m->tables);
	free(m->mems);
	free(m->global_types);
	free(m->globals);
	for (i = 0; i < m->n_exports; i++)
		free(m->exports[i].name);
	free(m->exports);
	for (i = 0; i < m->n_elems; i++)
		free(m->elems[i].items);
	free(m->elems);
	free(m->datas);
	free(m->declared_refs);
	free(m->bytes);
	free(m);
}
