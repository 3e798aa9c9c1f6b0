/* assay key: parsec-tool's commands, with its flags and output, on the key
 * service (assay-keyd or any Parsec 1.0 service) through libassaykey.
 *
 *   assay key [--endpoint PATH] [--provider N] [--direct-app NAME]
 *             [--timeout-ms N] COMMAND [--OPTION=VALUE]... [DATA]
 *
 * The global options may also follow the command. Each command has its own
 * option table and manual (assay key COMMAND --help). Keys are used with
 * the algorithm of their policy, as parsec-tool does; data to sign is
 * hashed here and the hash signed by the service. */
#include <arpa/inet.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "assay/key.h"
#include "cli/key.h"
#include "config/config.h"
#include "util/buf.h"
#include "util/encode.h"
#include "util/file.h"
#include "util/log.h"

struct key_ctx {
	const char *cmd;
	const struct config *cfg;
	struct assay_key_client *c;
	const char *data;	/* the positional argument */
};

/* ---- messages ---- */

static int fail_status(struct key_ctx *k, int st)
{
	const char *why = assay_key_client_last_error(k->c);
	fprintf(stderr, "assay key %s: %s: %s%s%s%s\n", k->cmd, assay_key_status_name(st),
		assay_key_status_str(st), *why ? " (" : "", why, *why ? ")" : "");
	return 1;
}

