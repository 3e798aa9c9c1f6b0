#include "http/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "util/log.h"

struct http_server {
	struct event_base *base;
	struct evhttp *http;
	SSL_CTX *ssl;
	int port;
	http_handler_fn handler;
	void *arg;
};

/* Per-request state that a handler may borrow from (query lookups). */
struct request_state {
	struct evkeyvalq query;
	int query_parsed;
	char *decoded_path;
};

static SSL_CTX *tls_server_ctx(const struct http_tls *tls, char *err,
			       size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		goto fail;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	if (SSL_CTX_use_certificate_chain_file(ctx, tls->cert_file) != 1) {
		snprintf(err, errlen, "%s: cannot load certificate", tls->cert_file);
		goto fail_msg;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, tls->key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "%s: cannot load the key for %s",
			 tls->key_file, tls->cert_file);
		goto fail_msg;
	}
	if (tls->ca_file) {
		if (SSL_CTX_load_verify_locations(ctx, tls->ca_file, NULL) != 1) {
			snprintf(err, errlen, "%s: cannot load CA certificates",
				 tls->ca_file);
			goto fail_msg;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
				   SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	return ctx;
fail:
	snprintf(err, errlen, "TLS setup failed");
fail_msg:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

static struct bufferevent *tls_bev(struct event_base *base, void *arg)
{
	struct http_server *srv = arg;
	SSL *ssl = SSL_new(srv->ssl);
	if (!ssl)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl,
					      BUFFEREVENT_SSL_ACCEPTING,
					      BEV_OPT_CLOSE_ON_FREE);
}

static const char *method_name(enum evhttp_cmd_type t)
{
	switch (t) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PATCH: return "PATCH";
	default: return "OTHER";
	}
}

/* Splits the decoded path into segments in place. Returns -1 for paths with
 * too many segments, empty segments or dot segments. */
static int split_path(struct http_request *r, char *path)
{
	char *p = path;
	if (*p != '/')
		return -1;
	p++;
	if (*p == 'v' && p[1] >= '0' && p[1] <= '9') {
		/* "/v2.1/..." or "/v2.1" */
		char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n < 2 || n >= sizeof r->version)
			return -1;
		memcpy(r->version, p + 1, n - 1);
		r->version[n - 1] = 0;
		if (strspn(r->version, "0123456789.") != n - 1)
			return -1;
		p = end ? end + 1 : p + n;
	}
	while (*p) {
		char *end = strchr(p, '/');
		if (end)
			*end = 0;
		/* A trailing slash ("/agents/") is tolerated: Keylime clients
		 * send it for lists. */
		if (*p == 0 && end)
			return -1;
		if (strcmp(p, ".") == 0 || strcmp(p, "..") == 0)
			return -1;
		if (r->n_segments == HTTP_MAX_SEGMENTS)
			return -1;
		r->segments[r->n_segments++] = p;
		if (!end)
			break;
		p = end + 1;
	}
	return 0;
}

static void send_response(struct evhttp_request *req, struct http_response *resp)
{
	struct evbuffer *out = evbuffer_new();
	if (!out) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evbuffer_add(out, resp->body.data ? (char *)resp->body.data : "",
		     resp->body.len);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  resp->content_type ? resp->content_type
					     : "application/json");
	evhttp_send_reply(req, resp->status, NULL, out);
	evbuffer_free(out);
}

