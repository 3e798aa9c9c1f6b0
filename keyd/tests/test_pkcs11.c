/* Unit tests for the PKCS#11 provider, on a SoftHSM2 token made in a
 * temporary directory: every operation the provider offers, each result
 * cross-checked with OpenSSL (public keys rebuilt here from the exported
 * bytes, independently of keyd/pkey.c), the attributes of the objects the
 * provider leaves on the token, and the message of every misconfiguration. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <p11-kit/pkcs11.h>

#include "config/config.h"
#include "keyd/provider.h"
#include "parsec/psa.h"
#include "util/buf.h"
#include "util/check.h"

#define SOFTHSM "/usr/lib/softhsm/libsofthsm2.so"
#define NOT_PKCS11 "/usr/lib/x86_64-linux-gnu/libz.so.1"

static const struct config_option test_options[] = {
	{ "pkcs11_library", CONFIG_PATH, NULL, "PKCS#11 module.", 0, 0 },
	{ "pkcs11_slot", CONFIG_INT, "-1", "Slot number.", 0, 0 },
	{ "pkcs11_token_serial", CONFIG_STRING, NULL, "Token serial.", 0, 0 },
	{ "pkcs11_pin", CONFIG_STRING, NULL, "User PIN.", 0, 0 },
	{ "pkcs11_pin_file", CONFIG_PATH, NULL, "File with the user PIN.", 0, 0 },
	{ 0 },
};

static const struct config_program test_prog = {
	.name = "test-pkcs11",
	.section = "p11test",
	.summary = "exercise the PKCS#11 provider",
	.options = test_options,
};

static char dir[256], conf[300];
static char serial[64];		/* the "assay" token */
static unsigned long slot_id;
static unsigned long free_slot;	/* SoftHSM's uninitialised token */
static int have_free_slot;

static const struct provider_ops *ops = &provider_pkcs11;

/* ---- Setup ---- */

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0 || chmod(path, mode) != 0) {
		printf("cannot write %s\n", path);
		exit(1);
	}
}

static int sh(const char *cmd)
{
	return system(cmd);
}

/* Reads softhsm2-util --show-slots: the slot and serial of the token
 * labelled `label`, and a slot whose token is not initialised. */
static int find_token(const char *label, unsigned long *slot, char *ser, size_t sn)
{
	char cmd[512], line[512], cur_serial[128] = "";
	unsigned long cur = 0;
	int found = 0;
	FILE *p;

	snprintf(cmd, sizeof cmd, "SOFTHSM2_CONF=%s softhsm2-util --show-slots", conf);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof line, p)) {
		char *s = line, word[128];

		while (*s == ' ')
			s++;
		if (sscanf(s, "Slot %lu", &cur) == 1 && strncmp(s, "Slot info", 9))
			continue;
		if (sscanf(s, "Serial number: %63s", word) == 1)
			snprintf(cur_serial, sizeof cur_serial, "%s", word);
		else if (!strncmp(s, "Serial number:", 14))
			cur_serial[0] = 0;
		if (!strncmp(s, "Initialized:", 12) && strstr(s, "no")) {
			free_slot = cur;
			have_free_slot = 1;
		}
		if (sscanf(s, "Label: %127s", word) == 1 && !strcmp(word, label)) {
			*slot = cur;
			snprintf(ser, sn, "%s", cur_serial);
			found = 1;
		}
	}
	pclose(p);
	return found ? 0 : -1;
}

/* ---- Opening the provider ---- */

static char err[1024];

/* Opens p with the given command-line options (NULL-terminated). */
static int open_with(struct provider *p, ...)
{
	char *argv[16];
	int argc = 0, r;
	struct config *cfg;
	va_list ap;

	argv[argc++] = (char *)"test-pkcs11";
	va_start(ap, p);
	while (argc < 15 && (argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	err[0] = 0;
	if (config_load(&test_prog, argc, argv, &cfg, err, sizeof err) != 0) {
		printf("config_load: %s\n", err);
		return -2;
	}
	p->ops = ops;
	p->state = NULL;
	r = ops->open(p, cfg, err, sizeof err);
	config_free(cfg);
	return r;
}

/* The open fails with a message containing every string given (the list
 * of wanted strings ends at "--", the options follow). */
#define OPEN_FAILS(...) open_fails(__LINE__, __VA_ARGS__, NULL)

static void open_fails(int line, ...)
{
	const char *want[4];
	char *argv[16];
	int nw = 0, argc = 0, r;
	struct provider p;
	struct config *cfg;
	const char *s;
	va_list ap;

	va_start(ap, line);
	while ((s = va_arg(ap, const char *)) != NULL && strcmp(s, "--") && nw < 4)
		want[nw++] = s;
	argv[argc++] = (char *)"test-pkcs11";
	while (argc < 15 && (argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	check_count++;
	err[0] = 0;
	if (config_load(&test_prog, argc, argv, &cfg, err, sizeof err) != 0) {
		check_failures++;
		printf("FAIL line %d: config_load: %s\n", line, err);
		return;
	}
	p.ops = ops;
	p.state = NULL;
	r = ops->open(&p, cfg, err, sizeof err);
	config_free(cfg);
	if (r == 0) {
		check_failures++;
		printf("FAIL line %d: open succeeded\n", line);
		ops->close(&p);
		return;
	}
	for (int i = 0; i < nw; i++) {
		if (!strstr(err, want[i])) {
			check_failures++;
			printf("FAIL line %d: error \"%s\" lacks \"%s\"\n", line, err,
			       want[i]);
			return;
		}
	}
	printf("ok: %s\n", err);
}

/* ---- Attributes ---- */

static struct psa_attrs attrs(enum psa_key_type type, int family, uint32_t bits,
			      uint32_t usage)
{
	struct psa_attrs a;

	memset(&a, 0, sizeof a);
	a.type = type;
	a.family = family;
	a.bits = bits;
	a.usage = usage;
	return a;
}

static struct psa_alg alg_of(enum psa_alg_kind kind, int variant, enum psa_hash h)
{
	struct psa_alg g;

	memset(&g, 0, sizeof g);
	g.kind = kind;
	g.variant = variant;
	g.hash = h;
	return g;
}

#define U_SIGN (PSA_USAGE_SIGN_HASH | PSA_USAGE_VERIFY_HASH)
#define U_CRYPT (PSA_USAGE_ENCRYPT | PSA_USAGE_DECRYPT)

/* ---- OpenSSL: the independent side of every check ---- */

static void digest(const char *md, const void *p, size_t n, uint8_t *out, size_t *on)
{
	unsigned int len = 0;

	if (EVP_Digest(p, n, out, &len, EVP_get_digestbyname(md), NULL) != 1) {
		printf("EVP_Digest %s failed\n", md);
		exit(1);
	}
	*on = len;
}

static EVP_PKEY *rsa_public(const struct buf *der)
{
	const unsigned char *p = der->data;

	return d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)der->len);
}

static EVP_PKEY *ec_public(const char *group, const uint8_t *pt, size_t n)
{
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *k = NULL;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
						     (char *)group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
						      (void *)pt, n);
	params[2] = OSSL_PARAM_construct_end();
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) != 1)
		k = NULL;
	EVP_PKEY_CTX_free(ctx);
	return k;
}

/* Verifies with OpenSSL: pad is RSA_PKCS1_PADDING, RSA_PKCS1_PSS_PADDING
 * or 0 (ECDSA); md NULL for raw PKCS#1 v1.5. */
static int ossl_verify(EVP_PKEY *k, int pad, const char *md, const uint8_t *tbs,
		       size_t n, const uint8_t *sig, size_t sn)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
	int ok = ctx && EVP_PKEY_verify_init(ctx) == 1;

	if (ok && pad)
		ok = EVP_PKEY_CTX_set_rsa_padding(ctx, pad) == 1;
	if (ok && md)
		ok = EVP_PKEY_CTX_set_signature_md(ctx, EVP_get_digestbyname(md)) == 1;
	if (ok && pad == RSA_PKCS1_PSS_PADDING)
		ok = EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) == 1;
	if (ok)
		ok = EVP_PKEY_verify(ctx, sig, sn, tbs, n) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

static int ossl_sign(EVP_PKEY *k, int pad, const char *md, const uint8_t *tbs,
		     size_t n, struct buf *sig)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
	size_t len = 0;
	int ok = ctx && EVP_PKEY_sign_init(ctx) == 1;

	if (ok && pad)
		ok = EVP_PKEY_CTX_set_rsa_padding(ctx, pad) == 1;
	if (ok && md)
		ok = EVP_PKEY_CTX_set_signature_md(ctx, EVP_get_digestbyname(md)) == 1;
	if (ok && pad == RSA_PKCS1_PSS_PADDING)
		ok = EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) == 1;
	ok = ok && EVP_PKEY_sign(ctx, NULL, &len, tbs, n) == 1 &&
	     buf_reserve(sig, len) == 0 &&
	     EVP_PKEY_sign(ctx, sig->data + sig->len, &len, tbs, n) == 1;
	if (ok)
		sig->len += len;
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

