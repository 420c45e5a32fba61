/*
 * speedscope.c - the speedscope writer: speedscope's own JSON format
 * (https://www.speedscope.app/file-format-schema.json), which
 * speedscope.app and RunSnakeRun open.
 *
 * How a trie maps onto it:
 *  - one "sampled" profile per thread root, named 'Thread 1234 "worker"'
 *    (its process, if a process root sits above it, prefixed); stacks with
 *    no thread root share one more profile;
 *  - shared frames, one per trie frame: name = qualname (nothing else, so
 *    that speedscope's search and sandwich view show clean names), file,
 *    and line = the current line (the first line under --function);
 *  - one entry per unique stack (trie node with samples of its own), root
 *    first, its weight count x interval in integer nanoseconds: exact for
 *    any rate, summed without rounding into endValue, and the unit pprof
 *    uses too; speedscope shows the times in readable units.  Entries go
 *    in depth-first order so the time-ordered view groups common
 *    prefixes instead of scattering them;
 *  - activeProfileIndex is the thread with the most samples;
 *  - nothing sampled is one profile "no samples" with no entries:
 *    speedscope shows that, where a file with no profile makes it say
 *    "Successfully imported profile, but it's empty!" and show nothing.
 *
 * Absent keys are omitted, never null (the schema rejects null), and every
 * string is valid UTF-8: invalid bytes become U+FFFD.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psample/output.h"

int speedscope__write(FILE *out, const struct trie *t,
		      const struct profile_meta *m,
		      const struct output_opts *o);

#define SPEEDSCOPE_SCHEMA "https://www.speedscope.app/file-format-schema.json"
#ifdef PSAMPLE_VERSION
#define SPEEDSCOPE_EXPORTER "psample@" PSAMPLE_VERSION
#else
#define SPEEDSCOPE_EXPORTER "psample"
#endif

#define NONE UINT32_MAX
#define USED (UINT32_MAX - 1) /* a frame on a stack, not yet numbered */

/* Output buffer size: writes go to the FILE in chunks of this. */
#define JSON_BUF (64 * 1024)

/*
 * A buffered JSON writer with a sticky error: after the first failed
 * write every call does nothing, and the writer checks once at the end.
 */
struct json {
	FILE *out;
	size_t len;
	int err;
	char buf[JSON_BUF];
};

static void json__flush(struct json *j)
{
	if (!j->err && j->len && fwrite(j->buf, 1, j->len, j->out) != j->len)
		j->err = errno ? -errno : -EIO;
	j->len = 0;
}

/* Room for n (<= JSON_BUF) more bytes, or NULL after an error. */
static char *json__room(struct json *j, size_t n)
{
	if (j->err)
		return NULL;
	if (JSON_BUF - j->len < n) {
		json__flush(j);
		if (j->err)
			return NULL;
	}
	return j->buf + j->len;
}

static void json__raw(struct json *j, const char *s)
{
	size_t n = strlen(s);

	while (n) {
		size_t k = n < JSON_BUF ? n : JSON_BUF;
		char *d = json__room(j, k);

		if (!d)
			return;
		memcpy(d, s, k);
		j->len += k;
		s += k;
		n -= k;
	}
}

static void json__u64(struct json *j, uint64_t v)
{
	char tmp[20];
	size_t n = 0;
	char *d = json__room(j, sizeof(tmp));

	if (!d)
		return;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*d++ = tmp[--n];
	j->len = (size_t)(d - j->buf);
}

/* s as a JSON string: quotes, backslashes and controls escaped. */
static void json__str(struct json *j, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	char *d;

	json__raw(j, "\"");
	while (*p) {
		size_t n;

		/* The longest output for one input step: \u00XX. */
		if (!(d = json__room(j, 6)))
			return;
		if (*p == '"' || *p == '\\') {
			d[0] = '\\';
			d[1] = (char)*p++;
			j->len += 2;
			continue;
		}
		if (*p < 0x20) {
			const char *esc = *p == '\n'   ? "\\n"
					  : *p == '\t' ? "\\t"
					  : *p == '\r' ? "\\r"
						       : NULL;

			if (esc) {
				memcpy(d, esc, 2);
				j->len += 2;
			} else {
				d[0] = '\\';
				d[1] = 'u';
				d[2] = '0';
				d[3] = '0';
				d[4] = hex[*p >> 4];
				d[5] = hex[*p & 0xf];
				j->len += 6;
			}
			p++;
			continue;
		}
		n = output__utf8_len(p, false);
		if (!n) {
			/* U+FFFD REPLACEMENT CHARACTER */
			d[0] = (char)0xef;
			d[1] = (char)0xbf;
			d[2] = (char)0xbd;
			j->len += 3;
			p++;
			continue;
		}
		memcpy(d, p, n);
		j->len += n;
		p += n;
	}
	json__raw(j, "\"");
}

