/*
 * pylayout.h - where things are inside a CPython interpreter, per version,
 * and the pure decode steps of a frame walk.
 *
 * A struct py_layout holds every offset the walker needs, as plain
 * numbers: one table entry per version family (src/python/layout_3XX.c),
 * or, for 3.13+, filled in from the target's own _Py_DebugOffsets.
 *
 * The decode functions and frame rules at the bottom take bytes that
 * were already read and never read memory themselves, and use no libc
 * (the build compiles them for BPF: tests/bpf/pylayout_check.bpf.c).
 * This is the part the eBPF backend shares: it does its own reads
 * (bpf_probe_read_user) into buffers and calls the same functions on the
 * same layout, so the two backends cannot disagree on what a frame
 * means.
 */
#ifndef PSAMPLE_PYLAYOUT_H
#define PSAMPLE_PYLAYOUT_H

#ifndef __bpf__
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#endif

enum py_layout_flags {
	/* ts->frame leads to a _PyCFrame whose current_frame is the frame */
	PY_L_CFRAME = 1u << 0,
	/* the position is a pointer into the code (else an int f_lasti) */
	PY_L_INSTR_PTR = 1u << 1,
	/* an int f_lasti counts bytes (3.8/3.9), else code units */
	PY_L_LASTI_BYTES = 1u << 2,
	/* PyThreadState has native_thread_id */
	PY_L_NATIVE_TID = 1u << 3,
	/* code objects have co_qualname */
	PY_L_QUALNAME = 1u << 4,
	/* frames live in data-stack chunks (3.11+) */
	PY_L_CHUNKS = 1u << 5,
	/* the frame's code slot is a tagged _PyStackRef (3.14+) */
	PY_L_TAGGED_CODE = 1u << 6,
	/* the frame has an owner byte; owners >= owner_skip are shims */
	PY_L_OWNER = 1u << 7,
	/* compact unicode layout without wstr (3.12+) */
	PY_L_STR_NO_WSTR = 1u << 8,
	/* frames are PyFrameObjects (3.8-3.10): ob_type is &PyFrame_Type */
	PY_L_FRAME_OBJECT = 1u << 9,
	/* per-thread copies of the bytecode (free-threaded 3.14+): a frame's
	 * position may point into co_tlbc[tlbc_index], not co_code */
	PY_L_TLBC = 1u << 10,
	/* the GIL is a _gil_runtime_state inside _PyRuntime at rt_gil
	 * (3.8-3.11), else interp->ceval.gil points to it (3.12+) */
	PY_L_GIL_IN_RUNTIME = 1u << 11,
	/* the GC state is inside _PyRuntime (3.8), else the interpreter */
	PY_L_GC_IN_RUNTIME = 1u << 12,
	/* free-threaded build: no GIL to hold */
	PY_L_FREE_THREADED = 1u << 13,
	/* dict keys objects have dk_log2_size and one- or three-word
	 * entries by kind (3.11+), else dk_size and three-word entries */
	PY_L_DICT_LOG2 = 1u << 14,
	/* instances of Py_TPFLAGS_MANAGED_DICT types keep their dict (or
	 * values) before the object, at managed_dict (3.11+) */
	PY_L_MANAGED_DICT = 1u << 15,
	/* the managed word is a dict, or values tagged with bit 0 (3.12) */
	PY_L_DICT_OR_VALUES = 1u << 16,
	/* Py_TPFLAGS_INLINE_VALUES: values follow the object (3.13+) */
	PY_L_INLINE_VALUES = 1u << 17,
	/* free-threaded build that says where _gil_runtime_state.enabled
	 * is: the GIL is in use while that int is not 0 (PYTHON_GIL=1, or
	 * an extension module not marked free-threading safe) */
	PY_L_GIL_SWITCH = 1u << 18,
	/* the frame's int stacktop (fr_stacktop) is -1 while the frame
	 * runs, and its stack depth once it has called or returned
	 * (3.11-3.13): the running frame can be told from one copy of
	 * the stack, without the current-frame word */
	PY_L_RUN_MARK = 1u << 19,
};

/* Read sizes are bounded so a layout can never ask for huge reads. */
#define PY_MAX_READ 512

/*
 * An offset into a buffer of read bytes.  A BPF program takes its layout
 * from a map, so the verifier knows nothing of the offsets: masked, each
 * provably stays inside a buffer of PY_MAX_READ + 8 bytes.  Every offset
 * of a valid layout is below PY_MAX_READ, so the mask changes nothing.
 */
