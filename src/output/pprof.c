/*
 * pprof.c - the pprof writer: a gzipped profile.proto (github.com/google/
 * pprof), read by go tool pprof, Pyroscope, Parca, Grafana and speedscope.
 *
 * How a trie maps onto the proto:
 *  - a Function per Python code object: name = qualname, filename,
 *    start_line = co_firstlineno; system_name stays unset, because pprof
 *    "demangles" a function whose system_name equals its name and turns
 *    C++-looking names such as "<module>" into "<unknown>";
 *  - a Location per (function, current line), with one Line (several
 *    Lines would mean inlined frames);
 *  - a Sample per trie node with samples of its own, i.e. per unique
 *    (thread, stack): locations leaf first, values (samples, count) and
 *    (wall or cpu, nanoseconds) = count x period; the thread and process
 *    roots become labels (thread_id, thread_name, pid), not frames;
 *  - one Mapping marked as symbolised, so that pprof neither looks for a
 *    binary nor warns "Main binary filename not available".
 *
 * The protobuf is encoded by hand, section by section into memory in
 * field-number order (as Go's encoder does), then deflated with a gzip
 * wrapper, which is what the format asks of files on disk.
 */
#define ZLIB_CONST
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "psample/hash.h"
#include "psample/output.h"

int pprof__write(FILE *out, const struct trie *t, const struct profile_meta *m,
		 const struct output_opts *o);

/* profile.proto field numbers (perftools.profiles). */
enum {
	PROFILE_SAMPLE_TYPE = 1,
	PROFILE_SAMPLE = 2,
	PROFILE_MAPPING = 3,
	PROFILE_LOCATION = 4,
	PROFILE_FUNCTION = 5,
	PROFILE_STRING_TABLE = 6,
	PROFILE_TIME_NANOS = 9,
	PROFILE_DURATION_NANOS = 10,
	PROFILE_PERIOD_TYPE = 11,
	PROFILE_PERIOD = 12,
	PROFILE_COMMENT = 13,
	PROFILE_DEFAULT_SAMPLE_TYPE = 14,

	VALUE_TYPE_TYPE = 1,
	VALUE_TYPE_UNIT = 2,

	SAMPLE_LOCATION_ID = 1,
	SAMPLE_VALUE = 2,
	SAMPLE_LABEL = 3,

	LABEL_KEY = 1,
	LABEL_STR = 2,
	LABEL_NUM = 3,

	MAPPING_ID = 1,
	MAPPING_FILENAME = 5,
	MAPPING_HAS_FUNCTIONS = 7,
	MAPPING_HAS_FILENAMES = 8,
	MAPPING_HAS_LINE_NUMBERS = 9,

	LOCATION_ID = 1,
	LOCATION_MAPPING_ID = 2,
	LOCATION_LINE = 4,

	LINE_FUNCTION_ID = 1,
	LINE_LINE = 2,

	FUNCTION_ID = 1,
	FUNCTION_NAME = 2,
	FUNCTION_FILENAME = 4,
	FUNCTION_START_LINE = 5,
};

/* Wire types. */
enum {
	PB_VARINT = 0,
	PB_LEN = 2,
};

/* The one mapping every location refers to. */
#define PPROF_MAPPING_ID 1

/*
 * A growable byte buffer with a sticky error: after the first failed
 * allocation appends do nothing, and the encoder checks once per section.
 */
struct pb {
	uint8_t *p;
	size_t len;
	size_t cap;
	int err;
};

