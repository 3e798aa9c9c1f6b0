/* uefi: TCG2 (crypto-agile) UEFI event logs: parse, replay, decode.
 *
 * The log is what firmware, shim and grub measured, as the kernel exposes it
 * in /sys/kernel/security/tpm0/binary_bios_measurements and a Keylime agent
 * sends it (mb_measurement_list). All integers are little endian. Format
 * (TCG PC Client Platform Firmware Profile, "Event Logging"):
 *
 *   TCG_PCR_EVENT     the header: u32 pcrIndex (0), u32 eventType
 *                     (EV_NO_ACTION), u8 digest[20] (zeros), u32 eventSize,
 *                     TCG_EfiSpecIdEvent:
 *                       "Spec ID Event03\0", u32 platformClass,
 *                       u8 specVersionMinor, u8 specVersionMajor (2),
 *                       u8 specErrata, u8 uintnSize (1 or 2),
 *                       u32 numberOfAlgorithms,
 *                       { u16 algorithmId, u16 digestSize } x n,
 *                       u8 vendorInfoSize, vendorInfo
 *   TCG_PCR_EVENT2    then each event: u32 pcrIndex, u32 eventType,
 *                     u32 count, { u16 hashAlg, digest } x count,
 *                     u32 eventSize, event data
 *
 * Rules this parser enforces (every one is a refusal with a reason):
 * - the log is 1 byte .. UEFI_LOG_MAX long and ends exactly at the end of
 *   an event: a log cut inside an event is refused, a log cut between two
 *   events is the valid shorter log it looks like (no padding accepted);
 * - the header is exactly as above. A log without "Spec ID Event03" (the
 *   SHA1-only TPM 1.2 format) is refused: Keylime verifies a SHA-256 (or
 *   other TPM 2.0) bank, which such a log cannot give;
 * - the Spec ID lists 1..UEFI_MAX_BANKS distinct algorithms, each one we
 *   know (sha1, sha256, sha384, sha512, sm3_256) with its true digest size;
 * - every event carries exactly one digest per listed algorithm, in any
 *   order (PFP: "there SHALL be a corresponding digest in all
 *   TCG_PCR_EVENT2 structures", EV_NO_ACTION included);
 * - pcrIndex < 24, eventSize <= UEFI_EVENT_MAX, at most UEFI_MAX_EVENTS
 *   events;
 * - at most one StartupLocality (EV_NO_ACTION in PCR 0, data
 *   "StartupLocality\0" + u8 locality, locality 0 or 3) or one H-CRTM event
 *   (EV_EFI_HCRTM_EVENT in PCR 0), and it comes before anything is
 *   measured into PCR 0.
 *
 * Replay: every bank starts at zeros, except PCR 0, which starts at
 * 0...0<locality> after a StartupLocality event, or at 0...04 when the log
 * begins with an H-CRTM event (TPM 2.0 Part 1, "H-CRTM"); every event but
 * EV_NO_ACTION extends its PCR: pcr = H(pcr || digest). */
#ifndef ASSAY_ATTEST_UEFI_H
#define ASSAY_ATTEST_UEFI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attest/quote.h"
#include "util/buf.h"

#define UEFI_LOG_MAX ((size_t)16 << 20)	/* largest log accepted */
#define UEFI_EVENT_MAX ((uint32_t)1 << 20)	/* largest event data */
#define UEFI_MAX_EVENTS 65536		/* events, header included */
#define UEFI_MAX_BANKS 5		/* distinct known hash algorithms */
#define UEFI_PCR_MASK 0xfbffu		/* PCRs 0-9 and 11-15: replayed */

/* Event types (PFP "Events" table). */
#define EV_PREBOOT_CERT 0x0u
#define EV_POST_CODE 0x1u
#define EV_NO_ACTION 0x3u
#define EV_SEPARATOR 0x4u
#define EV_ACTION 0x5u
#define EV_S_CRTM_CONTENTS 0x7u
#define EV_S_CRTM_VERSION 0x8u
#define EV_CPU_MICROCODE 0x9u
#define EV_PLATFORM_CONFIG_FLAGS 0xau
#define EV_IPL 0xdu
#define EV_NONHOST_INFO 0x11u
#define EV_EFI_VARIABLE_DRIVER_CONFIG 0x80000001u
#define EV_EFI_VARIABLE_BOOT 0x80000002u
#define EV_EFI_BOOT_SERVICES_APPLICATION 0x80000003u
#define EV_EFI_BOOT_SERVICES_DRIVER 0x80000004u
#define EV_EFI_RUNTIME_SERVICES_DRIVER 0x80000005u
#define EV_EFI_GPT_EVENT 0x80000006u
#define EV_EFI_ACTION 0x80000007u
#define EV_EFI_PLATFORM_FIRMWARE_BLOB 0x80000008u
#define EV_EFI_HANDOFF_TABLES 0x80000009u
#define EV_EFI_PLATFORM_FIRMWARE_BLOB2 0x8000000au
#define EV_EFI_HANDOFF_TABLES2 0x8000000bu
#define EV_EFI_VARIABLE_BOOT2 0x8000000cu
#define EV_EFI_HCRTM_EVENT 0x80000010u
#define EV_EFI_VARIABLE_AUTHORITY 0x800000e0u

