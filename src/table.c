/*
 * table.c - the uint64_t -> uint64_t map of table.h.
 *
 * A slot's key 0 marks it empty, so key 0 itself is held beside the
 * slots.  There is no removal: the callers number things for one output
 * or drop everything at once (table__clear), and without removal linear
 * probing needs no tombstones.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "psample/hash.h"
#include "psample/table.h"

/* Slots of the first allocation; it doubles from there. */
#define TABLE_MIN_CAP 16u
/* hash__pow2 and the uint32_t counts stop here. */
#define TABLE_MAX_CAP (UINT32_C(1) << 31)

struct table_slot {
	uint64_t key; /* 0: empty */
	uint64_t val;
};

struct table {
	struct table_slot *slots;
	uint32_t cap; /* a power of two, or 0 before the first key */
	uint32_t n; /* keys in slots, not counting key 0 */
	bool has_zero;
	uint64_t zero_val;
};

struct table *table__new(void)
{
	return calloc(1, sizeof(struct table));
}

void table__free(struct table *t)
{
	if (!t)
		return;
	free(t->slots);
	free(t);
}

/* key's slot (key != 0, cap != 0), or the empty slot where it belongs. */
static struct table_slot *table__slot(const struct table *t, uint64_t key)
{
	uint32_t mask = t->cap - 1;
	uint32_t i = (uint32_t)hash__mix64(key) & mask;

	while (t->slots[i].key && t->slots[i].key != key)
		i = (i + 1) & mask;
	return &t->slots[i];
}

static int table__grow(struct table *t)
{
	struct table_slot *old = t->slots;
	uint32_t ocap = t->cap, cap = ocap ? ocap * 2 : TABLE_MIN_CAP;

	if (ocap >= TABLE_MAX_CAP)
		return -ENOMEM;
	t->slots = calloc(cap, sizeof(*t->slots));
	if (!t->slots) {
		t->slots = old;
		return -ENOMEM;
	}
	t->cap = cap;
	for (uint32_t i = 0; i < ocap; i++)
		if (old[i].key)
			*table__slot(t, old[i].key) = old[i];
	free(old);
	return 0;
}

int table__get(const struct table *t, uint64_t key, uint64_t *val)
{
	const struct table_slot *s;

	if (!key) {
		if (!t->has_zero)
			return -ENOENT;
		*val = t->zero_val;
		return 0;
	}
	if (!t->cap)
		return -ENOENT;
	s = table__slot(t, key);
	if (!s->key)
		return -ENOENT;
	*val = s->val;
	return 0;
}

int table__add(struct table *t, uint64_t key, uint64_t val, uint64_t *cur)
{
	struct table_slot *s;
	int err;

	if (!key) {
		if (t->has_zero) {
			*cur = t->zero_val;
			return 0;
		}
		t->has_zero = true;
		t->zero_val = *cur = val;
		return 1;
	}
	s = t->cap ? table__slot(t, key) : NULL;
	if (s && s->key) {
		*cur = s->val;
		return 0;
	}
	/* Grow only for a new key: looking one up never moves the slots. */
	if (!s || (t->n + 1) * 2 > t->cap) {
		if ((err = table__grow(t)))
			return err;
		s = table__slot(t, key);
	}
	s->key = key;
	s->val = *cur = val;
	t->n++;
	return 1;
}

uint32_t table__count(const struct table *t)
{
	return t->n + t->has_zero;
}

void table__clear(struct table *t)
{
	if (t->cap)
		memset(t->slots, 0, (size_t)t->cap * sizeof(*t->slots));
	t->n = 0;
	t->has_zero = false;
}
