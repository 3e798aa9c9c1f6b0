/* Tests for lib/http: routing, bodies, limits, TLS and mutual TLS.
 *
 * The server runs on the main thread's event loop; the client side runs in
 * a second thread with libcurl, like a real peer would. */
#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "http/http.h"
#include "util/check.h"

static char dir[] = "/tmp/assay-http-XXXXXX";
static char ca_pem[128], srv_cert[128], srv_key[128], cli_cert[128], cli_key[128],
	other_ca[128];
static int plain_port, tls_port;
static atomic_int done;
static atomic_int echo_calls;

static void handler(struct http_request *req, struct http_response *resp,
		    void *arg)
{
	if (req->n_segments == 1 && strcmp(req->segments[0], "echo") == 0) {
		atomic_fetch_add(&echo_calls, 1);
		json_t *body = http_body_json(req, resp);
		if (!body)
			return;
		const char *q = http_query(req, "nonce");
		json_object_set_new(body, "version", json_string(req->version));
		json_object_set_new(body, "nonce", q ? json_string(q) : json_null());
		json_object_set_new(body, "peer", json_boolean(req->peer != NULL));
		http_reply(resp, 200, "Success", body);
		return;
	}
	if (req->n_segments == 2 && strcmp(req->segments[0], "agents") == 0) {
		http_reply(resp, 200, req->segments[1], NULL);
		return;
	}
	http_reply(resp, 404, "Not found", NULL);
}

static int fetch(const struct http_tls *tls, int port, const char *method,
		 const char *path, const char *body, size_t body_len,
		 struct buf *out)
{
	char url[256], err[256];
	struct http_client_config cfg = { tls, 0, 5000, 1 << 20, NULL };
	snprintf(url, sizeof url, "%s://127.0.0.1:%d%s", tls ? "https" : "http",
		 port, path);
	buf_reset(out);
	int st = http_fetch(&cfg, method, url, body, body_len, out, err, sizeof err);
	if (st < 0)
		printf("  (client: %s)\n", err);
	return st;
}

static void *client(void *arg)
{
	struct buf out = BUF_INIT;
	const char *b = "{\"a\": 1}";

	CHECK_INT(fetch(NULL, plain_port, "POST", "/v2.1/echo?nonce=abc", b,
			strlen(b), &out), 200);
	json_t *j = json_loads((char *)out.data, 0, NULL);
	CHECK(j != NULL);
	CHECK_INT(json_integer_value(json_object_get(j, "code")), 200);
	json_t *res = json_object_get(j, "results");
	CHECK_STR(json_string_value(json_object_get(res, "version")), "2.1");
	CHECK_STR(json_string_value(json_object_get(res, "nonce")), "abc");
	CHECK_INT(json_integer_value(json_object_get(res, "a")), 1);
	json_decref(j);

	/* Percent-decoding happens before routing. */
	CHECK_INT(fetch(NULL, plain_port, "GET", "/v2.0/agents/d432%2Dfb", NULL,
			0, &out), 200);
	CHECK(strstr((char *)out.data, "\"d432-fb\"") != NULL);

	/* Bad input gets precise 4xx answers. */
	CHECK_INT(fetch(NULL, plain_port, "POST", "/v2.1/echo", "{\"a\":", 5, &out), 400);
	CHECK(strstr((char *)out.data, "Malformed JSON") != NULL);
	CHECK_INT(fetch(NULL, plain_port, "POST", "/v2.1/echo", "[1]", 3, &out), 400);
	CHECK_INT(fetch(NULL, plain_port, "POST", "/v2.1/echo", "{\"a\":1,\"a\":2}",
			13, &out), 400);
	CHECK_INT(fetch(NULL, plain_port, "GET", "/v2.1/../echo", NULL, 0, &out), 400);
	CHECK_INT(fetch(NULL, plain_port, "GET", "/v2.x/echo", NULL, 0, &out), 400);
	CHECK_INT(fetch(NULL, plain_port, "GET", "/a/b/c/d/e/f/g/h/i", NULL, 0, &out), 400);
	CHECK_INT(fetch(NULL, plain_port, "GET", "/nothing", NULL, 0, &out), 404);
	char *big = malloc(70000);
	memset(big, ' ', 70000);
	/* Too large: evhttp answers 413 and closes, possibly before our
	 * client has finished sending (then we see the close). Either way the
	 * handler never runs. */
	int calls = atomic_load(&echo_calls);
	int st = fetch(NULL, plain_port, "POST", "/v2.1/echo", big, 70000, &out);
	CHECK(st == 413 || st == -1);
	CHECK_INT(atomic_load(&echo_calls), calls);
	free(big);

	/* Mutual TLS: a client with a certificate from the CA gets in. */
	struct http_tls good = { cli_cert, cli_key, ca_pem };
	CHECK_INT(fetch(&good, tls_port, "POST", "/echo", b, strlen(b), &out), 200);
	CHECK(strstr((char *)out.data, "\"peer\":true") != NULL);
	/* No client certificate: the handshake is refused. */
	struct http_tls anon = { NULL, NULL, ca_pem };
	CHECK_INT(fetch(&anon, tls_port, "POST", "/echo", b, strlen(b), &out), -1);
	/* A plain HTTP client on the TLS port gets no answer. */
	CHECK_INT(fetch(NULL, tls_port, "GET", "/echo", NULL, 0, &out), -1);
	/* A client that does not trust the server's CA refuses it. */
	struct http_tls wrong = { cli_cert, cli_key, other_ca };
	CHECK_INT(fetch(&wrong, tls_port, "GET", "/echo", NULL, 0, &out), -1);

	buf_free(&out);
	atomic_store(&done, 1);
	return NULL;
}

