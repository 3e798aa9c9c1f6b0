/* Fuzz target: tpm_public_parse() (and the credential blob parser) on
 * arbitrary bytes.
 *
 * Besides "no crash, no leak", it checks the API's promises: a refusal
 * carries a message and leaves no key behind; an accepted area has a key
 * and a Name of nameAlg || digest; an accepted EK can protect a
 * credential, whose blob parses back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tpm/credential.h"
#include "tpm/tpm_public.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void try_credential(const struct tpm_public *p)
{
	static const uint8_t secret[20] = "fuzzing credential!";
	struct buf blob = BUF_INIT;
	TPM2B_ID_OBJECT id;
	TPM2B_ENCRYPTED_SECRET sec;
	char err[256];

	err[0] = 0;
	if (tpm_credential_make(p, p->name, p->name_len, secret,
				sizeof(secret), &blob, err, sizeof(err)) == 0) {
		if (tpm_credential_parse(blob.data, blob.len, &id, &sec, err,
					 sizeof(err)))
			abort();
	} else if (!err[0] || blob.len) {
		abort();
	}
	buf_free(&blob);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	TPM2B_ID_OBJECT id;
	TPM2B_ENCRYPTED_SECRET sec;
	struct tpm_public p;
	const EVP_MD *md;
	char err[256];

	err[0] = 0;
	if (tpm_public_parse(data, size, &p, err, sizeof(err))) {
		if (!err[0] || p.pkey)
			abort();
	} else {
		md = tpm_alg_md(p.area.nameAlg);
		if (!p.pkey || !md ||
		    p.name_len != 2 + (size_t)EVP_MD_get_size(md) ||
		    ((size_t)p.name[0] << 8 | p.name[1]) != p.area.nameAlg)
			abort();
		err[0] = 0;
		if (tpm_public_check_ak(&p, err, sizeof(err)) && !err[0])
			abort();
		try_credential(&p);
		tpm_public_free(&p);
	}
	err[0] = 0;
	if (tpm_credential_parse(data, size, &id, &sec, err, sizeof(err)) &&
	    !err[0])
		abort();
	return 0;
}
