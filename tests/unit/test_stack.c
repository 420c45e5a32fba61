/*
 * test_stack.c - the frame walker (stack.c) and code-object cache
 * (symbols.c) against a synthetic CPython 3.11 image in a fake address
 * space (fakemem.c).
 *
 * The image is changed between samples the way a running interpreter
 * changes (calls, returns, new threads, reused code-object memory) and
 * corrupted the way a torn or stale read looks, and the walker must give
 * exactly the stacks the image describes, notice what it cannot trust,
 * and stay within its bounds.  A seeded fuzzer corrupts random bytes of
 * the image and only asks for sane output; ASan/UBSan builds check the
 * rest.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "psample/error.h"
#include "psample/linetable.h"
#include "psample/walker.h"
#include "fakemem.h"
#include "threadname.h"

#define LINES(...)                                                          \
	(const struct fpy_line[]){__VA_ARGS__},                             \
		(uint32_t)(sizeof((const struct fpy_line[]){__VA_ARGS__}) / \
			   sizeof(struct fpy_line))

#define CHUNK_SIZE 16384u

/* The valid two-thread image most tests start from. */
struct world {
	struct fpy *p;
	struct fpy_code *mod, *run, *helper, *leaf;
	struct fpy_thread *t1, *t2;
	struct py_walker *w;
};

static void world__codes(struct world *x)
{
	struct fpy *p = x->p;

	x->mod = fpy__code(p, "app.py", "<module>", "<module>", 1,
			   LINES({1, 2}, {3, 4}, {10, 3}));
	/* Long runs split into several entries, and a "no location" one. */
	x->run = fpy__code(p, "app.py", "run", "Worker.run", 20,
			   LINES({21, 3}, {22, 9}, {-1, 2}, {25, 2}));
	/* Negative deltas and deltas needing two and three varint bytes. */
	x->helper = fpy__code(
		p, "lib/util.py", "helper", "helper", 100,
		LINES({101, 1}, {99, 2}, {400, 3}, {4000, 1}, {4001, 2}));
	x->leaf = fpy__code(p, "lib/leaf.py", "leaf", "Leaf.leaf", 7,
			    LINES({8, 5}));
}

/*
 * The layout the world is built with: NULL for 3.11's; no_mark is the
 * same without the run mark, standing for 3.14+, where the walker must
 * work from the current-frame word and the end top alone.
 */
static const struct py_layout *world_layout;
static struct py_layout no_mark;

static const struct py_layout *layout_no_mark(void)
{
	no_mark = *py_layout__find(0x030B07F0);
	no_mark.flags &= ~(uint32_t)PY_L_RUN_MARK;
	return &no_mark;
}

static void world__init_sized(struct world *x, uint32_t chunk_size)
{
	memset(x, 0, sizeof(*x));
	x->p = world_layout ? fpy__new_with(world_layout) : fpy__new();
	world__codes(x);
	x->t1 = fpy__thread(x->p, x->p->interp, 1001, 0x7f1234001000ull,
			    chunk_size);
	fpy__push(x->p, x->t1, x->mod, 3);
	fpy__push(x->p, x->t1, x->run, 10);
	fpy__push(x->p, x->t1, x->helper, 4);
	x->t2 = fpy__thread(x->p, x->p->interp, 1002, 0x7f1234002000ull,
			    chunk_size);
	fpy__push(x->p, x->t2, x->mod, 8);
	fpy__push(x->p, x->t2, x->run, 0);
	fpy__push(x->p, x->t2, x->run, 12);
	fpy__push(x->p, x->t2, x->helper, 6);
	fpy__push(x->p, x->t2, x->leaf, -1);
	assert_int_equal(py_walker__new(x->p->t, &x->w), 0);
}

static void world__init(struct world *x)
{
	world__init_sized(x, CHUNK_SIZE);
}

static void world__fini(struct world *x)
{
	py_walker__free(x->w);
	fpy__free(x->p);
}

static struct mem *world__mem(struct world *x)
{
	return &x->p->t->mem;
}

static const struct py_sample *sample_ok(struct py_walker *w)
{
	const struct py_sample *s = NULL;

	assert_int_equal(py_walker__sample(w, &s), 0);
	assert_non_null(s);
	return s;
}

static const struct py_thread *thread_of(const struct py_sample *s,
					 const struct fpy_thread *th)
{
	for (uint32_t i = 0; i < s->nthreads; i++)
		if (s->threads[i].tstate == th->ts)
			return &s->threads[i];
	fail_msg("thread 0x%llx not in the sample", (unsigned long long)th->ts);
	return NULL;
}

/* One frame against the model: same code object, names, position, line. */
static void check_frame(const struct py_frame *fr, const struct fpy_frame *m)
{
	assert_non_null(fr->code);
	assert_int_equal(fr->code->addr, m->code->addr);
	assert_string_equal(fr->code->name, m->code->name);
	assert_string_equal(fr->code->qualname, m->code->qualname);
	assert_string_equal(fr->code->filename, m->code->filename);
	assert_int_equal(fr->code->firstlineno, m->code->firstlineno);
	assert_int_equal(fr->code->nunits, m->code->nunits);
	assert_int_equal(fr->lasti, m->unit);
	assert_int_equal(fr->line, fpy_code__line(m->code, m->unit));
}

/* The whole stack, innermost first, and the thread's identity. */
static void check_thread(const struct py_sample *s, const struct fpy_thread *th)
{
	const struct py_thread *pt = thread_of(s, th);

	assert_int_equal(pt->err, 0);
	assert_false(pt->truncated);
	assert_int_equal(pt->interp, th->interp);
	assert_int_equal(pt->tid, th->tid);
	assert_int_equal(pt->thread_id, th->thread_id);
	assert_int_equal(pt->depth, th->depth);
	for (uint32_t i = 0; i < pt->depth; i++)
		check_frame(&pt->frames[i], &th->frames[th->depth - 1 - i]);
}

static void check_world(struct world *x, const struct py_sample *s)
{
	assert_int_equal(s->nthreads, 2);
	check_thread(s, x->t1);
	check_thread(s, x->t2);
}

/* ---- (1) the basic image ------------------------------------------- */

static void test_two_threads(void **state)
{
	struct world x;
	const struct py_sample *s;
	const struct py_thread *pt;

	(void)state;
	world__init(&x);
	s = sample_ok(x.w);
	check_world(&x, s);

	/* The model's lines, spelt out once, so it cannot be wrong alone. */
	pt = thread_of(s, x.t1);
	assert_int_equal(pt->tid, 1001);
	assert_int_equal(pt->thread_id, 0x7f1234001000ull);
	assert_string_equal(pt->frames[0].code->qualname, "helper");
	assert_int_equal(pt->frames[0].line, 400);
	assert_string_equal(pt->frames[1].code->qualname, "Worker.run");
	assert_int_equal(pt->frames[1].line, 22);
	assert_string_equal(pt->frames[2].code->qualname, "<module>");
	assert_int_equal(pt->frames[2].line, 3);
	pt = thread_of(s, x.t2);
	assert_int_equal(pt->tid, 1002);
	assert_int_equal(pt->depth, 5);
	assert_string_equal(pt->frames[0].code->qualname, "Leaf.leaf");
	assert_string_equal(pt->frames[0].code->name, "leaf");
	assert_int_equal(pt->frames[0].lasti, -1);
	assert_int_equal(pt->frames[0].line, 7);
	assert_int_equal(pt->frames[1].line, 4000);
	assert_int_equal(pt->frames[2].line, -1);
	assert_int_equal(pt->frames[3].line, 21);
	assert_int_equal(pt->frames[4].line, 10);
	/* Frames of the same code object share its entry. */
	assert_ptr_equal(pt->frames[2].code, pt->frames[3].code);
	assert_ptr_equal(pt->frames[4].code,
			 thread_of(s, x.t1)->frames[2].code);
	assert_int_equal(py_walker__stats(x.w)->bad_frames, 0);
	assert_int_equal(py_walker__stats(x.w)->samples, 1);
	world__fini(&x);
}

/* Decoded line tables agree with the encoder at every code unit. */
static void test_line_lookups(void **state)
{
	struct world x;
	const struct py_sample *s;

	(void)state;
	world__init(&x);
	s = sample_ok(x.w);
	for (uint32_t i = 0; i < s->nthreads; i++) {
		const struct py_thread *pt = &s->threads[i];
		for (uint32_t k = 0; k < pt->depth; k++) {
			const struct py_code *c = pt->frames[k].code;
			const struct fpy_code *m = NULL;

			for (m = x.p->codes; m && m->addr != c->addr;)
				m = m->next;
			assert_non_null(m);
			if (!m) /* for the analyzer: cmocka does not return */
				return;
			for (int32_t u = -1; u <= (int32_t)m->nunits; u++)
				assert_int_equal(py_lines__lookup(&c->lines, u),
						 fpy_code__line(m, u));
		}
	}

	/* And straight through py_lines, from the bytes the image holds. */
	for (const struct fpy_code *m = x.p->codes; m; m = m->next) {
		uint8_t table[512];
		struct py_lines l;
		size_t n = fpy__linetable(m->firstlineno, m->lines, m->nlines,
					  table, sizeof(table));

		assert_true(n <= sizeof(table));
		assert_memory_equal(
			table,
			fakemem__ptr(x.p->fm,
				     m->linetable_obj + x.p->l->bytes_data, n),
			n);
		assert_int_equal(py_lines__build(&l, PY_LINETABLE_LOCATIONS,
						 table, n, m->firstlineno),
				 0);
		assert_int_equal(l.end, m->nunits);
		for (int32_t u = -1; u <= (int32_t)m->nunits; u++)
			assert_int_equal(py_lines__lookup(&l, u),
					 fpy_code__line(m, u));
		py_lines__release(&l);
	}
	world__fini(&x);
}

/* ---- (2) steady state ------------------------------------------------ */

static void test_steady_state(void **state)
{
	struct world x;
	struct py_walker_stats st;
	uint64_t calls;

	(void)state;
	world__init(&x);
	calls = world__mem(&x)->calls;
	check_world(&x, sample_ok(x.w));
	/* Learning the image costs reads: lists, chunks, code objects. */
	assert_true(world__mem(&x)->calls - calls > 1);

	st = *py_walker__stats(x.w);
	for (int i = 0; i < 5; i++) {
		calls = world__mem(&x)->calls;
		check_world(&x, sample_ok(x.w));
		assert_int_equal(world__mem(&x)->calls - calls, 1);
	}
	assert_int_equal(py_walker__stats(x.w)->relists, st.relists);
	assert_int_equal(py_walker__stats(x.w)->chunk_reloads,
			 st.chunk_reloads);
	assert_int_equal(py_walker__stats(x.w)->code_reads, st.code_reads);
	assert_int_equal(py_walker__stats(x.w)->samples, st.samples + 5);

	/* A thread moving within its frames changes nothing in the plan. */
	fpy__set_unit(x.p, x.t1, 2, 7);
	fpy__set_unit(x.p, x.t2, 0, 0);
	calls = world__mem(&x)->calls;
	check_world(&x, sample_ok(x.w));
	assert_int_equal(world__mem(&x)->calls - calls, 1);
	world__fini(&x);
}

/* ---- (3) frames across chunks ---------------------------------------- */

