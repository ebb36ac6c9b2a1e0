/*
 * metrics: serve's counters in the Prometheus text format (version
 * 0.0.4), for GET /metrics. The engine's own counters (engine/stats) are
 * read at scrape time; what only the fronts see is kept here: attempts
 * and latency per answer (over the Unix socket and HTTP alike), HTTP
 * responses by status, and the connection gauges the caller passes in.
 *
 * Plain numbers, no allocation but the output buffer; one observation
 * is O(buckets), a scrape O(codes + buckets + statuses).
 */
#ifndef EMBEDWATCH_METRICS_H
#define EMBEDWATCH_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "engine/request.h"
#include "engine/stats.h"

#define METRICS_BUCKETS	15	/* latency buckets, +Inf included */
#define METRICS_STATUSES 16	/* distinct HTTP statuses kept */

/* Fields are private. */
struct metrics {
	uint64_t	 attempts;
	uint64_t	 latency[METRICS_BUCKETS];	/* not cumulative */
	uint64_t	 latency_count;
	uint64_t	 latency_sum_ms;
	struct {
		int	 status;
		uint64_t n;
	}		 http[METRICS_STATUSES];
	uint64_t	 http_other;	/* statuses beyond the table */
};

/* What only the caller knows at scrape time. */
struct metrics_gauges {
	size_t		 socket_clients;	/* Unix socket ones */
	size_t		 http_connections;
	int		 draining;		/* 0 or 1 */
};

/* Count one engine answer: its attempts and its time. */
void	 metrics_observe(struct metrics *m, const struct answer *a);

/* Count one HTTP response with status. */
void	 metrics_count_http(struct metrics *m, int status);

/* Append the whole exposition to out. Returns 0, or -1 with errno; out
 * may then hold part of it. */
int	 metrics_format(struct buf *out, const struct metrics *m,
	    const struct engine_stats *st, const struct metrics_gauges *g,
	    int64_t now_ms);

#endif
