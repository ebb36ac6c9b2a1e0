/*
 * policy: see policy.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "log.h"
#include "engine/breaker.h"
#include "engine/latency.h"
#include "engine/policy.h"

struct policy {
	const struct config	*cfg;
	long			 hedge_ms;	/* fixed; -1: off */
	bool			 hedge_auto;
	/* One estimate per model, the configured one first; a model past
	 * the table shares the last row. */
	struct {
		char		 model[64];
		struct latency	 lat;
	}			 latency[POLICY_MODELS];
	size_t			 n_models;	/* rows in use, >= 1 */
	struct budget		 budget;
	struct breaker		 breaker;
	struct ratelimit	 rl;
	int64_t			 failed_until;	/* a final error's cool-down */
	int			 failed_status;
	int			 final_status;	/* of the last final error */
	unsigned		 final_run;	/* ... in a row, no success */
	char			 failed_message[640];
	uint64_t		 retries_refused;
	uint64_t		 hedges_refused;
	uint64_t		 rl_waits;
	uint64_t		 rl_pauses;
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
	size_t i;

	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->cfg = cfg;
	p->hedge_ms = cfg->hedge == CONFIG_HEDGE_FIXED ? cfg->hedge_ms : -1;
	p->hedge_auto = cfg->hedge == CONFIG_HEDGE_AUTO;
	for (i = 0; i < POLICY_MODELS; i++)
		latency_init(&p->latency[i].lat);
	(void)strlcpy(p->latency[0].model, cfg->model != NULL ? cfg->model :
	    "", sizeof(p->latency[0].model));
	p->n_models = 1;
	budget_init(&p->budget, cfg->retry_budget_pct, cfg->hedge_budget_pct,
	    cfg->budget_floor);
	breaker_init(&p->breaker, cfg->host != NULL ? cfg->host : "-",
	    cfg->breaker_failures);
	ratelimit_init(&p->rl, cfg->rpm, cfg->tpm);
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
policy_should_retry(struct policy *p, const struct request *req,
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
	if (now + *delay_ms >= req->deadline_at_ms) {
		(void)snprintf(note, notelen, "; no time left for another "
		    "attempt before the deadline");
		return false;
	}
	/* A worker that crashed or never started is ours to answer for,
	 * not the API's: its retry is outside the budget. */
	if (f->code != REQ_WORKER_CRASHED &&
	    !budget_allows(&p->budget, BUDGET_RETRY, now)) {
		p->retries_refused++;
		(void)snprintf(note, notelen, "; not retried: the retry budget "
		    "(%u%% of first attempts) is spent", cfg->retry_budget_pct);
		return false;
	}
	return true;
}

/* The model whose latency req adds to: its own, or the configured one. */
static const char *
model_of(const struct policy *p, const struct request *req)
{
	return req != NULL && req->model != NULL ? req->model :
	    p->latency[0].model;
}

/* The row of model's latency estimate, or if it has none the first free
 * row (which holds no samples), or the last when the table is full. Cost: at most
 * POLICY_MODELS string compares. */
static size_t
latency_row(const struct policy *p, const char *model)
{
	size_t i;

	for (i = 0; i < p->n_models; i++)
		if (strncmp(p->latency[i].model, model,
		    sizeof(p->latency[i].model) - 1) == 0)
			return i;
	return i < POLICY_MODELS ? i : POLICY_MODELS - 1;
}

long
policy_hedge_delay_ms(const struct policy *p, const struct request *req)
{
	const struct latency *lat;
	long ms, top;

	if (!p->hedge_auto)
		return p->hedge_ms;
	top = (req != NULL && req->timeout_ms > 0 ? req->timeout_ms :
	    p->cfg->timeout_ms) / 2;
	/* Too few samples yet: only a call past half its timeout. */
	/* A model not seen yet finds a free row: no samples. */
	lat = &p->latency[latency_row(p, model_of(p, req))].lat;
	if (latency_samples(lat) < POLICY_HEDGE_MIN_SAMPLES)
		return top;
	ms = latency_quantile(lat, POLICY_HEDGE_QUANTILE);
	if (ms < p->cfg->hedge_min_ms)
		ms = p->cfg->hedge_min_ms;
	if (ms > top)
		ms = top;
	return ms;
}

void
policy_set_hedge_delay(struct policy *p, long ms)
{
	p->hedge_ms = ms < 0 ? -1 : ms;
	p->hedge_auto = false;
}

bool
policy_may_hedge(struct policy *p, const struct request *req, int64_t now)
{
	long wait;

	if (policy_gate(p, req, now, &wait) != POLICY_GO)
		return false;
	if (!budget_allows(&p->budget, BUDGET_HEDGE, now)) {
		p->hedges_refused++;
		return false;
	}
	return true;
}

/* The estimated token cost of req. */
static double
tokens_of(const struct request *req)
{
	return ratelimit_tokens(req->input_json != NULL ?
	    strlen(req->input_json) : 0);
}

enum policy_gate
policy_gate(struct policy *p, const struct request *req, int64_t now,
    long *wait_ms)
{
	enum breaker_verdict v;

	if (p->failed_until > now) {
		*wait_ms = (long)(p->failed_until - now);
		return POLICY_FAILED;
	}
	v = breaker_ask(&p->breaker, now, wait_ms);
	if (v == BREAKER_DENY)
		return POLICY_CIRCUIT_OPEN;
	if (req == NULL)
		return POLICY_GO;
	*wait_ms = ratelimit_wait_ms(&p->rl, tokens_of(req), now);
	if (*wait_ms > 0)
		return POLICY_WAIT;
	return v == BREAKER_PROBE ? POLICY_PROBE : POLICY_GO;
}