static void test_chunks(void **state)
{
	struct world x;
	const struct py_layout *l;
	struct fpy_thread *th;
	uint64_t calls;

	(void)state;
	world__init(&x);
	l = x.p->l;
	/* Room for three frames a chunk: seven frames take three chunks. */
	th = fpy__thread(x.p, x.p->interp, 1003, 3,
			 l->ck_data + 3 * FPY_FRAME_STRIDE(l));
	for (int i = 0; i < 7; i++)
		fpy__push(x.p, th, i % 2 ? x.run : x.helper, i);
	assert_int_equal(th->nchunks, 3);
	assert_int_equal(fakemem__r64(x.p->fm, th->chunks[2] + l->ck_prev),
			 th->chunks[1]);

	const struct py_sample *s = sample_ok(x.w);
	assert_int_equal(s->nthreads, 3);
	check_thread(s, th);
	check_thread(s, x.t1);
	check_thread(s, x.t2);
	calls = world__mem(&x)->calls;
	s = sample_ok(x.w);
	check_thread(s, th);
	assert_int_equal(world__mem(&x)->calls - calls, 1);

	/* Returning into the older chunk frees the newest. */
	fpy__pop(x.p, th);
	assert_int_equal(th->nchunks, 2);
	check_thread(sample_ok(x.w), th);
	fpy__pop(x.p, th);
	fpy__pop(x.p, th);
	fpy__pop(x.p, th);
	assert_int_equal(th->nchunks, 1);
	check_thread(sample_ok(x.w), th);
	/* And calling again makes a new chunk at another address. */
	fpy__push(x.p, th, x.leaf, 2);
	fpy__push(x.p, th, x.leaf, 3);
	assert_int_equal(th->nchunks, 2);
	check_thread(sample_ok(x.w), th);
	world__fini(&x);
}

/* ---- (4) calls and returns between samples --------------------------- */

static void test_stack_changes(void **state)
{
	struct world x;

	(void)state;
	world__init(&x);
	check_world(&x, sample_ok(x.w));
	fpy__push(x.p, x.t1, x.leaf, 2);
	check_world(&x, sample_ok(x.w));
	assert_int_equal(thread_of(sample_ok(x.w), x.t1)->depth, 4);
	fpy__pop(x.p, x.t2);
	fpy__pop(x.p, x.t2);
	check_world(&x, sample_ok(x.w));
	fpy__push(x.p, x.t2, x.mod, 0);
	fpy__push(x.p, x.t2, x.helper, 8);
	check_world(&x, sample_ok(x.w));
	/* Down to nothing: an idle thread has an empty stack, no error. */
	while (x.t1->depth)
		fpy__pop(x.p, x.t1);
	const struct py_sample *s = sample_ok(x.w);
	check_world(&x, s);
	assert_int_equal(thread_of(s, x.t1)->depth, 0);
	fpy__push(x.p, x.t1, x.run, 1);
	check_world(&x, sample_ok(x.w));
	/* The thread state moves to another _PyCFrame (a nested eval loop). */
	uint64_t cf = fakemem__alloc(x.p->fm, x.p->l->cf_current + 16);
	fakemem__w64(x.p->fm, cf + x.p->l->cf_current,
		     x.t2->frames[x.t2->depth - 1].addr);
	fakemem__w64(x.p->fm, x.t2->ts + x.p->l->ts_frame, cf);
	x.t2->cframe = cf;
	check_world(&x, sample_ok(x.w));
	check_world(&x, sample_ok(x.w));
	world__fini(&x);
}

/* ---- (5) cycles ------------------------------------------------------ */

static void cycle_case(int which)
{
	struct world x;
	const struct py_layout *l;
	const struct py_sample *s;
	struct fpy_frame *f;
	uint64_t bad;

	world__init(&x);
	l = x.p->l;
	check_world(&x, sample_ok(x.w));
	bad = py_walker__stats(x.w)->bad_frames;
	f = x.t2->frames;
	switch (which) {
	case 0: /* a frame that is its own caller */
		fakemem__w64(x.p->fm, f[1].addr + l->fr_back, f[1].addr);
		break;
	case 1: /* the outermost frame "called" from a newer one */
		fakemem__w64(x.p->fm, f[0].addr + l->fr_back, f[3].addr);
		break;
	default: /* the innermost frame its own caller */
		fakemem__w64(x.p->fm, f[4].addr + l->fr_back, f[4].addr);
		break;
	}
	s = sample_ok(x.w);
	assert_int_not_equal(thread_of(s, x.t2)->err, 0);
	assert_true(py_walker__stats(x.w)->bad_frames > bad);
	check_thread(s, x.t1);
	/* A fresh walker (the slow path) must agree. */
	py_walker__free(x.w);
	assert_int_equal(py_walker__new(x.p->t, &x.w), 0);
	s = sample_ok(x.w);
	assert_int_not_equal(thread_of(s, x.t2)->err, 0);
	check_thread(s, x.t1);
	world__fini(&x);
}

/* ---- the raw stack ---------------------------------------------------- */

/* 3.11's shapes, with owner 2 standing for a 3.12+ C-stack shim. */
static struct py_layout shim_layout;

/*
 * The raw stack keeps what is not Python code, marked, and the resolver
 * drops it: a shim in the chain stays in pt->raw as PY_RAW_SHIM, the
 * frame above it is PY_RAW_ENTRY, and the named frames are the Python
 * ones, each with its own address.  3.11's is_entry marks its frame.
 */
static void test_raw_marks(void **state)
{
	struct world x;

	(void)state;
	shim_layout = *py_layout__find(0x030B07F0);
	shim_layout.owner_skip = 2;
	world_layout = &shim_layout;
	world__init(&x);
	world_layout = NULL;
	const struct py_layout *l = x.p->l;
	/* t2, outermost first: mod, run, run, helper, leaf.  The second
	 * run becomes the shim of a C call; t1's run is entered from C. */
	fakemem__w8(x.p->fm, x.t2->frames[2].addr + l->fr_owner, 2);
	fakemem__w8(x.p->fm, x.t1->frames[1].addr + l->fr_is_entry, 1);

	const struct py_sample *s = sample_ok(x.w);
	const struct py_thread *pt = thread_of(s, x.t2);
	assert_int_equal(pt->err, 0);
	assert_non_null(pt->raw);
	assert_int_equal(pt->raw->depth, 5);
	for (uint32_t k = 0; k < 5; k++)
		assert_int_equal(pt->raw->frames[k].addr,
				 x.t2->frames[4 - k].addr);
	assert_int_equal(pt->raw->frames[0].marks, 0);
	assert_int_equal(pt->raw->frames[1].marks, PY_RAW_ENTRY);
	assert_int_equal(pt->raw->frames[2].marks, PY_RAW_SHIM);
	assert_int_equal(pt->raw->frames[3].marks, 0);
	assert_int_equal(pt->depth, 4);
	const char *names[] = {"Leaf.leaf", "helper", "Worker.run", "<module>"};
	const uint32_t model[] = {4, 3, 1, 0};
	for (uint32_t k = 0; k < 4; k++) {
		assert_string_equal(pt->frames[k].code->qualname, names[k]);
		assert_int_equal(pt->frames[k].addr,
				 x.t2->frames[model[k]].addr);
	}

	pt = thread_of(s, x.t1);
	check_thread(s, x.t1);
	assert_int_equal(pt->raw->depth, 3);
	assert_int_equal(pt->raw->frames[0].marks, 0);
	assert_int_equal(pt->raw->frames[1].marks, PY_RAW_ENTRY);
	assert_int_equal(pt->raw->frames[2].marks, 0);
	world__fini(&x);
}

static void test_cycle_self(void **state)
{
	(void)state;
	cycle_case(0);
	cycle_case(2);
}

static void test_cycle_up(void **state)
{
	(void)state;
	cycle_case(1);
}

/* ---- (6) a frame whose code is not a code object ---------------------- */

static void test_not_code(void **state)
{
	struct world x;
	const struct py_layout *l;
	const struct py_sample *s;
	uint64_t bad;

	(void)state;
	world__init(&x);
	l = x.p->l;
	check_world(&x, sample_ok(x.w));
	bad = py_walker__stats(x.w)->bad_frames;
	/* A str where the code object should be. */
	fakemem__w64(x.p->fm, x.t1->frames[1].addr + l->fr_code,
		     x.run->name_obj);
	s = sample_ok(x.w);
	assert_int_not_equal(thread_of(s, x.t1)->err, 0);
	assert_true(py_walker__stats(x.w)->bad_frames > bad);
	check_thread(s, x.t2);

	/* The code object itself changes type (freed and reused). */
	fakemem__w64(x.p->fm, x.t1->frames[1].addr + l->fr_code, x.run->addr);
	check_world(&x, sample_ok(x.w));
	bad = py_walker__stats(x.w)->bad_frames;
	fakemem__w64(x.p->fm, x.leaf->addr + l->ob_type, x.p->str_type);
	s = sample_ok(x.w);
	assert_int_not_equal(thread_of(s, x.t2)->err, 0);
	assert_true(py_walker__stats(x.w)->bad_frames > bad);
	check_thread(s, x.t1);

	/* Unmapped code pointer. */
	fakemem__w64(x.p->fm, x.leaf->addr + l->ob_type, x.p->code_type);
	check_world(&x, sample_ok(x.w));
	fakemem__w64(x.p->fm, x.t1->frames[0].addr + l->fr_code, 0x1000);
	s = sample_ok(x.w);
	assert_int_not_equal(thread_of(s, x.t1)->err, 0);
	check_thread(s, x.t2);

	/* A code object whose position is outside its code. */
	fakemem__w64(x.p->fm, x.t1->frames[0].addr + l->fr_code, x.mod->addr);
	check_world(&x, sample_ok(x.w));
	fpy__set_unit(x.p, x.t1, 0, (int32_t)x.mod->nunits);
	s = sample_ok(x.w);
	assert_int_not_equal(thread_of(s, x.t1)->err, 0);
	fpy__set_unit(x.p, x.t1, 0, -3);
	s = sample_ok(x.w);
	assert_int_not_equal(thread_of(s, x.t1)->err, 0);
	fpy__set_unit(x.p, x.t1, 0, (int32_t)x.mod->nunits - 1);
	check_world(&x, sample_ok(x.w));
	world__fini(&x);
}

/* ---- (7) code-object address reuse ------------------------------------ */

static void test_code_reuse(void **state)
{
	struct world x;
	const struct py_sample *s;

	(void)state;
	world__init(&x);
	s = sample_ok(x.w);
	assert_string_equal(thread_of(s, x.t1)->frames[0].code->name, "helper");
	fpy__code_reuse(x.p, x.helper, "other", "Other.other", 500);
	s = sample_ok(x.w);
	check_world(&x, s);
	assert_string_equal(thread_of(s, x.t1)->frames[0].code->qualname,
			    "Other.other");
	assert_int_equal(thread_of(s, x.t1)->frames[0].line, 800);
	assert_int_equal(thread_of(s, x.t2)->frames[1].code->firstlineno, 500);

	/* Only the name object differs: still another code object. */
	uint64_t old = x.leaf->name_obj;
	x.leaf->name_obj = fpy__str(x.p, "leaf2");
	snprintf(x.leaf->name, sizeof(x.leaf->name), "leaf2");
	fakemem__w64(x.p->fm, x.leaf->addr + x.p->l->co_name, x.leaf->name_obj);
	s = sample_ok(x.w);
	check_world(&x, s);
	assert_string_equal(thread_of(s, x.t2)->frames[0].code->name, "leaf2");
	assert_int_not_equal(old, x.leaf->name_obj);
	world__fini(&x);
}

