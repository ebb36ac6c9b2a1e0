/*
 * batch_vec: the vectors inside a worker's answer body, for batch mode.
 *
 * A worker hands the supervisor "embeddings":[[v,...],[v,...]],... with
 * every value printed in the fewest digits that read back as the same
 * float32 (f32_format, see shared/f32.h). batch_vec_split finds each
 * input's "[...]" text by scanning brackets, without parsing a number, so
 * JSON-lines output copies the worker's digits as they are.
 * batch_vec_parse turns one such text into float32 values for .npy
 * output with f32_parse, which reads every number back exactly as strtof
 * would: the very float32 the API sent.
 *
 * No I/O, no allocation, no global state.
 */
#ifndef EMBEDWATCH_BATCH_VEC_H
#define EMBEDWATCH_BATCH_VEC_H

#include <stddef.h>
#include <sys/types.h>

/* One vector's text inside a body: body[off .. off + len) is "[...]". */
struct batch_vec_span {
	size_t	 off;
	size_t	 len;
};

/*
 * Find the n vectors of body (len bytes, starting with "embeddings":[).
 * Returns 0 with spans[0 .. n) filled in, or -1 with a message in err if
 * the body does not hold exactly n arrays of numbers.
 */
int	 batch_vec_split(const char *body, size_t len, size_t n,
	    struct batch_vec_span *spans, char *err, size_t errlen);

/* How many values the vector text "[v,...]" holds (commas plus one;
 * 0 for "[]"). */
size_t	 batch_vec_count(const char *text, size_t len);

/*
 * Parse the vector text "[v,...]" into out, which has room for max
 * values. Returns the number of values, or -1 with a message in err if
 * the text is not an array of at most max finite float32 numbers.
 */
ssize_t	 batch_vec_parse(const char *text, size_t len, float *out,
	    size_t max, char *err, size_t errlen);

#endif
