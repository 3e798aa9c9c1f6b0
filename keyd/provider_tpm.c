/* provider_tpm: keys that live in a TPM 2.0, through tpm2-tss ESAPI
 * (Parsec's TPM provider, id 3).
 *
 * Keys are ordinary TPM objects under one storage key: at open we run
 * CreatePrimary in the owner hierarchy from a fixed template (the TCG SRK
 * template: ECC NIST P-256, restricted decrypt, AES-128-CFB), which gives
 * the same key at every start, and keep its handle for the daemon's life.
 * A key's reference is the marshalled TPM2B_PUBLIC || TPM2B_PRIVATE that
 * TPM2_Create (or TPM2_Import) returned; the private part is sealed by the
 * storage key, so the reference alone is useless off this TPM. Every
 * operation loads the key, runs, and flushes it: nothing but the storage
 * key stays in the TPM, so destroying a key is forgetting its blob.
 * Public keys (imported, or the public half of a pair for verify and
 * encrypt) are loaded with LoadExternal from a public area alone.
 *
 * Keys get no authValue of their own: whoever holds the blob could hold
 * the password next to it, so it would protect nothing. They carry noDA so
 * no failed authorisation can lock the TPM out for them.
 *
 * Every operation runs in its own HMAC session salted with the storage key
 * (AES-128-CFB parameter encryption), so what crosses the bus to a discrete
 * TPM (plaintexts, random bytes, private key material on import) is
 * encrypted. The TPM is one serial device: one ESAPI context, one mutex.
 *
 * Algorithms: keys are made with scheme NULL and the scheme is given per
 * call, so one key serves whatever its PSA policy allows (the handler has
 * checked that policy). RSA: PKCS#1 v1.5 and PSS signatures, RSAES and
 * OAEP encryption; ECC: ECDSA and raw ECDH. Not offered because a TPM does
 * not do them: deterministic ECDSA, ECDSA without a hash, raw PKCS#1 v1.5
 * signatures, private key export.
 *
 * OAEP labels: the TPM requires a label to end in a NUL byte and hashes
 * that NUL into the label hash. The PSA salt is used as the label with a
 * NUL appended (unless it already ends in one), so a peer encrypting for a
 * TPM key must use salt||00 as its OAEP label.
 *
 * Key attestation (PrepareKeyAttestation / AttestKey, ActivateCredential
 * mechanism) as upstream Parsec does it: the attesting key is the TPM's
 * default RSA endorsement key (TCG template L-1). */
#include "keyd/provider.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "config/config.h"
#include "tpm/credential.h"
#include "tpm/tpm.h"
#include "tpm/tpm_public.h"
#include "util/buf.h"
#include "util/encode.h"
#include "util/error.h"
#include "util/log.h"
#include "util/secure.h"

/* Random bytes in one request: past this, ask again. Each TPM2_GetRandom
 * gives at most a digest's worth; 48 is safe on every TPM. */
#define TPMP_RANDOM_MAX		((size_t)1 << 20)
#define TPMP_RANDOM_CHUNK	48
/* GetRandom calls per lock hold, so other requests get their turn. */
#define TPMP_RANDOM_BATCH	64
/* A label of TPM2B_DATA size, its NUL included. */
#define TPMP_LABEL_MAX		(sizeof(((TPM2B_DATA *)0)->buffer))
/* The largest ECC coordinate (NIST P-521). */
#define TPMP_ECC_MAX		66

struct tpmp {
	pthread_mutex_t lock;
	struct tpm *tpm;		/* lib/tpm: TCTI, EK, activation */
	ESYS_CONTEXT *ctx;		/* tpm_esys(tpm) */
	ESYS_TR primary;		/* the storage key */
	TPM2B_PUBLIC primary_pub;
	struct buf ek_pub;		/* the EK as DER RSAPublicKey, cached */
};

/* A key reference, taken apart. */
struct tkey {
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;	/* size 0: a public key */
};

/* One operation: the lock held, a session, the key loaded. */
struct op {
	struct tpmp *s;
	ESYS_TR sess;
	ESYS_TR key;
};

/* ---- status mapping ---- */

/* The TPM's response code without the handle, session or parameter
 * number; 0 when rc did not come from the TPM. */
static TSS2_RC rc_base(TSS2_RC rc)
{
	TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;

	if (layer != TSS2_TPM_RC_LAYER && layer != TSS2_RESMGR_TPM_RC_LAYER)
		return 0;
	rc &= 0xfff;
	if (rc & TPM2_RC_FMT1)
		return rc & (TPM2_RC_FMT1 | 0x3f);
	return rc;
}

/* A format-one TPM error about a command parameter (not a handle or a
 * session): the TPM did not like what we sent it. */
static int rc_is_param(TSS2_RC rc)
{
	TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;

	return (layer == TSS2_TPM_RC_LAYER ||
		layer == TSS2_RESMGR_TPM_RC_LAYER) &&
	       (rc & TPM2_RC_FMT1) && (rc & TPM2_RC_P);
}

/* The status for a TSS failure with no more specific meaning: what the
 * TPM cannot do is NOT_SUPPORTED, exhaustion is INSUFFICIENT_MEMORY, a
 * TPM in trouble is HARDWARE_FAILURE, the rest (transport, ESAPI, answers
 * we did not expect) COMMUNICATION_FAILURE, as upstream Parsec maps them. */
static int rc_status(TSS2_RC rc)
{
	switch (rc_base(rc)) {
	case TPM2_RC_SIGNATURE:
		return PSA_ERR_INVALID_SIGNATURE;
	case TPM2_RC_OBJECT_MEMORY:
	case TPM2_RC_SESSION_MEMORY:
	case TPM2_RC_MEMORY:
	case TPM2_RC_OBJECT_HANDLES:
	case TPM2_RC_SESSION_HANDLES:
		return PSA_ERR_INSUFFICIENT_MEMORY;
	case TPM2_RC_ASYMMETRIC:
	case TPM2_RC_HASH:
	case TPM2_RC_KEY_SIZE:
	case TPM2_RC_MGF:
	case TPM2_RC_MODE:
	case TPM2_RC_KDF:
	case TPM2_RC_SCHEME:
	case TPM2_RC_SYMMETRIC:
	case TPM2_RC_CURVE:
		return PSA_ERR_NOT_SUPPORTED;
	case TPM2_RC_FAILURE:
	case TPM2_RC_RETRY:
	case TPM2_RC_YIELDED:
	case TPM2_RC_TESTING:
	case TPM2_RC_LOCKOUT:
	case TPM2_RC_NV_UNAVAILABLE:
		return PSA_ERR_HARDWARE_FAILURE;
	default:
		return PSA_ERR_COMMUNICATION_FAILURE;
	}
}

/* Logs a failed TSS call and returns its status. */
static int tss_fail(const char *what, TSS2_RC rc)
{
	log_error("tpm provider: %s: %s (0x%08x)", what, Tss2_RC_Decode(rc),
		  (unsigned)rc);
	return rc_status(rc);
}

/* ---- algorithms ---- */

static TPM2_ALG_ID hash_alg(enum psa_hash h)
{
	switch (h) {
	case PSA_HASH_SHA_1: return TPM2_ALG_SHA1;
	case PSA_HASH_SHA_256: return TPM2_ALG_SHA256;
	case PSA_HASH_SHA_384: return TPM2_ALG_SHA384;
	case PSA_HASH_SHA_512: return TPM2_ALG_SHA512;
	case PSA_HASH_SHA3_256: return TPM2_ALG_SHA3_256;
	case PSA_HASH_SHA3_384: return TPM2_ALG_SHA3_384;
	case PSA_HASH_SHA3_512: return TPM2_ALG_SHA3_512;
	default: return TPM2_ALG_NULL;
	}
}

/* The TPM curve for a PSA (family, bits); TPM2_ECC_NONE if none. */
static TPM2_ECC_CURVE curve_of(int family, uint32_t bits)
{
	if (family != PSA_ECC_SECP_R1)
		return TPM2_ECC_NONE;
	switch (bits) {
	case 192: return TPM2_ECC_NIST_P192;
	case 224: return TPM2_ECC_NIST_P224;
	case 256: return TPM2_ECC_NIST_P256;
	case 384: return TPM2_ECC_NIST_P384;
	case 521: return TPM2_ECC_NIST_P521;
	default: return TPM2_ECC_NONE;
	}
}

/* Bits of a NIST curve, 0 for others. */
static uint32_t curve_bits(TPM2_ECC_CURVE c)
{
	switch (c) {
	case TPM2_ECC_NIST_P192: return 192;
	case TPM2_ECC_NIST_P224: return 224;
	case TPM2_ECC_NIST_P256: return 256;
	case TPM2_ECC_NIST_P384: return 384;
	case TPM2_ECC_NIST_P521: return 521;
	default: return 0;
	}
}

/* Bytes of one coordinate or scalar. */
static size_t curve_size(TPM2_ECC_CURVE c)
{
	return (curve_bits(c) + 7) / 8;
}

static int curve_nid(TPM2_ECC_CURVE c)
{
	switch (c) {
	case TPM2_ECC_NIST_P192: return NID_X9_62_prime192v1;
	case TPM2_ECC_NIST_P224: return NID_secp224r1;
	case TPM2_ECC_NIST_P256: return NID_X9_62_prime256v1;
	case TPM2_ECC_NIST_P384: return NID_secp384r1;
	case TPM2_ECC_NIST_P521: return NID_secp521r1;
	default: return NID_undef;
	}
}

/* The NIST curve whose coordinates take n bytes, TPM2_ECC_NONE if none. */
static TPM2_ECC_CURVE curve_by_size(size_t n)
{
	static const TPM2_ECC_CURVE all[] = {
		TPM2_ECC_NIST_P192, TPM2_ECC_NIST_P224, TPM2_ECC_NIST_P256,
		TPM2_ECC_NIST_P384, TPM2_ECC_NIST_P521,
	};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (curve_size(all[i]) == n)
			return all[i];
	return TPM2_ECC_NONE;
}

/* Whether a key's algorithm is one this provider can ever run: checked
 * when a key is made, so that a key nobody could use is refused then. */