/* ---- (8) frames outside the data stack --------------------------------- */

static void test_stray_frames(void **state)
{
	struct world x;
	const struct py_sample *s;

	(void)state;
	world__init(&x);
	check_world(&x, sample_ok(x.w));
	/* A generator running on top, then a call made from it. */
	fpy__push_stray(x.p, x.t1, x.leaf, 1);
	s = sample_ok(x.w);
	check_world(&x, s);
	assert_true(py_walker__stats(x.w)->stray_frames > 0);
	fpy__push(x.p, x.t1, x.helper, 2);
	fpy__push(x.p, x.t1, x.run, 3);
	check_world(&x, sample_ok(x.w));
	check_world(&x, sample_ok(x.w));
	/* Two generators, one resuming the other. */
	fpy__push_stray(x.p, x.t2, x.run, 5);
	fpy__push_stray(x.p, x.t2, x.mod, 6);
	check_world(&x, sample_ok(x.w));
	fpy__pop(x.p, x.t2);
	fpy__pop(x.p, x.t2);
	fpy__pop(x.p, x.t1);
	check_world(&x, sample_ok(x.w));
	/* The generator's memory is gone: an error for that thread only. */
	uint64_t gen = x.t1->frames[x.t1->depth - 2].addr;
	fakemem__w64(x.p->fm,
		     x.t1->frames[x.t1->depth - 1].addr + x.p->l->fr_back,
		     gen + 0x100000000ull);
	s = sample_ok(x.w);
	assert_int_not_equal(thread_of(s, x.t1)->err, 0);
	check_thread(s, x.t2);
	world__fini(&x);
}

/* ---- (9) threads and interpreters come and go ------------------------- */

static void test_thread_list(void **state)
{
	struct world x;
	const struct py_sample *s;
	uint64_t relists;

	(void)state;
	world__init(&x);
	check_world(&x, sample_ok(x.w));
	relists = py_walker__stats(x.w)->relists;

	struct fpy_thread *t3 =
		fpy__thread(x.p, x.p->interp, 1003, 3, CHUNK_SIZE);
	fpy__push(x.p, t3, x.leaf, 0);
	s = sample_ok(x.w);
	assert_int_equal(s->nthreads, 3);
	check_thread(s, t3);
	check_thread(s, x.t1);
	check_thread(s, x.t2);
	assert_true(py_walker__stats(x.w)->relists > relists);

	/* Removing the middle one of the list, then the head. */
	fpy__unlink(x.p, x.t2);
	s = sample_ok(x.w);
	assert_int_equal(s->nthreads, 2);
	check_thread(s, t3);
	check_thread(s, x.t1);
	fpy__unlink(x.p, t3);
	s = sample_ok(x.w);
	assert_int_equal(s->nthreads, 1);
	check_thread(s, x.t1);

	/* A subinterpreter with its own threads. */
	uint64_t sub = fpy__interp(x.p);
	struct fpy_thread *t4 = fpy__thread(x.p, sub, 1004, 4, CHUNK_SIZE);
	struct fpy_thread *t5 = fpy__thread(x.p, sub, 1005, 5, CHUNK_SIZE);
	fpy__push(x.p, t4, x.mod, 1);
	fpy__push(x.p, t5, x.run, 2);
	fpy__push(x.p, t5, x.leaf, 3);
	s = sample_ok(x.w);
	assert_int_equal(s->nthreads, 3);
	check_thread(s, x.t1);
	check_thread(s, t4);
	check_thread(s, t5);
	assert_int_not_equal(thread_of(s, t4)->interp_index,
			     thread_of(s, x.t1)->interp_index);
	assert_int_equal(thread_of(s, t4)->interp_index,
			 thread_of(s, t5)->interp_index);
	check_thread(sample_ok(x.w), t5);

	/* The main interpreter's last thread goes: the rest still samples. */
	fpy__unlink(x.p, x.t1);
	s = sample_ok(x.w);
	assert_int_equal(s->nthreads, 2);
	check_thread(s, t4);
	check_thread(s, t5);

	/* No threads at all: not ready (start-up or shutdown). */
	fpy__unlink(x.p, t4);
	fpy__unlink(x.p, t5);
	assert_int_equal(py_walker__sample(x.w, &s), -PS_ENOTREADY);
	assert_null(s);
	fpy__thread(x.p, x.p->interp, 1006, 6, CHUNK_SIZE);
	s = sample_ok(x.w);
	assert_int_equal(s->nthreads, 1);
	assert_int_equal(s->threads[0].tid, 1006);
	assert_int_equal(s->threads[0].depth, 0);
	world__fini(&x);
}

/* ---- (10) deeper than PY_MAX_DEPTH -------------------------------------- */

static void deep_case(uint32_t depth)
{
	struct world x;
	const struct py_sample *s;
	const struct py_thread *pt;
	struct fpy_thread *th;

	world__init(&x);
	th = fpy__thread(x.p, x.p->interp, 1003, 3, 64 * 1024);
	for (uint32_t i = 0; i < depth; i++)
		fpy__push(x.p, th, i % 3 ? x.run : x.helper, (int32_t)(i % 9));
	for (int rep = 0; rep < 2; rep++) {
		s = sample_ok(x.w);
		pt = thread_of(s, th);
		assert_int_equal(pt->err, 0);
		assert_int_equal(pt->truncated, depth > PY_MAX_DEPTH);
		assert_int_equal(pt->depth,
				 depth > PY_MAX_DEPTH ? PY_MAX_DEPTH : depth);
		/* Innermost first: the frames kept are the newest ones. */
		for (uint32_t i = 0; i < pt->depth; i++)
			check_frame(&pt->frames[i],
				    &th->frames[th->depth - 1 - i]);
		check_thread(s, x.t1);
		check_thread(s, x.t2);
	}
	world__fini(&x);
}

static void test_too_deep(void **state)
{
	(void)state;
	deep_case(PY_MAX_DEPTH);
	deep_case(PY_MAX_DEPTH + 1);
	deep_case(PY_MAX_DEPTH + 700);
}

/* ---- (11) unreadable pointers ------------------------------------------ */

#define UNMAPPED 0x6000dead0000ull

enum poison {
	P_RUNTIME_HEAD,
	P_INTERP_NEXT,
	P_THREADS_HEAD,
	P_TS_NEXT,
	P_CFRAME,
	P_CURRENT,
	P_BACK,
	P_CHUNK,
	P_CHUNK_PREV,
	P_CODE_NAME,
	P_CODE_FILE,
	P_CODE_TABLE,
	P_NPOISON
};

static void unreadable_case(enum poison which)
{
	struct world x;
	const struct py_layout *l;
	const struct py_sample *s = NULL;
	uint64_t addr, old;
	int err;

	world__init(&x);
	l = x.p->l;
	/* A walker that knows the image, and one that does not. */
	check_world(&x, sample_ok(x.w));
	switch (which) {
	case P_RUNTIME_HEAD: addr = x.p->runtime + l->rt_interp_head; break;
	case P_INTERP_NEXT: addr = x.p->interp + l->is_next; break;
	case P_THREADS_HEAD: addr = x.p->interp + l->is_threads_head; break;
	case P_TS_NEXT: addr = x.t2->ts + l->ts_next; break;
	case P_CFRAME: addr = x.t1->ts + l->ts_frame; break;
	case P_CURRENT: addr = x.t1->cframe + l->cf_current; break;
	case P_BACK: addr = x.t1->frames[1].addr + l->fr_back; break;
	case P_CHUNK: addr = x.t1->ts + l->ts_chunk; break;
	case P_CHUNK_PREV: addr = x.t1->chunks[0] + l->ck_prev; break;
	case P_CODE_NAME: addr = x.helper->addr + l->co_name; break;
	case P_CODE_FILE: addr = x.helper->addr + l->co_filename; break;
	default: addr = x.helper->addr + l->co_linetable; break;
	}
	old = fakemem__r64(x.p->fm, addr);
	fakemem__w64(x.p->fm, addr, UNMAPPED);

	struct py_walker *fresh;
	assert_int_equal(py_walker__new(x.p->t, &fresh), 0);
	for (int k = 0; k < 2; k++) {
		struct py_walker *w = k ? fresh : x.w;
		for (int rep = 0; rep < 2; rep++) {
			err = py_walker__sample(w, &s);
			if (err) {
				assert_true(err < 0);
				assert_null(s);
				/* Only list damage may fail a whole sample. */
				assert_true(which <= P_TS_NEXT);
				continue;
			}
			if (which == P_CHUNK_PREV) {
				/* No frame needs the chunk before the first,
				 * but a walker may insist on the whole chain
				 * being readable. */
				if (thread_of(s, x.t1)->err == 0)
					check_thread(s, x.t1);
				check_thread(s, x.t2);
				continue;
			}
			if (which == P_CODE_NAME || which == P_CODE_FILE ||
			    which == P_CODE_TABLE) {
				assert_int_not_equal(thread_of(s, x.t1)->err,
						     0);
				assert_int_not_equal(thread_of(s, x.t2)->err,
						     0);
				continue;
			}
			assert_true(which > P_TS_NEXT);
			check_thread(s, x.t2);
			/* A walker that found the top by the run mark last
			 * time starts from there, not from the word. */
			if (which == P_CURRENT && !k &&
			    (l->flags & PY_L_RUN_MARK)) {
				check_thread(s, x.t1);
				continue;
			}
			assert_int_not_equal(thread_of(s, x.t1)->err, 0);
		}
	}
	/* Repaired: both walkers recover. */
	fakemem__w64(x.p->fm, addr, old);
	check_world(&x, sample_ok(x.w));
	check_world(&x, sample_ok(fresh));
	py_walker__free(fresh);
	world__fini(&x);
}

static void test_unreadable(void **state)
{
	(void)state;
	for (int i = 0; i < P_NPOISON; i++)
		unreadable_case((enum poison)i);
}

static void test_process_gone(void **state)
{
	struct world x;
	const struct py_sample *s;

	(void)state;
	world__init(&x);
	check_world(&x, sample_ok(x.w));
	fakemem__fail(x.p->fm, -ESRCH);
	assert_int_equal(py_walker__sample(x.w, &s), -ESRCH);
	assert_null(s);
	fakemem__fail(x.p->fm, 0);
	check_world(&x, sample_ok(x.w));

	/* Gone before the first sample. */
	struct py_walker *w;
	assert_int_equal(py_walker__new(x.p->t, &w), 0);
	fakemem__fail(x.p->fm, -ESRCH);
	assert_int_equal(py_walker__sample(w, &s), -ESRCH);
	fakemem__fail(x.p->fm, 0);
	check_world(&x, sample_ok(w));
	py_walker__free(w);

	/* An interpreter that is not initialised: no interpreters. */
	fakemem__w64(x.p->fm, x.p->runtime + x.p->l->rt_interp_head, 0);
	assert_int_equal(py_walker__sample(x.w, &s), -PS_ENOTREADY);
	world__fini(&x);
}

/* ---- torn reads: the image changes while a batch is copied ----------- */

struct torn {
	struct world *x;
	uint64_t call;
	size_t iov;
	int action;
	bool done;
};