static int fail_msg(struct key_ctx *k, int exit_status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail_msg(struct key_ctx *k, int exit_status, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "assay key %s: ", k->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return exit_status;
}

/* An option's name as typed: "key_name" -> "key-name". */
static const char *flag_of(const char *name, char *out, size_t n)
{
	snprintf(out, n, "%s", name);
	for (char *p = out; *p; p++)
		if (*p == '_')
			*p = '-';
	return out;
}

/* Whether a required option was given, saying so when not. */
static int given(struct key_ctx *k, const char *name)
{
	char flag[64];
	if (config_isset(k->cfg, name))
		return 1;
	fail_msg(k, 2, "--%s is required", flag_of(name, flag, sizeof flag));
	return 0;
}

/* A required text option's value, or NULL after saying so. */
static const char *need(struct key_ctx *k, const char *name)
{
	char flag[64];
	if (!given(k, name))
		return NULL;
	if (*config_str(k->cfg, name))
		return config_str(k->cfg, name);
	fail_msg(k, 2, "--%s: empty", flag_of(name, flag, sizeof flag));
	return NULL;
}

/* ---- names, as parsec-tool prints them ---- */

static const char *provider_name(uint32_t id)
{
	static const char *const names[] = {
		"Core provider", "Mbed Crypto provider", "PKCS #11 provider", "TPM provider",
		"Trusted Service provider", "CryptoAuthentication Library provider",
	};
	return id < sizeof names / sizeof *names ? names[id] : "unknown provider";
}

static const char *authenticator_name(uint32_t id)
{
	static const char *const names[] = {
		"No authentication", "Direct authentication", "JSON Web Tokens authentication",
		"Unix Peer Credentials authentication",
		"JWT SPIFFE Verifiable Identity Document authentication",
	};
	return id < sizeof names / sizeof *names ? names[id] : "unknown authenticator";
}

static const char *hash_debug(enum assay_key_hash h)
{
	switch (h) {
	case ASSAY_KEY_HASH_RIPEMD160: return "Ripemd160";
	case ASSAY_KEY_HASH_SHA_1: return "Sha1";
	case ASSAY_KEY_HASH_SHA_224: return "Sha224";
	case ASSAY_KEY_HASH_SHA_256: return "Sha256";
	case ASSAY_KEY_HASH_SHA_384: return "Sha384";
	case ASSAY_KEY_HASH_SHA_512: return "Sha512";
	case ASSAY_KEY_HASH_SHA_512_224: return "Sha512_224";
	case ASSAY_KEY_HASH_SHA_512_256: return "Sha512_256";
	case ASSAY_KEY_HASH_SHA3_224: return "Sha3_224";
	case ASSAY_KEY_HASH_SHA3_256: return "Sha3_256";
	case ASSAY_KEY_HASH_SHA3_384: return "Sha3_384";
	case ASSAY_KEY_HASH_SHA3_512: return "Sha3_512";
	default: return "UnknownHash";
	}
}

static const char *family_debug(int f)
{
	static const char *const names[] = {
		"None", "SecpK1", "SecpR1", "SecpR2", "SectK1", "SectR1", "SectR2",
		"BrainpoolPR1", "Frp", "Montgomery",
	};
	return f >= 0 && f < (int)(sizeof names / sizeof *names) ? names[f] : "Unknown";
}

/* The key type as Rust's Debug shows psa-crypto's Type. */
static void type_debug(struct buf *b, const struct assay_key_attrs *a)
{
	static const char *const names[] = {
		"None", "RawData", "Hmac", "Derive", "Aes", "Des", "Camellia", "Arc4",
		"Chacha20", "RsaPublicKey", "RsaKeyPair", "EccKeyPair", "EccPublicKey",
		"DhKeyPair", "DhPublicKey",
	};
	int t = (int)a->type;
	const char *name = t >= 0 && t < (int)(sizeof names / sizeof *names) ? names[t]
									     : "Unknown";
	if (a->type == ASSAY_KEY_TYPE_ECC_KEY_PAIR || a->type == ASSAY_KEY_TYPE_ECC_PUBLIC_KEY)
		buf_printf(b, "%s { curve_family: %s }", name, family_debug(a->family));
	else if (a->type == ASSAY_KEY_TYPE_DH_KEY_PAIR || a->type == ASSAY_KEY_TYPE_DH_PUBLIC_KEY)
		buf_printf(b, "%s { group_family: Rfc7919 }", name);
	else
		buf_printf(b, "%s", name);
}

static void sign_hash_debug(struct buf *b, enum assay_key_hash h)
{
	if (h == ASSAY_KEY_HASH_ANY)
		buf_printf(b, "Any");
	else
		buf_printf(b, "Specific(%s)", hash_debug(h));
}

static const char *kdf_debug(int kdf)
{
	return kdf == ASSAY_KEY_KDF_HKDF ? "Hkdf" : kdf == ASSAY_KEY_KDF_TLS12_PRF ? "Tls12Prf"
										: "Tls12PskToMs";
}

/* The algorithm as Rust's Debug shows psa-crypto's Algorithm. */
static void alg_debug(struct buf *b, const struct assay_key_alg *a)
{
	static const char *const ciphers[] = {
		"", "StreamCipher", "Ctr", "Cfb", "Ofb", "Xts", "EcbNoPadding", "CbcNoPadding",
		"CbcPkcs7",
	};
	static const char *const aeads[] = { "", "Ccm", "Gcm", "Chacha20Poly1305" };
	static const char *const macs[] = { "", "Hmac", "CbcMac", "Cmac" };
	static const char *const signs[] = {
		"", "RsaPkcs1v15Sign", "RsaPkcs1v15SignRaw", "RsaPss", "Ecdsa", "EcdsaAny",
		"DeterministicEcdsa",
	};
	int v = a->variant;
	switch (a->kind) {
	case ASSAY_KEY_ALG_HASH:
		buf_printf(b, "Hash(%s)", hash_debug(a->hash));
		return;
	case ASSAY_KEY_ALG_CIPHER:
		buf_printf(b, "Cipher(%s)", v >= 1 && v <= 8 ? ciphers[v] : "Unknown");
		return;
	case ASSAY_KEY_ALG_AEAD:
		if (a->length)
			buf_printf(b, "Aead(AeadWithShortenedTag { aead_alg: %s, tag_length: %u })",
				   v >= 1 && v <= 3 ? aeads[v] : "Unknown", a->length);
		else
			buf_printf(b, "Aead(AeadWithDefaultLengthTag(%s))",
				   v >= 1 && v <= 3 ? aeads[v] : "Unknown");
		return;
	case ASSAY_KEY_ALG_MAC: {
		struct buf m = BUF_INIT;
		if (v == ASSAY_KEY_MAC_HMAC)
			buf_printf(&m, "Hmac { hash_alg: %s }", hash_debug(a->hash));
		else
			buf_printf(&m, "%s", v >= 1 && v <= 3 ? macs[v] : "Unknown");
		if (a->length)
			buf_printf(b, "Mac(Truncated { mac_alg: %s, mac_length: %u })",
				   (char *)m.data, a->length);
		else
			buf_printf(b, "Mac(FullLength(%s))", (char *)m.data);
		buf_free(&m);
		return;
	}
	case ASSAY_KEY_ALG_SIGN:
		buf_printf(b, "AsymmetricSignature(%s", v >= 1 && v <= 6 ? signs[v] : "Unknown");
		if (v != ASSAY_KEY_SIGN_RSA_PKCS1V15_RAW && v != ASSAY_KEY_SIGN_ECDSA_ANY) {
			buf_printf(b, " { hash_alg: ");
			sign_hash_debug(b, a->hash);
			buf_printf(b, " }");
		}
		buf_printf(b, ")");
		return;
	case ASSAY_KEY_ALG_ENCRYPT:
		if (v == ASSAY_KEY_ENCRYPT_RSA_OAEP)
			buf_printf(b, "AsymmetricEncryption(RsaOaep { hash_alg: %s })",
				   hash_debug(a->hash));
		else
			buf_printf(b, "AsymmetricEncryption(RsaPkcs1v15Crypt)");
		return;
	case ASSAY_KEY_ALG_KEY_AGREEMENT: {
		const char *ka = v == ASSAY_KEY_KA_FFDH ? "Ffdh" : "Ecdh";
		if (a->kdf)
			buf_printf(b, "KeyAgreement(WithKeyDerivation { ka_alg: %s, kdf_alg: "
				   "%s { hash_alg: %s } })", ka, kdf_debug(a->kdf),
				   hash_debug(a->kdf_hash));
		else
			buf_printf(b, "KeyAgreement(Raw(%s))", ka);
		return;
	}
	case ASSAY_KEY_ALG_KEY_DERIVATION:
		buf_printf(b, "KeyDerivation(%s { hash_alg: %s })", kdf_debug(v),
			   hash_debug(a->hash));
		return;
	default:
		buf_printf(b, "None");
		return;
	}
}

/* ---- keys: PSA formats and OpenSSL ---- */

struct curve {
	const char *name;	/* as --curve takes it */
	int family;
	uint32_t bits;
	int nid;
	enum assay_key_hash hash;	/* the ECDSA hash create-ecc-key gives it */
};

static const struct curve curves[] = {
	{ "P-256", ASSAY_KEY_ECC_SECP_R1, 256, NID_X9_62_prime256v1, ASSAY_KEY_HASH_SHA_256 },
	{ "P-384", ASSAY_KEY_ECC_SECP_R1, 384, NID_secp384r1, ASSAY_KEY_HASH_SHA_384 },
	{ "P-521", ASSAY_KEY_ECC_SECP_R1, 521, NID_secp521r1, ASSAY_KEY_HASH_SHA_512 },
	{ "P-224", ASSAY_KEY_ECC_SECP_R1, 224, NID_secp224r1, ASSAY_KEY_HASH_SHA_224 },
	{ "P-192", ASSAY_KEY_ECC_SECP_R1, 192, NID_X9_62_prime192v1, ASSAY_KEY_HASH_SHA_256 },
	{ "secp256k1", ASSAY_KEY_ECC_SECP_K1, 256, NID_secp256k1, ASSAY_KEY_HASH_SHA_256 },
	{ "brainpoolP256r1", ASSAY_KEY_ECC_BRAINPOOL_P_R1, 256, NID_brainpoolP256r1,
	  ASSAY_KEY_HASH_SHA_256 },
	{ "brainpoolP384r1", ASSAY_KEY_ECC_BRAINPOOL_P_R1, 384, NID_brainpoolP384r1,
	  ASSAY_KEY_HASH_SHA_384 },
	{ "brainpoolP512r1", ASSAY_KEY_ECC_BRAINPOOL_P_R1, 512, NID_brainpoolP512r1,
	  ASSAY_KEY_HASH_SHA_512 },
};

static const struct curve *curve_of(int family, uint32_t bits)
{
	for (size_t i = 0; i < sizeof curves / sizeof *curves; i++)
		if (curves[i].family == family && curves[i].bits == bits)
			return &curves[i];
	return NULL;
}

static const struct curve *curve_by_nid(int nid)
{
	for (size_t i = 0; i < sizeof curves / sizeof *curves; i++)
		if (curves[i].nid == nid)
			return &curves[i];
	return NULL;
}

static const char *hash_ossl(enum assay_key_hash h)
{
	switch (h) {
	case ASSAY_KEY_HASH_RIPEMD160: return "RIPEMD160";
	case ASSAY_KEY_HASH_SHA_1: return "SHA1";
	case ASSAY_KEY_HASH_SHA_224: return "SHA224";
	case ASSAY_KEY_HASH_SHA_256: return "SHA256";
	case ASSAY_KEY_HASH_SHA_384: return "SHA384";
	case ASSAY_KEY_HASH_SHA_512: return "SHA512";
	case ASSAY_KEY_HASH_SHA_512_224: return "SHA512-224";
	case ASSAY_KEY_HASH_SHA_512_256: return "SHA512-256";
	case ASSAY_KEY_HASH_SHA3_224: return "SHA3-224";
	case ASSAY_KEY_HASH_SHA3_256: return "SHA3-256";
	case ASSAY_KEY_HASH_SHA3_384: return "SHA3-384";
	case ASSAY_KEY_HASH_SHA3_512: return "SHA3-512";
	default: return NULL;
	}
}

static int is_rsa(enum assay_key_type t)
{
	return t == ASSAY_KEY_TYPE_RSA_KEY_PAIR || t == ASSAY_KEY_TYPE_RSA_PUBLIC_KEY;
}

static int is_ecdsa(int variant)
{
	return variant == ASSAY_KEY_SIGN_ECDSA || variant == ASSAY_KEY_SIGN_ECDSA_ANY ||
	       variant == ASSAY_KEY_SIGN_DETERMINISTIC_ECDSA;
}

/* A public key exported in PSA's format (DER RSAPublicKey; 04||X||Y; the
 * raw Montgomery u) as an OpenSSL key. */
static EVP_PKEY *pkey_from_psa(const struct assay_key_attrs *a, const uint8_t *p, size_t n)
{
	EVP_PKEY *k = NULL;
	if (is_rsa(a->type)) {
		const unsigned char *q = p;
		k = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q, (long)n);
		if (k && q != p + n) {
			EVP_PKEY_free(k);
			k = NULL;
		}
		return k;
	}
	if (a->type != ASSAY_KEY_TYPE_ECC_KEY_PAIR && a->type != ASSAY_KEY_TYPE_ECC_PUBLIC_KEY)
		return NULL;	/* DH, symmetric: no public key to show */
	if (a->family == ASSAY_KEY_ECC_MONTGOMERY)
		return EVP_PKEY_new_raw_public_key(a->bits == 448 ? EVP_PKEY_X448 : EVP_PKEY_X25519,
						   NULL, p, n);
	const struct curve *cv = curve_of(a->family, a->bits);
	if (!cv)
		return NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
				       (char *)OBJ_nid2sn(cv->nid), 0),
		OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)p, n),
		OSSL_PARAM_END,
	};
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) != 1)
		k = NULL;
	EVP_PKEY_CTX_free(ctx);
	return k;
}

