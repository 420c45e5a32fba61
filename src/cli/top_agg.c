/*
 * top_agg.c - top's live aggregation: what a trie gained since the last
 * refresh, folded into counters per (thread, function), and snapshots of
 * them for the screen.  Pure: no terminal, no I/O, no locks; the
 * sampling thread calls it from its tick hook.
 *
 * A window is what was sampled since the previous snapshot; counters
 * since the start are kept beside it.  A function is as function.h
 * says, and counts once per stack however often it recurses.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "psample/error.h"
#include "psample/function.h"
#include "psample/hash.h"
#include "psample/trie.h"
#include "top.h"

int top__grow(void *pp, uint32_t *cap, uint32_t need, size_t size)
{
	void **p = pp;

	if (need <= *cap)
		return 0;
	uint32_t n = *cap ? *cap : 64;
	while (n < need) {
		if (n > UINT32_MAX / 2)
			return -ENOMEM;
		n *= 2;
	}
	void *q = realloc(*p, (size_t)n * size);
	if (!q)
		return -ENOMEM;
	memset((char *)q + (size_t)*cap * size, 0, (size_t)(n - *cap) * size);
	*p = q;
	*cap = n;
	return 0;
}

void top_snap__free(struct top_snap *s)
{
	if (!s)
		return;
	free(s->thr);
	free(s->rows);
	free(s);
}

void top_agg__free(struct top_agg *a)
{
	for (uint32_t i = 0; i < a->nfns; i++)
		free(a->fns[i]);
	free(a->prev);
	free(a->node_fn);
	free(a->node_thr);
	free(a->frame_idx);
	free(a->fns);
	free(a->fn_mark);
	free(a->fn_slots);
	free(a->thr);
	free(a->cells);
	free(a->cell_slots);
	memset(a, 0, sizeof(*a));
}

static int top_agg__rehash_fns(struct top_agg *a, uint32_t nslots)
{
	uint32_t *s = malloc((size_t)nslots * sizeof(*s));

	if (!s)
		return -ENOMEM;
	memset(s, 0xff, (size_t)nslots * sizeof(*s));
	for (uint32_t i = 0; i < a->nfns; i++) {
		uint32_t j = (uint32_t)ps_frame__function_hash(a->fns[i]) &
			     (nslots - 1);
		while (s[j] != TOP_NONE)
			j = (j + 1) & (nslots - 1);
		s[j] = i;
	}
	free(a->fn_slots);
	a->fn_slots = s;
	a->fn_nslots = nslots;
	return 0;
}

/* A copy of s after the frame at *p, which moves past it; NULL stays. */
static char *top_agg__copy_str(char **p, const char *s)
{
	char *d = *p;

	if (!s)
		return NULL;
	size_t n = strlen(s) + 1;
	memcpy(d, s, n);
	*p = d + n;
	return d;
}

/* The function of a Python or special frame: made on first sight. */
static int top_agg__fn(struct top_agg *a, const struct ps_frame *f,
		       uint32_t *out)
{
	struct ps_frame key = ps_frame__function(f);
	int err;

	if ((a->nfns + 1) * 10 > a->fn_nslots * 7 &&
	    (err = top_agg__rehash_fns(a,
				       a->fn_nslots ? a->fn_nslots * 2 : 256)))
		return err;
	uint32_t j =
		(uint32_t)ps_frame__function_hash(&key) & (a->fn_nslots - 1);
	for (; a->fn_slots[j] != TOP_NONE; j = (j + 1) & (a->fn_nslots - 1)) {
		if (ps_frame__same_function(a->fns[a->fn_slots[j]], &key)) {
			*out = a->fn_slots[j];
			return 0;
		}
	}
	if ((err = top__grow(&a->fns, &a->cap_fns, a->nfns + 1,
			     sizeof(struct ps_frame *))) ||
	    (err = top__grow(&a->fn_mark, &a->cap_fnmark, a->nfns + 1,
			     sizeof(*a->fn_mark))))
		return err;
	size_t len = key.name ? strlen(key.name) + 1 : 0;
	len += key.file ? strlen(key.file) + 1 : 0;
	len += key.func ? strlen(key.func) + 1 : 0;
	struct ps_frame *fn = malloc(sizeof(*fn) + len);
	if (!fn)
		return -ENOMEM;
	char *p = (char *)(fn + 1);
	*fn = key;
	fn->name = top_agg__copy_str(&p, key.name);
	fn->file = top_agg__copy_str(&p, key.file);
	fn->func = top_agg__copy_str(&p, key.func);
	a->fns[a->nfns] = fn;
	a->fn_slots[j] = a->nfns;
	*out = a->nfns++;
	return 0;
}