static void torn_hook(void *arg, uint64_t call, size_t iov, uint64_t addr)
{
	struct torn *t = arg;

	(void)addr;
	if (t->done || call != t->call || iov != t->iov)
		return;
	t->done = true;
	if (t->action == 0)
		fpy__push(t->x->p, t->x->t2, t->x->leaf, 4);
	else
		fpy__pop(t->x->p, t->x->t2);
}

/*
 * Whatever point of the steady-state batch the thread moves at, the
 * sample shows the stack before or after, or says it is torn: never a
 * mixture.  With the run mark the copy of the stack says where it ended,
 * so no sample is lost and a call made after the current-frame word was
 * read still shows; without it (3.14+) some samples are given up.
 */
static void torn__run(unsigned outcome[3], uint64_t *moved)
{
	for (int action = 0; action < 2; action++) {
		for (size_t iov = 0; iov < 32; iov++) {
			struct world x;
			struct torn t = {.x = &x, .iov = iov, .action = action};
			const struct py_sample *s;
			const struct py_thread *pt;

			world__init(&x);
			/* Started, so that a call from it changes nothing
			 * but the stack (see thread__caller_started). */
			fpy__set_unit(x.p, x.t2, x.t2->depth - 1, 2);
			check_world(&x, sample_ok(x.w));
			check_world(&x, sample_ok(x.w));
			uint32_t before = x.t2->depth;
			t.call = world__mem(&x)->calls + 1;
			fakemem__hook(x.p->fm, torn_hook, &t);
			s = sample_ok(x.w);
			fakemem__hook(x.p->fm, NULL, NULL);
			check_thread(s, x.t1);
			pt = thread_of(s, x.t2);
			if (pt->err) {
				assert_true(pt->err < 0);
				outcome[0]++;
			} else if (t.done && pt->depth != before) {
				check_thread(s, x.t2);
				outcome[1]++;
			} else {
				outcome[2]++;
				/* The old stack: the model's first frames
				 * (a popped entry stays in its array). */
				assert_int_equal(pt->depth, before);
				for (uint32_t i = 0; i < pt->depth; i++)
					check_frame(
						&pt->frames[i],
						&x.t2->frames[before - 1 - i]);
			}
			check_world(&x, sample_ok(x.w));
			*moved += py_walker__stats(x.w)->moved;
			world__fini(&x);
		}
	}
}

static void test_torn(void **state)
{
	unsigned mark[3] = {0, 0, 0}, plain[3] = {0, 0, 0};
	uint64_t mark_moved = 0, plain_moved = 0;

	(void)state;
	torn__run(mark, &mark_moved);
	world_layout = layout_no_mark();
	torn__run(plain, &plain_moved);
	world_layout = NULL;
	print_message("# torn, run mark: %u torn, %u new stack, %u old stack,"
		      " %llu moved\n",
		      mark[0], mark[1], mark[2],
		      (unsigned long long)mark_moved);
	print_message("# torn, no mark: %u torn, %u new stack, %u old stack\n",
		      plain[0], plain[1], plain[2]);
	/* Each kind of outcome happens somewhere in the batch... */
	assert_true(plain[0] > 0);
	assert_true(plain[1] > 0);
	assert_true(plain[2] > 0);
	/* ...but with the mark none is given up, and calls made after the
	 * current-frame word was read are seen. */
	assert_int_equal(mark[0], 0);
	assert_true(mark[1] > 0);
	assert_true(mark[2] > 0);
	assert_true(mark_moved > 0);
	assert_int_equal(plain_moved, 0);
}

/*
 * Returns racing the batch, the way CPython makes them: the callee
 * returns and its memory stays as it was, the caller moves to another
 * line and may call again into the same slot.  The sample must be a
 * stack the thread went through (the old or the new one, possibly
 * without frames that returned), never the stale callee under the
 * caller's new line.
 */
struct race {
	struct world *x;
	uint64_t call;
	size_t iov;
	int action;
	bool done;
};

static void race_hook(void *arg, uint64_t call, size_t iov, uint64_t addr)
{
	struct race *r = arg;
	struct fpy_thread *t2 = r->x->t2;

	(void)addr;
	if (r->done || call != r->call || iov != r->iov)
		return;
	r->done = true;
	fpy__pop(r->x->p, t2); /* leaf returns */
	fpy__set_unit(r->x->p, t2, t2->depth - 1, 7);
	if (r->action == 1) {
		/* helper calls something else into the same slot */
		fpy__push(r->x->p, t2, r->x->run, -1);
	} else if (r->action == 2) {
		/* helper returns too; run calls helper again: the same
		 * code in the same slot, not started yet */
		fpy__pop(r->x->p, t2);
		fpy__set_unit(r->x->p, t2, t2->depth - 1, 5);
		fpy__push(r->x->p, t2, r->x->helper, -1);
	}
}

/* Whether pt, outermost first, is the first pt->depth frames of m. */
static bool stack_prefix(const struct py_thread *pt, const struct fpy_frame *m,
			 uint32_t depth)
{
	if (pt->depth == 0 || pt->depth > depth)
		return false;
	for (uint32_t i = 0; i < pt->depth; i++) {
		const struct py_frame *fr = &pt->frames[pt->depth - 1 - i];
		if (!fr->code || fr->code->addr != m[i].code->addr ||
		    fr->lasti != m[i].unit)
			return false;
	}
	return true;
}

static void race__run(unsigned outcome[3])
{
	for (int action = 0; action < 3; action++) {
		for (size_t iov = 0; iov < 40; iov++) {
			struct world x;
			struct race r = {.x = &x, .iov = iov, .action = action};
			struct fpy_frame old[16];
			const struct py_thread *pt;
			uint32_t nold;

			world__init(&x);
			fpy__set_unit(x.p, x.t2, x.t2->depth - 1, 2);
			check_world(&x, sample_ok(x.w));
			check_world(&x, sample_ok(x.w));
			nold = x.t2->depth;
			memcpy(old, x.t2->frames, nold * sizeof(old[0]));
			r.call = world__mem(&x)->calls + 1;
			fakemem__hook(x.p->fm, race_hook, &r);
			const struct py_sample *s = sample_ok(x.w);
			fakemem__hook(x.p->fm, NULL, NULL);
			check_thread(s, x.t1);
			pt = thread_of(s, x.t2);
			if (pt->err) {
				outcome[0]++;
			} else if (stack_prefix(pt, old, nold)) {
				outcome[1]++;
			} else {
				if (!stack_prefix(pt, x.t2->frames,
						  x.t2->depth))
					fail_msg("action %d at iovec %zu: a "
						 "stack the thread never had",
						 action, iov);
				outcome[2]++;
			}
			check_world(&x, sample_ok(x.w));
			world__fini(&x);
		}
	}
}

static void test_return_race(void **state)
{
	unsigned mark[3] = {0, 0, 0}, plain[3] = {0, 0, 0};

	(void)state;
	race__run(mark);
	world_layout = layout_no_mark();
	race__run(plain);
	world_layout = NULL;
	print_message("# return race, run mark: %u torn, %u old stack, %u new"
		      " stack\n",
		      mark[0], mark[1], mark[2]);
	print_message("# return race, no mark: %u torn, %u old stack, %u new"
		      " stack\n",
		      plain[0], plain[1], plain[2]);
	assert_true(mark[1] > 0 && mark[2] > 0);
	assert_true(plain[1] > 0 && plain[2] > 0);
	assert_int_equal(mark[0], 0);
}

/*
 * The run mark decides, not the current-frame word: the word can be
 * older than the copy of the stack (it is read first), and the copy then
 * holds frames pushed or popped since.  Each case writes the word the
 * way a read made before the change saw it.
 */
static void set_current(struct world *x, struct fpy_thread *th, uint64_t f)
{
	fakemem__w64(x->p->fm, th->cframe + x->p->l->cf_current, f);
}

static void set_stacktop(struct world *x, const struct fpy_frame *f, int32_t v)
{
	fakemem__w32(x->p->fm, f->addr + x->p->l->fr_stacktop, (uint32_t)v);
}

/* The stack depth a frame of code saves when its stack is empty. */
static int32_t nlocals(struct world *x, const struct fpy_code *c)
{
	return (int32_t)(uint32_t)fakemem__r64(
		x->p->fm, c->addr + x->p->l->co_nlocalsplus);
}

/*
 * The top read at the end of the batch and on a second look comes from
 * another chunk: where the stack ends cannot be told from it.  At call
 * start, frame f starts running.
 */
struct mark_hook {
	struct world *x;
	struct fpy_thread *th;
	uint64_t chunk; /* the real newest chunk */
	const struct fpy_frame *f;
	uint64_t start;
	bool done;
};

static void mark_hook(void *arg, uint64_t call, size_t iov, uint64_t addr)
{
	struct mark_hook *h = arg;
	struct fakemem *fm = h->x->p->fm;
	uint64_t word = h->th->ts + h->x->p->l->ts_chunk;

	(void)iov;
	if (addr == word)
		fakemem__w64(fm, word, h->chunk + 0x10000000ull);
	else if (addr == h->th->ts)
		fakemem__w64(fm, word, h->chunk);
	if (h->f && call == h->start && !h->done) {
		set_stacktop(h->x, h->f, -1);
		h->done = true;
	}
}

