/*
 * latency: a streaming estimate of a high percentile of recent attempt
 * latencies, in bounded memory, for the hedge delay (engine/policy).
 *
 * A log-bucket histogram: bucket i holds samples in [2^(i/4), 2^((i+1)/4))
 * ms, so an estimate is within 19% of the true value (interpolated in
 * its bucket), from 1 ms to about an hour in LATENCY_BUCKETS buckets. Recent samples count most:
 * once LATENCY_DECAY_AT samples are in, every count is halved, so the
 * estimate follows a change within a few hundred samples and the oldest
 * weigh nothing. O(LATENCY_BUCKETS) per query, O(1) per sample.
 */
#ifndef EMBEDWATCH_LATENCY_H
#define EMBEDWATCH_LATENCY_H

#include <stdint.h>

#define LATENCY_BUCKETS		88	/* 2^(88/4) ms: over an hour */
#define LATENCY_DECAY_AT	512	/* total at which counts are halved */

/* Callers embed it; the fields are private. Zeroed is empty. */
struct latency {
	uint32_t	 count[LATENCY_BUCKETS];
	uint32_t	 total;		/* sum of count, after decay */
	uint64_t	 n_samples;	/* ever added */
};

/* Start empty. */
void	 latency_init(struct latency *lat);

/* Add one latency of ms milliseconds (below 1 counts as 1). */
void	 latency_add(struct latency *lat, long ms);

/* Samples ever added (for "enough samples yet?"). */
uint64_t latency_samples(const struct latency *lat);

/*
 * The q-quantile (0 < q < 1) of the recent samples in ms: in the bucket
 * where the cumulative count reaches q of the total, interpolated
 * linearly between its edges. -1 when empty.
 */
long	 latency_quantile(const struct latency *lat, double q);

#endif
