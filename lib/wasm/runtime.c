/* runtime: the embedding API (include/assay/wasm.h): modules, stores,
 * instances, memories, tables, globals, host functions and calls.
 *
 * Every object lives in a store and dies with it; instances hold a
 * reference on their module, so a module may be freed by its owner while
 * instances still run its code. Memories reserve their maximum size of
 * address space once (PROT_NONE) and make pages accessible as they grow,
 * so their base address does not move; when the address space is limited
 * (RLIMIT_AS) they map just their pages and move (mremap) as they grow. */
#define _GNU_SOURCE	/* mremap */
#include "wasm/wasm_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "util/error.h"

#define WASM_DEFAULT_PAGES 16384u
#define WASM_DEFAULT_TABLE 1000000u
#define WASM_DEFAULT_DEPTH 10000u
#define WASM_STACK_SLOTS ((size_t)4 << 20)	/* 32 MiB of address space */

struct assay_wasm_memory wasm_no_memory;

void wasm_trap_set(struct assay_wasm_store *s, const char *fmt, ...)
{
	va_list ap;

	if (!s->trap)
		return;
	va_start(ap, fmt);
	vsnprintf(s->trap->message, sizeof(s->trap->message), fmt, ap);
	va_end(ap);
}

/* ---- modules ---- */

static void wasm_module_unref(struct assay_wasm_module *m)
{
	if (m && __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0)
		wasm_module_free(m);
}

struct assay_wasm_module *assay_wasm_module_load(const uint8_t *bytes, size_t len,
						 char *err, size_t errlen)
{
	struct assay_wasm_module *m;
	uint32_t i, n;

	if (!bytes && len) {
		error_set(err, errlen, "malformed: no bytes");
		return NULL;
	}
	m = wasm_decode(bytes ? bytes : (const uint8_t *)"", len, err, errlen);
	if (!m)
		return NULL;
	if (wasm_validate_module(m, err, errlen) < 0)
		goto fail;
	n = m->n_funcs - m->n_func_imports;
	m->codes = calloc(n ? n : 1, sizeof(*m->codes));
	if (!m->codes) {
		error_set(err, errlen, "out of memory");
		goto fail;
	}
	for (i = 0; i < n; i++)
		m->funcs[i].code = &m->codes[i];
	for (i = 0; i < n; i++)
		if (wasm_compile_func(m, i, err, errlen) < 0)
			goto fail;
	if (wasm_validate_module_tail(m, err, errlen) < 0)
		goto fail;
	return m;
fail:
	wasm_module_free(m);
	return NULL;
}

int assay_wasm_module_validate(const uint8_t *bytes, size_t len, char *err, size_t errlen)
{
	struct assay_wasm_module *m = assay_wasm_module_load(bytes, len, err, errlen);

	if (!m)
		return -1;
	wasm_module_unref(m);
	return 0;
}

void assay_wasm_module_free(struct assay_wasm_module *m)
{
	wasm_module_unref(m);
}

uint32_t assay_wasm_module_import_count(const struct assay_wasm_module *m)
{
	return m->n_imports;
}

void assay_wasm_module_import(const struct assay_wasm_module *m, uint32_t i,
			      struct assay_wasm_import_desc *out)
{
	const struct wasm_import *im;

	memset(out, 0, sizeof(*out));
	if (i >= m->n_imports)
		return;
	im = &m->imports[i];
	out->module = im->module;
	out->name = im->name;
	out->kind = (enum assay_wasm_extern_kind)im->kind;
	if (im->kind == ASSAY_WASM_EXTERN_FUNC) {
		const struct wasm_functype *t = &m->types[im->type_idx];

		out->func.n_params = t->n_params;
		out->func.n_results = t->n_results;
		out->func.params = t->api;
		out->func.results = t->api + t->n_params;
	}
}

void assay_wasm_module_import_type(const struct assay_wasm_module *m, uint32_t i,
				   struct assay_wasm_import_type *out)
{
	const struct wasm_import *im;
	const struct wasm_limits *l = NULL;

	memset(out, 0, sizeof(*out));
	out->max = UINT32_MAX;
	if (i >= m->n_imports)
		return;
	im = &m->imports[i];
	switch (im->kind) {
	case ASSAY_WASM_EXTERN_TABLE:
		out->type = (enum assay_wasm_type)im->table.elem;
		l = &im->table.lim;
		break;
	case ASSAY_WASM_EXTERN_MEMORY:
		l = &im->mem;
		break;
	case ASSAY_WASM_EXTERN_GLOBAL:
		out->type = (enum assay_wasm_type)im->global.type;
		out->mutable_ = im->global.mut;
		break;
	}
	if (l) {
		out->min = l->min;
		out->max = l->has_max ? l->max : UINT32_MAX;
	}
}

