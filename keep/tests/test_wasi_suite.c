/* The WASI preview1 test suite (WebAssembly/wasi-testsuite, in the
 * fixtures): every X.wasm of tests/{c,assemblyscript}/testsuite/
 * wasm32-wasip1 run by assay-keep as its X.json says: "args", "env",
 * "root" (a directory beside the test preopened as "/") or "dirs"
 * (directories preopened under their own names), the expected
 * "exit_code" (default 0) and "stdout" (when given). Directories are
 * copied to a temporary directory first, so tests that write do not
 * touch the fixtures.
 *
 * Tests that are known not to pass are listed, with the reason, in the
 * file given as second argument ("suite/name: reason" lines); anything
 * else failing fails this test, and so does a listed test that passes
 * (the list must stay true). The goal is an empty list.
 *
 * Usage: test_wasi_suite ASSAY-KEEP KNOWN-FAILURES-FILE */
#define _GNU_SOURCE		/* asprintf */

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keep/tests/runner.h"
#include "util/check.h"
#include "util/file.h"

#define MAX_ARGV 256

static const char *keep;
static struct buf known = BUF_INIT;
static int passed, failed, expected_failures;

/* The reason a test is listed as failing, or NULL. */
static const char *known_failure(const char *id, char *reason, size_t n)
{
	const char *p = known.len ? (const char *)known.data : "";
	size_t idlen = strlen(id);

	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);

		if (len > idlen + 1 && !strncmp(p, id, idlen) && p[idlen] == ':') {
			snprintf(reason, n, "%.*s", (int)(len - idlen - 1),
				 p + idlen + 1);
			return reason;
		}
		p += len + (eol ? 1 : 0);
	}
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .wasm names of dir, sorted. */
static char **list_wasm(const char *dir, size_t *n)
{
	char **names = NULL, **l;
	struct dirent *e;
	DIR *d = opendir(dir);

	*n = 0;
	if (!d)
		return NULL;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (len < 6 || strcmp(e->d_name + len - 5, ".wasm"))
			continue;
		l = realloc(names, (*n + 1) * sizeof(*l));
		if (!l)
			break;
		names = l;
		names[(*n)++] = strndup(e->d_name, len - 5);
	}
	closedir(d);
	if (*n)
		qsort(names, *n, sizeof(*names), cmp_str);
	return names;
}

/* Holds the strings built for one command line. */
struct strs {
	char *s[MAX_ARGV];
	size_t n;
};

static const char *keepstr(struct strs *st, char *s)
{
	if (st->n < MAX_ARGV)
		st->s[st->n++] = s;
	return s;
}

static void strs_free(struct strs *st)
{
	while (st->n)
		free(st->s[--st->n]);
}

/* Builds the assay-keep command line for a test; its directories are
 * copied into tmp. Returns the argument count or -1. */
static int command(const char *dir, const char *name, json_t *spec,
		   const char *tmp, const char **argv, struct strs *st)
{
	json_t *v, *dirs = json_object_get(spec, "dirs");
	const char *root = json_string_value(json_object_get(spec, "root"));
	char src[8400], dst[8400], *s;
	const char *k;
	size_t i;
	int n = 0;

	argv[n++] = keep;
	argv[n++] = "run";
	if (root) {
		snprintf(src, sizeof(src), "%s/%s", dir, root);
		snprintf(dst, sizeof(dst), "%s/%s", tmp, root);
		if (run_copy_tree(src, dst))
			return -1;
		if (asprintf(&s, "%s::/", dst) < 0)
			return -1;
		argv[n++] = "--dir";
		argv[n++] = keepstr(st, s);
	}
	json_array_foreach(dirs, i, v) {
		const char *d = json_string_value(v);

		if (!d || n > MAX_ARGV - 8)
			return -1;
		snprintf(src, sizeof(src), "%s/%s", dir, d);
		snprintf(dst, sizeof(dst), "%s/%s", tmp, d);
		if (run_copy_tree(src, dst) || asprintf(&s, "%s::%s", dst, d) < 0)
			return -1;
		argv[n++] = "--dir";
		argv[n++] = keepstr(st, s);
	}
	json_object_foreach(json_object_get(spec, "env"), k, v) {
		if (!json_is_string(v) || n > MAX_ARGV - 8 ||
		    asprintf(&s, "%s=%s", k, json_string_value(v)) < 0)
			return -1;
		argv[n++] = "--env";
		argv[n++] = keepstr(st, s);
	}
	argv[n++] = "--";
	if (asprintf(&s, "%s/%s.wasm", dir, name) < 0)
		return -1;
	argv[n++] = keepstr(st, s);
	json_array_foreach(json_object_get(spec, "args"), i, v) {
		if (!json_is_string(v) || n > MAX_ARGV - 2)
			return -1;
		argv[n++] = json_string_value(v);
	}
	argv[n] = NULL;
	return n;
}

