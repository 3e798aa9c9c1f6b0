/* validate: module-level validation (everything but function bodies,
 * which compile.c validates while translating them).
 *
 * The order of the checks follows the reference interpreter's, so a module
 * with several faults reports the one the spec tests expect: imports, then
 * function types, globals, tables, memories, element and data segments,
 * (bodies), start, exports, and "multiple memories" last. */
#include "wasm/wasm_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

const char *wasm_type_name(uint8_t t)
{
	switch (t) {
	case WASM_T_I32: return "i32";
	case WASM_T_I64: return "i64";
	case WASM_T_F32: return "f32";
	case WASM_T_F64: return "f64";
	case WASM_T_FUNCREF: return "funcref";
	case WASM_T_EXTERNREF: return "externref";
	}
	return "unknown";
}

int wasm_functype_equal(const struct wasm_functype *a, const struct wasm_functype *b)
{
	if (a == b)
		return 1;
	return a->n_params == b->n_params && a->n_results == b->n_results &&
	       !memcmp(a->types, b->types, a->n_params + a->n_results);
}

static int wasm_check_limits(const struct wasm_limits *l, uint64_t range, const char *what,
			     char *err, size_t errlen)
{
	if (l->min > range || (l->has_max && l->max > range)) {
		error_set(err, errlen, "invalid: %s", what);
		return -1;
	}
	if (l->has_max && l->min > l->max) {
		error_set(err, errlen, "invalid: size minimum must not be greater than maximum");
		return -1;
	}
	return 0;
}

static int wasm_check_memtype(const struct wasm_limits *l, char *err, size_t errlen)
{
	return wasm_check_limits(l, WASM_MAX_PAGES,
				 "memory size must be at most 65536 pages (4GiB)", err, errlen);
}

static int wasm_check_tabletype(const struct wasm_tabletype *t, char *err, size_t errlen)
{
	return wasm_check_limits(&t->lim, UINT32_MAX,
				 "table size must be at most 2^32-1", err, errlen);
}

/* A constant expression of type want, where global.get may name only the
 * first n_globals globals (the imported ones). */
static int wasm_check_cexpr(const struct assay_wasm_module *m, const struct wasm_cexpr *ce,
			    uint8_t want, const char *what, char *err, size_t errlen)
{
	uint8_t type = ce->type;

	if (ce->not_const) {
		error_set(err, errlen, "invalid: constant expression required in %s", what);
		return -1;
	}
	if (ce->n_instrs >= 1 && ce->kind == WASM_CE_GLOBAL_GET) {
		if (ce->index >= m->n_global_imports) {
			error_set(err, errlen, "invalid: unknown global %u in %s", ce->index, what);
			return -1;
		}
		if (m->global_types[ce->index].mut) {
			error_set(err, errlen, "invalid: constant expression required in %s "
				  "(global %u is mutable)", what, ce->index);
			return -1;
		}
		type = m->global_types[ce->index].type;
	}
	if (ce->n_instrs >= 1 && ce->kind == WASM_CE_REF_FUNC && ce->index >= m->n_funcs) {
		error_set(err, errlen, "invalid: unknown function %u in %s", ce->index, what);
		return -1;
	}
	if (ce->n_instrs != 1 || type != want) {
		error_set(err, errlen, "invalid: type mismatch in %s: expected %s", what,
			  wasm_type_name(want));
		return -1;
	}
	return 0;
}

