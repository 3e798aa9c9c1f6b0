/* The key service's request handler: whole requests (header, body, auth)
 * as a client could send them, against the software provider with the
 * direct and Unix authenticators. The first byte picks the peer uid, so
 * Unix peer credentials are reached too. Keys made by earlier inputs stay
 * in the store, so later ones can use them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "config/config.h"
#include "keyd/keyd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct keyd k;
static struct config *cfg;	/* kept: the providers read it */
static int ready;

static void setup(void)
{
	char dir[] = "/tmp/assay-fuzz-keyd-XXXXXX", err[512];
	if (!mkdtemp(dir))
		abort();
	char *argv[] = { "fuzz", "--state-dir", dir, "--providers", "software",
			 "--authenticators", "direct,unix-peer-credentials",
			 "--admins", "admin", "--log-level", "error", NULL };
	if (config_load(&keyd_program, 11, argv, &cfg, err, sizeof err) != 0 ||
	    keyd_open(&k, cfg, err, sizeof err) < 0) {
		fprintf(stderr, "fuzz_keyd: %s\n", err);
		abort();
	}
	ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ready)
		setup();
	if (size < 1)
		return 0;
	struct peer peer = { 1, data[0], 1 };
	struct buf out = BUF_INIT;
	keyd_handle(&k, data + 1, size - 1, &peer, &out);
	/* Every answer is one whole response. */
	struct parsec_header h;
	if (out.len < PARSEC_HEADER_SIZE || parsec_header_read(out.data, &h) != 0 ||
	    out.len != PARSEC_HEADER_SIZE + h.body_len)
		abort();
	buf_free(&out);
	return 0;
}
