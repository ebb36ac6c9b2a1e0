/*
 * openai: see openai.h. Called by serve/http for every HTTP request and
 * answer. The ok path is on the hot path: the fragment is walked once,
 * row by row, with no JSON tree (its shape is the worker's own, fixed by
 * embed_format); requests are small and go through jansson.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base64.h"
#include "f32.h"
#include "proto_job.h"
#include "proto_json.h"
#include "protocol/openai.h"

#define MAX_DIMENSIONS	100000

/* "input": strings only; a token-id array (numbers, or arrays of them)
 * gets a message of its own, since OpenAI accepts those. */
static int
get_input(const json_t *root, struct request *req, char *err, size_t errlen)
{
	const json_t *v, *first;

	v = json_object_get(root, "input");
	if (v == NULL || json_is_null(v)) {
		(void)snprintf(err, errlen, "you must provide an 'input'");
		return -1;
	}
	first = json_array_get(v, 0);
	if (json_is_number(first) || json_is_array(first)) {
		(void)snprintf(err, errlen, "'input' as token ids is not "
		    "supported by embedwatch: send the text (a string or an "
		    "array of strings)");
		return -1;
	}
	return proto_input_normalize(v, &req->input_json, &req->n_inputs, err,
	    errlen);
}

/* An optional non-empty string member into a copy at *dst. */
static int
get_string(const json_t *root, const char *key, char **dst, char *err,
    size_t errlen)
{
	const json_t *v = json_object_get(root, key);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		(void)snprintf(err, errlen, "'%s' must be a non-empty string",
		    key);
		return -1;
	}
	*dst = strdup(json_string_value(v));
	if (*dst == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int
get_encoding(const json_t *root, bool *base64, char *err, size_t errlen)
{
	const json_t *v = json_object_get(root, "encoding_format");
	const char *s = json_string_value(v);

	*base64 = false;
	if (v == NULL || json_is_null(v) || (s != NULL &&
	    strcmp(s, "float") == 0))
		return 0;
	if (s != NULL && strcmp(s, "base64") == 0) {
		*base64 = true;
		return 0;
	}
	(void)snprintf(err, errlen,
	    "'encoding_format' must be \"float\" or \"base64\"");
	return -1;
}

static int
get_dimensions(const json_t *root, long *dims, char *err, size_t errlen)
{
	const json_t *v = json_object_get(root, "dimensions");

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > MAX_DIMENSIONS) {
		(void)snprintf(err, errlen, "'dimensions' must be an integer "
		    "from 1 to %d", MAX_DIMENSIONS);
		return -1;
	}
	*dims = (long)json_integer_value(v);
	return 0;
}

/* Every member but the four the job sets itself goes upstream as it is
 * ("user", and whatever an SDK's extra_body added), into
 * req->extra_json. */
static int
get_extra(const json_t *root, struct request *req, char *err, size_t errlen)
{
	static const char *const own[] = { "input", "model",
	    "encoding_format", "dimensions" };
	json_t *rest, *v;
	const char *key;
	void *tmp;
	size_t i;
	int rc;

	rest = json_copy((json_t *)(uintptr_t)root);
	if (rest == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		(void)json_object_del(rest, own[i]);
	/* A null member means "not given", as for the members above. */
	json_object_foreach_safe(rest, tmp, key, v)
		if (json_is_null(v))
			(void)json_object_del(rest, key);
	rc = proto_extra_members(rest, &req->extra_json, err, errlen);
	json_decref(rest);
	return rc;
}

struct request *
openai_parse_request(const char *body, size_t len, bool *base64,
    const char **param, char *err, size_t errlen)
{
	struct request *req = NULL;
	json_error_t jerr;
	json_t *root;
	const json_t *v;

	*param = NULL;
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		(void)snprintf(err, errlen, "we could not parse the JSON body "
		    "of your request: %s at column %d", jerr.text,
		    jerr.column);
		return NULL;
	}
	if (!json_is_object(root)) {
		(void)snprintf(err, errlen, "the body must be a JSON object");
		goto fail;
	}
	req = calloc(1, sizeof(*req));
	if (req == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		goto fail;
	}
	req->op = REQ_OP_EMBED;
	*param = "input";
	if (get_input(root, req, err, errlen) == -1)
		goto fail;
	*param = "model";
	if (get_string(root, "model", &req->model, err, errlen) == -1)
		goto fail;
	*param = "encoding_format";
	if (get_encoding(root, base64, err, errlen) == -1)
		goto fail;
	*param = "dimensions";
	if (get_dimensions(root, &req->dimensions, err, errlen) == -1)
		goto fail;
	*param = "user";
	v = json_object_get(root, "user");
	if (v != NULL && !json_is_null(v) && !json_is_string(v)) {
		(void)snprintf(err, errlen, "'user' must be a string");
		goto fail;
	}
	*param = NULL;
	if (get_extra(root, req, err, errlen) == -1)
		goto fail;
	json_decref(root);
	return req;
fail:
	request_free(req);
	json_decref(root);
	return NULL;
}

