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

/* Ask for len bytes at addr in this sample's batch; *iv gets the index
 * of the request.  0 or -ENOMEM. */
int walker__ask(struct py_walker *w, int32_t *iv, uint64_t addr, void *buf,
		size_t len)
{
	int32_t i = mem_batch__add(&w->batch, addr, buf, len);

	*iv = i < 0 ? -1 : i;
	return i < 0 ? i : 0;
}

/* The result of request iv of this sample's batch (-ENODATA if none). */
int walker__got(const struct py_walker *w, int32_t iv)
{
	return mem_batch__err(&w->batch, iv);
}

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
	th->end[copy].iv_word = -1;
	if (!(l->flags & (PY_L_RUN_MARK | PY_L_CFRAME)) &&
	    walker__ask(w, &th->end[copy].iv_word, th->tstate + l->ts_frame,
			&th->end[copy].word, 8))
		return -ENOMEM;
	return walker__ask(w, &th->end[copy].iv_chunk, th->tstate + l->ts_chunk,
			   &th->end[copy].chunk, 8) |
	       walker__ask(w, &th->end[copy].iv_top, th->tstate + l->ts_top,
			   &th->end[copy].top, 8);
}

/* The frames the last walk went through, in one run of requests:
 * iv_known is the first's index. */
static int walker__ask_known(struct py_walker *w, struct wthread *th)
{
	int err = 0;

	for (uint32_t k = 0; k < th->nknown; k++) {
		int32_t iv;
		err |= walker__ask(w, &iv, th->known[k],
				   th->known_buf + (size_t)k * w->l->fr_size,
				   w->l->fr_size);
		if (k == 0)
			th->iv_known = iv;
	}
	return err;
}

int walker__plan(struct py_walker *w)
{
	const struct py_layout *l = w->l;
	int err = 0, err2;

	mem_batch__reset(&w->batch);
	err |= walker__ask(w, &w->iv_head, w->t->runtime + l->rt_interp_head,
			   &w->rt_head, 8);
	for (uint32_t i = 0; i < w->ninterps; i++) {
		struct winterp *wi = &w->interps[i];
		err |= walker__ask(w, &wi->iv_next, wi->addr + l->is_next,
				   &wi->next, 8);
		err |= walker__ask(w, &wi->iv_head,
				   wi->addr + l->is_threads_head, &wi->head, 8);
	}
	for (uint32_t i = 0; i < w->nthreads; i++) {
		struct wthread *th = w->threads[i];
		err |= walker__ask(w, &th->iv_ts, th->tstate, th->ts,
				   l->ts_size);
		/* The current-frame word lives on the target's C stack, in
		 * the line the interpreter stores to at every call and
		 * return: reading it each sample stretches those stores,
		 * and so the share of copies caught mid-call.  Once a walk
		 * has found the top, the next starts from there. */
		th->iv_cf = th->iv_tid = th->iv_known = -1;
		if ((l->flags & PY_L_CFRAME) && th->cframe &&
		    !(th->hint && !w->still))
			err |= walker__ask(w, &th->iv_cf, th->cframe, th->cf,
					   l->cf_current + 8);
		th->cf_iov = th->iv_cf >= 0;
		if (w->tid_off >= 0 && th->tid_from)
			err |= walker__ask(w, &th->iv_tid,
					   th->tid_from + (uint32_t)w->tid_off,
					   &th->tid, sizeof(th->tid));
		/* Frames outside the chunks (3.11+: generators', shims) are
		 * read after the chunks, next to the word read after them,
		 * which a walk without a run mark starts from. */
		bool chunked = l->flags & PY_L_CHUNKS;
		if (!chunked)
			err |= walker__ask_known(w, th);
		for (uint32_t k = 0; k < th->nchunks; k++) {
			struct chunk *c = &th->chunks[k];
			c->size = c->want;
			c->fresh = false;
			err |= walker__ask(w, &c->iv, c->addr, c->buf, c->size);
		}
		if (chunked)
			err |= walker__ask_known(w, th);
		if (l->flags & PY_L_CHUNKS)
			err |= walker__end(w, th, 0);
	}
	/* The last sample's code headers, read while the stacks are. */
	if ((err2 = py_resolver__plan(w->res, &w->batch)))
		return err2;
	/* Then the newest chunk again, to notice frames that were being
	 * replaced while it was copied (a return and a call landing in the
	 * same slot leave the current-frame word unchanged). */
	for (uint32_t i = 0; i < w->nthreads; i++) {
		struct wthread *th = w->threads[i];
		th->recheck_len = 0;
		th->recheck_addr = 0;
		th->iv_recheck = -1;
		th->end[1].iv_chunk = th->end[1].iv_top = -1;
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
		err |= walker__ask(w, &th->iv_recheck, c->addr, th->recheck,
				   c->size);
		err |= walker__end(w, th, 1);
	}
	err |= walker__plan_state(w);
	return err ? -ENOMEM : 0;
}

/* Where the stack ended after copy: its error, from both reads. */
static void wthread__end_err(const struct py_walker *w, struct wthread *th,
			     int copy)
{
	int a = walker__got(w, th->end[copy].iv_chunk);

	th->end[copy].err = a ? a : walker__got(w, th->end[copy].iv_top);
	th->end[copy].word_err = th->end[copy].iv_word >= 0
					 ? walker__got(w, th->end[copy].iv_word)
					 : -EAGAIN;
}

/* Hand each request's result to where its owner looks for it. */
void walker__collect(struct py_walker *w)
{
	const struct py_layout *l = w->l;

	if (walker__got(w, w->iv_head))
		w->rt_head = UINT64_MAX; /* cannot match: relist */
	for (uint32_t i = 0; i < w->ninterps; i++) {
		struct winterp *wi = &w->interps[i];
		if (walker__got(w, wi->iv_next))
			wi->next = UINT64_MAX;
		if (walker__got(w, wi->iv_head))
			wi->head = UINT64_MAX;
	}
	for (uint32_t i = 0; i < w->nthreads; i++) {
		struct wthread *th = w->threads[i];
		th->ts_err = walker__got(w, th->iv_ts);
		if (th->cf_iov)
			th->cf_err = walker__got(w, th->iv_cf);
		if (th->iv_tid >= 0)
			th->tid_err = walker__got(w, th->iv_tid);
		for (uint32_t k = 0; k < th->nknown; k++)
			th->known_err[k] =
				walker__got(w, th->iv_known + (int32_t)k);
		for (uint32_t k = 0; k < th->nchunks; k++)
			th->chunks[k].err = walker__got(w, th->chunks[k].iv);
		if (l->flags & PY_L_CHUNKS)
			wthread__end_err(w, th, 0);
		th->end[1].err = -EAGAIN;
		if (th->iv_recheck >= 0) {
			th->recheck_err = walker__got(w, th->iv_recheck);
			wthread__end_err(w, th, 1);
		}
	}
	py_resolver__collect(w->res, &w->batch);
	walker__collect_state(w);
}
