/*
 * proto_json: JSON text appended to a buf, the one escaper included.
 * Jobs, answer lines and the worker's body fragment are built by
 * appending to a buf rather than through a json_t tree; every string
 * literal in them goes through here, so quoting and escaping are decided
 * once, and so does every small json_t the protocol dumps.
 */
#ifndef EMBEDWATCH_PROTO_JSON_H
#define EMBEDWATCH_PROTO_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "buf.h"

/*
 * Append v as JSON text, json_dumps with flags (JSON_COMPACT, ...), to
 * out. Returns 0, or -1 with errno (ENOMEM when jansson cannot dump it,
 * ENOBUFS at out's cap); out is unchanged on failure. v stays the
 * caller's.
 */
int	 proto_append_json(struct buf *out, const json_t *v, size_t flags);

/*
 * Append s as a JSON string literal (quoted and escaped) to out; text
 * that is not UTF-8 is replaced by a note saying so. Returns 0, or -1
 * with errno (ENOBUFS at out's cap, ENOMEM); out is unchanged on failure.
 */
int	 proto_append_json_string(struct buf *out, const char *s);

#endif
