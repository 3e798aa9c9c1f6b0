/* The HTTP(S) client, on libevent's evhttp like the server.
 *
 * libcurl would pull GnuTLS, Kerberos, LDAP and more into every process
 * that talks to a peer, the agent included; evhttp is already linked and
 * speaks TLS through the same OpenSSL bufferevents the server uses.
 *
 * A client lives on an event loop and keeps one connection per peer
 * (host, port, trust), reused across requests: the verifier polls each
 * agent every few seconds. A connection the peer closes is dropped and
 * the next request opens a new one (evhttp cannot restart a TLS
 * bufferevent). Peers are trusted through a CA file, or pinned: Keylime
 * agents present self-signed certificates that the registrar vouches for,
 * so the verifier trusts exactly that certificate and nothing else.
 *
 * http_fetch is the blocking form: a client on a short-lived loop. */
#include "http/http.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util/map.h"

struct http_client {
	struct event_base *base;
	SSL_CTX *ssl;		/* with our certificate; NULL: plain HTTP only */
	struct map *conns;	/* peer key -> struct conn */
	struct conn *dead;	/* closed by the peer, waiting to be freed */
	struct call *calls;	/* in flight, for http_client_free */
	int closing;
};

struct conn {
	struct http_client *client;
	struct evhttp_connection *evcon;
	char key[160];
	X509 *pinned;
	struct event *reaper;	/* frees a closed connection off evhttp's stack */
	struct conn *next_dead;
	int dead;
};

struct call {
	struct http_client *client;
	struct conn *conn;
	http_done_fn done;
	void *arg;
	size_t max;
	enum evhttp_request_error error;
	int failed;
	struct call *prev, *next;
};

static int pin_index = -1;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Runs once per process: the SSL ex_data slot for pins, and SIGPIPE
 * ignored, since a peer closing mid-write must be an error, not death. */
