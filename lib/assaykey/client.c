/* libassaykey: the client, one connection per request, and the checks
 * every response passes before its body is believed (see assay/key.h). */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "assaykey/internal.h"
#include "parsec/wire.h"
#include "util/secure.h"

#include "list_providers.pb-c.h"

int assaykey_fail(struct assay_key_client *c, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
	return status;
}

const char *assay_key_status_name(int status)
{
	return parsec_status_name(status);
}

const char *assay_key_status_str(int status)
{
	return parsec_status_str(status);
}

const char *assay_key_opcode_name(uint32_t opcode)
{
	return parsec_opcode_name(opcode);
}

void assay_key_free(void *p)
{
	free(p);
}

void assay_key_free_secret(void *p, size_t n)
{
	if (p)
		secure_wipe(p, n);
	free(p);
}

/* ---- the client ---- */

static int set_path(struct assay_key_client *c, const char *path)
{
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof c->path)
		return -1;
	memcpy(c->path, path, n + 1);
	return 0;
}

/* PARSEC_SERVICE_ENDPOINT is a URI: unix:/path (or unix:///path). */
static void endpoint_from_env(struct assay_key_client *c)
{
	const char *e = getenv("PARSEC_SERVICE_ENDPOINT");
	if (!e || !*e)
		return;
	const char *path = strncmp(e, "unix:", 5) == 0 ? e + 5 : NULL;
	if (path && strncmp(path, "//", 2) == 0)
		path += 2;
	if (!path || *path != '/' || set_path(c, path) < 0)
		snprintf(c->endpoint_err, sizeof c->endpoint_err,
			 "PARSEC_SERVICE_ENDPOINT: '%.120s' is not unix:/PATH (a Unix socket)", e);
}

struct assay_key_client *assay_key_client_new(void)
{
	struct assay_key_client *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	set_path(c, ASSAYKEY_DEFAULT_ENDPOINT);
	endpoint_from_env(c);
	c->auth_mode = ASSAYKEY_AUTH_UNIX;
	c->provider = -1;
	c->timeout_ms = ASSAYKEY_DEFAULT_TIMEOUT_MS;
	return c;
}

void assay_key_client_free(struct assay_key_client *c)
{
	if (!c)
		return;
	buf_free(&c->auth);	/* wipes: tokens are credentials */
	free(c);
}

int assay_key_client_set_endpoint(struct assay_key_client *c, const char *path)
{
	if (!path || set_path(c, path) < 0)
		return assaykey_fail(c, ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT,
				     "the endpoint is not a Unix socket path of 1 to %zu bytes",
				     sizeof c->path - 1);
	c->endpoint_err[0] = 0;
	return ASSAY_KEY_OK;
}

static int set_auth(struct assay_key_client *c, enum assaykey_auth_mode mode, uint8_t type,
		    const void *p, size_t n)
{
	if (n > UINT16_MAX || (n && !p))
		return assaykey_fail(c, ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT,
				     "authentication data of %zu bytes: the wire carries at most "
				     "65535", n);
	struct buf b = BUF_INIT;
	if (n && buf_append(&b, p, n) < 0)
		return assaykey_fail(c, ASSAY_KEY_PSA_ERR_INSUFFICIENT_MEMORY, "out of memory");
	buf_free(&c->auth);
	c->auth = b;
	c->auth_mode = mode;
	c->raw_type = type;
	return ASSAY_KEY_OK;
}

int assay_key_client_set_direct(struct assay_key_client *c, const char *app_name)
{
	if (!app_name || !*app_name)
		return assaykey_fail(c, ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT,
				     "direct authentication needs an application name");
	return set_auth(c, ASSAYKEY_AUTH_DIRECT, ASSAY_KEY_AUTH_DIRECT, app_name,
			strlen(app_name));
}

int assay_key_client_set_unix(struct assay_key_client *c)
{
	return set_auth(c, ASSAYKEY_AUTH_UNIX, ASSAY_KEY_AUTH_UNIX_PEER, NULL, 0);
}

int assay_key_client_set_jwt_svid(struct assay_key_client *c, const char *token)
{
	if (!token || !*token)
		return assaykey_fail(c, ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT,
				     "JWT-SVID authentication needs a token");
	return set_auth(c, ASSAYKEY_AUTH_JWT_SVID, ASSAY_KEY_AUTH_JWT_SVID, token,
			strlen(token));
}

int assay_key_client_set_no_auth(struct assay_key_client *c)
{
	return set_auth(c, ASSAYKEY_AUTH_NONE, ASSAY_KEY_AUTH_NONE, NULL, 0);
}

