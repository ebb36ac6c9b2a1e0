/*
 * proto_job: see proto_job.h. jansson values have one owner: the parsed
 * job keeps its JSON root in its private part, and every string of the
 * job borrows from that root; getters only borrow.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "proto_job.h"
#include "proto_json.h"

int
proto_input_normalize(const json_t *input, char **json, size_t *n,
    char *err, size_t errlen)
{
	json_t *arr = NULL;
	const json_t *v;
	size_t i;
	int rc = -1;

	*json = NULL;
	if (json_is_string(input)) {
		if (json_string_length(input) == 0) {
			(void)snprintf(err, errlen,
			    "'input' is an empty string");
			goto out;
		}
		arr = json_array();
		if (arr == NULL ||
		    json_array_append(arr, (json_t *)(uintptr_t)input) == -1) {
			(void)snprintf(err, errlen, "out of memory");
			goto out;
		}
		input = arr;
	} else if (!json_is_array(input)) {
		(void)snprintf(err, errlen,
		    "'input' must be a string or an array of strings");
		goto out;
	}
	*n = json_array_size(input);
	if (*n == 0) {
		(void)snprintf(err, errlen, "'input' is an empty array");
		goto out;
	}
	if (*n > PROTO_MAX_INPUTS) {
		(void)snprintf(err, errlen,
		    "'input' has %zu strings, at most %d are allowed", *n,
		    PROTO_MAX_INPUTS);
		goto out;
	}
	json_array_foreach(input, i, v) {
		if (!json_is_string(v)) {
			(void)snprintf(err, errlen,
			    "'input[%zu]' is not a string", i);
			goto out;
		}
		if (json_string_length(v) == 0) {
			(void)snprintf(err, errlen,
			    "'input[%zu]' is an empty string", i);
			goto out;
		}
	}
	*json = json_dumps(input, JSON_COMPACT | JSON_ENCODE_ANY);
	if (*json == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	json_decref(arr);
	return rc;
}

/* The optional hints: connect timeout, address, TLS session (base64). */
static int
append_hints(const struct job *job, struct buf *out)
{
	char *b64;
	int rc;

	if (job->connect_timeout_ms > 0 && buf_printf(out,
	    ",\"connect_timeout_ms\":%ld", job->connect_timeout_ms) == -1)
		return -1;
	if (job->resolve_addr != NULL &&
	    (buf_append(out, ",\"resolve\":", 11) == -1 ||
	    proto_append_json_string(out, job->resolve_addr) == -1))
		return -1;
	if (job->tls_session == NULL || job->tls_session_len == 0)
		return 0;
	b64 = malloc(4 * ((job->tls_session_len + 2) / 3) + 1);
	if (b64 == NULL)
		return -1;
	(void)base64_encode(job->tls_session, job->tls_session_len, b64);
	rc = buf_printf(out, ",\"tls_session\":\"%s\"", b64);
	free(b64);
	return rc;
}

int
proto_job_to_json(const struct job *job, struct buf *out)
{
	size_t i;

	if (buf_append(out, "{\"url\":", 7) == -1 ||
	    proto_append_json_string(out, job->base_url) == -1 ||
	    buf_append(out, ",\"model\":", 9) == -1 ||
	    proto_append_json_string(out, job->model) == -1 ||
	    buf_printf(out, ",\"input\":%s,\"encoding_format\":\"%s\","
	    "\"timeout_ms\":%ld,\"max_response\":%zu,\"insecure\":%s,"
	    "\"attempt\":%u", job->input_json,
	    job->encoding == JOB_ENCODING_FLOAT ? "float" : "base64",
	    job->timeout_ms, job->max_response,
	    job->insecure ? "true" : "false", job->attempt) == -1)
		return -1;
	if (job->dimensions > 0 &&
	    buf_printf(out, ",\"dimensions\":%ld", job->dimensions) == -1)
		return -1;
	if (job->extra_json != NULL &&
	    buf_printf(out, ",\"extra\":{%s}", job->extra_json) == -1)
		return -1;
	if (job->cacert != NULL && (buf_append(out, ",\"cacert\":", 10) == -1 ||
	    proto_append_json_string(out, job->cacert) == -1))
		return -1;
	if (job->request_id != NULL &&
	    (buf_append(out, ",\"request_id\":", 14) == -1 ||
	    proto_append_json_string(out, job->request_id) == -1))
		return -1;
	if (job->api_key_header != NULL &&
	    (buf_append(out, ",\"api_key_header\":", 18) == -1 ||
	    proto_append_json_string(out, job->api_key_header) == -1))
		return -1;
	if (job->n_secret_headers > 0 && buf_printf(out,
	    ",\"secret_headers\":%zu", job->n_secret_headers) == -1)
		return -1;
	if (append_hints(job, out) == -1)
		return -1;
	if (job->n_headers > 0) {
		if (buf_append(out, ",\"headers\":[", 12) == -1)
			return -1;
		for (i = 0; i < job->n_headers; i++) {
			if (i > 0 && buf_append(out, ",", 1) == -1)
				return -1;
			if (proto_append_json_string(out, job->headers[i]) ==
			    -1)
				return -1;
		}
		if (buf_append(out, "]", 1) == -1)
			return -1;
	}
	return buf_append(out, "}", 1);
}

