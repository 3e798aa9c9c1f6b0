#include "attest/soft_quote.h"

#include <openssl/ecdsa.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "crypto/crypto.h"
#include "tpm/tpm_public.h"

/* TPML_PCR_SELECTION for one bank, 3 select bytes (PCRs 0..23). */
static void selection(const struct pcr_bank *bank, TPML_PCR_SELECTION *sel)
{
	memset(sel, 0, sizeof *sel);
	sel->count = 1;
	sel->pcrSelections[0].hash = bank->alg;
	sel->pcrSelections[0].sizeofSelect = 3;
	for (int i = 0; i < 3; i++)
		sel->pcrSelections[0].pcrSelect[i] = (uint8_t)(bank->mask >> (8 * i));
}

/* TPM2_PCR_Read answers at most 8 digests each: split the values the same
 * way so the blob looks like tpm2-tools' own. */
static size_t digest_lists(const struct pcr_bank *bank, TPML_DIGEST *lists,
			   size_t max)
{
	size_t n = 0;
	for (int pcr = 0; pcr < QUOTE_PCR_COUNT; pcr++) {
		if (!(bank->mask & 1u << pcr))
			continue;
		if (n == 0 || lists[n - 1].count == 8) {
			if (n == max)
				return 0;
			memset(&lists[n++], 0, sizeof *lists);
		}
		TPML_DIGEST *l = &lists[n - 1];
		l->digests[l->count].size = (UINT16)bank->size;
		memcpy(l->digests[l->count].buffer, bank->value[pcr], bank->size);
		l->count++;
	}
	return n;
}

static int sign(EVP_PKEY *ak, const uint8_t *p, size_t n, TPMT_SIGNATURE *sig)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t der[600];
	size_t len = sizeof der;
	int r = -1;
	if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, ak) != 1 ||
	    EVP_DigestSign(ctx, der, &len, p, n) != 1)
		goto out;
	memset(sig, 0, sizeof *sig);
	if (EVP_PKEY_get_base_id(ak) == EVP_PKEY_EC) {
		const uint8_t *q = der;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)len);
		if (!es)
			goto out;
		sig->sigAlg = TPM2_ALG_ECDSA;
		sig->signature.ecdsa.hash = TPM2_ALG_SHA256;
		TPM2B_ECC_PARAMETER *rs[2] = { &sig->signature.ecdsa.signatureR,
					       &sig->signature.ecdsa.signatureS };
		const BIGNUM *bn[2] = { ECDSA_SIG_get0_r(es), ECDSA_SIG_get0_s(es) };
		for (int i = 0; i < 2; i++) {
			rs[i]->size = 32;
			if (BN_bn2binpad(bn[i], rs[i]->buffer, 32) != 32) {
				ECDSA_SIG_free(es);
				goto out;
			}
		}
		ECDSA_SIG_free(es);
	} else {
		if (len > sizeof sig->signature.rsassa.sig.buffer)
			goto out;
		sig->sigAlg = TPM2_ALG_RSASSA;
		sig->signature.rsassa.hash = TPM2_ALG_SHA256;
		sig->signature.rsassa.sig.size = (UINT16)len;
		memcpy(sig->signature.rsassa.sig.buffer, der, len);
	}
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	return r;
}

