/*
 * resolve.h - the one resolver: raw stacks into code objects, names and
 * exact lines, for every reader of a target.
 *
 * It owns the code cache (symbols.h), the per-sample table of code
 * headers, thread-local bytecode lookup and line lookup.  A sample's
 * code headers are read in batches: those of the code objects the last
 * sample saw (the hot set) inside the reader's own batch, the rest in one
 * more batch once the stacks are known.
 */
#ifndef PSAMPLE_RESOLVE_H
#define PSAMPLE_RESOLVE_H

#include <stdbool.h>
#include <stdint.h>

#include "psample/mem.h"
#include "psample/walker.h"
#include "psample/rawstack.h"

struct py_resolver;

int py_resolver__new(struct py_target *t, struct py_resolver **out);
void py_resolver__free(struct py_resolver *r);

/* A sample begins: drop the cache if it has grown past its bound.
 * Frames resolved before are invalid afterwards. */
void py_resolver__trim(struct py_resolver *r);

/*
 * Start this sample's code table and ask b for the hot set's headers;
 * after b is read, py_resolver__collect takes the results.  0, -ENOMEM.
 */
int py_resolver__plan(struct py_resolver *r, struct mem_batch *b);
void py_resolver__collect(struct py_resolver *r, const struct mem_batch *b);

/*
 * Hints for a walk, never for what a sample shows: the bytes a frame of
 * code takes on the data stack (0 unknown) and its co_nlocalsplus (-1
 * unknown), from this sample's headers or else the cache (a code object
 * seen before, maybe freed since).
 */
uint64_t py_resolver__framesize(const struct py_resolver *r, uint64_t code);
int32_t py_resolver__nlocalsplus(const struct py_resolver *r, uint64_t code);

/*
 * 3.8-3.10: whether a frame of code at position pos (its f_lasti) sits on
 * a call instruction (CALL_FUNCTION, _KW, _EX, CALL_METHOD), by the code's
 * cached bytecode: then it is in a call, whatever happens next.  False
 * when it does not or cannot be told (code not cached yet).  A hint: the
 * cache entry is not checked against the target here.
 */
bool py_resolver__at_call(const struct py_resolver *r, uint64_t code,
			  uint64_t pos);

/*
 * Read in one batch the headers of every code object in the n stacks
 * that this sample has not read yet.  The number of headers read, or a
 * negative error.
 */
int py_resolver__headers(struct py_resolver *r,
			 const struct py_rawstack *const *stacks, uint32_t n);

/*
 * Name the frames of raw into out (PY_MAX_DEPTH of them): its Python
 * frames, innermost first, less those a stale copy left above a caller
 * that had moved on (*dropped of them).  0 with *depth set, or a
 * negative error (a code object that does not check out, a position out
 * of range) with *depth 0.
 */
int py_resolver__stack(struct py_resolver *r, const struct py_rawstack *raw,
		       struct py_frame *out, uint32_t *depth,
		       uint32_t *dropped);

#endif
