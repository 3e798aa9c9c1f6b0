/* Kernel: compression. An LZ77 compressor (hash chains over a 64 KiB
 * window, greedy matching) and its decompressor, round trip over
 * ROUNDS buffers of 256 KiB of generated text, each checked against
 * its original.
 *
 * Exercises byte loads and stores, short compare loops with early
 * exits, hashing, table lookups and data-dependent branches: the inner
 * loops of compression, parsing and copying code.
 *
 * Format: a control byte c; c < 0x80: a run of c + 1 literal bytes
 * follows; c >= 0x80: a match of (c & 0x7f) + 3 bytes at the distance
 * given by the next two bytes (little-endian, 1 to 65535).
 *
 *	lz [ROUNDS]		(default 12) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INPUT_SIZE (256 * 1024)
#define WINDOW 65535
#define MIN_MATCH 3
#define MAX_MATCH (0x7f + MIN_MATCH)
#define HASH_BITS 14
#define MAX_CHAIN 32

static uint32_t rng_state = 7;

/* xorshift32 */
static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

static uint32_t lz_hash(const uint8_t *p)
{
	uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;

	return (v * 2654435761u) >> (32 - HASH_BITS);
}

/* Flushes the pending literals in [lit, end) as runs of at most 128. */
static uint8_t *lz_literals(uint8_t *out, const uint8_t *lit, const uint8_t *end)
{
	while (lit < end) {
		size_t n = (size_t)(end - lit) > 128 ? 128 : (size_t)(end - lit);

		*out++ = (uint8_t)(n - 1);
		memcpy(out, lit, n);
		out += n, lit += n;
	}
	return out;
}

/* Compresses in[0, n) into out (room for 2 * n bytes: a lone literal
 * takes two bytes, a match at most one per byte); returns the
 * compressed size. head and prev are work
 * tables: 1 << HASH_BITS and n entries. Positions are stored + 1 so
 * that 0 means none. */
static size_t lz_compress(const uint8_t *in, size_t n, uint8_t *out,
			  uint32_t *head, uint32_t *prev)
{
	const uint8_t *lit = in;
	uint8_t *o = out;
	size_t i = 0;

	memset(head, 0, sizeof(uint32_t) << HASH_BITS);
	while (i + MIN_MATCH <= n) {
		uint32_t h = lz_hash(in + i), cand = head[h];
		size_t best = 0, dist = 0, limit = n - i < MAX_MATCH ? n - i : MAX_MATCH;
		int chain = MAX_CHAIN;

		prev[i] = cand;
		head[h] = (uint32_t)i + 1;
		while (cand && i - (cand - 1) <= WINDOW && chain--) {
			const uint8_t *p = in + cand - 1;
			size_t len = 0;

			while (len < limit && p[len] == in[i + len])
				len++;
			if (len > best) {
				best = len, dist = i - (cand - 1);
				if (len == limit)
					break;
			}
			cand = prev[cand - 1];
		}
		if (best < MIN_MATCH) {
			i++;
			continue;
		}
		o = lz_literals(o, lit, in + i);
		*o++ = (uint8_t)(0x80 | (best - MIN_MATCH));
		*o++ = (uint8_t)dist;
		*o++ = (uint8_t)(dist >> 8);
		/* Positions inside the match enter the chains too. */
		for (i++, best--; best; i++, best--)
			if (i + MIN_MATCH <= n) {
				h = lz_hash(in + i);
				prev[i] = head[h];
				head[h] = (uint32_t)i + 1;
			}
		lit = in + i;
	}
	o = lz_literals(o, lit, in + n);
	return (size_t)(o - out);
}

/* Decompresses in[0, n) into out (room for cap bytes): the size, or -1
 * when the stream is malformed. */
static long lz_decompress(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	size_t i = 0, o = 0, len, dist;

	while (i < n) {
		uint8_t c = in[i++];

		if (c < 0x80) {
			len = (size_t)c + 1;
			if (len > n - i || len > cap - o)
				return -1;
			memcpy(out + o, in + i, len);
			i += len, o += len;
			continue;
		}
		if (n - i < 2)
			return -1;
		len = (size_t)(c & 0x7f) + MIN_MATCH;
		dist = (size_t)in[i] | (size_t)in[i + 1] << 8;
		i += 2;
		if (dist == 0 || dist > o || len > cap - o)
			return -1;
		/* Byte by byte: a match may overlap what it produces. */
		for (; len; len--, o++)
			out[o] = out[o - dist];
	}
	return (long)o;
}

/* Text from a vocabulary of 512 words with a skewed choice, and now and
 * then a run of random bytes that does not compress. */
static void make_input(uint8_t *buf, size_t n, char words[512][12])
{
	size_t i = 0;

	while (i < n) {
		uint32_t r = rng();

		if (r % 97 == 0) {
			size_t k, run = 8 + r % 64;

			for (k = 0; k < run && i < n; k++)
				buf[i++] = (uint8_t)rng();
		} else {
			const char *w = words[rng() % (1 + rng() % 512)];

			while (*w && i < n)
				buf[i++] = (uint8_t)*w++;
			if (i < n)
				buf[i++] = r % 13 == 0 ? '.' : r % 7 == 0 ? '\n' : ' ';
		}
	}
}

int main(int argc, char **argv)
{
	unsigned long rounds = argc > 1 ? strtoul(argv[1], NULL, 10) : 12, r;
	size_t cap = 2 * INPUT_SIZE, csize, total = 0, i;
	uint8_t *in = malloc(INPUT_SIZE), *packed = malloc(cap), *back = malloc(INPUT_SIZE);
	uint32_t *head = malloc(sizeof(uint32_t) << HASH_BITS);
	uint32_t *prev = malloc(sizeof(uint32_t) * INPUT_SIZE), sum = 2166136261u;
	static char words[512][12];
	size_t w, k;

	if (!in || !packed || !back || !head || !prev) {
		fprintf(stderr, "lz: out of memory\n");
		return 1;
	}
	for (w = 0; w < 512; w++) {
		size_t len = 2 + rng() % 9;

		for (k = 0; k < len; k++)
			words[w][k] = (char)('a' + rng() % 26);
		words[w][len] = 0;
	}
	for (r = 0; r < rounds; r++) {
		make_input(in, INPUT_SIZE, words);
		csize = lz_compress(in, INPUT_SIZE, packed, head, prev);
		if (lz_decompress(packed, csize, back, INPUT_SIZE) != INPUT_SIZE ||
		    memcmp(in, back, INPUT_SIZE)) {
			fprintf(stderr, "lz: round %lu: the round trip differs\n", r);
			return 1;
		}
		total += csize;
		for (i = 0; i < csize; i++)
			sum = (sum ^ packed[i]) * 16777619u;
	}
	printf("lz rounds=%lu in=%lu out=%lu checksum=%08x\n", rounds,
	       (unsigned long)(rounds * INPUT_SIZE), (unsigned long)total,
	       (unsigned)sum);
	free(in);
	free(packed);
	free(back);
	free(head);
	free(prev);
	return 0;
}
