/* Providers: where keys live (software, a PKCS#11 token, a TPM), behind
 * one set of operations.
 *
 * keyd (handler.c) authenticates, finds the key in the key store
 * (keystore.c), checks its policy (psa_key_permits) and only then calls a
 * provider, passing the key's attributes and its reference: the bytes the
 * provider returned when the key was made (an encrypted key, a PKCS#11
 * CKA_ID, a TPM blob). Providers never see application names.
 *
 * Every operation returns a Parsec status: PSA_OK or a PSA_ERR_* (psa.h).
 * An operation a provider leaves NULL is not offered: its opcode is not
 * listed and requests for it get PSA_ERR_NOT_SUPPORTED. Operations may run
 * on several threads at once; a provider serialises what its backend
 * needs serialised. */
#ifndef ASSAY_KEYD_PROVIDER_H
#define ASSAY_KEYD_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include "parsec/psa.h"
#include "util/buf.h"

struct config;
struct provider;

struct provider_ops {
	const char *name;	/* in the providers setting: "software" */
	uint8_t id;		/* Parsec provider id */
	const char *uuid, *description, *vendor;
	uint32_t version[3];

	/* Opens the backend from configuration; -1 with err. */
	int (*open)(struct provider *p, const struct config *cfg, char *err, size_t errlen);
	void (*close)(struct provider *p);

	/* Crash safety: a reference chosen before the key exists in the
	 * backend, stored with the key's name first, so a key left behind by
	 * a crash can be found and destroyed at the next start. NULL when a
	 * half-made key leaves nothing in the backend. */
	int (*plan)(struct provider *p, struct buf *ref);

	/* ref holds the planned reference (or is empty) and receives the final one. */
	int (*generate)(struct provider *p, const struct psa_attrs *a, struct buf *ref);
	int (*import)(struct provider *p, const struct psa_attrs *a, const uint8_t *data,
		      size_t n, struct buf *ref);
	/* Also called at start for keys a crash left half made or half
	 * destroyed: a key already gone is PSA_ERR_DOES_NOT_EXIST. */
	int (*destroy)(struct provider *p, const struct psa_attrs *a, const struct buf *ref);
	/* PSA export formats: RSA public keys as DER RSAPublicKey, RSA pairs
	 * as DER RSAPrivateKey, ECC public keys as 04||X||Y (Montgomery: the
	 * raw u), ECC private keys as the big-endian scalar, symmetric keys raw. */
	int (*export_public)(struct provider *p, const struct psa_attrs *a,
			     const struct buf *ref, struct buf *out);
	int (*export_key)(struct provider *p, const struct psa_attrs *a,
			  const struct buf *ref, struct buf *out);

	/* ECDSA signatures are raw r||s; RSA as PKCS#1 defines them. */
	int (*sign_hash)(struct provider *p, const struct psa_attrs *a, const struct buf *ref,
			 const struct psa_alg *alg, const uint8_t *hash, size_t n,
			 struct buf *sig);
	int (*verify_hash)(struct provider *p, const struct psa_attrs *a,
			   const struct buf *ref, const struct psa_alg *alg,
			   const uint8_t *hash, size_t n, const uint8_t *sig, size_t sn);
	int (*asymmetric_encrypt)(struct provider *p, const struct psa_attrs *a,
				  const struct buf *ref, const struct psa_alg *alg,
				  const uint8_t *in, size_t n, const uint8_t *salt, size_t sn,
				  struct buf *out);
	int (*asymmetric_decrypt)(struct provider *p, const struct psa_attrs *a,
				  const struct buf *ref, const struct psa_alg *alg,
				  const uint8_t *in, size_t n, const uint8_t *salt, size_t sn,
				  struct buf *out);
	/* AEAD: ciphertext||tag out of encrypt, into decrypt. */
	int (*aead)(struct provider *p, const struct psa_attrs *a, const struct buf *ref,
		    const struct psa_alg *alg, int encrypt, const uint8_t *nonce, size_t nn,
		    const uint8_t *ad, size_t an, const uint8_t *in, size_t n,
		    struct buf *out);
	/* Cipher: encrypt makes a random IV and returns IV||ciphertext;
	 * decrypt takes the same. */
	int (*cipher)(struct provider *p, const struct psa_attrs *a, const struct buf *ref,
		      const struct psa_alg *alg, int encrypt, const uint8_t *in, size_t n,
		      struct buf *out);
	int (*mac)(struct provider *p, const struct psa_attrs *a, const struct buf *ref,
		   const struct psa_alg *alg, const uint8_t *in, size_t n, struct buf *out);
	int (*raw_key_agreement)(struct provider *p, const struct psa_attrs *a,
				 const struct buf *ref, const struct psa_alg *alg,
				 const uint8_t *peer, size_t pn, struct buf *out);
	int (*generate_random)(struct provider *p, size_t n, struct buf *out);
	/* Hash compute and compare are done in software by keyd for the
	 * providers that set this. */
	int offers_hash;
	/* Key attestation, Parsec's ActivateCredential mechanism (TPM).
	 * (a, ref) is the attested key; (att_a, att_ref) the attesting key
	 * named in the request, both NULL for the default endorsement key.
	 * prepare gives what a verifier needs for TPM2_MakeCredential: the
	 * attested key's TPM Name, its public area (a marshalled TPMT_PUBLIC,
	 * which hashes to the Name) and the attesting key's public key in PSA
	 * export format (the EK: DER RSAPublicKey). attest runs
	 * TPM2_ActivateCredential on the verifier's credential_blob (the
	 * TPM2B_ID_OBJECT's bytes) and secret (the TPM2B_ENCRYPTED_SECRET's
	 * bytes); out gets the credential. */
	int (*prepare_key_attestation)(struct provider *p, const struct psa_attrs *a,
				       const struct buf *ref, const struct psa_attrs *att_a,
				       const struct buf *att_ref, struct buf *name,
				       struct buf *public_area, struct buf *attesting_pub);
	int (*attest_key)(struct provider *p, const struct psa_attrs *a, const struct buf *ref,
			  const struct psa_attrs *att_a, const struct buf *att_ref,
			  const uint8_t *credential_blob, size_t cn, const uint8_t *secret,
			  size_t sn, struct buf *out);
};

struct provider {
	const struct provider_ops *ops;
	void *state;		/* the provider's own */
};

extern const struct provider_ops provider_software;
extern const struct provider_ops provider_pkcs11;
extern const struct provider_ops provider_tpm;

#endif
