/* The Parsec wire protocol 1.0: a 36-byte header, then the body, then (in
 * requests) the authentication bytes. Little-endian throughout. One
 * request and one response per connection.
 *
 *   0 magic 0x5EC0A710 | 4 header size after this field (30) | 6 version 1.0
 *   8 flags | 10 provider | 11 session | 19 content type | 20 accept type
 *   21 auth type | 22 body length | 26 auth length | 28 opcode | 32 status
 *   34 reserved (0)
 *
 * Shared by the daemon (keyd/) and the client library (lib/assaykey). */
#ifndef ASSAY_PARSEC_WIRE_H
#define ASSAY_PARSEC_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define PARSEC_MAGIC 0x5EC0A710u
#define PARSEC_HEADER_SIZE 36
#define PARSEC_HEADER_REST 30	/* the header size field's value */
#define PARSEC_BODY_MAX (1u << 20)	/* the default body limit */

enum parsec_opcode {
	PARSEC_PING = 0x01,
	PARSEC_PSA_GENERATE_KEY = 0x02,
	PARSEC_PSA_DESTROY_KEY = 0x03,
	PARSEC_PSA_SIGN_HASH = 0x04,
	PARSEC_PSA_VERIFY_HASH = 0x05,
	PARSEC_PSA_IMPORT_KEY = 0x06,
	PARSEC_PSA_EXPORT_PUBLIC_KEY = 0x07,
	PARSEC_LIST_PROVIDERS = 0x08,
	PARSEC_LIST_OPCODES = 0x09,
	PARSEC_PSA_ASYMMETRIC_ENCRYPT = 0x0A,
	PARSEC_PSA_ASYMMETRIC_DECRYPT = 0x0B,
	PARSEC_PSA_EXPORT_KEY = 0x0C,
	PARSEC_PSA_GENERATE_RANDOM = 0x0D,
	PARSEC_LIST_AUTHENTICATORS = 0x0E,
	PARSEC_PSA_HASH_COMPUTE = 0x0F,
	PARSEC_PSA_HASH_COMPARE = 0x10,
	PARSEC_PSA_AEAD_ENCRYPT = 0x11,
	PARSEC_PSA_AEAD_DECRYPT = 0x12,
	PARSEC_PSA_RAW_KEY_AGREEMENT = 0x13,
	PARSEC_PSA_CIPHER_ENCRYPT = 0x14,
	PARSEC_PSA_CIPHER_DECRYPT = 0x15,
	PARSEC_PSA_MAC_COMPUTE = 0x16,
	PARSEC_PSA_MAC_VERIFY = 0x17,
	PARSEC_PSA_SIGN_MESSAGE = 0x18,
	PARSEC_PSA_VERIFY_MESSAGE = 0x19,
	PARSEC_LIST_KEYS = 0x1A,
	PARSEC_LIST_CLIENTS = 0x1B,
	PARSEC_DELETE_CLIENT = 0x1C,
	PARSEC_ATTEST_KEY = 0x1E,
	PARSEC_PREPARE_KEY_ATTESTATION = 0x1F,
	PARSEC_CAN_DO_CRYPTO = 0x20,
};

enum parsec_provider_id {
	PARSEC_PROVIDER_CORE = 0,
	PARSEC_PROVIDER_SOFTWARE = 1,	/* Parsec's "MbedCrypto" */
	PARSEC_PROVIDER_PKCS11 = 2,
	PARSEC_PROVIDER_TPM = 3,
	PARSEC_PROVIDER_TRUSTED_SERVICE = 4,
	PARSEC_PROVIDER_CRYPTOAUTHLIB = 5,
};

enum parsec_auth_type {
	PARSEC_AUTH_NONE = 0,
	PARSEC_AUTH_DIRECT = 1,
	PARSEC_AUTH_JWT = 2,
	PARSEC_AUTH_UNIX_PEER = 3,
	PARSEC_AUTH_JWT_SVID = 4,
};

enum parsec_status {
	PARSEC_SUCCESS = 0,
	PARSEC_WRONG_PROVIDER_ID = 1,
	PARSEC_CONTENT_TYPE_NOT_SUPPORTED = 2,
	PARSEC_ACCEPT_TYPE_NOT_SUPPORTED = 3,
	PARSEC_WIRE_PROTOCOL_VERSION_NOT_SUPPORTED = 4,
	PARSEC_PROVIDER_NOT_REGISTERED = 5,
	PARSEC_PROVIDER_DOES_NOT_EXIST = 6,
	PARSEC_DESERIALIZING_BODY_FAILED = 7,
	PARSEC_SERIALIZING_BODY_FAILED = 8,
	PARSEC_OPCODE_DOES_NOT_EXIST = 9,
	PARSEC_RESPONSE_TOO_LARGE = 10,
	PARSEC_AUTHENTICATION_ERROR = 11,
	PARSEC_AUTHENTICATOR_DOES_NOT_EXIST = 12,
	PARSEC_AUTHENTICATOR_NOT_REGISTERED = 13,
	PARSEC_KEY_INFO_MANAGER_ERROR = 14,
	PARSEC_CONNECTION_ERROR = 15,
	PARSEC_INVALID_ENCODING = 16,
	PARSEC_INVALID_HEADER = 17,
	PARSEC_WRONG_PROVIDER_UUID = 18,
	PARSEC_NOT_AUTHENTICATED = 19,
	PARSEC_BODY_SIZE_EXCEEDS_LIMIT = 20,
	PARSEC_ADMIN_OPERATION = 21,
	PARSEC_DEPRECATED_PRIMITIVE = 22,
	/* 1000 + |psa_status_t|: see parsec/psa.h */
};

struct parsec_header {
	uint16_t flags;
	uint8_t provider;
	uint64_t session;
	uint8_t content_type, accept_type, auth_type;
	uint32_t body_len;
	uint16_t auth_len;
	uint32_t opcode;
	uint16_t status;
};

/* Reads the fixed header (exactly PARSEC_HEADER_SIZE bytes). Returns
 * PARSEC_SUCCESS, PARSEC_INVALID_HEADER (magic, size, reserved bytes) or
 * PARSEC_WIRE_PROTOCOL_VERSION_NOT_SUPPORTED: the checks a request fails
 * before its body is read. */
int parsec_header_read(const uint8_t *p, struct parsec_header *h);
/* The checks after the body and auth were read, in Parsec's order:
 * content type, accept type, auth type, opcode, provider id. */
int parsec_header_check(const struct parsec_header *h);
void parsec_header_write(const struct parsec_header *h, uint8_t *p);
/* Appends header and body: a whole response, or (with auth) a request. */
void parsec_message(struct buf *out, const struct parsec_header *h,
		    const uint8_t *body, size_t body_len,
		    const uint8_t *auth, size_t auth_len);

int parsec_opcode_known(uint32_t op);
/* Core operations: provider 0 only. */
int parsec_opcode_is_core(uint32_t op);
/* Operations an unauthenticated client may do (auth type none). */
int parsec_opcode_needs_identity(uint32_t op);
const char *parsec_opcode_name(uint32_t op);
/* The status in words ("PsaErrorDoesNotExist: the key does not exist"). */
const char *parsec_status_str(int status);
const char *parsec_status_name(int status);

#endif
