/*
 * test_jsonl: proves the request and answer lines of
 * supervisor/protocol/jsonl.h. jsonl_parse_request accepts string and
 * number ids and echoes them (plain, unicode, escaped, negative,
 * fractional, the int64 extremes); refuses a missing id and null,
 * boolean, object or array ids; takes input as a string or an array of 1
 * to 2048 non-empty strings; validates model, dimensions, timeout and
 * deadline (0, negative, too large, wrong type); refuses duplicate keys,
 * text that is not JSON, JSON that is not an object and trailing
 * garbage; and hands back the id text whenever it could be read, even
 * for a refused request. jsonl_format_answer writes exactly the
 * documented bytes for ok and error answers (status only when > 0,
 * message escaped, a NULL id as null) and never leaves half a line
 * behind when the output buffer is full.
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
#include <jansson.h>

#include "buf.h"
#include "proto_job.h"
#include "engine/request.h"
#include "protocol/jsonl.h"

static char err[512];
static char not_set;	/* proves request_parse wrote *id_json */

/* Parse a line that must be accepted. */
static struct request *
parse_ok(const char *line)
{
	struct request *req;
	char *id_json = &not_set;

	err[0] = '\0';
	req = jsonl_parse_request(line, strlen(line), &id_json, err, sizeof(err));
	if (req == NULL) {
		if (id_json != &not_set)
			free(id_json);
		fail_msg("refused %s: %s", line, err);
	}
	assert_null(id_json);
	assert_non_null(req->id_json);
	assert_non_null(req->input_json);
	return req;
}

/*
 * Parse a line that must be refused, with want_id as the id text handed
 * back (NULL: none) and err_part somewhere in the message.
 */
static void
refuse(const char *line, size_t len, const char *want_id,
    const char *err_part)
{
	struct request *req;
	char *id_json = &not_set;

	err[0] = '\0';
	req = jsonl_parse_request(line, len, &id_json, err, sizeof(err));
	if (req != NULL) {
		request_free(req);
		fail_msg("accepted %.*s", (int)len, line);
	}
	if (err[0] == '\0')
		fail_msg("no message for %.*s", (int)len, line);
	if (err_part != NULL && strstr(err, err_part) == NULL)
		fail_msg("message for %.*s is '%s', wanted '%s' in it",
		    (int)len, line, err, err_part);
	if (want_id == NULL) {
		if (id_json != NULL)
			fail_msg("id '%s' handed back for %.*s", id_json,
			    (int)len, line);
	} else {
		if (id_json == NULL)
			fail_msg("no id handed back for %.*s", (int)len, line);
		assert_string_equal(id_json, want_id);
		free(id_json);
	}
}

static void
refuse_str(const char *line, const char *want_id, const char *err_part)
{
	refuse(line, strlen(line), want_id, err_part);
}

/* The id of a valid request with the given id text. */
static char *
id_of(const char *id)
{
	struct request *req;
	char line[512];
	char *s;

	(void)snprintf(line, sizeof(line), "{\"id\":%s,\"input\":\"x\"}", id);
	req = parse_ok(line);
	s = strdup(req->id_json);
	assert_non_null(s);
	request_free(req);
	return s;
}

static void
assert_id_echoed(const char *id)
{
	char *got, seen[512];
	bool same;

	got = id_of(id);
	same = strcmp(got, id) == 0;
	(void)snprintf(seen, sizeof(seen), "%s", got);
	free(got);
	if (!same)
		fail_msg("id %s echoed as %s", id, seen);
}

/* The echoed id is the same JSON value, though jansson may spell it
 * differently ("\u00e9" as raw UTF-8, "\/" as "/"). */
static void
assert_id_same_value(const char *id)
{
	json_t *a, *b;
	json_error_t jerr;
	char *got, seen[512];
	bool same;

	got = id_of(id);
	a = json_loads(id, JSON_DECODE_ANY, &jerr);
	b = json_loads(got, JSON_DECODE_ANY, &jerr);
	same = a != NULL && b != NULL && json_equal(a, b);
	(void)snprintf(seen, sizeof(seen), "%s", got);
	json_decref(a);
	json_decref(b);
	free(got);
	if (!same)
		fail_msg("id %s echoed as %s", id, seen);
}

