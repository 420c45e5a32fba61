/*
 * callgrind.c - the callgrind writer, read by KCacheGrind, QCacheGrind and
 * callgrind_annotate:
 *
 *	fl=(2) /app/main.py
 *	fn=(3) Worker.run:12
 *	14 7			7 samples with Worker.run innermost at line 14
 *	cfi=(2)
 *	cfn=(4) burn:30
 *	calls=40 30		40 samples in which line 15 calls burn ...
 *	15 40			... and their cost, burn's inclusive cost there
 *
 * The event is the sample.  Self cost goes to the innermost frame's
 * current line, so source views show hot lines; a call is recorded at the
 * caller's current line and counts each sample once however often that
 * call site is on the stack (a function calling itself directly is left
 * out: callgrind_annotate would count it into the inclusive cost twice,
 * and KCacheGrind leaves it out of inclusive cost anyway).  Functions are named
 *qualname:firstlineno in their full co_filename, so two functions called alike
 *in one file stay apart and callgrind_annotate --auto=yes can open the source.
 *Each thread is a synthetic root function (file "???", which both readers treat
 *as "no source") so KCacheGrind's inclusive costs add up.
 *
 * A profile with no samples is the header with "summary: 0" and no
 * function, which callgrind_annotate reads as an empty table.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psample/fstats.h"
#include "psample/hash.h"
#include "psample/output.h"
#include "psample/table.h"

int callgrind__write(FILE *out, const struct trie *t,
		     const struct profile_meta *m, const struct output_opts *o);

#define NONE UINT32_MAX

/* Bound on the cmd: line: KCacheGrind looks for "events:" in the first
 * 2047 bytes of a file to recognise it. */
#define CMD_MAX 1024

/*
 * Append at most max bytes of s as one line's worth of UTF-8: invalid
 * bytes become U+FFFD, CR and LF a space.  ';' and spaces stay - they mean
 * nothing here, and a path must stay exact for the source to be found.
 */
static int callgrind__text(struct outbuf *b, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t start = b->len;
	int err = outbuf__reserve(b, 3 * strlen(s) + 1);

	if (err)
		return err;
	while (*p) {
		size_t k = output__utf8_len(p, false);
		const char *add = (const char *)p;
		size_t n = k;

		if (!k) {
			add = "\xef\xbf\xbd";
			n = 3;
			k = 1;
		} else if (*p == '\n' || *p == '\r') {
			add = " ";
		}
		if (b->len - start + n > max)
			break; /* whole characters only */
		memcpy(b->p + b->len, add, n);
		b->len += n;
		p += k;
	}
	b->p[b->len] = '\0';
	return 0;
}

/* Append numbers and short literals (64 bytes at most). */
__attribute__((format(printf, 2, 3))) static int
buf__printf(struct outbuf *b, const char *fmt, ...)
{
	va_list ap;
	int r, err;

	va_start(ap, fmt);
	err = outbuf__reserve(b, 64);
	r = err ? 0 : vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (err)
		return err;
	if (r < 0 || (size_t)r >= b->cap - b->len)
		return -EINVAL;
	b->len += (size_t)r;
	return 0;
}

/* Self cost of one function at one line. */
struct cg_self {
	uint32_t fn;
	uint32_t line;
	uint64_t n;
};

/* One call site: caller's line -> callee, and the samples through it. */
struct cg_site {
	uint32_t caller;
	uint32_t line;
	uint32_t callee;
	uint64_t n;
};

struct callgrind {
	FILE *out;
	int err; /* first write error, sticky */
	const struct trie *t;
	struct fstats *fs;
	/*
	 * Functions: the thread and process roots first (nroots), then
	 * fstats' functions; ids in the file are these plus one.
	 */
	uint32_t nfns, nroots;
	uint32_t *fn_frame; /* a frame of the function */
	uint32_t *fn_file; /* its file id; 1 is "???" */
	uint32_t *node_fn; /* trie node -> function; node 0: NONE */
	uint32_t nfiles;
	const char **file_name; /* file id -> name; [1] is NULL: "???" */
	unsigned char *fn_named, *file_named; /* (id) name written once */
	struct cg_self *selfs;
	size_t nselfs;
	struct cg_site *sites;
	uint32_t nsites;
	uint32_t *node_site; /* trie node -> its call site, or NONE */
	struct outbuf name;
};

