/* test_credential: software MakeCredential.
 *
 * 1. KDFa and KDFe against vectors computed with another implementation
 *    (Python cryptography's KBKDFHMAC counter mode and ConcatKDFHash, the
 *    constructions Keylime's registrar uses).
 * 2. The TPM's side of ActivateCredential done here in software with the EK
 *    private key (RSA and ECC, several hashes and AES sizes): the seed is
 *    decrypted or re-derived, the HMAC checked, the credential recovered.
 * 3. A real TPM: swtpm with tpm2-tools creates EKs and AKs; our blob for
 *    the AK's Name must come back out of tpm2_activatecredential, and a
 *    blob for another Name must not. The swtpm EK certificate must match
 *    the EK public key. The same through the agent's own path (tpm/tpm.c's
 *    tpm_activate_credential). Skipped (77) when swtpm or tpm2-tools is
 *    missing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "tests/lib/tpm2tools.h"
#include "tests/lib/tpub.h"
#include "tpm/credential.h"
#include "tpm/tpm.h"
#include "tpm/tpm_public.h"
#include "util/buf.h"
#include "util/check.h"
#include "util/encode.h"

static void check_hex(const uint8_t *p, size_t n, const char *want)
{
	char *h = hex_encode_str(p, n);

	CHECK_STR(h, want);
	free(h);
}

static void test_kdf_vectors(void)
{
	uint8_t key[32], u[34], z[32], pu[32], pv[32], out[80];
	size_t i;

	for (i = 0; i < 32; i++) {
		key[i] = (uint8_t)i;
		u[2 + i] = (uint8_t)(100 + i);
		z[i] = (uint8_t)(200 + i);
		pu[i] = (uint8_t)(1 + i);
		pv[i] = (uint8_t)(33 + i);
	}
	u[0] = 0x00;
	u[1] = 0x0b;
	CHECK_INT(tpm_kdfa(TPM2_ALG_SHA256, key, 32, "STORAGE", u, 34, NULL, 0,
			   out, 16), 0);
	check_hex(out, 16, "d98939313878365f823837e2ce0286ca");
	CHECK_INT(tpm_kdfa(TPM2_ALG_SHA256, key, 32, "INTEGRITY", NULL, 0,
			   NULL, 0, out, 32), 0);
	check_hex(out, 32, "bacf689f634ece301e1f1b15b072d9c8"
			   "7db6a69585db42b1a0cb8f73ebe2692e");
	/* More than one HMAC block, and context split over U and V. */
	CHECK_INT(tpm_kdfa(TPM2_ALG_SHA384, key, 32, "STORAGE", u, 10, u + 10,
			   24, out, 80), 0);
	check_hex(out, 80, "d5ccdafd33b9fc3d4319715dd2187313"
			   "69a52a5bc488693f0bf5fa69afe2d842"
			   "8e338c563fecdb25ee1577e516ac0c43"
			   "2272318e1def38a8f7e14f9a30825c2a"
			   "2a0f27ef1be2b1c488bcac47e7a9cb64");
	CHECK_INT(tpm_kdfe(TPM2_ALG_SHA256, z, 32, "IDENTITY", pu, 32, pv, 32,
			   out, 32), 0);
	check_hex(out, 32, "0761b15d2314f772846557c7a299a002"
			   "2d3ef64676f184a9536b70abcf50c358");
	CHECK_INT(tpm_kdfe(TPM2_ALG_SHA256, z, 32, "IDENTITY", pu, 32, pv, 32,
			   out, 50), 0);
	check_hex(out, 50, "0761b15d2314f772846557c7a299a002"
			   "2d3ef64676f184a9536b70abcf50c358"
			   "9360ecdd589e00b2c999ce33552094e18d2a");
	/* Refusals. */
	CHECK_INT(tpm_kdfa(TPM2_ALG_NULL, key, 32, "X", NULL, 0, NULL, 0, out,
			   16), -1);
	CHECK_INT(tpm_kdfa(TPM2_ALG_SHA256, key, 0, "X", NULL, 0, NULL, 0, out,
			   16), -1);
	CHECK_INT(tpm_kdfa(TPM2_ALG_SHA256, key, 32, "X", NULL, 0, NULL, 0, out,
			   0), -1);
	CHECK_INT(tpm_kdfe(TPM2_ALG_RSA, z, 32, "X", NULL, 0, NULL, 0, out, 16),
		  -1);
}

