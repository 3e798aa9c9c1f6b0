/* soft: TPM identities made in software, for simulated agents.
 *
 * Tests and benchmarks need many agents without a TPM each: the registrar's
 * throughput is measured without the TPM in the figure, and the verifier's
 * fleet simulator serves thousands of agents. A soft identity is an RSA EK
 * and an AK held as OpenSSL keys, marshaled as a real TPM would present
 * them, and the EK side of ActivateCredential done in software. Nothing in
 * the daemons uses this: it is the other side of the wire. */
#ifndef ASSAY_TPM_SOFT_H
#define ASSAY_TPM_SOFT_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Appends the marshaled TPM2B_PUBLIC of key as an EK (RSA-2048 with the
 * TCG default EK template's attributes and policy) or as an AK (restricted
 * signing: RSASSA-SHA256 for RSA, ECDSA-SHA256 for P-256). */
int tpm_soft_ek_public(EVP_PKEY *key, struct buf *out);
int tpm_soft_ak_public(EVP_PKEY *key, struct buf *out);

/* ActivateCredential with the EK's private key: checks the integrity HMAC
 * over the AK's name and recovers the credential. Returns 0, or -1 with a
 * message. */
int tpm_soft_activate(EVP_PKEY *ek, const uint8_t *name, size_t name_len,
		      const uint8_t *blob, size_t blob_len, struct buf *cred,
		      char *err, size_t errlen);

#endif
