/* The attestation loop of one agent, on the verifier's event loop:
 *
 *   timer -> GET quotes/integrity (fresh nonce) -> checks
 *     pass: first time (or new payload key) POST keys/vkey, then the next
 *           poll after quote_interval
 *     fail: INVALID_QUOTE, the reason stored, revocation notices, stop
 *     no answer: retries with backoff, then FAILED and stop
 *
 * At most one request per agent is in flight (a->busy). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "util/encode.h"
#include "util/log.h"
#include "verifier/verifier.h"

static void send_quote(struct agent *a);

static long long now_s(void)
{
	return (long long)time(NULL);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	send_quote(arg);
}

void poll_start(struct agent *a, long delay_ms)
{
	if (!a->timer && !(a->timer = evtimer_new(a->v->base, on_timer, a)))
		return;
	struct timeval tv = { delay_ms / 1000, (delay_ms % 1000) * 1000 };
	evtimer_add(a->timer, &tv);
}

void poll_stop(struct agent *a)
{
	if (a->timer)
		evtimer_del(a->timer);
}

#define FLUSH_MS 200

void state_flush(struct verifier *v)
{
	struct agent *list = v->dirty, *next;
	if (!list)
		return;
	v->dirty = NULL;
	if (verifier_db_save_states(v->db, list) < 0)
		log_error("cannot store agent states: %s", verifier_db_error(v->db));
	for (struct agent *a = list; a; a = next) {
		next = a->next_dirty;
		a->dirty = 0;
		if (a->lost) {
			/* Shared mode: another verifier took it over (or it was
			 * deleted there); it is no longer ours to attest. */
			log_info("agent %s: no longer ours (taken over or deleted "
				 "through another verifier)", a->id);
			agent_drop(a, 1);
		}
	}
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	state_flush(arg);
}

void state_changed(struct agent *a)
{
	struct verifier *v = a->v;
	if (a->dirty)
		return;
	a->dirty = 1;
	a->next_dirty = v->dirty;
	v->dirty = a;
	if (!v->flusher)
		v->flusher = evtimer_new(v->base, on_flush, v);
	if (v->flusher && !evtimer_pending(v->flusher, NULL)) {
		struct timeval tv = { 0, FLUSH_MS * 1000 };
		evtimer_add(v->flusher, &tv);
	}
}

void state_forget(struct agent *a)
{
	struct agent **p = &a->v->dirty;
	while (*p && *p != a)
		p = &(*p)->next_dirty;
	if (*p)
		*p = a->next_dirty;
	a->dirty = 0;
}

static void save(struct agent *a)
{
	state_changed(a);
}

/* Returns 1 when the agent was deleted while we waited: it is freed. */
static int reap_deleted(struct agent *a)
{
	a->busy = 0;
	if (!a->deleted)
		return 0;
	agent_free(a);
	return 1;
}

static void fail_agent(struct agent *a, enum agent_state state, const char *type)
{
	a->state = state;
	a->severity = 6;	/* Keylime's default policy: every event is "emergency" */
	a->v->failures++;
	poll_stop(a);
	save(a);
	state_flush(a->v);
	log_warn("agent %s: %s: %s", a->id, state == STATE_FAILED ? "failed"
		 : "invalid quote", a->reason);
	notify_revocation(a, type);
}

/* Keylime's retry_time: retry_interval ** n seconds with exponential
 * backoff (when the interval is over 1 s), else the interval itself. */
static long backoff_ms(const struct agent *a)
{
	long base = a->v->retry_interval_ms;
	if (!a->v->exponential_backoff || base <= 1000)
		return base;
	double s = 1;
	for (int i = 0; i < a->retries; i++)
		s *= (double)base / 1000.0;
	return s > 3600 ? 3600000L : (long)(s * 1000);
}

