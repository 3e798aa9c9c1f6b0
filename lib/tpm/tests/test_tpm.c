/* test_tpm: the ESAPI layer against a real (software) TPM.
 *
 * Starts its own swtpm through scripts/swtpm-env.sh in a temporary
 * directory, with EK certificates made by swtpm_setup. Quotes are checked
 * independently of the TPM code: signatures with OpenSSL, the PCR blob with
 * a parser written from Keylime's layout (also run on the real fixture),
 * and with tpm2_checkquote / tpm2_makecredential when tpm2-tools is there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include "tpm/tpm.h"
#include "util/buf.h"
#include "util/check.h"
#include "util/encode.h"
#include "util/file.h"

static char tmpdir[64];
static char script[4096];
static int swtpm_running;

static int have_program(const char *name)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
	return system(cmd) == 0;
}

static void path_in_tmp(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", tmpdir, name);
}

static int write_file(const char *name, const void *p, size_t n)
{
	char path[256];

	path_in_tmp(path, sizeof(path), name);
	return file_write_atomic(path, p, n, 0600);
}

static void cleanup(void)
{
	char cmd[8192];

	if (swtpm_running) {
		snprintf(cmd, sizeof(cmd),
			 "bash -c '. \"%s\" && swtpm_stop \"%s\"'", script,
			 tmpdir);
		if (system(cmd) != 0)
			printf("warning: swtpm_stop failed\n");
	}
	if (tmpdir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			printf("warning: could not remove %s\n", tmpdir);
	}
}

/* ---- helpers independent of tpm.c ---- */

static int parse_public(const struct buf *b, TPM2B_PUBLIC *pub)
{
	size_t off = 0;

	memset(pub, 0, sizeof(*pub));
	return Tss2_MU_TPM2B_PUBLIC_Unmarshal(b->data, b->len, &off, pub) ||
	       off != b->len ? -1 : 0;
}

static EVP_PKEY *pkey_from_public(const struct buf *b)
{
	TPM2B_PUBLIC pub;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;
	BIGNUM *n = NULL, *e = NULL;
	uint8_t point[65];
	const TPMS_ECC_POINT *q;
	int ok = 0;

	if (!bld || parse_public(b, &pub) < 0)
		goto out;
	if (pub.publicArea.type == TPM2_ALG_RSA) {
		uint32_t exp = pub.publicArea.parameters.rsaDetail.exponent;

		n = BN_bin2bn(pub.publicArea.unique.rsa.buffer,
			      pub.publicArea.unique.rsa.size, NULL);
		e = BN_new();
		ok = n && e && BN_set_word(e, exp ? exp : 65537) &&
		     OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
		     OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	} else if (pub.publicArea.type == TPM2_ALG_ECC) {
		q = &pub.publicArea.unique.ecc;
		if (pub.publicArea.parameters.eccDetail.curveID !=
		    TPM2_ECC_NIST_P256 || q->x.size > 32 || q->y.size > 32)
			goto out;
		memset(point, 0, sizeof(point));
		point[0] = 4;
		memcpy(point + 1 + 32 - q->x.size, q->x.buffer, q->x.size);
		memcpy(point + 33 + 32 - q->y.size, q->y.buffer, q->y.size);
		ok = OSSL_PARAM_BLD_push_utf8_string(bld,
			OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
		     OSSL_PARAM_BLD_push_octet_string(bld,
			OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point));
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	}
	ok = ok && ctx && (params = OSSL_PARAM_BLD_to_param(bld)) &&
	     EVP_PKEY_fromdata_init(ctx) > 0 &&
	     EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) > 0;
out:
	if (!ok) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
	BN_free(n);
	BN_free(e);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	return pk;
}

static const EVP_MD *md_of(TPM2_ALG_ID h)
{
	switch (h) {
	case TPM2_ALG_SHA1: return EVP_sha1();
	case TPM2_ALG_SHA256: return EVP_sha256();
	case TPM2_ALG_SHA384: return EVP_sha384();
	case TPM2_ALG_SHA512: return EVP_sha512();
	default: return NULL;
	}
}

