/*
 * test_policy: proves the retry policy of engine/policy.h: every
 * protocol class maps to its code; timeouts, network errors, 408, 409,
 * 429 (unless the quota is exhausted), 5xx and crashed workers are
 * retryable, while other 4xx, bad responses, invalid requests and network
 * errors the worker marked permanent are not, with no libcurl code in
 * sight (test_curlerr proves which codes the worker marks); and
 * retry_backoff_ms stays within [0, min(max, base * 2^(attempt-1))] over
 * many samples, covers that range, is never below Retry-After, and does
 * not overflow for large attempt numbers or wide ranges.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto_result.h"
#include "engine/policy.h"

#define SAMPLES	4000

static struct proto_result
result(enum proto_class class, int http_status, bool permanent, bool quota)
{
	struct proto_result r;

	memset(&r, 0, sizeof(r));
	r.class = class;
	r.http_status = http_status;
	r.permanent = permanent;
	r.retry_after_ms = -1;
	r.quota_exhausted = quota;
	return r;
}

static void
test_code_of(void **state)
{
	struct proto_result r;

	(void)state;
	r = result(PROTO_OK, 200, false, false);
	assert_int_equal(policy_code_of(&r), REQ_OK);
	r = result(PROTO_HTTP, 500, false, false);
	assert_int_equal(policy_code_of(&r), REQ_HTTP);
	r = result(PROTO_HTTP, 404, false, false);
	assert_int_equal(policy_code_of(&r), REQ_HTTP);
	r = result(PROTO_HTTP, 429, false, false);
	assert_int_equal(policy_code_of(&r), REQ_RATE_LIMITED);
	r = result(PROTO_HTTP, 429, false, true);
	assert_int_equal(policy_code_of(&r), REQ_RATE_LIMITED);
	r = result(PROTO_NETWORK, 0, false, false);
	assert_int_equal(policy_code_of(&r), REQ_NETWORK);
	r = result(PROTO_TIMEOUT, 0, false, false);
	assert_int_equal(policy_code_of(&r), REQ_TIMEOUT);
	r = result(PROTO_BAD_RESPONSE, 200, false, false);
	assert_int_equal(policy_code_of(&r), REQ_BAD_RESPONSE);
	r = result(PROTO_INVALID_REQUEST, 0, false, false);
	assert_int_equal(policy_code_of(&r), REQ_INVALID_REQUEST);
	/* A class nobody knows is a worker that did not finish properly. */
	r = result((enum proto_class)99, 0, false, false);
	assert_int_equal(policy_code_of(&r), REQ_WORKER_CRASHED);
}

/* through policy_code_of, as the engine does it. */
static bool
retryable(enum proto_class class, int http_status, bool permanent,
    bool quota)
{
	struct proto_result r;

	r = result(class, http_status, permanent, quota);
	return policy_is_retryable(policy_code_of(&r), &r);
}

static void
test_retryable_codes(void **state)
{
	static const enum req_code never[] = { REQ_OK, REQ_INVALID_REQUEST,
	    REQ_BAD_RESPONSE, REQ_SHUTTING_DOWN };
	struct proto_result r;
	size_t i;

	(void)state;
	assert_true(policy_is_retryable(REQ_TIMEOUT, NULL));
	r = result(PROTO_TIMEOUT, 0, false, false);
	assert_true(policy_is_retryable(REQ_TIMEOUT, &r));
	assert_true(retryable(PROTO_TIMEOUT, 0, false, false));
	assert_true(policy_is_retryable(REQ_WORKER_CRASHED, NULL));
	r = result(PROTO_OK, 0, false, false);
	assert_true(policy_is_retryable(REQ_WORKER_CRASHED, &r));
	for (i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		assert_false(policy_is_retryable(never[i], NULL));
		r = result(PROTO_HTTP, 503, false, false);
		assert_false(policy_is_retryable(never[i], &r));
	}
	assert_false(retryable(PROTO_BAD_RESPONSE, 200, false, false));
	assert_false(retryable(PROTO_INVALID_REQUEST, 0, false, false));
	assert_false(retryable(PROTO_OK, 200, false, false));
}

