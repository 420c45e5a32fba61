/*
 * sampler.h - the sampling loop: take a sample of a target at a fixed
 * rate on an absolute schedule and aggregate the stacks in a trie.
 */
#ifndef PSAMPLE_SAMPLER_H
#define PSAMPLE_SAMPLER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "psample/pystack.h"
#include "psample/pytarget.h"
#include "psample/trie.h"

struct sampler_opts {
	double rate_hz; /* samples per second */
	double duration_s; /* 0: until stopped or the target exits */
	pid_t child; /* record: our child, reaped when it exits */
};

struct sampler_stats {
	uint64_t ticks; /* scheduled ticks that came due */
	uint64_t samples; /* ticks sampled without error */
	uint64_t stacks; /* thread stacks added to the trie */
	uint64_t errors; /* ticks whose sample failed */
	uint64_t thread_errors; /* thread stacks dropped as inconsistent */
	uint64_t late; /* ticks started more than half an interval late */
	uint64_t missed; /* ticks skipped because psample was behind */
	uint64_t empty; /* ticks with no Python thread to sample */
	uint64_t calls; /* process_vm_readv calls */
	int64_t elapsed_ns;
	int64_t cpu_ns; /* psample's own CPU time while sampling */
	bool target_exited;
	int child_status; /* record: wait status, valid if child_reaped */
	bool child_reaped;
};

/*
 * Sample t into trie until *stop is set, the duration passes or the
 * target exits.  Returns 0 (the target exiting is not an error), or a
 * negative error if sampling could not go on.
 */
int sampler__run(struct py_target *t, struct trie *trie,
		 const struct sampler_opts *o, struct sampler_stats *st,
		 volatile sig_atomic_t *stop);

/*
 * Add one thread's stack (innermost first, as the walker gives it) to
 * the trie under its thread's root frame, at line granularity: writers
 * drop the roots or the lines when asked (trie__project).  Shared by the
 * sampler and tests.
 */
int sampler__add_stack(struct trie *trie, const struct py_thread *th,
		       const char *thread_name);

#endif