#ifdef __bpf__
#define PY_OFF(off) ((off) & (PY_MAX_READ - 1))
#else
#define PY_OFF(off) (off)
#endif

struct py_layout {
	const char *name; /* "3.11" */
	uint32_t flags; /* enum py_layout_flags */
	uint32_t linetable; /* enum py_linetable_kind */

	/* _PyRuntime */
	uint32_t rt_interp_head; /* interpreters.head */

	/* PyInterpreterState */
	uint32_t is_next;
	uint32_t is_threads_head;

	/* PyThreadState */
	uint32_t ts_size; /* bytes read: covers every field below */
	uint32_t ts_next;
	uint32_t ts_interp;
	uint32_t ts_frame; /* frame, cframe or current_frame */
	uint32_t cf_current; /* PY_L_CFRAME: cframe->current_frame */
	uint32_t ts_thread_id; /* pthread_self() of the thread */
	uint32_t ts_native_tid; /* PY_L_NATIVE_TID */
	uint32_t ts_chunk; /* PY_L_CHUNKS: datastack_chunk */
	uint32_t ts_top; /* PY_L_CHUNKS: datastack_top */

	/* data-stack chunk */
	uint32_t ck_prev;
	uint32_t ck_size;
	uint32_t ck_top; /* words used; saved when a newer is pushed */
	uint32_t ck_data;

	/* frame (PyFrameObject or _PyInterpreterFrame) */
	uint32_t fr_size; /* bytes read */
	uint32_t fr_code;
	uint32_t fr_back;
	uint32_t fr_pos; /* instr pointer or f_lasti */
	uint32_t fr_owner; /* PY_L_OWNER */
	uint32_t owner_skip; /* owners >= this are not Python frames */
	uint32_t owner_max; /* owners > this are corrupt */
	uint32_t fr_tlbc; /* PY_L_TLBC: int32 tlbc_index */
	uint32_t fr_stacktop; /* PY_L_RUN_MARK: int32 stacktop */
	uint32_t fr_is_entry; /* bool is_entry (3.11 only); 0: none */

	/* PyObject / PyVarObject */
	uint32_t ob_type;
	uint32_t ob_size;

	/* PyCodeObject */
	uint32_t co_size; /* bytes read: covers every field below */
	uint32_t co_firstlineno;
	uint32_t co_filename;
	uint32_t co_name;
	uint32_t co_qualname; /* PY_L_QUALNAME */
	uint32_t co_linetable; /* co_lnotab or co_linetable */
	uint32_t co_code; /* PY_L_INSTR_PTR: co_code_adaptive */
	/* 3.8-3.10: the co_code bytes object, whose bytes never change
	 * (0: none).  Tells a caller that sits on a call instruction. */
	uint32_t co_bytecode;
	uint32_t co_tlbc; /* PY_L_TLBC: _PyCodeArray *co_tlbc */
	/* The size of the code's frames on the data stack, in words: the
	 * co_framesize field, or (0 there) nlocalsplus + stacksize +
	 * fr_specials.  0 everywhere: unknown. */
	uint32_t co_framesize;
	uint32_t co_nlocalsplus; /* 3.11+; with PY_L_RUN_MARK, a frame
				    whose stacktop is above it is in a call */
	uint32_t co_stacksize;
	uint32_t fr_specials;

	/* compact str and bytes */
	uint32_t str_length;
	uint32_t str_state;
	uint32_t str_ascii_data; /* sizeof(PyASCIIObject) */
	uint32_t str_compact_data; /* sizeof(PyCompactUnicodeObject) */
	/* Where kind:3, compact:1, ascii:1 start in the state word: after
	 * interned:2, or after a whole interned byte (free-threaded 3.14+) */
	uint32_t str_kind_shift;
	uint32_t bytes_size;
	uint32_t bytes_data;

	/* GIL and GC state, read in every sample's batch */
	uint32_t rt_gil; /* PY_L_GIL_IN_RUNTIME: _PyRuntime.ceval.gil */
	uint32_t is_gil; /* else: interp->ceval.gil, a pointer */
	uint32_t gil_holder; /* _gil_runtime_state.last_holder */
	uint32_t gil_locked; /* _gil_runtime_state.locked, an int */
	uint32_t gil_enabled; /* PY_L_GIL_SWITCH: .enabled, an int */
	uint32_t gc_collecting; /* in _PyRuntime or the interpreter; 0
				   unknown */

