/* assay: the operator's command line (Keylime's tenant, and more).
 *
 *   assay add --uuid ID [--file F | --include DIR] [--tpm-policy JSON]
 *             [--runtime-policy FILE | --runtime-policy-name N] [--verify]
 *   assay status [--uuid ID] [--json]      assay list [--json]
 *   assay delete|reactivate|stop --uuid ID
 *   assay policy add|show|delete --name N [--file F] [--kind runtime|measured-boot]
 *   assay policy list [--kind ...]
 *   assay policy create-runtime (--ima-log F | --dir D [--exclude RE]) [--output F]
 *   assay policy create-mb --uefi-log F [--without-secureboot] [--output F]
 *   assay key COMMAND ...                  (the key service: see cli/key.c)
 *
 * Exit status: 0 done, 1 the operation failed, 2 bad usage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/key.h"
#include "cli/policy_create.h"
#include "cli/tenant.h"
#include "util/encode.h"
#include "util/file.h"
#include "util/log.h"

#define COMMON \
	{ "verifier_ip", CONFIG_STRING, "127.0.0.1", "Verifier address.", 0, 0 }, \
	{ "verifier_port", CONFIG_INT, "8881", "Verifier port (HTTPS, mutual TLS).", 1, 65535 }, \
	{ "registrar_ip", CONFIG_STRING, "127.0.0.1", "Registrar address.", 0, 0 }, \
	{ "registrar_tls_port", CONFIG_INT, "8891", "Registrar admin port (HTTPS, mutual TLS).", 1, 65535 }, \
	{ "tls_dir", CONFIG_PATH, "/var/lib/assay/tls", "Client certificate (client.pem, client.key), the servers' CA (ca.pem) and the revocation key.", 0, 0 }, \
	{ "client_cert", CONFIG_PATH, NULL, "Client certificate (default: TLS_DIR/client.pem).", 0, 0 }, \
	{ "client_key", CONFIG_PATH, NULL, "Its key (default: TLS_DIR/client.key).", 0, 0 }, \
	{ "ca_cert", CONFIG_PATH, NULL, "CA of the verifier and registrar (default: TLS_DIR/ca.pem).", 0, 0 }, \
	{ "tpm_cert_store", CONFIG_PATH, "/var/lib/assay/tpm_cert_store", "TPM vendor CA certificates (PEM files) EK certificates must chain to.", 0, 0 }, \
	{ "log_level", CONFIG_STRING, "warn", "error, warn, info or debug.", 0, 0 }

static const struct config_option add_options[] = {
	COMMON,
	{ "uuid", CONFIG_STRING, NULL, "The agent to enrol.", 0, 0 },
	{ "ip", CONFIG_STRING, NULL, "Agent address (default: as registered).", 0, 0 },
	{ "port", CONFIG_INT, "0", "Agent port (default: as registered).", 0, 65535 },
	{ "file", CONFIG_PATH, NULL, "A file to deliver to the agent.", 0, 0 },
	{ "include", CONFIG_PATH, NULL, "A directory to deliver (packed as ZIP; an autorun.sh in it runs).", 0, 0 },
	{ "tpm_policy", CONFIG_STRING, "{\"mask\": \"0x0\"}", "TPM policy JSON: {\"mask\": \"0x..\", \"<pcr>\": [\"hex\", ...]}.", 0, 0 },
	{ "runtime_policy", CONFIG_PATH, NULL, "Runtime (IMA) policy JSON file.", 0, 0 },
	{ "runtime_policy_name", CONFIG_STRING, NULL, "A runtime policy stored on the verifier (or the name to store --runtime-policy under).", 0, 0 },
	{ "verify", CONFIG_BOOL, "false", "After adding, check the agent derived the bootstrap key (waits for V).", 0, 0 },
	{ "accept_any_ek", CONFIG_BOOL, "false", "Enrol even when the EK certificate is missing or chains to no CA in tpm_cert_store.", 0, 0 },
	{ NULL, 0, NULL, NULL, 0, 0 },
};

static const struct config_option uuid_options[] = {
	COMMON,
	{ "uuid", CONFIG_STRING, NULL, "The agent.", 0, 0 },
	{ "json", CONFIG_BOOL, "false", "Print JSON instead of a table.", 0, 0 },
	{ NULL, 0, NULL, NULL, 0, 0 },
};

static const struct config_option policy_options[] = {
	COMMON,
	{ "name", CONFIG_STRING, NULL, "Policy name.", 0, 0 },
	{ "file", CONFIG_PATH, NULL, "Policy JSON file (add).", 0, 0 },
	{ "kind", CONFIG_STRING, "runtime", "runtime or measured-boot.", 0, 0 },
	{ "ima_log", CONFIG_PATH, NULL, "create-runtime: an IMA ASCII measurement list.", 0, 0 },
	{ "dir", CONFIG_PATH, NULL, "create-runtime: a directory tree to hash (sha256).", 0, 0 },
	{ "exclude", CONFIG_STRING, NULL, "create-runtime: a regex of paths to leave out (also written as the policy's exclude).", 0, 0 },
	{ "output", CONFIG_PATH, NULL, "create-runtime, create-mb: write here instead of standard output.", 0, 0 },
	{ "uefi_log", CONFIG_PATH, NULL, "create-mb: a binary UEFI event log (binary_bios_measurements).", 0, 0 },
	{ "without_secureboot", CONFIG_BOOL, "false", "create-mb: accept a log with secure boot off.", 0, 0 },
	{ NULL, 0, NULL, NULL, 0, 0 },
};

static void usage(void)
{
	fputs("usage: assay COMMAND [--OPTION=VALUE]...\n\n"
	      "commands:\n"
	      "  add          enrol an agent with the verifier (as keylime_tenant -c add)\n"
	      "  status       an agent's attestation state, or all agents'\n"
	      "  list         the agents the verifier attests\n"
	      "  delete       stop attesting an agent and forget it\n"
	      "  reactivate   attest a failed or stopped agent again\n"
	      "  stop         stop attesting an agent, keeping it\n"
	      "  policy       add, show, list or delete policies; create-runtime from an\n"
	      "               IMA log or a directory, create-mb from a UEFI event log\n"
	      "  key          the key service (assay-keyd, Parsec): keys, signatures,\n"
	      "               certificate requests (parsec-tool's commands)\n\n"
	      "'assay COMMAND --help' describes each command's options.\n", stderr);
}

static int need(const struct config *cfg, const char *name)
{
	if (config_isset(cfg, name) && *config_str(cfg, name))
		return 0;
	fprintf(stderr, "assay: --%s is required\n", name);
	return -1;
}

static int id_width = 40;

static void print_status(const char *id, json_t *s)
{
	int st = (int)json_integer_value(json_object_get(s, "operational_state"));
	long long last = json_integer_value(json_object_get(s, "last_successful_attestation"));
	char when[32] = "never";
	if (last > 0) {
		time_t t = (time_t)last;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	const char *why = json_string_value(json_object_get(s, "failure_reason"));
	printf("%-*s %-20s %8lld  %-20s %s\n", id_width, id, tenant_state_name(st),
	       json_integer_value(json_object_get(s, "attestation_count")), when,
	       why ? why : "");
}

static int cmd_status(struct tenant *t, const struct config *cfg, int all)
{
	char err[512], path[400];
	json_t *res = NULL;
	int json_out = config_bool(cfg, "json");
	if (!all && !config_isset(cfg, "uuid"))
		all = 1;
	if (all)
		snprintf(path, sizeof path, "agents/?bulk=1");
	else
		snprintf(path, sizeof path, "agents/%s", config_str(cfg, "uuid"));
	if (tenant_verifier(t, "GET", path, NULL, &res, err, sizeof err) < 0) {
		fprintf(stderr, "assay: verifier: %s\n", err);
		return 1;
	}
	if (json_out) {
		char *s = json_dumps(res, JSON_INDENT(2) | JSON_SORT_KEYS);
		printf("%s\n", s ? s : "{}");
		free(s);
	} else {
		const char *k;
		json_t *val;
		id_width = all ? 5 : (int)strlen(config_str(cfg, "uuid"));
		if (all)
			json_object_foreach(res, k, val)
				if ((int)strlen(k) > id_width)
					id_width = (int)strlen(k);
		printf("%-*s %-20s %8s  %-20s %s\n", id_width, "AGENT", "STATE", "ATTESTED",
		       "LAST SUCCESS", "REASON");
		if (all) {
			const char *id;
			json_t *s;
			json_object_foreach(res, id, s)
				print_status(id, s);
		} else {
			print_status(config_str(cfg, "uuid"), res);
		}
	}
	json_decref(res);
	return 0;
}

/* delete (DELETE, no body) and stop/reactivate (PUT with an empty body,
 * as Keylime's tenant sends). */
