/*
 * test_top.c - unit tests for top's live aggregation and its table: the
 * counts a user reads on the screen (own and total per function and per
 * thread, recursion counted once), what makes frames one function, the
 * one-second window beside the counts since the start, and the order,
 * thread filter and shares of the table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "psample/trie.h"
#include "top.h"

struct fixture {
	struct trie *t;
	struct top_agg a;
};

static struct fixture *fx__new(void)
{
	struct fixture *fx = test_calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->t = trie__new();
	assert_non_null(fx->t);
	return fx;
}

static void fx__free(struct fixture *fx)
{
	top_agg__free(&fx->a);
	trie__free(fx->t);
	test_free(fx);
}

static uint32_t py(struct fixture *fx, const char *name, const char *file,
		   int first, int line)
{
	struct ps_frame f = {.kind = PS_FRAME_PYTHON,
			     .firstlineno = first,
			     .line = line,
			     .name = name,
			     .file = file,
			     .func = name};
	uint32_t id;

	assert_int_equal(trie__intern(fx->t, &f, &id), 0);
	return id;
}

static uint32_t thread(struct fixture *fx, uint64_t tid, const char *name)
{
	struct ps_frame f = {.kind = PS_FRAME_THREAD, .num = tid, .name = name};
	uint32_t id;

	assert_int_equal(trie__intern(fx->t, &f, &id), 0);
	return id;
}

static uint32_t special(struct fixture *fx, const char *label)
{
	struct ps_frame f = {.kind = PS_FRAME_SPECIAL, .name = label};
	uint32_t id;

	assert_int_equal(trie__intern(fx->t, &f, &id), 0);
	return id;
}

/* Count a stack, root first, n times. */
static void add(struct fixture *fx, uint64_t n, size_t depth, ...)
{
	uint32_t frames[16];
	va_list ap;

	assert_true(depth <= 16);
	va_start(ap, depth);
	for (size_t i = 0; i < depth; i++)
		frames[i] = va_arg(ap, uint32_t);
	va_end(ap);
	assert_int_equal(trie__add_stack(fx->t, frames, depth, n), 0);
}

static struct top_snap *snapshot(struct fixture *fx)
{
	assert_int_equal(top_agg__update(&fx->a, fx->t), 0);
	struct top_snap *s = top_agg__snapshot(&fx->a);
	assert_non_null(s);
	return s;
}

static const struct top_thread *snap__thread(const struct top_snap *s,
					     uint64_t tid)
{
	for (uint32_t i = 0; i < s->nthr; i++)
		if (s->thr[i].tid == tid)
			return &s->thr[i];
	return NULL;
}

/* The row of function name (in file, if given) in thread tid. */
static const struct top_row *snap__row(const struct top_snap *s, uint64_t tid,
				       const char *name, const char *file)
{
	const struct top_row *found = NULL;

	for (uint32_t i = 0; i < s->nrows; i++) {
		const struct top_row *r = &s->rows[i];
		if (s->thr[r->thr].tid != tid ||
		    strcmp(r->fn->name, name) != 0 ||
		    (file && strcmp(r->fn->file, file) != 0))
			continue;
		assert_null(found); /* one row per function and thread */
		found = r;
	}
	return found;
}

static void assert_row(const struct top_snap *s, uint64_t tid, const char *name,
		       uint64_t self, uint64_t total)
{
	const struct top_row *r = snap__row(s, tid, name, NULL);

	assert_non_null(r);
	assert_int_equal(r->cum_self, self);
	assert_int_equal(r->cum_total, total);
}

/* Own: the function innermost; total: anywhere on the stack. */
static void test_own_and_total(void **state)
{
	struct fixture *fx = fx__new();
	uint32_t t1 = thread(fx, 101, "MainThread");
	uint32_t main_ = py(fx, "main", "/app.py", 1, 3);
	uint32_t work = py(fx, "work", "/app.py", 10, 11);
	uint32_t leaf = py(fx, "leaf", "/lib.py", 20, 21);
	uint32_t gc = special(fx, "<GC>");

	(void)state;
	add(fx, 3, 3, t1, main_, work);
	add(fx, 1, 4, t1, main_, work, leaf);
	add(fx, 2, 2, t1, main_);
	add(fx, 4, 3, t1, main_, gc);

	struct top_snap *s = snapshot(fx);
	assert_int_equal(s->nthr, 1);
	assert_int_equal(snap__thread(s, 101)->cum, 10);
	assert_int_equal(snap__thread(s, 101)->win, 10);
	assert_string_equal(snap__thread(s, 101)->name, "MainThread");
	assert_row(s, 101, "main", 2, 10);
	assert_row(s, 101, "work", 3, 4);
	assert_row(s, 101, "leaf", 1, 1);
	/* A special frame is a function of its own. */
	assert_row(s, 101, "<GC>", 4, 4);
	assert_int_equal(s->nrows, 4);
	/* The first window is everything so far. */
	for (uint32_t i = 0; i < s->nrows; i++) {
		assert_int_equal(s->rows[i].win_self, s->rows[i].cum_self);
		assert_int_equal(s->rows[i].win_total, s->rows[i].cum_total);
	}
	top_snap__free(s);
	fx__free(fx);
}

