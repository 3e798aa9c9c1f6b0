/* tpm: the agent's TPM 2.0 operations over tpm2-tss ESAPI (see tpm.h).
 *
 * Every ESAPI output is freed with Esys_Free on every path; values the TPM
 * hands back are checked against what was asked for before they are used;
 * the credential secret is wiped once copied out. */
#include "tpm/tpm.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "tpm/tpm_public.h"
#include "util/log.h"
#include "util/secure.h"
#include "util/error.h"

struct tpm {
	ESYS_CONTEXT *ctx;
	TSS2_TCTI_CONTEXT *tcti;
	char err[512];
	TSS2_RC rc;		/* of the last failed TSS call, or 0 */
};

/* TCG EK Credential Profile 2.x, NV indices of the default EK certificates. */
#define TPM_NV_EK_CERT_RSA 0x01c00002
#define TPM_NV_EK_CERT_ECC 0x01c0000a

/* TPM2_PolicySecret(TPM_RH_ENDORSEMENT) under SHA-256: the authPolicy of
 * the default EK templates (EK Credential Profile, "PolicyA"). */
static const uint8_t tpm_ek_policy[32] = {
	0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8,
	0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
	0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64,
	0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa,
};

/* How often a quote is retaken when a PCR changed while we read them. */
#define TPM_QUOTE_ATTEMPTS 5
/* tpm2-tools' PCR file layout (see tpm_pcrblob_write). */
#define TPM_BLOB_BANKS 16
#define TPM_BLOB_DIGESTS 8
#define TPM_BLOB_HA_SIZE 64
#define TPM_GET_RANDOM_MAX 65536

static void tpm_seterr(struct tpm *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void tpm_seterr(struct tpm *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->err, sizeof(t->err), fmt, ap);
	va_end(ap);
	t->rc = 0;
}

/* Records a failed TSS call and returns -1. */
static int tpm_fail(struct tpm *t, const char *what, TSS2_RC rc)
{
	tpm_seterr(t, "%s: %s (0x%08x)", what, Tss2_RC_Decode(rc),
		   (unsigned)rc);
	t->rc = rc;
	return -1;
}

const char *tpm_error(const struct tpm *t)
{
	return t ? t->err : "no TPM context";
}

TSS2_RC tpm_last_rc(const struct tpm *t)
{
	return t ? t->rc : 0;
}

/* ---- algorithm names ---- */

static const struct {
	const char *name;
	TPM2_ALG_ID id;
	size_t hash_size;	/* 0 for non-hash algorithms */
} tpm_algs[] = {
	{ "sha1", TPM2_ALG_SHA1, 20 },
	{ "sha256", TPM2_ALG_SHA256, 32 },
	{ "sha384", TPM2_ALG_SHA384, 48 },
	{ "sha512", TPM2_ALG_SHA512, 64 },
	{ "sm3_256", TPM2_ALG_SM3_256, 32 },
	{ "rsa", TPM2_ALG_RSA, 0 },
	{ "ecc", TPM2_ALG_ECC, 0 },
	{ "rsassa", TPM2_ALG_RSASSA, 0 },
	{ "rsapss", TPM2_ALG_RSAPSS, 0 },
	{ "ecdsa", TPM2_ALG_ECDSA, 0 },
	{ "ecdaa", TPM2_ALG_ECDAA, 0 },
	{ "ecschnorr", TPM2_ALG_ECSCHNORR, 0 },
};

int tpm_alg_from_name(const char *name, TPM2_ALG_ID *alg)
{
	size_t i;

	for (i = 0; name && i < sizeof(tpm_algs) / sizeof(tpm_algs[0]); i++) {
		if (!strcmp(tpm_algs[i].name, name)) {
			*alg = tpm_algs[i].id;
			return 0;
		}
	}
	return -1;
}

const char *tpm_alg_name(TPM2_ALG_ID alg)
{
	size_t i;

	for (i = 0; i < sizeof(tpm_algs) / sizeof(tpm_algs[0]); i++)
		if (tpm_algs[i].id == alg)
			return tpm_algs[i].name;
	return NULL;
}

size_t tpm_hash_size(TPM2_ALG_ID hash)
{
	size_t i;

	for (i = 0; i < sizeof(tpm_algs) / sizeof(tpm_algs[0]); i++)
		if (tpm_algs[i].id == hash)
			return tpm_algs[i].hash_size;
	return 0;
}

/* For messages: never NULL. */
static const char *tpm_alg_str(TPM2_ALG_ID alg)
{
	const char *s = tpm_alg_name(alg);

	return s ? s : "unknown algorithm";
}

/* ---- context ---- */

/* Reads one fixed TPM property (TPM2_CAP_TPM_PROPERTIES). */
static int tpm_property(struct tpm *t, TPM2_PT prop, uint32_t *value)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	TSS2_RC rc;
	int ret = -1;

	rc = Esys_GetCapability(t->ctx, ESYS_TR_NONE, ESYS_TR_NONE,
				ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES, prop, 1,
				&more, &cap);
	if (rc)
		return tpm_fail(t, "GetCapability(TPM properties)", rc);
	if (cap->data.tpmProperties.count >= 1 &&
	    cap->data.tpmProperties.tpmProperty[0].property == prop) {
		*value = cap->data.tpmProperties.tpmProperty[0].value;
		ret = 0;
	} else {
		tpm_seterr(t, "TPM does not report property 0x%x",
			   (unsigned)prop);
	}
	Esys_Free(cap);
	return ret;
}

struct tpm *tpm_open(const char *tcti, char *err, size_t errlen)
{
	const char *name = tcti ? tcti : "(default TCTI)";
	struct tpm *t;
	uint32_t family;
	TSS2_RC rc;