int assay_key_client_set_auth_raw(struct assay_key_client *c, uint8_t auth_type,
				  const void *data, size_t len)
{
	return set_auth(c, ASSAYKEY_AUTH_RAW, auth_type, data, len);
}

int assay_key_client_set_provider(struct assay_key_client *c, uint8_t id)
{
	if (id == ASSAY_KEY_PROVIDER_CORE)
		return assaykey_fail(c, ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT,
				     "the core provider (0) does no key operations");
	c->provider = id;
	return ASSAY_KEY_OK;
}

void assay_key_client_set_timeout_ms(struct assay_key_client *c, unsigned int ms)
{
	c->timeout_ms = ms;
}

const char *assay_key_client_last_error(const struct assay_key_client *c)
{
	return c->err;
}

/* The first provider the service lists that is not the core one. */
static int lookup_provider(struct assay_key_client *c)
{
	ListProviders__Result *res = NULL;
	int st = assaykey_call(c, PARSEC_LIST_PROVIDERS, NULL, &list_providers__result__descriptor,
			       (ProtobufCMessage **)&res);
	if (st != ASSAY_KEY_OK)
		return st;
	for (size_t i = 0; i < res->n_providers && c->provider < 0; i++)
		if (res->providers[i]->id != ASSAY_KEY_PROVIDER_CORE &&
		    res->providers[i]->id <= 0xff)
			c->provider = (int)res->providers[i]->id;
	list_providers__result__free_unpacked(res, NULL);
	if (c->provider < 0)
		return assaykey_fail(c, ASSAY_KEY_PROVIDER_NOT_REGISTERED,
				     "the service lists no provider but the core one");
	return ASSAY_KEY_OK;
}

int assay_key_client_provider(struct assay_key_client *c, uint8_t *id)
{
	c->err[0] = 0;
	int st = c->provider < 0 ? lookup_provider(c) : ASSAY_KEY_OK;
	*id = st == ASSAY_KEY_OK ? (uint8_t)c->provider : 0;
	return st;
}

/* ---- one exchange on one connection ---- */

enum io_end { IO_DONE, IO_EOF, IO_TIMEOUT, IO_ERROR };

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for fd to be ready for events before the deadline (0: none). */
static enum io_end wait_for(int fd, short events, long long deadline)
{
	for (;;) {
		int ms = -1;
		if (deadline) {
			long long left = deadline - now_ms();
			if (left <= 0)
				return IO_TIMEOUT;
			ms = left > 60000 ? 60000 : (int)left;
		}
		struct pollfd p = { fd, events, 0 };
		int r = poll(&p, 1, ms);
		if (r > 0)
			return IO_DONE;
		if (r < 0 && errno != EINTR)
			return IO_ERROR;
	}
}

static enum io_end send_all(int fd, const uint8_t *p, size_t n, long long deadline)
{
	/* The send is tried first: a fresh connection has room for a whole
	 * request, so waiting is the exception. */
	while (n) {
		ssize_t r = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
			continue;
		}
		if (r == 0 || (errno != EINTR && errno != EAGAIN))
			return IO_ERROR;
		enum io_end w = wait_for(fd, POLLOUT, deadline);
		if (w != IO_DONE)
			return w;
	}
	return IO_DONE;
}

/* Reads n bytes; *got says how many arrived. */
static enum io_end recv_all(int fd, uint8_t *p, size_t n, long long deadline, size_t *got)
{
	*got = 0;
	while (*got < n) {
		enum io_end w = wait_for(fd, POLLIN, deadline);
		if (w != IO_DONE)
			return w;
		ssize_t r = recv(fd, p + *got, n - *got, MSG_DONTWAIT);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			return IO_ERROR;
		if (r == 0)
			return IO_EOF;
		*got += (size_t)r;
	}
	return IO_DONE;
}

/* A connected socket, or -1 with the reason recorded. */
static int connect_to(struct assay_key_client *c)
{
	if (c->endpoint_err[0])
		return assaykey_fail(c, -1, "%s", c->endpoint_err);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return assaykey_fail(c, -1, "socket: %s", strerror(errno));
	if (c->timeout_ms) {
		/* connect() waits when the service's backlog is full. */
		struct timeval tv = { (time_t)(c->timeout_ms / 1000),
				      (suseconds_t)(c->timeout_ms % 1000) * 1000 };
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	}
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, c->path, sizeof sa.sun_path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		close(fd);
		return assaykey_fail(c, -1, "connect %s: %s", c->path, strerror(e));
	}
	return fd;
}

