/* Kernel: a hash table. Open addressing with linear probing and
 * backward-shift deletion (no tombstones), 64-bit keys; each round
 * inserts 20,000 keys, looks up hits and misses, deletes half and looks
 * everything up again.
 *
 * Exercises 64-bit multiplies and shifts (the hash), probe loops with
 * unpredictable exits, stores into a table of structures: the
 * dictionary and cache lookups most programs spend time in.
 *
 *	hashtab [ROUNDS]	(default 100) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_BITS 15
#define TABLE_SIZE (1u << TABLE_BITS)
#define KEYS 20000	/* below 2/3 of TABLE_SIZE: probes stay short */

struct slot {
	uint64_t key;		/* 0: empty (keys are never 0) */
	uint32_t value;
};

struct table {
	struct slot *slots;
	uint32_t count;
};

static uint64_t rng_state = 88172645463325252u;

/* xorshift64 */
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint32_t table_home(uint64_t key)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdu;
	key ^= key >> 33;
	return (uint32_t)(key >> (64 - TABLE_BITS));
}

static struct slot *table_find(struct table *t, uint64_t key)
{
	uint32_t i = table_home(key);

	for (;; i = (i + 1) & (TABLE_SIZE - 1)) {
		if (t->slots[i].key == key)
			return &t->slots[i];
		if (t->slots[i].key == 0)
			return NULL;
	}
}

/* Inserts or updates; the table never fills (KEYS < TABLE_SIZE). */
static void table_put(struct table *t, uint64_t key, uint32_t value)
{
	uint32_t i = table_home(key);

	while (t->slots[i].key && t->slots[i].key != key)
		i = (i + 1) & (TABLE_SIZE - 1);
	if (!t->slots[i].key)
		t->count++;
	t->slots[i].key = key;
	t->slots[i].value = value;
}

/* Removes key, moving back the entries after it that would otherwise
 * become unreachable from their home slot. */
static int table_del(struct table *t, uint64_t key)
{
	uint32_t i = table_home(key), j, home;

	while (t->slots[i].key != key) {
		if (!t->slots[i].key)
			return 0;
		i = (i + 1) & (TABLE_SIZE - 1);
	}
	for (j = (i + 1) & (TABLE_SIZE - 1); t->slots[j].key;
	     j = (j + 1) & (TABLE_SIZE - 1)) {
		home = table_home(t->slots[j].key);
		/* Move slot j into the hole at i unless its home lies
		 * cyclically in (i, j]. */
		if (((j - home) & (TABLE_SIZE - 1)) >= ((j - i) & (TABLE_SIZE - 1))) {
			t->slots[i] = t->slots[j];
			i = j;
		}
	}
	t->slots[i].key = 0;
	t->count--;
	return 1;
}

int main(int argc, char **argv)
{
	unsigned long rounds = argc > 1 ? strtoul(argv[1], NULL, 10) : 100, r;
	struct table t = { calloc(TABLE_SIZE, sizeof(struct slot)), 0 };
	uint64_t *keys = malloc(KEYS * sizeof(*keys));
	uint32_t sum = 0, hits = 0, i;
	struct slot *s;

	if (!t.slots || !keys) {
		fprintf(stderr, "hashtab: out of memory\n");
		return 1;
	}
	for (r = 0; r < rounds; r++) {
		for (i = 0; i < KEYS; i++) {
			keys[i] = rng() | 1;
			table_put(&t, keys[i], i);
		}
		/* Hits, then (almost surely) misses. */
		for (i = 0; i < KEYS; i++) {
			s = table_find(&t, keys[i]);
			sum = sum * 33 + (s ? s->value : 0xffffffffu);
			if (table_find(&t, keys[i] + 2))
				hits++;
		}
		for (i = 0; i < KEYS; i += 2)
			if (!table_del(&t, keys[i])) {
				fprintf(stderr, "hashtab: key %u lost\n", (unsigned)i);
				return 1;
			}
		for (i = 0; i < KEYS; i++) {
			s = table_find(&t, keys[i]);
			if (!s != !(i & 1)) {
				fprintf(stderr, "hashtab: key %u %s\n", (unsigned)i,
					s ? "still there" : "lost");
				return 1;
			}
		}
		/* Empty the table for the next round. */
		for (i = 1; i < KEYS; i += 2)
			table_del(&t, keys[i]);
		if (t.count) {
			fprintf(stderr, "hashtab: %u keys left\n", (unsigned)t.count);
			return 1;
		}
		sum ^= (uint32_t)r;
	}
	printf("hashtab rounds=%lu keys=%u checksum=%08x stray=%u\n", rounds,
	       (unsigned)KEYS, (unsigned)sum, (unsigned)hits);
	free(t.slots);
	free(keys);
	return 0;
}
