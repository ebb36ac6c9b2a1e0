/*
 * test_window: supervisor/engine/window, counts over the last WINDOW_S
 * seconds. Proves: empty sums are 0; counts of each kind stay apart;
 * this second's count is its own; a bucket is cleared when time comes
 * round to it again, and a sum forgets what is WINDOW_S seconds old but
 * keeps what is WINDOW_S - 1 seconds old; window_init empties it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/window.h"

#define T0	5000000		/* ms */

static void
test_window(void **state)
{
	struct window w;
	int i;

	(void)state;
	window_init(&w);
	assert_int_equal(window_sum(&w, 0, T0), 0);
	assert_int_equal(window_this_second(&w, 2, T0), 0);
	for (i = 0; i < 5; i++)
		window_add(&w, 0, T0 + i * 100);
	window_add(&w, 2, T0 + 999);
	assert_int_equal(window_sum(&w, 0, T0 + 999), 5);
	assert_int_equal(window_sum(&w, 1, T0 + 999), 0);
	assert_int_equal(window_sum(&w, 2, T0 + 999), 1);
	assert_int_equal(window_this_second(&w, 0, T0 + 999), 5);
	assert_int_equal(window_this_second(&w, 0, T0 + 1000), 0);
	window_add(&w, 0, T0 + 1000);
	assert_int_equal(window_sum(&w, 0, T0 + 1000), 6);
	/* Nine seconds on, the first second still counts; ten, not. */
	assert_int_equal(window_sum(&w, 0, T0 + (WINDOW_S - 1) * 1000), 6);
	assert_int_equal(window_sum(&w, 0, T0 + WINDOW_S * 1000), 1);
	/* The same bucket, ten seconds later: cleared, not added to. */
	window_add(&w, 0, T0 + WINDOW_S * 1000);
	assert_int_equal(window_this_second(&w, 0, T0 + WINDOW_S * 1000), 1);
	assert_int_equal(window_sum(&w, 2, T0 + WINDOW_S * 1000), 0);
	window_init(&w);
	assert_int_equal(window_sum(&w, 0, T0 + WINDOW_S * 1000), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
