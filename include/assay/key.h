/* libassaykey: the C client of Assay's key service (assay-keyd), or of any
 * service speaking the Parsec wire protocol 1.0 on a Unix socket.
 *
 *	struct assay_key_client *c = assay_key_client_new();
 *	uint8_t *sig;
 *	size_t sig_len;
 *	int st = assay_key_sign_hash(c, "my-key", &alg, hash, 32, &sig, &sig_len);
 *	if (st != ASSAY_KEY_OK)
 *		fprintf(stderr, "%s: %s\n", assay_key_status_name(st),
 *			assay_key_status_str(st));
 *	assay_key_free(sig);
 *	assay_key_client_free(c);
 *
 * Connection. Every operation opens its own connection, sends one request
 * and reads one response (the protocol allows no more). The service is
 * found at the path in PARSEC_SERVICE_ENDPOINT ("unix:/path"), else at
 * /run/assay/keyd.sock, unless assay_key_client_set_endpoint names one.
 * Sending and receiving together must finish within the timeout (30 s by
 * default).
 *
 * Authentication. By default the client authenticates by its Unix peer
 * credentials (the service reads the connection's uid). Ping,
 * list_providers, list_opcodes and list_authenticators need no identity and
 * are sent without authentication, as Parsec's own tool sends them; every
 * other operation carries the client's authentication.
 *
 * Provider. Core operations (ping, list_*, delete_client) go to the core
 * provider 0. Key and cryptographic operations go to the client's provider:
 * the one set with assay_key_client_set_provider, else the first provider
 * that ListProviders returns that is not the core one (asked once, on the
 * first operation that needs it).
 *
 * Results. Every operation returns a status: ASSAY_KEY_OK (0), a status the
 * service sent, or one of these found by the client itself:
 *   ASSAY_KEY_CONNECTION_ERROR (15): the service could not be reached, a
 *     send or receive failed or timed out, or the connection closed before
 *     the whole response arrived (a body shorter than its header says);
 *   ASSAY_KEY_INVALID_ENCODING (16): the response is not a valid answer to
 *     the request: a malformed header (magic, size, version, reserved
 *     bytes), a content type other than protobuf, an opcode or provider
 *     other than the request's, bytes after the body (when they arrived
 *     with it), a body that does not decode as the operation's result, or
 *     a result that contradicts the request (random bytes of another size);
 *   ASSAY_KEY_RESPONSE_TOO_LARGE (10): a response body over 16 MiB;
 *   ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT (1135): a bad argument (NULL name,
 *     a field too long for the wire, an algorithm of the wrong kind);
 *   ASSAY_KEY_PSA_ERR_INSUFFICIENT_MEMORY (1141): out of memory;
 *   ASSAY_KEY_PROVIDER_NOT_REGISTERED (5): no provider to send a key
 *     operation to (the service lists only the core provider).
 * assay_key_client_last_error says more about the first three.
 * When the service cannot read a request at all it answers with opcode
 * Ping and an error status; the client returns that status.
 *
 * Ownership. Outputs are allocated by the library and returned through
 * pointer arguments; the caller frees each with assay_key_free (or with
 * assay_key_free_secret, which wipes it first, for keys, plaintexts and
 * shared secrets). Lists (providers, keys, clients ...) are one allocation
 * each, strings included: one assay_key_free releases a whole list. On
 * failure outputs are set to NULL and lengths to 0.
 *
 * Threads. A client is not to be used by two threads at once; separate
 * clients are independent.
 *
 * All numbers (statuses, key types, algorithms) are the wire's. */
#ifndef ASSAY_KEY_H
#define ASSAY_KEY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- statuses ---- */

