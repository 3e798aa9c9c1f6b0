/* The verifier's HTTP API (Keylime verifier API v2.0 to v2.5, mutual TLS):
 * agents (add, status, list, delete, reactivate, stop), the named policy
 * stores (allowlists: runtime policies; mbpolicies: measured boot), /version
 * and /metrics. Input is checked completely before anything is stored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/encode.h"
#include "util/log.h"
#include "util/name.h"
#include "verifier/verifier.h"

const char *const verifier_api_versions[] = {
	"2.0", "2.1", "2.2", "2.3", "2.4", "2.5", NULL
};

static void add_agent(struct verifier *v, struct http_request *req,
		      struct http_response *resp, const char *id)
{
	char err[256];
	int status;
	if (map_get(v->agents, id)) {
		snprintf(err, sizeof err, "Agent of uuid %s already exists. Please use "
			 "delete or update.", id);
		http_reply(resp, 409, err, NULL);
		return;
	}
	json_t *body = http_body_json(req, resp);
	if (!body)
		return;
	struct agent *a = agent_new(v, id);
	if (!a || agent_enrol(a, body, &status, err, sizeof err) < 0) {
		http_reply(resp, a ? status : 500, a ? err : "Out of memory", NULL);
		agent_free(a);
		json_decref(body);
		return;
	}
	a->provide_v = a->v_len > 0;
	/* An inline runtime policy is stored under its name, or the agent id
	 * (reused when that exists, as Keylime does). */
	if (a->rp_text && !a->runtime_policy_name) {
		a->runtime_policy_name = strdup(id);
		if (verifier_db_policy_put(v->db, "runtime_policies", id, a->rp_text, 0) < 0) {
			http_reply(resp, 500, "Database error", NULL);
			agent_free(a);
			json_decref(body);
			return;
		}
	} else if (a->rp_text && json_string_value(json_object_get(body, "runtime_policy")) &&
		   *json_string_value(json_object_get(body, "runtime_policy"))) {
		int pr = verifier_db_policy_put(v->db, "runtime_policies",
						a->runtime_policy_name, a->rp_text, 0);
		if (pr != 0) {
			snprintf(err, sizeof err, "IMA policy with name %s already exists. "
				 "Please use a different name or delete the allowlist from "
				 "the verifier.", a->runtime_policy_name);
			http_reply(resp, pr < 0 ? 500 : 409, pr < 0 ? "Database error" : err, NULL);
			agent_free(a);
			json_decref(body);
			return;
		}
	}
	/* Likewise an inline reference state. */
	if (a->mb_text && json_string_value(json_object_get(body, "mb_policy")) &&
	    *json_string_value(json_object_get(body, "mb_policy"))) {
		if (!a->mb_policy_name)
			a->mb_policy_name = strdup(id);
		int pr = verifier_db_policy_put(v->db, "mb_policies", a->mb_policy_name,
						a->mb_text, 0);
		if (pr != 0 && strcmp(a->mb_policy_name, id) != 0) {
			snprintf(err, sizeof err, "mb_policy with name %s already exists. "
				 "Please use a different name or delete the mb_policy from "
				 "the verifier.", a->mb_policy_name);
			http_reply(resp, pr < 0 ? 500 : 409, pr < 0 ? "Database error" : err, NULL);
			agent_free(a);
			json_decref(body);
			return;
		}
	}
	int r = verifier_db_add(v->db, id, (const char *)req->body, STATE_START,
				a->runtime_policy_name, a->mb_policy_name);
	json_decref(body);
	if (r != 0) {
		http_reply(resp, r == 1 ? 409 : 500, r == 1 ? "Agent already exists"
			   : "Database error", NULL);
		agent_free(a);
		return;
	}
	map_put(v->agents, id, a);
	log_info("agent %s enrolled (%s:%d, API %s)", id, a->ip, a->port, a->version);
	poll_start(a, 0);
	http_reply(resp, 200, "Success", NULL);
}

struct lister {
	struct verifier *v;
	json_t *out;
	int bulk;
	const char *version;
};

