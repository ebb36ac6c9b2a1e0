/*
 * listen: serve's listening socket. Sockets handed over by systemd
 * (LISTEN_FDS) are used as they are: a Unix one is the socket, TCP ones
 * are kept for serve/http; without a Unix one the Unix socket
 * path is bound with the configured mode, with no moment of looser
 * permissions. A socket file nobody answers on is the leftover of a
 * crash and is replaced; one that answers belongs to a live server and
 * is never stolen. The path is removed only while it is still the one
 * we bound, so a successor's socket is left alone.
 */
#ifndef EMBEDWATCH_LISTEN_H
#define EMBEDWATCH_LISTEN_H

#include <stdbool.h>
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
};

/* Open the socket. Returns 0, or -1 after a message, with the exit
 * status in *status. */
int	 listen_open(struct listener *ls, const struct config *cfg,
	    int *status);

/* Remove the socket path if it is still the one we bound (at the start
 * of a drain, so a successor can start at once; and at exit). */
void	 listen_remove(struct listener *ls);

/* Close the descriptor, if open. */
void	 listen_close(struct listener *ls);

#endif