static int alg_supported(const struct psa_alg *alg)
{
	int hash_ok = alg->hash == PSA_HASH_ANY ||
		      hash_alg(alg->hash) != TPM2_ALG_NULL;

	switch (alg->kind) {
	case PSA_ALG_UNSET:
	case PSA_ALG_NONE:
		return PSA_OK;
	case PSA_ALG_SIGN:
		if ((alg->variant == PSA_SIGN_RSA_PKCS1V15 ||
		     alg->variant == PSA_SIGN_RSA_PSS ||
		     alg->variant == PSA_SIGN_ECDSA) && hash_ok)
			return PSA_OK;
		break;
	case PSA_ALG_ENCRYPT:
		if (alg->variant == PSA_ENCRYPT_RSA_PKCS1V15 ||
		    (alg->variant == PSA_ENCRYPT_RSA_OAEP &&
		     hash_alg(alg->hash) != TPM2_ALG_NULL))
			return PSA_OK;
		break;
	case PSA_ALG_KEY_AGREEMENT:
		if (alg->variant == PSA_KA_ECDH && alg->kdf == 0)
			return PSA_OK;
		break;
	default:
		break;
	}
	log_error("tpm provider: algorithm (kind %d, variant %d, hash %d) is "
		  "not one a TPM can run", alg->kind, alg->variant, alg->hash);
	return PSA_ERR_NOT_SUPPORTED;
}

static int type_is_rsa(enum psa_key_type t)
{
	return t == PSA_KEY_RSA_PAIR || t == PSA_KEY_RSA_PUBLIC;
}

static int type_is_ecc(enum psa_key_type t)
{
	return t == PSA_KEY_ECC_PAIR || t == PSA_KEY_ECC_PUBLIC;
}

/* ---- references ---- */

static int ref_write(const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv,
		     struct buf *ref)
{
	uint8_t tmp[sizeof(TPM2B_PUBLIC) + sizeof(TPM2B_PRIVATE)];
	size_t off = 0;
	int ret = PSA_OK;

	buf_reset(ref);
	if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, tmp, sizeof(tmp), &off) ||
	    (priv && Tss2_MU_TPM2B_PRIVATE_Marshal(priv, tmp, sizeof(tmp),
						   &off))) {
		log_error("tpm provider: cannot marshal a key blob");
		ret = PSA_ERR_GENERIC;
	} else if (buf_append(ref, tmp, off) < 0) {
		ret = PSA_ERR_INSUFFICIENT_MEMORY;
	}
	secure_wipe(tmp, sizeof(tmp));
	return ret;
}

/* Takes a reference apart and checks it describes the key the attributes
 * say. A reference that does not is DATA_CORRUPT: the key store holds
 * something this provider never wrote. */
static int key_parse(const struct psa_attrs *a, const struct buf *ref,
		     struct tkey *k)
{
	const TPMT_PUBLIC *p = &k->pub.publicArea;
	int pub_only = psa_type_is_public(a->type);
	size_t off = 0;

	memset(k, 0, sizeof(*k));
	if (!ref || !ref->data ||
	    Tss2_MU_TPM2B_PUBLIC_Unmarshal(ref->data, ref->len, &off,
					   &k->pub)) {
		log_error("tpm provider: key blob: no TPM2B_PUBLIC in %zu "
			  "bytes (corrupted)", ref ? ref->len : 0);
		return PSA_ERR_DATA_CORRUPT;
	}
	if (!pub_only &&
	    (Tss2_MU_TPM2B_PRIVATE_Unmarshal(ref->data, ref->len, &off,
					     &k->priv) || k->priv.size == 0)) {
		log_error("tpm provider: key blob: no TPM2B_PRIVATE after the "
			  "public area (corrupted)");
		return PSA_ERR_DATA_CORRUPT;
	}
	if (off != ref->len) {
		log_error("tpm provider: key blob: %zu bytes after the key "
			  "(corrupted)", ref->len - off);
		return PSA_ERR_DATA_CORRUPT;
	}
	if (type_is_rsa(a->type) && p->type == TPM2_ALG_RSA &&
	    (!a->bits || a->bits == p->parameters.rsaDetail.keyBits) &&
	    p->unique.rsa.size == p->parameters.rsaDetail.keyBits / 8)
		return PSA_OK;
	if (type_is_ecc(a->type) && p->type == TPM2_ALG_ECC) {
		TPM2_ECC_CURVE c = p->parameters.eccDetail.curveID;
		size_t cs = curve_size(c);

		if ((a->bits ? curve_of(a->family, a->bits) == c :
		     a->family == PSA_ECC_SECP_R1) && cs &&
		    p->unique.ecc.x.size <= cs && p->unique.ecc.y.size <= cs)
			return PSA_OK;
	}
	log_error("tpm provider: key blob: TPM key type 0x%04x does not match "
		  "the key's attributes (type %d, %u bits) (corrupted)",
		  p->type, a->type, a->bits);
	return PSA_ERR_DATA_CORRUPT;
}

static void key_wipe(struct tkey *k)
{
	secure_wipe(k, sizeof(*k));
}

/* The public area to LoadExternal for public-key operations: the key's
 * type, parameters and public value, with the attributes of a plain
 * public key usable for both verifying and encrypting (the TPM lets a key
 * with scheme NULL do both). */
static void public_only(const TPMT_PUBLIC *in, TPM2B_PUBLIC *out)
{
	TPMT_PUBLIC *p = &out->publicArea;

	memset(out, 0, sizeof(*out));
	p->type = in->type;
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = TPMA_OBJECT_USERWITHAUTH |
		TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_DECRYPT;
	p->parameters = in->parameters;
	p->unique = in->unique;
	if (p->type == TPM2_ALG_RSA) {
		p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
		p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
	} else {
		p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
		p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
		p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	}
}

/* ---- operations: lock, session, load ---- */

/* Starts an operation: takes the lock and opens an HMAC session salted
 * with the storage key, for authorisation and parameter encryption. */
static int op_begin(struct provider *p, struct op *o)
{
	TPMT_SYM_DEF sym = {
		.algorithm = TPM2_ALG_AES,
		.keyBits.aes = 128,
		.mode.aes = TPM2_ALG_CFB,
	};
	TSS2_RC rc;

	o->s = p->state;
	o->sess = ESYS_TR_NONE;
	o->key = ESYS_TR_NONE;
	pthread_mutex_lock(&o->s->lock);
	rc = Esys_StartAuthSession(o->s->ctx, o->s->primary, ESYS_TR_NONE,
				   ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   NULL, TPM2_SE_HMAC, &sym, TPM2_ALG_SHA256,
				   &o->sess);
	if (rc) {
		o->sess = ESYS_TR_NONE;
		pthread_mutex_unlock(&o->s->lock);
		return tss_fail("StartAuthSession (salted)", rc);
	}
	return PSA_OK;
}

static void op_end(struct op *o)
{
	if (o->key != ESYS_TR_NONE)
		Esys_FlushContext(o->s->ctx, o->key);
	if (o->sess != ESYS_TR_NONE)
		Esys_FlushContext(o->s->ctx, o->sess);
	o->key = o->sess = ESYS_TR_NONE;
	pthread_mutex_unlock(&o->s->lock);
}

/* The session for the next command, with parameter encryption where that
 * command has a TPM2B to encrypt: TPMA_SESSION_DECRYPT for the first
 * command parameter, TPMA_SESSION_ENCRYPT for the first response one. */
static ESYS_TR op_sess(struct op *o, TPMA_SESSION enc)
{
	Esys_TRSess_SetAttributes(o->s->ctx, o->sess,
				  TPMA_SESSION_CONTINUESESSION | enc, 0xff);
	return o->sess;
}

/* Loads a key pair under the storage key. A blob the TPM refuses is
 * DATA_CORRUPT: tampered with, or sealed by another storage key (another
 * TPM, or an owner hierarchy cleared since) -- the TPM's integrity check
 * cannot tell these apart. */
static int op_load(struct op *o, const struct tkey *k)
{
	TSS2_RC rc;

	rc = Esys_Load(o->s->ctx, o->s->primary, op_sess(o, 0), ESYS_TR_NONE,
		       ESYS_TR_NONE, &k->priv, &k->pub, &o->key);
	if (!rc)
		return PSA_OK;
	o->key = ESYS_TR_NONE;
	if (rc_is_param(rc)) {
		log_error("tpm provider: the TPM refuses the key blob: %s "
			  "(0x%08x); it is corrupted or was made under another "
			  "storage key (another TPM, or the owner hierarchy "
			  "was cleared)", Tss2_RC_Decode(rc), (unsigned)rc);
		return PSA_ERR_DATA_CORRUPT;
	}
	return tss_fail("Load", rc);
}

/* Loads the public part of a key for verify, encrypt or import checks;
 * a key the TPM refuses gets status `refused` (a bad key to import, a
 * stored blob gone wrong). */
static int op_load_public(struct op *o, const TPM2B_PUBLIC *pub, int refused)
{
	TPM2B_PUBLIC ext;
	TSS2_RC rc;

	public_only(&pub->publicArea, &ext);
	rc = Esys_LoadExternal(o->s->ctx, ESYS_TR_NONE, ESYS_TR_NONE,
			       ESYS_TR_NONE, NULL, &ext, ESYS_TR_RH_NULL,
			       &o->key);
	if (!rc)
		return PSA_OK;
	o->key = ESYS_TR_NONE;
	if (rc_is_param(rc) && rc_base(rc) != TPM2_RC_KEY_SIZE &&
	    rc_base(rc) != TPM2_RC_CURVE) {
		log_error("tpm provider: the TPM refuses the public key: %s "
			  "(0x%08x)", Tss2_RC_Decode(rc), (unsigned)rc);
		return refused;
	}
	return tss_fail("LoadExternal", rc);
}

/* ---- key templates ---- */

/* What the TPM must let the key do, from the PSA usage flags: signing
 * needs sign, RSA encryption and ECDH decrypt. A key used for neither
 * (say, verify only) gets what its algorithm suggests. */
static TPMA_OBJECT key_uses(const struct psa_attrs *a)
{
	TPMA_OBJECT r = 0;

	if (a->usage & (PSA_USAGE_SIGN_HASH | PSA_USAGE_SIGN_MESSAGE))
		r |= TPMA_OBJECT_SIGN_ENCRYPT;
	if (type_is_rsa(a->type) &&
	    (a->usage & (PSA_USAGE_DECRYPT | PSA_USAGE_ENCRYPT)))
		r |= TPMA_OBJECT_DECRYPT;
	if (type_is_ecc(a->type) && (a->usage & PSA_USAGE_DERIVE))
		r |= TPMA_OBJECT_DECRYPT;
	if (!r)
		r = a->alg.kind == PSA_ALG_ENCRYPT ||
		    a->alg.kind == PSA_ALG_KEY_AGREEMENT ?
		    TPMA_OBJECT_DECRYPT : TPMA_OBJECT_SIGN_ENCRYPT;
	return r;
}

/* The public template of a key pair of attributes a (bits set). resident
 * keys are made by the TPM and never leave it; imported ones cannot claim
 * that (TPM2_Import refuses fixedTPM and fixedParent). */
