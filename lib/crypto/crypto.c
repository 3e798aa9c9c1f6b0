#include "crypto/crypto.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "util/file.h"
#include "util/secure.h"

int crypto_random(void *p, size_t n)
{
	return n > INT32_MAX || RAND_bytes(p, (int)n) != 1 ? -1 : 0;
}

const EVP_MD *crypto_md(const char *name)
{
	static const char *const names[] = { "sha1", "sha256", "sha384", "sha512" };
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (strcmp(name, names[i]) == 0)
			return EVP_get_digestbyname(name);
	return NULL;
}

int crypto_digest(const EVP_MD *md, const void *p, size_t n, struct buf *out)
{
	unsigned int len = 0;
	if (buf_reserve(out, EVP_MAX_MD_SIZE) < 0 ||
	    EVP_Digest(p, n, out->data + out->len, &len, md, NULL) != 1)
		return -1;
	out->len += len;
	out->data[out->len] = 0;
	return 0;
}

int crypto_hmac(const EVP_MD *md, const void *key, size_t keylen,
		const void *p, size_t n, struct buf *out)
{
	unsigned int len = 0;
	if (keylen > INT32_MAX || buf_reserve(out, EVP_MAX_MD_SIZE) < 0)
		return -1;
	if (!HMAC(md, key, (int)keylen, p, n, out->data + out->len, &len))
		return -1;
	out->len += len;
	out->data[out->len] = 0;
	return 0;
}

EVP_PKEY *crypto_rsa_generate(unsigned bits)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
}

EVP_PKEY *crypto_ec_generate(const char *curve)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
}

int crypto_key_to_pem(EVP_PKEY *key, int private_part, struct buf *out)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	if (!bio)
		return -1;
	int ok = private_part
		? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)
		: PEM_write_bio_PUBKEY(bio, key);
	char *p;
	long n = BIO_get_mem_data(bio, &p);
	int r = ok == 1 && n >= 0 ? buf_append(out, p, (size_t)n) : -1;
	BIO_free(bio);
	return r;
}

EVP_PKEY *crypto_key_from_pem(const char *pem, size_t len, int private_part)
{
	if (len > INT32_MAX)
		return NULL;
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return NULL;
	EVP_PKEY *key = private_part
		? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)
		: PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return key;
}

EVP_PKEY *crypto_key_load(const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen, "%s: private key is accessible by others "
			 "(mode %03o); it must be 0600", path, st.st_mode & 0777);
		return NULL;
	}
	struct buf pem = BUF_INIT;
	if (file_read(path, 1 << 20, &pem) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	EVP_PKEY *key = crypto_key_from_pem((char *)pem.data, pem.len, 1);
	buf_free(&pem);
	if (!key)
		snprintf(err, errlen, "%s: not a PEM private key", path);
	return key;
}

int crypto_key_save(const char *path, EVP_PKEY *key)
{
	struct buf pem = BUF_INIT;
	int r = crypto_key_to_pem(key, 1, &pem);
	if (r == 0)
		r = file_write_atomic(path, pem.data, pem.len, 0600);
	buf_free(&pem);
	return r;
}

/* One function for both directions keeps the padding setup in one place. */
static int rsa_oaep(EVP_PKEY *key, const EVP_MD *md, int encrypt,
		    const void *p, size_t n, struct buf *out)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	size_t len = 0;
	int r = -1;
	if (!ctx)
		return -1;
	if ((encrypt ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) != 1)
		goto out;
	if ((encrypt ? EVP_PKEY_encrypt(ctx, NULL, &len, p, n)
		     : EVP_PKEY_decrypt(ctx, NULL, &len, p, n)) != 1 ||
	    buf_reserve(out, len) < 0)
		goto out;
	if ((encrypt ? EVP_PKEY_encrypt(ctx, out->data + out->len, &len, p, n)
		     : EVP_PKEY_decrypt(ctx, out->data + out->len, &len, p, n)) != 1)
		goto out;
	out->len += len;
	out->data[out->len] = 0;
	r = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	return r;
}

int crypto_rsa_oaep_encrypt(EVP_PKEY *key, const EVP_MD *md,
			    const void *p, size_t n, struct buf *out)
{
	return rsa_oaep(key, md, 1, p, n, out);
}

