/*
 * linetable.c - decoding CPython line tables into (code unit -> line) ranges.
 *
 * A table is walked once per code object and turned into a sorted array of
 * ranges, so that each sample costs one binary search.  Tables are read
 * from another process and may be torn or garbage: every read is bounded
 * by len, every loop by the table length, and the number of ranges is
 * capped.  Whatever was decoded before the data stopped making sense is
 * kept.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "psample/linetable.h"

/* Far more than any real code object has; bounds memory for garbage. */
#define PY_LINES_MAX_RANGES (1u << 20)

/* 3.10: a line delta of -128 marks a range without a line. */
#define PY_310_NO_LINE (-128)

/* 3.11+ location entry codes with a meaning for lines. */
#define PY_LOC_ONE_LINE0 10
#define PY_LOC_ONE_LINE2 12
#define PY_LOC_NO_COLUMNS 13
#define PY_LOC_LONG 14
#define PY_LOC_NONE 15

/*
 * Lines are carried in 64 bits while decoding so that garbage deltas cannot
 * overflow; a line that does not fit a positive int32 is recorded as "no
 * line", as CPython reports negative lines as None.
 */
static int32_t py_line__clamp(int64_t line)
{
	if (line < 0 || line > INT32_MAX)
		return -1;
	return (int32_t)line;
}

/*
 * Make [start, ...) have line.  Starts never decrease; a repeated start
 * overrides the previous range (lnotab chains several pairs on one
 * address), and a range with the same line as its predecessor is dropped
 * so that lookups see the smallest equivalent array.  -ENOSPC when the cap
 * is reached.
 */