static int key_template(const struct psa_attrs *a, int resident,
			TPM2B_PUBLIC *t)
{
	TPMT_PUBLIC *p = &t->publicArea;

	memset(t, 0, sizeof(*t));
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA |
			      key_uses(a);
	if (resident)
		p->objectAttributes |= TPMA_OBJECT_FIXEDTPM |
			TPMA_OBJECT_FIXEDPARENT |
			TPMA_OBJECT_SENSITIVEDATAORIGIN;
	if (a->type == PSA_KEY_RSA_PAIR) {
		if (a->bits % 8 || a->bits > 8 * sizeof(p->unique.rsa.buffer)) {
			log_error("tpm provider: RSA keys of %u bits are not "
				  "supported", a->bits);
			return PSA_ERR_NOT_SUPPORTED;
		}
		p->type = TPM2_ALG_RSA;
		p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
		p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
		p->parameters.rsaDetail.keyBits = (TPMI_RSA_KEY_BITS)a->bits;
		p->parameters.rsaDetail.exponent = 0;
		return PSA_OK;
	}
	if (a->type == PSA_KEY_ECC_PAIR) {
		TPM2_ECC_CURVE c = curve_of(a->family, a->bits);

		if (c == TPM2_ECC_NONE) {
			log_error("tpm provider: ECC family %d with %u bits is "
				  "not a curve a TPM has", a->family, a->bits);
			return PSA_ERR_NOT_SUPPORTED;
		}
		p->type = TPM2_ALG_ECC;
		p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
		p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
		p->parameters.eccDetail.curveID = c;
		p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
		return PSA_OK;
	}
	log_error("tpm provider: key type %d is not supported", a->type);
	return PSA_ERR_NOT_SUPPORTED;
}

/* Asks the TPM whether it supports a key's parameters (RSA 3072 and
 * P-384 are optional), so that a refusal is a clean NOT_SUPPORTED. */
static int op_test_parms(struct op *o, const TPMT_PUBLIC *p)
{
	TPMT_PUBLIC_PARMS parms = { .type = p->type,
				    .parameters = p->parameters };
	TSS2_RC rc;

	rc = Esys_TestParms(o->s->ctx, ESYS_TR_NONE, ESYS_TR_NONE,
			    ESYS_TR_NONE, &parms);
	if (!rc)
		return PSA_OK;
	if (rc_is_param(rc) || rc_status(rc) == PSA_ERR_NOT_SUPPORTED) {
		log_error("tpm provider: this TPM does not support %s keys of "
			  "%u bits (%s)", p->type == TPM2_ALG_RSA ? "RSA" :
			  "ECC", p->type == TPM2_ALG_RSA ?
			  p->parameters.rsaDetail.keyBits :
			  curve_bits(p->parameters.eccDetail.curveID),
			  Tss2_RC_Decode(rc));
		return PSA_ERR_NOT_SUPPORTED;
	}
	return tss_fail("TestParms", rc);
}

static int tpmp_generate(struct provider *p, const struct psa_attrs *a,
			 struct buf *ref)
{
	TPM2B_SENSITIVE_CREATE sens = { 0 };
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION pcrs = { 0 };
	TPM2B_PUBLIC tmpl, *pub = NULL;
	TPM2B_PRIVATE *priv = NULL;
	struct op o;
	TSS2_RC rc;
	int st;

	if (a->type != PSA_KEY_RSA_PAIR && a->type != PSA_KEY_ECC_PAIR) {
		log_error("tpm provider: cannot generate keys of type %d",
			  a->type);
		return PSA_ERR_NOT_SUPPORTED;
	}
	if (a->bits == 0) {
		log_error("tpm provider: generate: the key size is not given");
		return PSA_ERR_INVALID_ARGUMENT;
	}
	st = alg_supported(&a->alg);
	if (st == PSA_OK)
		st = key_template(a, 1, &tmpl);
	if (st != PSA_OK)
		return st;
	st = op_begin(p, &o);
	if (st != PSA_OK)
		return st;
	st = op_test_parms(&o, &tmpl.publicArea);
	if (st == PSA_OK) {
		rc = Esys_Create(o.s->ctx, o.s->primary,
				 op_sess(&o, TPMA_SESSION_ENCRYPT),
				 ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl,
				 &outside, &pcrs, &priv, &pub, NULL, NULL,
				 NULL);
		if (rc)
			st = tss_fail("Create", rc);
	}
	op_end(&o);
	if (st == PSA_OK)
		st = ref_write(pub, priv, ref);
	Esys_Free(pub);
	Esys_Free(priv);
	return st;
}

/* Nothing lives in the TPM between operations: the blob is the key, and
 * the key store forgets it. */
static int tpmp_destroy(struct provider *p, const struct psa_attrs *a,
			const struct buf *ref)
{
	return PSA_OK;
}

/* ---- DER RSAPublicKey ---- */

static int der_len(struct buf *b, size_t n)
{
	if (n < 0x80)
		return buf_append_u8(b, (uint8_t)n);
	if (n < 0x100)
		return buf_append_u8(b, 0x81) || buf_append_u8(b, (uint8_t)n) ?
			-1 : 0;
	return buf_append_u8(b, 0x82) || buf_append_be16(b, (uint16_t)n) ?
		-1 : 0;
}

/* A non-negative INTEGER from big-endian bytes. */
static int der_uint(struct buf *b, const uint8_t *p, size_t n)
{
	while (n > 1 && p[0] == 0) {
		p++;
		n--;
	}
	if (n == 0)
		return -1;
	return buf_append_u8(b, 0x02) || der_len(b, n + (p[0] >> 7)) ||
	       ((p[0] & 0x80) && buf_append_u8(b, 0)) ||
	       buf_append(b, p, n) ? -1 : 0;
}

/* RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } */
static int rsa_der(const TPMT_PUBLIC *p, struct buf *out)
{
	uint32_t e = p->parameters.rsaDetail.exponent ?
		     p->parameters.rsaDetail.exponent : 65537;
	uint8_t eb[4] = { (uint8_t)(e >> 24), (uint8_t)(e >> 16),
			  (uint8_t)(e >> 8), (uint8_t)e };
	struct buf body = BUF_INIT;
	int ret = PSA_ERR_INSUFFICIENT_MEMORY;

	buf_reset(out);
	if (p->unique.rsa.size == 0)
		return PSA_ERR_DATA_CORRUPT;
	if (der_uint(&body, p->unique.rsa.buffer, p->unique.rsa.size) == 0 &&
	    der_uint(&body, eb, sizeof(eb)) == 0 &&
	    buf_append_u8(out, 0x30) == 0 && der_len(out, body.len) == 0 &&
	    buf_append(out, body.data, body.len) == 0)
		ret = PSA_OK;
	buf_free(&body);
	if (ret != PSA_OK)
		buf_reset(out);
	return ret;
}

/* One DER element at c: its tag must be tag; returns its contents. */
static const uint8_t *der_take(struct cursor *c, uint8_t tag, size_t *n)
{
	uint8_t l;
	size_t len = 0;

	if (cursor_u8(c) != tag)
		c->err = 1;
	l = cursor_u8(c);
	if (l < 0x80) {
		len = l;
	} else if (l == 0x81) {
		len = cursor_u8(c);
		if (len < 0x80)
			c->err = 1;	/* not the shortest form */
	} else if (l == 0x82) {
		len = cursor_be16(c);
		if (len < 0x100)
			c->err = 1;
	} else {
		c->err = 1;
	}
	*n = len;
	return c->err ? NULL : cursor_bytes(c, len);
}

/* A positive INTEGER in minimal DER form, leading zero dropped. */
static const uint8_t *der_take_uint(struct cursor *c, size_t *n)
{
	const uint8_t *p = der_take(c, 0x02, n);

	if (!p || *n == 0 || (p[0] & 0x80) ||
	    (*n > 1 && p[0] == 0 && !(p[1] & 0x80))) {
		c->err = 1;
		return NULL;
	}
	if (p[0] == 0) {
		p++;
		(*n)--;
	}
	return p;
}

/* Parses a DER RSAPublicKey into a TPM public area (nothing trailing). */
static int rsa_from_der(const uint8_t *data, size_t n, uint32_t want_bits,
			TPMT_PUBLIC *p)
{
	struct cursor c = cursor_init(data, n), seq;
	const uint8_t *body, *mod, *exp;
	size_t blen, mlen, elen, bits;
	uint32_t e = 0;

	body = der_take(&c, 0x30, &blen);
	if (!body || c.left) {
		log_error("tpm provider: RSA public key is not one DER "
			  "SEQUENCE");
		return PSA_ERR_INVALID_ARGUMENT;
	}
	seq = cursor_init(body, blen);
	mod = der_take_uint(&seq, &mlen);
	exp = der_take_uint(&seq, &elen);
	if (!mod || !exp || seq.left) {
		log_error("tpm provider: RSA public key is not a DER "
			  "RSAPublicKey");
		return PSA_ERR_INVALID_ARGUMENT;
	}
	bits = mlen * 8;
	for (uint8_t top = mod[0]; !(top & 0x80); top <<= 1)
		bits--;
	if (want_bits && bits != want_bits) {
		log_error("tpm provider: RSA public key has %zu bits, the "
			  "attributes say %u", bits, want_bits);
		return PSA_ERR_INVALID_ARGUMENT;
	}
	if (bits % 8 || mlen > sizeof(p->unique.rsa.buffer) || elen > 4) {
		log_error("tpm provider: RSA public key of %zu bits (exponent "
			  "of %zu bytes) is not one a TPM can hold", bits,
			  elen);
		return PSA_ERR_NOT_SUPPORTED;
	}
	for (size_t i = 0; i < elen; i++)
		e = e << 8 | exp[i];
	p->type = TPM2_ALG_RSA;
	p->parameters.rsaDetail.keyBits = (TPMI_RSA_KEY_BITS)bits;
	p->parameters.rsaDetail.exponent = e == 65537 ? 0 : e;
	p->unique.rsa.size = (UINT16)mlen;
	memcpy(p->unique.rsa.buffer, mod, mlen);
	return PSA_OK;
}

/* Parses 04||X||Y into a TPM public area. */
static int ecc_from_point(const struct psa_attrs *a, const uint8_t *data,
			  size_t n, TPMT_PUBLIC *p)
{
	TPM2_ECC_CURVE c;
	size_t cs;

	if (a->family != PSA_ECC_SECP_R1) {
		log_error("tpm provider: ECC family %d is not supported",
			  a->family);
		return PSA_ERR_NOT_SUPPORTED;
	}
	if (n < 3 || n % 2 == 0 || data[0] != 0x04) {
		log_error("tpm provider: ECC public key is not an uncompressed "
			  "point (%zu bytes)", n);
		return PSA_ERR_INVALID_ARGUMENT;
	}
	cs = (n - 1) / 2;
	c = a->bits ? curve_of(a->family, a->bits) : curve_by_size(cs);
	if (c == TPM2_ECC_NONE && !a->bits) {
		log_error("tpm provider: no NIST curve has %zu-byte "
			  "coordinates", cs);
		return PSA_ERR_NOT_SUPPORTED;
	}
	if (c == TPM2_ECC_NONE || curve_size(c) != cs) {
		log_error("tpm provider: ECC public key of %zu-byte "
			  "coordinates for a %u-bit curve", cs, a->bits);
		return PSA_ERR_INVALID_ARGUMENT;
	}
	p->type = TPM2_ALG_ECC;
	p->parameters.eccDetail.curveID = c;
	p->unique.ecc.x.size = (UINT16)cs;
	memcpy(p->unique.ecc.x.buffer, data + 1, cs);
	p->unique.ecc.y.size = (UINT16)cs;
	memcpy(p->unique.ecc.y.buffer, data + 1 + cs, cs);
	return PSA_OK;
}

