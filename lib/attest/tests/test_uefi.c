/* Tests of uefi (TCG2 event logs) and mb_policy (measured-boot reference
 * states) on Keylime's real logs (fixtures keylime/uefi/) and on logs built
 * here with uefi_log_writer.
 *
 * Independent facts: tpm2_eventlog (tpm2-tools) is run on every log to
 * count its events and to replay its PCRs, which must equal ours in every
 * bank; when it is absent only that part is skipped. The digests and counts
 * written below were read from `tpm2_eventlog [--eventlog-version=2]
 * binary_bios_measurements` (tpm2-tools 5.4) and checked with a separate
 * Python reading of the file. */
#define _GNU_SOURCE		/* mkstemp, fdopen */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "attest/mb_policy.h"
#include "attest/uefi.h"
#include "tpm/tpm.h"
#include "tpm/tpm_public.h"
#include "util/check.h"
#include "util/encode.h"
#include "util/file.h"

static const char *fixtures;
static int have_tool;
/* tpm2-tools before 5.6 extend EV_NO_ACTION events and know neither
 * StartupLocality nor H-CRTM (tpm2-tools#3224, commits 9735dc33,
 * 576a31bc, 2c407c15): their PCR 0 is wrong for such logs. */
static int tool_fixed;

static int err_has(const char *err, const char *want)
{
	if (!strstr(err, want)) {
		printf("  error \"%s\" lacks \"%s\"\n", err, want);
		return 0;
	}
	return 1;
}

static int fixture(const char *rel, struct buf *b)
{
	char path[1024];

	buf_reset(b);
	snprintf(path, sizeof(path), "%s/%s", fixtures, rel);
	return file_read(path, UEFI_LOG_MAX + 1, b);
}

static int tool_present(const char *name)
{
	const char *path = getenv("PATH");
	char dir[1024], full[1100];
	const char *p, *e;

	for (p = path ? path : "/usr/bin:/bin"; *p; p = *e ? e + 1 : e) {
		e = strchrnul(p, ':');
		snprintf(dir, sizeof(dir), "%.*s", (int)(e - p), p);
		snprintf(full, sizeof(full), "%s/%s", dir, name);
		if (!access(full, X_OK))
			return 1;
	}
	return 0;
}

static int hex_digits(const char *s, uint8_t *out, size_t size)
{
	struct buf b = BUF_INIT;
	char padded[2 * TPM_DIGEST_MAX + 1];
	size_t n = strspn(s, "0123456789abcdef");
	int r;

	if (n > 2 * size)
		return -1;
	memset(padded, '0', 2 * size - n);
	memcpy(padded + 2 * size - n, s, n);
	r = hex_decode(&b, padded, 2 * size);
	if (!r)
		memcpy(out, b.data, size);
	buf_free(&b);
	return r;
}

/* Runs tpm2_eventlog on the bytes: its event count and replayed PCRs (only
 * the PCRs it prints have their mask bits set). Returns 0, or -1. */