/* pad: RSA_PKCS1_PADDING or RSA_PKCS1_OAEP_PADDING with md. */
static int ossl_crypt(EVP_PKEY *k, int enc, int pad, const char *md, const uint8_t *label,
		      size_t ln, const uint8_t *in, size_t n, struct buf *out)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
	size_t len = 0;
	int ok = ctx && (enc ? EVP_PKEY_encrypt_init(ctx)
			     : EVP_PKEY_decrypt_init(ctx)) == 1 &&
		 EVP_PKEY_CTX_set_rsa_padding(ctx, pad) == 1;

	if (ok && pad == RSA_PKCS1_OAEP_PADDING) {
		ok = EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_get_digestbyname(md)) == 1 &&
		     EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_get_digestbyname(md)) == 1;
		if (ok && ln) {
			void *l = OPENSSL_memdup(label, ln);

			ok = l && EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, l, (int)ln) == 1;
		}
	}
	if (ok)
		ok = (enc ? EVP_PKEY_encrypt(ctx, NULL, &len, in, n)
			  : EVP_PKEY_decrypt(ctx, NULL, &len, in, n)) == 1 &&
		     buf_reserve(out, len) == 0 &&
		     (enc ? EVP_PKEY_encrypt(ctx, out->data, &len, in, n)
			  : EVP_PKEY_decrypt(ctx, out->data, &len, in, n)) == 1;
	if (ok)
		out->len = len;
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

/* Raw r||s to the DER that OpenSSL verifies, and back. */
static int ecdsa_raw_to_der(const uint8_t *raw, size_t n, struct buf *der)
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, (int)n / 2, NULL);
	BIGNUM *t = BN_bin2bn(raw + n / 2, (int)n / 2, NULL);
	unsigned char *p = NULL;
	int len, ok = 0;

	if (s && r && t && ECDSA_SIG_set0(s, r, t) == 1) {
		r = t = NULL;
		len = i2d_ECDSA_SIG(s, &p);
		ok = len > 0 && buf_append(der, p, (size_t)len) == 0;
	}
	OPENSSL_free(p);
	BN_free(r);
	BN_free(t);
	ECDSA_SIG_free(s);
	return ok;
}

static int ecdsa_der_to_raw(const struct buf *der, size_t flen, struct buf *raw)
{
	const unsigned char *p = der->data;
	ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)der->len);
	int ok = 0;

	if (s && buf_reserve(raw, 2 * flen) == 0 &&
	    BN_bn2binpad(ECDSA_SIG_get0_r(s), raw->data, (int)flen) == (int)flen &&
	    BN_bn2binpad(ECDSA_SIG_get0_s(s), raw->data + flen, (int)flen) == (int)flen) {
		raw->len = 2 * flen;
		ok = 1;
	}
	ECDSA_SIG_free(s);
	return ok;
}

static int ec_point_of(EVP_PKEY *k, struct buf *pt)
{
	size_t len = 0;

	return EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, NULL, 0,
					       &len) == 1 &&
	       buf_reserve(pt, len) == 0 &&
	       EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pt->data,
					       len, &pt->len) == 1;
}

static int ec_scalar_of(EVP_PKEY *k, size_t flen, struct buf *d)
{
	BIGNUM *x = NULL;
	int ok = EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &x) == 1 &&
		 buf_reserve(d, flen) == 0 &&
		 BN_bn2binpad(x, d->data, (int)flen) == (int)flen;

	if (ok)
		d->len = flen;
	BN_clear_free(x);
	return ok;
}

static int i2d_buf(EVP_PKEY *k, int priv, struct buf *out)
{
	unsigned char *p = NULL;
	int len = priv ? i2d_PrivateKey(k, &p) : i2d_PublicKey(k, &p);
	int ok = len > 0 && buf_append(out, p, (size_t)len) == 0;

	OPENSSL_clear_free(p, len > 0 ? (size_t)len : 0);
	return ok;
}

static int ossl_gcm(const uint8_t *key, size_t kn, const uint8_t *iv, size_t ivn,
		    const uint8_t *ad, size_t an, const uint8_t *in, size_t n,
		    size_t tag, struct buf *out)
{
	const EVP_CIPHER *c = kn == 16 ? EVP_aes_128_gcm() :
			      kn == 24 ? EVP_aes_192_gcm() : EVP_aes_256_gcm();
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int len = 0, ok;

	ok = ctx && EVP_EncryptInit_ex(ctx, c, NULL, NULL, NULL) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, (int)ivn, NULL) == 1 &&
	     EVP_EncryptInit_ex(ctx, NULL, NULL, key, iv) == 1 &&
	     EVP_EncryptUpdate(ctx, NULL, &len, ad, (int)an) == 1 &&
	     buf_reserve(out, n + tag) == 0 &&
	     EVP_EncryptUpdate(ctx, out->data, &len, in, (int)n) == 1 &&
	     EVP_EncryptFinal_ex(ctx, out->data + len, &len) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, (int)tag, out->data + n) == 1;
	if (ok)
		out->len = n + tag;
	EVP_CIPHER_CTX_free(ctx);
	return ok;
}

/* ---- The token seen directly: what the provider left there ---- */

struct objinfo {
	int count;		/* objects with the CKA_ID */
	int priv_sensitive, priv_extractable, priv_private, priv_token;
	int priv_sign, pub_verify;
	int has_priv, has_pub, has_secret;
};

static CK_BBOOL get_bool(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
			 CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE t)
{
	CK_BBOOL v = CK_FALSE;
	CK_ATTRIBUTE a = { t, &v, sizeof v };

	if (f->C_GetAttributeValue(s, h, &a, 1) != CKR_OK)
		return 2;
	return v;
}

/* Uses the module the provider has loaded and logged in (the login is
 * the application's, so our own session sees private objects). */
static int inspect(const struct buf *ref, struct objinfo *oi)
{
	void *dl = dlopen(SOFTHSM, RTLD_NOW | RTLD_NOLOAD);
	CK_C_GetFunctionList get = dl ? (CK_C_GetFunctionList)dlsym(dl,
						"C_GetFunctionList") : NULL;
	CK_FUNCTION_LIST_PTR f = NULL;
	CK_SESSION_HANDLE s;
	CK_ATTRIBUTE t = { CKA_ID, ref->data, ref->len };
	CK_OBJECT_HANDLE h[8];
	CK_ULONG n = 0;

	memset(oi, 0, sizeof *oi);
	if (!get || get(&f) != CKR_OK ||
	    f->C_OpenSession(slot_id, CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK) {
		if (dl)
			dlclose(dl);
		return -1;
	}
	if (f->C_FindObjectsInit(s, &t, 1) == CKR_OK) {
		f->C_FindObjects(s, h, 8, &n);
		f->C_FindObjectsFinal(s);
	}
	oi->count = (int)n;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_OBJECT_CLASS cls = 0;
		CK_ATTRIBUTE a = { CKA_CLASS, &cls, sizeof cls };

		f->C_GetAttributeValue(s, h[i], &a, 1);
		if (cls == CKO_PRIVATE_KEY || cls == CKO_SECRET_KEY) {
			oi->has_priv += cls == CKO_PRIVATE_KEY;
			oi->has_secret += cls == CKO_SECRET_KEY;
			oi->priv_sensitive = get_bool(f, s, h[i], CKA_SENSITIVE);
			oi->priv_extractable = get_bool(f, s, h[i], CKA_EXTRACTABLE);
			oi->priv_private = get_bool(f, s, h[i], CKA_PRIVATE);
			oi->priv_token = get_bool(f, s, h[i], CKA_TOKEN);
			oi->priv_sign = get_bool(f, s, h[i], CKA_SIGN);
		} else if (cls == CKO_PUBLIC_KEY) {
			oi->has_pub++;
			oi->pub_verify = get_bool(f, s, h[i], CKA_VERIFY);
		}
	}
	f->C_CloseSession(s);
	dlclose(dl);
	return 0;
}

/* ---- Tests ---- */

static const uint8_t msg[] = "attested by assay";
static uint8_t h256[64], h384[64], h512[64], h1[64], h3_256[64];
static size_t h256n, h384n, h512n, h1n, h3_256n;

static void test_random_and_plan(struct provider *p)
{
	struct buf a = BUF_INIT, b = BUF_INIT, big = BUF_INIT;
	static const uint8_t zero[32];

	CHECK_INT(ops->generate_random(p, 32, &a), PSA_OK);
	CHECK_INT(ops->generate_random(p, 32, &b), PSA_OK);
	CHECK_INT(a.len, 32);
	CHECK(a.len == 32 && b.len == 32 && memcmp(a.data, b.data, 32) != 0);
	CHECK(a.len == 32 && memcmp(a.data, zero, 32) != 0);
	CHECK_INT(ops->generate_random(p, 5000, &big), PSA_OK);
	CHECK_INT(big.len, 5000);
	buf_reset(&a);
	CHECK_INT(ops->generate_random(p, 0, &a), PSA_OK);
	CHECK_INT(a.len, 0);

	buf_reset(&a);
	buf_reset(&b);
	CHECK_INT(ops->plan(p, &a), PSA_OK);
	CHECK_INT(ops->plan(p, &b), PSA_OK);
	CHECK_INT(a.len, 16);
	CHECK(a.len == 16 && b.len == 16 && memcmp(a.data, b.data, 16) != 0);
	/* A planned key that was never made is not there to destroy. */
	struct psa_attrs k = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_SECP_R1, 256, U_SIGN);

	CHECK_INT(ops->destroy(p, &k, &a), PSA_ERR_DOES_NOT_EXIST);
	buf_reset(&a);
	CHECK_INT(ops->destroy(p, &k, &a), PSA_ERR_DOES_NOT_EXIST);
	buf_free(&a);
	buf_free(&b);
	buf_free(&big);
}

