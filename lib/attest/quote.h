/* quote: Keylime quote strings, and their verification.
 *
 * An agent answers a quote request with
 *
 *   "r" b64(TPMS_ATTEST) ":" b64(TPMT_SIGNATURE) ":" b64(pcrblob)
 *
 * where the first two are TPM-marshaled (big endian) and pcrblob is
 * tpm2-tools' "serialized" PCR file (tpm2_quote -o), a dump of C structs in
 * little endian:
 *
 *   TPML_PCR_SELECTION  u32 count, then 16 x { u16 hash, u8 sizeofSelect,
 *                       u8 pcrSelect[4], u8 pad }         (132 bytes)
 *   u32 n               how many TPML_DIGEST follow
 *   n x TPML_DIGEST     u32 count, then 8 x { u16 size, u8 buffer[64] }
 *                                                          (532 bytes each)
 *
 * The PCR values are listed bank by bank in selection order, PCRs in
 * ascending order, at most 8 per TPML_DIGEST.
 *
 * Keylime binds the agent's payload key NK to every quote through PCR 16
 * (rust-keylime tpm.rs build_pcr_list, keylime tpm_main.py sim_extend): the
 * agent resets PCR 16, extends it with H(NK public key as PEM text) in the
 * quoted bank, and always includes PCR 16 in the quote; the verifier expects
 * PCR16 = H(zeros || H(pem)), the PEM being the "pubkey" string the agent
 * returned with the quote. See quote_check_data_pcr. */
#ifndef ASSAY_ATTEST_QUOTE_H
#define ASSAY_ATTEST_QUOTE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "tpm/tpm_public.h"
#include "util/buf.h"

#define QUOTE_PCR_COUNT 24	/* PCRs 0..23: all a PC-client TPM has */
#define QUOTE_DATA_PCR 16	/* Keylime's NK binding PCR */
#define QUOTE_MAX_DIGEST_LISTS 32	/* tpm2-tools' tpm2_pcrs limit */
#define QUOTE_MAX_LEN 65536	/* longest quote string accepted */

/* The PCR values of one bank, as quoted and verified. */
struct pcr_bank {
	uint16_t alg;		/* TPM hash algorithm ID */
	uint32_t mask;		/* bit i set: PCR i was quoted */
	size_t size;		/* digest size of alg */
	uint8_t value[QUOTE_PCR_COUNT][TPM_DIGEST_MAX];
};

struct pcr_values {
	size_t nbanks;
	struct pcr_bank bank[TPM2_NUM_PCR_BANKS];
};

/* A parsed quote string. quote_parse checks structure only; quote_verify
 * decides whether it can be believed. */
struct quote {
	struct buf attest;	/* TPMS_ATTEST bytes, as signed */
	TPMS_ATTEST att;
	TPMT_SIGNATURE sig;
	uint16_t sig_alg;	/* TPM2_ALG_RSASSA, _RSAPSS, _ECDSA, ... */
	uint16_t hash_alg;	/* the signature's hash, also pcrDigest's */
	TPML_PCR_SELECTION pcr_sel;		/* from the PCR blob */
	size_t nlists;
	TPML_DIGEST lists[QUOTE_MAX_DIGEST_LISTS];	/* PCR blob values */
};

/* Parses a quote string (NUL-terminated). Returns 0, or -1 with a message;
 * call quote_free either way. */
int quote_parse(const char *s, struct quote *q, char *err, size_t errlen);
void quote_free(struct quote *q);

/* Verifies q against the AK public key and the nonce the verifier sent
 * (the raw bytes of the nonce string): attest magic and type, the signature
 * (RSASSA or RSAPSS for RSA keys, ECDSA for EC keys, hash as the signature
 * says), extraData == nonce, and quote_check_pcrs. On success fills out
 * (when not NULL) and returns 0; otherwise returns -1 with a message such
 * as "signature invalid", "nonce mismatch", "PCR digest mismatch", and out
 * zeroed. */
int quote_verify(const struct quote *q, EVP_PKEY *ak, const uint8_t *nonce,
		 size_t nonce_len, struct pcr_values *out, char *err,
		 size_t errlen);

/* The PCR part of quote_verify alone, which needs neither key nor nonce:
 * the PCR blob's selection equals the quoted one, each value has its bank's
 * digest size, the blob holds exactly the selected values, and
 * pcrDigest == H_sig(values in selection order). It does NOT make the
 * values trustworthy: only quote_verify does. */
int quote_check_pcrs(const struct quote *q, struct pcr_values *out,
		     char *err, size_t errlen);

/* The bank for alg in v, or NULL. */
const struct pcr_bank *quote_pcr_bank(const struct pcr_values *v,
				      uint16_t alg);

/* Expected PCR 16 after Keylime's reset-and-extend with data (the PEM text
 * of NK's public key): H(zeros || H(data)) with H the hash alg. Writes
 * the digest size of alg bytes to out (room for TPM_DIGEST_MAX) and
 * returns that size, or -1 for an unknown alg. */
int quote_data_pcr_expected(uint16_t alg, const void *data, size_t len,
			    uint8_t *out);
/* Checks PCR 16 of the alg bank in v against quote_data_pcr_expected.
 * Returns 0, or -1 with "PCR 16 missing from quote" or "PCR 16 does not
 * match the agent's public key" (or no such bank). */
int quote_check_data_pcr(const struct pcr_values *v, uint16_t alg,
			 const void *data, size_t len, char *err,
			 size_t errlen);

/* Appends "r" b64(attest) ":" b64(sig) ":" b64(pcrblob). Returns 0 or -1. */
int quote_build(struct buf *out, const uint8_t *attest, size_t attest_len,
		const uint8_t *sig, size_t sig_len, const uint8_t *pcrblob,
		size_t pcrblob_len);
/* Appends a PCR blob in the tpm2-tools format above: the selection and the
 * nlists TPML_DIGEST read for it (TPM2_PCR_Read answers, in order).
 * Unused entries are written as zeros. Returns 0, or -1 when a count or
 * size exceeds its array. */
int quote_pcrblob_build(struct buf *out, const TPML_PCR_SELECTION *sel,
			const TPML_DIGEST *lists, size_t nlists);

#endif
