/* assay key: the CLI run as a program against a fake key service, a
 * thread of this test on a Unix socket that keeps real OpenSSL keys and
 * answers the Parsec operations the CLI uses. What the CLI prints is
 * checked against parsec-tool's formats, and what it makes (public keys,
 * signatures, CSRs, ciphertexts) with OpenSSL here. Then, when assay-keyd
 * is built, the same commands against it. */
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "parsec/psa_pb.h"
#include "tests/lib/daemon.h"
#include "util/buf.h"
#include "util/check.h"
#include "util/encode.h"
#include "util/file.h"

#include "list_authenticators.pb-c.h"
#include "list_keys.pb-c.h"
#include "list_opcodes.pb-c.h"
#include "list_providers.pb-c.h"
#include "ping.pb-c.h"
#include "psa_asymmetric_decrypt.pb-c.h"
#include "psa_asymmetric_encrypt.pb-c.h"
#include "psa_destroy_key.pb-c.h"
#include "psa_export_public_key.pb-c.h"
#include "psa_generate_key.pb-c.h"
#include "psa_generate_random.pb-c.h"
#include "psa_import_key.pb-c.h"
#include "psa_sign_hash.pb-c.h"
#include "psa_verify_hash.pb-c.h"

static char dir[64], sock[100];

/* ---- running the CLI ---- */

struct run {
	int status;
	char out[16384], err[4096];
};

static void slurp(const char *path, char *out, size_t n)
{
	struct buf b = BUF_INIT;
	snprintf(out, n, "%s", file_read(path, n - 1, &b) == 0 && b.data ? (char *)b.data : "");
	buf_free(&b);
}

/* `assay key ARGS...` (NULL-terminated), with env set as given ("NAME=value"
 * or NULL). */
static struct run *key_env(const char *env, ...)
{
	static struct run r;
	char *argv[40], out[200], err[200];
	int n = 0;
	va_list ap;
	argv[n++] = (char *)daemon_program("cli/assay");
	argv[n++] = "key";
	va_start(ap, env);
	for (char *a; n < 39 && (a = va_arg(ap, char *)); )
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	snprintf(out, sizeof out, "%s/out", dir);
	snprintf(err, sizeof err, "%s/err", dir);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (!freopen(out, "w", stdout) || !freopen(err, "w", stderr))
			_exit(126);
		if (env)
			putenv((char *)env);
		execv(argv[0], argv);
		_exit(127);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	slurp(out, r.out, sizeof r.out);
	slurp(err, r.err, sizeof r.err);
	if (r.status && getenv("VERBOSE"))
		printf("  exit %d: %s", r.status, r.err);
	return &r;
}

#define KEY(...) key_env(NULL, "--endpoint", sock, __VA_ARGS__, NULL)

/* ---- the fake service ---- */

struct fake_key {
	char name[64];
	struct psa_attrs a;
	EVP_PKEY *pk;		/* NULL for imported keys */
	struct buf data;	/* imported: the PSA data */
};

static struct fake_key keys[16];
static int n_keys;
static uint8_t last_auth_type;
static char last_auth[64];
static int fake_lfd;
static pthread_t fake_thread;

static struct fake_key *find(const char *name)
{
	for (int i = 0; i < n_keys; i++)
		if (!strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

static void answer(int fd, const uint8_t *req, uint16_t status, const ProtobufCMessage *m)
{
	uint8_t h[36];
	size_t n = m && !status ? protobuf_c_message_get_packed_size(m) : 0;
	uint8_t *body = malloc(n + 1);
	if (n)
		protobuf_c_message_pack(m, body);
	memcpy(h, req, 36);
	for (int i = 0; i < 4; i++)
		h[22 + i] = (uint8_t)(n >> (8 * i));
	h[20] = h[21] = h[26] = h[27] = 0;
	h[32] = (uint8_t)status;
	h[33] = (uint8_t)(status >> 8);
	if (write(fd, h, 36) != 36 || (n && write(fd, body, n) != (ssize_t)n))
		perror("fake: write");
	free(body);
}

static size_t field_of(const struct psa_attrs *a)
{
	return (a->bits + 7) / 8;
}

static int fake_public(const struct fake_key *k, struct buf *out)
{
	if (k->a.type == PSA_KEY_RSA_PAIR) {
		unsigned char *der = NULL;
		int n = i2d_PublicKey(k->pk, &der);
		buf_append(out, der, (size_t)n);
		OPENSSL_free(der);
		return 0;
	}
	uint8_t pt[200];
	size_t n = 0;
	EVP_PKEY_get_octet_string_param(k->pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, sizeof pt,
					&n);
	buf_append(out, pt, n);
	return 0;
}

/* An EVP_PKEY_CTX set up for the key's signature algorithm over hash. */
static EVP_PKEY_CTX *sig_ctx(const struct fake_key *k, const struct psa_alg *alg, int sign)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k->pk, NULL);
	EVP_MD *md = EVP_MD_fetch(NULL, psa_hash_name(alg->hash), NULL);
	if (sign ? EVP_PKEY_sign_init(c) != 1 : EVP_PKEY_verify_init(c) != 1)
		printf("fake: sign init\n");
	if (alg->variant == PSA_SIGN_RSA_PSS) {
		EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PSS_PADDING);
		EVP_PKEY_CTX_set_rsa_pss_saltlen(c, RSA_PSS_SALTLEN_DIGEST);
	} else if (alg->variant == PSA_SIGN_RSA_PKCS1V15) {
		EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING);
	}
	EVP_PKEY_CTX_set_signature_md(c, md);
	EVP_MD_free(md);
	return c;
}

