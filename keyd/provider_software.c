/* The software provider (Parsec provider 1, "Mbed Crypto" upstream): keys
 * held and used in this process with OpenSSL 3.
 *
 * It keeps no store of its own. The reference a key gets IS the key,
 * sealed with AES-256-GCM under a 32-byte master key:
 *
 *	ref = version (1) || nonce (12) || ciphertext || tag (16)
 *
 * The plaintext is the key in PSA's export format (pkey_export_private for
 * asymmetric keys, the bytes for symmetric ones); the additional data is
 * version || type || family || bits (big-endian 32-bit words), so a
 * reference presented as a key of another type or curve fails to open.
 * The bits bound are those the key was created with: an import may say 0
 * ("whatever the data says"), and a reference sealed so opens under the
 * key's real size too, after which the material itself must have that
 * size. Nothing exists outside the reference, so an interrupted create
 * leaves nothing behind (plan is NULL) and destroy has nothing to do.
 *
 * Opening a reference (decrypting it, rebuilding the OpenSSL key) costs
 * more than most operations, so opened keys are kept in a small cache,
 * found by the reference's tag (random per sealing) and matched on the
 * whole reference, behind a read-write lock; entries are dropped on destroy, when evicted and at
 * close (wiped). Keys thus stay in memory as the master key does.
 *
 * The master key lives in memory from open to close (then wiped) and is
 * only read after open; OpenSSL is thread
 * safe. Decrypted key material is wiped as soon as each operation ends. */
#include "keyd/provider.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "config/config.h"
#include "keyd/pkey.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/secure.h"

#define SW_MASTER_LEN 32
#define SW_REF_VERSION 1
#define SW_NONCE_LEN 12
#define SW_TAG_LEN 16
#define SW_AAD_LEN 13
/* The largest plaintext is an 8192-bit RSAPrivateKey (about 4.7 KB). */
#define SW_REF_MAX 8192
#define SW_SYM_MAX 1024		/* HMAC, raw data, derive: 8192 bits */
#define SW_RANDOM_MAX ((size_t)1 << 20)

#define SW_CACHE 256		/* opened keys kept */
#define SW_ID_LEN (SW_NONCE_LEN + SW_TAG_LEN)

struct sw_cached {
	uint8_t id[SW_ID_LEN];	/* the reference's nonce and tag */
	struct buf ref;		/* the whole reference, compared on lookup */
	int used;
	struct psa_attrs a;	/* the attributes it was opened with */
	struct psa_attrs ka;	/* ... and those it turned out to have */
	EVP_PKEY *k;		/* asymmetric keys */
	struct buf secret;	/* the key material */
};

struct sw_state {
	uint8_t master[SW_MASTER_LEN];
	pthread_rwlock_t lock;	/* the cache */
	struct sw_cached cache[SW_CACHE];
};

/* ---- the master key ---- */