/* C.refs: functions named outside function bodies may be used by ref.func. */
static int wasm_declared_refs(struct assay_wasm_module *m)
{
	uint32_t i, k;

	m->declared_refs = calloc(m->n_funcs ? m->n_funcs : 1, 1);
	if (!m->declared_refs)
		return -1;
	for (i = 0; i < m->n_globals - m->n_global_imports; i++) {
		const struct wasm_cexpr *ce = &m->globals[i].init;

		if (ce->n_instrs && !ce->not_const && ce->kind == WASM_CE_REF_FUNC &&
		    ce->index < m->n_funcs)
			m->declared_refs[ce->index] = 1;
	}
	for (i = 0; i < m->n_elems; i++)
		for (k = 0; k < m->elems[i].n; k++) {
			const struct wasm_cexpr *ce = &m->elems[i].items[k];

			if (ce->n_instrs && !ce->not_const && ce->kind == WASM_CE_REF_FUNC &&
			    ce->index < m->n_funcs)
				m->declared_refs[ce->index] = 1;
		}
	for (i = 0; i < m->n_exports; i++)
		if (m->exports[i].kind == ASSAY_WASM_EXTERN_FUNC &&
		    m->exports[i].index < m->n_funcs)
			m->declared_refs[m->exports[i].index] = 1;
	return 0;
}

static int wasm_check_imports(const struct assay_wasm_module *m, char *err, size_t errlen)
{
	uint32_t i;

	for (i = 0; i < m->n_imports; i++) {
		const struct wasm_import *im = &m->imports[i];

		switch (im->kind) {
		case ASSAY_WASM_EXTERN_FUNC:
			if (im->type_idx >= m->n_types) {
				error_set(err, errlen, "invalid: unknown type %u in import %u",
					  im->type_idx, i);
				return -1;
			}
			break;
		case ASSAY_WASM_EXTERN_TABLE:
			if (wasm_check_tabletype(&im->table, err, errlen) < 0)
				return -1;
			break;
		case ASSAY_WASM_EXTERN_MEMORY:
			if (wasm_check_memtype(&im->mem, err, errlen) < 0)
				return -1;
			break;
		}
	}
	return 0;
}

static int wasm_check_elems(const struct assay_wasm_module *m, char *err, size_t errlen)
{
	uint32_t i, k;

	for (i = 0; i < m->n_elems; i++) {
		const struct wasm_elem *e = &m->elems[i];
		char what[64];

		if (e->mode == WASM_SEG_ACTIVE) {
			if (e->table >= m->n_tables) {
				error_set(err, errlen, "invalid: unknown table %u in element "
					  "segment %u", e->table, i);
				return -1;
			}
			if (m->tables[e->table].elem != e->type) {
				error_set(err, errlen, "invalid: type mismatch: element segment "
					  "%u of %s for a table of %s", i,
					  wasm_type_name(e->type),
					  wasm_type_name(m->tables[e->table].elem));
				return -1;
			}
			snprintf(what, sizeof(what), "element segment %u offset", i);
			if (wasm_check_cexpr(m, &e->offset, WASM_T_I32, what, err, errlen) < 0)
				return -1;
		}
		for (k = 0; k < e->n; k++) {
			snprintf(what, sizeof(what), "element segment %u item %u", i, k);
			if (wasm_check_cexpr(m, &e->items[k], e->type, what, err, errlen) < 0)
				return -1;
		}
	}
	return 0;
}