static void
test_minimal(void **state)
{
	struct request *req;

	(void)state;
	req = parse_ok("{\"id\":\"q1\",\"input\":\"hello\"}");
	assert_string_equal(req->id_json, "\"q1\"");
	assert_string_equal(req->input_json, "[\"hello\"]");
	assert_int_equal(req->n_inputs, 1);
	assert_null(req->model);
	assert_int_equal(req->dimensions, 0);
	assert_int_equal(req->timeout_ms, 0);
	assert_int_equal(req->deadline_ms, 0);
	assert_null(req->owner);
	request_free(req);
	request_free(NULL);

	/* Everything, spaced out, with a trailing CR and "op". */
	req = parse_ok(" { \"op\" : \"embed\", \"id\" : 7 , \"input\" : "
	    "[ \"a\" , \"b\" ], \"model\":\"m-1\", \"dimensions\":256, "
	    "\"timeout\":2.5, \"deadline\":60 }\r");
	assert_string_equal(req->id_json, "7");
	assert_string_equal(req->input_json, "[\"a\",\"b\"]");
	assert_int_equal(req->n_inputs, 2);
	assert_string_equal(req->model, "m-1");
	assert_int_equal(req->dimensions, 256);
	assert_int_equal(req->timeout_ms, 2500);
	assert_int_equal(req->deadline_ms, 60000);
	request_free(req);

	/* Explicit nulls mean "the configured value". */
	req = parse_ok("{\"id\":1,\"input\":\"a\",\"model\":null,"
	    "\"dimensions\":null,\"timeout\":null,\"deadline\":null}");
	assert_null(req->model);
	assert_int_equal(req->dimensions, 0);
	assert_int_equal(req->timeout_ms, 0);
	assert_int_equal(req->deadline_ms, 0);
	request_free(req);
}

static void
test_len_is_respected(void **state)
{
	static const char line[] = "{\"id\":1,\"input\":\"a\"}GARBAGE";
	struct request *req;
	char *id_json;

	(void)state;
	req = jsonl_parse_request(line, strlen(line) - 7, &id_json, err,
	    sizeof(err));
	assert_non_null(req);
	assert_null(id_json);
	request_free(req);
	refuse(line, strlen(line), NULL, "not JSON");
	/* A NUL inside the given length is not a valid line. */
	refuse("{\"id\":1,\"input\":\"a\"}\0", 21, NULL, NULL);
	refuse("{\"id\":1,\"in\0put\":\"a\"}", 21, NULL, NULL);
}

static void
test_id_strings(void **state)
{
	(void)state;
	assert_id_echoed("\"q1\"");
	assert_id_echoed("\"\"");
	assert_id_echoed("\"with space\"");
	/* Raw UTF-8, two, three and four bytes. */
	assert_id_echoed("\"h\xc3\xa9llo \xe6\x97\xa5\xe6\x9c\xac "
	    "\xf0\x9f\x98\x80\"");
	/* Escapes jansson writes back the same way. */
	assert_id_echoed("\"a\\\"b\\\\c\\nd\\te\\rf\\bg\\fh\"");
	/* Escapes that come back as the same string, spelled otherwise. */
	assert_id_same_value("\"\\u00e9\\u65e5\\ud83d\\ude00\"");
	assert_id_same_value("\"\\u0001\\u001f\"");
	assert_id_same_value("\"a\\/b\"");
}

static void
test_id_numbers(void **state)
{
	(void)state;
	assert_id_echoed("7");
	assert_id_echoed("0");
	assert_id_echoed("-7");
	assert_id_echoed("9223372036854775807");
	assert_id_echoed("-9223372036854775808");
	assert_id_echoed("-1.5");
	assert_id_echoed("2.5");
	assert_id_echoed("0.25");
}

