/*
 * batch/reader: the input side of a batch, private to batch/. Opens the
 * input, reads it in bounded pieces, numbers its lines from 1, parses
 * each (batch/input) into the ring and hands it to batch/chunks; a line
 * over --max-line is one failed input and the rest of it is skipped.
 *
 * Lines are taken only while the ring, the held bytes and the engine
 * have room (batch_reader_can_take_line), so reading stalls rather than
 * grows memory. Resuming (bs->skipping), the lines the files already
 * account for are counted, not parsed; the line the output ends with is
 * checked to hold the id the output says it has.
 */
#ifndef EMBEDWATCH_BATCH_READER_H
#define EMBEDWATCH_BATCH_READER_H

#include <stdbool.h>
#include <stdint.h>

#include "batch/state.h"

/* How long a partly filled chunk waits for more lines from a pipe. */
#define BATCH_LINGER_MS		20

/* Open --input ("-": stdin) into bs. Returns 0, or EXIT_NOINPUT after a
 * message. */
int	 batch_reader_open(struct batch *bs);

/* May another line be read into the ring? */
bool	 batch_reader_can_take_line(const struct batch *bs);

/* Is a complete line waiting in the input buffer? */
bool	 batch_reader_has_line(const struct batch *bs);

/* Once the input ended: has every line read been taken? */
bool	 batch_reader_is_drained(const struct batch *bs);

/* Should the loop poll the input: open, room for a line, none waiting,
 * and OUT not too far behind? */
bool	 batch_reader_wants_input(const struct batch *bs);

/* Is a partly filled chunk waiting for a slow pipe or terminal? */
bool	 batch_reader_is_lingering(const struct batch *bs);

/* One read of the input. At EOF in_open goes false and in_eof true; a
 * line over --max-line fails as an input, the rest of it is skipped; a
 * read error is fatal (EXIT_NOINPUT, after a message). */
void	 batch_reader_read(struct batch *bs);

/* Take the complete lines read (and, after EOF, a last line without a
 * newline) while there is room for them. */
void	 batch_reader_parse_lines(struct batch *bs, int64_t now);

/* Send a partly filled chunk when waiting for more lines would only
 * delay it: the input ended, the ring is full, or the input is a pipe
 * that has had nothing for BATCH_LINGER_MS. */
void	 batch_reader_maybe_submit(struct batch *bs, int64_t now);

#endif