/*
 * Append row (the text between '[' and ']': values separated by ',') as
 * base64 of little-endian float32, quoted. Returns 0 or -1 with errno.
 */
static int
append_base64_row(struct buf *out, const char *row, const char *end)
{
	unsigned char *bytes = NULL;
	const char *p;
	size_t n = 1, i = 0, room;
	char *dst;
	ssize_t used;
	uint32_t bits;
	float v;
	int rc = -1;

	for (p = row; p < end; p++)
		n += *p == ',';
	bytes = malloc(n * 4);
	if (bytes == NULL)
		goto out;
	for (p = row; p < end && i < n; i++) {
		used = f32_parse(p, end, &v);
		if (used == -1)
			goto bad;
		p += used;
		if (p < end && *p++ != ',')
			goto bad;
		memcpy(&bits, &v, sizeof(bits));
		bytes[4 * i] = (unsigned char)bits;
		bytes[4 * i + 1] = (unsigned char)(bits >> 8);
		bytes[4 * i + 2] = (unsigned char)(bits >> 16);
		bytes[4 * i + 3] = (unsigned char)(bits >> 24);
	}
	if (i != n || p != end)
		goto bad;
	room = 4 * ((n * 4 + 2) / 3) + 3;
	dst = buf_reserve(out, room);
	if (dst == NULL)
		goto out;
	dst[0] = '"';
	i = base64_encode(bytes, n * 4, dst + 1);
	dst[i + 1] = '"';
	buf_commit(out, i + 2);
	rc = 0;
	goto out;
bad:
	errno = EINVAL;
out:
	free(bytes);
	return rc;
}

/* The rows of "embeddings":[[..],[..]] at *pp (up to end), each as an
 * item of "data"; *pp is left after the closing ']'. */