/* ECDSA signatures: the service's r||s, X.509's and parsec-tool's DER. */
static int ecdsa_raw_to_der(const uint8_t *sig, size_t n, struct buf *out)
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)(n / 2), NULL), *ss = BN_bin2bn(sig + n / 2,
									(int)(n / 2), NULL);
	unsigned char *der = NULL;
	int len = -1;
	if (s && r && ss && n && n % 2 == 0 && ECDSA_SIG_set0(s, r, ss) == 1) {
		r = ss = NULL;
		len = i2d_ECDSA_SIG(s, &der);
	}
	BN_free(r);
	BN_free(ss);
	ECDSA_SIG_free(s);
	if (len <= 0)
		return -1;
	buf_append(out, der, (size_t)len);
	OPENSSL_free(der);
	return 0;
}

static int ecdsa_der_to_raw(const uint8_t *sig, size_t n, size_t field, struct buf *out)
{
	const unsigned char *q = sig;
	ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &q, (long)n);
	int ok = s && q == sig + n;
	if (ok) {
		uint8_t *p;
		ok = buf_reserve(out, 2 * field) == 0;
		p = out->data + out->len;
		ok = ok && BN_bn2binpad(ECDSA_SIG_get0_r(s), p, (int)field) == (int)field &&
		     BN_bn2binpad(ECDSA_SIG_get0_s(s), p + field, (int)field) == (int)field;
		if (ok)
			out->len += 2 * field;
	}
	ECDSA_SIG_free(s);
	return ok ? 0 : -1;
}

static int digest(enum assay_key_hash h, const void *p, size_t n, uint8_t *out, size_t *len)
{
	const char *name = hash_ossl(h);
	EVP_MD *md = name ? EVP_MD_fetch(NULL, name, NULL) : NULL;
	unsigned int l = 0;
	int ok = md && EVP_Digest(p, n, out, &l, md, NULL) == 1;
	EVP_MD_free(md);
	*len = l;
	return ok ? 0 : -1;
}

/* The key's signature algorithm, with the hash data is hashed with: the
 * policy's, SHA-256 where it allows any (or names none: raw RSA, ECDSA
 * over any hash). */
static int sign_alg(struct key_ctx *k, const struct assay_key_attrs *a, struct assay_key_alg *alg,
		    enum assay_key_hash *h)
{
	if (a->alg.kind != ASSAY_KEY_ALG_SIGN)
		return fail_msg(k, 1, "the key's algorithm is not a signature algorithm");
	*alg = a->alg;
	*h = a->alg.hash;
	if (*h == ASSAY_KEY_HASH_ANY || *h == ASSAY_KEY_HASH_NONE)
		*h = ASSAY_KEY_HASH_SHA_256;
	if (alg->variant != ASSAY_KEY_SIGN_RSA_PKCS1V15_RAW &&
	    alg->variant != ASSAY_KEY_SIGN_ECDSA_ANY)
		alg->hash = *h;
	if (!hash_ossl(*h))
		return fail_msg(k, 1, "the key's hash (%s) is not supported here", hash_debug(*h));
	return 0;
}

static int key_attrs(struct key_ctx *k, const char *name, struct assay_key_attrs *a)
{
	int st = assay_key_get_attributes(k->c, name, a);
	return st == ASSAY_KEY_OK ? 0 : fail_status(k, st);
}

static int print_b64(const uint8_t *p, size_t n)
{
	char *s = b64_encode_str(p, n);
	if (!s)
		return -1;
	printf("%s\n", s);
	free(s);
	return 0;
}

/* ---- core commands ---- */

static int cmd_ping(struct key_ctx *k)
{
	unsigned int maj, min;
	int st = assay_key_ping(k->c, &maj, &min);
	if (st != ASSAY_KEY_OK)
		return fail_status(k, st);
	printf("%u.%u\n", maj, min);
	return 0;
}

static int cmd_list_providers(struct key_ctx *k)
{
	struct assay_key_provider_info *p;
	size_t n;
	int st = assay_key_list_providers(k->c, &p, &n);
	if (st != ASSAY_KEY_OK)
		return fail_status(k, st);
	for (size_t i = 0; i < n; i++) {
		printf("ID: 0x%02x (%s)\n", p[i].id, provider_name(p[i].id));
		printf("Description: %s\n", p[i].description);
		printf("Version: %u.%u.%u\n", p[i].version_maj, p[i].version_min,
		       p[i].version_rev);
		printf("Vendor: %s\n", *p[i].vendor ? p[i].vendor : "Unspecified");
		printf("UUID: %s\n\n", p[i].uuid);
	}
	assay_key_free(p);
	return 0;
}

static int cmd_list_authenticators(struct key_ctx *k)
{
	struct assay_key_authenticator_info *a;
	size_t n;
	int st = assay_key_list_authenticators(k->c, &a, &n);
	if (st != ASSAY_KEY_OK)
		return fail_status(k, st);
	for (size_t i = 0; i < n; i++) {
		printf("ID: 0x%02x (%s)\n", a[i].id, authenticator_name(a[i].id));
		printf("Description: %s\n", a[i].description);
		printf("Version: %u.%u.%u\n\n", a[i].version_maj, a[i].version_min,
		       a[i].version_rev);
	}
	assay_key_free(a);
	return 0;
}

static int cmd_list_opcodes(struct key_ctx *k)
{
	uint8_t provider;
	int st = ASSAY_KEY_OK;
	if (config_isset(k->cfg, "provider"))
		provider = (uint8_t)config_int(k->cfg, "provider");
	else
		st = assay_key_client_provider(k->c, &provider);
	uint32_t *ops = NULL;
	size_t n = 0;
	if (st == ASSAY_KEY_OK)
		st = assay_key_list_opcodes(k->c, provider, &ops, &n);
	if (st != ASSAY_KEY_OK)
		return fail_status(k, st);
	log_info("Available opcodes for %s:", provider_name(provider));
	for (size_t i = 0; i < n; i++)
		printf("0x%02x (%s)\n", ops[i], assay_key_opcode_name(ops[i]));
	assay_key_free(ops);
	return 0;
}

static int cmd_list_keys(struct key_ctx *k)
{
	struct assay_key_info *keys;
	size_t n;
	int st = assay_key_list_keys(k->c, &keys, &n);
	if (st != ASSAY_KEY_OK)
		return fail_status(k, st);
	if (!n)
		log_info("No keys currently available.");
	for (size_t i = 0; i < n; i++) {
		struct buf t = BUF_INIT, a = BUF_INIT;
		type_debug(&t, &keys[i].attrs);
		alg_debug(&a, &keys[i].attrs.alg);
		printf("* %s (%s, %s, %u bits, permitted algorithm: %s)\n", keys[i].name,
		       provider_name(keys[i].provider_id), (char *)t.data, keys[i].attrs.bits,
		       (char *)a.data);
		buf_free(&t);
		buf_free(&a);
	}
	assay_key_free(keys);
	return 0;
}

static int cmd_list_clients(struct key_ctx *k)
{
	const char **l;
	size_t n;
	int st = assay_key_list_clients(k->c, &l, &n);
	if (st != ASSAY_KEY_OK)
		return fail_status(k, st);
	if (!n)
		log_info("No clients in the service.");
	for (size_t i = 0; i < n; i++)
		printf("%s\n", l[i]);
	assay_key_free(l);
	return 0;
}

static int cmd_delete_client(struct key_ctx *k)
{
	const char *client = need(k, "client");
	if (!client)
		return 2;
	int st = assay_key_delete_client(k->c, client);
	if (st != ASSAY_KEY_OK)
		return fail_status(k, st);
	log_info("Client \"%s\" deleted.", client);
	return 0;
}