struct speedscope {
	struct json *j;
	const struct trie *t;
	const struct output_opts *o;
	uint32_t nnodes;
	uint32_t nframes;
	/* Per node: */
	uint32_t *profile; /* its thread root (itself for one), 0 if none */
	uint64_t *incl; /* samples in its subtree within its profile */
	uint32_t *first_child, *next_sibling; /* children in id order */
	/* Per trie frame: its index in shared.frames, NONE if unused. */
	uint32_t *frame_index;
	uint32_t *walk; /* depth-first walk: one sibling cursor per level */
	uint32_t *path; /* frame indices of the walk's current stack */
	size_t walk_cap;
	char *file; /* a shortened file path */
	size_t file_cap;
	uint64_t interval_ns; /* 0: weights are sample counts */
};

static const struct ps_frame *node__frame(const struct speedscope *s,
					  uint32_t id)
{
	return trie__frame(s->t, trie__node(s->t, id)->frame);
}

static bool node__is_thread(const struct speedscope *s, uint32_t id)
{
	return id && node__frame(s, id)->kind == PS_FRAME_THREAD;
}

/*
 * Per-node tables.  Parents have smaller ids than their children, so one
 * forward pass finds each node's profile and one backward pass sums the
 * subtrees; prepending while going backwards leaves children in id order.
 */
static int speedscope__nodes(struct speedscope *s)
{
	size_t n = s->nnodes;

	s->profile = calloc(n, sizeof(*s->profile));
	s->incl = calloc(n, sizeof(*s->incl));
	s->first_child = malloc(n * sizeof(*s->first_child));
	s->next_sibling = malloc(n * sizeof(*s->next_sibling));
	if (!s->profile || !s->incl || !s->first_child || !s->next_sibling)
		return -ENOMEM;
	for (uint32_t id = 0; id < n; id++) {
		const struct trie_node *node = trie__node(s->t, id);

		s->first_child[id] = NONE;
		s->incl[id] = node->self;
		if (node__is_thread(s, id))
			s->profile[id] = id;
		else if (id)
			s->profile[id] = s->profile[node->parent];
	}
	for (uint32_t id = (uint32_t)n; id-- > 1;) {
		uint32_t parent = trie__node(s->t, id)->parent;

		s->next_sibling[id] = s->first_child[parent];
		s->first_child[parent] = id;
		if (s->profile[id] == s->profile[parent])
			s->incl[parent] += s->incl[id];
	}
	return 0;
}

/* A frame is shared if it is on a stack: below its thread, with samples. */
static int speedscope__frame_indices(struct speedscope *s)
{
	uint32_t nframes = s->nframes, next = 0;

	s->frame_index =
		malloc((nframes ? nframes : 1) * sizeof(*s->frame_index));
	if (!s->frame_index)
		return -ENOMEM;
	for (uint32_t f = 0; f < nframes; f++)
		s->frame_index[f] = NONE;
	for (uint32_t id = 1; id < s->nnodes; id++)
		if (s->incl[id] && !node__is_thread(s, id))
			s->frame_index[trie__node(s->t, id)->frame] = USED;
	/* Numbered in frame order, so the file does not depend on hashing. */
	for (uint32_t f = 0; f < nframes; f++)
		if (s->frame_index[f] == USED)
			s->frame_index[f] = next++;
	return 0;
}

static int speedscope__short_file(struct speedscope *s, const char *file,
				  const char **out)
{
	size_t n = strlen(file) + 1;

	if (s->o->full_paths) {
		*out = file;
		return 0;
	}
	if (n > s->file_cap) {
		char *p = realloc(s->file, n);

		if (!p)
			return -ENOMEM;
		s->file = p;
		s->file_cap = n;
	}
	*out = output__short_path(file, s->file, n);
	return 0;
}

/* One entry of shared.frames. */
static int speedscope__frame(struct speedscope *s, const struct ps_frame *f)
{
	struct json *j = s->j;
	char label[64];
	int err;

	json__raw(j, "{\"name\":");
	switch (f->kind) {
	case PS_FRAME_PYTHON:
		json__str(j, f->name && *f->name ? f->name : "?");
		if (f->file && *f->file) {
			const char *file;

			if ((err = speedscope__short_file(s, f->file, &file)))
				return err;
			json__raw(j, ",\"file\":");
			json__str(j, file);
		}
		if (f->line > 0) {
			json__raw(j, ",\"line\":");
			json__u64(j, (uint64_t)f->line);
		}
		break;
	case PS_FRAME_PROCESS:
		/* Only on stacks without a thread root below it. */
		snprintf(label, sizeof(label), "process %" PRIu64, f->num);
		json__str(j, label);
		break;
	default: json__str(j, f->name && *f->name ? f->name : "?"); break;
	}
	json__raw(j, "}");
	return 0;
}

