#include "crypto/pki.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "util/file.h"
#include "util/log.h"

static void join(char *out, size_t n, const char *dir, const char *file)
{
	snprintf(out, n, "%s/%s", dir, file);
}

static int issue(const char *dir, const char *cert_name, const char *key_name,
		 const struct crypto_cert_spec *spec, X509 *ca, EVP_PKEY *ca_key)
{
	char cp[PATH_MAX], kp[PATH_MAX];
	join(cp, sizeof cp, dir, cert_name);
	join(kp, sizeof kp, dir, key_name);
	if (access(cp, R_OK) == 0 && access(kp, R_OK) == 0)
		return 0;
	EVP_PKEY *key = crypto_ec_generate("P-256");
	X509 *cert = key ? crypto_cert_issue(key, spec, ca, ca_key) : NULL;
	/* Key first: a certificate without its key would look complete. */
	int r = cert && crypto_key_save(kp, key) == 0 &&
		crypto_cert_save(cp, cert) == 0 ? 0 : -1;
	X509_free(cert);
	EVP_PKEY_free(key);
	return r;
}

int pki_ensure(const char *dir, const char *name, const char *server_ip,
	       char *err, size_t errlen)
{
	char cp[PATH_MAX], kp[PATH_MAX], cn[128];
	EVP_PKEY *ca_key = NULL;
	X509 *ca = NULL;
	int r = -1;
	if (file_mkdirs(dir, 0700) < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	join(cp, sizeof cp, dir, PKI_CA_CERT);
	join(kp, sizeof kp, dir, PKI_CA_KEY);
	if (access(cp, R_OK) != 0) {
		snprintf(cn, sizeof cn, "Assay %s CA", name);
		struct crypto_cert_spec spec = { cn, NULL, NULL, 3650, 1 };
		ca_key = crypto_ec_generate("P-256");
		ca = ca_key ? crypto_cert_issue(ca_key, &spec, NULL, NULL) : NULL;
		if (!ca || crypto_key_save(kp, ca_key) < 0 ||
		    crypto_cert_save(cp, ca) < 0) {
			snprintf(err, errlen, "%s: cannot create the CA", dir);
			goto out;
		}
		log_info("created a local CA in %s", dir);
	} else {
		ca = crypto_cert_load(cp);
		ca_key = crypto_key_load(kp, err, errlen);
		if (!ca || !ca_key) {
			if (!ca)
				snprintf(err, errlen, "%s: not a PEM certificate", cp);
			goto out;
		}
	}
	snprintf(cn, sizeof cn, "assay-%s", name);
	struct crypto_cert_spec server = { cn, server_ip, "localhost", 825, 0 };
	struct crypto_cert_spec client = { "assay-client", NULL, NULL, 825, 0 };
	if (issue(dir, PKI_SERVER_CERT, PKI_SERVER_KEY, &server, ca, ca_key) < 0 ||
	    issue(dir, PKI_CLIENT_CERT, PKI_CLIENT_KEY, &client, ca, ca_key) < 0) {
		snprintf(err, errlen, "%s: cannot issue certificates", dir);
		goto out;
	}
	r = 0;
out:
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	return r;
}
