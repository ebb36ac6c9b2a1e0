/*
 * utf8: one rule for what is a UTF-8 character (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF), for the code that checks
 * text (batch input) or repairs it (the worker's redaction of server
 * text). No allocation, no state.
 */
#ifndef EMBEDWATCH_UTF8_H
#define EMBEDWATCH_UTF8_H

#include <stddef.h>

/* The length (1 to 4) of the valid UTF-8 character at s, of which n > 0
 * bytes are there; 0 if it is not one, or is cut off by n. */
size_t	 utf8_char_len(const unsigned char *s, size_t n);

#endif