uint32_t assay_wasm_module_export_count(const struct assay_wasm_module *m)
{
	return m->n_exports;
}

const char *assay_wasm_module_export(const struct assay_wasm_module *m, uint32_t i,
				     enum assay_wasm_extern_kind *kind)
{
	if (i >= m->n_exports)
		return NULL;
	if (kind)
		*kind = (enum assay_wasm_extern_kind)m->exports[i].kind;
	return m->exports[i].name;
}

/* ---- stores ---- */

struct assay_wasm_store *assay_wasm_store_new(const struct assay_wasm_limits *limits)
{
	struct assay_wasm_store *s = calloc(1, sizeof(*s));
	void *stack;

	if (!s)
		return NULL;
	if (limits)
		s->limits = *limits;
	if (!s->limits.memory_pages || s->limits.memory_pages > WASM_MAX_PAGES)
		s->limits.memory_pages = s->limits.memory_pages ? WASM_MAX_PAGES :
					 WASM_DEFAULT_PAGES;
	if (!s->limits.table_elements)
		s->limits.table_elements = WASM_DEFAULT_TABLE;
	if (!s->limits.call_depth)
		s->limits.call_depth = WASM_DEFAULT_DEPTH;
	if (s->limits.call_depth > 10000000u)
		s->limits.call_depth = 10000000u;
	s->fuel_limited = s->limits.fuel != 0;
	s->fuel = s->limits.fuel;
	s->deadline_ns = s->limits.deadline_ns;
	s->frames = calloc((size_t)s->limits.call_depth + WASM_MAX_NESTED_CALLS + 1,
			   sizeof(*s->frames));
	s->stack_slots = WASM_STACK_SLOTS;
	stack = mmap(NULL, s->stack_slots * sizeof(union wasm_val), PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!s->frames || stack == MAP_FAILED) {
		free(s->frames);
		if (stack != MAP_FAILED)
			munmap(stack, s->stack_slots * sizeof(union wasm_val));
		free(s);
		return NULL;
	}
	s->stack = stack;
	s->stack_end = s->stack + s->stack_slots;
	s->sp = s->stack;
	s->frame_top = s->frames;
	return s;
}

static void wasm_memory_release(struct assay_wasm_memory *m)
{
	if (m->reserved)
		munmap(m->data, m->reserved);
	free(m);
}

static void wasm_instance_release(struct assay_wasm_instance *in)
{
	struct assay_wasm_module *m = in->module;
	uint32_t i;

	if (in->elems)
		for (i = 0; i < m->n_elems; i++)
			free(in->elems[i].refs);
	free(in->elems);
	free(in->data_len);
	free(in->funcs);
	free(in->own_funcs);
	free(in->tables);
	free(in->mems);
	free(in->globals);
	wasm_module_unref(m);
	free(in);
}

void assay_wasm_store_free(struct assay_wasm_store *s)
{
	if (!s)
		return;
	while (s->instances) {
		struct assay_wasm_instance *n = s->instances->next;

		wasm_instance_release(s->instances);
		s->instances = n;
	}
	while (s->funcs) {
		struct assay_wasm_func *n = s->funcs->next;

		free(s->funcs->own_type.types);
		free(s->funcs->own_type.api);
		free(s->funcs);
		s->funcs = n;
	}
	while (s->memories) {
		struct assay_wasm_memory *n = s->memories->next;

		wasm_memory_release(s->memories);
		s->memories = n;
	}
	while (s->tables) {
		struct assay_wasm_table *n = s->tables->next;

		free(s->tables->elems);
		free(s->tables);
		s->tables = n;
	}
	while (s->globals) {
		struct assay_wasm_global *n = s->globals->next;

		free(s->globals);
		s->globals = n;
	}
	munmap(s->stack, s->stack_slots * sizeof(union wasm_val));
	free(s->frames);
	free(s);
}

uint64_t assay_wasm_store_fuel(const struct assay_wasm_store *s)
{
	return s->fuel_limited ? s->fuel : UINT64_MAX;
}

void assay_wasm_store_set_fuel(struct assay_wasm_store *s, uint64_t fuel)
{
	s->fuel_limited = 1;
	s->fuel = fuel;
}

void assay_wasm_store_set_deadline(struct assay_wasm_store *s, uint64_t deadline_ns)
{
	s->deadline_ns = deadline_ns;
}

uint64_t assay_wasm_store_deadline(const struct assay_wasm_store *s)
{
	return s->deadline_ns;
}

/* ---- memories ---- */

/* Maps m's pages: its whole maximum reserved up front when the address
 * space allows (the base never moves), else exactly its pages. */