int
proto_extra_members(const json_t *obj, char **members, char *err,
    size_t errlen)
{
	static const char *const own[] = { "input", "model",
	    "encoding_format", "dimensions" };
	char *text;
	size_t i, len;

	*members = NULL;
	if (!json_is_object(obj)) {
		(void)snprintf(err, errlen, "extra body members must be a JSON "
		    "object");
		return -1;
	}
	for (i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (json_object_get(obj, own[i]) != NULL) {
			(void)snprintf(err, errlen, "'%s' cannot be an extra "
			    "body member", own[i]);
			return -1;
		}
	if (json_object_size(obj) == 0)
		return 0;
	text = json_dumps(obj, JSON_COMPACT);
	if (text == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* "{...}" to "...": drop the braces in place. */
	len = strlen(text);
	memmove(text, text + 1, len - 2);
	text[len - 2] = '\0';
	*members = text;
	return 0;
}

/* What proto_job_parse allocates besides the struct job itself. */
struct job_priv {
	json_t		 *root;
	char		 *input_json;
	const char	**headers;
	unsigned char	 *tls_session;
	char		 *extra_json;
};

/* Read an optional string member into *dst. */
static int
get_string(const json_t *root, const char *key, const char **dst,
    char *err, size_t errlen)
{
	const json_t *v;

	v = json_object_get(root, key);
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		(void)snprintf(err, errlen, "'%s' must be a string", key);
		return -1;
	}
	*dst = json_string_value(v);
	return 0;
}

/* Read an optional non-negative integer member into *dst. */
static int
get_long(const json_t *root, const char *key, long *dst, char *err,
    size_t errlen)
{
	const json_t *v;

	v = json_object_get(root, key);
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		(void)snprintf(err, errlen,
		    "'%s' must be a non-negative integer", key);
		return -1;
	}
	*dst = (long)json_integer_value(v);
	return 0;
}

/* The scalar members: strings, counts, encoding_format and insecure. */
static int
get_scalars(const json_t *root, struct job *job, char *err, size_t errlen)
{
	const json_t *v;
	const char *enc = NULL;
	long max_response, attempt;

	max_response = (long)job->max_response;
	attempt = job->attempt;
	if (get_string(root, "url", &job->base_url, err, errlen) == -1 ||
	    get_string(root, "model", &job->model, err, errlen) == -1 ||
	    get_string(root, "encoding_format", &enc, err, errlen) == -1 ||
	    get_string(root, "cacert", &job->cacert, err, errlen) == -1 ||
	    get_string(root, "request_id", &job->request_id, err,
	    errlen) == -1 ||
	    get_string(root, "api_key_header", &job->api_key_header, err,
	    errlen) == -1 ||
	    get_long(root, "dimensions", &job->dimensions, err, errlen) == -1 ||
	    get_long(root, "timeout_ms", &job->timeout_ms, err, errlen) == -1 ||
	    get_long(root, "max_response", &max_response, err, errlen) == -1 ||
	    get_long(root, "attempt", &attempt, err, errlen) == -1 ||
	    get_long(root, "connect_timeout_ms", &job->connect_timeout_ms, err,
	    errlen) == -1 ||
	    get_string(root, "resolve", &job->resolve_addr, err, errlen) == -1)
		return -1;
	job->max_response = (size_t)max_response;
	job->attempt = (unsigned)attempt;
	if (enc != NULL) {
		if (strcmp(enc, "base64") == 0)
			job->encoding = JOB_ENCODING_BASE64;
		else if (strcmp(enc, "float") == 0)
			job->encoding = JOB_ENCODING_FLOAT;
		else {
			(void)snprintf(err, errlen, "'encoding_format' must "
			    "be \"base64\" or \"float\"");
			return -1;
		}
	}
	v = json_object_get(root, "insecure");
	if (v != NULL) {
		if (!json_is_boolean(v)) {
			(void)snprintf(err, errlen,
			    "'insecure' must be a boolean");
			return -1;
		}
		job->insecure = json_is_true(v);
	}
	return 0;
}