static int master_read(const char *path, uint8_t key[SW_MASTER_LEN], char *err,
		       size_t errlen)
{
	struct buf b = BUF_INIT;
	struct stat sb;

	if (stat(path, &sb) != 0) {
		error_set(err, errlen, "software master key %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		error_set(err, errlen, "software master key %s is not a regular file", path);
		return -1;
	}
	if (sb.st_mode & 077) {
		error_set(err, errlen,
			  "software master key %s is accessible by group or others "
			  "(mode %03o); it must be mode 0600", path,
			  (unsigned)(sb.st_mode & 0777));
		return -1;
	}
	if (file_read(path, SW_MASTER_LEN + 1, &b) != 0 || b.len != SW_MASTER_LEN) {
		if (errno == EFBIG || b.len != SW_MASTER_LEN)
			error_set(err, errlen, "software master key %s must be exactly %d bytes",
				  path, SW_MASTER_LEN);
		else
			error_set(err, errlen, "software master key %s: %s", path,
				  strerror(errno));
		buf_free(&b);
		return -1;
	}
	memcpy(key, b.data, SW_MASTER_LEN);
	buf_free(&b);
	return 0;
}

/* A new master key, written atomically with mode 0600, then read back so
 * that what is used is what another start will find. */
static int master_create(const char *path, uint8_t key[SW_MASTER_LEN], char *err,
			 size_t errlen)
{
	uint8_t fresh[SW_MASTER_LEN];
	char dir[4096];
	const char *slash = strrchr(path, '/');
	int rc = -1;

	if (slash && slash != path) {
		size_t n = (size_t)(slash - path);

		if (n >= sizeof dir) {
			error_set(err, errlen, "software master key path is too long");
			return -1;
		}
		memcpy(dir, path, n);
		dir[n] = 0;
		if (file_mkdirs(dir, 0700) != 0) {
			error_set(err, errlen, "cannot create %s: %s", dir, strerror(errno));
			return -1;
		}
	}
	if (RAND_priv_bytes(fresh, sizeof fresh) != 1) {
		ERR_clear_error();
		error_set(err, errlen, "no randomness for the software master key");
		return -1;
	}
	if (file_write_atomic(path, fresh, sizeof fresh, 0600) != 0) {
		error_set(err, errlen, "cannot write software master key %s: %s", path,
			  strerror(errno));
	} else if (master_read(path, key, err, errlen) == 0) {
		if (secure_equal(key, fresh, sizeof fresh)) {
			log_info("software: created master key %s", path);
			rc = 0;
		} else {
			error_set(err, errlen, "software master key %s changed while it "
				  "was being created", path);
		}
	}
	secure_wipe(fresh, sizeof fresh);
	return rc;
}

static int sw_open(struct provider *p, const struct config *cfg, char *err, size_t errlen)
{
	struct sw_state *s;
	char def[4096];
	const char *path;
	struct stat sb;
	int rc;

	if (config_isset(cfg, "software_master_key")) {
		path = config_str(cfg, "software_master_key");
	} else if (config_isset(cfg, "state_dir")) {
		if (path_join(def, sizeof def, config_str(cfg, "state_dir"),
			      "software.key") != 0) {
			error_set(err, errlen, "software master key path is too long");
			return -1;
		}
		path = def;
	} else {
		error_set(err, errlen, "software: neither software_master_key nor "
			  "state_dir is set");
		return -1;
	}
	s = calloc(1, sizeof *s);
	if (!s) {
		error_set(err, errlen, "out of memory");
		return -1;
	}
	if (stat(path, &sb) != 0 && errno == ENOENT)
		rc = master_create(path, s->master, err, errlen);
	else
		rc = master_read(path, s->master, err, errlen);
	if (rc != 0) {
		secure_wipe(s, sizeof *s);
		free(s);
		return -1;
	}
	pthread_rwlock_init(&s->lock, NULL);
	p->state = s;
	return 0;
}

static void cache_clear(struct sw_cached *c)
{
	EVP_PKEY_free(c->k);
	buf_free(&c->secret);
	buf_free(&c->ref);
	memset(c, 0, sizeof *c);
}

static void sw_close(struct provider *p)
{
	struct sw_state *s = p->state;

	if (s) {
		for (int i = 0; i < SW_CACHE; i++)
			cache_clear(&s->cache[i]);
		pthread_rwlock_destroy(&s->lock);
		secure_wipe(s, sizeof *s);
		free(s);
	}
	p->state = NULL;
}

/* ---- references ---- */

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void ref_aad(const struct psa_attrs *a, uint32_t bits, uint8_t aad[SW_AAD_LEN])
{
	aad[0] = SW_REF_VERSION;
	put_be32(aad + 1, (uint32_t)a->type);
	put_be32(aad + 5, (uint32_t)a->family);
	put_be32(aad + 9, bits);
}

static int ref_seal(const struct sw_state *s, const struct psa_attrs *a,
		    const uint8_t *key, size_t n, struct buf *ref)
{
	uint8_t nonce[SW_NONCE_LEN], aad[SW_AAD_LEN];
	EVP_CIPHER_CTX *ctx = NULL;
	int len = 0, fin = 0, st = PSA_ERR_INSUFFICIENT_MEMORY;

	if (n > SW_REF_MAX)
		return PSA_ERR_GENERIC;
	if (RAND_bytes(nonce, sizeof nonce) != 1) {
		ERR_clear_error();
		return PSA_ERR_INSUFFICIENT_ENTROPY;
	}
	ref_aad(a, a->bits, aad);
	buf_reset(ref);
	if (buf_reserve(ref, 1 + SW_NONCE_LEN + n + SW_TAG_LEN) != 0)
		return st;
	buf_append_u8(ref, SW_REF_VERSION);
	buf_append(ref, nonce, sizeof nonce);
	ctx = EVP_CIPHER_CTX_new();
	st = PSA_ERR_GENERIC;
	if (ctx && EVP_EncryptInit_ex2(ctx, EVP_aes_256_gcm(), s->master, nonce, NULL) &&
	    EVP_EncryptUpdate(ctx, NULL, &len, aad, sizeof aad) &&
	    EVP_EncryptUpdate(ctx, ref->data + ref->len, &len, key, (int)n) &&
	    EVP_EncryptFinal_ex(ctx, ref->data + ref->len + len, &fin) &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, SW_TAG_LEN,
				ref->data + ref->len + len + fin) == 1) {
		ref->len += (size_t)(len + fin) + SW_TAG_LEN;
		ref->data[ref->len] = 0;
		st = PSA_OK;
	} else {
		ERR_clear_error();
		buf_reset(ref);
	}
	EVP_CIPHER_CTX_free(ctx);
	return st;
}

/* 1 opened, 0 the tag did not match, -1 failure. */
static int ref_try_open(const struct sw_state *s, const uint8_t aad[SW_AAD_LEN],
			const struct buf *ref, struct buf *out)
{
	const uint8_t *nonce = ref->data + 1;
	const uint8_t *ct = nonce + SW_NONCE_LEN;
	size_t cn = ref->len - 1 - SW_NONCE_LEN - SW_TAG_LEN;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int len = 0, fin = 0, rc = -1;

	buf_reset(out);
	if (!ctx || buf_reserve(out, cn + 16) != 0)
		goto out;
	if (!EVP_DecryptInit_ex2(ctx, EVP_aes_256_gcm(), s->master, nonce, NULL) ||
	    !EVP_DecryptUpdate(ctx, NULL, &len, aad, SW_AAD_LEN) ||
	    !EVP_DecryptUpdate(ctx, out->data, &len, ct, (int)cn) ||
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, SW_TAG_LEN,
				 (void *)(ct + cn)))
		goto out;
	if (EVP_DecryptFinal_ex(ctx, out->data + len, &fin) <= 0) {
		/* Unauthenticated plaintext never leaves. */
		secure_wipe(out->data, cn + 16);
		rc = 0;
		goto out;
	}
	out->len = (size_t)(len + fin);
	out->data[out->len] = 0;
	rc = 1;