/* "the id as JSON text, echoed as is": a decimal fraction that binary
 * floating point cannot hold exactly must still come back as sent. */
static void
test_id_fraction_echoed_as_is(void **state)
{
	(void)state;
	assert_id_echoed("0.1");
	assert_id_echoed("1e3");
}

/* A JSON number id beyond int64 (a uint64 snowflake) is still an id. */
static void
test_id_big_integer_echoed(void **state)
{
	(void)state;
	assert_id_echoed("18446744073709551615");
}

static void
test_id_refused(void **state)
{
	(void)state;
	refuse_str("{\"input\":\"a\"}", NULL, "'id'");
	refuse_str("{\"id\":null,\"input\":\"a\"}", NULL, "'id'");
	refuse_str("{\"id\":true,\"input\":\"a\"}", NULL, "'id'");
	refuse_str("{\"id\":false,\"input\":\"a\"}", NULL, "'id'");
	refuse_str("{\"id\":{},\"input\":\"a\"}", NULL, "'id'");
	refuse_str("{\"id\":{\"a\":1},\"input\":\"a\"}", NULL, "'id'");
	refuse_str("{\"id\":[],\"input\":\"a\"}", NULL, "'id'");
	refuse_str("{\"id\":[1],\"input\":\"a\"}", NULL, "'id'");
}

static void
test_input(void **state)
{
	struct request *req;

	(void)state;
	req = parse_ok("{\"id\":1,\"input\":[\"only\"]}");
	assert_string_equal(req->input_json, "[\"only\"]");
	assert_int_equal(req->n_inputs, 1);
	request_free(req);
	/* Strings keep their value through normalisation. */
	req = parse_ok("{\"id\":1,\"input\":[\"a\\\"b\", \"\\u00e9\","
	    "\"x\\ny\"]}");
	assert_string_equal(req->input_json,
	    "[\"a\\\"b\",\"\xc3\xa9\",\"x\\ny\"]");
	assert_int_equal(req->n_inputs, 3);
	request_free(req);

	refuse_str("{\"id\":1,\"input\":\"\"}", "1", "empty");
	refuse_str("{\"id\":1,\"input\":[]}", "1", "empty");
	refuse_str("{\"id\":1,\"input\":[\"a\",\"\"]}", "1", "input[1]");
	refuse_str("{\"id\":1,\"input\":[\"a\",2]}", "1", "input[1]");
	refuse_str("{\"id\":1,\"input\":[null]}", "1", "input[0]");
	refuse_str("{\"id\":1,\"input\":[[\"a\"]]}", "1", "input[0]");
	refuse_str("{\"id\":1,\"input\":5}", "1", "'input'");
	refuse_str("{\"id\":1,\"input\":null}", "1", "'input'");
	refuse_str("{\"id\":1,\"input\":{\"a\":\"b\"}}", "1", "'input'");
	refuse_str("{\"id\":\"k\"}", "\"k\"", "'input'");
}

