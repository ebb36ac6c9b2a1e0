/*
 * timers: a binary min-heap of deadlines, in CLOCK_MONOTONIC milliseconds.
 *
 * A struct timer is embedded in whatever it times (a worker, a request)
 * and carries an owner pointer, a kind and a callback so whoever pops it
 * can dispatch it (core/loop calls fire). Arming, re-arming and
 * disarming are O(log n); the nearest deadline is O(1). The heap's
 * capacity is set at init and changed only by timers_reserve, so
 * arming never allocates: core/loop reserves more when it is full.
 */
#ifndef EMBEDWATCH_TIMERS_H
#define EMBEDWATCH_TIMERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct timer {
	int64_t	 at_ms;
	void	*owner;
	int	 kind;
	void	(*fire)(void *owner, int64_t now_ms);	/* NULL: none */
	size_t	 slot;		/* private: heap index + 1, 0 when disarmed */
};

struct timers {
	struct timer	**heap;	/* private */
	size_t		  n;	/* private */
	size_t		  cap;	/* private */
};

/* Room for cap armed timers. Returns 0 or -1 with errno. */
int	 timers_init(struct timers *t, size_t cap);
void	 timers_free(struct timers *t);

/* Make room for cap armed timers (never less than are armed). Returns 0
 * or -1 with errno, leaving the heap as it was. */
int	 timers_reserve(struct timers *t, size_t cap);

/* Prepare a timer that is not armed, without a callback. */
void	 timer_init(struct timer *tm, void *owner, int kind);
bool	 timer_is_armed(const struct timer *tm);

/* Arm (or move) tm to fire at at_ms. Returns 0, or -1 with errno ENOSPC
 * when the heap is full, which is a sizing bug. */
int	 timers_arm(struct timers *t, struct timer *tm, int64_t at_ms);
void	 timers_disarm(struct timers *t, struct timer *tm);

/* The earliest deadline, or -1 when nothing is armed. */
int64_t	 timers_next(const struct timers *t);

/* Disarm and return the earliest timer due at now_ms, or NULL. */
struct timer *timers_pop_due(struct timers *t, int64_t now_ms);

#endif
