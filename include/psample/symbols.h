/*
 * symbols.h - code objects of a target, read once and cached.
 *
 * A sample names each frame by its code object's address.  The cache maps
 * that address to what the code object says (names, file, line table),
 * decoded once.  Addresses are reused when code objects die, so an entry
 * also keeps the object's identity (pycode__ident) and callers compare it
 * on every use with what they just read.
 */
#ifndef PSAMPLE_SYMBOLS_H
#define PSAMPLE_SYMBOLS_H

#include <stdbool.h>
#include <stdint.h>

#include "psample/linetable.h"
#include "psample/target.h"

struct py_code {
	uint64_t addr;
	uint64_t ident;
	uint64_t nunits; /* code units, 0 if unknown */
	int32_t firstlineno;
	uint64_t framesize; /* bytes on the data stack; 0 unknown */
	int32_t nlocalsplus; /* -1 unknown */
	char *name; /* UTF-8; lone surrogates kept as 3-byte */
	char *qualname; /* = name where the version has none */
	char *filename;
	struct py_lines lines;
	/* Free-threaded 3.14+: where thread-local copies 1..7 of the
	 * bytecode start (0 = not read yet). */
	uint64_t tlbc_base[8];
	/* Names this entry among every entry of every cache of this
	 * process, for as long as it runs: never 0, never reused. */
	uint64_t serial;
	/* CPython's own trampoline, not user code: 3.13+'s _Py_InitCleanup
	 * (between a class call and its __init__).  Never shown. */
	bool shim;
	/* 3.8-3.10 (layout co_bytecode): co_code's bytes, NULL if not read. */
	uint8_t *bytecode;
	uint64_t nbytecode;
};

struct py_codes;

struct py_codes *py_codes__new(void);
void py_codes__free(struct py_codes *c);

/*
 * The entry for a code object whose header (layout->co_size bytes) was
 * just read as hdr: the cached one if its identity matches, else a new
 * one, read from the target now (strings and line table).  Returns NULL
 * with *err set if the header is not a code object of this target or its
 * contents cannot be read.
 */
struct py_code *py_codes__get(struct py_codes *c, struct py_target *t,
			      uint64_t addr, const uint8_t *hdr, int *err);

/*
 * The entry cached for addr, without reading the target or checking that
 * the code object there is still the same one: for hints only (a frame's
 * size), never for what a sample shows.  NULL if none.
 */
const struct py_code *py_codes__peek(const struct py_codes *c, uint64_t addr);

/*
 * Between samples: drop everything if the cache has grown past its bound.
 * Entries returned before are invalid afterwards.
 */
void py_codes__trim(struct py_codes *c);

/* Entries currently cached; how many were loaded (misses) so far. */
uint64_t py_codes__count(const struct py_codes *c);
uint64_t py_codes__loads(const struct py_codes *c);

/*
 * Decode a compact str object whose first layout->str_compact_data bytes
 * are hdr, reading its characters from the target; returns a malloc'ed
 * UTF-8 string or NULL with *err set.  At most max characters are kept.
 */
char *py_str__read(struct py_target *t, uint64_t addr, uint32_t max, int *err);

#endif