static int speedscope__frames(struct speedscope *s)
{
	uint32_t nframes = s->nframes;
	bool first = true;
	int err;

	json__raw(s->j, "\"shared\":{\"frames\":[");
	for (uint32_t f = 0; f < nframes; f++) {
		if (s->frame_index[f] == NONE)
			continue;
		json__raw(s->j, first ? "\n" : ",\n");
		first = false;
		if ((err = speedscope__frame(s, trie__frame(s->t, f))))
			return err;
	}
	json__raw(s->j, "]},\n");
	return 0;
}

/* 'Thread 1234 "worker"', with 'Process 42, ' before it if known. */
static int speedscope__profile_name(struct speedscope *s, uint32_t root)
{
	const struct ps_frame *th, *proc = NULL;
	char *name;
	size_t n;
	int len;

	if (!root) {
		json__str(s->j, "Samples outside any thread");
		return 0;
	}
	th = node__frame(s, root);
	for (uint32_t id = trie__node(s->t, root)->parent; id && !proc;
	     id = trie__node(s->t, id)->parent)
		if (node__frame(s, id)->kind == PS_FRAME_PROCESS)
			proc = node__frame(s, id);
	n = (th->name ? strlen(th->name) : 0) + 80;
	name = malloc(n);
	if (!name)
		return -ENOMEM;
	len = 0;
	if (proc)
		len = snprintf(name, n, "Process %" PRIu64 ", ", proc->num);
	if (len >= 0)
		len += snprintf(name + len, n - (size_t)len,
				th->name && *th->name ? "Thread %" PRIu64
							" \"%s\""
						      : "Thread %" PRIu64,
				th->num, th->name);
	if (len < 0 || (size_t)len >= n) {
		free(name);
		return -EINVAL;
	}
	json__str(s->j, name);
	free(name);
	return 0;
}

/* Walk's stack has room for depth + 1 levels. */
static int speedscope__walk_reserve(struct speedscope *s, size_t depth)
{
	size_t cap;
	uint32_t *walk, *path;

	if (depth < s->walk_cap)
		return 0;
	cap = s->walk_cap ? s->walk_cap * 2 : 64;
	walk = realloc(s->walk, cap * sizeof(*walk));
	if (!walk)
		return -ENOMEM;
	s->walk = walk;
	path = realloc(s->path, cap * sizeof(*path));
	if (!path)
		return -ENOMEM;
	s->path = path;
	s->walk_cap = cap;
	return 0;
}

static void speedscope__entry(struct speedscope *s, uint32_t id, size_t depth,
			      bool weights, bool *first)
{
	struct json *j = s->j;

	json__raw(j, *first ? "" : ",");
	*first = false;
	if (weights) {
		uint64_t self = trie__node(s->t, id)->self;

		json__u64(j, s->interval_ns ? self * s->interval_ns : self);
		return;
	}
	json__raw(j, "[");
	for (size_t i = 0; i < depth; i++) {
		if (i)
			json__raw(j, ",");
		json__u64(j, s->path[i]);
	}
	json__raw(j, "]");
}

/*
 * The samples (or, the second time, the weights) of the profile rooted at
 * root, depth first.  walk[d] is the next sibling to visit at depth d + 1
 * and path[d] the frame index of the node being visited there.
 */
static int speedscope__entries(struct speedscope *s, uint32_t root,
			       bool weights)
{
	size_t depth = 0;
	bool first = true;
	int err;

	if (root && trie__node(s->t, root)->self)
		speedscope__entry(s, root, 0, weights, &first);
	if ((err = speedscope__walk_reserve(s, 0)))
		return err;
	s->walk[0] = s->first_child[root];
	for (;;) {
		uint32_t id = s->walk[depth];

		if (id == NONE) {
			if (!depth--)
				break;
			continue;
		}
		s->walk[depth] = s->next_sibling[id];
		/* Another thread's root, or nothing sampled below. */
		if (s->profile[id] != s->profile[root] || !s->incl[id])
			continue;
		s->path[depth] = s->frame_index[trie__node(s->t, id)->frame];
		if (trie__node(s->t, id)->self)
			speedscope__entry(s, id, depth + 1, weights, &first);
		if ((err = speedscope__walk_reserve(s, depth + 1)))
			return err;
		s->walk[++depth] = s->first_child[id];
	}
	return 0;
}

