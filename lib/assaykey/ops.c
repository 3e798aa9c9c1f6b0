/* libassaykey: one function per operation. Attributes and algorithms go
 * through the conversions the service uses (lib/parsec/psa_pb.c): the
 * public structures have the same fields and numbers, so the step between them is a field
 * copy, and client and service encode alike. */
#include <stdlib.h>
#include <string.h>

#include "assaykey/internal.h"
#include "parsec/psa_pb.h"
#include "parsec/wire.h"
#include "util/secure.h"

#include "attest_key.pb-c.h"
#include "can_do_crypto.pb-c.h"
#include "delete_client.pb-c.h"
#include "list_authenticators.pb-c.h"
#include "list_clients.pb-c.h"
#include "list_keys.pb-c.h"
#include "list_opcodes.pb-c.h"
#include "list_providers.pb-c.h"
#include "ping.pb-c.h"
#include "prepare_key_attestation.pb-c.h"
#include "psa_aead_decrypt.pb-c.h"
#include "psa_aead_encrypt.pb-c.h"
#include "psa_asymmetric_decrypt.pb-c.h"
#include "psa_asymmetric_encrypt.pb-c.h"
#include "psa_cipher_decrypt.pb-c.h"
#include "psa_cipher_encrypt.pb-c.h"
#include "psa_destroy_key.pb-c.h"
#include "psa_export_key.pb-c.h"
#include "psa_export_public_key.pb-c.h"
#include "psa_generate_key.pb-c.h"
#include "psa_generate_random.pb-c.h"
#include "psa_hash_compare.pb-c.h"
#include "psa_hash_compute.pb-c.h"
#include "psa_import_key.pb-c.h"
#include "psa_mac_compute.pb-c.h"
#include "psa_mac_verify.pb-c.h"
#include "psa_raw_key_agreement.pb-c.h"
#include "psa_sign_hash.pb-c.h"
#include "psa_sign_message.pb-c.h"
#include "psa_verify_hash.pb-c.h"
#include "psa_verify_message.pb-c.h"

/* The public numbers are the service's: a change on either side fails
 * the build here. */
#define SAME(a, b) _Static_assert((int)(a) == (int)(b), #a " differs from " #b)
SAME(ASSAY_KEY_TYPE_RAW_DATA, PSA_KEY_RAW_DATA);
SAME(ASSAY_KEY_TYPE_HMAC, PSA_KEY_HMAC);
SAME(ASSAY_KEY_TYPE_DERIVE, PSA_KEY_DERIVE);
SAME(ASSAY_KEY_TYPE_AES, PSA_KEY_AES);
SAME(ASSAY_KEY_TYPE_DES, PSA_KEY_DES);
SAME(ASSAY_KEY_TYPE_CAMELLIA, PSA_KEY_CAMELLIA);
SAME(ASSAY_KEY_TYPE_ARC4, PSA_KEY_ARC4);
SAME(ASSAY_KEY_TYPE_CHACHA20, PSA_KEY_CHACHA20);
SAME(ASSAY_KEY_TYPE_RSA_PUBLIC_KEY, PSA_KEY_RSA_PUBLIC);
SAME(ASSAY_KEY_TYPE_RSA_KEY_PAIR, PSA_KEY_RSA_PAIR);
SAME(ASSAY_KEY_TYPE_ECC_KEY_PAIR, PSA_KEY_ECC_PAIR);
SAME(ASSAY_KEY_TYPE_ECC_PUBLIC_KEY, PSA_KEY_ECC_PUBLIC);
SAME(ASSAY_KEY_TYPE_DH_KEY_PAIR, PSA_KEY_DH_PAIR);
SAME(ASSAY_KEY_TYPE_DH_PUBLIC_KEY, PSA_KEY_DH_PUBLIC);
SAME(ASSAY_KEY_ECC_SECP_K1, PSA_ECC_SECP_K1);
SAME(ASSAY_KEY_ECC_SECP_R1, PSA_ECC_SECP_R1);
SAME(ASSAY_KEY_ECC_BRAINPOOL_P_R1, PSA_ECC_BRAINPOOL_P_R1);
SAME(ASSAY_KEY_ECC_MONTGOMERY, PSA_ECC_MONTGOMERY);
SAME(ASSAY_KEY_ECC_SECT_K1, PSA_KEY_ATTRIBUTES__KEY_TYPE__ECC_FAMILY__SECT_K1);
SAME(ASSAY_KEY_ECC_SECT_R1, PSA_KEY_ATTRIBUTES__KEY_TYPE__ECC_FAMILY__SECT_R1);
SAME(ASSAY_KEY_ECC_FRP, PSA_KEY_ATTRIBUTES__KEY_TYPE__ECC_FAMILY__FRP);
SAME(ASSAY_KEY_USAGE_EXPORT, PSA_USAGE_EXPORT);
SAME(ASSAY_KEY_USAGE_COPY, PSA_USAGE_COPY);
SAME(ASSAY_KEY_USAGE_CACHE, PSA_USAGE_CACHE);
SAME(ASSAY_KEY_USAGE_ENCRYPT, PSA_USAGE_ENCRYPT);
SAME(ASSAY_KEY_USAGE_DECRYPT, PSA_USAGE_DECRYPT);
SAME(ASSAY_KEY_USAGE_SIGN_MESSAGE, PSA_USAGE_SIGN_MESSAGE);
SAME(ASSAY_KEY_USAGE_VERIFY_MESSAGE, PSA_USAGE_VERIFY_MESSAGE);
SAME(ASSAY_KEY_USAGE_SIGN_HASH, PSA_USAGE_SIGN_HASH);
SAME(ASSAY_KEY_USAGE_VERIFY_HASH, PSA_USAGE_VERIFY_HASH);
SAME(ASSAY_KEY_USAGE_DERIVE, PSA_USAGE_DERIVE);
SAME(ASSAY_KEY_ALG_NONE, PSA_ALG_NONE);
SAME(ASSAY_KEY_ALG_HASH, PSA_ALG_HASH);
SAME(ASSAY_KEY_ALG_MAC, PSA_ALG_MAC);
SAME(ASSAY_KEY_ALG_CIPHER, PSA_ALG_CIPHER);
SAME(ASSAY_KEY_ALG_AEAD, PSA_ALG_AEAD);
SAME(ASSAY_KEY_ALG_SIGN, PSA_ALG_SIGN);
SAME(ASSAY_KEY_ALG_ENCRYPT, PSA_ALG_ENCRYPT);
SAME(ASSAY_KEY_ALG_KEY_AGREEMENT, PSA_ALG_KEY_AGREEMENT);
SAME(ASSAY_KEY_ALG_KEY_DERIVATION, PSA_ALG_KEY_DERIVATION);
SAME(ASSAY_KEY_HASH_RIPEMD160, PSA_HASH_RIPEMD160);
SAME(ASSAY_KEY_HASH_SHA_1, PSA_HASH_SHA_1);
SAME(ASSAY_KEY_HASH_SHA_224, PSA_HASH_SHA_224);
SAME(ASSAY_KEY_HASH_SHA_256, PSA_HASH_SHA_256);
SAME(ASSAY_KEY_HASH_SHA_384, PSA_HASH_SHA_384);
SAME(ASSAY_KEY_HASH_SHA_512, PSA_HASH_SHA_512);
SAME(ASSAY_KEY_HASH_SHA_512_224, PSA_HASH_SHA_512_224);
SAME(ASSAY_KEY_HASH_SHA_512_256, PSA_HASH_SHA_512_256);
SAME(ASSAY_KEY_HASH_SHA3_224, PSA_HASH_SHA3_224);
SAME(ASSAY_KEY_HASH_SHA3_256, PSA_HASH_SHA3_256);
SAME(ASSAY_KEY_HASH_SHA3_384, PSA_HASH_SHA3_384);
SAME(ASSAY_KEY_HASH_SHA3_512, PSA_HASH_SHA3_512);
SAME(ASSAY_KEY_HASH_ANY, PSA_HASH_ANY);
SAME(ASSAY_KEY_SIGN_RSA_PKCS1V15, PSA_SIGN_RSA_PKCS1V15);
SAME(ASSAY_KEY_SIGN_RSA_PKCS1V15_RAW, PSA_SIGN_RSA_PKCS1V15_RAW);
SAME(ASSAY_KEY_SIGN_RSA_PSS, PSA_SIGN_RSA_PSS);
SAME(ASSAY_KEY_SIGN_ECDSA, PSA_SIGN_ECDSA);
SAME(ASSAY_KEY_SIGN_ECDSA_ANY, PSA_SIGN_ECDSA_ANY);
SAME(ASSAY_KEY_SIGN_DETERMINISTIC_ECDSA, PSA_SIGN_DETERMINISTIC_ECDSA);
SAME(ASSAY_KEY_ENCRYPT_RSA_PKCS1V15, PSA_ENCRYPT_RSA_PKCS1V15);
SAME(ASSAY_KEY_ENCRYPT_RSA_OAEP, PSA_ENCRYPT_RSA_OAEP);
SAME(ASSAY_KEY_MAC_HMAC, PSA_MAC_HMAC);
SAME(ASSAY_KEY_MAC_CBC_MAC, PSA_MAC_CBC_MAC);
SAME(ASSAY_KEY_MAC_CMAC, PSA_MAC_CMAC);
SAME(ASSAY_KEY_AEAD_CCM, PSA_AEAD_CCM);
SAME(ASSAY_KEY_AEAD_GCM, PSA_AEAD_GCM);
SAME(ASSAY_KEY_AEAD_CHACHA20_POLY1305, PSA_AEAD_CHACHA20_POLY1305);
SAME(ASSAY_KEY_CIPHER_STREAM, PSA_CIPHER_STREAM);
SAME(ASSAY_KEY_CIPHER_CBC_PKCS7, PSA_CIPHER_CBC_PKCS7);
SAME(ASSAY_KEY_KA_FFDH, PSA_KA_FFDH);
SAME(ASSAY_KEY_KA_ECDH, PSA_KA_ECDH);
SAME(ASSAY_KEY_KDF_HKDF, PSA_ALGORITHM__ALGORITHM__KEY_DERIVATION__VARIANT_HKDF);
SAME(ASSAY_KEY_KDF_TLS12_PRF, PSA_ALGORITHM__ALGORITHM__KEY_DERIVATION__VARIANT_TLS12_PRF);
SAME(ASSAY_KEY_KDF_TLS12_PSK_TO_MS,
     PSA_ALGORITHM__ALGORITHM__KEY_DERIVATION__VARIANT_TLS12_PSK_TO_MS);
