/*
 * test_slot: the worker-slot table of supervisor/engine/slot on its own,
 * over the fake spawner (support/fake_spawn) and a real loop, with an
 * event recorder in the engine's place and the engine's sweep as a
 * LOOP_WORK hook. Proves that each event fires once and in the
 * documented order: SLOT_RESULT at the result frame (one split across
 * reads too), SLOT_KILLED at the kill, SLOT_ENDED only once both EOF and
 * the reap are in, in either order; that nothing signals a pid after its
 * reap, killed or not; that the deadline kills at its time, never early;
 * that protocol errors (a bad frame, a frame after the result, a frame
 * over the cap, a bad progress frame, an ok result without a body, EOF
 * mid-frame, a pipe left open after the exit) are refused, the worker
 * killed, and the reason given at SLOT_ENDED; that the counts are right;
 * that slots_pick prefers a live warm worker, which gets the job on its
 * stdin; and that slots_free kills and reaps everything and leaves no
 * descriptor open.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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
#include "proto_progress.h"
#include "proto_result.h"
#include "core/loop.h"
#include "engine/slot.h"
#include "support/fake_spawn.h"

#define N_SLOTS		3
#define FRAME_MAX	4096
#define MAX_EVENTS	32
#define LONG_MS		60000	/* a kill timer that never fires here */

/* What warm workers are forked for; the fakes ignore it. */
static const struct job warm_tmpl = { .base_url = "http://127.0.0.1:9/v1" };

/* One event as the recorder saw it, with the outcome at that moment. */
struct event {
	struct slot	*s;
	enum slot_event	 ev;
	void		*owner;
	int64_t		 at_ms;
	bool		 has_result;
	enum slot_kill	 killed;
	size_t		 body_len;
	char		 where[256];
	char		 ended[192];
};

struct world {
	struct fake_spawn fs;
	struct loop	*loop;
	struct slots	*t;
	struct event	 ev[MAX_EVENTS];
	size_t		 n_ev;
	int		 owner;		/* the attempt handed to slot_start */
};

#define TURN_UNTIL(w, cond) FAKE_SPAWN_TURN_UNTIL((w)->loop, cond)

static void
on_event(void *arg, struct slot *s, enum slot_event ev, int64_t now)
{
	struct world *w = arg;
	struct slot_outcome o;
	struct event *e;

	assert_true(w->n_ev < MAX_EVENTS);
	slot_outcome(s, now, &o);
	e = &w->ev[w->n_ev++];
	e->s = s;
	e->ev = ev;
	e->owner = slot_owner(s);
	e->at_ms = now;
	e->has_result = o.has_result;
	e->killed = o.killed;
	e->body_len = o.body_len;
	(void)snprintf(e->where, sizeof(e->where), "%s", o.where);
	(void)snprintf(e->ended, sizeof(e->ended), "%s", o.ended);
}

/* The engine's part of a loop turn: free the slots that ended. */
static void
sweep(void *arg, int64_t now)
{
	struct world *w = arg;

	if (w->t != NULL)
		slots_sweep(w->t, now);
}

static int
setup(void **state)
{
	struct world *w;

	w = calloc(1, sizeof(*w));
	assert_non_null(w);
	w->loop = loop_new();
	assert_non_null(w->loop);
	fake_spawn_init(&w->fs);
	w->t = slots_new(w->loop, &w->fs.sp, N_SLOTS, FRAME_MAX, "api.test",
	    false, on_event, w);
	assert_non_null(w->t);
	assert_int_equal(loop_add_hook(w->loop, LOOP_WORK, sweep, w), 0);
	*state = w;
	return 0;
}

static int
teardown(void **state)
{
	struct world *w = *state;

	slots_free(w->t);
	loop_remove_hook(w->loop, LOOP_WORK, sweep, w);
	loop_free(w->loop);
	fake_spawn_close(&w->fs);
	free(w);
	return 0;
}

static size_t
n_events(const struct world *w, enum slot_event ev)
{
	size_t i, n = 0;

	for (i = 0; i < w->n_ev; i++)
		if (w->ev[i].ev == ev)
			n++;
	return n;
}

static void
make_job(struct job *job)
{
	memset(job, 0, sizeof(*job));
	job->base_url = "http://127.0.0.1:9/v1";
	job->model = "m";
	job->input_json = "[\"a\"]";
	job->n_inputs = 1;
	job->timeout_ms = 1000;
	job->attempt = 1;
}

