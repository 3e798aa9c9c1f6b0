#include "parsec/wire.h"

#include <stdio.h>
#include <string.h>

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

int parsec_header_read(const uint8_t *p, struct parsec_header *h)
{
	memset(h, 0, sizeof *h);
	if (get32(p) != PARSEC_MAGIC || get16(p + 4) != PARSEC_HEADER_REST)
		return PARSEC_INVALID_HEADER;
	if (p[6] != 1 || p[7] != 0)
		return PARSEC_WIRE_PROTOCOL_VERSION_NOT_SUPPORTED;
	h->flags = get16(p + 8);
	h->provider = p[10];
	h->session = (uint64_t)get32(p + 11) | (uint64_t)get32(p + 15) << 32;
	h->content_type = p[19];
	h->accept_type = p[20];
	h->auth_type = p[21];
	h->body_len = get32(p + 22);
	h->auth_len = get16(p + 26);
	h->opcode = get32(p + 28);
	h->status = get16(p + 32);
	if (p[34] || p[35])
		return PARSEC_INVALID_HEADER;
	return PARSEC_SUCCESS;
}

int parsec_header_check(const struct parsec_header *h)
{
	if (h->content_type != 0)
		return PARSEC_CONTENT_TYPE_NOT_SUPPORTED;
	if (h->accept_type != 0)
		return PARSEC_ACCEPT_TYPE_NOT_SUPPORTED;
	if (h->auth_type > PARSEC_AUTH_JWT_SVID)
		return PARSEC_AUTHENTICATOR_DOES_NOT_EXIST;
	if (!parsec_opcode_known(h->opcode))
		return PARSEC_OPCODE_DOES_NOT_EXIST;
	if (h->provider > PARSEC_PROVIDER_CRYPTOAUTHLIB)
		return PARSEC_PROVIDER_DOES_NOT_EXIST;
	return PARSEC_SUCCESS;
}

void parsec_header_write(const struct parsec_header *h, uint8_t *p)
{
	put32(p, PARSEC_MAGIC);
	put16(p + 4, PARSEC_HEADER_REST);
	p[6] = 1;
	p[7] = 0;
	put16(p + 8, h->flags);
	p[10] = h->provider;
	put32(p + 11, (uint32_t)h->session);
	put32(p + 15, (uint32_t)(h->session >> 32));
	p[19] = h->content_type;
	p[20] = h->accept_type;
	p[21] = h->auth_type;
	put32(p + 22, h->body_len);
	put16(p + 26, h->auth_len);
	put32(p + 28, h->opcode);
	put16(p + 32, h->status);
	p[34] = p[35] = 0;
}

void parsec_message(struct buf *out, const struct parsec_header *h,
		    const uint8_t *body, size_t body_len,
		    const uint8_t *auth, size_t auth_len)
{
	uint8_t hdr[PARSEC_HEADER_SIZE];
	struct parsec_header copy = *h;
	copy.body_len = (uint32_t)body_len;
	copy.auth_len = (uint16_t)auth_len;
	parsec_header_write(&copy, hdr);
	buf_append(out, hdr, sizeof hdr);
	if (body_len)
		buf_append(out, body, body_len);
	if (auth_len)
		buf_append(out, auth, auth_len);
}

static const char *const opcode_names[] = {
	[PARSEC_PING] = "Ping",
	[PARSEC_PSA_GENERATE_KEY] = "PsaGenerateKey",
	[PARSEC_PSA_DESTROY_KEY] = "PsaDestroyKey",
	[PARSEC_PSA_SIGN_HASH] = "PsaSignHash",
	[PARSEC_PSA_VERIFY_HASH] = "PsaVerifyHash",
	[PARSEC_PSA_IMPORT_KEY] = "PsaImportKey",
	[PARSEC_PSA_EXPORT_PUBLIC_KEY] = "PsaExportPublicKey",
	[PARSEC_LIST_PROVIDERS] = "ListProviders",
	[PARSEC_LIST_OPCODES] = "ListOpcodes",
	[PARSEC_PSA_ASYMMETRIC_ENCRYPT] = "PsaAsymmetricEncrypt",
	[PARSEC_PSA_ASYMMETRIC_DECRYPT] = "PsaAsymmetricDecrypt",
	[PARSEC_PSA_EXPORT_KEY] = "PsaExportKey",
	[PARSEC_PSA_GENERATE_RANDOM] = "PsaGenerateRandom",
	[PARSEC_LIST_AUTHENTICATORS] = "ListAuthenticators",
	[PARSEC_PSA_HASH_COMPUTE] = "PsaHashCompute",
	[PARSEC_PSA_HASH_COMPARE] = "PsaHashCompare",
	[PARSEC_PSA_AEAD_ENCRYPT] = "PsaAeadEncrypt",
	[PARSEC_PSA_AEAD_DECRYPT] = "PsaAeadDecrypt",
	[PARSEC_PSA_RAW_KEY_AGREEMENT] = "PsaRawKeyAgreement",
	[PARSEC_PSA_CIPHER_ENCRYPT] = "PsaCipherEncrypt",
	[PARSEC_PSA_CIPHER_DECRYPT] = "PsaCipherDecrypt",
	[PARSEC_PSA_MAC_COMPUTE] = "PsaMacCompute",
	[PARSEC_PSA_MAC_VERIFY] = "PsaMacVerify",
	[PARSEC_PSA_SIGN_MESSAGE] = "PsaSignMessage",
	[PARSEC_PSA_VERIFY_MESSAGE] = "PsaVerifyMessage",
	[PARSEC_LIST_KEYS] = "ListKeys",
	[PARSEC_LIST_CLIENTS] = "ListClients",
	[PARSEC_DELETE_CLIENT] = "DeleteClient",
	[PARSEC_ATTEST_KEY] = "AttestKey",
	[PARSEC_PREPARE_KEY_ATTESTATION] = "PrepareKeyAttestation",
	[PARSEC_CAN_DO_CRYPTO] = "CanDoCrypto",
};