SAME(ASSAY_KEY_CHECK_USE, CAN_DO_CRYPTO__CHECK_TYPE__USE);
SAME(ASSAY_KEY_CHECK_DERIVE, CAN_DO_CRYPTO__CHECK_TYPE__DERIVE);
SAME(ASSAY_KEY_PSA_ERR_GENERIC, PSA_ERR_GENERIC);
SAME(ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT, PSA_ERR_INVALID_ARGUMENT);
SAME(ASSAY_KEY_PSA_ERR_DOES_NOT_EXIST, PSA_ERR_DOES_NOT_EXIST);
SAME(ASSAY_KEY_PSA_ERR_DATA_INVALID, PSA_ERR_DATA_INVALID);
SAME(ASSAY_KEY_CONNECTION_ERROR, PARSEC_CONNECTION_ERROR);
SAME(ASSAY_KEY_DEPRECATED_PRIMITIVE, PARSEC_DEPRECATED_PRIMITIVE);
SAME(ASSAY_KEY_AUTH_JWT_SVID, PARSEC_AUTH_JWT_SVID);
SAME(ASSAY_KEY_PROVIDER_CRYPTOAUTHLIB, PARSEC_PROVIDER_CRYPTOAUTHLIB);

#define BAD_ARG ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT

/* ---- conversions: field copies ---- */

static void alg_to_psa(const struct assay_key_alg *a, struct psa_alg *p)
{
	p->kind = (enum psa_alg_kind)a->kind;
	p->variant = a->variant;
	p->hash = (enum psa_hash)a->hash;
	p->length = a->length;
	p->kdf = a->kdf;
	p->kdf_hash = (enum psa_hash)a->kdf_hash;
}

static void attrs_from_psa(const struct psa_attrs *p, struct assay_key_attrs *a)
{
	a->type = (enum assay_key_type)p->type;
	a->family = p->family;
	a->bits = p->bits;
	a->usage = p->usage;
	a->alg.kind = (enum assay_key_alg_kind)p->alg.kind;
	a->alg.variant = p->alg.variant;
	a->alg.hash = (enum assay_key_hash)p->alg.hash;
	a->alg.length = p->alg.length;
	a->alg.kdf = p->alg.kdf;
	a->alg.kdf_hash = (enum assay_key_hash)p->alg.kdf_hash;
}

/* Whether the variant is one the wire has for the kind: keyd's encoder
 * trusts what it is given. */
static int alg_valid(const struct assay_key_alg *a)
{
	int v = a->variant;
	switch (a->kind) {
	case ASSAY_KEY_ALG_UNSET: case ASSAY_KEY_ALG_NONE: case ASSAY_KEY_ALG_HASH:
		return 1;
	case ASSAY_KEY_ALG_MAC: return v >= ASSAY_KEY_MAC_HMAC && v <= ASSAY_KEY_MAC_CMAC;
	case ASSAY_KEY_ALG_CIPHER:
		return v >= ASSAY_KEY_CIPHER_STREAM && v <= ASSAY_KEY_CIPHER_CBC_PKCS7;
	case ASSAY_KEY_ALG_AEAD:
		return v >= ASSAY_KEY_AEAD_CCM && v <= ASSAY_KEY_AEAD_CHACHA20_POLY1305;
	case ASSAY_KEY_ALG_SIGN:
		return v >= ASSAY_KEY_SIGN_RSA_PKCS1V15 && v <= ASSAY_KEY_SIGN_DETERMINISTIC_ECDSA;
	case ASSAY_KEY_ALG_ENCRYPT:
		return v == ASSAY_KEY_ENCRYPT_RSA_PKCS1V15 || v == ASSAY_KEY_ENCRYPT_RSA_OAEP;
	case ASSAY_KEY_ALG_KEY_AGREEMENT:
		return (v == ASSAY_KEY_KA_FFDH || v == ASSAY_KEY_KA_ECDH) &&
		       a->kdf >= 0 && a->kdf <= ASSAY_KEY_KDF_TLS12_PSK_TO_MS;
	case ASSAY_KEY_ALG_KEY_DERIVATION:
		return v >= ASSAY_KEY_KDF_HKDF && v <= ASSAY_KEY_KDF_TLS12_PSK_TO_MS;
	default:
		return 0;
	}
}