static void test_run_mark(void **state)
{
	struct world x;
	const struct py_thread *pt;

	(void)state;
	world__init(&x);
	check_world(&x, sample_ok(x.w));

	/* A call made after the word was read: the callee is shown. */
	uint64_t helper = x.t1->frames[x.t1->depth - 1].addr;
	fpy__push(x.p, x.t1, x.leaf, 3);
	set_current(&x, x.t1, helper);
	check_world(&x, sample_ok(x.w));
	assert_int_equal(py_walker__stats(x.w)->moved, 1);

	/* A return made after the word was read: the caller is shown, on
	 * the line it has moved to. */
	uint64_t leaf = x.t1->frames[x.t1->depth - 1].addr;
	fpy__pop(x.p, x.t1);
	fpy__set_unit(x.p, x.t1, x.t1->depth - 1, 6);
	set_current(&x, x.t1, leaf);
	check_world(&x, sample_ok(x.w));
	assert_int_equal(py_walker__stats(x.w)->moved, 2);

	/* The popped leaf is still in the chunk, linked to helper: with
	 * the word on helper it is not taken for a callee (it holds its
	 * depth, not the mark). */
	set_current(&x, x.t1, helper);
	check_world(&x, sample_ok(x.w));

	/* Caught while the top frame is pushed or popped: no frame has
	 * the mark.  A callee is pushed, not started, from a caller whose
	 * stack still holds values of its line: the callee is shown, its
	 * call's time is its own, and no second look is needed. */
	fpy__push(x.p, x.t2, x.leaf, -1);
	uint32_t d = x.t2->depth;
	struct fpy_frame *callee = &x.t2->frames[d - 1];
	struct fpy_frame *caller = &x.t2->frames[d - 2];
	set_stacktop(&x, callee, nlocals(&x, callee->code));
	set_stacktop(&x, caller, nlocals(&x, caller->code) + 1);
	uint64_t midcall = py_walker__stats(x.w)->midcall;
	check_world(&x, sample_ok(x.w));
	assert_int_equal(py_walker__stats(x.w)->midcall, midcall);
	/* A bare call (an empty stack in the caller): the top read after
	 * the copy covers the callee, so it is shown. */
	set_stacktop(&x, caller, nlocals(&x, caller->code));
	check_world(&x, sample_ok(x.w));
	/* Returned: the top is below the callee, which is a leftover. */
	uint64_t regrown = x.t2->top;
	fpy__pop(x.p, x.t2);
	set_stacktop(&x, &x.t2->frames[d - 2], nlocals(&x, caller->code));
	check_world(&x, sample_ok(x.w));
	/* The program has called back into the leftover's slot by the time
	 * either top is read, but the caller's own caller is in a call:
	 * the caller, returning, is the top, not the leftover above it. */
	struct fpy_frame *outer = &x.t2->frames[d - 3];
	uint64_t was = fakemem__r64(x.p->fm, outer->addr + x.p->l->fr_stacktop);
	set_stacktop(&x, outer, nlocals(&x, outer->code) + 1);
	fakemem__w64(x.p->fm, x.t2->ts + x.p->l->ts_top, regrown);
	check_world(&x, sample_ok(x.w));
	fakemem__w64(x.p->fm, x.t2->ts + x.p->l->ts_top, x.t2->top);
	set_stacktop(&x, outer, (int32_t)(uint32_t)was);

	/* Neither tells (the top read is of another chunk): the thread's
	 * stack is read again; still so at every look, the thread is left
	 * out of the sample rather than guessed. */
	fpy__push(x.p, x.t2, x.leaf, -1);
	callee = &x.t2->frames[d - 1];
	caller = &x.t2->frames[d - 2];
	set_stacktop(&x, callee, nlocals(&x, callee->code));
	set_stacktop(&x, caller, nlocals(&x, caller->code));
	struct mark_hook h = {
		.x = &x, .th = x.t2, .chunk = x.t2->chunks[x.t2->nchunks - 1]};
	fakemem__hook(x.p->fm, mark_hook, &h);
	const struct py_sample *s = sample_ok(x.w);
	check_thread(s, x.t1);
	assert_true(thread_of(s, x.t2)->err < 0);
	assert_true(py_walker__stats(x.w)->midcall > midcall);
	/* The callee starts before the stack is read again: it is shown. */
	h.f = callee;
	h.start = world__mem(&x)->calls + 2;
	check_world(&x, sample_ok(x.w));
	fakemem__hook(x.p->fm, NULL, NULL);
	assert_true(h.done);
	world__fini(&x);

	/* Without the mark (3.14+) the word decides: the callee pushed
	 * since is not seen, and no frame is said to have moved. */
	world_layout = layout_no_mark();
	world__init(&x);
	check_world(&x, sample_ok(x.w));
	helper = x.t1->frames[x.t1->depth - 1].addr;
	fpy__push(x.p, x.t1, x.leaf, 3);
	set_current(&x, x.t1, helper);
	pt = thread_of(sample_ok(x.w), x.t1);
	assert_true(pt->err || pt->depth == x.t1->depth - 1);
	assert_int_equal(py_walker__stats(x.w)->moved, 0);
	world__fini(&x);
	world_layout = NULL;
}

/*
 * Copies that straddle a call or a return.  A chunk is copied from low
 * addresses up, so a caller's header is older than its callee's: the
 * walk answers with the stack as it was when the copy began, whichever
 * way it straddled, so that neither favours the callee.
 */
static void test_run_mark_straddle(void **state)
{
	struct world x;
	const struct py_thread *pt;
	const struct py_layout *l;

	(void)state;
	world__init(&x);
	l = x.p->l;
	check_world(&x, sample_ok(x.w));

	/* The callee returned before the copy began (the top read on both
	 * sides is below it) and its caller, still in the call, has not
	 * taken up again: the caller, not the leftover above it. */
	fpy__push(x.p, x.t2, x.leaf, 2);
	check_world(&x, sample_ok(x.w));
	uint32_t d = x.t2->depth;
	fpy__pop(x.p, x.t2);
	struct fpy_frame *caller = &x.t2->frames[d - 2];
	set_stacktop(&x, caller, nlocals(&x, caller->code) + 1);
	check_world(&x, sample_ok(x.w));
	set_stacktop(&x, caller, -1);
	check_world(&x, sample_ok(x.w));

	/* A call straddled: the caller ran when its header was read (the
	 * mark), the callee when its own was: the caller is the top. */
	fpy__push(x.p, x.t2, x.leaf, 2);
	check_world(&x, sample_ok(x.w));
	caller = &x.t2->frames[d - 2];
	struct fpy_frame *callee = &x.t2->frames[d - 1];
	set_stacktop(&x, caller, -1);
	pt = thread_of(sample_ok(x.w), x.t2);
	assert_int_equal(pt->err, 0);
	assert_int_equal(pt->depth, d - 1);
	assert_true(stack_prefix(pt, x.t2->frames, d));

	/* Unless the callee starts an eval loop of its own (3.11's
	 * is_entry): its caller called it through C and keeps the mark. */
	if (l->fr_is_entry) {
		fakemem__w8(x.p->fm, callee->addr + l->fr_is_entry, 1);
		check_world(&x, sample_ok(x.w));
		fakemem__w8(x.p->fm, callee->addr + l->fr_is_entry, 0);
	}
	world__fini(&x);
}

/* ---- regressions: bugs the tests above ran into ------------------------ */

/*
 * More frames than the header table's first allocation (512) on the first
 * sample: every frame of a code object not read yet asked for its own
 * header slot, and growing the table freed the buffers the pending
 * iovecs pointed into.
 */
static void test_many_frames_first_sample(void **state)
{
	struct world x;
	struct fpy_thread *th;

	(void)state;
	world__init(&x);
	th = fpy__thread(x.p, x.p->interp, 1003, 3, 128 * 1024);
	for (int i = 0; i < 600; i++)
		fpy__push(x.p, th, x.run, i % 16);
	check_thread(sample_ok(x.w), th);
	check_thread(sample_ok(x.w), th);
	world__fini(&x);
}

/* The same with 600 distinct code objects (many threads, many modules). */
static void test_many_distinct_codes(void **state)
{
	struct world x;
	struct fpy_thread *th;

	(void)state;
	world__init(&x);
	th = fpy__thread(x.p, x.p->interp, 1003, 3, 128 * 1024);
	for (int i = 0; i < 600; i++) {
		char name[32];

		snprintf(name, sizeof(name), "f%d", i);
		fpy__push(x.p, th,
			  fpy__code(x.p, "gen.py", name, name, 10 * i + 1,
				    LINES({10 * i + 2, 4})),
			  i % 4);
	}
	for (int rep = 0; rep < 3; rep++) {
		const struct py_sample *s = sample_ok(x.w);
		check_thread(s, th);
		check_thread(s, x.t1);
		check_thread(s, x.t2);
	}
	world__fini(&x);
}

/*
 * A frame pointer within fr_size of the top of the address space: the
 * "frame inside this chunk" test overflowed and took it for a frame in
 * the chunk, at a wild offset from the chunk's copy.
 */
static void test_frame_pointer_wraps(void **state)
{
	static const uint64_t bad[] = {UINT64_MAX, UINT64_MAX - 7,
				       UINT64_MAX - 63};
	struct world x;
	const struct py_layout *l;
	const struct py_sample *s;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		world__init(&x);
		l = x.p->l;
		check_world(&x, sample_ok(x.w));
		fakemem__w64(x.p->fm, x.t1->frames[1].addr + l->fr_back,
			     bad[i]);
		s = sample_ok(x.w);
		assert_int_not_equal(thread_of(s, x.t1)->err, 0);
		check_thread(s, x.t2);
		/* A walker new to the image starts from the word. */
		struct py_walker *fresh;
		assert_int_equal(py_walker__new(x.p->t, &fresh), 0);
		fakemem__w64(x.p->fm, x.t2->cframe + l->cf_current, bad[i]);
		s = sample_ok(fresh);
		assert_int_not_equal(thread_of(s, x.t2)->err, 0);
		py_walker__free(fresh);
		world__fini(&x);
	}
}

/*
 * A name string that ends where its mapping ends.  Its length and state
 * lie in the first str_ascii_data bytes; reading the larger non-ASCII
 * header (str_compact_data) first fails for a perfectly good string.
 */
static void test_str_at_mapping_end(void **state)
{
	struct world x;
	const struct py_layout *l;
	const char *name = "edge";
	uint64_t a = 0x5a0000000000ull;
	uint32_t state_bits = 1u << 2 | 1u << 5 | 1u << 6 | 1u << 7;

	(void)state;
	world__init(&x);
	l = x.p->l;
	fakemem__map(x.p->fm, a, l->str_ascii_data + strlen(name) + 1);
	fakemem__w64(x.p->fm, a + l->ob_type, x.p->str_type);
	fakemem__w64(x.p->fm, a + l->str_length, strlen(name));
	fakemem__w32(x.p->fm, a + l->str_state, state_bits);
	fakemem__write(x.p->fm, a + l->str_ascii_data, name, strlen(name) + 1);
	fakemem__w64(x.p->fm, x.leaf->addr + l->co_name, a);
	snprintf(x.leaf->name, sizeof(x.leaf->name), "%s", name);
	check_world(&x, sample_ok(x.w));
	world__fini(&x);
}

/*
 * A name read while its string is being built or freed (a debug build
 * fills both with 0xcd/0xdd): not a name to show, nor to keep.
 */
static void test_str_not_live(void **state)
{
	struct world x;
	const struct py_layout *l;
	const struct py_sample *s;
	uint8_t junk[8];
	uint64_t bad;

	(void)state;
	world__init(&x);
	l = x.p->l;
	bad = py_walker__stats(x.w)->bad_frames;
	memset(junk, 0xcd, sizeof(junk));
	/* "leaf" is ASCII: its bytes may not be above 0x7f. */
	fakemem__write(x.p->fm, x.leaf->name_obj + l->str_ascii_data, junk, 4);
	s = sample_ok(x.w);
	assert_int_not_equal(thread_of(s, x.t2)->err, 0);
	assert_true(py_walker__stats(x.w)->bad_frames > bad);
	check_thread(s, x.t1);
	fakemem__write(x.p->fm, x.leaf->name_obj + l->str_ascii_data, "leaf",
		       4);
	check_world(&x, sample_ok(x.w));
	world__fini(&x);
}

/*
 * The code object dies while its names are read, and its memory and its
 * qualname's are reused (3.11 frees a module's "<module>" with the last
 * code that held it).  Whenever that lands, the frame shows the code
 * before or after, or is counted bad: never a name read from memory that
 * had become something else.
 */
struct die {
	struct world *x;
	uint64_t call, old_qualname;
	bool done;
};

static void die_hook(void *arg, uint64_t call, size_t iov, uint64_t addr)
{
	struct die *d = arg;

	(void)addr;
	if (d->done || call != d->call || iov != 0)
		return;
	d->done = true;
	fakemem__write(d->x->p->fm,
		       d->old_qualname + d->x->p->l->str_ascii_data,
		       "Gone.gone__", 11);
	fpy__code_reuse(d->x->p, d->x->helper, "third", "Third.third", 700);
}

