/*
 * ebpf_run.c - the eBPF backend's sampling loop: keep the program's tid
 * map in step with the interpreter's thread list, name the raw stacks the
 * program sends with the shared resolver, and add them to the trie as
 * the sampler does.
 *
 * The thread list comes from the process_vm_readv walker itself (one
 * walk of every thread), so there is one reader of the interpreter's
 * lists: it is asked again every RELIST_NS, and at the next batch when
 * the program has met a thread of the process that the map does not hold
 * (a thread that just started).  Records are taken and named in batches
 * every FLUSH_NS: one wake-up, one read of the hot code headers and one
 * of the new ones per batch, not per sample.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "psample/clock.h"
#include "psample/ebpf.h"
#include "psample/error.h"
#include "psample/proc.h"
#include "psample/resolve.h"
#include "psample/walker.h"

#define NSEC 1000000000LL
#define FLUSH_NS (100 * 1000 * 1000LL)
#define RELIST_NS (1000 * 1000 * 1000LL)
#define NAME_MAX_LEN 64

/* A Python thread the tid map holds. */
struct ethread {
	pid_t tid;
	uint64_t tstate;
	uint64_t expect;
	bool seen; /* in the last listing */
	char name[NAME_MAX_LEN]; /* threading's name, else the OS's; "" */
};

struct erun {
	struct py_target *t;
	const struct sampler_opts *o;
	struct sampler_stats *st;
	struct trie *trie;
	struct ebpf *e;
	struct py_walker *w;
	struct py_resolver *r;
	struct mem_batch batch;
	struct ethread *th;
	uint32_t nth, cap_th;
	const struct py_rawstack **stacks;
	uint32_t cap_stacks;
	struct py_frame frames[PY_MAX_DEPTH];
	uint64_t no_thread; /* the program's count at the last listing */
	int64_t listed_at;
	uint64_t empty; /* records of a thread with no Python frame */
};

static struct ethread *erun__thread(struct erun *x, pid_t tid)
{
	for (uint32_t i = 0; i < x->nth; i++)
		if (x->th[i].tid == tid)
			return &x->th[i];
	return NULL;
}

/* One thread of a listing into the map: 0 or a negative error. */
static int erun__list_one(struct erun *x, const struct py_thread *pt)
{
	const struct py_layout *l = x->t->layout;
	uint64_t expect =
		(l->flags & PY_L_NATIVE_TID)
			? (uint64_t)(pt->ns_tid ? pt->ns_tid : pt->tid)
			: pt->thread_id;
	struct ethread *th = erun__thread(x, pt->tid);
	int err;

	if (!th) {
		if (x->nth == x->cap_th) {
			uint32_t cap = x->cap_th ? x->cap_th * 2 : 16;
			struct ethread *v =
				reallocarray(x->th, cap, sizeof(*v));
			if (!v)
				return -ENOMEM;
			x->th = v;
			x->cap_th = cap;
		}
		th = &x->th[x->nth++];
		*th = (struct ethread){.tid = pt->tid};
		proc__thread_name(x->t->pid, pt->tid, th->name,
				  sizeof(th->name));
	}
	if (pt->name)
		snprintf(th->name, sizeof(th->name), "%s", pt->name);
	th->seen = true;
	if (th->tstate == pt->tstate && th->expect == expect)
		return 0;
	th->tstate = pt->tstate;
	th->expect = expect;
	if ((err = ebpf__set_thread(x->e, pt->tid, pt->tstate, expect)))
		return err;
	return 0;
}

/*
 * The interpreter's threads into the tid map: new ones added, ended ones
 * dropped.  0, -ESRCH when the process is gone, or a negative error.
 */
static int erun__relist(struct erun *x, int64_t now)
{
	const struct py_sample *s;
	int err = py_walker__sample(x->w, &s);
	struct ebpf_counters c;

	x->listed_at = now;
	ebpf__counters(x->e, &c);
	x->no_thread = c.no_thread;
	/* Starting up, finalising, or read while it changed: next time. */
	if (err == -PS_ENOTREADY || err == -PS_ECORRUPT || err == -EFAULT)
		return 0;
	if (err)
		return err;
	for (uint32_t i = 0; i < x->nth; i++)
		x->th[i].seen = false;
	for (uint32_t i = 0; i < s->nthreads; i++)
		if (s->threads[i].tid && s->threads[i].tstate &&
		    (err = erun__list_one(x, &s->threads[i])))
			return err;
	uint32_t n = 0;
	for (uint32_t i = 0; i < x->nth; i++) {
		if (x->th[i].seen) {
			x->th[n++] = x->th[i];
			continue;
		}
		if ((err = ebpf__drop_thread(x->e, x->th[i].tid)))
			return err;
	}
	x->nth = n;
	x->st->live_threads = n;
	return 0;
}

/* Name one record and add it to the trie; false if it was an error. */
static bool erun__add(struct erun *x, const struct ebpf_record *rec)
{
	uint32_t depth, dropped;

	if (py_resolver__stack(x->r, &rec->raw, x->frames, &depth, &dropped))
		return false;
	if (!depth) {
		x->empty++;
		return true;
	}
	const struct ethread *th = erun__thread(x, rec->tid);
	struct py_thread pt = {
		.tstate = rec->tstate,
		.tid = rec->tid,
		.truncated = rec->raw.truncated,
		.depth = depth,
		.frames = x->frames,
	};
	if (sampler__add_stack(x->trie, &pt,
			       th && th->name[0] ? th->name : NULL))
		return false;
	x->st->stacks++;
	return true;
}