/* Start an attempt for w->owner on the slot slots_pick gives, to be
 * killed kill_in_ms from now. */
static struct slot *
start(struct world *w, long kill_in_ms)
{
	struct slot *s;
	struct job job;

	make_job(&job);
	s = slots_pick(w->t);
	assert_non_null(s);
	assert_int_equal(slot_start(s, &job, &w->owner,
	    clock_ms() + kill_in_ms), 0);
	assert_ptr_equal(slot_owner(s), &w->owner);
	return s;
}

/* Write a result frame of class (and a body first if with_body). */
static void
write_result(struct fake_worker *f, enum proto_class class, bool with_body)
{
	static const char body[] = "\"embeddings\":[[0.5]]";
	struct proto_result r;
	struct buf b;

	memset(&r, 0, sizeof(r));
	r.class = class;
	r.retry_after_ms = -1;
	if (with_body)
		fake_spawn_frame(f, PROTO_FRAME_BODY, body, sizeof(body) - 1);
	buf_init(&b, 1 << 16);
	assert_int_equal(proto_result_encode(&r, &b), 0);
	fake_spawn_frame(f, PROTO_FRAME_RESULT, buf_data(&b), buf_len(&b));
	buf_free(&b);
}

/* Write bytes [from, to) of a frame header: the type and a 32-bit
 * little-endian length. */
static void
write_header(struct fake_worker *f, char type, uint32_t len, size_t from,
    size_t to)
{
	unsigned char hdr[PROTO_FRAME_HDR];

	hdr[0] = (unsigned char)type;
	hdr[1] = (unsigned char)(len & 0xff);
	hdr[2] = (unsigned char)((len >> 8) & 0xff);
	hdr[3] = (unsigned char)((len >> 16) & 0xff);
	hdr[4] = (unsigned char)(len >> 24);
	assert_int_equal(write(f->out_fd, hdr + from, to - from),
	    (ssize_t)(to - from));
}

static void
turn(struct world *w, int n)
{
	while (n-- > 0)
		assert_int_equal(loop_once(w->loop, 5), 0);
}

static void
test_result_then_eof_then_reap(void **state)
{
	struct world *w = *state;
	struct fake_worker *f;
	struct proto_progress p;
	unsigned char enc[PROTO_PROGRESS_LEN];
	struct slot *s;
	struct buf b;
	struct proto_result r;

	s = start(w, LONG_MS);
	f = &w->fs.fake[0];
	assert_int_equal(slot_pid(s), f->pid);
	proto_progress_init(&p);
	p.resolved_ms = 1;
	p.connected_ms = 2;
	(void)snprintf(p.addr, sizeof(p.addr), "10.0.0.1:80");
	proto_progress_encode(&p, enc);
	fake_spawn_frame(f, PROTO_FRAME_PROGRESS, enc, sizeof(enc));
	fake_spawn_frame(f, PROTO_FRAME_BODY, "\"x\":1", 5);
	turn(w, 3);
	assert_int_equal(w->n_ev, 0);		/* no result yet */

	/* The result frame split across reads: nothing until its end. */
	memset(&r, 0, sizeof(r));
	r.class = PROTO_OK;
	r.retry_after_ms = -1;
	buf_init(&b, 1 << 16);
	assert_int_equal(proto_result_encode(&r, &b), 0);
	write_header(f, PROTO_FRAME_RESULT, (uint32_t)buf_len(&b), 0, 3);
	turn(w, 2);
	assert_int_equal(w->n_ev, 0);
	write_header(f, PROTO_FRAME_RESULT, (uint32_t)buf_len(&b), 3,
	    PROTO_FRAME_HDR);
	assert_true(buf_len(&b) > 4);
	assert_int_equal(write(f->out_fd, buf_data(&b), 4), 4);
	turn(w, 2);
	assert_int_equal(w->n_ev, 0);
	assert_int_equal(write(f->out_fd, buf_data(&b) + 4, buf_len(&b) - 4),
	    (ssize_t)(buf_len(&b) - 4));
	buf_free(&b);
	TURN_UNTIL(w, w->n_ev == 1);
	assert_int_equal(w->ev[0].ev, SLOT_RESULT);
	assert_ptr_equal(w->ev[0].s, s);
	assert_ptr_equal(w->ev[0].owner, &w->owner);
	assert_true(w->ev[0].has_result);
	assert_int_equal(w->ev[0].body_len, 5);
	assert_non_null(strstr(w->ev[0].where, "10.0.0.1:80"));
	assert_int_equal(w->ev[0].killed, SLOT_KILL_NONE);

	/* EOF alone does not end it. */
	assert_int_equal(close(f->out_fd), 0);
	f->out_fd = -1;
	turn(w, 3);
	assert_int_equal(w->n_ev, 1);
	assert_int_equal(slots_counts(w->t)->busy, 1);
	/* The reap does. */
	f->exited = true;
	slots_reap(w->t);
	assert_int_equal(slot_pid(s), 0);
	TURN_UNTIL(w, w->n_ev == 2);
	assert_int_equal(w->ev[1].ev, SLOT_ENDED);
	assert_ptr_equal(w->ev[1].s, s);
	assert_string_equal(w->ev[1].ended, "");
	turn(w, 3);
	assert_int_equal(w->n_ev, 2);		/* once each */
	assert_int_equal(slots_counts(w->t)->busy, 0);
	assert_int_equal(slots_counts(w->t)->killed, 0);
	assert_false(f->killed);
}

