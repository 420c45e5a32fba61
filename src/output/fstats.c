/*
 * fstats.c - per-function self and total counts, and caller->callee edges,
 * from a trie.
 *
 * One depth-first pass keeps, for every function and every edge, how
 * often it is on the current path; a node adds its subtree's samples to a
 * function's (or edge's) total only where it is the outermost occurrence,
 * which is what makes recursion count once per sample.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "psample/fstats.h"
#include "psample/function.h"
#include "psample/hash.h"
#include "psample/table.h"

struct fkey_slot {
	uint32_t frame; /* representative frame + 1; 0 empty */
	uint32_t fn;
};

struct build {
	const struct trie *t;
	struct fstats *s;
	struct fkey_slot *fslots;
	size_t fcap;
	struct table *edges; /* caller << 32 | callee -> index in s->edges */
	uint32_t ecap_edges;
	uint32_t *frame_fn; /* per frame: its function + 1; 0 not looked up */
};

/* The function of a frame (function.h); FSTATS_NONE for roots. */
static uint32_t build__fn(struct build *b, uint32_t frame)
{
	const struct ps_frame *f = trie__frame(b->t, frame);
	size_t mask = b->fcap - 1;
	size_t i;

	if (f->kind == PS_FRAME_THREAD || f->kind == PS_FRAME_PROCESS)
		return FSTATS_NONE;
	/* Hashing strings once per frame, not once per node. */
	if (b->frame_fn[frame])
		return b->frame_fn[frame] - 1;
	for (i = ps_frame__function_hash(f) & mask; b->fslots[i].frame;
	     i = (i + 1) & mask) {
		uint32_t seen = b->fslots[i].frame - 1;

		if (ps_frame__same_function(trie__frame(b->t, seen), f)) {
			b->frame_fn[frame] = b->fslots[i].fn + 1;
			return b->fslots[i].fn;
		}
	}
	/* fcap > 2 * nframes: never full */
	b->fslots[i].frame = frame + 1;
	b->fslots[i].fn = b->s->nfns;
	b->s->fns[b->s->nfns] = (struct fstats_fn){.frame = frame};
	b->frame_fn[frame] = b->s->nfns + 1;
	return b->s->nfns++;
}

static int build__edge(struct build *b, uint32_t caller, uint32_t callee,
		       uint32_t *out)
{
	struct fstats *s = b->s;
	uint64_t key = (uint64_t)caller << 32 | callee, idx;
	int added = table__add(b->edges, key, s->nedges, &idx);

	if (added < 0)
		return added;
	*out = (uint32_t)idx;
	if (!added)
		return 0;
	/* Failing here fails fstats__new, so the table's extra key is moot. */
	if (s->nedges == b->ecap_edges) {
		uint32_t cap = b->ecap_edges ? b->ecap_edges * 2 : 64;
		void *e = realloc(s->edges, cap * sizeof(*s->edges));
		if (!e)
			return -ENOMEM;
		s->edges = e;
		b->ecap_edges = cap;
	}
	s->edges[s->nedges++] =
		(struct fstats_edge){.caller = caller, .callee = callee};
	return 0;
}