static int fake_sign(const struct fake_key *k, const PsaSignHash__Operation *op, struct buf *sig)
{
	struct psa_alg alg;
	PsaAlgorithm__Algorithm pb = PSA_ALGORITHM__ALGORITHM__INIT;
	pb.variant_case = PSA_ALGORITHM__ALGORITHM__VARIANT_ASYMMETRIC_SIGNATURE;
	pb.asymmetric_signature = op->alg;
	if (psa_alg_from_pb(&pb, &alg) != PSA_OK || psa_key_permits(&k->a, PSA_USAGE_SIGN_HASH,
								   &alg) != PSA_OK)
		return PSA_ERR_NOT_PERMITTED;
	EVP_PKEY_CTX *c = sig_ctx(k, &alg, 1);
	uint8_t out[1024];
	size_t n = sizeof out;
	int ok = EVP_PKEY_sign(c, out, &n, op->hash.data, op->hash.len) == 1;
	EVP_PKEY_CTX_free(c);
	if (!ok)
		return PSA_ERR_GENERIC;
	if (k->a.type != PSA_KEY_ECC_PAIR) {
		buf_append(sig, out, n);
		return PSA_OK;
	}
	const unsigned char *q = out;	/* the wire's ECDSA is r||s */
	ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &q, (long)n);
	uint8_t raw[200];
	size_t f = field_of(&k->a);
	BN_bn2binpad(ECDSA_SIG_get0_r(s), raw, (int)f);
	BN_bn2binpad(ECDSA_SIG_get0_s(s), raw + f, (int)f);
	ECDSA_SIG_free(s);
	buf_append(sig, raw, 2 * f);
	return PSA_OK;
}

static int fake_verify(const struct fake_key *k, const PsaVerifyHash__Operation *op)
{
	struct psa_alg alg;
	PsaAlgorithm__Algorithm pb = PSA_ALGORITHM__ALGORITHM__INIT;
	pb.variant_case = PSA_ALGORITHM__ALGORITHM__VARIANT_ASYMMETRIC_SIGNATURE;
	pb.asymmetric_signature = op->alg;
	if (psa_alg_from_pb(&pb, &alg) != PSA_OK || psa_key_permits(&k->a, PSA_USAGE_VERIFY_HASH,
								   &alg) != PSA_OK)
		return PSA_ERR_NOT_PERMITTED;
	struct buf der = BUF_INIT;
	size_t f = field_of(&k->a);
	if (k->a.type == PSA_KEY_ECC_PAIR) {
		if (op->signature.len != 2 * f)
			return PSA_ERR_INVALID_SIGNATURE;
		ECDSA_SIG *s = ECDSA_SIG_new();
		ECDSA_SIG_set0(s, BN_bin2bn(op->signature.data, (int)f, NULL),
			       BN_bin2bn(op->signature.data + f, (int)f, NULL));
		unsigned char *d = NULL;
		int n = i2d_ECDSA_SIG(s, &d);
		buf_append(&der, d, (size_t)n);
		OPENSSL_free(d);
		ECDSA_SIG_free(s);
	} else {
		buf_append(&der, op->signature.data, op->signature.len);
	}
	EVP_PKEY_CTX *c = sig_ctx(k, &alg, 0);
	int ok = EVP_PKEY_verify(c, der.data, der.len, op->hash.data, op->hash.len) == 1;
	EVP_PKEY_CTX_free(c);
	buf_free(&der);
	return ok ? PSA_OK : PSA_ERR_INVALID_SIGNATURE;
}

static EVP_PKEY_CTX *crypt_ctx(const struct fake_key *k, int encrypt)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k->pk, NULL);
	if (encrypt ? EVP_PKEY_encrypt_init(c) != 1 : EVP_PKEY_decrypt_init(c) != 1)
		printf("fake: crypt init\n");
	if (k->a.alg.variant == PSA_ENCRYPT_RSA_OAEP) {
		EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING);
		EVP_PKEY_CTX_set_rsa_oaep_md_name(c, "SHA256", NULL);
		EVP_PKEY_CTX_set_rsa_mgf1_md_name(c, "SHA256", NULL);
	} else {
		EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING);
	}
	return c;
}

static int fake_crypt(const struct fake_key *k, int encrypt, const ProtobufCBinaryData *in,
		      struct buf *out)
{
	if (psa_key_permits(&k->a, encrypt ? PSA_USAGE_ENCRYPT : PSA_USAGE_DECRYPT, NULL))
		return PSA_ERR_NOT_PERMITTED;
	EVP_PKEY_CTX *c = crypt_ctx(k, encrypt);
	uint8_t o[1024];
	size_t n = sizeof o;
	int ok = encrypt ? EVP_PKEY_encrypt(c, o, &n, in->data, in->len) == 1
			 : EVP_PKEY_decrypt(c, o, &n, in->data, in->len) == 1;
	EVP_PKEY_CTX_free(c);
	if (ok)
		buf_append(out, o, n);
	return ok ? PSA_OK : PSA_ERR_INVALID_PADDING;
}

static int fake_generate(const PsaGenerateKey__Operation *op)
{
	struct fake_key *k = &keys[n_keys];
	if (find(op->key_name))
		return PSA_ERR_ALREADY_EXISTS;
	if (n_keys == 16 || psa_attrs_from_pb(op->attributes, &k->a) != PSA_OK)
		return PSA_ERR_INVALID_ARGUMENT;
	if (k->a.type == PSA_KEY_RSA_PAIR)
		k->pk = EVP_RSA_gen(k->a.bits);
	else if (k->a.type == PSA_KEY_ECC_PAIR && psa_ecc_group(k->a.family, k->a.bits))
		k->pk = EVP_EC_gen(psa_ecc_group(k->a.family, k->a.bits));
	if (!k->pk)
		return PSA_ERR_NOT_SUPPORTED;
	snprintf(k->name, sizeof k->name, "%s", op->key_name);
	n_keys++;
	return PSA_OK;
}

static int fake_import(const PsaImportKey__Operation *op)
{
	struct fake_key *k = &keys[n_keys];
	if (n_keys == 16 || psa_attrs_from_pb(op->attributes, &k->a) != PSA_OK)
		return PSA_ERR_INVALID_ARGUMENT;
	snprintf(k->name, sizeof k->name, "%s", op->key_name);
	buf_append(&k->data, op->data.data, op->data.len);
	n_keys++;
	return PSA_OK;
}

