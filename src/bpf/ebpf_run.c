/*
 * ebpf_run.c - the eBPF backend's sampling loop: the processes sampled
 * (one target, or with --all every Python process of the host, found as
 * they start and dropped as they end), their thread lists kept in the
 * program's tid map, and the records the program sends named and added
 * to the trie.
 *
 * Records are taken and named in batches every FLUSH_NS (FLUSH_ALL_NS
 * with --all, where each batch costs reads in many processes): one
 * wake-up,
 * and per process one read of the hot code headers and one of the new
 * ones per batch, not per sample.  Thread lists are read again at the
 * next batch after the program met a thread of a sampled process that
 * the map does not hold (one that just started), or one whose entry no
 * longer checks out (its thread ended and the tid was reused), and every
 * RELIST_NS besides, to drop the entries of threads that ended.
 * With --all, /proc is read once at the start; after that the program
 * notes the processes it meets on a CPU that it does not sample, and
 * each batch looks at those, so the cost follows the processes that
 * run, not all of the host's.  A process is known by its pid with its
 * start time and exec identity (proc__identity), so an exec or a reused
 * pid is a new process.  With --subprocesses the
 * processes are the target's family (family.h), as the ptrace backend
 * finds them, looked at after every batch.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "psample/clock.h"
#include "psample/ebpf.h"
#include "psample/error.h"
#include "psample/family.h"
#include "eproc.h"

#define NSEC 1000000000LL
/* A record is named by reading its process: what a process sampled in
 * its last batch before it exits is lost, so batches are short. */
#define FLUSH_NS (20 * 1000 * 1000LL)
#define FLUSH_ALL_NS (100 * 1000 * 1000LL)
#define RELIST_NS (10 * 1000 * 1000 * 1000LL)
#define SCAN_NS (1000 * 1000 * 1000LL)
#define MAX_PROCS 256 /* the program's process map holds as many */
#define YOUNG_NS (5 * NSEC)

/* --all: a skipped process not met on a CPU for this long is forgotten
 * (and looked at anew if it runs again). */
#define FORGET_NS (10 * NSEC)

/* A process --all looked at that is not sampled (not Python, not
 * supported): not looked at again while it is the same process, but for
 * a young one (retry), which may still become Python. */
struct eskip {
	pid_t pid;
	struct proc_identity id;
	bool retry;
	int64_t checked; /* ns: its identity last read */
	int64_t met; /* ns: last met on a CPU */
};

struct erun {
	const struct sampler_opts *o;
	struct sampler_stats *st;
	struct trie *trie;
	struct ebpf *e;
	bool all;
	struct family *fam; /* --subprocesses: the processes sampled */
	struct stack_memo *memo;
	struct eproc *procs[MAX_PROCS];
	uint32_t nprocs;
	struct eskip *skip;
	uint32_t nskip, cap_skip;
	/* The program's counts of threads not in the map and of entries
	 * that did not check out, at the last listing. */
	uint64_t no_thread, mismatch;
	/* Of processes no longer sampled. */
	uint64_t gone_stacks, gone_errors, gone_empty;
	const struct ebpf_record **recs;
	const struct py_rawstack **stacks;
	uint32_t cap;
	struct py_frame frames[PY_MAX_DEPTH];
};

static void erun__drop(struct erun *x, uint32_t i)
{
	struct eproc *p = x->procs[i];

	x->gone_stacks += p->stacks;
	x->gone_errors += p->errors;
	x->gone_empty += p->empty;
	eproc__free(p, x->e);
	x->procs[i] = x->procs[--x->nprocs];
}

static int erun__add_proc(struct erun *x, struct py_target *t, bool own,
			  int64_t now)
{
	struct eproc *p;
	int err;

	if (x->nprocs == MAX_PROCS) {
		if (own)
			py_target__free(t);
		return -ENOSPC;
	}
	if ((err = eproc__new(x->e, t, own, x->trie, x->all, now, &p)))
		return err;
	x->procs[x->nprocs++] = p;
	x->st->processes++;
	err = eproc__relist(p, x->e, now);
	if (err == -ESRCH) {
		erun__drop(x, x->nprocs - 1);
		return 0;
	}
	return err;
}

