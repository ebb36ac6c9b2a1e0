/*
 * test_scan: proves supervisor/protocol/scan.h: scan_has_member finds
 * top-level members only (not nested ones, not in arrays), returns the
 * raw value text as written (strings with escaped quotes and brackets,
 * numbers like 1e3, objects, arrays, literals), takes the first of
 * duplicate keys, allows whitespace around keys, colons and values,
 * compares keys as spelled out (an escaped key is not found), refuses
 * empty input, non-objects and a member without a value, and never reads
 * past the end of its input, for every prefix of a line; scan_member_dup
 * copies the value, or fails with ENOENT.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/scan.h"

#define LINE(s)	s, sizeof(s) - 1

/* The value of key in the len bytes at line is exactly want; NULL: the
 * key is not found. */
static void
expect(const char *line, size_t len, const char *key, const char *want)
{
	const char *v;
	size_t n;
	bool found;

	found = scan_has_member(line, len, key, &v, &n);
	if (want == NULL && found)
		fail_msg("'%s' found in %.*s", key, (int)len, line);
	if (want == NULL)
		return;
	if (!found)
		fail_msg("'%s' not found in %.*s", key, (int)len, line);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(v, want, n);
}

struct scan_case {
	const char	*line;
	const char	*want;		/* the value of "id"; NULL: none */
};

static void
expect_cases(const struct scan_case *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		expect(c[i].line, strlen(c[i].line), "id", c[i].want);
}

static void
test_member(void **state)
{
	static const char rec[] = "{\"id\":\"x,}\\\"\",\"embedding\":[1,2],"
	    "\"line\": 17 }";
	const char *v;
	size_t n;

	(void)state;
	assert_true(scan_has_member(LINE(rec), "id", &v, &n));
	assert_int_equal(n, 7);
	assert_memory_equal(v, "\"x,}\\\"\"", 7);
	assert_true(scan_has_member(LINE(rec), "embedding", &v, &n));
	assert_memory_equal(v, "[1,2]", n);
	assert_true(scan_has_member(LINE(rec), "line", &v, &n));
	assert_memory_equal(v, "17", n);
	assert_false(scan_has_member(LINE(rec), "missing", &v, &n));
	/* Nested members are not top-level ones. */
	assert_false(scan_has_member(LINE("{\"a\":{\"id\":1}}"), "id", &v,
	    &n));
	assert_false(scan_has_member(LINE("[\"id\",1]"), "id", &v, &n));
	assert_false(scan_has_member(LINE(""), "id", &v, &n));
}

static void
test_values_as_written(void **state)
{
	static const struct scan_case cases[] = {
		{ "{\"id\":1e3}", "1e3" },
		{ "{\"id\":-0.10,\"x\":1}", "-0.10" },
		{ "{\"id\":\"caf\\u00e9\"}", "\"caf\\u00e9\"" },
		{ "{\"a\":true,\"id\":null}", "null" },
		{ "{\"a\":{\"b\":[1,{\"id\":2}]},\"id\":3}", "3" },
		{ "{\"a\":\"}]\\\\\",\"id\":4}", "4" },
		{ "{\"id\":{\"k\":[1,\"]\"]},\"z\":0}", "{\"k\":[1,\"]\"]}" },
		/* The first of two members with the key. */
		{ "{\"id\":1,\"id\":2}", "1" },
		/* The key must match whole. */
		{ "{\"idx\":1,\"i\":2,\"id\":3}", "3" },
		/* Whitespace around keys, colons and values. */
		{ " \t\r\n{ \"id\" :\n 5 , \"b\":1}", "5" },
		{ "{\"a\" : [ 1 , 2 ] ,\t\"id\":\"s\" }", "\"s\"" },
		{ "{\"text\": \"hi\", \"id\": 1e3 }", "1e3" },
	};

	(void)state;
	expect_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_refused(void **state)
{
	static const struct scan_case cases[] = {
		{ "   ", NULL },
		{ "\"id\"", NULL },
		{ "{}", NULL },
		{ "{\"id\":}", NULL },
		{ "{\"id\" 1}", NULL },
		{ "{\"a\":1 \"id\":2}", NULL },
		/* Spelled-out keys only. */
		{ "{\"\\u0069d\":1}", NULL },
		{ "x{\"id\":1}", NULL },
	};

	(void)state;
	expect_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_member_truncated(void **state)
{
	static const char rec[] = "{\"id\":\"abc\",\"line\":12345}";
	size_t len, n;
	const char *v;
	char *copy;

	(void)state;
	/* Every prefix, in its own allocation so ASan sees overreads. */
	for (len = 0; len < sizeof(rec) - 1; len++) {
		copy = malloc(len + 1);
		assert_non_null(copy);
		memcpy(copy, rec, len);
		if (scan_has_member(copy, len, "line", &v, &n))
			assert_true(v + n <= copy + len);
		if (scan_has_member(copy, len, "id", &v, &n))
			assert_true(v + n <= copy + len);
		free(copy);
	}
}

static void
test_cut_inside_values(void **state)
{
	static const char *const cut[] = {
		"{\"a\":\"unterminated",
		"{\"a\":\"esc\\",
		"{\"a\":[1,[2,",
		"{\"a\":{\"b\":\"}",
		"{\"id",
		"{\"id\":",
	};
	size_t i, len;
	char *copy;

	(void)state;
	for (i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		len = strlen(cut[i]);
		copy = malloc(len);
		assert_non_null(copy);
		memcpy(copy, cut[i], len);
		expect(copy, len, "id", NULL);
		free(copy);
	}
	/* A head cut in the id's own value yields what is there. */
	expect(LINE("{\"id\":\"ab"), "id", "\"ab");
	expect(LINE("{\"id\":12"), "id", "12");
}

static void
test_dup(void **state)
{
	char *v;

	(void)state;
	v = scan_member_dup(LINE("{\"x\":[1],\"id\":\"q1\"}"), "id");
	assert_non_null(v);
	assert_string_equal(v, "\"q1\"");
	free(v);
	errno = 0;
	assert_null(scan_member_dup(LINE("{\"x\":1}"), "id"));
	assert_int_equal(errno, ENOENT);
	errno = 0;
	assert_null(scan_member_dup(LINE(""), "id"));
	assert_int_equal(errno, ENOENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_member),
		cmocka_unit_test(test_values_as_written),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_member_truncated),
		cmocka_unit_test(test_cut_inside_values),
		cmocka_unit_test(test_dup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
