/* PSA key attributes and algorithms, as Assay's key service holds them.
 *
 * The numbers are the wire's (the oneof tags and enum values of Parsec's
 * psa_key_attributes.proto and psa_algorithm.proto), so a conversion is a
 * copy and a stored key's attributes can always be sent back unchanged.
 * psa.c converts from and to the protobuf structures and checks a key's
 * policy against a requested use. Providers see only these structures. */
#ifndef ASSAY_PARSEC_PSA_H
#define ASSAY_PARSEC_PSA_H

#include <stddef.h>
#include <stdint.h>

/* Key types: the KeyType oneof tags. */
enum psa_key_type {
	PSA_KEY_NONE = 0,
	PSA_KEY_RAW_DATA = 1,
	PSA_KEY_HMAC = 2,
	PSA_KEY_DERIVE = 3,
	PSA_KEY_AES = 4,
	PSA_KEY_DES = 5,
	PSA_KEY_CAMELLIA = 6,
	PSA_KEY_ARC4 = 7,
	PSA_KEY_CHACHA20 = 8,
	PSA_KEY_RSA_PUBLIC = 9,
	PSA_KEY_RSA_PAIR = 10,
	PSA_KEY_ECC_PAIR = 11,
	PSA_KEY_ECC_PUBLIC = 12,
	PSA_KEY_DH_PAIR = 13,
	PSA_KEY_DH_PUBLIC = 14,
};

/* EccFamily */
enum psa_ecc_family {
	PSA_ECC_NONE = 0,
	PSA_ECC_SECP_K1 = 1,
	PSA_ECC_SECP_R1 = 2,
	PSA_ECC_BRAINPOOL_P_R1 = 7,
	PSA_ECC_MONTGOMERY = 9,
};

/* UsageFlags, one bit per field (field number - 1). */
#define PSA_USAGE_EXPORT	(1u << 0)
#define PSA_USAGE_COPY		(1u << 1)
#define PSA_USAGE_CACHE		(1u << 2)
#define PSA_USAGE_ENCRYPT	(1u << 3)
#define PSA_USAGE_DECRYPT	(1u << 4)
#define PSA_USAGE_SIGN_MESSAGE	(1u << 5)
#define PSA_USAGE_VERIFY_MESSAGE (1u << 6)
#define PSA_USAGE_SIGN_HASH	(1u << 7)
#define PSA_USAGE_VERIFY_HASH	(1u << 8)
#define PSA_USAGE_DERIVE	(1u << 9)

/* Algorithm kinds: the Algorithm oneof tags (0: no algorithm given). */
enum psa_alg_kind {
	PSA_ALG_UNSET = 0,
	PSA_ALG_NONE = 1,
	PSA_ALG_HASH = 2,
	PSA_ALG_MAC = 3,
	PSA_ALG_CIPHER = 4,
	PSA_ALG_AEAD = 5,
	PSA_ALG_SIGN = 6,
	PSA_ALG_ENCRYPT = 7,
	PSA_ALG_KEY_AGREEMENT = 8,
	PSA_ALG_KEY_DERIVATION = 9,
};

/* The Hash enum. */
enum psa_hash {
	PSA_HASH_NONE = 0,
	PSA_HASH_RIPEMD160 = 4,
	PSA_HASH_SHA_1 = 5,
	PSA_HASH_SHA_224 = 6,
	PSA_HASH_SHA_256 = 7,
	PSA_HASH_SHA_384 = 8,
	PSA_HASH_SHA_512 = 9,
	PSA_HASH_SHA_512_224 = 10,
	PSA_HASH_SHA_512_256 = 11,
	PSA_HASH_SHA3_224 = 12,
	PSA_HASH_SHA3_256 = 13,
	PSA_HASH_SHA3_384 = 14,
	PSA_HASH_SHA3_512 = 15,
	PSA_HASH_ANY = 2047,
};

