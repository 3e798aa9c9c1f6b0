/* test_proto: the protoc-c code generated from lib/parsec/proto encodes and
 * decodes Parsec bodies byte for byte as the reference implementation does.
 *
 * Known encodings come from the parsec-mock vectors in
 * $ASSAY_FIXTURES/parsec/vectors (a request or response is a 36-byte header
 * followed by the body) and from hand-computed protobuf encodings. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/check.h"
#include "util/encode.h"
#include "util/file.h"

#include "delete_client.pb-c.h"
#include "list_authenticators.pb-c.h"
#include "list_opcodes.pb-c.h"
#include "list_providers.pb-c.h"
#include "ping.pb-c.h"
#include "psa_key_attributes.pb-c.h"
#include "psa_sign_hash.pb-c.h"

#define HEADER_LEN 36
#define BODY_LEN_OFFSET 22

/* Packs msg and compares with want; prints both in hex when they differ. */
static int packs_to(const ProtobufCMessage *msg, const uint8_t *want,
		    size_t want_len)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *out = malloc(len ? len : 1);
	int ok;

	if (!out)
		abort();
	if (protobuf_c_message_pack(msg, out) != len) {
		free(out);
		printf("pack of %s wrote a size other than announced\n",
		       msg->descriptor->name);
		return 0;
	}
	ok = len == want_len && memcmp(out, want, len) == 0;
	if (!ok) {
		char *got = hex_encode_str(out, len);
		char *exp = hex_encode_str(want, want_len);

		printf("%s packs to %s, expected %s\n", msg->descriptor->name,
		       got ? got : "?", exp ? exp : "?");
		free(got);
		free(exp);
	}
	free(out);
	return ok;
}

/* Reads the hex value of key ("request_hex" / "response_hex") from a vector
 * file and returns the body that follows the 36-byte header in body. */
static void vector_body(const char *name, const char *key, struct buf *body)
{
	const char *dir = getenv("ASSAY_FIXTURES");
	struct buf file = BUF_INIT, raw = BUF_INIT;
	char path[1024], needle[64];
	const char *start, *end;
	uint32_t body_len;

	if (!dir)
		CHECK_SKIP("ASSAY_FIXTURES is not set");
	snprintf(path, sizeof(path), "%s/parsec/vectors/%s.test.yaml", dir,
		 name);
	if (file_read(path, 1 << 20, &file) || buf_append_u8(&file, 0))
		CHECK_SKIP("fixture %s is missing", path);
	snprintf(needle, sizeof(needle), "\n  %s: ", key);
	start = strstr((const char *)file.data, needle);
	if (!start) {
		printf("%s has no %s\n", path, key);
		exit(1);
	}
	start += strlen(needle);
	end = start + strcspn(start, "\r\n");
	if (hex_decode(&raw, start, (size_t)(end - start)) ||
	    raw.len < HEADER_LEN) {
		printf("%s: bad %s\n", path, key);
		exit(1);
	}
	body_len = (uint32_t)raw.data[BODY_LEN_OFFSET] |
		   (uint32_t)raw.data[BODY_LEN_OFFSET + 1] << 8 |
		   (uint32_t)raw.data[BODY_LEN_OFFSET + 2] << 16 |
		   (uint32_t)raw.data[BODY_LEN_OFFSET + 3] << 24;
	if (body_len > raw.len - HEADER_LEN) {
		printf("%s: %s body length %u past the end\n", path, key,
		       (unsigned)body_len);
		exit(1);
	}
	buf_reset(body);
	if (buf_append(body, raw.data + HEADER_LEN, body_len))
		abort();
	buf_free(&raw);
	buf_free(&file);
}

static void test_ping(void)
{
	static const uint8_t want[] = { 0x08, 0x01 };
	Ping__Operation op = PING__OPERATION__INIT;
	Ping__Result res = PING__RESULT__INIT;
	Ping__Result *back;
	struct buf body = BUF_INIT;

	CHECK_INT(ping__operation__get_packed_size(&op), 0);

	/* proto3: the zero minor version is not written at all. */
	res.wire_protocol_version_maj = 1;
	res.wire_protocol_version_min = 0;
	CHECK(packs_to(&res.base, want, sizeof(want)));

	vector_body("ping", "response_hex", &body);
	CHECK_INT(body.len, sizeof(want));
	CHECK(body.len == sizeof(want) && !memcmp(body.data, want, body.len));

	back = ping__result__unpack(NULL, body.len, body.data);
	CHECK(back != NULL);
	if (back) {
		CHECK_INT(back->wire_protocol_version_maj, 1);
		CHECK_INT(back->wire_protocol_version_min, 0);
		ping__result__free_unpacked(back, NULL);
	}
	buf_free(&body);
}

