/*
 * test_proto_job: shared/proto_job.h, the job between supervisor and
 * worker. Round trips prove that what proto_job_to_json writes
 * proto_job_parse reads back unchanged, without the API key (the key's
 * header name and the count of secret headers do travel); defaults
 * fill what a job leaves out; every malformed member is refused with its
 * own message; and a request's "input" is normalised or refused at its
 * edges (empty, wrong types, exactly the limit and one past it).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "buf.h"
#include "proto_job.h"

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
	job.n_secret_headers = 1;
	job.api_key_header = "api-key";
	job.cacert = "/etc/ssl/my ca.pem";
	job.insecure = true;
	job.max_response = 1048576;
	job.api_key = "sk-must-not-appear";
	job.request_id = "req-7";
	job.attempt = 3;
	job.connect_timeout_ms = 2500;
	job.resolve_addr = "[::1]:8443";
	job.tls_session = (const unsigned char *)"\x30\x00\xff session";
	job.tls_session_len = 11;
	job.extra_json = "\"user\":\"u-1\",\"x\":{\"a\":[1]}";

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
	assert_int_equal(back->n_secret_headers, 1);
	assert_string_equal(back->api_key_header, "api-key");
	assert_string_equal(back->cacert, job.cacert);
	assert_true(back->insecure);
	assert_int_equal(back->max_response, 1048576);
	assert_null(back->api_key);
	assert_string_equal(back->request_id, "req-7");
	assert_int_equal(back->attempt, 3);
	assert_int_equal(back->connect_timeout_ms, 2500);
	assert_string_equal(back->resolve_addr, "[::1]:8443");
	assert_int_equal(back->tls_session_len, 11);
	assert_memory_equal(back->tls_session, job.tls_session, 11);
	assert_string_equal(back->extra_json, job.extra_json);
	proto_job_free(back);

	/* A minimal job, written and read again, stays minimal. */
	buf_clear(&out);
	job.dimensions = 0;
	job.encoding = JOB_ENCODING_BASE64;
	job.cacert = NULL;
	job.request_id = NULL;
	job.n_headers = 0;
	job.n_secret_headers = 0;
	job.api_key_header = NULL;
	job.headers = NULL;
	job.insecure = false;
	job.connect_timeout_ms = 0;
	job.resolve_addr = NULL;
	job.tls_session = NULL;
	job.tls_session_len = 0;
	job.extra_json = NULL;
	assert_int_equal(proto_job_to_json(&job, &out), 0);
	back = proto_job_parse(buf_data(&out), buf_len(&out), NULL, err,
	    sizeof(err));
	assert_non_null(back);
	assert_int_equal(back->dimensions, 0);
	assert_int_equal(back->encoding, JOB_ENCODING_BASE64);
	assert_null(back->cacert);
	assert_null(back->request_id);
	assert_int_equal(back->n_headers, 0);
	assert_int_equal(back->n_secret_headers, 0);
	assert_null(back->api_key_header);
	assert_false(back->insecure);
	assert_null(back->resolve_addr);
	assert_null(back->tls_session);
	assert_null(strstr(buf_data(&out), "tls_session"));
	assert_null(back->extra_json);
	proto_job_free(back);
	buf_free(&out);
}

/* Extra body members: an object's members without braces; an empty
 * object is none; what the job sets itself, or no object, is refused. */
static void
test_extra_members(void **state)
{
	static const char *const refused[] = { "[1]", "\"u\"",
	    "{\"input\":1}", "{\"model\":\"m\"}",
	    "{\"encoding_format\":\"float\"}", "{\"dimensions\":3}" };
	json_t *obj;
	char err[128], *members;
	size_t i;

	(void)state;
	obj = json_loads("{\"user\":\"u\",\"n\":null}", 0, NULL);
	assert_non_null(obj);
	assert_int_equal(proto_extra_members(obj, &members, err, sizeof(err)),
	    0);
	assert_string_equal(members, "\"user\":\"u\",\"n\":null");
	free(members);
	json_decref(obj);
	obj = json_object();
	assert_int_equal(proto_extra_members(obj, &members, err, sizeof(err)),
	    0);
	assert_null(members);
	json_decref(obj);
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		obj = json_loads(refused[i], JSON_DECODE_ANY, NULL);
		assert_non_null(obj);
		members = (char *)(uintptr_t)"untouched";
		assert_int_equal(proto_extra_members(obj, &members, err,
		    sizeof(err)), -1);
		assert_null(members);
		assert_true(strlen(err) > 0);
		json_decref(obj);
	}
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
	expect_job_error("{\"input\":\"x\",\"headers\":[\"X-A: 1\"],"
	    "\"secret_headers\":2}", &defaults, "'secret_headers' must count");
	expect_job_error("{\"input\":\"x\",\"api_key_header\":1}",
	    &defaults, "'api_key_header' must be a string");
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_job_round_trip),
		cmocka_unit_test(test_extra_members),
		cmocka_unit_test(test_job_defaults),
		cmocka_unit_test(test_job_errors),
		cmocka_unit_test(test_input_normalize),
		cmocka_unit_test(test_input_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