static int cmd_generate_random(struct key_ctx *k)
{
	if (!given(k, "nbytes"))
		return 2;
	size_t n = (size_t)config_int(k->cfg, "nbytes");
	uint8_t *r;
	int st = assay_key_generate_random(k->c, n, &r);
	if (st != ASSAY_KEY_OK)
		return fail_status(k, st);
	for (size_t i = 0; i < n; i++)
		printf("%02X ", r[i]);
	printf("\n");
	assay_key_free_secret(r, n);
	return 0;
}

/* ---- keys ---- */

static int cmd_export_public_key(struct key_ctx *k)
{
	const char *name = need(k, "key_name");
	if (!name)
		return 2;
	struct assay_key_attrs a;
	uint8_t *pub;
	size_t n;
	int st = assay_key_export_public_key(k->c, name, &pub, &n);
	if (st != ASSAY_KEY_OK)
		return fail_status(k, st);
	int r = key_attrs(k, name, &a);
	EVP_PKEY *pk = NULL;
	if (r == 0 && config_bool(k->cfg, "pkcs1")) {
		if (!is_rsa(a.type))
			r = fail_msg(k, 1, "PKCS1 format doesn't support ECC keys");
		else if (PEM_write(stdout, "RSA PUBLIC KEY", "", pub, (long)n) <= 0)
			r = fail_msg(k, 1, "cannot write the key");
	} else if (r == 0) {
		pk = pkey_from_psa(&a, pub, n);
		if (!pk)
			r = fail_msg(k, 1, "the service's public key (%zu bytes) is not one this "
				     "tool can read", n);
		else if (PEM_write_PUBKEY(stdout, pk) != 1)
			r = fail_msg(k, 1, "cannot write the key");
	}
	EVP_PKEY_free(pk);
	assay_key_free(pub);
	return r;
}

static void signing_policy(struct assay_key_attrs *a, int variant, enum assay_key_hash h)
{
	a->usage = ASSAY_KEY_USAGE_SIGN_HASH | ASSAY_KEY_USAGE_VERIFY_HASH |
		   ASSAY_KEY_USAGE_SIGN_MESSAGE | ASSAY_KEY_USAGE_VERIFY_MESSAGE;
	a->alg = (struct assay_key_alg){ ASSAY_KEY_ALG_SIGN, variant, h, 0, 0,
					 ASSAY_KEY_HASH_NONE };
}

/* parsec-tool's RSA policies: encryption (PKCS#1 v1.5, or OAEP SHA-256)
 * unless --for-signing (PKCS#1 v1.5 SHA-256) or --for-signing-pss. */
static int rsa_policy(struct key_ctx *k, struct assay_key_attrs *a)
{
	int sign = config_bool(k->cfg, "for_signing"), pss = config_bool(k->cfg, "for_signing_pss");
	if ((sign || pss) && config_bool(k->cfg, "for_encryption"))
		return fail_msg(k, 2, "--for-encryption and --for-signing exclude each other");
	if (sign || pss) {
		signing_policy(a, sign ? ASSAY_KEY_SIGN_RSA_PKCS1V15 : ASSAY_KEY_SIGN_RSA_PSS,
			       ASSAY_KEY_HASH_SHA_256);
		return 0;
	}
	a->usage = ASSAY_KEY_USAGE_ENCRYPT | ASSAY_KEY_USAGE_DECRYPT;
	if (config_bool(k->cfg, "oaep"))
		a->alg = (struct assay_key_alg){ ASSAY_KEY_ALG_ENCRYPT, ASSAY_KEY_ENCRYPT_RSA_OAEP,
						 ASSAY_KEY_HASH_SHA_256, 0, 0, ASSAY_KEY_HASH_NONE };
	else
		a->alg = (struct assay_key_alg){ ASSAY_KEY_ALG_ENCRYPT,
						 ASSAY_KEY_ENCRYPT_RSA_PKCS1V15, ASSAY_KEY_HASH_NONE,
						 0, 0, ASSAY_KEY_HASH_NONE };
	return 0;
}

static int cmd_create_rsa_key(struct key_ctx *k)
{
	const char *name = need(k, "key_name");
	if (!name)
		return 2;
	struct assay_key_attrs a = { .type = ASSAY_KEY_TYPE_RSA_KEY_PAIR,
				     .bits = (uint32_t)config_int(k->cfg, "bits") };
	int r = rsa_policy(k, &a);
	if (r)
		return r;
	int st = assay_key_generate_key(k->c, name, &a);
	if (st != ASSAY_KEY_OK)
		return fail_status(k, st);
	log_info("Key \"%s\" created.", name);
	return 0;
}

static int cmd_create_ecc_key(struct key_ctx *k)
{
	const char *name = need(k, "key_name"), *cname = config_str(k->cfg, "curve");
	if (!name)
		return 2;
	static const struct { const char *alias, *name; } aliases[] = {
		{ "secp256r1", "P-256" }, { "prime256v1", "P-256" }, { "secp384r1", "P-384" },
		{ "secp521r1", "P-521" },
	};
	for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++)
		if (!strcasecmp(cname, aliases[i].alias))
			cname = aliases[i].name;
	const struct curve *cv = NULL;
	for (size_t i = 0; i < sizeof curves / sizeof *curves && !cv; i++)
		if (!strcasecmp(cname, curves[i].name))
			cv = &curves[i];
	if (!cv)
		return fail_msg(k, 2, "--curve: '%s' is not one of P-256, P-384, P-521, P-224, "
				"P-192, secp256k1, brainpoolP256r1, brainpoolP384r1, "
				"brainpoolP512r1", cname);
	struct assay_key_attrs a = { .type = ASSAY_KEY_TYPE_ECC_KEY_PAIR, .family = cv->family,
				     .bits = cv->bits };
	signing_policy(&a, ASSAY_KEY_SIGN_ECDSA, cv->hash);
	int st = assay_key_generate_key(k->c, name, &a);
	if (st != ASSAY_KEY_OK)
		return fail_status(k, st);
	log_info("Key \"%s\" created.", name);
	return 0;
}

static int cmd_delete_key(struct key_ctx *k)
{
	const char *name = need(k, "key_name");
	if (!name)
		return 2;
	int st = assay_key_destroy_key(k->c, name);
	if (st != ASSAY_KEY_OK)
		return fail_status(k, st);
	log_info("Key \"%s\" deleted.", name);
	return 0;
}

/* The data hashed (SHA-256 where the key allows any hash) and the hash
 * signed by the service: a signature as parsec-tool prints it (ECDSA in
 * DER). */
static int sign_data(struct key_ctx *k, const char *name, const struct assay_key_attrs *a,
		     const void *data, size_t len, struct buf *sig)
{
	struct assay_key_alg alg;
	enum assay_key_hash h = ASSAY_KEY_HASH_NONE;
	uint8_t hash[EVP_MAX_MD_SIZE], *raw;
	size_t hlen, n;
	int r = sign_alg(k, a, &alg, &h);
	if (r)
		return r;
	if (digest(h, data, len, hash, &hlen) < 0)
		return fail_msg(k, 1, "cannot hash with %s", hash_ossl(h));
	int st = assay_key_sign_hash(k->c, name, &alg, hash, hlen, &raw, &n);
	if (st != ASSAY_KEY_OK)
		return fail_status(k, st);
	if (is_ecdsa(alg.variant))
		r = ecdsa_raw_to_der(raw, n, sig) < 0
			? fail_msg(k, 1, "the service's ECDSA signature (%zu bytes) is malformed", n)
			: 0;
	else
		buf_append(sig, raw, n);
	assay_key_free(raw);
	return r;
}

