/*
 * signals: signals as events on a descriptor; the only module that
 * touches signal masks and dispositions.
 *
 * sig_init blocks SIGCHLD, SIGTERM, SIGINT and SIGHUP and returns a
 * signalfd for them to sit in the poll set; SIGPIPE is ignored (EPIPE is
 * handled where it happens). A forked worker calls sig_child_reset before
 * anything else so it starts with default dispositions and an empty mask.
 */
#ifndef EMBEDWATCH_SIGNALS_H
#define EMBEDWATCH_SIGNALS_H

#include <stdbool.h>

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

/* In a forked child: default dispositions for every signal, empty mask. */
void	 sig_child_reset(void);

#endif
