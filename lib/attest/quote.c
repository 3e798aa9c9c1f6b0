/* quote: parsing, verification and building of Keylime quote strings. */
#include "attest/quote.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "tpm/tpm.h"
#include "util/encode.h"
#include "util/error.h"

/* Sizes of tpm2-tools' in-memory structs, as written to the PCR file. */
#define BLOB_SEL_ENTRY 8	/* u16 hash, u8 size, u8 select[4], u8 pad */
#define BLOB_SEL_SIZE (4 + TPM2_NUM_PCR_BANKS * BLOB_SEL_ENTRY)
#define BLOB_DIGESTS 8		/* TPML_DIGEST holds 8 TPM2B_DIGEST */
#define BLOB_DIGEST_BUF 64	/* sizeof(TPMU_HA) */

/* For messages: never NULL. */
static const char *alg_str(uint16_t alg)
{
	const char *s = tpm_alg_name(alg);

	return s ? s : "unknown algorithm";
}

static uint16_t sig_hash(const TPMT_SIGNATURE *s)
{
	switch (s->sigAlg) {
	case TPM2_ALG_RSASSA:
		return s->signature.rsassa.hash;
	case TPM2_ALG_RSAPSS:
		return s->signature.rsapss.hash;
	case TPM2_ALG_ECDSA:
		return s->signature.ecdsa.hash;
	default:
		return TPM2_ALG_ERROR;
	}
}

static int pcrblob_parse(const uint8_t *p, size_t n, struct quote *q,
			 char *err, size_t errlen)
{
	struct cursor c = cursor_init(p, n);
	uint32_t count, nlists, i, k;
	const uint8_t *sel;

	count = cursor_le32(&c);
	if (!c.err && count > TPM2_NUM_PCR_BANKS) {
		error_set(err, errlen, "PCR blob selects %u banks, at most %d",
			count, TPM2_NUM_PCR_BANKS);
		return -1;
	}
	q->pcr_sel.count = count;
	for (i = 0; i < TPM2_NUM_PCR_BANKS; i++) {
		TPMS_PCR_SELECTION *s = &q->pcr_sel.pcrSelections[i];
		uint16_t hash = cursor_le16(&c);
		uint8_t size = cursor_u8(&c);

		sel = cursor_bytes(&c, TPM2_PCR_SELECT_MAX + 1);
		if (c.err || i >= count)
			continue;	/* padding entries carry nothing */
		if (size > TPM2_PCR_SELECT_MAX) {
			error_set(err, errlen, "PCR blob sizeofSelect %u > %d",
				size, TPM2_PCR_SELECT_MAX);
			return -1;
		}
		s->hash = hash;
		s->sizeofSelect = size;
		memcpy(s->pcrSelect, sel, size);
	}
	nlists = cursor_le32(&c);
	if (!c.err && nlists > QUOTE_MAX_DIGEST_LISTS) {
		error_set(err, errlen, "PCR blob has %u digest lists, at most %d",
			nlists, QUOTE_MAX_DIGEST_LISTS);
		return -1;
	}
	for (i = 0; i < nlists && !c.err; i++) {
		TPML_DIGEST *l = &q->lists[i];

		l->count = cursor_le32(&c);
		if (!c.err && l->count > BLOB_DIGESTS) {
			error_set(err, errlen,
				"PCR blob digest list holds %u values, at most %d",
				l->count, BLOB_DIGESTS);
			return -1;
		}
		for (k = 0; k < BLOB_DIGESTS; k++) {
			uint16_t size = cursor_le16(&c);
			const uint8_t *d = cursor_bytes(&c, BLOB_DIGEST_BUF);

			if (c.err || k >= l->count)
				continue;
			if (size > BLOB_DIGEST_BUF) {
				error_set(err, errlen,
					"PCR blob digest of %u bytes", size);
				return -1;
			}
			l->digests[k].size = size;
			memcpy(l->digests[k].buffer, d, size);
		}
	}
	if (c.err) {
		error_set(err, errlen, "PCR blob truncated");
		return -1;
	}
	if (c.left) {
		error_set(err, errlen, "PCR blob has %zu extra bytes", c.left);
		return -1;
	}
	q->nlists = nlists;
	return 0;
}

/* Decodes one base64 part of the quote string. */
static int part_decode(struct buf *out, const char *s, size_t n,
		       const char *what, size_t max, char *err, size_t errlen)
{
	if (n == 0) {
		error_set(err, errlen, "quote %s is empty", what);
		return -1;
	}
	if (b64_decode(out, s, n)) {
		error_set(err, errlen, "quote %s is not valid base64", what);
		return -1;
	}
	if (out->len > max) {
		error_set(err, errlen, "quote %s too long (%zu bytes)", what,
			out->len);
		return -1;
	}
	return 0;
}

