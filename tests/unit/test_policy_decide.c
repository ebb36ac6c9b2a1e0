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
 * The endpoint's health: --hedge auto hedges at half the timeout before
 * 20 successes, then at the p95 of their latencies (a lost first attempt
 * counts, a lost hedge not), clamped to [--hedge-min, timeout / 2], one
 * estimate per model; the
 * retry budget refuses a retry beyond its share with a note, but not
 * one after a crashed worker; the gate goes circuit_open after
 * --breaker failures, lets one probe through once due and goes again
 * after its success; two 401s in a row fail the endpoint for the
 * cool-down (one 401, or a 404 for another model, does not); a 429
 * makes everyone wait its Retry-After.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

/* Policy anew after a change to w->cfg. */
static void
renew(struct world *w)
{
	policy_free(w->p);
	w->p = policy_new(&w->cfg);
	assert_non_null(w->p);
}

/* One attempt of w->req of kind, from now to now + ms, ending so. */
static bool
attempt(struct world *w, enum budget_kind kind, int64_t now, long ms,
    enum req_code code, const struct proto_result *r, bool lost)
{
	struct policy_outcome o = { code, r, lost, "why" };
	struct policy_attempt pa;

	policy_attempt_started(w->p, &w->req, kind, false, now, &pa);
	return policy_attempt_ended(w->p, &w->req, &pa, &o, now + ms);
}

static void
test_hedge_auto(void **state)
{
	struct world *w = *state;
	long d;
	int i;

	w->cfg.hedge = CONFIG_HEDGE_AUTO;
	w->cfg.hedge_min_ms = 50;
	renew(w);
	assert_int_equal(policy_hedge_delay_ms(w->p, &w->req), 500);
	for (i = 0; i < POLICY_HEDGE_MIN_SAMPLES - 1; i++)
		(void)attempt(w, BUDGET_FIRST, NOW, 100, REQ_OK, NULL, false);
	assert_int_equal(policy_hedge_delay_ms(w->p, &w->req), 500);
	/* A failure and a lost hedge are no samples. */
	(void)attempt(w, BUDGET_FIRST, NOW, 100, REQ_TIMEOUT, NULL, false);
	(void)attempt(w, BUDGET_HEDGE, NOW, 100, REQ_CANCELLED, NULL, true);
	assert_int_equal(policy_hedge_delay_ms(w->p, &w->req), 500);
	(void)attempt(w, BUDGET_FIRST, NOW, 100, REQ_CANCELLED, NULL, true);
	d = policy_hedge_delay_ms(w->p, &w->req);
	assert_in_range(d, 95, 120);
	for (i = 0; i < 2000; i++)
		(void)attempt(w, BUDGET_FIRST, NOW, 10, REQ_OK, NULL, false);
	assert_int_equal(policy_hedge_delay_ms(w->p, &w->req), 50);
	for (i = 0; i < 2000; i++)
		(void)attempt(w, BUDGET_FIRST, NOW, 5000, REQ_OK, NULL, false);
	assert_int_equal(policy_hedge_delay_ms(w->p, &w->req), 500);
	w->req.timeout_ms = 300;		/* the request's own timeout */
	assert_int_equal(policy_hedge_delay_ms(w->p, &w->req), 150);
	w->req.timeout_ms = 0;
	/* Another model has an estimate of its own. */
	w->req.model = (char *)(uintptr_t)"other";
	assert_int_equal(policy_hedge_delay_ms(w->p, &w->req), 500);
	for (i = 0; i < POLICY_HEDGE_MIN_SAMPLES; i++)
		(void)attempt(w, BUDGET_FIRST, NOW, 200, REQ_OK, NULL, false);
	assert_in_range(policy_hedge_delay_ms(w->p, &w->req), 190, 240);
	w->req.model = NULL;
	assert_int_equal(policy_hedge_delay_ms(w->p, &w->req), 500);
}

static void
test_retry_budget(void **state)
{
	struct world *w = *state;
	char note[160];
	long delay;
	int i;

	w->cfg.retry_budget_pct = 20;
	w->cfg.budget_floor = 0;
	renew(w);
	for (i = 0; i < 10; i++)
		(void)attempt(w, BUDGET_FIRST, NOW, 10, REQ_OK, NULL, false);
	for (i = 0; i < 2; i++) {
		assert_true(should_retry(w, &delay, note, sizeof(note)));
		(void)attempt(w, BUDGET_RETRY, NOW, 10, REQ_OK, NULL, false);
	}
	assert_false(should_retry(w, &delay, note, sizeof(note)));
	assert_string_equal(note, "; not retried: the retry budget (20% of "
	    "first attempts) is spent");
	w->f.code = REQ_WORKER_CRASHED;
	assert_true(should_retry(w, &delay, note, sizeof(note)));
	assert_string_equal(note, "");
	assert_false(policy_may_hedge(w->p, &w->req, NOW));
}