	t = calloc(1, sizeof(*t));
	if (!t) {
		error_set(err, errlen, "out of memory");
		return NULL;
	}
	rc = Tss2_TctiLdr_Initialize(tcti, &t->tcti);
	if (rc) {
		error_set(err, errlen, "TCTI %s: %s (0x%08x)", name,
			     Tss2_RC_Decode(rc), (unsigned)rc);
		free(t);
		return NULL;
	}
	rc = Esys_Initialize(&t->ctx, t->tcti, NULL);
	if (rc) {
		error_set(err, errlen, "Esys_Initialize on %s: %s (0x%08x)",
			     name, Tss2_RC_Decode(rc), (unsigned)rc);
		Tss2_TctiLdr_Finalize(&t->tcti);
		free(t);
		return NULL;
	}
	/* Talk to the TPM once so that a dead TCTI fails here, with the
	 * connection named, rather than at the first real command. */
	if (tpm_property(t, TPM2_PT_FAMILY_INDICATOR, &family) < 0) {
		error_set(err, errlen, "TPM on %s does not answer: %s",
			     name, t->err);
		tpm_close(t);
		return NULL;
	}
	return t;
}

void tpm_close(struct tpm *t)
{
	if (!t)
		return;
	if (t->ctx)
		Esys_Finalize(&t->ctx);
	if (t->tcti)
		Tss2_TctiLdr_Finalize(&t->tcti);
	free(t);
}

ESYS_CONTEXT *tpm_esys(struct tpm *t)
{
	return t ? t->ctx : NULL;
}

/* ---- marshaling helpers ---- */

static int tpm_put(struct tpm *t, struct buf *out, const uint8_t *p,
		   size_t n)
{
	if (buf_append(out, p, n) < 0) {
		tpm_seterr(t, "out of memory");
		return -1;
	}
	return 0;
}

static int tpm_put_public(struct tpm *t, const TPM2B_PUBLIC *pub,
			  struct buf *out)
{
	uint8_t tmp[sizeof(TPM2B_PUBLIC)];
	size_t off = 0;
	TSS2_RC rc;

	rc = Tss2_MU_TPM2B_PUBLIC_Marshal(pub, tmp, sizeof(tmp), &off);
	if (rc)
		return tpm_fail(t, "marshal TPM2B_PUBLIC", rc);
	return tpm_put(t, out, tmp, off);
}

static int tpm_put_private(struct tpm *t, const TPM2B_PRIVATE *priv,
			   struct buf *out)
{
	uint8_t tmp[sizeof(TPM2B_PRIVATE)];
	size_t off = 0;
	TSS2_RC rc;
	int ret;

	rc = Tss2_MU_TPM2B_PRIVATE_Marshal(priv, tmp, sizeof(tmp), &off);
	if (rc)
		return tpm_fail(t, "marshal TPM2B_PRIVATE", rc);
	ret = tpm_put(t, out, tmp, off);
	secure_wipe(tmp, sizeof(tmp));
	return ret;
}

static int tpm_put_signature(struct tpm *t, const TPMT_SIGNATURE *sig,
			     struct buf *out)
{
	uint8_t tmp[sizeof(TPMT_SIGNATURE)];
	size_t off = 0;
	TSS2_RC rc;

	rc = Tss2_MU_TPMT_SIGNATURE_Marshal(sig, tmp, sizeof(tmp), &off);
	if (rc)
		return tpm_fail(t, "marshal TPMT_SIGNATURE", rc);
	return tpm_put(t, out, tmp, off);
}

static void tpm_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void tpm_put_le32(uint8_t *p, uint32_t v)
{
	tpm_put_le16(p, (uint16_t)v);
	tpm_put_le16(p + 2, (uint16_t)(v >> 16));
}

/* ---- sessions ---- */

/* Starts a policy session that satisfies the default EK policy, i.e.
 * PolicySecret on the endorsement hierarchy (empty endorsement auth). The
 * EK is a policy-only object, so using it as a parent or decryption key
 * needs this instead of a password session. */
static int tpm_ek_session(struct tpm *t, ESYS_TR *session)
{
	TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
	TSS2_RC rc;

	rc = Esys_StartAuthSession(t->ctx, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   NULL, TPM2_SE_POLICY, &sym, TPM2_ALG_SHA256,
				   session);
	if (rc)
		return tpm_fail(t, "StartAuthSession(policy)", rc);
	rc = Esys_PolicySecret(t->ctx, ESYS_TR_RH_ENDORSEMENT, *session,
			       ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
			       NULL, NULL, NULL, 0, NULL, NULL);
	if (rc) {
		Esys_FlushContext(t->ctx, *session);
		*session = ESYS_TR_NONE;
		return tpm_fail(t, "PolicySecret(endorsement)", rc);
	}
	return 0;
}

/* ESAPI starts sessions with continueSession set, so they outlive the
 * command that used them and must be flushed. */
static void tpm_session_end(struct tpm *t, ESYS_TR session)
{
	if (session != ESYS_TR_NONE)
		Esys_FlushContext(t->ctx, session);
}

/* ---- endorsement key ---- */

