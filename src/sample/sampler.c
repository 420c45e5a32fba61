/*
 * sampler.c - the sampling loop.
 *
 * Ticks are due on an absolute schedule - start, then each due time plus
 * an interval (fixed, or drawn from an exponential distribution with
 * --poisson) - never "last wake-up plus interval", so the rate does not
 * drift however long a sample takes.  A tick that starts more than half
 * an interval after it was due counts as late; ticks that passed entirely
 * while psample was busy count as missed and are not made up for
 * (sampling twice in a row would bias the profile toward whatever runs
 * then).
 *
 * Each tick samples every Python process of the family (family.c) and
 * keeps the threads the mode asks for.  What a mode needs beyond the
 * stacks - a thread's scheduler state, the resident size - is read
 * through /proc files kept open, one pread each.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "psample/clock.h"
#include "psample/error.h"
#include "psample/hash.h"
#include "psample/pause.h"
#include "psample/proc.h"
#include "psample/sampler.h"
#include "psample/table.h"
#include "psample/family.h"
#include "psample/stacks.h"

#define NSEC 1000000000LL
/* How often the family is looked over: for new children, and for execs
 * and reused pids (the latter matter without --subprocesses too). */
#define SCAN_FOLLOW_NS (10 * 1000 * 1000LL)
#define SCAN_ROOT_NS (100 * 1000 * 1000LL)
/* Thread stat files kept open per process; beyond, opened per read. */
#define TID_FDS_MAX 512
/* A thread not seen for this many ticks leaves the cache. */
#define TID_STALE_TICKS 256

/*
 * What the sampler keeps per thread of a process: the name it gave the
 * OS, read once, and its stat file.
 */
struct tident {
	pid_t tid;
	int fd; /* -1: not open */
	uint64_t seen; /* tick last seen */
	char comm[32];
};

/* Per process: the caches above, found by tid. */
struct mstate {
	struct tident *v; /* n of cap, in no order */
	struct table *tids; /* tid -> index in v */
	uint32_t cap, n, nfds;
	uint64_t swept; /* tick of the last sweep of stale threads */
	uint32_t proc_frame; /* its root frame in the trie, or STACK_NO_PROC */
	struct pause *pause;
	pid_t *ptids; /* --blocking: its Python threads at the last sample */
	uint32_t nptids, cap_ptids;
	bool all_tasks; /* ptids is every thread: some had no tid */
	int statm_fd;
	int64_t rss; /* memory mode: resident bytes at the last sample */
	bool rss_known;
	int gil; /* gil mode: py_walker__gil_support */
	uint64_t calls0; /* mem.calls when sampling began */
};

static void mstate__free(struct mstate *ms)
{
	if (!ms)
		return;
	for (uint32_t i = 0; i < ms->n; i++)
		if (ms->v[i].fd >= 0)
			close(ms->v[i].fd);
	if (ms->statm_fd >= 0)
		close(ms->statm_fd);
	pause__free(ms->pause);
	free(ms->ptids);
	free(ms->v);
	table__free(ms->tids);
	free(ms);
}

/* Drop the threads not seen for a while, with room for cap in all. */
static int tidmap__rebuild(struct mstate *ms, uint64_t tick, uint32_t cap)
{
	uint32_t n = 0;
	uint64_t idx;
	int err;

	if (cap != ms->cap) {
		struct tident *v = reallocarray(ms->v, cap, sizeof(*v));

		if (!v)
			return -ENOMEM;
		ms->v = v;
		ms->cap = cap;
	}
	ms->nfds = 0;
	for (uint32_t i = 0; i < ms->n; i++) {
		struct tident *e = &ms->v[i];

		if (tick - e->seen > TID_STALE_TICKS) {
			if (e->fd >= 0)
				close(e->fd);
			continue;
		}
		ms->v[n++] = *e;
		ms->nfds += e->fd >= 0;
	}
	ms->n = n;
	table__clear(ms->tids);
	for (uint32_t i = 0; i < n; i++)
		if ((err = table__add(ms->tids, (uint64_t)ms->v[i].tid, i,
				      &idx)) < 0)
			return err;
	return 0;
}

