/*
 * proto_frame: how the worker's answer on its stdout is cut into frames,
 * and how the supervisor finds them again in what it has read so far.
 *
 * A frame is a 1-byte type, a 4-byte little-endian payload length, then
 * the payload:
 *   'P' progress: a fixed-size snapshot of how far the call got, sent at
 *       each milestone; the latest one tells where a killed worker hung
 *       (proto_progress.h).
 *   'B' body: on success only, the JSON members of the answer,
 *       "embeddings":[[...]],"model":"...","usage":{...}
 *       ready to be spliced into a response line without re-parsing.
 *   'R' result: the outcome as a small JSON object (proto_result.h);
 *       always the last frame.
 * No frame is longer than PROTO_FRAME_MAX; a reader passes its own,
 * smaller, bound to proto_frame_peek.
 */
#ifndef EMBEDWATCH_PROTO_FRAME_H
#define EMBEDWATCH_PROTO_FRAME_H

#include <stddef.h>

#include "buf.h"

#define PROTO_FRAME_HDR		5
#define PROTO_FRAME_MAX		((size_t)1 << 31)

#define PROTO_FRAME_PROGRESS	'P'
#define PROTO_FRAME_BODY	'B'
#define PROTO_FRAME_RESULT	'R'

/*
 * Write one frame of len payload bytes at p to fd, blocking until all of
 * it is written. Returns 0, or -1 with errno (EMSGSIZE if len is over
 * PROTO_FRAME_MAX, else what the write failed with).
 */
int	 proto_frame_write(int fd, char type, const void *p, size_t len);

/*
 * Find the first complete frame at the front of b. Returns 1 and sets
 * *type, *payload (pointing into b, valid until b changes) and *len;
 * 0 if the frame is not complete yet; -1 if the bytes are not a frame
 * (unknown type or length over max). Consume PROTO_FRAME_HDR + len bytes
 * when done with it.
 */
int	 proto_frame_peek(const struct buf *b, size_t max, char *type,
	    const char **payload, size_t *len);

#endif
