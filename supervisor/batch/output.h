/*
 * batch/output: the files a batch writes, private to batch/. OUT holds
 * the successes (JSON lines {"id":..,"embedding":[..]}) or one float32
 * row per input line (.npy, NaN for failures, OUT.ids beside it, one
 * JSON id a line); the errors file holds one line per failed input, with
 * its input line number.
 *
 * Both are written strictly in input order, and an error line is written
 * only after every record before it reached OUT, so a run killed at any
 * moment leaves files whose complete lines are a prefix of the work,
 * plus at most one torn line each (batch/resume relies on it). Every
 * BATCH_CHECKPOINT_MS and at the end the files are fsynced (errors
 * first) and the .npy header gets the current row count, so a power cut
 * loses at most the last seconds.
 *
 * Every failure here is fatal to the run: the function logs it, calls
 * batch_stop with EXIT_CANTCREAT (EXIT_SOFTWARE when a line cannot be
 * formatted) and returns -1 where it returns anything.
 */
#ifndef EMBEDWATCH_BATCH_OUTPUT_H
#define EMBEDWATCH_BATCH_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>

#include "batch/state.h"

#define BATCH_CHECKPOINT_MS	2000

/* Write f's pending bytes; blocking unless f is a pipe or terminal and
 * block is false. Returns 0, or -1 after a message (output lost). */
int	 batch_output_flush(struct batch *bs, struct out_file *f, bool block);

/* Flush the errors file (always blocking), OUT.ids and OUT, in that
 * order. Returns 0, or -1 after a message. */
int	 batch_output_flush_all(struct batch *bs, bool block);

/* The .npy row width is known: write the header and the NaN rows owed. */
void	 batch_output_set_dim(struct batch *bs, uint64_t dim);

/* Make what was written durable, errors first, then the rows and the
 * .npy header: at once if final, else at most every
 * BATCH_CHECKPOINT_MS. */
void	 batch_output_checkpoint(struct batch *bs, int64_t now, bool final);

/* Write the finished items at the front of the ring, in input order,
 * and release them; stops at the first item not done. */
void	 batch_output_emit_ready(struct batch *bs);

/* At the end of a run that is not fatal: everything done is written,
 * flushed, synced; the .npy header counts the rows. */
void	 batch_output_finish(struct batch *bs);

/* Close f if we opened it and free its pending bytes; fd is -1 after. */
void	 batch_output_close(struct out_file *f);

#endif
