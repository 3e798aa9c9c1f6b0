/* libassaykey internals, shared by client.c (the client, the connection,
 * the response checks) and ops.c (one function per operation). Nothing
 * here is exported: assaykey.map exports only assay_key_*. */
#ifndef ASSAY_ASSAYKEY_INTERNAL_H
#define ASSAY_ASSAYKEY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#include <protobuf-c/protobuf-c.h>

#include "assay/key.h"
#include "util/buf.h"

#define ASSAYKEY_DEFAULT_ENDPOINT "/run/assay/keyd.sock"
#define ASSAYKEY_DEFAULT_TIMEOUT_MS 30000u
#define ASSAYKEY_RESPONSE_MAX (16u << 20)	/* response bodies */

enum assaykey_auth_mode {
	ASSAYKEY_AUTH_UNIX,
	ASSAYKEY_AUTH_DIRECT,
	ASSAYKEY_AUTH_JWT_SVID,
	ASSAYKEY_AUTH_NONE,
	ASSAYKEY_AUTH_RAW,	/* raw_type and auth, with every request */
};

struct assay_key_client {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char endpoint_err[192];	/* a malformed PARSEC_SERVICE_ENDPOINT */
	enum assaykey_auth_mode auth_mode;
	uint8_t raw_type;
	struct buf auth;	/* app name, token or raw bytes */
	int provider;		/* -1 until set or looked up */
	unsigned int timeout_ms;
	char err[320];		/* assay_key_client_last_error */
};

/* Records what went wrong (for assay_key_client_last_error) and returns
 * status. */
int assaykey_fail(struct assay_key_client *c, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* One operation: op (NULL: an empty body) is sent to the core provider
 * (core opcodes) or the client's provider; on success the response body
 * decoded as rd is in *res (free it with protobuf_c_message_free_unpacked). */
int assaykey_call(struct assay_key_client *c, uint32_t opcode, const ProtobufCMessage *op,
		  const ProtobufCMessageDescriptor *rd, ProtobufCMessage **res);

#endif
