/*
 * test_policy_decide: the decisions of supervisor/engine/policy that the
 * engine asks about each request (test_policy covers the retry classes
 * and the backoff curve). Proves that a request may make --retries + 1
 * attempts; that an attempt's budget is its timeout (the request's own,
 * else the configured one) cut to what is left of the deadline, and at
 * least 1 ms; that policy_should_retry says no to what is not retryable,
 * to cancelled and shutting_down answers, while stopping and once the
 * attempts are used up, and then leaves the note empty; that a retry
 * whose delay does not end before the deadline is refused with the note
 * "; no time left for another attempt before the deadline", at the exact
 * edge too; that one that fits comes with a delay within the backoff and
 * never below retry_after_ms; and the hedge delay and its setter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "engine/policy.h"
#include "engine/request.h"

#define NOTE_NO_TIME	"; no time left for another attempt before the " \
			"deadline"
#define NOW		100000
#define SAMPLES		2000

struct world {
	struct config	 cfg;
	struct policy	*p;
	struct request	 req;
	struct policy_failure f;
};

static int
setup(void **state)
{
	struct world *w;

	w = test_calloc(1, sizeof(*w));
	assert_non_null(w);
	w->cfg.retries = 2;
	w->cfg.timeout_ms = 1000;
	w->cfg.deadline_ms = 60000;
	w->cfg.backoff_base_ms = 0;	/* delays exactly retry_after_ms */
	w->cfg.backoff_max_ms = 0;
	w->p = policy_new(&w->cfg);
	assert_non_null(w->p);
	w->req.attempts = 1;
	w->req.deadline_at_ms = NOW + 60000;
	w->f.code = REQ_HTTP;
	w->f.retryable = true;
	w->f.retry_after_ms = -1;
	*state = w;
	return 0;
}

static int
teardown(void **state)
{
	struct world *w = *state;

	policy_free(w->p);
	test_free(w);
	return 0;
}

/* Ask, with a note that must be overwritten. */
static bool
should_retry(struct world *w, long *delay, char *note, size_t notelen)
{
	note[0] = 'x';
	note[1] = '\0';
	return policy_should_retry(w->p, &w->req, &w->f, NOW, delay, note,
	    notelen);
}

static void
test_max_attempts(void **state)
{
	struct world *w = *state;

	assert_int_equal(policy_max_attempts(w->p), 3);
	w->cfg.retries = 0;
	assert_int_equal(policy_max_attempts(w->p), 1);
	w->cfg.retries = 9;
	assert_int_equal(policy_max_attempts(w->p), 10);
}

static void
test_attempt_budget(void **state)
{
	struct world *w = *state;
	struct request *req = &w->req;

	assert_int_equal(policy_attempt_budget_ms(w->p, req, NOW), 1000);
	req->timeout_ms = 250;			/* the request's own */
	assert_int_equal(policy_attempt_budget_ms(w->p, req, NOW), 250);
	req->timeout_ms = 0;
	req->deadline_at_ms = NOW + 300;	/* the deadline is nearer */
	assert_int_equal(policy_attempt_budget_ms(w->p, req, NOW), 300);
	req->deadline_at_ms = NOW + 1000;	/* both at once */
	assert_int_equal(policy_attempt_budget_ms(w->p, req, NOW), 1000);
	req->deadline_at_ms = NOW + 1001;
	assert_int_equal(policy_attempt_budget_ms(w->p, req, NOW), 1000);
	req->deadline_at_ms = NOW + 1;
	assert_int_equal(policy_attempt_budget_ms(w->p, req, NOW), 1);
	/* At or past the deadline: still 1, never 0 or less. */
	req->deadline_at_ms = NOW;
	assert_int_equal(policy_attempt_budget_ms(w->p, req, NOW), 1);
	req->deadline_at_ms = NOW - 5000;
	assert_int_equal(policy_attempt_budget_ms(w->p, req, NOW), 1);
	req->timeout_ms = 20000;
	req->deadline_at_ms = NOW + 60000;
	assert_int_equal(policy_attempt_budget_ms(w->p, req, NOW), 20000);
}

/* The failure as it stands is answered, not retried, with note. */
static void
answered(struct world *w, const char *want_note)
{
	char note[128];
	long delay;

	assert_false(should_retry(w, &delay, note, sizeof(note)));
	assert_string_equal(note, want_note);
}

