/* fleet_sim: N simulated agents serving Keylime's agent API on loopback.
 *
 * Each agent has its own ECDSA P-256 AK in software, quotes PCR 10 (its
 * IMA log, one entry longer at every quote), PCR 16 (bound to the payload
 * key) and whatever the mask asks, and serves its IMA list from the entry
 * asked. Quotes are built by soft_quote: the verifier checks them exactly
 * as real ones. One payload key is shared by all (RSA key generation would
 * dominate the start-up); every agent listens on its own port.
 *
 *   fleet_sim -n N -p FIRST_PORT --verifier https://127.0.0.1:8881
 *             --tls-dir DIR [--no-ima]
 *
 * It enrols every agent with the verifier (plain HTTP to the agents: run
 * the verifier with --enable-agent-mtls=false), prints "ready", then
 * serves until killed. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "attest/soft_quote.h"
#include "crypto/crypto.h"
#include "http/http.h"
#include "tpm/soft.h"
#include "tpm/tpm_public.h"
#include "util/encode.h"

struct sim_agent {
	int port;
	char id[32];
	EVP_PKEY *ak;
	uint8_t name[TPM_NAME_MAX];
	size_t name_len;
	struct buf ak_tpm;
	struct pcr_bank bank;	/* sha256 */
	struct buf ima;		/* the log */
	uint64_t entries;
	uint64_t clock;
	struct http_server *srv;
};

static struct sim_agent *agents;
static int n_agents, with_ima = 1;
static char *nk_pem;

static void extend(uint8_t pcr[32], const uint8_t ev[32])
{
	struct buf b = BUF_INIT, d = BUF_INIT;
	buf_append(&b, pcr, 32);
	buf_append(&b, ev, 32);
	crypto_digest(EVP_sha256(), b.data, b.len, &d);
	memcpy(pcr, d.data, 32);
	buf_free(&b);
	buf_free(&d);
}

static void grow_ima(struct sim_agent *a)
{
	uint8_t e256[32], e1[20];
	char content[64];
	snprintf(content, sizeof content, "app build %llu", (unsigned long long)a->entries % 4);
	soft_ima_entry(&a->ima, "/usr/bin/app", content, strlen(content), e256, e1);
	extend(a->bank.value[10], e256);
	a->entries++;
}

/* Byte offset of entry n in the log (entries are one line each). */
static size_t ima_offset(const struct sim_agent *a, uint64_t n)
{
	size_t off = 0;
	for (uint64_t i = 0; i < n && off < a->ima.len; i++) {
		const char *nl = memchr(a->ima.data + off, '\n', a->ima.len - off);
		if (!nl)
			break;
		off = (size_t)((const uint8_t *)nl - a->ima.data) + 1;
	}
	return off;
}

static void handler(struct http_request *req, struct http_response *resp, void *arg)
{
	struct sim_agent *a = arg;
	if (req->n_segments == 2 && strcmp(req->segments[0], "keys") == 0 &&
	    strcmp(req->segments[1], "vkey") == 0) {
		http_reply(resp, 200, "Success", NULL);
		return;
	}
	if (req->n_segments != 2 || strcmp(req->segments[1], "integrity") != 0) {
		http_reply(resp, 400, "URI not supported", NULL);
		return;
	}
	const char *nonce = http_query(req, "nonce");
	const char *mask_s = http_query(req, "mask");
	const char *partial = http_query(req, "partial");
	const char *entry_s = http_query(req, "ima_ml_entry");
	if (!nonce || !mask_s) {
		http_reply(resp, 400, "nonce and mask required", NULL);
		return;
	}
	if (with_ima)
		grow_ima(a);
	struct pcr_bank b = a->bank;
	b.mask = (uint32_t)strtoul(mask_s, NULL, 16) | 1u << 16;
	struct buf q = BUF_INIT;
	soft_quote(a->ak, a->name, a->name_len, (const uint8_t *)nonce, strlen(nonce), &b,
		   ++a->clock, &q);
	json_t *res = json_pack("{s:s, s:s, s:s, s:s}", "quote", (char *)q.data,
				"hash_alg", "sha256", "enc_alg", "rsa", "sign_alg", "ecdsa");
	buf_free(&q);
	if (partial && strcmp(partial, "0") == 0)
		json_object_set_new(res, "pubkey", json_string(nk_pem));
	if (with_ima) {
		uint64_t from = entry_s ? strtoull(entry_s, NULL, 10) : 0;
		if (from > a->entries)
			from = 0;
		size_t off = ima_offset(a, from);
		json_object_set_new(res, "ima_measurement_list",
				    json_stringn((char *)a->ima.data + off, a->ima.len - off));
		json_object_set_new(res, "ima_measurement_list_entry", json_integer((json_int_t)from));
	}
	http_reply(resp, 200, "Success", res);
}

static const char *policy_b64(void)
{
	static char *b64;
	if (b64)
		return b64;
	struct buf p = BUF_INIT;
	buf_append_str(&p, "{\"meta\":{\"version\":1,\"generator\":2},\"release\":0,"
		       "\"digests\":{\"/usr/bin/app\":[");
	for (int i = 0; i < 4; i++) {
		char content[64];
		struct buf d = BUF_INIT;
		snprintf(content, sizeof content, "app build %d", i);
		crypto_digest(EVP_sha256(), content, strlen(content), &d);
		char *h = hex_encode_str(d.data, d.len);
		buf_printf(&p, "%s\"%s\"", i ? "," : "", h);
		free(h);
		buf_free(&d);
	}
	buf_append_str(&p, "]},\"excludes\":[],\"keyrings\":{},\"ima\":{\"ignored_keyrings\":[],"
		       "\"log_hash_alg\":\"sha1\",\"dm_policy\":null},\"ima-buf\":{},"
		       "\"verification-keys\":\"\"}");
	b64 = b64_encode_str(p.data, p.len);
	buf_free(&p);
	return b64;
}

