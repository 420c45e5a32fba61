/*
 * fail.h - the one place where error codes become messages and exit
 * codes, for every command.
 */
#ifndef PSAMPLE_CLI_FAIL_H
#define PSAMPLE_CLI_FAIL_H

#include <sys/types.h>

/* Print "psample: <what>: <reason>" and return the exit code for err. */
int cli__fail(int err, pid_t pid, const char *what);

/* A child's wait status as psample's exit code (128 + signal). */
int cli__exit_code(int status);

#endif
