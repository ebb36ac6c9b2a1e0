/*
 * test_timers: proves the deadline heap of supervisor/timers.h: the
 * nearest deadline is always the smallest armed one; a timer pops only
 * once due (at_ms <= now, equal counts) and comes out disarmed; re-arming
 * moves a timer without duplicating it, even in a full heap; disarming
 * from the middle keeps the order; equal deadlines all pop, once each;
 * a full heap refuses with ENOSPC and stays intact. Thousands of random
 * operations are checked against a brute-force model.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/timers.h"

/* A small deterministic generator, so a failing sequence can be replayed. */
static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint32_t
rng_next(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static size_t
rng_below(size_t n)
{
	return n == 0 ? 0 : rng_next() % n;
}

static void
test_empty(void **state)
{
	struct timers t;

	(void)state;
	assert_int_equal(timers_init(&t, 4), 0);
	assert_int_equal(timers_next(&t), -1);
	assert_null(timers_pop_due(&t, 0));
	assert_null(timers_pop_due(&t, INT64_MAX));
	timers_free(&t);
	timers_free(&t);
}

static void
test_one_timer(void **state)
{
	struct timers t;
	struct timer tm;
	int owner;

	(void)state;
	assert_int_equal(timers_init(&t, 1), 0);
	timer_init(&tm, &owner, 7);
	assert_false(timer_is_armed(&tm));
	assert_ptr_equal(tm.owner, &owner);
	assert_int_equal(tm.kind, 7);
	assert_int_equal(timers_arm(&t, &tm, 1000), 0);
	assert_true(timer_is_armed(&tm));
	assert_int_equal(timers_next(&t), 1000);
	/* Not due one millisecond early; due exactly at the deadline. */
	assert_null(timers_pop_due(&t, 999));
	assert_true(timer_is_armed(&tm));
	assert_ptr_equal(timers_pop_due(&t, 1000), &tm);
	assert_false(timer_is_armed(&tm));
	assert_ptr_equal(tm.owner, &owner);
	assert_int_equal(tm.kind, 7);
	assert_int_equal(timers_next(&t), -1);
	assert_null(timers_pop_due(&t, 5000));
	/* Popped timers can be armed again. */
	assert_int_equal(timers_arm(&t, &tm, 2000), 0);
	assert_ptr_equal(timers_pop_due(&t, 3000), &tm);
	timers_free(&t);
}

static void
test_rearm(void **state)
{
	struct timers t;
	struct timer a, b;

	(void)state;
	assert_int_equal(timers_init(&t, 2), 0);
	timer_init(&a, NULL, 1);
	timer_init(&b, NULL, 2);
	assert_int_equal(timers_arm(&t, &a, 100), 0);
	assert_int_equal(timers_arm(&t, &b, 200), 0);
	/* Later: b is now first. */
	assert_int_equal(timers_arm(&t, &a, 300), 0);
	assert_int_equal(timers_next(&t), 200);
	/* Earlier again, and re-arming in a full heap is not ENOSPC. */
	assert_int_equal(timers_arm(&t, &a, 50), 0);
	assert_int_equal(timers_next(&t), 50);
	assert_int_equal(timers_arm(&t, &a, 50), 0);
	/* Each timer pops once, however often it was armed. */
	assert_ptr_equal(timers_pop_due(&t, 1000), &a);
	assert_ptr_equal(timers_pop_due(&t, 1000), &b);
	assert_null(timers_pop_due(&t, 1000));
	timers_free(&t);
}

static void
test_capacity(void **state)
{
	struct timers t;
	struct timer tm[4];
	size_t i;

	(void)state;
	assert_int_equal(timers_init(&t, 3), 0);
	for (i = 0; i < 4; i++)
		timer_init(&tm[i], NULL, (int)i);
	for (i = 0; i < 3; i++)
		assert_int_equal(timers_arm(&t, &tm[i], 30 - (int64_t)i), 0);
	errno = 0;
	assert_int_equal(timers_arm(&t, &tm[3], 1), -1);
	assert_int_equal(errno, ENOSPC);
	assert_false(timer_is_armed(&tm[3]));
	/* The heap is intact. */
	assert_int_equal(timers_next(&t), 28);
	/* Room again after a disarm. */
	timers_disarm(&t, &tm[0]);
	assert_int_equal(timers_arm(&t, &tm[3], 1), 0);
	assert_ptr_equal(timers_pop_due(&t, 100), &tm[3]);
	assert_ptr_equal(timers_pop_due(&t, 100), &tm[2]);
	assert_ptr_equal(timers_pop_due(&t, 100), &tm[1]);
	assert_null(timers_pop_due(&t, 100));
	timers_free(&t);

	/* A heap of capacity 0 refuses everything. */
	assert_int_equal(timers_init(&t, 0), 0);
	errno = 0;
	assert_int_equal(timers_arm(&t, &tm[0], 1), -1);
	assert_int_equal(errno, ENOSPC);
	assert_false(timer_is_armed(&tm[0]));
	assert_int_equal(timers_next(&t), -1);
	timers_free(&t);
}

static void
test_disarm_middle(void **state)
{
	enum { N = 15 };
	static const int64_t at[N] = { 50, 10, 80, 30, 70, 20, 60, 40, 90,
	    15, 85, 25, 75, 35, 65 };
	struct timers t;
	struct timer tm[N], *got;
	int64_t last = -1;
	size_t i, n = 0;

	(void)state;
	assert_int_equal(timers_init(&t, N), 0);
	for (i = 0; i < N; i++) {
		timer_init(&tm[i], NULL, (int)i);
		assert_int_equal(timers_arm(&t, &tm[i], at[i]), 0);
	}
	/* Neither the root nor the last leaf: 30, 60 and 35. */
	timers_disarm(&t, &tm[3]);
	timers_disarm(&t, &tm[6]);
	timers_disarm(&t, &tm[13]);
	assert_false(timer_is_armed(&tm[3]));
	/* Disarming a disarmed timer is a no-op. */
	timers_disarm(&t, &tm[3]);
	assert_int_equal(timers_next(&t), 10);
	while ((got = timers_pop_due(&t, 1000)) != NULL) {
		assert_true(got != &tm[3] && got != &tm[6] && got != &tm[13]);
		assert_true(got->at_ms >= last);
		last = got->at_ms;
		n++;
	}
	assert_int_equal(n, N - 3);
	/* The root and the last one too. */
	for (i = 0; i < N; i++)
		assert_int_equal(timers_arm(&t, &tm[i], at[i]), 0);
	timers_disarm(&t, &tm[1]);
	assert_int_equal(timers_next(&t), 15);
	timers_disarm(&t, &tm[N - 1]);
	for (i = 0; i < N; i++)
		timers_disarm(&t, &tm[i]);
	assert_int_equal(timers_next(&t), -1);
	assert_null(timers_pop_due(&t, 1000));
	timers_free(&t);
}

static void
test_equal_deadlines(void **state)
{
	enum { N = 33 };
	struct timers t;
	struct timer tm[N], *got;
	bool seen[N] = { false };
	size_t i;

	(void)state;
	assert_int_equal(timers_init(&t, N), 0);
	for (i = 0; i < N; i++) {
		timer_init(&tm[i], NULL, (int)i);
		assert_int_equal(timers_arm(&t, &tm[i], i % 2 == 0 ? 500 :
		    700), 0);
	}
	/* All at 500 first, each once, then all at 700. */
	for (i = 0; i < N; i++) {
		got = timers_pop_due(&t, 1000);
		assert_non_null(got);
		assert_false(seen[got->kind]);
		seen[got->kind] = true;
		assert_int_equal(got->at_ms, i < (N + 1) / 2 ? 500 : 700);
		assert_false(timer_is_armed(got));
	}
	assert_null(timers_pop_due(&t, 1000));

	/* Equal deadlines and disarms from the middle. */
	for (i = 0; i < N; i++)
		assert_int_equal(timers_arm(&t, &tm[i], 42), 0);
	for (i = 0; i < N; i += 3)
		timers_disarm(&t, &tm[i]);
	for (i = 0; i < N; i++)
		seen[i] = false;
	while ((got = timers_pop_due(&t, 42)) != NULL) {
		assert_true(got->kind % 3 != 0);
		assert_false(seen[got->kind]);
		seen[got->kind] = true;
	}
	for (i = 0; i < N; i++)
		assert_int_equal(seen[i], i % 3 != 0);
	timers_free(&t);
}

/* The model: a flat array searched by brute force. */
static int64_t
model_min(const struct timer *tm, const bool *armed, size_t n)
{
	int64_t min = -1;
	size_t i;

	for (i = 0; i < n; i++)
		if (armed[i] && (min == -1 || tm[i].at_ms < min))
			min = tm[i].at_ms;
	return min;
}

static void
random_run(size_t n_timers, size_t cap, size_t rounds, int64_t spread)
{
	struct timers t;
	struct timer *tm, *got;
	bool *armed;
	size_t i, k, n_armed = 0;
	int64_t now = 0, at;

	tm = calloc(n_timers, sizeof(*tm));
	armed = calloc(n_timers, sizeof(*armed));
	assert_non_null(tm);
	assert_non_null(armed);
	assert_int_equal(timers_init(&t, cap), 0);
	for (i = 0; i < n_timers; i++)
		timer_init(&tm[i], &tm[i], (int)i);
	for (i = 0; i < rounds; i++) {
		k = rng_below(n_timers);
		switch (rng_below(6)) {
		case 0:
		case 1:
		case 2:
			at = now + (int64_t)rng_below((size_t)spread);
			if (!armed[k] && n_armed == cap) {
				errno = 0;
				assert_int_equal(timers_arm(&t, &tm[k], at),
				    -1);
				assert_int_equal(errno, ENOSPC);
				break;
			}
			assert_int_equal(timers_arm(&t, &tm[k], at), 0);
			assert_int_equal(tm[k].at_ms, at);
			if (!armed[k])
				n_armed++;
			armed[k] = true;
			break;
		case 3:
			timers_disarm(&t, &tm[k]);
			if (armed[k])
				n_armed--;
			armed[k] = false;
			break;
		default:
			now += (int64_t)rng_below((size_t)spread / 4 + 1);
			while ((got = timers_pop_due(&t, now)) != NULL) {
				k = (size_t)got->kind;
				assert_ptr_equal(got->owner, &tm[k]);
				assert_true(armed[k]);
				assert_true(got->at_ms <= now);
				/* Always the smallest deadline left. */
				assert_int_equal(got->at_ms,
				    model_min(tm, armed, n_timers));
				armed[k] = false;
				n_armed--;
				assert_false(timer_is_armed(got));
			}
			at = model_min(tm, armed, n_timers);
			assert_true(at == -1 || at > now);
			break;
		}
		assert_int_equal(timers_next(&t), model_min(tm, armed,
		    n_timers));
		for (k = 0; k < n_timers; k++)
			assert_int_equal(timer_is_armed(&tm[k]), armed[k]);
	}
	timers_free(&t);
	free(tm);
	free(armed);
}

static void
test_random_against_model(void **state)
{
	(void)state;
	/* Wide spread: mostly distinct deadlines. */
	random_run(64, 64, 20000, 100000);
	/* Narrow spread: many equal deadlines. */
	random_run(64, 64, 20000, 8);
	/* More timers than room: ENOSPC in the mix. */
	random_run(40, 17, 20000, 1000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_one_timer),
		cmocka_unit_test(test_rearm),
		cmocka_unit_test(test_capacity),
		cmocka_unit_test(test_disarm_middle),
		cmocka_unit_test(test_equal_deadlines),
		cmocka_unit_test(test_random_against_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
