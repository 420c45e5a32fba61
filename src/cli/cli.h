/*
 * cli.h - what the psample command's parts share: parsed options and the
 * one place where error codes become messages and exit codes.
 */
#ifndef PSAMPLE_CLI_H
#define PSAMPLE_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include <stdint.h>

#include "psample/output.h"
#include "psample/pytarget.h"

struct cli_opts {
	pid_t pid;
	double rate_hz;
	double duration_s;
	const char *output;
	const char *format;
	bool threads;
	bool function;
	bool full_paths;
	bool json;
	bool quiet;
	char **argv; /* record: the command */
	/* Sampling: see struct sampler_opts. */
	int mode; /* enum sampler_mode */
	bool idle;
	bool no_gc;
	bool blocking;
	bool poisson;
	bool subprocesses;
};

extern volatile sig_atomic_t cli_stop;
extern int cli_stop_signal;

/* Print "psample: <what>: <reason>" and return the exit code for err. */
int cli__fail(int err, pid_t pid, const char *what);

/* Stop on SIGINT/SIGTERM (setting cli_stop) instead of dying. */
void cli__catch_signals(void);

#define CLI_MAX_OUTPUTS 8

struct cli_output {
	const struct output_format *fmt;
	char path[4096];
};

struct cli_outputs {
	size_t n;
	struct cli_output v[CLI_MAX_OUTPUTS];
};

/*
 * Decide the formats and paths from -f and -o (stem_hint: the stem to
 * use when there is no -o, or NULL for the default names), and check
 * each path can be written.  Returns 0 or an exit code (message given).
 */
int cli__outputs(const struct cli_opts *o, pid_t pid, const char *stem_hint,
		 struct cli_outputs *out);

/*
 * Refuse, before any work, the outputs that cannot hold a profile of
 * this mode (memory profiles: only signed-count formats).  Returns 0 or
 * PS_EXIT_USAGE (message given).
 */
int cli__check_mode(const struct cli_outputs *outs, const char *mode);

/* Write t to every output; the paths written go to written[].  Returns 0
 * or PS_EXIT_OUTPUT (each failure reported). */
int cli__write_outputs(const struct cli_opts *o, const struct cli_outputs *out,
		       const struct trie *t, const struct profile_meta *m,
		       const char **written, size_t *nwritten);

/* The end-of-run table of top functions, on stderr. */
void cli__report(const struct trie *t, const struct profile_meta *m,
		 const struct cli_opts *o);

/*
 * Open pid as a target, waiting up to wait_ns while it is not (yet) an
 * initialised interpreter.  child: our child, whose early exit ends the
 * wait with -ECHILD and its status in *child_status.
 */
int cli__open(pid_t pid, pid_t child, int64_t wait_ns, struct py_target **t,
	      int *child_status);

/* A child's wait status as psample's exit code (128 + signal). */
int cli__exit_code(int status);

/* The message and exit code for a sampler that refused to start. */
int cli__start_error(int err, const struct cli_opts *o,
		     const struct py_target *t);

struct sampler_opts;

/* The sampler's options from the command line's (no hook, no warning). */
void cli__sampler_opts(const struct cli_opts *o, pid_t child,
		       struct sampler_opts *so);

/*
 * Start argv as a child; apart: in its own process group, ended with
 * psample, its standard streams on /dev/null (top's screen).  Returns 0
 * or an exit code (PS_EXIT_EXEC when it cannot run, message given).
 */
int cli__spawn(char **argv, bool apart, pid_t *out);

int cli__record(struct cli_opts *o);
int cli__convert(struct cli_opts *o);
int cli__diff(struct cli_opts *o);
int cli__attach(struct cli_opts *o);
int cli__dump(struct cli_opts *o);
int cli__top(struct cli_opts *o);

#endif
