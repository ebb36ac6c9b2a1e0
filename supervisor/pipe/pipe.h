/*
 * pipe: the pipe mode. JSON lines in on stdin, one answer line per
 * request out on stdout (protocol/jsonl), in completion order; at EOF
 * every request is answered and written before the process exits. Exit
 * status 0, or 74 if stdout went away (its answers are lost and its
 * workers killed), or 70 after an internal failure.
 *
 * main calls pipe_init, runs the loop, then pipe_finish with loop_run's
 * result; the state between them is opaque.
 */
#ifndef EMBEDWATCH_PIPE_H
#define EMBEDWATCH_PIPE_H

#include "config/config.h"
#include "core/loop.h"
#include "core/signals.h"

/* Register the mode with l and sigs. Returns its state, or NULL after a
 * message, with the exit status in *status. */
void	*pipe_init(const struct config *cfg, struct loop *l,
	    struct signals *sigs, int *status);

/* Kill and reap what still runs, write what is left; free the state.
 * Returns the exit status. */
int	 pipe_finish(void *state, int loop_status);

#endif