static void test_code_dies_in_load(void **state)
{
	unsigned shown = 0, refused = 0;

	(void)state;
	for (uint64_t k = 1; k <= 16; k++) {
		struct world x;
		struct die d = {.x = &x};
		const struct py_code *c;
		const struct py_thread *pt;

		world__init(&x);
		check_world(&x, sample_ok(x.w));
		fpy__code_reuse(x.p, x.helper, "other", "Other.other", 500);
		d.old_qualname = x.helper->qualname_obj;
		assert_int_equal(strlen("Other.other"), 11);
		d.call = fakemem__calls(x.p->fm) + k;
		fakemem__hook(x.p->fm, die_hook, &d);
		pt = thread_of(sample_ok(x.w), x.t1);
		fakemem__hook(x.p->fm, NULL, NULL);
		if (pt->err || !pt->depth) {
			refused++;
			world__fini(&x);
			continue;
		}
		c = pt->frames[0].code;
		assert_non_null(c);
		if (strcmp(c->qualname, "Other.other") == 0) {
			assert_string_equal(c->name, "other");
			assert_int_equal(c->firstlineno, 500);
		} else {
			assert_string_equal(c->qualname, "Third.third");
			assert_string_equal(c->name, "third");
			assert_int_equal(c->firstlineno, 700);
		}
		shown++;
		world__fini(&x);
	}
	/* Some kill points fall inside the load, some outside. */
	assert_true(refused > 0);
	assert_true(shown > 0);
}

/*
 * A position more than 2^31 code units into a code object whose ob_size
 * claims that many: the index was truncated to int32_t and came out as a
 * plausible small lasti (here 3, so a wrong line) instead of "out of
 * range".
 */
static void test_lasti_truncated(void **state)
{
	struct world x;
	const struct py_layout *l;
	const struct py_sample *s;
	uint64_t units = 1ull << 40, pos = (1ull << 32) + 3;

	(void)state;
	world__init(&x);
	l = x.p->l;
	fakemem__w64(x.p->fm, x.leaf->addr + l->ob_size, units);
	fakemem__w64(x.p->fm, x.t2->frames[4].addr + l->fr_pos,
		     x.leaf->addr + l->co_code + 2 * pos);
	s = sample_ok(x.w);
	check_thread(s, x.t1);
	assert_int_not_equal(thread_of(s, x.t2)->err, 0);
	world__fini(&x);
}

/*
 * A thread list that loops (a torn or reused thread state): the walker
 * must notice rather than take PY_MAX_THREADS copies of the same threads,
 * each with its own frame buffers, on every sample.
 */
static void test_thread_list_cycle(void **state)
{
	struct world x;
	const struct py_layout *l;
	const struct py_sample *s = NULL;

	(void)state;
	world__init(&x);
	l = x.p->l;
	check_world(&x, sample_ok(x.w));
	/* t2 is the head and t1 follows it: close the loop. */
	fakemem__w64(x.p->fm, x.t1->ts + l->ts_next, x.t2->ts);
	for (int rep = 0; rep < 3; rep++) {
		uint64_t iovs = fakemem__iovs(x.p->fm);
		int err = py_walker__sample(x.w, &s);
		if (err == 0)
			assert_true(s->nthreads <= 2);
		else
			assert_true(err < 0);
		/* A handful of reads, not thousands. */
		assert_true(fakemem__iovs(x.p->fm) - iovs < 200);
	}
	fakemem__w64(x.p->fm, x.t1->ts + l->ts_next, 0);
	check_world(&x, sample_ok(x.w));
	world__fini(&x);
}

/* ---- (13) thread names, GIL and GC state ------------------------------ */

#define TPF_INLINE_VALUES (1ull << 2)
#define TPF_MANAGED_DICT (1ull << 4)
#define TPF_HEAPTYPE (1ull << 9)

/* Thread's attributes, in the order Thread.__init__ sets them. */
static const char *const thread_keys[] = {"_target", "_name", "_args",
					  "_kwargs", "_daemonic"};

/*
 * A 3.11 Thread instance named name: managed values before the object
 * (at managed_values), keys shared through the type's ht_cached_keys.
 * *value_slot: where the _name value pointer is.
 */
static uint64_t thread_obj_311(struct fpy *p, const char *name,
			       uint64_t *value_slot)
{
	const struct py_layout *l = p->l;
	uint64_t keys = fpy__keys(p, thread_keys, NULL, 5, 2);
	uint64_t type =
		fpy__type(p, TPF_HEAPTYPE | TPF_MANAGED_DICT, 16, 0, keys);
	uint64_t vals[5] = {0, fpy__str(p, name), 0, 0, 0};
	uint64_t values = fpy__values(p, vals, 5);
	uint64_t obj = fpy__object(p, type, 32, 16);

	fakemem__w64(p->fm, obj + (uint64_t)(int64_t)l->managed_values, values);
	if (value_slot)
		*value_slot = values + l->values_data + 8;
	return obj;
}

/* Give th threading's bootstrap frames, self being obj. */
static void push_bootstrap(struct fpy *p, struct fpy_thread *th, uint64_t obj)
{
	struct fpy_code *boot =
		fpy__code(p, "/usr/lib/python3.11/threading.py", "_bootstrap",
			  "Thread._bootstrap", 990, LINES({991, 4}));
	struct fpy_code *inner = fpy__code(
		p, "/usr/lib/python3.11/threading.py", "_bootstrap_inner",
		"Thread._bootstrap_inner", 1000, LINES({1001, 4}));
	struct fpy_frame *f = fpy__push(p, th, boot, 2);

	fakemem__w64(p->fm, f->addr + p->l->fr_localsplus, obj);
	f = fpy__push(p, th, inner, 3);
	fakemem__w64(p->fm, f->addr + p->l->fr_localsplus, obj);
}

static void test_thread_names(void **state)
{
	struct fpy *p = fpy__new();
	struct py_walker *w;
	const struct py_sample *s;
	uint64_t slot, calls;
	struct fpy_code *run =
		fpy__code(p, "app.py", "run", "Worker.run", 20, LINES({21, 3}));

	(void)state;
	/* A threading thread, a thread of another kind, the main thread. */
	struct fpy_thread *t1 =
		fpy__thread(p, p->interp, 1001, 0x7f0000001000ull, CHUNK_SIZE);
	push_bootstrap(p, t1, thread_obj_311(p, "worker-1", &slot));
	fpy__push(p, t1, run, 1);
	struct fpy_thread *t2 =
		fpy__thread(p, p->interp, 1002, 0x7f0000002000ull, CHUNK_SIZE);
	fpy__push(p, t2, run, 1);
	struct fpy_thread *tm = fpy__thread(p, p->interp, p->t->pid,
					    0x7f0000003000ull, CHUNK_SIZE);
	fpy__push(p, tm, run, 1);
	assert_int_equal(py_walker__new(p->t, &w), 0);

	s = sample_ok(w);
	assert_string_equal(thread_of(s, t1)->name, "worker-1");
	assert_null(thread_of(s, t2)->name);
	assert_string_equal(thread_of(s, tm)->name, "MainThread");
	assert_int_equal(thread_of(s, t1)->depth, 3);

	/* Cached: the steady state is still one call per sample. */
	uint64_t reads = py_walker__stats(w)->name_reads;
	for (int i = 0; i < 3; i++) {
		calls = p->t->mem.calls;
		s = sample_ok(w);
		assert_int_equal(p->t->mem.calls - calls, 1);
		assert_string_equal(thread_of(s, t1)->name, "worker-1");
	}
	assert_int_equal(py_walker__stats(w)->name_reads, reads);

	/* A rename shows within about a second. */
	fakemem__w64(p->fm, slot, fpy__str(p, "renamed"));
	struct timespec ts = {.tv_sec = 1, .tv_nsec = 50 * 1000 * 1000};
	nanosleep(&ts, NULL);
	s = sample_ok(w);
	assert_string_equal(thread_of(s, t1)->name, "renamed");

	/* Another thread on the same thread state (a new thread_id): its
	 * name is read at once, not taken from the cache. */
	fakemem__w64(p->fm, slot, fpy__str(p, "successor"));
	fakemem__w64(p->fm, t1->ts + p->l->ts_thread_id, 0x7f0000009000ull);
	s = sample_ok(w);
	assert_string_equal(thread_of(s, t1)->name, "successor");

	/* Long names are cut at PY_NAME_MAX bytes; control characters
	 * become '?'. */
	char longname[200];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	longname[3] = '\n';
	fakemem__w64(p->fm, slot, fpy__str(p, longname));
	fakemem__w64(p->fm, t1->ts + p->l->ts_native_tid, 1003);
	s = sample_ok(w);
	assert_int_equal(strlen(thread_of(s, t1)->name), PY_NAME_MAX);
	assert_memory_equal(thread_of(s, t1)->name, "xxx?xx", 6);

	py_walker__free(w);
	fpy__free(p);
}

/* Whatever is wrong in the object graph, the name is NULL, never junk. */
static void test_thread_names_hostile(void **state)
{
	struct fpy *p = fpy__new();
	const struct py_layout *l = p->l;
	uint64_t slot;
	char name[PY_NAME_MAX + 1];

	(void)state;
	uint64_t obj = thread_obj_311(p, "ok", &slot);
	uint64_t type = fakemem__r64(p->fm, obj + l->ob_type);
	uint64_t keys = fakemem__r64(p->fm, type + l->ht_cached_keys);
	uint64_t values =
		fakemem__r64(p->fm, obj + (uint64_t)(int64_t)l->managed_values);
	assert_int_equal(py_thread__name(p->t, obj, name), 0);
	assert_string_equal(name, "ok");

	/* The value is not a str (a str subclass, a freed object). */
	uint64_t good = fakemem__r64(p->fm, slot);
	uint64_t bogus = fpy__str(p, "bogus");
	fakemem__w64(p->fm, bogus + l->ob_type, p->dict_type);
	fakemem__w64(p->fm, slot, bogus);
	assert_int_equal(py_thread__name(p->t, obj, name), -PS_ECORRUPT);
	assert_string_equal(name, "");
	/* Or points nowhere. */
	fakemem__w64(p->fm, slot, 0xdead0000ull);
	assert_true(py_thread__name(p->t, obj, name) < 0);
	fakemem__w64(p->fm, slot, good);

	/* A type that is not a heap type; a metatype cycle. */
	fakemem__w64(p->fm, type + l->tp_flags, TPF_MANAGED_DICT);
	assert_int_equal(py_thread__name(p->t, obj, name), -PS_ECORRUPT);
	fakemem__w64(p->fm, type + l->tp_flags,
		     TPF_HEAPTYPE | TPF_MANAGED_DICT);
	fakemem__w64(p->fm, type + l->ob_type, type);
	assert_int_equal(py_thread__name(p->t, obj, name), -PS_ECORRUPT);
	fakemem__w64(p->fm, type + l->ob_type, p->type_type);

	/* Keys: an absurd size, more entries than slots, not split. */
	fakemem__w8(p->fm, keys + 8, 60);
	assert_int_equal(py_thread__name(p->t, obj, name), -PS_ECORRUPT);
	fakemem__w8(p->fm, keys + 8, 3);
	fakemem__w64(p->fm, keys + 24, 1ull << 40);
	assert_int_equal(py_thread__name(p->t, obj, name), -PS_ECORRUPT);
	fakemem__w64(p->fm, keys + 24, 5);
	fakemem__w8(p->fm, keys + 10, 1);
	assert_int_equal(py_thread__name(p->t, obj, name), -PS_ECORRUPT);
	fakemem__w8(p->fm, keys + 10, 2);
	assert_int_equal(py_thread__name(p->t, obj, name), 0);

	/* No values: the managed dict, which here is the object itself
	 * (a cycle), then a dict whose type is wrong. */
	fakemem__w64(p->fm, obj + (uint64_t)(int64_t)l->managed_values, 0);
	fakemem__w64(p->fm, obj + (uint64_t)(int64_t)l->managed_dict, obj);
	assert_int_equal(py_thread__name(p->t, obj, name), -PS_ECORRUPT);
	uint64_t d = fpy__dict(p, keys, values);
	fakemem__w64(p->fm, obj + (uint64_t)(int64_t)l->managed_dict, d);
	assert_int_equal(py_thread__name(p->t, obj, name), 0);
	assert_string_equal(name, "ok");
	fakemem__w64(p->fm, d + l->ob_type, p->str_type);
	assert_int_equal(py_thread__name(p->t, obj, name), -PS_ECORRUPT);

	/* No _name among the keys. */
	static const char *const other[] = {"_target", "_nam", "_namex"};
	uint64_t ov[3] = {good, good, good};
	fakemem__w64(p->fm, d + l->ob_type, p->dict_type);
	fakemem__w64(p->fm, d + l->dict_keys, fpy__keys(p, other, ov, 3, 1));
	fakemem__w64(p->fm, d + l->dict_values, 0);
	assert_int_equal(py_thread__name(p->t, obj, name), -PS_ECORRUPT);

	/* The walker: a bootstrap frame whose self is garbage gives a
	 * nameless thread with its stack intact. */
	struct fpy_thread *t =
		fpy__thread(p, p->interp, 1001, 0x7f0000001000ull, CHUNK_SIZE);
	push_bootstrap(p, t, 0xdead0000ull);
	struct py_walker *w;
	assert_int_equal(py_walker__new(p->t, &w), 0);
	const struct py_sample *s = sample_ok(w);
	assert_null(thread_of(s, t)->name);
	assert_int_equal(thread_of(s, t)->err, 0);
	assert_int_equal(thread_of(s, t)->depth, 2);
	py_walker__free(w);
	fpy__free(p);
}

