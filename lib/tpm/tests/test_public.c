/* test_public: TPM2B_PUBLIC parsing, Names, certificate match, AK checks.
 *
 * Keys are made with OpenSSL and marshaled independently (tests/tpub.h);
 * two public areas and Names produced by swtpm through tpm2_createak are
 * known answers for the Name computation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "tests/lib/tpub.h"
#include "tpm/tpm_public.h"
#include "util/buf.h"
#include "util/check.h"
#include "util/encode.h"

/* tpm2_createak -G ecc -g sha256 -s ecdsa -u ak.pub -n ak.name on swtpm. */
static const char swtpm_ecc_ak[] =
	"00580023000b00050072000000100018000b000300100020d29f6089a07e8428"
	"b80c4da42d344514bf770a69d63dc1d8fbfecb1b7e3b5bdc00204f21eac1a728"
	"974aa4c7e7b9bb91f8c170a5e4d73d48f17c592c7a1ae015b7fe";
static const char swtpm_ecc_ak_name[] =
	"000bc9b4e4c0614b0d60337682b6b9cf4ecc80eab947625ba3e5561411a81521"
	"65d4";
/* tpm2_createak -G rsa -g sha256 -s rsassa on swtpm. */
static const char swtpm_rsa_ak[] =
	"01180001000b00050072000000100014000b0800000000000100df8e73575fa2"
	"fa56dbeeeff8b4bb1da356128a19333562542c0c9d9f298d2f8f6a70bd8e3d6d"
	"63a54d70200a1789475c4433e8b101ef81a029d6c2e6ee83dbf2064aa1b15599"
	"afa9e2f414e82e470554be2a5cd846f36350be4b533a88a7a78ba9935f3fe4f3"
	"545d29d4c5f37990548a0873bd4421d99a31a38179d00f31bb7539e5d8d7ce96"
	"f793b709e54afaae88016c4e071c9fda62b75dc71b425117508c48818499b0b3"
	"1771a8ba4ab78323b1a8a4aac41bcfba46ec5df3820e9848559ad6b1f2f08732"
	"b8ec63117c4b4a942ec5d068d519cfd245d16c9bdee64b21fb959f7eaab3a2c6"
	"033de86fa6d3d2ba00c08849dfaf320ec4d4b2c4ada06c0b4b3f";
static const char swtpm_rsa_ak_name[] =
	"000b61c2b743ebf05c1bf83fa1abc4219f578208173b94eab2e6bc609a4fa463"
	"223c";

static void unhex(struct buf *b, const char *s)
{
	buf_reset(b);
	if (hex_decode(b, s, strlen(s)))
		printf("bad hex in test\n");
}