static int parse_parts(const char *s, size_t len, struct quote *q,
		       struct buf *sig, struct buf *blob, char *err,
		       size_t errlen)
{
	const char *a = s + 1, *b, *c;
	size_t off = 0;
	TSS2_RC rc;

	b = memchr(a, ':', len - 1);
	c = b ? memchr(b + 1, ':', (size_t)(s + len - (b + 1))) : NULL;
	if (!b || !c) {
		error_set(err, errlen, "quote has fewer than three parts");
		return -1;
	}
	if (memchr(c + 1, ':', (size_t)(s + len - (c + 1)))) {
		error_set(err, errlen, "quote has more than three parts");
		return -1;
	}
	if (part_decode(&q->attest, a, (size_t)(b - a), "attest",
			sizeof(TPMS_ATTEST), err, errlen) ||
	    part_decode(sig, b + 1, (size_t)(c - b - 1), "signature",
			sizeof(TPMT_SIGNATURE), err, errlen) ||
	    part_decode(blob, c + 1, (size_t)(s + len - c - 1), "PCR blob",
			BLOB_SEL_SIZE + 4 + QUOTE_MAX_DIGEST_LISTS *
			(4 + BLOB_DIGESTS * (2 + BLOB_DIGEST_BUF)),
			err, errlen))
		return -1;

	rc = Tss2_MU_TPMS_ATTEST_Unmarshal(q->attest.data, q->attest.len,
					   &off, &q->att);
	if (rc != TSS2_RC_SUCCESS) {
		error_set(err, errlen, "malformed TPMS_ATTEST (tss2 rc 0x%x)",
			(unsigned)rc);
		return -1;
	}
	if (off != q->attest.len) {
		error_set(err, errlen, "TPMS_ATTEST followed by %zu extra bytes",
			q->attest.len - off);
		return -1;
	}
	off = 0;
	rc = Tss2_MU_TPMT_SIGNATURE_Unmarshal(sig->data, sig->len, &off,
					      &q->sig);
	if (rc != TSS2_RC_SUCCESS) {
		error_set(err, errlen, "malformed TPMT_SIGNATURE (tss2 rc 0x%x)",
			(unsigned)rc);
		return -1;
	}
	if (off != sig->len) {
		error_set(err, errlen,
			"TPMT_SIGNATURE followed by %zu extra bytes",
			sig->len - off);
		return -1;
	}
	q->sig_alg = q->sig.sigAlg;
	q->hash_alg = sig_hash(&q->sig);
	return pcrblob_parse(blob->data, blob->len, q, err, errlen);
}

int quote_parse(const char *s, struct quote *q, char *err, size_t errlen)
{
	struct buf sig = BUF_INIT, blob = BUF_INIT;
	size_t len;
	int ret;

	memset(q, 0, sizeof(*q));
	if (!s) {
		error_set(err, errlen, "no quote");
		return -1;
	}
	len = strnlen(s, QUOTE_MAX_LEN + 1);
	if (len > QUOTE_MAX_LEN) {
		error_set(err, errlen, "quote longer than %d bytes",
			QUOTE_MAX_LEN);
		return -1;
	}
	if (len == 0 || s[0] != 'r') {
		error_set(err, errlen, "quote does not start with 'r'");
		return -1;
	}
	ret = parse_parts(s, len, q, &sig, &blob, err, errlen);
	buf_free(&sig);
	buf_free(&blob);
	return ret;
}

void quote_free(struct quote *q)
{
	if (!q)
		return;
	buf_free(&q->attest);
	memset(q, 0, sizeof(*q));
}

/* The TPM's ECDSA signature is r and s; OpenSSL wants DER. */
static int ecdsa_der(const TPMS_SIGNATURE_ECDSA *e, unsigned char **der)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(e->signatureR.buffer, e->signatureR.size, NULL);
	BIGNUM *s = BN_bin2bn(e->signatureS.buffer, e->signatureS.size, NULL);
	int n = -1;

	if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
		r = s = NULL;	/* owned by es now */
		*der = NULL;
		n = i2d_ECDSA_SIG(es, der);
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return n;
}

