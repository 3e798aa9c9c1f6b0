/* Fuzz target: ima_verify() on arbitrary measurement lists.
 *
 * The input is the list text; its length picks the bank (size % 4) and
 * whether a fixed runtime policy applies (size / 4 % 2). Each input is
 * checked against a zero quote (which matches before the first entry)
 * to learn the replay, then against the replay. Promises checked: refusals carry a message and
 * leave the state alone; counts stay within the input; when the list
 * passes, the state stops at or before its last entry, and verifying it
 * in two calls (split at half the entries) ends in the same state. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_tpm2_types.h>

#include "attest/ima.h"
#include "attest/runtime_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char policy_json[] =
	"{\"meta\": {\"version\": 1, \"generator\": 1}, \"digests\": {"
	"\"/init\": [\"19f13b42c2745066347e76454788c0fe083643f3\"], "
	"\"boot_aggregate\": [\"0000000000000000000000000000000000000000\"]},"
	" \"excludes\": [\"/tmp/.*\", \"/var/(log|cache)/\"], \"keyrings\": "
	"{\".ima\": [\"a7d52aaa18c23d2d9bb2abb4308c0eeee67387a42259f4a6b1a4225"
	"7065f3d5a\"]}, \"ima\": {\"ignored_keyrings\": [\".evm\"], "
	"\"log_hash_alg\": \"sha1\", \"dm_policy\": null}, \"ima-buf\": "
	"{\"kexec-cmdline\": [\"4d2f8c4a0b6a2b3e0bd13ecc40b1af3f5f27c17b\"]},"
	" \"verification-keys\": \"\"}";

static const uint16_t banks[] = { TPM2_ALG_SHA1, TPM2_ALG_SHA256,
				  TPM2_ALG_SHA384, TPM2_ALG_SHA512 };

static struct runtime_policy *pol;

static int run(struct ima_state *st, const char *text, size_t len,
	       uint64_t first, uint16_t bank, const uint8_t *quoted,
	       const struct runtime_policy *p, struct ima_result *res)
{
	struct ima_input in = { .text = text, .len = len, .first_entry = first,
		.bank = bank, .pcr10 = quoted, .policy = p };
	struct ima_state before;
	char err[512] = "";
	size_t lines = 0, i;
	int rc;

	memcpy(&before, st, sizeof(before));	/* padding included */
	rc = ima_verify(st, &in, res, err, sizeof(err));
	for (i = 0; i < len; i++)
		lines += text[i] == '\n';
	if (res->entries > lines || res->consumed > len ||
	    res->failed > res->entries)
		abort();
	if (rc) {
		if (!err[0] || memcmp(&before, st, sizeof(before)))
			abort();
	} else if (st->next_entry > first + res->entries || res->failed) {
		abort();
	}
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t zero[IMA_DIGEST_MAX];
	const char *text = (const char *)data;
	uint16_t bank = banks[size % 4];
	const struct runtime_policy *p;
	struct ima_state st, whole;
	struct ima_result res, half;
	uint8_t final[IMA_DIGEST_MAX];
	size_t cut = 0, k = 0;
	char err[256];

	if (!pol && runtime_policy_load(policy_json, sizeof(policy_json) - 1,
					&pol, err, sizeof(err)))
		abort();
	p = size / 4 % 2 ? pol : NULL;

	/* A zero quote matches before the first entry; the replay of the
	 * whole list comes back in res.pcr10 (zeros after a malformed line,
	 * which the second call then reports). */
	ima_state_init(&st);
	run(&st, text, size, 0, bank, zero, p, &res);
	if (!res.entries)
		return 0;
	memcpy(final, res.pcr10, sizeof(final));
	ima_state_init(&whole);
	if (run(&whole, text, size, 0, bank, final, p, &res))
		return 0;

	/* The same list in two calls. */
	while (k < res.entries / 2) {
		cut += (size_t)((const char *)memchr(text + cut, '\n',
						     size - cut) - (text + cut)) + 1;
		k++;
	}
	ima_state_init(&st);
	run(&st, text, cut, 0, bank, zero, p, &half);
	memcpy(final, half.pcr10, sizeof(final));
	ima_state_init(&st);
	if (run(&st, text, cut, 0, bank, final, p, &half) ||
	    run(&st, text + cut, size - cut, st.next_entry, bank, whole.pcr10,
		p, &half) ||
	    memcmp(&st, &whole, sizeof(st)))
		abort();
	return 0;
}