/* A request with n inputs of "x". */
static char *
line_with_inputs(size_t n)
{
	struct buf b;
	size_t i, len;
	char *p;

	buf_init(&b, 1 << 20);
	assert_int_equal(buf_printf(&b, "{\"id\":\"n%zu\",\"input\":[", n), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(buf_printf(&b, "%s\"x%zu\"", i > 0 ? "," : "",
		    i), 0);
	assert_int_equal(buf_printf(&b, "]}"), 0);
	p = buf_steal(&b, &len);
	assert_non_null(p);
	return p;
}

static void
test_input_count_cap(void **state)
{
	struct request *req;
	char *line;

	(void)state;
	line = line_with_inputs(PROTO_MAX_INPUTS);
	req = parse_ok(line);
	assert_int_equal(req->n_inputs, 2048);
	assert_int_equal(strncmp(req->input_json, "[\"x0\",\"x1\",", 11), 0);
	assert_non_null(strstr(req->input_json, ",\"x2047\"]"));
	request_free(req);
	free(line);

	line = line_with_inputs(PROTO_MAX_INPUTS + 1);
	refuse_str(line, "\"n2049\"", "2048");
	free(line);
}

static void
test_model(void **state)
{
	struct request *req;

	(void)state;
	req = parse_ok("{\"id\":1,\"input\":\"a\",\"model\":\"m\"}");
	assert_string_equal(req->model, "m");
	request_free(req);
	req = parse_ok("{\"id\":1,\"input\":\"a\",\"model\":"
	    "\"text-embedding-3-large\"}");
	assert_string_equal(req->model, "text-embedding-3-large");
	request_free(req);
	refuse_str("{\"id\":1,\"input\":\"a\",\"model\":\"\"}", "1", "'model'");
	refuse_str("{\"id\":1,\"input\":\"a\",\"model\":5}", "1", "'model'");
	refuse_str("{\"id\":1,\"input\":\"a\",\"model\":[\"m\"]}", "1",
	    "'model'");
	refuse_str("{\"id\":1,\"input\":\"a\",\"model\":true}", "1", "'model'");
}

static void
test_dimensions(void **state)
{
	static const char *const bad[] = { "0", "-1", "100001", "1.5",
	    "\"256\"", "true", "[]", "{}", "9223372036854775807" };
	struct request *req;
	char line[128];
	size_t i;

	(void)state;
	req = parse_ok("{\"id\":1,\"input\":\"a\",\"dimensions\":1}");
	assert_int_equal(req->dimensions, 1);
	request_free(req);
	req = parse_ok("{\"id\":1,\"input\":\"a\",\"dimensions\":100000}");
	assert_int_equal(req->dimensions, 100000);
	request_free(req);
	/* A whole number written as a real is that number. */
	req = parse_ok("{\"id\":1,\"input\":\"a\",\"dimensions\":256.0}");
	assert_int_equal(req->dimensions, 256);
	request_free(req);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		(void)snprintf(line, sizeof(line), "{\"id\":1,\"input\":\"a\","
		    "\"dimensions\":%s}", bad[i]);
		refuse_str(line, "1", "'dimensions'");
	}
}

static void
check_seconds(const char *key)
{
	static const struct { const char *text; long ms; } good[] = {
		{ "0.001", 1 }, { "0.0015", 2 }, { "1", 1000 }, { "2.5", 2500 },
		{ "30", 30000 }, { "1e2", 100000 }, { "86400", 86400000 },
	};
	static const char *const bad[] = { "0", "-0", "-1", "-0.5", "0.0009",
	    "86400.001", "86401", "1e10", "\"5\"", "true", "[]", "{}" };
	struct request *req;
	char line[128], want[32];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		(void)snprintf(line, sizeof(line), "{\"id\":1,\"input\":\"a\","
		    "\"%s\":%s}", key, good[i].text);
		req = parse_ok(line);
		if (strcmp(key, "timeout") == 0) {
			assert_int_equal(req->timeout_ms, good[i].ms);
			assert_int_equal(req->deadline_ms, 0);
		} else {
			assert_int_equal(req->deadline_ms, good[i].ms);
			assert_int_equal(req->timeout_ms, 0);
		}
		request_free(req);
	}
	(void)snprintf(want, sizeof(want), "'%s'", key);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		(void)snprintf(line, sizeof(line), "{\"id\":1,\"input\":\"a\","
		    "\"%s\":%s}", key, bad[i]);
		refuse_str(line, "1", want);
	}
}

static void
test_timeout_and_deadline(void **state)
{
	(void)state;
	check_seconds("timeout");
	check_seconds("deadline");
}

static void
test_op(void **state)
{
	(void)state;
	refuse_str("{\"id\":1,\"input\":\"a\",\"op\":\"chat\"}", "1", "'op'");
	refuse_str("{\"id\":1,\"input\":\"a\",\"op\":5}", "1", "'op'");
}

