/*
 * test_raw.c - unit tests for psample's own profile format: the exact
 * text for a known trie, lossless round trips (awkward strings, every
 * frame kind, extreme metadata, many random stacks checked against an
 * independent reference), byte-identical rewriting, rejection of foreign,
 * truncated and corrupt files with a reason, and a fuzzer of the reader.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "psample/error.h"
#include "psample/output.h"
#include "psample/profile.h"
#include "psample/trie.h"
#include "utf8check.h"

/* Kept in step with profile.c: the longest string the format holds. */
#define RAW_STR_MAX (1u << 20)

/* ---- helpers ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rng(void)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dULL) >> 32);
}

/* One scratch directory per test binary, for the files profile__read
 * takes by path. */
static char tmpdir[64];

static int setup_dir(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/psample-test-raw.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char path[512];

	(void)state;
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		(void)snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
		(void)unlink(path);
	}
	closedir(d);
	return rmdir(tmpdir);
}

static const char *tmp_path(const char *name)
{
	static char path[256];

	(void)snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return path;
}

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* The raw text for t and m, as psample would write it. */
static char *raw_text(const struct trie *t, const struct profile_meta *m,
		      size_t *len)
{
	const struct output_format *fmt = output__find("raw");
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	assert_non_null(fmt);
	assert_true(fmt->flags & OUT_RAW);
	assert_non_null(f);
	assert_int_equal(fmt->write(f, t, m, NULL), 0);
	assert_int_equal(fclose(f), 0);
	*len = n;
	return buf;
}

/*
 * Read data as a profile file; why gets the reason.  The file is a memfd
 * reached by path: the fuzzer reads tens of thousands of files, and a
 * disk file truncated and rewritten that often is flushed each time.
 */
static int read_text(const char *data, size_t len, struct profile **p,
		     char *why, size_t why_len)
{
	static int fd = -1;
	char path[64];

	if (fd < 0)
		fd = memfd_create("psample-test-raw", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(pwrite(fd, data, len, 0), (ssize_t)len);
	(void)snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return profile__read(path, p, why, why_len);
}

static struct profile *read_ok(const char *data, size_t len)
{
	struct profile *p = NULL;
	char why[256];
	int err = read_text(data, len, &p, why, sizeof(why));

	if (err)
		print_error("read failed: %d (%s) %s\n", err, ps_strerror(err),
			    why);
	assert_int_equal(err, 0);
	assert_non_null(p);
	assert_string_equal(why, "");
	return p;
}

static uint32_t intern(struct trie *t, uint32_t kind, int first, int line,
		       uint64_t num, const char *name, const char *file,
		       const char *func)
{
	struct ps_frame f = {.kind = kind,
			     .firstlineno = first,
			     .line = line,
			     .num = num,
			     .name = name,
			     .file = file,
			     .func = func};
	uint32_t id = UINT32_MAX;

	assert_int_equal(trie__intern(t, &f, &id), 0);
	return id;
}

static void assert_str_or_null(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_meta_equal(const struct profile_meta *a,
			      const struct profile_meta *b)
{
	assert_int_equal(a->pid, b->pid);
	assert_true(a->interval_s == b->interval_s);
	assert_int_equal(a->start_unix_ns, b->start_unix_ns);
	assert_int_equal(a->duration_ns, b->duration_ns);
	assert_str_or_null(a->cmdline, b->cmdline);
	assert_str_or_null(a->mode, b->mode);
	assert_str_or_null(a->python, b->python);
}

/*
 * The reader keeps ids (the format says so), so the tries must be equal
 * field by field, frame by frame and node by node.
 */
static void assert_trie_equal(const struct trie *a, const struct trie *b)
{
	assert_int_equal(trie__nframes(a), trie__nframes(b));
	for (uint32_t i = 0; i < trie__nframes(a); i++) {
		const struct ps_frame *x = trie__frame(a, i);
		const struct ps_frame *y = trie__frame(b, i);

		assert_int_equal(x->kind, y->kind);
		assert_int_equal(x->firstlineno, y->firstlineno);
		assert_int_equal(x->line, y->line);
		assert_int_equal(x->num, y->num);
		assert_str_or_null(x->name, y->name);
		assert_str_or_null(x->file, y->file);
		assert_str_or_null(x->func, y->func);
	}
	assert_int_equal(trie__nnodes(a), trie__nnodes(b));
	for (uint32_t i = 0; i < trie__nnodes(a); i++) {
		const struct trie_node *x = trie__node(a, i);
		const struct trie_node *y = trie__node(b, i);

		assert_int_equal(x->parent, y->parent);
		assert_int_equal(x->frame, y->frame);
		assert_int_equal(x->self, y->self);
	}
	assert_int_equal(trie__total(a), trie__total(b));
}

/*
 * Write t, read it back, compare everything, write again and compare
 * bytes.  Returns the text (to free) for more checks.
 */
static char *round_trip(const struct trie *t, const struct profile_meta *m,
			size_t *len)
{
	static const struct profile_meta none;
	char *text = raw_text(t, m, len), *again, *twice;
	size_t again_len, twice_len;
	struct profile *p = read_ok(text, *len);

	assert_trie_equal(t, p->trie);
	assert_meta_equal(m ? m : &none, &p->meta);
	assert_ptr_equal(p->meta.cmdline, p->strs[0]);
	assert_ptr_equal(p->meta.mode, p->strs[1]);
	assert_ptr_equal(p->meta.python, p->strs[2]);

	/* Deterministic: the same trie writes the same bytes... */
	twice = raw_text(t, m, &twice_len);
	assert_int_equal(twice_len, *len);
	assert_memory_equal(twice, text, *len);
	/* ... and so does the profile read back. */
	again = raw_text(p->trie, &p->meta, &again_len);
	assert_int_equal(again_len, *len);
	assert_memory_equal(again, text, *len);
	free(again);
	free(twice);
	profile__free(p);
	return text;
}

/* Valid UTF-8, no control bytes but the LF ending each line. */
static size_t assert_clean_lines(const char *text, size_t len)
{
	size_t lines = 0;

	assert_true(utf8_valid(text, len));
	assert_true(len > 0 && text[len - 1] == '\n');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == '\n')
			lines++;
		else
			assert_true(c >= 0x20 && c != 0x7f);
	}
	return lines;
}

/* ---- the text for a known trie ---- */

