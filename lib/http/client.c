#include "http/http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct sink {
	struct buf *out;
	size_t max;
	int too_large;
};

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = size * n;
	if (s->out->len + len > s->max) {
		s->too_large = 1;
		return 0; /* makes curl stop with CURLE_WRITE_ERROR */
	}
	return buf_append(s->out, p, len) < 0 ? 0 : len;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int http_fetch(const struct http_client_config *cfg, const char *method,
	       const char *url, const void *body, size_t body_len,
	       struct buf *response, char *err, size_t errlen)
{
	pthread_once(&curl_once, curl_init_once);
	/* Callers may treat the response as a string even when none came. */
	if (buf_reserve(response, 0) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	CURL *c = curl_easy_init();
	if (!c) {
		snprintf(err, errlen, "curl_easy_init failed");
		return -1;
	}
	char cerr[CURL_ERROR_SIZE] = "";
	struct sink sink = { response, cfg->max_response ? cfg->max_response
							 : (size_t)16 << 20, 0 };
	struct curl_slist *hdrs = curl_slist_append(NULL,
		"Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, cfg->timeout_ms > 0
						 ? cfg->timeout_ms : 30000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)body_len);
	}
	if (cfg->tls) {
		curl_easy_setopt(c, CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_2);
		if (cfg->tls->cert_file) {
			curl_easy_setopt(c, CURLOPT_SSLCERT, cfg->tls->cert_file);
			curl_easy_setopt(c, CURLOPT_SSLKEY, cfg->tls->key_file);
		}
		if (cfg->tls->ca_file) {
			curl_easy_setopt(c, CURLOPT_CAINFO, cfg->tls->ca_file);
			curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
		}
		/* Keylime agents present self-signed certificates whose names
		 * are not their addresses; the certificate itself is pinned by
		 * ca_file instead. */
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, cfg->verify_host ? 2L : 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	}
	CURLcode rc = curl_easy_perform(c);
	long status = -1;
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	} else if (sink.too_large) {
		snprintf(err, errlen, "%s: response larger than %zu bytes", url,
			 sink.max);
	} else {
		snprintf(err, errlen, "%s: %s", url,
			 cerr[0] ? cerr : curl_easy_strerror(rc));
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return (int)status;
}
