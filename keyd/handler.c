/* One request in, one response out. See keyd.h for the order of checks. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyd/keyd.h"
#include "keyd/pkey.h"
#include "parsec/psa_pb.h"
#include "util/log.h"
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

/* Names of keys: what an application may call its keys. */
#define KEY_NAME_MAX 255

struct req {
	struct keyd *k;
	const struct parsec_header *h;
	const uint8_t *body;
	size_t body_len;
	struct identity id;
	struct provider *p;
	struct buf *out;	/* the result body */
};

struct provider *keyd_provider(struct keyd *k, uint8_t id)
{
	for (int i = 0; i < k->n_providers; i++)
		if (k->providers[i].ops->id == id)
			return &k->providers[i];
	return NULL;
}

/* Encodes a result message into the response body. */
/* A client's plaintext in an unpacked request: wiped before the request
 * is freed, as buf_free wipes the request bytes it came from. */
static void wipe_bin(ProtobufCBinaryData *b)
{
	if (b->data)
		secure_wipe(b->data, b->len);
}

static int reply(struct req *r, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	if (n > r->k->max_body)
		return PARSEC_RESPONSE_TOO_LARGE;
	buf_reset(r->out);
	if (n) {
		uint8_t *p = malloc(n);
		if (!p)
			return PSA_ERR_INSUFFICIENT_MEMORY;
		protobuf_c_message_pack(m, p);
		buf_append(r->out, p, n);
		secure_wipe(p, n);	/* results may be key material */
		free(p);
	}
	return PARSEC_SUCCESS;
}

static int reply_bytes(struct req *r, ProtobufCMessage *m, ProtobufCBinaryData *field,
		       const struct buf *b)
{
	field->data = b->data;
	field->len = b->len;
	return reply(r, m);
}

static int key_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	return n > 0 && n <= KEY_NAME_MAX;
}

static struct key_id key_of(const struct req *r, const char *name)
{
	return (struct key_id){ r->id.auth, r->id.app, r->p->ops->id, name };
}

/* The key named, with its policy checked for usage with alg. */
static int use_key(struct req *r, const char *name, uint32_t usage,
		   const struct psa_alg *alg, struct psa_attrs *a, struct buf *ref)
{
	if (!key_name_ok(name))
		return PSA_ERR_INVALID_ARGUMENT;
	struct key_id id = key_of(r, name);
	int st = keystore_get(r->k->ks, &id, a, ref);
	if (st != PSA_OK)
		return st;
	return psa_key_permits(a, usage, alg);
}

/* The wire carries each operation's algorithm as its kind's submessage;
 * wrap it to decode it like a key's policy algorithm. */
static int alg_of(enum psa_alg_kind kind, void *sub, struct psa_alg *out)
{
	PsaAlgorithm__Algorithm pb = PSA_ALGORITHM__ALGORITHM__INIT;
	if (!sub)
		return PSA_ERR_INVALID_ARGUMENT;
	pb.variant_case = (PsaAlgorithm__Algorithm__VariantCase)kind;
	switch (kind) {
	case PSA_ALG_MAC: pb.mac = sub; break;
	case PSA_ALG_AEAD: pb.aead = sub; break;
	case PSA_ALG_SIGN: pb.asymmetric_signature = sub; break;
	case PSA_ALG_ENCRYPT: pb.asymmetric_encryption = sub; break;
	default: return PSA_ERR_INVALID_ARGUMENT;
	}
	return psa_alg_from_pb(&pb, out);
}

/* ---- core operations ---- */

static int op_ping(struct req *r)
{
	Ping__Result res = PING__RESULT__INIT;
	res.wire_protocol_version_maj = 1;
	res.wire_protocol_version_min = 0;
	return reply(r, &res.base);
}

static const char core_uuid[] = "47049873-2a43-4845-9d72-831eab668784";

static void version_of(const char *v, uint32_t out[3])
{
	unsigned a = 0, b = 0, c = 0;
	sscanf(v ? v : "0.0.0", "%u.%u.%u", &a, &b, &c);
	out[0] = a;
	out[1] = b;
	out[2] = c;
}

static int op_list_providers(struct req *r)
{
	ListProviders__Result res = LIST_PROVIDERS__RESULT__INIT;
	ListProviders__ProviderInfo info[KEYD_PROVIDERS_MAX + 1], *list[KEYD_PROVIDERS_MAX + 1];
	int n = 0;
	for (int i = 0; i <= r->k->n_providers; i++, n++) {
		list_providers__provider_info__init(&info[n]);
		list[n] = &info[n];
		if (i < r->k->n_providers) {
			const struct provider_ops *o = r->k->providers[i].ops;
			info[n].uuid = (char *)o->uuid;
			info[n].description = (char *)o->description;
			info[n].vendor = (char *)o->vendor;
			info[n].version_maj = o->version[0];
			info[n].version_min = o->version[1];
			info[n].version_rev = o->version[2];
			info[n].id = o->id;
		} else {
			uint32_t v[3];
			version_of(r->k->version, v);
			info[n].uuid = (char *)core_uuid;
			info[n].description = "Core provider: administration, no cryptography";
			info[n].vendor = "Assay";
			info[n].version_maj = v[0];
			info[n].version_min = v[1];
			info[n].version_rev = v[2];
			info[n].id = PARSEC_PROVIDER_CORE;
		}
	}
	res.n_providers = (size_t)n;
	res.providers = list;
	return reply(r, &res.base);
}

/* What a provider offers, as opcodes in ascending order. */
static size_t opcodes_of(const struct provider *p, uint32_t *out)
{
	size_t n = 0;
	if (!p) {
		static const uint32_t core[] = {
			PARSEC_PING, PARSEC_LIST_PROVIDERS, PARSEC_LIST_OPCODES,
			PARSEC_LIST_AUTHENTICATORS, PARSEC_LIST_KEYS, PARSEC_LIST_CLIENTS,
			PARSEC_DELETE_CLIENT,
		};
		memcpy(out, core, sizeof core);
		return sizeof core / sizeof *core;
	}
	const struct provider_ops *o = p->ops;
	const struct { uint32_t op; int offered; } all[] = {
		{ PARSEC_PSA_GENERATE_KEY, o->generate != NULL },
		{ PARSEC_PSA_DESTROY_KEY, o->destroy != NULL },
		{ PARSEC_PSA_SIGN_HASH, o->sign_hash != NULL },
		{ PARSEC_PSA_VERIFY_HASH, o->verify_hash || o->export_public },
		{ PARSEC_PSA_IMPORT_KEY, o->import != NULL },
		{ PARSEC_PSA_EXPORT_PUBLIC_KEY, o->export_public != NULL },
		{ PARSEC_PSA_ASYMMETRIC_ENCRYPT, o->asymmetric_encrypt || o->export_public },
		{ PARSEC_PSA_ASYMMETRIC_DECRYPT, o->asymmetric_decrypt != NULL },
		{ PARSEC_PSA_EXPORT_KEY, o->export_key != NULL },
		{ PARSEC_PSA_GENERATE_RANDOM, o->generate_random != NULL },
		{ PARSEC_PSA_HASH_COMPUTE, o->offers_hash },
		{ PARSEC_PSA_HASH_COMPARE, o->offers_hash },
		{ PARSEC_PSA_AEAD_ENCRYPT, o->aead != NULL },
		{ PARSEC_PSA_AEAD_DECRYPT, o->aead != NULL },
		{ PARSEC_PSA_RAW_KEY_AGREEMENT, o->raw_key_agreement != NULL },
		{ PARSEC_PSA_CIPHER_ENCRYPT, o->cipher != NULL },
		{ PARSEC_PSA_CIPHER_DECRYPT, o->cipher != NULL },
		{ PARSEC_PSA_MAC_COMPUTE, o->mac != NULL },
		{ PARSEC_PSA_MAC_VERIFY, o->mac != NULL },
		{ PARSEC_PSA_SIGN_MESSAGE, o->sign_hash != NULL },
		{ PARSEC_PSA_VERIFY_MESSAGE, o->verify_hash || o->export_public },
		{ PARSEC_ATTEST_KEY, o->attest_key != NULL },
		{ PARSEC_PREPARE_KEY_ATTESTATION, o->prepare_key_attestation != NULL },
		{ PARSEC_CAN_DO_CRYPTO, 1 },
	};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		if (all[i].offered)
			out[n++] = all[i].op;
	return n;
}