static void test_list_opcodes(void)
{
	static const uint8_t want_op[] = { 0x08, 0x01 };
	static const uint8_t want_res[] = { 0x0a, 0x04, 0x01, 0x03, 0x02, 0x06 };
	/* The same list, unpacked: a proto3 reader must accept both forms. */
	static const uint8_t unpacked[] = { 0x08, 0x01, 0x08, 0x03,
					    0x08, 0x02, 0x08, 0x06 };
	static const uint32_t opcodes[] = { 1, 3, 2, 6 };
	ListOpcodes__Operation op = LIST_OPCODES__OPERATION__INIT;
	ListOpcodes__Result res = LIST_OPCODES__RESULT__INIT;
	ListOpcodes__Operation *op_back;
	ListOpcodes__Result *back;
	struct buf body = BUF_INIT;
	size_t i;

	op.provider_id = 1;
	CHECK(packs_to(&op.base, want_op, sizeof(want_op)));
	vector_body("list_opcodes_directauth", "request_hex", &body);
	CHECK(body.len == sizeof(want_op) &&
	      !memcmp(body.data, want_op, body.len));
	op_back = list_opcodes__operation__unpack(NULL, body.len, body.data);
	CHECK(op_back && op_back->provider_id == 1);
	if (op_back)
		list_opcodes__operation__free_unpacked(op_back, NULL);

	/* Packed encoding is what upstream sends for repeated uint32. */
	res.n_opcodes = sizeof(opcodes) / sizeof(opcodes[0]);
	res.opcodes = (uint32_t *)opcodes;
	CHECK(packs_to(&res.base, want_res, sizeof(want_res)));
	vector_body("list_opcodes_directauth", "response_hex", &body);
	CHECK(body.len == sizeof(want_res) &&
	      !memcmp(body.data, want_res, body.len));

	back = list_opcodes__result__unpack(NULL, body.len, body.data);
	CHECK(back != NULL);
	if (back) {
		CHECK_INT(back->n_opcodes, 4);
		for (i = 0; i < back->n_opcodes && i < 4; i++)
			CHECK_INT(back->opcodes[i], opcodes[i]);
		list_opcodes__result__free_unpacked(back, NULL);
	}

	back = list_opcodes__result__unpack(NULL, sizeof(unpacked), unpacked);
	CHECK(back != NULL);
	if (back) {
		CHECK_INT(back->n_opcodes, 4);
		for (i = 0; i < back->n_opcodes && i < 4; i++)
			CHECK_INT(back->opcodes[i], opcodes[i]);
		list_opcodes__result__free_unpacked(back, NULL);
	}

	/* A packed run whose length overruns the body is refused. */
	back = list_opcodes__result__unpack(NULL, sizeof(want_res) - 1,
					    want_res);
	CHECK(back == NULL);
	if (back)
		list_opcodes__result__free_unpacked(back, NULL);
	buf_free(&body);
}

static void test_delete_client(void)
{
	static const char client[] = "existing client";
	DeleteClient__Operation op = DELETE_CLIENT__OPERATION__INIT;
	DeleteClient__Operation *back;
	struct buf want = BUF_INIT, body = BUF_INIT;

	if (buf_append_u8(&want, 0x0a) ||
	    buf_append_u8(&want, (uint8_t)strlen(client)) ||
	    buf_append_str(&want, client))
		abort();
	CHECK_INT(want.len, 2 + 15);

	op.client = (char *)client;
	CHECK(packs_to(&op.base, want.data, want.len));

	vector_body("delete_client", "request_hex", &body);
	CHECK(body.len == want.len && !memcmp(body.data, want.data, body.len));
	back = delete_client__operation__unpack(NULL, body.len, body.data);
	CHECK(back != NULL);
	if (back) {
		CHECK_STR(back->client, client);
		delete_client__operation__free_unpacked(back, NULL);
	}
	buf_free(&want);
	buf_free(&body);
}

static void test_list_providers(void)
{
	ListProviders__Result *res;
	ListProviders__ProviderInfo *p;
	struct buf body = BUF_INIT;

	vector_body("list_providers", "response_hex", &body);
	res = list_providers__result__unpack(NULL, body.len, body.data);
	CHECK(res != NULL);
	if (!res) {
		buf_free(&body);
		return;
	}
	CHECK_INT(res->n_providers, 1);
	if (res->n_providers == 1) {
		p = res->providers[0];
		CHECK_STR(p->uuid, "ee870e5a-ce4a-417f-8543-8fbd84b49cbe");
		CHECK_STR(p->description, "Some empty provider");
		CHECK_STR(p->vendor, "Arm Ltd.");
		CHECK_INT(p->version_maj, 9);
		CHECK_INT(p->version_min, 8);
		CHECK_INT(p->version_rev, 7);
		CHECK_INT(p->id, 2);
	}
	CHECK(packs_to(&res->base, body.data, body.len));
	list_providers__result__free_unpacked(res, NULL);

	/* One byte short: the embedded message's length is past the end. */
	res = list_providers__result__unpack(NULL, body.len - 1, body.data);
	CHECK(res == NULL);
	if (res)
		list_providers__result__free_unpacked(res, NULL);
	buf_free(&body);
}

