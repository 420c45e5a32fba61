/*
 * top.c - `psample top`: a live, full-screen view of where a Python
 * program spends its time, refreshed every second, in the manner of
 * py-spy top.
 *
 * Two threads.  The sampling thread runs sampler__run; its on_tick hook
 * is the only code that reads the trie, and once a second it folds what
 * the trie gained since the last refresh into counters per (thread,
 * function) and hands the main thread a snapshot that owns its data.
 * The main thread owns the terminal: it waits for keys, signals and
 * snapshots, and draws.  Drawing therefore never delays a sample, and
 * ncurses is only ever called from one thread.
 *
 * %Own and %Total are shares of the thread stacks sampled during the
 * last refresh window (one second), so they say what the program does
 * now; OwnTime and TotalTime add up since top started (samples times
 * the interval, like the end-of-run table of record).  `a` switches the
 * percentages to the whole run, which the final screen shows after the
 * target has exited.  A function is as function.h says, and counts once
 * per stack however often it recurses.
 */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include <curses.h>

#include "psample/clock.h"
#include "psample/error.h"
#include "psample/function.h"
#include "psample/hash.h"
#include "psample/output.h"
#include "psample/proc.h"
#include "psample/pytarget.h"
#include "psample/sampler.h"
#include "psample/trie.h"
#include "commands.h"
#include "fail.h"
#include "sampling.h"
#include "signals.h"
#include "target.h"

#define NSEC 1000000000LL
#define REFRESH_NS NSEC
/* How long `top -- cmd` waits for its command to become Python, as
 * record does; --pid gets a second for an interpreter still starting. */
#define SPAWN_WAIT_NS (5 * NSEC)
#define ATTACH_WAIT_NS NSEC
/* How long a command top started gets to exit after SIGTERM. */
#define CHILD_TERM_NS (5 * NSEC)
#define NONE UINT32_MAX

/* Rows of the screen above the table and below it. */
#define HEAD_LINES 6
#define FOOT_LINES 1
/* Columns before the function name: "%6.1f  %6.1f  %8.2f  %9.2f  ". */
#define NUM_COLS 37

enum top_sort { SORT_OWN_PCT, SORT_TOTAL_PCT, SORT_OWN_TIME, SORT_TOTAL_TIME };

static const char *const sort_names[] = {"%Own", "%Total", "OwnTime",
					 "TotalTime"};

static int grow(void *pp, uint32_t *cap, uint32_t need, size_t size)
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

/* ---- What the sampling thread keeps (the main thread never sees it) */

struct top_thread {
	uint64_t tid;
	char name[48];
	uint64_t win; /* thread stacks in the window */
	uint64_t cum; /* thread stacks since the start */
};

/* Counters of one function in one thread. */
struct top_cell {
	uint32_t fn, thr;
	uint64_t win_self, win_total;
	uint64_t cum_self, cum_total;
};

struct agg {
	/* Per trie node, as far as seen: the self count at the last
	 * refresh, its function and its thread. */
	uint32_t nnodes, cap_nodes;
	uint64_t *prev;
	uint32_t *node_fn, *node_thr;
	/* Per trie frame: its function or thread index (NONE: neither). */
	uint32_t nframes, cap_frames;
	uint32_t *frame_idx;
	/* Functions, with an open-addressing index. */
	uint32_t nfns, cap_fns;
	/* The frame of each function (function.h), its strings owned.
	 * Immutable once made, and freed only when both threads are done,
	 * so snapshots point at it. */
	struct ps_frame **fns;
	uint64_t *fn_mark; /* generation that last counted it (total) */
	uint32_t cap_fnmark;
	uint32_t *fn_slots, fn_nslots;
	uint64_t gen;
	/* Threads, in first-seen order. */
	uint32_t nthr, cap_thr;
	struct top_thread *thr;
	/* Cells, with an open-addressing index keyed by (thread, fn). */
	uint32_t ncells, cap_cells;
	struct top_cell *cells;
	uint32_t *cell_slots, cell_nslots;
};

/* What the main thread draws: a copy, owned by whoever holds it. */
struct top_row {
	uint32_t fn_idx;
	uint32_t thr;
	const struct ps_frame *fn;
	uint64_t win_self, win_total, cum_self, cum_total;
};

struct top_snap {
	struct sampler_stats st;
	struct sampler_stats prev; /* at the previous snapshot */
	int64_t elapsed_ns; /* since sampling started */
	int64_t window_ns; /* since the previous snapshot */
	bool final; /* sampling is over */
	bool incomplete; /* memory ran out: some samples are missing */
	int err; /* final: what sampler__run returned */
	uint32_t nfns; /* function indices are below this */
	uint32_t nthr;
	struct top_thread *thr;
	uint32_t nrows;
	struct top_row *rows;
};

static void snap__free(struct top_snap *s)
{
	if (!s)
		return;
	free(s->thr);
	free(s->rows);
	free(s);
}

static void agg__free(struct agg *a)
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

