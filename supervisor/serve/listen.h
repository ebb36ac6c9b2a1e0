/*
 * listen: serve's listening socket. Sockets handed over by systemd
 * (LISTEN_FDS) are used as they are: a Unix one is the socket, TCP ones
 * are kept for serve/http; without a Unix one the Unix socket
 * path is bound with the configured mode, with no moment of looser
 * permissions. A socket file nobody answers on is the leftover of a
 * crash and is replaced; one that answers belongs to a live server and
 * is never stolen. The path is removed only while it is still the one
 * we bound, so a successor's socket is left alone.
 *
 * Accepting is paused for LISTEN_PAUSE_MS when descriptors (EMFILE,
 * ENFILE) or memory (ENOBUFS, ENOMEM) run out: the waiting client stays
 * in the backlog, the caller stops polling the socket until
 * listen_paused_until, and the loop does not spin on a socket that is
 * always readable. The warning is logged once per LISTEN_LOG_EVERY_MS at
 * most, with the count of failures since the last one.
 */
#ifndef EMBEDWATCH_LISTEN_H
#define EMBEDWATCH_LISTEN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/config.h"

#define LISTEN_MAX_TCP	16

/* Fields are private but for fd (non-blocking, close-on-exec; -1 when
 * serve has no Unix socket, only --listen), path (NULL for an activated
 * socket) and tcp_fds, activated TCP sockets for serve/http to take. */
struct listener {
	int		 fd;
	int		 tcp_fds[LISTEN_MAX_TCP];
	size_t		 n_tcp;
	const char	*path;
	bool		 own_path;	/* we made the path: unlink it */
	dev_t		 dev;		/* ... while it is still ours */
	ino_t		 ino;
	int64_t		 paused_until_ms; /* 0: accepting */
	int64_t		 logged_ms;	/* last "cannot accept" warning */
	uint64_t	 n_failed;	/* failures since that warning */
};

#define LISTEN_PAUSE_MS		250
#define LISTEN_LOG_EVERY_MS	10000

/* Open the socket. Returns 0, or -1 after a message, with the exit
 * status in *status. */
int	 listen_open(struct listener *ls, const struct config *cfg,
	    int *status);

/* Remove the socket path if it is still the one we bound (at the start
 * of a drain, so a successor can start at once; and at exit). */
void	 listen_remove(struct listener *ls);

/*
 * Accept one connection at time now (ms), non-blocking and close-on-exec.
 * Returns its descriptor, or -1 with errno: EAGAIN when none is waiting
 * or accepting is paused; EMFILE, ENFILE, ENOBUFS or ENOMEM when that
 * failure just paused it; anything else (logged) for a failed accept.
 */
int	 listen_accept(struct listener *ls, int64_t now);

/* When a pause ends (0 if none is on at now): poll the socket only
 * from then on. */
int64_t	 listen_paused_until(struct listener *ls, int64_t now);

/*
 * How many clients the descriptors allow: wanted, or fewer (logged, at
 * least 1) if RLIMIT_NOFILE, less what is open now, the jobs' workers
 * (LISTEN_FDS_PER_WORKER each) and a spare for spawning, leaves less.
 */
unsigned listen_max_clients(unsigned wanted, unsigned jobs);

#define LISTEN_FDS_PER_WORKER	3	/* result pipe, job pipe, pidfd */
#define LISTEN_FDS_SPARE	8	/* spawning, logs, the reaper */

/* Close the descriptor, if open. */
void	 listen_close(struct listener *ls);

#endif
