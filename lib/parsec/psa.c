/* PSA attributes: policy checks and the facts about hashes and curves
 * that every provider needs. */
#include "parsec/psa.h"

#include <string.h>

size_t psa_hash_size(enum psa_hash h)
{
	switch (h) {
	case PSA_HASH_RIPEMD160: case PSA_HASH_SHA_1: return 20;
	case PSA_HASH_SHA_224: case PSA_HASH_SHA_512_224: case PSA_HASH_SHA3_224: return 28;
	case PSA_HASH_SHA_256: case PSA_HASH_SHA_512_256: case PSA_HASH_SHA3_256: return 32;
	case PSA_HASH_SHA_384: case PSA_HASH_SHA3_384: return 48;
	case PSA_HASH_SHA_512: case PSA_HASH_SHA3_512: return 64;
	default: return 0;
	}
}

const char *psa_hash_name(enum psa_hash h)
{
	switch (h) {
	case PSA_HASH_RIPEMD160: return "RIPEMD160";
	case PSA_HASH_SHA_1: return "SHA1";
	case PSA_HASH_SHA_224: return "SHA224";
	case PSA_HASH_SHA_256: return "SHA256";
	case PSA_HASH_SHA_384: return "SHA384";
	case PSA_HASH_SHA_512: return "SHA512";
	case PSA_HASH_SHA_512_224: return "SHA512-224";
	case PSA_HASH_SHA_512_256: return "SHA512-256";
	case PSA_HASH_SHA3_224: return "SHA3-224";
	case PSA_HASH_SHA3_256: return "SHA3-256";
	case PSA_HASH_SHA3_384: return "SHA3-384";
	case PSA_HASH_SHA3_512: return "SHA3-512";
	default: return NULL;
	}
}

const char *psa_ecc_group(int family, uint32_t bits)
{
	static const struct { int family; uint32_t bits; const char *name; } curves[] = {
		{ PSA_ECC_SECP_R1, 256, "P-256" },
		{ PSA_ECC_SECP_R1, 384, "P-384" },
		{ PSA_ECC_SECP_R1, 521, "P-521" },
		{ PSA_ECC_SECP_R1, 224, "P-224" },
		{ PSA_ECC_SECP_K1, 256, "secp256k1" },
		{ PSA_ECC_BRAINPOOL_P_R1, 256, "brainpoolP256r1" },
		{ PSA_ECC_BRAINPOOL_P_R1, 384, "brainpoolP384r1" },
		{ PSA_ECC_BRAINPOOL_P_R1, 512, "brainpoolP512r1" },
		{ PSA_ECC_MONTGOMERY, 255, "X25519" },
		{ PSA_ECC_MONTGOMERY, 448, "X448" },
	};
	for (size_t i = 0; i < sizeof curves / sizeof *curves; i++)
		if (curves[i].family == family && curves[i].bits == bits)
			return curves[i].name;
	return NULL;
}

int psa_type_is_public(enum psa_key_type t)
{
	return t == PSA_KEY_RSA_PUBLIC || t == PSA_KEY_ECC_PUBLIC || t == PSA_KEY_DH_PUBLIC;
}

int psa_type_is_asymmetric(enum psa_key_type t)
{
	return t >= PSA_KEY_RSA_PUBLIC && t <= PSA_KEY_DH_PUBLIC;
}

/* A sign or OAEP/HMAC algorithm whose hash the key left open (ANY_HASH)
 * matches a request naming a concrete hash. */
static int alg_matches(const struct psa_alg *key, const struct psa_alg *req)
{
	if (key->kind != req->kind || key->variant != req->variant ||
	    key->length != req->length || key->kdf != req->kdf ||
	    key->kdf_hash != req->kdf_hash)
		return 0;
	if (key->hash == req->hash)
		return 1;
	return key->kind == PSA_ALG_SIGN && key->hash == PSA_HASH_ANY &&
	       req->hash != PSA_HASH_ANY && psa_hash_size(req->hash) > 0;
}

int psa_key_permits(const struct psa_attrs *key, uint32_t usage, const struct psa_alg *alg)
{
	if ((key->usage & usage) != usage)
		return PSA_ERR_NOT_PERMITTED;
	if (alg && !alg_matches(&key->alg, alg))
		return PSA_ERR_NOT_PERMITTED;
	return PSA_OK;
}

int psa_attrs_check(const struct psa_attrs *a)
{
	switch (a->type) {
	case PSA_KEY_RSA_PAIR:
	case PSA_KEY_RSA_PUBLIC:
		if (a->bits && (a->bits < 1024 || a->bits > 8192 || a->bits % 8))
			return PSA_ERR_NOT_SUPPORTED;
		break;
	case PSA_KEY_ECC_PAIR:
	case PSA_KEY_ECC_PUBLIC:
		if (a->bits && !psa_ecc_group(a->family, a->bits))
			return PSA_ERR_NOT_SUPPORTED;
		break;
	case PSA_KEY_AES:
		if (a->bits && a->bits != 128 && a->bits != 192 && a->bits != 256)
			return PSA_ERR_INVALID_ARGUMENT;
		break;
	case PSA_KEY_CHACHA20:
		if (a->bits && a->bits != 256)
			return PSA_ERR_INVALID_ARGUMENT;
		break;
	case PSA_KEY_HMAC:
	case PSA_KEY_RAW_DATA:
	case PSA_KEY_DERIVE:
		if (a->bits % 8 || a->bits > 8 * 1024)
			return PSA_ERR_INVALID_ARGUMENT;
		break;
	case PSA_KEY_NONE:
		return PSA_ERR_INVALID_ARGUMENT;
	default:
		return PSA_ERR_NOT_SUPPORTED;
	}
	/* The algorithm must suit the key. */
	switch (a->alg.kind) {
	case PSA_ALG_SIGN:
		if (a->alg.variant <= PSA_SIGN_RSA_PSS ? a->type != PSA_KEY_RSA_PAIR &&
		    a->type != PSA_KEY_RSA_PUBLIC : a->type != PSA_KEY_ECC_PAIR &&
		    a->type != PSA_KEY_ECC_PUBLIC)
			return PSA_ERR_INVALID_ARGUMENT;
		break;
	case PSA_ALG_ENCRYPT:
		if (a->type != PSA_KEY_RSA_PAIR && a->type != PSA_KEY_RSA_PUBLIC)
			return PSA_ERR_INVALID_ARGUMENT;
		break;
	case PSA_ALG_AEAD:
	case PSA_ALG_CIPHER:
		if (a->type != PSA_KEY_AES && a->type != PSA_KEY_CHACHA20 &&
		    a->type != PSA_KEY_CAMELLIA)
			return PSA_ERR_INVALID_ARGUMENT;
		break;
	case PSA_ALG_MAC:
		if (a->alg.variant == PSA_MAC_HMAC ? a->type != PSA_KEY_HMAC
						   : a->type != PSA_KEY_AES)
			return PSA_ERR_INVALID_ARGUMENT;
		break;
	case PSA_ALG_KEY_AGREEMENT:
		if (a->type != PSA_KEY_ECC_PAIR && a->type != PSA_KEY_DH_PAIR)
			return PSA_ERR_INVALID_ARGUMENT;
		break;
	default:
		break;
	}
	return PSA_OK;
}
