/*
 * report.c - the table of top functions printed on stderr when a run
 * ends (unless --quiet): what `pstats` print_stats would show first, so
 * the answer to "where did the time go" needs no second tool.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psample/fstats.h"
#include "outputs.h"

#define REPORT_ROWS 10

static const struct fstats *sort_stats;

/* Own time first, then total, then name: a stable order to read. */
static int report__cmp(const void *a, const void *b)
{
	const struct fstats_fn *x = &sort_stats->fns[*(const uint32_t *)a];
	const struct fstats_fn *y = &sort_stats->fns[*(const uint32_t *)b];

	if (x->self != y->self)
		return x->self < y->self ? 1 : -1;
	if (x->total != y->total)
		return x->total < y->total ? 1 : -1;
	return x->frame < y->frame ? -1 : x->frame > y->frame;
}

static void report__name(const struct ps_frame *f, const struct cli_opts *o,
			 char *buf, size_t n)
{
	char path[1024];
	size_t len = output__label(buf, 0, n, f->name ? f->name : "?");

	if (f->kind != PS_FRAME_PYTHON || !f->file)
		return;
	const char *file =
		o->full_paths ? f->file
			      : output__short_path(f->file, path, sizeof(path));
	len = output__label(buf, len, n, " (");
	len = output__label(buf, len, n, file);
	if (len + 16 < n)
		snprintf(buf + len, n - len, ":%d)", f->firstlineno);
}

void cli__report(const struct trie *t, const struct profile_meta *m,
		 const struct cli_opts *o)
{
	struct trie *ft = NULL;
	struct fstats *s = NULL;
	uint32_t *order = NULL;

	if (trie__project(t,
			  TRIE_FUNCTIONS | TRIE_NO_THREADS | TRIE_NO_PROCESSES,
			  &ft) ||
	    fstats__new(ft, &s) || !s->total)
		goto out;
	order = malloc(((size_t)s->nfns + 1) * sizeof(*order));
	if (!order)
		goto out;
	for (uint32_t i = 0; i < s->nfns; i++)
		order[i] = i;
	sort_stats = s;
	qsort(order, s->nfns, sizeof(*order), report__cmp);
	sort_stats = NULL;

	double dt = m->interval_s, tot = (double)s->total;
	fprintf(stderr,
		"psample: top functions by own time (%llu samples, %.2f s "
		"sampled):\n"
		"   own%%  total%%     own s   total s  function\n",
		(unsigned long long)s->total, tot * dt);
	for (uint32_t i = 0; i < s->nfns && i < REPORT_ROWS; i++) {
		const struct fstats_fn *fn = &s->fns[order[i]];
		char name[1200];

		report__name(trie__frame(ft, fn->frame), o, name, sizeof(name));
		fprintf(stderr, " %6.1f  %6.1f  %8.3f  %8.3f  %s\n",
			100.0 * (double)fn->self / tot,
			100.0 * (double)fn->total / tot, (double)fn->self * dt,
			(double)fn->total * dt, name);
	}
out:
	free(order);
	fstats__free(s);
	trie__free(ft);
}
