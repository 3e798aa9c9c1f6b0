/* map: a string-keyed hash table of pointers.
 *
 * For the few places that look things up by name at scale (the verifier's
 * connections by peer, agents by id). Keys are copied; values are the
 * caller's. Iteration order is unspecified. */
#ifndef ASSAY_UTIL_MAP_H
#define ASSAY_UTIL_MAP_H

#include <stddef.h>

struct map;

struct map *map_new(void);
/* Frees the table and its keys, not the values. */
void map_free(struct map *m);
void *map_get(const struct map *m, const char *key);
/* Inserts or replaces. Returns 0, or -1 when out of memory. */
int map_put(struct map *m, const char *key, void *value);
/* Removes key; returns its value or NULL. */
void *map_del(struct map *m, const char *key);
size_t map_len(const struct map *m);
/* Calls fn for each entry; fn must not change the map. */
void map_each(const struct map *m, void (*fn)(const char *key, void *value,
					      void *arg), void *arg);

#endif