/* An operation's algorithm, which must be of kind. */
static int alg_arg(struct assay_key_client *c, const struct assay_key_alg *a,
		   enum assay_key_alg_kind kind, struct psa_alg_pb *s)
{
	if (!a || a->kind != kind || !alg_valid(a))
		return assaykey_fail(c, BAD_ARG, "the algorithm is not a valid one of kind %d",
				     (int)kind);
	struct psa_alg p;
	alg_to_psa(a, &p);
	psa_alg_to_pb(&p, s);
	return ASSAY_KEY_OK;
}

static int attrs_arg(struct assay_key_client *c, const struct assay_key_attrs *a,
		     struct psa_attrs_pb *s)
{
	if (!a || !alg_valid(&a->alg))
		return assaykey_fail(c, BAD_ARG, "the key attributes' algorithm is not valid");
	struct psa_attrs p;
	p.type = (enum psa_key_type)a->type;
	p.family = a->family;
	p.bits = a->bits;
	p.usage = a->usage;
	alg_to_psa(&a->alg, &p.alg);
	if (psa_attrs_to_pb(&p, s) < 0)
		return assaykey_fail(c, BAD_ARG, "key type %d cannot be sent", (int)a->type);
	return ASSAY_KEY_OK;
}

/* ---- arguments and results ---- */

static int name_arg(struct assay_key_client *c, const char *name)
{
	if (!name || !*name)
		return assaykey_fail(c, BAD_ARG, "a key name is needed");
	return ASSAY_KEY_OK;
}

static int bytes_arg(struct assay_key_client *c, const void *p, size_t n)
{
	if (!p && n)
		return assaykey_fail(c, BAD_ARG, "NULL data of %zu bytes", n);
	return ASSAY_KEY_OK;
}

static ProtobufCBinaryData bin(const uint8_t *p, size_t n)
{
	ProtobufCBinaryData b = { n, (uint8_t *)p };
	return b;
}

/* Copies a result's bytes out, then wipes them where they were decoded. */
static int give(struct assay_key_client *c, ProtobufCBinaryData *d, uint8_t **out, size_t *len)
{
	uint8_t *p = malloc(d->len ? d->len : 1);
	int st = ASSAY_KEY_OK;
	if (!p)
		st = assaykey_fail(c, ASSAY_KEY_PSA_ERR_INSUFFICIENT_MEMORY, "out of memory");
	else if (d->len)
		memcpy(p, d->data, d->len);
	if (d->data)
		secure_wipe(d->data, d->len);
	*out = p;
	*len = p ? d->len : 0;
	return st;
}

#define OUT(p, n) do { if (p) *(p) = NULL; if (n) *(n) = 0; } while (0)
#define CALL(c, op, msg, rd, res) \
	assaykey_call(c, op, &(msg).base, rd, (ProtobufCMessage **)(res))

/* Strings of a list, stored after its array in the same allocation. */
static char *put(char **s, const char *str)
{
	size_t n = strlen(str ? str : "") + 1;
	char *at = *s;
	memcpy(at, str ? str : "", n);
	*s += n;
	return at;
}

static size_t slen(const char *s)
{
	return strlen(s ? s : "") + 1;
}

static void *block(struct assay_key_client *c, size_t n, size_t each, size_t strings,
		   char **s)
{
	char *b = malloc(n * each + strings + 1);
	if (!b) {
		assaykey_fail(c, ASSAY_KEY_PSA_ERR_INSUFFICIENT_MEMORY, "out of memory");
		return NULL;
	}
	*s = b + n * each;
	return b;
}

/* ---- core operations ---- */

int assay_key_ping(struct assay_key_client *c, unsigned int *major, unsigned int *minor)
{
	Ping__Operation op = PING__OPERATION__INIT;
	Ping__Result *res;
	int st = CALL(c, PARSEC_PING, op, &ping__result__descriptor, &res);
	if (st != ASSAY_KEY_OK)
		return st;
	if (major)
		*major = res->wire_protocol_version_maj;
	if (minor)
		*minor = res->wire_protocol_version_min;
	ping__result__free_unpacked(res, NULL);
	return ASSAY_KEY_OK;
}

int assay_key_list_providers(struct assay_key_client *c, struct assay_key_provider_info **out,
			     size_t *n)
{
	OUT(out, n);
	if (!out || !n)
		return assaykey_fail(c, BAD_ARG, "NULL output");
	ListProviders__Operation op = LIST_PROVIDERS__OPERATION__INIT;
	ListProviders__Result *res;
	int st = CALL(c, PARSEC_LIST_PROVIDERS, op, &list_providers__result__descriptor, &res);
	if (st != ASSAY_KEY_OK)
		return st;
	size_t strings = 0;
	for (size_t i = 0; i < res->n_providers; i++)
		strings += slen(res->providers[i]->uuid) + slen(res->providers[i]->description) +
			   slen(res->providers[i]->vendor);
	char *s;
	struct assay_key_provider_info *l = block(c, res->n_providers, sizeof *l, strings, &s);
	for (size_t i = 0; l && i < res->n_providers; i++) {
		const ListProviders__ProviderInfo *p = res->providers[i];
		l[i].uuid = put(&s, p->uuid);
		l[i].description = put(&s, p->description);
		l[i].vendor = put(&s, p->vendor);
		l[i].version_maj = p->version_maj;
		l[i].version_min = p->version_min;
		l[i].version_rev = p->version_rev;
		l[i].id = p->id;
	}
	if (l) {
		*out = l;
		*n = res->n_providers;
	}
	list_providers__result__free_unpacked(res, NULL);
	return l ? ASSAY_KEY_OK : ASSAY_KEY_PSA_ERR_INSUFFICIENT_MEMORY;
}

int assay_key_list_opcodes(struct assay_key_client *c, uint8_t provider, uint32_t **out,
			   size_t *n)
{
	OUT(out, n);
	if (!out || !n)
		return assaykey_fail(c, BAD_ARG, "NULL output");
	ListOpcodes__Operation op = LIST_OPCODES__OPERATION__INIT;
	ListOpcodes__Result *res;
	op.provider_id = provider;
	int st = CALL(c, PARSEC_LIST_OPCODES, op, &list_opcodes__result__descriptor, &res);
	if (st != ASSAY_KEY_OK)
		return st;
	uint32_t *l = malloc(res->n_opcodes * sizeof *l + 1);
	if (l) {
		if (res->n_opcodes)
			memcpy(l, res->opcodes, res->n_opcodes * sizeof *l);
		*out = l;
		*n = res->n_opcodes;
	}
	list_opcodes__result__free_unpacked(res, NULL);
	return l ? ASSAY_KEY_OK
		 : assaykey_fail(c, ASSAY_KEY_PSA_ERR_INSUFFICIENT_MEMORY, "out of memory");
}

