/*
 * opts.h - the command line as main.c parsed it: what every command
 * is given.
 */
#ifndef PSAMPLE_CLI_OPTS_H
#define PSAMPLE_CLI_OPTS_H

#include <stdbool.h>
#include <sys/types.h>

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

#endif