static void
test_reap_then_eof(void **state)
{
	struct world *w = *state;
	struct fake_worker *f;
	struct slot *s;

	s = start(w, LONG_MS);
	f = &w->fs.fake[0];
	fake_spawn_exit(f, 3 << 8);		/* exit status 3 */
	slots_reap(w->t);
	assert_int_equal(slot_pid(s), 0);
	/* Reaped, but its EOF is not read yet: not ended. */
	slots_sweep(w->t, clock_ms());
	assert_int_equal(w->n_ev, 0);
	assert_int_equal(slots_counts(w->t)->busy, 1);
	TURN_UNTIL(w, w->n_ev == 1);
	assert_int_equal(w->ev[0].ev, SLOT_ENDED);
	assert_false(w->ev[0].has_result);
	assert_int_equal(w->ev[0].killed, SLOT_KILL_NONE);
	assert_string_equal(w->ev[0].ended,
	    "worker exited with status 3 without a result");
	assert_string_equal(w->ev[0].where, "the worker reported no progress");
	assert_int_equal(slots_counts(w->t)->busy, 0);
	assert_int_equal(f->n_kills, 0);
}

/*
 * Kill an attempt: SLOT_KILLED at once, SLOT_ENDED only when both its
 * EOF and its reap are in (reap_first picks the order), and no signal
 * after the first, reaped or not (the fake fails the test if a reaped
 * pid is killed).
 */
static void
kill_then_end(struct world *w, enum slot_kill why, bool reap_first)
{
	struct fake_worker *f = &w->fs.fake[0];
	struct slot *s = start(w, LONG_MS);

	slot_kill(s, why);
	assert_int_equal(w->n_ev, 1);
	assert_int_equal(w->ev[0].ev, SLOT_KILLED);
	assert_int_equal(w->ev[0].killed, why);
	assert_false(w->ev[0].has_result);
	assert_int_equal(f->n_kills, 1);
	if (reap_first) {
		slots_reap(w->t);
		assert_int_equal(slot_pid(s), 0);
		slots_sweep(w->t, clock_ms());	/* its EOF is not read */
	} else
		turn(w, 3);	/* the kernel closed its stdout: EOF */
	assert_int_equal(w->n_ev, 1);
	slot_kill(s, SLOT_KILL_CANCEL);
	slots_kill_all(w->t, SLOT_KILL_SHUTDOWN);
	assert_int_equal(f->n_kills, 1);
	assert_int_equal(w->n_ev, 1);
	assert_int_equal(slots_counts(w->t)->killed, 1);
	if (!reap_first)
		slots_reap(w->t);
	TURN_UNTIL(w, w->n_ev == 2);
	assert_int_equal(w->ev[1].ev, SLOT_ENDED);
	assert_int_equal(w->ev[1].killed, why);
	assert_string_equal(w->ev[1].ended, "worker died of signal 9 (Killed)");
	assert_int_equal(slots_counts(w->t)->killed, 1);
	assert_int_equal(slots_counts(w->t)->busy, 0);
}

static void
test_kill_eof_then_reap(void **state)
{
	kill_then_end(*state, SLOT_KILL_CANCEL, false);
}