static void test_list_authenticators(void)
{
	ListAuthenticators__Result *res;
	ListAuthenticators__AuthenticatorInfo *a;
	struct buf body = BUF_INIT;

	vector_body("list_authenticators", "response_hex", &body);
	res = list_authenticators__result__unpack(NULL, body.len, body.data);
	CHECK(res != NULL);
	if (!res) {
		buf_free(&body);
		return;
	}
	CHECK_INT(res->n_authenticators, 1);
	if (res->n_authenticators == 1) {
		a = res->authenticators[0];
		CHECK_STR(a->description, "direct auth");
		CHECK_INT(a->version_maj, 12);
		CHECK_INT(a->version_min, 42);
		CHECK_INT(a->version_rev, 0);
		CHECK_INT(a->id, 1);
	}
	CHECK(packs_to(&res->base, body.data, body.len));
	list_authenticators__result__free_unpacked(res, NULL);
	buf_free(&body);
}

/* ECC P-256 key pair, sign_hash + verify_hash, ECDSA with SHA-256. */
static void test_key_attributes(void)
{
	/* Hand-encoded: key_type{ecc_key_pair{curve_family=SECP_R1}},
	 * key_bits=256, key_policy{usage{sign_hash, verify_hash},
	 * algorithm{asymmetric_signature{ecdsa{hash_alg{specific=SHA_256}}}}}. */
	static const uint8_t want[] = {
		0x0a, 0x04, 0x5a, 0x02, 0x08, 0x02,
		0x10, 0x80, 0x02,
		0x1a, 0x10,
		0x0a, 0x04, 0x40, 0x01, 0x48, 0x01,
		0x12, 0x08, 0x32, 0x06, 0x22, 0x04, 0x0a, 0x02, 0x10, 0x07,
	};
	PsaKeyAttributes__KeyAttributes attrs =
		PSA_KEY_ATTRIBUTES__KEY_ATTRIBUTES__INIT;
	PsaKeyAttributes__KeyType type = PSA_KEY_ATTRIBUTES__KEY_TYPE__INIT;
	PsaKeyAttributes__KeyType__EccKeyPair ecc =
		PSA_KEY_ATTRIBUTES__KEY_TYPE__ECC_KEY_PAIR__INIT;
	PsaKeyAttributes__KeyPolicy policy =
		PSA_KEY_ATTRIBUTES__KEY_POLICY__INIT;
	PsaKeyAttributes__UsageFlags usage =
		PSA_KEY_ATTRIBUTES__USAGE_FLAGS__INIT;
	PsaAlgorithm__Algorithm alg = PSA_ALGORITHM__ALGORITHM__INIT;
	PsaAlgorithm__Algorithm__AsymmetricSignature sig =
		PSA_ALGORITHM__ALGORITHM__ASYMMETRIC_SIGNATURE__INIT;
	PsaAlgorithm__Algorithm__AsymmetricSignature__Ecdsa ecdsa =
		PSA_ALGORITHM__ALGORITHM__ASYMMETRIC_SIGNATURE__ECDSA__INIT;
	PsaAlgorithm__Algorithm__AsymmetricSignature__SignHash hash =
		PSA_ALGORITHM__ALGORITHM__ASYMMETRIC_SIGNATURE__SIGN_HASH__INIT;
	PsaKeyAttributes__KeyAttributes *back;
	PsaAlgorithm__Algorithm__AsymmetricSignature *bsig;

	ecc.curve_family = PSA_KEY_ATTRIBUTES__KEY_TYPE__ECC_FAMILY__SECP_R1;
	type.variant_case = PSA_KEY_ATTRIBUTES__KEY_TYPE__VARIANT_ECC_KEY_PAIR;
	type.ecc_key_pair = &ecc;
	usage.sign_hash = 1;
	usage.verify_hash = 1;
	hash.variant_case =
		PSA_ALGORITHM__ALGORITHM__ASYMMETRIC_SIGNATURE__SIGN_HASH__VARIANT_SPECIFIC;
	hash.specific = PSA_ALGORITHM__ALGORITHM__HASH__SHA_256;
	ecdsa.hash_alg = &hash;
	sig.variant_case =
		PSA_ALGORITHM__ALGORITHM__ASYMMETRIC_SIGNATURE__VARIANT_ECDSA;
	sig.ecdsa = &ecdsa;
	alg.variant_case = PSA_ALGORITHM__ALGORITHM__VARIANT_ASYMMETRIC_SIGNATURE;
	alg.asymmetric_signature = &sig;
	policy.key_usage_flags = &usage;
	policy.key_algorithm = &alg;
	attrs.key_type = &type;
	attrs.key_bits = 256;
	attrs.key_policy = &policy;

	CHECK(packs_to(&attrs.base, want, sizeof(want)));

	back = psa_key_attributes__key_attributes__unpack(NULL, sizeof(want),
							  want);
	CHECK(back != NULL);
	if (!back)
		return;
	CHECK_INT(back->key_bits, 256);
	CHECK(back->key_type && back->key_type->variant_case ==
	      PSA_KEY_ATTRIBUTES__KEY_TYPE__VARIANT_ECC_KEY_PAIR);
	if (back->key_type && back->key_type->ecc_key_pair)
		CHECK_INT(back->key_type->ecc_key_pair->curve_family,
			  PSA_KEY_ATTRIBUTES__KEY_TYPE__ECC_FAMILY__SECP_R1);
	CHECK(back->key_policy && back->key_policy->key_usage_flags &&
	      back->key_policy->key_algorithm);
	if (back->key_policy && back->key_policy->key_usage_flags &&
	    back->key_policy->key_algorithm) {
		const PsaKeyAttributes__UsageFlags *u =
			back->key_policy->key_usage_flags;

		CHECK(u->sign_hash && u->verify_hash);
		CHECK(!u->export && !u->copy && !u->cache && !u->encrypt &&
		      !u->decrypt && !u->sign_message && !u->verify_message &&
		      !u->derive);
		CHECK_INT(back->key_policy->key_algorithm->variant_case,
			  PSA_ALGORITHM__ALGORITHM__VARIANT_ASYMMETRIC_SIGNATURE);
		bsig = back->key_policy->key_algorithm->asymmetric_signature;
		CHECK(bsig && bsig->variant_case ==
		      PSA_ALGORITHM__ALGORITHM__ASYMMETRIC_SIGNATURE__VARIANT_ECDSA);
		CHECK(bsig && bsig->ecdsa && bsig->ecdsa->hash_alg &&
		      bsig->ecdsa->hash_alg->specific ==
		      PSA_ALGORITHM__ALGORITHM__HASH__SHA_256);
	}
	CHECK(packs_to(&back->base, want, sizeof(want)));
	psa_key_attributes__key_attributes__free_unpacked(back, NULL);
}