static int wasm_memory_map(struct assay_wasm_memory *m)
{
	size_t want = (size_t)m->max_pages * WASM_PAGE;
	void *p;

	if (want) {
		p = mmap(NULL, want, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			 -1, 0);
		if (p != MAP_FAILED) {
			if (m->size && mprotect(p, (size_t)m->size, PROT_READ | PROT_WRITE) < 0) {
				munmap(p, want);
				return -1;
			}
			m->data = p;
			m->reserved = want;
			return 0;
		}
	}
	m->exact = 1;
	if (!m->size)
		return 0;
	p = mmap(NULL, (size_t)m->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED)
		return -1;
	m->data = p;
	m->reserved = (size_t)m->size;
	return 0;
}

static struct assay_wasm_memory *wasm_memory_create(struct assay_wasm_store *s, uint32_t min,
						    uint32_t decl_max, char *err,
						    size_t errlen)
{
	struct assay_wasm_memory *m;
	uint32_t max = decl_max == UINT32_MAX ? WASM_MAX_PAGES : decl_max;

	if (max > s->limits.memory_pages)
		max = s->limits.memory_pages;
	if (min > max) {
		error_set(err, errlen, "memory of %u pages exceeds the limit of %u pages",
			  min, max);
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		error_set(err, errlen, "out of memory");
		return NULL;
	}
	m->pages = min;
	m->size = (uint64_t)min * WASM_PAGE;
	m->max_pages = max;
	m->decl_max = decl_max;
	if (wasm_memory_map(m) < 0) {
		free(m);
		error_set(err, errlen, "cannot allocate %u pages of memory", min);
		return NULL;
	}
	m->store = s;
	m->next = s->memories;
	s->memories = m;
	return m;
}

struct assay_wasm_memory *assay_wasm_memory_new(struct assay_wasm_store *s, uint32_t min_pages,
						uint32_t max_pages)
{
	if (min_pages > WASM_MAX_PAGES ||
	    (max_pages != UINT32_MAX && (max_pages > WASM_MAX_PAGES || max_pages < min_pages)))
		return NULL;
	return wasm_memory_create(s, min_pages, max_pages, NULL, 0);
}

int64_t wasm_memory_grow(struct assay_wasm_memory *m, uint32_t delta)
{
	uint32_t old = m->pages;
	uint64_t want = (uint64_t)old + delta;
	size_t bytes = (size_t)(want * WASM_PAGE);
	void *p;

	if (m == &wasm_no_memory || want > m->max_pages)
		return -1;
	if (!delta)
		return old;
	if (!m->exact) {
		if (mprotect(m->data + m->size, (size_t)delta * WASM_PAGE,
			     PROT_READ | PROT_WRITE) < 0)
			return -1;
	} else {
		p = m->data ? mremap(m->data, m->reserved, bytes, MREMAP_MAYMOVE) :
		    mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
		if (p == MAP_FAILED)
			return -1;
		m->data = p;
		m->reserved = bytes;
	}
	m->pages = (uint32_t)want;
	m->size = want * WASM_PAGE;
	return old;
}

uint8_t *assay_wasm_memory_data(struct assay_wasm_memory *m)
{
	return m->data;
}

size_t assay_wasm_memory_size(const struct assay_wasm_memory *m)
{
	return (size_t)m->size;
}

uint8_t *assay_wasm_memory_range(struct assay_wasm_memory *m, uint64_t offset, uint64_t len)
{
	if (offset > m->size || len > m->size - offset)
		return NULL;
	if (!m->data)
		return (uint8_t *)&wasm_no_memory;	/* empty range of no memory */
	return m->data + offset;
}

int64_t assay_wasm_memory_grow(struct assay_wasm_memory *m, uint32_t delta)
{
	return wasm_memory_grow(m, delta);
}

/* ---- tables ---- */

static struct assay_wasm_table *wasm_table_create(struct assay_wasm_store *s, uint8_t elem,
						  uint32_t min, uint32_t decl_max, char *err,
						  size_t errlen)
{
	struct assay_wasm_table *t;
	uint32_t max = decl_max;

	if (max > s->limits.table_elements)
		max = s->limits.table_elements;
	if (min > max) {
		error_set(err, errlen, "table of %u elements exceeds the limit of %u",
			  min, max);
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t || !(t->elems = calloc(min ? min : 1, sizeof(void *)))) {
		free(t);
		error_set(err, errlen, "out of memory");
		return NULL;
	}
	t->elem = elem;
	t->size = min;
	t->max = max;
	t->decl_max = decl_max;
	t->store = s;
	t->next = s->tables;
	s->tables = t;
	return t;
}

