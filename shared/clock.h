/*
 * clock: time for deadlines. Everything that decides when to act uses
 * clock_ms (CLOCK_MONOTONIC, milliseconds), which never jumps; wall-clock
 * time appears only in logs.
 */
#ifndef EMBEDWATCH_CLOCK_H
#define EMBEDWATCH_CLOCK_H

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t	 clock_ms(void);

/* Microseconds of CLOCK_MONOTONIC, for measurements. */
int64_t	 clock_us(void);

#endif
