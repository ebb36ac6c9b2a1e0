/*
 * batch/shard: one shard of a corpus, for running a batch on a cluster
 * scheduler. Private to batch/ (and batch/merge).
 *
 * Shard K of N (1-based) is the lines that start in the K-th of N equal
 * byte ranges of the input, [size (K-1) / N, size K / N): every line is
 * in exactly one shard, whatever the line lengths, and a shard finds its
 * start without reading the shards before it except to count their
 * newlines (ids and "line" stay global line numbers). K and N come from
 * --shard K/N, or with --shard auto or --shards N from the scheduler:
 * JOB_COMPLETION_INDEX (a Kubernetes Indexed Job, 0-based) or
 * SLURM_ARRAY_TASK_ID less SLURM_ARRAY_TASK_MIN, and N from --shards or
 * SLURM_ARRAY_TASK_COUNT.
 *
 * Each shard writes its own files, named by batch_shard_name.
 */
#ifndef EMBEDWATCH_BATCH_SHARD_H
#define EMBEDWATCH_BATCH_SHARD_H

#include <stdint.h>
#include <sys/types.h>

#include "config/config.h"

/* Which shard this run is: 0 with *k = *n = 0 when not sharded, 0 with
 * 1 <= *k <= *n, or EXIT_USAGE after a message. */
int	 batch_shard_pick(const struct config *cfg, unsigned *k, unsigned *n);

/* The name of shard k of n's file for path: ".K-of-N" (zero-padded to
 * N's width) before the last extension of its file name, else at the
 * end: out.jsonl -> out.02-of-16.jsonl. malloc'd; NULL when out of
 * memory. */
char	*batch_shard_name(const char *path, unsigned k, unsigned n);

struct batch_shard {
	off_t		 begin, end;	/* its bytes [begin, end) */
	uint64_t	 lines_before;	/* lines in the shards before it */
	uint64_t	 lines;		/* its own */
};

/* Shard k of n of the regular file fd, into sh. Returns 0, or -1 with
 * errno. */
int	 batch_shard_range(int fd, unsigned k, unsigned n,
	    struct batch_shard *sh);

#endif
