/*
 * test_engine: the request state machine of supervisor/engine, driven
 * through a fake spawner on a real loop: each "worker" is a pipe whose
 * write end the test holds, its frames written by the test, and its kill
 * and reap are recorded instead of sent. Proves one answer per request
 * whatever happens: success, retry after a 5xx, a final 4xx, a deadline
 * kill, a failed spawn, a cancel, a shutdown; and, with two live
 * attempts for one request (a hedge), that the first good answer wins,
 * the other worker is killed and nothing points at the freed request,
 * and that a failure beside a live sibling waits for the sibling.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "clock.h"
#include "log.h"
#include "proto_frame.h"
#include "proto_job.h"
#include "proto_result.h"
#include "core/loop.h"
#include "core/spawn.h"
#include "engine/engine.h"

#define MAX_FAKES	16
#define FAKE_PID0	900000	/* never signalled: kill is faked */

struct fake {
	pid_t		 pid;
	int		 write_fd;	/* the worker's stdout; -1: closed */
	unsigned	 attempt;
	long		 timeout_ms;
	bool		 killed;
	bool		 exited;	/* waiting to be reaped */
	bool		 reaped;
	int		 status;
};

struct world {
	struct fake	 fakes[MAX_FAKES];
	size_t		 n_fakes;
	unsigned	 fail_next;	/* spawns to fail */
	struct config	 cfg;
	struct loop	*loop;
	struct engine	*engine;
	struct spawner	 sp;
	struct answer	 answers[8];
	char		*ids[8];
	size_t		 n_answers;
};

static int
fake_start(void *ctx, const struct job *job, pid_t *pid, int *result_fd)
{
	struct world *w = ctx;
	struct fake *f;
	int fds[2];

	if (w->fail_next > 0) {
		w->fail_next--;
		errno = EAGAIN;
		return -1;
	}
	assert_true(w->n_fakes < MAX_FAKES);
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
	f = &w->fakes[w->n_fakes];
	memset(f, 0, sizeof(*f));
	f->pid = FAKE_PID0 + (pid_t)w->n_fakes;
	f->write_fd = fds[1];
	f->attempt = job->attempt;
	f->timeout_ms = job->timeout_ms;
	w->n_fakes++;
	*pid = f->pid;
	*result_fd = fds[0];
	return 0;
}

static int
fake_start_warm(void *ctx, pid_t *pid, int *result_fd, int *job_fd)
{
	(void)ctx;
	(void)pid;
	(void)result_fd;
	(void)job_fd;
	errno = ENOSYS;
	return -1;
}

static struct fake *
fake_by_pid(struct world *w, pid_t pid)
{
	size_t i;

	for (i = 0; i < w->n_fakes; i++)
		if (w->fakes[i].pid == pid)
			return &w->fakes[i];
	return NULL;
}

/* The fake exits: the kernel closes its stdout, and it waits to be
 * reaped. */
static void
fake_exit(struct fake *f, int status)
{
	if (f->write_fd != -1) {
		assert_int_equal(close(f->write_fd), 0);
		f->write_fd = -1;
	}
	if (!f->exited && !f->reaped) {
		f->exited = true;
		f->status = status;
	}
}

static int
fake_kill(void *ctx, pid_t pid)
{
	struct fake *f = fake_by_pid(ctx, pid);

	assert_non_null(f);
	assert_false(f->reaped);	/* never signal a reaped pid */
	f->killed = true;
	fake_exit(f, SIGKILL);		/* WIFSIGNALED, WTERMSIG 9 */
	return 0;
}

static pid_t
fake_reap(void *ctx, bool block, bool (*ours)(void *, pid_t), void *arg,
    int *status)
{
	struct world *w = ctx;
	size_t i;

	(void)block;
	for (i = 0; i < w->n_fakes; i++) {
		if (!w->fakes[i].exited)
			continue;
		assert_true(ours(arg, w->fakes[i].pid));
		w->fakes[i].exited = false;
		w->fakes[i].reaped = true;
		*status = w->fakes[i].status;
		return w->fakes[i].pid;
	}
	errno = ECHILD;
	return -1;
}

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
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d) != NULL)
		n++;
	(void)closedir(d);
	return n;
}