/* Verifies a marshaled TPMT_SIGNATURE over msg with the key in pub. */
static int verify_signature(const struct buf *pub, const struct buf *msg,
			    const struct buf *sigbuf)
{
	TPMT_SIGNATURE sig;
	EVP_PKEY *pk = pkey_from_public(pub);
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	ECDSA_SIG *es = NULL;
	unsigned char *der = NULL;
	const uint8_t *s = NULL;
	size_t off = 0, slen = 0;
	int derlen, ok = 0;

	memset(&sig, 0, sizeof(sig));
	if (!pk || !mctx ||
	    Tss2_MU_TPMT_SIGNATURE_Unmarshal(sigbuf->data, sigbuf->len, &off,
					     &sig) || off != sigbuf->len)
		goto out;
	if (EVP_DigestVerifyInit(mctx, &pctx, md_of(sig.signature.any.hashAlg),
				 NULL, pk) <= 0)
		goto out;
	switch (sig.sigAlg) {
	case TPM2_ALG_RSASSA:
		s = sig.signature.rsassa.sig.buffer;
		slen = sig.signature.rsassa.sig.size;
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0;
		break;
	case TPM2_ALG_RSAPSS:
		s = sig.signature.rsapss.sig.buffer;
		slen = sig.signature.rsapss.sig.size;
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx,
						  RSA_PKCS1_PSS_PADDING) > 0 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
						      RSA_PSS_SALTLEN_AUTO) > 0;
		break;
	case TPM2_ALG_ECDSA:
		es = ECDSA_SIG_new();
		ok = es && ECDSA_SIG_set0(es,
			BN_bin2bn(sig.signature.ecdsa.signatureR.buffer,
				  sig.signature.ecdsa.signatureR.size, NULL),
			BN_bin2bn(sig.signature.ecdsa.signatureS.buffer,
				  sig.signature.ecdsa.signatureS.size, NULL));
		derlen = ok ? i2d_ECDSA_SIG(es, &der) : -1;
		ok = derlen > 0;
		s = der;
		slen = ok ? (size_t)derlen : 0;
		break;
	}
	ok = ok && EVP_DigestVerify(mctx, s, slen, msg->data, msg->len) == 1;
out:
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(mctx);
	EVP_PKEY_free(pk);
	return ok;
}

/* Keylime's reading of the tpm2-tools PCR file (tpm_util.py); fails on
 * anything but one bank. */
struct pcrblob {
	uint32_t sel_count;
	uint16_t hash;
	uint8_t size_of_select;
	uint32_t mask;
	uint32_t lists;
	unsigned nvalues;
	uint8_t values[24][64];
	uint16_t sizes[24];
};

static int parse_pcrblob(const uint8_t *p, size_t n, struct pcrblob *out)
{
	struct cursor c = cursor_init(p, n);
	unsigned i, j, k;

	memset(out, 0, sizeof(*out));
	out->sel_count = cursor_le32(&c);
	for (i = 0; i < 16; i++) {
		uint16_t h = cursor_le16(&c);
		uint8_t sz = cursor_u8(&c);
		const uint8_t *sel = cursor_bytes(&c, 4);

		cursor_u8(&c);	/* padding */
		if (c.err || (sz != 0 && sz != 3))
			return -1;
		if (i == 0) {
			out->hash = h;
			out->size_of_select = sz;
			out->mask = sel[0] | sel[1] << 8 | sel[2] << 16;
		} else if (h || sz) {
			return -1;
		}
	}
	out->lists = cursor_le32(&c);
	for (i = 0; i < out->lists && !c.err; i++) {
		uint32_t cnt = cursor_le32(&c);

		for (j = 0; j < 8; j++) {
			uint16_t sz = cursor_le16(&c);
			const uint8_t *v = cursor_bytes(&c, 64);

			if (c.err || sz > 64)
				return -1;
			if (j >= cnt)
				continue;
			k = out->nvalues++;
			if (k >= 24 || !sz)
				return -1;
			memcpy(out->values[k], v, sz);
			out->sizes[k] = sz;
		}
	}
	return c.err || c.left ? -1 : 0;
}

/* ---- tests without a TPM ---- */

static void test_alg_names(void)
{
	static const char *names[] = { "sha1", "sha256", "sha384", "sha512",
		"sm3_256", "rsa", "ecc", "rsassa", "rsapss", "ecdsa", "ecdaa",
		"ecschnorr" };
	TPM2_ALG_ID id = 0;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		CHECK_INT(tpm_alg_from_name(names[i], &id), 0);
		CHECK_STR(tpm_alg_name(id), names[i]);
	}
	CHECK_INT(tpm_alg_from_name("sha256", &id), 0);
	CHECK_INT(id, TPM2_ALG_SHA256);
	CHECK_INT(tpm_alg_from_name("rsassa", &id), 0);
	CHECK_INT(id, TPM2_ALG_RSASSA);
	CHECK_INT(tpm_alg_from_name("ecc", &id), 0);
	CHECK_INT(id, TPM2_ALG_ECC);
	CHECK_INT(tpm_alg_from_name("SHA256", &id), -1);
	CHECK_INT(tpm_alg_from_name("md5", &id), -1);
	CHECK_INT(tpm_alg_from_name(NULL, &id), -1);
	CHECK(tpm_alg_name(0x7fff) == NULL);
	CHECK_INT(tpm_hash_size(TPM2_ALG_SHA1), 20);
	CHECK_INT(tpm_hash_size(TPM2_ALG_SHA384), 48);
	CHECK_INT(tpm_hash_size(TPM2_ALG_RSA), 0);
}