int assay_key_list_authenticators(struct assay_key_client *c,
				  struct assay_key_authenticator_info **out, size_t *n)
{
	OUT(out, n);
	if (!out || !n)
		return assaykey_fail(c, BAD_ARG, "NULL output");
	ListAuthenticators__Operation op = LIST_AUTHENTICATORS__OPERATION__INIT;
	ListAuthenticators__Result *res;
	int st = CALL(c, PARSEC_LIST_AUTHENTICATORS, op,
		      &list_authenticators__result__descriptor, &res);
	if (st != ASSAY_KEY_OK)
		return st;
	size_t strings = 0;
	for (size_t i = 0; i < res->n_authenticators; i++)
		strings += slen(res->authenticators[i]->description);
	char *s;
	struct assay_key_authenticator_info *l = block(c, res->n_authenticators, sizeof *l,
						       strings, &s);
	for (size_t i = 0; l && i < res->n_authenticators; i++) {
		const ListAuthenticators__AuthenticatorInfo *a = res->authenticators[i];
		l[i].description = put(&s, a->description);
		l[i].version_maj = a->version_maj;
		l[i].version_min = a->version_min;
		l[i].version_rev = a->version_rev;
		l[i].id = a->id;
	}
	if (l) {
		*out = l;
		*n = res->n_authenticators;
	}
	list_authenticators__result__free_unpacked(res, NULL);
	return l ? ASSAY_KEY_OK : ASSAY_KEY_PSA_ERR_INSUFFICIENT_MEMORY;
}

int assay_key_list_keys(struct assay_key_client *c, struct assay_key_info **out, size_t *n)
{
	OUT(out, n);
	if (!out || !n)
		return assaykey_fail(c, BAD_ARG, "NULL output");
	ListKeys__Operation op = LIST_KEYS__OPERATION__INIT;
	ListKeys__Result *res;
	int st = CALL(c, PARSEC_LIST_KEYS, op, &list_keys__result__descriptor, &res);
	if (st != ASSAY_KEY_OK)
		return st;
	size_t strings = 0;
	for (size_t i = 0; i < res->n_keys; i++)
		strings += slen(res->keys[i]->name);
	char *s;
	struct assay_key_info *l = block(c, res->n_keys, sizeof *l, strings, &s);
	st = l ? ASSAY_KEY_OK : ASSAY_KEY_PSA_ERR_INSUFFICIENT_MEMORY;
	for (size_t i = 0; st == ASSAY_KEY_OK && i < res->n_keys; i++) {
		const ListKeys__KeyInfo *k = res->keys[i];
		struct psa_attrs a;
		if (psa_attrs_from_pb(k->attributes, &a) != PSA_OK) {
			st = assaykey_fail(c, ASSAY_KEY_INVALID_ENCODING, "key '%.100s': its "
					   "attributes do not decode", k->name ? k->name : "");
			break;
		}
		l[i].name = put(&s, k->name);
		l[i].provider_id = k->provider_id;
		attrs_from_psa(&a, &l[i].attrs);
	}
	if (st == ASSAY_KEY_OK) {
		*out = l;
		*n = res->n_keys;
	} else {
		free(l);
	}
	list_keys__result__free_unpacked(res, NULL);
	return st;
}

int assay_key_get_attributes(struct assay_key_client *c, const char *name,
			     struct assay_key_attrs *out)
{
	struct assay_key_info *keys;
	size_t n;
	uint8_t provider;
	int st = name_arg(c, name);
	if (st == ASSAY_KEY_OK && !out)
		st = assaykey_fail(c, BAD_ARG, "NULL output");
	if (st == ASSAY_KEY_OK)
		st = assay_key_client_provider(c, &provider);
	if (st == ASSAY_KEY_OK)
		st = assay_key_list_keys(c, &keys, &n);
	if (st != ASSAY_KEY_OK)
		return st;
	st = assaykey_fail(c, ASSAY_KEY_PSA_ERR_DOES_NOT_EXIST, "no key named '%.100s' in "
			   "provider %u", name, provider);
	for (size_t i = 0; i < n; i++) {
		if (keys[i].provider_id == provider && strcmp(keys[i].name, name) == 0) {
			*out = keys[i].attrs;
			c->err[0] = 0;
			st = ASSAY_KEY_OK;
			break;
		}
	}
	assay_key_free(keys);
	return st;
}

int assay_key_list_clients(struct assay_key_client *c, const char ***out, size_t *n)
{
	OUT(out, n);
	if (!out || !n)
		return assaykey_fail(c, BAD_ARG, "NULL output");
	ListClients__Operation op = LIST_CLIENTS__OPERATION__INIT;
	ListClients__Result *res;
	int st = CALL(c, PARSEC_LIST_CLIENTS, op, &list_clients__result__descriptor, &res);
	if (st != ASSAY_KEY_OK)
		return st;
	size_t strings = 0;
	for (size_t i = 0; i < res->n_clients; i++)
		strings += slen(res->clients[i]);
	char *s;
	const char **l = block(c, res->n_clients + 1, sizeof *l, strings, &s);
	if (l) {
		for (size_t i = 0; i < res->n_clients; i++)
			l[i] = put(&s, res->clients[i]);
		l[res->n_clients] = NULL;
		*out = l;
		*n = res->n_clients;
	}
	list_clients__result__free_unpacked(res, NULL);
	return l ? ASSAY_KEY_OK : ASSAY_KEY_PSA_ERR_INSUFFICIENT_MEMORY;
}

int assay_key_delete_client(struct assay_key_client *c, const char *client)
{
	if (!client || !*client)
		return assaykey_fail(c, BAD_ARG, "a client name is needed");
	DeleteClient__Operation op = DELETE_CLIENT__OPERATION__INIT;
	DeleteClient__Result *res;
	op.client = (char *)client;
	int st = CALL(c, PARSEC_DELETE_CLIENT, op, &delete_client__result__descriptor, &res);
	if (st == ASSAY_KEY_OK)
		delete_client__result__free_unpacked(res, NULL);
	return st;
}

/* ---- key management ---- */

int assay_key_generate_key(struct assay_key_client *c, const char *name,
			   const struct assay_key_attrs *attrs)
{
	struct psa_attrs_pb s;
	int st = name_arg(c, name);
	if (st == ASSAY_KEY_OK)
		st = attrs_arg(c, attrs, &s);
	if (st != ASSAY_KEY_OK)
		return st;
	PsaGenerateKey__Operation op = PSA_GENERATE_KEY__OPERATION__INIT;
	PsaGenerateKey__Result *res;
	op.key_name = (char *)name;
	op.attributes = &s.attrs;
	st = CALL(c, PARSEC_PSA_GENERATE_KEY, op, &psa_generate_key__result__descriptor, &res);
	if (st == ASSAY_KEY_OK)
		psa_generate_key__result__free_unpacked(res, NULL);
	return st;
}

int assay_key_import_key(struct assay_key_client *c, const char *name,
			 const struct assay_key_attrs *attrs, const uint8_t *data, size_t len)
{
	struct psa_attrs_pb s;
	int st = name_arg(c, name);
	if (st == ASSAY_KEY_OK)
		st = bytes_arg(c, data, len);
	if (st == ASSAY_KEY_OK)
		st = attrs_arg(c, attrs, &s);
	if (st != ASSAY_KEY_OK)
		return st;
	PsaImportKey__Operation op = PSA_IMPORT_KEY__OPERATION__INIT;
	PsaImportKey__Result *res;
	op.key_name = (char *)name;
	op.attributes = &s.attrs;
	op.data = bin(data, len);
	st = CALL(c, PARSEC_PSA_IMPORT_KEY, op, &psa_import_key__result__descriptor, &res);
	if (st == ASSAY_KEY_OK)
		psa_import_key__result__free_unpacked(res, NULL);
	return st;
}

