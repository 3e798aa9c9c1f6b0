/* End to end: assay-keyd as a process on a Unix socket, driven through
 * libassaykey, on every provider this machine can run (software always;
 * PKCS#11 with SoftHSM2; TPM with swtpm).
 *
 *   - each provider: keys made, used, cross-checked with OpenSSL, destroyed;
 *   - multi-tenancy across two Unix users (root and nobody) and across
 *     authenticators; admin operations refused to non-admins;
 *   - SIGHUP reloads the authenticators;
 *   - a stress test in Parsec's style: threads x 250 random operations
 *     under random identities, and a checker thread whose key must keep
 *     working throughout;
 *   - kill -9 in the middle of a stream of key creations: after a restart
 *     every listed key works and (PKCS#11) no key object is left on the
 *     token that no name points at;
 *   - TPM key attestation (ActivateCredential) through the socket, the
 *     verifier's side played here: the Name checked against the public
 *     area, the credential made in software for the EK the service
 *     returned. */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "assay/key.h"
#include "tests/lib/daemon.h"
#include "tests/lib/swtpm.h"
#include "tests/lib/tpub.h"
#include "tpm/credential.h"
#include "tpm/tpm_public.h"
#include "util/check.h"
#include "util/file.h"

static char dir[64], sock[128], conf[128], log_path[128], tpm_dir[128], tcti[128];
static char softhsm_conf[160], token_dir[160];
static pid_t keyd = -1;
static int have_pkcs11, have_tpm;

#define SOFTHSM_LIB "/usr/lib/softhsm/libsofthsm2.so"

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* The configuration file (SIGHUP re-reads it). */
static void write_conf(const char *authenticators)
{
	char text[2048];
	char providers[64] = "software";
	if (have_pkcs11)
		strcat(providers, ",pkcs11");
	if (have_tpm)
		strcat(providers, ",tpm");
	snprintf(text, sizeof text,
		 "[keyd]\nsocket = \"%s\"\nstate_dir = \"%s/state\"\nproviders = \"%s\"\n"
		 "authenticators = \"%s\"\nadmins = \"0,admin\"\nlog_level = \"debug\"\n"
		 "pkcs11_library = \"%s\"\npkcs11_pin = \"1234\"\ntpm_tcti = \"%s\"\n",
		 sock, dir, providers, authenticators, SOFTHSM_LIB, tcti);
	file_write_atomic(conf, text, strlen(text), 0644);
}

static int start_keyd(void)
{
	char *argv[] = { (char *)daemon_program("keyd/assay-keyd"), "--config", conf,
			 geteuid() == 0 ? "--user" : NULL, "nobody", NULL };
	keyd = daemon_start(argv, log_path);
	for (int i = 0; i < 100; i++) {
		struct assay_key_client *c = assay_key_client_new();
		assay_key_client_set_endpoint(c, sock);
		unsigned maj = 0, min = 0;
		int st = assay_key_ping(c, &maj, &min);
		assay_key_client_free(c);
		if (st == ASSAY_KEY_OK)
			return 0;
		sleep_ms(50);
	}
	return -1;
}

static struct assay_key_client *client(const char *direct_app, uint8_t provider)
{
	struct assay_key_client *c = assay_key_client_new();
	assay_key_client_set_endpoint(c, sock);
	if (direct_app)
		assay_key_client_set_direct(c, direct_app);
	if (provider)
		assay_key_client_set_provider(c, provider);
	return c;
}

static const struct assay_key_alg ecdsa_sha256 = { ASSAY_KEY_ALG_SIGN, ASSAY_KEY_SIGN_ECDSA,
						   ASSAY_KEY_HASH_SHA_256, 0, 0, 0 };

static int make_ecc(struct assay_key_client *c, const char *name)
{
	struct assay_key_attrs a = { ASSAY_KEY_TYPE_ECC_KEY_PAIR, ASSAY_KEY_ECC_SECP_R1, 256,
				     ASSAY_KEY_USAGE_SIGN_HASH | ASSAY_KEY_USAGE_VERIFY_HASH,
				     ecdsa_sha256 };
	return assay_key_generate_key(c, name, &a);
}

