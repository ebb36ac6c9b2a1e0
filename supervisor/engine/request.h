/*
 * request: the pipe protocol's request lines and answer lines.
 *
 * A request line is one JSON object: {"id": "q1" or 7, "input": "text" or
 * ["a", "b"], optional "model", "dimensions", "timeout", "deadline" (in
 * seconds)}. request_parse validates it completely, so a request that
 * reaches the engine can always be sent. Two control lines share the
 * format: {"op":"cancel","id":X} (answered through request X, which ends
 * with code cancelled) and {"op":"stats"} (answered with counters).
 * An answer is one line:
 *   {"id":..,"ok":true,"embeddings":[[..]],"model":..,"usage":{..},
 *    "attempts":1,"ms":41}
 *   {"id":..,"ok":false,"error":{"code":..,"message":..,"retryable":..},
 *    "attempts":4,"ms":30012}
 *
 * The engine-private fields of struct request are documented in engine.h;
 * only the engine touches them.
 */
#ifndef EMBEDWATCH_REQUEST_H
#define EMBEDWATCH_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "buf.h"
#include "core/timers.h"

struct engine_queue;

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
	long		 timeout_ms;	/* 0: the configured timeout */
	long		 deadline_ms;	/* 0: the configured deadline */
	void		*owner;		/* the mode's: who gets the answer */
	struct engine_queue *queue;	/* the mode's fair share; NULL: the
					 * engine's default line */

	/* Private to the engine. */
	TAILQ_ENTRY(request) entry;
	enum req_state	 state;
	unsigned	 attempts;	/* attempts started */
	unsigned	 n_workers;	/* workers running attempts now */
	int64_t		 received_ms;
	int64_t		 deadline_at_ms;
	struct timer	 timer;		/* queue deadline or backoff end */
	bool		 cancelled;
};

/*
 * Parse one request line (without its newline). Returns a request to
 * release with request_free, or NULL with a message in err; then *id_json
 * is the id as JSON text if it could be read (malloc'd, caller frees),
 * else NULL.
 */
struct request *request_parse(const char *line, size_t len, char **id_json,
	    char *err, size_t errlen);
void	 request_free(struct request *req);

/*
 * The id of a line too long to parse, read from its first len bytes when
 * "id" comes early enough: the id as JSON text (malloc'd), or NULL.
 */
char	*request_peek_id(const char *head, size_t len);

struct answer {
	enum req_code	 code;
	const char	*body;		/* REQ_OK: the worker's body fragment */
	size_t		 body_len;
	const char	*message;	/* errors */
	int		 http_status;	/* errors: 0 if none */
	bool		 retryable;
	unsigned	 attempts;
	long		 ms;
};

/* Append one answer line for the id (JSON text; NULL means null) to out.
 * Returns 0 or -1 with errno. */
int	 answer_format(struct buf *out, const char *id_json,
	    const struct answer *a);

#endif