static void
test_not_a_request(void **state)
{
	(void)state;
	refuse_str("", NULL, "not JSON");
	refuse_str(" ", NULL, "not JSON");
	refuse_str("nope", NULL, "not JSON");
	refuse_str("{", NULL, "not JSON");
	refuse_str("{\"id\":1,\"input\":\"a\"", NULL, "not JSON");
	refuse_str("{\"id\":1,\"input\":\"a\"} x", NULL, "not JSON");
	refuse_str("{\"id\":1,\"input\":\"a\"}{}", NULL, "not JSON");
	refuse_str("{\"id\":1,\"input\":\"a\"}\n{\"id\":2,\"input\":\"b\"}",
	    NULL, "not JSON");
	refuse_str("{'id':1,'input':'a'}", NULL, "not JSON");
	refuse_str("{\"id\":1,\"input\":\"a\",}", NULL, "not JSON");
	refuse_str("{\"id\":NaN,\"input\":\"a\"}", NULL, "not JSON");
	refuse_str("{\"id\":1,\"input\":\"\xff\"}", NULL, "not JSON");
	refuse_str("[1]", NULL, "object");
	refuse_str("[{\"id\":1,\"input\":\"a\"}]", NULL, "object");
	refuse_str("\"s\"", NULL, NULL);
	refuse_str("1", NULL, NULL);
	refuse_str("null", NULL, NULL);
}

static void
test_duplicate_keys(void **state)
{
	(void)state;
	refuse_str("{\"id\":1,\"id\":2,\"input\":\"a\"}", NULL, NULL);
	refuse_str("{\"id\":1,\"input\":\"a\",\"input\":\"b\"}", NULL, NULL);
	refuse_str("{\"id\":1,\"input\":\"a\",\"timeout\":1,\"timeout\":2}",
	    NULL, NULL);
	/* Nested objects too, though nothing reads them. */
	refuse_str("{\"id\":1,\"input\":\"a\",\"x\":{\"k\":1,\"k\":2}}", NULL,
	    NULL);
}

