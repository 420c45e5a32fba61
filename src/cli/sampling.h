/*
 * sampling.h - from the command line to the sampler and back: its
 * options, the name of its mode, why it refused to start, and why it
 * sampled nothing.
 */
#ifndef PSAMPLE_CLI_SAMPLING_H
#define PSAMPLE_CLI_SAMPLING_H

#include <stdbool.h>
#include <sys/types.h>

#include "psample/target.h"
#include "psample/sampler.h"
#include "opts.h"

/* The sampler's options from the command line's (no hook, no warning). */
void cli__sampler_opts(const struct cli_opts *o, pid_t child,
		       struct sampler_opts *so);

/* The name of a sampling mode ("wall" for one it does not know). */
const char *cli__mode_name(int mode);

/*
 * Whether the sampler's error err refused the run rather than ended it:
 * before the first tick, or a --mode gil the root cannot give found
 * before anything was sampled (a free-threaded build whose GIL was on
 * for a moment at start, as while an extension module loads).
 */
bool cli__refused(int err, const struct sampler_stats *st);

/* The message and exit code for a sampler that refused to start on
 * process pid, whose interpreter is t (or NULL). */
int cli__start_error(int err, const struct cli_opts *o, pid_t pid,
		     const struct py_target *t);

/* "psample: nothing was sampled: <why>" on stderr, the reason read from
 * st (empty.c). */
void cli__say_empty(const struct cli_opts *o, const struct sampler_stats *st);

#endif