/* The real quote from rust-keylime: our reading of the PCR blob layout. */
static void test_fixture_pcrblob(void)
{
	const char *dir = getenv("ASSAY_FIXTURES");
	char path[4096];
	struct buf txt = BUF_INIT, blob = BUF_INIT;
	struct pcrblob pb;
	char *last;

	if (!dir) {
		printf("SKIP part: ASSAY_FIXTURES not set, fixture quote not "
		       "checked\n");
		return;
	}
	snprintf(path, sizeof(path), "%s/keylime/tpm/test-quote.txt", dir);
	if (file_read(path, 1 << 20, &txt) < 0) {
		printf("SKIP part: fixture %s missing\n", path);
		return;
	}
	while (txt.len && (txt.data[txt.len - 1] == '\n' ||
			   txt.data[txt.len - 1] == '\r'))
		txt.data[--txt.len] = 0;
	last = strrchr((char *)txt.data, ':');
	CHECK(last != NULL);
	if (last) {
		CHECK_INT(b64_decode(&blob, last + 1, strlen(last + 1)), 0);
		CHECK_INT(blob.len, 668);
		CHECK_INT(parse_pcrblob(blob.data, blob.len, &pb), 0);
		CHECK_INT(pb.sel_count, 1);
		CHECK_INT(pb.hash, TPM2_ALG_SHA1);
		CHECK_INT(pb.mask, 1u << 16);
		CHECK_INT(pb.lists, 1);
		CHECK_INT(pb.nvalues, 1);
		CHECK_INT(pb.sizes[0], 20);
	}
	buf_free(&txt);
	buf_free(&blob);
}

/* ---- tests on swtpm ---- */

static struct tpm *open_swtpm(const char *tcti)
{
	char err[512] = "";
	struct tpm *t = tpm_open(tcti, err, sizeof(err));

	if (!t)
		printf("tpm_open(%s): %s\n", tcti, err);
	return t;
}

static void test_open_error(void)
{
	char err[512] = "";
	struct tpm *t;

	/* Nothing listens on port 1. */
	t = tpm_open("swtpm:host=127.0.0.1,port=1", err, sizeof(err));
	CHECK(t == NULL);
	CHECK(err[0] != 0);
	printf("expected open error: %s\n", err);
	tpm_close(t);
	t = tpm_open("nosuchtcti:x", err, sizeof(err));
	CHECK(t == NULL);
	CHECK(strstr(err, "nosuchtcti") != NULL);
}

static const uint8_t ek_policy[32] = {
	0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8,
	0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
	0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64,
	0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa,
};

static void check_ek_public(const struct buf *pub, enum tpm_key_alg alg)
{
	TPM2B_PUBLIC p;
	const TPMT_PUBLIC *a = &p.publicArea;

	CHECK_INT(parse_public(pub, &p), 0);
	CHECK_INT(a->nameAlg, TPM2_ALG_SHA256);
	CHECK_INT(a->objectAttributes, 0x000300b2);
	CHECK_INT(a->authPolicy.size, 32);
	CHECK(!memcmp(a->authPolicy.buffer, ek_policy, 32));
	if (alg == TPM_ALG_KIND_RSA) {
		CHECK_INT(a->type, TPM2_ALG_RSA);
		CHECK_INT(a->parameters.rsaDetail.keyBits, 2048);
		CHECK_INT(a->parameters.rsaDetail.symmetric.algorithm,
			  TPM2_ALG_AES);
		CHECK_INT(a->unique.rsa.size, 256);
	} else {
		CHECK_INT(a->type, TPM2_ALG_ECC);
		CHECK_INT(a->parameters.eccDetail.curveID, TPM2_ECC_NIST_P256);
		CHECK_INT(a->unique.ecc.x.size, 32);
		CHECK_INT(a->unique.ecc.y.size, 32);
	}
}