static void
test_kill_reap_then_eof(void **state)
{
	kill_then_end(*state, SLOT_KILL_LOST, true);
}

/* A worker that delivered its result and exited while something else
 * still holds its stdout: after the reap nothing signals its pid, and
 * the kill timer closes the pipe instead. */
static void
test_exited_pipe_held_after_result(void **state)
{
	struct world *w = *state;
	struct fake_worker *f;
	struct slot *s;
	int64_t kill_at = clock_ms() + 50;

	s = start(w, 50);
	f = &w->fs.fake[0];
	write_result(f, PROTO_OK, true);
	f->exited = true;
	TURN_UNTIL(w, w->n_ev == 1);
	assert_int_equal(w->ev[0].ev, SLOT_RESULT);
	slots_reap(w->t);
	slot_kill(s, SLOT_KILL_CANCEL);
	slots_kill_all(w->t, SLOT_KILL_SHUTDOWN);
	TURN_UNTIL(w, w->n_ev == 2);
	assert_int_equal(w->ev[1].ev, SLOT_ENDED);
	assert_true(w->ev[1].at_ms >= kill_at);
	assert_int_equal(w->ev[1].killed, SLOT_KILL_NONE);
	assert_int_equal(f->n_kills, 0);
	assert_int_equal(slots_counts(w->t)->busy, 0);
}

/* The same without a result: a protocol error, still no signal. */
static void
test_exited_pipe_held_without_result(void **state)
{
	struct world *w = *state;
	struct fake_worker *f;

	(void)start(w, 30);
	f = &w->fs.fake[0];
	f->exited = true;
	slots_reap(w->t);
	TURN_UNTIL(w, w->n_ev == 1);
	assert_int_equal(w->ev[0].ev, SLOT_ENDED);
	assert_string_equal(w->ev[0].ended, "worker protocol error (result "
	    "pipe still open after the worker exited)");
	assert_int_equal(f->n_kills, 0);
}

static void
test_deadline_never_early(void **state)
{
	struct world *w = *state;
	struct fake_worker *f;
	int64_t kill_at = clock_ms() + 80;

	(void)start(w, 80);
	f = &w->fs.fake[0];
	while (clock_ms() < kill_at - 15) {
		assert_int_equal(loop_once(w->loop, 5), 0);
		if (f->killed)
			assert_true(clock_ms() >= kill_at);
	}
	TURN_UNTIL(w, f->killed);
	assert_true(clock_ms() >= kill_at);
	assert_int_equal(w->n_ev, 1);
	assert_int_equal(w->ev[0].ev, SLOT_KILLED);
	assert_int_equal(w->ev[0].killed, SLOT_KILL_DEADLINE);
	assert_true(w->ev[0].at_ms >= kill_at);
	slots_reap(w->t);
	TURN_UNTIL(w, w->n_ev == 2);
	assert_int_equal(w->ev[1].killed, SLOT_KILL_DEADLINE);
	assert_int_equal(f->n_kills, 1);
}

/*
 * What the fake wrote broke the protocol: the slot kills it without a
 * SLOT_KILLED (the exit status is wanted), and SLOT_ENDED says why.
 */
static void
expect_refused(struct world *w, const char *why, bool had_result)
{
	struct fake_worker *f = &w->fs.fake[0];
	const struct event *e;
	char want[192];

	TURN_UNTIL(w, f->killed);
	assert_int_equal(f->n_kills, 1);
	slots_reap(w->t);
	TURN_UNTIL(w, n_events(w, SLOT_ENDED) == 1);
	assert_int_equal(n_events(w, SLOT_KILLED), 0);
	assert_int_equal(n_events(w, SLOT_RESULT), had_result ? 1 : 0);
	e = &w->ev[w->n_ev - 1];
	assert_int_equal(e->ev, SLOT_ENDED);
	assert_int_equal(e->killed, SLOT_KILL_GARBAGE);
	(void)snprintf(want, sizeof(want), "worker protocol error (%s)", why);
	assert_string_equal(e->ended, want);
	assert_int_equal(slots_counts(w->t)->killed, had_result ? 0 : 1);
	assert_int_equal(slots_counts(w->t)->busy, 0);
}