/* Status of an agent another verifier attests (shared mode), from its row:
 * the verifier named is its owner. */
static json_t *row_status(struct verifier *v, json_t *row, const char *version)
{
	struct agent *a = agent_from_row(v, row);
	if (!a)
		return NULL;
	json_t *j = agent_status_json(a, version);
	agent_free(a);
	json_t *owner = json_object_get(row, "owner");
	json_object_set(j, "verifier_id", owner ? owner : json_null());
	json_t *ip = json_object_get(row, "verifier_ip"), *port = json_object_get(row, "verifier_port");
	json_object_set(j, "verifier_ip", ip ? ip : json_null());
	json_object_set(j, "verifier_port", port ? port : json_null());
	return j;
}

static int list_row(json_t *row, void *arg)
{
	struct lister *l = arg;
	const char *id = json_string_value(json_object_get(row, "agent_id"));
	struct agent *a = map_get(l->v->agents, id);
	if (!l->bulk)
		/* Keylime lists each id as a one-column row: ["id"]. */
		json_array_append_new(l->out, json_pack("[s]", id));
	else if (a)
		json_object_set_new(l->out, id, agent_status_json(a, l->version));
	else
		json_object_set_new(l->out, id, row_status(l->v, row, l->version));
	return 0;
}

static void list_one(const char *id, void *value, void *arg)
{
	struct lister *l = arg;
	if (l->bulk)
		json_object_set_new(l->out, id, agent_status_json(value, l->version));
	else
		json_array_append_new(l->out, json_pack("[s]", id));
}

/* Every agent of the fleet, or (?verifier=ID) those one verifier attests.
 * In shared mode the database knows them all. */
static void list_agents(struct verifier *v, struct http_request *req,
			struct http_response *resp)
{
	const char *filter = http_query(req, "verifier");
	struct lister l = { v, NULL, http_query(req, "bulk") != NULL, req->version };
	if (filter && !*filter)
		filter = NULL;
	l.out = l.bulk ? json_object() : json_array();
	if (verifier_db_shared(v->db)) {
		if (verifier_db_each_agent(v->db, filter, list_row, &l) < 0) {
			json_decref(l.out);
			http_reply(resp, 500, "Database error", NULL);
			return;
		}
	} else if (!filter || strcmp(filter, v->verifier_id) == 0) {
		map_each(v->agents, list_one, &l);
	}
	http_reply(resp, 200, "Success", l.bulk ? l.out : json_pack("{s:o}", "uuids", l.out));
}

struct shown {
	struct verifier *v;
	const char *version;
	json_t *status;
};

static int show_row(json_t *row, void *arg)
{
	struct shown *s = arg;
	s->status = row_status(s->v, row, s->version);
	return 0;
}

/* An agent this verifier does not hold, in shared mode: status from the
 * database; delete there (its owner finds out at its next write); stop
 * and reactivate take it over first, so the change is made by the
 * verifier that attests it. Returns 0 when handled. */
static int foreign_agent(struct verifier *v, struct http_request *req,
			 struct http_response *resp, const char *id, struct agent **taken)
{
	const char *m = req->method;
	*taken = NULL;
	if (!verifier_db_shared(v->db))
		return -1;
	if (req->n_segments == 2 && strcmp(m, "GET") == 0) {
		struct shown s = { v, req->version, NULL };
		int r = verifier_db_get_agent(v->db, id, show_row, &s);
		if (r != 0 || !s.status)
			http_reply(resp, r < 0 || (r == 0 && !s.status) ? 500 : 404,
				   r < 0 ? "Database error" : r == 1 ? "agent id not found"
				   : "Stored agent unusable", NULL);
		else
			http_reply(resp, 200, "Success", s.status);
		return 0;
	}
	if (req->n_segments == 2 && strcmp(m, "DELETE") == 0) {
		int r = verifier_db_delete_agent(v->db, id);
		if (r == 0) {
			verifier_db_policy_delete(v->db, "runtime_policies", id);
			verifier_db_policy_delete(v->db, "mb_policies", id);
			log_info("agent %s deleted (attested by another verifier)", id);
		}
		http_reply(resp, r < 0 ? 500 : r == 1 ? 404 : 200, r < 0 ? "Database error"
			   : r == 1 ? "agent id not found" : "Success", NULL);
		return 0;
	}
	if (req->n_segments == 3 && strcmp(m, "PUT") == 0) {
		int r = verifier_db_take(v->db, id, agent_adopt, v);
		if (r < 0) {
			http_reply(resp, 500, "Database error", NULL);
			return 0;
		}
		*taken = map_get(v->agents, id);
		if (*taken)
			log_info("agent %s taken over for an operator request", id);
	}
	return -1;
}

