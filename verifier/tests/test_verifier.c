/* End to end: registrar, verifier and agents on swtpm, this test playing
 * the tenant. An enrolled agent reaches Get Quote with attestations
 * counting up, its payload arrives once V is delivered; a PCR outside the
 * policy and a quote signed by another AK each end in Invalid Quote with
 * the precise reason, and a signed revocation reaches the other agent; the
 * verifier restarts and goes on; stop, reactivate, delete; policy stores;
 * bad input gets a 4xx and stores nothing. */
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attest/mb_policy.h"
#include "attest/soft_quote.h"
#include "crypto/crypto.h"
#include "tpm/soft.h"
#include "tpm/tpm_public.h"
#include "tests/lib/deploy.h"
#include "tests/lib/swtpm.h"
#include "util/check.h"
#include "util/encode.h"
#include "util/file.h"

static struct deploy D;
static const char *runtime_policy_b64;	/* next enrolment's, or NULL */
static const char *mb_policy_json;	/* next enrolment's, or NULL */
static EVP_PKEY *rev_key;
static X509 *rev_cert;

static int verifier(const char *method, const char *path, const char *body,
		    struct buf *out)
{
	return deploy_fetch(&D, D.ver_port, 1, method, path, body, out);
}

/* The registrar's record of a node: its AK and mTLS certificate. */
static json_t *registrar_record(struct node *n)
{
	struct buf out = BUF_INIT;
	char path[200];
	snprintf(path, sizeof path, "/v2.5/agents/%s", n->uuid);
	CHECK_INT(deploy_fetch(&D, D.reg_tls_port, 1, "GET", path, NULL, &out), 200);
	json_t *r = deploy_results(&out);
	buf_free(&out);
	return r;
}

static char *encrypt_to(EVP_PKEY *nk, const uint8_t *p, size_t n)
{
	struct buf ct = BUF_INIT;
	crypto_rsa_oaep_encrypt(nk, EVP_sha1(), p, n, &ct);
	char *s = b64_encode_str(ct.data, ct.len);
	buf_free(&ct);
	return s;
}

/* Enrols node n as keylime_tenant -c add would: U (with the payload) to
 * the agent, the enrolment with V to the verifier. ak_of gives the AK to
 * enrol (normally n itself). Returns the verifier's HTTP status. */
static int enrol(struct node *n, struct node *ak_of, const char *tpm_policy,
		 const char *extra_field)
{
	struct buf out = BUF_INIT, zip = BUF_INIT, ct = BUF_INIT, tag = BUF_INIT,
		   key_pem = BUF_INIT;
	uint8_t k[32], u[32], v[32];
	char path[200];
	CHECK_INT(node_fetch(n, &D, "GET", "/v2.1/keys/pubkey", NULL, &out), 200);
	json_t *r = deploy_results(&out);
	const char *pem = json_string_value(json_object_get(r, "pubkey"));
	EVP_PKEY *nk = pem ? crypto_key_from_pem(pem, strlen(pem), 0) : NULL;
	json_decref(r);
	CHECK(nk != NULL);

	/* Payload: an autorun leaving a marker, the revocation certificate and
	 * an action recording notices. */
	CHECK_INT(deploy_payload(rev_cert, &zip), 0);
	crypto_random(k, 32);
	crypto_random(u, 32);
	for (int i = 0; i < 32; i++)
		v[i] = k[i] ^ u[i];
	crypto_aes_gcm_encrypt(k, zip.data, zip.len, &ct);
	crypto_hmac(EVP_sha384(), k, 32, n->uuid, strlen(n->uuid), &tag);
	char *tag_hex = hex_encode_str(tag.data, tag.len);
	char *payload = b64_encode_str(ct.data, ct.len);
	char *eu = encrypt_to(nk, u, 32);
	json_t *ub = json_pack("{s:s, s:s, s:s}", "encrypted_key", eu, "auth_tag", tag_hex,
			       "payload", payload);
	char *ubs = json_dumps(ub, 0);
	CHECK_INT(node_fetch(n, &D, "POST", "/v2.1/keys/ukey", ubs, &out), 200);

	json_t *rec = registrar_record(ak_of);
	crypto_key_to_pem(rev_key, 1, &key_pem);
	char *vb = b64_encode_str(v, 32);
	json_t *body = json_pack(
		"{s:s, s:i, s:s, s:s, s:s, s:n, s:s, s:s, s:s, s:s, s:[s,s], s:[s,s],"
		" s:[s,s,s], s:s, s:s, s:s, s:s}",
		"cloudagent_ip", "127.0.0.1", "cloudagent_port", n->port,
		"tpm_policy", tpm_policy,
		"runtime_policy", runtime_policy_b64 ? runtime_policy_b64 : "",
		"runtime_policy_name", "",
		"mb_policy", "mb_policy_name", "", "ima_sign_verification_keys", "",
		"metadata", "{}", "revocation_key", (char *)key_pem.data,
		"accept_tpm_hash_algs", "sha384", "sha256",
		"accept_tpm_encryption_algs", "ecc", "rsa",
		"accept_tpm_signing_algs", "ecschnorr", "rsassa", "ecdsa",
		"ak_tpm", json_string_value(json_object_get(rec, "aik_tpm")),
		"mtls_cert", "disabled", "supported_version", "2.5", "v", vb);
	/* mtls_cert from the node's own record (ak_of may be another node). */
	json_t *own = registrar_record(n);
	json_object_set(body, "mtls_cert", json_object_get(own, "mtls_cert"));
	json_decref(own);
	if (extra_field)
		json_object_set_new(body, extra_field, json_string("eyJ4IjoxfQ=="));
	if (mb_policy_json)
		json_object_set_new(body, "mb_policy", json_string(mb_policy_json));
	char *bs = json_dumps(body, 0);
	snprintf(path, sizeof path, "/v2.5/agents/%s", n->uuid);
	int st = verifier("POST", path, bs, &out);
	if (st != 200)
		printf("  enrol %s: %s\n", n->name, (char *)out.data);

	free(bs);
	json_decref(body);
	json_decref(rec);
	free(vb);
	free(ubs);
	json_decref(ub);
	free(eu);
	free(payload);
	free(tag_hex);
	EVP_PKEY_free(nk);
	buf_free(&out);
	buf_free(&zip);
	buf_free(&ct);
	buf_free(&tag);
	buf_free(&key_pem);
	return st;
}