static int agg__rehash_fns(struct agg *a, uint32_t nslots)
{
	uint32_t *s = malloc((size_t)nslots * sizeof(*s));

	if (!s)
		return -ENOMEM;
	memset(s, 0xff, (size_t)nslots * sizeof(*s));
	for (uint32_t i = 0; i < a->nfns; i++) {
		uint32_t j = (uint32_t)ps_frame__function_hash(a->fns[i]) &
			     (nslots - 1);
		while (s[j] != NONE)
			j = (j + 1) & (nslots - 1);
		s[j] = i;
	}
	free(a->fn_slots);
	a->fn_slots = s;
	a->fn_nslots = nslots;
	return 0;
}

/* A copy of s after the frame at *p, which moves past it; NULL stays. */
static char *agg__copy_str(char **p, const char *s)
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
static int agg__fn(struct agg *a, const struct ps_frame *f, uint32_t *out)
{
	struct ps_frame key = ps_frame__function(f);
	int err;

	if ((a->nfns + 1) * 10 > a->fn_nslots * 7 &&
	    (err = agg__rehash_fns(a, a->fn_nslots ? a->fn_nslots * 2 : 256)))
		return err;
	uint32_t j =
		(uint32_t)ps_frame__function_hash(&key) & (a->fn_nslots - 1);
	for (; a->fn_slots[j] != NONE; j = (j + 1) & (a->fn_nslots - 1)) {
		if (ps_frame__same_function(a->fns[a->fn_slots[j]], &key)) {
			*out = a->fn_slots[j];
			return 0;
		}
	}
	if ((err = grow(&a->fns, &a->cap_fns, a->nfns + 1,
			sizeof(struct ps_frame *))) ||
	    (err = grow(&a->fn_mark, &a->cap_fnmark, a->nfns + 1,
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
	fn->name = agg__copy_str(&p, key.name);
	fn->file = agg__copy_str(&p, key.file);
	fn->func = agg__copy_str(&p, key.func);
	a->fns[a->nfns] = fn;
	a->fn_slots[j] = a->nfns;
	*out = a->nfns++;
	return 0;
}

static int agg__thread(struct agg *a, const struct ps_frame *f, uint32_t *out)
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
	if ((err = grow(&a->thr, &a->cap_thr, a->nthr + 1, sizeof(*a->thr))))
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

/* Index of frame id: a function, a thread, or NONE. */
static int agg__frame(struct agg *a, const struct trie *t, uint32_t id,
		      uint32_t *out)
{
	int err;

	if (id >= a->nframes) {
		uint32_t n = trie__nframes(t);
		if (id >= n)
			return -PS_ECORRUPT;
		if ((err = grow(&a->frame_idx, &a->cap_frames, n,
				sizeof(*a->frame_idx))))
			return err;
		for (uint32_t i = a->nframes; i < n; i++)
			a->frame_idx[i] = NONE - 1; /* not looked at yet */
		a->nframes = n;
	}
	if (a->frame_idx[id] == NONE - 1) {
		const struct ps_frame *f = trie__frame(t, id);
		uint32_t idx = NONE;
		if (f->kind == PS_FRAME_PYTHON || f->kind == PS_FRAME_SPECIAL)
			err = agg__fn(a, f, &idx);
		else if (f->kind == PS_FRAME_THREAD)
			err = agg__thread(a, f, &idx);
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
static int agg__nodes(struct agg *a, const struct trie *t)
{
	uint32_t n = trie__nnodes(t);
	int err;

	if (n <= a->nnodes)
		return 0;
	if ((err = grow(&a->prev, &a->cap_nodes, n, sizeof(*a->prev))))
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
		a->node_fn[i] = NONE;
		a->node_thr[i] = NONE;
		if (i == 0)
			continue;
		const struct trie_node *nd = trie__node(t, i);
		uint32_t idx;
		/* A parent always has a smaller id (trie.h). */
		if (nd->parent >= i)
			return -PS_ECORRUPT;
		if ((err = agg__frame(a, t, nd->frame, &idx)))
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

static int agg__cell(struct agg *a, uint32_t thr, uint32_t fn,
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
			while (s[j] != NONE)
				j = (j + 1) & (ns - 1);
			s[j] = i;
		}
		free(a->cell_slots);
		a->cell_slots = s;
		a->cell_nslots = ns;
	}
	uint32_t j = (uint32_t)hash__mix64(key) & (a->cell_nslots - 1);
	for (; a->cell_slots[j] != NONE; j = (j + 1) & (a->cell_nslots - 1)) {
		struct top_cell *c = &a->cells[a->cell_slots[j]];
		if (c->thr == thr && c->fn == fn) {
			*out = c;
			return 0;
		}
	}
	if ((err = grow(&a->cells, &a->cap_cells, a->ncells + 1,
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
static int agg__update(struct agg *a, const struct trie *t)
{
	int err = agg__nodes(a, t);

	if (err)
		return err;
	for (uint32_t i = 1; i < a->nnodes; i++) {
		uint64_t self = trie__node(t, i)->self;
		if (self <= a->prev[i])
			continue;
		uint64_t d = self - a->prev[i];
		a->prev[i] = self;
		uint32_t thr = a->node_thr[i];
		if (thr == NONE) {
			/* A stack with no thread root: one thread 0. */
			struct ps_frame none = {.kind = PS_FRAME_THREAD};
			if ((err = agg__thread(a, &none, &thr)))
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
			if (fn == NONE || a->fn_mark[fn] == a->gen)
				continue;
			a->fn_mark[fn] = a->gen;
			if ((err = agg__cell(a, thr, fn, &c)))
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
static struct top_snap *agg__snapshot(struct agg *a)
{
	struct top_snap *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->thr = malloc(((size_t)a->nthr + 1) * sizeof(*s->thr));
	s->rows = malloc(((size_t)a->ncells + 1) * sizeof(*s->rows));
	if (!s->thr || !s->rows) {
		snap__free(s);
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

/* ---- Shared between the two threads */

struct top {
	/* Set before the sampling thread starts, then read-only. */
	struct cli_opts *o;
	struct py_target *t;
	struct trie *trie;
	pid_t child;
	char cmdline[1024];
	int wake[2]; /* the sampling thread writes a byte per snapshot */
	atomic_bool quit; /* the main thread asks sampling to stop */

	pthread_mutex_t lock;
	struct top_snap *pending; /* under lock: the newest, not yet taken */

	/* The main thread's: the command ended on its own, and how. */
	bool child_reaped;
	int child_status;

	/* The sampling thread's own. */
	struct agg agg;
	struct sampler_stats prev;
	int64_t start_ns, last_ns, next_ns;
	bool agg_failed;
	struct sampler_stats st; /* final: read after the join */
	int err;
};

static void top__publish(struct top *tp, const struct trie *trie,
			 const struct sampler_stats *st, bool final, int err)
{
	int64_t now = clock__ns(CLOCK_MONOTONIC);

	if (!tp->agg_failed && agg__update(&tp->agg, trie))
		tp->agg_failed = true; /* out of memory: the header says */
	struct top_snap *s = agg__snapshot(&tp->agg);
	if (!s)
		return;
	s->st = *st;
	s->prev = tp->prev;
	s->elapsed_ns = now - tp->start_ns;
	s->window_ns = now - tp->last_ns;
	s->final = final;
	s->incomplete = tp->agg_failed;
	s->err = err;
	tp->prev = *st;
	tp->last_ns = now;

	pthread_mutex_lock(&tp->lock);
	struct top_snap *old = tp->pending;
	tp->pending = s;
	pthread_mutex_unlock(&tp->lock);
	snap__free(old);
	char c = 's';
	/* Non-blocking: a full pipe already says there is news. */
	if (write(tp->wake[1], &c, 1) < 0) {
		/* nothing to do */
	}
}

static int top__on_tick(void *arg, struct trie *trie,
			const struct sampler_stats *st)
{
	struct top *tp = arg;
	int64_t now = clock__ns(CLOCK_MONOTONIC);

	if (atomic_load(&tp->quit))
		return 1;
	if (now < tp->next_ns)
		return 0;
	/* On a one-second schedule, not "a second after the last draw". */
	tp->next_ns += REFRESH_NS;
	if (tp->next_ns <= now)
		tp->next_ns = now + REFRESH_NS;
	top__publish(tp, trie, st, false, 0);
	return 0;
}

static void *top__sample(void *arg)
{
	struct top *tp = arg;
	struct cli_opts *o = tp->o;
	struct sampler_opts so;

	cli__sampler_opts(o, tp->child, &so);
	so.thread_states = true;
	so.on_tick = top__on_tick;
	so.arg = tp;

	tp->start_ns = tp->last_ns = clock__ns(CLOCK_MONOTONIC);
	tp->next_ns = tp->start_ns + REFRESH_NS;
	tp->err = sampler__run(tp->t, tp->trie, &so, &tp->st, &cli_stop);
	top__publish(tp, tp->trie, &tp->st, true, tp->err);
	return NULL;
}

/* ---- The screen (main thread only) */

struct view_fn {
	const struct ps_frame *fn;
	uint64_t win_self, win_total, cum_self, cum_total;
};

struct ui {
	struct top *tp;
	struct top_snap *latest; /* newest received */
	struct top_snap *shown; /* on screen: latest unless frozen */
	enum top_sort sort;
	bool frozen, help, whole_run, screen;
	bool have_filter;
	uint64_t filter_tid;
	/* The table being drawn, by function index. */
	struct view_fn *fns;
	uint32_t cap_fns;
	uint32_t *order;
	uint32_t cap_order;
	bool utf8;
	FILE *in; /* the terminal keys come from */
};

static struct ui *sort_ui;
static bool sort_whole;

static uint64_t view__key(const struct view_fn *v, enum top_sort s)
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
	const struct view_fn *a = &sort_ui->fns[*(const uint32_t *)pa];
	const struct view_fn *b = &sort_ui->fns[*(const uint32_t *)pb];
	enum top_sort s = sort_ui->sort;

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

/* Functions of the shown snapshot under the filter, sorted; their
 * number.  *win and *cum: the thread stacks the shares are of. */
static uint32_t ui__table(struct ui *u, uint64_t *win, uint64_t *cum)
{
	const struct top_snap *s = u->shown;
	uint32_t n = 0;

	*win = *cum = 0;
	if (!s || grow(&u->fns, &u->cap_fns, s->nfns + 1, sizeof(*u->fns)) ||
	    grow(&u->order, &u->cap_order, s->nfns + 1, sizeof(*u->order)))
		return 0;
	memset(u->fns, 0, (size_t)s->nfns * sizeof(*u->fns));
	for (uint32_t i = 0; i < s->nthr; i++) {
		if (u->have_filter && s->thr[i].tid != u->filter_tid)
			continue;
		*win += s->thr[i].win;
		*cum += s->thr[i].cum;
	}
	for (uint32_t i = 0; i < s->nrows; i++) {
		const struct top_row *r = &s->rows[i];
		if (r->fn_idx >= s->nfns || r->thr >= s->nthr)
			continue;
		if (u->have_filter && s->thr[r->thr].tid != u->filter_tid)
			continue;
		struct view_fn *v = &u->fns[r->fn_idx];
		v->fn = r->fn;
		v->win_self += r->win_self;
		v->win_total += r->win_total;
		v->cum_self += r->cum_self;
		v->cum_total += r->cum_total;
	}
	for (uint32_t i = 0; i < s->nfns; i++)
		if (u->fns[i].fn && u->fns[i].cum_total)
			u->order[n++] = i;
	sort_ui = u;
	sort_whole = u->whole_run || s->final;
	qsort(u->order, n, sizeof(*u->order), view__cmp);
	sort_ui = NULL;
	return n;
}

/*
 * Make s printable in place: control characters and (when the terminal
 * is not UTF-8) anything but ASCII become '?', as does invalid UTF-8.
 */
static void ui__clean(const struct ui *u, char *s)
{
	char *out = s;

	while (*s) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x80) {
			*out++ = c < 0x20 || c == 0x7f ? '?' : (char)c;
			s++;
			continue;
		}
		size_t n = output__utf8_len((const unsigned char *)s, false);
		if (!n) {
			*out++ = '?';
			s++;
		} else if (!u->utf8) {
			*out++ = '?';
			s += n;
		} else {
			memmove(out, s, n);
			out += n;
			s += n;
		}
	}
	*out = '\0';
}

/* Display columns of s (cleaned), and the byte length of its longest
 * prefix that fits in max columns, in *fit. */
static int ui__cols(const char *s, int max, size_t *fit)
{
	mbstate_t ms;
	int cols = 0;
	size_t i = 0, len = strlen(s);

	memset(&ms, 0, sizeof(ms));
	if (fit)
		*fit = len;
	while (i < len) {
		wchar_t wc;
		size_t n = mbrtowc(&wc, s + i, len - i, &ms);
		int w = 1;
		if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
			n = 1;
			memset(&ms, 0, sizeof(ms));
		} else {
			w = wcwidth(wc);
			if (w < 0)
				w = 1;
		}
		if (fit && cols + w > max) {
			*fit = i;
			fit = NULL;
		}
		cols += w;
		i += n;
	}
	return cols;
}

/*
 * "qualname (file:line)" in at most width columns: the shortened path,
 * else the file's base name, else the qualname alone, cut on the left
 * (the innermost part of a qualname says the most).
 */
static void ui__fn_label(const struct ui *u, const struct ps_frame *fn,
			 int width, char *buf, size_t n)
{
	char name[512], path[1024];

	snprintf(name, sizeof(name), "%s", fn->name ? fn->name : "?");
	ui__clean(u, name);
	if (fn->file) {
		if (u->tp->o->full_paths)
			snprintf(path, sizeof(path), "%s", fn->file);
		else
			output__short_path(fn->file, path, sizeof(path));
		ui__clean(u, path);
		snprintf(buf, n, "%s (%s:%d)", name, path, fn->firstlineno);
		if (ui__cols(buf, width, NULL) <= width)
			return;
		const char *base = strrchr(path, '/');
		base = base ? base + 1 : path;
		snprintf(buf, n, "%s (%s:%d)", name, base, fn->firstlineno);
		if (ui__cols(buf, width, NULL) <= width)
			return;
		/* The end of the file name, if enough of it fits to mean
		 * something ("<frozen importlib._bootstrap>"). */
		char tail[64];
		snprintf(tail, sizeof(tail), ":%d)", fn->firstlineno);
		int room =
			width - ui__cols(name, 0, NULL) - 4 - (int)strlen(tail);
		if (room >= 8) {
			const char *p = base;
			while (*p && ui__cols(p, 0, NULL) > room) {
				p++;
				while (((unsigned char)*p & 0xc0) == 0x80)
					p++;
			}
			snprintf(buf, n, "%s (..%s%s", name, p, tail);
			return;
		}
	}
	int cols = ui__cols(name, 0, NULL);
	if (cols <= width || width < 4) {
		size_t fit;
		ui__cols(name, width, &fit);
		snprintf(buf, n, "%.*s", (int)fit, name);
		return;
	}
	/* Drop leading characters until the rest fits after "..". */
	const char *p = name;
	while (*p && ui__cols(p, 0, NULL) > width - 2) {
		p++;
		while (((unsigned char)*p & 0xc0) == 0x80)
			p++;
	}
	snprintf(buf, n, "..%s", p);
}

/* Put s at (y, x), cut to the screen's width. */
static void ui__put(int y, int x, const char *s)
{
	size_t fit;

	if (y < 0 || y >= LINES || x >= COLS)
		return;
	ui__cols(s, COLS - x, &fit);
	mvaddnstr(y, x, s, (int)fit);
}

static void ui__pct(char *buf, size_t n, uint64_t part, uint64_t whole)
{
	if (whole)
		snprintf(buf, n, "%.1f%%",
			 100.0 * (double)part / (double)whole);
	else
		snprintf(buf, n, "n/a");
}

static const char *ui__thread_label(const struct ui *u, char *buf, size_t n)
{
	const struct top_snap *s = u->shown;

	if (!u->have_filter)
		return "all";
	const char *name = "";
	for (uint32_t i = 0; s && i < s->nthr; i++)
		if (s->thr[i].tid == u->filter_tid)
			name = s->thr[i].name;
	if (name[0])
		snprintf(buf, n, "%llu (%s)", (unsigned long long)u->filter_tid,
			 name);
	else
		snprintf(buf, n, "%llu", (unsigned long long)u->filter_tid);
	return buf;
}

static void ui__exit_text(const struct top_snap *s, char *buf, size_t n)
{
	const struct sampler_stats *st = &s->st;

	if (st->child_reaped && WIFEXITED(st->child_status))
		snprintf(buf, n, "process exited with status %d",
			 WEXITSTATUS(st->child_status));
	else if (st->child_reaped && WIFSIGNALED(st->child_status))
		snprintf(buf, n, "process killed by signal %d",
			 WTERMSIG(st->child_status));
	else if (st->target_exited)
		snprintf(buf, n, "process exited");
	else if (s->err)
		snprintf(buf, n, "sampling stopped: %s", ps_strerror(s->err));
	else
		snprintf(buf, n, "sampling ended");
}

static void ui__header(struct ui *u)
{
	struct top *tp = u->tp;
	const struct top_snap *s = u->shown;
	char line[2048], a[32], b[32], thr[96];

	snprintf(line, sizeof(line), "psample top - pid %d, Python %s: %s",
		 (int)tp->t->pid, tp->t->version_str, tp->cmdline);
	ui__clean(u, line);
	attron(A_BOLD);
	ui__put(0, 0, line);
	attroff(A_BOLD);
	if (!s) {
		ui__put(2, 0,
			"Sampling... (the first figures come after a "
			"second)");
		return;
	}
	const struct sampler_stats *st = &s->st, *pv = &s->prev;
	double win = (double)s->window_ns / 1e9;
	double rate = win > 0 ? (double)(st->ticks - pv->ticks) / win : 0;
	uint32_t live = st->live_threads;
	if (!live && !st->live_processes) {
		/* A sampler that does not count them: threads seen. */
		for (uint32_t i = 0; i < s->nthr; i++)
			live += s->thr[i].win ? 1 : 0;
	}
	/* Counted as record's summary line counts them. */
	unsigned long long errs = st->errors;
	unsigned long long late = st->late;
	errs += st->thread_errors + st->threads_gone;
	late += st->missed;
	snprintf(line, sizeof(line),
		 "Rate %.1f/%.0f Hz  Samples %llu  Errors %llu  Late %llu  "
		 "Threads %u  Processes %u",
		 rate, tp->o->rate_hz, (unsigned long long)st->samples, errs,
		 late, live, st->live_processes ? st->live_processes : 1);
	ui__put(1, 0, line);

	/* Over the window, unless the window has none (or --whole). */
	bool whole = u->whole_run || s->final;
	uint64_t gk = st->gil_known - (whole ? 0 : pv->gil_known);
	uint64_t gh = st->gil_held - (whole ? 0 : pv->gil_held);
	uint64_t sr = st->states_read - (whole ? 0 : pv->states_read);
	uint64_t rn = st->running - (whole ? 0 : pv->running);
	ui__pct(a, sizeof(a), gh, gk);
	ui__pct(b, sizeof(b), rn, sr);
	int64_t el = s->elapsed_ns / NSEC;
	snprintf(line, sizeof(line),
		 "GIL %s  CPU %s  Mode %s  Elapsed %lld:%02lld:%02lld  "
		 "Shares: %s",
		 a, b, cli__mode_name(tp->o->mode), (long long)(el / 3600),
		 (long long)(el / 60 % 60), (long long)(el % 60),
		 whole ? "whole run" : "last 1 s");
	ui__put(2, 0, line);

	snprintf(line, sizeof(line), "Thread: %s   Sort: %s",
		 ui__thread_label(u, thr, sizeof(thr)), sort_names[u->sort]);
	ui__clean(u, line);
	ui__put(3, 0, line);
	if (s->final) {
		char ex[128];
		ui__exit_text(s, ex, sizeof(ex));
		snprintf(line, sizeof(line), "%s - q to quit", ex);
		attron(A_BOLD);
		ui__put(4, 0, line);
		attroff(A_BOLD);
	} else if (u->frozen) {
		attron(A_BOLD);
		ui__put(4, 0, "FROZEN - space or p to resume");
		attroff(A_BOLD);
	} else if (s->incomplete) {
		ui__put(4, 0, "out of memory: figures are incomplete");
	}
}

static void ui__rows(struct ui *u)
{
	uint64_t win, cum;
	uint32_t n = ui__table(u, &win, &cum);
	bool whole = u->whole_run || (u->shown && u->shown->final);
	double dt = 1.0 / u->tp->o->rate_hz;
	uint64_t den = whole ? cum : win;
	char line[2048], label[1600];

	snprintf(line, sizeof(line), "%6s  %6s  %8s  %9s  %-*s", "%Own",
		 "%Total", "OwnTime", "TotalTime",
		 COLS > NUM_COLS ? COLS - NUM_COLS : 0, "Function (file:line)");
	attron(A_REVERSE);
	ui__put(HEAD_LINES - 1, 0, line);
	attroff(A_REVERSE);
	int rows = LINES - HEAD_LINES - FOOT_LINES;
	for (int i = 0; i < rows && (uint32_t)i < n; i++) {
		const struct view_fn *v = &u->fns[u->order[i]];
		uint64_t os = whole ? v->cum_self : v->win_self;
		uint64_t ot = whole ? v->cum_total : v->win_total;
		double a = den ? 100.0 * (double)os / (double)den : 0;
		double b = den ? 100.0 * (double)ot / (double)den : 0;
		double c = (double)v->cum_self * dt,
		       d = (double)v->cum_total * dt;
		int w = COLS - NUM_COLS;
		if (w < 1)
			w = 1;
		ui__fn_label(u, v->fn, w, label, sizeof(label));
		snprintf(line, sizeof(line), "%6.1f  %6.1f  %8.*f  %9.*f  %s",
			 a, b, c < 1e5 ? 2 : 0, c, d < 1e5 ? 2 : 0, d, label);
		ui__put(HEAD_LINES + i, 0, line);
	}
}

static void ui__help(void)
{
	static const char *const lines[] = {
		"psample top keys",
		"",
		"  1  sort by %Own     (share of samples, function innermost)",
		"  2  sort by %Total   (share with the function on the stack)",
		"  3  sort by OwnTime  (seconds innermost, since the start)",
		"  4  sort by TotalTime",
		"  f  next thread (F: previous); all threads after the last",
		"  a  shares over the last second / over the whole run",
		"  p  or space: freeze the display (sampling goes on)",
		"  q  or Ctrl-C: quit",
		"  h  or ?: this help; any key closes it",
	};
	int n = (int)(sizeof(lines) / sizeof(lines[0]));

	for (int i = 0; i < n && HEAD_LINES + i < LINES - FOOT_LINES; i++) {
		move(HEAD_LINES + i, 0);
		clrtoeol();
		ui__put(HEAD_LINES + i, 0, lines[i]);
	}
}

static void ui__draw(struct ui *u)
{
	erase();
	ui__header(u);
	ui__rows(u);
	if (u->help)
		ui__help();
	attron(A_REVERSE);
	char foot[256];
	snprintf(foot, sizeof(foot), "%-*s", COLS > 0 ? COLS : 1,
		 "1 %Own 2 %Total 3 OwnTime 4 TotalTime  f thread  "
		 "p freeze  h help  q quit");
	ui__put(LINES - 1, 0, foot);
	attroff(A_REVERSE);
	refresh();
}

/* Cycle the filter through the threads seen, in tid order, then all. */
static void ui__next_thread(struct ui *u, bool back)
{
	const struct top_snap *s = u->shown;
	bool found = false;
	uint64_t best = 0;

	for (uint32_t i = 0; s && i < s->nthr; i++) {
		uint64_t tid = s->thr[i].tid;
		bool after = !u->have_filter ||
			     (back ? tid < u->filter_tid : tid > u->filter_tid);
		if (!u->have_filter && back)
			after = true;
		if (!after)
			continue;
		if (!found || (back ? tid > best : tid < best)) {
			best = tid;
			found = true;
		}
	}
	u->have_filter = found;
	u->filter_tid = found ? best : 0;
}

/* Take the newest snapshot, if there is one.  Whether it is new. */
static bool ui__receive(struct ui *u)
{
	struct top *tp = u->tp;
	char buf[64];

	while (read(tp->wake[0], buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&tp->lock);
	struct top_snap *s = tp->pending;
	tp->pending = NULL;
	pthread_mutex_unlock(&tp->lock);
	if (!s)
		return false;
	if (s->final && s->st.child_reaped) {
		tp->child_reaped = true;
		tp->child_status = s->st.child_status;
	}
	if (u->shown != u->latest)
		snap__free(u->latest);
	u->latest = s;
	if (!u->frozen || s->final) {
		if (u->shown != s)
			snap__free(u->shown);
		u->shown = s;
		if (s->final)
			u->frozen = false;
	}
	return true;
}

/*
 * The command exited but the sampler saw it go before it could be
 * reaped (its memory vanishes a moment before it becomes a zombie):
 * reap it here, so the final screen says how it ended.  Whether the
 * screen changed.
 */
static bool ui__reap(struct ui *u)
{
	struct top *tp = u->tp;
	struct top_snap *s = u->shown;
	int status;

	if (!s || !s->final || tp->child <= 0 || tp->child_reaped ||
	    !s->st.target_exited ||
	    waitpid(tp->child, &status, WNOHANG) != tp->child)
		return false;
	tp->child_reaped = true;
	tp->child_status = status;
	s->st.child_reaped = true;
	s->st.child_status = status;
	return true;
}

/* React to a key; false to quit. */
static bool ui__key(struct ui *u, int ch)
{
	if (u->help && ch != KEY_RESIZE) {
		u->help = false;
		return ch != 'q' && ch != 'Q';
	}
	switch (ch) {
	case 'q':
	case 'Q': return false;
	case '1':
	case '2':
	case '3':
	case '4': u->sort = (enum top_sort)(ch - '1'); break;
	case 'f': ui__next_thread(u, false); break;
	case 'F': ui__next_thread(u, true); break;
	case 'a': u->whole_run = !u->whole_run; break;
	case ' ':
	case 'p':
	case 'P':
		if (u->shown && u->shown->final)
			break;
		u->frozen = !u->frozen;
		if (!u->frozen && u->latest != u->shown) {
			snap__free(u->shown);
			u->shown = u->latest;
		}
		break;
	case 'h':
	case '?': u->help = true; break;
	default: break;
	}
	return true;
}

/*
 * The screen's life: draw, then wait for keys, snapshots and signals
 * until the user quits.  Returns when the screen should end.
 */
static void ui__run(struct ui *u)
{
	struct top *tp = u->tp;
	bool redraw = true;

	for (;;) {
		if (cli_stop)
			return;
		if (redraw) {
			ui__draw(u);
			redraw = false;
		}
		struct pollfd p[2] = {{.fd = fileno(u->in), .events = POLLIN},
				      {.fd = tp->wake[0], .events = POLLIN}};
		/* A bounded wait, in case a signal went to the other
		 * thread; keys and snapshots wake us at once. */
		poll(p, 2, 250);
		/* The terminal is gone: nobody is left to press q. */
		if (cli_stop || (p[0].revents & (POLLHUP | POLLERR | POLLNVAL)))
			return;
		if (ui__receive(u))
			redraw = true;
		if (ui__reap(u))
			redraw = true;
		if (u->shown && u->shown->final && u->shown->err &&
		    !u->shown->st.ticks)
			return; /* refused at start: say why, after endwin */
		int ch;
		while ((ch = getch()) != ERR) {
			if (!ui__key(u, ch))
				return;
			redraw = true;
		}
	}
}

/* ---- Starting, ending */

static struct top *screen_owner;

/* Restore the terminal: idempotent, and at exit whatever happens. */
static void top__screen_end(void)
{
	if (screen_owner) {
		screen_owner = NULL;
		endwin();
	}
}

/* Wakes the sampling thread's sleep so that it sees the stop flag. */
static void on_wake_signal(int sig)
{
	(void)sig;
}

static void top__signals(void)
{
	struct sigaction sa;

	cli__catch_signals();
	/* A closed terminal or Ctrl-\ ends top like q: the terminal is
	 * restored before psample exits. */
	cli__stop_on(SIGHUP);
	cli__stop_on(SIGQUIT);
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_wake_signal;
	sigaction(SIGUSR1, &sa, NULL);
}

/* End a command top started: SIGTERM, then SIGKILL if it lingers. */
static void top__end_child(pid_t child)
{
	int64_t deadline = clock__ns(CLOCK_MONOTONIC) + CHILD_TERM_NS;
	int status;

	kill(child, SIGTERM);
	for (;;) {
		pid_t r = waitpid(child, &status, WNOHANG);
		if (r == child || (r < 0 && errno != EINTR))
			return;
		if (clock__ns(CLOCK_MONOTONIC) >= deadline) {
			kill(child, SIGKILL);
			while (waitpid(child, &status, 0) < 0 && errno == EINTR)
				;
			return;
		}
		struct timespec ts = {.tv_nsec = 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

static int top__check(const struct cli_opts *o)
{
	if (o->pid && o->argv[0]) {
		fprintf(stderr, "psample: top takes --pid PID or -- COMMAND, "
				"not both\n");
		return PS_EXIT_USAGE;
	}
	if (!o->pid && !o->argv[0]) {
		fprintf(stderr, "psample: top needs --pid PID or a command: "
				"psample top -- python3 app.py\n");
		return PS_EXIT_USAGE;
	}
	if (o->output || o->format || o->json) {
		fprintf(stderr, "psample: top writes no profile: -o, -f and "
				"--json do not apply (use record or attach)\n");
		return PS_EXIT_USAGE;
	}
	if (o->mode == SAMPLER_MEMORY) {
		fprintf(stderr, "psample: top shows time, not memory: use "
				"record --mode memory -f folded\n");
		return PS_EXIT_USAGE;
	}
	if (!isatty(STDOUT_FILENO)) {
		fprintf(stderr, "psample: top needs a terminal on standard "
				"output; use record or attach to write a "
				"profile instead\n");
		return PS_EXIT_USAGE;
	}
	return 0;
}

/* Start the screen; 0 or an exit code (message given). */
static int top__screen_start(struct top *tp, struct ui *u, SCREEN **scr)
{
	/* Keys come from the terminal even when stdin is redirected: a
	 * file or /dev/null would read as end of file at every poll. */
	u->in = stdin;
	if (!isatty(STDIN_FILENO)) {
		u->in = fopen("/dev/tty", "re");
		if (!u->in) {
			fprintf(stderr,
				"psample: top needs a terminal to "
				"read keys from: /dev/tty: %s\n",
				strerror(errno));
			return PS_EXIT_USAGE;
		}
	}
	*scr = newterm(NULL, stdout, u->in);
	if (!*scr) {
		const char *term = getenv("TERM");
		fprintf(stderr,
			"psample: top cannot use the terminal (TERM=%s): "
			"no terminfo entry for it\n",
			term ? term : "");
		return PS_EXIT_USAGE;
	}
	screen_owner = tp;
	atexit(top__screen_end);
	cbreak();
	noecho();
	nodelay(stdscr, TRUE);
	keypad(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	return 0;
}

/* Everything after the target is open.  Returns the exit code. */
static int top__session(struct top *tp)
{
	struct ui u = {.tp = tp};
	SCREEN *scr = NULL;
	pthread_t th;
	sigset_t all, old;
	int rc;

	u.utf8 = MB_CUR_MAX > 1;
	if (pipe2(tp->wake, O_CLOEXEC | O_NONBLOCK) < 0)
		return cli__fail(-errno, tp->t->pid, "pipe");
	pthread_mutex_init(&tp->lock, NULL);
	if ((rc = top__screen_start(tp, &u, &scr)))
		goto out_screen;
	/* Signals go to the main thread, whose poll they interrupt; the
	 * sampling thread takes only the wake-up. */
	sigfillset(&all);
	sigdelset(&all, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int err = pthread_create(&th, NULL, top__sample, tp);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		top__screen_end();
		rc = cli__fail(-err, tp->t->pid, "thread");
		goto out_screen;
	}

	ui__run(&u);
	top__screen_end();
	atomic_store(&tp->quit, true);
	cli_stop = 1;
	pthread_kill(th, SIGUSR1);
	pthread_join(th, NULL);
	if (tp->st.child_reaped && !tp->child_reaped) {
		/* It ended by itself while the screen was closing. */
		tp->child_reaped = true;
		tp->child_status = tp->st.child_status;
	}

	rc = 0;
	if (tp->err && !tp->st.ticks)
		rc = cli__start_error(tp->err, tp->o, tp->t);
	else if (tp->child > 0 && tp->child_reaped)
		rc = cli__exit_code(tp->child_status);
out_screen:
	if (scr)
		delscreen(scr);
	snap__free(tp->pending);
	if (u.shown != u.latest)
		snap__free(u.shown);
	snap__free(u.latest);
	free(u.fns);
	free(u.order);
	agg__free(&tp->agg);
	pthread_mutex_destroy(&tp->lock);
	if (u.in && u.in != stdin)
		fclose(u.in);
	close(tp->wake[0]);
	close(tp->wake[1]);
	return rc;
}

int cli__top(struct cli_opts *o)
{
	struct top tp = {.o = o};
	int rc, status = 0;

	if ((rc = top__check(o)))
		return rc;
	setlocale(LC_ALL, "");
	top__signals();
	if (o->argv[0] && (rc = cli__spawn(o->argv, true, &tp.child)))
		return rc;

	pid_t pid = tp.child ? tp.child : o->pid;
	int err = cli__open(pid, tp.child,
			    tp.child ? SPAWN_WAIT_NS : ATTACH_WAIT_NS, &tp.t,
			    &status);
	if (err == -ECHILD) {
		fprintf(stderr,
			"psample: '%s' exited before Python could be "
			"sampled\n",
			o->argv[0]);
		return cli__exit_code(status);
	}
	if (err) {
		rc = cli_stop && tp.child ? 0 : cli__fail(err, pid, "top");
		if (tp.child)
			top__end_child(tp.child);
		return rc;
	}
	tp.trie = trie__new();
	if (!tp.trie) {
		rc = cli__fail(-ENOMEM, pid, "top");
	} else {
		proc__cmdline(pid, tp.cmdline, sizeof(tp.cmdline));
		rc = top__session(&tp);
	}
	if (tp.child && !tp.child_reaped)
		top__end_child(tp.child);
	trie__free(tp.trie);
	py_target__free(tp.t);
	return rc;
}
