/*
 * fakemem.h - a fake target address space for unit tests, and builders
 * that lay out a synthetic CPython 3.11 interpreter in it.
 *
 * The walker only ever sees the target through struct mem, so a test can
 * hand it an address space made of a few byte arrays and change them
 * between samples the way a running interpreter would (push a frame,
 * start a thread, free and reuse a code object), or corrupt them.
 *
 * Every offset comes from the py_layout; the test never knows where a
 * field is except through it.  Alongside the target bytes, the builders
 * keep a plain model of what they built (which code object each frame
 * runs, at which code unit) so tests can say what a sample must contain.
 */
#ifndef PSAMPLE_TESTS_FAKEMEM_H
#define PSAMPLE_TESTS_FAKEMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "psample/mem.h"
#include "psample/pylayout.h"
#include "psample/target.h"

/* ---- the address space ------------------------------------------------ */

struct fakemem;

struct fakemem *fakemem__new(void);
void fakemem__free(struct fakemem *fm);

/* Make struct mem read fm: sets its ops and priv. */
void fakemem__attach(struct fakemem *fm, struct mem *m);

/*
 * Map [addr, addr + len) zero-filled, as one region: reads that cross its
 * end fail even if the next region is adjacent (a real mapping boundary
 * can be too).  Returns the host copy of the bytes.
 */
uint8_t *fakemem__map(struct fakemem *fm, uint64_t addr, size_t len);
void fakemem__unmap(struct fakemem *fm, uint64_t addr);

/* The host bytes for [addr, addr + len) if one region holds them all. */
uint8_t *fakemem__ptr(struct fakemem *fm, uint64_t addr, size_t len);

/*
 * A heap allocation: 16-byte aligned, inside large arenas like a real
 * allocator's, so reading a little past an object still works.  Every
 * allocation is also remembered as a span (see below).
 */
uint64_t fakemem__alloc(struct fakemem *fm, size_t len);

/* Writes; the bytes must be mapped. */
void fakemem__w64(struct fakemem *fm, uint64_t addr, uint64_t v);
void fakemem__w32(struct fakemem *fm, uint64_t addr, uint32_t v);
void fakemem__w8(struct fakemem *fm, uint64_t addr, uint8_t v);
void fakemem__write(struct fakemem *fm, uint64_t addr, const void *buf,
		    size_t len);
uint64_t fakemem__r64(struct fakemem *fm, uint64_t addr);

/*
 * Make every readv fail as a whole with err (-ESRCH: the process died);
 * 0 restores normal reads.
 */
void fakemem__fail(struct fakemem *fm, int err);

/*
 * Call fn before each iovec of each readv is served (call counts readv
 * calls from 1; addr is where the iovec reads), so a test can change the
 * image in the middle of a batch the way a running thread would.  NULL
 * removes it.
 */
typedef void fakemem_hook_fn(void *arg, uint64_t call, size_t iov,
			     uint64_t addr);
void fakemem__hook(struct fakemem *fm, fakemem_hook_fn *fn, void *arg);

/* Readv calls and iovecs served since creation, and how many failed. */
uint64_t fakemem__calls(const struct fakemem *fm);
uint64_t fakemem__iovs(const struct fakemem *fm);
uint64_t fakemem__faults(const struct fakemem *fm);

/*
 * Spans: the pieces of the image worth corrupting (object headers, frame
 * headers, chunk headers, strings), so that a fuzzer spends its flips on
 * bytes the walker reads rather than on empty chunk space.
 */
void fakemem__span(struct fakemem *fm, uint64_t addr, size_t len);
size_t fakemem__nspans(const struct fakemem *fm);
void fakemem__span_at(const struct fakemem *fm, size_t i, uint64_t *addr,
		      size_t *len);

/*
 * A journal of writes made through fakemem__poke, so a fuzzer can undo
 * its corruption exactly and go back to the valid image.
 */
void fakemem__poke(struct fakemem *fm, uint64_t addr, const void *buf,
		   size_t len);
void fakemem__rollback(struct fakemem *fm);

/* ---- a synthetic CPython 3.11 --------------------------------------- */

/* A stretch of code units on one line; line -1 = no location (code 15). */
struct fpy_line {
	int32_t line;
	uint32_t units;
};

#define FPY_MAX_LINES 32

struct fpy_code {
	uint64_t addr;
	char name[64], qualname[96], filename[96];
	int32_t firstlineno;
	uint32_t nunits;
	uint32_t nlines;
	struct fpy_line lines[FPY_MAX_LINES];
	uint64_t name_obj, qualname_obj, filename_obj, linetable_obj;
	struct fpy_code *next; /* all code models, for freeing */
};

struct fpy_frame {
	uint64_t addr;
	struct fpy_code *code;
	int32_t unit; /* code unit prev_instr points at; -1 not started */
	bool stray; /* outside the data stack (a generator's frame) */
};

#define FPY_MAX_CHUNKS 16

