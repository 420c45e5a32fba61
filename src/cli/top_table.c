/*
 * top_table.c - the table top's screen shows: a snapshot's counters
 * summed over the threads shown, and sorted.  Pure, like top_agg.c.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "top.h"

/* qsort has no argument for them: the table being sorted, how. */
static const struct top_table *sort_table;
static enum top_sort sort_by;
static bool sort_whole;

static uint64_t view__key(const struct top_view_fn *v, enum top_sort s)
{
	switch (s) {
	case SORT_OWN_PCT: return sort_whole ? v->cum_self : v->win_self;
	case SORT_TOTAL_PCT: return sort_whole ? v->cum_total : v->win_total;
	case SORT_OWN_TIME: return v->cum_self;
	case SORT_TOTAL_TIME: return v->cum_total;
	}
	return 0;
}

/* The chosen column, then the others in column order, then the name. */
static int view__cmp(const void *pa, const void *pb)
{
	const struct top_view_fn *a = &sort_table->fns[*(const uint32_t *)pa];
	const struct top_view_fn *b = &sort_table->fns[*(const uint32_t *)pb];
	enum top_sort s = sort_by;

	for (int k = -1; k < 4; k++) {
		enum top_sort c = k < 0 ? s : (enum top_sort)k;
		uint64_t x = view__key(a, c), y = view__key(b, c);
		if (x != y)
			return x < y ? 1 : -1;
	}
	int r = strcmp(a->fn->name ? a->fn->name : "?",
		       b->fn->name ? b->fn->name : "?");
	if (r)
		return r;
	return strcmp(a->fn->file ? a->fn->file : "",
		      b->fn->file ? b->fn->file : "");
}

uint32_t top_table__build(struct top_table *tb, const struct top_snap *s,
			  const uint64_t *filter_tid, enum top_sort sort,
			  bool whole)
{
	uint32_t n = 0;

	tb->n = 0;
	tb->win = tb->cum = 0;
	if (!s ||
	    top__grow(&tb->fns, &tb->cap_fns, s->nfns + 1, sizeof(*tb->fns)) ||
	    top__grow(&tb->order, &tb->cap_order, s->nfns + 1,
		      sizeof(*tb->order)))
		return 0;
	memset(tb->fns, 0, (size_t)s->nfns * sizeof(*tb->fns));
	for (uint32_t i = 0; i < s->nthr; i++) {
		if (filter_tid && s->thr[i].tid != *filter_tid)
			continue;
		tb->win += s->thr[i].win;
		tb->cum += s->thr[i].cum;
	}
	for (uint32_t i = 0; i < s->nrows; i++) {
		const struct top_row *r = &s->rows[i];
		if (r->fn_idx >= s->nfns || r->thr >= s->nthr)
			continue;
		if (filter_tid && s->thr[r->thr].tid != *filter_tid)
			continue;
		struct top_view_fn *v = &tb->fns[r->fn_idx];
		v->fn = r->fn;
		v->win_self += r->win_self;
		v->win_total += r->win_total;
		v->cum_self += r->cum_self;
		v->cum_total += r->cum_total;
	}
	for (uint32_t i = 0; i < s->nfns; i++)
		if (tb->fns[i].fn && tb->fns[i].cum_total)
			tb->order[n++] = i;
	sort_table = tb;
	sort_by = sort;
	sort_whole = whole;
	qsort(tb->order, n, sizeof(*tb->order), view__cmp);
	sort_table = NULL;
	tb->n = n;
	return n;
}

void top_table__free(struct top_table *tb)
{
	free(tb->fns);
	free(tb->order);
	memset(tb, 0, sizeof(*tb));
}

double top__share(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0;
}
