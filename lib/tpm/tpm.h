/* tpm: the agent's TPM 2.0 operations, on top of tpm2-tss ESAPI.
 *
 * Covers what a Keylime agent needs: the endorsement key (TCG default
 * templates) and its certificate, an attestation key created under the EK,
 * credential activation, quotes with the PCR values they cover, PCR reset /
 * extend and random bytes.
 *
 * Conventions: functions return 0 on success and -1 on failure; the reason
 * (with the TSS decoding of the response code) is then in tpm_error(t).
 * Output buffers are reset first and are left empty on failure. Every length
 * that comes back from the TPM or from a caller's blob is checked. */
#ifndef ASSAY_TPM_TPM_H
#define ASSAY_TPM_TPM_H

#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_esys.h>

#include "util/buf.h"

struct tpm;

enum tpm_key_alg {
	TPM_ALG_KIND_RSA,	/* RSA 2048 */
	TPM_ALG_KIND_ECC,	/* ECC NIST P-256 */
};

/* Largest nonce (TPM2B_DATA) a quote accepts. */
#define TPM_NONCE_MAX 64
/* PCRs a quote mask may name: 0..23, the PC client platform's set. */
#define TPM_PCR_COUNT 24

/* Opens the TPM behind a TCTI configuration string as understood by
 * Tss2_TctiLdr_Initialize, e.g. "device:/dev/tpmrm0" or
 * "swtpm:host=127.0.0.1,port=2321"; NULL lets the loader pick its default.
 * On failure returns NULL with the reason in err. */
struct tpm *tpm_open(const char *tcti, char *err, size_t errlen);
/* Closes the context; transient objects loaded through it stay in the TPM
 * until flushed or the resource manager drops them. NULL is a no-op. */
void tpm_close(struct tpm *t);
/* The ESAPI context behind t, for callers that issue commands of their
 * own (keyd's TPM provider); owned by t, valid until tpm_close. */
ESYS_CONTEXT *tpm_esys(struct tpm *t);
/* The reason for the last failure on t ("" if none). */
const char *tpm_error(const struct tpm *t);
/* The TSS response code behind the last failure on t, 0 when that failure
 * was not a failed TSS call (a bad argument, a malformed answer). Lets a
 * caller map TPM errors to its own statuses. */
TSS2_RC tpm_last_rc(const struct tpm *t);

/* Keylime's algorithm names <-> TPM_ALG_ID: hash sha1, sha256, sha384,
 * sha512, sm3_256; encryption rsa, ecc; signing rsassa, rsapss, ecdsa,
 * ecdaa, ecschnorr. tpm_alg_from_name returns -1 for an unknown name;
 * tpm_alg_name returns NULL for an unknown id. */
int tpm_alg_from_name(const char *name, TPM2_ALG_ID *alg);
const char *tpm_alg_name(TPM2_ALG_ID alg);
/* Digest size of a hash algorithm, 0 if not one we know. */
size_t tpm_hash_size(TPM2_ALG_ID hash);

/* Creates the endorsement key from the TCG EK Credential Profile default
 * template (RSA: L-1, ECC: L-2) as a primary in the endorsement hierarchy.
 * The same TPM always gives the same key. *ek gets the transient handle
 * (flush it with tpm_flush), pub the marshaled TPM2B_PUBLIC. */
int tpm_ek_create(struct tpm *t, enum tpm_key_alg alg, ESYS_TR *ek,
		  struct buf *pub);
/* Reads the EK certificate (DER) from its TCG NV index: 0x01c00002 (RSA)
 * or 0x01c0000a (ECC P-256). Returns 1 when the index does not exist, which
 * is not an error. Zero padding after the DER certificate is dropped. */
int tpm_ek_cert_read(struct tpm *t, enum tpm_key_alg alg, struct buf *der);

/* Creates a restricted signing key (the AK) under the EK. sign picks the
 * key: TPM2_ALG_RSASSA or TPM2_ALG_RSAPSS give RSA 2048, TPM2_ALG_ECDSA
 * gives ECC P-256; hash is the signing hash (sha1/sha256/sha384/sha512 as
 * far as the TPM allows). The name algorithm is always SHA-256. pub and
 * priv get the marshaled TPM2B_PUBLIC and TPM2B_PRIVATE to keep for
 * tpm_ak_load. The new key is not loaded. */
int tpm_ak_create(struct tpm *t, ESYS_TR ek, TPM2_ALG_ID hash,
		  TPM2_ALG_ID sign, struct buf *pub, struct buf *priv);
/* Loads an AK created by tpm_ak_create under the same EK. */
int tpm_ak_load(struct tpm *t, ESYS_TR ek, const uint8_t *pub, size_t pub_len,
		const uint8_t *priv, size_t priv_len, ESYS_TR *ak);

/* TPM2_ActivateCredential on a blob in tpm2-tools' layout: u32 BE magic
 * 0xBADCC0DE, u32 BE version 1, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET.
 * secret gets the recovered credential. */
int tpm_activate_credential(struct tpm *t, ESYS_TR ak, ESYS_TR ek,
			    const uint8_t *blob, size_t len,
			    struct buf *secret);

/* TPM2_ActivateCredential on the two parts as TPM2_MakeCredential made
 * them (Parsec's AttestKey carries them separately): key is the object the
 * credential names (its password, usually empty, authorises it), ek the
 * default endorsement key (satisfied with the EK policy). */
int tpm_activate_credential_parts(struct tpm *t, ESYS_TR key, ESYS_TR ek,
				  const TPM2B_ID_OBJECT *cred,
				  const TPM2B_ENCRYPTED_SECRET *enc,
				  struct buf *secret);

/* Quotes the PCRs in pcr_mask (bit n = PCR n, n < TPM_PCR_COUNT, mask not
 * empty) of the bank `bank` with the AK's own scheme, nonce as
 * qualifyingData (at most TPM_NONCE_MAX bytes). attest gets the TPMS_ATTEST
 * bytes (the content of the TPM2B_ATTEST), sig the marshaled
 * TPMT_SIGNATURE, pcrblob the PCR values in tpm2-tools' `tpm2_quote -o`
 * layout (see tpm.c). The PCR values are checked against the quote's
 * pcrDigest and re-read if a PCR changed in between. */
int tpm_quote(struct tpm *t, ESYS_TR ak, const uint8_t *nonce,
	      size_t nonce_len, uint32_t pcr_mask, TPM2_ALG_ID bank,
	      struct buf *attest, struct buf *sig, struct buf *pcrblob);

/* Reads the PCRs in pcr_mask of one bank; values gets their digests
 * concatenated in ascending PCR order. */
int tpm_pcr_read(struct tpm *t, uint32_t pcr_mask, TPM2_ALG_ID bank,
		 struct buf *values);
/* TPM2_PCR_Reset (only the resettable PCRs 16 and 23 allow it). */
int tpm_pcr_reset(struct tpm *t, unsigned pcr);
/* Extends one bank of a PCR; len must be the digest size of hash. */
int tpm_pcr_extend(struct tpm *t, unsigned pcr, TPM2_ALG_ID hash,
		   const uint8_t *digest, size_t len);
/* n random bytes from the TPM (n <= 65536). */
int tpm_get_random(struct tpm *t, size_t n, struct buf *out);
/* Flushes a transient object or session. */
int tpm_flush(struct tpm *t, ESYS_TR handle);

#endif
