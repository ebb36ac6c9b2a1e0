/*
 * engine: requests in, answers out, one worker process per attempt.
 *
 * The engine owns the worker-slot table, the queue of requests waiting
 * for a slot, the timers (attempt deadlines, request deadlines, backoff,
 * drain) and the retry loop. A mode (pipe, later batch and serve) owns the
 * poll loop and plugs the engine into it each turn:
 *
 *	engine_run_due(e, now);            timers, finished workers, spawns
 *	n = engine_pollfds(e, pfd, room);  one entry per live result pipe
 *	poll(..., engine_timeout_ms(e, now) or sooner)
 *	engine_handle_pollfds(e, pfd, n);  read worker frames
 *	on SIGCHLD: engine_reap(e);
 *
 * Every submitted request is answered exactly once through the answer
 * callback, in completion order, and then freed by the engine. Nothing is
 * answered from inside engine_submit; answers come from engine_run_due,
 * engine_shutdown and engine_free.
 *
 * Invariants: a slot's pid is 0 once reaped, and nothing signals a slot
 * whose pid is 0; a slot is freed only in engine_run_due, once both its
 * result pipe reached EOF and its process was reaped. Answers may come
 * earlier (from engine_handle_pollfds at a worker's result, or wherever a
 * worker is killed): the answer callback must not call back into the
 * engine except engine_submit.
 */
#ifndef EMBEDWATCH_ENGINE_H
#define EMBEDWATCH_ENGINE_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "engine/request.h"

struct engine;

TAILQ_HEAD(request_list, request);

/*
 * A fair share. Requests submitted with the same queue wait in their own
 * line; free workers are handed out round-robin between the lines that
 * have requests ready, and a line never holds more than max_running
 * running requests. A mode embeds one per client (serve) and must keep it
 * alive until its last request is answered; requests without a queue use
 * the engine's default line. All fields are private.
 */
struct engine_queue {
	struct request_list	 ready;
	TAILQ_ENTRY(engine_queue) ring;
	bool			 in_ring;
	size_t			 n_waiting;	/* ready or backing off */
	size_t			 n_running;
	size_t			 max_waiting;	/* 0: no limit of its own */
	size_t			 max_running;	/* 0: no limit of its own */
};

void	 engine_queue_init(struct engine_queue *q, size_t max_waiting,
	    size_t max_running);

/* Has q as many waiting requests as it may hold? */
bool	 engine_queue_is_full(const struct engine_queue *q);

/* Called once per request with its answer; the request (and a->body) are
 * freed when it returns. */
typedef void (*engine_answer_fn)(void *arg, struct request *req,
    const struct answer *a);

struct engine_stats {
	uint64_t	 requests;
	uint64_t	 answered[REQ_N_CODES];	/* by code */
	uint64_t	 workers_started;
	uint64_t	 workers_killed;
	uint64_t	 spawn_failures;
	uint64_t	 retries;
	size_t		 running;	/* workers alive now */
	size_t		 queued;	/* requests waiting for a slot or retry */
};

/* Returns an engine, or NULL with errno. cfg must outlive it. */
struct engine *engine_new(const struct config *cfg, engine_answer_fn answer,
	    void *arg);

/* Kill and reap every worker (blocking, bounded by SIGKILL), answer every
 * request still live with shutting_down, and free the engine. */
void	 engine_free(struct engine *e);

/* Take ownership of req and queue it. */
void	 engine_submit(struct engine *e, struct request *req, int64_t now);

/* Should the mode stop taking requests for now (--queue requests are
 * waiting, whatever their lines)? */
bool	 engine_is_full(const struct engine *e);

/* No request live and no worker alive. */
bool	 engine_is_idle(const struct engine *e);

/* Fire due timers, finish workers whose pipe and process are both done,
 * start attempts on free slots. */
void	 engine_run_due(struct engine *e, int64_t now);

/* Milliseconds until the engine next needs engine_run_due, or -1; 0 if
 * a request was submitted since the last engine_run_due. */
int	 engine_timeout_ms(const struct engine *e, int64_t now);

/* Fill pfd with the result pipes to watch; returns how many (<= room).
 * engine_handle_pollfds must get the same entries back after poll. */
size_t	 engine_pollfds(struct engine *e, struct pollfd *pfd, size_t room);
void	 engine_handle_pollfds(struct engine *e, const struct pollfd *pfd,
	    size_t n);

/* Reap every exited child; call on SIGCHLD. */
void	 engine_reap(struct engine *e);

/*
 * Stop: answer queued and backing-off requests shutting_down now, give
 * running attempts drain_ms to finish, then kill them (their requests are
 * answered shutting_down). A second call kills at once.
 */
void	 engine_shutdown(struct engine *e, int64_t now, long drain_ms);

/*
 * Cancel owner's live requests with this id (all of owner's when id_json
 * is NULL): waiting ones are answered cancelled now; running ones have
 * their workers SIGKILLed and are answered cancelled once reaped.
 * Returns how many requests matched.
 */
size_t	 engine_cancel(struct engine *e, const void *owner,
	    const char *id_json, int64_t now);

/* Count an answer the mode gave itself (an invalid request line). */
void	 engine_count(struct engine *e, enum req_code code);

/* Append the stats answer line for a {"op":"stats"} request; extra, if
 * not NULL, is more JSON members for the "stats" object (the mode's own
 * counters). Returns 0 or -1 with errno. */
int	 engine_format_stats(const struct engine *e, struct buf *out,
	    const char *id_json, const char *extra, int64_t now);

/* Workers the slot table can hold (for sizing a pollfd array). */
size_t	 engine_max_workers(const struct engine *e);

const struct engine_stats *engine_stats(const struct engine *e);

#endif