/* Lines do not make functions: the code object (name, file, first
 * line) does. */
static void test_function_identity(void **state)
{
	struct fixture *fx = fx__new();
	uint32_t t1 = thread(fx, 7, NULL);
	uint32_t a10 = py(fx, "f", "/a.py", 10, 11);
	uint32_t a12 = py(fx, "f", "/a.py", 10, 12);
	uint32_t b10 = py(fx, "f", "/b.py", 10, 11);
	uint32_t a30 = py(fx, "f", "/a.py", 30, 31); /* redefined */

	(void)state;
	add(fx, 1, 2, t1, a10);
	add(fx, 2, 2, t1, a12);
	add(fx, 4, 2, t1, b10);
	add(fx, 8, 2, t1, a30);

	struct top_snap *s = snapshot(fx);
	assert_int_equal(s->nfns, 3);
	assert_int_equal(s->nrows, 3);
	uint64_t a = 0, b = 0;
	for (uint32_t i = 0; i < s->nrows; i++) {
		const struct top_row *r = &s->rows[i];
		if (!strcmp(r->fn->file, "/b.py"))
			b += r->cum_self;
		else if (r->fn->firstlineno == 10)
			a += r->cum_self;
		else
			assert_int_equal(r->cum_self, 8);
	}
	assert_int_equal(a, 3);
	assert_int_equal(b, 4);
	/* The function's frame is at its first line. */
	assert_int_equal(s->rows[0].fn->line, s->rows[0].fn->firstlineno);
	top_snap__free(s);
	fx__free(fx);
}

/* A recursive function counts once per stack in total. */
static void test_recursion_counts_once(void **state)
{
	struct fixture *fx = fx__new();
	uint32_t t1 = thread(fx, 1, NULL);
	uint32_t m = py(fx, "main", "/r.py", 1, 2);
	uint32_t f1 = py(fx, "fib", "/r.py", 5, 6);
	uint32_t f2 = py(fx, "fib", "/r.py", 5, 7);

	(void)state;
	add(fx, 5, 5, t1, m, f1, f2, f1, f2);
	add(fx, 3, 3, t1, m, f1);

	struct top_snap *s = snapshot(fx);
	assert_row(s, 1, "fib", 8, 8);
	assert_row(s, 1, "main", 0, 8);
	top_snap__free(s);
	fx__free(fx);
}

/* The window holds what came since the previous snapshot; the counts
 * since the start go on. */
static void test_window_and_since_start(void **state)
{
	struct fixture *fx = fx__new();
	uint32_t t1 = thread(fx, 1, NULL);
	uint32_t f = py(fx, "f", "/w.py", 1, 2);
	uint32_t g = py(fx, "g", "/w.py", 5, 6);

	(void)state;
	add(fx, 10, 2, t1, f);
	top_snap__free(snapshot(fx));

	add(fx, 2, 2, t1, f);
	add(fx, 3, 3, t1, f, g);
	struct top_snap *s = snapshot(fx);
	const struct top_row *rf = snap__row(s, 1, "f", NULL);
	const struct top_row *rg = snap__row(s, 1, "g", NULL);
	assert_int_equal(rf->win_self, 2);
	assert_int_equal(rf->win_total, 5);
	assert_int_equal(rf->cum_self, 12);
	assert_int_equal(rf->cum_total, 15);
	assert_int_equal(rg->win_self, 3);
	assert_int_equal(rg->cum_total, 3);
	assert_int_equal(snap__thread(s, 1)->win, 5);
	assert_int_equal(snap__thread(s, 1)->cum, 15);
	top_snap__free(s);

	/* Nothing new: an empty window, the same counts since the start. */
	s = snapshot(fx);
	rf = snap__row(s, 1, "f", NULL);
	assert_int_equal(rf->win_self, 0);
	assert_int_equal(rf->win_total, 0);
	assert_int_equal(rf->cum_total, 15);
	assert_int_equal(snap__thread(s, 1)->win, 0);
	assert_int_equal(snap__thread(s, 1)->cum, 15);
	top_snap__free(s);
	fx__free(fx);
}

/* Rows are per thread; a thread is its tid, named by its last name; a
 * stack without a thread root is thread 0. */