static int py_lines__add(struct py_lines *l, uint32_t *cap, uint32_t start,
			 int32_t line)
{
	struct py_line_range *v;
	uint32_t ncap;

	if (l->n && l->v[l->n - 1].start == start) {
		l->v[l->n - 1].line = line;
		if (l->n > 1 && l->v[l->n - 2].line == line)
			l->n--;
		return 0;
	}
	if (l->n && l->v[l->n - 1].line == line)
		return 0;
	if (l->n == PY_LINES_MAX_RANGES)
		return -ENOSPC;
	if (l->n == *cap) {
		ncap = *cap ? *cap * 2 : 16;
		if (ncap > PY_LINES_MAX_RANGES)
			ncap = PY_LINES_MAX_RANGES;
		v = realloc(l->v, ncap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		*cap = ncap;
	}
	l->v[l->n].start = start;
	l->v[l->n].line = line;
	l->n++;
	return 0;
}

/*
 * 3.8/3.9 co_lnotab: (byte address increment, signed line increment)
 * pairs.  Each pair ends at a point (address, line); an instruction has the
 * line of the last point at or before it, the first point being
 * (0, firstlineno).  Large jumps are chained pairs with a zero increment
 * on one side, which the "last point wins" rule handles by itself.  The
 * table does not say where the code ends, so the last line extends to the
 * end of the address space.
 */
static int py_lines__build_lnotab(struct py_lines *l, uint32_t *cap,
				  const uint8_t *t, size_t len)
{
	int64_t line = l->firstlineno;
	uint64_t addr = 0;
	uint32_t unit;
	size_t i;
	int err;

	l->end = UINT32_MAX;
	err = py_lines__add(l, cap, 0, py_line__clamp(line));
	if (err)
		return err;
	for (i = 0; i + 1 < len; i += 2) {
		addr += t[i];
		line += (int8_t)t[i + 1];
		/* Units covered: those whose byte address is >= addr. */
		if ((addr + 1) / 2 >= UINT32_MAX)
			break;
		unit = (uint32_t)((addr + 1) / 2);
		err = py_lines__add(l, cap, unit, py_line__clamp(line));
		if (err == -ENOSPC) {
			l->end = unit;
			break;
		}
		if (err)
			return err;
	}
	return 0;
}

/*
 * 3.10 co_linetable (PEP 626): (byte length, signed line delta) pairs, each
 * a range following the previous one.  Zero-length pairs only move the
 * running line (deltas beyond +-127 are split that way); -128 means the
 * range has no line and leaves the running line as it was.
 */
static int py_lines__build_310(struct py_lines *l, uint32_t *cap,
			       const uint8_t *t, size_t len)
{
	int64_t line = l->firstlineno;
	uint64_t end = 0;
	uint32_t unit;
	int32_t r;
	size_t i;
	int err;

	for (i = 0; i + 1 < len; i += 2) {
		int8_t ld = (int8_t)t[i + 1];

		if (ld == PY_310_NO_LINE) {
			r = -1;
		} else {
			line += ld;
			r = py_line__clamp(line);
		}
		if (!t[i])
			continue;
		/* Units whose byte address 2u falls in [end, end + t[i]). */
		unit = (uint32_t)((end + 1) / 2);
		if ((end + t[i] + 1) / 2 >= UINT32_MAX)
			break;
		err = py_lines__add(l, cap, unit, r);
		if (err == -ENOSPC)
			break;
		if (err)
			return err;
		end += t[i];
		l->end = (uint32_t)((end + 1) / 2);
	}
	return 0;
}

/*
 * Reads a 3.11+ varint (6 bits per byte, least significant first, 0x40 =
 * more) from t[*i] without going past the current entry, which ends at
 * the next byte with bit 7 set.  -1 when the varint is cut short.
 */
static int py_lines__varint(const uint8_t *t, size_t len, size_t *i,
			    uint64_t *val)
{
	unsigned int shift = 0;
	uint8_t b;

	*val = 0;
	do {
		if (*i >= len || (t[*i] & 0x80))
			return -1;
		b = t[(*i)++];
		/* Real values fit 32 bits; ignore what garbage shifts out. */
		if (shift < 64)
			*val |= (uint64_t)(b & 0x3f) << shift;
		shift += 6;
	} while (b & 0x40);
	return 0;
}

static int py_lines__svarint(const uint8_t *t, size_t len, size_t *i,
			     int64_t *val)
{
	uint64_t u, mag;

	if (py_lines__varint(t, len, i, &u))
		return -1;
	/* Sign in the low bit, magnitude above it. */
	mag = u >> 1;
	if (mag > INT32_MAX)
		mag = INT32_MAX;
	*val = (u & 1) ? -(int64_t)mag : (int64_t)mag;
	return 0;
}

/*
 * 3.11+ location table: entries of one byte 1CCCCLLL (code C, covering
 * L + 1 code units) followed by bytes with bit 7 clear.  Only the line
 * matters here: codes 10-12 add C - 10, 13 and 14 start with a signed
 * varint delta, 15 has no location and keeps the running line, the short
 * forms keep it too.  Entries are delimited by bit 7 as CPython does, so a
 * form whose columns we skip needs no exact length.
 */
static int py_lines__build_locations(struct py_lines *l, uint32_t *cap,
				     const uint8_t *t, size_t len)
{
	int64_t line = l->firstlineno;
	uint64_t end = 0;
	int64_t delta;
	unsigned int code, n;
	size_t i = 0, j;
	int32_t r;
	int err;

	while (i < len) {
		if (!(t[i] & 0x80))
			break;
		code = (t[i] >> 3) & 15;
		n = (t[i] & 7) + 1;
		j = i + 1;
		delta = 0;
		if (code >= PY_LOC_ONE_LINE0 && code <= PY_LOC_ONE_LINE2)
			delta = code - PY_LOC_ONE_LINE0;
		else if (code == PY_LOC_NO_COLUMNS || code == PY_LOC_LONG)
			if (py_lines__svarint(t, len, &j, &delta))
				break;
		line += delta;
		r = code == PY_LOC_NONE ? -1 : py_line__clamp(line);
		if (end + n >= UINT32_MAX)
			break;
		err = py_lines__add(l, cap, (uint32_t)end, r);
		if (err == -ENOSPC)
			break;
		if (err)
			return err;
		end += n;
		l->end = (uint32_t)end;
		while (j < len && !(t[j] & 0x80))
			j++;
		i = j;
	}
	return 0;
}

int py_lines__build(struct py_lines *out, enum py_linetable_kind kind,
		    const uint8_t *table, size_t len, int32_t firstlineno)
{
	uint32_t cap = 0;
	int err;

	memset(out, 0, sizeof(*out));
	out->firstlineno = firstlineno;
	if (!table)
		len = 0;
	switch (kind) {
	case PY_LINETABLE_LNOTAB:
		err = py_lines__build_lnotab(out, &cap, table, len);
		break;
	case PY_LINETABLE_310:
		err = py_lines__build_310(out, &cap, table, len);
		break;
	case PY_LINETABLE_LOCATIONS:
		err = py_lines__build_locations(out, &cap, table, len);
		break;
	default: return -EINVAL;
	}
	if (err)
		py_lines__release(out);
	return err;
}

int32_t py_lines__lookup(const struct py_lines *l, int32_t lasti)
{
	uint32_t lo = 0, hi, mid, u;

	if (lasti == -1)
		return l->firstlineno;
	if (lasti < 0)
		return -1;
	u = (uint32_t)lasti;
	if (u >= l->end || !l->n || l->v[0].start > u)
		return -1;
	/* Last range starting at or before u: v[lo].start <= u < v[hi]. */
	hi = l->n;
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (l->v[mid].start <= u)
			lo = mid;
		else
			hi = mid;
	}
	return l->v[lo].line;
}

void py_lines__release(struct py_lines *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
	l->end = 0;
}