/* Waits until the verifier reports state (and at least count
 * attestations); returns the last status object. */
static json_t *wait_state(struct node *n, int state, long long count, int seconds)
{
	struct buf out = BUF_INIT;
	char path[200];
	json_t *r = NULL;
	snprintf(path, sizeof path, "/v2.5/agents/%s", n->uuid);
	for (int i = 0; i < seconds * 10; i++) {
		json_decref(r);
		r = NULL;
		if (verifier("GET", path, NULL, &out) == 200) {
			r = deploy_results(&out);
			if (json_integer_value(json_object_get(r, "operational_state")) == state &&
			    json_integer_value(json_object_get(r, "attestation_count")) >= count)
				break;
		}
		struct timespec ts = { 0, 100 * 1000000L };
		nanosleep(&ts, NULL);
	}
	buf_free(&out);
	return r;
}

/* The ids the verifier knows, as "a,b,". */
static char *agent_ids(struct buf *out)
{
	struct buf ids = BUF_INIT;
	const char *key;
	json_t *val;
	verifier("GET", "/v2.5/agents/?bulk=1", NULL, out);
	json_t *r = deploy_results(out);
	json_object_foreach(r, key, val)
		buf_printf(&ids, "%s,", key);
	json_decref(r);
	buf_append_str(&ids, "");
	return (char *)buf_steal(&ids, NULL);
}

static void test_bad_input(struct node *n, struct node *fresh)
{
	struct buf out = BUF_INIT, before = BUF_INIT;
	char *before_ids = agent_ids(&before);
	CHECK_INT(verifier("POST", "/v2.5/agents/bad-1", "{\"cloudagent_ip\":", &out), 400);
	CHECK(strstr((char *)out.data, "Malformed JSON") != NULL);
	CHECK_INT(verifier("POST", "/v2.5/agents/bad-2", "{\"cloudagent_ip\":\"127.0.0.1\","
			   "\"cloudagent_port\":9}", &out), 400);
	CHECK(strstr((char *)out.data, "tpm_policy") != NULL);
	CHECK_INT(verifier("POST", "/v2.5/agents/bad%20id", "{}", &out), 400);
	CHECK_INT(verifier("POST", "/v9.9/agents/x", "{}", &out), 400);
	CHECK_INT(verifier("GET", "/v2.5/agents/nobody-here", NULL, &out), 404);
	CHECK_INT(verifier("DELETE", "/v2.5/agents/nobody-here", NULL, &out), 404);
	/* A measured-boot policy that is not a reference state. */
	CHECK_INT(enrol(fresh, fresh, "{\"mask\": \"0x0\"}", "mb_policy"), 400);
	/* A duplicate: 409. */
	CHECK_INT(enrol(n, n, "{\"mask\": \"0x0\"}", NULL), 409);
	/* Bad TPM policy. */
	CHECK_INT(verifier("POST", "/v2.5/agents/bad-3", "{\"cloudagent_ip\":\"127.0.0.1\","
			   "\"cloudagent_port\":9,\"tpm_policy\":\"{\\\"99\\\":[]}\"}", &out), 400);

	char *after_ids = agent_ids(&out);
	CHECK_STR(after_ids, before_ids);
	free(before_ids);
	free(after_ids);
	buf_free(&out);
	buf_free(&before);
}