static struct tident *tidmap__get(struct mstate *ms, pid_t pid, pid_t tid,
				  uint64_t tick)
{
	struct tident *e;
	uint64_t idx;
	int added;

	if (ms->n == ms->cap &&
	    tidmap__rebuild(ms, tick, ms->cap ? ms->cap * 2 : 32))
		return NULL;
	if (tick - ms->swept >= TID_STALE_TICKS) {
		if (tidmap__rebuild(ms, tick, ms->cap))
			return NULL;
		ms->swept = tick;
	}
	added = table__add(ms->tids, (uint64_t)tid, ms->n, &idx);
	if (added < 0)
		return NULL;
	e = &ms->v[idx];
	if (added) {
		*e = (struct tident){.tid = tid, .fd = -1};
		ms->n++;
		proc__thread_name(pid, tid, e->comm, sizeof(e->comm));
	}
	e->seen = tick;
	return e;
}

/* A thread's name: threading's, else the one it gave the OS, or NULL. */
static const char *tident__name(const struct tident *e,
				const struct py_thread *th)
{
	if (th->name)
		return th->name;
	return e && e->comm[0] ? e->comm : NULL;
}

/* The scheduler state letter of a thread, 0 unknown, -ESRCH gone. */
static int tident__state(struct mstate *ms, struct tident *e, pid_t pid)
{
	if (e->fd < 0) {
		int fd = proc__task_stat_open(pid, e->tid);
		if (fd < 0)
			return fd == -ESRCH ? -ESRCH : 0;
		if (ms->nfds >= TID_FDS_MAX) {
			int st = proc__task_stat_state(fd);
			close(fd);
			return st > 0 || st == -ESRCH ? st : 0;
		}
		e->fd = fd;
		ms->nfds++;
	}
	int st = proc__task_stat_state(e->fd);
	return st > 0 || st == -ESRCH ? st : 0;
}

/* One run's state. */
struct sampler {
	const struct sampler_opts *o;
	struct sampler_stats *st;
	struct trie *trie;
	struct stack_memo *memo;
	struct family *fam;
	uint64_t tick;
	bool need_state;
	FILE *child_log; /* PSAMPLE_CHILD_LOG: first sample of each process */
	uint64_t calls_done; /* mem.calls of members already released */
	/* This tick: */
	bool gil_known, gil_held, gc;
	uint32_t threads;
	int *state; /* per thread of the process being sampled */
	uint32_t cap_state;
};

/* A member's walker is going: keep the calls it made. */
static void member__release(void *arg, struct member *m)
{
	struct sampler *s = arg;
	struct mstate *ms = m->priv;

	if (ms && m->t)
		s->calls_done += m->t->mem.calls - ms->calls0;
	mstate__free(ms);
	m->priv = NULL;
}

static struct mstate *member__state(struct sampler *s, struct member *m)
{
	if (m->priv)
		return m->priv;
	struct mstate *ms = calloc(1, sizeof(*ms));
	if (!ms)
		return NULL;
	ms->statm_fd = -1;
	ms->tids = table__new();
	if (!ms->tids) {
		free(ms);
		return NULL;
	}
	ms->proc_frame = STACK_NO_PROC;
	/* Asked of the process on a free-threaded build (is its GIL on?):
	 * only when the mode needs it, and not counted as sampling reads. */
	if (s->o->mode == SAMPLER_GIL)
		ms->gil = py_walker__gil_support(m->w);
	ms->calls0 = m->t->mem.calls;
	if (s->o->blocking && pause__new(m->pid, &ms->pause)) {
		mstate__free(ms);
		return NULL;
	}
	if (s->o->subprocesses) {
		struct ps_frame f = {.kind = PS_FRAME_PROCESS,
				     .num = (uint64_t)m->pid,
				     .name = m->cmdline};
		if (trie__intern(s->trie, &f, &ms->proc_frame)) {
			mstate__free(ms);
			return NULL;
		}
	}
	m->priv = ms;
	return ms;
}

/*
 * Remember which threads run Python, for the next --blocking pause.
 * Where the version gives no native tid for a thread, every thread of
 * the process is stopped instead.
 */
