/* End to end: two verifiers sharing one PostgreSQL database (a real
 * server, started here) and a fleet of agents on swtpm.
 *
 *   - agents enrolled through one verifier are spread over both once the
 *     second starts, and both report the whole fleet and the policies;
 *   - a verifier killed with SIGKILL: the other takes its agents over and
 *     goes on attesting them;
 *   - the killed verifier comes back and gets its share again;
 *   - an agent failing on one verifier: the agents the other verifier
 *     attests receive the signed revocation notice;
 *   - an agent deleted through the verifier that does not attest it stops
 *     being attested everywhere. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/deploy.h"
#include "tests/lib/pgserver.h"
#include "tests/lib/swtpm.h"
#include "util/check.h"
#include "util/file.h"

#define NODES 4

static struct deploy D;
static struct pgserver PG;
static int port_a, port_b;
static pid_t pid_a = -1, pid_b = -1;
static char url[400], out_path[200];

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static int start(const char *name, int port, pid_t *pid)
{
	const char *const flags[] = { "--database-url", url, "--uuid", name,
				      "--lease-ms", "3000", "--quote-interval-ms", "300",
				      "--retry-interval-ms", "300", "--max-retries", "3",
				      NULL };
	return deploy_verifier(&D, name, port, flags, pid);
}

/* `assay add` through the verifier on port. Returns the exit status. */
static int enrol(const struct node *n, int port, const char *tpm_policy)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "%s add --uuid %s --tls-dir %s --verifier-port %d "
		 "--registrar-tls-port %d --accept-any-ek --tpm-policy '%s' >%s 2>&1",
		 daemon_program("cli/assay"), n->uuid, D.tls, port, D.reg_tls_port,
		 tpm_policy, out_path);
	int st = system(cmd);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		struct buf b = BUF_INIT;
		file_read(out_path, 1 << 16, &b);
		printf("  assay add %s: %s\n", n->uuid, b.data ? (char *)b.data : "");
		buf_free(&b);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The fleet as one verifier reports it: {id: status}. */
static json_t *fleet(int port)
{
	struct buf out = BUF_INIT;
	json_t *r = NULL;
	if (deploy_fetch(&D, port, 1, "GET", "/v2.5/agents/?bulk=1", NULL, &out) == 200)
		r = deploy_results(&out);
	buf_free(&out);
	return r;
}

static const char *owner(json_t *f, const char *id)
{
	return json_string_value(json_object_get(json_object_get(f, id), "verifier_id"));
}

static long long count(json_t *f, const char *id)
{
	return json_integer_value(json_object_get(json_object_get(f, id), "attestation_count"));
}

static long long state(json_t *f, const char *id)
{
	return json_integer_value(json_object_get(json_object_get(f, id), "operational_state"));
}

/* How many of the nodes the verifier named attests. */
static int owned_by(json_t *f, struct node *nodes, int n, const char *name)
{
	int k = 0;
	for (int i = 0; i < n; i++)
		k += owner(f, nodes[i].uuid) && strcmp(owner(f, nodes[i].uuid), name) == 0;
	return k;
}

/* Waits until, seen from port, want_a agents are attested by "va" and the
 * rest by "vb", each in Get Quote with its count past since[i]. */
static json_t *wait_split(int port, struct node *nodes, int n, int want_a,
			  const long long *since, int seconds)
{
	json_t *f = NULL;
	for (int t = 0; t < seconds * 5; t++) {
		json_decref(f);
		f = fleet(port);
		int ok = owned_by(f, nodes, n, "va") == want_a &&
			 owned_by(f, nodes, n, "vb") == n - want_a;
		for (int i = 0; ok && i < n; i++)
			ok = state(f, nodes[i].uuid) == 3 &&
			     count(f, nodes[i].uuid) > (since ? since[i] : 0);
		if (ok)
			break;
		sleep_ms(200);
	}
	return f;
}