/* Appends a big-endian number left-padded with zeros to n bytes. */
static int put_padded(struct buf *out, const uint8_t *p, size_t len, size_t n)
{
	static const uint8_t zeros[TPMP_ECC_MAX];

	while (len > n && p[0] == 0) {
		p++;
		len--;
	}
	if (len > n || n - len > sizeof(zeros))
		return PSA_ERR_DATA_CORRUPT;
	return buf_append(out, zeros, n - len) || buf_append(out, p, len) ?
		PSA_ERR_INSUFFICIENT_MEMORY : PSA_OK;
}

/* A public area in PSA export format. */
static int export_area(const TPMT_PUBLIC *p, struct buf *out)
{
	size_t cs;
	int st;

	buf_reset(out);
	if (p->type == TPM2_ALG_RSA)
		return rsa_der(p, out);
	cs = curve_size(p->parameters.eccDetail.curveID);
	if (p->type != TPM2_ALG_ECC || cs == 0)
		return PSA_ERR_DATA_CORRUPT;
	st = buf_append_u8(out, 0x04) ? PSA_ERR_INSUFFICIENT_MEMORY : PSA_OK;
	if (st == PSA_OK)
		st = put_padded(out, p->unique.ecc.x.buffer,
				p->unique.ecc.x.size, cs);
	if (st == PSA_OK)
		st = put_padded(out, p->unique.ecc.y.buffer,
				p->unique.ecc.y.size, cs);
	if (st != PSA_OK)
		buf_reset(out);
	return st;
}

static int tpmp_export_public(struct provider *p, const struct psa_attrs *a,
			      const struct buf *ref, struct buf *out)
{
	struct tkey k;
	int st = key_parse(a, ref, &k);

	if (st == PSA_OK)
		st = export_area(&k.pub.publicArea, out);
	key_wipe(&k);
	return st;
}

/* ---- import ---- */

static int import_public(struct provider *p, const struct psa_attrs *a,
			 const uint8_t *data, size_t n, struct buf *ref)
{
	TPM2B_PUBLIC pub, ext;
	struct op o;
	int st;

	memset(&pub, 0, sizeof(pub));
	st = type_is_rsa(a->type) ?
	     rsa_from_der(data, n, a->bits, &pub.publicArea) :
	     ecc_from_point(a, data, n, &pub.publicArea);
	if (st != PSA_OK)
		return st;
	public_only(&pub.publicArea, &ext);
	/* The TPM checks the key (a point on its curve, a supported size). */
	st = op_begin(p, &o);
	if (st != PSA_OK)
		return st;
	st = op_test_parms(&o, &ext.publicArea);
	if (st == PSA_OK)
		st = op_load_public(&o, &ext, PSA_ERR_INVALID_ARGUMENT);
	op_end(&o);
	if (st == PSA_OK)
		st = ref_write(&ext, NULL, ref);
	return st;
}

/* The private parts of an imported key pair, wiped together. */
struct import_work {
	TPMT_SENSITIVE sens;
	uint8_t plain[sizeof(TPM2B_SENSITIVE)];
	size_t plain_len;
	uint8_t seed[TPM_DIGEST_MAX];
	uint8_t sym_key[16];
	uint8_t hmac_key[TPM_DIGEST_MAX];
	uint8_t z[TPMP_ECC_MAX];
	uint8_t mac_in[sizeof(TPM2B_SENSITIVE) + sizeof(TPMU_NAME)];
};

/* RSAPrivateKey (DER) -> public area and the sensitive prime. */
static int rsa_private(const struct psa_attrs *a, const uint8_t *data,
		       size_t n, TPMT_PUBLIC *pub, TPMT_SENSITIVE *sens)
{
	const unsigned char *q = data;
	EVP_PKEY *pk = NULL;
	BIGNUM *bn_n = NULL, *bn_e = NULL, *bn_p = NULL, *bn_x = NULL;
	int bits, st = PSA_ERR_INVALID_ARGUMENT;
	size_t half;

	if (n > LONG_MAX || !(pk = d2i_PrivateKey(EVP_PKEY_RSA, NULL, &q,
						  (long)n)) ||
	    q != data + n) {
		log_error("tpm provider: RSA key pair is not one DER "
			  "RSAPrivateKey");
		goto out;
	}
	bits = EVP_PKEY_get_bits(pk);
	if (a->bits && (uint32_t)bits != a->bits) {
		log_error("tpm provider: RSA key pair has %d bits, the "
			  "attributes say %u", bits, a->bits);
		goto out;
	}
	if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &bn_n) != 1 ||
	    EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &bn_e) != 1 ||
	    EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_FACTOR1,
				  &bn_p) != 1) {
		log_error("tpm provider: RSA key pair without its primes");
		goto out;
	}
	/* A TPM holds two-prime keys of a whole number of 16-bit halves. */
	if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_FACTOR3,
				  &bn_x) == 1 || bits % 16 ||
	    (size_t)bits / 8 > sizeof(pub->unique.rsa.buffer) ||
	    BN_num_bits(bn_e) > 32 ||
	    BN_num_bytes(bn_p) != bits / 16) {
		log_error("tpm provider: RSA key pair of %d bits is not one a "
			  "TPM can hold", bits);
		st = PSA_ERR_NOT_SUPPORTED;
		goto out;
	}
	half = (size_t)bits / 16;
	pub->type = TPM2_ALG_RSA;
	pub->parameters.rsaDetail.keyBits = (TPMI_RSA_KEY_BITS)bits;
	pub->parameters.rsaDetail.exponent = BN_get_word(bn_e) == 65537 ? 0 :
		(UINT32)BN_get_word(bn_e);
	pub->unique.rsa.size = (UINT16)(bits / 8);
	sens->sensitiveType = TPM2_ALG_RSA;
	sens->sensitive.rsa.size = (UINT16)half;
	if (BN_bn2binpad(bn_n, pub->unique.rsa.buffer, bits / 8) != bits / 8 ||
	    BN_bn2binpad(bn_p, sens->sensitive.rsa.buffer, (int)half) !=
	    (int)half) {
		st = PSA_ERR_GENERIC;
		goto out;
	}
	st = PSA_OK;
out:
	BN_free(bn_n);
	BN_free(bn_e);
	BN_clear_free(bn_p);
	BN_clear_free(bn_x);
	EVP_PKEY_free(pk);
	return st;
}

/* The big-endian private scalar -> public area (Q = d*G) and sensitive. */
static int ecc_private(const struct psa_attrs *a, const uint8_t *data,
		       size_t n, TPMT_PUBLIC *pub, TPMT_SENSITIVE *sens)
{
	TPM2_ECC_CURVE c;
	EC_GROUP *g = NULL;
	EC_POINT *q = NULL;
	BIGNUM *d = NULL;
	BN_CTX *bctx = NULL;
	uint8_t pt[1 + 2 * TPMP_ECC_MAX];
	size_t cs;
	int st = PSA_ERR_INVALID_ARGUMENT;

	if (a->family != PSA_ECC_SECP_R1) {
		log_error("tpm provider: ECC family %d is not supported",
			  a->family);
		return PSA_ERR_NOT_SUPPORTED;
	}
	c = a->bits ? curve_of(a->family, a->bits) : curve_by_size(n);
	cs = curve_size(c);
	if (c == TPM2_ECC_NONE || cs != n) {
		log_error("tpm provider: ECC private key of %zu bytes for a "
			  "%u-bit curve", n, a->bits);
		return a->bits && c == TPM2_ECC_NONE ? PSA_ERR_NOT_SUPPORTED :
			PSA_ERR_INVALID_ARGUMENT;
	}
	g = EC_GROUP_new_by_curve_name(curve_nid(c));
	q = g ? EC_POINT_new(g) : NULL;
	d = BN_secure_new();
	bctx = BN_CTX_secure_new();
	if (!q || !d || !bctx || !BN_bin2bn(data, (int)n, d)) {
		st = PSA_ERR_INSUFFICIENT_MEMORY;
		goto out;
	}
	if (BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(g)) >= 0) {
		log_error("tpm provider: ECC private key out of range");
		goto out;
	}
	if (!EC_POINT_mul(g, q, d, NULL, NULL, bctx) ||
	    EC_POINT_point2oct(g, q, POINT_CONVERSION_UNCOMPRESSED, pt,
			       sizeof(pt), bctx) != 1 + 2 * cs) {
		st = PSA_ERR_GENERIC;
		goto out;
	}
	pub->type = TPM2_ALG_ECC;
	pub->parameters.eccDetail.curveID = c;
	pub->unique.ecc.x.size = (UINT16)cs;
	memcpy(pub->unique.ecc.x.buffer, pt + 1, cs);
	pub->unique.ecc.y.size = (UINT16)cs;
	memcpy(pub->unique.ecc.y.buffer, pt + 1 + cs, cs);
	sens->sensitiveType = TPM2_ALG_ECC;
	sens->sensitive.ecc.size = (UINT16)cs;
	memcpy(sens->sensitive.ecc.buffer, data, cs);
	st = PSA_OK;
out:
	BN_CTX_free(bctx);
	BN_clear_free(d);
	EC_POINT_free(q);
	EC_GROUP_free(g);
	return st;
}

/* The Name of a public area: nameAlg || H(marshalled TPMT_PUBLIC). */
static int public_name(const TPMT_PUBLIC *p, uint8_t *name, size_t *len)
{
	uint8_t m[sizeof(TPMT_PUBLIC)];
	const EVP_MD *md = tpm_alg_md(p->nameAlg);
	unsigned int dlen = 0;
	size_t off = 0;

	if (!md || Tss2_MU_TPMT_PUBLIC_Marshal(p, m, sizeof(m), &off))
		return -1;
	name[0] = (uint8_t)(p->nameAlg >> 8);
	name[1] = (uint8_t)p->nameAlg;
	if (EVP_Digest(m, off, name + 2, &dlen, md, NULL) != 1)
		return -1;
	*len = 2 + dlen;
	return 0;
}