int assay_key_destroy_key(struct assay_key_client *c, const char *name)
{
	int st = name_arg(c, name);
	if (st != ASSAY_KEY_OK)
		return st;
	PsaDestroyKey__Operation op = PSA_DESTROY_KEY__OPERATION__INIT;
	PsaDestroyKey__Result *res;
	op.key_name = (char *)name;
	st = CALL(c, PARSEC_PSA_DESTROY_KEY, op, &psa_destroy_key__result__descriptor, &res);
	if (st == ASSAY_KEY_OK)
		psa_destroy_key__result__free_unpacked(res, NULL);
	return st;
}

int assay_key_export_public_key(struct assay_key_client *c, const char *name, uint8_t **out,
				size_t *len)
{
	OUT(out, len);
	int st = name_arg(c, name);
	if (st == ASSAY_KEY_OK && (!out || !len))
		st = assaykey_fail(c, BAD_ARG, "NULL output");
	if (st != ASSAY_KEY_OK)
		return st;
	PsaExportPublicKey__Operation op = PSA_EXPORT_PUBLIC_KEY__OPERATION__INIT;
	PsaExportPublicKey__Result *res;
	op.key_name = (char *)name;
	st = CALL(c, PARSEC_PSA_EXPORT_PUBLIC_KEY, op, &psa_export_public_key__result__descriptor,
		  &res);
	if (st != ASSAY_KEY_OK)
		return st;
	st = give(c, &res->data, out, len);
	psa_export_public_key__result__free_unpacked(res, NULL);
	return st;
}

int assay_key_export_key(struct assay_key_client *c, const char *name, uint8_t **out,
			 size_t *len)
{
	OUT(out, len);
	int st = name_arg(c, name);
	if (st == ASSAY_KEY_OK && (!out || !len))
		st = assaykey_fail(c, BAD_ARG, "NULL output");
	if (st != ASSAY_KEY_OK)
		return st;
	PsaExportKey__Operation op = PSA_EXPORT_KEY__OPERATION__INIT;
	PsaExportKey__Result *res;
	op.key_name = (char *)name;
	st = CALL(c, PARSEC_PSA_EXPORT_KEY, op, &psa_export_key__result__descriptor, &res);
	if (st != ASSAY_KEY_OK)
		return st;
	st = give(c, &res->data, out, len);
	psa_export_key__result__free_unpacked(res, NULL);
	return st;
}

/* ---- signatures ---- */

/* The checks every keyed operation starts with: a name, input bytes, an
 * algorithm of the kind, somewhere for the output (when there is one). */
static int keyed_args(struct assay_key_client *c, const char *name, const void *in, size_t n,
		      const struct assay_key_alg *alg, enum assay_key_alg_kind kind,
		      struct psa_alg_pb *s, uint8_t **out, size_t *out_len, int has_out)
{
	int st = name_arg(c, name);
	if (st == ASSAY_KEY_OK)
		st = bytes_arg(c, in, n);
	if (st == ASSAY_KEY_OK && has_out && (!out || !out_len))
		st = assaykey_fail(c, BAD_ARG, "NULL output");
	if (st == ASSAY_KEY_OK)
		st = alg_arg(c, alg, kind, s);
	return st;
}

int assay_key_sign_hash(struct assay_key_client *c, const char *name,
			const struct assay_key_alg *alg, const uint8_t *hash, size_t hash_len,
			uint8_t **sig, size_t *sig_len)
{
	struct psa_alg_pb s;
	OUT(sig, sig_len);
	int st = keyed_args(c, name, hash, hash_len, alg, ASSAY_KEY_ALG_SIGN, &s, sig, sig_len, 1);
	if (st != ASSAY_KEY_OK)
		return st;
	PsaSignHash__Operation op = PSA_SIGN_HASH__OPERATION__INIT;
	PsaSignHash__Result *res;
	op.key_name = (char *)name;
	op.alg = s.alg.asymmetric_signature;
	op.hash = bin(hash, hash_len);
	st = CALL(c, PARSEC_PSA_SIGN_HASH, op, &psa_sign_hash__result__descriptor, &res);
	if (st != ASSAY_KEY_OK)
		return st;
	st = give(c, &res->signature, sig, sig_len);
	psa_sign_hash__result__free_unpacked(res, NULL);
	return st;
}

int assay_key_verify_hash(struct assay_key_client *c, const char *name,
			  const struct assay_key_alg *alg, const uint8_t *hash, size_t hash_len,
			  const uint8_t *sig, size_t sig_len)
{
	struct psa_alg_pb s;
	int st = keyed_args(c, name, hash, hash_len, alg, ASSAY_KEY_ALG_SIGN, &s, NULL, NULL, 0);
	if (st == ASSAY_KEY_OK)
		st = bytes_arg(c, sig, sig_len);
	if (st != ASSAY_KEY_OK)
		return st;
	PsaVerifyHash__Operation op = PSA_VERIFY_HASH__OPERATION__INIT;
	PsaVerifyHash__Result *res;
	op.key_name = (char *)name;
	op.alg = s.alg.asymmetric_signature;
	op.hash = bin(hash, hash_len);
	op.signature = bin(sig, sig_len);
	st = CALL(c, PARSEC_PSA_VERIFY_HASH, op, &psa_verify_hash__result__descriptor, &res);
	if (st == ASSAY_KEY_OK)
		psa_verify_hash__result__free_unpacked(res, NULL);
	return st;
}

int assay_key_sign_message(struct assay_key_client *c, const char *name,
			   const struct assay_key_alg *alg, const uint8_t *msg, size_t msg_len,
			   uint8_t **sig, size_t *sig_len)
{
	struct psa_alg_pb s;
	OUT(sig, sig_len);
	int st = keyed_args(c, name, msg, msg_len, alg, ASSAY_KEY_ALG_SIGN, &s, sig, sig_len, 1);
	if (st != ASSAY_KEY_OK)
		return st;
	PsaSignMessage__Operation op = PSA_SIGN_MESSAGE__OPERATION__INIT;
	PsaSignMessage__Result *res;
	op.key_name = (char *)name;
	op.alg = s.alg.asymmetric_signature;
	op.message = bin(msg, msg_len);
	st = CALL(c, PARSEC_PSA_SIGN_MESSAGE, op, &psa_sign_message__result__descriptor, &res);
	if (st != ASSAY_KEY_OK)
		return st;
	st = give(c, &res->signature, sig, sig_len);
	psa_sign_message__result__free_unpacked(res, NULL);
	return st;
}

