/* Fuzzes the registrar's HTTP handlers with arbitrary bodies and paths.
 *
 * Input: the first byte picks the route (register, activate, admin get,
 * admin delete, list), the rest is the request body. The handlers run
 * against a real SQLite store in /tmp so storage code is exercised too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registrar/registrar.h"

static struct registrar reg;

static void setup(void)
{
	char err[256];
	char path[] = "/tmp/assay-fuzz-registrar-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		abort();
	close(fd);
	reg.db = registrar_db_open(path, err, sizeof err);
	if (!reg.db)
		abort();
	unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = { "POST", "PUT", "GET", "DELETE", "GET" };
	if (!reg.db)
		setup();
	if (size < 1)
		return 0;
	int route = data[0] % 5;
	struct http_request req;
	struct http_response resp = { 0, NULL, BUF_INIT };
	char id[] = "d432fbb3-d2f1-4a97-9ef7-75bd81c00000";
	char agents[] = "agents", activate[] = "activate";
	char *body = malloc(size);
	memcpy(body, data + 1, size - 1);
	body[size - 1] = 0;

	memset(&req, 0, sizeof req);
	req.method = methods[route];
	req.path = "/v2.1/agents";
	snprintf(req.version, sizeof req.version, "2.1");
	req.segments[0] = agents;
	req.segments[1] = id;
	req.segments[2] = activate;
	req.n_segments = route == 4 ? 1 : route == 1 ? 3 : 2;
	req.body = (const uint8_t *)body;
	req.body_len = size - 1;
	if (route < 2)
		registrar_agent_api(&req, &resp, &reg);
	else
		registrar_admin_api(&req, &resp, &reg);
	if (resp.status < 200 || resp.status > 599)
		abort();
	buf_free(&resp.body);
	free(body);
	return 0;
}