static int provider_offers(const struct provider *p, uint32_t op)
{
	uint32_t ops[40];
	size_t n = opcodes_of(p, ops);
	for (size_t i = 0; i < n; i++)
		if (ops[i] == op)
			return 1;
	return 0;
}

static int op_list_opcodes(struct req *r)
{
	ListOpcodes__Operation *op = list_opcodes__operation__unpack(NULL, r->body_len, r->body);
	if (!op)
		return PARSEC_DESERIALIZING_BODY_FAILED;
	uint32_t ops[40];
	int st = PARSEC_SUCCESS;
	size_t n = 0;
	if (op->provider_id == PARSEC_PROVIDER_CORE) {
		n = opcodes_of(NULL, ops);
	} else if (op->provider_id > 0xff || !keyd_provider(r->k, (uint8_t)op->provider_id)) {
		st = op->provider_id > PARSEC_PROVIDER_CRYPTOAUTHLIB
			? PARSEC_PROVIDER_DOES_NOT_EXIST : PARSEC_PROVIDER_NOT_REGISTERED;
	} else {
		n = opcodes_of(keyd_provider(r->k, (uint8_t)op->provider_id), ops);
	}
	list_opcodes__operation__free_unpacked(op, NULL);
	if (st != PARSEC_SUCCESS)
		return st;
	ListOpcodes__Result res = LIST_OPCODES__RESULT__INIT;
	res.n_opcodes = n;
	res.opcodes = ops;
	return reply(r, &res.base);
}

static int op_list_authenticators(struct req *r)
{
	static const char *const descriptions[5] = {
		[PARSEC_AUTH_DIRECT] = "Direct authentication: the client names itself",
		[PARSEC_AUTH_UNIX_PEER] = "Unix peer credentials of the connection",
		[PARSEC_AUTH_JWT_SVID] = "JWT-SVID checked against a JWKS trust bundle",
	};
	ListAuthenticators__Result res = LIST_AUTHENTICATORS__RESULT__INIT;
	ListAuthenticators__AuthenticatorInfo info[5], *list[5];
	uint32_t v[3];
	version_of(r->k->version, v);
	const struct auth *a = &r->k->auth;
	for (int i = 0; i < a->n_order; i++) {
		list_authenticators__authenticator_info__init(&info[i]);
		info[i].description = (char *)descriptions[a->order[i]];
		info[i].version_maj = v[0];
		info[i].version_min = v[1];
		info[i].version_rev = v[2];
		info[i].id = a->order[i];
		list[i] = &info[i];
	}
	res.n_authenticators = (size_t)a->n_order;
	res.authenticators = list;
	return reply(r, &res.base);
}

/* Keys are gathered as plain records first; their protobuf form (full of
 * pointers into itself) is built once the list stops growing. */
struct key_list {
	struct listed { char *name; uint8_t provider; struct psa_attrs a; } *keys;
	size_t n;
	int failed;
};

static void add_key(const char *name, uint8_t provider, const struct psa_attrs *a, void *arg)
{
	struct key_list *l = arg;
	struct listed *p = realloc(l->keys, (l->n + 1) * sizeof *p);
	if (!p || !(p[l->n].name = strdup(name))) {
		if (p)
			l->keys = p;
		l->failed = 1;
		return;
	}
	l->keys = p;
	p[l->n].provider = provider;
	p[l->n].a = *a;
	l->n++;
}

static int op_list_keys(struct req *r)
{
	struct key_list l = { 0 };
	int st = keystore_list(r->k->ks, r->id.auth, r->id.app, add_key, &l);
	ListKeys__KeyInfo *info = calloc(l.n + 1, sizeof *info);
	ListKeys__KeyInfo **list = calloc(l.n + 1, sizeof *list);
	struct psa_attrs_pb *pb = calloc(l.n + 1, sizeof *pb);
	if (st == PSA_OK && (l.failed || !info || !list || !pb))
		st = PSA_ERR_INSUFFICIENT_MEMORY;
	for (size_t i = 0; st == PSA_OK && i < l.n; i++) {
		list_keys__key_info__init(&info[i]);
		info[i].provider_id = l.keys[i].provider;
		info[i].name = l.keys[i].name;
		if (psa_attrs_to_pb(&l.keys[i].a, &pb[i]) < 0)
			st = PSA_ERR_DATA_CORRUPT;
		info[i].attributes = &pb[i].attrs;
		list[i] = &info[i];
	}
	if (st == PSA_OK) {
		ListKeys__Result res = LIST_KEYS__RESULT__INIT;
		res.n_keys = l.n;
		res.keys = list;
		st = reply(r, &res.base);
	}
	for (size_t i = 0; i < l.n; i++)
		free(l.keys[i].name);
	free(l.keys);
	free(info);
	free(list);
	free(pb);
	return st;
}

struct client_list {
	char **names;
	size_t n;
	int failed;
};

static void add_client(const char *app, void *arg)
{
	struct client_list *l = arg;
	char **p = realloc(l->names, (l->n + 1) * sizeof *p);
	if (!p || !(p[l->n] = strdup(app))) {
		if (p)
			l->names = p;
		l->failed = 1;
		return;
	}
	l->names = p;
	l->n++;
}

static int op_list_clients(struct req *r)
{
	if (!r->id.admin)
		return PARSEC_ADMIN_OPERATION;
	struct client_list l = { 0 };
	int st = keystore_clients(r->k->ks, r->id.auth, add_client, &l);
	if (st == PSA_OK && l.failed)
		st = PSA_ERR_INSUFFICIENT_MEMORY;
	if (st == PSA_OK) {
		ListClients__Result res = LIST_CLIENTS__RESULT__INIT;
		res.n_clients = l.n;
		res.clients = l.names;
		st = reply(r, &res.base);
	}
	for (size_t i = 0; i < l.n; i++)
		free(l.names[i]);
	free(l.names);
	return st;
}

static int destroy_key(struct keyd *k, const struct key_id *id);

struct deleting {
	struct keyd *k;
	uint8_t auth;
	const char *app;
	int status, count;
};

static void delete_one(const char *name, uint8_t provider, void *arg)
{
	struct deleting *d = arg;
	struct key_id id = { d->auth, d->app, provider, name };
	int st = destroy_key(d->k, &id);
	d->count++;
	if (st != PSA_OK && d->status == PSA_OK)
		d->status = st;
}

