#include "parsec/psa_pb.h"

#include <string.h>

#define BAD PSA_ERR_INVALID_ARGUMENT

static int sign_hash_from_pb(const PsaAlgorithm__Algorithm__AsymmetricSignature__SignHash *h,
			     struct psa_alg *out)
{
	if (!h)
		return BAD;
	if (h->variant_case == PSA_ALGORITHM__ALGORITHM__ASYMMETRIC_SIGNATURE__SIGN_HASH__VARIANT_ANY)
		out->hash = PSA_HASH_ANY;
	else if (h->variant_case == PSA_ALGORITHM__ALGORITHM__ASYMMETRIC_SIGNATURE__SIGN_HASH__VARIANT_SPECIFIC)
		out->hash = (enum psa_hash)h->specific;
	else
		return BAD;
	return PSA_OK;
}

static int kdf_from_pb(const PsaAlgorithm__Algorithm__KeyDerivation *k, int *variant,
		       enum psa_hash *hash)
{
	if (!k)
		return BAD;
	*variant = (int)k->variant_case;
	switch (k->variant_case) {
	case PSA_ALGORITHM__ALGORITHM__KEY_DERIVATION__VARIANT_HKDF:
		*hash = (enum psa_hash)k->hkdf->hash_alg;
		return PSA_OK;
	case PSA_ALGORITHM__ALGORITHM__KEY_DERIVATION__VARIANT_TLS12_PRF:
		*hash = (enum psa_hash)k->tls12_prf->hash_alg;
		return PSA_OK;
	case PSA_ALGORITHM__ALGORITHM__KEY_DERIVATION__VARIANT_TLS12_PSK_TO_MS:
		*hash = (enum psa_hash)k->tls12_psk_to_ms->hash_alg;
		return PSA_OK;
	default:
		return BAD;
	}
}

static int mac_full_from_pb(const PsaAlgorithm__Algorithm__Mac__FullLength *f,
			    struct psa_alg *out)
{
	if (!f)
		return BAD;
	out->variant = (int)f->variant_case;
	switch (f->variant_case) {
	case PSA_ALGORITHM__ALGORITHM__MAC__FULL_LENGTH__VARIANT_HMAC:
		out->hash = (enum psa_hash)f->hmac->hash_alg;
		return psa_hash_size(out->hash) ? PSA_OK : BAD;
	case PSA_ALGORITHM__ALGORITHM__MAC__FULL_LENGTH__VARIANT_CBC_MAC:
	case PSA_ALGORITHM__ALGORITHM__MAC__FULL_LENGTH__VARIANT_CMAC:
		return PSA_OK;
	default:
		return BAD;
	}
}

