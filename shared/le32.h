/*
 * le32: 32-bit unsigned integers as four little-endian bytes, the byte
 * order of every number in the worker's frames whatever the host's. No
 * alignment is assumed: p may point anywhere in a buffer.
 */
#ifndef EMBEDWATCH_LE32_H
#define EMBEDWATCH_LE32_H

#include <stdint.h>

/* Store v at p[0..3], least significant byte first. */
void	 le32_put(unsigned char *p, uint32_t v);

/* The value stored at p[0..3] by le32_put. */
uint32_t le32_get(const unsigned char *p);

#endif