static void init_once(void)
{
	pin_index = SSL_get_ex_new_index(0, "assay pinned peer", NULL, NULL, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* With a pin, the leaf must be exactly the pinned certificate (a
 * self-signed one fails the chain check, which the pin replaces); without
 * one, OpenSSL's chain verification decides. */
static int verify_peer(int ok, X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	X509 *pinned = ssl ? SSL_get_ex_data(ssl, pin_index) : NULL;
	if (!pinned)
		return ok;
	if (X509_STORE_CTX_get_error_depth(x) > 0)
		return 1;
	X509 *leaf = X509_STORE_CTX_get_current_cert(x);
	if (leaf && X509_cmp(leaf, pinned) == 0) {
		X509_STORE_CTX_set_error(x, X509_V_OK);
		return 1;
	}
	X509_STORE_CTX_set_error(x, X509_V_ERR_CERT_REJECTED);
	return 0;
}

struct http_client *http_client_new(struct event_base *base,
				    const struct http_tls *tls, char *err,
				    size_t errlen)
{
	pthread_once(&once, init_once);
	struct http_client *c = calloc(1, sizeof *c);
	if (!c || !(c->conns = map_new())) {
		free(c);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->base = base;
	if (!tls)
		return c;
	if (!(c->ssl = SSL_CTX_new(TLS_client_method()))) {
		snprintf(err, errlen, "TLS setup failed");
		goto fail;
	}
	SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION);
	if (tls->cert_file &&
	    (SSL_CTX_use_certificate_chain_file(c->ssl, tls->cert_file) != 1 ||
	     SSL_CTX_use_PrivateKey_file(c->ssl, tls->key_file, SSL_FILETYPE_PEM) != 1)) {
		snprintf(err, errlen, "%s: cannot load the client certificate and key",
			 tls->cert_file);
		goto fail;
	}
	if (tls->ca_file ? SSL_CTX_load_verify_locations(c->ssl, tls->ca_file, NULL) != 1
			 : SSL_CTX_set_default_verify_paths(c->ssl) != 1) {
		snprintf(err, errlen, "%s: cannot load CA certificates",
			 tls->ca_file ? tls->ca_file : "system store");
		goto fail;
	}
	SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER, verify_peer);
	return c;
fail:
	ERR_clear_error();
	http_client_free(c);
	return NULL;
}

static void conn_free(struct conn *k)
{
	if (k->evcon)
		evhttp_connection_free(k->evcon);
	if (k->reaper)
		event_free(k->reaper);
	X509_free(k->pinned);
	free(k);
}

static void free_conn(const char *key, void *value, void *arg)
{
	conn_free(value);
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	/* Freeing a connection frees its requests without calling back:
	 * release our side of each first. */
	while (c->calls) {
		struct call *k = c->calls;
		c->calls = k->next;
		free(k);
	}
	/* Closing our own connections must not re-enter on_close. */
	c->closing = 1;
	map_each(c->conns, free_conn, NULL);
	while (c->dead) {
		struct conn *k = c->dead;
		c->dead = k->next_dead;
		conn_free(k);
	}
	map_free(c->conns);
	SSL_CTX_free(c->ssl);
	free(c);
}

size_t http_client_connections(const struct http_client *c)
{
	return map_len(c->conns);
}

static void reap(evutil_socket_t fd, short what, void *arg)
{
	struct conn *k = arg;
	struct conn **p = &k->client->dead;
	while (*p && *p != k)
		p = &(*p)->next_dead;
	if (*p)
		*p = k->next_dead;
	conn_free(k);
}

/* evhttp tells us the peer closed: forget the connection now (the next
 * request opens a new one) and free it once evhttp is done with it. */
static void on_close(struct evhttp_connection *evcon, void *arg)
{
	struct conn *k = arg;
	if (k->dead || k->client->closing)
		return;
	k->dead = 1;
	if (map_get(k->client->conns, k->key) == k)
		map_del(k->client->conns, k->key);
	k->next_dead = k->client->dead;
	k->client->dead = k;
	struct timeval now = { 0, 0 };
	evtimer_add(k->reaper, &now);
}

static void call_unlink(struct call *k)
{
	if (k->prev)
		k->prev->next = k->next;
	else
		k->client->calls = k->next;
	if (k->next)
		k->next->prev = k->prev;
}

static const char *error_text(enum evhttp_request_error e)
{
	switch (e) {
	case EVREQ_HTTP_TIMEOUT: return "timed out";
	case EVREQ_HTTP_EOF: return "connection closed without an answer";
	case EVREQ_HTTP_INVALID_HEADER: return "malformed response";
	case EVREQ_HTTP_BUFFER_ERROR: return "connection failed";
	case EVREQ_HTTP_DATA_TOO_LONG: return "response too large";
	default: return "request failed";
	}
}

static void on_error(enum evhttp_request_error e, void *arg)
{
	struct call *k = arg;
	k->error = e;
	k->failed = 1;
}

static void on_response(struct evhttp_request *req, void *arg)
{
	struct call *k = arg;
	struct buf body = BUF_INIT;
	char err[256] = "";
	int status = -1;
	if (!req || k->failed || evhttp_request_get_response_code(req) == 0) {
		struct bufferevent *b = k->conn->evcon && !k->conn->dead
			? evhttp_connection_get_bufferevent(k->conn->evcon) : NULL;
		unsigned long e = k->client->ssl && b ? bufferevent_get_openssl_error(b) : 0;
		if (e) {
			char tls[160];
			ERR_error_string_n(e, tls, sizeof tls);
			snprintf(err, sizeof err, "TLS: %s", tls);
		} else {
			snprintf(err, sizeof err, "%s", error_text(k->error));
		}
	} else {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t n = evbuffer_get_length(in);
		if (buf_reserve(&body, n) == 0) {
			evbuffer_remove(in, body.data, n);
			body.len = n;
			body.data[n] = 0;
			status = evhttp_request_get_response_code(req);
		} else {
			snprintf(err, sizeof err, "out of memory");
		}
	}
	if (!body.data)
		buf_reserve(&body, 0);
	call_unlink(k);
	k->done(status, &body, status < 0 ? err : NULL, k->arg);
	buf_free(&body);
	free(k);
}

/* Resolves host (name or address literal) to a numeric address. Names
 * block; Keylime peers are addressed by IP, so this is rare. */
static int resolve(const char *host, char *ip, size_t n)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
		return -1;
	int r = getnameinfo(res->ai_addr, res->ai_addrlen, ip, (socklen_t)n, NULL, 0,
			    NI_NUMERICHOST);
	freeaddrinfo(res);
	return r == 0 ? 0 : -1;
}

