/* End to end: assay-registrar as a process, software agents as clients.
 *
 * Covers registration and activation, the admin API behind mutual TLS,
 * restarts, two agents, every kind of bad input (each answered with a 4xx
 * and leaving storage as it was), and kill -9 during a stream of
 * re-registrations (the database always holds one whole record). */
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "tests/lib/daemon.h"
#include "tpm/soft.h"
#include "tpm/tpm_public.h"
#include "util/check.h"
#include "util/encode.h"

static char dir[] = "/tmp/assay-registrar-test-XXXXXX";
static int port, tls_port;
static pid_t pid;
static int quiet;	/* the kill -9 loop expects failed requests */
static char log_path[256], tls_dir[256], db_path[256];
static char ca[300], cli_cert[300], cli_key[300];

struct soft_agent {
	char uuid[64];
	EVP_PKEY *ek, *ak;
	struct buf ek_tpm, ak_tpm;
};

static void agent_init(struct soft_agent *a, const char *uuid, int ecc_ak)
{
	memset(a, 0, sizeof *a);
	snprintf(a->uuid, sizeof a->uuid, "%s", uuid);
	a->ek = crypto_rsa_generate(2048);
	a->ak = ecc_ak ? crypto_ec_generate("P-256") : crypto_rsa_generate(2048);
	CHECK_INT(tpm_soft_ek_public(a->ek, &a->ek_tpm), 0);
	CHECK_INT(tpm_soft_ak_public(a->ak, &a->ak_tpm), 0);
}

static void agent_free(struct soft_agent *a)
{
	EVP_PKEY_free(a->ek);
	EVP_PKEY_free(a->ak);
	buf_free(&a->ek_tpm);
	buf_free(&a->ak_tpm);
}

static int request(int admin, const char *method, const char *path,
		   const char *body, struct buf *out)
{
	char url[512], err[256];
	struct http_tls tls = { cli_cert, cli_key, ca };
	struct http_client_config cfg = { admin ? &tls : NULL, 0, 10000, 1 << 20, NULL };
	snprintf(url, sizeof url, "%s://127.0.0.1:%d%s", admin ? "https" : "http",
		 admin ? tls_port : port, path);
	buf_reset(out);
	int st = http_fetch(&cfg, method, url, body, body ? strlen(body) : 0,
			    out, err, sizeof err);
	if (st < 0 && !quiet)
		printf("  (%s %s: %s)\n", method, path, err);
	return st;
}

static char *register_body(const struct soft_agent *a, const char *extra)
{
	char *ek = b64_encode_str(a->ek_tpm.data, a->ek_tpm.len);
	char *ak = b64_encode_str(a->ak_tpm.data, a->ak_tpm.len);
	struct buf b = BUF_INIT;
	buf_printf(&b, "{\"ek_tpm\":\"%s\",\"aik_tpm\":\"%s\",\"ekcert\":null,"
		   "\"mtls_cert\":\"disabled\",\"ip\":\"127.0.0.1\",\"port\":\"9002\"%s}",
		   ek, ak, extra ? extra : "");
	free(ek);
	free(ak);
	return (char *)buf_steal(&b, NULL);
}

/* Registers and returns the auth tag the agent would compute, or NULL. */
static char *do_register(const struct soft_agent *a)
{
	struct buf out = BUF_INIT, blob = BUF_INIT, cred = BUF_INIT, tag = BUF_INIT;
	char path[256], err[256];
	char *body = register_body(a, NULL);
	char *result = NULL;
	snprintf(path, sizeof path, "/v2.1/agents/%s", a->uuid);
	int st = request(0, "POST", path, body, &out);
	CHECK_INT(st, 200);
	if (st != 200) {
		printf("  register: %s\n", out.data ? (char *)out.data : "");
		goto out;
	}
	json_t *j = json_loads((char *)out.data, 0, NULL);
	const char *b64 = json_string_value(json_object_get(json_object_get(j,
		"results"), "blob"));
	CHECK(b64 && b64_decode(&blob, b64, strlen(b64)) == 0);
	json_decref(j);
	struct tpm_public ak;
	CHECK_INT(tpm_public_parse(a->ak_tpm.data, a->ak_tpm.len, &ak, err, sizeof err), 0);
	int r = tpm_soft_activate(a->ek, ak.name, ak.name_len, blob.data, blob.len,
				  &cred, err, sizeof err);
	CHECK_INT(r, 0);
	if (r < 0)
		printf("  activate: %s\n", err);
	tpm_public_free(&ak);
	CHECK_INT(cred.len, 32);
	/* Keylime's agents key the HMAC with the base64 text of the credential. */
	char *key = b64_encode_str(cred.data, cred.len);
	crypto_hmac(EVP_sha384(), key, strlen(key), a->uuid, strlen(a->uuid), &tag);
	free(key);
	result = hex_encode_str(tag.data, tag.len);
out:
	free(body);
	buf_free(&out);
	buf_free(&blob);
	buf_free(&cred);
	buf_free(&tag);
	return result;
}