struct enrol_state {
	struct event_base *base;
	int pending, failed;
};

static void enrolled(int status, struct buf *body, const char *err, void *arg)
{
	struct enrol_state *e = arg;
	if (status != 200) {
		if (e->failed++ < 3)
			fprintf(stderr, "fleet_sim: enrolment: %s\n",
				status < 0 ? err : (char *)body->data);
	}
	if (--e->pending == 0)
		event_base_loopbreak(e->base);
}

static int enrol_all(struct event_base *base, const char *verifier, const char *tls_dir)
{
	char cert[512], key[512], ca[512], err[256];
	snprintf(cert, sizeof cert, "%s/client.pem", tls_dir);
	snprintf(key, sizeof key, "%s/client.key", tls_dir);
	snprintf(ca, sizeof ca, "%s/ca.pem", tls_dir);
	struct http_tls tls = { cert, key, ca };
	struct http_client *c = http_client_new(base, &tls, err, sizeof err);
	struct enrol_state e = { base, 0, 0 };
	if (!c) {
		fprintf(stderr, "fleet_sim: %s\n", err);
		return -1;
	}
	for (int i = 0; i < n_agents; i++) {
		struct sim_agent *a = &agents[i];
		char *ak = b64_encode_str(a->ak_tpm.data, a->ak_tpm.len);
		json_t *body = json_pack(
			"{s:s, s:i, s:s, s:s, s:s, s:n, s:s, s:s, s:s, s:s, s:[s], s:[s], s:[s],"
			" s:s, s:s, s:s}",
			"cloudagent_ip", "127.0.0.1", "cloudagent_port", a->port,
			"tpm_policy", "{\"mask\": \"0x0\"}",
			"runtime_policy", with_ima ? policy_b64() : "",
			"runtime_policy_name", "", "mb_policy", "mb_policy_name", "",
			"ima_sign_verification_keys", "", "metadata", "{}",
			"revocation_key", "", "accept_tpm_hash_algs", "sha256",
			"accept_tpm_encryption_algs", "rsa", "accept_tpm_signing_algs", "ecdsa",
			"ak_tpm", ak, "mtls_cert", "disabled", "supported_version", "2.5");
		char *bs = json_dumps(body, JSON_COMPACT);
		char url[512];
		snprintf(url, sizeof url, "%s/v2.5/agents/%s", verifier, a->id);
		struct http_call call = { "POST", url, bs, strlen(bs), NULL, 0, 120000, 1 << 16 };
		if (http_client_send(c, &call, enrolled, &e, err, sizeof err) == 0)
			e.pending++;
		else
			e.failed++;
		free(bs);
		free(ak);
		json_decref(body);
	}
	if (e.pending)
		event_base_dispatch(base);
	http_client_free(c);
	return e.failed ? -1 : 0;
}

int main(int argc, char **argv)
{
	int first_port = 30000, opt;
	const char *verifier = NULL, *tls_dir = NULL;
	static const struct option longopts[] = {
		{ "verifier", required_argument, NULL, 'v' },
		{ "tls-dir", required_argument, NULL, 't' },
		{ "no-ima", no_argument, NULL, 'x' },
		{ NULL, 0, NULL, 0 },
	};
	n_agents = 100;
	while ((opt = getopt_long(argc, argv, "n:p:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n': n_agents = atoi(optarg); break;
		case 'p': first_port = atoi(optarg); break;
		case 'v': verifier = optarg; break;
		case 't': tls_dir = optarg; break;
		case 'x': with_ima = 0; break;
		default: return 2;
		}
	}
	if (!verifier || !tls_dir || n_agents < 1 || n_agents > 50000) {
		fprintf(stderr, "usage: fleet_sim -n N -p FIRST_PORT --verifier URL "
			"--tls-dir DIR [--no-ima]\n");
		return 2;
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	EVP_PKEY *nk = crypto_rsa_generate(2048);
	struct buf pem = BUF_INIT;
	crypto_key_to_pem(nk, 0, &pem);
	nk_pem = (char *)pem.data;
	uint8_t pcr16[64];
	quote_data_pcr_expected(TPM2_ALG_SHA256, nk_pem, strlen(nk_pem), pcr16);

	struct event_base *base = event_base_new();
	agents = calloc((size_t)n_agents, sizeof *agents);
	for (int i = 0; i < n_agents; i++) {
		struct sim_agent *a = &agents[i];
		char err[256];
		struct tpm_public p;
		a->port = first_port + i;
		snprintf(a->id, sizeof a->id, "sim-%06d", i);
		a->ak = crypto_ec_generate("P-256");
		tpm_soft_ak_public(a->ak, &a->ak_tpm);
		tpm_public_parse(a->ak_tpm.data, a->ak_tpm.len, &p, err, sizeof err);
		memcpy(a->name, p.name, p.name_len);
		a->name_len = p.name_len;
		tpm_public_free(&p);
		a->bank.alg = TPM2_ALG_SHA256;
		a->bank.size = 32;
		memcpy(a->bank.value[16], pcr16, 32);
		struct http_server_config sc = { "127.0.0.1", a->port, NULL, 1 << 16, 120,
						 handler, a };
		if (!(a->srv = http_server_start(base, &sc, err, sizeof err))) {
			fprintf(stderr, "fleet_sim: agent %d: %s\n", i, err);
			return 1;
		}
	}
	if (enrol_all(base, verifier, tls_dir) < 0)
		return 1;
	printf("ready %d agents\n", n_agents);
	fflush(stdout);
	event_base_dispatch(base);
	return 0;
}