/* EK created twice gives the same key; returns the EK (loaded). */
static ESYS_TR test_ek(struct tpm *t, enum tpm_key_alg alg, struct buf *pub)
{
	struct buf again = BUF_INIT;
	ESYS_TR ek = ESYS_TR_NONE, ek2 = ESYS_TR_NONE;

	CHECK_INT(tpm_ek_create(t, alg, &ek, pub), 0);
	if (pub->len == 0)
		printf("tpm_ek_create: %s\n", tpm_error(t));
	check_ek_public(pub, alg);
	CHECK_INT(tpm_ek_create(t, alg, &ek2, &again), 0);
	CHECK(pub->len == again.len && pub->len > 0 &&
	      !memcmp(pub->data, again.data, pub->len));
	CHECK_INT(tpm_flush(t, ek2), 0);
	buf_free(&again);
	return ek;
}

static void test_ek_cert(struct tpm *t, enum tpm_key_alg alg,
			 const struct buf *ekpub)
{
	struct buf der = BUF_INIT;
	const unsigned char *p;
	EVP_PKEY *pk = pkey_from_public(ekpub);
	X509 *x = NULL;
	int r = tpm_ek_cert_read(t, alg, &der);

	if (r < 0)
		printf("tpm_ek_cert_read: %s\n", tpm_error(t));
	if (alg == TPM_ALG_KIND_RSA)
		CHECK_INT(r, 0);	/* made by swtpm_setup --create-ek-cert */
	else
		CHECK(r == 0 || r == 1);	/* swtpm 0.7 makes P-384 only */
	if (r == 1)
		printf("note: no ECC P-256 EK certificate (expected for "
		       "swtpm_setup 0.7)\n");
	CHECK(pk != NULL);
	if (r == 0) {
		p = der.data;
		x = d2i_X509(NULL, &p, (long)der.len);
		CHECK(x != NULL);
		CHECK(p == der.data + der.len);
		CHECK(x && pk && EVP_PKEY_eq(X509_get0_pubkey(x), pk) == 1);
	}
	X509_free(x);
	EVP_PKEY_free(pk);
	buf_free(&der);
}

/* name = nameAlg (SHA-256) || SHA-256(TPMT_PUBLIC) */
static void ak_name_hex(const struct buf *pub, char *hex, size_t n)
{
	uint8_t name[34] = { 0x00, 0x0b };
	unsigned len = 0;
	size_t i;

	EVP_Digest(pub->data + 2, pub->len - 2, name + 2, &len, EVP_sha256(),
		   NULL);
	for (i = 0; i < sizeof(name) && 2 * i + 2 < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", name[i]);
}

static void test_attest_nonce(const struct buf *attest, const uint8_t *nonce,
			      size_t nlen, const struct buf *pcrblob)
{
	TPMS_ATTEST a;
	struct pcrblob pb;
	struct buf all = BUF_INIT;
	size_t off = 0, i;
	uint8_t md[64];
	unsigned mdlen = 0;
	const EVP_MD *type;

	memset(&a, 0, sizeof(a));
	CHECK_INT(Tss2_MU_TPMS_ATTEST_Unmarshal(attest->data, attest->len,
						&off, &a), 0);
	CHECK_INT(off, attest->len);
	CHECK_INT(a.magic, TPM2_GENERATED_VALUE);
	CHECK_INT(a.type, TPM2_ST_ATTEST_QUOTE);
	CHECK_INT(a.extraData.size, nlen);
	CHECK(!memcmp(a.extraData.buffer, nonce, nlen));
	/* The blob's values hash to the quote's pcrDigest. */
	CHECK_INT(parse_pcrblob(pcrblob->data, pcrblob->len, &pb), 0);
	CHECK_INT(pb.sel_count, 1);
	CHECK_INT(pb.mask, a.attested.quote.pcrSelect.pcrSelections[0]
		  .pcrSelect[0] | a.attested.quote.pcrSelect.pcrSelections[0]
		  .pcrSelect[1] << 8 | a.attested.quote.pcrSelect
		  .pcrSelections[0].pcrSelect[2] << 16);
	CHECK_INT(pb.hash, a.attested.quote.pcrSelect.pcrSelections[0].hash);
	for (i = 0; i < pb.nvalues; i++)
		buf_append(&all, pb.values[i], pb.sizes[i]);
	type = md_of(a.attested.quote.pcrDigest.size == 20 ? TPM2_ALG_SHA1 :
		     a.attested.quote.pcrDigest.size == 48 ? TPM2_ALG_SHA384 :
		     TPM2_ALG_SHA256);
	EVP_Digest(all.data, all.len, md, &mdlen, type, NULL);
	CHECK_INT(mdlen, a.attested.quote.pcrDigest.size);
	CHECK(!memcmp(md, a.attested.quote.pcrDigest.buffer, mdlen));
	buf_free(&all);
}

/* tpm2_checkquote reads the PCR file as tpm2-tools wrote it. */
static void checkquote_with_tools(const struct buf *akpub,
				  const struct buf *attest,
				  const struct buf *sig,
				  const struct buf *pcrblob,
				  const uint8_t *nonce, size_t nlen)
{
	char cmd[2048], *nhex;
	TPMT_SIGNATURE sg;
	size_t off = 0;
	int rc;

	if (!have_program("tpm2_checkquote")) {
		printf("SKIP part: tpm2_checkquote not installed\n");
		return;
	}
	CHECK_INT(write_file("ak.pub", akpub->data, akpub->len), 0);
	CHECK_INT(write_file("q.msg", attest->data, attest->len), 0);
	CHECK_INT(write_file("q.sig", sig->data, sig->len), 0);
	CHECK_INT(write_file("q.pcrs", pcrblob->data, pcrblob->len), 0);
	/* -g is the signing hash, which also hashes the PCR values. */
	memset(&sg, 0, sizeof(sg));
	CHECK_INT(Tss2_MU_TPMT_SIGNATURE_Unmarshal(sig->data, sig->len, &off,
						   &sg), 0);
	if (sg.sigAlg == TPM2_ALG_RSAPSS) {
		/* Its verify() never sets PSS padding. */
		printf("SKIP part: tpm2_checkquote (5.4) cannot check rsapss "
		       "signatures\n");
		return;
	}
	nhex = hex_encode_str(nonce, nlen);
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && tpm2_checkquote -u ak.pub -m q.msg -s q.sig "
		 "-f q.pcrs -g %s -q %s >checkquote.log 2>&1",
		 tmpdir, tpm_alg_name(sg.signature.any.hashAlg), nhex);
	rc = system(cmd);
	CHECK_INT(rc, 0);
	if (rc) {
		snprintf(cmd, sizeof(cmd), "cat '%s/checkquote.log'", tmpdir);
		if (system(cmd) != 0)
			printf("(no log)\n");
	}
	free(nhex);
}

