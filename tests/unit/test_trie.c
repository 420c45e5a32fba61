/*
 * test_trie.c - unit tests for the stack trie: counting, node sharing,
 * frame and string interning, and correctness across many table growths,
 * checked against a simple independent reference.
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

#include "psample/trie.h"

static uint32_t intern_py(struct trie *t, const char *name, const char *file,
			  int line)
{
	struct ps_frame f = {.kind = PS_FRAME_PYTHON,
			     .firstlineno = 1,
			     .line = line,
			     .name = name,
			     .file = file};
	uint32_t id = UINT32_MAX;

	assert_int_equal(trie__intern(t, &f, &id), 0);
	assert_true(id < trie__nframes(t));
	return id;
}

/* The frames of node id, root first, into out; returns the depth. */
static size_t node_path(const struct trie *t, uint32_t id, uint32_t *out,
			size_t max)
{
	size_t depth = 0;

	for (uint32_t n = id; n; n = trie__node(t, n)->parent) {
		assert_true(depth < max);
		out[depth++] = trie__node(t, n)->frame;
	}
	for (size_t i = 0; i < depth / 2; i++) {
		uint32_t tmp = out[i];

		out[i] = out[depth - 1 - i];
		out[depth - 1 - i] = tmp;
	}
	return depth;
}

static void test_new_has_root(void **state)
{
	struct trie *t = trie__new();

	(void)state;
	assert_non_null(t);
	assert_int_equal(trie__nnodes(t), 1);
	assert_int_equal(trie__nframes(t), 0);
	assert_int_equal(trie__node(t, 0)->self, 0);
	assert_null(trie__node(t, 1));
	assert_null(trie__frame(t, 0));
	assert_int_equal(trie__total(t), 0);
	trie__free(t);
	trie__free(NULL);
}

static void test_counts_accumulate(void **state)
{
	struct trie *t = trie__new();
	uint32_t fr[3];
	uint32_t leaf;

	(void)state;
	fr[0] = intern_py(t, "main", "/app/main.py", 2);
	fr[1] = intern_py(t, "work", "/app/main.py", 7);
	fr[2] = intern_py(t, "fib", "/app/main.py", 13);

	assert_int_equal(trie__add_stack(t, fr, 3, 1), 0);
	assert_int_equal(trie__add_stack(t, fr, 3, 2), 0);
	assert_int_equal(trie__add_stack(t, fr, 3, 3), 0);
	assert_int_equal(trie__nnodes(t), 4);

	assert_int_equal(trie__child(t, 0, fr[0], &leaf), 0);
	assert_int_equal(trie__child(t, leaf, fr[1], &leaf), 0);
	assert_int_equal(trie__child(t, leaf, fr[2], &leaf), 0);
	assert_int_equal(trie__nnodes(t), 4); /* lookups create nothing */
	assert_int_equal(trie__node(t, leaf)->self, 6);
	assert_int_equal(trie__node(t, trie__node(t, leaf)->parent)->self, 0);

	trie__count(t, leaf, 10);
	assert_int_equal(trie__node(t, leaf)->self, 16);
	assert_int_equal(trie__total(t), 16);

	/* An empty stack counts at the root. */
	assert_int_equal(trie__add_stack(t, fr, 0, 4), 0);
	assert_int_equal(trie__node(t, 0)->self, 4);
	assert_int_equal(trie__total(t), 20);
	trie__free(t);
}

static void test_shared_prefixes(void **state)
{
	struct trie *t = trie__new();
	uint32_t a, b, c, d;
	uint32_t n1, n2;

	(void)state;
	a = intern_py(t, "a", "x.py", 1);
	b = intern_py(t, "b", "x.py", 2);
	c = intern_py(t, "c", "x.py", 3);
	d = intern_py(t, "d", "x.py", 4);
	{
		uint32_t s1[] = {a, b, c};
		uint32_t s2[] = {a, b, d};
		uint32_t s3[] = {a, b};
		uint32_t s4[] = {b, a}; /* same frames, other order */

		assert_int_equal(trie__add_stack(t, s1, 3, 1), 0);
		assert_int_equal(trie__add_stack(t, s2, 3, 1), 0);
		assert_int_equal(trie__add_stack(t, s3, 2, 5), 0);
		/* root, a, a;b, a;b;c, a;b;d */
		assert_int_equal(trie__nnodes(t), 5);
		assert_int_equal(trie__add_stack(t, s4, 2, 1), 0);
		assert_int_equal(trie__nnodes(t), 7);
	}
	assert_int_equal(trie__child(t, 0, a, &n1), 0);
	assert_int_equal(trie__child(t, n1, b, &n2), 0);
	assert_int_equal(trie__node(t, n2)->self, 5);
	assert_int_equal(trie__total(t), 8);
	trie__free(t);
}

