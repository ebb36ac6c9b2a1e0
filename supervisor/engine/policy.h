/*
 * policy: what the engine asks before it acts on a request, in one
 * place. Which outcomes are worth another attempt and how long to wait
 * before it (exponential backoff with full jitter, never shorter than
 * what the server asked for with Retry-After or retry-after-ms); how
 * many attempts a request may make and how long each may run; whether
 * and when to start a second attempt beside a slow one (a hedge).
 *
 * The home of the adaptive parts to come (a hedge delay from recent
 * latencies, the retry budget, the circuit breaker, the rate budget):
 * their state lives in struct policy, which the engine owns. No libcurl
 * type reaches here: the worker says in its result whether an error is
 * permanent.
 */
#ifndef EMBEDWATCH_POLICY_H
#define EMBEDWATCH_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto_result.h"
#include "config/config.h"
#include "engine/request.h"

struct policy;

/* A failed attempt, as the engine saw it. */
struct policy_failure {
	enum req_code	 code;
	bool		 retryable;	/* from policy_is_retryable, or the
					 * engine's own knowledge */
	long		 retry_after_ms; /* what the server asked; -1: none */
	bool		 stopping;	/* the engine is shutting down */
};

/* Returns a policy over cfg (which must outlive it), or NULL with
 * errno. */
struct policy *policy_new(const struct config *cfg);
void	 policy_free(struct policy *p);

/* The protocol code for a worker's result. */
enum req_code policy_code_of(const struct proto_result *r);

/*
 * Is another attempt worth making after this outcome? Timeouts, network
 * errors, 408, 409, 429 (unless the quota is exhausted), 5xx and crashed
 * workers are; 4xx, bad responses and invalid requests are not, and
 * neither are errors the worker marked permanent (certificate problems,
 * a malformed URL). r may be NULL when there was no result.
 */
bool	 policy_is_retryable(enum req_code code, const struct proto_result *r);

/*
 * Milliseconds to wait after failed attempt number attempt (1-based):
 * uniform in [0, min(max_ms, base_ms * 2^(attempt-1), 2^32 - 1)],
 * raised to retry_after_ms when the server gave one (>= 0).
 */
long	 policy_backoff_ms(unsigned attempt, long base_ms, long max_ms,
	    long retry_after_ms);

/* Attempts a request may make in all (--retries + 1). */
unsigned policy_max_attempts(const struct policy *p);

/* Milliseconds the next attempt of req may run from now: the timeout,
 * cut short by what is left of the request's deadline; at least 1. */
long	 policy_attempt_budget_ms(const struct policy *p,
	    const struct request *req, int64_t now);

/*
 * After a failed attempt of req, with none of its attempts still
 * running: true with *delay_ms if another attempt should follow that
 * long from now; false if the request is to be answered with this
 * failure, and then, when a retry was wanted but did not fit before the
 * deadline, a note for the message in note (else note is "").
 */
bool	 policy_should_retry(const struct policy *p, const struct request *req,
	    const struct policy_failure *f, int64_t now, long *delay_ms,
	    char *note, size_t notelen);

/* Milliseconds after an attempt of req starts at which a second one
 * should join it, or -1 for none. */
long	 policy_hedge_delay_ms(const struct policy *p,
	    const struct request *req);

/* Hedge every attempt after ms (-1: never, the default). */
void	 policy_set_hedge_delay(struct policy *p, long ms);

#endif
