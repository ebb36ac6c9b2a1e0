/*
 * retry: see retry.h.
 */
#include <stdint.h>

#include <bsd/stdlib.h>

#include "engine/policy.h"

enum req_code
retry_code_of(const struct proto_result *r)
{
	switch (r->class) {
	case PROTO_OK:
		return REQ_OK;
	case PROTO_HTTP:
		return r->http_status == 429 ? REQ_RATE_LIMITED : REQ_HTTP;
	case PROTO_NETWORK:
		return REQ_NETWORK;
	case PROTO_TIMEOUT:
		return REQ_TIMEOUT;
	case PROTO_BAD_RESPONSE:
		return REQ_BAD_RESPONSE;
	case PROTO_INVALID_REQUEST:
		return REQ_INVALID_REQUEST;
	}
	return REQ_WORKER_CRASHED;
}

bool
retry_is_retryable(enum req_code code, const struct proto_result *r)
{
	switch (code) {
	case REQ_TIMEOUT:
	case REQ_WORKER_CRASHED:
		return true;
	case REQ_NETWORK:
		/* The worker alone knows which failures no retry fixes. */
		return r == NULL || !r->permanent;
	case REQ_RATE_LIMITED:
		return r == NULL || !r->quota_exhausted;
	case REQ_HTTP:
		if (r == NULL)
			return false;
		return r->http_status == 408 || r->http_status == 409 ||
		    (r->http_status >= 500 && r->http_status <= 599);
	default:
		return false;
	}
}

long
retry_backoff_ms(unsigned attempt, long base_ms, long max_ms,
    long retry_after_ms)
{
	long ceiling = base_ms, delay;
	unsigned i;

	for (i = 1; i < attempt && ceiling < max_ms; i++)
		ceiling = ceiling > max_ms / 2 ? max_ms : ceiling * 2;
	if (ceiling > max_ms)
		ceiling = max_ms;
	/* arc4random_uniform draws below 2^32: ample for milliseconds. */
	if (ceiling > (long)UINT32_MAX - 1)
		ceiling = (long)UINT32_MAX - 1;
	delay = ceiling > 0 ? (long)arc4random_uniform(
	    (uint32_t)ceiling + 1) : 0;
	if (retry_after_ms > delay)
		delay = retry_after_ms;
	return delay;
}