enum assay_key_status {
	ASSAY_KEY_OK = 0,
	ASSAY_KEY_WRONG_PROVIDER_ID = 1,
	ASSAY_KEY_CONTENT_TYPE_NOT_SUPPORTED = 2,
	ASSAY_KEY_ACCEPT_TYPE_NOT_SUPPORTED = 3,
	ASSAY_KEY_WIRE_PROTOCOL_VERSION_NOT_SUPPORTED = 4,
	ASSAY_KEY_PROVIDER_NOT_REGISTERED = 5,
	ASSAY_KEY_PROVIDER_DOES_NOT_EXIST = 6,
	ASSAY_KEY_DESERIALIZING_BODY_FAILED = 7,
	ASSAY_KEY_SERIALIZING_BODY_FAILED = 8,
	ASSAY_KEY_OPCODE_DOES_NOT_EXIST = 9,
	ASSAY_KEY_RESPONSE_TOO_LARGE = 10,
	ASSAY_KEY_AUTHENTICATION_ERROR = 11,
	ASSAY_KEY_AUTHENTICATOR_DOES_NOT_EXIST = 12,
	ASSAY_KEY_AUTHENTICATOR_NOT_REGISTERED = 13,
	ASSAY_KEY_KEY_INFO_MANAGER_ERROR = 14,
	ASSAY_KEY_CONNECTION_ERROR = 15,
	ASSAY_KEY_INVALID_ENCODING = 16,
	ASSAY_KEY_INVALID_HEADER = 17,
	ASSAY_KEY_WRONG_PROVIDER_UUID = 18,
	ASSAY_KEY_NOT_AUTHENTICATED = 19,
	ASSAY_KEY_BODY_SIZE_EXCEEDS_LIMIT = 20,
	ASSAY_KEY_ADMIN_OPERATION = 21,
	ASSAY_KEY_DEPRECATED_PRIMITIVE = 22,
	/* PSA errors: 1000 + |psa_status_t| */
	ASSAY_KEY_PSA_ERR_GENERIC = 1132,
	ASSAY_KEY_PSA_ERR_NOT_PERMITTED = 1133,
	ASSAY_KEY_PSA_ERR_NOT_SUPPORTED = 1134,
	ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT = 1135,
	ASSAY_KEY_PSA_ERR_INVALID_HANDLE = 1136,
	ASSAY_KEY_PSA_ERR_BAD_STATE = 1137,
	ASSAY_KEY_PSA_ERR_BUFFER_TOO_SMALL = 1138,
	ASSAY_KEY_PSA_ERR_ALREADY_EXISTS = 1139,
	ASSAY_KEY_PSA_ERR_DOES_NOT_EXIST = 1140,
	ASSAY_KEY_PSA_ERR_INSUFFICIENT_MEMORY = 1141,
	ASSAY_KEY_PSA_ERR_INSUFFICIENT_STORAGE = 1142,
	ASSAY_KEY_PSA_ERR_INSUFFICIENT_DATA = 1143,
	ASSAY_KEY_PSA_ERR_COMMUNICATION_FAILURE = 1145,
	ASSAY_KEY_PSA_ERR_STORAGE_FAILURE = 1146,
	ASSAY_KEY_PSA_ERR_HARDWARE_FAILURE = 1147,
	ASSAY_KEY_PSA_ERR_INSUFFICIENT_ENTROPY = 1148,
	ASSAY_KEY_PSA_ERR_INVALID_SIGNATURE = 1149,
	ASSAY_KEY_PSA_ERR_INVALID_PADDING = 1150,
	ASSAY_KEY_PSA_ERR_CORRUPTION_DETECTED = 1151,
	ASSAY_KEY_PSA_ERR_DATA_CORRUPT = 1152,
	ASSAY_KEY_PSA_ERR_DATA_INVALID = 1153,
};

/* "PsaErrorDoesNotExist", "UnknownStatus" for a number not listed. */
const char *assay_key_status_name(int status);
/* "the key does not exist" */
const char *assay_key_status_str(int status);
/* "PsaSignHash", "unknown" for an opcode not listed. */
const char *assay_key_opcode_name(uint32_t opcode);

/* ---- providers, authenticators, opcodes ---- */

enum assay_key_provider_id {
	ASSAY_KEY_PROVIDER_CORE = 0,
	ASSAY_KEY_PROVIDER_SOFTWARE = 1,	/* Parsec's "Mbed Crypto" */
	ASSAY_KEY_PROVIDER_PKCS11 = 2,
	ASSAY_KEY_PROVIDER_TPM = 3,
	ASSAY_KEY_PROVIDER_TRUSTED_SERVICE = 4,
	ASSAY_KEY_PROVIDER_CRYPTOAUTHLIB = 5,
};