int psa_alg_from_pb(const PsaAlgorithm__Algorithm *pb, struct psa_alg *out)
{
	memset(out, 0, sizeof *out);
	if (!pb)
		return PSA_OK;	/* absent: PSA_ALG_UNSET */
	out->kind = (enum psa_alg_kind)pb->variant_case;
	switch (pb->variant_case) {
	case PSA_ALGORITHM__ALGORITHM__VARIANT__NOT_SET:
	case PSA_ALGORITHM__ALGORITHM__VARIANT_NONE:
		return PSA_OK;
	case PSA_ALGORITHM__ALGORITHM__VARIANT_HASH:
		out->hash = (enum psa_hash)pb->hash;
		return psa_hash_size(out->hash) ? PSA_OK : BAD;
	case PSA_ALGORITHM__ALGORITHM__VARIANT_CIPHER:
		out->variant = (int)pb->cipher;
		return out->variant >= PSA_CIPHER_STREAM && out->variant <= PSA_CIPHER_CBC_PKCS7
			? PSA_OK : BAD;
	case PSA_ALGORITHM__ALGORITHM__VARIANT_MAC: {
		const PsaAlgorithm__Algorithm__Mac *m = pb->mac;
		if (m->variant_case == PSA_ALGORITHM__ALGORITHM__MAC__VARIANT_FULL_LENGTH)
			return mac_full_from_pb(m->full_length, out);
		if (m->variant_case != PSA_ALGORITHM__ALGORITHM__MAC__VARIANT_TRUNCATED ||
		    !m->truncated->mac_length)
			return BAD;
		out->length = m->truncated->mac_length;
		return mac_full_from_pb(m->truncated->mac_alg, out);
	}
	case PSA_ALGORITHM__ALGORITHM__VARIANT_AEAD: {
		const PsaAlgorithm__Algorithm__Aead *a = pb->aead;
		if (a->variant_case == PSA_ALGORITHM__ALGORITHM__AEAD__VARIANT_AEAD_WITH_DEFAULT_LENGTH_TAG) {
			out->variant = (int)a->aead_with_default_length_tag;
		} else if (a->variant_case == PSA_ALGORITHM__ALGORITHM__AEAD__VARIANT_AEAD_WITH_SHORTENED_TAG) {
			out->variant = (int)a->aead_with_shortened_tag->aead_alg;
			out->length = a->aead_with_shortened_tag->tag_length;
			if (!out->length)
				return BAD;
		} else {
			return BAD;
		}
		return out->variant >= PSA_AEAD_CCM && out->variant <= PSA_AEAD_CHACHA20_POLY1305
			? PSA_OK : BAD;
	}
	case PSA_ALGORITHM__ALGORITHM__VARIANT_ASYMMETRIC_SIGNATURE: {
		const PsaAlgorithm__Algorithm__AsymmetricSignature *s = pb->asymmetric_signature;
		out->variant = (int)s->variant_case;
		switch (s->variant_case) {
		case PSA_ALGORITHM__ALGORITHM__ASYMMETRIC_SIGNATURE__VARIANT_RSA_PKCS1V15_SIGN:
			return sign_hash_from_pb(s->rsa_pkcs1v15_sign->hash_alg, out);
		case PSA_ALGORITHM__ALGORITHM__ASYMMETRIC_SIGNATURE__VARIANT_RSA_PSS:
			return sign_hash_from_pb(s->rsa_pss->hash_alg, out);
		case PSA_ALGORITHM__ALGORITHM__ASYMMETRIC_SIGNATURE__VARIANT_ECDSA:
			return sign_hash_from_pb(s->ecdsa->hash_alg, out);
		case PSA_ALGORITHM__ALGORITHM__ASYMMETRIC_SIGNATURE__VARIANT_DETERMINISTIC_ECDSA:
			return sign_hash_from_pb(s->deterministic_ecdsa->hash_alg, out);
		case PSA_ALGORITHM__ALGORITHM__ASYMMETRIC_SIGNATURE__VARIANT_RSA_PKCS1V15_SIGN_RAW:
		case PSA_ALGORITHM__ALGORITHM__ASYMMETRIC_SIGNATURE__VARIANT_ECDSA_ANY:
			return PSA_OK;
		default:
			return BAD;
		}
	}
	case PSA_ALGORITHM__ALGORITHM__VARIANT_ASYMMETRIC_ENCRYPTION: {
		const PsaAlgorithm__Algorithm__AsymmetricEncryption *e = pb->asymmetric_encryption;
		out->variant = (int)e->variant_case;
		if (e->variant_case == PSA_ALGORITHM__ALGORITHM__ASYMMETRIC_ENCRYPTION__VARIANT_RSA_PKCS1V15_CRYPT)
			return PSA_OK;
		if (e->variant_case != PSA_ALGORITHM__ALGORITHM__ASYMMETRIC_ENCRYPTION__VARIANT_RSA_OAEP)
			return BAD;
		out->hash = (enum psa_hash)e->rsa_oaep->hash_alg;
		return psa_hash_size(out->hash) ? PSA_OK : BAD;
	}
	case PSA_ALGORITHM__ALGORITHM__VARIANT_KEY_AGREEMENT: {
		const PsaAlgorithm__Algorithm__KeyAgreement *k = pb->key_agreement;
		if (k->variant_case == PSA_ALGORITHM__ALGORITHM__KEY_AGREEMENT__VARIANT_RAW) {
			out->variant = (int)k->raw;
		} else if (k->variant_case == PSA_ALGORITHM__ALGORITHM__KEY_AGREEMENT__VARIANT_WITH_KEY_DERIVATION) {
			out->variant = (int)k->with_key_derivation->ka_alg;
			if (kdf_from_pb(k->with_key_derivation->kdf_alg, &out->kdf, &out->kdf_hash))
				return BAD;
		} else {
			return BAD;
		}
		return out->variant == PSA_KA_FFDH || out->variant == PSA_KA_ECDH ? PSA_OK : BAD;
	}
	case PSA_ALGORITHM__ALGORITHM__VARIANT_KEY_DERIVATION:
		return kdf_from_pb(pb->key_derivation, &out->variant, &out->hash);
	default:
		return BAD;
	}
}

