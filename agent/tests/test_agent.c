/* End to end on swtpm: registrar and agent as processes.
 *
 * The agent registers and activates; the admin API lists it active; quotes
 * verify against the AK the registrar vouches for (nonce, signature, PCR
 * digest, PCR 16 bound to the payload key); the IMA and UEFI logs come
 * along; U and V combine into K, the payload is unpacked and its autorun
 * runs; the key challenge answers; a signed revocation runs its action and
 * a forged one does not; the agent restarts with the same AK; a second
 * agent on a second swtpm registers too; bad input gets 4xx. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "attest/quote.h"
#include "crypto/crypto.h"
#include "tests/lib/deploy.h"
#include "tests/lib/swtpm.h"
#include "tpm/tpm_public.h"
#include "util/check.h"
#include "util/encode.h"
#include "util/file.h"

static struct deploy D;

static void registrar_shows(struct node *n, struct buf *ak_out)
{
	struct buf out = BUF_INIT;
	char path[200];
	snprintf(path, sizeof path, "/v2.5/agents/%s", n->uuid);
	CHECK_INT(deploy_fetch(&D, D.reg_tls_port, 1, "GET", path, NULL, &out), 200);
	json_t *r = deploy_results(&out);
	const char *ak = json_string_value(json_object_get(r, "aik_tpm"));
	CHECK(ak != NULL);
	if (ak && ak_out) {
		buf_reset(ak_out);
		b64_decode(ak_out, ak, strlen(ak));
	}
	CHECK(json_is_string(json_object_get(r, "ekcert")));
	CHECK(json_is_string(json_object_get(r, "mtls_cert")));
	json_decref(r);
	buf_free(&out);
}

/* Fetches a quote and verifies it as a verifier would. Returns the results
 * object for more checks. */
static json_t *check_quote(struct node *n, const struct buf *ak_pub,
			   const char *path, const char *nonce, uint32_t want_mask)
{
	struct buf out = BUF_INIT;
	char err[256];
	CHECK_INT(node_fetch(n, &D, "GET", path, NULL, &out), 200);
	json_t *r = deploy_results(&out);
	buf_free(&out);
	const char *qs = json_string_value(json_object_get(r, "quote"));
	const char *pub = json_string_value(json_object_get(r, "pubkey"));
	struct quote q;
	struct tpm_public ak;
	struct pcr_values pv;
	memset(&q, 0, sizeof q);
	CHECK(qs != NULL);
	CHECK_INT(tpm_public_parse(ak_pub->data, ak_pub->len, &ak, err, sizeof err), 0);
	int parsed = qs ? quote_parse(qs, &q, err, sizeof err) : -1;
	CHECK_INT(parsed, 0);
	if (parsed == 0) {
		int v = quote_verify(&q, ak.pkey, (const uint8_t *)nonce, strlen(nonce),
				     &pv, err, sizeof err);
		CHECK_INT(v, 0);
		if (v < 0)
			printf("  quote: %s\n", err);
		const struct pcr_bank *b = quote_pcr_bank(&pv, TPM2_ALG_SHA256);
		CHECK(b && b->mask == (want_mask | 1u << 16));
		if (pub)
			CHECK_INT(quote_check_data_pcr(&pv, TPM2_ALG_SHA256, pub,
						       strlen(pub), err, sizeof err), 0);
		/* A wrong nonce is caught. */
		CHECK_INT(quote_verify(&q, ak.pkey, (const uint8_t *)"x", 1, &pv, err,
				       sizeof err), -1);
	}
	quote_free(&q);
	tpm_public_free(&ak);
	return r;
}

