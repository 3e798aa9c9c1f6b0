/* Fuzzes the verifier's parsers of outside input: the tenant's enrolment
 * JSON (agent_enrol), TPM policies, and an agent's quote reply
 * (check_quote_reply, with a real AK and a runtime policy so the IMA path
 * runs too). The first byte picks which; the rest is the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "tpm/soft.h"
#include "util/encode.h"
#include "verifier/verifier.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct verifier v;
static struct buf ak_pub;
static EVP_PKEY *ak;

static void setup(void)
{
	static const struct config_option options[] = {
		{ "ip", CONFIG_STRING, "127.0.0.1", "", 0, 0 },
		{ "port", CONFIG_INT, "8881", "", 1, 65535 },
		{ NULL, 0, NULL, NULL, 0, 0 },
	};
	static const struct config_program prog = {
		"fuzz", "fuzz", "fuzz", NULL, NULL, options };
	char *argv[] = { "fuzz", NULL };
	char err[256], path[] = "/tmp/assay-fuzz-verifier-XXXXXX";
	struct config *cfg;
	if (config_load(&prog, 1, argv, &cfg, err, sizeof err) != 0)
		abort();
	v.cfg = cfg;
	int fd = mkstemp(path);
	if (fd < 0)
		abort();
	close(fd);
	v.db = verifier_db_open(path, NULL, "fuzz", err, sizeof err);
	unlink(path);
	if (!v.db)
		abort();
	ak = crypto_ec_generate("P-256");
	tpm_soft_ak_public(ak, &ak_pub);
}

static void fuzz_reply(const uint8_t *data, size_t size)
{
	struct agent *a = agent_new(&v, "fuzz");
	char *ak_b64 = b64_encode_str(ak_pub.data, ak_pub.len);
	static const char policy[] = "{\"meta\":{\"version\":1,\"generator\":2},"
		"\"digests\":{\"/bin/sh\":[\"aa\"]},\"excludes\":[],\"keyrings\":{},"
		"\"ima\":{\"ignored_keyrings\":[],\"log_hash_alg\":\"sha1\","
		"\"dm_policy\":null},\"ima-buf\":{},\"verification-keys\":\"\"}";
	char *pol = b64_encode_str(policy, strlen(policy));
	json_t *body = json_pack("{s:s, s:i, s:s, s:s, s:s, s:[s], s:[s], s:[s], s:s}",
				 "cloudagent_ip", "127.0.0.1", "cloudagent_port", 9002,
				 "tpm_policy", "{\"mask\":\"0x400\"}", "ak_tpm", ak_b64,
				 "runtime_policy", pol,
				 "accept_tpm_hash_algs", "sha256",
				 "accept_tpm_encryption_algs", "rsa",
				 "accept_tpm_signing_algs", "ecdsa", "mtls_cert", "disabled");
	int status;
	char err[256];
	if (agent_enrol(a, body, &status, err, sizeof err) == 0) {
		snprintf(a->nonce, sizeof a->nonce, "fuzznonce");
		json_t *res = json_loadb((const char *)data, size, 0, NULL);
		if (res)
			check_quote_reply(a, res, 1);
		json_decref(res);
	}
	json_decref(body);
	free(pol);
	free(ak_b64);
	agent_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!v.db)
		setup();
	if (size < 1)
		return 0;
	char err[256];
	int status;
	char *text = malloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = 0;
	switch (data[0] % 3) {
	case 0: {
		json_t *body = json_loads(text, 0, NULL);
		struct agent *a = agent_new(&v, "fuzz");
		if (body)
			agent_enrol(a, body, &status, err, sizeof err);
		json_decref(body);
		agent_free(a);
		break;
	}
	case 1: {
		struct tpm_policy p;
		if (tpm_policy_parse(text, &p, err, sizeof err) == 0)
			tpm_policy_free(&p);
		break;
	}
	default:
		fuzz_reply(data + 1, size - 1);
		break;
	}
	free(text);
	return 0;
}