/* ---- the TPM's side of ActivateCredential, in software ---- */

static EVP_PKEY *ec_point_key(EVP_PKEY *like, const TPMS_ECC_POINT *pt)
{
	char group[32];
	uint8_t oct[1 + 2 * 66];
	size_t glen = 0, c;
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *k = NULL;

	if (EVP_PKEY_get_utf8_string_param(like, OSSL_PKEY_PARAM_GROUP_NAME,
					   group, sizeof(group), &glen) != 1)
		return NULL;
	c = (size_t)(EVP_PKEY_get_bits(like) + 7) / 8;
	if (pt->x.size > c || pt->y.size > c)
		return NULL;
	memset(oct, 0, sizeof(oct));
	oct[0] = 4;
	memcpy(oct + 1 + c - pt->x.size, pt->x.buffer, pt->x.size);
	memcpy(oct + 1 + 2 * c - pt->y.size, pt->y.buffer, pt->y.size);
	params[0] = OSSL_PARAM_construct_utf8_string(
		OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
						      oct, 1 + 2 * c);
	params[2] = OSSL_PARAM_construct_end();
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) != 1)
		k = NULL;
	EVP_PKEY_CTX_free(ctx);
	return k;
}

static int recover_seed(EVP_PKEY *priv, const struct tpm_public *ek,
			const TPM2B_ENCRYPTED_SECRET *sec, uint8_t *seed,
			size_t hlen)
{
	const char *mdname = EVP_MD_get0_name(tpm_alg_md(ek->area.nameAlg));
	uint8_t tmp[512], z[66];
	size_t n = sizeof(tmp), zlen = sizeof(z), off = 0;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *peer = NULL;
	TPMS_ECC_POINT pt;
	OSSL_PARAM params[5];
	int ret = -1;

	if (ek->area.type == TPM2_ALG_RSA) {
		params[0] = OSSL_PARAM_construct_utf8_string(
			OSSL_ASYM_CIPHER_PARAM_PAD_MODE,
			OSSL_PKEY_RSA_PAD_MODE_OAEP, 0);
		params[1] = OSSL_PARAM_construct_utf8_string(
			OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, (char *)mdname, 0);
		params[2] = OSSL_PARAM_construct_utf8_string(
			OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, (char *)mdname, 0);
		params[3] = OSSL_PARAM_construct_octet_string(
			OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, "IDENTITY", 9);
		params[4] = OSSL_PARAM_construct_end();
		ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
		if (ctx && EVP_PKEY_decrypt_init_ex(ctx, params) == 1 &&
		    EVP_PKEY_decrypt(ctx, tmp, &n, sec->secret,
				     sec->size) == 1 && n == hlen) {
			memcpy(seed, tmp, hlen);
			ret = 0;
		}
		goto out;
	}
	if (Tss2_MU_TPMS_ECC_POINT_Unmarshal(sec->secret, sec->size, &off,
					     &pt) || off != sec->size)
		goto out;
	peer = ec_point_key(priv, &pt);
	ctx = peer ? EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL) : NULL;
	if (ctx && EVP_PKEY_derive_init(ctx) == 1 &&
	    EVP_PKEY_derive_set_peer(ctx, peer) == 1 &&
	    EVP_PKEY_derive(ctx, z, &zlen) == 1)
		ret = tpm_kdfe(ek->area.nameAlg, z, zlen, "IDENTITY",
			       pt.x.buffer, pt.x.size,
			       ek->area.unique.ecc.x.buffer,
			       ek->area.unique.ecc.x.size, seed, hlen);
out:
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer);
	return ret;
}

