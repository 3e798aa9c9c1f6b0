/* crypto: the OpenSSL 3 operations Assay needs, named for what they do.
 *
 * Everything goes through EVP and the default provider; no deprecated
 * low-level APIs. Functions return 0 on success and -1 on failure, with a
 * reason in err when one is given. Output buffers are appended to. */
#ifndef ASSAY_CRYPTO_CRYPTO_H
#define ASSAY_CRYPTO_CRYPTO_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

int crypto_random(void *p, size_t n);

/* Digests by Keylime/OpenSSL name: "sha1", "sha256", "sha384", "sha512". */
const EVP_MD *crypto_md(const char *name);
int crypto_digest(const EVP_MD *md, const void *p, size_t n, struct buf *out);
int crypto_hmac(const EVP_MD *md, const void *key, size_t keylen,
		const void *p, size_t n, struct buf *out);

/* Keys. */
EVP_PKEY *crypto_rsa_generate(unsigned bits);
EVP_PKEY *crypto_ec_generate(const char *curve); /* e.g. "P-256" */
int crypto_key_to_pem(EVP_PKEY *key, int private_part, struct buf *out);
EVP_PKEY *crypto_key_from_pem(const char *pem, size_t len, int private_part);
/* Loads a PEM private key file; refuses files readable by group or others. */
EVP_PKEY *crypto_key_load(const char *path, char *err, size_t errlen);
int crypto_key_save(const char *path, EVP_PKEY *key);

/* RSA-OAEP with SHA-1 (Keylime's choice for U/V halves) or another md. */
int crypto_rsa_oaep_encrypt(EVP_PKEY *key, const EVP_MD *md,
			    const void *p, size_t n, struct buf *out);
int crypto_rsa_oaep_decrypt(EVP_PKEY *key, const EVP_MD *md,
			    const void *p, size_t n, struct buf *out);

/* RSA-PSS-SHA256 signatures (revocation messages). Verify returns 1 when
 * the signature is good, 0 when it is not, -1 on error. */
int crypto_rsa_pss_sign(EVP_PKEY *key, const void *p, size_t n,
			struct buf *sig);
int crypto_rsa_pss_verify(EVP_PKEY *key, const void *p, size_t n,
			  const void *sig, size_t siglen);

/* AES-256-GCM, Keylime's payload format: IV(16) || ciphertext || tag(16),
 * no AAD. Decrypt fails without writing anything when the tag is wrong. */
#define CRYPTO_GCM_IV 16
#define CRYPTO_GCM_TAG 16
int crypto_aes_gcm_encrypt(const uint8_t key[32], const void *p, size_t n,
			   struct buf *out);
int crypto_aes_gcm_decrypt(const uint8_t key[32], const void *p, size_t n,
			   struct buf *out);

/* Certificates. */
struct crypto_cert_spec {
	const char *common_name;
	const char *san_ip;	/* optional IP subjectAltName */
	const char *san_dns;	/* optional DNS subjectAltName */
	int days;
	int is_ca;
};
/* Issues a certificate for key, signed by issuer_key; issuer NULL makes it
 * self-signed. */
X509 *crypto_cert_issue(EVP_PKEY *key, const struct crypto_cert_spec *spec,
			X509 *issuer, EVP_PKEY *issuer_key);
int crypto_cert_to_pem(X509 *cert, struct buf *out);
X509 *crypto_cert_from_pem(const char *pem, size_t len);
X509 *crypto_cert_from_der(const void *der, size_t len);
X509 *crypto_cert_load(const char *path);
int crypto_cert_save(const char *path, X509 *cert);


#endif
