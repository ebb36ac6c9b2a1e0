/*
 * test_breaker: supervisor/engine/breaker, the circuit breaker. Proves:
 * off (threshold 0) it always allows; N-1 failures in a row leave it
 * closed, a success resets the run, the Nth opens it (counted in
 * opens); open, it denies with the time until the probe; once due it
 * offers one probe, denies a second while the first runs; a failed
 * probe reopens it for twice the wait, capped at BREAKER_PROBE_MAX_MS;
 * a neutral outcome ends a probe without a verdict and the next ask
 * probes again; a probe's success closes it and the wait starts over;
 * neutral outcomes never open it; and half of 20 outcomes failing in
 * the window opens it with no run of N.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/breaker.h"

#define T0	1000000

static void
fail_n(struct breaker *b, int n, int64_t now)
{
	while (n-- > 0)
		breaker_record(b, BREAKER_FAILURE, false, now, "down");
}

static void
test_off(void **state)
{
	struct breaker b;
	long wait = -7;

	(void)state;
	breaker_init(&b, "h", 0);
	fail_n(&b, 100, T0);
	assert_int_equal(breaker_ask(&b, T0, &wait), BREAKER_ALLOW);
	assert_int_equal(b.opens, 0);
	assert_int_equal(wait, -7);
}

static void
test_opens_probes_closes(void **state)
{
	struct breaker b;
	long wait;

	(void)state;
	breaker_init(&b, "h", 3);
	fail_n(&b, 2, T0);
	breaker_record(&b, BREAKER_SUCCESS, false, T0, "");
	fail_n(&b, 2, T0);
	breaker_record(&b, BREAKER_NEUTRAL, false, T0, "");
	assert_int_equal(breaker_ask(&b, T0, &wait), BREAKER_ALLOW);
	assert_int_equal(b.state, BREAKER_CLOSED);
	fail_n(&b, 1, T0);
	assert_int_equal(b.state, BREAKER_OPEN);
	assert_int_equal(b.opens, 1);
	assert_string_equal(breaker_state_name(b.state), "open");
	assert_int_equal(breaker_ask(&b, T0 + 100, &wait), BREAKER_DENY);
	assert_int_equal(wait, BREAKER_PROBE_MS - 100);

	/* Due: one probe, and no second beside it. */
	assert_int_equal(breaker_ask(&b, T0 + BREAKER_PROBE_MS, &wait),
	    BREAKER_PROBE);
	breaker_probe_started(&b);
	assert_int_equal(b.state, BREAKER_HALF_OPEN);
	assert_int_equal(breaker_ask(&b, T0 + BREAKER_PROBE_MS, &wait),
	    BREAKER_DENY);
	assert_true(wait >= 1);

	/* It fails: open for twice as long, then capped. */
	breaker_record(&b, BREAKER_FAILURE, true, T0 + 600, "still down");
	assert_int_equal(b.state, BREAKER_OPEN);
	assert_int_equal(b.opens, 1);
	assert_int_equal(breaker_ask(&b, T0 + 600, &wait), BREAKER_DENY);
	assert_int_equal(wait, 2 * BREAKER_PROBE_MS > BREAKER_PROBE_MAX_MS ?
	    BREAKER_PROBE_MAX_MS : 2 * BREAKER_PROBE_MS);
	assert_int_equal(breaker_ask(&b, T0 + 600 + wait, &wait),
	    BREAKER_PROBE);
	breaker_probe_started(&b);
	breaker_record(&b, BREAKER_FAILURE, true, T0 + 2000, "down");
	breaker_ask(&b, T0 + 2000, &wait);
	assert_int_equal(wait, BREAKER_PROBE_MAX_MS);

	/* A neutral probe (cancelled, say) gives no verdict. */
	assert_int_equal(breaker_ask(&b, T0 + 3000, &wait), BREAKER_PROBE);
	breaker_probe_started(&b);
	breaker_record(&b, BREAKER_NEUTRAL, true, T0 + 3001, "");
	assert_int_equal(breaker_ask(&b, T0 + 3001, &wait), BREAKER_PROBE);
	breaker_probe_started(&b);
	breaker_record(&b, BREAKER_SUCCESS, true, T0 + 3050, "");
	assert_int_equal(b.state, BREAKER_CLOSED);
	assert_int_equal(breaker_ask(&b, T0 + 3050, &wait), BREAKER_ALLOW);

	/* The next opening waits the first wait again. */
	fail_n(&b, 3, T0 + 4000);
	assert_int_equal(b.opens, 2);
	assert_int_equal(breaker_ask(&b, T0 + 4000, &wait), BREAKER_DENY);
	assert_int_equal(wait, BREAKER_PROBE_MS);
}

static void
test_neutral_never_opens(void **state)
{
	struct breaker b;
	int i;

	(void)state;
	breaker_init(&b, "h", 2);
	for (i = 0; i < 1000; i++)
		breaker_record(&b, BREAKER_NEUTRAL, false, T0 + i, "");
	assert_int_equal(b.state, BREAKER_CLOSED);
}

static void
test_failure_rate(void **state)
{
	struct breaker b;
	int i;

	(void)state;
	breaker_init(&b, "h", 1000);
	for (i = 0; i < BREAKER_RATE_MIN / 2; i++) {
		breaker_record(&b, BREAKER_SUCCESS, false, T0 + i * 10, "");
		if (i < BREAKER_RATE_MIN / 2 - 1)
			assert_int_equal(b.state, BREAKER_CLOSED);
		breaker_record(&b, BREAKER_FAILURE, false, T0 + i * 10,
		    "5xx");
	}
	assert_int_equal(b.state, BREAKER_OPEN);
	/* Spread over more than the window, the same count does not. */
	breaker_init(&b, "h", 1000);
	for (i = 0; i < BREAKER_RATE_MIN; i++)
		breaker_record(&b, i % 2 ? BREAKER_FAILURE : BREAKER_SUCCESS,
		    false, T0 + (int64_t)i * 1000, "5xx");
	assert_int_equal(b.state, BREAKER_CLOSED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_opens_probes_closes),
		cmocka_unit_test(test_neutral_never_opens),
		cmocka_unit_test(test_failure_rate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
