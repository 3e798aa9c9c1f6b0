#include "cli/policy_create.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "attest/mb_policy.h"
#include "crypto/crypto.h"
#include "util/encode.h"
#include "util/file.h"

struct creator {
	json_t *digests;
	regex_t exclude;
	int have_exclude;
	char err[PATH_MAX + 128];
};

static int add_digest(json_t *digests, const regex_t *exclude, const char *path,
		      const char *hex)
{
	if (exclude && regexec(exclude, path, 0, NULL, 0) == 0)
		return 0;
	json_t *list = json_object_get(digests, path);
	if (!list) {
		list = json_array();
		json_object_set_new(digests, path, list);
	}
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v)
		if (strcmp(json_string_value(v), hex) == 0)
			return 0;
	return json_array_append_new(list, json_string(hex));
}

/* ima-ng and ima-sig lines: "PCR template-hash template alg:hex path...";
 * other templates (keys, buffers) are not files and are passed over. */
int policy_digests_from_ima(char *text, json_t *digests, const regex_t *exclude,
			    char *err, size_t errlen)
{
	char *save = NULL;
	unsigned long line = 0;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *f[4], *rest = l;
		line++;
		for (int i = 0; i < 4; i++) {
			f[i] = strsep(&rest, " ");
			if (!f[i] || !rest) {
				snprintf(err, errlen, "line %lu: not an IMA entry", line);
				return -1;
			}
		}
		if (strcmp(f[2], "ima-ng") != 0 && strcmp(f[2], "ima-sig") != 0)
			continue;
		char *hex = strchr(f[3], ':');
		hex = hex ? hex + 1 : f[3];
		/* ima-sig: the path is followed by " signature" (maybe empty). */
		if (strcmp(f[2], "ima-sig") == 0) {
			char *sp = strrchr(rest, ' ');
			if (sp)
				*sp = 0;
		}
		size_t n = strlen(hex);
		if (n < 32 || n > 128 || n % 2 || strspn(hex, "0123456789abcdef") != n ||
		    !*rest || strlen(rest) > PATH_MAX) {
			snprintf(err, errlen, "line %lu: malformed digest or path", line);
			return -1;
		}
		add_digest(digests, exclude, rest, hex);
	}
	return 0;
}

static int from_ima_log(struct creator *c, const char *file)
{
	struct buf text = BUF_INIT;
	char why[128];
	if (file_read(file, (size_t)256 << 20, &text) < 0) {
		snprintf(c->err, sizeof c->err, "%s: %s", file, strerror(errno));
		return -1;
	}
	int r = policy_digests_from_ima((char *)text.data, c->digests,
					c->have_exclude ? &c->exclude : NULL, why, sizeof why);
	if (r < 0)
		snprintf(c->err, sizeof c->err, "%s: %s", file, why);
	buf_free(&text);
	return r;
}

static int hash_file(const char *path, char **hex)
{
	struct buf b = BUF_INIT, d = BUF_INIT;
	int r = file_read(path, (size_t)1 << 30, &b) == 0 &&
		crypto_digest(EVP_sha256(), b.data, b.len, &d) == 0 ? 0 : -1;
	if (r == 0)
		*hex = hex_encode_str(d.data, d.len);
	buf_free(&b);
	buf_free(&d);
	return r;
}

static int from_dir(struct creator *c, const char *root, const char *rel, int depth)
{
	char path[PATH_MAX];
	if (depth > 64)
		return 0;
	if (snprintf(path, sizeof path, "%s%s", root, rel) >= (int)sizeof path)
		return 0;
	DIR *d = opendir(path);
	if (!d) {
		snprintf(c->err, sizeof c->err, "%s: %s", path, strerror(errno));
		return -1;
	}
	struct dirent *e;
	int r = 0;
	while (r == 0 && (e = readdir(d))) {
		char name[PATH_MAX], full[PATH_MAX];
		struct stat st;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (snprintf(name, sizeof name, "%s/%s", rel, e->d_name) >= (int)sizeof name ||
		    snprintf(full, sizeof full, "%s%s", root, name) >= (int)sizeof full ||
		    lstat(full, &st) < 0)
			continue;
		if (c->have_exclude && regexec(&c->exclude, name, 0, NULL, 0) == 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			r = from_dir(c, root, name, depth + 1);
		} else if (S_ISREG(st.st_mode)) {
			char *hex = NULL;
			if (hash_file(full, &hex) == 0)
				add_digest(c->digests, c->have_exclude ? &c->exclude : NULL,
					   name, hex);
			free(hex);
		}
	}
	closedir(d);
	return r;
}

