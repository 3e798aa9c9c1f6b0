/* libassaykey against a fake service: a thread on a Unix socket in a
 * temporary directory that records each request and answers with given
 * bytes. First the Parsec test vectors (parsec-mock's): the client's
 * request must be the vector's bytes exactly, and the vector's response
 * must come out as its status and decoded result. Then what the vectors
 * do not cover: the default provider and authentication, key operations,
 * and every kind of bad response. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "assay/key.h"
#include "parsec/psa_pb.h"
#include "util/buf.h"
#include "util/check.h"
#include "util/encode.h"

#include "attest_key.pb-c.h"
#include "list_keys.pb-c.h"
#include "list_providers.pb-c.h"
#include "psa_destroy_key.pb-c.h"
#include "psa_generate_key.pb-c.h"
#include "psa_generate_random.pb-c.h"
#include "prepare_key_attestation.pb-c.h"
#include "psa_sign_hash.pb-c.h"

/* ---- the fake service ---- */

#define FAKE_MAX 4

enum fake_mode {
	FAKE_ANSWER,		/* read the whole request, answer, close */
	FAKE_SILENT,		/* read the request, never answer */
	FAKE_EARLY,		/* answer after the header, close unread */
};

struct fake {
	char dir[64], path[96];
	int lfd;
	pthread_t thread;
	int n;				/* connections to serve */
	enum fake_mode mode;
	struct buf answer[FAKE_MAX];	/* the bytes to send on each */
	struct buf got[FAKE_MAX];	/* the requests that came */
	int served;
};

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static int read_n(int fd, struct buf *b, size_t n)
{
	uint8_t tmp[4096];
	while (n) {
		ssize_t r = read(fd, tmp, n < sizeof tmp ? n : sizeof tmp);
		if (r <= 0)
			return -1;
		buf_append(b, tmp, (size_t)r);
		n -= (size_t)r;
	}
	return 0;
}

static void *fake_run(void *arg)
{
	struct fake *f = arg;
	for (int i = 0; i < f->n; i++) {
		int fd = accept(f->lfd, NULL, NULL);
		if (fd < 0)
			break;
		struct buf *g = &f->got[i];
		if (read_n(fd, g, 36) == 0 && f->mode != FAKE_EARLY)
			read_n(fd, g, le32(g->data + 22) + (g->data[26] | g->data[27] << 8));
		if (f->mode == FAKE_SILENT) {
			char c;
			while (read(fd, &c, 1) > 0)	/* until the client gives up */
				;
		} else if (f->answer[i].len &&
			   write(fd, f->answer[i].data, f->answer[i].len) < 0) {
			perror("fake: write");
		}
		close(fd);
		f->served++;
	}
	return NULL;
}

static void fake_free(struct fake *f)
{
	for (int i = 0; i < FAKE_MAX; i++) {
		buf_free(&f->answer[i]);
		buf_free(&f->got[i]);
	}
}

static void fake_start(struct fake *f, int n, enum fake_mode mode)
{
	fake_free(f);
	snprintf(f->dir, sizeof f->dir, "/tmp/assaykey-test-XXXXXX");
	if (!mkdtemp(f->dir)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(f->path, sizeof f->path, "%s/keyd.sock", f->dir);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(f->lfd, 8) < 0) {
		perror("fake: listen");
		exit(1);
	}
	f->n = n;
	f->mode = mode;
	f->served = 0;
	pthread_create(&f->thread, NULL, fake_run, f);
}

/* Joins the thread (after the client is done with it); the requests stay
 * in got until fake_free or the next fake_start. */
static void fake_stop(struct fake *f)
{
	shutdown(f->lfd, SHUT_RDWR);
	pthread_join(f->thread, NULL);
	close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
}

static struct assay_key_client *client_of(const struct fake *f)
{
	struct assay_key_client *c = assay_key_client_new();
	CHECK(c != NULL);
	CHECK_INT(assay_key_client_set_endpoint(c, f->path), ASSAY_KEY_OK);
	return c;
}

/* A response, framed here independently of the library. */
static void response(struct buf *out, uint32_t opcode, uint8_t provider, uint16_t status,
		     const ProtobufCMessage *m)
{
	uint8_t h[36] = { 0x10, 0xa7, 0xc0, 0x5e, 30, 0, 1, 0 };
	size_t n = m ? protobuf_c_message_get_packed_size(m) : 0;
	uint8_t *body = malloc(n + 1);
	if (m)
		protobuf_c_message_pack(m, body);
	h[10] = provider;
	for (int i = 0; i < 4; i++) {
		h[22 + i] = (uint8_t)(n >> (8 * i));
		h[28 + i] = (uint8_t)(opcode >> (8 * i));
	}
	h[32] = (uint8_t)status;
	h[33] = (uint8_t)(status >> 8);
	buf_reset(out);
	buf_append(out, h, sizeof h);
	buf_append(out, body, n);
	free(body);
}

/* ---- the vectors ---- */

struct vector {
	char request_hex[1024], response_hex[1024];
	int header_auth_type;
	char auth_type[32], app_name[128];
};

/* Just enough YAML for these files: "key: value" lines, nesting by
 * indentation (two spaces a level); the keys wanted are named by path. */
