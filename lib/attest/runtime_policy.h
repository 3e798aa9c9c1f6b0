/* runtime_policy: Keylime runtime (IMA) policies, loaded and queried.
 *
 * The JSON format is Keylime's (keylime/ima/ima.py RUNTIME_POLICY_SCHEMA,
 * keylime/ima/types.py RuntimePolicyType), version 1:
 *
 *   { "meta": {"version": 1, "generator": 0..3, "timestamp"?: "..."},
 *     "release"?: N,
 *     "digests":  {"/usr/bin/foo": ["<hex>", ...], "boot_aggregate": [...]},
 *     "excludes": ["<regex>", ...],
 *     "keyrings": {".ima": ["<hex>", ...]},
 *     "ima": {"ignored_keyrings": ["name" or "*"],
 *             "log_hash_alg": "sha1|sha256|sha384|sha512",
 *             "dm_policy": null},
 *     "ima-buf":  {"kexec-cmdline": ["<hex>", ...]},
 *     "verification-keys": "" or a JSON string {"keyids": [..],
 *                                               "pubkeys": [..]} }
 *
 * As Keylime's schema: every key above is required except "release" and
 * "meta.timestamp" (Keylime's schema also requires "release"; its
 * TypedDict does not); unknown keys are ignored; digest lists are
 * non-empty arrays of lowercase hex, 40 to 128 digits. Stricter than
 * Keylime: the hex must have an even length; "meta.version" above 1 is
 * refused; DSSE-signed envelopes ({"payload": ...}) are refused (not
 * supported yet); a non-null "dm_policy" is refused (Keylime's schema
 * refuses it too). More lenient: a digest may carry an "alg:" prefix
 * (sha1, sha256, sha384, sha512, length checked), as the boot_aggregate
 * of Keylime's own test policy runtime-policy-test.json does; Keylime's
 * schema refuses that and its matching would never accept such a value.
 *
 * Excludes. Keylime joins them as "(p1)|(p2)|..." and calls Python's
 * re.match (anchored at the start, not at the end). Here each pattern is
 * compiled alone as POSIX ERE "^(p)" (regcomp REG_EXTENDED|REG_NOSUB,
 * C locale: bytes), and constructs where Python and POSIX disagree are
 * refused with their position: "(?" groups, escapes of letters or digits
 * other than \w \W \s \S \b \B (so \d, backreferences, \A, \Z are out),
 * the GNU escapes \< \> \` \', a backslash, "[:", "[=" or "[." inside
 * brackets, repeated quantifiers ("a**", possessive "a*+"), unbalanced
 * parentheses, and non-ASCII bytes. Lazy quantifiers (*? +? ?? {m,n}?)
 * are accepted: whether a match exists does not depend on laziness.
 * Remaining differences all make an exclude match less, never more:
 * "." and \w see bytes, not code points, and \s lacks \x1c-\x1f.
 * Keylime ignores the whole exclude list when it fails to compile; here
 * the policy does not load.
 *
 * The flat allowlist ("<hex> <path>" lines, "%keyring:<name>" paths for
 * keyrings) is what keylime/cmd/convert_runtime_policy.py converts into
 * a policy with log_hash_alg sha1 and nothing else; Keylime's verifier
 * itself only takes JSON. Here a malformed line is an error (Keylime's
 * converter skips it). */
#ifndef ASSAY_ATTEST_RUNTIME_POLICY_H
#define ASSAY_ATTEST_RUNTIME_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RUNTIME_POLICY_VERSION 1
#define RUNTIME_POLICY_MAX_LEN ((size_t)64 << 20)	/* bytes of input */
#define RUNTIME_POLICY_MAX_DIGESTS ((size_t)1 << 21)	/* all lists */
#define RUNTIME_POLICY_MAX_EXCLUDES 4096
#define RUNTIME_POLICY_MAX_PATTERN 4096		/* bytes per regex */
#define RUNTIME_POLICY_DIGEST_MAX 64		/* SHA-512 */

/* The three name -> digests tables of a policy. */
enum runtime_policy_table {
	RUNTIME_POLICY_DIGESTS,		/* "digests": files, boot_aggregate */
	RUNTIME_POLICY_KEYRINGS,	/* "keyrings": keys measured by IMA */
	RUNTIME_POLICY_IMA_BUF,		/* "ima-buf": other IMA buffers */
};

/* Outcome of runtime_policy_lookup. */
enum runtime_policy_match {
	RUNTIME_POLICY_ALLOWED,		/* name listed with this digest */
	RUNTIME_POLICY_NOT_LISTED,	/* name not in the table */
	RUNTIME_POLICY_WRONG_DIGEST,	/* listed, digest not among its own */
};

struct runtime_policy;

/* Loads a JSON policy (len bytes, need not be NUL-terminated). Returns 0
 * and *out (free with runtime_policy_free), or -1 with a message naming
 * the offending member, e.g. "digests[\"/bin/sh\"][0]: \"xyz\" is not a
 * digest (lowercase hex, 40 to 128 digits, optional alg: prefix)". */
int runtime_policy_load(const char *json, size_t len,
			struct runtime_policy **out, char *err, size_t errlen);

/* Loads a flat allowlist (see above). Same contract. */
int runtime_policy_load_allowlist(const char *text, size_t len,
				  struct runtime_policy **out, char *err,
				  size_t errlen);

void runtime_policy_free(struct runtime_policy *pol);

/* TPM algorithm ID of "ima.log_hash_alg": the algorithm of the template
 * hashes in the ASCII measurement list (sha1 on every kernel so far). */
uint16_t runtime_policy_log_hash_alg(const struct runtime_policy *pol);

/* Number of public keys in "verification-keys" (not used for checks yet:
 * see ima.h on ima-sig). */
size_t runtime_policy_verification_keys(const struct runtime_policy *pol);

/* Whether name (NUL-terminated) matches one of the excludes. */
bool runtime_policy_excluded(const struct runtime_policy *pol,
			     const char *name);

/* Whether keyring name is in "ima.ignored_keyrings" (or that has "*"). */
bool runtime_policy_keyring_ignored(const struct runtime_policy *pol,
				    const char *name);

/* Looks name up in a table and compares the digest bytes (any length)
 * with the digests listed for it. */
enum runtime_policy_match runtime_policy_lookup(
	const struct runtime_policy *pol, enum runtime_policy_table table,
	const char *name, const uint8_t *digest, size_t len);

#endif
