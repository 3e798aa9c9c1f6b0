/* test_quote: Keylime quote strings.
 *
 * 1. The real quote from rust-keylime's test data (fixtures/keylime/tpm/
 *    test-quote.txt) parses, its PCR digest is consistent with its PCR
 *    blob, and rebuilding it from the parsed parts gives the same string.
 *    Its AK is not published upstream (rust-keylime only round-trips the
 *    string), so its signature cannot be verified: the test shows that a
 *    random key is refused with "signature invalid" and checks everything
 *    else (nonce "TEST", SHA-1 bank, PCR 16) directly.
 * 2. Quotes made in software with RSASSA, RSAPSS and ECDSA keys, two banks
 *    and values over several TPML_DIGEST lists, then tampered with: every
 *    single-byte change of the attest or signature, wrong nonce, wrong key,
 *    PCR values, selections, base64, framing.
 * 3. Live: swtpm and tpm2-tools (tpm2_quote) with RSA and ECC AKs, PCR 16
 *    extended with H(NK PEM) as the Keylime agent does, and the agent's own
 *    path (tpm/tpm.c's tpm_quote); skipped (77) when swtpm or tpm2-tools
 *    is missing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "attest/quote.h"
#include "tests/lib/tpm2tools.h"
#include "tests/lib/tpub.h"
#include "tpm/tpm.h"
#include "tpm/tpm_public.h"
#include "util/buf.h"
#include "util/check.h"
#include "util/encode.h"
#include "util/file.h"

static int fixture_missing;

static int err_is(const char *err, const char *want)
{
	if (strncmp(err, want, strlen(want))) {
		printf("error \"%s\", wanted \"%s\"\n", err, want);
		return 0;
	}
	return 1;
}

static int read_fixture(struct buf *s)
{
	const char *dir = getenv("ASSAY_FIXTURES");
	char path[1024];

	if (!dir)
		return -1;
	snprintf(path, sizeof(path), "%s/keylime/tpm/test-quote.txt", dir);
	if (file_read(path, 1 << 20, s))
		return -1;
	while (s->len && (s->data[s->len - 1] == '\n' ||
			  s->data[s->len - 1] == '\r'))
		s->data[--s->len] = 0;
	return 0;
}

/* Splits "r<a>:<b>:<c>" into its decoded parts. */
static int split_quote(const char *s, struct buf *a, struct buf *b,
		       struct buf *c)
{
	const char *p1 = strchr(s, ':'), *p2 = p1 ? strchr(p1 + 1, ':') : NULL;

	buf_reset(a);
	buf_reset(b);
	buf_reset(c);
	if (s[0] != 'r' || !p2)
		return -1;
	return b64_decode(a, s + 1, (size_t)(p1 - s - 1)) ||
	       b64_decode(b, p1 + 1, (size_t)(p2 - p1 - 1)) ||
	       b64_decode(c, p2 + 1, strlen(p2 + 1)) ? -1 : 0;
}

static void expect_parse_fail(const char *s, const char *want)
{
	struct quote q;
	char err[256] = "";

	CHECK_INT(quote_parse(s, &q, err, sizeof(err)), -1);
	CHECK(err_is(err, want));
	quote_free(&q);
}

/* Replaces part `which` (0..2) of a quote string by b64(bytes). */
static void rebuild(struct buf *out, const struct buf *a, const struct buf *b,
		    const struct buf *c)
{
	buf_reset(out);
	quote_build(out, a->data, a->len, b->data, b->len, c->data, c->len);
}