static void test_swtpm_known(const char *pubhex, const char *namehex,
			     uint16_t type)
{
	struct buf pub = BUF_INIT, name = BUF_INIT;
	struct tpm_public p;
	char err[256] = "";

	unhex(&pub, pubhex);
	unhex(&name, namehex);
	CHECK_INT(tpm_public_parse(pub.data, pub.len, &p, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_INT(p.area.type, type);
	CHECK_INT(p.area.nameAlg, TPM2_ALG_SHA256);
	CHECK(p.pkey != NULL);
	CHECK_INT(p.name_len, name.len);
	CHECK(p.name_len == name.len && !memcmp(p.name, name.data, name.len));
	CHECK_INT(tpm_public_check_ak(&p, err, sizeof(err)), 0);
	tpm_public_free(&p);
	CHECK(p.pkey == NULL);
	buf_free(&pub);
	buf_free(&name);
}

/* Name = nameAlg || H(TPMT_PUBLIC), computed here the long way. */
static void check_name(const struct tpm_public *p, const struct buf *pub,
		       const EVP_MD *md)
{
	uint8_t want[2 + EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	want[0] = pub->data[4];	/* nameAlg follows size and type */
	want[1] = pub->data[5];
	EVP_Digest(pub->data + 2, pub->len - 2, want + 2, &n, md, NULL);
	CHECK_INT(p->name_len, 2 + n);
	CHECK(!memcmp(p->name, want, 2 + n));
}

static void test_roundtrip(EVP_PKEY *key, uint16_t name_alg, const EVP_MD *md)
{
	struct buf pub = BUF_INIT;
	struct tpm_public p;
	char err[256] = "";

	CHECK_INT(tpub_build(key, name_alg, TPUB_EK_ATTRS, 128, &pub), 0);
	CHECK_INT(tpm_public_parse(pub.data, pub.len, &p, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK(p.pkey && EVP_PKEY_eq(p.pkey, key) == 1);
	CHECK_INT(p.area.nameAlg, name_alg);
	CHECK_INT(p.area.objectAttributes, TPUB_EK_ATTRS);
	check_name(&p, &pub, md);
	/* An EK decrypts: it is no AK. */
	CHECK_INT(tpm_public_check_ak(&p, err, sizeof(err)), -1);
	CHECK_STR(err, "AK attribute sign is not set");
	tpm_public_free(&p);
	buf_free(&pub);
}

/* The TPM may marshal a coordinate without its leading zero byte. */
static void test_short_coordinate(void)
{
	struct buf pub = BUF_INIT;
	struct tpm_public p;
	EVP_PKEY *key = NULL;
	TPMT_PUBLIC a;
	char err[256] = "";
	int i;

	for (i = 0; i < 5000; i++) {
		key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		if (!key || tpub_area(key, TPM2_ALG_SHA256, TPUB_AK_ATTRS, 0,
				      &a))
			break;
		if (a.unique.ecc.x.buffer[0] == 0)
			break;
		EVP_PKEY_free(key);
		key = NULL;
	}
	CHECK(key != NULL);
	if (!key)
		return;
	memmove(a.unique.ecc.x.buffer, a.unique.ecc.x.buffer + 1, 31);
	a.unique.ecc.x.size = 31;
	CHECK_INT(tpub_marshal(&a, &pub), 0);
	CHECK_INT(tpm_public_parse(pub.data, pub.len, &p, err, sizeof(err)), 0);
	CHECK(p.pkey && EVP_PKEY_eq(p.pkey, key) == 1);
	tpm_public_free(&p);
	EVP_PKEY_free(key);
	buf_free(&pub);
}

static void expect_fail(const TPMT_PUBLIC *a, const char *msg)
{
	struct buf pub = BUF_INIT;
	struct tpm_public p;
	char err[256] = "";

	CHECK_INT(tpub_marshal(a, &pub), 0);
	CHECK_INT(tpm_public_parse(pub.data, pub.len, &p, err, sizeof(err)),
		  -1);
	CHECK(p.pkey == NULL);
	if (strncmp(err, msg, strlen(msg)))
		printf("got \"%s\", want \"%s...\"\n", err, msg);
	CHECK(!strncmp(err, msg, strlen(msg)));
	buf_free(&pub);
}

static void test_bad_areas(EVP_PKEY *rsa, EVP_PKEY *ec)
{
	TPMT_PUBLIC a, good;

	CHECK_INT(tpub_area(rsa, TPM2_ALG_SHA256, TPUB_EK_ATTRS, 128, &good),
		  0);
	a = good;
	a.nameAlg = TPM2_ALG_NULL;
	expect_fail(&a, "unsupported nameAlg 0x0010");
	a = good;
	a.unique.rsa.size = 255;
	expect_fail(&a, "RSA modulus is 255 bytes, keyBits says 2048 bits");
	a = good;
	a.parameters.rsaDetail.keyBits = 512;
	a.unique.rsa.size = 64;
	expect_fail(&a, "unsupported RSA key size 512 bits");
	a = good;
	a.parameters.rsaDetail.exponent = 65536;
	expect_fail(&a, "invalid RSA exponent 65536");
	a = good;
	a.parameters.rsaDetail.exponent = 1;
	expect_fail(&a, "invalid RSA exponent 1");
	a = good;
	a.unique.rsa.buffer[255] &= 0xfe;	/* even modulus */
	expect_fail(&a, "public key fails OpenSSL's checks");

	CHECK_INT(tpub_area(ec, TPM2_ALG_SHA256, TPUB_AK_ATTRS, 0, &good), 0);
	a = good;
	a.parameters.eccDetail.curveID = TPM2_ECC_BN_P256;
	expect_fail(&a, "unsupported ECC curve 0x0010");
	a = good;
	a.unique.ecc.y.buffer[31] ^= 1;
	expect_fail(&a, "ECC point is not on curve P-256");
	a = good;
	a.unique.ecc.x.size = 33;
	expect_fail(&a, "ECC point coordinate longer than P-256");
	a = good;
	a.unique.ecc.x.size = 0;
	a.unique.ecc.y.size = 0;
	expect_fail(&a, "ECC point is not on curve P-256");

	memset(&a, 0, sizeof(a));
	a.type = TPM2_ALG_KEYEDHASH;
	a.nameAlg = TPM2_ALG_SHA256;
	a.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
	expect_fail(&a, "unsupported key type 0x0008");
}

static void test_bad_bytes(EVP_PKEY *ec)
{
	struct buf pub = BUF_INIT, tmp = BUF_INIT;
	struct tpm_public p;
	char err[256];
	size_t n;

	CHECK_INT(tpub_build(ec, TPM2_ALG_SHA256, TPUB_AK_ATTRS, 0, &pub), 0);
	/* Every truncation fails, with either the size or the contents. */
	for (n = 0; n < pub.len; n++) {
		CHECK_INT(tpm_public_parse(pub.data, n, &p, err, sizeof(err)),
			  -1);
	}
	CHECK_INT(tpm_public_parse(NULL, 0, &p, err, sizeof(err)), -1);
	CHECK_STR(err, "TPM2B_PUBLIC truncated");
	/* Outer size says less than there is. */
	buf_append(&tmp, pub.data, pub.len);
	buf_append_u8(&tmp, 0);
	CHECK_INT(tpm_public_parse(tmp.data, tmp.len, &p, err, sizeof(err)),
		  -1);
	CHECK_STR(err, "TPM2B_PUBLIC size 88 does not match its 89 bytes");
	/* Outer size and length agree, but the area ends early. */
	tmp.data[1]++;
	CHECK_INT(tpm_public_parse(tmp.data, tmp.len, &p, err, sizeof(err)),
		  -1);
	CHECK_STR(err, "TPMT_PUBLIC followed by 1 extra bytes");
	/* A size field inside the area running past the end. */
	buf_reset(&tmp);
	buf_append(&tmp, pub.data, pub.len);
	tmp.data[pub.len - 34] = 0x21;	/* y.size 32 -> 33 */
	CHECK_INT(tpm_public_parse(tmp.data, tmp.len, &p, err, sizeof(err)),
		  -1);
	CHECK(!strncmp(err, "malformed TPMT_PUBLIC", 21));
	/* Zero size. */
	CHECK_INT(tpm_public_parse((const uint8_t *)"\0\0", 2, &p, err,
				   sizeof(err)), -1);
	buf_free(&pub);
	buf_free(&tmp);
}

/* A self-signed certificate for key, DER. */
static int make_cert(EVP_PKEY *key, EVP_PKEY *signer, struct buf *der)
{
	X509 *x = X509_new();
	unsigned char *p = NULL;
	int n = -1;

	if (x && X509_set_version(x, 2) &&
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 7) &&
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) &&
	    X509_gmtime_adj(X509_getm_notAfter(x), 3600) &&
	    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
				       MBSTRING_ASC,
				       (const unsigned char *)"ek", -1, -1,
				       0) &&
	    X509_set_issuer_name(x, X509_get_subject_name(x)) &&
	    X509_set_pubkey(x, key) && X509_sign(x, signer, EVP_sha256()))
		n = i2d_X509(x, &p);
	X509_free(x);
	if (n <= 0)
		return -1;
	buf_reset(der);
	n = buf_append(der, p, (size_t)n);
	OPENSSL_free(p);
	return n;
}

static void test_cert(EVP_PKEY *rsa, EVP_PKEY *ec, EVP_PKEY *signer)
{
	struct buf pub = BUF_INIT, ecpub = BUF_INIT, der = BUF_INIT;
	struct tpm_public p, q;
	char err[256] = "";

	CHECK_INT(tpub_build(rsa, TPM2_ALG_SHA256, TPUB_EK_ATTRS, 128, &pub),
		  0);
	CHECK_INT(tpub_build(ec, TPM2_ALG_SHA256, TPUB_EK_ATTRS, 128, &ecpub),
		  0);
	CHECK_INT(tpm_public_parse(pub.data, pub.len, &p, err, sizeof(err)), 0);
	CHECK_INT(tpm_public_parse(ecpub.data, ecpub.len, &q, err,
				   sizeof(err)), 0);

	CHECK_INT(make_cert(rsa, signer, &der), 0);
	CHECK_INT(tpm_public_cert_matches(&p, der.data, der.len, err,
					  sizeof(err)), 0);
	CHECK_INT(tpm_public_cert_matches(&q, der.data, der.len, err,
					  sizeof(err)), -1);
	CHECK_STR(err, "certificate public key does not match the TPM key");
	/* NV indices are often larger than the certificate. */
	buf_append(&der, "\0\0\0\0", 4);
	CHECK_INT(tpm_public_cert_matches(&p, der.data, der.len, err,
					  sizeof(err)), 0);
	buf_append_u8(&der, 1);
	CHECK_INT(tpm_public_cert_matches(&p, der.data, der.len, err,
					  sizeof(err)), -1);
	CHECK_STR(err, "certificate followed by 5 extra bytes");
	CHECK_INT(tpm_public_cert_matches(&p, der.data, 100, err,
					  sizeof(err)), -1);
	CHECK_STR(err, "certificate is not valid DER X.509");
	CHECK_INT(tpm_public_cert_matches(&p, der.data, 0, err, sizeof(err)),
		  -1);

	CHECK_INT(make_cert(ec, signer, &der), 0);
	CHECK_INT(tpm_public_cert_matches(&q, der.data, der.len, err,
					  sizeof(err)), 0);
	CHECK_INT(tpm_public_cert_matches(&p, der.data, der.len, err,
					  sizeof(err)), -1);
	tpm_public_free(&p);
	tpm_public_free(&q);
	buf_free(&pub);
	buf_free(&ecpub);
	buf_free(&der);
}

static void test_check_ak(EVP_PKEY *ec)
{
	static const struct {
		TPMA_OBJECT clear, set;
		const char *err;
	} cases[] = {
		{ TPMA_OBJECT_RESTRICTED, 0, "AK attribute restricted is not set" },
		{ TPMA_OBJECT_FIXEDTPM, 0, "AK attribute fixedTPM is not set" },
		{ TPMA_OBJECT_FIXEDPARENT, 0,
		  "AK attribute fixedParent is not set" },
		{ TPMA_OBJECT_SENSITIVEDATAORIGIN, 0,
		  "AK attribute sensitiveDataOrigin is not set" },
		{ TPMA_OBJECT_SIGN_ENCRYPT, 0, "AK attribute sign is not set" },
		{ 0, TPMA_OBJECT_DECRYPT, "AK must not be a decryption key" },
		{ 0, 0, "" },
	};
	struct buf pub = BUF_INIT;
	struct tpm_public p;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TPMT_PUBLIC a;

		buf_reset(&pub);
		err[0] = 0;
		CHECK_INT(tpub_area(ec, TPM2_ALG_SHA256, TPUB_AK_ATTRS, 0, &a),
			  0);
		a.objectAttributes = (a.objectAttributes & ~cases[i].clear) |
				     cases[i].set;
		CHECK_INT(tpub_marshal(&a, &pub), 0);
		CHECK_INT(tpm_public_parse(pub.data, pub.len, &p, err,
					   sizeof(err)), 0);
		CHECK_INT(tpm_public_check_ak(&p, err, sizeof(err)),
			  cases[i].err[0] ? -1 : 0);
		CHECK_STR(err, cases[i].err);
		tpm_public_free(&p);
	}
	buf_free(&pub);
}

static void test_alg_md(void)
{
	CHECK(tpm_alg_md(TPM2_ALG_SHA1) == EVP_sha1());
	CHECK(tpm_alg_md(TPM2_ALG_SHA256) == EVP_sha256());
	CHECK(tpm_alg_md(TPM2_ALG_SHA384) == EVP_sha384());
	CHECK(tpm_alg_md(TPM2_ALG_SHA512) == EVP_sha512());
	CHECK(tpm_alg_md(TPM2_ALG_RSA) == NULL);
	CHECK(tpm_alg_md(TPM2_ALG_NULL) == NULL);
}

int main(void)
{
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *rsa3 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *ec384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");

	setenv("TSS2_LOG", "all+none", 0);
	CHECK(rsa && rsa3 && ec && ec384);
	if (!rsa || !rsa3 || !ec || !ec384)
		return check_done();
	test_alg_md();
	test_swtpm_known(swtpm_ecc_ak, swtpm_ecc_ak_name, TPM2_ALG_ECC);
	test_swtpm_known(swtpm_rsa_ak, swtpm_rsa_ak_name, TPM2_ALG_RSA);
	test_roundtrip(rsa, TPM2_ALG_SHA256, EVP_sha256());
	test_roundtrip(rsa3, TPM2_ALG_SHA384, EVP_sha384());
	test_roundtrip(ec, TPM2_ALG_SHA256, EVP_sha256());
	test_roundtrip(ec384, TPM2_ALG_SHA384, EVP_sha384());
	test_roundtrip(ec, TPM2_ALG_SHA1, EVP_sha1());
	test_short_coordinate();
	test_bad_areas(rsa, ec);
	test_bad_bytes(ec);
	test_cert(rsa, ec, ec384);
	test_check_ak(ec);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(rsa3);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(ec384);
	return check_done();
}
