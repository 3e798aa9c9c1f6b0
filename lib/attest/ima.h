/* ima: checking an IMA measurement list against a quoted PCR 10 and a
 * runtime policy, the way Keylime's verifier does (keylime/ima/ima.py
 * _process_measurement_list, keylime/ima/ast.py, keylime/agentstates.py,
 * keylime/cloud_verifier_common.py). No I/O: the caller gives the text.
 *
 * The list is the kernel's ascii_runtime_measurements, one entry a line:
 *
 *   PCR SP template-hash SP template-name SP template-data LF
 *
 * template-data by template (the name field is "n-ng" except for "ima"):
 *   ima      HEX(digest, 20 bytes) SP name          (name <= 255 bytes)
 *   ima-ng   [alg:]HEX(digest) SP name              (name may hold spaces)
 *   ima-sig  [alg:]HEX(digest) SP name SP HEX(sig)  (sig may be empty)
 *   ima-buf  [alg:]HEX(digest) SP name SP HEX(buf)
 * A digest without "alg:" is sha1 (20 bytes) or md5 (16), as Keylime.
 *
 * The template hash is recomputed from the data serialized as the kernel
 * hashes it (ima_calc_field_array_hash_tfm; lengths u32 little endian):
 *   ima      digest || name, NUL-padded to 256 bytes (no lengths)
 *   others   le32(len) || alg ":" NUL digest, le32(len) || name NUL,
 *            then for ima-sig le32(len) || sig, for ima-buf le32(len) || buf
 * with the algorithm of the policy's "ima.log_hash_alg" (sha1 without a
 * policy), and must equal the listed template hash.
 *
 * PCR 10 replay in the quoted bank B: pcr = H_B(pcr || H_B(data)) for every
 * entry, starting from zeros; this is what the kernel extends into each
 * bank, and Keylime computes H_B(data) for the SHA-1 bank too (equal to a
 * verified template hash). A listed template hash of all zeros is a
 * measurement violation (ToMToU, open writers): the kernel extends all
 * ones in every bank, Keylime does too, and skips the template hash and
 * policy checks for that entry. Keylime's "ignore_tomtou_errors" option
 * works the other way round from its name (True makes violations fail);
 * its default, False, lets them pass, and so does ima_verify unless
 * IMA_VIOLATIONS_FAIL is set. Unlike Keylime, a listed template hash of
 * all ones is checked like any other (Keylime skips the checks for it yet
 * replays H_B(data), so editing an entry's template hash to ff..ff would
 * hide it from the policy).
 *
 * The quote and the list are not read atomically: the list may run ahead
 * of the quoted PCR. As Keylime, the quoted value must equal the replay
 * after some prefix of the new entries (possibly none); the state is
 * committed at the first such point, and the entries after it are
 * checked now and sent again next time. A quote that lagged last time
 * must catch up with at least that lag (Keylime check_quote_progress).
 *
 * Per entry, as Keylime's Entry.invalid and _validate_*: the PCR field
 * must be 10; violations pass (see above); the template hash must match;
 * then, with a policy: a name matching an exclude passes; ima, ima-ng and
 * ima-sig look the name up in "digests" (plus boot aggregates from the
 * measured-boot log for "boot_aggregate"); ima-buf whose buffer is a key
 * (DER or PEM X.509 certificate, public or private key) must be RSA or EC
 * and, unless its keyring is in "ima.ignored_keyrings", be in "keyrings";
 * any other ima-buf is looked up in "ima-buf". Without a policy only the
 * replay, PCR field and template hashes are checked.
 *
 * Not done: ima-sig signatures are not verified; their files must be in
 * "digests" (Keylime accepts a file with a good signature by a key from
 * "verification-keys" or learned from the .ima keyring instead), which
 * fails closed. Device-mapper policies ("dm_policy") are refused at load.
 *
 * Differences in strictness: a line that does not parse stops the check
 * (Keylime records it and goes on without extending the PCR, which then
 * cannot match); an empty line is malformed (Keylime skips it, while still
 * counting it in next_entry); a last line without LF is not consumed (it
 * is sent again next time); Keylime goes on after the first failing entry
 * and so does ima_verify, counting them and reporting the first. */