static void agents(struct verifier *v, struct http_request *req,
		   struct http_response *resp)
{
	const char *m = req->method;
	if (req->n_segments == 1) {
		if (strcmp(m, "GET") == 0)
			list_agents(v, req, resp);
		else
			http_reply(resp, 405, "Method not allowed", NULL);
		return;
	}
	const char *id = req->segments[1];
	if (!name_valid(id, AGENT_ID_MAX)) {
		http_reply(resp, 400, "agent_id not valid", NULL);
		return;
	}
	struct agent *a = map_get(v->agents, id);
	if (req->n_segments == 2 && strcmp(m, "POST") == 0) {
		add_agent(v, req, resp, id);
		return;
	}
	if (!a && foreign_agent(v, req, resp, id, &a) == 0)
		return;
	if (!a) {
		http_reply(resp, req->n_segments == 3 ? 400 : 404, "agent id not found", NULL);
		return;
	}
	if (req->n_segments == 2 && strcmp(m, "GET") == 0) {
		http_reply(resp, 200, "Success", agent_status_json(a, req->version));
	} else if (req->n_segments == 2 && strcmp(m, "DELETE") == 0) {
		if (verifier_db_delete_agent(v->db, id) < 0) {
			http_reply(resp, 500, "Database error", NULL);
			return;
		}
		/* The policy stored under the agent's own id goes with it. */
		verifier_db_policy_delete(v->db, "runtime_policies", id);
		verifier_db_policy_delete(v->db, "mb_policies", id);
		log_info("agent %s deleted", id);
		agent_drop(a, 0);
		http_reply(resp, 200, "Success", NULL);
	} else if (req->n_segments == 3 && strcmp(m, "PUT") == 0 &&
		   strcmp(req->segments[2], "reactivate") == 0) {
		a->state = STATE_START;
		a->retries = 0;
		a->need_pubkey = 1;
		a->provide_v = a->v_len > 0;
		a->severity = -1;
		a->last_event_id[0] = 0;
		a->reason[0] = 0;
		state_changed(a);
		state_flush(v);
		log_info("agent %s reactivated", id);
		poll_start(a, 0);
		http_reply(resp, 200, "Success", NULL);
	} else if (req->n_segments == 3 && strcmp(m, "PUT") == 0 &&
		   strcmp(req->segments[2], "stop") == 0) {
		a->state = STATE_TENANT_FAILED;
		poll_stop(a);
		state_changed(a);
		state_flush(v);
		log_info("agent %s stopped", id);
		http_reply(resp, 200, "Success", NULL);
	} else {
		http_reply(resp, 405, "Method not allowed", NULL);
	}
}

/* /allowlists/{name} (runtime policies) and /mbpolicies/{name}, stored and
 * served as Keylime does. An enrolment naming one takes a copy when it is
 * accepted (or restored): changing a policy affects later enrolments. */