struct assay_wasm_table *assay_wasm_table_new(struct assay_wasm_store *s,
					      enum assay_wasm_type elem, uint32_t min,
					      uint32_t max)
{
	if ((elem != ASSAY_WASM_FUNCREF && elem != ASSAY_WASM_EXTERNREF) || min > max)
		return NULL;
	return wasm_table_create(s, (uint8_t)elem, min, max, NULL, 0);
}

int64_t wasm_table_grow(struct assay_wasm_table *t, uint32_t delta, void *init)
{
	uint32_t old = t->size, i;
	uint64_t want = (uint64_t)old + delta;
	void **ne;

	if (want > t->max)
		return -1;
	if (delta) {
		ne = realloc(t->elems, (size_t)want * sizeof(void *));
		if (!ne)
			return -1;
		t->elems = ne;
		for (i = old; i < want; i++)
			t->elems[i] = init;
		t->size = (uint32_t)want;
	}
	return old;
}

uint32_t assay_wasm_table_size(const struct assay_wasm_table *t)
{
	return t->size;
}

int assay_wasm_table_get(const struct assay_wasm_table *t, uint32_t i,
			 struct assay_wasm_value *out)
{
	if (i >= t->size)
		return -1;
	memset(out, 0, sizeof(*out));
	out->type = (enum assay_wasm_type)t->elem;
	if (t->elem == WASM_T_FUNCREF)
		out->of.funcref = t->elems[i];
	else
		out->of.externref = t->elems[i];
	return 0;
}

int assay_wasm_table_set(struct assay_wasm_table *t, uint32_t i, struct assay_wasm_value v)
{
	if (i >= t->size || (uint8_t)v.type != t->elem)
		return -1;
	if (t->elem == WASM_T_FUNCREF) {
		if (v.of.funcref && v.of.funcref->store != t->store)
			return -1;
		t->elems[i] = v.of.funcref;
	} else {
		t->elems[i] = v.of.externref;
	}
	return 0;
}

/* ---- globals ---- */

static int wasm_valid_type(enum assay_wasm_type t)
{
	return t == ASSAY_WASM_I32 || t == ASSAY_WASM_I64 || t == ASSAY_WASM_F32 ||
	       t == ASSAY_WASM_F64 || t == ASSAY_WASM_FUNCREF || t == ASSAY_WASM_EXTERNREF;
}

/* API value <-> slot. */
static void wasm_to_slot(const struct assay_wasm_value *v, union wasm_val *slot)
{
	slot->u64 = 0;
	switch (v->type) {
	case ASSAY_WASM_I32: slot->u64 = (uint32_t)v->of.i32; break;
	case ASSAY_WASM_I64: slot->i64 = v->of.i64; break;
	case ASSAY_WASM_F32: slot->u64 = v->of.f32; break;
	case ASSAY_WASM_F64: slot->u64 = v->of.f64; break;
	case ASSAY_WASM_FUNCREF: slot->ref = v->of.funcref; break;
	case ASSAY_WASM_EXTERNREF: slot->ref = v->of.externref; break;
	}
}

static void wasm_from_slot(uint8_t type, const union wasm_val *slot,
			   struct assay_wasm_value *v)
{
	memset(v, 0, sizeof(*v));
	v->type = (enum assay_wasm_type)type;
	switch (type) {
	case WASM_T_I32: v->of.i32 = slot->i32; break;
	case WASM_T_I64: v->of.i64 = slot->i64; break;
	case WASM_T_F32: v->of.f32 = slot->u32; break;
	case WASM_T_F64: v->of.f64 = slot->u64; break;
	case WASM_T_FUNCREF: v->of.funcref = slot->ref; break;
	case WASM_T_EXTERNREF: v->of.externref = slot->ref; break;
	}
}

static struct assay_wasm_global *wasm_global_create(struct assay_wasm_store *s, uint8_t type,
						    int mut, union wasm_val val)
{
	struct assay_wasm_global *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->type = type;
	g->mut = (uint8_t)(mut != 0);
	g->val = val;
	g->store = s;
	g->next = s->globals;
	s->globals = g;
	return g;
}

struct assay_wasm_global *assay_wasm_global_new(struct assay_wasm_store *s,
						struct assay_wasm_value init, int mutable_)
{
	union wasm_val v;

	if (!wasm_valid_type(init.type) ||
	    (init.type == ASSAY_WASM_FUNCREF && init.of.funcref &&
	     init.of.funcref->store != s))
		return NULL;
	wasm_to_slot(&init, &v);
	return wasm_global_create(s, (uint8_t)init.type, mutable_, v);
}

struct assay_wasm_value assay_wasm_global_get(const struct assay_wasm_global *g)
{
	struct assay_wasm_value v;

	wasm_from_slot(g->type, &g->val, &v);
	return v;
}

