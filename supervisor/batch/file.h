/*
 * batch_file: the line-file surgery batch mode needs to resume: drop a
 * torn last line, read the last complete line, count lines, keep a
 * prefix. Every function works on an open descriptor with pread and
 * ftruncate, in bounded memory, reading backwards where it can so that
 * resuming a large output costs little more than its last line.
 *
 * A line is complete when its newline is in the file; whatever follows
 * the last newline is a torn line, left by a run that was killed while
 * writing it.
 */
#ifndef EMBEDWATCH_BATCH_FILE_H
#define EMBEDWATCH_BATCH_FILE_H

#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

/*
 * Truncate the file after its last newline (to 0 if it has none).
 * Returns the new size, or -1 with errno.
 */
off_t	 batch_file_drop_torn(int fd);

/*
 * Read the last complete line of a file of size bytes that ends with a
 * newline (size 0: no line) into line, without the newline, replacing
 * its contents; *start is where it begins in the file. Returns 1 with a
 * line, 0 if the file is empty, or -1 with errno (ENOBUFS: the line is
 * over line's cap).
 */
int	 batch_file_last_line(int fd, off_t size, struct buf *line,
	    off_t *start);

/*
 * Count the complete lines from the start of the file, stopping after
 * max of them. Returns 0 with *count and *end (the offset just past the
 * last line counted) set, or -1 with errno.
 */
int	 batch_file_count_lines(int fd, uint64_t max, uint64_t *count,
	    off_t *end);

/* pread exactly n bytes at off. Returns 0, or -1 with errno (EIO at an
 * unexpected end). */
int	 batch_file_pread(int fd, char *p, size_t n, off_t off);

/* The positive decimal integer val (vlen bytes, no sign, no leading
 * zero, at most 18 digits) spells, or 0. */
uint64_t batch_file_number(const char *val, size_t vlen);

/* The positive integer top-level member key of the JSON line (len
 * bytes), as batch_file_number reads it: 0 if there is none. */
uint64_t batch_file_member_number(const char *line, size_t len,
	    const char *key);

#endif
