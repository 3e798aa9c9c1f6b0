/* The software provider, checked against plain OpenSSL.
 *
 * Every operation is done through the provider and redone (or undone) in
 * this file with OpenSSL on keys built here from the provider's exports,
 * never through pkey.c: a signature made by the provider is verified by
 * OpenSSL, a ciphertext OpenSSL makes is decrypted by the provider, AEAD,
 * cipher and MAC outputs are recomputed and compared byte for byte. Known
 * answers (RFC 6979, RFC 7748, RFC 4231, RFC 4493, FIPS-197, the GCM
 * paper) pin the formats down. Then the failures: wrong sizes, bad
 * signatures and tags, unsupported curves, references presented as other
 * keys or opened under another master key, and master key files that
 * must be refused. */
#define _GNU_SOURCE	/* mkdtemp, memmem */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "config/config.h"
#include "keyd/pkey.h"
#include "keyd/provider.h"
#include "util/buf.h"
#include "util/check.h"
#include "util/encode.h"
#include "util/file.h"
#include "util/log.h"

static const struct provider_ops *ops = &provider_software;
static struct provider prov;
static struct provider *P = &prov;
static char tmpdir[64];

static const struct config_option test_options[] = {
	{ "state_dir", CONFIG_PATH, NULL, "State directory.", 0, 0 },
	{ "software_master_key", CONFIG_PATH, NULL, "Master key file.", 0, 0 },
	{ 0 },
};

static const struct config_program test_prog = {
	.name = "test-software",
	.section = "swtest",
	.summary = "exercise the software provider",
	.options = test_options,
};

static int open_with(struct provider *p, const char *state_dir, const char *master,
		     char *err, size_t errlen)
{
	char a1[512], a2[512];
	char *argv[4];
	int argc = 0, rc;
	struct config *cfg = NULL;

	argv[argc++] = (char *)"test-software";
	if (state_dir) {
		snprintf(a1, sizeof a1, "--state-dir=%s", state_dir);
		argv[argc++] = a1;
	}
	if (master) {
		snprintf(a2, sizeof a2, "--software-master-key=%s", master);
		argv[argc++] = a2;
	}
	argv[argc] = NULL;
	if (config_load(&test_prog, argc, argv, &cfg, err, errlen) != 0)
		return -1;
	p->ops = ops;
	p->state = NULL;
	rc = ops->open(p, cfg, err, errlen);
	config_free(cfg);
	return rc;
}

/* ---- small helpers ---- */

static struct buf hex(const char *s)
{
	struct buf b = BUF_INIT;

	if (hex_decode(&b, s, strlen(s)) != 0) {
		printf("bad hex in test: %s\n", s);
		exit(1);
	}
	return b;
}

static int buf_eq(const struct buf *b, const uint8_t *p, size_t n)
{
	return b->len == n && (n == 0 || memcmp(b->data, p, n) == 0);
}

static int buf_eqb(const struct buf *a, const struct buf *b)
{
	return buf_eq(a, b->data, b->len);
}

static struct psa_attrs attrs(enum psa_key_type t, int family, uint32_t bits)
{
	struct psa_attrs a;

	memset(&a, 0, sizeof a);
	a.type = t;
	a.family = family;
	a.bits = bits;
	a.usage = 0xffffffffu;
	return a;
}

static struct psa_alg alg_of(enum psa_alg_kind kind, int variant, enum psa_hash h,
			     uint32_t length)
{
	struct psa_alg g;

	memset(&g, 0, sizeof g);
	g.kind = kind;
	g.variant = variant;
	g.hash = h;
	g.length = length;
	return g;
}

static struct psa_alg sig_alg(int variant, enum psa_hash h)
{
	return alg_of(PSA_ALG_SIGN, variant, h, 0);
}

static const EVP_MD *md_of(enum psa_hash h)
{
	return EVP_get_digestbyname(psa_hash_name(h));
}

static struct buf digest(enum psa_hash h, const void *msg, size_t n)
{
	struct buf b = BUF_INIT;
	unsigned int len = 0;

	buf_reserve(&b, EVP_MAX_MD_SIZE);
	if (!EVP_Digest(msg, n, b.data, &len, md_of(h), NULL)) {
		printf("digest %d failed\n", h);
		exit(1);
	}
	b.len = len;
	return b;
}

static void fill(struct buf *b, size_t n, uint8_t seed)
{
	buf_reset(b);
	buf_reserve(b, n);
	for (size_t i = 0; i < n; i++)
		b->data[i] = (uint8_t)(seed + 7 * i);
	b->len = n;
}

static struct buf gen(struct psa_attrs a)
{
	struct buf ref = BUF_INIT;
	int st = ops->generate(P, &a, &ref);

	if (st != PSA_OK) {
		printf("FAIL generate type %d family %d bits %u: %d\n", a.type, a.family,
		       a.bits, st);
		exit(1);
	}
	return ref;
}

static struct buf export_pub(struct psa_attrs a, const struct buf *ref)
{
	struct buf out = BUF_INIT;

	CHECK_INT(ops->export_public(P, &a, ref, &out), PSA_OK);
	return out;
}

static struct buf export_key(struct psa_attrs a, const struct buf *ref)
{
	struct buf out = BUF_INIT;

	CHECK_INT(ops->export_key(P, &a, ref, &out), PSA_OK);
	return out;
}

/* ---- OpenSSL keys built here, independently of pkey.c ---- */

static EVP_PKEY *ossl_rsa(const struct buf *der, int private_part)
{
	const unsigned char *p = der->data;

	return private_part ? d2i_PrivateKey(EVP_PKEY_RSA, NULL, &p, (long)der->len)
			    : d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)der->len);
}

static EVP_PKEY *ossl_ec(const char *group, const struct buf *pub, const struct buf *priv)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *k = NULL;
	BIGNUM *d = priv ? BN_bin2bn(priv->data, (int)priv->len, NULL) : NULL;

	OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
	OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub->data, pub->len);
	if (d)
		OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d);
	params = OSSL_PARAM_BLD_to_param(bld);
	if (EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &k, d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) <= 0)
		k = NULL;
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_clear_free(d);
	return k;
}

static EVP_PKEY *ossl_gen(const char *alg, const char *group, int bits)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL);
	EVP_PKEY *k = NULL;

	EVP_PKEY_keygen_init(ctx);
	if (group)
		EVP_PKEY_CTX_set_group_name(ctx, group);
	if (bits)
		EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits);
	EVP_PKEY_generate(ctx, &k);
	EVP_PKEY_CTX_free(ctx);
	return k;
}

static struct buf ossl_ec_point(EVP_PKEY *k)
{
	struct buf b = BUF_INIT;
	size_t len = 0;

	buf_reserve(&b, 200);
	EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, b.data, 200, &len);
	b.len = len;
	return b;
}

static struct buf ossl_ec_scalar(EVP_PKEY *k, size_t fl)
{
	struct buf b = BUF_INIT;
	BIGNUM *d = NULL;

	buf_reserve(&b, fl);
	EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &d);
	BN_bn2binpad(d, b.data, (int)fl);
	b.len = fl;
	BN_clear_free(d);
	return b;
}

/* raw r||s <-> DER, here with ECDSA_SIG directly. */
static struct buf sig_to_der(const struct buf *raw)
{
	struct buf der = BUF_INIT;
	ECDSA_SIG *sig = ECDSA_SIG_new();
	size_t h = raw->len / 2;
	unsigned char *p = NULL;
	int len;

	ECDSA_SIG_set0(sig, BN_bin2bn(raw->data, (int)h, NULL),
		       BN_bin2bn(raw->data + h, (int)h, NULL));
	len = i2d_ECDSA_SIG(sig, &p);
	buf_append(&der, p, (size_t)len);
	OPENSSL_free(p);
	ECDSA_SIG_free(sig);
	return der;
}

static struct buf sig_to_raw(const struct buf *der, size_t fl)
{
	struct buf raw = BUF_INIT;
	const unsigned char *p = der->data;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der->len);
	const BIGNUM *r, *s;

	ECDSA_SIG_get0(sig, &r, &s);
	buf_reserve(&raw, 2 * fl);
	BN_bn2binpad(r, raw.data, (int)fl);
	BN_bn2binpad(s, raw.data + fl, (int)fl);
	raw.len = 2 * fl;
	ECDSA_SIG_free(sig);
	return raw;
}

/* OpenSSL verify/sign with an explicit configuration. pss_salt < -10:
 * not PSS; md NULL: input signed as given. */
static int ossl_verify(EVP_PKEY *k, int padding, const EVP_MD *md, int pss_salt,
		       const struct buf *h, const struct buf *sig)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
	int rc = EVP_PKEY_verify_init(ctx) > 0 &&
		 (!padding || EVP_PKEY_CTX_set_rsa_padding(ctx, padding) > 0) &&
		 (!md || EVP_PKEY_CTX_set_signature_md(ctx, md) > 0) &&
		 (padding != RSA_PKCS1_PSS_PADDING ||
		  (EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) > 0 &&
		   EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, pss_salt) > 0)) &&
		 EVP_PKEY_verify(ctx, sig->data, sig->len, h->data, h->len) == 1;

	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

static struct buf ossl_sign(EVP_PKEY *k, int padding, const EVP_MD *md, int pss_salt,
			    const struct buf *h)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
	struct buf sig = BUF_INIT;
	size_t len = 0;

	if (EVP_PKEY_sign_init(ctx) > 0 &&
	    (!padding || EVP_PKEY_CTX_set_rsa_padding(ctx, padding) > 0) &&
	    (!md || EVP_PKEY_CTX_set_signature_md(ctx, md) > 0) &&
	    (padding != RSA_PKCS1_PSS_PADDING ||
	     (EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) > 0 &&
	      EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, pss_salt) > 0)) &&
	    EVP_PKEY_sign(ctx, NULL, &len, h->data, h->len) > 0 &&
	    buf_reserve(&sig, len) == 0 &&
	    EVP_PKEY_sign(ctx, sig.data, &len, h->data, h->len) > 0)
		sig.len = len;
	EVP_PKEY_CTX_free(ctx);
	return sig;
}

/* ---- the provider's identity and its master key ---- */

static void test_identity(void)
{
	CHECK_STR(ops->name, "software");
	CHECK_INT(ops->id, 1);
	CHECK_STR(ops->uuid, "1c1139dc-ad7c-47dc-ad6b-db6fdb466552");
	CHECK_STR(ops->description, "Software provider (OpenSSL 3)");
	CHECK_STR(ops->vendor, "Assay");
	CHECK(ops->version[0] == 0 && ops->version[1] == 1 && ops->version[2] == 0);
	CHECK(ops->plan == NULL);
	CHECK(ops->offers_hash == 1);
	CHECK(ops->prepare_key_attestation == NULL && ops->attest_key == NULL);
}

static void write_bytes(const char *path, const void *p, size_t n, mode_t mode)
{
	if (file_write_atomic(path, p, n, mode) != 0) {
		printf("cannot write %s\n", path);
		exit(1);
	}
}

static void test_master_key(void)
{
	char path[256], dir2[256], err[512];
	struct provider p2, p3;
	struct stat sb;
	struct buf mk = BUF_INIT, ref, k1 = BUF_INIT, k2 = BUF_INIT;
	struct psa_attrs a = attrs(PSA_KEY_AES, 0, 256);
	uint8_t junk[33] = { 0 };

	/* Made at open: 32 bytes, mode 0600. */
	snprintf(path, sizeof path, "%s/software.key", tmpdir);
	CHECK(stat(path, &sb) == 0);
	CHECK_INT(sb.st_mode & 0777, 0600);
	CHECK(file_read(path, 100, &mk) == 0);
	CHECK_INT(mk.len, 32);

	/* A second open of the same state dir uses the same key. */
	ref = gen(a);
	CHECK_INT(open_with(&p2, tmpdir, NULL, err, sizeof err), 0);
	CHECK_INT(ops->export_key(P, &a, &ref, &k1), PSA_OK);
	CHECK_INT(ops->export_key(&p2, &a, &ref, &k2), PSA_OK);
	CHECK(k1.len == 32 && buf_eqb(&k1, &k2));
	ops->close(&p2);
	CHECK(p2.state == NULL);

	/* Another state dir, another master key: the reference does not open. */
	snprintf(dir2, sizeof dir2, "%s/other", tmpdir);
	CHECK_INT(open_with(&p3, dir2, NULL, err, sizeof err), 0);
	buf_reset(&k2);
	CHECK_INT(ops->export_key(&p3, &a, &ref, &k2), PSA_ERR_DATA_CORRUPT);
	CHECK_INT(k2.len, 0);
	ops->close(&p3);

	/* The same key file copied elsewhere: opens again. */
	snprintf(dir2, sizeof dir2, "%s/copy.key", tmpdir);
	write_bytes(dir2, mk.data, mk.len, 0600);
	CHECK_INT(open_with(&p3, NULL, dir2, err, sizeof err), 0);
	CHECK_INT(ops->export_key(&p3, &a, &ref, &k2), PSA_OK);
	CHECK(buf_eqb(&k1, &k2));
	ops->close(&p3);

	/* Wrong sizes are refused. */
	snprintf(dir2, sizeof dir2, "%s/short.key", tmpdir);
	write_bytes(dir2, junk, 31, 0600);
	CHECK_INT(open_with(&p3, NULL, dir2, err, sizeof err), -1);
	CHECK(strstr(err, "32 bytes") != NULL);
	snprintf(dir2, sizeof dir2, "%s/long.key", tmpdir);
	write_bytes(dir2, junk, 33, 0600);
	CHECK_INT(open_with(&p3, NULL, dir2, err, sizeof err), -1);
	CHECK(strstr(err, "32 bytes") != NULL);
	snprintf(dir2, sizeof dir2, "%s/empty.key", tmpdir);
	write_bytes(dir2, junk, 0, 0600);
	CHECK_INT(open_with(&p3, NULL, dir2, err, sizeof err), -1);

	/* A key others can read is refused. */
	snprintf(dir2, sizeof dir2, "%s/open.key", tmpdir);
	write_bytes(dir2, mk.data, 32, 0644);
	CHECK_INT(open_with(&p3, NULL, dir2, err, sizeof err), -1);
	CHECK(strstr(err, "0600") != NULL);

	/* A directory is not a key. */
	CHECK_INT(open_with(&p3, NULL, tmpdir, err, sizeof err), -1);

	/* An explicit path in missing directories is created there, 0600. */
	snprintf(dir2, sizeof dir2, "%s/a/b/master.key", tmpdir);
	CHECK_INT(open_with(&p3, NULL, dir2, err, sizeof err), 0);
	CHECK(stat(dir2, &sb) == 0 && (sb.st_mode & 0777) == 0600 && sb.st_size == 32);
	buf_reset(&k2);
	CHECK_INT(ops->export_key(&p3, &a, &ref, &k2), PSA_ERR_DATA_CORRUPT);
	ops->close(&p3);

	/* Neither setting: nothing to open. */
	CHECK_INT(open_with(&p3, NULL, NULL, err, sizeof err), -1);

	buf_free(&mk);
	buf_free(&ref);
	buf_free(&k1);
	buf_free(&k2);
}

/* ---- references ---- */

