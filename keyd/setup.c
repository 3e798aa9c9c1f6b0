/* assay-keyd's settings and the service's setup, shared by main.c, the
 * tests and the fuzz target. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "assay_build.h"
#include "config/config.h"
#include "keyd/keyd.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"

static const struct config_option options[] = {
	{ "socket", CONFIG_PATH, "/run/assay/keyd.sock", "The Unix socket clients connect to (mode 0666: every local user may ask; the authenticator decides who they are). Ignored when systemd passes a socket.", 0, 0 },
	{ "state_dir", CONFIG_PATH, "/var/lib/assay/keyd", "The key store (keys.sqlite) and the software provider's master key.", 0, 0 },
	{ "providers", CONFIG_STRING, "software", "Providers to enable, in the order ListProviders shows them (core comes last): software, pkcs11, tpm.", 0, 0 },
	{ "authenticators", CONFIG_STRING, "unix-peer-credentials", "Authenticators to enable, several allowed: unix-peer-credentials, direct (clients name themselves: trusted hosts and tests only), jwt-svid.", 0, 0 },
	{ "admins", CONFIG_STRING, NULL, "Applications (uids for unix-peer-credentials, names, SPIFFE IDs) allowed ListClients and DeleteClient, comma-separated.", 0, 0 },
	{ "jwt_svid_bundle", CONFIG_PATH, NULL, "jwt-svid: the JWKS trust bundle tokens must be signed with.", 0, 0 },
	{ "jwt_svid_audience", CONFIG_STRING, "assay-keyd", "jwt-svid: the audience tokens must name.", 0, 0 },
	{ "software_master_key", CONFIG_PATH, NULL, "software: the 32-byte key that encrypts stored keys (default STATE_DIR/software.key, made on first start, mode 0600).", 0, 0 },
	{ "pkcs11_library", CONFIG_PATH, NULL, "pkcs11: the PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so).", 0, 0 },
	{ "pkcs11_slot", CONFIG_INT, "-1", "pkcs11: the slot id (or use pkcs11_token_serial; -1: unset).", -1, 4294967295LL },
	{ "pkcs11_token_serial", CONFIG_STRING, NULL, "pkcs11: the serial number of the token to use.", 0, 0 },
	{ "pkcs11_pin", CONFIG_STRING, NULL, "pkcs11: the user PIN (prefer pkcs11_pin_file).", 0, 0 },
	{ "pkcs11_pin_file", CONFIG_PATH, NULL, "pkcs11: a file holding the user PIN (not readable by group or others).", 0, 0 },
	{ "tpm_tcti", CONFIG_STRING, "device:/dev/tpmrm0", "tpm: the TCTI of the TPM (swtpm:port=2321 for a software TPM).", 0, 0 },
	{ "tpm_owner_auth", CONFIG_STRING, NULL, "tpm: the owner hierarchy password, if one is set.", 0, 0 },
	{ "max_body", CONFIG_INT, "1048576", "Largest request body accepted, in bytes (and largest response).", 1024, 16777216 },
	{ "threads", CONFIG_INT, "4", "Worker threads serving requests.", 1, 256 },
	{ "timeout_ms", CONFIG_INT, "5000", "Time a client has to send its whole request and read the answer.", 100, 600000 },
	{ "user", CONFIG_STRING, NULL, "When started as root, the user to run as once the socket, the providers and the key store are open.", 0, 0 },
	{ "allow_root", CONFIG_BOOL, "false", "Run as root (no user given). Not recommended.", 0, 0 },
	{ "log_level", CONFIG_STRING, "info", "error, warn, info or debug.", 0, 0 },
	{ NULL, 0, NULL, NULL, 0, 0 },
};

const struct config_program keyd_program = {
	.name = "assay-keyd",
	.section = "keyd",
	.summary = "the platform key service (Parsec wire protocol 1.0)",
	.description =
		"Applications use keys held in software, a PKCS#11 token or a TPM "
		"through one API on a Unix socket, each seeing only its own keys. "
		"Speaks Parsec's wire protocol 1.0 (parsec-tool and Parsec client "
		"libraries work unchanged; PARSEC_SERVICE_ENDPOINT=unix:/path points "
		"them here). Keys are named per (authenticator, application, "
		"provider, name) in an SQLite key store; a crash in the middle of a "
		"create or destroy is finished at the next start. SIGHUP reloads "
		"the authenticators, admins and JWKS bundle.",
	.default_file = "/etc/assay/keyd.toml",
	.options = options,
};

static const struct provider_ops *const known[] = {
	&provider_software, &provider_pkcs11, &provider_tpm,
};

/* Opens the providers named in the setting, in its order. */
static int open_providers(struct keyd *k, const struct config *cfg, char *err, size_t errlen)
{
	char list[256], why[512], *save = NULL;
	snprintf(list, sizeof list, "%s", config_str(cfg, "providers"));
	for (char *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		const struct provider_ops *ops = NULL;
		for (size_t i = 0; i < sizeof known / sizeof *known; i++)
			if (strcmp(known[i]->name, t) == 0)
				ops = known[i];
		if (!ops) {
			error_set(err, errlen, "providers: unknown provider '%.64s' (use "
				  "software, pkcs11 or tpm)", t);
			return -1;
		}
		if (keyd_provider(k, ops->id)) {
			error_set(err, errlen, "providers: %s is listed twice", t);
			return -1;
		}
		struct provider *p = &k->providers[k->n_providers];
		p->ops = ops;
		why[0] = 0;
		if (k->n_providers == KEYD_PROVIDERS_MAX || ops->open(p, cfg, why, sizeof why) < 0) {
			error_set(err, errlen, "provider %s: %s", t, why);
			return -1;
		}
		k->n_providers++;
		log_info("provider %s (id %u) ready", t, ops->id);
	}
	if (!k->n_providers) {
		error_set(err, errlen, "providers: at least one is needed");
		return -1;
	}
	return 0;
}

int keyd_open(struct keyd *k, const struct config *cfg, char *err, size_t errlen)
{
	char db[PATH_MAX], why[512] = "state_dir: path too long";
	memset(k, 0, sizeof *k);
	k->max_body = (size_t)config_int(cfg, "max_body");
	k->version = ASSAY_VERSION;
	pthread_rwlock_init(&k->auth_lock, NULL);
	if (auth_load(&k->auth, cfg, err, errlen) < 0)
		return -1;
	if (path_join(db, sizeof db, config_str(cfg, "state_dir"), "keys.sqlite") < 0 ||
	    !(k->ks = keystore_open(db, why, sizeof why))) {
		error_set(err, errlen, "key store: %s", why);
		keyd_close(k);
		return -1;
	}
	if (open_providers(k, cfg, err, errlen) < 0) {
		keyd_close(k);
		return -1;
	}
	keyd_recover(k);
	return 0;
}

void keyd_close(struct keyd *k)
{
	for (int i = 0; i < k->n_providers; i++)
		if (k->providers[i].ops->close)
			k->providers[i].ops->close(&k->providers[i]);
	k->n_providers = 0;
	keystore_close(k->ks);
	k->ks = NULL;
	auth_free(&k->auth);
	pthread_rwlock_destroy(&k->auth_lock);
}