static const char golden[] = "# psample profile v1\n"
			     "meta pid 4242\n"
			     "meta interval_s 0.01\n"
			     "meta start_unix_ns 1700000000123456789\n"
			     "meta duration_ns 5000000000\n"
			     "meta mode \"wall\"\n"
			     "meta python \"3.11.7\"\n"
			     "meta cmdline \"python3 app.py \\\"x y\\\"\"\n"
			     "str 0 \"MainThread\"\n"
			     "str 1 \"main\"\n"
			     "str 2 \"/app/main.py\"\n"
			     "str 3 \"Worker.run\"\n"
			     "str 4 \"run\"\n"
			     "str 5 \"[truncated]\"\n"
			     "str 6 \"python3 app.py\"\n"
			     "frame 0 thread 0 -1 1001 0 - -\n"
			     "frame 1 python 1 2 0 1 2 1\n"
			     "frame 2 python 5 7 0 3 2 4\n"
			     "frame 3 special 0 -1 0 5 - -\n"
			     "frame 4 process 0 -1 4242 6 - -\n"
			     "root 3\n"
			     "node 1 0 0 0\n"
			     "node 2 1 1 2\n"
			     "node 3 2 2 30\n"
			     "node 4 1 3 1\n"
			     "end 7 5 5 36\n";

static const struct profile_meta golden_meta = {
	.pid = 4242,
	.interval_s = 1.0 / 100,
	.start_unix_ns = 1700000000123456789LL,
	.duration_ns = 5000000000LL,
	.cmdline = "python3 app.py \"x y\"",
	.mode = "wall",
	.python = "3.11.7",
};

static struct trie *golden_trie(void)
{
	struct trie *t = trie__new();
	uint32_t th, mn, run, tr;

	assert_non_null(t);
	th = intern(t, PS_FRAME_THREAD, 0, -1, 1001, "MainThread", NULL, NULL);
	mn = intern(t, PS_FRAME_PYTHON, 1, 2, 0, "main", "/app/main.py",
		    "main");
	run = intern(t, PS_FRAME_PYTHON, 5, 7, 0, "Worker.run", "/app/main.py",
		     "run");
	tr = intern(t, PS_FRAME_SPECIAL, 0, -1, 0, "[truncated]", NULL, NULL);
	/* Interned but in no stack: kept all the same. */
	(void)intern(t, PS_FRAME_PROCESS, 0, -1, 4242, "python3 app.py", NULL,
		     NULL);
	{
		uint32_t s1[] = {th, mn, run}, s2[] = {th, mn}, s3[] = {th, tr};

		assert_int_equal(trie__add_stack(t, s1, 3, 30), 0);
		assert_int_equal(trie__add_stack(t, s2, 2, 2), 0);
		assert_int_equal(trie__add_stack(t, s3, 2, 1), 0);
		assert_int_equal(trie__add_stack(t, s1, 0, 3), 0);
	}
	return t;
}

static void test_golden_text(void **state)
{
	struct trie *t = golden_trie();
	size_t len;
	char *text;

	(void)state;
	text = round_trip(t, &golden_meta, &len);
	if (len != strlen(golden) || memcmp(text, golden, len) != 0)
		print_error("got:\n%.*s", (int)len, text);
	assert_int_equal(len, strlen(golden));
	assert_memory_equal(text, golden, len);
	assert_clean_lines(text, len);
	free(text);
	trie__free(t);
}

/* ---- round trips ---- */

static void test_awkward_strings(void **state)
{
	static char longname[200001];
	static const char *const names[] = {
		"",
		"-",
		"\"",
		"a;b;c",
		"with space",
		" leading and trailing ",
		"line\nbreak",
		"tab\there",
		"cr\rlf\r\n",
		"back\\slash\\",
		"\\x41 \\n not escapes",
		"quote\"d\"",
		"ünïcødé 日本語 🐍",
		"invalid \xff\xfe bytes",
		"cut \xc3",
		"cut at end \xe6\x97",
		"surrogate \xed\xa0\x80",
		"overlong \xc0\xaf \xe0\x80\xaf",
		"above max \xf4\x90\x80\x80",
		"controls \x01\x1b\x7f",
		"<module>",
		"0 1 2",
		longname,
	};
	const size_t nnames = sizeof(names) / sizeof(names[0]);
	struct trie *t = trie__new();
	struct profile_meta m = {
		.pid = 1,
		.interval_s = 0.001,
		.cmdline = "python3 -c \"print('a;b')\"\n\t\xff",
		.mode = "",
		.python = NULL,
	};
	uint32_t ids[64], nids = 0;
	size_t len, lines;
	char *text;

	(void)state;
	assert_non_null(t);
	memset(longname, 'q', sizeof(longname) - 1);
	longname[1000] = '\n';
	longname[1001] = '\xff';
	longname[1002] = '"';
	for (size_t i = 0; i < nnames; i++) {
		/* The string as each field, and next to NULL. */
		ids[nids++] = intern(t, PS_FRAME_PYTHON, (int)i, -1, 0,
				     names[i], names[(i + 1) % nnames],
				     names[(i + 2) % nnames]);
		ids[nids++] = intern(t, PS_FRAME_SPECIAL, 0, 0, 0, names[i],
				     NULL, NULL);
	}
	ids[nids++] = intern(t, PS_FRAME_PYTHON, 1, 1, 0, NULL, NULL, NULL);
	ids[nids++] = intern(t, PS_FRAME_PYTHON, 1, 1, 0, "", "", "");
	ids[nids++] = intern(t, PS_FRAME_PYTHON, INT32_MIN, INT32_MAX, 0, "x",
			     "x", "x");
	ids[nids++] =
		intern(t, PS_FRAME_THREAD, 0, -1, UINT64_MAX, NULL, NULL, NULL);
	ids[nids++] = intern(t, PS_FRAME_THREAD, 0, -1, 7, "", NULL, NULL);
	ids[nids++] =
		intern(t, PS_FRAME_PROCESS, 0, -1, 99, "cmd \n", NULL, NULL);
	assert_true(nids <= 64);
	assert_int_equal(trie__nframes(t), nids);
	for (int s = 0; s < 500; s++) {
		uint32_t stack[8];
		size_t depth = rng() % 9;

		for (size_t d = 0; d < depth; d++)
			stack[d] = ids[rng() % nids];
		assert_int_equal(
			trie__add_stack(t, stack, depth, 1 + rng() % 3), 0);
	}
	text = round_trip(t, &m, &len);
	/* One record per line, whatever the strings hold. */
	lines = assert_clean_lines(text, len);
	{
		struct profile *p = read_ok(text, len);
		size_t strs = 0;

		for (const char *l = text; l < text + len;
		     l = strchr(l, '\n') + 1)
			strs += !strncmp(l, "str ", 4);
		/* Every distinct string once; none for NULL. */
		assert_int_equal(strs, nnames + 2);
		assert_int_equal(lines, 1 + 7 + strs + trie__nframes(t) + 1 +
						(trie__nnodes(t) - 1) + 1);
		/* "-" the string and '-' the none stay apart. */
		assert_string_equal(trie__frame(p->trie, ids[2])->name, "-");
		assert_null(trie__frame(p->trie, ids[2 * nnames])->name);
		assert_string_equal(trie__frame(p->trie, ids[0])->name, "");
		assert_int_equal(
			strlen(trie__frame(p->trie, ids[2 * (nnames - 1)])
				       ->name),
			sizeof(longname) - 1);
		profile__free(p);
	}
	free(text);
	trie__free(t);
}

