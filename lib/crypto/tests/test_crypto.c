/* Unit tests for lib/crypto, cross-checked against known answers. */
#include <stdlib.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "util/check.h"
#include "util/encode.h"

static void test_hmac_sha384(void)
{
	/* RFC 4231 test case 2. */
	struct buf out = BUF_INIT;
	const char *data = "what do ya want for nothing?";
	CHECK_INT(crypto_hmac(EVP_sha384(), "Jefe", 4, data, strlen(data), &out), 0);
	char *h = hex_encode_str(out.data, out.len);
	CHECK_STR(h, "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec373"
		     "6322445e8e2240ca5e69e2c78b3239ecfab21649");
	free(h);
	buf_free(&out);
}

static void test_digest(void)
{
	struct buf out = BUF_INIT;
	CHECK(crypto_md("sha256") != NULL);
	CHECK(crypto_md("md5") == NULL);
	CHECK_INT(crypto_digest(crypto_md("sha256"), "abc", 3, &out), 0);
	char *h = hex_encode_str(out.data, out.len);
	CHECK_STR(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	free(h);
	buf_free(&out);
}

static void test_gcm(void)
{
	uint8_t key[32];
	crypto_random(key, sizeof key);
	struct buf ct = BUF_INIT, pt = BUF_INIT;
	CHECK_INT(crypto_aes_gcm_encrypt(key, "secret payload", 14, &ct), 0);
	CHECK_INT(ct.len, 16 + 14 + 16);
	CHECK_INT(crypto_aes_gcm_decrypt(key, ct.data, ct.len, &pt), 0);
	CHECK_INT(pt.len, 14);
	CHECK(memcmp(pt.data, "secret payload", 14) == 0);
	/* Any flipped bit is refused and nothing is written. */
	for (size_t i = 0; i < ct.len; i += 7) {
		buf_reset(&pt);
		ct.data[i] ^= 1;
		CHECK_INT(crypto_aes_gcm_decrypt(key, ct.data, ct.len, &pt), -1);
		CHECK_INT(pt.len, 0);
		ct.data[i] ^= 1;
	}
	CHECK_INT(crypto_aes_gcm_decrypt(key, ct.data, 31, &pt), -1);
	buf_free(&ct);
	buf_free(&pt);
}

static void test_rsa(void)
{
	EVP_PKEY *key = crypto_rsa_generate(2048);
	CHECK(key != NULL);
	struct buf ct = BUF_INIT, pt = BUF_INIT, sig = BUF_INIT, pem = BUF_INIT;
	CHECK_INT(crypto_rsa_oaep_encrypt(key, EVP_sha1(), "V half", 6, &ct), 0);
	CHECK_INT(ct.len, 256);
	CHECK_INT(crypto_rsa_oaep_decrypt(key, EVP_sha1(), ct.data, ct.len, &pt), 0);
	CHECK(pt.len == 6 && memcmp(pt.data, "V half", 6) == 0);
	ct.data[10] ^= 1;
	buf_reset(&pt);
	CHECK_INT(crypto_rsa_oaep_decrypt(key, EVP_sha1(), ct.data, ct.len, &pt), -1);

	CHECK_INT(crypto_rsa_pss_sign(key, "msg", 3, &sig), 0);
	CHECK_INT(crypto_rsa_pss_verify(key, "msg", 3, sig.data, sig.len), 1);
	CHECK_INT(crypto_rsa_pss_verify(key, "msG", 3, sig.data, sig.len), 0);

	CHECK_INT(crypto_key_to_pem(key, 0, &pem), 0);
	EVP_PKEY *pub = crypto_key_from_pem((char *)pem.data, pem.len, 0);
	CHECK(pub != NULL && EVP_PKEY_eq(pub, key) == 1);
	CHECK_INT(crypto_rsa_pss_verify(pub, "msg", 3, sig.data, sig.len), 1);

	char dir[] = "/tmp/assay-crypto-XXXXXX", path[128], err[256];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/key.pem", dir);
	CHECK_INT(crypto_key_save(path, key), 0);
	EVP_PKEY *back = crypto_key_load(path, err, sizeof err);
	CHECK(back != NULL && EVP_PKEY_eq(back, key) == 1);
	chmod(path, 0644);
	CHECK(crypto_key_load(path, err, sizeof err) == NULL);
	CHECK(strstr(err, "must be 0600") != NULL);
	unlink(path);
	rmdir(dir);

	EVP_PKEY_free(back);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(key);
	buf_free(&ct);
	buf_free(&pt);
	buf_free(&sig);
	buf_free(&pem);
}

static void test_certs(void)
{
	EVP_PKEY *ca_key = crypto_ec_generate("P-256");
	EVP_PKEY *key = crypto_ec_generate("P-256");
	struct crypto_cert_spec ca_spec = { "Assay test CA", NULL, NULL, 30, 1 };
	struct crypto_cert_spec spec = { "node", "127.0.0.1", "localhost", 30, 0 };
	X509 *ca = crypto_cert_issue(ca_key, &ca_spec, NULL, NULL);
	X509 *cert = crypto_cert_issue(key, &spec, ca, ca_key);
	CHECK(ca && cert);
	CHECK_INT(X509_verify(cert, ca_key), 1);
	CHECK_INT(X509_check_ip_asc(cert, "127.0.0.1", 0), 1);
	CHECK_INT(X509_check_host(cert, "localhost", 0, 0, NULL), 1);

	struct buf pem = BUF_INIT;
	CHECK_INT(crypto_cert_to_pem(cert, &pem), 0);
	X509 *back = crypto_cert_from_pem((char *)pem.data, pem.len);
	CHECK(back && X509_cmp(back, cert) == 0);

	unsigned char *der = NULL;
	int n = i2d_X509(cert, &der);
	X509 *fromder = crypto_cert_from_der(der, (size_t)n);
	CHECK(fromder != NULL);
	CHECK(crypto_cert_from_der(der, (size_t)n - 1) == NULL);
	OPENSSL_free(der);

	X509_free(fromder);
	X509_free(back);
	X509_free(cert);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	buf_free(&pem);
}

int main(void)
{
	test_hmac_sha384();
	test_digest();
	test_gcm();
	test_rsa();
	test_certs();
	return check_done();
}
