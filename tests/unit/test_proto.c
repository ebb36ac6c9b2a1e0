/*
 * test_proto: shared/proto.c, the job, progress, result and frame
 * formats between supervisor and worker. Round trips prove that what one
 * side writes the other reads back unchanged; the edges are the input
 * limits, partial and corrupt frames, and every progress description.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "proto.h"

#define CAP	(1 << 20)

/* proto_job_parse of a NUL-terminated text. */
static struct job *
parse(const char *text, const struct job *defaults, char *err,
    size_t errlen)
{
	return proto_job_parse(text, strlen(text), defaults, err, errlen);
}

static void
expect_job_error(const char *text, const struct job *defaults,
    const char *want)
{
	struct job *job;
	char err[256] = "";

	job = parse(text, defaults, err, sizeof(err));
	if (job != NULL) {
		proto_job_free(job);
		fail_msg("accepted: %s", text);
	}
	if (strstr(err, want) == NULL)
		fail_msg("message '%s' lacks '%s'", err, want);
}

static void
test_job_round_trip(void **state)
{
	static const char *const headers[] = {
		"X-Team: search", "OpenAI-Organization: org-1"
	};
	struct job job, *back;
	struct buf out;
	char err[256];

	(void)state;
	memset(&job, 0, sizeof(job));
	job.base_url = "https://api.example.com/v1";
	job.model = "text-embedding-3-large \"quoted\" \xc3\xa9";
	job.input_json = "[\"hello\",\"w\\u00f6rld \\\"x\\\"\"]";
	job.n_inputs = 2;
	job.dimensions = 256;
	job.encoding = JOB_ENCODING_FLOAT;
	job.timeout_ms = 12345;
	job.headers = headers;
	job.n_headers = 2;
	job.cacert = "/etc/ssl/my ca.pem";
	job.insecure = true;
	job.max_response = 1048576;
	job.api_key = "sk-must-not-appear";
	job.request_id = "req-7";
	job.attempt = 3;

	buf_init(&out, CAP);
	assert_int_equal(proto_job_to_json(&job, &out), 0);
	assert_null(strstr(buf_data(&out), "sk-must-not-appear"));
	back = proto_job_parse(buf_data(&out), buf_len(&out), NULL, err,
	    sizeof(err));
	if (back == NULL)
		fail_msg("%s: %s", err, buf_data(&out));
	assert_string_equal(back->base_url, job.base_url);
	assert_string_equal(back->model, job.model);
	assert_string_equal(back->input_json, "[\"hello\",\"w\xc3\xb6rld "
	    "\\\"x\\\"\"]");
	assert_int_equal(back->n_inputs, 2);
	assert_int_equal(back->dimensions, 256);
	assert_int_equal(back->encoding, JOB_ENCODING_FLOAT);
	assert_int_equal(back->timeout_ms, 12345);
	assert_int_equal(back->n_headers, 2);
	assert_string_equal(back->headers[0], headers[0]);
	assert_string_equal(back->headers[1], headers[1]);
	assert_string_equal(back->cacert, job.cacert);
	assert_true(back->insecure);
	assert_int_equal(back->max_response, 1048576);
	assert_null(back->api_key);
	assert_string_equal(back->request_id, "req-7");
	assert_int_equal(back->attempt, 3);
	proto_job_free(back);

	/* A minimal job, written and read again, stays minimal. */
	buf_clear(&out);
	job.dimensions = 0;
	job.encoding = JOB_ENCODING_BASE64;
	job.cacert = NULL;
	job.request_id = NULL;
	job.n_headers = 0;
	job.headers = NULL;
	job.insecure = false;
	assert_int_equal(proto_job_to_json(&job, &out), 0);
	back = proto_job_parse(buf_data(&out), buf_len(&out), NULL, err,
	    sizeof(err));
	assert_non_null(back);
	assert_int_equal(back->dimensions, 0);
	assert_int_equal(back->encoding, JOB_ENCODING_BASE64);
	assert_null(back->cacert);
	assert_null(back->request_id);
	assert_int_equal(back->n_headers, 0);
	assert_false(back->insecure);
	proto_job_free(back);
	buf_free(&out);
}

