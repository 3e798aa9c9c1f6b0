/* test_ima: IMA measurement lists and Keylime runtime policies.
 *
 * The expected values are computed here independently of ima.c: template
 * data serialized by this file's own code and hashed with OpenSSL one-shot
 * digests, plus final PCR 10 values computed once with Python's hashlib
 * (recorded below).
 *
 * 1. The real 826-entry ima-ng list (fixtures/keylime/ima): all template
 *    hashes recompute; the sha1, sha256 and sha384 replays equal the
 *    recorded values; chunks of 1, 7 and 100 entries reach the same state
 *    as one call; a quote lagging the list; restarts, wrong entry numbers,
 *    reboots, bank changes; a last line without LF; edited entries.
 * 2. Keylime's small logs and policies (fixtures/keylime/policy): the base
 *    policy refuses the log precisely; with /data from the allowlist and
 *    the boot aggregate from "measured boot" it passes; a violation entry.
 * 3. Synthetic entries of every template (ima, ima-ng, ima-sig, ima-buf
 *    with keys and plain buffers), excludes, ignored keyrings.
 * 4. Policy loading: runtime-policy-test.json, the flat allowlist, and
 *    malformed policies with their exact messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <tss2/tss2_tpm2_types.h>

#include "attest/ima.h"
#include "attest/runtime_policy.h"
#include "util/buf.h"
#include "util/check.h"
#include "util/encode.h"
#include "util/file.h"

#define LIST_ENTRIES 826
/* PCR 10 after the whole fixture list, from Python's hashlib. */
static const char list_sha1[] = "82231c67a69da98dc5b3aa10f6343d33109225fc";
static const char list_sha256[] =
	"c4a065637fc6a7c55f2811dd06cb45dd037133be2b3dc5c3e6fbe6bf061db724";
static const char list_sha384[] =
	"cd3b31be56970702d736d8faebcf9c0ad90961e38a4922975b3f4cce4fa10609"
	"6c51bb5ef1b8dc41519ed18bd61afae5";

static const char base_policy[] =
	"{\"meta\": {\"version\": 1, \"generator\": 3}, \"release\": 0, "
	"\"digests\": {%s}, \"excludes\": [%s], \"keyrings\": {%s}, "
	"\"ima\": {\"ignored_keyrings\": [%s], \"log_hash_alg\": \"%s\", "
	"\"dm_policy\": null}, \"ima-buf\": {%s}, \"verification-keys\": \"\"}";

static int err_is(const char *err, const char *want)
{
	if (strncmp(err, want, strlen(want))) {
		printf("error \"%s\", wanted \"%s\"\n", err, want);
		return 0;
	}
	return 1;
}

static int err_has(const char *err, const char *want)
{
	if (!strstr(err, want)) {
		printf("error \"%s\" lacks \"%s\"\n", err, want);
		return 0;
	}
	return 1;
}

static void fixture(const char *rel, struct buf *out)
{
	const char *dir = getenv("ASSAY_FIXTURES");
	char path[1024];

	if (!dir)
		CHECK_SKIP("ASSAY_FIXTURES is not set");
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if (file_read(path, 16 << 20, out))
		CHECK_SKIP("fixture %s is missing", path);
}

static void unhex(const char *s, uint8_t *out)
{
	struct buf b = BUF_INIT;

	if (hex_decode(&b, s, strlen(s)))
		abort();
	memcpy(out, b.data, b.len);
	buf_free(&b);
}

static void digest(const char *alg, const void *p, size_t n, uint8_t *out)
{
	if (!EVP_Digest(p, n, out, NULL, EVP_get_digestbyname(alg), NULL))
		abort();
}

static size_t md_size(const char *alg)
{
	return (size_t)EVP_MD_get_size(EVP_get_digestbyname(alg));
}

/* ---------------------------------------------- independent replay model */

static void le32(struct buf *b, size_t v)
{
	uint8_t x[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
			 (uint8_t)(v >> 24) };

	buf_append(b, x, 4);
}

/* Template data of an ima-ng line "10 TH ima-ng alg:hex name". */
static void ng_data(const char *line, size_t n, struct buf *out)
{
	const char *p = line, *end = line + n, *colon, *sp;
	struct buf d = BUF_INIT;
	int i;

	for (i = 0; i < 3; i++)
		p = memchr(p, ' ', (size_t)(end - p)) + 1;
	colon = memchr(p, ':', (size_t)(end - p));
	sp = memchr(colon, ' ', (size_t)(end - colon));
	hex_decode(&d, colon + 1, (size_t)(sp - colon - 1));
	le32(out, (size_t)(colon - p) + 2 + d.len);
	buf_append(out, p, (size_t)(colon - p));
	buf_append(out, ":\0", 2);
	buf_append(out, d.data, d.len);
	le32(out, (size_t)(end - sp - 1) + 1);
	buf_append(out, sp + 1, (size_t)(end - sp - 1));
	buf_append(out, "\0", 1);
	buf_free(&d);
}

/* PCR 10 after the first upto lines of an ima-ng text, in bank. */
static void replay(const char *text, size_t upto, const char *bank,
		   uint8_t *pcr)
{
	uint8_t d[64], cat[128];
	size_t sz = md_size(bank), i;
	struct buf data = BUF_INIT;
	const char *nl;

	memset(pcr, 0, sz);
	for (i = 0; i < upto; i++, text = nl + 1) {
		nl = strchr(text, '\n');
		buf_reset(&data);
		ng_data(text, (size_t)(nl - text), &data);
		if (!strncmp(text + 3, "0000000000000000000000000000000000000000",
			     40))
			memset(d, 0xff, sz);
		else
			digest(bank, data.data, data.len, d);
		memcpy(cat, pcr, sz);
		memcpy(cat + sz, d, sz);
		digest(bank, cat, 2 * sz, pcr);
	}
	buf_free(&data);
}