/* The documented format, opened here with the master key file. */
static void test_ref_format(void)
{
	char path[256];
	struct buf mk = BUF_INIT, ref, key, plain = BUF_INIT;
	struct psa_attrs a = attrs(PSA_KEY_HMAC, 0, 160);
	uint8_t aad[13] = { 1, 0, 0, 0, PSA_KEY_HMAC, 0, 0, 0, 0, 0, 0, 0, 160 };
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int len = 0, fin = 0, ok;

	snprintf(path, sizeof path, "%s/software.key", tmpdir);
	CHECK(file_read(path, 100, &mk) == 0);
	ref = gen(a);
	key = export_key(a, &ref);
	CHECK_INT(key.len, 20);
	CHECK_INT(ref.len, 1 + 12 + 20 + 16);
	CHECK_INT(ref.data[0], 1);
	CHECK(memmem(ref.data, ref.len, key.data, key.len) == NULL);

	buf_reserve(&plain, 64);
	ok = EVP_DecryptInit_ex2(ctx, EVP_aes_256_gcm(), mk.data, ref.data + 1, NULL) &&
	     EVP_DecryptUpdate(ctx, NULL, &len, aad, sizeof aad) &&
	     EVP_DecryptUpdate(ctx, plain.data, &len, ref.data + 13, 20) &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, ref.data + 33) &&
	     EVP_DecryptFinal_ex(ctx, plain.data + len, &fin) > 0;
	CHECK(ok);
	plain.len = (size_t)(len + fin);
	CHECK(buf_eqb(&plain, &key));
	EVP_CIPHER_CTX_free(ctx);

	/* Two keys, two nonces. */
	struct buf ref2 = gen(a);
	CHECK(ref2.len == ref.len && memcmp(ref.data + 1, ref2.data + 1, 12) != 0);

	buf_free(&mk);
	buf_free(&ref);
	buf_free(&ref2);
	buf_free(&key);
	buf_free(&plain);
}

static void test_ref_binding(void)
{
	struct buf aes = gen(attrs(PSA_KEY_AES, 0, 128));
	struct buf ec = gen(attrs(PSA_KEY_ECC_PAIR, PSA_ECC_SECP_R1, 256));
	struct buf out = BUF_INIT, bad = BUF_INIT;
	struct psa_attrs a;
	struct psa_alg mac = alg_of(PSA_ALG_MAC, PSA_MAC_HMAC, PSA_HASH_SHA_256, 0);
	struct psa_alg ecdsa = sig_alg(PSA_SIGN_ECDSA, PSA_HASH_SHA_256);
	struct buf h = digest(PSA_HASH_SHA_256, "x", 1);

	/* Presented as another type, size or curve: does not open. */
	a = attrs(PSA_KEY_HMAC, 0, 128);
	CHECK_INT(ops->mac(P, &a, &aes, &mac, (const uint8_t *)"x", 1, &out),
		  PSA_ERR_DATA_CORRUPT);
	a = attrs(PSA_KEY_RAW_DATA, 0, 128);
	CHECK_INT(ops->export_key(P, &a, &aes, &out), PSA_ERR_DATA_CORRUPT);
	a = attrs(PSA_KEY_AES, 0, 256);
	CHECK_INT(ops->export_key(P, &a, &aes, &out), PSA_ERR_DATA_CORRUPT);
	a = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_SECP_K1, 256);
	CHECK_INT(ops->sign_hash(P, &a, &ec, &ecdsa, h.data, h.len, &out),
		  PSA_ERR_DATA_CORRUPT);
	a = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_BRAINPOOL_P_R1, 256);
	CHECK_INT(ops->export_public(P, &a, &ec, &out), PSA_ERR_DATA_CORRUPT);
	a = attrs(PSA_KEY_ECC_PUBLIC, PSA_ECC_SECP_R1, 256);
	CHECK_INT(ops->export_key(P, &a, &ec, &out), PSA_ERR_DATA_CORRUPT);
	a = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_SECP_R1, 0);
	CHECK_INT(ops->export_key(P, &a, &ec, &out), PSA_ERR_DATA_CORRUPT);
	CHECK_INT(out.len, 0);

	/* Damaged: a flipped bit, a cut, another version, nothing. */
	a = attrs(PSA_KEY_AES, 0, 128);
	buf_append(&bad, aes.data, aes.len);
	bad.data[20] ^= 1;
	CHECK_INT(ops->export_key(P, &a, &bad, &out), PSA_ERR_DATA_CORRUPT);
	bad.data[20] ^= 1;
	bad.data[bad.len - 1] ^= 0x80;
	CHECK_INT(ops->export_key(P, &a, &bad, &out), PSA_ERR_DATA_CORRUPT);
	bad.data[bad.len - 1] ^= 0x80;
	CHECK_INT(ops->export_key(P, &a, &bad, &out), PSA_OK);
	buf_reset(&out);
	bad.data[0] = 2;
	CHECK_INT(ops->export_key(P, &a, &bad, &out), PSA_ERR_DATA_INVALID);
	bad.data[0] = 1;
	bad.len = 29;
	CHECK_INT(ops->export_key(P, &a, &bad, &out), PSA_ERR_DATA_INVALID);
	bad.len = 0;
	CHECK_INT(ops->export_key(P, &a, &bad, &out), PSA_ERR_DATA_INVALID);
	CHECK_INT(out.len, 0);

	/* An import that left the size to the data opens with size 0 and
	 * with the real size, not with another. */
	uint8_t k16[16] = { 1, 2, 3 };
	struct buf imp = BUF_INIT;
	a = attrs(PSA_KEY_AES, 0, 0);
	CHECK_INT(ops->import(P, &a, k16, 16, &imp), PSA_OK);
	CHECK_INT(ops->export_key(P, &a, &imp, &out), PSA_OK);
	CHECK(buf_eq(&out, k16, 16));
	buf_reset(&out);
	a.bits = 128;
	CHECK_INT(ops->export_key(P, &a, &imp, &out), PSA_OK);
	CHECK(buf_eq(&out, k16, 16));
	buf_reset(&out);
	a.bits = 256;
	CHECK_INT(ops->export_key(P, &a, &imp, &out), PSA_ERR_DATA_CORRUPT);
	a = attrs(PSA_KEY_HMAC, 0, 0);
	CHECK_INT(ops->export_key(P, &a, &imp, &out), PSA_ERR_DATA_CORRUPT);

	/* The same for an ECC key. */
	struct buf scalar = export_key(attrs(PSA_KEY_ECC_PAIR, PSA_ECC_SECP_R1, 256), &ec);
	struct buf imp2 = BUF_INIT;
	a = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_SECP_R1, 0);
	CHECK_INT(ops->import(P, &a, scalar.data, scalar.len, &imp2), PSA_OK);
	buf_reset(&out);
	CHECK_INT(ops->sign_hash(P, &a, &imp2, &ecdsa, h.data, h.len, &out), PSA_OK);
	CHECK_INT(out.len, 64);
	a.bits = 256;
	buf_reset(&out);
	CHECK_INT(ops->sign_hash(P, &a, &imp2, &ecdsa, h.data, h.len, &out), PSA_OK);
	a.bits = 384;
	CHECK_INT(ops->export_public(P, &a, &imp2, &out), PSA_ERR_DATA_CORRUPT);

	CHECK_INT(ops->destroy(P, &a, &imp2), PSA_OK);

	buf_free(&aes);
	buf_free(&ec);
	buf_free(&out);
	buf_free(&bad);
	buf_free(&h);
	buf_free(&imp);
	buf_free(&imp2);
	buf_free(&scalar);
}

/* ---- random ---- */

static void test_random(void)
{
	struct buf a = BUF_INIT, b = BUF_INIT;

	CHECK_INT(ops->generate_random(P, 0, &a), PSA_OK);
	CHECK_INT(a.len, 0);
	CHECK_INT(ops->generate_random(P, 32, &a), PSA_OK);
	CHECK_INT(ops->generate_random(P, 32, &b), PSA_OK);
	CHECK(a.len == 32 && b.len == 32 && memcmp(a.data, b.data, 32) != 0);
	buf_reset(&a);
	CHECK_INT(ops->generate_random(P, 1 << 20, &a), PSA_OK);
	CHECK_INT(a.len, 1 << 20);
	buf_reset(&b);
	CHECK_INT(ops->generate_random(P, (1 << 20) + 1, &b), PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(b.len, 0);
	buf_free(&a);
	buf_free(&b);
}

/* ---- RSA ---- */

static const enum psa_hash all_hashes[] = {
	PSA_HASH_SHA_1, PSA_HASH_SHA_224, PSA_HASH_SHA_256, PSA_HASH_SHA_384,
	PSA_HASH_SHA_512, PSA_HASH_SHA_512_224, PSA_HASH_SHA_512_256, PSA_HASH_SHA3_224,
	PSA_HASH_SHA3_256, PSA_HASH_SHA3_384, PSA_HASH_SHA3_512, PSA_HASH_RIPEMD160,
};
#define N_HASHES (sizeof all_hashes / sizeof *all_hashes)

static void rsa_sign_tests(struct psa_attrs a, const struct buf *ref, EVP_PKEY *pub,
			   EVP_PKEY *priv)
{
	size_t klen = a.bits / 8;

	/* PKCS#1 v1.5 with every hash: deterministic, so equal to OpenSSL's. */
	for (size_t i = 0; i < N_HASHES; i++) {
		enum psa_hash hh = all_hashes[i];
		struct psa_alg g = sig_alg(PSA_SIGN_RSA_PKCS1V15, hh);
		struct buf h = digest(hh, "message", 7), sig = BUF_INIT, o;

		CHECK_INT(ops->sign_hash(P, &a, ref, &g, h.data, h.len, &sig), PSA_OK);
		CHECK_INT(sig.len, klen);
		CHECK(ossl_verify(pub, RSA_PKCS1_PADDING, md_of(hh), 0, &h, &sig));
		o = ossl_sign(priv, RSA_PKCS1_PADDING, md_of(hh), 0, &h);
		CHECK(buf_eqb(&o, &sig));
		CHECK_INT(ops->verify_hash(P, &a, ref, &g, h.data, h.len, sig.data, sig.len),
			  PSA_OK);
		/* Wrong hash size; a hash of another message. */
		CHECK_INT(ops->verify_hash(P, &a, ref, &g, h.data, h.len - 1, sig.data,
					   sig.len), PSA_ERR_INVALID_ARGUMENT);
		buf_reset(&o);
		CHECK_INT(ops->sign_hash(P, &a, ref, &g, h.data, h.len + 1, &o),
			  PSA_ERR_INVALID_ARGUMENT);
		h.data[0] ^= 1;
		CHECK_INT(ops->verify_hash(P, &a, ref, &g, h.data, h.len, sig.data, sig.len),
			  PSA_ERR_INVALID_SIGNATURE);
		buf_free(&h);
		buf_free(&sig);
		buf_free(&o);
	}

	struct buf h = digest(PSA_HASH_SHA_256, "message", 7), sig = BUF_INIT, o;
	struct psa_alg g = sig_alg(PSA_SIGN_RSA_PKCS1V15, PSA_HASH_SHA_256);

	CHECK_INT(ops->sign_hash(P, &a, ref, &g, h.data, h.len, &sig), PSA_OK);
	sig.data[10] ^= 4;
	CHECK_INT(ops->verify_hash(P, &a, ref, &g, h.data, h.len, sig.data, sig.len),
		  PSA_ERR_INVALID_SIGNATURE);
	CHECK_INT(ops->verify_hash(P, &a, ref, &g, h.data, h.len, sig.data, sig.len - 1),
		  PSA_ERR_INVALID_SIGNATURE);
	CHECK_INT(ops->verify_hash(P, &a, ref, &g, h.data, h.len, sig.data, 0),
		  PSA_ERR_INVALID_SIGNATURE);
	/* A signature of another hash algorithm over the same bytes. */
	struct psa_alg g384 = sig_alg(PSA_SIGN_RSA_PKCS1V15, PSA_HASH_SHA3_256);
	sig.data[10] ^= 4;
	CHECK_INT(ops->verify_hash(P, &a, ref, &g384, h.data, h.len, sig.data, sig.len),
		  PSA_ERR_INVALID_SIGNATURE);
	/* ANY_HASH is a policy, not something to sign with. */
	g.hash = PSA_HASH_ANY;
	buf_reset(&sig);
	CHECK_INT(ops->sign_hash(P, &a, ref, &g, h.data, h.len, &sig),
		  PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(sig.len, 0);

	/* Raw PKCS#1 v1.5: the input as given, up to k - 11 bytes. */
	g = sig_alg(PSA_SIGN_RSA_PKCS1V15_RAW, PSA_HASH_NONE);
	struct buf in = BUF_INIT;
	fill(&in, 36, 3);
	CHECK_INT(ops->sign_hash(P, &a, ref, &g, in.data, in.len, &sig), PSA_OK);
	CHECK(ossl_verify(pub, RSA_PKCS1_PADDING, NULL, 0, &in, &sig));
	o = ossl_sign(priv, RSA_PKCS1_PADDING, NULL, 0, &in);
	CHECK(buf_eqb(&o, &sig));
	CHECK_INT(ops->verify_hash(P, &a, ref, &g, in.data, in.len, sig.data, sig.len),
		  PSA_OK);
	in.data[0] ^= 1;
	CHECK_INT(ops->verify_hash(P, &a, ref, &g, in.data, in.len, sig.data, sig.len),
		  PSA_ERR_INVALID_SIGNATURE);
	fill(&in, klen - 11, 5);
	buf_reset(&sig);
	CHECK_INT(ops->sign_hash(P, &a, ref, &g, in.data, in.len, &sig), PSA_OK);
	CHECK(ossl_verify(pub, RSA_PKCS1_PADDING, NULL, 0, &in, &sig));
	fill(&in, klen - 10, 5);
	buf_reset(&sig);
	CHECK_INT(ops->sign_hash(P, &a, ref, &g, in.data, in.len, &sig),
		  PSA_ERR_INVALID_ARGUMENT);
	buf_free(&o);

	/* PSS: salt = hash length, or what the key leaves room for. */
	static const enum psa_hash pss_hashes[] = {
		PSA_HASH_SHA_1, PSA_HASH_SHA_256, PSA_HASH_SHA_384, PSA_HASH_SHA_512,
		PSA_HASH_SHA3_256,
	};
	for (size_t i = 0; i < sizeof pss_hashes / sizeof *pss_hashes; i++) {
		enum psa_hash hh = pss_hashes[i];
		struct buf hp = digest(hh, "pss", 3), s1 = BUF_INIT, s2 = BUF_INIT, os;
		int hl = (int)hp.len, room = (int)klen - 2 - hl;
		int salt = room < hl ? room : hl;

		g = sig_alg(PSA_SIGN_RSA_PSS, hh);
		CHECK_INT(ops->sign_hash(P, &a, ref, &g, hp.data, hp.len, &s1), PSA_OK);
		CHECK_INT(ops->sign_hash(P, &a, ref, &g, hp.data, hp.len, &s2), PSA_OK);
		CHECK(!buf_eqb(&s1, &s2));	/* salted */
		CHECK(ossl_verify(pub, RSA_PKCS1_PSS_PADDING, md_of(hh), salt, &hp, &s1));
		CHECK(ossl_verify(pub, RSA_PKCS1_PSS_PADDING, md_of(hh),
				  RSA_PSS_SALTLEN_AUTO, &hp, &s2));
		if (salt > 0)
			CHECK(!ossl_verify(pub, RSA_PKCS1_PSS_PADDING, md_of(hh), salt - 1,
					   &hp, &s1));
		os = ossl_sign(priv, RSA_PKCS1_PSS_PADDING, md_of(hh), salt, &hp);
		CHECK_INT(ops->verify_hash(P, &a, ref, &g, hp.data, hp.len, os.data, os.len),
			  PSA_OK);
		buf_free(&os);
		/* Another salt length does not verify. */
		os = ossl_sign(priv, RSA_PKCS1_PSS_PADDING, md_of(hh), 0, &hp);
		CHECK_INT(ops->verify_hash(P, &a, ref, &g, hp.data, hp.len, os.data, os.len),
			  PSA_ERR_INVALID_SIGNATURE);
		CHECK_INT(ops->verify_hash(P, &a, ref, &g, hp.data, hp.len - 1, s1.data,
					   s1.len), PSA_ERR_INVALID_ARGUMENT);
		s1.data[5] ^= 0x20;
		CHECK_INT(ops->verify_hash(P, &a, ref, &g, hp.data, hp.len, s1.data, s1.len),
			  PSA_ERR_INVALID_SIGNATURE);
		buf_free(&os);
		buf_free(&hp);
		buf_free(&s1);
		buf_free(&s2);
	}

	/* An RSA key does not do ECDSA. */
	g = sig_alg(PSA_SIGN_ECDSA, PSA_HASH_SHA_256);
	buf_reset(&sig);
	CHECK_INT(ops->sign_hash(P, &a, ref, &g, h.data, h.len, &sig),
		  PSA_ERR_INVALID_ARGUMENT);
	buf_free(&h);
	buf_free(&sig);
	buf_free(&in);
}

static struct buf ossl_encrypt(EVP_PKEY *k, int padding, const EVP_MD *md,
			       const struct buf *label, const struct buf *in)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
	struct buf out = BUF_INIT;
	size_t len = 0;

	if (EVP_PKEY_encrypt_init(ctx) > 0 && EVP_PKEY_CTX_set_rsa_padding(ctx, padding) > 0 &&
	    (!md || (EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) > 0 &&
		     EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) > 0)) &&
	    (!label || !label->len ||
	     EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, OPENSSL_memdup(label->data, label->len),
					      (int)label->len) > 0) &&
	    EVP_PKEY_encrypt(ctx, NULL, &len, in->data, in->len) > 0 &&
	    buf_reserve(&out, len) == 0 &&
	    EVP_PKEY_encrypt(ctx, out.data, &len, in->data, in->len) > 0)
		out.len = len;
	EVP_PKEY_CTX_free(ctx);
	return out;
}

