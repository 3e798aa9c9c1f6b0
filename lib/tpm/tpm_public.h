/* tpm_public: TPM public areas (TPM2B_PUBLIC) as OpenSSL keys.
 *
 * The registrar receives the EK and AK as marshaled TPM2B_PUBLIC (Keylime's
 * ek_tpm and aik_tpm, base64-decoded). This module parses them with
 * tss2-mu, strictly bounded, turns the key into an EVP_PKEY and computes
 * the object's TPM Name, which MakeCredential binds the credential to. */
#ifndef ASSAY_TPM_PUBLIC_H
#define ASSAY_TPM_PUBLIC_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

/* A Name: nameAlg (u16 BE) followed by a digest of at most SHA-512 size. */
#define TPM_NAME_MAX (2 + 64)
/* The largest digest any supported hash produces (SHA-512). */
#define TPM_DIGEST_MAX 64

struct tpm_public {
	TPMT_PUBLIC area;	/* as unmarshaled: type, nameAlg, attributes */
	EVP_PKEY *pkey;		/* the RSA or EC public key, owned */
	uint8_t name[TPM_NAME_MAX];
	size_t name_len;
};

/* Parses a marshaled TPM2B_PUBLIC of an RSA or ECC (NIST P-256/384/521)
 * key. The whole input must be one TPM2B_PUBLIC: no trailing bytes.
 * Returns 0, or -1 with a message in err and *pub zeroed. */
int tpm_public_parse(const uint8_t *p, size_t n, struct tpm_public *pub,
		     char *err, size_t errlen);
void tpm_public_free(struct tpm_public *pub);

/* Checks that a DER X.509 certificate (the EK certificate) carries the same
 * public key as pub. Zero bytes after the certificate (NV index padding)
 * are ignored. Returns 0 when it does, -1 with a message otherwise. */
int tpm_public_cert_matches(const struct tpm_public *pub, const uint8_t *der,
			    size_t n, char *err, size_t errlen);

/* Checks that pub can serve as an attestation key: a restricted signing key
 * that never leaves its TPM (fixedTPM, fixedParent, sensitiveDataOrigin)
 * and cannot decrypt. ActivateCredential proves only that the AK lives
 * beside the EK; a non-restricted key could sign forged quotes, so the
 * registrar must check this too. Returns 0, or -1 with a message. */
int tpm_public_check_ak(const struct tpm_public *pub, char *err,
			size_t errlen);

/* The OpenSSL digest for a TPM hash algorithm ID (sha1, sha256, sha384,
 * sha512, sm3_256 where OpenSSL has it), or NULL. (Names of algorithms:
 * tpm_alg_name in tpm/tpm.h.) */
const EVP_MD *tpm_alg_md(uint16_t alg);

#endif
