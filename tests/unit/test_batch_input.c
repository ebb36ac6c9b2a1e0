/*
 * test_batch_input: proves supervisor/batch/input.h: a text line becomes
 * its line number and a JSON string (quotes, backslashes and control
 * characters escaped, UTF-8 kept, a trailing CR dropped); an empty line,
 * invalid UTF-8 (overlong, surrogate, truncated, past U+10FFFF) and NUL
 * bytes are refused with the id still set; a JSON line keeps its id as
 * written (1e3, 0.1, escapes), ignores other members, and refuses
 * non-JSON, non-objects, missing or empty text, missing or odd ids and
 * duplicate keys. (The member scanner's tests are in test_scan.c.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "batch/input.h"

#define LINE(s)	s, sizeof(s) - 1

static void
expect_ok(bool jsonl, uint64_t line_no, const char *line, size_t len,
    const char *id, const char *text)
{
	struct batch_input in;
	char err[256];

	if (batch_input_parse(jsonl, line_no, line, len, &in, err,
	    sizeof(err)) != 0)
		fail_msg("refused: %s", err);
	assert_string_equal(in.id_json, id);
	assert_string_equal(in.text_json, text);
	assert_int_equal(in.text_len, strlen(text));
	batch_input_clear(&in);
	assert_null(in.id_json);
}

static void
expect_bad(bool jsonl, const char *line, size_t len, const char *id,
    const char *msg)
{
	struct batch_input in;
	char err[256];

	assert_int_equal(batch_input_parse(jsonl, 9, line, len, &in, err,
	    sizeof(err)), -1);
	assert_null(in.text_json);
	if (id == NULL)
		assert_null(in.id_json);
	else
		assert_string_equal(in.id_json, id);
	if (strncmp(err, msg, strlen(msg)) != 0)
		fail_msg("message '%s' does not start with '%s'", err, msg);
	batch_input_clear(&in);
}

static void
test_text(void **state)
{
	(void)state;
	expect_ok(false, 1, LINE("hello world"), "1", "\"hello world\"");
	expect_ok(false, 42, LINE("a \"q\" \\ b"), "42",
	    "\"a \\\"q\\\" \\\\ b\"");
	expect_ok(false, 3, LINE("tab\there\x01\x1f"), "3",
	    "\"tab\\there\\u0001\\u001f\"");
	expect_ok(false, 4, LINE("crlf\r"), "4", "\"crlf\"");
	expect_ok(false, 5, LINE("mid\rcr"), "5", "\"mid\\rcr\"");
	expect_ok(false, 6, LINE("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
	    "6", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
	expect_ok(false, 7, LINE(" "), "7", "\" \"");
	expect_ok(false, UINT64_MAX, LINE("x"), "18446744073709551615",
	    "\"x\"");
}

static void
test_text_refused(void **state)
{
	(void)state;
	expect_bad(false, LINE(""), "9", "empty line");
	expect_bad(false, LINE("\r"), "9", "empty line");
	expect_bad(false, LINE("a\0b"), "9", "text holds a NUL byte at byte 2");
	expect_bad(false, LINE("bad \xff"), "9",
	    "text is not valid UTF-8 at byte 5");
	expect_bad(false, LINE("\xc0\xaf"), "9", "text is not valid UTF-8");
	expect_bad(false, LINE("\xed\xa0\x80"), "9", "text is not valid UTF-8");
	expect_bad(false, LINE("\xf4\x90\x80\x80"), "9",
	    "text is not valid UTF-8");
	expect_bad(false, LINE("cut \xe2\x82"), "9", "text is not valid UTF-8");
	expect_bad(false, LINE("\xe0\x80\xaf"), "9", "text is not valid UTF-8");
}

static void
test_jsonl(void **state)
{
	(void)state;
	expect_ok(true, 1, LINE("{\"id\":\"a\",\"text\":\"hi\"}"), "\"a\"",
	    "\"hi\"");
	expect_ok(true, 1, LINE("{\"text\": \"hi\", \"id\": 1e3 }"), "1e3",
	    "\"hi\"");
	expect_ok(true, 1,
	    LINE("{\"id\":0.1,\"meta\":{\"id\":5},\"text\":\"x\"}"), "0.1",
	    "\"x\"");
	expect_ok(true, 1,
	    LINE("{\"id\":\"caf\\u00e9\",\"text\":\"\\u00e9\\n\"}"),
	    "\"caf\\u00e9\"", "\"\xc3\xa9\\n\"");
	expect_ok(true, 1, LINE("{\"id\":-7,\"text\":\"a\\\"b\"}\r"), "-7",
	    "\"a\\\"b\"");
	expect_ok(true, 1, LINE("{\"id\":123456789012345678901234567890,"
	    "\"text\":\"big\"}"), "123456789012345678901234567890", "\"big\"");
}

static void
test_jsonl_refused(void **state)
{
	(void)state;
	expect_bad(true, LINE(""), NULL, "empty line");
	expect_bad(true, LINE("not json"), NULL, "line is not JSON");
	expect_bad(true, LINE("[1,2]"), NULL, "line is not a JSON object");
	expect_bad(true, LINE("{\"text\":\"x\"}"), NULL, "line has no 'id'");
	expect_bad(true, LINE("{\"id\":null,\"text\":\"x\"}"), NULL,
	    "'id' must be a string or a number");
	expect_bad(true, LINE("{\"id\":[1],\"text\":\"x\"}"), NULL,
	    "'id' must be a string or a number");
	expect_bad(true, LINE("{\"id\":4}"), "4", "line has no 'text'");
	expect_bad(true, LINE("{\"id\":4,\"text\":5}"), "4",
	    "'text' must be a string");
	expect_bad(true, LINE("{\"id\":4,\"text\":\"\"}"), "4",
	    "'text' is empty");
	expect_bad(true, LINE("{\"id\":1,\"id\":2,\"text\":\"x\"}"), NULL,
	    "line is not JSON");
	expect_bad(true, LINE("{\"id\":1,\"text\":\"a\\u0000b\"}"), NULL,
	    "line is not JSON");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_text_refused),
		cmocka_unit_test(test_jsonl),
		cmocka_unit_test(test_jsonl_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
