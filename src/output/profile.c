/*
 * profile.c - psample's own profile format ("raw": -f raw, *.psample): the
 * trie exactly as sampled and what is known about the run, without loss,
 * so that psample convert and diff can read a profile back.  The writer
 * and the reader live together so the format has one definition: this.
 *
 * FORMAT, VERSION 1
 *
 * UTF-8 text, one record per line.  Every line ends in LF (readers drop
 * a CR right before it) and is at most 4 MiB + 64 bytes long, LF
 * excluded (RAW_LINE_MAX).  Fields are separated by exactly one space,
 * with none at either end of the line.  An example:
 *
 *	# psample profile v1
 *	meta pid 4242
 *	meta interval_s 0.01
 *	meta start_unix_ns 1700000000123456789
 *	meta duration_ns 5000000000
 *	meta mode "wall"
 *	meta python "3.11.7"
 *	meta cmdline "python3 app.py"
 *	str 0 "MainThread"
 *	str 1 "main"
 *	str 2 "/app/main.py"
 *	frame 0 thread 0 -1 1001 0 - -
 *	frame 1 python 1 2 0 1 2 1
 *	root 0
 *	node 1 0 0 0
 *	node 2 1 1 30
 *	end 3 2 3 30
 *
 * Records come in this order, each kind but the first and the last
 * possibly absent or repeated: the header, meta, str, frame, root, node,
 * end.  The ids of str and frame records count 0, 1, 2...; those of node
 * records 1, 2, 3... (node 0 is the root).  A reference is always to an
 * earlier record, so a file can be read in one pass.
 *
 * Values:
 *  integer    decimal digits (leading zeros allowed), '-' first if
 *             negative; out of the field's range is an error.
 *  string     "..." holding bytes as they are, except: \\ \" \n \r \t,
 *             and \xHH (two hex digits, not 00) for any byte.  '\', '"',
 *             bytes below 0x20 and 0x7f must be escaped.  Writers also
 *             escape every byte that is not part of valid UTF-8, so the
 *             file is UTF-8, and use lower-case hex; readers take other
 *             bytes as they are.  At most 1 MiB once decoded
 *             (RAW_STR_MAX).
 *  strref     the id of a str record, or '-' for none (NULL); none and
 *             the empty string "" are different values.
 *
 * "# psample profile v<N>"
 *	The first line.  N is the major version: any change other than a
 *	new meta key makes a new one, and readers reject versions they do
 *	not know.
 * "meta <key> <value>"
 *	key is [a-z0-9_]{1,64}, given at most once.  Readers ignore keys
 *	they do not know, whatever their value (newer psamples may add
 *	some), and take 0 or none for keys that are missing.  Known keys:
 *	pid            integer, 32-bit signed
 *	interval_s     seconds between samples, 0 if unknown: a finite,
 *	               non-negative decimal, [-]D+[.D*][(e|E)[+-]D+],
 *	               never locale-dependent; writers use the shortest
 *	               that reads back as the same double
 *	start_unix_ns  integer, 64-bit signed: the wall clock at the start
 *	duration_ns    integer, 64-bit signed
 *	mode, python, cmdline   a string, or '-' for none
 * "str <id> <string>"
 *	A string table entry.  Writers write each string once; readers
 *	accept repeats (and unused entries).
 * "frame <id> <kind> <firstlineno> <line> <num> <name> <file> <func>"
 *	kind is python, thread, process or special (enum ps_frame_kind);
 *	firstlineno and line are 32-bit signed (-1: unknown), num 64-bit
 *	unsigned (a thread id or pid), name, file and func strrefs.  No two
 *	frames are equal in every field (strings compared by value).
 * "root <count>"
 *	Samples with no frame at all (64-bit unsigned); at most once, 0 if
 *	absent.  Writers always write it.
 * "node <id> <parent> <frame> <count>"
 *	A trie node: parent is 0 or an earlier node, frame an earlier
 *	frame, count (64-bit unsigned) the samples whose innermost frame
 *	this node is: 0 for a node that only has callees.  No two nodes
 *	have the same parent and frame.
 * "end <strings> <frames> <nodes> <samples>"
 *	The last line: the number of str and frame records, the number of
 *	nodes with the root (the last node id + 1), and the sum of all
 *	counts, which must fit in 64 bits.  A file without it is truncated;
 *	nothing may follow it.
 *
 * Writers write meta keys in the order above, strings in the order frames
 * first use them (name, file, func), frames and nodes in trie order, and
 * every node, so the same trie and metadata give the same bytes and a
 * file psample wrote reads and writes back identical.
 *
 * The reader takes its input as untrusted: every number is range
 * checked, every line length bounded, ids must come in sequence and
 * references point backwards, and it allocates only for data it has
 * already read.  It reports the first problem as "line N: what".
 */
#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psample/error.h"
#include "psample/hex.h"
#include "psample/output.h"
#include "psample/profile.h"
#include "psample/table.h"
#include "psample/trie.h"

#define RAW_MAGIC "# psample profile v"
#define RAW_VERSION 1
/* Far beyond any name a target holds (the walker reads 4096 chars). */
#define RAW_STR_MAX (1u << 20)
/* A string escapes to at most 4 bytes a byte; the rest of a record is
 * short. */
#define RAW_LINE_MAX (4 * RAW_STR_MAX + 64)
/* Meta keys longer than this are not ones any psample writes. */
#define RAW_KEY_MAX 64