/* Unreachable or an error answer: retry, then give up. */
static void retry(struct agent *a, enum agent_state retry_state, const char *what,
		  const char *why)
{
	if (a->retries >= a->v->max_retries) {
		snprintf(a->reason, sizeof a->reason, "%s: %s (after %d retries)", what,
			 why, a->retries);
		snprintf(a->last_event_id, sizeof a->last_event_id, "%s",
			 retry_state == STATE_GET_QUOTE_RETRY
			 ? "internal.verifier.not_reachable"
			 : "internal.verifier.not_reachable_v");
		fail_agent(a, STATE_FAILED, a->attestation_count > 0 ||
			   retry_state == STATE_PROVIDE_V_RETRY ? "comm_error" : NULL);
		return;
	}
	a->retries++;
	a->state = retry_state;
	a->need_pubkey = 1;
	save(a);
	long ms = backoff_ms(a);
	log_info("agent %s: %s: %s; retry %d in %ld ms", a->id, what, why, a->retries, ms);
	poll_start(a, ms);
}

static void schedule_next(struct agent *a)
{
	a->state = STATE_GET_QUOTE;
	a->retries = 0;
	save(a);
	poll_start(a, a->v->quote_interval_ms);
}

static void url_for(const struct agent *a, char *out, size_t n, const char *path)
{
	snprintf(out, n, "%s://%s%s%s:%d/v%s/%s", a->mtls_cert ? "https" : "http",
		 strchr(a->ip, ':') ? "[" : "", a->ip, strchr(a->ip, ':') ? "]" : "",
		 a->port, a->version, path);
}

static void on_v(int status, struct buf *body, const char *err, void *arg)
{
	struct agent *a = arg;
	if (reap_deleted(a))
		return;
	if (status == 200) {
		a->provide_v = 0;
		log_info("agent %s: V delivered", a->id);
		schedule_next(a);
		return;
	}
	char why[128];
	snprintf(why, sizeof why, "%s", status < 0 ? err : "HTTP error");
	if (status < 0 || status == 408 || status >= 500) {
		retry(a, STATE_PROVIDE_V_RETRY, "delivering V", why);
		return;
	}
	snprintf(a->reason, sizeof a->reason, "the agent refused V (HTTP %d)", status);
	snprintf(a->last_event_id, sizeof a->last_event_id, "internal.verifier.no_v");
	fail_agent(a, STATE_FAILED, NULL);
}

static void send_v(struct agent *a)
{
	char url[512], err[256];
	struct buf ct = BUF_INIT;
	EVP_PKEY *nk = crypto_key_from_pem(a->nk_pem, strlen(a->nk_pem), 0);
	a->state = STATE_PROVIDE_V;
	if (!nk || EVP_PKEY_get_base_id(nk) != EVP_PKEY_RSA ||
	    crypto_rsa_oaep_encrypt(nk, EVP_sha1(), a->v_half, a->v_len, &ct) < 0) {
		EVP_PKEY_free(nk);
		snprintf(a->reason, sizeof a->reason, "the agent's payload key is not "
			 "an RSA key V can be encrypted to");
		snprintf(a->last_event_id, sizeof a->last_event_id, "internal.verifier.no_v");
		fail_agent(a, STATE_FAILED, NULL);
		return;
	}
	EVP_PKEY_free(nk);
	char *b64 = b64_encode_str(ct.data, ct.len);
	buf_free(&ct);
	json_t *j = json_pack("{s:s}", "encrypted_key", b64);
	char *body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	free(b64);
	url_for(a, url, sizeof url, "keys/vkey");
	struct http_call call = { "POST", url, body, strlen(body), a->mtls_cert, 0,
				  a->v->request_timeout_ms, 1 << 16 };
	a->busy = 1;
	if (http_client_send(a->v->client, &call, on_v, a, err, sizeof err) < 0) {
		a->busy = 0;
		retry(a, STATE_PROVIDE_V_RETRY, "delivering V", err);
	}
	free(body);
}