static void test_invalid_ids(void **state)
{
	struct trie *t = trie__new();
	uint32_t a, node = 12345;

	(void)state;
	a = intern_py(t, "a", "x.py", 1);
	assert_int_equal(trie__child(t, 5, a, &node), -EINVAL);
	assert_int_equal(trie__child(t, 0, a + 1, &node), -EINVAL);
	assert_int_equal(node, 12345);
	{
		uint32_t bad[] = {a, 77};

		assert_int_equal(trie__add_stack(t, bad, 2, 1), -EINVAL);
	}
	trie__count(t, 999, 3); /* ignored */
	assert_int_equal(trie__total(t), 0);
	trie__free(t);
}

static void test_frame_identity(void **state)
{
	struct trie *t = trie__new();
	struct ps_frame base = {.kind = PS_FRAME_PYTHON,
				.firstlineno = 10,
				.line = 12,
				.num = 0,
				.name = "f",
				.file = "/a.py"};
	struct ps_frame v;
	uint32_t id0, id;
	char name[] = "f", file[] = "/a.py";

	(void)state;
	assert_int_equal(trie__intern(t, &base, &id0), 0);

	/* Equal contents in other buffers: the same frame. */
	v = base;
	v.name = name;
	v.file = file;
	assert_int_equal(trie__intern(t, &v, &id), 0);
	assert_int_equal(id, id0);

	/* Any one field different: a different frame. */
#define DIFFERS(field, value)                                  \
	do {                                                   \
		v = base;                                      \
		v.field = value;                               \
		assert_int_equal(trie__intern(t, &v, &id), 0); \
		assert_int_not_equal(id, id0);                 \
	} while (0)
	DIFFERS(kind, PS_FRAME_SPECIAL);
	DIFFERS(firstlineno, 11);
	DIFFERS(line, -1);
	DIFFERS(num, 1);
	DIFFERS(name, "g");
	DIFFERS(name, NULL);
	DIFFERS(name, "");
	DIFFERS(file, "/b.py");
	DIFFERS(file, NULL);
#undef DIFFERS
	assert_int_equal(trie__nframes(t), 10);

	/* NULL and "" are different frames, each stable. */
	v = base;
	v.name = NULL;
	assert_int_equal(trie__intern(t, &v, &id), 0);
	assert_null(trie__frame(t, id)->name);
	v.name = "";
	assert_int_equal(trie__intern(t, &v, &id), 0);
	assert_string_equal(trie__frame(t, id)->name, "");
	assert_int_equal(trie__nframes(t), 10);

	/* The trie keeps its own copies. */
	v = base;
	v.name = name;
	v.file = file;
	v.line = 99;
	assert_int_equal(trie__intern(t, &v, &id), 0);
	name[0] = 'X';
	file[1] = 'X';
	assert_string_equal(trie__frame(t, id)->name, "f");
	assert_string_equal(trie__frame(t, id)->file, "/a.py");
	assert_ptr_not_equal(trie__frame(t, id)->name, name);
	trie__free(t);
}