int raw__write(FILE *out, const struct trie *t, const struct profile_meta *m,
	       const struct output_opts *o);

static const char *const raw_kinds[] = {
	[PS_FRAME_PYTHON] = "python",
	[PS_FRAME_THREAD] = "thread",
	[PS_FRAME_PROCESS] = "process",
	[PS_FRAME_SPECIAL] = "special",
};
#define RAW_NKINDS (sizeof(raw_kinds) / sizeof(raw_kinds[0]))

/* The meta keys version 1 knows, in the order writers write them. */
enum raw_meta {
	META_PID,
	META_INTERVAL,
	META_START,
	META_DURATION,
	META_MODE,
	META_PYTHON,
	META_CMDLINE,
	META_N,
};

static const char *const raw_meta_keys[META_N] = {
	[META_PID] = "pid",
	[META_INTERVAL] = "interval_s",
	[META_START] = "start_unix_ns",
	[META_DURATION] = "duration_ns",
	[META_MODE] = "mode",
	[META_PYTHON] = "python",
	[META_CMDLINE] = "cmdline",
};

/*
 * A C-locale object for number conversions: "0.01" must mean the same in
 * every locale a program embedding this might set.  NULL on ENOMEM.
 */
static locale_t raw__c_locale(void)
{
	return newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

/* ---- writing ---- */

/* The letter of c's one-letter escape, or 0. */
static char raw__escape_letter(unsigned char c)
{
	switch (c) {
	case '\\': return '\\';
	case '"': return '"';
	case '\n': return 'n';
	case '\r': return 'r';
	case '\t': return 't';
	default: return 0;
	}
}

/* Append s quoted and escaped.  -E2BIG beyond RAW_STR_MAX, -ENOMEM. */
static int raw__escape(struct outbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s);
	int err;

	if (len > RAW_STR_MAX)
		return -E2BIG;
	err = outbuf__reserve(b, 4 * len + 3);
	if (err)
		return err;
	b->p[b->len++] = '"';
	while (*p) {
		char *q = b->p + b->len;
		char letter = raw__escape_letter(*p);
		size_t k;

		if (letter) {
			q[0] = '\\';
			q[1] = letter;
			b->len += 2;
			p++;
		} else if (*p >= 0x20 && *p < 0x7f) {
			*q = (char)*p++;
			b->len++;
		} else if (*p >= 0x80 && (k = output__utf8_len(p, false))) {
			memcpy(q, p, k);
			b->len += k;
			p += k;
		} else {
			q[0] = '\\';
			q[1] = 'x';
			q[2] = hex[*p >> 4];
			q[3] = hex[*p & 15];
			b->len += 4;
			p++;
		}
	}
	b->p[b->len++] = '"';
	return 0;
}

/*
 * The output stream and its first error: records are written without
 * checking each call, and the first failure is kept with its errno.
 */
struct rawout {
	FILE *f;
	int err;
	struct outbuf buf;
};

__attribute__((format(printf, 2, 3))) static void
rawout__printf(struct rawout *w, const char *fmt, ...)
{
	va_list ap;

	if (w->err)
		return;
	errno = 0;
	va_start(ap, fmt);
	if (vfprintf(w->f, fmt, ap) < 0)
		w->err = errno ? -errno : -EIO;
	va_end(ap);
}

static void rawout__bytes(struct rawout *w, const char *p, size_t n)
{
	if (w->err)
		return;
	errno = 0;
	if (fwrite(p, 1, n, w->f) != n)
		w->err = errno ? -errno : -EIO;
}

/* A string value: quoted and escaped, or '-' for none. */
static void rawout__string(struct rawout *w, const char *s)
{
	if (w->err)
		return;
	if (!s) {
		rawout__bytes(w, "-", 1);
		return;
	}
	w->buf.len = 0;
	w->err = raw__escape(&w->buf, s);
	rawout__bytes(w, w->buf.p, w->buf.len);
}

/* The shortest decimal that reads back as x; "0" for unusable values. */
static int raw__format_interval(double x, char *buf, size_t n)
{
	locale_t c, old;

	if (!isfinite(x) || !(x > 0)) {
		(void)snprintf(buf, n, "0");
		return 0;
	}
	c = raw__c_locale();
	if (!c)
		return -ENOMEM;
	old = uselocale(c);
	for (int prec = 1; prec <= 17; prec++) {
		(void)snprintf(buf, n, "%.*g", prec, x);
		if (strtod(buf, NULL) == x)
			break;
	}
	uselocale(old);
	freelocale(c);
	return 0;
}

/*
 * String ids for the writer are keyed by pointer: the trie interns its
 * strings, so equal strings are one pointer and no content is hashed.
 */
static uint64_t rawout__key(const char *s)
{
	return (uint64_t)(uintptr_t)s;
}

/* A strref field: " <id>" or " -". */
static void rawout__ref(struct rawout *w, const struct table *ids,
			const char *s)
{
	uint64_t id = 0;

	if (s) {
		/* rawout__strings numbered every string. */
		(void)table__get(ids, rawout__key(s), &id);
		rawout__printf(w, " %" PRIu64, id);
	} else {
		rawout__printf(w, " -");
	}
}

