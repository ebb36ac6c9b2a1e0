/*
 * pipe: the `embedwatch pipe` mode. JSON-line requests on stdin, one
 * JSON-line answer per request on stdout, in completion order.
 */
#ifndef EMBEDWATCH_PIPE_H
#define EMBEDWATCH_PIPE_H

#include "config/config.h"

/* Run until stdin ends and every request is answered, or until SIGTERM
 * or SIGINT and the drain. sig_fd is the signals descriptor. Returns the
 * process exit status. */
int	 pipe_run(const struct config *cfg, int sig_fd);

#endif