enum assay_key_auth_type {
	ASSAY_KEY_AUTH_NONE = 0,
	ASSAY_KEY_AUTH_DIRECT = 1,
	ASSAY_KEY_AUTH_JWT = 2,
	ASSAY_KEY_AUTH_UNIX_PEER = 3,
	ASSAY_KEY_AUTH_JWT_SVID = 4,
};

/* ---- key attributes (psa_key_attributes.proto) ---- */

enum assay_key_type {
	ASSAY_KEY_TYPE_NONE = 0,
	ASSAY_KEY_TYPE_RAW_DATA = 1,
	ASSAY_KEY_TYPE_HMAC = 2,
	ASSAY_KEY_TYPE_DERIVE = 3,
	ASSAY_KEY_TYPE_AES = 4,
	ASSAY_KEY_TYPE_DES = 5,		/* deprecated: cannot be sent */
	ASSAY_KEY_TYPE_CAMELLIA = 6,
	ASSAY_KEY_TYPE_ARC4 = 7,	/* deprecated: cannot be sent */
	ASSAY_KEY_TYPE_CHACHA20 = 8,
	ASSAY_KEY_TYPE_RSA_PUBLIC_KEY = 9,
	ASSAY_KEY_TYPE_RSA_KEY_PAIR = 10,
	ASSAY_KEY_TYPE_ECC_KEY_PAIR = 11,
	ASSAY_KEY_TYPE_ECC_PUBLIC_KEY = 12,
	ASSAY_KEY_TYPE_DH_KEY_PAIR = 13,
	ASSAY_KEY_TYPE_DH_PUBLIC_KEY = 14,
};

/* The family of an ECC key (DH keys: ASSAY_KEY_DH_RFC7919). */
enum assay_key_ecc_family {
	ASSAY_KEY_ECC_NONE = 0,
	ASSAY_KEY_ECC_SECP_K1 = 1,
	ASSAY_KEY_ECC_SECP_R1 = 2,	/* P-256, P-384, P-521 */
	ASSAY_KEY_ECC_SECT_K1 = 4,
	ASSAY_KEY_ECC_SECT_R1 = 5,
	ASSAY_KEY_ECC_BRAINPOOL_P_R1 = 7,
	ASSAY_KEY_ECC_FRP = 8,
	ASSAY_KEY_ECC_MONTGOMERY = 9,	/* X25519 (255 bits), X448 */
};
#define ASSAY_KEY_DH_RFC7919 0

/* Usage flags: what a key may be used for. */
#define ASSAY_KEY_USAGE_EXPORT		(1u << 0)
#define ASSAY_KEY_USAGE_COPY		(1u << 1)
#define ASSAY_KEY_USAGE_CACHE		(1u << 2)
#define ASSAY_KEY_USAGE_ENCRYPT		(1u << 3)
#define ASSAY_KEY_USAGE_DECRYPT		(1u << 4)
#define ASSAY_KEY_USAGE_SIGN_MESSAGE	(1u << 5)
#define ASSAY_KEY_USAGE_VERIFY_MESSAGE	(1u << 6)
#define ASSAY_KEY_USAGE_SIGN_HASH	(1u << 7)
#define ASSAY_KEY_USAGE_VERIFY_HASH	(1u << 8)
#define ASSAY_KEY_USAGE_DERIVE		(1u << 9)

/* ---- algorithms (psa_algorithm.proto) ---- */

/* An algorithm's kind: the Algorithm oneof. */
enum assay_key_alg_kind {
	ASSAY_KEY_ALG_UNSET = 0,	/* no algorithm given */
	ASSAY_KEY_ALG_NONE = 1,
	ASSAY_KEY_ALG_HASH = 2,
	ASSAY_KEY_ALG_MAC = 3,
	ASSAY_KEY_ALG_CIPHER = 4,
	ASSAY_KEY_ALG_AEAD = 5,
	ASSAY_KEY_ALG_SIGN = 6,		/* asymmetric signature */
	ASSAY_KEY_ALG_ENCRYPT = 7,	/* asymmetric encryption */
	ASSAY_KEY_ALG_KEY_AGREEMENT = 8,
	ASSAY_KEY_ALG_KEY_DERIVATION = 9,
};

