/*
 * eproc.h - one process the eBPF backend samples (private to src/bpf):
 * its interpreter (target), the walker that lists its threads into the
 * program's tid map, the resolver that names its stacks, and its root
 * frame in the trie when several processes are sampled.
 */
#ifndef PSAMPLE_SRC_BPF_EPROC_H
#define PSAMPLE_SRC_BPF_EPROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "psample/ebpf.h"
#include "psample/mem.h"
#include "psample/proc.h"
#include "psample/resolve.h"
#include "psample/sampler.h"
#include "psample/stacks.h"
#include "psample/trie.h"
#include "psample/walker.h"

#define EPROC_NAME_MAX 64

/* A Python thread the tid map holds. */
struct ethread {
	pid_t tid;
	uint64_t tstate;
	uint64_t expect;
	bool seen; /* in the last listing */
	char name[EPROC_NAME_MAX]; /* threading's name, else the OS's */
};

struct eproc {
	pid_t pid;
	struct proc_identity id; /* which process pid is (exec, reuse) */
	struct py_target *t;
	bool own_t; /* t is the eproc's to free */
	struct py_walker *w;
	struct py_resolver *r;
	struct mem_batch batch;
	struct ethread *th;
	uint32_t nth, cap_th;
	uint32_t root; /* its process root in the trie, or STACK_NO_PROC */
	int64_t listed_at;
	uint64_t empty; /* records of a thread with no Python frame */
	uint64_t stacks, errors; /* stacks added, records dropped */
};

/*
 * Sample t (owned when own_t) through e: its layout into the program's
 * process map, its threads into the tid map.  root: a process root frame
 * in trie above its stacks (with the command line), else none.
 */
int eproc__new(struct ebpf *e, struct py_target *t, bool own_t,
	       struct trie *trie, bool root, int64_t now, struct eproc **out);
/* Drop its entries from the maps and free it. */
void eproc__free(struct eproc *p, struct ebpf *e);

/* Its threads into the tid map anew: 0, -ESRCH when it is gone, or a
 * negative error. */
int eproc__relist(struct eproc *p, struct ebpf *e, int64_t now);

/*
 * Name the n records of this process (stacks: their raw stacks) with its
 * resolver, in one batch, and add them to trie (memo: the run's).  0 or a
 * negative error (records that cannot be named count in p->errors).
 */
int eproc__add(struct eproc *p, struct trie *trie, struct stack_memo *memo,
	       const struct ebpf_record *const *recs, uint32_t n,
	       const struct py_rawstack **stacks, struct py_frame *frames);

#endif