static int check_signature(const struct quote *q, EVP_PKEY *ak, char *err,
			   size_t errlen)
{
	const EVP_MD *md = tpm_alg_md(q->hash_alg);
	int is_rsa = EVP_PKEY_is_a(ak, "RSA"), is_ec = EVP_PKEY_is_a(ak, "EC");
	unsigned char *der = NULL;
	const unsigned char *sig;
	EVP_MD_CTX *ctx = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	size_t siglen;
	int ret = -1, n;

	if ((q->sig_alg == TPM2_ALG_RSASSA || q->sig_alg == TPM2_ALG_RSAPSS)
	    && is_rsa) {
		sig = q->sig.signature.rsassa.sig.buffer;
		siglen = q->sig.signature.rsassa.sig.size;
	} else if (q->sig_alg == TPM2_ALG_ECDSA && is_ec) {
		n = ecdsa_der(&q->sig.signature.ecdsa, &der);
		if (n <= 0) {
			error_set(err, errlen, "signature invalid");
			return -1;
		}
		sig = der;
		siglen = (size_t)n;
	} else {
		error_set(err, errlen,
			"signature algorithm %s does not fit the AK",
			alg_str(q->sig_alg));
		return -1;
	}
	if (!md) {
		error_set(err, errlen, "unsupported signature hash 0x%04x",
			q->hash_alg);
		goto out;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestVerifyInit_ex(ctx, &pctx, EVP_MD_get0_name(md),
					    NULL, NULL, ak, NULL) != 1) {
		error_set(err, errlen, "cannot set up signature verification");
		goto out;
	}
	/* TPMs use salt = digest size, some the maximum: accept either. */
	if (q->sig_alg == TPM2_ALG_RSAPSS &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) != 1)) {
		error_set(err, errlen, "cannot set up RSA-PSS verification");
		goto out;
	}
	if (EVP_DigestVerify(ctx, sig, siglen, q->attest.data,
			     q->attest.len) != 1) {
		error_set(err, errlen, "signature invalid");
		goto out;
	}
	ret = 0;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	return ret;
}

static int sel_mask(const TPMS_PCR_SELECTION *s, uint32_t *mask)
{
	uint32_t m = 0;
	unsigned i;

	if (s->sizeofSelect > TPM2_PCR_SELECT_MAX)
		return -1;
	for (i = 0; i < s->sizeofSelect; i++)
		m |= (uint32_t)s->pcrSelect[i] << (8 * i);
	if (m >> QUOTE_PCR_COUNT)
		return -1;
	*mask = m;
	return 0;
}

/* Walks the PCR blob's values in order. */
struct value_iter {
	const struct quote *q;
	size_t list, idx;
};

static const TPM2B_DIGEST *next_value(struct value_iter *it)
{
	while (it->list < it->q->nlists &&
	       it->idx >= it->q->lists[it->list].count) {
		it->list++;
		it->idx = 0;
	}
	if (it->list >= it->q->nlists)
		return NULL;
	return &it->q->lists[it->list].digests[it->idx++];
}

/* Feeds one selected bank's values into the digest and into out. */
static int hash_bank(const TPMS_PCR_SELECTION *s, uint32_t mask,
		     struct value_iter *it, EVP_MD_CTX *ctx,
		     struct pcr_bank *bank, char *err, size_t errlen)
{
	const EVP_MD *bmd = tpm_alg_md(s->hash);
	const TPM2B_DIGEST *d;
	size_t size;
	unsigned pcr;

	if (!bmd) {
		error_set(err, errlen, "unsupported PCR bank 0x%04x", s->hash);
		return -1;
	}
	size = (size_t)EVP_MD_get_size(bmd);
	bank->alg = s->hash;
	bank->mask = mask;
	bank->size = size;
	for (pcr = 0; pcr < QUOTE_PCR_COUNT; pcr++) {
		if (!(mask & (1u << pcr)))
			continue;
		d = next_value(it);
		if (!d) {
			error_set(err, errlen,
				"PCR blob has fewer values than selected");
			return -1;
		}
		if (d->size != size) {
			error_set(err, errlen,
				"PCR %u value has %u bytes, %s needs %zu",
				pcr, d->size, alg_str(s->hash), size);
			return -1;
		}
		if (EVP_DigestUpdate(ctx, d->buffer, d->size) != 1) {
			error_set(err, errlen, "hashing PCR values failed");
			return -1;
		}
		memcpy(bank->value[pcr], d->buffer, size);
	}
	return 0;
}

