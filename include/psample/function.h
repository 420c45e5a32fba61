/*
 * function.h - what makes two frames the same function, for everything
 * that counts by function: top's table, the per-function totals behind
 * pstats, callgrind and the end-of-run table (fstats.h), and the trie's
 * --function projection (TRIE_FUNCTIONS).
 *
 * A frame's function is the frame with the line it is at forgotten: a
 * Python frame at its code object's first line; any other frame is its
 * own function.  Two frames are the same function when their functions
 * are equal field by field, strings by content, so frames of different
 * tries compare as well as frames of one.
 */
#ifndef PSAMPLE_FUNCTION_H
#define PSAMPLE_FUNCTION_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "psample/hash.h"
#include "psample/trie.h"

/* The frame of f's function. */
static inline struct ps_frame ps_frame__function(const struct ps_frame *f)
{
	struct ps_frame fn = *f;

	if (fn.kind == PS_FRAME_PYTHON)
		fn.line = fn.firstlineno;
	return fn;
}

static inline bool ps_function__str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static inline bool ps_frame__same_function(const struct ps_frame *a,
					   const struct ps_frame *b)
{
	struct ps_frame x = ps_frame__function(a);
	struct ps_frame y = ps_frame__function(b);

	return x.kind == y.kind && x.firstlineno == y.firstlineno &&
	       x.line == y.line && x.num == y.num &&
	       ps_function__str_eq(x.name, y.name) &&
	       ps_function__str_eq(x.file, y.file) &&
	       ps_function__str_eq(x.func, y.func);
}

/* A string into a hash; NULL hashes apart from "". */
static inline uint64_t ps_function__hash_str(uint64_t h, const char *s)
{
	if (!s)
		return hash__mix64(h ^ UINT64_C(0x9e3779b97f4a7c15));
	return hash__mix64(hash__fnv1a(h, s, strlen(s)) + 1);
}

/* A hash of f's function: equal for frames of the same function. */
static inline uint64_t ps_frame__function_hash(const struct ps_frame *f)
{
	struct ps_frame fn = ps_frame__function(f);
	uint64_t h = hash__mix64(HASH_FNV_OFFSET ^ fn.kind ^
				 ((uint64_t)(uint32_t)fn.firstlineno << 8) ^
				 ((uint64_t)(uint32_t)fn.line << 40));

	h = ps_function__hash_str(hash__mix64(h ^ fn.num), fn.name);
	h = ps_function__hash_str(h, fn.file);
	return ps_function__hash_str(h, fn.func);
}

#endif