static void fake_list_keys(int fd, const uint8_t *req)
{
	ListKeys__KeyInfo info[16], *list[16];
	static struct psa_attrs_pb pb[16];
	ListKeys__Result res = LIST_KEYS__RESULT__INIT;
	for (int i = 0; i < n_keys; i++) {
		list_keys__key_info__init(&info[i]);
		info[i].name = keys[i].name;
		info[i].provider_id = 1;
		psa_attrs_to_pb(&keys[i].a, &pb[i]);
		info[i].attributes = &pb[i].attrs;
		list[i] = &info[i];
	}
	res.n_keys = (size_t)n_keys;
	res.keys = list;
	answer(fd, req, 0, &res.base);
}

static void fake_core(int fd, const uint8_t *req, uint32_t opcode, const uint8_t *body,
		      size_t len)
{
	if (opcode == 0x01) {
		Ping__Result res = PING__RESULT__INIT;
		res.wire_protocol_version_maj = 1;
		answer(fd, req, 0, &res.base);
	} else if (opcode == 0x08) {
		ListProviders__ProviderInfo p[2], *list[2] = { &p[0], &p[1] };
		ListProviders__Result res = LIST_PROVIDERS__RESULT__INIT;
		list_providers__provider_info__init(&p[0]);
		list_providers__provider_info__init(&p[1]);
		p[0].uuid = "1c1139dc-ad7c-47dc-ad6b-db6fdb466552";
		p[0].description = "Software keys";
		p[0].vendor = "";
		p[0].version_min = 1;
		p[0].id = 1;
		p[1].uuid = "47049873-2a43-4845-9d72-831eab668784";
		p[1].description = "Core";
		p[1].vendor = "Assay";
		p[1].version_maj = 2;
		p[1].version_rev = 3;
		res.n_providers = 2;
		res.providers = list;
		answer(fd, req, 0, &res.base);
	} else if (opcode == 0x0e) {
		ListAuthenticators__AuthenticatorInfo a, *list[1] = { &a };
		ListAuthenticators__Result res = LIST_AUTHENTICATORS__RESULT__INIT;
		list_authenticators__authenticator_info__init(&a);
		a.description = "Unix peer credentials";
		a.version_maj = 0;
		a.version_min = 1;
		a.id = 3;
		res.n_authenticators = 1;
		res.authenticators = list;
		answer(fd, req, 0, &res.base);
	} else if (opcode == 0x09) {
		ListOpcodes__Operation *op = list_opcodes__operation__unpack(NULL, len, body);
		uint32_t ops[] = { 0x02, 0x04, 0x0d }, core[] = { 0x01, 0x08 };
		ListOpcodes__Result res = LIST_OPCODES__RESULT__INIT;
		int one = op && op->provider_id == 1;
		res.n_opcodes = one ? 3 : 2;
		res.opcodes = one ? ops : core;
		answer(fd, req, op && op->provider_id > 1 ? 5 : 0, &res.base);
		list_opcodes__operation__free_unpacked(op, NULL);
	} else if (opcode == 0x1a) {
		fake_list_keys(fd, req);
	} else {
		answer(fd, req, 21, NULL);	/* list/delete clients: not admin */
	}
}