/* An EVP_PKEY from a P-256 public key in PSA format (04||X||Y), built
 * with OpenSSL alone. */
static EVP_PKEY *p256_public(const uint8_t *pt, size_t n)
{
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0);
	OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pt, n);
	OSSL_PARAM *p = OSSL_PARAM_BLD_to_param(b);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *k = NULL;
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, p) != 1)
		k = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(p);
	OSSL_PARAM_BLD_free(b);
	return k;
}

/* raw r||s (32 + 32) -> DER, then OpenSSL verifies. */
static int openssl_verifies(EVP_PKEY *k, const uint8_t *hash, const uint8_t *sig, size_t n)
{
	if (n != 64)
		return 0;
	ECDSA_SIG *s = ECDSA_SIG_new();
	ECDSA_SIG_set0(s, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
	unsigned char *der = NULL;
	int dn = i2d_ECDSA_SIG(s, &der);
	ECDSA_SIG_free(s);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
	int ok = ctx && EVP_PKEY_verify_init(ctx) == 1 &&
		 EVP_PKEY_verify(ctx, der, (size_t)dn, hash, 32) == 1;
	EVP_PKEY_CTX_free(ctx);
	OPENSSL_free(der);
	return ok;
}

/* Sign with the service, verify with OpenSSL. */
static int sign_checked(struct assay_key_client *c, const char *name)
{
	uint8_t hash[32], *pub = NULL, *sig = NULL;
	size_t pn = 0, sn = 0;
	for (int i = 0; i < 32; i++)
		hash[i] = (uint8_t)rand();
	int st = assay_key_export_public_key(c, name, &pub, &pn);
	if (st == ASSAY_KEY_OK)
		st = assay_key_sign_hash(c, name, &ecdsa_sha256, hash, 32, &sig, &sn);
	if (st == ASSAY_KEY_OK) {
		EVP_PKEY *k = p256_public(pub, pn);
		st = k && openssl_verifies(k, hash, sig, sn) ? ASSAY_KEY_OK : -1;
		EVP_PKEY_free(k);
	}
	assay_key_free(pub);
	assay_key_free(sig);
	return st;
}

/* ---- per provider ---- */

static void test_provider(uint8_t id, const char *what)
{
	printf("provider %u (%s)\n", id, what);
	struct assay_key_client *c = client("e2e", id);
	CHECK_INT(make_ecc(c, "ecc"), ASSAY_KEY_OK);
	CHECK_INT(sign_checked(c, "ecc"), ASSAY_KEY_OK);
	/* A signature the service made verifies through the service, and a
	 * changed one does not. */
	uint8_t hash[32] = { 7 }, *sig = NULL;
	size_t sn = 0;
	CHECK_INT(assay_key_sign_hash(c, "ecc", &ecdsa_sha256, hash, 32, &sig, &sn), ASSAY_KEY_OK);
	CHECK_INT(assay_key_verify_hash(c, "ecc", &ecdsa_sha256, hash, 32, sig, sn), ASSAY_KEY_OK);
	if (sig)
		sig[5] ^= 1;
	CHECK_INT(assay_key_verify_hash(c, "ecc", &ecdsa_sha256, hash, 32, sig, sn),
		  ASSAY_KEY_PSA_ERR_INVALID_SIGNATURE);
	assay_key_free(sig);
	/* RSA-OAEP: OpenSSL encrypts to the exported key, the service decrypts. */
	struct assay_key_alg oaep = { ASSAY_KEY_ALG_ENCRYPT, ASSAY_KEY_ENCRYPT_RSA_OAEP,
				      id == 2 ? ASSAY_KEY_HASH_SHA_1 : ASSAY_KEY_HASH_SHA_256,
				      0, 0, 0 };
	struct assay_key_attrs rsa = { ASSAY_KEY_TYPE_RSA_KEY_PAIR, 0, 2048,
				       ASSAY_KEY_USAGE_ENCRYPT | ASSAY_KEY_USAGE_DECRYPT, oaep };
	CHECK_INT(assay_key_generate_key(c, "rsa", &rsa), ASSAY_KEY_OK);
	uint8_t *pub = NULL, *pt = NULL;
	size_t pn = 0, ptn = 0;
	CHECK_INT(assay_key_export_public_key(c, "rsa", &pub, &pn), ASSAY_KEY_OK);
	const unsigned char *p = pub;
	EVP_PKEY *k = pub ? d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)pn) : NULL;
	CHECK(k != NULL);
	if (k) {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
		uint8_t ct[256];
		size_t ctn = sizeof ct;
		EVP_PKEY_encrypt_init(ctx);
		EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING);
		EVP_PKEY_CTX_set_rsa_oaep_md(ctx, id == 2 ? EVP_sha1() : EVP_sha256());
		EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, id == 2 ? EVP_sha1() : EVP_sha256());
		CHECK_INT(EVP_PKEY_encrypt(ctx, ct, &ctn, (const uint8_t *)"secret", 6), 1);
		CHECK_INT(assay_key_asymmetric_decrypt(c, "rsa", &oaep, ct, ctn, NULL, 0, &pt, &ptn),
			  ASSAY_KEY_OK);
		CHECK(ptn == 6 && pt && memcmp(pt, "secret", 6) == 0);
		EVP_PKEY_CTX_free(ctx);
		EVP_PKEY_free(k);
	}
	assay_key_free(pub);
	assay_key_free_secret(pt, ptn);
	/* Random bytes. */
	uint8_t *r = NULL;
	CHECK_INT(assay_key_generate_random(c, 48, &r), ASSAY_KEY_OK);
	assay_key_free(r);
	/* Destroyed means gone. */
	CHECK_INT(assay_key_destroy_key(c, "ecc"), ASSAY_KEY_OK);
	CHECK_INT(assay_key_sign_hash(c, "ecc", &ecdsa_sha256, hash, 32, &sig, &sn),
		  ASSAY_KEY_PSA_ERR_DOES_NOT_EXIST);
	CHECK_INT(assay_key_destroy_key(c, "rsa"), ASSAY_KEY_OK);
	assay_key_client_free(c);
}