/* The reference: every sampled stack as a fixed-size record, sorted. */
#define MAXDEPTH 12

struct ref_stack {
	uint32_t depth;
	uint32_t frames[MAXDEPTH]; /* indices into the frame pool */
	uint64_t count;
};

static int ref_cmp(const void *a, const void *b)
{
	const struct ref_stack *x = a, *y = b;

	if (x->depth != y->depth)
		return x->depth < y->depth ? -1 : 1;
	return memcmp(x->frames, y->frames, x->depth * sizeof(x->frames[0]));
}

/* Frame pool entry i, as a frame whose fields all encode i. */
static struct ps_frame pool_frame(uint32_t i, char *name, char *file, size_t n)
{
	struct ps_frame f = {0};

	(void)snprintf(name, n, "f%u;%s", i, i % 3 ? "x y" : "\xce\xbb\n");
	(void)snprintf(file, n, "/src/m%u.py", i % 37);
	f.kind = i < 8 ? PS_FRAME_THREAD : PS_FRAME_PYTHON;
	f.num = i < 8 ? 1000 + i : 0;
	f.firstlineno = (int32_t)i;
	f.line = i % 5 ? (int32_t)i * 3 : -1;
	f.name = i % 11 ? name : NULL;
	f.file = i < 8 ? NULL : file;
	f.func = i < 8 ? NULL : i % 7 ? "func" : "";
	return f;
}

/*
 * Many random stacks: written, read back, and every counted stack of the
 * read profile found in the reference with its count (by frame content,
 * not by id), and every reference stack found.
 */
static void test_random_stacks(void **state)
{
	enum { NSAMPLES = 40000, NFRAMES = 2000 };
	struct trie *t = trie__new();
	struct ref_stack *ref = calloc(NSAMPLES, sizeof(*ref));
	uint32_t *ids = malloc(NFRAMES * sizeof(*ids));
	struct profile_meta m = {.pid = 77, .interval_s = 1.0 / 97};
	uint64_t total = 0;
	size_t nref = 0, nonzero = 0, len;
	struct profile *p;
	char *text;

	(void)state;
	assert_non_null(t);
	assert_non_null(ref);
	assert_non_null(ids);
	for (uint32_t i = 0; i < NFRAMES; i++) {
		char name[64], file[64];
		struct ps_frame f = pool_frame(i, name, file, sizeof(name));

		assert_int_equal(trie__intern(t, &f, &ids[i]), 0);
	}
	for (int s = 0; s < NSAMPLES; s++) {
		struct ref_stack *r = &ref[s];
		uint32_t frames[MAXDEPTH];

		r->depth = 1 + rng() % MAXDEPTH;
		for (uint32_t d = 0; d < r->depth; d++) {
			/* A thread root first, then shared, then varied. */
			uint32_t lo = d ? 8 : 0,
				 pool = d ? d < 4 ? 30 : NFRAMES - 8 : 8;

			r->frames[d] = lo + rng() % pool;
			frames[d] = ids[r->frames[d]];
		}
		r->count = 1 + rng() % 1000;
		total += r->count;
		assert_int_equal(trie__add_stack(t, frames, r->depth, r->count),
				 0);
	}
	qsort(ref, NSAMPLES, sizeof(*ref), ref_cmp);
	for (size_t i = 0; i < NSAMPLES; i++) {
		if (nref && !ref_cmp(&ref[nref - 1], &ref[i]))
			ref[nref - 1].count += ref[i].count;
		else
			ref[nref++] = ref[i];
	}
	assert_true(nref < NSAMPLES); /* some stacks repeat */

	text = round_trip(t, &m, &len);
	p = read_ok(text, len);
	assert_int_equal(trie__total(p->trie), total);
	for (uint32_t id = 1; id < trie__nnodes(p->trie); id++) {
		const struct trie_node *n = trie__node(p->trie, id);
		struct ref_stack key = {0};
		struct ref_stack *hit;
		uint32_t path[MAXDEPTH];

		if (!n->self)
			continue;
		nonzero++;
		for (uint32_t k = id; k; k = trie__node(p->trie, k)->parent) {
			assert_true(key.depth < MAXDEPTH);
			path[key.depth++] = trie__node(p->trie, k)->frame;
		}
		for (uint32_t d = 0; d < key.depth; d++) {
			const struct ps_frame *f =
				trie__frame(p->trie, path[key.depth - 1 - d]);
			char name[64], file[64];
			struct ps_frame want;

			/* The pool index is in firstlineno; every field
			 * must match what the pool made for it. */
			key.frames[d] = (uint32_t)f->firstlineno;
			want = pool_frame(key.frames[d], name, file,
					  sizeof(name));
			assert_int_equal(f->kind, want.kind);
			assert_int_equal(f->line, want.line);
			assert_int_equal(f->num, want.num);
			assert_str_or_null(f->name, want.name);
			assert_str_or_null(f->file, want.file);
			assert_str_or_null(f->func, want.func);
		}
		hit = bsearch(&key, ref, nref, sizeof(*ref), ref_cmp);
		assert_non_null(hit);
		assert_int_equal(n->self, hit->count);
	}
	assert_int_equal(nonzero, nref);
	profile__free(p);
	free(text);
	free(ref);
	free(ids);
	trie__free(t);
}

static void test_empty_and_root_only(void **state)
{
	struct trie *t = trie__new();
	size_t len;
	char *text;

	(void)state;
	assert_non_null(t);
	/* Nothing at all, and no metadata. */
	text = round_trip(t, NULL, &len);
	assert_string_equal(strstr(text, "meta cmdline"),
			    "meta cmdline -\nroot 0\nend 0 0 1 0\n");
	free(text);
	/* Samples with no frame: counted at the root. */
	assert_int_equal(trie__add_stack(t, NULL, 0, 5), 0);
	text = round_trip(t, NULL, &len);
	assert_non_null(strstr(text, "\nroot 5\nend 0 0 1 5\n"));
	free(text);
	/* A node nobody counted (trie__child creates with 0) is kept. */
	{
		uint32_t f =
			intern(t, PS_FRAME_SPECIAL, 0, 0, 0, "x", NULL, NULL);
		uint32_t node;

		assert_int_equal(trie__child(t, 0, f, &node), 0);
		text = round_trip(t, NULL, &len);
		assert_non_null(strstr(text, "\nnode 1 0 0 0\nend 1 1 2 5\n"));
		free(text);
	}
	trie__free(t);
}