int psa_attrs_from_pb(const PsaKeyAttributes__KeyAttributes *pb, struct psa_attrs *out)
{
	memset(out, 0, sizeof *out);
	if (!pb || !pb->key_type || !pb->key_policy || !pb->key_policy->key_usage_flags)
		return BAD;
	const PsaKeyAttributes__KeyType *t = pb->key_type;
	out->type = (enum psa_key_type)t->variant_case;
	switch (t->variant_case) {
	case PSA_KEY_ATTRIBUTES__KEY_TYPE__VARIANT__NOT_SET:
		return BAD;
	case PSA_KEY_ATTRIBUTES__KEY_TYPE__VARIANT_ECC_KEY_PAIR:
		out->family = (int)t->ecc_key_pair->curve_family;
		break;
	case PSA_KEY_ATTRIBUTES__KEY_TYPE__VARIANT_ECC_PUBLIC_KEY:
		out->family = (int)t->ecc_public_key->curve_family;
		break;
	case PSA_KEY_ATTRIBUTES__KEY_TYPE__VARIANT_DH_KEY_PAIR:
		out->family = (int)t->dh_key_pair->group_family;
		break;
	case PSA_KEY_ATTRIBUTES__KEY_TYPE__VARIANT_DH_PUBLIC_KEY:
		out->family = (int)t->dh_public_key->group_family;
		break;
	default:
		break;
	}
	out->bits = pb->key_bits;
	const PsaKeyAttributes__UsageFlags *u = pb->key_policy->key_usage_flags;
	const protobuf_c_boolean flags[10] = {
		u->export, u->copy, u->cache, u->encrypt, u->decrypt, u->sign_message,
		u->verify_message, u->sign_hash, u->verify_hash, u->derive,
	};
	for (int i = 0; i < 10; i++)
		if (flags[i])
			out->usage |= 1u << i;
	return psa_alg_from_pb(pb->key_policy->key_algorithm, &out->alg);
}

static void sign_hash_to_pb(const struct psa_alg *a, struct psa_alg_pb *s)
{
	psa_algorithm__algorithm__asymmetric_signature__sign_hash__init(&s->sign_hash);
	if (a->hash == PSA_HASH_ANY) {
		psa_algorithm__algorithm__asymmetric_signature__sign_hash__any__init(&s->any);
		s->sign_hash.variant_case =
			PSA_ALGORITHM__ALGORITHM__ASYMMETRIC_SIGNATURE__SIGN_HASH__VARIANT_ANY;
		s->sign_hash.any = &s->any;
	} else {
		s->sign_hash.variant_case =
			PSA_ALGORITHM__ALGORITHM__ASYMMETRIC_SIGNATURE__SIGN_HASH__VARIANT_SPECIFIC;
		s->sign_hash.specific = (PsaAlgorithm__Algorithm__Hash)a->hash;
	}
}

static PsaAlgorithm__Algorithm__KeyDerivation *kdf_to_pb(int variant, enum psa_hash hash,
	PsaAlgorithm__Algorithm__KeyDerivation *k,
	PsaAlgorithm__Algorithm__KeyDerivation__Hkdf *hkdf,
	PsaAlgorithm__Algorithm__KeyDerivation__Tls12Prf *prf,
	PsaAlgorithm__Algorithm__KeyDerivation__Tls12PskToMs *psk)
{
	psa_algorithm__algorithm__key_derivation__init(k);
	k->variant_case = (PsaAlgorithm__Algorithm__KeyDerivation__VariantCase)variant;
	if (variant == PSA_ALGORITHM__ALGORITHM__KEY_DERIVATION__VARIANT_HKDF) {
		psa_algorithm__algorithm__key_derivation__hkdf__init(hkdf);
		hkdf->hash_alg = (PsaAlgorithm__Algorithm__Hash)hash;
		k->hkdf = hkdf;
	} else if (variant == PSA_ALGORITHM__ALGORITHM__KEY_DERIVATION__VARIANT_TLS12_PRF) {
		psa_algorithm__algorithm__key_derivation__tls12_prf__init(prf);
		prf->hash_alg = (PsaAlgorithm__Algorithm__Hash)hash;
		k->tls12_prf = prf;
	} else {
		psa_algorithm__algorithm__key_derivation__tls12_psk_to_ms__init(psk);
		psk->hash_alg = (PsaAlgorithm__Algorithm__Hash)hash;
		k->tls12_psk_to_ms = psk;
	}
	return k;
}

