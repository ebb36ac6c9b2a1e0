/*
 * clock: see clock.h. clock_gettime(CLOCK_MONOTONIC) cannot fail with
 * valid arguments, so its result is not checked.
 */
#include <time.h>

#include "clock.h"

int64_t
clock_us(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
clock_ms(void)
{
	return clock_us() / 1000;
}
