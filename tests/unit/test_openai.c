/*
 * test_openai: proves supervisor/protocol/openai.h. openai_parse_request
 * takes input as a string or an array of strings, model, encoding_format
 * (float by default, base64) and dimensions, hands every other member
 * (user, extra_body's) on as extra_json, and refuses with the
 * member named: no input, token-id arrays (flat and nested), empty
 * strings, a bad encoding_format, dimensions out of range or not an
 * integer, a non-string user, duplicate keys, text that is not JSON and
 * JSON that is not an object. openai_format_embeddings turns the worker's
 * fragment into OpenAI's body byte for byte: float rows copied as they
 * are, base64 rows as little-endian float32 that decode to exactly the
 * floats the text names (negative zero, subnormals, the float32
 * extremes), usage copied or filled with zeros; a fragment of any other
 * shape is EINVAL and leaves the buffer as it was. openai_error_of maps
 * every code to its status, type and Retry-After, passing an upstream
 * status through; openai_format_error writes the documented bytes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base64.h"
#include "buf.h"
#include "engine/request.h"
#include "protocol/openai.h"

static char err[512];

static struct request *
parse_ok(const char *body, bool *base64)
{
	struct request *req;
	const char *param = "unset";

	req = openai_parse_request(body, strlen(body), base64, &param, err,
	    sizeof(err));
	if (req == NULL)
		fail_msg("refused %s: %s", body, err);
	assert_null(param);
	assert_int_equal(req->op, REQ_OP_EMBED);
	return req;
}

static void
parse_bad(const char *body, const char *want_param, const char *err_part)
{
	struct request *req;
	const char *param = "unset";
	bool base64;

	err[0] = '\0';
	req = openai_parse_request(body, strlen(body), &base64, &param, err,
	    sizeof(err));
	if (req != NULL) {
		request_free(req);
		fail_msg("accepted %s", body);
	}
	if (want_param == NULL)
		assert_null(param);
	else
		assert_string_equal(param, want_param);
	if (strstr(err, err_part) == NULL)
		fail_msg("message for %s is '%s', wanted '%s' in it", body, err,
		    err_part);
}

static void
test_parse_fields(void **state)
{
	struct request *req;
	bool base64 = true;

	(void)state;
	req = parse_ok("{\"input\":\"hello\"}", &base64);
	assert_false(base64);
	assert_string_equal(req->input_json, "[\"hello\"]");
	assert_int_equal(req->n_inputs, 1);
	assert_null(req->model);
	assert_null(req->extra_json);
	assert_int_equal(req->dimensions, 0);
	request_free(req);

	req = parse_ok("{\"model\":\"text-embedding-3-large\",\"input\":[\"a\","
	    "\"b c\"],\"encoding_format\":\"base64\",\"dimensions\":256,"
	    "\"user\":\"u-42\",\"extra\":{\"ignored\":true}}", &base64);
	assert_true(base64);
	assert_string_equal(req->input_json, "[\"a\",\"b c\"]");
	assert_int_equal(req->n_inputs, 2);
	assert_string_equal(req->model, "text-embedding-3-large");
	assert_string_equal(req->extra_json,
	    "\"user\":\"u-42\",\"extra\":{\"ignored\":true}");
	assert_int_equal(req->dimensions, 256);
	request_free(req);

	req = parse_ok("{\"input\":[\"x\"],\"encoding_format\":\"float\","
	    "\"dimensions\":null,\"user\":null,\"model\":null}", &base64);
	assert_false(base64);
	assert_null(req->extra_json);
	request_free(req);
}

static void
test_parse_refusals(void **state)
{
	(void)state;
	parse_bad("{}", "input", "'input'");
	parse_bad("{\"input\":null}", "input", "'input'");
	parse_bad("{\"input\":[1,2,3]}", "input", "token ids");
	parse_bad("{\"input\":[[1,2],[3]]}", "input", "token ids");
	parse_bad("{\"input\":\"\"}", "input", "empty");
	parse_bad("{\"input\":[]}", "input", "empty");
	parse_bad("{\"input\":[\"a\",\"\"]}", "input", "input[1]");
	parse_bad("{\"input\":7}", "input", "string");
	parse_bad("{\"input\":\"a\",\"model\":\"\"}", "model", "'model'");
	parse_bad("{\"input\":\"a\",\"model\":3}", "model", "'model'");
	parse_bad("{\"input\":\"a\",\"encoding_format\":\"int8\"}",
	    "encoding_format", "\"float\" or \"base64\"");
	parse_bad("{\"input\":\"a\",\"encoding_format\":1}",
	    "encoding_format", "encoding_format");
	parse_bad("{\"input\":\"a\",\"dimensions\":0}", "dimensions",
	    "'dimensions'");
	parse_bad("{\"input\":\"a\",\"dimensions\":100001}", "dimensions",
	    "'dimensions'");
	parse_bad("{\"input\":\"a\",\"dimensions\":1.5}", "dimensions",
	    "'dimensions'");
	parse_bad("{\"input\":\"a\",\"dimensions\":\"8\"}", "dimensions",
	    "'dimensions'");
	parse_bad("{\"input\":\"a\",\"user\":5}", "user", "'user'");
	parse_bad("{\"input\":\"a\",\"input\":\"b\"}", NULL, "parse");
	parse_bad("not json", NULL, "parse the JSON");
	parse_bad("{\"input\":\"a\"} x", NULL, "parse");
	parse_bad("[\"a\"]", NULL, "JSON object");
}

/* Format fragment as an ok answer; returns the body (static). */
static const char *
format_ok(const char *fragment, bool base64)
{
	static struct buf out;
	struct answer a;

	memset(&a, 0, sizeof(a));
	a.code = REQ_OK;
	a.body = fragment;
	a.body_len = strlen(fragment);
	buf_free(&out);
	buf_init(&out, 1 << 20);
	if (openai_format_embeddings(&out, &a, base64) == -1)
		fail_msg("cannot format %s: %s", fragment, strerror(errno));
	return buf_data(&out);
}