/* The seed of the outer wrapper, as TPM2_Import will recover it with the
 * storage key: one-pass ECDH with an ephemeral key on the storage key's
 * curve, seed = KDFe(nameAlg, Z, "DUPLICATE", ephemeral.x, parent.x);
 * inSymSeed is the ephemeral public point (TPM 2.0 Part 1, 11.4.10.3 and
 * Annex C.6.1). */
static int dup_seed(struct tpmp *s, struct import_work *w, size_t hlen,
		    TPM2B_ENCRYPTED_SECRET *in_seed)
{
	const TPMT_PUBLIC *pp = &s->primary_pub.publicArea;
	struct tpm_public parent;
	char err[256] = "", group[32];
	uint8_t pt[1 + 2 * TPMP_ECC_MAX];
	size_t glen = 0, ptlen = 0, zlen = sizeof(w->z), cs, off = 0;
	EVP_PKEY *eph = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	TPMS_ECC_POINT ept;
	uint8_t mp[sizeof(TPM2B_PUBLIC)];
	int st = PSA_ERR_GENERIC;

	if (Tss2_MU_TPM2B_PUBLIC_Marshal(&s->primary_pub, mp, sizeof(mp),
					 &off) ||
	    tpm_public_parse(mp, off, &parent, err, sizeof(err)) < 0) {
		log_error("tpm provider: storage key public area: %s", err);
		return PSA_ERR_GENERIC;
	}
	if (EVP_PKEY_get_utf8_string_param(parent.pkey,
		OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen) != 1 ||
	    !(eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", group)) ||
	    EVP_PKEY_get_octet_string_param(eph, OSSL_PKEY_PARAM_PUB_KEY, pt,
					    sizeof(pt), &ptlen) != 1 ||
	    ptlen < 3 || ptlen % 2 != 1 || pt[0] != 0x04)
		goto out;
	cs = (ptlen - 1) / 2;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL);
	if (!ctx || EVP_PKEY_derive_init(ctx) != 1 ||
	    EVP_PKEY_derive_set_peer(ctx, parent.pkey) != 1 ||
	    EVP_PKEY_derive(ctx, w->z, &zlen) != 1 ||
	    tpm_kdfe(pp->nameAlg, w->z, zlen, "DUPLICATE", pt + 1, cs,
		     pp->unique.ecc.x.buffer, pp->unique.ecc.x.size, w->seed,
		     hlen) != 0)
		goto out;
	memset(&ept, 0, sizeof(ept));
	ept.x.size = ept.y.size = (UINT16)cs;
	memcpy(ept.x.buffer, pt + 1, cs);
	memcpy(ept.y.buffer, pt + 1 + cs, cs);
	off = 0;
	if (Tss2_MU_TPMS_ECC_POINT_Marshal(&ept, in_seed->secret,
					   sizeof(in_seed->secret), &off))
		goto out;
	in_seed->size = (UINT16)off;
	st = PSA_OK;
out:
	if (st != PSA_OK)
		log_error("tpm provider: import: ECDH with the storage key "
			  "failed");
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(eph);
	tpm_public_free(&parent);
	return st;
}

/* The duplication blob TPM2_Import takes, with an outer wrapper only
 * (Part 1, 23.3.2): dupSensitive = AES-CFB(symKey, IV 0, TPM2B_SENSITIVE),
 * duplicate = TPM2B(HMAC(hmacKey, dupSensitive || Name)) || dupSensitive,
 * with symKey = KDFa(nameAlg, seed, "STORAGE", Name) and hmacKey =
 * KDFa(nameAlg, seed, "INTEGRITY"). */
static int dup_wrap(struct tpmp *s, const TPMT_PUBLIC *pub,
		    struct import_work *w, TPM2B_PRIVATE *dup,
		    TPM2B_ENCRYPTED_SECRET *in_seed)
{
	static const uint8_t iv[16];
	const EVP_MD *md = tpm_alg_md(pub->nameAlg);
	uint8_t name[TPM_NAME_MAX];
	size_t name_len = 0, hlen, mlen = 0, off = 0;
	EVP_CIPHER_CTX *cctx = NULL;
	int len = 0, fin = 0, st = PSA_ERR_GENERIC;
	TPM2B_SENSITIVE ts;

	if (!md || public_name(pub, name, &name_len) < 0)
		return PSA_ERR_GENERIC;
	hlen = (size_t)EVP_MD_get_size(md);
	memset(&ts, 0, sizeof(ts));
	ts.sensitiveArea = w->sens;
	if (Tss2_MU_TPM2B_SENSITIVE_Marshal(&ts, w->plain, sizeof(w->plain),
					    &off))
		goto out;
	w->plain_len = off;
	if (2 + hlen + w->plain_len > sizeof(dup->buffer))
		goto out;
	st = dup_seed(s, w, hlen, in_seed);
	if (st != PSA_OK)
		goto out;
	st = PSA_ERR_GENERIC;
	if (tpm_kdfa(pub->nameAlg, w->seed, hlen, "STORAGE", name, name_len,
		     NULL, 0, w->sym_key, sizeof(w->sym_key)) ||
	    tpm_kdfa(pub->nameAlg, w->seed, hlen, "INTEGRITY", NULL, 0, NULL,
		     0, w->hmac_key, hlen))
		goto out;
	cctx = EVP_CIPHER_CTX_new();
	if (!cctx || EVP_EncryptInit_ex(cctx, EVP_aes_128_cfb128(), NULL,
					w->sym_key, iv) != 1 ||
	    EVP_EncryptUpdate(cctx, dup->buffer + 2 + hlen, &len, w->plain,
			      (int)w->plain_len) != 1 ||
	    EVP_EncryptFinal_ex(cctx, dup->buffer + 2 + hlen + len,
				&fin) != 1 ||
	    (size_t)(len + fin) != w->plain_len)
		goto out;
	memcpy(w->mac_in, dup->buffer + 2 + hlen, w->plain_len);
	memcpy(w->mac_in + w->plain_len, name, name_len);
	if (!EVP_Q_mac(NULL, "HMAC", NULL, EVP_MD_get0_name(md), NULL,
		       w->hmac_key, hlen, w->mac_in, w->plain_len + name_len,
		       dup->buffer + 2, hlen, &mlen) || mlen != hlen)
		goto out;
	dup->buffer[0] = (uint8_t)(hlen >> 8);
	dup->buffer[1] = (uint8_t)hlen;
	dup->size = (UINT16)(2 + hlen + w->plain_len);
	st = PSA_OK;
out:
	EVP_CIPHER_CTX_free(cctx);
	secure_wipe(&ts, sizeof(ts));
	return st;
}

/* A key pair made elsewhere, sealed under the storage key with
 * TPM2_Import. The key keeps its fixedTPM/fixedParent clear (Import
 * requires that) but has no policy, so the TPM will not duplicate it. */
static int import_pair(struct provider *p, const struct psa_attrs *a,
		       const uint8_t *data, size_t n, struct buf *ref)
{
	struct tpmp *s = p->state;
	struct import_work w;
	struct psa_attrs full = *a;
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE dup = { 0 }, *priv = NULL;
	TPM2B_ENCRYPTED_SECRET in_seed = { 0 };
	TPM2B_DATA enc_key = { 0 };
	TPMT_SYM_DEF_OBJECT sym = { .algorithm = TPM2_ALG_NULL };
	TPMT_PUBLIC area;
	struct op o;
	TSS2_RC rc;
	int st;

	memset(&w, 0, sizeof(w));
	memset(&area, 0, sizeof(area));
	st = a->type == PSA_KEY_RSA_PAIR ?
	     rsa_private(a, data, n, &area, &w.sens) :
	     ecc_private(a, data, n, &area, &w.sens);
	if (st != PSA_OK)
		goto out;
	full.bits = area.type == TPM2_ALG_RSA ?
		    area.parameters.rsaDetail.keyBits :
		    curve_bits(area.parameters.eccDetail.curveID);
	st = key_template(&full, 0, &pub);
	if (st != PSA_OK)
		goto out;
	pub.publicArea.unique = area.unique;
	if (area.type == TPM2_ALG_RSA)
		pub.publicArea.parameters.rsaDetail.exponent =
			area.parameters.rsaDetail.exponent;
	st = op_begin(p, &o);
	if (st != PSA_OK)
		goto out;
	st = op_test_parms(&o, &pub.publicArea);
	if (st == PSA_OK)
		st = dup_wrap(s, &pub.publicArea, &w, &dup, &in_seed);
	if (st == PSA_OK) {
		rc = Esys_Import(o.s->ctx, o.s->primary,
				 op_sess(&o, TPMA_SESSION_ENCRYPT),
				 ESYS_TR_NONE, ESYS_TR_NONE, &enc_key, &pub,
				 &dup, &in_seed, &sym, &priv);
		if (rc && rc_is_param(rc)) {
			log_error("tpm provider: the TPM refuses the imported "
				  "key: %s (0x%08x)", Tss2_RC_Decode(rc),
				  (unsigned)rc);
			st = rc_status(rc) == PSA_ERR_NOT_SUPPORTED ?
			     PSA_ERR_NOT_SUPPORTED : PSA_ERR_INVALID_ARGUMENT;
		} else if (rc) {
			st = tss_fail("Import", rc);
		}
	}
	op_end(&o);
	if (st == PSA_OK)
		st = ref_write(&pub, priv, ref);
out:
	Esys_Free(priv);
	secure_wipe(&w, sizeof(w));
	secure_wipe(&dup, sizeof(dup));
	return st;
}

static int tpmp_import(struct provider *p, const struct psa_attrs *a,
		       const uint8_t *data, size_t n, struct buf *ref)
{
	int st = alg_supported(&a->alg);

	if (st != PSA_OK)
		return st;
	if (!data || n == 0) {
		log_error("tpm provider: import: no key data");
		return PSA_ERR_INVALID_ARGUMENT;
	}
	switch (a->type) {
	case PSA_KEY_RSA_PUBLIC:
	case PSA_KEY_ECC_PUBLIC:
		return import_public(p, a, data, n, ref);
	case PSA_KEY_RSA_PAIR:
	case PSA_KEY_ECC_PAIR:
		return import_pair(p, a, data, n, ref);
	default:
		log_error("tpm provider: cannot import keys of type %d",
			  a->type);
		return PSA_ERR_NOT_SUPPORTED;
	}
}

/* ---- signatures ---- */