/* ---- key attestation (TPM) ---- */

/* Whether name is 0x000B (SHA-256) || SHA-256(public area). */
static int name_matches(const uint8_t *name, size_t nn, const uint8_t *area, size_t an)
{
	uint8_t digest[32];
	return nn == 34 && name[0] == 0x00 && name[1] == 0x0b &&
	       EVP_Digest(area, an, digest, NULL, EVP_sha256(), NULL) == 1 &&
	       memcmp(name + 2, digest, 32) == 0;
}

/* The verifier's TPM2_MakeCredential: cred for the object called name,
 * under the EK rebuilt from its DER RSAPublicKey (TCG template L-1:
 * SHA-256 name, AES-128-CFB). */
static int make_credential(const uint8_t *ekder, size_t ekn, const uint8_t *name, size_t nn,
			   const uint8_t *cred, size_t cn, TPM2B_ID_OBJECT *id,
			   TPM2B_ENCRYPTED_SECRET *secret)
{
	const unsigned char *p = ekder;
	EVP_PKEY *ek = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)ekn);
	struct buf area = BUF_INIT, blob = BUF_INIT;
	struct tpm_public tp;
	char err[256] = "the EK is not a DER RSAPublicKey";
	int ret = -1;
	memset(&tp, 0, sizeof tp);
	if (ek && p == ekder + ekn && EVP_PKEY_get_bits(ek) == 2048 &&
	    tpub_build(ek, TPM2_ALG_SHA256, TPUB_EK_ATTRS, 128, &area) == 0 &&
	    tpm_public_parse(area.data, area.len, &tp, err, sizeof err) == 0 &&
	    tpm_credential_make(&tp, name, nn, cred, cn, &blob, err, sizeof err) == 0 &&
	    tpm_credential_parse(blob.data, blob.len, id, secret, err, sizeof err) == 0)
		ret = 0;
	else
		printf("attestation: %s\n", err);
	tpm_public_free(&tp);
	EVP_PKEY_free(ek);
	buf_free(&area);
	buf_free(&blob);
	return ret;
}

