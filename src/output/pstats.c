/*
 * pstats.c - the pstats writer: the marshal'd dict cProfile's dump_stats()
 * writes, so pstats.Stats, SnakeViz, gprof2dot and pyprof2calltree read a
 * sampled profile as if cProfile had made it, and Stats.add() merges the
 * two:
 *
 *	{(co_filename, co_firstlineno, co_name):
 *		(cc, nc, tt, ct, {caller_key: (nc, cc, tt, ct)})}
 *
 * A call is a sample: nc = cc = samples with the function on the stack,
 * once however deep it recurses; tt = samples with it innermost times the
 * interval; ct = nc times the interval.  A caller's entry holds the same
 * numbers for that caller->callee edge.  Only the marshal codes every
 * Python 3 (and 2.7) reads are written - { ( u i l g and 0, no references
 * - little-endian whatever the host.
 *
 * pstats.Stats refuses an empty dict, so a profile with no samples is one
 * entry that is no function and costs nothing: ('~', 0, '<no samples>'),
 * which pstats prints as {no samples}, in 0 calls and 0 seconds.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psample/fstats.h"
#include "psample/output.h"

int pstats__write(FILE *out, const struct trie *t, const struct profile_meta *m,
		  const struct output_opts *o);

/* Append s with every byte marshal would reject replaced by U+FFFD. */
static int pstats__text(struct outbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	int err = outbuf__reserve(b, 3 * strlen(s) + 1);

	if (err)
		return err;
	while (*p) {
		/* Marshal's "u" decodes with surrogatepass, and the reader
		 * keeps co_filename's lone surrogates (surrogateescape'd
		 * bytes) as ED A0..BF xx: passing them through gives the key
		 * cProfile would have written for the same file. */
		size_t k = output__utf8_len(p, true);

		if (k) {
			memcpy(b->p + b->len, p, k);
			b->len += k;
			p += k;
		} else {
			/* One byte at a time: each becomes one U+FFFD. */
			memcpy(b->p + b->len, "\xef\xbf\xbd", 3);
			b->len += 3;
			p++;
		}
	}
	b->p[b->len] = '\0';
	return 0;
}

/* Marshal output with a sticky error, so a key is written in one go. */
struct marshal {
	FILE *out;
	int err;
};

static void marshal__bytes(struct marshal *w, const void *p, size_t n)
{
	if (w->err || !n)
		return;
	errno = 0;
	if (fwrite(p, 1, n, w->out) != n)
		w->err = errno ? -errno : -EIO;
}

static void marshal__u32(struct marshal *w, uint32_t v)
{
	unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8),
			      (unsigned char)(v >> 16),
			      (unsigned char)(v >> 24)};

	marshal__bytes(w, b, sizeof(b));
}

static void marshal__code(struct marshal *w, char c)
{
	marshal__bytes(w, &c, 1);
}

/* "i" where it fits, else "l": base-2^15 digits, least significant first. */
static void marshal__int(struct marshal *w, int64_t v)
{
	unsigned char d[2 * 5];
	uint64_t mag;
	int32_t n = 0;

	if (v >= INT32_MIN && v <= INT32_MAX) {
		marshal__code(w, 'i');
		marshal__u32(w, (uint32_t)(int32_t)v);
		return;
	}
	mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	/* 64 bits are 5 digits; the loop stops at the top non-zero one. */
	while (mag) {
		d[2 * n] = (unsigned char)(mag & 0xff);
		d[2 * n + 1] = (unsigned char)((mag >> 8) & 0x7f);
		mag >>= 15;
		n++;
	}
	marshal__code(w, 'l');
	marshal__u32(w, (uint32_t)(v < 0 ? -n : n));
	marshal__bytes(w, d, 2 * (size_t)n);
}