int assay_wasm_global_set(struct assay_wasm_global *g, struct assay_wasm_value v)
{
	if (!g->mut || (uint8_t)v.type != g->type ||
	    (v.type == ASSAY_WASM_FUNCREF && v.of.funcref && v.of.funcref->store != g->store))
		return -1;
	wasm_to_slot(&v, &g->val);
	return 0;
}

/* ---- functions ---- */

struct assay_wasm_func *assay_wasm_func_new_host(struct assay_wasm_store *s,
						 const struct assay_wasm_functype *type,
						 assay_wasm_host_fn fn, void *env)
{
	struct assay_wasm_func *f;
	uint32_t n, i;

	if (!fn || type->n_params > WASM_MAX_FUNC_VALUES ||
	    type->n_results > WASM_MAX_FUNC_VALUES ||
	    (type->n_params && !type->params) || (type->n_results && !type->results))
		return NULL;
	n = type->n_params + type->n_results;
	for (i = 0; i < type->n_params; i++)
		if (!wasm_valid_type(type->params[i]))
			return NULL;
	for (i = 0; i < type->n_results; i++)
		if (!wasm_valid_type(type->results[i]))
			return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->own_type.types = malloc(n + 1);
	f->own_type.api = malloc((n + 1) * sizeof(*f->own_type.api));
	if (!f->own_type.types || !f->own_type.api) {
		free(f->own_type.types);
		free(f->own_type.api);
		free(f);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		enum assay_wasm_type t = i < type->n_params ? type->params[i] :
					 type->results[i - type->n_params];

		f->own_type.types[i] = (uint8_t)t;
		f->own_type.api[i] = t;
	}
	f->own_type.n_params = type->n_params;
	f->own_type.n_results = type->n_results;
	f->type = &f->own_type;
	f->host = fn;
	f->env = env;
	f->store = s;
	f->next = s->funcs;
	s->funcs = f;
	return f;
}

void assay_wasm_func_type(const struct assay_wasm_func *f, struct assay_wasm_functype *out)
{
	out->n_params = f->type->n_params;
	out->n_results = f->type->n_results;
	out->params = f->type->api;
	out->results = f->type->api + f->type->n_params;
}

int wasm_call_host(struct assay_wasm_store *s, struct assay_wasm_func *f,
		   struct assay_wasm_instance *caller, union wasm_val *slots)
{
	const struct wasm_functype *t = f->type;
	struct assay_wasm_value small[16], *args = small, *res;
	struct assay_wasm_call call;
	uint32_t i, n = t->n_params + t->n_results;
	int r;

	if (n > 16) {
		args = calloc(n, sizeof(*args));
		if (!args) {
			wasm_trap_set(s, "out of memory calling a host function");
			return -1;
		}
	}
	res = args + t->n_params;
	for (i = 0; i < t->n_params; i++)
		wasm_from_slot(t->types[i], &slots[i], &args[i]);
	for (i = 0; i < t->n_results; i++) {
		memset(&res[i], 0, sizeof(res[i]));
		res[i].type = t->api[t->n_params + i];
	}
	call.store = s;
	call.instance = caller;
	call.trap = s->trap;
	r = f->host(&call, f->env, args, res);
	if (r < 0) {
		if (s->trap && !s->trap->message[0] && !s->trap->exited)
			wasm_trap_set(s, "host function failed");
	} else {
		for (i = 0; i < t->n_results; i++) {
			if (res[i].type != t->api[t->n_params + i]) {
				wasm_trap_set(s, "host function returned %s for a %s result",
					      wasm_type_name((uint8_t)res[i].type),
					      wasm_type_name(t->types[t->n_params + i]));
				r = -1;
				break;
			}
			wasm_to_slot(&res[i], &slots[i]);
		}
	}
	if (args != small)
		free(args);
	return r < 0 ? -1 : 0;
}

int assay_wasm_call(struct assay_wasm_store *s, struct assay_wasm_func *f,
		    const struct assay_wasm_value *args, uint32_t n_args,
		    struct assay_wasm_value *results, uint32_t n_results,
		    struct assay_wasm_trap *trap)
{
	struct assay_wasm_trap local, *saved_trap = s->trap;
	const struct wasm_functype *t;
	union wasm_val *base = s->sp, *saved_sp = s->sp;
	uint32_t i;
	int r;