static void test_quote(struct tpm *t, ESYS_TR ak, const struct buf *akpub,
		       uint32_t mask, TPM2_ALG_ID bank)
{
	struct buf attest = BUF_INIT, sig = BUF_INIT, blob = BUF_INIT;
	struct buf vals = BUF_INIT, blobvals = BUF_INIT;
	struct pcrblob pb;
	uint8_t nonce[20];
	unsigned i, n = 0;

	for (i = 0; i < 24; i++)
		n += !!(mask & (1u << i));
	for (i = 0; i < sizeof(nonce); i++)
		nonce[i] = (uint8_t)(0x41 + i);
	CHECK_INT(tpm_quote(t, ak, nonce, sizeof(nonce), mask, bank, &attest,
			    &sig, &blob), 0);
	if (!attest.len) {
		printf("tpm_quote: %s\n", tpm_error(t));
		return;
	}
	CHECK_INT(blob.len, 132 + 4 + 532 * ((n + 7) / 8));
	test_attest_nonce(&attest, nonce, sizeof(nonce), &blob);
	CHECK(verify_signature(akpub, &attest, &sig));
	/* A changed byte must break the signature. */
	attest.data[attest.len - 1] ^= 1;
	CHECK(!verify_signature(akpub, &attest, &sig));
	attest.data[attest.len - 1] ^= 1;
	/* Same values as a plain read (nothing extends PCRs here). */
	CHECK_INT(tpm_pcr_read(t, mask, bank, &vals), 0);
	CHECK_INT(parse_pcrblob(blob.data, blob.len, &pb), 0);
	CHECK_INT(pb.nvalues, n);
	CHECK_INT(pb.hash, bank);
	CHECK_INT(pb.mask, mask);
	for (i = 0; i < pb.nvalues; i++)
		buf_append(&blobvals, pb.values[i], pb.sizes[i]);
	CHECK(vals.len == blobvals.len &&
	      !memcmp(vals.data, blobvals.data, vals.len));
	checkquote_with_tools(akpub, &attest, &sig, &blob, nonce,
			      sizeof(nonce));
	buf_free(&attest);
	buf_free(&sig);
	buf_free(&blob);
	buf_free(&vals);
	buf_free(&blobvals);
}