static void marshal__u64(struct marshal *w, uint64_t v)
{
	/* Sample counts never reach 2^63; clamp rather than wrap. */
	marshal__int(w, v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

/* "g": IEEE-754 binary64, little-endian byte by byte. */
static void marshal__float(struct marshal *w, double d)
{
	unsigned char b[8];
	uint64_t bits;

	memcpy(&bits, &d, sizeof(bits));
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(bits >> (8 * i));
	marshal__code(w, 'g');
	marshal__bytes(w, b, sizeof(b));
}

/* "u": s is valid UTF-8 already (keys are sanitised when interned). */
static void marshal__str(struct marshal *w, const char *s)
{
	size_t len = s ? strlen(s) : 0;

	if (len > INT32_MAX) {
		if (!w->err)
			w->err = -EOVERFLOW;
		return;
	}
	marshal__code(w, 'u');
	marshal__u32(w, (uint32_t)len);
	marshal__bytes(w, s, len);
}

static void marshal__tuple(struct marshal *w, uint32_t n)
{
	marshal__code(w, '(');
	marshal__u32(w, n);
}

struct pstats {
	const struct trie *t;
	/* The profile with one frame per pstats key, so that fstats counts
	 * exactly what each key stands for: frames that differ only in
	 * line or qualname, or whose strings sanitise alike, are one key. */
	struct trie *keys;
	struct fstats *fs;
	struct outbuf file, func;
	/* Edges grouped by callee: by_callee[at[f] .. at[f + 1]). */
	uint32_t *at, *by_callee;
};

/* The key frame of f in ps->keys, or UINT32_MAX for a thread root. */
static int pstats__key_frame(struct pstats *ps, const struct ps_frame *f,
			     uint32_t *id)
{
	struct ps_frame k = {.kind = PS_FRAME_PYTHON};
	int err;

	*id = UINT32_MAX;
	ps->file.len = 0;
	ps->func.len = 0;
	switch (f->kind) {
	case PS_FRAME_PYTHON:
		/* The full co_filename: a shortened one would not merge
		 * with cProfile's keys. */
		err = pstats__text(&ps->file, f->file ? f->file : "?");
		if (!err)
			err = pstats__text(&ps->func, f->func ? f->func : "?");
		k.firstlineno = f->firstlineno;
		break;
	case PS_FRAME_SPECIAL: {
		/* cProfile's form for what has no code object: ('~', 0,
		 * '<...>'), which pstats prints as {...}. */
		const char *s = f->name ? f->name : "?";
		size_t n = strlen(s);
		int wrap = !(n >= 2 && s[0] == '<' && s[n - 1] == '>');

		err = pstats__text(&ps->file, "~");
		if (!err && wrap)
			err = pstats__text(&ps->func, "<");
		if (!err)
			err = pstats__text(&ps->func, s);
		if (!err && wrap)
			err = pstats__text(&ps->func, ">");
		break;
	}
	default: return 0; /* threads and processes are not functions */
	}
	if (err)
		return err;
	k.line = k.firstlineno;
	k.file = ps->file.p;
	k.func = ps->func.p;
	return trie__intern(ps->keys, &k, id);
}

/* Copy t into ps->keys, frame by frame, node by node (parents first). */
static int pstats__keys(struct pstats *ps)
{
	const struct trie *t = ps->t;
	uint32_t nf = trie__nframes(t), nn = trie__nnodes(t);
	uint32_t *fmap = malloc(((size_t)nf + 1) * sizeof(*fmap));
	uint32_t *nmap = malloc(((size_t)nn + 1) * sizeof(*nmap));
	int err = -ENOMEM;

	ps->keys = trie__new();
	if (!fmap || !nmap || !ps->keys)
		goto out;
	for (uint32_t i = 0; i < nf; i++)
		if ((err = pstats__key_frame(ps, trie__frame(t, i), &fmap[i])))
			goto out;
	nmap[0] = 0;
	for (uint32_t i = 1; i < nn; i++) {
		const struct trie_node *n = trie__node(t, i);
		uint32_t parent = nmap[n->parent];

		if (fmap[n->frame] == UINT32_MAX)
			nmap[i] = parent;
		else if ((err = trie__child(ps->keys, parent, fmap[n->frame],
					    &nmap[i])))
			goto out;
		trie__count(ps->keys, nmap[i], n->self);
	}
	err = 0;
out:
	free(fmap);
	free(nmap);
	return err;
}

/* Counting sort of the edges by callee, for each function's callers. */
static int pstats__callers(struct pstats *ps)
{
	const struct fstats *fs = ps->fs;

	ps->at = calloc((size_t)fs->nfns + 1, sizeof(*ps->at));
	ps->by_callee =
		malloc(((size_t)fs->nedges + 1) * sizeof(*ps->by_callee));
	if (!ps->at || !ps->by_callee)
		return -ENOMEM;
	for (uint32_t e = 0; e < fs->nedges; e++)
		ps->at[fs->edges[e].callee + 1]++;
	for (uint32_t f = 0; f < fs->nfns; f++)
		ps->at[f + 1] += ps->at[f];
	for (uint32_t e = 0; e < fs->nedges; e++) {
		uint32_t callee = fs->edges[e].callee;
		uint32_t slot = ps->at[callee]++;

		ps->by_callee[slot] = e;
	}
	/* The fill moved each start to the next one's: shift back. */
	for (uint32_t f = fs->nfns; f > 0; f--)
		ps->at[f] = ps->at[f - 1];
	ps->at[0] = 0;
	return 0;
}

static void pstats__key(struct marshal *w, const struct pstats *ps, uint32_t fn)
{
	const struct ps_frame *f = trie__frame(ps->keys, ps->fs->fns[fn].frame);

	marshal__tuple(w, 3);
	marshal__str(w, f->file);
	marshal__int(w, f->firstlineno);
	marshal__str(w, f->func);
}

static void pstats__entry(struct marshal *w, const struct pstats *ps,
			  uint32_t fn, double dt)
{
	const struct fstats_fn *f = &ps->fs->fns[fn];

	pstats__key(w, ps, fn);
	marshal__tuple(w, 5);
	marshal__u64(w, f->total); /* cc */
	marshal__u64(w, f->total); /* nc */
	marshal__float(w, (double)f->self * dt);
	marshal__float(w, (double)f->total * dt);
	marshal__code(w, '{');
	for (uint32_t i = ps->at[fn]; i < ps->at[fn + 1] && !w->err; i++) {
		const struct fstats_edge *e = &ps->fs->edges[ps->by_callee[i]];

		pstats__key(w, ps, e->caller);
		/* Always a 4-tuple, nc first: SnakeViz and pyprof2calltree
		 * cannot read profile.py's plain ints. */
		marshal__tuple(w, 4);
		marshal__u64(w, e->total);
		marshal__u64(w, e->total);
		marshal__float(w, (double)e->self * dt);
		marshal__float(w, (double)e->total * dt);
	}
	marshal__code(w, '0');
}

/* The whole file of a profile with no samples. */
static int pstats__empty(FILE *out)
{
	struct marshal w = {.out = out};

	marshal__code(&w, '{');
	marshal__tuple(&w, 3);
	marshal__str(&w, "~");
	marshal__int(&w, 0);
	marshal__str(&w, "<no samples>");
	marshal__tuple(&w, 5);
	marshal__int(&w, 0);
	marshal__int(&w, 0);
	marshal__float(&w, 0.0);
	marshal__float(&w, 0.0);
	marshal__code(&w, '{');
	marshal__code(&w, '0');
	marshal__code(&w, '0');
	return w.err;
}

int pstats__write(FILE *out, const struct trie *t, const struct profile_meta *m,
		  const struct output_opts *o)
{
	struct pstats ps = {.t = t};
	struct marshal w = {.out = out};
	double dt;
	int err;

	(void)o;
	if (!out || !t || !m)
		return -EINVAL;
	dt = m->interval_s;
	if (!trie__total(t))
		return pstats__empty(out);
	/* Times must be finite. */
	if (!isfinite(dt) || dt <= 0)
		return -EINVAL;
	err = pstats__keys(&ps);
	if (!err)
		err = fstats__new(ps.keys, &ps.fs);
	if (!err && !ps.fs->nfns) {
		/* Samples, but none in a function: no entry to write. */
		err = pstats__empty(out);
	} else if (!err && !(err = pstats__callers(&ps))) {
		marshal__code(&w, '{');
		for (uint32_t fn = 0; fn < ps.fs->nfns && !w.err; fn++)
			pstats__entry(&w, &ps, fn, dt);
		marshal__code(&w, '0');
		err = w.err;
	}
	fstats__free(ps.fs);
	trie__free(ps.keys);
	free(ps.file.p);
	free(ps.func.p);
	free(ps.at);
	free(ps.by_callee);
	return err;
}