int assay_key_verify_message(struct assay_key_client *c, const char *name,
			     const struct assay_key_alg *alg, const uint8_t *msg, size_t msg_len,
			     const uint8_t *sig, size_t sig_len)
{
	struct psa_alg_pb s;
	int st = keyed_args(c, name, msg, msg_len, alg, ASSAY_KEY_ALG_SIGN, &s, NULL, NULL, 0);
	if (st == ASSAY_KEY_OK)
		st = bytes_arg(c, sig, sig_len);
	if (st != ASSAY_KEY_OK)
		return st;
	PsaVerifyMessage__Operation op = PSA_VERIFY_MESSAGE__OPERATION__INIT;
	PsaVerifyMessage__Result *res;
	op.key_name = (char *)name;
	op.alg = s.alg.asymmetric_signature;
	op.message = bin(msg, msg_len);
	op.signature = bin(sig, sig_len);
	st = CALL(c, PARSEC_PSA_VERIFY_MESSAGE, op, &psa_verify_message__result__descriptor,
		  &res);
	if (st == ASSAY_KEY_OK)
		psa_verify_message__result__free_unpacked(res, NULL);
	return st;
}

/* ---- asymmetric encryption ---- */

int assay_key_asymmetric_encrypt(struct assay_key_client *c, const char *name,
				 const struct assay_key_alg *alg, const uint8_t *in, size_t in_len,
				 const uint8_t *salt, size_t salt_len,
				 uint8_t **out, size_t *out_len)
{
	struct psa_alg_pb s;
	OUT(out, out_len);
	int st = keyed_args(c, name, in, in_len, alg, ASSAY_KEY_ALG_ENCRYPT, &s, out, out_len, 1);
	if (st == ASSAY_KEY_OK)
		st = bytes_arg(c, salt, salt_len);
	if (st != ASSAY_KEY_OK)
		return st;
	PsaAsymmetricEncrypt__Operation op = PSA_ASYMMETRIC_ENCRYPT__OPERATION__INIT;
	PsaAsymmetricEncrypt__Result *res;
	op.key_name = (char *)name;
	op.alg = s.alg.asymmetric_encryption;
	op.plaintext = bin(in, in_len);
	op.salt = bin(salt, salt_len);
	st = CALL(c, PARSEC_PSA_ASYMMETRIC_ENCRYPT, op,
		  &psa_asymmetric_encrypt__result__descriptor, &res);
	if (st != ASSAY_KEY_OK)
		return st;
	st = give(c, &res->ciphertext, out, out_len);
	psa_asymmetric_encrypt__result__free_unpacked(res, NULL);
	return st;
}

int assay_key_asymmetric_decrypt(struct assay_key_client *c, const char *name,
				 const struct assay_key_alg *alg, const uint8_t *in, size_t in_len,
				 const uint8_t *salt, size_t salt_len,
				 uint8_t **out, size_t *out_len)
{
	struct psa_alg_pb s;
	OUT(out, out_len);
	int st = keyed_args(c, name, in, in_len, alg, ASSAY_KEY_ALG_ENCRYPT, &s, out, out_len, 1);
	if (st == ASSAY_KEY_OK)
		st = bytes_arg(c, salt, salt_len);
	if (st != ASSAY_KEY_OK)
		return st;
	PsaAsymmetricDecrypt__Operation op = PSA_ASYMMETRIC_DECRYPT__OPERATION__INIT;
	PsaAsymmetricDecrypt__Result *res;
	op.key_name = (char *)name;
	op.alg = s.alg.asymmetric_encryption;
	op.ciphertext = bin(in, in_len);
	op.salt = bin(salt, salt_len);
	st = CALL(c, PARSEC_PSA_ASYMMETRIC_DECRYPT, op,
		  &psa_asymmetric_decrypt__result__descriptor, &res);
	if (st != ASSAY_KEY_OK)
		return st;
	st = give(c, &res->plaintext, out, out_len);
	psa_asymmetric_decrypt__result__free_unpacked(res, NULL);
	return st;
}

/* ---- symmetric ---- */

static int aead(struct assay_key_client *c, int encrypt, const char *name,
		const struct assay_key_alg *alg, const uint8_t *nonce, size_t nonce_len,
		const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t in_len,
		uint8_t **out, size_t *out_len)
{
	struct psa_alg_pb s;
	OUT(out, out_len);
	int st = keyed_args(c, name, in, in_len, alg, ASSAY_KEY_ALG_AEAD, &s, out, out_len, 1);
	if (st == ASSAY_KEY_OK)
		st = bytes_arg(c, nonce, nonce_len);
	if (st == ASSAY_KEY_OK)
		st = bytes_arg(c, ad, ad_len);
	if (st != ASSAY_KEY_OK)
		return st;
	if (encrypt) {
		PsaAeadEncrypt__Operation op = PSA_AEAD_ENCRYPT__OPERATION__INIT;
		PsaAeadEncrypt__Result *res;
		op.key_name = (char *)name;
		op.alg = s.alg.aead;
		op.nonce = bin(nonce, nonce_len);
		op.additional_data = bin(ad, ad_len);
		op.plaintext = bin(in, in_len);
		st = CALL(c, PARSEC_PSA_AEAD_ENCRYPT, op, &psa_aead_encrypt__result__descriptor,
			  &res);
		if (st != ASSAY_KEY_OK)
			return st;
		st = give(c, &res->ciphertext, out, out_len);
		psa_aead_encrypt__result__free_unpacked(res, NULL);
	} else {
		PsaAeadDecrypt__Operation op = PSA_AEAD_DECRYPT__OPERATION__INIT;
		PsaAeadDecrypt__Result *res;
		op.key_name = (char *)name;
		op.alg = s.alg.aead;
		op.nonce = bin(nonce, nonce_len);
		op.additional_data = bin(ad, ad_len);
		op.ciphertext = bin(in, in_len);
		st = CALL(c, PARSEC_PSA_AEAD_DECRYPT, op, &psa_aead_decrypt__result__descriptor,
			  &res);
		if (st != ASSAY_KEY_OK)
			return st;
		st = give(c, &res->plaintext, out, out_len);
		psa_aead_decrypt__result__free_unpacked(res, NULL);
	}
	return st;
}

int assay_key_aead_encrypt(struct assay_key_client *c, const char *name,
			   const struct assay_key_alg *alg,
			   const uint8_t *nonce, size_t nonce_len,
			   const uint8_t *ad, size_t ad_len,
			   const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len)
{
	return aead(c, 1, name, alg, nonce, nonce_len, ad, ad_len, in, in_len, out, out_len);
}

int assay_key_aead_decrypt(struct assay_key_client *c, const char *name,
			   const struct assay_key_alg *alg,
			   const uint8_t *nonce, size_t nonce_len,
			   const uint8_t *ad, size_t ad_len,
			   const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len)
{
	return aead(c, 0, name, alg, nonce, nonce_len, ad, ad_len, in, in_len, out, out_len);
}

int assay_key_cipher_encrypt(struct assay_key_client *c, const char *name,
			     const struct assay_key_alg *alg, const uint8_t *in, size_t in_len,
			     uint8_t **out, size_t *out_len)
{
	struct psa_alg_pb s;
	OUT(out, out_len);
	int st = keyed_args(c, name, in, in_len, alg, ASSAY_KEY_ALG_CIPHER, &s, out, out_len, 1);
	if (st != ASSAY_KEY_OK)
		return st;
	PsaCipherEncrypt__Operation op = PSA_CIPHER_ENCRYPT__OPERATION__INIT;
	PsaCipherEncrypt__Result *res;
	op.key_name = (char *)name;
	op.alg = s.alg.cipher;
	op.plaintext = bin(in, in_len);
	st = CALL(c, PARSEC_PSA_CIPHER_ENCRYPT, op, &psa_cipher_encrypt__result__descriptor,
		  &res);
	if (st != ASSAY_KEY_OK)
		return st;
	st = give(c, &res->ciphertext, out, out_len);
	psa_cipher_encrypt__result__free_unpacked(res, NULL);
	return st;
}