/* 3.8-3.10: the instance dict at tp_dictoffset, combined or split. */
static void test_thread_names_310(void **state)
{
	const struct py_layout *l = py_layout__find(0x030A0DF0u);
	struct fpy *p = fpy__new_with(l);
	char name[PY_NAME_MAX + 1];

	(void)state;
	uint64_t nm = fpy__str(p, "pool-3");
	uint64_t vals[5] = {0, nm, 0, 0, 0};
	/* Split: the type's shared keys, the dict's values array. */
	uint64_t keys = fpy__keys(p, thread_keys, NULL, 5, 0);
	uint64_t type = fpy__type(p, TPF_HEAPTYPE, 32, 16, keys);
	uint64_t obj = fpy__object(p, type, 0, 32);
	uint64_t d = fpy__dict(p, keys, fpy__values(p, vals, 5));
	fakemem__w64(p->fm, obj + 16, d);
	assert_int_equal(py_thread__name(p->t, obj, name), 0);
	assert_string_equal(name, "pool-3");

	/* Combined, with a deleted entry before _name. */
	static const char *const holes[] = {"_target", NULL, "_name"};
	uint64_t hv[3] = {0, 0, nm};
	fakemem__w64(p->fm, d + l->dict_keys, fpy__keys(p, holes, hv, 3, 0));
	fakemem__w64(p->fm, d + l->dict_values, 0);
	assert_int_equal(py_thread__name(p->t, obj, name), 0);
	assert_string_equal(name, "pool-3");

	/* dk_size that is not a power of two; a negative dictoffset. */
	uint64_t k = fakemem__r64(p->fm, d + l->dict_keys);
	fakemem__w64(p->fm, k + 8, 12);
	assert_int_equal(py_thread__name(p->t, obj, name), -PS_ECORRUPT);
	fakemem__w64(p->fm, k + 8, 8);
	fakemem__w64(p->fm, type + l->tp_dictoffset, (uint64_t)-8);
	assert_int_equal(py_thread__name(p->t, obj, name), -PS_ECORRUPT);
	fpy__free(p);
}

/* 3.12's tagged dict-or-values word and 3.13's inline values, on the
 * 3.11 image with those layout flags. */
static void test_thread_names_312_313(void **state)
{
	struct py_layout l = *py_layout__find(0x030B07F0u);
	char name[PY_NAME_MAX + 1];

	(void)state;
	l.flags |= PY_L_DICT_OR_VALUES;
	l.managed_values = 0;
	struct fpy *p = fpy__new_with(&l);
	uint64_t keys = fpy__keys(p, thread_keys, NULL, 5, 2);
	uint64_t type =
		fpy__type(p, TPF_HEAPTYPE | TPF_MANAGED_DICT, 16, 0, keys);
	uint64_t vals[5] = {0, fpy__str(p, "dorv"), 0, 0, 0};
	uint64_t obj = fpy__object(p, type, 32, 16);
	fakemem__w64(p->fm, obj - 24, fpy__values(p, vals, 5) - 1);
	assert_int_equal(py_thread__name(p->t, obj, name), 0);
	assert_string_equal(name, "dorv");
	fakemem__w64(p->fm, obj - 24,
		     fpy__dict(p, keys, fpy__values(p, vals, 5)));
	assert_int_equal(py_thread__name(p->t, obj, name), 0);
	fpy__free(p);

	/* 3.13: values right after the object while valid, else the dict. */
	l = *py_layout__find(0x030B07F0u);
	l.flags |= PY_L_INLINE_VALUES;
	l.managed_values = 0;
	l.values_data = 8;
	p = fpy__new_with(&l);
	keys = fpy__keys(p, thread_keys, NULL, 5, 2);
	type = fpy__type(p, TPF_HEAPTYPE | TPF_MANAGED_DICT | TPF_INLINE_VALUES,
			 16, 0, keys);
	obj = fpy__object(p, type, 32, 16 + 8 + 5 * 8);
	vals[1] = fpy__str(p, "inline");
	fakemem__w8(p->fm, obj + 16, 5); /* capacity */
	fakemem__w8(p->fm, obj + 16 + 3, 1); /* valid */
	for (int i = 0; i < 5; i++)
		fakemem__w64(p->fm, obj + 16 + 8 + 8 * (uint64_t)i, vals[i]);
	assert_int_equal(py_thread__name(p->t, obj, name), 0);
	assert_string_equal(name, "inline");
	/* Capacity smaller than the key's index: not trusted. */
	fakemem__w8(p->fm, obj + 16, 1);
	assert_int_equal(py_thread__name(p->t, obj, name), -PS_ECORRUPT);
	/* Invalidated: the materialised dict holds the name now. */
	fakemem__w8(p->fm, obj + 16 + 3, 0);
	vals[1] = fpy__str(p, "in-dict");
	fakemem__w64(p->fm, obj - 24,
		     fpy__dict(p, fpy__keys(p, thread_keys, vals, 5, 1), 0));
	assert_int_equal(py_thread__name(p->t, obj, name), 0);
	assert_string_equal(name, "in-dict");
	fpy__free(p);
}

/* The GIL holder and the gc flag come from the sample's one batch. */
static void test_gil_gc(void **state)
{
	struct world x;
	const struct py_layout *l;
	uint64_t calls;
	const struct py_sample *s;

	(void)state;
	world__init(&x);
	l = x.p->l;
	assert_int_equal(py_walker__gil_support(x.w), 0);
	uint64_t gil = x.p->runtime + l->rt_gil;
	fakemem__w32(x.p->fm, gil + l->gil_locked, 1);
	fakemem__w64(x.p->fm, gil + l->gil_holder, x.t2->ts);
	s = sample_ok(x.w);
	assert_int_equal(thread_of(s, x.t1)->gil, 0);
	assert_int_equal(thread_of(s, x.t2)->gil, 1);
	assert_int_equal(s->gc, 0);

	/* Released: last_holder stays, nobody holds it. */
	fakemem__w32(x.p->fm, gil + l->gil_locked, 0);
	fakemem__w32(x.p->fm, x.p->interp + l->gc_collecting, 1);
	calls = world__mem(&x)->calls;
	s = sample_ok(x.w);
	assert_int_equal(world__mem(&x)->calls - calls, 1);
	check_world(&x, s);
	assert_int_equal(thread_of(s, x.t1)->gil, 0);
	assert_int_equal(thread_of(s, x.t2)->gil, 0);
	assert_int_equal(s->gc, 1);

	fakemem__w32(x.p->fm, gil + l->gil_locked, 1);
	fakemem__w64(x.p->fm, gil + l->gil_holder, x.t1->ts);
	fakemem__w32(x.p->fm, x.p->interp + l->gc_collecting, 0);
	s = sample_ok(x.w);
	assert_int_equal(thread_of(s, x.t1)->gil, 1);
	assert_int_equal(thread_of(s, x.t2)->gil, 0);
	assert_int_equal(s->gc, 0);
	world__fini(&x);
}

