/*
 * demand: see demand.h. A bucket is reused when its second comes round
 * again; one from an older round counts as empty.
 */
#include "engine/demand.h"

void
demand_note(struct demand *d, size_t n, int64_t now_ms)
{
	int64_t sec = now_ms / 1000;
	size_t i = (size_t)(sec % DEMAND_WINDOW_S);

	if (d->second[i] != sec) {
		d->second[i] = sec;
		d->peak[i] = 0;
		d->starts[i] = 0;
	}
	d->starts[i]++;
	if (n > d->peak[i])
		d->peak[i] = n;
}

size_t
demand_peak(const struct demand *d, int64_t now_ms)
{
	int64_t sec = now_ms / 1000;
	size_t i, peak = 0;

	for (i = 0; i < DEMAND_WINDOW_S; i++)
		if (sec - d->second[i] < DEMAND_WINDOW_S &&
		    d->second[i] <= sec && d->peak[i] > peak)
			peak = d->peak[i];
	return peak;
}

double
demand_rate(const struct demand *d, int64_t now_ms)
{
	int64_t sec = now_ms / 1000;
	size_t i, n = 0;

	for (i = 0; i < DEMAND_WINDOW_S; i++)
		if (sec - d->second[i] < DEMAND_RATE_S && d->second[i] <= sec)
			n += d->starts[i];
	return (double)n / DEMAND_RATE_S;
}
