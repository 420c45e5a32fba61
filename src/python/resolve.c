/*
 * resolve.c - raw frames into code objects, instruction indexes and
 * lines: the per-sample table of code headers, the code cache, thread-
 * local bytecode copies, and the frames a stale copy leaves above a
 * caller that has moved on.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "psample/error.h"
#include "walker_priv.h"

/* A slot for a code header; -ENOMEM. */
int walker__hdr(struct py_walker *w, uint64_t addr)
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
const struct seen *walker__seen_slot(const struct py_walker *w, uint64_t addr)
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

struct seen *walker__seen(struct py_walker *w, uint64_t addr)
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

/* Read the headers of code objects the hot set did not cover. */
int walker__code_headers(struct py_walker *w, const struct py_sample *s)
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
	/* One run of requests: header h is request h - first. */
	mem_batch__reset(&w->batch);
	for (uint32_t h = first; h < w->nhdrs; h++) {
		int32_t iv;
		if (walker__ask(w, &iv, w->hdr_addr[h],
				w->hdrs + (size_t)h * l->co_size, l->co_size))
			return -ENOMEM;
	}
	w->stats.code_reads += w->batch.n;
	int err = mem_batch__read(&w->t->mem, &w->batch);
	if (err)
		return err;
	for (uint32_t h = first; h < w->nhdrs; h++)
		w->hdr_err[h] = walker__got(w, (int32_t)(h - first));
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
void walker__resolve(struct py_walker *w, struct py_sample *s)
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