out:
	ERR_clear_error();
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* The key material a reference holds, for a key with attributes a. */
static int ref_open(const struct sw_state *s, const struct psa_attrs *a,
		    const struct buf *ref, struct buf *out)
{
	uint8_t aad[SW_AAD_LEN];
	int rc;

	if (!s)
		return PSA_ERR_BAD_STATE;
	if (!ref || ref->len < 1 + SW_NONCE_LEN + 1 + SW_TAG_LEN ||
	    ref->len > 1 + SW_NONCE_LEN + SW_REF_MAX + SW_TAG_LEN ||
	    ref->data[0] != SW_REF_VERSION)
		return PSA_ERR_DATA_INVALID;
	ref_aad(a, a->bits, aad);
	rc = ref_try_open(s, aad, ref, out);
	if (rc == 0 && a->bits) {
		/* Sealed by an import that left the size to the data. */
		ref_aad(a, 0, aad);
		rc = ref_try_open(s, aad, ref, out);
	}
	if (rc < 0)
		return PSA_ERR_GENERIC;
	if (rc == 0) {
		log_warn("software: a key reference does not open: it belongs to "
			 "another key type or another master key, or is damaged");
		return PSA_ERR_DATA_CORRUPT;
	}
	return PSA_OK;
}

/* ---- key material ---- */

/* Whether n bytes are a valid symmetric key of type t (0: not a type
 * this provider keeps). */
static int sym_size_ok(enum psa_key_type t, size_t n)
{
	switch (t) {
	case PSA_KEY_AES:
		return n == 16 || n == 24 || n == 32;
	case PSA_KEY_CHACHA20:
		return n == 32;
	case PSA_KEY_HMAC:
	case PSA_KEY_RAW_DATA:
	case PSA_KEY_DERIVE:
		return n >= 1 && n <= SW_SYM_MAX;
	default:
		return 0;
	}
}

static int sym_type(enum psa_key_type t)
{
	return t == PSA_KEY_AES || t == PSA_KEY_CHACHA20 || t == PSA_KEY_HMAC ||
	       t == PSA_KEY_RAW_DATA || t == PSA_KEY_DERIVE;
}

static int pkey_type(enum psa_key_type t)
{
	return t == PSA_KEY_RSA_PAIR || t == PSA_KEY_RSA_PUBLIC || t == PSA_KEY_ECC_PAIR ||
	       t == PSA_KEY_ECC_PUBLIC;
}

/* ---- the cache of opened keys ---- */

static int ref_id(const struct buf *ref, uint8_t id[SW_ID_LEN])
{
	if (!ref || ref->len < 1 + SW_NONCE_LEN + 1 + SW_TAG_LEN)
		return -1;
	memcpy(id, ref->data + 1, SW_NONCE_LEN);
	memcpy(id + SW_NONCE_LEN, ref->data + ref->len - SW_TAG_LEN, SW_TAG_LEN);
	return 0;
}

static unsigned slot_of(const uint8_t id[SW_ID_LEN])
{
	/* The tag is uniformly random: its first bytes index well. */
	return ((unsigned)id[SW_NONCE_LEN] | (unsigned)id[SW_NONCE_LEN + 1] << 8) % SW_CACHE;
}

static int same_attrs(const struct psa_attrs *x, const struct psa_attrs *y)
{
	return x->type == y->type && x->family == y->family && x->bits == y->bits;
}

/* A cached key for ref opened as a: copies handed out. 0 hit, -1 miss. */
static int cache_get(struct sw_state *s, const struct psa_attrs *a, const struct buf *ref,
		     struct psa_attrs *ka, EVP_PKEY **k, struct buf *secret)
{
	uint8_t id[SW_ID_LEN];
	int hit = -1;
	if (ref_id(ref, id) < 0)
		return -1;
	pthread_rwlock_rdlock(&s->lock);
	const struct sw_cached *c = &s->cache[slot_of(id)];
	if (c->used && memcmp(c->id, id, SW_ID_LEN) == 0 && same_attrs(&c->a, a) &&
	    c->ref.len == ref->len && memcmp(c->ref.data, ref->data, ref->len) == 0) {
		*ka = *a;
		ka->bits = c->ka.bits;
		if (k && c->k && EVP_PKEY_up_ref(c->k))
			*k = c->k;
		buf_reset(secret);
		if ((!k || *k) && buf_append(secret, c->secret.data, c->secret.len) == 0)
			hit = 0;
	}
	pthread_rwlock_unlock(&s->lock);
	if (hit < 0 && k && *k) {
		EVP_PKEY_free(*k);
		*k = NULL;
	}
	return hit;
}

