/*
 * test_engine: the request state machine of supervisor/engine, driven
 * through the fake spawner (support/fake_spawn) on a real loop: each
 * "worker" is a pipe whose write end the test holds, its frames written
 * by the test, and its kill and reap are recorded instead of sent.
 * Proves one answer per request whatever happens: success, retry after
 * a 5xx, a final 4xx, a deadline kill, a failed spawn (one that spends
 * the attempt, and one out of processes or descriptors that does not),
 * a cancel, a shutdown; and, with two live attempts for one request (a
 * hedge), that the first good answer wins, the other worker is killed
 * and nothing points at the freed request, and that a failure beside a
 * live sibling waits for the sibling. With the breaker on, a 5xx opens the circuit:
 * the request's retry and a new request are answered circuit_open, with
 * retry_after_ms, and no fake is started for them; with a hedge delay,
 * the hedge's win is counted.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "log.h"
#include "core/loop.h"
#include "core/spawn.h"
#include "engine/engine.h"
#include "support/fake_spawn.h"

struct world {
	struct fake_spawn fs;
	struct config	 cfg;
	struct loop	*loop;
	struct engine	*engine;
	struct answer	 answers[8];
	char		*ids[8];
	size_t		 n_answers;
};

static void
on_answer(void *arg, struct request *req, const struct answer *a)
{
	struct world *w = arg;

	assert_true(w->n_answers < 8);
	w->answers[w->n_answers] = *a;
	w->answers[w->n_answers].body = NULL;
	w->answers[w->n_answers].message = NULL;
	w->ids[w->n_answers] = strdup(req->id_json);
	w->n_answers++;
}

static int
setup(void **state)
{
	struct world *w;

	w = calloc(1, sizeof(*w));
	assert_non_null(w);
	fake_spawn_config(&w->cfg);
	fake_spawn_init(&w->fs);
	w->loop = loop_new();
	assert_non_null(w->loop);
	w->engine = engine_new(&w->cfg, w->loop, NULL, &w->fs.sp, on_answer, w);
	assert_non_null(w->engine);
	*state = w;
	return 0;
}

static int
teardown(void **state)
{
	struct world *w = *state;
	size_t i;

	engine_free(w->engine);
	loop_free(w->loop);
	fake_spawn_close(&w->fs);
	for (i = 0; i < w->n_answers; i++)
		free(w->ids[i]);
	free(w);
	return 0;
}

static void
submit(struct world *w, const char *id_json)
{
	struct request *req;

	req = calloc(1, sizeof(*req));
	assert_non_null(req);
	req->id_json = strdup(id_json);
	req->input_json = strdup("[\"a\"]");
	req->n_inputs = 1;
	req->owner = w;
	engine_submit(w->engine, req, clock_ms());
}

#define TURN_UNTIL(w, cond) FAKE_SPAWN_TURN_UNTIL((w)->loop, cond)

/* Every fake that was started has exited and is reaped, every slot
 * is free. */
static void
settle(struct world *w)
{
	fake_spawn_exit_all(&w->fs);
	engine_reap(w->engine);
	TURN_UNTIL(w, engine_is_idle(w->engine));
}

static void
test_one_attempt_ok(void **state)
{
	struct world *w = *state;
	int fds_before = fake_spawn_open_fds();

	submit(w, "\"q1\"");
	TURN_UNTIL(w, w->fs.n_fakes == 1);
	assert_int_equal(w->fs.fake[0].attempt, 1);
	assert_int_equal(w->fs.fake[0].timeout_ms, 30000);
	fake_spawn_result(&w->fs.fake[0], 0);
	TURN_UNTIL(w, w->n_answers == 1);
	assert_int_equal(w->answers[0].code, REQ_OK);
	assert_int_equal(w->answers[0].attempts, 1);
	assert_string_equal(w->ids[0], "\"q1\"");
	assert_false(engine_is_idle(w->engine));	/* not reaped yet */
	settle(w);
	assert_false(w->fs.fake[0].killed);
	assert_int_equal(fake_spawn_open_fds(), fds_before);
}