__attribute__((format(printf, 2, 3))) static void
callgrind__printf(struct callgrind *cg, const char *fmt, ...)
{
	va_list ap;
	int r = 0;

	va_start(ap, fmt);
	errno = 0;
	if (!cg->err)
		r = vfprintf(cg->out, fmt, ap);
	va_end(ap);
	if (r < 0)
		cg->err = errno ? -errno : -EIO;
}

static const struct ps_frame *callgrind__frame(const struct callgrind *cg,
					       uint32_t fn)
{
	return trie__frame(cg->t, cg->fn_frame[fn]);
}

/* A Python frame's line as a position; 0 (unknown) for everything else. */
static uint32_t frame__pos(const struct ps_frame *f, int32_t line)
{
	return f->kind == PS_FRAME_PYTHON && line > 0 ? (uint32_t)line : 0;
}

/* Number the functions: roots (one per root frame) before fstats'. */
static int callgrind__functions(struct callgrind *cg)
{
	const struct trie *t = cg->t;
	uint32_t nn = trie__nnodes(t), nf = trie__nframes(t);
	uint32_t *root_of = calloc((size_t)nf + 1, sizeof(*root_of));
	size_t max = (size_t)cg->fs->nfns + nf + 1;

	cg->fn_frame = calloc(max, sizeof(*cg->fn_frame));
	cg->node_fn = calloc((size_t)nn + 1, sizeof(*cg->node_fn));
	if (!root_of || !cg->fn_frame || !cg->node_fn) {
		free(root_of);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < nf; i++)
		root_of[i] = NONE;
	for (uint32_t i = 1; i < nn; i++) {
		uint32_t frame = trie__node(t, i)->frame;

		if (cg->fs->node_fn[i] != FSTATS_NONE || root_of[frame] != NONE)
			continue;
		root_of[frame] = cg->nroots;
		cg->fn_frame[cg->nroots++] = frame;
	}
	for (uint32_t k = 0; k < cg->fs->nfns; k++)
		cg->fn_frame[cg->nroots + k] = cg->fs->fns[k].frame;
	cg->nfns = cg->nroots + cg->fs->nfns;
	cg->node_fn[0] = NONE;
	for (uint32_t i = 1; i < nn; i++) {
		uint32_t fn = cg->fs->node_fn[i];

		cg->node_fn[i] = fn != FSTATS_NONE
					 ? cg->nroots + fn
					 : root_of[trie__node(t, i)->frame];
	}
	free(root_of);
	return 0;
}

/* File ids: one per distinct co_filename (interned: pointers compare). */
static int callgrind__files(struct callgrind *cg)
{
	struct table *ids = table__new();
	int err = -ENOMEM;

	cg->fn_file = calloc((size_t)cg->nfns + 1, sizeof(*cg->fn_file));
	cg->file_name = calloc((size_t)cg->nfns + 2, sizeof(*cg->file_name));
	if (!ids || !cg->fn_file || !cg->file_name)
		goto out;
	cg->nfiles = 1; /* id 1: "???" */
	for (uint32_t fn = 0; fn < cg->nfns; fn++) {
		const struct ps_frame *f = callgrind__frame(cg, fn);
		uint64_t id;
		int added;

		cg->fn_file[fn] = 1;
		if (f->kind != PS_FRAME_PYTHON || !f->file || !*f->file)
			continue;
		added = table__add(ids, (uint64_t)(uintptr_t)f->file,
				   cg->nfiles + 1, &id);
		if (added < 0) {
			err = added;
			goto out;
		}
		if (added) {
			cg->nfiles++;
			cg->file_name[cg->nfiles] = f->file;
		}
		cg->fn_file[fn] = (uint32_t)id;
	}
	cg->fn_named = calloc((size_t)cg->nfns + 1, 1);
	cg->file_named = calloc((size_t)cg->nfiles + 1, 1);
	err = cg->fn_named && cg->file_named ? 0 : -ENOMEM;
out:
	table__free(ids);
	return err;
}