static int top_agg__thread(struct top_agg *a, const struct ps_frame *f,
			   uint32_t *out)
{
	int err;

	/* Native tids are unique among live threads system-wide, so the
	 * tid alone names a thread even across processes. */
	for (uint32_t i = 0; i < a->nthr; i++) {
		if (a->thr[i].tid == f->num) {
			*out = i;
			goto name;
		}
	}
	if ((err = top__grow(&a->thr, &a->cap_thr, a->nthr + 1,
			     sizeof(*a->thr))))
		return err;
	*out = a->nthr++;
	a->thr[*out].tid = f->num;
name:
	/* A thread that renames itself gets a new frame: keep the last. */
	if (f->name)
		snprintf(a->thr[*out].name, sizeof(a->thr[*out].name), "%s",
			 f->name);
	return 0;
}

/* Index of frame id: a function, a thread, or TOP_NONE. */
static int top_agg__frame(struct top_agg *a, const struct trie *t, uint32_t id,
			  uint32_t *out)
{
	int err;

	if (id >= a->nframes) {
		uint32_t n = trie__nframes(t);
		if (id >= n)
			return -PS_ECORRUPT;
		if ((err = top__grow(&a->frame_idx, &a->cap_frames, n,
				     sizeof(*a->frame_idx))))
			return err;
		for (uint32_t i = a->nframes; i < n; i++)
			a->frame_idx[i] = TOP_NONE - 1; /* not looked at yet */
		a->nframes = n;
	}
	if (a->frame_idx[id] == TOP_NONE - 1) {
		const struct ps_frame *f = trie__frame(t, id);
		uint32_t idx = TOP_NONE;
		if (f->kind == PS_FRAME_PYTHON || f->kind == PS_FRAME_SPECIAL)
			err = top_agg__fn(a, f, &idx);
		else if (f->kind == PS_FRAME_THREAD)
			err = top_agg__thread(a, f, &idx);
		else
			err = 0;
		if (err)
			return err;
		a->frame_idx[id] = idx;
	}
	*out = a->frame_idx[id];
	return 0;
}

/* Learn the nodes the trie gained since the last refresh. */
static int top_agg__nodes(struct top_agg *a, const struct trie *t)
{
	uint32_t n = trie__nnodes(t);
	int err;

	if (n <= a->nnodes)
		return 0;
	if ((err = top__grow(&a->prev, &a->cap_nodes, n, sizeof(*a->prev))))
		return err;
	/* The three per-node arrays share cap_nodes. */
	uint32_t *fn = realloc(a->node_fn, (size_t)a->cap_nodes * sizeof(*fn));
	if (!fn)
		return -ENOMEM;
	a->node_fn = fn;
	uint32_t *th = realloc(a->node_thr, (size_t)a->cap_nodes * sizeof(*th));
	if (!th)
		return -ENOMEM;
	a->node_thr = th;
	for (uint32_t i = a->nnodes; i < n; i++) {
		a->node_fn[i] = TOP_NONE;
		a->node_thr[i] = TOP_NONE;
		if (i == 0)
			continue;
		const struct trie_node *nd = trie__node(t, i);
		uint32_t idx;
		/* A parent always has a smaller id (trie.h). */
		if (nd->parent >= i)
			return -PS_ECORRUPT;
		if ((err = top_agg__frame(a, t, nd->frame, &idx)))
			return err;
		uint32_t kind = trie__frame(t, nd->frame)->kind;
		a->node_thr[i] = a->node_thr[nd->parent];
		if (kind == PS_FRAME_THREAD)
			a->node_thr[i] = idx;
		else
			a->node_fn[i] = idx;
	}
	a->nnodes = n;
	return 0;
}

/*
 * The cell of (thread, function), made if new.  A table of its own, not
 * table.h: its 4-byte slots keep a busy screen's cells in cache, and
 * every update probes it once per function of every new stack.
 */
static int top_agg__cell(struct top_agg *a, uint32_t thr, uint32_t fn,
			 struct top_cell **out)
{
	uint64_t key = ((uint64_t)thr << 32) | fn;
	int err;