static struct buf ossl_decrypt(EVP_PKEY *k, int padding, const EVP_MD *md,
			       const struct buf *label, const struct buf *in)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
	struct buf out = BUF_INIT;
	size_t len = 0;

	if (EVP_PKEY_decrypt_init(ctx) > 0 && EVP_PKEY_CTX_set_rsa_padding(ctx, padding) > 0 &&
	    (!md || (EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) > 0 &&
		     EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) > 0)) &&
	    (!label || !label->len ||
	     EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, OPENSSL_memdup(label->data, label->len),
					      (int)label->len) > 0) &&
	    EVP_PKEY_decrypt(ctx, NULL, &len, in->data, in->len) > 0 &&
	    buf_reserve(&out, len) == 0 &&
	    EVP_PKEY_decrypt(ctx, out.data, &len, in->data, in->len) > 0)
		out.len = len;
	else
		out.len = 0;
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return out;
}

static void rsa_encrypt_tests(struct psa_attrs a, const struct buf *ref, EVP_PKEY *pub,
			      EVP_PKEY *priv)
{
	size_t klen = a.bits / 8;
	struct buf msg = BUF_INIT, ct = BUF_INIT, pt = BUF_INIT, o;
	struct buf label = BUF_INIT, none = BUF_INIT;
	struct psa_alg g = alg_of(PSA_ALG_ENCRYPT, PSA_ENCRYPT_RSA_PKCS1V15, 0, 0);

	/* PKCS#1 v1.5 both ways. */
	fill(&msg, 40, 9);
	CHECK_INT(ops->asymmetric_encrypt(P, &a, ref, &g, msg.data, msg.len, NULL, 0, &ct),
		  PSA_OK);
	CHECK_INT(ct.len, klen);
	o = ossl_decrypt(priv, RSA_PKCS1_PADDING, NULL, NULL, &ct);
	CHECK(buf_eqb(&o, &msg));
	buf_free(&o);
	o = ossl_encrypt(pub, RSA_PKCS1_PADDING, NULL, NULL, &msg);
	CHECK_INT(ops->asymmetric_decrypt(P, &a, ref, &g, o.data, o.len, NULL, 0, &pt),
		  PSA_OK);
	CHECK(buf_eqb(&pt, &msg));
	/* A salt is OAEP's label: not for PKCS#1 v1.5. */
	buf_reset(&pt);
	CHECK_INT(ops->asymmetric_decrypt(P, &a, ref, &g, o.data, o.len,
					  (const uint8_t *)"L", 1, &pt),
		  PSA_ERR_INVALID_ARGUMENT);
	buf_reset(&ct);
	CHECK_INT(ops->asymmetric_encrypt(P, &a, ref, &g, msg.data, msg.len,
					  (const uint8_t *)"L", 1, &ct),
		  PSA_ERR_INVALID_ARGUMENT);
	/* Sizes: up to k - 11; a ciphertext must be k bytes. */
	fill(&msg, klen - 11, 1);
	CHECK_INT(ops->asymmetric_encrypt(P, &a, ref, &g, msg.data, msg.len, NULL, 0, &ct),
		  PSA_OK);
	buf_reset(&ct);
	fill(&msg, klen - 10, 1);
	CHECK_INT(ops->asymmetric_encrypt(P, &a, ref, &g, msg.data, msg.len, NULL, 0, &ct),
		  PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(ops->asymmetric_decrypt(P, &a, ref, &g, o.data, o.len - 1, NULL, 0, &pt),
		  PSA_ERR_INVALID_ARGUMENT);
	buf_free(&o);
	/* A block with a signature's padding (type 1) is bad padding. */
	{
		struct buf blk = BUF_INIT;

		fill(&blk, klen, 0);
		blk.data[0] = 0;
		blk.data[1] = 1;
		memset(blk.data + 2, 0xff, klen - 3 - 20);
		blk.data[klen - 21] = 0;
		o = ossl_encrypt(pub, RSA_NO_PADDING, NULL, NULL, &blk);
		CHECK_INT(o.len, klen);
		buf_reset(&pt);
		CHECK_INT(ops->asymmetric_decrypt(P, &a, ref, &g, o.data, o.len, NULL, 0,
						  &pt), PSA_ERR_INVALID_PADDING);
		CHECK_INT(pt.len, 0);
		buf_free(&o);
		buf_free(&blk);
	}

	/* OAEP with each hash, with and without a label. */
	static const enum psa_hash oaep_hashes[] = {
		PSA_HASH_SHA_1, PSA_HASH_SHA_224, PSA_HASH_SHA_256, PSA_HASH_SHA_384,
		PSA_HASH_SHA_512,
	};
	buf_append_str(&label, "a label");
	for (size_t i = 0; i < sizeof oaep_hashes / sizeof *oaep_hashes; i++) {
		enum psa_hash hh = oaep_hashes[i];
		size_t hl = psa_hash_size(hh);

		g = alg_of(PSA_ALG_ENCRYPT, PSA_ENCRYPT_RSA_OAEP, hh, 0);
		if (klen < 2 * hl + 2) {
			buf_reset(&ct);
			CHECK_INT(ops->asymmetric_encrypt(P, &a, ref, &g, msg.data, 1, NULL, 0,
							  &ct), PSA_ERR_INVALID_ARGUMENT);
			continue;
		}
		for (int l = 0; l < 2; l++) {
			const struct buf *lb = l ? &label : &none;

			fill(&msg, 20, (uint8_t)i);
			buf_reset(&ct);
			CHECK_INT(ops->asymmetric_encrypt(P, &a, ref, &g, msg.data, msg.len,
							  lb->data, lb->len, &ct), PSA_OK);
			o = ossl_decrypt(priv, RSA_PKCS1_OAEP_PADDING, md_of(hh), lb, &ct);
			CHECK(buf_eqb(&o, &msg));
			buf_free(&o);
			o = ossl_encrypt(pub, RSA_PKCS1_OAEP_PADDING, md_of(hh), lb, &msg);
			buf_reset(&pt);
			CHECK_INT(ops->asymmetric_decrypt(P, &a, ref, &g, o.data, o.len,
							  lb->data, lb->len, &pt), PSA_OK);
			CHECK(buf_eqb(&pt, &msg));
			/* The other label; a damaged ciphertext. */
			const struct buf *other = l ? &none : &label;
			buf_reset(&pt);
			CHECK_INT(ops->asymmetric_decrypt(P, &a, ref, &g, o.data, o.len,
							  other->data, other->len, &pt),
				  PSA_ERR_INVALID_PADDING);
			o.data[o.len / 2] ^= 1;
			CHECK_INT(ops->asymmetric_decrypt(P, &a, ref, &g, o.data, o.len,
							  lb->data, lb->len, &pt),
				  PSA_ERR_INVALID_PADDING);
			CHECK_INT(pt.len, 0);
			buf_free(&o);
		}
		/* Longest message: k - 2h - 2. */
		fill(&msg, klen - 2 * hl - 2, 4);
		buf_reset(&ct);
		CHECK_INT(ops->asymmetric_encrypt(P, &a, ref, &g, msg.data, msg.len, NULL, 0,
						  &ct), PSA_OK);
		o = ossl_decrypt(priv, RSA_PKCS1_OAEP_PADDING, md_of(hh), NULL, &ct);
		CHECK(buf_eqb(&o, &msg));
		buf_free(&o);
		fill(&msg, klen - 2 * hl - 1, 4);
		buf_reset(&ct);
		CHECK_INT(ops->asymmetric_encrypt(P, &a, ref, &g, msg.data, msg.len, NULL, 0,
						  &ct), PSA_ERR_INVALID_ARGUMENT);
	}
	g = alg_of(PSA_ALG_ENCRYPT, PSA_ENCRYPT_RSA_OAEP, PSA_HASH_ANY, 0);
	CHECK_INT(ops->asymmetric_encrypt(P, &a, ref, &g, msg.data, 1, NULL, 0, &ct),
		  PSA_ERR_INVALID_ARGUMENT);
	buf_free(&msg);
	buf_free(&ct);
	buf_free(&pt);
	buf_free(&label);
}

static void test_rsa_key(uint32_t bits)
{
	struct psa_attrs a = attrs(PSA_KEY_RSA_PAIR, 0, bits);
	struct buf ref = gen(a), pub, der;
	EVP_PKEY *kpub, *kpriv;

	pub = export_pub(a, &ref);
	der = export_key(a, &ref);
	kpub = ossl_rsa(&pub, 0);
	kpriv = ossl_rsa(&der, 1);
	CHECK(kpub && kpriv);
	if (!kpub || !kpriv)
		return;
	CHECK_INT(EVP_PKEY_get_bits(kpub), bits);
	CHECK_INT(EVP_PKEY_get_bits(kpriv), bits);
	{
		/* The pair is consistent and its public half is the export. */
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, kpriv, NULL);
		unsigned char *p = NULL;
		int len = i2d_PublicKey(kpriv, &p);

		CHECK_INT(EVP_PKEY_pairwise_check(c), 1);
		CHECK(buf_eq(&pub, p, (size_t)len));
		OPENSSL_free(p);
		EVP_PKEY_CTX_free(c);
		/* e = 65537 */
		BIGNUM *e = NULL;
		CHECK(EVP_PKEY_get_bn_param(kpub, OSSL_PKEY_PARAM_RSA_E, &e) &&
		      BN_get_word(e) == 65537);
		BN_free(e);
	}
	rsa_sign_tests(a, &ref, kpub, kpriv);
	rsa_encrypt_tests(a, &ref, kpub, kpriv);

	/* What keyd does for providers without verify or encrypt: the
	 * exported public key through pkey_from_public, with the pair's
	 * attributes (size left open). */
	{
		struct psa_attrs pa = attrs(PSA_KEY_RSA_PAIR, 0, 0);
		EVP_PKEY *k = NULL;
		struct buf h = digest(PSA_HASH_SHA_384, "fp", 2), sig = BUF_INIT,
			   ct = BUF_INIT, pt = BUF_INIT, msg = BUF_INIT, out = BUF_INIT;
		struct psa_alg g = sig_alg(PSA_SIGN_RSA_PSS, PSA_HASH_SHA_384);
		struct psa_alg enc = alg_of(PSA_ALG_ENCRYPT, PSA_ENCRYPT_RSA_OAEP,
					    PSA_HASH_SHA_1, 0);

		CHECK_INT(pkey_from_public(&pa, pub.data, pub.len, &k), PSA_OK);
		CHECK_INT(ops->sign_hash(P, &a, &ref, &g, h.data, h.len, &sig), PSA_OK);
		CHECK_INT(pkey_verify_hash(&pa, k, &g, h.data, h.len, sig.data, sig.len),
			  PSA_OK);
		sig.data[0] ^= 1;
		CHECK_INT(pkey_verify_hash(&pa, k, &g, h.data, h.len, sig.data, sig.len),
			  PSA_ERR_INVALID_SIGNATURE);
		fill(&msg, 30, 2);
		CHECK_INT(pkey_encrypt(&pa, k, &enc, msg.data, msg.len, NULL, 0, &ct), PSA_OK);
		CHECK_INT(ops->asymmetric_decrypt(P, &a, &ref, &enc, ct.data, ct.len, NULL, 0,
						  &pt), PSA_OK);
		CHECK(buf_eqb(&pt, &msg));
		/* Only the public half: no signature, no private export. */
		CHECK_INT(pkey_sign_hash(&pa, k, &g, h.data, h.len, &out),
			  PSA_ERR_INVALID_ARGUMENT);
		CHECK_INT(pkey_decrypt(&pa, k, &enc, ct.data, ct.len, NULL, 0, &out),
			  PSA_ERR_INVALID_ARGUMENT);
		CHECK_INT(pkey_export_private(&pa, k, &out), PSA_ERR_INVALID_ARGUMENT);
		CHECK_INT(out.len, 0);
		CHECK_INT(pkey_export_public(&pa, k, &out), PSA_OK);
		CHECK(buf_eqb(&out, &pub));
		EVP_PKEY_free(k);
		buf_free(&h);
		buf_free(&sig);
		buf_free(&ct);
		buf_free(&pt);
		buf_free(&msg);
		buf_free(&out);
	}

	/* The public key imported alone verifies and encrypts, and
	 * refuses to sign or decrypt. */
	{
		struct psa_attrs pa = attrs(PSA_KEY_RSA_PUBLIC, 0, 0);
		struct buf pref = BUF_INIT, h = digest(PSA_HASH_SHA_256, "p", 1), sig,
			   out = BUF_INIT, msg = BUF_INIT;
		struct psa_alg g = sig_alg(PSA_SIGN_RSA_PKCS1V15, PSA_HASH_SHA_256);
		struct psa_alg enc = alg_of(PSA_ALG_ENCRYPT, PSA_ENCRYPT_RSA_OAEP,
					    PSA_HASH_SHA_256, 0);

		CHECK_INT(ops->import(P, &pa, pub.data, pub.len, &pref), PSA_OK);
		sig = ossl_sign(kpriv, RSA_PKCS1_PADDING, md_of(PSA_HASH_SHA_256), 0, &h);
		CHECK_INT(ops->verify_hash(P, &pa, &pref, &g, h.data, h.len, sig.data,
					   sig.len), PSA_OK);
		pa.bits = bits;
		CHECK_INT(ops->verify_hash(P, &pa, &pref, &g, h.data, h.len, sig.data,
					   sig.len), PSA_OK);
		CHECK_INT(ops->sign_hash(P, &pa, &pref, &g, h.data, h.len, &out),
			  PSA_ERR_INVALID_ARGUMENT);
		fill(&msg, 16, 1);
		CHECK_INT(ops->asymmetric_encrypt(P, &pa, &pref, &enc, msg.data, msg.len,
						  NULL, 0, &out), PSA_OK);
		struct buf o = ossl_decrypt(kpriv, RSA_PKCS1_OAEP_PADDING,
					    md_of(PSA_HASH_SHA_256), NULL, &out);
		CHECK(buf_eqb(&o, &msg));
		struct buf pt = BUF_INIT;
		CHECK_INT(ops->asymmetric_decrypt(P, &pa, &pref, &enc, out.data, out.len,
						  NULL, 0, &pt), PSA_ERR_INVALID_ARGUMENT);
		/* export_key of a public key is the public key. */
		buf_reset(&out);
		CHECK_INT(ops->export_key(P, &pa, &pref, &out), PSA_OK);
		CHECK(buf_eqb(&out, &pub));
		buf_reset(&out);
		CHECK_INT(ops->export_public(P, &pa, &pref, &out), PSA_OK);
		CHECK(buf_eqb(&out, &pub));
		/* A public-key import of the private key is refused. */
		buf_reset(&out);
		pa.bits = 0;
		CHECK_INT(ops->import(P, &pa, der.data, der.len, &out),
			  PSA_ERR_INVALID_ARGUMENT);
		buf_free(&o);
		buf_free(&pt);
		buf_free(&pref);
		buf_free(&h);
		buf_free(&sig);
		buf_free(&out);
		buf_free(&msg);
	}
	EVP_PKEY_free(kpub);
	EVP_PKEY_free(kpriv);
	buf_free(&ref);
	buf_free(&pub);
	buf_free(&der);
}

