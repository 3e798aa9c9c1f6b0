/* Kernel: dense matrix multiply in double precision, C = A x B for
 * 160 x 160 matrices, REPS times, A changing a little after each round.
 *
 * Exercises f64 loads, multiplies, adds and stores in nested loops with
 * computed addresses: the numeric inner loop of any simulation or
 * image code. The i-k-j order walks B and C row by row. The checksum
 * folds the exact bits of every result, so a single rounding
 * difference between native and wasm shows (neither may contract
 * a * b + c into a fused multiply-add: gcc does not for plain x86-64,
 * and wasm has no such instruction).
 *
 *	matmul [REPS]		(default 100) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 160

static uint32_t rng_state = 12345;

/* A linear congruential generator; its top 16 bits give a value in
 * [-1, 1). */
static double rng_unit(void)
{
	rng_state = rng_state * 1664525u + 1013904223u;
	return (double)(int32_t)(rng_state >> 16) / 32768.0 - 1.0;
}

static void matmul(const double *a, const double *b, double *c)
{
	int i, j, k;

	memset(c, 0, sizeof(double) * N * N);
	for (i = 0; i < N; i++)
		for (k = 0; k < N; k++) {
			double aik = a[i * N + k];
			const double *brow = b + k * N;
			double *crow = c + i * N;

			for (j = 0; j < N; j++)
				crow[j] += aik * brow[j];
		}
}

int main(int argc, char **argv)
{
	unsigned long reps = argc > 1 ? strtoul(argv[1], NULL, 10) : 100, r;
	double *a = malloc(sizeof(double) * N * N), *b = malloc(sizeof(double) * N * N);
	double *c = malloc(sizeof(double) * N * N), trace = 0;
	uint64_t sum = 0, bits;
	int i;

	if (!a || !b || !c) {
		fprintf(stderr, "matmul: out of memory\n");
		return 1;
	}
	for (i = 0; i < N * N; i++)
		a[i] = rng_unit();
	for (i = 0; i < N * N; i++)
		b[i] = rng_unit();
	for (r = 0; r < reps; r++) {
		matmul(a, b, c);
		for (i = 0; i < N * N; i++) {
			memcpy(&bits, &c[i], sizeof(bits));
			sum = (sum ^ bits) * 0x100000001b3u;
		}
		/* A new row of A from the result, scaled to stay in range. */
		for (i = 0; i < N; i++)
			a[(r % N) * N + i] = c[(r % N) * N + i] / N;
	}
	for (i = 0; i < N; i++)
		trace += c[i * N + i];
	printf("matmul n=%d reps=%lu trace=%.9f checksum=%016llx\n", N, reps,
	       trace, (unsigned long long)sum);
	free(a);
	free(b);
	free(c);
	return 0;
}