static void
test_retryable_http(void **state)
{
	static const int yes[] = { 408, 409, 500, 501, 502, 503, 504, 529,
	    599 };
	static const int no[] = { 400, 401, 402, 403, 404, 405, 407, 410,
	    411, 413, 415, 422, 451, 499 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!retryable(PROTO_HTTP, yes[i], false, false))
			fail_msg("HTTP %d should be retryable", yes[i]);
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (retryable(PROTO_HTTP, no[i], false, false))
			fail_msg("HTTP %d should not be retryable", no[i]);
	/* Without a result there is no status to judge. */
	assert_false(policy_is_retryable(REQ_HTTP, NULL));
}

static void
test_retryable_429(void **state)
{
	(void)state;
	assert_true(retryable(PROTO_HTTP, 429, false, false));
	assert_false(retryable(PROTO_HTTP, 429, false, true));
	assert_true(policy_is_retryable(REQ_RATE_LIMITED, NULL));
}

/*
 * Network errors are retried unless the worker marked them permanent
 * (certificate and URL problems: which ones is worker/curlerr's call,
 * proved by test_curlerr).
 */
static void
test_retryable_network(void **state)
{
	(void)state;
	assert_true(retryable(PROTO_NETWORK, 0, false, false));
	assert_false(retryable(PROTO_NETWORK, 0, true, false));
	assert_true(policy_is_retryable(REQ_NETWORK, NULL));
}

/* min(max, base * 2^(attempt-1)) without overflow. */
static long
ceiling_of(unsigned attempt, long base, long max)
{
	long c = base;
	unsigned i;

	for (i = 1; i < attempt; i++) {
		if (c >= max || c > LONG_MAX / 2) {
			c = max;
			break;
		}
		c *= 2;
	}
	if (c > max)
		c = max;
	/* The documented cap: 2^32 - 1 ms, some 49 days. */
	return c < (long)UINT32_MAX - 1 ? c : (long)UINT32_MAX - 1;
}

/* Many samples: all in [lo, hi]; returns the smallest and largest seen. */
static void
sample(unsigned attempt, long base, long max, long retry_after, long lo,
    long hi, long *min_seen, long *max_seen)
{
	long d;
	int i;

	*min_seen = LONG_MAX;
	*max_seen = LONG_MIN;
	for (i = 0; i < SAMPLES; i++) {
		d = policy_backoff_ms(attempt, base, max, retry_after);
		if (d < lo || d > hi)
			fail_msg("attempt %u base %ld max %ld retry-after %ld: "
			    "%ld not in [%ld, %ld]", attempt, base, max,
			    retry_after, d, lo, hi);
		if (d < *min_seen)
			*min_seen = d;
		if (d > *max_seen)
			*max_seen = d;
	}
}

static void
test_backoff_bounds(void **state)
{
	long c, lo, hi;
	unsigned attempt;

	(void)state;
	for (attempt = 1; attempt <= 10; attempt++) {
		c = ceiling_of(attempt, 500, 8000);
		assert_int_equal(c, attempt >= 5 ? 8000 :
		    500L << (attempt - 1));
		sample(attempt, 500, 8000, -1, 0, c, &lo, &hi);
		/* Full jitter: both ends of the range are reached. */
		assert_true(lo <= c / 20);
		assert_true(hi >= c - c / 20);
	}
	/* Attempt 1 is [0, base], even with a large max. */
	sample(1, 100, 1000000, -1, 0, 100, &lo, &hi);
	assert_true(lo <= 5 && hi >= 95);
	/* A max below base wins. */
	sample(1, 500, 300, -1, 0, 300, &lo, &hi);
	assert_true(hi >= 285);
	/* Tiny ranges. */
	sample(3, 0, 8000, -1, 0, 0, &lo, &hi);
	sample(1, 1, 8000, -1, 0, 1, &lo, &hi);
	assert_int_equal(lo, 0);
	assert_int_equal(hi, 1);
	sample(4, 500, 0, -1, 0, 0, &lo, &hi);
}

