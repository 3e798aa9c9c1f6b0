/* credential: TPM2_MakeCredential without a TPM.
 *
 * What the TPM does in ActivateCredential, and so what we must produce
 * (TPM 2.0 Part 1, 24.4 and Part 3, MakeCredential):
 *   seed      RSA EK: random, nameAlg-digest sized, sent as
 *             RSA-OAEP(nameAlg, label "IDENTITY\0");
 *             ECC EK: KDFe(nameAlg, Z, "IDENTITY", ephemeral.x, EK.x),
 *             sent as the ephemeral public point
 *   symKey    KDFa(nameAlg, seed, "STORAGE", Name, -, EK symmetric bits)
 *   hmacKey   KDFa(nameAlg, seed, "INTEGRITY", -, -, nameAlg digest bits)
 *   encIdentity = AES-CFB(symKey, IV 0, TPM2B_DIGEST credential)
 *   outerHMAC = HMAC(nameAlg, hmacKey, encIdentity || Name)
 *   TPM2B_ID_OBJECT = size || TPM2B(outerHMAC) || encIdentity
 */
#include "tpm/credential.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "util/secure.h"
#include "util/error.h"

/* "IDENTITY" with its NUL: the TPM hashes the terminator into both the
 * OAEP label and KDFe's Use field. */
static const char identity_label[] = "IDENTITY";

/* Generous caps on derived lengths: nothing here needs more. */
#define KDF_MAX_OUT 1024

static void put_be32(uint8_t b[4], uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

int tpm_kdfa(uint16_t hash_alg, const uint8_t *key, size_t key_len,
	     const char *label, const uint8_t *ctx_u, size_t u_len,
	     const uint8_t *ctx_v, size_t v_len, uint8_t *out, size_t out_len)
{
	const EVP_MD *md = tpm_alg_md(hash_alg);
	uint8_t block[EVP_MAX_MD_SIZE], ctr[4], bits[4];
	EVP_MAC *mac = NULL;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	size_t done = 0, blen, take;
	uint32_t i;
	int ret = -1;

	if (!md || !key || key_len == 0 || !label || !out ||
	    out_len == 0 || out_len > KDF_MAX_OUT)
		return -1;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
		(char *)EVP_MD_get0_name(md), 0);
	params[1] = OSSL_PARAM_construct_end();
	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	if (!ctx)
		goto out;
	put_be32(bits, (uint32_t)(out_len * 8));
	for (i = 1; done < out_len; i++) {
		put_be32(ctr, i);
		if (EVP_MAC_init(ctx, key, key_len, params) != 1 ||
		    EVP_MAC_update(ctx, ctr, 4) != 1 ||
		    EVP_MAC_update(ctx, (const uint8_t *)label,
				   strlen(label) + 1) != 1 ||
		    (u_len && EVP_MAC_update(ctx, ctx_u, u_len) != 1) ||
		    (v_len && EVP_MAC_update(ctx, ctx_v, v_len) != 1) ||
		    EVP_MAC_update(ctx, bits, 4) != 1 ||
		    EVP_MAC_final(ctx, block, &blen, sizeof(block)) != 1)
			goto out;
		take = out_len - done < blen ? out_len - done : blen;
		memcpy(out + done, block, take);
		done += take;
	}
	ret = 0;
out:
	secure_wipe(block, sizeof(block));
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return ret;
}

int tpm_kdfe(uint16_t hash_alg, const uint8_t *z, size_t z_len,
	     const char *label, const uint8_t *party_u, size_t u_len,
	     const uint8_t *party_v, size_t v_len, uint8_t *out,
	     size_t out_len)
{
	const EVP_MD *md = tpm_alg_md(hash_alg);
	uint8_t block[EVP_MAX_MD_SIZE], ctr[4];
	EVP_MD_CTX *ctx = NULL;
	unsigned int blen;
	size_t done = 0, take;
	uint32_t i;
	int ret = -1;

	if (!md || !z || z_len == 0 || !label || !out ||
	    out_len == 0 || out_len > KDF_MAX_OUT)
		return -1;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -1;
	for (i = 1; done < out_len; i++) {
		put_be32(ctr, i);
		if (EVP_DigestInit_ex(ctx, md, NULL) != 1 ||
		    EVP_DigestUpdate(ctx, ctr, 4) != 1 ||
		    EVP_DigestUpdate(ctx, z, z_len) != 1 ||
		    EVP_DigestUpdate(ctx, label, strlen(label) + 1) != 1 ||
		    (u_len && EVP_DigestUpdate(ctx, party_u, u_len) != 1) ||
		    (v_len && EVP_DigestUpdate(ctx, party_v, v_len) != 1) ||
		    EVP_DigestFinal_ex(ctx, block, &blen) != 1)
			goto out;
		take = out_len - done < blen ? out_len - done : blen;
		memcpy(out + done, block, take);
		done += take;
	}
	ret = 0;
out:
	secure_wipe(block, sizeof(block));
	EVP_MD_CTX_free(ctx);
	return ret;
}