static void rawout__meta(struct rawout *w, const struct profile_meta *m)
{
	char interval[64] = "0";

	rawout__printf(w, "meta %s %" PRId64 "\n", raw_meta_keys[META_PID],
		       (int64_t)m->pid);
	if (!w->err)
		w->err = raw__format_interval(m->interval_s, interval,
					      sizeof(interval));
	rawout__printf(w, "meta %s %s\n", raw_meta_keys[META_INTERVAL],
		       interval);
	rawout__printf(w, "meta %s %" PRId64 "\n", raw_meta_keys[META_START],
		       m->start_unix_ns);
	rawout__printf(w, "meta %s %" PRId64 "\n", raw_meta_keys[META_DURATION],
		       m->duration_ns);
	rawout__printf(w, "meta %s ", raw_meta_keys[META_MODE]);
	rawout__string(w, m->mode);
	rawout__printf(w, "\nmeta %s ", raw_meta_keys[META_PYTHON]);
	rawout__string(w, m->python);
	rawout__printf(w, "\nmeta %s ", raw_meta_keys[META_CMDLINE]);
	rawout__string(w, m->cmdline);
	rawout__printf(w, "\n");
}

/* The string table: every string frames use, in order of first use. */
static void rawout__strings(struct rawout *w, const struct trie *t,
			    struct table *ids)
{
	uint32_t n = trie__nframes(t);

	for (uint32_t id = 0; id < n && !w->err; id++) {
		const struct ps_frame *f = trie__frame(t, id);
		const char *s[3] = {f->name, f->file, f->func};

		for (int i = 0; i < 3; i++) {
			uint64_t sid;
			int added;

			if (!s[i])
				continue;
			added = table__add(ids, rawout__key(s[i]),
					   table__count(ids), &sid);
			if (added < 0)
				w->err = added;
			if (added != 1)
				continue;
			rawout__printf(w, "str %" PRIu64 " ", sid);
			rawout__string(w, s[i]);
			rawout__printf(w, "\n");
		}
	}
}

static void rawout__frames(struct rawout *w, const struct trie *t,
			   const struct table *ids)
{
	uint32_t n = trie__nframes(t);

	for (uint32_t id = 0; id < n && !w->err; id++) {
		const struct ps_frame *f = trie__frame(t, id);

		if (f->kind >= RAW_NKINDS) {
			w->err = -EINVAL; /* a trie no reader would accept */
			return;
		}
		rawout__printf(w,
			       "frame %" PRIu32 " %s %" PRId32 " %" PRId32
			       " %" PRIu64,
			       id, raw_kinds[f->kind], f->firstlineno, f->line,
			       f->num);
		rawout__ref(w, ids, f->name);
		rawout__ref(w, ids, f->file);
		rawout__ref(w, ids, f->func);
		rawout__printf(w, "\n");
	}
}

int raw__write(FILE *out, const struct trie *t, const struct profile_meta *m,
	       const struct output_opts *o)
{
	static const struct profile_meta none;
	struct rawout w = {.f = out};
	struct table *ids;
	uint32_t nnodes;

	(void)o; /* the trie comes as sampled: nothing to choose */
	if (!out || !t)
		return -EINVAL;
	if (!m)
		m = &none;
	nnodes = trie__nnodes(t);
	ids = table__new();
	if (!ids)
		w.err = -ENOMEM;
	rawout__printf(&w, "%s%d\n", RAW_MAGIC, RAW_VERSION);
	rawout__meta(&w, m);
	rawout__strings(&w, t, ids);
	rawout__frames(&w, t, ids);
	rawout__printf(&w, "root %" PRIu64 "\n", trie__node(t, 0)->self);
	for (uint32_t id = 1; id < nnodes && !w.err; id++) {
		const struct trie_node *n = trie__node(t, id);

		rawout__printf(&w,
			       "node %" PRIu32 " %" PRIu32 " %" PRIu32
			       " %" PRIu64 "\n",
			       id, n->parent, n->frame, n->self);
	}
	rawout__printf(&w,
		       "end %" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRIu64 "\n",
		       ids ? table__count(ids) : 0, trie__nframes(t), nnodes,
		       trie__total(t));
	table__free(ids);
	free(w.buf.p);
	return w.err;
}

/* ---- reading ---- */

enum rawin_status {
	RAWIN_LINE, /* a whole line, without its LF (or CR LF) */
	RAWIN_EOF, /* nothing more */
	RAWIN_PARTIAL, /* the file ends inside a line: truncated */
	RAWIN_LONG, /* a line longer than RAW_LINE_MAX */
};

/* Lines of a stream.  Bytes are kept as they are: NULs included. */
struct rawin {
	FILE *f;
	char *line; /* NUL-terminated, also after PARTIAL and LONG */
	size_t len;
	size_t cap;
	uint64_t no; /* the number of the line last read, from 1 */
	size_t pos, end; /* the unread part of chunk */
	char chunk[1 << 16];
};

/* Room for extra more bytes and a NUL, never beyond RAW_LINE_MAX + 1. */
static int rawin__reserve(struct rawin *in, size_t extra)
{
	size_t need = in->len + extra + 1;
	size_t cap = in->cap ? in->cap : 256;
	char *p;

	while (cap < need)
		cap *= 2;
	if (cap > RAW_LINE_MAX + 1)
		cap = RAW_LINE_MAX + 1;
	if (cap == in->cap)
		return 0;
	p = realloc(in->line, cap);
	if (!p)
		return -ENOMEM;
	in->line = p;
	in->cap = cap;
	return 0;
}

