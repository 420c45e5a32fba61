/*
 * gil.c - the GIL holder and the GC state, a few words each, read at the
 * end of every sample's batch.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "psample/error.h"
#include "walker_priv.h"

/*
 * Whether the layout says where the GIL's holder and lock word are (and,
 * free-threaded, whether the GIL is switched on).
 */
bool layout__has_gil(const struct py_layout *l)
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

/*
 * The GIL and GC words, last in the batch: a few bytes each, so they
 * cost no call of their own.  Before 3.12 the GIL is one struct in
 * _PyRuntime; from 3.12 each interpreter's ceval.gil points to the GIL it
 * uses (its own, or the main interpreter's), and the pointer is read
 * again with it in case it moved.
 */
int walker__plan_state(struct py_walker *w)
{
	const struct py_layout *l = w->l;
	bool gil = layout__has_gil(l);
	int err = 0;

	w->iv_rt_holder = w->iv_rt_locked = w->iv_rt_gc = -1;
	if (gil && (l->flags & PY_L_GIL_IN_RUNTIME)) {
		uint64_t g = w->t->runtime + l->rt_gil;
		err |= walker__ask(w, &w->iv_rt_holder, g + l->gil_holder,
				   &w->rt_holder, 8);
		err |= walker__ask(w, &w->iv_rt_locked, g + l->gil_locked,
				   &w->rt_locked, 4);
	}
	if (l->gc_collecting && (l->flags & PY_L_GC_IN_RUNTIME))
		err |= walker__ask(w, &w->iv_rt_gc,
				   w->t->runtime + l->gc_collecting,
				   &w->rt_collecting, 4);
	for (uint32_t i = 0; i < w->ninterps; i++) {
		struct winterp *wi = &w->interps[i];
		wi->iv_gil = wi->iv_holder = wi->iv_locked = -1;
		wi->iv_enabled = wi->iv_gc = -1;
		if (gil && !(l->flags & PY_L_GIL_IN_RUNTIME)) {
			err |= walker__ask(w, &wi->iv_gil, wi->addr + l->is_gil,
					   &wi->gil_now, 8);
			if (wi->gil) {
				err |= walker__ask(w, &wi->iv_holder,
						   wi->gil + l->gil_holder,
						   &wi->holder, 8);
				err |= walker__ask(w, &wi->iv_locked,
						   wi->gil + l->gil_locked,
						   &wi->locked, 4);
			}
			if (wi->gil && (l->flags & PY_L_GIL_SWITCH))
				err |= walker__ask(w, &wi->iv_enabled,
						   wi->gil + l->gil_enabled,
						   &wi->enabled, 4);
		}
		if (l->gc_collecting && !(l->flags & PY_L_GC_IN_RUNTIME))
			err |= walker__ask(w, &wi->iv_gc,
					   wi->addr + l->gc_collecting,
					   &wi->collecting, 4);
	}
	return err;
}

/* What the batch read of the GIL and GC words, checked. */
void walker__collect_state(struct py_walker *w)
{
	w->rt_gil_ok = w->iv_rt_holder >= 0 &&
		       !walker__got(w, w->iv_rt_holder) &&
		       !walker__got(w, w->iv_rt_locked);
	w->gc = -1;
	if (w->iv_rt_gc >= 0 && !walker__got(w, w->iv_rt_gc))
		w->gc = w->rt_collecting != 0;
	for (uint32_t i = 0; i < w->ninterps; i++) {
		struct winterp *wi = &w->interps[i];
		if (wi->iv_gc >= 0 && !walker__got(w, wi->iv_gc) &&
		    (wi->collecting != 0) > w->gc)
			w->gc = wi->collecting != 0;
		wi->gil_ok = false;
		if (wi->iv_gil < 0 || walker__got(w, wi->iv_gil))
			continue;
		if (wi->gil_now != wi->gil) {
			/* Moved (or not known yet): the words read were not
			 * the GIL's; use the new pointer from the next
			 * sample on. */
			wi->gil = wi->gil_now;
			continue;
		}
		wi->gil_ok = wi->gil && !walker__got(w, wi->iv_holder) &&
			     !walker__got(w, wi->iv_locked);
		/* Free-threaded with the GIL off: nobody holds it, and the
		 * words are stale. */
		if (wi->gil_ok && (w->l->flags & PY_L_GIL_SWITCH))
			wi->gil_ok = !walker__got(w, wi->iv_enabled) &&
				     wi->enabled != 0;
	}
}

/* Whether the thread holds the GIL, as the batch read it: 1, 0, -1. */
int8_t walker__gil(const struct py_walker *w, const struct wthread *th)
{
	if (w->iv_rt_holder >= 0) {
		if (!w->rt_gil_ok)
			return -1;
		return w->rt_locked && w->rt_holder == th->tstate;
	}
	const struct winterp *wi = &w->interps[th->interp_index];
	if (!wi->gil_ok)
		return -1;
	return wi->locked && wi->holder == th->tstate;
}
