/*
 * copies.c - the walker's copies of a thread's frames: 3.11+ data-stack
 * chunks (kept, extended and reloaded as the stack moves) and 3.8-3.10
 * frame objects read again in the batch, and how a frame's bytes are
 * found in them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "psample/error.h"
#include "walker_priv.h"

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
int chunk__cover(struct py_walker *w, struct chunk *c, uint64_t top)
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
int wthread__chunks(struct py_walker *w, struct wthread *th, uint64_t newest)
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
const uint8_t *wthread__frame_bytes(const struct py_walker *w,
				    const struct wthread *th, uint64_t addr,
				    uint32_t *chunk, bool second)
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
const uint8_t *wthread__known(const struct py_walker *w,
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
bool wthread__stable(const struct py_walker *w, const struct wthread *th,
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
int wthread__end(const struct wthread *th, int copy)
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