/* Read the next line.  Returns an enum rawin_status, or -errno. */
static int rawin__next(struct rawin *in)
{
	int err;

	in->len = 0;
	in->no++;
	if ((err = rawin__reserve(in, 0)))
		return err;
	in->line[0] = '\0';
	for (;;) {
		const char *start, *nl;
		size_t take;

		if (in->pos == in->end) {
			size_t n;

			errno = 0;
			n = fread(in->chunk, 1, sizeof(in->chunk), in->f);
			if (!n) {
				if (ferror(in->f))
					return errno ? -errno : -EIO;
				return in->len ? RAWIN_PARTIAL : RAWIN_EOF;
			}
			in->pos = 0;
			in->end = n;
		}
		start = in->chunk + in->pos;
		nl = memchr(start, '\n', in->end - in->pos);
		take = nl ? (size_t)(nl - start) : in->end - in->pos;
		if (take > RAW_LINE_MAX - in->len)
			return RAWIN_LONG;
		if ((err = rawin__reserve(in, take)))
			return err;
		memcpy(in->line + in->len, start, take);
		in->len += take;
		in->line[in->len] = '\0';
		in->pos += take;
		if (nl) {
			in->pos++;
			/* A file that went through CRLF-minded hands. */
			if (in->len && in->line[in->len - 1] == '\r')
				in->line[--in->len] = '\0';
			return RAWIN_LINE;
		}
	}
}

/* One line being parsed, field by field, and where to report on it. */
struct rawline {
	const char *s;
	size_t len;
	size_t pos; /* the next field */
	bool sep; /* the field before pos was followed by a space */
	char *scratch; /* decoded strings; at least len + 1 bytes */
	uint64_t no;
	char *why;
	size_t why_len;
};

/* Write "line N: <what>" to why. */
__attribute__((format(printf, 2, 3))) static void
rawline__say(const struct rawline *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!l->why || !l->why_len)
		return;
	n = snprintf(l->why, l->why_len, "line %" PRIu64 ": ", l->no);
	if (n >= 0 && (size_t)n < l->why_len) {
		va_start(ap, fmt);
		(void)vsnprintf(l->why + n, l->why_len - (size_t)n, fmt, ap);
		va_end(ap);
	}
}

/*
 * Report and return -PS_EBADPROFILE.  A macro so that callers visibly
 * return non-zero: clang's analyzer does not follow variadic calls.
 */
#define rawline__bad(l, ...) (rawline__say((l), __VA_ARGS__), -PS_EBADPROFILE)

/*
 * A field as it may be quoted in a message: printable ASCII only (the
 * message goes to a terminal), cut short if long.
 */
static const char *raw__show(const char *p, size_t n, char *buf, size_t cap)
{
	size_t max = cap - 4, i;

	for (i = 0; i < n && i < max; i++)
		buf[i] = p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?';
	if (i < n)
		memcpy(buf + i - 3, "...", 3);
	buf[i] = '\0';
	return buf;
}

/* Step over the space after a field, remembering that there was one. */
static void rawline__skip_space(struct rawline *l)
{
	l->sep = l->pos < l->len && l->s[l->pos] == ' ';
	if (l->sep)
		l->pos++;
}

/* The next unquoted field: up to the next space or the end. */
static int rawline__field(struct rawline *l, const char *what, const char **p,
			  size_t *n)
{
	const char *end;

	*p = NULL;
	*n = 0;
	if (l->pos >= l->len)
		return rawline__bad(l, "%s missing", what);
	if (l->s[l->pos] == ' ')
		return rawline__bad(l, "two spaces before %s", what);
	*p = l->s + l->pos;
	end = memchr(*p, ' ', l->len - l->pos);
	*n = end ? (size_t)(end - *p) : l->len - l->pos;
	l->pos += *n;
	rawline__skip_space(l);
	return 0;
}

/* No more fields. */
static int rawline__end(const struct rawline *l)
{
	char shown[32];

	if (l->pos < l->len)
		return rawline__bad(l, "unexpected field \"%s\" at the end",
				    raw__show(l->s + l->pos, l->len - l->pos,
					      shown, sizeof(shown)));
	if (l->sep)
		return rawline__bad(l, "a space at the end");
	return 0;
}

/* Decimal digits to v: 0, -EINVAL if not all digits, -ERANGE. */
static int raw__parse_u64(const char *p, size_t n, uint64_t *v)
{
	*v = 0;
	if (!n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned char)p[i] - '0';

		if (d > 9)
			return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned char)p[i] - '0';

		if (*v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		*v = *v * 10 + d;
	}
	return 0;
}

static int rawline__u64(struct rawline *l, const char *what, uint64_t max,
			uint64_t *v)
{
	char shown[32];
	const char *p;
	size_t n;
	int err;

	*v = 0;
	if ((err = rawline__field(l, what, &p, &n)))
		return err;
	err = raw__parse_u64(p, n, v);
	if (err == -EINVAL)
		return rawline__bad(l, "%s \"%s\" is not a number", what,
				    raw__show(p, n, shown, sizeof(shown)));
	if (err || *v > max)
		return rawline__bad(l, "%s %s is out of range", what,
				    raw__show(p, n, shown, sizeof(shown)));
	return 0;
}