static void
test_code_names(void **state)
{
	static const char *const names[] = { "ok", "invalid_request",
	    "timeout", "network", "http", "rate_limited", "bad_response",
	    "worker_crashed", "shutting_down", "cancelled", "circuit_open" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_string_equal(req_code_name((enum req_code)i), names[i]);
	assert_int_equal(REQ_N_CODES, 11);
	assert_string_equal(req_code_name(REQ_N_CODES), "unknown");
	assert_string_equal(req_code_name((enum req_code)-1), "unknown");
}

static void
assert_answer(const char *id_json, const struct answer *a, const char *want)
{
	struct buf out;

	buf_init(&out, 1 << 16);
	assert_int_equal(jsonl_format_answer(&out, id_json, a), 0);
	assert_int_equal(buf_len(&out), strlen(want));
	assert_string_equal(buf_data(&out), want);
	buf_free(&out);
}

static const char ok_body[] = "\"embeddings\":[[0.5,-1]],\"model\":\"m\","
    "\"usage\":{\"prompt_tokens\":1,\"total_tokens\":1}";

static void
test_answer_ok(void **state)
{
	struct answer a;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.code = REQ_OK;
	a.body = ok_body;
	a.body_len = strlen(ok_body);
	a.attempts = 1;
	a.ms = 41;
	assert_answer("\"q1\"", &a, "{\"id\":\"q1\",\"ok\":true,"
	    "\"embeddings\":[[0.5,-1]],\"model\":\"m\",\"usage\":"
	    "{\"prompt_tokens\":1,\"total_tokens\":1},\"attempts\":1,"
	    "\"ms\":41}\n");
	/* Error fields are ignored on success; the body is taken by length. */
	a.message = "ignored";
	a.http_status = 200;
	a.retryable = true;
	a.body_len = strlen(ok_body) - strlen(",\"usage\":{\"prompt_tokens\""
	    ":1,\"total_tokens\":1}");
	a.attempts = 3;
	a.ms = 0;
	assert_answer("-2.5", &a, "{\"id\":-2.5,\"ok\":true,"
	    "\"embeddings\":[[0.5,-1]],\"model\":\"m\",\"attempts\":3,"
	    "\"ms\":0}\n");
}

static void
test_answer_error(void **state)
{
	struct answer a;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.code = REQ_TIMEOUT;
	a.message = "attempt timed out";
	a.retryable = true;
	a.attempts = 4;
	a.ms = 30012;
	assert_answer("7", &a, "{\"id\":7,\"ok\":false,\"error\":{\"code\":"
	    "\"timeout\",\"message\":\"attempt timed out\",\"retryable\":true},"
	    "\"attempts\":4,\"ms\":30012}\n");

	/* A status only when there is one. */
	a.code = REQ_HTTP;
	a.message = "server error";
	a.http_status = 503;
	a.retryable = false;
	a.attempts = 1;
	a.ms = 7;
	assert_answer("\"r\"", &a, "{\"id\":\"r\",\"ok\":false,\"error\":"
	    "{\"code\":\"http\",\"message\":\"server error\",\"status\":503,"
	    "\"retryable\":false},\"attempts\":1,\"ms\":7}\n");
	a.http_status = -1;
	assert_answer("\"r\"", &a, "{\"id\":\"r\",\"ok\":false,\"error\":"
	    "{\"code\":\"http\",\"message\":\"server error\","
	    "\"retryable\":false},\"attempts\":1,\"ms\":7}\n");

	/* No id could be read: null. No message: empty. */
	a.code = REQ_INVALID_REQUEST;
	a.message = NULL;
	a.http_status = 0;
	a.attempts = 0;
	a.ms = 0;
	assert_answer(NULL, &a, "{\"id\":null,\"ok\":false,\"error\":"
	    "{\"code\":\"invalid_request\",\"message\":\"\","
	    "\"retryable\":false},\"attempts\":0,\"ms\":0}\n");

	a.code = REQ_RATE_LIMITED;
	a.message = "quota";
	a.http_status = 429;
	a.attempts = 4294967295u;
	a.ms = -1;
	assert_answer("\"z\"", &a, "{\"id\":\"z\",\"ok\":false,\"error\":"
	    "{\"code\":\"rate_limited\",\"message\":\"quota\",\"status\":429,"
	    "\"retryable\":false},\"attempts\":4294967295,\"ms\":-1}\n");

	/* When to try again, for rate_limited and circuit_open only. */
	a.retry_after_ms = 1500;
	a.retryable = true;
	a.attempts = 1;
	a.ms = 3;
	assert_answer("1", &a, "{\"id\":1,\"ok\":false,\"error\":"
	    "{\"code\":\"rate_limited\",\"message\":\"quota\",\"status\":429,"
	    "\"retry_after_ms\":1500,\"retryable\":true},\"attempts\":1,"
	    "\"ms\":3}\n");
	a.code = REQ_CIRCUIT_OPEN;
	a.message = "open";
	a.http_status = 0;
	a.attempts = 0;
	assert_answer("1", &a, "{\"id\":1,\"ok\":false,\"error\":"
	    "{\"code\":\"circuit_open\",\"message\":\"open\","
	    "\"retry_after_ms\":1500,\"retryable\":true},\"attempts\":0,"
	    "\"ms\":3}\n");
	a.code = REQ_TIMEOUT;
	assert_answer("1", &a, "{\"id\":1,\"ok\":false,\"error\":"
	    "{\"code\":\"timeout\",\"message\":\"open\","
	    "\"retryable\":true},\"attempts\":0,\"ms\":3}\n");
}

static void
test_answer_message_escaping(void **state)
{
	struct answer a;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.code = REQ_BAD_RESPONSE;
	a.message = "say \"hi\"\n\tback\\slash \x01\x1f caf\xc3\xa9 a/b";
	a.attempts = 1;
	a.ms = 5;
	assert_answer("1", &a, "{\"id\":1,\"ok\":false,\"error\":{\"code\":"
	    "\"bad_response\",\"message\":\"say \\\"hi\\\"\\n\\tback\\\\slash "
	    "\\u0001\\u001F caf\xc3\xa9 a/b\",\"retryable\":false},"
	    "\"attempts\":1,\"ms\":5}\n");

	/* Not UTF-8: said so, rather than an invalid line. */
	a.message = "bad \xff\xfe bytes";
	assert_answer("1", &a, "{\"id\":1,\"ok\":false,\"error\":{\"code\":"
	    "\"bad_response\",\"message\":\"(text is not valid UTF-8)\","
	    "\"retryable\":false},\"attempts\":1,\"ms\":5}\n");
}

static void
test_answer_appends(void **state)
{
	struct answer a;
	struct buf out;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.code = REQ_SHUTTING_DOWN;
	a.message = "bye";
	buf_init(&out, 4096);
	assert_int_equal(buf_append(&out, "prev\n", 5), 0);
	assert_int_equal(jsonl_format_answer(&out, "1", &a), 0);
	assert_int_equal(jsonl_format_answer(&out, "2", &a), 0);
	assert_string_equal(buf_data(&out), "prev\n"
	    "{\"id\":1,\"ok\":false,\"error\":{\"code\":\"shutting_down\","
	    "\"message\":\"bye\",\"retryable\":false},\"attempts\":0,"
	    "\"ms\":0}\n"
	    "{\"id\":2,\"ok\":false,\"error\":{\"code\":\"shutting_down\","
	    "\"message\":\"bye\",\"retryable\":false},\"attempts\":0,"
	    "\"ms\":0}\n");
	buf_free(&out);
}

/* Every cap short of the whole line: -1, ENOBUFS, nothing half-written. */
static void
check_no_half_line(const struct answer *a)
{
	struct buf out;
	size_t full, cap;

	buf_init(&out, 1 << 16);
	assert_int_equal(jsonl_format_answer(&out, "\"id\"", a), 0);
	full = buf_len(&out);
	buf_free(&out);
	for (cap = 3; cap < full + 2; cap++) {
		buf_init(&out, cap);
		assert_int_equal(buf_append(&out, "ab\n", 3), 0);
		/* A dead prefix too, so truncation counts live bytes. */
		buf_consume(&out, 1);
		errno = 0;
		assert_int_equal(jsonl_format_answer(&out, "\"id\"", a), -1);
		assert_int_equal(errno, ENOBUFS);
		assert_int_equal(buf_len(&out), 2);
		assert_string_equal(buf_data(&out), "b\n");
		buf_free(&out);
	}
	buf_init(&out, full + 2);
	assert_int_equal(buf_append(&out, "b\n", 2), 0);
	assert_int_equal(jsonl_format_answer(&out, "\"id\"", a), 0);
	assert_int_equal(buf_len(&out), full + 2);
	buf_free(&out);
}

static void
test_answer_full_buffer(void **state)
{
	struct answer a;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.code = REQ_OK;
	a.body = ok_body;
	a.body_len = strlen(ok_body);
	a.attempts = 2;
	a.ms = 100;
	check_no_half_line(&a);
	memset(&a, 0, sizeof(a));
	a.code = REQ_HTTP;
	a.message = "a \"quoted\" message";
	a.http_status = 500;
	a.retryable = true;
	a.attempts = 2;
	a.ms = 100;
	check_no_half_line(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_len_is_respected),
		cmocka_unit_test(test_id_strings),
		cmocka_unit_test(test_id_numbers),
		cmocka_unit_test(test_id_fraction_echoed_as_is),
		cmocka_unit_test(test_id_big_integer_echoed),
		cmocka_unit_test(test_id_refused),
		cmocka_unit_test(test_input),
		cmocka_unit_test(test_input_count_cap),
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_dimensions),
		cmocka_unit_test(test_timeout_and_deadline),
		cmocka_unit_test(test_op),
		cmocka_unit_test(test_not_a_request),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_code_names),
		cmocka_unit_test(test_answer_ok),
		cmocka_unit_test(test_answer_error),
		cmocka_unit_test(test_answer_message_escaping),
		cmocka_unit_test(test_answer_appends),
		cmocka_unit_test(test_answer_full_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
