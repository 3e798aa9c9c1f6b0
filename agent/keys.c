#define _XOPEN_SOURCE 700 /* nftw */
/* The bootstrap key K = U xor V. The tenant sends U (with auth_tag and the
 * encrypted payload), the verifier sends V after the first good quote. Each
 * arriving half is tried against every waiting half of the other kind; the
 * pair whose HMAC-SHA384(K, uuid) equals the auth_tag wins. Then the
 * payload is decrypted into the private payload directory, unpacked when it
 * is a ZIP archive, and its autorun script started. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "crypto/crypto.h"
#include "util/file.h"
#include "util/log.h"
#include "util/secure.h"
#include "util/zip.h"

static int remove_entry(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* Clears the previous payload; FTW_PHYS: links are removed, not followed. */
static int remove_tree(const char *path)
{
	if (access(path, F_OK) != 0)
		return 0;
	return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void run_autorun(struct agent *a)
{
	const char *script = config_str(a->cfg, "payload_script");
	char path[PATH_MAX];
	if (!script || !*script)
		return;
	if (path_join(path, sizeof path, a->payload_dir, script) < 0 ||
	    access(path, F_OK) != 0)
		return;
	chmod(path, 0700);
	pid_t pid = fork();
	if (pid == 0) {
		if (chdir(a->payload_dir) < 0)
			_exit(126);
		signal(SIGPIPE, SIG_DFL);
		execl("/bin/sh", "sh", path, (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		log_error("cannot start %s: %s", path, strerror(errno));
	else
		log_info("started payload script %s (pid %d)", script, (int)pid);
}

/* Archives carry no trustworthy modes: the scripts the payload names as
 * revocation actions (action_list) are made executable, nothing else. */
static void make_actions_executable(struct agent *a)
{
	char path[PATH_MAX];
	struct buf list = BUF_INIT;
	if (path_join(path, sizeof path, a->payload_dir, "action_list") < 0 ||
	    file_read(path, 65536, &list) < 0) {
		buf_free(&list);
		return;
	}
	char *save = NULL;
	for (char *tok = strtok_r((char *)list.data, ", \t\r\n", &save); tok;
	     tok = strtok_r(NULL, ", \t\r\n", &save)) {
		if (!strchr(tok, '/') &&
		    path_join(path, sizeof path, a->payload_dir, tok) == 0)
			chmod(path, 0700);
	}
	buf_free(&list);
}

static int deliver(struct agent *a, const uint8_t *payload, size_t len,
		   char *err, size_t errlen)
{
	struct buf plain = BUF_INIT;
	char path[PATH_MAX];
	int r = -1;
	remove_tree(a->payload_dir);
	if (file_mkdirs(a->payload_dir, 0700) < 0) {
		snprintf(err, errlen, "%s: %s", a->payload_dir, strerror(errno));
		return -1;
	}
	if (path_join(path, sizeof path, a->payload_dir, "derived_tci_key") < 0 ||
	    file_write_atomic(path, a->k, sizeof a->k, 0600) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!len)
		return 0;
	if (crypto_aes_gcm_decrypt(a->k, payload, len, &plain) < 0) {
		snprintf(err, errlen, "payload does not decrypt with the derived key");
		goto out;
	}
	if (path_join(path, sizeof path, a->payload_dir, "decrypted_payload") < 0 ||
	    file_write_atomic(path, plain.data, plain.len, 0600) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (config_bool(a->cfg, "extract_payload_zip") &&
	    zip_is_archive(plain.data, plain.len) &&
	    zip_extract(plain.data, plain.len, a->payload_dir, err, errlen) < 0)
		goto out;
	make_actions_executable(a);
	log_info("payload of %zu bytes delivered to %s", plain.len, a->payload_dir);
	run_autorun(a);
	r = 0;
out:
	buf_free(&plain);
	return r;
}

/* Tries U[i] xor V[j]; on a match keeps K, forgets every half, delivers. */
static int try_pair(struct agent *a, int i, int j, char *err, size_t errlen)
{
	uint8_t k[AGENT_KEY_LEN];
	struct buf mac = BUF_INIT;
	for (int b = 0; b < AGENT_KEY_LEN; b++)
		k[b] = a->u[i][b] ^ a->v[j][b];
	int ok = crypto_hmac(EVP_sha384(), k, sizeof k, a->uuid, strlen(a->uuid),
			     &mac) == 0 && mac.len == 48 &&
		 secure_equal(mac.data, a->auth_tag[i], 48);
	buf_free(&mac);
	if (!ok) {
		secure_wipe(k, sizeof k);
		return 0;
	}
	memcpy(a->k, k, sizeof k);
	secure_wipe(k, sizeof k);
	a->have_k = 1;
	struct buf payload = a->payload[i];
	a->payload[i] = (struct buf)BUF_INIT;
	for (int x = 0; x < a->n_u; x++)
		buf_free(&a->payload[x]);
	secure_wipe(a->u, sizeof a->u);
	secure_wipe(a->v, sizeof a->v);
	a->n_u = a->n_v = 0;
	log_info("bootstrap key derived");
	int r = deliver(a, payload.data, payload.len, err, errlen);
	buf_free(&payload);
	return r < 0 ? -1 : 1;
}

int agent_add_half(struct agent *a, int is_u, const uint8_t half[AGENT_KEY_LEN],
		   const uint8_t *auth_tag, const uint8_t *payload,
		   size_t payload_len, char *err, size_t errlen)
{
	/* A full list drops its oldest half: a flood of bogus halves can delay
	 * but not block a real pair, which is always tried on arrival. */
	if (is_u) {
		if (a->n_u == AGENT_HALVES_MAX) {
			buf_free(&a->payload[0]);
			memmove(a->u[0], a->u[1], sizeof a->u[0] * (AGENT_HALVES_MAX - 1));
			memmove(a->auth_tag[0], a->auth_tag[1],
				sizeof a->auth_tag[0] * (AGENT_HALVES_MAX - 1));
			memmove(&a->payload[0], &a->payload[1],
				sizeof a->payload[0] * (AGENT_HALVES_MAX - 1));
			a->payload[AGENT_HALVES_MAX - 1] = (struct buf)BUF_INIT;
			a->n_u--;
		}
		int i = a->n_u++;
		memcpy(a->u[i], half, AGENT_KEY_LEN);
		memcpy(a->auth_tag[i], auth_tag, 48);
		buf_append(&a->payload[i], payload, payload_len);
		for (int j = 0; j < a->n_v; j++) {
			int r = try_pair(a, i, j, err, errlen);
			if (r)
				return r < 0 ? -1 : 0;
		}
	} else {
		if (a->n_v == AGENT_HALVES_MAX) {
			memmove(a->v[0], a->v[1], sizeof a->v[0] * (AGENT_HALVES_MAX - 1));
			a->n_v--;
		}
		int j = a->n_v++;
		memcpy(a->v[j], half, AGENT_KEY_LEN);
		for (int i = 0; i < a->n_u; i++) {
			int r = try_pair(a, i, j, err, errlen);
			if (r)
				return r < 0 ? -1 : 0;
		}
	}
	return 0;
}