	if (!trap)
		trap = &local;
	memset(trap, 0, sizeof(*trap));
	s->trap = trap;
	r = -1;
	if (!f || f->store != s) {
		wasm_trap_set(s, "function of another store");
		goto out;
	}
	t = f->type;
	if (n_args != t->n_params || n_results != t->n_results) {
		wasm_trap_set(s, "function takes %u arguments and returns %u results; "
			      "called with %u and %u", t->n_params, t->n_results, n_args,
			      n_results);
		goto out;
	}
	for (i = 0; i < n_args; i++)
		if ((uint8_t)args[i].type != t->types[i] ||
		    (args[i].type == ASSAY_WASM_FUNCREF && args[i].of.funcref &&
		     args[i].of.funcref->store != s)) {
			wasm_trap_set(s, "argument %u: expected %s", i,
				      wasm_type_name(t->types[i]));
			goto out;
		}
	char here;
	if (!s->nested)
		s->c_stack_top = &here;
	if (s->nested >= WASM_MAX_NESTED_CALLS ||
	    (uintptr_t)s->c_stack_top - (uintptr_t)&here > WASM_C_STACK_BUDGET ||
	    (size_t)(s->stack + s->stack_slots - base) < (size_t)n_args + n_results + 1) {
		wasm_trap_set(s, "call stack exhausted");
		goto out;
	}
	for (i = 0; i < n_args; i++)
		wasm_to_slot(&args[i], &base[i]);
	s->nested++;
	r = wasm_interp_call(s, f, base);
	s->nested--;
	if (r == 0)
		for (i = 0; i < n_results; i++)
			wasm_from_slot(t->types[t->n_params + i], &base[i], &results[i]);
out:
	s->sp = saved_sp;
	s->trap = saved_trap;
	return r;
}

/* ---- instances ---- */

static int wasm_import_fail(char *err, size_t errlen, const struct wasm_import *im,
			    const char *why)
{
	error_set(err, errlen, "incompatible import type for %s.%s: %s", im->module,
		  im->name, why);
	return -1;
}

static int wasm_limits_match(uint32_t size, uint32_t max, const struct wasm_limits *want)
{
	if (size < want->min)
		return 0;
	if (want->has_max && (max == UINT32_MAX || max > want->max))
		return 0;
	return 1;
}

static int wasm_check_import(struct assay_wasm_store *s, const struct assay_wasm_module *m,
			     const struct wasm_import *im, const struct assay_wasm_extern *x,
			     char *err, size_t errlen)
{
	if ((uint8_t)x->kind != im->kind)
		return wasm_import_fail(err, errlen, im, "wrong kind");
	switch (im->kind) {
	case ASSAY_WASM_EXTERN_FUNC:
		if (!x->of.func || x->of.func->store != s)
			return wasm_import_fail(err, errlen, im, "no function of this store");
		if (!wasm_functype_equal(x->of.func->type, &m->types[im->type_idx]))
			return wasm_import_fail(err, errlen, im, "function type differs");
		break;
	case ASSAY_WASM_EXTERN_TABLE:
		if (!x->of.table || x->of.table->store != s)
			return wasm_import_fail(err, errlen, im, "no table of this store");
		if (x->of.table->elem != im->table.elem)
			return wasm_import_fail(err, errlen, im, "element type differs");
		if (!wasm_limits_match(x->of.table->size, x->of.table->decl_max, &im->table.lim))
			return wasm_import_fail(err, errlen, im, "table limits do not match");
		break;
	case ASSAY_WASM_EXTERN_MEMORY:
		if (!x->of.memory || x->of.memory->store != s)
			return wasm_import_fail(err, errlen, im, "no memory of this store");
		if (!wasm_limits_match(x->of.memory->pages, x->of.memory->decl_max, &im->mem))
			return wasm_import_fail(err, errlen, im, "memory limits do not match");
		break;
	case ASSAY_WASM_EXTERN_GLOBAL:
		if (!x->of.global || x->of.global->store != s)
			return wasm_import_fail(err, errlen, im, "no global of this store");
		if (x->of.global->type != im->global.type || x->of.global->mut != im->global.mut)
			return wasm_import_fail(err, errlen, im, "global type differs");
		break;
	}
	return 0;
}

static union wasm_val wasm_eval_cexpr(const struct assay_wasm_instance *in,
				      const struct wasm_cexpr *ce)
{
	union wasm_val v;

	v.u64 = 0;
	switch (ce->kind) {
	case WASM_CE_CONST: v.u64 = ce->val; break;
	case WASM_CE_REF_NULL: v.ref = NULL; break;
	case WASM_CE_REF_FUNC: v.ref = in->funcs[ce->index]; break;
	case WASM_CE_GLOBAL_GET: v = in->globals[ce->index]->val; break;
	}
	return v;
}

int wasm_table_init(struct assay_wasm_store *s, struct assay_wasm_instance *inst,
		    uint32_t table, uint32_t seg, uint32_t d, uint32_t src, uint32_t n)
{
	struct wasm_elem_inst *e = &inst->elems[seg];
	struct assay_wasm_table *t = inst->tables[table];

	if ((uint64_t)src + n > e->n || (uint64_t)d + n > t->size) {
		wasm_trap_set(s, "out of bounds table access");
		return -1;
	}
	if (n)
		memcpy(t->elems + d, e->refs + src, (size_t)n * sizeof(void *));
	return 0;
}

