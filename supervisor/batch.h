/*
 * batch: the `embedwatch batch` mode. Embeds a whole corpus, in input
 * order, into a JSON-lines or .npy file; resumable; failed inputs listed
 * in an errors file.
 */
#ifndef EMBEDWATCH_BATCH_H
#define EMBEDWATCH_BATCH_H

#include "config.h"

/* Run the batch described by cfg. sig_fd is the signals descriptor.
 * Returns the process exit status (0, 3 some inputs failed, 64, 66, 73,
 * 78). */
int	 batch_run(const struct config *cfg, int sig_fd);

#endif
