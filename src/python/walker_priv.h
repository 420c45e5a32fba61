/*
 * walker_priv.h - the frame walker's private state, shared by the files
 * of src/python that make up the walker (private to src/python).
 *
 * walker.c      one sample: the walk of each thread's frames
 * batch.c       planning the batched read and collecting its results
 * threads.c     the interpreter and thread lists, kernel tids, names
 * copies.c      data-stack chunk and frame-object copies
 * running.c     which frame was running when the copy was made (3.11+)
 * verify.c      3.8-3.10: walked frame objects read again and checked
 * gil.c         the GIL holder and the GC state, read in the batch
 * resolve.c     code objects into names and lines
 */
#ifndef PSAMPLE_SRC_WALKER_PRIV_H
#define PSAMPLE_SRC_WALKER_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "psample/mem.h"
#include "psample/proc.h"
#include "psample/walker.h"
#include "psample/rawstack.h"
#include "psample/resolve.h"
#include "threadname.h"

#define MAX_CHUNKS 64
#define CHUNK_MAX_READ (1u << 20)
#define MAX_STEPS (PY_MAX_DEPTH * 2)
/* A walk keeps at most one raw entry per step. */
_Static_assert(MAX_STEPS <= PY_RAW_MAX_DEPTH, "a walk fits in a raw stack");
/* Read the newest chunk this far past the last stack top: a shallow
 * stack then costs one page, not the whole 16 KiB chunk, and a stack that
 * grows by a few frames between samples is still covered. */
#define CHUNK_SLACK 2048
/* Frame objects of the last walk read again in the batch (3.8-3.10). */
#define KNOWN_MAX 512
/* 3.11+: frames outside the data stack (the C-stack shim under each
 * eval loop from 3.12, generators' frames) read again in the batch. */
#define STRAY_MAX 16
/* Of which recent ones kept beyond the walk that met them. */
#define STRAYS_KEPT 4
/* 3.8-3.10: call sites confirmed, kept per thread. */
#define CONFIRMED_CALLS 16
/* Where struct pthread keeps the kernel tid is looked for this far. */
#define PTHREAD_SCAN 2048
#define GLIBC_TID_OFFSET 0x2d0 /* glibc 2.2x-2.3x on x86-64 */
/* A thread's cached name is read again this often (threads may rename
 * themselves), and a failed read retried after NAME_RETRY_NS. */
#define NAME_REFRESH_NS 1000000000ll
#define NAME_RETRY_NS 100000000ll

struct chunk {
	uint64_t addr;
	uint32_t full; /* the chunk's size (capped at CHUNK_MAX_READ) */
	uint32_t size; /* bytes of it read this sample */
	uint32_t want; /* bytes to read next sample */
	uint32_t cap;
	uint8_t *buf;
	int err;
	int32_t iv; /* its request in the batch */
	bool fresh; /* read on its own after the batch */
};

struct wthread {
	uint64_t tstate;
	uint32_t interp_index;
	int ts_err;
	uint8_t ts[PY_MAX_READ];
	uint64_t cframe; /* PY_L_CFRAME: where ts->cframe pointed */
	bool cf_iov; /* cf is read in this batch */
	bool hinted; /* the walk starts from hint, not from cf */
	uint64_t hint; /* where the last walk found the stack's top */
	uint8_t cf[16];
	int cf_err;
	/* The newest chunk read a second time, late in the batch: a frame
	 * that differs between the two copies was being changed. */
	uint8_t *recheck;
	uint32_t recheck_cap, recheck_len;
	uint64_t recheck_addr;
	int recheck_err;
	/* datastack_chunk and datastack_top once more, right after each
	 * copy of the newest chunk: frames at or above that top had
	 * returned by the end of the copy.  [0] follows the first copy,
	 * [1] the second.  Without a run mark, the current-frame word too,
	 * just before them (word_err 0 when read). */
	struct {
		uint64_t chunk, top, word;
		int err, word_err;
		int32_t iv_chunk, iv_top, iv_word;
	} end[2];
	/* This sample's requests in the batch, -1 none: the thread state,
	 * the cframe, the tid, the first of the known frames, the newest
	 * chunk's second copy, and the first of walker__verify's reads. */
	int32_t iv_ts, iv_cf, iv_tid, iv_known, iv_recheck, iv_chk;
	uint32_t nchunks;
	uint32_t known_cap; /* the length of known, next and their buffers */
	struct chunk chunks[MAX_CHUNKS]; /* newest first */
	struct py_rawstack stack; /* this sample's walk */
	struct py_frame *frames; /* PY_MAX_DEPTH: stack, named */
	/* The frames the last walk went through (PY_L_FRAME_OBJECT), or
	 * the ones outside the chunks (PY_L_CHUNKS), in order, and their
	 * bytes as the batch read them again; known_cap of them at most. */
	uint32_t nknown, nnext;
	uint64_t *known, *next; /* known_cap each */
	/* Frames outside the chunks met lately (generators' and coroutines'
	 * frames, which stay where they are while the object lives), most
	 * recent first: read with the batch even when the last walk did not
	 * go through them, so a frame entered through C is in the copy. */
	uint64_t strays[STRAYS_KEPT];
	uint32_t nstrays;
	uint8_t *known_buf; /* known_cap * fr_size */
	int *known_err;
	/* Versions without native_thread_id: the kernel tid, read from
	 * the struct pthread that thread_id points at. */
	uint64_t tid_from; /* the thread_id the read was planned from */
	int32_t tid;
	int tid_err;
	/* PY_L_FRAME_OBJECT: the walked frames read once more, and the
	 * current-frame word with them (walker__verify). */
	uint64_t chk_cur;
	uint8_t *chk; /* chk_cap frames of fr_size */
	uint32_t chk_cap;
	bool verify; /* still to be checked this sample */
	/* 3.8-3.10: calls a stack read twice confirmed, most recent
	 * first: the caller's frame, the callee's code, and the caller's
	 * position then (the call instruction it calls that code from). */
	struct confirmed_call {
		uint64_t caller, callee, pos;
	} confirmed[CONFIRMED_CALLS];
	uint32_t nconfirmed;
	/* The thread's name, cached for as long as the same thread (by
	 * thread_id and tid) owns this thread state, and read again every
	 * NAME_REFRESH_NS. */
	bool name_tried, name_ok;
	uint64_t name_thread_id;
	pid_t name_tid;
	int64_t name_at;
	char name[PY_NAME_MAX + 1];
};

