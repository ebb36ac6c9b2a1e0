/*
 * batch/resume: opening a batch's output files and, with --resume,
 * finding where a previous run ended. Private to batch/.
 *
 * The files hold a prefix of the work plus at most one torn line each
 * (batch/output). Resuming drops torn lines, finds where the prefix ends
 * by input positions, never by ids, which may repeat: the last record's
 * line number and the last error's (JSON lines), or the number of
 * complete rows that OUT.ids agrees with (.npy: one row per line that
 * is not skipped as blank), and sets bs->skip_to or bs->skip_rows so
 * that batch/reader skips the input up to there; the id the files list
 * last (bs->want_id) is checked against that input line. No set of ids
 * is kept, memory stays flat. Files that were not written
 * by embedwatch batch are refused before anything is cut off them.
 */
#ifndef EMBEDWATCH_BATCH_RESUME_H
#define EMBEDWATCH_BATCH_RESUME_H

#include "batch/state.h"

/*
 * Open OUT (or use stdout), OUT.ids for .npy and the errors file (else
 * stderr); with --resume, cut each back to the prefix it holds and set
 * where the input is skipped to; with --dimensions, write the .npy
 * header. Needs the input open (an output must not be the input).
 * Returns 0, or an exit status after a message: EXIT_USAGE, EXIT_CONFIG,
 * EXIT_CANTCREAT or EXIT_SOFTWARE. What was opened is in bs either way.
 */
int	 batch_resume_open(struct batch *bs);

/* .npy, resuming: the last row stands for input line line; drop the
 * error lines listed past it (they are done again) and go on writing
 * after the rest. Returns 0, or an exit status after a message. */
int	 batch_resume_cut_errors(struct batch *bs, uint64_t line);

/* After the loop: an input that ended while its lines were still being
 * skipped is not the one the files were written from; say so and make
 * the run fail with EXIT_CONFIG. */
void	 batch_resume_check_end(struct batch *bs);

#endif