/* Answers one request of the key operations. */
static void fake_key_op(int fd, const uint8_t *req, uint32_t opcode, const uint8_t *body,
			size_t len)
{
	struct buf out = BUF_INIT;
	int st = PSA_ERR_NOT_SUPPORTED;
	if (opcode == 0x02) {
		PsaGenerateKey__Operation *op = psa_generate_key__operation__unpack(NULL, len, body);
		st = op ? fake_generate(op) : 7;
		psa_generate_key__operation__free_unpacked(op, NULL);
		answer(fd, req, (uint16_t)st, NULL);
	} else if (opcode == 0x06) {
		PsaImportKey__Operation *op = psa_import_key__operation__unpack(NULL, len, body);
		st = op ? fake_import(op) : 7;
		psa_import_key__operation__free_unpacked(op, NULL);
		answer(fd, req, (uint16_t)st, NULL);
	} else if (opcode == 0x03) {
		PsaDestroyKey__Operation *op = psa_destroy_key__operation__unpack(NULL, len, body);
		struct fake_key *k = op ? find(op->key_name) : NULL;
		if (k) {
			EVP_PKEY_free(k->pk);
			buf_free(&k->data);
			*k = keys[--n_keys];
			memset(&keys[n_keys], 0, sizeof keys[n_keys]);
		}
		psa_destroy_key__operation__free_unpacked(op, NULL);
		answer(fd, req, k ? 0 : PSA_ERR_DOES_NOT_EXIST, NULL);
	} else if (opcode == 0x07) {
		PsaExportPublicKey__Operation *op =
			psa_export_public_key__operation__unpack(NULL, len, body);
		struct fake_key *k = op ? find(op->key_name) : NULL;
		PsaExportPublicKey__Result res = PSA_EXPORT_PUBLIC_KEY__RESULT__INIT;
		st = !k ? PSA_ERR_DOES_NOT_EXIST : fake_public(k, &out);
		res.data.data = out.data;
		res.data.len = out.len;
		answer(fd, req, (uint16_t)st, &res.base);
		psa_export_public_key__operation__free_unpacked(op, NULL);
	} else if (opcode == 0x04) {
		PsaSignHash__Operation *op = psa_sign_hash__operation__unpack(NULL, len, body);
		struct fake_key *k = op ? find(op->key_name) : NULL;
		PsaSignHash__Result res = PSA_SIGN_HASH__RESULT__INIT;
		st = !k || !k->pk ? PSA_ERR_DOES_NOT_EXIST : fake_sign(k, op, &out);
		res.signature.data = out.data;
		res.signature.len = out.len;
		answer(fd, req, (uint16_t)st, &res.base);
		psa_sign_hash__operation__free_unpacked(op, NULL);
	} else if (opcode == 0x05) {
		PsaVerifyHash__Operation *op = psa_verify_hash__operation__unpack(NULL, len, body);
		struct fake_key *k = op ? find(op->key_name) : NULL;
		st = !k || !k->pk ? PSA_ERR_DOES_NOT_EXIST : fake_verify(k, op);
		answer(fd, req, (uint16_t)st, NULL);
		psa_verify_hash__operation__free_unpacked(op, NULL);
	} else if (opcode == 0x0a) {
		PsaAsymmetricEncrypt__Operation *op =
			psa_asymmetric_encrypt__operation__unpack(NULL, len, body);
		struct fake_key *k = op ? find(op->key_name) : NULL;
		PsaAsymmetricEncrypt__Result res = PSA_ASYMMETRIC_ENCRYPT__RESULT__INIT;
		st = !k || !k->pk ? PSA_ERR_DOES_NOT_EXIST : fake_crypt(k, 1, &op->plaintext, &out);
		res.ciphertext.data = out.data;
		res.ciphertext.len = out.len;
		answer(fd, req, (uint16_t)st, &res.base);
		psa_asymmetric_encrypt__operation__free_unpacked(op, NULL);
	} else if (opcode == 0x0b) {
		PsaAsymmetricDecrypt__Operation *op =
			psa_asymmetric_decrypt__operation__unpack(NULL, len, body);
		struct fake_key *k = op ? find(op->key_name) : NULL;
		PsaAsymmetricDecrypt__Result res = PSA_ASYMMETRIC_DECRYPT__RESULT__INIT;
		st = !k || !k->pk ? PSA_ERR_DOES_NOT_EXIST : fake_crypt(k, 0, &op->ciphertext, &out);
		res.plaintext.data = out.data;
		res.plaintext.len = out.len;
		answer(fd, req, (uint16_t)st, &res.base);
		psa_asymmetric_decrypt__operation__free_unpacked(op, NULL);
	} else if (opcode == 0x0d) {
		PsaGenerateRandom__Operation *op =
			psa_generate_random__operation__unpack(NULL, len, body);
		PsaGenerateRandom__Result res = PSA_GENERATE_RANDOM__RESULT__INIT;
		uint8_t r[64];
		size_t n = op && op->size <= sizeof r ? op->size : 0;
		for (size_t i = 0; i < n; i++)
			r[i] = (uint8_t)(0xa0 + i);
		res.random_bytes.data = r;
		res.random_bytes.len = n;
		answer(fd, req, n ? 0 : PSA_ERR_INVALID_ARGUMENT, &res.base);
		psa_generate_random__operation__free_unpacked(op, NULL);
	} else {
		answer(fd, req, (uint16_t)st, NULL);
	}
	buf_free(&out);
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
	(void)arg;
	for (;;) {
		int fd = accept(fake_lfd, NULL, NULL);
		if (fd < 0)
			return NULL;
		struct buf r = BUF_INIT;
		if (read_n(fd, &r, 36) == 0) {
			uint32_t body = r.data[22] | r.data[23] << 8 | r.data[24] << 16 |
					(uint32_t)r.data[25] << 24;
			size_t auth = (size_t)(r.data[26] | r.data[27] << 8);
			uint32_t opcode = r.data[28] | r.data[29] << 8;
			if (read_n(fd, &r, body + auth) == 0) {
				last_auth_type = r.data[21];
				snprintf(last_auth, sizeof last_auth, "%.*s",
					 (int)(auth < 63 ? auth : 63), r.data + 36 + body);
				if (r.data[10] == 0)
					fake_core(fd, r.data, opcode, r.data + 36, body);
				else
					fake_key_op(fd, r.data, opcode, r.data + 36, body);
			}
		}
		buf_free(&r);
		close(fd);
	}
}

static void fake_start(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sock, sizeof sock, "%s/keyd.sock", dir);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
	fake_lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (bind(fake_lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fake_lfd, 8) < 0) {
		perror("fake: listen");
		exit(1);
	}
	pthread_create(&fake_thread, NULL, fake_run, NULL);
}

static void fake_stop(void)
{
	shutdown(fake_lfd, SHUT_RDWR);
	pthread_join(fake_thread, NULL);
	close(fake_lfd);
	unlink(sock);
	for (int i = 0; i < n_keys; i++) {
		EVP_PKEY_free(keys[i].pk);
		buf_free(&keys[i].data);
	}
}

/* ---- checks on what the CLI made ---- */

static EVP_PKEY *pem_pubkey(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
	BIO_free(b);
	return k;
}

/* A base64 signature (ECDSA in DER) of msg with SHA-256, checked with key. */
static int verifies(EVP_PKEY *key, const char *b64, const char *msg, int pss)
{
	struct buf sig = BUF_INIT;
	size_t n = strcspn(b64, "\n");
	int ok = b64_decode(&sig, b64, n) == 0;
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	ok = ok && EVP_DigestVerifyInit(m, &pc, EVP_sha256(), NULL, key) == 1;
	if (ok && pss) {
		EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING);
		EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST);
	}
	ok = ok && EVP_DigestVerify(m, sig.data, sig.len, (const uint8_t *)msg, strlen(msg)) == 1;
	EVP_MD_CTX_free(m);
	buf_free(&sig);
	return ok;
}

static int same_key(EVP_PKEY *a, EVP_PKEY *b)
{
	return a && b && EVP_PKEY_eq(a, b) == 1;
}

/* The CSR verifies with key and names subject (a substring of its
 * one-line form) and, when san is given, that SAN entry. */