static void
test_refuse_bad_frame(void **state)
{
	struct world *w = *state;

	(void)start(w, LONG_MS);
	write_header(&w->fs.fake[0], 'X', 0, 0, PROTO_FRAME_HDR);
	expect_refused(w, "bad frame", false);
}

static void
test_refuse_frame_after_result(void **state)
{
	struct world *w = *state;
	unsigned char enc[PROTO_PROGRESS_LEN];
	struct proto_progress p;

	(void)start(w, LONG_MS);
	proto_progress_init(&p);
	proto_progress_encode(&p, enc);
	write_result(&w->fs.fake[0], PROTO_OK, true);
	fake_spawn_frame(&w->fs.fake[0], PROTO_FRAME_PROGRESS, enc,
	    sizeof(enc));
	expect_refused(w, "frame after the result", true);
	assert_int_equal(w->ev[0].ev, SLOT_RESULT);
}

static void
test_frame_at_cap(void **state)
{
	struct world *w = *state;
	char *body;

	body = malloc(FRAME_MAX);
	assert_non_null(body);
	memset(body, 'x', FRAME_MAX);
	(void)start(w, LONG_MS);
	fake_spawn_frame(&w->fs.fake[0], PROTO_FRAME_BODY, body, FRAME_MAX);
	write_result(&w->fs.fake[0], PROTO_OK, false);
	TURN_UNTIL(w, w->n_ev == 1);
	assert_int_equal(w->ev[0].ev, SLOT_RESULT);
	assert_int_equal(w->ev[0].body_len, FRAME_MAX);
	free(body);
}

static void
test_refuse_over_cap(void **state)
{
	struct world *w = *state;
	char *body;

	body = malloc(FRAME_MAX + 1);
	assert_non_null(body);
	memset(body, 'x', FRAME_MAX + 1);
	(void)start(w, LONG_MS);
	fake_spawn_frame(&w->fs.fake[0], PROTO_FRAME_BODY, body,
	    FRAME_MAX + 1);
	free(body);
	expect_refused(w, "bad frame", false);
}

static void
test_refuse_bad_progress(void **state)
{
	struct world *w = *state;

	(void)start(w, LONG_MS);
	fake_spawn_frame(&w->fs.fake[0], PROTO_FRAME_PROGRESS, "abc", 3);
	expect_refused(w, "bad progress frame", false);
}

static void
test_refuse_ok_without_body(void **state)
{
	struct world *w = *state;

	(void)start(w, LONG_MS);
	write_result(&w->fs.fake[0], PROTO_OK, false);
	expect_refused(w, "ok result without a body", false);
}

static void
test_refuse_cut_short(void **state)
{
	struct world *w = *state;
	struct fake_worker *f;

	(void)start(w, LONG_MS);
	f = &w->fs.fake[0];
	write_header(f, PROTO_FRAME_BODY, 100, 0, PROTO_FRAME_HDR);
	assert_int_equal(write(f->out_fd, "0123456789", 10), 10);
	/* It closes its stdout mid-frame but lives on: killed at once,
	 * not left to its deadline. */
	assert_int_equal(close(f->out_fd), 0);
	f->out_fd = -1;
	expect_refused(w, "result cut short", false);
}

