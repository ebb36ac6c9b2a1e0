/*
 * embed: see embed.h. Called by the worker on every successful call, so
 * both halves are on the hot path: base64 is decoded into one scratch
 * buffer reused across rows, and floats are printed by shared/f32 (Ryu)
 * straight into the output buffer, one reservation per row.
 */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base64.h"
#include "embed.h"
#include "f32.h"
#include "proto_json.h"
#include "redact.h"

/* Make r empty: no values, no model, no counts. */
static void
response_init(struct embed_response *r)
{
	memset(r, 0, sizeof(*r));
	r->prompt_tokens = -1;
	r->total_tokens = -1;
}

void
embed_response_free(struct embed_response *r)
{
	free(r->values);
	free(r->model);
	response_init(r);
}

/* Read an optional non-negative integer member of usage into *dst. */
static int
get_count(const json_t *usage, const char *key, long long *dst, char *err,
    size_t errlen)
{
	const json_t *v;

	v = json_object_get(usage, key);
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		(void)snprintf(err, errlen,
		    "response 'usage.%s' is not a non-negative integer", key);
		return -1;
	}
	*dst = (long long)json_integer_value(v);
	return 0;
}

/*
 * Decode the base64 embedding s (len characters) into *scratch, grown as
 * needed. Returns the number of float32 values, or -1 with a message.
 */
static ssize_t
decode_base64(size_t index, const char *s, size_t len,
    unsigned char **scratch, size_t *scratch_len, char *err, size_t errlen)
{
	unsigned char *p;
	size_t need;
	ssize_t n;

	need = base64_decoded_max(len);
	if (need > *scratch_len) {
		p = realloc(*scratch, need);
		if (p == NULL) {
			(void)snprintf(err, errlen, "out of memory decoding "
			    "embedding %zu", index);
			return -1;
		}
		*scratch = p;
		*scratch_len = need;
	}
	n = base64_decode(s, len, *scratch);
	if (n == -1) {
		(void)snprintf(err, errlen, "embedding %zu is not valid base64",
		    index);
		return -1;
	}
	if (n % 4 != 0) {
		(void)snprintf(err, errlen, "embedding %zu has %zd bytes, not "
		    "a whole number of float32", index, n);
		return -1;
	}
	return n / 4;
}

/* Convert n little-endian float32 from in to row, checking each. */
static int
store_base64_row(size_t index, const unsigned char *in, size_t n,
    float *row, char *err, size_t errlen)
{
	uint32_t bits;
	size_t i;

	for (i = 0; i < n; i++, in += 4) {
		bits = (uint32_t)in[0] | (uint32_t)in[1] << 8 |
		    (uint32_t)in[2] << 16 | (uint32_t)in[3] << 24;
		if ((bits & 0x7f800000) == 0x7f800000) {
			(void)snprintf(err, errlen,
			    "embedding %zu value %zu is not finite", index, i);
			return -1;
		}
		memcpy(&row[i], &bits, sizeof(bits));
	}
	return 0;
}

/* Convert the JSON numbers of arr to row, checking each. */
static int
store_array_row(size_t index, const json_t *arr, float *row, char *err,
    size_t errlen)
{
	/* The least magnitude that rounds to infinity: FLT_MAX + ulp/2. */
	const double limit = (double)FLT_MAX + (double)FLT_MAX / 0x1p24 / 2;
	const json_t *v;
	double d;
	size_t i;

	json_array_foreach(arr, i, v) {
		if (!json_is_number(v)) {
			(void)snprintf(err, errlen, "embedding %zu value %zu "
			    "is not a number", index, i);
			return -1;
		}
		d = json_number_value(v);
		if (!(d > -limit && d < limit)) {
			(void)snprintf(err, errlen, "embedding %zu value %zu "
			    "(%g) is not finite as a float32", index, i, d);
			return -1;
		}
		row[i] = (float)d;
	}
	return 0;
}

/*
 * The "data" array of the answer root, checked to hold exactly n_inputs
 * items (n_inputs > 0). Returns it, borrowed from root, or NULL with a
 * message.
 */
static const json_t *
answer_data(const json_t *root, size_t n_inputs, char *err, size_t errlen)
{
	const json_t *data;
	size_t count;

	if (!json_is_object(root)) {
		(void)snprintf(err, errlen, "response is not a JSON object");
		return NULL;
	}
	data = json_object_get(root, "data");
	if (!json_is_array(data)) {
		(void)snprintf(err, errlen, "response has no 'data' array");
		return NULL;
	}
	count = json_array_size(data);
	if (count != n_inputs || n_inputs == 0) {
		(void)snprintf(err, errlen,
		    "response has %zu embedding%s for %zu input%s", count,
		    count == 1 ? "" : "s", n_inputs, n_inputs == 1 ? "" : "s");
		return NULL;
	}
	return data;
}