static int vector_read(const char *path, struct vector *v)
{
	FILE *fp = fopen(path, "r");
	char line[2048], keys[8][64] = { { 0 } };
	if (!fp)
		return -1;
	memset(v, 0, sizeof *v);
	v->header_auth_type = -1;
	while (fgets(line, sizeof line, fp)) {
		line[strcspn(line, "\r\n")] = 0;
		size_t ind = strspn(line, " ");
		char *k = line + ind, *colon = strchr(k, ':');
		size_t level = ind / 2;
		if (!colon || level >= 8 || !*k || strspn(k, "abcdefghijklmnopqrstuvwxyz_") !=
		    (size_t)(colon - k))
			continue;
		*colon = 0;
		char *val = colon + 1 + strspn(colon + 1, " ");
		snprintf(keys[level], sizeof keys[level], "%s", k);
		char p[300] = "";
		for (size_t i = 0; i <= level; i++) {
			strcat(p, keys[i]);
			strcat(p, i < level ? "." : "");
		}
		if (!strcmp(p, "test_data.request_hex"))
			snprintf(v->request_hex, sizeof v->request_hex, "%s", val);
		else if (!strcmp(p, "test_data.response_hex"))
			snprintf(v->response_hex, sizeof v->response_hex, "%s", val);
		else if (!strcmp(p, "spec.request.header.auth_type"))
			v->header_auth_type = atoi(val);
		else if (!strcmp(p, "spec.request.auth.type"))
			snprintf(v->auth_type, sizeof v->auth_type, "%s", val);
		else if (!strcmp(p, "spec.request.auth.app_name"))
			snprintf(v->app_name, sizeof v->app_name, "%s", val);
	}
	fclose(fp);
	return v->request_hex[0] && v->response_hex[0] && v->header_auth_type >= 0 ? 0 : -1;
}

/* The authentication the vector's request carries. Requests without
 * one are made with the default client (Unix peer credentials), which
 * sends the self-description operations without authentication. */
static void vector_auth(struct assay_key_client *c, const struct vector *v)
{
	if (!strcmp(v->auth_type, "none") && v->header_auth_type == 0)
		return;
	if (!strcmp(v->auth_type, "direct") && v->header_auth_type == ASSAY_KEY_AUTH_DIRECT) {
		CHECK_INT(assay_key_client_set_direct(c, v->app_name), ASSAY_KEY_OK);
		return;
	}
	/* parsec-mock's list_opcodes vectors: auth type 0, yet the
	 * application name as authentication bytes. */
	CHECK_INT(assay_key_client_set_auth_raw(c, (uint8_t)v->header_auth_type, v->app_name,
						strlen(v->app_name)), ASSAY_KEY_OK);
}

static int run_vector(const char *name, struct assay_key_client *c)
{
	if (!strcmp(name, "ping")) {
		unsigned maj = 9, min = 9;
		int st = assay_key_ping(c, &maj, &min);
		CHECK_INT(maj, 1);
		CHECK_INT(min, 0);
		return st;
	}
	if (!strcmp(name, "list_providers")) {
		struct assay_key_provider_info *p;
		size_t n;
		int st = assay_key_list_providers(c, &p, &n);
		CHECK_INT(n, 1);
		if (n == 1) {
			CHECK_STR(p[0].uuid, "ee870e5a-ce4a-417f-8543-8fbd84b49cbe");
			CHECK_STR(p[0].description, "Some empty provider");
			CHECK_STR(p[0].vendor, "Arm Ltd.");
			CHECK_INT(p[0].version_maj, 9);
			CHECK_INT(p[0].version_min, 8);
			CHECK_INT(p[0].version_rev, 7);
			CHECK_INT(p[0].id, 2);
		}
		assay_key_free(p);
		return st;
	}
	if (!strcmp(name, "list_authenticators")) {
		struct assay_key_authenticator_info *a;
		size_t n;
		int st = assay_key_list_authenticators(c, &a, &n);
		CHECK_INT(n, 1);
		if (n == 1) {
			CHECK_STR(a[0].description, "direct auth");
			CHECK_INT(a[0].version_maj, 12);
			CHECK_INT(a[0].version_min, 42);
			CHECK_INT(a[0].version_rev, 0);
			CHECK_INT(a[0].id, ASSAY_KEY_AUTH_DIRECT);
		}
		assay_key_free(a);
		return st;
	}
	if (!strncmp(name, "list_clients", 12)) {
		const char **l;
		size_t n;
		int st = assay_key_list_clients(c, &l, &n);
		if (st == ASSAY_KEY_OK) {
			CHECK_INT(n, 2);
			if (n == 2) {
				CHECK_STR(l[0], "jim");
				CHECK_STR(l[1], "bob");
				CHECK(l[2] == NULL);
			}
		} else {
			CHECK(l == NULL && n == 0);
		}
		assay_key_free(l);
		return st;
	}
	if (!strncmp(name, "list_opcodes", 12)) {
		uint32_t *ops;
		size_t n;
		int st = assay_key_list_opcodes(c, 1, &ops, &n);
		if (st == ASSAY_KEY_OK) {
			CHECK_INT(n, 4);
			if (n == 4)
				CHECK(ops[0] == 1 && ops[1] == 3 && ops[2] == 2 && ops[3] == 6);
		}
		assay_key_free(ops);
		return st;
	}
	if (!strcmp(name, "delete_client"))
		return assay_key_delete_client(c, "existing client");
	if (!strcmp(name, "delete_client_admin_err"))
		return assay_key_delete_client(c, "client exists");
	if (!strcmp(name, "delete_client_notexist"))
		return assay_key_delete_client(c, "not exist");
	printf("FAIL: vector %s: no test for it\n", name);
	return -1;
}

static const struct { const char *name; int status; } vector_status[] = {
	{ "ping", ASSAY_KEY_OK },
	{ "list_providers", ASSAY_KEY_OK },
	{ "list_authenticators", ASSAY_KEY_OK },
	{ "list_clients", ASSAY_KEY_OK },
	{ "list_clients_admin_err", ASSAY_KEY_ADMIN_OPERATION },
	{ "list_opcodes_directauth", ASSAY_KEY_OK },
	/* The header announces 500 body bytes, 5 come, then the end. */
	{ "list_opcodes_bad1", ASSAY_KEY_CONNECTION_ERROR },
	{ "delete_client", ASSAY_KEY_OK },
	{ "delete_client_admin_err", ASSAY_KEY_ADMIN_OPERATION },
	{ "delete_client_notexist", ASSAY_KEY_PSA_ERR_DOES_NOT_EXIST },
};