/* An RSAPrivateKey whose d does not belong to its n and e. */
static struct buf rsa_broken_der(EVP_PKEY *k)
{
	static const char *const names[] = {
		OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E, OSSL_PKEY_PARAM_RSA_D,
		OSSL_PKEY_PARAM_RSA_FACTOR1, OSSL_PKEY_PARAM_RSA_FACTOR2,
		OSSL_PKEY_PARAM_RSA_EXPONENT1, OSSL_PKEY_PARAM_RSA_EXPONENT2,
		OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
	};
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *v[8] = { 0 };
	OSSL_PARAM *params;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *bad = NULL;
	OSSL_ENCODER_CTX *ectx;
	unsigned char *p = NULL;
	size_t len = 0;
	struct buf out = BUF_INIT;

	for (int i = 0; i < 8; i++) {
		EVP_PKEY_get_bn_param(k, names[i], &v[i]);
		if (i == 2)
			BN_add_word(v[i], 2);
		OSSL_PARAM_BLD_push_BN(bld, names[i], v[i]);
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_fromdata_init(ctx);
	EVP_PKEY_fromdata(ctx, &bad, EVP_PKEY_KEYPAIR, params);
	ectx = OSSL_ENCODER_CTX_new_for_pkey(bad, EVP_PKEY_KEYPAIR, "DER", "type-specific",
					     NULL);
	OSSL_ENCODER_to_data(ectx, &p, &len);
	buf_append(&out, p, len);
	OPENSSL_free(p);
	OSSL_ENCODER_CTX_free(ectx);
	EVP_PKEY_free(bad);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	for (int i = 0; i < 8; i++)
		BN_clear_free(v[i]);
	return out;
}

static void test_rsa_import(void)
{
	EVP_PKEY *k = ossl_gen("RSA", NULL, 2048);
	OSSL_ENCODER_CTX *ectx = OSSL_ENCODER_CTX_new_for_pkey(k, EVP_PKEY_KEYPAIR, "DER",
							       "type-specific", NULL);
	unsigned char *p = NULL, *q = NULL;
	size_t len = 0;
	int qlen;
	struct buf der = BUF_INIT, pub = BUF_INIT, ref = BUF_INIT, out = BUF_INIT;
	struct psa_attrs a = attrs(PSA_KEY_RSA_PAIR, 0, 0);

	OSSL_ENCODER_to_data(ectx, &p, &len);
	buf_append(&der, p, len);
	OPENSSL_clear_free(p, len);
	OSSL_ENCODER_CTX_free(ectx);
	qlen = i2d_PublicKey(k, &q);
	buf_append(&pub, q, (size_t)qlen);
	OPENSSL_free(q);

	/* Bits from the data; the stored key is the given DER. */
	CHECK_INT(ops->import(P, &a, der.data, der.len, &ref), PSA_OK);
	CHECK_INT(ops->export_key(P, &a, &ref, &out), PSA_OK);
	CHECK(buf_eqb(&out, &der));
	buf_reset(&out);
	CHECK_INT(ops->export_public(P, &a, &ref, &out), PSA_OK);
	CHECK(buf_eqb(&out, &pub));
	a.bits = 2048;
	buf_reset(&out);
	CHECK_INT(ops->export_public(P, &a, &ref, &out), PSA_OK);
	CHECK(buf_eqb(&out, &pub));
	buf_reset(&ref);
	CHECK_INT(ops->import(P, &a, der.data, der.len, &ref), PSA_OK);
	/* Wrong size said; junk; a byte too many or too few; the wrong
	 * form; a d that does not fit. */
	a.bits = 3072;
	buf_reset(&ref);
	CHECK_INT(ops->import(P, &a, der.data, der.len, &ref), PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(ref.len, 0);
	a.bits = 0;
	CHECK_INT(ops->import(P, &a, (const uint8_t *)"junk", 4, &ref),
		  PSA_ERR_INVALID_ARGUMENT);
	buf_append_u8(&der, 0);
	CHECK_INT(ops->import(P, &a, der.data, der.len, &ref), PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(ops->import(P, &a, der.data, der.len - 2, &ref), PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(ops->import(P, &a, pub.data, pub.len, &ref), PSA_ERR_INVALID_ARGUMENT);
	struct buf broken = rsa_broken_der(k);
	CHECK(broken.len > 0);
	CHECK_INT(ops->import(P, &a, broken.data, broken.len, &ref),
		  PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(ref.len, 0);

	/* Sizes outside 1024..8192 are not supported. */
	EVP_PKEY *small = ossl_gen("RSA", NULL, 768);
	q = NULL;
	qlen = i2d_PublicKey(small, &q);
	a = attrs(PSA_KEY_RSA_PUBLIC, 0, 0);
	CHECK_INT(ops->import(P, &a, q, (size_t)qlen, &ref), PSA_ERR_NOT_SUPPORTED);
	OPENSSL_free(q);
	EVP_PKEY_free(small);
	a = attrs(PSA_KEY_RSA_PAIR, 0, 512);
	CHECK_INT(ops->generate(P, &a, &ref), PSA_ERR_NOT_SUPPORTED);
	a.bits = 0;
	CHECK_INT(ops->generate(P, &a, &ref), PSA_ERR_INVALID_ARGUMENT);
	a = attrs(PSA_KEY_RSA_PUBLIC, 0, 2048);
	CHECK_INT(ops->generate(P, &a, &ref), PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(ref.len, 0);

	EVP_PKEY_free(k);
	buf_free(&der);
	buf_free(&pub);
	buf_free(&ref);
	buf_free(&out);
	buf_free(&broken);
}

/* ---- ECC ---- */

struct curve {
	int family;
	uint32_t bits;
	const char *group;	/* OpenSSL's name */
	enum psa_hash hash;
};

static const struct curve curves[] = {
	{ PSA_ECC_SECP_R1, 224, "P-224", PSA_HASH_SHA_224 },
	{ PSA_ECC_SECP_R1, 256, "P-256", PSA_HASH_SHA_256 },
	{ PSA_ECC_SECP_R1, 384, "P-384", PSA_HASH_SHA_384 },
	{ PSA_ECC_SECP_R1, 521, "P-521", PSA_HASH_SHA_512 },
	{ PSA_ECC_SECP_K1, 256, "secp256k1", PSA_HASH_SHA_256 },
	{ PSA_ECC_BRAINPOOL_P_R1, 256, "brainpoolP256r1", PSA_HASH_SHA_256 },
	{ PSA_ECC_BRAINPOOL_P_R1, 384, "brainpoolP384r1", PSA_HASH_SHA_384 },
	{ PSA_ECC_BRAINPOOL_P_R1, 512, "brainpoolP512r1", PSA_HASH_SHA_512 },
};

static struct buf ossl_derive(EVP_PKEY *k, EVP_PKEY *peer)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
	struct buf out = BUF_INIT;
	size_t len = 0;

	if (EVP_PKEY_derive_init(ctx) > 0 && EVP_PKEY_derive_set_peer(ctx, peer) > 0 &&
	    EVP_PKEY_derive(ctx, NULL, &len) > 0 && buf_reserve(&out, len) == 0 &&
	    EVP_PKEY_derive(ctx, out.data, &len) > 0)
		out.len = len;
	EVP_PKEY_CTX_free(ctx);
	return out;
}

static void ecdsa_tests(const struct curve *c, struct psa_attrs a, const struct buf *ref,
			EVP_PKEY *pub, EVP_PKEY *priv)
{
	size_t fl = (c->bits + 7) / 8;
	struct buf h = digest(c->hash, "ecdsa", 5), s1 = BUF_INIT, s2 = BUF_INIT, der, o;
	struct psa_alg g = sig_alg(PSA_SIGN_ECDSA, c->hash);

	/* Randomized: two signatures differ, both verify with OpenSSL. */
	CHECK_INT(ops->sign_hash(P, &a, ref, &g, h.data, h.len, &s1), PSA_OK);
	CHECK_INT(ops->sign_hash(P, &a, ref, &g, h.data, h.len, &s2), PSA_OK);
	CHECK_INT(s1.len, 2 * fl);
	CHECK(!buf_eqb(&s1, &s2));
	der = sig_to_der(&s1);
	CHECK(ossl_verify(pub, 0, NULL, 0, &h, &der));
	buf_free(&der);
	/* OpenSSL's signature verifies here. */
	der = ossl_sign(priv, 0, NULL, 0, &h);
	o = sig_to_raw(&der, fl);
	CHECK_INT(ops->verify_hash(P, &a, ref, &g, h.data, h.len, o.data, o.len), PSA_OK);
	/* Failures. */
	CHECK_INT(ops->verify_hash(P, &a, ref, &g, h.data, h.len, o.data, o.len - 1),
		  PSA_ERR_INVALID_SIGNATURE);
	CHECK_INT(ops->verify_hash(P, &a, ref, &g, h.data, h.len, der.data, der.len),
		  PSA_ERR_INVALID_SIGNATURE);	/* DER is not PSA's format */
	CHECK_INT(ops->verify_hash(P, &a, ref, &g, h.data, h.len - 1, o.data, o.len),
		  PSA_ERR_INVALID_ARGUMENT);
	o.data[fl + 3] ^= 1;
	CHECK_INT(ops->verify_hash(P, &a, ref, &g, h.data, h.len, o.data, o.len),
		  PSA_ERR_INVALID_SIGNATURE);
	memset(o.data, 0, fl);	/* r = 0 */
	CHECK_INT(ops->verify_hash(P, &a, ref, &g, h.data, h.len, o.data, o.len),
		  PSA_ERR_INVALID_SIGNATURE);
	memset(o.data, 0xff, o.len);	/* r, s >= n */
	CHECK_INT(ops->verify_hash(P, &a, ref, &g, h.data, h.len, o.data, o.len),
		  PSA_ERR_INVALID_SIGNATURE);
	buf_reset(&s2);
	CHECK_INT(ops->sign_hash(P, &a, ref, &g, h.data, h.len + 1, &s2),
		  PSA_ERR_INVALID_ARGUMENT);
	buf_free(&der);
	buf_free(&o);

	/* Deterministic: the same signature twice, verified by OpenSSL. */
	g = sig_alg(PSA_SIGN_DETERMINISTIC_ECDSA, c->hash);
	buf_reset(&s1);
	buf_reset(&s2);
	CHECK_INT(ops->sign_hash(P, &a, ref, &g, h.data, h.len, &s1), PSA_OK);
	CHECK_INT(ops->sign_hash(P, &a, ref, &g, h.data, h.len, &s2), PSA_OK);
	CHECK(s1.len == 2 * fl && buf_eqb(&s1, &s2));
	der = sig_to_der(&s1);
	CHECK(ossl_verify(pub, 0, NULL, 0, &h, &der));
	buf_free(&der);
	CHECK_INT(ops->verify_hash(P, &a, ref, &g, h.data, h.len, s1.data, s1.len), PSA_OK);
	/* Another hash, another signature. */
	h.data[0] ^= 1;
	buf_reset(&s2);
	CHECK_INT(ops->sign_hash(P, &a, ref, &g, h.data, h.len, &s2), PSA_OK);
	CHECK(!buf_eqb(&s1, &s2));
	CHECK_INT(ops->verify_hash(P, &a, ref, &g, h.data, h.len, s1.data, s1.len),
		  PSA_ERR_INVALID_SIGNATURE);

	/* ECDSA-any: inputs of any size, truncated as ECDSA says. */
	g = sig_alg(PSA_SIGN_ECDSA_ANY, PSA_HASH_NONE);
	static const size_t sizes[] = { 1, 20, 32, 64 };
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		struct buf in = BUF_INIT;

		fill(&in, sizes[i], (uint8_t)(i + 1));
		buf_reset(&s1);
		CHECK_INT(ops->sign_hash(P, &a, ref, &g, in.data, in.len, &s1), PSA_OK);
		der = sig_to_der(&s1);
		CHECK(ossl_verify(pub, 0, NULL, 0, &in, &der));
		CHECK_INT(ops->verify_hash(P, &a, ref, &g, in.data, in.len, s1.data, s1.len),
			  PSA_OK);
		buf_free(&der);
		buf_free(&in);
	}
	buf_reset(&s1);
	CHECK_INT(ops->sign_hash(P, &a, ref, &g, h.data, 0, &s1), PSA_ERR_INVALID_ARGUMENT);
	/* An ECC key does not do RSA. */
	g = sig_alg(PSA_SIGN_RSA_PSS, c->hash);
	CHECK_INT(ops->sign_hash(P, &a, ref, &g, h.data, h.len, &s1), PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(s1.len, 0);
	buf_free(&h);
	buf_free(&s1);
	buf_free(&s2);
}

static void ecdh_tests(const struct curve *c, struct psa_attrs a, const struct buf *ref,
		       EVP_PKEY *priv)
{
	size_t fl = (c->bits + 7) / 8;
	EVP_PKEY *peer = ossl_gen("EC", c->group, 0);
	struct buf pp = ossl_ec_point(peer), out = BUF_INIT, want;
	struct psa_alg g = alg_of(PSA_ALG_KEY_AGREEMENT, PSA_KA_ECDH, 0, 0);

	CHECK_INT(ops->raw_key_agreement(P, &a, ref, &g, pp.data, pp.len, &out), PSA_OK);
	want = ossl_derive(priv, peer);
	CHECK(want.len == fl && buf_eqb(&out, &want));
	buf_free(&want);
	/* The peer's side agrees. */
	want = ossl_derive(peer, priv);
	CHECK(buf_eqb(&out, &want));
	buf_free(&want);
	/* Bad peers: off the curve, compressed, cut, infinity. */
	buf_reset(&out);
	pp.data[pp.len - 1] ^= 1;
	CHECK_INT(ops->raw_key_agreement(P, &a, ref, &g, pp.data, pp.len, &out),
		  PSA_ERR_INVALID_ARGUMENT);
	pp.data[pp.len - 1] ^= 1;
	pp.data[0] = 0x02;
	CHECK_INT(ops->raw_key_agreement(P, &a, ref, &g, pp.data, 1 + fl, &out),
		  PSA_ERR_INVALID_ARGUMENT);
	pp.data[0] = 0x04;
	CHECK_INT(ops->raw_key_agreement(P, &a, ref, &g, pp.data, pp.len - 2, &out),
		  PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(ops->raw_key_agreement(P, &a, ref, &g, (const uint8_t *)"", 1, &out),
		  PSA_ERR_INVALID_ARGUMENT);
	/* FFDH is not offered; a KDF is not raw agreement. */
	g.variant = PSA_KA_FFDH;
	CHECK_INT(ops->raw_key_agreement(P, &a, ref, &g, pp.data, pp.len, &out),
		  PSA_ERR_NOT_SUPPORTED);
	g.variant = PSA_KA_ECDH;
	g.kdf = 1;
	g.kdf_hash = PSA_HASH_SHA_256;
	CHECK_INT(ops->raw_key_agreement(P, &a, ref, &g, pp.data, pp.len, &out),
		  PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(out.len, 0);
	EVP_PKEY_free(peer);
	buf_free(&pp);
	buf_free(&out);
}

static void test_ecc_curve(const struct curve *c)
{
	struct psa_attrs a = attrs(PSA_KEY_ECC_PAIR, c->family, c->bits);
	size_t fl = (c->bits + 7) / 8;
	struct buf ref = gen(a), pub, priv;
	EVP_PKEY *kpub, *kpriv;

	pub = export_pub(a, &ref);
	priv = export_key(a, &ref);
	CHECK_INT(pub.len, 1 + 2 * fl);
	CHECK_INT(pub.data[0], 4);
	CHECK_INT(priv.len, fl);
	kpub = ossl_ec(c->group, &pub, NULL);
	kpriv = ossl_ec(c->group, &pub, &priv);
	CHECK(kpub && kpriv);
	if (!kpub || !kpriv) {
		printf("curve %s: no OpenSSL key\n", c->group);
		return;
	}
	{
		EVP_PKEY_CTX *x = EVP_PKEY_CTX_new_from_pkey(NULL, kpriv, NULL);

		CHECK_INT(EVP_PKEY_pairwise_check(x), 1);
		EVP_PKEY_CTX_free(x);
	}
	ecdsa_tests(c, a, &ref, kpub, kpriv);
	ecdh_tests(c, a, &ref, kpriv);

	/* A key made by OpenSSL, imported with its size left open. */
	{
		EVP_PKEY *k = ossl_gen("EC", c->group, 0);
		struct buf d = ossl_ec_scalar(k, fl), q = ossl_ec_point(k), r2 = BUF_INIT,
			   out = BUF_INIT;
		struct psa_attrs ia = attrs(PSA_KEY_ECC_PAIR, c->family, 0);

		CHECK_INT(ops->import(P, &ia, d.data, d.len, &r2), PSA_OK);
		CHECK_INT(ops->export_public(P, &ia, &r2, &out), PSA_OK);
		CHECK(buf_eqb(&out, &q));
		buf_reset(&out);
		CHECK_INT(ops->export_key(P, &ia, &r2, &out), PSA_OK);
		CHECK(buf_eqb(&out, &d));
		/* Its public key alone. */
		struct psa_attrs pa = attrs(PSA_KEY_ECC_PUBLIC, c->family, 0);
		struct buf r3 = BUF_INIT, h = digest(c->hash, "i", 1), der, raw;
		struct psa_alg g = sig_alg(PSA_SIGN_ECDSA, c->hash);

		CHECK_INT(ops->import(P, &pa, q.data, q.len, &r3), PSA_OK);
		der = ossl_sign(k, 0, NULL, 0, &h);
		raw = sig_to_raw(&der, fl);
		CHECK_INT(ops->verify_hash(P, &pa, &r3, &g, h.data, h.len, raw.data, raw.len),
			  PSA_OK);
		buf_reset(&out);
		CHECK_INT(ops->sign_hash(P, &pa, &r3, &g, h.data, h.len, &out),
			  PSA_ERR_INVALID_ARGUMENT);
		CHECK_INT(ops->export_key(P, &pa, &r3, &out), PSA_OK);
		CHECK(buf_eqb(&out, &q));
		/* Public imports that must fail. */
		buf_reset(&r3);
		q.data[q.len - 1] ^= 1;
		CHECK_INT(ops->import(P, &pa, q.data, q.len, &r3), PSA_ERR_INVALID_ARGUMENT);
		q.data[q.len - 1] ^= 1;
		q.data[0] = 3;
		CHECK_INT(ops->import(P, &pa, q.data, 1 + fl, &r3), PSA_ERR_INVALID_ARGUMENT);
		q.data[0] = 4;
		CHECK_INT(ops->import(P, &pa, q.data, q.len - 1, &r3), PSA_ERR_INVALID_ARGUMENT);
		/* Another size of the same family. */
		static const uint32_t sizes[] = { 224, 256, 384, 512, 521 };
		for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
			pa.bits = sizes[i];
			if (sizes[i] != c->bits && psa_ecc_group(c->family, sizes[i]))
				CHECK_INT(ops->import(P, &pa, q.data, q.len, &r3),
					  PSA_ERR_INVALID_ARGUMENT);
		}
		CHECK_INT(r3.len, 0);
		/* Private imports that must fail: 0, the order, a byte short. */
		struct buf zero = BUF_INIT, order = BUF_INIT;
		fill(&zero, fl, 0);
		memset(zero.data, 0, fl);
		CHECK_INT(ops->import(P, &ia, zero.data, zero.len, &r3),
			  PSA_ERR_INVALID_ARGUMENT);
		EC_GROUP *grp = EC_GROUP_new_by_curve_name(
			EC_curve_nist2nid(c->group) != NID_undef ? EC_curve_nist2nid(c->group)
								 : OBJ_sn2nid(c->group));
		buf_reserve(&order, fl);
		BN_bn2binpad(EC_GROUP_get0_order(grp), order.data, (int)fl);
		order.len = fl;
		CHECK_INT(ops->import(P, &ia, order.data, order.len, &r3),
			  PSA_ERR_INVALID_ARGUMENT);
		order.data[fl - 1] -= 1;	/* n - 1 is a key */
		CHECK_INT(ops->import(P, &ia, order.data, order.len, &r3), PSA_OK);
		buf_reset(&r3);
		CHECK_INT(ops->import(P, &ia, d.data, d.len - 1, &r3),
			  PSA_ERR_INVALID_ARGUMENT);
		EC_GROUP_free(grp);
		buf_free(&zero);
		buf_free(&order);
		buf_free(&raw);
		buf_free(&der);
		buf_free(&h);
		buf_free(&r3);
		buf_free(&d);
		buf_free(&q);
		buf_free(&r2);
		buf_free(&out);
		EVP_PKEY_free(k);
	}
	EVP_PKEY_free(kpub);
	EVP_PKEY_free(kpriv);
	buf_free(&ref);
	buf_free(&pub);
	buf_free(&priv);
}

static void test_ecc_unsupported(void)
{
	struct buf ref = BUF_INIT;
	struct psa_attrs a;
	uint8_t d[32] = { 1 };

	a = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_SECP_R1, 192);
	CHECK_INT(ops->generate(P, &a, &ref), PSA_ERR_NOT_SUPPORTED);
	a = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_SECP_K1, 224);
	CHECK_INT(ops->generate(P, &a, &ref), PSA_ERR_NOT_SUPPORTED);
	a = attrs(PSA_KEY_ECC_PAIR, 3 /* SECP_R2 */, 160);
	CHECK_INT(ops->generate(P, &a, &ref), PSA_ERR_NOT_SUPPORTED);
	a = attrs(PSA_KEY_ECC_PAIR, 3, 0);
	CHECK_INT(ops->import(P, &a, d, sizeof d, &ref), PSA_ERR_NOT_SUPPORTED);
	a = attrs(PSA_KEY_ECC_PUBLIC, 3, 0);
	CHECK_INT(ops->import(P, &a, d, sizeof d, &ref), PSA_ERR_NOT_SUPPORTED);
	a = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_SECP_R1, 192);
	CHECK_INT(ops->import(P, &a, d, 24, &ref), PSA_ERR_NOT_SUPPORTED);
	/* Sizes are deduced within a family, or refused. */
	a = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_SECP_R1, 0);
	CHECK_INT(ops->import(P, &a, d, 20, &ref), PSA_ERR_INVALID_ARGUMENT);
	a = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_SECP_R1, 0);
	CHECK_INT(ops->generate(P, &a, &ref), PSA_ERR_INVALID_ARGUMENT);
	/* Other key types this provider does not keep. */
	a = attrs(PSA_KEY_DH_PAIR, 0, 2048);
	CHECK_INT(ops->generate(P, &a, &ref), PSA_ERR_NOT_SUPPORTED);
	a = attrs(PSA_KEY_DES, 0, 64);
	CHECK_INT(ops->generate(P, &a, &ref), PSA_ERR_NOT_SUPPORTED);
	CHECK_INT(ops->import(P, &a, d, 8, &ref), PSA_ERR_NOT_SUPPORTED);
	a = attrs(PSA_KEY_CAMELLIA, 0, 128);
	CHECK_INT(ops->generate(P, &a, &ref), PSA_ERR_NOT_SUPPORTED);
	a = attrs(PSA_KEY_ARC4, 0, 128);
	CHECK_INT(ops->import(P, &a, d, 16, &ref), PSA_ERR_NOT_SUPPORTED);
	CHECK_INT(ref.len, 0);
	buf_free(&ref);
}

/* RFC 6979 A.2.5 (P-256), and some of A.2.4, A.2.6, A.2.7: the key, the
 * hash of "sample" or "test", and r||s. */
struct det_vector {
	uint32_t bits;
	const char *x;
	enum psa_hash hash;
	const char *msg;
	const char *r, *s;
};

static const struct det_vector det_vectors[] = {
	{ 256, "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721",
	  PSA_HASH_SHA_1, "sample",
	  "61340C88C3AAEBEB4F6D667F672CA9759A6CCAA9FA8811313039EE4A35471D32",
	  "6D7F147DAC089441BB2E2FE8F7A3FA264B9C475098FDCF6E00D7C996E1B8B7EB" },
	{ 256, "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721",
	  PSA_HASH_SHA_224, "sample",
	  "53B2FFF5D1752B2C689DF257C04C40A587FABABB3F6FC2702F1343AF7CA9AA3F",
	  "B9AFB64FDC03DC1A131C7D2386D11E349F070AA432A4ACC918BEA988BF75C74C" },
	{ 256, "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721",
	  PSA_HASH_SHA_256, "sample",
	  "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716",
	  "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8" },
	{ 256, "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721",
	  PSA_HASH_SHA_384, "sample",
	  "0EAFEA039B20E9B42309FB1D89E213057CBF973DC0CFC8F129EDDDC800EF7719",
	  "4861F0491E6998B9455193E34E7B0D284DDD7149A74B95B9261F13ABDE940954" },
	{ 256, "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721",
	  PSA_HASH_SHA_512, "sample",
	  "8496A60B5E9B47C825488827E0495B0E3FA109EC4568FD3F8D1097678EB97F00",
	  "2362AB1ADBE2B8ADF9CB9EDAB740EA6049C028114F2460F96554F61FAE3302FE" },
	{ 256, "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721",
	  PSA_HASH_SHA_1, "test",
	  "0CBCC86FD6ABD1D99E703E1EC50069EE5C0B4BA4B9AC60E409E8EC5910D81A89",
	  "01B9D7B73DFAA60D5651EC4591A0136F87653E0FD780C3B1BC872FFDEAE479B1" },
	{ 256, "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721",
	  PSA_HASH_SHA_224, "test",
	  "C37EDB6F0AE79D47C3C27E962FA269BB4F441770357E114EE511F662EC34A692",
	  "C820053A05791E521FCAAD6042D40AEA1D6B1A540138558F47D0719800E18F2D" },
	{ 256, "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721",
	  PSA_HASH_SHA_256, "test",
	  "F1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367",
	  "019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083" },
	{ 256, "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721",
	  PSA_HASH_SHA_384, "test",
	  "83910E8B48BB0C74244EBDF7F07A1C5413D61472BD941EF3920E623FBCCEBEB6",
	  "8DDBEC54CF8CD5874883841D712142A56A8D0F218F5003CB0296B6B509619F2C" },
	{ 256, "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721",
	  PSA_HASH_SHA_512, "test",
	  "461D93F31B6540894788FD206C07CFA0CC35F46FA3C91816FFF1040AD1581A04",
	  "39AF9F15DE0DB8D97E72719C74820D304CE5226E32DEDAE67519E840D1194E55" },
	/* P-224: a hash longer than the order (bits2int truncates). */
	{ 224, "F220266E1105BFE3083E03EC7A3A654651F45E37167E88600BF257C1",
	  PSA_HASH_SHA_256, "sample",
	  "61AA3DA010E8E8406C656BC477A7A7189895E7E840CDFE8FF42307BA",
	  "BC814050DAB5D23770879494F9E0A680DC1AF7161991BDE692B10101" },
	{ 224, "F220266E1105BFE3083E03EC7A3A654651F45E37167E88600BF257C1",
	  PSA_HASH_SHA_1, "sample",
	  "22226F9D40A96E19C4A301CE5B74B115303C0F3A4FD30FC257FB57AC",
	  "66D1CDD83E3AF75605DD6E2FEFF196D30AA7ED7A2EDF7AF475403D69" },
	{ 384, "6B9D3DAD2E1B8C1C05B19875B6659F4DE23C3B667BF297BA9AA47740787137D8"
	       "96D5724E4C70A825F872C9EA60D2EDF5",
	  PSA_HASH_SHA_256, "sample",
	  "21B13D1E013C7FA1392D03C5F99AF8B30C570C6F98D4EA8E354B63A21D3DAA33"
	  "BDE1E888E63355D92FA2B3C36D8FB2CD",
	  "F3AA443FB107745BF4BD77CB3891674632068A10CA67E3D45DB2266FA7D1FEEB"
	  "EFDC63ECCD1AC42EC0CB8668A4FA0AB0" },
	{ 384, "6B9D3DAD2E1B8C1C05B19875B6659F4DE23C3B667BF297BA9AA47740787137D8"
	       "96D5724E4C70A825F872C9EA60D2EDF5",
	  PSA_HASH_SHA_512, "test",
	  "A0D5D090C9980FAF3C2CE57B7AE951D31977DD11C775D314AF55F76C676447D0"
	  "6FB6495CD21B4B6E340FC236584FB277",
	  "976984E59B4C77B0E8E4460DCA3D9F20E07B9BB1F63BEEFAF576F6B2E8B22463"
	  "4A2092CD3792E0159AD9CEE37659C736" },
	/* P-521: a 521-bit order, rlen 66. */
	{ 521, "00FAD06DAA62BA3B25D2FB40133DA757205DE67F5BB0018FEE8C86E1B68C7E75C"
	       "AA896EB32F1F47C70855836A6D16FCC1466F6D8FBEC67DB89EC0C08B0E996B83538",
	  PSA_HASH_SHA_1, "sample",
	  "00343B6EC45728975EA5CBA6659BBB6062A5FF89EEA58BE3C80B619F322C87910"
	  "FE092F7D45BB0F8EEE01ED3F20BABEC079D202AE677B243AB40B5431D497C55D75D",
	  "00E7B0E675A9B24413D448B8CC119D2BF7B2D2DF032741C096634D6D65D0DBE3D"
	  "5694625FB9E8104D3B842C1B0E2D0B98BEA19341E8676AEF66AE4EBA3D5475D5D16" },
	{ 521, "00FAD06DAA62BA3B25D2FB40133DA757205DE67F5BB0018FEE8C86E1B68C7E75C"
	       "AA896EB32F1F47C70855836A6D16FCC1466F6D8FBEC67DB89EC0C08B0E996B83538",
	  PSA_HASH_SHA_512, "sample",
	  "00C328FAFCBD79DD77850370C46325D987CB525569FB63C5D3BC53950E6D4C5F1"
	  "74E25A1EE9017B5D450606ADD152B534931D7D4E8455CC91F9B15BF05EC36E377FA",
	  "00617CCE7CF5064806C467F678D3B4080D6F1CC50AF26CA209417308281B68AF2"
	  "82623EAA63E5B5C0723D8B8C37FF0777B1A20F8CCB1DCCC43997F1EE0E44DA4A67A" },
};

static void test_rfc6979(void)
{
	for (size_t i = 0; i < sizeof det_vectors / sizeof *det_vectors; i++) {
		const struct det_vector *v = &det_vectors[i];
		struct psa_attrs a = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_SECP_R1, v->bits);
		struct buf x = hex(v->x), r = hex(v->r), s = hex(v->s), ref = BUF_INIT,
			   sig = BUF_INIT, h = digest(v->hash, v->msg, strlen(v->msg));
		struct psa_alg g = sig_alg(PSA_SIGN_DETERMINISTIC_ECDSA, v->hash);

		buf_append(&r, s.data, s.len);
		CHECK_INT(ops->import(P, &a, x.data, x.len, &ref), PSA_OK);
		CHECK_INT(ops->sign_hash(P, &a, &ref, &g, h.data, h.len, &sig), PSA_OK);
		if (!buf_eqb(&sig, &r))
			printf("RFC 6979 vector %zu (P-%u, hash %d, %s) differs\n", i, v->bits,
			       v->hash, v->msg);
		CHECK(buf_eqb(&sig, &r));
		/* pkey_sign_hash directly, on a key imported by pkey_import. */
		{
			struct psa_attrs ka = a;
			EVP_PKEY *k = NULL;
			struct buf sig2 = BUF_INIT;

			CHECK_INT(pkey_import(&ka, x.data, x.len, &k), PSA_OK);
			CHECK_INT(pkey_sign_hash(&ka, k, &g, h.data, h.len, &sig2), PSA_OK);
			CHECK(buf_eqb(&sig2, &r));
			EVP_PKEY_free(k);
			buf_free(&sig2);
		}
		buf_free(&x);
		buf_free(&r);
		buf_free(&s);
		buf_free(&ref);
		buf_free(&sig);
		buf_free(&h);
	}
}