/* Offset of line i in text. */
static size_t line_at(const char *text, size_t i)
{
	const char *p = text;

	while (i--)
		p = strchr(p, '\n') + 1;
	return (size_t)(p - text);
}

/* Appends one entry line of any template with a correct template hash
 * (thash_alg: "sha1" as kernels list it). alg NULL: "ima" template. */
static void make_line(struct buf *text, const char *tpl, const char *alg,
		      const uint8_t *d, size_t dn, const char *name,
		      const uint8_t *extra, size_t en, const char *thash_alg)
{
	static const uint8_t pad[256];
	struct buf data = BUF_INIT;
	uint8_t th[64];
	char *hex;

	if (!alg) {
		buf_append(&data, d, dn);
		buf_append(&data, name, strlen(name));
		buf_append(&data, pad, 256 - strlen(name));
	} else {
		le32(&data, strlen(alg) + 2 + dn);
		buf_append(&data, alg, strlen(alg));
		buf_append(&data, ":\0", 2);
		buf_append(&data, d, dn);
		le32(&data, strlen(name) + 1);
		buf_append(&data, name, strlen(name) + 1);
		if (strcmp(tpl, "ima-ng")) {
			le32(&data, en);
			buf_append(&data, extra, en);
		}
	}
	digest(thash_alg, data.data, data.len, th);
	hex = hex_encode_str(th, md_size(thash_alg));
	buf_printf(text, "10 %s %s ", hex, tpl);
	free(hex);
	hex = hex_encode_str(d, dn);
	buf_printf(text, "%s%s%s %s", alg ? alg : "", alg ? ":" : "", hex,
		   name);
	free(hex);
	if (strcmp(tpl, "ima") && strcmp(tpl, "ima-ng")) {
		hex = hex_encode_str(extra, en);
		buf_printf(text, " %s", hex);
		free(hex);
	}
	buf_append_str(text, "\n");
	buf_free(&data);
}

/* ----------------------------------------------------------------- calls */

static struct runtime_policy *policy(const char *digests, const char *excl,
				     const char *keyrings, const char *ignored,
				     const char *imabuf, const char *alg)
{
	struct runtime_policy *pol = NULL;
	char json[8192], err[512] = "";

	snprintf(json, sizeof(json), base_policy, digests, excl, keyrings,
		 ignored, alg, imabuf);
	if (runtime_policy_load(json, strlen(json), &pol, err, sizeof(err)))
		printf("policy refused: %s\n", err);
	CHECK(pol != NULL);
	return pol;
}

/* ima_verify with the quoted value = the independent replay after quoted
 * of the text's lines (from first on) continuing from pcr0 (NULL: zero). */
static int verify(struct ima_state *st, const char *text, size_t len,
		  uint64_t first, uint16_t bank, const uint8_t *quoted,
		  const struct runtime_policy *pol, struct ima_result *res,
		  char *err)
{
	struct ima_input in = {
		.text = text, .len = len, .first_entry = first, .bank = bank,
		.pcr10 = quoted, .policy = pol,
	};

	err[0] = 0;
	return ima_verify(st, &in, res, err, 512);
}

/* ------------------------------------------------------------ 1. the list */