static int op_delete_client(struct req *r)
{
	if (!r->id.admin)
		return PARSEC_ADMIN_OPERATION;
	DeleteClient__Operation *op = delete_client__operation__unpack(NULL, r->body_len, r->body);
	if (!op)
		return PARSEC_DESERIALIZING_BODY_FAILED;
	struct deleting d = { r->k, r->id.auth, op->client, PSA_OK, 0 };
	int st = op->client && *op->client
		? keystore_app_keys(r->k->ks, r->id.auth, op->client, delete_one, &d)
		: PSA_ERR_INVALID_ARGUMENT;
	if (st == PSA_OK)
		st = d.count ? d.status : PSA_ERR_DOES_NOT_EXIST;
	if (st == PSA_OK)
		log_info("client %s (%s) deleted with its %d keys", op->client,
			 auth_type_name(r->id.auth), d.count);
	delete_client__operation__free_unpacked(op, NULL);
	if (st != PSA_OK)
		return st;
	buf_reset(r->out);
	return PARSEC_SUCCESS;
}

/* ---- key management ---- */

static int public_key(struct req *r, const struct psa_attrs *a, const struct buf *ref,
		      EVP_PKEY **k);

/* An import may leave the size to the data: record what it was, so
 * ListKeys shows the key as it is. */
static uint32_t imported_bits(struct req *r, const struct psa_attrs *a,
			      const struct buf *ref, const ProtobufCBinaryData *data)
{
	if (!psa_type_is_asymmetric(a->type))
		return (uint32_t)(data->len * 8);
	EVP_PKEY *k = NULL;
	uint32_t bits = 0;
	if (public_key(r, a, ref, &k) == PSA_OK) {
		int b = EVP_PKEY_get_bits(k);
		bits = b > 0 ? (uint32_t)b : 0;
		/* PSA sizes Montgomery keys by the curve: 255 for X25519. */
		if (a->family == PSA_ECC_MONTGOMERY && bits == 253)
			bits = 255;
	}
	EVP_PKEY_free(k);
	return bits;
}

static int make_key(struct req *r, const char *name, const PsaKeyAttributes__KeyAttributes *pb,
		    const ProtobufCBinaryData *data)
{
	struct psa_attrs a;
	struct buf ref = BUF_INIT;
	int st = psa_attrs_from_pb(pb, &a);
	if (st == PSA_OK && !key_name_ok(name))
		st = PSA_ERR_INVALID_ARGUMENT;
	if (st == PSA_OK)
		st = psa_attrs_check(&a);
	if (st == PSA_OK && (data ? !r->p->ops->import : !r->p->ops->generate))
		st = PSA_ERR_NOT_SUPPORTED;
	if (st == PSA_OK && !data && psa_type_is_public(a.type))
		st = PSA_ERR_INVALID_ARGUMENT;	/* a public key cannot be generated */
	if (st == PSA_OK && r->p->ops->plan)
		st = r->p->ops->plan(r->p, &ref);
	if (st != PSA_OK) {
		buf_free(&ref);
		return st;
	}
	struct key_id id = key_of(r, name);
	st = keystore_create_begin(r->k->ks, &id, &a, &ref);
	if (st == PSA_OK) {
		st = data ? r->p->ops->import(r->p, &a, data->data, data->len, &ref)
			  : r->p->ops->generate(r->p, &a, &ref);
		if (st == PSA_OK && !a.bits)
			a.bits = imported_bits(r, &a, &ref, data);
		if (st == PSA_OK) {
			st = keystore_create_finish(r->k->ks, &id, &a, &ref);
			if (st != PSA_OK) {
				/* The key exists in the backend but its name could
				 * not be recorded: take it back out. */
				r->p->ops->destroy(r->p, &a, &ref);
				keystore_create_abort(r->k->ks, &id);
			}
		} else {
			keystore_create_abort(r->k->ks, &id);
		}
	}
	buf_free(&ref);
	return st;
}

static int op_generate_key(struct req *r)
{
	PsaGenerateKey__Operation *op = psa_generate_key__operation__unpack(NULL, r->body_len, r->body);
	if (!op)
		return PARSEC_DESERIALIZING_BODY_FAILED;
	int st = make_key(r, op->key_name, op->attributes, NULL);
	psa_generate_key__operation__free_unpacked(op, NULL);
	buf_reset(r->out);
	return st;
}

static int op_import_key(struct req *r)
{
	PsaImportKey__Operation *op = psa_import_key__operation__unpack(NULL, r->body_len, r->body);
	if (!op)
		return PARSEC_DESERIALIZING_BODY_FAILED;
	int st = op->data.len ? make_key(r, op->key_name, op->attributes, &op->data)
			      : PSA_ERR_INVALID_ARGUMENT;
	wipe_bin(&op->data);
	psa_import_key__operation__free_unpacked(op, NULL);
	buf_reset(r->out);
	return st;
}

static int destroy_key(struct keyd *k, const struct key_id *id)
{
	struct psa_attrs a;
	struct buf ref = BUF_INIT;
	struct provider *p = keyd_provider(k, id->provider);
	if (!p)
		return PARSEC_PROVIDER_NOT_REGISTERED;
	int st = keystore_destroy_begin(k->ks, id, &a, &ref);
	if (st == PSA_OK) {
		int bs = p->ops->destroy ? p->ops->destroy(p, &a, &ref) : PSA_OK;
		/* Gone from the backend already is what we wanted. A backend
		 * failure leaves the row DESTROYING: retried at the next start. */
		if (bs == PSA_OK || bs == PSA_ERR_DOES_NOT_EXIST)
			st = keystore_destroy_finish(k->ks, id);
		else
			st = bs;
	}
	buf_free(&ref);
	return st;
}

static int op_destroy_key(struct req *r)
{
	PsaDestroyKey__Operation *op = psa_destroy_key__operation__unpack(NULL, r->body_len, r->body);
	if (!op)
		return PARSEC_DESERIALIZING_BODY_FAILED;
	int st = PSA_ERR_INVALID_ARGUMENT;
	if (key_name_ok(op->key_name)) {
		struct key_id id = key_of(r, op->key_name);
		st = destroy_key(r->k, &id);
	}
	psa_destroy_key__operation__free_unpacked(op, NULL);
	buf_reset(r->out);
	return st;
}

static int op_export(struct req *r, int public)
{
	char *name;
	void *op;
	if (public) {
		PsaExportPublicKey__Operation *o =
			psa_export_public_key__operation__unpack(NULL, r->body_len, r->body);
		op = o;
		name = o ? o->key_name : NULL;
	} else {
		PsaExportKey__Operation *o = psa_export_key__operation__unpack(NULL, r->body_len, r->body);
		op = o;
		name = o ? o->key_name : NULL;
	}
	if (!op)
		return PARSEC_DESERIALIZING_BODY_FAILED;
	struct psa_attrs a;
	struct buf ref = BUF_INIT, out = BUF_INIT;
	int st = use_key(r, name, public ? 0 : PSA_USAGE_EXPORT, NULL, &a, &ref);
	if (st == PSA_OK) {
		int (*fn)(struct provider *, const struct psa_attrs *, const struct buf *,
			  struct buf *) = public ? r->p->ops->export_public : r->p->ops->export_key;
		st = !fn ? PSA_ERR_NOT_SUPPORTED
		   : public && !psa_type_is_asymmetric(a.type) ? PSA_ERR_INVALID_ARGUMENT
		   : fn(r->p, &a, &ref, &out);
	}
	if (st == PSA_OK) {
		if (public) {
			PsaExportPublicKey__Result res = PSA_EXPORT_PUBLIC_KEY__RESULT__INIT;
			st = reply_bytes(r, &res.base, &res.data, &out);
		} else {
			PsaExportKey__Result res = PSA_EXPORT_KEY__RESULT__INIT;
			st = reply_bytes(r, &res.base, &res.data, &out);
		}
	}
	buf_free(&ref);
	buf_free(&out);
	if (public)
		psa_export_public_key__operation__free_unpacked(op, NULL);
	else
		psa_export_key__operation__free_unpacked(op, NULL);
	return st;
}

