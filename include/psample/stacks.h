/*
 * stacks.h - a thread's stack into the trie, the one way every backend
 * adds one (the sampler's and the eBPF one's): its process and thread
 * roots, [truncated] where the walk stopped short, its frames outermost
 * first, and a synthetic leaf.
 */
#ifndef PSAMPLE_STACKS_H
#define PSAMPLE_STACKS_H

#include <stdint.h>

#include "psample/trie.h"
#include "psample/walker.h"

/* No process root above the thread's. */
#define STACK_NO_PROC UINT32_MAX

/*
 * The trie ids of (code entry, line) pairs already interned this run, so
 * that a frame seen before costs no string hashing: a direct-mapped
 * table by the code entry's serial, which no other entry of any
 * process's cache ever has.  A miss interns the frame again, and the
 * trie hands back the id it gave it before.  One per run, for every
 * process of it.
 */
struct stack_memo;

struct stack_memo *stack_memo__new(void);
void stack_memo__free(struct stack_memo *m);

/*
 * A thread's stack (innermost first, as the walker gives it) under its
 * process root (proc, or STACK_NO_PROC) and thread root, with an
 * optional synthetic leaf (<GC>, <idle>), counted n times, at line
 * granularity: writers drop the roots or the lines when asked
 * (trie__project).  memo may be NULL.  0 or a negative error.
 */
int stack__add(struct trie *trie, struct stack_memo *memo, uint32_t proc,
	       const struct py_thread *th, const char *thread_name,
	       const char *leaf, uint64_t n);

#endif