/*
 * Put the items of data into by_index (zeroed, room for all of them) in
 * the order of their "index": the API may send any order. Returns 0, or
 * -1 with a message if an index is missing, out of range or repeated.
 */
static int
order_by_index(const json_t *data, const json_t **by_index, char *err,
    size_t errlen)
{
	const json_t *item, *v;
	size_t count, pos;
	json_int_t index;

	count = json_array_size(data);
	json_array_foreach(data, pos, item) {
		v = json_object_get(item, "index");
		if (!json_is_object(item) || !json_is_integer(v)) {
			(void)snprintf(err, errlen,
			    "response 'data[%zu]' has no integer 'index'", pos);
			return -1;
		}
		index = json_integer_value(v);
		if (index < 0 || (uintmax_t)index >= count) {
			(void)snprintf(err, errlen, "response 'data[%zu]' has "
			    "index %" JSON_INTEGER_FORMAT ", outside 0..%zu",
			    pos, index, count - 1);
			return -1;
		}
		if (by_index[index] != NULL) {
			(void)snprintf(err, errlen, "response has index %"
			    JSON_INTEGER_FORMAT " twice", index);
			return -1;
		}
		by_index[index] = item;
	}
	return 0;
}

/*
 * The dimension of embedding index, emb: the length of its array, or the
 * number of float32 in its base64 string, which is decoded into *scratch
 * (see decode_base64). Returns -1 with a message if emb is neither or not
 * valid base64.
 */
static ssize_t
embedding_dim(size_t index, const json_t *emb, unsigned char **scratch,
    size_t *scratch_len, char *err, size_t errlen)
{
	if (json_is_string(emb))
		return decode_base64(index, json_string_value(emb),
		    json_string_length(emb), scratch, scratch_len, err, errlen);
	if (json_is_array(emb))
		return (ssize_t)json_array_size(emb);
	(void)snprintf(err, errlen, "embedding %zu is neither a base64 string "
	    "nor an array", index);
	return -1;
}

/*
 * Check the dimension dim of embedding 0 (not empty, the one requested if
 * dimensions > 0) and allocate r->values for count rows of it. Returns 0,
 * or -1 with a message and nothing allocated.
 */
static int
alloc_rows(struct embed_response *r, size_t count, size_t dim,
    long dimensions, char *err, size_t errlen)
{
	if (dim == 0) {
		(void)snprintf(err, errlen, "embedding 0 is empty");
		return -1;
	}
	if (dimensions > 0 && dim != (size_t)dimensions) {
		(void)snprintf(err, errlen, "embedding 0 has %zu dimensions, "
		    "%ld were requested", dim, dimensions);
		return -1;
	}
	if (dim > SIZE_MAX / sizeof(float) / count) {
		(void)snprintf(err, errlen, "out of memory");
		return -1;
	}
	r->values = malloc(count * dim * sizeof(float));
	if (r->values == NULL) {
		(void)snprintf(err, errlen, "out of memory for %zu x %zu "
		    "values", count, dim);
		return -1;
	}
	r->n = count;
	r->dim = dim;
	return 0;
}

/*
 * Store the embeddings of by_index[0 .. count) as the rows of r, all of
 * embedding 0's dimension. Returns 0, or -1 with a message; r->values may
 * then be allocated, for the caller to release.
 */
static int
read_rows(const json_t *const *by_index, size_t count, long dimensions,
    struct embed_response *r, char *err, size_t errlen)
{
	const json_t *emb;
	unsigned char *scratch = NULL;
	size_t scratch_len = 0, i, dim;
	ssize_t n;
	int rc = -1;

	for (i = 0; i < count; i++) {
		emb = json_object_get(by_index[i], "embedding");
		n = embedding_dim(i, emb, &scratch, &scratch_len, err, errlen);
		if (n == -1)
			goto out;
		dim = (size_t)n;
		if (i == 0) {
			if (alloc_rows(r, count, dim, dimensions, err,
			    errlen) == -1)
				goto out;
		} else if (dim != r->dim) {
			(void)snprintf(err, errlen, "embedding %zu has %zu "
			    "dimensions, embedding 0 has %zu", i, dim, r->dim);
			goto out;
		}
		if (json_is_string(emb)) {
			if (store_base64_row(i, scratch, dim,
			    r->values + i * dim, err, errlen) == -1)
				goto out;
		} else if (store_array_row(i, emb, r->values + i * dim, err,
		    errlen) == -1)
			goto out;
	}
	rc = 0;
out:
	free(scratch);
	return rc;
}

/*
 * Copy the answer's optional "model" and "usage" counts into r. Returns
 * 0, or -1 with a message; r->model may then be allocated, for the caller
 * to release.
 */