/* ---- signatures ---- */

static int digest(enum psa_hash h, const uint8_t *in, size_t n, struct buf *out)
{
	const char *name = psa_hash_name(h);
	EVP_MD *md = name ? EVP_MD_fetch(NULL, name, NULL) : NULL;
	unsigned int len = 0;
	uint8_t d[EVP_MAX_MD_SIZE];
	int ok = md && EVP_Digest(in, n, d, &len, md, NULL) == 1;
	EVP_MD_free(md);
	if (!ok)
		return PSA_ERR_NOT_SUPPORTED;
	buf_reset(out);
	buf_append(out, d, len);
	return PSA_OK;
}

/* A hash given to sign or verify must be the algorithm's hash's size
 * (raw PKCS#1 v1.5 and ECDSA-any take any size). */
static int hash_fits(const struct psa_alg *alg, size_t n)
{
	if (alg->variant == PSA_SIGN_RSA_PKCS1V15_RAW || alg->variant == PSA_SIGN_ECDSA_ANY ||
	    alg->hash == PSA_HASH_ANY)
		return n > 0 && n <= 64;
	return n == psa_hash_size(alg->hash);
}

static int public_key(struct req *r, const struct psa_attrs *a, const struct buf *ref,
		      EVP_PKEY **k)
{
	struct buf pub = BUF_INIT;
	int st = r->p->ops->export_public ? r->p->ops->export_public(r->p, a, ref, &pub)
					  : PSA_ERR_NOT_SUPPORTED;
	if (st == PSA_OK)
		st = pkey_from_public(a, pub.data, pub.len, k);
	buf_free(&pub);
	return st;
}

static int verify(struct req *r, const struct psa_attrs *a, const struct buf *ref,
		  const struct psa_alg *alg, const uint8_t *hash, size_t n,
		  const uint8_t *sig, size_t sn)
{
	if (r->p->ops->verify_hash)
		return r->p->ops->verify_hash(r->p, a, ref, alg, hash, n, sig, sn);
	EVP_PKEY *k = NULL;
	int st = public_key(r, a, ref, &k);
	if (st == PSA_OK)
		st = pkey_verify_hash(a, k, alg, hash, n, sig, sn);
	EVP_PKEY_free(k);
	return st;
}

/* Sign or verify, a hash or (message) the hash of a message. */
static int sign_or_verify(struct req *r, int sign, int message, const char *name,
			  PsaAlgorithm__Algorithm__AsymmetricSignature *pbalg,
			  const ProtobufCBinaryData *in, const ProtobufCBinaryData *sig)
{
	struct psa_alg alg;
	struct psa_attrs a;
	struct buf ref = BUF_INIT, h = BUF_INIT, out = BUF_INIT;
	uint32_t usage = sign ? (message ? PSA_USAGE_SIGN_MESSAGE : PSA_USAGE_SIGN_HASH)
			      : (message ? PSA_USAGE_VERIFY_MESSAGE : PSA_USAGE_VERIFY_HASH);
	int st = alg_of(PSA_ALG_SIGN, pbalg, &alg);
	if (st == PSA_OK && sign && !r->p->ops->sign_hash)
		st = PSA_ERR_NOT_SUPPORTED;
	if (st == PSA_OK)
		st = use_key(r, name, usage, &alg, &a, &ref);
	if (st == PSA_OK && message) {
		/* Messages are signed as the hash of them: the algorithm must
		 * name one. */
		if (alg.hash == PSA_HASH_ANY || !psa_hash_size(alg.hash))
			st = PSA_ERR_INVALID_ARGUMENT;
		else
			st = digest(alg.hash, in->data, in->len, &h);
	} else if (st == PSA_OK) {
		if (!hash_fits(&alg, in->len))
			st = PSA_ERR_INVALID_ARGUMENT;
		else
			buf_append(&h, in->data, in->len);
	}
	if (st == PSA_OK && sign)
		st = r->p->ops->sign_hash(r->p, &a, &ref, &alg, h.data, h.len, &out);
	else if (st == PSA_OK)
		st = verify(r, &a, &ref, &alg, h.data, h.len, sig->data, sig->len);
	if (st == PSA_OK && sign && message) {
		PsaSignMessage__Result res = PSA_SIGN_MESSAGE__RESULT__INIT;
		st = reply_bytes(r, &res.base, &res.signature, &out);
	} else if (st == PSA_OK && sign) {
		PsaSignHash__Result res = PSA_SIGN_HASH__RESULT__INIT;
		st = reply_bytes(r, &res.base, &res.signature, &out);
	} else if (st == PSA_OK) {
		buf_reset(r->out);
	}
	buf_free(&ref);
	buf_free(&h);
	buf_free(&out);
	return st;
}

static int op_sign_hash(struct req *r)
{
	PsaSignHash__Operation *op = psa_sign_hash__operation__unpack(NULL, r->body_len, r->body);
	if (!op)
		return PARSEC_DESERIALIZING_BODY_FAILED;
	int st = sign_or_verify(r, 1, 0, op->key_name, op->alg, &op->hash, NULL);
	psa_sign_hash__operation__free_unpacked(op, NULL);
	return st;
}

static int op_verify_hash(struct req *r)
{
	PsaVerifyHash__Operation *op = psa_verify_hash__operation__unpack(NULL, r->body_len, r->body);
	if (!op)
		return PARSEC_DESERIALIZING_BODY_FAILED;
	int st = sign_or_verify(r, 0, 0, op->key_name, op->alg, &op->hash, &op->signature);
	psa_verify_hash__operation__free_unpacked(op, NULL);
	return st;
}

static int op_sign_message(struct req *r)
{
	PsaSignMessage__Operation *op = psa_sign_message__operation__unpack(NULL, r->body_len, r->body);
	if (!op)
		return PARSEC_DESERIALIZING_BODY_FAILED;
	int st = sign_or_verify(r, 1, 1, op->key_name, op->alg, &op->message, NULL);
	psa_sign_message__operation__free_unpacked(op, NULL);
	return st;
}

static int op_verify_message(struct req *r)
{
	PsaVerifyMessage__Operation *op =
		psa_verify_message__operation__unpack(NULL, r->body_len, r->body);
	if (!op)
		return PARSEC_DESERIALIZING_BODY_FAILED;
	int st = sign_or_verify(r, 0, 1, op->key_name, op->alg, &op->message, &op->signature);
	psa_verify_message__operation__free_unpacked(op, NULL);
	return st;
}

/* ---- asymmetric encryption ---- */

