/* The request handler in process, on the software provider: the Parsec
 * vectors byte for byte where the answer is the service's own (not the
 * mock's made-up providers), every malformed-header case, the order of
 * checks, authentication, multi-tenancy, admin operations and key policies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "keyd/keyd.h"
#include "parsec/psa_pb.h"
#include "util/check.h"
#include "util/encode.h"
#include "util/file.h"

#include "list_clients.pb-c.h"
#include "list_keys.pb-c.h"
#include "list_opcodes.pb-c.h"
#include "list_providers.pb-c.h"
#include "psa_asymmetric_decrypt.pb-c.h"
#include "psa_destroy_key.pb-c.h"
#include "psa_export_key.pb-c.h"
#include "psa_export_public_key.pb-c.h"
#include "psa_generate_key.pb-c.h"
#include "psa_sign_hash.pb-c.h"
#include "psa_verify_hash.pb-c.h"

static struct keyd K;
static struct buf resp;

/* A request with direct authentication as app (NULL: none). */
static int call(uint8_t provider, uint32_t opcode, const char *app,
		const ProtobufCMessage *body)
{
	struct parsec_header h = { 0 };
	struct buf req = BUF_INIT;
	uint8_t *b = NULL;
	size_t n = body ? protobuf_c_message_get_packed_size(body) : 0;
	if (n) {
		b = malloc(n);
		protobuf_c_message_pack(body, b);
	}
	h.provider = provider;
	h.opcode = opcode;
	h.auth_type = app ? PARSEC_AUTH_DIRECT : PARSEC_AUTH_NONE;
	parsec_message(&req, &h, b, n, (const uint8_t *)app, app ? strlen(app) : 0);
	int st = keyd_handle(&K, req.data, req.len, NULL, &resp);
	buf_free(&req);
	free(b);
	return st;
}

/* The response's status and body, checked against the request. */
static int status_of(const struct buf *r)
{
	struct parsec_header h;
	if (r->len < PARSEC_HEADER_SIZE || parsec_header_read(r->data, &h) != 0 ||
	    r->len != PARSEC_HEADER_SIZE + h.body_len)
		return -1;
	return h.status;
}

static const uint8_t *body_of(const struct buf *r, size_t *n)
{
	*n = r->len - PARSEC_HEADER_SIZE;
	return r->data + PARSEC_HEADER_SIZE;
}

static int ecc_key(const char *app, const char *name, uint32_t usage)
{
	struct psa_attrs a = { .type = PSA_KEY_ECC_PAIR, .family = PSA_ECC_SECP_R1, .bits = 256,
			       .usage = usage };
	a.alg = (struct psa_alg){ .kind = PSA_ALG_SIGN, .variant = PSA_SIGN_ECDSA,
				  .hash = PSA_HASH_SHA_256 };
	struct psa_attrs_pb pb;
	psa_attrs_to_pb(&a, &pb);
	PsaGenerateKey__Operation op = PSA_GENERATE_KEY__OPERATION__INIT;
	op.key_name = (char *)name;
	op.attributes = &pb.attrs;
	return call(PARSEC_PROVIDER_SOFTWARE, PARSEC_PSA_GENERATE_KEY, app, &op.base);
}

static int sign(const char *app, const char *name, enum psa_hash hash)
{
	struct psa_alg alg = { .kind = PSA_ALG_SIGN, .variant = PSA_SIGN_ECDSA, .hash = hash };
	struct psa_alg_pb pb;
	uint8_t digest[64] = { 1, 2, 3 };
	psa_alg_to_pb(&alg, &pb);
	PsaSignHash__Operation op = PSA_SIGN_HASH__OPERATION__INIT;
	op.key_name = (char *)name;
	op.alg = pb.alg.asymmetric_signature;
	op.hash.data = digest;
	op.hash.len = psa_hash_size(hash) ? psa_hash_size(hash) : 32;
	return call(PARSEC_PROVIDER_SOFTWARE, PARSEC_PSA_SIGN_HASH, app, &op.base);
}

/* ---- the vectors ---- */

struct vector {
	struct buf req, resp;
};

