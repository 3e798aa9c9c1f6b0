/* pki: the certificates a daemon serves and connects with.
 *
 * An operator normally configures real certificates. When none are
 * configured, a daemon calls pki_ensure on its TLS directory: a local CA and
 * a server and a client certificate issued by it are created once (keys
 * 0600) and reused after, as Keylime does with tls_dir = generate. */
#ifndef ASSAY_CRYPTO_PKI_H
#define ASSAY_CRYPTO_PKI_H

#include <stddef.h>

#define PKI_CA_CERT	"ca.pem"
#define PKI_CA_KEY	"ca.key"
#define PKI_SERVER_CERT	"server.pem"
#define PKI_SERVER_KEY	"server.key"
#define PKI_CLIENT_CERT	"client.pem"
#define PKI_CLIENT_KEY	"client.key"

/* Creates what is missing in dir. server_ip goes into the server
 * certificate's subjectAltName. Returns 0, or -1 with err set. */
int pki_ensure(const char *dir, const char *name, const char *server_ip,
	       char *err, size_t errlen);

#endif
