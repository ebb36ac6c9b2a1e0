/*
 * ratelimit: see ratelimit.h.
 */
#include <string.h>

#include "engine/ratelimit.h"

#define MS_PER_MINUTE	60000.0

/* A bucket by hand: a second's worth at most, no reserve. */
static void
bucket_init(struct ratelimit_bucket *b, long limit, int64_t now)
{
	b->limit = limit > 0 ? (double)limit : 0;
	b->cap = b->limit / 60 < 1 ? 1 : b->limit / 60;
	b->reserve = 0;
	b->level = b->cap;
	b->at_ms = now;
}

/* Refill b up to now. */
static void
refill(struct ratelimit_bucket *b, int64_t now)
{
	if (b->limit <= 0 || now <= b->at_ms) {
		if (now > b->at_ms)
			b->at_ms = now;
		return;
	}
	b->level += b->limit * (double)(now - b->at_ms) / MS_PER_MINUTE;
	if (b->level > b->cap)
		b->level = b->cap;
	b->at_ms = now;
}

/* Milliseconds until cost fits in b with its reserve left. */
static long
bucket_wait(struct ratelimit_bucket *b, double cost, int64_t now)
{
	double need;

	if (b->limit <= 0)
		return 0;
	refill(b, now);
	/* A call bigger than the whole bucket goes when it is full. */
	if (cost > b->cap - b->reserve)
		cost = b->cap - b->reserve > 0 ? b->cap - b->reserve : 0;
	need = cost + b->reserve - b->level;
	if (need <= 0)
		return 0;
	return (long)(need * MS_PER_MINUTE / b->limit) + 1;
}

void
ratelimit_init(struct ratelimit *rl, long rpm, long tpm)
{
	memset(rl, 0, sizeof(*rl));
	bucket_init(&rl->rpm, rpm, 0);
	bucket_init(&rl->tpm, tpm, 0);
}

double
ratelimit_tokens(size_t json_len)
{
	return json_len < 4 ? 1 : (double)json_len / 4;
}

long
ratelimit_wait_ms(struct ratelimit *rl, double tokens, int64_t now)
{
	long wait = 0, w;

	if (rl->paused_until > now)
		wait = (long)(rl->paused_until - now);
	w = bucket_wait(&rl->req, 1, now);
	wait = w > wait ? w : wait;
	w = bucket_wait(&rl->tok, tokens, now);
	wait = w > wait ? w : wait;
	w = bucket_wait(&rl->rpm, 1, now);
	wait = w > wait ? w : wait;
	w = bucket_wait(&rl->tpm, tokens, now);
	return w > wait ? w : wait;
}

static void
take(struct ratelimit_bucket *b, double cost, int64_t now)
{
	refill(b, now);
	b->level -= cost;
}

void
ratelimit_take(struct ratelimit *rl, double tokens, int64_t now,
    struct ratelimit_mark *m)
{
	take(&rl->req, 1, now);
	take(&rl->tok, tokens, now);
	take(&rl->rpm, 1, now);
	take(&rl->tpm, tokens, now);
	rl->started_req += 1;
	rl->started_tok += tokens;
	m->tokens = tokens;
	m->req_after = rl->started_req;
	m->tok_after = rl->started_tok;
	m->at_ms = now;
}

/* The server said limit and remaining for the call that started at
 * at_ms; later calls took after of the cost since. */
static void
from_header(struct ratelimit_bucket *b, long limit, long remaining,
    double after, int64_t at_ms, int64_t now)
{
	if (limit <= 0 || remaining < 0)
		return;
	b->limit = (double)limit;
	b->cap = b->limit;
	b->reserve = (double)(long)(b->limit * RATELIMIT_RESERVE_PCT / 100);
	if (b->reserve < 1)
		b->reserve = 1;
	b->level = (double)remaining - after + (double)limit *
	    (double)(now - at_ms) / MS_PER_MINUTE;
	if (b->level > b->cap)
		b->level = b->cap;
	b->at_ms = now;
}

void
ratelimit_update(struct ratelimit *rl, const struct ratelimit_mark *m,
    const struct proto_result *r, int64_t now)
{
	double actual = m->tokens;

	if (r->prompt_tokens >= 0)
		actual = (double)r->prompt_tokens;
	/* The estimate taken from the buckets by hand becomes the truth. */
	refill(&rl->tpm, now);
	rl->tpm.level += m->tokens - actual;
	from_header(&rl->req, r->rl_limit_requests, r->rl_remaining_requests,
	    rl->started_req - m->req_after, m->at_ms, now);
	if (r->rl_limit_tokens > 0 && r->rl_remaining_tokens >= 0)
		from_header(&rl->tok, r->rl_limit_tokens,
		    r->rl_remaining_tokens, rl->started_tok - m->tok_after,
		    m->at_ms, now);
	else if (rl->tok.limit > 0) {
		refill(&rl->tok, now);
		rl->tok.level += m->tokens - actual;
	}
}

void
ratelimit_pause(struct ratelimit *rl, long ms, int64_t now)
{
	if (ms < 0)
		ms = RATELIMIT_PAUSE_MS;
	if (now + ms > rl->paused_until)
		rl->paused_until = now + ms;
}

static long
remaining(struct ratelimit_bucket *b, int64_t now)
{
	if (b->limit <= 0)
		return -1;
	refill(b, now);
	return b->level < 0 ? 0 : (long)b->level;
}

long
ratelimit_remaining_requests(struct ratelimit *rl, int64_t now)
{
	return remaining(&rl->req, now);
}

long
ratelimit_remaining_tokens(struct ratelimit *rl, int64_t now)
{
	return remaining(&rl->tok, now);
}
