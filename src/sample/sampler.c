/*
 * sampler.c - the sampling loop.
 *
 * Ticks are due at start + k * interval, never "last wake-up plus
 * interval", so the rate does not drift however long a sample takes.  A
 * tick that starts more than half an interval after it was due counts as
 * late; ticks that passed entirely while psample was busy count as missed
 * and are not made up for (sampling twice in a row would bias the profile
 * toward whatever runs then).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#include "psample/error.h"
#include "psample/proc.h"
#include "psample/sampler.h"

#define NSEC 1000000000LL

static int64_t clock__ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * NSEC + ts.tv_nsec;
}

/* The trie id of a code object at a line, memoised in the code entry. */
static int frame__id(struct trie *trie, struct py_code *c, int32_t line,
		     uint32_t *id)
{
	for (uint32_t i = 0; i < c->nmemo; i++) {
		if (c->memo_line[i] == line) {
			*id = c->memo_id[i];
			return 0;
		}
	}
	struct ps_frame f = {
		.kind = PS_FRAME_PYTHON,
		.firstlineno = c->firstlineno,
		.line = line,
		.name = c->qualname,
		.file = c->filename,
		.func = c->name,
	};
	int err = trie__intern(trie, &f, id);
	if (err)
		return err;
	/* Keep the most recent lines; a hot function has few of them. */
	uint32_t slot = c->nmemo < 8 ? c->nmemo++ : (uint32_t)line & 7;
	c->memo_line[slot] = line;
	c->memo_id[slot] = *id;
	return 0;
}

int sampler__add_stack(struct trie *trie, const struct py_thread *th,
		       const char *thread_name)
{
	uint32_t node = 0, id;
	int err;

	struct ps_frame root = {
		.kind = PS_FRAME_THREAD,
		.num = (uint64_t)(th->tid ? th->tid : 0),
		.name = thread_name,
	};
	if ((err = trie__intern(trie, &root, &id)) ||
	    (err = trie__child(trie, node, id, &node)))
		return err;
	if (th->truncated) {
		struct ps_frame mark = {.kind = PS_FRAME_SPECIAL,
					.name = "[truncated]"};
		if ((err = trie__intern(trie, &mark, &id)) ||
		    (err = trie__child(trie, node, id, &node)))
			return err;
	}
	for (uint32_t k = th->depth; k-- > 0;) {
		const struct py_frame *f = &th->frames[k];
		if ((err = frame__id(trie, f->code, f->line, &id)) ||
		    (err = trie__child(trie, node, id, &node)))
			return err;
	}
	trie__count(trie, node, 1);
	return 0;
}

/* Thread names from the OS, read once per thread. */
struct names {
	pid_t pid;
	char proc_comm[32];
	uint32_t n;
	struct {
		pid_t tid;
		char name[32];
	} v[256];
};

static const char *names__get(struct names *nm, pid_t tid)
{
	if (!tid)
		return NULL;
	for (uint32_t i = 0; i < nm->n; i++)
		if (nm->v[i].tid == tid)
			return nm->v[i].name[0] ? nm->v[i].name : NULL;
	uint32_t i = nm->n < 256 ? nm->n++ : (uint32_t)tid % 256;
	nm->v[i].tid = tid;
	nm->v[i].name[0] = '\0';
	/* CPython < 3.14 leaves every thread named after the process:
	 * only a name a thread set itself says anything. */
	if (!proc__thread_comm(nm->pid, tid, nm->v[i].name,
			       sizeof(nm->v[i].name)) &&
	    !strcmp(nm->v[i].name, nm->proc_comm))
		nm->v[i].name[0] = '\0';
	return nm->v[i].name[0] ? nm->v[i].name : NULL;
}

static bool sampler__child_done(const struct sampler_opts *o,
				struct sampler_stats *st)
{
	int status;

	if (o->child <= 0 || st->child_reaped)
		return st->child_reaped;
	pid_t r = waitpid(o->child, &status, WNOHANG);
	if (r == o->child) {
		st->child_reaped = true;
		st->child_status = status;
	}
	return st->child_reaped;
}

int sampler__run(struct py_target *t, struct trie *trie,
		 const struct sampler_opts *o, struct sampler_stats *st,
		 volatile sig_atomic_t *stop)
{
	struct py_walker *w;
	struct names *names;
	int64_t interval = (int64_t)((double)NSEC / o->rate_hz);
	int err = py_walker__new(t, &w);

	memset(st, 0, sizeof(*st));
	if (err)
		return err;
	names = calloc(1, sizeof(*names));
	if (!names) {
		py_walker__free(w);
		return -ENOMEM;
	}
	if (interval < 1000)
		interval = 1000;
	names->pid = t->pid;
	proc__thread_comm(t->pid, t->pid, names->proc_comm,
			  sizeof(names->proc_comm));
	/* Wake-ups within microseconds of the deadline, not the default
	 * 50 us slack, so high rates stay on schedule without spinning. */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);

	uint64_t calls0 = t->mem.calls;
	int64_t cpu0 = clock__ns(CLOCK_PROCESS_CPUTIME_ID);
	int64_t start = clock__ns(CLOCK_MONOTONIC);
	int64_t end = o->duration_s > 0
			      ? start + (int64_t)(o->duration_s * (double)NSEC)
			      : INT64_MAX;
	int64_t k = 0, now;

	while (!*stop) {
		int64_t due = start + k * interval;
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
		if (now - due > interval / 2)
			st->late++;

		const struct py_sample *s;
		err = py_walker__sample(w, &s);
		if (err == -ESRCH || sampler__child_done(o, st) ||
		    (err && proc__alive(t->pid) == 0)) {
			st->target_exited = true;
			err = 0;
			break;
		}
		if (err == -PS_ENOTREADY) {
			st->empty++;
		} else if (err == -ENOMEM) {
			break;
		} else if (err) {
			st->errors++;
		} else {
			bool any = false;
			for (uint32_t i = 0; i < s->nthreads; i++) {
				const struct py_thread *th = &s->threads[i];
				if (th->err) {
					st->thread_errors++;
					continue;
				}
				if (!th->depth)
					continue;
				const char *name =
					th->name ? th->name
						 : names__get(names, th->tid);
				err = sampler__add_stack(trie, th, name);
				if (err)
					break;
				st->stacks++;
				any = true;
			}
			if (err)
				break;
			if (any)
				st->samples++;
			else
				st->empty++;
		}
		/* If ticks came due while sampling, take the latest one now
		 * (it will count as late) and skip the older ones. */
		now = clock__ns(CLOCK_MONOTONIC);
		int64_t latest = (now - start) / interval;
		if (latest > k + 1)
			st->missed += (uint64_t)(latest - k - 1);
		k = latest > k ? latest : k + 1;
	}
	st->elapsed_ns = clock__ns(CLOCK_MONOTONIC) - start;
	st->cpu_ns = clock__ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
	st->calls = t->mem.calls - calls0;
	py_walker__free(w);
	free(names);
	return err;
}