/* One event. events[0] is the header (EV_NO_ACTION, no digests), so an
 * event's index is tpm2_eventlog's EventNum. Pointers point into the
 * log's own copy of the bytes. */
struct uefi_event {
	uint32_t pcr;
	uint32_t type;
	size_t offset;		/* of the event in the log, for messages */
	/* by bank, in log->alg order */
	const uint8_t *digest[UEFI_MAX_BANKS];
	const uint8_t *data;
	uint32_t size;
};

struct uefi_log {
	struct buf raw;		/* a copy of the log */
	uint32_t platform_class;
	uint8_t spec_minor, spec_major, spec_errata, uintn_size;
	size_t nalgs;
	uint16_t alg[UEFI_MAX_BANKS];	/* banks, in Spec ID order */
	size_t alg_size[UEFI_MAX_BANKS];
	int locality;		/* StartupLocality, -1 if none */
	bool hcrtm;		/* PCR 0 started from an H-CRTM event */
	size_t nevents;		/* header included */
	struct uefi_event *events;
};

/* Parses a whole log (copied). Returns 0, or -1 with a reason such as
 * "event 57 at offset 0x2a10: event data (4096 bytes) runs past the end of
 * the log". Call uefi_log_free either way. */
int uefi_log_parse(const uint8_t *p, size_t n, struct uefi_log *log,
		   char *err, size_t errlen);
void uefi_log_free(struct uefi_log *log);

/* The bank index of alg in log, or -1. */
int uefi_log_bank(const struct uefi_log *log, uint16_t alg);

/* Replays PCRs 0-9 and 11-15 in every bank: out gets one bank per log
 * algorithm, mask UEFI_PCR_MASK. Returns 0, or -1 (out zeroed) when a hash
 * fails. */
int uefi_log_replay(const struct uefi_log *log, struct pcr_values *out,
		    char *err, size_t errlen);

/* Compares the PCRs in mask (e.g. MB_POLICY_PCRS or UEFI_PCR_MASK) of a
 * verified quote with a replay: each PCR in mask must be in at least one
 * bank of the quote, and every quoted value of a PCR in mask must equal the
 * replayed one of the same bank. Returns 0, or -1 with the first mismatch in
 * quote order, e.g. "PCR 7 (sha256) does not match the event log", "PCR 4 is
 * not in the quote", "the event log has no sha384 digests". */
int uefi_pcrs_compare(const struct pcr_values *replayed,
		      const struct pcr_values *quoted, uint32_t mask,
		      char *err, size_t errlen);

/* "EV_IPL" etc., NULL for a type without a name here. */
const char *uefi_event_type_name(uint32_t type);

/* GUIDs as they are stored (EFI_GUID: u32, u16, u16 little endian, then 8
 * bytes) <-> the canonical lower-case text "8be4df61-93ca-11d2-aa0d-
 * 00e098032b8c". uefi_guid_parse accepts only that form (lower case); it
 * returns 0 or -1. */
void uefi_guid_str(const uint8_t g[16], char out[37]);
int uefi_guid_parse(const char *s, uint8_t g[16]);

/* Well-known GUIDs, as stored. */
extern const uint8_t uefi_guid_global[16];	/* EFI_GLOBAL_VARIABLE */
extern const uint8_t uefi_guid_image_security[16]; /* db, dbx */
extern const uint8_t uefi_guid_shim[16];	/* SHIM_LOCK */
extern const uint8_t uefi_guid_cert_x509[16];	/* EFI_CERT_X509_GUID */
extern const uint8_t uefi_guid_cert_sha256[16];	/* EFI_CERT_SHA256_GUID */

/* UTF-16LE (nchars code units) -> UTF-8, appended to out and NUL
 * terminated. Unpaired surrogates and NUL code units are refused (-1). */
int uefi_utf16_to_utf8(const uint8_t *p, size_t nchars, struct buf *out);

/* ---- the boot state: what a measured-boot policy looks at ---- */

/* An event the state refers to; data is the decoded payload (a string
 * without its NUL, a device path, ...), pointing into the log. */
struct uefi_item {
	size_t event;		/* EventNum */
	const uint8_t *digest[UEFI_MAX_BANKS];
	const uint8_t *data;
	size_t len;
};

struct uefi_items {
	size_t n;
	struct uefi_item *v;
};

