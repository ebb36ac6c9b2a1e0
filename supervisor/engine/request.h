/*
 * request: what the engine is asked to do and what it answers.
 *
 * A struct request is made by a mode (protocol/jsonl parses one from a
 * request line; batch builds one per chunk), handed to engine_submit,
 * and from then on owned by the engine until its answer callback
 * returns, when the engine frees it with request_free. The fields above
 * "Private to the engine" are the mode's to fill before submitting and
 * read-only afterwards; the rest only the engine touches.
 *
 * A struct answer is borrowed by the answer callback: its strings are
 * valid only while the callback runs.
 */
#ifndef EMBEDWATCH_REQUEST_H
#define EMBEDWATCH_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "core/timers.h"

struct answer;
struct attempt;
struct engine;
struct fairq_line;

enum req_code {
	REQ_OK,
	REQ_INVALID_REQUEST,
	REQ_TIMEOUT,
	REQ_NETWORK,
	REQ_HTTP,
	REQ_RATE_LIMITED,
	REQ_BAD_RESPONSE,
	REQ_WORKER_CRASHED,
	REQ_SHUTTING_DOWN,
	REQ_CANCELLED,
	REQ_CIRCUIT_OPEN,	/* the endpoint's circuit is open: no call */
	REQ_N_CODES
};

enum req_op {
	REQ_OP_EMBED,		/* the default */
	REQ_OP_CANCEL,		/* {"op":"cancel","id":X}: kill X's workers */
	REQ_OP_STATS		/* {"op":"stats"}: counters */
};

/* The protocol's name for a code: "ok", "invalid_request", ... */
const char *req_code_name(enum req_code code);

enum req_state {
	REQ_STATE_NEW,
	REQ_STATE_QUEUED,	/* waiting for a worker slot */
	REQ_STATE_RUNNING,	/* one or more workers own attempts */
	REQ_STATE_BACKOFF	/* waiting to retry */
};

struct request {
	enum req_op	 op;
	char		*id_json;	/* the id as JSON text, echoed as is;
					 * NULL only for a stats op without id */
	char		*input_json;	/* compact JSON array of strings */
	size_t		 n_inputs;
	char		*model;		/* NULL: the configured model */
	long		 dimensions;	/* 0: the configured dimensions */
	char		*extra_json;	/* NULL, or more members of the API's
					 * body ("user" and extra_body's):
					 * "k":v,... without braces */
	long		 timeout_ms;	/* 0: the configured timeout */
	long		 deadline_ms;	/* 0: the configured deadline */
	unsigned	 attempts_before; /* attempts its work used already in
					 * earlier requests (a batch chunk sent
					 * again after a refusal): it has only
					 * the rest of --retries + 1 */
	/* Who takes the answer instead of the engine's callback (a front
	 * whose requests are not sessions'); NULL: the engine's. */
	void		(*answer)(struct request *req, const struct answer *a);
	void		*owner;		/* the mode's: who gets the answer */
	struct fairq_line *line;	/* the mode's fair share (engine/fairq);
					 * NULL: the engine's default line */

	/* Private to the engine. */
	TAILQ_ENTRY(request) entry;	/* in its line or the backoff list */
	LIST_HEAD(, attempt) live;	/* attempts running now */
	unsigned	 n_live;	/* ... and how many */
	enum req_state	 state;
	unsigned	 attempts;	/* attempts started */
	int64_t		 received_ms;
	int64_t		 deadline_at_ms;
	struct timer	 timer;		/* queue deadline or backoff end */
	struct engine	*engine;	/* for its timers */
	bool		 cancelled;
};

struct answer {
	enum req_code	 code;
	const char	*body;		/* REQ_OK: the worker's body fragment */
	size_t		 body_len;
	const char	*message;	/* errors */
	int		 http_status;	/* errors: 0 if none */
	bool		 retryable;
	long		 retry_after_ms; /* rate_limited, circuit_open: when to
					 * try again; <= 0: no advice */
	bool		 endpoint_failed; /* an error every call would get
					 * (policy_fails_every_call) */
	bool		 refused;	/* circuit_open or rate_limited from
					 * the engine's gate: no call made for
					 * its turn; sending it again after
					 * retry_after_ms is safe */
	unsigned	 attempts;
	long		 ms;
};

/* Release a request and the strings it owns; NULL is a no-op. */
void	 request_free(struct request *req);

#endif