static int tpm_ek_template(struct tpm *t, enum tpm_key_alg alg,
			   TPM2B_PUBLIC *pub)
{
	TPMT_PUBLIC *p = &pub->publicArea;
	TPMT_SYM_DEF_OBJECT aes128cfb = {
		.algorithm = TPM2_ALG_AES,
		.keyBits.aes = 128,
		.mode.aes = TPM2_ALG_CFB,
	};

	memset(pub, 0, sizeof(*pub));
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
		TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_ADMINWITHPOLICY |
		TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
	p->authPolicy.size = sizeof(tpm_ek_policy);
	memcpy(p->authPolicy.buffer, tpm_ek_policy, sizeof(tpm_ek_policy));
	switch (alg) {
	case TPM_ALG_KIND_RSA:	/* template L-1 */
		p->type = TPM2_ALG_RSA;
		p->parameters.rsaDetail.symmetric = aes128cfb;
		p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
		p->parameters.rsaDetail.keyBits = 2048;
		p->parameters.rsaDetail.exponent = 0;
		p->unique.rsa.size = 256;	/* zeros */
		return 0;
	case TPM_ALG_KIND_ECC:	/* template L-2 */
		p->type = TPM2_ALG_ECC;
		p->parameters.eccDetail.symmetric = aes128cfb;
		p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
		p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
		p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
		p->unique.ecc.x.size = 32;	/* zeros */
		p->unique.ecc.y.size = 32;
		return 0;
	}
	tpm_seterr(t, "EK: unknown key algorithm %d", (int)alg);
	return -1;
}

int tpm_ek_create(struct tpm *t, enum tpm_key_alg alg, ESYS_TR *ek,
		  struct buf *pub)
{
	TPM2B_SENSITIVE_CREATE sens = { 0 };
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION pcrs = { 0 };
	TPM2B_PUBLIC tmpl, *out = NULL;
	TSS2_RC rc;

	buf_reset(pub);
	*ek = ESYS_TR_NONE;
	if (tpm_ek_template(t, alg, &tmpl) < 0)
		return -1;
	rc = Esys_CreatePrimary(t->ctx, ESYS_TR_RH_ENDORSEMENT,
				ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
				&sens, &tmpl, &outside, &pcrs, ek, &out,
				NULL, NULL, NULL);
	if (rc)
		return tpm_fail(t, alg == TPM_ALG_KIND_RSA ?
				"CreatePrimary(RSA EK)" :
				"CreatePrimary(ECC EK)", rc);
	if (tpm_put_public(t, out, pub) < 0) {
		Esys_Free(out);
		Esys_FlushContext(t->ctx, *ek);
		*ek = ESYS_TR_NONE;
		buf_reset(pub);
		return -1;
	}
	Esys_Free(out);
	return 0;
}

/* NV indices are defined by the platform manufacturer or not at all;
 * asking for the handle list starting at the index tells which. */
static int tpm_nv_exists(struct tpm *t, TPM2_HANDLE index, int *exists)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	TSS2_RC rc;

	rc = Esys_GetCapability(t->ctx, ESYS_TR_NONE, ESYS_TR_NONE,
				ESYS_TR_NONE, TPM2_CAP_HANDLES, index, 1,
				&more, &cap);
	if (rc)
		return tpm_fail(t, "GetCapability(NV handles)", rc);
	*exists = cap->data.handles.count >= 1 &&
		  cap->data.handles.handle[0] == index;
	Esys_Free(cap);
	return 0;
}

/* Length of the DER SEQUENCE at p (header included), or 0 when p does not
 * start with one that fits in n bytes. TPMs may pad the NV area after the
 * certificate; this finds where the certificate really ends. */
static size_t tpm_der_length(const uint8_t *p, size_t n)
{
	size_t len = 0, hdr, i;

	if (n < 2 || p[0] != 0x30)
		return 0;
	if (p[1] < 0x80) {
		hdr = 2;
		len = p[1];
	} else {
		hdr = 2 + (p[1] & 0x7f);
		if (hdr == 2 || hdr > 6 || hdr > n)
			return 0;
		for (i = 2; i < hdr; i++)
			len = (len << 8) | p[i];
	}
	if (len > n - hdr)
		return 0;
	return hdr + len;
}

static int tpm_nv_read_all(struct tpm *t, ESYS_TR nv, struct buf *out)
{
	TPM2B_NV_PUBLIC *nvpub = NULL;
	TPM2B_MAX_NV_BUFFER *data = NULL;
	uint32_t chunk;
	uint16_t size, off = 0;
	ESYS_TR auth;
	TSS2_RC rc;

	rc = Esys_NV_ReadPublic(t->ctx, nv, ESYS_TR_NONE, ESYS_TR_NONE,
				ESYS_TR_NONE, &nvpub, NULL);
	if (rc)
		return tpm_fail(t, "NV_ReadPublic(EK certificate)", rc);
	size = nvpub->nvPublic.dataSize;
	/* The EK profile asks for AUTHREAD with an empty authValue; use it
	 * so that an owner password does not get in the way. */
	auth = (nvpub->nvPublic.attributes & TPMA_NV_AUTHREAD) ?
		nv : ESYS_TR_RH_OWNER;
	Esys_Free(nvpub);
	if (size == 0) {
		tpm_seterr(t, "EK certificate NV index is empty");
		return -1;
	}
	if (tpm_property(t, TPM2_PT_NV_BUFFER_MAX, &chunk) < 0)
		return -1;
	if (chunk == 0 || chunk > sizeof(data->buffer))
		chunk = sizeof(data->buffer);
	while (off < size) {
		uint32_t rest = (uint32_t)size - off;
		uint16_t want = (uint16_t)(rest < chunk ? rest : chunk);

		rc = Esys_NV_Read(t->ctx, auth, nv, ESYS_TR_PASSWORD,
				  ESYS_TR_NONE, ESYS_TR_NONE, want, off, &data);
		if (rc)
			return tpm_fail(t, "NV_Read(EK certificate)", rc);
		if (data->size != want) {
			tpm_seterr(t, "NV_Read(EK certificate): asked %u bytes "
				   "at %u, got %u", want, off, data->size);
			Esys_Free(data);
			return -1;
		}
		if (tpm_put(t, out, data->buffer, data->size) < 0) {
			Esys_Free(data);
			return -1;
		}
		Esys_Free(data);
		data = NULL;
		off = (uint16_t)(off + want);
	}
	return 0;
}