/* One EFI_SIGNATURE_DATA of a signature database variable. */
struct uefi_sig {
	uint8_t type[16];	/* its EFI_SIGNATURE_LIST's SignatureType */
	uint8_t owner[16];
	const uint8_t *data;	/* an X509 DER certificate, a SHA-256, ... */
	size_t len;
};

struct uefi_sigdb {
	size_t event;		/* EventNum of its measurement, 0: none */
	size_t n;
	struct uefi_sig *v;
};

enum uefi_secure_boot {
	UEFI_SB_UNMEASURED,	/* no SecureBoot variable in PCR 7 */
	UEFI_SB_OFF,
	UEFI_SB_ON,
};

/* The measured boot, decoded. Events are sorted into the fields below by
 * the shapes Keylime's "example" policy knows (keylime/mba/elchecking/
 * example.py); an event of PCR 4, 5, 7, 8, 9 or 14 of any other shape is
 * recorded as "unexpected" (the first one), which that policy refuses.
 * Events of the other PCRs are not restricted. Data the state exposes is
 * checked against its digests where the digest is defined as a hash of it
 * (PCR 7 variables, separators, EV_EFI_ACTION strings, kernel command
 * lines): a log whose data says something else than what was measured is
 * refused by uefi_boot_state_build. */
struct uefi_boot_state {
	size_t nalgs;
	uint16_t alg[UEFI_MAX_BANKS];
	size_t alg_size[UEFI_MAX_BANKS];
	enum uefi_secure_boot secure_boot;
	size_t secure_boot_event;
	/* EV_EFI_VARIABLE_DRIVER_CONFIG in PCR 7 */
	struct uefi_sigdb pk, kek, db, dbx, vendor_db;
	/* EV_EFI_VARIABLE_AUTHORITY "vendor_db" (one EFI_SIGNATURE_DATA
	 * each, shim >= 16 logs the vendor certificate it trusted) */
	struct uefi_sigdb vendor_db_auth;
	struct uefi_items scrtm;	/* EV_S_CRTM_VERSION, PCR 0 */
	struct uefi_items firmware;	/* EV_EFI_PLATFORM_FIRMWARE_BLOB(2) */
	struct uefi_items post_code;	/* EV_POST_CODE, PCR 0 */
	/* EV_EFI_BOOT_SERVICES_APPLICATION in PCR 4 (data: device path), in
	 * boot order: shim, grub, kernel. Applications loaded from a firmware
	 * volume (the path starts FvVol()/FvFile(): setup menus and the like,
	 * part of the firmware) are kept apart, as Keylime's create_mb_policy
	 * does. The Authenticode digest is the event digest. */
	struct uefi_items apps;
	struct uefi_items fv_apps;
	/* EV_IPL in PCR 8 "kernel_cmdline: X" (data: X), in PCR 9 the kernel
	 * and initrd grub read (data: path; digest: of the file) */
	struct uefi_items kernel_cmdline;
	struct uefi_items vmlinuz, initrd;
	/* EV_IPL in PCR 14 by shim: digest of MokList / MokListX */
	struct uefi_items moklist, moklistx;
	bool gpt;			/* EV_EFI_GPT_EVENT seen */
	size_t bad_separator;	/* EventNum of a separator of PCR 0-7
				   that is neither 00000000 nor ffffffff */
	size_t unexpected;	/* EventNum, 0: none */
	char unexpected_why[200];
};

/* Decodes log into st (which points into log: free st first). Returns 0,
 * or -1 with a reason ("event 13 (EV_EFI_VARIABLE_DRIVER_CONFIG): digest
 * does not match its data", "event 15: malformed EFI_SIGNATURE_LIST at
 * byte 28 of db"). Call uefi_boot_state_free either way. */
int uefi_boot_state_build(const struct uefi_log *log,
			  struct uefi_boot_state *st, char *err,
			  size_t errlen);
void uefi_boot_state_free(struct uefi_boot_state *st);

/* The digest of item in bank alg of st, or NULL. */
const uint8_t *uefi_item_digest(const struct uefi_boot_state *st,
				const struct uefi_item *item, uint16_t alg);

/* ---- writing logs (tests, simulated agents) ---- */

struct uefi_log_writer {
	struct buf out;
	size_t nalgs;
	uint16_t alg[UEFI_MAX_BANKS];
};

/* Starts a log with the header for algs, and a StartupLocality event when
 * locality >= 0. Returns 0 or -1. */
int uefi_writer_init(struct uefi_log_writer *w, const uint16_t *algs,
		     size_t nalgs, int locality);
/* Appends an event whose digest in every bank is H(measured), or H(data)
 * when measured is NULL; EV_NO_ACTION events get zero digests. */
int uefi_writer_add(struct uefi_log_writer *w, uint32_t pcr, uint32_t type,
		    const void *data, size_t len, const void *measured,
		    size_t mlen);
void uefi_writer_free(struct uefi_log_writer *w);

#endif
