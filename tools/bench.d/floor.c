/*
 * floor.c - the timer floor for tools/bench.
 *
 * Does what psample's sampling loop does minus the sampling: sleeps with
 * clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) on the absolute schedule
 * start + k * interval, with PR_SET_TIMERSLACK 1000 ns, for SECS seconds,
 * then prints "ticks N cpu_ns C" (C = CPU of the loop alone).  tools/bench
 * measures its CPU per wake-up differentially (rusage of a 1 s and a 5 s
 * run), exactly as it does for psample, so the two are comparable.
 *
 * usage: floor HZ SECS
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>

#define NSEC 1000000000LL

static int64_t ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * NSEC + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: floor HZ SECS\n");
		return 2;
	}
	double hz = atof(argv[1]), secs = atof(argv[2]);
	if (hz <= 0 || secs <= 0)
		return 2;
	int64_t interval = (int64_t)((double)NSEC / hz);
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	int64_t cpu0 = ns(CLOCK_PROCESS_CPUTIME_ID);
	int64_t start = ns(CLOCK_MONOTONIC);
	int64_t end = start + (int64_t)(secs * (double)NSEC);
	uint64_t ticks = 0;
	for (int64_t k = 0;; k++) {
		int64_t due = start + k * interval;
		if (due >= end)
			break;
		struct timespec ts = {.tv_sec = due / NSEC,
				      .tv_nsec = due % NSEC};
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
				       NULL) == EINTR)
			;
		(void)ns(CLOCK_MONOTONIC); /* psample reads the clock too */
		ticks++;
	}
	printf("ticks %llu cpu_ns %lld\n", (unsigned long long)ticks,
	       (long long)(ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0));
	return 0;
}