static void
test_counts(void **state)
{
	struct world *w = *state;
	const struct slot_counts *c = slots_counts(w->t);
	struct slot *a, *b, *free_slot;
	struct job job;

	a = start(w, LONG_MS);
	b = start(w, LONG_MS);
	assert_int_equal(c->started, 2);
	assert_int_equal(c->busy, 2);
	assert_int_equal(c->warm, 0);
	assert_false(slots_are_idle(w->t));

	/* A failed fork leaves the slot free and counts nothing else. */
	free_slot = slots_pick(w->t);
	make_job(&job);
	w->fs.fail_next = 1;
	assert_int_equal(slot_start(free_slot, &job, &w->owner,
	    clock_ms() + LONG_MS), -1);
	assert_int_equal(c->spawn_failures, 1);
	assert_int_equal(c->started, 2);
	assert_int_equal(c->busy, 2);
	assert_ptr_equal(slots_pick(w->t), free_slot);
	assert_null(slot_owner(free_slot));

	/* Killed with no result counts; after its result it does not. */
	slot_kill(a, SLOT_KILL_CANCEL);
	assert_int_equal(c->killed, 1);
	write_result(&w->fs.fake[1], PROTO_OK, true);
	TURN_UNTIL(w, n_events(w, SLOT_RESULT) == 1);
	slot_kill(b, SLOT_KILL_SHUTDOWN);
	assert_int_equal(w->fs.fake[1].n_kills, 1);
	assert_int_equal(c->killed, 1);
	assert_int_equal(n_events(w, SLOT_KILLED), 1);
	slots_reap(w->t);
	TURN_UNTIL(w, c->busy == 0);
	assert_int_equal(n_events(w, SLOT_ENDED), 2);
	assert_true(slots_are_idle(w->t));

	/* Warm workers are busy and warm, and idle; killing them is no
	 * kill of an attempt. */
	slots_top_up(w->t, 2, &warm_tmpl, clock_ms());
	assert_int_equal(c->started, 4);
	assert_int_equal(c->busy, 2);
	assert_int_equal(c->warm, 2);
	assert_true(slots_are_idle(w->t));
	slots_kill_all(w->t, SLOT_KILL_SHUTDOWN);
	assert_int_equal(c->killed, 1);
	assert_int_equal(n_events(w, SLOT_KILLED), 1);
	slots_reap(w->t);
	TURN_UNTIL(w, c->busy == 0);
	assert_int_equal(c->warm, 0);
	assert_int_equal(n_events(w, SLOT_ENDED), 4);
	assert_null(w->ev[w->n_ev - 1].owner);
}

/* Read a warm fake's stdin to EOF. */
static void
read_job(struct fake_worker *f, char *out, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while ((n = read(f->job_fd, out + got, len - 1 - got)) > 0)
		got += (size_t)n;
	assert_int_equal(n, 0);
	out[got] = '\0';
}

static void
test_pick_prefers_warm(void **state)
{
	struct world *w = *state;
	const struct slot_counts *c = slots_counts(w->t);
	struct fake_worker *warm;
	struct slot *s;
	struct job job;
	char text[1024];

	/* Slot 0 busy with an attempt, slot 1 warm, then slot 0 free:
	 * the warm worker is picked over the free slot before it. */
	(void)start(w, LONG_MS);
	slots_top_up(w->t, 1, &warm_tmpl, clock_ms());
	assert_int_equal(c->warm, 1);
	warm = &w->fs.fake[1];
	assert_true(warm->warm);
	fake_spawn_exit(&w->fs.fake[0], 0);
	slots_reap(w->t);
	TURN_UNTIL(w, c->busy == 1);
	s = slots_pick(w->t);
	assert_int_equal(slot_pid(s), warm->pid);

	/* It takes the job on its stdin; no fork. */
	make_job(&job);
	job.attempt = 2;
	assert_int_equal(slot_start(s, &job, &w->owner, clock_ms() + LONG_MS),
	    0);
	assert_int_equal(c->started, 2);
	assert_int_equal(c->warm, 0);
	read_job(warm, text, sizeof(text));
	assert_non_null(strstr(text, "\"input\":[\"a\"]"));
	assert_non_null(strstr(text, "\"attempt\":2"));
	write_result(warm, PROTO_OK, true);
	TURN_UNTIL(w, n_events(w, SLOT_RESULT) == 1);
	assert_ptr_equal(w->ev[w->n_ev - 1].s, s);
	assert_ptr_equal(w->ev[w->n_ev - 1].owner, &w->owner);

	/* A warm worker that died is not picked, even before its EOF. */
	slots_top_up(w->t, 1, &warm_tmpl, clock_ms());
	assert_int_equal(c->warm, 1);
	fake_spawn_exit(&w->fs.fake[2], 0);
	slots_reap(w->t);
	s = slots_pick(w->t);
	assert_non_null(s);
	assert_int_equal(slot_pid(s), 0);
}

static void
test_warm_top_up_limits(void **state)
{
	struct world *w = *state;
	const struct slot_counts *c = slots_counts(w->t);
	int64_t now = clock_ms();

	/* After a failed fork it waits a second before trying again. */
	w->fs.fail_next = 1;
	slots_top_up(w->t, 1, &warm_tmpl, now);
	assert_int_equal(c->spawn_failures, 1);
	assert_int_equal(c->warm, 0);
	slots_top_up(w->t, 1, &warm_tmpl, now + 999);
	assert_int_equal(w->fs.n_fakes, 0);
	slots_top_up(w->t, 1, &warm_tmpl, now + 1000);
	assert_int_equal(c->warm, 1);
	/* Never more than asked, nor more than the slots. */
	slots_top_up(w->t, 1, &warm_tmpl, now + 1000);
	assert_int_equal(c->warm, 1);
	slots_top_up(w->t, 10, &warm_tmpl, now + 1000);
	assert_int_equal(c->warm, N_SLOTS);
	assert_int_equal(w->fs.n_fakes, N_SLOTS);
	/* Every slot warm: slots_pick still has one to give. */
	assert_int_equal(slot_pid(slots_pick(w->t)), w->fs.fake[0].pid);
}