static int asymmetric(struct req *r, int encrypt, const char *name,
		      PsaAlgorithm__Algorithm__AsymmetricEncryption *pbalg,
		      const ProtobufCBinaryData *in, const ProtobufCBinaryData *salt)
{
	struct psa_alg alg;
	struct psa_attrs a;
	struct buf ref = BUF_INIT, out = BUF_INIT;
	int st = alg_of(PSA_ALG_ENCRYPT, pbalg, &alg);
	if (st == PSA_OK)
		st = use_key(r, name, encrypt ? PSA_USAGE_ENCRYPT : PSA_USAGE_DECRYPT, &alg,
			     &a, &ref);
	if (st == PSA_OK && encrypt && r->p->ops->asymmetric_encrypt) {
		st = r->p->ops->asymmetric_encrypt(r->p, &a, &ref, &alg, in->data, in->len,
						   salt->data, salt->len, &out);
	} else if (st == PSA_OK && encrypt) {
		EVP_PKEY *k = NULL;
		st = public_key(r, &a, &ref, &k);
		if (st == PSA_OK)
			st = pkey_encrypt(&a, k, &alg, in->data, in->len, salt->data,
					  salt->len, &out);
		EVP_PKEY_free(k);
	} else if (st == PSA_OK) {
		st = r->p->ops->asymmetric_decrypt
			? r->p->ops->asymmetric_decrypt(r->p, &a, &ref, &alg, in->data, in->len,
							salt->data, salt->len, &out)
			: PSA_ERR_NOT_SUPPORTED;
	}
	if (st == PSA_OK && encrypt) {
		PsaAsymmetricEncrypt__Result res = PSA_ASYMMETRIC_ENCRYPT__RESULT__INIT;
		st = reply_bytes(r, &res.base, &res.ciphertext, &out);
	} else if (st == PSA_OK) {
		PsaAsymmetricDecrypt__Result res = PSA_ASYMMETRIC_DECRYPT__RESULT__INIT;
		st = reply_bytes(r, &res.base, &res.plaintext, &out);
	}
	buf_free(&ref);
	buf_free(&out);
	return st;
}

static int op_asymmetric_encrypt(struct req *r)
{
	PsaAsymmetricEncrypt__Operation *op =
		psa_asymmetric_encrypt__operation__unpack(NULL, r->body_len, r->body);
	if (!op)
		return PARSEC_DESERIALIZING_BODY_FAILED;
	int st = asymmetric(r, 1, op->key_name, op->alg, &op->plaintext, &op->salt);
	wipe_bin(&op->plaintext);
	psa_asymmetric_encrypt__operation__free_unpacked(op, NULL);
	return st;
}

static int op_asymmetric_decrypt(struct req *r)
{
	PsaAsymmetricDecrypt__Operation *op =
		psa_asymmetric_decrypt__operation__unpack(NULL, r->body_len, r->body);
	if (!op)
		return PARSEC_DESERIALIZING_BODY_FAILED;
	int st = asymmetric(r, 0, op->key_name, op->alg, &op->ciphertext, &op->salt);
	psa_asymmetric_decrypt__operation__free_unpacked(op, NULL);
	return st;
}

/* ---- symmetric ---- */

static int aead(struct req *r, int encrypt, const char *name,
		PsaAlgorithm__Algorithm__Aead *pbalg, const ProtobufCBinaryData *nonce,
		const ProtobufCBinaryData *ad, const ProtobufCBinaryData *in)
{
	struct psa_alg alg;
	struct psa_attrs a;
	struct buf ref = BUF_INIT, out = BUF_INIT;
	int st = alg_of(PSA_ALG_AEAD, pbalg, &alg);
	if (st == PSA_OK && !r->p->ops->aead)
		st = PSA_ERR_NOT_SUPPORTED;
	if (st == PSA_OK)
		st = use_key(r, name, encrypt ? PSA_USAGE_ENCRYPT : PSA_USAGE_DECRYPT, &alg,
			     &a, &ref);
	if (st == PSA_OK)
		st = r->p->ops->aead(r->p, &a, &ref, &alg, encrypt, nonce->data, nonce->len,
				     ad->data, ad->len, in->data, in->len, &out);
	if (st == PSA_OK && encrypt) {
		PsaAeadEncrypt__Result res = PSA_AEAD_ENCRYPT__RESULT__INIT;
		st = reply_bytes(r, &res.base, &res.ciphertext, &out);
	} else if (st == PSA_OK) {
		PsaAeadDecrypt__Result res = PSA_AEAD_DECRYPT__RESULT__INIT;
		st = reply_bytes(r, &res.base, &res.plaintext, &out);
	}
	buf_free(&ref);
	buf_free(&out);
	return st;
}

static int op_aead_encrypt(struct req *r)
{
	PsaAeadEncrypt__Operation *op = psa_aead_encrypt__operation__unpack(NULL, r->body_len, r->body);
	if (!op)
		return PARSEC_DESERIALIZING_BODY_FAILED;
	int st = aead(r, 1, op->key_name, op->alg, &op->nonce, &op->additional_data, &op->plaintext);
	wipe_bin(&op->plaintext);
	psa_aead_encrypt__operation__free_unpacked(op, NULL);
	return st;
}

static int op_aead_decrypt(struct req *r)
{
	PsaAeadDecrypt__Operation *op = psa_aead_decrypt__operation__unpack(NULL, r->body_len, r->body);
	if (!op)
		return PARSEC_DESERIALIZING_BODY_FAILED;
	int st = aead(r, 0, op->key_name, op->alg, &op->nonce, &op->additional_data,
		      &op->ciphertext);
	psa_aead_decrypt__operation__free_unpacked(op, NULL);
	return st;
}

static int cipher(struct req *r, int encrypt, const char *name, int variant,
		  const ProtobufCBinaryData *in)
{
	struct psa_alg alg = { .kind = PSA_ALG_CIPHER, .variant = variant };
	struct psa_attrs a;
	struct buf ref = BUF_INIT, out = BUF_INIT;
	int st = variant >= PSA_CIPHER_STREAM && variant <= PSA_CIPHER_CBC_PKCS7
		? PSA_OK : PSA_ERR_INVALID_ARGUMENT;
	if (st == PSA_OK && !r->p->ops->cipher)
		st = PSA_ERR_NOT_SUPPORTED;
	if (st == PSA_OK)
		st = use_key(r, name, encrypt ? PSA_USAGE_ENCRYPT : PSA_USAGE_DECRYPT, &alg,
			     &a, &ref);
	if (st == PSA_OK)
		st = r->p->ops->cipher(r->p, &a, &ref, &alg, encrypt, in->data, in->len, &out);
	if (st == PSA_OK && encrypt) {
		PsaCipherEncrypt__Result res = PSA_CIPHER_ENCRYPT__RESULT__INIT;
		st = reply_bytes(r, &res.base, &res.ciphertext, &out);
	} else if (st == PSA_OK) {
		PsaCipherDecrypt__Result res = PSA_CIPHER_DECRYPT__RESULT__INIT;
		st = reply_bytes(r, &res.base, &res.plaintext, &out);
	}
	buf_free(&ref);
	buf_free(&out);
	return st;
}

static int op_cipher_encrypt(struct req *r)
{
	PsaCipherEncrypt__Operation *op =
		psa_cipher_encrypt__operation__unpack(NULL, r->body_len, r->body);
	if (!op)
		return PARSEC_DESERIALIZING_BODY_FAILED;
	int st = cipher(r, 1, op->key_name, (int)op->alg, &op->plaintext);
	wipe_bin(&op->plaintext);
	psa_cipher_encrypt__operation__free_unpacked(op, NULL);
	return st;
}