static int test_vector(const char *dir, const char *file)
{
	char path[1024], name[256];
	struct vector v;
	snprintf(path, sizeof path, "%s/%s", dir, file);
	snprintf(name, sizeof name, "%.*s", (int)(strlen(file) - strlen(".test.yaml")), file);
	if (vector_read(path, &v) < 0) {
		printf("FAIL: %s: not a vector this test can read\n", path);
		CHECK(0);
		return 0;
	}
	int want = -1;
	for (size_t i = 0; i < sizeof vector_status / sizeof *vector_status; i++)
		if (!strcmp(vector_status[i].name, name))
			want = vector_status[i].status;
	struct fake f = { 0 };
	fake_start(&f, 1, FAKE_ANSWER);
	hex_decode(&f.answer[0], v.response_hex, strlen(v.response_hex));
	struct assay_key_client *c = client_of(&f);
	vector_auth(c, &v);
	int st = run_vector(name, c);
	printf("vector %-26s status %d (%s)%s%s\n", name, st, assay_key_status_name(st),
	       *assay_key_client_last_error(c) ? ": " : "", assay_key_client_last_error(c));
	if (want < 0)
		printf("FAIL: vector %s: no expected status\n", name);
	CHECK(want >= 0);
	CHECK_INT(st, want);
	assay_key_client_free(c);
	fake_stop(&f);	/* the request is complete once the thread is done */
	char *sent = hex_encode_str(f.got[0].data, f.got[0].len);
	if (!sent || strcmp(sent, v.request_hex))
		printf("FAIL: vector %s: request\n  sent %s\n  want %s\n", name,
		       sent ? sent : "(nothing)", v.request_hex);
	CHECK(sent && !strcmp(sent, v.request_hex));
	free(sent);
	fake_free(&f);
	return 1;
}

/* Returns 0 when the vectors are not there. */
static int test_vectors(char *dir, size_t dirlen)
{
	const char *fixtures = getenv("ASSAY_FIXTURES");
	snprintf(dir, dirlen, "%s/parsec/vectors", fixtures ? fixtures : "(ASSAY_FIXTURES unset)");
	DIR *d = fixtures ? opendir(dir) : NULL;
	if (!d)
		return 0;
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len > 10 && !strcmp(e->d_name + len - 10, ".test.yaml"))
			n += test_vector(dir, e->d_name);
	}
	closedir(d);
	printf("%d vectors\n", n);
	CHECK(n >= 10);
	return 1;
}

/* ---- beyond the vectors ---- */

static void provider_info(ListProviders__ProviderInfo *p, uint32_t id, const char *desc)
{
	list_providers__provider_info__init(p);
	p->id = id;
	p->description = (char *)desc;
}

/* The default client: the provider comes from ListProviders (once), key
 * operations carry the effective uid as Unix peer credentials. */
static void test_defaults(void)
{
	struct fake f = { 0 };
	ListProviders__ProviderInfo info[3], *list[3] = { &info[0], &info[1], &info[2] };
	ListProviders__Result lp = LIST_PROVIDERS__RESULT__INIT;
	provider_info(&info[0], 0, "core");
	provider_info(&info[1], 2, "pkcs11");
	provider_info(&info[2], 1, "software");
	lp.n_providers = 3;
	lp.providers = list;
	fake_start(&f, 3, FAKE_ANSWER);
	response(&f.answer[0], 0x08, 0, 0, &lp.base);
	response(&f.answer[1], 0x02, 2, 0, NULL);
	response(&f.answer[2], 0x03, 2, 0, NULL);
	struct assay_key_client *c = client_of(&f);
	struct assay_key_attrs a = {
		.type = ASSAY_KEY_TYPE_ECC_KEY_PAIR, .family = ASSAY_KEY_ECC_SECP_R1, .bits = 256,
		.usage = ASSAY_KEY_USAGE_SIGN_HASH | ASSAY_KEY_USAGE_VERIFY_HASH,
		.alg = { ASSAY_KEY_ALG_SIGN, ASSAY_KEY_SIGN_ECDSA, ASSAY_KEY_HASH_SHA_256, 0, 0, 0 },
	};
	CHECK_INT(assay_key_generate_key(c, "k1", &a), ASSAY_KEY_OK);
	CHECK_INT(assay_key_destroy_key(c, "k1"), ASSAY_KEY_OK);
	uint8_t id = 0;
	CHECK_INT(assay_key_client_provider(c, &id), ASSAY_KEY_OK);
	CHECK_INT(id, 2);
	assay_key_client_free(c);
	fake_stop(&f);
	CHECK_INT(f.served, 3);

	/* ListProviders: core provider, no authentication, empty body. */
	CHECK_INT(f.got[0].len, 36);
	CHECK_INT(f.got[0].data[10], 0);
	CHECK_INT(f.got[0].data[21], ASSAY_KEY_AUTH_NONE);
	CHECK_INT(le32(f.got[0].data + 28), 0x08);
	/* GenerateKey: provider 2, the uid as 4 little-endian bytes. */
	const struct buf *g = &f.got[1];
	CHECK(g->len > 40);
	uint32_t body_len = g->len > 40 ? le32(g->data + 22) : 0;
	CHECK_INT(g->data[10], 2);
	CHECK_INT(g->data[21], ASSAY_KEY_AUTH_UNIX_PEER);
	CHECK_INT(g->data[26] | g->data[27] << 8, 4);
	CHECK_INT(g->len, 36 + body_len + 4);
	if (g->len == 36 + body_len + 4)
		CHECK_INT(le32(g->data + 36 + body_len), geteuid());
	PsaGenerateKey__Operation *op =
		psa_generate_key__operation__unpack(NULL, body_len, g->data + 36);
	CHECK(op != NULL);
	if (op) {
		struct psa_attrs p;
		CHECK_STR(op->key_name, "k1");
		CHECK_INT(psa_attrs_from_pb(op->attributes, &p), PSA_OK);
		CHECK_INT(p.type, PSA_KEY_ECC_PAIR);
		CHECK_INT(p.family, PSA_ECC_SECP_R1);
		CHECK_INT(p.bits, 256);
		CHECK_INT(p.usage, PSA_USAGE_SIGN_HASH | PSA_USAGE_VERIFY_HASH);
		CHECK_INT(p.alg.kind, PSA_ALG_SIGN);
		CHECK_INT(p.alg.variant, PSA_SIGN_ECDSA);
		CHECK_INT(p.alg.hash, PSA_HASH_SHA_256);
		psa_generate_key__operation__free_unpacked(op, NULL);
	}
	CHECK(f.got[2].len >= 36);
	if (f.got[2].len >= 36) {
		CHECK_INT(f.got[2].data[10], 2);
		CHECK_INT(le32(f.got[2].data + 28), 0x03);
	}
	fake_free(&f);
}