static int load_vector(const char *name, struct vector *v)
{
	char path[512];
	struct buf f = BUF_INIT;
	const char *fx = getenv("ASSAY_FIXTURES");
	snprintf(path, sizeof path, "%s/parsec/vectors/%s.test.yaml", fx ? fx : ".", name);
	memset(v, 0, sizeof *v);
	if (file_read(path, 1 << 20, &f) < 0)
		return -1;
	int found = 0;
	for (char *line = strtok((char *)f.data, "\n"); line; line = strtok(NULL, "\n")) {
		while (*line == ' ')
			line++;
		struct buf *out = strncmp(line, "request_hex: ", 13) == 0 ? &v->req
				: strncmp(line, "response_hex: ", 14) == 0 ? &v->resp : NULL;
		if (out) {
			const char *hex = strchr(line, ' ') + 1;
			found += hex_decode(out, hex, strlen(hex)) == 0;
		}
	}
	buf_free(&f);
	return found == 2 ? 0 : -1;
}

static void free_vector(struct vector *v)
{
	buf_free(&v->req);
	buf_free(&v->resp);
}

/* The service's answer to the vector's request, byte for byte. */
static void vector_exact(const char *name)
{
	struct vector v;
	CHECK_INT(load_vector(name, &v), 0);
	keyd_handle(&K, v.req.data, v.req.len, NULL, &resp);
	int same = resp.len == v.resp.len && memcmp(resp.data, v.resp.data, resp.len) == 0;
	if (!same) {
		char *got = hex_encode_str(resp.data, resp.len);
		printf("  vector %s: got %s\n", name, got);
		free(got);
	}
	CHECK(same);
	free_vector(&v);
}

/* The request is accepted and answered with a body of the right type
 * (the vector's own answer describes the mock service it came from). */
static void vector_accepted(const char *name, const ProtobufCMessageDescriptor *result)
{
	struct vector v;
	size_t n;
	CHECK_INT(load_vector(name, &v), 0);
	CHECK_INT(keyd_handle(&K, v.req.data, v.req.len, NULL, &resp), 0);
	CHECK_INT(status_of(&resp), 0);
	const uint8_t *b = body_of(&resp, &n);
	ProtobufCMessage *m = protobuf_c_message_unpack(result, NULL, n, b);
	CHECK(m != NULL);
	protobuf_c_message_free_unpacked(m, NULL);
	/* The response header mirrors the request's as the vector's does. */
	CHECK(memcmp(resp.data, v.resp.data, 22) == 0 || resp.data[10] == v.resp.data[10]);
	CHECK_INT(resp.data[28], v.resp.data[28]);
	free_vector(&v);
}

static void test_vectors(void)
{
	vector_exact("ping");
	vector_exact("list_clients_admin_err");
	vector_exact("delete_client_admin_err");
	vector_exact("delete_client_notexist");
	/* "existing client" has a key: deleting it succeeds. */
	CHECK_INT(ecc_key("existing client", "k1", PSA_USAGE_SIGN_HASH), 0);
	vector_exact("delete_client");
	CHECK_INT(sign("existing client", "k1", PSA_HASH_SHA_256), PSA_ERR_DOES_NOT_EXIST);
	/* jim and bob have keys, in that order. */
	CHECK_INT(ecc_key("jim", "k", PSA_USAGE_SIGN_HASH), 0);
	CHECK_INT(ecc_key("bob", "k", PSA_USAGE_SIGN_HASH), 0);
	vector_exact("list_clients");
	vector_accepted("list_opcodes_directauth", &list_opcodes__result__descriptor);
	vector_accepted("list_providers", &list_providers__result__descriptor);
}

/* ---- malformed headers ---- */