static bool pb__reserve(struct pb *b, size_t extra)
{
	size_t cap;
	uint8_t *p;

	if (b->err)
		return false;
	if (extra <= b->cap - b->len)
		return true;
	if (extra > SIZE_MAX / 4 - b->len) {
		b->err = -ENOMEM;
		return false;
	}
	cap = b->cap ? b->cap : 256;
	while (cap - b->len < extra)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->err = -ENOMEM;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

static void pb__free(struct pb *b)
{
	free(b->p);
	*b = (struct pb){0};
}

static size_t pb__varint_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* int64 fields take negative values as their two's complement. */
static void pb__varint(struct pb *b, uint64_t v)
{
	if (!pb__reserve(b, 10))
		return;
	while (v >= 0x80) {
		b->p[b->len++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b->p[b->len++] = (uint8_t)v;
}

static void pb__key(struct pb *b, uint32_t field, unsigned int wire)
{
	pb__varint(b, (uint64_t)field << 3 | wire);
}

/* Zero is every scalar's default: leaving the field out says the same. */
static void pb__uint(struct pb *b, uint32_t field, uint64_t v)
{
	if (!v)
		return;
	pb__key(b, field, PB_VARINT);
	pb__varint(b, v);
}

static void pb__bytes(struct pb *b, uint32_t field, const void *s, size_t n)
{
	pb__key(b, field, PB_LEN);
	pb__varint(b, n);
	if (n && pb__reserve(b, n)) {
		memcpy(b->p + b->len, s, n);
		b->len += n;
	}
}

/* Append msg, a sub-message built in its own buffer, as field. */
static void pb__msg(struct pb *b, uint32_t field, const struct pb *msg)
{
	if (msg->err) {
		if (!b->err)
			b->err = msg->err;
		return;
	}
	pb__bytes(b, field, msg->p, msg->len);
}

/* A packed repeated varint field: one record, the values back to back. */
static void pb__packed(struct pb *b, uint32_t field, const uint64_t *v,
		       size_t n)
{
	size_t size = 0;

	for (size_t i = 0; i < n; i++)
		size += pb__varint_size(v[i]);
	pb__key(b, field, PB_LEN);
	pb__varint(b, size);
	for (size_t i = 0; i < n; i++)
		pb__varint(b, v[i]);
}

/*
 * The string table: each distinct string once, index 0 the empty string
 * as the format requires.  Strings are stored as valid UTF-8 (protobuf
 * strings must be; a file name in the target may not be): each invalid
 * byte becomes U+FFFD.
 */
struct strtab {
	struct pb data; /* the strings, back to back */
	size_t *off; /* string i is data[off[i], off[i + 1]) */
	uint32_t n;
	uint32_t off_cap;
	uint32_t *slots; /* index + 1, 0 when empty */
	size_t nslots; /* a power of two */
	struct pb tmp; /* the string being added, sanitised */
};

/* FNV-1a: short strings, no need for anything stronger. */
static uint64_t str__hash(const uint8_t *s, size_t n)
{
	return hash__fnv1a(HASH_FNV_OFFSET, s, n);
}

static int strtab__grow(struct strtab *st)
{
	size_t nslots = st->nslots ? st->nslots * 2 : 1024;
	uint32_t *slots = calloc(nslots, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (uint32_t i = 0; i < st->n; i++) {
		size_t len = st->off[i + 1] - st->off[i];
		size_t h = (size_t)str__hash(st->data.p + st->off[i], len);

		while (slots[h & (nslots - 1)])
			h++;
		slots[h & (nslots - 1)] = i + 1;
	}
	free(st->slots);
	st->slots = slots;
	st->nslots = nslots;
	return 0;
}

/* Copy s into st->tmp as valid UTF-8. */
static int strtab__sanitise(struct strtab *st, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	st->tmp.len = 0;
	while (*p) {
		size_t n = output__utf8_len(p, false);

		if (!pb__reserve(&st->tmp, 4))
			return st->tmp.err;
		if (n) {
			memcpy(st->tmp.p + st->tmp.len, p, n);
			st->tmp.len += n;
			p += n;
		} else {
			memcpy(st->tmp.p + st->tmp.len, "\xef\xbf\xbd", 3);
			st->tmp.len += 3;
			p++;
		}
	}
	return 0;
}

/* The index of s (NULL: ""), added if new. */
static int strtab__add(struct strtab *st, const char *s, uint64_t *idx)
{
	const uint8_t *str;
	size_t h, len;
	int err;

	if ((err = strtab__sanitise(st, s ? s : "")))
		return err;
	str = st->tmp.p ? st->tmp.p : (const uint8_t *)"";
	len = st->tmp.len;
	if ((size_t)(st->n + 1) * 2 > st->nslots && (err = strtab__grow(st)))
		return err;
	for (h = (size_t)str__hash(str, len);; h++) {
		uint32_t i = st->slots[h & (st->nslots - 1)];

		if (!i)
			break;
		i--;
		if (st->off[i + 1] - st->off[i] == len &&
		    !memcmp(st->data.p + st->off[i], str, len)) {
			*idx = i;
			return 0;
		}
	}
	if (st->n + 2 > st->off_cap) {
		uint32_t cap = st->off_cap ? st->off_cap * 2 : 1024;
		size_t *off;

		if (cap < st->off_cap)
			return -ENOMEM;
		off = realloc(st->off, cap * sizeof(*off));
		if (!off)
			return -ENOMEM;
		st->off = off;
		st->off_cap = cap;
	}
	if (!st->n)
		st->off[0] = 0;
	if (len && pb__reserve(&st->data, len)) {
		memcpy(st->data.p + st->data.len, str, len);
		st->data.len += len;
	}
	if (st->data.err)
		return st->data.err;
	st->off[st->n + 1] = st->data.len;
	st->slots[h & (st->nslots - 1)] = st->n + 1;
	*idx = st->n++;
	return 0;
}

static void strtab__encode(const struct strtab *st, struct pb *b)
{
	for (uint32_t i = 0; i < st->n; i++)
		pb__bytes(b, PROFILE_STRING_TABLE, st->data.p + st->off[i],
			  st->off[i + 1] - st->off[i]);
}

static void strtab__free(struct strtab *st)
{
	pb__free(&st->data);
	pb__free(&st->tmp);
	free(st->off);
	free(st->slots);
}

/*
 * Ids for keys of three integers: functions by (name, file, start line)
 * and locations by (function, line).  Ids start at 1, as pprof wants.
 */
struct idmap_slot {
	uint64_t k[3];
	uint32_t id; /* 0: empty */
};

struct idmap {
	struct idmap_slot *slots;
	size_t cap; /* a power of two */
	uint32_t n;
};

static size_t idmap__hash(const uint64_t k[3])
{
	uint64_t h = k[0] * UINT64_C(0x9e3779b97f4a7c15);

	h = (h ^ (h >> 29) ^ k[1]) * UINT64_C(0xbf58476d1ce4e5b9);
	h = (h ^ (h >> 32) ^ k[2]) * UINT64_C(0x94d049bb133111eb);
	return (size_t)(h ^ (h >> 31));
}

static int idmap__grow(struct idmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 1024;
	struct idmap_slot *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		size_t h;

		if (!m->slots[i].id)
			continue;
		for (h = idmap__hash(m->slots[i].k); slots[h & (cap - 1)].id;
		     h++)
			;
		slots[h & (cap - 1)] = m->slots[i];
	}
	free(m->slots);
	m->slots = slots;
	m->cap = cap;
	return 0;
}

/* The id of (a, b, c); *fresh says whether it was just made. */
static int idmap__get(struct idmap *m, uint64_t a, uint64_t b, uint64_t c,
		      uint32_t *id, bool *fresh)
{
	const uint64_t k[3] = {a, b, c};
	size_t h;
	int err;

	if ((size_t)(m->n + 1) * 2 > m->cap && (err = idmap__grow(m)))
		return err;
	for (h = idmap__hash(k);; h++) {
		struct idmap_slot *s = &m->slots[h & (m->cap - 1)];

		if (!s->id) {
			if (m->n == UINT32_MAX)
				return -ENOMEM;
			memcpy(s->k, k, sizeof(k));
			s->id = ++m->n;
			*id = s->id;
			*fresh = true;
			return 0;
		}
		if (!memcmp(s->k, k, sizeof(k))) {
			*id = s->id;
			*fresh = false;
			return 0;
		}
	}
}

/* The encoded profile, in pieces written in this (field number) order. */
enum {
	PART_SAMPLE_TYPE,
	PART_SAMPLE,
	PART_MAPPING,
	PART_LOCATION,
	PART_FUNCTION,
	PART_TAIL, /* the string table and the scalars after it */
	NPARTS,
};

/* What a trie frame turns into. */
struct pprof_frame {
	uint32_t location; /* Python and special frames; 0 for roots */
	uint64_t name; /* thread and process roots: their name's string */
};

struct pprof {
	const struct trie *t;
	const struct output_opts *o;
	struct strtab strings;
	struct idmap functions;
	struct idmap locations;
	struct pprof_frame *frames; /* by trie frame id */
	struct pb part[NPARTS];
	struct pb msg, sub; /* scratch for (nested) sub-messages */
	uint64_t *ids; /* one sample's location ids */
	size_t ids_cap;
	/* Strings every profile has. */
	uint64_t s_samples, s_count, s_type, s_unit;
	bool memory; /* one value per sample: signed bytes */
	uint64_t s_thread_id, s_thread_name, s_pid, s_binary;
	int64_t period; /* ns */
};

/*
 * f's file: the full co_filename, always, as in pstats and callgrind.
 * pprof's source views (-list, -weblist) open it, and -trim_path or
 * -source_path adapt it to another machine; a shortened path cannot be
 * taken back.
 */
static int pprof__file(struct pprof *pw, const struct ps_frame *f,
		       uint64_t *idx)
{
	if (!f->file || !*f->file) {
		*idx = 0;
		return 0;
	}
	return strtab__add(&pw->strings, f->file, idx);
}

/* The Function and Location of a Python or special frame. */
static int pprof__location(struct pprof *pw, const struct ps_frame *f,
			   uint32_t *loc)
{
	const char *name = f->name && *f->name ? f->name : "?";
	uint64_t name_idx, file_idx = 0, start = 0, line = 0;
	uint32_t fid;
	bool fresh;
	int err;

	if ((err = strtab__add(&pw->strings, name, &name_idx)))
		return err;
	if (f->kind == PS_FRAME_PYTHON) {
		if ((err = pprof__file(pw, f, &file_idx)))
			return err;
		/* 0 is "unknown" in pprof, as -1 is for us. */
		start = f->firstlineno > 0 ? (uint64_t)f->firstlineno : 0;
		line = f->line > 0 ? (uint64_t)f->line : 0;
	}
	if ((err = idmap__get(&pw->functions, name_idx, file_idx, start, &fid,
			      &fresh)))
		return err;
	if (fresh) {
		pw->msg.len = 0;
		pb__uint(&pw->msg, FUNCTION_ID, fid);
		pb__uint(&pw->msg, FUNCTION_NAME, name_idx);
		pb__uint(&pw->msg, FUNCTION_FILENAME, file_idx);
		pb__uint(&pw->msg, FUNCTION_START_LINE, start);
		pb__msg(&pw->part[PART_FUNCTION], PROFILE_FUNCTION, &pw->msg);
	}
	if ((err = idmap__get(&pw->locations, fid, line, 0, loc, &fresh)))
		return err;
	if (fresh) {
		pw->sub.len = 0;
		pb__uint(&pw->sub, LINE_FUNCTION_ID, fid);
		pb__uint(&pw->sub, LINE_LINE, line);
		pw->msg.len = 0;
		pb__uint(&pw->msg, LOCATION_ID, *loc);
		pb__uint(&pw->msg, LOCATION_MAPPING_ID, PPROF_MAPPING_ID);
		pb__msg(&pw->msg, LOCATION_LINE, &pw->sub);
		pb__msg(&pw->part[PART_LOCATION], PROFILE_LOCATION, &pw->msg);
	}
	return pw->part[PART_FUNCTION].err ? pw->part[PART_FUNCTION].err
					   : pw->part[PART_LOCATION].err;
}

/* Functions, locations and root names, once per trie frame. */
static int pprof__frames(struct pprof *pw)
{
	uint32_t n = trie__nframes(pw->t);
	int err = 0;

	pw->frames = calloc(n ? n : 1, sizeof(*pw->frames));
	if (!pw->frames)
		return -ENOMEM;
	for (uint32_t id = 0; !err && id < n; id++) {
		const struct ps_frame *f = trie__frame(pw->t, id);

		switch (f->kind) {
		case PS_FRAME_THREAD:
		case PS_FRAME_PROCESS:
			err = strtab__add(&pw->strings, f->name,
					  &pw->frames[id].name);
			break;
		default:
			err = pprof__location(pw, f, &pw->frames[id].location);
			break;
		}
	}
	return err;
}

static void pprof__label_num(struct pprof *pw, uint64_t key, uint64_t num)
{
	pw->sub.len = 0;
	pb__uint(&pw->sub, LABEL_KEY, key);
	pb__uint(&pw->sub, LABEL_NUM, num);
	pb__msg(&pw->msg, SAMPLE_LABEL, &pw->sub);
}

static void pprof__label_str(struct pprof *pw, uint64_t key, uint64_t str)
{
	pw->sub.len = 0;
	pb__uint(&pw->sub, LABEL_KEY, key);
	pb__uint(&pw->sub, LABEL_STR, str);
	pb__msg(&pw->msg, SAMPLE_LABEL, &pw->sub);
}

/* The Sample of trie node id: its stack leaf first, its roots as labels. */
static int pprof__sample(struct pprof *pw, uint32_t id)
{
	const struct ps_frame *thread = NULL, *process = NULL;
	uint64_t thread_name = 0;
	uint64_t self = trie__node(pw->t, id)->self;
	/* Memory profiles have one value, bytes, negative for frees (an
	 * int64 field takes them as two's complement, as stored). */
	uint64_t values[2] = {self, self * (uint64_t)pw->period};
	size_t depth = 0;

	for (uint32_t n = id; n; n = trie__node(pw->t, n)->parent) {
		uint32_t fid = trie__node(pw->t, n)->frame;
		const struct ps_frame *f = trie__frame(pw->t, fid);

		if (f->kind == PS_FRAME_THREAD) {
			/* The innermost root wins if they ever nest. */
			if (!thread) {
				thread = f;
				thread_name = pw->frames[fid].name;
			}
			continue;
		}
		if (f->kind == PS_FRAME_PROCESS) {
			if (!process)
				process = f;
			continue;
		}
		if (depth == pw->ids_cap) {
			size_t cap = pw->ids_cap ? pw->ids_cap * 2 : 64;
			uint64_t *p = realloc(pw->ids, cap * sizeof(*p));

			if (!p)
				return -ENOMEM;
			pw->ids = p;
			pw->ids_cap = cap;
		}
		pw->ids[depth++] = pw->frames[fid].location;
	}

	pw->msg.len = 0;
	pb__packed(&pw->msg, SAMPLE_LOCATION_ID, pw->ids, depth);
	pb__packed(&pw->msg, SAMPLE_VALUE, values, pw->memory ? 1 : 2);
	if (thread) {
		pprof__label_num(pw, pw->s_thread_id, thread->num);
		/* A label has a str or a num: no empty name for unnamed. */
		if (thread_name)
			pprof__label_str(pw, pw->s_thread_name, thread_name);
	}
	if (process)
		pprof__label_num(pw, pw->s_pid, process->num);
	pb__msg(&pw->part[PART_SAMPLE], PROFILE_SAMPLE, &pw->msg);
	return pw->part[PART_SAMPLE].err;
}

static void pprof__value_type(struct pb *b, struct pb *msg, uint32_t field,
			      uint64_t type, uint64_t unit)
{
	msg->len = 0;
	pb__uint(msg, VALUE_TYPE_TYPE, type);
	pb__uint(msg, VALUE_TYPE_UNIT, unit);
	pb__msg(b, field, msg);
}

/* The sampling interval in whole nanoseconds; 0 if meaningless. */
static int64_t pprof__period(const struct profile_meta *m)
{
	double ns = m ? m->interval_s * 1e9 : 0.0;

	if (!(ns >= 0.5 && ns < 9e18))
		return 0;
	return (int64_t)llround(ns);
}

/* "python3" for "/usr/bin/python3 app.py": what pprof shows as File. */
static int pprof__binary(struct pprof *pw, const struct profile_meta *m)
{
	const char *cmd = m ? m->cmdline : NULL;
	const char *end, *base;
	char *name;
	int err;

	if (!cmd || !*cmd || *cmd == ' ')
		return strtab__add(&pw->strings, "python", &pw->s_binary);
	end = strchr(cmd, ' ');
	if (!end)
		end = cmd + strlen(cmd);
	base = cmd;
	for (const char *p = cmd; p < end; p++)
		if (*p == '/' && p + 1 < end)
			base = p + 1;
	name = strndup(base, (size_t)(end - base));
	if (!name)
		return -ENOMEM;
	err = strtab__add(&pw->strings, name, &pw->s_binary);
	free(name);
	return err;
}

/* A "Key: value" comment, the way pprof prints its own header lines. */
static int pprof__comment(struct pprof *pw, const char *key, const char *value,
			  uint64_t *idx)
{
	size_t n = strlen(key) + strlen(value) + 3;
	char *text = malloc(n);
	int err;

	if (!text)
		return -ENOMEM;
	snprintf(text, n, "%s: %s", key, value);
	err = strtab__add(&pw->strings, text, idx);
	free(text);
	return err;
}

/* Strings known before any frame, and the comments pprof's header shows. */
static int pprof__header(struct pprof *pw, const struct profile_meta *m,
			 uint64_t comments[3], size_t *ncomments)
{
	const char *mode = pw->memory				     ? "memory"
			   : m && m->mode && !strcmp(m->mode, "cpu") ? "cpu"
								     : "wall";
	struct strtab *st = &pw->strings;
	uint64_t empty;
	char pid[24];
	int err;

	*ncomments = 0;
	if ((err = strtab__add(st, "", &empty)) ||
	    (err = strtab__add(st, "samples", &pw->s_samples)) ||
	    (err = strtab__add(st, "count", &pw->s_count)) ||
	    (err = strtab__add(st, mode, &pw->s_type)) ||
	    (err = strtab__add(st, pw->memory ? "bytes" : "nanoseconds",
			       &pw->s_unit)) ||
	    (err = strtab__add(st, "thread_id", &pw->s_thread_id)) ||
	    (err = strtab__add(st, "thread_name", &pw->s_thread_name)) ||
	    (err = strtab__add(st, "pid", &pw->s_pid)) ||
	    (err = pprof__binary(pw, m)))
		return err;
	if (!m)
		return 0;
	if (m->cmdline && *m->cmdline &&
	    (err = pprof__comment(pw, "Command", m->cmdline,
				  &comments[(*ncomments)++])))
		return err;
	if (m->python && *m->python &&
	    (err = pprof__comment(pw, "Python", m->python,
				  &comments[(*ncomments)++])))
		return err;
	if (m->pid > 0) {
		snprintf(pid, sizeof(pid), "%d", (int)m->pid);
		if ((err = pprof__comment(pw, "PID", pid,
					  &comments[(*ncomments)++])))
			return err;
	}
	return 0;
}

static int pprof__encode(struct pprof *pw, const struct profile_meta *m)
{
	uint64_t comments[3];
	size_t ncomments;
	uint32_t n = trie__nnodes(pw->t);
	int err;

	pw->memory = m && m->mode && !strcmp(m->mode, "memory");
	pw->period = pw->memory ? 1 : pprof__period(m);
	if ((err = pprof__header(pw, m, comments, &ncomments)))
		return err;

	/* Count first: the proto recommends it, and -sample_index=0 works.
	 * A memory profile counts bytes, not samples: that one only. */
	if (!pw->memory)
		pprof__value_type(&pw->part[PART_SAMPLE_TYPE], &pw->msg,
				  PROFILE_SAMPLE_TYPE, pw->s_samples,
				  pw->s_count);
	pprof__value_type(&pw->part[PART_SAMPLE_TYPE], &pw->msg,
			  PROFILE_SAMPLE_TYPE, pw->s_type, pw->s_unit);

	pw->msg.len = 0;
	pb__uint(&pw->msg, MAPPING_ID, PPROF_MAPPING_ID);
	pb__uint(&pw->msg, MAPPING_FILENAME, pw->s_binary);
	pb__uint(&pw->msg, MAPPING_HAS_FUNCTIONS, 1);
	pb__uint(&pw->msg, MAPPING_HAS_FILENAMES, 1);
	pb__uint(&pw->msg, MAPPING_HAS_LINE_NUMBERS, 1);
	pb__msg(&pw->part[PART_MAPPING], PROFILE_MAPPING, &pw->msg);

	if ((err = pprof__frames(pw)))
		return err;
	for (uint32_t id = 1; id < n; id++)
		if (trie__node(pw->t, id)->self &&
		    (err = pprof__sample(pw, id)))
			return err;

	strtab__encode(&pw->strings, &pw->part[PART_TAIL]);
	if (m) {
		pb__uint(&pw->part[PART_TAIL], PROFILE_TIME_NANOS,
			 (uint64_t)m->start_unix_ns);
		pb__uint(&pw->part[PART_TAIL], PROFILE_DURATION_NANOS,
			 (uint64_t)m->duration_ns);
	}
	pprof__value_type(&pw->part[PART_TAIL], &pw->msg, PROFILE_PERIOD_TYPE,
			  pw->s_type, pw->s_unit);
	pb__uint(&pw->part[PART_TAIL], PROFILE_PERIOD, (uint64_t)pw->period);
	for (size_t i = 0; i < ncomments; i++) {
		pb__key(&pw->part[PART_TAIL], PROFILE_COMMENT, PB_VARINT);
		pb__varint(&pw->part[PART_TAIL], comments[i]);
	}
	/* Time is what a wall-clock profile is read for. */
	pb__uint(&pw->part[PART_TAIL], PROFILE_DEFAULT_SAMPLE_TYPE, pw->s_type);

	for (size_t i = 0; i < NPARTS; i++)
		if (pw->part[i].err)
			return pw->part[i].err;
	return 0;
}

static int pprof__flush(z_stream *z, uint8_t *buf, size_t size, FILE *out)
{
	size_t n = size - z->avail_out;

	if (n && fwrite(buf, 1, n, out) != n)
		return errno ? -errno : -EIO;
	z->next_out = buf;
	z->avail_out = (uInt)size;
	return 0;
}

/* Deflate the parts, in order, into one gzip member. */
static int pprof__gzip(FILE *out, const struct pb *parts, size_t n)
{
	uint8_t buf[16384];
	z_stream z = {0};
	int zr, err = 0;

	/* 15 + 16: a 32 KiB window with a gzip header and trailer. */
	zr = deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			  Z_DEFAULT_STRATEGY);
	if (zr != Z_OK)
		return zr == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
	z.next_out = buf;
	z.avail_out = sizeof(buf);
	for (size_t i = 0; !err && i < n; i++) {
		const uint8_t *p = parts[i].p;
		size_t left = parts[i].len;

		while (!err && left) {
			/* avail_in is a uInt: feed big parts in pieces. */
			size_t chunk = left < (1u << 30) ? left : (1u << 30);

			z.next_in = p;
			z.avail_in = (uInt)chunk;
			while (!err && z.avail_in) {
				zr = deflate(&z, Z_NO_FLUSH);
				if (zr != Z_OK && zr != Z_BUF_ERROR)
					err = -EINVAL;
				else if (!z.avail_out)
					err = pprof__flush(&z, buf, sizeof(buf),
							   out);
			}
			p += chunk;
			left -= chunk;
		}
	}
	while (!err) {
		zr = deflate(&z, Z_FINISH);
		if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
			err = -EINVAL;
			break;
		}
		err = pprof__flush(&z, buf, sizeof(buf), out);
		if (zr == Z_STREAM_END)
			break;
	}
	deflateEnd(&z);
	return err;
}

int pprof__write(FILE *out, const struct trie *t, const struct profile_meta *m,
		 const struct output_opts *o)
{
	static const struct output_opts defaults;
	struct pprof pw = {.t = t, .o = o ? o : &defaults};
	int err;

	if (!out || !t)
		return -EINVAL;
	err = pprof__encode(&pw, m);
	if (!err)
		err = pprof__gzip(out, pw.part, NPARTS);
	strtab__free(&pw.strings);
	free(pw.functions.slots);
	free(pw.locations.slots);
	free(pw.frames);
	for (size_t i = 0; i < NPARTS; i++)
		pb__free(&pw.part[i]);
	pb__free(&pw.msg);
	pb__free(&pw.sub);
	free(pw.ids);
	return err;
}