/* A synthetic IMA entry (ima-ng, sha256 file digest) appended to n's log;
 * extend 1: PCR 10 is extended as the kernel would (agent stopped). */
static void ima_append(struct deploy *d, struct node *n, const char *path,
		       const char *content, int extend)
{
	struct buf line = BUF_INIT;
	uint8_t e256[32], e1[20];
	CHECK_INT(soft_ima_entry(&line, path, content, strlen(content), e256, e1), 0);
	FILE *f = fopen(n->ima, "a");
	if (f) {
		fwrite(line.data, 1, line.len, f);
		fclose(f);
	}
	if (extend) {
		char cmd[512], *x256 = hex_encode_str(e256, 32), *x1 = hex_encode_str(e1, 20);
		snprintf(cmd, sizeof cmd, "tpm2_pcrextend -T '%s' 10:sha1=%s,sha256=%s "
			 ">/dev/null 2>&1", n->tcti, x1, x256);
		CHECK_INT(system(cmd), 0);
		free(x256);
		free(x1);
	}
	(void)d;
	buf_free(&line);
}

static const char *const *verifier_flags;

/* The IMA entry the verifier will ask c for next, from its database. */
static long long ima_progress(struct node *c)
{
	char path[200];
	sqlite3 *db;
	sqlite3_stmt *st;
	long long n = -1;
	snprintf(path, sizeof path, "%s/verifier/verifier.sqlite", D.dir);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_prepare_v2(db, "SELECT ima_next_entry FROM agents WHERE agent_id = ?",
			       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, c->uuid, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return n;
}

static char *policy_b64(const char *digests_json)
{
	struct buf p = BUF_INIT;
	buf_printf(&p, "{\"meta\": {\"version\": 1, \"generator\": 2}, \"release\": 0, \"digests\": %s,"
		   " \"excludes\": [], \"keyrings\": {}, \"ima\": {\"ignored_keyrings\": [],"
		   " \"log_hash_alg\": \"sha1\", \"dm_policy\": null}, \"ima-buf\": {},"
		   " \"verification-keys\": \"\"}", digests_json);
	char *s = b64_encode_str(p.data, p.len);
	buf_free(&p);
	return s;
}

static char *sha256_hex(const char *content)
{
	struct buf d = BUF_INIT;
	crypto_digest(EVP_sha256(), content, strlen(content), &d);
	char *s = hex_encode_str(d.data, d.len);
	buf_free(&d);
	return s;
}

/* IMA: a node whose log and PCR 10 agree passes; a listed file with a new
 * digest fails; re-enrolled with that digest allowed, an executed file
 * missing from the policy fails; an entry appended without extending
 * PCR 10 (a log edited after the fact) fails the replay. */
static void test_ima(struct node *c)
{
	char digests[1024], path[200];
	char *ok1 = sha256_hex("trusted one"), *ok2 = sha256_hex("trusted two"),
	     *changed = sha256_hex("trusted two, patched");
	struct buf out = BUF_INIT;
	snprintf(path, sizeof path, "/v2.5/agents/%s", c->uuid);

	snprintf(digests, sizeof digests, "{\"/usr/bin/one\": [\"%s\"], "
		 "\"/usr/bin/two\": [\"%s\"]}", ok1, ok2);
	char *pol = policy_b64(digests);
	runtime_policy_b64 = pol;
	CHECK_INT(enrol(c, c, "{\"mask\": \"0x0\"}", NULL), 200);
	json_t *st = wait_state(c, 3, 3, 20);
	CHECK_INT(json_integer_value(json_object_get(st, "operational_state")), 3);
	CHECK_INT(json_integer_value(json_object_get(st, "has_runtime_policy")), 1);
	long long count = json_integer_value(json_object_get(st, "attestation_count"));
	json_decref(st);

	/* A verifier restart keeps the IMA progress: both entries stay
	 * verified and the next fetch starts after them. */
	daemon_stop(D.ver, 0);
	CHECK_INT(ima_progress(c), 2);
	CHECK_INT(deploy_start_verifier(&D, verifier_flags), 0);
	st = wait_state(c, 3, count + 2, 20);
	CHECK(json_integer_value(json_object_get(st, "attestation_count")) >= count + 2);
	json_decref(st);
	CHECK_INT(ima_progress(c), 2);

	/* /usr/bin/two changes: a digest the policy does not list. */
	daemon_stop(c->pid, 0);
	ima_append(&D, c, "/usr/bin/two", "trusted two, patched", 1);
	CHECK_INT(node_start(&D, c, "rsassa", "rsa"), 0);
	st = wait_state(c, 9, 0, 20);
	const char *why = json_string_value(json_object_get(st, "failure_reason"));
	CHECK(why && strstr(why, "file /usr/bin/two: digest sha256:") && strstr(why, "not in policy"));
	json_decref(st);
	CHECK_INT(verifier("DELETE", path, NULL, &out), 200);
	free(pol);

	/* Re-enrolled with the patched digest allowed; then a file the policy
	 * does not know runs. */
	snprintf(digests, sizeof digests, "{\"/usr/bin/one\": [\"%s\"], "
		 "\"/usr/bin/two\": [\"%s\", \"%s\"]}", ok1, ok2, changed);
	pol = policy_b64(digests);
	runtime_policy_b64 = pol;
	CHECK_INT(enrol(c, c, "{\"mask\": \"0x0\"}", NULL), 200);
	st = wait_state(c, 3, 2, 20);
	CHECK_INT(json_integer_value(json_object_get(st, "operational_state")), 3);
	json_decref(st);
	daemon_stop(c->pid, 0);
	ima_append(&D, c, "/usr/bin/evil", "not in any policy", 1);
	CHECK_INT(node_start(&D, c, "rsassa", "rsa"), 0);
	st = wait_state(c, 9, 0, 20);
	why = json_string_value(json_object_get(st, "failure_reason"));
	CHECK(why && strstr(why, "file /usr/bin/evil not in policy") != NULL);
	json_decref(st);
	CHECK_INT(verifier("DELETE", path, NULL, &out), 200);
	free(pol);

	/* Everything allowed; then the log grows without PCR 10 following. */
	char *evil = sha256_hex("not in any policy"), *forged = sha256_hex("forged");
	snprintf(digests, sizeof digests, "{\"/usr/bin/one\": [\"%s\"], "
		 "\"/usr/bin/two\": [\"%s\", \"%s\"], \"/usr/bin/evil\": [\"%s\"], "
		 "\"/usr/bin/forged\": [\"%s\"]}", ok1, ok2, changed, evil, forged);
	free(evil);
	free(forged);
	pol = policy_b64(digests);
	runtime_policy_b64 = pol;
	CHECK_INT(enrol(c, c, "{\"mask\": \"0x0\"}", NULL), 200);
	st = wait_state(c, 3, 2, 20);
	CHECK_INT(json_integer_value(json_object_get(st, "operational_state")), 3);
	json_decref(st);
	ima_append(&D, c, "/usr/bin/forged", "forged", 0);
	st = wait_state(c, 9, 0, 20);
	why = json_string_value(json_object_get(st, "failure_reason"));
	CHECK(why && strstr(why, "PCR 10") != NULL);
	if (why)
		printf("  (replay failure: %s)\n", why);
	json_decref(st);
	runtime_policy_b64 = NULL;
	free(pol);
	free(ok1);
	free(ok2);
	free(changed);
	buf_free(&out);
}

/* Measures into n's TPM what the UEFI log says: every event but
 * EV_NO_ACTION extended into its PCR, in every bank. (swtpm starts at
 * locality 0, so the log must carry no StartupLocality event.) */
static int boot_tpm(struct node *n, const struct uefi_log *log)
{
	char cmd[1024];
	for (size_t i = 1; i < log->nevents; i++) {
		const struct uefi_event *e = &log->events[i];
		if (e->type == 3)	/* EV_NO_ACTION: never extended */
			continue;
		int off = snprintf(cmd, sizeof cmd, "tpm2_pcrextend -T '%s' %u:", n->tcti, e->pcr);
		for (size_t b = 0; b < log->nalgs; b++) {
			off += snprintf(cmd + off, sizeof cmd - (size_t)off, "%s%s=", b ? "," : "",
					log->alg[b] == 0x4 ? "sha1" : log->alg[b] == 0xb ? "sha256"
					: "sha384");
			for (size_t k = 0; k < log->alg_size[b]; k++)
				off += snprintf(cmd + off, sizeof cmd - (size_t)off, "%02x",
						e->digest[b][k]);
		}
		snprintf(cmd + off, sizeof cmd - (size_t)off, " >/dev/null 2>&1");
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

/* Measured boot: a node whose UEFI log matches its PCRs passes the
 * reference state made from that log; a reference state wanting another
 * kernel fails with the reason. */
static void test_measured_boot(struct node *d, const char *log_path)
{
	struct buf raw = BUF_INIT, ref = BUF_INIT, out = BUF_INIT;
	struct uefi_log log;
	struct uefi_boot_state st;
	char err[256], path[200];
	memset(&log, 0, sizeof log);
	CHECK_INT(file_read(log_path, 1 << 20, &raw), 0);
	CHECK_INT(uefi_log_parse(raw.data, raw.len, &log, err, sizeof err), 0);
	/* The log was made for a TPM started at locality 3: drop its
	 * StartupLocality event (the first EV_NO_ACTION after the header). */
	for (size_t i = 1; i + 1 < log.nevents; i++) {
		if (log.events[i].type != 3)
			continue;
		size_t from = log.events[i].offset, to = log.events[i + 1].offset;
		struct buf cut = BUF_INIT;
		buf_append(&cut, raw.data, from);
		buf_append(&cut, raw.data + to, raw.len - to);
		buf_free(&raw);
		raw = cut;
		break;
	}
	uefi_log_free(&log);
	memset(&log, 0, sizeof log);
	CHECK_INT(uefi_log_parse(raw.data, raw.len, &log, err, sizeof err), 0);
	CHECK_INT(log.locality, -1);
	file_write_atomic(log_path, raw.data, raw.len, 0644);
	CHECK_INT(uefi_boot_state_build(&log, &st, err, sizeof err), 0);
	CHECK_INT(mb_refstate_create(&st, false, &ref, err, sizeof err), 0);
	uefi_boot_state_free(&st);
	CHECK_INT(boot_tpm(d, &log), 0);
	setenv("UEFI_LOG", log_path, 1);
	CHECK_INT(node_start(&D, d, "rsassa", "rsa"), 0);
	unsetenv("UEFI_LOG");

	mb_policy_json = (const char *)ref.data;
	CHECK_INT(enrol(d, d, "{\"mask\": \"0x0\"}", NULL), 200);
	json_t *s = wait_state(d, 3, 2, 20);
	CHECK_INT(json_integer_value(json_object_get(s, "operational_state")), 3);
	CHECK_INT(json_integer_value(json_object_get(s, "has_mb_refstate")), 1);
	json_decref(s);
	snprintf(path, sizeof path, "/v2.5/agents/%s", d->uuid);
	CHECK_INT(verifier("DELETE", path, NULL, &out), 200);

	/* The same reference state, but a kernel digest the log does not have. */
	char *k = strstr((char *)ref.data, "\"kernel_authcode_sha256\": \"0x");
	CHECK(k != NULL);
	if (k) {
		char *hex = k + strlen("\"kernel_authcode_sha256\": \"0x");
		*hex = *hex == 'a' ? 'b' : 'a';
	}
	CHECK_INT(enrol(d, d, "{\"mask\": \"0x0\"}", NULL), 200);
	s = wait_state(d, 9, 0, 20);
	const char *why = json_string_value(json_object_get(s, "failure_reason"));
	CHECK(why && strstr(why, "measured boot") != NULL);
	if (why)
		printf("  (measured boot failure: %s)\n", why);
	json_decref(s);
	mb_policy_json = NULL;
	uefi_log_free(&log);
	buf_free(&raw);
	buf_free(&ref);
	buf_free(&out);
}

static void test_policies(void)
{
	struct buf out = BUF_INIT;
	const char *body = "{\"runtime_policy\": \"eyJtZXRhIjp7InZlcnNpb24iOjF9fQ==\"}";
	CHECK_INT(verifier("POST", "/v2.5/allowlists/base", body, &out), 201);
	CHECK_INT(verifier("POST", "/v2.5/allowlists/base", body, &out), 409);
	CHECK_INT(verifier("GET", "/v2.5/allowlists/base", NULL, &out), 200);
	CHECK(strstr((char *)out.data, "version") != NULL);
	CHECK_INT(verifier("GET", "/v2.5/allowlists/", NULL, &out), 200);
	CHECK(strstr((char *)out.data, "\"base\"") != NULL);
	CHECK_INT(verifier("POST", "/v2.5/allowlists/bad", "{\"runtime_policy\": \"!!\"}", &out), 400);
	CHECK_INT(verifier("POST", "/v2.5/allowlists/bad", "{\"runtime_policy\": \"WzFd\"}", &out), 400);
	CHECK_INT(verifier("POST", "/v2.5/allowlists/bad", "{\"runtime_policy\": \"\"}", &out), 400);
	CHECK_INT(verifier("DELETE", "/v2.5/allowlists/base", NULL, &out), 204);
	CHECK_INT(verifier("GET", "/v2.5/allowlists/base", NULL, &out), 404);
	CHECK_INT(verifier("POST", "/v2.5/mbpolicies/mb", "{\"mb_policy\": \"{}\"}", &out), 201);
	CHECK_INT(verifier("PUT", "/v2.5/mbpolicies/other", "{\"mb_policy\": \"{}\"}", &out), 409);
	CHECK_INT(verifier("DELETE", "/v2.5/mbpolicies/mb", NULL, &out), 204);
	buf_free(&out);
}

/* A fake agent that answers every quote request with a quote over an old
 * nonce (a replay): signed by its own AK, PCR 16 right, everything valid
 * but the freshness. */
struct replayer {
	EVP_PKEY *ak;
	struct tpm_public pub;
	char *nk_pem;
	struct pcr_bank bank;
	uint64_t clock;
	struct event_base *base;
	volatile int stop;
};

static void replay_handler(struct http_request *req, struct http_response *resp,
			   void *arg)
{
	struct replayer *r = arg;
	struct buf q = BUF_INIT;
	const char *old = "anoncefromyesterday";
	soft_quote(r->ak, r->pub.name, r->pub.name_len, (const uint8_t *)old,
		   strlen(old), &r->bank, ++r->clock, &q);
	http_reply(resp, 200, "Success", json_pack("{s:s, s:s, s:s, s:s, s:s}",
		   "quote", (char *)q.data, "hash_alg", "sha256", "enc_alg", "rsa",
		   "sign_alg", "ecdsa", "pubkey", r->nk_pem));
	buf_free(&q);
}

static void replay_tick(evutil_socket_t fd, short what, void *arg)
{
	struct replayer *r = arg;
	if (r->stop)
		event_base_loopbreak(r->base);
}

static void *replay_thread(void *arg)
{
	struct replayer *r = arg;
	struct event *t = event_new(r->base, -1, EV_PERSIST, replay_tick, r);
	struct timeval tv = { 0, 50000 };
	event_add(t, &tv);
	event_base_dispatch(r->base);
	event_free(t);
	return NULL;
}

static void test_stale_nonce(struct node *witness)
{
	struct replayer r;
	char err[256], cert_path[200], key_path[200], path[200], revoked[300];
	struct buf pub = BUF_INIT, pem = BUF_INIT, cert_pem = BUF_INIT, keypem = BUF_INIT,
		   out = BUF_INIT;
	memset(&r, 0, sizeof r);
	r.ak = crypto_ec_generate("P-256");
	CHECK_INT(tpm_soft_ak_public(r.ak, &pub), 0);
	CHECK_INT(tpm_public_parse(pub.data, pub.len, &r.pub, err, sizeof err), 0);
	EVP_PKEY *nk = crypto_rsa_generate(2048);
	crypto_key_to_pem(nk, 0, &pem);
	r.nk_pem = (char *)pem.data;
	r.bank.alg = TPM2_ALG_SHA256;
	r.bank.size = 32;
	r.bank.mask = 1u << 16;
	quote_data_pcr_expected(TPM2_ALG_SHA256, r.nk_pem, strlen(r.nk_pem), r.bank.value[16]);
	/* Its TLS identity, self-signed like a Keylime agent's. */
	struct crypto_cert_spec spec = { "replayer", "127.0.0.1", NULL, 1, 0 };
	EVP_PKEY *tls_key = crypto_ec_generate("P-256");
	X509 *tls_cert = crypto_cert_issue(tls_key, &spec, NULL, NULL);
	snprintf(cert_path, sizeof cert_path, "%s/replayer.pem", D.dir);
	snprintf(key_path, sizeof key_path, "%s/replayer.key", D.dir);
	crypto_cert_save(cert_path, tls_cert);
	crypto_key_save(key_path, tls_key);
	crypto_cert_to_pem(tls_cert, &cert_pem);
	struct http_tls tls = { cert_path, key_path, D.ca };
	int port = daemon_free_port();
	r.base = event_base_new();
	struct http_server_config sc = { "127.0.0.1", port, &tls, 1 << 16, 10,
					 replay_handler, &r };
	struct http_server *srv = http_server_start(r.base, &sc, err, sizeof err);
	CHECK(srv != NULL);
	pthread_t th;
	pthread_create(&th, NULL, replay_thread, &r);

	char *ak64 = b64_encode_str(pub.data, pub.len);
	crypto_key_to_pem(rev_key, 1, &keypem);
	json_t *body = json_pack(
		"{s:s, s:i, s:s, s:s, s:s, s:n, s:s, s:s, s:s, s:s, s:[s], s:[s], s:[s],"
		" s:s, s:s, s:s}",
		"cloudagent_ip", "127.0.0.1", "cloudagent_port", port,
		"tpm_policy", "{\"mask\": \"0x0\"}", "runtime_policy", "",
		"runtime_policy_name", "", "mb_policy", "mb_policy_name", "",
		"ima_sign_verification_keys", "", "metadata", "{}",
		"revocation_key", (char *)keypem.data,
		"accept_tpm_hash_algs", "sha256", "accept_tpm_encryption_algs", "rsa",
		"accept_tpm_signing_algs", "ecdsa", "ak_tpm", ak64,
		"mtls_cert", (char *)cert_pem.data, "supported_version", "2.5");
	char *bs = json_dumps(body, 0);
	CHECK_INT(verifier("POST", "/v2.5/agents/replayer", bs, &out), 200);
	/* The node standing by gets the signed notice. */
	snprintf(revoked, sizeof revoked, "%s/revoked", witness->dir);
	unlink(revoked);
	struct node fake;
	memset(&fake, 0, sizeof fake);
	snprintf(fake.uuid, sizeof fake.uuid, "replayer");
	json_t *st = wait_state(&fake, 9, 0, 20);
	const char *why = json_string_value(json_object_get(st, "failure_reason"));
	CHECK(why && strstr(why, "nonce") != NULL);
	if (why)
		printf("  (stale nonce: %s)\n", why);
	json_decref(st);
	CHECK_INT(deploy_wait_file(revoked, 10), 0);
	struct buf rec = BUF_INIT;
	file_read(revoked, 65536, &rec);
	CHECK(rec.data && strstr((char *)rec.data, "\"agent_id\": \"replayer\"") != NULL);
	buf_free(&rec);
	snprintf(path, sizeof path, "/v2.5/agents/replayer");
	CHECK_INT(verifier("DELETE", path, NULL, &out), 200);

	r.stop = 1;
	pthread_join(th, NULL);
	http_server_free(srv);
	event_base_free(r.base);
	free(bs);
	free(ak64);
	json_decref(body);
	tpm_public_free(&r.pub);
	EVP_PKEY_free(r.ak);
	EVP_PKEY_free(nk);
	EVP_PKEY_free(tls_key);
	X509_free(tls_cert);
	buf_free(&pub);
	buf_free(&pem);
	buf_free(&cert_pem);
	buf_free(&keypem);
	buf_free(&out);
}

int main(void)
{
	if (!swtpm_available())
		CHECK_SKIP("swtpm or swtpm_setup is not installed");
	if (deploy_init(&D) < 0)
		CHECK_SKIP("cannot create a temporary directory");
	rev_key = crypto_rsa_generate(2048);
	struct crypto_cert_spec spec = { "revocation", NULL, NULL, 30, 0 };
	rev_cert = crypto_cert_issue(rev_key, &spec, NULL, NULL);
	/* Retries cover an agent restarting (IMA tests) yet fail a dead one
	 * within seconds. */
	const char *const fast[] = { "--quote-interval-ms", "300", "--retry-interval-ms",
				     "300", "--max-retries", "8", NULL };
	verifier_flags = fast;

	struct node nodes[4];
	struct node *a = &nodes[0], *b = &nodes[1], *c = &nodes[2], *d = &nodes[3];
	struct buf out = BUF_INIT;
	char path[300], marker[300], revoked_a[300], revoked_b[300];
	CHECK_INT(deploy_start_registrar(&D), 0);
	CHECK_INT(deploy_start_verifier(&D, fast), 0);
	CHECK_INT(node_init(&D, a, "node-a", "agent-a"), 0);
	CHECK_INT(node_init(&D, b, "node-b", "agent-b"), 0);
	CHECK_INT(node_init(&D, c, "node-c", "agent-c"), 0);
	CHECK_INT(node_init(&D, d, "node-d", "agent-d"), 0);
	/* Node C's IMA log: two files, PCR 10 extended to match. */
	unlink(c->ima);
	ima_append(&D, c, "/usr/bin/one", "trusted one", 1);
	ima_append(&D, c, "/usr/bin/two", "trusted two", 1);
	int up = node_start(&D, a, "rsassa", "rsa") == 0 && node_start(&D, b, "ecdsa", "rsa") == 0 &&
		 node_start(&D, c, "rsassa", "rsa") == 0;
	CHECK(up);
	if (!up)
		goto out;
	snprintf(marker, sizeof marker, "%s/secure/unzipped/autorun-ran", a->dir);
	snprintf(revoked_a, sizeof revoked_a, "%s/revoked", a->dir);
	snprintf(revoked_b, sizeof revoked_b, "%s/revoked", b->dir);

	/* A healthy agent: Get Quote, attestations counting, payload. */
	CHECK_INT(enrol(a, a, "{\"mask\": \"0x400\", \"23\": [\"0000000000000000000000000000000000000000000000000000000000000000\"]}", NULL), 200);
	json_t *st = wait_state(a, 3, 3, 20);
	CHECK_INT(json_integer_value(json_object_get(st, "operational_state")), 3);
	CHECK(json_integer_value(json_object_get(st, "attestation_count")) >= 3);
	CHECK_STR(json_string_value(json_object_get(st, "attestation_status")), "PASS");
	CHECK_STR(json_string_value(json_object_get(st, "hash_alg")), "sha256");
	json_decref(st);
	CHECK_INT(deploy_wait_file(marker, 10), 0);

	test_bad_input(a, b);
	test_policies();
	test_ima(c);
	char uefi[300], src[300];
	snprintf(src, sizeof src, "%s/verifier/tests/data/uefi-secureboot.bin",
		 getenv("ASSAY_SOURCE_ROOT") ? getenv("ASSAY_SOURCE_ROOT") : ".");
	snprintf(uefi, sizeof uefi, "%s/uefi-secureboot.bin", D.dir);
	struct buf u = BUF_INIT;
	CHECK_INT(file_read(src, 1 << 20, &u), 0);
	file_write_atomic(uefi, u.data, u.len, 0644);
	buf_free(&u);
	test_measured_boot(d, uefi);

	/* The verifier restarts: the agent goes on being attested. */
	daemon_stop(D.ver, 0);
	CHECK_INT(deploy_start_verifier(&D, fast), 0);
	st = wait_state(a, 3, 0, 5);
	long long before = json_integer_value(json_object_get(st, "attestation_count"));
	json_decref(st);
	st = wait_state(a, 3, before + 2, 20);
	CHECK(json_integer_value(json_object_get(st, "attestation_count")) >= before + 2);
	json_decref(st);

	/* Agent B's TPM policy wants PCR 23 non-zero: Invalid Quote with the
	 * reason, and agent A receives a signed revocation and acts on it.
	 * (A has recorded node C's notices already: start afresh.) */
	unlink(revoked_a);
	CHECK_INT(enrol(b, b, "{\"mask\": \"0x0\", \"23\": [\"0000000000000000000000000000000000000000000000000000000000000001\"]}", NULL), 200);
	st = wait_state(b, 9, 0, 20);
	CHECK_INT(json_integer_value(json_object_get(st, "operational_state")), 9);
	CHECK_STR(json_string_value(json_object_get(st, "attestation_status")), "FAIL");
	const char *why = json_string_value(json_object_get(st, "failure_reason"));
	CHECK(why && strstr(why, "PCR 23 is 0000") != NULL);
	CHECK_STR(json_string_value(json_object_get(st, "last_event_id")),
		  "pcr_validation.invalid_pcr_23");
	json_decref(st);
	CHECK_INT(deploy_wait_file(revoked_a, 10), 0);
	struct buf rec = BUF_INIT;
	file_read(revoked_a, 65536, &rec);
	CHECK(rec.data && strstr((char *)rec.data, "\"agent_id\": \"agent-b\"") != NULL);
	buf_free(&rec);

	/* A replayed quote (stale nonce): Invalid Quote, and A hears of it. */
	test_stale_nonce(a);

	/* Delete B and enrol it with A's AK: the quote is signed by another
	 * AK, which must fail. */
	snprintf(path, sizeof path, "/v2.5/agents/%s", b->uuid);
	CHECK_INT(verifier("DELETE", path, NULL, &out), 200);
	CHECK_INT(verifier("GET", path, NULL, &out), 404);
	CHECK_INT(enrol(b, a, "{\"mask\": \"0x0\"}", NULL), 200);
	st = wait_state(b, 9, 0, 20);
	why = json_string_value(json_object_get(st, "failure_reason"));
	CHECK(why && strstr(why, "signature") != NULL);
	json_decref(st);

	/* Stop, then reactivate, agent A. */
	snprintf(path, sizeof path, "/v2.5/agents/%s/stop", a->uuid);
	CHECK_INT(verifier("PUT", path, "", &out), 200);
	st = wait_state(a, 10, 0, 5);
	CHECK_INT(json_integer_value(json_object_get(st, "operational_state")), 10);
	json_decref(st);
	snprintf(path, sizeof path, "/v2.5/agents/%s/reactivate", a->uuid);
	CHECK_INT(verifier("PUT", path, "", &out), 200);
	st = wait_state(a, 3, 0, 10);
	CHECK_INT(json_integer_value(json_object_get(st, "operational_state")), 3);
	json_decref(st);
	CHECK_INT(verifier("PUT", "/v2.5/agents/nobody/reactivate", "", &out), 400);

	/* An agent that goes away fails after its retries. */
	daemon_stop(a->pid, 0);
	a->pid = -1;
	st = wait_state(a, 7, 0, 20);
	CHECK_INT(json_integer_value(json_object_get(st, "operational_state")), 7);
	json_decref(st);

	CHECK_INT(deploy_fetch(&D, D.ver_port, 1, "GET", "/metrics", NULL, &out), 200);
	CHECK(strstr((char *)out.data, "assay_verifier_attestations_total") != NULL);
	CHECK(strstr((char *)out.data, "assay_verifier_agents{state=\"invalid_quote\"} 3") != NULL);
out:
	buf_free(&out);
	X509_free(rev_cert);
	EVP_PKEY_free(rev_key);
	int failed = check_done();
	deploy_finish(&D, nodes, 4, failed);
	return failed;
}
