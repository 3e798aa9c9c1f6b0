/* assay-agent: configuration, TPM identity, registration, then the API on
 * one event loop with privileges dropped. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"
#include "assay_build.h"
#include "util/file.h"
#include "util/log.h"
#include "util/privdrop.h"
#include "util/secure.h"

static const struct config_option options[] = {
	{ "uuid", CONFIG_STRING, "hash_ek", "Agent id: a UUID or name, 'hash_ek' (SHA-256 of the EK) or 'generate' (random, kept in STATE_DIR).", 0, 0 },
	{ "ip", CONFIG_STRING, "127.0.0.1", "Address the agent API listens on.", 0, 0 },
	{ "port", CONFIG_INT, "9002", "Port of the agent API.", 1, 65535 },
	{ "contact_ip", CONFIG_STRING, "127.0.0.1", "Address verifiers and tenants reach the agent at (sent to the registrar).", 0, 0 },
	{ "contact_port", CONFIG_INT, "9002", "Port verifiers and tenants reach the agent at.", 1, 65535 },
	{ "registrar_ip", CONFIG_STRING, "127.0.0.1", "Registrar address.", 0, 0 },
	{ "registrar_port", CONFIG_INT, "8890", "Registrar agent port (HTTP).", 1, 65535 },
	{ "registration_retries", CONFIG_INT, "5", "Registration attempts after the first before giving up.", 0, 1000 },
	{ "registration_delay_ms", CONFIG_INT, "1000", "First delay between registration attempts (doubles each time).", 1, 600000 },
	{ "tcti", CONFIG_STRING, "device:/dev/tpmrm0", "TPM access, as a TCTI string (e.g. swtpm:port=2321).", 0, 0 },
	{ "tpm_hash_alg", CONFIG_STRING, "sha256", "Quote and PCR bank hash: sha1, sha256, sha384, sha512.", 0, 0 },
	{ "tpm_encryption_alg", CONFIG_STRING, "rsa", "EK algorithm: rsa (RSA-2048) or ecc (NIST P-256).", 0, 0 },
	{ "tpm_signing_alg", CONFIG_STRING, "rsassa", "AK signing scheme: rsassa, rsapss (RSA AK) or ecdsa (ECC AK).", 0, 0 },
	{ "state_dir", CONFIG_PATH, "/var/lib/assay/agent", "Keys, the AK blob and the payload directory.", 0, 0 },
	{ "enable_agent_mtls", CONFIG_BOOL, "true", "Serve the API over HTTPS with client certificates.", 0, 0 },
	{ "server_cert", CONFIG_PATH, NULL, "mTLS server certificate (default: self-signed, made in STATE_DIR).", 0, 0 },
	{ "server_key", CONFIG_PATH, NULL, "Private key of server_cert.", 0, 0 },
	{ "trusted_client_ca", CONFIG_PATH, NULL, "CA that verifier and tenant certificates must chain to (required with mTLS).", 0, 0 },
	{ "ima_ml_path", CONFIG_PATH, "/sys/kernel/security/ima/ascii_runtime_measurements", "IMA measurement list.", 0, 0 },
	{ "measuredboot_ml_path", CONFIG_PATH, "/sys/kernel/security/tpm0/binary_bios_measurements", "UEFI event log.", 0, 0 },
	{ "payload_script", CONFIG_STRING, "autorun.sh", "Script in the payload to run after delivery ('' for none).", 0, 0 },
	{ "extract_payload_zip", CONFIG_BOOL, "true", "Unpack a payload that is a ZIP archive.", 0, 0 },
	{ "revocation_cert", CONFIG_PATH, NULL, "Certificate revocation notices must be signed by (default: RevocationNotifier-cert.crt from the payload).", 0, 0 },
	{ "revocation_actions", CONFIG_STRING, NULL, "Programs to run on a verified revocation, comma-separated.", 0, 0 },
	{ "revocation_actions_dir", CONFIG_PATH, "/usr/libexec/assay", "Where revocation actions are looked up first.", 0, 0 },
	{ "run_as", CONFIG_STRING, NULL, "When started as root, the user to continue as once the TPM and logs are open.", 0, 0 },
	{ "log_level", CONFIG_STRING, "info", "error, warn, info or debug.", 0, 0 },
	{ NULL, 0, NULL, NULL, 0, 0 },
};

static const struct config_program program = {
	.name = "assay-agent",
	.section = "agent",
	.summary = "prove with the TPM what booted and what ran on this node",
	.description =
		"The agent owns the node's TPM. At start it derives the endorsement "
		"key, loads or creates its attestation key, registers both with the "
		"registrar and proves they share a TPM. It then serves Keylime's agent "
		"API (v2.0 to v2.5): quotes over the PCRs with the IMA and UEFI event "
		"logs, the U and V halves of the bootstrap key (after which the "
		"encrypted payload is unpacked and its autorun script started), and "
		"signed revocation notices.",
	.default_file = "/etc/assay/agent.toml",
	.options = options,
};

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	if (sig == SIGCHLD) {
		/* Payload scripts run detached; reap them. */
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		return;
	}
	log_info("signal %d: shutting down", (int)sig);
	event_base_loopbreak(arg);
}