struct site_slot {
	uint32_t site; /* index + 1; 0 empty */
};

/* Each node's call site (caller, caller's line, callee), deduplicated. */
static int callgrind__sites(struct callgrind *cg)
{
	const struct trie *t = cg->t;
	uint32_t nn = trie__nnodes(t), cap, mask;
	struct site_slot *slots;

	/* At most half full; hash__pow2 goes up to 2^31. */
	if (nn >= UINT32_MAX / 4)
		return -ENOMEM;
	cap = hash__pow2(2 * nn + 2);
	mask = cap - 1;
	slots = calloc(cap, sizeof(*slots));
	cg->sites = calloc((size_t)nn + 1, sizeof(*cg->sites));
	cg->node_site = calloc((size_t)nn + 1, sizeof(*cg->node_site));
	if (!slots || !cg->sites || !cg->node_site) {
		free(slots);
		return -ENOMEM;
	}
	cg->node_site[0] = NONE;
	for (uint32_t i = 1; i < nn; i++) {
		const struct trie_node *n = trie__node(t, i);
		struct cg_site s = {.caller = cg->node_fn[n->parent],
				    .callee = cg->node_fn[i]};
		const struct ps_frame *pf;
		size_t h;

		cg->node_site[i] = NONE;
		/*
		 * Direct recursion is left out: KCacheGrind ignores it for
		 * inclusive cost anyway, and callgrind_annotate would add it
		 * to the callee's inclusive cost a second time.
		 */
		if (s.caller == NONE || s.caller == s.callee)
			continue;
		pf = trie__frame(t, trie__node(t, n->parent)->frame);
		s.line = frame__pos(pf, pf->line);
		h = hash__mix64(
			    hash__mix64(((uint64_t)s.caller << 32) | s.callee) ^
			    s.line) &
		    mask;
		for (; slots[h].site; h = (h + 1) & mask) {
			const struct cg_site *o = &cg->sites[slots[h].site - 1];

			if (o->caller == s.caller && o->callee == s.callee &&
			    o->line == s.line)
				break;
		}
		if (!slots[h].site) {
			cg->sites[cg->nsites] = s;
			slots[h].site = ++cg->nsites;
		}
		cg->node_site[i] = slots[h].site - 1;
	}
	free(slots);
	return 0;
}

/*
 * Samples through each call site, once per sample: depth first, a node
 * adds its subtree's samples only where it is the site's outermost
 * occurrence on the path (indirect recursion repeats sites).
 */
static int callgrind__site_totals(struct callgrind *cg)
{
	const struct trie *t = cg->t;
	uint32_t nn = trie__nnodes(t);
	uint32_t *first = malloc(((size_t)nn + 1) * sizeof(*first));
	uint32_t *next = malloc(((size_t)nn + 1) * sizeof(*next));
	uint32_t *stack = malloc(((size_t)nn + 1) * sizeof(*stack));
	uint32_t *on = calloc((size_t)cg->nsites + 1, sizeof(*on));
	uint32_t sp = 0;

	if (!first || !next || !stack || !on) {
		free(first);
		free(next);
		free(stack);
		free(on);
		return -ENOMEM;
	}
	for (size_t i = 0; i <= nn; i++)
		first[i] = next[i] = NONE;
	/* Children in reverse: order does not matter for sums. */
	for (uint32_t i = nn; i-- > 1;) {
		uint32_t p = trie__node(t, i)->parent;

		next[i] = first[p];
		first[p] = i;
	}
	/* first[] doubles as each node's iterator over its children. */
	stack[sp++] = 0;
	while (sp) {
		uint32_t n = stack[sp - 1], c = first[n];

		if (c == NONE) {
			sp--;
			if (cg->node_site[n] != NONE)
				on[cg->node_site[n]]--;
			continue;
		}
		first[n] = next[c];
		if (cg->node_site[c] != NONE && on[cg->node_site[c]]++ == 0)
			cg->sites[cg->node_site[c]].n += cg->fs->node_total[c];
		stack[sp++] = c;
	}
	free(first);
	free(next);
	free(stack);
	free(on);
	return 0;
}

