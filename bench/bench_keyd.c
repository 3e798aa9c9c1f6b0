/* The key service through its socket against the same work done
 * in-process with OpenSSL: ping, ECDSA P-256 sign (of a SHA-256 hash) and
 * AES-256-GCM encryption of 1 KiB, each with 1 and 4 client threads for a
 * fixed time. Prints "name value" lines: operations per second and, for
 * the service, p50 and p99 latency in microseconds.
 *
 *   bench_keyd ASSAY_KEYD [SECONDS_PER_CASE]
 *
 * The daemon is started here (software provider, direct authentication)
 * with a state directory under /tmp, and stopped at the end. */
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "assay/key.h"

static char sock[128];
static double seconds = 3;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

enum op { PING, SIGN, AEAD };
static const char *const op_names[] = { "ping", "sign_p256", "aes_gcm_1k" };
static const struct assay_key_alg ecdsa = { ASSAY_KEY_ALG_SIGN, ASSAY_KEY_SIGN_ECDSA,
					    ASSAY_KEY_HASH_SHA_256, 0, 0, 0 };
static const struct assay_key_alg gcm = { ASSAY_KEY_ALG_AEAD, ASSAY_KEY_AEAD_GCM, 0, 0, 0, 0 };
static EVP_PKEY *local_key;
static uint8_t aes_key[32];

struct worker {
	enum op op;
	int in_process;
	long count, failures;
	double *lat;		/* seconds, per operation */
	long cap;
};