static void test_quotes(struct node *n, const struct buf *ak_pub)
{
	json_t *r = check_quote(n, ak_pub, "/v2.1/quotes/identity?nonce=abc123", "abc123", 0);
	CHECK_STR(json_string_value(json_object_get(r, "hash_alg")), "sha256");
	CHECK_STR(json_string_value(json_object_get(r, "enc_alg")), "rsa");
	CHECK_STR(json_string_value(json_object_get(r, "sign_alg")), "rsassa");
	CHECK(json_is_string(json_object_get(r, "pubkey")));
	json_decref(r);

	r = check_quote(n, ak_pub, "/v2.5/quotes/integrity?nonce=N0nce&mask=0x401&partial=0",
			"N0nce", 0x401);
	CHECK_STR(json_string_value(json_object_get(r, "enc_alg")), "rsa2048");
	CHECK_INT(json_integer_value(json_object_get(r, "ima_measurement_list_entry")), 0);
	const char *ima = json_string_value(json_object_get(r, "ima_measurement_list"));
	CHECK(ima && strncmp(ima, "10 ", 3) == 0);
	if (getenv("UEFI_LOG"))
		CHECK(json_is_string(json_object_get(r, "mb_measurement_list")));
	size_t total = 0;
	for (const char *p = ima; p && *p; p++)
		total += *p == '\n';
	json_decref(r);

	/* Incremental: from entry 5, then from the end, then beyond it. */
	r = check_quote(n, ak_pub, "/v2.5/quotes/integrity?nonce=a&mask=0x400&partial=1&ima_ml_entry=5",
			"a", 0x400);
	CHECK(json_object_get(r, "pubkey") == NULL);
	CHECK_INT(json_integer_value(json_object_get(r, "ima_measurement_list_entry")), 5);
	const char *tail = json_string_value(json_object_get(r, "ima_measurement_list"));
	size_t lines = 0;
	for (const char *p = tail; p && *p; p++)
		lines += *p == '\n';
	CHECK_INT(lines, total - 5);
	json_decref(r);
	char path[200];
	snprintf(path, sizeof path, "/v2.5/quotes/integrity?nonce=b&mask=0x400&partial=1"
		 "&ima_ml_entry=%zu", total);
	r = check_quote(n, ak_pub, path, "b", 0x400);
	CHECK_STR(json_string_value(json_object_get(r, "ima_measurement_list")), "");
	json_decref(r);
	snprintf(path, sizeof path, "/v2.5/quotes/integrity?nonce=c&mask=0x400&partial=1"
		 "&ima_ml_entry=%zu", total + 10);
	r = check_quote(n, ak_pub, path, "c", 0x400);
	CHECK_INT(json_integer_value(json_object_get(r, "ima_measurement_list_entry")), 0);
	json_decref(r);
}

static void test_bad_input(struct node *n)
{
	struct buf out = BUF_INIT;
	static const char *const bad[] = {
		"/v2.1/quotes/identity?nonce=ab%20c",
		"/v2.1/quotes/identity",
		"/v2.1/quotes/identity?nonce=0123456789012345678901234567890123456789012345678901234567890123456789",
		"/v2.1/quotes/integrity?nonce=a&mask=zz&partial=0",
		"/v2.1/quotes/integrity?nonce=a&mask=0x1000000&partial=0",
		"/v2.1/quotes/integrity?nonce=a&mask=0x1&partial=2",
		"/v2.1/quotes/integrity?nonce=a&mask=0x1&partial=0&ima_ml_entry=x",
		"/v2.1/keys/verify?challenge=",
		"/v2.1/keys/verify?challenge=a-b",
		"/v2.1/nothing",
		"/v9.9/quotes/identity?nonce=a",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int st = node_fetch(n, &D, "GET", bad[i], NULL, &out);
		CHECK(st == 400);
		if (st != 400)
			printf("  %s -> %d\n", bad[i], st);
	}
	CHECK_INT(node_fetch(n, &D, "POST", "/v2.1/keys/ukey", "{", &out), 400);
	CHECK_INT(node_fetch(n, &D, "POST", "/v2.1/keys/ukey", "{\"encrypted_key\": 1}", &out), 400);
	CHECK_INT(node_fetch(n, &D, "POST", "/v2.1/keys/vkey", "{\"encrypted_key\": \"AAAA\"}", &out), 400);
	CHECK_INT(node_fetch(n, &D, "POST", "/v2.1/notifications/revocation", "{\"msg\": 1}", &out), 400);
	CHECK_INT(node_fetch(n, &D, "GET", "/v9.9/keys/pubkey", NULL, &out), 400);
	CHECK(strstr((char *)out.data, "API version not supported") != NULL);

	/* mTLS: no client certificate, or plain HTTP, gets nothing. */
	char url[128], err[256], pin[400];
	snprintf(pin, sizeof pin, "%s/server-cert.crt", n->dir);
	struct http_tls anon = { NULL, NULL, pin };
	struct http_client_config c = { &anon, 0, 5000, 1 << 16, NULL };
	snprintf(url, sizeof url, "https://127.0.0.1:%d/v2.1/keys/pubkey", n->port);
	CHECK_INT(http_fetch(&c, "GET", url, NULL, 0, &out, err, sizeof err), -1);
	c.tls = NULL;
	snprintf(url, sizeof url, "http://127.0.0.1:%d/v2.1/keys/pubkey", n->port);
	CHECK_INT(http_fetch(&c, "GET", url, NULL, 0, &out, err, sizeof err), -1);
	buf_free(&out);
}

