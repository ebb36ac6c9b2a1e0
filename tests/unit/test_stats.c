/*
 * test_stats: the engine's counters, supervisor/engine/stats. Proves
 * that stats_count_answer counts each answer under its own code and
 * nowhere else, the first and the last code included, and that
 * stats_failed sums every code but ok: 0 when nothing was answered or
 * everything was ok, each failure exactly once, and none of the other
 * counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "engine/stats.h"

static void
test_count_answer(void **state)
{
	struct engine_stats st;
	int code, other;

	(void)state;
	for (code = REQ_OK; code < REQ_N_CODES; code++) {
		memset(&st, 0, sizeof(st));
		stats_count_answer(&st, (enum req_code)code);
		stats_count_answer(&st, (enum req_code)code);
		for (other = REQ_OK; other < REQ_N_CODES; other++)
			assert_int_equal(st.answered[other],
			    other == code ? 2 : 0);
		/* Answers are not requests, nor anything else. */
		assert_int_equal(st.requests, 0);
		assert_int_equal(st.retries, 0);
	}
}

static void
test_failed_empty_and_ok(void **state)
{
	struct engine_stats st;

	(void)state;
	memset(&st, 0, sizeof(st));
	assert_int_equal(stats_failed(&st), 0);
	stats_count_answer(&st, REQ_OK);
	stats_count_answer(&st, REQ_OK);
	assert_int_equal(stats_failed(&st), 0);
}

static void
test_failed_sums_the_rest(void **state)
{
	struct engine_stats st;
	uint64_t want = 0;
	int code;

	(void)state;
	memset(&st, 0, sizeof(st));
	stats_count_answer(&st, REQ_OK);
	/* Each failing code a different number of times, so a code left
	 * out or counted twice shows in the sum. */
	for (code = REQ_OK + 1; code < REQ_N_CODES; code++) {
		for (int i = 0; i < code; i++)
			stats_count_answer(&st, (enum req_code)code);
		want += (uint64_t)code;
	}
	assert_int_equal(stats_failed(&st), want);
	stats_count_answer(&st, REQ_CANCELLED);		/* the last code */
	assert_int_equal(stats_failed(&st), want + 1);
	stats_count_answer(&st, REQ_INVALID_REQUEST);	/* the first */
	assert_int_equal(stats_failed(&st), want + 2);
	assert_int_equal(st.answered[REQ_OK], 1);
}

static void
test_failed_large_counts(void **state)
{
	struct engine_stats st;

	(void)state;
	memset(&st, 0, sizeof(st));
	st.answered[REQ_TIMEOUT] = (uint64_t)1 << 40;
	st.answered[REQ_NETWORK] = (uint64_t)1 << 40;
	st.answered[REQ_OK] = UINT64_MAX;
	assert_int_equal(stats_failed(&st), (uint64_t)1 << 41);
}

/* The other counters are not answers, and not failures. */
static void
test_failed_only_answers(void **state)
{
	struct engine_stats st;

	(void)state;
	memset(&st, 0, sizeof(st));
	st.requests = 7;
	st.workers_killed = 3;
	st.spawn_failures = 2;
	st.retries = 5;
	assert_int_equal(stats_failed(&st), 0);
	stats_count_answer(&st, REQ_WORKER_CRASHED);
	assert_int_equal(stats_failed(&st), 1);
	assert_int_equal(st.requests, 7);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_count_answer),
		cmocka_unit_test(test_failed_empty_and_ok),
		cmocka_unit_test(test_failed_sums_the_rest),
		cmocka_unit_test(test_failed_large_counts),
		cmocka_unit_test(test_failed_only_answers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
