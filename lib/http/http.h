/* http: the HTTP(S) server and client every Keylime-facing program uses.
 *
 * Server: libevent's evhttp on one event loop, TLS through OpenSSL
 * bufferevents, optional mutual TLS. Handlers run synchronously on the loop
 * and fill in a response; request bodies are bounded by max_body before a
 * handler ever sees them (larger ones get 413 from evhttp).
 *
 * Client: evhttp too, blocking (its own short event loop per fetch), with a
 * bounded response size and a timeout. The first fetch sets SIGPIPE to be
 * ignored: a peer closing mid-write must be an error, not a dead process. */
#ifndef ASSAY_HTTP_HTTP_H
#define ASSAY_HTTP_HTTP_H

#include <event2/event.h>
#include <jansson.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct http_tls {
	const char *cert_file;	/* server (or client) certificate, PEM */
	const char *key_file;	/* its private key, PEM, mode 0600 */
	const char *ca_file;	/* peers must chain to this; NULL: no peer check */
};

#define HTTP_MAX_SEGMENTS 8

struct http_request {
	const char *method;	/* "GET", "POST", ... */
	const char *path;	/* without the query */
	const char *query;	/* raw query string, or NULL */
	const uint8_t *body;	/* NUL-terminated for convenience */
	size_t body_len;
	X509 *peer;		/* verified client certificate, or NULL */
	const char *remote_ip;
	/* The path split at '/', percent-decoded; a leading "/vX.Y" is taken
	 * out into version. */
	char version[16];
	int n_segments;
	char *segments[HTTP_MAX_SEGMENTS];
	void *priv;		/* the server's own per-request state */
};

struct http_response {
	int status;
	const char *content_type;
	struct buf body;
};

typedef void (*http_handler_fn)(struct http_request *req,
				struct http_response *resp, void *arg);

struct http_server_config {
	const char *address;	/* "127.0.0.1", "0.0.0.0", "::" */
	int port;		/* 0 picks a free port; see http_server_port */
	const struct http_tls *tls;	/* NULL: plain HTTP */
	size_t max_body;
	int timeout_seconds;
	http_handler_fn handler;
	void *arg;
};

struct http_server;

struct http_server *http_server_start(struct event_base *base,
				      const struct http_server_config *cfg,
				      char *err, size_t errlen);
int http_server_port(const struct http_server *srv);
void http_server_free(struct http_server *srv);

/* Query parameter lookup; returns NULL when absent. The result is valid
 * until the handler returns. */
const char *http_query(struct http_request *req, const char *name);

/* Keylime's reply envelope: {"code": N, "status": "...", "results": {...}}.
 * Steals the reference to results (NULL gives an empty object). */
void http_reply(struct http_response *resp, int code, const char *status,
		json_t *results);

/* Parses the request body as a JSON object. On failure replies 400 with a
 * precise message and returns NULL. */
json_t *http_body_json(struct http_request *req, struct http_response *resp);

struct http_client_config {
	const struct http_tls *tls;	/* NULL: plain HTTP */
	int verify_host;	/* check the server name against its certificate */
	long timeout_ms;
	size_t max_response;
};

/* Sends one request. Returns the HTTP status, or -1 with err set when no
 * response came (connection refused, TLS failure, timeout, too large). */
int http_fetch(const struct http_client_config *cfg, const char *method,
	       const char *url, const void *body, size_t body_len,
	       struct buf *response, char *err, size_t errlen);

#endif
