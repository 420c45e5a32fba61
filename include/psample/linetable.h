/*
 * linetable.h - decoding CPython line tables into (instruction -> line).
 *
 * Three encodings exist: co_lnotab (3.8, 3.9), co_linetable as in PEP 626
 * (3.10) and the location table (3.11+).  A table is decoded once per code
 * object into ranges, then looked up per sample by binary search.
 *
 * All instruction positions here are in code units (2 bytes), whatever
 * unit the version's own table uses; -1 means "not started yet" and maps
 * to co_firstlineno, as CPython itself does.
 */
#ifndef PSAMPLE_LINETABLE_H
#define PSAMPLE_LINETABLE_H

#include <stddef.h>
#include <stdint.h>

enum py_linetable_kind {
	PY_LINETABLE_LNOTAB = 1, /* 3.8, 3.9: co_lnotab, byte addresses */
	PY_LINETABLE_310, /* 3.10: co_linetable (PEP 626) */
	PY_LINETABLE_LOCATIONS, /* 3.11+: location table */
};

struct py_line_range {
	uint32_t start; /* first code unit of the range */
	int32_t line; /* -1: no line */
};

struct py_lines {
	int32_t firstlineno;
	uint32_t end; /* code units covered by the table */
	uint32_t n;
	struct py_line_range *v; /* sorted by start, owned */
};

/*
 * Decode table into *out.  Malformed or truncated tables are not an error:
 * decoding stops where the data stops (it came from another process and
 * may be torn), so a lookup beyond it gives -1.  -ENOMEM, or -EINVAL for an
 * unknown kind.
 */
int py_lines__build(struct py_lines *out, enum py_linetable_kind kind,
		    const uint8_t *table, size_t len, int32_t firstlineno);

/* The line of the instruction at code unit lasti; -1 if it has none. */
int32_t py_lines__lookup(const struct py_lines *l, int32_t lasti);

void py_lines__release(struct py_lines *l);

#endif