static void test_attestation(void)
{
	printf("key attestation (tpm)\n");
	struct assay_key_client *c = client("e2e-attest", 3);
	const struct assay_key_alg pkcs1 = { ASSAY_KEY_ALG_SIGN, ASSAY_KEY_SIGN_RSA_PKCS1V15,
					     ASSAY_KEY_HASH_SHA_256, 0, 0, 0 };
	struct assay_key_attrs rsa = { ASSAY_KEY_TYPE_RSA_KEY_PAIR, 0, 2048,
				       ASSAY_KEY_USAGE_SIGN_HASH | ASSAY_KEY_USAGE_VERIFY_HASH,
				       pkcs1 };
	uint8_t *name = NULL, *area = NULL, *ek = NULL, *got = NULL;
	uint8_t *oname = NULL, *oarea = NULL, *oek = NULL;
	size_t nn = 0, an = 0, en = 0, gn = 0, onn = 0, oan = 0, oen = 0;
	uint8_t cred[32];
	TPM2B_ID_OBJECT id;
	TPM2B_ENCRYPTED_SECRET secret;
	memset(&id, 0, sizeof id);
	memset(&secret, 0, sizeof secret);
	CHECK_INT(RAND_bytes(cred, sizeof cred), 1);

	/* The provider offers both operations. */
	uint32_t *ops = NULL;
	size_t n = 0, offered = 0;
	CHECK_INT(assay_key_list_opcodes(c, 3, &ops, &n), ASSAY_KEY_OK);
	for (size_t i = 0; i < n; i++)
		offered += ops[i] == 0x1e || ops[i] == 0x1f;
	CHECK_INT(offered, 2);
	assay_key_free(ops);

	CHECK_INT(assay_key_generate_key(c, "attested", &rsa), ASSAY_KEY_OK);
	CHECK_INT(assay_key_prepare_key_attestation(c, "attested", NULL, &name, &nn, &area, &an,
						    &ek, &en), ASSAY_KEY_OK);
	CHECK(name_matches(name, nn, area, an));
	CHECK_INT(make_credential(ek, en, name, nn, cred, sizeof cred, &id, &secret), 0);
	CHECK_INT(assay_key_attest_key(c, "attested", NULL, id.credential, id.size,
				       secret.secret, secret.size, &got, &gn), ASSAY_KEY_OK);
	CHECK(gn == sizeof cred && got && memcmp(got, cred, gn) == 0);
	assay_key_free_secret(got, gn);

	/* A credential made for another key's Name does not open with this
	 * one: a PSA error, nothing returned. */
	CHECK_INT(make_ecc(c, "other"), ASSAY_KEY_OK);
	CHECK_INT(assay_key_prepare_key_attestation(c, "other", NULL, &oname, &onn, &oarea, &oan,
						    &oek, &oen), ASSAY_KEY_OK);
	CHECK(name_matches(oname, onn, oarea, oan));
	CHECK(onn != nn || (name && oname && memcmp(name, oname, nn) != 0));
	CHECK(oen == en && ek && oek && memcmp(ek, oek, en) == 0);	/* one EK */
	CHECK_INT(make_credential(ek, en, oname, onn, cred, sizeof cred, &id, &secret), 0);
	int st = assay_key_attest_key(c, "attested", NULL, id.credential, id.size, secret.secret,
				      secret.size, &got, &gn);
	printf("  credential for another Name: %s\n", assay_key_status_name(st));
	CHECK(st >= ASSAY_KEY_PSA_ERR_GENERIC && st <= ASSAY_KEY_PSA_ERR_DATA_INVALID);
	CHECK_INT(st, ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT);
	CHECK(got == NULL && gn == 0);
	/* ... and the right key takes it. */
	CHECK_INT(assay_key_attest_key(c, "other", NULL, id.credential, id.size, secret.secret,
				       secret.size, &got, &gn), ASSAY_KEY_OK);
	CHECK(gn == sizeof cred && got && memcmp(got, cred, gn) == 0);
	assay_key_free_secret(got, gn);
	assay_key_free(oname);
	assay_key_free(oarea);
	assay_key_free(oek);
	/* Only the EK attests here; a missing key is missing. */
	CHECK_INT(assay_key_prepare_key_attestation(c, "attested", "other", &oname, &onn, &oarea,
						    &oan, &oek, &oen),
		  ASSAY_KEY_PSA_ERR_NOT_SUPPORTED);
	CHECK_INT(assay_key_attest_key(c, "missing", NULL, id.credential, id.size, secret.secret,
				       secret.size, &got, &gn), ASSAY_KEY_PSA_ERR_DOES_NOT_EXIST);

	assay_key_free(name);
	assay_key_free(area);
	assay_key_free(ek);
	assay_key_free(oname);
	assay_key_free(oarea);
	assay_key_free(oek);
	CHECK_INT(assay_key_destroy_key(c, "attested"), ASSAY_KEY_OK);
	CHECK_INT(assay_key_destroy_key(c, "other"), ASSAY_KEY_OK);
	assay_key_client_free(c);
}