static char *encrypt_half(EVP_PKEY *nk, const uint8_t *half)
{
	struct buf ct = BUF_INIT;
	crypto_rsa_oaep_encrypt(nk, EVP_sha1(), half, 32, &ct);
	char *s = b64_encode_str(ct.data, ct.len);
	buf_free(&ct);
	return s;
}

static void test_keys_and_revocation(struct node *n, struct node *other)
{
	struct buf out = BUF_INIT, zip = BUF_INIT, ct = BUF_INIT, tag = BUF_INIT;
	char marker[400], revoked[400], body[8192];
	CHECK_INT(node_fetch(n, &D, "GET", "/v2.1/keys/pubkey", NULL, &out), 200);
	json_t *r = deploy_results(&out);
	const char *pem = json_string_value(json_object_get(r, "pubkey"));
	EVP_PKEY *nk = pem ? crypto_key_from_pem(pem, strlen(pem), 0) : NULL;
	CHECK(nk != NULL);
	json_decref(r);
	if (!nk)
		return;

	/* The payload: an autorun that leaves a marker, the revocation
	 * certificate, and an action that records the notice. */
	/* Both run as the agent's user: they write where it may (autorun in
	 * the payload directory, actions in the state directory). */
	snprintf(marker, sizeof marker, "%s/secure/unzipped/autorun-ran", n->dir);
	snprintf(revoked, sizeof revoked, "%s/revoked", n->dir);
	EVP_PKEY *rev_key = crypto_rsa_generate(2048);
	struct crypto_cert_spec spec = { "revocation", NULL, NULL, 30, 0 };
	X509 *rev_cert = crypto_cert_issue(rev_key, &spec, NULL, NULL);
	CHECK_INT(deploy_payload(rev_cert, &zip), 0);

	uint8_t k[32], u[32], v[32];
	crypto_random(k, 32);
	crypto_random(u, 32);
	for (int i = 0; i < 32; i++)
		v[i] = k[i] ^ u[i];
	crypto_aes_gcm_encrypt(k, zip.data, zip.len, &ct);
	crypto_hmac(EVP_sha384(), k, 32, n->uuid, strlen(n->uuid), &tag);
	char *tag_hex = hex_encode_str(tag.data, tag.len);
	char *payload = b64_encode_str(ct.data, ct.len);
	char *eu = encrypt_half(nk, u), *ev = encrypt_half(nk, v);

	/* A U with a wrong auth tag never combines. */
	char wrong[97];
	snprintf(wrong, sizeof wrong, "%s", tag_hex);
	wrong[0] = wrong[0] == '0' ? '1' : '0';
	snprintf(body, sizeof body, "{\"encrypted_key\":\"%s\",\"auth_tag\":\"%s\"}", eu, wrong);
	CHECK_INT(node_fetch(n, &D, "POST", "/v2.1/keys/ukey", body, &out), 200);
	CHECK_INT(node_fetch(n, &D, "GET", "/v2.1/keys/verify?challenge=abc", NULL, &out), 400);

	struct buf big = BUF_INIT;
	buf_printf(&big, "{\"encrypted_key\":\"%s\",\"auth_tag\":\"%s\",\"payload\":\"%s\"}",
		   eu, tag_hex, payload);
	CHECK_INT(node_fetch(n, &D, "POST", "/v2.1/keys/ukey", (char *)big.data, &out), 200);
	snprintf(body, sizeof body, "{\"encrypted_key\":\"%s\"}", ev);
	CHECK_INT(node_fetch(n, &D, "POST", "/v2.1/keys/vkey", body, &out), 200);

	/* The autorun runs detached: give it a moment. */
	for (int i = 0; i < 50 && access(marker, F_OK) != 0; i++) {
		struct timespec ts = { 0, 100 * 1000000L };
		nanosleep(&ts, NULL);
	}
	CHECK_INT(access(marker, F_OK), 0);

	CHECK_INT(node_fetch(n, &D, "GET", "/v2.1/keys/verify?challenge=Chal1", NULL, &out), 200);
	r = deploy_results(&out);
	struct buf mac = BUF_INIT;
	crypto_hmac(EVP_sha384(), k, 32, "Chal1", 5, &mac);
	char *mac_hex = hex_encode_str(mac.data, mac.len);
	CHECK_STR(json_string_value(json_object_get(r, "hmac")), mac_hex);
	json_decref(r);

	/* Revocation: forged signature refused, nothing runs. */
	const char *msg = "{\"type\":\"revocation\",\"agent_id\":\"other\"}";
	struct buf sig = BUF_INIT;
	crypto_rsa_pss_sign(rev_key, msg, strlen(msg), &sig);
	char *sig_b64 = b64_encode_str(sig.data, sig.len);
	json_t *jb = json_pack("{s:s, s:s}", "msg", "{\"type\":\"revocation\",\"agent_id\":\"forged\"}",
			       "signature", sig_b64);
	char *jbs = json_dumps(jb, 0);
	CHECK_INT(node_fetch(n, &D, "POST", "/v2.1/notifications/revocation", jbs, &out), 400);
	CHECK(access(revoked, F_OK) != 0);
	free(jbs);
	json_decref(jb);
	/* A notice to an agent with no revocation certificate yet. */
	jb = json_pack("{s:s, s:s}", "msg", msg, "signature", sig_b64);
	jbs = json_dumps(jb, 0);
	if (other)
		CHECK_INT(node_fetch(other, &D, "POST", "/v2.1/notifications/revocation",
				      jbs, &out), 409);
	CHECK_INT(node_fetch(n, &D, "POST", "/v2.1/notifications/revocation", jbs, &out), 200);
	struct buf rec = BUF_INIT;
	CHECK_INT(file_read(revoked, 4096, &rec), 0);
	CHECK_STR((char *)rec.data, msg);
	free(jbs);
	json_decref(jb);

	free(sig_b64);
	free(mac_hex);
	free(tag_hex);
	free(payload);
	free(eu);
	free(ev);
	buf_free(&rec);
	buf_free(&sig);
	buf_free(&mac);
	buf_free(&big);
	X509_free(rev_cert);
	EVP_PKEY_free(rev_key);
	EVP_PKEY_free(nk);
	buf_free(&out);
	buf_free(&zip);
	buf_free(&ct);
	buf_free(&tag);
}

