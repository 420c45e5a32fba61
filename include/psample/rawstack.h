/*
 * rawstack.h - a thread's Python stack as the interpreter's frames hold
 * it, before anything is named.
 *
 * A reader of the target (the process_vm_readv walker, later the eBPF
 * program) produces raw stacks; the resolver (resolve.h) alone turns them
 * into code objects, names and lines, so that readers cannot disagree on
 * what a frame means.  Frames that are not Python code (the shim at the
 * base of each C-level call into the interpreter, a frame without code)
 * are kept and marked: dropping them is the resolver's decision, and
 * merging native frames needs to know where they were.
 */
#ifndef PSAMPLE_RAWSTACK_H
#define PSAMPLE_RAWSTACK_H

#ifndef __bpf__ /* the eBPF program takes these from vmlinux.h */
#include <stdbool.h>
#include <stdint.h>
#endif

enum py_raw_mark {
	/* an interpreter shim (3.12+ owner >= owner_skip): the base of an
	 * eval loop entered from C, not Python code */
	PY_RAW_SHIM = 1u << 0,
	/* the frame holds no code object */
	PY_RAW_NOCODE = 1u << 1,
	/* the first Python frame of an eval loop entered from C: 3.11's
	 * is_entry, or the frame right above a shim */
	PY_RAW_ENTRY = 1u << 2,
};

/* Frames a raw stack holds at most, Python and marked together. */
#define PY_RAW_MAX_DEPTH 4096

/* Not read from a data-stack chunk (a frame object, a generator's). */
#define PY_RAW_NO_CHUNK UINT32_MAX

struct py_rawentry {
	uint64_t code; /* the code object's address, tag bits cleared */
	uint64_t pos; /* instruction pointer or f_lasti, as the frame has it */
	uint64_t addr; /* the frame's own address */
	int32_t tlbc; /* free-threaded 3.14+: the thread's bytecode copy pos
			 points into (0: co_code itself) */
	uint32_t chunk; /* data-stack chunk it was read from, 0 the newest;
			   PY_RAW_NO_CHUNK */
	uint32_t marks; /* enum py_raw_mark */
};

struct py_rawstack {
	uint32_t depth; /* entries in frames, innermost first */
	uint32_t cap;
	bool truncated; /* deeper than PY_MAX_DEPTH Python frames */
	int err; /* 0, or why the stack is missing or partial */
	struct py_rawentry *frames;
};

/* Whether the entry is Python code the resolver names. */
static inline bool py_rawentry__is_code(const struct py_rawentry *e)
{
	return !(e->marks & (PY_RAW_SHIM | PY_RAW_NOCODE));
}

#endif
