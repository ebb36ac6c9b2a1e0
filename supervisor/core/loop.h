/*
 * loop: the one poll loop. Every mode and the engine register what they
 * wait for here, in the way redis's ae lets modules register file and
 * time events; nobody else calls poll.
 *
 * A turn: run the hooks of each phase in order (input, work, output,
 * late; within a phase in the order they were added), compute the
 * timeout from the nearest timer on a fresh clock (0 if someone called
 * loop_wake), poll every watched descriptor, call the callbacks of the
 * descriptors that are ready, then fire the timers that are due. The
 * hooks are where deferred work happens: parsing buffered lines, starting
 * attempts, flushing answers, checking whether the mode is finished.
 *
 * Callbacks may watch, unwatch, arm and disarm anything, including their
 * own descriptor or timer: a descriptor unwatched (or closed and watched
 * again) during a turn gets no stale event from that turn's poll.
 * Descriptors are kept in a table indexed by number, O(1) to change; a
 * turn costs O(watched descriptors) to build the poll set, and timers are
 * a heap (core/timers), O(log n) to arm. Arming grows the heap; if memory
 * runs out the process logs it and exits 70 so its manager restarts it,
 * since a deadline that cannot be kept must not be silently dropped.
 */
#ifndef EMBEDWATCH_LOOP_H
#define EMBEDWATCH_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/timers.h"

struct loop;

enum loop_phase {
	LOOP_INPUT,		/* take in what was read (parse, submit) */
	LOOP_WORK,		/* the engine: finish, start attempts */
	LOOP_OUTPUT,		/* write out, decide whether to stop */
	LOOP_LATE,		/* what must not delay the answers: refills */
	LOOP_N_PHASES
};

typedef void (*loop_fd_fn)(void *arg, int fd, short revents);
typedef void (*loop_hook_fn)(void *arg, int64_t now_ms);
typedef void (*loop_timer_fn)(void *owner, int64_t now_ms);

/* Returns a loop, or NULL with errno. */
struct loop *loop_new(void);

/* Free the loop; what is still registered is forgotten, not closed. */
void	 loop_free(struct loop *l);

/*
 * Watch fd for events (POLLIN, POLLOUT; 0 for hang-ups and errors only,
 * as poll(2) reports them whatever is asked): fn(arg, fd, revents) is
 * called after a poll that reports any of them, or POLLHUP, POLLERR or
 * POLLNVAL. A descriptor that reports POLLHUP for ever (a pipe whose
 * writer left) must be unwatched, not set to 0. Calling it again
 * changes events, fn and arg. Returns 0, or -1 with errno (ENOMEM,
 * EBADF for a negative fd).
 */
int	 loop_watch(struct loop *l, int fd, short events, loop_fd_fn fn,
	    void *arg);

/* Watch fd for events while want holds, and not at all otherwise (for
 * pipes and files, which must not sit in the poll set unwanted). Returns
 * 0, or -1 with errno as loop_watch. */
int	 loop_watch_while(struct loop *l, int fd, bool want, short events,
	    loop_fd_fn fn, void *arg);

/* Change only the events of a watched fd; a no-op for one not watched. */
void	 loop_events(struct loop *l, int fd, short events);

/* Stop watching fd (call before closing it); a no-op if not watched. */
void	 loop_unwatch(struct loop *l, int fd);

/* Call fn(arg, now) every turn in phase. Returns 0 or -1 with errno. */
int	 loop_add_hook(struct loop *l, enum loop_phase phase,
	    loop_hook_fn fn, void *arg);

/* Remove the hook added with these arguments (it runs no more, even in
 * this turn); a no-op if none. */
void	 loop_remove_hook(struct loop *l, enum loop_phase phase,
	    loop_hook_fn fn, void *arg);

/* Prepare a timer that calls fn(owner, now) when it fires; fn NULL: it
 * only makes the loop turn, for hooks that look at the time. */
void	 loop_timer_init(struct timer *tm, loop_timer_fn fn, void *owner);

/* Arm (or move) tm to fire at at_ms, CLOCK_MONOTONIC milliseconds. */
void	 loop_arm(struct loop *l, struct timer *tm, int64_t at_ms);
void	 loop_disarm(struct loop *l, struct timer *tm);

/* The next poll does not wait: work became ready outside a callback's
 * own descriptor (a submitted request, a line left in a buffer). */
void	 loop_wake(struct loop *l);

/*
 * One turn, its poll waiting at most max_wait_ms (-1: as long as the
 * timers allow). Returns 0, or -1 with errno if poll failed for a reason
 * other than EINTR.
 */
int	 loop_once(struct loop *l, int max_wait_ms);

/* Turn until loop_stop. Returns 0, or -1 after logging a poll failure. */
int	 loop_run(struct loop *l);

/* Make loop_run return after the current turn. */
void	 loop_stop(struct loop *l);

#endif
