/*
 * pause.h - stopping some threads of a process for the length of one
 * read, for samples that are consistent however fast the code changes
 * (psample --blocking).
 *
 * Threads are stopped with PTRACE_SEIZE + PTRACE_INTERRUPT and let go
 * with PTRACE_DETACH after the read, so the target is traced only while
 * a sample is being taken.  If psample dies while threads are stopped -
 * killed with SIGKILL, crashed - the kernel detaches them and they run
 * on: a seized, interrupted thread is never left stopped.
 */
#ifndef PSAMPLE_PAUSE_H
#define PSAMPLE_PAUSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pause_stats {
	uint64_t stops; /* pause__stop calls */
	uint64_t threads; /* threads stopped, summed over calls */
	uint64_t gone; /* threads that had exited when asked to stop */
	uint64_t errors; /* threads that could not be stopped */
	int64_t stopped_ns; /* total time threads were held, summed */
};

struct pause;

int pause__new(pid_t pid, struct pause **out);
void pause__free(struct pause *p); /* resumes anything still stopped */

/*
 * Stop the threads tids[0..n) of the process and wait until each is
 * stopped.  Threads that have exited are skipped.  Returns the number
 * stopped, or a negative error when none could be (-EPERM: not allowed
 * to trace; say how to fix it).
 */
int pause__stop(struct pause *p, const pid_t *tids, size_t n);

/* Let every thread stopped by the last pause__stop run again. */
void pause__resume(struct pause *p);

const struct pause_stats *pause__stats(const struct pause *p);

#endif