/* ---- Montgomery ---- */

static void test_montgomery(uint32_t bits, const char *name)
{
	struct psa_attrs a = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_MONTGOMERY, bits);
	size_t fl = bits == 255 ? 32 : 56;
	struct buf ref = gen(a), pub, priv, out = BUF_INIT, want = BUF_INIT;
	EVP_PKEY *k, *peer = ossl_gen(name, NULL, 0);
	struct psa_alg g = alg_of(PSA_ALG_KEY_AGREEMENT, PSA_KA_ECDH, 0, 0);
	unsigned char pp[56];
	size_t pl = sizeof pp;

	pub = export_pub(a, &ref);
	priv = export_key(a, &ref);
	CHECK_INT(pub.len, fl);
	CHECK_INT(priv.len, fl);
	k = EVP_PKEY_new_raw_private_key_ex(NULL, name, NULL, priv.data, priv.len);
	{
		unsigned char kp[56];
		size_t kl = sizeof kp;

		EVP_PKEY_get_raw_public_key(k, kp, &kl);
		CHECK(buf_eq(&pub, kp, kl));
	}
	EVP_PKEY_get_raw_public_key(peer, pp, &pl);
	CHECK_INT(ops->raw_key_agreement(P, &a, &ref, &g, pp, pl, &out), PSA_OK);
	want = ossl_derive(peer, k);
	CHECK(want.len == fl && buf_eqb(&out, &want));
	/* Bad peers: the wrong size, a point of small order (u = 0). */
	buf_reset(&out);
	CHECK_INT(ops->raw_key_agreement(P, &a, &ref, &g, pp, pl - 1, &out),
		  PSA_ERR_INVALID_ARGUMENT);
	memset(pp, 0, sizeof pp);
	CHECK_INT(ops->raw_key_agreement(P, &a, &ref, &g, pp, pl, &out),
		  PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(out.len, 0);
	/* No ECDSA on Montgomery curves. */
	{
		struct buf h = digest(PSA_HASH_SHA_256, "m", 1);
		struct psa_alg sg = sig_alg(PSA_SIGN_ECDSA, PSA_HASH_SHA_256);

		CHECK_INT(ops->sign_hash(P, &a, &ref, &sg, h.data, h.len, &out),
			  PSA_ERR_INVALID_ARGUMENT);
		buf_free(&h);
	}
	/* Import of the raw private key, size from the data. */
	{
		struct psa_attrs ia = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_MONTGOMERY, 0);
		struct buf r2 = BUF_INIT;

		CHECK_INT(ops->import(P, &ia, priv.data, priv.len, &r2), PSA_OK);
		CHECK_INT(ops->export_public(P, &ia, &r2, &out), PSA_OK);
		CHECK(buf_eqb(&out, &pub));
		buf_reset(&r2);
		CHECK_INT(ops->import(P, &ia, priv.data, priv.len - 1, &r2),
			  PSA_ERR_INVALID_ARGUMENT);
		buf_free(&r2);
	}
	EVP_PKEY_free(k);
	EVP_PKEY_free(peer);
	buf_free(&ref);
	buf_free(&pub);
	buf_free(&priv);
	buf_free(&out);
	buf_free(&want);
}

