/*
 * proto: see proto.h. jansson values have one owner: whatever a loader or
 * constructor returns is released under out:, getters only borrow.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>

#include "io.h"
#include "proto.h"

static const char *const class_names[] = {
	"ok", "http", "network", "timeout", "bad_response", "invalid_request"
};

const char *
proto_class_name(enum proto_class class)
{
	if ((size_t)class >= sizeof(class_names) / sizeof(class_names[0]))
		return "unknown";
	return class_names[class];
}

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
			(void)snprintf(err, errlen, "'input' is an empty string");
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

int
proto_append_json_string(struct buf *out, const char *s)
{
	json_t *str;
	char *text = NULL;
	int rc = -1;

	str = json_string(s);
	if (str == NULL) {
		/* Not UTF-8: say so rather than lose the line. */
		str = json_string("(text is not valid UTF-8)");
		if (str == NULL) {
			errno = ENOMEM;
			return -1;
		}
	}
	text = json_dumps(str, JSON_ENCODE_ANY);
	if (text == NULL) {
		errno = ENOMEM;
		goto out;
	}
	rc = buf_append(out, text, strlen(text));
out:
	free(text);
	json_decref(str);
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
	if (job->cacert != NULL && (buf_append(out, ",\"cacert\":", 10) == -1 ||
	    proto_append_json_string(out, job->cacert) == -1))
		return -1;
	if (job->request_id != NULL &&
	    (buf_append(out, ",\"request_id\":", 14) == -1 ||
	    proto_append_json_string(out, job->request_id) == -1))
		return -1;
	if (job->n_headers > 0) {
		if (buf_append(out, ",\"headers\":[", 12) == -1)
			return -1;
		for (i = 0; i < job->n_headers; i++) {
			if ((i > 0 && buf_append(out, ",", 1) == -1) ||
			    proto_append_json_string(out, job->headers[i]) == -1)
				return -1;
		}
		if (buf_append(out, "]", 1) == -1)
			return -1;
	}
	return buf_append(out, "}", 1);
}

