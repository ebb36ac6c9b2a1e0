/*
 * slot: the worker-slot table. A slot holds one worker process at a time:
 * its pid, its result pipe (frames in), a warm worker's job pipe (the job
 * out), its kill timer, and a record of what happened to it. A slot
 * decides nothing about requests: it fires events, and the engine alone
 * decides what they mean.
 *
 * A worker is either warm (forked ahead, no job yet) or running an
 * attempt, whose owner (the engine's, opaque here) is set by slot_start.
 * A warm worker connects ahead and says when it is ready ('W'), or that
 * it cannot serve ('L': then it is let go and replaced); see spawn.h.
 * What workers learn (the endpoint's address, its TLS session) is kept
 * here as opaque bytes and handed to later workers in their jobs.
 * Events, each at most once per worker and only while it has an owner:
 *   SLOT_RESULT  its result frame came; the outcome is known.
 *   SLOT_KILLED  we SIGKILLed it before any result (deadline, cancel, lost
 *                race, shutdown); SIGKILL cannot be caught, so the
 *                outcome is known at the kill.
 *   SLOT_ENDED   both EOF on its result pipe and its reap are in, in
 *                either order; the slot is freed when the handler
 *                returns. The last event of every worker, owned or not.
 * The handler may call any slot function except slots_free, but must
 * not expect a slot it did not get in this event to still be live after
 * slots_sweep.
 *
 * Invariants: a slot's pid is 0 once reaped, and nothing signals a slot
 * whose pid is 0; a slot is freed only in slots_sweep (or slots_free),
 * once both EOF and reap are in, so neither a pid nor a descriptor is
 * reused early. A worker that breaks the frame protocol is killed and
 * reported at SLOT_ENDED, when its exit status is known.
 */
#ifndef EMBEDWATCH_SLOT_H
#define EMBEDWATCH_SLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto_frame.h"
#include "proto_job.h"
#include "proto_progress.h"
#include "proto_result.h"
#include "core/loop.h"
#include "core/spawn.h"

struct slot;
struct slots;

enum slot_event {
	SLOT_RESULT,
	SLOT_KILLED,
	SLOT_ENDED
};

enum slot_kill {
	SLOT_KILL_NONE,
	SLOT_KILL_DEADLINE,	/* the attempt's time was up */
	SLOT_KILL_SHUTDOWN,
	SLOT_KILL_CANCEL,
	SLOT_KILL_LOST,		/* another attempt of its request won */
	SLOT_KILL_GARBAGE,	/* it broke the frame protocol */
	SLOT_KILL_N		/* how many reasons */
};

typedef void (*slot_event_fn)(void *arg, struct slot *s, enum slot_event ev,
    int64_t now_ms);

struct slot_counts {
	uint64_t	 started;	/* workers forked */
	uint64_t	 killed;	/* with an owner and no result */
	uint64_t	 killed_by[SLOT_KILL_N];	/* ... by reason */
	uint64_t	 spawn_failures;
	uint64_t	 warm_failures;	/* warm connects failed or too slow */
	size_t		 busy;		/* slots holding a worker */
	size_t		 warm;		/* of which waiting for a job */
	size_t		 leaving;	/* ... or let go, not reaped yet */
	long		 warm_ready_ms;	/* fork to connected, on average; 0:
					 * none yet */
};

/* How an attempt ended, for the engine's answer or retry. */
struct slot_outcome {
	bool		 has_result;
	const struct proto_result *result;	/* has_result */
	const char	*body;		/* has_result and ok: the body */
	size_t		 body_len;
	enum slot_kill	 killed;	/* why we killed it, if we did */
	long		 elapsed_ms;	/* since the attempt started */
	char		 where[256];	/* where the call stood */
	char		 ended[192];	/* !has_result, or after a protocol
					 * error: how the worker ended */
};

/*
 * n slots over spawner sp (which must outlive the table); results are
 * read up to frame_max bytes a frame; host and tls are for the progress
 * descriptions. fn(arg, ...) gets the events. Returns the table, or NULL
 * with errno.
 */
struct slots *slots_new(struct loop *l, const struct spawner *sp, size_t n,
	    size_t frame_max, const char *host, bool tls, slot_event_fn fn,
	    void *arg);

/* SIGKILL every worker, reap them all (blocking, bounded by SIGKILL),
 * fire their last events, and free the table. NULL is a no-op. */
void	 slots_free(struct slots *t);

/* The slot for the next attempt: a ready warm worker, else a free slot,
 * else a warm worker still connecting; NULL when none is, or the limit
 * of attempts is running. Cost: O(slots). */
struct slot *slots_pick(struct slots *t);

/*
 * Start an attempt of job on s (from slots_pick) for owner: hand the job
 * to the warm worker there, or fork one. Its kill timer is armed at
 * kill_at_ms. Returns 0; or -1 with errno, leaving s free or warm (or,
 * if the loop could not watch a new worker, holding it while it dies).
 */
int	 slot_start(struct slot *s, const struct job *job, void *owner,
	    int64_t kill_at_ms);

/* SIGKILL s's worker, if it is still ours to signal, and fire
 * SLOT_KILLED if it had an owner and no result yet. */
void	 slot_kill(struct slot *s, enum slot_kill why);

/* SIGKILL every busy slot's worker (shutdown). */
void	 slots_kill_all(struct slots *t, enum slot_kill why);

/* Reap every exited child; the engine calls it on SIGCHLD. */
void	 slots_reap(struct slots *t);

/* Fire SLOT_ENDED for every slot whose EOF and reap are both in and
 * free them. Called once a loop turn, by the engine. */
void	 slots_sweep(struct slots *t, int64_t now_ms);

/*
 * Fork warm workers for calls like tmpl (with the hints learned so far)
 * into free slots until want are warm, at most a few a turn so the loop
 * stays responsive (it wakes to go on). After a failed fork, waits a
 * second before trying again. A warm worker that cannot connect, or is
 * not ready within tmpl's connect timeout (and is killed), is counted in
 * warm_failures and backs refills off exponentially (250 ms doubling to
 * 30 s), one warm worker trying at a time until one connects.
 */
void	 slots_top_up(struct slots *t, size_t want, const struct job *tmpl,
	    int64_t now_ms);

/* The attempt's owner, NULL for a warm or detached one. */
void	*slot_owner(const struct slot *s);

/* Forget the owner: no more events but SLOT_ENDED reach the engine. */
void	 slot_detach(struct slot *s);

pid_t	 slot_pid(const struct slot *s);

/* Fill o with how the attempt on s ended (after any event). */
void	 slot_outcome(const struct slot *s, int64_t now_ms,
	    struct slot_outcome *o);

const struct slot_counts *slots_counts(const struct slots *t);

/* At most running_max attempts at once (of the n slots; the rest are
 * for warm workers). Default: n. */
void	 slots_set_limit(struct slots *t, size_t running_max);

/* Workers running attempts: busy, neither warm nor leaving. */
size_t	 slots_running(const struct slots *t);

/* No worker alive but warm ones waiting for a job (or let go). */
bool	 slots_are_idle(const struct slots *t);

#endif
