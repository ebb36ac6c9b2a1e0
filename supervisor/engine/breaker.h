/*
 * breaker: the circuit breaker of one endpoint. Consecutive failures
 * (network errors, timeouts, 5xx), or a failure rate over a sliding
 * window, open it; while open, calls are refused (the engine answers
 * circuit_open at once, starting no worker) until the next probe is
 * due; then it is half-open and lets exactly one probe attempt through
 * at a time. A probe's success closes it, its failure opens it again
 * with twice the wait (BREAKER_PROBE_MS doubling to BREAKER_PROBE_MAX_MS).
 * A success of any attempt closes it too.
 *
 * Outcomes that say nothing of the endpoint's health (a 4xx, a 429, a
 * cancel, a hedge that lost, a crashed worker) are neutral: they end a
 * probe without a verdict and break no run of failures. The window is
 * engine/window's (10 s): fixed memory, O(window) a call.
 * One log line per transition: opening at warn, the rest at info, a
 * probe that fails again at debug.
 */
#ifndef EMBEDWATCH_BREAKER_H
#define EMBEDWATCH_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/window.h"

#define BREAKER_RATE_MIN	20	/* attempts in the window before the
					 * rate counts */
#define BREAKER_RATE_PCT	50	/* failure share that opens it */
#define BREAKER_PROBE_MS	500	/* first wait before a probe */
#define BREAKER_PROBE_MAX_MS	1000	/* longest wait between probes */

enum breaker_state {
	BREAKER_CLOSED,
	BREAKER_OPEN,
	BREAKER_HALF_OPEN
};

enum breaker_verdict {
	BREAKER_ALLOW,		/* closed: go */
	BREAKER_PROBE,		/* go, as the one probe */
	BREAKER_DENY		/* answer circuit_open */
};

enum breaker_outcome {
	BREAKER_SUCCESS,
	BREAKER_FAILURE,
	BREAKER_NEUTRAL
};

/* Callers embed it; the fields are private but state and opens. */
struct breaker {
	const char	*name;		/* for log lines; borrowed */
	unsigned	 threshold;	/* consecutive failures; 0: off */
	enum breaker_state state;
	uint64_t	 opens;		/* times it opened, for stats */
	unsigned	 consecutive;
	bool		 probing;	/* a probe attempt is running */
	long		 wait_ms;	/* before the next probe */
	int64_t		 probe_at;	/* OPEN: when a probe may start */
	struct window	 outcomes;	/* BREAKER_SUCCESS, BREAKER_FAILURE */
};

/* Start closed; threshold 0 turns it off (always BREAKER_ALLOW). name
 * must outlive it. */
void	 breaker_init(struct breaker *b, const char *name, unsigned threshold);

/*
 * May an attempt start now? With BREAKER_DENY, *retry_after_ms is how
 * long until a probe may go (at least 1). BREAKER_PROBE changes
 * nothing by itself: call breaker_probe_started once it did start.
 */
enum breaker_verdict breaker_ask(struct breaker *b, int64_t now,
	    long *retry_after_ms);

/* The attempt breaker_ask allowed as a probe has started. */
void	 breaker_probe_started(struct breaker *b);

/* An attempt ended with this outcome (probe: it was the probe); why is
 * the failure's text, for the log line when it opens the breaker. */
void	 breaker_record(struct breaker *b, enum breaker_outcome outcome,
	    bool probe, int64_t now, const char *why);

/* "closed", "open", "half_open". Static storage. */
const char *breaker_state_name(enum breaker_state state);

#endif
