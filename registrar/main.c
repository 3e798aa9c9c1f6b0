/* assay-registrar: configuration, sockets, privileges and the event loop.
 * The API itself is in api.c, storage in db.c. */
#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "assay_build.h"
#include "config/config.h"
#include "crypto/pki.h"
#include "registrar/registrar.h"
#include "util/file.h"
#include "util/log.h"
#include "util/privdrop.h"

static const struct config_option options[] = {
	{ "ip", CONFIG_STRING, "127.0.0.1", "Address to listen on for both ports.", 0, 0 },
	{ "port", CONFIG_INT, "8890", "Agent port (HTTP): registration and activation.", 1, 65535 },
	{ "tls_port", CONFIG_INT, "8891", "Admin port (HTTPS, mutual TLS): list, show, delete.", 1, 65535 },
	{ "state_dir", CONFIG_PATH, "/var/lib/assay/registrar", "Directory for the database and generated TLS files.", 0, 0 },
	{ "tls_dir", CONFIG_PATH, NULL, "Where a local CA and certificates are made when none are configured (default: STATE_DIR/tls); share it with the verifier for one CA.", 0, 0 },
	{ "database", CONFIG_PATH, NULL, "SQLite database file (default: STATE_DIR/registrar.sqlite).", 0, 0 },
	{ "server_cert", CONFIG_PATH, NULL, "TLS certificate of the admin port (default: generated in STATE_DIR/tls).", 0, 0 },
	{ "server_key", CONFIG_PATH, NULL, "Private key of server_cert (mode 0600).", 0, 0 },
	{ "trusted_client_ca", CONFIG_PATH, NULL, "CA that admin clients' certificates must chain to (default: the generated CA).", 0, 0 },
	{ "require_ek_cert", CONFIG_BOOL, "false", "Refuse agents that send no EK certificate.", 0, 0 },
	{ "max_body", CONFIG_INT, "262144", "Largest request body accepted, in bytes.", 1024, 16777216 },
	{ "user", CONFIG_STRING, NULL, "When started as root, the user to run as after opening sockets and files.", 0, 0 },
	{ "log_level", CONFIG_STRING, "info", "error, warn, info or debug.", 0, 0 },
	{ NULL, 0, NULL, NULL, 0, 0 },
};

static const struct config_program program = {
	.name = "assay-registrar",
	.section = "registrar",
	.summary = "vouch for the TPM keys of Assay and Keylime agents",
	.description =
		"Agents register their endorsement key (EK) and attestation key (AK) "
		"with the registrar. It answers with a TPM2_MakeCredential challenge "
		"that only the TPM holding that EK can open, and marks the agent "
		"active once the agent proves it did. Verifiers and the operator CLI "
		"then fetch the AK from the admin port. Speaks Keylime's registrar "
		"API v2.0 to v2.5.",
	.default_file = "/etc/assay/registrar.toml",
	.options = options,
};

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	log_info("signal %d: shutting down", (int)sig);
	event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
	char err[512];
	struct config *cfg;
	/* tss2-mu logs malformed input to stderr on its own: peers must not be
	 * able to fill our logs with it. */
	setenv("TSS2_LOG", "all+none", 0);
	int started = config_start(&program, argc, argv, &cfg);
	if (started != 0)
		return started < 0 ? 2 : 0;

	const char *state = config_str(cfg, "state_dir");
	char tls_dir[PATH_MAX], db[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], ca[PATH_MAX];
	if (config_isset(cfg, "tls_dir"))
		snprintf(tls_dir, sizeof tls_dir, "%s", config_str(cfg, "tls_dir"));
	else
		snprintf(tls_dir, sizeof tls_dir, "%s/tls", state);
	const char *dbp = config_path_or(cfg, "database", state, "registrar.sqlite",
					 db, sizeof db);
	struct http_tls tls = {
		config_path_or(cfg, "server_cert", tls_dir, PKI_SERVER_CERT, cert, sizeof cert),
		config_path_or(cfg, "server_key", tls_dir, PKI_SERVER_KEY, key, sizeof key),
		config_path_or(cfg, "trusted_client_ca", tls_dir, PKI_CA_CERT, ca, sizeof ca),
	};

	umask(077);
	if (file_mkdirs(state, 0700) < 0) {
		log_error("%s: %s", state, strerror(errno));
		return 1;
	}
	if (!config_isset(cfg, "server_cert") &&
	    pki_ensure(tls_dir, "registrar", config_str(cfg, "ip"), err, sizeof err) < 0) {
		log_error("%s", err);
		return 1;
	}

	struct registrar reg = { 0 };
	reg.require_ek_cert = config_bool(cfg, "require_ek_cert");
	if (!(reg.db = registrar_db_open(dbp, err, sizeof err))) {
		log_error("%s", err);
		return 1;
	}

	struct event_base *base = event_base_new();
	struct http_server_config agent_cfg = {
		config_str(cfg, "ip"), (int)config_int(cfg, "port"), NULL,
		(size_t)config_int(cfg, "max_body"), 30, registrar_agent_api, &reg,
	};
	struct http_server_config admin_cfg = agent_cfg;
	admin_cfg.port = (int)config_int(cfg, "tls_port");
	admin_cfg.tls = &tls;
	admin_cfg.handler = registrar_admin_api;
	struct http_server *agent_srv = http_server_start(base, &agent_cfg, err, sizeof err);
	struct http_server *admin_srv = agent_srv
		? http_server_start(base, &admin_cfg, err, sizeof err) : NULL;
	if (!agent_srv || !admin_srv) {
		log_error("%s", err);
		return 1;
	}

	/* Everything is open: the database, its WAL files and the sockets.
	 * The rest of the run needs only the state directory. */
	char wal[PATH_MAX + 8], shm[PATH_MAX + 8];
	snprintf(wal, sizeof wal, "%s-wal", dbp);
	snprintf(shm, sizeof shm, "%s-shm", dbp);
	const char *owned[] = { state, dbp, wal, shm, NULL };
	if (privdrop(config_str(cfg, "user"), owned, err, sizeof err) < 0) {
		log_error("%s", err);
		return 1;
	}

	struct event *sigint = evsignal_new(base, SIGINT, on_signal, base);
	struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	event_add(sigint, NULL);
	event_add(sigterm, NULL);
	signal(SIGPIPE, SIG_IGN);
	log_info("version %s: agents on http://%s:%d, admin on https://%s:%d",
		 ASSAY_VERSION, config_str(cfg, "ip"), http_server_port(agent_srv),
		 config_str(cfg, "ip"), http_server_port(admin_srv));

	event_base_dispatch(base);

	event_free(sigint);
	event_free(sigterm);
	http_server_free(agent_srv);
	http_server_free(admin_srv);
	event_base_free(base);
	store_close(reg.db);
	config_free(cfg);
	return 0;
}