/* The optional "tls_session", base64, into priv->tls_session. */
static int
get_session(const json_t *root, struct job *job, struct job_priv *priv,
    char *err, size_t errlen)
{
	const char *b64 = NULL;
	ssize_t n;
	size_t len;

	if (get_string(root, "tls_session", &b64, err, errlen) == -1)
		return -1;
	if (b64 == NULL)
		return 0;
	len = strlen(b64);
	priv->tls_session = malloc(base64_decoded_max(len) + 1);
	if (priv->tls_session == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return -1;
	}
	n = base64_decode(b64, len, priv->tls_session);
	if (n < 0) {
		(void)snprintf(err, errlen, "'tls_session' is not base64");
		return -1;
	}
	job->tls_session = priv->tls_session;
	job->tls_session_len = (size_t)n;
	return 0;
}

/* The optional "headers" array, into priv->headers. */
static int
get_headers(const json_t *root, struct job *job, struct job_priv *priv,
    char *err, size_t errlen)
{
	const json_t *v;
	size_t i;

	v = json_object_get(root, "headers");
	if (v == NULL)
		return 0;
	if (!json_is_array(v)) {
		(void)snprintf(err, errlen,
		    "'headers' must be an array of strings");
		return -1;
	}
	job->n_headers = json_array_size(v);
	priv->headers = calloc(job->n_headers + 1, sizeof(char *));
	if (priv->headers == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < job->n_headers; i++) {
		priv->headers[i] = json_string_value(json_array_get(v, i));
		if (priv->headers[i] == NULL) {
			(void)snprintf(err, errlen,
			    "'headers[%zu]' is not a string", i);
			return -1;
		}
	}
	job->headers = priv->headers;
	v = json_object_get(root, "secret_headers");
	job->n_secret_headers = 0;
	if (v != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    (size_t)json_integer_value(v) > job->n_headers) {
			(void)snprintf(err, errlen, "'secret_headers' must "
			    "count some of the headers");
			return -1;
		}
		job->n_secret_headers = (size_t)json_integer_value(v);
	}
	return 0;
}

struct job *
proto_job_parse(const char *text, size_t len, const struct job *defaults,
    char *err, size_t errlen)
{
	struct job *job = NULL;
	struct job_priv *priv = NULL;
	json_error_t jerr;
	const json_t *v;

	job = calloc(1, sizeof(*job));
	priv = calloc(1, sizeof(*priv));
	if (job == NULL || priv == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (defaults != NULL)
		*job = *defaults;
	job->priv = priv;
	job->input_json = NULL;

	priv->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (priv->root == NULL) {
		(void)snprintf(err, errlen, "job is not JSON: %s", jerr.text);
		goto fail;
	}
	if (!json_is_object(priv->root)) {
		(void)snprintf(err, errlen, "job is not a JSON object");
		goto fail;
	}
	v = json_object_get(priv->root, "input");
	if (v == NULL) {
		(void)snprintf(err, errlen, "job has no 'input'");
		goto fail;
	}
	if (proto_input_normalize(v, &priv->input_json, &job->n_inputs, err,
	    errlen) == -1)
		goto fail;
	job->input_json = priv->input_json;
	if (get_scalars(priv->root, job, err, errlen) == -1 ||
	    get_headers(priv->root, job, priv, err, errlen) == -1 ||
	    get_session(priv->root, job, priv, err, errlen) == -1)
		goto fail;
	v = json_object_get(priv->root, "extra");
	if (v != NULL) {
		if (proto_extra_members(v, &priv->extra_json, err, errlen) == -1)
			goto fail;
		job->extra_json = priv->extra_json;
	}
	if (job->base_url == NULL || job->model == NULL) {
		(void)snprintf(err, errlen, "job has no 'url' or 'model'");
		goto fail;
	}
	return job;
fail:
	proto_job_free(job);
	if (job == NULL)
		free(priv);
	return NULL;
}

void
proto_job_free(struct job *job)
{
	struct job_priv *priv;

	if (job == NULL)
		return;
	priv = job->priv;
	if (priv != NULL) {
		json_decref(priv->root);
		free(priv->input_json);
		free(priv->headers);
		free(priv->tls_session);
		free(priv->extra_json);
		free(priv);
	}
	free(job);
}