/* RFC 7748 6.1. */
static void test_x25519_vector(void)
{
	struct buf alice = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
	struct buf alice_pub = hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
	struct buf bob_pub = hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
	struct buf shared = hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
	struct psa_attrs a = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_MONTGOMERY, 255);
	struct psa_alg g = alg_of(PSA_ALG_KEY_AGREEMENT, PSA_KA_ECDH, 0, 0);
	struct buf ref = BUF_INIT, out = BUF_INIT;

	CHECK_INT(ops->import(P, &a, alice.data, alice.len, &ref), PSA_OK);
	CHECK_INT(ops->export_public(P, &a, &ref, &out), PSA_OK);
	CHECK(buf_eqb(&out, &alice_pub));
	buf_reset(&out);
	CHECK_INT(ops->raw_key_agreement(P, &a, &ref, &g, bob_pub.data, bob_pub.len, &out),
		  PSA_OK);
	CHECK(buf_eqb(&out, &shared));
	buf_free(&alice);
	buf_free(&alice_pub);
	buf_free(&bob_pub);
	buf_free(&shared);
	buf_free(&ref);
	buf_free(&out);
}

/* ---- symmetric keys ---- */

static void test_symmetric_keys(void)
{
	static const struct { enum psa_key_type t; uint32_t bits; int st; } cases[] = {
		{ PSA_KEY_AES, 128, PSA_OK }, { PSA_KEY_AES, 192, PSA_OK },
		{ PSA_KEY_AES, 256, PSA_OK }, { PSA_KEY_AES, 64, PSA_ERR_INVALID_ARGUMENT },
		{ PSA_KEY_AES, 0, PSA_ERR_INVALID_ARGUMENT },
		{ PSA_KEY_CHACHA20, 256, PSA_OK },
		{ PSA_KEY_CHACHA20, 128, PSA_ERR_INVALID_ARGUMENT },
		{ PSA_KEY_HMAC, 8, PSA_OK }, { PSA_KEY_HMAC, 256, PSA_OK },
		{ PSA_KEY_HMAC, 8192, PSA_OK }, { PSA_KEY_HMAC, 8200, PSA_ERR_INVALID_ARGUMENT },
		{ PSA_KEY_HMAC, 0, PSA_ERR_INVALID_ARGUMENT },
		{ PSA_KEY_HMAC, 12, PSA_ERR_INVALID_ARGUMENT },
		{ PSA_KEY_RAW_DATA, 128, PSA_OK }, { PSA_KEY_DERIVE, 512, PSA_OK },
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct psa_attrs a = attrs(cases[i].t, 0, cases[i].bits);
		struct buf ref = BUF_INIT, k1 = BUF_INIT, k2 = BUF_INIT, r2 = BUF_INIT;

		CHECK_INT(ops->generate(P, &a, &ref), cases[i].st);
		if (cases[i].st != PSA_OK) {
			CHECK_INT(ref.len, 0);
			continue;
		}
		CHECK_INT(ref.len, 1 + 12 + cases[i].bits / 8 + 16);
		CHECK_INT(ops->export_key(P, &a, &ref, &k1), PSA_OK);
		CHECK_INT(k1.len, cases[i].bits / 8);
		CHECK_INT(ops->export_public(P, &a, &ref, &k2), PSA_ERR_INVALID_ARGUMENT);
		/* Importing the bytes gives the same key. */
		a.bits = 0;
		CHECK_INT(ops->import(P, &a, k1.data, k1.len, &r2), PSA_OK);
		CHECK_INT(ops->export_key(P, &a, &r2, &k2), PSA_OK);
		CHECK(buf_eqb(&k1, &k2));
		buf_free(&ref);
		buf_free(&k1);
		buf_free(&k2);
		buf_free(&r2);
	}
	/* Imports of the wrong size. */
	uint8_t k[40] = { 0 };
	struct buf ref = BUF_INIT;
	struct psa_attrs a = attrs(PSA_KEY_AES, 0, 0);
	CHECK_INT(ops->import(P, &a, k, 20, &ref), PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(ops->import(P, &a, k, 0, &ref), PSA_ERR_INVALID_ARGUMENT);
	a.bits = 256;
	CHECK_INT(ops->import(P, &a, k, 16, &ref), PSA_ERR_INVALID_ARGUMENT);
	a = attrs(PSA_KEY_CHACHA20, 0, 0);
	CHECK_INT(ops->import(P, &a, k, 16, &ref), PSA_ERR_INVALID_ARGUMENT);
	a = attrs(PSA_KEY_HMAC, 0, 64);
	CHECK_INT(ops->import(P, &a, k, 9, &ref), PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(ref.len, 0);
	/* Symmetric keys do not sign. */
	a = attrs(PSA_KEY_AES, 0, 128);
	ref = gen(a);
	struct psa_alg g = sig_alg(PSA_SIGN_ECDSA, PSA_HASH_SHA_256);
	struct buf out = BUF_INIT;
	CHECK_INT(ops->sign_hash(P, &a, &ref, &g, k, 32, &out), PSA_ERR_INVALID_ARGUMENT);
	buf_free(&ref);
	buf_free(&out);
}

/* OpenSSL's AEAD over the same inputs. */
static struct buf ossl_aead(const char *name, const struct buf *key, const struct buf *nonce,
			    const struct buf *ad, const struct buf *pt, size_t tag, int ccm)
{
	EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, name, NULL);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	struct buf out = BUF_INIT;
	int len = 0, fin = 0;

	buf_reserve(&out, pt->len + 16);
	if (!EVP_EncryptInit_ex2(ctx, c, NULL, NULL, NULL) ||
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, (int)nonce->len, NULL) ||
	    (ccm && !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, (int)tag, NULL)) ||
	    !EVP_EncryptInit_ex2(ctx, NULL, key->data, nonce->data, NULL) ||
	    (ccm && !EVP_EncryptUpdate(ctx, NULL, &len, NULL, (int)pt->len)) ||
	    (ad->len && !EVP_EncryptUpdate(ctx, NULL, &len, ad->data, (int)ad->len)) ||
	    !EVP_EncryptUpdate(ctx, out.data, &len, pt->len ? pt->data : (const uint8_t *)"",
			       (int)pt->len) ||
	    !EVP_EncryptFinal_ex(ctx, out.data + len, &fin) ||
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, (int)tag, out.data + len + fin))
		printf("OpenSSL AEAD %s failed\n", name);
	else
		out.len = (size_t)(len + fin) + tag;
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(c);
	return out;
}

static void aead_case(struct psa_attrs a, const struct buf *ref, const struct buf *key,
		      int variant, const char *name, size_t nn, size_t tag, size_t ptlen,
		      size_t adlen)
{
	struct psa_alg g = alg_of(PSA_ALG_AEAD, variant, 0, tag == 16 ? 0 : (uint32_t)tag);
	struct buf nonce = BUF_INIT, ad = BUF_INIT, pt = BUF_INIT, ct = BUF_INIT,
		   back = BUF_INIT, want;
	int ccm = variant == PSA_AEAD_CCM;

	fill(&nonce, nn, 0x40);
	fill(&ad, adlen, 0x50);
	fill(&pt, ptlen, 0x60);
	CHECK_INT(ops->aead(P, &a, ref, &g, 1, nonce.data, nonce.len, ad.data, ad.len,
			    pt.data, pt.len, &ct), PSA_OK);
	want = ossl_aead(name, key, &nonce, &ad, &pt, tag, ccm);
	if (!buf_eqb(&ct, &want))
		printf("AEAD %s nonce %zu tag %zu pt %zu ad %zu differs\n", name, nn, tag, ptlen,
		       adlen);
	CHECK(ct.len == ptlen + tag && buf_eqb(&ct, &want));
	CHECK_INT(ops->aead(P, &a, ref, &g, 0, nonce.data, nonce.len, ad.data, ad.len,
			    ct.data, ct.len, &back), PSA_OK);
	CHECK(buf_eqb(&back, &pt));
	/* Tampered ciphertext, tag or additional data; another nonce. */
	buf_reset(&back);
	if (ptlen) {
		ct.data[0] ^= 1;
		CHECK_INT(ops->aead(P, &a, ref, &g, 0, nonce.data, nonce.len, ad.data, ad.len,
				    ct.data, ct.len, &back), PSA_ERR_INVALID_SIGNATURE);
		ct.data[0] ^= 1;
	}
	ct.data[ct.len - 1] ^= 1;
	CHECK_INT(ops->aead(P, &a, ref, &g, 0, nonce.data, nonce.len, ad.data, ad.len,
			    ct.data, ct.len, &back), PSA_ERR_INVALID_SIGNATURE);
	ct.data[ct.len - 1] ^= 1;
	if (adlen) {
		CHECK_INT(ops->aead(P, &a, ref, &g, 0, nonce.data, nonce.len, ad.data,
				    ad.len - 1, ct.data, ct.len, &back),
			  PSA_ERR_INVALID_SIGNATURE);
	}
	nonce.data[0] ^= 1;
	CHECK_INT(ops->aead(P, &a, ref, &g, 0, nonce.data, nonce.len, ad.data, ad.len,
			    ct.data, ct.len, &back), PSA_ERR_INVALID_SIGNATURE);
	CHECK_INT(back.len, 0);
	/* Shorter than the tag. */
	CHECK_INT(ops->aead(P, &a, ref, &g, 0, nonce.data, nonce.len, ad.data, ad.len,
			    ct.data, tag - 1, &back), PSA_ERR_INVALID_ARGUMENT);
	buf_free(&nonce);
	buf_free(&ad);
	buf_free(&pt);
	buf_free(&ct);
	buf_free(&back);
	buf_free(&want);
}

