/*
 * svg.c - the svg format: an interactive flame graph in one standalone SVG
 * file (styles and script inline, nothing fetched), and its differential
 * variant for psample diff.
 *
 * Layout: a classic flame, root ("all") at the bottom and one row per
 * stack depth; a frame's width is its inclusive sample count; siblings
 * are sorted by label, so two profiles of one program draw alike.  Labels
 * are the folded format's, so the two formats name every frame the same.
 * Frames under MIN_SHARE of the samples are left out (with their
 * subtrees): they would be a fraction of a pixel wide, and leaving them
 * out keeps big profiles small.  The counts shown stay exact, since every
 * title carries its frame's own inclusive count.
 *
 * The writer renders the unzoomed graph itself, so it reads without the
 * script; the script (ours, svg_script.c) adds click to zoom, search and a
 * details line, and re-lays frames out from the sample offsets each frame
 * carries (data-x, data-w: samples; data-d: depth).
 *
 * With no samples (in NEW, for a diff) no width means anything: the graph
 * has no frame, "No samples" where they would be, and no Search button;
 * the script then does nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psample/output.h"
#include "psample/utf8.h"
#include "svg_script.h"

int svg__write(FILE *out, const struct trie *t, const struct profile_meta *m,
	       const struct output_opts *o);
int svg__write_diff(FILE *out, const struct trie *base, const struct trie *new,
		    const struct profile_meta *m, const struct output_opts *o);

/* Geometry, in pixels.  The script reads the frame area from the "all"
 * frame, but CHAR_W, PAD, MIN_CHARS and BASELINE are repeated there. */
enum {
	WIDTH = 1200,
	XPAD = 10, /* left and right margin */
	FULL = WIDTH - 2 * XPAD, /* the "all" frame's width */
	FRAME_H = 16,
	ROW = FRAME_H + 1,
	TOP = 76, /* title, subtitle, buttons */
	BOTTOM = 30, /* details line */
	PAD = 3, /* label inset */
	BASELINE = 12, /* label baseline under the frame's top */
	MIN_CHARS = 3, /* a shorter label is no label */
	CHAR_W_C = 720, /* 12px monospace: 0.6em, in 1/100 px */
	TITLE_CHARS = 100, /* command line shown in the title */
};

/* Left out: frames with less than this share of the samples (0.01 %,
 * about a tenth of a pixel at the default width). */
#define MIN_SHARE 1e-4

/* Diff colours reach full strength at this change (1/100 percentage
 * points) or at the largest change in the graph if that is bigger, so
 * sampling noise in an unchanged profile stays pale. */
#define DIFF_SCALE_MIN 100

enum { NEW = 0, BASE = 1 }; /* count sides; a plain graph has only NEW */

struct svg {
	FILE *out;
	int err; /* first write error: later writes are skipped */
	bool diff;
	const struct output_opts *o;
	struct trie *lt; /* the label tree: nodes keyed by label path */
	uint32_t *hue; /* per lt frame: hash of the function's name */
	uint32_t nhue;
	uint32_t hue_cap;
	uint32_t n; /* lt nodes */
	uint64_t *self[2];
	uint64_t *total[2]; /* inclusive */
	uint32_t *child_off; /* children of i: child[child_off[i]..[i+1]] */
	uint32_t *child;
	uint32_t *order; /* drawn nodes, parents first */
	uint32_t norder;
	uint64_t *x; /* offset in samples from the left edge */
	uint32_t *depth;
	uint32_t maxdepth;
	int64_t scale; /* diff: change at full colour, 1/100 pp */
};

/* ---- output: every write checked, the first error kept ---- */

static void svg__putn(struct svg *w, const char *s, size_t n)
{
	if (w->err || !n)
		return;
	errno = 0;
	if (fwrite(s, 1, n, w->out) != n)
		w->err = errno ? -errno : -EIO;
}