static void cache_put(struct sw_state *s, const struct psa_attrs *a, const struct buf *ref,
		      const struct psa_attrs *ka, EVP_PKEY *k, const struct buf *secret)
{
	uint8_t id[SW_ID_LEN];
	if (ref_id(ref, id) < 0)
		return;
	pthread_rwlock_wrlock(&s->lock);
	struct sw_cached *c = &s->cache[slot_of(id)];
	cache_clear(c);
	memcpy(c->id, id, SW_ID_LEN);
	c->a = *a;
	c->ka = *ka;
	if (k && EVP_PKEY_up_ref(k))
		c->k = k;
	c->used = buf_append(&c->secret, secret->data, secret->len) == 0 &&
		  buf_append(&c->ref, ref->data, ref->len) == 0 && (!k || c->k);
	if (!c->used)
		cache_clear(c);
	pthread_rwlock_unlock(&s->lock);
}

static void cache_drop(struct sw_state *s, const struct buf *ref)
{
	uint8_t id[SW_ID_LEN];
	if (!s || ref_id(ref, id) < 0)
		return;
	pthread_rwlock_wrlock(&s->lock);
	struct sw_cached *c = &s->cache[slot_of(id)];
	if (c->used && memcmp(c->id, id, SW_ID_LEN) == 0)
		cache_clear(c);
	pthread_rwlock_unlock(&s->lock);
}

/* Opens a key: ka gets a's attributes with the key's real size; an
 * asymmetric key comes as *k (when k is given), a symmetric one as its
 * bytes in secret. The caller frees both (buf_free wipes). */
static int sw_key(struct provider *p, const struct psa_attrs *a, const struct buf *ref,
		  struct psa_attrs *ka, EVP_PKEY **k, struct buf *secret)
{
	int st;

	if (k)
		*k = NULL;
	*ka = *a;
	if (!pkey_type(a->type) && !sym_type(a->type))
		return PSA_ERR_NOT_SUPPORTED;
	if (p->state && cache_get(p->state, a, ref, ka, pkey_type(a->type) ? k : NULL,
				  secret) == 0)
		return PSA_OK;
	st = ref_open(p->state, a, ref, secret);
	if (st != PSA_OK)
		return st;
	if (pkey_type(a->type)) {
		EVP_PKEY *key = NULL;

		/* Authenticated, so loaded without import's costly checks;
		 * a size other than the attributes' fails here. */
		if (pkey_load(ka, secret->data, secret->len, &key) != PSA_OK)
			return PSA_ERR_DATA_CORRUPT;
		cache_put(p->state, a, ref, ka, key, secret);
		if (k)
			*k = key;
		else
			EVP_PKEY_free(key);
		return PSA_OK;
	}
	if (!sym_size_ok(a->type, secret->len) || (a->bits && a->bits != 8 * secret->len))
		return PSA_ERR_DATA_CORRUPT;
	ka->bits = (uint32_t)(8 * secret->len);
	cache_put(p->state, a, ref, ka, NULL, secret);
	return PSA_OK;
}

/* An asymmetric key, its material wiped at once. */
static int sw_pkey(struct provider *p, const struct psa_attrs *a, const struct buf *ref,
		   struct psa_attrs *ka, EVP_PKEY **k)
{
	struct buf secret = BUF_INIT;
	int st;

	if (!pkey_type(a->type)) {
		*k = NULL;
		return PSA_ERR_INVALID_ARGUMENT;
	}
	st = sw_key(p, a, ref, ka, k, &secret);
	buf_free(&secret);
	return st;
}

/* A symmetric key's bytes, of one of the given types. */
static int sw_sym(struct provider *p, const struct psa_attrs *a, const struct buf *ref,
		  enum psa_key_type want, struct psa_attrs *ka, struct buf *secret)
{
	*ka = *a;
	if (a->type != want)
		return PSA_ERR_INVALID_ARGUMENT;
	return sw_key(p, a, ref, ka, NULL, secret);
}

/* ---- key management ---- */

static int sw_generate(struct provider *p, const struct psa_attrs *a, struct buf *ref)
{
	struct buf secret = BUF_INIT;
	EVP_PKEY *k = NULL;
	int st;

	if (!p->state)
		return PSA_ERR_BAD_STATE;
	if (pkey_type(a->type)) {
		st = pkey_generate(a, &k);
		if (st == PSA_OK)
			st = pkey_export_private(a, k, &secret);
		EVP_PKEY_free(k);
	} else if (sym_type(a->type)) {
		size_t n = a->bits / 8;

		st = PSA_OK;
		if (!a->bits || a->bits % 8 || !sym_size_ok(a->type, n))
			st = PSA_ERR_INVALID_ARGUMENT;
		else if (buf_reserve(&secret, n) != 0)
			st = PSA_ERR_INSUFFICIENT_MEMORY;
		else if (RAND_priv_bytes(secret.data, (int)n) != 1)
			st = PSA_ERR_INSUFFICIENT_ENTROPY;
		else
			secret.len = n;
		if (st == PSA_OK)
			secret.data[n] = 0;
		ERR_clear_error();
	} else {
		st = PSA_ERR_NOT_SUPPORTED;
	}
	if (st == PSA_OK)
		st = ref_seal(p->state, a, secret.data, secret.len, ref);
	buf_free(&secret);
	return st;
}