static void test_meta_values(void **state)
{
	static const struct {
		double in, out;
		const char *text;
	} intervals[] = {
		{0.01, 0.01, "0.01"},
		{1.0 / 97, 1.0 / 97, NULL},
		{1.0 / 3, 1.0 / 3, "0.3333333333333333"},
		{1e-9, 1e-9, "1e-09"},
		{5e-324, 5e-324, "5e-324"},
		{DBL_MAX, DBL_MAX, "1.7976931348623157e+308"},
		{2.5, 2.5, "2.5"},
		{0, 0, "0"},
		{-0.0, 0, "0"},
		{-1, 0, "0"},
		{NAN, 0, "0"},
		{INFINITY, 0, "0"},
	};
	struct trie *t = trie__new();

	(void)state;
	assert_non_null(t);
	for (size_t i = 0; i < sizeof(intervals) / sizeof(intervals[0]); i++) {
		struct profile_meta m = {.interval_s = intervals[i].in};
		size_t len;
		char *text = raw_text(t, &m, &len);
		struct profile *p = read_ok(text, len);
		char want[64];

		assert_true(p->meta.interval_s == intervals[i].out);
		if (intervals[i].text) {
			(void)snprintf(want, sizeof(want),
				       "\nmeta interval_s %s\n",
				       intervals[i].text);
			assert_non_null(strstr(text, want));
		}
		/* Stable once read. */
		if (intervals[i].in == intervals[i].out)
			free(round_trip(t, &m, &len));
		free(text);
		profile__free(p);
	}
	{
		struct profile_meta lo = {.pid = INT32_MIN,
					  .start_unix_ns = INT64_MIN,
					  .duration_ns = INT64_MIN};
		struct profile_meta hi = {.pid = INT32_MAX,
					  .start_unix_ns = INT64_MAX,
					  .duration_ns = INT64_MAX,
					  .cmdline = "",
					  .mode = "-",
					  .python = "3.13.0+"};
		size_t len;

		free(round_trip(t, &lo, &len));
		free(round_trip(t, &hi, &len));
	}
	trie__free(t);
}

/* Numbers in the C locale whatever the program's locale says. */
static void test_locale_independent(void **state)
{
	static const char *const locales[] = {"de_DE.UTF-8", "fr_FR.UTF-8",
					      "de_DE", "fr_FR"};
	struct trie *t = trie__new();
	struct profile_meta m = {.interval_s = 0.25};
	const char *set = NULL;
	size_t len;
	char *text;

	(void)state;
	assert_non_null(t);
	/* Only a locale with a decimal comma tests anything. */
	for (size_t i = 0; i < 4 && !set; i++)
		if ((set = setlocale(LC_NUMERIC, locales[i])) &&
		    strcmp(localeconv()->decimal_point, ",") != 0)
			set = NULL;
	text = raw_text(t, &m, &len);
	assert_non_null(strstr(text, "\nmeta interval_s 0.25\n"));
	free(round_trip(t, &m, &len));
	(void)setlocale(LC_NUMERIC, "C");
	if (!set)
		print_message("# no decimal-comma locale installed: "
			      "tested in C only\n");
	free(text);
	trie__free(t);
}

/* A file from a newer psample with extra meta keys; CRLF line ends. */
static void test_forward_compatible(void **state)
{
	static const char extra[] = "# psample profile v1\n"
				    "meta future_key 12 \"anything\" at all\n"
				    "meta gc_mode \"unterminated\n"
				    "meta x9_\n"
				    "meta pid 4242\n";
	struct trie *t = golden_trie();
	size_t len, glen = strlen(golden);
	char *text, *crlf = malloc(2 * glen);
	struct profile *p;

	(void)state;
	assert_non_null(crlf);
	/* The golden text with extra instead of its header and pid line. */
	assert_true(asprintf(&text, "%s%s", extra,
			     strstr(golden, "meta pid 4242\n") +
				     strlen("meta pid 4242\n")) > 0);
	p = read_ok(text, strlen(text));
	assert_trie_equal(t, p->trie);
	assert_meta_equal(&golden_meta, &p->meta);
	free(text);
	text = raw_text(p->trie, &p->meta, &len);
	assert_int_equal(len, glen);
	assert_memory_equal(text, golden, len);
	free(text);
	profile__free(p);

	len = 0;
	for (size_t i = 0; i < glen; i++) {
		if (golden[i] == '\n')
			crlf[len++] = '\r';
		crlf[len++] = golden[i];
	}
	p = read_ok(crlf, len);
	assert_trie_equal(t, p->trie);
	profile__free(p);
	free(crlf);
	trie__free(t);
}

static void test_string_limits(void **state)
{
	struct trie *t = trie__new();
	char *big = malloc(RAW_STR_MAX + 2);
	const struct output_format *fmt = output__find("raw");
	size_t len;
	char *text;
	FILE *f;

	(void)state;
	assert_non_null(t);
	assert_non_null(big);
	/* The longest string, all of it escaped: the longest line. */
	memset(big, 0xff, RAW_STR_MAX);
	big[RAW_STR_MAX] = '\0';
	(void)intern(t, PS_FRAME_SPECIAL, 0, 0, 0, big, NULL, NULL);
	text = round_trip(t, NULL, &len);
	assert_true(len > 4 * RAW_STR_MAX);
	free(text);
	trie__free(t);

	/* One byte more cannot be written (nor read back). */
	t = trie__new();
	assert_non_null(t);
	memset(big, 'a', RAW_STR_MAX + 1);
	big[RAW_STR_MAX + 1] = '\0';
	(void)intern(t, PS_FRAME_SPECIAL, 0, 0, 0, big, NULL, NULL);
	f = tmpfile();
	assert_non_null(f);
	assert_int_equal(fmt->write(f, t, NULL, NULL), -E2BIG);
	fclose(f);
	{
		struct profile_meta m = {.cmdline = big};
		struct trie *e = trie__new();

		f = tmpfile();
		assert_non_null(f);
		assert_int_equal(fmt->write(f, e, &m, NULL), -E2BIG);
		fclose(f);
		trie__free(e);
	}
	free(big);
	trie__free(t);
}