struct fpy_thread {
	uint64_t ts;
	uint64_t cframe;
	uint64_t interp;
	int64_t tid;
	uint64_t thread_id;
	uint32_t chunk_size;
	uint32_t nchunks;
	uint64_t chunks[FPY_MAX_CHUNKS]; /* oldest first */
	uint64_t top; /* datastack_top */
	uint32_t depth, cap;
	struct fpy_frame *frames; /* outermost first */
	struct fpy_thread *next; /* all thread models, for freeing */
};

struct fpy {
	struct fakemem *fm;
	const struct py_layout *l;
	struct py_target *t;
	uint64_t runtime;
	uint64_t code_type;
	uint64_t str_type;
	uint64_t bytes_type;
	uint64_t type_type;
	uint64_t dict_type;
	uint64_t interp; /* the first (main) interpreter */
	uint64_t next_chunk; /* where the next chunk is mapped */
	struct fpy_code *codes;
	struct fpy_thread *threads;
};

/* Bytes each frame takes on the data stack: header plus a few locals. */
#define FPY_FRAME_STRIDE(l) ((l)->fr_size + 40)

/* An image with _PyRuntime, PyCode_Type and one interpreter, no threads. */
struct fpy *fpy__new(void);
/* The same with another layout (objects only, or 3.11-shaped frames). */
struct fpy *fpy__new_with(const struct py_layout *l);
void fpy__free(struct fpy *p);

/* Another interpreter, linked at the head of the runtime's list. */
uint64_t fpy__interp(struct fpy *p);

/* Compact ASCII str and bytes objects. */
uint64_t fpy__str(struct fpy *p, const char *s);
uint64_t fpy__bytes(struct fpy *p, const void *data, size_t len);

/*
 * Encode a 3.11 location table for lines[]: one "no columns" entry per
 * up-to-8 units (first one carrying the line delta), "no location"
 * entries for line -1.  Returns the bytes written into out (at most cap).
 */
size_t fpy__linetable(int32_t firstlineno, const struct fpy_line *lines,
		      uint32_t n, uint8_t *out, size_t cap);

/* A code object; the model is owned by p. */
struct fpy_code *fpy__code(struct fpy *p, const char *filename,
			   const char *name, const char *qualname,
			   int32_t firstlineno, const struct fpy_line *lines,
			   uint32_t nlines);

/*
 * Reuse the memory of code object c for another function: new name
 * objects, first line and line table (lines keep their offsets from the
 * first line), same number of code units.
 */
void fpy__code_reuse(struct fpy *p, struct fpy_code *c, const char *name,
		     const char *qualname, int32_t firstlineno);

/* The line of code unit unit, as the encoded table says. */
int32_t fpy_code__line(const struct fpy_code *c, int32_t unit);

/*
 * A thread of interp (linked at the head of its thread list, as CPython
 * does) with an empty data stack of one chunk of chunk_size bytes.
 */
struct fpy_thread *fpy__thread(struct fpy *p, uint64_t interp, int64_t tid,
			       uint64_t thread_id, uint32_t chunk_size);

/* Take th out of its interpreter's list (its memory stays mapped). */
void fpy__unlink(struct fpy *p, struct fpy_thread *th);

/*
 * Call code: push a frame on th's data stack, starting a new chunk when
 * the newest one is full, and make it the current frame.
 */
struct fpy_frame *fpy__push(struct fpy *p, struct fpy_thread *th,
			    struct fpy_code *code, int32_t unit);

/* Like fpy__push, but the frame lives in heap memory (a generator's). */
struct fpy_frame *fpy__push_stray(struct fpy *p, struct fpy_thread *th,
				  struct fpy_code *code, int32_t unit);

/* Return from the current frame (freeing a chunk that becomes empty). */
void fpy__pop(struct fpy *p, struct fpy_thread *th);

/* Move frame i (0 = outermost) to another code unit. */
void fpy__set_unit(struct fpy *p, struct fpy_thread *th, uint32_t i,
		   int32_t unit);

/* ---- objects, for thread names ---------------------------------------- */

/* A heap type (flags as tp_flags) whose metatype is type. */
uint64_t fpy__type(struct fpy *p, uint64_t flags, uint64_t basicsize,
		   int64_t dictoffset, uint64_t cached_keys);

/*
 * A keys object of the layout's family holding names[i] (NULL: a deleted
 * entry) with values[i] (values NULL: a split table); kind is dk_kind
 * (0 general, 1 unicode, 2 split) where the layout has one.
 */
uint64_t fpy__keys(struct fpy *p, const char *const *names,
		   const uint64_t *values, uint32_t n, int kind);

/* A values array (PyDictValues) holding values[0..n). */
uint64_t fpy__values(struct fpy *p, const uint64_t *values, uint32_t n);

/* A dict object with these keys and values (0: combined). */
uint64_t fpy__dict(struct fpy *p, uint64_t keys, uint64_t values);

/* An object of type with before bytes in front and size bytes in all. */
uint64_t fpy__object(struct fpy *p, uint64_t type, uint32_t before,
		     uint32_t size);

#endif
