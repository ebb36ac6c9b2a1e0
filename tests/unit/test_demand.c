/*
 * demand: the peak of concurrent attempts over the last window of
 * seconds; empty is 0, old seconds drop out, a bucket reused in a later
 * round starts from nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/demand.h"

static void
test_empty(void **state)
{
	struct demand d = { 0 };

	(void)state;
	assert_int_equal(demand_peak(&d, 5000), 0);
}

static void
test_peak_in_window(void **state)
{
	struct demand d = { 0 };
	int64_t t0 = 1000000;

	(void)state;
	demand_note(&d, 3, t0);
	demand_note(&d, 1, t0 + 10);
	demand_note(&d, 8, t0 + 2500);
	demand_note(&d, 2, t0 + 4000);
	assert_int_equal(demand_peak(&d, t0 + 4000), 8);
	/* Just inside the window, then just out of it. */
	assert_int_equal(demand_peak(&d, t0 + 2000 +
	    (DEMAND_WINDOW_S - 1) * 1000), 8);
	assert_int_equal(demand_peak(&d, t0 + 2000 + DEMAND_WINDOW_S * 1000),
	    2);
	assert_int_equal(demand_peak(&d, t0 + 4000 + DEMAND_WINDOW_S * 1000),
	    0);
}

static void
test_bucket_reused(void **state)
{
	struct demand d = { 0 };
	int64_t t0 = 7000000;

	(void)state;
	demand_note(&d, 9, t0);
	/* The same bucket one round later: the old 9 is gone. */
	demand_note(&d, 1, t0 + DEMAND_WINDOW_S * 1000);
	assert_int_equal(demand_peak(&d, t0 + DEMAND_WINDOW_S * 1000), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_peak_in_window),
		cmocka_unit_test(test_bucket_reused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
