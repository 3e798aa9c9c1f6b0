/* Fuzz target: mb_refstate_load() and mb_refstate_evaluate() on arbitrary
 * JSON.
 *
 * The boot states are fixed, decoded at start-up from two logs written
 * with uefi_log_writer: one with secure boot on (signature databases with
 * a certificate-typed and a SHA-256 entry, a firmware application, shim,
 * grub, a kernel, MokList, a command line, an initrd), and the same with
 * secure boot off. Promises checked: refusals and failed evaluations carry
 * a message; {} and only {} is empty and passes; the reference state each
 * log makes loads and passes that log. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/mb_policy.h"
#include "attest/uefi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct uefi_log logs[2];
static struct uefi_boot_state states[2];

static void put_le(struct buf *b, uint64_t v, size_t n)
{
	while (n--) {
		buf_append_u8(b, (uint8_t)v);
		v >>= 8;
	}
}

static void add_var(struct uefi_log_writer *w, uint32_t type,
		    const uint8_t *guid, const char *name, const void *data,
		    size_t len)
{
	struct buf b = BUF_INIT;
	size_t i, n = strlen(name);

	buf_append(&b, guid, 16);
	put_le(&b, n, 8);
	put_le(&b, len, 8);
	for (i = 0; i < n; i++)
		put_le(&b, (uint8_t)name[i], 2);
	buf_append(&b, data, len);
	if (uefi_writer_add(w, 7, type, b.data, b.len, NULL, 0))
		abort();
	buf_free(&b);
}

/* One EFI_SIGNATURE_LIST of one entry. */
static void siglist(struct buf *b, const uint8_t *type, const char *data)
{
	size_t n = strlen(data);

	buf_append(b, type, 16);
	put_le(b, 28 + 16 + n, 4);
	put_le(b, 0, 4);
	put_le(b, 16 + n, 4);
	buf_append(b, uefi_guid_global, 16);
	buf_append(b, data, n);
}

static void add_app(struct uefi_log_writer *w, int fv, const char *image)
{
	uint8_t ev[32 + 44] = { 0 };

	ev[24] = fv ? 44 : 4;
	if (fv) {
		memcpy(ev + 32, "\x04\x07\x14\x00", 4);
		memcpy(ev + 52, "\x04\x06\x14\x00", 4);
		memcpy(ev + 72, "\x7f\xff\x04\x00", 4);
	} else {
		memcpy(ev + 32, "\x7f\xff\x04\x00", 4);
	}
	if (uefi_writer_add(w, 4, EV_EFI_BOOT_SERVICES_APPLICATION, ev,
			    32 + ev[24], image, strlen(image)))
		abort();
}

static void add_str(struct uefi_log_writer *w, uint32_t pcr, const char *s,
		    const char *measured)
{
	if (uefi_writer_add(w, pcr, EV_IPL, s, strlen(s) + 1, measured,
			    strlen(measured)))
		abort();
}

static void make_state(int sb, struct uefi_log *log,
		       struct uefi_boot_state *st)
{
	static const uint16_t algs[] = { TPM2_ALG_SHA1, TPM2_ALG_SHA256 };
	static const char sha[] = "0123456789abcdef0123456789abcdef";
	struct uefi_log_writer w;
	struct buf pk = BUF_INIT, db = BUF_INIT, dbx = BUF_INIT;
	uint8_t on = (uint8_t)sb;
	uint32_t pcr;
	char err[256];

	siglist(&pk, uefi_guid_cert_x509, "platform key certificate");
	siglist(&db, uefi_guid_cert_x509, "db certificate");
	siglist(&db, uefi_guid_cert_sha256, sha);
	siglist(&dbx, uefi_guid_cert_sha256, "fedcba9876543210fedcba9876543210");
	if (uefi_writer_init(&w, algs, 2, 3) ||
	    uefi_writer_add(&w, 0, EV_S_CRTM_VERSION, "1\0\0", 4, NULL, 0) ||
	    uefi_writer_add(&w, 0, EV_EFI_PLATFORM_FIRMWARE_BLOB, "blob", 4,
			    "volume", 6))
		abort();
	add_var(&w, EV_EFI_VARIABLE_DRIVER_CONFIG, uefi_guid_global,
		"SecureBoot", &on, 1);
	add_var(&w, EV_EFI_VARIABLE_DRIVER_CONFIG, uefi_guid_global, "PK",
		pk.data, pk.len);
	add_var(&w, EV_EFI_VARIABLE_DRIVER_CONFIG, uefi_guid_global, "KEK",
		pk.data, pk.len);
	add_var(&w, EV_EFI_VARIABLE_DRIVER_CONFIG, uefi_guid_image_security,
		"db", db.data, db.len);
	add_var(&w, EV_EFI_VARIABLE_DRIVER_CONFIG, uefi_guid_image_security,
		"dbx", dbx.data, dbx.len);
	for (pcr = 0; pcr < 8; pcr++)
		if (uefi_writer_add(&w, pcr, EV_SEPARATOR, "\0\0\0", 4, NULL,
				    0))
			abort();
	add_app(&w, 1, "setup");
	add_app(&w, 0, "shim");
	add_str(&w, 14, "MokList", "moks");
	add_str(&w, 14, "MokListX", "mokx");
	add_app(&w, 0, "grub");
	add_str(&w, 9, "(hd0,gpt2)/vmlinuz-6.1", "vmlinuz");
	if (uefi_writer_add(&w, 8, EV_IPL, "kernel_cmdline: /vmlinuz ro", 28,
			    "/vmlinuz ro", 11))
		abort();
	add_str(&w, 9, "(hd0,gpt2)/initrd-6.1", "initrd");
	if (sb)
		add_app(&w, 0, "kernel");
	if (uefi_log_parse(w.out.data, w.out.len, log, err, sizeof(err)) ||
	    uefi_boot_state_build(log, st, err, sizeof(err)))
		abort();
	uefi_writer_free(&w);
	buf_free(&pk);
	buf_free(&db);
	buf_free(&dbx);
}

static void check_own(int i)
{
	struct buf json = BUF_INIT;
	struct mb_refstate *rs;
	char err[512];

	if (mb_refstate_create(&states[i], true, &json, err, sizeof(err)))
		abort();
	rs = mb_refstate_load((const char *)json.data, json.len, err,
			      sizeof(err));
	if (!rs || mb_refstate_evaluate(rs, &states[i], err, sizeof(err)))
		abort();
	mb_refstate_free(rs);
	buf_free(&json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mb_refstate *rs;
	char err[512] = "";
	int i, r;

	if (!logs[0].nevents) {
		make_state(1, &logs[0], &states[0]);
		make_state(0, &logs[1], &states[1]);
		check_own(0);
		check_own(1);
	}
	rs = mb_refstate_load((const char *)data, size, err, sizeof(err));
	if (!rs) {
		if (!err[0])
			abort();
		return 0;
	}
	for (i = 0; i < 2; i++) {
		err[0] = 0;
		r = mb_refstate_evaluate(rs, &states[i], err, sizeof(err));
		if ((r && !err[0]) || (mb_refstate_is_empty(rs) && r))
			abort();
	}
	mb_refstate_free(rs);
	return 0;
}