int assay_key_cipher_decrypt(struct assay_key_client *c, const char *name,
			     const struct assay_key_alg *alg, const uint8_t *in, size_t in_len,
			     uint8_t **out, size_t *out_len)
{
	struct psa_alg_pb s;
	OUT(out, out_len);
	int st = keyed_args(c, name, in, in_len, alg, ASSAY_KEY_ALG_CIPHER, &s, out, out_len, 1);
	if (st != ASSAY_KEY_OK)
		return st;
	PsaCipherDecrypt__Operation op = PSA_CIPHER_DECRYPT__OPERATION__INIT;
	PsaCipherDecrypt__Result *res;
	op.key_name = (char *)name;
	op.alg = s.alg.cipher;
	op.ciphertext = bin(in, in_len);
	st = CALL(c, PARSEC_PSA_CIPHER_DECRYPT, op, &psa_cipher_decrypt__result__descriptor,
		  &res);
	if (st != ASSAY_KEY_OK)
		return st;
	st = give(c, &res->plaintext, out, out_len);
	psa_cipher_decrypt__result__free_unpacked(res, NULL);
	return st;
}

int assay_key_mac_compute(struct assay_key_client *c, const char *name,
			  const struct assay_key_alg *alg, const uint8_t *in, size_t in_len,
			  uint8_t **mac, size_t *mac_len)
{
	struct psa_alg_pb s;
	OUT(mac, mac_len);
	int st = keyed_args(c, name, in, in_len, alg, ASSAY_KEY_ALG_MAC, &s, mac, mac_len, 1);
	if (st != ASSAY_KEY_OK)
		return st;
	PsaMacCompute__Operation op = PSA_MAC_COMPUTE__OPERATION__INIT;
	PsaMacCompute__Result *res;
	op.key_name = (char *)name;
	op.alg = s.alg.mac;
	op.input = bin(in, in_len);
	st = CALL(c, PARSEC_PSA_MAC_COMPUTE, op, &psa_mac_compute__result__descriptor, &res);
	if (st != ASSAY_KEY_OK)
		return st;
	st = give(c, &res->mac, mac, mac_len);
	psa_mac_compute__result__free_unpacked(res, NULL);
	return st;
}

int assay_key_mac_verify(struct assay_key_client *c, const char *name,
			 const struct assay_key_alg *alg, const uint8_t *in, size_t in_len,
			 const uint8_t *mac, size_t mac_len)
{
	struct psa_alg_pb s;
	int st = keyed_args(c, name, in, in_len, alg, ASSAY_KEY_ALG_MAC, &s, NULL, NULL, 0);
	if (st == ASSAY_KEY_OK)
		st = bytes_arg(c, mac, mac_len);
	if (st != ASSAY_KEY_OK)
		return st;
	PsaMacVerify__Operation op = PSA_MAC_VERIFY__OPERATION__INIT;
	PsaMacVerify__Result *res;
	op.key_name = (char *)name;
	op.alg = s.alg.mac;
	op.input = bin(in, in_len);
	op.mac = bin(mac, mac_len);
	st = CALL(c, PARSEC_PSA_MAC_VERIFY, op, &psa_mac_verify__result__descriptor, &res);
	if (st == ASSAY_KEY_OK)
		psa_mac_verify__result__free_unpacked(res, NULL);
	return st;
}

/* ---- no key ---- */

int assay_key_hash_compute(struct assay_key_client *c, enum assay_key_hash alg,
			   const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len)
{
	OUT(out, out_len);
	int st = bytes_arg(c, in, in_len);
	if (st == ASSAY_KEY_OK && (!out || !out_len))
		st = assaykey_fail(c, BAD_ARG, "NULL output");
	if (st != ASSAY_KEY_OK)
		return st;
	PsaHashCompute__Operation op = PSA_HASH_COMPUTE__OPERATION__INIT;
	PsaHashCompute__Result *res;
	op.alg = (PsaAlgorithm__Algorithm__Hash)alg;
	op.input = bin(in, in_len);
	st = CALL(c, PARSEC_PSA_HASH_COMPUTE, op, &psa_hash_compute__result__descriptor, &res);
	if (st != ASSAY_KEY_OK)
		return st;
	st = give(c, &res->hash, out, out_len);
	psa_hash_compute__result__free_unpacked(res, NULL);
	return st;
}

int assay_key_hash_compare(struct assay_key_client *c, enum assay_key_hash alg,
			   const uint8_t *in, size_t in_len, const uint8_t *hash, size_t hash_len)
{
	int st = bytes_arg(c, in, in_len);
	if (st == ASSAY_KEY_OK)
		st = bytes_arg(c, hash, hash_len);
	if (st != ASSAY_KEY_OK)
		return st;
	PsaHashCompare__Operation op = PSA_HASH_COMPARE__OPERATION__INIT;
	PsaHashCompare__Result *res;
	op.alg = (PsaAlgorithm__Algorithm__Hash)alg;
	op.input = bin(in, in_len);
	op.hash = bin(hash, hash_len);
	st = CALL(c, PARSEC_PSA_HASH_COMPARE, op, &psa_hash_compare__result__descriptor, &res);
	if (st == ASSAY_KEY_OK)
		psa_hash_compare__result__free_unpacked(res, NULL);
	return st;
}

int assay_key_generate_random(struct assay_key_client *c, size_t n, uint8_t **out)
{
	if (out)
		*out = NULL;
	if (!out)
		return assaykey_fail(c, BAD_ARG, "NULL output");
	PsaGenerateRandom__Operation op = PSA_GENERATE_RANDOM__OPERATION__INIT;
	PsaGenerateRandom__Result *res;
	size_t len;
	op.size = n;
	int st = CALL(c, PARSEC_PSA_GENERATE_RANDOM, op, &psa_generate_random__result__descriptor,
		      &res);
	if (st != ASSAY_KEY_OK)
		return st;
	if (res->random_bytes.len != n) {
		st = assaykey_fail(c, ASSAY_KEY_INVALID_ENCODING, "%zu random bytes asked for, "
				   "%zu came", n, res->random_bytes.len);
		if (res->random_bytes.data)
			secure_wipe(res->random_bytes.data, res->random_bytes.len);
	} else
		st = give(c, &res->random_bytes, out, &len);
	psa_generate_random__result__free_unpacked(res, NULL);
	return st;
}

int assay_key_raw_key_agreement(struct assay_key_client *c, const char *private_key_name,
				const struct assay_key_alg *alg,
				const uint8_t *peer_key, size_t peer_len,
				uint8_t **secret, size_t *secret_len)
{
	struct psa_alg_pb s;
	OUT(secret, secret_len);
	int st = keyed_args(c, private_key_name, peer_key, peer_len, alg,
			    ASSAY_KEY_ALG_KEY_AGREEMENT, &s, secret, secret_len, 1);
	if (st == ASSAY_KEY_OK && alg->kdf)
		st = assaykey_fail(c, BAD_ARG, "a raw key agreement has no key derivation");
	if (st != ASSAY_KEY_OK)
		return st;
	PsaRawKeyAgreement__Operation op = PSA_RAW_KEY_AGREEMENT__OPERATION__INIT;
	PsaRawKeyAgreement__Result *res;
	op.alg = s.alg.key_agreement->raw;
	op.private_key_name = (char *)private_key_name;
	op.peer_key = bin(peer_key, peer_len);
	st = CALL(c, PARSEC_PSA_RAW_KEY_AGREEMENT, op,
		  &psa_raw_key_agreement__result__descriptor, &res);
	if (st != ASSAY_KEY_OK)
		return st;
	st = give(c, &res->shared_secret, secret, secret_len);
	psa_raw_key_agreement__result__free_unpacked(res, NULL);
	return st;
}