static int cmd_simple(struct tenant *t, const struct config *cfg, const char *method,
		      const char *suffix, const char *body, const char *done)
{
	char err[512], path[400];
	if (need(cfg, "uuid") < 0)
		return 2;
	snprintf(path, sizeof path, "agents/%s%s", config_str(cfg, "uuid"), suffix);
	if (tenant_verifier(t, method, path, body, NULL, err, sizeof err) < 0) {
		fprintf(stderr, "assay: %s: %s\n", config_str(cfg, "uuid"), err);
		return 1;
	}
	printf("%s %s\n", config_str(cfg, "uuid"), done);
	return 0;
}

static int cmd_add(struct tenant *t, const struct config *cfg)
{
	char err[512];
	if (need(cfg, "uuid") < 0)
		return 2;
	if (config_isset(cfg, "file") && config_isset(cfg, "include")) {
		fprintf(stderr, "assay: --file and --include exclude each other\n");
		return 2;
	}
	struct enrolment e = {
		config_str(cfg, "uuid"),
		config_isset(cfg, "ip") ? config_str(cfg, "ip") : NULL,
		(int)config_int(cfg, "port"),
		config_isset(cfg, "file") ? config_str(cfg, "file") : NULL,
		config_isset(cfg, "include") ? config_str(cfg, "include") : NULL,
		config_str(cfg, "tpm_policy"),
		config_isset(cfg, "runtime_policy") ? config_str(cfg, "runtime_policy") : NULL,
		config_isset(cfg, "runtime_policy_name") ? config_str(cfg, "runtime_policy_name") : NULL,
		config_bool(cfg, "verify"), config_bool(cfg, "accept_any_ek"),
	};
	if (tenant_add(t, &e, err, sizeof err) < 0) {
		fprintf(stderr, "assay: add %s: %s\n", e.uuid, err);
		return 1;
	}
	printf("%s added to the verifier%s\n", e.uuid,
	       e.verify ? "; the agent derived the bootstrap key" : "");
	return 0;
}

