/*
 * empty.c - the line a run that sampled nothing ends with: that nothing
 * was sampled, and the likeliest reason the sampler's counts give.  Each
 * reason is only given when the counts show it, so the line stays true.
 */
#include <stdio.h>

#include "sampling.h"

/* A duration in a unit that keeps it short: "930 us", "9.5 ms", "2.00 s". */
static void empty__duration(int64_t ns, char *buf, size_t n)
{
	if (ns < 1000000)
		snprintf(buf, n, "%.0f us", (double)ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, n, "%.1f ms", (double)ns / 1e6);
	else
		snprintf(buf, n, "%.2f s", (double)ns / 1e9);
}

void cli__say_empty(const struct cli_opts *o, const struct sampler_stats *st)
{
	unsigned long long ticks = st->ticks;
	const char *s = ticks == 1 ? "" : "s";
	int64_t interval = o->rate_hz > 0 ? (int64_t)(1e9 / o->rate_hz) : 0;
	uint64_t errs = st->errors + st->thread_errors + st->threads_gone;
	char why[256], ran[32], every[32];

	empty__duration(st->elapsed_ns, ran, sizeof(ran));
	empty__duration(interval, every, sizeof(every));
	if (!ticks) {
		snprintf(why, sizeof(why),
			 "sampling ended before its first tick");
	} else if (st->elapsed_ns < interval) {
		snprintf(why, sizeof(why),
			 "the run lasted %s, shorter than one sample interval "
			 "of %s",
			 ran, every);
	} else if (o->blocking && st->pause_errors && !st->thread_samples) {
		snprintf(why, sizeof(why),
			 "--blocking could not stop the target's threads (%llu "
			 "failures)",
			 (unsigned long long)st->pause_errors);
	} else if (!st->thread_samples && st->errors >= ticks) {
		snprintf(why, sizeof(why),
			 "the target could not be read at any of the %llu "
			 "tick%s",
			 ticks, s);
	} else if (!st->thread_samples && errs) {
		snprintf(why, sizeof(why),
			 "no thread had a readable Python stack at any of the "
			 "%llu tick%s (%llu read error%s)",
			 ticks, s, (unsigned long long)errs,
			 errs == 1 ? "" : "s");
	} else if (!st->thread_samples) {
		/* Threads with no frame: starting, ending, or only in C. */
		snprintf(why, sizeof(why),
			 "no thread had a Python frame at any of the %llu "
			 "tick%s",
			 ticks, s);
	} else if (o->mode == SAMPLER_GIL && !st->gil_known) {
		snprintf(why, sizeof(why),
			 "the GIL's holder could not be read at any of the "
			 "%llu tick%s",
			 ticks, s);
	} else if (o->mode == SAMPLER_GIL && !st->gil_held) {
		snprintf(why, sizeof(why),
			 "no thread held the GIL at any of the %llu tick%s",
			 ticks, s);
	} else if (o->mode == SAMPLER_GIL) {
		/* Held during start-up or shutdown, or read torn. */
		snprintf(why, sizeof(why),
			 "the GIL was held at %llu of %llu ticks, by a thread "
			 "with no %s",
			 (unsigned long long)st->gil_held, ticks,
			 errs ? "readable Python stack" : "Python frame");
	} else if (o->mode == SAMPLER_CPU && !o->idle && !st->running) {
		snprintf(why, sizeof(why),
			 "no Python thread was on a CPU at any of the %llu "
			 "tick%s",
			 ticks, s);
	} else if (o->mode == SAMPLER_MEMORY) {
		snprintf(why, sizeof(why),
			 "resident memory did not change between any two of "
			 "the %llu tick%s",
			 ticks, s);
	} else {
		snprintf(why, sizeof(why), "no Python stack in %llu tick%s",
			 ticks, s);
	}
	fprintf(stderr, "psample: nothing was sampled: %s\n", why);
}