static void test_write_errors(void **state)
{
	const struct output_format *fmt = output__find("raw");
	struct trie *t = golden_trie();
	FILE *f;

	(void)state;
	f = fopen("/dev/full", "w");
	if (f) {
		setvbuf(f, NULL, _IONBF, 0);
		assert_int_equal(fmt->write(f, t, &golden_meta, NULL), -ENOSPC);
		fclose(f);
	}
	f = tmpfile();
	assert_non_null(f);
	assert_int_equal(fmt->write(f, NULL, NULL, NULL), -EINVAL);
	/* A kind no reader knows is not written. */
	(void)intern(t, 9, 0, 0, 0, "bad", NULL, NULL);
	assert_int_equal(fmt->write(f, t, NULL, NULL), -EINVAL);
	fclose(f);
	trie__free(t);
}

/* ---- bad input ---- */

/* Reading data must fail as a bad profile with a reason containing want. */
static void assert_bad(const char *data, size_t len, const char *want)
{
	struct profile *p = (struct profile *)&p;
	char why[256];
	int err = read_text(data, len, &p, why, sizeof(why));

	if (err != -PS_EBADPROFILE || !strstr(why, want))
		print_error("want \"%s\", got %d: %s\n", want, err, why);
	assert_int_equal(err, -PS_EBADPROFILE);
	assert_null(p);
	assert_true(!strncmp(why, "line ", 5));
	assert_non_null(strstr(why, want));
	assert_null(strchr(why, '\n'));
}

static void test_foreign_files(void **state)
{
	static const unsigned char png[] = {0x89, 'P',	'N', 'G', '\r', '\n',
					    0x1a, '\n', 0,   0,	  0,	13,
					    'I',  'H',	'D', 'R'};
	/* What marshal.dump of a pstats dict starts with. */
	static const unsigned char pstats[] = {0xfb, 0xa9, 0x03, 0x00, 0x00,
					       0x00, 0xda, 0x06, 'a',  'p',
					       'p',  '.',  'p',	 'y',  0xe9};
	static const unsigned char gzip[] = {0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0};
	static const struct {
		const char *text, *why;
	} cases[] = {
		{"", "line 1: the file is empty"},
		{"thread 1 (main);main (a.py:2);f (a.py:3) 30\n",
		 "line 1: not a psample profile"},
		{"{\"$schema\": \"https://www.speedscope.app/file-format\"}\n",
		 "not a psample profile"},
		{"# psample profile\n", "not a psample profile"},
		{"# psample profile v2\n", "version 2 is newer"},
		{"# psample profile v0\n", "version 0 is older"},
		{"# psample profile v1.1\n", "bad version \"1.1\""},
		{"# psample profile v\n", "bad version"},
		{"# psample profile v1 \n", "bad version"},
		{"# psample profile v99999999999999999999999\n", "bad version"},
		{"# psample profile v1", "ends in its first line (truncated)"},
		{"# psample pro", "ends in its first line (truncated)"},
		{"#", "ends in its first line (truncated)"},
		{"# psample profile v1\n", "line 2: the file ends without an "
					   "end line (truncated)"},
		{"# psample profile v1\n\n", "line 2: record kind missing"},
		{"# psample profile v1\n# psample profile v1\n",
		 "unknown record \"#\""},
	};
	char *big;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_bad(cases[i].text, strlen(cases[i].text), cases[i].why);
	assert_bad((const char *)png, sizeof(png), "not a psample profile");
	assert_bad((const char *)pstats, sizeof(pstats),
		   "not a psample profile");
	assert_bad((const char *)gzip, sizeof(gzip), "not a psample profile");

	/* Binary with NULs, and one endless line: rejected early. */
	big = malloc(5u << 20);
	assert_non_null(big);
	for (size_t i = 0; i < 4096; i++)
		big[i] = (char)rng();
	big[0] = 0;
	assert_bad(big, 4096, "not a psample profile");
	memset(big, 'a', 5u << 20);
	assert_bad(big, 5u << 20, "not a psample profile");
	memcpy(big, "# psample profile v1\nmeta x ", 28);
	assert_bad(big, 5u << 20, "line 2: longer than");
	memset(big, 'a', 5u << 20);
	memcpy(big, "# psample profile v1", 20);
	assert_bad(big, 5u << 20, "line 1: bad version");
	free(big);
}

static void test_io_errors(void **state)
{
	struct profile *p = NULL;
	char why[128] = "stale";

	(void)state;
	assert_int_equal(
		profile__read(tmp_path("missing"), &p, why, sizeof(why)),
		-ENOENT);
	assert_null(p);
	assert_string_equal(why, "");
	assert_int_equal(profile__read(tmpdir, &p, why, sizeof(why)), -EISDIR);
	assert_null(p);
	assert_int_equal(profile__read(NULL, &p, why, sizeof(why)), -EINVAL);
	/* No room for a reason is fine too. */
	write_file(tmp_path("x"), "junk", 4);
	assert_int_equal(profile__read(tmp_path("x"), &p, NULL, 0),
			 -PS_EBADPROFILE);
	assert_int_equal(profile__read(tmp_path("x"), &p, why, 8),
			 -PS_EBADPROFILE);
	assert_string_equal(why, "line 1:");
	if (geteuid() != 0) {
		assert_int_equal(chmod(tmp_path("x"), 0), 0);
		assert_int_equal(
			profile__read(tmp_path("x"), &p, why, sizeof(why)),
			-EACCES);
	}
	profile__free(NULL);
}

/*
 * Cut a valid file at every byte: never accepted, always "truncated"
 * (or "empty") with the line it happened on.
 */
static void test_truncation(void **state)
{
	struct trie *t = golden_trie();
	uint32_t f = intern(t, PS_FRAME_PYTHON, 1, 1, 0, "ü \n\xff", "x", "y");
	size_t len;
	char *text;

	(void)state;
	assert_int_equal(trie__add_stack(t, &f, 1, 1), 0);
	text = raw_text(t, &golden_meta, &len);
	for (size_t cut = 0; cut < len; cut++) {
		struct profile *p = (struct profile *)&p;
		char why[256] = "";
		int err = read_text(text, cut, &p, why, sizeof(why));

		if (err != -PS_EBADPROFILE)
			print_error("cut at %zu: %d\n", cut, err);
		assert_int_equal(err, -PS_EBADPROFILE);
		assert_null(p);
		assert_true(!strncmp(why, "line ", 5));
		assert_true(strstr(why, "(truncated)") ||
			    (cut == 0 && strstr(why, "empty")));
	}
	profile__free(read_ok(text, len));
	free(text);
	trie__free(t);
}

