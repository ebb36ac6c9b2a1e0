/*
 * latency: see latency.h. Bucket edges are powers of 2^(1/4), computed
 * with integer steps from a table of the four fractional powers, so no
 * libm is needed.
 */
#include <string.h>

#include "engine/latency.h"

/* 2^(k/4) * 1000 for k = 0..3. */
static const long frac_milli[4] = { 1000, 1189, 1414, 1682 };

/* Lower edge of bucket i in ms (bucket 0 starts at 0). */
static long
edge_ms(unsigned i)
{
	long whole = 1L << (i / 4);

	return (whole * frac_milli[i % 4] + 500) / 1000;
}

static unsigned
bucket_of(long ms)
{
	unsigned i;

	for (i = 1; i < LATENCY_BUCKETS; i++)
		if (ms < edge_ms(i))
			return i - 1;
	return LATENCY_BUCKETS - 1;
}

void
latency_init(struct latency *lat)
{
	memset(lat, 0, sizeof(*lat));
}

void
latency_add(struct latency *lat, long ms)
{
	unsigned i;

	if (ms < 1)
		ms = 1;
	lat->count[bucket_of(ms)]++;
	lat->total++;
	lat->n_samples++;
	if (lat->total < LATENCY_DECAY_AT)
		return;
	lat->total = 0;
	for (i = 0; i < LATENCY_BUCKETS; i++) {
		lat->count[i] /= 2;
		lat->total += lat->count[i];
	}
}

uint64_t
latency_samples(const struct latency *lat)
{
	return lat->n_samples;
}

long
latency_quantile(const struct latency *lat, double q)
{
	double want;
	uint32_t sum = 0, below;
	unsigned i;
	long lo, hi;

	if (lat->total == 0)
		return -1;
	want = q * lat->total;
	for (i = 0; i < LATENCY_BUCKETS; i++) {
		sum += lat->count[i];
		if (sum > 0 && (double)sum >= want)
			break;
	}
	if (i >= LATENCY_BUCKETS - 1)
		return edge_ms(LATENCY_BUCKETS - 1);
	/* Linearly within the bucket, as if its samples were spread evenly
	 * over it: the error stays under the bucket's width. */
	lo = edge_ms(i);
	hi = edge_ms(i + 1);
	below = sum - lat->count[i];
	return lo + (long)((double)(hi - lo) * (want - below) /
	    lat->count[i] + 0.999);
}