static void
test_format_float(void **state)
{
	(void)state;
	assert_string_equal(format_ok("\"embeddings\":[[0.5,-1e-7],[3,"
	    "-0.0]],\"model\":\"m\",\"usage\":{\"prompt_tokens\":2,"
	    "\"total_tokens\":2}", false),
	    "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\","
	    "\"index\":0,\"embedding\":[0.5,-1e-7]},{\"object\":\"embedding\","
	    "\"index\":1,\"embedding\":[3,-0.0]}],\"model\":\"m\",\"usage\":"
	    "{\"prompt_tokens\":2,\"total_tokens\":2}}");
	/* No usage from the API: zeros, as OpenAI's shape has it. */
	assert_string_equal(format_ok("\"embeddings\":[[1]],\"model\":"
	    "\"a\\\",\\\"usage\\\":{\"", false),
	    "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\","
	    "\"index\":0,\"embedding\":[1]}],\"model\":\"a\\\",\\\"usage\\\":"
	    "{\",\"usage\":{\"prompt_tokens\":0,\"total_tokens\":0}}");
}

/* The floats of base64 text s (quoted in body after "embedding":). */
static size_t
decode_row(const char *body, size_t which, float *out, size_t max)
{
	const char *p = body, *end;
	unsigned char bytes[256];
	ssize_t n;
	size_t i;
	uint32_t bits;

	for (i = 0; i <= which; i++) {
		p = strstr(p, "\"embedding\":\"");
		assert_non_null(p);
		p += 13;
	}
	end = strchr(p, '"');
	assert_non_null(end);
	assert_true(base64_decoded_max((size_t)(end - p)) <= sizeof(bytes));
	n = base64_decode(p, (size_t)(end - p), bytes);
	assert_true(n >= 0 && n % 4 == 0 && (size_t)n / 4 <= max);
	for (i = 0; i < (size_t)n / 4; i++) {
		bits = (uint32_t)bytes[4 * i] |
		    (uint32_t)bytes[4 * i + 1] << 8 |
		    (uint32_t)bytes[4 * i + 2] << 16 |
		    (uint32_t)bytes[4 * i + 3] << 24;
		memcpy(&out[i], &bits, sizeof(bits));
	}
	return (size_t)n / 4;
}

static void
test_format_base64(void **state)
{
	const float want[] = {
		0.5f, -1e-7f, 3.4028235e38f, -1.4e-45f, 1.17549435e-38f,
		0.1f, -0.0f, 123456.79f
	};
	const char *body;
	float got[16];
	size_t n, i;

	(void)state;
	body = format_ok("\"embeddings\":[[0.5,-1e-7,3.4028235e38,-1e-45,"
	    "1.1754944e-38,0.1,-0.0,123456.79],[2]],\"model\":\"m\"", true);
	n = decode_row(body, 0, got, 16);
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < n; i++)
		assert_memory_equal(&got[i], &want[i], sizeof(float));
	n = decode_row(body, 1, got, 16);
	assert_int_equal(n, 1);
	assert_true(got[0] == 2.0f);
	/* One value: 0.5f is 00 00 00 3f. */
	assert_string_equal(format_ok("\"embeddings\":[[0.5]],\"model\":"
	    "\"m\",\"usage\":{\"total_tokens\":1}", true),
	    "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\","
	    "\"index\":0,\"embedding\":\"AAAAPw==\"}],\"model\":\"m\","
	    "\"usage\":{\"total_tokens\":1}}");
}

