/* Fuzzes the agent's body handlers that need no TPM: the key halves
 * (ukey, vkey) and revocation notices. The first input byte picks the
 * route, the rest is the body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "crypto/crypto.h"

static struct agent agent;
static struct config *cfg;

static void setup(void)
{
	static const struct config_option options[] = {
		{ "payload_script", CONFIG_STRING, "", "", 0, 0 },
		{ "extract_payload_zip", CONFIG_BOOL, "false", "", 0, 0 },
		{ "revocation_cert", CONFIG_PATH, "/nonexistent", "", 0, 0 },
		{ "revocation_actions", CONFIG_STRING, NULL, "", 0, 0 },
		{ "revocation_actions_dir", CONFIG_PATH, "/nonexistent", "", 0, 0 },
		{ NULL, 0, NULL, NULL, 0, 0 },
	};
	static const struct config_program prog = {
		"fuzz", "fuzz", "fuzz", NULL, NULL, options };
	char *argv[] = { "fuzz", NULL };
	char err[256];
	if (config_load(&prog, 1, argv, &cfg, err, sizeof err) != 0)
		abort();
	agent.cfg = cfg;
	agent.nk = crypto_rsa_generate(2048);
	crypto_key_to_pem(agent.nk, 0, &agent.nk_pem);
	snprintf(agent.uuid, sizeof agent.uuid, "fuzz");
	snprintf(agent.payload_dir, sizeof agent.payload_dir, "/nonexistent");
	agent.state_dir = "/nonexistent";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const routes[][2] = {
		{ "keys", "ukey" }, { "keys", "vkey" },
		{ "notifications", "revocation" },
	};
	if (!agent.nk)
		setup();
	if (size < 1)
		return 0;
	struct http_request req;
	struct http_response resp = { 0, NULL, BUF_INIT };
	char *body = malloc(size);
	char s0[16], s1[16];
	memcpy(body, data + 1, size - 1);
	body[size - 1] = 0;
	memset(&req, 0, sizeof req);
	int r = data[0] % 3;
	snprintf(s0, sizeof s0, "%s", routes[r][0]);
	snprintf(s1, sizeof s1, "%s", routes[r][1]);
	req.method = "POST";
	req.path = "/v2.1/x";
	snprintf(req.version, sizeof req.version, "2.1");
	req.segments[0] = s0;
	req.segments[1] = s1;
	req.n_segments = 2;
	req.body = (const uint8_t *)body;
	req.body_len = size - 1;
	agent_api(&req, &resp, &agent);
	if (resp.status < 200 || resp.status > 599)
		abort();
	buf_free(&resp.body);
	free(body);
	return 0;
}
