/* tpub: TPM2B_PUBLIC structures for OpenSSL keys, for unit tests.
 *
 * Builds the public area a TPM would present for a key we hold the private
 * half of, so tests can play the TPM's side in software. Written straight
 * from the TPM 2.0 Part 2 structures with tss2-mu, independent of the code
 * under test. Header-only (static) for use by tests in several libraries. */
#ifndef ASSAY_ATTEST_TESTS_TPUB_H
#define ASSAY_ATTEST_TESTS_TPUB_H

#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tpm2_types.h>

#include "util/buf.h"

/* Attributes of a TCG default EK and of a tpm2_createak AK. */
#define TPUB_EK_ATTRS (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | \
	TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_ADMINWITHPOLICY |   \
	TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT)
#define TPUB_AK_ATTRS (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | \
	TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |      \
	TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT)

static inline int tpub_bn(EVP_PKEY *key, const char *param, uint8_t *out,
			  size_t n)
{
	BIGNUM *bn = NULL;
	int ok = EVP_PKEY_get_bn_param(key, param, &bn) == 1 &&
		 BN_bn2binpad(bn, out, (int)n) == (int)n;

	BN_free(bn);
	return ok ? 0 : -1;
}

/* Fills area for key (RSA, or EC P-256/P-384). sym_bits 0 means no
 * symmetric algorithm (signing keys), else AES-CFB with that key size. The
 * RSA exponent is written as 0 (the TPM's way of saying 65537) when it is
 * 65537. Returns 0 or -1. */
static inline int tpub_area(EVP_PKEY *key, uint16_t name_alg,
			    TPMA_OBJECT attrs, uint16_t sym_bits,
			    TPMT_PUBLIC *a)
{
	TPMT_SYM_DEF_OBJECT *sym;
	BIGNUM *e = NULL;
	int bits = EVP_PKEY_get_bits(key);

	memset(a, 0, sizeof(*a));
	a->nameAlg = name_alg;
	a->objectAttributes = attrs;
	if (EVP_PKEY_is_a(key, "RSA")) {
		a->type = TPM2_ALG_RSA;
		sym = &a->parameters.rsaDetail.symmetric;
		a->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
		if (attrs & TPMA_OBJECT_SIGN_ENCRYPT) {
			a->parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
			a->parameters.rsaDetail.scheme.details.rsassa.hashAlg =
				TPM2_ALG_SHA256;
		}
		a->parameters.rsaDetail.keyBits = (TPMI_RSA_KEY_BITS)bits;
		if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) != 1)
			return -1;
		a->parameters.rsaDetail.exponent =
			BN_get_word(e) == 65537 ? 0 : (UINT32)BN_get_word(e);
		BN_free(e);
		a->unique.rsa.size = (UINT16)(bits / 8);
		if (tpub_bn(key, OSSL_PKEY_PARAM_RSA_N, a->unique.rsa.buffer,
			    (size_t)bits / 8))
			return -1;
	} else if (EVP_PKEY_is_a(key, "EC") && (bits == 256 || bits == 384)) {
		size_t c = (size_t)bits / 8;

		a->type = TPM2_ALG_ECC;
		sym = &a->parameters.eccDetail.symmetric;
		a->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
		if (attrs & TPMA_OBJECT_SIGN_ENCRYPT) {
			a->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
			a->parameters.eccDetail.scheme.details.ecdsa.hashAlg =
				TPM2_ALG_SHA256;
		}
		a->parameters.eccDetail.curveID = bits == 256 ?
			TPM2_ECC_NIST_P256 : TPM2_ECC_NIST_P384;
		a->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
		a->unique.ecc.x.size = a->unique.ecc.y.size = (UINT16)c;
		if (tpub_bn(key, OSSL_PKEY_PARAM_EC_PUB_X,
			    a->unique.ecc.x.buffer, c) ||
		    tpub_bn(key, OSSL_PKEY_PARAM_EC_PUB_Y,
			    a->unique.ecc.y.buffer, c))
			return -1;
	} else {
		return -1;
	}
	if (sym_bits) {
		sym->algorithm = TPM2_ALG_AES;
		sym->keyBits.aes = sym_bits;
		sym->mode.aes = TPM2_ALG_CFB;
	} else {
		sym->algorithm = TPM2_ALG_NULL;
	}
	return 0;
}

/* Appends the marshaled TPM2B_PUBLIC of area to out. */
static inline int tpub_marshal(const TPMT_PUBLIC *area, struct buf *out)
{
	TPM2B_PUBLIC pub;
	uint8_t tmp[sizeof(TPM2B_PUBLIC) + 2];
	size_t off = 0;

	memset(&pub, 0, sizeof(pub));
	pub.publicArea = *area;
	if (Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, tmp, sizeof(tmp), &off))
		return -1;
	return buf_append(out, tmp, off);
}

/* Both steps at once. */
static inline int tpub_build(EVP_PKEY *key, uint16_t name_alg,
			     TPMA_OBJECT attrs, uint16_t sym_bits,
			     struct buf *out)
{
	TPMT_PUBLIC a;

	return tpub_area(key, name_alg, attrs, sym_bits, &a) ||
	       tpub_marshal(&a, out) ? -1 : 0;
}

#endif