static int cmd_sign(struct key_ctx *k)
{
	const char *name = need(k, "key_name");
	if (!name)
		return 2;
	struct assay_key_attrs a;
	struct buf sig = BUF_INIT;
	int r = key_attrs(k, name, &a);
	if (!r)
		r = sign_data(k, name, &a, k->data, strlen(k->data), &sig);
	if (!r && print_b64(sig.data, sig.len) < 0)
		r = fail_msg(k, 1, "out of memory");
	buf_free(&sig);
	return r;
}

static int cmd_verify(struct key_ctx *k)
{
	const char *name = need(k, "key_name"), *b64 = name ? need(k, "signature") : NULL;
	if (!b64)
		return 2;
	struct assay_key_attrs a;
	struct assay_key_alg alg;
	enum assay_key_hash h = ASSAY_KEY_HASH_NONE;
	struct buf sig = BUF_INIT, raw = BUF_INIT;
	uint8_t hash[EVP_MAX_MD_SIZE];
	size_t hlen;
	if (b64_decode(&sig, b64, strlen(b64)) < 0)
		return fail_msg(k, 2, "--signature: not base64");
	int r = key_attrs(k, name, &a);
	if (!r)
		r = sign_alg(k, &a, &alg, &h);
	if (!r && digest(h, k->data, strlen(k->data), hash, &hlen) < 0)
		r = fail_msg(k, 1, "cannot hash with %s", hash_ossl(h));
	/* ECDSA: DER as sign prints it, or the raw r||s. */
	if (!r && is_ecdsa(alg.variant) &&
	    ecdsa_der_to_raw(sig.data, sig.len, (a.bits + 7) / 8, &raw) < 0) {
		if (sig.len == 2 * (size_t)((a.bits + 7) / 8))
			buf_append(&raw, sig.data, sig.len);
		else
			r = fail_msg(k, 1, "--signature: not an ECDSA signature for a %u-bit key",
				     a.bits);
	} else if (!r && !is_ecdsa(alg.variant)) {
		buf_append(&raw, sig.data, sig.len);
	}
	if (!r) {
		int st = assay_key_verify_hash(k->c, name, &alg, hash, hlen, raw.data, raw.len);
		r = st == ASSAY_KEY_OK ? 0 : fail_status(k, st);
	}
	if (!r)
		printf("Verified OK\n");
	buf_free(&sig);
	buf_free(&raw);
	return r;
}

static int encryption_alg(struct key_ctx *k, const char *name, struct assay_key_alg *alg,
			  const char *what)
{
	struct assay_key_attrs a;
	int r = key_attrs(k, name, &a);
	if (r)
		return r;
	if (a.alg.kind == ASSAY_KEY_ALG_CIPHER || a.alg.kind == ASSAY_KEY_ALG_AEAD)
		return fail_msg(k, 1, "the key's algorithm is not currently supported for %s", what);
	if (a.alg.kind != ASSAY_KEY_ALG_ENCRYPT)
		return fail_msg(k, 1, "the key's algorithm cannot be used for %s", what);
	*alg = a.alg;
	return 0;
}

static int cmd_encrypt(struct key_ctx *k)
{
	const char *name = need(k, "key_name");
	if (!name)
		return 2;
	struct assay_key_alg alg;
	int r = encryption_alg(k, name, &alg, "encryption");
	if (r)
		return r;
	uint8_t *out;
	size_t n;
	int st = assay_key_asymmetric_encrypt(k->c, name, &alg, (const uint8_t *)k->data,
					      strlen(k->data), NULL, 0, &out, &n);
	if (st != ASSAY_KEY_OK)
		return fail_status(k, st);
	if (print_b64(out, n) < 0)
		r = fail_msg(k, 1, "out of memory");
	assay_key_free(out);
	return r;
}

static int cmd_decrypt(struct key_ctx *k)
{
	const char *name = need(k, "key_name");
	if (!name)
		return 2;
	struct buf in = BUF_INIT;
	if (b64_decode(&in, k->data, strlen(k->data)) < 0)
		return fail_msg(k, 2, "the ciphertext is not base64");
	struct assay_key_alg alg;
	int r = encryption_alg(k, name, &alg, "decryption");
	uint8_t *out = NULL;
	size_t n = 0;
	if (!r) {
		int st = assay_key_asymmetric_decrypt(k->c, name, &alg, in.data, in.len, NULL, 0,
						      &out, &n);
		r = st == ASSAY_KEY_OK ? 0 : fail_status(k, st);
	}
	if (!r) {
		fwrite(out, 1, n, stdout);
		printf("\n");
	}
	assay_key_free_secret(out, n);
	buf_free(&in);
	return r;
}

/* ---- create-csr ---- */

/* The signature AlgorithmIdentifier OpenSSL writes for this key, hash and
 * padding (PSS: salt as long as the hash, as PSA's RSA_PSS has it). */
static X509_ALGOR *signature_algor(EVP_PKEY *pk, const char *md, int pss)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	unsigned char der[256];
	OSSL_PARAM p[] = {
		OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, der, sizeof der),
		OSSL_PARAM_END,
	};
	X509_ALGOR *alg = NULL;
	if (m && EVP_DigestVerifyInit_ex(m, &pc, md, NULL, NULL, pk, NULL) == 1 &&
	    (!pss || (EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1 &&
		      EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) == 1)) &&
	    EVP_PKEY_CTX_get_params(pc, p) == 1) {
		const unsigned char *q = der;
		alg = d2i_X509_ALGOR(NULL, &q, (long)p[0].return_size);
	}
	EVP_MD_CTX_free(m);
	return alg;
}

/* The hash the CSR is signed with, as parsec-tool picks it (SHA-256 where
 * the key allows any). */
static int csr_hash(struct key_ctx *k, const struct assay_key_attrs *a, enum assay_key_hash *h)
{
	int v = a->alg.variant;
	if (a->alg.kind != ASSAY_KEY_ALG_SIGN)
		return fail_msg(k, 1, "the key is not an asymmetric signing key, which a "
				"certificate request needs");
	if (v == ASSAY_KEY_SIGN_RSA_PKCS1V15_RAW)
		return fail_msg(k, 1, "the key signs raw data only, which certificate requests "
				"do not use");
	*h = a->alg.hash == ASSAY_KEY_HASH_ANY || v == ASSAY_KEY_SIGN_ECDSA_ANY
		? ASSAY_KEY_HASH_SHA_256 : a->alg.hash;
	if (*h != ASSAY_KEY_HASH_SHA_256 && *h != ASSAY_KEY_HASH_SHA_384 &&
	    *h != ASSAY_KEY_HASH_SHA_512)
		return fail_msg(k, 1, "the key requires hash %s, which is not supported for "
				"certificate requests", hash_debug(*h));
	return 0;
}

static int csr_subject(struct key_ctx *k, X509_REQ *req)
{
	static const struct { const char *opt; int nid; } parts[] = {
		{ "cn", NID_commonName }, { "ou", NID_organizationalUnitName },
		{ "o", NID_organizationName }, { "l", NID_localityName },
		{ "st", NID_stateOrProvinceName }, { "c", NID_countryName },
		{ "serial_number", NID_serialNumber },
	};
	X509_NAME *nm = X509_REQ_get_subject_name(req);
	char flag[64];
	for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
		const char *v = config_isset(k->cfg, parts[i].opt)
			? config_str(k->cfg, parts[i].opt) : NULL;
		if (v && X509_NAME_add_entry_by_NID(nm, parts[i].nid, MBSTRING_UTF8,
						    (const unsigned char *)v, -1, -1, 0) != 1)
			return fail_msg(k, 2, "--%s: '%s' is not a valid %s",
					flag_of(parts[i].opt, flag, sizeof flag), v,
					OBJ_nid2ln(parts[i].nid));
	}
	return 0;
}