static void pin_fingerprint(X509 *pinned, char *out, size_t n)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	out[0] = 0;
	if (!pinned || X509_digest(pinned, EVP_sha256(), md, &len) != 1)
		return;
	for (unsigned int i = 0; i < len && 2 * i + 2 < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static struct conn *conn_open(struct http_client *c, const struct http_call *call,
			      int https, const char *host, int port,
			      const char *key, char *err, size_t errlen)
{
	char ip[INET6_ADDRSTRLEN + 1];
	struct bufferevent *bev = NULL;
	SSL *ssl = NULL;
	struct conn *k = calloc(1, sizeof *k);
	if (!k) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	k->client = c;
	snprintf(k->key, sizeof k->key, "%s", key);
	if (!(k->reaper = evtimer_new(c->base, reap, k))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (resolve(host, ip, sizeof ip) < 0) {
		snprintf(err, errlen, "cannot resolve %s", host);
		goto fail;
	}
	if (https) {
		struct in6_addr a6;
		struct in_addr a4;
		int literal = inet_pton(AF_INET, host, &a4) == 1 ||
			      inet_pton(AF_INET6, host, &a6) == 1;
		if (!(ssl = SSL_new(c->ssl)))
			goto tls_fail;
		if (call->pinned) {
			X509_up_ref(call->pinned);
			k->pinned = call->pinned;
			SSL_set_ex_data(ssl, pin_index, k->pinned);
		}
		if (!literal)
			SSL_set_tlsext_host_name(ssl, host);
		if (call->verify_host && !call->pinned &&
		    (literal ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1
			     : SSL_set1_host(ssl, host) != 1))
			goto tls_fail;
		bev = bufferevent_openssl_socket_new(c->base, -1, ssl,
						     BUFFEREVENT_SSL_CONNECTING,
						     BEV_OPT_CLOSE_ON_FREE);
		if (!bev)
			goto tls_fail;
		ssl = NULL;	/* owned by bev */
	} else if (!(bev = bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	k->evcon = evhttp_connection_base_bufferevent_new(c->base, NULL, bev, ip,
							  (unsigned short)port);
	if (!k->evcon) {
		snprintf(err, errlen, "cannot create a connection");
		goto fail;
	}
	bev = NULL;	/* owned by evcon */
	long ms = call->timeout_ms > 0 ? call->timeout_ms : 30000;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	evhttp_connection_set_timeout_tv(k->evcon, &tv);
	evhttp_connection_set_max_body_size(k->evcon, (ev_ssize_t)(call->max_response
		? call->max_response : (size_t)16 << 20));
	evhttp_connection_set_retries(k->evcon, 0);
	evhttp_connection_set_closecb(k->evcon, on_close, k);
	if (map_put(c->conns, key, k) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return k;
tls_fail:
	snprintf(err, errlen, "TLS setup failed");
fail:
	SSL_free(ssl);
	if (bev)
		bufferevent_free(bev);
	conn_free(k);
	return NULL;
}

static enum evhttp_cmd_type method_type(const char *m)
{
	if (strcmp(m, "POST") == 0) return EVHTTP_REQ_POST;
	if (strcmp(m, "PUT") == 0) return EVHTTP_REQ_PUT;
	if (strcmp(m, "DELETE") == 0) return EVHTTP_REQ_DELETE;
	return EVHTTP_REQ_GET;
}

int http_client_send(struct http_client *c, const struct http_call *call,
		     http_done_fn done, void *arg, char *err, size_t errlen)
{
	char target[2048], key[160], pin[65];
	struct call *k = NULL;
	int r = -1;
	struct evhttp_uri *uri = evhttp_uri_parse(call->url);
	const char *scheme = uri ? evhttp_uri_get_scheme(uri) : NULL;
	const char *host = uri ? evhttp_uri_get_host(uri) : NULL;
	int https = scheme && strcmp(scheme, "https") == 0;
	if (!scheme || !host || (!https && strcmp(scheme, "http") != 0)) {
		snprintf(err, errlen, "%s: not an http or https URL", call->url);
		goto out;
	}
	if (https && !c->ssl) {
		snprintf(err, errlen, "%s: this client has no TLS settings", call->url);
		goto out;
	}
	int port = evhttp_uri_get_port(uri);
	if (port < 0)
		port = https ? 443 : 80;
	const char *path = evhttp_uri_get_path(uri);
	const char *query = evhttp_uri_get_query(uri);
	if (snprintf(target, sizeof target, "%s%s%s", path && *path ? path : "/",
		     query ? "?" : "", query ? query : "") >= (int)sizeof target) {
		snprintf(err, errlen, "%s: URL too long", call->url);
		goto out;
	}
	pin_fingerprint(call->pinned, pin, sizeof pin);
	snprintf(key, sizeof key, "%s|%.64s|%d|%s|%d", scheme, host, port, pin,
		 call->verify_host);
	struct conn *conn = map_get(c->conns, key);
	if (!conn && !(conn = conn_open(c, call, https, host, port, key, err, errlen)))
		goto out;

	if (!(k = calloc(1, sizeof *k))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	k->client = c;
	k->conn = conn;
	k->done = done;
	k->arg = arg;
	struct evhttp_request *req = evhttp_request_new(on_response, k);
	if (!req) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	evhttp_request_set_error_cb(req, on_error);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Host", host);
	/* Only with a body: Keylime's servers try to parse any request that
	 * claims JSON, and fail on an empty one. */
	if (call->body && call->body_len) {
		evhttp_add_header(h, "Content-Type", "application/json");
		evbuffer_add(evhttp_request_get_output_buffer(req), call->body,
			     call->body_len);
	}
	k->next = c->calls;
	if (c->calls)
		c->calls->prev = k;
	c->calls = k;
	if (evhttp_make_request(conn->evcon, req, method_type(call->method), target) < 0) {
		/* evhttp freed req; on_response will not run. */
		call_unlink(k);
		snprintf(err, errlen, "%s: cannot send the request", call->url);
		goto out;
	}
	/* The socket exists once the request is queued (the connect is under
	 * way). Requests and answers go out in pieces (headers, body, TLS
	 * records): without TCP_NODELAY, Nagle and delayed ACKs add 40 ms to
	 * every exchange on a kept-alive connection. */
	evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(conn->evcon));
	if (fd >= 0) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	k = NULL;
	r = 0;
out:
	free(k);
	if (uri)
		evhttp_uri_free(uri);
	return r;
}

struct fetch {
	struct event_base *base;
	struct buf *response;
	int status;
	char *err;
	size_t errlen;
};

static void fetch_done(int status, struct buf *body, const char *err, void *arg)
{
	struct fetch *f = arg;
	f->status = status;
	if (status >= 0)
		buf_append(f->response, body->data, body->len);
	else
		snprintf(f->err, f->errlen, "%s", err ? err : "request failed");
	event_base_loopbreak(f->base);
}

int http_fetch(const struct http_client_config *cfg, const char *method,
	       const char *url, const void *body, size_t body_len,
	       struct buf *response, char *err, size_t errlen)
{
	char why[256] = "";
	struct fetch f = { event_base_new(), response, -1, why, sizeof why };
	struct http_client *c = NULL;
	/* Callers may treat the response as a string even when none came. */
	if (buf_reserve(response, 0) < 0 || !f.base) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	struct http_call call = { method, url, body, body_len, cfg->pinned,
				  cfg->verify_host, cfg->timeout_ms, cfg->max_response };
	if (!(c = http_client_new(f.base, cfg->tls, why, sizeof why)) ||
	    http_client_send(c, &call, fetch_done, &f, why, sizeof why) < 0) {
		snprintf(err, errlen, "%s: %s", url, why);
		goto out;
	}
	event_base_dispatch(f.base);
	if (f.status < 0)
		snprintf(err, errlen, "%s: %s", url, why);
out:
	http_client_free(c);
	if (f.base)
		event_base_free(f.base);
	return f.status;
}