/* Name the records taken so far, each by its process, and add them. */
static int erun__flush(struct erun *x)
{
	const struct ebpf_record *recs;
	uint32_t n = ebpf__records(x->e, &recs);
	int err = 0;

	if (n > x->cap) {
		const struct ebpf_record **r = reallocarray(
			x->recs, n,
			sizeof(*r)); // NOLINT(bugprone-sizeof-expression):
				     // an array of pointers
		if (!r)
			return -ENOMEM;
		x->recs = r;
		const struct py_rawstack **s = reallocarray(
			x->stacks, n,
			sizeof(*s)); // NOLINT(bugprone-sizeof-expression)
		if (!s)
			return -ENOMEM;
		x->stacks = s;
		x->cap = n;
	}
	for (uint32_t i = 0; i < x->nprocs && !err; i++) {
		struct eproc *p = x->procs[i];
		uint32_t m = 0;
		for (uint32_t k = 0; k < n; k++)
			if (recs[k].pid == p->pid)
				x->recs[m++] = &recs[k];
		if (m)
			err = eproc__add(p, x->trie, x->memo, x->recs, m,
					 x->stacks, x->frames);
	}
	ebpf__clear(x->e);
	return err;
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

static struct eskip *erun__skipped(struct erun *x, pid_t pid)
{
	for (uint32_t i = 0; i < x->nskip; i++)
		if (x->skip[i].pid == pid)
			return &x->skip[i];
	return NULL;
}

static bool erun__sampled(const struct erun *x, pid_t pid)
{
	for (uint32_t i = 0; i < x->nprocs; i++)
		if (x->procs[i]->pid == pid)
			return true;
	return false;
}

static int erun__skip(struct erun *x, pid_t pid, const struct proc_identity *id,
		      bool retry, int64_t now)
{
	if (x->nskip == x->cap_skip) {
		uint32_t cap = x->cap_skip ? x->cap_skip * 2 : 256;
		struct eskip *v = reallocarray(x->skip, cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		x->skip = v;
		x->cap_skip = cap;
	}
	x->skip[x->nskip++] = (struct eskip){.pid = pid,
					     .id = *id,
					     .retry = retry,
					     .checked = now,
					     .met = now};
	return 0;
}

/* How long ago a process started, or INT64_MAX if unknown. */
static int64_t proc__age(const struct proc_identity *id)
{
	long hz = sysconf(_SC_CLK_TCK);

	if (hz <= 0)
		return INT64_MAX;
	return clock__ns(CLOCK_BOOTTIME) - (int64_t)(id->start * (NSEC / hz));
}

/* --all: look at a process not seen before; sample it if it is Python. */
static int erun__probe(struct erun *x, pid_t pid,
		       const struct proc_identity *id, int64_t now)
{
	struct py_target *t;
	int64_t age = proc__age(id);
	int err = py_target__open(pid, &t);

	/* Not (yet) an interpreter, or one still starting (its lists not
	 * set up, so its layout does not check out yet): looked at again
	 * while it is young, as record waits for its command. */
	if (err && age < YOUNG_NS)
		return erun__skip(x, pid, id, true, now);

	if (err == -PS_EUNSUPPORTED || err == -PS_EBADLAYOUT) {
		char cmdline[256] = "";
		proc__cmdline(pid, cmdline, sizeof(cmdline));
		if (!x->o->warn_behind) /* -q: nothing on stderr */
			return erun__skip(x, pid, id, false, now);
		fprintf(stderr, "psample: skipping process %d (%s): %s %s\n",
			(int)pid, cmdline, ps_strerror(err),
			py_target__version_hint());
	}
	if (err)
		return erun__skip(x, pid, id, false, now);
	err = erun__add_proc(x, t, true, now);
	return err == -ENOSPC ? erun__skip(x, pid, id, false, now) : err;
}

/* --all, at start: every process of /proc looked at once. */
static int erun__scan(struct erun *x, int64_t now)
{
	pid_t self = getpid();
	struct dirent *de;
	int err = 0;
	DIR *d = opendir("/proc");

	if (!d)
		return -errno;
	while (!err && (de = readdir(d))) {
		char *end;
		long v = strtol(de->d_name, &end, 10);
		struct proc_identity id;
		if (*end || v <= 0 || v == self)
			continue;
		if (proc__identity((pid_t)v, &id) || id.exited)
			continue;
		err = erun__probe(x, (pid_t)v, &id, now);
	}
	closedir(d);
	return err;
}

/*
 * --all, after the start: a process the program met on a CPU that it
 * does not sample.  New, or one that exec'd or whose pid was reused, or
 * a young one due for another look: probed.  A skipped one's identity
 * is read at most every SCAN_NS, however often it runs.
 */
static int erun__met(struct erun *x, pid_t pid, int64_t now)
{
	struct eskip *s = erun__skipped(x, pid);
	struct proc_identity id;

	if (pid == getpid() || erun__sampled(x, pid))
		return 0;
	if (s) {
		s->met = now;
		if (now - s->checked < SCAN_NS)
			return 0;
		s->checked = now;
		bool gone = proc__identity(pid, &id) || id.exited;
		if (!gone && !s->retry && id.start == s->id.start &&
		    id.exec == s->id.exec)
			return 0;
		*s = x->skip[--x->nskip]; /* probed anew, or gone */
		if (gone)
			return 0;
	} else if (proc__identity(pid, &id) || id.exited) {
		return 0;
	}
	return erun__probe(x, pid, &id, now);
}

/*
 * --all: drop the sampled processes that ended or exec'd (every
 * SCAN_NS), forget the skipped ones not met for FORGET_NS, and look at
 * the processes met on a CPU since the last batch.
 */
static int erun__watch(struct erun *x, int64_t now, bool check)
{
	pid_t met[256];
	int n, err = 0;

	for (uint32_t i = 0; check && i < x->nprocs;) {
		struct eproc *p = x->procs[i];
		struct proc_identity id;
		if (proc__identity(p->pid, &id) || id.exited ||
		    id.start != p->id.start || id.exec != p->id.exec) {
			erun__drop(x, i);
			continue;
		}
		i++;
	}
	for (uint32_t i = 0; check && i < x->nskip;) {
		if (now - x->skip[i].met > FORGET_NS)
			x->skip[i] = x->skip[--x->nskip];
		else
			i++;
	}
	do {
		n = ebpf__unknown(x->e, met, 256);
		for (int i = 0; i < n && !err; i++)
			err = erun__met(x, met[i], now);
	} while (n == 256 && !err);
	return err < 0 ? err : 0;
}

/* --subprocesses: a member of the family goes (exit, exec, the end). */
static void erun__release(void *arg, struct member *m)
{
	struct erun *x = arg;

	for (uint32_t i = 0; m->priv && i < x->nprocs; i++) {
		if (x->procs[i] == m->priv) {
			erun__drop(x, i);
			break;
		}
	}
	m->priv = NULL;
}

/* --subprocesses: sample the members that have become Python.  Each is
 * under its process root, as with the ptrace backend. */
static int erun__adopt(struct erun *x, int64_t now)
{
	for (uint32_t i = 0; i < family__count(x->fam); i++) {
		struct member *m = family__member(x->fam, i);
		struct eproc *p;
		if (m->state != MEMBER_PYTHON || m->priv)
			continue;
		if (x->nprocs == MAX_PROCS)
			return 0; /* the program's map is full */
		int err = eproc__new(x->e, m->t, false, x->trie, true, now, &p);
		if (err)
			return err;
		x->procs[x->nprocs++] = p;
		m->priv = p;
		err = eproc__relist(p, x->e, now);
		if (err && err != -ESRCH)
			return err;
	}
	return 0;
}

/* --subprocesses: the family looked at again; *gone once its root is. */
static int erun__follow(struct erun *x, int64_t now, bool *gone)
{
	int err = family__scan(x->fam, now);

	if (err == -ESRCH) {
		*gone = true;
		return 0;
	}
	return err ? err : erun__adopt(x, now);
}

/* The thread lists due for a new look: 0, or a negative error.  With a
 * single target, its end stops the run (*gone). */
static int erun__relist(struct erun *x, int64_t now, bool *gone)
{
	struct ebpf_counters c;
	int err;

	ebpf__counters(x->e, &c);
	bool missed = c.no_thread > x->no_thread || c.mismatch > x->mismatch;
	x->no_thread = c.no_thread;
	x->mismatch = c.mismatch;
	for (uint32_t i = 0; i < x->nprocs;) {
		struct eproc *p = x->procs[i];
		if (!missed && now - p->listed_at < RELIST_NS) {
			i++;
			continue;
		}
		err = eproc__relist(p, x->e, now);
		if (err == -ESRCH && x->fam) {
			/* Gone: the family's next look drops it. */
			i++;
			continue;
		}
		if (err == -ESRCH && !x->all) {
			*gone = true;
			return 0;
		}
		if (err == -ESRCH) {
			erun__drop(x, i);
			continue;
		}
		if (err)
			return err;
		i++;
	}
	return 0;
}

static void erun__stats(struct erun *x)
{
	struct sampler_stats *st = x->st;
	struct ebpf_counters c;
	uint64_t empty = x->gone_empty;

	ebpf__counters(x->e, &c);
	st->stacks = x->gone_stacks;
	st->thread_errors = x->gone_errors;
	st->live_threads = 0;
	for (uint32_t i = 0; i < x->nprocs; i++) {
		st->live_threads += x->procs[i]->nth;
		st->stacks += x->procs[i]->stacks;
		st->thread_errors += x->procs[i]->errors;
		empty += x->procs[i]->empty;
	}
	/* A tick is a perf event that found a Python thread of a sampled
	 * process on a CPU: it gave a stack, an empty one, or an error. */
	st->ticks = c.events - c.no_thread;
	st->samples = st->stacks;
	st->states_read = st->running = st->stacks;
	st->empty = empty;
	uint64_t ok = st->stacks + empty + st->thread_errors;
	st->errors = st->ticks > ok ? st->ticks - ok : 0;
	st->live_processes = x->nprocs;
	if (x->fam) {
		struct family_stats fs;
		family__stats(x->fam, &fs);
		st->processes = fs.pythons;
		st->ignored = fs.ignored;
		st->root_python = fs.root_python;
		st->root_err = fs.root_err;
		memcpy(st->root_version, fs.root_version,
		       sizeof(st->root_version));
	}
}

/* Sample until stopped: 0, or a negative error. */
static int erun__loop(struct erun *x, volatile sig_atomic_t *stop,
		      int64_t start)
{
	const struct sampler_opts *o = x->o;
	int64_t end = o->duration_s > 0
			      ? start + (int64_t)(o->duration_s * (double)NSEC)
			      : INT64_MAX;
	int64_t every = x->all ? FLUSH_ALL_NS : FLUSH_NS;
	int64_t flush_at = start + every, scan_at = start + SCAN_NS;
	int64_t now = start;
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
		flush_at = now + every;
		if (o->on_tick) {
			/* top: the figures so far, after every batch. */
			erun__stats(x);
			if (o->on_tick(o->arg, x->trie, x->st))
				return 0;
		}
		if (erun__child_done(x)) {
			x->st->target_exited = true;
			return 0;
		}
		bool gone = false;
		if ((err = erun__relist(x, now, &gone)))
			return err;
		if (!gone && x->fam && (err = erun__follow(x, now, &gone)))
			return err;
		if (gone) {
			x->st->target_exited = true;
			return 0;
		}
		if (x->all) {
			bool check = now >= scan_at;
			if ((err = erun__watch(x, now, check)))
				return err;
			if (check)
				scan_at = now + SCAN_NS;
		}
		x->st->live_processes = x->nprocs;
	}
	return 0;
}

/* Sample pid, whose interpreter is t (NULL: not yet Python, with
 * --subprocesses), or with all every Python process of the host. */
static int erun__run(pid_t pid, struct py_target *t, bool all,
		     struct trie *trie, const struct sampler_opts *o,
		     struct sampler_stats *st, volatile sig_atomic_t *stop)
{
	struct erun *x;
	int err;

	memset(st, 0, sizeof(*st));
	if (o->mode != SAMPLER_CPU || o->blocking || o->idle || o->poisson ||
	    (all && o->subprocesses) || (!all && !t && !o->subprocesses))
		return -EINVAL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	*x = (struct erun){.o = o, .st = st, .trie = trie, .all = all};
	x->memo = stack_memo__new();
	if (!x->memo) {
		free(x);
		return -ENOMEM;
	}
	int64_t cpu0 = clock__ns(CLOCK_PROCESS_CPUTIME_ID);
	int64_t start = clock__ns(CLOCK_MONOTONIC);
	if ((err = ebpf__open(o->rate_hz, &x->e)))
		goto out;
	if (o->subprocesses) {
		bool gone = false;
		err = family__new(pid, t, true, erun__release, x, &x->fam);
		if (!err)
			err = erun__follow(x, start, &gone);
		if (!err && gone)
			st->target_exited = true;
		if (err || gone)
			goto out;
	} else {
		err = all ? ebpf__watch(x->e) : 0;
		if (!err)
			err = all ? erun__scan(x, start)
				  : erun__add_proc(x, t, false, start);
		if (err)
			goto out;
	}
	if (!all && !x->fam && !x->nprocs) {
		st->target_exited = true;
		goto out;
	}
	err = erun__loop(x, stop, start);
	/* What the ring buffer still holds was sampled too. */
	if (ebpf__take(x->e) >= 0) {
		int ferr = erun__flush(x);
		err = err ? err : ferr;
	}
	erun__stats(x);
	st->elapsed_ns = clock__ns(CLOCK_MONOTONIC) - start;
	st->cpu_ns = clock__ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
out:
	family__free(x->fam); /* releases its members' processes */
	while (x->nprocs)
		erun__drop(x, x->nprocs - 1);
	ebpf__free(x->e);
	stack_memo__free(x->memo);
	free(x->skip);
	free(x->recs);
	free(x->stacks);
	free(x);
	return err;
}

int ebpf__run(pid_t pid, struct py_target *t, struct trie *trie,
	      const struct sampler_opts *o, struct sampler_stats *st,
	      volatile sig_atomic_t *stop)
{
	return erun__run(pid, t, false, trie, o, st, stop);
}

int ebpf__run_all(struct trie *trie, const struct sampler_opts *o,
		  struct sampler_stats *st, volatile sig_atomic_t *stop)
{
	return erun__run(0, NULL, true, trie, o, st, stop);
}