static void test_string_interning(void **state)
{
	struct trie *t = trie__new();
	char buf1[64], buf2[64];
	uint32_t a, b, c;

	(void)state;
	strcpy(buf1, "/usr/lib/python3.11/json/decoder.py");
	strcpy(buf2, buf1);
	a = intern_py(t, "decode", buf1, 1);
	b = intern_py(t, "raw_decode", buf2, 2);
	c = intern_py(t, "decode", "/other.py", 3);
	/* Same string: one stored copy, whichever frame it came with. */
	assert_ptr_equal(trie__frame(t, a)->file, trie__frame(t, b)->file);
	assert_ptr_equal(trie__frame(t, a)->name, trie__frame(t, c)->name);
	assert_ptr_not_equal(trie__frame(t, a)->file, trie__frame(t, c)->file);
	assert_ptr_not_equal(trie__frame(t, a)->file, buf1);

	/* A name equal to a file name shares its storage too. */
	c = intern_py(t, buf1, "/x.py", 1);
	assert_ptr_equal(trie__frame(t, c)->name, trie__frame(t, a)->file);
	trie__free(t);
}

/*
 * Many distinct frames and strings, including long ones: every frame must
 * still be found (same id) after all the growth, and its strings intact.
 */
static void test_many_frames(void **state)
{
	enum { N = 100000 };
	struct trie *t = trie__new();
	static char file[20000];
	char name[64];
	uint32_t *ids = malloc(N * sizeof(*ids));

	(void)state;
	assert_non_null(ids);
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < N; i++) {
			(void)snprintf(name, sizeof(name), "func_%d", i % 5000);
			/* Every 997th file is long enough for its own block. */
			if (i % 997 == 0) {
				memset(file, 'p', sizeof(file) - 1);
				file[sizeof(file) - 1] = '\0';
				(void)snprintf(file, 20, "/big/%d", i);
				file[strlen(file)] = 'p';
			} else {
				(void)snprintf(file, sizeof(file),
					       "/src/m%d.py", i % 7000);
			}
			if (pass == 0) {
				ids[i] = intern_py(t, name, file, i);
				assert_int_equal(ids[i], i);
			} else {
				assert_int_equal(intern_py(t, name, file, i),
						 ids[i]);
				assert_string_equal(
					trie__frame(t, ids[i])->name, name);
				assert_string_equal(
					trie__frame(t, ids[i])->file, file);
				assert_int_equal(trie__frame(t, ids[i])->line,
						 i);
			}
		}
		assert_int_equal(trie__nframes(t), N);
	}
	/* Interning: frames 0 and 5000 share the name "func_0". */
	assert_ptr_equal(trie__frame(t, 0)->name, trie__frame(t, 5000)->name);
	free(ids);
	trie__free(t);
}

/* The reference: every sampled stack as a fixed-size record, sorted. */
#define MAXDEPTH 14

struct ref_stack {
	uint32_t depth;
	uint32_t frames[MAXDEPTH];
	uint64_t count;
};

static int ref_cmp(const void *a, const void *b)
{
	const struct ref_stack *x = a, *y = b;

	if (x->depth != y->depth)
		return x->depth < y->depth ? -1 : 1;
	return memcmp(x->frames, y->frames, x->depth * sizeof(x->frames[0]));
}

static uint64_t rng_state = 0x853c49e6748fea9bULL;

static uint32_t rng(void)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dULL) >> 32);
}

/*
 * 200k random stacks: shallow levels draw from few frames (so prefixes are
 * shared and repeated), deep levels from many (so most stacks are new and
 * the node table grows through many rehashes).  Every count must match
 * the reference exactly.
 */
