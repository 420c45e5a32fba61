/*
 * stack.c - the frame walker: every thread's Python stack, read from
 * outside the process.
 *
 * A sample is planned from the previous one.  One batched read fetches
 * the interpreter list heads, every known thread state, every known
 * data-stack chunk (3.11+ frames live in them, so one copy of a chunk is
 * a copy of many frames), the headers of the code objects the last sample
 * saw, and finally the newest chunk of each thread once more.  Then the
 * walker checks that the copy is self-consistent: the lists link up as
 * they did, each thread still points at the chunks that were read, and
 * no frame below the innermost was replaced while the batch was copied
 * (the two copies of the newest chunk agree on it).  Frames are
 * walked in the local copies, code headers not in the batch are read in
 * one more batch, and anything that does not check out is re-read the
 * slow way or counted as an error.
 *
 * Before 3.11 frames are heap objects (PyFrameObject) linked by f_back:
 * the batch then reads again the frames the last walk went through, and
 * only frames new since are read one by one.
 *
 * Every value read is untrusted: loops are bounded, frames must lie
 * inside the chunk they claim (or be of PyFrame_Type), code objects must
 * be of PyCode_Type and match the identity cached for their address.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "psample/error.h"
#include "psample/proc.h"
#include "psample/pystack.h"
#include "threadname.h"

#define MAX_CHUNKS 64
#define CHUNK_MAX_READ (1u << 20)
#define HOT_MAX 256
#define SEEN_BITS 12 /* per-sample code table: 4096 slots */
#define MAX_STEPS (PY_MAX_DEPTH * 2)
/* Read the newest chunk this far past the last stack top: a shallow
 * stack then costs one page, not the whole 16 KiB chunk, and a stack that
 * grows by a few frames between samples is still covered. */
#define CHUNK_SLACK 2048
/* Frame objects of the last walk read again in the batch (3.8-3.10). */
#define KNOWN_MAX 512
/* 3.11+: frames outside the data stack (the C-stack shim under each
 * eval loop from 3.12, generators' frames) read again in the batch. */
#define STRAY_MAX 16
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
	bool fresh; /* read on its own after the batch */
};

struct rawf {
	uint64_t code;
	uint64_t pos;
	uint64_t addr;
	uint32_t chunk; /* UINT32_MAX: not in a chunk */
	int32_t tlbc; /* PY_L_TLBC: the copy of the bytecode pos is in */
	bool after_skip; /* a frame not kept lies between it and its callee */
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
	 * [1] the second. */
	struct {
		uint64_t chunk, top;
		int err;
	} end[2];
	uint32_t nchunks;
	uint32_t known_cap; /* the length of known, next and their buffers */
	struct chunk chunks[MAX_CHUNKS]; /* newest first */
	struct rawf *raw; /* PY_MAX_DEPTH */
	struct py_frame *frames; /* PY_MAX_DEPTH */
	/* The frames the last walk went through (PY_L_FRAME_OBJECT), or
	 * the ones outside the chunks (PY_L_CHUNKS), in order, and their
	 * bytes as the batch read them again; known_cap of them at most. */
	uint32_t nknown, nnext;
	uint64_t *known, *next; /* known_cap each */
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
	/* Frames walked this sample before unstarted ones were dropped:
	 * raw[raw_depth - 1] is the outermost frame. */
	uint32_t raw_depth;
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
	 * batch's iovecs for them, -1 none. */
	uint64_t gil, gil_now, holder;
	int32_t locked, enabled, collecting;
	int32_t iv_gil, iv_gc;
	bool gil_ok;
};

struct seen {
	uint64_t addr;
	uint32_t gen;
	int32_t hdr; /* index into hdrs, -1 none */
	uint32_t hot; /* == gen once put in the next hot set */
};

struct py_walker {
	struct py_target *t;
	const struct py_layout *l;
	struct py_codes *codes;
	bool listed;
	uint64_t rt_head;
	uint32_t ninterps;
	struct winterp interps[PY_MAX_INTERPS];
	uint32_t nthreads, cap_threads;
	struct wthread **threads;

	/* Code headers read this sample: hot ones first, then the rest. */
	uint32_t nhot;
	uint64_t hot[HOT_MAX];
	uint32_t nhdrs, cap_hdrs;
	uint64_t *hdr_addr;
	uint8_t *hdrs; /* cap_hdrs * co_size */
	int *hdr_err;
	uint32_t gen;
	struct seen seen[1u << SEEN_BITS];

	uint32_t niov, cap_iov;
	struct mem_iov *iov;

	/* Offset of the kernel tid in struct pthread: -1 not looked for
	 * yet, -2 not found (tids are then 0). */
	int32_t tid_off;

	/* 3.8-3.11: the one GIL, in _PyRuntime; 3.8: the gc state too. */
	uint64_t rt_holder;
	int32_t rt_locked, rt_collecting;
	int32_t iv_rt_gil, iv_rt_gc;
	int8_t rt_gil_ok, gc; /* as the last batch read them */

	bool still; /* the threads are stopped while read (--blocking) */
	struct py_thread *out;
	struct py_sample sample;
	struct py_walker_stats stats;
	uint8_t scratch[PY_MAX_READ];
};

static void wthread__free(struct wthread *th)
{
	if (!th)
		return;
	for (uint32_t i = 0; i < MAX_CHUNKS; i++)
		free(th->chunks[i].buf);
	free(th->raw);
	free(th->frames);
	free(th->recheck);
	free(th->known);
	free(th->next);
	free(th->known_buf);
	free(th->known_err);
	free(th->chk);
	free(th);
}

static struct wthread *wthread__new(const struct py_layout *l, uint64_t tstate)
{
	struct wthread *th = calloc(1, sizeof(*th));
	if (!th)
		return NULL;
	th->tstate = tstate;
	th->raw = calloc(PY_MAX_DEPTH, sizeof(*th->raw));
	th->frames = calloc(PY_MAX_DEPTH, sizeof(*th->frames));
	if (!th->raw || !th->frames) {
		wthread__free(th);
		return NULL;
	}
	if (l->flags & (PY_L_FRAME_OBJECT | PY_L_CHUNKS)) {
		uint32_t cap =
			(l->flags & PY_L_FRAME_OBJECT) ? KNOWN_MAX : STRAY_MAX;
		th->known_cap = cap;
		th->known = calloc(cap, sizeof(*th->known));
		th->next = calloc(cap, sizeof(*th->next));
		th->known_buf = calloc(cap, l->fr_size);
		th->known_err = calloc(cap, sizeof(*th->known_err));
		if (!th->known || !th->next || !th->known_buf ||
		    !th->known_err) {
			wthread__free(th);
			return NULL;
		}
	}
	return th;
}

int py_walker__new(struct py_target *t, struct py_walker **out)
{
	struct py_walker *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (!w)
		return -ENOMEM;
	w->t = t;
	w->l = t->layout;
	w->tid_off = (w->l->flags & PY_L_NATIVE_TID) ? -2 : -1;
	if (w->l->ts_size > PY_MAX_READ || w->l->fr_size > PY_MAX_READ ||
	    w->l->co_size > PY_MAX_READ || w->l->cf_current + 8 > 16) {
		free(w);
		return -PS_EBADLAYOUT;
	}
	w->codes = py_codes__new();
	if (!w->codes) {
		free(w);
		return -ENOMEM;
	}
	*out = w;
	return 0;
}

void py_walker__free(struct py_walker *w)
{
	if (!w)
		return;
	for (uint32_t i = 0; i < w->nthreads; i++)
		wthread__free(w->threads[i]);
	free(w->threads);
	free(w->hdr_addr);
	free(w->hdrs);
	free(w->hdr_err);
	free(w->iov);
	free(w->out);
	py_codes__free(w->codes);
	free(w);
}

void py_walker__set_still(struct py_walker *w, bool still)
{
	w->still = still;
}

const struct py_walker_stats *py_walker__stats(const struct py_walker *w)
{
	return &w->stats;
}

/*
 * Whether the layout says where the GIL's holder and lock word are (and,
 * free-threaded, whether the GIL is switched on).
 */
static bool layout__has_gil(const struct py_layout *l)
{
	if ((l->flags & PY_L_FREE_THREADED) && !(l->flags & PY_L_GIL_SWITCH))
		return false;
	if (!l->gil_locked)
		return false;
	return (l->flags & PY_L_GIL_IN_RUNTIME) ? l->rt_gil != 0
						: l->is_gil != 0;
}

int py_walker__gil_support(struct py_walker *w)
{
	const struct py_layout *l = w->l;
	struct mem *m = &w->t->mem;
	uint64_t interp = 0, gil = 0;
	int32_t on = 0;

	if (!(l->flags & PY_L_FREE_THREADED))
		return layout__has_gil(l) ? 0 : -PS_EUNSUPPORTED;
	if (!layout__has_gil(l))
		return -PS_ENOGIL;
	/* The main interpreter's GIL as it is now: switched on by
	 * PYTHON_GIL=1, or for good by importing an extension module not
	 * marked safe without it. */
	if (mem__read_u64(m, w->t->runtime + l->rt_interp_head, &interp) ||
	    !interp || mem__read_u64(m, interp + l->is_gil, &gil) || !gil ||
	    mem__read(m, gil + l->gil_enabled, &on, sizeof(on)) || !on)
		return -PS_ENOGIL;
	return 0;
}

