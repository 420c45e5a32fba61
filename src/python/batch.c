/*
 * batch.c - the walker's batched read: what one sample asks of the
 * target in one process_vm_readv, planned from what the last sample
 * learnt, and where each result goes once it is read.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "psample/error.h"
#include "walker_priv.h"

int walker__iov(struct py_walker *w, uint64_t addr, void *buf, size_t len)
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

int walker__plan(struct py_walker *w)
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
void walker__collect(struct py_walker *w)
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