static void test_list(void)
{
	struct buf t = BUF_INIT, ed = BUF_INIT;
	uint8_t want[64], q[64], saved[sizeof(struct ima_state)];
	static const size_t chunks[] = { 1, 7, 100 };
	struct ima_state st, whole;
	struct ima_result res;
	char err[512];
	const char *s;
	size_t i, k, a, b;

	fixture("keylime/ima/ascii_runtime_measurements", &t);
	s = (const char *)t.data;

	/* All at once, three banks. */
	ima_state_init(&whole);
	unhex(list_sha256, want);
	replay(s, LIST_ENTRIES, "sha256", q);
	CHECK(!memcmp(q, want, 32));
	CHECK_INT(verify(&whole, s, t.len, 0, TPM2_ALG_SHA256, want, NULL, &res,
			 err), 0);
	CHECK_INT(res.entries, LIST_ENTRIES);
	CHECK_INT(res.failed, 0);
	CHECK_INT(res.consumed, t.len);
	CHECK_INT(whole.next_entry, LIST_ENTRIES);
	CHECK(!memcmp(whole.pcr10, want, 32));
	ima_state_init(&st);
	unhex(list_sha1, want);
	replay(s, LIST_ENTRIES, "sha1", q);
	CHECK(!memcmp(q, want, 20));
	CHECK_INT(verify(&st, s, t.len, 0, TPM2_ALG_SHA1, want, NULL, &res,
			 err), 0);
	ima_state_init(&st);
	unhex(list_sha384, want);
	CHECK_INT(verify(&st, s, t.len, 0, TPM2_ALG_SHA384, want, NULL, &res,
			 err), 0);
	CHECK_INT(st.next_entry, LIST_ENTRIES);

	/* Chunks reach the same state. */
	for (k = 0; k < 3; k++) {
		ima_state_init(&st);
		for (i = 0; i < LIST_ENTRIES; i += chunks[k]) {
			b = i + chunks[k] < LIST_ENTRIES ? i + chunks[k]
							 : LIST_ENTRIES;
			a = line_at(s, i);
			replay(s, b, "sha256", q);
			if (verify(&st, s + a, line_at(s, b) - a, i,
				   TPM2_ALG_SHA256, q, NULL, &res, err)) {
				printf("chunk %zu at %zu: %s\n", chunks[k], i,
				       err);
				CHECK(0);
				break;
			}
		}
		CHECK(!memcmp(&st, &whole, sizeof(st)));
	}

	/* Nothing new: the quote must still equal the state. */
	memcpy(&st, &whole, sizeof(st));
	CHECK_INT(verify(&st, "", 0, LIST_ENTRIES, TPM2_ALG_SHA256, whole.pcr10,
			 NULL, &res, err), 0);
	memset(q, 0x5a, sizeof(q));
	CHECK_INT(verify(&st, "", 0, LIST_ENTRIES, TPM2_ALG_SHA256, q, NULL,
			 &res, err), -1);
	CHECK(err_is(err, "IMA measurement list does not match the quoted "
		     "PCR 10 (sha256) after any of entries 826 to 826"));
	CHECK(!memcmp(&st, &whole, sizeof(st)));

	/* Restarts and refusals that ask for one. */
	CHECK_INT(verify(&st, s, t.len, 0, TPM2_ALG_SHA256, whole.pcr10, NULL,
			 &res, err), 0);
	CHECK(!memcmp(&st, &whole, sizeof(st)));
	a = line_at(s, 5);
	CHECK_INT(verify(&st, s + a, t.len - a, 5, TPM2_ALG_SHA256,
			 whole.pcr10, NULL, &res, err), -1);
	CHECK(err_is(err, "measurement list starts at entry 5, expected 826"));
	CHECK(res.restart);
	{
		struct ima_input in = { .text = "", .first_entry = 826,
			.boottime = 99, .bank = TPM2_ALG_SHA256,
			.pcr10 = whole.pcr10 };

		CHECK_INT(ima_verify(&st, &in, &res, err, sizeof(err)), -1);
		CHECK(err_is(err, "agent rebooted (boottime 99, was 0)"));
		CHECK(res.restart);
		in.boottime = 0;
		in.bank = TPM2_ALG_SHA1;
		CHECK_INT(ima_verify(&st, &in, &res, err, sizeof(err)), -1);
		CHECK(err_is(err, "PCR bank changed from sha256 to sha1"));
		CHECK(res.restart);
	}
	CHECK(!memcmp(&st, &whole, sizeof(st)));

	/* A PCR 10 never extended matches before the first entry: nothing
	 * is committed and the whole list is pending (as Keylime). */
	ima_state_init(&st);
	memset(q, 0, sizeof(q));
	CHECK_INT(verify(&st, s, t.len, 0, TPM2_ALG_SHA256, q, NULL, &res,
			 err), 0);
	CHECK_INT(res.matched, 0);
	CHECK_INT(st.next_entry, 0);
	CHECK_INT(st.lag, LIST_ENTRIES);
	CHECK(!memcmp(res.pcr10, whole.pcr10, 32));

	/* The quote lags the list: committed where it matched. */
	ima_state_init(&st);
	replay(s, 800, "sha256", q);
	CHECK_INT(verify(&st, s, t.len, 0, TPM2_ALG_SHA256, q, NULL, &res,
			 err), 0);
	CHECK_INT(res.matched, 800);
	CHECK_INT(st.next_entry, 800);
	CHECK_INT(st.lag, 26);
	memcpy(saved, &st, sizeof(st));
	a = line_at(s, 800);
	replay(s, 810, "sha256", q);
	CHECK_INT(verify(&st, s + a, t.len - a, 800, TPM2_ALG_SHA256, q, NULL,
			 &res, err), -1);
	CHECK(err_is(err, "PCR 10 quote did not catch up with the list: it "
		     "covers 10 new entries, 26 were pending"));
	CHECK(!memcmp(saved, &st, sizeof(st)));
	CHECK_INT(verify(&st, s + a, t.len - a, 800, TPM2_ALG_SHA256,
			 whole.pcr10, NULL, &res, err), 0);
	CHECK(!memcmp(&st, &whole, sizeof(st)));

	/* A last line without LF is left for next time. */
	ima_state_init(&st);
	b = line_at(s, 3);
	replay(s, 2, "sha256", q);
	CHECK_INT(verify(&st, s, b - 1, 0, TPM2_ALG_SHA256, q, NULL, &res,
			 err), 0);
	CHECK_INT(res.entries, 2);
	CHECK_INT(res.consumed, line_at(s, 2));
	CHECK_INT(st.next_entry, 2);

	/* An edited entry: its template hash no longer matches. */
	buf_append(&ed, t.data, t.len);
	a = line_at(s, 5);
	/* A digit of the file digest, still hex. */
	ed.data[a + 60] = ed.data[a + 60] == '0' ? '1' : '0';
	ima_state_init(&st);
	CHECK_INT(verify(&st, (char *)ed.data, ed.len, 0, TPM2_ALG_SHA256,
			 whole.pcr10, NULL, &res, err), -1);
	CHECK(err_is(err, "template hash mismatch at entry 5; IMA measurement "
		     "list does not match"));
	CHECK_INT(st.next_entry, 0);
	CHECK_INT(res.failed, 1);

	/* Edited after the fact, template hash recomputed: only PCR 10 can
	 * tell, and does. */
	{
		uint8_t d[20] = { 1, 2, 3 };
		struct buf e2 = BUF_INIT;

		buf_append(&e2, t.data, a);
		make_line(&e2, "ima-ng", "sha1", d, 20, "/bin/true", NULL, 0,
			  "sha1");
		b = line_at(s, 6);
		buf_append(&e2, t.data + b, t.len - b);
		CHECK_INT(verify(&st, (char *)e2.data, e2.len, 0,
				 TPM2_ALG_SHA256, whole.pcr10, NULL, &res,
				 err), -1);
		CHECK(err_is(err, "IMA measurement list does not match the "
			     "quoted PCR 10 (sha256) after any of entries 0 "
			     "to 826"));
		CHECK_INT(res.failed, 0);
		buf_free(&e2);
	}

	/* Malformed lines stop the check. */
	{
		static const char *const bad[] = {
			"10 zz ima-ng sha1:00 /x\n",
			"10 1234 ima-foo sha1:00 /x\n",
			"x 1234 ima-ng sha1:00 /x\n",
			"10 1234 ima-ng sha1:0g /x\n",
			"10 1234 ima-ng abcd /x\n",
			"10 1234 ima-sig sha1:00 /x\n",
			"10 1234 ima-buf sha1:00 /x 0\n",
			"\n",
		};
		static const char *const why[] = {
			"malformed entry 0: bad template hash field",
			"malformed entry 0: unknown template \"ima-foo\"",
			"malformed entry 0: bad PCR field",
			"malformed entry 0: bad file digest field",
			"malformed entry 0: bad file digest field",
			"malformed entry 0: no signature field",
			"malformed entry 0: bad hex in the buffer field",
			"malformed entry 0: bad PCR field",
		};

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			ima_state_init(&st);
			CHECK_INT(verify(&st, bad[i], strlen(bad[i]), 0,
					 TPM2_ALG_SHA1, want, NULL, &res, err),
				  -1);
			CHECK(err_is(err, why[i]));
		}
	}
	buf_free(&ed);
	buf_free(&t);
}