/* RSA EK: a random seed, OAEP-encrypted to the EK. */
static int seed_rsa(const struct tpm_public *ek, const EVP_MD *md,
		    uint8_t *seed, size_t hlen, uint8_t *secret,
		    size_t *slen, char *err, size_t errlen)
{
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM params[5];
	size_t need = 0;
	int ret = -1;

	if (RAND_priv_bytes(seed, (int)hlen) != 1) {
		error_set(err, errlen, "no random bytes for the seed");
		return -1;
	}
	params[0] = OSSL_PARAM_construct_utf8_string(
		OSSL_ASYM_CIPHER_PARAM_PAD_MODE, OSSL_PKEY_RSA_PAD_MODE_OAEP, 0);
	params[1] = OSSL_PARAM_construct_utf8_string(
		OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST,
		(char *)EVP_MD_get0_name(md), 0);
	params[2] = OSSL_PARAM_construct_utf8_string(
		OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST,
		(char *)EVP_MD_get0_name(md), 0);
	params[3] = OSSL_PARAM_construct_octet_string(
		OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, (void *)identity_label,
		sizeof(identity_label));
	params[4] = OSSL_PARAM_construct_end();
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, ek->pkey, NULL);
	if (!ctx || EVP_PKEY_encrypt_init_ex(ctx, params) != 1 ||
	    EVP_PKEY_encrypt(ctx, NULL, &need, seed, hlen) != 1 ||
	    need > *slen ||
	    EVP_PKEY_encrypt(ctx, secret, slen, seed, hlen) != 1) {
		error_set(err, errlen, "RSA-OAEP encryption of the seed failed");
		goto out;
	}
	ret = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	return ret;
}

/* ECC EK: one-pass ECDH with an ephemeral key; the seed is derived from
 * the shared x coordinate, and the ephemeral point is the secret. */
static int seed_ecc(const struct tpm_public *ek, uint8_t *seed, size_t hlen,
		    uint8_t *secret, size_t *slen, char *err, size_t errlen)
{
	const TPM2B_ECC_PARAMETER *ek_x = &ek->area.unique.ecc.x;
	char group[32];
	uint8_t pt[1 + 2 * 66], z[66];
	size_t glen = 0, ptlen = 0, zlen = sizeof(z), c;
	EVP_PKEY *eph = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	int ret = -1;

	if (EVP_PKEY_get_utf8_string_param(ek->pkey,
		OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen) != 1 ||
	    !(eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", group)) ||
	    EVP_PKEY_get_octet_string_param(eph, OSSL_PKEY_PARAM_PUB_KEY,
		pt, sizeof(pt), &ptlen) != 1 ||
	    ptlen < 3 || pt[0] != 0x04 || ptlen % 2 != 1) {
		error_set(err, errlen, "ephemeral ECC key generation failed");
		goto out;
	}
	c = (ptlen - 1) / 2;
	if (4 + 2 * c > *slen) {
		error_set(err, errlen, "ECC point does not fit the secret");
		goto out;
	}
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL);
	if (!ctx || EVP_PKEY_derive_init(ctx) != 1 ||
	    EVP_PKEY_derive_set_peer(ctx, ek->pkey) != 1 ||
	    EVP_PKEY_derive(ctx, z, &zlen) != 1) {
		error_set(err, errlen, "ECDH with the EK failed");
		goto out;
	}
	/* partyVInfo is the EK's x exactly as the TPM stores it. */
	if (tpm_kdfe(ek->area.nameAlg, z, zlen, identity_label, pt + 1, c,
		     ek_x->buffer, ek_x->size, seed, hlen) != 0) {
		error_set(err, errlen, "KDFe failed");
		goto out;
	}
	/* TPMS_ECC_POINT: TPM2B x, TPM2B y. */
	secret[0] = (uint8_t)(c >> 8);
	secret[1] = (uint8_t)c;
	memcpy(secret + 2, pt + 1, c);
	secret[2 + c] = (uint8_t)(c >> 8);
	secret[3 + c] = (uint8_t)c;
	memcpy(secret + 4 + c, pt + 1 + c, c);
	*slen = 4 + 2 * c;
	ret = 0;
out:
	secure_wipe(z, sizeof(z));
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(eph);
	return ret;
}