enum assay_key_hash {
	ASSAY_KEY_HASH_NONE = 0,
	ASSAY_KEY_HASH_RIPEMD160 = 4,
	ASSAY_KEY_HASH_SHA_1 = 5,
	ASSAY_KEY_HASH_SHA_224 = 6,
	ASSAY_KEY_HASH_SHA_256 = 7,
	ASSAY_KEY_HASH_SHA_384 = 8,
	ASSAY_KEY_HASH_SHA_512 = 9,
	ASSAY_KEY_HASH_SHA_512_224 = 10,
	ASSAY_KEY_HASH_SHA_512_256 = 11,
	ASSAY_KEY_HASH_SHA3_224 = 12,
	ASSAY_KEY_HASH_SHA3_256 = 13,
	ASSAY_KEY_HASH_SHA3_384 = 14,
	ASSAY_KEY_HASH_SHA3_512 = 15,
	/* A signature policy allowing any hash (SignHash.any). */
	ASSAY_KEY_HASH_ANY = 2047,
};

/* Variants within a kind. */
enum assay_key_sign_variant {
	ASSAY_KEY_SIGN_RSA_PKCS1V15 = 1,
	ASSAY_KEY_SIGN_RSA_PKCS1V15_RAW = 2,
	ASSAY_KEY_SIGN_RSA_PSS = 3,
	ASSAY_KEY_SIGN_ECDSA = 4,	/* signatures are raw r||s */
	ASSAY_KEY_SIGN_ECDSA_ANY = 5,
	ASSAY_KEY_SIGN_DETERMINISTIC_ECDSA = 6,
};
enum assay_key_encrypt_variant {
	ASSAY_KEY_ENCRYPT_RSA_PKCS1V15 = 1,
	ASSAY_KEY_ENCRYPT_RSA_OAEP = 2,
};
enum assay_key_mac_variant {
	ASSAY_KEY_MAC_HMAC = 1,
	ASSAY_KEY_MAC_CBC_MAC = 2,
	ASSAY_KEY_MAC_CMAC = 3,
};
enum assay_key_aead_variant {
	ASSAY_KEY_AEAD_CCM = 1,
	ASSAY_KEY_AEAD_GCM = 2,
	ASSAY_KEY_AEAD_CHACHA20_POLY1305 = 3,
};
enum assay_key_cipher_variant {
	ASSAY_KEY_CIPHER_STREAM = 1,
	ASSAY_KEY_CIPHER_CTR = 2,
	ASSAY_KEY_CIPHER_CFB = 3,
	ASSAY_KEY_CIPHER_OFB = 4,
	ASSAY_KEY_CIPHER_XTS = 5,
	ASSAY_KEY_CIPHER_ECB_NO_PADDING = 6,
	ASSAY_KEY_CIPHER_CBC_NO_PADDING = 7,
	ASSAY_KEY_CIPHER_CBC_PKCS7 = 8,
};
enum assay_key_ka_variant {
	ASSAY_KEY_KA_FFDH = 1,
	ASSAY_KEY_KA_ECDH = 2,
};
enum assay_key_kdf {
	ASSAY_KEY_KDF_HKDF = 1,
	ASSAY_KEY_KDF_TLS12_PRF = 2,
	ASSAY_KEY_KDF_TLS12_PSK_TO_MS = 3,
};

/* One algorithm. Examples:
 *   ECDSA with SHA-256:  { ASSAY_KEY_ALG_SIGN, ASSAY_KEY_SIGN_ECDSA, ASSAY_KEY_HASH_SHA_256 }
 *   RSA-OAEP SHA-256:    { ASSAY_KEY_ALG_ENCRYPT, ASSAY_KEY_ENCRYPT_RSA_OAEP, ASSAY_KEY_HASH_SHA_256 }
 *   AES-GCM, 12-byte tag:{ ASSAY_KEY_ALG_AEAD, ASSAY_KEY_AEAD_GCM, .length = 12 }
 *   HMAC-SHA-256:        { ASSAY_KEY_ALG_MAC, ASSAY_KEY_MAC_HMAC, ASSAY_KEY_HASH_SHA_256 }
 *   SHA-256:             { ASSAY_KEY_ALG_HASH, .hash = ASSAY_KEY_HASH_SHA_256 }
 *   ECDH then HKDF-SHA-256: { ASSAY_KEY_ALG_KEY_AGREEMENT, ASSAY_KEY_KA_ECDH,
 *                          .kdf = ASSAY_KEY_KDF_HKDF, .kdf_hash = ASSAY_KEY_HASH_SHA_256 } */
