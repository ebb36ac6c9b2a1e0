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
 * A warm worker (forked ahead, no job yet) says how it waits:
 *   'W' ready: "C " and the peer ("C 10.1.2.3:443") once its connection
 *       is open, or "N" when it waits without one (the call cannot use
 *       a connection made ahead).
 *   'L' leaving: "F " and why it could not connect, or "I " and why its
 *       connection is gone (closed by the server, idle too long). It
 *       then makes a job handed to it anyway the ordinary way, and exits
 *       at EOF on its job pipe without a result.
 * Any worker, any time before 'R':
 *   'S' session: the peer ("10.1.2.3:443"), a NUL, then the TLS session
 *       (DER) the server just issued, opaque to the supervisor, which
 *       hands the latest one to later workers to resume (hints.h).
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
#define PROTO_FRAME_WARM	'W'
#define PROTO_FRAME_LEAVE	'L'
#define PROTO_FRAME_SESSION	'S'

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