static void test_fixture(void)
{
	struct buf s = BUF_INIT, a = BUF_INIT, b = BUF_INIT, c = BUF_INIT;
	struct buf t = BUF_INIT, blob = BUF_INIT;
	uint8_t sigbuf[sizeof(TPMT_SIGNATURE)];
	size_t off = 0;
	struct pcr_values v;
	const struct pcr_bank *bank;
	struct quote q;
	EVP_PKEY *key;
	char err[256] = "", *hex;

	if (read_fixture(&s)) {
		printf("fixture keylime/tpm/test-quote.txt missing\n");
		fixture_missing = 1;
		return;
	}
	CHECK_INT(quote_parse((const char *)s.data, &q, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK(q.att.magic == TPM2_GENERATED_VALUE);
	CHECK_INT(q.att.type, TPM2_ST_ATTEST_QUOTE);
	CHECK(q.att.extraData.size == 4 &&
	      !memcmp(q.att.extraData.buffer, "TEST", 4));
	CHECK_INT(q.sig_alg, TPM2_ALG_RSASSA);
	CHECK_INT(q.hash_alg, TPM2_ALG_SHA1);
	CHECK_INT(q.sig.signature.rsassa.sig.size, 256);
	CHECK_INT(q.pcr_sel.count, 1);
	CHECK_INT(q.nlists, 1);

	CHECK_INT(quote_check_pcrs(&q, &v, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_INT(v.nbanks, 1);
	bank = quote_pcr_bank(&v, TPM2_ALG_SHA1);
	CHECK(bank != NULL);
	CHECK(quote_pcr_bank(&v, TPM2_ALG_SHA256) == NULL);
	if (bank) {
		CHECK_INT(bank->mask, 1u << 16);
		CHECK_INT(bank->size, 20);
		hex = hex_encode_str(bank->value[16], 20);
		CHECK_STR(hex, "1749fe7b66b2acb66838ba3612a72cacf8938b84");
		free(hex);
	}
	/* Keylime's data PCR check needs NK's PEM, which is not published
	 * with the fixture: some other data must not match. */
	CHECK_INT(quote_check_data_pcr(&v, TPM2_ALG_SHA1, "x", 1, err,
				       sizeof(err)), -1);
	CHECK_STR(err, "PCR 16 does not match the agent's public key");
	CHECK_INT(quote_check_data_pcr(&v, TPM2_ALG_SHA256, "x", 1, err,
				       sizeof(err)), -1);
	CHECK_STR(err, "no sha256 bank in quote");

	/* The AK is unknown: any other key fails the signature. */
	key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	CHECK_INT(quote_verify(&q, key, (const uint8_t *)"TEST", 4, &v, err,
			       sizeof(err)), -1);
	CHECK_STR(err, "signature invalid");
	CHECK_INT(v.nbanks, 0);
	EVP_PKEY_free(key);

	/* Rebuilding from the parsed parts gives the original string. */
	CHECK_INT(split_quote((const char *)s.data, &a, &b, &c), 0);
	CHECK_INT(quote_pcrblob_build(&blob, &q.pcr_sel, q.lists, q.nlists),
		  0);
	CHECK(blob.len == c.len && !memcmp(blob.data, c.data, c.len));
	CHECK_INT(Tss2_MU_TPMT_SIGNATURE_Marshal(&q.sig, sigbuf,
						 sizeof(sigbuf), &off), 0);
	CHECK_INT(quote_build(&t, q.attest.data, q.attest.len, sigbuf, off,
			      blob.data, blob.len), 0);
	CHECK_STR((const char *)t.data, (const char *)s.data);
	quote_free(&q);

	/* A changed PCR value breaks the digest. */
	c.data[4 + 128 + 4 + 4 + 2] ^= 1;	/* first byte of PCR 16 */
	rebuild(&t, &a, &b, &c);
	CHECK_INT(quote_parse((const char *)t.data, &q, err, sizeof(err)), 0);
	CHECK_INT(quote_check_pcrs(&q, &v, err, sizeof(err)), -1);
	CHECK_STR(err, "PCR digest mismatch");
	quote_free(&q);
	c.data[4 + 128 + 4 + 4 + 2] ^= 1;

	/* Selection of the blob no longer the quoted one. */
	c.data[4 + 5] = 0x02;	/* PCR 16 -> PCR 17 */
	rebuild(&t, &a, &b, &c);
	CHECK_INT(quote_parse((const char *)t.data, &q, err, sizeof(err)), 0);
	CHECK_INT(quote_check_pcrs(&q, &v, err, sizeof(err)), -1);
	CHECK_STR(err, "PCR blob selection differs from quote");
	quote_free(&q);
	c.data[4 + 5] = 0x01;

	/* Truncations and framing. */
	t.len = 0;
	buf_append_str(&t, (const char *)s.data);
	t.data[t.len - 1] = 0;	/* drop the final '=' */
	expect_parse_fail((const char *)t.data,
			  "quote PCR blob is not valid base64");
	t.data[t.len - 1] = '=';
	t.data[10] = '*';
	expect_parse_fail((const char *)t.data,
			  "quote attest is not valid base64");
	t.data[0] = 'q';
	expect_parse_fail((const char *)t.data, "quote does not start with 'r'");
	expect_parse_fail("", "quote does not start with 'r'");
	expect_parse_fail("r", "quote has fewer than three parts");
	expect_parse_fail("rAAAA:AAAA", "quote has fewer than three parts");
	expect_parse_fail("r::", "quote attest is empty");
	expect_parse_fail("rAAAA:AAAA:AAAA:AAAA",
			  "quote has more than three parts");
	buf_reset(&t);
	buf_append_str(&t, (const char *)s.data);
	buf_append_str(&t, ":");
	expect_parse_fail((const char *)t.data,
			  "quote has more than three parts");
	/* The PCR blob cut short, lengthened, and with a silly count. */
	c.len -= 2;
	rebuild(&t, &a, &b, &c);
	expect_parse_fail((const char *)t.data, "PCR blob truncated");
	c.len += 2;
	buf_append_u8(&c, 0);
	rebuild(&t, &a, &b, &c);
	expect_parse_fail((const char *)t.data, "PCR blob has 1 extra bytes");
	c.len--;
	c.data[0] = 17;
	rebuild(&t, &a, &b, &c);
	expect_parse_fail((const char *)t.data,
			  "PCR blob selects 17 banks, at most 16");
	c.data[0] = 1;
	c.data[132] = 33;
	rebuild(&t, &a, &b, &c);
	expect_parse_fail((const char *)t.data,
			  "PCR blob has 33 digest lists, at most 32");
	c.data[132] = 1;
	c.data[136] = 9;
	rebuild(&t, &a, &b, &c);
	expect_parse_fail((const char *)t.data,
			  "PCR blob digest list holds 9 values, at most 8");
	c.data[136] = 1;
	c.data[140] = 65;
	rebuild(&t, &a, &b, &c);
	expect_parse_fail((const char *)t.data, "PCR blob digest of 65 bytes");
	c.data[140] = 20;
	c.data[6] = 5;	/* sizeofSelect */
	rebuild(&t, &a, &b, &c);
	expect_parse_fail((const char *)t.data, "PCR blob sizeofSelect 5 > 4");
	c.data[6] = 3;
	/* Attest and signature with a byte more or less. */
	buf_append_u8(&a, 0);
	rebuild(&t, &a, &b, &c);
	expect_parse_fail((const char *)t.data,
			  "TPMS_ATTEST followed by 1 extra bytes");
	a.len -= 2;
	rebuild(&t, &a, &b, &c);
	expect_parse_fail((const char *)t.data, "malformed TPMS_ATTEST");
	a.len++;
	b.len--;
	rebuild(&t, &a, &b, &c);
	expect_parse_fail((const char *)t.data, "malformed TPMT_SIGNATURE");
	b.len++;
	buf_append_u8(&b, 0);
	rebuild(&t, &a, &b, &c);
	expect_parse_fail((const char *)t.data,
			  "TPMT_SIGNATURE followed by 1 extra bytes");
	b.len--;
	/* Untouched again, it still parses. */
	rebuild(&t, &a, &b, &c);
	CHECK_STR((const char *)t.data, (const char *)s.data);
	buf_free(&s);
	buf_free(&a);
	buf_free(&b);
	buf_free(&c);
	buf_free(&t);
	buf_free(&blob);
}

/* ---- quotes made in software ---- */

struct soft_quote {
	TPML_PCR_SELECTION sel;
	TPML_DIGEST lists[4];
	size_t nlists;
	struct buf attest, sig, blob, str;
};

static void add_value(struct soft_quote *sq, const uint8_t *p, size_t n)
{
	TPML_DIGEST *l = sq->nlists ? &sq->lists[sq->nlists - 1] : NULL;

	if (!l || l->count == 8) {
		l = &sq->lists[sq->nlists++];
		l->count = 0;
	}
	l->digests[l->count].size = (UINT16)n;
	memcpy(l->digests[l->count].buffer, p, n);
	l->count++;
}

static int sign_attest(EVP_PKEY *key, uint16_t scheme, const EVP_MD *md,
		       uint16_t hash, const struct buf *attest,
		       struct buf *out)
{
	TPMT_SIGNATURE ts;
	uint8_t sig[1024], m[sizeof(TPMT_SIGNATURE)];
	const unsigned char *p = sig;
	size_t siglen = sizeof(sig), off = 0, c;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	ECDSA_SIG *es = NULL;
	int ok;

	memset(&ts, 0, sizeof(ts));
	ok = ctx && EVP_DigestSignInit_ex(ctx, &pctx, EVP_MD_get0_name(md),
					  NULL, NULL, key, NULL) == 1;
	if (ok && scheme == TPM2_ALG_RSAPSS)
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx,
						  RSA_PKCS1_PSS_PADDING) == 1 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
						      RSA_PSS_SALTLEN_DIGEST) == 1;
	ok = ok && EVP_DigestSign(ctx, sig, &siglen, attest->data,
				  attest->len) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -1;
	ts.sigAlg = scheme;
	if (scheme == TPM2_ALG_ECDSA) {
		c = (size_t)(EVP_PKEY_get_bits(key) + 7) / 8;
		es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
		ts.signature.ecdsa.hash = hash;
		ts.signature.ecdsa.signatureR.size = (UINT16)c;
		ts.signature.ecdsa.signatureS.size = (UINT16)c;
		ok = es && BN_bn2binpad(ECDSA_SIG_get0_r(es),
				ts.signature.ecdsa.signatureR.buffer,
				(int)c) == (int)c &&
		     BN_bn2binpad(ECDSA_SIG_get0_s(es),
				ts.signature.ecdsa.signatureS.buffer,
				(int)c) == (int)c;
		ECDSA_SIG_free(es);
		if (!ok)
			return -1;
	} else {
		ts.signature.rsassa.hash = hash;
		ts.signature.rsassa.sig.size = (UINT16)siglen;
		memcpy(ts.signature.rsassa.sig.buffer, sig, siglen);
	}
	if (Tss2_MU_TPMT_SIGNATURE_Marshal(&ts, m, sizeof(m), &off))
		return -1;
	buf_reset(out);
	return buf_append(out, m, off);
}

/* Banks: sha256 PCRs 0-9 and 16, then sha1 PCR 10 (12 values, two
 * lists). PCR 16 holds Keylime's binding of pem. */
static int soft_quote_make(struct soft_quote *sq, EVP_PKEY *key,
			   uint16_t scheme, const uint8_t *nonce,
			   size_t nonce_len, const char *pem)
{
	TPMS_ATTEST at;
	uint8_t v[64], m[sizeof(TPMS_ATTEST)];
	size_t off = 0, i;
	unsigned int dl = 0;
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	int pcr;

	memset(sq->lists, 0, sizeof(sq->lists));
	memset(&sq->sel, 0, sizeof(sq->sel));
	sq->nlists = 0;
	sq->sel.count = 2;
	sq->sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
	sq->sel.pcrSelections[0].sizeofSelect = 3;
	sq->sel.pcrSelections[0].pcrSelect[0] = 0xff;
	sq->sel.pcrSelections[0].pcrSelect[1] = 0x03;
	sq->sel.pcrSelections[0].pcrSelect[2] = 0x01;
	sq->sel.pcrSelections[1].hash = TPM2_ALG_SHA1;
	sq->sel.pcrSelections[1].sizeofSelect = 3;
	sq->sel.pcrSelections[1].pcrSelect[1] = 0x04;
	if (!h || EVP_DigestInit_ex(h, EVP_sha256(), NULL) != 1)
		return -1;
	for (pcr = 0; pcr <= 16; pcr++) {
		if (pcr >= 10 && pcr < 16)
			continue;
		if (pcr == 16)
			quote_data_pcr_expected(TPM2_ALG_SHA256, pem,
						strlen(pem), v);
		else
			RAND_bytes(v, 32);
		add_value(sq, v, 32);
		EVP_DigestUpdate(h, v, 32);
	}
	RAND_bytes(v, 20);
	add_value(sq, v, 20);
	EVP_DigestUpdate(h, v, 20);

	memset(&at, 0, sizeof(at));
	at.magic = TPM2_GENERATED_VALUE;
	at.type = TPM2_ST_ATTEST_QUOTE;
	at.qualifiedSigner.size = 34;
	at.extraData.size = (UINT16)nonce_len;
	memcpy(at.extraData.buffer, nonce, nonce_len);
	at.clockInfo.clock = 123456;
	at.clockInfo.safe = 1;
	at.firmwareVersion = 0x2019102300163636ULL;
	at.attested.quote.pcrSelect = sq->sel;
	EVP_DigestFinal_ex(h, at.attested.quote.pcrDigest.buffer, &dl);
	EVP_MD_CTX_free(h);
	at.attested.quote.pcrDigest.size = (UINT16)dl;
	if (Tss2_MU_TPMS_ATTEST_Marshal(&at, m, sizeof(m), &off))
		return -1;
	buf_reset(&sq->attest);
	buf_reset(&sq->blob);
	buf_reset(&sq->str);
	buf_append(&sq->attest, m, off);
	if (sign_attest(key, scheme, EVP_sha256(), TPM2_ALG_SHA256,
			&sq->attest, &sq->sig) ||
	    quote_pcrblob_build(&sq->blob, &sq->sel, sq->lists, sq->nlists))
		return -1;
	for (i = 0; i < sq->nlists; i++)
		if (sq->lists[i].count > 8)
			return -1;
	return quote_build(&sq->str, sq->attest.data, sq->attest.len,
			   sq->sig.data, sq->sig.len, sq->blob.data,
			   sq->blob.len);
}

static void soft_quote_free(struct soft_quote *sq)
{
	buf_free(&sq->attest);
	buf_free(&sq->sig);
	buf_free(&sq->blob);
	buf_free(&sq->str);
}

/* Verifies a quote string; returns quote_verify's result (or -1 when it
 * does not parse) with the message in err. */
static int verify_str(const char *s, EVP_PKEY *key, const uint8_t *nonce,
		      size_t nonce_len, struct pcr_values *v, char *err,
		      size_t errlen)
{
	struct quote q;
	int r = quote_parse(s, &q, err, errlen);

	if (r == 0)
		r = quote_verify(&q, key, nonce, nonce_len, v, err, errlen);
	quote_free(&q);
	return r;
}

static void test_soft(EVP_PKEY *key, EVP_PKEY *other, uint16_t scheme)
{
	static const char pem[] = "-----BEGIN PUBLIC KEY-----\nNK\n"
				  "-----END PUBLIC KEY-----\n";
	uint8_t nonce[20];
	struct soft_quote sq;
	struct buf t = BUF_INIT;
	struct pcr_values *v = malloc(sizeof(*v));
	const struct pcr_bank *b;
	char err[256] = "";
	size_t i, bad;

	memset(&sq, 0, sizeof(sq));
	RAND_bytes(nonce, sizeof(nonce));
	if (!v || soft_quote_make(&sq, key, scheme, nonce, sizeof(nonce),
				  pem)) {
		CHECK(!"software quote made");
		free(v);
		return;
	}
	CHECK_INT(sq.nlists, 2);
	CHECK_INT(verify_str((const char *)sq.str.data, key, nonce,
			     sizeof(nonce), v, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_INT(v->nbanks, 2);
	b = quote_pcr_bank(v, TPM2_ALG_SHA256);
	CHECK(b && b->mask == 0x103ff && b->size == 32);
	b = quote_pcr_bank(v, TPM2_ALG_SHA1);
	CHECK(b && b->mask == 0x400 && b->size == 20);
	if (b)
		CHECK(!memcmp(b->value[10], sq.lists[1].digests[3].buffer, 20));
	CHECK_INT(quote_check_data_pcr(v, TPM2_ALG_SHA256, pem, strlen(pem),
				       err, sizeof(err)), 0);
	CHECK_INT(quote_check_data_pcr(v, TPM2_ALG_SHA256, pem,
				       strlen(pem) - 1, err, sizeof(err)), -1);
	CHECK_STR(err, "PCR 16 does not match the agent's public key");
	CHECK_INT(quote_check_data_pcr(v, TPM2_ALG_SHA1, pem, strlen(pem),
				       err, sizeof(err)), -1);
	CHECK_STR(err, "PCR 16 missing from quote");

	/* Wrong nonce, wrong key, no key. */
	nonce[0] ^= 1;
	CHECK_INT(verify_str((const char *)sq.str.data, key, nonce,
			     sizeof(nonce), v, err, sizeof(err)), -1);
	CHECK_STR(err, "nonce mismatch");
	CHECK_INT(v->nbanks, 0);
	nonce[0] ^= 1;
	CHECK_INT(verify_str((const char *)sq.str.data, key, nonce,
			     sizeof(nonce) - 1, v, err, sizeof(err)), -1);
	CHECK_STR(err, "nonce mismatch");
	CHECK_INT(verify_str((const char *)sq.str.data, other, nonce,
			     sizeof(nonce), v, err, sizeof(err)), -1);
	CHECK(!strcmp(err, "signature invalid") ||
	      !strncmp(err, "signature algorithm", 19));
	CHECK_INT(verify_str((const char *)sq.str.data, NULL, nonce,
			     sizeof(nonce), v, err, sizeof(err)), -1);
	CHECK_STR(err, "no AK");

	/* Every single-byte change of the attest or the signature is
	 * refused, whatever the reason. */
	for (bad = 0, i = 0; i < sq.attest.len + sq.sig.len; i++) {
		struct buf *part = i < sq.attest.len ? &sq.attest : &sq.sig;
		size_t at = i < sq.attest.len ? i : i - sq.attest.len;

		part->data[at] ^= 0x01;
		rebuild(&t, &sq.attest, &sq.sig, &sq.blob);
		if (verify_str((const char *)t.data, key, nonce, sizeof(nonce),
			       v, err, sizeof(err)) == 0) {
			bad++;
			printf("byte %zu change accepted\n", i);
		}
		part->data[at] ^= 0x01;
	}
	CHECK_INT(bad, 0);
	/* Every changed PCR value is caught by the digest. */
	for (bad = 0, i = 0; i < sq.nlists * 532; i += 29) {
		size_t at = 132 + 4 + i;

		sq.blob.data[at] ^= 0x80;
		rebuild(&t, &sq.attest, &sq.sig, &sq.blob);
		if (verify_str((const char *)t.data, key, nonce, sizeof(nonce),
			       v, err, sizeof(err)) == 0) {
			/* Bytes past a digest's size are padding. */
			size_t in = i % 532;
			size_t k = in < 4 ? 9 : (in - 4) / 66;
			size_t o = in < 4 ? 0 : (in - 4) % 66;
			const TPML_DIGEST *l = &sq.lists[i / 532];

			if (k >= l->count || o < 2 ||
			    o - 2 >= l->digests[k].size)
				;
			else {
				bad++;
				printf("blob byte %zu change accepted\n", at);
			}
		}
		sq.blob.data[at] ^= 0x80;
	}
	CHECK_INT(bad, 0);

	/* The values split into other lists still verify. */
	rebuild(&t, &sq.attest, &sq.sig, &sq.blob);
	CHECK_INT(verify_str((const char *)t.data, key, nonce, sizeof(nonce),
			     v, err, sizeof(err)), 0);
	{
		TPML_DIGEST lists[3];

		memset(lists, 0, sizeof(lists));
		for (i = 0; i < 12; i++) {
			TPML_DIGEST *l = &lists[i < 5 ? 0 : i < 6 ? 1 : 2];
			const TPM2B_DIGEST *d =
				&sq.lists[i / 8].digests[i % 8];

			l->digests[l->count++] = *d;
		}
		buf_reset(&sq.blob);
		CHECK_INT(quote_pcrblob_build(&sq.blob, &sq.sel, lists, 3), 0);
		rebuild(&t, &sq.attest, &sq.sig, &sq.blob);
		CHECK_INT(verify_str((const char *)t.data, key, nonce,
				     sizeof(nonce), v, err, sizeof(err)), 0);
		/* One value fewer, one value more. */
		lists[2].count--;
		buf_reset(&sq.blob);
		quote_pcrblob_build(&sq.blob, &sq.sel, lists, 3);
		rebuild(&t, &sq.attest, &sq.sig, &sq.blob);
		CHECK_INT(verify_str((const char *)t.data, key, nonce,
				     sizeof(nonce), v, err, sizeof(err)), -1);
		CHECK(err_is(err, "PCR blob has fewer values than selected"));
		lists[2].count += 2;
		buf_reset(&sq.blob);
		quote_pcrblob_build(&sq.blob, &sq.sel, lists, 3);
		rebuild(&t, &sq.attest, &sq.sig, &sq.blob);
		CHECK_INT(verify_str((const char *)t.data, key, nonce,
				     sizeof(nonce), v, err, sizeof(err)), -1);
		CHECK(err_is(err, "PCR blob has more values than selected"));
		/* A SHA-1 sized value where SHA-256 is due. */
		lists[2].count--;
		lists[0].digests[1].size = 20;
		buf_reset(&sq.blob);
		quote_pcrblob_build(&sq.blob, &sq.sel, lists, 3);
		rebuild(&t, &sq.attest, &sq.sig, &sq.blob);
		CHECK_INT(verify_str((const char *)t.data, key, nonce,
				     sizeof(nonce), v, err, sizeof(err)), -1);
		CHECK(err_is(err, "PCR 1 value has 20 bytes, sha256 needs 32"));
		/* Builder refusals. */
		lists[0].count = 9;
		CHECK_INT(quote_pcrblob_build(&sq.blob, &sq.sel, lists, 3), -1);
		CHECK_INT(quote_pcrblob_build(&sq.blob, &sq.sel, lists, 33), -1);
	}
	soft_quote_free(&sq);
	buf_free(&t);
	free(v);
}

/* The attest checks that come before the signature. */
static void test_attest_fields(EVP_PKEY *key)
{
	static const uint8_t nonce[4] = { 'a', 'b', 'c', 'd' };
	struct soft_quote sq;
	struct quote q;
	char err[256] = "";

	memset(&sq, 0, sizeof(sq));
	CHECK_INT(soft_quote_make(&sq, key, TPM2_ALG_RSASSA, nonce, 4, "x"), 0);
	CHECK_INT(quote_parse((const char *)sq.str.data, &q, err, sizeof(err)),
		  0);
	q.att.magic = 0x12345678;
	CHECK_INT(quote_verify(&q, key, nonce, 4, NULL, err, sizeof(err)), -1);
	CHECK_STR(err, "attest magic is not TPM_GENERATED_VALUE");
	q.att.magic = TPM2_GENERATED_VALUE;
	q.att.type = TPM2_ST_ATTEST_CERTIFY;
	CHECK_INT(quote_verify(&q, key, nonce, 4, NULL, err, sizeof(err)), -1);
	CHECK_STR(err, "attest type 0x8017 is not a quote");
	CHECK_INT(quote_check_pcrs(&q, NULL, err, sizeof(err)), -1);
	q.att.type = TPM2_ST_ATTEST_QUOTE;
	CHECK_INT(quote_verify(&q, key, nonce, 4, NULL, err, sizeof(err)), 0);
	q.sig_alg = TPM2_ALG_ECDSA;
	CHECK_INT(quote_verify(&q, key, nonce, 4, NULL, err, sizeof(err)), -1);
	CHECK_STR(err, "signature algorithm ecdsa does not fit the AK");
	q.sig_alg = TPM2_ALG_RSASSA;
	q.hash_alg = TPM2_ALG_NULL;
	CHECK_INT(quote_verify(&q, key, nonce, 4, NULL, err, sizeof(err)), -1);
	CHECK_STR(err, "unsupported signature hash 0x0010");
	quote_free(&q);
	soft_quote_free(&sq);
}

/* ---- swtpm and tpm2-tools ---- */

static int nk_pem(struct buf *pem)
{
	EVP_PKEY *nk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	BIO *bio = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n;
	int r = -1;

	if (nk && bio && PEM_write_bio_PUBKEY(bio, nk) == 1) {
		n = BIO_get_mem_data(bio, &p);
		if (n > 0)
			r = buf_append(pem, p, (size_t)n);
	}
	BIO_free(bio);
	EVP_PKEY_free(nk);
	return r;
}

static void live_quote(struct tt *t, const char *alg, const char *sign,
		       const char *pcrs, const struct buf *pem)
{
	struct buf akpub = BUF_INIT, msg = BUF_INIT, sig = BUF_INIT;
	struct buf blob = BUF_INIT, str = BUF_INIT;
	uint8_t nonce[20], digest[32];
	struct tpm_public ak;
	struct pcr_values *v = malloc(sizeof(*v));
	const struct pcr_bank *b;
	char err[256] = "", *nhex = NULL, *dhex = NULL;
	unsigned int dl = 0;

	/* Keylime's nonces are 20 alphanumeric characters. */
	memcpy(nonce, "abcdefghij0123456789", 20);
	nonce[0] = (uint8_t)('a' + (unsigned)rand() % 26);
	nhex = hex_encode_str(nonce, sizeof(nonce));
	EVP_Digest(pem->data, pem->len, digest, &dl, EVP_sha256(), NULL);
	dhex = hex_encode_str(digest, dl);
	if (!v || !nhex || !dhex) {
		CHECK(!"allocation");
		goto out;
	}
	CHECK_INT(tt_run(t,
		"tpm2_flushcontext -t && "
		"tpm2_createek -c ek.ctx -G %s -u ek.pub && "
		"tpm2_createak -C ek.ctx -c ak-%s.ctx -G %s -g sha256 -s %s "
		"-u ak-%s.pub >/dev/null && tpm2_flushcontext -t && "
		"tpm2_pcrreset 16 && tpm2_pcrextend 16:sha256=%s && "
		"tpm2_quote -c ak-%s.ctx -l %s -q %s -m msg-%s -s sig-%s "
		"-o pcrs-%s -g sha256 --scheme %s >/dev/null",
		alg, sign, alg, sign, sign, dhex, sign, pcrs, nhex, sign, sign,
		sign, sign), 0);
	{
		char a[64], m[64], s[64], p[64];

		snprintf(a, sizeof(a), "ak-%s.pub", sign);
		snprintf(m, sizeof(m), "msg-%s", sign);
		snprintf(s, sizeof(s), "sig-%s", sign);
		snprintf(p, sizeof(p), "pcrs-%s", sign);
		CHECK_INT(tt_read(t, a, &akpub), 0);
		CHECK_INT(tt_read(t, m, &msg), 0);
		CHECK_INT(tt_read(t, s, &sig), 0);
		CHECK_INT(tt_read(t, p, &blob), 0);
	}
	CHECK_INT(tpm_public_parse(akpub.data, akpub.len, &ak, err,
				   sizeof(err)), 0);
	if (!ak.pkey) {
		printf("AK: %s\n", err);
		goto out;
	}
	CHECK_INT(quote_build(&str, msg.data, msg.len, sig.data, sig.len,
			      blob.data, blob.len), 0);
	CHECK_INT(verify_str((const char *)str.data, ak.pkey, nonce,
			     sizeof(nonce), v, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	printf("%s quote of %s verified: %s\n", sign, pcrs,
	       err[0] ? err : "yes");
	b = quote_pcr_bank(v, TPM2_ALG_SHA256);
	CHECK(b && (b->mask & 0x10003) == 0x10003);
	CHECK_INT(quote_check_data_pcr(v, TPM2_ALG_SHA256, pem->data, pem->len,
				       err, sizeof(err)), 0);
	CHECK_STR(err, "");
	if (strstr(pcrs, "sha1")) {
		b = quote_pcr_bank(v, TPM2_ALG_SHA1);
		CHECK(b && b->mask == 0x400 && b->size == 20);
	}
	/* Another nonce: refused. */
	nonce[19] ^= 1;
	CHECK_INT(verify_str((const char *)str.data, ak.pkey, nonce,
			     sizeof(nonce), v, err, sizeof(err)), -1);
	CHECK_STR(err, "nonce mismatch");
	tpm_public_free(&ak);
out:
	free(v);
	free(nhex);
	free(dhex);
	buf_free(&akpub);
	buf_free(&msg);
	buf_free(&sig);
	buf_free(&blob);
	buf_free(&str);
}

/* The agent's path: tpm/tpm.c quotes, quote_build assembles, and the
 * verifier's path must accept the result. */
static void agent_quote(struct tt *t, TPM2_ALG_ID sign, const struct buf *pem)
{
	struct buf ekpub = BUF_INIT, akpub = BUF_INIT, akpriv = BUF_INIT;
	struct buf attest = BUF_INIT, sig = BUF_INIT, blob = BUF_INIT;
	struct buf str = BUF_INIT;
	uint8_t nonce[20] = "0123456789abcdefghij", digest[32];
	struct pcr_values *v = malloc(sizeof(*v));
	struct tpm_public ak;
	struct tpm *tpm;
	ESYS_TR ek = ESYS_TR_NONE, akh = ESYS_TR_NONE;
	unsigned int dl = 0;
	char err[256] = "";

	memset(&ak, 0, sizeof(ak));
	tpm = tpm_open(t->tcti, err, sizeof(err));
	CHECK(tpm != NULL);
	if (!tpm || !v) {
		printf("tpm_open: %s\n", err);
		free(v);
		return;
	}
	EVP_Digest(pem->data, pem->len, digest, &dl, EVP_sha256(), NULL);
	CHECK_INT(tpm_ek_create(tpm, TPM_ALG_KIND_RSA, &ek, &ekpub), 0);
	CHECK_INT(tpm_ak_create(tpm, ek, TPM2_ALG_SHA256, sign, &akpub,
				&akpriv), 0);
	CHECK_INT(tpm_ak_load(tpm, ek, akpub.data, akpub.len, akpriv.data,
			      akpriv.len, &akh), 0);
	CHECK_INT(tpm_pcr_reset(tpm, QUOTE_DATA_PCR), 0);
	CHECK_INT(tpm_pcr_extend(tpm, QUOTE_DATA_PCR, TPM2_ALG_SHA256, digest,
				 dl), 0);
	/* Keylime's usual mask: PCRs 0-9, 10 (IMA) and 16. */
	CHECK_INT(tpm_quote(tpm, akh, nonce, sizeof(nonce), 0x107ff,
			    TPM2_ALG_SHA256, &attest, &sig, &blob), 0);
	CHECK_INT(quote_build(&str, attest.data, attest.len, sig.data, sig.len,
			      blob.data, blob.len), 0);
	CHECK_INT(tpm_public_parse(akpub.data, akpub.len, &ak, err,
				   sizeof(err)), 0);
	if (ak.pkey) {
		CHECK_INT(verify_str((const char *)str.data, ak.pkey, nonce,
				     sizeof(nonce), v, err, sizeof(err)), 0);
		CHECK_STR(err, "");
		CHECK_INT(quote_check_data_pcr(v, TPM2_ALG_SHA256, pem->data,
					       pem->len, err, sizeof(err)), 0);
		CHECK(quote_pcr_bank(v, TPM2_ALG_SHA256) &&
		      quote_pcr_bank(v, TPM2_ALG_SHA256)->mask == 0x107ff);
		printf("agent path (tpm_quote, %s): %s\n",
		       tpm_alg_name(sign), err[0] ? err : "verified");
	}
	if (akh != ESYS_TR_NONE)
		tpm_flush(tpm, akh);
	if (ek != ESYS_TR_NONE)
		tpm_flush(tpm, ek);
	tpm_close(tpm);
	tpm_public_free(&ak);
	free(v);
	buf_free(&ekpub);
	buf_free(&akpub);
	buf_free(&akpriv);
	buf_free(&attest);
	buf_free(&sig);
	buf_free(&blob);
	buf_free(&str);
}

static void test_live(void)
{
	struct buf pem = BUF_INIT;
	struct tt t;
	char why[512];
	int rc;

	rc = tt_start(&t, why, sizeof(why));
	if (rc) {
		tt_stop(&t);
		if (rc == 77 && !check_failures)
			CHECK_SKIP("%s (software tests passed)", why);
		printf("swtpm: %s\n", why);
		CHECK(rc == 77);
		return;
	}
	printf("swtpm at %s\n", t.tcti);
	CHECK_INT(nk_pem(&pem), 0);
	agent_quote(&t, TPM2_ALG_RSASSA, &pem);
	agent_quote(&t, TPM2_ALG_ECDSA, &pem);
	live_quote(&t, "rsa", "rsassa", "sha256:0,1,16", &pem);
	live_quote(&t, "ecc", "ecdsa", "sha256:0,1,16", &pem);
	live_quote(&t, "rsa", "rsapss", "sha256:0,1,16+sha1:10", &pem);
	buf_free(&pem);
	tt_stop(&t);
}

int main(void)
{
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *rsa2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *ec2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");

	/* tss2-mu logs every malformed input it is given; these tests give
	 * it many on purpose. */
	setenv("TSS2_LOG", "all+none", 0);
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK(rsa && rsa2 && ec && ec2);
	if (!rsa || !rsa2 || !ec || !ec2)
		return check_done();
	test_fixture();
	test_soft(rsa, rsa2, TPM2_ALG_RSASSA);
	test_soft(rsa, ec, TPM2_ALG_RSAPSS);
	test_soft(ec, ec2, TPM2_ALG_ECDSA);
	test_soft(ec2, rsa, TPM2_ALG_ECDSA);
	test_attest_fields(rsa);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(rsa2);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(ec2);
	test_live();
	if (fixture_missing && !check_failures)
		CHECK_SKIP("fixture keylime/tpm/test-quote.txt missing "
			   "(all other checks passed)");
	return check_done();
}
