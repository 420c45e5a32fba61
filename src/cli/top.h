/*
 * top.h - what the parts of `psample top` share: the live aggregation
 * (top_agg.c) and the table made of it (top_table.c), both pure; the
 * screen (top_screen.c); and the command that runs them (top.c).
 *
 * Two threads.  The sampling thread runs sampler__run; its on_tick hook
 * is the only code that reads the trie, and once a second it folds what
 * the trie gained since the last refresh into counters per (thread,
 * function) and hands the main thread a snapshot that owns its data.
 * The main thread owns the terminal: it waits for keys, signals and
 * snapshots, and draws.  Drawing therefore never delays a sample, and
 * ncurses is only ever called from one thread.
 */
#ifndef PSAMPLE_CLI_TOP_H
#define PSAMPLE_CLI_TOP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "psample/target.h"
#include "psample/sampler.h"
#include "psample/trie.h"
#include "opts.h"

#define TOP_NONE UINT32_MAX

/* Grow *pp, an array of *cap elements of size bytes, to hold need,
 * zeroing the new part.  -ENOMEM. */
int top__grow(void *pp, uint32_t *cap, uint32_t need, size_t size);

/* ---- The live aggregation (the sampling thread's own) */

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

struct top_agg {
	/* Per trie node, as far as seen: the self count at the last
	 * refresh, its function and its thread. */
	uint32_t nnodes, cap_nodes;
	uint64_t *prev;
	uint32_t *node_fn, *node_thr;
	/* Per trie frame: its function or thread index (TOP_NONE:
	 * neither). */
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

/*
 * Add what every node of t gained since the last update: its own
 * function gets the gain as self, every distinct function on its path
 * as total, once however often it recurses.  -ENOMEM, -PS_ECORRUPT.
 */
int top_agg__update(struct top_agg *a, const struct trie *t);

/* A snapshot of the counters (NULL: out of memory); the window starts
 * again. */
struct top_snap *top_agg__snapshot(struct top_agg *a);

/* Free what a holds (its functions: after every snapshot). */
void top_agg__free(struct top_agg *a);

void top_snap__free(struct top_snap *s);

/* ---- The table the screen shows (pure) */

enum top_sort { SORT_OWN_PCT, SORT_TOTAL_PCT, SORT_OWN_TIME, SORT_TOTAL_TIME };

/* A function's counters, summed over the threads shown. */
struct top_view_fn {
	const struct ps_frame *fn;
	uint64_t win_self, win_total, cum_self, cum_total;
};

struct top_table {
	/* By function index of the snapshot. */
	struct top_view_fn *fns;
	uint32_t cap_fns;
	/* The function indices to show, in order, and their number. */
	uint32_t *order;
	uint32_t cap_order;
	uint32_t n;
	/* The thread stacks the shares are of: in the window, in all. */
	uint64_t win, cum;
};

/*
 * Make tb the functions of s seen since the start, in the threads
 * *filter_tid names (NULL: all), sorted by sort, then by the other
 * columns in their order, then by name; whole: the percentage columns
 * are of the whole run.  Returns tb->n (0 also when out of memory).
 */
uint32_t top_table__build(struct top_table *tb, const struct top_snap *s,
			  const uint64_t *filter_tid, enum top_sort sort,
			  bool whole);

void top_table__free(struct top_table *tb);

/* 100 * part / whole, 0 when whole is. */
double top__share(uint64_t part, uint64_t whole);

/* ---- Shared between the two threads */

struct top {
	/* Set before the sampling thread starts, then read-only. */
	struct cli_opts *o;
	struct py_target *t; /* NULL with --all */
	pid_t pid; /* the target's (0 with --all) */
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
	struct top_agg agg;
	struct sampler_stats prev;
	int64_t start_ns, last_ns, next_ns;
	bool agg_failed;
	struct sampler_stats st; /* final: read after the join */
	int err;
};

/* ---- The screen (main thread only) */

struct top_screen {
	struct top *tp;
	struct top_snap *latest; /* newest received */
	struct top_snap *shown; /* on screen: latest unless frozen */
	enum top_sort sort;
	bool frozen, help, whole_run;
	bool have_filter;
	uint64_t filter_tid;
	struct top_table table; /* the one being drawn */
	bool utf8;
	FILE *in; /* the terminal keys come from */
};

/* Take the terminal for u; 0 or an exit code (message given). */
int top_screen__start(struct top_screen *u);

/* Draw, then follow keys, snapshots and signals until the user quits
 * or the target is gone for good. */
void top_screen__run(struct top_screen *u);

/* Give the terminal back: idempotent, and at exit whatever happens. */
void top_screen__end(void);

/* Free what u holds, the terminal's ncurses state included. */
void top_screen__free(struct top_screen *u);

#endif