static void test_aead(void)
{
	static const uint32_t aes_bits[] = { 128, 192, 256 };

	for (size_t i = 0; i < 3; i++) {
		struct psa_attrs a = attrs(PSA_KEY_AES, 0, aes_bits[i]);
		struct buf ref = gen(a), key = export_key(a, &ref);
		char gcm[32], ccm[32];

		snprintf(gcm, sizeof gcm, "AES-%u-GCM", aes_bits[i]);
		snprintf(ccm, sizeof ccm, "AES-%u-CCM", aes_bits[i]);
		aead_case(a, &ref, &key, PSA_AEAD_GCM, gcm, 12, 16, 100, 20);
		aead_case(a, &ref, &key, PSA_AEAD_GCM, gcm, 12, 16, 0, 0);
		aead_case(a, &ref, &key, PSA_AEAD_GCM, gcm, 1, 12, 33, 0);
		aead_case(a, &ref, &key, PSA_AEAD_GCM, gcm, 16, 8, 16, 7);
		aead_case(a, &ref, &key, PSA_AEAD_GCM, gcm, 60, 4, 5, 1);
		aead_case(a, &ref, &key, PSA_AEAD_GCM, gcm, 12, 13, 1000, 300);
		aead_case(a, &ref, &key, PSA_AEAD_CCM, ccm, 13, 16, 100, 20);
		aead_case(a, &ref, &key, PSA_AEAD_CCM, ccm, 7, 4, 17, 0);
		aead_case(a, &ref, &key, PSA_AEAD_CCM, ccm, 12, 8, 0, 5);
		aead_case(a, &ref, &key, PSA_AEAD_CCM, ccm, 11, 14, 0, 0);
		aead_case(a, &ref, &key, PSA_AEAD_CCM, ccm, 10, 6, 1000, 1000);

		/* Bad nonces and tag lengths. */
		struct buf out = BUF_INIT;
		uint8_t n[16] = { 0 }, pt[4] = { 0 };
		struct psa_alg g = alg_of(PSA_ALG_AEAD, PSA_AEAD_GCM, 0, 0);
		CHECK_INT(ops->aead(P, &a, &ref, &g, 1, n, 0, NULL, 0, pt, 4, &out),
			  PSA_ERR_INVALID_ARGUMENT);
		static const uint32_t bad_gcm_tags[] = { 1, 3, 5, 6, 7, 9, 10, 11, 17 };
		for (size_t t = 0; t < sizeof bad_gcm_tags / sizeof *bad_gcm_tags; t++) {
			g.length = bad_gcm_tags[t];
			CHECK_INT(ops->aead(P, &a, &ref, &g, 1, n, 12, NULL, 0, pt, 4, &out),
				  PSA_ERR_INVALID_ARGUMENT);
		}
		g = alg_of(PSA_ALG_AEAD, PSA_AEAD_CCM, 0, 0);
		CHECK_INT(ops->aead(P, &a, &ref, &g, 1, n, 6, NULL, 0, pt, 4, &out),
			  PSA_ERR_INVALID_ARGUMENT);
		CHECK_INT(ops->aead(P, &a, &ref, &g, 1, n, 14, NULL, 0, pt, 4, &out),
			  PSA_ERR_INVALID_ARGUMENT);
		static const uint32_t bad_ccm_tags[] = { 2, 3, 5, 7, 15, 18 };
		for (size_t t = 0; t < sizeof bad_ccm_tags / sizeof *bad_ccm_tags; t++) {
			g.length = bad_ccm_tags[t];
			CHECK_INT(ops->aead(P, &a, &ref, &g, 1, n, 12, NULL, 0, pt, 4, &out),
				  PSA_ERR_INVALID_ARGUMENT);
		}
		/* CCM with a 13-byte nonce counts the length in 2 bytes. */
		if (i == 0) {
			struct buf big = BUF_INIT;

			g.length = 0;
			fill(&big, 65536, 1);
			CHECK_INT(ops->aead(P, &a, &ref, &g, 1, n, 13, NULL, 0, big.data,
					    65535, &out), PSA_OK);
			CHECK_INT(out.len, 65535 + 16);
			buf_reset(&out);
			CHECK_INT(ops->aead(P, &a, &ref, &g, 1, n, 13, NULL, 0, big.data,
					    65536, &out), PSA_ERR_INVALID_ARGUMENT);
			buf_free(&big);
		}
		/* ChaCha20-Poly1305 needs a ChaCha20 key; CCM an AES one. */
		g = alg_of(PSA_ALG_AEAD, PSA_AEAD_CHACHA20_POLY1305, 0, 0);
		CHECK_INT(ops->aead(P, &a, &ref, &g, 1, n, 12, NULL, 0, pt, 4, &out),
			  PSA_ERR_INVALID_ARGUMENT);
		CHECK_INT(out.len, 0);
		buf_free(&out);
		buf_free(&ref);
		buf_free(&key);
	}

	/* ChaCha20-Poly1305. */
	struct psa_attrs a = attrs(PSA_KEY_CHACHA20, 0, 256);
	struct buf ref = gen(a), key = export_key(a, &ref), out = BUF_INIT;
	aead_case(a, &ref, &key, PSA_AEAD_CHACHA20_POLY1305, "ChaCha20-Poly1305", 12, 16, 100,
		  20);
	aead_case(a, &ref, &key, PSA_AEAD_CHACHA20_POLY1305, "ChaCha20-Poly1305", 12, 16, 0,
		  0);
	uint8_t n[16] = { 0 }, pt[4] = { 0 };
	struct psa_alg g = alg_of(PSA_ALG_AEAD, PSA_AEAD_CHACHA20_POLY1305, 0, 0);
	CHECK_INT(ops->aead(P, &a, &ref, &g, 1, n, 8, NULL, 0, pt, 4, &out),
		  PSA_ERR_INVALID_ARGUMENT);
	g.length = 12;
	CHECK_INT(ops->aead(P, &a, &ref, &g, 1, n, 12, NULL, 0, pt, 4, &out),
		  PSA_ERR_INVALID_ARGUMENT);
	g = alg_of(PSA_ALG_AEAD, PSA_AEAD_CCM, 0, 0);
	CHECK_INT(ops->aead(P, &a, &ref, &g, 1, n, 12, NULL, 0, pt, 4, &out),
		  PSA_ERR_INVALID_ARGUMENT);
	g = alg_of(PSA_ALG_AEAD, 9, 0, 0);
	CHECK_INT(ops->aead(P, &a, &ref, &g, 1, n, 12, NULL, 0, pt, 4, &out),
		  PSA_ERR_NOT_SUPPORTED);
	CHECK_INT(out.len, 0);
	buf_free(&ref);
	buf_free(&key);

	/* The GCM paper's test case 2: zero key, zero IV, one zero block. */
	{
		uint8_t zk[16] = { 0 }, zn[12] = { 0 }, zp[16] = { 0 };
		struct buf want = hex("0388dace60b6a392f328c2b971b2fe78"
				      "ab6e47d42cec13bdf53a67b21257bddf");
		struct psa_attrs za = attrs(PSA_KEY_AES, 0, 128);
		struct buf zr = BUF_INIT;

		g = alg_of(PSA_ALG_AEAD, PSA_AEAD_GCM, 0, 0);
		CHECK_INT(ops->import(P, &za, zk, 16, &zr), PSA_OK);
		CHECK_INT(ops->aead(P, &za, &zr, &g, 1, zn, 12, NULL, 0, zp, 16, &out), PSA_OK);
		CHECK(buf_eqb(&out, &want));
		buf_free(&want);
		buf_free(&zr);
	}
	buf_free(&out);
}

/* OpenSSL's cipher over the same inputs. */
static struct buf ossl_cipher(const char *name, int encrypt, int padding,
			      const struct buf *key, const uint8_t *iv, const uint8_t *in,
			      size_t n)
{
	EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, name, NULL);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	struct buf out = BUF_INIT;
	int len = 0, fin = 0;

	buf_reserve(&out, n + 32);
	if (EVP_CipherInit_ex2(ctx, c, key->data, iv, encrypt, NULL) &&
	    EVP_CIPHER_CTX_set_padding(ctx, padding) &&
	    EVP_CipherUpdate(ctx, out.data, &len, in, (int)n) &&
	    EVP_CipherFinal_ex(ctx, out.data + len, &fin))
		out.len = (size_t)(len + fin);
	else
		printf("OpenSSL cipher %s failed\n", name);
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(c);
	ERR_clear_error();
	return out;
}

static void cipher_case(struct psa_attrs a, const struct buf *ref, const struct buf *key,
			int variant, const char *name, size_t ivlen, int padding, size_t n)
{
	struct psa_alg g = alg_of(PSA_ALG_CIPHER, variant, 0, 0);
	struct buf pt = BUF_INIT, ct = BUF_INIT, ct2 = BUF_INIT, back = BUF_INIT, o;
	uint8_t iv16[16] = { 0 };
	const uint8_t *iv;

	fill(&pt, n, (uint8_t)(n + variant));
	CHECK_INT(ops->cipher(P, &a, ref, &g, 1, pt.data, pt.len, &ct), PSA_OK);
	CHECK(ct.len >= ivlen);
	/* OpenSSL decrypts it with the IV the provider chose. */
	iv = ct.data;
	if (variant == PSA_CIPHER_STREAM) {
		memcpy(iv16 + 4, ct.data, 12);
		iv = iv16;
	}
	o = ossl_cipher(name, 0, padding, key, ivlen ? iv : NULL, ct.data + ivlen,
			ct.len - ivlen);
	if (!buf_eqb(&o, &pt))
		printf("cipher %s variant %d n %zu differs\n", name, variant, n);
	CHECK(buf_eqb(&o, &pt));
	buf_free(&o);
	CHECK_INT(ops->cipher(P, &a, ref, &g, 0, ct.data, ct.len, &back), PSA_OK);
	CHECK(buf_eqb(&back, &pt));
	/* A fresh IV each time. */
	CHECK_INT(ops->cipher(P, &a, ref, &g, 1, pt.data, pt.len, &ct2), PSA_OK);
	if (ivlen)
		CHECK(memcmp(ct.data, ct2.data, ivlen) != 0);
	else
		CHECK(buf_eqb(&ct, &ct2));
	/* OpenSSL encrypts, the provider decrypts. */
	{
		struct buf in = BUF_INIT;
		uint8_t fixed[16];

		for (int i = 0; i < 16; i++)
			fixed[i] = (uint8_t)(0xa0 + i);
		if (variant == PSA_CIPHER_STREAM) {
			memset(iv16, 0, 4);
			memcpy(iv16 + 4, fixed, 12);
			iv = iv16;
		} else {
			iv = fixed;
		}
		o = ossl_cipher(name, 1, padding, key, ivlen ? iv : NULL, pt.data, pt.len);
		buf_append(&in, fixed, ivlen);
		buf_append(&in, o.data, o.len);
		buf_reset(&back);
		CHECK_INT(ops->cipher(P, &a, ref, &g, 0, in.data, in.len, &back), PSA_OK);
		CHECK(buf_eqb(&back, &pt));
		buf_free(&o);
		buf_free(&in);
	}
	buf_free(&pt);
	buf_free(&ct);
	buf_free(&ct2);
	buf_free(&back);
}

static void test_cipher(void)
{
	static const uint32_t aes_bits[] = { 128, 192, 256 };
	struct buf out = BUF_INIT;

	for (size_t i = 0; i < 3; i++) {
		struct psa_attrs a = attrs(PSA_KEY_AES, 0, aes_bits[i]);
		struct buf ref = gen(a), key = export_key(a, &ref);
		char name[32];
		static const size_t lens[] = { 0, 1, 16, 17, 64, 1000 };

		for (size_t l = 0; l < sizeof lens / sizeof *lens; l++) {
			size_t n = lens[l];

			snprintf(name, sizeof name, "AES-%u-CTR", aes_bits[i]);
			cipher_case(a, &ref, &key, PSA_CIPHER_CTR, name, 16, 0, n);
			snprintf(name, sizeof name, "AES-%u-CFB", aes_bits[i]);
			cipher_case(a, &ref, &key, PSA_CIPHER_CFB, name, 16, 0, n);
			snprintf(name, sizeof name, "AES-%u-OFB", aes_bits[i]);
			cipher_case(a, &ref, &key, PSA_CIPHER_OFB, name, 16, 0, n);
			snprintf(name, sizeof name, "AES-%u-CBC", aes_bits[i]);
			cipher_case(a, &ref, &key, PSA_CIPHER_CBC_PKCS7, name, 16, 1, n);
			if (n % 16 == 0) {
				cipher_case(a, &ref, &key, PSA_CIPHER_CBC_NO_PADDING, name,
					    16, 0, n);
				snprintf(name, sizeof name, "AES-%u-ECB", aes_bits[i]);
				cipher_case(a, &ref, &key, PSA_CIPHER_ECB_NO_PADDING, name,
					    0, 0, n);
			}
		}
		/* Whole blocks only; IVs needed; padding checked. */
		uint8_t buf17[48] = { 0 };
		struct psa_alg g = alg_of(PSA_ALG_CIPHER, PSA_CIPHER_ECB_NO_PADDING, 0, 0);
		CHECK_INT(ops->cipher(P, &a, &ref, &g, 1, buf17, 17, &out),
			  PSA_ERR_INVALID_ARGUMENT);
		CHECK_INT(ops->cipher(P, &a, &ref, &g, 0, buf17, 17, &out),
			  PSA_ERR_INVALID_ARGUMENT);
		g.variant = PSA_CIPHER_CBC_NO_PADDING;
		CHECK_INT(ops->cipher(P, &a, &ref, &g, 1, buf17, 15, &out),
			  PSA_ERR_INVALID_ARGUMENT);
		CHECK_INT(ops->cipher(P, &a, &ref, &g, 0, buf17, 33, &out),
			  PSA_ERR_INVALID_ARGUMENT);
		g.variant = PSA_CIPHER_CTR;
		CHECK_INT(ops->cipher(P, &a, &ref, &g, 0, buf17, 15, &out),
			  PSA_ERR_INVALID_ARGUMENT);
		g.variant = PSA_CIPHER_CBC_PKCS7;
		CHECK_INT(ops->cipher(P, &a, &ref, &g, 0, buf17, 16, &out),
			  PSA_ERR_INVALID_ARGUMENT);
		CHECK_INT(ops->cipher(P, &a, &ref, &g, 0, buf17, 40, &out),
			  PSA_ERR_INVALID_ARGUMENT);
		{
			/* A last block ending in 0 is not PKCS#7. */
			struct buf blk = BUF_INIT, ct;
			uint8_t iv[16] = { 0 };

			fill(&blk, 16, 3);
			blk.data[15] = 0;
			snprintf(name, sizeof name, "AES-%u-CBC", aes_bits[i]);
			ct = ossl_cipher(name, 1, 0, &key, iv, blk.data, 16);
			uint8_t in[32];
			memcpy(in, iv, 16);
			memcpy(in + 16, ct.data, 16);
			CHECK_INT(ops->cipher(P, &a, &ref, &g, 0, in, 32, &out),
				  PSA_ERR_INVALID_PADDING);
			/* The same without padding decrypts. */
			g.variant = PSA_CIPHER_CBC_NO_PADDING;
			CHECK_INT(ops->cipher(P, &a, &ref, &g, 0, in, 32, &out), PSA_OK);
			CHECK(buf_eqb(&out, &blk));
			buf_reset(&out);
			buf_free(&blk);
			buf_free(&ct);
		}
		g.variant = PSA_CIPHER_STREAM;
		CHECK_INT(ops->cipher(P, &a, &ref, &g, 1, buf17, 16, &out),
			  PSA_ERR_INVALID_ARGUMENT);
		g.variant = PSA_CIPHER_XTS;
		CHECK_INT(ops->cipher(P, &a, &ref, &g, 1, buf17, 32, &out),
			  PSA_ERR_NOT_SUPPORTED);
		g = alg_of(PSA_ALG_AEAD, PSA_AEAD_GCM, 0, 0);
		CHECK_INT(ops->cipher(P, &a, &ref, &g, 1, buf17, 32, &out),
			  PSA_ERR_INVALID_ARGUMENT);
		CHECK_INT(out.len, 0);
		buf_free(&ref);
		buf_free(&key);
	}

	/* ChaCha20. */
	struct psa_attrs a = attrs(PSA_KEY_CHACHA20, 0, 256);
	struct buf ref = gen(a), key = export_key(a, &ref);
	cipher_case(a, &ref, &key, PSA_CIPHER_STREAM, "ChaCha20", 12, 0, 0);
	cipher_case(a, &ref, &key, PSA_CIPHER_STREAM, "ChaCha20", 12, 0, 1);
	cipher_case(a, &ref, &key, PSA_CIPHER_STREAM, "ChaCha20", 12, 0, 200);
	struct psa_alg g = alg_of(PSA_ALG_CIPHER, PSA_CIPHER_CTR, 0, 0);
	uint8_t z[32] = { 0 };
	CHECK_INT(ops->cipher(P, &a, &ref, &g, 1, z, 32, &out), PSA_ERR_INVALID_ARGUMENT);
	buf_free(&ref);
	buf_free(&key);

	/* FIPS-197 C.1 through ECB. */
	{
		struct buf k = hex("000102030405060708090a0b0c0d0e0f");
		struct buf pt = hex("00112233445566778899aabbccddeeff");
		struct buf want = hex("69c4e0d86a7b0430d8cdb78070b4c55a");
		struct psa_attrs ka = attrs(PSA_KEY_AES, 0, 128);
		struct buf kr = BUF_INIT;

		g = alg_of(PSA_ALG_CIPHER, PSA_CIPHER_ECB_NO_PADDING, 0, 0);
		CHECK_INT(ops->import(P, &ka, k.data, k.len, &kr), PSA_OK);
		CHECK_INT(ops->cipher(P, &ka, &kr, &g, 1, pt.data, pt.len, &out), PSA_OK);
		CHECK(buf_eqb(&out, &want));
		buf_free(&k);
		buf_free(&pt);
		buf_free(&want);
		buf_free(&kr);
	}
	buf_free(&out);
}