/* An operation importing psa_algorithm across packages: key name, a oneof
 * whose member is an empty message, and bytes. */
static void test_sign_hash(void)
{
	static const uint8_t digest[4] = { 0xde, 0xad, 0xbe, 0xef };
	/* key_name "k", alg{ecdsa_any{}}, hash */
	static const uint8_t want[] = {
		0x0a, 0x01, 'k',
		0x12, 0x02, 0x2a, 0x00,
		0x1a, 0x04, 0xde, 0xad, 0xbe, 0xef,
	};
	PsaSignHash__Operation op = PSA_SIGN_HASH__OPERATION__INIT;
	PsaAlgorithm__Algorithm__AsymmetricSignature sig =
		PSA_ALGORITHM__ALGORITHM__ASYMMETRIC_SIGNATURE__INIT;
	PsaAlgorithm__Algorithm__AsymmetricSignature__EcdsaAny any =
		PSA_ALGORITHM__ALGORITHM__ASYMMETRIC_SIGNATURE__ECDSA_ANY__INIT;
	PsaSignHash__Operation *back;

	sig.variant_case =
		PSA_ALGORITHM__ALGORITHM__ASYMMETRIC_SIGNATURE__VARIANT_ECDSA_ANY;
	sig.ecdsa_any = &any;
	op.key_name = (char *)"k";
	op.alg = &sig;
	op.hash.data = (uint8_t *)digest;
	op.hash.len = sizeof(digest);
	CHECK(packs_to(&op.base, want, sizeof(want)));

	back = psa_sign_hash__operation__unpack(NULL, sizeof(want), want);
	CHECK(back != NULL);
	if (!back)
		return;
	CHECK_STR(back->key_name, "k");
	CHECK(back->alg && back->alg->variant_case ==
	      PSA_ALGORITHM__ALGORITHM__ASYMMETRIC_SIGNATURE__VARIANT_ECDSA_ANY);
	CHECK(back->hash.len == sizeof(digest) &&
	      !memcmp(back->hash.data, digest, sizeof(digest)));
	psa_sign_hash__operation__free_unpacked(back, NULL);
}

int main(void)
{
	test_ping();
	test_list_opcodes();
	test_delete_client();
	test_list_providers();
	test_list_authenticators();
	test_key_attributes();
	test_sign_hash();
	return check_done();
}