/* Direct authentication and a set provider: no ListProviders. */
static void test_sign(void)
{
	struct fake f = { 0 };
	PsaSignHash__Result sr = PSA_SIGN_HASH__RESULT__INIT;
	uint8_t sig[64], hash[32];
	memset(sig, 0xab, sizeof sig);
	memset(hash, 0x11, sizeof hash);
	sr.signature.data = sig;
	sr.signature.len = sizeof sig;
	fake_start(&f, 1, FAKE_ANSWER);
	response(&f.answer[0], 0x04, 1, 0, &sr.base);
	struct assay_key_client *c = client_of(&f);
	CHECK_INT(assay_key_client_set_direct(c, "app one"), ASSAY_KEY_OK);
	CHECK_INT(assay_key_client_set_provider(c, 1), ASSAY_KEY_OK);
	struct assay_key_alg alg = { ASSAY_KEY_ALG_SIGN, ASSAY_KEY_SIGN_ECDSA,
				     ASSAY_KEY_HASH_SHA_256, 0, 0, 0 };
	uint8_t *out;
	size_t out_len;
	CHECK_INT(assay_key_sign_hash(c, "signer", &alg, hash, sizeof hash, &out, &out_len),
		  ASSAY_KEY_OK);
	CHECK_INT(out_len, sizeof sig);
	CHECK(out && !memcmp(out, sig, sizeof sig));
	assay_key_free(out);
	assay_key_client_free(c);
	fake_stop(&f);
	const struct buf *g = &f.got[0];
	uint32_t body_len = le32(g->data + 22);
	CHECK_INT(g->data[21], ASSAY_KEY_AUTH_DIRECT);
	CHECK_INT(g->len, 36 + body_len + 7);
	CHECK(!memcmp(g->data + g->len - 7, "app one", 7));
	PsaSignHash__Operation *op = psa_sign_hash__operation__unpack(NULL, body_len,
								       g->data + 36);
	CHECK(op != NULL);
	if (op) {
		CHECK_STR(op->key_name, "signer");
		CHECK_INT(op->hash.len, 32);
		CHECK(op->alg && op->alg->variant_case ==
		      PSA_ALGORITHM__ALGORITHM__ASYMMETRIC_SIGNATURE__VARIANT_ECDSA);
		CHECK(op->alg && op->alg->ecdsa->hash_alg->specific ==
		      PSA_ALGORITHM__ALGORITHM__HASH__SHA_256);
		psa_sign_hash__operation__free_unpacked(op, NULL);
	}
	fake_free(&f);
}

static void key_info(ListKeys__KeyInfo *k, struct psa_attrs_pb *s, const char *name,
		     uint32_t provider, const struct psa_attrs *a)
{
	list_keys__key_info__init(k);
	k->name = (char *)name;
	k->provider_id = provider;
	CHECK_INT(psa_attrs_to_pb(a, s), 0);
	k->attributes = &s->attrs;
}

/* ListKeys decodes into attributes; get_attributes picks the key of the
 * client's provider. */
static void test_list_keys(void)
{
	struct fake f = { 0 };
	struct psa_attrs rsa = { PSA_KEY_RSA_PAIR, 0, 2048, PSA_USAGE_DECRYPT | PSA_USAGE_ENCRYPT,
				 { PSA_ALG_ENCRYPT, PSA_ENCRYPT_RSA_OAEP, PSA_HASH_SHA_256, 0, 0,
				   PSA_HASH_NONE } };
	struct psa_attrs ecc = { PSA_KEY_ECC_PAIR, PSA_ECC_SECP_R1, 384, PSA_USAGE_SIGN_HASH,
				 { PSA_ALG_SIGN, PSA_SIGN_ECDSA, PSA_HASH_ANY, 0, 0,
				   PSA_HASH_NONE } };
	ListKeys__KeyInfo info[2], *list[2] = { &info[0], &info[1] };
	static struct psa_attrs_pb s[2];
	key_info(&info[0], &s[0], "same", 3, &rsa);
	key_info(&info[1], &s[1], "same", 1, &ecc);
	ListKeys__Result lk = LIST_KEYS__RESULT__INIT;
	lk.n_keys = 2;
	lk.keys = list;
	fake_start(&f, 2, FAKE_ANSWER);
	response(&f.answer[0], 0x1a, 0, 0, &lk.base);
	response(&f.answer[1], 0x1a, 0, 0, &lk.base);
	struct assay_key_client *c = client_of(&f);
	struct assay_key_info *keys;
	size_t n;
	CHECK_INT(assay_key_list_keys(c, &keys, &n), ASSAY_KEY_OK);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(keys[0].name, "same");
		CHECK_INT(keys[0].provider_id, 3);
		CHECK_INT(keys[0].attrs.type, ASSAY_KEY_TYPE_RSA_KEY_PAIR);
		CHECK_INT(keys[0].attrs.bits, 2048);
		CHECK_INT(keys[0].attrs.usage, ASSAY_KEY_USAGE_DECRYPT | ASSAY_KEY_USAGE_ENCRYPT);
		CHECK_INT(keys[0].attrs.alg.kind, ASSAY_KEY_ALG_ENCRYPT);
		CHECK_INT(keys[0].attrs.alg.variant, ASSAY_KEY_ENCRYPT_RSA_OAEP);
		CHECK_INT(keys[0].attrs.alg.hash, ASSAY_KEY_HASH_SHA_256);
		CHECK_INT(keys[1].attrs.family, ASSAY_KEY_ECC_SECP_R1);
		CHECK_INT(keys[1].attrs.alg.hash, ASSAY_KEY_HASH_ANY);
	}
	assay_key_free(keys);
	struct assay_key_attrs a;
	CHECK_INT(assay_key_client_set_provider(c, 1), ASSAY_KEY_OK);
	CHECK_INT(assay_key_get_attributes(c, "same", &a), ASSAY_KEY_OK);
	CHECK_INT(a.type, ASSAY_KEY_TYPE_ECC_KEY_PAIR);
	CHECK_INT(a.bits, 384);
	assay_key_client_free(c);
	fake_stop(&f);
	fake_free(&f);
}