/* 3.12+: interp->ceval.gil points to the GIL; it may move. */
static void test_gil_pointer(void **state)
{
	struct py_layout l = *py_layout__find(0x030B07F0u);
	const struct py_sample *s;
	struct py_walker *w;

	(void)state;
	l.flags &= ~(uint32_t)PY_L_GIL_IN_RUNTIME;
	l.is_gil = 64;
	struct fpy *p = fpy__new_with(&l);
	struct fpy_code *run =
		fpy__code(p, "app.py", "run", "Worker.run", 20, LINES({21, 3}));
	struct fpy_thread *t1 =
		fpy__thread(p, p->interp, 1001, 0x7f0000001000ull, CHUNK_SIZE);
	fpy__push(p, t1, run, 1);
	struct fpy_thread *t2 =
		fpy__thread(p, p->interp, 1002, 0x7f0000002000ull, CHUNK_SIZE);
	fpy__push(p, t2, run, 1);
	uint64_t g1 = fakemem__alloc(p->fm, 64), g2 = fakemem__alloc(p->fm, 64);
	fakemem__w64(p->fm, p->interp + l.is_gil, g1);
	fakemem__w32(p->fm, g1 + l.gil_locked, 1);
	fakemem__w64(p->fm, g1 + l.gil_holder, t1->ts);
	fakemem__w32(p->fm, g2 + l.gil_locked, 1);
	fakemem__w64(p->fm, g2 + l.gil_holder, t2->ts);
	assert_int_equal(py_walker__new(p->t, &w), 0);

	/* Known from the first sample on (dump takes only one). */
	s = sample_ok(w);
	assert_int_equal(thread_of(s, t1)->gil, 1);
	assert_int_equal(thread_of(s, t2)->gil, 0);
	/* Moved: unknown for the sample that notices, then the new one. */
	fakemem__w64(p->fm, p->interp + l.is_gil, g2);
	s = sample_ok(w);
	assert_int_equal(thread_of(s, t1)->gil, -1);
	uint64_t calls = p->t->mem.calls;
	s = sample_ok(w);
	assert_int_equal(p->t->mem.calls - calls, 1);
	assert_int_equal(thread_of(s, t1)->gil, 0);
	assert_int_equal(thread_of(s, t2)->gil, 1);
	/* Pointing nowhere: unknown, and the stacks are unharmed. */
	fakemem__w64(p->fm, p->interp + l.is_gil, 0xdead0000ull);
	(void)sample_ok(w); /* notices the move */
	s = sample_ok(w);
	assert_int_equal(thread_of(s, t1)->gil, -1);
	assert_int_equal(thread_of(s, t1)->depth, 1);
	py_walker__free(w);
	fpy__free(p);

	/* Free-threaded: no GIL to read. */
	l.flags |= PY_L_FREE_THREADED;
	p = fpy__new_with(&l);
	t1 = fpy__thread(p, p->interp, 1001, 0x7f0000001000ull, CHUNK_SIZE);
	fpy__push(p, t1, fpy__code(p, "a.py", "f", "f", 1, LINES({2, 2})), 1);
	assert_int_equal(py_walker__new(p->t, &w), 0);
	assert_int_equal(py_walker__gil_support(w), -PS_ENOGIL);
	s = sample_ok(w);
	assert_int_equal(thread_of(s, t1)->gil, -1);
	py_walker__free(w);
	fpy__free(p);

	/* Free-threaded, saying where .enabled is: the GIL counts while it
	 * is switched on, and only then. */
	l.flags |= PY_L_GIL_SWITCH;
	l.gil_enabled = 0;
	l.gil_holder = 16;
	l.gil_locked = 24;
	p = fpy__new_with(&l);
	t1 = fpy__thread(p, p->interp, 1001, 0x7f0000001000ull, CHUNK_SIZE);
	fpy__push(p, t1, fpy__code(p, "a.py", "f", "f", 1, LINES({2, 2})), 1);
	uint64_t g = fakemem__alloc(p->fm, 64);
	fakemem__w64(p->fm, p->interp + l.is_gil, g);
	fakemem__w32(p->fm, g + l.gil_locked, 1);
	fakemem__w64(p->fm, g + l.gil_holder, t1->ts);
	assert_int_equal(py_walker__new(p->t, &w), 0);
	assert_int_equal(py_walker__gil_support(w), -PS_ENOGIL);
	s = sample_ok(w);
	assert_int_equal(thread_of(s, t1)->gil, -1);
	fakemem__w32(p->fm, g + l.gil_enabled, 1);
	assert_int_equal(py_walker__gil_support(w), 0);
	calls = p->t->mem.calls;
	s = sample_ok(w);
	assert_int_equal(p->t->mem.calls - calls, 1);
	assert_int_equal(thread_of(s, t1)->gil, 1);
	fakemem__w32(p->fm, g + l.gil_enabled, 0); /* switched off again */
	s = sample_ok(w);
	assert_int_equal(thread_of(s, t1)->gil, -1);
	py_walker__free(w);
	fpy__free(p);
}

/* ---- (12) fuzz --------------------------------------------------------- */

static uint64_t rng;

static uint64_t rnd(void)
{
	/* xorshift64*: deterministic across platforms */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

/* A value that looks like a pointer into the image, or nearly. */
static uint64_t rnd_pointer(struct fakemem *fm)
{
	uint64_t a;
	size_t len;

	fakemem__span_at(fm, rnd_below(fakemem__nspans(fm)), &a, &len);
	return a + rnd_below(len + 32) - 16;
}

static void mutate(struct fpy *p)
{
	static const uint64_t special[] = {
		0,
		1,
		UINT64_MAX,
		UINT64_MAX - 7,
		UINT64_MAX - 71,
		0x8000000000000000ull,
		0x7fffffffffffffffull,
		0xffffffff,
		0x80000000,
		16,
		0x10000,
	};
	struct fakemem *fm = p->fm;
	uint64_t a, v;
	size_t len;
	uint8_t b;
	uint32_t w;

	fakemem__span_at(fm, rnd_below(fakemem__nspans(fm)), &a, &len);
	switch (rnd_below(7)) {
	case 0: /* a bit */
		a += rnd_below(len);
		b = *fakemem__ptr(fm, a, 1) ^ (uint8_t)(1u << rnd_below(8));
		fakemem__poke(fm, a, &b, 1);
		return;
	case 1: /* a byte */
		a += rnd_below(len);
		b = (uint8_t)rnd();
		fakemem__poke(fm, a, &b, 1);
		return;
	case 2: /* an int field */
		if (len < 4)
			return;
		a += rnd_below(len / 4) * 4;
		w = rnd_below(2) ? (uint32_t)rnd()
				 : (uint32_t)special[rnd_below(11)];
		fakemem__poke(fm, a, &w, 4);
		return;
	default: /* a pointer-sized field */
		if (len < 8)
			return;
		a += rnd_below(len / 8) * 8;
		switch (rnd_below(5)) {
		case 0: v = special[rnd_below(11)]; break;
		case 1: v = rnd(); break;
		case 2: v = a + rnd_below(64) - 32; break;
		case 3: v = fakemem__r64(fm, a) + rnd_below(256) - 128; break;
		default: v = rnd_pointer(fm); break;
		}
		fakemem__poke(fm, a, &v, 8);
		return;
	}
}

/* What any sample must be, whatever the target held. */
static void check_sane(const struct py_sample *s)
{
	assert_true(s->nthreads <= PY_MAX_THREADS);
	for (uint32_t i = 0; i < s->nthreads; i++) {
		const struct py_thread *pt = &s->threads[i];

		assert_true(pt->depth <= PY_MAX_DEPTH);
		if (pt->err)
			assert_true(pt->err < 0);
		for (uint32_t k = 0; k < pt->depth; k++) {
			const struct py_frame *fr = &pt->frames[k];
			assert_non_null(fr->code);
			assert_non_null(fr->code->name);
			assert_non_null(fr->code->qualname);
			assert_non_null(fr->code->filename);
			assert_true(strlen(fr->code->name) <= 4 * 4096);
			assert_true(strlen(fr->code->qualname) <= 4 * 4096);
			assert_true(strlen(fr->code->filename) <= 4 * 4096);
			/* Lines are not checked: a not-started frame gets
			 * co_firstlineno, whatever the header says. */
			assert_true(fr->lasti >= -1);
		}
	}
}

static void fuzz_sample(struct py_walker *w, uint64_t *nerr)
{
	const struct py_sample *s = NULL;
	int err = py_walker__sample(w, &s);

	if (err) {
		assert_true(err < 0);
		assert_null(s);
		(*nerr)++;
		return;
	}
	assert_non_null(s);
	check_sane(s);
}

static void test_fuzz(void **state)
{
	struct world x;
	struct py_walker *lw;
	const char *env = getenv("PSAMPLE_FUZZ_ITERS");
	long iters = env ? strtol(env, NULL, 10) : 20000;
	uint64_t nerr = 0, burst = 0;

	(void)state;
	/* Frames across chunks, a generator frame and a subinterpreter, so
	 * every path of the walker has bytes to trip on. */
	world__init_sized(&x, 2048);
	fpy__push(x.p, x.t1, x.leaf, 1);
	fpy__push_stray(x.p, x.t1, x.run, 4);
	fpy__push(x.p, x.t1, x.helper, 2);
	for (int i = 0; i < 20; i++)
		fpy__push(x.p, x.t2, i % 2 ? x.run : x.mod, i % 7);
	assert_true(x.t2->nchunks > 1);
	uint64_t sub = fpy__interp(x.p);
	struct fpy_thread *t3 = fpy__thread(x.p, sub, 1003, 3, 2048);
	fpy__push(x.p, t3, x.leaf, 0);
	assert_int_equal(py_walker__new(x.p->t, &lw), 0);
	check_thread(sample_ok(lw), x.t1);

	env = getenv("PSAMPLE_FUZZ_SEED");
	rng = env ? strtoull(env, NULL, 0) : 0x5eed0123456789abull;
	if (!rng)
		rng = 1;
	for (long it = 0; it < iters; it++) {
		struct py_walker *w;
		uint64_t n = 1 + rnd_below(3);

		for (uint64_t k = 0; k < n; k++)
			mutate(x.p);
		assert_int_equal(py_walker__new(x.p->t, &w), 0);
		fuzz_sample(w, &nerr);
		/* The second sample takes the planned path. */
		fuzz_sample(w, &nerr);
		py_walker__free(w);
		fuzz_sample(lw, &nerr);
		/* Let damage pile up for a while, then heal the image. */
		if (++burst >= 1 + rnd_below(6)) {
			fakemem__rollback(x.p->fm);
			burst = 0;
			if (rnd_below(4) == 0)
				fuzz_sample(lw, &nerr);
		}
	}
	fakemem__rollback(x.p->fm);

	/* The long-lived walker recovers once the image is sound again.  Its
	 * cached names may predate a string that was corrupted and restored
	 * under an unchanged header, so only shapes are compared. */
	sample_ok(lw);
	const struct py_sample *s = sample_ok(lw);
	assert_int_equal(s->nthreads, 3);
	struct fpy_thread *all[] = {x.t1, x.t2, t3};
	for (int i = 0; i < 3; i++) {
		const struct py_thread *pt = thread_of(s, all[i]);
		assert_int_equal(pt->err, 0);
		assert_int_equal(pt->depth, all[i]->depth);
		for (uint32_t k = 0; k < pt->depth; k++) {
			const struct fpy_frame *m =
				&all[i]->frames[all[i]->depth - 1 - k];
			assert_int_equal(pt->frames[k].code->addr,
					 m->code->addr);
			assert_int_equal(pt->frames[k].lasti, m->unit);
		}
	}
	print_message("# fuzz: %ld iterations, %llu failed samples, %llu "
		      "faulted reads\n",
		      iters, (unsigned long long)nerr,
		      (unsigned long long)fakemem__faults(x.p->fm));
	py_walker__free(lw);
	world__fini(&x);
}

int main(void)
{
	/* Tests that failed by crashing come last, so that until they are
	 * fixed the others still report. */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_threads),
		cmocka_unit_test(test_line_lookups),
		cmocka_unit_test(test_steady_state),
		cmocka_unit_test(test_chunks),
		cmocka_unit_test(test_stack_changes),
		cmocka_unit_test(test_raw_marks),
		cmocka_unit_test(test_cycle_self),
		cmocka_unit_test(test_cycle_up),
		cmocka_unit_test(test_not_code),
		cmocka_unit_test(test_code_reuse),
		cmocka_unit_test(test_stray_frames),
		cmocka_unit_test(test_thread_list),
		cmocka_unit_test(test_unreadable),
		cmocka_unit_test(test_process_gone),
		cmocka_unit_test(test_torn),
		cmocka_unit_test(test_return_race),
		cmocka_unit_test(test_run_mark),
		cmocka_unit_test(test_run_mark_straddle),
		cmocka_unit_test(test_str_at_mapping_end),
		cmocka_unit_test(test_str_not_live),
		cmocka_unit_test(test_code_dies_in_load),
		cmocka_unit_test(test_lasti_truncated),
		cmocka_unit_test(test_thread_list_cycle),
		cmocka_unit_test(test_too_deep),
		cmocka_unit_test(test_many_frames_first_sample),
		cmocka_unit_test(test_many_distinct_codes),
		cmocka_unit_test(test_frame_pointer_wraps),
		cmocka_unit_test(test_thread_names),
		cmocka_unit_test(test_thread_names_hostile),
		cmocka_unit_test(test_thread_names_310),
		cmocka_unit_test(test_thread_names_312_313),
		cmocka_unit_test(test_gil_gc),
		cmocka_unit_test(test_gil_pointer),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
