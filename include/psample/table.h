/*
 * table.h - a map from uint64_t keys to uint64_t values, for the tables
 * that number things: a string by its interned pointer, a thread by its
 * tid.  A value is a plain integer, an id or an index into the caller's
 * own array, so the caller keeps its records where it likes.
 *
 * Open addressing with linear probing over a power-of-two array kept at
 * most half full, so a probe run stays short and always ends at an empty
 * slot.  Every key is allowed, 0 included.
 */
#ifndef PSAMPLE_TABLE_H
#define PSAMPLE_TABLE_H

#include <stdint.h>

struct table;

/* An empty table (no memory for slots until the first key); NULL. */
struct table *table__new(void);
void table__free(struct table *t);

/* key's value in *val; -ENOENT if key is absent. */
int table__get(const struct table *t, uint64_t key, uint64_t *val);

/*
 * Add key with value val unless it is there.  *cur gets the value key
 * now has (val, or the one it already had).  1 if key was added, 0 if it
 * was there; -ENOMEM, past 2^30 keys too.
 */
int table__add(struct table *t, uint64_t key, uint64_t val, uint64_t *cur);

/* The number of keys. */
uint32_t table__count(const struct table *t);

/* Forget every key; the slots are kept for reuse. */
void table__clear(struct table *t);

#endif