int tpm_ek_cert_read(struct tpm *t, enum tpm_key_alg alg, struct buf *der)
{
	TPM2_HANDLE index = alg == TPM_ALG_KIND_RSA ? TPM_NV_EK_CERT_RSA :
						     TPM_NV_EK_CERT_ECC;
	ESYS_TR nv = ESYS_TR_NONE;
	TSS2_RC rc;
	size_t n;
	int exists = 0, ret;

	buf_reset(der);
	if (alg != TPM_ALG_KIND_RSA && alg != TPM_ALG_KIND_ECC) {
		tpm_seterr(t, "EK certificate: unknown key algorithm %d",
			   (int)alg);
		return -1;
	}
	if (tpm_nv_exists(t, index, &exists) < 0)
		return -1;
	if (!exists)
		return 1;
	rc = Esys_TR_FromTPMPublic(t->ctx, index, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, &nv);
	if (rc)
		return tpm_fail(t, "TR_FromTPMPublic(EK certificate index)",
				rc);
	ret = tpm_nv_read_all(t, nv, der);
	Esys_TR_Close(t->ctx, &nv);
	if (ret < 0) {
		buf_reset(der);
		return -1;
	}
	n = tpm_der_length(der->data, der->len);
	if (n == 0)
		log_warn("EK certificate at NV 0x%08x is not a DER sequence; "
			 "passing it on unchanged", (unsigned)index);
	else
		der->len = n;
	return 0;
}

/* ---- attestation key ---- */

static int tpm_ak_template(struct tpm *t, TPM2_ALG_ID hash, TPM2_ALG_ID sign,
			   TPM2B_PUBLIC *pub)
{
	TPMT_PUBLIC *p = &pub->publicArea;

	memset(pub, 0, sizeof(*pub));
	if (!tpm_alg_md(hash)) {
		tpm_seterr(t, "AK: unsupported hash algorithm %s (0x%04x)",
			   tpm_alg_str(hash), hash);
		return -1;
	}
	p->nameAlg = TPM2_ALG_SHA256;
	/* As tpm2_createak and Keylime: a restricted signing key, so it
	 * only signs TPM-generated structures such as quotes. */
	p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
		TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
		TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
	switch (sign) {
	case TPM2_ALG_RSASSA:
	case TPM2_ALG_RSAPSS:
		p->type = TPM2_ALG_RSA;
		p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
		p->parameters.rsaDetail.scheme.scheme = sign;
		p->parameters.rsaDetail.scheme.details.anySig.hashAlg = hash;
		p->parameters.rsaDetail.keyBits = 2048;
		p->parameters.rsaDetail.exponent = 0;
		return 0;
	case TPM2_ALG_ECDSA:
		p->type = TPM2_ALG_ECC;
		p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
		p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
		p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = hash;
		p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
		p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
		return 0;
	default:
		tpm_seterr(t, "AK: unsupported signing algorithm %s (0x%04x); "
			   "use rsassa, rsapss or ecdsa", tpm_alg_str(sign),
			   sign);
		return -1;
	}
}

int tpm_ak_create(struct tpm *t, ESYS_TR ek, TPM2_ALG_ID hash,
		  TPM2_ALG_ID sign, struct buf *pub, struct buf *priv)
{
	TPM2B_SENSITIVE_CREATE sens = { 0 };
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION pcrs = { 0 };
	TPM2B_PUBLIC tmpl, *out_pub = NULL;
	TPM2B_PRIVATE *out_priv = NULL;
	ESYS_TR session;
	TSS2_RC rc;
	int ret = -1;

	buf_reset(pub);
	buf_reset(priv);
	if (tpm_ak_template(t, hash, sign, &tmpl) < 0)
		return -1;
	if (tpm_ek_session(t, &session) < 0)
		return -1;
	rc = Esys_Create(t->ctx, ek, session, ESYS_TR_NONE, ESYS_TR_NONE,
			 &sens, &tmpl, &outside, &pcrs, &out_priv, &out_pub,
			 NULL, NULL, NULL);
	tpm_session_end(t, session);
	if (rc) {
		tpm_seterr(t, "Create(AK %s/%s under EK): %s (0x%08x)",
			   tpm_alg_str(sign), tpm_alg_str(hash),
			   Tss2_RC_Decode(rc), (unsigned)rc);
		return -1;
	}
	if (tpm_put_public(t, out_pub, pub) == 0 &&
	    tpm_put_private(t, out_priv, priv) == 0)
		ret = 0;
	Esys_Free(out_pub);
	Esys_Free(out_priv);
	if (ret < 0) {
		buf_reset(pub);
		buf_reset(priv);
	}
	return ret;
}