static void mac_to_pb(const struct psa_alg *a, struct psa_alg_pb *s)
{
	psa_algorithm__algorithm__mac__init(&s->mac);
	psa_algorithm__algorithm__mac__full_length__init(&s->full);
	s->full.variant_case = (PsaAlgorithm__Algorithm__Mac__FullLength__VariantCase)a->variant;
	if (a->variant == PSA_MAC_HMAC) {
		psa_algorithm__algorithm__mac__full_length__hmac__init(&s->hmac);
		s->hmac.hash_alg = (PsaAlgorithm__Algorithm__Hash)a->hash;
		s->full.hmac = &s->hmac;
	} else if (a->variant == PSA_MAC_CBC_MAC) {
		psa_algorithm__algorithm__mac__full_length__cbc_mac__init(&s->cbc_mac);
		s->full.cbc_mac = &s->cbc_mac;
	} else {
		psa_algorithm__algorithm__mac__full_length__cmac__init(&s->cmac);
		s->full.cmac = &s->cmac;
	}
	if (a->length) {
		psa_algorithm__algorithm__mac__truncated__init(&s->truncated);
		s->truncated.mac_alg = &s->full;
		s->truncated.mac_length = a->length;
		s->mac.variant_case = PSA_ALGORITHM__ALGORITHM__MAC__VARIANT_TRUNCATED;
		s->mac.truncated = &s->truncated;
	} else {
		s->mac.variant_case = PSA_ALGORITHM__ALGORITHM__MAC__VARIANT_FULL_LENGTH;
		s->mac.full_length = &s->full;
	}
	s->alg.mac = &s->mac;
}

static void sign_to_pb(const struct psa_alg *a, struct psa_alg_pb *s)
{
	psa_algorithm__algorithm__asymmetric_signature__init(&s->sign);
	s->sign.variant_case = (PsaAlgorithm__Algorithm__AsymmetricSignature__VariantCase)a->variant;
	switch (a->variant) {
	case PSA_SIGN_RSA_PKCS1V15:
		psa_algorithm__algorithm__asymmetric_signature__rsa_pkcs1v15_sign__init(&s->pkcs1);
		sign_hash_to_pb(a, s);
		s->pkcs1.hash_alg = &s->sign_hash;
		s->sign.rsa_pkcs1v15_sign = &s->pkcs1;
		break;
	case PSA_SIGN_RSA_PKCS1V15_RAW:
		psa_algorithm__algorithm__asymmetric_signature__rsa_pkcs1v15_sign_raw__init(&s->pkcs1_raw);
		s->sign.rsa_pkcs1v15_sign_raw = &s->pkcs1_raw;
		break;
	case PSA_SIGN_RSA_PSS:
		psa_algorithm__algorithm__asymmetric_signature__rsa_pss__init(&s->pss);
		sign_hash_to_pb(a, s);
		s->pss.hash_alg = &s->sign_hash;
		s->sign.rsa_pss = &s->pss;
		break;
	case PSA_SIGN_ECDSA:
		psa_algorithm__algorithm__asymmetric_signature__ecdsa__init(&s->ecdsa);
		sign_hash_to_pb(a, s);
		s->ecdsa.hash_alg = &s->sign_hash;
		s->sign.ecdsa = &s->ecdsa;
		break;
	case PSA_SIGN_ECDSA_ANY:
		psa_algorithm__algorithm__asymmetric_signature__ecdsa_any__init(&s->ecdsa_any);
		s->sign.ecdsa_any = &s->ecdsa_any;
		break;
	default:
		psa_algorithm__algorithm__asymmetric_signature__deterministic_ecdsa__init(&s->det_ecdsa);
		sign_hash_to_pb(a, s);
		s->det_ecdsa.hash_alg = &s->sign_hash;
		s->sign.deterministic_ecdsa = &s->det_ecdsa;
		break;
	}
	s->alg.asymmetric_signature = &s->sign;
}

