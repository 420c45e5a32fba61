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
	/* Which reader samples (record, attach): enum cli_backend. */
	int backend;
	bool mode_set; /* --mode was given */
	bool backend_set; /* --backend was given */
	bool all; /* record --all: every Python process (eBPF backend) */
};

enum cli_backend {
	CLI_BACKEND_PTRACE = 0, /* process_vm_readv from user space */
	CLI_BACKEND_EBPF, /* the eBPF program, on-CPU only */
};

#endif