static int rawline__i64(struct rawline *l, const char *what, int64_t min,
			int64_t max, int64_t *v)
{
	char shown[32];
	const char *p;
	size_t n;
	uint64_t mag;
	bool neg;
	int err;

	*v = 0;
	if ((err = rawline__field(l, what, &p, &n)))
		return err;
	neg = n && p[0] == '-';
	err = raw__parse_u64(p + neg, n - neg, &mag);
	if (err == -EINVAL)
		return rawline__bad(l, "%s \"%s\" is not a number", what,
				    raw__show(p, n, shown, sizeof(shown)));
	if (!err && neg && mag <= (uint64_t)INT64_MAX + 1)
		*v = mag ? -(int64_t)(mag - 1) - 1 : 0;
	else if (!err && !neg && mag <= (uint64_t)INT64_MAX)
		*v = (int64_t)mag;
	else
		err = -ERANGE;
	if (err || *v < min || *v > max)
		return rawline__bad(l, "%s %s is out of range", what,
				    raw__show(p, n, shown, sizeof(shown)));
	return 0;
}

/*
 * A quoted string, decoded into l->scratch (valid until the next string
 * of the line), or with none_ok a bare '-' for none (*s = NULL).
 */
static int rawline__string(struct rawline *l, const char *what, bool none_ok,
			   const char **s, size_t *n)
{
	const unsigned char *p = (const unsigned char *)l->s;
	char *q = l->scratch;
	size_t i;

	*s = NULL;
	*n = 0;
	if (l->pos >= l->len)
		return rawline__bad(l, "%s missing", what);
	i = l->pos;
	if (none_ok && p[i] == '-' && (i + 1 == l->len || p[i + 1] == ' ')) {
		l->pos++;
		rawline__skip_space(l);
		*s = NULL;
		*n = 0;
		return 0;
	}
	if (p[i] != '"')
		return rawline__bad(l, "%s is not a quoted string", what);
	for (i++;; i++) {
		int hi, lo;

		if (i >= l->len)
			return rawline__bad(l, "%s has no closing quote", what);
		if (p[i] == '"')
			break;
		if (p[i] < 0x20 || p[i] == 0x7f)
			return rawline__bad(l, "%s holds control byte 0x%02x",
					    what, p[i]);
		if (p[i] != '\\') {
			*q++ = (char)p[i];
			continue;
		}
		if (++i >= l->len)
			return rawline__bad(l, "%s has no closing quote", what);
		switch (p[i]) {
		case '\\': *q++ = '\\'; break;
		case '"': *q++ = '"'; break;
		case 'n': *q++ = '\n'; break;
		case 'r': *q++ = '\r'; break;
		case 't': *q++ = '\t'; break;
		case 'x':
			hi = i + 2 < l->len ? hex__digit(p[i + 1]) : -1;
			lo = hi >= 0 ? hex__digit(p[i + 2]) : -1;
			if (lo < 0)
				return rawline__bad(
					l, "%s: \\x needs two hex digits",
					what);
			if (!hi && !lo)
				return rawline__bad(
					l, "%s holds \\x00: no NUL in strings",
					what);
			*q++ = (char)(hi << 4 | lo);
			i += 2;
			break;
		default:
			if (p[i] >= 0x20 && p[i] < 0x7f)
				return rawline__bad(l,
						    "%s: unknown escape \\%c",
						    what, p[i]);
			return rawline__bad(l, "%s: unknown escape", what);
		}
	}
	*q = '\0';
	*s = l->scratch;
	*n = (size_t)(q - l->scratch);
	if (*n > RAW_STR_MAX)
		return rawline__bad(l, "%s is longer than %u bytes", what,
				    RAW_STR_MAX);
	l->pos = i + 1;
	if (l->pos < l->len && p[l->pos] != ' ')
		return rawline__bad(l, "%s: text after the closing quote",
				    what);
	rawline__skip_space(l);
	return 0;
}

enum raw_section {
	SEC_META,
	SEC_STR,
	SEC_FRAME,
	SEC_NODE, /* root and node */
	SEC_END,
};

struct rawread {
	struct rawline l;
	struct profile *p;
	enum raw_section section;
	const char *last; /* the kind of the previous record */
	bool seen_meta[META_N];
	bool seen_root;
	uint64_t total;
	locale_t c_locale; /* made when first needed */
	/* The string table: NUL-terminated strings back to back. */
	char *arena;
	size_t arena_len, arena_cap;
	size_t *str_off;
	uint32_t nstrs, strs_cap;
	size_t scratch_cap; /* of l.scratch */
	struct rawin in; /* last: it holds the read buffer */
};

/* A string reference: a str id or '-'. */
static int rawread__ref(struct rawread *r, const char *what, const char **s)
{
	char shown[32];
	const char *p;
	size_t n = 0;
	uint64_t id = 0;
	int err = rawline__field(&r->l, what, &p, &n);

	if (err)
		return err;
	if (n == 1 && p[0] == '-') {
		*s = NULL;
		return 0;
	}
	err = raw__parse_u64(p, n, &id);
	if (err == -EINVAL)
		return rawline__bad(&r->l, "%s \"%s\" is not a string id", what,
				    raw__show(p, n, shown, sizeof(shown)));
	if (err || id >= r->nstrs)
		return rawline__bad(&r->l, "%s refers to missing string %s",
				    what,
				    raw__show(p, n, shown, sizeof(shown)));
	*s = r->arena + r->str_off[id];
	return 0;
}

/* A record's id: the next in its sequence. */
static int rawread__id(struct rawread *r, const char *what, uint32_t expect)
{
	uint64_t id = 0;
	int err = rawline__u64(&r->l, what, UINT64_MAX, &id);

	if (err)
		return err;
	if (id != expect)
		return rawline__bad(&r->l,
				    "%s %" PRIu64
				    " out of sequence (expected %" PRIu32 ")",
				    what, id, expect);
	return 0;
}

