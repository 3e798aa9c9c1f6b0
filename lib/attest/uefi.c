/* uefi: TCG2 UEFI event logs: parsing, PCR replay, decoding into a boot
 * state, and a writer. Formats and rules: see uefi.h. */
#define _GNU_SOURCE		/* memmem */
#include "attest/uefi.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "tpm/tpm.h"
#include "tpm/tpm_public.h"
#include "util/error.h"

#define SPEC_ID_FIXED 28	/* TCG_EfiSpecIdEvent up to digestSizes */
#define SIGLIST_FIXED 28	/* EFI_SIGNATURE_LIST header */
#define IMAGE_FIXED 32		/* UEFI_IMAGE_LOAD_EVENT up to DevicePath */
#define NAME_MAX_CHARS 256	/* longest variable name we decode */

static const uint8_t spec_id_sig[16] = "Spec ID Event03";
static const uint8_t locality_sig[16] = "StartupLocality";

/* EFI_GUID {u32, u16, u16, u8[8]} as its little-endian bytes. */
#define GUID(a, b, c, d0, d1, d2, d3, d4, d5, d6, d7)                       \
	{ (a) & 0xff, (a) >> 8 & 0xff, (a) >> 16 & 0xff, (a) >> 24 & 0xff,  \
	  (b) & 0xff, (b) >> 8 & 0xff, (c) & 0xff, (c) >> 8 & 0xff,          \
	  d0, d1, d2, d3, d4, d5, d6, d7 }

const uint8_t uefi_guid_global[16] = GUID(0x8be4df61, 0x93ca, 0x11d2,
	0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c);
const uint8_t uefi_guid_image_security[16] = GUID(0xd719b2cb, 0x3d3a,
	0x4596, 0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f);
const uint8_t uefi_guid_shim[16] = GUID(0x605dab50, 0xe046, 0x4300,
	0xab, 0xb6, 0x3d, 0xd8, 0x10, 0xdd, 0x8b, 0x23);
const uint8_t uefi_guid_cert_x509[16] = GUID(0xa5c059a1, 0x94e4, 0x4aa7,
	0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72);
const uint8_t uefi_guid_cert_sha256[16] = GUID(0xc1c41626, 0x504c, 0x4092,
	0xac, 0xa9, 0x41, 0xf9, 0x36, 0x93, 0x43, 0x28);

static const struct {
	uint32_t type;
	const char *name;
} type_names[] = {
	{ EV_PREBOOT_CERT, "EV_PREBOOT_CERT" },
	{ EV_POST_CODE, "EV_POST_CODE" },
	{ EV_NO_ACTION, "EV_NO_ACTION" },
	{ EV_SEPARATOR, "EV_SEPARATOR" },
	{ EV_ACTION, "EV_ACTION" },
	{ EV_S_CRTM_CONTENTS, "EV_S_CRTM_CONTENTS" },
	{ EV_S_CRTM_VERSION, "EV_S_CRTM_VERSION" },
	{ EV_CPU_MICROCODE, "EV_CPU_MICROCODE" },
	{ EV_PLATFORM_CONFIG_FLAGS, "EV_PLATFORM_CONFIG_FLAGS" },
	{ EV_IPL, "EV_IPL" },
	{ EV_NONHOST_INFO, "EV_NONHOST_INFO" },
	{ EV_EFI_VARIABLE_DRIVER_CONFIG, "EV_EFI_VARIABLE_DRIVER_CONFIG" },
	{ EV_EFI_VARIABLE_BOOT, "EV_EFI_VARIABLE_BOOT" },
	{ EV_EFI_BOOT_SERVICES_APPLICATION,
	  "EV_EFI_BOOT_SERVICES_APPLICATION" },
	{ EV_EFI_BOOT_SERVICES_DRIVER, "EV_EFI_BOOT_SERVICES_DRIVER" },
	{ EV_EFI_RUNTIME_SERVICES_DRIVER, "EV_EFI_RUNTIME_SERVICES_DRIVER" },
	{ EV_EFI_GPT_EVENT, "EV_EFI_GPT_EVENT" },
	{ EV_EFI_ACTION, "EV_EFI_ACTION" },
	{ EV_EFI_PLATFORM_FIRMWARE_BLOB, "EV_EFI_PLATFORM_FIRMWARE_BLOB" },
	{ EV_EFI_HANDOFF_TABLES, "EV_EFI_HANDOFF_TABLES" },
	{ EV_EFI_PLATFORM_FIRMWARE_BLOB2, "EV_EFI_PLATFORM_FIRMWARE_BLOB2" },
	{ EV_EFI_HANDOFF_TABLES2, "EV_EFI_HANDOFF_TABLES2" },
	{ EV_EFI_VARIABLE_BOOT2, "EV_EFI_VARIABLE_BOOT2" },
	{ EV_EFI_HCRTM_EVENT, "EV_EFI_HCRTM_EVENT" },
	{ EV_EFI_VARIABLE_AUTHORITY, "EV_EFI_VARIABLE_AUTHORITY" },
};