int assay_key_can_do_crypto(struct assay_key_client *c, enum assay_key_check_type check,
			    const struct assay_key_attrs *attrs)
{
	struct psa_attrs_pb s;
	int st = attrs_arg(c, attrs, &s);
	if (st != ASSAY_KEY_OK)
		return st;
	CanDoCrypto__Operation op = CAN_DO_CRYPTO__OPERATION__INIT;
	CanDoCrypto__Result *res;
	op.check_type = (CanDoCrypto__CheckType)check;
	op.attributes = &s.attrs;
	st = CALL(c, PARSEC_CAN_DO_CRYPTO, op, &can_do_crypto__result__descriptor, &res);
	if (st == ASSAY_KEY_OK)
		can_do_crypto__result__free_unpacked(res, NULL);
	return st;
}

/* ---- key attestation (ActivateCredential) ---- */

/* The attested key's name and somewhere for the outputs. */
static int attestation_args(struct assay_key_client *c, const char *attested,
			    int outputs_given)
{
	int st = name_arg(c, attested);
	if (st == ASSAY_KEY_OK && !outputs_given)
		st = assaykey_fail(c, BAD_ARG, "NULL output");
	return st;
}

/* The attesting key's name: NULL and "" both mean the provider's default
 * (the EK), and proto3 sends an empty string as no field at all. */
static char *opt_name(const char *name)
{
	return name && *name ? (char *)name : (char *)"";
}

int assay_key_prepare_key_attestation(struct assay_key_client *c,
				      const char *attested_key_name,
				      const char *attesting_key_name,
				      uint8_t **name, size_t *name_len,
				      uint8_t **public_area, size_t *public_len,
				      uint8_t **attesting_pub, size_t *attesting_len)
{
	OUT(name, name_len);
	OUT(public_area, public_len);
	OUT(attesting_pub, attesting_len);
	int st = attestation_args(c, attested_key_name,
				  name && name_len && public_area && public_len &&
				  attesting_pub && attesting_len);
	if (st != ASSAY_KEY_OK)
		return st;
	PrepareKeyAttestation__Operation op = PREPARE_KEY_ATTESTATION__OPERATION__INIT;
	PrepareKeyAttestation__PrepareKeyAttestationParams prm =
		PREPARE_KEY_ATTESTATION__PREPARE_KEY_ATTESTATION_PARAMS__INIT;
	PrepareKeyAttestation__PrepareKeyAttestationParams__ActivateCredential ac =
		PREPARE_KEY_ATTESTATION__PREPARE_KEY_ATTESTATION_PARAMS__ACTIVATE_CREDENTIAL__INIT;
	PrepareKeyAttestation__Result *res;
	ac.attested_key_name = (char *)attested_key_name;
	ac.attesting_key_name = opt_name(attesting_key_name);
	prm.mechanism_case =
		PREPARE_KEY_ATTESTATION__PREPARE_KEY_ATTESTATION_PARAMS__MECHANISM_ACTIVATE_CREDENTIAL;
	prm.activate_credential = &ac;
	op.parameters = &prm;
	st = CALL(c, PARSEC_PREPARE_KEY_ATTESTATION, op,
		  &prepare_key_attestation__result__descriptor, &res);
	if (st != ASSAY_KEY_OK)
		return st;
	PrepareKeyAttestation__PrepareKeyAttestationOutput__ActivateCredential *out =
		res->output && res->output->mechanism_case ==
		PREPARE_KEY_ATTESTATION__PREPARE_KEY_ATTESTATION_OUTPUT__MECHANISM_ACTIVATE_CREDENTIAL
		? res->output->activate_credential : NULL;
	if (!out)
		st = assaykey_fail(c, ASSAY_KEY_INVALID_ENCODING,
				   "the result has no ActivateCredential output");
	if (st == ASSAY_KEY_OK)
		st = give(c, &out->name, name, name_len);
	if (st == ASSAY_KEY_OK)
		st = give(c, &out->public_, public_area, public_len);
	if (st == ASSAY_KEY_OK)
		st = give(c, &out->attesting_key_pub, attesting_pub, attesting_len);
	if (st != ASSAY_KEY_OK) {
		free(*name);
		free(*public_area);
		free(*attesting_pub);
		OUT(name, name_len);
		OUT(public_area, public_len);
		OUT(attesting_pub, attesting_len);
	}
	prepare_key_attestation__result__free_unpacked(res, NULL);
	return st;
}

int assay_key_attest_key(struct assay_key_client *c, const char *attested_key_name,
			 const char *attesting_key_name,
			 const uint8_t *credential_blob, size_t blob_len,
			 const uint8_t *secret, size_t secret_len,
			 uint8_t **credential, size_t *credential_len)
{
	OUT(credential, credential_len);
	int st = attestation_args(c, attested_key_name, credential && credential_len);
	if (st == ASSAY_KEY_OK)
		st = bytes_arg(c, credential_blob, blob_len);
	if (st == ASSAY_KEY_OK)
		st = bytes_arg(c, secret, secret_len);
	if (st != ASSAY_KEY_OK)
		return st;
	AttestKey__Operation op = ATTEST_KEY__OPERATION__INIT;
	AttestKey__AttestationMechanismParams prm = ATTEST_KEY__ATTESTATION_MECHANISM_PARAMS__INIT;
	AttestKey__AttestationMechanismParams__ActivateCredential ac =
		ATTEST_KEY__ATTESTATION_MECHANISM_PARAMS__ACTIVATE_CREDENTIAL__INIT;
	AttestKey__Result *res;
	ac.credential_blob = bin(credential_blob, blob_len);
	ac.secret = bin(secret, secret_len);
	prm.mechanism_case = ATTEST_KEY__ATTESTATION_MECHANISM_PARAMS__MECHANISM_ACTIVATE_CREDENTIAL;
	prm.activate_credential = &ac;
	op.attested_key_name = (char *)attested_key_name;
	op.parameters = &prm;
	op.attesting_key_name = opt_name(attesting_key_name);
	st = CALL(c, PARSEC_ATTEST_KEY, op, &attest_key__result__descriptor, &res);
	if (st != ASSAY_KEY_OK)
		return st;
	AttestKey__AttestationOutput__ActivateCredential *out =
		res->output && res->output->mechanism_case ==
		ATTEST_KEY__ATTESTATION_OUTPUT__MECHANISM_ACTIVATE_CREDENTIAL
		? res->output->activate_credential : NULL;
	if (!out)
		st = assaykey_fail(c, ASSAY_KEY_INVALID_ENCODING,
				   "the result has no ActivateCredential output");
	else
		st = give(c, &out->credential, credential, credential_len);
	attest_key__result__free_unpacked(res, NULL);
	return st;
}