static int speedscope__profile(struct speedscope *s, uint32_t root,
			       uint64_t total, bool *first)
{
	struct json *j = s->j;
	int err;

	json__raw(j, *first ? "\n" : ",\n");
	*first = false;
	json__raw(j, "{\"type\":\"sampled\",\"name\":");
	if ((err = speedscope__profile_name(s, root)))
		return err;
	json__raw(j, s->interval_ns ? ",\"unit\":\"nanoseconds\""
				    : ",\"unit\":\"none\"");
	json__raw(j, ",\"startValue\":0,\"endValue\":");
	json__u64(j, s->interval_ns ? total * s->interval_ns : total);
	json__raw(j, ",\n\"samples\":[");
	if ((err = speedscope__entries(s, root, false)))
		return err;
	json__raw(j, "],\n\"weights\":[");
	if ((err = speedscope__entries(s, root, true)))
		return err;
	json__raw(j, "]}");
	return 0;
}

/* The samples of the profile rooted at root (0: outside any thread). */
static uint64_t speedscope__total(const struct speedscope *s, uint32_t root)
{
	uint64_t total = 0;

	if (root)
		return s->incl[root];
	for (uint32_t id = 0; id < s->nnodes; id++)
		if (!s->profile[id])
			total += trie__node(s->t, id)->self;
	return total;
}

static int speedscope__profiles(struct speedscope *s)
{
	uint64_t best = 0;
	uint32_t active = 0, index = 0;
	bool first = true;
	int err;

	json__raw(s->j, "\"profiles\":[");
	/* Threads in the order they were first sampled, then the rest. */
	for (uint32_t id = 1; id <= s->nnodes; id++) {
		uint32_t root = id < s->nnodes ? id : 0;
		uint64_t total;

		if (root && !node__is_thread(s, root))
			continue;
		total = speedscope__total(s, root);
		if (!total)
			continue;
		if ((err = speedscope__profile(s, root, total, &first)))
			return err;
		if (total > best) {
			best = total;
			active = index;
		}
		index++;
	}
	/* Nothing sampled: speedscope opens an empty profile, not none. */
	if (!index) {
		json__raw(s->j,
			  "\n{\"type\":\"sampled\",\"name\":\"no samples\"");
		json__raw(s->j, s->interval_ns ? ",\"unit\":\"nanoseconds\""
					       : ",\"unit\":\"none\"");
		json__raw(s->j, ",\"startValue\":0,\"endValue\":0,\n"
				"\"samples\":[],\n\"weights\":[]}");
	}
	json__raw(s->j, "],\n\"activeProfileIndex\":");
	json__u64(s->j, active);
	return 0;
}

static void speedscope__header(struct speedscope *s,
			       const struct profile_meta *m)
{
	struct json *j = s->j;
	char pid[32];

	json__raw(j, "{\"$schema\":\"" SPEEDSCOPE_SCHEMA "\",\n");
	json__raw(j, "\"exporter\":\"" SPEEDSCOPE_EXPORTER "\",\n");
	json__raw(j, "\"name\":");
	if (m && m->cmdline && *m->cmdline) {
		json__str(j, m->cmdline);
	} else {
		snprintf(pid, sizeof(pid), "pid %d", m ? (int)m->pid : 0);
		json__str(j, pid);
	}
	json__raw(j, ",\n");
}

/* The interval in whole nanoseconds, 0 if there is none to trust. */
static uint64_t speedscope__interval(const struct profile_meta *m)
{
	double ns = m ? m->interval_s * 1e9 : 0.0;

	if (!(ns >= 0.5 && ns < 9e18))
		return 0;
	return (uint64_t)llround(ns);
}

int speedscope__write(FILE *out, const struct trie *t,
		      const struct profile_meta *m, const struct output_opts *o)
{
	static const struct output_opts defaults;
	struct speedscope s = {
		.t = t,
		.o = o ? o : &defaults,
		.nnodes = t ? trie__nnodes(t) : 0,
		.nframes = t ? trie__nframes(t) : 0,
		.interval_ns = speedscope__interval(m),
	};
	int err;

	if (!out || !t || !s.nnodes)
		return -EINVAL;
	s.j = malloc(sizeof(*s.j));
	if (!s.j)
		return -ENOMEM;
	s.j->out = out;
	s.j->len = 0;
	s.j->err = 0;
	err = speedscope__nodes(&s);
	if (!err)
		err = speedscope__frame_indices(&s);
	if (!err) {
		speedscope__header(&s, m);
		err = speedscope__frames(&s);
	}
	if (!err)
		err = speedscope__profiles(&s);
	if (!err) {
		json__raw(s.j, "}\n");
		json__flush(s.j);
		err = s.j->err;
	}
	free(s.j);
	free(s.profile);
	free(s.incl);
	free(s.first_child);
	free(s.next_sibling);
	free(s.frame_index);
	free(s.walk);
	free(s.path);
	free(s.file);
	return err;
}
