/* http: the HTTP(S) server and client every Keylime-facing program uses.
 *
 * Server: libevent's evhttp on one event loop, TLS through OpenSSL
 * bufferevents, optional mutual TLS. Handlers run synchronously on the loop
 * and fill in a response; request bodies are bounded by max_body before a
 * handler ever sees them (larger ones get 413 from evhttp).
 *
 * Client: evhttp too, asynchronous with connection reuse and pinned peer
 * certificates, or blocking (http_fetch). The first client sets SIGPIPE to
 * be ignored: a peer closing mid-write must be an error, not death. */
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

/* An asynchronous client on an event loop, keeping one connection per
 * peer for reuse. tls (may be NULL for plain HTTP only) gives our client
 * certificate and the CA peers are checked against when not pinned. */
struct http_client;

struct http_client *http_client_new(struct event_base *base,
				    const struct http_tls *tls, char *err,
				    size_t errlen);
/* Drops every connection; callbacks of requests in flight do not run. */
void http_client_free(struct http_client *c);
/* Open connections (for tests and metrics). */
size_t http_client_connections(const struct http_client *c);

struct http_call {
	const char *method;	/* GET, POST, PUT, DELETE */
	const char *url;
	const void *body;	/* JSON, or NULL */
	size_t body_len;
	X509 *pinned;		/* trust exactly this server certificate */
	int verify_host;	/* without a pin: check the name too */
	long timeout_ms;
	size_t max_response;
};

/* status is the HTTP status, or -1 with err saying why no answer came.
 * body is valid during the call only. */
typedef void (*http_done_fn)(int status, struct buf *body, const char *err,
			     void *arg);

/* Queues a request; done runs later on the loop, exactly once, unless the
 * client is freed first. Returns -1 with err when nothing was queued. */
int http_client_send(struct http_client *c, const struct http_call *call,
		     http_done_fn done, void *arg, char *err, size_t errlen);

struct http_client_config {
	const struct http_tls *tls;	/* NULL: plain HTTP */
	int verify_host;	/* check the server name against its certificate */
	long timeout_ms;
	size_t max_response;
	X509 *pinned;		/* trust exactly this server certificate */
};

/* Blocking: sends one request on a private loop. Returns the HTTP status,
 * or -1 with err set when no response came (connection refused, TLS
 * failure, timeout, too large). */
int http_fetch(const struct http_client_config *cfg, const char *method,
	       const char *url, const void *body, size_t body_len,
	       struct buf *response, char *err, size_t errlen);

#endif