/* ---- tenancy ---- */

/* Runs fn in a child as nobody; returns its exit status. */
static int as_nobody(int (*fn)(void))
{
	pid_t pid = fork();
	if (pid == 0) {
		struct passwd *pw = getpwnam("nobody");
		if (!pw || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
			_exit(99);
		_exit(fn());
	}
	int st = 0;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 98;
}

/* As nobody: root's key is invisible, nobody's own works, admin refused. */
static int nobody_view(void)
{
	struct assay_key_client *c = client(NULL, 1);
	uint8_t hash[32] = { 1 }, *sig = NULL;
	size_t sn = 0;
	int bad = 0;
	bad |= assay_key_sign_hash(c, "root-key", &ecdsa_sha256, hash, 32, &sig, &sn) !=
	       ASSAY_KEY_PSA_ERR_DOES_NOT_EXIST;
	bad |= (make_ecc(c, "root-key") != ASSAY_KEY_OK) << 1;
	bad |= (sign_checked(c, "root-key") != ASSAY_KEY_OK) << 2;
	const char **clients = NULL;
	size_t n = 0;
	bad |= (assay_key_list_clients(c, &clients, &n) != ASSAY_KEY_ADMIN_OPERATION) << 3;
	assay_key_client_free(c);
	return bad;
}

static void test_tenancy(void)
{
	struct assay_key_client *root = client(NULL, 1);
	struct assay_key_info *keys = NULL;
	size_t n = 0;
	CHECK_INT(make_ecc(root, "root-key"), ASSAY_KEY_OK);
	if (geteuid() == 0) {
		CHECK_INT(as_nobody(nobody_view), 0);
		/* Root's key is still root's and works. */
		CHECK_INT(sign_checked(root, "root-key"), ASSAY_KEY_OK);
		/* Admin (uid 0) sees both clients. */
		const char **clients = NULL;
		CHECK_INT(assay_key_list_clients(root, &clients, &n), ASSAY_KEY_OK);
		int saw_nobody = 0;
		for (size_t i = 0; i < n; i++)
			saw_nobody |= strcmp(clients[i], "65534") == 0;
		CHECK(saw_nobody);
		assay_key_free(clients);
		CHECK_INT(assay_key_delete_client(root, "65534"), ASSAY_KEY_OK);
		CHECK_INT(assay_key_delete_client(root, "65534"), ASSAY_KEY_PSA_ERR_DOES_NOT_EXIST);
	} else {
		printf("SKIP (part): two Unix users need root\n");
	}
	/* The same name through direct authentication is another namespace. */
	struct assay_key_client *direct = client("0", 1);
	CHECK_INT(assay_key_list_keys(direct, &keys, &n), ASSAY_KEY_OK);
	int leaked = 0;
	for (size_t i = 0; i < n; i++)
		leaked |= strcmp(keys[i].name, "root-key") == 0;
	CHECK(!leaked);
	assay_key_free(keys);
	CHECK_INT(assay_key_destroy_key(direct, "root-key"), ASSAY_KEY_PSA_ERR_DOES_NOT_EXIST);
	const char **clients = NULL;
	struct assay_key_client *plain = client("not-admin", 1);
	CHECK_INT(assay_key_list_clients(plain, &clients, &n), ASSAY_KEY_ADMIN_OPERATION);
	assay_key_client_free(plain);
	assay_key_client_free(direct);
	CHECK_INT(assay_key_destroy_key(root, "root-key"), ASSAY_KEY_OK);
	assay_key_client_free(root);
}

static void test_reload(void)
{
	struct assay_key_client *c = client(NULL, 0);
	struct assay_key_authenticator_info *auths = NULL;
	size_t n = 0;
	CHECK_INT(assay_key_list_authenticators(c, &auths, &n), ASSAY_KEY_OK);
	CHECK_INT((int)n, 2);
	assay_key_free(auths);
	write_conf("unix-peer-credentials");
	kill(keyd, SIGHUP);
	int now = 2;
	for (int i = 0; i < 50 && now != 1; i++) {
		sleep_ms(100);
		if (assay_key_list_authenticators(c, &auths, &n) == ASSAY_KEY_OK) {
			now = (int)n;
			assay_key_free(auths);
		}
	}
	CHECK_INT(now, 1);
	/* Direct authentication is refused now. */
	struct assay_key_client *d = client("someone", 1);
	CHECK_INT(make_ecc(d, "k"), ASSAY_KEY_AUTHENTICATOR_NOT_REGISTERED);
	assay_key_client_free(d);
	write_conf("unix-peer-credentials,direct");
	kill(keyd, SIGHUP);
	sleep_ms(500);
	assay_key_client_free(c);
}

/* ---- stress ---- */

#define STRESS_THREADS 4
#define STRESS_OPS 250

static volatile int stress_done;
static int stress_unexpected, checker_failures, checker_rounds;
static pthread_mutex_t stress_lock = PTHREAD_MUTEX_INITIALIZER;

static void *stress(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	static const char *const apps[] = { "s0", "s1", "s2", "s3", "s4", "s5" };
	static const char *const names[] = { "a", "b", "c" };
	for (int i = 0; i < STRESS_OPS; i++) {
		struct assay_key_client *c = client(apps[rand_r(&seed) % 6], 1);
		const char *name = names[rand_r(&seed) % 3];
		uint8_t hash[32] = { (uint8_t)i }, *out = NULL;
		size_t n = 0;
		int st;
		switch (rand_r(&seed) % 6) {
		case 0: st = make_ecc(c, name); break;
		case 1: st = assay_key_destroy_key(c, name); break;
		case 2: st = assay_key_sign_hash(c, name, &ecdsa_sha256, hash, 32, &out, &n); break;
		case 3: st = assay_key_export_public_key(c, name, &out, &n); break;
		case 4: {
			struct assay_key_info *keys = NULL;
			st = assay_key_list_keys(c, &keys, &n);
			assay_key_free(keys);
			break;
		}
		default: st = assay_key_generate_random(c, 32, &out); break;
		}
		assay_key_free(out);
		/* Identities are shared between threads: a key may be made or
		 * destroyed by another in between. Nothing else may fail. */
		if (st != ASSAY_KEY_OK && st != ASSAY_KEY_PSA_ERR_ALREADY_EXISTS &&
		    st != ASSAY_KEY_PSA_ERR_DOES_NOT_EXIST) {
			pthread_mutex_lock(&stress_lock);
			if (stress_unexpected++ < 5)
				printf("  stress: unexpected %s\n", assay_key_status_name(st));
			pthread_mutex_unlock(&stress_lock);
		}
		assay_key_client_free(c);
	}
	return NULL;
}

static void *checker(void *arg)
{
	struct assay_key_client *c = client("checker", 1);
	while (!stress_done) {
		if (sign_checked(c, "steady") != ASSAY_KEY_OK)
			checker_failures++;
		checker_rounds++;
	}
	assay_key_client_free(c);
	return NULL;
}

static void test_stress(void)
{
	pthread_t t[STRESS_THREADS], chk;
	struct assay_key_client *c = client("checker", 1);
	CHECK_INT(make_ecc(c, "steady"), ASSAY_KEY_OK);
	pthread_create(&chk, NULL, checker, NULL);
	for (int i = 0; i < STRESS_THREADS; i++)
		pthread_create(&t[i], NULL, stress, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < STRESS_THREADS; i++)
		pthread_join(t[i], NULL);
	stress_done = 1;
	pthread_join(chk, NULL);
	printf("stress: %d x %d operations, checker %d rounds\n", STRESS_THREADS, STRESS_OPS,
	       checker_rounds);
	CHECK_INT(stress_unexpected, 0);
	CHECK_INT(checker_failures, 0);
	CHECK(checker_rounds > 0);
	CHECK_INT(sign_checked(c, "steady"), ASSAY_KEY_OK);
	assay_key_client_free(c);
}

/* ---- kill -9 ---- */

/* Private key objects on the token that carry a CKA_ID: every key the
 * provider makes has one. (SoftHSM killed in the middle of
 * C_GenerateKeyPair can leave an object with none of our attributes, not
 * even the ID; no cleanup keyed by the ID can find it, and it is the
 * token's torn write, not an orphan of ours: 1 run in about 40.) */
static int count_token_keys(void)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "SOFTHSM2_CONF=%s pkcs11-tool --module %s --login --pin 1234 "
		 "--list-objects --type privkey 2>/dev/null | awk '/^Private Key Object/ "
		 "{ n += id; id = 0 } /^  ID:/ { id = 1 } END { print n + id }'",
		 softhsm_conf, SOFTHSM_LIB);
	FILE *f = popen(cmd, "r");
	int n = -1;
	if (f && fscanf(f, "%d", &n) != 1)
		n = -1;
	if (f)
		pclose(f);
	return n;
}