void
policy_failed(const struct policy *p, int64_t now, int *http_status,
    const char **message, long *left_ms)
{
	*http_status = p->failed_status;
	*message = p->failed_message;
	*left_ms = p->failed_until > now ? (long)(p->failed_until - now) : 0;
}

void
policy_attempt_started(struct policy *p, const struct request *req,
    enum budget_kind kind, bool probe, int64_t now, struct policy_attempt *pa)
{
	memset(pa, 0, sizeof(*pa));
	pa->kind = kind;
	pa->probe = probe;
	pa->started_ms = now;
	budget_count(&p->budget, kind, now);
	if (probe)
		breaker_probe_started(&p->breaker);
	ratelimit_take(&p->rl, tokens_of(req), now, &pa->rl);
}

/* What an outcome says of the endpoint's health. */
static enum breaker_outcome
health_of(const struct policy_outcome *o)
{
	if (o->lost)
		return BREAKER_NEUTRAL;
	switch (o->code) {
	case REQ_OK:
		return BREAKER_SUCCESS;
	case REQ_TIMEOUT:
	case REQ_NETWORK:
		return BREAKER_FAILURE;
	case REQ_HTTP:
		return o->result != NULL && o->result->http_status >= 500 ?
		    BREAKER_FAILURE : BREAKER_NEUTRAL;
	default:
		return BREAKER_NEUTRAL;
	}
}

bool
policy_fails_every_call(const struct policy *p, const struct request *req,
    int status)
{
	if (p->cfg->fail_cooldown_ms <= 0)
		return false;
	if (status == 401 || status == 403)
		return true;
	return status == 404 && (req->model == NULL ||
	    strcmp(req->model, p->cfg->model) == 0);
}

/* Count a latency sample for req's model. */
static void
add_latency(struct policy *p, const struct request *req, long ms)
{
	const char *model = model_of(p, req);
	size_t i = latency_row(p, model);

	if (i == p->n_models) {
		(void)strlcpy(p->latency[i].model, model,
		    sizeof(p->latency[i].model));
		p->n_models++;
	}
	latency_add(&p->latency[i].lat, ms);
}

bool
policy_attempt_ended(struct policy *p, const struct request *req,
    const struct policy_attempt *pa, const struct policy_outcome *o,
    int64_t now)
{
	const struct proto_result *r = o->result;
	long elapsed = (long)(now - pa->started_ms);
	bool news = false;

	/* A first attempt that lost to its hedge ran at least this long:
	 * counting it keeps the tail the hedges cut off in the estimate. */
	if ((o->code == REQ_OK && !o->lost) || (o->lost &&
	    pa->kind != BUDGET_HEDGE))
		add_latency(p, req, elapsed);
	breaker_record(&p->breaker, health_of(o), pa->probe, now,
	    o->message != NULL ? o->message : "");
	if (r == NULL || o->lost)
		return false;
	ratelimit_update(&p->rl, &pa->rl, r, now);
	if (o->code == REQ_OK)
		p->final_run = 0;
	if (o->code == REQ_RATE_LIMITED && !r->quota_exhausted) {
		ratelimit_pause(&p->rl, r->retry_after_ms, now);
		p->rl_pauses++;
		news = true;
	}
	if (o->code == REQ_HTTP && policy_fails_every_call(p, req,
	    r->http_status)) {
		/* A final error is never retried, so a second in a row is
		 * a second request: it confirms the first. */
		if (p->final_status != r->http_status)
			p->final_run = 0;
		p->final_status = r->http_status;
		if (++p->final_run < POLICY_FINAL_CONFIRM)
			return news;
		if (p->failed_until <= now)
			log_error("endpoint %s: HTTP %d: no more calls for %ld "
			    "ms, every request is answered with this error: "
			    "%s", p->cfg->host != NULL ? p->cfg->host : "-",
			    r->http_status, p->cfg->fail_cooldown_ms,
			    r->message);
		p->failed_until = now + p->cfg->fail_cooldown_ms;
		p->failed_status = r->http_status;
		(void)strlcpy(p->failed_message, r->message,
		    sizeof(p->failed_message));
		news = true;
	}
	return news;
}

void
policy_count_wait(struct policy *p)
{
	p->rl_waits++;
}

void
policy_stats(struct policy *p, int64_t now, struct engine_stats *st)
{
	st->retries_refused = p->retries_refused;
	st->hedges_refused = p->hedges_refused;
	st->hedge_delay_ms = policy_hedge_delay_ms(p, NULL);
	st->circuit = breaker_state_name(p->breaker.state);
	st->circuit_opens = p->breaker.opens;
	st->endpoint_failed = p->failed_until > now;
	st->rate_limit_waits = p->rl_waits;
	st->rate_limit_pauses = p->rl_pauses;
	st->ratelimit_remaining_requests = ratelimit_remaining_requests(
	    &p->rl, now);
	st->ratelimit_remaining_tokens = ratelimit_remaining_tokens(&p->rl,
	    now);
}