static void test_mac(void)
{
	static const enum psa_hash hashes[] = {
		PSA_HASH_SHA_1, PSA_HASH_SHA_224, PSA_HASH_SHA_256, PSA_HASH_SHA_384,
		PSA_HASH_SHA_512, PSA_HASH_SHA3_256, PSA_HASH_SHA3_512,
	};
	static const uint32_t key_bits[] = { 8, 256, 1600 };
	struct buf msg = BUF_INIT, out = BUF_INIT;

	fill(&msg, 300, 11);
	for (size_t k = 0; k < sizeof key_bits / sizeof *key_bits; k++) {
		struct psa_attrs a = attrs(PSA_KEY_HMAC, 0, key_bits[k]);
		struct buf ref = gen(a), key = export_key(a, &ref);

		for (size_t i = 0; i < sizeof hashes / sizeof *hashes; i++) {
			unsigned char want[EVP_MAX_MD_SIZE];
			unsigned int wl = 0;
			struct psa_alg g = alg_of(PSA_ALG_MAC, PSA_MAC_HMAC, hashes[i], 0);

			HMAC(md_of(hashes[i]), key.data, (int)key.len, msg.data, msg.len, want,
			     &wl);
			buf_reset(&out);
			CHECK_INT(ops->mac(P, &a, &ref, &g, msg.data, msg.len, &out), PSA_OK);
			CHECK(buf_eq(&out, want, wl));
			/* Truncated. */
			g.length = 10;
			buf_reset(&out);
			CHECK_INT(ops->mac(P, &a, &ref, &g, msg.data, msg.len, &out), PSA_OK);
			CHECK(buf_eq(&out, want, 10));
			g.length = 4;
			buf_reset(&out);
			CHECK_INT(ops->mac(P, &a, &ref, &g, msg.data, msg.len, &out), PSA_OK);
			CHECK(buf_eq(&out, want, 4));
			g.length = wl;
			buf_reset(&out);
			CHECK_INT(ops->mac(P, &a, &ref, &g, msg.data, msg.len, &out), PSA_OK);
			CHECK(buf_eq(&out, want, wl));
			buf_reset(&out);
			g.length = wl + 1;
			CHECK_INT(ops->mac(P, &a, &ref, &g, msg.data, msg.len, &out),
				  PSA_ERR_INVALID_ARGUMENT);
			g.length = 3;
			CHECK_INT(ops->mac(P, &a, &ref, &g, msg.data, msg.len, &out),
				  PSA_ERR_NOT_SUPPORTED);
			CHECK_INT(out.len, 0);
		}
		/* Empty message. */
		{
			unsigned char want[EVP_MAX_MD_SIZE];
			unsigned int wl = 0;
			struct psa_alg g = alg_of(PSA_ALG_MAC, PSA_MAC_HMAC, PSA_HASH_SHA_256, 0);

			HMAC(EVP_sha256(), key.data, (int)key.len, (const uint8_t *)"", 0, want,
			     &wl);
			CHECK_INT(ops->mac(P, &a, &ref, &g, NULL, 0, &out), PSA_OK);
			CHECK(buf_eq(&out, want, wl));
			buf_reset(&out);
			g.hash = PSA_HASH_ANY;
			CHECK_INT(ops->mac(P, &a, &ref, &g, msg.data, msg.len, &out),
				  PSA_ERR_INVALID_ARGUMENT);
			/* CMAC with an HMAC key. */
			g = alg_of(PSA_ALG_MAC, PSA_MAC_CMAC, 0, 0);
			CHECK_INT(ops->mac(P, &a, &ref, &g, msg.data, msg.len, &out),
				  PSA_ERR_INVALID_ARGUMENT);
		}
		buf_free(&ref);
		buf_free(&key);
	}

	/* RFC 4231 test case 2. */
	{
		struct psa_attrs a = attrs(PSA_KEY_HMAC, 0, 0);
		struct buf ref = BUF_INIT;
		struct buf want = hex("5bdcc146bf60754e6a042426089575c7"
				      "5a003f089d2739839dec58b964ec3843");
		struct psa_alg g = alg_of(PSA_ALG_MAC, PSA_MAC_HMAC, PSA_HASH_SHA_256, 0);
		const char *m = "what do ya want for nothing?";

		CHECK_INT(ops->import(P, &a, (const uint8_t *)"Jefe", 4, &ref), PSA_OK);
		buf_reset(&out);
		CHECK_INT(ops->mac(P, &a, &ref, &g, (const uint8_t *)m, strlen(m), &out),
			  PSA_OK);
		CHECK(buf_eqb(&out, &want));
		buf_free(&ref);
		buf_free(&want);
	}

	/* CMAC with every AES size, against OpenSSL. */
	static const uint32_t aes_bits[] = { 128, 192, 256 };
	for (size_t i = 0; i < 3; i++) {
		struct psa_attrs a = attrs(PSA_KEY_AES, 0, aes_bits[i]);
		struct buf ref = gen(a), key = export_key(a, &ref);
		EVP_MAC *m = EVP_MAC_fetch(NULL, "CMAC", NULL);
		EVP_MAC_CTX *c = EVP_MAC_CTX_new(m);
		char cname[32];
		OSSL_PARAM params[2];
		unsigned char want[16];
		size_t wl = 0;
		struct psa_alg g = alg_of(PSA_ALG_MAC, PSA_MAC_CMAC, 0, 0);

		snprintf(cname, sizeof cname, "AES-%u-CBC", aes_bits[i]);
		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, cname, 0);
		params[1] = OSSL_PARAM_construct_end();
		CHECK(EVP_MAC_init(c, key.data, key.len, params) &&
		      EVP_MAC_update(c, msg.data, msg.len) &&
		      EVP_MAC_final(c, want, &wl, sizeof want));
		buf_reset(&out);
		CHECK_INT(ops->mac(P, &a, &ref, &g, msg.data, msg.len, &out), PSA_OK);
		CHECK(buf_eq(&out, want, wl));
		g.length = 8;
		buf_reset(&out);
		CHECK_INT(ops->mac(P, &a, &ref, &g, msg.data, msg.len, &out), PSA_OK);
		CHECK(buf_eq(&out, want, 8));
		g.length = 17;
		buf_reset(&out);
		CHECK_INT(ops->mac(P, &a, &ref, &g, msg.data, msg.len, &out),
			  PSA_ERR_INVALID_ARGUMENT);
		/* HMAC with an AES key; CBC-MAC is not offered. */
		g = alg_of(PSA_ALG_MAC, PSA_MAC_HMAC, PSA_HASH_SHA_256, 0);
		CHECK_INT(ops->mac(P, &a, &ref, &g, msg.data, msg.len, &out),
			  PSA_ERR_INVALID_ARGUMENT);
		g = alg_of(PSA_ALG_MAC, PSA_MAC_CBC_MAC, 0, 0);
		CHECK_INT(ops->mac(P, &a, &ref, &g, msg.data, msg.len, &out),
			  PSA_ERR_NOT_SUPPORTED);
		CHECK_INT(out.len, 0);
		EVP_MAC_CTX_free(c);
		EVP_MAC_free(m);
		buf_free(&ref);
		buf_free(&key);
	}

	/* RFC 4493 example 2. */
	{
		struct buf k = hex("2b7e151628aed2a6abf7158809cf4f3c");
		struct buf m = hex("6bc1bee22e409f96e93d7e117393172a");
		struct buf want = hex("070a16b46b4d4144f79bdd9dd04a287c");
		struct psa_attrs a = attrs(PSA_KEY_AES, 0, 128);
		struct buf ref = BUF_INIT;
		struct psa_alg g = alg_of(PSA_ALG_MAC, PSA_MAC_CMAC, 0, 0);

		CHECK_INT(ops->import(P, &a, k.data, k.len, &ref), PSA_OK);
		CHECK_INT(ops->mac(P, &a, &ref, &g, m.data, m.len, &out), PSA_OK);
		CHECK(buf_eqb(&out, &want));
		buf_free(&k);
		buf_free(&m);
		buf_free(&want);
		buf_free(&ref);
	}
	buf_free(&msg);
	buf_free(&out);
}

/* ---- pkey.c's own entry points ---- */

static void test_pkey_helpers(void)
{
	struct buf raw = hex("00000000000000000000000000000000000000000000000000000000000000ff"
			     "0100000000000000000000000000000000000000000000000000000000000000");
	struct buf der = BUF_INIT, back = BUF_INIT;

	/* raw <-> DER round trip, with a leading zero and a high bit. */
	CHECK_INT(pkey_ecdsa_raw_to_der(raw.data, raw.len, &der), PSA_OK);
	CHECK_INT(pkey_ecdsa_der_to_raw(der.data, der.len, 32, &back), PSA_OK);
	CHECK(buf_eqb(&back, &raw));
	buf_reset(&back);
	CHECK_INT(pkey_ecdsa_der_to_raw(der.data, der.len, 31, &back), PSA_ERR_INVALID_SIGNATURE);
	buf_append_u8(&der, 0);
	CHECK_INT(pkey_ecdsa_der_to_raw(der.data, der.len, 32, &back), PSA_ERR_INVALID_SIGNATURE);
	CHECK_INT(pkey_ecdsa_der_to_raw(der.data, 5, 32, &back), PSA_ERR_INVALID_SIGNATURE);
	CHECK_INT(pkey_ecdsa_raw_to_der(raw.data, 63, &der), PSA_ERR_INVALID_SIGNATURE);
	CHECK_INT(pkey_ecdsa_raw_to_der(raw.data, 0, &der), PSA_ERR_INVALID_SIGNATURE);
	CHECK_INT(back.len, 0);

	/* pkey_from_public from a pair's attributes, size left open. */
	EVP_PKEY *k = ossl_gen("EC", "P-384", 0), *pk = NULL;
	struct buf q = ossl_ec_point(k), out = BUF_INIT;
	struct psa_attrs a = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_SECP_R1, 0);
	CHECK_INT(pkey_from_public(&a, q.data, q.len, &pk), PSA_OK);
	CHECK(pk != NULL);
	CHECK_INT(pkey_export_public(&a, pk, &out), PSA_OK);
	CHECK(buf_eqb(&out, &q));
	/* Public keys cannot sign, decrypt, or give a private export. */
	struct buf h = digest(PSA_HASH_SHA_384, "z", 1), sig = BUF_INIT;
	struct psa_alg g = sig_alg(PSA_SIGN_ECDSA, PSA_HASH_SHA_384);
	CHECK_INT(pkey_sign_hash(&a, pk, &g, h.data, h.len, &sig), PSA_ERR_INVALID_ARGUMENT);
	/* Attributes that disagree with the key. */
	a.bits = 256;
	CHECK_INT(pkey_export_public(&a, pk, &out), PSA_ERR_INVALID_ARGUMENT);
	a = attrs(PSA_KEY_RSA_PUBLIC, 0, 0);
	CHECK_INT(pkey_export_public(&a, pk, &out), PSA_ERR_INVALID_ARGUMENT);
	EVP_PKEY_free(pk);
	a = attrs(PSA_KEY_AES, 0, 128);
	CHECK_INT(pkey_from_public(&a, q.data, q.len, &pk), PSA_ERR_INVALID_ARGUMENT);
	CHECK(pk == NULL);
	/* A compressed point stays refused. */
	a = attrs(PSA_KEY_ECC_PUBLIC, PSA_ECC_SECP_R1, 384);
	q.data[0] = 2 + (q.data[q.len - 1] & 1);
	CHECK_INT(pkey_from_public(&a, q.data, 49, &pk), PSA_ERR_INVALID_ARGUMENT);
	CHECK(ERR_peek_error() == 0);
	EVP_PKEY_free(k);
	buf_free(&raw);
	buf_free(&der);
	buf_free(&back);
	buf_free(&q);
	buf_free(&out);
	buf_free(&h);
	buf_free(&sig);
}

/* ---- threads ---- */

struct worker {
	struct psa_attrs a;
	const struct buf *ref;
	int failures;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < 50; i++) {
		struct buf h = digest(PSA_HASH_SHA_256, &i, sizeof i), sig = BUF_INIT;
		struct psa_alg g = sig_alg(i % 2 ? PSA_SIGN_ECDSA : PSA_SIGN_DETERMINISTIC_ECDSA,
					   PSA_HASH_SHA_256);

		if (ops->sign_hash(P, &w->a, w->ref, &g, h.data, h.len, &sig) != PSA_OK ||
		    ops->verify_hash(P, &w->a, w->ref, &g, h.data, h.len, sig.data,
				     sig.len) != PSA_OK)
			w->failures++;
		buf_free(&h);
		buf_free(&sig);
	}
	return NULL;
}

static void test_threads(void)
{
	struct psa_attrs a = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_SECP_R1, 256);
	struct buf ref = gen(a);
	struct worker w[4];
	pthread_t t[4];

	for (int i = 0; i < 4; i++) {
		w[i].a = a;
		w[i].ref = &ref;
		w[i].failures = 0;
		CHECK_INT(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_INT(w[i].failures, 0);
	}
	buf_free(&ref);
}

/* ---- main ---- */

static void remove_tree(const char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("could not remove %s\n", dir);
}

int main(void)
{
	char err[512];

	log_init("test_software", LOG_ERROR);
	unsetenv("ASSAY_SWTEST_CONFIG");
	unsetenv("ASSAY_SWTEST_STATE_DIR");
	unsetenv("ASSAY_SWTEST_SOFTWARE_MASTER_KEY");
	snprintf(tmpdir, sizeof tmpdir, "/tmp/assay-sw-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		printf("mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	if (open_with(P, tmpdir, NULL, err, sizeof err) != 0) {
		printf("FAIL open: %s\n", err);
		remove_tree(tmpdir);
		return 1;
	}
	test_identity();
	test_master_key();
	test_ref_format();
	test_ref_binding();
	test_random();
	test_rsa_key(1024);
	test_rsa_key(2048);
	test_rsa_import();
	for (size_t i = 0; i < sizeof curves / sizeof *curves; i++)
		test_ecc_curve(&curves[i]);
	test_ecc_unsupported();
	test_rfc6979();
	test_montgomery(255, "X25519");
	test_montgomery(448, "X448");
	test_x25519_vector();
	test_symmetric_keys();
	test_aead();
	test_cipher();
	test_mac();
	test_pkey_helpers();
	test_threads();
	ops->close(P);
	CHECK(P->state == NULL);
	remove_tree(tmpdir);
	return check_done();
}
