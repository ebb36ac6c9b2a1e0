/*
 * breaker: see breaker.h.
 */
#include <string.h>

#include "log.h"
#include "engine/breaker.h"

void
breaker_init(struct breaker *b, const char *name, unsigned threshold)
{
	memset(b, 0, sizeof(*b));
	b->name = name;
	b->threshold = threshold;
	b->wait_ms = BREAKER_PROBE_MS;
	window_init(&b->outcomes);
}

const char *
breaker_state_name(enum breaker_state state)
{
	switch (state) {
	case BREAKER_CLOSED:
		return "closed";
	case BREAKER_OPEN:
		return "open";
	case BREAKER_HALF_OPEN:
		return "half_open";
	}
	return "unknown";
}

enum breaker_verdict
breaker_ask(struct breaker *b, int64_t now, long *retry_after_ms)
{
	switch (b->state) {
	case BREAKER_CLOSED:
		return BREAKER_ALLOW;
	case BREAKER_OPEN:
		if (now >= b->probe_at)
			return BREAKER_PROBE;
		*retry_after_ms = (long)(b->probe_at - now);
		return BREAKER_DENY;
	case BREAKER_HALF_OPEN:
		if (!b->probing)
			return BREAKER_PROBE;
		*retry_after_ms = b->wait_ms;
		return BREAKER_DENY;
	}
	return BREAKER_ALLOW;
}

void
breaker_probe_started(struct breaker *b)
{
	if (b->state == BREAKER_OPEN)
		log_info("endpoint %s: circuit half-open, probing", b->name);
	b->state = BREAKER_HALF_OPEN;
	b->probing = true;
}

/* Count outcome in the window; true if the failure rate now opens it. */
static bool
rate_opens(struct breaker *b, enum breaker_outcome outcome, int64_t now)
{
	uint64_t n_ok, n_failed;

	window_add(&b->outcomes, outcome, now);
	n_ok = window_sum(&b->outcomes, BREAKER_SUCCESS, now);
	n_failed = window_sum(&b->outcomes, BREAKER_FAILURE, now);
	return outcome == BREAKER_FAILURE &&
	    n_ok + n_failed >= BREAKER_RATE_MIN &&
	    n_failed * 100 >= (n_ok + n_failed) * BREAKER_RATE_PCT;
}

static void
open_now(struct breaker *b, int64_t now, const char *why)
{
	b->state = BREAKER_OPEN;
	b->opens++;
	b->probe_at = now + b->wait_ms;
	b->consecutive = 0;
	window_init(&b->outcomes);
	log_warn("endpoint %s: circuit open, calls refused for %ld ms: %s",
	    b->name, b->wait_ms, why);
}

void
breaker_record(struct breaker *b, enum breaker_outcome outcome, bool probe,
    int64_t now, const char *why)
{
	bool by_rate;

	if (b->threshold == 0)
		return;
	if (probe)
		b->probing = false;
	if (outcome == BREAKER_NEUTRAL)
		return;
	if (outcome == BREAKER_SUCCESS) {
		b->consecutive = 0;
		(void)rate_opens(b, BREAKER_SUCCESS, now);
		if (b->state != BREAKER_CLOSED) {
			log_info("endpoint %s: circuit closed: a call "
			    "succeeded", b->name);
			b->state = BREAKER_CLOSED;
			b->wait_ms = BREAKER_PROBE_MS;
		}
		return;
	}
	if (b->state == BREAKER_CLOSED) {
		b->consecutive++;
		by_rate = rate_opens(b, BREAKER_FAILURE, now);
		if (b->consecutive >= b->threshold || by_rate)
			open_now(b, now, why);
		return;
	}
	if (!probe)
		return;		/* open already; its probe decides */
	b->wait_ms = b->wait_ms * 2 > BREAKER_PROBE_MAX_MS ?
	    BREAKER_PROBE_MAX_MS : b->wait_ms * 2;
	b->state = BREAKER_OPEN;
	b->probe_at = now + b->wait_ms;
	log_debug("endpoint %s: probe failed, circuit open for %ld ms: %s",
	    b->name, b->wait_ms, why);
}
