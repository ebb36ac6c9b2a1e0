/*
 * test_le32: shared/le32.h. Known values land least significant byte
 * first, the extremes round-trip, and an unaligned position in a buffer
 * works and touches no byte around it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "le32.h"

static void
test_byte_order(void **state)
{
	unsigned char p[4];

	(void)state;
	le32_put(p, 0x04030201);
	assert_int_equal(p[0], 1);
	assert_int_equal(p[1], 2);
	assert_int_equal(p[2], 3);
	assert_int_equal(p[3], 4);
	assert_int_equal(le32_get(p), 0x04030201);
}

static void
test_extremes(void **state)
{
	static const uint32_t values[] = { 0, 1, 0x7f, 0x80, 0xff, 0x100,
	    INT32_MAX, (uint32_t)INT32_MAX + 1, UINT32_MAX - 1, UINT32_MAX };
	unsigned char p[4];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		le32_put(p, values[i]);
		assert_true(le32_get(p) == values[i]);
	}
	/* -1 as an int32 milestone: all ones on the wire. */
	le32_put(p, (uint32_t)-1);
	assert_int_equal(p[0] & p[1] & p[2] & p[3], 0xff);
	assert_int_equal((int32_t)le32_get(p), -1);
}

static void
test_unaligned(void **state)
{
	unsigned char buf[9];

	(void)state;
	memset(buf, 0xee, sizeof(buf));
	le32_put(buf + 3, 0xa1b2c3d4);
	assert_int_equal(buf[2], 0xee);
	assert_int_equal(buf[3], 0xd4);
	assert_int_equal(buf[6], 0xa1);
	assert_int_equal(buf[7], 0xee);
	assert_int_equal(le32_get(buf + 3), 0xa1b2c3d4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_byte_order),
		cmocka_unit_test(test_extremes),
		cmocka_unit_test(test_unaligned),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