static int op_cipher_decrypt(struct req *r)
{
	PsaCipherDecrypt__Operation *op =
		psa_cipher_decrypt__operation__unpack(NULL, r->body_len, r->body);
	if (!op)
		return PARSEC_DESERIALIZING_BODY_FAILED;
	int st = cipher(r, 0, op->key_name, (int)op->alg, &op->ciphertext);
	psa_cipher_decrypt__operation__free_unpacked(op, NULL);
	return st;
}

static int mac(struct req *r, const char *name, PsaAlgorithm__Algorithm__Mac *pbalg,
	       const ProtobufCBinaryData *in, const ProtobufCBinaryData *expected)
{
	struct psa_alg alg;
	struct psa_attrs a;
	struct buf ref = BUF_INIT, out = BUF_INIT;
	int st = alg_of(PSA_ALG_MAC, pbalg, &alg);
	if (st == PSA_OK && !r->p->ops->mac)
		st = PSA_ERR_NOT_SUPPORTED;
	/* PSA has no separate MAC usage flags: sign_message covers compute,
	 * verify_message verify. */
	if (st == PSA_OK)
		st = use_key(r, name, expected ? PSA_USAGE_VERIFY_MESSAGE : PSA_USAGE_SIGN_MESSAGE,
			     &alg, &a, &ref);
	if (st == PSA_OK)
		st = r->p->ops->mac(r->p, &a, &ref, &alg, in->data, in->len, &out);
	if (st == PSA_OK && expected) {
		if (expected->len != out.len || CRYPTO_memcmp(expected->data, out.data, out.len))
			st = PSA_ERR_INVALID_SIGNATURE;
		buf_reset(r->out);
	} else if (st == PSA_OK) {
		PsaMacCompute__Result res = PSA_MAC_COMPUTE__RESULT__INIT;
		st = reply_bytes(r, &res.base, &res.mac, &out);
	}
	buf_free(&ref);
	buf_free(&out);
	return st;
}

static int op_mac_compute(struct req *r)
{
	PsaMacCompute__Operation *op = psa_mac_compute__operation__unpack(NULL, r->body_len, r->body);
	if (!op)
		return PARSEC_DESERIALIZING_BODY_FAILED;
	int st = mac(r, op->key_name, op->alg, &op->input, NULL);
	psa_mac_compute__operation__free_unpacked(op, NULL);
	return st;
}

static int op_mac_verify(struct req *r)
{
	PsaMacVerify__Operation *op = psa_mac_verify__operation__unpack(NULL, r->body_len, r->body);
	if (!op)
		return PARSEC_DESERIALIZING_BODY_FAILED;
	int st = mac(r, op->key_name, op->alg, &op->input, &op->mac);
	psa_mac_verify__operation__free_unpacked(op, NULL);
	return st;
}

static int op_raw_key_agreement(struct req *r)
{
	PsaRawKeyAgreement__Operation *op =
		psa_raw_key_agreement__operation__unpack(NULL, r->body_len, r->body);
	if (!op)
		return PARSEC_DESERIALIZING_BODY_FAILED;
	struct psa_alg alg = { .kind = PSA_ALG_KEY_AGREEMENT, .variant = (int)op->alg };
	struct psa_attrs a;
	struct buf ref = BUF_INIT, out = BUF_INIT;
	int st = alg.variant == PSA_KA_FFDH || alg.variant == PSA_KA_ECDH
		? PSA_OK : PSA_ERR_INVALID_ARGUMENT;
	if (st == PSA_OK && !r->p->ops->raw_key_agreement)
		st = PSA_ERR_NOT_SUPPORTED;
	if (st == PSA_OK)
		st = use_key(r, op->private_key_name, PSA_USAGE_DERIVE, &alg, &a, &ref);
	if (st == PSA_OK)
		st = r->p->ops->raw_key_agreement(r->p, &a, &ref, &alg, op->peer_key.data,
						  op->peer_key.len, &out);
	if (st == PSA_OK) {
		PsaRawKeyAgreement__Result res = PSA_RAW_KEY_AGREEMENT__RESULT__INIT;
		st = reply_bytes(r, &res.base, &res.shared_secret, &out);
	}
	buf_free(&ref);
	buf_free(&out);
	psa_raw_key_agreement__operation__free_unpacked(op, NULL);
	return st;
}

/* ---- no key ---- */

static int op_generate_random(struct req *r)
{
	PsaGenerateRandom__Operation *op =
		psa_generate_random__operation__unpack(NULL, r->body_len, r->body);
	if (!op)
		return PARSEC_DESERIALIZING_BODY_FAILED;
	struct buf out = BUF_INIT;
	int st = !r->p->ops->generate_random ? PSA_ERR_NOT_SUPPORTED
	       : op->size == 0 || op->size > r->k->max_body - 16 ? PSA_ERR_INVALID_ARGUMENT
	       : r->p->ops->generate_random(r->p, (size_t)op->size, &out);
	if (st == PSA_OK) {
		PsaGenerateRandom__Result res = PSA_GENERATE_RANDOM__RESULT__INIT;
		st = reply_bytes(r, &res.base, &res.random_bytes, &out);
	}
	buf_free(&out);
	psa_generate_random__operation__free_unpacked(op, NULL);
	return st;
}

static int op_hash_compute(struct req *r)
{
	PsaHashCompute__Operation *op = psa_hash_compute__operation__unpack(NULL, r->body_len, r->body);
	if (!op)
		return PARSEC_DESERIALIZING_BODY_FAILED;
	struct buf out = BUF_INIT;
	int st = !r->p->ops->offers_hash ? PSA_ERR_NOT_SUPPORTED
	       : !psa_hash_size((enum psa_hash)op->alg) ? PSA_ERR_INVALID_ARGUMENT
	       : digest((enum psa_hash)op->alg, op->input.data, op->input.len, &out);
	if (st == PSA_OK) {
		PsaHashCompute__Result res = PSA_HASH_COMPUTE__RESULT__INIT;
		st = reply_bytes(r, &res.base, &res.hash, &out);
	}
	buf_free(&out);
	psa_hash_compute__operation__free_unpacked(op, NULL);
	return st;
}

static int op_hash_compare(struct req *r)
{
	PsaHashCompare__Operation *op = psa_hash_compare__operation__unpack(NULL, r->body_len, r->body);
	if (!op)
		return PARSEC_DESERIALIZING_BODY_FAILED;
	struct buf out = BUF_INIT;
	int st = !r->p->ops->offers_hash ? PSA_ERR_NOT_SUPPORTED
	       : !psa_hash_size((enum psa_hash)op->alg) ? PSA_ERR_INVALID_ARGUMENT
	       : digest((enum psa_hash)op->alg, op->input.data, op->input.len, &out);
	if (st == PSA_OK && (op->hash.len != out.len ||
			     CRYPTO_memcmp(op->hash.data, out.data, out.len)))
		st = PSA_ERR_INVALID_SIGNATURE;
	buf_free(&out);
	buf_reset(r->out);
	psa_hash_compare__operation__free_unpacked(op, NULL);
	return st;
}

