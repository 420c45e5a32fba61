/*
 * sampling.c - the sampler as the commands that sample (record, attach,
 * top) set it up, name its mode and explain its refusals.
 */
#include <errno.h>
#include <stdio.h>

#include "psample/error.h"
#include "fail.h"
#include "sampling.h"

static const char *const mode_names[] = {
	[SAMPLER_WALL] = "wall",
	[SAMPLER_CPU] = "cpu",
	[SAMPLER_GIL] = "gil",
	[SAMPLER_MEMORY] = "memory",
};

const char *cli__mode_name(int mode)
{
	if (mode < 0 ||
	    mode >= (int)(sizeof(mode_names) / sizeof(mode_names[0])))
		return mode_names[SAMPLER_WALL];
	return mode_names[mode];
}

void cli__sampler_opts(const struct cli_opts *o, pid_t child,
		       struct sampler_opts *so)
{
	*so = (struct sampler_opts){
		.rate_hz = o->rate_hz,
		.duration_s = o->duration_s,
		.child = child,
		.mode = (enum sampler_mode)o->mode,
		.idle = o->idle,
		.no_gc = o->no_gc,
		.blocking = o->blocking,
		.poisson = o->poisson,
		.subprocesses = o->subprocesses,
	};
}

bool cli__refused(int err, const struct sampler_stats *st)
{
	if (!err)
		return false;
	if (!st->ticks)
		return true;
	return (err == -PS_ENOGIL || err == -PS_EUNSUPPORTED) && !st->samples;
}

int cli__start_error(int err, const struct cli_opts *o, pid_t pid,
		     const struct py_target *t)
{
	const char *version = t ? t->version_str : "?";

	if (err == -PS_ENOGIL) {
		fprintf(stderr,
			"psample: --mode gil: process %d runs a free-threaded "
			"Python %s with its GIL off (PYTHON_GIL=1 turns it "
			"on); use --mode cpu\n",
			(int)pid, version);
		return PS_EXIT_UNSUPPORTED;
	}
	if (err == -PS_EUNSUPPORTED && o->mode == SAMPLER_GIL) {
		fprintf(stderr,
			"psample: --mode gil: psample cannot read which thread "
			"holds the GIL in Python %s (process %d)\n",
			version, (int)pid);
		return PS_EXIT_UNSUPPORTED;
	}
	if (err == -ENOSYS && o->blocking) {
		fprintf(stderr, "psample: --blocking is not available in "
				"this build\n");
		return PS_EXIT_UNSUPPORTED;
	}
	return cli__fail_target(err, pid, o->blocking ? "pause" : "sample",
				!o->subprocesses);
}
