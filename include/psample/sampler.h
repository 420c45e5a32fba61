/*
 * sampler.h - the sampling loop: take a sample of a target (and, when
 * asked, of its Python descendants) at a fixed or Poisson-distributed
 * rate on an absolute schedule, and aggregate the stacks in a trie.
 */
#ifndef PSAMPLE_SAMPLER_H
#define PSAMPLE_SAMPLER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "psample/walker.h"
#include "psample/target.h"
#include "psample/trie.h"

enum sampler_mode {
	SAMPLER_WALL = 0, /* every thread at every tick */
	SAMPLER_CPU, /* only threads on a CPU (runnable) at the tick */
	SAMPLER_GIL, /* only the thread holding the GIL */
	SAMPLER_MEMORY, /* resident-memory growth, in bytes, per stack */
};

struct sampler_stats;

struct sampler_opts {
	double rate_hz; /* samples per second (the mean, with poisson) */
	double duration_s; /* 0: until stopped or the target exits */
	pid_t child; /* record: our child, reaped when it exits */
	enum sampler_mode mode;
	bool idle; /* keep idle threads in cpu mode; mark idle samples */
	bool no_gc; /* no <GC> frame while the interpreter collects */
	bool blocking; /* stop the Python threads while reading them */
	bool poisson; /* exponentially distributed intervals */
	bool subprocesses; /* sample Python descendants too */
	bool thread_states; /* read thread states whatever the mode (top) */
	bool warn_behind; /* say once a second on stderr when behind */
	uint64_t seed; /* poisson: 0 takes one from the clock */
	/*
	 * Called after every tick with the trie and the stats so far; a
	 * non-zero return stops sampling.  psample top draws from it.
	 */
	int (*on_tick)(void *arg, struct trie *trie,
		       const struct sampler_stats *st);
	void *arg;
};

struct sampler_stats {
	uint64_t ticks; /* scheduled ticks that came due */
	uint64_t samples; /* ticks that added at least one stack */
	uint64_t stacks; /* thread stacks added to the trie */
	uint64_t errors; /* process samples that could not be read */
	uint64_t thread_errors; /* thread stacks dropped as inconsistent */
	uint64_t threads_gone; /* threads that ended between list and read */
	uint64_t late; /* ticks started more than half an interval late */
	uint64_t missed; /* ticks skipped because psample was behind */
	uint64_t empty; /* ticks with no Python thread to sample */
	uint64_t calls; /* process_vm_readv calls */
	int64_t elapsed_ns;
	int64_t cpu_ns; /* psample's own CPU time while sampling */
	bool target_exited;
	int child_status; /* record: wait status, valid if child_reaped */
	bool child_reaped;

	/* Modes. */
	uint64_t thread_samples; /* threads seen at ticks (before mode) */
	uint64_t states_read; /* of those, whose scheduler state was read */
	uint64_t running; /* of those, on a CPU */
	uint64_t idle; /* thread samples marked <idle> */
	uint64_t gil_known; /* ticks where the GIL holder could be read */
	uint64_t gil_held; /* of those, ticks where some thread held it */
	uint64_t gc_ticks; /* ticks during a garbage collection */
	int64_t mem_bytes; /* memory mode: net growth attributed */

	/* Processes. */
	uint32_t live_processes; /* Python processes sampled at last tick */
	uint32_t live_threads; /* their threads at the last tick */
	uint64_t processes; /* Python processes ever sampled */
	uint64_t ignored; /* descendants that were not Python */
	uint64_t pause_errors; /* --blocking: threads that could not stop */
	bool root_python; /* the root was sampled as Python, at some time */
	int root_err; /* else why not (-PS_ENOTPYTHON...), 0 unknown */
	char root_version[32]; /* the root's Python version, "" if none */
};

/*
 * Sample process pid, whose interpreter is t, (and its descendants with
 * o->subprocesses) into trie until *stop is set, the duration passes or
 * the target exits.  With o->subprocesses t may be NULL: pid is not (yet)
 * Python, and ticks count as empty until a process of the family is.
 * Returns 0 (the target exiting is not an error), or a negative error if
 * sampling could not go on: -PS_ENOGIL / -PS_EUNSUPPORTED at start for a
 * gil mode the target cannot give.  t stays the caller's; targets the
 * sampler opens (descendants, the target after an exec) are its own.
 */
int sampler__run(pid_t pid, struct py_target *t, struct trie *trie,
		 const struct sampler_opts *o, struct sampler_stats *st,
		 volatile sig_atomic_t *stop);

#endif