static void test_random_stacks(void **state)
{
	enum { NSAMPLES = 200000, NFRAMES = 3000 };
	struct trie *t = trie__new();
	struct ref_stack *ref = calloc(NSAMPLES, sizeof(*ref));
	uint32_t ids[NFRAMES];
	uint64_t total = 0;
	size_t nref = 0, nonzero = 0;

	(void)state;
	assert_non_null(ref);
	for (int i = 0; i < NFRAMES; i++) {
		char name[32];

		(void)snprintf(name, sizeof(name), "f%d", i);
		ids[i] = intern_py(t, name, "/r.py", i);
	}
	for (int s = 0; s < NSAMPLES; s++) {
		struct ref_stack *r = &ref[s];
		uint32_t frames[MAXDEPTH];

		r->depth = 1 + rng() % MAXDEPTH;
		for (uint32_t d = 0; d < r->depth; d++) {
			uint32_t pool = d < 3 ? 4 : d < 6 ? 40 : NFRAMES;

			r->frames[d] = rng() % pool;
			frames[d] = ids[r->frames[d]];
		}
		r->count = 1 + rng() % 5;
		total += r->count;
		assert_int_equal(trie__add_stack(t, frames, r->depth, r->count),
				 0);
	}
	assert_int_equal(trie__total(t), total);

	/* Merge duplicates in the reference. */
	qsort(ref, NSAMPLES, sizeof(*ref), ref_cmp);
	for (size_t i = 0; i < NSAMPLES; i++) {
		if (nref && !ref_cmp(&ref[nref - 1], &ref[i]))
			ref[nref - 1].count += ref[i].count;
		else
			ref[nref++] = ref[i];
	}
	assert_true(nref > NSAMPLES / 2); /* the growth path was exercised */
	assert_true(nref < NSAMPLES); /* and so was sharing */

	/* Every counted node is a reference stack with the same count. */
	for (uint32_t id = 1; id < trie__nnodes(t); id++) {
		const struct trie_node *n = trie__node(t, id);
		struct ref_stack key = {0};
		struct ref_stack *hit;
		uint32_t path[MAXDEPTH];

		assert_true(n->parent < id);
		if (!n->self)
			continue;
		nonzero++;
		key.depth = (uint32_t)node_path(t, id, path, MAXDEPTH);
		for (uint32_t d = 0; d < key.depth; d++) {
			/* frame ids map back to reference indices */
			assert_string_equal(trie__frame(t, path[d])->file,
					    "/r.py");
			key.frames[d] = (uint32_t)trie__frame(t, path[d])->line;
		}
		hit = bsearch(&key, ref, nref, sizeof(*ref), ref_cmp);
		assert_non_null(hit);
		assert_int_equal(n->self, hit->count);
	}
	/* ... and every reference stack is a counted node. */
	assert_int_equal(nonzero, nref);

	/* Every node is still reachable by its key after all the rehashes. */
	for (uint32_t id = 1; id < trie__nnodes(t); id++) {
		const struct trie_node *n = trie__node(t, id);
		uint32_t got = 0;

		assert_int_equal(trie__child(t, n->parent, n->frame, &got), 0);
		assert_int_equal(got, id);
	}
	free(ref);
	trie__free(t);
}

/* Nodes are numbered in creation order: a parent before its children. */
static void test_parent_before_child(void **state)
{
	struct trie *t = trie__new();
	uint32_t fr[50];
	uint64_t sum = 0;

	(void)state;
	for (int i = 0; i < 50; i++)
		fr[i] = intern_py(t, "f", "/p.py", i);
	for (int s = 0; s < 5000; s++) {
		uint32_t stack[50];
		size_t depth = 1 + rng() % 50;

		for (size_t d = 0; d < depth; d++)
			stack[d] = fr[rng() % 50];
		assert_int_equal(trie__add_stack(t, stack, depth, 2), 0);
	}
	for (uint32_t id = 1; id < trie__nnodes(t); id++) {
		assert_true(trie__node(t, id)->parent < id);
		sum += trie__node(t, id)->self;
	}
	sum += trie__node(t, 0)->self;
	assert_int_equal(sum, 10000);
	assert_int_equal(trie__total(t), 10000);

	/* A new child of an old node still gets the next id. */
	{
		uint32_t before = trie__nnodes(t), node;
		uint32_t f = intern_py(t, "new", "/p.py", 1);

		assert_int_equal(trie__child(t, 1, f, &node), 0);
		assert_int_equal(node, before);
		assert_int_equal(trie__node(t, node)->parent, 1);
		assert_int_equal(trie__node(t, node)->self, 0);
	}
	trie__free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_has_root),
		cmocka_unit_test(test_counts_accumulate),
		cmocka_unit_test(test_shared_prefixes),
		cmocka_unit_test(test_invalid_ids),
		cmocka_unit_test(test_frame_identity),
		cmocka_unit_test(test_string_interning),
		cmocka_unit_test(test_many_frames),
		cmocka_unit_test(test_random_stacks),
		cmocka_unit_test(test_parent_before_child),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