/* Returns 0 and the credential, or -1 with a reason. */
static int soft_activate(EVP_PKEY *priv, const struct tpm_public *ek,
			 const uint8_t *name, size_t name_len,
			 const struct buf *blob, struct buf *cred,
			 const char **why)
{
	const EVP_MD *md = tpm_alg_md(ek->area.nameAlg);
	size_t hlen = (size_t)EVP_MD_get_size(md);
	size_t klen = ek->area.parameters.asymDetail.symmetric.keyBits.aes / 8;
	const EVP_CIPHER *cipher = klen == 16 ? EVP_aes_128_cfb128() :
				   klen == 24 ? EVP_aes_192_cfb128() :
				   EVP_aes_256_cfb128();
	static const uint8_t iv[16];
	uint8_t seed[64], sym[32], hkey[64], mac[64], plain[80], macin[256];
	TPM2B_ID_OBJECT id;
	TPM2B_ENCRYPTED_SECRET sec;
	EVP_CIPHER_CTX *cctx = NULL;
	size_t mlen = 0, enc_len;
	const uint8_t *enc;
	int len = 0, ret = -1;
	uint16_t h;
	char err[256];

	buf_reset(cred);
	if (tpm_credential_parse(blob->data, blob->len, &id, &sec, err,
				 sizeof(err))) {
		*why = "blob does not parse";
		return -1;
	}
	if (recover_seed(priv, ek, &sec, seed, hlen)) {
		*why = "seed not recovered";
		return -1;
	}
	if (tpm_kdfa(ek->area.nameAlg, seed, hlen, "STORAGE", name, name_len,
		     NULL, 0, sym, klen) ||
	    tpm_kdfa(ek->area.nameAlg, seed, hlen, "INTEGRITY", NULL, 0, NULL,
		     0, hkey, hlen)) {
		*why = "KDFa";
		return -1;
	}
	h = (uint16_t)(id.credential[0] << 8 | id.credential[1]);
	if (h != hlen || id.size < 2 + hlen + 2) {
		*why = "bad ID object";
		return -1;
	}
	enc = id.credential + 2 + hlen;
	enc_len = id.size - 2 - hlen;
	memcpy(macin, enc, enc_len);
	memcpy(macin + enc_len, name, name_len);
	if (!EVP_Q_mac(NULL, "HMAC", NULL, EVP_MD_get0_name(md), NULL, hkey,
		       hlen, macin, enc_len + name_len, mac, sizeof(mac),
		       &mlen) || mlen != hlen ||
	    memcmp(mac, id.credential + 2, hlen)) {
		*why = "integrity HMAC mismatch";
		return -1;
	}
	cctx = EVP_CIPHER_CTX_new();
	if (cctx && enc_len <= sizeof(plain) &&
	    EVP_DecryptInit_ex(cctx, cipher, NULL, sym, iv) == 1 &&
	    EVP_DecryptUpdate(cctx, plain, &len, enc, (int)enc_len) == 1 &&
	    (size_t)len == enc_len &&
	    (size_t)(plain[0] << 8 | plain[1]) + 2 == enc_len) {
		buf_append(cred, plain + 2, enc_len - 2);
		ret = 0;
	} else {
		*why = "decryption";
	}
	EVP_CIPHER_CTX_free(cctx);
	return ret;
}

