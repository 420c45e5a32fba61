/*
 * trie.h - the stack trie: psample's one aggregation structure.
 *
 * Frames are interned in a frame table (strings in a string table), and
 * stacks are paths of trie nodes keyed by (parent node, frame) in an
 * open-addressing hash table.  Memory therefore grows with the number of
 * unique stacks, not with the number of samples.  Every output format is
 * written from a trie.
 *
 * Node 0 is the root and has no frame.  Nodes are numbered in creation
 * order, so a node's parent always has a smaller id: a writer can sum
 * inclusive counts with one reverse pass over the nodes.
 */
#ifndef PSAMPLE_TRIE_H
#define PSAMPLE_TRIE_H

#include <stddef.h>
#include <stdint.h>

enum ps_frame_kind {
	PS_FRAME_PYTHON = 0, /* a Python function */
	PS_FRAME_THREAD, /* synthetic root: a thread (num = native tid) */
	PS_FRAME_PROCESS, /* synthetic root: a process (num = pid) */
	PS_FRAME_SPECIAL, /* synthetic marker, e.g. "[truncated]" */
};

struct ps_frame {
	uint32_t kind; /* enum ps_frame_kind */
	int32_t firstlineno; /* PYTHON: co_firstlineno */
	int32_t line; /* PYTHON: current line (-1 unknown) */
	uint64_t num; /* THREAD: tid; PROCESS: pid */
	const char *name; /* PYTHON: qualname; THREAD: thread name or NULL;
			     PROCESS: command line; SPECIAL: label */
	const char *file; /* PYTHON: co_filename as in the target; else NULL */
	const char *func; /* PYTHON: co_name (pstats keys on it); else NULL */
};

struct trie_node {
	uint32_t parent;
	uint32_t frame;
	uint64_t self; /* samples whose innermost frame is this node */
};

struct trie;

struct trie *trie__new(void);
void trie__free(struct trie *t);

/*
 * Intern f (its strings are copied) and return its id in *id.  Two frames
 * are the same frame when every field is equal.  -ENOMEM.
 */
int trie__intern(struct trie *t, const struct ps_frame *f, uint32_t *id);

/* The child of parent for frame, created with count 0 if new.  -ENOMEM. */
int trie__child(struct trie *t, uint32_t parent, uint32_t frame,
		uint32_t *node);

/* Add n samples ending at node (its self count). */
void trie__count(struct trie *t, uint32_t node, uint64_t n);

/* Insert a whole stack, root first, and count it n times. */
int trie__add_stack(struct trie *t, const uint32_t *frames, size_t depth,
		    uint64_t n);

uint32_t trie__nframes(const struct trie *t);
const struct ps_frame *trie__frame(const struct trie *t, uint32_t id);
uint32_t trie__nnodes(const struct trie *t);
const struct trie_node *trie__node(const struct trie *t, uint32_t id);

/* Sum of all self counts. */
uint64_t trie__total(const struct trie *t);

/* Add every stack of src, with its count, to dst.  -ENOMEM. */
int trie__merge(struct trie *dst, const struct trie *src);

enum {
	TRIE_FUNCTIONS = 1, /* every frame as its function (function.h) */
	TRIE_NO_THREADS = 2, /* drop thread roots */
	/* Drop process roots (psample only adds them with --subprocesses,
	 * where they are the point, so outputs keep them). */
	TRIE_NO_PROCESSES = 4,
};

/*
 * A new trie with src's stacks seen through flags: stacks that become
 * equal are merged.  -ENOMEM.
 */
int trie__project(const struct trie *src, unsigned flags, struct trie **out);

#endif