/* Add a sample count to the total, which must fit.  A memory profile's
 * counts are int64 bytes stored as two's complement: they wrap. */
static int rawread__count(struct rawread *r, uint64_t n)
{
	const char *mode = r->p->strs[1];
	if ((!mode || strcmp(mode, "memory") != 0) && n > UINT64_MAX - r->total)
		return rawline__bad(&r->l, "sample counts overflow 64 bits");
	r->total += n;
	return 0;
}

/* [-]D[.D][(e|E)[+-]D]: what strtod would read, without its extras. */
static bool raw__is_decimal(const char *p, size_t n)
{
	size_t i = 0, d;

	if (i < n && p[i] == '-')
		i++;
	for (d = i; i < n && p[i] >= '0' && p[i] <= '9'; i++)
		;
	if (i == d)
		return false;
	if (i < n && p[i] == '.')
		for (i++; i < n && p[i] >= '0' && p[i] <= '9'; i++)
			;
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		for (d = i; i < n && p[i] >= '0' && p[i] <= '9'; i++)
			;
		if (i == d)
			return false;
	}
	return i == n;
}

static int rawread__interval(struct rawread *r, double *v)
{
	char buf[64], shown[32];
	const char *p;
	size_t n = 0;
	int err;

	*v = 0;
	if ((err = rawline__field(&r->l, "interval_s", &p, &n)))
		return err;
	if (n >= sizeof(buf) || !raw__is_decimal(p, n))
		return rawline__bad(&r->l, "interval_s \"%s\" is not a number",
				    raw__show(p, n, shown, sizeof(shown)));
	if (!r->c_locale && !(r->c_locale = raw__c_locale()))
		return -ENOMEM;
	memcpy(buf, p, n);
	buf[n] = '\0';
	*v = strtod_l(buf, NULL, r->c_locale);
	if (!isfinite(*v) || *v < 0)
		return rawline__bad(&r->l, "interval_s %s is out of range",
				    buf);
	return 0;
}

/* "meta <key> <value>" */
static int rawread__meta(struct rawread *r)
{
	struct profile *p = r->p;
	char shown[32];
	const char *key, *s;
	size_t n, len;
	int64_t v = 0;
	int k, err = rawline__field(&r->l, "meta key", &key, &n);

	if (err)
		return err;
	for (size_t i = 0; i < n; i++)
		if (!((key[i] >= 'a' && key[i] <= 'z') ||
		      (key[i] >= '0' && key[i] <= '9') || key[i] == '_'))
			return rawline__bad(
				&r->l, "bad meta key \"%s\"",
				raw__show(key, n, shown, sizeof(shown)));
	if (n > RAW_KEY_MAX)
		return rawline__bad(&r->l, "meta key longer than %d bytes",
				    RAW_KEY_MAX);
	for (k = 0; k < META_N; k++)
		if (strlen(raw_meta_keys[k]) == n &&
		    !memcmp(raw_meta_keys[k], key, n))
			break;
	if (k == META_N)
		return 0; /* from a newer psample: its value means nothing here
			   */
	if (r->seen_meta[k])
		return rawline__bad(&r->l, "meta %s given twice",
				    raw_meta_keys[k]);
	r->seen_meta[k] = true;
	switch (k) {
	case META_PID:
		err = rawline__i64(&r->l, "pid", INT32_MIN, INT32_MAX, &v);
		p->meta.pid = (pid_t)v;
		break;
	case META_INTERVAL:
		err = rawread__interval(r, &p->meta.interval_s);
		break;
	case META_START:
		err = rawline__i64(&r->l, "start_unix_ns", INT64_MIN, INT64_MAX,
				   &p->meta.start_unix_ns);
		break;
	case META_DURATION:
		err = rawline__i64(&r->l, "duration_ns", INT64_MIN, INT64_MAX,
				   &p->meta.duration_ns);
		break;
	default:
		err = rawline__string(&r->l, raw_meta_keys[k], true, &s, &len);
		if (!err && s) {
			/* profile.h: strs[] holds cmdline, mode, python. */
			int slot = k == META_CMDLINE ? 0
				   : k == META_MODE  ? 1
						     : 2;

			p->strs[slot] = strdup(s);
			if (!p->strs[slot])
				return -ENOMEM;
		}
		break;
	}
	return err ? err : rawline__end(&r->l);
}

/* "str <id> <string>" */
static int rawread__str(struct rawread *r)
{
	const char *s = NULL;
	size_t n = 0;
	int err;

	if (r->nstrs == UINT32_MAX)
		return rawline__bad(&r->l, "too many strings");
	if ((err = rawread__id(r, "string id", r->nstrs)) ||
	    (err = rawline__string(&r->l, "string", false, &s, &n)) ||
	    (err = rawline__end(&r->l)))
		return err;
	if (r->nstrs == r->strs_cap) {
		uint32_t cap = r->strs_cap ? r->strs_cap * 2 : 256;
		size_t *off;

		if (cap < r->strs_cap)
			cap = UINT32_MAX;
		off = realloc(r->str_off, cap * sizeof(*off));
		if (!off)
			return -ENOMEM;
		r->str_off = off;
		r->strs_cap = cap;
	}
	if (r->arena_cap - r->arena_len < n + 1) {
		size_t cap = r->arena_cap ? r->arena_cap : 4096;
		char *a;

		while (cap - r->arena_len < n + 1)
			cap *= 2;
		a = realloc(r->arena, cap);
		if (!a)
			return -ENOMEM;
		r->arena = a;
		r->arena_cap = cap;
	}
	memcpy(r->arena + r->arena_len, s, n + 1);
	r->str_off[r->nstrs++] = r->arena_len;
	r->arena_len += n + 1;
	return 0;
}

