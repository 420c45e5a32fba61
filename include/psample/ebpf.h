/*
 * ebpf.h - the eBPF backend: Python stacks read in the kernel by
 * bpf/psample.bpf.c on a CPU-clock perf event per CPU (so only threads on
 * a CPU are sampled), handed over as raw stacks and named by the same
 * resolver as the process_vm_readv walker's.
 *
 * struct ebpf is the loaded program: its maps, perf events and ring
 * buffer.  Everything it attached goes away when it is freed, and with
 * the process whatever way it dies (nothing is pinned).
 */
#ifndef PSAMPLE_EBPF_H
#define PSAMPLE_EBPF_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "psample/pylayout.h"
#include "psample/rawstack.h"
#include "psample/sampler.h"
#include "psample/target.h"
#include "psample/trie.h"

struct ebpf;

/* A stack the program sent. */
struct ebpf_record {
	pid_t pid, tid; /* as the host numbers them */
	uint64_t tstate;
	uint64_t time_ns; /* CLOCK_MONOTONIC */
	struct py_rawstack raw; /* chunk is PY_RAW_NO_CHUNK throughout */
};

/* The program's counters, summed over the CPUs. */
struct ebpf_counters {
	uint64_t events; /* ticks that interrupted a configured process */
	uint64_t no_thread; /* ... in a thread not in the tid map */
	uint64_t mismatch; /* ... whose thread state was another's */
	uint64_t read_err; /* ... where a read faulted or a frame was bad */
	uint64_t truncated; /* stacks deeper than the program keeps */
	uint64_t lost; /* records the full ring buffer refused */
	uint64_t sent;
};

/*
 * Load the program and start a CPU-clock perf event on every online CPU
 * at rate_hz.  0, or -PS_ENOBPF (no BTF, a kernel without what the
 * program needs), -PS_EBPFPERM (not allowed), -PS_EVERIFIER (rejected:
 * ebpf__why() says why), another negative errno.
 */
int ebpf__open(double rate_hz, struct ebpf **out);
void ebpf__free(struct ebpf *e);

/* What the last failure of ebpf__open was, in one line ("" if nothing
 * more is known than its error code). */
const char *ebpf__why(void);

/*
 * --all: from now on the program notes every process it meets on a CPU
 * that it does not sample; ebpf__unknown takes up to max of their pids
 * (psample's namespace) into out and forgets them: their number.
 */
int ebpf__watch(struct ebpf *e);
int ebpf__unknown(struct ebpf *e, pid_t *out, uint32_t max);

/* Sample process pid (host pid) with the layout of its interpreter. */
int ebpf__add_proc(struct ebpf *e, pid_t pid, const struct py_layout *l,
		   uint64_t frame_type);

/* Stop sampling process pid. */
int ebpf__drop_proc(struct ebpf *e, pid_t pid);

/*
 * The thread tid (host id) runs Python with thread state tstate; expect
 * is what the state must hold for the program to believe it:
 * native_thread_id (the id in the thread's own pid namespace) where the
 * layout has PY_L_NATIVE_TID, else thread_id.
 */
int ebpf__set_thread(struct ebpf *e, pid_t tid, uint64_t tstate,
		     uint64_t expect);
int ebpf__drop_thread(struct ebpf *e, pid_t tid);

/*
 * Take the records the ring buffer holds now (the program wakes no one:
 * call this on a timer); they are kept until ebpf__clear.  The number
 * taken, or a negative error.
 */
int ebpf__take(struct ebpf *e);
/* The records kept, valid until the next take or clear. */
uint32_t ebpf__records(struct ebpf *e, const struct ebpf_record **out);
void ebpf__clear(struct ebpf *e);

void ebpf__counters(const struct ebpf *e, struct ebpf_counters *c);

/*
 * The sampling loop of this backend, with sampler__run's contract: pid,
 * whose interpreter is t, in cpu mode (o->mode must be SAMPLER_CPU; no
 * --blocking, --idle or --poisson) into trie until *stop, the duration
 * or the target's end; with o->subprocesses its Python descendants too,
 * each under a process root, and t may be NULL (pid not yet Python).
 * The errors of ebpf__open at start.
 */
int ebpf__run(pid_t pid, struct py_target *t, struct trie *trie,
	      const struct sampler_opts *o, struct sampler_stats *st,
	      volatile sig_atomic_t *stop);

/*
 * The same for every Python process of the host (--all): found as they
 * run (/proc at the start, then those the program meets on a CPU),
 * dropped as they end or exec, each under a process root; one that is
 * not supported is skipped with one line on stderr (none when
 * o->warn_behind is off, as with -q).
 */
int ebpf__run_all(struct trie *trie, const struct sampler_opts *o,
		  struct sampler_stats *st, volatile sig_atomic_t *stop);

#endif