int soft_quote(EVP_PKEY *ak, const uint8_t *ak_name, size_t ak_name_len,
	       const uint8_t *nonce, size_t nonce_len,
	       const struct pcr_bank *bank, uint64_t clock, struct buf *out)
{
	TPMS_ATTEST att;
	TPMT_SIGNATURE sig;
	TPML_DIGEST lists[3];
	struct buf values = BUF_INIT, digest = BUF_INIT, blob = BUF_INIT;
	uint8_t a[sizeof(TPMS_ATTEST)], s[sizeof(TPMT_SIGNATURE)];
	size_t alen = 0, slen = 0;
	int r = -1;
	const EVP_MD *md = tpm_alg_md(bank->alg);
	if (!md || nonce_len > sizeof att.extraData.buffer ||
	    ak_name_len > sizeof att.qualifiedSigner.name)
		return -1;

	memset(&att, 0, sizeof att);
	att.magic = TPM2_GENERATED_VALUE;
	att.type = TPM2_ST_ATTEST_QUOTE;
	att.qualifiedSigner.size = (UINT16)ak_name_len;
	memcpy(att.qualifiedSigner.name, ak_name, ak_name_len);
	att.extraData.size = (UINT16)nonce_len;
	memcpy(att.extraData.buffer, nonce, nonce_len);
	att.clockInfo.clock = clock;
	att.clockInfo.safe = 1;
	selection(bank, &att.attested.quote.pcrSelect);
	/* pcrDigest: the signing hash over the values in selection order. */
	for (int pcr = 0; pcr < QUOTE_PCR_COUNT; pcr++)
		if (bank->mask & 1u << pcr)
			buf_append(&values, bank->value[pcr], bank->size);
	if (crypto_digest(EVP_sha256(), values.data, values.len, &digest) < 0)
		goto out;
	att.attested.quote.pcrDigest.size = (UINT16)digest.len;
	memcpy(att.attested.quote.pcrDigest.buffer, digest.data, digest.len);

	size_t nlists = digest_lists(bank, lists, 3);
	if (Tss2_MU_TPMS_ATTEST_Marshal(&att, a, sizeof a, &alen) != 0 ||
	    sign(ak, a, alen, &sig) < 0 ||
	    Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, s, sizeof s, &slen) != 0 ||
	    (bank->mask && !nlists) ||
	    quote_pcrblob_build(&blob, &att.attested.quote.pcrSelect, lists, nlists) < 0)
		goto out;
	r = quote_build(out, a, alen, s, slen, blob.data, blob.len);
out:
	buf_free(&values);
	buf_free(&digest);
	buf_free(&blob);
	return r;
}

int soft_ima_entry(struct buf *log, const char *path, const void *content,
		   size_t len, uint8_t sha256_event[32], uint8_t sha1_event[20])
{
	struct buf fd = BUF_INIT, td = BUF_INIT, th = BUF_INIT, e = BUF_INIT;
	int r = -1;
	/* Template data: le32(len) "sha256:" NUL digest, le32(len) path NUL. */
	uint8_t le[4];
	if (crypto_digest(EVP_sha256(), content, len, &fd) < 0)
		goto out;
	uint32_t dlen = 8 + (uint32_t)fd.len, plen = (uint32_t)strlen(path) + 1;
	for (int i = 0; i < 4; i++)
		le[i] = (uint8_t)(dlen >> (8 * i));
	buf_append(&td, le, 4);
	buf_append(&td, "sha256:", 8);
	buf_append(&td, fd.data, fd.len);
	for (int i = 0; i < 4; i++)
		le[i] = (uint8_t)(plen >> (8 * i));
	buf_append(&td, le, 4);
	buf_append(&td, path, plen);
	if (crypto_digest(EVP_sha1(), td.data, td.len, &th) < 0 ||
	    crypto_digest(EVP_sha256(), td.data, td.len, &e) < 0)
		goto out;
	buf_append_str(log, "10 ");
	for (size_t i = 0; i < th.len; i++)
		buf_printf(log, "%02x", th.data[i]);
	buf_append_str(log, " ima-ng sha256:");
	for (size_t i = 0; i < fd.len; i++)
		buf_printf(log, "%02x", fd.data[i]);
	buf_printf(log, " %s\n", path);
	memcpy(sha256_event, e.data, 32);
	memcpy(sha1_event, th.data, 20);
	r = 0;
out:
	buf_free(&fd);
	buf_free(&td);
	buf_free(&th);
	buf_free(&e);
	return r;
}
