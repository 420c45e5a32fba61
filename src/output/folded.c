/*
 * folded.c - the folded-stacks writer ("collapsed" stacks), read by
 * flamegraph.pl, inferno, speedscope and Pyroscope:
 *
 *	thread 1001 (MainThread);main (app.py:2);work (app.py:7) 30
 *
 * One line per trie node with samples of its own, root first.  There is no
 * escaping in this format, so labels are sanitised, and every label ends
 * in a way that cannot be mistaken for a second (differential) count.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psample/output.h"

int folded__write(FILE *out, const struct trie *t, const struct profile_meta *m,
		  const struct output_opts *o);

/* Append s sanitised; invalid bytes can grow 1 -> 3 (U+FFFD). */
static int buf__label(struct outbuf *b, const char *s)
{
	size_t need = 3 * strlen(s) + 1;
	int err = outbuf__reserve(b, need);

	if (err)
		return err;
	b->len = output__label(b->p, b->len, b->len + need, s);
	return 0;
}

static int buf__printf_u64(struct outbuf *b, const char *fmt, uint64_t v)
{
	int err = outbuf__reserve(b, 32);
	int r;

	if (err)
		return err;
	r = snprintf(b->p + b->len, b->cap - b->len, fmt, v);
	if (r < 0 || (size_t)r >= b->cap - b->len)
		return -EINVAL;
	b->len += (size_t)r;
	return 0;
}

static const char *str__or(const char *s, const char *dflt)
{
	return s && *s ? s : dflt;
}

/*
 * flamegraph.pl reads "<frame> <digits>" at the end of a line as a
 * differential profile.  Our own formats end in ')'; a special label that
 * ends in whitespace and a number gets the whitespace replaced.
 */
static void label__defuse_number(char *s, size_t len)
{
	size_t i = len;

	while (i > 0 &&
	       ((s[i - 1] >= '0' && s[i - 1] <= '9') || s[i - 1] == '.'))
		i--;
	if (i == len || i == 0)
		return;
	if (strchr(" \t\v\f", s[i - 1]))
		s[i - 1] = '_';
}

struct folded {
	struct outbuf label; /* one frame's label */
	struct outbuf path; /* shortened file path */
	struct outbuf text; /* every frame's label, back to back */
	size_t *off; /* frame id -> label offset in text (nframes + 1) */
	struct outbuf line;
	uint32_t *stack; /* node ids, leaf first */
	size_t stack_cap;
	bool signed_counts; /* memory mode: counts are int64 bytes */
};

static int folded__python_label(struct folded *fw, const struct ps_frame *f,
				const struct output_opts *o)
{
	const char *file = str__or(f->file, "?");
	int err;

	if (!o->full_paths && f->file && *f->file) {
		size_t n = strlen(f->file) + 1;

		err = outbuf__reserve(&fw->path, n);
		if (err)
			return err;
		file = output__short_path(f->file, fw->path.p, n);
	}
	err = buf__label(&fw->label, str__or(f->name, "?"));
	/* Nothing to locate it by (a built-in): the bare name, like py-spy. */
	if (!err && !(f->file && *f->file) && f->line < 0) {
		label__defuse_number(fw->label.p, fw->label.len);
		return 0;
	}
	if (!err)
		err = buf__label(&fw->label, " (");
	if (!err)
		err = buf__label(&fw->label, file);
	if (!err && f->line >= 0)
		err = buf__printf_u64(&fw->label, ":%" PRIu64,
				      (uint64_t)f->line);
	if (!err)
		err = buf__label(&fw->label, ")");
	return err;
}

/* "thread 42 (name)" or "thread (42)": never a bare trailing number. */
static int folded__root_label(struct folded *fw, const char *what, uint64_t num,
			      const char *name)
{
	int err = buf__label(&fw->label, what);

	if (err)
		return err;
	if (!name || !*name)
		return buf__printf_u64(&fw->label, " (%" PRIu64 ")", num);
	err = buf__printf_u64(&fw->label, " %" PRIu64 " (", num);
	if (!err)
		err = buf__label(&fw->label, name);
	if (!err)
		err = buf__label(&fw->label, ")");
	return err;
}