static void test_quote_errors(struct tpm *t, ESYS_TR ak)
{
	struct buf a = BUF_INIT, s = BUF_INIT, b = BUF_INIT;
	uint8_t nonce[TPM_NONCE_MAX + 1] = { 0 };

	CHECK_INT(tpm_quote(t, ak, nonce, sizeof(nonce), 1u << 16,
			    TPM2_ALG_SHA256, &a, &s, &b), -1);
	CHECK(strstr(tpm_error(t), "nonce") != NULL);
	CHECK_INT(tpm_quote(t, ak, nonce, 8, 0, TPM2_ALG_SHA256, &a, &s, &b),
		  -1);
	CHECK_INT(tpm_quote(t, ak, nonce, 8, 1u << 24, TPM2_ALG_SHA256, &a,
			    &s, &b), -1);
	CHECK_INT(tpm_quote(t, ak, nonce, 8, 1, TPM2_ALG_RSA, &a, &s, &b), -1);
	CHECK(a.len == 0 && s.len == 0 && b.len == 0);
	/* The sha384 bank is not active on our swtpm: a clear error. */
	CHECK_INT(tpm_quote(t, ak, nonce, 8, 1, TPM2_ALG_SHA384, &a, &s, &b),
		  -1);
	printf("expected quote error: %s\n", tpm_error(t));
	CHECK(a.len == 0 && s.len == 0 && b.len == 0);
}

static void test_pcr16(struct tpm *t)
{
	uint8_t zeros[32] = { 0 }, d[32], buf64[64], expect[32];
	struct buf v = BUF_INIT, v1 = BUF_INIT;
	unsigned len = 0;

	CHECK_INT(tpm_pcr_reset(t, 16), 0);
	CHECK_INT(tpm_pcr_read(t, 1u << 16, TPM2_ALG_SHA256, &v), 0);
	CHECK(v.len == 32 && !memcmp(v.data, zeros, 32));
	EVP_Digest("assay", 5, d, &len, EVP_sha256(), NULL);
	CHECK_INT(tpm_pcr_extend(t, 16, TPM2_ALG_SHA256, d, 32), 0);
	memcpy(buf64, zeros, 32);
	memcpy(buf64 + 32, d, 32);
	EVP_Digest(buf64, 64, expect, &len, EVP_sha256(), NULL);
	CHECK_INT(tpm_pcr_read(t, 1u << 16, TPM2_ALG_SHA256, &v), 0);
	CHECK(v.len == 32 && !memcmp(v.data, expect, 32));
	/* Only the sha256 bank was extended. */
	CHECK_INT(tpm_pcr_read(t, 1u << 16, TPM2_ALG_SHA1, &v1), 0);
	CHECK(v1.len == 20 && !memcmp(v1.data, zeros, 20));
	/* Bad arguments and a PCR that locality 0 cannot reset. */
	CHECK_INT(tpm_pcr_extend(t, 16, TPM2_ALG_SHA256, d, 20), -1);
	CHECK_INT(tpm_pcr_extend(t, 24, TPM2_ALG_SHA256, d, 32), -1);
	CHECK_INT(tpm_pcr_reset(t, 0), -1);
	printf("expected reset error: %s\n", tpm_error(t));
	CHECK(strstr(tpm_error(t), "PCR_Reset(0)") != NULL);
	buf_free(&v);
	buf_free(&v1);
}

static void test_random(struct tpm *t)
{
	struct buf a = BUF_INIT, b = BUF_INIT;

	CHECK_INT(tpm_get_random(t, 32, &a), 0);
	CHECK_INT(tpm_get_random(t, 32, &b), 0);
	CHECK_INT(a.len, 32);
	CHECK(a.len == b.len && memcmp(a.data, b.data, a.len));
	CHECK_INT(tpm_get_random(t, 200, &a), 0);
	CHECK_INT(a.len, 200);
	CHECK_INT(tpm_get_random(t, 0, &a), 0);
	CHECK_INT(a.len, 0);
	CHECK_INT(tpm_get_random(t, 65537, &a), -1);
	buf_free(&a);
	buf_free(&b);
}