/* ------------------------------------------------- 2. Keylime's policies */

static void test_keylime_policy(void)
{
	struct buf log = BUF_INIT, pol_json = BUF_INIT, al = BUF_INIT;
	struct buf log1 = BUF_INIT;
	struct runtime_policy *base = NULL, *pol = NULL, *list = NULL;
	struct ima_digest agg = { .len = 32 };
	struct ima_state st;
	struct ima_result res;
	struct ima_input in;
	uint8_t q[64], d[32];
	char err[512] = "", digests[512];

	fixture("keylime/policy/ima-log-sha256", &log);
	fixture("keylime/policy/policy-sha256", &pol_json);
	fixture("keylime/policy/allowlist-sha256", &al);
	fixture("keylime/policy/ima-log-sha1", &log1);

	CHECK_INT(runtime_policy_load((char *)pol_json.data, pol_json.len,
				      &base, err, sizeof(err)), 0);
	CHECK_INT(runtime_policy_load_allowlist((char *)al.data, al.len, &list,
						err, sizeof(err)), 0);
	if (!base || !list)
		goto out;
	replay((char *)log.data, 2, "sha256", q);

	/* The base policy knows neither entry. */
	ima_state_init(&st);
	CHECK_INT(verify(&st, (char *)log.data, log.len, 0, TPM2_ALG_SHA256,
			 q, base, &res, err), -1);
	CHECK(err_is(err, "file boot_aggregate not in policy at entry 0 (and "
		     "1 more failing entries)"));
	CHECK_INT(res.failed, 2);

	/* /data as in the allowlist, boot_aggregate from measured boot. */
	unhex("96d7fae8adb7286a419a88f78c13d35fb782d63df654b7db56f154765698b754",
	      d);
	CHECK_INT(runtime_policy_lookup(list, RUNTIME_POLICY_DIGESTS, "data", d,
					32), RUNTIME_POLICY_ALLOWED);
	snprintf(digests, sizeof(digests), "\"/base_policy_data\": [\"35f6036"
		 "dcbb4d819a90cc3282659754ab1a225e60f593a209c27b80174ba3180\"],"
		 " \"/data\": [\"%s\"]", "96d7fae8adb7286a419a88f78c13d35fb782"
		 "d63df654b7db56f154765698b754");
	pol = policy(digests, "", "", "", "", "sha1");
	if (!pol)
		goto out;
	unhex("f4845392eca429a4c941a6a07fc32faf843a88c5c3dfa3b9329ab8f4171d9ce3",
	      agg.v);
	in = (struct ima_input){ .text = (char *)log.data, .len = log.len,
		.bank = TPM2_ALG_SHA256, .pcr10 = q, .policy = pol };
	CHECK_INT(ima_verify(&st, &in, &res, err, sizeof(err)), -1);
	CHECK(err_is(err, "file boot_aggregate not in policy at entry 0"));
	in.boot_aggregates = &agg;
	in.nboot_aggregates = 1;
	CHECK_INT(ima_verify(&st, &in, &res, err, sizeof(err)), 0);
	CHECK_INT(st.next_entry, 2);

	/* A digest of /data the policy does not list. */
	runtime_policy_free(pol);
	pol = policy("\"/data\": [\"96d7fae8adb7286a419a88f78c13d35fb782d63df65"
		     "4b7db56f154765698b755\"]", "", "", "", "", "sha1");
	in.policy = pol;
	ima_state_init(&st);
	CHECK_INT(ima_verify(&st, &in, &res, err, sizeof(err)), -1);
	CHECK(err_is(err, "file /data: digest sha256:96d7fae8adb7286a419a88f78c"
		     "13d35fb782d63df654b7db56f154765698b754 not in policy at "
		     "entry 1"));
	CHECK_INT(st.next_entry, 0);

	/* Excludes: anchored at the start, as Python's re.match. */
	runtime_policy_free(pol);
	pol = policy("", "\"ata\", \"/da\"", "", "", "", "sha1");
	in.policy = pol;
	CHECK_INT(ima_verify(&st, &in, &res, err, sizeof(err)), 0);
	runtime_policy_free(pol);
	pol = policy("", "\"ata\", \"[/]d$\"", "", "", "", "sha1");
	in.policy = pol;
	CHECK_INT(ima_verify(&st, &in, &res, err, sizeof(err)), -1);
	CHECK(err_is(err, "file /data not in policy at entry 1"));

	/* ima-log-sha1 starts with a violation: ones extended, no checks. */
	runtime_policy_free(pol);
	pol = policy("\"/data\": [\"009b0d8ee8fb8d890fa70f9c8e02b3f1eded1509\"]",
		     "", "", "", "", "sha1");
	replay((char *)log1.data, 2, "sha256", q);
	in = (struct ima_input){ .text = (char *)log1.data, .len = log1.len,
		.bank = TPM2_ALG_SHA256, .pcr10 = q, .policy = pol };
	ima_state_init(&st);
	CHECK_INT(ima_verify(&st, &in, &res, err, sizeof(err)), 0);
	CHECK_INT(res.violations, 1);
	in.flags = IMA_VIOLATIONS_FAIL;
	CHECK_INT(ima_verify(&st, &in, &res, err, sizeof(err)), -1);
	CHECK(err_is(err, "measurement violation at entry 0"));
out:
	runtime_policy_free(base);
	runtime_policy_free(pol);
	runtime_policy_free(list);
	buf_free(&log);
	buf_free(&log1);
	buf_free(&pol_json);
	buf_free(&al);
}

