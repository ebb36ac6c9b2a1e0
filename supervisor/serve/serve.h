/*
 * serve: the `embedwatch serve` mode. The pipe protocol on every
 * connection of a Unix stream socket, for many host applications at once,
 * under systemd or any restart-on-failure supervisor. Runs until SIGTERM
 * or SIGINT and the drain; a second signal kills what still runs.
 *
 * main calls serve_init, runs the loop, then serve_finish with
 * loop_run's result; the state between them is opaque.
 */
#ifndef EMBEDWATCH_SERVE_H
#define EMBEDWATCH_SERVE_H

#include "config/config.h"
#include "core/loop.h"
#include "core/signals.h"

/* Open the socket and register the mode with l and sigs. Returns its
 * state, or NULL after a message, with the exit status in *status. */
void	*serve_init(const struct config *cfg, struct loop *l,
	    struct signals *sigs, int *status);

/* Kill and reap what still runs, close the clients and the socket; free
 * the state. Returns the exit status. */
int	 serve_finish(void *state, int loop_status);

#endif