static int sw_import(struct provider *p, const struct psa_attrs *a, const uint8_t *data,
		     size_t n, struct buf *ref)
{
	struct buf secret = BUF_INIT;
	int st;

	if (!p->state)
		return PSA_ERR_BAD_STATE;
	if (!data || !n)
		return PSA_ERR_INVALID_ARGUMENT;
	if (pkey_type(a->type)) {
		struct psa_attrs ka = *a;
		EVP_PKEY *k = NULL;

		/* Stored as re-exported: one canonical form per key. */
		st = pkey_import(&ka, data, n, &k);
		if (st == PSA_OK)
			st = pkey_export_private(&ka, k, &secret);
		EVP_PKEY_free(k);
	} else if (sym_type(a->type)) {
		if (!sym_size_ok(a->type, n) || (a->bits && a->bits != 8 * n))
			st = PSA_ERR_INVALID_ARGUMENT;
		else
			st = buf_append(&secret, data, n) == 0 ? PSA_OK
							       : PSA_ERR_INSUFFICIENT_MEMORY;
	} else {
		st = PSA_ERR_NOT_SUPPORTED;
	}
	if (st == PSA_OK)
		st = ref_seal(p->state, a, secret.data, secret.len, ref);
	buf_free(&secret);
	return st;
}

static int sw_destroy(struct provider *p, const struct psa_attrs *a, const struct buf *ref)
{
	/* The key is its reference: once keyd forgets that, it is gone
	 * (and from the cache now). */
	cache_drop(p->state, ref);
	return PSA_OK;
}

static int sw_export_public(struct provider *p, const struct psa_attrs *a,
			    const struct buf *ref, struct buf *out)
{
	struct psa_attrs ka;
	EVP_PKEY *k = NULL;
	int st = sw_pkey(p, a, ref, &ka, &k);

	if (st == PSA_OK)
		st = pkey_export_public(&ka, k, out);
	EVP_PKEY_free(k);
	return st;
}

static int sw_export_key(struct provider *p, const struct psa_attrs *a,
			 const struct buf *ref, struct buf *out)
{
	struct buf secret = BUF_INIT;
	struct psa_attrs ka;
	int st = sw_key(p, a, ref, &ka, NULL, &secret);

	/* The sealed bytes are already the PSA export format. */
	if (st == PSA_OK && buf_append(out, secret.data, secret.len) != 0)
		st = PSA_ERR_INSUFFICIENT_MEMORY;
	buf_free(&secret);
	return st;
}

/* ---- asymmetric operations ---- */

static int sw_sign_hash(struct provider *p, const struct psa_attrs *a, const struct buf *ref,
			const struct psa_alg *alg, const uint8_t *hash, size_t n,
			struct buf *sig)
{
	struct psa_attrs ka;
	EVP_PKEY *k = NULL;
	int st = sw_pkey(p, a, ref, &ka, &k);

	if (st == PSA_OK)
		st = pkey_sign_hash(&ka, k, alg, hash, n, sig);
	EVP_PKEY_free(k);
	return st;
}

static int sw_verify_hash(struct provider *p, const struct psa_attrs *a,
			  const struct buf *ref, const struct psa_alg *alg,
			  const uint8_t *hash, size_t n, const uint8_t *sig, size_t sn)
{
	struct psa_attrs ka;
	EVP_PKEY *k = NULL;
	int st = sw_pkey(p, a, ref, &ka, &k);

	if (st == PSA_OK)
		st = pkey_verify_hash(&ka, k, alg, hash, n, sig, sn);
	EVP_PKEY_free(k);
	return st;
}

static int sw_asymmetric_encrypt(struct provider *p, const struct psa_attrs *a,
				 const struct buf *ref, const struct psa_alg *alg,
				 const uint8_t *in, size_t n, const uint8_t *salt,
				 size_t sn, struct buf *out)
{
	struct psa_attrs ka;
	EVP_PKEY *k = NULL;
	int st = sw_pkey(p, a, ref, &ka, &k);

	if (st == PSA_OK)
		st = pkey_encrypt(&ka, k, alg, in, n, salt, sn, out);
	EVP_PKEY_free(k);
	return st;
}

static int sw_asymmetric_decrypt(struct provider *p, const struct psa_attrs *a,
				 const struct buf *ref, const struct psa_alg *alg,
				 const uint8_t *in, size_t n, const uint8_t *salt,
				 size_t sn, struct buf *out)
{
	struct psa_attrs ka;
	EVP_PKEY *k = NULL;
	int st = sw_pkey(p, a, ref, &ka, &k);

	if (st == PSA_OK)
		st = pkey_decrypt(&ka, k, alg, in, n, salt, sn, out);
	EVP_PKEY_free(k);
	return st;
}

static int sw_raw_key_agreement(struct provider *p, const struct psa_attrs *a,
				const struct buf *ref, const struct psa_alg *alg,
				const uint8_t *peer, size_t pn, struct buf *out)
{
	struct psa_attrs ka;
	EVP_PKEY *k = NULL;
	int st = sw_pkey(p, a, ref, &ka, &k);

	if (st == PSA_OK)
		st = pkey_agree(&ka, k, alg, peer, pn, out);
	EVP_PKEY_free(k);
	return st;
}

/* ---- symmetric operations ---- */

