/*
 * cli.h - what the psample command's parts share: parsed options and the
 * one place where error codes become messages and exit codes.
 */
#ifndef PSAMPLE_CLI_H
#define PSAMPLE_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "psample/output.h"

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
};

extern volatile sig_atomic_t cli_stop;
extern int cli_stop_signal;

/* Print "psample: <what>: <reason>" and return the exit code for err. */
int cli__fail(int err, pid_t pid, const char *what);

/* Stop on SIGINT/SIGTERM (setting cli_stop) instead of dying. */
void cli__catch_signals(void);

int cli__record(struct cli_opts *o);
int cli__attach(struct cli_opts *o);
int cli__dump(struct cli_opts *o);

#endif
