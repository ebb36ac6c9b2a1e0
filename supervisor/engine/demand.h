/*
 * demand: the recent peak of concurrent calls, which sizes the warm pool
 * when --warm is not given: a burst of N calls is met by N workers that
 * are already connected, and an idle service keeps one; and the rate of
 * calls, since a pool drained at that rate must cover the time its
 * refills take to connect (Little's law: rate x refill time).
 *
 * The window is DEMAND_WINDOW_S one-second buckets, each holding the
 * most attempts seen running at once during its second; the peak is the
 * largest bucket still inside the window. O(1) per note, O(window) per
 * peak; no allocation.
 */
#ifndef EMBEDWATCH_DEMAND_H
#define EMBEDWATCH_DEMAND_H

#include <stddef.h>
#include <stdint.h>

#define DEMAND_WINDOW_S	30

/* Callers embed it; the fields are private. Zeroed is empty. */
struct demand {
	size_t	 peak[DEMAND_WINDOW_S];	/* per second, by second % window */
	size_t	 starts[DEMAND_WINDOW_S]; /* attempts started that second */
	int64_t	 second[DEMAND_WINDOW_S]; /* which second each holds */
};

/* An attempt started at now_ms; n attempts run at once now. */
void	 demand_note(struct demand *d, size_t n, int64_t now_ms);

/* Attempts started per second, over the last DEMAND_RATE_S seconds
 * (this one included). */
#define DEMAND_RATE_S	3
double	 demand_rate(const struct demand *d, int64_t now_ms);

/* The most attempts that ran at once in the last DEMAND_WINDOW_S
 * seconds; 0 if none ran. */
size_t	 demand_peak(const struct demand *d, int64_t now_ms);

#endif
