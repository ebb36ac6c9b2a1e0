/*
 * proto_result: the outcome of one call, as the worker sends it in the
 * last frame ('R', proto_frame.h) and the supervisor's policy reads it.
 *
 * Everything the supervisor needs to decide what comes next is a plain
 * field here, never a libcurl type or code: the class, the HTTP status,
 * what the server asked for (Retry-After, an exhausted quota) and
 * whether the worker judged the failure permanent (a certificate the
 * peer cannot change between attempts, a URL libcurl cannot use). On the
 * wire the result is one compact JSON object with exactly the members
 * "class", "status", "retry_after_ms", "quota", "permanent", "ms",
 * "message", "rl" (the six rate-limit figures below, in their order)
 * and "prompt_tokens"; a decoder refuses any other shape.
 */
#ifndef EMBEDWATCH_PROTO_RESULT_H
#define EMBEDWATCH_PROTO_RESULT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

enum proto_class {
	PROTO_OK,
	PROTO_HTTP,		/* the API answered with an error status */
	PROTO_NETWORK,		/* curl failed: resolve, connect, TLS, reset */
	PROTO_TIMEOUT,		/* curl's own timeout fired */
	PROTO_BAD_RESPONSE,	/* 2xx, but not a valid embeddings answer */
	PROTO_INVALID_REQUEST	/* the job itself was unusable */
};

struct proto_result {
	enum proto_class class;
	int		 http_status;	/* 0: no response */
	long		 retry_after_ms; /* -1: none given */
	bool		 quota_exhausted; /* 429 insufficient_quota */
	bool		 permanent;	/* no retry can fix this failure */
	long		 ms;		/* worker's own duration */
	char		 message[512];
	/* The x-ratelimit-* headers of the response, -1 where absent. */
	long		 rl_limit_requests;
	long		 rl_remaining_requests;
	long		 rl_reset_requests_ms;
	long		 rl_limit_tokens;
	long		 rl_remaining_tokens;
	long		 rl_reset_tokens_ms;
	long		 prompt_tokens;	/* usage.prompt_tokens; -1: none */
};

/* r as an ok result with nothing known: every -1 field -1. */
void	 proto_result_init(struct proto_result *r);

/* The class's name on the wire and in answers ("ok", "http", ...), or
 * "unknown" for a value outside the enum. Static storage. */
const char *proto_class_name(enum proto_class class);

/* Append r as one compact JSON object to out. Returns 0, or -1 with
 * errno (EINVAL if the message is not UTF-8, ENOBUFS, ENOMEM). */
int	 proto_result_encode(const struct proto_result *r, struct buf *out);

/*
 * Parse an 'R' payload of len bytes into r. Returns 0, or -1 with a
 * message in err ("result is not JSON: ...", "bad result: ...", "bad
 * result class '...'"); r may then be partly written. A message longer
 * than r->message is truncated.
 */
int	 proto_result_decode(const char *text, size_t len,
	    struct proto_result *r, char *err, size_t errlen);

#endif
