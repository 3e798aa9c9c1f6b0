/* credential: TPM2_MakeCredential in software, and its file format.
 *
 * The registrar proves that an AK lives in the same TPM as an EK by
 * encrypting a challenge that only TPM2_ActivateCredential on that TPM, with
 * that EK and an object of that Name loaded, can recover (TPM 2.0 Part 1
 * section 24, "Credential Protection"). The result is written the way
 * tpm2_makecredential writes it, which is what Keylime agents expect:
 *
 *   u32 BE 0xBADCC0DE | u32 BE 1 | TPM2B_ID_OBJECT | TPM2B_ENCRYPTED_SECRET
 */
#ifndef ASSAY_TPM_CREDENTIAL_H
#define ASSAY_TPM_CREDENTIAL_H

#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

#include "tpm/tpm_public.h"
#include "util/buf.h"

#define TPM_CREDENTIAL_MAGIC 0xBADCC0DEu
#define TPM_CREDENTIAL_VERSION 1u

/* Appends the credential blob protecting cred (1 to digest-size-of-EK-
 * nameAlg bytes) for the object called name (a TPM Name, e.g. the AK's
 * tpm_public.name) under the EK ek (RSA: OAEP-wrapped random seed; ECC:
 * ephemeral ECDH and KDFe). The EK's symmetric definition must be AES-CFB.
 * Returns 0, or -1 with a message and out unchanged. */
int tpm_credential_make(const struct tpm_public *ek, const uint8_t *name,
			size_t name_len, const uint8_t *cred, size_t cred_len,
			struct buf *out, char *err, size_t errlen);

/* Splits a blob in the format above into the two inputs of
 * TPM2_ActivateCredential. Returns 0, or -1 with a message. */
int tpm_credential_parse(const uint8_t *p, size_t n, TPM2B_ID_OBJECT *id,
			 TPM2B_ENCRYPTED_SECRET *secret, char *err,
			 size_t errlen);

/* KDFa (Part 1, 11.4.10.2): SP 800-108 counter-mode HMAC with the hash
 * hash_alg; label is NUL-terminated and its NUL is part of the input;
 * produces out_len bytes (L = 8 * out_len bits). Returns 0 or -1. */
int tpm_kdfa(uint16_t hash_alg, const uint8_t *key, size_t key_len,
	     const char *label, const uint8_t *ctx_u, size_t u_len,
	     const uint8_t *ctx_v, size_t v_len, uint8_t *out, size_t out_len);

/* KDFe (Part 1, 11.4.10.3): SP 800-56A concatenation KDF,
 * H(counter || Z || label-with-NUL || party_u || party_v). */
int tpm_kdfe(uint16_t hash_alg, const uint8_t *z, size_t z_len,
	     const char *label, const uint8_t *party_u, size_t u_len,
	     const uint8_t *party_v, size_t v_len, uint8_t *out,
	     size_t out_len);

#endif