	if ((a->ncells + 1) * 10 > a->cell_nslots * 7) {
		uint32_t ns = a->cell_nslots ? a->cell_nslots * 2 : 1024;
		uint32_t *s = malloc((size_t)ns * sizeof(*s));
		if (!s)
			return -ENOMEM;
		memset(s, 0xff, (size_t)ns * sizeof(*s));
		for (uint32_t i = 0; i < a->ncells; i++) {
			uint64_t k = ((uint64_t)a->cells[i].thr << 32) |
				     a->cells[i].fn;
			uint32_t j = (uint32_t)hash__mix64(k) & (ns - 1);
			while (s[j] != TOP_NONE)
				j = (j + 1) & (ns - 1);
			s[j] = i;
		}
		free(a->cell_slots);
		a->cell_slots = s;
		a->cell_nslots = ns;
	}
	uint32_t j = (uint32_t)hash__mix64(key) & (a->cell_nslots - 1);
	for (; a->cell_slots[j] != TOP_NONE;
	     j = (j + 1) & (a->cell_nslots - 1)) {
		struct top_cell *c = &a->cells[a->cell_slots[j]];
		if (c->thr == thr && c->fn == fn) {
			*out = c;
			return 0;
		}
	}
	if ((err = top__grow(&a->cells, &a->cap_cells, a->ncells + 1,
			     sizeof(*a->cells))))
		return err;
	struct top_cell *c = &a->cells[a->ncells];
	memset(c, 0, sizeof(*c));
	c->thr = thr;
	c->fn = fn;
	a->cell_slots[j] = a->ncells++;
	*out = c;
	return 0;
}

/*
 * Add what every node gained since the last refresh: its own function
 * gets the gain as self, every distinct function on its path as total.
 */
int top_agg__update(struct top_agg *a, const struct trie *t)
{
	int err = top_agg__nodes(a, t);

	if (err)
		return err;
	for (uint32_t i = 1; i < a->nnodes; i++) {
		uint64_t self = trie__node(t, i)->self;
		if (self <= a->prev[i])
			continue;
		uint64_t d = self - a->prev[i];
		a->prev[i] = self;
		uint32_t thr = a->node_thr[i];
		if (thr == TOP_NONE) {
			/* A stack with no thread root: one thread 0. */
			struct ps_frame none = {.kind = PS_FRAME_THREAD};
			if ((err = top_agg__thread(a, &none, &thr)))
				return err;
		}
		a->thr[thr].win += d;
		a->thr[thr].cum += d;
		a->gen++;
		struct top_cell *c;
		uint32_t depth = 0;
		for (uint32_t j = i; j && depth <= a->nnodes;
		     j = trie__node(t, j)->parent, depth++) {
			uint32_t fn = a->node_fn[j];
			if (fn == TOP_NONE || a->fn_mark[fn] == a->gen)
				continue;
			a->fn_mark[fn] = a->gen;
			if ((err = top_agg__cell(a, thr, fn, &c)))
				return err;
			c->win_total += d;
			c->cum_total += d;
			if (j == i) {
				c->win_self += d;
				c->cum_self += d;
			}
		}
	}
	return 0;
}

/* A snapshot of the counters; the window starts again. */
struct top_snap *top_agg__snapshot(struct top_agg *a)
{
	struct top_snap *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->thr = malloc(((size_t)a->nthr + 1) * sizeof(*s->thr));
	s->rows = malloc(((size_t)a->ncells + 1) * sizeof(*s->rows));
	if (!s->thr || !s->rows) {
		top_snap__free(s);
		return NULL;
	}
	memcpy(s->thr, a->thr, (size_t)a->nthr * sizeof(*s->thr));
	s->nthr = a->nthr;
	s->nfns = a->nfns;
	for (uint32_t i = 0; i < a->ncells; i++) {
		struct top_cell *c = &a->cells[i];
		s->rows[s->nrows++] = (struct top_row){
			.fn_idx = c->fn,
			.thr = c->thr,
			.fn = a->fns[c->fn],
			.win_self = c->win_self,
			.win_total = c->win_total,
			.cum_self = c->cum_self,
			.cum_total = c->cum_total,
		};
		c->win_self = c->win_total = 0;
	}
	for (uint32_t i = 0; i < a->nthr; i++)
		a->thr[i].win = 0;
	return s;
}
