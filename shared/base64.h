/*
 * base64: RFC 4648 standard alphabet, with padding. The API sends
 * embeddings as base64 of little-endian float32; decoding is on the hot
 * path of every call and is strict: any character outside the alphabet,
 * misplaced padding or a length that is not a multiple of 4 is an error.
 */
#ifndef EMBEDWATCH_BASE64_H
#define EMBEDWATCH_BASE64_H

#include <stddef.h>
#include <sys/types.h>

/* The most bytes decoding len characters can produce. */
size_t	 base64_decoded_max(size_t len);

/* Decode len characters of in into out (room for base64_decoded_max(len)
 * bytes). Returns the byte count, or -1 if the input is not valid base64. */
ssize_t	 base64_decode(const char *in, size_t len, unsigned char *out);

/* Encode n bytes into out (room for 4 * ((n + 2) / 3) + 1 characters),
 * NUL-terminated. Returns the character count. */
size_t	 base64_encode(const unsigned char *in, size_t n, char *out);

#endif