/* The TPM signature scheme for a PSA signature algorithm on a key. */
static int sign_scheme(const TPMT_PUBLIC *pub, const struct psa_alg *alg,
		       size_t n, TPMT_SIG_SCHEME *scheme)
{
	TPM2_ALG_ID h = hash_alg(alg->hash);

	if (alg->kind != PSA_ALG_SIGN)
		return PSA_ERR_INVALID_ARGUMENT;
	switch (alg->variant) {
	case PSA_SIGN_RSA_PKCS1V15:
		scheme->scheme = TPM2_ALG_RSASSA;
		break;
	case PSA_SIGN_RSA_PSS:
		scheme->scheme = TPM2_ALG_RSAPSS;
		break;
	case PSA_SIGN_ECDSA:
		scheme->scheme = TPM2_ALG_ECDSA;
		break;
	default:
		log_error("tpm provider: signature algorithm %d is not one a "
			  "TPM has", alg->variant);
		return PSA_ERR_NOT_SUPPORTED;
	}
	if ((scheme->scheme == TPM2_ALG_ECDSA) != (pub->type == TPM2_ALG_ECC))
		return PSA_ERR_INVALID_ARGUMENT;
	if (alg->hash == PSA_HASH_ANY || alg->hash == PSA_HASH_NONE) {
		log_error("tpm provider: a signature needs a specific hash");
		return PSA_ERR_INVALID_ARGUMENT;
	}
	if (h == TPM2_ALG_NULL) {
		log_error("tpm provider: hash %d is not one a TPM has",
			  alg->hash);
		return PSA_ERR_NOT_SUPPORTED;
	}
	if (n != psa_hash_size(alg->hash)) {
		log_error("tpm provider: a %zu-byte hash for an algorithm "
			  "whose hash has %zu", n, psa_hash_size(alg->hash));
		return PSA_ERR_INVALID_ARGUMENT;
	}
	scheme->details.any.hashAlg = h;
	return PSA_OK;
}

static int tpmp_sign_hash(struct provider *p, const struct psa_attrs *a,
			  const struct buf *ref, const struct psa_alg *alg,
			  const uint8_t *hash, size_t n, struct buf *sig)
{
	TPMT_TK_HASHCHECK ticket = { .tag = TPM2_ST_HASHCHECK,
				     .hierarchy = TPM2_RH_NULL };
	TPMT_SIG_SCHEME scheme;
	TPM2B_DIGEST digest = { 0 };
	TPMT_SIGNATURE *out = NULL;
	struct tkey k;
	struct op o;
	TSS2_RC rc;
	size_t cs;
	int st;

	buf_reset(sig);
	memset(&scheme, 0, sizeof(scheme));
	if (psa_type_is_public(a->type))
		return PSA_ERR_NOT_PERMITTED;
	st = key_parse(a, ref, &k);
	if (st == PSA_OK)
		st = sign_scheme(&k.pub.publicArea, alg, n, &scheme);
	if (st == PSA_OK &&
	    !(k.pub.publicArea.objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT)) {
		log_error("tpm provider: the key was made without signing");
		st = PSA_ERR_NOT_PERMITTED;
	}
	if (st != PSA_OK)
		goto out;
	digest.size = (UINT16)n;
	memcpy(digest.buffer, hash, n);
	st = op_begin(p, &o);
	if (st != PSA_OK)
		goto out;
	st = op_load(&o, &k);
	if (st == PSA_OK) {
		rc = Esys_Sign(o.s->ctx, o.key, op_sess(&o, 0), ESYS_TR_NONE,
			       ESYS_TR_NONE, &digest, &scheme, &ticket, &out);
		if (rc)
			st = tss_fail("Sign", rc);
	}
	op_end(&o);
	if (st != PSA_OK)
		goto out;
	if (out->sigAlg != scheme.scheme) {
		st = PSA_ERR_COMMUNICATION_FAILURE;
	} else if (scheme.scheme == TPM2_ALG_ECDSA) {
		cs = curve_size(k.pub.publicArea.parameters.eccDetail.curveID);
		st = put_padded(sig, out->signature.ecdsa.signatureR.buffer,
				out->signature.ecdsa.signatureR.size, cs);
		if (st == PSA_OK)
			st = put_padded(sig,
				out->signature.ecdsa.signatureS.buffer,
				out->signature.ecdsa.signatureS.size, cs);
	} else {
		/* RSASSA and RSAPSS share the layout. */
		st = buf_append(sig, out->signature.rsassa.sig.buffer,
				out->signature.rsassa.sig.size) ?
		     PSA_ERR_INSUFFICIENT_MEMORY : PSA_OK;
	}
	if (st != PSA_OK)
		buf_reset(sig);
out:
	Esys_Free(out);
	key_wipe(&k);
	return st;
}

static int tpmp_verify_hash(struct provider *p, const struct psa_attrs *a,
			    const struct buf *ref, const struct psa_alg *alg,
			    const uint8_t *hash, size_t n, const uint8_t *sig,
			    size_t sn)
{
	TPMT_SIG_SCHEME scheme;
	TPMT_SIGNATURE ts;
	TPM2B_DIGEST digest = { 0 };
	TPMT_TK_VERIFIED *ticket = NULL;
	const TPMT_PUBLIC *pub;
	struct tkey k;
	struct op o;
	TSS2_RC rc;
	size_t cs;
	int st;

	memset(&scheme, 0, sizeof(scheme));
	memset(&ts, 0, sizeof(ts));
	st = key_parse(a, ref, &k);
	pub = &k.pub.publicArea;
	if (st == PSA_OK)
		st = sign_scheme(pub, alg, n, &scheme);
	if (st != PSA_OK)
		goto out;
	ts.sigAlg = scheme.scheme;
	if (scheme.scheme == TPM2_ALG_ECDSA) {
		cs = curve_size(pub->parameters.eccDetail.curveID);
		if (sn != 2 * cs) {
			st = PSA_ERR_INVALID_SIGNATURE;
			goto out;
		}
		ts.signature.ecdsa.hash = scheme.details.any.hashAlg;
		ts.signature.ecdsa.signatureR.size = (UINT16)cs;
		memcpy(ts.signature.ecdsa.signatureR.buffer, sig, cs);
		ts.signature.ecdsa.signatureS.size = (UINT16)cs;
		memcpy(ts.signature.ecdsa.signatureS.buffer, sig + cs, cs);
	} else {
		if (sn != pub->unique.rsa.size) {
			st = PSA_ERR_INVALID_SIGNATURE;
			goto out;
		}
		ts.signature.rsassa.hash = scheme.details.any.hashAlg;
		ts.signature.rsassa.sig.size = (UINT16)sn;
		memcpy(ts.signature.rsassa.sig.buffer, sig, sn);
	}
	digest.size = (UINT16)n;
	memcpy(digest.buffer, hash, n);
	st = op_begin(p, &o);
	if (st != PSA_OK)
		goto out;
	st = op_load_public(&o, &k.pub, PSA_ERR_DATA_CORRUPT);
	if (st == PSA_OK) {
		rc = Esys_VerifySignature(o.s->ctx, o.key, ESYS_TR_NONE,
					  ESYS_TR_NONE, ESYS_TR_NONE, &digest,
					  &ts, &ticket);
		/* A malformed signature (r or s out of range, a bad size)
		 * is as invalid as a wrong one. */
		if (rc && (rc_base(rc) == TPM2_RC_SIGNATURE ||
			   (rc_is_param(rc) &&
			    rc_status(rc) != PSA_ERR_NOT_SUPPORTED)))
			st = PSA_ERR_INVALID_SIGNATURE;
		else if (rc)
			st = tss_fail("VerifySignature", rc);
	}
	op_end(&o);
out:
	Esys_Free(ticket);
	key_wipe(&k);
	return st;
}

/* ---- encryption ---- */

/* The TPM scheme and label for a PSA encryption algorithm and salt; max
 * gets the longest plaintext the padding leaves room for. */
static int crypt_scheme(const TPMT_PUBLIC *pub, const struct psa_alg *alg,
			const uint8_t *salt, size_t sn, TPMT_RSA_DECRYPT *scheme,
			TPM2B_DATA *label, size_t *max)
{
	size_t k = pub->unique.rsa.size, h;

	memset(label, 0, sizeof(*label));
	if (alg->kind != PSA_ALG_ENCRYPT || pub->type != TPM2_ALG_RSA)
		return PSA_ERR_INVALID_ARGUMENT;
	if (alg->variant == PSA_ENCRYPT_RSA_PKCS1V15) {
		if (sn) {
			log_error("tpm provider: PKCS#1 v1.5 encryption takes "
				  "no salt");
			return PSA_ERR_INVALID_ARGUMENT;
		}
		scheme->scheme = TPM2_ALG_RSAES;
		*max = k > 11 ? k - 11 : 0;
		return PSA_OK;
	}
	if (alg->variant != PSA_ENCRYPT_RSA_OAEP)
		return PSA_ERR_NOT_SUPPORTED;
	h = psa_hash_size(alg->hash);
	scheme->scheme = TPM2_ALG_OAEP;
	scheme->details.oaep.hashAlg = hash_alg(alg->hash);
	if (scheme->details.oaep.hashAlg == TPM2_ALG_NULL || h == 0) {
		log_error("tpm provider: OAEP with hash %d is not supported",
			  alg->hash);
		return PSA_ERR_NOT_SUPPORTED;
	}
	*max = k > 2 * h + 2 ? k - 2 * h - 2 : 0;
	if (sn) {
		size_t need = sn + (salt[sn - 1] != 0);

		if (need > TPMP_LABEL_MAX) {
			log_error("tpm provider: an OAEP label of %zu bytes; "
				  "a TPM takes at most %zu", sn,
				  TPMP_LABEL_MAX - 1);
			return PSA_ERR_NOT_SUPPORTED;
		}
		memcpy(label->buffer, salt, sn);
		label->size = (UINT16)need;	/* the NUL is already 0 */
	}
	return PSA_OK;
}

static int tpmp_encrypt(struct provider *p, const struct psa_attrs *a,
			const struct buf *ref, const struct psa_alg *alg,
			const uint8_t *in, size_t n, const uint8_t *salt,
			size_t sn, struct buf *out)
{
	TPMT_RSA_DECRYPT scheme;
	TPM2B_DATA label;
	TPM2B_PUBLIC_KEY_RSA msg = { 0 }, *ct = NULL;
	struct tkey k;
	struct op o;
	size_t max = 0;
	TSS2_RC rc;
	int st;

	buf_reset(out);
	memset(&scheme, 0, sizeof(scheme));
	st = key_parse(a, ref, &k);
	if (st == PSA_OK)
		st = crypt_scheme(&k.pub.publicArea, alg, salt, sn, &scheme,
				  &label, &max);
	if (st == PSA_OK && n > max) {
		log_error("tpm provider: %zu bytes to encrypt, the key and "
			  "padding take at most %zu", n, max);
		st = PSA_ERR_INVALID_ARGUMENT;
	}
	if (st != PSA_OK)
		goto out;
	msg.size = (UINT16)n;
	if (n)
		memcpy(msg.buffer, in, n);
	st = op_begin(p, &o);
	if (st != PSA_OK)
		goto out;
	st = op_load_public(&o, &k.pub, PSA_ERR_DATA_CORRUPT);
	if (st == PSA_OK) {
		rc = Esys_RSA_Encrypt(o.s->ctx, o.key,
				      op_sess(&o, TPMA_SESSION_DECRYPT),
				      ESYS_TR_NONE, ESYS_TR_NONE, &msg,
				      &scheme, &label, &ct);
		if (rc)
			st = tss_fail("RSA_Encrypt", rc);
	}
	op_end(&o);
	if (st == PSA_OK && buf_append(out, ct->buffer, ct->size))
		st = PSA_ERR_INSUFFICIENT_MEMORY;
out:
	Esys_Free(ct);
	secure_wipe(&msg, sizeof(msg));
	key_wipe(&k);
	return st;
}