static int csr_ok(const char *pem, EVP_PKEY *key, const char *subject, const char *san,
		  int nid_sig)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509_REQ *req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
	BIO_free(b);
	int ok = req && X509_REQ_verify(req, key) == 1;
	if (!ok)
		printf("  CSR does not verify\n");
	char line[512] = "";
	if (req)
		X509_NAME_oneline(X509_REQ_get_subject_name(req), line, sizeof line);
	if (ok && !strstr(line, subject)) {
		printf("  CSR subject %s lacks %s\n", line, subject);
		ok = 0;
	}
	if (ok && X509_REQ_get_signature_nid(req) != nid_sig) {
		printf("  CSR signature algorithm %d, not %d\n", X509_REQ_get_signature_nid(req),
		       nid_sig);
		ok = 0;
	}
	if (ok && san) {
		STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
		GENERAL_NAMES *g = NULL;
		for (int i = 0; exts && i < sk_X509_EXTENSION_num(exts) && !g; i++)
			if (OBJ_obj2nid(X509_EXTENSION_get_object(sk_X509_EXTENSION_value(exts, i)))
			    == NID_subject_alt_name)
				g = X509V3_EXT_d2i(sk_X509_EXTENSION_value(exts, i));
		int found = 0;
		for (int i = 0; g && i < sk_GENERAL_NAME_num(g); i++) {
			GENERAL_NAME *gn = sk_GENERAL_NAME_value(g, i);
			if (gn->type == GEN_DNS &&
			    !strcmp((const char *)ASN1_STRING_get0_data(gn->d.dNSName), san))
				found = 1;
		}
		if (!found)
			printf("  CSR lacks SAN %s\n", san);
		ok = found;
		GENERAL_NAMES_free(g);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
	X509_REQ_free(req);
	return ok;
}

static void test_core(void)
{
	struct run *r = KEY("ping");
	CHECK_INT(r->status, 0);
	CHECK_STR(r->out, "1.0\n");

	r = KEY("list-providers");
	CHECK_INT(r->status, 0);
	CHECK_STR(r->out,
		  "ID: 0x01 (Mbed Crypto provider)\nDescription: Software keys\n"
		  "Version: 0.1.0\nVendor: Unspecified\nUUID: 1c1139dc-ad7c-47dc-ad6b-db6fdb466552\n\n"
		  "ID: 0x00 (Core provider)\nDescription: Core\nVersion: 2.0.3\nVendor: Assay\n"
		  "UUID: 47049873-2a43-4845-9d72-831eab668784\n\n");
	CHECK_INT(last_auth_type, 0);	/* self-description goes without */

	r = KEY("list-authenticators");
	CHECK_INT(r->status, 0);
	CHECK_STR(r->out, "ID: 0x03 (Unix Peer Credentials authentication)\n"
		  "Description: Unix peer credentials\nVersion: 0.1.0\n\n");

	/* The default provider (the first listed that is not core), and
	 * --provider / -p. */
	r = KEY("list-opcodes");
	CHECK_INT(r->status, 0);
	CHECK_STR(r->out, "0x02 (PsaGenerateKey)\n0x04 (PsaSignHash)\n0x0d (PsaGenerateRandom)\n");
	r = KEY("list-opcodes", "-p", "0");
	CHECK_STR(r->out, "0x01 (Ping)\n0x08 (ListProviders)\n");
	r = KEY("list-opcodes", "--provider=3");
	CHECK_INT(r->status, 1);
	CHECK(strstr(r->err, "assay key list-opcodes: ProviderNotRegistered: ") != NULL);

	r = KEY("generate-random", "--nbytes", "4");
	CHECK_INT(r->status, 0);
	CHECK_STR(r->out, "A0 A1 A2 A3 \n");
	r = KEY("generate-random", "-n", "2");
	CHECK_STR(r->out, "A0 A1 \n");

	r = KEY("list-keys");
	CHECK_INT(r->status, 0);
	CHECK_STR(r->out, "");
	CHECK_INT(last_auth_type, 3);	/* Unix peer credentials */

	r = KEY("list-clients");
	CHECK_INT(r->status, 1);
	CHECK(strstr(r->err, "assay key list-clients: AdminOperation: this operation is for "
		     "administrators only") != NULL);
}

static void test_ecc(void)
{
	struct run *r = KEY("create-ecc-key", "-k", "ecc");
	CHECK_INT(r->status, 0);
	r = KEY("create-ecc-key", "--key-name", "ecc384", "--curve", "secp384r1");
	CHECK_INT(r->status, 0);
	r = KEY("list-keys");
	CHECK_STR(r->out,
		  "* ecc (Mbed Crypto provider, EccKeyPair { curve_family: SecpR1 }, 256 bits, "
		  "permitted algorithm: AsymmetricSignature(Ecdsa { hash_alg: Specific(Sha256) }))\n"
		  "* ecc384 (Mbed Crypto provider, EccKeyPair { curve_family: SecpR1 }, 384 bits, "
		  "permitted algorithm: AsymmetricSignature(Ecdsa { hash_alg: Specific(Sha384) }))\n");
	CHECK(find("ecc") && find("ecc")->a.usage == (PSA_USAGE_SIGN_HASH | PSA_USAGE_VERIFY_HASH |
		  PSA_USAGE_SIGN_MESSAGE | PSA_USAGE_VERIFY_MESSAGE));

	r = KEY("export-public-key", "--key-name", "ecc");
	CHECK_INT(r->status, 0);
	CHECK(!strncmp(r->out, "-----BEGIN PUBLIC KEY-----\n", 27));
	EVP_PKEY *pub = pem_pubkey(r->out);
	CHECK(same_key(pub, find("ecc") ? find("ecc")->pk : NULL));

	/* DATA before or after the options. */
	r = KEY("sign", "hello, key service", "-k", "ecc");
	CHECK_INT(r->status, 0);
	CHECK(verifies(pub, r->out, "hello, key service", 0));
	char sig[512];
	snprintf(sig, sizeof sig, "%.*s", (int)strcspn(r->out, "\n"), r->out);
	r = KEY("verify", "-k", "ecc", "--signature", sig, "hello, key service");
	CHECK_INT(r->status, 0);
	CHECK_STR(r->out, "Verified OK\n");
	r = KEY("verify", "-k", "ecc", "--signature", sig, "hello, key servicE");
	CHECK_INT(r->status, 1);
	CHECK(strstr(r->err, "assay key verify: PsaErrorInvalidSignature: ") != NULL);

	r = KEY("create-csr", "-k", "ecc", "--cn", "node1.example", "--o", "Assay", "--c", "DE",
		"--serialNumber", "EZ4U2CIXL", "--san", "localhost,127.0.0.1");
	CHECK_INT(r->status, 0);
	CHECK(strstr(r->out, "-----BEGIN CERTIFICATE REQUEST-----\n") == r->out);
	CHECK(csr_ok(r->out, pub, "/CN=node1.example/O=Assay/C=DE/serialNumber=EZ4U2CIXL",
		     "localhost", NID_ecdsa_with_SHA256));
	EVP_PKEY_free(pub);

	r = KEY("export-public-key", "-k", "ecc384");
	pub = pem_pubkey(r->out);
	r = KEY("create-csr", "-k", "ecc384", "--cn", "big");
	CHECK_INT(r->status, 0);
	CHECK(csr_ok(r->out, pub, "/CN=big", NULL, NID_ecdsa_with_SHA384));
	EVP_PKEY_free(pub);

	r = KEY("export-public-key", "-k", "ecc", "--pkcs1");
	CHECK_INT(r->status, 1);
	CHECK(strstr(r->err, "PKCS1 format doesn't support ECC keys") != NULL);
}