/* Credential made in software by tpm2-tools, activated on the TPM. */
static void test_activate(struct tpm *t, ESYS_TR ek, const struct buf *ekpub,
			  ESYS_TR ak, const struct buf *akpub,
			  const char *label)
{
	const char secret[] = "assay-credential-0123456789abcd";
	struct buf blob = BUF_INIT, out = BUF_INIT;
	char cmd[2048], name[80], path[256];
	int rc;

	if (!have_program("tpm2_makecredential")) {
		printf("SKIP part: tpm2_makecredential not installed, "
		       "ActivateCredential (%s) not tested\n", label);
		return;
	}
	ak_name_hex(akpub, name, sizeof(name));
	CHECK_INT(write_file("ek.pub", ekpub->data, ekpub->len), 0);
	CHECK_INT(write_file("secret", secret, strlen(secret)), 0);
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && tpm2_makecredential -T none -u ek.pub -s secret "
		 "-n %s -o cred.blob >mkcred.log 2>&1", tmpdir, name);
	rc = system(cmd);
	CHECK_INT(rc, 0);
	path_in_tmp(path, sizeof(path), "cred.blob");
	if (rc || file_read(path, 1 << 16, &blob) < 0) {
		printf("tpm2_makecredential (%s) failed\n", label);
		return;
	}
	CHECK_INT(tpm_activate_credential(t, ak, ek, blob.data, blob.len,
					  &out), 0);
	if (out.len == 0)
		printf("activate (%s): %s\n", label, tpm_error(t));
	CHECK(out.len == strlen(secret) && !memcmp(out.data, secret,
						   out.len));

	/* Malformed blobs are refused before the TPM sees them. */
	CHECK_INT(tpm_activate_credential(t, ak, ek, blob.data, 7, &out), -1);
	CHECK(out.len == 0);
	CHECK_INT(tpm_activate_credential(t, ak, ek, blob.data, blob.len - 1,
					  &out), -1);
	printf("expected blob error: %s\n", tpm_error(t));
	blob.data[0] ^= 0xff;
	CHECK_INT(tpm_activate_credential(t, ak, ek, blob.data, blob.len,
					  &out), -1);
	CHECK(strstr(tpm_error(t), "magic") != NULL);
	blob.data[0] ^= 0xff;
	/* A credential for another name (bit flipped in the integrity HMAC)
	 * is refused by the TPM. */
	blob.data[12] ^= 1;
	CHECK_INT(tpm_activate_credential(t, ak, ek, blob.data, blob.len,
					  &out), -1);
	printf("expected TPM error: %s\n", tpm_error(t));
	CHECK(out.len == 0);
	buf_free(&blob);
	buf_free(&out);
}

/* AK of one kind: created, loaded, used, persisted and reloaded after the
 * TPM context was closed and reopened. */
static void test_ak(struct tpm **tp, const char *tcti, enum tpm_key_alg ekalg,
		    TPM2_ALG_ID hash, TPM2_ALG_ID sign)
{
	struct tpm *t = *tp;
	struct buf ekpub = BUF_INIT, pub = BUF_INIT, priv = BUF_INIT;
	struct buf pub2 = BUF_INIT;
	TPM2B_PUBLIC p;
	ESYS_TR ek, ak = ESYS_TR_NONE, bad;
	char label[64];

	snprintf(label, sizeof(label), "%s EK, %s/%s AK",
		 ekalg == TPM_ALG_KIND_RSA ? "RSA" : "ECC", tpm_alg_name(sign),
		 tpm_alg_name(hash));
	printf("-- %s\n", label);
	CHECK_INT(tpm_ek_create(t, ekalg, &ek, &ekpub), 0);
	CHECK_INT(tpm_ak_create(t, ek, hash, sign, &pub, &priv), 0);
	if (!pub.len) {
		printf("tpm_ak_create: %s\n", tpm_error(t));
		tpm_flush(t, ek);
		goto out;
	}
	CHECK_INT(parse_public(&pub, &p), 0);
	CHECK_INT(p.publicArea.objectAttributes &
		  (TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT |
		   TPMA_OBJECT_DECRYPT),
		  TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT);
	CHECK_INT(tpm_ak_load(t, ek, pub.data, pub.len, priv.data, priv.len,
			      &ak), 0);
	test_activate(t, ek, &ekpub, ak, &pub, label);
	CHECK_INT(tpm_flush(t, ak), 0);
	CHECK_INT(tpm_flush(t, ek), 0);

	/* Persisted bytes, new context, new EK handle: same AK. */
	CHECK_INT(write_file("ak.priv", priv.data, priv.len), 0);
	tpm_close(t);
	*tp = t = open_swtpm(tcti);
	CHECK(t != NULL);
	if (!t)
		goto out;
	CHECK_INT(tpm_ek_create(t, ekalg, &ek, &pub2), 0);
	CHECK(pub2.len == ekpub.len && !memcmp(pub2.data, ekpub.data,
					       ekpub.len));
	CHECK_INT(tpm_ak_load(t, ek, pub.data, pub.len, priv.data, priv.len,
			      &ak), 0);
	/* The reloaded AK signs for the saved public key. */
	test_quote(t, ak, &pub, 1u << 16, TPM2_ALG_SHA256);
	test_quote(t, ak, &pub, 0x00ffffff, TPM2_ALG_SHA256);
	test_quote(t, ak, &pub, (1u << 16) | (1u << 10) | 1u, TPM2_ALG_SHA1);
	test_quote_errors(t, ak);

	/* Load refuses what is not one AK. */
	CHECK_INT(tpm_ak_load(t, ek, pub.data, pub.len - 1, priv.data,
			      priv.len, &bad), -1);
	CHECK(bad == ESYS_TR_NONE);
	CHECK_INT(tpm_ak_load(t, ek, pub.data, pub.len, priv.data,
			      priv.len - 1, &bad), -1);
	CHECK_INT(tpm_ak_load(t, ek, ekpub.data, ekpub.len, priv.data,
			      priv.len, &bad), -1);
	CHECK(strstr(tpm_error(t), "restricted signing") != NULL);
	/* The objects must go: swtpm holds only three. */
	CHECK_INT(tpm_flush(t, ak), 0);
	CHECK_INT(tpm_flush(t, ek), 0);
out:
	buf_free(&ekpub);
	buf_free(&pub);
	buf_free(&pub2);
	buf_free(&priv);
}

