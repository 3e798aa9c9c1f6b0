/* Kernel: sorting. A top-down merge sort of N 32-bit integers and a
 * quicksort (median of three, insertion sort below 16) of N/4 short
 * strings, both written here; then a check that each result is ordered.
 *
 * Exercises data-dependent branches, loads and stores through pointers,
 * recursion (calls and returns) and byte-wise string comparison, the
 * unpredictable control flow that stresses an interpreter's dispatch.
 * The string comparison is our own so that native libc's vectorised
 * strcmp does not stand in for compiled code.
 *
 *	sort [N]		(default 1000000) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The arrays' sizes must not overflow a 32-bit size_t (wasm32). */
#define MAX_N (1u << 24)

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

/* splitmix64 */
static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static void merge_sort(uint32_t *a, uint32_t *tmp, size_t n)
{
	size_t half = n / 2, i = 0, j = half, k = 0;

	if (n < 2)
		return;
	merge_sort(a, tmp, half);
	merge_sort(a + half, tmp, n - half);
	while (i < half && j < n)
		tmp[k++] = a[j] < a[i] ? a[j++] : a[i++];
	while (i < half)
		tmp[k++] = a[i++];
	/* What is left of the right half is already in place. */
	memcpy(a, tmp, k * sizeof(*a));
}

static int str_cmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}

static void str_swap(char **a, char **b)
{
	char *t = *a;

	*a = *b;
	*b = t;
}

static void quick_sort(char **v, size_t n)
{
	size_t i, j, mid;
	char *pivot;

	while (n > 16) {
		mid = n / 2;
		/* Median of three in v[0] <= v[mid] <= v[n - 1]. */
		if (str_cmp(v[mid], v[0]) < 0)
			str_swap(&v[mid], &v[0]);
		if (str_cmp(v[n - 1], v[mid]) < 0) {
			str_swap(&v[n - 1], &v[mid]);
			if (str_cmp(v[mid], v[0]) < 0)
				str_swap(&v[mid], &v[0]);
		}
		pivot = v[mid];
		i = 0, j = n - 1;
		for (;;) {
			while (str_cmp(v[++i], pivot) < 0)
				;
			while (str_cmp(pivot, v[--j]) < 0)
				;
			if (i >= j)
				break;
			str_swap(&v[i], &v[j]);
		}
		/* Recurse into the smaller part, loop on the larger: the
		 * depth stays logarithmic. */
		if (j + 1 < n - j - 1) {
			quick_sort(v, j + 1);
			v += j + 1, n -= j + 1;
		} else {
			quick_sort(v + j + 1, n - j - 1);
			n = j + 1;
		}
	}
	for (i = 1; i < n; i++) {
		pivot = v[i];
		for (j = i; j > 0 && str_cmp(pivot, v[j - 1]) < 0; j--)
			v[j] = v[j - 1];
		v[j] = pivot;
	}
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
	size_t ns = n / 4, i, k;
	uint32_t *a, *tmp, sum = 0;
	char **v, *pool;
	int ok = 1;

	if (n > MAX_N) {
		fprintf(stderr, "sort: N is at most %u\n", (unsigned)MAX_N);
		return 2;
	}
	a = malloc(n * sizeof(*a) + 1);
	tmp = malloc(n * sizeof(*a) + 1);
	v = malloc(ns * sizeof(*v) + 1);
	pool = malloc(ns * 16 + 1);
	if (!a || !tmp || !v || !pool) {
		fprintf(stderr, "sort: out of memory\n");
		return 1;
	}
	for (i = 0; i < n; i++)
		a[i] = (uint32_t)rng();
	/* Strings of 4 to 15 letters from a small alphabet: long common
	 * prefixes and many duplicates. */
	for (i = 0; i < ns; i++) {
		size_t len = 4 + rng() % 12;

		v[i] = pool + 16 * i;
		for (k = 0; k < len; k++)
			v[i][k] = (char)('a' + rng() % 6);
		v[i][len] = 0;
	}

	merge_sort(a, tmp, n);
	quick_sort(v, ns);

	for (i = 0; i < n; i++) {
		if (i && a[i - 1] > a[i])
			ok = 0;
		sum = sum * 31 + a[i];
	}
	for (i = 0; i < ns; i++) {
		if (i && str_cmp(v[i - 1], v[i]) > 0)
			ok = 0;
		for (k = 0; v[i][k]; k++)
			sum = sum * 131 + (unsigned char)v[i][k];
	}
	printf("sort n=%zu strings=%zu %s checksum=%08x\n", n, ns,
	       ok ? "ordered" : "NOT-ORDERED", (unsigned)sum);
	free(a);
	free(tmp);
	free(v);
	free(pool);
	return ok ? 0 : 1;
}