void psa_alg_to_pb(const struct psa_alg *a, struct psa_alg_pb *s)
{
	memset(s, 0, sizeof *s);
	psa_algorithm__algorithm__init(&s->alg);
	s->alg.variant_case = (PsaAlgorithm__Algorithm__VariantCase)a->kind;
	switch (a->kind) {
	case PSA_ALG_UNSET:
		break;
	case PSA_ALG_NONE:
		psa_algorithm__algorithm__none__init(&s->none);
		s->alg.none = &s->none;
		break;
	case PSA_ALG_HASH:
		s->alg.hash = (PsaAlgorithm__Algorithm__Hash)a->hash;
		break;
	case PSA_ALG_CIPHER:
		s->alg.cipher = (PsaAlgorithm__Algorithm__Cipher)a->variant;
		break;
	case PSA_ALG_MAC:
		mac_to_pb(a, s);
		break;
	case PSA_ALG_AEAD:
		psa_algorithm__algorithm__aead__init(&s->aead);
		if (a->length) {
			psa_algorithm__algorithm__aead__aead_with_shortened_tag__init(&s->short_tag);
			s->short_tag.aead_alg =
				(PsaAlgorithm__Algorithm__Aead__AeadWithDefaultLengthTag)a->variant;
			s->short_tag.tag_length = a->length;
			s->aead.variant_case =
				PSA_ALGORITHM__ALGORITHM__AEAD__VARIANT_AEAD_WITH_SHORTENED_TAG;
			s->aead.aead_with_shortened_tag = &s->short_tag;
		} else {
			s->aead.variant_case =
				PSA_ALGORITHM__ALGORITHM__AEAD__VARIANT_AEAD_WITH_DEFAULT_LENGTH_TAG;
			s->aead.aead_with_default_length_tag =
				(PsaAlgorithm__Algorithm__Aead__AeadWithDefaultLengthTag)a->variant;
		}
		s->alg.aead = &s->aead;
		break;
	case PSA_ALG_SIGN:
		sign_to_pb(a, s);
		break;
	case PSA_ALG_ENCRYPT:
		psa_algorithm__algorithm__asymmetric_encryption__init(&s->enc);
		if (a->variant == PSA_ENCRYPT_RSA_OAEP) {
			psa_algorithm__algorithm__asymmetric_encryption__rsa_oaep__init(&s->oaep);
			s->oaep.hash_alg = (PsaAlgorithm__Algorithm__Hash)a->hash;
			s->enc.variant_case =
				PSA_ALGORITHM__ALGORITHM__ASYMMETRIC_ENCRYPTION__VARIANT_RSA_OAEP;
			s->enc.rsa_oaep = &s->oaep;
		} else {
			psa_algorithm__algorithm__asymmetric_encryption__rsa_pkcs1v15_crypt__init(&s->pkcs1_crypt);
			s->enc.variant_case =
				PSA_ALGORITHM__ALGORITHM__ASYMMETRIC_ENCRYPTION__VARIANT_RSA_PKCS1V15_CRYPT;
			s->enc.rsa_pkcs1v15_crypt = &s->pkcs1_crypt;
		}
		s->alg.asymmetric_encryption = &s->enc;
		break;
	case PSA_ALG_KEY_AGREEMENT:
		psa_algorithm__algorithm__key_agreement__init(&s->ka);
		if (a->kdf) {
			psa_algorithm__algorithm__key_agreement__with_key_derivation__init(&s->ka_kdf);
			s->ka_kdf.ka_alg = (PsaAlgorithm__Algorithm__KeyAgreement__Raw)a->variant;
			s->ka_kdf.kdf_alg = kdf_to_pb(a->kdf, a->kdf_hash, &s->ka_kdf_alg,
						      &s->ka_hkdf, &s->ka_prf, &s->ka_psk);
			s->ka.variant_case =
				PSA_ALGORITHM__ALGORITHM__KEY_AGREEMENT__VARIANT_WITH_KEY_DERIVATION;
			s->ka.with_key_derivation = &s->ka_kdf;
		} else {
			s->ka.variant_case = PSA_ALGORITHM__ALGORITHM__KEY_AGREEMENT__VARIANT_RAW;
			s->ka.raw = (PsaAlgorithm__Algorithm__KeyAgreement__Raw)a->variant;
		}
		s->alg.key_agreement = &s->ka;
		break;
	case PSA_ALG_KEY_DERIVATION:
		s->alg.key_derivation = kdf_to_pb(a->variant, a->hash, &s->kdf, &s->hkdf,
						  &s->prf, &s->psk);
		break;
	}
}

