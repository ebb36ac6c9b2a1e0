/*
 * policy: see policy.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <bsd/stdlib.h>

#include "engine/policy.h"

struct policy {
	const struct config	*cfg;
	long			 hedge_ms;	/* -1: off */
};

enum req_code
policy_code_of(const struct proto_result *r)
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
policy_is_retryable(enum req_code code, const struct proto_result *r)
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
policy_backoff_ms(unsigned attempt, long base_ms, long max_ms,
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

struct policy *
policy_new(const struct config *cfg)
{
	struct policy *p;

	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->cfg = cfg;
	p->hedge_ms = -1;
	return p;
}

void
policy_free(struct policy *p)
{
	free(p);
}

unsigned
policy_max_attempts(const struct policy *p)
{
	return p->cfg->retries + 1;
}

long
policy_attempt_budget_ms(const struct policy *p, const struct request *req,
    int64_t now)
{
	long budget;

	budget = req->timeout_ms > 0 ? req->timeout_ms : p->cfg->timeout_ms;
	if (budget > req->deadline_at_ms - now)
		budget = (long)(req->deadline_at_ms - now);
	return budget < 1 ? 1 : budget;
}

bool
policy_should_retry(const struct policy *p, const struct request *req,
    const struct policy_failure *f, int64_t now, long *delay_ms, char *note,
    size_t notelen)
{
	const struct config *cfg = p->cfg;

	note[0] = '\0';
	if (!f->retryable || f->code == REQ_SHUTTING_DOWN ||
	    f->code == REQ_CANCELLED || f->stopping ||
	    req->attempts >= policy_max_attempts(p))
		return false;
	*delay_ms = policy_backoff_ms(req->attempts, cfg->backoff_base_ms,
	    cfg->backoff_max_ms, f->retry_after_ms);
	if (now + *delay_ms < req->deadline_at_ms)
		return true;
	(void)snprintf(note, notelen, "; no time left for another attempt "
	    "before the deadline");
	return false;
}

long
policy_hedge_delay_ms(const struct policy *p, const struct request *req)
{
	(void)req;
	return p->hedge_ms;
}

void
policy_set_hedge_delay(struct policy *p, long ms)
{
	p->hedge_ms = ms < 0 ? -1 : ms;
}
