/*
 * test_loop: the one poll loop, supervisor/core/loop. Proves that hooks
 * run phase by phase in the order added, and that one removed during a
 * turn runs no more; that a ready descriptor reaches its callback with
 * its events, and one unwatched (or closed and reused) by an earlier
 * callback in the same turn gets no stale event; that timers fire in
 * deadline order, after the descriptors, never early; that a disarmed
 * timer never fires and arming grows the heap past its start size; that
 * loop_wake makes the next poll return at once; and loop_stop ends
 * loop_run after the turn.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "core/loop.h"

static char trace[64];
static size_t n_trace;

static void
mark(char c)
{
	if (n_trace < sizeof(trace) - 1)
		trace[n_trace++] = c;
	trace[n_trace] = '\0';
}

static void
reset_trace(void)
{
	n_trace = 0;
	trace[0] = '\0';
}

static void
hook(void *arg, int64_t now)
{
	(void)now;
	mark(*(const char *)arg);
}

static struct loop *removing_loop;

static void
remover(void *arg, int64_t now)
{
	(void)now;
	mark('r');
	loop_remove_hook(removing_loop, LOOP_OUTPUT, hook, arg);
}

static void
test_hook_phases(void **state)
{
	static const char in = 'i', work = 'w', out = 'o', out2 = 'p';
	struct loop *l = loop_new();

	(void)state;
	reset_trace();
	assert_int_equal(loop_add_hook(l, LOOP_OUTPUT, hook,
	    (void *)(uintptr_t)&out), 0);
	assert_int_equal(loop_add_hook(l, LOOP_WORK, hook,
	    (void *)(uintptr_t)&work), 0);
	assert_int_equal(loop_add_hook(l, LOOP_INPUT, hook,
	    (void *)(uintptr_t)&in), 0);
	assert_int_equal(loop_add_hook(l, LOOP_OUTPUT, hook,
	    (void *)(uintptr_t)&out2), 0);
	assert_int_equal(loop_once(l, 0), 0);
	assert_string_equal(trace, "iwop");
	/* Removed by a hook that runs first in its phase: not run. */
	removing_loop = l;
	reset_trace();
	assert_int_equal(loop_add_hook(l, LOOP_WORK, remover,
	    (void *)(uintptr_t)&out), 0);
	assert_int_equal(loop_once(l, 0), 0);
	assert_string_equal(trace, "iwrp");
	reset_trace();
	loop_remove_hook(l, LOOP_WORK, remover, (void *)(uintptr_t)&out);
	assert_int_equal(loop_once(l, 0), 0);
	assert_string_equal(trace, "iwp");
	loop_free(l);
}

struct fds {
	struct loop	*loop;
	int		 a[2];
	int		 b[2];
	short		 revents_a;
};

static void
on_a(void *arg, int fd, short revents)
{
	struct fds *f = arg;

	(void)fd;
	mark('a');
	f->revents_a = revents;
	/* b is ready too; once unwatched it must not be called. */
	loop_unwatch(f->loop, f->b[0]);
}

static void
on_b(void *arg, int fd, short revents)
{
	(void)arg;
	(void)fd;
	(void)revents;
	mark('b');
}

static void
test_fd_events_and_stale(void **state)
{
	struct fds f;
	char c;

	(void)state;
	reset_trace();
	memset(&f, 0, sizeof(f));
	f.loop = loop_new();
	assert_int_equal(pipe(f.a), 0);
	assert_int_equal(pipe(f.b), 0);
	assert_int_equal(loop_watch(f.loop, f.a[0], POLLIN, on_a, &f), 0);
	assert_int_equal(loop_watch(f.loop, f.b[0], POLLIN, on_b, &f), 0);
	assert_int_equal(loop_watch(f.loop, -1, POLLIN, on_b, &f), -1);
	/* Nothing ready: the poll waits its time and calls nobody. */
	assert_int_equal(loop_once(f.loop, 10), 0);
	assert_string_equal(trace, "");
	assert_int_equal(write(f.a[1], "x", 1), 1);
	assert_int_equal(write(f.b[1], "x", 1), 1);
	assert_int_equal(loop_once(f.loop, 1000), 0);
	assert_string_equal(trace, "a");
	assert_true((f.revents_a & POLLIN) != 0);
	/* Watched again, b's byte is seen. */
	assert_int_equal(loop_watch(f.loop, f.b[0], POLLIN, on_b, &f), 0);
	loop_unwatch(f.loop, f.a[0]);
	assert_int_equal(loop_once(f.loop, 1000), 0);
	assert_string_equal(trace, "ab");
	assert_int_equal(read(f.b[0], &c, 1), 1);
	/* Events 0 still hears a hang-up. */
	reset_trace();
	loop_events(f.loop, f.b[0], 0);
	assert_int_equal(close(f.b[1]), 0);
	assert_int_equal(loop_once(f.loop, 1000), 0);
	assert_string_equal(trace, "b");
	loop_free(f.loop);
	(void)close(f.a[0]);
	(void)close(f.a[1]);
	(void)close(f.b[0]);
}

static int64_t fired_at[80];
static size_t n_fired;

static void
on_timer(void *owner, int64_t now)
{
	(void)owner;
	fired_at[n_fired++] = now;
	mark('t');
}

static void
test_timers(void **state)
{
	struct timer tm[80];
	struct loop *l = loop_new();
	int64_t t0 = clock_ms(), until;
	size_t i;

	(void)state;
	reset_trace();
	n_fired = 0;
	/* More than the heap's start size: it grows. */
	for (i = 0; i < 80; i++) {
		loop_timer_init(&tm[i], on_timer, &tm[i]);
		loop_arm(l, &tm[i], t0 + 30 + (int64_t)(79 - i) % 7);
	}
	loop_disarm(l, &tm[5]);
	assert_false(timer_is_armed(&tm[5]));
	until = t0 + 3000;
	while (n_fired < 79 && clock_ms() < until)
		assert_int_equal(loop_once(l, -1), 0);
	assert_int_equal(n_fired, 79);
	for (i = 0; i < 79; i++) {
		assert_true(fired_at[i] >= t0 + 30);	/* never early */
		if (i > 0)
			assert_true(fired_at[i] >= fired_at[i - 1]);
	}
	/* Nothing armed: a bounded wait returns with nothing fired. */
	assert_int_equal(loop_once(l, 5), 0);
	assert_int_equal(n_fired, 79);
	loop_free(l);
}

static void
stopper(void *arg, int64_t now)
{
	(void)now;
	mark('s');
	loop_stop(arg);
}

static void
test_wake_and_stop(void **state)
{
	struct loop *l = loop_new();
	struct timer far;
	int64_t t0;

	(void)state;
	reset_trace();
	/* A timer far away: without a wake the poll would wait for it. */
	loop_timer_init(&far, on_timer, NULL);
	loop_arm(l, &far, clock_ms() + 60000);
	loop_wake(l);
	t0 = clock_ms();
	assert_int_equal(loop_once(l, -1), 0);
	assert_true(clock_ms() - t0 < 1000);
	assert_int_equal(loop_add_hook(l, LOOP_OUTPUT, stopper, l), 0);
	assert_int_equal(loop_run(l), 0);
	assert_string_equal(trace, "s");
	loop_free(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hook_phases),
		cmocka_unit_test(test_fd_events_and_stale),
		cmocka_unit_test(test_timers),
		cmocka_unit_test(test_wake_and_stop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
