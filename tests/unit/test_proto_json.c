/*
 * test_proto_json: shared/proto_json.h, the one JSON string escaper.
 * Quotes, backslashes, control characters and UTF-8 come out as JSON
 * that reads back as the same text; the empty string is "" ; text that
 * is not UTF-8 becomes a note rather than a broken line; at the buffer's
 * cap the append fails with ENOBUFS and leaves what was there.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "buf.h"
#include "proto_json.h"

/* Append s to an empty buffer of cap max and compare with want. */
static void
expect_literal(const char *s, const char *want)
{
	struct buf b;

	buf_init(&b, 1 << 16);
	assert_int_equal(proto_append_json_string(&b, s), 0);
	assert_string_equal(buf_data(&b), want);
	buf_free(&b);
}

static void
test_escapes(void **state)
{
	(void)state;
	expect_literal("", "\"\"");
	expect_literal("plain", "\"plain\"");
	expect_literal("say \"hi\"", "\"say \\\"hi\\\"\"");
	expect_literal("a\\b", "\"a\\\\b\"");
	expect_literal("line\nnext\ttab\r", "\"line\\nnext\\ttab\\r\"");
	expect_literal("\x01\x1f", "\"\\u0001\\u001F\"");
	expect_literal("caf\xc3\xa9", "\"caf\xc3\xa9\"");
}

static void
test_reads_back(void **state)
{
	static const char text[] = "q\"b\\n\n\x02 \xe2\x82\xac end";
	json_error_t jerr;
	json_t *v;
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 16);
	assert_int_equal(proto_append_json_string(&b, text), 0);
	v = json_loadb(buf_data(&b), buf_len(&b), JSON_DECODE_ANY, &jerr);
	if (v == NULL)
		fail_msg("not JSON: %s: %s", jerr.text, buf_data(&b));
	assert_string_equal(json_string_value(v), text);
	json_decref(v);
	buf_free(&b);
}

static void
test_not_utf8(void **state)
{
	(void)state;
	expect_literal("bad \xff byte", "\"(text is not valid UTF-8)\"");
	expect_literal("\xc3", "\"(text is not valid UTF-8)\"");
}

static void
test_cap(void **state)
{
	struct buf b;

	(void)state;
	/* "ab" plus quotes is 4 bytes: exactly the cap fits... */
	buf_init(&b, 4);
	assert_int_equal(proto_append_json_string(&b, "ab"), 0);
	assert_string_equal(buf_data(&b), "\"ab\"");
	buf_free(&b);
	/* ...one byte more does not, and leaves the buffer as it was. */
	buf_init(&b, 5);
	assert_int_equal(buf_append(&b, "x", 1), 0);
	errno = 0;
	assert_int_equal(proto_append_json_string(&b, "abc"), -1);
	assert_int_equal(errno, ENOBUFS);
	assert_int_equal(buf_len(&b), 1);
	assert_string_equal(buf_data(&b), "x");
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_reads_back),
		cmocka_unit_test(test_not_utf8),
		cmocka_unit_test(test_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