int tpm_ak_load(struct tpm *t, ESYS_TR ek, const uint8_t *pub, size_t pub_len,
		const uint8_t *priv, size_t priv_len, ESYS_TR *ak)
{
	TPM2B_PUBLIC in_pub = { 0 };
	TPM2B_PRIVATE in_priv = { 0 };
	TPMA_OBJECT need = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
	ESYS_TR session;
	size_t off = 0;
	TSS2_RC rc;

	*ak = ESYS_TR_NONE;
	if (!pub || Tss2_MU_TPM2B_PUBLIC_Unmarshal(pub, pub_len, &off,
						   &in_pub) || off != pub_len) {
		tpm_seterr(t, "AK public: not one TPM2B_PUBLIC (%zu bytes)",
			   pub_len);
		return -1;
	}
	off = 0;
	if (!priv || Tss2_MU_TPM2B_PRIVATE_Unmarshal(priv, priv_len, &off,
						     &in_priv) ||
	    off != priv_len) {
		tpm_seterr(t, "AK private: not one TPM2B_PRIVATE (%zu bytes)",
			   priv_len);
		return -1;
	}
	if ((in_pub.publicArea.objectAttributes & need) != need ||
	    (in_pub.publicArea.objectAttributes & TPMA_OBJECT_DECRYPT)) {
		tpm_seterr(t, "AK public: not a restricted signing key "
			   "(attributes 0x%08x)",
			   (unsigned)in_pub.publicArea.objectAttributes);
		return -1;
	}
	if (tpm_ek_session(t, &session) < 0)
		return -1;
	rc = Esys_Load(t->ctx, ek, session, ESYS_TR_NONE, ESYS_TR_NONE,
		       &in_priv, &in_pub, ak);
	tpm_session_end(t, session);
	secure_wipe(&in_priv, sizeof(in_priv));
	if (rc) {
		*ak = ESYS_TR_NONE;
		return tpm_fail(t, "Load(AK under EK)", rc);
	}
	return 0;
}

/* ---- credential activation ---- */

#define TPM_CRED_MAGIC 0xBADCC0DEu

int tpm_activate_credential_parts(struct tpm *t, ESYS_TR key, ESYS_TR ek,
				  const TPM2B_ID_OBJECT *cred,
				  const TPM2B_ENCRYPTED_SECRET *enc,
				  struct buf *secret)
{
	TPM2B_DIGEST *cert = NULL;
	ESYS_TR session;
	TSS2_RC rc;
	int ret;

	buf_reset(secret);
	if (tpm_ek_session(t, &session) < 0)
		return -1;
	/* activateHandle (the key) takes its password, keyHandle (the EK)
	 * the EK policy. */
	rc = Esys_ActivateCredential(t->ctx, key, ek, ESYS_TR_PASSWORD,
				     session, ESYS_TR_NONE, cred, enc, &cert);
	tpm_session_end(t, session);
	if (rc)
		return tpm_fail(t, "ActivateCredential", rc);
	ret = tpm_put(t, secret, cert->buffer, cert->size);
	secure_wipe(cert, sizeof(*cert));
	Esys_Free(cert);
	return ret;
}

int tpm_activate_credential(struct tpm *t, ESYS_TR ak, ESYS_TR ek,
			    const uint8_t *blob, size_t len,
			    struct buf *secret)
{
	TPM2B_ID_OBJECT cred = { 0 };
	TPM2B_ENCRYPTED_SECRET enc = { 0 };
	struct cursor c = cursor_init(blob, len);
	uint32_t magic, version;
	size_t off;

	buf_reset(secret);
	magic = cursor_be32(&c);
	version = cursor_be32(&c);
	if (!blob || c.err) {
		tpm_seterr(t, "credential blob: %zu bytes, too short for the "
			   "header", len);
		return -1;
	}
	if (magic != TPM_CRED_MAGIC || version != 1) {
		tpm_seterr(t, "credential blob: magic 0x%08x version %u, "
			   "expected 0x%08x version 1", magic, version,
			   TPM_CRED_MAGIC);
		return -1;
	}
	off = len - c.left;
	if (Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(blob, len, &off, &cred)) {
		tpm_seterr(t, "credential blob: bad TPM2B_ID_OBJECT at "
			   "offset %zu", off);
		return -1;
	}
	if (Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(blob, len, &off, &enc)) {
		tpm_seterr(t, "credential blob: bad TPM2B_ENCRYPTED_SECRET at "
			   "offset %zu", off);
		return -1;
	}
	if (off != len) {
		tpm_seterr(t, "credential blob: %zu trailing bytes",
			   len - off);
		return -1;
	}
	return tpm_activate_credential_parts(t, ak, ek, &cred, &enc, secret);
}

/* ---- PCRs ---- */

/* The values of one bank's PCRs in mask, as read together. */
struct tpm_pcrs {
	TPM2_ALG_ID bank;
	uint32_t mask;
	TPM2B_DIGEST value[TPM_PCR_COUNT];
};

static int tpm_pcr_selection(struct tpm *t, uint32_t mask, TPM2_ALG_ID bank,
			     TPML_PCR_SELECTION *sel)
{
	memset(sel, 0, sizeof(*sel));
	if (mask == 0 || mask >> TPM_PCR_COUNT) {
		tpm_seterr(t, "PCR mask 0x%x: must select PCRs 0..%d only, "
			   "and at least one", mask, TPM_PCR_COUNT - 1);
		return -1;
	}
	if (!tpm_alg_md(bank)) {
		tpm_seterr(t, "PCR bank %s (0x%04x) not supported",
			   tpm_alg_str(bank), bank);
		return -1;
	}
	sel->count = 1;
	sel->pcrSelections[0].hash = bank;
	sel->pcrSelections[0].sizeofSelect = 3;
	sel->pcrSelections[0].pcrSelect[0] = (uint8_t)mask;
	sel->pcrSelections[0].pcrSelect[1] = (uint8_t)(mask >> 8);
	sel->pcrSelections[0].pcrSelect[2] = (uint8_t)(mask >> 16);
	return 0;
}

static uint32_t tpm_selection_mask(const TPMS_PCR_SELECTION *s)
{
	uint32_t m = 0;
	unsigned i;

	for (i = 0; i < s->sizeofSelect && i < sizeof(s->pcrSelect); i++)
		m |= (uint32_t)s->pcrSelect[i] << (8 * i);
	return m;
}