static void *run(void *arg)
{
	struct worker *w = arg;
	uint8_t hash[32] = { 1 }, nonce[12] = { 0 }, data[1024] = { 0 };
	struct assay_key_client *c = NULL;
	EVP_PKEY_CTX *sctx = NULL;
	EVP_CIPHER_CTX *cctx = NULL;
	if (!w->in_process) {
		c = assay_key_client_new();
		assay_key_client_set_endpoint(c, sock);
		assay_key_client_set_direct(c, "bench");
		assay_key_client_set_provider(c, 1);
	} else if (w->op == SIGN) {
		sctx = EVP_PKEY_CTX_new(local_key, NULL);
		EVP_PKEY_sign_init(sctx);
	} else if (w->op == AEAD) {
		cctx = EVP_CIPHER_CTX_new();
	}
	double end = now() + seconds;
	while (now() < end) {
		double t0 = now();
		int ok = 0;
		if (!w->in_process) {
			uint8_t *out = NULL;
			size_t n = 0;
			unsigned maj, min;
			ok = (w->op == PING ? assay_key_ping(c, &maj, &min)
			      : w->op == SIGN ? assay_key_sign_hash(c, "p256", &ecdsa, hash, 32, &out, &n)
			      : assay_key_aead_encrypt(c, "aes", &gcm, nonce, 12, NULL, 0, data,
						       sizeof data, &out, &n)) == ASSAY_KEY_OK;
			assay_key_free(out);
		} else if (w->op == SIGN) {
			uint8_t sig[80];
			size_t n = sizeof sig;
			ok = EVP_PKEY_sign(sctx, sig, &n, hash, 32) == 1;
		} else if (w->op == AEAD) {
			uint8_t out[1024 + 16];
			int n = 0, f = 0;
			ok = EVP_EncryptInit_ex(cctx, EVP_aes_256_gcm(), NULL, aes_key, nonce) == 1 &&
			     EVP_EncryptUpdate(cctx, out, &n, data, sizeof data) == 1 &&
			     EVP_EncryptFinal_ex(cctx, out + n, &f) == 1 &&
			     EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_GCM_GET_TAG, 16, out + 1024) == 1;
		}
		if (!ok) {
			w->failures++;
			continue;
		}
		if (w->count < w->cap)
			w->lat[w->count] = now() - t0;
		w->count++;
	}
	assay_key_client_free(c);
	EVP_PKEY_CTX_free(sctx);
	EVP_CIPHER_CTX_free(cctx);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void measure(enum op op, int threads, int in_process)
{
	struct worker w[8];
	pthread_t t[8];
	for (int i = 0; i < threads; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].op = op;
		w[i].in_process = in_process;
		w[i].cap = 2000000;
		w[i].lat = in_process ? NULL : malloc((size_t)w[i].cap * sizeof(double));
		if (in_process)
			w[i].cap = 0;
		pthread_create(&t[i], NULL, run, &w[i]);
	}
	long total = 0, failures = 0, kept = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		total += w[i].count;
		failures += w[i].failures;
		kept += w[i].count < w[i].cap ? w[i].count : w[i].cap;
	}
	const char *where = in_process ? "openssl" : "keyd";
	printf("%s_%s_%dt_per_second %.0f\n", where, op_names[op], threads, total / seconds);
	if (!in_process && kept) {
		double *all = malloc((size_t)kept * sizeof *all);
		long k = 0;
		for (int i = 0; i < threads; i++)
			for (long j = 0; j < w[i].count && j < w[i].cap; j++)
				all[k++] = w[i].lat[j];
		qsort(all, (size_t)k, sizeof *all, cmp);
		printf("%s_%s_%dt_p50_us %.1f\n", where, op_names[op], threads, all[k / 2] * 1e6);
		printf("%s_%s_%dt_p99_us %.1f\n", where, op_names[op], threads,
		       all[k * 99 / 100] * 1e6);
		free(all);
	}
	if (failures)
		printf("%s_%s_%dt_failures %ld\n", where, op_names[op], threads, failures);
	for (int i = 0; i < threads; i++)
		free(w[i].lat);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_keyd ASSAY_KEYD [SECONDS_PER_CASE]\n");
		return 2;
	}
	if (argc > 2)
		seconds = atof(argv[2]);
	char dir[] = "/tmp/assay-bench-keyd-XXXXXX", state[96];
	if (!mkdtemp(dir))
		return 1;
	snprintf(sock, sizeof sock, "%s/keyd.sock", dir);
	snprintf(state, sizeof state, "%s/state", dir);
	pid_t pid = fork();
	if (pid == 0) {
		execl(argv[1], argv[1], "--socket", sock, "--state-dir", state, "--providers",
		      "software", "--authenticators", "direct", "--allow-root", "--threads", "4",
		      "--log-level", "error", (char *)NULL);
		_exit(127);
	}
	struct assay_key_client *c = assay_key_client_new();
	assay_key_client_set_endpoint(c, sock);
	assay_key_client_set_direct(c, "bench");
	assay_key_client_set_provider(c, 1);
	unsigned maj, min;
	int up = 0;
	for (int i = 0; i < 100 && !up; i++) {
		up = assay_key_ping(c, &maj, &min) == ASSAY_KEY_OK;
		if (!up)
			usleep(50000);
	}
	struct assay_key_attrs p256 = { ASSAY_KEY_TYPE_ECC_KEY_PAIR, ASSAY_KEY_ECC_SECP_R1, 256,
					ASSAY_KEY_USAGE_SIGN_HASH, ecdsa };
	struct assay_key_attrs aes = { ASSAY_KEY_TYPE_AES, 0, 256, ASSAY_KEY_USAGE_ENCRYPT, gcm };
	if (!up || assay_key_generate_key(c, "p256", &p256) != ASSAY_KEY_OK ||
	    assay_key_generate_key(c, "aes", &aes) != ASSAY_KEY_OK) {
		fprintf(stderr, "bench_keyd: the service did not start\n");
		kill(pid, SIGKILL);
		return 1;
	}
	assay_key_client_free(c);
	local_key = EVP_EC_gen("P-256");
	for (int i = 0; i < 32; i++)
		aes_key[i] = (uint8_t)i;

	for (int op = PING; op <= AEAD; op++)
		for (int threads = 1; threads <= 4; threads += 3) {
			measure((enum op)op, threads, 0);
			if (op != PING)
				measure((enum op)op, threads, 1);
		}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	EVP_PKEY_free(local_key);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
