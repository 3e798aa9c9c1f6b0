#include "http/http.h"

#include <stdio.h>

void http_reply(struct http_response *resp, int code, const char *status,
		json_t *results)
{
	json_t *root = json_pack("{s:i, s:s, s:o}", "code", code,
				 "status", status,
				 "results", results ? results : json_object());
	buf_reset(&resp->body);
	resp->status = code;
	resp->content_type = "application/json";
	char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
	if (text)
		buf_append_str(&resp->body, text);
	else
		buf_append_str(&resp->body, "{\"code\":500,\"status\":"
			       "\"Internal error\",\"results\":{}}");
	free(text);
	json_decref(root);
}

json_t *http_body_json(struct http_request *req, struct http_response *resp)
{
	json_error_t jerr;
	char msg[256];
	if (req->body_len == 0) {
		http_reply(resp, 400, "Request body is empty; expected a JSON object",
			   NULL);
		return NULL;
	}
	/* JSON_REJECT_DUPLICATES: a duplicate key is ambiguous input. The
	 * depth limit is jansson's own (2048). */
	json_t *j = json_loadb((const char *)req->body, req->body_len,
			       JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		snprintf(msg, sizeof msg, "Malformed JSON at line %d column %d: %s",
			 jerr.line, jerr.column, jerr.text);
		http_reply(resp, 400, msg, NULL);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		http_reply(resp, 400, "Request body must be a JSON object", NULL);
		return NULL;
	}
	return j;
}