static int folded__frame_label(struct folded *fw, const struct ps_frame *f,
			       const struct output_opts *o)
{
	int err;

	fw->label.len = 0;
	switch (f->kind) {
	case PS_FRAME_PYTHON: return folded__python_label(fw, f, o);
	case PS_FRAME_THREAD:
		return folded__root_label(fw, "thread", f->num, f->name);
	case PS_FRAME_PROCESS:
		return folded__root_label(fw, "process", f->num, f->name);
	default:
		err = buf__label(&fw->label, str__or(f->name, "?"));
		if (!err)
			label__defuse_number(fw->label.p, fw->label.len);
		return err;
	}
}

/* Labels once per frame, not once per line the frame appears on. */
static int folded__labels(struct folded *fw, const struct trie *t,
			  const struct output_opts *o)
{
	uint32_t n = trie__nframes(t);

	fw->off = malloc(((size_t)n + 1) * sizeof(*fw->off));
	/* Allocate text even for no frames: lines memcpy from it. */
	if (!fw->off || outbuf__reserve(&fw->text, 1))
		return -ENOMEM;
	for (uint32_t id = 0; id < n; id++) {
		int err = folded__frame_label(fw, trie__frame(t, id), o);

		if (!err)
			err = outbuf__reserve(&fw->text, fw->label.len);
		if (err)
			return err;
		fw->off[id] = fw->text.len;
		memcpy(fw->text.p + fw->text.len, fw->label.p, fw->label.len);
		fw->text.len += fw->label.len;
	}
	fw->off[n] = fw->text.len;
	return 0;
}

/* fw->line = node id's stack, root first, NUL-terminated. */
static int folded__stack(struct folded *fw, const struct trie *t, uint32_t id)
{
	size_t depth = 0;

	for (uint32_t n = id; n; n = trie__node(t, n)->parent) {
		if (depth == fw->stack_cap) {
			size_t cap = fw->stack_cap ? fw->stack_cap * 2 : 64;
			uint32_t *p = realloc(fw->stack, cap * sizeof(*p));

			if (!p)
				return -ENOMEM;
			fw->stack = p;
			fw->stack_cap = cap;
		}
		fw->stack[depth++] = n;
	}
	fw->line.len = 0;
	while (depth--) {
		uint32_t frame = trie__node(t, fw->stack[depth])->frame;
		size_t len = fw->off[frame + 1] - fw->off[frame];
		int err = outbuf__reserve(&fw->line, len + 1);

		if (err)
			return err;
		memcpy(fw->line.p + fw->line.len, fw->text.p + fw->off[frame],
		       len);
		fw->line.len += len;
		fw->line.p[fw->line.len++] = depth ? ';' : '\0';
	}
	return 0;
}

/* Write node id's line: its stack, root first, then its own count. */
static int folded__line(struct folded *fw, const struct trie *t, uint32_t id,
			FILE *out)
{
	int err = folded__stack(fw, t, id);

	if (err)
		return err;
	/* id > 0 has a frame, so the stack ends in its NUL: the separator
	 * before the count. */
	fw->line.p[fw->line.len - 1] = ' ';
	/* Memory profiles count bytes, which frees make negative. */
	err = buf__printf_u64(&fw->line,
			      fw->signed_counts ? "%" PRId64 "\n"
						: "%" PRIu64 "\n",
			      trie__node(t, id)->self);
	if (err)
		return err;
	if (fwrite(fw->line.p, 1, fw->line.len, out) != fw->line.len)
		return errno ? -errno : -EIO;
	return 0;
}

int folded__write(FILE *out, const struct trie *t, const struct profile_meta *m,
		  const struct output_opts *o)
{
	static const struct output_opts defaults;
	struct folded fw = {0};
	uint32_t n = trie__nnodes(t);
	int err;

	fw.signed_counts = m && m->mode && !strcmp(m->mode, "memory");
	err = folded__labels(&fw, t, o ? o : &defaults);
	/* Node 0 is the root: it has no frames, so no line can show it. */
	for (uint32_t id = 1; !err && id < n; id++)
		if (trie__node(t, id)->self)
			err = folded__line(&fw, t, id, out);
	free(fw.label.p);
	free(fw.path.p);
	free(fw.text.p);
	free(fw.off);
	free(fw.line.p);
	free(fw.stack);
	return err;
}

