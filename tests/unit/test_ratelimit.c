/*
 * test_ratelimit: supervisor/engine/ratelimit, the rate-limit budget.
 * Proves: knowing nothing, nothing waits; --rpm 600 (10 a second) lets
 * a second's worth, 10 calls, go at once, then paces one every 100 ms
 * and never faster; headers replace the estimate (the
 * server's remaining, less what we started after that call, plus the
 * refill since), so a low remaining makes the next call wait, and a
 * remaining of 0 waits for the refill, not the reset header; usage's
 * prompt_tokens corrects a bytes/4 estimate; a 429 pauses everyone for
 * its Retry-After, or RATELIMIT_PAUSE_MS without one; a call bigger
 * than the whole token limit goes once the bucket is full.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proto_result.h"
#include "engine/ratelimit.h"

#define T0	1000000

static void
test_nothing_known(void **state)
{
	struct ratelimit rl;
	struct ratelimit_mark m;
	int i;

	(void)state;
	ratelimit_init(&rl, 0, 0);
	for (i = 0; i < 10000; i++) {
		assert_int_equal(ratelimit_wait_ms(&rl, 1000, T0), 0);
		ratelimit_take(&rl, 1000, T0, &m);
	}
	assert_int_equal(ratelimit_remaining_requests(&rl, T0), -1);
	assert_true(ratelimit_tokens(400) == 100);
	assert_true(ratelimit_tokens(0) == 1);
}

static void
test_rpm_by_hand(void **state)
{
	struct ratelimit rl;
	struct ratelimit_mark m;
	int64_t now = T0;
	long wait;
	int n;

	(void)state;
	ratelimit_init(&rl, 600, 0);
	for (n = 0; ratelimit_wait_ms(&rl, 1, now) == 0; n++)
		ratelimit_take(&rl, 1, now, &m);
	assert_int_equal(n, 10);
	/* Then one every 100 ms. */
	for (n = 0; n < 50; n++) {
		wait = ratelimit_wait_ms(&rl, 1, now);
		assert_in_range(wait, 1, 101);
		now += wait;
		assert_int_equal(ratelimit_wait_ms(&rl, 1, now), 0);
		ratelimit_take(&rl, 1, now, &m);
	}
	assert_in_range(now - T0, 49 * 100, 51 * 100 + 50);
}

static void
test_headers(void **state)
{
	struct ratelimit rl;
	struct ratelimit_mark m1, m2;
	struct proto_result r;
	long wait;

	(void)state;
	ratelimit_init(&rl, 0, 0);
	ratelimit_take(&rl, 10, T0, &m1);
	ratelimit_take(&rl, 10, T0, &m2);	/* started after m1 */
	proto_result_init(&r);
	r.rl_limit_requests = 60;		/* 1 a second */
	r.rl_remaining_requests = 3;
	r.rl_limit_tokens = 60000;
	r.rl_remaining_tokens = 59000;
	r.prompt_tokens = 12;
	ratelimit_update(&rl, &m1, &r, T0);
	/* 3 - 1 (m2) = 2 left, reserve 1: one more may go. */
	assert_int_equal(ratelimit_remaining_requests(&rl, T0), 2);
	assert_int_equal(ratelimit_remaining_tokens(&rl, T0), 58990);
	assert_int_equal(ratelimit_wait_ms(&rl, 10, T0), 0);
	ratelimit_take(&rl, 10, T0, &m1);
	wait = ratelimit_wait_ms(&rl, 10, T0);
	assert_in_range(wait, 900, 1001);
	assert_int_equal(ratelimit_wait_ms(&rl, 10, T0 + wait), 0);

	/* Spent: the reset (time until full again, 60 s here) is no
	 * pause; the refill paces: 1 + reserve 1 needs two seconds. */
	r.rl_remaining_requests = 0;
	r.rl_reset_requests_ms = 60000;
	ratelimit_update(&rl, &m2, &r, T0);
	assert_in_range(ratelimit_wait_ms(&rl, 10, T0), 3000, 3001);
	assert_int_equal(ratelimit_wait_ms(&rl, 10, T0 + 3001), 0);
}

static void
test_tpm_usage_correction(void **state)
{
	struct ratelimit rl;
	struct ratelimit_mark m;
	struct proto_result r;

	(void)state;
	ratelimit_init(&rl, 0, 60000);		/* 1000 tokens a second */
	ratelimit_take(&rl, 900, T0, &m);	/* estimated */
	assert_true(ratelimit_wait_ms(&rl, 500, T0) > 0);
	proto_result_init(&r);
	r.prompt_tokens = 100;			/* it was small */
	ratelimit_update(&rl, &m, &r, T0);
	assert_int_equal(ratelimit_wait_ms(&rl, 500, T0), 0);
	/* Bigger than the bucket: goes when it is full. */
	ratelimit_take(&rl, 900, T0, &m);
	assert_true(ratelimit_wait_ms(&rl, 100000, T0) > 0);
	assert_int_equal(ratelimit_wait_ms(&rl, 100000, T0 + 1000), 0);
}

static void
test_pause(void **state)
{
	struct ratelimit rl;

	(void)state;
	ratelimit_init(&rl, 0, 0);
	ratelimit_pause(&rl, 2500, T0);
	assert_int_equal(ratelimit_wait_ms(&rl, 1, T0 + 500), 2000);
	ratelimit_pause(&rl, 100, T0 + 500);	/* shorter: no change */
	assert_int_equal(ratelimit_wait_ms(&rl, 1, T0 + 500), 2000);
	assert_int_equal(ratelimit_wait_ms(&rl, 1, T0 + 2500), 0);
	ratelimit_pause(&rl, -1, T0 + 3000);
	assert_int_equal(ratelimit_wait_ms(&rl, 1, T0 + 3000),
	    RATELIMIT_PAUSE_MS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nothing_known),
		cmocka_unit_test(test_rpm_by_hand),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_tpm_usage_correction),
		cmocka_unit_test(test_pause),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