/* "frame <id> <kind> <firstlineno> <line> <num> <name> <file> <func>" */
static int rawread__frame(struct rawread *r)
{
	struct ps_frame f = {0};
	uint32_t id = trie__nframes(r->p->trie), got;
	char shown[32];
	const char *kind;
	size_t n = 0;
	int64_t first = 0, line = 0;
	int err;

	if ((err = rawread__id(r, "frame id", id)) ||
	    (err = rawline__field(&r->l, "frame kind", &kind, &n)))
		return err;
	for (f.kind = 0; f.kind < RAW_NKINDS; f.kind++)
		if (strlen(raw_kinds[f.kind]) == n &&
		    !memcmp(raw_kinds[f.kind], kind, n))
			break;
	if (f.kind == RAW_NKINDS)
		return rawline__bad(&r->l, "unknown frame kind \"%s\"",
				    raw__show(kind, n, shown, sizeof(shown)));
	if ((err = rawline__i64(&r->l, "firstlineno", INT32_MIN, INT32_MAX,
				&first)) ||
	    (err = rawline__i64(&r->l, "line", INT32_MIN, INT32_MAX, &line)) ||
	    (err = rawline__u64(&r->l, "num", UINT64_MAX, &f.num)) ||
	    (err = rawread__ref(r, "name", &f.name)) ||
	    (err = rawread__ref(r, "file", &f.file)) ||
	    (err = rawread__ref(r, "func", &f.func)) ||
	    (err = rawline__end(&r->l)))
		return err;
	f.firstlineno = (int32_t)first;
	f.line = (int32_t)line;
	if ((err = trie__intern(r->p->trie, &f, &got)))
		return err;
	if (got != id)
		return rawline__bad(&r->l,
				    "frame %" PRIu32 " repeats frame %" PRIu32,
				    id, got);
	return 0;
}

/* "root <count>" */
static int rawread__root(struct rawread *r)
{
	uint64_t n = 0;
	int err;

	if (trie__nnodes(r->p->trie) > 1)
		return rawline__bad(&r->l, "root record after node records");
	if (r->seen_root)
		return rawline__bad(&r->l, "a second root record");
	r->seen_root = true;
	if ((err = rawline__u64(&r->l, "root count", UINT64_MAX, &n)) ||
	    (err = rawline__end(&r->l)) || (err = rawread__count(r, n)))
		return err;
	trie__count(r->p->trie, 0, n);
	return 0;
}

/* "node <id> <parent> <frame> <count>" */
static int rawread__node(struct rawread *r)
{
	struct trie *t = r->p->trie;
	uint32_t id = trie__nnodes(t), got;
	uint64_t parent = 0, frame = 0, n = 0;
	int err;

	if ((err = rawread__id(r, "node id", id)) ||
	    (err = rawline__u64(&r->l, "parent", UINT64_MAX, &parent)) ||
	    (err = rawline__u64(&r->l, "frame", UINT64_MAX, &frame)) ||
	    (err = rawline__u64(&r->l, "count", UINT64_MAX, &n)) ||
	    (err = rawline__end(&r->l)))
		return err;
	if (parent >= id)
		return rawline__bad(&r->l,
				    "node %" PRIu32 "'s parent %" PRIu64
				    " is not an earlier node",
				    id, parent);
	if (frame >= trie__nframes(t))
		return rawline__bad(&r->l,
				    "node %" PRIu32
				    " refers to missing frame %" PRIu64,
				    id, frame);
	if ((err = rawread__count(r, n)) ||
	    (err = trie__child(t, (uint32_t)parent, (uint32_t)frame, &got)))
		return err;
	if (got != id)
		return rawline__bad(&r->l,
				    "node %" PRIu32 " repeats node %" PRIu32
				    " (same parent and frame)",
				    id, got);
	trie__count(t, id, n);
	return 0;
}

/* "end <strings> <frames> <nodes> <samples>" */
static int rawread__end(struct rawread *r)
{
	const struct trie *t = r->p->trie;
	const struct {
		const char *what;
		uint64_t have;
	} want[] = {
		{"strings", r->nstrs},
		{"frames", trie__nframes(t)},
		{"nodes", trie__nnodes(t)},
		{"samples", r->total},
	};
	uint64_t v = 0;
	int err;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if ((err = rawline__u64(&r->l, want[i].what, UINT64_MAX, &v)))
			return err;
		if (v != want[i].have)
			return rawline__bad(&r->l,
					    "the end line counts %" PRIu64
					    " %s, the file has %" PRIu64,
					    v, want[i].what, want[i].have);
	}
	return rawline__end(&r->l);
}

static const struct {
	const char *kind;
	enum raw_section section;
	int (*read)(struct rawread *r);
} raw_records[] = {
	{"meta", SEC_META, rawread__meta},    {"str", SEC_STR, rawread__str},
	{"frame", SEC_FRAME, rawread__frame}, {"root", SEC_NODE, rawread__root},
	{"node", SEC_NODE, rawread__node},    {"end", SEC_END, rawread__end},
};