static const EVP_CIPHER *ek_cipher(const TPMT_PUBLIC *a, size_t *key_len)
{
	const TPMT_SYM_DEF_OBJECT *sym = a->type == TPM2_ALG_RSA ?
		&a->parameters.rsaDetail.symmetric :
		&a->parameters.eccDetail.symmetric;

	if (sym->algorithm != TPM2_ALG_AES || sym->mode.aes != TPM2_ALG_CFB)
		return NULL;
	*key_len = sym->keyBits.aes / 8;
	switch (sym->keyBits.aes) {
	case 128:
		return EVP_aes_128_cfb128();
	case 192:
		return EVP_aes_192_cfb128();
	case 256:
		return EVP_aes_256_cfb128();
	default:
		return NULL;
	}
}

static int cfb_encrypt(const EVP_CIPHER *cipher, const uint8_t *key,
		       const uint8_t *in, size_t n, uint8_t *out)
{
	static const uint8_t iv[16];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int len = 0, fin = 0, ok;

	if (!ctx)
		return -1;
	ok = EVP_EncryptInit_ex(ctx, cipher, NULL, key, iv) == 1 &&
	     EVP_EncryptUpdate(ctx, out, &len, in, (int)n) == 1 &&
	     EVP_EncryptFinal_ex(ctx, out + len, &fin) == 1 &&
	     (size_t)len + (size_t)fin == n;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}

/* The keys and ciphertext of one MakeCredential, kept together so a single
 * wipe clears every secret. */
struct cred_work {
	uint8_t seed[TPM_DIGEST_MAX];
	uint8_t sym_key[32];
	uint8_t hmac_key[TPM_DIGEST_MAX];
	uint8_t plain[2 + TPM_DIGEST_MAX];
	uint8_t enc[2 + TPM_DIGEST_MAX];
	uint8_t mac_in[2 + TPM_DIGEST_MAX + sizeof(TPMU_NAME)];
	uint8_t hmac[EVP_MAX_MD_SIZE];
	uint8_t secret[sizeof(TPMU_ENCRYPTED_SECRET)];
};

static int write_blob(struct buf *out, const struct cred_work *w,
		      size_t hlen, size_t enc_len, size_t slen)
{
	return buf_append_be32(out, TPM_CREDENTIAL_MAGIC) ||
	       buf_append_be32(out, TPM_CREDENTIAL_VERSION) ||
	       buf_append_be16(out, (uint16_t)(2 + hlen + enc_len)) ||
	       buf_append_be16(out, (uint16_t)hlen) ||
	       buf_append(out, w->hmac, hlen) ||
	       buf_append(out, w->enc, enc_len) ||
	       buf_append_be16(out, (uint16_t)slen) ||
	       buf_append(out, w->secret, slen) ? -1 : 0;
}

int tpm_credential_make(const struct tpm_public *ek, const uint8_t *name,
			size_t name_len, const uint8_t *cred, size_t cred_len,
			struct buf *out, char *err, size_t errlen)
{
	const TPMT_PUBLIC *a = &ek->area;
	const EVP_MD *md = tpm_alg_md(a->nameAlg);
	const EVP_CIPHER *cipher;
	struct cred_work w;
	size_t hlen, key_len = 0, slen = sizeof(w.secret), enc_len, mlen;
	size_t old_len = out->len;
	int ret = -1;