static void test_rsa(void)
{
	struct run *r = KEY("create-rsa-key", "-k", "rsa-sign", "--for-signing");
	CHECK_INT(r->status, 0);
	r = KEY("create-rsa-key", "-k", "rsa-pss", "-r", "-b", "3072");
	CHECK_INT(r->status, 0);
	r = KEY("create-rsa-key", "-k", "rsa-enc");
	CHECK_INT(r->status, 0);
	r = KEY("create-rsa-key", "-k", "rsa-oaep", "--oaep");
	CHECK_INT(r->status, 0);
	r = KEY("list-keys");
	CHECK(strstr(r->out, "* rsa-sign (Mbed Crypto provider, RsaKeyPair, 2048 bits, permitted "
		     "algorithm: AsymmetricSignature(RsaPkcs1v15Sign { hash_alg: Specific(Sha256) "
		     "}))\n") != NULL);
	CHECK(strstr(r->out, "* rsa-pss (Mbed Crypto provider, RsaKeyPair, 3072 bits, permitted "
		     "algorithm: AsymmetricSignature(RsaPss { hash_alg: Specific(Sha256) }))\n"));
	CHECK(strstr(r->out, "* rsa-enc (Mbed Crypto provider, RsaKeyPair, 2048 bits, permitted "
		     "algorithm: AsymmetricEncryption(RsaPkcs1v15Crypt))\n"));
	CHECK(strstr(r->out, "* rsa-oaep (Mbed Crypto provider, RsaKeyPair, 2048 bits, permitted "
		     "algorithm: AsymmetricEncryption(RsaOaep { hash_alg: Sha256 }))\n"));
	CHECK(find("rsa-enc") && find("rsa-enc")->a.usage == (PSA_USAGE_ENCRYPT |
							       PSA_USAGE_DECRYPT));

	r = KEY("export-public-key", "-k", "rsa-sign");
	EVP_PKEY *pub = pem_pubkey(r->out);
	CHECK(same_key(pub, find("rsa-sign") ? find("rsa-sign")->pk : NULL));
	r = KEY("sign", "-k", "rsa-sign", "text to sign");
	CHECK_INT(r->status, 0);
	CHECK(verifies(pub, r->out, "text to sign", 0));
	r = KEY("create-csr", "-k", "rsa-sign", "--cn", "rsa.example", "--ou", "ops");
	CHECK(csr_ok(r->out, pub, "/CN=rsa.example/OU=ops", NULL, NID_sha256WithRSAEncryption));
	EVP_PKEY_free(pub);
	r = KEY("export-public-key", "-k", "rsa-sign", "--pkcs1");
	CHECK(!strncmp(r->out, "-----BEGIN RSA PUBLIC KEY-----\n", 31));

	r = KEY("export-public-key", "-k", "rsa-pss");
	pub = pem_pubkey(r->out);
	r = KEY("sign", "-k", "rsa-pss", "pss text");
	CHECK(verifies(pub, r->out, "pss text", 1));
	r = KEY("create-csr", "-k", "rsa-pss", "--cn", "pss.example", "--st", "Bavaria",
		"--l", "Munich");
	CHECK_INT(r->status, 0);
	CHECK(csr_ok(r->out, pub, "/CN=pss.example/L=Munich/ST=Bavaria", NULL, NID_rsassaPss));
	EVP_PKEY_free(pub);

	/* Encryption both ways: the CLI's ciphertext opens with the private
	 * key, and the CLI opens one made with the public key. */
	const char *names[] = { "rsa-enc", "rsa-oaep" };
	for (int i = 0; i < 2; i++) {
		r = KEY("encrypt", "-k", names[i], "a secret message");
		CHECK_INT(r->status, 0);
		struct buf ct = BUF_INIT, pt = BUF_INIT;
		CHECK_INT(b64_decode(&ct, r->out, strcspn(r->out, "\n")), 0);
		CHECK(find(names[i]) && fake_crypt(find(names[i]), 0,
			&(ProtobufCBinaryData){ ct.len, ct.data }, &pt) == PSA_OK);
		CHECK(pt.len == 16 && !memcmp(pt.data, "a secret message", 16));
		buf_reset(&ct);
		CHECK(find(names[i]) && fake_crypt(find(names[i]), 1,
			&(ProtobufCBinaryData){ 5, (uint8_t *)"hello" }, &ct) == PSA_OK);
		char *b64 = b64_encode_str(ct.data, ct.len);
		r = KEY("decrypt", b64, "-k", names[i]);
		CHECK_INT(r->status, 0);
		CHECK_STR(r->out, "hello\n");
		free(b64);
		buf_free(&ct);
		buf_free(&pt);
	}
	r = KEY("encrypt", "-k", "rsa-sign", "x");
	CHECK_INT(r->status, 1);
	CHECK(strstr(r->err, "cannot be used for encryption") != NULL);
	r = KEY("sign", "-k", "rsa-enc", "x");
	CHECK_INT(r->status, 1);
	CHECK(strstr(r->err, "not a signature algorithm") != NULL);

	r = KEY("delete-key", "-k", "rsa-enc");
	CHECK_INT(r->status, 0);
	CHECK(find("rsa-enc") == NULL);
	r = KEY("delete-key", "-k", "rsa-enc");
	CHECK_INT(r->status, 1);
	CHECK_STR(r->err, "assay key delete-key: PsaErrorDoesNotExist: the key does not exist\n");
	r = KEY("sign", "-k", "nothere", "x");
	CHECK_INT(r->status, 1);
	CHECK(strstr(r->err, "assay key sign: PsaErrorDoesNotExist: the key does not exist") ==
	      r->err);
}

