/*
 * test_fairq: the fair lines of supervisor/engine/fairq. Proves that
 * ready requests are handed out round-robin between lines, a line at its
 * max_running is stepped over, a retry pushed at the head goes first,
 * a line is full at exactly max_waiting, requests without a line share
 * the default one, and a walk may take out the request it is given.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "engine/fairq.h"

static struct request reqs[8];

static struct request *
ready(struct fairq *q, size_t i, struct fairq_line *l, bool at_head)
{
	memset(&reqs[i], 0, sizeof(reqs[i]));
	reqs[i].line = l;
	fairq_push(q, &reqs[i], at_head);
	fairq_count_waiting(q, &reqs[i], 1);
	return &reqs[i];
}

/* Take the next one as the engine does: no longer waiting, running. */
static struct request *
run_next(struct fairq *q)
{
	struct request *req = fairq_next(q);

	if (req != NULL) {
		fairq_count_waiting(q, req, -1);
		fairq_count_running(q, req, 1);
	}
	return req;
}

static void
test_round_robin(void **state)
{
	struct fairq_line a, b;
	struct fairq q;

	(void)state;
	fairq_init(&q);
	fairq_line_init(&a, 0, 0);
	fairq_line_init(&b, 0, 0);
	assert_null(fairq_next(&q));
	ready(&q, 0, &a, false);
	ready(&q, 1, &a, false);
	ready(&q, 2, &a, false);
	ready(&q, 3, &b, false);
	assert_int_equal(fairq_n_waiting(&q), 4);
	assert_ptr_equal(run_next(&q), &reqs[0]);
	assert_ptr_equal(run_next(&q), &reqs[3]);	/* b's turn */
	assert_ptr_equal(run_next(&q), &reqs[1]);
	assert_ptr_equal(run_next(&q), &reqs[2]);
	assert_null(run_next(&q));
	assert_int_equal(fairq_n_waiting(&q), 0);
}

static void
test_max_running_and_full(void **state)
{
	struct fairq_line a, b;
	struct fairq q;

	(void)state;
	fairq_init(&q);
	fairq_line_init(&a, 2, 1);
	fairq_line_init(&b, 0, 0);
	assert_false(fairq_line_is_full(&a));
	ready(&q, 0, &a, false);
	assert_false(fairq_line_is_full(&a));
	ready(&q, 1, &a, false);
	assert_true(fairq_line_is_full(&a));		/* exactly 2 */
	assert_false(fairq_line_is_full(&b));		/* no cap */
	ready(&q, 2, &b, false);
	assert_ptr_equal(run_next(&q), &reqs[0]);
	assert_false(fairq_line_is_full(&a));
	/* a runs its one: only b may go. */
	assert_ptr_equal(run_next(&q), &reqs[2]);
	assert_null(run_next(&q));
	fairq_count_running(&q, &reqs[0], -1);
	assert_ptr_equal(run_next(&q), &reqs[1]);
}

static void
test_head_and_default_line(void **state)
{
	struct fairq q;

	(void)state;
	fairq_init(&q);
	ready(&q, 0, NULL, false);
	ready(&q, 1, NULL, false);
	ready(&q, 2, NULL, true);			/* a retry */
	assert_ptr_equal(fairq_first(&q), &reqs[2]);
	assert_ptr_equal(run_next(&q), &reqs[2]);
	fairq_remove(&q, &reqs[1]);
	fairq_count_waiting(&q, &reqs[1], -1);
	assert_ptr_equal(run_next(&q), &reqs[0]);
	assert_null(fairq_first(&q));
}

static struct fairq *walked_q;
static size_t n_walked;

static void
take_odd(void *arg, struct request *req)
{
	(void)arg;
	n_walked++;
	if ((req - reqs) % 2 == 1) {
		fairq_remove(walked_q, req);
		fairq_count_waiting(walked_q, req, -1);
	}
}

static void
test_walk_removing(void **state)
{
	struct fairq_line a, b;
	struct fairq q;
	size_t i;

	(void)state;
	fairq_init(&q);
	fairq_line_init(&a, 0, 0);
	fairq_line_init(&b, 0, 0);
	for (i = 0; i < 6; i++)
		ready(&q, i, i < 3 ? &a : &b, false);
	walked_q = &q;
	n_walked = 0;
	fairq_walk(&q, take_odd, NULL);
	assert_int_equal(n_walked, 6);
	assert_int_equal(fairq_n_waiting(&q), 3);
	assert_ptr_equal(run_next(&q), &reqs[0]);
	assert_ptr_equal(run_next(&q), &reqs[4]);
	assert_ptr_equal(run_next(&q), &reqs[2]);
	assert_null(run_next(&q));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_robin),
		cmocka_unit_test(test_max_running_and_full),
		cmocka_unit_test(test_head_and_default_line),
		cmocka_unit_test(test_walk_removing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