	memset(&w, 0, sizeof(w));
	if (!ek->pkey || !md ||
	    (a->type != TPM2_ALG_RSA && a->type != TPM2_ALG_ECC)) {
		error_set(err, errlen, "EK is not a parsed RSA or ECC key");
		return -1;
	}
	cipher = ek_cipher(a, &key_len);
	if (!cipher) {
		error_set(err, errlen, "EK symmetric algorithm is not AES-CFB");
		return -1;
	}
	hlen = (size_t)EVP_MD_get_size(md);
	if (!name || name_len < 2 || name_len > sizeof(TPMU_NAME)) {
		error_set(err, errlen, "object Name must be 2 to %zu bytes",
			sizeof(TPMU_NAME));
		return -1;
	}
	/* The credential travels as a TPM2B_DIGEST of the EK's nameAlg. */
	if (!cred || cred_len == 0 || cred_len > hlen) {
		error_set(err, errlen, "credential must be 1 to %zu bytes",
			hlen);
		return -1;
	}

	if (a->type == TPM2_ALG_RSA)
		ret = seed_rsa(ek, md, w.seed, hlen, w.secret, &slen, err,
			       errlen);
	else
		ret = seed_ecc(ek, w.seed, hlen, w.secret, &slen, err, errlen);
	if (ret)
		goto out;
	ret = -1;
	if (tpm_kdfa(a->nameAlg, w.seed, hlen, "STORAGE", name, name_len,
		     NULL, 0, w.sym_key, key_len) ||
	    tpm_kdfa(a->nameAlg, w.seed, hlen, "INTEGRITY", NULL, 0, NULL, 0,
		     w.hmac_key, hlen)) {
		error_set(err, errlen, "KDFa failed");
		goto out;
	}
	w.plain[0] = (uint8_t)(cred_len >> 8);
	w.plain[1] = (uint8_t)cred_len;
	memcpy(w.plain + 2, cred, cred_len);
	enc_len = 2 + cred_len;
	if (cfb_encrypt(cipher, w.sym_key, w.plain, enc_len, w.enc)) {
		error_set(err, errlen, "AES-CFB encryption failed");
		goto out;
	}
	memcpy(w.mac_in, w.enc, enc_len);
	memcpy(w.mac_in + enc_len, name, name_len);
	if (!EVP_Q_mac(NULL, "HMAC", NULL, EVP_MD_get0_name(md), NULL,
		       w.hmac_key, hlen, w.mac_in, enc_len + name_len,
		       w.hmac, sizeof(w.hmac), &mlen) || mlen != hlen) {
		error_set(err, errlen, "HMAC failed");
		goto out;
	}
	if (write_blob(out, &w, hlen, enc_len, slen)) {
		error_set(err, errlen, "out of memory");
		out->len = old_len;
		if (out->data)
			out->data[old_len] = 0;
		goto out;
	}
	ret = 0;
out:
	secure_wipe(&w, sizeof(w));
	return ret;
}

int tpm_credential_parse(const uint8_t *p, size_t n, TPM2B_ID_OBJECT *id,
			 TPM2B_ENCRYPTED_SECRET *secret, char *err,
			 size_t errlen)
{
	struct cursor c = cursor_init(p, n);
	const uint8_t *idp, *sp;
	uint32_t magic, version;
	uint16_t idlen, slen;

	memset(id, 0, sizeof(*id));
	memset(secret, 0, sizeof(*secret));
	magic = cursor_be32(&c);
	version = cursor_be32(&c);
	if (c.err) {
		error_set(err, errlen, "credential blob truncated in header");
		return -1;
	}
	if (magic != TPM_CREDENTIAL_MAGIC) {
		error_set(err, errlen, "credential blob magic 0x%08x", magic);
		return -1;
	}
	if (version != TPM_CREDENTIAL_VERSION) {
		error_set(err, errlen, "credential blob version %u", version);
		return -1;
	}
	idlen = cursor_be16(&c);
	idp = cursor_bytes(&c, idlen);
	slen = cursor_be16(&c);
	sp = cursor_bytes(&c, slen);
	if (c.err || !idp || !sp) {
		error_set(err, errlen, "credential blob truncated");
		return -1;
	}
	if (c.left) {
		error_set(err, errlen, "credential blob has %zu extra bytes",
			c.left);
		return -1;
	}
	if (idlen == 0 || idlen > sizeof(id->credential) ||
	    slen == 0 || slen > sizeof(secret->secret)) {
		error_set(err, errlen, "credential blob part sizes out of range");
		return -1;
	}
	id->size = idlen;
	memcpy(id->credential, idp, idlen);
	secret->size = slen;
	memcpy(secret->secret, sp, slen);
	return 0;
}
