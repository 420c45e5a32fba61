/*
 * verify.c - 3.8-3.10: frame objects are heap objects copied one by one,
 * so a walked stack is read once more and kept only if it held still.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "psample/error.h"
#include "walker_priv.h"

/* Whether caller, calling code callee, at pos, was confirmed lately. */
static bool wthread__confirmed(const struct wthread *th, uint64_t caller,
			       uint64_t callee, uint64_t pos)
{
	for (uint32_t k = 0; k < th->nconfirmed; k++) {
		const struct confirmed_call *c = &th->confirmed[k];
		if (c->caller == caller && c->callee == callee && c->pos == pos)
			return true;
	}
	return false;
}

/* Remember the calls of th's stack, which held still while read twice. */
static void wthread__confirm(struct wthread *th)
{
	const struct py_rawstack *s = &th->stack;

	for (uint32_t k = 1; k < s->depth; k++) {
		const struct py_rawentry *c = &s->frames[k];
		uint64_t callee = s->frames[k - 1].code;
		if (wthread__confirmed(th, c->addr, callee, c->pos))
			continue;
		uint32_t n = th->nconfirmed < CONFIRMED_CALLS
				     ? th->nconfirmed++
				     : CONFIRMED_CALLS - 1;
		memmove(&th->confirmed[1], &th->confirmed[0],
			n * sizeof(th->confirmed[0]));
		th->confirmed[0] = (struct confirmed_call){
			.caller = c->addr, .callee = callee, .pos = c->pos};
	}
}

/*
 * Whether every frame below the top of th's stack sits on a call
 * instruction from which a stack read twice saw it call the code above
 * it.  Each was copied after its callee (innermost first), so its
 * callee was still running then or had returned into a call of the same
 * code from the same place: the stack is one the program had, and
 * reading it again would only keep the stacks that last (those of slow
 * callees).  A call instruction alone is not enough: a caller whose
 * fast callee returned is soon on its next call (t = perf_counter()).
 * Calls the program makes without a call instruction (a generator's
 * next step, an operator's dunder method) are always read again.
 */
static bool wthread__in_calls(const struct py_walker *w,
			      const struct wthread *th)
{
	const struct py_rawstack *s = &th->stack;

	for (uint32_t k = 1; k < s->depth; k++) {
		const struct py_rawentry *c = &s->frames[k];
		if (!py_resolver__at_call(w->res, c->code, c->pos) ||
		    !wthread__confirmed(th, c->addr, s->frames[k - 1].code,
					c->pos))
			return false;
	}
	return true;
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
int walker__verify(struct py_walker *w)
{
	const struct py_layout *l = w->l;

	for (uint32_t i = 0; i < w->nthreads; i++) {
		struct wthread *th = w->threads[i];
		th->verify = !th->stack.err && th->stack.depth &&
			     !wthread__in_calls(w, th);
	}
	for (int attempt = 0; attempt < 3; attempt++) {
		uint32_t pending = 0;

		mem_batch__reset(&w->batch);
		for (uint32_t i = 0; i < w->nthreads; i++) {
			struct wthread *th = w->threads[i];
			const struct py_rawstack *s = &th->stack;
			if (!th->verify)
				continue;
			if (th->chk_cap < s->depth) {
				uint8_t *b = realloc(
					th->chk, (size_t)s->depth * l->fr_size);
				if (!b)
					return -ENOMEM;
				th->chk = b;
				th->chk_cap = s->depth;
			}
			/* One run of requests from iv_chk: the word, then
			 * the frames. */
			int err = walker__ask(w, &th->iv_chk,
					      th->tstate + l->ts_frame,
					      &th->chk_cur, 8);
			for (uint32_t k = 0; k < s->depth; k++) {
				int32_t iv;
				err |= walker__ask(w, &iv, s->frames[k].addr,
						   th->chk + (size_t)k *
								     l->fr_size,
						   l->fr_size);
			}
			if (err)
				return -ENOMEM;
			pending++;
		}
		if (!pending)
			return 0;
		int err = mem_batch__read(&w->t->mem, &w->batch);
		if (err)
			return err;

		for (uint32_t i = 0; i < w->nthreads; i++) {
			struct wthread *th = w->threads[i];
			struct py_rawstack *s = &th->stack;
			if (!th->verify)
				continue;
			int32_t j = th->iv_chk;
			bool same = !walker__got(w, j) &&
				    th->chk_cur == s->frames[0].addr;
			j++;
			for (uint32_t k = 0; k < s->depth; k++, j++) {
				const struct py_rawentry *r = &s->frames[k];
				struct py_rawframe rf;
				bool last = k + 1 == s->depth;
				uint64_t back =
					last ? 0 : s->frames[k + 1].addr;

				if (!same)
					continue;
				if (walker__got(w, j)) {
					same = false;
					continue;
				}
				pyframe__decode(
					l, th->chk + (size_t)k * l->fr_size,
					&rf);
				same = rf.code == r->code &&
				       (rf.back == back ||
					(last && s->truncated)) &&
				       (k == 0 || rf.pos == r->pos);
			}
			if (same) {
				wthread__confirm(th);
				th->verify = false;
				continue;
			}
			w->stats.torn++;
			if (attempt == 2) {
				s->err = -PS_ECORRUPT;
				s->depth = 0;
				th->verify = false;
				continue;
			}
			/* Walk again, reading every frame afresh. */
			th->nknown = 0;
			wthread__walk(w, th);
			th->verify = !s->err && s->depth;
		}
	}
	return 0;
}