static int activate(const struct soft_agent *a, const char *tag)
{
	struct buf out = BUF_INIT;
	char path[256], body[256];
	snprintf(path, sizeof path, "/v2.1/agents/%s/activate", a->uuid);
	snprintf(body, sizeof body, "{\"auth_tag\":\"%s\"}", tag);
	int st = request(0, "PUT", path, body, &out);
	buf_free(&out);
	return st;
}

/* The whole visible state: the list and each agent's record. */
static char *snapshot(void)
{
	struct buf out = BUF_INIT, all = BUF_INIT;
	request(1, "GET", "/v2.1/agents/", NULL, &out);
	buf_append(&all, out.data, out.len);
	json_t *j = json_loads((char *)out.data, 0, NULL);
	json_t *ids = json_object_get(json_object_get(j, "results"), "uuids");
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v) {
		char path[300];
		snprintf(path, sizeof path, "/v2.1/agents/%s", json_string_value(v));
		request(1, "GET", path, NULL, &out);
		buf_append(&all, out.data, out.len);
	}
	json_decref(j);
	buf_free(&out);
	return (char *)buf_steal(&all, NULL);
}

static void start(void)
{
	char p[16], tp[16];
	snprintf(p, sizeof p, "%d", port);
	snprintf(tp, sizeof tp, "%d", tls_port);
	char *argv[] = { (char *)daemon_program("registrar/assay-registrar"),
			 "--ip", "127.0.0.1", "--port", p, "--tls-port", tp,
			 "--state-dir", dir, "--log-level", "debug",
			 /* As root (CI), run as nobody like a real deployment. */
			 geteuid() == 0 ? "--user" : NULL, "nobody", NULL };
	pid = daemon_start(argv, log_path);
	char url[128];
	struct http_client_config cfg = { NULL, 0, 1000, 1 << 16, NULL };
	snprintf(url, sizeof url, "http://127.0.0.1:%d/version", port);
	CHECK_INT(daemon_wait_http(&cfg, url, 10000), 0);
}

static void test_bad_input(struct soft_agent *a, const char *good_tag)
{
	struct buf out = BUF_INIT;
	char path[256];
	char *before = snapshot();
	snprintf(path, sizeof path, "/v2.1/agents/%s", a->uuid);

	CHECK_INT(request(0, "POST", path, "{\"ek_tpm\": ", &out), 400);
	CHECK(strstr((char *)out.data, "Malformed JSON") != NULL);
	CHECK_INT(request(0, "POST", path, "[]", &out), 400);
	CHECK_INT(request(0, "POST", path, "{\"ek_tpm\": 5, \"aik_tpm\": true}", &out), 400);
	CHECK(strstr((char *)out.data, "ek_tpm") != NULL);
	CHECK_INT(request(0, "POST", path, "{\"ek_tpm\": \"!!!!\", \"aik_tpm\": \"AAAA\"}", &out), 400);
	CHECK_INT(request(0, "POST", path, "{\"ek_tpm\": \"AAAA\", \"aik_tpm\": \"AAAA\"}", &out), 400);
	CHECK(strstr((char *)out.data, "TPM2B_PUBLIC") != NULL);
	char *body = register_body(a, ",\"port\":70000");
	/* A duplicate key is rejected as ambiguous. */
	CHECK_INT(request(0, "POST", path, body, &out), 400);
	free(body);

	/* An AK that is not a restricted signing key is refused. */
	struct soft_agent swapped = *a;
	swapped.ak_tpm = a->ek_tpm;
	body = register_body(&swapped, NULL);
	CHECK_INT(request(0, "POST", path, body, &out), 400);
	CHECK(strstr((char *)out.data, "aik_tpm") != NULL);
	free(body);

	/* Oversized body: refused from its Content-Length, before it is read. */
	char raw[512];
	snprintf(raw, sizeof raw, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: "
		 "application/json\r\nContent-Length: 2097152\r\n\r\n", path);
	CHECK_INT(daemon_raw_status(port, raw), 413);

	/* Bad ids and versions. */
	CHECK_INT(request(0, "POST", "/v2.1/agents/bad%20id", "{}", &out), 400);
	CHECK_INT(request(0, "POST", "/v9.9/agents/x", "{}", &out), 400);
	CHECK_INT(request(0, "GET", "/v2.1/agents/", NULL, &out), 405);

	/* A wrong auth tag does not activate and does not delete. */
	CHECK_INT(activate(a, "00"), 400);
	char wrong[97];
	snprintf(wrong, sizeof wrong, "%s", good_tag);
	wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
	CHECK_INT(activate(a, wrong), 400);
	CHECK_INT(request(0, "PUT", path, "{\"auth_tag\": 7}", &out), 400);

	/* Re-registration with a different EK is forbidden. */
	struct soft_agent other;
	agent_init(&other, a->uuid, 1);
	body = register_body(&other, NULL);
	CHECK_INT(request(0, "POST", path, body, &out), 403);
	free(body);
	agent_free(&other);

	/* Admin API: no client certificate, or plain HTTP, gets nothing. */
	char url[128], err[256];
	struct http_tls anon = { NULL, NULL, ca };
	struct http_client_config cfg = { &anon, 0, 5000, 1 << 16, NULL };
	snprintf(url, sizeof url, "https://127.0.0.1:%d/v2.1/agents/", tls_port);
	CHECK_INT(http_fetch(&cfg, "GET", url, NULL, 0, &out, err, sizeof err), -1);
	cfg.tls = NULL;
	snprintf(url, sizeof url, "http://127.0.0.1:%d/v2.1/agents/", tls_port);
	CHECK_INT(http_fetch(&cfg, "GET", url, NULL, 0, &out, err, sizeof err), -1);
	CHECK_INT(request(1, "DELETE", "/v2.1/agents/no-such-agent", NULL, &out), 404);

	char *after = snapshot();
	CHECK_STR(after, before);
	free(before);
	free(after);
	buf_free(&out);
}

