/*
 * policy: what the engine asks before it acts on a request, in one
 * place. Which outcomes are worth another attempt and how long to wait
 * before it (exponential backoff with full jitter, never shorter than
 * what the server asked for with Retry-After or retry-after-ms); how
 * many attempts a request may make and how long each may run; whether
 * and when to start a second attempt beside a slow one (a hedge).
 *
 * And the endpoint's health, learnt from every attempt's outcome: the
 * hedge delay from recent latencies (engine/latency), the retry budget
 * (engine/budget), the circuit breaker (engine/breaker), the rate-limit
 * budget (engine/ratelimit), and a final error (401, 403, 404) that
 * every call would get, remembered for --fail-cooldown. Their state
 * lives in struct policy, which the engine owns; the engine asks
 * policy_gate before each attempt, tells policy_attempt_started and
 * policy_attempt_ended, and asks policy_may_hedge at the hedge timer.
 * No libcurl type reaches here: the worker says in its result whether
 * an error is permanent, and what the rate-limit headers said.
 *
 * One endpoint today (--base-url); several endpoints would each get a
 * struct policy_endpoint of these parts (see docs/ARCHITECTURE.md).
 */
#ifndef EMBEDWATCH_POLICY_H
#define EMBEDWATCH_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto_result.h"
#include "config/config.h"
#include "engine/budget.h"
#include "engine/ratelimit.h"
#include "engine/request.h"
#include "engine/stats.h"

/* Samples of successful attempts before --hedge auto hedges at all. */
#define POLICY_HEDGE_MIN_SAMPLES	20
/* Requests in a row answered the same 401, 403 or 404 (no success
 * between) before the endpoint counts as failed with it. */
#define POLICY_FINAL_CONFIRM		2
/* Models with a latency estimate of their own (more share the last). */
#define POLICY_MODELS			8
/* The quantile of recent latencies auto hedges at. */
#define POLICY_HEDGE_QUANTILE		0.95

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
 * deadline or the retry budget is spent, a note for the message in note
 * (else note is "").
 */
bool	 policy_should_retry(struct policy *p, const struct request *req,
	    const struct policy_failure *f, int64_t now, long *delay_ms,
	    char *note, size_t notelen);

/*
 * Milliseconds after an attempt of req starts at which a second one
 * should join it, or -1 for none: --hedge MS; or, with --hedge auto, the
 * POLICY_HEDGE_QUANTILE of recent successful latencies of req's model
 * (NULL: the configured model) clamped to
 * [--hedge-min, timeout / 2], once POLICY_HEDGE_MIN_SAMPLES are in
 * (before: timeout / 2, the conservative end); or -1 with --hedge off.
 */
long	 policy_hedge_delay_ms(const struct policy *p,
	    const struct request *req);

/* Hedge every attempt after ms (-1: never); overrides --hedge. */
void	 policy_set_hedge_delay(struct policy *p, long ms);

/* May a hedge of req start now (the retry budget has room, the circuit
 * is closed, nothing waits for the rate limit)? */
bool	 policy_may_hedge(struct policy *p, const struct request *req,
	    int64_t now);

/* What the engine may do with a request's next attempt now. */
enum policy_gate {
	POLICY_GO,		/* start it */
	POLICY_PROBE,		/* start it as the circuit's one probe */
	POLICY_WAIT,		/* not for *wait_ms: the rate limit */
	POLICY_CIRCUIT_OPEN,	/* answer circuit_open, retry in *wait_ms */
	POLICY_FAILED		/* answer the final error (policy_failed) */
};

/* Ask before starting an attempt of req (NULL: is the endpoint
 * refusing every request, whatever its size?). */
enum policy_gate policy_gate(struct policy *p, const struct request *req,
	    int64_t now, long *wait_ms);

/* The final error the endpoint gives every call, while POLICY_FAILED:
 * its HTTP status and message (valid until the next policy call) and
 * the milliseconds the cool-down has left. */
void	 policy_failed(const struct policy *p, int64_t now, int *http_status,
	    const char **message, long *left_ms);

/* Is an HTTP status for req one every call to the endpoint would get (a
 * 401 or 403: the key; a 404 for the configured model: the URL or the
 * model)? Always false with --fail-cooldown off. */
bool	 policy_fails_every_call(const struct policy *p,
	    const struct request *req, int http_status);

/* What the policy keeps of one attempt; the engine embeds it. */
struct policy_attempt {
	enum budget_kind kind;
	bool		 probe;
	int64_t		 started_ms;
	struct ratelimit_mark rl;
};

/* An attempt of req of this kind (probe: as POLICY_PROBE allowed) starts
 * now: count it, take its rate-limit cost. */
void	 policy_attempt_started(struct policy *p, const struct request *req,
	    enum budget_kind kind, bool probe, int64_t now,
	    struct policy_attempt *pa);

/* How an attempt ended, for policy_attempt_ended. */
struct policy_outcome {
	enum req_code	 code;		/* REQ_CANCELLED for a lost race */
	const struct proto_result *result; /* NULL: none came */
	bool		 lost;		/* killed: a sibling answered first */
	const char	*message;	/* the failure's text, for logs */
};

/*
 * The attempt pa of req ended now: learn from it (its latency, its
 * health for the breaker, its rate-limit headers, a 429's pause, a final
 * error). Returns true when it started a rate-limit pause or a final
 * error the queued requests should hear of at once.
 */
bool	 policy_attempt_ended(struct policy *p, const struct request *req,
	    const struct policy_attempt *pa, const struct policy_outcome *o,
	    int64_t now);

/* Count a call held back by POLICY_WAIT, for stats. */
void	 policy_count_wait(struct policy *p);

/* Copy the policy's counters and states into st. */
void	 policy_stats(struct policy *p, int64_t now, struct engine_stats *st);

#endif