static void
test_backoff_retry_after(void **state)
{
	long lo, hi;

	(void)state;
	/* Never below what the server asked for... */
	sample(1, 500, 8000, 300, 300, 500, &lo, &hi);
	assert_true(hi >= 475);
	sample(5, 500, 8000, 7999, 7999, 8000, &lo, &hi);
	/* ...even past the cap, and 0 is a value, not "none". */
	sample(2, 500, 8000, 60000, 60000, 60000, &lo, &hi);
	sample(1, 0, 8000, 0, 0, 0, &lo, &hi);
	sample(1, 500, 8000, 0, 0, 500, &lo, &hi);
	/* -1 is "none given". */
	sample(1, 500, 8000, -1, 0, 500, &lo, &hi);
	assert_true(lo <= 25);
}

static void
test_backoff_large_attempts(void **state)
{
	static const unsigned attempts[] = { 31, 32, 33, 63, 64, 65, 1000,
	    UINT_MAX };
	long lo, hi;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++) {
		sample(attempts[i], 500, 8000, -1, 0, 8000, &lo, &hi);
		assert_true(hi >= 7600);
		sample(attempts[i], 1, 30000, -1, 0, 30000, &lo, &hi);
		assert_true(hi >= 28500);
	}
}

/*
 * Wide ranges: a ceiling above 2^32 ms, and doubling toward LONG_MAX,
 * must neither overflow nor collapse: the draw spans the whole ceiling
 * up to the documented cap of 2^32 - 1 ms. In a
 * child so a sanitizer abort fails this test only.
 */
static int
wide_child(void)
{
	static const struct { unsigned attempt; long base, max; } cases[] = {
		{ 100, 1, LONG_MAX },
		{ 64, 1, LONG_MAX },
		{ 2, LONG_MAX / 2 + 1, LONG_MAX },
		{ 1, 1L << 33, 1L << 40 },
	};
	long c, d, hi;
	size_t i;
	int k, rc = 0;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = ceiling_of(cases[i].attempt, cases[i].base, cases[i].max);
		hi = 0;
		for (k = 0; k < 64; k++) {
			d = policy_backoff_ms(cases[i].attempt, cases[i].base,
			    cases[i].max, -1);
			if (d < 0 || d > c) {
				(void)fprintf(stderr, "case %zu: %ld not in "
				    "[0, %ld]\n", i, d, c);
				rc = 1;
				break;
			}
			if (d > hi)
				hi = d;
		}
		/* 64 uniform samples all below c / 4: p = 2^-128. */
		if (hi < c / 4) {
			(void)fprintf(stderr, "case %zu (attempt %u, base %ld, "
			    "max %ld): ceiling %ld, largest of 64 samples "
			    "%ld\n", i, cases[i].attempt, cases[i].base,
			    cases[i].max, c, hi);
			rc = 1;
		}
	}
	return rc;
}

static void
test_backoff_wide_range(void **state)
{
	pid_t pid;
	int st;

	(void)state;
	fflush(NULL);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0)
		_exit(wide_child());
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFSIGNALED(st))
		fail_msg("wide backoff: child killed by signal %d",
		    WTERMSIG(st));
	if (WEXITSTATUS(st) != 0)
		fail_msg("wide backoff: child exited %d (1: the cases above, "
		    "other: a sanitizer report above)", WEXITSTATUS(st));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_code_of),
		cmocka_unit_test(test_retryable_codes),
		cmocka_unit_test(test_retryable_http),
		cmocka_unit_test(test_retryable_429),
		cmocka_unit_test(test_retryable_network),
		cmocka_unit_test(test_backoff_bounds),
		cmocka_unit_test(test_backoff_retry_after),
		cmocka_unit_test(test_backoff_large_attempts),
		cmocka_unit_test(test_backoff_wide_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
