/*
 * f32: float32 <-> decimal text, both directions in one place.
 *
 * The worker prints every value of an answer with f32_format, in the
 * fewest significant digits that read back as exactly the same float32;
 * batch mode reads that text back with f32_parse for .npy output, and gets
 * the very float the API sent. f32_parse reads any JSON number, not only
 * f32_format's, and rounds it as strtof does (to nearest, ties to even),
 * so format then parse is the identity on every finite float32.
 *
 * No I/O, no allocation, no global state: reentrant, safe in either
 * program. Cost, per value on a 2-core Xeon VM: f32_format about 35 ns
 * (Ryu: a few 64-bit multiplications, no trial of digit counts);
 * f32_parse about 27 ns on its fast path (one 64-bit accumulation and one
 * double operation), which shortest text takes from about 1e-13 to 1e30,
 * where embeddings live, and strtof's cost on the slow one (about 90 ns a
 * value over random bit patterns, most of which lie outside that range).
 */
#ifndef EMBEDWATCH_F32_H
#define EMBEDWATCH_F32_H

#include <stddef.h>
#include <sys/types.h>

/* Room f32_format needs: "-0.0000123456789" plus the NUL. */
#define F32_MAX_TEXT	17

/*
 * Write v as the shortest JSON number that strtof reads back as exactly
 * v, NUL-terminated, into out (F32_MAX_TEXT bytes): plain notation for
 * 1e-5 <= |v| < 1e9 ("0.000015", "100000000"), else "1.5e-6", "1e9"; zero
 * is "0" and negative zero "-0.0". Returns the length without the NUL. v
 * must be finite; NaN and infinities come out as "null".
 */
size_t	 f32_format(float v, char *out);

/*
 * Read the JSON number at s (up to end, which it never reads past) as a
 * float32, rounded as strtof rounds. Only the number is read: what follows
 * it is the caller's to check. Returns the length of the number with the
 * value in *out, or -1 with *out untouched and errno EINVAL if s does not
 * start with a JSON number (empty, "NaN", "inf", "+1", ".5", "01", "1.",
 * "1e") or the number needs strtof and is 64 characters or longer (never
 * one f32_format wrote), ERANGE if it is finite but rounds to infinity
 * as a float32 (such as 1e39). A magnitude of at most half the least
 * subnormal reads as a zero of its sign.
 */
ssize_t	 f32_parse(const char *s, const char *end, float *out);

#endif