static int mstate__keep_tids(struct mstate *ms, pid_t pid,
			     const struct py_sample *smp)
{
	uint32_t need = smp->nthreads;

	ms->all_tasks = false;
	for (uint32_t i = 0; i < smp->nthreads; i++)
		if (smp->threads[i].tid <= 0)
			ms->all_tasks = true;
	if (ms->all_tasks)
		need = PY_MAX_THREADS;
	if (need > ms->cap_ptids) {
		pid_t *v = realloc(ms->ptids, need * sizeof(*v));
		if (!v)
			return -ENOMEM;
		ms->ptids = v;
		ms->cap_ptids = need;
	}
	ms->nptids = 0;
	if (ms->all_tasks) {
		int n = proc__tasks(pid, ms->ptids, need);
		ms->nptids = n > 0 ? (uint32_t)n : 0;
		return 0;
	}
	for (uint32_t i = 0; i < smp->nthreads; i++)
		ms->ptids[ms->nptids++] = smp->threads[i].tid;
	return 0;
}

/* Memory mode: the stack the growth since the last sample goes to. */
static int sampler__memory(struct sampler *s, struct member *m,
			   struct mstate *ms, const struct py_sample *smp,
			   const int *state)
{
	if (ms->statm_fd < 0 && (ms->statm_fd = proc__statm_open(m->pid)) < 0)
		return ms->statm_fd == -ESRCH ? 0 : ms->statm_fd;
	int64_t rss = proc__statm_resident(ms->statm_fd);
	if (rss < 0)
		return 0;
	int64_t delta = ms->rss_known ? rss - ms->rss : 0;
	ms->rss = rss;
	ms->rss_known = true;
	if (!delta)
		return 0;
	/* The GIL holder allocates; else a thread on a CPU; else the main
	 * thread (a thread blocked in C may have grown it, but cannot be
	 * told apart from outside). */
	int pick = -1;
	for (uint32_t i = 0; i < smp->nthreads && pick < 0; i++)
		if (smp->threads[i].gil == 1 && smp->threads[i].depth)
			pick = (int)i;
	for (uint32_t i = 0; i < smp->nthreads && pick < 0; i++)
		if (state[i] == 'R' && smp->threads[i].depth)
			pick = (int)i;
	for (uint32_t i = 0; i < smp->nthreads && pick < 0; i++)
		if (smp->threads[i].tid == m->pid && smp->threads[i].depth)
			pick = (int)i;
	for (uint32_t i = 0; i < smp->nthreads && pick < 0; i++)
		if (smp->threads[i].depth && !smp->threads[i].err)
			pick = (int)i;
	if (pick < 0)
		return 0;
	const struct py_thread *th = &smp->threads[pick];
	struct tident *e =
		th->tid ? tidmap__get(ms, m->pid, th->tid, s->tick) : NULL;
	int err = stack__add(s->trie, s->memo, ms->proc_frame, th,
			     tident__name(e, th), NULL, (uint64_t)delta);
	if (!err) {
		s->st->stacks++;
		s->st->mem_bytes += delta;
	}
	return err;
}

/* Whether tid was among the threads the last pause stopped. */
static bool mstate__was_paused(const struct mstate *ms, pid_t tid)
{
	if (ms->all_tasks && tid <= 0)
		return true;
	for (uint32_t i = 0; i < ms->nptids; i++)
		if (ms->ptids[i] == tid)
			return true;
	return false;
}

/*
 * Keep the threads of one process's sample that the mode asks for.
 * unpaused: --blocking could not stop every thread for this read.
 */