int crypto_rsa_oaep_decrypt(EVP_PKEY *key, const EVP_MD *md,
			    const void *p, size_t n, struct buf *out)
{
	return rsa_oaep(key, md, 0, p, n, out);
}

static int pss_setup(EVP_MD_CTX *mctx, EVP_PKEY *key, int sign)
{
	EVP_PKEY_CTX *pctx = NULL;
	int r = sign ? EVP_DigestSignInit(mctx, &pctx, EVP_sha256(), NULL, key)
		     : EVP_DigestVerifyInit(mctx, &pctx, EVP_sha256(), NULL, key);
	if (r != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1)
		return -1;
	/* Keylime signs with the maximum salt length and its Rust agent
	 * verifies expecting exactly that; we sign the same way and accept any
	 * salt length when verifying. */
	if (EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, sign ? RSA_PSS_SALTLEN_MAX
						  : RSA_PSS_SALTLEN_AUTO) != 1)
		return -1;
	return 0;
}

int crypto_rsa_pss_sign(EVP_PKEY *key, const void *p, size_t n, struct buf *sig)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	size_t len = 0;
	int r = -1;
	if (!mctx || pss_setup(mctx, key, 1) < 0 ||
	    EVP_DigestSign(mctx, NULL, &len, p, n) != 1 ||
	    buf_reserve(sig, len) < 0 ||
	    EVP_DigestSign(mctx, sig->data + sig->len, &len, p, n) != 1)
		goto out;
	sig->len += len;
	sig->data[sig->len] = 0;
	r = 0;
out:
	EVP_MD_CTX_free(mctx);
	return r;
}

int crypto_rsa_pss_verify(EVP_PKEY *key, const void *p, size_t n,
			  const void *sig, size_t siglen)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	int r = -1;
	if (mctx && pss_setup(mctx, key, 0) == 0)
		r = EVP_DigestVerify(mctx, sig, siglen, p, n) == 1;
	ERR_clear_error();
	EVP_MD_CTX_free(mctx);
	return r;
}

int crypto_aes_gcm_encrypt(const uint8_t key[32], const void *p, size_t n,
			   struct buf *out)
{
	uint8_t iv[CRYPTO_GCM_IV];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int len = 0, r = -1;
	size_t start = out->len;
	if (!ctx || n > INT32_MAX - 64 || crypto_random(iv, sizeof iv) < 0 ||
	    buf_reserve(out, sizeof iv + n + CRYPTO_GCM_TAG) < 0)
		goto out;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, sizeof iv, NULL) != 1 ||
	    EVP_EncryptInit_ex(ctx, NULL, NULL, key, iv) != 1)
		goto out;
	uint8_t *o = out->data + start;
	memcpy(o, iv, sizeof iv);
	if (EVP_EncryptUpdate(ctx, o + sizeof iv, &len, p, (int)n) != 1 ||
	    EVP_EncryptFinal_ex(ctx, o + sizeof iv + len, &len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, CRYPTO_GCM_TAG,
				o + sizeof iv + n) != 1)
		goto out;
	out->len = start + sizeof iv + n + CRYPTO_GCM_TAG;
	out->data[out->len] = 0;
	r = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

int crypto_aes_gcm_decrypt(const uint8_t key[32], const void *p, size_t n,
			   struct buf *out)
{
	const uint8_t *s = p;
	EVP_CIPHER_CTX *ctx = NULL;
	int len = 0, r = -1;
	if (n < CRYPTO_GCM_IV + CRYPTO_GCM_TAG || n > INT32_MAX)
		return -1;
	size_t clen = n - CRYPTO_GCM_IV - CRYPTO_GCM_TAG;
	/* Decrypt into a scratch buffer: nothing reaches out unless the tag
	 * verifies. */
	struct buf plain = BUF_INIT;
	uint8_t tag[CRYPTO_GCM_TAG];
	memcpy(tag, s + n - CRYPTO_GCM_TAG, sizeof tag);
	if (buf_reserve(&plain, clen) < 0 || !(ctx = EVP_CIPHER_CTX_new()))
		goto out;
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, CRYPTO_GCM_IV, NULL) != 1 ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, key, s) != 1 ||
	    EVP_DecryptUpdate(ctx, plain.data, &len, s + CRYPTO_GCM_IV, (int)clen) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, CRYPTO_GCM_TAG, tag) != 1 ||
	    EVP_DecryptFinal_ex(ctx, plain.data + len, &len) != 1)
		goto out;
	r = buf_append(out, plain.data, clen);