static void policies(struct verifier *v, struct http_request *req,
		     struct http_response *resp, int runtime)
{
	const char *table = runtime ? "runtime_policies" : "mb_policies";
	const char *column = runtime ? "runtime_policy_name" : "mb_policy_name";
	const char *what = runtime ? "Runtime policy" : "Measured boot policy";
	const char *m = req->method;
	char msg[320], user[AGENT_ID_MAX + 1];
	if (req->n_segments == 1) {
		json_t *names = json_array();
		if (strcmp(m, "GET") != 0 || verifier_db_policy_list(v->db, table, names) < 0) {
			json_decref(names);
			http_reply(resp, strcmp(m, "GET") ? 400 : 500, strcmp(m, "GET")
				   ? "Invalid URL" : "Database error", NULL);
			return;
		}
		http_reply(resp, 200, "Success", json_pack("{s:o}", runtime
			   ? "runtimepolicy names" : "mbpolicy names", names));
		return;
	}
	const char *name = req->segments[1];
	if (req->n_segments != 2 || !name_valid(name, AGENT_ID_MAX)) {
		http_reply(resp, 400, "Invalid policy name", NULL);
		return;
	}
	if (strcmp(m, "GET") == 0) {
		char *text;
		int r = verifier_db_policy_get(v->db, table, name, &text);
		if (r != 0) {
			snprintf(msg, sizeof msg, "%s %s not found", what, name);
			http_reply(resp, r < 0 ? 500 : 404, r < 0 ? "Database error" : msg, NULL);
			return;
		}
		/* "tmp_policy" (always null) is Keylime's spelling; its clients
		 * read "runtime_policy", the raw JSON. */
		http_reply(resp, 200, "Success", runtime
			   ? json_pack("{s:s, s:n, s:s}", "name", name, "tmp_policy",
				       "runtime_policy", text ? text : "")
			   : json_pack("{s:s, s:s?}", "name", name, "mb_policy", text));
		free(text);
		return;
	}
	if (strcmp(m, "DELETE") == 0) {
		if (verifier_db_policy_user(v->db, column, name, user, sizeof user) == 0) {
			snprintf(msg, sizeof msg, "Can't delete %s as it's currently in use "
				 "by agent %s", runtime ? "allowlist" : "mb_policy", user);
			http_reply(resp, 409, msg, NULL);
			return;
		}
		int r = verifier_db_policy_delete(v->db, table, name);
		if (r != 0) {
			snprintf(msg, sizeof msg, "%s %s not found", what, name);
			http_reply(resp, r < 0 ? 500 : 404, r < 0 ? "Database error" : msg, NULL);
			return;
		}
		http_reply(resp, 204, "Success", NULL);
		resp->body.len = 0;
		return;
	}
	if (strcmp(m, "POST") != 0 && strcmp(m, "PUT") != 0) {
		http_reply(resp, 405, "Method not allowed", NULL);
		return;
	}
	json_t *body = http_body_json(req, resp);
	if (!body)
		return;
	struct buf text = BUF_INIT;
	json_t *p = json_object_get(body, runtime ? "runtime_policy" : "mb_policy");
	const char *s = json_string_value(p);
	if (runtime ? (!s || b64_decode(&text, s, strlen(s)) < 0 || text.len == 0)
		    : (p && !json_is_null(p) && !s)) {
		snprintf(msg, sizeof msg, "%s must be %s", runtime ? "runtime_policy"
			 : "mb_policy", runtime ? "base64 of the policy JSON (not empty)"
			 : "a JSON string or null");
		http_reply(resp, 400, msg, NULL);
		goto out;
	}
	if (!runtime && s)
		buf_append_str(&text, s);
	json_t *check = text.len ? json_loadb((char *)text.data, text.len, 0, NULL) : NULL;
	if (text.len && !json_is_object(check)) {
		json_decref(check);
		snprintf(msg, sizeof msg, "%s is not a JSON object", what);
		http_reply(resp, 400, msg, NULL);
		goto out;
	}
	json_decref(check);
	int replace = strcmp(m, "PUT") == 0;
	int r = verifier_db_policy_put(v->db, table, name, text.len ? (char *)text.data
				       : NULL, replace);
	if (r < 0) {
		http_reply(resp, 500, "Database error", NULL);
	} else if (r == 1) {
		snprintf(msg, sizeof msg, replace ? "%s with name %s does not already "
			 "exist, use POST to create" : "%s with name %s already exists",
			 what, name);
		http_reply(resp, replace ? (runtime ? 404 : 409) : 409, msg, NULL);
	} else {
		http_reply(resp, 201, "Created", NULL);
	}
out:
	buf_free(&text);
	json_decref(body);
}

