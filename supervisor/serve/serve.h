/*
 * serve: the `embedwatch serve` mode. The pipe protocol on every
 * connection of a Unix stream socket, for many host applications at once,
 * under systemd or any restart-on-failure supervisor.
 */
#ifndef EMBEDWATCH_SERVE_H
#define EMBEDWATCH_SERVE_H

#include "config/config.h"

/* Serve until SIGTERM or SIGINT and the drain. sig_fd is the signals
 * descriptor. Returns the process exit status. */
int	 serve_run(const struct config *cfg, int sig_fd);

#endif