int main(void)
{
	const char *src = getenv("ASSAY_SOURCE_ROOT");
	struct buf ekpub = BUF_INIT, tctibuf = BUF_INIT;
	char cmd[8192], path[256], tcti[256];
	struct tpm *t;
	ESYS_TR ek;

	/* ESAPI logs every TPM error to stderr; the tests provoke many on
	 * purpose and print tpm_error() where it matters. */
	setenv("TSS2_LOG", "all+none", 0);
	test_alg_names();
	test_fixture_pcrblob();

	if (!have_program("swtpm") || !have_program("swtpm_setup") ||
	    !have_program("bash")) {
		if (check_failures)
			return check_done();
		CHECK_SKIP("swtpm/swtpm_setup not installed");
	}
	if (!src)
		CHECK_SKIP("ASSAY_SOURCE_ROOT not set (run through meson test)");
	snprintf(script, sizeof(script), "%s/scripts/swtpm-env.sh", src);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/assay-tpm-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		tmpdir[0] = 0;
		CHECK_SKIP("cannot create a temporary directory");
	}
	atexit(cleanup);
	snprintf(cmd, sizeof(cmd),
		 "bash -c '. \"%s\" && swtpm_start \"%s\"'", script, tmpdir);
	if (system(cmd) != 0) {
		printf("FAIL: could not start swtpm with %s\n", script);
		return 1;
	}
	swtpm_running = 1;
	path_in_tmp(path, sizeof(path), "tcti");
	if (file_read(path, 256, &tctibuf) < 0 || tctibuf.len < 2) {
		printf("FAIL: no %s\n", path);
		return 1;
	}
	snprintf(tcti, sizeof(tcti), "%.*s", (int)tctibuf.len - 1,
		 (char *)tctibuf.data);
	printf("swtpm at %s\n", tcti);

	test_open_error();
	t = open_swtpm(tcti);
	CHECK(t != NULL);
	if (!t)
		return check_done();

	ek = test_ek(t, TPM_ALG_KIND_RSA, &ekpub);
	test_ek_cert(t, TPM_ALG_KIND_RSA, &ekpub);
	CHECK_INT(tpm_flush(t, ek), 0);
	ek = test_ek(t, TPM_ALG_KIND_ECC, &ekpub);
	test_ek_cert(t, TPM_ALG_KIND_ECC, &ekpub);
	CHECK_INT(tpm_flush(t, ek), 0);

	test_pcr16(t);
	test_random(t);

	test_ak(&t, tcti, TPM_ALG_KIND_RSA, TPM2_ALG_SHA256, TPM2_ALG_RSASSA);
	if (t)
		test_ak(&t, tcti, TPM_ALG_KIND_RSA, TPM2_ALG_SHA256,
			TPM2_ALG_RSAPSS);
	if (t)
		test_ak(&t, tcti, TPM_ALG_KIND_ECC, TPM2_ALG_SHA256,
			TPM2_ALG_ECDSA);
	if (t)
		test_ak(&t, tcti, TPM_ALG_KIND_RSA, TPM2_ALG_SHA1,
			TPM2_ALG_RSASSA);
	if (t)
		test_ak(&t, tcti, TPM_ALG_KIND_RSA, TPM2_ALG_SHA384,
			TPM2_ALG_RSASSA);

	tpm_close(t);
	buf_free(&ekpub);
	buf_free(&tctibuf);
	return check_done();
}
