/* Revocation notices from a verifier: {"msg": text, "signature": b64}.
 * The signature (RSA-PSS-SHA256) must verify against the revocation
 * certificate before anything runs. The certificate is the configured one,
 * else the one the tenant delivered in the payload. Actions are programs
 * named in the configuration and in the payload's action_list; each is run
 * with the path of a file holding the message, and a failing action stops
 * the ones after it. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"
#include "crypto/crypto.h"
#include "util/encode.h"
#include "util/file.h"
#include "util/log.h"

static int run_action(struct agent *a, const char *name, const char *msg_file)
{
	char path[PATH_MAX];
	const char *dirs[] = { config_str(a->cfg, "revocation_actions_dir"),
			       a->payload_dir, NULL };
	if (strchr(name, '/') || strcmp(name, "..") == 0 || strcmp(name, ".") == 0) {
		log_warn("revocation action '%s': not a plain name; skipped", name);
		return 0;
	}
	for (int i = 0; dirs[i]; i++) {
		if (path_join(path, sizeof path, dirs[i], name) < 0 ||
		    access(path, X_OK) != 0)
			continue;
		pid_t pid = fork();
		if (pid == 0) {
			if (chdir(a->state_dir) < 0)
				_exit(126);
			execl(path, path, msg_file, (char *)NULL);
			_exit(127);
		}
		int st = 0;
		if (pid < 0 || waitpid(pid, &st, 0) < 0)
			return -1;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			log_error("revocation action %s failed (status %d)", path, st);
			return -1;
		}
		log_info("revocation action %s ran", path);
		return 0;
	}
	log_warn("revocation action '%s' not found", name);
	return 0;
}

/* Names separated by commas, spaces or newlines. */
static int run_list(struct agent *a, char *list, const char *msg_file)
{
	for (char *save = NULL, *tok = strtok_r(list, ", \t\r\n[]\"'", &save); tok;
	     tok = strtok_r(NULL, ", \t\r\n[]\"'", &save))
		if (run_action(a, tok, msg_file) < 0)
			return -1;
	return 0;
}

int agent_revocation(struct agent *a, const char *msg, const char *sig_b64,
		     char *err, size_t errlen)
{
	char cert_path[PATH_MAX], msg_file[PATH_MAX];
	struct buf sig = BUF_INIT, list = BUF_INIT;
	X509 *cert = NULL;
	int status = 400;
	if (config_isset(a->cfg, "revocation_cert"))
		snprintf(cert_path, sizeof cert_path, "%s",
			 config_str(a->cfg, "revocation_cert"));
	else if (path_join(cert_path, sizeof cert_path, a->payload_dir,
			   "RevocationNotifier-cert.crt") < 0)
		cert_path[0] = 0;
	if (!(cert = crypto_cert_load(cert_path))) {
		snprintf(err, errlen, "No revocation certificate available");
		status = 409;
		goto out;
	}
	EVP_PKEY *pub = X509_get0_pubkey(cert);
	if (b64_decode(&sig, sig_b64, strlen(sig_b64)) < 0 || !pub ||
	    crypto_rsa_pss_verify(pub, msg, strlen(msg), sig.data, sig.len) != 1) {
		log_warn("revocation notice with a bad signature ignored");
		snprintf(err, errlen, "Revocation signature does not verify");
		goto out;
	}
	log_warn("revocation notice received: %.200s", msg);
	if (path_join(msg_file, sizeof msg_file, a->state_dir, "revocation.json") < 0 ||
	    file_write_atomic(msg_file, msg, strlen(msg), 0600) < 0) {
		snprintf(err, errlen, "cannot store the notice: %s", strerror(errno));
		status = 500;
		goto out;
	}
	char *actions = strdup(config_isset(a->cfg, "revocation_actions")
			       ? config_str(a->cfg, "revocation_actions") : "");
	char list_path[PATH_MAX];
	int r = actions ? run_list(a, actions, msg_file) : -1;
	free(actions);
	if (r == 0 && path_join(list_path, sizeof list_path, a->payload_dir,
				"action_list") == 0 &&
	    file_read(list_path, 65536, &list) == 0)
		r = run_list(a, (char *)list.data, msg_file);
	unlink(msg_file);
	status = 200;
	if (r < 0)
		log_error("revocation actions stopped at a failing action");
out:
	X509_free(cert);
	buf_free(&sig);
	buf_free(&list);
	return status;
}