static EVP_CIPHER *aes_fetch(uint32_t bits, const char *mode)
{
	char name[32];

	snprintf(name, sizeof name, "AES-%u-%s", (unsigned)bits, mode);
	return EVP_CIPHER_fetch(NULL, name, NULL);
}

/* The AEAD's cipher, tag length and checks of the nonce and lengths. */
static int aead_params(const struct psa_attrs *ka, const struct psa_alg *alg, size_t nn,
		       size_t n, int encrypt, EVP_CIPHER **c, size_t *tag)
{
	size_t t = alg->length ? alg->length : 16;

	*c = NULL;
	*tag = t;
	if (alg->kind != PSA_ALG_AEAD)
		return PSA_ERR_INVALID_ARGUMENT;
	switch (alg->variant) {
	case PSA_AEAD_GCM:
		/* NIST SP 800-38D tag lengths, as Mbed TLS. */
		if (ka->type != PSA_KEY_AES ||
		    (t != 4 && t != 8 && (t < 12 || t > 16)) || nn < 1)
			return PSA_ERR_INVALID_ARGUMENT;
		if (nn > 128)
			return PSA_ERR_NOT_SUPPORTED;	/* OpenSSL's bound */
		*c = aes_fetch(ka->bits, "GCM");
		break;
	case PSA_AEAD_CCM: {
		size_t plain = encrypt ? n : n - (n >= t ? t : n);

		if (ka->type != PSA_KEY_AES || t < 4 || t > 16 || t % 2 ||
		    nn < 7 || nn > 13)
			return PSA_ERR_INVALID_ARGUMENT;
		/* The length field has 15 - nn bytes. */
		if (15 - nn < sizeof(size_t) && plain >> (8 * (15 - nn)))
			return PSA_ERR_INVALID_ARGUMENT;
		*c = aes_fetch(ka->bits, "CCM");
		break;
	}
	case PSA_AEAD_CHACHA20_POLY1305:
		if (ka->type != PSA_KEY_CHACHA20 || t != 16 || nn != 12)
			return PSA_ERR_INVALID_ARGUMENT;
		*c = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
		break;
	default:
		return PSA_ERR_NOT_SUPPORTED;
	}
	if (!encrypt && n < t)
		return PSA_ERR_INVALID_ARGUMENT;
	if (n > INT_MAX - 32)
		return PSA_ERR_INVALID_ARGUMENT;
	return *c ? PSA_OK : PSA_ERR_NOT_SUPPORTED;
}

static int aead_run(EVP_CIPHER *c, int ccm, int encrypt, const struct buf *key,
		    const uint8_t *nonce, size_t nn, const uint8_t *ad, size_t an,
		    const uint8_t *in, size_t n, size_t tag, struct buf *out)
{
	static const uint8_t empty[1];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	size_t plain = encrypt ? n : n - tag;
	const uint8_t *tagp = in + plain;
	uint8_t *o;
	int len = 0, fin = 0, ok;

	if (!ctx)
		return PSA_ERR_INSUFFICIENT_MEMORY;
	if (buf_reserve(out, plain + tag) != 0) {
		EVP_CIPHER_CTX_free(ctx);
		return PSA_ERR_INSUFFICIENT_MEMORY;
	}
	o = out->data + out->len;
	if (!in)
		in = empty;	/* CCM reads a NULL input as "finish" */
	ok = EVP_CipherInit_ex2(ctx, c, NULL, NULL, encrypt, NULL) &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, (int)nn, NULL) > 0;
	/* CCM wants the tag length (and, to decrypt, the tag) first. */
	if (ok && ccm)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, (int)tag,
					 encrypt ? NULL : (void *)tagp) > 0;
	ok = ok && EVP_CipherInit_ex2(ctx, NULL, key->data, nonce, encrypt, NULL);
	if (ok && ccm)
		ok = EVP_CipherUpdate(ctx, NULL, &len, NULL, (int)plain);
	if (ok && an)
		ok = EVP_CipherUpdate(ctx, NULL, &len, ad, (int)an);
	if (!ok) {
		EVP_CIPHER_CTX_free(ctx);
		ERR_clear_error();
		return PSA_ERR_GENERIC;
	}
	/* From here a failure to decrypt is a wrong tag. */
	ok = EVP_CipherUpdate(ctx, o, &len, in, (int)plain);
	if (ok && !ccm && !encrypt)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, (int)tag,
					 (void *)tagp) > 0;
	if (ok && !ccm)
		ok = EVP_CipherFinal_ex(ctx, o + len, &fin);
	if (ok && encrypt)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, (int)tag,
					 o + len + fin) > 0;
	EVP_CIPHER_CTX_free(ctx);
	ERR_clear_error();
	if (!ok) {
		secure_wipe(o, plain + tag);
		return encrypt ? PSA_ERR_GENERIC : PSA_ERR_INVALID_SIGNATURE;
	}
	out->len += (size_t)(len + fin) + (encrypt ? tag : 0);
	out->data[out->len] = 0;
	return PSA_OK;
}

static int sw_aead(struct provider *p, const struct psa_attrs *a, const struct buf *ref,
		   const struct psa_alg *alg, int encrypt, const uint8_t *nonce, size_t nn,
		   const uint8_t *ad, size_t an, const uint8_t *in, size_t n,
		   struct buf *out)
{
	struct buf key = BUF_INIT;
	struct psa_attrs ka;
	EVP_CIPHER *c = NULL;
	size_t tag = 0;
	int st;

