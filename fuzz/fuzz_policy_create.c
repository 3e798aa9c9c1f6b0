/* Fuzzes the CLI's reading of IMA measurement lists into runtime policy
 * digests (assay policy create-runtime --ima-log). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/policy_create.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[128];
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = 0;
	json_t *digests = json_object();
	policy_digests_from_ima(text, digests, NULL, err, sizeof err);
	json_decref(digests);
	free(text);
	return 0;
}
