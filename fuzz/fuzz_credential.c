/* Fuzzes the parser of MakeCredential blobs (tpm2-tools layout), which the
 * agent reads from the registrar's answer. */
#include <stdint.h>

#include "tpm/credential.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	TPM2B_ID_OBJECT id;
	TPM2B_ENCRYPTED_SECRET secret;
	char err[256];
	tpm_credential_parse(data, size, &id, &secret, err, sizeof err);
	return 0;
}