int folded__label(const struct ps_frame *f, const struct output_opts *o,
		  char **label)
{
	static const struct output_opts defaults;
	struct folded fw = {0};
	int err = folded__frame_label(&fw, f, o ? o : &defaults);

	if (!err)
		err = outbuf__reserve(&fw.label, 1);
	free(fw.path.p);
	if (err) {
		free(fw.label.p);
		return err;
	}
	fw.label.p[fw.label.len] = '\0';
	*label = fw.label.p;
	return 0;
}

/*
 * The differential form: "stack count_base count_new", one line per stack
 * that has samples of its own in either profile.  The two tries have their
 * own frame tables, so stacks are matched by their text; sorting the lines
 * by it brings each stack's two halves together.
 */
struct diff_line {
	char *stack; /* labels joined by ';', NUL-terminated */
	uint64_t count[2]; /* base, new */
};

struct diff {
	struct diff_line *v;
	size_t n;
	size_t cap;
};

/* Append every stack of t with samples of its own as side which. */
static int diff__collect(struct diff *d, const struct trie *t, int which,
			 const struct output_opts *o)
{
	struct folded fw = {0};
	uint32_t n = trie__nnodes(t);
	int err = folded__labels(&fw, t, o);

	for (uint32_t id = 1; !err && id < n; id++) {
		const struct trie_node *node = trie__node(t, id);
		struct diff_line *l;

		if (!node->self)
			continue;
		err = folded__stack(&fw, t, id);
		if (err)
			break;
		if (d->n == d->cap) {
			size_t cap = d->cap ? d->cap * 2 : 256;
			struct diff_line *p = realloc(d->v, cap * sizeof(*p));

			if (!p) {
				err = -ENOMEM;
				break;
			}
			d->v = p;
			d->cap = cap;
		}
		l = &d->v[d->n];
		l->stack = strdup(fw.line.p);
		if (!l->stack) {
			err = -ENOMEM;
			break;
		}
		l->count[which] = node->self;
		l->count[!which] = 0;
		d->n++;
	}
	free(fw.label.p);
	free(fw.path.p);
	free(fw.text.p);
	free(fw.off);
	free(fw.line.p);
	free(fw.stack);
	return err;
}

static int diff_line__cmp(const void *a, const void *b)
{
	const struct diff_line *x = a, *y = b;

	return strcmp(x->stack, y->stack);
}

int folded__write_diff(FILE *out, const struct trie *base,
		       const struct trie *new, const struct profile_meta *m,
		       const struct output_opts *o)
{
	static const struct output_opts defaults;
	struct diff d = {0};
	int err;

	(void)m;
	if (!o)
		o = &defaults;
	err = diff__collect(&d, base, 0, o);
	if (!err)
		err = diff__collect(&d, new, 1, o);
	if (!err && d.n)
		qsort(d.v, d.n, sizeof(*d.v), diff_line__cmp);
	for (size_t i = 0; !err && i < d.n;) {
		uint64_t c[2] = {0, 0};
		size_t j = i;

		/* One stack can also appear twice in one trie: two frames
		 * that differ only in what the label leaves out. */
		for (; j < d.n && !strcmp(d.v[j].stack, d.v[i].stack); j++) {
			c[0] += d.v[j].count[0];
			c[1] += d.v[j].count[1];
		}
		errno = 0;
		if (fprintf(out, "%s %" PRIu64 " %" PRIu64 "\n", d.v[i].stack,
			    c[0], c[1]) < 0)
			err = errno ? -errno : -EIO;
		i = j;
	}
	for (size_t i = 0; i < d.n; i++)
		free(d.v[i].stack);
	free(d.v);
	return err;
}