/* --san: comma-separated names, IP addresses as such, DNS names else. */
static int csr_san(struct key_ctx *k, X509_REQ *req)
{
	if (!config_isset(k->cfg, "san") || !*config_str(k->cfg, "san"))
		return 0;
	struct buf spec = BUF_INIT;
	char *list = strdup(config_str(k->cfg, "san")), *save = NULL;
	if (!list)
		return fail_msg(k, 1, "out of memory");
	for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		unsigned char ip[16];
		int is_ip = inet_pton(AF_INET, t, ip) == 1 || inet_pton(AF_INET6, t, ip) == 1;
		buf_printf(&spec, "%s%s:%s", spec.len ? "," : "", is_ip ? "IP" : "DNS", t);
	}
	X509_EXTENSION *ext = spec.len ? X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name,
							     (char *)spec.data) : NULL;
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	int ok = ext && exts && sk_X509_EXTENSION_push(exts, ext) > 0;
	if (ok)
		ext = NULL;
	ok = ok && X509_REQ_add_extensions(req, exts) == 1;
	X509_EXTENSION_free(ext);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	buf_free(&spec);
	free(list);
	return ok ? 0 : fail_msg(k, 2, "--san: '%s' is not a list of DNS names and IP addresses",
				 config_str(k->cfg, "san"));
}

/* The CertificationRequestInfo is built here, hashed, and signed by the
 * service; its signature and algorithm are then set on the request. */
static int csr_sign(struct key_ctx *k, const char *name, const struct assay_key_attrs *a,
		    enum assay_key_hash h, EVP_PKEY *pk, X509_REQ *req)
{
	X509_ALGOR *algor = signature_algor(pk, hash_ossl(h),
					    a->alg.variant == ASSAY_KEY_SIGN_RSA_PSS);
	if (!algor || X509_REQ_set1_signature_algo(req, algor) != 1) {
		X509_ALGOR_free(algor);
		return fail_msg(k, 1, "no X.509 signature algorithm for this key and hash");
	}
	X509_ALGOR_free(algor);
	unsigned char *tbs = NULL;
	int n = i2d_re_X509_REQ_tbs(req, &tbs);
	if (n <= 0)
		return fail_msg(k, 1, "cannot encode the certificate request");
	struct assay_key_attrs key = *a;
	key.alg.hash = h;
	if (a->alg.variant == ASSAY_KEY_SIGN_ECDSA_ANY)
		key.alg.hash = ASSAY_KEY_HASH_SHA_256;
	struct buf sig = BUF_INIT;
	int r = sign_data(k, name, &key, tbs, (size_t)n, &sig);
	OPENSSL_free(tbs);
	if (r) {
		buf_free(&sig);
		return r;
	}
	ASN1_BIT_STRING *bits = ASN1_BIT_STRING_new();
	if (!bits || ASN1_BIT_STRING_set(bits, sig.data, (int)sig.len) != 1) {
		ASN1_BIT_STRING_free(bits);
		buf_free(&sig);
		return fail_msg(k, 1, "out of memory");
	}
	/* A signature is whole bytes: no unused bits. */
	bits->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	bits->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	X509_REQ_set0_signature(req, bits);
	buf_free(&sig);
	if (X509_REQ_verify(req, pk) != 1)
		return fail_msg(k, 1, "the service's signature does not verify with the key's "
				"public key");
	return 0;
}

static int cmd_create_csr(struct key_ctx *k)
{
	const char *name = need(k, "key_name");
	if (!name)
		return 2;
	struct assay_key_attrs a;
	enum assay_key_hash h = ASSAY_KEY_HASH_NONE;
	uint8_t *pub = NULL;
	size_t n = 0;
	int st = assay_key_export_public_key(k->c, name, &pub, &n);
	if (st != ASSAY_KEY_OK)
		return fail_status(k, st);
	int r = key_attrs(k, name, &a);
	if (!r)
		r = csr_hash(k, &a, &h);
	EVP_PKEY *pk = r ? NULL : pkey_from_psa(&a, pub, n);
	if (!r && !pk)
		r = fail_msg(k, 1, "the service's public key (%zu bytes) is not one this tool "
			     "can read", n);
	X509_REQ *req = r ? NULL : X509_REQ_new();
	if (!r && (!req || X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
		   X509_REQ_set_pubkey(req, pk) != 1))
		r = fail_msg(k, 1, "out of memory");
	if (!r)
		r = csr_subject(k, req);
	if (!r)
		r = csr_san(k, req);
	if (!r)
		r = csr_sign(k, name, &a, h, pk, req);
	if (!r) {
		PEM_write_X509_REQ(stdout, req);
		printf("\n");	/* parsec-tool's println after the PEM */
	}
	X509_REQ_free(req);
	EVP_PKEY_free(pk);
	assay_key_free(pub);
	return r;
}

/* ---- import-key ---- */

static EVP_PKEY *read_key(const struct buf *file, int selection)
{
	EVP_PKEY *pk = NULL;
	const unsigned char *p = file->data;
	size_t len = file->len;
	OSSL_DECODER_CTX *d = OSSL_DECODER_CTX_new_for_pkey(&pk, NULL, NULL, NULL, selection,
							     NULL, NULL);
	if (!d || OSSL_DECODER_from_data(d, &p, &len) != 1)
		pk = NULL;
	OSSL_DECODER_CTX_free(d);
	return pk;
}

/* The key in PSA's import format, with its type, family and size. */
static int psa_import_data(struct key_ctx *k, EVP_PKEY *pk, int private, struct buf *out,
			   struct assay_key_attrs *a)
{
	a->bits = (uint32_t)EVP_PKEY_get_bits(pk);
	if (EVP_PKEY_is_a(pk, "RSA")) {
		unsigned char *der = NULL;
		int n = private ? i2d_PrivateKey(pk, &der) : i2d_PublicKey(pk, &der);
		a->type = private ? ASSAY_KEY_TYPE_RSA_KEY_PAIR : ASSAY_KEY_TYPE_RSA_PUBLIC_KEY;
		if (n > 0)
			buf_append(out, der, (size_t)n);
		if (der)
			OPENSSL_clear_free(der, n > 0 ? (size_t)n : 0);
		return n > 0 ? 0 : fail_msg(k, 1, "cannot encode the RSA key");
	}
	char group[64];
	const struct curve *cv = NULL;
	if (EVP_PKEY_is_a(pk, "EC") &&
	    EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
					   NULL) == 1) {
		int nid = OBJ_sn2nid(group);
		cv = curve_by_nid(nid != NID_undef ? nid : EC_curve_nist2nid(group));
	}
	if (!cv)
		return fail_msg(k, 1, "only RSA keys and EC keys on P-192..P-521, secp256k1 or "
				"brainpool curves can be imported");
	a->type = private ? ASSAY_KEY_TYPE_ECC_KEY_PAIR : ASSAY_KEY_TYPE_ECC_PUBLIC_KEY;
	a->family = cv->family;
	a->bits = cv->bits;
	size_t field = (cv->bits + 7) / 8;
	if (private) {
		BIGNUM *d = NULL;
		int ok = EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_PRIV_KEY, &d) == 1 &&
			 buf_reserve(out, field) == 0 &&
			 BN_bn2binpad(d, out->data, (int)field) == (int)field;
		BN_clear_free(d);
		if (!ok)
			return fail_msg(k, 1, "cannot read the EC private key");
		out->len = field;
		return 0;
	}
	uint8_t point[1 + 2 * 66];
	size_t n = 0;
	if (EVP_PKEY_set_utf8_string_param(pk, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
					   "uncompressed") != 1 ||
	    EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
					    sizeof point, &n) != 1)
		return fail_msg(k, 1, "cannot read the EC public key");
	buf_append(out, point, n);
	return 0;
}