/* Whether the provider could do what the attributes describe. */
static int op_can_do_crypto(struct req *r)
{
	CanDoCrypto__Operation *op = can_do_crypto__operation__unpack(NULL, r->body_len, r->body);
	if (!op)
		return PARSEC_DESERIALIZING_BODY_FAILED;
	struct psa_attrs a;
	const struct provider_ops *o = r->p->ops;
	int st = psa_attrs_from_pb(op->attributes, &a);
	if (st == PSA_OK)
		st = psa_attrs_check(&a);
	if (st == PSA_OK) {
		int able;
		switch (op->check_type) {
		case CAN_DO_CRYPTO__CHECK_TYPE__USE:
			able = a.alg.kind == PSA_ALG_SIGN ? o->sign_hash != NULL
			     : a.alg.kind == PSA_ALG_ENCRYPT ? o->asymmetric_decrypt != NULL
			     : a.alg.kind == PSA_ALG_AEAD ? o->aead != NULL
			     : a.alg.kind == PSA_ALG_CIPHER ? o->cipher != NULL
			     : a.alg.kind == PSA_ALG_MAC ? o->mac != NULL
			     : a.alg.kind == PSA_ALG_KEY_AGREEMENT ? o->raw_key_agreement != NULL
			     : 0;
			break;
		case CAN_DO_CRYPTO__CHECK_TYPE__GENERATE:
			able = o->generate != NULL && !psa_type_is_public(a.type);
			break;
		case CAN_DO_CRYPTO__CHECK_TYPE__IMPORT:
			able = o->import != NULL;
			break;
		case CAN_DO_CRYPTO__CHECK_TYPE__DERIVE:
			able = 0;	/* no key derivation yet */
			break;
		default:
			st = PSA_ERR_INVALID_ARGUMENT;
			able = 0;
		}
		if (st == PSA_OK && !able)
			st = PSA_ERR_NOT_SUPPORTED;
	}
	can_do_crypto__operation__free_unpacked(op, NULL);
	buf_reset(r->out);
	return st;
}

/* ---- key attestation (ActivateCredential) ---- */

/* The attested key, and the attesting one when named (else the provider's
 * default, the EK). No usage flag is needed: attestation proves where a
 * key lives, it does not use it. */
static int attestation_keys(struct req *r, const char *attested, const char *attesting,
			    struct psa_attrs *a, struct buf *ref, struct psa_attrs *att_a,
			    struct buf *att_ref, int *named)
{
	int st = use_key(r, attested, 0, NULL, a, ref);
	*named = attesting && *attesting;
	if (st == PSA_OK && *named)
		st = use_key(r, attesting, 0, NULL, att_a, att_ref);
	return st;
}

static int op_prepare_key_attestation(struct req *r)
{
	PrepareKeyAttestation__Operation *op =
		prepare_key_attestation__operation__unpack(NULL, r->body_len, r->body);
	if (!op)
		return PARSEC_DESERIALIZING_BODY_FAILED;
	struct psa_attrs a, att_a;
	struct buf ref = BUF_INIT, att_ref = BUF_INIT, name = BUF_INIT, pub = BUF_INIT,
		   attesting = BUF_INIT;
	int named = 0, st = PSA_ERR_INVALID_ARGUMENT;
	const PrepareKeyAttestation__PrepareKeyAttestationParams *prm = op->parameters;
	if (prm && prm->mechanism_case ==
	    PREPARE_KEY_ATTESTATION__PREPARE_KEY_ATTESTATION_PARAMS__MECHANISM_ACTIVATE_CREDENTIAL) {
		const PrepareKeyAttestation__PrepareKeyAttestationParams__ActivateCredential *ac =
			prm->activate_credential;
		st = attestation_keys(r, ac->attested_key_name, ac->attesting_key_name, &a, &ref,
				      &att_a, &att_ref, &named);
	}
	if (st == PSA_OK)
		st = r->p->ops->prepare_key_attestation(r->p, &a, &ref, named ? &att_a : NULL,
							named ? &att_ref : NULL, &name, &pub,
							&attesting);
	if (st == PSA_OK) {
		PrepareKeyAttestation__Result res = PREPARE_KEY_ATTESTATION__RESULT__INIT;
		PrepareKeyAttestation__PrepareKeyAttestationOutput out =
			PREPARE_KEY_ATTESTATION__PREPARE_KEY_ATTESTATION_OUTPUT__INIT;
		PrepareKeyAttestation__PrepareKeyAttestationOutput__ActivateCredential ac =
			PREPARE_KEY_ATTESTATION__PREPARE_KEY_ATTESTATION_OUTPUT__ACTIVATE_CREDENTIAL__INIT;
		ac.name = (ProtobufCBinaryData){ name.len, name.data };
		ac.public_ = (ProtobufCBinaryData){ pub.len, pub.data };
		ac.attesting_key_pub = (ProtobufCBinaryData){ attesting.len, attesting.data };
		out.mechanism_case =
			PREPARE_KEY_ATTESTATION__PREPARE_KEY_ATTESTATION_OUTPUT__MECHANISM_ACTIVATE_CREDENTIAL;
		out.activate_credential = &ac;
		res.output = &out;
		st = reply(r, &res.base);
	}
	buf_free(&ref);
	buf_free(&att_ref);
	buf_free(&name);
	buf_free(&pub);
	buf_free(&attesting);
	prepare_key_attestation__operation__free_unpacked(op, NULL);
	return st;
}

static int op_attest_key(struct req *r)
{
	AttestKey__Operation *op = attest_key__operation__unpack(NULL, r->body_len, r->body);
	if (!op)
		return PARSEC_DESERIALIZING_BODY_FAILED;
	struct psa_attrs a, att_a;
	struct buf ref = BUF_INIT, att_ref = BUF_INIT, out = BUF_INIT;
	int named = 0, st = PSA_ERR_INVALID_ARGUMENT;
	const AttestKey__AttestationMechanismParams *prm = op->parameters;
	if (prm && prm->mechanism_case ==
	    ATTEST_KEY__ATTESTATION_MECHANISM_PARAMS__MECHANISM_ACTIVATE_CREDENTIAL)
		st = attestation_keys(r, op->attested_key_name, op->attesting_key_name, &a, &ref,
				      &att_a, &att_ref, &named);
	if (st == PSA_OK) {
		const AttestKey__AttestationMechanismParams__ActivateCredential *ac =
			prm->activate_credential;
		st = r->p->ops->attest_key(r->p, &a, &ref, named ? &att_a : NULL,
					   named ? &att_ref : NULL, ac->credential_blob.data,
					   ac->credential_blob.len, ac->secret.data, ac->secret.len,
					   &out);
	}
	if (st == PSA_OK) {
		AttestKey__Result res = ATTEST_KEY__RESULT__INIT;
		AttestKey__AttestationOutput o = ATTEST_KEY__ATTESTATION_OUTPUT__INIT;
		AttestKey__AttestationOutput__ActivateCredential ac =
			ATTEST_KEY__ATTESTATION_OUTPUT__ACTIVATE_CREDENTIAL__INIT;
		ac.credential = (ProtobufCBinaryData){ out.len, out.data };
		o.mechanism_case = ATTEST_KEY__ATTESTATION_OUTPUT__MECHANISM_ACTIVATE_CREDENTIAL;
		o.activate_credential = &ac;
		res.output = &o;
		st = reply(r, &res.base);
	}
	buf_free(&ref);
	buf_free(&att_ref);
	buf_free(&out);
	attest_key__operation__free_unpacked(op, NULL);
	return st;
}

/* ---- dispatch ---- */