/* Takes one PCR_Read answer apart: which PCRs it covers and their values,
 * in ascending PCR order as TPM2_PCR_Read returns them. */
static int tpm_pcr_take(struct tpm *t, struct tpm_pcrs *p, uint32_t want,
			const TPML_PCR_SELECTION *got, const TPML_DIGEST *vals,
			uint32_t *done)
{
	size_t hsize = tpm_hash_size(p->bank);
	uint32_t m;
	unsigned i, k = 0;

	*done = 0;
	if (got->count == 0)
		return 0;
	if (got->count != 1 || got->pcrSelections[0].hash != p->bank) {
		tpm_seterr(t, "PCR_Read: answer for other banks than %s",
			   tpm_alg_str(p->bank));
		return -1;
	}
	m = tpm_selection_mask(&got->pcrSelections[0]);
	if (m & ~want) {
		tpm_seterr(t, "PCR_Read: got PCRs 0x%x, asked 0x%x", m, want);
		return -1;
	}
	for (i = 0; i < TPM_PCR_COUNT; i++) {
		if (!(m & (1u << i)))
			continue;
		if (k >= vals->count ||
		    k >= sizeof(vals->digests) / sizeof(vals->digests[0]) ||
		    vals->digests[k].size != hsize) {
			tpm_seterr(t, "PCR_Read: values do not match the "
				   "selection (%u values)", vals->count);
			return -1;
		}
		p->value[i] = vals->digests[k++];
	}
	if (k != vals->count) {
		tpm_seterr(t, "PCR_Read: %u values for %u PCRs", vals->count,
			   k);
		return -1;
	}
	*done = m;
	return 0;
}

/* Reads the PCRs of p->mask in p->bank. PCR_Read returns at most 8 values
 * per call, so this takes several rounds. Returns 1 (retry) when the TPM's
 * PCR update counter moved between rounds. */
static int tpm_pcrs_read(struct tpm *t, struct tpm_pcrs *p)
{
	TPML_PCR_SELECTION want, *got = NULL;
	TPML_DIGEST *vals = NULL;
	uint32_t left = p->mask, counter, first = 0, done;
	int rounds = 0;
	TSS2_RC rc;

	memset(p->value, 0, sizeof(p->value));
	while (left) {
		if (tpm_pcr_selection(t, left, p->bank, &want) < 0)
			return -1;
		rc = Esys_PCR_Read(t->ctx, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, &want, &counter, &got, &vals);
		if (rc)
			return tpm_fail(t, "PCR_Read", rc);
		if (tpm_pcr_take(t, p, left, got, vals, &done) < 0) {
			Esys_Free(got);
			Esys_Free(vals);
			return -1;
		}
		Esys_Free(got);
		Esys_Free(vals);
		if (!done) {
			tpm_seterr(t, "PCR_Read: no value for PCRs 0x%x in "
				   "bank %s (bank not active?)", left,
				   tpm_alg_str(p->bank));
			return -1;
		}
		if (rounds++ == 0)
			first = counter;
		else if (counter != first)
			return 1;
		left &= ~done;
	}
	return 0;
}

int tpm_pcr_read(struct tpm *t, uint32_t pcr_mask, TPM2_ALG_ID bank,
		 struct buf *values)
{
	struct tpm_pcrs p = { .bank = bank, .mask = pcr_mask };
	TPML_PCR_SELECTION sel;
	int attempt, r = 1;
	unsigned i;

	buf_reset(values);
	if (tpm_pcr_selection(t, pcr_mask, bank, &sel) < 0)
		return -1;
	for (attempt = 0; attempt < TPM_QUOTE_ATTEMPTS && r == 1; attempt++)
		r = tpm_pcrs_read(t, &p);
	if (r == 1)
		tpm_seterr(t, "PCR_Read: PCRs kept changing while read");
	if (r)
		return -1;
	for (i = 0; i < TPM_PCR_COUNT; i++) {
		if ((pcr_mask & (1u << i)) &&
		    tpm_put(t, values, p.value[i].buffer,
			    p.value[i].size) < 0) {
			buf_reset(values);
			return -1;
		}
	}
	return 0;
}

/* Hash (in the quote's signing hash) over the PCR values in ascending order,
 * which is how the TPM computes a quote's pcrDigest. */
static int tpm_pcrs_digest(struct tpm *t, const struct tpm_pcrs *p,
			   TPM2_ALG_ID hash, uint8_t *md, unsigned *mdlen)
{
	const EVP_MD *type = tpm_alg_md(hash);
	EVP_MD_CTX *ctx;
	unsigned i;
	int ok;

	if (!type) {
		tpm_seterr(t, "quote: signature hash %s (0x%04x) not supported",
			   tpm_alg_str(hash), hash);
		return -1;
	}
	ctx = EVP_MD_CTX_new();
	ok = ctx && EVP_DigestInit_ex(ctx, type, NULL);
	for (i = 0; ok && i < TPM_PCR_COUNT; i++)
		if (p->mask & (1u << i))
			ok = EVP_DigestUpdate(ctx, p->value[i].buffer,
					      p->value[i].size);
	ok = ok && EVP_DigestFinal_ex(ctx, md, mdlen);
	EVP_MD_CTX_free(ctx);
	if (!ok) {
		tpm_seterr(t, "quote: hashing PCR values failed");
		return -1;
	}
	return 0;
}

/* Checks that a quote is about what was asked: a TPM-generated quote over
 * sel with our nonce. Returns 0 when its pcrDigest matches the values in p,
 * 1 when it does not (a PCR changed between read and quote), -1 on a
 * malformed or unexpected quote. */