static int check_pcrs(const struct quote *q, struct pcr_values *v,
		      char *err, size_t errlen)
{
	const TPMS_QUOTE_INFO *qi = &q->att.attested.quote;
	const TPML_PCR_SELECTION *as = &qi->pcrSelect, *bs = &q->pcr_sel;
	const EVP_MD *md = tpm_alg_md(q->hash_alg);
	struct value_iter it = { q, 0, 0 };
	uint8_t dig[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	EVP_MD_CTX *ctx = NULL;
	uint32_t am, bm;
	size_t i, j;
	int ret = -1;

	if (q->att.type != TPM2_ST_ATTEST_QUOTE) {
		error_set(err, errlen, "attest type 0x%04x is not a quote",
			q->att.type);
		return -1;
	}
	if (!md) {
		error_set(err, errlen, "unsupported signature hash 0x%04x",
			q->hash_alg);
		return -1;
	}
	if (as->count != bs->count || as->count > TPM2_NUM_PCR_BANKS) {
		error_set(err, errlen, "PCR blob selection differs from quote");
		return -1;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, md, NULL) != 1) {
		error_set(err, errlen, "hashing PCR values failed");
		goto out;
	}
	for (i = 0; i < as->count; i++) {
		const TPMS_PCR_SELECTION *a = &as->pcrSelections[i];

		if (sel_mask(a, &am) || sel_mask(&bs->pcrSelections[i], &bm)) {
			error_set(err, errlen, "PCR selection beyond PCR %d",
				QUOTE_PCR_COUNT - 1);
			goto out;
		}
		if (a->hash != bs->pcrSelections[i].hash || am != bm) {
			error_set(err, errlen,
				"PCR blob selection differs from quote");
			goto out;
		}
		for (j = 0; j < i; j++) {
			if (as->pcrSelections[j].hash == a->hash) {
				error_set(err, errlen, "PCR bank %s selected twice",
					alg_str(a->hash));
				goto out;
			}
		}
		if (hash_bank(a, am, &it, ctx, &v->bank[i], err, errlen))
			goto out;
		v->nbanks = i + 1;
	}
	if (next_value(&it)) {
		error_set(err, errlen, "PCR blob has more values than selected");
		goto out;
	}
	if (EVP_DigestFinal_ex(ctx, dig, &dlen) != 1) {
		error_set(err, errlen, "hashing PCR values failed");
		goto out;
	}
	if (qi->pcrDigest.size != dlen ||
	    memcmp(qi->pcrDigest.buffer, dig, dlen)) {
		error_set(err, errlen, "PCR digest mismatch");
		goto out;
	}
	ret = 0;
out:
	EVP_MD_CTX_free(ctx);
	return ret;
}

int quote_check_pcrs(const struct quote *q, struct pcr_values *out,
		     char *err, size_t errlen)
{
	struct pcr_values *v = out ? out : malloc(sizeof(*v));
	int ret;

	if (!v) {
		error_set(err, errlen, "out of memory");
		return -1;
	}
	memset(v, 0, sizeof(*v));
	ret = check_pcrs(q, v, err, errlen);
	if (ret)
		memset(v, 0, sizeof(*v));
	if (v != out)
		free(v);
	return ret;
}

int quote_verify(const struct quote *q, EVP_PKEY *ak, const uint8_t *nonce,
		 size_t nonce_len, struct pcr_values *out, char *err,
		 size_t errlen)
{
	if (out)
		memset(out, 0, sizeof(*out));
	if (!ak) {
		error_set(err, errlen, "no AK");
		return -1;
	}
	if (q->att.magic != TPM2_GENERATED_VALUE) {
		error_set(err, errlen,
			"attest magic is not TPM_GENERATED_VALUE");
		return -1;
	}
	if (q->att.type != TPM2_ST_ATTEST_QUOTE) {
		error_set(err, errlen, "attest type 0x%04x is not a quote",
			q->att.type);
		return -1;
	}
	if (check_signature(q, ak, err, errlen))
		return -1;
	if (q->att.extraData.size != nonce_len ||
	    (nonce_len && memcmp(q->att.extraData.buffer, nonce, nonce_len))) {
		error_set(err, errlen, "nonce mismatch");
		return -1;
	}
	return quote_check_pcrs(q, out, err, errlen);
}

const struct pcr_bank *quote_pcr_bank(const struct pcr_values *v,
				      uint16_t alg)
{
	size_t i;

	for (i = 0; i < v->nbanks && i < TPM2_NUM_PCR_BANKS; i++)
		if (v->bank[i].alg == alg)
			return &v->bank[i];
	return NULL;
}

int quote_data_pcr_expected(uint16_t alg, const void *data, size_t len,
			    uint8_t *out)
{
	const EVP_MD *md = tpm_alg_md(alg);
	uint8_t buf[2 * EVP_MAX_MD_SIZE];
	unsigned int hlen = 0;
	int size;

	if (!md)
		return -1;
	size = EVP_MD_get_size(md);
	/* extend(zeros, H(data)) = H(zeros || H(data)) */
	memset(buf, 0, sizeof(buf));
	if (EVP_Digest(data, len, buf + size, &hlen, md, NULL) != 1 ||
	    EVP_Digest(buf, 2 * (size_t)size, out, &hlen, md, NULL) != 1)
		return -1;
	return size;
}

