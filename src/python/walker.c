/*
 * walker.c - the frame walker: every thread's Python stack, read from
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

#include "psample/clock.h"
#include "psample/error.h"
#include "walker_priv.h"

int py_walker__new(struct py_target *t, struct py_walker **out)
{
	struct py_walker *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (!w)
		return -ENOMEM;
	w->t = t;
	w->l = t->layout;
	w->tid_off = (w->l->flags & PY_L_NATIVE_TID) ? -2 : -1;
	nstids__init(&w->nstids, t->pid);
	if (w->l->ts_size > PY_MAX_READ || w->l->fr_size > PY_MAX_READ ||
	    w->l->co_size > PY_MAX_READ || w->l->cf_current + 8 > 16) {
		free(w);
		return -PS_EBADLAYOUT;
	}
	int err = py_resolver__new(t, &w->res);
	if (err) {
		free(w);
		return err;
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
	mem_batch__free(&w->batch);
	free(w->out);
	free(w->stacks);
	py_resolver__free(w->res);
	nstids__free(&w->nstids);
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

/* Append e to the thread's raw stack: 0 or -ENOMEM. */
static int wthread__push(struct wthread *th, const struct py_rawentry *e)
{
	struct py_rawstack *s = &th->stack;

	if (s->depth == s->cap) {
		if (s->cap >= PY_RAW_MAX_DEPTH)
			return -E2BIG; /* cannot happen: MAX_STEPS fits */
		uint32_t cap = s->cap ? s->cap * 2 : 64;
		if (cap > PY_RAW_MAX_DEPTH)
			cap = PY_RAW_MAX_DEPTH;
		struct py_rawentry *v = realloc(s->frames, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->frames = v;
		s->cap = cap;
	}
	s->frames[s->depth++] = *e;
	return 0;
}

/*
 * Walk the frames from cur down, in the copies.  With second, frames in
 * the newest chunk come from its second copy and are not compared;
 * otherwise -EAGAIN says that a frame changed between the two copies.
 */
static int wthread__frames(struct py_walker *w, struct wthread *th,
			   uint64_t cur, uint64_t top, bool second)
{
	const struct py_layout *l = w->l;
	struct mem *m = &w->t->mem;
	struct py_rawstack *out = &th->stack;
	int err;

	out->depth = 0;
	out->truncated = false;
	out->err = 0;
	uint64_t f = cur;
	uint32_t steps = 0, chunk = 0, prev_chunk = UINT32_MAX;
	uint32_t ncode = 0; /* Python frames in out */
	uint64_t prev_f = 0;
	/* Until a frame that was live at the end of the batch is seen,
	 * frames that had returned by then are dropped. */
	int end = (l->flags & PY_L_CHUNKS) ? wthread__end(th, second) : -1;
	uint64_t end_top = th->end[second].top;
	bool live = end < 0;
	uint32_t kc = 0;
	/* With a run mark the copy says itself where the stack ended: no
	 * frame is dropped by the top read later, nor compared with the
	 * second copy (both would favour states that last). */
	uint64_t run = 0;
	if (!second && (l->flags & PY_L_RUN_MARK) && (l->flags & PY_L_CHUNKS)) {
		if ((err = wthread__place(w, th, &cur, &run))) {
			if (err < 0)
				out->err = err;
			return 0;
		}
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
			chunk = PY_RAW_NO_CHUNK;
			buf = wthread__known(w, th, f, &kc);
			if (th->nnext < th->known_cap)
				th->next[th->nnext++] = f;
		}
		if (!buf) {
			/* A generator's frame, or a frame object new since
			 * the last walk. */
			w->stats.stray_frames++;
			chunk = PY_RAW_NO_CHUNK;
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
		if (chunk != PY_RAW_NO_CHUNK && chunk == prev_chunk &&
		    !pyframe__caller_below(prev_f, f)) {
			w->stats.bad_frames++;
			out->err = -PS_ECORRUPT;
			return 0;
		}
		bool dead = false;
		if (!live && chunk != PY_RAW_NO_CHUNK) {
			dead = (int)chunk < end ||
			       ((int)chunk == end && f >= end_top);
			live = !dead;
		}
		/* A slot replaced before the second copy sends the walk to
		 * it, only where the mark placed nothing (3.11-3.13).
		 * Without a mark the word, the top and the first copy are
		 * the sample: what changed after them happened after the
		 * instant sampled, and walking the later copy kept the
		 * frames that lasted, giving a fast callee's time to its
		 * callers. */
		if (!second && !run && (l->flags & PY_L_RUN_MARK) && !dead &&
		    chunk == 0 && !wthread__stable(w, th, f))
			return -EAGAIN;
		pyframe__decode(l, buf, &rf);
		if (!pyframe__owner_ok(l, &rf)) {
			w->stats.bad_frames++;
			out->err = -PS_ECORRUPT;
			return 0;
		}
		if (pyframe__suspended_gen(l, &rf) && buf != w->scratch) {
			/* Copied before it was resumed, yet running as the
			 * stack read says: its caller is set now, unless it
			 * has been suspended again. */
			uint64_t code = rf.code;
			w->stats.stray_frames++;
			if ((err = mem__read(m, f, w->scratch, l->fr_size))) {
				out->err = err;
				return 0;
			}
			pyframe__decode(l, w->scratch, &rf);
			if (rf.code != code || pyframe__suspended_gen(l, &rf)) {
				w->stats.torn++;
				out->err = -PS_ECORRUPT;
				return 0;
			}
			buf = w->scratch;
		}
		prev_chunk = chunk;
		prev_f = f;
		f = rf.back;
		if (dead) {
			/* Returned while being copied: it and anything
			 * collected above it are gone. */
			w->stats.returned++;
			out->depth = ncode = 0;
			continue;
		}
		uint32_t marks = 0;
		if (pyframe__is_shim(l, &rf))
			marks = PY_RAW_SHIM;
		else if (!rf.code)
			marks = PY_RAW_NOCODE;
		else if (pyframe__is_entry(l, buf))
			marks = PY_RAW_ENTRY;
		if (!(marks & (PY_RAW_SHIM | PY_RAW_NOCODE)) &&
		    ncode++ == PY_MAX_DEPTH) {
			out->truncated = true;
			return 0;
		}
		if ((marks & PY_RAW_SHIM) && out->depth &&
		    py_rawentry__is_code(&out->frames[out->depth - 1]))
			out->frames[out->depth - 1].marks |= PY_RAW_ENTRY;
		if ((err = wthread__push(
			     th, &(struct py_rawentry){.code = rf.code,
						       .pos = rf.pos,
						       .addr = prev_f,
						       .tlbc = rf.tlbc,
						       .chunk = chunk,
						       .marks = marks}))) {
			out->err = err;
			return 0;
		}
	}
	if (f)
		out->truncated = true;
	return 0;
}

/* Keep the frames outside the chunks this walk met (known, walk order) and
 * those kept from before, the most recent first; append those not met to
 * known, for the next batch. */
static void wthread__keep_strays(struct wthread *th)
{
	uint64_t kept[STRAYS_KEPT];
	uint32_t n = 0;

	for (uint32_t k = 0; k < th->nknown && n < STRAYS_KEPT; k++)
		kept[n++] = th->known[k];
	for (uint32_t k = 0; k < th->nstrays && n < STRAYS_KEPT; k++) {
		bool met = false;
		for (uint32_t j = 0; j < th->nknown && !met; j++)
			met = th->known[j] == th->strays[k];
		if (met)
			continue;
		kept[n++] = th->strays[k];
		if (th->nknown < th->known_cap)
			th->known[th->nknown++] = th->strays[k];
	}
	memcpy(th->strays, kept, n * sizeof(kept[0]));
	th->nstrays = n;
}

void wthread__walk(struct py_walker *w, struct wthread *th)
{
	const struct py_layout *l = w->l;
	struct mem *m = &w->t->mem;
	struct py_rawstack *out = &th->stack;
	uint64_t cur, top = 0;
	int err;

	out->depth = 0;
	out->truncated = false;
	out->err = 0;
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
		/* Without a run mark the sample is the instant of the word:
		 * the one read right after the copy of the newest chunk, with
		 * the top, rather than the thread state's before it.  A fast
		 * callee running then has been copied a moment before, and
		 * the time between the two is short: the longer it is, the
		 * more often such a callee has returned and its caller moved
		 * on or called another function into its slot. */
		if (!(l->flags & PY_L_RUN_MARK) && !th->end[0].err &&
		    !th->end[0].word_err && th->end[0].chunk == newest) {
			cur = th->end[0].word;
			top = th->end[0].top;
			if (!cur)
				return;
		}
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
	if (wthread__frames(w, th, cur, top, false) == -EAGAIN) {
		w->stats.recopied++;
		wthread__frames(w, th, cur, top, true);
	}
	if (th->known) {
		uint64_t *v = th->known;
		th->known = th->next;
		th->next = v;
		th->nknown = th->nnext;
		if (!(l->flags & PY_L_FRAME_OBJECT))
			wthread__keep_strays(th);
	}
}

/* The thread's identity as this sample read it; its kernel tid. */
static void wthread__identify(struct py_walker *w, struct wthread *th,
			      struct py_thread *pt)
{
	pt->tstate = th->tstate;
	pt->interp_index = th->interp_index;
	pt->interp = w->interps[th->interp_index].addr;
	pt->thread_id = py__u64(th->ts, w->l->ts_thread_id);
	pt->name = NULL;
	pt->gil = walker__gil(w, th);
	if (w->l->flags & PY_L_NATIVE_TID) {
		pt->tid = (pid_t)py__u64(th->ts, w->l->ts_native_tid);
		return;
	}
	/* Only if read from this thread_id's struct. */
	bool ok = w->tid_off >= 0 && !th->tid_err &&
		  th->tid_from == pt->thread_id && th->tid > 0;
	if (!ok && w->tid_off >= 0 && pt->thread_id) {
		/* A new thread (3.8 sets thread_id from the thread itself
		 * once it runs): read it now. */
		th->tid_err = mem__read(&w->t->mem,
					pt->thread_id + (uint32_t)w->tid_off,
					&th->tid, sizeof(th->tid));
		ok = !th->tid_err && th->tid > 0;
	}
	pt->tid = ok ? (pid_t)th->tid : 0;
	th->tid_from = pt->thread_id;
}

/* The thread's raw stack named by the resolver. */
static void wthread__resolve(struct py_walker *w, struct wthread *th,
			     struct py_thread *pt)
{
	uint32_t depth, dropped;
	int err = py_resolver__stack(w->res, &th->stack, th->frames, &depth,
				     &dropped);

	pt->raw = &th->stack;
	pt->frames = th->frames;
	pt->truncated = th->stack.truncated;
	pt->err = th->stack.err;
	if (err) {
		w->stats.bad_frames++;
		pt->err = err;
	}
	w->stats.returned += dropped;
	pt->depth = depth;
}

int py_walker__sample(struct py_walker *w, const struct py_sample **out)
{
	int err;

	*out = NULL;
	py_resolver__trim(w->res);
	if (!w->listed && (err = walker__relist(w)))
		return err;
	if (w->tid_off == -1 && w->nthreads)
		walker__find_tid_off(w);
	for (int attempt = 0;; attempt++) {
		if ((err = walker__plan(w)))
			return err;
		if ((err = mem_batch__read(&w->t->mem, &w->batch)))
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

	if (w->nthreads > w->cap_out || !w->out) {
		struct py_thread *v = realloc(w->out, w->nthreads * sizeof(*v));
		if (!v)
			return -ENOMEM;
		w->out = v;
		const struct py_rawstack **s = realloc(
			w->stacks,
			w->nthreads *
				sizeof(*s)); // NOLINT(bugprone-sizeof-expression):
					     // an array of pointers
		if (!s)
			return -ENOMEM;
		w->stacks = s;
		w->cap_out = w->nthreads;
	}
	w->sample.threads = w->out;
	w->sample.nthreads = w->nthreads;
	w->sample.gc = w->gc;
	for (uint32_t i = 0; i < w->nthreads; i++) {
		struct wthread *th = w->threads[i];
		wthread__identify(w, th, &w->out[i]);
		wthread__walk(w, th);
		w->stacks[i] = &th->stack;
	}
	if ((w->l->flags & PY_L_FRAME_OBJECT) && (err = walker__verify(w)))
		return err;
	int nread = py_resolver__headers(w->res, w->stacks, w->nthreads);
	if (nread < 0)
		return nread;
	w->stats.code_reads += (uint64_t)nread;
	for (uint32_t i = 0; i < w->nthreads; i++)
		wthread__resolve(w, w->threads[i], &w->out[i]);
	int64_t now = clock__ns(CLOCK_MONOTONIC);
	for (uint32_t i = 0; i < w->nthreads; i++) {
		/* From here on the ids are /proc's; the target's is kept
		 * beside where it differs. */
		struct py_thread *pt = &w->out[i];
		pt->ns_tid = w->nstids.apart ? pt->tid : 0;
		pt->tid = nstids__host(&w->nstids, pt->tid, now);
		walker__name(w, w->threads[i], pt, now);
	}
	w->stats.samples++;
	*out = &w->sample;
	return 0;
}