static int cmd_policy(struct tenant *t, const struct config *cfg, const char *verb)
{
	char err[512], path[400];
	const char *kind = config_str(cfg, "kind");
	int runtime = strcmp(kind, "runtime") == 0;
	if (!runtime && strcmp(kind, "measured-boot") != 0) {
		fprintf(stderr, "assay: --kind must be runtime or measured-boot\n");
		return 2;
	}
	const char *store = runtime ? "allowlists" : "mbpolicies";
	if (strcmp(verb, "list") == 0) {
		json_t *res = NULL;
		snprintf(path, sizeof path, "%s/", store);
		if (tenant_verifier(t, "GET", path, NULL, &res, err, sizeof err) < 0) {
			fprintf(stderr, "assay: %s\n", err);
			return 1;
		}
		json_t *names = json_object_get(res, runtime ? "runtimepolicy names"
						      : "mbpolicy names");
		size_t i;
		json_t *n;
		json_array_foreach(names, i, n)
			printf("%s\n", json_string_value(n));
		json_decref(res);
		return 0;
	}
	if (need(cfg, "name") < 0)
		return 2;
	snprintf(path, sizeof path, "%s/%s", store, config_str(cfg, "name"));
	if (strcmp(verb, "show") == 0) {
		json_t *res = NULL;
		if (tenant_verifier(t, "GET", path, NULL, &res, err, sizeof err) < 0) {
			fprintf(stderr, "assay: %s\n", err);
			return 1;
		}
		const char *p = json_string_value(json_object_get(res, runtime
					? "runtime_policy" : "mb_policy"));
		printf("%s\n", p ? p : "null");
		json_decref(res);
		return 0;
	}
	if (strcmp(verb, "delete") == 0) {
		if (tenant_verifier(t, "DELETE", path, NULL, NULL, err, sizeof err) < 0) {
			fprintf(stderr, "assay: %s\n", err);
			return 1;
		}
		printf("%s deleted\n", config_str(cfg, "name"));
		return 0;
	}
	if (strcmp(verb, "add") != 0) {
		fprintf(stderr, "assay: policy: unknown action '%s' (add, show, list, "
			"delete, create-runtime, create-mb)\n", verb);
		return 2;
	}
	if (need(cfg, "file") < 0)
		return 2;
	struct buf text = BUF_INIT;
	if (file_read(config_str(cfg, "file"), 64 << 20, &text) < 0) {
		fprintf(stderr, "assay: %s: %s\n", config_str(cfg, "file"), strerror(errno));
		return 1;
	}
	char *b64 = runtime ? b64_encode_str(text.data, text.len) : NULL;
	json_t *body = runtime ? json_pack("{s:s}", "runtime_policy", b64)
			       : json_pack("{s:s}", "mb_policy", (char *)text.data);
	char *bs = json_dumps(body, JSON_COMPACT);
	int r = tenant_verifier(t, "POST", path, bs, NULL, err, sizeof err);
	free(bs);
	free(b64);
	json_decref(body);
	buf_free(&text);
	if (r < 0) {
		fprintf(stderr, "assay: %s\n", err);
		return 1;
	}
	printf("%s stored\n", config_str(cfg, "name"));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage();
		return argc < 2 ? 2 : 0;
	}
	const char *cmd = argv[1];
	const char *verb = NULL;
	if (strcmp(cmd, "key") == 0)
		return key_main(argc - 1, argv + 1);
	int shift = 1;
	const struct config_option *opts = uuid_options;
	if (strcmp(cmd, "add") == 0) {
		opts = add_options;
	} else if (strcmp(cmd, "policy") == 0) {
		opts = policy_options;
		if (argc < 3 || argv[2][0] == '-') {
			fprintf(stderr, "assay: policy: give an action: add, show, list, "
				"delete, create-runtime, create-mb\n");
			return 2;
		}
		verb = argv[2];
		shift = 2;
	} else if (strcmp(cmd, "status") && strcmp(cmd, "list") && strcmp(cmd, "delete") &&
		   strcmp(cmd, "reactivate") && strcmp(cmd, "stop")) {
		fprintf(stderr, "assay: unknown command '%s'\n", cmd);
		usage();
		return 2;
	}
	char name[64];
	snprintf(name, sizeof name, "assay %s%s%s", cmd, verb ? " " : "", verb ? verb : "");
	struct config_program prog = {
		name, "tenant", "the operator's command line for Assay and Keylime",
		"Enrols agents with the verifier and manages what it attests, speaking "
		"Keylime's registrar and verifier APIs.", "/etc/assay/tenant.toml", opts,
	};
	struct config *cfg;
	argv[shift] = argv[0];
	int started = config_start(&prog, argc - shift, argv + shift, &cfg);
	if (started != 0)
		return started < 0 ? 2 : 0;
	if (verb && (strcmp(verb, "create-runtime") == 0 || strcmp(verb, "create-mb") == 0)) {
		int r = strcmp(verb, "create-mb") == 0 ? policy_create_mb(cfg)
						       : policy_create_runtime(cfg);
		config_free(cfg);
		return r;
	}
	char err[512];
	struct tenant t;
	if (tenant_init(&t, cfg, err, sizeof err) < 0) {
		fprintf(stderr, "assay: %s\n", err);
		config_free(cfg);
		return 2;
	}
	int r;
	if (strcmp(cmd, "add") == 0)
		r = cmd_add(&t, cfg);
	else if (strcmp(cmd, "status") == 0)
		r = cmd_status(&t, cfg, 0);
	else if (strcmp(cmd, "list") == 0)
		r = cmd_status(&t, cfg, 1);
	else if (strcmp(cmd, "delete") == 0)
		r = cmd_simple(&t, cfg, "DELETE", "", NULL, "deleted");
	else if (strcmp(cmd, "reactivate") == 0)
		r = cmd_simple(&t, cfg, "PUT", "/reactivate", "", "reactivated");
	else if (strcmp(cmd, "stop") == 0)
		r = cmd_simple(&t, cfg, "PUT", "/stop", "", "stopped");
	else
		r = cmd_policy(&t, cfg, verb);
	config_free(cfg);
	return r;
}
