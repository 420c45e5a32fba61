/*
 * test_table.c - tests of the uint64_t map (table.h): keys found and not
 * found, key 0 and the largest key, growth through many keys, keys that
 * share their low bits, and clearing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>

#include "psample/table.h"

static void test_empty(void **state)
{
	struct table *t = table__new();
	uint64_t v = 7;

	(void)state;
	assert_non_null(t);
	assert_int_equal(table__count(t), 0);
	assert_int_equal(table__get(t, 1, &v), -ENOENT);
	assert_int_equal(table__get(t, 0, &v), -ENOENT);
	assert_int_equal(v, 7);
	table__free(t);
	table__free(NULL);
}

static void test_add_get(void **state)
{
	struct table *t = table__new();
	uint64_t v = 0;

	(void)state;
	assert_int_equal(table__add(t, 42, 1, &v), 1);
	assert_int_equal(v, 1);
	/* A key that is there keeps its value. */
	assert_int_equal(table__add(t, 42, 2, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(table__get(t, 42, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(table__get(t, 43, &v), -ENOENT);
	assert_int_equal(table__count(t), 1);
	table__free(t);
}

/* Key 0 marks an empty slot inside; it must still work as a key. */
static void test_edge_keys(void **state)
{
	struct table *t = table__new();
	uint64_t v = 0;

	(void)state;
	assert_int_equal(table__add(t, 0, 10, &v), 1);
	assert_int_equal(table__add(t, UINT64_MAX, 11, &v), 1);
	assert_int_equal(table__add(t, 0, 12, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(table__get(t, 0, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(table__get(t, UINT64_MAX, &v), 0);
	assert_int_equal(v, 11);
	assert_int_equal(table__count(t), 2);
	table__free(t);
}

/* Keys that differ only above bit 32 (pointers of one arena, packed
 * pairs): the mixer spreads them, growth keeps every one. */
static void test_many(void **state)
{
	enum { N = 100000 };
	struct table *t = table__new();
	uint64_t v;

	(void)state;
	for (uint64_t i = 0; i < N; i++) {
		assert_int_equal(table__add(t, i << 32, i, &v), 1);
		assert_int_equal(table__add(t, (i << 32) | 1, N + i, &v), 1);
	}
	assert_int_equal(table__count(t), 2 * N);
	for (uint64_t i = 0; i < N; i++) {
		assert_int_equal(table__get(t, i << 32, &v), 0);
		assert_int_equal(v, i);
		assert_int_equal(table__get(t, (i << 32) | 1, &v), 0);
		assert_int_equal(v, N + i);
		assert_int_equal(table__get(t, (i << 32) | 2, &v), -ENOENT);
	}
	table__free(t);
}

static void test_clear(void **state)
{
	struct table *t = table__new();
	uint64_t v;

	(void)state;
	table__clear(t); /* before the first key: nothing to clear */
	for (uint64_t k = 0; k < 100; k++)
		assert_int_equal(table__add(t, k, k + 1, &v), 1);
	table__clear(t);
	assert_int_equal(table__count(t), 0);
	for (uint64_t k = 0; k < 100; k++)
		assert_int_equal(table__get(t, k, &v), -ENOENT);
	assert_int_equal(table__add(t, 5, 50, &v), 1);
	assert_int_equal(table__add(t, 0, 60, &v), 1);
	assert_int_equal(table__get(t, 5, &v), 0);
	assert_int_equal(v, 50);
	assert_int_equal(table__count(t), 2);
	table__free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_add_get),
		cmocka_unit_test(test_edge_keys),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_clear),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
