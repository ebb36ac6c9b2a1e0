/*
 * retry: the one retry policy. Which outcomes are worth another attempt,
 * and how long to wait before it: exponential backoff with full jitter
 * (arc4random), never shorter than what the server asked for with
 * Retry-After or retry-after-ms. Pure functions; the engine applies them.
 */
#ifndef EMBEDWATCH_POLICY_H
#define EMBEDWATCH_POLICY_H

#include <stdbool.h>

#include "proto_result.h"
#include "engine/request.h"

/* The protocol code for a worker's result. */
enum req_code retry_code_of(const struct proto_result *r);

/*
 * Is another attempt worth making after this outcome? Timeouts, network
 * errors, 408, 409, 429 (unless the quota is exhausted), 5xx and crashed
 * workers are; 4xx, bad responses and invalid requests are not, and
 * neither are network errors the worker marked permanent (certificate
 * problems: proto_result.h).
 */
bool	 retry_is_retryable(enum req_code code, const struct proto_result *r);

/*
 * Milliseconds to wait after failed attempt number attempt (1-based):
 * uniform in [0, min(max_ms, base_ms * 2^(attempt-1), 2^32 - 1)],
 * raised to retry_after_ms when the server gave one (>= 0).
 */
long	 retry_backoff_ms(unsigned attempt, long base_ms, long max_ms,
	    long retry_after_ms);

#endif