int psa_attrs_to_pb(const struct psa_attrs *a, struct psa_attrs_pb *s)
{
	memset(s, 0, sizeof *s);
	psa_key_attributes__key_attributes__init(&s->attrs);
	psa_key_attributes__key_type__init(&s->type);
	psa_key_attributes__key_policy__init(&s->policy);
	psa_key_attributes__usage_flags__init(&s->usage);
	s->type.variant_case = (PsaKeyAttributes__KeyType__VariantCase)a->type;
	switch (a->type) {
	case PSA_KEY_RAW_DATA:
		psa_key_attributes__key_type__raw_data__init(&s->t.raw_data);
		s->type.raw_data = &s->t.raw_data;
		break;
	case PSA_KEY_HMAC:
		psa_key_attributes__key_type__hmac__init(&s->t.hmac);
		s->type.hmac = &s->t.hmac;
		break;
	case PSA_KEY_DERIVE:
		psa_key_attributes__key_type__derive__init(&s->t.derive);
		s->type.derive = &s->t.derive;
		break;
	case PSA_KEY_AES:
		psa_key_attributes__key_type__aes__init(&s->t.aes);
		s->type.aes = &s->t.aes;
		break;
	case PSA_KEY_CAMELLIA:
		psa_key_attributes__key_type__camellia__init(&s->t.camellia);
		s->type.camellia = &s->t.camellia;
		break;
	case PSA_KEY_CHACHA20:
		psa_key_attributes__key_type__chacha20__init(&s->t.chacha20);
		s->type.chacha20 = &s->t.chacha20;
		break;
	case PSA_KEY_RSA_PUBLIC:
		psa_key_attributes__key_type__rsa_public_key__init(&s->t.rsa_public);
		s->type.rsa_public_key = &s->t.rsa_public;
		break;
	case PSA_KEY_RSA_PAIR:
		psa_key_attributes__key_type__rsa_key_pair__init(&s->t.rsa_pair);
		s->type.rsa_key_pair = &s->t.rsa_pair;
		break;
	case PSA_KEY_ECC_PAIR:
		psa_key_attributes__key_type__ecc_key_pair__init(&s->t.ecc_pair);
		s->t.ecc_pair.curve_family = (PsaKeyAttributes__KeyType__EccFamily)a->family;
		s->type.ecc_key_pair = &s->t.ecc_pair;
		break;
	case PSA_KEY_ECC_PUBLIC:
		psa_key_attributes__key_type__ecc_public_key__init(&s->t.ecc_public);
		s->t.ecc_public.curve_family = (PsaKeyAttributes__KeyType__EccFamily)a->family;
		s->type.ecc_public_key = &s->t.ecc_public;
		break;
	case PSA_KEY_DH_PAIR:
		psa_key_attributes__key_type__dh_key_pair__init(&s->t.dh_pair);
		s->t.dh_pair.group_family = (PsaKeyAttributes__KeyType__DhFamily)a->family;
		s->type.dh_key_pair = &s->t.dh_pair;
		break;
	case PSA_KEY_DH_PUBLIC:
		psa_key_attributes__key_type__dh_public_key__init(&s->t.dh_public);
		s->t.dh_public.group_family = (PsaKeyAttributes__KeyType__DhFamily)a->family;
		s->type.dh_public_key = &s->t.dh_public;
		break;
	default:
		return -1;
	}
	protobuf_c_boolean *flags[10] = {
		&s->usage.export, &s->usage.copy, &s->usage.cache, &s->usage.encrypt,
		&s->usage.decrypt, &s->usage.sign_message, &s->usage.verify_message,
		&s->usage.sign_hash, &s->usage.verify_hash, &s->usage.derive,
	};
	for (int i = 0; i < 10; i++)
		*flags[i] = (a->usage >> i) & 1;
	psa_alg_to_pb(&a->alg, &s->alg);
	s->policy.key_usage_flags = &s->usage;
	s->policy.key_algorithm = a->alg.kind ? &s->alg.alg : NULL;
	s->attrs.key_type = &s->type;
	s->attrs.key_bits = a->bits;
	s->attrs.key_policy = &s->policy;
	return 0;
}
