/* Clocks and randomness: checks with deterministic output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long ns(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts))
		return -1;
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(void)
{
	unsigned char a[32], b[32], zero[32] = { 0 };
	struct timespec res, nap = { 0, 20 * 1000000L };
	long long m0, m1, m2, r;
	int i, ok = 1;

	m0 = ns(CLOCK_MONOTONIC);
	m1 = ns(CLOCK_MONOTONIC);
	printf("monotonic advances: %s\n", m0 > 0 && m1 >= m0 ? "yes" : "no");
	r = ns(CLOCK_REALTIME);
	/* After 2020-01-01 and before 2100. */
	printf("realtime plausible: %s\n",
	       r > 1577836800LL * 1000000000LL &&
	       r < 4102444800LL * 1000000000LL ? "yes" : "no");
	printf("time() agrees: %s\n",
	       llabs((long long)time(NULL) - r / 1000000000LL) <= 2 ? "yes" : "no");
	printf("resolution: %s\n", !clock_getres(CLOCK_MONOTONIC, &res) &&
	       res.tv_sec == 0 && res.tv_nsec > 0 ? "ok" : "bad");
	nanosleep(&nap, NULL);
	m2 = ns(CLOCK_MONOTONIC);
	printf("slept at least 20 ms: %s\n",
	       m2 - m1 >= 20 * 1000000LL ? "yes" : "no");
	printf("slept less than 5 s: %s\n",
	       m2 - m1 < 5000 * 1000000LL ? "yes" : "no");
	if (getentropy(a, sizeof(a)) || getentropy(b, sizeof(b)))
		ok = 0;
	printf("entropy: %s\n", ok && memcmp(a, zero, sizeof(a)) &&
	       memcmp(a, b, sizeof(a)) ? "random" : "broken");
	for (i = 0, r = 0; i < 1000; i++)
		r += rand() % 2;
	printf("rand: %s\n", r > 300 && r < 700 ? "ok" : "skewed");
	return 0;
}