static int
append_rows(struct buf *out, const char **pp, const char *end, bool base64)
{
	const char *p = *pp, *close;
	size_t index;

	for (index = 0; p < end && *p == '['; index++) {
		close = memchr(p, ']', (size_t)(end - p));
		if (close == NULL || close == p + 1)
			goto bad;
		if (buf_printf(out, "%s{\"object\":\"embedding\",\"index\":%zu,"
		    "\"embedding\":", index > 0 ? "," : "", index) == -1)
			return -1;
		if (base64) {
			if (append_base64_row(out, p + 1, close) == -1)
				return -1;
		} else if (buf_append(out, p, (size_t)(close + 1 - p)) == -1)
			return -1;
		if (buf_append(out, "}", 1) == -1)
			return -1;
		p = close + 1;
		if (p < end && *p == ',')
			p++;
	}
	if (index == 0 || p >= end || *p != ']')
		goto bad;
	*pp = p + 1;
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

int
openai_format_embeddings(struct buf *out, const struct answer *a,
    bool base64)
{
	static const char head[] = "\"embeddings\":[";
	static const char model[] = ",\"model\":";
	const char *p = a->body, *end = a->body + a->body_len;
	size_t mark = buf_len(out);

	if (a->body_len < sizeof(head) - 1 ||
	    memcmp(p, head, sizeof(head) - 1) != 0)
		goto bad;
	p += sizeof(head) - 1;
	if (buf_append(out, "{\"object\":\"list\",\"data\":[", 25) == -1 ||
	    append_rows(out, &p, end, base64) == -1)
		goto fail;
	/* What follows is "model" and, if the API counted, "usage", both
	 * plain JSON members: copied as they are. A model name is a JSON
	 * string, so the bare text ,"usage":{ can only be the member. */
	if ((size_t)(end - p) < sizeof(model) - 1 ||
	    memcmp(p, model, sizeof(model) - 1) != 0)
		goto bad;
	if (buf_append(out, "]", 1) == -1 ||
	    buf_append(out, p, (size_t)(end - p)) == -1)
		goto fail;
	if (memmem(p, (size_t)(end - p), ",\"usage\":{", 10) == NULL &&
	    buf_append(out, ",\"usage\":{\"prompt_tokens\":0,"
	    "\"total_tokens\":0}", 45) == -1)
		goto fail;
	if (buf_append(out, "}", 1) == -1)
		goto fail;
	return 0;
bad:
	errno = EINVAL;
fail:
	buf_truncate(out, mark);
	return -1;
}

void
openai_error_of(const struct answer *a, struct openai_error *oe)
{
	const char *name = req_code_name(a->code);

	oe->status = 502;
	oe->type = "server_error";
	oe->code = name;
	oe->retry_after_s = 0;
	switch (a->code) {
	case REQ_INVALID_REQUEST:
		oe->status = 400;
		oe->type = "invalid_request_error";
		break;
	case REQ_HTTP:
		/* The API's own status, passed through. */
		if (a->http_status >= 400 && a->http_status <= 599)
			oe->status = a->http_status;
		if (oe->status == 401)
			oe->type = "authentication_error";
		else if (oe->status == 403)
			oe->type = "permission_error";
		else if (oe->status < 500)
			oe->type = "invalid_request_error";
		break;
	case REQ_RATE_LIMITED:
		oe->status = 429;
		oe->type = "rate_limit_error";
		oe->retry_after_s = 1;
		break;
	case REQ_TIMEOUT:
		oe->status = 504;
		oe->type = "timeout_error";
		break;
	case REQ_SHUTTING_DOWN:
		/* A successor is usually up within a second. */
		oe->status = 503;
		oe->retry_after_s = 1;
		break;
	case REQ_CANCELLED:
		oe->status = 503;
		break;
	default:
		/* The circuit breaker's code, by name, so that this file
		 * does not wait for the engine to grow it. */
		if (strcmp(name, "circuit_open") == 0) {
			oe->status = 503;
			oe->retry_after_s = 1;
		}
		break;
	}
}

int
openai_format_error(struct buf *out, const char *message, const char *type,
    const char *param, const char *code)
{
	size_t mark = buf_len(out);

	if (buf_append(out, "{\"error\":{\"message\":", 20) == -1 ||
	    proto_append_json_string(out, message) == -1 ||
	    buf_append(out, ",\"type\":", 8) == -1 ||
	    proto_append_json_string(out, type) == -1 ||
	    buf_append(out, ",\"param\":", 9) == -1 ||
	    (param != NULL ? proto_append_json_string(out, param) :
	    buf_append(out, "null", 4)) == -1 ||
	    buf_append(out, ",\"code\":", 8) == -1 ||
	    (code != NULL ? proto_append_json_string(out, code) :
	    buf_append(out, "null", 4)) == -1 ||
	    buf_append(out, "}}", 2) == -1) {
		buf_truncate(out, mark);
		return -1;
	}
	return 0;
}
