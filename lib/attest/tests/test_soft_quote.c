/* Software quotes must pass exactly the checks real ones pass. */
#include <stdlib.h>
#include <string.h>

#include "attest/soft_quote.h"
#include "crypto/crypto.h"
#include "tpm/soft.h"
#include "tpm/tpm_public.h"
#include "util/check.h"

static void roundtrip(EVP_PKEY *key)
{
	struct buf pub = BUF_INIT, q = BUF_INIT;
	struct tpm_public ak;
	struct quote parsed;
	struct pcr_values pv;
	struct pcr_bank bank;
	char err[256];
	const char *nk = "-----BEGIN PUBLIC KEY-----\nnk\n-----END PUBLIC KEY-----\n";

	CHECK_INT(tpm_soft_ak_public(key, &pub), 0);
	CHECK_INT(tpm_public_parse(pub.data, pub.len, &ak, err, sizeof err), 0);
	memset(&bank, 0, sizeof bank);
	bank.alg = TPM2_ALG_SHA256;
	bank.size = 32;
	bank.mask = 1u << 0 | 1u << 10 | 1u << 16 | 1u << 23;
	for (int i = 0; i < 24; i++)
		memset(bank.value[i], i, 32);
	CHECK_INT(quote_data_pcr_expected(TPM2_ALG_SHA256, nk, strlen(nk),
					  bank.value[16]), 32);

	CHECK_INT(soft_quote(key, ak.name, ak.name_len, (const uint8_t *)"n0nce", 5,
			     &bank, 42, &q), 0);
	memset(&parsed, 0, sizeof parsed);
	CHECK_INT(quote_parse((char *)q.data, &parsed, err, sizeof err), 0);
	int v = quote_verify(&parsed, ak.pkey, (const uint8_t *)"n0nce", 5, &pv, err,
			     sizeof err);
	CHECK_INT(v, 0);
	if (v < 0)
		printf("  %s\n", err);
	const struct pcr_bank *b = quote_pcr_bank(&pv, TPM2_ALG_SHA256);
	CHECK(b && b->mask == bank.mask && memcmp(b->value[23], bank.value[23], 32) == 0);
	CHECK_INT(quote_check_data_pcr(&pv, TPM2_ALG_SHA256, nk, strlen(nk), err,
				       sizeof err), 0);
	CHECK_INT(quote_verify(&parsed, ak.pkey, (const uint8_t *)"other", 5, &pv,
			       err, sizeof err), -1);
	CHECK(strstr(err, "nonce") != NULL);
	quote_free(&parsed);

	/* A quote signed by another AK does not verify with this one. */
	EVP_PKEY *other = EVP_PKEY_get_base_id(key) == EVP_PKEY_EC
		? crypto_ec_generate("P-256") : crypto_rsa_generate(2048);
	buf_reset(&q);
	CHECK_INT(soft_quote(other, ak.name, ak.name_len, (const uint8_t *)"n", 1,
			     &bank, 43, &q), 0);
	memset(&parsed, 0, sizeof parsed);
	CHECK_INT(quote_parse((char *)q.data, &parsed, err, sizeof err), 0);
	CHECK_INT(quote_verify(&parsed, ak.pkey, (const uint8_t *)"n", 1, &pv, err,
			       sizeof err), -1);
	quote_free(&parsed);
	EVP_PKEY_free(other);
	tpm_public_free(&ak);
	buf_free(&pub);
	buf_free(&q);
}

int main(void)
{
	setenv("TSS2_LOG", "all+none", 0);
	EVP_PKEY *ec = crypto_ec_generate("P-256");
	EVP_PKEY *rsa = crypto_rsa_generate(2048);
	roundtrip(ec);
	roundtrip(rsa);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
	return check_done();
}