static void svg__puts(struct svg *w, const char *s)
{
	svg__putn(w, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void
svg__printf(struct svg *w, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (w->err)
		return;
	errno = 0;
	va_start(ap, fmt);
	r = vfprintf(w->out, fmt, ap);
	va_end(ap);
	if (r < 0)
		w->err = errno ? -errno : -EIO;
}

/* v/100 with two decimals, without printf's locale-dependent point. */
static void svg__fixed(struct svg *w, int64_t v)
{
	uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	svg__printf(w, "%s%" PRIu64 ".%02" PRIu64, v < 0 ? "-" : "", a / 100,
		    a % 100);
}

/* part/whole in 1/100 percent. */
static int64_t pct100(uint64_t part, uint64_t whole)
{
	return whole ? llround((double)part * 10000.0 / (double)whole) : 0;
}

/* ---- text: valid UTF-8, XML-escaped, characters XML allows ---- */

/* Code points in s, an invalid byte counting as one (its U+FFFD). */
static size_t utf8__count(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	while (*p) {
		uint32_t cp;
		size_t len = utf8__seq(p, false, &cp, NULL);

		p += len ? len : 1;
		n++;
	}
	return n;
}

/*
 * The first max code points of s as XML character data.  Invalid UTF-8 and
 * what XML 1.0 forbids even as a reference (control characters, U+FFFE,
 * U+FFFF) become U+FFFD; tab and line breaks become spaces.
 */
static void svg__text(struct svg *w, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *run = p; /* bytes to copy as they are */

	for (; *p && max; max--) {
		const char *rep = NULL;
		uint32_t cp;
		size_t len = utf8__seq(p, false, &cp, NULL);

		if (!len) {
			rep = "\xef\xbf\xbd";
			len = 1;
		} else if (cp == '\t' || cp == '\n' || cp == '\r') {
			rep = " ";
		} else if (cp < 0x20 || cp == 0xfffe || cp == 0xffff) {
			rep = "\xef\xbf\xbd";
		} else if (cp == '&') {
			rep = "&amp;";
		} else if (cp == '<') {
			rep = "&lt;";
		} else if (cp == '>') {
			rep = "&gt;";
		} else if (cp == '"') {
			rep = "&quot;";
		}
		if (rep) {
			svg__putn(w, (const char *)run, (size_t)(p - run));
			svg__puts(w, rep);
			run = p + len;
		}
		p += len;
	}
	svg__putn(w, (const char *)run, (size_t)(p - run));
}

/* s cut to fit width_c (1/100 px) as the script's fit() does. */
static void svg__fit(struct svg *w, const char *s, int64_t width_c)
{
	int64_t room = (width_c - 2 * PAD * 100) / CHAR_W_C;
	size_t len;

	if (room < MIN_CHARS)
		return;
	len = utf8__count(s);
	if (len <= (size_t)room) {
		svg__text(w, s, len);
	} else {
		svg__text(w, s, (size_t)room - 2);
		svg__puts(w, "..");
	}
}

/* s after its first n code points, counted as utf8__count does. */
static const char *utf8__skip(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p && n; n--) {
		uint32_t cp;
		size_t len = utf8__seq(p, false, &cp, NULL);

		p += len ? len : 1;
	}
	return (const char *)p;
}

/* s in at most max code points, cut in the middle: a command line keeps
 * both its interpreter and its script's name. */
static void svg__text_middle(struct svg *w, const char *s, size_t max)
{
	size_t n = utf8__count(s), head = max / 3, tail = max - head - 2;

	if (n <= max) {
		svg__text(w, s, n);
		return;
	}
	svg__text(w, s, head);
	svg__puts(w, "..");
	svg__text(w, utf8__skip(s, n - tail), tail);
}

/* ---- the label tree ---- */

/* FNV-1a: the same name gets the same colour in every profile. */
static uint32_t hash__str(const char *s)
{
	uint32_t h = 2166136261u;

	for (; s && *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

static int svg__hue(struct svg *w, uint32_t id, const struct ps_frame *f)
{
	if (id < w->nhue)
		return 0;
	if (w->nhue == w->hue_cap) {
		uint32_t cap = w->hue_cap ? w->hue_cap * 2 : 256;
		uint32_t *p = realloc(w->hue, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		w->hue = p;
		w->hue_cap = cap;
	}
	/* The function's name, not the label: one colour for all its
	 * lines. */
	w->hue[w->nhue++] = hash__str(f->name);
	return 0;
}

/*
 * Add t's frames and stacks to the label tree; *map gets each of t's nodes'
 * label tree node.  Frames that get one label are one frame here, as they
 * are one frame to anyone reading the folded output; a base and a new
 * profile meet on labels too.
 */
static int svg__add(struct svg *w, const struct trie *t, uint32_t **map)
{
	uint32_t nf = trie__nframes(t), nn = trie__nnodes(t);
	uint32_t *fmap = malloc(((size_t)nf + 1) * sizeof(*fmap));
	/* Zeroed: node 0, the root, maps to the root. */
	uint32_t *nmap = calloc((size_t)nn + 1, sizeof(*nmap));
	int err = fmap && nmap ? 0 : -ENOMEM;

	for (uint32_t id = 0; !err && id < nf; id++) {
		const struct ps_frame *f = trie__frame(t, id);
		struct ps_frame lf = {.kind = f->kind, .line = -1};
		char *label;

		err = folded__label(f, w->o, &label);
		if (err)
			break;
		lf.name = label;
		err = trie__intern(w->lt, &lf, &fmap[id]);
		free(label);
		if (!err)
			err = svg__hue(w, fmap[id], f);
	}
	for (uint32_t id = 1; !err && id < nn; id++) {
		const struct trie_node *node = trie__node(t, id);

		err = trie__child(w->lt, nmap[node->parent], fmap[node->frame],
				  &nmap[id]);
	}
	free(fmap);
	if (err) {
		free(nmap);
		return err;
	}
	*map = nmap;
	return 0;
}

/* Self and inclusive counts of side from t through map. */
static int svg__count(struct svg *w, const struct trie *t, const uint32_t *map,
		      int side)
{
	uint32_t nn = trie__nnodes(t);
	uint64_t *self = calloc(w->n, sizeof(*self));
	uint64_t *total = malloc((size_t)w->n * sizeof(*total));

	w->self[side] = self;
	w->total[side] = total;
	if (!self || !total)
		return -ENOMEM;
	for (uint32_t id = 0; id < nn; id++)
		self[map[id]] += trie__node(t, id)->self;
	memcpy(total, self, (size_t)w->n * sizeof(*total));
	/* Parents have smaller ids: one backward pass sums subtrees. */
	for (uint32_t id = w->n - 1; id > 0; id--)
		total[trie__node(w->lt, id)->parent] += total[id];
	return 0;
}

static int node__cmp(const void *a, const void *b, void *arg)
{
	const struct trie *lt = arg;
	const struct ps_frame *fa =
		trie__frame(lt, trie__node(lt, *(const uint32_t *)a)->frame);
	const struct ps_frame *fb =
		trie__frame(lt, trie__node(lt, *(const uint32_t *)b)->frame);
	int c = strcmp(fa->name, fb->name);

	if (c)
		return c;
	return (fa->kind > fb->kind) - (fa->kind < fb->kind);
}

/* Children lists, siblings in label order (flamegraph.pl's order). */
static int svg__children(struct svg *w)
{
	uint32_t *pos;

	w->child_off = calloc((size_t)w->n + 1, sizeof(*w->child_off));
	w->child = malloc((size_t)w->n * sizeof(*w->child));
	pos = malloc(((size_t)w->n + 1) * sizeof(*pos));
	if (!w->child_off || !w->child || !pos) {
		free(pos);
		return -ENOMEM;
	}
	for (uint32_t id = 1; id < w->n; id++)
		w->child_off[trie__node(w->lt, id)->parent + 1]++;
	for (uint32_t id = 0; id < w->n; id++)
		w->child_off[id + 1] += w->child_off[id];
	memcpy(pos, w->child_off, ((size_t)w->n + 1) * sizeof(*pos));
	for (uint32_t id = 1; id < w->n; id++)
		w->child[pos[trie__node(w->lt, id)->parent]++] = id;
	free(pos);
	for (uint32_t id = 0; id < w->n; id++) {
		uint32_t k = w->child_off[id], nk = w->child_off[id + 1] - k;

		if (nk > 1)
			qsort_r(w->child + k, nk, sizeof(*w->child), node__cmp,
				w->lt);
	}
	return 0;
}

/* Change of id's inclusive share from base to new, in 1/100 pp. */
static int64_t svg__delta(const struct svg *w, uint32_t id)
{
	uint64_t tn = w->total[NEW][0], tb = w->total[BASE][0];
	double sn = tn ? (double)w->total[NEW][id] / (double)tn : 0;
	double sb = tb ? (double)w->total[BASE][id] / (double)tb : 0;

	return llround((sn - sb) * 10000.0);
}

/* Offsets, depths and the drawing order (parents first) of the frames
 * wide enough to draw. */
static int svg__layout(struct svg *w)
{
	const uint64_t *total = w->total[NEW];
	uint32_t *stack, sp = 0;

	w->x = malloc((size_t)w->n * sizeof(*w->x));
	w->depth = malloc((size_t)w->n * sizeof(*w->depth));
	w->order = malloc((size_t)w->n * sizeof(*w->order));
	stack = malloc((size_t)w->n * sizeof(*stack));
	if (!w->x || !w->depth || !w->order || !stack) {
		free(stack);
		return -ENOMEM;
	}
	w->x[0] = 0;
	w->depth[0] = 0;
	w->scale = DIFF_SCALE_MIN;
	stack[sp++] = 0;
	while (sp) {
		uint32_t id = stack[--sp];
		uint32_t k0 = w->child_off[id], k1 = w->child_off[id + 1];
		uint64_t off = w->x[id];

		w->order[w->norder++] = id;
		if (w->depth[id] > w->maxdepth)
			w->maxdepth = w->depth[id];
		if (w->diff) {
			int64_t d = llabs(svg__delta(w, id));

			if (d > w->scale)
				w->scale = d;
		}
		/* Children from the parent's left edge; its self samples
		 * are the gap on the right. */
		for (uint32_t k = k0; k < k1; k++) {
			uint32_t c = w->child[k];

			w->x[c] = off;
			off += total[c];
			w->depth[c] = w->depth[id] + 1;
		}
		/* Pushed last to first, so they are drawn first to last. */
		for (uint32_t k = k1; k-- > k0;) {
			uint32_t c = w->child[k];

			if (total[c] &&
			    (double)total[c] >= MIN_SHARE * (double)total[0])
				stack[sp++] = c;
		}
	}
	free(stack);
	return 0;
}

/* ---- drawing ---- */

static void svg__rgb(struct svg *w, int r, int g, int b)
{
	svg__printf(w, "rgb(%d,%d,%d)", r, g, b);
}

/* Diff: grey for no change, to red (grew) or blue (shrank) at w->scale. */
static void svg__diff_fill(struct svg *w, uint32_t id)
{
	static const int grey = 224, red[3] = {220, 40, 30},
			 blue[3] = {40, 90, 220};
	int64_t d = svg__delta(w, id);
	double t = (double)llabs(d) / (double)w->scale;
	const int *to = d > 0 ? red : blue;
	int c[3];

	if (t > 1)
		t = 1;
	for (int i = 0; i < 3; i++)
		c[i] = grey + (int)lround(t * (to[i] - grey));
	svg__rgb(w, c[0], c[1], c[2]);
}

/* Warm colours from the function's name; synthetic frames in greys. */
static void svg__fill(struct svg *w, uint32_t id)
{
	const struct ps_frame *f =
		trie__frame(w->lt, trie__node(w->lt, id)->frame);
	uint32_t h;
	int r;

	if (w->diff) {
		svg__diff_fill(w, id);
		return;
	}
	if (!id || f->kind == PS_FRAME_THREAD || f->kind == PS_FRAME_PROCESS) {
		svg__rgb(w, 200, 200, 214);
		return;
	}
	if (f->kind != PS_FRAME_PYTHON) {
		svg__rgb(w, 176, 176, 176);
		return;
	}
	h = w->hue[trie__node(w->lt, id)->frame];
	/* Green as a fraction of red: reds, oranges, yellows, never a
	 * green; a little blue at most. */
	r = 205 + (int)(h % 51);
	svg__rgb(w, r, r * (30 + (int)((h >> 8) % 60)) / 100,
		 (int)((h >> 16) % 56));
}

/* "(N samples, P%)", or the diff's "(base N samples, P%; new N samples,
 * P%; +D pp)": no parentheses inside, so the script can take the label
 * back off. */
static void svg__counts(struct svg *w, uint32_t id)
{
	uint64_t n = w->total[NEW][id], all = w->total[NEW][0];
	uint64_t b;
	int64_t d;

	if (!w->diff) {
		svg__printf(w, " (%" PRIu64 " samples, ", n);
		svg__fixed(w, pct100(n, all));
		svg__puts(w, "%)");
		return;
	}
	d = svg__delta(w, id);
	b = w->total[BASE][id];
	svg__printf(w, " (base %" PRIu64 " samples, ", b);
	svg__fixed(w, pct100(b, w->total[BASE][0]));
	svg__printf(w, "%%; new %" PRIu64 " samples, ", n);
	svg__fixed(w, pct100(n, all));
	svg__puts(w, d > 0 ? "%; +" : "%; ");
	svg__fixed(w, d);
	svg__puts(w, " pp)");
}

static void svg__frame(struct svg *w, uint32_t id)
{
	uint64_t n = w->total[NEW][id], all = w->total[NEW][0];
	int64_t x = XPAD * 100 +
		    llround((double)w->x[id] * FULL * 100.0 / (double)all);
	int64_t width = llround((double)n * FULL * 100.0 / (double)all);
	uint32_t y = TOP + (w->maxdepth - w->depth[id]) * ROW;
	const char *label =
		id ? trie__frame(w->lt, trie__node(w->lt, id)->frame)->name
		   : "all";

	svg__printf(w,
		    "<g data-x=\"%" PRIu64 "\" data-w=\"%" PRIu64
		    "\" data-d=\"%" PRIu32 "\"><title>",
		    w->x[id], n, w->depth[id]);
	svg__text(w, label, SIZE_MAX);
	svg__counts(w, id);
	svg__puts(w, "</title><rect x=\"");
	svg__fixed(w, x);
	svg__printf(w, "\" y=\"%" PRIu32 "\" width=\"", y);
	svg__fixed(w, width);
	svg__printf(w, "\" height=\"%d\" fill=\"", FRAME_H);
	svg__fill(w, id);
	svg__puts(w, "\"/>");
	if ((width - 2 * PAD * 100) / CHAR_W_C >= MIN_CHARS) {
		svg__puts(w, "<text x=\"");
		svg__fixed(w, x + PAD * 100);
		svg__printf(w, "\" y=\"%" PRIu32 "\">", y + BASELINE);
		svg__fit(w, label, width);
		svg__puts(w, "</text>");
	}
	svg__puts(w, "</g>\n");
}

static const char style[] =
	"text { font: 12px monospace; fill: #000; }\n"
	"#title { font-size: 17px; text-anchor: middle; }\n"
	"#subtitle { text-anchor: middle; fill: #444; }\n"
	"#matched, .end { text-anchor: end; }\n"
	".btn { cursor: pointer; fill: #1a5fb4; }\n"
	".btn:hover { text-decoration: underline; }\n"
	".off, .hide { display: none; }\n"
	"#frames > g { cursor: pointer; }\n"
	"#frames rect { rx: 2px; ry: 2px; }\n"
	"#frames text { pointer-events: none; }\n"
	"#frames > g:hover > rect { stroke: #000; stroke-width: 0.5px; }\n"
	".anc { opacity: 0.55; }\n"
	/* Beats the fill attribute: a presentation attribute yields to CSS. */
	".match > rect { fill: rgb(225,0,225); }\n";

/* Title, subtitle (what was profiled, how) and the buttons. */
static void svg__header(struct svg *w, const struct profile_meta *m)
{
	uint32_t height = TOP + (w->maxdepth + 1) * ROW + BOTTOM;
	const char *cmd = m && m->cmdline && *m->cmdline ? m->cmdline : NULL;

	svg__puts(w, "<?xml version=\"1.0\" encoding=\"UTF-8\" "
		     "standalone=\"yes\"?>\n");
	svg__printf(w,
		    "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" "
		    "width=\"%d\" height=\"%" PRIu32 "\" viewBox=\"0 0 %d "
		    "%" PRIu32 "\">\n",
		    WIDTH, height, WIDTH, height);
	svg__puts(w, "<!-- psample flame graph: root at the bottom, width = "
		     "samples; click a frame to zoom, Search (or / or "
		     "Ctrl+F) to highlight, Esc to reset. -->\n");
	svg__printf(w, "<style>\n%s</style>\n", style);
	svg__puts(w, "<rect width=\"100%\" height=\"100%\" "
		     "fill=\"#f8f8f8\"/>\n");
	svg__printf(w, "<text id=\"title\" x=\"%d\" y=\"24\">%s", WIDTH / 2,
		    w->diff ? "Differential flame graph" : "Flame graph");
	if (cmd) {
		svg__puts(w, ": ");
		svg__text_middle(w, cmd, TITLE_CHARS);
	}
	svg__printf(w, "</text>\n<text id=\"subtitle\" x=\"%d\" y=\"44\">",
		    WIDTH / 2);
	if (w->diff) {
		svg__printf(w,
			    "base %" PRIu64 " samples, new %" PRIu64
			    " samples; widths: new; red: share grew, blue: "
			    "shrank (full colour at ",
			    w->total[BASE][0], w->total[NEW][0]);
		svg__fixed(w, w->scale);
		svg__puts(w, " pp)");
	} else {
		svg__printf(w, "%" PRIu64 " samples", w->total[NEW][0]);
	}
	if (m && m->interval_s > 0)
		svg__printf(w, ", %lld Hz", llround(1.0 / m->interval_s));
	if (m && m->duration_ns > 0 && !w->diff) {
		int64_t cs = m->duration_ns / 10000000;

		svg__puts(w, ", ");
		svg__fixed(w, cs);
		svg__puts(w, " s");
	}
	if (m && m->mode && !w->diff) {
		svg__puts(w, ", ");
		svg__text(w, strcmp(m->mode, "wall") ? m->mode : "wall clock",
			  SIZE_MAX);
	}
	if (m && m->python && *m->python) {
		svg__puts(w, ", Python ");
		svg__text(w, m->python, SIZE_MAX);
	}
	if (m && m->pid > 0 && !w->diff)
		svg__printf(w, ", pid %d", (int)m->pid);
	svg__puts(w, "</text>\n");
	svg__printf(w,
		    "<text id=\"unzoom\" class=\"btn off\" x=\"%d\" "
		    "y=\"64\">Reset zoom</text>\n"
		    "<text id=\"clear\" class=\"btn off end\" x=\"%d\" "
		    "y=\"64\">Clear search</text>\n"
		    "<text id=\"search\" class=\"btn end%s\" x=\"%d\" "
		    "y=\"64\">Search</text>\n",
		    XPAD, WIDTH - XPAD - 80, w->total[NEW][0] ? "" : " off",
		    WIDTH - XPAD);
}

static void svg__footer(struct svg *w)
{
	uint32_t y = TOP + (w->maxdepth + 1) * ROW + BOTTOM - 10;

	svg__printf(w,
		    "<text id=\"details\" x=\"%d\" y=\"%" PRIu32 "\"></text>\n"
		    "<text id=\"matched\" x=\"%d\" y=\"%" PRIu32 "\"></text>\n",
		    XPAD, y, WIDTH - XPAD, y);
	svg__printf(w,
		    "<script type=\"text/ecmascript\"><![CDATA[\n%s]]>"
		    "</script>\n</svg>\n",
		    svg_script);
}

static void svg__free(struct svg *w)
{
	trie__free(w->lt);
	free(w->hue);
	for (int s = 0; s < 2; s++) {
		free(w->self[s]);
		free(w->total[s]);
	}
	free(w->child_off);
	free(w->child);
	free(w->order);
	free(w->x);
	free(w->depth);
}

/* The graph of t (base: NULL), or t's coloured by its change from base. */
static int svg__run(FILE *out, const struct trie *t, const struct trie *base,
		    const struct profile_meta *m, const struct output_opts *o)
{
	static const struct output_opts defaults;
	struct svg w = {.out = out, .o = o ? o : &defaults, .diff = !!base};
	uint32_t *map[2] = {NULL, NULL};
	int err = 0;

	w.lt = trie__new();
	if (!w.lt)
		return -ENOMEM;
	err = svg__add(&w, t, &map[NEW]);
	if (!err && base)
		err = svg__add(&w, base, &map[BASE]);
	w.n = trie__nnodes(w.lt);
	if (!err)
		err = svg__count(&w, t, map[NEW], NEW);
	if (!err && base)
		err = svg__count(&w, base, map[BASE], BASE);
	if (!err)
		err = svg__children(&w);
	if (!err)
		err = svg__layout(&w);
	if (!err) {
		svg__header(&w, m);
		svg__puts(&w, "<g id=\"frames\">\n");
		for (uint32_t i = 0; i < w.norder && w.total[NEW][0]; i++)
			svg__frame(&w, w.order[i]);
		svg__puts(&w, "</g>\n");
		if (!w.total[NEW][0])
			svg__printf(&w,
				    "<text id=\"empty\" x=\"%d\" y=\"%d\">No "
				    "samples</text>\n",
				    XPAD, TOP + BASELINE);
		svg__footer(&w);
		err = w.err;
	}
	free(map[NEW]);
	free(map[BASE]);
	svg__free(&w);
	return err;
}

int svg__write(FILE *out, const struct trie *t, const struct profile_meta *m,
	       const struct output_opts *o)
{
	return svg__run(out, t, NULL, m, o);
}

/*
 * NEW's stacks at NEW's widths, each frame coloured by how its share of
 * the samples changed since BASE.  Stacks only BASE has are not drawn
 * (they would have no width) but count in their ancestors' base numbers.
 */
int svg__write_diff(FILE *out, const struct trie *base, const struct trie *new,
		    const struct profile_meta *m, const struct output_opts *o)
{
	return svg__run(out, new, base, m, o);
}