static int rawread__record(struct rawread *r)
{
	char shown[32];
	const char *kind;
	size_t n, i;
	int err = rawline__field(&r->l, "record kind", &kind, &n);

	if (err)
		return err;
	for (i = 0; i < sizeof(raw_records) / sizeof(raw_records[0]); i++)
		if (strlen(raw_records[i].kind) == n &&
		    !memcmp(raw_records[i].kind, kind, n))
			break;
	if (i == sizeof(raw_records) / sizeof(raw_records[0]))
		return rawline__bad(&r->l, "unknown record \"%s\"",
				    raw__show(kind, n, shown, sizeof(shown)));
	if (raw_records[i].section < r->section)
		return rawline__bad(&r->l,
				    "%s record after a %s record (the order is "
				    "meta, str, frame, root, node, end)",
				    raw_records[i].kind, r->last);
	r->section = raw_records[i].section;
	r->last = raw_records[i].kind;
	return raw_records[i].read(r);
}

/* The first line: the magic and a version this reader knows. */
static int rawread__header(struct rawread *r)
{
	const size_t mlen = strlen(RAW_MAGIC);
	char shown[32];
	uint64_t version = 0;
	int st = rawin__next(&r->in);
	const char *line = r->in.line;
	size_t len = r->in.len;

	r->l.no = 1;
	if (st < 0)
		return st;
	if (st == RAWIN_EOF)
		return rawline__bad(&r->l, "the file is empty");
	if (memcmp(line, RAW_MAGIC, len < mlen ? len : mlen) != 0 ||
	    (len < mlen && st != RAWIN_PARTIAL))
		return rawline__bad(&r->l, "not a psample profile (it does "
					   "not start with \"" RAW_MAGIC "\")");
	if (st == RAWIN_PARTIAL)
		return rawline__bad(&r->l, "the file ends in its first line "
					   "(truncated)");
	if (st == RAWIN_LONG ||
	    raw__parse_u64(line + mlen, len - mlen, &version))
		return rawline__bad(&r->l, "bad version \"%s\"",
				    raw__show(line + mlen, len - mlen, shown,
					      sizeof(shown)));
	if (version != RAW_VERSION)
		return rawline__bad(&r->l,
				    "profile format version %" PRIu64
				    " is %s than this psample reads (%d)",
				    version,
				    version > RAW_VERSION ? "newer" : "older",
				    RAW_VERSION);
	return 0;
}

static int rawread__run(struct rawread *r)
{
	int err = rawread__header(r);

	while (!err) {
		int st = rawin__next(&r->in);
		size_t need = r->in.len + 1;

		r->l = (struct rawline){
			.s = r->in.line,
			.len = r->in.len,
			.scratch = r->l.scratch,
			.no = r->in.no,
			.why = r->l.why,
			.why_len = r->l.why_len,
		};
		if (st < 0)
			return st;
		if (st == RAWIN_EOF)
			return r->section == SEC_END
				       ? 0
				       : rawline__bad(
						 &r->l,
						 "the file ends without "
						 "an end line (truncated)");
		if (r->section == SEC_END)
			return rawline__bad(&r->l, "data after the end line");
		if (st == RAWIN_PARTIAL)
			return rawline__bad(&r->l, "the file ends inside this "
						   "line (truncated)");
		if (st == RAWIN_LONG)
			return rawline__bad(&r->l, "longer than %u bytes",
					    RAW_LINE_MAX);
		if (memchr(r->in.line, '\0', r->in.len))
			return rawline__bad(&r->l, "a NUL byte");
		/* Decoded strings are never longer than the line. */
		if (r->scratch_cap < need) {
			char *s = realloc(r->l.scratch, r->in.cap);

			if (!s)
				return -ENOMEM;
			r->l.scratch = s;
			r->scratch_cap = r->in.cap;
		}
		err = rawread__record(r);
	}
	return err;
}

void profile__free(struct profile *p)
{
	if (!p)
		return;
	trie__free(p->trie);
	for (size_t i = 0; i < sizeof(p->strs) / sizeof(p->strs[0]); i++)
		free(p->strs[i]);
	free(p);
}

int profile__read(const char *path, struct profile **out, char *why,
		  size_t why_len)
{
	struct rawread *r;
	int err;

	if (why && why_len)
		why[0] = '\0';
	if (!out || !path)
		return -EINVAL;
	*out = NULL;
	/* On the heap: the read buffer is too big for a stack. */
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->l.why = why;
	r->l.why_len = why_len;
	r->p = calloc(1, sizeof(*r->p));
	if (r->p)
		r->p->trie = trie__new();
	err = r->p && r->p->trie ? 0 : -ENOMEM;
	if (!err) {
		r->in.f = fopen(path, "re");
		if (!r->in.f)
			err = -errno;
	}
	if (!err)
		err = rawread__run(r);
	if (!err) {
		struct profile *p = r->p;

		p->meta.cmdline = p->strs[0];
		p->meta.mode = p->strs[1];
		p->meta.python = p->strs[2];
		*out = p;
		r->p = NULL;
	}
	if (r->in.f)
		(void)fclose(r->in.f);
	if (r->c_locale)
		freelocale(r->c_locale);
	profile__free(r->p);
	free(r->in.line);
	free(r->l.scratch);
	free(r->arena);
	free(r->str_off);
	free(r);
	return err;
}