int fstats__new(const struct trie *t, struct fstats **out)
{
	uint32_t nn = trie__nnodes(t), nf = trie__nframes(t);
	struct build b = {.t = t};
	struct fstats *s = calloc(1, sizeof(*s));
	uint32_t *first = NULL, *next = NULL, *node_edge = NULL;
	uint32_t *fn_on = NULL, *edge_on = NULL, *stack = NULL;
	int err = -ENOMEM;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	b.s = s;
	/* Tables of 2^31 slots and more would not fit in memory anyway. */
	if (nf > UINT32_MAX / 4 || nn > UINT32_MAX / 4)
		goto out;
	b.fcap = hash__pow2(2 * nf + 2);
	b.fslots = calloc(b.fcap, sizeof(*b.fslots));
	b.edges = table__new();
	b.frame_fn = calloc((size_t)nf + 1, sizeof(*b.frame_fn));
	s->fns = calloc((size_t)nf + 1, sizeof(*s->fns));
	s->node_fn = calloc(nn, sizeof(*s->node_fn));
	s->node_total = calloc(nn, sizeof(*s->node_total));
	first = malloc(nn * sizeof(*first));
	next = malloc(nn * sizeof(*next));
	node_edge = malloc(nn * sizeof(*node_edge));
	stack = malloc(nn * sizeof(*stack));
	if (!b.fslots || !b.edges || !b.frame_fn || !s->fns || !s->node_fn ||
	    !s->node_total || !first || !next || !node_edge || !stack)
		goto out;

	s->total = trie__total(t);
	s->node_fn[0] = FSTATS_NONE;
	for (uint32_t i = 0; i < nn; i++)
		first[i] = next[i] = node_edge[i] = UINT32_MAX;
	/* Functions, edges and child lists; parents come before children. */
	for (uint32_t i = 1; i < nn; i++) {
		const struct trie_node *n = trie__node(t, i);
		uint32_t fn = build__fn(&b, n->frame);
		uint32_t caller = s->node_fn[n->parent];

		s->node_fn[i] = fn;
		if (fn != FSTATS_NONE && caller != FSTATS_NONE &&
		    (err = build__edge(&b, caller, fn, &node_edge[i])))
			goto out;
		next[i] = first[n->parent];
		first[n->parent] = i;
	}
	/* Inclusive counts, children before parents. */
	for (uint32_t i = nn; i-- > 1;) {
		const struct trie_node *n = trie__node(t, i);

		s->node_total[i] += n->self;
		s->node_total[n->parent] += s->node_total[i];
		if (s->node_fn[i] != FSTATS_NONE)
			s->fns[s->node_fn[i]].self += n->self;
		/* node_edge[i] is an index build__edge took from the table
		 * for an edge it had stored; the analyzer cannot see into
		 * table.c. */
		if (node_edge[i] != UINT32_MAX)
			// NOLINTNEXTLINE(clang-analyzer-core.NullDereference,clang-analyzer-core.uninitialized.Assign)
			s->edges[node_edge[i]].self += n->self;
	}
	s->node_total[0] += trie__node(t, 0)->self;

	/* Totals, once per sample: depth-first with on-path counts.  The
	 * stack holds nodes being visited; a node is pushed on entry and
	 * popped after its last child. */
	fn_on = calloc((size_t)s->nfns + 1, sizeof(*fn_on));
	edge_on = calloc((size_t)s->nedges + 1, sizeof(*edge_on));
	if (!fn_on || !edge_on) {
		err = -ENOMEM;
		goto out;
	}
	uint32_t sp = 0;
	uint32_t *it = malloc(nn * sizeof(*it));
	if (!it) {
		err = -ENOMEM;
		goto out;
	}
	stack[sp++] = 0;
	it[0] = first[0];
	while (sp) {
		uint32_t n = stack[sp - 1];
		uint32_t c = it[n];

		if (c == UINT32_MAX) {
			sp--;
			if (n && s->node_fn[n] != FSTATS_NONE)
				fn_on[s->node_fn[n]]--;
			if (n && node_edge[n] != UINT32_MAX)
				edge_on[node_edge[n]]--;
			continue;
		}
		it[n] = next[c];
		if (s->node_fn[c] != FSTATS_NONE && fn_on[s->node_fn[c]]++ == 0)
			s->fns[s->node_fn[c]].total += s->node_total[c];
		if (node_edge[c] != UINT32_MAX && edge_on[node_edge[c]]++ == 0)
			s->edges[node_edge[c]].total += s->node_total[c];
		stack[sp++] = c;
		it[c] = first[c];
	}
	free(it);
	err = 0;
out:
	free(b.fslots);
	table__free(b.edges);
	free(b.frame_fn);
	free(first);
	free(next);
	free(node_edge);
	free(stack);
	free(fn_on);
	free(edge_on);
	if (err)
		fstats__free(s);
	else
		*out = s;
	return err;
}

void fstats__free(struct fstats *s)
{
	if (!s)
		return;
	free(s->fns);
	free(s->edges);
	free(s->node_fn);
	free(s->node_total);
	free(s);
}
