/*
 * test_latency: supervisor/engine/latency, the streaming percentile the
 * hedge delay comes from. Proves: empty is -1; one sample is its own
 * quantile within a bucket (at most 19% off, either way); the
 * p95 of 1..1000 ms lies in [950, 1130]; sub-millisecond samples count
 * as 1; a huge one lands in the last bucket; and after the traffic
 * changes (40 ms after 1,000 samples of 400 ms), the decay lets the
 * estimate follow within five times LATENCY_DECAY_AT samples, and not
 * at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/latency.h"

static void
test_empty(void **state)
{
	struct latency lat;

	(void)state;
	latency_init(&lat);
	assert_int_equal(latency_quantile(&lat, 0.95), -1);
	assert_int_equal(latency_samples(&lat), 0);
}

static void
test_one_sample(void **state)
{
	struct latency lat;
	long ms, q;

	(void)state;
	for (ms = 1; ms < 100000; ms = ms * 3 / 2 + 1) {
		latency_init(&lat);
		latency_add(&lat, ms);
		q = latency_quantile(&lat, 0.95);
		assert_true(q >= ms * 100 / 119);
		assert_true(q <= ms * 119 / 100 + 1);
	}
	latency_init(&lat);
	latency_add(&lat, 0);
	latency_add(&lat, -5);
	assert_in_range(latency_quantile(&lat, 0.5), 1, 2);	/* as 1 */
	latency_add(&lat, 1L << 40);
	assert_true(latency_quantile(&lat, 0.99) > 3000L * 1000);	/* the last bucket */
	assert_int_equal(latency_samples(&lat), 3);
}

static void
test_uniform_p95(void **state)
{
	struct latency lat;
	long i, ms, q;

	(void)state;
	latency_init(&lat);
	/* 1..1000 ms in a shuffled order (i * 389 mod 1000 is a
	 * permutation), so that the decay favours no part of the range. */
	for (i = 0; i < 1000; i++) {
		ms = (i * 389) % 1000 + 1;
		latency_add(&lat, ms);
	}
	q = latency_quantile(&lat, 0.95);
	assert_in_range(q, 900, 1130);
	q = latency_quantile(&lat, 0.5);
	assert_in_range(q, 450, 620);
	assert_int_equal(latency_samples(&lat), 1000);
}

static void
test_follows_change(void **state)
{
	struct latency lat;
	int i;

	(void)state;
	latency_init(&lat);
	for (i = 0; i < 1000; i++)
		latency_add(&lat, 400);
	assert_true(latency_quantile(&lat, 0.95) >= 400);
	for (i = 0; i < 50; i++)
		latency_add(&lat, 40);
	assert_true(latency_quantile(&lat, 0.95) >= 400);
	for (i = 0; i < LATENCY_DECAY_AT * 5; i++)
		latency_add(&lat, 40);
	assert_in_range(latency_quantile(&lat, 0.95), 34, 48);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_one_sample),
		cmocka_unit_test(test_uniform_p95),
		cmocka_unit_test(test_follows_change),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