static void
test_not_retried(void **state)
{
	struct world *w = *state;
	char note[128];
	long delay;

	w->f.retryable = false;
	answered(w, "");
	w->f.retryable = true;
	w->f.code = REQ_CANCELLED;
	answered(w, "");
	w->f.code = REQ_SHUTTING_DOWN;
	answered(w, "");
	w->f.code = REQ_TIMEOUT;
	w->f.stopping = true;
	answered(w, "");
	w->f.stopping = false;

	/* Attempts used up: 3 of 3 (and more, should one slip by). */
	w->req.attempts = 3;
	answered(w, "");
	w->req.attempts = 4;
	answered(w, "");
	w->cfg.retries = 0;
	w->req.attempts = 1;
	answered(w, "");

	/* The last one left. */
	w->cfg.retries = 2;
	w->req.attempts = 2;
	assert_true(should_retry(w, &delay, note, sizeof(note)));
	assert_string_equal(note, "");
	assert_int_equal(delay, 0);
}

static void
test_no_time_left(void **state)
{
	struct world *w = *state;
	char note[128], small[8];
	long delay;

	w->f.retry_after_ms = 500;
	/* The delay would end exactly at the deadline: too late. */
	w->req.deadline_at_ms = NOW + 500;
	answered(w, NOTE_NO_TIME);
	w->req.deadline_at_ms = NOW + 501;
	assert_true(should_retry(w, &delay, note, sizeof(note)));
	assert_int_equal(delay, 500);
	assert_string_equal(note, "");

	/* No delay at all, but the deadline is now. */
	w->f.retry_after_ms = -1;
	w->req.deadline_at_ms = NOW;
	answered(w, NOTE_NO_TIME);

	/* A short note buffer is cut, still a string. */
	assert_false(should_retry(w, &delay, small, sizeof(small)));
	assert_string_equal(small, "; no ti");
}

static void
test_delay_respects_retry_after(void **state)
{
	struct world *w = *state;
	char note[128];
	long delay, ceiling, max_seen = 0;
	unsigned attempt;
	int i;

	w->cfg.retries = 5;
	w->cfg.backoff_base_ms = 100;
	w->cfg.backoff_max_ms = 400;
	for (attempt = 1; attempt <= 4; attempt++) {
		w->req.attempts = attempt;
		ceiling = attempt == 1 ? 100 : attempt == 2 ? 200 : 400;
		max_seen = 0;
		w->f.retry_after_ms = -1;
		for (i = 0; i < SAMPLES; i++) {
			assert_true(should_retry(w, &delay, note,
			    sizeof(note)));
			assert_in_range(delay, 0, ceiling);
			if (delay > max_seen)
				max_seen = delay;
		}
		assert_true(max_seen > ceiling / 2);	/* it does jitter */
		/* Never below what the server asked for. */
		w->f.retry_after_ms = 50;
		for (i = 0; i < SAMPLES; i++) {
			assert_true(should_retry(w, &delay, note,
			    sizeof(note)));
			assert_in_range(delay, 50, ceiling);
		}
		w->f.retry_after_ms = 3000;
		assert_true(should_retry(w, &delay, note, sizeof(note)));
		assert_int_equal(delay, 3000);
	}
	/* Retry-After past the deadline: not retried, whatever the
	 * backoff alone would have allowed. */
	w->req.attempts = 1;
	w->req.deadline_at_ms = NOW + 2999;
	answered(w, NOTE_NO_TIME);
}

static void
test_hedge_delay(void **state)
{
	struct world *w = *state;

	assert_int_equal(policy_hedge_delay_ms(w->p, &w->req), -1);
	policy_set_hedge_delay(w->p, 0);
	assert_int_equal(policy_hedge_delay_ms(w->p, &w->req), 0);
	policy_set_hedge_delay(w->p, 250);
	assert_int_equal(policy_hedge_delay_ms(w->p, &w->req), 250);
	w->req.attempts = 3;			/* the same for any request */
	assert_int_equal(policy_hedge_delay_ms(w->p, &w->req), 250);
	policy_set_hedge_delay(w->p, -7);
	assert_int_equal(policy_hedge_delay_ms(w->p, &w->req), -1);
	policy_set_hedge_delay(w->p, -1);
	assert_int_equal(policy_hedge_delay_ms(w->p, &w->req), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_max_attempts, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_attempt_budget, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_not_retried, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_no_time_left, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_delay_respects_retry_after,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_hedge_delay, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
