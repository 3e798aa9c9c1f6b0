/* assay-verifier: configuration, storage, the API server and the
 * attestation loop, with privileges dropped. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "assay_build.h"
#include "crypto/pki.h"
#include "util/encode.h"
#include "util/file.h"
#include "util/log.h"
#include "util/privdrop.h"
#include "verifier/verifier.h"

static const struct config_option options[] = {
	{ "ip", CONFIG_STRING, "127.0.0.1", "Address the API listens on.", 0, 0 },
	{ "port", CONFIG_INT, "8881", "Port of the API (HTTPS, mutual TLS).", 1, 65535 },
	{ "uuid", CONFIG_STRING, "default", "This verifier's id (verifier_id).", 0, 0 },
	{ "state_dir", CONFIG_PATH, "/var/lib/assay/verifier", "Database and generated TLS files.", 0, 0 },
	{ "database", CONFIG_PATH, NULL, "SQLite database (default: STATE_DIR/verifier.sqlite).", 0, 0 },
	{ "database_url", CONFIG_STRING, NULL, "PostgreSQL instead of SQLite: a postgresql:// URI (or libpq key=value string). Verifiers on one database share the fleet: agents are spread over the live verifiers by leases and taken over when one dies. Each needs its own uuid.", 0, 0 },
	{ "lease_ms", CONFIG_INT, "10000", "With database_url: how long a verifier's hold on its agents lasts unrenewed (renewed every third of it). A dead verifier's agents are taken over within about this time.", 1000, 3600000 },
	{ "tls_dir", CONFIG_PATH, NULL, "Where a local CA and certificates are made when none are configured (default: STATE_DIR/tls); share it with the registrar for one CA.", 0, 0 },
	{ "server_cert", CONFIG_PATH, NULL, "API server certificate (default: TLS_DIR/server.pem).", 0, 0 },
	{ "server_key", CONFIG_PATH, NULL, "Its private key (default: TLS_DIR/server.key).", 0, 0 },
	{ "trusted_client_ca", CONFIG_PATH, NULL, "CA of tenant certificates (default: TLS_DIR/ca.pem).", 0, 0 },
	{ "client_cert", CONFIG_PATH, NULL, "Certificate presented to agents (default: TLS_DIR/client.pem).", 0, 0 },
	{ "client_key", CONFIG_PATH, NULL, "Its private key (default: TLS_DIR/client.key).", 0, 0 },
	{ "enable_agent_mtls", CONFIG_BOOL, "true", "Talk to agents over HTTPS, trusting the certificate the tenant enrolled.", 0, 0 },
	{ "quote_interval_ms", CONFIG_INT, "2000", "Time between two quotes of one agent.", 0, 86400000 },
	{ "retry_interval_ms", CONFIG_INT, "2000", "Base delay before retrying an unreachable agent.", 1, 3600000 },
	{ "exponential_backoff", CONFIG_BOOL, "true", "Retry delays grow as retry_interval^n (seconds).", 0, 0 },
	{ "max_retries", CONFIG_INT, "5", "Retries before an unreachable agent is failed.", 0, 1000 },
	{ "request_timeout_ms", CONFIG_INT, "60000", "Timeout of one request to an agent.", 100, 600000 },
	{ "webhook_url", CONFIG_STRING, NULL, "Where revocation notices are also POSTed.", 0, 0 },
	{ "max_body", CONFIG_INT, "10485760", "Largest request body accepted, in bytes.", 1024, 104857600 },
	{ "user", CONFIG_STRING, NULL, "When started as root, the user to run as.", 0, 0 },
	{ "log_level", CONFIG_STRING, "info", "error, warn, info or debug.", 0, 0 },
	{ NULL, 0, NULL, NULL, 0, 0 },
};

static const struct config_program program = {
	.name = "assay-verifier",
	.section = "verifier",
	.summary = "attest a fleet of nodes and release secrets only to healthy ones",
	.description =
		"The verifier polls every enrolled agent for a TPM quote over a fresh "
		"nonce, checks it against the AK the registrar vouched for and the "
		"agent's TPM policy, delivers the key half V after the first good "
		"quote, and on a failure records the reason and sends signed "
		"revocation notices to the other agents and a webhook. Speaks "
		"Keylime's verifier API v2.0 to v2.5. Runtime (IMA) policies are "
		"checked against the IMA log, fetched incrementally; measured-boot "
		"reference states against the UEFI event log, replayed against the "
		"quoted PCRs every time and evaluated once per boot.",
	.default_file = "/etc/assay/verifier.toml",
	.options = options,
};

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	log_info("signal %d: shutting down", (int)sig);
	event_base_loopbreak(arg);
}

/* SQLite mode: every stored agent is ours. */
static int restore(json_t *row, void *arg)
{
	return agent_adopt(row, arg);
}

static void free_agent(const char *id, void *value, void *arg)
{
	agent_free(value);
}

