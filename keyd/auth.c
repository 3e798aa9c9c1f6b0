#include "keyd/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "keyd/jwt.h"
#include "parsec/wire.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"

static const char *const names[5] = {
	[PARSEC_AUTH_NONE] = "none",
	[PARSEC_AUTH_DIRECT] = "direct",
	[PARSEC_AUTH_JWT] = "jwt",
	[PARSEC_AUTH_UNIX_PEER] = "unix-peer-credentials",
	[PARSEC_AUTH_JWT_SVID] = "jwt-svid",
};

const char *auth_type_name(uint8_t type)
{
	return type < 5 ? names[type] : "unknown";
}

/* Splits a comma-separated list, trimming spaces; calls fn per item. */
static int each_item(const char *list, int (*fn)(const char *item, void *arg), void *arg)
{
	char *copy = strdup(list ? list : ""), *save = NULL;
	int r = 0;
	if (!copy)
		return -1;
	for (char *t = strtok_r(copy, ",", &save); t && r == 0; t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ' || *t == '\t')
			t++;
		size_t n = strlen(t);
		while (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
			t[--n] = 0;
		if (*t)
			r = fn(t, arg);
	}
	free(copy);
	return r;
}

struct loading {
	struct auth *a;
	char *err;
	size_t errlen;
};

static int enable(const char *item, void *arg)
{
	struct loading *l = arg;
	for (uint8_t t = 1; t < 5; t++) {
		if (t == PARSEC_AUTH_JWT || strcmp(item, names[t]) != 0)
			continue;
		if (l->a->enabled[t]) {
			error_set(l->err, l->errlen, "authenticators: %s is listed twice", item);
			return -1;
		}
		l->a->enabled[t] = 1;
		l->a->order[l->a->n_order++] = t;
		return 0;
	}
	error_set(l->err, l->errlen, "authenticators: unknown authenticator '%.64s' (use "
		  "direct, unix-peer-credentials or jwt-svid)", item);
	return -1;
}

static int add_admin(const char *item, void *arg)
{
	struct loading *l = arg;
	char **p = realloc(l->a->admins, (size_t)(l->a->n_admins + 1) * sizeof *p);
	if (!p || strlen(item) > AUTH_NAME_MAX)
		return -1;
	l->a->admins = p;
	if (!(p[l->a->n_admins] = strdup(item)))
		return -1;
	l->a->n_admins++;
	return 0;
}

int auth_load(struct auth *a, const struct config *cfg, char *err, size_t errlen)
{
	struct loading l = { a, err, errlen };
	memset(a, 0, sizeof *a);
	if (each_item(config_str(cfg, "authenticators"), enable, &l) < 0)
		goto fail;
	if (!a->n_order) {
		error_set(err, errlen, "authenticators: at least one is needed");
		goto fail;
	}
	if (config_isset(cfg, "admins") && each_item(config_str(cfg, "admins"), add_admin, &l) < 0) {
		error_set(err, errlen, "admins: out of memory or a name over %d bytes",
			  AUTH_NAME_MAX);
		goto fail;
	}
	if (a->enabled[PARSEC_AUTH_JWT_SVID]) {
		char why[256];
		struct buf b = BUF_INIT;
		const char *path = config_isset(cfg, "jwt_svid_bundle")
				   ? config_str(cfg, "jwt_svid_bundle") : NULL;
		if (!path) {
			error_set(err, errlen, "jwt-svid: jwt_svid_bundle (a JWKS file) is required");
			goto fail;
		}
		if (file_read(path, 1 << 20, &b) < 0) {
			error_set(err, errlen, "jwt_svid_bundle: cannot read %s", path);
			goto fail;
		}
		a->jwks = jwt_keys_parse((const char *)b.data, b.len, why, sizeof why);
		buf_free(&b);
		if (!a->jwks) {
			error_set(err, errlen, "jwt_svid_bundle %s: %s", path, why);
			goto fail;
		}
		a->audience = strdup(config_str(cfg, "jwt_svid_audience"));
	}
	return 0;
fail:
	auth_free(a);
	return -1;
}

void auth_free(struct auth *a)
{
	for (int i = 0; i < a->n_admins; i++)
		free(a->admins[i]);
	free(a->admins);
	jwt_keys_free(a->jwks);
	free(a->audience);
	memset(a, 0, sizeof *a);
}

static int valid_utf8_name(const uint8_t *p, size_t n)
{
	if (n == 0 || n > AUTH_DIRECT_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n;) {
		uint8_t c = p[i];
		size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
			   : (c & 0xF8) == 0xF0 ? 4 : 0;
		if (!len || i + len > n || (len == 1 && c < 0x20) || c == 0x7f)
			return 0;
		for (size_t k = 1; k < len; k++)
			if ((p[i + k] & 0xC0) != 0x80)
				return 0;
		i += len;
	}
	return 1;
}

int auth_identify(const struct auth *a, uint8_t auth_type, const uint8_t *bytes,
		  size_t n, uid_t peer_uid, int have_peer, struct identity *id)
{
	memset(id, 0, sizeof *id);
	if (auth_type == PARSEC_AUTH_NONE)
		return PARSEC_SUCCESS;
	if (auth_type > PARSEC_AUTH_JWT_SVID)
		return PARSEC_AUTHENTICATOR_DOES_NOT_EXIST;
	if (!a->enabled[auth_type])
		return PARSEC_AUTHENTICATOR_NOT_REGISTERED;
	id->auth = auth_type;
	switch (auth_type) {
	case PARSEC_AUTH_DIRECT:
		if (!valid_utf8_name(bytes, n))
			return PARSEC_AUTHENTICATION_ERROR;
		memcpy(id->app, bytes, n);
		break;
	case PARSEC_AUTH_UNIX_PEER: {
		if (n != 4 || !have_peer)
			return PARSEC_AUTHENTICATION_ERROR;
		uint32_t uid = (uint32_t)bytes[0] | (uint32_t)bytes[1] << 8 |
			       (uint32_t)bytes[2] << 16 | (uint32_t)bytes[3] << 24;
		if (uid != (uint32_t)peer_uid)
			return PARSEC_AUTHENTICATION_ERROR;
		snprintf(id->app, sizeof id->app, "%u", uid);
		break;
	}
	case PARSEC_AUTH_JWT_SVID: {
		char why[160];
		if (jwt_svid_verify(a->jwks, (const char *)bytes, n, a->audience,
				    (long long)time(NULL), 30, id->app, sizeof id->app,
				    why, sizeof why) < 0) {
			log_debug("jwt-svid refused: %s", why);
			return PARSEC_AUTHENTICATION_ERROR;
		}
		break;
	}
	default:
		return PARSEC_AUTHENTICATOR_NOT_REGISTERED;
	}
	for (int i = 0; i < a->n_admins; i++)
		if (strcmp(a->admins[i], id->app) == 0)
			id->admin = 1;
	return PARSEC_SUCCESS;
}
