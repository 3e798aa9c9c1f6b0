#include "util/map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct entry {
	char *key;
	void *value;
	uint64_t hash;
	struct entry *next;
};

struct map {
	struct entry **slots;
	size_t nslots, len;
	uint64_t seed;		/* per table: chosen keys cannot collide on purpose */
};

/* FNV-1a, seeded. Keys come from peers (agent ids), hence the seed. */
static uint64_t hash(const struct map *m, const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull ^ m->seed;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h ^ (h >> 29);
}

struct map *map_new(void)
{
	struct map *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	m->nslots = 64;
	m->slots = calloc(m->nslots, sizeof *m->slots);
	if (!m->slots) {
		free(m);
		return NULL;
	}
	uint64_t seed = (uint64_t)(uintptr_t)m;
	if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
		seed ^= 0x9e3779b97f4a7c15ull;
	m->seed = seed;
	return m;
}

void map_free(struct map *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nslots; i++) {
		struct entry *e = m->slots[i];
		while (e) {
			struct entry *next = e->next;
			free(e->key);
			free(e);
			e = next;
		}
	}
	free(m->slots);
	free(m);
}

static struct entry **find(const struct map *m, const char *key, uint64_t h)
{
	struct entry **p = &m->slots[h & (m->nslots - 1)];
	while (*p && ((*p)->hash != h || strcmp((*p)->key, key) != 0))
		p = &(*p)->next;
	return p;
}

void *map_get(const struct map *m, const char *key)
{
	struct entry **p = find(m, key, hash(m, key));
	return *p ? (*p)->value : NULL;
}

static void grow(struct map *m)
{
	size_t n = m->nslots * 2;
	struct entry **slots = calloc(n, sizeof *slots);
	if (!slots)
		return;	/* stays correct, only slower */
	for (size_t i = 0; i < m->nslots; i++) {
		struct entry *e = m->slots[i];
		while (e) {
			struct entry *next = e->next;
			e->next = slots[e->hash & (n - 1)];
			slots[e->hash & (n - 1)] = e;
			e = next;
		}
	}
	free(m->slots);
	m->slots = slots;
	m->nslots = n;
}

int map_put(struct map *m, const char *key, void *value)
{
	uint64_t h = hash(m, key);
	struct entry **p = find(m, key, h);
	if (*p) {
		(*p)->value = value;
		return 0;
	}
	struct entry *e = calloc(1, sizeof *e);
	if (!e || !(e->key = strdup(key))) {
		free(e);
		return -1;
	}
	e->value = value;
	e->hash = h;
	*p = e;
	if (++m->len > m->nslots)
		grow(m);
	return 0;
}

void *map_del(struct map *m, const char *key)
{
	struct entry **p = find(m, key, hash(m, key));
	struct entry *e = *p;
	if (!e)
		return NULL;
	void *v = e->value;
	*p = e->next;
	free(e->key);
	free(e);
	m->len--;
	return v;
}

size_t map_len(const struct map *m)
{
	return m->len;
}

void map_each(const struct map *m, void (*fn)(const char *key, void *value,
					      void *arg), void *arg)
{
	for (size_t i = 0; i < m->nslots; i++)
		for (struct entry *e = m->slots[i]; e; e = e->next)
			fn(e->key, e->value, arg);
}
