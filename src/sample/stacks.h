/*
 * stacks.h - a thread's stack into the trie (private to src/sample; the
 * other backends call sampler__add_stack and sampler__add_proc_stack).
 */
#ifndef PSAMPLE_SRC_SAMPLE_STACKS_H
#define PSAMPLE_SRC_SAMPLE_STACKS_H

#include <stdint.h>

#include "psample/trie.h"
#include "psample/walker.h"

/* No process root above the thread's. */
#define NO_FRAME UINT32_MAX

/*
 * Trie ids of (code entry, line) pairs already interned this run: a
 * direct-mapped table by the entry's serial, which no other entry of any
 * process's cache ever has.  A miss interns the frame again, and the
 * trie hands back the id it gave it before.
 */
#define IDMEMO_BITS 12

struct idmemo {
	uint64_t serial; /* 0: empty */
	int32_t line;
	uint32_t id;
};

/*
 * A thread's stack under its process root (proc, or NO_FRAME) and thread
 * root, with an optional synthetic leaf (<GC>, <idle>), counted n times;
 * memo (1 << IDMEMO_BITS entries) may be NULL.  0 or a negative error.
 */
int stack__add(struct trie *trie, struct idmemo *memo, uint32_t proc,
	       const struct py_thread *th, const char *thread_name,
	       const char *leaf, uint64_t n);

#endif