static void run_test(const char *suite, const char *dir, const char *name)
{
	char path[8400], id[512], tmp[4096], why[1024], reason[512];
	const char *argv[MAX_ARGV + 1];
	json_t *spec = NULL, *want_out;
	struct strs st = { .n = 0 };
	struct run_result r;
	json_error_t jerr;
	long long want_code;
	int ok = 0;

	memset(&r, 0, sizeof(r));
	snprintf(id, sizeof(id), "%s/%s", suite, name);
	snprintf(path, sizeof(path), "%s/%s.json", dir, name);
	why[0] = '\0';
	if (!access(path, F_OK)) {
		spec = json_load_file(path, 0, &jerr);
		if (!spec) {
			snprintf(why, sizeof(why), "%.300s: %.300s", path, jerr.text);
			goto done;
		}
	} else {
		spec = json_object();
	}
	if (run_tmpdir(tmp, sizeof(tmp), "suite")) {
		snprintf(why, sizeof(why), "no temporary directory");
		goto done;
	}
	if (command(dir, name, spec, tmp, argv, &st) < 0) {
		snprintf(why, sizeof(why), "cannot prepare the command line");
	} else if (run_program(argv, NULL, tmp, NULL, 120, &r)) {
		snprintf(why, sizeof(why), "cannot start %s", keep);
	} else {
		want_code = json_integer_value(json_object_get(spec, "exit_code"));
		want_out = json_object_get(spec, "stdout");
		if (r.status != want_code)
			snprintf(why, sizeof(why), "exit status %d, expected %lld; "
				 "stderr: %.300s", r.status, want_code,
				 (char *)r.err.data);
		else if (want_out && strcmp(json_string_value(want_out),
					    (char *)r.out.data))
			snprintf(why, sizeof(why), "stdout '%.200s', expected "
				 "'%.200s'", (char *)r.out.data,
				 json_string_value(want_out));
		else
			ok = 1;
	}
	run_remove_tree(tmp);
done:
	if (known_failure(id, reason, sizeof(reason))) {
		if (ok) {
			printf("FAIL %s: passes but is listed as failing "
			       "(remove it from the list)\n", id);
			failed++;
		} else {
			printf("XFAIL %s: %s (listed:%s)\n", id, why, reason);
			expected_failures++;
		}
	} else if (ok) {
		printf("PASS %s\n", id);
		passed++;
	} else {
		printf("FAIL %s: %s\n", id, why);
		failed++;
	}
	strs_free(&st);
	run_result_free(&r);
	json_decref(spec);
}

int main(int argc, char **argv)
{
	static const char *const suites[] = { "c", "assemblyscript" };
	const char *fixtures = getenv("ASSAY_FIXTURES");
	char top[4096], dir[4300];
	size_t s, i, n;
	char **names;

	if (argc != 3) {
		fprintf(stderr, "usage: %s ASSAY-KEEP KNOWN-FAILURES\n", argv[0]);
		return 2;
	}
	/* Absolute: the programs run in temporary directories. */
	keep = realpath(argv[1], NULL);
	if (!keep) {
		perror(argv[1]);
		return 1;
	}
	if (file_read(argv[2], 1 << 20, &known)) {
		perror(argv[2]);
		return 1;
	}
	buf_append(&known, "", 1);
	snprintf(top, sizeof(top), "%s/wasm/wasi-testsuite/tests",
		 fixtures ? fixtures : "");
	if (!fixtures || access(top, R_OK))
		CHECK_SKIP("the WASI test suite is not in the fixtures (%s)", top);
	for (s = 0; s < sizeof(suites) / sizeof(suites[0]); s++) {
		snprintf(dir, sizeof(dir), "%s/%s/testsuite/wasm32-wasip1", top,
			 suites[s]);
		names = list_wasm(dir, &n);
		CHECK(n > 0);
		for (i = 0; i < n; i++) {
			run_test(suites[s], dir, names[i]);
			free(names[i]);
		}
		free(names);
	}
	printf("WASI test suite: %d passed, %d failed, %d known failures\n",
	       passed, failed, expected_failures);
	CHECK_INT(failed, 0);
	buf_free(&known);
	return check_done();
}
