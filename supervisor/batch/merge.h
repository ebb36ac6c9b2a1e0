/*
 * batch/merge: `embedwatch batch --merge --shards N -o OUT`, the whole
 * of a sharded run from its N shards' files (batch/shard names them).
 *
 * JSON lines: OUT is the shards' OUT files one after the other, which is
 * what one run over the whole input writes (records carry global line
 * numbers), so `cat` in shard order does the same. .npy: one header for
 * all the rows, the shards' rows one after the other (a shard whose
 * every input failed, with no row width, gets NaN rows of the others'
 * width), OUT.ids likewise. The errors files are concatenated. Each file
 * is written beside its final name and renamed into place once synced.
 *
 * Refused: a shard file missing, a shard that has not finished (its
 * journal is still there), shards of different row widths, an existing
 * OUT without --force.
 */
#ifndef EMBEDWATCH_BATCH_MERGE_H
#define EMBEDWATCH_BATCH_MERGE_H

#include "config/config.h"

/* Merge the shards; returns the exit status (0, or after a message 64
 * usage, 66 a shard missing, 73 cannot write, 78 shards that do not fit
 * together). */
int	 batch_merge(const struct config *cfg, bool npy);

#endif
