#include "tpm/soft.h"

#include <openssl/core_names.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "crypto/crypto.h"
#include "tpm/credential.h"
#include "util/secure.h"

/* TCG EK Credential Profile, default EK template policy (PolicySecret of
 * the endorsement hierarchy). */
static const uint8_t ek_policy[32] = {
	0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc,
	0x8d, 0x46, 0xa5, 0xd7, 0x24, 0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52,
	0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa,
};

static int bn_param(EVP_PKEY *key, const char *name, uint8_t *out, size_t n)
{
	BIGNUM *bn = NULL;
	int r = EVP_PKEY_get_bn_param(key, name, &bn) == 1 &&
		BN_bn2binpad(bn, out, (int)n) == (int)n ? 0 : -1;
	BN_free(bn);
	return r;
}

static int marshal(const TPM2B_PUBLIC *pub, struct buf *out)
{
	uint8_t tmp[sizeof(TPM2B_PUBLIC)];
	size_t off = 0;
	if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, tmp, sizeof tmp, &off) != 0)
		return -1;
	return buf_append(out, tmp, off);
}

int tpm_soft_ek_public(EVP_PKEY *key, struct buf *out)
{
	TPM2B_PUBLIC pub;
	memset(&pub, 0, sizeof pub);
	TPMT_PUBLIC *a = &pub.publicArea;
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA || EVP_PKEY_get_bits(key) != 2048)
		return -1;
	a->type = TPM2_ALG_RSA;
	a->nameAlg = TPM2_ALG_SHA256;
	a->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
		TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_ADMINWITHPOLICY |
		TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
	a->authPolicy.size = sizeof ek_policy;
	memcpy(a->authPolicy.buffer, ek_policy, sizeof ek_policy);
	a->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
	a->parameters.rsaDetail.symmetric.keyBits.aes = 128;
	a->parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
	a->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
	a->parameters.rsaDetail.keyBits = 2048;
	a->unique.rsa.size = 256;
	if (bn_param(key, OSSL_PKEY_PARAM_RSA_N, a->unique.rsa.buffer, 256) < 0)
		return -1;
	return marshal(&pub, out);
}

int tpm_soft_ak_public(EVP_PKEY *key, struct buf *out)
{
	TPM2B_PUBLIC pub;
	memset(&pub, 0, sizeof pub);
	TPMT_PUBLIC *a = &pub.publicArea;
	a->nameAlg = TPM2_ALG_SHA256;
	a->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
		TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
		TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
		int bits = EVP_PKEY_get_bits(key);
		if (bits != 2048 && bits != 3072)
			return -1;
		a->type = TPM2_ALG_RSA;
		a->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
		a->parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
		a->parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
		a->parameters.rsaDetail.keyBits = (TPMI_RSA_KEY_BITS)bits;
		a->unique.rsa.size = (UINT16)(bits / 8);
		if (bn_param(key, OSSL_PKEY_PARAM_RSA_N, a->unique.rsa.buffer,
			     (size_t)bits / 8) < 0)
			return -1;
	} else if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC &&
		   EVP_PKEY_get_bits(key) == 256) {
		a->type = TPM2_ALG_ECC;
		a->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
		a->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
		a->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
		a->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
		a->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
		a->unique.ecc.x.size = a->unique.ecc.y.size = 32;
		if (bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, a->unique.ecc.x.buffer, 32) < 0 ||
		    bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, a->unique.ecc.y.buffer, 32) < 0)
			return -1;
	} else {
		return -1;
	}
	return marshal(&pub, out);
}

/* The EK template's nameAlg is SHA-256, so is every digest below. */
#define SOFT_DIGEST 32

