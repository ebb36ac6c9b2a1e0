/*
 * fairq: see fairq.h. Invariant: a line is in the ring exactly when its
 * ready list is not empty.
 */
#include <sys/types.h>

#include "engine/fairq.h"

void
fairq_init(struct fairq *q)
{
	TAILQ_INIT(&q->ring);
	fairq_line_init(&q->default_line, 0, 0);
	q->n_waiting = 0;
}

void
fairq_line_init(struct fairq_line *l, size_t max_waiting, size_t max_running)
{
	TAILQ_INIT(&l->ready);
	l->in_ring = false;
	l->n_waiting = 0;
	l->n_running = 0;
	l->max_waiting = max_waiting;
	l->max_running = max_running;
}

bool
fairq_line_is_full(const struct fairq_line *l)
{
	return l->max_waiting > 0 && l->n_waiting >= l->max_waiting;
}

static struct fairq_line *
line_of(struct fairq *q, const struct request *req)
{
	return req->line != NULL ? req->line : &q->default_line;
}

void
fairq_push(struct fairq *q, struct request *req, bool at_head)
{
	struct fairq_line *l = line_of(q, req);

	if (at_head)
		TAILQ_INSERT_HEAD(&l->ready, req, entry);
	else
		TAILQ_INSERT_TAIL(&l->ready, req, entry);
	if (!l->in_ring) {
		TAILQ_INSERT_TAIL(&q->ring, l, ring);
		l->in_ring = true;
	}
}

void
fairq_remove(struct fairq *q, struct request *req)
{
	struct fairq_line *l = line_of(q, req);

	TAILQ_REMOVE(&l->ready, req, entry);
	if (TAILQ_EMPTY(&l->ready) && l->in_ring) {
		TAILQ_REMOVE(&q->ring, l, ring);
		l->in_ring = false;
	}
}

struct request *
fairq_next(struct fairq *q)
{
	struct fairq_line *l;
	struct request *req;

	TAILQ_FOREACH(l, &q->ring, ring) {
		if (l->max_running > 0 && l->n_running >= l->max_running)
			continue;
		req = TAILQ_FIRST(&l->ready);
		fairq_remove(q, req);
		if (l->in_ring) {
			TAILQ_REMOVE(&q->ring, l, ring);
			TAILQ_INSERT_TAIL(&q->ring, l, ring);
		}
		return req;
	}
	return NULL;
}

struct request *
fairq_first(struct fairq *q)
{
	struct fairq_line *l = TAILQ_FIRST(&q->ring);

	return l != NULL ? TAILQ_FIRST(&l->ready) : NULL;
}

void
fairq_walk(struct fairq *q, void (*fn)(void *, struct request *), void *arg)
{
	struct fairq_line *l, *next_l;
	struct request *req, *next;

	for (l = TAILQ_FIRST(&q->ring); l != NULL; l = next_l) {
		next_l = TAILQ_NEXT(l, ring);
		for (req = TAILQ_FIRST(&l->ready); req != NULL; req = next) {
			next = TAILQ_NEXT(req, entry);
			fn(arg, req);
		}
	}
}

void
fairq_count_waiting(struct fairq *q, struct request *req, int delta)
{
	q->n_waiting += (size_t)(ssize_t)delta;
	line_of(q, req)->n_waiting += (size_t)(ssize_t)delta;
}

void
fairq_count_running(struct fairq *q, struct request *req, int delta)
{
	line_of(q, req)->n_running += (size_t)(ssize_t)delta;
}

size_t
fairq_n_waiting(const struct fairq *q)
{
	return q->n_waiting;
}