static int log_has(const char *path, const char *a, const char *b)
{
	struct buf l = BUF_INIT;
	int r = 0;
	if (file_read(path, 8 << 20, &l) == 0 && l.data) {
		for (char *p = (char *)l.data; (p = strstr(p, a)); p++) {
			char *eol = strchr(p, '\n');
			if (eol)
				*eol = 0;
			int hit = strstr(p, b) != NULL;
			if (eol)
				*eol = '\n';
			if (hit) {
				r = 1;
				break;
			}
		}
	}
	buf_free(&l);
	return r;
}

int main(void)
{
	struct node nodes[NODES + 1];
	json_t *f = NULL;
	struct node *bad = &nodes[NODES];
	long long since[NODES];
	int started = 0;
	if (!swtpm_available())
		CHECK_SKIP("swtpm or swtpm_setup is not installed");
	if (!pgserver_available())
		CHECK_SKIP("the PostgreSQL server (Debian package postgresql) is not installed");
	if (deploy_init(&D) < 0)
		CHECK_SKIP("cannot create a temporary directory");
	snprintf(out_path, sizeof out_path, "%s/assay.out", D.dir);
	if (pgserver_start(&PG, D.dir) != 0) {
		CHECK(!"PostgreSQL server started");
		goto out;
	}
	snprintf(url, sizeof url, "%s", PG.url);
	port_a = D.ver_port;
	port_b = daemon_free_port();

	CHECK_INT(deploy_start_registrar(&D), 0);
	if (start("va", port_a, &pid_a) != 0) {
		CHECK(!"verifier va started");
		goto out;
	}
	for (int i = 0; i <= NODES; i++) {
		char name[16], uuid[32];
		snprintf(name, sizeof name, "node-%d", i);
		snprintf(uuid, sizeof uuid, "pg-agent-%d", i);
		CHECK_INT(node_init(&D, &nodes[i], name, uuid), 0);
		started++;
		if (node_start(&D, &nodes[i], "rsassa", "rsa") != 0) {
			CHECK(!"agent started");
			goto out;
		}
	}

	/* Everything through verifier A, then B joins and takes half. */
	for (int i = 0; i < NODES; i++)
		CHECK_INT(enrol(&nodes[i], port_a, "{\"mask\": \"0x0\"}"), 0);
	f = wait_split(port_a, nodes, NODES, NODES, NULL, 20);
	CHECK_INT(owned_by(f, nodes, NODES, "va"), NODES);
	json_decref(f);
	if (start("vb", port_b, &pid_b) != 0) {
		CHECK(!"verifier vb started");
		goto out;
	}
	f = wait_split(port_b, nodes, NODES, NODES / 2, NULL, 30);
	CHECK_INT(owned_by(f, nodes, NODES, "va"), NODES / 2);
	CHECK_INT(owned_by(f, nodes, NODES, "vb"), NODES / 2);
	for (int i = 0; i < NODES; i++) {
		json_t *one = json_object_get(f, nodes[i].uuid);
		int by_a = owner(f, nodes[i].uuid) && !strcmp(owner(f, nodes[i].uuid), "va");
		CHECK_INT(json_integer_value(json_object_get(one, "verifier_port")),
			  by_a ? port_a : port_b);
	}
	/* Both see the whole fleet; each lists its own with ?verifier=. */
	json_t *fa = fleet(port_a);
	CHECK_INT(json_object_size(fa), NODES);
	json_decref(fa);
	struct buf out = BUF_INIT;
	CHECK_INT(deploy_fetch(&D, port_a, 1, "GET", "/v2.5/agents/?verifier=vb", NULL,
			       &out), 200);
	json_t *ids = deploy_results(&out);
	CHECK_INT(json_array_size(json_object_get(ids, "uuids")), NODES / 2);
	json_decref(ids);

	/* The policy stores are shared too. */
	const char *pol = "{\"runtime_policy\": \"eyJkaWdlc3RzIjoge319\"}";
	CHECK_INT(deploy_fetch(&D, port_a, 1, "POST", "/v2.5/allowlists/shared", pol, &out), 201);
	CHECK_INT(deploy_fetch(&D, port_b, 1, "POST", "/v2.5/allowlists/shared", pol, &out), 409);
	CHECK_INT(deploy_fetch(&D, port_b, 1, "GET", "/v2.5/allowlists/shared", NULL, &out), 200);
	CHECK(out.data && strstr((char *)out.data, "digests") != NULL);
	CHECK_INT(deploy_fetch(&D, port_b, 1, "DELETE", "/v2.5/allowlists/shared", NULL, &out), 204);
	CHECK_INT(deploy_fetch(&D, port_a, 1, "GET", "/v2.5/allowlists/shared", NULL, &out), 404);

	/* A dies without a word: B takes everything over and goes on. */
	for (int i = 0; i < NODES; i++)
		since[i] = count(f, nodes[i].uuid);
	json_decref(f);
	daemon_stop(pid_a, 1);
	pid_a = -1;
	f = wait_split(port_b, nodes, NODES, 0, since, 30);
	CHECK_INT(owned_by(f, nodes, NODES, "vb"), NODES);
	for (int i = 0; i < NODES; i++) {
		CHECK_INT(state(f, nodes[i].uuid), 3);
		CHECK(count(f, nodes[i].uuid) > since[i]);
	}
	json_decref(f);

	/* A comes back and gets its share again. */
	CHECK_INT(start("va", port_a, &pid_a), 0);
	f = wait_split(port_b, nodes, NODES, NODES / 2, NULL, 30);
	CHECK_INT(owned_by(f, nodes, NODES, "va"), NODES / 2);
	json_decref(f);

	/* An agent failing its TPM policy on whichever verifier attests it:
	 * every agent of the fleet hears of it, those of the other verifier
	 * included. */
	CHECK_INT(enrol(bad, port_b, "{\"mask\": \"0x0\", \"23\": [\"0000000000000000000000"
			"000000000000000000000000000000000000000001\"]}"), 0);
	char path[200];
	snprintf(path, sizeof path, "/v2.5/agents/%s", bad->uuid);
	long long st = 0;
	for (int t = 0; t < 100 && st != 9; t++) {
		sleep_ms(200);
		if (deploy_fetch(&D, port_a, 1, "GET", path, NULL, &out) == 200) {
			json_t *r = deploy_results(&out);
			st = json_integer_value(json_object_get(r, "operational_state"));
			json_decref(r);
		}
	}
	CHECK_INT(st, 9);
	for (int i = 0; i < NODES; i++) {
		int heard = 0;
		for (int t = 0; t < 50 && !heard; t++) {
			heard = log_has(nodes[i].log, "revocation notice received", bad->uuid);
			if (!heard)
				sleep_ms(200);
		}
		CHECK(heard);
	}

	/* Deleted through the verifier that does not attest it. */
	f = fleet(port_a);
	const char *victim = NULL;
	for (int i = 0; i < NODES && !victim; i++)
		if (owner(f, nodes[i].uuid) && strcmp(owner(f, nodes[i].uuid), "vb") == 0)
			victim = nodes[i].uuid;
	CHECK(victim != NULL);
	if (victim) {
		snprintf(path, sizeof path, "/v2.5/agents/%s", victim);
		CHECK_INT(deploy_fetch(&D, port_a, 1, "DELETE", path, NULL, &out), 200);
		CHECK_INT(deploy_fetch(&D, port_a, 1, "GET", path, NULL, &out), 404);
		/* B lets it go at its next write. */
		char line[300];
		snprintf(line, sizeof line, "agent %s: no longer ours", victim);
		char vb_log[200];
		snprintf(vb_log, sizeof vb_log, "%s/vb.log", D.dir);
		int gone = 0;
		for (int t = 0; t < 50 && !gone; t++) {
			gone = log_has(vb_log, line, victim);
			if (!gone)
				sleep_ms(200);
		}
		CHECK(gone);
		CHECK_INT(deploy_fetch(&D, port_b, 1, "GET", path, NULL, &out), 404);
	}
	json_decref(f);
	buf_free(&out);

	/* A clean stop hands the agents over at once. */
	CHECK_INT(daemon_stop(pid_b, 0), 0);
	pid_b = -1;
out:;
	int failed = check_done();
	if (pid_a > 0)
		daemon_stop(pid_a, 0);
	if (pid_b > 0)
		daemon_stop(pid_b, 0);
	pgserver_stop(&PG);
	deploy_finish(&D, nodes, started, failed);
	return failed;
}