#ifndef ASSAY_ATTEST_IMA_H
#define ASSAY_ATTEST_IMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attest/runtime_policy.h"

#define IMA_PCR 10
#define IMA_DIGEST_MAX 64			/* SHA-512 */
#define IMA_MAX_LINE 65536			/* bytes, LF excluded */
#define IMA_MAX_ENTRIES ((uint64_t)1 << 20)	/* per call */
#define IMA_MAX_TEXT ((size_t)128 << 20)	/* bytes per call */
#define IMA_MAX_TOTAL ((uint64_t)1 << 40)	/* entries since boot */

/* What a verifier keeps per agent between polls. All zero (ima_state_init)
 * is "nothing verified yet". Plain data: persist it field by field. */
struct ima_state {
	uint64_t next_entry;	/* entries accepted: ask for this one next */
	uint64_t boottime;	/* the agent's boottime at that point */
	uint64_t lag;		/* entries the list ran ahead of the quote */
	uint16_t bank;		/* TPM2_ALG_* of pcr10; 0: none yet */
	uint8_t pcr10[IMA_DIGEST_MAX];	/* PCR 10 after next_entry entries */
};

/* A boot aggregate computed from the measured-boot log (any algorithm),
 * accepted for the "boot_aggregate" entry besides the policy's. */
struct ima_digest {
	size_t len;
	uint8_t v[IMA_DIGEST_MAX];
};

#define IMA_VIOLATIONS_FAIL 0x1	/* measurement violations are failures */

struct ima_input {
	const char *text;	/* the agent's ima_measurement_list */
	size_t len;
	uint64_t first_entry;	/* its ima_measurement_list_entry */
	uint64_t boottime;	/* its boottime */
	uint16_t bank;		/* quoted bank: TPM2_ALG_SHA1/256/384/512 */
	const uint8_t *pcr10;	/* quoted PCR 10 in that bank (verified) */
	const struct runtime_policy *policy;	/* NULL: replay only */
	const struct ima_digest *boot_aggregates;
	size_t nboot_aggregates;
	unsigned flags;		/* IMA_VIOLATIONS_FAIL */
};

struct ima_result {
	uint64_t entries;	/* complete lines processed */
	uint64_t matched;	/* of them, covered by the quote; valid when
				   the replay matched */
	uint64_t failed;	/* entries that failed a check */
	uint64_t violations;	/* measurement violations seen */
	size_t consumed;	/* bytes of those lines */
	bool restart;		/* the state cannot continue this list:
				   ima_state_init, then ask for entry 0 */
	uint8_t pcr10[IMA_DIGEST_MAX];	/* replay after all the entries */
};

void ima_state_init(struct ima_state *st);

/* Verifies the new entries in->text against the state, the quoted PCR 10
 * and the policy. Entry numbers in messages are absolute (0-based, as
 * ima_ml_entry counts). first_entry 0 starts over; any other must equal
 * st->next_entry, with the same bank and boottime, or this fails with
 * res->restart set. Returns 0 and advances *st when everything passed;
 * otherwise -1, *st untouched, and err holds the first failure, e.g.
 * "template hash mismatch at entry 12",
 * "file /usr/bin/foo: digest sha256:ab..cd not in policy at entry 40",
 * "file /opt/x not in policy at entry 41",
 * "IMA measurement list does not match the quoted PCR 10 (sha256)".
 * res (never NULL) is filled either way. */
int ima_verify(struct ima_state *st, const struct ima_input *in,
	       struct ima_result *res, char *err, size_t errlen);

/* Writes s (n bytes) to out for a message: bytes outside 0x20..0x7e and
 * the backslash as \xNN, "..." when cut. Always NUL-terminates. */
void ima_printable(char *out, size_t outlen, const char *s, size_t n);

#endif