/* Sign on the token, verify with OpenSSL and on the token, and see a
 * tampered signature refused. */
static void rsa_sign_case(struct provider *p, const struct psa_attrs *k,
			  const struct buf *ref, EVP_PKEY *pub, int variant,
			  enum psa_hash h, const char *md, const uint8_t *hash, size_t hn)
{
	struct psa_alg g = alg_of(PSA_ALG_SIGN, variant, h);
	int pad = variant == PSA_SIGN_RSA_PSS ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING;
	struct buf sig = BUF_INIT;

	CHECK_INT(ops->sign_hash(p, k, ref, &g, hash, hn, &sig), PSA_OK);
	CHECK_INT(sig.len, k->bits / 8);
	CHECK(ossl_verify(pub, pad, md, hash, hn, sig.data, sig.len));
	CHECK_INT(ops->verify_hash(p, k, ref, &g, hash, hn, sig.data, sig.len), PSA_OK);
	if (sig.len) {
		sig.data[sig.len / 2] ^= 0x40;
		CHECK_INT(ops->verify_hash(p, k, ref, &g, hash, hn, sig.data, sig.len),
			  PSA_ERR_INVALID_SIGNATURE);
		CHECK_INT(ops->verify_hash(p, k, ref, &g, hash, hn, sig.data,
					   sig.len - 1), PSA_ERR_INVALID_SIGNATURE);
	}
	buf_free(&sig);
}

static void test_rsa_generated(struct provider *p)
{
	struct psa_attrs k = attrs(PSA_KEY_RSA_PAIR, 0, 2048, U_SIGN | U_CRYPT);
	struct psa_alg g;
	struct buf ref = BUF_INIT, der = BUF_INIT, sig = BUF_INIT, ct = BUF_INIT,
		   pt = BUF_INIT;
	struct objinfo oi;
	EVP_PKEY *pub;
	int r;

	CHECK_INT(ops->plan(p, &ref), PSA_OK);
	CHECK_INT(ops->generate(p, &k, &ref), PSA_OK);
	CHECK_INT(ref.len, 16);
	CHECK_INT(inspect(&ref, &oi), 0);
	CHECK_INT(oi.count, 2);
	CHECK_INT(oi.has_priv, 1);
	CHECK_INT(oi.has_pub, 1);
	CHECK_INT(oi.priv_sensitive, 1);
	CHECK_INT(oi.priv_extractable, 0);
	CHECK_INT(oi.priv_private, 1);
	CHECK_INT(oi.priv_token, 1);
	CHECK_INT(oi.priv_sign, 1);
	CHECK_INT(oi.pub_verify, 1);

	CHECK_INT(ops->export_public(p, &k, &ref, &der), PSA_OK);
	pub = rsa_public(&der);
	CHECK(pub != NULL);
	if (!pub)
		goto out;
	CHECK_INT(EVP_PKEY_get_bits(pub), 2048);

	rsa_sign_case(p, &k, &ref, pub, PSA_SIGN_RSA_PKCS1V15, PSA_HASH_SHA_256,
		      "SHA256", h256, h256n);
	rsa_sign_case(p, &k, &ref, pub, PSA_SIGN_RSA_PKCS1V15, PSA_HASH_SHA_384,
		      "SHA384", h384, h384n);
	rsa_sign_case(p, &k, &ref, pub, PSA_SIGN_RSA_PKCS1V15, PSA_HASH_SHA_1,
		      "SHA1", h1, h1n);
	rsa_sign_case(p, &k, &ref, pub, PSA_SIGN_RSA_PKCS1V15, PSA_HASH_SHA3_256,
		      "SHA3-256", h3_256, h3_256n);
	rsa_sign_case(p, &k, &ref, pub, PSA_SIGN_RSA_PSS, PSA_HASH_SHA_256,
		      "SHA256", h256, h256n);
	rsa_sign_case(p, &k, &ref, pub, PSA_SIGN_RSA_PSS, PSA_HASH_SHA_512,
		      "SHA512", h512, h512n);
	/* Raw PKCS#1 v1.5: the bytes as given, no DigestInfo. */
	rsa_sign_case(p, &k, &ref, pub, PSA_SIGN_RSA_PKCS1V15_RAW, PSA_HASH_NONE,
		      NULL, msg, sizeof msg);

	/* The hash must be as long as the algorithm says. */
	g = alg_of(PSA_ALG_SIGN, PSA_SIGN_RSA_PKCS1V15, PSA_HASH_SHA_256);
	CHECK_INT(ops->sign_hash(p, &k, &ref, &g, h256, 31, &sig),
		  PSA_ERR_INVALID_ARGUMENT);
	/* PSS over SHA3 has no PKCS#11 mechanism in 2.40. */
	g = alg_of(PSA_ALG_SIGN, PSA_SIGN_RSA_PSS, PSA_HASH_SHA3_256);
	CHECK_INT(ops->sign_hash(p, &k, &ref, &g, h3_256, h3_256n, &sig),
		  PSA_ERR_NOT_SUPPORTED);
	/* An ECDSA algorithm on an RSA key. */
	g = alg_of(PSA_ALG_SIGN, PSA_SIGN_ECDSA, PSA_HASH_SHA_256);
	CHECK_INT(ops->sign_hash(p, &k, &ref, &g, h256, h256n, &sig),
		  PSA_ERR_INVALID_ARGUMENT);

	/* PKCS#1 v1.5 encryption: OpenSSL encrypts, the token decrypts;
	 * the token encrypts and decrypts. */
	g = alg_of(PSA_ALG_ENCRYPT, PSA_ENCRYPT_RSA_PKCS1V15, PSA_HASH_NONE);
	CHECK(ossl_crypt(pub, 1, RSA_PKCS1_PADDING, NULL, NULL, 0, msg, sizeof msg, &ct));
	CHECK_INT(ops->asymmetric_decrypt(p, &k, &ref, &g, ct.data, ct.len, NULL, 0, &pt),
		  PSA_OK);
	CHECK(pt.len == sizeof msg && !memcmp(pt.data, msg, sizeof msg));
	buf_reset(&ct);
	buf_reset(&pt);
	CHECK_INT(ops->asymmetric_encrypt(p, &k, &ref, &g, msg, sizeof msg, NULL, 0, &ct),
		  PSA_OK);
	CHECK_INT(ct.len, 256);
	CHECK_INT(ops->asymmetric_decrypt(p, &k, &ref, &g, ct.data, ct.len, NULL, 0, &pt),
		  PSA_OK);
	CHECK(pt.len == sizeof msg && !memcmp(pt.data, msg, sizeof msg));
	buf_reset(&pt);
	if (ct.len == 256) {
		ct.data[0] ^= 0x5a;
		ct.data[1] ^= 0x33;
		r = ops->asymmetric_decrypt(p, &k, &ref, &g, ct.data, ct.len, NULL, 0, &pt);
		CHECK_INT(r, PSA_ERR_INVALID_PADDING);
		CHECK_INT(ops->asymmetric_decrypt(p, &k, &ref, &g, ct.data, 100, NULL, 0,
						  &pt), PSA_ERR_INVALID_ARGUMENT);
	}
	/* PKCS#1 v1.5 has no label. */
	CHECK_INT(ops->asymmetric_encrypt(p, &k, &ref, &g, msg, sizeof msg, msg, 3, &ct),
		  PSA_ERR_INVALID_ARGUMENT);
	/* Too long a message for the modulus. */
	{
		uint8_t longmsg[300] = { 1 };

		buf_reset(&ct);
		CHECK_INT(ops->asymmetric_encrypt(p, &k, &ref, &g, longmsg,
						  sizeof longmsg, NULL, 0, &ct),
			  PSA_ERR_INVALID_ARGUMENT);
	}

	/* OAEP with SHA-1: OpenSSL encrypts, the token decrypts. */
	buf_reset(&ct);
	buf_reset(&pt);
	g = alg_of(PSA_ALG_ENCRYPT, PSA_ENCRYPT_RSA_OAEP, PSA_HASH_SHA_1);
	CHECK(ossl_crypt(pub, 1, RSA_PKCS1_OAEP_PADDING, "SHA1", NULL, 0, msg, sizeof msg,
			 &ct));
	CHECK_INT(ops->asymmetric_decrypt(p, &k, &ref, &g, ct.data, ct.len, NULL, 0, &pt),
		  PSA_OK);
	CHECK(pt.len == sizeof msg && !memcmp(pt.data, msg, sizeof msg));
	buf_reset(&ct);
	buf_reset(&pt);
	CHECK_INT(ops->asymmetric_encrypt(p, &k, &ref, &g, msg, sizeof msg, NULL, 0, &ct),
		  PSA_OK);
	CHECK_INT(ops->asymmetric_decrypt(p, &k, &ref, &g, ct.data, ct.len, NULL, 0, &pt),
		  PSA_OK);
	CHECK(pt.len == sizeof msg && !memcmp(pt.data, msg, sizeof msg));

	/* OAEP with SHA-256 or with a label: SoftHSM 2.6 only does SHA-1
	 * without a label, and says so; a token that can must agree with
	 * OpenSSL. */
	buf_reset(&ct);
	buf_reset(&pt);
	g = alg_of(PSA_ALG_ENCRYPT, PSA_ENCRYPT_RSA_OAEP, PSA_HASH_SHA_256);
	r = ops->asymmetric_encrypt(p, &k, &ref, &g, msg, sizeof msg, NULL, 0, &ct);
	CHECK(r == PSA_OK || r == PSA_ERR_NOT_SUPPORTED);
	if (r == PSA_OK) {
		CHECK_INT(ops->asymmetric_decrypt(p, &k, &ref, &g, ct.data, ct.len, NULL,
						  0, &pt), PSA_OK);
		CHECK(pt.len == sizeof msg && !memcmp(pt.data, msg, sizeof msg));
	} else {
		printf("note: the token has no OAEP with SHA-256\n");
	}
	buf_reset(&ct);
	g = alg_of(PSA_ALG_ENCRYPT, PSA_ENCRYPT_RSA_OAEP, PSA_HASH_SHA_1);
	r = ops->asymmetric_encrypt(p, &k, &ref, &g, msg, sizeof msg,
				    (const uint8_t *)"label", 5, &ct);
	CHECK(r == PSA_OK || r == PSA_ERR_NOT_SUPPORTED);
	if (r != PSA_OK)
		printf("note: the token has no OAEP with a label\n");
	/* SoftHSM decrypts as if there were no label: refused, since a
	 * wrong label would go unnoticed. */
	buf_reset(&ct);
	buf_reset(&pt);
	CHECK(ossl_crypt(pub, 1, RSA_PKCS1_OAEP_PADDING, "SHA1", NULL, 0, msg, sizeof msg,
			 &ct));
	CHECK_INT(ops->asymmetric_decrypt(p, &k, &ref, &g, ct.data, ct.len,
					  (const uint8_t *)"label", 5, &pt),
		  PSA_ERR_NOT_SUPPORTED);

	/* Destroyed: every use says DOES_NOT_EXIST. */
	CHECK_INT(ops->destroy(p, &k, &ref), PSA_OK);
	CHECK_INT(inspect(&ref, &oi), 0);
	CHECK_INT(oi.count, 0);
	g = alg_of(PSA_ALG_SIGN, PSA_SIGN_RSA_PKCS1V15, PSA_HASH_SHA_256);
	buf_reset(&sig);
	CHECK_INT(ops->sign_hash(p, &k, &ref, &g, h256, h256n, &sig),
		  PSA_ERR_DOES_NOT_EXIST);
	CHECK_INT(ops->verify_hash(p, &k, &ref, &g, h256, h256n, h256, 256),
		  PSA_ERR_DOES_NOT_EXIST);
	buf_reset(&der);
	CHECK_INT(ops->export_public(p, &k, &ref, &der), PSA_ERR_DOES_NOT_EXIST);
	g = alg_of(PSA_ALG_ENCRYPT, PSA_ENCRYPT_RSA_PKCS1V15, PSA_HASH_NONE);
	CHECK_INT(ops->asymmetric_encrypt(p, &k, &ref, &g, msg, sizeof msg, NULL, 0, &ct),
		  PSA_ERR_DOES_NOT_EXIST);
	CHECK_INT(ops->destroy(p, &k, &ref), PSA_ERR_DOES_NOT_EXIST);
out:
	EVP_PKEY_free(pub);
	buf_free(&ref);
	buf_free(&der);
	buf_free(&sig);
	buf_free(&ct);
	buf_free(&pt);
}

