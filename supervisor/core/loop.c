/*
 * loop: see loop.h.
 *
 * Invariants: watch[fd].fn is NULL exactly when fd is not watched; every
 * registration gets a new serial, and a ready descriptor is dispatched
 * only if its registration still has the serial it had when the poll set
 * was built, so an event never reaches a callback that stopped watching
 * or a descriptor number reused within the turn.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "core/loop.h"

#define TIMERS_START	64
#define EXIT_NO_MEMORY	70	/* EX_SOFTWARE, as config.h's EXIT_SOFTWARE */

struct watch {
	loop_fd_fn	 fn;		/* NULL: not watched */
	void		*arg;
	short		 events;
	uint64_t	 serial;
};

struct hook {
	loop_hook_fn	 fn;
	void		*arg;
};

struct loop {
	struct watch	*watch;		/* indexed by fd */
	size_t		 n_watch;	/* entries allocated */
	size_t		 n_watched;	/* entries in use */
	uint64_t	 next_serial;
	struct pollfd	*pfd;
	uint64_t	*pfd_serial;
	size_t		 pfd_cap;
	struct hook	*hooks[LOOP_N_PHASES];
	size_t		 n_hooks[LOOP_N_PHASES];
	bool		 in_hooks;	/* removals are deferred */
	bool		 hooks_removed;
	struct timers	 timers;
	bool		 woken;
	bool		 stopped;
};

struct loop *
loop_new(void)
{
	struct loop *l;

	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	if (timers_init(&l->timers, TIMERS_START) == -1) {
		free(l);
		return NULL;
	}
	return l;
}

void
loop_free(struct loop *l)
{
	int phase;

	if (l == NULL)
		return;
	for (phase = 0; phase < LOOP_N_PHASES; phase++)
		free(l->hooks[phase]);
	timers_free(&l->timers);
	free(l->watch);
	free(l->pfd);
	free(l->pfd_serial);
	free(l);
}

/* Room in the watch table for fd and in the poll set for every entry. */
static int
grow(struct loop *l, int fd)
{
	struct watch *w;
	struct pollfd *pfd;
	uint64_t *serial;
	size_t n;

	if ((size_t)fd < l->n_watch)
		return 0;
	n = l->n_watch > 0 ? l->n_watch : 16;
	while (n <= (size_t)fd)
		n *= 2;
	w = reallocarray(l->watch, n, sizeof(*w));
	if (w == NULL)
		return -1;
	memset(w + l->n_watch, 0, (n - l->n_watch) * sizeof(*w));
	l->watch = w;
	l->n_watch = n;
	pfd = reallocarray(l->pfd, n, sizeof(*pfd));
	if (pfd == NULL)
		return -1;
	l->pfd = pfd;
	serial = reallocarray(l->pfd_serial, n, sizeof(*serial));
	if (serial == NULL)
		return -1;
	l->pfd_serial = serial;
	l->pfd_cap = n;
	return 0;
}

int
loop_watch(struct loop *l, int fd, short events, loop_fd_fn fn, void *arg)
{
	struct watch *w;

	if (fd < 0 || fn == NULL) {
		errno = EBADF;
		return -1;
	}
	if (grow(l, fd) == -1)
		return -1;
	w = &l->watch[fd];
	if (w->fn == NULL) {
		l->n_watched++;
		w->serial = ++l->next_serial;
	}
	w->fn = fn;
	w->arg = arg;
	w->events = events;
	return 0;
}

int
loop_watch_while(struct loop *l, int fd, bool want, short events,
    loop_fd_fn fn, void *arg)
{
	if (want)
		return loop_watch(l, fd, events, fn, arg);
	loop_unwatch(l, fd);
	return 0;
}

void
loop_events(struct loop *l, int fd, short events)
{
	if (fd >= 0 && (size_t)fd < l->n_watch && l->watch[fd].fn != NULL)
		l->watch[fd].events = events;
}

void
loop_unwatch(struct loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->n_watch || l->watch[fd].fn == NULL)
		return;
	memset(&l->watch[fd], 0, sizeof(l->watch[fd]));
	l->n_watched--;
}

int
loop_add_hook(struct loop *l, enum loop_phase phase, loop_hook_fn fn,
    void *arg)
{
	struct hook *h;

	h = reallocarray(l->hooks[phase], l->n_hooks[phase] + 1, sizeof(*h));
	if (h == NULL)
		return -1;
	h[l->n_hooks[phase]].fn = fn;
	h[l->n_hooks[phase]].arg = arg;
	l->hooks[phase] = h;
	l->n_hooks[phase]++;
	return 0;
}

