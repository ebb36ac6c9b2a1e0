/*
 * ratelimit: one rate-limit budget for an endpoint, in requests and in
 * tokens a minute, so that calls are paced rather than refused: the
 * provider's x-ratelimit-remaining-* never reaches zero.
 *
 * Each dimension is a token bucket refilling at its limit per minute
 * (OpenAI's limits replenish continuously). Its level is our estimate of
 * what the server has left: each call takes its cost when it starts (1
 * request; the input's bytes / 4 tokens), and every response that
 * carries x-ratelimit-limit-* and -remaining-* sets the level anew from
 * the server's figure, less what we started after that call and plus
 * the refill since; a response's usage.prompt_tokens replaces the
 * estimate of its own call. --rpm and --tpm are two more buckets that no
 * header changes. A call waits while taking its cost would leave less
 * than RATELIMIT_RESERVE_PCT of a limit (at least 1) of the server's
 * buckets. A bucket by hand holds a second's worth (at least 1) and
 * keeps no reserve, so --rpm paces evenly from the start. A 429 pauses
 * the endpoint for everyone for its Retry-After (1 s if it gave none).
 *
 * Nothing is known before the first response with headers: until then
 * only --rpm and --tpm pace. O(1) a call, fixed memory.
 */
#ifndef EMBEDWATCH_RATELIMIT_H
#define EMBEDWATCH_RATELIMIT_H

#include <stdint.h>

#include "proto_result.h"

#define RATELIMIT_RESERVE_PCT	2
#define RATELIMIT_PAUSE_MS	1000	/* a 429 without Retry-After */

/* One bucket; private. */
struct ratelimit_bucket {
	double		 limit;		/* per minute; 0: not known */
	double		 cap;		/* the most it holds */
	double		 reserve;	/* never taken */
	double		 level;		/* room left now, estimated */
	int64_t		 at_ms;		/* when level was last brought up */
};

/* Callers embed it; the fields are private. */
struct ratelimit {
	struct ratelimit_bucket req, tok;	/* from the headers */
	struct ratelimit_bucket rpm, tpm;	/* by hand */
	int64_t		 paused_until;
	double		 started_req;	/* costs ever taken, for the */
	double		 started_tok;	/* ... header correction */
};

/* What one call took when it started, kept by the engine with the
 * attempt and handed back with its result. */
struct ratelimit_mark {
	double		 tokens;	/* estimated cost */
	double		 req_after;	/* started_req once it was taken */
	double		 tok_after;	/* started_tok once it was taken */
	int64_t		 at_ms;
};

/* Start knowing nothing; rpm, tpm: limits by hand, 0 for none. */
void	 ratelimit_init(struct ratelimit *rl, long rpm, long tpm);

/* The estimated token cost of an input of json_len bytes. */
double	 ratelimit_tokens(size_t json_len);

/* Milliseconds until a call of this many tokens may start (0: now). */
long	 ratelimit_wait_ms(struct ratelimit *rl, double tokens, int64_t now);

/* A call of this many tokens starts now: take its cost, fill mark. */
void	 ratelimit_take(struct ratelimit *rl, double tokens, int64_t now,
	    struct ratelimit_mark *mark);

/* The call of mark got result r (its headers, its usage): correct. */
void	 ratelimit_update(struct ratelimit *rl, const struct ratelimit_mark *m,
	    const struct proto_result *r, int64_t now);

/* Pause every call until now + ms (a 429; -1: RATELIMIT_PAUSE_MS). */
void	 ratelimit_pause(struct ratelimit *rl, long ms, int64_t now);

/* Remaining requests and tokens as estimated now, -1 if not known,
 * for stats. */
long	 ratelimit_remaining_requests(struct ratelimit *rl, int64_t now);
long	 ratelimit_remaining_tokens(struct ratelimit *rl, int64_t now);

#endif