	if (a->type != PSA_KEY_AES && a->type != PSA_KEY_CHACHA20)
		return PSA_ERR_INVALID_ARGUMENT;
	if (an > INT_MAX)
		return PSA_ERR_INVALID_ARGUMENT;
	st = sw_key(p, a, ref, &ka, NULL, &key);
	if (st == PSA_OK)
		st = aead_params(&ka, alg, nn, n, encrypt, &c, &tag);
	if (st == PSA_OK)
		st = aead_run(c, alg->variant == PSA_AEAD_CCM, encrypt, &key, nonce, nn,
			      ad, an, in, n, tag, out);
	EVP_CIPHER_free(c);
	buf_free(&key);
	return st;
}

/* The cipher of a mode and key, its IV length and whether it works on
 * whole blocks only (ECB, CBC without padding). */
static int cipher_params(const struct psa_attrs *ka, const struct psa_alg *alg,
			 EVP_CIPHER **c, size_t *ivlen, int *whole_blocks)
{
	const char *mode = NULL;

	*c = NULL;
	*ivlen = 16;
	*whole_blocks = 0;
	if (alg->kind != PSA_ALG_CIPHER)
		return PSA_ERR_INVALID_ARGUMENT;
	switch (alg->variant) {
	case PSA_CIPHER_STREAM:
		if (ka->type != PSA_KEY_CHACHA20)
			return PSA_ERR_INVALID_ARGUMENT;
		/* PSA's ChaCha20: a 12-byte nonce, the counter from 0. */
		*ivlen = 12;
		*c = EVP_CIPHER_fetch(NULL, "ChaCha20", NULL);
		return *c ? PSA_OK : PSA_ERR_NOT_SUPPORTED;
	case PSA_CIPHER_CTR: mode = "CTR"; break;
	case PSA_CIPHER_CFB: mode = "CFB"; break;
	case PSA_CIPHER_OFB: mode = "OFB"; break;
	case PSA_CIPHER_ECB_NO_PADDING:
		mode = "ECB";
		*ivlen = 0;
		*whole_blocks = 1;
		break;
	case PSA_CIPHER_CBC_NO_PADDING:
		mode = "CBC";
		*whole_blocks = 1;
		break;
	case PSA_CIPHER_CBC_PKCS7: mode = "CBC"; break;
	default:
		return PSA_ERR_NOT_SUPPORTED;
	}
	if (ka->type != PSA_KEY_AES)
		return PSA_ERR_INVALID_ARGUMENT;
	*c = aes_fetch(ka->bits, mode);
	return *c ? PSA_OK : PSA_ERR_NOT_SUPPORTED;
}

static int cipher_run(EVP_CIPHER *c, int encrypt, int padding, const struct buf *key,
		      const uint8_t *iv, size_t ivlen, const uint8_t *in, size_t n,
		      struct buf *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t iv16[16];
	uint8_t *o;
	int len = 0, fin = 0, ok;

	if (!ctx)
		return PSA_ERR_INSUFFICIENT_MEMORY;
	if (buf_reserve(out, n + 16) != 0) {
		EVP_CIPHER_CTX_free(ctx);
		return PSA_ERR_INSUFFICIENT_MEMORY;
	}
	if (ivlen == 12) {
		/* OpenSSL's ChaCha20 IV: 32-bit little-endian counter || nonce. */
		memset(iv16, 0, 4);
		memcpy(iv16 + 4, iv, 12);
		iv = iv16;
	}
	o = out->data + out->len;
	ok = EVP_CipherInit_ex2(ctx, c, key->data, ivlen ? iv : NULL, encrypt, NULL) &&
	     EVP_CIPHER_CTX_set_padding(ctx, padding) &&
	     (!n || EVP_CipherUpdate(ctx, o, &len, in, (int)n)) &&
	     EVP_CipherFinal_ex(ctx, o + len, &fin);
	EVP_CIPHER_CTX_free(ctx);
	ERR_clear_error();
	if (!ok) {
		secure_wipe(o, n + 16);
		return padding && !encrypt ? PSA_ERR_INVALID_PADDING : PSA_ERR_GENERIC;
	}
	out->len += (size_t)(len + fin);
	out->data[out->len] = 0;
	return PSA_OK;
}

static int sw_cipher(struct provider *p, const struct psa_attrs *a, const struct buf *ref,
		     const struct psa_alg *alg, int encrypt, const uint8_t *in, size_t n,
		     struct buf *out)
{
	struct buf key = BUF_INIT;
	struct psa_attrs ka;
	EVP_CIPHER *c = NULL;
	uint8_t iv[16];
	size_t ivlen = 0, body;
	int whole = 0, pkcs7 = alg->variant == PSA_CIPHER_CBC_PKCS7, st;