	/* Instance attributes: Thread._name (read when a thread is new) */
	uint32_t fr_localsplus; /* the frame's first local, self */
	uint32_t tp_flags;
	uint32_t tp_basicsize;
	uint32_t tp_dictoffset;
	uint32_t ht_cached_keys; /* PyHeapTypeObject: split-table keys */
	uint32_t dict_keys; /* PyDictObject.ma_keys */
	uint32_t dict_values; /* PyDictObject.ma_values */
	uint32_t values_data; /* values[0] in a PyDictValues: 0, 8 (3.13+) */
	int32_t managed_dict; /* PY_L_MANAGED_DICT: from the object */
	int32_t managed_values; /* 3.11: the values pointer, from the object */
};

/* A frame as its bytes say, before any validation. */
struct py_rawframe {
	uint64_t code; /* code object address (tag bits cleared) */
	uint64_t back; /* calling frame */
	uint64_t pos; /* instruction pointer or f_lasti */
	uint32_t owner;
	int32_t tlbc; /* PY_L_TLBC: which copy of the bytecode pos is in */
};

static inline uint64_t py__u64(const uint8_t *buf, uint32_t off)
{
	uint64_t v;
	__builtin_memcpy(&v, buf + PY_OFF(off), sizeof(v));
	return v;
}

static inline int32_t py__i32(const uint8_t *buf, uint32_t off)
{
	int32_t v;
	__builtin_memcpy(&v, buf + PY_OFF(off), sizeof(v));
	return v;
}

/* Decode the frame header in buf (layout->fr_size bytes). */
static inline void pyframe__decode(const struct py_layout *l,
				   const uint8_t *buf, struct py_rawframe *f)
{
	f->code = py__u64(buf, l->fr_code);
	if (l->flags & PY_L_TAGGED_CODE)
		f->code &= ~(uint64_t)7;
	f->back = py__u64(buf, l->fr_back);
	if (l->flags & PY_L_INSTR_PTR)
		f->pos = py__u64(buf, l->fr_pos);
	else
		f->pos = (uint64_t)(int64_t)py__i32(buf, l->fr_pos);
	f->owner = (l->flags & PY_L_OWNER) ? buf[PY_OFF(l->fr_owner)] : 0;
	f->tlbc = (l->flags & PY_L_TLBC) ? py__i32(buf, l->fr_tlbc) : 0;
}

/* Whether the frame is an interpreter shim rather than Python code. */
static inline bool pyframe__is_shim(const struct py_layout *l,
				    const struct py_rawframe *f)
{
	return (l->flags & PY_L_OWNER) && f->owner >= l->owner_skip;
}

/*
 * The frame rules: what a frame's bytes and place say about it, from
 * bytes already read.  Both backends walk by these.
 */

/*
 * Whether the frame is a suspended generator's or coroutine's (3.11+:
 * owner 1, FRAME_OWNED_BY_GENERATOR, in every version): it has no
 * caller until resumed, so a chain of running frames cannot end there.
 */
static inline bool pyframe__suspended_gen(const struct py_layout *l,
					  const struct py_rawframe *f)
{
	return (l->flags & PY_L_OWNER) && f->owner == 1 && !f->back;
}

/* Whether the frame's owner can be that of a frame in a thread's chain
 * (larger owners are corrupt). */
static inline bool pyframe__owner_ok(const struct py_layout *l,
				     const struct py_rawframe *f)
{
	return !(l->flags & PY_L_OWNER) || f->owner <= l->owner_max;
}

/* 3.11: whether the frame (its fr_size bytes in buf) starts an eval loop
 * entered from C (is_entry); its caller called through C. */
static inline bool pyframe__is_entry(const struct py_layout *l,
				     const uint8_t *buf)
{
	return l->fr_is_entry && buf[PY_OFF(l->fr_is_entry)];
}

/* PY_L_RUN_MARK: whether the frame in buf was running when it was read.
 * Its stacktop is -1 only then; a frame that has called or returned
 * holds its stack depth there. */
static inline bool pyframe__runs(const struct py_layout *l, const uint8_t *buf)
{
	return py__i32(buf, l->fr_stacktop) == -1;
}

