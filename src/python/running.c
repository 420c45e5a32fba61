/*
 * running.c - which frame was running when a thread's stack was copied
 * (3.11-3.13, PY_L_RUN_MARK), told from the copy itself: the run mark,
 * the stack top read on both sides of the copy, and the frames in a call.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "psample/error.h"
#include "walker_priv.h"

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

/*
 * Whether a frame without the mark is inside a call, by the copy alone
 * (pyframe__in_call).  Stopped (--blocking), the top read after the copy
 * is exact: it alone decides, and it is right in the one case this is
 * not, a caller just returned to (its depth plus the value returned).
 */
static bool walker__in_call(const struct py_walker *w, uint64_t code,
			    const uint8_t *buf)
{
	if (w->still)
		return false;
	return pyframe__in_call(w->l, buf,
				py_resolver__nlocalsplus(w->res, code));
}

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
 * Taking the upper mark would give a fast callee the time of both
 * straddles, most of all where copies are slow.  The frame that starts an eval
 * loop (3.11's is_entry; on 3.12+ a shim, which lies outside the chunks) ends
 * the search: its caller called through C and keeps the mark.
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
		if (pyframe__is_entry(l, fb))
			break;
		pyframe__decode(l, fb, &rf);
		if (!rf.back)
			break;
		const uint8_t *bb =
			wthread__frame_bytes(w, th, rf.back, &nk, false);
		/* Callers lie below their callees in a chunk. */
		if (!bb || (nk == ck && !pyframe__caller_below(f, rf.back)))
			break;
		if (pyframe__runs(l, bb))
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
 * function that is a good part of its time, and the interpreter's own
 * current-frame word is on the callee through nearly all of it.  So the
 * callee is the answer: the highest frame of the chain that is the
 * callee of a frame in a call; where no frame is seen in a call (a bare
 * f() saves an empty stack), the highest that lies below the top read on
 * both sides of the copy.  The top alone is not trusted over a frame in
 * a call: fast code returns and calls back into the same slots within
 * one copy, and a callee that returned then lies below both tops again.
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
	if (pyframe__runs(l, buf)) {
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
		uint64_t size = py_resolver__framesize(w->res, rf.code);
		if (!size || f + size < f)
			break;
		const uint8_t *nb =
			wthread__frame_bytes(w, th, f + size, &nk, false);
		if (!nb || nk != ck)
			break;
		pyframe__decode(l, nb, &nf);
		if (nf.back != f || !nf.code)
			break;
		if (pyframe__runs(l, nb)) {
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
		if (nk == ck && !pyframe__caller_below(f, rf.back))
			return 0;
		if (pyframe__runs(l, fb)) {
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
 * Whether the frame above f in the newest chunk's copy may be f's callee
 * and was live through the copy (or the top cannot tell).  A frame calling
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
	uint64_t size = py_resolver__framesize(w->res, rf.code);
	if (!size || f + size < f)
		return false;
	const uint8_t *nb = wthread__frame_bytes(w, th, f + size, &nk, false);
	if (!nb || nk != ck)
		return false;
	pyframe__decode(w->l, nb, &nf);
	if (!nf.code || (top && ck == 0 && f + size >= top))
		return false;
	if (nf.back == f)
		return true;
	/* A frame whose caller lies outside the chunks (a coroutine's or
	 * generator's frame, or a shim) may be a callee through C: 3.11's
	 * Handle._run keeps the mark while the task it runs is stepped. */
	uint32_t bk = UINT32_MAX;
	return nf.back && !wthread__frame_bytes(w, th, nf.back, &bk, false);
}

/* The bytes the batch read for a known frame at addr, or NULL. */
static const uint8_t *wthread__known_at(const struct py_walker *w,
					const struct wthread *th, uint64_t addr)
{
	for (uint32_t k = 0; k < th->nknown; k++)
		if (th->known[k] == addr && !th->known_err[k])
			return th->known_buf + (size_t)k * w->l->fr_size;
	return NULL;
}

/*
 * A frame outside the chunks, in this batch's copy, that runs as f's
 * callee through C: a generator's or coroutine's frame that next() or
 * send() entered (on 3.12+ through the shim of that C call).  f keeps
 * the run mark meanwhile, so the mark alone stops at f.  Then the
 * generator's own callee, pushed on the data stack where f ends, if it
 * runs.  0 if none.
 */
static uint64_t wthread__through_c(const struct py_walker *w,
				   const struct wthread *th, uint64_t f)
{
	const struct py_layout *l = w->l;
	struct py_rawframe rf, sf, nf;
	uint64_t found = 0;

	for (uint32_t k = 0; k < th->nknown && !found; k++) {
		if (th->known_err[k])
			continue;
		const uint8_t *kb = th->known_buf + (size_t)k * l->fr_size;
		pyframe__decode(l, kb, &rf);
		if (!rf.code || !pyframe__runs(l, kb))
			continue;
		uint64_t back = rf.back;
		if (back != f) {
			const uint8_t *sb = wthread__known_at(w, th, back);
			if (!sb)
				continue;
			pyframe__decode(l, sb, &sf);
			if (!pyframe__is_shim(l, &sf) || sf.back != f)
				continue;
		}
		found = th->known[k];
	}
	if (!found)
		return 0;
	uint32_t ck = UINT32_MAX, nk = UINT32_MAX;
	const uint8_t *fb = wthread__frame_bytes(w, th, f, &ck, false);
	if (!fb)
		return found;
	pyframe__decode(l, fb, &rf);
	uint64_t size = py_resolver__framesize(w->res, rf.code);
	if (!size || f + size < f)
		return found;
	const uint8_t *nb = wthread__frame_bytes(w, th, f + size, &nk, false);
	if (!nb || nk != ck)
		return found;
	pyframe__decode(l, nb, &nf);
	if (nf.back == found && nf.code && pyframe__runs(l, nb))
		return wthread__lowest_mark(w, th, f + size);
	return found;
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

/*
 * Place the stack of th in this sample's copy: *run gets the frame that
 * was running when the copy was made (0 when the mark cannot tell: walk
 * from *cur, which may have been read again).  0; 1 when the stack has
 * emptied since; or a negative error, -PS_ECORRUPT when the copy was
 * caught mid-call and stayed so when read again.
 */
int wthread__place(struct py_walker *w, struct wthread *th, uint64_t *cur,
		   uint64_t *run)
{
	struct tops tops = wthread__tops(w->l, th);
	bool marked;
	int err;

	*run = wthread__running(w, th, *cur, tops, &marked);
	uint64_t g = th->hinted && marked ? wthread__through_c(w, th, *run) : 0;
	if (g) {
		th->hint = *run = g;
		return 0;
	}
	if (th->hinted &&
	    (!marked || wthread__callee_live(w, th, *run, tops.lo))) {
		/* Only the mark of a frame with no callee places the stack
		 * from the hint: a chain up or down from a stale frame can
		 * be of frames since replaced.  Where the interpreter is
		 * now, then, against the same copy. */
		if ((err = wthread__word(w, th, cur)))
			return err;
		if (!*cur)
			return 1;
		*run = wthread__running(w, th, *cur, tops, &marked);
	}
	if (*run == RUN_MIDCALL)
		*run = wthread__retry(w, th, cur);
	if (*run == RUN_MIDCALL) {
		/* Still mid-call, or unreadable. */
		w->stats.torn++;
		th->hint = *cur;
		return -PS_ECORRUPT;
	}
	th->hint = *run;
	return 0;
}
