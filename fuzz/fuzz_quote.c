/* Fuzz target: quote_parse() and quote_verify() on arbitrary strings.
 *
 * The AK is a fixed key made at start-up, so signatures practically never
 * verify; quote_check_pcrs, the part after the signature, runs on every
 * parsed quote as well. Promises checked: refusals carry a message and
 * leave the PCR values zeroed; accepted PCR values stay within 24 PCRs
 * and their bank's digest size; a parsed quote rebuilds to a string that
 * parses again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <tss2/tss2_mu.h>

#include "attest/quote.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *ak;

static void check_values(const struct pcr_values *v)
{
	size_t i;

	if (v->nbanks > TPM2_NUM_PCR_BANKS)
		abort();
	for (i = 0; i < v->nbanks; i++) {
		if (v->bank[i].mask >> QUOTE_PCR_COUNT ||
		    v->bank[i].size > TPM_DIGEST_MAX ||
		    !quote_pcr_bank(v, v->bank[i].alg))
			abort();
	}
	(void)quote_check_data_pcr(v, TPM2_ALG_SHA256, "pem", 3, NULL, 0);
}

static void rebuild(const struct quote *q)
{
	uint8_t sig[sizeof(TPMT_SIGNATURE)];
	struct buf blob = BUF_INIT, s = BUF_INIT;
	struct quote again;
	size_t off = 0;
	char err[256];

	if (Tss2_MU_TPMT_SIGNATURE_Marshal(&q->sig, sig, sizeof(sig), &off) ||
	    quote_pcrblob_build(&blob, &q->pcr_sel, q->lists, q->nlists) ||
	    quote_build(&s, q->attest.data, q->attest.len, sig, off,
			blob.data, blob.len) ||
	    quote_parse((const char *)s.data, &again, err, sizeof(err)))
		abort();
	quote_free(&again);
	buf_free(&blob);
	buf_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pcr_values v;
	struct quote q;
	char err[256], *s;

	if (!ak)
		ak = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!ak)
		abort();
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	err[0] = 0;
	if (quote_parse(s, &q, err, sizeof(err))) {
		if (!err[0])
			abort();
	} else {
		rebuild(&q);
		err[0] = 0;
		if (quote_verify(&q, ak, (const uint8_t *)"nonce", 5, &v, err,
				 sizeof(err))) {
			if (!err[0] || v.nbanks)
				abort();
		}
		err[0] = 0;
		if (quote_check_pcrs(&q, &v, err, sizeof(err)) == 0)
			check_values(&v);
		else if (!err[0] || v.nbanks)
			abort();
	}
	quote_free(&q);
	free(s);
	return 0;
}
