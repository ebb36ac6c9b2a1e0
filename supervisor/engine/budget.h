/*
 * budget: the retry budget, as Envoy's retry_budget: retries and hedges
 * together stay under a share of first attempts over a sliding window,
 * hedges alone under a smaller share, so an API that fails or slows
 * down never sees several times its normal traffic from us. A floor
 * lets a few extra attempts through every second however little
 * traffic there is (Envoy's min_retry_concurrency, as a rate).
 *
 * The window is engine/window's: WINDOW_S one-second buckets in a ring,
 * fixed memory, O(WINDOW_S) a question.
 */
#ifndef EMBEDWATCH_BUDGET_H
#define EMBEDWATCH_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/window.h"

enum budget_kind {
	BUDGET_FIRST,		/* a request's first attempt */
	BUDGET_RETRY,		/* an attempt after a failed one */
	BUDGET_HEDGE		/* an attempt beside a running one */
};

/* Callers embed it; the fields are private. */
struct budget {
	unsigned	 retry_pct;	/* retries + hedges; 0: no budget */
	unsigned	 hedge_pct;	/* hedges alone; 0: no share of
					 * their own */
	unsigned	 floor_per_s;	/* extras always allowed a second */
	struct window	 counts;	/* by kind */
};

/* Start empty with these shares (percent of first attempts) and floor. */
void	 budget_init(struct budget *b, unsigned retry_pct, unsigned hedge_pct,
	    unsigned floor_per_s);

/* Count an attempt of kind started at now (ms, monotonic). */
void	 budget_count(struct budget *b, enum budget_kind kind, int64_t now);

/* May an attempt of kind (BUDGET_RETRY or BUDGET_HEDGE) start now?
 * Always true for BUDGET_FIRST and with no budget. */
bool	 budget_allows(struct budget *b, enum budget_kind kind, int64_t now);

#endif