static int sampler__threads(struct sampler *s, struct member *m,
			    struct mstate *ms, const struct py_sample *smp,
			    bool unpaused, bool *any)
{
	const struct sampler_opts *o = s->o;
	struct sampler_stats *st = s->st;
	int holder = -1, err = 0;

	if (smp->nthreads > s->cap_state) {
		int *v = realloc(s->state, smp->nthreads * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->state = v;
		s->cap_state = smp->nthreads;
	}
	int *state = s->state;
	for (uint32_t i = 0; i < smp->nthreads; i++) {
		const struct py_thread *th = &smp->threads[i];
		state[i] = 0;
		if (th->gil == 1)
			holder = (int)i;
		if (th->gil >= 0)
			s->gil_known = true;
	}
	if (holder >= 0)
		s->gil_held = true;
	if (smp->gc == 1)
		s->gc = true;
	s->threads += smp->nthreads;

	for (uint32_t i = 0; i < smp->nthreads; i++) {
		const struct py_thread *th = &smp->threads[i];
		if (th->err) {
			st->thread_errors++;
			continue;
		}
		if (!th->depth)
			continue;
		if (o->blocking &&
		    (unpaused || !mstate__was_paused(ms, th->tid))) {
			/* It ran while read: not a --blocking stack.  A
			 * failed stop is counted already, a new thread here. */
			st->pause_errors += !unpaused;
			continue;
		}
		st->thread_samples++;
		struct tident *e =
			th->tid ? tidmap__get(ms, m->pid, th->tid, s->tick)
				: NULL;
		if (s->need_state && e) {
			state[i] = tident__state(ms, e, m->pid);
			if (state[i] == -ESRCH) {
				/* Ended between the list and the read. */
				st->threads_gone++;
				continue;
			}
			if (state[i] > 0) {
				st->states_read++;
				st->running += state[i] == 'R';
			}
		}
		if (o->mode == SAMPLER_MEMORY)
			continue;
		bool idle = state[i] > 0 && state[i] != 'R';
		if (o->mode == SAMPLER_GIL && th->gil != 1)
			continue;
		if (o->mode == SAMPLER_CPU && idle && !o->idle)
			continue;
		const char *leaf = NULL;
		if (!o->no_gc && smp->gc == 1 &&
		    (holder < 0 || holder == (int)i)) {
			leaf = "<GC>";
		} else if (o->idle && idle) {
			leaf = "<idle>";
			st->idle++;
		}
		if ((err = stack__add(s->trie, s->memo, ms->proc_frame, th,
				      tident__name(e, th), leaf, 1)))
			break;
		st->stacks++;
		*any = true;
	}
	if (!err && o->mode == SAMPLER_MEMORY) {
		uint64_t before = st->stacks;
		err = sampler__memory(s, m, ms, smp, state);
		*any = *any || st->stacks > before;
	}
	return err;
}

static void sampler__log_first(struct sampler *s, struct member *m)
{
	if (m->samples++ || !s->child_log)
		return;
	fprintf(s->child_log, "%d %lld\n", (int)m->pid,
		(long long)clock__ns(CLOCK_MONOTONIC));
	fflush(s->child_log);
}

/*
 * --blocking: read with the Python threads stopped.  The threads to stop
 * are those of the previous sample, so the first read only learns them.
 * A read during which some Python thread ran - one that could not be
 * stopped, or one new since the last sample - is not what --blocking
 * promises: the whole read is dropped when a stop failed (*dropped), a
 * thread's stack when the thread is new, and counted.
 */
static int sampler__read_blocking(struct sampler *s, struct member *m,
				  struct mstate *ms,
				  const struct py_sample **smp, bool *dropped)
{
	int err;

	*dropped = false;
	if (!ms->nptids) {
		if ((err = py_walker__sample(m->w, smp)) ||
		    (err = mstate__keep_tids(ms, m->pid, *smp)))
			return err;
		if (!ms->nptids)
			return 0;
	}
	int paused = pause__stop(ms->pause, ms->ptids, ms->nptids);
	if (paused < 0 && m->root && !m->samples)
		return paused; /* e.g. -EPERM: say so */
	py_walker__set_still(m->w, paused == (int)ms->nptids);
	err = py_walker__sample(m->w, smp);
	py_walker__set_still(m->w, false);
	pause__resume(ms->pause); /* also the ones that stopped late */
	if (paused < (int)ms->nptids) {
		/* Gone threads count here too: rare, and harmless to skip. */
		s->st->pause_errors +=
			ms->nptids - (uint32_t)(paused > 0 ? paused : 0);
		*dropped = true;
	}
	return err;
}

/*
 * Sample one process.  Returns 0, -ESRCH when the root has gone, or
 * another negative error that ends the run.
 */
static int sampler__member(struct sampler *s, struct member *m, bool *any)
{
	const struct sampler_opts *o = s->o;
	struct mstate *ms = member__state(s, m);
	const struct py_sample *smp;
	bool dropped = false;
	int err;

	if (!ms)
		return -ENOMEM;
	if (o->mode == SAMPLER_GIL && ms->gil) {
		/* Another interpreter than the root's, with no GIL to read. */
		return m->root ? ms->gil : 0;
	}
	err = o->blocking ? sampler__read_blocking(s, m, ms, &smp, &dropped)
			  : py_walker__sample(m->w, &smp);
	if (err == -PS_ENOTREADY)
		return 0;
	if (err == -ENOMEM || err == -EPERM)
		return err;
	if (err) {
		s->st->errors++;
		if (err == -ESRCH || ++m->fails >= 3) {
			/* Gone, exec'd, or its pid reused: find out now. */
			m->fails = 0;
			return family__check(s->fam, m,
					     clock__ns(CLOCK_MONOTONIC));
		}
		return 0;
	}
	m->fails = 0;
	if (!family__same_image(m)) {
		/* It exec'd since its walker was made: what was read may be
		 * the new program's.  Dropped, and the program relearnt. */
		s->st->errors++;
		return family__check(s->fam, m, clock__ns(CLOCK_MONOTONIC));
	}
	bool mine = false;
	if ((err = sampler__threads(s, m, ms, smp, dropped, &mine)))
		return err;
	/* After the filter above, which asks who the last pause stopped. */
	if (o->blocking && (err = mstate__keep_tids(ms, m->pid, smp)))
		return err;
	if (mine) {
		sampler__log_first(s, m);
		*any = true;
	}
	return 0;
}

static bool sampler__child_done(const struct sampler_opts *o,
				struct sampler_stats *st)
{
	int status;

	if (o->child <= 0 || st->child_reaped)
		return st->child_reaped;
	pid_t r = waitpid(o->child, &status, WNOHANG);
	/* With --blocking we trace the child's threads, and a tracer's
	 * wait also reports their stops: only an end is an end. */
	if (r == o->child && (WIFEXITED(status) || WIFSIGNALED(status))) {
		st->child_reaped = true;
		st->child_status = status;
	}
	return st->child_reaped;
}

/* xorshift64*: enough randomness for sampling intervals. */
static double rng__uniform(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return (double)((*x * 2685821657736338717ULL) >> 11) * 0x1.0p-53;
}

/* The next interval: fixed, or exponential with the same mean. */
static int64_t sampler__interval(const struct sampler_opts *o, int64_t mean,
				 uint64_t *rng)
{
	if (!o->poisson)
		return mean;
	double d = -log(1.0 - rng__uniform(rng)) * (double)mean;
	return d < 1000.0 ? 1000 : (int64_t)d;
}

/* Once a second at most: say so if psample could not keep up. */
struct behind {
	int64_t since;
	uint64_t ticks, due, late, missed;
};

static void behind__check(struct behind *b, const struct sampler_stats *st,
			  int64_t now, const struct sampler_opts *o)
{
	if (now - b->since < NSEC)
		return;
	uint64_t due = st->ticks + st->missed, late = st->late + st->missed;
	uint64_t d = due - b->due, l = late - b->late;
	uint64_t skipped = st->missed - b->missed;
	double secs = (double)(now - b->since) / 1e9;
	/* Ticks skipped outright, or most of them late: a busy machine
	 * delays some wake-ups, which is not falling behind.  Exponential
	 * intervals are often shorter than a sample takes, so with
	 * --poisson some skipping is the schedule, not psample. */
	uint64_t skip_limit = o->poisson ? d / 5 : d / 20;
	if (d && (skipped > skip_limit || l * 2 > d)) {
		/* Half the rate it managed leaves each sample room. */
		double suggest = (double)(st->ticks - b->ticks) / secs / 2;
		fprintf(stderr,
			"psample: falling behind: %llu of %llu samples in the "
			"last %.1f s were late or skipped (asked %.0f Hz); "
			"lower the rate, e.g. -r %.0f\n",
			(unsigned long long)l, (unsigned long long)d, secs,
			o->rate_hz, suggest < 1 ? 1 : suggest);
	}
	b->since = now;
	b->ticks = st->ticks;
	b->due = due;
	b->late = late;
	b->missed = st->missed;
}

int sampler__run(pid_t pid, struct py_target *t, struct trie *trie,
		 const struct sampler_opts *o, struct sampler_stats *st,
		 volatile sig_atomic_t *stop)
{
	struct sampler s = {.o = o, .st = st, .trie = trie};
	int64_t mean = (int64_t)((double)NSEC / o->rate_hz);
	int64_t scan_every = o->subprocesses ? SCAN_FOLLOW_NS : SCAN_ROOT_NS;
	uint64_t rng = o->seed;
	int err;

	memset(st, 0, sizeof(*st));
	if (mean < 1000)
		mean = 1000;
	s.need_state = o->mode == SAMPLER_CPU || o->mode == SAMPLER_MEMORY ||
		       o->idle || o->thread_states;
	s.memo = stack_memo__new();
	if (!s.memo)
		return -ENOMEM;
	if ((err = family__new(pid, t, o->subprocesses, member__release, &s,
			       &s.fam))) {
		stack_memo__free(s.memo);
		return err;
	}
	const char *log = getenv("PSAMPLE_CHILD_LOG");
	if (log && *log)
		s.child_log = fopen(log, "ae");
	if (o->mode == SAMPLER_GIL) {
		/* A root not yet Python is asked once it is. */
		struct member *root = family__member(s.fam, 0);
		if (root->state == MEMBER_PYTHON &&
		    (err = py_walker__gil_support(root->w)))
			goto out;
	}
	/* Wake-ups within microseconds of the deadline, not the default
	 * 50 us slack, so high rates stay on schedule without spinning. */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);

	int64_t cpu0 = clock__ns(CLOCK_PROCESS_CPUTIME_ID);
	int64_t start = clock__ns(CLOCK_MONOTONIC);
	int64_t end = o->duration_s > 0
			      ? start + (int64_t)(o->duration_s * (double)NSEC)
			      : INT64_MAX;
	int64_t due = start, next_scan = start + scan_every, now;
	struct behind behind = {.since = start};

	if (!rng)
		rng = (uint64_t)start ^ ((uint64_t)getpid() << 32) ^
		      0x9e3779b97f4a7c15ULL;
	while (!*stop) {
		if (due >= end)
			break;
		struct timespec ts = {.tv_sec = due / NSEC,
				      .tv_nsec = due % NSEC};
		int r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
					NULL);
		if (r == EINTR)
			continue;
		now = clock__ns(CLOCK_MONOTONIC);
		if (*stop)
			break;
		st->ticks++;
		s.tick++;
		if (now - due > mean / 2)
			st->late++;

		if (sampler__child_done(o, st)) {
			st->target_exited = true;
			break;
		}
		if (now >= next_scan) {
			err = family__scan(s.fam, now);
			next_scan = now + scan_every;
			if (err == -ESRCH) {
				st->target_exited = true;
				err = 0;
				break;
			}
			if (err)
				break;
		}
		bool any = false;
		s.gil_known = s.gil_held = s.gc = false;
		s.threads = 0;
		uint32_t live = 0;
		for (uint32_t i = 0; i < family__count(s.fam); i++) {
			struct member *m = family__member(s.fam, i);
			if (m->state != MEMBER_PYTHON)
				continue;
			live++;
			if ((err = sampler__member(&s, m, &any)))
				break;
		}
		if (err == -ESRCH || sampler__child_done(o, st)) {
			st->target_exited = true;
			err = 0;
			break;
		}
		if (err)
			break;
		st->live_processes = live;
		st->live_threads = s.threads;
		st->gil_known += s.gil_known;
		st->gil_held += s.gil_known && s.gil_held;
		st->gc_ticks += s.gc;
		if (any)
			st->samples++;
		else
			st->empty++;
		if (o->on_tick && o->on_tick(o->arg, trie, st))
			break;

		/* If ticks came due while sampling, take the latest one now
		 * (it will count as late) and skip the older ones. */
		now = clock__ns(CLOCK_MONOTONIC);
		int64_t next = due + sampler__interval(o, mean, &rng);
		while (next <= now) {
			int64_t after = next + sampler__interval(o, mean, &rng);
			if (after > now)
				break;
			st->missed++;
			next = after;
		}
		due = next;
		if (o->warn_behind)
			behind__check(&behind, st, now, o);
	}
	st->elapsed_ns = clock__ns(CLOCK_MONOTONIC) - start;
	st->cpu_ns = clock__ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
out:;
	struct family_stats fs;
	family__stats(s.fam, &fs);
	st->processes = fs.pythons;
	st->ignored = fs.ignored;
	st->root_python = fs.root_python;
	st->root_err = fs.root_err;
	memcpy(st->root_version, fs.root_version, sizeof(st->root_version));
	family__free(s.fam);
	st->calls = s.calls_done;
	if (s.child_log)
		fclose(s.child_log);
	free(s.state);
	stack_memo__free(s.memo);
	return err;
}