static int
setup(void **state)
{
	struct world *w;

	w = calloc(1, sizeof(*w));
	assert_non_null(w);
	w->cfg.base_url = (char *)(uintptr_t)"http://127.0.0.1:9/v1";
	w->cfg.host = (char *)(uintptr_t)"127.0.0.1";
	w->cfg.model = (char *)(uintptr_t)"m";
	w->cfg.timeout_ms = 30000;
	w->cfg.deadline_ms = 60000;
	w->cfg.retries = 2;
	w->cfg.jobs = 4;
	w->cfg.queue_max = 3;
	w->cfg.backoff_base_ms = 1;
	w->cfg.backoff_max_ms = 1;
	w->cfg.max_response = 1 << 20;
	w->sp.start = fake_start;
	w->sp.start_warm = fake_start_warm;
	w->sp.kill = fake_kill;
	w->sp.reap = fake_reap;
	w->sp.ctx = w;
	w->loop = loop_new();
	assert_non_null(w->loop);
	w->engine = engine_new(&w->cfg, w->loop, NULL, &w->sp, on_answer, w);
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
	for (i = 0; i < w->n_fakes; i++)
		if (w->fakes[i].write_fd != -1)
			(void)close(w->fakes[i].write_fd);
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

/* Turn the loop until cond holds, at most ~2 s. */
#define TURN_UNTIL(w, cond) do {					\
	int64_t until_ = clock_ms() + 2000;				\
	while (!(cond) && clock_ms() < until_)				\
		assert_int_equal(loop_once((w)->loop, 20), 0);		\
	assert_true(cond);						\
} while (0)

static void
write_frame(struct fake *f, char type, const char *s, size_t len)
{
	assert_int_equal(proto_frame_write(f->write_fd, type, s, len), 0);
}

/* The fake answers: a body and an ok result, or an http error. */
static void
fake_result(struct fake *f, int http_status)
{
	static const char body[] = "\"embeddings\":[[0.5]],\"model\":\"m\","
	    "\"usage\":{\"prompt_tokens\":1,\"total_tokens\":1}";
	struct proto_result r;
	struct buf b;

	memset(&r, 0, sizeof(r));
	r.retry_after_ms = -1;
	if (http_status == 0) {
		r.class = PROTO_OK;
		write_frame(f, PROTO_FRAME_BODY, body, sizeof(body) - 1);
	} else {
		r.class = PROTO_HTTP;
		r.http_status = http_status;
		(void)snprintf(r.message, sizeof(r.message), "http error");
	}
	buf_init(&b, 1 << 16);
	assert_int_equal(proto_result_encode(&r, &b), 0);
	write_frame(f, PROTO_FRAME_RESULT, buf_data(&b), buf_len(&b));
	buf_free(&b);
}

/* Every fake that was started has exited and is reaped, every slot
 * is free. */
static void
settle(struct world *w)
{
	size_t i;

	for (i = 0; i < w->n_fakes; i++)
		if (!w->fakes[i].reaped)
			fake_exit(&w->fakes[i], 0);
	engine_reap(w->engine);
	TURN_UNTIL(w, engine_is_idle(w->engine));
}

static void
test_one_attempt_ok(void **state)
{
	struct world *w = *state;
	int fds_before = open_fds();

	submit(w, "\"q1\"");
	TURN_UNTIL(w, w->n_fakes == 1);
	assert_int_equal(w->fakes[0].attempt, 1);
	assert_int_equal(w->fakes[0].timeout_ms, 30000);
	fake_result(&w->fakes[0], 0);
	TURN_UNTIL(w, w->n_answers == 1);
	assert_int_equal(w->answers[0].code, REQ_OK);
	assert_int_equal(w->answers[0].attempts, 1);
	assert_string_equal(w->ids[0], "\"q1\"");
	assert_false(engine_is_idle(w->engine));	/* not reaped yet */
	settle(w);
	assert_false(w->fakes[0].killed);
	assert_int_equal(open_fds(), fds_before);
}

static void
test_retry_after_5xx(void **state)
{
	struct world *w = *state;

	submit(w, "1");
	TURN_UNTIL(w, w->n_fakes == 1);
	fake_result(&w->fakes[0], 503);
	fake_exit(&w->fakes[0], 0);
	engine_reap(w->engine);
	TURN_UNTIL(w, w->n_fakes == 2);
	assert_int_equal(w->n_answers, 0);
	assert_int_equal(w->fakes[1].attempt, 2);
	fake_result(&w->fakes[1], 0);
	TURN_UNTIL(w, w->n_answers == 1);
	assert_int_equal(w->answers[0].code, REQ_OK);
	assert_int_equal(w->answers[0].attempts, 2);
	assert_int_equal(engine_stats(w->engine)->retries, 1);
	settle(w);
}

static void
test_final_4xx(void **state)
{
	struct world *w = *state;

	submit(w, "1");
	TURN_UNTIL(w, w->n_fakes == 1);
	fake_result(&w->fakes[0], 400);
	TURN_UNTIL(w, w->n_answers == 1);
	assert_int_equal(w->answers[0].code, REQ_HTTP);
	assert_int_equal(w->answers[0].http_status, 400);
	assert_false(w->answers[0].retryable);
	assert_int_equal(w->n_fakes, 1);
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
	assert_true(w->fakes[0].killed);
	assert_int_equal(w->answers[0].code, REQ_TIMEOUT);
	assert_int_equal(engine_stats(w->engine)->workers_killed, 1);
	engine_reap(w->engine);
	TURN_UNTIL(w, engine_is_idle(w->engine));
}