/* What proto_job_parse allocates besides the struct job itself. */
struct job_priv {
	json_t		 *root;
	char		 *input_json;
	const char	**headers;
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

struct job *
proto_job_parse(const char *text, size_t len, const struct job *defaults,
    char *err, size_t errlen)
{
	struct job *job = NULL;
	struct job_priv *priv = NULL;
	json_error_t jerr;
	const json_t *v;
	const char *enc = NULL;
	long max_response, attempt;
	size_t i;

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

	max_response = (long)job->max_response;
	attempt = job->attempt;
	if (get_string(priv->root, "url", &job->base_url, err, errlen) == -1 ||
	    get_string(priv->root, "model", &job->model, err, errlen) == -1 ||
	    get_string(priv->root, "encoding_format", &enc, err, errlen) == -1 ||
	    get_string(priv->root, "cacert", &job->cacert, err, errlen) == -1 ||
	    get_string(priv->root, "request_id", &job->request_id, err,
	    errlen) == -1 ||
	    get_long(priv->root, "dimensions", &job->dimensions, err,
	    errlen) == -1 ||
	    get_long(priv->root, "timeout_ms", &job->timeout_ms, err,
	    errlen) == -1 ||
	    get_long(priv->root, "max_response", &max_response, err,
	    errlen) == -1 ||
	    get_long(priv->root, "attempt", &attempt, err, errlen) == -1)
		goto fail;
	job->max_response = (size_t)max_response;
	job->attempt = (unsigned)attempt;
	if (enc != NULL) {
		if (strcmp(enc, "base64") == 0)
			job->encoding = JOB_ENCODING_BASE64;
		else if (strcmp(enc, "float") == 0)
			job->encoding = JOB_ENCODING_FLOAT;
		else {
			(void)snprintf(err, errlen,
			    "'encoding_format' must be \"base64\" or \"float\"");
			goto fail;
		}
	}
	v = json_object_get(priv->root, "insecure");
	if (v != NULL) {
		if (!json_is_boolean(v)) {
			(void)snprintf(err, errlen, "'insecure' must be a boolean");
			goto fail;
		}
		job->insecure = json_is_true(v);
	}
	v = json_object_get(priv->root, "headers");
	if (v != NULL) {
		if (!json_is_array(v)) {
			(void)snprintf(err, errlen,
			    "'headers' must be an array of strings");
			goto fail;
		}
		job->n_headers = json_array_size(v);
		priv->headers = calloc(job->n_headers + 1, sizeof(char *));
		if (priv->headers == NULL) {
			(void)snprintf(err, errlen, "out of memory");
			goto fail;
		}
		for (i = 0; i < job->n_headers; i++) {
			priv->headers[i] = json_string_value(
			    json_array_get(v, i));
			if (priv->headers[i] == NULL) {
				(void)snprintf(err, errlen,
				    "'headers[%zu]' is not a string", i);
				goto fail;
			}
		}
		job->headers = priv->headers;
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
		free(priv);
	}
	free(job);
}

void
proto_progress_init(struct proto_progress *p)
{
	memset(p, 0, sizeof(*p));
	p->resolved_ms = -1;
	p->connected_ms = -1;
	p->tls_ms = -1;
	p->sent_ms = -1;
	p->first_byte_ms = -1;
}

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

void
proto_progress_encode(const struct proto_progress *p,
    unsigned char out[PROTO_PROGRESS_LEN])
{
	put32(out, (uint32_t)p->resolved_ms);
	put32(out + 4, (uint32_t)p->connected_ms);
	put32(out + 8, (uint32_t)p->tls_ms);
	put32(out + 12, (uint32_t)p->sent_ms);
	put32(out + 16, (uint32_t)p->first_byte_ms);
	put32(out + 20, (uint32_t)p->body_bytes);
	put32(out + 24, (uint32_t)(p->body_bytes >> 32));
	memset(out + 28, 0, sizeof(p->addr));
	(void)strlcpy((char *)out + 28, p->addr, sizeof(p->addr));
}

int
proto_progress_decode(const unsigned char *in, size_t len,
    struct proto_progress *p)
{
	if (len != PROTO_PROGRESS_LEN)
		return -1;
	p->resolved_ms = (int32_t)get32(in);
	p->connected_ms = (int32_t)get32(in + 4);
	p->tls_ms = (int32_t)get32(in + 8);
	p->sent_ms = (int32_t)get32(in + 12);
	p->first_byte_ms = (int32_t)get32(in + 16);
	p->body_bytes = (uint64_t)get32(in + 20) |
	    (uint64_t)get32(in + 24) << 32;
	memcpy(p->addr, in + 28, sizeof(p->addr));
	p->addr[sizeof(p->addr) - 1] = '\0';
	return 0;
}

void
proto_progress_describe(const struct proto_progress *p, const char *host,
    bool tls, char *out, size_t outlen)
{
	const char *addr = p->addr[0] != '\0' ? p->addr : host;
	char sent[48] = "";
	unsigned long long n = (unsigned long long)p->body_bytes;

	if (p->sent_ms >= 0)
		(void)snprintf(sent, sizeof(sent), ", sent the request at %d ms",
		    p->sent_ms);
	if (p->first_byte_ms >= 0)
		(void)snprintf(out, outlen, "connected to %s%s, first byte at "
		    "%d ms, %llu byte%s of the body received", addr, sent,
		    p->first_byte_ms, n, n == 1 ? "" : "s");
	else if (p->sent_ms >= 0)
		(void)snprintf(out, outlen, "connected to %s and sent the "
		    "request at %d ms, no first byte", addr, p->sent_ms);
	else if (p->tls_ms >= 0)
		(void)snprintf(out, outlen, "TLS with %s done at %d ms, "
		    "request not fully sent", addr, p->tls_ms);
	else if (p->connected_ms >= 0)
		(void)snprintf(out, outlen, "connected to %s at %d ms, %s",
		    addr, p->connected_ms, tls ? "TLS handshake not finished" :
		    "request not fully sent");
	else if (p->resolved_ms >= 0)
		(void)snprintf(out, outlen, "resolved '%s' at %d ms, still "
		    "connecting%s%s", host, p->resolved_ms,
		    p->addr[0] != '\0' ? " to " : "", p->addr);
	else
		(void)snprintf(out, outlen, "still resolving '%s'", host);
}

int
proto_result_encode(const struct proto_result *r, struct buf *out)
{
	json_t *obj;
	char *text = NULL;
	int rc = -1;

	obj = json_pack("{s:s, s:i, s:i, s:I, s:b, s:I, s:s}",
	    "class", proto_class_name(r->class),
	    "status", r->http_status,
	    "curl_code", r->curl_code,
	    "retry_after_ms", (json_int_t)r->retry_after_ms,
	    "quota", r->quota_exhausted,
	    "ms", (json_int_t)r->ms,
	    "message", r->message);
	if (obj == NULL) {
		errno = EINVAL;
		return -1;
	}
	text = json_dumps(obj, JSON_COMPACT);
	if (text == NULL) {
		errno = ENOMEM;
		goto out;
	}
	rc = buf_append(out, text, strlen(text));
out:
	free(text);
	json_decref(obj);
	return rc;
}

int
proto_result_decode(const char *text, size_t len, struct proto_result *r,
    char *err, size_t errlen)
{
	json_t *root;
	json_error_t jerr;
	const char *class, *message;
	json_int_t retry_after_ms, ms;
	int quota, rc = -1;
	size_t i;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		(void)snprintf(err, errlen, "result is not JSON: %s", jerr.text);
		return -1;
	}
	if (json_unpack_ex(root, &jerr, JSON_STRICT,
	    "{s:s, s:i, s:i, s:I, s:b, s:I, s:s}",
	    "class", &class, "status", &r->http_status,
	    "curl_code", &r->curl_code, "retry_after_ms", &retry_after_ms,
	    "quota", &quota, "ms", &ms, "message", &message) == -1) {
		(void)snprintf(err, errlen, "bad result: %s", jerr.text);
		goto out;
	}
	for (i = 0; i < sizeof(class_names) / sizeof(class_names[0]); i++)
		if (strcmp(class, class_names[i]) == 0)
			break;
	if (i == sizeof(class_names) / sizeof(class_names[0])) {
		(void)snprintf(err, errlen, "bad result class '%s'", class);
		goto out;
	}
	r->class = (enum proto_class)i;
	r->retry_after_ms = (long)retry_after_ms;
	r->quota_exhausted = quota != 0;
	r->ms = (long)ms;
	(void)strlcpy(r->message, message, sizeof(r->message));
	rc = 0;
out:
	json_decref(root);
	return rc;
}

int
proto_frame_write(int fd, char type, const void *p, size_t len)
{
	unsigned char hdr[PROTO_FRAME_HDR];

	if (len > PROTO_FRAME_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	hdr[0] = (unsigned char)type;
	put32(hdr + 1, (uint32_t)len);
	if (io_write_all(fd, hdr, sizeof(hdr)) == -1)
		return -1;
	return io_write_all(fd, p, len);
}

int
proto_frame_peek(const struct buf *b, size_t max, char *type,
    const char **payload, size_t *len)
{
	const unsigned char *p = (const unsigned char *)buf_data(b);
	size_t n = buf_len(b);
	uint32_t flen;

	if (n < PROTO_FRAME_HDR)
		return 0;
	if (p[0] != PROTO_FRAME_PROGRESS && p[0] != PROTO_FRAME_BODY &&
	    p[0] != PROTO_FRAME_RESULT)
		return -1;
	flen = get32(p + 1);
	if (flen > max)
		return -1;
	if (n - PROTO_FRAME_HDR < flen)
		return 0;
	*type = (char)p[0];
	*payload = (const char *)p + PROTO_FRAME_HDR;
	*len = flen;
	return 1;
}
