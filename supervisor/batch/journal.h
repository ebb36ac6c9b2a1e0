/*
 * batch/journal: the side journal of a batch, private to batch/. Results
 * that completed out of order wait in the ring behind an earlier input;
 * so that a stop, a crash or SIGKILL does not throw away what was paid
 * for, each such result is also appended to OUT.journal (beside OUT,
 * synced with it at every checkpoint) as the record OUT would get:
 *	{"id":..,"line":N,"embedding":[..]}
 * A resumed run reads the journal's index (line number, offset) and
 * takes a line's result from there instead of calling the API again.
 *
 * Positions, never ids, say which input a record is: "line" is the
 * input line number. A record whose line is already in OUT is ignored.
 * The journal is rewritten with only the records still needed when it
 * passes JOURNAL_COMPACT_MIN (and twice its size after the last
 * rewrite), by a new file renamed over it, so its size stays bounded by
 * the results waiting, not the corpus; it is deleted when the run
 * completes. Output that is not a regular file has no journal (nothing
 * to resume).
 *
 * Failures are fatal like batch/output's: logged, batch_stop with
 * EXIT_CANTCREAT, -1 returned where anything is.
 */
#ifndef EMBEDWATCH_BATCH_JOURNAL_H
#define EMBEDWATCH_BATCH_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch/state.h"

#define JOURNAL_COMPACT_MIN	((off_t)64 << 20)

/* Open OUT.journal: with --resume read its index (a torn last line is
 * dropped), else start it empty. Returns 0, or an exit status after a
 * message. */
int	 batch_journal_open(struct batch *bs);

/* Append the record of line seq (ok, id_json as in the item, vector
 * the text "[...]" of len bytes) and note where it is in it. Returns 0,
 * or -1 after a message (the run stops). */
int	 batch_journal_append(struct batch *bs, uint64_t seq, struct item *it,
	    const char *vec, size_t len);

/* Line seq is about to be sent: if the journal holds its result, fill
 * the item with it (ITEM_OK) and return true. A record that cannot be
 * read back is ignored (the line is sent again). */
bool	 batch_journal_restore(struct batch *bs, uint64_t seq,
	    struct item *it);

/* Write the pending records (blocking), and rewrite the journal if it
 * has grown past its bound. Returns 0, or -1 after a message. */
int	 batch_journal_flush(struct batch *bs);

/* Make the records written durable. Returns 0, or -1 after a message. */
int	 batch_journal_sync(struct batch *bs);

/* At the end: delete the journal if complete (every input written),
 * else keep it, synced; close it and free the index. */
void	 batch_journal_close(struct batch *bs, bool complete);

#endif