int main(int argc, char **argv)
{
	char err[512];
	struct config *cfg;
	setenv("TSS2_LOG", "all+none", 0);
	int started = config_start(&program, argc, argv, &cfg);
	if (started != 0)
		return started < 0 ? 2 : 0;

	const char *state = config_str(cfg, "state_dir");
	char tls_dir[PATH_MAX], db[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], ca[PATH_MAX],
	     ccert[PATH_MAX], ckey[PATH_MAX];
	umask(077);
	if (file_mkdirs(state, 0700) < 0) {
		log_error("%s: %s", state, strerror(errno));
		return 1;
	}
	if (config_isset(cfg, "tls_dir"))
		snprintf(tls_dir, sizeof tls_dir, "%s", config_str(cfg, "tls_dir"));
	else if (path_join(tls_dir, sizeof tls_dir, state, "tls") < 0)
		return 1;
	if ((!config_isset(cfg, "server_cert") || !config_isset(cfg, "client_cert")) &&
	    pki_ensure(tls_dir, "verifier", config_str(cfg, "ip"), err, sizeof err) < 0) {
		log_error("%s", err);
		return 1;
	}
	struct http_tls server_tls = {
		config_path_or(cfg, "server_cert", tls_dir, PKI_SERVER_CERT, cert, sizeof cert),
		config_path_or(cfg, "server_key", tls_dir, PKI_SERVER_KEY, key, sizeof key),
		config_path_or(cfg, "trusted_client_ca", tls_dir, PKI_CA_CERT, ca, sizeof ca),
	};
	struct http_tls client_tls = {
		config_path_or(cfg, "client_cert", tls_dir, PKI_CLIENT_CERT, ccert, sizeof ccert),
		config_path_or(cfg, "client_key", tls_dir, PKI_CLIENT_KEY, ckey, sizeof ckey),
		server_tls.ca_file,
	};

	/* One connection per agent: a fleet needs more descriptors than the
	 * default soft limit. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	static struct verifier v;
	v.cfg = cfg;
	snprintf(v.verifier_id, sizeof v.verifier_id, "%s", config_str(cfg, "uuid"));
	v.quote_interval_ms = (long)config_int(cfg, "quote_interval_ms");
	v.retry_interval_ms = (long)config_int(cfg, "retry_interval_ms");
	v.request_timeout_ms = (long)config_int(cfg, "request_timeout_ms");
	v.max_retries = (int)config_int(cfg, "max_retries");
	v.exponential_backoff = config_bool(cfg, "exponential_backoff");
	v.enable_agent_mtls = config_bool(cfg, "enable_agent_mtls");
	v.webhook_url = config_isset(cfg, "webhook_url") ? config_str(cfg, "webhook_url") : NULL;
	v.lease_ms = (long)config_int(cfg, "lease_ms");
	const char *url = config_isset(cfg, "database_url") ? config_str(cfg, "database_url")
							    : NULL;
	const char *dbp = config_path_or(cfg, "database", state, "verifier.sqlite", db,
					 sizeof db);
	if (!dbp[0] || !(v.db = verifier_db_open(dbp, url, v.verifier_id, err, sizeof err))) {
		log_error("%s", dbp[0] ? err : "database: path too long");
		return 1;
	}
	v.base = event_base_new();
	v.agents = map_new();
	if (!v.base || !v.agents ||
	    !(v.client = http_client_new(v.base, &client_tls, err, sizeof err))) {
		log_error("%s", err[0] ? err : "out of memory");
		return 1;
	}
	struct http_server_config sc = {
		config_str(cfg, "ip"), (int)config_int(cfg, "port"), &server_tls,
		(size_t)config_int(cfg, "max_body"), 60, verifier_api, &v,
	};
	struct http_server *srv = http_server_start(v.base, &sc, err, sizeof err);
	if (!srv) {
		log_error("%s", err);
		return 1;
	}
	char wal[PATH_MAX + 8], shm[PATH_MAX + 8];
	snprintf(wal, sizeof wal, "%s-wal", dbp);
	snprintf(shm, sizeof shm, "%s-shm", dbp);
	const char *owned[] = { state, url ? NULL : dbp, wal, shm, NULL };
	if (privdrop(config_isset(cfg, "user") ? config_str(cfg, "user") : NULL, owned,
		     err, sizeof err) < 0) {
		log_error("%s", err);
		return 1;
	}
	int shared = verifier_db_shared(v.db);
	if (shared && lease_join(&v, config_str(cfg, "ip"), http_server_port(srv)) < 0) {
		log_error("database: cannot take a lease: %s", verifier_db_error(v.db));
		return 1;
	}
	if (shared)
		lease_start(&v);
	else if (verifier_db_each_agent(v.db, NULL, restore, &v) < 0)
		log_error("database: cannot read the agents: %s", verifier_db_error(v.db));

	struct event *sigint = evsignal_new(v.base, SIGINT, on_signal, v.base);
	struct event *sigterm = evsignal_new(v.base, SIGTERM, on_signal, v.base);
	event_add(sigint, NULL);
	event_add(sigterm, NULL);
	signal(SIGPIPE, SIG_IGN);
	log_info("version %s: verifier %s on https://%s:%d, %zu agents%s", ASSAY_VERSION,
		 v.verifier_id, config_str(cfg, "ip"), http_server_port(srv),
		 map_len(v.agents), shared ? " (shared database)" : "");

	event_base_dispatch(v.base);

	if (shared)
		lease_leave(&v);
	state_flush(&v);
	if (v.flusher)
		event_free(v.flusher);
	agent_reap(&v);
	if (v.reaper)
		event_free(v.reaper);
	event_free(sigint);
	event_free(sigterm);
	http_server_free(srv);
	http_client_free(v.client);
	map_each(v.agents, free_agent, NULL);
	map_free(v.agents);
	event_base_free(v.base);
	verifier_db_close(v.db);
	config_free(cfg);
	return v.superseded ? 1 : 0;
}
