/*
 * fail.h - the one place where error codes become messages and exit
 * codes, for every command.
 */
#ifndef PSAMPLE_CLI_FAIL_H
#define PSAMPLE_CLI_FAIL_H

#include <stdbool.h>
#include <sys/types.h>

/* Print "psample: <what>: <reason>" and return the exit code for err. */
int cli__fail(int err, pid_t pid, const char *what);

/*
 * The same for the process a command was to sample; hint: a process that
 * is not Python is told of --subprocesses, which would take it as the
 * root of the Python processes it starts.
 */
int cli__fail_target(int err, pid_t pid, const char *what, bool hint);

/* A child's wait status as psample's exit code (128 + signal). */
int cli__exit_code(int status);

#endif