static int self__cmp(const void *a, const void *b)
{
	const struct cg_self *x = a, *y = b;

	if (x->fn != y->fn)
		return x->fn < y->fn ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return 0;
}

static int site__cmp(const void *a, const void *b)
{
	const struct cg_site *x = a, *y = b;

	if (x->caller != y->caller)
		return x->caller < y->caller ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->callee != y->callee)
		return x->callee < y->callee ? -1 : 1;
	return 0;
}

/* Self cost per (function, line), sorted; returns the sum in *total. */
static int callgrind__selfs(struct callgrind *cg, uint64_t *total)
{
	const struct trie *t = cg->t;
	uint32_t nn = trie__nnodes(t);
	size_t n = 0;

	*total = 0;
	cg->selfs = calloc((size_t)nn + 1, sizeof(*cg->selfs));
	if (!cg->selfs)
		return -ENOMEM;
	/* Node 0 has no frame to charge: its samples are not written. */
	for (uint32_t i = 1; i < nn; i++) {
		const struct trie_node *node = trie__node(t, i);
		const struct ps_frame *f = trie__frame(t, node->frame);

		if (!node->self)
			continue;
		cg->selfs[n++] = (struct cg_self){
			.fn = cg->node_fn[i],
			.line = frame__pos(f, f->line),
			.n = node->self,
		};
		*total += node->self;
	}
	if (n)
		qsort(cg->selfs, n, sizeof(*cg->selfs), self__cmp);
	/* Merge the lines several nodes share. */
	cg->nselfs = 0;
	for (size_t i = 0; i < n; i++) {
		struct cg_self *last =
			cg->nselfs ? &cg->selfs[cg->nselfs - 1] : NULL;

		if (last && !self__cmp(last, &cg->selfs[i]))
			last->n += cg->selfs[i].n;
		else
			cg->selfs[cg->nselfs++] = cg->selfs[i];
	}
	return 0;
}

/* A function's name: qualname:firstlineno, or its root's label. */
static int callgrind__fn_name(struct callgrind *cg, uint32_t fn)
{
	const struct ps_frame *f = callgrind__frame(cg, fn);
	struct outbuf *b = &cg->name;
	int err;

	b->len = 0;
	switch (f->kind) {
	case PS_FRAME_PYTHON: {
		const char *q = f->name && *f->name   ? f->name
				: f->func && *f->func ? f->func
						      : "?";

		err = callgrind__text(b, q, SIZE_MAX);
		if (!err)
			err = buf__printf(b, ":%" PRId32, f->firstlineno);
		return err;
	}
	case PS_FRAME_THREAD:
	case PS_FRAME_PROCESS:
		err = buf__printf(b, "<%s %" PRIu64,
				  f->kind == PS_FRAME_THREAD ? "thread"
							     : "process",
				  f->num);
		if (!err && f->name && *f->name) {
			err = buf__printf(b, " (");
			if (!err)
				err = callgrind__text(b, f->name, CMD_MAX);
			if (!err)
				err = buf__printf(b, ")");
		}
		if (!err)
			err = buf__printf(b, ">");
		return err;
	default:
		return callgrind__text(b, f->name && *f->name ? f->name : "?",
				       SIZE_MAX);
	}
}