int wasm_memory_init(struct assay_wasm_store *s, struct assay_wasm_instance *inst,
		     uint32_t seg, uint32_t d, uint32_t src, uint32_t n)
{
	struct assay_wasm_memory *mem = inst->mem0;

	if ((uint64_t)src + n > inst->data_len[seg] || (uint64_t)d + n > mem->size) {
		wasm_trap_set(s, "out of bounds memory access");
		return -1;
	}
	if (n)
		memcpy(mem->data + d, inst->module->datas[seg].bytes + src, n);
	return 0;
}

/* Allocates the instance's arrays and binds the imports. */
static struct assay_wasm_instance *wasm_instance_alloc(struct assay_wasm_store *s,
						       struct assay_wasm_module *m,
						       const struct assay_wasm_extern *imports)
{
	struct assay_wasm_instance *in = calloc(1, sizeof(*in));
	uint32_t i, f = 0, t = 0, mm = 0, g = 0, n_own = m->n_funcs - m->n_func_imports;

	if (!in)
		return NULL;
	in->module = m;
	__atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
	in->store = s;
	in->funcs = calloc(m->n_funcs ? m->n_funcs : 1, sizeof(*in->funcs));
	in->own_funcs = calloc(n_own ? n_own : 1, sizeof(*in->own_funcs));
	in->tables = calloc(m->n_tables ? m->n_tables : 1, sizeof(*in->tables));
	in->mems = calloc(m->n_mems ? m->n_mems : 1, sizeof(*in->mems));
	in->globals = calloc(m->n_globals ? m->n_globals : 1, sizeof(*in->globals));
	in->elems = calloc(m->n_elems ? m->n_elems : 1, sizeof(*in->elems));
	in->data_len = calloc(m->n_datas ? m->n_datas : 1, sizeof(*in->data_len));
	if (!in->funcs || !in->own_funcs || !in->tables || !in->mems || !in->globals ||
	    !in->elems || !in->data_len) {
		wasm_instance_release(in);
		return NULL;
	}
	for (i = 0; i < m->n_imports; i++) {
		switch (m->imports[i].kind) {
		case ASSAY_WASM_EXTERN_FUNC: in->funcs[f++] = imports[i].of.func; break;
		case ASSAY_WASM_EXTERN_TABLE: in->tables[t++] = imports[i].of.table; break;
		case ASSAY_WASM_EXTERN_MEMORY: in->mems[mm++] = imports[i].of.memory; break;
		case ASSAY_WASM_EXTERN_GLOBAL: in->globals[g++] = imports[i].of.global; break;
		}
	}
	for (i = 0; i < n_own; i++) {
		struct assay_wasm_func *fn = &in->own_funcs[i];

		fn->type = &m->types[m->canon[m->funcs[i].type_idx]];
		fn->inst = in;
		fn->code = m->funcs[i].code;
		fn->store = s;
		in->funcs[m->n_func_imports + i] = fn;
	}
	return in;
}

/* Tables, memories, globals, element segments of the instance itself. */
static int wasm_instance_fill(struct assay_wasm_store *s, struct assay_wasm_instance *in,
			      char *err, size_t errlen)
{
	struct assay_wasm_module *m = in->module;
	uint32_t i, k;

	for (i = m->n_table_imports; i < m->n_tables; i++) {
		const struct wasm_tabletype *tt = &m->tables[i];

		in->tables[i] = wasm_table_create(s, tt->elem, tt->lim.min,
						  tt->lim.has_max ? tt->lim.max : UINT32_MAX,
						  err, errlen);
		if (!in->tables[i])
			return -1;
	}
	for (i = m->n_mem_imports; i < m->n_mems; i++) {
		in->mems[i] = wasm_memory_create(s, m->mems[i].min,
						 m->mems[i].has_max ? m->mems[i].max :
						 UINT32_MAX, err, errlen);
		if (!in->mems[i])
			return -1;
	}
	in->mem0 = m->n_mems ? in->mems[0] : &wasm_no_memory;
	for (i = m->n_global_imports; i < m->n_globals; i++) {
		const struct wasm_global *gd = &m->globals[i - m->n_global_imports];

		in->globals[i] = wasm_global_create(s, gd->type.type, gd->type.mut,
						    wasm_eval_cexpr(in, &gd->init));
		if (!in->globals[i]) {
			error_set(err, errlen, "out of memory");
			return -1;
		}
	}
	for (i = 0; i < m->n_elems; i++) {
		const struct wasm_elem *e = &m->elems[i];

		if (e->mode == WASM_SEG_DECLARATIVE || !e->n)
			continue;
		in->elems[i].refs = calloc(e->n, sizeof(void *));
		if (!in->elems[i].refs) {
			error_set(err, errlen, "out of memory");
			return -1;
		}
		for (k = 0; k < e->n; k++)
			in->elems[i].refs[k] = wasm_eval_cexpr(in, &e->items[k]).ref;
		in->elems[i].n = e->n;
	}
	for (i = 0; i < m->n_datas; i++)
		in->data_len[i] = m->datas[i].len;
	return 0;
}