static void
test_job_defaults(void **state)
{
	struct job defaults, *job;
	char err[256];

	(void)state;
	memset(&defaults, 0, sizeof(defaults));
	defaults.base_url = "http://127.0.0.1:8080/v1";
	defaults.model = "text-embedding-3-small";
	defaults.timeout_ms = 30000;
	defaults.max_response = 256 << 20;
	defaults.api_key = "sk-env";
	defaults.encoding = JOB_ENCODING_FLOAT;
	job = parse("{\"input\":\"hello\"}", &defaults, err, sizeof(err));
	assert_non_null(job);
	assert_string_equal(job->base_url, defaults.base_url);
	assert_string_equal(job->model, defaults.model);
	assert_string_equal(job->input_json, "[\"hello\"]");
	assert_int_equal(job->n_inputs, 1);
	assert_int_equal(job->timeout_ms, 30000);
	assert_int_equal(job->encoding, JOB_ENCODING_FLOAT);
	/* The key comes from the defaults (the environment) only. */
	assert_string_equal(job->api_key, "sk-env");
	proto_job_free(job);

	job = parse("{\"input\":[\"a\"],\"model\":\"m2\",\"timeout_ms\":5,"
	    "\"encoding_format\":\"base64\"}", &defaults, err, sizeof(err));
	assert_non_null(job);
	assert_string_equal(job->model, "m2");
	assert_int_equal(job->timeout_ms, 5);
	assert_int_equal(job->encoding, JOB_ENCODING_BASE64);
	proto_job_free(job);
}

static void
test_job_errors(void **state)
{
	struct job defaults;

	(void)state;
	memset(&defaults, 0, sizeof(defaults));
	defaults.base_url = "http://h/v1";
	defaults.model = "m";
	expect_job_error("", &defaults, "job is not JSON: ");
	expect_job_error("{\"input\":\"x\"", &defaults, "job is not JSON: ");
	expect_job_error("{\"input\":\"x\",\"input\":\"y\"}", &defaults,
	    "job is not JSON: ");
	expect_job_error("[\"x\"]", &defaults, "job is not a JSON object");
	expect_job_error("{}", &defaults, "job has no 'input'");
	expect_job_error("{\"input\":\"x\",\"timeout_ms\":-1}", &defaults,
	    "'timeout_ms' must be a non-negative integer");
	expect_job_error("{\"input\":\"x\",\"dimensions\":\"8\"}", &defaults,
	    "'dimensions' must be a non-negative integer");
	expect_job_error("{\"input\":\"x\",\"model\":7}", &defaults,
	    "'model' must be a string");
	expect_job_error("{\"input\":\"x\",\"encoding_format\":\"hex\"}",
	    &defaults, "'encoding_format' must be");
	expect_job_error("{\"input\":\"x\",\"insecure\":\"yes\"}", &defaults,
	    "'insecure' must be a boolean");
	expect_job_error("{\"input\":\"x\",\"headers\":\"X-A: 1\"}", &defaults,
	    "'headers' must be an array of strings");
	expect_job_error("{\"input\":\"x\",\"headers\":[\"X-A: 1\",2]}",
	    &defaults, "'headers[1]' is not a string");
	expect_job_error("{\"input\":\"x\"}", NULL,
	    "job has no 'url' or 'model'");
}

/* proto_input_normalize of a JSON text. */
static int
normalize(const char *text, char **json, size_t *n, char *err, size_t errlen)
{
	json_t *input;
	int rc;

	input = json_loads(text, JSON_DECODE_ANY, NULL);
	assert_non_null(input);
	rc = proto_input_normalize(input, json, n, err, errlen);
	json_decref(input);
	return rc;
}

