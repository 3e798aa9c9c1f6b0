/* PSA attributes and algorithms between our structures (psa.h) and the
 * protobuf messages of the wire (psa_key_attributes.proto,
 * psa_algorithm.proto). Decoding checks every oneof is set where the
 * schema needs it; a message that does not describe a key or an algorithm
 * is PSA_ERR_INVALID_ARGUMENT. Encoding fills caller-owned storage: no
 * allocation, nothing to free. */
#ifndef ASSAY_PARSEC_PSA_PB_H
#define ASSAY_PARSEC_PSA_PB_H

#include "parsec/psa.h"
#include "psa_algorithm.pb-c.h"
#include "psa_key_attributes.pb-c.h"

int psa_alg_from_pb(const PsaAlgorithm__Algorithm *pb, struct psa_alg *out);
int psa_attrs_from_pb(const PsaKeyAttributes__KeyAttributes *pb, struct psa_attrs *out);

/* Storage for one Algorithm message; .alg is the message. */
struct psa_alg_pb {
	PsaAlgorithm__Algorithm alg;
	PsaAlgorithm__Algorithm__None none;
	PsaAlgorithm__Algorithm__Mac mac;
	PsaAlgorithm__Algorithm__Mac__FullLength full;
	PsaAlgorithm__Algorithm__Mac__FullLength__Hmac hmac;
	PsaAlgorithm__Algorithm__Mac__FullLength__CbcMac cbc_mac;
	PsaAlgorithm__Algorithm__Mac__FullLength__Cmac cmac;
	PsaAlgorithm__Algorithm__Mac__Truncated truncated;
	PsaAlgorithm__Algorithm__Aead aead;
	PsaAlgorithm__Algorithm__Aead__AeadWithShortenedTag short_tag;
	PsaAlgorithm__Algorithm__AsymmetricSignature sign;
	PsaAlgorithm__Algorithm__AsymmetricSignature__SignHash sign_hash;
	PsaAlgorithm__Algorithm__AsymmetricSignature__SignHash__Any any;
	PsaAlgorithm__Algorithm__AsymmetricSignature__RsaPkcs1v15Sign pkcs1;
	PsaAlgorithm__Algorithm__AsymmetricSignature__RsaPkcs1v15SignRaw pkcs1_raw;
	PsaAlgorithm__Algorithm__AsymmetricSignature__RsaPss pss;
	PsaAlgorithm__Algorithm__AsymmetricSignature__Ecdsa ecdsa;
	PsaAlgorithm__Algorithm__AsymmetricSignature__EcdsaAny ecdsa_any;
	PsaAlgorithm__Algorithm__AsymmetricSignature__DeterministicEcdsa det_ecdsa;
	PsaAlgorithm__Algorithm__AsymmetricEncryption enc;
	PsaAlgorithm__Algorithm__AsymmetricEncryption__RsaPkcs1v15Crypt pkcs1_crypt;
	PsaAlgorithm__Algorithm__AsymmetricEncryption__RsaOaep oaep;
	PsaAlgorithm__Algorithm__KeyAgreement ka;
	PsaAlgorithm__Algorithm__KeyAgreement__WithKeyDerivation ka_kdf;
	PsaAlgorithm__Algorithm__KeyDerivation kdf, ka_kdf_alg;
	PsaAlgorithm__Algorithm__KeyDerivation__Hkdf hkdf, ka_hkdf;
	PsaAlgorithm__Algorithm__KeyDerivation__Tls12Prf prf, ka_prf;
	PsaAlgorithm__Algorithm__KeyDerivation__Tls12PskToMs psk, ka_psk;
};

struct psa_attrs_pb {
	PsaKeyAttributes__KeyAttributes attrs;
	PsaKeyAttributes__KeyType type;
	union {
		PsaKeyAttributes__KeyType__RawData raw_data;
		PsaKeyAttributes__KeyType__Hmac hmac;
		PsaKeyAttributes__KeyType__Derive derive;
		PsaKeyAttributes__KeyType__Aes aes;
		PsaKeyAttributes__KeyType__Camellia camellia;
		PsaKeyAttributes__KeyType__Chacha20 chacha20;
		PsaKeyAttributes__KeyType__RsaPublicKey rsa_public;
		PsaKeyAttributes__KeyType__RsaKeyPair rsa_pair;
		PsaKeyAttributes__KeyType__EccKeyPair ecc_pair;
		PsaKeyAttributes__KeyType__EccPublicKey ecc_public;
		PsaKeyAttributes__KeyType__DhKeyPair dh_pair;
		PsaKeyAttributes__KeyType__DhPublicKey dh_public;
	} t;
	PsaKeyAttributes__KeyPolicy policy;
	PsaKeyAttributes__UsageFlags usage;
	struct psa_alg_pb alg;
};

void psa_alg_to_pb(const struct psa_alg *a, struct psa_alg_pb *s);
/* -1 for a key type the wire cannot carry (DES, ARC4: deprecated). */
int psa_attrs_to_pb(const struct psa_attrs *a, struct psa_attrs_pb *s);

#endif
