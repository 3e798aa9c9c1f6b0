/* Fuzzes the ZIP reader the agent unpacks payloads with. */
#include <stdint.h>
#include <stdio.h>

#include "util/zip.h"

static int member(const char *name, const uint8_t *data, size_t len, void *arg)
{
	(void)name;
	(void)data;
	(void)len;
	(void)arg;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	zip_walk(data, size, member, NULL, err, sizeof err);
	return 0;
}
