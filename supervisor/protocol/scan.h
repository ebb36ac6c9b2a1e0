/*
 * scan: finding a member of a JSON object in its raw text, without
 * parsing it, for the places that must echo a value exactly as it was
 * written (an id of 1e3 stays 1e3, "caf\u00e9" stays escaped) or read one
 * member of a line cheaply: protocol/jsonl (request ids, the id of a line
 * too long to parse) and batch (input ids, resuming from the last lines
 * of its files).
 *
 * The scan is not a validator: on text jansson accepted it finds exactly
 * the member jansson would; on anything else (a line cut short, garbage)
 * it may find nothing or a value that is not JSON, so callers that did
 * not validate check what they get. Keys are compared as spelled out:
 * "\u0069d" is not "id". Never reads outside s[0 .. len); no allocation
 * but in scan_member_dup.
 */
#ifndef EMBEDWATCH_SCAN_H
#define EMBEDWATCH_SCAN_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Does the JSON object in s (len bytes, leading whitespace allowed) have
 * a top-level member key (without quotes)? If so, returns true with *val
 * pointing at the raw text of its value, inside s, and *vlen its length;
 * the first such member counts. Nested members are not top-level ones.
 */
bool	 scan_has_member(const char *s, size_t len, const char *key,
	    const char **val, size_t *vlen);

/*
 * The raw text of the top-level member key, as a malloc'd string the
 * caller frees; NULL with errno ENOENT if there is none, ENOMEM if out
 * of memory.
 */
char	*scan_member_dup(const char *s, size_t len, const char *key);

#endif