static void dispatch(struct evhttp_request *req, void *arg)
{
	struct http_server *srv = arg;
	struct http_request r;
	struct http_response resp = { 0, NULL, BUF_INIT };
	struct request_state st = { .query_parsed = 0, .decoded_path = NULL };
	struct buf body = BUF_INIT;
	memset(&r, 0, sizeof r);
	r.priv = &st;

	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	r.method = method_name(evhttp_request_get_command(req));
	r.path = path && *path ? path : "/";
	r.query = uri ? evhttp_uri_get_query(uri) : NULL;

	/* A copy with a terminating NUL, so handlers can treat bodies as text
	 * without trusting the peer to have sent one. */
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	if (buf_reserve(&body, len) < 0 ||
	    evbuffer_copyout(in, body.data, len) != (ev_ssize_t)len) {
		http_reply(&resp, 500, "Out of memory", NULL);
		goto send;
	}
	body.len = len;
	body.data[len] = 0;
	r.body = body.data;
	r.body_len = len;

	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	char *ip = NULL;
	uint16_t port;
	evhttp_connection_get_peer(conn, &ip, &port);
	r.remote_ip = ip ? ip : "";
	if (srv->ssl) {
		SSL *ssl = bufferevent_openssl_get_ssl(
			evhttp_connection_get_bufferevent(conn));
		r.peer = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
	}

	st.decoded_path = evhttp_uridecode(r.path, 0, NULL);
	if (!st.decoded_path || split_path(&r, st.decoded_path) < 0) {
		http_reply(&resp, 400, "Malformed request path", NULL);
		goto send;
	}
	srv->handler(&r, &resp, srv->arg);
	if (resp.status == 0)
		http_reply(&resp, 500, "Handler produced no response", NULL);
send:
	send_response(req, &resp);
	buf_free(&body);
	buf_free(&resp.body);
	free(st.decoded_path);
	if (st.query_parsed)
		evhttp_clear_headers(&st.query);
}

const char *http_query(struct http_request *req, const char *name)
{
	struct request_state *st = req->priv;
	if (!req->query)
		return NULL;
	if (!st->query_parsed) {
		TAILQ_INIT(&st->query);
		if (evhttp_parse_query_str(req->query, &st->query) < 0) {
			evhttp_clear_headers(&st->query);
			return NULL;
		}
		st->query_parsed = 1;
	}
	return evhttp_find_header(&st->query, name);
}

struct http_server *http_server_start(struct event_base *base,
				      const struct http_server_config *cfg,
				      char *err, size_t errlen)
{
	struct http_server *srv = calloc(1, sizeof *srv);
	if (!srv) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	srv->base = base;
	srv->handler = cfg->handler;
	srv->arg = cfg->arg;
	if (cfg->tls && !(srv->ssl = tls_server_ctx(cfg->tls, err, errlen)))
		goto fail;
	if (!(srv->http = evhttp_new(base))) {
		snprintf(err, errlen, "evhttp_new failed");
		goto fail;
	}
	evhttp_set_max_body_size(srv->http, (ev_ssize_t)cfg->max_body);
	evhttp_set_max_headers_size(srv->http, 16384);
	evhttp_set_timeout(srv->http, cfg->timeout_seconds > 0
				      ? cfg->timeout_seconds : 30);
	evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
				   EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	evhttp_set_default_content_type(srv->http, "application/json");
	if (srv->ssl)
		evhttp_set_bevcb(srv->http, tls_bev, srv);
	evhttp_set_gencb(srv->http, dispatch, srv);
	struct evhttp_bound_socket *sock = evhttp_bind_socket_with_handle(
		srv->http, cfg->address, (ev_uint16_t)cfg->port);
	if (!sock) {
		snprintf(err, errlen, "cannot listen on %s port %d: %s",
			 cfg->address, cfg->port, strerror(errno));
		goto fail;
	}
	/* Accepted sockets inherit it: answers go out in pieces (headers, body,
	 * TLS records), and Nagle with delayed ACKs would hold each exchange
	 * up by 40 ms. */
	int one = 1;
	setsockopt(evhttp_bound_socket_get_fd(sock), IPPROTO_TCP, TCP_NODELAY, &one,
		   sizeof one);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	if (getsockname(evhttp_bound_socket_get_fd(sock),
			(struct sockaddr *)&ss, &sl) < 0) {
		snprintf(err, errlen, "getsockname: %s", strerror(errno));
		goto fail;
	}
	srv->port = ntohs(ss.ss_family == AF_INET6
			  ? ((struct sockaddr_in6 *)&ss)->sin6_port
			  : ((struct sockaddr_in *)&ss)->sin_port);
	return srv;
fail:
	http_server_free(srv);
	return NULL;
}

int http_server_port(const struct http_server *srv)
{
	return srv->port;
}

void http_server_free(struct http_server *srv)
{
	if (!srv)
		return;
	if (srv->http)
		evhttp_free(srv->http);
	SSL_CTX_free(srv->ssl);
	free(srv);
}
