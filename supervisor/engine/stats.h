/*
 * stats: the engine's counters, read by the modes for the stats answer,
 * the service status line and the batch summary. Plain numbers, kept by
 * the engine; a snapshot is consistent at any point between callbacks.
 */
#ifndef EMBEDWATCH_STATS_H
#define EMBEDWATCH_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/request.h"

/* The reasons of enum slot_kill (engine/slot.h), none included. */
#define STATS_KILL_REASONS	6

struct engine_stats {
	uint64_t	 requests;
	uint64_t	 answered[REQ_N_CODES];	/* by code */
	uint64_t	 workers_started;
	uint64_t	 workers_killed;
	uint64_t	 workers_killed_by[STATS_KILL_REASONS]; /* enum slot_kill */
	uint64_t	 spawn_failures;
	uint64_t	 warm_failures;	/* warm workers that could not connect */
	uint64_t	 retries;
	uint64_t	 hedges;	/* second attempts started */
	uint64_t	 hedges_won;	/* ... that answered first */
	uint64_t	 retries_refused; /* the retry budget said no */
	uint64_t	 hedges_refused;  /* ... to a hedge that was due */
	long		 hedge_delay_ms;  /* now; -1: no hedging */
	const char	*circuit;	/* "closed", "open", "half_open" */
	uint64_t	 circuit_opens;
	bool		 endpoint_failed; /* a 401/403/404 cool-down runs */
	uint64_t	 rate_limit_waits;  /* calls held back by the budget */
	uint64_t	 rate_limit_pauses; /* 429s that paused every call */
	long		 ratelimit_remaining_requests; /* estimated; -1 */
	long		 ratelimit_remaining_tokens;   /* ... not known */
	size_t		 running;	/* workers running attempts now */
	size_t		 busy;		/* workers alive now, warm ones too */
	size_t		 queued;	/* requests waiting for a slot or retry */
	int64_t		 started_ms;	/* when the engine started */
};

/* Count one answer with code. */
void	 stats_count_answer(struct engine_stats *st, enum req_code code);

/* Answers that were not ok. */
uint64_t stats_failed(const struct engine_stats *st);

#endif