int parsec_opcode_known(uint32_t op)
{
	return op < sizeof opcode_names / sizeof *opcode_names && opcode_names[op];
}

const char *parsec_opcode_name(uint32_t op)
{
	return parsec_opcode_known(op) ? opcode_names[op] : "unknown";
}

int parsec_opcode_is_core(uint32_t op)
{
	return op == PARSEC_PING || op == PARSEC_LIST_PROVIDERS || op == PARSEC_LIST_OPCODES ||
	       op == PARSEC_LIST_AUTHENTICATORS || op == PARSEC_LIST_KEYS ||
	       op == PARSEC_LIST_CLIENTS || op == PARSEC_DELETE_CLIENT;
}

/* Everything that touches keys or a client's namespace needs to know who
 * asks; pure functions of their input (random, hash) and the service's
 * self-description do not. */
int parsec_opcode_needs_identity(uint32_t op)
{
	switch (op) {
	case PARSEC_PING: case PARSEC_LIST_PROVIDERS: case PARSEC_LIST_OPCODES:
	case PARSEC_LIST_AUTHENTICATORS: case PARSEC_PSA_GENERATE_RANDOM:
	case PARSEC_PSA_HASH_COMPUTE: case PARSEC_PSA_HASH_COMPARE:
	case PARSEC_CAN_DO_CRYPTO:
		return 0;
	default:
		return 1;
	}
}

struct status_text {
	int code;
	const char *name, *text;
};

static const struct status_text statuses[] = {
	{ 0, "Success", "success" },
	{ 1, "WrongProviderId", "the provider does not handle this operation" },
	{ 2, "ContentTypeNotSupported", "the content type is not supported" },
	{ 3, "AcceptTypeNotSupported", "the accept type is not supported" },
	{ 4, "WireProtocolVersionNotSupported", "the wire protocol version is not supported" },
	{ 5, "ProviderNotRegistered", "the provider is not enabled in this service" },
	{ 6, "ProviderDoesNotExist", "no provider has this id" },
	{ 7, "DeserializingBodyFailed", "the request body could not be decoded" },
	{ 8, "SerializingBodyFailed", "the response body could not be encoded" },
	{ 9, "OpcodeDoesNotExist", "no operation has this opcode" },
	{ 10, "ResponseTooLarge", "the response is too large" },
	{ 11, "AuthenticationError", "authentication failed" },
	{ 12, "AuthenticatorDoesNotExist", "no authenticator has this type" },
	{ 13, "AuthenticatorNotRegistered", "the authenticator is not enabled in this service" },
	{ 14, "KeyInfoManagerError", "the key store failed" },
	{ 15, "ConnectionError", "the connection failed" },
	{ 16, "InvalidEncoding", "invalid encoding" },
	{ 17, "InvalidHeader", "the request header is invalid" },
	{ 18, "WrongProviderUuid", "the provider uuid is wrong" },
	{ 19, "NotAuthenticated", "this operation needs an authenticated client" },
	{ 20, "BodySizeExceedsLimit", "the request body is larger than the service accepts" },
	{ 21, "AdminOperation", "this operation is for administrators only" },
	{ 22, "DeprecatedPrimitive", "the algorithm or key type is deprecated" },
	{ 1132, "PsaErrorGenericError", "the operation failed" },
	{ 1133, "PsaErrorNotPermitted", "the key's policy does not permit this" },
	{ 1134, "PsaErrorNotSupported", "not supported by this provider" },
	{ 1135, "PsaErrorInvalidArgument", "an argument is invalid" },
	{ 1136, "PsaErrorInvalidHandle", "invalid key handle" },
	{ 1137, "PsaErrorBadState", "bad state" },
	{ 1138, "PsaErrorBufferTooSmall", "buffer too small" },
	{ 1139, "PsaErrorAlreadyExists", "a key of this name already exists" },
	{ 1140, "PsaErrorDoesNotExist", "the key does not exist" },
	{ 1141, "PsaErrorInsufficientMemory", "out of memory" },
	{ 1142, "PsaErrorInsufficientStorage", "out of storage" },
	{ 1143, "PsaErrorInsufficientData", "insufficient data" },
	{ 1145, "PsaErrorCommunicationFailure", "the backend could not be reached" },
	{ 1146, "PsaErrorStorageFailure", "the backend's storage failed" },
	{ 1147, "PsaErrorHardwareFailure", "the hardware failed" },
	{ 1148, "PsaErrorInsufficientEntropy", "insufficient entropy" },
	{ 1149, "PsaErrorInvalidSignature", "the signature or tag does not verify" },
	{ 1150, "PsaErrorInvalidPadding", "invalid padding" },
	{ 1151, "PsaErrorCorruptionDetected", "corruption detected" },
	{ 1152, "PsaErrorDataCorrupt", "stored data is corrupt" },
	{ 1153, "PsaErrorDataInvalid", "stored data is invalid" },
};

static const struct status_text *find(int status)
{
	for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++)
		if (statuses[i].code == status)
			return &statuses[i];
	return NULL;
}

const char *parsec_status_name(int status)
{
	const struct status_text *s = find(status);
	return s ? s->name : "UnknownStatus";
}

const char *parsec_status_str(int status)
{
	const struct status_text *s = find(status);
	return s ? s->text : "unknown status";
}
