/*
 * threads.c - the interpreter and thread lists of a target, each
 * thread's kernel tid (found in struct pthread where the version keeps
 * none) and its threading name, cached per thread state.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "psample/clock.h"
#include "psample/error.h"
#include "psample/proc.h"
#include "walker_priv.h"

void wthread__free(struct wthread *th)
{
	if (!th)
		return;
	for (uint32_t i = 0; i < MAX_CHUNKS; i++)
		free(th->chunks[i].buf);
	free(th->stack.frames);
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
	th->frames = calloc(PY_MAX_DEPTH, sizeof(*th->frames));
	if (!th->frames) {
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
int walker__relist(struct py_walker *w)
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
 * thread's struct holds one of the process's tids, a different one each
 * (as its own pid namespace numbers them: the kernel wrote them there).
 * glibc's own offset is preferred when it fits.
 */
void walker__find_tid_off(struct py_walker *w)
{
	enum { NMAX = 64 };
	pid_t tasks[1024];
	uint32_t n = 0;
	int ntasks = nstids__list(&w->nstids, tasks, 1024,
				  clock__ns(CLOCK_MONOTONIC));
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
bool walker__list_ok(const struct py_walker *w)
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
void walker__name(struct py_walker *w, struct wthread *th, struct py_thread *pt,
		  int64_t now)
{
	bool same = th->name_tried && th->name_thread_id == pt->thread_id &&
		    th->name_tid == pt->tid;
	uint64_t boot = 0;
	int err;

	if (same && now - th->name_at < NAME_REFRESH_NS)
		goto out;
	/* Outermost frames only: a deeper _bootstrap is not a thread's. */
	for (uint32_t m = 0;
	     m < 2 && m < pt->depth && !pt->err && !pt->truncated; m++) {
		const struct py_frame *fr = &pt->frames[pt->depth - 1 - m];
		if (code__is_bootstrap(fr->code))
			boot = fr->addr;
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