static void
expect_input_error(const char *text, const char *want)
{
	char *json = NULL, err[256] = "";
	size_t n;

	assert_int_equal(normalize(text, &json, &n, err, sizeof(err)), -1);
	assert_null(json);
	assert_string_equal(err, want);
}

static void
test_input_normalize(void **state)
{
	char *json, err[256];
	size_t n;

	(void)state;
	assert_int_equal(normalize("\"hello\"", &json, &n, err, sizeof(err)),
	    0);
	assert_string_equal(json, "[\"hello\"]");
	assert_int_equal(n, 1);
	free(json);
	assert_int_equal(normalize("[\"a\", \"b\\n\"]", &json, &n, err,
	    sizeof(err)), 0);
	assert_string_equal(json, "[\"a\",\"b\\n\"]");
	assert_int_equal(n, 2);
	free(json);

	expect_input_error("\"\"", "'input' is an empty string");
	expect_input_error("[]", "'input' is an empty array");
	expect_input_error("[\"a\",\"\"]", "'input[1]' is an empty string");
	expect_input_error("[\"a\",3]", "'input[1]' is not a string");
	expect_input_error("[\"a\",[\"b\"]]", "'input[1]' is not a string");
	expect_input_error("42", "'input' must be a string or an array of "
	    "strings");
	expect_input_error("{\"a\":1}", "'input' must be a string or an "
	    "array of strings");
	expect_input_error("null", "'input' must be a string or an array of "
	    "strings");
}

