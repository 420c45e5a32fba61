/*
 * eproc.c - one process the eBPF backend samples: its entry in the
 * program's process map, its threads in the tid map, and its stacks
 * named and added to the trie.
 *
 * The thread list comes from the process_vm_readv walker itself (one
 * walk of every thread), so there is one reader of the interpreter's
 * lists.  A thread's entry holds what its state must say for the program
 * to believe it: native_thread_id where the version has one (the id in
 * the thread's own pid namespace), else thread_id.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psample/error.h"
#include "psample/family.h"
#include "psample/stacks.h"
#include "eproc.h"

static struct ethread *eproc__thread(struct eproc *p, pid_t tid)
{
	for (uint32_t i = 0; i < p->nth; i++)
		if (p->th[i].tid == tid)
			return &p->th[i];
	return NULL;
}

int eproc__new(struct ebpf *e, struct py_target *t, bool own_t,
	       struct trie *trie, bool root, int64_t now, struct eproc **out)
{
	struct eproc *p = calloc(1, sizeof(*p));
	int err;

	*out = NULL;
	if (!p) {
		if (own_t)
			py_target__free(t);
		return -ENOMEM;
	}
	p->pid = t->pid;
	p->t = t;
	p->own_t = own_t;
	p->root = STACK_NO_PROC;
	p->listed_at = now;
	proc__identity(t->pid, &p->id);
	if (root) {
		/* As long as the ptrace backend's roots (family.h), so the
		 * two name a process alike. */
		char cmdline[sizeof(((struct member *)0)->cmdline)] = "";
		proc__cmdline(t->pid, cmdline, sizeof(cmdline));
		struct ps_frame f = {.kind = PS_FRAME_PROCESS,
				     .num = (uint64_t)t->pid,
				     .name = cmdline};
		if ((err = trie__intern(trie, &f, &p->root))) {
			eproc__free(p, NULL);
			return err;
		}
	}
	if ((err = py_walker__new(t, &p->w)) ||
	    (err = py_resolver__new(t, &p->r)) ||
	    (err = ebpf__add_proc(e, t->pid, t->layout, t->frame_type))) {
		eproc__free(p, NULL);
		return err;
	}
	*out = p;
	return 0;
}

void eproc__free(struct eproc *p, struct ebpf *e)
{
	if (!p)
		return;
	if (e) {
		for (uint32_t i = 0; i < p->nth; i++)
			ebpf__drop_thread(e, p->th[i].tid);
		ebpf__drop_proc(e, p->pid);
	}
	py_resolver__free(p->r);
	py_walker__free(p->w);
	mem_batch__free(&p->batch);
	if (p->own_t)
		py_target__free(p->t);
	free(p->th);
	free(p);
}

/* One thread of a listing into the map: 0 or a negative error. */
static int eproc__list_one(struct eproc *p, struct ebpf *e,
			   const struct py_thread *pt)
{
	const struct py_layout *l = p->t->layout;
	uint64_t expect =
		(l->flags & PY_L_NATIVE_TID)
			? (uint64_t)(pt->ns_tid ? pt->ns_tid : pt->tid)
			: pt->thread_id;
	struct ethread *th = eproc__thread(p, pt->tid);

	if (!th) {
		if (p->nth == p->cap_th) {
			uint32_t cap = p->cap_th ? p->cap_th * 2 : 16;
			struct ethread *v =
				reallocarray(p->th, cap, sizeof(*v));
			if (!v)
				return -ENOMEM;
			p->th = v;
			p->cap_th = cap;
		}
		th = &p->th[p->nth++];
		*th = (struct ethread){.tid = pt->tid};
		proc__thread_name(p->pid, pt->tid, th->name, sizeof(th->name));
	}
	if (pt->name)
		snprintf(th->name, sizeof(th->name), "%s", pt->name);
	th->seen = true;
	if (th->tstate == pt->tstate && th->expect == expect)
		return 0;
	th->tstate = pt->tstate;
	th->expect = expect;
	return ebpf__set_thread(e, pt->tid, pt->tstate, expect);
}

int eproc__relist(struct eproc *p, struct ebpf *e, int64_t now)
{
	const struct py_sample *s;
	int err = py_walker__sample(p->w, &s);

	p->listed_at = now;
	/* Starting up, finalising, or read while it changed: next time. */
	if (err == -PS_ENOTREADY || err == -PS_ECORRUPT || err == -EFAULT)
		return 0;
	if (err)
		return err;
	for (uint32_t i = 0; i < p->nth; i++)
		p->th[i].seen = false;
	for (uint32_t i = 0; i < s->nthreads; i++)
		if (s->threads[i].tid && s->threads[i].tstate &&
		    (err = eproc__list_one(p, e, &s->threads[i])))
			return err;
	uint32_t n = 0;
	for (uint32_t i = 0; i < p->nth; i++) {
		if (p->th[i].seen) {
			p->th[n++] = p->th[i];
			continue;
		}
		if ((err = ebpf__drop_thread(e, p->th[i].tid)))
			return err;
	}
	p->nth = n;
	return 0;
}

/* Name one record and add it to the trie; false if it was an error. */
static bool eproc__add_one(struct eproc *p, struct trie *trie,
			   struct stack_memo *memo,
			   const struct ebpf_record *rec,
			   struct py_frame *frames)
{
	uint32_t depth, dropped;

	if (rec->raw.err ||
	    py_resolver__stack(p->r, &rec->raw, frames, &depth, &dropped))
		return false;
	if (!depth) {
		p->empty++;
		return true;
	}
	const struct ethread *th = eproc__thread(p, rec->tid);
	struct py_thread pt = {
		.tstate = rec->tstate,
		.tid = rec->tid,
		.truncated = rec->raw.truncated,
		.depth = depth,
		.frames = frames,
	};
	if (stack__add(trie, memo, p->root, &pt,
		       th && th->name[0] ? th->name : NULL, NULL, 1))
		return false;
	p->stacks++;
	return true;
}

int eproc__add(struct eproc *p, struct trie *trie, struct stack_memo *memo,
	       const struct ebpf_record *const *recs, uint32_t n,
	       const struct py_rawstack **stacks, struct py_frame *frames)
{
	uint32_t m = 0;
	int err;

	for (uint32_t i = 0; i < n; i++)
		if (!recs[i]->raw.err)
			stacks[m++] = &recs[i]->raw;
	py_resolver__trim(p->r);
	mem_batch__reset(&p->batch);
	if ((err = py_resolver__plan(p->r, &p->batch)))
		return err;
	/* Gone: nothing can be named any more. */
	if ((err = mem_batch__read(&p->t->mem, &p->batch)) && err != -ESRCH)
		return err;
	py_resolver__collect(p->r, &p->batch);
	if (!err && m && (err = py_resolver__headers(p->r, stacks, m)) < 0 &&
	    err != -ESRCH)
		return err;
	for (uint32_t i = 0; i < n; i++)
		if (!eproc__add_one(p, trie, memo, recs[i], frames))
			p->errors++;
	return 0;
}