static void header_case(const char *what, void (*mangle)(uint8_t *h), size_t extra,
			int want, int from_request)
{
	struct parsec_header h = { 0 };
	struct buf req = BUF_INIT;
	h.opcode = PARSEC_PING;
	parsec_message(&req, &h, NULL, 0, NULL, 0);
	mangle(req.data);
	for (size_t i = 0; i < extra; i++)
		buf_append_u8(&req, 0);
	int st = keyd_handle(&K, req.data, req.len, NULL, &resp);
	if (st != want)
		printf("  header case %s: status %d, want %d\n", what, st, want);
	CHECK_INT(st, want);
	CHECK_INT(status_of(&resp), want);
	/* Unreadable requests are answered as Parsec does: provider 0,
	 * opcode Ping; readable ones mirror the request. */
	struct parsec_header rh;
	parsec_header_read(resp.data, &rh);
	CHECK_INT(rh.opcode, from_request ? ((uint32_t)req.data[28] | (uint32_t)req.data[29] << 8)
					  : PARSEC_PING);
	buf_free(&req);
}

static void bad_magic(uint8_t *h) { h[0] ^= 1; }
static void bad_size(uint8_t *h) { h[4] = 31; }
static void bad_major(uint8_t *h) { h[6] = 2; }
static void bad_minor(uint8_t *h) { h[7] = 1; }
static void bad_reserved(uint8_t *h) { h[35] = 1; }
static void too_big(uint8_t *h) { h[22] = 0; h[23] = 0; h[24] = 0x20; }	/* 2 MiB */
static void bad_content(uint8_t *h) { h[19] = 1; }
static void bad_accept(uint8_t *h) { h[20] = 1; }
static void bad_auth(uint8_t *h) { h[21] = 9; }
static void jwt_auth(uint8_t *h) { h[21] = 2; }
static void bad_opcode(uint8_t *h) { h[28] = 0x99; }
static void bad_provider(uint8_t *h) { h[10] = 9; }
static void absent_provider(uint8_t *h) { h[10] = 3; }
static void long_body(uint8_t *h) { h[22] = 8; }	/* says 8 bytes, none follow */
static void core_at_provider(uint8_t *h) { h[10] = 1; }
static void nothing(uint8_t *h) { (void)h; }

static void test_headers(void)
{
	header_case("magic", bad_magic, 0, PARSEC_INVALID_HEADER, 0);
	header_case("header size", bad_size, 0, PARSEC_INVALID_HEADER, 0);
	header_case("major version", bad_major, 0, PARSEC_WIRE_PROTOCOL_VERSION_NOT_SUPPORTED, 0);
	header_case("minor version", bad_minor, 0, PARSEC_WIRE_PROTOCOL_VERSION_NOT_SUPPORTED, 0);
	header_case("reserved", bad_reserved, 0, PARSEC_INVALID_HEADER, 0);
	header_case("body limit", too_big, 0, PARSEC_BODY_SIZE_EXCEEDS_LIMIT, 0);
	header_case("content type", bad_content, 0, PARSEC_CONTENT_TYPE_NOT_SUPPORTED, 1);
	header_case("accept type", bad_accept, 0, PARSEC_ACCEPT_TYPE_NOT_SUPPORTED, 1);
	header_case("auth type", bad_auth, 0, PARSEC_AUTHENTICATOR_DOES_NOT_EXIST, 1);
	header_case("jwt (not offered)", jwt_auth, 0, PARSEC_AUTHENTICATOR_NOT_REGISTERED, 1);
	header_case("opcode", bad_opcode, 0, PARSEC_OPCODE_DOES_NOT_EXIST, 1);
	header_case("provider id", bad_provider, 0, PARSEC_PROVIDER_DOES_NOT_EXIST, 1);
	header_case("provider not enabled", absent_provider, 0, PARSEC_PROVIDER_NOT_REGISTERED, 1);
	header_case("body shorter than said", long_body, 0, PARSEC_CONNECTION_ERROR, 0);
	header_case("bytes after the request", nothing, 3, PARSEC_CONNECTION_ERROR, 0);
	header_case("core op at a provider", core_at_provider, 0, PSA_ERR_NOT_SUPPORTED, 1);
	/* A body Ping cannot decode (Parsec's mangled_ping). */
	struct parsec_header h = { 0 };
	struct buf req = BUF_INIT;
	static const uint8_t junk[] = { 0x11, 0x22, 0x33, 0x44, 0x55 };
	h.opcode = PARSEC_LIST_OPCODES;
	parsec_message(&req, &h, junk, sizeof junk, NULL, 0);
	CHECK_INT(keyd_handle(&K, req.data, req.len, NULL, &resp),
		  PARSEC_DESERIALIZING_BODY_FAILED);
	buf_free(&req);
	/* Too short for a header at all. */
	CHECK_INT(keyd_handle(&K, (const uint8_t *)"\x10\xa7", 2, NULL, &resp),
		  PARSEC_CONNECTION_ERROR);
}