/* kill -9 while an agent re-registers in a loop: after a restart the row is
 * whole (one of the AKs we sent, with its own regcount), never a mix. */
static void test_kill9(void)
{
	struct soft_agent a;
	agent_init(&a, "kill9-agent", 1);
	EVP_PKEY *ak2 = crypto_ec_generate("P-256");
	struct buf ak2_tpm = BUF_INIT, ak1_tpm = BUF_INIT;
	tpm_soft_ak_public(ak2, &ak2_tpm);
	buf_append(&ak1_tpm, a.ak_tpm.data, a.ak_tpm.len);
	srand((unsigned)time(NULL));
	for (int round = 0; round < 5; round++) {
		pid_t child = fork();
		if (child == 0) {
			/* Register as fast as possible, alternating AKs. */
			quiet = 1;
			for (int i = 0;; i++) {
				struct buf *src = i % 2 ? &ak2_tpm : &ak1_tpm;
				buf_reset(&a.ak_tpm);
				buf_append(&a.ak_tpm, src->data, src->len);
				struct buf out = BUF_INIT;
				char *body = register_body(&a, NULL);
				char path[128];
				snprintf(path, sizeof path, "/v2.1/agents/%s", a.uuid);
				request(0, "POST", path, body, &out);
				free(body);
				buf_free(&out);
			}
		}
		struct timespec ts = { 0, (long)(50 + rand() % 200) * 1000000L };
		nanosleep(&ts, NULL);
		daemon_stop(pid, 1);
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);

		sqlite3 *db;
		CHECK_INT(sqlite3_open(db_path, &db), SQLITE_OK);
		sqlite3_stmt *st;
		CHECK_INT(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
		CHECK_INT(sqlite3_step(st), SQLITE_ROW);
		CHECK_STR((const char *)sqlite3_column_text(st, 0), "ok");
		sqlite3_finalize(st);
		sqlite3_prepare_v2(db, "SELECT aik_tpm, ek_tpm, auth_tag, active FROM agents"
				   " WHERE agent_id = 'kill9-agent'", -1, &st, NULL);
		if (sqlite3_step(st) == SQLITE_ROW) {
			const void *ak = sqlite3_column_blob(st, 0);
			size_t n = (size_t)sqlite3_column_bytes(st, 0);
			int is1 = n == ak1_tpm.len && memcmp(ak, ak1_tpm.data, n) == 0;
			int is2 = n == ak2_tpm.len && memcmp(ak, ak2_tpm.data, n) == 0;
			CHECK(is1 || is2);
			size_t en = (size_t)sqlite3_column_bytes(st, 1);
			CHECK(en == a.ek_tpm.len &&
			      memcmp(sqlite3_column_blob(st, 1), a.ek_tpm.data, en) == 0);
			CHECK_INT(sqlite3_column_bytes(st, 2), 96);
		}
		sqlite3_finalize(st);
		sqlite3_close(db);
		start();
	}
	EVP_PKEY_free(ak2);
	buf_free(&ak2_tpm);
	buf_free(&ak1_tpm);
	agent_free(&a);
}

