/*
 * test_clock: proves shared/clock.h: clock_ms and clock_us read
 * CLOCK_MONOTONIC (each value lies between two direct readings taken
 * around it), never go backwards, agree with each other, and advance by
 * at least the time slept. Only lower bounds on elapsed time are checked,
 * so a busy machine cannot make this fail.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "clock.h"

static int64_t
mono_us(void)
{
	struct timespec ts;

	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
sleep_monotonic_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	int rc;

	/* Relative, on the same clock, restarted with what is left. */
	while ((rc = clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts)) == EINTR)
		continue;
	assert_int_equal(rc, 0);
}

static void
test_is_monotonic_clock(void **state)
{
	int64_t before, us, ms, after;
	int i;

	(void)state;
	for (i = 0; i < 1000; i++) {
		before = mono_us();
		us = clock_us();
		ms = clock_ms();
		after = mono_us();
		assert_true(before <= us && us <= after);
		assert_true(before / 1000 <= ms && ms <= after / 1000);
	}
}

static void
test_never_backwards(void **state)
{
	int64_t prev_ms, prev_us, ms, us;
	int i;

	(void)state;
	prev_ms = clock_ms();
	prev_us = clock_us();
	assert_true(prev_ms >= 0);
	assert_true(prev_us >= 0);
	for (i = 0; i < 200000; i++) {
		us = clock_us();
		ms = clock_ms();
		assert_true(us >= prev_us);
		assert_true(ms >= prev_ms);
		/* ms read after us cannot be behind it. */
		assert_true(ms >= us / 1000);
		prev_us = us;
		prev_ms = ms;
	}
}

static void
test_advances_by_sleep(void **state)
{
	int64_t ms0, us0, ms1, us1;

	(void)state;
	ms0 = clock_ms();
	us0 = clock_us();
	sleep_monotonic_ms(30);
	us1 = clock_us();
	ms1 = clock_ms();
	assert_true(us1 - us0 >= 30000);
	assert_true(ms1 - ms0 >= 30);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_monotonic_clock),
		cmocka_unit_test(test_never_backwards),
		cmocka_unit_test(test_advances_by_sleep),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
