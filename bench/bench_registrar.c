/* bench_registrar: registrations per second and registrar memory.
 *
 * Starts assay-registrar, then simulated agents (software EK and AK, the
 * EK side of ActivateCredential done with OpenSSL: no TPM in the figure)
 * register and activate from several client threads. Prints one line per
 * figure; scripts in bench/ compare them with bench/baseline/.
 *
 *   bench_registrar [-n AGENTS] [-c THREADS] REGISTRAR_BINARY */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "http/http.h"
#include "tests/lib/daemon.h"
#include "tpm/soft.h"
#include "tpm/tpm_public.h"
#include "util/encode.h"

/* RSA key generation would dominate; agents share a pool of identities
 * (the registrar keys records by agent id, not by EK). */
#define POOL 16

static struct identity {
	EVP_PKEY *ek;
	char *ek_b64, *ak_b64;
	uint8_t ak_name[TPM_NAME_MAX];
	size_t ak_name_len;
} pool[POOL];

static int port, n_agents, n_threads;
static int failures;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int one_agent(int i)
{
	struct identity *id = &pool[i % POOL];
	char url[256], err[256], uuid[64];
	struct buf out = BUF_INIT, blob = BUF_INIT, cred = BUF_INIT, tag = BUF_INIT,
		   body = BUF_INIT;
	struct http_client_config hc = { NULL, 0, 30000, 1 << 20, NULL };
	int r = -1;
	snprintf(uuid, sizeof uuid, "bench-%08d", i);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/v2.5/agents/%s", port, uuid);
	buf_printf(&body, "{\"ek_tpm\":\"%s\",\"aik_tpm\":\"%s\",\"mtls_cert\":\"disabled\","
		   "\"ip\":\"127.0.0.1\",\"port\":9002}", id->ek_b64, id->ak_b64);
	if (http_fetch(&hc, "POST", url, body.data, body.len, &out, err, sizeof err) != 200)
		goto out;
	json_t *j = json_loads((char *)out.data, 0, NULL);
	const char *b = json_string_value(json_object_get(json_object_get(j, "results"), "blob"));
	int ok = b && b64_decode(&blob, b, strlen(b)) == 0;
	json_decref(j);
	if (!ok || tpm_soft_activate(id->ek, id->ak_name, id->ak_name_len, blob.data,
				     blob.len, &cred, err, sizeof err) < 0)
		goto out;
	char *key = b64_encode_str(cred.data, cred.len);
	crypto_hmac(EVP_sha384(), key, strlen(key), uuid, strlen(uuid), &tag);
	free(key);
	char *hex = hex_encode_str(tag.data, tag.len);
	buf_reset(&body);
	buf_printf(&body, "{\"auth_tag\":\"%s\"}", hex);
	free(hex);
	buf_reset(&out);
	if (http_fetch(&hc, "PUT", url, body.data, body.len, &out, err, sizeof err) == 200)
		r = 0;
out:
	buf_free(&out);
	buf_free(&blob);
	buf_free(&cred);
	buf_free(&tag);
	buf_free(&body);
	return r;
}

static void *worker(void *arg)
{
	long t = (long)arg;
	for (int i = (int)t; i < n_agents; i += n_threads) {
		if (one_agent(i) < 0) {
			pthread_mutex_lock(&lock);
			failures++;
			pthread_mutex_unlock(&lock);
		}
	}
	return NULL;
}

static long rss_kib(pid_t pid, const char *field)
{
	char path[64], line[256];
	long v = -1;
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, field, strlen(field)) == 0)
			v = strtol(line + strlen(field) + 1, NULL, 10);
	fclose(f);
	return v;
}

int main(int argc, char **argv)
{
	n_agents = 2000;
	n_threads = 4;
	int opt;
	while ((opt = getopt(argc, argv, "n:c:")) != -1) {
		if (opt == 'n')
			n_agents = atoi(optarg);
		else if (opt == 'c')
			n_threads = atoi(optarg);
		else
			return 2;
	}
	if (optind >= argc || n_agents < 1 || n_threads < 1 || n_threads > 64) {
		fprintf(stderr, "usage: bench_registrar [-n AGENTS] [-c THREADS] "
			"REGISTRAR_BINARY\n");
		return 2;
	}
	for (int i = 0; i < POOL; i++) {
		struct buf ek = BUF_INIT, ak = BUF_INIT;
		char err[128];
		struct tpm_public p;
		pool[i].ek = crypto_rsa_generate(2048);
		EVP_PKEY *akey = crypto_ec_generate("P-256");
		tpm_soft_ek_public(pool[i].ek, &ek);
		tpm_soft_ak_public(akey, &ak);
		tpm_public_parse(ak.data, ak.len, &p, err, sizeof err);
		memcpy(pool[i].ak_name, p.name, p.name_len);
		pool[i].ak_name_len = p.name_len;
		tpm_public_free(&p);
		pool[i].ek_b64 = b64_encode_str(ek.data, ek.len);
		pool[i].ak_b64 = b64_encode_str(ak.data, ak.len);
		EVP_PKEY_free(akey);
		buf_free(&ek);
		buf_free(&ak);
	}

	char dir[] = "/tmp/assay-bench-XXXXXX", p[16], tp[16], log[64];
	if (!mkdtemp(dir))
		return 1;
	chmod(dir, 0755);
	port = daemon_free_port();
	snprintf(p, sizeof p, "%d", port);
	snprintf(tp, sizeof tp, "%d", daemon_free_port());
	snprintf(log, sizeof log, "%s/registrar.log", dir);
	char *args[] = { argv[optind], "--port", p, "--tls-port", tp, "--state-dir", dir,
			 "--log-level", "warn", geteuid() == 0 ? "--user" : NULL,
			 "nobody", NULL };
	pid_t pid = daemon_start(args, log);
	char url[128];
	struct http_client_config hc = { NULL, 0, 1000, 1 << 16, NULL };
	snprintf(url, sizeof url, "http://127.0.0.1:%d/version", port);
	if (daemon_wait_http(&hc, url, 10000) < 0)
		return 1;
	long idle = rss_kib(pid, "VmRSS:");

	pthread_t th[64];
	double t0 = now();
	for (long t = 0; t < n_threads; t++)
		pthread_create(&th[t], NULL, worker, (void *)t);
	for (int t = 0; t < n_threads; t++)
		pthread_join(th[t], NULL);
	double dt = now() - t0;

	printf("registrations: %d agents, %d client threads, %d failed\n",
	       n_agents, n_threads, failures);
	printf("registrations_per_second %.0f\n", (n_agents - failures) / dt);
	printf("registrar_rss_idle_kib %ld\n", idle);
	printf("registrar_rss_after_kib %ld\n", rss_kib(pid, "VmRSS:"));
	printf("registrar_rss_peak_kib %ld\n", rss_kib(pid, "VmHWM:"));
	daemon_stop(pid, 0);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		perror("rm");
	return failures ? 1 : 0;
}