static void
test_format_refuses_other_shapes(void **state)
{
	static const char *const bad[] = {
		"", "\"embeddings\":[]", "\"embeddings\":[],\"model\":\"m\"",
		"\"embeddings\":[[]],\"model\":\"m\"",
		"\"embeddings\":[[1]]", "\"embeddings\":[[1]],\"mode\":\"m\"",
		"\"embeddings\":[[1],\"model\":\"m\"",
		"\"vectors\":[[1]],\"model\":\"m\"",
	};
	static const char *const bad64[] = {
		"\"embeddings\":[[1,,2]],\"model\":\"m\"",
		"\"embeddings\":[[1,x]],\"model\":\"m\"",
		"\"embeddings\":[[1,]],\"model\":\"m\"",
		"\"embeddings\":[[1e39]],\"model\":\"m\"",
	};
	struct buf out;
	struct answer a;
	size_t i;

	(void)state;
	buf_init(&out, 1 << 20);
	assert_int_equal(buf_append(&out, "kept", 4), 0);
	memset(&a, 0, sizeof(a));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]) * 2; i++) {
		a.body = bad[i / 2];
		a.body_len = strlen(a.body);
		errno = 0;
		assert_int_equal(openai_format_embeddings(&out, &a, i % 2), -1);
		assert_int_equal(errno, EINVAL);
		assert_int_equal(buf_len(&out), 4);
	}
	for (i = 0; i < sizeof(bad64) / sizeof(bad64[0]); i++) {
		a.body = bad64[i];
		a.body_len = strlen(a.body);
		assert_int_equal(openai_format_embeddings(&out, &a, true), -1);
		assert_int_equal(buf_len(&out), 4);
	}
	/* Out of room: nothing half-written either. */
	buf_free(&out);
	buf_init(&out, 40);
	a.body = "\"embeddings\":[[1,2,3]],\"model\":\"m\"";
	a.body_len = strlen(a.body);
	assert_int_equal(openai_format_embeddings(&out, &a, false), -1);
	assert_int_equal(errno, ENOBUFS);
	assert_int_equal(buf_len(&out), 0);
	buf_free(&out);
}

static void
check_error(enum req_code code, int http_status, int want_status,
    const char *want_type, long want_retry)
{
	struct openai_error oe;
	struct answer a;

	memset(&a, 0, sizeof(a));
	a.code = code;
	a.http_status = http_status;
	openai_error_of(&a, &oe);
	assert_int_equal(oe.status, want_status);
	assert_string_equal(oe.type, want_type);
	assert_string_equal(oe.code, req_code_name(code));
	assert_int_equal(oe.retry_after_s, want_retry);
}

static void
test_error_of(void **state)
{
	(void)state;
	check_error(REQ_INVALID_REQUEST, 0, 400, "invalid_request_error", 0);
	check_error(REQ_HTTP, 400, 400, "invalid_request_error", 0);
	check_error(REQ_HTTP, 401, 401, "authentication_error", 0);
	check_error(REQ_HTTP, 403, 403, "permission_error", 0);
	check_error(REQ_HTTP, 422, 422, "invalid_request_error", 0);
	check_error(REQ_HTTP, 500, 500, "server_error", 0);
	check_error(REQ_HTTP, 503, 503, "server_error", 0);
	check_error(REQ_HTTP, 0, 502, "server_error", 0);
	check_error(REQ_HTTP, 302, 502, "server_error", 0);
	check_error(REQ_RATE_LIMITED, 429, 429, "rate_limit_error", 1);
	check_error(REQ_TIMEOUT, 0, 504, "timeout_error", 0);
	check_error(REQ_NETWORK, 0, 502, "server_error", 0);
	check_error(REQ_BAD_RESPONSE, 200, 502, "server_error", 0);
	check_error(REQ_WORKER_CRASHED, 0, 502, "server_error", 0);
	check_error(REQ_SHUTTING_DOWN, 0, 503, "server_error", 1);
	check_error(REQ_CANCELLED, 0, 503, "server_error", 0);
}

static void
test_format_error(void **state)
{
	struct buf out;

	(void)state;
	buf_init(&out, 1024);
	assert_int_equal(openai_format_error(&out, "bad \"x\"",
	    "invalid_request_error", "input", "invalid_request"), 0);
	assert_string_equal(buf_data(&out), "{\"error\":{\"message\":"
	    "\"bad \\\"x\\\"\",\"type\":\"invalid_request_error\",\"param\":"
	    "\"input\",\"code\":\"invalid_request\"}}");
	buf_clear(&out);
	assert_int_equal(openai_format_error(&out, "m", "server_error", NULL,
	    NULL), 0);
	assert_string_equal(buf_data(&out), "{\"error\":{\"message\":\"m\","
	    "\"type\":\"server_error\",\"param\":null,\"code\":null}}");
	buf_free(&out);
	buf_init(&out, 10);
	assert_int_equal(openai_format_error(&out, "m", "t", NULL, NULL), -1);
	assert_int_equal(buf_len(&out), 0);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_parse_refusals),
		cmocka_unit_test(test_format_float),
		cmocka_unit_test(test_format_base64),
		cmocka_unit_test(test_format_refuses_other_shapes),
		cmocka_unit_test(test_error_of),
		cmocka_unit_test(test_format_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