int quote_check_data_pcr(const struct pcr_values *v, uint16_t alg,
			 const void *data, size_t len, char *err,
			 size_t errlen)
{
	const struct pcr_bank *b = quote_pcr_bank(v, alg);
	uint8_t want[EVP_MAX_MD_SIZE];
	int n;

	if (!b) {
		error_set(err, errlen, "no %s bank in quote", alg_str(alg));
		return -1;
	}
	if (!(b->mask & (1u << QUOTE_DATA_PCR))) {
		error_set(err, errlen, "PCR %d missing from quote",
			QUOTE_DATA_PCR);
		return -1;
	}
	n = quote_data_pcr_expected(alg, data, len, want);
	if (n < 0 || (size_t)n != b->size ||
	    memcmp(b->value[QUOTE_DATA_PCR], want, (size_t)n)) {
		error_set(err, errlen,
			"PCR %d does not match the agent's public key",
			QUOTE_DATA_PCR);
		return -1;
	}
	return 0;
}

int quote_build(struct buf *out, const uint8_t *attest, size_t attest_len,
		const uint8_t *sig, size_t sig_len, const uint8_t *pcrblob,
		size_t pcrblob_len)
{
	size_t old = out->len;

	if (buf_append_u8(out, 'r') || b64_encode(out, attest, attest_len) ||
	    buf_append_u8(out, ':') || b64_encode(out, sig, sig_len) ||
	    buf_append_u8(out, ':') || b64_encode(out, pcrblob, pcrblob_len)) {
		out->len = old;
		if (out->data)
			out->data[old] = 0;
		return -1;
	}
	return 0;
}

static int put_le16(struct buf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	return buf_append(b, x, 2);
}

static int put_le32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
			 (uint8_t)(v >> 24) };

	return buf_append(b, x, 4);
}

static int pcrblob_write(struct buf *out, const TPML_PCR_SELECTION *sel,
			 const TPML_DIGEST *lists, size_t nlists)
{
	static const uint8_t zeros[BLOB_DIGEST_BUF];
	uint8_t entry[TPM2_PCR_SELECT_MAX + 1];
	size_t i, k;

	if (put_le32(out, sel->count))
		return -1;
	for (i = 0; i < TPM2_NUM_PCR_BANKS; i++) {
		const TPMS_PCR_SELECTION *s = &sel->pcrSelections[i];
		int used = i < sel->count;

		memset(entry, 0, sizeof(entry));
		if (used)
			memcpy(entry, s->pcrSelect, s->sizeofSelect);
		if (put_le16(out, used ? s->hash : 0) ||
		    buf_append_u8(out, used ? s->sizeofSelect : 0) ||
		    buf_append(out, entry, sizeof(entry)))
			return -1;
	}
	if (put_le32(out, (uint32_t)nlists))
		return -1;
	for (i = 0; i < nlists; i++) {
		if (put_le32(out, lists[i].count))
			return -1;
		for (k = 0; k < BLOB_DIGESTS; k++) {
			const TPM2B_DIGEST *d = &lists[i].digests[k];
			uint16_t size = k < lists[i].count ? d->size : 0;

			if (put_le16(out, size) ||
			    buf_append(out, d->buffer, size) ||
			    buf_append(out, zeros, BLOB_DIGEST_BUF - size))
				return -1;
		}
	}
	return 0;
}

int quote_pcrblob_build(struct buf *out, const TPML_PCR_SELECTION *sel,
			const TPML_DIGEST *lists, size_t nlists)
{
	size_t old = out->len, i, k;

	if (sel->count > TPM2_NUM_PCR_BANKS || nlists > QUOTE_MAX_DIGEST_LISTS)
		return -1;
	for (i = 0; i < sel->count; i++)
		if (sel->pcrSelections[i].sizeofSelect > TPM2_PCR_SELECT_MAX)
			return -1;
	for (i = 0; i < nlists; i++) {
		if (lists[i].count > BLOB_DIGESTS)
			return -1;
		for (k = 0; k < lists[i].count; k++)
			if (lists[i].digests[k].size > BLOB_DIGEST_BUF)
				return -1;
	}
	if (pcrblob_write(out, sel, lists, nlists)) {
		out->len = old;
		if (out->data)
			out->data[old] = 0;
		return -1;
	}
	return 0;
}
