/*
 * redact: making text a server sent safe to pass on. Whatever a server
 * puts in an error body, a header or a redirect ends up in an answer, a
 * log line and a batch errors file; before it leaves the worker it goes
 * through redact_text, which
 *   - replaces the API key (matched at character boundaries: keys are
 *     ASCII) wherever it appears, and the token after any
 *     "Bearer " (in any case) by "[redacted]", and a key cut short at the
 *     end of the text (its first 4 or more bytes) too;
 *   - replaces each byte that is not part of valid UTF-8 (overlong forms,
 *     surrogates and code points past U+10FFFF included) by U+FFFD, and
 *     control characters by a space, so the text is one line of valid
 *     UTF-8 that any JSON encoder takes;
 *   - cuts the result on a character boundary to fit the caller's buffer,
 *     dropping an incomplete last character rather than splitting it.
 * No allocation, no global state; the cost is O(len x key length) in the
 * worst case, on text of at most a few KiB, once per failed call.
 */
#ifndef EMBEDWATCH_REDACT_H
#define EMBEDWATCH_REDACT_H

#include <stddef.h>

#include "proto_job.h"

#define REDACTED	"[redacted]"

/*
 * Write the cleaned form of in[0 .. len) to out (outlen > 0 bytes),
 * NUL-terminated; key (NULL or "": none) is the secret to hide. in and out
 * must not overlap. Returns the length written.
 */
size_t	 redact_text(const char *in, size_t len, const char *key, char *out,
	    size_t outlen);

/* redact_text of the NUL-terminated s onto itself, within size bytes. */
void	 redact_inplace(char *s, size_t size, const char *key);

/* redact_inplace for every secret of job: its API key and the values of
 * its secret headers (each as a key: whole, or cut off at the end). */
void	 redact_job(char *s, size_t size, const struct job *job);

#endif
