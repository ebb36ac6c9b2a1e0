/*
 * jsonl: see jsonl.h.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "proto_job.h"
#include "proto_json.h"
#include "engine/request.h"
#include "protocol/jsonl.h"
#include "protocol/scan.h"

char *
jsonl_peek_id(const char *head, size_t len)
{
	json_t *v;
	char *id;

	/* The head was not validated (it is cut short): whatever the
	 * scanner finds is checked to be a whole string or number. */
	id = scan_member_dup(head, len, "id");
	if (id == NULL)
		return NULL;
	v = json_loads(id, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
	if (!json_is_string(v) && !json_is_number(v)) {
		free(id);
		id = NULL;
	}
	json_decref(v);
	return id;
}

/* Read an optional positive number of seconds into *ms. */
static int
get_seconds(const json_t *root, const char *key, long *ms, char *err,
    size_t errlen)
{
	const json_t *v;
	double sec;

	v = json_object_get(root, key);
	if (v == NULL || json_is_null(v))
		return 0;
	sec = json_is_number(v) ? json_number_value(v) : -1;
	if (!isfinite(sec) || sec * 1000 < 1 || sec > 86400) {
		(void)snprintf(err, errlen, "'%s' must be a number of seconds "
		    "from 0.001 to 86400", key);
		return -1;
	}
	*ms = (long)llround(sec * 1000);
	return 0;
}

/* The id as JSON text, a number exactly as it was sent (1e3 stays 1e3,
 * 0.1 stays 0.1), into *id_json; NULL when absent or not a string or a
 * number. Returns 0, or -1 out of memory. */
static int
get_id(const json_t *root, const char *line, size_t len, char **id_json)
{
	const json_t *v = json_object_get(root, "id");

	*id_json = NULL;
	if (v == NULL || (!json_is_string(v) && !json_is_number(v)))
		return 0;
	if (json_is_number(v))
		*id_json = scan_member_dup(line, len, "id");
	if (*id_json == NULL)
		*id_json = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	return *id_json == NULL ? -1 : 0;
}

static int
get_op(const json_t *root, enum req_op *op, char *err, size_t errlen)
{
	static const struct {
		const char	*name;
		enum req_op	 op;
	} ops[] = {
		{ "embed", REQ_OP_EMBED },
		{ "cancel", REQ_OP_CANCEL },
		{ "stats", REQ_OP_STATS }
	};
	const json_t *v = json_object_get(root, "op");
	size_t i;

	if (v == NULL) {
		*op = REQ_OP_EMBED;
		return 0;
	}
	for (i = 0; json_is_string(v) && i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(json_string_value(v), ops[i].name) == 0) {
			*op = ops[i].op;
			return 0;
		}
	(void)snprintf(err, errlen, "unknown 'op'; known ones are \"embed\", "
	    "\"cancel\" and \"stats\"");
	return -1;
}

/*
 * "user" (a string) and "extra_body" (an object), both sent on to the API
 * in its request body, into req->extra_json. Returns 0, or -1 with a
 * message in err.
 */
static int
get_extra(const json_t *root, struct request *req, char *err, size_t errlen)
{
	const json_t *user, *body;
	json_t *all;
	int rc = -1;

	user = json_object_get(root, "user");
	body = json_object_get(root, "extra_body");
	if (user != NULL && json_is_null(user))
		user = NULL;
	if (body != NULL && json_is_null(body))
		body = NULL;
	if (user == NULL && body == NULL)
		return 0;
	if (user != NULL && !json_is_string(user)) {
		(void)snprintf(err, errlen, "'user' must be a string");
		return -1;
	}
	if (body != NULL && !json_is_object(body)) {
		(void)snprintf(err, errlen, "'extra_body' must be an object");
		return -1;
	}
	all = body != NULL ? json_deep_copy(body) : json_object();
	if (all == NULL || (user != NULL &&
	    json_object_set(all, "user", (json_t *)(uintptr_t)user) == -1)) {
		(void)snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = proto_extra_members(all, &req->extra_json, err, errlen);
out:
	json_decref(all);
	return rc;
}

/* The members of an embed request: input, model, dimensions, timeout,
 * deadline, user and extra_body. Returns 0, or -1 with a message in
 * err. */
static int
get_embed(const json_t *root, struct request *req, char *err, size_t errlen)
{
	const json_t *v;

	v = json_object_get(root, "input");
	if (v == NULL) {
		(void)snprintf(err, errlen, "request has no 'input'");
		return -1;
	}
	if (proto_input_normalize(v, &req->input_json, &req->n_inputs, err,
	    errlen) == -1)
		return -1;
	v = json_object_get(root, "model");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    strlen(json_string_value(v)) != json_string_length(v)) {
			(void)snprintf(err, errlen,
			    "'model' must be a non-empty string");
			return -1;
		}
		req->model = strdup(json_string_value(v));
		if (req->model == NULL) {
			(void)snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	v = json_object_get(root, "dimensions");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_number(v) || json_number_value(v) < 1 ||
		    json_number_value(v) > 100000 ||
		    json_number_value(v) != floor(json_number_value(v))) {
			(void)snprintf(err, errlen, "'dimensions' must be an "
			    "integer from 1 to 100000");
			return -1;
		}
		req->dimensions = (long)json_number_value(v);
	}
	if (get_seconds(root, "timeout", &req->timeout_ms, err, errlen) == -1 ||
	    get_seconds(root, "deadline", &req->deadline_ms, err, errlen) == -1)
		return -1;
	return get_extra(root, req, err, errlen);
}