int main(void)
{
	if (!mkdtemp(dir))
		CHECK_SKIP("cannot create a temporary directory");
	snprintf(log_path, sizeof log_path, "%s/registrar.log", dir);
	snprintf(tls_dir, sizeof tls_dir, "%s/tls", dir);
	snprintf(db_path, sizeof db_path, "%s/registrar.sqlite", dir);
	snprintf(ca, sizeof ca, "%s/ca.pem", tls_dir);
	snprintf(cli_cert, sizeof cli_cert, "%s/client.pem", tls_dir);
	snprintf(cli_key, sizeof cli_key, "%s/client.key", tls_dir);
	port = daemon_free_port();
	tls_port = daemon_free_port();
	start();

	struct buf out = BUF_INIT;
	CHECK_INT(request(0, "GET", "/version", NULL, &out), 200);
	CHECK(strstr((char *)out.data, "\"current_version\":\"2.5\"") != NULL);

	struct soft_agent a, b;
	agent_init(&a, "d432fbb3-d2f1-4a97-9ef7-75bd81c00000", 0);
	agent_init(&b, "second-agent", 1);
	char *tag_a = do_register(&a);
	CHECK(tag_a != NULL);
	/* Not active yet: the admin API does not show it. */
	CHECK_INT(request(1, "GET", "/v2.1/agents/d432fbb3-d2f1-4a97-9ef7-75bd81c00000",
			  NULL, &out), 404);
	CHECK_INT(activate(&a, tag_a ? tag_a : "x"), 200);
	CHECK_INT(request(1, "GET", "/v2.5/agents/d432fbb3-d2f1-4a97-9ef7-75bd81c00000",
			  NULL, &out), 200);
	json_t *j = json_loads((char *)out.data, 0, NULL);
	json_t *res = json_object_get(j, "results");
	char *ak_b64 = b64_encode_str(a.ak_tpm.data, a.ak_tpm.len);
	CHECK_STR(json_string_value(json_object_get(res, "aik_tpm")), ak_b64);
	CHECK_INT(json_integer_value(json_object_get(res, "port")), 9002);
	CHECK_INT(json_integer_value(json_object_get(res, "regcount")), 1);
	CHECK(json_is_null(json_object_get(res, "ekcert")));
	json_decref(j);

	char *tag_b = do_register(&b);
	CHECK(tag_b && activate(&b, tag_b) == 200);

	test_bad_input(&a, tag_a ? tag_a : "");

	/* Restart: both agents are still there, still active, same AK. */
	daemon_stop(pid, 0);
	start();
	CHECK_INT(request(1, "GET", "/v2.1/agents/", NULL, &out), 200);
	CHECK(strstr((char *)out.data, a.uuid) && strstr((char *)out.data, b.uuid));
	CHECK_INT(request(1, "GET", "/v2.1/agents/second-agent", NULL, &out), 200);
	CHECK(strstr((char *)out.data, ak_b64) == NULL);
	CHECK_INT(request(1, "GET", "/v2.1/agents/d432fbb3-d2f1-4a97-9ef7-75bd81c00000",
			  NULL, &out), 200);
	CHECK(strstr((char *)out.data, ak_b64) != NULL);

	/* Delete. */
	CHECK_INT(request(1, "DELETE", "/v2.1/agents/second-agent", NULL, &out), 200);
	CHECK_INT(request(1, "GET", "/v2.1/agents/second-agent", NULL, &out), 404);

	test_kill9();

	daemon_stop(pid, 0);
	free(ak_b64);
	free(tag_a);
	free(tag_b);
	agent_free(&a);
	agent_free(&b);
	buf_free(&out);
	int failed = check_done();
	if (failed) {
		char cmd[PATH_MAX + 16];
		snprintf(cmd, sizeof cmd, "tail -30 %s", log_path);
		if (system(cmd) < 0)
			perror("tail");
	} else {
		char cmd[PATH_MAX + 16];
		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
		if (system(cmd) < 0)
			perror("rm");
	}
	return failed;
}
