/* The HTTP(S) client, on libevent's evhttp like the server.
 *
 * libcurl would pull GnuTLS, Kerberos, LDAP and more into every process
 * that talks to a peer, the agent included; evhttp is already linked and
 * speaks TLS through the same OpenSSL bufferevents the server uses. A
 * fetch runs its own short-lived event loop, so callers block; timeouts,
 * the response size bound and certificate checks are all set per call. */
#include "http/http.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

struct fetch {
	struct event_base *base;
	struct buf *response;
	int status;
	int done;
	enum evhttp_request_error error;
	int failed;
};

static void on_response(struct evhttp_request *req, void *arg)
{
	struct fetch *f = arg;
	f->done = 1;
	if (!req || evhttp_request_get_response_code(req) == 0) {
		f->failed = 1;
	} else {
		f->status = evhttp_request_get_response_code(req);
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t n = evbuffer_get_length(in);
		if (buf_reserve(f->response, n) == 0) {
			evbuffer_remove(in, f->response->data + f->response->len, n);
			f->response->len += n;
			f->response->data[f->response->len] = 0;
		} else {
			f->failed = 1;
		}
	}
	event_base_loopbreak(f->base);
}

static void on_error(enum evhttp_request_error e, void *arg)
{
	struct fetch *f = arg;
	f->error = e;
	f->failed = 1;
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

static SSL_CTX *tls_client_ctx(const struct http_tls *tls, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		snprintf(err, errlen, "TLS setup failed");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (tls->cert_file &&
	    (SSL_CTX_use_certificate_chain_file(ctx, tls->cert_file) != 1 ||
	     SSL_CTX_use_PrivateKey_file(ctx, tls->key_file, SSL_FILETYPE_PEM) != 1)) {
		snprintf(err, errlen, "%s: cannot load the client certificate and key",
			 tls->cert_file);
		goto fail;
	}
	if (tls->ca_file ? SSL_CTX_load_verify_locations(ctx, tls->ca_file, NULL) != 1
			 : SSL_CTX_set_default_verify_paths(ctx) != 1) {
		snprintf(err, errlen, "%s: cannot load CA certificates",
			 tls->ca_file ? tls->ca_file : "system store");
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

static enum evhttp_cmd_type method_type(const char *m)
{
	if (strcmp(m, "POST") == 0) return EVHTTP_REQ_POST;
	if (strcmp(m, "PUT") == 0) return EVHTTP_REQ_PUT;
	if (strcmp(m, "DELETE") == 0) return EVHTTP_REQ_DELETE;
	return EVHTTP_REQ_GET;
}

/* Resolves host (name or address literal) to a numeric address; blocking
 * is fine here, the whole fetch is. */
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

static pthread_once_t sigpipe_once = PTHREAD_ONCE_INIT;

/* A peer that closes while we write must give us EPIPE, not kill us. */
static void ignore_sigpipe(void)
{
	signal(SIGPIPE, SIG_IGN);
}

int http_fetch(const struct http_client_config *cfg, const char *method,
	       const char *url, const void *body, size_t body_len,
	       struct buf *response, char *err, size_t errlen)
{
	struct fetch f = { NULL, response, -1, 0, 0, 0 };
	struct evhttp_uri *uri = NULL;
	struct evhttp_connection *conn = NULL;
	struct bufferevent *bev = NULL;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	char ip[INET6_ADDRSTRLEN + 1], target[2048];
	int result = -1;

	pthread_once(&sigpipe_once, ignore_sigpipe);
	/* Callers may treat the response as a string even when none came. */
	if (buf_reserve(response, 0) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	uri = evhttp_uri_parse(url);
	const char *scheme = uri ? evhttp_uri_get_scheme(uri) : NULL;
	const char *host = uri ? evhttp_uri_get_host(uri) : NULL;
	int https = scheme && strcmp(scheme, "https") == 0;
	if (!scheme || !host || (!https && strcmp(scheme, "http") != 0)) {
		snprintf(err, errlen, "%s: not an http or https URL", url);
		goto out;
	}
	int port = evhttp_uri_get_port(uri);
	if (port < 0)
		port = https ? 443 : 80;
	const char *path = evhttp_uri_get_path(uri);
	const char *query = evhttp_uri_get_query(uri);
	snprintf(target, sizeof target, "%s%s%s", path && *path ? path : "/",
		 query ? "?" : "", query ? query : "");
	if (resolve(host, ip, sizeof ip) < 0) {
		snprintf(err, errlen, "%s: cannot resolve %s", url, host);
		goto out;
	}
	if (https && !cfg->tls) {
		snprintf(err, errlen, "%s: https needs TLS settings", url);
		goto out;
	}

	if (!(f.base = event_base_new())) {
		snprintf(err, errlen, "event_base_new failed");
		goto out;
	}
	if (https) {
		if (!(ctx = tls_client_ctx(cfg->tls, err, errlen)))
			goto out;
		if (!(ssl = SSL_new(ctx)))
			goto tls_fail;
		struct in6_addr a6;
		struct in_addr a4;
		int literal = inet_pton(AF_INET, host, &a4) == 1 ||
			      inet_pton(AF_INET6, host, &a6) == 1;
		if (!literal)
			SSL_set_tlsext_host_name(ssl, host);
		if (cfg->verify_host) {
			X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
			if (literal ? X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1
				    : SSL_set1_host(ssl, host) != 1)
				goto tls_fail;
		}
		bev = bufferevent_openssl_socket_new(f.base, -1, ssl,
						     BUFFEREVENT_SSL_CONNECTING,
						     BEV_OPT_CLOSE_ON_FREE);
		if (!bev)
			goto tls_fail;
		ssl = NULL; /* owned by bev */
	} else if (!(bev = bufferevent_socket_new(f.base, -1, BEV_OPT_CLOSE_ON_FREE))) {
		snprintf(err, errlen, "bufferevent_socket_new failed");
		goto out;
	}
	conn = evhttp_connection_base_bufferevent_new(f.base, NULL, bev, ip,
						      (unsigned short)port);
	if (!conn) {
		snprintf(err, errlen, "evhttp_connection failed");
		goto out;
	}
	bev = NULL; /* owned by conn */
	long ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 30000;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	evhttp_connection_set_timeout_tv(conn, &tv);
	evhttp_connection_set_max_body_size(conn, (ev_ssize_t)(cfg->max_response
		? cfg->max_response : (size_t)16 << 20));
	evhttp_connection_set_retries(conn, 0);

	struct evhttp_request *req = evhttp_request_new(on_response, &f);
	if (!req) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	evhttp_request_set_error_cb(req, on_error);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Host", host);
	evhttp_add_header(h, "Connection", "close");
	/* Only with a body: Keylime's servers try to parse any request that
	 * claims JSON, and fail on an empty one. */
	if (body) {
		evhttp_add_header(h, "Content-Type", "application/json");
		evbuffer_add(evhttp_request_get_output_buffer(req), body, body_len);
	}
	if (evhttp_make_request(conn, req, method_type(method), target) < 0) {
		snprintf(err, errlen, "%s: cannot send the request", url);
		goto out;
	}
	event_base_dispatch(f.base);
	if (!f.done || f.failed) {
		struct bufferevent *b = evhttp_connection_get_bufferevent(conn);
		unsigned long e = https && b ? bufferevent_get_openssl_error(b) : 0;
		char tls_err[160] = "";
		if (https && e)
			ERR_error_string_n(e, tls_err, sizeof tls_err);
		snprintf(err, errlen, "%s: %s%s", url, tls_err[0] ? "TLS: " : "",
			 tls_err[0] ? tls_err : error_text(f.error));
		ERR_clear_error();
		goto out;
	}
	result = f.status;
	goto out;
tls_fail:
	snprintf(err, errlen, "%s: TLS setup failed", url);
out:
	if (conn)
		evhttp_connection_free(conn);
	if (bev)
		bufferevent_free(bev);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (f.base)
		event_base_free(f.base);
	if (uri)
		evhttp_uri_free(uri);
	return result;
}