void
loop_remove_hook(struct loop *l, enum loop_phase phase, loop_hook_fn fn,
    void *arg)
{
	struct hook *h = l->hooks[phase];
	size_t i;

	for (i = 0; i < l->n_hooks[phase]; i++) {
		if (h[i].fn != fn || h[i].arg != arg)
			continue;
		if (l->in_hooks) {
			/* Running hooks: blank it, squeeze it out after. */
			h[i].fn = NULL;
			l->hooks_removed = true;
			return;
		}
		memmove(&h[i], &h[i + 1], (l->n_hooks[phase] - i - 1) *
		    sizeof(*h));
		l->n_hooks[phase]--;
		return;
	}
}

/* Run every hook, phase by phase. Hooks may add and remove hooks. */
static void
run_hooks(struct loop *l)
{
	struct hook *h;
	size_t phase, k, kept;

	l->in_hooks = true;
	for (phase = 0; phase < LOOP_N_PHASES; phase++)
		for (k = 0; k < l->n_hooks[phase]; k++) {
			h = &l->hooks[phase][k];
			if (h->fn != NULL)
				h->fn(h->arg, clock_ms());
		}
	l->in_hooks = false;
	if (!l->hooks_removed)
		return;
	l->hooks_removed = false;
	for (phase = 0; phase < LOOP_N_PHASES; phase++) {
		for (k = 0, kept = 0; k < l->n_hooks[phase]; k++)
			if (l->hooks[phase][k].fn != NULL)
				l->hooks[phase][kept++] = l->hooks[phase][k];
		l->n_hooks[phase] = kept;
	}
}

void
loop_timer_init(struct timer *tm, loop_timer_fn fn, void *owner)
{
	timer_init(tm, owner, 0);
	tm->fire = fn;
}

void
loop_arm(struct loop *l, struct timer *tm, int64_t at_ms)
{
	if (timers_arm(&l->timers, tm, at_ms) == 0)
		return;
	if (timers_reserve(&l->timers, l->timers.cap * 2) == -1 ||
	    timers_arm(&l->timers, tm, at_ms) == -1) {
		log_error("cannot grow the timer heap past %zu timers: %s; "
		    "exiting", l->timers.cap, strerror(errno));
		exit(EXIT_NO_MEMORY);
	}
}

void
loop_disarm(struct loop *l, struct timer *tm)
{
	timers_disarm(&l->timers, tm);
}

void
loop_wake(struct loop *l)
{
	l->woken = true;
}

void
loop_stop(struct loop *l)
{
	l->stopped = true;
}

/* The poll timeout: the nearest timer on a fresh clock, capped. */
static int
poll_timeout(struct loop *l, int max_wait_ms)
{
	int64_t next, now;
	int timeout;

	if (l->woken)
		return 0;
	next = timers_next(&l->timers);
	if (next < 0)
		timeout = -1;
	else {
		now = clock_ms();
		timeout = next <= now ? 0 : next - now > INT32_MAX ?
		    INT32_MAX : (int)(next - now);
	}
	if (max_wait_ms >= 0 && (timeout < 0 || timeout > max_wait_ms))
		timeout = max_wait_ms;
	return timeout;
}

/* The poll set: every watched descriptor. Cost: a walk of
 * the table up to the last watched descriptor. */
static size_t
build_pollset(struct loop *l)
{
	size_t fd, n = 0, seen = 0;

	for (fd = 0; fd < l->n_watch && seen < l->n_watched; fd++) {
		if (l->watch[fd].fn == NULL)
			continue;
		seen++;
		l->pfd[n].fd = (int)fd;
		l->pfd[n].events = l->watch[fd].events;
		l->pfd[n].revents = 0;
		l->pfd_serial[n++] = l->watch[fd].serial;
	}
	return n;
}

int
loop_once(struct loop *l, int max_wait_ms)
{
	struct timer *tm;
	struct watch *w;
	size_t i, n;
	int64_t now;
	int r, fd;

	run_hooks(l);
	if (l->stopped)
		return 0;
	n = build_pollset(l);
	r = poll(l->pfd, n, poll_timeout(l, max_wait_ms));
	l->woken = false;
	if (r == -1)
		return errno == EINTR ? 0 : -1;
	for (i = 0; i < n && r > 0; i++) {
		if (l->pfd[i].revents == 0)
			continue;
		r--;
		fd = l->pfd[i].fd;
		w = &l->watch[fd];
		/* Race: an earlier callback this turn may have unwatched fd,
		 * or closed it and watched a new descriptor of that number. */
		if (w->fn == NULL || w->serial != l->pfd_serial[i])
			continue;
		w->fn(w->arg, fd, l->pfd[i].revents);
	}
	now = clock_ms();
	while ((tm = timers_pop_due(&l->timers, now)) != NULL)
		if (tm->fire != NULL)
			tm->fire(tm->owner, now);
	return 0;
}

int
loop_run(struct loop *l)
{
	l->stopped = false;
	while (!l->stopped)
		if (loop_once(l, -1) == -1) {
			log_error("poll: %s", strerror(errno));
			return -1;
		}
	return 0;
}