static void
test_retry_after_5xx(void **state)
{
	struct world *w = *state;

	submit(w, "1");
	TURN_UNTIL(w, w->fs.n_fakes == 1);
	fake_spawn_result(&w->fs.fake[0], 503);
	fake_spawn_exit(&w->fs.fake[0], 0);
	engine_reap(w->engine);
	TURN_UNTIL(w, w->fs.n_fakes == 2);
	assert_int_equal(w->n_answers, 0);
	assert_int_equal(w->fs.fake[1].attempt, 2);
	fake_spawn_result(&w->fs.fake[1], 0);
	TURN_UNTIL(w, w->n_answers == 1);
	assert_int_equal(w->answers[0].code, REQ_OK);
	assert_int_equal(w->answers[0].attempts, 2);
	assert_int_equal(engine_stats(w->engine)->retries, 1);
	settle(w);
}

/* The engine anew over w->cfg as changed. */
static void
renew(struct world *w)
{
	engine_free(w->engine);
	w->engine = engine_new(&w->cfg, w->loop, NULL, &w->fs.sp, on_answer, w);
	assert_non_null(w->engine);
}

static void
test_circuit_open_no_spawn(void **state)
{
	struct world *w = *state;
	const struct engine_stats *st;

	w->cfg.breaker_failures = 1;
	renew(w);
	submit(w, "1");
	TURN_UNTIL(w, w->fs.n_fakes == 1);
	fake_spawn_result(&w->fs.fake[0], 503);
	TURN_UNTIL(w, w->n_answers == 1);
	assert_int_equal(w->answers[0].code, REQ_CIRCUIT_OPEN);
	assert_true(w->answers[0].retryable);
	assert_int_equal(w->answers[0].attempts, 1);
	assert_in_range(w->answers[0].retry_after_ms, 1, 500);
	submit(w, "2");
	TURN_UNTIL(w, w->n_answers == 2);
	assert_int_equal(w->answers[1].code, REQ_CIRCUIT_OPEN);
	assert_int_equal(w->answers[1].attempts, 0);
	assert_int_equal(w->fs.n_fakes, 1);
	st = engine_stats(w->engine);
	assert_string_equal(st->circuit, "open");
	assert_int_equal(st->circuit_opens, 1);
	assert_int_equal(st->answered[REQ_CIRCUIT_OPEN], 2);
	settle(w);
}

static void
test_hedge_counted(void **state)
{
	struct world *w = *state;

	policy_set_hedge_delay(engine_policy(w->engine), 10);
	submit(w, "1");
	TURN_UNTIL(w, w->fs.n_fakes == 2);
	assert_int_equal(w->fs.fake[1].attempt, 2);
	fake_spawn_result(&w->fs.fake[1], 0);
	TURN_UNTIL(w, w->n_answers == 1);
	assert_int_equal(w->answers[0].code, REQ_OK);
	assert_int_equal(w->answers[0].attempts, 2);
	assert_true(w->fs.fake[0].killed);
	assert_int_equal(engine_stats(w->engine)->hedges, 1);
	assert_int_equal(engine_stats(w->engine)->hedges_won, 1);
	assert_int_equal(engine_stats(w->engine)->answered[REQ_TIMEOUT], 0);
	settle(w);
}

static void
test_final_4xx(void **state)
{
	struct world *w = *state;

	submit(w, "1");
	TURN_UNTIL(w, w->fs.n_fakes == 1);
	fake_spawn_result(&w->fs.fake[0], 400);
	TURN_UNTIL(w, w->n_answers == 1);
	assert_int_equal(w->answers[0].code, REQ_HTTP);
	assert_int_equal(w->answers[0].http_status, 400);
	assert_false(w->answers[0].retryable);
	assert_int_equal(w->fs.n_fakes, 1);
	settle(w);
}

