/*
 * engine: requests in, answers out, one worker process per attempt.
 *
 * The engine owns the requests from engine_submit to their answer: it
 * queues them in fair lines (engine/fairq), starts attempts on worker
 * slots (engine/slot), asks engine/policy what to do after each attempt
 * (answer, retry after a backoff, start a hedge beside a slow attempt)
 * and keeps the counters (engine/stats). A request may own several live
 * attempts: the first good answer wins and the others are SIGKILLed as
 * having lost the race.
 *
 * The engine registers itself with the loop: a LOOP_WORK hook that frees
 * finished slots, starts attempts and tops up the warm pool; the timers
 * of requests (queue deadline, backoff), of attempts (hedge) and of the
 * drain; and, through core/signals, SIGCHLD to reap. A mode only
 * submits, cancels, stops, and takes answers.
 *
 * Every submitted request is answered exactly once through the answer
 * callback, in completion order, and then freed by the engine. Nothing
 * is answered from inside engine_submit. The answer callback may call
 * engine_submit, engine_is_full and the read-only functions, but not
 * engine_cancel, engine_shutdown or engine_free.
 */
#ifndef EMBEDWATCH_ENGINE_H
#define EMBEDWATCH_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/loop.h"
#include "core/signals.h"
#include "core/spawn.h"
#include "engine/policy.h"
#include "engine/request.h"
#include "engine/stats.h"

struct engine;

/* Called once per request with its answer; the request (and the
 * answer's strings) are freed when it returns. */
typedef void (*engine_answer_fn)(void *arg, struct request *req,
    const struct answer *a);

/*
 * Returns an engine registered with l (and with sigs for SIGCHLD, unless
 * sigs is NULL), or NULL with errno. cfg must outlive it. sp NULL: real
 * workers (core/spawn); a test passes its fakes.
 */
struct engine *engine_new(const struct config *cfg, struct loop *l,
	    struct signals *sigs, const struct spawner *sp,
	    engine_answer_fn answer, void *arg);

/* Kill and reap every worker (blocking, bounded by SIGKILL), answer
 * every request still live with shutting_down, and free the engine. */
void	 engine_free(struct engine *e);

/* Take ownership of req and queue it; it starts in this loop turn. */
void	 engine_submit(struct engine *e, struct request *req, int64_t now);

/* Should the modes stop taking requests for now (--queue requests are
 * waiting, whatever their lines)? */
bool	 engine_is_full(const struct engine *e);

/* No request live and no worker alive but warm ones. */
bool	 engine_is_idle(const struct engine *e);

/*
 * Stop: answer queued and backing-off requests shutting_down now, give
 * running attempts drain_ms to finish, then kill them (their requests are
 * answered shutting_down). A second call kills at once.
 */
void	 engine_shutdown(struct engine *e, int64_t now, long drain_ms);

/*
 * Cancel owner's live requests with this id (all of owner's when id_json
 * is NULL): each is answered cancelled now and its workers SIGKILLed.
 * Returns how many requests matched.
 */
size_t	 engine_cancel(struct engine *e, const void *owner,
	    const char *id_json, int64_t now);

/* Count an answer the mode gave itself (an invalid request line). */
void	 engine_count(struct engine *e, enum req_code code);

/* Reap exited workers. The engine calls it on SIGCHLD; a test with a
 * fake spawner calls it after making its fakes exit. */
void	 engine_reap(struct engine *e);

/* The counters, valid until the next call into the engine. */
const struct engine_stats *engine_stats(struct engine *e);

/* The engine's policy, to tune (tests; the options to come). */
struct policy *engine_policy(struct engine *e);

#endif