/* Active segments, then the start function: traps are the caller's. */
static int wasm_instance_run(struct assay_wasm_store *s, struct assay_wasm_instance *in)
{
	struct assay_wasm_module *m = in->module;
	uint32_t i;

	for (i = 0; i < m->n_elems; i++) {
		const struct wasm_elem *e = &m->elems[i];

		if (e->mode == WASM_SEG_ACTIVE) {
			uint32_t off = wasm_eval_cexpr(in, &e->offset).u32;

			if (wasm_table_init(s, in, e->table, i, off, 0, e->n) < 0)
				return -1;
		}
		if (e->mode != WASM_SEG_PASSIVE) {
			free(in->elems[i].refs);
			in->elems[i].refs = NULL;
			in->elems[i].n = 0;
		}
	}
	for (i = 0; i < m->n_datas; i++) {
		const struct wasm_data *d = &m->datas[i];

		if (d->mode != WASM_SEG_ACTIVE)
			continue;
		if (wasm_memory_init(s, in, i, wasm_eval_cexpr(in, &d->offset).u32, 0,
				     d->len) < 0)
			return -1;
		in->data_len[i] = 0;
	}
	return 0;
}

struct assay_wasm_instance *assay_wasm_instantiate(struct assay_wasm_store *s,
						   const struct assay_wasm_module *cm,
						   const struct assay_wasm_extern *imports,
						   uint32_t n_imports,
						   struct assay_wasm_trap *trap,
						   char *err, size_t errlen)
{
	struct assay_wasm_module *m = (struct assay_wasm_module *)cm;
	struct assay_wasm_trap local, *saved_trap = s->trap;
	struct assay_wasm_instance *in;
	uint32_t i;
	int r;

	if (!trap)
		trap = &local;
	memset(trap, 0, sizeof(*trap));
	if (n_imports != m->n_imports || (n_imports && !imports)) {
		error_set(err, errlen, "the module has %u imports; %u given", m->n_imports,
			  n_imports);
		return NULL;
	}
	for (i = 0; i < n_imports; i++)
		if (wasm_check_import(s, m, &m->imports[i], &imports[i], err, errlen) < 0)
			return NULL;
	in = wasm_instance_alloc(s, m, imports);
	if (!in) {
		error_set(err, errlen, "out of memory");
		return NULL;
	}
	if (wasm_instance_fill(s, in, err, errlen) < 0) {
		wasm_instance_release(in);
		return NULL;
	}
	in->next = s->instances;
	s->instances = in;
	s->trap = trap;
	r = wasm_instance_run(s, in);
	s->trap = saved_trap;
	if (r < 0)
		return NULL;
	if (m->has_start) {
		r = assay_wasm_call(s, in->funcs[m->start], NULL, 0, NULL, 0, trap);
		if (r < 0)
			return NULL;
	}
	return in;
}

int assay_wasm_instance_export(const struct assay_wasm_instance *in, const char *name,
			       struct assay_wasm_extern *out)
{
	return assay_wasm_instance_export_len(in, name, strlen(name), out);
}

int assay_wasm_instance_export_len(const struct assay_wasm_instance *in, const char *name,
				   size_t len, struct assay_wasm_extern *out)
{
	const struct assay_wasm_module *m = in->module;
	uint32_t i;

	for (i = 0; i < m->n_exports; i++) {
		const struct wasm_export *e = &m->exports[i];

		if (e->name_len != len || memcmp(e->name, name, len))
			continue;
		memset(out, 0, sizeof(*out));
		out->kind = (enum assay_wasm_extern_kind)e->kind;
		switch (e->kind) {
		case ASSAY_WASM_EXTERN_FUNC: out->of.func = in->funcs[e->index]; break;
		case ASSAY_WASM_EXTERN_TABLE: out->of.table = in->tables[e->index]; break;
		case ASSAY_WASM_EXTERN_MEMORY: out->of.memory = in->mems[e->index]; break;
		case ASSAY_WASM_EXTERN_GLOBAL: out->of.global = in->globals[e->index]; break;
		}
		return 0;
	}
	return -1;
}

struct assay_wasm_memory *assay_wasm_instance_memory(const struct assay_wasm_instance *in)
{
	return in->module->n_mems ? in->mems[0] : NULL;
}
