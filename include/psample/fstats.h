/*
 * fstats.h - per-function totals of a trie: what pstats, callgrind's call
 * graph and the end-of-run table report.
 *
 * Frames are one function as function.h says; thread and process
 * roots are not functions, so a
 * function called from a root has no caller.  Totals count a sample once
 * however often the function (or the caller->callee edge) is on its
 * stack, as cProfile's cumulative time does under recursion.
 */
#ifndef PSAMPLE_FSTATS_H
#define PSAMPLE_FSTATS_H

#include <stdint.h>

#include "psample/trie.h"

#define FSTATS_NONE UINT32_MAX

struct fstats_fn {
	uint32_t frame; /* a trie frame of the function (its first seen) */
	uint64_t self; /* samples with the function innermost */
	uint64_t total; /* samples with it anywhere on the stack, once */
};

struct fstats_edge {
	uint32_t caller, callee; /* indices into fns */
	uint64_t self; /* samples with callee innermost, called by caller */
	uint64_t total; /* samples where caller calls callee, once */
};

struct fstats {
	uint64_t total; /* all samples */
	uint32_t nfns;
	struct fstats_fn *fns;
	uint32_t nedges;
	struct fstats_edge *edges;
	/* Per trie node: */
	uint32_t *node_fn; /* its function, FSTATS_NONE for roots */
	uint64_t *node_total; /* samples in its subtree (inclusive) */
};

/* Compute the stats of t.  -ENOMEM. */
int fstats__new(const struct trie *t, struct fstats **out);
void fstats__free(struct fstats *s);

#endif