static int io_fail(struct assay_key_client *c, enum io_end why, int err, const char *what)
{
	if (why == IO_TIMEOUT)
		return assaykey_fail(c, ASSAY_KEY_CONNECTION_ERROR, "%s %s: the timeout of %u ms "
				     "passed", what, c->path, c->timeout_ms);
	if (why == IO_EOF)
		return assaykey_fail(c, ASSAY_KEY_CONNECTION_ERROR, "%s %s: the service closed "
				     "the connection", what, c->path);
	return assaykey_fail(c, ASSAY_KEY_CONNECTION_ERROR, "%s %s: %s", what, c->path,
			     strerror(err));
}

/* The header's fields, checked; the body read. Returns the status to
 * report (ASSAY_KEY_OK to go on and decode the body). */
static int read_response(struct assay_key_client *c, int fd, long long deadline,
			 const struct parsec_header *req, struct buf *body, int sent, int send_err)
{
	uint8_t hdr[PARSEC_HEADER_SIZE];
	size_t got;
	enum io_end e = recv_all(fd, hdr, sizeof hdr, deadline, &got);
	if (e != IO_DONE) {
		int err = errno;
		if (!sent)	/* the service stopped reading: why? */
			return io_fail(c, IO_ERROR, send_err, "send to");
		if (e == IO_EOF && got)
			return assaykey_fail(c, ASSAY_KEY_CONNECTION_ERROR, "the response header "
					     "was cut short: %zu of %d bytes arrived", got,
					     PARSEC_HEADER_SIZE);
		return io_fail(c, e, err, "receive from");
	}
	struct parsec_header h;
	int st = parsec_header_read(hdr, &h);
	if (st == PARSEC_WIRE_PROTOCOL_VERSION_NOT_SUPPORTED)
		return assaykey_fail(c, ASSAY_KEY_INVALID_ENCODING, "the response is of wire "
				     "protocol %u.%u, not 1.0", hdr[6], hdr[7]);
	if (st != PARSEC_SUCCESS)
		return assaykey_fail(c, ASSAY_KEY_INVALID_ENCODING, "the response header is "
				     "malformed (magic %02x%02x%02x%02x, header size %u, reserved "
				     "%02x%02x)", hdr[3], hdr[2], hdr[1], hdr[0],
				     hdr[4] | hdr[5] << 8, hdr[34], hdr[35]);
	if (h.body_len > ASSAYKEY_RESPONSE_MAX)
		return assaykey_fail(c, ASSAY_KEY_RESPONSE_TOO_LARGE, "the response announces "
				     "a body of %u bytes, more than the %u accepted", h.body_len,
				     ASSAYKEY_RESPONSE_MAX);
	buf_reset(body);
	if (h.body_len && buf_reserve(body, h.body_len) < 0)
		return assaykey_fail(c, ASSAY_KEY_PSA_ERR_INSUFFICIENT_MEMORY, "out of memory");
	e = recv_all(fd, body->data, h.body_len, deadline, &got);
	body->len = got;
	if (body->data)
		body->data[got] = 0;
	if (e == IO_EOF)
		return assaykey_fail(c, ASSAY_KEY_CONNECTION_ERROR, "the response was cut short: "
				     "its header announces %u body bytes, %zu arrived", h.body_len,
				     got);
	if (e != IO_DONE)
		return io_fail(c, e, errno, "receive from");
	uint8_t extra;
	if (recv(fd, &extra, 1, MSG_DONTWAIT) == 1)
		return assaykey_fail(c, ASSAY_KEY_INVALID_ENCODING, "bytes follow the %u-byte "
				     "body its header announces", h.body_len);
	/* A request the service could not read is answered as Ping from the
	 * core provider: its status is the answer. */
	if (h.status != 0 && h.opcode == PARSEC_PING && h.provider == 0)
		return h.status;
	if (h.opcode != req->opcode)
		return assaykey_fail(c, ASSAY_KEY_INVALID_ENCODING, "the response is for opcode "
				     "0x%02x (%s), not 0x%02x (%s)", h.opcode,
				     parsec_opcode_name(h.opcode), req->opcode,
				     parsec_opcode_name(req->opcode));
	if (h.provider != req->provider)
		return assaykey_fail(c, ASSAY_KEY_INVALID_ENCODING, "the response is from "
				     "provider %u, not %u", h.provider, req->provider);
	if (h.content_type != 0)
		return assaykey_fail(c, ASSAY_KEY_INVALID_ENCODING, "the response body is of "
				     "content type %u, not protobuf", h.content_type);
	return h.status;
}

/* Operations that need no identity go without authentication, as
 * Parsec's tool sends them (and then work before any authenticator is
 * set up). */
static int goes_without_auth(uint32_t op)
{
	return op == PARSEC_PING || op == PARSEC_LIST_PROVIDERS || op == PARSEC_LIST_OPCODES ||
	       op == PARSEC_LIST_AUTHENTICATORS;
}

