/*
 * test_utf8: shared/utf8.h. ASCII and 2-, 3- and 4-byte characters at
 * their edges (U+0080, U+07FF, U+0800, U+FFFF, U+10000, U+10FFFF) are
 * characters; overlong forms, surrogates, past U+10FFFF, stray
 * continuation bytes, 0xc0, 0xc1, 0xf5 to 0xff, a lead byte without its
 * continuation and one cut off by n are not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "utf8.h"

static size_t
len_of(const char *s)
{
	return utf8_char_len((const unsigned char *)s, strlen(s));
}

static void
test_valid(void **state)
{
	(void)state;
	assert_int_equal(len_of("a"), 1);
	assert_int_equal(len_of("\x7f"), 1);
	assert_int_equal(len_of("\xc2\x80"), 2);
	assert_int_equal(len_of("\xdf\xbf"), 2);
	assert_int_equal(len_of("\xe0\xa0\x80"), 3);
	assert_int_equal(len_of("\xef\xbf\xbf"), 3);
	assert_int_equal(len_of("\xf0\x90\x80\x80"), 4);
	assert_int_equal(len_of("\xf4\x8f\xbf\xbf"), 4);
	assert_int_equal(len_of("\xc3\xa9 and more"), 2);
}

static void
test_invalid(void **state)
{
	(void)state;
	assert_int_equal(len_of("\x80"), 0);
	assert_int_equal(len_of("\xbf"), 0);
	assert_int_equal(len_of("\xc0\xaf"), 0);
	assert_int_equal(len_of("\xc1\xbf"), 0);
	assert_int_equal(len_of("\xe0\x9f\xbf"), 0);	/* overlong */
	assert_int_equal(len_of("\xed\xa0\x80"), 0);	/* surrogate */
	assert_int_equal(len_of("\xf0\x8f\xbf\xbf"), 0);	/* overlong */
	assert_int_equal(len_of("\xf4\x90\x80\x80"), 0);	/* > U+10FFFF */
	assert_int_equal(len_of("\xf5\x80\x80\x80"), 0);
	assert_int_equal(len_of("\xff"), 0);
	assert_int_equal(len_of("\xc3" "a"), 0);
	assert_int_equal(utf8_char_len((const unsigned char *)"\xe2\x82\xac",
	    2), 0);					/* cut off */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