static int cmd_import_key(struct key_ctx *k)
{
	const char *name = need(k, "key_name"), *path = name ? need(k, "file") : NULL;
	if (!path)
		return 2;
	struct buf file = BUF_INIT, data = BUF_INIT;
	if (file_read(path, 1 << 20, &file) < 0)
		return fail_msg(k, 1, "%s: cannot read it", path);
	int private = 1;
	EVP_PKEY *pk = read_key(&file, EVP_PKEY_KEYPAIR);
	if (!pk) {
		private = 0;
		pk = read_key(&file, EVP_PKEY_PUBLIC_KEY);
	}
	buf_free(&file);
	if (!pk)
		return fail_msg(k, 1, "%s: not a PEM or DER public or private key (encrypted keys "
				"are not read)", path);
	struct assay_key_attrs a = { 0 };
	int r = psa_import_data(k, pk, private, &data, &a);
	EVP_PKEY_free(pk);
	if (!r && is_rsa(a.type)) {
		r = rsa_policy(k, &a);
	} else if (!r) {
		if (config_bool(k->cfg, "for_encryption") || config_bool(k->cfg, "oaep"))
			r = fail_msg(k, 2, "EC keys are for signing only");
		else
			signing_policy(&a, ASSAY_KEY_SIGN_ECDSA, curve_of(a.family, a.bits)->hash);
	}
	if (!r && !private) {
		/* A public key can only check and encrypt. */
		a.usage &= ASSAY_KEY_USAGE_VERIFY_HASH | ASSAY_KEY_USAGE_VERIFY_MESSAGE |
			   ASSAY_KEY_USAGE_ENCRYPT;
	}
	if (!r) {
		int st = assay_key_import_key(k->c, name, &a, data.data, data.len);
		r = st == ASSAY_KEY_OK ? 0 : fail_status(k, st);
	}
	if (!r)
		log_info("Key \"%s\" imported.", name);
	buf_free(&data);
	return r;
}

/* ---- the command table ---- */

#define COMMON \
	{ "endpoint", CONFIG_PATH, NULL, "The key service's Unix socket (default: the path of PARSEC_SERVICE_ENDPOINT=unix:/PATH, else /run/assay/keyd.sock).", 0, 0 }, \
	{ "provider", CONFIG_INT, NULL, "The provider for key operations (default: the first provider the service lists).", 0, 255 }, \
	{ "direct_app", CONFIG_STRING, NULL, "Authenticate directly, as this application name (default: by Unix peer credentials).", 0, 0 }, \
	{ "timeout_ms", CONFIG_INT, "30000", "Time allowed for each request to the service; 0: no limit.", 0, 86400000 }, \
	{ "log_level", CONFIG_STRING, "warn", "error, warn, info or debug.", 0, 0 }
#define KEY_NAME { "key_name", CONFIG_STRING, NULL, "The key's name (-k).", 0, 0 }
#define RSA_POLICY \
	{ "for_signing", CONFIG_BOOL, "false", "An RSA signing key: PKCS#1 v1.5 with SHA-256 (-s).", 0, 0 }, \
	{ "for_signing_pss", CONFIG_BOOL, "false", "An RSA signing key: PSS with SHA-256 (-r; --for-signing wins).", 0, 0 }, \
	{ "for_encryption", CONFIG_BOOL, "false", "An RSA encryption key (the default for RSA): PKCS#1 v1.5.", 0, 0 }, \
	{ "oaep", CONFIG_BOOL, "false", "Encryption with RSA-OAEP (SHA-256) instead of PKCS#1 v1.5 (-o).", 0, 0 }
#define END { NULL, 0, NULL, NULL, 0, 0 }

static const struct config_option common_options[] = { COMMON, END };
static const struct config_option key_name_options[] = { COMMON, KEY_NAME, END };
static const struct config_option delete_client_options[] = {
	COMMON, { "client", CONFIG_STRING, NULL, "The client (application) to delete (-c).", 0, 0 }, END,
};
static const struct config_option random_options[] = {
	COMMON, { "nbytes", CONFIG_INT, NULL, "How many random bytes (-n).", 1, 1 << 20 }, END,
};
static const struct config_option export_options[] = {
	COMMON, KEY_NAME,
	{ "pkcs1", CONFIG_BOOL, "false", "RSA keys: print the PKCS#1 RSAPublicKey (RSA PUBLIC KEY) instead.", 0, 0 },
	END,
};
static const struct config_option rsa_options[] = {
	COMMON, KEY_NAME, RSA_POLICY,
	{ "bits", CONFIG_INT, "2048", "The key's size in bits (-b).", 0, 65535 },
	END,
};
static const struct config_option ecc_options[] = {
	COMMON, KEY_NAME,
	{ "curve", CONFIG_STRING, "P-256", "P-256, P-384, P-521, P-224, P-192, secp256k1, brainpoolP256r1, brainpoolP384r1 or brainpoolP512r1; ECDSA with SHA-256, or SHA-384 or SHA-512 for the larger curves.", 0, 0 },
	END,
};
static const struct config_option verify_options[] = {
	COMMON, KEY_NAME,
	{ "signature", CONFIG_STRING, NULL, "The signature, base64 (ECDSA: DER as sign prints it, or raw r||s).", 0, 0 },
	END,
};
static const struct config_option csr_options[] = {
	COMMON, KEY_NAME,
	{ "cn", CONFIG_STRING, NULL, "The subject's common name.", 0, 0 },
	{ "l", CONFIG_STRING, NULL, "The subject's locality.", 0, 0 },
	{ "c", CONFIG_STRING, NULL, "The subject's country (two letters).", 0, 0 },
	{ "st", CONFIG_STRING, NULL, "The subject's state or province.", 0, 0 },
	{ "o", CONFIG_STRING, NULL, "The subject's organization.", 0, 0 },
	{ "ou", CONFIG_STRING, NULL, "The subject's organizational unit.", 0, 0 },
	{ "serial_number", CONFIG_STRING, NULL, "The subject's serialNumber (also --serialNumber).", 0, 0 },
	{ "san", CONFIG_STRING, NULL, "Subject alternative names, comma-separated: IP addresses, else DNS names.", 0, 0 },
	END,
};
static const struct config_option import_options[] = {
	COMMON, KEY_NAME,
	{ "file", CONFIG_PATH, NULL, "The key: PEM or DER, public or private (PKCS#8, SubjectPublicKeyInfo, PKCS#1, SEC1), unencrypted.", 0, 0 },
	RSA_POLICY,
	END,
};

struct key_cmd {
	const char *name, *summary;
	const struct config_option *options;
	const char *data;	/* the positional argument it takes, or NULL */
	int (*run)(struct key_ctx *k);
};

static const struct key_cmd commands[] = {
	{ "ping", "ping the service and print its wire protocol version", common_options, NULL, cmd_ping },
	{ "list-providers", "list the service's providers", common_options, NULL, cmd_list_providers },
	{ "list-authenticators", "list the service's authenticators", common_options, NULL, cmd_list_authenticators },
	{ "list-opcodes", "list the operations a provider offers (--provider)", common_options, NULL, cmd_list_opcodes },
	{ "list-keys", "list this application's keys", common_options, NULL, cmd_list_keys },
	{ "list-clients", "list the applications that have keys (admin)", common_options, NULL, cmd_list_clients },
	{ "delete-client", "delete an application and all its keys (admin; --client)", delete_client_options, NULL, cmd_delete_client },
	{ "generate-random", "print random bytes from the service (--nbytes)", random_options, NULL, cmd_generate_random },
	{ "export-public-key", "print a key's public key as PEM", export_options, NULL, cmd_export_public_key },
	{ "create-rsa-key", "create an RSA key (encryption unless --for-signing)", rsa_options, NULL, cmd_create_rsa_key },
	{ "create-ecc-key", "create an ECDSA signing key (--curve, default P-256)", ecc_options, NULL, cmd_create_ecc_key },
	{ "sign", "sign DATA (a string) with the key's algorithm; base64 out", key_name_options, "DATA", cmd_sign },
	{ "verify", "check a --signature of DATA", verify_options, "DATA", cmd_verify },
	{ "encrypt", "encrypt DATA (a string); base64 out", key_name_options, "DATA", cmd_encrypt },
	{ "decrypt", "decrypt DATA (base64)", key_name_options, "DATA", cmd_decrypt },
	{ "delete-key", "destroy a key", key_name_options, NULL, cmd_delete_key },
	{ "create-csr", "print a certificate request (PEM) signed by the key", csr_options, NULL, cmd_create_csr },
	{ "import-key", "import a PEM or DER key file (--file)", import_options, NULL, cmd_import_key },
};