struct assay_key_alg {
	enum assay_key_alg_kind kind;
	int variant;		/* within kind (enums above); HASH, NONE: 0;
				 * KEY_DERIVATION: an assay_key_kdf */
	enum assay_key_hash hash;	/* HASH, SIGN, OAEP, HMAC, KEY_DERIVATION */
	uint32_t length;	/* truncated MAC or shortened AEAD tag; 0: full */
	int kdf;		/* KEY_AGREEMENT followed by a derivation, else 0 */
	enum assay_key_hash kdf_hash;
};

struct assay_key_attrs {
	enum assay_key_type type;
	int family;		/* ECC (assay_key_ecc_family) or DH family */
	uint32_t bits;		/* 0: from the imported data */
	uint32_t usage;		/* ASSAY_KEY_USAGE_* */
	struct assay_key_alg alg;	/* the one algorithm the key may be used with */
};

/* ---- the client ---- */

struct assay_key_client;

/* NULL when out of memory. A malformed PARSEC_SERVICE_ENDPOINT is
 * reported by the first operation (ASSAY_KEY_CONNECTION_ERROR) unless an
 * endpoint is set. */
struct assay_key_client *assay_key_client_new(void);
void assay_key_client_free(struct assay_key_client *c);

/* The socket path (not a URI). ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT when it
 * does not fit a Unix socket address. */
int assay_key_client_set_endpoint(struct assay_key_client *c, const char *path);
/* Authentication: direct (the service trusts the name given), Unix peer
 * credentials (the default), or a JWT-SVID token (compact JWS). Names and
 * tokens are at most 65535 bytes. */
int assay_key_client_set_direct(struct assay_key_client *c, const char *app_name);
int assay_key_client_set_unix(struct assay_key_client *c);
int assay_key_client_set_jwt_svid(struct assay_key_client *c, const char *token);
/* No authentication: only operations that need no identity succeed. */
int assay_key_client_set_no_auth(struct assay_key_client *c);
/* For testing services: this authentication type and these bytes, sent as
 * given with every request, the ones that normally go without included. */
int assay_key_client_set_auth_raw(struct assay_key_client *c, uint8_t auth_type,
				  const void *data, size_t len);
/* The provider for key and cryptographic operations (1..255). */
int assay_key_client_set_provider(struct assay_key_client *c, uint8_t id);
/* The provider key operations go to, looked up now if not known yet. */
int assay_key_client_provider(struct assay_key_client *c, uint8_t *id);
/* Time allowed for one operation's send and receive; 0: no limit. */
void assay_key_client_set_timeout_ms(struct assay_key_client *c, unsigned int ms);
/* What went wrong in the last operation, when the client found it
 * ("connect /run/assay/keyd.sock: No such file or directory"); "" when the
 * last status came from the service. Valid until the next call. */
const char *assay_key_client_last_error(const struct assay_key_client *c);

/* Outputs of the operations. */
void assay_key_free(void *p);
/* Wipes n bytes before freeing: for keys, plaintexts, shared secrets. */
void assay_key_free_secret(void *p, size_t n);

/* ---- core operations ---- */

int assay_key_ping(struct assay_key_client *c, unsigned int *major, unsigned int *minor);

struct assay_key_provider_info {
	const char *uuid, *description, *vendor;
	uint32_t version_maj, version_min, version_rev;
	uint32_t id;
};
int assay_key_list_providers(struct assay_key_client *c,
			     struct assay_key_provider_info **out, size_t *n);

/* The opcodes the provider offers (provider 0: the core operations). */
int assay_key_list_opcodes(struct assay_key_client *c, uint8_t provider,
			   uint32_t **out, size_t *n);

struct assay_key_authenticator_info {
	const char *description;
	uint32_t version_maj, version_min, version_rev;
	uint32_t id;		/* assay_key_auth_type */
};
int assay_key_list_authenticators(struct assay_key_client *c,
				  struct assay_key_authenticator_info **out, size_t *n);

/* The calling application's keys, in every provider. */
struct assay_key_info {
	const char *name;
	uint32_t provider_id;
	struct assay_key_attrs attrs;
};
int assay_key_list_keys(struct assay_key_client *c, struct assay_key_info **out, size_t *n);
/* The attributes of one key in the client's provider (from list_keys):
 * ASSAY_KEY_PSA_ERR_DOES_NOT_EXIST when there is none of that name. */
