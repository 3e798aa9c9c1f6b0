/* OpenSSL keys in PSA's formats: the software provider's whole engine,
 * and the public half of every other provider's keys (verify and encrypt
 * need only the public key, so any provider may do them here).
 *
 * Formats (PSA export): RSA public = DER RSAPublicKey, RSA pair = DER
 * RSAPrivateKey, ECC public = uncompressed point 04||X||Y (Montgomery
 * curves: the raw u-coordinate), ECC pair = the private scalar, big-endian,
 * of the curve's size. ECDSA signatures are raw r||s, each of the curve's
 * size. All functions return a Parsec status (psa.h). */
#ifndef ASSAY_KEYD_PKEY_H
#define ASSAY_KEYD_PKEY_H

#include <openssl/evp.h>

#include "parsec/psa.h"
#include "util/buf.h"

/* A new key pair of the attributes' type and size (RSA, ECC). */
int pkey_generate(const struct psa_attrs *a, EVP_PKEY **out);
/* Imports a key given in its PSA export format; checks it matches a
 * (type, curve, bits; bits 0 means "whatever the data says" and is set). */
int pkey_import(struct psa_attrs *a, const uint8_t *data, size_t n, EVP_PKEY **out);
/* The same for bytes whose integrity is otherwise assured (a key this
 * service exported and stored itself, e.g. an authenticated software
 * reference): without pkey_import's consistency checks, the costliest of
 * which (an RSA pair's primes) takes tens of milliseconds. */
int pkey_load(struct psa_attrs *a, const uint8_t *data, size_t n, EVP_PKEY **out);
int pkey_export_public(const struct psa_attrs *a, EVP_PKEY *k, struct buf *out);
int pkey_export_private(const struct psa_attrs *a, EVP_PKEY *k, struct buf *out);
/* The public key of a key whose public part was exported in PSA format. */
int pkey_from_public(const struct psa_attrs *a, const uint8_t *data, size_t n,
		     EVP_PKEY **out);

int pkey_sign_hash(const struct psa_attrs *a, EVP_PKEY *k, const struct psa_alg *alg,
		   const uint8_t *hash, size_t n, struct buf *sig);
int pkey_verify_hash(const struct psa_attrs *a, EVP_PKEY *k, const struct psa_alg *alg,
		     const uint8_t *hash, size_t n, const uint8_t *sig, size_t sn);
int pkey_encrypt(const struct psa_attrs *a, EVP_PKEY *k, const struct psa_alg *alg,
		 const uint8_t *in, size_t n, const uint8_t *salt, size_t sn,
		 struct buf *out);
int pkey_decrypt(const struct psa_attrs *a, EVP_PKEY *k, const struct psa_alg *alg,
		 const uint8_t *in, size_t n, const uint8_t *salt, size_t sn,
		 struct buf *out);
int pkey_agree(const struct psa_attrs *a, EVP_PKEY *k, const struct psa_alg *alg,
	       const uint8_t *peer, size_t pn, struct buf *out);

/* ECDSA signatures between raw r||s and DER, for backends that speak one
 * or the other. */
int pkey_ecdsa_raw_to_der(const uint8_t *raw, size_t n, struct buf *der);
int pkey_ecdsa_der_to_raw(const uint8_t *der, size_t n, size_t field_len, struct buf *raw);

#endif