/* Keylime's own test policy loads and answers as its test expects
 * (keylime test/test_ima_verification.py test_read_allowlist). */
static void test_keylime_test_policy(void)
{
	struct runtime_policy *pol = NULL;
	struct buf t = BUF_INIT;
	char err[512] = "";
	uint8_t d[32];

	fixture("keylime/policy/runtime-policy-test.json", &t);
	CHECK_INT(runtime_policy_load((char *)t.data, t.len, &pol, err,
				      sizeof(err)), 0);
	if (pol) {
		unhex("68e1d012e3f193dcde955e6ffbbc80e22b0f8778", d);
		CHECK_INT(runtime_policy_lookup(pol, RUNTIME_POLICY_DIGESTS,
			  "/boot/grub2/i386-pc/testload.mod", d, 20),
			  RUNTIME_POLICY_ALLOWED);
		d[0] ^= 1;
		CHECK_INT(runtime_policy_lookup(pol, RUNTIME_POLICY_DIGESTS,
			  "/boot/grub2/i386-pc/testload.mod", d, 20),
			  RUNTIME_POLICY_WRONG_DIGEST);
		CHECK_INT(runtime_policy_lookup(pol, RUNTIME_POLICY_DIGESTS,
			  "/nope", d, 20), RUNTIME_POLICY_NOT_LISTED);
		unhex("a7d52aaa18c23d2d9bb2abb4308c0eeee67387a42259f4a6b1a42257"
		      "065f3d5a", d);
		CHECK_INT(runtime_policy_lookup(pol, RUNTIME_POLICY_KEYRINGS,
			  ".ima", d, 32), RUNTIME_POLICY_ALLOWED);
		CHECK_INT(runtime_policy_lookup(pol, RUNTIME_POLICY_DIGESTS,
			  ".ima", d, 32), RUNTIME_POLICY_NOT_LISTED);
		unhex("4309217e9709def327c3409407f4d52907aeba46ef1b4f46529fd095"
		      "f2ef9fb2", d);
		CHECK_INT(runtime_policy_lookup(pol, RUNTIME_POLICY_DIGESTS,
			  "boot_aggregate", d, 32), RUNTIME_POLICY_ALLOWED);
		CHECK_INT(runtime_policy_log_hash_alg(pol), TPM2_ALG_SHA1);
		CHECK(!runtime_policy_excluded(pol, "/tmp/x"));
		CHECK(!runtime_policy_keyring_ignored(pol, ".ima"));
		runtime_policy_free(pol);
	}
	buf_free(&t);
}

/* ---------------------------------------------- 3. templates and buffers */

static X509 *self_signed(EVP_PKEY *key, const EVP_MD *md)
{
	X509 *x = X509_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"ima", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, key);
	if (!X509_sign(x, key, md))
		abort();
	return x;
}

static size_t der(X509 *x, uint8_t **out)
{
	int n = i2d_X509(x, out);

	if (n <= 0)
		abort();
	return (size_t)n;
}

static int run_text(const struct buf *t, const struct runtime_policy *pol,
		    struct ima_result *res, char *err)
{
	struct ima_state st;
	struct ima_input in = { .text = (char *)t->data, .len = t->len,
		.bank = TPM2_ALG_SHA256, .policy = pol };
	static const uint8_t zero[IMA_DIGEST_MAX];
	struct ima_result r0;
	char e0[512];
	int rc;