	if (a->type != PSA_KEY_AES && a->type != PSA_KEY_CHACHA20)
		return PSA_ERR_INVALID_ARGUMENT;
	if (n > INT_MAX - 32)
		return PSA_ERR_INVALID_ARGUMENT;
	st = sw_key(p, a, ref, &ka, NULL, &key);
	if (st == PSA_OK)
		st = cipher_params(&ka, alg, &c, &ivlen, &whole);
	if (st != PSA_OK)
		goto out;
	if (encrypt) {
		body = n;
		if (whole && n % 16)
			st = PSA_ERR_INVALID_ARGUMENT;
		else if (ivlen && RAND_bytes(iv, (int)ivlen) != 1)
			st = PSA_ERR_INSUFFICIENT_ENTROPY;
		else if (buf_append(out, iv, ivlen) != 0)
			st = PSA_ERR_INSUFFICIENT_MEMORY;
		if (st == PSA_OK)
			st = cipher_run(c, 1, pkcs7, &key, iv, ivlen, in, n, out);
	} else {
		body = n >= ivlen ? n - ivlen : 0;
		if (n < ivlen || ((whole || pkcs7) && body % 16) || (pkcs7 && !body))
			st = PSA_ERR_INVALID_ARGUMENT;
		else
			st = cipher_run(c, 0, pkcs7, &key, in, ivlen, in + ivlen, body, out);
	}
out:
	ERR_clear_error();
	EVP_CIPHER_free(c);
	buf_free(&key);
	return st;
}

static int sw_mac(struct provider *p, const struct psa_attrs *a, const struct buf *ref,
		  const struct psa_alg *alg, const uint8_t *in, size_t n, struct buf *out)
{
	struct buf key = BUF_INIT;
	struct psa_attrs ka;
	EVP_MAC *mac = NULL;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	uint8_t full[EVP_MAX_MD_SIZE];
	char cipher[32];
	size_t fl = 0, want;
	int st;

	if (alg->kind != PSA_ALG_MAC)
		return PSA_ERR_INVALID_ARGUMENT;
	if (alg->variant == PSA_MAC_HMAC) {
		const char *name = psa_hash_name(alg->hash);

		if (alg->hash == PSA_HASH_ANY || alg->hash == PSA_HASH_NONE)
			return PSA_ERR_INVALID_ARGUMENT;
		if (!name)
			return PSA_ERR_NOT_SUPPORTED;
		st = sw_sym(p, a, ref, PSA_KEY_HMAC, &ka, &key);
		fl = psa_hash_size(alg->hash);
		mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
							     (char *)name, 0);
	} else if (alg->variant == PSA_MAC_CMAC) {
		st = sw_sym(p, a, ref, PSA_KEY_AES, &ka, &key);
		fl = 16;
		snprintf(cipher, sizeof cipher, "AES-%u-CBC", (unsigned)ka.bits);
		mac = EVP_MAC_fetch(NULL, "CMAC", NULL);
		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER,
							     cipher, 0);
	} else {
		return PSA_ERR_NOT_SUPPORTED;
	}
	params[1] = OSSL_PARAM_construct_end();
	want = alg->length ? alg->length : fl;
	if (st == PSA_OK && want > fl)
		st = PSA_ERR_INVALID_ARGUMENT;
	else if (st == PSA_OK && want < 4)
		st = PSA_ERR_NOT_SUPPORTED;	/* brute-forceable, as Mbed TLS */
	if (st == PSA_OK) {
		size_t len = 0;

		ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
		if (!ctx || !EVP_MAC_init(ctx, key.data, key.len, params) ||
		    (n && !EVP_MAC_update(ctx, in, n)) ||
		    !EVP_MAC_final(ctx, full, &len, sizeof full) || len != fl)
			st = PSA_ERR_GENERIC;
		else if (buf_append(out, full, want) != 0)
			st = PSA_ERR_INSUFFICIENT_MEMORY;
	}
	secure_wipe(full, sizeof full);
	ERR_clear_error();
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	buf_free(&key);
	return st;
}

static int sw_generate_random(struct provider *p, size_t n, struct buf *out)
{
	if (n > SW_RANDOM_MAX)
		return PSA_ERR_INVALID_ARGUMENT;
	if (!n)
		return PSA_OK;
	if (buf_reserve(out, n) != 0)
		return PSA_ERR_INSUFFICIENT_MEMORY;
	if (RAND_bytes(out->data + out->len, (int)n) != 1) {
		ERR_clear_error();
		return PSA_ERR_INSUFFICIENT_ENTROPY;
	}
	out->len += n;
	out->data[out->len] = 0;
	return PSA_OK;
}

const struct provider_ops provider_software = {
	.name = "software",
	.id = 1,
	.uuid = "1c1139dc-ad7c-47dc-ad6b-db6fdb466552",
	.description = "Software provider (OpenSSL 3)",
	.vendor = "Assay",
	.version = { 0, 1, 0 },
	.open = sw_open,
	.close = sw_close,
	.plan = NULL,
	.generate = sw_generate,
	.import = sw_import,
	.destroy = sw_destroy,
	.export_public = sw_export_public,
	.export_key = sw_export_key,
	.sign_hash = sw_sign_hash,
	.verify_hash = sw_verify_hash,
	.asymmetric_encrypt = sw_asymmetric_encrypt,
	.asymmetric_decrypt = sw_asymmetric_decrypt,
	.aead = sw_aead,
	.cipher = sw_cipher,
	.mac = sw_mac,
	.raw_key_agreement = sw_raw_key_agreement,
	.generate_random = sw_generate_random,
	.offers_hash = 1,
};