/* "key=(id)", with " name" the first time the id is used. */
static void callgrind__file_ref(struct callgrind *cg, const char *key,
				uint32_t file)
{
	if (cg->file_named[file]) {
		callgrind__printf(cg, "%s=(%" PRIu32 ")\n", key, file);
		return;
	}
	cg->file_named[file] = 1;
	cg->name.len = 0;
	if (!cg->err)
		cg->err = callgrind__text(
			&cg->name,
			cg->file_name[file] ? cg->file_name[file] : "???",
			SIZE_MAX);
	callgrind__printf(cg, "%s=(%" PRIu32 ") %s\n", key, file, cg->name.p);
}

static void callgrind__fn_ref(struct callgrind *cg, const char *key,
			      uint32_t fn)
{
	if (cg->fn_named[fn]) {
		callgrind__printf(cg, "%s=(%" PRIu32 ")\n", key, fn + 1);
		return;
	}
	cg->fn_named[fn] = 1;
	if (!cg->err)
		cg->err = callgrind__fn_name(cg, fn);
	callgrind__printf(cg, "%s=(%" PRIu32 ") %s\n", key, fn + 1, cg->name.p);
}

static void callgrind__header(struct callgrind *cg,
			      const struct profile_meta *m, uint64_t total)
{
	double ns = m->interval_s * 1e9;

	/* callgrind_annotate stops reading the header at "events:", and
	 * KCacheGrind wants "summary:" after it: this order suits both. */
	callgrind__printf(cg, "# callgrind format\nversion: 1\n"
			      "creator: psample\n");
	if (m->pid > 0)
		callgrind__printf(cg, "pid: %d\n", (int)m->pid);
	if (m->cmdline && *m->cmdline) {
		cg->name.len = 0;
		if (!cg->err)
			cg->err =
				callgrind__text(&cg->name, m->cmdline, CMD_MAX);
		callgrind__printf(cg, "cmd: %s\n", cg->name.p);
	}
	if (m->python && *m->python) {
		cg->name.len = 0;
		if (!cg->err)
			cg->err = callgrind__text(&cg->name, m->python, 64);
		callgrind__printf(cg, "desc: Python: %s\n", cg->name.p);
	}
	callgrind__printf(cg, "positions: line\n");
	/* Only KCacheGrind shows the long name: say what a sample is. */
	cg->name.len = 0;
	if (!cg->err)
		cg->err = callgrind__text(
			&cg->name, m->mode && *m->mode ? m->mode : "wall", 64);
	if (!cg->err)
		cg->err = buf__printf(&cg->name, " time");
	/* Integer arithmetic: printf's decimal point follows the locale. */
	if (!cg->err && isfinite(ns) && ns >= 1 && ns < 1e18) {
		uint64_t v = (uint64_t)(ns + 0.5);

		cg->err = buf__printf(&cg->name, ", one every %" PRIu64,
				      v / 1000);
		if (!cg->err && v % 1000)
			cg->err =
				buf__printf(&cg->name, ".%03" PRIu64, v % 1000);
		if (!cg->err)
			cg->err = buf__printf(&cg->name, " us");
	}
	callgrind__printf(cg, "event: samples : Samples (%s)\n", cg->name.p);
	callgrind__printf(cg, "events: samples\nsummary: %" PRIu64 "\n", total);
}

/* Whether fn's self costs (from selfs[at] on) include a known line. */
static bool callgrind__has_line(const struct callgrind *cg, uint32_t fn,
				size_t at)
{
	for (; at < cg->nselfs && cg->selfs[at].fn == fn; at++)
		if (cg->selfs[at].line)
			return true;
	return false;
}

/* fn's first known call-site line (its sites from sites[at] on), or 0. */
static uint32_t callgrind__site_line(const struct callgrind *cg, uint32_t fn,
				     uint32_t at)
{
	for (; at < cg->nsites && cg->sites[at].caller == fn; at++)
		if (cg->sites[at].line)
			return cg->sites[at].line;
	return 0;
}