static int wasm_check_datas(const struct assay_wasm_module *m, char *err, size_t errlen)
{
	uint32_t i;

	for (i = 0; i < m->n_datas; i++) {
		const struct wasm_data *d = &m->datas[i];
		char what[64];

		if (d->mode != WASM_SEG_ACTIVE)
			continue;
		if (d->mem >= m->n_mems) {
			error_set(err, errlen, "invalid: unknown memory %u in data segment %u",
				  d->mem, i);
			return -1;
		}
		snprintf(what, sizeof(what), "data segment %u offset", i);
		if (wasm_check_cexpr(m, &d->offset, WASM_T_I32, what, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int wasm_validate_module(struct assay_wasm_module *m, char *err, size_t errlen)
{
	uint32_t i;

	if (wasm_check_imports(m, err, errlen) < 0)
		return -1;
	for (i = m->n_func_imports; i < m->n_funcs; i++)
		if (m->func_types[i] >= m->n_types) {
			error_set(err, errlen, "invalid: unknown type %u of function %u",
				  m->func_types[i], i);
			return -1;
		}
	for (i = 0; i < m->n_types; i++)
		if (m->types[i].n_params > WASM_MAX_FUNC_VALUES ||
		    m->types[i].n_results > WASM_MAX_FUNC_VALUES) {
			error_set(err, errlen, "invalid: type %u has more than %u parameters "
				  "or results (implementation limit)", i, WASM_MAX_FUNC_VALUES);
			return -1;
		}
	for (i = m->n_global_imports; i < m->n_globals; i++) {
		const struct wasm_global *g = &m->globals[i - m->n_global_imports];
		char what[48];

		snprintf(what, sizeof(what), "global %u", i);
		if (wasm_check_cexpr(m, &g->init, g->type.type, what, err, errlen) < 0)
			return -1;
	}
	for (i = m->n_table_imports; i < m->n_tables; i++)
		if (wasm_check_tabletype(&m->tables[i], err, errlen) < 0)
			return -1;
	for (i = m->n_mem_imports; i < m->n_mems; i++)
		if (wasm_check_memtype(&m->mems[i], err, errlen) < 0)
			return -1;
	if (wasm_check_elems(m, err, errlen) < 0 || wasm_check_datas(m, err, errlen) < 0)
		return -1;
	if (wasm_declared_refs(m) < 0) {
		error_set(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int wasm_name_cmp(const void *a, const void *b)
{
	const struct wasm_export *const *x = a, *const *y = b;
	uint32_t n = (*x)->name_len < (*y)->name_len ? (*x)->name_len : (*y)->name_len;
	int c = memcmp((*x)->name, (*y)->name, n);

	if (c)
		return c;
	return (*x)->name_len < (*y)->name_len ? -1 : (*x)->name_len > (*y)->name_len;
}

int wasm_validate_module_tail(struct assay_wasm_module *m, char *err, size_t errlen)
{
	static const char *const kinds[] = { "function", "table", "memory", "global" };
	const struct wasm_export **sorted;
	uint32_t i;

	if (m->has_start) {
		const struct wasm_functype *t;

		if (m->start >= m->n_funcs) {
			error_set(err, errlen, "invalid: unknown function %u (start)", m->start);
			return -1;
		}
		t = &m->types[m->func_types[m->start]];
		if (t->n_params || t->n_results) {
			error_set(err, errlen, "invalid: start function %u must take and "
				  "return nothing", m->start);
			return -1;
		}
	}
	for (i = 0; i < m->n_exports; i++) {
		const struct wasm_export *e = &m->exports[i];
		uint32_t n = e->kind == ASSAY_WASM_EXTERN_FUNC ? m->n_funcs :
			     e->kind == ASSAY_WASM_EXTERN_TABLE ? m->n_tables :
			     e->kind == ASSAY_WASM_EXTERN_MEMORY ? m->n_mems : m->n_globals;

		if (e->index >= n) {
			error_set(err, errlen, "invalid: unknown %s %u (export \"%s\")",
				  kinds[e->kind], e->index, e->name);
			return -1;
		}
	}
	if (m->n_exports > 1) {
		sorted = malloc(m->n_exports * sizeof(*sorted));
		if (!sorted) {
			error_set(err, errlen, "out of memory");
			return -1;
		}
		for (i = 0; i < m->n_exports; i++)
			sorted[i] = &m->exports[i];
		qsort(sorted, m->n_exports, sizeof(*sorted), wasm_name_cmp);
		for (i = 1; i < m->n_exports; i++)
			if (!wasm_name_cmp(&sorted[i - 1], &sorted[i])) {
				error_set(err, errlen, "invalid: duplicate export name \"%s\"",
					  sorted[i]->name);
				free(sorted);
				return -1;
			}
		free(sorted);
	}
	if (m->n_mems > 1) {
		error_set(err, errlen, "invalid: multiple memories");
		return -1;
	}
	return 0;
}