static void version(struct http_response *resp)
{
	json_t *list = json_array();
	for (int i = 0; verifier_api_versions[i]; i++)
		json_array_append_new(list, json_string(verifier_api_versions[i]));
	http_reply(resp, 200, "Success", json_pack("{s:s, s:o}", "current_version",
						   VERIFIER_API_CURRENT, "supported_versions", list));
}

void verifier_api(struct http_request *req, struct http_response *resp, void *arg)
{
	struct verifier *v = arg;
	if (!req->version[0]) {
		if (req->n_segments == 1 && strcmp(req->method, "GET") == 0 &&
		    (strcmp(req->segments[0], "version") == 0 ||
		     strcmp(req->segments[0], "versions") == 0)) {
			version(resp);
		} else if (req->n_segments == 1 && strcmp(req->method, "GET") == 0 &&
			   strcmp(req->segments[0], "metrics") == 0) {
			verifier_metrics(v, &resp->body);
			resp->status = 200;
			resp->content_type = "text/plain; version=0.0.4";
		} else {
			http_reply(resp, 405, "Not Implemented: Use /agents/ interface instead",
				   NULL);
		}
		return;
	}
	int known = 0;
	for (int i = 0; verifier_api_versions[i]; i++)
		known |= strcmp(req->version, verifier_api_versions[i]) == 0;
	if (!known) {
		http_reply(resp, 400, "API Version not supported", NULL);
		return;
	}
	if (req->n_segments >= 1 && strcmp(req->segments[0], "agents") == 0)
		agents(v, req, resp);
	else if (req->n_segments >= 1 && strcmp(req->segments[0], "allowlists") == 0)
		policies(v, req, resp, 1);
	else if (req->n_segments >= 1 && strcmp(req->segments[0], "mbpolicies") == 0)
		policies(v, req, resp, 0);
	else
		http_reply(resp, 405, "Not Implemented: Use /agents/ interface instead", NULL);
}

struct state_count {
	unsigned n[11];
};

static void count_state(const char *id, void *value, void *arg)
{
	struct agent *a = value;
	struct state_count *c = arg;
	if ((unsigned)a->state < 11)
		c->n[a->state]++;
}

void verifier_metrics(struct verifier *v, struct buf *out)
{
	static const char *const names[11] = {
		"registered", "start", "saved", "get_quote", "get_quote_retry",
		"provide_v", "provide_v_retry", "failed", "terminated",
		"invalid_quote", "tenant_failed" };
	static const char *const bounds[14] = { "0.001", "0.0025", "0.005", "0.01",
		"0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf" };
	struct state_count c;
	memset(&c, 0, sizeof c);
	map_each(v->agents, count_state, &c);
	buf_reset(out);
	buf_printf(out, "# HELP assay_verifier_agents Agents by operational state.\n"
		   "# TYPE assay_verifier_agents gauge\n");
	for (int i = 0; i < 11; i++)
		buf_printf(out, "assay_verifier_agents{state=\"%s\"} %u\n", names[i], c.n[i]);
	buf_printf(out, "# HELP assay_verifier_attestations_total Quotes that passed.\n"
		   "# TYPE assay_verifier_attestations_total counter\n"
		   "assay_verifier_attestations_total %llu\n"
		   "# HELP assay_verifier_failures_total Agents that failed attestation.\n"
		   "# TYPE assay_verifier_failures_total counter\n"
		   "assay_verifier_failures_total %llu\n"
		   "# HELP assay_verifier_quote_seconds Quote round trip and checks.\n"
		   "# TYPE assay_verifier_quote_seconds histogram\n",
		   v->attestations, v->failures);
	unsigned long long cum = 0;
	for (int i = 0; i < 14; i++) {
		cum += v->latency_buckets[i];
		buf_printf(out, "assay_verifier_quote_seconds_bucket{le=\"%s\"} %llu\n",
			   bounds[i], cum);
	}
	buf_printf(out, "assay_verifier_quote_seconds_sum %.6f\n"
		   "assay_verifier_quote_seconds_count %llu\n", v->latency_sum,
		   v->latency_count);
}