static void write_pem(const char *path, EVP_PKEY *k, int private)
{
	FILE *f = fopen(path, "w");
	if (private)
		PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	else
		PEM_write_PUBKEY(f, k);
	fclose(f);
}

static void test_import(void)
{
	char path[200];
	EVP_PKEY *ec = EVP_EC_gen("P-256"), *rsa = EVP_RSA_gen(2048);
	snprintf(path, sizeof path, "%s/ec.pem", dir);
	write_pem(path, ec, 1);
	struct run *r = KEY("import-key", "-k", "imported-ec", "--file", path);
	CHECK_INT(r->status, 0);
	struct fake_key *k = find("imported-ec");
	CHECK(k != NULL);
	if (k) {
		BIGNUM *d = NULL;
		uint8_t scalar[32];
		EVP_PKEY_get_bn_param(ec, OSSL_PKEY_PARAM_PRIV_KEY, &d);
		BN_bn2binpad(d, scalar, 32);
		BN_free(d);
		CHECK_INT(k->a.type, PSA_KEY_ECC_PAIR);
		CHECK_INT(k->a.family, PSA_ECC_SECP_R1);
		CHECK_INT(k->a.bits, 256);
		CHECK_INT(k->a.alg.variant, PSA_SIGN_ECDSA);
		CHECK_INT(k->a.alg.hash, PSA_HASH_SHA_256);
		CHECK(k->data.len == 32 && !memcmp(k->data.data, scalar, 32));
	}
	snprintf(path, sizeof path, "%s/rsa-pub.pem", dir);
	write_pem(path, rsa, 0);
	r = KEY("import-key", "-k", "imported-rsa", "--file", path, "--oaep");
	CHECK_INT(r->status, 0);
	k = find("imported-rsa");
	CHECK(k != NULL);
	if (k) {
		unsigned char *der = NULL;
		int n = i2d_PublicKey(rsa, &der);
		CHECK_INT(k->a.type, PSA_KEY_RSA_PUBLIC);
		CHECK_INT(k->a.bits, 2048);
		CHECK_INT(k->a.usage, PSA_USAGE_ENCRYPT);
		CHECK_INT(k->a.alg.variant, PSA_ENCRYPT_RSA_OAEP);
		CHECK(k->data.len == (size_t)n && !memcmp(k->data.data, der, (size_t)n));
		OPENSSL_free(der);
	}
	snprintf(path, sizeof path, "%s/rsa.der", dir);
	FILE *f = fopen(path, "w");
	i2d_PrivateKey_fp(f, rsa);
	fclose(f);
	r = KEY("import-key", "-k", "imported-rsa-pair", "--file", path, "-s");
	CHECK_INT(r->status, 0);
	k = find("imported-rsa-pair");
	if (k) {
		unsigned char *der = NULL;
		int n = i2d_PrivateKey(rsa, &der);
		CHECK_INT(k->a.type, PSA_KEY_RSA_PAIR);
		CHECK_INT(k->a.alg.variant, PSA_SIGN_RSA_PKCS1V15);
		/* PSA's RSA key pair format: PKCS#1 RSAPrivateKey. */
		CHECK(k->data.len == (size_t)n && !memcmp(k->data.data, der, (size_t)n));
		CHECK(k->data.len > 4 && k->data.data[0] == 0x30);
		OPENSSL_clear_free(der, (size_t)n);
	}
	r = KEY("import-key", "-k", "x", "--file", "/nonexistent");
	CHECK_INT(r->status, 1);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
}

static void test_usage(void)
{
	struct run *r = key_env(NULL, NULL);
	CHECK_INT(r->status, 2);
	CHECK(strstr(r->err, "usage: assay key") != NULL);
	r = key_env(NULL, "--help", NULL);
	CHECK_INT(r->status, 0);
	CHECK(strstr(r->out, "create-csr") != NULL);
	r = KEY("frobnicate");
	CHECK_INT(r->status, 2);
	CHECK(strstr(r->err, "unknown command 'frobnicate'") != NULL);
	r = KEY("sign", "-k", "ecc");
	CHECK_INT(r->status, 2);
	CHECK(strstr(r->err, "give the DATA") != NULL);
	r = KEY("sign", "-k", "ecc", "one", "two");
	CHECK_INT(r->status, 2);
	r = KEY("sign", "one");
	CHECK_INT(r->status, 2);
	CHECK_STR(r->err, "assay key sign: --key-name is required\n");
	r = KEY("delete-key", "--bogus");
	CHECK_INT(r->status, 2);
	r = KEY("create-ecc-key", "-k", "e", "--curve", "P-999");
	CHECK_INT(r->status, 2);
	r = KEY("create-csr", "-k", "ecc", "--c", "Germany");
	CHECK_INT(r->status, 2);
	r = KEY("sign", "--help");
	CHECK_INT(r->status, 0);
	CHECK(strstr(r->out, "--key-name") != NULL);

	/* Global options before the command; the environment's endpoint;
	 * direct authentication. */
	r = key_env(NULL, "--endpoint", sock, "--direct-app", "tester", "list-keys", NULL);
	CHECK_INT(r->status, 0);
	CHECK_INT(last_auth_type, 1);
	CHECK_STR(last_auth, "tester");
	char env[200];
	snprintf(env, sizeof env, "PARSEC_SERVICE_ENDPOINT=unix:%s", sock);
	r = key_env(env, "ping", NULL);
	CHECK_INT(r->status, 0);
	r = key_env(NULL, "--endpoint", "/nonexistent/keyd.sock", "ping", NULL);
	CHECK_INT(r->status, 1);
	CHECK(strstr(r->err, "assay key ping: ConnectionError: the connection failed (connect "
		     "/nonexistent/keyd.sock: ") == r->err);
}

