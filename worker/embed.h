/*
 * embed: the embeddings API's JSON, without any HTTP.
 *
 * embed_parse reads the body of a 2xx answer to POST /embeddings and
 * checks it strictly: exactly one embedding per input, "index" 0..n-1
 * each exactly once in any order, each embedding a base64 string of
 * little-endian float32 or a JSON array of numbers (either form, whatever
 * was asked, since some servers ignore encoding_format), all of one
 * dimension, the requested one if the job asked for one, every value a
 * finite float32. embed_format writes the members the worker hands to the
 * supervisor (see proto_frame.h, 'B' frame):
 *	"embeddings":[[v,...],...],"model":"...","usage":{...}
 * with every value in the fewest digits that read back as the same
 * float32 (f32_format, see shared/f32.h). embed_error_parse reads an API
 * error body.
 *
 * No I/O and no global state: everything here is reentrant and safe to
 * unit-test. Cost: parsing is jansson's (one json_t per number in the
 * array form); formatting is f32_format's, about 20 ns per value.
 */
#ifndef EMBEDWATCH_EMBED_H
#define EMBEDWATCH_EMBED_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* A validated answer. All fields are read-only for callers. */
struct embed_response {
	float		*values;	/* n * dim values; row i is index i */
	size_t		 n;
	size_t		 dim;
	char		*model;		/* NULL: the response named none */
	long long	 prompt_tokens;	/* -1: not in the response */
	long long	 total_tokens;	/* -1: not in the response */
};

/*
 * Parse and validate a response body of len bytes for a job of n_inputs
 * inputs that asked for dimensions (0: none asked). Returns 0 with r
 * filled in (release it with embed_response_free), or -1 with a message
 * in err such as "response has 2 embeddings for 3 inputs" and nothing
 * left to release (running out of memory also ends up there).
 */
int	 embed_parse(const char *body, size_t len, size_t n_inputs,
	    long dimensions, struct embed_response *r, char *err,
	    size_t errlen);

/* Release what embed_parse allocated; r is empty afterwards. Safe to call
 * twice and on a zeroed struct. */
void	 embed_response_free(struct embed_response *r);

/*
 * Append the body fragment for r to out: "embeddings", then "model" (the
 * response's own, else model), then "usage" when the response gave any
 * counts. Returns 0, or -1 with errno (ENOBUFS at out's cap, ENOMEM,
 * EINVAL if a model name is not UTF-8); out may then hold part of it.
 */
int	 embed_format(const struct embed_response *r, const char *model,
	    struct buf *out);

/*
 * Read an API error body such as
 *	{"error":{"message":"...","type":"...","code":"insufficient_quota"}}
 * (also {"error":"..."} and top-level "message" or "detail" strings).
 * Returns 0 with the message in msg (always NUL-terminated; the code or
 * type when there is no message) and *quota set when the code or type
 * is insufficient_quota; -1 if the body is not such a JSON object, with
 * msg empty and *quota false.
 */
int	 embed_error_parse(const char *body, size_t len, char *msg,
	    size_t msglen, bool *quota);

#endif