static int walker__iov(struct py_walker *w, uint64_t addr, void *buf,
		       size_t len)
{
	if (w->niov == w->cap_iov) {
		uint32_t cap = w->cap_iov ? w->cap_iov * 2 : 256;
		struct mem_iov *v = realloc(w->iov, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		w->iov = v;
		w->cap_iov = cap;
	}
	w->iov[w->niov++] =
		(struct mem_iov){.addr = addr, .buf = buf, .len = len};
	return 0;
}

/* A slot for a code header; -ENOMEM. */
static int walker__hdr(struct py_walker *w, uint64_t addr)
{
	if (w->nhdrs == w->cap_hdrs) {
		uint32_t cap = w->cap_hdrs ? w->cap_hdrs * 2 : 512;
		uint64_t *a = realloc(w->hdr_addr, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		w->hdr_addr = a;
		uint8_t *h = realloc(w->hdrs, (size_t)cap * w->l->co_size);
		if (!h)
			return -ENOMEM;
		w->hdrs = h;
		int *e = realloc(w->hdr_err, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		w->hdr_err = e;
		w->cap_hdrs = cap;
	}
	w->hdr_addr[w->nhdrs] = addr;
	w->hdr_err[w->nhdrs] = -EFAULT;
	return (int)w->nhdrs++;
}

/* The slot of addr in this sample's code table, or the free slot it
 * would take (gen not this sample's); NULL when the table is full. */
static const struct seen *walker__seen_slot(const struct py_walker *w,
					    uint64_t addr)
{
	uint32_t mask = (1u << SEEN_BITS) - 1;
	uint64_t h = (addr >> 4) * 0x9e3779b97f4a7c15ull;
	uint32_t i = (uint32_t)(h >> 40) & mask;

	for (uint32_t probe = 0; probe <= mask; probe++) {
		const struct seen *s = &w->seen[(i + probe) & mask];
		if (s->gen != w->gen || s->addr == addr)
			return s;
	}
	return NULL;
}

static struct seen *walker__seen(struct py_walker *w, uint64_t addr)
{
	const struct seen *c = walker__seen_slot(w, addr);
	if (!c)
		return NULL;
	struct seen *s = &w->seen[c - w->seen];
	if (s->gen != w->gen) {
		s->gen = w->gen;
		s->addr = addr;
		s->hdr = -1;
		s->hot = 0;
	}
	return s;
}

/* ---- the thread list ------------------------------------------------ */

static struct wthread *walker__take(const struct py_layout *l,
				    struct wthread **old, uint32_t nold,
				    uint64_t tstate)
{
	for (uint32_t i = 0; i < nold; i++) {
		if (old[i] && old[i]->tstate == tstate) {
			struct wthread *th = old[i];
			old[i] = NULL;
			return th;
		}
	}
	return wthread__new(l, tstate);
}

/*
 * Walk the interpreter and thread lists one read at a time and rebuild
 * w->interps and w->threads, keeping the caches of threads that are still
 * there.
 */
static int walker__relist(struct py_walker *w)
{
	const struct py_layout *l = w->l;
	struct mem *m = &w->t->mem;
	struct wthread **old = w->threads;
	uint32_t nold = w->nthreads, n = 0, cap = 0;
	struct wthread **list = NULL;
	uint64_t interp;
	int err;

	w->stats.relists++;
	w->listed = false;
	err = mem__read_u64(m, w->t->runtime + l->rt_interp_head, &interp);
	if (err)
		return err;
	w->rt_head = interp;
	w->ninterps = 0;
	while (interp && w->ninterps < PY_MAX_INTERPS) {
		struct winterp *wi = &w->interps[w->ninterps];
		uint64_t ts;

		wi->addr = interp;
		wi->first = n;
		wi->nthreads = 0;
		if ((err = mem__read_u64(m, interp + l->is_next, &wi->next)) ||
		    (err = mem__read_u64(m, interp + l->is_threads_head, &ts)))
			goto fail;
		wi->head = ts;
		wi->gil = 0;
		if (layout__has_gil(l) && !(l->flags & PY_L_GIL_IN_RUNTIME) &&
		    mem__read_u64(m, interp + l->is_gil, &wi->gil))
			wi->gil = 0; /* read in the next batch instead */
		for (uint32_t i = 0; i < w->ninterps; i++) {
			if (w->interps[i].addr == interp) {
				err = -PS_ECORRUPT; /* a cycle */
				goto fail;
			}
		}
		while (ts && n < PY_MAX_THREADS) {
			/* A thread list that loops back is torn or corrupt:
			 * following it would list the same threads again. */
			for (uint32_t i = wi->first; i < n; i++) {
				if (list[i]->tstate == ts) {
					err = -PS_ECORRUPT;
					goto fail;
				}
			}
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				struct wthread **v = realloc(
					list,
					cap * sizeof(*v)); // NOLINT(bugprone-sizeof-expression):
							   // an array of
							   // pointers
				if (!v) {
					err = -ENOMEM;
					goto fail;
				}
				list = v;
			}
			struct wthread *th = walker__take(l, old, nold, ts);
			if (!th) {
				err = -ENOMEM;
				goto fail;
			}
			list[n++] = th;
			wi->nthreads++;
			th->interp_index = w->ninterps;
			th->ts_err = mem__read(m, ts, th->ts, l->ts_size);
			if (th->ts_err)
				break;
			if (py__u64(th->ts, l->ts_interp) != interp) {
				th->ts_err = -PS_ECORRUPT;
				break;
			}
			th->tid_from = py__u64(th->ts, l->ts_thread_id);
			th->tid_err = -EAGAIN;
			ts = py__u64(th->ts, l->ts_next);
		}
		w->ninterps++;
		interp = wi->next;
	}
	for (uint32_t i = 0; i < nold; i++)
		wthread__free(old[i]);
	free(old);
	w->threads = list;
	w->nthreads = n;
	w->cap_threads = cap;
	w->listed = true;
	return 0;
fail:
	/* Keep the old caches: the next sample tries again. */
	for (uint32_t i = 0; i < n; i++) {
		bool was_old = false;
		for (uint32_t j = 0; j < nold; j++)
			was_old |= old[j] == list[i];
		if (!was_old)
			wthread__free(list[i]);
	}
	for (uint32_t i = 0; i < nold; i++)
		wthread__free(old[i]);
	free(old);
	free(list);
	w->threads = NULL;
	w->nthreads = 0;
	w->ninterps = 0;
	return err;
}

/*
 * Before 3.11 a thread state has no native thread id, only thread_id,
 * which is pthread_self(): the address of the thread's struct pthread
 * (glibc and musl alike).  The kernel tid is a field of that struct at an
 * offset that depends on the libc, so find it: the offset at which every
 * thread's struct holds one of the process's tids, a different one each.
 * glibc's own offset is preferred when it fits.
 */
static void walker__find_tid_off(struct py_walker *w)
{
	enum { NMAX = 64 };
	pid_t tasks[1024];
	uint32_t n = 0;
	int ntasks = proc__tasks(w->t->pid, tasks, 1024);
	uint8_t(*buf)[PTHREAD_SCAN];

	w->tid_off = -2;
	if (ntasks <= 0 || !(buf = malloc(NMAX * PTHREAD_SCAN)))
		return;
	for (uint32_t i = 0; i < w->nthreads && n < NMAX; i++) {
		uint64_t p = w->threads[i]->tid_from;
		if (p && !mem__read(&w->t->mem, p, buf[n], PTHREAD_SCAN))
			n++;
	}
	for (int32_t pass = 0; pass < 2; pass++) {
		for (uint32_t off = 0; off + 4 <= PTHREAD_SCAN; off += 4) {
			bool ok = true;
			if (pass == 0 && off != GLIBC_TID_OFFSET)
				continue;
			for (uint32_t i = 0; i < n && ok; i++) {
				int32_t v = py__i32(buf[i], off);
				bool found = false;
				for (int k = 0; k < ntasks && !found; k++)
					found = tasks[k] == v;
				for (uint32_t j = 0; j < i && found; j++)
					found = py__i32(buf[j], off) != v;
				ok = found;
			}
			if (ok && n) {
				w->tid_off = (int32_t)off;
				free(buf);
				return;
			}
		}
	}
	free(buf);
}

/* Whether the batch still describes the lists as w knows them. */
static bool walker__list_ok(const struct py_walker *w)
{
	const struct py_layout *l = w->l;

	if (w->rt_head != (w->ninterps ? w->interps[0].addr : 0))
		return false;
	for (uint32_t i = 0; i < w->ninterps; i++) {
		const struct winterp *wi = &w->interps[i];
		uint64_t next =
			i + 1 < w->ninterps ? w->interps[i + 1].addr : 0;
		if (wi->next != next)
			return false;
		uint64_t head =
			wi->nthreads ? w->threads[wi->first]->tstate : 0;
		if (wi->head != head)
			return false;
		for (uint32_t k = 0; k < wi->nthreads; k++) {
			const struct wthread *th = w->threads[wi->first + k];
			uint64_t tn =
				k + 1 < wi->nthreads
					? w->threads[wi->first + k + 1]->tstate
					: 0;
			if (th->ts_err || py__u64(th->ts, l->ts_next) != tn ||
			    py__u64(th->ts, l->ts_interp) != wi->addr)
				return false;
		}
	}
	return true;
}

/* ---- chunks ---------------------------------------------------------- */

static int chunk__load(struct py_walker *w, struct chunk *c, uint64_t addr)
{
	const struct py_layout *l = w->l;
	uint8_t hdr[64];
	int err;

	w->stats.chunk_reloads++;
	c->fresh = true;
	c->addr = addr;
	c->size = 0;
	c->err = -EFAULT;
	if ((err = mem__read(&w->t->mem, addr, hdr, l->ck_data)))
		return err;
	uint64_t size = py__u64(hdr, l->ck_size);
	if (size < l->ck_data + l->fr_size)
		return -PS_ECORRUPT;
	if (size > CHUNK_MAX_READ)
		size = CHUNK_MAX_READ;
	if (c->cap < size) {
		uint8_t *b = realloc(c->buf, size);
		if (!b)
			return -ENOMEM;
		c->buf = b;
		c->cap = (uint32_t)size;
	}
	if ((err = mem__read(&w->t->mem, addr, c->buf, size)))
		return err;
	c->full = c->size = c->want = (uint32_t)size;
	c->err = 0;
	return 0;
}

/*
 * Make sure a chunk's copy reaches its stack top, and plan the next read
 * to end a little past it.  The newest chunk's top is the thread's
 * datastack_top; an older chunk's was saved in its header when the newer
 * one was pushed.
 */
static int chunk__cover(struct py_walker *w, struct chunk *c, uint64_t top)
{
	const struct py_layout *l = w->l;

	if (top < c->addr + l->ck_data || top > c->addr + c->full)
		return 0; /* not this chunk's top: validated by the walk */
	uint32_t used = (uint32_t)(top - c->addr);
	if (used > c->size) {
		int err = mem__read(&w->t->mem, c->addr + c->size,
				    c->buf + c->size, c->full - c->size);
		w->stats.chunk_reloads++;
		c->fresh = true;
		if (err)
			return err;
		c->size = c->full;
	}
	uint32_t want = (used + CHUNK_SLACK + 255) & ~255u;
	c->want = want < c->full ? want : c->full;
	return 0;
}

/*
 * Make th->chunks describe the chain that starts at newest, reusing what
 * the batch read where the chain is unchanged.
 */
static int wthread__chunks(struct py_walker *w, struct wthread *th,
			   uint64_t newest)
{
	const struct py_layout *l = w->l;
	uint32_t k = 0;
	uint64_t want = newest;
	int err;

	while (want && k < MAX_CHUNKS) {
		struct chunk *c = &th->chunks[k];
		if (k >= th->nchunks || c->addr != want || c->err) {
			if ((err = chunk__load(w, c, want))) {
				th->nchunks = k;
				return err;
			}
			/* Anything older is re-validated against this. */
			th->nchunks = k + 1;
		}
		want = py__u64(c->buf, l->ck_prev);
		k++;
	}
	th->nchunks = k;
	return 0;
}

/* The frame's bytes if a chunk copy holds them; NULL otherwise. */
static const uint8_t *wthread__frame_bytes(const struct py_walker *w,
					   const struct wthread *th,
					   uint64_t addr, uint32_t *chunk,
					   bool second)
{
	const struct py_layout *l = w->l;

	for (uint32_t k = 0; k < th->nchunks; k++) {
		const struct chunk *c = &th->chunks[k];
		/* Subtractions only: addr is untrusted and may be near the
		 * top of the address space. */
		if (addr >= c->addr + l->ck_data && c->size >= l->fr_size &&
		    addr - c->addr <= c->size - l->fr_size) {
			*chunk = k;
			if (second && k == 0 && th->recheck_addr == c->addr &&
			    th->recheck_len >= l->fr_size &&
			    addr - c->addr <= th->recheck_len - l->fr_size)
				return th->recheck + (addr - c->addr);
			return c->buf + (addr - c->addr);
		}
	}
	return NULL;
}

/* ---- one thread ----------------------------------------------------- */

/*
 * The bytes of frame object f as the batch read them, if the last walk
 * went through it; NULL otherwise.  *cursor follows the walk down the
 * known list, so an unchanged stack costs one comparison per frame.
 */
static const uint8_t *wthread__known(const struct py_walker *w,
				     const struct wthread *th, uint64_t f,
				     uint32_t *cursor)
{
	for (uint32_t k = *cursor; k < th->nknown; k++) {
		if (th->known[k] != f)
			continue;
		*cursor = k + 1;
		if (th->known_err[k])
			return NULL;
		return th->known_buf + (size_t)k * w->l->fr_size;
	}
	return NULL;
}

/*
 * Whether the frame at addr in the newest chunk held the same code and
 * caller in both copies of the batch.  A frame that changed means the
 * stack returned past it and grew again while it was copied, so callers
 * and callees may come from different moments (the caller already on the
 * line of its next call, the slot still holding the callee that
 * returned).  Positions are not compared: a running frame moves on.
 * True when there is no second copy (the chunk was re-read on its own
 * this sample).
 */
static bool wthread__stable(const struct py_walker *w, const struct wthread *th,
			    uint64_t addr)
{
	const struct py_layout *l = w->l;
	const struct chunk *c = &th->chunks[0];

	if (c->fresh || th->recheck_addr != c->addr || th->recheck_err ||
	    !th->recheck_len)
		return true;
	if (addr - c->addr > th->recheck_len - l->fr_size ||
	    th->recheck_len < l->fr_size ||
	    addr - c->addr > c->size - l->fr_size)
		return true;
	const uint8_t *a = c->buf + (addr - c->addr);
	const uint8_t *b = th->recheck + (addr - c->addr);
	return py__u64(a, l->fr_code) == py__u64(b, l->fr_code) &&
	       py__u64(a, l->fr_back) == py__u64(b, l->fr_back);
}

/*
 * The chunk the stack ended in when the batch finished, as an index
 * into th->chunks, or -1 when that cannot be told from this batch: a
 * chunk pushed since, or one re-read on its own (its copy is newer than
 * the end-of-batch top).
 */
static int wthread__end(const struct wthread *th, int copy)
{
	if (th->end[copy].err || !th->end[copy].chunk)
		return -1;
	for (uint32_t k = 0; k < th->nchunks; k++) {
		if (th->chunks[k].fresh)
			return -1;
		if (th->chunks[k].addr == th->end[copy].chunk)
			return (int)k;
	}
	return -1;
}

static int wthread__frames(struct py_walker *w, struct wthread *th,
			   struct py_thread *out, uint64_t cur, uint64_t top,
			   bool second);

/*
 * The bytes a frame of code takes on the data stack: from the header the
 * batch read (the code was in the last sample), else from the code cache
 * (a code object seen before, maybe freed since: a wrong size only makes
 * the callee looked for there fail to link back); 0 if not known.
 */
static uint64_t walker__framesize(const struct py_walker *w, uint64_t code)
{
	const struct seen *s = walker__seen_slot(w, code);

	if (s && s->gen == w->gen && s->hdr >= 0 && !w->hdr_err[s->hdr])
		return pycode__framesize(w->l, w->hdrs + (size_t)s->hdr *
								 w->l->co_size);
	const struct py_code *c = py_codes__peek(w->codes, code);
	return c ? c->framesize : 0;
}

static bool frame__runs(const struct py_layout *l, const uint8_t *buf)
{
	return py__i32(buf, l->fr_stacktop) == -1;
}

/*
 * Whether a frame without the mark is inside a call, by the copy alone:
 * a frame saves its stack depth there when it calls, and values of the
 * call's own line are still on its stack (s += f(x): s is).  A frame
 * being pushed, or one that has returned, holds its locals' count (an
 * empty stack), and so does a caller of a bare f(): false then, it
 * cannot be told.
 */
static bool walker__in_call(const struct py_walker *w, uint64_t code,
			    const uint8_t *buf)
{
	const struct seen *s = walker__seen_slot(w, code);
	int32_t n = -1;

	/* Stopped (--blocking), the top read after the copy is exact: it
	 * alone decides, and it is right in the one case this is not, a
	 * caller just returned to (its depth plus the value returned). */
	if (w->still)
		return false;
	if (s && s->gen == w->gen && s->hdr >= 0 && !w->hdr_err[s->hdr]) {
		n = pycode__nlocalsplus(w->l, w->hdrs + (size_t)s->hdr *
								w->l->co_size);
	} else {
		const struct py_code *c = py_codes__peek(w->codes, code);
		n = c ? c->nlocalsplus : -1;
	}
	return n >= 0 && py__i32(buf, w->l->fr_stacktop) > n;
}

/* wthread__running: every frame read lacks the run mark, and where the
 * stack ended could not be told. */
#define RUN_MIDCALL UINT64_MAX

/*
 * datastack_top of the newest chunk read just before its copy (with the
 * thread state) and just after it, where both are of that chunk.  Below
 * the lower (lo), frames were live all through the copy; at or above the
 * higher (hi), frames had returned before it began and were not pushed
 * again by its end.  Both 0 when that cannot be told.  The top read
 * after alone takes the leftovers of callees that returned before the
 * copy for live, when the stack grew back over them by that read (a
 * loop calling the same function again).
 */
struct tops {
	uint64_t lo, hi;
};

static struct tops tops__of(uint64_t before, uint64_t after)
{
	struct tops t = {before < after ? before : after,
			 before < after ? after : before};
	return t;
}

static struct tops wthread__tops(const struct py_layout *l,
				 const struct wthread *th)
{
	struct tops none = {0, 0};

	if (!th->nchunks || th->ts_err || th->end[0].err ||
	    th->end[0].chunk != th->chunks[0].addr ||
	    py__u64(th->ts, l->ts_chunk) != th->chunks[0].addr)
		return none;
	return tops__of(py__u64(th->ts, l->ts_top), th->end[0].top);
}

/* Whether the frame at f in chunk ck had returned all through the copy. */
static bool tops__gone(struct tops t, uint32_t ck, uint64_t f)
{
	return ck == 0 && t.hi && f >= t.hi;
}

/*
 * The lowest frame with the mark among those one eval loop runs, from
 * the marked frame f down.  A chunk is copied from low addresses up, so
 * a caller's header is read before its callee's: two marks in one
 * loop's frames mean the copy straddled a call (the caller ran when its
 * header was read, the callee when its own was), and the lower is the
 * state at the earlier moment.  That is the moment a copy with no mark
 * but a caller in a call is placed at too (its callee, which returned
 * before its header was read), so every copy is placed at its start.
 * Taking the upper mark gave a fast callee both straddles: 10-25 points
 * too much of tinycalls.py on 3.11's debug build, whose slow copies
 * straddle most.  The frame that starts an eval loop (3.11's is_entry;
 * on 3.12+ a shim, which lies outside the chunks) ends the search: its
 * caller called through C and keeps the mark.
 */
static uint64_t wthread__lowest_mark(const struct py_walker *w,
				     const struct wthread *th, uint64_t f)
{
	const struct py_layout *l = w->l;
	uint32_t ck = UINT32_MAX, nk = UINT32_MAX;
	const uint8_t *fb = wthread__frame_bytes(w, th, f, &ck, false);
	uint64_t low = f;
	struct py_rawframe rf;

	for (uint32_t steps = 0; fb && steps < PY_MAX_DEPTH; steps++) {
		if (l->fr_is_entry && fb[l->fr_is_entry])
			break;
		pyframe__decode(l, fb, &rf);
		if (!rf.back)
			break;
		const uint8_t *bb =
			wthread__frame_bytes(w, th, rf.back, &nk, false);
		/* Callers lie below their callees in a chunk. */
		if (!bb || (nk == ck && rf.back >= f))
			break;
		if (frame__runs(l, bb))
			low = rf.back;
		f = rf.back;
		fb = bb;
		ck = nk;
	}
	return low;
}

/*
 * The frame that was running when the copy of the stack was made, found
 * by its run mark (PY_L_RUN_MARK).  The current-frame word was read
 * before the copy, and a program that calls small functions in a loop has
 * returned and called again many times in between: walking from that
 * word and dropping what returned since (by the top read after the copy)
 * keeps only frames that lived at both moments, which gives callers the
 * time of their fast callees.  The copy of the top of the stack is made
 * in one piece, so the mark tells where it ended then: above cur, a
 * callee pushed since (at the end of its caller's frame, linking back to
 * it), or below, a caller that cur returned to.  Frames that returned
 * hold their depth, never the mark, so leftovers above the top are not
 * taken for callees.
 *
 * No frame has the mark while the top frame is being pushed or popped:
 * from the caller saving its stack depth to the callee's first
 * instruction, and from the callee's return to the caller taking up
 * again, which includes clearing the callee's locals.  For a small
 * function that is a good part of its time (40% of the reads of
 * tests/e2e/workloads/tinycalls.py on 3.11), and the interpreter's own
 * current-frame word is on the callee through nearly all of it.  So the
 * callee is the answer: the highest frame of the chain that is the
 * callee of a frame in a call; where no frame is seen in a call (a bare
 * f() saves an empty stack), the highest that lies below the top read on
 * both sides of the copy.  The top alone is not trusted over a frame in
 * a call: fast code returns and calls back into the same slots within
 * one copy, and a callee that returned then lies below both tops again
 * (1.3% of the stacks of tests/e2e/workloads/fastcalls.py on 3.12 were
 * such leftovers above a returning caller; 0.5% with the call first).
 * Dropping or re-reading those samples instead gave the time of the call
 * and return to the frames that run on either side of them.
 *
 * RUN_MIDCALL when no frame down to the bottom (or the shim of a C call)
 * has the mark and that top cannot tell.  0 when the mark cannot tell:
 * cur, or a caller met on the way down, is not in the copy (a
 * generator's frame).
 */
static uint64_t wthread__running(const struct py_walker *w,
				 const struct wthread *th, uint64_t cur,
				 struct tops top, bool *marked)
{
	const struct py_layout *l = w->l;
	uint32_t ck = UINT32_MAX, nk = UINT32_MAX;
	const uint8_t *buf = wthread__frame_bytes(w, th, cur, &ck, false);
	struct py_rawframe rf, nf;
	uint8_t own[PY_MAX_READ];
	uint64_t live = 0; /* the answer if no frame has the mark */
	bool by_call = false; /* live is the callee of a frame in a call */

	*marked = false;
	if (!buf)
		return 0;
	if (frame__runs(l, buf)) {
		*marked = true;
		return wthread__lowest_mark(w, th, cur);
	}
	if (ck == 0 && cur < top.lo)
		live = cur;
	/* Up: a callee pushed since, and its callees. */
	uint64_t f = cur;
	const uint8_t *fb = buf;
	pyframe__decode(l, buf, &rf);
	for (uint32_t steps = 0; steps < PY_MAX_DEPTH; steps++) {
		uint64_t size = walker__framesize(w, rf.code);
		if (!size || f + size < f)
			break;
		const uint8_t *nb =
			wthread__frame_bytes(w, th, f + size, &nk, false);
		if (!nb || nk != ck)
			break;
		pyframe__decode(l, nb, &nf);
		if (nf.back != f || !nf.code)
			break;
		if (frame__runs(l, nb)) {
			*marked = true;
			return wthread__lowest_mark(w, th, f + size);
		}
		bool called = walker__in_call(w, rf.code, fb);
		if (called && tops__gone(top, ck, f + size)) {
			live = f; /* taking up again after its callee */
			by_call = true;
			break;
		}
		f += size;
		rf = nf;
		fb = nb;
		if (called) {
			live = f;
			by_call = true;
		} else if (!by_call && ck == 0 && f < top.lo) {
			live = f;
		}
	}
	/* Down: the caller cur returned to. */
	fb = buf;
	f = cur;
	for (uint32_t steps = 0; steps < PY_MAX_DEPTH; steps++) {
		pyframe__decode(l, fb, &rf);
		if (!rf.back)
			return live ? live : RUN_MIDCALL;
		fb = wthread__frame_bytes(w, th, rf.back, &nk, false);
		if (!fb) {
			/* The shim of a C call ends the search; any other
			 * frame outside the chunks is a generator's.  The
			 * batch most often has it (the owner is all that is
			 * looked at, and it does not change). */
			uint32_t kc = 0;
			const uint8_t *kb =
				th->known ? wthread__known(w, th, rf.back, &kc)
					  : NULL;
			if (!kb &&
			    mem__read(&w->t->mem, rf.back, own, l->fr_size))
				return 0;
			pyframe__decode(l, kb ? kb : own, &nf);
			if (!pyframe__is_shim(l, &nf))
				return 0;
			return live ? live : RUN_MIDCALL;
		}
		/* Callers lie below their callees in a chunk. */
		if (nk == ck && rf.back >= f)
			return 0;
		if (frame__runs(l, fb)) {
			*marked = true;
			return wthread__lowest_mark(w, th, rf.back);
		}
		pyframe__decode(l, fb, &nf);
		if (!by_call && walker__in_call(w, nf.code, fb)) {
			/* The callee of a frame in a call, unless it had
			 * returned all through the copy. */
			live = tops__gone(top, ck, f) ? rf.back : f;
			by_call = true;
		}
		f = rf.back;
		ck = nk;
		if (!live && ck == 0 && f < top.lo)
			live = f;
	}
	return 0;
}

/*
 * Whether the frame above f in the newest chunk's copy is f's callee and
 * was live through the copy (or the top cannot tell).  A frame calling
 * through C keeps the run mark on 3.11 (Thread.run calling its target),
 * so a marked frame that the last walk ended on may now be a caller.
 */
static bool wthread__callee_live(const struct py_walker *w,
				 const struct wthread *th, uint64_t f,
				 uint64_t top)
{
	uint32_t ck = UINT32_MAX, nk = UINT32_MAX;
	const uint8_t *buf = wthread__frame_bytes(w, th, f, &ck, false);
	struct py_rawframe rf, nf;

	if (!buf)
		return false;
	pyframe__decode(w->l, buf, &rf);
	uint64_t size = walker__framesize(w, rf.code);
	if (!size || f + size < f)
		return false;
	const uint8_t *nb = wthread__frame_bytes(w, th, f + size, &nk, false);
	if (!nb || nk != ck)
		return false;
	pyframe__decode(w->l, nb, &nf);
	return nf.back == f && nf.code && (!top || ck != 0 || f + size < top);
}

/*
 * Where the stack's end could not be told (the top was read from another
 * chunk, or not at all): read the current-frame word, the newest chunk
 * and the top again, now, and look once more.  The frame running, 0, or
 * RUN_MIDCALL again.
 */
#define MIDCALL_TRIES 2

static uint64_t wthread__retry(struct py_walker *w, struct wthread *th,
			       uint64_t *cur)
{
	const struct py_layout *l = w->l;
	struct chunk *c = &th->chunks[0];
	uint64_t word = (l->flags & PY_L_CFRAME) ? th->cframe + l->cf_current
						 : th->tstate + l->ts_frame;
	uint64_t run = RUN_MIDCALL;

	if (!th->nchunks || ((l->flags & PY_L_CFRAME) && !th->cframe))
		return run;
	for (int k = 0; k < MIDCALL_TRIES && run == RUN_MIDCALL; k++) {
		uint64_t now = 0, before = 0, chunk = 0, top = 0;
		struct mem_iov iov[5] = {
			{.addr = word, .buf = &now, .len = 8},
			{.addr = th->tstate + l->ts_top,
			 .buf = &before,
			 .len = 8},
			{.addr = c->addr, .buf = c->buf, .len = c->size},
			{.addr = th->tstate + l->ts_chunk,
			 .buf = &chunk,
			 .len = 8},
			{.addr = th->tstate + l->ts_top, .buf = &top, .len = 8},
		};
		w->stats.midcall++;
		if (mem__readv(&w->t->mem, iov, 5) || iov[0].err ||
		    iov[2].err || !now)
			return RUN_MIDCALL;
		c->fresh = true;
		*cur = now;
		bool same = !iov[1].err && !iov[3].err && !iov[4].err &&
			    chunk == c->addr;
		bool marked;
		struct tops none = {0, 0};
		run = wthread__running(w, th, now,
				       same ? tops__of(before, top) : none,
				       &marked);
	}
	return run;
}

/* The current-frame word, read now: 0 when no frame runs. */
static int wthread__word(struct py_walker *w, const struct wthread *th,
			 uint64_t *cur)
{
	const struct py_layout *l = w->l;
	uint64_t word = (l->flags & PY_L_CFRAME) ? th->cframe + l->cf_current
						 : th->tstate + l->ts_frame;
	uint64_t now = 0;
	int err = mem__read(&w->t->mem, word, &now, 8);

	if (err)
		return err;
	*cur = now;
	return 0;
}

static void wthread__walk(struct py_walker *w, struct wthread *th,
			  struct py_thread *out)
{
	const struct py_layout *l = w->l;
	struct mem *m = &w->t->mem;
	uint64_t cur, top = 0;
	int err;

	out->depth = 0;
	out->truncated = false;
	out->err = 0;
	out->frames = th->frames;
	uint64_t hint = th->hint;
	th->hint = 0;
	th->hinted = false;
	if (l->flags & PY_L_CFRAME) {
		uint64_t cf = py__u64(th->ts, l->ts_frame);
		if (!cf)
			return;
		if (cf != th->cframe || (th->cf_iov && th->cf_err)) {
			th->cframe = cf;
			th->cf_iov = true;
			th->cf_err =
				mem__read(m, cf, th->cf, l->cf_current + 8);
			if (th->cf_err) {
				out->err = th->cf_err;
				return;
			}
		}
		th->hinted = !th->cf_iov && hint;
		cur = th->hinted ? hint : py__u64(th->cf, l->cf_current);
	} else {
		cur = py__u64(th->ts, l->ts_frame);
	}
	if (!cur)
		return;
	if (l->flags & PY_L_CHUNKS) {
		uint64_t newest = py__u64(th->ts, l->ts_chunk);
		top = py__u64(th->ts, l->ts_top);
		if ((err = wthread__chunks(w, th, newest))) {
			out->err = err;
			return;
		}
		for (uint32_t k = 0; k < th->nchunks; k++) {
			struct chunk *c = &th->chunks[k];
			uint64_t t =
				k == 0 ? top
				       : c->addr + l->ck_data +
						 8 * py__u64(c->buf, l->ck_top);
			if ((err = chunk__cover(w, c, t))) {
				out->err = err;
				return;
			}
		}
	}
	/* The first copy of the newest chunk, unless a frame in it was
	 * replaced before the second copy: then the second, which is the
	 * more recent and is followed at once by the end-of-batch top. */
	if (wthread__frames(w, th, out, cur, top, false) == -EAGAIN) {
		w->stats.recopied++;
		wthread__frames(w, th, out, cur, top, true);
	}
	if (th->known) {
		uint64_t *v = th->known;
		th->known = th->next;
		th->next = v;
		th->nknown = th->nnext;
	}
}

/*
 * Walk the frames from cur down, in the copies.  With second, frames in
 * the newest chunk come from its second copy and are not compared;
 * otherwise -EAGAIN says that a frame changed between the two copies.
 */
static int wthread__frames(struct py_walker *w, struct wthread *th,
			   struct py_thread *out, uint64_t cur, uint64_t top,
			   bool second)
{
	const struct py_layout *l = w->l;
	struct mem *m = &w->t->mem;
	int err;

	out->depth = 0;
	out->truncated = false;
	out->err = 0;
	uint64_t f = cur;
	uint32_t steps = 0, chunk = 0, prev_chunk = UINT32_MAX;
	uint64_t prev_f = 0;
	/* Until a frame that was live at the end of the batch is seen,
	 * frames that had returned by then are dropped. */
	bool skipped = false;
	int end = (l->flags & PY_L_CHUNKS) ? wthread__end(th, second) : -1;
	uint64_t end_top = th->end[second].top;
	bool live = end < 0;
	uint32_t kc = 0;
	/* With a run mark the copy says itself where the stack ended: no
	 * frame is dropped by the top read later, nor compared with the
	 * second copy (both would favour states that last). */
	uint64_t run = 0;
	if (!second && (l->flags & PY_L_RUN_MARK) && (l->flags & PY_L_CHUNKS)) {
		struct tops tops = wthread__tops(l, th);
		bool marked;
		run = wthread__running(w, th, cur, tops, &marked);
		if (th->hinted &&
		    (!marked || wthread__callee_live(w, th, run, tops.lo))) {
			/* Only the mark of a frame with no callee places
			 * the stack from the hint: a chain up or down from
			 * a stale frame can be of frames since replaced.
			 * Where the interpreter is now, then, against the
			 * same copy. */
			if ((err = wthread__word(w, th, &cur))) {
				out->err = err;
				return 0;
			}
			if (!cur)
				return 0; /* the stack emptied */
			run = wthread__running(w, th, cur, tops, &marked);
		}
		if (run == RUN_MIDCALL)
			run = wthread__retry(w, th, &cur);
		if (run == RUN_MIDCALL) {
			/* Still mid-call, or unreadable. */
			w->stats.torn++;
			out->err = -PS_ECORRUPT;
			th->hint = cur;
			return 0;
		}
		th->hint = run ? run : 0;
		f = cur;
	}
	if (run) {
		if (run != cur)
			w->stats.moved++;
		f = cur = run;
		live = true;
		end = -1;
	}
	th->nnext = 0;
	while (f && steps < MAX_STEPS) {
		const uint8_t *buf = NULL;
		struct py_rawframe rf;

		steps++;
		if (l->flags & PY_L_CHUNKS)
			buf = wthread__frame_bytes(w, th, f, &chunk, second);
		if (!buf && th->known) {
			chunk = UINT32_MAX;
			buf = wthread__known(w, th, f, &kc);
			if (th->nnext < th->known_cap)
				th->next[th->nnext++] = f;
		}
		if (!buf) {
			/* A generator's frame, or a frame object new since
			 * the last walk. */
			w->stats.stray_frames++;
			chunk = UINT32_MAX;
			if ((err = mem__read(m, f, w->scratch, l->fr_size))) {
				out->err = err;
				return 0;
			}
			buf = w->scratch;
		}
		if ((l->flags & PY_L_FRAME_OBJECT) && w->t->frame_type &&
		    py__u64(buf, l->ob_type) != w->t->frame_type) {
			/* Freed and reused while the stack was read. */
			w->stats.bad_frames++;
			out->err = -PS_ECORRUPT;
			return 0;
		}
		if (!run && chunk == 0 && f == cur && top &&
		    f + l->fr_size > top) {
			/* The innermost frame must lie below the stack top. */
			w->stats.torn++;
			out->err = -PS_ECORRUPT;
			return 0;
		}
		/* Within one chunk, callers sit below their callees: a walk
		 * that goes up is a cycle or a torn copy. */
		if (chunk != UINT32_MAX && chunk == prev_chunk && f >= prev_f) {
			w->stats.bad_frames++;
			out->err = -PS_ECORRUPT;
			return 0;
		}
		bool dead = false;
		if (!live && chunk != UINT32_MAX) {
			dead = (int)chunk < end ||
			       ((int)chunk == end && f >= end_top);
			live = !dead;
		}
		if (!second && !run && !dead && chunk == 0 &&
		    !wthread__stable(w, th, f))
			return -EAGAIN;
		pyframe__decode(l, buf, &rf);
		if ((l->flags & PY_L_OWNER) && rf.owner > l->owner_max) {
			w->stats.bad_frames++;
			out->err = -PS_ECORRUPT;
			return 0;
		}
		prev_chunk = chunk;
		prev_f = f;
		f = rf.back;
		if (dead) {
			/* Returned while being copied: it and anything
			 * collected above it are gone. */
			w->stats.returned++;
			out->depth = 0;
			skipped = false;
			continue;
		}
		if (pyframe__is_shim(l, &rf) || !rf.code) {
			skipped = true;
			continue;
		}
		if (out->depth == PY_MAX_DEPTH) {
			out->truncated = true;
			return 0;
		}
		th->raw[out->depth] = (struct rawf){.code = rf.code,
						    .pos = rf.pos,
						    .addr = prev_f,
						    .chunk = chunk,
						    .tlbc = rf.tlbc,
						    .after_skip = skipped};
		skipped = false;
		out->depth++;
	}
	if (f)
		out->truncated = true;
	return 0;
}

/* ---- the batch -------------------------------------------------------- */

/*
 * Where the thread's stack ends, read right after a copy of its newest
 * chunk.  The current-frame word read before says which frame was
 * innermost then; if that frame returned before its caller was copied,
 * the copy holds the dead frame under a caller that has moved on.  The
 * top read just after the copy tells which frames were still there, so
 * those can be dropped instead of the sample.  Read next to the copy,
 * not at the end of the batch: the window in which the caller can call
 * again into the dead slot must stay short.
 */
static int walker__end(struct py_walker *w, struct wthread *th, int copy)
{
	const struct py_layout *l = w->l;

	th->end[copy].chunk = 0;
	return walker__iov(w, th->tstate + l->ts_chunk, &th->end[copy].chunk,
			   8) |
	       walker__iov(w, th->tstate + l->ts_top, &th->end[copy].top, 8);
}

/*
 * The GIL and GC words, last in the batch: a few bytes each, so they
 * cost no call of their own.  Before 3.12 the GIL is one struct in
 * _PyRuntime; from 3.12 each interpreter's ceval.gil points to the GIL it
 * uses (its own, or the main interpreter's), and the pointer is read
 * again with it in case it moved.
 */
static int walker__plan_state(struct py_walker *w)
{
	const struct py_layout *l = w->l;
	bool gil = layout__has_gil(l);
	int err = 0;

	w->iv_rt_gil = w->iv_rt_gc = -1;
	if (gil && (l->flags & PY_L_GIL_IN_RUNTIME)) {
		uint64_t g = w->t->runtime + l->rt_gil;
		w->iv_rt_gil = (int32_t)w->niov;
		err |= walker__iov(w, g + l->gil_holder, &w->rt_holder, 8);
		err |= walker__iov(w, g + l->gil_locked, &w->rt_locked, 4);
	}
	if (l->gc_collecting && (l->flags & PY_L_GC_IN_RUNTIME)) {
		w->iv_rt_gc = (int32_t)w->niov;
		err |= walker__iov(w, w->t->runtime + l->gc_collecting,
				   &w->rt_collecting, 4);
	}
	for (uint32_t i = 0; i < w->ninterps; i++) {
		struct winterp *wi = &w->interps[i];
		wi->iv_gil = wi->iv_gc = -1;
		if (gil && !(l->flags & PY_L_GIL_IN_RUNTIME)) {
			wi->iv_gil = (int32_t)w->niov;
			err |= walker__iov(w, wi->addr + l->is_gil,
					   &wi->gil_now, 8);
			if (wi->gil) {
				err |= walker__iov(w, wi->gil + l->gil_holder,
						   &wi->holder, 8);
				err |= walker__iov(w, wi->gil + l->gil_locked,
						   &wi->locked, 4);
			}
			if (wi->gil && (l->flags & PY_L_GIL_SWITCH))
				err |= walker__iov(w, wi->gil + l->gil_enabled,
						   &wi->enabled, 4);
		}
		if (l->gc_collecting && !(l->flags & PY_L_GC_IN_RUNTIME)) {
			wi->iv_gc = (int32_t)w->niov;
			err |= walker__iov(w, wi->addr + l->gc_collecting,
					   &wi->collecting, 4);
		}
	}
	return err;
}

static int walker__plan(struct py_walker *w)
{
	const struct py_layout *l = w->l;
	int err = 0;

	w->niov = 0;
	w->nhdrs = 0;
	err |= walker__iov(w, w->t->runtime + l->rt_interp_head, &w->rt_head,
			   8);
	for (uint32_t i = 0; i < w->ninterps; i++) {
		struct winterp *wi = &w->interps[i];
		err |= walker__iov(w, wi->addr + l->is_next, &wi->next, 8);
		err |= walker__iov(w, wi->addr + l->is_threads_head, &wi->head,
				   8);
	}
	for (uint32_t i = 0; i < w->nthreads; i++) {
		struct wthread *th = w->threads[i];
		err |= walker__iov(w, th->tstate, th->ts, l->ts_size);
		/* The current-frame word lives on the target's C stack, in
		 * the line the interpreter stores to at every call and
		 * return: reading it each sample was seen to stretch those
		 * stores, and so the share of copies caught mid-call.  Once
		 * a walk has found the top, the next starts from there. */
		th->cf_iov = (l->flags & PY_L_CFRAME) && th->cframe &&
			     !(th->hint && !w->still);
		if (th->cf_iov)
			err |= walker__iov(w, th->cframe, th->cf,
					   l->cf_current + 8);
		if (w->tid_off >= 0 && th->tid_from)
			err |= walker__iov(w,
					   th->tid_from + (uint32_t)w->tid_off,
					   &th->tid, sizeof(th->tid));
		for (uint32_t k = 0; k < th->nknown; k++)
			err |= walker__iov(w, th->known[k],
					   th->known_buf +
						   (size_t)k * l->fr_size,
					   l->fr_size);
		for (uint32_t k = 0; k < th->nchunks; k++) {
			struct chunk *c = &th->chunks[k];
			c->size = c->want;
			c->fresh = false;
			err |= walker__iov(w, c->addr, c->buf, c->size);
		}
		if (l->flags & PY_L_CHUNKS)
			err |= walker__end(w, th, 0);
	}
	for (uint32_t i = 0; i < w->nhot; i++) {
		int h = walker__hdr(w, w->hot[i]);
		if (h < 0)
			return h;
		struct seen *s = walker__seen(w, w->hot[i]);
		if (s)
			s->hdr = h;
		err |= walker__iov(w, w->hot[i],
				   w->hdrs + (size_t)h * l->co_size,
				   l->co_size);
	}
	/* Then the newest chunk again, to notice frames that were being
	 * replaced while it was copied (a return and a call landing in the
	 * same slot leave the current-frame word unchanged). */
	for (uint32_t i = 0; i < w->nthreads; i++) {
		struct wthread *th = w->threads[i];
		th->recheck_len = 0;
		th->recheck_addr = 0;
		th->end[1].err = -EAGAIN;
		if (!th->nchunks)
			continue;
		struct chunk *c = &th->chunks[0];
		if (th->recheck_cap < c->size) {
			uint8_t *b = realloc(th->recheck, c->size);
			if (!b)
				return -ENOMEM;
			th->recheck = b;
			th->recheck_cap = c->size;
		}
		th->recheck_len = c->size;
		th->recheck_addr = c->addr;
		err |= walker__iov(w, c->addr, th->recheck, c->size);
		err |= walker__end(w, th, 1);
	}
	err |= walker__plan_state(w);
	return err ? -ENOMEM : 0;
}

static uint32_t walker__end_err(struct py_walker *w, struct wthread *th,
				int copy, uint32_t j)
{
	th->end[copy].err = w->iov[j].err ? w->iov[j].err : w->iov[j + 1].err;
	return j + 2;
}

/* Copy each iovec's result back to where its owner looks for it. */
static void walker__collect(struct py_walker *w)
{
	const struct py_layout *l = w->l;
	uint32_t j = 1;

	if (w->iov[0].err)
		w->rt_head = UINT64_MAX; /* cannot match: relist */
	for (uint32_t i = 0; i < w->ninterps; i++) {
		if (w->iov[j].err)
			w->interps[i].next = UINT64_MAX;
		if (w->iov[j + 1].err)
			w->interps[i].head = UINT64_MAX;
		j += 2;
	}
	for (uint32_t i = 0; i < w->nthreads; i++) {
		struct wthread *th = w->threads[i];
		th->ts_err = w->iov[j++].err;
		if (th->cf_iov)
			th->cf_err = w->iov[j++].err;
		if (w->tid_off >= 0 && th->tid_from)
			th->tid_err = w->iov[j++].err;
		for (uint32_t k = 0; k < th->nknown; k++)
			th->known_err[k] = w->iov[j++].err;
		for (uint32_t k = 0; k < th->nchunks; k++)
			th->chunks[k].err = w->iov[j++].err;
		if (l->flags & PY_L_CHUNKS)
			j = walker__end_err(w, th, 0, j);
	}
	for (uint32_t i = 0; i < w->nhot; i++)
		w->hdr_err[i] = w->iov[j++].err;
	for (uint32_t i = 0; i < w->nthreads; i++) {
		struct wthread *th = w->threads[i];
		if (th->recheck_len) {
			th->recheck_err = w->iov[j++].err;
			j = walker__end_err(w, th, 1, j);
		}
	}
	w->rt_gil_ok = w->iv_rt_gil >= 0 && !w->iov[w->iv_rt_gil].err &&
		       !w->iov[w->iv_rt_gil + 1].err;
	w->gc = -1;
	if (w->iv_rt_gc >= 0 && !w->iov[w->iv_rt_gc].err)
		w->gc = w->rt_collecting != 0;
	for (uint32_t i = 0; i < w->ninterps; i++) {
		struct winterp *wi = &w->interps[i];
		int32_t v = wi->iv_gil;
		if (wi->iv_gc >= 0 && !w->iov[wi->iv_gc].err &&
		    (wi->collecting != 0) > w->gc)
			w->gc = wi->collecting != 0;
		wi->gil_ok = false;
		if (v < 0 || w->iov[v].err)
			continue;
		if (wi->gil_now != wi->gil) {
			/* Moved (or not known yet): the words read were not
			 * the GIL's; use the new pointer from the next
			 * sample on. */
			wi->gil = wi->gil_now;
			continue;
		}
		wi->gil_ok =
			wi->gil && !w->iov[v + 1].err && !w->iov[v + 2].err;
		/* Free-threaded with the GIL off: nobody holds it, and the
		 * words are stale. */
		if (wi->gil_ok && (w->l->flags & PY_L_GIL_SWITCH))
			wi->gil_ok = !w->iov[v + 3].err && wi->enabled != 0;
	}
}

/* Whether the thread holds the GIL, as the batch read it: 1, 0, -1. */
static int8_t walker__gil(const struct py_walker *w, const struct wthread *th)
{
	if (w->iv_rt_gil >= 0) {
		if (!w->rt_gil_ok)
			return -1;
		return w->rt_locked && w->rt_holder == th->tstate;
	}
	const struct winterp *wi = &w->interps[th->interp_index];
	if (!wi->gil_ok)
		return -1;
	return wi->locked && wi->holder == th->tstate;
}

/*
 * Frame objects (3.8-3.10) are copied one by one, callees first, while
 * the program runs: a callee that returned between its copy and its
 * caller's leaves the caller on a later line under a callee it no longer
 * has.  So read every walked frame once more, with the current-frame
 * word, in one call, and keep a stack only if nothing below the top
 * moved in between: same code, same caller, same position (the top frame
 * runs on, so only its code and caller must hold).  A stack that moved is
 * walked again reading each frame afresh, twice at most.
 */
static int walker__verify(struct py_walker *w, struct py_sample *s)
{
	const struct py_layout *l = w->l;

	for (uint32_t i = 0; i < s->nthreads; i++)
		w->threads[i]->verify =
			!s->threads[i].err && s->threads[i].depth;
	for (int attempt = 0; attempt < 3; attempt++) {
		uint32_t pending = 0, j = 0;

		w->niov = 0;
		for (uint32_t i = 0; i < s->nthreads; i++) {
			struct py_thread *pt = &s->threads[i];
			struct wthread *th = w->threads[i];
			if (!th->verify)
				continue;
			if (th->chk_cap < pt->depth) {
				uint8_t *b =
					realloc(th->chk,
						(size_t)pt->depth * l->fr_size);
				if (!b)
					return -ENOMEM;
				th->chk = b;
				th->chk_cap = pt->depth;
			}
			int err = walker__iov(w, th->tstate + l->ts_frame,
					      &th->chk_cur, 8);
			for (uint32_t k = 0; k < pt->depth; k++)
				err |= walker__iov(w, th->raw[k].addr,
						   th->chk + (size_t)k *
								     l->fr_size,
						   l->fr_size);
			if (err)
				return -ENOMEM;
			pending++;
		}
		if (!pending)
			return 0;
		int err = mem__readv(&w->t->mem, w->iov, w->niov);
		if (err)
			return err;

		for (uint32_t i = 0; i < s->nthreads; i++) {
			struct py_thread *pt = &s->threads[i];
			struct wthread *th = w->threads[i];
			if (!th->verify)
				continue;
			bool same = !w->iov[j].err &&
				    th->chk_cur == th->raw[0].addr;
			j++;
			for (uint32_t k = 0; k < pt->depth; k++, j++) {
				const struct rawf *r = &th->raw[k];
				struct py_rawframe rf;
				bool last = k + 1 == pt->depth;
				uint64_t back = last ? 0 : th->raw[k + 1].addr;

				if (!same)
					continue;
				if (w->iov[j].err) {
					same = false;
					continue;
				}
				pyframe__decode(
					l, th->chk + (size_t)k * l->fr_size,
					&rf);
				same = rf.code == r->code &&
				       (rf.back == back ||
					(last && pt->truncated)) &&
				       (k == 0 || rf.pos == r->pos);
			}
			if (same) {
				th->verify = false;
				continue;
			}
			w->stats.torn++;
			if (attempt == 2) {
				pt->err = -PS_ECORRUPT;
				pt->depth = 0;
				th->verify = false;
				continue;
			}
			/* Walk again, reading every frame afresh. */
			th->nknown = 0;
			wthread__walk(w, th, pt);
			th->verify = !pt->err && pt->depth;
		}
	}
	return 0;
}

/* Read the headers of code objects the hot set did not cover. */
static int walker__code_headers(struct py_walker *w, const struct py_sample *s)
{
	const struct py_layout *l = w->l;
	uint32_t first = w->nhdrs;

	/* Reserve every slot before pointing any iovec into w->hdrs: a
	 * reservation may move the buffer. */
	for (uint32_t i = 0; i < s->nthreads; i++) {
		const struct py_thread *pt = &s->threads[i];
		const struct wthread *th = w->threads[i];
		for (uint32_t k = 0; k < pt->depth; k++) {
			struct seen *sn = walker__seen(w, th->raw[k].code);
			if (!sn ||
			    (sn->hdr >= 0 && ((uint32_t)sn->hdr >= first ||
					      !w->hdr_err[sn->hdr])))
				continue;
			int h = walker__hdr(w, th->raw[k].code);
			if (h < 0)
				return h;
			sn->hdr = h;
		}
	}
	if (w->nhdrs == first)
		return 0;
	w->niov = 0;
	for (uint32_t h = first; h < w->nhdrs; h++)
		if (walker__iov(w, w->hdr_addr[h],
				w->hdrs + (size_t)h * l->co_size, l->co_size))
			return -ENOMEM;
	w->stats.code_reads += w->niov;
	int err = mem__readv(&w->t->mem, w->iov, w->niov);
	if (err)
		return err;
	for (uint32_t i = 0; i < w->niov; i++)
		w->hdr_err[first + i] = w->iov[i].err;
	return 0;
}

/*
 * A frame that has not run its first instruction has made no call, so
 * whatever sits above it is a callee of an earlier call that returned
 * while the stack was copied (the slot reused by a call of the same
 * function): drop those frames.
 */
static void wthread__unstarted(struct py_walker *w, struct wthread *th,
			       struct py_thread *pt)
{
	uint32_t k = pt->depth;

	while (k > 1 && pt->frames[k - 1].lasti >= 0)
		k--;
	k = k > 1 ? k - 1 : 0; /* frames[k]: the deepest unstarted caller */
	/*
	 * A callee is pushed where its caller's frame ends.  One that sits
	 * elsewhere in the caller's chunk is left over from an earlier call
	 * whose slot the caller has since reused for a frame of another
	 * size: it and everything above it are stale.
	 */
	for (uint32_t i = pt->depth - 1; i > k && i >= 1; i--) {
		const struct rawf *caller = &th->raw[i],
				  *callee = &th->raw[i - 1];
		uint64_t size = pt->frames[i].code->framesize;

		if (caller->after_skip || callee->chunk == UINT32_MAX ||
		    callee->chunk != caller->chunk || !size)
			continue;
		if (callee->addr != caller->addr + size) {
			k = i;
			break;
		}
	}
	if (k == 0)
		return;
	w->stats.returned += k;
	memmove(pt->frames, pt->frames + k,
		(pt->depth - k) * sizeof(pt->frames[0]));
	pt->depth -= k;
}

/*
 * Free-threaded 3.14+: a thread may run its own copy of a code object's
 * bytecode (co_tlbc[tlbc_index]), and the frame's position points into
 * that copy.  The address to measure the position from, as if it were a
 * code object's (so pyframe__lasti applies unchanged), or 0 if the copy
 * cannot be found.  Copies live as long as their thread, so their start
 * is cached per code object and re-read when a position falls outside.
 */
static uint64_t walker__tlbc_code(struct py_walker *w, struct py_code *code,
				  const uint8_t *hdr, int32_t idx, uint64_t pos)
{
	const struct py_layout *l = w->l;
	uint64_t arr, n, base = 0;
	bool cached = idx < 8 && code->tlbc_base[idx];

	if (idx <= 0)
		return code->addr;
	if (cached) {
		base = code->tlbc_base[idx];
		if (pos >= base - 2 && pos - base <= code->nunits * 2)
			return base - l->co_code;
	}
	/* _PyCodeArray { Py_ssize_t size; char *entries[]; } */
	arr = py__u64(hdr, l->co_tlbc);
	if (!arr || mem__read_u64(&w->t->mem, arr, &n) || (uint64_t)idx >= n ||
	    n > 4096 ||
	    mem__read_u64(&w->t->mem, arr + 8 + 8 * (uint64_t)idx, &base) ||
	    !base)
		return 0;
	if (idx < 8)
		code->tlbc_base[idx] = base;
	return base - l->co_code;
}

/* Turn raw frames into code entries and lines; remember the hot set. */
static void walker__resolve(struct py_walker *w, struct py_sample *s)
{
	const struct py_layout *l = w->l;

	w->nhot = 0;
	for (uint32_t i = 0; i < s->nthreads; i++) {
		struct py_thread *pt = &s->threads[i];
		struct wthread *th = w->threads[i];
		for (uint32_t k = 0; k < pt->depth; k++) {
			uint64_t a = th->raw[k].code;
			struct py_frame *fr = &th->frames[k];
			struct seen *sn = walker__seen(w, a);
			int err = 0;

			fr->code = NULL;
			if (sn && sn->hdr >= 0 && !w->hdr_err[sn->hdr])
				fr->code = py_codes__get(
					w->codes, w->t, a,
					w->hdrs + (size_t)sn->hdr * l->co_size,
					&err);
			if (!fr->code) {
				w->stats.bad_frames++;
				pt->err = err ? err : -EFAULT;
				pt->depth = 0;
				break;
			}
			struct py_rawframe rf = {.code = a,
						 .pos = th->raw[k].pos};
			uint64_t from = a;
			if ((l->flags & PY_L_TLBC) && th->raw[k].tlbc > 0)
				from = walker__tlbc_code(
					w, fr->code,
					w->hdrs + (size_t)sn->hdr * l->co_size,
					th->raw[k].tlbc, rf.pos);
			fr->lasti = from ? pyframe__lasti(l, &rf, from,
							  fr->code->nunits)
					 : -2;
			if (fr->lasti == -2) {
				w->stats.bad_frames++;
				pt->err = -PS_ECORRUPT;
				pt->depth = 0;
				break;
			}
			fr->line = fr->lasti < 0
					   ? fr->code->firstlineno
					   : py_lines__lookup(&fr->code->lines,
							      fr->lasti);
			if (sn->hot != w->gen && w->nhot < HOT_MAX) {
				sn->hot = w->gen;
				w->hot[w->nhot++] = a;
			}
		}
		th->raw_depth = pt->depth;
		if (pt->depth)
			wthread__unstarted(w, th, pt);
	}
}

/* Whether code is threading.Thread._bootstrap or _bootstrap_inner, whose
 * self is the thread's Thread object. */
static bool code__is_bootstrap(const struct py_code *c)
{
	const char *base = strrchr(c->filename, '/');

	base = base ? base + 1 : c->filename;
	return !strcmp(base, "threading.py") &&
	       (!strcmp(c->name, "_bootstrap") ||
		!strcmp(c->name, "_bootstrap_inner"));
}

/*
 * Name the thread: the cached name while the same thread owns the thread
 * state and the name is fresh; else read Thread._name through the
 * bootstrap frame's self.  The interpreter's main thread has no
 * bootstrap frame: the process's main thread (tid == pid) is named
 * "MainThread", threading's name for it.
 */
static void walker__name(struct py_walker *w, struct wthread *th,
			 struct py_thread *pt, int64_t now)
{
	bool same = th->name_tried && th->name_thread_id == pt->thread_id &&
		    th->name_tid == pt->tid;
	uint64_t boot = 0;
	int err;

	if (same && now - th->name_at < NAME_REFRESH_NS)
		goto out;
	/* Outermost frames only: a deeper _bootstrap is not a thread's. */
	for (uint32_t m = 0; m < 2 && m < pt->depth && !pt->err &&
			     !pt->truncated && m < th->raw_depth;
	     m++) {
		if (code__is_bootstrap(pt->frames[pt->depth - 1 - m].code))
			boot = th->raw[th->raw_depth - 1 - m].addr;
	}
	if (!boot) {
		if (same)
			goto out; /* not visible now: keep what was read */
		th->name_ok = pt->tid && pt->tid == w->t->pid;
		if (th->name_ok)
			strcpy(th->name, "MainThread");
		/* Cheap to try again: nothing was read. */
		th->name_tried = th->name_ok;
		th->name_at = now;
		th->name_thread_id = pt->thread_id;
		th->name_tid = pt->tid;
		goto out;
	}
	uint64_t self;
	char name[PY_NAME_MAX + 1];
	w->stats.name_reads++;
	err = py_frame__self(w->t, boot, &self);
	if (!err)
		err = py_thread__name(w->t, self, name);
	if (!err) {
		memcpy(th->name, name, sizeof(name));
		th->name_ok = true;
		th->name_at = now;
	} else {
		/* Keep the old name of the same thread through a failed
		 * read; try again soon. */
		th->name_ok = same && th->name_ok;
		th->name_at = now - NAME_REFRESH_NS + NAME_RETRY_NS;
	}
	th->name_tried = true;
	th->name_thread_id = pt->thread_id;
	th->name_tid = pt->tid;
out:
	pt->name = th->name_ok ? th->name : NULL;
}

int py_walker__sample(struct py_walker *w, const struct py_sample **out)
{
	int err;

	*out = NULL;
	py_codes__trim(w->codes);
	if (!w->listed && (err = walker__relist(w)))
		return err;
	if (w->tid_off == -1 && w->nthreads)
		walker__find_tid_off(w);
	for (int attempt = 0;; attempt++) {
		w->gen++;
		if ((err = walker__plan(w)))
			return err;
		if ((err = mem__readv(&w->t->mem, w->iov, w->niov)))
			return err;
		walker__collect(w);
		if (walker__list_ok(w))
			break;
		if (attempt == 1)
			return -PS_ECORRUPT;
		if ((err = walker__relist(w)))
			return err;
	}
	if (w->nthreads == 0)
		return -PS_ENOTREADY;

	if (w->nthreads > w->sample.nthreads || !w->out) {
		struct py_thread *v = realloc(w->out, w->nthreads * sizeof(*v));
		if (!v)
			return -ENOMEM;
		w->out = v;
	}
	w->sample.threads = w->out;
	w->sample.nthreads = w->nthreads;
	w->sample.gc = w->gc;
	for (uint32_t i = 0; i < w->nthreads; i++) {
		struct wthread *th = w->threads[i];
		struct py_thread *pt = &w->out[i];
		pt->tstate = th->tstate;
		pt->interp_index = th->interp_index;
		pt->interp = w->interps[th->interp_index].addr;
		pt->thread_id = py__u64(th->ts, w->l->ts_thread_id);
		pt->name = NULL;
		pt->gil = walker__gil(w, th);
		if (w->l->flags & PY_L_NATIVE_TID) {
			pt->tid = (pid_t)py__u64(th->ts, w->l->ts_native_tid);
		} else {
			/* Only if read from this thread_id's struct. */
			bool ok = w->tid_off >= 0 && !th->tid_err &&
				  th->tid_from == pt->thread_id && th->tid > 0;
			if (!ok && w->tid_off >= 0 && pt->thread_id) {
				/* A new thread (3.8 sets thread_id from the
				 * thread itself once it runs): read it now. */
				th->tid_err = mem__read(
					&w->t->mem,
					pt->thread_id + (uint32_t)w->tid_off,
					&th->tid, sizeof(th->tid));
				ok = !th->tid_err && th->tid > 0;
			}
			pt->tid = ok ? (pid_t)th->tid : 0;
			th->tid_from = pt->thread_id;
		}
		wthread__walk(w, th, pt);
	}
	if ((w->l->flags & PY_L_FRAME_OBJECT) &&
	    (err = walker__verify(w, &w->sample)))
		return err;
	if ((err = walker__code_headers(w, &w->sample)))
		return err;
	walker__resolve(w, &w->sample);
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	for (uint32_t i = 0; i < w->nthreads; i++)
		walker__name(w, w->threads[i], &w->out[i],
			     (int64_t)now.tv_sec * 1000000000ll + now.tv_nsec);
	w->stats.samples++;
	*out = &w->sample;
	return 0;
}