static void
test_spawn_failure(void **state)
{
	struct world *w = *state;

	w->fail_next = 1;
	submit(w, "1");
	TURN_UNTIL(w, w->n_fakes == 1);		/* the retry spawned */
	assert_int_equal(w->fakes[0].attempt, 2);
	fake_result(&w->fakes[0], 0);
	TURN_UNTIL(w, w->n_answers == 1);
	assert_int_equal(w->answers[0].code, REQ_OK);
	assert_int_equal(engine_stats(w->engine)->spawn_failures, 1);
	settle(w);

	w->fail_next = 3;			/* every attempt */
	submit(w, "2");
	TURN_UNTIL(w, w->n_answers == 2);
	assert_int_equal(w->answers[1].code, REQ_WORKER_CRASHED);
	assert_int_equal(w->answers[1].attempts, 3);
}

/* Start a request and a hedge beside its first attempt. */
static void
start_hedged(struct world *w)
{
	policy_set_hedge_delay(engine_policy(w->engine), 0);
	submit(w, "\"h\"");
	TURN_UNTIL(w, w->n_fakes == 2);
	assert_int_equal(w->fakes[0].attempt, 1);
	assert_int_equal(w->fakes[1].attempt, 2);
	assert_int_equal(engine_stats(w->engine)->hedges, 1);
}

static void
test_two_attempts_first_wins(void **state)
{
	struct world *w = *state;
	int fds_before = open_fds();

	start_hedged(w);
	/* The hedge answers first: it wins, the first is killed. */
	fake_result(&w->fakes[1], 0);
	TURN_UNTIL(w, w->n_answers == 1);
	assert_int_equal(w->answers[0].code, REQ_OK);
	assert_int_equal(w->answers[0].attempts, 2);
	assert_true(w->fakes[0].killed);
	assert_false(w->fakes[1].killed);
	assert_int_equal(engine_stats(w->engine)->hedges_won, 1);
	/* The loser's late frames reach nobody: still one answer. */
	settle(w);
	assert_int_equal(w->n_answers, 1);
	assert_int_equal(w->n_fakes, 2);
	assert_int_equal(open_fds(), fds_before);
}

static void
test_two_attempts_failure_waits(void **state)
{
	struct world *w = *state;

	start_hedged(w);
	/* A retryable failure beside a live sibling: no answer, no retry. */
	fake_result(&w->fakes[0], 502);
	fake_exit(&w->fakes[0], 0);
	engine_reap(w->engine);
	for (int i = 0; i < 5; i++)
		assert_int_equal(loop_once(w->loop, 5), 0);
	assert_int_equal(w->n_answers, 0);
	assert_int_equal(w->n_fakes, 2);
	fake_result(&w->fakes[1], 0);
	TURN_UNTIL(w, w->n_answers == 1);
	assert_int_equal(w->answers[0].code, REQ_OK);
	assert_false(w->fakes[1].killed);
	settle(w);
}

static void
test_two_attempts_final_error(void **state)
{
	struct world *w = *state;

	start_hedged(w);
	fake_result(&w->fakes[0], 400);
	TURN_UNTIL(w, w->n_answers == 1);
	assert_int_equal(w->answers[0].code, REQ_HTTP);
	assert_true(w->fakes[1].killed);
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
	assert_true(w->fakes[0].killed);
	assert_true(w->fakes[1].killed);
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
	TURN_UNTIL(w, w->n_fakes == 1);
	submit(w, "2");
	submit(w, "3");
	submit(w, "4");
	assert_true(engine_is_full(w->engine));	/* 3 waiting, --queue 3 */
	engine_shutdown(w->engine, clock_ms(), 0);
	/* The waiting ones now, the running one at its kill. */
	assert_int_equal(w->n_answers, 4);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(w->answers[i].code, REQ_SHUTTING_DOWN);
	assert_true(w->fakes[0].killed);
	assert_false(engine_is_full(w->engine));
}

static void
test_free_answers_everything(void **state)
{
	struct world *w = *state;

	submit(w, "1");
	TURN_UNTIL(w, w->n_fakes == 1);
	submit(w, "2");
	engine_free(w->engine);
	w->engine = engine_new(&w->cfg, w->loop, NULL, &w->sp, on_answer, w);
	assert_int_equal(w->n_answers, 2);
	assert_int_equal(w->answers[0].code, REQ_SHUTTING_DOWN);
	assert_int_equal(w->answers[1].code, REQ_SHUTTING_DOWN);
	assert_true(w->fakes[0].reaped);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_attempt_ok, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_retry_after_5xx, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_final_4xx, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_deadline_kill, setup,
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