static void
test_gate_breaker(void **state)
{
	struct world *w = *state;
	struct policy_attempt pa;
	struct policy_outcome ok = { REQ_OK, NULL, false, NULL };
	long wait;

	w->cfg.breaker_failures = 2;
	renew(w);
	assert_int_equal(policy_gate(w->p, &w->req, NOW, &wait), POLICY_GO);
	(void)attempt(w, BUDGET_FIRST, NOW, 10, REQ_TIMEOUT, NULL, false);
	(void)attempt(w, BUDGET_FIRST, NOW, 10, REQ_NETWORK, NULL, false);
	assert_int_equal(policy_gate(w->p, NULL, NOW + 10, &wait),
	    POLICY_CIRCUIT_OPEN);
	assert_int_equal(wait, 500);
	assert_false(policy_may_hedge(w->p, &w->req, NOW + 10));
	assert_int_equal(policy_gate(w->p, &w->req, NOW + 510, &wait),
	    POLICY_PROBE);
	policy_attempt_started(w->p, &w->req, BUDGET_FIRST, true, NOW + 510,
	    &pa);
	assert_int_equal(policy_gate(w->p, &w->req, NOW + 510, &wait),
	    POLICY_CIRCUIT_OPEN);
	(void)policy_attempt_ended(w->p, &w->req, &pa, &ok, NOW + 520);
	assert_int_equal(policy_gate(w->p, &w->req, NOW + 520, &wait),
	    POLICY_GO);
}

static void
test_gate_failed(void **state)
{
	struct world *w = *state;
	struct proto_result r;
	const char *message;
	long wait, left;
	int status;

	w->cfg.fail_cooldown_ms = 1000;
	w->cfg.model = (char *)(uintptr_t)"m";
	renew(w);
	proto_result_init(&r);
	r.class = PROTO_HTTP;
	r.http_status = 401;
	(void)snprintf(r.message, sizeof(r.message), "HTTP 401: bad key");
	assert_true(policy_fails_every_call(w->p, &w->req, 401));
	assert_false(attempt(w, BUDGET_FIRST, NOW, 10, REQ_HTTP, &r, false));
	assert_int_equal(policy_gate(w->p, &w->req, NOW + 10, &wait),
	    POLICY_GO);
	assert_true(attempt(w, BUDGET_FIRST, NOW, 10, REQ_HTTP, &r, false));
	assert_int_equal(policy_gate(w->p, &w->req, NOW + 10, &wait),
	    POLICY_FAILED);
	policy_failed(w->p, NOW + 10, &status, &message, &left);
	assert_int_equal(status, 401);
	assert_string_equal(message, "HTTP 401: bad key");
	assert_int_equal(left, 1000);
	assert_int_equal(policy_gate(w->p, &w->req, NOW + 1010, &wait),
	    POLICY_GO);
	/* A 404 for a model of the request's own is its own business. */
	w->req.model = (char *)(uintptr_t)"other";
	assert_false(policy_fails_every_call(w->p, &w->req, 404));
	w->req.model = NULL;
	assert_true(policy_fails_every_call(w->p, &w->req, 404));
	assert_false(policy_fails_every_call(w->p, &w->req, 400));
	w->cfg.fail_cooldown_ms = 0;
	assert_false(policy_fails_every_call(w->p, &w->req, 401));
}

static void
test_gate_rate_limit(void **state)
{
	struct world *w = *state;
	struct proto_result r;
	long wait;

	proto_result_init(&r);
	r.class = PROTO_HTTP;
	r.http_status = 429;
	r.retry_after_ms = 700;
	assert_true(attempt(w, BUDGET_FIRST, NOW, 10, REQ_RATE_LIMITED, &r,
	    false));
	assert_int_equal(policy_gate(w->p, &w->req, NOW + 10, &wait),
	    POLICY_WAIT);
	assert_int_equal(wait, 700);
	/* The endpoint as such is not refusing. */
	assert_int_equal(policy_gate(w->p, NULL, NOW + 10, &wait), POLICY_GO);
	assert_int_equal(policy_gate(w->p, &w->req, NOW + 710, &wait),
	    POLICY_GO);
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
		cmocka_unit_test_setup_teardown(test_hedge_auto, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_retry_budget, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_gate_breaker, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_gate_failed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_gate_rate_limit, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
