/* check: the unit-test harness shared by every test program.
 *
 * A test program is a main() calling CHECK* macros; it prints one line per
 * failure with file:line and exits non-zero when anything failed. Exit 77
 * means skipped (meson's convention) and must come with a reason on stdout. */
#ifndef ASSAY_UTIL_CHECK_H
#define ASSAY_UTIL_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures, check_count;

#define CHECK(cond)                                                          \
	do {                                                                 \
		check_count++;                                               \
		if (!(cond)) {                                               \
			check_failures++;                                    \
			printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);\
		}                                                            \
	} while (0)

#define CHECK_INT(a, b)                                                      \
	do {                                                                 \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b); \
		check_count++;                                               \
		if (check_a_ != check_b_) {                                  \
			check_failures++;                                    \
			printf("FAIL %s:%d: %s == %lld, expected %lld\n",    \
			       __FILE__, __LINE__, #a, check_a_, check_b_);  \
		}                                                            \
	} while (0)

#define CHECK_STR(a, b)                                                      \
	do {                                                                 \
		const char *check_a_ = (a), *check_b_ = (b);                 \
		check_count++;                                               \
		if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_)) {  \
			check_failures++;                                    \
			printf("FAIL %s:%d: %s == \"%s\", expected \"%s\"\n", \
			       __FILE__, __LINE__, #a,                       \
			       check_a_ ? check_a_ : "(null)",               \
			       check_b_ ? check_b_ : "(null)");              \
		}                                                            \
	} while (0)

#define CHECK_SKIP(...)                                                      \
	do {                                                                 \
		printf("SKIP: ");                                            \
		printf(__VA_ARGS__);                                         \
		printf("\n");                                                \
		exit(77);                                                    \
	} while (0)

static inline int check_done(void)
{
	printf("%d checks, %d failed\n", check_count, check_failures);
	return check_failures ? 1 : 0;
}

#endif