/* text with the first occurrence of from replaced by to (to free). */
static char *text_with(const char *text, const char *from, const char *to,
		       size_t *len)
{
	const char *at = strstr(text, from);
	char *s = NULL;
	int n;

	if (!at)
		print_error("no \"%s\" in the text\n", from);
	assert_non_null(at);
	n = asprintf(&s, "%.*s%s%s", (int)(at - text), text, to,
		     at + strlen(from));
	assert_true(n >= 0);
	*len = (size_t)n;
	return s;
}

static void test_corrupt_fields(void **state)
{
	static const struct {
		const char *from, *to, *why;
	} cases[] = {
		/* References and sequence. */
		{"node 3 2 2 30", "node 3 2 9 30",
		 "line 24: node 3 refers to missing frame 9"},
		{"node 3 2 2 30", "node 3 3 2 30",
		 "parent 3 is not an earlier"},
		{"node 3 2 2 30", "node 3 4294967296 2 30", "not an earlier"},
		{"node 3 2 2 30", "node 4 2 2 30",
		 "node id 4 out of sequence (expected 3)"},
		{"node 1 0 0 0", "node 0 0 0 0", "node id 0 out of sequence"},
		{"node 3 2 2 30", "node 4294967295 2 2 30", "out of sequence"},
		{"node 4 1 3 1", "node 4 1 1 1",
		 "node 4 repeats node 2 (same parent and frame)"},
		{"frame 2 python 5 7 0 3 2 4", "frame 2 python 5 7 0 3 2 7",
		 "func refers to missing string 7"},
		{"frame 2 python 5 7 0 3 2 4", "frame 2 python 5 7 0 3 2 x",
		 "func \"x\" is not a string id"},
		{"frame 2 python 5 7 0 3 2 4", "frame 3 python 5 7 0 3 2 4",
		 "frame id 3 out of sequence (expected 2)"},
		{"frame 2 python 5 7 0 3 2 4", "frame 2 python 1 2 0 1 2 1",
		 "frame 2 repeats frame 1"},
		{"frame 2 python", "frame 2 pyth0n", "unknown frame kind"},
		{"frame 2 python", "frame 2 PYTHON", "unknown frame kind"},
		{"frame 2 python 5 7 0", "frame 2 python 2147483648 7 0",
		 "firstlineno 2147483648 is out of range"},
		{"frame 2 python 5 7 0", "frame 2 python 5 -2147483649 0",
		 "line -2147483649 is out of range"},
		{"frame 2 python 5 7 0", "frame 2 python 5 7 -1",
		 "num \"-1\" is not a number"},
		{"frame 2 python 5 7 0",
		 "frame 2 python 5 7 18446744073709551616",
		 "num 18446744073709551616 is out of range"},
		{"frame 2 python 5 7 0", "frame 2 python 5 7 +1",
		 "not a number"},
		{"str 3 \"Worker.run\"", "str 4 \"Worker.run\"",
		 "string id 4 out of sequence"},
		/* Counts. */
		{"node 3 2 2 30", "node 3 2 2 3x0",
		 "count \"3x0\" is not a number"},
		{"node 3 2 2 30", "node 3 2 2 -30", "not a number"},
		{"node 3 2 2 30", "node 3 2 2 99999999999999999999999999",
		 "out of range"},
		{"node 3 2 2 30", "node 3 2 2 18446744073709551615",
		 "sample counts overflow 64 bits"},
		{"root 3", "root 3\nroot 3", "a second root record"},
		{"node 4 1 3 1", "node 4 1 3 1\nroot 0",
		 "root record after node records"},
		/* Fields. */
		{"node 3 2 2 30", "node 3 2 2", "count missing"},
		{"node 3 2 2 30", "node 3 2 2 30 1", "unexpected field \"1\""},
		{"node 3 2 2 30", "node 3 2 2 30 ", "a space at the end"},
		{"node 3 2 2 30", "node 3 2  2 30", "two spaces before frame"},
		{"node 3 2 2 30", " node 3 2 2 30", "two spaces before record"},
		{"node 3 2 2 30", "node\t3 2 2 30", "unknown record"},
		{"node 3 2 2 30", "nodes 3 2 2 30", "unknown record \"nodes\""},
		/* Order and the trailer. */
		{"root 3", "str 7 \"late\"\nroot 3",
		 "line 21: str record after a frame record"},
		{"root 3", "meta pid 1\nroot 3", "meta record after a frame"},
		{"end 7 5 5 36", "end 7 5 5 37",
		 "the end line counts 37 samples, the file has 36"},
		{"end 7 5 5 36", "end 7 5 4294967295 36",
		 "counts 4294967295 nodes, the file has 5"},
		{"end 7 5 5 36", "end 6 5 5 36", "counts 6 strings"},
		{"end 7 5 5 36", "end 7 6 5 36", "counts 6 frames"},
		{"end 7 5 5 36", "end 7 5 5", "samples missing"},
		{"end 7 5 5 36\n", "end 7 5 5 36\n\n",
		 "data after the end line"},
		{"end 7 5 5 36\n", "end 7 5 5 36\nend 7 5 5 36\n",
		 "line 27: data after the end line"},
		{"end 7 5 5 36\n", "", "line 26: the file ends without an end"},
		/* Metadata. */
		{"meta pid 4242", "meta pid 4242\nmeta pid 4242",
		 "meta pid given twice"},
		{"meta pid 4242", "meta pid 2147483648",
		 "pid 2147483648 is out"},
		{"meta pid 4242", "meta pid", "pid missing"},
		{"meta pid 4242", "meta Pid 1", "bad meta key \"Pid\""},
		{"meta pid 4242", "meta  pid 1", "two spaces"},
		{"meta pid 4242",
		 "meta "
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		 "aaaaaaaaaaaaaaaaaa 1",
		 "meta key longer than"},
		{"interval_s 0.01", "interval_s nan",
		 "\"nan\" is not a number"},
		{"interval_s 0.01", "interval_s inf", "not a number"},
		{"interval_s 0.01", "interval_s 0x1p-3", "not a number"},
		{"interval_s 0.01", "interval_s 0,01", "not a number"},
		{"interval_s 0.01", "interval_s .01", "not a number"},
		{"interval_s 0.01", "interval_s 1e", "not a number"},
		{"interval_s 0.01", "interval_s -1", "interval_s -1 is out of"},
		{"interval_s 0.01", "interval_s 1e999", "out of range"},
		{"start_unix_ns 1700000000123456789",
		 "start_unix_ns 9223372036854775808", "out of range"},
		{"meta mode \"wall\"", "meta mode wall",
		 "mode is not a quoted string"},
		{"meta mode \"wall\"", "meta mode -x",
		 "mode is not a quoted string"},
		{"meta mode \"wall\"", "meta mode \"wall\" \"wall\"",
		 "unexpected field"},
		/* Strings. */
		{"str 1 \"main\"", "str 1 -", "string is not a quoted string"},
		{"str 1 \"main\"", "str 1 \"main",
		 "string has no closing quote"},
		{"str 1 \"main\"", "str 1 \"main\\", "has no closing quote"},
		{"str 1 \"main\"", "str 1 \"ma\"in\"",
		 "text after the closing quote"},
		{"str 1 \"main\"", "str 1 \"m\\qain\"", "unknown escape \\q"},
		{"str 1 \"main\"", "str 1 \"m\\x4\"", "two hex digits"},
		{"str 1 \"main\"", "str 1 \"m\\x4g\"", "two hex digits"},
		{"str 1 \"main\"", "str 1 \"m\\x00\"", "\\x00: no NUL"},
		{"str 1 \"main\"", "str 1 \"ma\tin\"", "control byte 0x09"},
		{"str 1 \"main\"", "str 1 \"ma\x7fin\"", "control byte 0x7f"},
		{"str 1 \"main\"", "str 1 \"ma\rin\"", "control byte 0x0d"},
		{"str 1 \"main\"", "str 1 \"main\" 1", "unexpected field"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len;
		char *s = text_with(golden, cases[i].from, cases[i].to, &len);

		assert_bad(s, len, cases[i].why);
		free(s);
	}
	/* A NUL inside a line. */
	{
		char *s = strdup(golden);

		assert_non_null(s);
		*strstr(s, "30\n") = '\0';
		assert_bad(s, strlen(golden), "line 24: a NUL byte");
		free(s);
	}
}

/* Things that look odd but are valid, read exactly. */
static void test_accepts_valid_variants(void **state)
{
	static const char text[] = "# psample profile v1\n"
				   "str 0 \"\\x41\\x42\\xFF\"\n"
				   "str 1 \"\xff raw\"\n"
				   "str 2 \"x\"\n"
				   "str 3 \"x\"\n"
				   "frame 0 special 007 -0 0 0 1 -\n"
				   "frame 1 special 0 0 0 2 - -\n"
				   "frame 2 special 0 1 0 3 - -\n"
				   "node 1 0 0 000\n"
				   "node 2 1 0 1\n"
				   "end 4 3 3 1\n";
	struct profile *p = read_ok(text, sizeof(text) - 1);
	const struct ps_frame *f = trie__frame(p->trie, 0);

	(void)state;
	assert_string_equal(f->name, "AB\xff");
	assert_string_equal(f->file, "\xff raw");
	assert_int_equal(f->firstlineno, 7);
	assert_int_equal(f->line, 0);
	/* Missing meta: zero and none. */
	assert_int_equal(p->meta.pid, 0);
	assert_true(p->meta.interval_s == 0);
	assert_null(p->meta.mode);
	assert_null(p->meta.cmdline);
	/* Repeated strings are two entries but one value: frames equal
	 * but for their string ids are the same frame, and refused. */
	profile__free(p);
	{
		size_t len;
		char *bad = text_with(text, "frame 2 special 0 1 0 3",
				      "frame 2 special 0 0 0 3", &len);

		assert_bad(bad, len, "frame 2 repeats frame 1");
		free(bad);
	}
}

/* ---- fuzzing ---- */

struct text {
	char *p;
	size_t len;
	size_t cap;
};

static void text__reserve(struct text *t, size_t extra)
{
	while (t->cap < t->len + extra + 1) {
		t->cap = t->cap ? t->cap * 2 : 4096;
		t->p = realloc(t->p, t->cap);
		assert_non_null(t->p);
	}
}

/* Start and length of the line holding byte at (or the last line). */
static void text__line(const struct text *t, size_t at, size_t *start,
		       size_t *len)
{
	size_t s = at, e = at;

	while (s > 0 && t->p[s - 1] != '\n')
		s--;
	while (e < t->len && t->p[e] != '\n')
		e++;
	if (e < t->len)
		e++;
	*start = s;
	*len = e - s;
}

static void text__insert(struct text *t, size_t at, const char *s, size_t n)
{
	text__reserve(t, n);
	memmove(t->p + at + n, t->p + at, t->len - at);
	memcpy(t->p + at, s, n);
	t->len += n;
}

static void text__delete(struct text *t, size_t at, size_t n)
{
	memmove(t->p + at, t->p + at + n, t->len - at - n);
	t->len -= n;
}

static void fuzz_mutate(struct text *t)
{
	static const char *const tokens[] = {
		"0",
		"1",
		"-1",
		"4294967295",
		"4294967296",
		"18446744073709551615",
		"18446744073709551616",
		"2147483648",
		"-",
		"\"",
		"\\",
		"\\x",
		"\\x00",
		"\\n",
		" ",
		"\n",
		"\r\n",
		"meta ",
		"node 1 0 0 1\n",
		"end ",
		"root 1\n",
		"frame ",
		"str 0 \"\"\n",
		"python",
		"1e999",
		"nan",
		"\xff",
		"\0",
	};
	size_t at = t->len ? rng() % t->len : 0;
	size_t s, n, s2, n2;
	char buf[64];

	switch (rng() % 11) {
	case 0: /* bit flip */
		if (t->len)
			t->p[at] ^= (char)(1u << (rng() % 8));
		break;
	case 1: /* a random byte */
		if (t->len)
			t->p[at] = (char)rng();
		break;
	case 2: /* a byte in */
		buf[0] = (char)rng();
		text__insert(t, at, buf, 1);
		break;
	case 3: /* a few bytes out */
		if (t->len) {
			n = 1 + rng() % 8;
			text__delete(t, at, n < t->len - at ? n : t->len - at);
		}
		break;
	case 4: { /* a token in, or over a digit run */
		const char *tok =
			tokens[rng() % (sizeof(tokens) / sizeof(tokens[0]))];
		size_t tl = tok[0] ? strlen(tok) : 1;

		if (rng() % 2 && t->len) {
			n = 0;
			while (at + n < t->len && t->p[at + n] >= '0' &&
			       t->p[at + n] <= '9')
				n++;
			text__delete(t, at, n);
		}
		text__insert(t, at, tok, tl);
		break;
	}
	case 5: /* a line twice */
		if (t->len) {
			char *copy;

			text__line(t, at, &s, &n);
			copy = malloc(n + 1);
			assert_non_null(copy);
			memcpy(copy, t->p + s, n);
			text__insert(t, s, copy, n);
			free(copy);
		}
		break;
	case 6: /* a line gone */
		if (t->len) {
			text__line(t, at, &s, &n);
			text__delete(t, s, n);
		}
		break;
	case 7: /* two lines swapped (as a move of one before the other) */
		if (t->len) {
			char *copy;

			text__line(t, at, &s, &n);
			text__line(t, rng() % t->len, &s2, &n2);
			if (s2 >= s && s2 < s + n)
				break;
			copy = malloc(n + 1);
			assert_non_null(copy);
			memcpy(copy, t->p + s, n);
			text__delete(t, s, n);
			if (s2 > s)
				s2 -= n;
			text__insert(t, s2, copy, n);
			free(copy);
		}
		break;
	case 8: /* cut */ t->len = at; break;
	case 9: /* a number nudged by one */
		while (at < t->len && (t->p[at] < '0' || t->p[at] > '9'))
			at++;
		while (at + 1 < t->len && t->p[at + 1] >= '0' &&
		       t->p[at + 1] <= '9')
			at++;
		if (at < t->len)
			t->p[at] = t->p[at] == '9' ? '0' : t->p[at] + 1;
		break;
	default: /* CR LF, or the LF gone */
		while (at < t->len && t->p[at] != '\n')
			at++;
		if (at < t->len) {
			if (rng() % 2)
				text__insert(t, at, "\r", 1);
			else
				text__delete(t, at, 1);
		}
		break;
	}
}

/* What must hold of any profile the reader accepts. */
static void assert_consistent(const struct profile *p)
{
	const struct trie *t = p->trie;
	uint64_t sum = 0;
	struct profile *again;
	size_t len, len2;
	char *text, *text2;

	for (uint32_t i = 0; i < trie__nframes(t); i++)
		assert_true(trie__frame(t, i)->kind <= PS_FRAME_SPECIAL);
	sum = trie__node(t, 0)->self;
	for (uint32_t i = 1; i < trie__nnodes(t); i++) {
		const struct trie_node *n = trie__node(t, i);

		assert_true(n->parent < i);
		assert_true(n->frame < trie__nframes(t));
		assert_true(n->self <= UINT64_MAX - sum);
		sum += n->self;
	}
	assert_int_equal(sum, trie__total(t));
	assert_ptr_equal(p->meta.cmdline, p->strs[0]);
	assert_ptr_equal(p->meta.mode, p->strs[1]);
	assert_ptr_equal(p->meta.python, p->strs[2]);
	assert_true(isfinite(p->meta.interval_s) && p->meta.interval_s >= 0);

	/* It writes, reads back the same, and writes back the same bytes. */
	text = raw_text(t, &p->meta, &len);
	assert_clean_lines(text, len);
	again = read_ok(text, len);
	assert_trie_equal(t, again->trie);
	assert_meta_equal(&p->meta, &again->meta);
	text2 = raw_text(again->trie, &again->meta, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(text, text2, len);
	free(text);
	free(text2);
	profile__free(again);
}

static void test_fuzz_reader(void **state)
{
	enum { ITERATIONS = 25000 };
	struct trie *seeds[3];
	struct profile_meta metas[3] = {golden_meta, {0}, golden_meta};
	char *seed_text[3];
	size_t seed_len[3];
	unsigned accepted = 0, rejected = 0, changed_ok = 0;
	struct text t = {0};

	(void)state;
	rng_state = 0x2545f4914f6cdd1dULL;
	seeds[0] = golden_trie();
	seeds[1] = trie__new();
	assert_non_null(seeds[1]);
	seeds[2] = golden_trie();
	for (int i = 0; i < 60; i++) {
		char name[32];
		uint32_t stack[6];
		size_t depth = 1 + rng() % 6;

		(void)snprintf(name, sizeof(name), "g%d \"\\\xff\t", i % 13);
		for (size_t d = 0; d < depth; d++)
			stack[d] = intern(
				seeds[2], PS_FRAME_PYTHON, (int)(rng() % 4),
				(int)(rng() % 9) - 1, 0, name,
				i % 3 ? "/f.py" : NULL, i % 5 ? "g" : "");
		assert_int_equal(trie__add_stack(seeds[2], stack, depth,
						 1 + rng() % 100),
				 0);
	}
	for (int i = 0; i < 3; i++)
		seed_text[i] = raw_text(seeds[i], &metas[i], &seed_len[i]);

	for (int it = 0; it < ITERATIONS; it++) {
		int k = (int)(rng() % 3);
		int muts = 1 + (int)(rng() % 4);
		struct profile *p = (struct profile *)&p;
		char why[256] = "";
		int err;

		t.len = 0;
		text__reserve(&t, seed_len[k]);
		memcpy(t.p, seed_text[k], seed_len[k]);
		t.len = seed_len[k];
		for (int m = 0; m < muts; m++)
			fuzz_mutate(&t);
		err = read_text(t.p, t.len, &p, why, sizeof(why));
		if (!err) {
			assert_non_null(p);
			assert_string_equal(why, "");
			assert_consistent(p);
			accepted++;
			changed_ok += t.len != seed_len[k] ||
				      memcmp(t.p, seed_text[k], t.len) != 0;
			profile__free(p);
			continue;
		}
		if (err != -PS_EBADPROFILE)
			print_error("iteration %d: %d (%s)\n", it, err,
				    ps_strerror(err));
		assert_int_equal(err, -PS_EBADPROFILE);
		assert_null(p);
		assert_true(!strncmp(why, "line ", 5));
		assert_true(strlen(why) > strlen("line 1: "));
		rejected++;
	}
	print_message("# fuzz: %d iterations, %u accepted (%u of them "
		      "changed), %u rejected\n",
		      ITERATIONS, accepted, changed_ok, rejected);
	/* Both outcomes were exercised. */
	assert_true(accepted > 100);
	assert_true(rejected > ITERATIONS / 2);
	for (int i = 0; i < 3; i++) {
		free(seed_text[i]);
		trie__free(seeds[i]);
	}
	free(t.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_text),
		cmocka_unit_test(test_awkward_strings),
		cmocka_unit_test(test_random_stacks),
		cmocka_unit_test(test_empty_and_root_only),
		cmocka_unit_test(test_meta_values),
		cmocka_unit_test(test_locale_independent),
		cmocka_unit_test(test_forward_compatible),
		cmocka_unit_test(test_string_limits),
		cmocka_unit_test(test_write_errors),
		cmocka_unit_test(test_foreign_files),
		cmocka_unit_test(test_io_errors),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_corrupt_fields),
		cmocka_unit_test(test_accepts_valid_variants),
		cmocka_unit_test(test_fuzz_reader),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