static void
test_warm_forks_a_few_a_turn(void **state)
{
	struct world *w = *state;
	const struct slot_counts *c;
	struct slots *big;
	int turns;

	big = slots_new(w->loop, &w->fs.sp, 12, FRAME_MAX, "api.test", false,
	    on_event, w);
	assert_non_null(big);
	c = slots_counts(big);
	slots_top_up(big, 12, &warm_tmpl, clock_ms());
	assert_true(c->warm > 0 && c->warm < 12);
	for (turns = 1; c->warm < 12 && turns < 12; turns++)
		slots_top_up(big, 12, &warm_tmpl, clock_ms());
	assert_int_equal(c->warm, 12);
	assert_true(turns > 2);
	slots_free(big);
	assert_int_equal(w->n_ev, 12);		/* each ended, idle */
	for (size_t i = 0; i < w->fs.n_fakes; i++)
		assert_true(w->fs.fake[i].reaped);
}

static void
test_detached_gets_only_ended(void **state)
{
	struct world *w = *state;
	struct slot *s;

	s = start(w, LONG_MS);
	slot_detach(s);
	assert_null(slot_owner(s));
	write_result(&w->fs.fake[0], PROTO_OK, true);
	turn(w, 3);
	slot_kill(s, SLOT_KILL_LOST);
	assert_int_equal(w->n_ev, 0);
	slots_reap(w->t);
	TURN_UNTIL(w, w->n_ev == 1);
	assert_int_equal(w->ev[0].ev, SLOT_ENDED);
}

static void
test_free_kills_reaps_closes(void **state)
{
	struct world *w = *state;
	int fds_before = fake_spawn_open_fds();
	struct fake_worker *held;
	size_t i;

	(void)start(w, LONG_MS);		/* running */
	(void)start(w, LONG_MS);		/* exited, pipe held, reaped */
	held = &w->fs.fake[1];
	held->exited = true;
	slots_reap(w->t);
	slots_top_up(w->t, 1, &warm_tmpl, clock_ms());	/* warm */
	assert_int_equal(slots_counts(w->t)->busy, 3);
	slots_free(w->t);
	w->t = NULL;
	assert_int_equal(w->fs.fake[0].n_kills, 1);
	assert_int_equal(held->n_kills, 0);
	assert_int_equal(w->fs.fake[2].n_kills, 1);
	for (i = 0; i < w->fs.n_fakes; i++)
		assert_true(w->fs.fake[i].reaped);
	/* The running one was killed, then all three ended. */
	assert_int_equal(n_events(w, SLOT_KILLED), 1);
	assert_int_equal(w->ev[0].ev, SLOT_KILLED);
	assert_int_equal(w->ev[0].killed, SLOT_KILL_SHUTDOWN);
	assert_int_equal(n_events(w, SLOT_ENDED), 3);
	fake_spawn_close(&w->fs);
	assert_int_equal(fake_spawn_open_fds(), fds_before);
	slots_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_result_then_eof_then_reap,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_reap_then_eof, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_kill_eof_then_reap, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_kill_reap_then_eof, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_exited_pipe_held_after_result, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_exited_pipe_held_without_result, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadline_never_early,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_bad_frame, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_refuse_frame_after_result,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_frame_at_cap, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_refuse_over_cap, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_refuse_bad_progress, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_refuse_ok_without_body,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_cut_short, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pick_prefers_warm, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_warm_top_up_limits, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_warm_forks_a_few_a_turn,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_detached_gets_only_ended,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_kills_reaps_closes,
		    setup, teardown),
	};

	/* A warm worker's stdin may be gone when its job is written. */
	(void)signal(SIGPIPE, SIG_IGN);
	log_init("test_slot", LOG_LEVEL_ERROR, false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