static void creator(uint8_t provider)
{
	struct assay_key_client *c = client("crash", provider);
	char name[32];
	for (int i = 0; i < 100000; i++) {
		snprintf(name, sizeof name, "k%d", i);
		make_ecc(c, name);
	}
	assay_key_client_free(c);
	_exit(0);
}

static void test_kill9(uint8_t provider)
{
	pid_t writer = fork();
	if (writer == 0)
		creator(provider);
	sleep_ms(700);
	daemon_stop(keyd, 1);	/* SIGKILL, mid-stream */
	kill(writer, SIGKILL);
	waitpid(writer, NULL, 0);
	CHECK_INT(start_keyd(), 0);
	struct assay_key_client *c = client("crash", provider);
	struct assay_key_info *keys = NULL;
	size_t n = 0;
	CHECK_INT(assay_key_list_keys(c, &keys, &n), ASSAY_KEY_OK);
	int listed = 0, broken = 0;
	for (size_t i = 0; i < n; i++) {
		if (keys[i].provider_id != provider)
			continue;
		listed++;
		if (sign_checked(c, keys[i].name) != ASSAY_KEY_OK)
			broken++;
	}
	printf("kill -9 (provider %u): %d keys made before the kill, %d broken\n", provider,
	       listed, broken);
	CHECK(listed > 0);
	CHECK_INT(broken, 0);
	if (provider == 2) {
		/* Every private key object on the token has a name: the orphan
		 * of the interrupted creation was cleaned at start. */
		int on_token = count_token_keys();
		if (on_token < 0)
			printf("SKIP (part): pkcs11-tool (opensc) is not installed\n");
		else
			CHECK_INT(on_token, listed);
	}
	for (size_t i = 0; i < n; i++)
		if (keys[i].provider_id == provider)
			assay_key_destroy_key(c, keys[i].name);
	assay_key_free(keys);
	assay_key_client_free(c);
}