static void
test_input_limit(void **state)
{
	json_t *arr;
	char *json, err[256];
	size_t i, n;

	(void)state;
	arr = json_array();
	assert_non_null(arr);
	for (i = 0; i < PROTO_MAX_INPUTS; i++)
		assert_int_equal(json_array_append_new(arr, json_string("x")),
		    0);
	assert_int_equal(proto_input_normalize(arr, &json, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 2048);
	assert_int_equal(strlen(json), 2048 * 4 + 1);
	free(json);
	assert_int_equal(json_array_append_new(arr, json_string("x")), 0);
	assert_int_equal(proto_input_normalize(arr, &json, &n, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "'input' has 2049 strings, at most 2048 are "
	    "allowed");
	json_decref(arr);
}

static void
test_progress_round_trip(void **state)
{
	struct proto_progress p, back;
	unsigned char wire[PROTO_PROGRESS_LEN];

	(void)state;
	proto_progress_init(&p);
	assert_int_equal(p.resolved_ms, -1);
	assert_int_equal(p.connected_ms, -1);
	assert_int_equal(p.tls_ms, -1);
	assert_int_equal(p.sent_ms, -1);
	assert_int_equal(p.first_byte_ms, -1);
	assert_int_equal(p.body_bytes, 0);
	assert_string_equal(p.addr, "");
	proto_progress_encode(&p, wire);
	memset(&back, 0x55, sizeof(back));
	assert_int_equal(proto_progress_decode(wire, sizeof(wire), &back), 0);
	assert_int_equal(back.resolved_ms, -1);
	assert_int_equal(back.first_byte_ms, -1);
	assert_string_equal(back.addr, "");

	p.resolved_ms = 1;
	p.connected_ms = 20;
	p.tls_ms = 300;
	p.sent_ms = 4000;
	p.first_byte_ms = INT32_MAX;
	p.body_bytes = ((uint64_t)5 << 32) + 7;
	(void)snprintf(p.addr, sizeof(p.addr), "[2001:db8::1]:443");
	proto_progress_encode(&p, wire);
	assert_int_equal(proto_progress_decode(wire, sizeof(wire), &back), 0);
	assert_int_equal(back.resolved_ms, 1);
	assert_int_equal(back.connected_ms, 20);
	assert_int_equal(back.tls_ms, 300);
	assert_int_equal(back.sent_ms, 4000);
	assert_int_equal(back.first_byte_ms, INT32_MAX);
	assert_true(back.body_bytes == ((uint64_t)5 << 32) + 7);
	assert_string_equal(back.addr, "[2001:db8::1]:443");

	/* The wire form is little-endian whatever the host. */
	assert_int_equal(wire[4], 20);
	assert_int_equal(wire[5], 0);

	/* An address filling the field stays terminated. */
	memset(wire + 28, 'a', 64);
	assert_int_equal(proto_progress_decode(wire, sizeof(wire), &back), 0);
	assert_int_equal(strlen(back.addr), 63);

	assert_int_equal(proto_progress_decode(wire, sizeof(wire) - 1, &back),
	    -1);
	assert_int_equal(proto_progress_decode(wire, 0, &back), -1);
}

/* proto_progress_describe into a string to compare. */
static void
expect_describe(const struct proto_progress *p, const char *host, bool tls,
    const char *want)
{
	char out[256];

	proto_progress_describe(p, host, tls, out, sizeof(out));
	assert_string_equal(out, want);
}

static void
test_progress_describe(void **state)
{
	struct proto_progress p;
	char small[8];

	(void)state;
	proto_progress_init(&p);
	expect_describe(&p, "api.openai.com", true,
	    "still resolving 'api.openai.com'");
	p.resolved_ms = 3;
	expect_describe(&p, "api.openai.com", true,
	    "resolved 'api.openai.com' at 3 ms, still connecting");
	(void)snprintf(p.addr, sizeof(p.addr), "10.1.2.3:443");
	expect_describe(&p, "api.openai.com", true,
	    "resolved 'api.openai.com' at 3 ms, still connecting to "
	    "10.1.2.3:443");
	p.connected_ms = 9;
	expect_describe(&p, "api.openai.com", true,
	    "connected to 10.1.2.3:443 at 9 ms, TLS handshake not finished");
	expect_describe(&p, "127.0.0.1:8080", false,
	    "connected to 10.1.2.3:443 at 9 ms, request not fully sent");
	p.tls_ms = 30;
	expect_describe(&p, "api.openai.com", true,
	    "TLS with 10.1.2.3:443 done at 30 ms, request not fully sent");
	p.sent_ms = 41;
	expect_describe(&p, "api.openai.com", true,
	    "connected to 10.1.2.3:443 and sent the request at 41 ms, no "
	    "first byte");
	p.first_byte_ms = 900;
	p.body_bytes = 12345;
	expect_describe(&p, "api.openai.com", true,
	    "connected to 10.1.2.3:443, sent the request at 41 ms, first byte "
	    "at 900 ms, 12345 bytes of the body received");
	p.body_bytes = 1;
	expect_describe(&p, "api.openai.com", true,
	    "connected to 10.1.2.3:443, sent the request at 41 ms, first byte "
	    "at 900 ms, 1 byte of the body received");
	/* An answer that came before the upload finished. */
	p.sent_ms = -1;
	expect_describe(&p, "api.openai.com", true,
	    "connected to 10.1.2.3:443, first byte at 900 ms, 1 byte of the "
	    "body received");
	/* Without an address the host stands in. */
	p.sent_ms = 41;
	p.body_bytes = 12345;
	p.addr[0] = '\0';
	expect_describe(&p, "h", true, "connected to h, sent the request at 41 "
	    "ms, first byte at 900 ms, 12345 bytes of the body received");
	/* Truncated, but terminated. */
	proto_progress_describe(&p, "h", true, small, sizeof(small));
	assert_string_equal(small, "connect");
}

static void
test_frame_peek(void **state)
{
	struct buf b;
	const char *payload;
	char type;
	size_t len;

	(void)state;
	buf_init(&b, CAP);
	/* Empty, and a header that is not all there yet. */
	assert_int_equal(proto_frame_peek(&b, CAP, &type, &payload, &len), 0);
	assert_int_equal(buf_append(&b, "R\x05\x00", 3), 0);
	assert_int_equal(proto_frame_peek(&b, CAP, &type, &payload, &len), 0);
	assert_int_equal(buf_append(&b, "\x00\x00", 2), 0);
	/* Header complete, payload partial. */
	assert_int_equal(proto_frame_peek(&b, CAP, &type, &payload, &len), 0);
	assert_int_equal(buf_append(&b, "hell", 4), 0);
	assert_int_equal(proto_frame_peek(&b, CAP, &type, &payload, &len), 0);
	/* Complete, followed by the start of the next frame. */
	assert_int_equal(buf_append(&b, "oB\x00\x00", 4), 0);
	assert_int_equal(proto_frame_peek(&b, CAP, &type, &payload, &len), 1);
	assert_int_equal(type, 'R');
	assert_int_equal(len, 5);
	assert_memory_equal(payload, "hello", 5);
	buf_consume(&b, PROTO_FRAME_HDR + len);
	assert_int_equal(proto_frame_peek(&b, CAP, &type, &payload, &len), 0);
	/* A frame with an empty payload. */
	assert_int_equal(buf_append(&b, "\x00\x00", 2), 0);
	assert_int_equal(proto_frame_peek(&b, CAP, &type, &payload, &len), 1);
	assert_int_equal(type, 'B');
	assert_int_equal(len, 0);
	buf_consume(&b, PROTO_FRAME_HDR);
	assert_int_equal(buf_len(&b), 0);

	/* Exactly the max is fine (incomplete); max plus one is not. */
	assert_int_equal(buf_append(&b, "P\x10\x00\x00\x00", 5), 0);
	assert_int_equal(proto_frame_peek(&b, 16, &type, &payload, &len), 0);
	assert_int_equal(proto_frame_peek(&b, 15, &type, &payload, &len), -1);
	buf_clear(&b);
	/* An unknown type is refused at once, even before the length. */
	assert_int_equal(buf_append(&b, "X\x01\x00\x00\x00z", 6), 0);
	assert_int_equal(proto_frame_peek(&b, CAP, &type, &payload, &len), -1);
	buf_free(&b);
}

static void
test_frame_write_and_peek(void **state)
{
	unsigned char wire[PROTO_PROGRESS_LEN];
	struct proto_progress p, back;
	const char *payload;
	struct buf b;
	char type;
	size_t len;
	int fds[2];

	(void)state;
	assert_int_equal(pipe(fds), 0);
	proto_progress_init(&p);
	p.resolved_ms = 5;
	proto_progress_encode(&p, wire);
	assert_int_equal(proto_frame_write(fds[1], PROTO_FRAME_PROGRESS, wire,
	    sizeof(wire)), 0);
	assert_int_equal(proto_frame_write(fds[1], PROTO_FRAME_BODY, "\"x\":1",
	    5), 0);
	assert_int_equal(close(fds[1]), 0);

	buf_init(&b, CAP);
	while (buf_read_fd(&b, fds[0], 7) > 0)
		;
	assert_int_equal(close(fds[0]), 0);
	assert_int_equal(proto_frame_peek(&b, CAP, &type, &payload, &len), 1);
	assert_int_equal(type, 'P');
	assert_int_equal(proto_progress_decode((const unsigned char *)payload,
	    len, &back), 0);
	assert_int_equal(back.resolved_ms, 5);
	buf_consume(&b, PROTO_FRAME_HDR + len);
	assert_int_equal(proto_frame_peek(&b, CAP, &type, &payload, &len), 1);
	assert_int_equal(type, 'B');
	assert_memory_equal(payload, "\"x\":1", 5);
	buf_free(&b);

	errno = 0;
	assert_int_equal(proto_frame_write(-1, 'R', "", PROTO_FRAME_MAX + 1),
	    -1);
	assert_int_equal(errno, EMSGSIZE);
}

static void
test_result_round_trip(void **state)
{
	struct proto_result r, back;
	struct buf out;
	char err[256];
	int class;

	(void)state;
	buf_init(&out, CAP);
	for (class = PROTO_OK; class <= PROTO_INVALID_REQUEST; class++) {
		memset(&r, 0, sizeof(r));
		r.class = (enum proto_class)class;
		r.http_status = class == PROTO_HTTP ? 429 : 0;
		r.curl_code = class == PROTO_TIMEOUT ? 28 : 0;
		r.retry_after_ms = class == PROTO_HTTP ? 1500 : -1;
		r.quota_exhausted = class == PROTO_HTTP;
		r.ms = 1234567;
		(void)snprintf(r.message, sizeof(r.message),
		    "message \"%d\" \xc3\xa9\n", class);
		buf_clear(&out);
		assert_int_equal(proto_result_encode(&r, &out), 0);
		memset(&back, 0x55, sizeof(back));
		if (proto_result_decode(buf_data(&out), buf_len(&out), &back,
		    err, sizeof(err)) == -1)
			fail_msg("%s", err);
		assert_int_equal(back.class, r.class);
		assert_int_equal(back.http_status, r.http_status);
		assert_int_equal(back.curl_code, r.curl_code);
		assert_int_equal(back.retry_after_ms, r.retry_after_ms);
		assert_int_equal(back.quota_exhausted, r.quota_exhausted);
		assert_int_equal(back.ms, r.ms);
		assert_string_equal(back.message, r.message);
	}
	buf_free(&out);
}

static void
test_result_decode_errors(void **state)
{
	static const char unknown_class[] = "{\"class\":\"weird\","
	    "\"status\":0,\"curl_code\":0,\"retry_after_ms\":-1,"
	    "\"quota\":false,\"ms\":1,\"message\":\"\"}";
	static const char extra[] = "{\"class\":\"ok\",\"status\":0,"
	    "\"curl_code\":0,\"retry_after_ms\":-1,\"quota\":false,"
	    "\"ms\":1,\"message\":\"\",\"extra\":1}";
	struct proto_result r;
	char err[256];

	(void)state;
	assert_int_equal(proto_result_decode("{", 1, &r, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "result is not JSON"));
	assert_int_equal(proto_result_decode("{\"class\":\"ok\"}", 14, &r,
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bad result"));
	assert_int_equal(proto_result_decode(unknown_class,
	    sizeof(unknown_class) - 1, &r, err, sizeof(err)), -1);
	assert_string_equal(err, "bad result class 'weird'");
	assert_int_equal(proto_result_decode(extra, sizeof(extra) - 1, &r, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "bad result"));
}

static void
test_class_names(void **state)
{
	(void)state;
	assert_string_equal(proto_class_name(PROTO_OK), "ok");
	assert_string_equal(proto_class_name(PROTO_HTTP), "http");
	assert_string_equal(proto_class_name(PROTO_NETWORK), "network");
	assert_string_equal(proto_class_name(PROTO_TIMEOUT), "timeout");
	assert_string_equal(proto_class_name(PROTO_BAD_RESPONSE),
	    "bad_response");
	assert_string_equal(proto_class_name(PROTO_INVALID_REQUEST),
	    "invalid_request");
	assert_string_equal(proto_class_name((enum proto_class)99), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_job_round_trip),
		cmocka_unit_test(test_job_defaults),
		cmocka_unit_test(test_job_errors),
		cmocka_unit_test(test_input_normalize),
		cmocka_unit_test(test_input_limit),
		cmocka_unit_test(test_progress_round_trip),
		cmocka_unit_test(test_progress_describe),
		cmocka_unit_test(test_frame_peek),
		cmocka_unit_test(test_frame_write_and_peek),
		cmocka_unit_test(test_result_round_trip),
		cmocka_unit_test(test_result_decode_errors),
		cmocka_unit_test(test_class_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