static int open_log(const char *path, const char *what)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		log_warn("%s %s: %s; quotes will not include it", what, path,
			 strerror(errno));
	return fd;
}

int main(int argc, char **argv)
{
	char err[512];
	struct config *cfg;
	/* tss2 logs malformed input to stderr on its own; our messages carry
	 * the decoded response codes already. */
	setenv("TSS2_LOG", "all+none", 0);
	int started = config_start(&program, argc, argv, &cfg);
	if (started != 0)
		return started < 0 ? 2 : 0;
	int mtls = config_bool(cfg, "enable_agent_mtls");
	if (mtls && !config_isset(cfg, "trusted_client_ca")) {
		fprintf(stderr, "assay-agent: trusted_client_ca: required when "
			"enable_agent_mtls is on (the CA of verifier and tenant "
			"certificates)\n");
		return 2;
	}

	static struct agent a;
	a.cfg = cfg;
	a.ek = a.ak = ESYS_TR_NONE;
	a.state_dir = config_str(cfg, "state_dir");
	umask(077);
	if (file_mkdirs(a.state_dir, 0700) < 0) {
		log_error("%s: %s", a.state_dir, strerror(errno));
		return 1;
	}
	snprintf(a.payload_dir, sizeof a.payload_dir, "%s/secure/unzipped", a.state_dir);
	if (agent_identity_init(&a, err, sizeof err) < 0) {
		log_error("%s", err);
		agent_identity_free(&a);
		return 1;
	}
	a.ima_fd = open_log(config_str(cfg, "ima_ml_path"), "IMA log");
	a.mb_fd = open_log(config_str(cfg, "measuredboot_ml_path"), "UEFI event log");

	if (agent_register(&a, err, sizeof err) < 0) {
		log_error("registration failed: %s", err);
		agent_identity_free(&a);
		return 1;
	}

	/* The EK was needed for the AK and the credential only; swtpm and
	 * small TPMs hold three transient objects at most. */
	tpm_flush(a.tpm, a.ek);
	a.ek = ESYS_TR_NONE;

	char cert[PATH_MAX], key[PATH_MAX];
	if (config_isset(cfg, "server_cert")) {
		snprintf(cert, sizeof cert, "%s", config_str(cfg, "server_cert"));
		snprintf(key, sizeof key, "%s", config_str(cfg, "server_key"));
	} else {
		snprintf(cert, sizeof cert, "%s/server-cert.crt", a.state_dir);
		snprintf(key, sizeof key, "%s/server-private.pem", a.state_dir);
	}
	struct http_tls tls = { cert, key, mtls ? config_str(cfg, "trusted_client_ca") : NULL };
	struct event_base *base = event_base_new();
	struct http_server_config hc = {
		config_str(cfg, "ip"), (int)config_int(cfg, "port"), mtls ? &tls : NULL,
		(size_t)8 << 20, 30, agent_api, &a,
	};
	struct http_server *srv = http_server_start(base, &hc, err, sizeof err);
	if (!srv) {
		log_error("%s", err);
		return 1;
	}

	/* The TPM, the logs and the socket are open; what is left needs only
	 * the state directory. */
	char secure[PATH_MAX];
	snprintf(secure, sizeof secure, "%s/secure", a.state_dir);
	file_mkdirs(a.payload_dir, 0700);
	const char *owned[] = { a.state_dir, secure, a.payload_dir, NULL };
	if (privdrop(config_isset(cfg, "run_as") ? config_str(cfg, "run_as") : NULL,
		     owned, err, sizeof err) < 0) {
		log_error("%s", err);
		return 1;
	}

	struct event *sig[3];
	int signals[3] = { SIGINT, SIGTERM, SIGCHLD };
	for (int i = 0; i < 3; i++) {
		sig[i] = evsignal_new(base, signals[i], on_signal, base);
		event_add(sig[i], NULL);
	}
	signal(SIGPIPE, SIG_IGN);
	log_info("version %s: agent %s serving on %s://%s:%d", ASSAY_VERSION, a.uuid,
		 mtls ? "https" : "http", config_str(cfg, "ip"), http_server_port(srv));

	event_base_dispatch(base);

	for (int i = 0; i < 3; i++)
		event_free(sig[i]);
	http_server_free(srv);
	event_base_free(base);
	secure_wipe(a.k, sizeof a.k);
	agent_identity_free(&a);
	config_free(cfg);
	return 0;
}