static int tpm_quote_check(struct tpm *t, const TPM2B_ATTEST *quoted,
			   const TPMT_SIGNATURE *sig, const TPM2B_DATA *nonce,
			   const TPML_PCR_SELECTION *sel,
			   const struct tpm_pcrs *p)
{
	TPMS_ATTEST att;
	const TPMS_QUOTE_INFO *q = &att.attested.quote;
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	size_t off = 0;

	memset(&att, 0, sizeof(att));
	if (Tss2_MU_TPMS_ATTEST_Unmarshal(quoted->attestationData,
					  quoted->size, &off, &att) ||
	    off != quoted->size) {
		tpm_seterr(t, "quote: malformed TPMS_ATTEST (%u bytes)",
			   quoted->size);
		return -1;
	}
	if (att.magic != TPM2_GENERATED_VALUE ||
	    att.type != TPM2_ST_ATTEST_QUOTE) {
		tpm_seterr(t, "quote: attest magic 0x%08x type 0x%04x is not "
			   "a TPM quote", att.magic, att.type);
		return -1;
	}
	if (att.extraData.size != nonce->size ||
	    memcmp(att.extraData.buffer, nonce->buffer, nonce->size)) {
		tpm_seterr(t, "quote: extraData is not our nonce");
		return -1;
	}
	if (q->pcrSelect.count != 1 ||
	    q->pcrSelect.pcrSelections[0].hash != p->bank ||
	    tpm_selection_mask(&q->pcrSelect.pcrSelections[0]) !=
	    tpm_selection_mask(&sel->pcrSelections[0])) {
		tpm_seterr(t, "quote: covers another PCR selection than "
			   "asked");
		return -1;
	}
	if (tpm_pcrs_digest(t, p, sig->signature.any.hashAlg, md, &mdlen) < 0)
		return -1;
	if (q->pcrDigest.size != mdlen ||
	    memcmp(q->pcrDigest.buffer, md, mdlen))
		return 1;
	return 0;
}

/* tpm2-tools (`tpm2_quote -o`, pcr_fwrite_serialized) writes the PCR file
 * as its in-memory C structs, little-endian on the usual hosts, and
 * Keylime's verifier parses exactly that:
 *   TPML_PCR_SELECTION  u32 count, then 16 TPMS_PCR_SELECTION of 8 bytes:
 *                       u16 hash, u8 sizeofSelect, u8 pcrSelect[4], pad
 *   u32                 number of TPML_DIGEST that follow
 *   TPML_DIGEST         u32 count, then 8 TPM2B_DIGEST of 66 bytes:
 *                       u16 size, u8 buffer[64] (zero-filled)
 * with the values in ascending PCR order, at most 8 per TPML_DIGEST. */
static int tpm_pcrblob_write(struct tpm *t, const struct tpm_pcrs *p,
			     struct buf *out)
{
	uint8_t sel[4 + TPM_BLOB_BANKS * 8] = { 0 };
	uint8_t list[4 + TPM_BLOB_DIGESTS * (2 + TPM_BLOB_HA_SIZE)];
	uint8_t n[4];
	unsigned i, total = 0, in_list = 0;

	for (i = 0; i < TPM_PCR_COUNT; i++)
		total += !!(p->mask & (1u << i));
	tpm_put_le32(sel, 1);
	tpm_put_le16(sel + 4, p->bank);
	sel[6] = 3;
	sel[7] = (uint8_t)p->mask;
	sel[8] = (uint8_t)(p->mask >> 8);
	sel[9] = (uint8_t)(p->mask >> 16);
	tpm_put_le32(n, (total + TPM_BLOB_DIGESTS - 1) / TPM_BLOB_DIGESTS);
	if (tpm_put(t, out, sel, sizeof(sel)) < 0 ||
	    tpm_put(t, out, n, sizeof(n)) < 0)
		return -1;
	memset(list, 0, sizeof(list));
	for (i = 0; i < TPM_PCR_COUNT; i++) {
		uint8_t *d = list + 4 + in_list * (2 + TPM_BLOB_HA_SIZE);

		if (!(p->mask & (1u << i)))
			continue;
		/* Sizes were checked against the bank in tpm_pcr_take. */
		tpm_put_le16(d, p->value[i].size);
		memcpy(d + 2, p->value[i].buffer, p->value[i].size);
		tpm_put_le32(list, ++in_list);
		total--;
		if (in_list == TPM_BLOB_DIGESTS || total == 0) {
			if (tpm_put(t, out, list, sizeof(list)) < 0)
				return -1;
			memset(list, 0, sizeof(list));
			in_list = 0;
		}
	}
	return 0;
}

/* One quote attempt; 1 means retry (PCRs changed). */
static int tpm_quote_once(struct tpm *t, ESYS_TR ak, const TPM2B_DATA *nonce,
			  const TPML_PCR_SELECTION *sel, struct tpm_pcrs *p,
			  struct buf *attest, struct buf *sig)
{
	TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL };
	TPM2B_ATTEST *quoted = NULL;
	TPMT_SIGNATURE *signature = NULL;
	TSS2_RC rc;
	int r;

	r = tpm_pcrs_read(t, p);
	if (r)
		return r;
	/* NULL scheme: the AK's own scheme, fixed at creation. */
	rc = Esys_Quote(t->ctx, ak, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			ESYS_TR_NONE, nonce, &scheme, sel, &quoted, &signature);
	if (rc)
		return tpm_fail(t, "Quote", rc);
	r = tpm_quote_check(t, quoted, signature, nonce, sel, p);
	if (r == 0 &&
	    (tpm_put(t, attest, quoted->attestationData, quoted->size) < 0 ||
	     tpm_put_signature(t, signature, sig) < 0))
		r = -1;
	Esys_Free(quoted);
	Esys_Free(signature);
	return r;
}

