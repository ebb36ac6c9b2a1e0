/*
 * fairq: fair lines of requests waiting for a worker.
 *
 * Requests submitted with the same line wait in it; free workers are
 * handed out round-robin between the lines that have requests ready,
 * and a line never has more than max_running running requests. A mode
 * embeds one line per client (serve) and keeps it alive until its last
 * request is answered; requests without a line use the default one.
 * The counts are the engine's to keep: waiting (ready or backing off,
 * to bound memory) and running (to cap a line's share of the workers).
 */
#ifndef EMBEDWATCH_FAIRQ_H
#define EMBEDWATCH_FAIRQ_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>

#include "engine/request.h"

TAILQ_HEAD(request_list, request);

/* One line. Embedded by its owner; every field is private. */
struct fairq_line {
	struct request_list	 ready;
	TAILQ_ENTRY(fairq_line)	 ring;
	bool			 in_ring;
	size_t			 n_waiting;	/* ready or backing off */
	size_t			 n_running;
	size_t			 max_waiting;	/* 0: no limit of its own */
	size_t			 max_running;	/* 0: no limit of its own */
};

/* The lines with requests ready. Every field is private. */
struct fairq {
	TAILQ_HEAD(, fairq_line) ring;
	struct fairq_line	 default_line;
	size_t			 n_waiting;	/* over every line */
};

void	 fairq_init(struct fairq *q);
void	 fairq_line_init(struct fairq_line *l, size_t max_waiting,
	    size_t max_running);

/* Has l as many waiting requests as it may hold? */
bool	 fairq_line_is_full(const struct fairq_line *l);

/* Put req (state REQ_STATE_QUEUED) at the head of its line (a retry,
 * which has waited longest) or at its tail. */
void	 fairq_push(struct fairq *q, struct request *req, bool at_head);

/* Take req, which is ready, out of its line. */
void	 fairq_remove(struct fairq *q, struct request *req);

/* Take the next request to run: the head of the first line in the ring
 * that may run one more; that line goes to the back of the ring. NULL
 * when none may run. Cost: O(lines) at worst, stepping over lines at
 * their max_running. */
struct request *fairq_next(struct fairq *q);

/* The first ready request of any line, for draining; NULL if none. */
struct request *fairq_first(struct fairq *q);

/* Call fn(arg, req) for every ready request, line by line; fn may take
 * req (and only req) out of its line, and may push new requests. */
void	 fairq_walk(struct fairq *q, void (*fn)(void *arg, struct request *req),
	    void *arg);

/* Count req as waiting (delta 1) or no longer (-1); running likewise. */
void	 fairq_count_waiting(struct fairq *q, struct request *req, int delta);
void	 fairq_count_running(struct fairq *q, struct request *req, int delta);

/* Requests waiting over every line. */
size_t	 fairq_n_waiting(const struct fairq *q);

#endif
