/*
 * job.h - the command psample starts (record, top -- COMMAND), run the
 * way a shell runs a job: in a process group of its own, with the
 * terminal, and ended whole when psample gives up on it (job.c has the
 * design).
 */
#ifndef PSAMPLE_CLI_JOB_H
#define PSAMPLE_CLI_JOB_H

#include <stdbool.h>
#include <sys/types.h>

/*
 * Start argv in a process group of its own; returns once it runs the
 * command.  apart (top): its standard streams on /dev/null, and ended
 * with psample.  Otherwise (record) it gets the terminal when psample
 * has it, and the signals psample catches are passed on to its group.
 * Returns 0 or an exit code (PS_EXIT_EXEC when it cannot run, message
 * given).
 */
int job__spawn(char **argv, bool apart, pid_t *out);

/*
 * The command has ended (reaped), or psample leaves it: nothing is
 * passed on to its group any more, and the terminal is taken back.
 */
void job__done(void);

/*
 * Give up on the command pid, not reaped yet: SIGTERM to it and its
 * group, SIGKILL after a grace period to whatever of them is left; then
 * reap it (and job__done).  Returns its wait status.
 */
int job__end(pid_t pid);

#endif
