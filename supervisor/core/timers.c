/*
 * timers: see timers.h. Invariant: heap[i]->slot == i + 1 for every armed
 * timer, and a disarmed timer has slot 0.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/timers.h"

int
timers_init(struct timers *t, size_t cap)
{
	t->n = 0;
	t->cap = cap;
	t->heap = calloc(cap > 0 ? cap : 1, sizeof(*t->heap));
	return t->heap == NULL ? -1 : 0;
}

void
timers_free(struct timers *t)
{
	free(t->heap);
	t->heap = NULL;
	t->n = t->cap = 0;
}

int
timers_reserve(struct timers *t, size_t cap)
{
	struct timer **heap;

	if (cap < t->n)
		cap = t->n;
	heap = reallocarray(t->heap, cap > 0 ? cap : 1, sizeof(*heap));
	if (heap == NULL)
		return -1;
	t->heap = heap;
	t->cap = cap;
	return 0;
}

void
timer_init(struct timer *tm, void *owner, int kind)
{
	tm->at_ms = 0;
	tm->owner = owner;
	tm->kind = kind;
	tm->fire = NULL;
	tm->slot = 0;
}

bool
timer_is_armed(const struct timer *tm)
{
	return tm->slot != 0;
}

static void
place(struct timers *t, size_t i, struct timer *tm)
{
	t->heap[i] = tm;
	tm->slot = i + 1;
}

static void
sift_up(struct timers *t, size_t i)
{
	struct timer *tm = t->heap[i];
	size_t parent;

	while (i > 0) {
		parent = (i - 1) / 2;
		if (t->heap[parent]->at_ms <= tm->at_ms)
			break;
		place(t, i, t->heap[parent]);
		i = parent;
	}
	place(t, i, tm);
}

static void
sift_down(struct timers *t, size_t i)
{
	struct timer *tm = t->heap[i];
	size_t child;

	for (;;) {
		child = 2 * i + 1;
		if (child >= t->n)
			break;
		if (child + 1 < t->n &&
		    t->heap[child + 1]->at_ms < t->heap[child]->at_ms)
			child++;
		if (tm->at_ms <= t->heap[child]->at_ms)
			break;
		place(t, i, t->heap[child]);
		i = child;
	}
	place(t, i, tm);
}

int
timers_arm(struct timers *t, struct timer *tm, int64_t at_ms)
{
	if (timer_is_armed(tm))
		timers_disarm(t, tm);
	if (t->n == t->cap) {
		errno = ENOSPC;
		return -1;
	}
	tm->at_ms = at_ms;
	place(t, t->n++, tm);
	sift_up(t, t->n - 1);
	return 0;
}

void
timers_disarm(struct timers *t, struct timer *tm)
{
	size_t i;
	struct timer *last;

	if (!timer_is_armed(tm))
		return;
	i = tm->slot - 1;
	tm->slot = 0;
	last = t->heap[--t->n];
	if (i == t->n)
		return;
	place(t, i, last);
	sift_down(t, i);
	sift_up(t, last->slot - 1);
}

int64_t
timers_next(const struct timers *t)
{
	return t->n > 0 ? t->heap[0]->at_ms : -1;
}

struct timer *
timers_pop_due(struct timers *t, int64_t now_ms)
{
	struct timer *tm;

	if (t->n == 0 || t->heap[0]->at_ms > now_ms)
		return NULL;
	tm = t->heap[0];
	timers_disarm(t, tm);
	return tm;
}