static int write_out(const struct config *cfg, const char *text)
{
	if (!config_isset(cfg, "output")) {
		printf("%s\n", text);
		return 0;
	}
	if (file_write_atomic(config_str(cfg, "output"), text, strlen(text), 0644) < 0) {
		fprintf(stderr, "assay: %s: %s\n", config_str(cfg, "output"), strerror(errno));
		return 1;
	}
	return 0;
}

int policy_create_runtime(const struct config *cfg)
{
	struct creator c = { json_object(), { 0 }, 0, "" };
	int has_log = config_isset(cfg, "ima_log"), has_dir = config_isset(cfg, "dir");
	int r = 1;
	if (has_log == has_dir) {
		fprintf(stderr, "assay: policy create-runtime: give --ima-log or --dir\n");
		json_decref(c.digests);
		return 2;
	}
	json_t *excludes = json_array();
	if (config_isset(cfg, "exclude")) {
		const char *re = config_str(cfg, "exclude");
		if (regcomp(&c.exclude, re, REG_EXTENDED | REG_NOSUB) != 0) {
			fprintf(stderr, "assay: --exclude: '%s' is not a regular expression\n", re);
			json_decref(c.digests);
			json_decref(excludes);
			return 2;
		}
		c.have_exclude = 1;
		json_array_append_new(excludes, json_string(re));
	}
	if (has_log ? from_ima_log(&c, config_str(cfg, "ima_log")) < 0
		    : from_dir(&c, strcmp(config_str(cfg, "dir"), "/") == 0 ? ""
			       : config_str(cfg, "dir"), "", 0) < 0) {
		fprintf(stderr, "assay: %s\n", c.err);
		goto out;
	}
	json_t *pol = json_pack("{s:{s:i, s:i}, s:i, s:O, s:O, s:{}, s:{s:[], s:s, s:n},"
				" s:{}, s:s}",
				"meta", "version", 1, "generator", 2, "release", 0,
				"digests", c.digests, "excludes", excludes, "keyrings",
				"ima", "ignored_keyrings", "log_hash_alg", "sha1", "dm_policy",
				"ima-buf", "verification-keys", "");
	char *text = json_dumps(pol, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(pol);
	if (text)
		r = write_out(cfg, text);
	free(text);
out:
	if (c.have_exclude)
		regfree(&c.exclude);
	json_decref(c.digests);
	json_decref(excludes);
	return r;
}


int policy_create_mb(const struct config *cfg)
{
	struct buf raw = BUF_INIT, out = BUF_INIT;
	struct uefi_log log;
	struct uefi_boot_state st;
	char err[512];
	int r = 1;
	memset(&log, 0, sizeof log);
	memset(&st, 0, sizeof st);
	if (!config_isset(cfg, "uefi_log")) {
		fprintf(stderr, "assay: policy create-mb: give --uefi-log\n");
		return 2;
	}
	const char *path = config_str(cfg, "uefi_log");
	if (file_read(path, (size_t)16 << 20, &raw) < 0) {
		fprintf(stderr, "assay: %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (uefi_log_parse(raw.data, raw.len, &log, err, sizeof err) < 0 ||
	    uefi_boot_state_build(&log, &st, err, sizeof err) < 0 ||
	    mb_refstate_create(&st, config_bool(cfg, "without_secureboot"), &out, err,
			       sizeof err) < 0) {
		fprintf(stderr, "assay: %s: %s\n", path, err);
		goto done;
	}
	r = write_out(cfg, (const char *)out.data);
done:
	uefi_boot_state_free(&st);
	uefi_log_free(&log);
	buf_free(&raw);
	buf_free(&out);
	return r;
}