int assay_key_get_attributes(struct assay_key_client *c, const char *name,
			     struct assay_key_attrs *out);

/* Admin operations: the applications that have keys; deleting one
 * destroys all its keys. */
int assay_key_list_clients(struct assay_key_client *c, const char ***out, size_t *n);
int assay_key_delete_client(struct assay_key_client *c, const char *client);

/* ---- key management ---- */

int assay_key_generate_key(struct assay_key_client *c, const char *name,
			   const struct assay_key_attrs *attrs);
/* data in PSA's import format: RSA public keys as DER RSAPublicKey, RSA
 * key pairs as DER RSAPrivateKey, ECC public keys as 04||X||Y, ECC private
 * keys as the big-endian scalar, symmetric keys raw. */
int assay_key_import_key(struct assay_key_client *c, const char *name,
			 const struct assay_key_attrs *attrs, const uint8_t *data, size_t len);
int assay_key_destroy_key(struct assay_key_client *c, const char *name);
/* The same formats as import. */
int assay_key_export_public_key(struct assay_key_client *c, const char *name,
				uint8_t **out, size_t *len);
int assay_key_export_key(struct assay_key_client *c, const char *name,
			 uint8_t **out, size_t *len);

/* ---- signatures: alg is of kind ASSAY_KEY_ALG_SIGN ---- */

int assay_key_sign_hash(struct assay_key_client *c, const char *name,
			const struct assay_key_alg *alg, const uint8_t *hash, size_t hash_len,
			uint8_t **sig, size_t *sig_len);
int assay_key_verify_hash(struct assay_key_client *c, const char *name,
			  const struct assay_key_alg *alg, const uint8_t *hash, size_t hash_len,
			  const uint8_t *sig, size_t sig_len);
int assay_key_sign_message(struct assay_key_client *c, const char *name,
			   const struct assay_key_alg *alg, const uint8_t *msg, size_t msg_len,
			   uint8_t **sig, size_t *sig_len);
int assay_key_verify_message(struct assay_key_client *c, const char *name,
			     const struct assay_key_alg *alg, const uint8_t *msg, size_t msg_len,
			     const uint8_t *sig, size_t sig_len);

/* ---- asymmetric encryption: alg of kind ASSAY_KEY_ALG_ENCRYPT; salt
 * (OAEP label) may be NULL ---- */

int assay_key_asymmetric_encrypt(struct assay_key_client *c, const char *name,
				 const struct assay_key_alg *alg, const uint8_t *in, size_t in_len,
				 const uint8_t *salt, size_t salt_len,
				 uint8_t **out, size_t *out_len);
int assay_key_asymmetric_decrypt(struct assay_key_client *c, const char *name,
				 const struct assay_key_alg *alg, const uint8_t *in, size_t in_len,
				 const uint8_t *salt, size_t salt_len,
				 uint8_t **out, size_t *out_len);

/* ---- symmetric: alg of kind AEAD, CIPHER, MAC; ciphertexts of AEAD carry
 * the tag at their end ---- */

int assay_key_aead_encrypt(struct assay_key_client *c, const char *name,
			   const struct assay_key_alg *alg,
			   const uint8_t *nonce, size_t nonce_len,
			   const uint8_t *ad, size_t ad_len,
			   const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len);
int assay_key_aead_decrypt(struct assay_key_client *c, const char *name,
			   const struct assay_key_alg *alg,
			   const uint8_t *nonce, size_t nonce_len,
			   const uint8_t *ad, size_t ad_len,
			   const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len);
/* The IV, where the mode has one, is chosen by the service and leads the
 * ciphertext. */
int assay_key_cipher_encrypt(struct assay_key_client *c, const char *name,
			     const struct assay_key_alg *alg, const uint8_t *in, size_t in_len,
			     uint8_t **out, size_t *out_len);
int assay_key_cipher_decrypt(struct assay_key_client *c, const char *name,
			     const struct assay_key_alg *alg, const uint8_t *in, size_t in_len,
			     uint8_t **out, size_t *out_len);
