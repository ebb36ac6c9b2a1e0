/*
 * batch/progress: what a batch tells the person running it, private to
 * batch/. The progress line (on stderr, redrawn in place at most every
 * BATCH_PROGRESS_MS when --progress or stderr is a terminal) and the
 * summary at the end, which is the run's result and always shown; after
 * a stop, the command that resumes the run (header values elided: they
 * may hold credentials). Counts are of what was written.
 */
#ifndef EMBEDWATCH_BATCH_PROGRESS_H
#define EMBEDWATCH_BATCH_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#include "batch/state.h"
#include "engine/engine.h"

#define BATCH_PROGRESS_MS	250

/* Count the lines of a regular input into bs->total, when the progress
 * line is on; otherwise, or when it cannot, the total stays unknown. */
void	 batch_progress_count_total(struct batch *bs);

/* Redraw the progress line if it is on and BATCH_PROGRESS_MS have passed
 * (or force). */
void	 batch_progress_draw(struct batch *bs, int64_t now, bool force);

/* While on, every log line erases the progress line first and draws it
 * again after itself. */
void	 batch_progress_hook_log(struct batch *bs, bool on);

/* Erase the progress line, if drawn, before anything else is written to
 * stderr. */
void	 batch_progress_clear(struct batch *bs);

/* Print the summary of the run (st: the engine's final counters); if
 * interrupted, also how to go on. */
void	 batch_progress_summarize(struct batch *bs,
	    const struct engine_stats *st, bool interrupted);

#endif