/* ---- who may do what ---- */

static void test_tenancy(void)
{
	/* Key operations need an identity. */
	CHECK_INT(ecc_key(NULL, "anon", PSA_USAGE_SIGN_HASH), PARSEC_NOT_AUTHENTICATED);
	CHECK_INT(ecc_key("alice", "shared-name", PSA_USAGE_SIGN_HASH), 0);
	CHECK_INT(ecc_key("alice", "shared-name", PSA_USAGE_SIGN_HASH), PSA_ERR_ALREADY_EXISTS);
	CHECK_INT(sign("alice", "shared-name", PSA_HASH_SHA_256), 0);
	/* Bob neither sees nor uses Alice's key, and may have his own. */
	CHECK_INT(sign("bob", "shared-name", PSA_HASH_SHA_256), PSA_ERR_DOES_NOT_EXIST);
	CHECK_INT(ecc_key("bob", "shared-name", PSA_USAGE_SIGN_HASH), 0);
	CHECK_INT(call(0, PARSEC_LIST_KEYS, "alice", NULL), 0);
	size_t n;
	const uint8_t *b = body_of(&resp, &n);
	ListKeys__Result *keys = list_keys__result__unpack(NULL, n, b);
	CHECK(keys && keys->n_keys == 1 && strcmp(keys->keys[0]->name, "shared-name") == 0);
	CHECK(keys && keys->keys[0]->attributes && keys->keys[0]->attributes->key_bits == 256);
	list_keys__result__free_unpacked(keys, NULL);
	/* A uid through Unix peer credentials is not the same-named direct app. */
	struct parsec_header h = { 0 };
	struct buf req = BUF_INIT;
	uint8_t uid[4] = { 0xe8, 0x03, 0, 0 };	/* 1000 */
	struct peer peer = { 1, 1000, 1 };
	CHECK_INT(ecc_key("1000", "k", PSA_USAGE_SIGN_HASH), 0);
	h.opcode = PARSEC_LIST_KEYS;
	h.auth_type = PARSEC_AUTH_UNIX_PEER;
	parsec_message(&req, &h, NULL, 0, uid, 4);
	CHECK_INT(keyd_handle(&K, req.data, req.len, &peer, &resp), 0);
	CHECK_INT((int)resp.len, PARSEC_HEADER_SIZE);	/* no keys: empty list */
	/* Claiming another uid than the connection's fails. */
	peer.uid = 1001;
	CHECK_INT(keyd_handle(&K, req.data, req.len, &peer, &resp), PARSEC_AUTHENTICATION_ERROR);
	CHECK_INT(keyd_handle(&K, req.data, req.len, NULL, &resp), PARSEC_AUTHENTICATION_ERROR);
	buf_free(&req);
	/* Admin operations. */
	CHECK_INT(call(0, PARSEC_LIST_CLIENTS, "alice", NULL), PARSEC_ADMIN_OPERATION);
	CHECK_INT(call(0, PARSEC_LIST_CLIENTS, "admin_priv", NULL), 0);
	b = body_of(&resp, &n);
	ListClients__Result *clients = list_clients__result__unpack(NULL, n, b);
	int alice = 0;
	for (size_t i = 0; clients && i < clients->n_clients; i++)
		alice |= strcmp(clients->clients[i], "alice") == 0;
	CHECK(alice);
	list_clients__result__free_unpacked(clients, NULL);
	/* Names are bounded. */
	char longname[300];
	memset(longname, 'x', sizeof longname - 1);
	longname[sizeof longname - 1] = 0;
	CHECK_INT(ecc_key("alice", longname, PSA_USAGE_SIGN_HASH), PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(ecc_key(longname, "k", PSA_USAGE_SIGN_HASH), PARSEC_AUTHENTICATION_ERROR);
}

static void test_policy(void)
{
	CHECK_INT(ecc_key("carol", "verify-only", PSA_USAGE_VERIFY_HASH), 0);
	CHECK_INT(sign("carol", "verify-only", PSA_HASH_SHA_256), PSA_ERR_NOT_PERMITTED);
	CHECK_INT(ecc_key("carol", "signer", PSA_USAGE_SIGN_HASH), 0);
	/* The key is for ECDSA with SHA-256 only. */
	CHECK_INT(sign("carol", "signer", PSA_HASH_SHA_384), PSA_ERR_NOT_PERMITTED);
	/* Export needs the export flag. */
	PsaExportKey__Operation ex = PSA_EXPORT_KEY__OPERATION__INIT;
	ex.key_name = "signer";
	CHECK_INT(call(1, PARSEC_PSA_EXPORT_KEY, "carol", &ex.base), PSA_ERR_NOT_PERMITTED);
	/* The public key is always exportable. */
	PsaExportPublicKey__Operation ep = PSA_EXPORT_PUBLIC_KEY__OPERATION__INIT;
	ep.key_name = "signer";
	CHECK_INT(call(1, PARSEC_PSA_EXPORT_PUBLIC_KEY, "carol", &ep.base), 0);
	/* Decrypt with a signing key. */
	PsaAsymmetricDecrypt__Operation de = PSA_ASYMMETRIC_DECRYPT__OPERATION__INIT;
	struct psa_alg oaep = { .kind = PSA_ALG_ENCRYPT, .variant = PSA_ENCRYPT_RSA_OAEP,
				.hash = PSA_HASH_SHA_256 };
	struct psa_alg_pb pb;
	psa_alg_to_pb(&oaep, &pb);
	de.key_name = "signer";
	de.alg = pb.alg.asymmetric_encryption;
	CHECK_INT(call(1, PARSEC_PSA_ASYMMETRIC_DECRYPT, "carol", &de.base), PSA_ERR_NOT_PERMITTED);
	/* Destroy, then it is gone. */
	PsaDestroyKey__Operation d = PSA_DESTROY_KEY__OPERATION__INIT;
	d.key_name = "signer";
	CHECK_INT(call(1, PARSEC_PSA_DESTROY_KEY, "carol", &d.base), 0);
	CHECK_INT(call(1, PARSEC_PSA_DESTROY_KEY, "carol", &d.base), PSA_ERR_DOES_NOT_EXIST);
	CHECK_INT(sign("carol", "signer", PSA_HASH_SHA_256), PSA_ERR_DOES_NOT_EXIST);
}

int main(void)
{
	char dir[] = "/tmp/assay-keyd-XXXXXX", err[512];
	if (!mkdtemp(dir))
		CHECK_SKIP("cannot make a temporary directory");
	char *argv[] = { "assay-keyd", "--state-dir", dir, "--providers", "software",
			 "--authenticators", "direct,unix-peer-credentials",
			 "--admins", "admin_priv", "--log-level", "warn", NULL };
	struct config *cfg;
	CHECK_INT(config_load(&keyd_program, 11, argv, &cfg, err, sizeof err), 0);
	if (keyd_open(&K, cfg, err, sizeof err) < 0) {
		printf("keyd_open: %s\n", err);
		return 1;
	}
	const char *fx = getenv("ASSAY_FIXTURES");
	char probe[512];
	snprintf(probe, sizeof probe, "%s/parsec/vectors/ping.test.yaml", fx ? fx : ".");
	if (access(probe, R_OK) == 0)
		test_vectors();
	else
		printf("SKIP (part): the Parsec vectors are not in %s\n", fx ? fx : "ASSAY_FIXTURES");
	test_headers();
	test_tenancy();
	test_policy();
	keyd_close(&K);
	config_free(cfg);
	buf_free(&resp);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("cannot remove %s\n", dir);
	return check_done();
}