static void poll_done(evutil_socket_t fd, short what, void *arg)
{
	if (atomic_load(&done))
		event_base_loopbreak(arg);
}

static void make_pki(void)
{
	EVP_PKEY *ca_key = crypto_ec_generate("P-256");
	EVP_PKEY *o_key = crypto_ec_generate("P-256");
	EVP_PKEY *s_key = crypto_ec_generate("P-256");
	EVP_PKEY *c_key = crypto_rsa_generate(2048);
	struct crypto_cert_spec ca_spec = { "test CA", NULL, NULL, 1, 1 };
	struct crypto_cert_spec s_spec = { "server", "127.0.0.1", NULL, 1, 0 };
	struct crypto_cert_spec c_spec = { "client", NULL, NULL, 1, 0 };
	X509 *ca = crypto_cert_issue(ca_key, &ca_spec, NULL, NULL);
	X509 *other = crypto_cert_issue(o_key, &ca_spec, NULL, NULL);
	X509 *s = crypto_cert_issue(s_key, &s_spec, ca, ca_key);
	X509 *c = crypto_cert_issue(c_key, &c_spec, ca, ca_key);
	CHECK(ca && other && s && c);
	snprintf(ca_pem, sizeof ca_pem, "%s/ca.pem", dir);
	snprintf(other_ca, sizeof other_ca, "%s/other.pem", dir);
	snprintf(srv_cert, sizeof srv_cert, "%s/server.pem", dir);
	snprintf(srv_key, sizeof srv_key, "%s/server.key", dir);
	snprintf(cli_cert, sizeof cli_cert, "%s/client.pem", dir);
	snprintf(cli_key, sizeof cli_key, "%s/client.key", dir);
	CHECK_INT(crypto_cert_save(ca_pem, ca), 0);
	CHECK_INT(crypto_cert_save(other_ca, other), 0);
	CHECK_INT(crypto_cert_save(srv_cert, s), 0);
	CHECK_INT(crypto_key_save(srv_key, s_key), 0);
	CHECK_INT(crypto_cert_save(cli_cert, c), 0);
	CHECK_INT(crypto_key_save(cli_key, c_key), 0);
	X509_free(ca); X509_free(other); X509_free(s); X509_free(c);
	EVP_PKEY_free(ca_key); EVP_PKEY_free(o_key);
	EVP_PKEY_free(s_key); EVP_PKEY_free(c_key);
}

/* The asynchronous client and a server on one loop: requests queue on one
 * kept-alive connection; a pinned self-signed certificate is trusted and
 * any other refused; a restarted server gets a fresh connection. */
struct async_state {
	struct event_base *base;
	int ok, failed, pending;
	char last_err[256];
};

static void async_done(int status, struct buf *body, const char *err, void *arg)
{
	struct async_state *st = arg;
	if (status == 200 && strstr((char *)body->data, "\"code\":200"))
		st->ok++;
	else {
		st->failed++;
		snprintf(st->last_err, sizeof st->last_err, "%s", err ? err : "?");
	}
	if (--st->pending == 0)
		event_base_loopbreak(st->base);
}

