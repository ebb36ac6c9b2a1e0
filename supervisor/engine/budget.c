/*
 * budget: see budget.h.
 */
#include <string.h>

#include "engine/budget.h"

void
budget_init(struct budget *b, unsigned retry_pct, unsigned hedge_pct,
    unsigned floor_per_s)
{
	unsigned i;

	memset(b, 0, sizeof(*b));
	b->retry_pct = retry_pct;
	b->hedge_pct = hedge_pct;
	b->floor_per_s = floor_per_s;
	for (i = 0; i < BUDGET_WINDOW_S; i++)
		b->sec[i] = -1;
}

/* The bucket of second s, cleared if it last held an older second. */
static unsigned
bucket(struct budget *b, int64_t s)
{
	unsigned i = (unsigned)(s % BUDGET_WINDOW_S);

	if (b->sec[i] != s) {
		b->sec[i] = s;
		memset(b->n[i], 0, sizeof(b->n[i]));
	}
	return i;
}

void
budget_count(struct budget *b, enum budget_kind kind, int64_t now)
{
	b->n[bucket(b, now / 1000)][kind]++;
}

bool
budget_allows(struct budget *b, enum budget_kind kind, int64_t now)
{
	int64_t s = now / 1000;
	uint64_t first = 0, retry = 0, hedge = 0, extra_now;
	unsigned i, cur;

	if (kind == BUDGET_FIRST || b->retry_pct == 0)
		return true;
	cur = bucket(b, s);
	extra_now = b->n[cur][BUDGET_RETRY] + b->n[cur][BUDGET_HEDGE];
	if (extra_now < b->floor_per_s)
		return true;
	for (i = 0; i < BUDGET_WINDOW_S; i++) {
		if (b->sec[i] < 0 || b->sec[i] <= s - BUDGET_WINDOW_S)
			continue;
		first += b->n[i][BUDGET_FIRST];
		retry += b->n[i][BUDGET_RETRY];
		hedge += b->n[i][BUDGET_HEDGE];
	}
	/* Allowed while (extras + 1) <= pct% of first attempts. */
	if ((retry + hedge + 1) * 100 > first * b->retry_pct)
		return false;
	if (kind == BUDGET_HEDGE && b->hedge_pct > 0 &&
	    (hedge + 1) * 100 > first * b->hedge_pct)
		return false;
	return true;
}