/* Name the records kept so far, in one batch, and add them. */
static int erun__flush(struct erun *x)
{
	const struct ebpf_record *recs;
	uint32_t n = ebpf__records(x->e, &recs), m = 0;
	int err;

	if (!n)
		return 0;
	if (n > x->cap_stacks) {
		const struct py_rawstack **v = reallocarray(
			x->stacks, n,
			sizeof(*v)); // NOLINT(bugprone-sizeof-expression):
				     // an array of pointers
		if (!v)
			return -ENOMEM;
		x->stacks = v;
		x->cap_stacks = n;
	}
	for (uint32_t i = 0; i < n; i++)
		if (recs[i].pid == x->t->pid && !recs[i].raw.err)
			x->stacks[m++] = &recs[i].raw;
	py_resolver__trim(x->r);
	mem_batch__reset(&x->batch);
	if ((err = py_resolver__plan(x->r, &x->batch)))
		return err;
	/* Gone: nothing can be named any more. */
	if ((err = mem_batch__read(&x->t->mem, &x->batch)) && err != -ESRCH)
		return err;
	py_resolver__collect(x->r, &x->batch);
	if (!err && m && (err = py_resolver__headers(x->r, x->stacks, m)) < 0 &&
	    err != -ESRCH)
		return err;
	for (uint32_t i = 0; i < n; i++)
		if (recs[i].pid == x->t->pid &&
		    (recs[i].raw.err || !erun__add(x, &recs[i])))
			x->st->thread_errors++;
	ebpf__clear(x->e);
	return 0;
}

static bool erun__child_done(const struct erun *x)
{
	struct sampler_stats *st = x->st;
	int status;

	if (x->o->child <= 0 || st->child_reaped)
		return st->child_reaped;
	if (waitpid(x->o->child, &status, WNOHANG) == x->o->child &&
	    (WIFEXITED(status) || WIFSIGNALED(status))) {
		st->child_reaped = true;
		st->child_status = status;
	}
	return st->child_reaped;
}

/* Sample until stopped: 0, or a negative error. */
static int erun__loop(struct erun *x, volatile sig_atomic_t *stop)
{
	const struct sampler_opts *o = x->o;
	int64_t start = clock__ns(CLOCK_MONOTONIC);
	int64_t end = o->duration_s > 0
			      ? start + (int64_t)(o->duration_s * (double)NSEC)
			      : INT64_MAX;
	int64_t flush_at = start + FLUSH_NS, now = start;
	int err = 0;

	while (!*stop && now < end) {
		int64_t until = flush_at < end ? flush_at : end;
		struct timespec ts = {.tv_sec = until / NSEC,
				      .tv_nsec = until % NSEC};
		/* A signal (Ctrl-C) ends the sleep early: stop is looked at. */
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		now = clock__ns(CLOCK_MONOTONIC);
		if (now < until && !*stop)
			continue;
		if ((err = ebpf__take(x->e)) < 0 || (err = erun__flush(x)))
			return err;
		flush_at = now + FLUSH_NS;
		if (erun__child_done(x)) {
			x->st->target_exited = true;
			return 0;
		}
		struct ebpf_counters c;
		ebpf__counters(x->e, &c);
		if (now - x->listed_at >= RELIST_NS ||
		    c.no_thread > x->no_thread) {
			err = erun__relist(x, now);
			if (err == -ESRCH) {
				x->st->target_exited = true;
				return 0;
			}
			if (err)
				return err;
		}
	}
	return 0;
}

static void erun__stats(struct erun *x)
{
	struct sampler_stats *st = x->st;
	struct ebpf_counters c;

	ebpf__counters(x->e, &c);
	/* A tick is a perf event that found a Python thread of the target
	 * on a CPU: it gave a stack, an empty one, or an error. */
	st->ticks = c.events - c.no_thread;
	st->samples = st->stacks;
	st->states_read = st->running = st->stacks;
	st->empty = x->empty;
	uint64_t ok = st->stacks + x->empty + st->thread_errors;
	st->errors = st->ticks > ok ? st->ticks - ok : 0;
	st->live_processes = 1;
	st->processes = 1;
}

int ebpf__run(struct py_target *t, struct trie *trie,
	      const struct sampler_opts *o, struct sampler_stats *st,
	      volatile sig_atomic_t *stop)
{
	struct erun *x;
	int err;

	memset(st, 0, sizeof(*st));
	if (o->mode != SAMPLER_CPU || o->blocking || o->idle ||
	    o->subprocesses || o->poisson)
		return -EINVAL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	*x = (struct erun){.t = t, .o = o, .st = st, .trie = trie};
	int64_t cpu0 = clock__ns(CLOCK_PROCESS_CPUTIME_ID);
	int64_t start = clock__ns(CLOCK_MONOTONIC);
	if ((err = py_walker__new(t, &x->w)) ||
	    (err = py_resolver__new(t, &x->r)) ||
	    (err = ebpf__open(o->rate_hz, &x->e)) ||
	    (err = ebpf__add_proc(x->e, t->pid, t->layout, t->frame_type)))
		goto out;
	err = erun__relist(x, start);
	if (err == -ESRCH) {
		st->target_exited = true;
		err = 0;
		goto out;
	}
	if (err)
		goto out;
	err = erun__loop(x, stop);
	/* What the ring buffer still holds was sampled too. */
	if (ebpf__take(x->e) >= 0) {
		int ferr = erun__flush(x);
		err = err ? err : ferr;
	}
	erun__stats(x);
	st->elapsed_ns = clock__ns(CLOCK_MONOTONIC) - start;
	st->cpu_ns = clock__ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
out:
	ebpf__free(x->e);
	py_resolver__free(x->r);
	py_walker__free(x->w);
	mem_batch__free(&x->batch);
	free(x->th);
	free(x->stacks);
	free(x);
	return err;
}