static void auth_of(const struct assay_key_client *c, uint32_t opcode, uint8_t *type,
		    const uint8_t **p, size_t *n, uint8_t uid[4])
{
	*type = ASSAY_KEY_AUTH_NONE;
	*p = NULL;
	*n = 0;
	if (c->auth_mode != ASSAYKEY_AUTH_RAW && goes_without_auth(opcode))
		return;
	switch (c->auth_mode) {
	case ASSAYKEY_AUTH_UNIX: {
		/* The service compares it with the connection's SO_PEERCRED
		 * uid, which is the effective one. */
		uid_t u = geteuid();
		for (int i = 0; i < 4; i++)
			uid[i] = (uint8_t)((uint32_t)u >> (8 * i));
		*type = ASSAY_KEY_AUTH_UNIX_PEER;
		*p = uid;
		*n = 4;
		return;
	}
	case ASSAYKEY_AUTH_NONE:
		return;
	default:
		*type = c->raw_type;
		*p = c->auth.data;
		*n = c->auth.len;
		return;
	}
}

static int pack(struct assay_key_client *c, const ProtobufCMessage *op, struct buf *body)
{
	if (!op)
		return ASSAY_KEY_OK;
	size_t n = protobuf_c_message_get_packed_size(op);
	if (n > UINT32_MAX)
		return assaykey_fail(c, ASSAY_KEY_PSA_ERR_INVALID_ARGUMENT,
				     "the request body of %zu bytes is too large", n);
	if (n == 0)
		return ASSAY_KEY_OK;
	if (buf_reserve(body, n) < 0)
		return assaykey_fail(c, ASSAY_KEY_PSA_ERR_INSUFFICIENT_MEMORY, "out of memory");
	body->len = protobuf_c_message_pack(op, body->data);
	body->data[body->len] = 0;
	return ASSAY_KEY_OK;
}

static int exchange(struct assay_key_client *c, const struct parsec_header *h,
		    const struct buf *req, struct buf *body)
{
	int fd = connect_to(c);
	if (fd < 0)
		return ASSAY_KEY_CONNECTION_ERROR;
	long long deadline = c->timeout_ms ? now_ms() + c->timeout_ms : 0;
	enum io_end e = send_all(fd, req->data, req->len, deadline);
	int send_err = errno;
	if (e == IO_TIMEOUT) {
		close(fd);
		return io_fail(c, e, 0, "send to");
	}
	/* A service that refuses a request after its header (too large, say)
	 * answers and closes without reading the rest: read the answer even
	 * when sending failed. */
	int st = read_response(c, fd, deadline, h, body, e == IO_DONE, send_err);
	close(fd);
	return st;
}

int assaykey_call(struct assay_key_client *c, uint32_t opcode, const ProtobufCMessage *op,
		  const ProtobufCMessageDescriptor *rd, ProtobufCMessage **res)
{
	struct parsec_header h = { 0 };
	struct buf body = BUF_INIT, req = BUF_INIT, resp = BUF_INIT;
	uint8_t uid[4];
	const uint8_t *auth;
	size_t auth_len;
	int st;

	*res = NULL;
	c->err[0] = 0;
	if (!parsec_opcode_is_core(opcode) && c->provider < 0 &&
	    (st = lookup_provider(c)) != ASSAY_KEY_OK)
		return st;
	h.provider = parsec_opcode_is_core(opcode) ? 0 : (uint8_t)c->provider;
	h.opcode = opcode;
	auth_of(c, opcode, &h.auth_type, &auth, &auth_len, uid);
	st = pack(c, op, &body);
	if (st == ASSAY_KEY_OK) {
		parsec_message(&req, &h, body.data, body.len, auth, auth_len);
		/* Whole or not at all: a header sent without the body it
		 * announces would end in a misleading timeout. */
		if (req.len != PARSEC_HEADER_SIZE + body.len + auth_len)
			st = assaykey_fail(c, ASSAY_KEY_PSA_ERR_INSUFFICIENT_MEMORY, "out of memory");
	}
	/* Requests and responses may hold keys and plaintexts: buf_free
	 * wipes them. */
	buf_free(&body);
	if (st == ASSAY_KEY_OK)
		st = exchange(c, &h, &req, &resp);
	buf_free(&req);
	if (st == ASSAY_KEY_OK) {
		*res = protobuf_c_message_unpack(rd, NULL, resp.len, resp.data);
		if (!*res)
			st = assaykey_fail(c, ASSAY_KEY_INVALID_ENCODING, "the %s result does not "
					   "decode", parsec_opcode_name(opcode));
	}
	buf_free(&resp);
	secure_wipe(uid, sizeof uid);
	return st;
}