static int tool_replay(const struct buf *log, struct pcr_values *v,
		       size_t *nevents)
{
	char path[] = "/tmp/test_uefi_XXXXXX", cmd[1200], line[512];
	struct pcr_bank *bank = NULL;
	TPM2_ALG_ID alg;
	unsigned pcr;
	int fd, in_pcrs = 0, status;
	FILE *f;
	char *p;

	memset(v, 0, sizeof(*v));
	*nevents = 0;
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	if (write(fd, log->data, log->len) != (ssize_t)log->len) {
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	snprintf(cmd, sizeof(cmd), "tpm2_eventlog %s 2>/dev/null", path);
	f = popen(cmd, "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "- EventNum:", 11))
			(*nevents)++;
		if (!strcmp(line, "pcrs:\n"))
			in_pcrs = 1;
		if (!in_pcrs)
			continue;
		if (line[0] == ' ' && line[1] == ' ' && line[2] != ' ') {
			line[strcspn(line, ":")] = 0;
			bank = NULL;
			if (!tpm_alg_from_name(line + 2, &alg) &&
			    v->nbanks < TPM2_NUM_PCR_BANKS) {
				bank = &v->bank[v->nbanks++];
				bank->alg = alg;
				bank->size = tpm_hash_size(alg);
			}
		} else if (bank && sscanf(line, " %u :", &pcr) == 1 &&
			   pcr < QUOTE_PCR_COUNT && (p = strstr(line, "0x"))) {
			if (!hex_digits(p + 2, bank->value[pcr], bank->size))
				bank->mask |= 1u << pcr;
		}
	}
	status = f ? pclose(f) : -1;
	unlink(path);
	return status == 0 && *nevents ? 0 : -1;
}

static int tool_version(void)
{
	FILE *f = popen("tpm2_eventlog --version 2>/dev/null", "r");
	char line[256] = "";
	unsigned major = 0, minor = 0;
	char *v;

	if (f && fgets(line, sizeof(line), f) && (v = strstr(line,
	    "version=\"")))
		sscanf(v + 9, "%u.%u", &major, &minor);
	if (f)
		pclose(f);
	return (int)(major * 100 + minor);
}

static bool pcr0_special(const struct uefi_log *log)
{
	size_t i;

	for (i = 1; i < log->nevents; i++)
		if (log->events[i].pcr == 0 &&
		    log->events[i].type == EV_NO_ACTION)
			return true;
	return log->hcrtm;
}

/* PCR 0 replayed here, as the spec says (spec) or as old tpm2-tools do. */
static void pcr0_oracle(const struct uefi_log *log, size_t b, bool spec,
			uint8_t *out)
{
	const EVP_MD *md = tpm_alg_md(log->alg[b]);
	size_t n = log->alg_size[b], i;
	uint8_t in[2 * TPM_DIGEST_MAX];
	unsigned len;

	memset(out, 0, n);
	if (spec && log->hcrtm)
		out[n - 1] = 4;
	else if (spec && log->locality > 0)
		out[n - 1] = (uint8_t)log->locality;
	for (i = 1; i < log->nevents; i++) {
		if (log->events[i].pcr != 0 ||
		    (spec && log->events[i].type == EV_NO_ACTION))
			continue;
		memcpy(in, out, n);
		memcpy(in + n, log->events[i].digest[b], n);
		EVP_Digest(in, 2 * n, out, &len, md, NULL);
	}
}

/* Our replay equals tpm2_eventlog's in every bank; PCRs it does not print
 * (no events) must be at their starting value. An old tpm2_eventlog's PCR 0
 * is only checked to be its known mistake, ours against the spec. */
static void check_replay(const struct buf *raw, const struct uefi_log *log)
{
	struct pcr_values ours, tool;
	const struct pcr_bank *t, *o;
	uint8_t start[TPM_DIGEST_MAX];
	size_t nevents, b, lb;
	char err[256];
	int i;

	CHECK(uefi_log_replay(log, &ours, err, sizeof(err)) == 0);
	CHECK_INT(ours.nbanks, log->nalgs);
	if (!have_tool)
		return;
	CHECK(tool_replay(raw, &tool, &nevents) == 0);
	CHECK_INT(nevents, log->nevents);
	CHECK_INT(tool.nbanks, log->nalgs);
	for (b = 0; b < tool.nbanks; b++) {
		t = &tool.bank[b];
		o = quote_pcr_bank(&ours, t->alg);
		CHECK(o != NULL);
		if (!o)
			continue;
		CHECK(t->mask != 0 && (t->mask & ~UEFI_PCR_MASK) == 0);
		for (i = 0; i < QUOTE_PCR_COUNT; i++) {
			if (!(UEFI_PCR_MASK >> i & 1))
				continue;
			memset(start, 0, sizeof(start));
			if (i == 0 && !tool_fixed && pcr0_special(log)) {
				lb = (size_t)uefi_log_bank(log, t->alg);
				pcr0_oracle(log, lb, false, start);
				CHECK(!memcmp(t->value[0], start, o->size));
				pcr0_oracle(log, lb, true, start);
				CHECK(!memcmp(o->value[0], start, o->size));
				continue;
			}
			if (t->mask >> i & 1) {
				if (memcmp(t->value[i], o->value[i], o->size))
					printf("  PCR %d %s differs from "
					       "tpm2_eventlog\n", i,
					       tpm_alg_name(t->alg));
				CHECK(!memcmp(t->value[i], o->value[i],
					      o->size));
			} else {
				CHECK(!memcmp(start, o->value[i], o->size));
			}
		}
	}
}

static void put_le(struct buf *b, uint64_t v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf_append_u8(b, (uint8_t)(v >> (8 * i)));
}

/* ---- small units ---- */

static void test_units(void)
{
	static const uint8_t name[] = { 'P', 0, 0xe9, 0, 0x3d, 0xd8, 0x00,
					0xde, 'K', 0 };	/* P é 😀 K */
	struct buf b = BUF_INIT;
	uint8_t g[16];
	char s[37];

	uefi_guid_str(uefi_guid_global, s);
	CHECK_STR(s, "8be4df61-93ca-11d2-aa0d-00e098032b8c");
	uefi_guid_str(uefi_guid_shim, s);
	CHECK_STR(s, "605dab50-e046-4300-abb6-3dd810dd8b23");
	CHECK(uefi_guid_parse("a5c059a1-94e4-4aa7-87b5-ab155c2bf072", g) == 0);
	CHECK(!memcmp(g, uefi_guid_cert_x509, 16));
	CHECK(uefi_guid_parse("A5C059A1-94e4-4aa7-87b5-ab155c2bf072", g) < 0);
	CHECK(uefi_guid_parse("a5c059a194e4-4aa7-87b5-ab155c2bf072-", g) < 0);
	CHECK(uefi_guid_parse("a5c059a1-94e4-4aa7-87b5-ab155c2bf07", g) < 0);

	CHECK(uefi_utf16_to_utf8(name, 5, &b) == 0);
	CHECK_STR((char *)b.data, "P\xc3\xa9\xf0\x9f\x98\x80K");
	buf_reset(&b);
	CHECK(uefi_utf16_to_utf8(name, 3, &b) < 0);	/* lone surrogate */
	buf_reset(&b);
	CHECK(uefi_utf16_to_utf8((const uint8_t *)"\0\0", 1, &b) < 0);
	buf_reset(&b);
	CHECK(uefi_utf16_to_utf8(name + 6, 1, &b) < 0);	/* low alone */
	buf_free(&b);

	CHECK_STR(uefi_event_type_name(EV_EFI_VARIABLE_AUTHORITY),
		  "EV_EFI_VARIABLE_AUTHORITY");
	CHECK(uefi_event_type_name(0x1234) == NULL);
}

/* ---- synthetic logs ---- */

static void add_var(struct uefi_log_writer *w, uint32_t pcr, uint32_t type,
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
	CHECK(uefi_writer_add(w, pcr, type, b.data, b.len, NULL, 0) == 0);
	buf_free(&b);
}

static void add_app(struct uefi_log_writer *w, bool fv, const char *image)
{
	static const uint8_t file_path[] = { 4, 4, 12, 0, '\\', 0, 'x', 0,
					     '.', 0, 0, 0, 0x7f, 0xff, 4, 0 };
	struct buf b = BUF_INIT;
	uint8_t fvp[44] = { 4, 7, 20, 0 };

	fvp[20] = 4;
	fvp[21] = 6;
	fvp[22] = 20;
	fvp[40] = 0x7f;
	fvp[41] = 0xff;
	fvp[42] = 4;
	put_le(&b, 0x1000, 8);
	put_le(&b, 0x2000, 8);
	put_le(&b, 0, 8);
	put_le(&b, fv ? sizeof(fvp) : sizeof(file_path), 8);
	if (fv)
		buf_append(&b, fvp, sizeof(fvp));
	else
		buf_append(&b, file_path, sizeof(file_path));
	CHECK(uefi_writer_add(w, 4, EV_EFI_BOOT_SERVICES_APPLICATION, b.data,
			      b.len, image, strlen(image)) == 0);
	buf_free(&b);
}

static void add_str(struct uefi_log_writer *w, uint32_t pcr, uint32_t type,
		    const char *s, const char *measured)
{
	CHECK(uefi_writer_add(w, pcr, type, s, strlen(s) + 1, measured,
			      measured ? strlen(measured) : 0) == 0);
}

struct synth {
	bool sb;
	bool fv_app;
	int kernels;		/* BSA events of the kernel: 1 or 2 */
	const char *cmdline;	/* measured data of kernel_cmdline */
	const char *cmdline_text;	/* what the event says (tampering) */
	const char *pcr9_extra;
	bool pk_as_sha256;
};

/* A log shaped as shim + grub on an OVMF-like machine write it. The
 * signature databases are the real ones of the fixture. */
static void synth_log(const struct synth *o, const struct uefi_log *real,
		      struct buf *out)
{
	static const uint16_t algs[] = { TPM2_ALG_SHA1, TPM2_ALG_SHA256 };
	static const uint8_t zero[4];
	struct uefi_log_writer w;
	struct buf sha = BUF_INIT;
	char line[256];
	uint8_t sb = o->sb;
	uint32_t pcr;
	int k;

	CHECK(uefi_writer_init(&w, algs, 2, 3) == 0);
	CHECK(uefi_writer_add(&w, 0, EV_S_CRTM_VERSION, "1\0.\0000\0\0", 8,
			      NULL, 0) == 0);
	CHECK(uefi_writer_add(&w, 0, EV_EFI_PLATFORM_FIRMWARE_BLOB,
			      "0123456789abcdef", 16, "volume 1", 8) == 0);
	add_var(&w, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, uefi_guid_global,
		"SecureBoot", &sb, 1);
	/* PK, KEK, db, dbx: the UEFI_VARIABLE_DATA of the real log. */
	for (k = 13; k <= 16; k++) {
		if (k == 13 && o->pk_as_sha256) {
			buf_append(&sha, uefi_guid_cert_sha256, 16);
			put_le(&sha, 28 + 48, 4);
			put_le(&sha, 0, 4);
			put_le(&sha, 48, 4);
			buf_append(&sha, uefi_guid_global, 16);
			buf_append(&sha, "0123456789abcdef0123456789abcdef",
				   32);
			add_var(&w, 7, EV_EFI_VARIABLE_DRIVER_CONFIG,
				uefi_guid_global, "PK", sha.data, sha.len);
			continue;
		}
		CHECK(uefi_writer_add(&w, 7, EV_EFI_VARIABLE_DRIVER_CONFIG,
				      real->events[k].data,
				      real->events[k].size, NULL, 0) == 0);
	}
	for (pcr = 0; pcr < 8; pcr++)
		CHECK(uefi_writer_add(&w, pcr, EV_SEPARATOR, zero, 4, NULL,
				      0) == 0);
	if (o->fv_app)
		add_app(&w, true, "setup menu");
	CHECK(uefi_writer_add(&w, 4, EV_EFI_ACTION,
			      "Calling EFI Application from Boot Option", 40,
			      NULL, 0) == 0);
	add_app(&w, false, "shim image");
	add_str(&w, 14, EV_IPL, "MokList", "mok list");
	add_str(&w, 14, EV_IPL, "MokListX", "mokx list");
	add_var(&w, 7, EV_EFI_VARIABLE_AUTHORITY, uefi_guid_shim, "SbatLevel",
		"sbat,1,2021030218\n", 18);
	add_app(&w, false, "grub image");
	add_str(&w, 9, EV_IPL, "(hd0,gpt2)/grub2/grub.cfg", "grub.cfg");
	add_str(&w, 8, EV_IPL, "grub_cmd: set timeout=5", "set timeout=5");
	add_str(&w, 9, EV_IPL, "(hd0,gpt2)/vmlinuz-6.1", "kernel file");
	snprintf(line, sizeof(line), "kernel_cmdline: %s",
		 o->cmdline_text ? o->cmdline_text : o->cmdline);
	add_str(&w, 8, EV_IPL, line, o->cmdline);
	add_str(&w, 9, EV_IPL, "(hd0,gpt2)/initramfs-6.1.img", "initrd file");
	if (o->pcr9_extra)
		add_str(&w, 9, EV_IPL, o->pcr9_extra, "extra");
	for (k = 0; o->sb && k < o->kernels; k++)
		add_app(&w, false, "kernel image");
	CHECK(uefi_writer_add(&w, 5, EV_EFI_ACTION,
			      "Exit Boot Services Invocation", 29, NULL,
			      0) == 0);
	buf_reset(out);
	buf_append(out, w.out.data, w.out.len);
	uefi_writer_free(&w);
	buf_free(&sha);
}

static int state_of(const struct buf *raw, struct uefi_log *log,
		    struct uefi_boot_state *st, char *err, size_t errlen)
{
	if (uefi_log_parse(raw->data, raw->len, log, err, errlen))
		return -1;
	return uefi_boot_state_build(log, st, err, errlen);
}

/* Evaluates json against st; returns the evaluation's result and leaves
 * the reason (or load error, result -2) in why. */
static int eval_json(const char *json, const struct uefi_boot_state *st,
		     char *why, size_t whylen)
{
	struct mb_refstate *rs;
	int r;

	why[0] = 0;
	rs = mb_refstate_load(json, strlen(json), why, whylen);
	if (!rs)
		return -2;
	r = mb_refstate_evaluate(rs, st, why, whylen);
	mb_refstate_free(rs);
	return r;
}

/* A reference state, changed by edit, evaluated on st. */
static int eval_edit(const char *base, void (*edit)(json_t *),
		     const struct uefi_boot_state *st, char *why,
		     size_t whylen)
{
	json_t *j = json_loads(base, 0, NULL);
	char *s;
	int r;

	if (!j)
		return -3;
	edit(j);
	s = json_dumps(j, 0);
	json_decref(j);
	r = s ? eval_json(s, st, why, whylen) : -3;
	free(s);
	return r;
}

static json_t *kernel0(json_t *j)
{
	return json_array_get(json_object_get(j, "kernels"), 0);
}

static void edit_kernel_digest(json_t *j)
{
	json_object_set_new(kernel0(j), "kernel_authcode_sha256",
		json_string("0x1111111111111111111111111111111111111111111111"
			    "111111111111111111"));
}

static void edit_sb_off(json_t *j)
{
	json_object_set_new(j, "has_secureboot", json_false());
	json_object_set_new(kernel0(j), "vmlinuz_plain_sha256",
		json_string("0x2222222222222222222222222222222222222222222222"
			    "222222222222222222"));
}

static void test_synthetic(const struct uefi_log *real)
{
	struct synth o = { true, true, 1, "/vmlinuz-6.1 root=/dev/sda1 ro",
			   NULL, NULL, false };
	struct buf raw = BUF_INIT, ref = BUF_INIT;
	struct uefi_boot_state st;
	struct uefi_log log;
	char err[512];

	/* Secure boot on, shim + grub + kernel, a firmware setup app. */
	synth_log(&o, real, &raw);
	CHECK(state_of(&raw, &log, &st, err, sizeof(err)) == 0);
	check_replay(&raw, &log);
	CHECK_INT(log.locality, 3);
	CHECK_INT(st.secure_boot, UEFI_SB_ON);
	CHECK_INT(st.apps.n, 3);
	CHECK_INT(st.fv_apps.n, 1);
	CHECK_INT(st.kernel_cmdline.n, 1);
	CHECK(st.unexpected == 0);
	CHECK(mb_refstate_create(&st, false, &ref, err, sizeof(err)) == 0);
	CHECK(eval_json((char *)ref.data, &st, err, sizeof(err)) == 0);
	CHECK(eval_edit((char *)ref.data, edit_kernel_digest, &st, err,
			sizeof(err)) == -1);
	CHECK(err_has(err, "kernel digest sha256:") &&
	      err_has(err, " not allowed"));
	CHECK(eval_edit((char *)ref.data, edit_sb_off, &st, err,
			sizeof(err)) == -1);
	CHECK(err_has(err, "secure boot is on, but the reference state"));
	uefi_boot_state_free(&st);
	uefi_log_free(&log);

	/* The kernel measured twice passes the same reference state. */
	o.kernels = 2;
	synth_log(&o, real, &raw);
	CHECK(state_of(&raw, &log, &st, err, sizeof(err)) == 0);
	CHECK(eval_json((char *)ref.data, &st, err, sizeof(err)) == 0);
	uefi_boot_state_free(&st);
	uefi_log_free(&log);

	/* Another command line fails; the same text with a false digest is
	 * refused when decoding. */
	o.kernels = 1;
	o.cmdline = "/vmlinuz-6.1 root=/dev/sda1 ro init=/bin/sh";
	synth_log(&o, real, &raw);
	CHECK(state_of(&raw, &log, &st, err, sizeof(err)) == 0);
	CHECK(eval_json((char *)ref.data, &st, err, sizeof(err)) == -1);
	CHECK(err_has(err, "kernel command line '/vmlinuz-6.1 root=/dev/sda1 "
		      "ro init=/bin/sh' does not match"));
	uefi_boot_state_free(&st);
	uefi_log_free(&log);
	o.cmdline_text = "/vmlinuz-6.1 root=/dev/sda1 ro";
	synth_log(&o, real, &raw);
	CHECK(state_of(&raw, &log, &st, err, sizeof(err)) == -1);
	CHECK(err_has(err, "(EV_IPL kernel_cmdline): digest does not match"));
	uefi_boot_state_free(&st);
	uefi_log_free(&log);
	o.cmdline_text = NULL;
	o.cmdline = "/vmlinuz-6.1 root=/dev/sda1 ro";

	/* Something grub read that is no kernel, initrd or grub file. */
	o.pcr9_extra = "(hd0,gpt2)/etc/evil";
	synth_log(&o, real, &raw);
	CHECK(state_of(&raw, &log, &st, err, sizeof(err)) == 0);
	CHECK(eval_json((char *)ref.data, &st, err, sizeof(err)) == -1);
	CHECK(err_has(err, "EV_IPL '(hd0,gpt2)/etc/evil' in PCR 9 is no "
		      "kernel, initrd or grub file"));
	uefi_boot_state_free(&st);
	uefi_log_free(&log);
	o.pcr9_extra = NULL;

	/* A PK that is a hash, not a certificate. */
	o.pk_as_sha256 = true;
	synth_log(&o, real, &raw);
	CHECK(state_of(&raw, &log, &st, err, sizeof(err)) == 0);
	CHECK(eval_json((char *)ref.data, &st, err, sizeof(err)) == -1);
	CHECK(err_has(err, "PK holds a signature list of type "
		      "c1c41626-504c-4092-aca9-41f936934328"));
	uefi_boot_state_free(&st);
	uefi_log_free(&log);

	/* Secure boot on with two applications cannot make a reference. */
	o.pk_as_sha256 = false;
	o.kernels = 0;
	synth_log(&o, real, &raw);
	CHECK(state_of(&raw, &log, &st, err, sizeof(err)) == 0);
	buf_reset(&ref);
	CHECK(mb_refstate_create(&st, false, &ref, err, sizeof(err)) == -1);
	CHECK(err_has(err, "expected 3 boot applications (shim, grub, "
		      "kernel), the event log has 2"));
	uefi_boot_state_free(&st);
	uefi_log_free(&log);

	buf_free(&raw);
	buf_free(&ref);
}

/* H-CRTM: PCR 0 starts at ...04; tpm2_eventlog agrees. Locality after a
 * measurement, a second Spec ID algorithm, and the like are refused. */
static void test_writer_rules(void)
{
	static const uint16_t algs[] = { TPM2_ALG_SHA256, TPM2_ALG_SHA384 };
	static const uint16_t dup[] = { TPM2_ALG_SHA256, TPM2_ALG_SHA256 };
	uint8_t loc[17] = "StartupLocality";
	struct uefi_log_writer w;
	struct pcr_values v, q;
	struct uefi_log log;
	char err[256];

	CHECK(uefi_writer_init(&w, dup, 2, -1) < 0);
	uefi_writer_free(&w);

	CHECK(uefi_writer_init(&w, algs, 2, -1) == 0);
	CHECK(uefi_writer_add(&w, 0, EV_EFI_HCRTM_EVENT, "HCRTM", 5, NULL,
			      0) == 0);
	CHECK(uefi_writer_add(&w, 0, EV_POST_CODE, "code", 4, NULL, 0) == 0);
	CHECK(uefi_writer_add(&w, 7, EV_SEPARATOR, "\0\0\0", 4, NULL, 0) == 0);
	CHECK(uefi_log_parse(w.out.data, w.out.len, &log, err,
			     sizeof(err)) == 0);
	CHECK(log.hcrtm);
	CHECK_INT(log.nevents, 4);
	check_replay(&w.out, &log);
	CHECK(uefi_log_replay(&log, &v, err, sizeof(err)) == 0);

	/* Comparing with a "quote": equal, then PCR 7 changed. */
	q = v;
	CHECK(uefi_pcrs_compare(&v, &q, 0x81, err, sizeof(err)) == 0);
	q.bank[1].value[7][0] ^= 1;
	CHECK(uefi_pcrs_compare(&v, &q, 0x81, err, sizeof(err)) < 0);
	CHECK(err_has(err, "PCR 7 (sha384) does not match the event log"));
	CHECK(uefi_pcrs_compare(&v, &q, 0x1, err, sizeof(err)) == 0);
	q.bank[0].mask = q.bank[1].mask = 0x1;
	CHECK(uefi_pcrs_compare(&v, &q, 0x11, err, sizeof(err)) < 0);
	CHECK(err_has(err, "PCR 4 is not in the quote"));
	q.bank[0].alg = TPM2_ALG_SHA512;
	CHECK(uefi_pcrs_compare(&v, &q, 0x1, err, sizeof(err)) < 0);
	CHECK(err_has(err, "the event log has no sha512 digests"));
	uefi_log_free(&log);

	/* StartupLocality after a PCR 0 measurement. */
	loc[16] = 3;
	CHECK(uefi_writer_add(&w, 0, EV_NO_ACTION, loc, 17, NULL, 0) == 0);
	CHECK(uefi_log_parse(w.out.data, w.out.len, &log, err,
			     sizeof(err)) < 0);
	CHECK(err_has(err, "event 4: StartupLocality after PCR 0"));
	uefi_log_free(&log);
	uefi_writer_free(&w);

	CHECK(uefi_writer_init(&w, algs, 1, 2) == 0);
	CHECK(uefi_log_parse(w.out.data, w.out.len, &log, err,
			     sizeof(err)) < 0);
	CHECK(err_has(err, "StartupLocality 2 (expected 0 or 3)"));
	uefi_log_free(&log);
	uefi_writer_free(&w);
}

/* Hand-made broken headers and events. */
static void test_rejects(void)
{
	static const uint16_t algs[] = { TPM2_ALG_SHA256 };
	struct uefi_log_writer w;
	struct uefi_log log;
	struct buf b = BUF_INIT;
	char err[256];

	/* A SHA1-only (TPM 1.2) log: its first event is a real measurement. */
	put_le(&b, 0, 4);
	put_le(&b, EV_S_CRTM_VERSION, 4);
	buf_append(&b, "01234567890123456789", 20);
	put_le(&b, 2, 4);
	buf_append(&b, "v1", 2);
	CHECK(uefi_log_parse(b.data, b.len, &log, err, sizeof(err)) < 0);
	CHECK(err_has(err, "must be EV_NO_ACTION in PCR 0"));
	uefi_log_free(&log);
	/* ... or an EV_NO_ACTION header without "Spec ID Event03". */
	buf_reset(&b);
	put_le(&b, 0, 4);
	put_le(&b, EV_NO_ACTION, 4);
	buf_append(&b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);
	put_le(&b, 16, 4);
	buf_append(&b, "Spec ID Event02", 16);
	CHECK(uefi_log_parse(b.data, b.len, &log, err, sizeof(err)) < 0);
	CHECK(err_has(err, "not a crypto-agile event log"));
	uefi_log_free(&log);

	/* Digest sizes must be the algorithms' own. */
	CHECK(uefi_writer_init(&w, algs, 1, -1) == 0);
	w.out.data[32 + 30] = 20;	/* sha256's digestSize */
	CHECK(uefi_log_parse(w.out.data, w.out.len, &log, err,
			     sizeof(err)) < 0);
	CHECK(err_has(err, "Spec ID gives sha256 a digest size of 20"));
	uefi_log_free(&log);
	w.out.data[32 + 30] = 32;
	w.out.data[32 + 28] = 0x99;	/* an unknown algorithm */
	CHECK(uefi_log_parse(w.out.data, w.out.len, &log, err,
			     sizeof(err)) < 0);
	CHECK(err_has(err, "unknown hash algorithm 0x0099"));
	uefi_log_free(&log);
	w.out.data[32 + 28] = 0x0b;

	/* An event with a wrong digest count, a PCR out of range, too big. */
	buf_reset(&b);
	buf_append(&b, w.out.data, w.out.len);
	put_le(&b, 0, 4);
	put_le(&b, EV_POST_CODE, 4);
	put_le(&b, 2, 4);
	CHECK(uefi_log_parse(b.data, b.len, &log, err, sizeof(err)) < 0);
	CHECK(err_has(err, "event 1 at offset 0x41 carries 2 digests, the "
		      "Spec ID lists 1 algorithms"));
	uefi_log_free(&log);
	CHECK(uefi_writer_add(&w, 24, EV_POST_CODE, "x", 1, NULL, 0) == 0);
	CHECK(uefi_log_parse(w.out.data, w.out.len, &log, err,
			     sizeof(err)) < 0);
	CHECK(err_has(err, "PCR index 24 is out of range"));
	uefi_log_free(&log);
	buf_reset(&b);
	buf_append(&b, w.out.data, 32 + 33);	/* the header alone */
	put_le(&b, 0, 4);
	put_le(&b, EV_POST_CODE, 4);
	put_le(&b, 1, 4);
	put_le(&b, TPM2_ALG_SHA256, 2);
	buf_append(&b, "01234567890123456789012345678901", 32);
	put_le(&b, UEFI_EVENT_MAX + 1, 4);
	CHECK(uefi_log_parse(b.data, b.len, &log, err, sizeof(err)) < 0);
	CHECK(err_has(err, "at most 1048576 accepted"));
	uefi_log_free(&log);
	uefi_writer_free(&w);
	buf_free(&b);
}

/* ---- the fixtures ---- */

struct fact {
	size_t event;
	const char *sha256;
};

static void check_item(const struct uefi_boot_state *st,
		       const struct uefi_item *it, const struct fact *f)
{
	char *hex = hex_encode_str(uefi_item_digest(st, it, TPM2_ALG_SHA256),
				   32);

	CHECK_INT(it->event, f->event);
	CHECK_STR(hex, f->sha256);
	free(hex);
}

static void test_bbm_state(const struct uefi_log *log,
			   const struct uefi_boot_state *st)
{
	static const struct fact scrtm = { 3, "4041070a33e90b4b247a5da43260"
		"267306796a98d28548fe493d984b8d371270" };
	static const struct fact fv = { 26, "81231bccdd15c4d25016651fe7d33115"
					"2c9259f366bd32f01d866e9fe67fae91" };
	static const struct fact apps[] = {
		{ 52, "94896c17d49fc8c8df0cc2836611586edab1615ce7cb58cf13fc57"
		      "98de56b367" },
		{ 57, "a49a607a61f216cad891ecf467d593df56d472478b957a159e80f3"
		      "8d8bda75c5" },
	};
	static const struct fact vmlinuz = { 117, "4a8f189eb2dddfca6495f5e951"
		"a0099882e1453e9f6629ad4d961f99428e12c8" };
	static const struct fact initrd = { 120, "fcd505c5b554edf74ed5af21546"
		"072cc20f3ad6d443c2c81c0df84bfa2854807" };
	static const struct fact mok = { 53, "e8e48e3ad10bc243341b4663c0057aef"
					 "0ec7894ccc9ecb0598f0830fa57f7220" };
	static const char cmdline[] = "(hd3,gpt2)/vmlinuz-6.11.5-300.fc41."
		"x86_64 root=UUID=7d3fbd01-5598-48ea-afb0-67ce7c3853fc ro "
		"resume=/dev/mapper/luks-d3f0adc4-c30b-4aad-aa80-b469c29bc160 "
		"rd.lvm.lv=fedora/root rd.luks.uuid=luks-d53e2fe9-cc84-4bad-"
		"b410-16d3a07d6071 rd.lvm.lv=fedora/swap rd.luks.uuid=luks-"
		"d3f0adc4-c30b-4aad-aa80-b469c29bc160 rhgb quiet";
	struct pcr_values v;
	char owner[37], err[256], *hex;

	CHECK_INT(log->nevents, 121);
	CHECK_INT(log->nalgs, 2);
	CHECK_INT(log->alg[0], TPM2_ALG_SHA1);
	CHECK_INT(log->alg[1], TPM2_ALG_SHA256);
	CHECK_INT(log->uintn_size, 2);
	CHECK_INT(log->locality, 3);
	CHECK(!log->hcrtm);
	/* PCR 0 from ...03, computed apart in Python from the file. */
	CHECK(uefi_log_replay(log, &v, err, sizeof(err)) == 0);
	hex = hex_encode_str(v.bank[0].value[0], 20);
	CHECK_STR(hex, "78f3e576d5da8873860e557535d181f4a37e2963");
	free(hex);
	hex = hex_encode_str(v.bank[1].value[0], 32);
	CHECK_STR(hex, "0ee9a7feba8f4172f1a7451594aa5731665a4d353ac61814042ce1"
		  "07a00742f2");
	free(hex);
	CHECK_INT(st->secure_boot, UEFI_SB_OFF);
	CHECK_INT(st->secure_boot_event, 12);
	CHECK_INT(st->pk.n, 1);
	CHECK_INT(st->kek.n, 2);
	CHECK_INT(st->db.n, 4);
	CHECK_INT(st->dbx.n, 460);
	CHECK_INT(st->pk.event, 13);
	CHECK_INT(st->dbx.event, 16);
	uefi_guid_str(st->pk.v[0].owner, owner);
	CHECK_STR(owner, "3cc24e96-22c7-41d8-8863-8e39dcdcc2cf");
	CHECK(!memcmp(st->pk.v[0].type, uefi_guid_cert_x509, 16));
	CHECK_INT(st->pk.v[0].len, 955 - 16);
	uefi_guid_str(st->db.v[3].owner, owner);
	CHECK_STR(owner, "77fa9abd-0359-4d32-bd60-28f4e78f784b");
	CHECK(!memcmp(st->dbx.v[459].type, uefi_guid_cert_sha256, 16));
	CHECK_INT(st->scrtm.n, 1);
	if (st->scrtm.n == 1)
		check_item(st, &st->scrtm.v[0], &scrtm);
	CHECK_INT(st->firmware.n, 6);
	CHECK_INT(st->post_code.n, 2);
	CHECK_INT(st->fv_apps.n, 1);
	if (st->fv_apps.n == 1)
		check_item(st, &st->fv_apps.v[0], &fv);
	CHECK_INT(st->apps.n, 2);
	if (st->apps.n == 2) {
		check_item(st, &st->apps.v[0], &apps[0]);
		check_item(st, &st->apps.v[1], &apps[1]);
	}
	CHECK_INT(st->vmlinuz.n, 1);
	if (st->vmlinuz.n == 1)
		check_item(st, &st->vmlinuz.v[0], &vmlinuz);
	CHECK_INT(st->initrd.n, 1);
	if (st->initrd.n == 1)
		check_item(st, &st->initrd.v[0], &initrd);
	CHECK_INT(st->moklist.n, 1);
	if (st->moklist.n == 1)
		check_item(st, &st->moklist.v[0], &mok);
	CHECK_INT(st->moklistx.n, 1);
	CHECK_INT(st->kernel_cmdline.n, 1);
	if (st->kernel_cmdline.n == 1) {
		CHECK_INT(st->kernel_cmdline.v[0].len, strlen(cmdline));
		CHECK(!memcmp(st->kernel_cmdline.v[0].data, cmdline,
			      strlen(cmdline)));
	}
	CHECK(st->gpt);
	CHECK_INT(st->bad_separator, 0);
	CHECK_INT(st->unexpected, 0);
}

/* Cut the log at every offset: an error with a reason, or (exactly at an
 * event boundary) the shorter log with the events before the cut. */
static void test_truncation(const struct buf *raw, const struct uefi_log *full)
{
	struct uefi_boot_state st;
	struct pcr_values v;
	struct uefi_log log;
	size_t cut, next = 1, bad = 0;
	char err[256];
	int r;

	for (cut = 0; cut < raw->len; cut++) {
		err[0] = 0;
		r = uefi_log_parse(raw->data, cut, &log, err, sizeof(err));
		while (next < full->nevents && full->events[next].offset < cut)
			next++;
		if (next < full->nevents && full->events[next].offset == cut) {
			if (r || log.nevents != next)
				bad++;
			else if (uefi_log_replay(&log, &v, err, sizeof(err)) ||
				 uefi_boot_state_build(&log, &st, err,
						       sizeof(err)))
				bad++;
			else
				uefi_boot_state_free(&st);
		} else if (r == 0 || !err[0]) {
			bad++;
		}
		uefi_log_free(&log);
	}
	CHECK_INT(bad, 0);
}

static void edit_vmlinuz(json_t *j)
{
	json_object_set_new(kernel0(j), "vmlinuz_plain_sha256",
		json_string("0x4a8f189eb2dddfca6495f5e951a0099882e1453e9f6629a"
			    "d4d961f99428e12c9"));
}

static void edit_grub(json_t *j)
{
	json_object_set_new(kernel0(j), "grub_authcode_sha256",
		json_string("0x3333333333333333333333333333333333333333333333"
			    "333333333333333333"));
}

static void edit_sb_on(json_t *j)
{
	json_object_set_new(j, "has_secureboot", json_true());
	json_object_set_new(kernel0(j), "kernel_authcode_sha256",
		json_string("0x4444444444444444444444444444444444444444444444"
			    "444444444444444444"));
}

static void edit_no_db0(json_t *j)
{
	json_array_remove(json_object_get(j, "db"), 0);
}

static void edit_cmdline(json_t *j)
{
	json_object_set_new(kernel0(j), "kernel_cmdline",
		json_string("\\(hd3,gpt2\\)/vmlinuz\\-6\\.11\\.5\\-300\\.fc41\\."
			    "x86_64 root=UUID=[0-9a-f-]{36} ro .*"));
}

static void edit_cmdline_bad(json_t *j)
{
	json_object_set_new(kernel0(j), "kernel_cmdline",
		json_string("\\(hd3,gpt2\\)/vmlinuz\\-6\\.11\\.5 .*single.*"));
}

static void edit_no_fw_apps(json_t *j)
{
	json_object_del(j, "firmware_apps");
}

static void edit_dbx_more(json_t *j)
{
	json_array_append_new(json_object_get(j, "dbx"), json_pack("{s:s,s:s}",
		"SignatureOwner", "77fa9abd-0359-4d32-bd60-28f4e78f784b",
		"SignatureData", "0x5555555555555555555555555555555555555555"
		"555555555555555555555555"));
}

static void edit_scrtm(json_t *j)
{
	json_t *b = json_array_get(json_object_get(j, "scrtm_and_bios"), 0);

	json_object_set_new(json_object_get(b, "scrtm"), "sha256",
		json_string("0x6666666666666666666666666666666666666666666666"
			    "666666666666666666"));
}

static void edit_firmware(json_t *j)
{
	json_t *b = json_array_get(json_object_get(j, "scrtm_and_bios"), 0);

	json_array_remove(json_object_get(b, "platform_firmware"), 5);
}

static void edit_mok(json_t *j)
{
	json_array_clear(json_object_get(j, "mokdig"));
}

static void edit_owner_spelling(json_t *j)
{
	/* PK's owner as tpm2-tools < 5.2 wrote it: bytes in order. */
	json_object_set_new(json_array_get(json_object_get(j, "pk"), 0),
		"SignatureOwner",
		json_string("964ec23c-c722-d841-8863-8e39dcdcc2cf"));
}

static void test_bbm_policy(const struct uefi_boot_state *st)
{
	static const char escaped[] = "\\(hd3,gpt2\\)/vmlinuz\\-6\\.11\\.5\\-"
		"300\\.fc41\\.x86_64\\ root=UUID=7d3fbd01\\-5598\\-48ea\\-afb0"
		"\\-67ce7c3853fc\\ ro\\ resume=/dev/mapper/luks\\-d3f0adc4\\-"
		"c30b\\-4aad\\-aa80\\-b469c29bc160\\ rd\\.lvm\\.lv=fedora/root"
		"\\ rd\\.luks\\.uuid=luks\\-d53e2fe9\\-cc84\\-4bad\\-b410\\-"
		"16d3a07d6071\\ rd\\.lvm\\.lv=fedora/swap\\ rd\\.luks\\.uuid="
		"luks\\-d3f0adc4\\-c30b\\-4aad\\-aa80\\-b469c29bc160\\ rhgb\\ "
		"quiet";
	struct buf ref = BUF_INIT;
	char err[512];
	json_t *j, *k;
	const char *s;

	CHECK(mb_refstate_create(st, false, &ref, err, sizeof(err)) < 0);
	CHECK(err_has(err, "secure boot off"));
	CHECK(mb_refstate_create(st, true, &ref, err, sizeof(err)) == 0);
	j = json_loadb((char *)ref.data, ref.len, 0, NULL);
	CHECK(j != NULL);
	k = kernel0(j);
	CHECK(json_is_false(json_object_get(j, "has_secureboot")));
	CHECK_STR(json_string_value(json_object_get(k, "shim_authcode_sha256")),
		  "0x94896c17d49fc8c8df0cc2836611586edab1615ce7cb58cf13fc5798"
		  "de56b367");
	CHECK_STR(json_string_value(json_object_get(k, "vmlinuz_plain_sha256")),
		  "0x4a8f189eb2dddfca6495f5e951a0099882e1453e9f6629ad4d961f99"
		  "428e12c8");
	CHECK_STR(json_string_value(json_object_get(k, "initrd_plain_sha256")),
		  "0xfcd505c5b554edf74ed5af21546072cc20f3ad6d443c2c81c0df84bf"
		  "a2854807");
	CHECK(json_object_get(k, "kernel_authcode_sha256") == NULL);
	CHECK_STR(json_string_value(json_object_get(k, "kernel_cmdline")),
		  escaped);
	CHECK_INT(json_array_size(json_object_get(j, "pk")), 1);
	CHECK_INT(json_array_size(json_object_get(j, "kek")), 2);
	CHECK_INT(json_array_size(json_object_get(j, "db")), 4);
	CHECK_INT(json_array_size(json_object_get(j, "dbx")), 460);
	CHECK_INT(json_array_size(json_object_get(j, "vendor_db")), 0);
	CHECK_INT(json_array_size(json_object_get(j, "firmware_apps")), 1);
	s = json_string_value(json_object_get(json_array_get(json_object_get(j,
		"mokxdig"), 0), "sha256"));
	CHECK_STR(s, "0x8d8a3aae50d5d25838c95c034aadce7b548c9a952eb7925e366e"
		  "da537c59c3b0");
	s = json_string_value(json_object_get(json_array_get(json_object_get(j,
		"pk"), 0), "SignatureOwner"));
	CHECK_STR(s, "3cc24e96-22c7-41d8-8863-8e39dcdcc2cf");
	json_decref(j);

	/* The reference state passes its own log... */
	CHECK(eval_json((char *)ref.data, st, err, sizeof(err)) == 0);
	CHECK(eval_edit((char *)ref.data, edit_cmdline, st, err,
			sizeof(err)) == 0);
	CHECK(eval_edit((char *)ref.data, edit_owner_spelling, st, err,
			sizeof(err)) == 0);
	/* ... and each change fails for its own reason. */
	CHECK(eval_edit((char *)ref.data, edit_vmlinuz, st, err,
			sizeof(err)) == -1);
	CHECK(err_has(err, "vmlinuz digest sha256:4a8f189eb2dddfca6495f5e951"
		      "a0099882e1453e9f6629ad4d961f99428e12c8 not allowed"));
	CHECK(eval_edit((char *)ref.data, edit_grub, st, err,
			sizeof(err)) == -1);
	CHECK(err_has(err, "grub digest sha256:a49a607a61f216cad891ecf467d593"
		      "df56d472478b957a159e80f38d8bda75c5 not allowed"));
	CHECK(eval_edit((char *)ref.data, edit_sb_on, st, err,
			sizeof(err)) == -1);
	CHECK(err_has(err, "secure boot is off"));
	CHECK(eval_edit((char *)ref.data, edit_no_db0, st, err,
			sizeof(err)) == -1);
	CHECK(err_has(err, "db holds X509 CN=") &&
	      err_has(err, "that the reference state does not allow"));
	CHECK(eval_edit((char *)ref.data, edit_cmdline_bad, st, err,
			sizeof(err)) == -1);
	CHECK(err_has(err, "kernel command line '(hd3,gpt2)/vmlinuz-6.11.5-"
		      "300.fc41.x86_64 root=UUID=7d3fbd01") &&
	      err_has(err, "' does not match"));
	CHECK(eval_edit((char *)ref.data, edit_no_fw_apps, st, err,
			sizeof(err)) == -1);
	CHECK(err_has(err, "expected 2 boot applications (shim, grub), found "
		      "3"));
	CHECK(eval_edit((char *)ref.data, edit_dbx_more, st, err,
			sizeof(err)) == -1);
	CHECK(err_has(err, "dbx lacks sha256 5555"));
	CHECK(eval_edit((char *)ref.data, edit_scrtm, st, err,
			sizeof(err)) == -1);
	CHECK(err_has(err, "S-CRTM digest sha256:4041070a33e90b4b"));
	CHECK(eval_edit((char *)ref.data, edit_firmware, st, err,
			sizeof(err)) == -1);
	CHECK(err_has(err, "expected 5 platform firmware blobs, found 6"));
	CHECK(eval_edit((char *)ref.data, edit_mok, st, err,
			sizeof(err)) == -1);
	CHECK(err_has(err, "MokList digest sha256:e8e48e3a"));
	buf_free(&ref);
}

static void test_refstate_loading(const struct uefi_boot_state *st)
{
	static const struct {
		const char *json;
		const char *why;
	} bad[] = {
		{ "[]", "expected an object" },
		{ "{\"kernels\": []", "line 1" },
		{ "{\"kernels\": [], \"kernels\": []}", "duplicate" },
		{ "{\"kernels\": 1}", "kernels: expected a list" },
		{ "{\"pk\": []}", "lacks kernels" },
		{ "{\"has_secureboot\": 1, \"kernels\": []}",
		  "has_secureboot: expected true or false" },
		{ "{\"kernels\": [{}]}", "kernels[0]: lacks shim_authcode" },
		{ "{\"kernels\": [], \"scrtm_and_bios\": [{\"scrtm\": {\"md5\":"
		  " \"0x00\"}, \"platform_firmware\": []}]}",
		  "unknown hash algorithm \"md5\"" },
		{ "{\"kernels\": [], \"scrtm_and_bios\": [{\"scrtm\": {\"sha1\":"
		  " \"0x00\"}, \"platform_firmware\": []}]}",
		  "scrtm_and_bios[0].scrtm.sha1: expected 20 bytes, got 1" },
		{ "{\"kernels\": [], \"scrtm_and_bios\": [], \"pk\": [{"
		  "\"SignatureOwner\": \"8BE4DF61-93ca-11d2-aa0d-00e098032b8c\","
		  " \"SignatureData\": \"0x00\"}]}",
		  "pk[0].SignatureOwner: expected a lower-case GUID" },
		{ "{\"kernels\": [], \"scrtm_and_bios\": [], \"pk\": [{"
		  "\"SignatureOwner\": \"8be4df61-93ca-11d2-aa0d-00e098032b8c\","
		  " \"SignatureData\": \"0xAB\"}]}",
		  "pk[0].SignatureData: expected 0x and lower-case hex" },
		{ "{\"kernels\": [], \"scrtm_and_bios\": [], \"pk\": [], "
		  "\"kek\": [], \"db\": [], \"dbx\": [], \"mokdig\": []}",
		  "lacks mokxdig" },
	};
	static const char *const regex_bad[][2] = {
		{ "(?i)ro", "(?...) groups other than (?:...)" },
		{ "ro\\b", "unsupported escape \\b" },
		{ "[a-\\d]", "bad character range in [...]" },
		{ "[\\d-z]", "bad character range in [...]" },
		{ "a**", "multiple repeat" },
		{ "a|*b", "nothing to repeat at position 2" },
		{ "[ro", "unterminated [" },
		{ "(a{255}){255}", "pattern too complex" },
		{ "a{256}", "repetition bounds above 255" },
		{ "(ro", "unbalanced (" },
		{ "ro)", "unbalanced )" },
		{ "ro\\", "trailing backslash" },
		{ "a{1000}", "repetition bounds above 255" },
		{ "ro\\x41", "unsupported escape \\x" },
	};
	static const char *const regex_good[][2] = {
		{ "(?:a|b) c", "b c" },
		{ "\\d{2,3}x\\s\\S+", "123x a-b" },
		{ "a{,2}b{3}", "aabbb" },
		{ "x{y}[]a]\\}", "x{y}]}" },
		{ "a|b", "a" },
		{ "[\\d\\-]+[^\\s]", "12-3x" },
		{ "(((((((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+",
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" },
		{ "(x|y)*?z{0}\\.\\ \\é.", "xyx. é\xc3\xa9" },
		{ "a$", "a" },
	};
	static const char zero64[] = "0x0000000000000000000000000000000000"
		"000000000000000000000000000000";
	char err[512], cmd[64];
	struct mb_refstate *rs;
	struct uefi_item line;
	struct uefi_boot_state one;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rs = mb_refstate_load(bad[i].json, strlen(bad[i].json), err,
				      sizeof(err));
		CHECK(rs == NULL);
		CHECK(err_has(err, bad[i].why));
		mb_refstate_free(rs);
	}
	rs = mb_refstate_load("{}", 2, err, sizeof(err));
	CHECK(rs && mb_refstate_is_empty(rs));
	CHECK(rs && mb_refstate_evaluate(rs, st, err, sizeof(err)) == 0);
	mb_refstate_free(rs);

	/* kernel_cmdline regexes: refused at load, or run on one line. */
	for (i = 0; i < sizeof(regex_bad) / sizeof(regex_bad[0]); i++) {
		json_t *j = json_pack("{s:b,s:[{s:s,s:s,s:s,s:s,s:s}]}",
			"has_secureboot", 0, "kernels",
			"shim_authcode_sha256", zero64,
			"grub_authcode_sha256", zero64,
			"vmlinuz_plain_sha256", zero64,
			"initrd_plain_sha256", zero64,
			"kernel_cmdline", regex_bad[i][0]);
		char *s = j ? json_dumps(j, 0) : NULL;

		json_decref(j);
		CHECK(s != NULL);
		if (!s)
			continue;
		rs = mb_refstate_load(s, strlen(s), err, sizeof(err));
		CHECK(rs == NULL);
		CHECK(err_has(err, "kernels[0].kernel_cmdline: ") &&
		      err_has(err, regex_bad[i][1]));
		mb_refstate_free(rs);
		free(s);
	}

	/* A state with one command line; the evaluation reaches the regex
	 * only after the rest, so check the regex through a minimal state
	 * where everything else matches. */
	for (i = 0; i < sizeof(regex_good) / sizeof(regex_good[0]); i++) {
		static const uint8_t zero[32];
		static const uint16_t algs[1] = { TPM2_ALG_SHA256 };
		struct uefi_item items[5];
		json_t *j;
		char *s;
		size_t k;

		memset(&one, 0, sizeof(one));
		memset(items, 0, sizeof(items));
		one.nalgs = 1;
		one.alg[0] = algs[0];
		one.alg_size[0] = 32;
		one.secure_boot = UEFI_SB_OFF;
		for (k = 0; k < 5; k++)
			items[k].digest[0] = zero;
		one.scrtm.n = 1;
		one.scrtm.v = &items[0];
		one.apps.n = 2;
		one.apps.v = &items[1];
		one.initrd.n = one.vmlinuz.n = 1;
		one.initrd.v = one.vmlinuz.v = &items[3];
		line = items[4];
		line.data = (const uint8_t *)regex_good[i][1];
		line.len = strlen(regex_good[i][1]);
		one.kernel_cmdline.n = 1;
		one.kernel_cmdline.v = &line;
		j = json_pack("{s:b,s:[{s:{s:s},s:[]}],s:[],s:[],s:[],s:[],"
			"s:[],s:[],s:[{s:s,s:s,s:s,s:s,s:s}]}",
			"has_secureboot", 0, "scrtm_and_bios", "scrtm", "sha256",
			zero64, "platform_firmware", "pk", "kek", "db", "dbx",
			"mokdig", "mokxdig", "kernels",
			"shim_authcode_sha256", zero64,
			"grub_authcode_sha256", zero64,
			"vmlinuz_plain_sha256", zero64,
			"initrd_plain_sha256", zero64,
			"kernel_cmdline", regex_good[i][0]);
		s = j ? json_dumps(j, 0) : NULL;
		json_decref(j);
		CHECK(s != NULL);
		if (!s)
			continue;
		CHECK(eval_json(s, &one, err, sizeof(err)) == 0);
		if (err[0])
			printf("  regex %s: %s\n", regex_good[i][0], err);
		/* One more word never matches. */
		snprintf(cmd, sizeof(cmd), "%s !", regex_good[i][1]);
		line.data = (const uint8_t *)cmd;
		line.len = strlen(cmd);
		CHECK(eval_json(s, &one, err, sizeof(err)) == -1);
		CHECK(err_has(err, "does not match"));
		free(s);
	}
}

static void test_fixture_refstate(const struct uefi_boot_state *st)
{
	struct mb_refstate *rs;
	struct buf b = BUF_INIT;
	char err[512];

	if (fixture("keylime/policy/example_reference_state.json", &b)) {
		printf("SKIP part: keylime/policy/example_reference_state.json "
		       "missing\n");
		return;
	}
	rs = mb_refstate_load((char *)b.data, b.len, err, sizeof(err));
	CHECK(rs != NULL);
	if (!rs)
		printf("  %s\n", err);
	CHECK(rs && !mb_refstate_is_empty(rs));
	/* Made for an Ubuntu VM with secure boot: the Lenovo log fails. */
	CHECK(rs && mb_refstate_evaluate(rs, st, err, sizeof(err)) == -1);
	CHECK(err_has(err, "secure boot is off"));
	mb_refstate_free(rs);
	buf_free(&b);
}

static void test_fixtures(void)
{
	struct buf raw = BUF_INIT, other = BUF_INIT, ref = BUF_INIT;
	struct buf bbm_ref = BUF_INIT;
	struct uefi_boot_state st;
	struct uefi_log log, log2;
	char err[512];

	CHECK(fixture("keylime/uefi/binary_bios_measurements", &raw) == 0);
	CHECK(state_of(&raw, &log, &st, err, sizeof(err)) == 0);
	CHECK(mb_refstate_create(&st, true, &bbm_ref, err, sizeof(err)) == 0);
	if (log.nevents) {
		check_replay(&raw, &log);
		test_bbm_state(&log, &st);
		test_truncation(&raw, &log);
		test_bbm_policy(&st);
		test_refstate_loading(&st);
		test_fixture_refstate(&st);
		test_synthetic(&log);
	} else {
		printf("  %s\n", err);
	}
	uefi_boot_state_free(&st);
	uefi_log_free(&log);

	/* rust-keylime's log: sha256 only, no StartupLocality. */
	CHECK(fixture("keylime/uefi/uefi_log.bin", &other) == 0);
	CHECK(state_of(&other, &log2, &st, err, sizeof(err)) == 0);
	CHECK_INT(log2.nevents, 124);
	CHECK_INT(log2.nalgs, 1);
	CHECK_INT(log2.locality, -1);
	CHECK_INT(st.secure_boot, UEFI_SB_OFF);
	CHECK_INT(st.apps.n, 2);
	CHECK_INT(st.fv_apps.n, 0);
	CHECK_INT(st.dbx.event, 9);
	if (log2.nevents)
		check_replay(&other, &log2);
	/* Its own reference state passes it; the other log's does not. */
	buf_reset(&ref);
	CHECK(mb_refstate_create(&st, true, &ref, err, sizeof(err)) == 0);
	CHECK(ref.len && eval_json((char *)ref.data, &st, err,
				   sizeof(err)) == 0);
	CHECK(bbm_ref.len && eval_json((char *)bbm_ref.data, &st, err,
				       sizeof(err)) == -1);
	CHECK(err_has(err, "KEK holds X509 CN="));
	uefi_boot_state_free(&st);
	uefi_log_free(&log2);

	CHECK(fixture("keylime/uefi/binary_bios_measurements-bogus",
		      &other) == 0);
	CHECK(uefi_log_parse(other.data, other.len, &log2, err,
			     sizeof(err)) < 0);
	CHECK(err_has(err, "not a TCG event log: the first event must be "
		      "EV_NO_ACTION in PCR 0"));
	uefi_log_free(&log2);
	CHECK(fixture("keylime/uefi/binary_bios_measurements-empty",
		      &other) == 0);
	CHECK(uefi_log_parse(other.data, other.len, &log2, err,
			     sizeof(err)) < 0);
	CHECK(err_has(err, "the event log is empty"));
	uefi_log_free(&log2);
	buf_free(&raw);
	buf_free(&other);
	buf_free(&ref);
	buf_free(&bbm_ref);
}

int main(void)
{
	static const char *const needed[] = {
		"binary_bios_measurements", "binary_bios_measurements-bogus",
		"binary_bios_measurements-empty", "uefi_log.bin" };
	char path[1024];
	size_t i;

	fixtures = getenv("ASSAY_FIXTURES");
	for (i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		snprintf(path, sizeof(path), "%s/keylime/uefi/%s",
			 fixtures ? fixtures : "", needed[i]);
		if (!fixtures || access(path, R_OK))
			CHECK_SKIP("fixture keylime/uefi/%s missing "
				   "(ASSAY_FIXTURES=%s)", needed[i],
				   fixtures ? fixtures : "unset");
	}
	have_tool = tool_present("tpm2_eventlog");
	if (!have_tool)
		printf("SKIP part: tpm2_eventlog not installed: replays are "
		       "not compared with it\n");
	tool_fixed = have_tool && tool_version() >= 506;
	if (have_tool && !tool_fixed)
		printf("note: tpm2_eventlog < 5.6: its PCR 0 is checked for "
		       "its known mistake only\n");
	test_units();
	test_writer_rules();
	test_rejects();
	test_fixtures();
	return check_done();
}