/*
 * PY_L_RUN_MARK: whether a frame without the mark is inside a call, given
 * its code's co_nlocalsplus (-1 unknown).  A frame saves its stack depth
 * when it calls, and values of the call's own line are still on its
 * stack (s += f(x): s is).  A frame being pushed, or one that has
 * returned, holds its locals' count (an empty stack), and so does a
 * caller of a bare f(): false then, it cannot be told.
 */
static inline bool pyframe__in_call(const struct py_layout *l,
				    const uint8_t *buf, int32_t nlocalsplus)
{
	return nlocalsplus >= 0 && py__i32(buf, l->fr_stacktop) > nlocalsplus;
}

/* A callee is pushed on the data stack where its caller's frame (size
 * bytes, pycode__framesize) ends. */
static inline bool pyframe__callee_at(uint64_t caller, uint64_t size,
				      uint64_t callee)
{
	return caller + size == callee;
}

/* Within one data-stack chunk a caller lies below its callee: a chain
 * that goes up is a cycle or a torn copy. */
static inline bool pyframe__caller_below(uint64_t callee, uint64_t caller)
{
	return caller < callee;
}

/*
 * The instruction index (code units) of a frame running code at address
 * code with nunits code units; -1 when the frame has not started, -2 when
 * the position is out of range (a torn read or a bad layout).
 */
static inline int32_t pyframe__lasti(const struct py_layout *l,
				     const struct py_rawframe *f, uint64_t code,
				     uint64_t nunits)
{
	int64_t idx;

	if (l->flags & PY_L_INSTR_PTR) {
		int64_t d = (int64_t)(f->pos - (code + l->co_code));
		/* 3.11/3.12 point one unit before the first when not started */
		if (d < -2 || d > (int64_t)(nunits * 2))
			return -2;
		idx = d >> 1;
	} else {
		idx = (int64_t)f->pos;
		if (idx < 0)
			return -1;
		if (l->flags & PY_L_LASTI_BYTES)
			idx >>= 1;
	}
	if (idx < 0)
		return -1;
	if ((nunits && idx >= (int64_t)nunits) || idx > 0x7fffffff)
		return -2;
	return (int32_t)idx;
}

/*
 * What makes a code object the same code object: if any of these change,
 * the address was reused.  A cache keyed by address stores this and
 * compares it on every use.
 */
static inline uint64_t pycode__ident(const struct py_layout *l,
				     const uint8_t *buf)
{
	uint64_t h = 0x9e3779b97f4a7c15ull;
	const uint32_t offs[6] = {l->ob_type,	   l->co_filename,
				  l->co_name,	   l->co_qualname,
				  l->co_linetable, l->co_firstlineno};

	for (int i = 0; i < 6; i++) {
		uint64_t v = i == 5 ? (uint64_t)(uint32_t)py__i32(buf, offs[i])
				    : py__u64(buf, offs[i]);
		if (i == 3 && !(l->flags & PY_L_QUALNAME))
			v = 0;
		h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	}
	if (l->ob_size)
		h ^= py__u64(buf, l->ob_size) * 0xff51afd7ed558ccdull;
	return h;
}

#ifndef __bpf__
/* The layout for a PY_VERSION_HEX, or NULL if the version is unknown. */
const struct py_layout *py_layout__find(uint32_t version);
#endif

/*
 * Bytes a frame of this code takes on the data stack (a callee in the same
 * chunk starts exactly there), or 0 if the layout cannot tell.
 */
static inline uint64_t pycode__framesize(const struct py_layout *l,
					 const uint8_t *hdr)
{
	int64_t words;

	if (l->co_framesize)
		words = py__i32(hdr, l->co_framesize);
	else if (l->co_nlocalsplus && l->co_stacksize)
		words = (int64_t)py__i32(hdr, l->co_nlocalsplus) +
			py__i32(hdr, l->co_stacksize) + l->fr_specials;
	else
		return 0;
	return words > 0 && words < (1 << 24) ? (uint64_t)words * 8 : 0;
}

/* co_nlocalsplus, or -1 where the layout or the header cannot say. */
static inline int32_t pycode__nlocalsplus(const struct py_layout *l,
					  const uint8_t *hdr)
{
	int32_t n = l->co_nlocalsplus ? py__i32(hdr, l->co_nlocalsplus) : -1;

	return n >= 0 && n < (1 << 24) ? n : -1;
}

#endif