int assay_key_mac_compute(struct assay_key_client *c, const char *name,
			  const struct assay_key_alg *alg, const uint8_t *in, size_t in_len,
			  uint8_t **mac, size_t *mac_len);
/* ASSAY_KEY_PSA_ERR_INVALID_SIGNATURE when the MAC does not match. */
int assay_key_mac_verify(struct assay_key_client *c, const char *name,
			 const struct assay_key_alg *alg, const uint8_t *in, size_t in_len,
			 const uint8_t *mac, size_t mac_len);

/* ---- no key ---- */

int assay_key_hash_compute(struct assay_key_client *c, enum assay_key_hash alg,
			   const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len);
/* ASSAY_KEY_PSA_ERR_INVALID_SIGNATURE when the hash does not match. */
int assay_key_hash_compare(struct assay_key_client *c, enum assay_key_hash alg,
			   const uint8_t *in, size_t in_len, const uint8_t *hash, size_t hash_len);
/* n random bytes into *out. */
int assay_key_generate_random(struct assay_key_client *c, size_t n, uint8_t **out);

/* alg: { ASSAY_KEY_ALG_KEY_AGREEMENT, ASSAY_KEY_KA_ECDH } (no derivation);
 * peer_key in the ECC public key format. */
int assay_key_raw_key_agreement(struct assay_key_client *c, const char *private_key_name,
				const struct assay_key_alg *alg,
				const uint8_t *peer_key, size_t peer_len,
				uint8_t **secret, size_t *secret_len);

enum assay_key_check_type {
	ASSAY_KEY_CHECK_USE = 1,
	ASSAY_KEY_CHECK_GENERATE = 2,
	ASSAY_KEY_CHECK_IMPORT = 3,
	ASSAY_KEY_CHECK_DERIVE = 4,
};
/* ASSAY_KEY_OK when the provider could do it, else the reason
 * (typically ASSAY_KEY_PSA_ERR_NOT_SUPPORTED). */
int assay_key_can_do_crypto(struct assay_key_client *c, enum assay_key_check_type check,
			    const struct assay_key_attrs *attrs);

/* ---- key attestation (the ActivateCredential mechanism) ----
 *
 * Proves to a verifier that a key lives in the same TPM as an attesting
 * key, by TPM2_ActivateCredential (TPM provider). The verifier asks
 * prepare_key_attestation for what it needs and gets:
 *   name: the attested key's TPM Name (the nameAlg id, 2 bytes big-endian,
 *     then the digest of the public area: 0x000B || SHA-256 for SHA-256);
 *   public_area: the attested key's public area, a marshalled TPMT_PUBLIC;
 *   attesting_pub: the attesting key's public key; when no attesting key
 *     is named, the TPM's endorsement key (the default RSA EK, TCG
 *     template L-1) as DER RSAPublicKey.
 * It checks the Name against the public area and that area's attributes,
 * then makes a credential for that Name under the attesting key
 * (TPM2_MakeCredential, in software) and sends the two parts to
 * attest_key: credential_blob is the TPM2B_ID_OBJECT and secret the
 * TPM2B_ENCRYPTED_SECRET, each as its buffer's bytes (without the 2-byte
 * size). The TPM gives the credential back only if the key of that Name is
 * loaded beside the attesting key; a credential made for another Name or
 * another EK fails with a PSA error (ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT on
 * assay-keyd).
 *
 * attesting_key_name: NULL (or "") for the provider's default, the EK;
 * assay-keyd's TPM provider accepts no other (ASSAY_KEY_PSA_ERR_NOT_SUPPORTED).
 * Outputs are freed with assay_key_free; the credential is a secret: free it
 * with assay_key_free_secret. */
int assay_key_prepare_key_attestation(struct assay_key_client *c,
				      const char *attested_key_name,
				      const char *attesting_key_name,
				      uint8_t **name, size_t *name_len,
				      uint8_t **public_area, size_t *public_len,
				      uint8_t **attesting_pub, size_t *attesting_len);
int assay_key_attest_key(struct assay_key_client *c, const char *attested_key_name,
			 const char *attesting_key_name,
			 const uint8_t *credential_blob, size_t blob_len,
			 const uint8_t *secret, size_t secret_len,
			 uint8_t **credential, size_t *credential_len);

#ifdef __cplusplus
}
#endif

#endif