int main(void)
{
	if (!swtpm_available())
		CHECK_SKIP("swtpm or swtpm_setup is not installed");
	if (deploy_init(&D) < 0)
		CHECK_SKIP("cannot create a temporary directory");
	char uefi[PATH_MAX];
	const char *fx = getenv("ASSAY_FIXTURES");
	snprintf(uefi, sizeof uefi, "%s/keylime/uefi/binary_bios_measurements", fx ? fx : ".");
	if (access(uefi, R_OK) == 0)
		setenv("UEFI_LOG", uefi, 1);
	else
		printf("note: UEFI fixture %s absent; mb_measurement_list not checked\n", uefi);

	CHECK_INT(deploy_start_registrar(&D), 0);
	/* The agent's mTLS CA: the registrar's generated CA also issued the
	 * client certificate this test (playing verifier) presents. */
	struct node nodes[2];
	struct node *a = &nodes[0], *b = &nodes[1];
	CHECK_INT(node_init(&D, a, "node-a", "d432fbb3-d2f1-4a97-9ef7-75bd81c00000"), 0);
	CHECK_INT(node_init(&D, b, "node-b", "hash_ek"), 0);
	int up = node_start(&D, a, "rsassa", "rsa");
	CHECK_INT(up, 0);
	struct buf ak = BUF_INIT, ak_again = BUF_INIT, out = BUF_INIT;
	if (up == 0) {
		registrar_shows(a, &ak);
		test_quotes(a, &ak);
		test_bad_input(a);

		/* Restart: same AK, registered again. */
		daemon_stop(a->pid, 0);
		CHECK_INT(node_start(&D, a, "rsassa", "rsa"), 0);
		registrar_shows(a, &ak_again);
		CHECK(ak.len && ak.len == ak_again.len &&
		      memcmp(ak.data, ak_again.data, ak.len) == 0);

		/* A second agent on its own TPM, ECC AK, uuid from its EK. */
		CHECK_INT(node_start(&D, b, "ecdsa", "rsa"), 0);
		CHECK_INT(deploy_fetch(&D, D.reg_tls_port, 1, "GET", "/v2.1/agents/", NULL, &out), 200);
		json_t *r = deploy_results(&out);
		CHECK_INT(json_array_size(json_object_get(r, "uuids")), 2);
		json_decref(r);

		test_keys_and_revocation(a, b);

		/* Registrar restart keeps both. */
		daemon_stop(D.reg, 0);
		CHECK_INT(deploy_start_registrar(&D), 0);
		CHECK_INT(deploy_fetch(&D, D.reg_tls_port, 1, "GET", "/v2.1/agents/", NULL, &out), 200);
		CHECK(strstr((char *)out.data, a->uuid) != NULL);
	}
	buf_free(&ak);
	buf_free(&ak_again);
	buf_free(&out);
	int failed = check_done();
	deploy_finish(&D, nodes, 2, failed);
	return failed;
}
