/*
 * clock.h - the time of a clock in nanoseconds, the one unit psample's
 * deadlines, intervals and timestamps are kept in.
 */
#ifndef PSAMPLE_CLOCK_H
#define PSAMPLE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Now on clock c (CLOCK_MONOTONIC for intervals, CLOCK_REALTIME for
 * dates), in nanoseconds. */
static inline int64_t clock__ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#endif