int tpm_quote(struct tpm *t, ESYS_TR ak, const uint8_t *nonce,
	      size_t nonce_len, uint32_t pcr_mask, TPM2_ALG_ID bank,
	      struct buf *attest, struct buf *sig, struct buf *pcrblob)
{
	struct tpm_pcrs p = { .bank = bank, .mask = pcr_mask };
	TPML_PCR_SELECTION sel;
	TPM2B_DATA qual = { 0 };
	int attempt, r = 1;

	buf_reset(attest);
	buf_reset(sig);
	buf_reset(pcrblob);
	if (nonce_len > TPM_NONCE_MAX || nonce_len > sizeof(qual.buffer) ||
	    (!nonce && nonce_len)) {
		tpm_seterr(t, "quote: nonce of %zu bytes (at most %d)",
			   nonce_len, TPM_NONCE_MAX);
		return -1;
	}
	if (tpm_pcr_selection(t, pcr_mask, bank, &sel) < 0)
		return -1;
	qual.size = (uint16_t)nonce_len;
	if (nonce_len)
		memcpy(qual.buffer, nonce, nonce_len);
	for (attempt = 0; attempt < TPM_QUOTE_ATTEMPTS && r == 1; attempt++) {
		r = tpm_quote_once(t, ak, &qual, &sel, &p, attest, sig);
		if (r == 1)
			log_info("quote: PCRs changed while quoting, retrying");
	}
	if (r == 1)
		tpm_seterr(t, "quote: PCR values kept changing, gave up after "
			   "%d attempts", TPM_QUOTE_ATTEMPTS);
	if (r == 0 && tpm_pcrblob_write(t, &p, pcrblob) < 0)
		r = -1;
	if (r) {
		buf_reset(attest);
		buf_reset(sig);
		buf_reset(pcrblob);
		return -1;
	}
	return 0;
}

int tpm_pcr_reset(struct tpm *t, unsigned pcr)
{
	TSS2_RC rc;

	if (pcr >= TPM_PCR_COUNT) {
		tpm_seterr(t, "PCR_Reset: no PCR %u", pcr);
		return -1;
	}
	rc = Esys_PCR_Reset(t->ctx, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD,
			    ESYS_TR_NONE, ESYS_TR_NONE);
	if (rc) {
		tpm_seterr(t, "PCR_Reset(%u): %s (0x%08x)", pcr,
			   Tss2_RC_Decode(rc), (unsigned)rc);
		return -1;
	}
	return 0;
}

int tpm_pcr_extend(struct tpm *t, unsigned pcr, TPM2_ALG_ID hash,
		   const uint8_t *digest, size_t len)
{
	TPML_DIGEST_VALUES v;
	size_t hsize = tpm_hash_size(hash);
	TSS2_RC rc;

	if (pcr >= TPM_PCR_COUNT) {
		tpm_seterr(t, "PCR_Extend: no PCR %u", pcr);
		return -1;
	}
	if (!hsize || len != hsize || !digest ||
	    len > sizeof(v.digests[0].digest)) {
		tpm_seterr(t, "PCR_Extend: %zu-byte digest for %s", len,
			   tpm_alg_str(hash));
		return -1;
	}
	memset(&v, 0, sizeof(v));
	v.count = 1;
	v.digests[0].hashAlg = hash;
	memcpy(&v.digests[0].digest, digest, len);
	rc = Esys_PCR_Extend(t->ctx, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD,
			     ESYS_TR_NONE, ESYS_TR_NONE, &v);
	if (rc) {
		tpm_seterr(t, "PCR_Extend(%u, %s): %s (0x%08x)", pcr,
			   tpm_alg_str(hash), Tss2_RC_Decode(rc),
			   (unsigned)rc);
		return -1;
	}
	return 0;
}

int tpm_get_random(struct tpm *t, size_t n, struct buf *out)
{
	TPM2B_DIGEST *rnd = NULL;
	TSS2_RC rc;

	buf_reset(out);
	if (n > TPM_GET_RANDOM_MAX) {
		tpm_seterr(t, "GetRandom: %zu bytes asked, at most %d", n,
			   TPM_GET_RANDOM_MAX);
		return -1;
	}
	while (out->len < n) {
		size_t want = n - out->len;

		if (want > sizeof(rnd->buffer))
			want = sizeof(rnd->buffer);
		rc = Esys_GetRandom(t->ctx, ESYS_TR_NONE, ESYS_TR_NONE,
				    ESYS_TR_NONE, (UINT16)want, &rnd);
		if (rc) {
			buf_reset(out);
			return tpm_fail(t, "GetRandom", rc);
		}
		/* The TPM may give fewer bytes than asked, never more. */
		if (rnd->size == 0 || rnd->size > want ||
		    tpm_put(t, out, rnd->buffer, rnd->size) < 0) {
			if (rnd->size == 0 || rnd->size > want)
				tpm_seterr(t, "GetRandom: %u bytes for %zu "
					   "asked", rnd->size, want);
			secure_wipe(rnd, sizeof(*rnd));
			Esys_Free(rnd);
			buf_reset(out);
			return -1;
		}
		secure_wipe(rnd, sizeof(*rnd));
		Esys_Free(rnd);
		rnd = NULL;
	}
	return 0;
}

int tpm_flush(struct tpm *t, ESYS_TR handle)
{
	TSS2_RC rc = Esys_FlushContext(t->ctx, handle);

	if (rc)
		return tpm_fail(t, "FlushContext", rc);
	return 0;
}