/* One function's block: its self lines, then its calls. */
static void callgrind__block(struct callgrind *cg, uint32_t fn, size_t *self_at,
			     uint32_t *site_at)
{
	const struct ps_frame *f = callgrind__frame(cg, fn);

	callgrind__printf(cg, "\n");
	callgrind__file_ref(cg, "fl", cg->fn_file[fn]);
	callgrind__fn_ref(cg, "fn", fn);
	/*
	 * A function with no cost at a known line gets a zero one, at its
	 * first call site or else its first line: callgrind_annotate's source
	 * view only shows lines near a cost line, and breaks on a file that
	 * has none but line 0 (unknown).
	 */
	if (!callgrind__has_line(cg, fn, *self_at)) {
		uint32_t at = callgrind__site_line(cg, fn, *site_at);

		if (!at)
			at = frame__pos(f, f->firstlineno);
		if (at)
			callgrind__printf(cg, "%" PRIu32 " 0\n", at);
	}
	for (; *self_at < cg->nselfs && cg->selfs[*self_at].fn == fn;
	     (*self_at)++)
		callgrind__printf(cg, "%" PRIu32 " %" PRIu64 "\n",
				  cg->selfs[*self_at].line,
				  cg->selfs[*self_at].n);
	for (; *site_at < cg->nsites && cg->sites[*site_at].caller == fn;
	     (*site_at)++) {
		const struct cg_site *s = &cg->sites[*site_at];
		const struct ps_frame *callee = callgrind__frame(cg, s->callee);

		/* Both readers forget the callee's file after each call:
		 * without cfi= the next cfn= would land in the caller's. */
		callgrind__file_ref(cg, "cfi", cg->fn_file[s->callee]);
		callgrind__fn_ref(cg, "cfn", s->callee);
		callgrind__printf(cg, "calls=%" PRIu64 " %" PRIu32 "\n", s->n,
				  frame__pos(callee, callee->firstlineno));
		callgrind__printf(cg, "%" PRIu32 " %" PRIu64 "\n", s->line,
				  s->n);
	}
}

static int callgrind__body(struct callgrind *cg, const struct profile_meta *m)
{
	uint64_t total;
	size_t self_at = 0;
	uint32_t site_at = 0, kept = 0;
	int err;

	if ((err = callgrind__selfs(cg, &total)))
		return err;
	/* A call count of 0 makes KCacheGrind ignore the call. */
	for (uint32_t i = 0; i < cg->nsites; i++)
		if (cg->sites[i].n)
			cg->sites[kept++] = cg->sites[i];
	cg->nsites = kept;
	if (cg->nsites)
		qsort(cg->sites, cg->nsites, sizeof(*cg->sites), site__cmp);

	callgrind__header(cg, m, total);
	for (uint32_t fn = 0; fn < cg->nfns && !cg->err; fn++) {
		int has_self =
			self_at < cg->nselfs && cg->selfs[self_at].fn == fn;
		int has_calls =
			site_at < cg->nsites && cg->sites[site_at].caller == fn;

		if (has_self || has_calls)
			callgrind__block(cg, fn, &self_at, &site_at);
	}
	callgrind__printf(cg, "\ntotals: %" PRIu64 "\n", total);
	return cg->err;
}

int callgrind__write(FILE *out, const struct trie *t,
		     const struct profile_meta *m, const struct output_opts *o)
{
	struct callgrind cg = {.out = out, .t = t};
	int err;

	(void)o; /* full co_filename always: the source must be found */
	if (!out || !t || !m)
		return -EINVAL;
	err = fstats__new(t, &cg.fs);
	if (!err)
		err = callgrind__functions(&cg);
	if (!err)
		err = callgrind__files(&cg);
	if (!err)
		err = callgrind__sites(&cg);
	if (!err)
		err = callgrind__site_totals(&cg);
	if (!err)
		err = callgrind__body(&cg, m);
	fstats__free(cg.fs);
	free(cg.fn_frame);
	free(cg.fn_file);
	free(cg.node_fn);
	free(cg.file_name);
	free(cg.fn_named);
	free(cg.file_named);
	free(cg.selfs);
	free(cg.sites);
	free(cg.node_site);
	free(cg.name.p);
	return err;
}