static int
read_meta(const json_t *root, struct embed_response *r, char *err,
    size_t errlen)
{
	const json_t *v;

	v = json_object_get(root, "model");
	if (json_is_string(v)) {
		r->model = strdup(json_string_value(v));
		if (r->model == NULL) {
			(void)snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	v = json_object_get(root, "usage");
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v)) {
		(void)snprintf(err, errlen,
		    "response 'usage' is not an object");
		return -1;
	}
	if (get_count(v, "prompt_tokens", &r->prompt_tokens, err,
	    errlen) == -1 ||
	    get_count(v, "total_tokens", &r->total_tokens, err, errlen) == -1)
		return -1;
	return 0;
}

int
embed_parse(const char *body, size_t len, size_t n_inputs, long dimensions,
    struct embed_response *r, char *err, size_t errlen)
{
	json_t *root = NULL;
	json_error_t jerr;
	const json_t *data;
	const json_t **by_index = NULL;
	int rc = -1;

	response_init(r);
	if (len == 0) {
		(void)snprintf(err, errlen, "response body is empty");
		goto out;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		(void)snprintf(err, errlen, "response is not JSON: %s",
		    jerr.text);
		goto out;
	}
	data = answer_data(root, n_inputs, err, errlen);
	if (data == NULL)
		goto out;
	by_index = calloc(n_inputs, sizeof(*by_index));
	if (by_index == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (order_by_index(data, by_index, err, errlen) == -1 ||
	    read_rows(by_index, n_inputs, dimensions, r, err, errlen) == -1 ||
	    read_meta(root, r, err, errlen) == -1)
		goto out;
	rc = 0;
out:
	if (rc == -1)
		embed_response_free(r);
	free(by_index);
	json_decref(root);
	return rc;
}

int
embed_format(const struct embed_response *r, const char *model,
    struct buf *out)
{
	const float *row;
	size_t i, j, room;
	char *start, *p;

	if (r->dim > (SIZE_MAX - 4) / F32_MAX_TEXT) {
		errno = ENOMEM;
		return -1;
	}
	/* One reservation per row: the worst case, trimmed by commit. */
	room = r->dim * F32_MAX_TEXT + 4;
	if (buf_append(out, "\"embeddings\":[", 14) == -1)
		return -1;
	for (i = 0; i < r->n; i++) {
		start = buf_reserve(out, room);
		if (start == NULL)
			return -1;
		p = start;
		if (i > 0)
			*p++ = ',';
		*p++ = '[';
		row = r->values + i * r->dim;
		for (j = 0; j < r->dim; j++) {
			if (j > 0)
				*p++ = ',';
			p += f32_format(row[j], p);
		}
		*p++ = ']';
		buf_commit(out, (size_t)(p - start));
	}
	if (buf_append(out, "],\"model\":", 10) == -1 ||
	    proto_append_json_string(out, r->model != NULL ? r->model :
	    model) == -1)
		return -1;
	if (r->prompt_tokens < 0 && r->total_tokens < 0)
		return 0;
	if (buf_append(out, ",\"usage\":{", 10) == -1)
		return -1;
	if (r->prompt_tokens >= 0 && buf_printf(out, "\"prompt_tokens\":%lld",
	    r->prompt_tokens) == -1)
		return -1;
	if (r->total_tokens >= 0 && buf_printf(out, "%s\"total_tokens\":%lld",
	    r->prompt_tokens >= 0 ? "," : "", r->total_tokens) == -1)
		return -1;
	return buf_append(out, "}", 1);
}

/* The string member key of obj, or NULL. */
static const char *
get_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

int
embed_error_parse(const char *body, size_t len, char *msg, size_t msglen,
    bool *quota)
{
	json_t *root;
	const json_t *error;
	const char *text = NULL, *type = NULL, *code = NULL;
	int rc = -1;

	if (msglen > 0)
		msg[0] = '\0';
	*quota = false;
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(root))
		goto out;
	error = json_object_get(root, "error");
	if (json_is_object(error)) {
		text = get_str(error, "message");
		type = get_str(error, "type");
		code = get_str(error, "code");
	} else if (json_is_string(error))
		text = json_string_value(error);
	if (text == NULL)
		text = get_str(root, "message");
	if (text == NULL)
		text = get_str(root, "detail");
	if (text == NULL || text[0] == '\0')
		text = code != NULL ? code : type;
	if (text == NULL)
		goto out;
	/* Valid UTF-8, cut on a character boundary. */
	if (msglen > 0)
		(void)redact_text(text, strlen(text), NULL, msg, msglen);
	*quota = (code != NULL && strcmp(code, "insufficient_quota") == 0) ||
	    (type != NULL && strcmp(type, "insufficient_quota") == 0);
	rc = 0;
out:
	json_decref(root);
	return rc;
}