/* parsec-tool's short flags and spellings, per command (NULL: all). */
static const struct { const char *cmd, *from, *to; } aliases[] = {
	{ NULL, "-p", "--provider" },
	{ NULL, "-k", "--key-name" },
	{ NULL, "-s", "--for-signing" },
	{ NULL, "-r", "--for-signing-pss" },
	{ NULL, "-b", "--bits" },
	{ NULL, "-o", "--oaep" },
	{ NULL, "--serialNumber", "--serial-number" },
	{ "generate-random", "-n", "--nbytes" },
	{ "delete-client", "-c", "--client" },
};

static void usage(FILE *out)
{
	fputs("usage: assay key [GLOBAL OPTIONS] COMMAND [OPTIONS] [DATA]\n\n"
	      "The key service's command line (parsec-tool's commands): assay-keyd, or\n"
	      "any Parsec service, at --endpoint.\n\ncommands:\n", out);
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		fprintf(out, "  %-20s %s\n", commands[i].name, commands[i].summary);
	fputs("\nglobal options (before or after the command):\n"
	      "  --endpoint PATH      the service's socket (default: PARSEC_SERVICE_ENDPOINT\n"
	      "                       unix:/PATH, else /run/assay/keyd.sock)\n"
	      "  --provider N, -p N   the provider for key operations (default: the first)\n"
	      "  --direct-app NAME    direct authentication as NAME (default: Unix peer\n"
	      "                       credentials)\n"
	      "  --timeout-ms N       time allowed per request (default 30000; 0: none)\n\n"
	      "'assay key COMMAND --help' describes each command's options.\n"
	      "Exit status: 0 done, 1 the operation failed, 2 bad usage.\n", out);
}

/* Whether --name (no '=') takes the next argument as its value. */
static int takes_value(const struct config_option *opts, const char *arg);

/* The same, in any command's table (before the command is known). */
static int takes_value_any(const char *arg)
{
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		if (takes_value(commands[i].options, arg))
			return 1;
	return 0;
}

static int takes_value(const struct config_option *opts, const char *arg)
{
	char name[64];
	if (strncmp(arg, "--", 2) || strchr(arg, '='))
		return 0;
	snprintf(name, sizeof name, "%s", arg + 2);
	for (char *p = name; *p; p++)
		if (*p == '-')
			*p = '_';
	if (!strcmp(name, "config"))
		return 1;
	for (const struct config_option *o = opts; o->name; o++)
		if (!strcmp(o->name, name))
			return o->kind != CONFIG_BOOL;
	return 0;
}

static const char *alias_of(const char *cmd, const char *arg)
{
	for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++)
		if ((!aliases[i].cmd || !strcmp(aliases[i].cmd, cmd)) &&
		    !strcmp(aliases[i].from, arg))
			return aliases[i].to;
	return arg;
}

/* The command's position in argv: the first argument that is neither an
 * option nor a global option's value. */
static int find_command(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = alias_of("", argv[i]);
		if (a[0] != '-')
			return i;
		if (takes_value_any(a) || !strcmp(a, "-c"))
			i++;
	}
	return -1;
}

int key_main(int argc, char **argv)
{
	int at = find_command(argc, argv);
	if (at < 0) {
		int help = 0;
		for (int i = 1; i < argc; i++)
			help |= !strcmp(argv[i], "-h") || !strcmp(argv[i], "--help");
		if (!help)
			fprintf(stderr, "assay key: give a command\n");
		usage(help ? stdout : stderr);
		return help ? 0 : 2;
	}
	const struct key_cmd *cmd = NULL;
	for (size_t i = 0; i < sizeof commands / sizeof *commands && !cmd; i++)
		if (!strcmp(commands[i].name, argv[at]))
			cmd = &commands[i];
	if (!cmd) {
		fprintf(stderr, "assay key: unknown command '%s'\n", argv[at]);
		usage(stderr);
		return 2;
	}
	struct key_ctx k = { cmd->name, NULL, NULL, NULL };

	/* The arguments for the command's option table: aliases spelled out,
	 * the command and its DATA taken out. */
	char name[64], **args = calloc((size_t)argc + 1, sizeof *args);
	int n = 0, rest = 0;
	if (!args)
		return 1;
	snprintf(name, sizeof name, "assay key %s", cmd->name);
	args[n++] = name;
	for (int i = 1; i < argc; i++) {
		const char *a = rest ? argv[i] : alias_of(cmd->name, argv[i]);
		if (i == at)
			continue;
		if (cmd->data && !rest && !strcmp(a, "--")) {
			rest = 1;
			continue;
		}
		if (cmd->data && (rest || a[0] != '-' || !a[1]) && !k.data) {
			k.data = a;
			continue;
		}
		args[n++] = (char *)a;
		if (!rest && takes_value(cmd->options, a) && i + 1 < argc)
			args[n++] = argv[++i];
	}
	struct config_program prog = {
		name, "key", cmd->summary,
		"A command of the key service's command line (parsec-tool's). The service "
		"is assay-keyd or any Parsec 1.0 service; requests go to its Unix socket, "
		"authenticated by Unix peer credentials unless --direct-app is given.",
		"/etc/assay/key.toml", cmd->options,
	};
	struct config *cfg;
	int started = config_start(&prog, n, args, &cfg);
	if (started != 0) {
		free(args);
		return started < 0 ? 2 : 0;
	}
	k.cfg = cfg;
	int r = 0;
	if (cmd->data && !k.data)
		r = fail_msg(&k, 2, "give the %s (see --help)", cmd->data);
	if (!r && !(k.c = assay_key_client_new()))
		r = fail_msg(&k, 1, "out of memory");
	int st = ASSAY_KEY_OK;
	if (!r && config_isset(cfg, "endpoint"))
		st = assay_key_client_set_endpoint(k.c, config_str(cfg, "endpoint"));
	if (!r && st == ASSAY_KEY_OK && config_isset(cfg, "direct_app"))
		st = assay_key_client_set_direct(k.c, config_str(cfg, "direct_app"));
	/* list-opcodes names the provider to list; everything else the
	 * provider to work with. */
	if (!r && st == ASSAY_KEY_OK && config_isset(cfg, "provider") &&
	    cmd->run != cmd_list_opcodes)
		st = assay_key_client_set_provider(k.c, (uint8_t)config_int(cfg, "provider"));
	if (!r && st != ASSAY_KEY_OK)
		r = fail_msg(&k, 2, "%s", assay_key_client_last_error(k.c));
	if (!r) {
		assay_key_client_set_timeout_ms(k.c, (unsigned int)config_int(cfg, "timeout_ms"));
		r = cmd->run(&k);
	}
	fflush(stdout);
	assay_key_client_free(k.c);
	config_free(cfg);
	free(args);
	return r;
}
