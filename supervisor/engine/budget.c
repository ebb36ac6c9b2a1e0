/*
 * budget: see budget.h.
 */
#include "engine/budget.h"

void
budget_init(struct budget *b, unsigned retry_pct, unsigned hedge_pct,
    unsigned floor_per_s)
{
	b->retry_pct = retry_pct;
	b->hedge_pct = hedge_pct;
	b->floor_per_s = floor_per_s;
	window_init(&b->counts);
}

void
budget_count(struct budget *b, enum budget_kind kind, int64_t now)
{
	window_add(&b->counts, kind, now);
}

bool
budget_allows(struct budget *b, enum budget_kind kind, int64_t now)
{
	uint64_t first, retry, hedge;

	if (kind == BUDGET_FIRST || b->retry_pct == 0)
		return true;
	if (window_this_second(&b->counts, BUDGET_RETRY, now) +
	    window_this_second(&b->counts, BUDGET_HEDGE, now) < b->floor_per_s)
		return true;
	first = window_sum(&b->counts, BUDGET_FIRST, now);
	retry = window_sum(&b->counts, BUDGET_RETRY, now);
	hedge = window_sum(&b->counts, BUDGET_HEDGE, now);
	/* Allowed while (extras + 1) <= pct% of first attempts. */
	if ((retry + hedge + 1) * 100 > first * b->retry_pct)
		return false;
	if (kind == BUDGET_HEDGE && b->hedge_pct > 0 &&
	    (hedge + 1) * 100 > first * b->hedge_pct)
		return false;
	return true;
}