struct request *
jsonl_parse_request(const char *line, size_t len, char **id_json, char *err,
    size_t errlen)
{
	struct request *req = NULL;
	json_t *root;
	json_error_t jerr;
	const json_t *v;

	*id_json = NULL;
	/* Integers as reals: an id beyond int64 is still an id. */
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES |
	    JSON_DECODE_INT_AS_REAL, &jerr);
	if (root == NULL) {
		(void)snprintf(err, errlen, "request is not JSON: %s at "
		    "column %d", jerr.text, jerr.column);
		return NULL;
	}
	if (!json_is_object(root)) {
		(void)snprintf(err, errlen, "request is not a JSON object");
		goto fail;
	}
	req = calloc(1, sizeof(*req));
	if (req == NULL || get_id(root, line, len, id_json) == -1) {
		(void)snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (get_op(root, &req->op, err, errlen) == -1)
		goto fail;
	v = json_object_get(root, "id");
	if (*id_json == NULL && (v != NULL || req->op != REQ_OP_STATS)) {
		(void)snprintf(err, errlen, v == NULL ? "request has no 'id'" :
		    "'id' must be a string or a number");
		goto fail;
	}
	if (req->op == REQ_OP_EMBED && get_embed(root, req, err, errlen) == -1)
		goto fail;
	req->id_json = *id_json;
	*id_json = NULL;
	json_decref(root);
	return req;
fail:
	request_free(req);
	json_decref(root);
	return NULL;
}

int
jsonl_format_answer(struct buf *out, const char *id_json,
    const struct answer *a)
{
	size_t mark = buf_len(out);

	if (buf_printf(out, "{\"id\":%s,\"ok\":%s,",
	    id_json != NULL ? id_json : "null",
	    a->code == REQ_OK ? "true" : "false") == -1)
		goto fail;
	if (a->code == REQ_OK) {
		if (buf_append(out, a->body, a->body_len) == -1)
			goto fail;
	} else {
		if (buf_printf(out, "\"error\":{\"code\":\"%s\",\"message\":",
		    req_code_name(a->code)) == -1 ||
		    proto_append_json_string(out, a->message != NULL ?
		    a->message : "") == -1)
			goto fail;
		if (a->http_status > 0 &&
		    buf_printf(out, ",\"status\":%d", a->http_status) == -1)
			goto fail;
		if (a->retry_after_ms > 0 && (a->code == REQ_RATE_LIMITED ||
		    a->code == REQ_CIRCUIT_OPEN) && buf_printf(out,
		    ",\"retry_after_ms\":%ld", a->retry_after_ms) == -1)
			goto fail;
		if (buf_printf(out, ",\"retryable\":%s}",
		    a->retryable ? "true" : "false") == -1)
			goto fail;
	}
	if (buf_printf(out, ",\"attempts\":%u,\"ms\":%ld}\n", a->attempts,
	    a->ms) == -1)
		goto fail;
	return 0;
fail:
	/* Never leave half a line behind. */
	buf_truncate(out, mark);
	return -1;
}

int
jsonl_format_stats(struct buf *out, const char *id_json,
    const struct engine_stats *st, const char *extra, int64_t now)
{
	size_t mark = buf_len(out);
	int code;

	if (buf_printf(out, "{\"id\":%s,\"ok\":true,\"stats\":{"
	    "\"requests\":%llu,\"ok\":%llu,\"errors\":{",
	    id_json != NULL ? id_json : "null",
	    (unsigned long long)st->requests,
	    (unsigned long long)st->answered[REQ_OK]) == -1)
		goto fail;
	for (code = REQ_OK + 1; code < REQ_N_CODES; code++)
		if (buf_printf(out, "%s\"%s\":%llu", code > REQ_OK + 1 ?
		    "," : "", req_code_name((enum req_code)code),
		    (unsigned long long)st->answered[code]) == -1)
			goto fail;
	if (buf_printf(out, "},\"failed\":%llu,\"workers_started\":%llu,"
	    "\"workers_killed\":%llu,\"spawn_failures\":%llu,"
	    "\"retries\":%llu,\"retries_refused\":%llu,\"hedges\":%llu,"
	    "\"hedges_won\":%llu,\"hedges_refused\":%llu,"
	    "\"hedge_delay_ms\":%ld,\"circuit\":\"%s\","
	    "\"circuit_opens\":%llu,\"endpoint_failed\":%s,"
	    "\"rate_limit_waits\":%llu,\"rate_limit_pauses\":%llu,"
	    "\"ratelimit_remaining_requests\":%ld,"
	    "\"ratelimit_remaining_tokens\":%ld,"
	    "\"in_flight\":%zu,\"queued\":%zu,"
	    "\"warm\":%zu,\"warm_failures\":%llu,"
	    "\"uptime_s\":%lld%s%s}}\n",
	    (unsigned long long)stats_failed(st),
	    (unsigned long long)st->workers_started,
	    (unsigned long long)st->workers_killed,
	    (unsigned long long)st->spawn_failures,
	    (unsigned long long)st->retries,
	    (unsigned long long)st->retries_refused,
	    (unsigned long long)st->hedges,
	    (unsigned long long)st->hedges_won,
	    (unsigned long long)st->hedges_refused,
	    st->hedge_delay_ms, st->circuit != NULL ? st->circuit : "closed",
	    (unsigned long long)st->circuit_opens,
	    st->endpoint_failed ? "true" : "false",
	    (unsigned long long)st->rate_limit_waits,
	    (unsigned long long)st->rate_limit_pauses,
	    st->ratelimit_remaining_requests,
	    st->ratelimit_remaining_tokens, st->running, st->queued,
	    st->busy - st->running, (unsigned long long)st->warm_failures,
	    (long long)((now - st->started_ms) / 1000),
	    extra != NULL ? "," : "", extra != NULL ? extra : "") == -1)
		goto fail;
	return 0;
fail:
	buf_truncate(out, mark);
	return -1;
}