/* Variants within a kind (the nested oneof tags or enum values). */
enum psa_sign_variant {
	PSA_SIGN_RSA_PKCS1V15 = 1,
	PSA_SIGN_RSA_PKCS1V15_RAW = 2,
	PSA_SIGN_RSA_PSS = 3,
	PSA_SIGN_ECDSA = 4,
	PSA_SIGN_ECDSA_ANY = 5,
	PSA_SIGN_DETERMINISTIC_ECDSA = 6,
};
enum psa_encrypt_variant { PSA_ENCRYPT_RSA_PKCS1V15 = 1, PSA_ENCRYPT_RSA_OAEP = 2 };
enum psa_mac_variant { PSA_MAC_HMAC = 1, PSA_MAC_CBC_MAC = 2, PSA_MAC_CMAC = 3 };
enum psa_aead_variant { PSA_AEAD_CCM = 1, PSA_AEAD_GCM = 2, PSA_AEAD_CHACHA20_POLY1305 = 3 };
enum psa_cipher_variant {
	PSA_CIPHER_STREAM = 1, PSA_CIPHER_CTR = 2, PSA_CIPHER_CFB = 3, PSA_CIPHER_OFB = 4,
	PSA_CIPHER_XTS = 5, PSA_CIPHER_ECB_NO_PADDING = 6, PSA_CIPHER_CBC_NO_PADDING = 7,
	PSA_CIPHER_CBC_PKCS7 = 8,
};
enum psa_ka_variant { PSA_KA_FFDH = 1, PSA_KA_ECDH = 2 };

struct psa_alg {
	enum psa_alg_kind kind;
	int variant;		/* within kind, as above; HASH: unused */
	enum psa_hash hash;	/* HASH, sign, OAEP, HMAC */
	uint32_t length;	/* truncated MAC or shortened AEAD tag; 0: default */
	int kdf;		/* key agreement with derivation: KeyDerivation tag, 0 raw */
	enum psa_hash kdf_hash;
};

struct psa_attrs {
	enum psa_key_type type;
	int family;		/* ECC or DH family */
	uint32_t bits;
	uint32_t usage;		/* PSA_USAGE_* */
	struct psa_alg alg;	/* the one algorithm the key may be used with */
};

/* PSA errors as Parsec status codes (1000 + |psa_status_t|). */
enum psa_status {
	PSA_OK = 0,
	PSA_ERR_GENERIC = 1132,
	PSA_ERR_NOT_PERMITTED = 1133,
	PSA_ERR_NOT_SUPPORTED = 1134,
	PSA_ERR_INVALID_ARGUMENT = 1135,
	PSA_ERR_INVALID_HANDLE = 1136,
	PSA_ERR_BAD_STATE = 1137,
	PSA_ERR_BUFFER_TOO_SMALL = 1138,
	PSA_ERR_ALREADY_EXISTS = 1139,
	PSA_ERR_DOES_NOT_EXIST = 1140,
	PSA_ERR_INSUFFICIENT_MEMORY = 1141,
	PSA_ERR_INSUFFICIENT_STORAGE = 1142,
	PSA_ERR_INSUFFICIENT_DATA = 1143,
	PSA_ERR_COMMUNICATION_FAILURE = 1145,
	PSA_ERR_STORAGE_FAILURE = 1146,
	PSA_ERR_HARDWARE_FAILURE = 1147,
	PSA_ERR_INSUFFICIENT_ENTROPY = 1148,
	PSA_ERR_INVALID_SIGNATURE = 1149,
	PSA_ERR_INVALID_PADDING = 1150,
	PSA_ERR_CORRUPTION_DETECTED = 1151,
	PSA_ERR_DATA_CORRUPT = 1152,
	PSA_ERR_DATA_INVALID = 1153,
};

/* Whether key may be used for `usage` with alg: the usage flag must be
 * set and alg must be the key's algorithm, or match it where the key's
 * hash is ANY_HASH. PSA_OK or PSA_ERR_NOT_PERMITTED. */
int psa_key_permits(const struct psa_attrs *key, uint32_t usage, const struct psa_alg *alg);
/* Sanity of attributes for a new key: a type, sizes that type allows, an
 * algorithm that fits the type. PSA_OK or an error status. */
int psa_attrs_check(const struct psa_attrs *a);
/* The digest size of a hash, 0 when unknown or ANY. */
size_t psa_hash_size(enum psa_hash h);
/* OpenSSL's name of a hash ("SHA256"), NULL when not supported. */
const char *psa_hash_name(enum psa_hash h);
/* The curve's OpenSSL group name for (family, bits), NULL when not supported. */
const char *psa_ecc_group(int family, uint32_t bits);
/* Key types holding a private or secret part (not public-only). */
int psa_type_is_public(enum psa_key_type t);
int psa_type_is_asymmetric(enum psa_key_type t);

#endif