static int tpmp_decrypt(struct provider *p, const struct psa_attrs *a,
			const struct buf *ref, const struct psa_alg *alg,
			const uint8_t *in, size_t n, const uint8_t *salt,
			size_t sn, struct buf *out)
{
	TPMT_RSA_DECRYPT scheme;
	TPM2B_DATA label;
	TPM2B_PUBLIC_KEY_RSA ct = { 0 }, *msg = NULL;
	struct tkey k;
	struct op o;
	size_t max = 0;
	TSS2_RC rc;
	int st;

	buf_reset(out);
	memset(&scheme, 0, sizeof(scheme));
	if (psa_type_is_public(a->type))
		return PSA_ERR_NOT_PERMITTED;
	st = key_parse(a, ref, &k);
	if (st == PSA_OK)
		st = crypt_scheme(&k.pub.publicArea, alg, salt, sn, &scheme,
				  &label, &max);
	if (st == PSA_OK && n != k.pub.publicArea.unique.rsa.size) {
		log_error("tpm provider: a %zu-byte ciphertext for a %u-byte "
			  "key", n, k.pub.publicArea.unique.rsa.size);
		st = PSA_ERR_INVALID_ARGUMENT;
	}
	if (st == PSA_OK &&
	    !(k.pub.publicArea.objectAttributes & TPMA_OBJECT_DECRYPT)) {
		log_error("tpm provider: the key was made without decryption");
		st = PSA_ERR_NOT_PERMITTED;
	}
	if (st != PSA_OK)
		goto out;
	ct.size = (UINT16)n;
	memcpy(ct.buffer, in, n);
	st = op_begin(p, &o);
	if (st != PSA_OK)
		goto out;
	st = op_load(&o, &k);
	if (st == PSA_OK) {
		rc = Esys_RSA_Decrypt(o.s->ctx, o.key,
				      op_sess(&o, TPMA_SESSION_ENCRYPT),
				      ESYS_TR_NONE, ESYS_TR_NONE, &ct, &scheme,
				      &label, &msg);
		/* Bad padding or a wrong label: the reference TPM says
		 * VALUE; libtpms (swtpm) passes OpenSSL's refusal on as
		 * FAILURE without entering failure mode. */
		if (rc && (rc_base(rc) == TPM2_RC_VALUE ||
			   rc_base(rc) == TPM2_RC_FAILURE))
			st = PSA_ERR_INVALID_PADDING;
		else if (rc)
			st = tss_fail("RSA_Decrypt", rc);
	}
	op_end(&o);
	if (st == PSA_OK && buf_append(out, msg->buffer, msg->size))
		st = PSA_ERR_INSUFFICIENT_MEMORY;
out:
	if (msg)
		secure_wipe(msg, sizeof(*msg));
	Esys_Free(msg);
	key_wipe(&k);
	return st;
}

/* ---- key agreement ---- */

static int tpmp_agree(struct provider *p, const struct psa_attrs *a,
		      const struct buf *ref, const struct psa_alg *alg,
		      const uint8_t *peer, size_t pn, struct buf *out)
{
	TPM2B_ECC_POINT in = { 0 }, *z = NULL;
	struct tkey k;
	struct op o;
	TSS2_RC rc;
	size_t cs = 0;
	int st;

	buf_reset(out);
	if (alg->kind != PSA_ALG_KEY_AGREEMENT || alg->variant != PSA_KA_ECDH ||
	    alg->kdf != 0) {
		log_error("tpm provider: only raw ECDH is supported");
		return PSA_ERR_NOT_SUPPORTED;
	}
	if (a->type != PSA_KEY_ECC_PAIR)
		return PSA_ERR_INVALID_ARGUMENT;
	st = key_parse(a, ref, &k);
	if (st == PSA_OK) {
		cs = curve_size(k.pub.publicArea.parameters.eccDetail.curveID);
		if (pn != 1 + 2 * cs || peer[0] != 0x04) {
			log_error("tpm provider: the peer key is not an "
				  "uncompressed point on the key's curve");
			st = PSA_ERR_INVALID_ARGUMENT;
		} else if (!(k.pub.publicArea.objectAttributes &
			     TPMA_OBJECT_DECRYPT)) {
			log_error("tpm provider: the key was made without "
				  "key agreement (derive)");
			st = PSA_ERR_NOT_PERMITTED;
		}
	}
	if (st != PSA_OK)
		goto out;
	in.point.x.size = in.point.y.size = (UINT16)cs;
	memcpy(in.point.x.buffer, peer + 1, cs);
	memcpy(in.point.y.buffer, peer + 1 + cs, cs);
	st = op_begin(p, &o);
	if (st != PSA_OK)
		goto out;
	st = op_load(&o, &k);
	if (st == PSA_OK) {
		rc = Esys_ECDH_ZGen(o.s->ctx, o.key,
				    op_sess(&o, TPMA_SESSION_ENCRYPT),
				    ESYS_TR_NONE, ESYS_TR_NONE, &in, &z);
		if (rc && rc_base(rc) == TPM2_RC_ECC_POINT) {
			log_error("tpm provider: the peer point is not on the "
				  "curve");
			st = PSA_ERR_INVALID_ARGUMENT;
		} else if (rc) {
			st = tss_fail("ECDH_ZGen", rc);
		}
	}
	op_end(&o);
	if (st == PSA_OK)
		st = put_padded(out, z->point.x.buffer, z->point.x.size, cs);
out:
	if (z)
		secure_wipe(z, sizeof(*z));
	Esys_Free(z);
	key_wipe(&k);
	return st;
}

/* ---- random ---- */

static int tpmp_random(struct provider *p, size_t n, struct buf *out)
{
	TPM2B_DIGEST *rnd = NULL;
	struct op o;
	TSS2_RC rc;
	int st = PSA_OK, calls;

	buf_reset(out);
	if (n > TPMP_RANDOM_MAX) {
		log_error("tpm provider: %zu random bytes asked, at most %zu",
			  n, TPMP_RANDOM_MAX);
		return PSA_ERR_INVALID_ARGUMENT;
	}
	if (buf_reserve(out, n) < 0)
		return PSA_ERR_INSUFFICIENT_MEMORY;
	while (st == PSA_OK && out->len < n) {
		st = op_begin(p, &o);
		if (st != PSA_OK)
			break;
		for (calls = 0; st == PSA_OK && out->len < n &&
		     calls < TPMP_RANDOM_BATCH; calls++) {
			size_t want = n - out->len;

			if (want > TPMP_RANDOM_CHUNK)
				want = TPMP_RANDOM_CHUNK;
			rc = Esys_GetRandom(o.s->ctx,
					    op_sess(&o, TPMA_SESSION_ENCRYPT),
					    ESYS_TR_NONE, ESYS_TR_NONE,
					    (UINT16)want, &rnd);
			if (rc) {
				st = tss_fail("GetRandom", rc);
				break;
			}
			/* Fewer bytes than asked are allowed, none is not. */
			if (rnd->size == 0 || rnd->size > want)
				st = PSA_ERR_INSUFFICIENT_ENTROPY;
			else if (buf_append(out, rnd->buffer, rnd->size))
				st = PSA_ERR_INSUFFICIENT_MEMORY;
			secure_wipe(rnd, sizeof(*rnd));
			Esys_Free(rnd);
			rnd = NULL;
		}
		op_end(&o);
	}
	if (st != PSA_OK)
		buf_reset(out);
	return st;
}

/* ---- key attestation ---- */

/* The DER public key of the default RSA EK, created (and flushed) once
 * and then kept: it only changes if the endorsement seed does. */
static int ek_public(struct op *o, struct buf *out)
{
	struct tpmp *s = o->s;
	struct buf pubbuf = BUF_INIT;
	TPM2B_PUBLIC pub;
	ESYS_TR ek = ESYS_TR_NONE;
	size_t off = 0;
	int st;

	if (!s->ek_pub.len) {
		if (tpm_ek_create(s->tpm, TPM_ALG_KIND_RSA, &ek, &pubbuf) < 0) {
			log_error("tpm provider: %s", tpm_error(s->tpm));
			return rc_status(tpm_last_rc(s->tpm));
		}
		tpm_flush(s->tpm, ek);
		memset(&pub, 0, sizeof(pub));
		st = Tss2_MU_TPM2B_PUBLIC_Unmarshal(pubbuf.data, pubbuf.len,
						    &off, &pub) ?
		     PSA_ERR_COMMUNICATION_FAILURE :
		     rsa_der(&pub.publicArea, &s->ek_pub);
		buf_free(&pubbuf);
		if (st != PSA_OK)
			return st;
	}
	return buf_append(out, s->ek_pub.data, s->ek_pub.len) ?
		PSA_ERR_INSUFFICIENT_MEMORY : PSA_OK;
}

/* Only the default EK can attest: TPM2_ActivateCredential needs a
 * restricted decryption key, and keys made here are never restricted. */
static int attesting_key_check(const struct buf *att_ref, const struct tkey *k)
{
	if (att_ref) {
		log_error("tpm provider: key attestation with a key other than "
			  "the endorsement key is not supported");
		return PSA_ERR_NOT_SUPPORTED;
	}
	if (k->priv.size == 0) {
		log_error("tpm provider: a public key cannot be attested");
		return PSA_ERR_NOT_SUPPORTED;
	}
	return PSA_OK;
}

static int tpmp_prepare_attestation(struct provider *p,
				    const struct psa_attrs *a,
				    const struct buf *ref,
				    const struct psa_attrs *att_a,
				    const struct buf *att_ref,
				    struct buf *name, struct buf *public_area,
				    struct buf *attesting_pub)
{
	uint8_t tmp[sizeof(TPMT_PUBLIC)];
	TPM2B_NAME *tn = NULL;
	struct tkey k;
	struct op o;
	size_t off = 0;
	TSS2_RC rc;
	int st;