static int dispatch(struct req *r)
{
	switch (r->h->opcode) {
	case PARSEC_PING: return op_ping(r);
	case PARSEC_LIST_PROVIDERS: return op_list_providers(r);
	case PARSEC_LIST_OPCODES: return op_list_opcodes(r);
	case PARSEC_LIST_AUTHENTICATORS: return op_list_authenticators(r);
	case PARSEC_LIST_KEYS: return op_list_keys(r);
	case PARSEC_LIST_CLIENTS: return op_list_clients(r);
	case PARSEC_DELETE_CLIENT: return op_delete_client(r);
	case PARSEC_PSA_GENERATE_KEY: return op_generate_key(r);
	case PARSEC_PSA_IMPORT_KEY: return op_import_key(r);
	case PARSEC_PSA_DESTROY_KEY: return op_destroy_key(r);
	case PARSEC_PSA_EXPORT_PUBLIC_KEY: return op_export(r, 1);
	case PARSEC_PSA_EXPORT_KEY: return op_export(r, 0);
	case PARSEC_PSA_SIGN_HASH: return op_sign_hash(r);
	case PARSEC_PSA_VERIFY_HASH: return op_verify_hash(r);
	case PARSEC_PSA_SIGN_MESSAGE: return op_sign_message(r);
	case PARSEC_PSA_VERIFY_MESSAGE: return op_verify_message(r);
	case PARSEC_PSA_ASYMMETRIC_ENCRYPT: return op_asymmetric_encrypt(r);
	case PARSEC_PSA_ASYMMETRIC_DECRYPT: return op_asymmetric_decrypt(r);
	case PARSEC_PSA_AEAD_ENCRYPT: return op_aead_encrypt(r);
	case PARSEC_PSA_AEAD_DECRYPT: return op_aead_decrypt(r);
	case PARSEC_PSA_CIPHER_ENCRYPT: return op_cipher_encrypt(r);
	case PARSEC_PSA_CIPHER_DECRYPT: return op_cipher_decrypt(r);
	case PARSEC_PSA_MAC_COMPUTE: return op_mac_compute(r);
	case PARSEC_PSA_MAC_VERIFY: return op_mac_verify(r);
	case PARSEC_PSA_RAW_KEY_AGREEMENT: return op_raw_key_agreement(r);
	case PARSEC_PSA_GENERATE_RANDOM: return op_generate_random(r);
	case PARSEC_PSA_HASH_COMPUTE: return op_hash_compute(r);
	case PARSEC_PSA_HASH_COMPARE: return op_hash_compare(r);
	case PARSEC_CAN_DO_CRYPTO: return op_can_do_crypto(r);
	case PARSEC_PREPARE_KEY_ATTESTATION: return op_prepare_key_attestation(r);
	case PARSEC_ATTEST_KEY: return op_attest_key(r);
	default: return PSA_ERR_NOT_SUPPORTED;
	}
}

void keyd_error_response(int status, struct buf *out)
{
	struct parsec_header h = { 0 };
	h.opcode = PARSEC_PING;
	h.status = (uint16_t)status;
	buf_reset(out);
	parsec_message(out, &h, NULL, 0, NULL, 0);
}

/* Everything after the header was read: the request's own checks. */
static int handle(struct keyd *k, const struct parsec_header *h, const uint8_t *body,
		  const uint8_t *auth, const struct peer *peer, struct buf *result)
{
	struct req r = { k, h, body, h->body_len, { 0 }, NULL, result };
	int st = parsec_header_check(h);
	if (st != PARSEC_SUCCESS)
		return st;
	int core = h->provider == PARSEC_PROVIDER_CORE;
	if (!core && !(r.p = keyd_provider(k, h->provider)))
		return PARSEC_PROVIDER_NOT_REGISTERED;
	if (core != parsec_opcode_is_core(h->opcode))
		return PSA_ERR_NOT_SUPPORTED;
	if (!core && !provider_offers(r.p, h->opcode))
		return PSA_ERR_NOT_SUPPORTED;
	pthread_rwlock_rdlock(&k->auth_lock);
	st = auth_identify(&k->auth, h->auth_type, auth, h->auth_len,
			   peer && peer->known ? peer->uid : 0, peer && peer->known, &r.id);
	pthread_rwlock_unlock(&k->auth_lock);
	if (st != PARSEC_SUCCESS)
		return st;
	if (!r.id.auth && parsec_opcode_needs_identity(h->opcode))
		return PARSEC_NOT_AUTHENTICATED;
	if (h->opcode == PARSEC_LIST_AUTHENTICATORS) {
		pthread_rwlock_rdlock(&k->auth_lock);
		st = dispatch(&r);
		pthread_rwlock_unlock(&k->auth_lock);
		return st;
	}
	return dispatch(&r);
}

int keyd_handle(struct keyd *k, const uint8_t *req, size_t len, const struct peer *peer,
		struct buf *out)
{
	struct parsec_header h;
	struct buf result = BUF_INIT;
	buf_reset(out);
	if (len < PARSEC_HEADER_SIZE) {
		keyd_error_response(PARSEC_CONNECTION_ERROR, out);
		return PARSEC_CONNECTION_ERROR;
	}
	int st = parsec_header_read(req, &h);
	if (st == PARSEC_SUCCESS && h.body_len > k->max_body)
		st = PARSEC_BODY_SIZE_EXCEEDS_LIMIT;
	if (st == PARSEC_SUCCESS &&
	    len - PARSEC_HEADER_SIZE != (size_t)h.body_len + h.auth_len)
		st = PARSEC_CONNECTION_ERROR;
	if (st != PARSEC_SUCCESS) {
		keyd_error_response(st, out);
		return st;
	}
	const uint8_t *body = req + PARSEC_HEADER_SIZE;
	st = handle(k, &h, body, body + h.body_len, peer, &result);
	struct parsec_header rh = { 0 };
	rh.provider = h.provider;
	rh.session = h.session;
	rh.content_type = h.accept_type;
	rh.opcode = h.opcode;
	rh.status = (uint16_t)st;
	if (st != PARSEC_SUCCESS)
		buf_reset(&result);
	parsec_message(out, &rh, result.data, result.len, NULL, 0);
	buf_free(&result);
	return st;
}

/* Keys a crash left CREATING or DESTROYING: destroy what the backend may
 * hold, then forget the row. A backend that cannot be reached keeps the
 * row for the next start. */
static void recover_one(const struct key_id *id, enum key_state state,
			const struct psa_attrs *a, const struct buf *ref, void *arg)
{
	struct keyd *k = arg;
	struct provider *p = keyd_provider(k, id->provider);
	if (!p) {
		log_warn("key %s of %s: left %s by a crash, in provider %u, which is not "
			 "enabled: kept for later", id->name, id->app,
			 state == KEY_CREATING ? "half made" : "half destroyed", id->provider);
		return;
	}
	int st = ref->len && p->ops->destroy ? p->ops->destroy(p, a, ref) : PSA_OK;
	if (st != PSA_OK && st != PSA_ERR_DOES_NOT_EXIST) {
		log_warn("key %s of %s: cannot clean the backend (%s): kept for later",
			 id->name, id->app, parsec_status_name(st));
		return;
	}
	keystore_forget(k->ks, id);
	log_info("key %s of %s (%s): %s by a crash, cleaned", id->name, id->app,
		 auth_type_name(id->auth), state == KEY_CREATING ? "half made"
		 : "half destroyed");
}

void keyd_recover(struct keyd *k)
{
	keystore_unfinished(k->ks, recover_one, k);
}