static void
test_deadline_kill(void **state)
{
	struct world *w = *state;
	int64_t t0 = clock_ms();

	w->cfg.retries = 0;
	w->cfg.timeout_ms = 50;
	submit(w, "1");
	TURN_UNTIL(w, w->n_answers == 1);
	assert_true(clock_ms() - t0 >= 50);	/* never before its time */
	assert_true(w->fs.fake[0].killed);
	assert_int_equal(w->answers[0].code, REQ_TIMEOUT);
	assert_int_equal(engine_stats(w->engine)->workers_killed, 1);
	engine_reap(w->engine);
	TURN_UNTIL(w, engine_is_idle(w->engine));
}

static void
test_spawn_failure(void **state)
{
	struct world *w = *state;

	/* A failure of the spawn itself spends the attempt. */
	w->fs.fail_errno = EIO;
	w->fs.fail_next = 1;
	submit(w, "1");
	TURN_UNTIL(w, w->fs.n_fakes == 1);		/* the retry spawned */
	assert_int_equal(w->fs.fake[0].attempt, 2);
	fake_spawn_result(&w->fs.fake[0], 0);
	TURN_UNTIL(w, w->n_answers == 1);
	assert_int_equal(w->answers[0].code, REQ_OK);
	assert_int_equal(engine_stats(w->engine)->spawn_failures, 1);
	settle(w);

	w->fs.fail_next = 3;			/* every attempt */
	submit(w, "2");
	TURN_UNTIL(w, w->n_answers == 2);
	assert_int_equal(w->answers[1].code, REQ_WORKER_CRASHED);
	assert_int_equal(w->answers[1].attempts, 3);
}

/*
 * Out of processes or descriptors (EAGAIN, EMFILE) is not the request's
 * fault: its attempt is not spent, the spawn is tried again after a
 * backoff, and only a deadline that passes meanwhile ends it.
 */
static void
test_spawn_starved(void **state)
{
	struct world *w = *state;
	int64_t t0;

	w->fs.fail_errno = EMFILE;
	w->fs.fail_next = 3;
	t0 = clock_ms();
	submit(w, "1");
	TURN_UNTIL(w, w->fs.n_fakes == 1);
	assert_int_equal(w->fs.fake[0].attempt, 1);	/* none spent */
	assert_true(clock_ms() - t0 >= 20 + 40 + 80 - 5);	/* backoff */
	fake_spawn_result(&w->fs.fake[0], 0);
	TURN_UNTIL(w, w->n_answers == 1);
	assert_int_equal(w->answers[0].code, REQ_OK);
	assert_int_equal(w->answers[0].attempts, 1);
	assert_int_equal(engine_stats(w->engine)->spawn_failures, 3);
	assert_int_equal(engine_stats(w->engine)->retries, 0);
	settle(w);

	w->fs.fail_errno = EAGAIN;
	w->fs.fail_next = 1000;			/* past the deadline */
	w->cfg.deadline_ms = 300;
	submit(w, "2");
	TURN_UNTIL(w, w->n_answers == 2);
	assert_int_equal(w->answers[1].code, REQ_WORKER_CRASHED);
	assert_int_equal(w->answers[1].attempts, 0);
	w->fs.fail_next = 0;
}

/* Start a request and a hedge beside its first attempt. */
static void
start_hedged(struct world *w)
{
	policy_set_hedge_delay(engine_policy(w->engine), 0);
	submit(w, "\"h\"");
	TURN_UNTIL(w, w->fs.n_fakes == 2);
	assert_int_equal(w->fs.fake[0].attempt, 1);
	assert_int_equal(w->fs.fake[1].attempt, 2);
	assert_int_equal(engine_stats(w->engine)->hedges, 1);
}

static void
test_two_attempts_first_wins(void **state)
{
	struct world *w = *state;
	int fds_before = fake_spawn_open_fds();

	start_hedged(w);
	/* The hedge answers first: it wins, the first is killed. */
	fake_spawn_result(&w->fs.fake[1], 0);
	TURN_UNTIL(w, w->n_answers == 1);
	assert_int_equal(w->answers[0].code, REQ_OK);
	assert_int_equal(w->answers[0].attempts, 2);
	assert_true(w->fs.fake[0].killed);
	assert_false(w->fs.fake[1].killed);
	assert_int_equal(engine_stats(w->engine)->hedges_won, 1);
	/* The loser's late frames reach nobody: still one answer. */
	settle(w);
	assert_int_equal(w->n_answers, 1);
	assert_int_equal(w->fs.n_fakes, 2);
	assert_int_equal(fake_spawn_open_fds(), fds_before);
}