/* One request answered with these bytes: the status the client makes of
 * them. */
static int answered(const struct buf *answer, int (*op)(struct assay_key_client *),
		    char *err, size_t errlen)
{
	struct fake f = { 0 };
	fake_start(&f, 1, FAKE_ANSWER);
	buf_append(&f.answer[0], answer->data, answer->len);
	struct assay_key_client *c = client_of(&f);
	assay_key_client_set_provider(c, 1);
	int st = op(c);
	snprintf(err, errlen, "%s", assay_key_client_last_error(c));
	assay_key_client_free(c);
	fake_stop(&f);
	fake_free(&f);
	return st;
}

static int do_list_keys(struct assay_key_client *c)
{
	struct assay_key_info *k;
	size_t n;
	int st = assay_key_list_keys(c, &k, &n);
	assay_key_free(k);
	return st;
}

static int do_random(struct assay_key_client *c)
{
	uint8_t *r;
	int st = assay_key_generate_random(c, 16, &r);
	assay_key_free(r);
	return st;
}

static int do_ping(struct assay_key_client *c)
{
	return assay_key_ping(c, NULL, NULL);
}

static int do_prepare(struct assay_key_client *c)
{
	uint8_t *n, *a, *e;
	size_t nl, al, el;
	int st = assay_key_prepare_key_attestation(c, "k", NULL, &n, &nl, &a, &al, &e, &el);
	CHECK(st == ASSAY_KEY_OK || (!n && !nl && !a && !al && !e && !el));
	assay_key_free(n);
	assay_key_free(a);
	assay_key_free(e);
	return st;
}

static int do_attest(struct assay_key_client *c)
{
	static const uint8_t blob[] = { 1, 2 }, secret[] = { 3 };
	uint8_t *cr;
	size_t cl;
	int st = assay_key_attest_key(c, "k", NULL, blob, 2, secret, 1, &cr, &cl);
	CHECK(st == ASSAY_KEY_OK || (!cr && !cl));
	assay_key_free_secret(cr, cl);
	return st;
}

/* The body of a recorded request, when it is for opcode on provider. */
static const uint8_t *request_body(const struct buf *g, uint32_t opcode, uint8_t provider,
				   size_t *len)
{
	*len = 0;
	if (g->len < 36 || le32(g->data + 28) != opcode || g->data[10] != provider ||
	    g->len < 36 + (size_t)le32(g->data + 22))
		return NULL;
	*len = le32(g->data + 22);
	return g->data + 36;
}

static int body_is(const uint8_t *body, size_t len, const char *hex)
{
	struct buf want = BUF_INIT;
	hex_decode(&want, hex, strlen(hex));
	int same = body && len == want.len && !memcmp(body, want.data, len);
	if (!same) {
		char *got = body ? hex_encode_str(body, len) : NULL;
		printf("FAIL: body %s, want %s\n", got ? got : "(none)", hex);
		free(got);
	}
	buf_free(&want);
	return same;
}

/* PrepareKeyAttestation (0x1F) and AttestKey (0x1E): the request bodies
 * byte for byte as the schemas encode them (written out by hand below),
 * and the results handed back. */