static void test_rsa_3072(struct provider *p)
{
	struct psa_attrs k = attrs(PSA_KEY_RSA_PAIR, 0, 3072, U_SIGN);
	struct buf ref = BUF_INIT, der = BUF_INIT;
	EVP_PKEY *pub;

	/* No plan: generate chooses the reference itself. */
	CHECK_INT(ops->generate(p, &k, &ref), PSA_OK);
	CHECK_INT(ref.len, 16);
	CHECK_INT(ops->export_public(p, &k, &ref, &der), PSA_OK);
	pub = rsa_public(&der);
	CHECK(pub && EVP_PKEY_get_bits(pub) == 3072);
	if (pub)
		rsa_sign_case(p, &k, &ref, pub, PSA_SIGN_RSA_PSS, PSA_HASH_SHA_384,
			      "SHA384", h384, h384n);
	CHECK_INT(ops->destroy(p, &k, &ref), PSA_OK);
	EVP_PKEY_free(pub);
	buf_free(&ref);
	buf_free(&der);
}

static void test_rsa_imported(struct provider *p)
{
	EVP_PKEY *ok = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	struct psa_attrs k = attrs(PSA_KEY_RSA_PAIR, 0, 2048, U_SIGN | U_CRYPT);
	struct psa_attrs kp = attrs(PSA_KEY_RSA_PUBLIC, 0, 0, PSA_USAGE_VERIFY_HASH |
				    PSA_USAGE_ENCRYPT);
	struct buf priv = BUF_INIT, pubder = BUF_INIT, ref = BUF_INIT, ref2 = BUF_INIT,
		   out = BUF_INIT, sig = BUF_INIT, ct = BUF_INIT, pt = BUF_INIT;
	struct psa_alg g;
	struct objinfo oi;

	CHECK(ok && other);
	if (!ok || !other)
		goto out;
	CHECK(i2d_buf(ok, 1, &priv));
	CHECK(i2d_buf(ok, 0, &pubder));

	/* Damaged or mismatched key data. */
	CHECK_INT(ops->import(p, &k, priv.data, priv.len - 1, &ref),
		  PSA_ERR_INVALID_ARGUMENT);
	buf_reset(&ref);
	CHECK_INT(ops->import(p, &k, priv.data, 0, &ref), PSA_ERR_INVALID_ARGUMENT);
	buf_reset(&ref);
	k.bits = 3072;
	CHECK_INT(ops->import(p, &k, priv.data, priv.len, &ref), PSA_ERR_INVALID_ARGUMENT);
	k.bits = 2048;
	buf_reset(&ref);
	{
		/* n no longer p*q: the modulus's last byte sits just before
		 * the public exponent 02 03 01 00 01. */
		static const uint8_t e65537[] = { 0x02, 0x03, 0x01, 0x00, 0x01 };
		struct buf bad = BUF_INIT;
		uint8_t *e = NULL;

		buf_append(&bad, priv.data, priv.len);
		for (size_t i = 1; !e && i + sizeof e65537 <= bad.len; i++)
			if (!memcmp(bad.data + i, e65537, sizeof e65537))
				e = bad.data + i;
		CHECK(e != NULL);
		if (e) {
			e[-1] ^= 0x02;
			CHECK_INT(ops->import(p, &k, bad.data, bad.len, &ref),
				  PSA_ERR_INVALID_ARGUMENT);
		}
		buf_free(&bad);
		buf_reset(&ref);
	}
	CHECK_INT(inspect(&ref, &oi), 0);

	CHECK_INT(ops->plan(p, &ref), PSA_OK);
	CHECK_INT(ops->import(p, &k, priv.data, priv.len, &ref), PSA_OK);
	CHECK_INT(inspect(&ref, &oi), 0);
	CHECK_INT(oi.count, 2);
	CHECK_INT(oi.priv_sensitive, 1);
	CHECK_INT(oi.priv_extractable, 0);
	CHECK_INT(ops->export_public(p, &k, &ref, &out), PSA_OK);
	CHECK(out.len == pubder.len && !memcmp(out.data, pubder.data, out.len));

	/* PKCS#1 v1.5 is deterministic: the token and OpenSSL agree. */
	g = alg_of(PSA_ALG_SIGN, PSA_SIGN_RSA_PKCS1V15, PSA_HASH_SHA_256);
	CHECK_INT(ops->sign_hash(p, &k, &ref, &g, h256, h256n, &sig), PSA_OK);
	buf_reset(&out);
	CHECK(ossl_sign(ok, RSA_PKCS1_PADDING, "SHA256", h256, h256n, &out));
	CHECK(sig.len == out.len && !memcmp(sig.data, out.data, sig.len));
	/* OpenSSL's PSS signature verifies on the token. */
	buf_reset(&out);
	g = alg_of(PSA_ALG_SIGN, PSA_SIGN_RSA_PSS, PSA_HASH_SHA_256);
	CHECK(ossl_sign(ok, RSA_PKCS1_PSS_PADDING, "SHA256", h256, h256n, &out));
	CHECK_INT(ops->verify_hash(p, &k, &ref, &g, h256, h256n, out.data, out.len),
		  PSA_OK);
	/* The token encrypts, OpenSSL decrypts. */
	g = alg_of(PSA_ALG_ENCRYPT, PSA_ENCRYPT_RSA_PKCS1V15, PSA_HASH_NONE);
	CHECK_INT(ops->asymmetric_encrypt(p, &k, &ref, &g, msg, sizeof msg, NULL, 0, &ct),
		  PSA_OK);
	CHECK(ossl_crypt(ok, 0, RSA_PKCS1_PADDING, NULL, NULL, 0, ct.data, ct.len, &pt));
	CHECK(pt.len == sizeof msg && !memcmp(pt.data, msg, sizeof msg));
	CHECK_INT(ops->destroy(p, &k, &ref), PSA_OK);

	/* A public key alone (bits left open). */
	buf_reset(&pubder);
	buf_reset(&out);
	buf_reset(&sig);
	buf_reset(&ct);
	buf_reset(&pt);
	CHECK(i2d_buf(other, 0, &pubder));
	CHECK_INT(ops->import(p, &kp, pubder.data, pubder.len, &ref2), PSA_OK);
	CHECK_INT(inspect(&ref2, &oi), 0);
	CHECK_INT(oi.count, 1);
	CHECK_INT(oi.has_pub, 1);
	CHECK_INT(ops->export_public(p, &kp, &ref2, &out), PSA_OK);
	CHECK(out.len == pubder.len && !memcmp(out.data, pubder.data, out.len));
	g = alg_of(PSA_ALG_SIGN, PSA_SIGN_RSA_PKCS1V15, PSA_HASH_SHA_512);
	CHECK(ossl_sign(other, RSA_PKCS1_PADDING, "SHA512", h512, h512n, &sig));
	CHECK_INT(ops->verify_hash(p, &kp, &ref2, &g, h512, h512n, sig.data, sig.len),
		  PSA_OK);
	sig.data[3] ^= 1;
	CHECK_INT(ops->verify_hash(p, &kp, &ref2, &g, h512, h512n, sig.data, sig.len),
		  PSA_ERR_INVALID_SIGNATURE);
	CHECK_INT(ops->sign_hash(p, &kp, &ref2, &g, h512, h512n, &out),
		  PSA_ERR_INVALID_ARGUMENT);
	g = alg_of(PSA_ALG_ENCRYPT, PSA_ENCRYPT_RSA_OAEP, PSA_HASH_SHA_1);
	CHECK_INT(ops->asymmetric_encrypt(p, &kp, &ref2, &g, msg, sizeof msg, NULL, 0,
					  &ct), PSA_OK);
	CHECK(ossl_crypt(other, 0, RSA_PKCS1_OAEP_PADDING, "SHA1", NULL, 0, ct.data,
			 ct.len, &pt));
	CHECK(pt.len == sizeof msg && !memcmp(pt.data, msg, sizeof msg));
	CHECK_INT(ops->asymmetric_decrypt(p, &kp, &ref2, &g, ct.data, ct.len, NULL, 0,
					  &pt), PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(ops->destroy(p, &kp, &ref2), PSA_OK);
	/* A public key with trailing bytes. */
	buf_reset(&ref2);
	buf_append_u8(&pubder, 0);
	CHECK_INT(ops->import(p, &kp, pubder.data, pubder.len, &ref2),
		  PSA_ERR_INVALID_ARGUMENT);
out:
	EVP_PKEY_free(ok);
	EVP_PKEY_free(other);
	buf_free(&priv);
	buf_free(&pubder);
	buf_free(&ref);
	buf_free(&ref2);
	buf_free(&out);
	buf_free(&sig);
	buf_free(&ct);
	buf_free(&pt);
}

static const struct ec_case {
	int family;
	uint32_t bits;
	const char *group;
	enum psa_hash hash;
	const char *md;
} ec_cases[] = {
	{ PSA_ECC_SECP_R1, 256, "P-256", PSA_HASH_SHA_256, "SHA256" },
	{ PSA_ECC_SECP_R1, 384, "P-384", PSA_HASH_SHA_384, "SHA384" },
	{ PSA_ECC_SECP_R1, 521, "P-521", PSA_HASH_SHA_512, "SHA512" },
	{ PSA_ECC_SECP_K1, 256, "secp256k1", PSA_HASH_SHA_256, "SHA256" },
	{ PSA_ECC_BRAINPOOL_P_R1, 256, "brainpoolP256r1", PSA_HASH_SHA_256, "SHA256" },
};

static const uint8_t *hash_for(enum psa_hash h, size_t *n)
{
	switch (h) {
	case PSA_HASH_SHA_384: *n = h384n; return h384;
	case PSA_HASH_SHA_512: *n = h512n; return h512;
	default: *n = h256n; return h256;
	}
}

static void test_ecc_generated(struct provider *p)
{
	for (size_t i = 0; i < sizeof ec_cases / sizeof *ec_cases; i++) {
		const struct ec_case *c = &ec_cases[i];
		struct psa_attrs k = attrs(PSA_KEY_ECC_PAIR, c->family, c->bits,
					   U_SIGN | PSA_USAGE_EXPORT);
		struct psa_alg g = alg_of(PSA_ALG_SIGN, PSA_SIGN_ECDSA, c->hash);
		size_t flen = (c->bits + 7) / 8, hn;
		const uint8_t *hash = hash_for(c->hash, &hn);
		struct buf ref = BUF_INIT, pt = BUF_INIT, sig = BUF_INIT, der = BUF_INIT;
		struct objinfo oi;
		EVP_PKEY *pub = NULL;

		printf("curve %s\n", c->group);
		CHECK_INT(ops->plan(p, &ref), PSA_OK);
		CHECK_INT(ops->generate(p, &k, &ref), PSA_OK);
		CHECK_INT(inspect(&ref, &oi), 0);
		CHECK_INT(oi.count, 2);
		CHECK_INT(oi.priv_sensitive, 1);
		CHECK_INT(oi.priv_extractable, 1);	/* the export flag */
		CHECK_INT(ops->export_public(p, &k, &ref, &pt), PSA_OK);
		CHECK_INT(pt.len, 1 + 2 * flen);
		CHECK(pt.len && pt.data[0] == 0x04);
		pub = ec_public(c->group, pt.data, pt.len);
		CHECK(pub != NULL);

		CHECK_INT(ops->sign_hash(p, &k, &ref, &g, hash, hn, &sig), PSA_OK);
		CHECK_INT(sig.len, 2 * flen);
		CHECK(ecdsa_raw_to_der(sig.data, sig.len, &der));
		CHECK(pub && ossl_verify(pub, 0, NULL, hash, hn, der.data, der.len));
		CHECK_INT(ops->verify_hash(p, &k, &ref, &g, hash, hn, sig.data, sig.len),
			  PSA_OK);
		sig.data[5] ^= 0x10;
		CHECK_INT(ops->verify_hash(p, &k, &ref, &g, hash, hn, sig.data, sig.len),
			  PSA_ERR_INVALID_SIGNATURE);
		CHECK_INT(ops->verify_hash(p, &k, &ref, &g, hash, hn, sig.data,
					   sig.len - 2), PSA_ERR_INVALID_SIGNATURE);
		CHECK_INT(ops->sign_hash(p, &k, &ref, &g, hash, hn - 1, &der),
			  PSA_ERR_INVALID_ARGUMENT);

		/* ECDSA_ANY: whatever bytes are given. */
		buf_reset(&sig);
		buf_reset(&der);
		g = alg_of(PSA_ALG_SIGN, PSA_SIGN_ECDSA_ANY, PSA_HASH_NONE);
		CHECK_INT(ops->sign_hash(p, &k, &ref, &g, h1, h1n, &sig), PSA_OK);
		CHECK(ecdsa_raw_to_der(sig.data, sig.len, &der));
		CHECK(pub && ossl_verify(pub, 0, NULL, h1, h1n, der.data, der.len));

		/* RFC 6979 is not what CKM_ECDSA does. */
		g = alg_of(PSA_ALG_SIGN, PSA_SIGN_DETERMINISTIC_ECDSA, c->hash);
		CHECK_INT(ops->sign_hash(p, &k, &ref, &g, hash, hn, &sig),
			  PSA_ERR_NOT_SUPPORTED);
		/* PKCS#1 on an EC key. */
		g = alg_of(PSA_ALG_SIGN, PSA_SIGN_RSA_PKCS1V15, PSA_HASH_SHA_256);
		CHECK_INT(ops->sign_hash(p, &k, &ref, &g, h256, h256n, &sig),
			  PSA_ERR_INVALID_ARGUMENT);
		g = alg_of(PSA_ALG_ENCRYPT, PSA_ENCRYPT_RSA_PKCS1V15, PSA_HASH_NONE);
		CHECK_INT(ops->asymmetric_encrypt(p, &k, &ref, &g, msg, sizeof msg,
						  NULL, 0, &sig),
			  PSA_ERR_INVALID_ARGUMENT);

		CHECK_INT(ops->destroy(p, &k, &ref), PSA_OK);
		g = alg_of(PSA_ALG_SIGN, PSA_SIGN_ECDSA, c->hash);
		CHECK_INT(ops->sign_hash(p, &k, &ref, &g, hash, hn, &sig),
			  PSA_ERR_DOES_NOT_EXIST);
		CHECK_INT(ops->destroy(p, &k, &ref), PSA_ERR_DOES_NOT_EXIST);
		EVP_PKEY_free(pub);
		buf_free(&ref);
		buf_free(&pt);
		buf_free(&sig);
		buf_free(&der);
	}
}

static void test_ecc_imported(struct provider *p)
{
	EVP_PKEY *kp = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *kq = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	struct psa_attrs k = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_SECP_R1, 384, U_SIGN);
	struct psa_attrs pk = attrs(PSA_KEY_ECC_PUBLIC, PSA_ECC_SECP_R1, 0,
				    PSA_USAGE_VERIFY_HASH);
	struct psa_alg g = alg_of(PSA_ALG_SIGN, PSA_SIGN_ECDSA, PSA_HASH_SHA_384);
	struct buf d = BUF_INIT, pt = BUF_INIT, ref = BUF_INIT, out = BUF_INIT,
		   sig = BUF_INIT, der = BUF_INIT;
	struct objinfo oi;

	CHECK(kp && kq);
	if (!kp || !kq)
		goto out;
	CHECK(ec_scalar_of(kp, 48, &d));
	CHECK(ec_point_of(kp, &pt));

	/* Bad scalars: wrong length, zero, the group order's size of 0xff. */
	CHECK_INT(ops->import(p, &k, d.data, 47, &ref), PSA_ERR_INVALID_ARGUMENT);
	{
		uint8_t zero[48] = { 0 }, big[48];

		memset(big, 0xff, sizeof big);
		buf_reset(&ref);
		CHECK_INT(ops->import(p, &k, zero, 48, &ref), PSA_ERR_INVALID_ARGUMENT);
		buf_reset(&ref);
		CHECK_INT(ops->import(p, &k, big, 48, &ref), PSA_ERR_INVALID_ARGUMENT);
	}
	buf_reset(&ref);
	CHECK_INT(ops->import(p, &k, d.data, d.len, &ref), PSA_OK);
	CHECK_INT(inspect(&ref, &oi), 0);
	CHECK_INT(oi.count, 2);
	CHECK_INT(oi.priv_extractable, 0);
	CHECK_INT(ops->export_public(p, &k, &ref, &out), PSA_OK);
	CHECK(out.len == pt.len && !memcmp(out.data, pt.data, out.len));
	CHECK_INT(ops->sign_hash(p, &k, &ref, &g, h384, h384n, &sig), PSA_OK);
	CHECK(ecdsa_raw_to_der(sig.data, sig.len, &der));
	CHECK(ossl_verify(kp, 0, NULL, h384, h384n, der.data, der.len));
	buf_reset(&der);
	buf_reset(&sig);
	CHECK(ossl_sign(kp, 0, NULL, h384, h384n, &der));
	CHECK(ecdsa_der_to_raw(&der, 48, &sig));
	CHECK_INT(ops->verify_hash(p, &k, &ref, &g, h384, h384n, sig.data, sig.len),
		  PSA_OK);
	CHECK_INT(ops->destroy(p, &k, &ref), PSA_OK);

	/* A public key, bits left open: the curve comes from the point's
	 * length, and later from the object's CKA_EC_PARAMS. */
	buf_reset(&pt);
	buf_reset(&ref);
	buf_reset(&out);
	buf_reset(&sig);
	buf_reset(&der);
	g = alg_of(PSA_ALG_SIGN, PSA_SIGN_ECDSA, PSA_HASH_SHA_256);
	CHECK(ec_point_of(kq, &pt));
	CHECK_INT(ops->import(p, &pk, pt.data, pt.len, &ref), PSA_OK);
	CHECK_INT(inspect(&ref, &oi), 0);
	CHECK_INT(oi.count, 1);
	CHECK_INT(ops->export_public(p, &pk, &ref, &out), PSA_OK);
	CHECK(out.len == pt.len && !memcmp(out.data, pt.data, out.len));
	CHECK(ossl_sign(kq, 0, NULL, h256, h256n, &der));
	CHECK(ecdsa_der_to_raw(&der, 32, &sig));
	CHECK_INT(ops->verify_hash(p, &pk, &ref, &g, h256, h256n, sig.data, sig.len),
		  PSA_OK);
	sig.data[40] ^= 4;
	CHECK_INT(ops->verify_hash(p, &pk, &ref, &g, h256, h256n, sig.data, sig.len),
		  PSA_ERR_INVALID_SIGNATURE);
	CHECK_INT(ops->sign_hash(p, &pk, &ref, &g, h256, h256n, &out),
		  PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(ops->destroy(p, &pk, &ref), PSA_OK);

	/* Points that are not on the curve, or of no curve's size. */
	buf_reset(&ref);
	pt.data[pt.len - 1] ^= 1;
	CHECK_INT(ops->import(p, &pk, pt.data, pt.len, &ref), PSA_ERR_INVALID_ARGUMENT);
	pt.data[pt.len - 1] ^= 1;
	pt.data[0] = 0x05;
	buf_reset(&ref);
	CHECK_INT(ops->import(p, &pk, pt.data, pt.len, &ref), PSA_ERR_INVALID_ARGUMENT);
	buf_reset(&ref);
	CHECK_INT(ops->import(p, &pk, pt.data, 40, &ref), PSA_ERR_INVALID_ARGUMENT);
	{
		struct psa_attrs mk = attrs(PSA_KEY_ECC_PUBLIC, PSA_ECC_MONTGOMERY, 255,
					    PSA_USAGE_VERIFY_HASH);

		buf_reset(&ref);
		CHECK_INT(ops->import(p, &mk, pt.data, 32, &ref), PSA_ERR_NOT_SUPPORTED);
	}
out:
	EVP_PKEY_free(kp);
	EVP_PKEY_free(kq);
	buf_free(&d);
	buf_free(&pt);
	buf_free(&ref);
	buf_free(&out);
	buf_free(&sig);
	buf_free(&der);
}

static void test_ecdh(struct provider *p)
{
	struct psa_attrs k = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_SECP_R1, 256,
				   PSA_USAGE_DERIVE);
	struct psa_alg g = alg_of(PSA_ALG_KEY_AGREEMENT, PSA_KA_ECDH, PSA_HASH_NONE);
	EVP_PKEY *peer = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), *tokpub = NULL;
	struct buf ref = BUF_INIT, mine = BUF_INIT, theirs = BUF_INIT, ours = BUF_INIT,
		   expect = BUF_INIT;
	EVP_PKEY_CTX *ctx = NULL;
	size_t len = 0;

	CHECK(peer != NULL);
	if (!peer)
		return;
	CHECK_INT(ops->generate(p, &k, &ref), PSA_OK);
	CHECK_INT(ops->export_public(p, &k, &ref, &mine), PSA_OK);
	tokpub = ec_public("P-256", mine.data, mine.len);
	CHECK(ec_point_of(peer, &theirs));
	CHECK_INT(ops->raw_key_agreement(p, &k, &ref, &g, theirs.data, theirs.len, &ours),
		  PSA_OK);
	CHECK_INT(ours.len, 32);
	ctx = EVP_PKEY_CTX_new(peer, NULL);
	CHECK(tokpub && ctx && EVP_PKEY_derive_init(ctx) == 1 &&
	      EVP_PKEY_derive_set_peer(ctx, tokpub) == 1 &&
	      EVP_PKEY_derive(ctx, NULL, &len) == 1 && buf_reserve(&expect, len) == 0 &&
	      EVP_PKEY_derive(ctx, expect.data, &len) == 1);
	expect.len = len;
	CHECK(ours.len == expect.len && !memcmp(ours.data, expect.data, ours.len));

	/* A peer point off the curve; a KDF the token is not asked for. */
	buf_reset(&ours);
	theirs.data[theirs.len - 1] ^= 1;
	CHECK_INT(ops->raw_key_agreement(p, &k, &ref, &g, theirs.data, theirs.len, &ours),
		  PSA_ERR_INVALID_ARGUMENT);
	theirs.data[theirs.len - 1] ^= 1;
	g.kdf = 1;
	CHECK_INT(ops->raw_key_agreement(p, &k, &ref, &g, theirs.data, theirs.len, &ours),
		  PSA_ERR_NOT_SUPPORTED);
	g.kdf = 0;
	CHECK_INT(ops->destroy(p, &k, &ref), PSA_OK);
	CHECK_INT(ops->raw_key_agreement(p, &k, &ref, &g, theirs.data, theirs.len, &ours),
		  PSA_ERR_DOES_NOT_EXIST);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer);
	EVP_PKEY_free(tokpub);
	buf_free(&ref);
	buf_free(&mine);
	buf_free(&theirs);
	buf_free(&ours);
	buf_free(&expect);
}

