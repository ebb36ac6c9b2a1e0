/*
 * batch/retry: --retry-failed, private to batch/. Embeds again only the
 * input lines the errors file lists, and merges the results into what
 * a finished run wrote, in input order:
 *   JSON lines: a new OUT (OUT.tmp) gets the old records and the new
 *   ones merged by their "line", and is renamed over OUT at the end;
 *   .npy: the NaN row of each line that now succeeds is filled in place
 *   (rows are found by counting the input lines that have one).
 * The errors file is rewritten (ERRORS.tmp, renamed at the end) with
 * what still fails. A retry that is stopped before the end renames
 * nothing: OUT and the errors file stay as they were (.npy rows already
 * filled stay filled), and it can simply be run again.
 *
 * Memory: the listed line numbers (8 bytes a failed input) and one old
 * record at a time.
 */
#ifndef EMBEDWATCH_BATCH_RETRY_H
#define EMBEDWATCH_BATCH_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "batch/state.h"

/* Read the errors file's line numbers and open the files to merge into
 * (instead of batch_resume_open). Returns 0, or an exit status after a
 * message. */
int	 batch_retry_open(struct batch *bs);

/* Is input line seq one to embed again? Called with increasing seq. */
bool	 batch_retry_wants(struct batch *bs, uint64_t seq);

/* Write the result of line seq (ITEM_OK) into the merged output.
 * Returns 0, or -1 after a message (the run stops). */
int	 batch_retry_write_ok(struct batch *bs, uint64_t seq,
	    const struct item *it);

/* At the end: if complete, copy the rest of the old OUT, sync and
 * rename the new files into place; else drop them. */
void	 batch_retry_finish(struct batch *bs, bool complete);

#endif