	/* The replay without a policy gives the value to quote (a zero
	 * quote matches before the first entry, but res.pcr10 is the value
	 * after all of them). */
	ima_state_init(&st);
	in.policy = NULL;
	in.pcr10 = zero;
	ima_verify(&st, &in, &r0, e0, sizeof(e0));
	in.policy = pol;
	in.pcr10 = r0.pcr10;
	ima_state_init(&st);
	err[0] = 0;
	rc = ima_verify(&st, &in, res, err, 512);
	if (rc)
		printf("(%s)\n", err);
	return rc;
}

static void test_templates(void)
{
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	X509 *xec = self_signed(ec, EVP_sha256()), *xed = self_signed(ed, NULL);
	uint8_t *cert = NULL, *edcert = NULL, dc[32], de[32], dk[32], d1[20];
	static const char cmdline[] = "root=/dev/sda1 ro";
	static const uint8_t sig[] = { 3, 2, 4, 0xaa, 0xbb, 0xcc, 0xdd, 0, 2,
				       0x55, 0x66 };
	struct runtime_policy *pol;
	struct buf t = BUF_INIT;
	struct ima_result res;
	char err[512], js[1024], *h1, *hc, *hk;
	size_t nc = der(xec, &cert), ne = der(xed, &edcert);

	digest("sha256", cert, nc, dc);
	digest("sha256", edcert, ne, de);
	digest("sha256", cmdline, strlen(cmdline), dk);
	digest("sha1", "init", 4, d1);
	make_line(&t, "ima", NULL, d1, 20, "/init", NULL, 0, "sha1");
	make_line(&t, "ima-sig", "sha256", dk, 32, "/usr/bin/signed", sig,
		  sizeof(sig), "sha1");
	make_line(&t, "ima-sig", "sha256", dk, 32, "/usr/bin/unsigned", NULL,
		  0, "sha1");
	make_line(&t, "ima-buf", "sha256", dc, 32, ".ima", cert, nc, "sha1");
	make_line(&t, "ima-buf", "sha256", dk, 32, "kexec-cmdline",
		  (const uint8_t *)cmdline, strlen(cmdline), "sha1");

	/* Without a policy: template hashes of every template recompute. */
	CHECK_INT(run_text(&t, NULL, &res, err), 0);
	CHECK_INT(res.entries, 5);

	h1 = hex_encode_str(d1, 20);
	hc = hex_encode_str(dc, 32);
	hk = hex_encode_str(dk, 32);
	snprintf(js, sizeof(js), "\"/init\": [\"%s\"], \"/usr/bin/signed\": "
		 "[\"%s\"], \"/usr/bin/unsigned\": [\"%s\"]", h1, hk, hk);
	{
		char kr[200], ib[200];

		snprintf(kr, sizeof(kr), "\".ima\": [\"%s\"]", hc);
		snprintf(ib, sizeof(ib), "\"kexec-cmdline\": [\"%s\"]", hk);
		pol = policy(js, "", kr, "", ib, "sha1");
		CHECK_INT(run_text(&t, pol, &res, err), 0);
		runtime_policy_free(pol);
		/* The key's digest is not in "keyrings". */
		pol = policy(js, "", "\".ima\": [\"" "0000000000000000000000000"
			     "000000000000000\"]", "", ib, "sha1");
		CHECK_INT(run_text(&t, pol, &res, err), -1);
		CHECK(err_is(err, "keyring .ima: digest sha256:"));
		CHECK(err_has(err, " not in policy at entry 3"));
		runtime_policy_free(pol);
		/* ... unless the keyring is ignored ("*" or by name). */
		pol = policy(js, "", "", "\"*\"", ib, "sha1");
		CHECK_INT(run_text(&t, pol, &res, err), 0);
		runtime_policy_free(pol);
		pol = policy(js, "", "", "\".ima\"", ib, "sha1");
		CHECK_INT(run_text(&t, pol, &res, err), 0);
		runtime_policy_free(pol);
		/* A plain buffer must be in "ima-buf". */
		pol = policy(js, "", kr, "", "", "sha1");
		CHECK_INT(run_text(&t, pol, &res, err), -1);
		CHECK(err_is(err, "buffer kexec-cmdline not in policy at "
			     "entry 4"));
		runtime_policy_free(pol);
		/* A signed file not in "digests": signatures unchecked. */
		snprintf(js, sizeof(js), "\"/init\": [\"%s\"], "
			 "\"/usr/bin/unsigned\": [\"%s\"]", h1, hk);
		pol = policy(js, "", kr, "", ib, "sha1");
		CHECK_INT(run_text(&t, pol, &res, err), -1);
		CHECK(err_is(err, "file /usr/bin/signed not in policy (file "
			     "signatures are not checked yet) at entry 1"));
		runtime_policy_free(pol);
	}

	/* The PCR field must be 10; a listed template hash of all ones is
	 * checked like any other (Keylime skips the checks for it). */
	buf_reset(&t);
	make_line(&t, "ima-ng", "sha256", dk, 32, "/x", NULL, 0, "sha1");
	t.data[1] = '1';
	CHECK_INT(run_text(&t, NULL, &res, err), -1);
	CHECK(err_is(err, "PCR 11 instead of 10 at entry 0"));
	t.data[1] = '0';
	memset(t.data + 3, 'f', 40);
	CHECK_INT(run_text(&t, NULL, &res, err), -1);
	CHECK(err_is(err, "template hash mismatch at entry 0"));
	/* The "ima" template's name field holds at most 255 bytes. */
	buf_reset(&t);
	buf_printf(&t, "10 %040d ima %040d /%0255d\n", 1, 2, 3);
	CHECK_INT(run_text(&t, NULL, &res, err), -1);
	CHECK(err_is(err, "malformed entry 0: name longer than 255 bytes"));

	/* An Ed25519 key in a keyring: not a supported type. */
	buf_reset(&t);
	make_line(&t, "ima-buf", "sha256", de, 32, ".ima", edcert, ne, "sha1");
	pol = policy("", "", "", "", "", "sha1");
	CHECK_INT(run_text(&t, pol, &res, err), -1);
	CHECK(err_is(err, "keyring .ima: key of an unsupported type"));
	runtime_policy_free(pol);

	/* log_hash_alg sha256: template hashes are sha256. */
	buf_reset(&t);
	make_line(&t, "ima-ng", "sha256", dk, 32, "/a b", NULL, 0, "sha256");
	snprintf(js, sizeof(js), "\"/a b\": [\"%s\"]", hk);
	pol = policy(js, "", "", "", "", "sha256");
	CHECK_INT(run_text(&t, pol, &res, err), 0);
	CHECK_INT(run_text(&t, NULL, &res, err), -1);
	CHECK(err_is(err, "template hash mismatch at entry 0"));
	runtime_policy_free(pol);

	free(h1);
	free(hc);
	free(hk);
	OPENSSL_free(cert);
	OPENSSL_free(edcert);
	X509_free(xec);
	X509_free(xed);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(ed);
	buf_free(&t);
}

