/*
 * window: counts over a sliding window of the last WINDOW_S seconds, in
 * one-second buckets of a ring, for the retry budget (engine/budget) and
 * the circuit breaker's failure rate (engine/breaker). A bucket is
 * cleared when time comes round to it again, so memory is fixed; a sum
 * walks the WINDOW_S buckets. Up to WINDOW_KINDS counters per bucket,
 * named by the caller's small integers.
 */
#ifndef EMBEDWATCH_WINDOW_H
#define EMBEDWATCH_WINDOW_H

#include <stdint.h>

#define WINDOW_S	10
#define WINDOW_KINDS	3

/* Callers embed it; the fields are private. */
struct window {
	int64_t		 sec[WINDOW_S];	/* the second each bucket holds */
	uint32_t	 n[WINDOW_S][WINDOW_KINDS];
};

/* Start (or start over) empty. */
void	 window_init(struct window *w);

/* Count one of kind (< WINDOW_KINDS) at now (ms, monotonic). */
void	 window_add(struct window *w, unsigned kind, int64_t now);

/* How many of kind in the WINDOW_S seconds up to now. */
uint64_t window_sum(const struct window *w, unsigned kind, int64_t now);

/* How many of kind in now's own second. */
uint64_t window_this_second(const struct window *w, unsigned kind,
	    int64_t now);

#endif