struct winterp {
	uint64_t addr;
	uint64_t next;
	uint64_t head;
	uint32_t first, nthreads; /* its threads in w->threads */
	/* 3.12+: where ceval.gil pointed at the last look, that pointer as
	 * the batch read it, and the GIL's state; the gc state.  iv_*: the
	 * batch's requests for these and the list words, -1 none. */
	uint64_t gil, gil_now, holder;
	int32_t locked, enabled, collecting;
	int32_t iv_next, iv_head;
	int32_t iv_gil, iv_holder, iv_locked, iv_enabled, iv_gc;
	bool gil_ok;
};

/* nstids.c: the target's thread ids as /proc numbers them. */
struct nstids {
	pid_t pid;
	bool apart; /* in a pid namespace of its own: ids differ */
	struct proc_nstid *v;
	uint32_t n, cap;
	int64_t read_at; /* CLOCK_MONOTONIC of the last read, 0 never */
};

void nstids__init(struct nstids *m, pid_t pid);
void nstids__free(struct nstids *m);
/* The /proc id of the thread the target calls ns, 0 if not found. */
pid_t nstids__host(struct nstids *m, pid_t ns, int64_t now);
/* Up to max of the target's thread ids as it sees them; their number. */
int nstids__list(struct nstids *m, pid_t *out, size_t max, int64_t now);

struct py_walker {
	struct py_target *t;
	const struct py_layout *l;
	struct py_resolver *res;
	bool listed;
	uint64_t rt_head;
	uint32_t ninterps;
	struct winterp interps[PY_MAX_INTERPS];
	uint32_t nthreads, cap_threads;
	struct wthread **threads;

	struct mem_batch batch;
	int32_t iv_head; /* the runtime's interpreter list head */

	/* Offset of the kernel tid in struct pthread: -1 not looked for
	 * yet, -2 not found (tids are then 0). */
	int32_t tid_off;
	struct nstids nstids;

	/* 3.8-3.11: the one GIL, in _PyRuntime; 3.8: the gc state too. */
	uint64_t rt_holder;
	int32_t rt_locked, rt_collecting;
	int32_t iv_rt_holder, iv_rt_locked, iv_rt_gc;
	int8_t rt_gil_ok, gc; /* as the last batch read them */

	bool still; /* the threads are stopped while read (--blocking) */
	struct py_thread *out;
	const struct py_rawstack **stacks; /* each thread's, for the resolver */
	uint32_t cap_out;
	struct py_sample sample;
	struct py_walker_stats stats;
	uint8_t scratch[PY_MAX_READ];
};

/* batch.c */
int walker__ask(struct py_walker *w, int32_t *iv, uint64_t addr, void *buf,
		size_t len);
int walker__got(const struct py_walker *w, int32_t iv);
int walker__plan(struct py_walker *w);
void walker__collect(struct py_walker *w);

/* copies.c */
int chunk__cover(struct py_walker *w, struct chunk *c, uint64_t top);
int wthread__chunks(struct py_walker *w, struct wthread *th, uint64_t newest);
const uint8_t *wthread__frame_bytes(const struct py_walker *w,
				    const struct wthread *th, uint64_t addr,
				    uint32_t *chunk, bool second);
const uint8_t *wthread__known(const struct py_walker *w,
			      const struct wthread *th, uint64_t f,
			      uint32_t *cursor);
bool wthread__stable(const struct py_walker *w, const struct wthread *th,
		     uint64_t addr);
int wthread__end(const struct wthread *th, int copy);

/* gil.c */
bool layout__has_gil(const struct py_layout *l);
int walker__plan_state(struct py_walker *w);
void walker__collect_state(struct py_walker *w);
int8_t walker__gil(const struct py_walker *w, const struct wthread *th);

/* running.c */
int wthread__place(struct py_walker *w, struct wthread *th, uint64_t *cur,
		   uint64_t *run);

/* threads.c */
void wthread__free(struct wthread *th);
int walker__relist(struct py_walker *w);
void walker__find_tid_off(struct py_walker *w);
bool walker__list_ok(const struct py_walker *w);
void walker__name(struct py_walker *w, struct wthread *th, struct py_thread *pt,
		  int64_t now);

/* verify.c */
int walker__verify(struct py_walker *w);

/* walker.c */
void wthread__walk(struct py_walker *w, struct wthread *th);

#endif