/* ----------------------------------------------------- 4. policy loading */

static void load_fails(const char *json, const char *want)
{
	struct runtime_policy *pol = NULL;
	char err[512] = "";

	CHECK_INT(runtime_policy_load(json, strlen(json), &pol, err,
				      sizeof(err)), -1);
	CHECK(pol == NULL);
	CHECK(err_is(err, want));
}

static void bad_policy(const char *digests, const char *excl,
		       const char *alg, const char *want)
{
	char json[4096];

	snprintf(json, sizeof(json), base_policy, digests, excl, "", "", alg,
		 "");
	load_fails(json, want);
}

static void test_loading(void)
{
	static const char *const excl[][2] = {
		{ "\"(\"", "excludes[0]: \"(\": unbalanced ( at offset 1" },
		{ "\"a)|(b\"", "excludes[0]: \"a)|(b\": unbalanced ) at offset 1" },
		{ "\"/x\", \"\\\\d+\"", "excludes[1]: \"\\x5cd+\": escape "
		  "without the same meaning in POSIX at offset 0" },
		{ "\"(?:a)\"", "excludes[0]: \"(?:a)\": (? groups are not POSIX" },
		{ "\"[\\\\w]\"", "excludes[0]: \"[\\x5cw]\": backslash inside []" },
		{ "\"[[:alpha:]]\"", "excludes[0]: \"[[:alpha:]]\": POSIX class" },
		{ "\"a**\"", "excludes[0]: \"a**\": repeated quantifier" },
		{ "\"a*+\"", "excludes[0]: \"a*+\": repeated quantifier" },
		{ "\"*a\"", "excludes[0]: \"*a\": nothing to repeat" },
		{ "\"\\\\<a\"", "excludes[0]: \"\\x5c<a\": escape without" },
		{ "\"/\\u00e9\"", "excludes[0]: \"/\\xc3\\xa9\": non-ASCII" },
		{ "\"a{1\"", "excludes[0]: \"a{1\": Unmatched" },
	};
	static const char dig[] = "\"/x\": [\"00112233445566778899aabbccddeeff"
				  "00112233\"]";
	struct runtime_policy *pol = NULL;
	uint8_t d[32];
	char err[512] = "";
	size_t i;

	load_fails("{", "invalid JSON at line 1");
	load_fails("[]", "runtime policy is not a JSON object");
	load_fails("{\"meta\": 1, \"meta\": 2}", "invalid JSON");
	load_fails("{\"payload\": \"e30=\"}", "DSSE-signed runtime policies");
	load_fails("{}", "meta: missing");
	load_fails("{\"meta\": {\"version\": 2, \"generator\": 1}}",
		   "meta.version: 2 not supported");
	load_fails("{\"meta\": {\"version\": \"1\", \"generator\": 1}}",
		   "meta.version: not an integer");
	load_fails("{\"meta\": {\"version\": 1, \"generator\": 1}, \"digests\":"
		   " []}", "digests: not an object");
	load_fails("{\"meta\": {\"version\": 1, \"generator\": 1}, \"digests\":"
		   " {}, \"keyrings\": {}, \"ima-buf\": {}, \"excludes\": [], "
		   "\"verification-keys\": \"\"}", "ima: missing");
	bad_policy("\"/x\": \"00\"", "", "sha1",
		   "digests[\"/x\"]: not a non-empty array");
	bad_policy("\"/x\": []", "", "sha1",
		   "digests[\"/x\"]: not a non-empty array");
	bad_policy("\"/x\": [\"xyz\"]", "", "sha1", "digests[\"/x\"][0]: not "
		   "a digest (lowercase hex, 40 to 128 digits, optional alg: "
		   "prefix)");
	bad_policy("\"/x\": [\"00112233445566778899AABBCCDDEEFF00112233\"]",
		   "", "sha1", "digests[\"/x\"][0]: not a digest");
	bad_policy("\"/x\": [\"sha256:00112233445566778899aabbccddeeff0011"
		   "2233\"]", "", "sha1", "digests[\"/x\"][0]: not a digest");
	bad_policy("\"/x\": [\"001122334455667788990aabbccddeeff00112233\"]",
		   "", "sha1", "digests[\"/x\"][0]: not a digest");
	bad_policy("\"/\\u001b\": [1]", "", "sha1",
		   "digests[\"/\\x1b\"][0]: not a digest");
	bad_policy(dig, "1", "sha1", "excludes[0]: not a string");
	bad_policy(dig, "", "md5", "ima.log_hash_alg: not sha1, sha256, "
		   "sha384 or sha512");
	for (i = 0; i < sizeof(excl) / sizeof(excl[0]); i++)
		bad_policy(dig, excl[i][0], "sha1", excl[i][1]);
	load_fails("{\"meta\": {\"version\": 1, \"generator\": 1}, \"digests\":"
		   " {}, \"keyrings\": {}, \"ima-buf\": {}, \"excludes\": [], "
		   "\"ima\": {\"ignored_keyrings\": [], \"log_hash_alg\": "
		   "\"sha1\", \"dm_policy\": {}}, \"verification-keys\": \"\"}",
		   "ima.dm_policy: device-mapper policies are not supported");
	load_fails("{\"meta\": {\"version\": 1, \"generator\": 1}, \"digests\":"
		   " {}, \"keyrings\": {}, \"ima-buf\": {}, \"excludes\": [], "
		   "\"ima\": {\"ignored_keyrings\": [], \"log_hash_alg\": "
		   "\"sha1\", \"dm_policy\": null}, \"verification-keys\": "
		   "\"{\\\"keyids\\\": [\\\"a\\\"], \\\"pubkeys\\\": []}\"}",
		   "verification-keys: keyids[0]: not an integer");

	/* Verification keys are counted; excludes that load do match. */
	{
		static const char js[] = "{\"meta\": {\"version\": 1, "
			"\"generator\": 1}, \"digests\": {}, \"keyrings\": {}, "
			"\"ima-buf\": {}, \"excludes\": [\"/tmp/.*\", \"\", "
			"\"a{,2}b\"], \"ima\": {\"ignored_keyrings\": [], "
			"\"log_hash_alg\": \"sha512\", \"dm_policy\": null}, "
			"\"verification-keys\": \"{\\\"keyids\\\": [1], "
			"\\\"pubkeys\\\": [\\\"k\\\"]}\"}";

		CHECK_INT(runtime_policy_load(js, strlen(js), &pol, err,
					      sizeof(err)), 0);
		if (pol) {
			CHECK_INT(runtime_policy_verification_keys(pol), 1);
			CHECK_INT(runtime_policy_log_hash_alg(pol),
				  TPM2_ALG_SHA512);
			CHECK(runtime_policy_excluded(pol, "anything"));
			runtime_policy_free(pol);
		}
	}

	/* The flat allowlist. */
	{
		static const char al[] =
			"\n  0011223344556677889900112233445566778899  /a b \n"
			"00112233445566778899001122334455667788aa "
			"%keyring:.ima\n";

		CHECK_INT(runtime_policy_load_allowlist(al, strlen(al), &pol,
							err, sizeof(err)), 0);
		if (pol) {
			unhex("0011223344556677889900112233445566778899", d);
			CHECK_INT(runtime_policy_lookup(pol,
				  RUNTIME_POLICY_DIGESTS, "/a b", d, 20),
				  RUNTIME_POLICY_ALLOWED);
			d[19] = 0xaa;
			CHECK_INT(runtime_policy_lookup(pol,
				  RUNTIME_POLICY_KEYRINGS, ".ima", d, 20),
				  RUNTIME_POLICY_ALLOWED);
			runtime_policy_free(pol);
		}
		pol = NULL;
		CHECK_INT(runtime_policy_load_allowlist("abc\n", 4, &pol, err,
							sizeof(err)), -1);
		CHECK(err_is(err, "allowlist line 1: expected \"<digest> "
			     "<path>\""));
		CHECK_INT(runtime_policy_load_allowlist("\nzz /x", 6, &pol, err,
							sizeof(err)), -1);
		CHECK(err_is(err, "allowlist line 2: not a digest"));
		CHECK(pol == NULL);
	}
}

static void test_printable(void)
{
	char out[16];

	ima_printable(out, sizeof(out), "/a\nb\\", 5);
	CHECK_STR(out, "/a\\x0ab\\x5c");
	ima_printable(out, sizeof(out), "0123456789abcdefgh", 18);
	CHECK_STR(out, "0123456789ab...");
	ima_printable(out, sizeof(out), "0123456789abcde", 15);
	CHECK_STR(out, "0123456789abcde");
}

/* The parts without fixtures run first, so that a missing fixture never
 * hides their failures. */
int main(void)
{
	const char *dir = getenv("ASSAY_FIXTURES");
	char path[1024];

	test_printable();
	test_templates();
	test_loading();
	snprintf(path, sizeof(path), "%s/keylime/ima/ascii_runtime_measurements",
		 dir ? dir : "");
	if (!dir || access(path, R_OK)) {
		if (check_failures)
			return check_done();
		CHECK_SKIP("fixture %s is missing (ASSAY_FIXTURES %s)", path,
			   dir ? "set" : "not set");
	}
	test_list();
	test_keylime_policy();
	test_keylime_test_policy();
	return check_done();
}