out:
	buf_free(&plain);
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (!ext)
		return -1;
	int r = X509_add_ext(cert, ext, -1) == 1 ? 0 : -1;
	X509_EXTENSION_free(ext);
	return r;
}

X509 *crypto_cert_issue(EVP_PKEY *key, const struct crypto_cert_spec *spec,
			X509 *issuer, EVP_PKEY *issuer_key)
{
	X509 *cert = X509_new();
	uint8_t serial[16];
	BIGNUM *bn = NULL;
	char san[512];
	if (!cert || crypto_random(serial, sizeof serial) < 0)
		goto fail;
	serial[0] &= 0x7f; /* positive */
	bn = BN_bin2bn(serial, sizeof serial, NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) ||
	    X509_set_version(cert, X509_VERSION_3) != 1 ||
	    !X509_gmtime_adj(X509_getm_notBefore(cert), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(cert), (long)spec->days * 86400) ||
	    X509_set_pubkey(cert, key) != 1)
		goto fail;
	X509_NAME *name = X509_get_subject_name(cert);
	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
				       (const unsigned char *)spec->common_name,
				       -1, -1, 0) != 1)
		goto fail;
	if (X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer)
					      : name) != 1)
		goto fail;
	X509 *iss = issuer ? issuer : cert;
	if (add_ext(cert, iss, NID_basic_constraints,
		    spec->is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE") < 0 ||
	    add_ext(cert, iss, NID_key_usage, spec->is_ca
		    ? "critical,keyCertSign,cRLSign,digitalSignature"
		    : "critical,digitalSignature,keyEncipherment") < 0 ||
	    add_ext(cert, iss, NID_subject_key_identifier, "hash") < 0)
		goto fail;
	if (!spec->is_ca &&
	    add_ext(cert, iss, NID_ext_key_usage, "serverAuth,clientAuth") < 0)
		goto fail;
	if (spec->san_ip || spec->san_dns) {
		snprintf(san, sizeof san, "%s%s%s%s%s",
			 spec->san_ip ? "IP:" : "", spec->san_ip ? spec->san_ip : "",
			 spec->san_ip && spec->san_dns ? "," : "",
			 spec->san_dns ? "DNS:" : "", spec->san_dns ? spec->san_dns : "");
		if (add_ext(cert, iss, NID_subject_alt_name, san) < 0)
			goto fail;
	}
	if (X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256()) <= 0)
		goto fail;
	BN_free(bn);
	return cert;
fail:
	BN_free(bn);
	X509_free(cert);
	return NULL;
}

int crypto_cert_to_pem(X509 *cert, struct buf *out)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p;
	int r = -1;
	if (bio && PEM_write_bio_X509(bio, cert) == 1) {
		long n = BIO_get_mem_data(bio, &p);
		r = n >= 0 ? buf_append(out, p, (size_t)n) : -1;
	}
	BIO_free(bio);
	return r;
}

X509 *crypto_cert_from_pem(const char *pem, size_t len)
{
	if (len > INT32_MAX)
		return NULL;
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	return cert;
}

X509 *crypto_cert_from_der(const void *der, size_t len)
{
	const unsigned char *p = der;
	if (len > INT32_MAX)
		return NULL;
	X509 *cert = d2i_X509(NULL, &p, (long)len);
	/* Trailing bytes after the certificate are not a certificate. */
	if (cert && p != (const unsigned char *)der + len) {
		X509_free(cert);
		return NULL;
	}
	return cert;
}

X509 *crypto_cert_load(const char *path)
{
	struct buf pem = BUF_INIT;
	X509 *cert = NULL;
	if (file_read(path, 1 << 20, &pem) == 0)
		cert = crypto_cert_from_pem((char *)pem.data, pem.len);
	buf_free(&pem);
	return cert;
}

int crypto_cert_save(const char *path, X509 *cert)
{
	struct buf pem = BUF_INIT;
	int r = crypto_cert_to_pem(cert, &pem);
	if (r == 0)
		r = file_write_atomic(path, pem.data, pem.len, 0644);
	buf_free(&pem);
	return r;
}
