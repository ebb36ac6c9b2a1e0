/*
 * proto_json: the one JSON string escaper for text written by hand. Jobs,
 * answer lines and the worker's body fragment are built by appending to a
 * buf rather than through a json_t tree; every string literal in them
 * goes through here, so quoting and escaping are decided once.
 */
#ifndef EMBEDWATCH_PROTO_JSON_H
#define EMBEDWATCH_PROTO_JSON_H

#include "buf.h"

/*
 * Append s as a JSON string literal (quoted and escaped) to out; text
 * that is not UTF-8 is replaced by a note saying so. Returns 0, or -1
 * with errno (ENOBUFS at out's cap, ENOMEM); out is unchanged on failure.
 */
int	 proto_append_json_string(struct buf *out, const char *s);

#endif