static int setup_softhsm(void)
{
	if (access(SOFTHSM_LIB, R_OK) != 0 || system("command -v softhsm2-util >/dev/null") != 0)
		return 0;
	snprintf(token_dir, sizeof token_dir, "%s/tokens", dir);
	snprintf(softhsm_conf, sizeof softhsm_conf, "%s/softhsm2.conf", dir);
	file_mkdirs(token_dir, 0755);
	char text[300], cmd[600];
	snprintf(text, sizeof text, "directories.tokendir = %s\nobjectstore.backend = file\n",
		 token_dir);
	file_write_atomic(softhsm_conf, text, strlen(text), 0644);
	setenv("SOFTHSM2_CONF", softhsm_conf, 1);
	snprintf(cmd, sizeof cmd, "softhsm2-util --init-token --free --label assay --pin 1234 "
		 "--so-pin 5678 >/dev/null");
	if (system(cmd) != 0)
		return 0;
	/* The daemon runs as nobody after opening the token. */
	if (geteuid() == 0) {
		snprintf(cmd, sizeof cmd, "chown -R nobody %s", token_dir);
		if (system(cmd) != 0)
			return 0;
	}
	return 1;
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/assay-keyd-e2e-XXXXXX");
	if (!mkdtemp(dir))
		CHECK_SKIP("cannot make a temporary directory");
	chmod(dir, 0755);
	snprintf(sock, sizeof sock, "%s/keyd.sock", dir);
	snprintf(conf, sizeof conf, "%s/keyd.toml", dir);
	snprintf(log_path, sizeof log_path, "%s/keyd.log", dir);
	have_pkcs11 = setup_softhsm();
	if (!have_pkcs11)
		printf("SKIP (part): SoftHSM2 is not installed: no PKCS#11 provider\n");
	snprintf(tpm_dir, sizeof tpm_dir, "%s/tpm", dir);
	file_mkdirs(tpm_dir, 0755);
	have_tpm = swtpm_available() && swtpm_start(tpm_dir, tcti, sizeof tcti) == 0;
	if (!have_tpm)
		printf("SKIP (part): swtpm is not installed: no TPM provider\n");
	write_conf("unix-peer-credentials,direct");
	if (start_keyd() < 0) {
		CHECK(!"assay-keyd started");
		goto out;
	}
	test_provider(1, "software");
	if (have_pkcs11)
		test_provider(2, "pkcs11");
	if (have_tpm) {
		test_provider(3, "tpm");
		test_attestation();
	}
	test_tenancy();
	test_reload();
	test_stress();
	test_kill9(1);
	if (have_pkcs11)
		test_kill9(2);
	/* A clean stop: exit status 0 (and, under ASan, no leaks). */
	CHECK_INT(daemon_stop(keyd, 0), 0);
	keyd = -1;
out:;
	int failed = check_done();
	if (keyd > 0)
		daemon_stop(keyd, 0);
	if (have_tpm)
		swtpm_stop(tpm_dir);
	char cmd[256];
	if (failed)
		snprintf(cmd, sizeof cmd, "tail -n 40 %s/keyd.log", dir);
	else
		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("(%s failed)\n", cmd);
	return failed;
}