static void test_async(void)
{
	char err[256], url[128], self[160], self_key[160];
	struct async_state st = { event_base_new(), 0, 0, 0, "" };
	/* A self-signed server certificate, as Keylime agents have. */
	EVP_PKEY *key = crypto_ec_generate("P-256");
	struct crypto_cert_spec spec = { "agent", "127.0.0.1", NULL, 1, 0 };
	X509 *cert = crypto_cert_issue(key, &spec, NULL, NULL);
	X509 *stranger = crypto_cert_issue(key, &spec, NULL, NULL);
	snprintf(self, sizeof self, "%s/self.pem", dir);
	snprintf(self_key, sizeof self_key, "%s/self.key", dir);
	crypto_cert_save(self, cert);
	crypto_key_save(self_key, key);

	struct http_tls stls = { self, self_key, ca_pem };
	struct http_server_config sc = { "127.0.0.1", 0, &stls, 65536, 5, handler, NULL };
	struct http_server *srv = http_server_start(st.base, &sc, err, sizeof err);
	CHECK(srv != NULL);
	if (!srv)
		return;
	int port = http_server_port(srv);
	struct http_tls ctls = { cli_cert, cli_key, ca_pem };
	struct http_client *c = http_client_new(st.base, &ctls, err, sizeof err);
	CHECK(c != NULL);
	snprintf(url, sizeof url, "https://127.0.0.1:%d/agents/x", port);
	struct http_call call = { "GET", url, NULL, 0, cert, 0, 5000, 1 << 16 };
	for (int i = 0; i < 20; i++) {
		CHECK_INT(http_client_send(c, &call, async_done, &st, err, sizeof err), 0);
		st.pending++;
	}
	event_base_dispatch(st.base);
	CHECK_INT(st.ok, 20);
	CHECK_INT(http_client_connections(c), 1);

	/* Pinned to another certificate: refused. */
	call.pinned = stranger;
	st.ok = st.failed = 0;
	st.pending = 1;
	CHECK_INT(http_client_send(c, &call, async_done, &st, err, sizeof err), 0);
	event_base_dispatch(st.base);
	CHECK_INT(st.failed, 1);
	CHECK(strstr(st.last_err, "TLS") != NULL);

	/* The server goes away and comes back on the same port: the client
	 * notices the closed connection and opens a new one. */
	call.pinned = cert;
	http_server_free(srv);
	sc.port = port;
	srv = http_server_start(st.base, &sc, err, sizeof err);
	CHECK(srv != NULL);
	st.ok = st.failed = 0;
	st.pending = 1;
	CHECK_INT(http_client_send(c, &call, async_done, &st, err, sizeof err), 0);
	event_base_dispatch(st.base);
	if (st.failed) {
		/* The first send may have raced the close: the next one works. */
		st.pending = 1;
		CHECK_INT(http_client_send(c, &call, async_done, &st, err, sizeof err), 0);
		event_base_dispatch(st.base);
	}
	CHECK_INT(st.ok, 1);

	http_client_free(c);
	http_server_free(srv);
	event_base_free(st.base);
	X509_free(cert);
	X509_free(stranger);
	EVP_PKEY_free(key);
}

int main(void)
{
	char err[256];
	CHECK(mkdtemp(dir) != NULL);
	make_pki();

	struct event_base *base = event_base_new();
	struct http_server_config pc = { "127.0.0.1", 0, NULL, 65536, 5, handler, NULL };
	struct http_server *plain = http_server_start(base, &pc, err, sizeof err);
	CHECK(plain != NULL);
	struct http_tls tls = { srv_cert, srv_key, ca_pem };
	struct http_server_config tc = { "127.0.0.1", 0, &tls, 65536, 5, handler, NULL };
	struct http_server *secure = http_server_start(base, &tc, err, sizeof err);
	CHECK(secure != NULL);
	if (!plain || !secure) {
		printf("server start failed: %s\n", err);
		return check_done();
	}
	plain_port = http_server_port(plain);
	tls_port = http_server_port(secure);

	/* Configuration errors are reported, not crashed on. */
	struct http_tls missing = { "/nonexistent.pem", srv_key, NULL };
	struct http_server_config bad = { "127.0.0.1", 0, &missing, 1, 5, handler, NULL };
	CHECK(http_server_start(base, &bad, err, sizeof err) == NULL);
	CHECK(strstr(err, "/nonexistent.pem") != NULL);

	pthread_t t;
	pthread_create(&t, NULL, client, NULL);
	struct event *tick = event_new(base, -1, EV_PERSIST, poll_done, base);
	struct timeval tv = { 0, 20000 };
	event_add(tick, &tv);
	event_base_dispatch(base);
	pthread_join(t, NULL);

	event_free(tick);
	test_async();
	http_server_free(plain);
	http_server_free(secure);
	event_base_free(base);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
	return check_done();
}