static void record_latency(struct verifier *v, const struct timespec *start)
{
	static const double bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
					 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
	struct timespec end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	double s = (double)(end.tv_sec - start->tv_sec) +
		   (double)(end.tv_nsec - start->tv_nsec) / 1e9;
	int i = 0;
	while (i < 13 && s > bounds[i])
		i++;
	v->latency_buckets[i]++;
	v->latency_count++;
	v->latency_sum += s;
}

static void on_quote(int status, struct buf *body, const char *err, void *arg)
{
	struct agent *a = arg;
	if (reap_deleted(a))
		return;
	if (a->state == STATE_TENANT_FAILED)
		return;	/* stopped while we waited */
	char why[160];
	if (status < 0 || status == 408 || status >= 500) {
		snprintf(why, sizeof why, "%s", status < 0 ? err : "server error");
		retry(a, STATE_GET_QUOTE_RETRY, "getting a quote", why);
		return;
	}
	json_t *j = json_loadb((char *)body->data, body->len, 0, NULL);
	json_t *res = json_object_get(j, "results");
	if (status != 200 || !json_is_object(res)) {
		const char *st = json_string_value(json_object_get(j, "status"));
		snprintf(a->reason, sizeof a->reason, "the agent answered HTTP %d%s%.200s",
			 status, st ? ": " : "", st ? st : "");
		snprintf(a->last_event_id, sizeof a->last_event_id, "internal.verifier.no_quote");
		json_decref(j);
		fail_agent(a, STATE_FAILED, NULL);
		return;
	}
	int full = a->need_pubkey;
	a->last_received_quote = now_s();
	int ok = check_quote_reply(a, res, full);
	json_decref(j);
	record_latency(a->v, &a->sent_at);
	if (ok == 1) {
		/* The IMA list starts over (the agent rebooted): fetch it from
		 * entry 0 at once; this quote proved nothing about it. */
		log_info("agent %s: IMA list restarted, fetching it from entry 0", a->id);
		ima_state_init(&a->ima);
		save(a);
		poll_start(a, 0);
		return;
	}
	if (ok < 0) {
		fail_agent(a, STATE_INVALID_QUOTE, "revocation");
		return;
	}
	a->v->attestations++;
	a->attestation_count++;
	a->last_successful = a->last_received_quote;
	a->need_pubkey = 0;
	a->reason[0] = 0;
	if (a->provide_v)
		send_v(a);
	else
		schedule_next(a);
}

static void random_nonce(char *out, size_t n)
{
	static const char alnum[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	uint8_t r[NONCE_LEN];
	crypto_random(r, sizeof r);
	for (size_t i = 0; i + 1 < n && i < sizeof r; i++)
		out[i] = alnum[r[i] % 62];
	out[n - 1] = 0;
}

static void send_quote(struct agent *a)
{
	char url[512], path[160], err[256];
	if (a->busy || a->state == STATE_TENANT_FAILED || a->state == STATE_FAILED ||
	    a->state == STATE_INVALID_QUOTE)
		return;
	random_nonce(a->nonce, sizeof a->nonce);
	uint32_t mask = a->tpm_policy.mask | (a->rpolicy ? 1u << IMA_PCR : 0) |
			(a->mbpolicy ? MB_POLICY_PCRS : 0);
	snprintf(path, sizeof path, "quotes/integrity?nonce=%s&mask=0x%x&partial=%d"
		 "&ima_ml_entry=%llu", a->nonce, mask, a->need_pubkey ? 0 : 1,
		 (unsigned long long)a->ima.next_entry);
	url_for(a, url, sizeof url, path);
	struct http_call call = { "GET", url, NULL, 0, a->mtls_cert, 0,
				  a->v->request_timeout_ms, 8 << 20 };
	clock_gettime(CLOCK_MONOTONIC, &a->sent_at);
	a->busy = 1;
	if (http_client_send(a->v->client, &call, on_quote, a, err, sizeof err) < 0) {
		a->busy = 0;
		retry(a, STATE_GET_QUOTE_RETRY, "getting a quote", err);
	}
}
