/* Fuzz target: runtime_policy_load() and runtime_policy_load_allowlist()
 * on arbitrary bytes.
 *
 * Promises checked: a refusal carries a message and returns no policy; a
 * loaded policy answers lookups, exclude and keyring queries for a few
 * fixed names without crashing, with a known log hash algorithm. */
#include <stdint.h>
#include <stdlib.h>

#include <tss2/tss2_tpm2_types.h>

#include "attest/runtime_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void query(const struct runtime_policy *pol)
{
	static const char *const names[] = { "", "/", "/usr/bin/bash",
					     "boot_aggregate", ".ima",
					     "/tmp/x" };
	static const uint8_t d[64];
	uint16_t alg = runtime_policy_log_hash_alg(pol);
	size_t i;
	int t;

	if (alg != TPM2_ALG_SHA1 && alg != TPM2_ALG_SHA256 &&
	    alg != TPM2_ALG_SHA384 && alg != TPM2_ALG_SHA512)
		abort();
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		(void)runtime_policy_excluded(pol, names[i]);
		(void)runtime_policy_keyring_ignored(pol, names[i]);
		for (t = RUNTIME_POLICY_DIGESTS; t <= RUNTIME_POLICY_IMA_BUF;
		     t++)
			if (runtime_policy_lookup(pol, t, names[i], d, 20) >
			    RUNTIME_POLICY_WRONG_DIGEST)
				abort();
	}
	(void)runtime_policy_verification_keys(pol);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct runtime_policy *pol = NULL;
	char err[512] = "";

	if (runtime_policy_load((const char *)data, size, &pol, err,
				sizeof(err))) {
		if (!err[0] || pol)
			abort();
	} else {
		query(pol);
		runtime_policy_free(pol);
	}
	pol = NULL;
	err[0] = 0;
	if (runtime_policy_load_allowlist((const char *)data, size, &pol, err,
					  sizeof(err))) {
		if (!err[0] || pol)
			abort();
	} else {
		query(pol);
		runtime_policy_free(pol);
	}
	return 0;
}