static void
test_two_attempts_failure_waits(void **state)
{
	struct world *w = *state;

	start_hedged(w);
	/* A retryable failure beside a live sibling: no answer, no retry. */
	fake_spawn_result(&w->fs.fake[0], 502);
	fake_spawn_exit(&w->fs.fake[0], 0);
	engine_reap(w->engine);
	for (int i = 0; i < 5; i++)
		assert_int_equal(loop_once(w->loop, 5), 0);
	assert_int_equal(w->n_answers, 0);
	assert_int_equal(w->fs.n_fakes, 2);
	fake_spawn_result(&w->fs.fake[1], 0);
	TURN_UNTIL(w, w->n_answers == 1);
	assert_int_equal(w->answers[0].code, REQ_OK);
	assert_false(w->fs.fake[1].killed);
	settle(w);
}

static void
test_two_attempts_final_error(void **state)
{
	struct world *w = *state;

	start_hedged(w);
	fake_spawn_result(&w->fs.fake[0], 400);
	TURN_UNTIL(w, w->n_answers == 1);
	assert_int_equal(w->answers[0].code, REQ_HTTP);
	assert_true(w->fs.fake[1].killed);
	settle(w);
}

static void
test_cancel_two_attempts(void **state)
{
	struct world *w = *state;

	start_hedged(w);
	assert_int_equal(engine_cancel(w->engine, w, "\"h\"", clock_ms()), 1);
	assert_int_equal(w->n_answers, 1);
	assert_int_equal(w->answers[0].code, REQ_CANCELLED);
	assert_true(w->fs.fake[0].killed);
	assert_true(w->fs.fake[1].killed);
	assert_int_equal(engine_cancel(w->engine, w, "\"h\"", clock_ms()), 0);
	settle(w);
	assert_int_equal(w->n_answers, 1);
}

static void
test_queue_full_and_shutdown(void **state)
{
	struct world *w = *state;

	w->cfg.jobs = 4;
	submit(w, "1");
	TURN_UNTIL(w, w->fs.n_fakes == 1);
	submit(w, "2");
	submit(w, "3");
	submit(w, "4");
	assert_true(engine_is_full(w->engine));	/* 3 waiting, --queue 3 */
	engine_shutdown(w->engine, clock_ms(), 0);
	/* The waiting ones now, the running one at its kill. */
	assert_int_equal(w->n_answers, 4);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(w->answers[i].code, REQ_SHUTTING_DOWN);
	assert_true(w->fs.fake[0].killed);
	assert_false(engine_is_full(w->engine));
}

static void
test_free_answers_everything(void **state)
{
	struct world *w = *state;

	submit(w, "1");
	TURN_UNTIL(w, w->fs.n_fakes == 1);
	submit(w, "2");
	engine_free(w->engine);
	w->engine = engine_new(&w->cfg, w->loop, NULL, &w->fs.sp, on_answer, w);
	assert_int_equal(w->n_answers, 2);
	assert_int_equal(w->answers[0].code, REQ_SHUTTING_DOWN);
	assert_int_equal(w->answers[1].code, REQ_SHUTTING_DOWN);
	assert_true(w->fs.fake[0].reaped);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_attempt_ok, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_retry_after_5xx, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_circuit_open_no_spawn,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_hedge_counted, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_final_4xx, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_deadline_kill, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_spawn_starved, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_spawn_failure, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_two_attempts_first_wins,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_two_attempts_failure_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_attempts_final_error,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_two_attempts,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_full_and_shutdown,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_answers_everything,
		    setup, teardown),
	};

	log_init("test_engine", LOG_LEVEL_ERROR, false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