static void test_soft(EVP_PKEY *priv, uint16_t name_alg, uint16_t sym_bits)
{
	struct buf pub = BUF_INIT, blob = BUF_INIT, blob2 = BUF_INIT;
	struct buf cred = BUF_INIT;
	struct tpm_public ek;
	const char *why = "";
	uint8_t name[34], secret[64];
	size_t hlen;
	char err[256] = "";

	CHECK_INT(tpub_build(priv, name_alg, TPUB_EK_ATTRS, sym_bits, &pub), 0);
	CHECK_INT(tpm_public_parse(pub.data, pub.len, &ek, err, sizeof(err)),
		  0);
	hlen = (size_t)EVP_MD_get_size(tpm_alg_md(name_alg));
	RAND_bytes(name, sizeof(name));
	name[0] = 0x00;
	name[1] = 0x0b;
	RAND_bytes(secret, sizeof(secret));

	/* Full-size credential, and a short one. */
	CHECK_INT(tpm_credential_make(&ek, name, sizeof(name), secret, hlen,
				      &blob, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_INT(soft_activate(priv, &ek, name, sizeof(name), &blob, &cred,
				&why), 0);
	CHECK_STR(why, "");
	CHECK(cred.len == hlen && !memcmp(cred.data, secret, hlen));
	CHECK_INT(tpm_credential_make(&ek, name, sizeof(name), secret, 5,
				      &blob2, err, sizeof(err)), 0);
	CHECK_INT(soft_activate(priv, &ek, name, sizeof(name), &blob2, &cred,
				&why), 0);
	CHECK(cred.len == 5 && !memcmp(cred.data, secret, 5));
	/* Fresh randomness every time. */
	buf_reset(&blob2);
	CHECK_INT(tpm_credential_make(&ek, name, sizeof(name), secret, hlen,
				      &blob2, err, sizeof(err)), 0);
	CHECK(blob.len != blob2.len ||
	      memcmp(blob.data, blob2.data, blob.len));
	/* Bound to the Name: another object cannot activate it. */
	name[5] ^= 1;
	CHECK_INT(soft_activate(priv, &ek, name, sizeof(name), &blob, &cred,
				&why), -1);
	CHECK_STR(why, "integrity HMAC mismatch");
	name[5] ^= 1;
	/* Tampering with the encrypted credential is caught. */
	blob.data[blob.len / 2] ^= 0x40;
	CHECK_INT(soft_activate(priv, &ek, name, sizeof(name), &blob, &cred,
				&why), -1);

	/* Refusals leave out unchanged. */
	buf_reset(&blob);
	CHECK_INT(tpm_credential_make(&ek, name, sizeof(name), secret, 0,
				      &blob, err, sizeof(err)), -1);
	CHECK(!strncmp(err, "credential must be 1 to", 23));
	CHECK_INT(tpm_credential_make(&ek, name, sizeof(name), secret,
				      hlen + 1, &blob, err, sizeof(err)), -1);
	CHECK_INT(tpm_credential_make(&ek, name, 1, secret, hlen, &blob, err,
				      sizeof(err)), -1);
	CHECK(!strncmp(err, "object Name must be", 19));
	CHECK_INT(tpm_credential_make(&ek, name, sizeof(TPMU_NAME) + 1, secret,
				      hlen, &blob, err, sizeof(err)), -1);
	CHECK_INT(blob.len, 0);
	tpm_public_free(&ek);
	buf_free(&pub);
	buf_free(&blob);
	buf_free(&blob2);
	buf_free(&cred);
}

static void test_refusals(EVP_PKEY *rsa)
{
	struct buf pub = BUF_INIT, blob = BUF_INIT;
	struct tpm_public ek;
	uint8_t name[34] = { 0, 0x0b }, secret[32] = { 1 };
	char err[256] = "";

	/* A signing key has no symmetric algorithm: not an EK. */
	CHECK_INT(tpub_build(rsa, TPM2_ALG_SHA256, TPUB_AK_ATTRS, 0, &pub), 0);
	CHECK_INT(tpm_public_parse(pub.data, pub.len, &ek, err, sizeof(err)),
		  0);
	CHECK_INT(tpm_credential_make(&ek, name, sizeof(name), secret,
				      sizeof(secret), &blob, err, sizeof(err)),
		  -1);
	CHECK_STR(err, "EK symmetric algorithm is not AES-CFB");
	tpm_public_free(&ek);
	CHECK_INT(tpm_credential_make(&ek, name, sizeof(name), secret,
				      sizeof(secret), &blob, err, sizeof(err)),
		  -1);
	CHECK_STR(err, "EK is not a parsed RSA or ECC key");
	CHECK_INT(blob.len, 0);
	buf_free(&pub);
	buf_free(&blob);
}

static void test_parse(EVP_PKEY *rsa)
{
	struct buf pub = BUF_INIT, blob = BUF_INIT, tmp = BUF_INIT;
	struct tpm_public ek;
	TPM2B_ID_OBJECT id;
	TPM2B_ENCRYPTED_SECRET sec;
	uint8_t name[34] = { 0, 0x0b }, secret[32] = { 1 };
	char err[256] = "";
	size_t n;

	CHECK_INT(tpub_build(rsa, TPM2_ALG_SHA256, TPUB_EK_ATTRS, 128, &pub),
		  0);
	CHECK_INT(tpm_public_parse(pub.data, pub.len, &ek, err, sizeof(err)),
		  0);
	CHECK_INT(tpm_credential_make(&ek, name, sizeof(name), secret,
				      sizeof(secret), &blob, err, sizeof(err)),
		  0);
	/* magic, version, ID object (2 + 2 + 32 + 2 + 32), secret (2+256) */
	CHECK_INT(blob.len, 8 + 2 + 68 + 2 + 256);
	CHECK_INT(tpm_credential_parse(blob.data, blob.len, &id, &sec, err,
				       sizeof(err)), 0);
	CHECK_INT(id.size, 68);
	CHECK_INT(sec.size, 256);
	for (n = 0; n < blob.len; n++)
		CHECK_INT(tpm_credential_parse(blob.data, n, &id, &sec, err,
					       sizeof(err)), -1);
	buf_append(&tmp, blob.data, blob.len);
	buf_append_u8(&tmp, 0);
	CHECK_INT(tpm_credential_parse(tmp.data, tmp.len, &id, &sec, err,
				       sizeof(err)), -1);
	CHECK_STR(err, "credential blob has 1 extra bytes");
	tmp.len--;
	tmp.data[0] = 0xba;
	tmp.data[3] = 0xdf;
	CHECK_INT(tpm_credential_parse(tmp.data, tmp.len, &id, &sec, err,
				       sizeof(err)), -1);
	CHECK_STR(err, "credential blob magic 0xbadcc0df");
	tmp.data[3] = 0xde;
	tmp.data[7] = 2;
	CHECK_INT(tpm_credential_parse(tmp.data, tmp.len, &id, &sec, err,
				       sizeof(err)), -1);
	CHECK_STR(err, "credential blob version 2");
	CHECK_INT(tpm_credential_parse(blob.data, 4, &id, &sec, err,
				       sizeof(err)), -1);
	CHECK_STR(err, "credential blob truncated in header");
	/* An ID object bigger than TPM2B_ID_OBJECT can hold. */
	buf_reset(&tmp);
	buf_append_be32(&tmp, TPM_CREDENTIAL_MAGIC);
	buf_append_be32(&tmp, 1);
	buf_append_be16(&tmp, (uint16_t)(sizeof(id.credential) + 1));
	for (n = 0; n <= sizeof(id.credential); n++)
		buf_append_u8(&tmp, 0);
	buf_append_be16(&tmp, 1);
	buf_append_u8(&tmp, 0);
	CHECK_INT(tpm_credential_parse(tmp.data, tmp.len, &id, &sec, err,
				       sizeof(err)), -1);
	CHECK_STR(err, "credential blob part sizes out of range");
	tpm_public_free(&ek);
	buf_free(&pub);
	buf_free(&blob);
	buf_free(&tmp);
}

/* ---- against swtpm and tpm2-tools ---- */

static int activate_with_tools(struct tt *t, const char *alg)
{
	return tt_run(t,
		"tpm2_flushcontext -t && "
		"tpm2_startauthsession --policy-session -S s-%s.ctx && "
		"tpm2_policysecret -S s-%s.ctx -c e >/dev/null && "
		"tpm2_activatecredential -c ak-%s.ctx -C ek-%s.ctx "
		"-i cred-%s.blob -o act-%s.out -P session:s-%s.ctx; "
		"rc=$?; tpm2_flushcontext s-%s.ctx; exit $rc",
		alg, alg, alg, alg, alg, alg, alg, alg);
}

static void live_alg(struct tt *t, const char *alg, const char *sign,
		     struct tpm_public *ek_out)
{
	struct buf ekpub = BUF_INIT, akpub = BUF_INIT, akname = BUF_INIT;
	struct buf blob = BUF_INIT, out = BUF_INIT;
	struct tpm_public ek, ak;
	uint8_t secret[32];
	char err[256] = "", name[64];

	memset(ek_out, 0, sizeof(*ek_out));
	CHECK_INT(tt_run(t,
		"tpm2_flushcontext -t && "
		"tpm2_createek -c ek-%s.ctx -G %s -u ek-%s.pub && "
		"tpm2_createak -C ek-%s.ctx -c ak-%s.ctx -G %s -g sha256 "
		"-s %s -u ak-%s.pub -n ak-%s.name >/dev/null",
		alg, alg, alg, alg, alg, alg, sign, alg, alg), 0);
	snprintf(name, sizeof(name), "ek-%s.pub", alg);
	CHECK_INT(tt_read(t, name, &ekpub), 0);
	snprintf(name, sizeof(name), "ak-%s.pub", alg);
	CHECK_INT(tt_read(t, name, &akpub), 0);
	snprintf(name, sizeof(name), "ak-%s.name", alg);
	CHECK_INT(tt_read(t, name, &akname), 0);

	CHECK_INT(tpm_public_parse(ekpub.data, ekpub.len, &ek, err,
				   sizeof(err)), 0);
	CHECK_INT(tpm_public_parse(akpub.data, akpub.len, &ak, err,
				   sizeof(err)), 0);
	if (!ek.pkey || !ak.pkey) {
		printf("%s: %s\n", alg, err);
		goto out;
	}
	/* Our Name is the TPM's Name. */
	CHECK(ak.name_len == akname.len &&
	      !memcmp(ak.name, akname.data, akname.len));
	CHECK_INT(tpm_public_check_ak(&ak, err, sizeof(err)), 0);
	CHECK_INT(tpm_public_check_ak(&ek, err, sizeof(err)), -1);

	RAND_bytes(secret, sizeof(secret));
	CHECK_INT(tpm_credential_make(&ek, ak.name, ak.name_len, secret,
				      sizeof(secret), &blob, err, sizeof(err)),
		  0);
	snprintf(name, sizeof(name), "cred-%s.blob", alg);
	CHECK_INT(tt_write(t, name, blob.data, blob.len), 0);
	CHECK_INT(activate_with_tools(t, alg), 0);
	snprintf(name, sizeof(name), "act-%s.out", alg);
	CHECK_INT(tt_read(t, name, &out), 0);
	CHECK(out.len == sizeof(secret) &&
	      !memcmp(out.data, secret, sizeof(secret)));
	printf("%s EK: tpm2_activatecredential recovered our credential: %s\n",
	       alg, out.len == sizeof(secret) &&
	       !memcmp(out.data, secret, sizeof(secret)) ? "yes" : "NO");

	/* Made for another Name (the EK's): the TPM refuses it. */
	buf_reset(&blob);
	CHECK_INT(tpm_credential_make(&ek, ek.name, ek.name_len, secret,
				      sizeof(secret), &blob, err, sizeof(err)),
		  0);
	snprintf(name, sizeof(name), "cred-%s.blob", alg);
	CHECK_INT(tt_write(t, name, blob.data, blob.len), 0);
	printf("(an activation failure is expected next)\n");
	CHECK(activate_with_tools(t, alg) != 0);
	/* ... for the right reason: the outer HMAC over the Name. */
	CHECK_INT(tt_read(t, "cmd.log", &out), 0);
	CHECK(out.data &&
	      strstr((const char *)out.data, "integrity check failed"));
	*ek_out = ek;
	ek.pkey = NULL;
out:
	tpm_public_free(&ek);
	tpm_public_free(&ak);
	buf_free(&ekpub);
	buf_free(&akpub);
	buf_free(&akname);
	buf_free(&blob);
	buf_free(&out);
}

static void live_ek_cert(struct tt *t, const struct tpm_public *rsa_ek,
			 const struct tpm_public *ecc_ek)
{
	struct buf der = BUF_INIT;
	char err[256] = "";

	CHECK_INT(tt_run(t, "tpm2_nvread 0x01c00002 -o ekcert-rsa.der"), 0);
	CHECK_INT(tt_read(t, "ekcert-rsa.der", &der), 0);
	CHECK_INT(tpm_public_cert_matches(rsa_ek, der.data, der.len, err,
					  sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_INT(tpm_public_cert_matches(ecc_ek, der.data, der.len, err,
					  sizeof(err)), -1);
	CHECK_STR(err, "certificate public key does not match the TPM key");
	/* swtpm_setup makes an ECC EK certificate when it makes ECC EKs. */
	CHECK_INT(tt_run(t, "tpm2_getcap handles-nv-index >nv.txt"), 0);
	CHECK_INT(tt_read(t, "nv.txt", &der), 0);
	if (der.data && strstr((const char *)der.data, "0x1C0000A")) {
		CHECK_INT(tt_run(t, "tpm2_nvread 0x01c0000a -o ekcert-ecc.der"),
			  0);
		CHECK_INT(tt_read(t, "ekcert-ecc.der", &der), 0);
		CHECK_INT(tpm_public_cert_matches(ecc_ek, der.data, der.len,
						  err, sizeof(err)), 0);
	} else {
		printf("no ECC EK certificate in this swtpm: not checked\n");
	}
	buf_free(&der);
}

/* The registrar's blob through the agent's path (tpm/tpm.c). */
static void agent_activate(struct tt *t, enum tpm_key_alg alg,
			   TPM2_ALG_ID sign)
{
	struct buf ekpub = BUF_INIT, akpub = BUF_INIT, akpriv = BUF_INIT;
	struct buf blob = BUF_INIT, out = BUF_INIT;
	struct tpm_public ek, ak;
	ESYS_TR ekh = ESYS_TR_NONE, akh = ESYS_TR_NONE;
	uint8_t secret[32];
	struct tpm *tpm;
	char err[256] = "";

	memset(&ek, 0, sizeof(ek));
	memset(&ak, 0, sizeof(ak));
	tpm = tpm_open(t->tcti, err, sizeof(err));
	CHECK(tpm != NULL);
	if (!tpm) {
		printf("tpm_open: %s\n", err);
		return;
	}
	CHECK_INT(tpm_ek_create(tpm, alg, &ekh, &ekpub), 0);
	CHECK_INT(tpm_ak_create(tpm, ekh, TPM2_ALG_SHA256, sign, &akpub,
				&akpriv), 0);
	CHECK_INT(tpm_ak_load(tpm, ekh, akpub.data, akpub.len, akpriv.data,
			      akpriv.len, &akh), 0);
	CHECK_INT(tpm_public_parse(ekpub.data, ekpub.len, &ek, err,
				   sizeof(err)), 0);
	CHECK_INT(tpm_public_parse(akpub.data, akpub.len, &ak, err,
				   sizeof(err)), 0);
	RAND_bytes(secret, sizeof(secret));
	if (ek.pkey && ak.pkey) {
		CHECK_INT(tpm_credential_make(&ek, ak.name, ak.name_len, secret,
					      sizeof(secret), &blob, err,
					      sizeof(err)), 0);
		CHECK_INT(tpm_activate_credential(tpm, akh, ekh, blob.data,
						  blob.len, &out), 0);
		CHECK(out.len == sizeof(secret) &&
		      !memcmp(out.data, secret, sizeof(secret)));
		printf("agent path (tpm_activate_credential, %s EK): %s\n",
		       alg == TPM_ALG_KIND_RSA ? "rsa" : "ecc",
		       out.len == sizeof(secret) &&
		       !memcmp(out.data, secret, sizeof(secret)) ?
		       "recovered" : tpm_error(tpm));
	}
	if (akh != ESYS_TR_NONE)
		tpm_flush(tpm, akh);
	if (ekh != ESYS_TR_NONE)
		tpm_flush(tpm, ekh);
	tpm_close(tpm);
	tpm_public_free(&ek);
	tpm_public_free(&ak);
	buf_free(&ekpub);
	buf_free(&akpub);
	buf_free(&akpriv);
	buf_free(&blob);
	buf_free(&out);
}

static void test_live(void)
{
	struct tpm_public rsa_ek, ecc_ek;
	struct tt t;
	char why[512];
	int rc;

	rc = tt_start(&t, why, sizeof(why));
	if (rc) {
		tt_stop(&t);
		if (rc == 77 && !check_failures)
			CHECK_SKIP("%s (software tests passed)", why);
		printf("swtpm: %s\n", why);
		CHECK(rc == 77);
		return;
	}
	printf("swtpm at %s\n", t.tcti);
	agent_activate(&t, TPM_ALG_KIND_RSA, TPM2_ALG_RSASSA);
	agent_activate(&t, TPM_ALG_KIND_ECC, TPM2_ALG_ECDSA);
	live_alg(&t, "rsa", "rsassa", &rsa_ek);
	live_alg(&t, "ecc", "ecdsa", &ecc_ek);
	if (rsa_ek.pkey && ecc_ek.pkey)
		live_ek_cert(&t, &rsa_ek, &ecc_ek);
	tpm_public_free(&rsa_ek);
	tpm_public_free(&ecc_ek);
	tt_stop(&t);
}

int main(void)
{
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *rsa3 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *ec384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");

	setenv("TSS2_LOG", "all+none", 0);
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK(rsa && rsa3 && ec && ec384);
	if (!rsa || !rsa3 || !ec || !ec384)
		return check_done();
	test_kdf_vectors();
	/* The TCG EK templates: low range, and high range with AES-256. */
	test_soft(rsa, TPM2_ALG_SHA256, 128);
	test_soft(ec, TPM2_ALG_SHA256, 128);
	test_soft(rsa3, TPM2_ALG_SHA384, 256);
	test_soft(ec384, TPM2_ALG_SHA384, 256);
	test_soft(ec, TPM2_ALG_SHA1, 192);
	test_refusals(rsa);
	test_parse(rsa);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(rsa3);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(ec384);
	test_live();
	return check_done();
}
