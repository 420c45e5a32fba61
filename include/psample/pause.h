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
 *
 * What the target sees is what it would see without psample:
 *  - a signal that reaches a thread while it is being stopped (the
 *    kernel then reports a signal-delivery-stop, not the interrupt) is
 *    handed back to it on detach;
 *  - a thread stopped by job control (SIGSTOP, SIGTSTP) stays stopped:
 *    the kernel puts it back into its group stop on detach, and its
 *    parent is not told again;
 *  - no ptrace option is set, so a thread that forks or clones while
 *    seized leaves its child untraced.
 *
 * A thread that is in an uninterruptible sleep (state D: disk I/O, a
 * vfork parent) cannot stop until the sleep ends: one found in D at
 * every millisecond for 5 ms, from PAUSE_SOFT_NS after the stop began,
 * is not waited for any longer; any thread that has not
 * stopped by PAUSE_TIMEOUT_NS is not either (a runnable thread on an
 * overloaded machine may need many milliseconds to get a CPU and stop).
 * Such a thread is counted (timeouts), stays seized with its interrupt
 * pending, and is detached by a later call as soon as it stops, or by
 * pause__free, or by the kernel when psample exits.  While it stays in
 * D, later calls do not wait for it.
 *
 * Every call on one struct pause must come from the same thread: ptrace
 * ties a tracee to the tracing thread.  The bounded wait uses a timer
 * signal (PAUSE_SIGNAL, a real-time signal with a handler that does
 * nothing) directed at that thread.
 *
 * When psample is the target's parent (record), pause never reaps the
 * target's exit: it is left to the caller's waitpid.  The caller's
 * waitpid may, however, see a ptrace stop of the main thread if that
 * thread is still seized after a timeout; it must ignore stop statuses
 * (WIFSTOPPED), and pause still detaches the thread.
 */
#ifndef PSAMPLE_PAUSE_H
#define PSAMPLE_PAUSE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* How long pause__stop waits for a thread in D, and for any thread. */
#define PAUSE_SOFT_NS (2 * 1000 * 1000LL)
#define PAUSE_TIMEOUT_NS (200 * 1000 * 1000LL)

/* The signal of the wait's timer (the handler does nothing). */
#define PAUSE_SIGNAL (SIGRTMAX - 2)

struct pause_stats {
	uint64_t stops; /* pause__stop calls */
	uint64_t threads; /* threads stopped, summed over calls */
	uint64_t gone; /* threads that had exited when asked to stop */
	uint64_t errors; /* threads that could not be stopped (incl. below) */
	uint64_t timeouts; /* of those, not stopped within the timeout */
	uint64_t busy; /* of those, traced by another process (a debugger) */
	uint64_t job_stopped; /* threads found stopped by job control */
	uint64_t signals; /* signals caught while stopping, re-delivered */
	int64_t stopped_ns; /* time from the first stop to the last resume,
			       summed over calls: how long the target was
			       held */
};

struct pause;

int pause__new(pid_t pid, struct pause **out);
void pause__free(struct pause *p); /* resumes anything still stopped */

/*
 * Stop the threads tids[0..n) of the process and wait until each is
 * stopped.  Threads that have exited are skipped (stats: gone), threads
 * that do not stop in time or cannot be traced are counted (errors) and
 * left running.  Returns the number of threads now stopped (job-control
 * stopped ones included), or -EPERM when none could be stopped because
 * psample may not trace the process (the fix: run as root or with
 * CAP_SYS_PTRACE, kernel.yama.ptrace_scope <= 1), or another negative
 * errno for an internal failure.  Threads stopped by an earlier call
 * and not resumed are resumed first.
 */
int pause__stop(struct pause *p, const pid_t *tids, size_t n);

/* Let every thread stopped by the last pause__stop run again. */
void pause__resume(struct pause *p);

const struct pause_stats *pause__stats(const struct pause *p);

#endif