static void test_attestation(void)
{
	static const uint8_t name[] = { 0x00, 0x0b, 1, 2, 3 }, area[] = { 0x00, 0x01, 9 };
	static const uint8_t ek[] = { 0x30, 0x82, 1, 0x0a }, cred[] = { 0xc1, 0xc2, 0xc3 };
	static const uint8_t blob[] = { 1, 2 }, secret[] = { 3 };
	struct fake f = { 0 };
	PrepareKeyAttestation__Result pr = PREPARE_KEY_ATTESTATION__RESULT__INIT;
	PrepareKeyAttestation__PrepareKeyAttestationOutput po =
		PREPARE_KEY_ATTESTATION__PREPARE_KEY_ATTESTATION_OUTPUT__INIT;
	PrepareKeyAttestation__PrepareKeyAttestationOutput__ActivateCredential pac =
		PREPARE_KEY_ATTESTATION__PREPARE_KEY_ATTESTATION_OUTPUT__ACTIVATE_CREDENTIAL__INIT;
	pac.name = (ProtobufCBinaryData){ sizeof name, (uint8_t *)name };
	pac.public_ = (ProtobufCBinaryData){ sizeof area, (uint8_t *)area };
	pac.attesting_key_pub = (ProtobufCBinaryData){ sizeof ek, (uint8_t *)ek };
	po.mechanism_case =
		PREPARE_KEY_ATTESTATION__PREPARE_KEY_ATTESTATION_OUTPUT__MECHANISM_ACTIVATE_CREDENTIAL;
	po.activate_credential = &pac;
	pr.output = &po;
	AttestKey__Result ar = ATTEST_KEY__RESULT__INIT;
	AttestKey__AttestationOutput ao = ATTEST_KEY__ATTESTATION_OUTPUT__INIT;
	AttestKey__AttestationOutput__ActivateCredential aac =
		ATTEST_KEY__ATTESTATION_OUTPUT__ACTIVATE_CREDENTIAL__INIT;
	aac.credential = (ProtobufCBinaryData){ sizeof cred, (uint8_t *)cred };
	ao.mechanism_case = ATTEST_KEY__ATTESTATION_OUTPUT__MECHANISM_ACTIVATE_CREDENTIAL;
	ao.activate_credential = &aac;
	ar.output = &ao;

	fake_start(&f, 4, FAKE_ANSWER);
	response(&f.answer[0], 0x1f, 3, 0, &pr.base);
	response(&f.answer[1], 0x1f, 3, 0, &pr.base);
	response(&f.answer[2], 0x1e, 3, 0, &ar.base);
	response(&f.answer[3], 0x1e, 3, 0, &ar.base);
	struct assay_key_client *c = client_of(&f);
	CHECK_INT(assay_key_client_set_direct(c, "app"), ASSAY_KEY_OK);
	CHECK_INT(assay_key_client_set_provider(c, 3), ASSAY_KEY_OK);
	uint8_t *n = NULL, *a = NULL, *e = NULL, *cr = NULL;
	size_t nl = 0, al = 0, el = 0, cl = 0;
	CHECK_INT(assay_key_prepare_key_attestation(c, "k", NULL, &n, &nl, &a, &al, &e, &el),
		  ASSAY_KEY_OK);
	CHECK(nl == sizeof name && n && !memcmp(n, name, nl));
	CHECK(al == sizeof area && a && !memcmp(a, area, al));
	CHECK(el == sizeof ek && e && !memcmp(e, ek, el));
	assay_key_free(n);
	assay_key_free(a);
	assay_key_free(e);
	CHECK_INT(assay_key_prepare_key_attestation(c, "k", "e", &n, &nl, &a, &al, &e, &el),
		  ASSAY_KEY_OK);
	assay_key_free(n);
	assay_key_free(a);
	assay_key_free(e);
	CHECK_INT(assay_key_attest_key(c, "k", NULL, blob, sizeof blob, secret, sizeof secret,
				       &cr, &cl), ASSAY_KEY_OK);
	CHECK(cl == sizeof cred && cr && !memcmp(cr, cred, cl));
	assay_key_free_secret(cr, cl);
	CHECK_INT(assay_key_attest_key(c, "k", "e", blob, sizeof blob, secret, sizeof secret,
				       &cr, &cl), ASSAY_KEY_OK);
	assay_key_free_secret(cr, cl);
	assay_key_client_free(c);
	fake_stop(&f);
	CHECK_INT(f.served, 4);

	/* PrepareKeyAttestation.Operation { parameters (1) {
	 *   activate_credential (1) { attested_key_name (1) "k",
	 *                             attesting_key_name (2) "e" } } } */
	size_t len;
	const uint8_t *body = request_body(&f.got[0], 0x1f, 3, &len);
	CHECK(body_is(body, len, "0a050a030a016b"));
	CHECK_INT(f.got[0].data[21], ASSAY_KEY_AUTH_DIRECT);
	body = request_body(&f.got[1], 0x1f, 3, &len);
	CHECK(body_is(body, len, "0a080a060a016b120165"));
	PrepareKeyAttestation__Operation *pop =
		body ? prepare_key_attestation__operation__unpack(NULL, len, body) : NULL;
	CHECK(pop && pop->parameters && pop->parameters->mechanism_case ==
	      PREPARE_KEY_ATTESTATION__PREPARE_KEY_ATTESTATION_PARAMS__MECHANISM_ACTIVATE_CREDENTIAL);
	if (pop && pop->parameters && pop->parameters->activate_credential) {
		CHECK_STR(pop->parameters->activate_credential->attested_key_name, "k");
		CHECK_STR(pop->parameters->activate_credential->attesting_key_name, "e");
	}
	if (pop)
		prepare_key_attestation__operation__free_unpacked(pop, NULL);
	/* AttestKey.Operation { attested_key_name (1) "k", parameters (2) {
	 *   activate_credential (1) { credential_blob (1) 01 02, secret (2) 03 } },
	 *   attesting_key_name (3) "e" } */
	body = request_body(&f.got[2], 0x1e, 3, &len);
	CHECK(body_is(body, len, "0a016b12090a070a020102120103"));
	CHECK_INT(f.got[2].data[21], ASSAY_KEY_AUTH_DIRECT);
	body = request_body(&f.got[3], 0x1e, 3, &len);
	CHECK(body_is(body, len, "0a016b12090a070a0201021201031a0165"));
	AttestKey__Operation *aop = body ? attest_key__operation__unpack(NULL, len, body) : NULL;
	CHECK(aop && aop->parameters && aop->parameters->mechanism_case ==
	      ATTEST_KEY__ATTESTATION_MECHANISM_PARAMS__MECHANISM_ACTIVATE_CREDENTIAL);
	if (aop && aop->parameters && aop->parameters->activate_credential) {
		const AttestKey__AttestationMechanismParams__ActivateCredential *p =
			aop->parameters->activate_credential;
		CHECK_STR(aop->attested_key_name, "k");
		CHECK_STR(aop->attesting_key_name, "e");
		CHECK(p->credential_blob.len == 2 && !memcmp(p->credential_blob.data, blob, 2));
		CHECK(p->secret.len == 1 && p->secret.data[0] == 3);
	}
	if (aop)
		attest_key__operation__free_unpacked(aop, NULL);
	fake_free(&f);

	/* A result without the mechanism's output; a PSA error. */
	struct buf b = BUF_INIT;
	char err[512];
	response(&b, 0x1f, 1, 0, NULL);
	CHECK_INT(answered(&b, do_prepare, err, sizeof err), ASSAY_KEY_INVALID_ENCODING);
	CHECK(strstr(err, "ActivateCredential") != NULL);
	ar.output = NULL;
	response(&b, 0x1e, 1, 0, &ar.base);
	CHECK_INT(answered(&b, do_attest, err, sizeof err), ASSAY_KEY_INVALID_ENCODING);
	response(&b, 0x1e, 1, 1135, NULL);
	CHECK_INT(answered(&b, do_attest, err, sizeof err), ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT);
	buf_free(&b);

	/* Bad arguments, refused before anything is sent. */
	c = assay_key_client_new();
	assay_key_client_set_endpoint(c, "/nonexistent/keyd.sock");
	assay_key_client_set_provider(c, 3);
	n = (uint8_t *)1;
	nl = 7;
	CHECK_INT(assay_key_prepare_key_attestation(c, NULL, NULL, &n, &nl, &a, &al, &e, &el),
		  ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT);
	CHECK(n == NULL && nl == 0);
	CHECK_INT(assay_key_prepare_key_attestation(c, "k", NULL, &n, &nl, NULL, &al, &e, &el),
		  ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(assay_key_attest_key(c, "", NULL, blob, 2, secret, 1, &cr, &cl),
		  ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(assay_key_attest_key(c, "k", NULL, NULL, 2, secret, 1, &cr, &cl),
		  ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(assay_key_attest_key(c, "k", NULL, blob, 2, NULL, 1, &cr, &cl),
		  ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(assay_key_attest_key(c, "k", NULL, blob, 2, secret, 1, NULL, &cl),
		  ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT);
	assay_key_client_free(c);
}

static void test_bad_responses(void)
{
	struct buf b = BUF_INIT;
	char err[512];

	/* Over 16 MiB. */
	response(&b, 0x1a, 0, 0, NULL);
	b.data[22] = 1;
	b.data[23] = 0;
	b.data[24] = 0;
	b.data[25] = 1;		/* 16 MiB + 1 */
	CHECK_INT(answered(&b, do_list_keys, err, sizeof err), ASSAY_KEY_RESPONSE_TOO_LARGE);
	/* Malformed headers. */
	response(&b, 0x1a, 0, 0, NULL);
	b.data[0] ^= 1;
	CHECK_INT(answered(&b, do_list_keys, err, sizeof err), ASSAY_KEY_INVALID_ENCODING);
	CHECK(strstr(err, "malformed") != NULL);
	response(&b, 0x1a, 0, 0, NULL);
	b.data[6] = 2;
	CHECK_INT(answered(&b, do_list_keys, err, sizeof err), ASSAY_KEY_INVALID_ENCODING);
	CHECK(strstr(err, "2.0") != NULL);
	response(&b, 0x1a, 0, 0, NULL);
	b.data[35] = 1;
	CHECK_INT(answered(&b, do_list_keys, err, sizeof err), ASSAY_KEY_INVALID_ENCODING);
	response(&b, 0x1a, 0, 0, NULL);
	b.data[19] = 1;		/* content type */
	CHECK_INT(answered(&b, do_list_keys, err, sizeof err), ASSAY_KEY_INVALID_ENCODING);
	/* Cut short within the header. */
	response(&b, 0x1a, 0, 0, NULL);
	b.len = 20;
	CHECK_INT(answered(&b, do_list_keys, err, sizeof err), ASSAY_KEY_CONNECTION_ERROR);
	CHECK(strstr(err, "20 of 36") != NULL);
	/* No answer at all. */
	buf_reset(&b);
	CHECK_INT(answered(&b, do_list_keys, err, sizeof err), ASSAY_KEY_CONNECTION_ERROR);
	/* Another operation's answer, or another provider's. */
	response(&b, 0x1b, 0, 0, NULL);
	CHECK_INT(answered(&b, do_list_keys, err, sizeof err), ASSAY_KEY_INVALID_ENCODING);
	CHECK(strstr(err, "ListClients") != NULL);
	response(&b, 0x0d, 2, 0, NULL);
	CHECK_INT(answered(&b, do_random, err, sizeof err), ASSAY_KEY_INVALID_ENCODING);
	/* The answer to a request the service could not read. */
	response(&b, 0x01, 0, 17, NULL);
	CHECK_INT(answered(&b, do_list_keys, err, sizeof err), ASSAY_KEY_INVALID_HEADER);
	CHECK_STR(err, "");
	/* A body that is not the result, bytes after the body. */
	response(&b, 0x1a, 0, 0, NULL);
	b.data[22] = 3;
	buf_append(&b, "\x0a\x05x", 3);	/* a key info of 5 bytes, 1 there */
	CHECK_INT(answered(&b, do_list_keys, err, sizeof err), ASSAY_KEY_INVALID_ENCODING);
	CHECK(strstr(err, "decode") != NULL);
	response(&b, 0x01, 0, 0, NULL);
	b.data[22] = 2;
	buf_append(&b, "\x08\x01\x10", 3);
	CHECK_INT(answered(&b, do_ping, err, sizeof err), ASSAY_KEY_INVALID_ENCODING);
	CHECK(strstr(err, "follow") != NULL);
	/* Fewer random bytes than asked for. */
	PsaGenerateRandom__Result rr = PSA_GENERATE_RANDOM__RESULT__INIT;
	uint8_t r[15] = { 0 };
	rr.random_bytes.data = r;
	rr.random_bytes.len = sizeof r;
	response(&b, 0x0d, 1, 0, &rr.base);
	CHECK_INT(answered(&b, do_random, err, sizeof err), ASSAY_KEY_INVALID_ENCODING);
	rr.random_bytes.len = 16;
	uint8_t r16[16] = { 1 };
	rr.random_bytes.data = r16;
	response(&b, 0x0d, 1, 0, &rr.base);
	CHECK_INT(answered(&b, do_random, err, sizeof err), ASSAY_KEY_OK);
	buf_free(&b);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_transport(void)
{
	/* A service that never answers: the timeout. */
	struct fake f = { 0 };
	fake_start(&f, 1, FAKE_SILENT);
	struct assay_key_client *c = client_of(&f);
	assay_key_client_set_timeout_ms(c, 300);
	long long t0 = now_ms();
	CHECK_INT(assay_key_ping(c, NULL, NULL), ASSAY_KEY_CONNECTION_ERROR);
	long long took = now_ms() - t0;
	CHECK(took >= 290 && took < 5000);
	CHECK(strstr(assay_key_client_last_error(c), "300 ms") != NULL);
	assay_key_client_free(c);
	fake_stop(&f);

	/* A service that refuses a large request after its header: its
	 * answer arrives although the rest could not be sent. */
	fake_start(&f, 1, FAKE_EARLY);
	response(&f.answer[0], 0x01, 0, 20, NULL);
	c = client_of(&f);
	assay_key_client_set_provider(c, 1);
	size_t big = 4u << 20;
	uint8_t *in = calloc(1, big), *out;
	size_t out_len;
	CHECK_INT(assay_key_hash_compute(c, ASSAY_KEY_HASH_SHA_256, in, big, &out, &out_len),
		  ASSAY_KEY_BODY_SIZE_EXCEEDS_LIMIT);
	CHECK(out == NULL && out_len == 0);
	free(in);
	assay_key_client_free(c);
	fake_stop(&f);
	fake_free(&f);

	/* Nobody there. */
	c = assay_key_client_new();
	assay_key_client_set_endpoint(c, "/nonexistent/keyd.sock");
	CHECK_INT(assay_key_ping(c, NULL, NULL), ASSAY_KEY_CONNECTION_ERROR);
	CHECK(strstr(assay_key_client_last_error(c), "connect /nonexistent/keyd.sock") != NULL);
	assay_key_client_free(c);

	/* The endpoint from the environment. */
	setenv("PARSEC_SERVICE_ENDPOINT", "unix:/nonexistent/parsec.sock", 1);
	c = assay_key_client_new();
	CHECK_INT(assay_key_ping(c, NULL, NULL), ASSAY_KEY_CONNECTION_ERROR);
	CHECK(strstr(assay_key_client_last_error(c), "/nonexistent/parsec.sock") != NULL);
	assay_key_client_free(c);
	setenv("PARSEC_SERVICE_ENDPOINT", "unix:///nonexistent/b.sock", 1);
	c = assay_key_client_new();
	CHECK_INT(assay_key_ping(c, NULL, NULL), ASSAY_KEY_CONNECTION_ERROR);
	CHECK(strstr(assay_key_client_last_error(c), "connect /nonexistent/b.sock") != NULL);
	assay_key_client_free(c);
	setenv("PARSEC_SERVICE_ENDPOINT", "tcp://127.0.0.1:1", 1);
	c = assay_key_client_new();
	CHECK_INT(assay_key_ping(c, NULL, NULL), ASSAY_KEY_CONNECTION_ERROR);
	CHECK(strstr(assay_key_client_last_error(c), "PARSEC_SERVICE_ENDPOINT") != NULL);
	/* An endpoint set by the program wins. */
	CHECK_INT(assay_key_client_set_endpoint(c, "/nonexistent/c.sock"), ASSAY_KEY_OK);
	CHECK_INT(assay_key_ping(c, NULL, NULL), ASSAY_KEY_CONNECTION_ERROR);
	CHECK(strstr(assay_key_client_last_error(c), "connect /nonexistent/c.sock") != NULL);
	assay_key_client_free(c);
	unsetenv("PARSEC_SERVICE_ENDPOINT");
}

/* Bad arguments are refused before anything is sent. */
static void test_arguments(void)
{
	struct assay_key_client *c = assay_key_client_new();
	assay_key_client_set_endpoint(c, "/nonexistent/keyd.sock");
	assay_key_client_set_provider(c, 1);
	struct assay_key_alg enc = { ASSAY_KEY_ALG_ENCRYPT, ASSAY_KEY_ENCRYPT_RSA_OAEP,
				     ASSAY_KEY_HASH_SHA_256, 0, 0, 0 };
	struct assay_key_alg bad = { ASSAY_KEY_ALG_SIGN, 9, ASSAY_KEY_HASH_SHA_256, 0, 0, 0 };
	uint8_t h[32] = { 0 }, *out = (uint8_t *)1;
	size_t n = 7;
	CHECK_INT(assay_key_sign_hash(c, "k", &enc, h, 32, &out, &n),
		  ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT);
	CHECK(out == NULL && n == 0);
	CHECK_INT(assay_key_sign_hash(c, "k", &bad, h, 32, &out, &n),
		  ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(assay_key_sign_hash(c, NULL, &enc, h, 32, &out, &n),
		  ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(assay_key_verify_hash(c, "k", &enc, NULL, 32, h, 1),
		  ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT);
	struct assay_key_attrs des = { .type = ASSAY_KEY_TYPE_DES, .bits = 64 };
	CHECK_INT(assay_key_generate_key(c, "k", &des), ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT);
	struct assay_key_alg ka = { ASSAY_KEY_ALG_KEY_AGREEMENT, ASSAY_KEY_KA_ECDH,
				    ASSAY_KEY_HASH_NONE, 0, ASSAY_KEY_KDF_HKDF,
				    ASSAY_KEY_HASH_SHA_256 };
	CHECK_INT(assay_key_raw_key_agreement(c, "k", &ka, h, 32, &out, &n),
		  ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT);
	CHECK_INT(assay_key_client_set_provider(c, 0), ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT);
	char longpath[200];
	memset(longpath, 'a', sizeof longpath - 1);
	longpath[sizeof longpath - 1] = 0;
	CHECK_INT(assay_key_client_set_endpoint(c, longpath), ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT);
	assay_key_client_free(c);

	CHECK_STR(assay_key_status_name(ASSAY_KEY_PSA_ERR_DOES_NOT_EXIST), "PsaErrorDoesNotExist");
	CHECK_STR(assay_key_status_str(ASSAY_KEY_PSA_ERR_DOES_NOT_EXIST), "the key does not exist");
	CHECK_STR(assay_key_status_name(ASSAY_KEY_CONNECTION_ERROR), "ConnectionError");
	CHECK_STR(assay_key_opcode_name(0x20), "CanDoCrypto");
}

int main(void)
{
	unsetenv("PARSEC_SERVICE_ENDPOINT");
	test_defaults();
	test_sign();
	test_list_keys();
	test_bad_responses();
	test_attestation();
	test_transport();
	test_arguments();
	char dir[1024];
	int vectors = test_vectors(dir, sizeof dir);
	if (!vectors && !check_failures)
		CHECK_SKIP("no Parsec vectors in %s (the other checks passed)", dir);
	return check_done();
}