const char *uefi_event_type_name(uint32_t type)
{
	size_t i;

	for (i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (type_names[i].type == type)
			return type_names[i].name;
	return NULL;
}

/* For messages: a name, or the number. buf must hold 16 bytes. */
static const char *type_str(uint32_t type, char *buf)
{
	const char *s = uefi_event_type_name(type);

	if (s)
		return s;
	snprintf(buf, 16, "type 0x%x", type);
	return buf;
}

static const char *alg_str(uint16_t alg)
{
	const char *s = tpm_alg_name(alg);

	return s ? s : "unknown algorithm";
}

void uefi_guid_str(const uint8_t g[16], char out[37])
{
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9],
		 g[10], g[11], g[12], g[13], g[14], g[15]);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int uefi_guid_parse(const char *s, uint8_t g[16])
{
	/* Text order of the 16 bytes: the first three fields reversed. */
	static const uint8_t order[16] = { 3, 2, 1, 0, 5, 4, 7, 6,
					   8, 9, 10, 11, 12, 13, 14, 15 };
	size_t i, k = 0;
	int hi, lo;

	if (!s || strlen(s) != 36)
		return -1;
	for (i = 0; i < 36;) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i++] != '-')
				return -1;
			continue;
		}
		hi = hexval(s[i]);
		lo = hexval(s[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		g[order[k++]] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	return 0;
}

int uefi_utf16_to_utf8(const uint8_t *p, size_t nchars, struct buf *out)
{
	uint8_t u8[4];
	uint32_t cp, lo;
	size_t i, n;

	for (i = 0; i < nchars; i++) {
		cp = (uint32_t)p[2 * i] | (uint32_t)p[2 * i + 1] << 8;
		if (cp == 0 || (cp >= 0xdc00 && cp < 0xe000))
			return -1;
		if (cp >= 0xd800 && cp < 0xdc00) {
			if (i + 1 >= nchars)
				return -1;
			i++;
			lo = (uint32_t)p[2 * i] | (uint32_t)p[2 * i + 1] << 8;
			if (lo < 0xdc00 || lo >= 0xe000)
				return -1;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		}
		if (cp < 0x80) {
			u8[0] = (uint8_t)cp;
			n = 1;
		} else if (cp < 0x800) {
			u8[0] = (uint8_t)(0xc0 | cp >> 6);
			u8[1] = (uint8_t)(0x80 | (cp & 0x3f));
			n = 2;
		} else if (cp < 0x10000) {
			u8[0] = (uint8_t)(0xe0 | cp >> 12);
			u8[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
			u8[2] = (uint8_t)(0x80 | (cp & 0x3f));
			n = 3;
		} else {
			u8[0] = (uint8_t)(0xf0 | cp >> 18);
			u8[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
			u8[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
			u8[3] = (uint8_t)(0x80 | (cp & 0x3f));
			n = 4;
		}
		if (buf_append(out, u8, n))
			return -1;
	}
	/* An empty name still needs the terminating NUL buf keeps. */
	return buf_reserve(out, 1);
}

/* ---- parsing ---- */

int uefi_log_bank(const struct uefi_log *log, uint16_t alg)
{
	size_t b;

	for (b = 0; b < log->nalgs; b++)
		if (log->alg[b] == alg)
			return (int)b;
	return -1;
}

static int parse_spec_id(struct uefi_log *log, const uint8_t *p, size_t n,
			 char *err, size_t errlen)
{
	struct cursor c = cursor_init(p, n);
	const uint8_t *sig = cursor_bytes(&c, 16);
	uint32_t nalgs, i, k;
	uint16_t alg, size;
	uint8_t vendor;

	if (!sig || memcmp(sig, spec_id_sig, sizeof(spec_id_sig))) {
		error_set(err, errlen, "not a crypto-agile event log: the "
			  "header is not a \"Spec ID Event03\" (SHA1-only "
			  "TPM 1.2 logs are not supported)");
		return -1;
	}
	log->platform_class = cursor_le32(&c);
	log->spec_minor = cursor_u8(&c);
	log->spec_major = cursor_u8(&c);
	log->spec_errata = cursor_u8(&c);
	log->uintn_size = cursor_u8(&c);
	nalgs = cursor_le32(&c);
	if (c.err) {
		error_set(err, errlen, "Spec ID event truncated");
		return -1;
	}
	if (log->spec_major != 2) {
		error_set(err, errlen, "Spec ID version %u.%u, expected 2.x",
			  log->spec_major, log->spec_minor);
		return -1;
	}
	if (log->uintn_size != 1 && log->uintn_size != 2) {
		error_set(err, errlen, "Spec ID uintnSize %u, expected 1 or 2",
			  log->uintn_size);
		return -1;
	}
	if (nalgs < 1 || nalgs > UEFI_MAX_BANKS) {
		error_set(err, errlen, "Spec ID lists %u algorithms, expected "
			  "1 to %d", nalgs, UEFI_MAX_BANKS);
		return -1;
	}
	for (i = 0; i < nalgs; i++) {
		alg = cursor_le16(&c);
		size = cursor_le16(&c);
		if (c.err)
			break;
		if (!tpm_hash_size(alg)) {
			error_set(err, errlen, "Spec ID lists unknown hash "
				  "algorithm 0x%04x", alg);
			return -1;
		}
		if (size != tpm_hash_size(alg)) {
			error_set(err, errlen, "Spec ID gives %s a digest size "
				  "of %u, expected %zu", alg_str(alg), size,
				  tpm_hash_size(alg));
			return -1;
		}
		for (k = 0; k < i; k++) {
			if (log->alg[k] == alg) {
				error_set(err, errlen, "Spec ID lists %s twice",
					  alg_str(alg));
				return -1;
			}
		}
		log->alg[i] = alg;
		log->alg_size[i] = size;
	}
	vendor = cursor_u8(&c);
	cursor_bytes(&c, vendor);
	if (c.err) {
		error_set(err, errlen, "Spec ID event truncated");
		return -1;
	}
	if (c.left) {
		error_set(err, errlen, "Spec ID event has %zu bytes after "
			  "its vendor info", c.left);
		return -1;
	}
	log->nalgs = nalgs;
	return 0;
}

static int parse_header(struct uefi_log *log, struct cursor *c, char *err,
			size_t errlen)
{
	static const uint8_t zeros[20];
	struct uefi_event *ev = &log->events[0];
	const uint8_t *digest;
	uint32_t pcr, type, size;

	pcr = cursor_le32(c);
	type = cursor_le32(c);
	digest = cursor_bytes(c, sizeof(zeros));
	size = cursor_le32(c);
	if (c->err) {
		error_set(err, errlen, "not a TCG event log: %zu bytes are "
			  "too few for its header", log->raw.len);
		return -1;
	}
	if (pcr != 0 || type != EV_NO_ACTION) {
		error_set(err, errlen, "not a TCG event log: the first event "
			  "must be EV_NO_ACTION in PCR 0 (found PCR %u, type "
			  "0x%x)", pcr, type);
		return -1;
	}
	if (memcmp(digest, zeros, sizeof(zeros))) {
		error_set(err, errlen, "not a TCG event log: the header "
			  "event's digest is not zero");
		return -1;
	}
	if (size > c->left || size > UEFI_EVENT_MAX) {
		error_set(err, errlen, "header event data (%u bytes) runs "
			  "past the end of the log", size);
		return -1;
	}
	ev->type = EV_NO_ACTION;
	ev->data = cursor_bytes(c, size);
	ev->size = size;
	return parse_spec_id(log, ev->data, size, err, errlen);
}

static int parse_event(struct uefi_log *log, struct cursor *c, size_t num,
		       char *err, size_t errlen)
{
	struct uefi_event *ev = &log->events[num];
	uint32_t count, i, size;
	uint16_t alg;
	int b;

	ev->offset = log->raw.len - c->left;
	ev->pcr = cursor_le32(c);
	ev->type = cursor_le32(c);
	count = cursor_le32(c);
	if (c->err)
		goto truncated;
	if (ev->pcr >= QUOTE_PCR_COUNT) {
		error_set(err, errlen, "event %zu at offset 0x%zx: PCR index "
			  "%u is out of range", num, ev->offset, ev->pcr);
		return -1;
	}
	if (count != log->nalgs) {
		error_set(err, errlen, "event %zu at offset 0x%zx carries %u "
			  "digests, the Spec ID lists %zu algorithms", num,
			  ev->offset, count, log->nalgs);
		return -1;
	}
	for (i = 0; i < count; i++) {
		alg = cursor_le16(c);
		if (c->err)
			goto truncated;
		b = uefi_log_bank(log, alg);
		if (b < 0) {
			error_set(err, errlen, "event %zu at offset 0x%zx: "
				  "digest of algorithm 0x%04x, which the Spec "
				  "ID does not list", num, ev->offset, alg);
			return -1;
		}
		if (ev->digest[b]) {
			error_set(err, errlen, "event %zu at offset 0x%zx: two "
				  "%s digests", num, ev->offset, alg_str(alg));
			return -1;
		}
		ev->digest[b] = cursor_bytes(c, log->alg_size[b]);
		if (!ev->digest[b])
			goto truncated;
	}
	size = cursor_le32(c);
	if (c->err)
		goto truncated;
	if (size > UEFI_EVENT_MAX) {
		error_set(err, errlen, "event %zu at offset 0x%zx: %u bytes of "
			  "event data, at most %u accepted", num, ev->offset,
			  size, UEFI_EVENT_MAX);
		return -1;
	}
	if (size > c->left) {
		error_set(err, errlen, "event %zu at offset 0x%zx: event data "
			  "(%u bytes) runs past the end of the log (%zu bytes "
			  "left)", num, ev->offset, size, c->left);
		return -1;
	}
	ev->size = size;
	ev->data = cursor_bytes(c, size);
	return 0;
truncated:
	error_set(err, errlen, "event %zu at offset 0x%zx: the log ends "
		  "inside the event header", num, ev->offset);
	return -1;
}

/* StartupLocality and H-CRTM set PCR 0's starting value, which only makes
 * sense before anything was extended into it. */
static int check_pcr0_start(struct uefi_log *log, size_t num,
			    bool *measured, char *err, size_t errlen)
{
	const struct uefi_event *ev = &log->events[num];

	if (ev->pcr != 0)
		return 0;
	if (ev->type == EV_NO_ACTION && ev->size >= sizeof(locality_sig) &&
	    !memcmp(ev->data, locality_sig, sizeof(locality_sig))) {
		if (ev->size != sizeof(locality_sig) + 1) {
			error_set(err, errlen, "event %zu: StartupLocality "
				  "event of %u bytes, expected 17", num,
				  ev->size);
			return -1;
		}
		if (*measured || log->locality >= 0 || log->hcrtm) {
			error_set(err, errlen, "event %zu: StartupLocality "
				  "after PCR 0 was started or measured", num);
			return -1;
		}
		log->locality = ev->data[16];
		if (log->locality != 0 && log->locality != 3) {
			error_set(err, errlen, "event %zu: StartupLocality %d "
				  "(expected 0 or 3)", num, log->locality);
			return -1;
		}
	} else if (ev->type == EV_EFI_HCRTM_EVENT) {
		if (*measured || log->locality >= 0 || log->hcrtm) {
			error_set(err, errlen, "event %zu: H-CRTM event after "
				  "PCR 0 was started or measured", num);
			return -1;
		}
		log->hcrtm = true;
		*measured = true;
	} else if (ev->type != EV_NO_ACTION) {
		*measured = true;
	}
	return 0;
}

int uefi_log_parse(const uint8_t *p, size_t n, struct uefi_log *log,
		   char *err, size_t errlen)
{
	struct cursor c;
	bool pcr0_measured = false;
	size_t cap = 64, num;
	void *grown;

	memset(log, 0, sizeof(*log));
	log->locality = -1;
	if (n == 0) {
		error_set(err, errlen, "the event log is empty");
		return -1;
	}
	if (n > UEFI_LOG_MAX) {
		error_set(err, errlen, "event log of %zu bytes, at most %zu "
			  "accepted", n, UEFI_LOG_MAX);
		return -1;
	}
	log->events = calloc(cap, sizeof(*log->events));
	if (!log->events || buf_append(&log->raw, p, n)) {
		error_set(err, errlen, "out of memory");
		return -1;
	}
	c = cursor_init(log->raw.data, log->raw.len);
	if (parse_header(log, &c, err, errlen))
		return -1;
	for (num = 1; c.left; num++) {
		if (num >= UEFI_MAX_EVENTS) {
			error_set(err, errlen, "more than %d events",
				  UEFI_MAX_EVENTS - 1);
			return -1;
		}
		if (num == cap) {
			grown = realloc(log->events,
					2 * cap * sizeof(*log->events));
			if (!grown) {
				error_set(err, errlen, "out of memory");
				return -1;
			}
			log->events = grown;
			memset(log->events + cap, 0, cap * sizeof(*log->events));
			cap *= 2;
		}
		if (parse_event(log, &c, num, err, errlen) ||
		    check_pcr0_start(log, num, &pcr0_measured, err, errlen))
			return -1;
	}
	log->nevents = num;
	return 0;
}

void uefi_log_free(struct uefi_log *log)
{
	buf_free(&log->raw);
	free(log->events);
	memset(log, 0, sizeof(*log));
	log->locality = -1;
}

/* ---- replay ---- */

static int extend(EVP_MD_CTX *ctx, const EVP_MD *md, uint8_t *pcr,
		  size_t size, const uint8_t *digest)
{
	return EVP_DigestInit_ex(ctx, md, NULL) == 1 &&
	       EVP_DigestUpdate(ctx, pcr, size) == 1 &&
	       EVP_DigestUpdate(ctx, digest, size) == 1 &&
	       EVP_DigestFinal_ex(ctx, pcr, NULL) == 1 ? 0 : -1;
}

static int replay_bank(const struct uefi_log *log, size_t b,
		       struct pcr_bank *bank, EVP_MD_CTX *ctx)
{
	const EVP_MD *md = tpm_alg_md(log->alg[b]);
	const struct uefi_event *ev;
	size_t i;

	if (!md)
		return -1;
	bank->alg = log->alg[b];
	bank->size = log->alg_size[b];
	bank->mask = UEFI_PCR_MASK;
	if (log->hcrtm)
		bank->value[0][bank->size - 1] = 4;
	else if (log->locality > 0)
		bank->value[0][bank->size - 1] = (uint8_t)log->locality;
	for (i = 1; i < log->nevents; i++) {
		ev = &log->events[i];
		if (ev->type == EV_NO_ACTION || !(UEFI_PCR_MASK >> ev->pcr & 1))
			continue;
		if (extend(ctx, md, bank->value[ev->pcr], bank->size,
			   ev->digest[b]))
			return -1;
	}
	return 0;
}

int uefi_log_replay(const struct uefi_log *log, struct pcr_values *out,
		    char *err, size_t errlen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t b;

	memset(out, 0, sizeof(*out));
	if (!ctx) {
		error_set(err, errlen, "out of memory");
		return -1;
	}
	for (b = 0; b < log->nalgs; b++) {
		if (replay_bank(log, b, &out->bank[b], ctx)) {
			error_set(err, errlen, "cannot replay the %s bank",
				  alg_str(log->alg[b]));
			memset(out, 0, sizeof(*out));
			EVP_MD_CTX_free(ctx);
			return -1;
		}
	}
	out->nbanks = log->nalgs;
	EVP_MD_CTX_free(ctx);
	return 0;
}

int uefi_pcrs_compare(const struct pcr_values *replayed,
		      const struct pcr_values *quoted, uint32_t mask,
		      char *err, size_t errlen)
{
	const struct pcr_bank *q, *r;
	uint32_t want, seen = 0;
	size_t b;
	int i;

	for (b = 0; b < quoted->nbanks && b < TPM2_NUM_PCR_BANKS; b++) {
		q = &quoted->bank[b];
		want = q->mask & mask;
		if (!want)
			continue;
		r = quote_pcr_bank(replayed, q->alg);
		if (!r) {
			error_set(err, errlen, "the event log has no %s "
				  "digests", alg_str(q->alg));
			return -1;
		}
		for (i = 0; i < QUOTE_PCR_COUNT; i++) {
			if (!(want >> i & 1))
				continue;
			if (!(r->mask >> i & 1)) {
				error_set(err, errlen, "PCR %d is not replayed "
					  "from the event log", i);
				return -1;
			}
			if (q->size != r->size ||
			    memcmp(q->value[i], r->value[i], r->size)) {
				error_set(err, errlen, "PCR %d (%s) does not "
					  "match the event log", i,
					  alg_str(q->alg));
				return -1;
			}
		}
		seen |= want;
	}
	for (i = 0; i < QUOTE_PCR_COUNT; i++) {
		if ((mask & ~seen) >> i & 1) {
			error_set(err, errlen, "PCR %d is not in the quote", i);
			return -1;
		}
	}
	return 0;
}

/* ---- the boot state ---- */

/* Once-only measurements the example policy knows. */
enum {
	ONCE_SECUREBOOT = 1 << 0,
	ONCE_PK = 1 << 1,
	ONCE_KEK = 1 << 2,
	ONCE_DB = 1 << 3,
	ONCE_DBX = 1 << 4,
	ONCE_VENDOR_DB = 1 << 5,
	ONCE_AUTH_DB = 1 << 6,
	ONCE_AUTH_VENDOR_DB = 1 << 7,
	ONCE_AUTH_SBAT = 1 << 8,
	ONCE_AUTH_SHIM = 1 << 9,
	ONCE_AUTH_MOKTRUSTED = 1 << 10,
	ONCE_AUTH_MOKRT = 1 << 11,
	ONCE_GPT = 1 << 12,
	ONCE_IPL_MOKTRUSTED = 1 << 13,
};

struct build {
	const struct uefi_log *log;
	struct uefi_boot_state *st;
	size_t num;		/* the event at hand */
	const struct uefi_event *ev;
	unsigned once;
	char *err;
	size_t errlen;
};

static void unexpected(struct build *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Records the first event the example policy has no rule for. */
static void unexpected(struct build *b, const char *fmt, ...)
{
	struct uefi_boot_state *st = b->st;
	size_t n;
	va_list ap;

	if (st->unexpected)
		return;
	st->unexpected = b->num;
	/* The event number is at most 5 digits: the prefix always fits. */
	n = (size_t)snprintf(st->unexpected_why, sizeof(st->unexpected_why),
			     "event %zu: ", b->num);
	va_start(ap, fmt);
	vsnprintf(st->unexpected_why + n, sizeof(st->unexpected_why) - n, fmt,
		  ap);
	va_end(ap);
}

/* 0 when every bank's digest is H(p), 1 when one is not, -1 when a bank
 * cannot be hashed. */
static int digest_check(const struct build *b, const void *p, size_t n)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	const EVP_MD *alg;
	unsigned len;
	size_t k;

	for (k = 0; k < b->log->nalgs; k++) {
		alg = tpm_alg_md(b->log->alg[k]);
		if (!alg || EVP_Digest(p, n, md, &len, alg, NULL) != 1)
			return -1;
		if (len != b->log->alg_size[k] ||
		    memcmp(md, b->ev->digest[k], len))
			return 1;
	}
	return 0;
}

/* Data the state exposes must be what was measured. */
static int digest_require(struct build *b, const void *p, size_t n,
			  const char *what)
{
	char tb[16];
	int r = digest_check(b, p, n);

	if (r == 0)
		return 0;
	if (r < 0)
		error_set(b->err, b->errlen, "event %zu: cannot compute its "
			  "digests", b->num);
	else
		error_set(b->err, b->errlen, "event %zu (%s%s%s): digest does "
			  "not match its data", b->num,
			  type_str(b->ev->type, tb), what[0] ? " " : "", what);
	return -1;
}

static int items_add(struct build *b, struct uefi_items *it,
		     const uint8_t *data, size_t len)
{
	struct uefi_item *grown, *item;

	/* Grow by powers of two: n is a power of two when full. */
	if ((it->n & (it->n - 1)) == 0) {
		grown = realloc(it->v, (it->n ? 2 * it->n : 1) * sizeof(*grown));
		if (!grown) {
			error_set(b->err, b->errlen, "out of memory");
			return -1;
		}
		it->v = grown;
	}
	item = &it->v[it->n++];
	memset(item, 0, sizeof(*item));
	item->event = b->num;
	memcpy(item->digest, b->ev->digest, sizeof(item->digest));
	item->data = data;
	item->len = len;
	return 0;
}

static int sigs_add(struct build *b, struct uefi_sigdb *db,
		    const uint8_t *type, const uint8_t *owner,
		    const uint8_t *data, size_t len)
{
	struct uefi_sig *grown, *s;

	if ((db->n & (db->n - 1)) == 0) {
		grown = realloc(db->v, (db->n ? 2 * db->n : 1) * sizeof(*grown));
		if (!grown) {
			error_set(b->err, b->errlen, "out of memory");
			return -1;
		}
		db->v = grown;
	}
	s = &db->v[db->n++];
	memcpy(s->type, type, 16);
	memcpy(s->owner, owner, 16);
	s->data = data;
	s->len = len;
	return 0;
}

/* For messages: at most 80 bytes of text, other than printable ASCII as
 * '?'. out holds 81 bytes. */
static const char *printable(const uint8_t *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n && i < 80; i++)
		out[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	out[i] = 0;
	return out;
}

/* A string event's text: its data without one trailing NUL. */
static size_t text_len(const struct uefi_event *ev)
{
	if (ev->size && ev->data[ev->size - 1] == 0)
		return ev->size - 1;
	return ev->size;
}

static bool text_is(const struct uefi_event *ev, const char *s)
{
	return text_len(ev) == strlen(s) && !memcmp(ev->data, s, strlen(s));
}

static bool text_has(const struct uefi_event *ev, const char *s)
{
	return memmem(ev->data, text_len(ev), s, strlen(s)) != NULL;
}

static bool text_starts(const struct uefi_event *ev, const char *s)
{
	return text_len(ev) >= strlen(s) && !memcmp(ev->data, s, strlen(s));
}

struct var {
	const uint8_t *guid;
	struct buf name;	/* UTF-8 */
	const uint8_t *data;
	size_t len;
};

static int var_parse(struct build *b, struct var *v)
{
	struct cursor c = cursor_init(b->ev->data, b->ev->size);
	const uint8_t *name;
	uint64_t nlen, dlen;

	v->guid = cursor_bytes(&c, 16);
	nlen = cursor_le64(&c);
	dlen = cursor_le64(&c);
	if (c.err) {
		error_set(b->err, b->errlen, "event %zu: UEFI_VARIABLE_DATA "
			  "of %u bytes is too short", b->num, b->ev->size);
		return -1;
	}
	if (nlen > NAME_MAX_CHARS || nlen > c.left / 2) {
		error_set(b->err, b->errlen, "event %zu: variable name of "
			  "%llu characters does not fit", b->num,
			  (unsigned long long)nlen);
		return -1;
	}
	name = cursor_bytes(&c, 2 * nlen);
	if (dlen != c.left) {
		error_set(b->err, b->errlen, "event %zu: VariableDataLength "
			  "%llu, but %zu bytes follow the name", b->num,
			  (unsigned long long)dlen, c.left);
		return -1;
	}
	v->data = cursor_bytes(&c, dlen);
	v->len = dlen;
	/* Tolerate a NUL-terminated name: some firmware counts it. */
	if (nlen && !name[2 * nlen - 2] && !name[2 * nlen - 1])
		nlen--;
	if (uefi_utf16_to_utf8(name, nlen, &v->name)) {
		error_set(b->err, b->errlen, "event %zu: variable name is "
			  "not valid UTF-16", b->num);
		return -1;
	}
	return 0;
}

static bool var_is(const struct var *v, const uint8_t *guid,
		   const char *name)
{
	return !memcmp(v->guid, guid, 16) &&
	       !strcmp((const char *)v->name.data, name);
}

/* EFI_SIGNATURE_LISTs: SignatureType, u32 ListSize, u32 HeaderSize, u32
 * SignatureSize, header, then (ListSize - 28 - HeaderSize) / SignatureSize
 * EFI_SIGNATURE_DATA { owner GUID, data }. */
static int siglists_parse(struct build *b, struct uefi_sigdb *db,
			  const char *name, const uint8_t *p, size_t n)
{
	struct cursor c = cursor_init(p, n);
	const uint8_t *type, *owner, *data;
	uint32_t lsize, hsize, ssize, count, i;
	size_t at;

	db->event = b->num;
	while (c.left) {
		at = n - c.left;
		type = cursor_bytes(&c, 16);
		lsize = cursor_le32(&c);
		hsize = cursor_le32(&c);
		ssize = cursor_le32(&c);
		if (c.err || lsize < SIGLIST_FIXED ||
		    lsize - SIGLIST_FIXED > c.left ||
		    hsize > lsize - SIGLIST_FIXED || ssize <= 16 ||
		    (lsize - SIGLIST_FIXED - hsize) % ssize ||
		    (!memcmp(type, uefi_guid_cert_sha256, 16) &&
		     ssize != 16 + 32))
			goto bad;
		count = (lsize - SIGLIST_FIXED - hsize) / ssize;
		cursor_bytes(&c, hsize);
		for (i = 0; i < count; i++) {
			owner = cursor_bytes(&c, 16);
			data = cursor_bytes(&c, ssize - 16);
			if (!data)
				goto bad;
			if (sigs_add(b, db, type, owner, data, ssize - 16))
				return -1;
		}
	}
	return 0;
bad:
	error_set(b->err, b->errlen, "event %zu: malformed "
		  "EFI_SIGNATURE_LIST at byte %zu of %s", b->num, at, name);
	return -1;
}

static bool once(struct build *b, unsigned flag, const char *what)
{
	if (b->once & flag) {
		unexpected(b, "%s measured more than once", what);
		return false;
	}
	b->once |= flag;
	return true;
}

static int driver_config(struct build *b, const struct var *v)
{
	struct uefi_boot_state *st = b->st;
	const char *name = (const char *)v->name.data;
	static const struct {
		const uint8_t *guid;
		const char *name;
		unsigned flag;
		size_t off;
	} dbs[] = {
		{ uefi_guid_global, "PK", ONCE_PK,
		  offsetof(struct uefi_boot_state, pk) },
		{ uefi_guid_global, "KEK", ONCE_KEK,
		  offsetof(struct uefi_boot_state, kek) },
		{ uefi_guid_image_security, "db", ONCE_DB,
		  offsetof(struct uefi_boot_state, db) },
		{ uefi_guid_image_security, "dbx", ONCE_DBX,
		  offsetof(struct uefi_boot_state, dbx) },
		{ uefi_guid_image_security, "vendor_db", ONCE_VENDOR_DB,
		  offsetof(struct uefi_boot_state, vendor_db) },
	};
	char text[81];
	size_t i;

	if (var_is(v, uefi_guid_global, "SecureBoot")) {
		if (!once(b, ONCE_SECUREBOOT, "SecureBoot"))
			return 0;
		if (v->len > 1) {
			error_set(b->err, b->errlen, "event %zu: SecureBoot "
				  "variable of %zu bytes, expected 1", b->num,
				  v->len);
			return -1;
		}
		st->secure_boot = v->len && v->data[0] ? UEFI_SB_ON :
							 UEFI_SB_OFF;
		st->secure_boot_event = b->num;
		return 0;
	}
	for (i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		if (!var_is(v, dbs[i].guid, dbs[i].name))
			continue;
		if (!once(b, dbs[i].flag, name))
			return 0;
		return siglists_parse(b, (struct uefi_sigdb *)
				      ((char *)st + dbs[i].off), name,
				      v->data, v->len);
	}
	unexpected(b, "unexpected variable '%s' in PCR 7",
		   printable(v->name.data, v->name.len, text));
	return 0;
}

static int authority(struct build *b, const struct var *v)
{
	static const struct {
		const uint8_t *guid;
		const char *name;
		unsigned flag;
	} known[] = {
		{ uefi_guid_image_security, "db", ONCE_AUTH_DB },
		{ uefi_guid_shim, "SbatLevel", ONCE_AUTH_SBAT },
		{ uefi_guid_shim, "Shim", ONCE_AUTH_SHIM },
		{ uefi_guid_shim, "MokListTrusted", ONCE_AUTH_MOKTRUSTED },
		{ uefi_guid_shim, "MokListRT", ONCE_AUTH_MOKRT },
	};
	static const uint8_t no_type[16];
	const char *name = (const char *)v->name.data;
	char text[81];
	size_t i;

	if (var_is(v, uefi_guid_image_security, "vendor_db")) {
		if (!once(b, ONCE_AUTH_VENDOR_DB, "vendor_db authority"))
			return 0;
		/* One EFI_SIGNATURE_DATA, as tpm2-tools reads it. */
		if (v->len <= 16) {
			error_set(b->err, b->errlen, "event %zu: vendor_db "
				  "authority of %zu bytes is too short",
				  b->num, v->len);
			return -1;
		}
		b->st->vendor_db_auth.event = b->num;
		return sigs_add(b, &b->st->vendor_db_auth, no_type, v->data,
				v->data + 16, v->len - 16);
	}
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (var_is(v, known[i].guid, known[i].name)) {
			once(b, known[i].flag, name);
			return 0;
		}
	}
	unexpected(b, "unexpected authority '%s' in PCR 7",
		   printable(v->name.data, v->name.len, text));
	return 0;
}

static int pcr7(struct build *b)
{
	struct var v = { NULL, BUF_INIT, NULL, 0 };
	char tb[16], text[81];
	int r;

	if (b->ev->type != EV_EFI_VARIABLE_DRIVER_CONFIG &&
	    b->ev->type != EV_EFI_VARIABLE_AUTHORITY) {
		unexpected(b, "%s in PCR 7", type_str(b->ev->type, tb));
		return 0;
	}
	if (var_parse(b, &v)) {
		buf_free(&v.name);
		return -1;
	}
	if (digest_require(b, b->ev->data, b->ev->size,
			   printable(v.name.data, v.name.len, text))) {
		buf_free(&v.name);
		return -1;
	}
	if (b->ev->type == EV_EFI_VARIABLE_DRIVER_CONFIG)
		r = driver_config(b, &v);
	else
		r = authority(b, &v);
	buf_free(&v.name);
	return r;
}

/* EV_EFI_ACTION strings the example policy allows, by PCR. */
static int efi_action(struct build *b, const char *const *allowed)
{
	size_t len = text_len(b->ev);
	char text[81];

	for (; *allowed; allowed++) {
		if (!text_is(b->ev, *allowed))
			continue;
		/* The digest is of the string without a NUL. */
		return digest_require(b, b->ev->data, len, *allowed);
	}
	unexpected(b, "EV_EFI_ACTION '%s' in PCR %u",
		   printable(b->ev->data, len, text), b->ev->pcr);
	return 0;
}

/* A device path starting with FvVol() (media type 4, subtype 7) then
 * FvFile() (subtype 6), 20 bytes each: an application inside the firmware. */
static bool fv_path(const uint8_t *p, size_t n)
{
	return n >= 40 && p[0] == 4 && p[1] == 7 && p[2] == 20 && p[3] == 0 &&
	       p[20] == 4 && p[21] == 6 && p[22] == 20 && p[23] == 0;
}

static int pcr4(struct build *b)
{
	static const char *const actions[] = {
		"Calling EFI Application from Boot Option",
		"Returning from EFI Application from Boot Option", NULL };
	struct cursor c;
	const uint8_t *path;
	uint64_t plen;
	char tb[16];

	switch (b->ev->type) {
	case EV_EFI_ACTION:
		return efi_action(b, actions);
	case EV_EFI_BOOT_SERVICES_APPLICATION:
		c = cursor_init(b->ev->data, b->ev->size);
		cursor_bytes(&c, IMAGE_FIXED - 8);
		plen = cursor_le64(&c);
		if (c.err || plen > c.left) {
			error_set(b->err, b->errlen, "event %zu: malformed "
				  "UEFI_IMAGE_LOAD_EVENT", b->num);
			return -1;
		}
		path = cursor_bytes(&c, plen);
		return items_add(b, fv_path(path, plen) ? &b->st->fv_apps :
			&b->st->apps, path, plen);
	default:
		unexpected(b, "%s in PCR 4", type_str(b->ev->type, tb));
		return 0;
	}
}

static int pcr5(struct build *b)
{
	static const char *const actions[] = {
		"Exit Boot Services Invocation",
		"Exit Boot Services Returned with Failure",
		"Exit Boot Services Returned with Success", NULL };
	char tb[16];

	switch (b->ev->type) {
	case EV_EFI_ACTION:
		return efi_action(b, actions);
	case EV_EFI_GPT_EVENT:
		if (once(b, ONCE_GPT, "EV_EFI_GPT_EVENT"))
			b->st->gpt = true;
		return 0;
	default:
		unexpected(b, "%s in PCR 5", type_str(b->ev->type, tb));
		return 0;
	}
}

/* grub: "grub_cmd: <command>" and "kernel_cmdline: <line>", the digest
 * being of what follows the prefix, with or without its NUL. */
static int pcr8(struct build *b)
{
	static const char prefix[] = "kernel_cmdline: ";
	bool nul = text_len(b->ev) < b->ev->size;
	const uint8_t *line;
	size_t len;

	if (text_starts(b->ev, "grub_cmd: "))
		return 0;
	if (!text_starts(b->ev, prefix)) {
		unexpected(b, "EV_IPL in PCR 8 is neither a grub_cmd nor a "
			   "kernel_cmdline");
		return 0;
	}
	line = b->ev->data + sizeof(prefix) - 1;
	len = text_len(b->ev) - (sizeof(prefix) - 1);
	if (digest_check(b, line, len) &&
	    !(nul && digest_check(b, line, len + 1) == 0))
		return digest_require(b, line, len, "kernel_cmdline");
	return items_add(b, &b->st->kernel_cmdline, line, len);
}

/* What grub read, by Keylime's patterns in their order. A newline keeps
 * every pattern (".*x.*" without DOTALL) from matching. */
static int pcr9(struct build *b)
{
	const struct uefi_event *ev = b->ev;
	char text[81];

	if (memchr(ev->data, '\n', text_len(ev)))
		goto unknown;
	if (text_has(ev, "/loader/entries") || text_has(ev, "/grub"))
		return 0;
	if (text_has(ev, "/vmlinuz"))
		return items_add(b, &b->st->vmlinuz, ev->data, text_len(ev));
	if (text_has(ev, "/initrd") || text_has(ev, "/initramfs"))
		return items_add(b, &b->st->initrd, ev->data, text_len(ev));
unknown:
	unexpected(b, "EV_IPL '%s' in PCR 9 is no kernel, initrd or grub "
		   "file", printable(ev->data, text_len(ev), text));
	return 0;
}

static int pcr14(struct build *b)
{
	if (text_is(b->ev, "MokList"))
		return items_add(b, &b->st->moklist, NULL, 0);
	if (text_is(b->ev, "MokListX"))
		return items_add(b, &b->st->moklistx, NULL, 0);
	if (text_is(b->ev, "MokListTrusted"))
		once(b, ONCE_IPL_MOKTRUSTED, "MokListTrusted");
	else
		unexpected(b, "EV_IPL in PCR 14 is not MokList, MokListX or "
			   "MokListTrusted");
	return 0;
}

static int pcr0(struct build *b)
{
	switch (b->ev->type) {
	case EV_S_CRTM_VERSION:
		return items_add(b, &b->st->scrtm, b->ev->data, b->ev->size);
	case EV_EFI_PLATFORM_FIRMWARE_BLOB:
	case EV_EFI_PLATFORM_FIRMWARE_BLOB2:
		return items_add(b, &b->st->firmware, b->ev->data,
				 b->ev->size);
	case EV_POST_CODE:
		return items_add(b, &b->st->post_code, b->ev->data,
				 b->ev->size);
	default:
		return 0;
	}
}

static int separator(struct build *b)
{
	static const uint8_t ok[2][4] = { { 0, 0, 0, 0 },
					  { 0xff, 0xff, 0xff, 0xff } };

	if (b->ev->size == 4 && (!memcmp(b->ev->data, ok[0], 4) ||
				 !memcmp(b->ev->data, ok[1], 4)))
		return digest_require(b, b->ev->data, 4, "");
	if (!b->st->bad_separator)
		b->st->bad_separator = b->num;
	return 0;
}

static int classify(struct build *b)
{
	char tb[16];

	if (b->ev->type == EV_NO_ACTION)
		return 0;
	if (b->ev->type == EV_SEPARATOR && b->ev->pcr < 8)
		return separator(b);
	switch (b->ev->pcr) {
	case 0:
		return pcr0(b);
	case 4:
		return pcr4(b);
	case 5:
		return pcr5(b);
	case 7:
		return pcr7(b);
	case 8:
	case 9:
	case 14:
		if (b->ev->type != EV_IPL) {
			unexpected(b, "%s in PCR %u", type_str(b->ev->type,
				   tb), b->ev->pcr);
			return 0;
		}
		return b->ev->pcr == 8 ? pcr8(b) : b->ev->pcr == 9 ? pcr9(b) :
		       pcr14(b);
	default:
		return 0;
	}
}

int uefi_boot_state_build(const struct uefi_log *log,
			  struct uefi_boot_state *st, char *err,
			  size_t errlen)
{
	struct build b = { log, st, 0, NULL, 0, err, errlen };

	memset(st, 0, sizeof(*st));
	st->nalgs = log->nalgs;
	memcpy(st->alg, log->alg, sizeof(st->alg));
	memcpy(st->alg_size, log->alg_size, sizeof(st->alg_size));
	for (b.num = 1; b.num < log->nevents; b.num++) {
		b.ev = &log->events[b.num];
		if (classify(&b))
			return -1;
	}
	return 0;
}

static void items_free(struct uefi_items *it)
{
	free(it->v);
	memset(it, 0, sizeof(*it));
}

static void sigdb_free(struct uefi_sigdb *db)
{
	free(db->v);
	memset(db, 0, sizeof(*db));
}

void uefi_boot_state_free(struct uefi_boot_state *st)
{
	sigdb_free(&st->pk);
	sigdb_free(&st->kek);
	sigdb_free(&st->db);
	sigdb_free(&st->dbx);
	sigdb_free(&st->vendor_db);
	sigdb_free(&st->vendor_db_auth);
	items_free(&st->scrtm);
	items_free(&st->firmware);
	items_free(&st->post_code);
	items_free(&st->apps);
	items_free(&st->fv_apps);
	items_free(&st->kernel_cmdline);
	items_free(&st->vmlinuz);
	items_free(&st->initrd);
	items_free(&st->moklist);
	items_free(&st->moklistx);
	memset(st, 0, sizeof(*st));
}

const uint8_t *uefi_item_digest(const struct uefi_boot_state *st,
				const struct uefi_item *item, uint16_t alg)
{
	size_t b;

	for (b = 0; b < st->nalgs && b < UEFI_MAX_BANKS; b++)
		if (st->alg[b] == alg)
			return item->digest[b];
	return NULL;
}

/* ---- writing ---- */

static int put_le(struct buf *out, uint64_t v, size_t n)
{
	uint8_t b[8];
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	return buf_append(out, b, n);
}

int uefi_writer_init(struct uefi_log_writer *w, const uint16_t *algs,
		     size_t nalgs, int locality)
{
	static const uint8_t zeros[20];
	uint8_t loc[17];
	size_t i, k;
	int r;

	memset(w, 0, sizeof(*w));
	if (nalgs < 1 || nalgs > UEFI_MAX_BANKS || locality > 255)
		return -1;
	for (i = 0; i < nalgs; i++) {
		if (!tpm_hash_size(algs[i]))
			return -1;
		for (k = 0; k < i; k++)
			if (algs[k] == algs[i])
				return -1;
		w->alg[i] = algs[i];
	}
	w->nalgs = nalgs;
	r = put_le(&w->out, 0, 4) | put_le(&w->out, EV_NO_ACTION, 4) |
	    buf_append(&w->out, zeros, sizeof(zeros)) |
	    put_le(&w->out, SPEC_ID_FIXED + 4 * nalgs + 1, 4) |
	    buf_append(&w->out, spec_id_sig, sizeof(spec_id_sig)) |
	    put_le(&w->out, 0, 4) |		/* platformClass: client */
	    put_le(&w->out, 0, 1) | put_le(&w->out, 2, 1) |	/* 2.0 */
	    put_le(&w->out, 0, 1) |		/* specErrata */
	    put_le(&w->out, 2, 1) |		/* uintnSize: UINT64 */
	    put_le(&w->out, nalgs, 4);
	for (i = 0; i < nalgs; i++)
		r |= put_le(&w->out, algs[i], 2) |
		     put_le(&w->out, tpm_hash_size(algs[i]), 2);
	r |= put_le(&w->out, 0, 1);		/* vendorInfoSize */
	if (!r && locality >= 0) {
		memcpy(loc, locality_sig, sizeof(locality_sig));
		loc[16] = (uint8_t)locality;
		r = uefi_writer_add(w, 0, EV_NO_ACTION, loc, sizeof(loc),
				    NULL, 0);
	}
	return r ? -1 : 0;
}

int uefi_writer_add(struct uefi_log_writer *w, uint32_t pcr, uint32_t type,
		    const void *data, size_t len, const void *measured,
		    size_t mlen)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen;
	size_t i;
	int r;

	if (len > UEFI_EVENT_MAX)
		return -1;
	if (!measured) {
		measured = data;
		mlen = len;
	}
	r = put_le(&w->out, pcr, 4) | put_le(&w->out, type, 4) |
	    put_le(&w->out, w->nalgs, 4);
	for (i = 0; i < w->nalgs && !r; i++) {
		mdlen = (unsigned)tpm_hash_size(w->alg[i]);
		if (type == EV_NO_ACTION)
			memset(md, 0, mdlen);
		else if (EVP_Digest(measured, mlen, md, &mdlen,
				    tpm_alg_md(w->alg[i]), NULL) != 1)
			return -1;
		r = put_le(&w->out, w->alg[i], 2) |
		    buf_append(&w->out, md, mdlen);
	}
	r |= put_le(&w->out, len, 4);
	if (len)
		r |= buf_append(&w->out, data, len);
	return r ? -1 : 0;
}

void uefi_writer_free(struct uefi_log_writer *w)
{
	buf_free(&w->out);
	memset(w, 0, sizeof(*w));
}