/* ---- against assay-keyd itself ---- */

static void test_keyd(void)
{
	const char *keyd = daemon_program("keyd/assay-keyd");
	if (access(keyd, X_OK) != 0) {
		printf("assay-keyd is not built: its part is skipped\n");
		return;
	}
	printf("assay-keyd: the commands end to end\n");
	char state[200], socket_arg[300], state_arg[300], log[200];
	snprintf(state, sizeof state, "%s/keyd", dir);
	snprintf(sock, sizeof sock, "%s/keyd/keyd.sock", dir);
	snprintf(socket_arg, sizeof socket_arg, "--socket=%s", sock);
	snprintf(state_arg, sizeof state_arg, "--state-dir=%s", state);
	snprintf(log, sizeof log, "%s/keyd.log", dir);
	char *argv[] = { (char *)keyd, socket_arg, state_arg, "--providers=software",
			 "--authenticators=unix-peer-credentials", "--allow-root", NULL };
	pid_t pid = daemon_start(argv, log);
	CHECK(pid > 0);
	struct run *r = NULL;
	for (int i = 0; i < 100; i++) {
		r = KEY("ping");
		if (r->status == 0)
			break;
		usleep(50000);
	}
	CHECK_INT(r->status, 0);
	CHECK_STR(r->out, "1.0\n");
	r = KEY("list-providers");
	CHECK(strstr(r->out, "ID: 0x01 (Mbed Crypto provider)\n") == r->out);

	r = KEY("create-ecc-key", "-k", "e2e-ecc");
	CHECK_INT(r->status, 0);
	r = KEY("export-public-key", "-k", "e2e-ecc");
	EVP_PKEY *pub = pem_pubkey(r->out);
	CHECK(pub != NULL);
	r = KEY("sign", "-k", "e2e-ecc", "end to end");
	CHECK(verifies(pub, r->out, "end to end", 0));
	char sig[512];
	snprintf(sig, sizeof sig, "%.*s", (int)strcspn(r->out, "\n"), r->out);
	r = KEY("verify", "-k", "e2e-ecc", "--signature", sig, "end to end");
	CHECK_STR(r->out, "Verified OK\n");
	r = KEY("create-csr", "-k", "e2e-ecc", "--cn", "e2e", "--serialNumber", "42");
	CHECK(csr_ok(r->out, pub, "/CN=e2e/serialNumber=42", NULL, NID_ecdsa_with_SHA256));
	EVP_PKEY_free(pub);

	r = KEY("create-rsa-key", "-k", "e2e-rsa", "--oaep");
	CHECK_INT(r->status, 0);
	r = KEY("encrypt", "-k", "e2e-rsa", "round trip");
	char ct[1024];
	snprintf(ct, sizeof ct, "%.*s", (int)strcspn(r->out, "\n"), r->out);
	r = KEY("decrypt", "-k", "e2e-rsa", ct);
	CHECK_STR(r->out, "round trip\n");
	r = KEY("create-rsa-key", "-k", "e2e-pss", "--for-signing-pss");
	r = KEY("export-public-key", "-k", "e2e-pss");
	pub = pem_pubkey(r->out);
	r = KEY("create-csr", "-k", "e2e-pss", "--cn", "pss");
	CHECK(csr_ok(r->out, pub, "/CN=pss", NULL, NID_rsassaPss));
	EVP_PKEY_free(pub);
	r = KEY("list-keys");
	CHECK(strstr(r->out, "* e2e-ecc (Mbed Crypto provider, EccKeyPair") != NULL);
	for (const char *const *n = (const char *const[]){ "e2e-ecc", "e2e-rsa", "e2e-pss", NULL };
	     *n; n++) {
		r = KEY("delete-key", "-k", *n);
		CHECK_INT(r->status, 0);
	}
	r = KEY("delete-key", "-k", "e2e-ecc");
	CHECK_STR(r->err, "assay key delete-key: PsaErrorDoesNotExist: the key does not exist\n");
	CHECK_INT(daemon_stop(pid, 0), 0);
}

int main(void)
{
	if (access(daemon_program("cli/assay"), X_OK) != 0)
		CHECK_SKIP("%s is not built", daemon_program("cli/assay"));
	snprintf(dir, sizeof dir, "/tmp/assay-key-cli-XXXXXX");
	if (!mkdtemp(dir))
		CHECK_SKIP("cannot create a temporary directory");
	unsetenv("PARSEC_SERVICE_ENDPOINT");
	fake_start();
	test_core();
	test_ecc();
	test_rsa();
	test_import();
	test_usage();
	fake_stop();
	test_keyd();
	if (!check_failures) {
		char cmd[200];
		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
		if (system(cmd) != 0)
			printf("cannot remove %s\n", dir);
	} else {
		printf("files kept in %s\n", dir);
	}
	return check_done();
}