static void gcm_case(struct provider *p, const struct psa_attrs *k, const struct buf *ref,
		     const uint8_t *key, size_t tag)
{
	static const uint8_t nonce[12] = "assay-nonce";
	static const uint8_t ad[] = "header";
	struct psa_alg g = alg_of(PSA_ALG_AEAD, PSA_AEAD_GCM, PSA_HASH_NONE);
	struct buf ct = BUF_INIT, pt = BUF_INIT, expect = BUF_INIT;

	g.length = tag == 16 ? 0 : (uint32_t)tag;
	CHECK_INT(ops->aead(p, k, ref, &g, 1, nonce, sizeof nonce, ad, sizeof ad, msg,
			    sizeof msg, &ct), PSA_OK);
	CHECK_INT(ct.len, sizeof msg + tag);
	if (key) {
		CHECK(ossl_gcm(key, k->bits / 8, nonce, sizeof nonce, ad, sizeof ad, msg,
			       sizeof msg, tag, &expect));
		CHECK(ct.len == expect.len && !memcmp(ct.data, expect.data, ct.len));
	}
	CHECK_INT(ops->aead(p, k, ref, &g, 0, nonce, sizeof nonce, ad, sizeof ad, ct.data,
			    ct.len, &pt), PSA_OK);
	CHECK(pt.len == sizeof msg && !memcmp(pt.data, msg, sizeof msg));
	/* Not authentic: a flipped tag bit, other associated data. */
	buf_reset(&pt);
	ct.data[ct.len - 1] ^= 0x80;
	CHECK_INT(ops->aead(p, k, ref, &g, 0, nonce, sizeof nonce, ad, sizeof ad, ct.data,
			    ct.len, &pt), PSA_ERR_INVALID_SIGNATURE);
	ct.data[ct.len - 1] ^= 0x80;
	CHECK_INT(ops->aead(p, k, ref, &g, 0, nonce, sizeof nonce, ad, sizeof ad - 1,
			    ct.data, ct.len, &pt), PSA_ERR_INVALID_SIGNATURE);
	CHECK_INT(ops->aead(p, k, ref, &g, 0, nonce, sizeof nonce, ad, sizeof ad, ct.data,
			    tag - 1, &pt), PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(ops->aead(p, k, ref, &g, 1, nonce, 0, ad, sizeof ad, msg, sizeof msg,
			    &pt), PSA_ERR_INVALID_ARGUMENT);
	buf_free(&ct);
	buf_free(&pt);
	buf_free(&expect);
}

static void test_aes(struct provider *p)
{
	static const uint8_t key[32] = {
		0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa,
		0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a,
		0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0,
	};
	struct psa_attrs k = attrs(PSA_KEY_AES, 0, 256, U_CRYPT);
	struct psa_alg g = alg_of(PSA_ALG_AEAD, PSA_AEAD_CCM, PSA_HASH_NONE);
	struct buf ref = BUF_INIT, out = BUF_INIT;
	struct objinfo oi;

	CHECK_INT(ops->import(p, &k, key, 17, &ref), PSA_ERR_INVALID_ARGUMENT);
	buf_reset(&ref);
	k.bits = 128;
	CHECK_INT(ops->import(p, &k, key, 32, &ref), PSA_ERR_INVALID_ARGUMENT);
	k.bits = 256;
	buf_reset(&ref);
	CHECK_INT(ops->import(p, &k, key, 32, &ref), PSA_OK);
	CHECK_INT(inspect(&ref, &oi), 0);
	CHECK_INT(oi.count, 1);
	CHECK_INT(oi.has_secret, 1);
	CHECK_INT(oi.priv_sensitive, 1);
	CHECK_INT(oi.priv_extractable, 0);
	gcm_case(p, &k, &ref, key, 16);
	gcm_case(p, &k, &ref, key, 12);
	/* CCM is not offered; an odd tag size; export of a secret key. */
	CHECK_INT(ops->aead(p, &k, &ref, &g, 1, key, 12, NULL, 0, msg, sizeof msg, &out),
		  PSA_ERR_NOT_SUPPORTED);
	g = alg_of(PSA_ALG_AEAD, PSA_AEAD_GCM, PSA_HASH_NONE);
	g.length = 7;
	CHECK_INT(ops->aead(p, &k, &ref, &g, 1, key, 12, NULL, 0, msg, sizeof msg, &out),
		  PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(ops->export_public(p, &k, &ref, &out), PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(ops->destroy(p, &k, &ref), PSA_OK);
	g.length = 0;
	CHECK_INT(ops->aead(p, &k, &ref, &g, 1, key, 12, NULL, 0, msg, sizeof msg, &out),
		  PSA_ERR_DOES_NOT_EXIST);

	/* Generated keys of each size: a round trip on the token. */
	for (uint32_t bits = 128; bits <= 256; bits += 64) {
		struct psa_attrs kg = attrs(PSA_KEY_AES, 0, bits, U_CRYPT);

		buf_reset(&ref);
		CHECK_INT(ops->generate(p, &kg, &ref), PSA_OK);
		gcm_case(p, &kg, &ref, NULL, 16);
		CHECK_INT(ops->destroy(p, &kg, &ref), PSA_OK);
	}
	{
		struct psa_attrs kb = attrs(PSA_KEY_AES, 0, 100, U_CRYPT);

		buf_reset(&ref);
		CHECK_INT(ops->generate(p, &kb, &ref), PSA_ERR_INVALID_ARGUMENT);
	}
	buf_free(&ref);
	buf_free(&out);
}

static void test_generate_refused(struct provider *p)
{
	struct buf ref = BUF_INIT;
	struct psa_attrs k;

	k = attrs(PSA_KEY_RSA_PUBLIC, 0, 2048, U_SIGN);
	CHECK_INT(ops->generate(p, &k, &ref), PSA_ERR_INVALID_ARGUMENT);
	k = attrs(PSA_KEY_HMAC, 0, 256, U_SIGN);
	CHECK_INT(ops->generate(p, &k, &ref), PSA_ERR_NOT_SUPPORTED);
	CHECK_INT(ops->import(p, &k, msg, 16, &ref), PSA_ERR_NOT_SUPPORTED);
	k = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_MONTGOMERY, 255, U_SIGN);
	CHECK_INT(ops->generate(p, &k, &ref), PSA_ERR_NOT_SUPPORTED);
	k = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_SECP_R1, 200, U_SIGN);
	CHECK_INT(ops->generate(p, &k, &ref), PSA_ERR_NOT_SUPPORTED);
	k = attrs(PSA_KEY_RSA_PAIR, 0, 0, U_SIGN);
	CHECK_INT(ops->generate(p, &k, &ref), PSA_ERR_INVALID_ARGUMENT);
	buf_free(&ref);
}

/* Several threads on one provider: the session pool. */
struct worker {
	struct provider *p;
	const struct psa_attrs *k;
	const struct buf *ref;
	EVP_PKEY *pub;
	int failures;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct psa_alg g = alg_of(PSA_ALG_SIGN, PSA_SIGN_ECDSA, PSA_HASH_SHA_256);

	for (int i = 0; i < 12; i++) {
		struct buf sig = BUF_INIT, der = BUF_INIT, rnd = BUF_INIT;

		if (ops->sign_hash(w->p, w->k, w->ref, &g, h256, h256n, &sig) != PSA_OK ||
		    !ecdsa_raw_to_der(sig.data, sig.len, &der) ||
		    !ossl_verify(w->pub, 0, NULL, h256, h256n, der.data, der.len) ||
		    ops->verify_hash(w->p, w->k, w->ref, &g, h256, h256n, sig.data,
				     sig.len) != PSA_OK ||
		    ops->generate_random(w->p, 16, &rnd) != PSA_OK)
			w->failures++;
		buf_free(&sig);
		buf_free(&der);
		buf_free(&rnd);
	}
	return NULL;
}

static void test_threads(struct provider *p, const struct psa_attrs *k,
			 const struct buf *ref)
{
	struct buf pt = BUF_INIT;
	struct worker w[6];
	pthread_t t[6];
	EVP_PKEY *pub;

	CHECK_INT(ops->export_public(p, k, ref, &pt), PSA_OK);
	pub = ec_public("P-256", pt.data, pt.len);
	CHECK(pub != NULL);
	if (!pub)
		return;
	for (int i = 0; i < 6; i++) {
		w[i] = (struct worker){ p, k, ref, pub, 0 };
		CHECK_INT(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		CHECK_INT(w[i].failures, 0);
	}
	EVP_PKEY_free(pub);
	buf_free(&pt);
}

/* ---- Configuration errors ---- */

static void test_misconfig(void)
{
	char slot[32], bad_slot[32], pinfile[300], lib[320], sl[64], ser[128],
	     pf[320], badpf[320], free_sl[64];

	snprintf(slot, sizeof slot, "%lu", slot_id);
	snprintf(bad_slot, sizeof bad_slot, "%lu", slot_id + 17);
	snprintf(lib, sizeof lib, "--pkcs11-library=%s", SOFTHSM);
	snprintf(sl, sizeof sl, "--pkcs11-slot=%lu", slot_id);
	snprintf(ser, sizeof ser, "--pkcs11-token-serial=%s", serial);
	snprintf(pinfile, sizeof pinfile, "%s/pin", dir);
	snprintf(pf, sizeof pf, "--pkcs11-pin-file=%s", pinfile);

	OPEN_FAILS("pkcs11_library is not set", "--", sl, "--pkcs11-pin=1234");
	OPEN_FAILS("pkcs11_library /nonexistent/libnope.so: cannot load it",
		   "No such file", "--", "--pkcs11-library=/nonexistent/libnope.so",
		   "--pkcs11-pin=1234");
	/* A shared library that is no PKCS#11 module (by soname where
	 * the multiarch path differs). */
	OPEN_FAILS("is not a PKCS#11 module", "C_GetFunctionList", "--",
		   access(NOT_PKCS11, R_OK) == 0 ? "--pkcs11-library=" NOT_PKCS11
						 : "--pkcs11-library=libz.so.1",
		   "--pkcs11-pin=1234");

	/* The module cannot start: SoftHSM without its configuration. */
	setenv("SOFTHSM2_CONF", "/nonexistent/softhsm2.conf", 1);
	OPEN_FAILS("C_Initialize failed: CKR_", "--", lib, "--pkcs11-pin=1234");
	setenv("SOFTHSM2_CONF", conf, 1);

	{
		char b[64];

		snprintf(b, sizeof b, "--pkcs11-slot=%s", bad_slot);
		OPEN_FAILS("no such slot", slot, "--", lib, b, "--pkcs11-pin=1234");
	}
	OPEN_FAILS("pkcs11_token_serial 'nosuchserial': no token has this serial",
		   serial, "--", lib, "--pkcs11-token-serial=nosuchserial",
		   "--pkcs11-pin=1234");
	OPEN_FAILS("both set", "--", lib, sl, ser, "--pkcs11-pin=1234");
	if (have_free_slot) {
		snprintf(free_sl, sizeof free_sl, "--pkcs11-slot=%lu", free_slot);
		OPEN_FAILS("is not initialised", "--", lib, free_sl, "--pkcs11-pin=1234");
	}
	OPEN_FAILS("wrong PIN", "CKR_PIN_INCORRECT", "--", lib, sl, "--pkcs11-pin=9999");
	OPEN_FAILS("no user PIN", "--", lib, sl);
	OPEN_FAILS("pkcs11_pin and pkcs11_pin_file are both set", "--", lib, sl,
		   "--pkcs11-pin=1234", pf);

	/* PIN files: missing, readable by others, empty, too long. */
	snprintf(badpf, sizeof badpf, "--pkcs11-pin-file=%s/nope", dir);
	OPEN_FAILS("pkcs11_pin_file", "No such file", "--", lib, sl, badpf);
	write_file(pinfile, "1234\n", 0644);
	OPEN_FAILS("mode 0644", "group or others", "--", lib, sl, pf);
	write_file(pinfile, "1234\n", 0640);
	OPEN_FAILS("mode 0640", "--", lib, sl, pf);
	write_file(pinfile, "\n", 0600);
	OPEN_FAILS("is empty", "--", lib, sl, pf);
	{
		char longpin[400];

		memset(longpin, '7', sizeof longpin - 1);
		longpin[sizeof longpin - 1] = 0;
		write_file(pinfile, longpin, 0600);
		OPEN_FAILS("longer than", "--", lib, sl, pf);
	}
	write_file(pinfile, "9999\n", 0600);
	OPEN_FAILS("wrong PIN", "pkcs11_pin_file", "--", lib, sl, pf);
	write_file(pinfile, "1234\n", 0600);
}

static void test_open_variants(void)
{
	char lib[320], pf[320], pinfile[300];
	struct provider p;

	snprintf(lib, sizeof lib, "--pkcs11-library=%s", SOFTHSM);
	snprintf(pinfile, sizeof pinfile, "%s/pin", dir);
	snprintf(pf, sizeof pf, "--pkcs11-pin-file=%s", pinfile);
	write_file(pinfile, "1234\r\n", 0400);

	/* Neither slot nor serial: the one initialised token. */
	CHECK_INT(open_with(&p, lib, pf, NULL), 0);
	if (!p.state)
		printf("open: %s\n", err);
	else
		ops->close(&p);

	/* A second token: now the choice must be made. */
	if (sh("softhsm2-util --init-token --free --label assay2 --pin 4321 "
	       "--so-pin 8765 >/dev/null") != 0) {
		printf("note: cannot make a second token\n");
		return;
	}
	{
		unsigned long slot2;
		char ser2[64], s[128];

		CHECK_INT(find_token("assay2", &slot2, ser2, sizeof ser2), 0);
		OPEN_FAILS("several slots hold initialised tokens", serial, ser2, "--",
			   lib, pf);
		snprintf(s, sizeof s, "--pkcs11-token-serial=%s", ser2);
		CHECK_INT(open_with(&p, lib, s, "--pkcs11-pin=4321", NULL), 0);
		if (p.state) {
			struct buf r = BUF_INIT;

			CHECK_INT(ops->generate_random(&p, 8, &r), PSA_OK);
			buf_free(&r);
			ops->close(&p);
		} else {
			printf("open: %s\n", err);
		}
		/* Its PIN is not the first token's. */
		OPEN_FAILS("wrong PIN", "assay2", "--", lib, s, "--pkcs11-pin=1234");
	}
}

int main(void)
{
	char tokdir[300], text[512];
	struct provider p;

	if (access(SOFTHSM, R_OK) != 0)
		CHECK_SKIP("SoftHSM2 (%s) is not installed", SOFTHSM);
	if (system("command -v softhsm2-util >/dev/null 2>&1") != 0)
		CHECK_SKIP("softhsm2-util is not installed");
	snprintf(dir, sizeof dir, "%s/assay-p11-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir)) {
		printf("mkdtemp failed\n");
		return 1;
	}
	snprintf(tokdir, sizeof tokdir, "%s/tokens", dir);
	snprintf(conf, sizeof conf, "%s/softhsm2.conf", dir);
	mkdir(tokdir, 0700);
	snprintf(text, sizeof text, "directories.tokendir = %s\nobjectstore.backend = "
		 "file\nlog.level = ERROR\nslots.removable = false\n", tokdir);
	write_file(conf, text, 0600);
	setenv("SOFTHSM2_CONF", conf, 1);
	if (sh("softhsm2-util --init-token --free --label assay --pin 1234 --so-pin 5678 "
	       ">/dev/null") != 0) {
		printf("softhsm2-util --init-token failed\n");
		return 1;
	}
	if (find_token("assay", &slot_id, serial, sizeof serial) < 0 || !*serial) {
		printf("cannot find the new token in softhsm2-util --show-slots\n");
		return 1;
	}
	printf("token: slot %lu serial %s\n", slot_id, serial);

	digest("SHA256", msg, sizeof msg, h256, &h256n);
	digest("SHA384", msg, sizeof msg, h384, &h384n);
	digest("SHA512", msg, sizeof msg, h512, &h512n);
	digest("SHA1", msg, sizeof msg, h1, &h1n);
	digest("SHA3-256", msg, sizeof msg, h3_256, &h3_256n);

	CHECK_STR(ops->name, "pkcs11");
	CHECK_INT(ops->id, 2);
	CHECK_STR(ops->uuid, "30e39502-eba6-4d60-a4af-c518b7f5e38f");

	test_misconfig();

	/* By slot number: every operation. */
	{
		char lib[320], sl[64];

		snprintf(lib, sizeof lib, "--pkcs11-library=%s", SOFTHSM);
		snprintf(sl, sizeof sl, "--pkcs11-slot=%lu", slot_id);
		CHECK_INT(open_with(&p, lib, sl, "--pkcs11-pin=1234", NULL), 0);
	}
	if (!p.state) {
		printf("open by slot: %s\n", err);
		return check_done();
	}
	test_random_and_plan(&p);
	test_rsa_generated(&p);
	test_rsa_3072(&p);
	test_rsa_imported(&p);
	test_ecc_generated(&p);
	test_ecc_imported(&p);
	test_ecdh(&p);
	test_aes(&p);
	test_generate_refused(&p);

	/* A key made now must still work after reopening by serial. */
	struct psa_attrs kept = attrs(PSA_KEY_ECC_PAIR, PSA_ECC_SECP_R1, 256, U_SIGN);
	struct buf kref = BUF_INIT;

	CHECK_INT(ops->generate(&p, &kept, &kref), PSA_OK);
	ops->close(&p);
	{
		char lib[320], s[128];

		snprintf(lib, sizeof lib, "--pkcs11-library=%s", SOFTHSM);
		snprintf(s, sizeof s, "--pkcs11-token-serial=%s", serial);
		CHECK_INT(open_with(&p, lib, s, "--pkcs11-pin=1234", NULL), 0);
	}
	if (p.state) {
		test_threads(&p, &kept, &kref);
		CHECK_INT(ops->destroy(&p, &kept, &kref), PSA_OK);
		ops->close(&p);
	} else {
		printf("open by serial: %s\n", err);
	}
	buf_free(&kref);

	test_open_variants();

	snprintf(text, sizeof text, "rm -rf '%s'", dir);
	sh(text);
	return check_done();
}