int tpm_soft_activate(EVP_PKEY *ek, const uint8_t *name, size_t name_len,
		      const uint8_t *blob, size_t blob_len, struct buf *cred,
		      char *err, size_t errlen)
{
	TPM2B_ID_OBJECT id;
	TPM2B_ENCRYPTED_SECRET secret;
	struct buf seed = BUF_INIT, mac = BUF_INIT, plain = BUF_INIT;
	uint8_t sym[16], hkey[SOFT_DIGEST];
	EVP_PKEY_CTX *ctx = NULL;
	EVP_CIPHER_CTX *cctx = NULL;
	int r = -1, len = 0;
	if (tpm_credential_parse(blob, blob_len, &id, &secret, err, errlen) < 0)
		return -1;
	/* Seed: RSA-OAEP(SHA-256) with the label "IDENTITY" and its NUL. */
	size_t seed_len = 0;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, ek, NULL);
	char *label = OPENSSL_strdup("IDENTITY");
	if (!ctx || !label || EVP_PKEY_decrypt_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) != 1 ||
	    EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label, 9) != 1) {
		OPENSSL_free(label);
		snprintf(err, errlen, "OAEP setup failed");
		goto out;
	}
	if (EVP_PKEY_decrypt(ctx, NULL, &seed_len, secret.secret, secret.size) != 1 ||
	    buf_reserve(&seed, seed_len) < 0 ||
	    EVP_PKEY_decrypt(ctx, seed.data, &seed_len, secret.secret, secret.size) != 1) {
		snprintf(err, errlen, "the seed does not decrypt with this EK");
		goto out;
	}
	seed.len = seed_len;
	if (tpm_kdfa(TPM2_ALG_SHA256, seed.data, seed.len, "STORAGE", name,
		     name_len, NULL, 0, sym, sizeof sym) < 0 ||
	    tpm_kdfa(TPM2_ALG_SHA256, seed.data, seed.len, "INTEGRITY", NULL, 0,
		     NULL, 0, hkey, sizeof hkey) < 0) {
		snprintf(err, errlen, "KDFa failed");
		goto out;
	}
	/* credential = TPM2B integrityHMAC || encIdentity */
	struct cursor c = cursor_init(id.credential, id.size);
	uint16_t hlen = cursor_be16(&c);
	const uint8_t *hmac = cursor_bytes(&c, hlen);
	if (c.err || hlen != SOFT_DIGEST || c.left < 2) {
		snprintf(err, errlen, "malformed credential blob");
		goto out;
	}
	const uint8_t *enc = c.p;
	size_t enc_len = c.left;
	struct buf msg = BUF_INIT;
	buf_append(&msg, enc, enc_len);
	buf_append(&msg, name, name_len);
	int hr = crypto_hmac(EVP_sha256(), hkey, sizeof hkey, msg.data, msg.len, &mac);
	buf_free(&msg);
	if (hr < 0 || !secure_equal(mac.data, hmac, SOFT_DIGEST)) {
		snprintf(err, errlen, "integrity HMAC mismatch: wrong EK or name");
		goto out;
	}
	static const uint8_t zero_iv[16];
	if (!(cctx = EVP_CIPHER_CTX_new()) || buf_reserve(&plain, enc_len) < 0 ||
	    EVP_DecryptInit_ex(cctx, EVP_aes_128_cfb128(), NULL, sym, zero_iv) != 1 ||
	    EVP_DecryptUpdate(cctx, plain.data, &len, enc, (int)enc_len) != 1) {
		snprintf(err, errlen, "AES-CFB failed");
		goto out;
	}
	struct cursor d = cursor_init(plain.data, (size_t)len);
	uint16_t clen = cursor_be16(&d);
	const uint8_t *cp = cursor_bytes(&d, clen);
	if (d.err || d.left) {
		snprintf(err, errlen, "malformed credential inside the blob");
		goto out;
	}
	r = buf_append(cred, cp, clen);
out:
	secure_wipe(sym, sizeof sym);
	secure_wipe(hkey, sizeof hkey);
	EVP_PKEY_CTX_free(ctx);
	EVP_CIPHER_CTX_free(cctx);
	buf_free(&seed);
	buf_free(&mac);
	buf_free(&plain);
	return r;
}