	buf_reset(name);
	buf_reset(public_area);
	buf_reset(attesting_pub);
	st = key_parse(a, ref, &k);
	if (st == PSA_OK)
		st = attesting_key_check(att_ref, &k);
	if (st != PSA_OK)
		goto out;
	if (Tss2_MU_TPMT_PUBLIC_Marshal(&k.pub.publicArea, tmp, sizeof(tmp),
					&off) ||
	    buf_append(public_area, tmp, off)) {
		st = PSA_ERR_GENERIC;
		goto out;
	}
	st = op_begin(p, &o);
	if (st != PSA_OK)
		goto out;
	/* Loading proves the key is this TPM's; the Name is the TPM's. */
	st = op_load(&o, &k);
	if (st == PSA_OK) {
		rc = Esys_TR_GetName(o.s->ctx, o.key, &tn);
		if (rc)
			st = tss_fail("TR_GetName", rc);
		else if (buf_append(name, tn->name, tn->size))
			st = PSA_ERR_INSUFFICIENT_MEMORY;
	}
	if (st == PSA_OK)
		st = ek_public(&o, attesting_pub);
	op_end(&o);
out:
	Esys_Free(tn);
	key_wipe(&k);
	if (st != PSA_OK) {
		buf_reset(name);
		buf_reset(public_area);
		buf_reset(attesting_pub);
	}
	return st;
}

static int tpmp_attest_key(struct provider *p, const struct psa_attrs *a,
			   const struct buf *ref, const struct psa_attrs *att_a,
			   const struct buf *att_ref, const uint8_t *blob,
			   size_t bn, const uint8_t *secret, size_t sn,
			   struct buf *out)
{
	TPM2B_ID_OBJECT cred = { 0 };
	TPM2B_ENCRYPTED_SECRET enc = { 0 };
	struct buf ekpub = BUF_INIT;
	ESYS_TR ek = ESYS_TR_NONE;
	struct tkey k;
	struct op o;
	TSS2_RC rc;
	int st;

	buf_reset(out);
	st = key_parse(a, ref, &k);
	if (st == PSA_OK)
		st = attesting_key_check(att_ref, &k);
	if (st != PSA_OK)
		goto out;
	if (!bn || bn > sizeof(cred.credential) || !sn ||
	    sn > sizeof(enc.secret)) {
		log_error("tpm provider: attest key: a %zu-byte credential "
			  "blob and a %zu-byte secret (at most %zu and %zu)",
			  bn, sn, sizeof(cred.credential), sizeof(enc.secret));
		st = PSA_ERR_INVALID_ARGUMENT;
		goto out;
	}
	cred.size = (UINT16)bn;
	memcpy(cred.credential, blob, bn);
	enc.size = (UINT16)sn;
	memcpy(enc.secret, secret, sn);
	st = op_begin(p, &o);
	if (st != PSA_OK)
		goto out;
	st = op_load(&o, &k);
	if (st == PSA_OK && tpm_ek_create(o.s->tpm, TPM_ALG_KIND_RSA, &ek,
					  &ekpub) < 0) {
		log_error("tpm provider: %s", tpm_error(o.s->tpm));
		st = rc_status(tpm_last_rc(o.s->tpm));
	}
	if (st == PSA_OK && tpm_activate_credential_parts(o.s->tpm, o.key, ek,
							  &cred, &enc,
							  out) < 0) {
		rc = tpm_last_rc(o.s->tpm);
		log_error("tpm provider: %s", tpm_error(o.s->tpm));
		/* The TPM refuses a credential made for another key or EK,
		 * or a malformed one: the caller's input is wrong. */
		st = rc_is_param(rc) ? PSA_ERR_INVALID_ARGUMENT :
		     rc ? rc_status(rc) : PSA_ERR_GENERIC;
	}
	if (ek != ESYS_TR_NONE)
		tpm_flush(o.s->tpm, ek);
	op_end(&o);
out:
	buf_free(&ekpub);
	secure_wipe(&cred, sizeof(cred));
	secure_wipe(&enc, sizeof(enc));
	key_wipe(&k);
	if (st != PSA_OK)
		buf_reset(out);
	return st;
}

/* ---- open and close ---- */

/* Parsec's owner_hierarchy_auth forms: "str:TEXT", "hex:HEX" or TEXT. */
static int owner_auth_parse(const char *s, TPM2B_AUTH *auth, char *err,
			    size_t errlen)
{
	struct buf b = BUF_INIT;
	int ret = -1;

	memset(auth, 0, sizeof(*auth));
	if (!strncmp(s, "hex:", 4)) {
		if (hex_decode(&b, s + 4, strlen(s + 4)) < 0) {
			error_set(err, errlen, "tpm_owner_auth: 'hex:' is not "
				  "followed by hex digits");
			goto out;
		}
	} else if (buf_append_str(&b, !strncmp(s, "str:", 4) ? s + 4 : s)) {
		error_set(err, errlen, "out of memory");
		goto out;
	}
	if (b.len > sizeof(auth->buffer)) {
		error_set(err, errlen, "tpm_owner_auth: %zu bytes, a TPM takes "
			  "at most %zu", b.len, sizeof(auth->buffer));
		goto out;
	}
	auth->size = (UINT16)b.len;
	if (b.len)
		memcpy(auth->buffer, b.data, b.len);
	ret = 0;
out:
	buf_free(&b);
	return ret;
}

/* The storage key: the TCG SRK template for ECC P-256 (TCG TPM v2.0
 * Provisioning Guidance, 7.5.1), so a TPM provisioned with a persistent
 * SRK has the very same key. */
static void srk_template(TPM2B_PUBLIC *t)
{
	TPMT_PUBLIC *p = &t->publicArea;

	memset(t, 0, sizeof(*t));
	p->type = TPM2_ALG_ECC;
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
		TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
		TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
	p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
	p->parameters.eccDetail.symmetric.keyBits.aes = 128;
	p->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
	p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
	p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
}

/* CreatePrimary under the owner hierarchy, authorised through an HMAC
 * session so the owner password never crosses the bus in clear. */
static int primary_create(struct tpmp *s, const TPM2B_AUTH *owner,
			  char *err, size_t errlen)
{
	static const TPM2B_AUTH empty = { 0 };
	TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
	TPM2B_SENSITIVE_CREATE sens = { 0 };
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION pcrs = { 0 };
	TPM2B_PUBLIC tmpl, *out = NULL;
	ESYS_TR sess = ESYS_TR_NONE;
	TSS2_RC rc;

	srk_template(&tmpl);
	rc = Esys_TR_SetAuth(s->ctx, ESYS_TR_RH_OWNER, owner);
	if (!rc)
		rc = Esys_StartAuthSession(s->ctx, ESYS_TR_NONE, ESYS_TR_NONE,
					   ESYS_TR_NONE, ESYS_TR_NONE,
					   ESYS_TR_NONE, NULL, TPM2_SE_HMAC,
					   &sym, TPM2_ALG_SHA256, &sess);
	if (!rc)
		rc = Esys_CreatePrimary(s->ctx, ESYS_TR_RH_OWNER, sess,
					ESYS_TR_NONE, ESYS_TR_NONE, &sens,
					&tmpl, &outside, &pcrs, &s->primary,
					&out, NULL, NULL, NULL);
	if (sess != ESYS_TR_NONE)
		Esys_FlushContext(s->ctx, sess);
	/* ESAPI keeps a copy of the owner password: drop it. */
	Esys_TR_SetAuth(s->ctx, ESYS_TR_RH_OWNER, &empty);
	if (rc) {
		s->primary = ESYS_TR_NONE;
		if (rc_base(rc) == TPM2_RC_BAD_AUTH ||
		    rc_base(rc) == TPM2_RC_AUTH_FAIL)
			error_set(err, errlen, "TPM: the owner hierarchy "
				  "refuses its authorisation (set "
				  "tpm_owner_auth to the owner password): %s",
				  Tss2_RC_Decode(rc));
		else
			error_set(err, errlen, "TPM: cannot create the "
				  "storage key: %s (0x%08x)",
				  Tss2_RC_Decode(rc), (unsigned)rc);
		return -1;
	}
	s->primary_pub = *out;
	Esys_Free(out);
	return 0;
}

static void tpmp_free(struct tpmp *s)
{
	if (!s)
		return;
	if (s->primary != ESYS_TR_NONE)
		Esys_FlushContext(s->ctx, s->primary);
	tpm_close(s->tpm);
	buf_free(&s->ek_pub);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static int tpmp_open(struct provider *p, const struct config *cfg, char *err,
		     size_t errlen)
{
	const char *tcti = config_str(cfg, "tpm_tcti");
	struct tpmp *s;
	TPM2B_AUTH owner = { 0 };
	int ret;

	if (tcti && !*tcti)
		tcti = NULL;
	s = calloc(1, sizeof(*s));
	if (!s || pthread_mutex_init(&s->lock, NULL)) {
		free(s);
		error_set(err, errlen, "out of memory");
		return -1;
	}
	s->primary = ESYS_TR_NONE;
	s->tpm = tpm_open(tcti, err, errlen);
	if (!s->tpm) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return -1;
	}
	s->ctx = tpm_esys(s->tpm);
	if (config_isset(cfg, "tpm_owner_auth") &&
	    owner_auth_parse(config_str(cfg, "tpm_owner_auth"), &owner, err,
			     errlen) < 0) {
		tpmp_free(s);
		return -1;
	}
	ret = primary_create(s, &owner, err, errlen);
	secure_wipe(&owner, sizeof(owner));
	if (ret < 0) {
		tpmp_free(s);
		return -1;
	}
	p->state = s;
	log_info("tpm provider: storage key ready on %s",
		 tcti ? tcti : "the default TCTI");
	return 0;
}

static void tpmp_close(struct provider *p)
{
	tpmp_free(p->state);
	p->state = NULL;
}

const struct provider_ops provider_tpm = {
	.name = "tpm",
	.id = 3,
	.uuid = "1e4954a4-ff21-46d3-ab0c-661eeb667e1d",
	.description = "TPM provider",
	.vendor = "Assay",
	.version = { 0, 1, 0 },
	.open = tpmp_open,
	.close = tpmp_close,
	.plan = NULL,
	.generate = tpmp_generate,
	.import = tpmp_import,
	.destroy = tpmp_destroy,
	.export_public = tpmp_export_public,
	.sign_hash = tpmp_sign_hash,
	.verify_hash = tpmp_verify_hash,
	.asymmetric_encrypt = tpmp_encrypt,
	.asymmetric_decrypt = tpmp_decrypt,
	.raw_key_agreement = tpmp_agree,
	.generate_random = tpmp_random,
	.prepare_key_attestation = tpmp_prepare_attestation,
	.attest_key = tpmp_attest_key,
};