static void test_threads(void **state)
{
	struct fixture *fx = fx__new();
	uint32_t t1 = thread(fx, 11, "one");
	uint32_t t1b = thread(fx, 11, "renamed");
	uint32_t t2 = thread(fx, 22, "two");
	uint32_t f = py(fx, "f", "/t.py", 1, 2);

	(void)state;
	add(fx, 1, 2, t1, f);
	add(fx, 2, 2, t1b, f);
	add(fx, 4, 2, t2, f);
	add(fx, 8, 1, f);

	struct top_snap *s = snapshot(fx);
	assert_int_equal(s->nthr, 3);
	assert_int_equal(snap__thread(s, 11)->cum, 3);
	assert_string_equal(snap__thread(s, 11)->name, "renamed");
	assert_int_equal(snap__thread(s, 22)->cum, 4);
	assert_int_equal(snap__thread(s, 0)->cum, 8);
	assert_row(s, 11, "f", 3, 3);
	assert_row(s, 22, "f", 4, 4);
	assert_row(s, 0, "f", 8, 8);
	assert_int_equal(s->nfns, 1);
	top_snap__free(s);
	fx__free(fx);
}

static const char *table__name(const struct top_table *tb, uint32_t i)
{
	return tb->fns[tb->order[i]].fn->name;
}

/* The table: threads summed or filtered, sorted, shares of the right
 * thread stacks. */
static void test_table(void **state)
{
	struct fixture *fx = fx__new();
	struct top_table tb = {0};
	uint32_t t1 = thread(fx, 1, NULL);
	uint32_t t2 = thread(fx, 2, NULL);
	uint32_t m = py(fx, "main", "/x.py", 1, 2);
	uint32_t a = py(fx, "alpha", "/x.py", 10, 11);
	uint32_t b = py(fx, "beta", "/x.py", 20, 21);
	uint32_t old = py(fx, "old", "/x.py", 30, 31);
	uint64_t tid = 2;

	(void)state;
	add(fx, 5, 2, t1, old);
	top_snap__free(snapshot(fx));
	add(fx, 6, 3, t1, m, a);
	add(fx, 2, 3, t1, m, b);
	add(fx, 4, 3, t2, m, b);
	struct top_snap *s = snapshot(fx);

	/* By %Own in the window: alpha 6, beta 6 (2 + 4): equal own, equal
	 * total, so the name decides; then main; old, idle now, last. */
	assert_int_equal(top_table__build(&tb, s, NULL, SORT_OWN_PCT, false),
			 4);
	assert_string_equal(table__name(&tb, 0), "alpha");
	assert_string_equal(table__name(&tb, 1), "beta");
	assert_string_equal(table__name(&tb, 2), "main");
	assert_string_equal(table__name(&tb, 3), "old");
	assert_int_equal(tb.win, 12);
	assert_int_equal(tb.cum, 17);
	const struct top_view_fn *v = &tb.fns[tb.order[2]];
	assert_int_equal(v->win_total, 12);
	assert_true(top__share(v->win_total, tb.win) == 100.0);
	assert_true(top__share(tb.fns[tb.order[0]].win_self, tb.win) == 50.0);
	assert_true(top__share(1, 0) == 0.0);

	/* By OwnTime since the start: old (5) passes main (0). */
	top_table__build(&tb, s, NULL, SORT_OWN_TIME, false);
	assert_string_equal(table__name(&tb, 2), "old");
	assert_string_equal(table__name(&tb, 3), "main");

	/* By %Total: main first. */
	top_table__build(&tb, s, NULL, SORT_TOTAL_PCT, false);
	assert_string_equal(table__name(&tb, 0), "main");

	/* Thread 2 alone: its stacks only. */
	assert_int_equal(top_table__build(&tb, s, &tid, SORT_OWN_PCT, false),
			 2);
	assert_string_equal(table__name(&tb, 0), "beta");
	assert_string_equal(table__name(&tb, 1), "main");
	assert_int_equal(tb.win, 4);
	assert_int_equal(tb.cum, 4);
	assert_int_equal(tb.fns[tb.order[0]].cum_self, 4);

	top_table__free(&tb);
	top_snap__free(s);
	fx__free(fx);
}

/* Whole run: %Own sorts by the counts since the start. */
static void test_table_whole_run(void **state)
{
	struct fixture *fx = fx__new();
	struct top_table tb = {0};
	uint32_t t1 = thread(fx, 1, NULL);
	uint32_t a = py(fx, "early", "/y.py", 1, 2);
	uint32_t b = py(fx, "late", "/y.py", 5, 6);

	(void)state;
	add(fx, 9, 2, t1, a);
	top_snap__free(snapshot(fx));
	add(fx, 1, 2, t1, b);
	struct top_snap *s = snapshot(fx);

	top_table__build(&tb, s, NULL, SORT_OWN_PCT, false);
	assert_string_equal(table__name(&tb, 0), "late");
	top_table__build(&tb, s, NULL, SORT_OWN_PCT, true);
	assert_string_equal(table__name(&tb, 0), "early");
	assert_int_equal(tb.cum, 10);

	/* No snapshot: an empty table. */
	assert_int_equal(top_table__build(&tb, NULL, NULL, SORT_OWN_PCT, true),
			 0);
	top_table__free(&tb);
	top_snap__free(s);
	fx__free(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_own_and_total),
		cmocka_unit_test(test_function_identity),
		cmocka_unit_test(test_recursion_counts_once),
		cmocka_unit_test(test_window_and_since_start),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_table_whole_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
