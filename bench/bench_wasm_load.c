/* Time to load a WebAssembly module: assay_wasm_module_load (decode,
 * validate and translate every function to the engine's internal form)
 * of one .wasm file, REPS times after a warm-up, freeing the module
 * outside the timed part. Prints the size, the minimum and median in
 * milliseconds, and "name value" lines for bench/run: NAME_ms (median),
 * NAME_min_ms, NAME_kib.
 *
 *	bench_wasm_load MODULE.wasm [REPS [NAME]]	(defaults 15, wasm_load) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "assay/wasm.h"
#include "util/buf.h"
#include "util/file.h"

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	const char *path, *name;
	struct assay_wasm_module *m;
	struct buf wasm = BUF_INIT;
	double *ms, t0, median;
	char err[256];
	long reps, i;

	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: %s MODULE.wasm [REPS [NAME]]\n", argv[0]);
		return 2;
	}
	path = argv[1];
	reps = argc > 2 ? strtol(argv[2], NULL, 10) : 15;
	name = argc > 3 ? argv[3] : "wasm_load";
	if (reps < 1 || reps > 100000) {
		fprintf(stderr, "%s: REPS must be 1 to 100000\n", argv[0]);
		return 2;
	}
	if (file_read(path, 256u << 20, &wasm)) {
		perror(path);
		return 1;
	}
	ms = calloc((size_t)reps, sizeof(*ms));
	if (!ms) {
		fprintf(stderr, "%s: out of memory\n", argv[0]);
		return 1;
	}
	/* The warm-up run also checks that the module loads at all. */
	m = assay_wasm_module_load(wasm.data, wasm.len, err, sizeof(err));
	if (!m) {
		fprintf(stderr, "%s: %s\n", path, err);
		return 1;
	}
	assay_wasm_module_free(m);
	for (i = 0; i < reps; i++) {
		t0 = now_ms();
		m = assay_wasm_module_load(wasm.data, wasm.len, err, sizeof(err));
		ms[i] = now_ms() - t0;
		if (!m) {
			fprintf(stderr, "%s: %s\n", path, err);
			return 1;
		}
		assay_wasm_module_free(m);
	}
	qsort(ms, (size_t)reps, sizeof(*ms), cmp_double);
	median = reps % 2 ? ms[reps / 2] : (ms[reps / 2 - 1] + ms[reps / 2]) / 2;
	printf("load of %s (%zu bytes, %.2f MiB): decode + validate + translate, "
	       "%ld runs: min %.2f ms, median %.2f ms\n", path, wasm.len,
	       (double)wasm.len / (1 << 20), reps, ms[0], median);
	printf("%s_ms %.2f\n%s_min_ms %.2f\n%s_kib %zu\n", name, median, name,
	       ms[0], name, wasm.len / 1024);
	free(ms);
	buf_free(&wasm);
	return 0;
}
