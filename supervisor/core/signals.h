/*
 * signals: signals as events on a descriptor; the only module that
 * touches signal masks and dispositions.
 *
 * sig_init blocks SIGCHLD, SIGTERM, SIGINT and SIGHUP and returns a
 * signalfd for them to sit in the poll set; SIGPIPE is ignored (EPIPE is
 * handled where it happens). sig_open does that and watches the
 * descriptor on the loop, calling the handler set for each signal with
 * sig_on (the engine takes SIGCHLD, the mode the others). The kernel
 * coalesces signals: a handler runs once for any number that arrived
 * since the last turn, so the SIGCHLD handler reaps until none are left.
 * A forked worker calls sig_child_reset before anything else so it
 * starts with default dispositions and an empty mask.
 */
#ifndef EMBEDWATCH_SIGNALS_H
#define EMBEDWATCH_SIGNALS_H

#include <stdbool.h>

#include "core/loop.h"

struct sig_events {
	bool	 child;		/* SIGCHLD: reap */
	bool	 terminate;	/* SIGTERM or SIGINT */
	bool	 hangup;	/* SIGHUP */
	int	 last_signo;	/* the last SIGTERM/SIGINT, for messages */
};

/* Returns the signal descriptor (non-blocking, close-on-exec), or -1
 * with errno. */
int	 sig_init(void);

/* Drain fd and report what arrived. Returns 0 or -1 with errno. */
int	 sig_read(int fd, struct sig_events *ev);

typedef void (*sig_fn)(void *arg, int signo);

/* Block the signals and watch their descriptor on l. Returns the
 * dispatcher, or NULL with errno. */
struct signals *sig_open(struct loop *l);

/* Stop watching and close the descriptor; the mask stays as it is. */
void	 sig_close(struct signals *s);

/* Call fn(arg, signo) when signo (SIGCHLD, SIGTERM, SIGINT or SIGHUP)
 * arrives; fn NULL ignores it again. One handler per signal. */
void	 sig_on(struct signals *s, int signo, sig_fn fn, void *arg);

/* The same handler for SIGTERM and SIGINT, the two that stop a mode. */
void	 sig_on_terminate(struct signals *s, sig_fn fn, void *arg);

/* In a forked child: default dispositions for every signal, empty mask. */
void	 sig_child_reset(void);

#endif
