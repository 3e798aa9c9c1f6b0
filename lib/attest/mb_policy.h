/* mb_policy: Keylime measured-boot reference states and their evaluation.
 *
 * A reference state ("mb_refstate", JSON) says what a good boot looks like,
 * in the format of keylime/mba/elchecking/example.py and Keylime's
 * `keylime-policy create measured-boot`:
 *
 *   has_secureboot   optional bool, default true
 *   scrtm_and_bios   [{scrtm: D, platform_firmware: [D, ...]}, ...]
 *   pk, kek, db, dbx, vendor_db (optional, default [])
 *                    [{SignatureOwner: "guid", SignatureData: "0xhex"}, ...]
 *   mokdig, mokxdig  [D, ...]
 *   kernels          [{shim_authcode_sha256, grub_authcode_sha256,
 *                      kernel_authcode_sha256 (secure boot) or
 *                      vmlinuz_plain_sha256 (without), initrd_plain_sha256:
 *                      "0x" + 64 hex, kernel_cmdline: regex}, ...]
 *   firmware_apps    optional [D, ...]: an Assay extension, see below
 *
 * where D is a digest {"sha256": "0xhex", ...}. Hex is lower case, as
 * Keylime requires; unknown keys are ignored, as Keylime does. The empty
 * object {} means "no measured-boot policy" (Keylime: accept all, and no
 * PCR comparison either: see mb_refstate_is_empty).
 *
 * Evaluation, in this order, the first failure being the reason:
 *  1. the boot state has no unexpected event and no error separator
 *     (uefi.h: the event shapes of PCRs 4, 5, 7, 8, 9, 14 the example policy
 *     has rules for);
 *  2. SecureBoot is on (has_secureboot) or not on (has_secureboot false);
 *  3. every PK and KEK entry is an X509 certificate listed in pk / kek, every
 *     db and vendor_db entry an X509 or SHA-256 one listed in db /
 *     vendor_db, every vendor_db authority listed in vendor_db; every dbx
 *     entry of the reference is in the log's dbx. Without secure boot an
 *     empty reference list accepts anything;
 *  4. one scrtm_and_bios entry matches: exactly one EV_S_CRTM_VERSION with
 *     digest scrtm, and the platform firmware blobs' digests are exactly
 *     platform_firmware, in order;
 *  5. one kernels entry matches: the boot applications' sha256
 *     Authenticode digests are shim, grub, kernel (or shim, grub, kernel,
 *     kernel) with secure boot, shim, grub without; exactly one initrd in
 *     PCR 9 with initrd_plain_sha256; exactly one vmlinuz in PCR 9 (with
 *     vmlinuz_plain_sha256 without secure boot); exactly one kernel command
 *     line, which kernel_cmdline (a Python regex) fully matches;
 *  6. every MokList and MokListX measurement has a digest in mokdig /
 *     mokxdig.
 * A digest D matches an event when every algorithm of D that the log has
 * agrees, and the log has at least one of them.
 *
 * Differences from Keylime, on purpose:
 *  - Keylime's policy refuses every (PCR, event type) it has no rule for; we
 *    apply its rules to PCRs 4, 5, 7, 8, 9, 14 only. Both real logs in the
 *    fixtures carry vendor events in PCRs 0-2 (EV_S_CRTM_CONTENTS,
 *    EV_NONHOST_INFO, EV_POST_CODE, vendor variables) that would fail it
 *    whatever the reference state says. Those PCRs are still pinned by the
 *    quote through the replay.
 *  - Applications loaded from a firmware volume (setup menus) are left out
 *    of the shim/grub/kernel sequence when the reference state lists their
 *    digests in "firmware_apps" (mb_refstate_create writes it); without
 *    that key they count, as in Keylime's evaluation. Keylime's creator
 *    drops them but its evaluator counts them, so its own reference state
 *    fails its own log (both fixtures); the device path that marks them is
 *    not measured, so skipping them unchecked would let any application
 *    pass as one.
 *  - dbx: every reference entry must be in the log's dbx, whatever its
 *    signature list type (Keylime wants one SHA-256 list, which no fixture
 *    log has); a dbx that is not measured at all fails too.
 *  - SecureBoot must be measured to count as on (Keylime passes when the
 *    variable is missing).
 *  - Digests listed with several algorithms must agree in all the log has
 *    (Keylime: any one), so an unquoted bank cannot vouch for an event.
 *  - SignatureOwner matches in either GUID spelling (canonical, or the
 *    byte order of tpm2-tools < 5.2 the example fixture uses), as Keylime's
 *    policy does for the variable names.
 *  - kernel_cmdline is Python regex syntax, run by our own matcher (time
 *    linear in the line for a given pattern, memory linear in the
 *    pattern): literals, . ^ $ [...] \d \D \s \S \w \W (ASCII meaning
 *    only), escaped non-alphanumerics, ( ) (?: ) | * + ? {m,n} (bounds <=
 *    255, at most 8192 instructions compiled) and lazy forms. Other syntax
 *    ((?i), (?P<..>), \b, \A, back references, \x..) is refused at load. A
 *    command line with a control character, or longer than 8192 bytes,
 *    never matches. */
#ifndef ASSAY_ATTEST_MB_POLICY_H
#define ASSAY_ATTEST_MB_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "attest/uefi.h"
#include "util/buf.h"

#define MB_REFSTATE_MAX ((size_t)16 << 20)	/* largest JSON accepted */
#define MB_POLICY_PCRS 0x43ffu	/* PCRs 0-9 and 14: what the policy reads */

struct mb_refstate;

/* Loads a reference state (len bytes of JSON, duplicate keys refused).
 * Returns it, or NULL with a reason such as "kernels[0]: lacks
 * initrd_plain_sha256" or "pk[1].SignatureData: expected 0x and lower-case
 * hex". */
struct mb_refstate *mb_refstate_load(const char *json, size_t len,
				     char *err, size_t errlen);
void mb_refstate_free(struct mb_refstate *rs);

/* True for {}: Keylime then evaluates nothing and compares no PCRs. */
bool mb_refstate_is_empty(const struct mb_refstate *rs);

/* Evaluates a decoded boot (uefi_boot_state_build) against rs. Returns 0
 * when it passes, or -1 with the reason ("secure boot is off", "kernel
 * digest sha256:... not allowed", "kernel command line '...' does not
 * match", "db holds X509 CN=... (owner ...) that the reference state does
 * not allow"). */
int mb_refstate_evaluate(const struct mb_refstate *rs,
			 const struct uefi_boot_state *st, char *reason,
			 size_t reasonlen);

/* Writes (appends to out) the reference state of st as JSON, in the
 * format above, as Keylime's create_mb_policy does: the S-CRTM and
 * platform firmware digests, all PK/KEK/db/dbx entries, vendor_db from
 * the vendor_db measurements, MokList(X) digests, firmware_apps when the
 * log has any, and one kernels entry (command line escaped as Python's
 * re.escape does). A log with secure boot off is refused unless
 * without_secureboot (Keylime's -i), and so is a log that would fail its
 * own reference state (two initrds, an unexpected event, ...). Returns 0,
 * or -1 with a reason such as "the event log has no initrd in PCR 9". */
int mb_refstate_create(const struct uefi_boot_state *st,
		       bool without_secureboot, struct buf *out, char *err,
		       size_t errlen);

#endif
