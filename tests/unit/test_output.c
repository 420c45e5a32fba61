/*
 * test_output.c - unit tests for the output layer: format lookup, path
 * shortening, label sanitising, the folded writer (compared with what a
 * user expects to read) and the atomic, checked file writing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "psample/output.h"
#include "psample/trie.h"
#include "utf8check.h"

/* ---- helpers ---- */

static char *read_stream(FILE *f, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *p = malloc(cap);

	assert_non_null(p);
	rewind(f);
	for (;;) {
		size_t r = fread(p + n, 1, cap - n - 1, f);

		n += r;
		if (n + 1 < cap)
			break;
		cap *= 2;
		p = realloc(p, cap);
		assert_non_null(p);
	}
	p[n] = '\0';
	if (len)
		*len = n;
	return p;
}

static char *read_path(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s;

	assert_non_null(f);
	s = read_stream(f, NULL);
	assert_int_equal(fclose(f), 0);
	return s;
}

static void write_path(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(s, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		(void)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (unlink(path))
			remove_tree(path);
	}
	closedir(d);
	rmdir(dir);
}

static char *make_tmpdir(void)
{
	char *dir = strdup("/tmp/psample-test-output.XXXXXX");

	assert_non_null(dir);
	assert_non_null(mkdtemp(dir));
	return dir;
}

/*
 * The folded grammar (output-formats.md 4.5): frames without ';' or CR,
 * none empty, one space, a positive integer, LF; and the last frame must
 * not end in whitespace + number (flamegraph.pl's differential syntax).
 */
static void assert_folded_lines(const char *text)
{
	const char *line = text;

	assert_true(utf8_valid(text, strlen(text)));
	while (*line) {
		const char *nl = strchr(line, '\n');
		const char *sp, *p;
		size_t len;

		assert_non_null(nl);
		len = (size_t)(nl - line);
		sp = memrchr(line, ' ', len);
		assert_non_null(sp);
		assert_true(sp[1] >= '1' && sp[1] <= '9');
		for (p = sp + 1; p < nl; p++)
			assert_true(*p >= '0' && *p <= '9');
		assert_true(sp > line && sp[-1] != ';' && line[0] != ';');
		for (p = line; p < sp; p++) {
			assert_true(*p != '\r' && *p != '\t');
			if (*p == ';')
				assert_true(p[1] != ';');
		}
		p = sp;
		while (p > line &&
		       ((p[-1] >= '0' && p[-1] <= '9') || p[-1] == '.'))
			p--;
		if (p < sp && p > line)
			assert_false(p[-1] == ' ' || p[-1] == '\t');
		line = nl + 1;
	}
}

static uint32_t frame_py(struct trie *t, const char *name, const char *file,
			 int line)
{
	struct ps_frame f = {.kind = PS_FRAME_PYTHON,
			     .firstlineno = 1,
			     .line = line,
			     .name = name,
			     .file = file};
	uint32_t id;

	assert_int_equal(trie__intern(t, &f, &id), 0);
	return id;
}

static uint32_t frame_root(struct trie *t, uint32_t kind, uint64_t num,
			   const char *name)
{
	struct ps_frame f = {.kind = kind, .num = num, .name = name};
	uint32_t id;

	assert_int_equal(trie__intern(t, &f, &id), 0);
	return id;
}

static char *folded_text(const struct trie *t, const struct output_opts *o)
{
	const struct output_format *fmt = output__find("folded");
	FILE *f = tmpfile();
	char *s;

	assert_non_null(fmt);
	assert_non_null(f);
	assert_int_equal(fmt->write(f, t, NULL, o), 0);
	assert_int_equal(fflush(f), 0);
	s = read_stream(f, NULL);
	assert_int_equal(fclose(f), 0);
	return s;
}

/* ---- formats ---- */

static void test_find(void **state)
{
	const struct output_format *f = output__find("folded");
	char names[256];
	char *tok, *save;

	(void)state;
	assert_non_null(f);
	assert_string_equal(f->name, "folded");
	assert_string_equal(f->ext, ".folded");
	assert_non_null(f->write);
	assert_non_null(f->help);
	assert_null(output__find("nope"));
	assert_null(output__find(""));
	assert_null(output__find(NULL));
	assert_null(output__find("FOLDED"));

	/* Every advertised name resolves to its format. */
	(void)snprintf(names, sizeof(names), "%s", output__names());
	assert_non_null(strstr(names, "folded"));
	for (tok = strtok_r(names, ", ", &save); tok;
	     tok = strtok_r(NULL, ", ", &save)) {
		assert_non_null(output__find(tok));
		assert_string_equal(output__find(tok)->name, tok);
	}
}

static void test_for_path(void **state)
{
	const struct output_format *f = output__find("folded");

	(void)state;
	assert_ptr_equal(output__for_path("out.folded"), f);
	assert_ptr_equal(output__for_path("/tmp/x/profile.FOLDED"), f);
	assert_ptr_equal(output__for_path("a.b/c.txt.folded"), f);
	assert_null(output__for_path("out.txt"));
	assert_null(output__for_path("out"));
	assert_null(output__for_path("out.folded.txt"));
	assert_null(output__for_path(".folded"));
	assert_null(output__for_path("dir/.folded"));
	assert_null(output__for_path("dir.folded/out"));
	assert_null(output__for_path(""));
	assert_null(output__for_path(NULL));

	/* Every format's extension, the aliases and callgrind's prefix. */
	assert_ptr_equal(output__for_path("a.svg"), output__find("svg"));
	assert_ptr_equal(output__for_path("a.pstats"), output__find("pstats"));
	assert_ptr_equal(output__for_path("d/a.prof"), output__find("pstats"));
	assert_ptr_equal(output__for_path("a.speedscope.json"),
			 output__find("speedscope"));
	assert_ptr_equal(output__for_path("a.pb.gz"), output__find("pprof"));
	assert_ptr_equal(output__for_path("a.psample"), output__find("raw"));
	assert_ptr_equal(output__for_path("/tmp/callgrind.out.1234"),
			 output__find("callgrind"));
	assert_null(output__for_path("callgrind.out."));
	assert_null(output__for_path("a.json"));
	assert_null(output__for_path("a.gz"));
	assert_null(output__for_path("xcallgrind.out.1"));
}

/* ---- short_path ---- */

static void test_short_path(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"/home/u/venv/lib/python3.11/site-packages/requests/api.py",
		 "requests/api.py"},
		{"/usr/lib/python3/dist-packages/apt/cache.py", "apt/cache.py"},
		{"/usr/lib/python3.12/json/__init__.py", "json/__init__.py"},
		{"/usr/local/lib/python3.13t/threading.py", "threading.py"},
		{"/opt/py/lib/python3.11d/asyncio/events.py",
		 "asyncio/events.py"},
		{"/usr/lib64/python3.11/os.py", "os.py"},
		{"/usr/lib/python3.10/site-packages/x.py", "x.py"},
		/* the last package directory wins */
		{"/a/site-packages/vendored/site-packages/b/c.py", "b/c.py"},
		{"/a/dist-packages/p/site-packages/q.py", "q.py"},
		{"/a/site-packages/p/dist-packages/q.py", "q.py"},
		/* a stdlib-looking dir inside a package does not matter */
		{"/s/site-packages/lib/python3.9/m.py", "lib/python3.9/m.py"},
		/* unchanged */
		{"/app/main.py", "/app/main.py"},
		{"main.py", "main.py"},
		{"<string>", "<string>"},
		{"", ""},
		{"/usr/lib/python3.x/foo.py", "/usr/lib/python3.x/foo.py"},
		{"/usr/lib/python3./foo.py", "/usr/lib/python3./foo.py"},
		{"/usr/lib/python3.11", "/usr/lib/python3.11"},
		{"/usr/mylib/python3.11/a.py", "/usr/mylib/python3.11/a.py"},
		{"/x/site-packages/", "/x/site-packages/"},
		{"/x/my-site-packages.py", "/x/my-site-packages.py"},
		{"/x/site-packages", "/x/site-packages"},
	};
	char buf[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *r =
			output__short_path(cases[i].in, buf, sizeof(buf));

		assert_ptr_equal(r, buf);
		assert_string_equal(buf, cases[i].out);
	}
	assert_string_equal(output__short_path(NULL, buf, sizeof(buf)), "");
}

static void test_short_path_truncates(void **state)
{
	char buf[16];

	(void)state;
	memset(buf, 'Z', sizeof(buf));
	output__short_path("/x/site-packages/requests/api.py", buf, 5);
	assert_string_equal(buf, "requ");
	assert_int_equal(buf[5], 'Z'); /* nothing past n */

	/* Never half a UTF-8 character: "/a/é.py", é = C3 A9 */
	output__short_path("/a/\xc3\xa9.py", buf, 5);
	assert_string_equal(buf, "/a/");
	output__short_path("/a/\xc3\xa9.py", buf, 6);
	assert_string_equal(buf, "/a/\xc3\xa9");

	memset(buf, 'Z', sizeof(buf));
	assert_ptr_equal(output__short_path("/a.py", buf, 0), buf);
	assert_int_equal(buf[0], 'Z');
	output__short_path("/a.py", buf, 1);
	assert_string_equal(buf, "");
}

/* ---- label ---- */

static void test_label_sanitises(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"plain", "plain"},
		{"a;b;;c", "a:b::c"},
		{"line1\nline2\r\n", "line1 line2  "},
		{"tab\tstays", "tab\tstays"},
		{"gr\xc3\xbc\xc3\x9f"
		 "e \xe2\x82\xac \xf0\x9f\x98\x80",
		 "gr\xc3\xbc\xc3\x9f"
		 "e \xe2\x82\xac \xf0\x9f\x98\x80"},
		{"bad\xff", "bad\xef\xbf\xbd"},
		{"\x80x", "\xef\xbf\xbdx"},
		/* a truncated sequence is one replacement */
		{"a\xe2\x82", "a\xef\xbf\xbd"},
		{"a\xe2\x82x", "a\xef\xbf\xbdx"},
		{"a\xf0\x9f\x98", "a\xef\xbf\xbd"},
		/* overlong and surrogates (surrogateescape'd file names) */
		{"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},
		{"\xe0\x80\xaf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
		{"\xed\xb3\xbf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
		{"\xf4\x90\x80\x80",
		 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
		/* a lead byte followed by ';' keeps the ';' rule */
		{"\xc3;", "\xef\xbf\xbd:"},
		{"", ""},
	};
	char buf[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = output__label(buf, 0, sizeof(buf), cases[i].in);

		assert_string_equal(buf, cases[i].out);
		assert_int_equal(len, strlen(cases[i].out));
	}
	assert_int_equal(output__label(buf, 0, sizeof(buf), NULL), 0);
	assert_string_equal(buf, "");
}

static void test_label_appends_and_truncates(void **state)
{
	char buf[8];
	size_t len;

	(void)state;
	len = output__label(buf, 0, sizeof(buf), "ab");
	len = output__label(buf, len, sizeof(buf), ";c");
	assert_string_equal(buf, "ab:c");
	assert_int_equal(len, 4);

	/* Full: 7 bytes + NUL, never more. */
	memset(buf, 'Z', sizeof(buf));
	len = output__label(buf, 0, sizeof(buf), "abcdefghij");
	assert_int_equal(len, 7);
	assert_string_equal(buf, "abcdefg");
	len = output__label(buf, len, sizeof(buf), "more");
	assert_int_equal(len, 7);
	assert_string_equal(buf, "abcdefg");

	/* Only whole characters: é (2 bytes) does not fit after 6. */
	len = output__label(buf, 0, sizeof(buf), "abcdef\xc3\xa9");
	assert_int_equal(len, 6);
	assert_string_equal(buf, "abcdef");
	len = output__label(buf, 0, sizeof(buf), "abcde\xc3\xa9xyz");
	assert_int_equal(len, 7);
	assert_string_equal(buf, "abcde\xc3\xa9");
	/* nor a replacement character */
	len = output__label(buf, 0, sizeof(buf), "abcde\xff");
	assert_int_equal(len, 5);
	assert_string_equal(buf, "abcde");

	/* A length past the buffer is clamped, and n = 0 writes nothing. */
	len = output__label(buf, 100, sizeof(buf), "x");
	assert_int_equal(len, 7);
	assert_int_equal(buf[7], '\0');
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(output__label(buf, 0, 0, "x"), 0);
	assert_int_equal(buf[0], 'Z');
	assert_int_equal(output__label(buf, 0, 1, "x"), 0);
	assert_string_equal(buf, "");
}

/* ---- folded ---- */

/* The profile from output-formats.md 4.1, plus roots of every kind. */
static struct trie *sample_trie(void)
{
	struct trie *t = trie__new();
	uint32_t th1, th2, proc, mn, mn3, work, fib13, fib14, sleep, worker,
		lambda, req, trunc;

	assert_non_null(t);
	th1 = frame_root(t, PS_FRAME_THREAD, 1001, "MainThread");
	th2 = frame_root(t, PS_FRAME_THREAD, 1002, NULL);
	proc = frame_root(t, PS_FRAME_PROCESS, 4242, "python3 app.py");
	mn = frame_py(t, "main", "/app/main.py", 2);
	mn3 = frame_py(t, "main", "/app/main.py", 3);
	work = frame_py(t, "work", "/app/main.py", 7);
	fib13 = frame_py(t, "fib", "/app/main.py", 13);
	fib14 = frame_py(t, "fib", "/app/main.py", 14);
	sleep = frame_py(t, "<built-in method time.sleep>", NULL, -1);
	worker = frame_py(t, "worker", "/app/main.py", 42);
	lambda = frame_py(t, "worker.<locals>.<lambda>", "/app/main.py", 41);
	req = frame_py(t, "Session.request",
		       "/venv/lib/python3.11/site-packages/requests/"
		       "sessions.py",
		       589);
	trunc = frame_root(t, PS_FRAME_SPECIAL, 0, "[truncated]");
	{
		uint32_t s1[] = {th1, mn, work, fib13, fib14};
		uint32_t s2[] = {th1, mn3, sleep};
		uint32_t s3[] = {th2, worker, lambda};
		uint32_t s4[] = {proc, th1, req};
		uint32_t s5[] = {th1, mn, work}; /* interior node */
		uint32_t s6[] = {th2, trunc};

		assert_int_equal(trie__add_stack(t, s1, 5, 30), 0);
		assert_int_equal(trie__add_stack(t, s2, 3, 20), 0);
		assert_int_equal(trie__add_stack(t, s3, 3, 10), 0);
		assert_int_equal(trie__add_stack(t, s3, 3, 5), 0);
		assert_int_equal(trie__add_stack(t, s4, 3, 1), 0);
		assert_int_equal(trie__add_stack(t, s5, 3, 4), 0);
		assert_int_equal(trie__add_stack(t, s6, 2, 2), 0);
		/* not representable in folded: no frames */
		assert_int_equal(trie__add_stack(t, s1, 0, 9), 0);
	}
	return t;
}

static void test_folded_sample(void **state)
{
	struct output_opts o = {.full_paths = false};
	struct trie *t = sample_trie();
	char *text;

	(void)state;
	text = folded_text(t, &o);
	/* Lines in node creation order: a;b before a;b;c. */
	assert_string_equal(
		text, "thread 1001 (MainThread);main (/app/main.py:2);"
		      "work (/app/main.py:7) 4\n"
		      "thread 1001 (MainThread);main (/app/main.py:2);"
		      "work (/app/main.py:7);fib (/app/main.py:13);"
		      "fib (/app/main.py:14) 30\n"
		      "thread 1001 (MainThread);main (/app/main.py:3);"
		      "<built-in method time.sleep> 20\n"
		      "thread (1002);worker (/app/main.py:42);"
		      "worker.<locals>.<lambda> (/app/main.py:41) 15\n"
		      "process 4242 (python3 app.py);thread 1001 (MainThread);"
		      "Session.request (requests/sessions.py:589) 1\n"
		      "thread (1002);[truncated] 2\n");
	assert_folded_lines(text);
	free(text);

	o.full_paths = true;
	text = folded_text(t, &o);
	assert_non_null(strstr(text,
			       ";Session.request (/venv/lib/python3.11/"
			       "site-packages/requests/sessions.py:589) 1\n"));
	assert_folded_lines(text);
	free(text);

	/* NULL options mean the defaults. */
	text = folded_text(t, NULL);
	assert_non_null(strstr(text, "(requests/sessions.py:589) 1\n"));
	free(text);
	trie__free(t);
}

static void test_folded_awkward_names(void **state)
{
	struct trie *t = trie__new();
	char *text;
	uint32_t th, a, b, c, d, e, g;

	(void)state;
	th = frame_root(t, PS_FRAME_THREAD, 7, "w\xc3\xb6rker;1\n\xff");
	a = frame_py(t,
		     "gr\xc3\xbc\xc3\x9f"
		     "e",
		     "/home/\xc3\xbc/app.py", 1);
	b = frame_py(t, "", "", 2);
	c = frame_py(t, "bad\xed\xb3\xbfname", "/we;ird dir/m\nod.py", 3);
	d = frame_root(t, PS_FRAME_SPECIAL, 0, "gc 2");
	e = frame_root(t, PS_FRAME_PROCESS, 9, "");
	g = frame_py(t, "native 12", NULL, -1);
	{
		uint32_t s1[] = {th, a, b, c};
		uint32_t s2[] = {th, d};
		uint32_t s3[] = {e, th, a};
		uint32_t s4[] = {th, a, g};

		assert_int_equal(trie__add_stack(t, s1, 4, 3), 0);
		assert_int_equal(trie__add_stack(t, s2, 2, 1), 0);
		assert_int_equal(trie__add_stack(t, s3, 3, 6), 0);
		assert_int_equal(trie__add_stack(t, s4, 3, 8), 0);
	}
	text = folded_text(t, NULL);
	assert_string_equal(
		text, "thread 7 (w\xc3\xb6rker:1 \xef\xbf\xbd);"
		      "gr\xc3\xbc\xc3\x9f"
		      "e (/home/\xc3\xbc/app.py:1);"
		      "? (?:2);"
		      "bad\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdname "
		      "(/we:ird dir/m od.py:3) 3\n"
		      "thread 7 (w\xc3\xb6rker:1 \xef\xbf\xbd);gc_2 1\n"
		      "process (9);thread 7 (w\xc3\xb6rker:1 \xef\xbf\xbd);"
		      "gr\xc3\xbc\xc3\x9f"
		      "e (/home/\xc3\xbc/app.py:1) 6\n"
		      "thread 7 (w\xc3\xb6rker:1 \xef\xbf\xbd);"
		      "gr\xc3\xbc\xc3\x9f"
		      "e (/home/\xc3\xbc/app.py:1);"
		      "native_12 8\n");
	assert_folded_lines(text);
	free(text);
	trie__free(t);
}

static void test_folded_deep_stack(void **state)
{
	enum { DEPTH = 2000 };
	struct trie *t = trie__new();
	uint32_t stack[DEPTH + 1];
	char name[128], *text, *p, *save;
	int i = 0;

	(void)state;
	stack[0] = frame_root(t, PS_FRAME_THREAD, 1, NULL);
	for (int d = 0; d < DEPTH; d++) {
		(void)snprintf(name, sizeof(name), "module.Class.method_%d", d);
		stack[d + 1] = frame_py(t, name,
					"/usr/lib/python3.12/some/long/path/"
					"to/a/module.py",
					d);
	}
	assert_int_equal(trie__add_stack(t, stack, DEPTH + 1, 77), 0);
	assert_int_equal(trie__add_stack(t, stack, 1000, 5), 0);
	text = folded_text(t, NULL);
	assert_folded_lines(text);

	/* line 1: the 1000-frame prefix (created first), line 2: all */
	p = strchr(text, '\n');
	assert_non_null(p);
	assert_non_null(strchr(p + 1, '\n'));
	*strchr(p + 1, '\n') = '\0';
	p++;
	assert_int_equal(strlen(p) - strlen(strrchr(p, ' ')),
			 strrchr(p, ')') - p + 1);
	assert_string_equal(strrchr(p, ' '), " 77");
	for (char *tok = strtok_r(p, ";", &save); tok;
	     tok = strtok_r(NULL, ";", &save), i++) {
		if (i == 0) {
			assert_string_equal(tok, "thread (1)");
			continue;
		}
		(void)snprintf(name, sizeof(name),
			       "module.Class.method_%d (some/long/path/to/a/"
			       "module.py:%d)",
			       i - 1, i - 1);
		assert_true(!strncmp(tok, name, strlen(name)));
	}
	assert_int_equal(i, DEPTH + 1);
	free(text);
	trie__free(t);
}

static void test_folded_nothing_counted(void **state)
{
	struct trie *t = trie__new();
	uint32_t a = frame_py(t, "a", "/a.py", 1);
	uint32_t node;
	char *text;

	(void)state;
	assert_int_equal(trie__child(t, 0, a, &node), 0);
	text = folded_text(t, NULL);
	assert_string_equal(text, "");
	free(text);
	trie__free(t);
}

/* ---- empty profiles ---- */

/* What format name writes of t through output__write, and its length. */
static char *written_by(const char *name, const struct trie *t, size_t *len)
{
	static const struct profile_meta meta = {
		.pid = 4242,
		.interval_s = 0.01,
		.duration_ns = 2000000000,
		.cmdline = "python3 app.py",
		.mode = "gil",
		.python = "3.11.7",
	};
	char *dir = make_tmpdir();
	char path[512];
	FILE *f;
	char *s;

	(void)snprintf(path, sizeof(path), "%s/out", dir);
	assert_int_equal(
		output__write(output__find(name), path, t, &meta, NULL), 0);
	f = fopen(path, "rb");
	assert_non_null(f);
	s = read_stream(f, len);
	assert_int_equal(fclose(f), 0);
	remove_tree(dir);
	free(dir);
	return s;
}

/*
 * Nothing sampled still makes a file in every format, one its consumer
 * opens (output-formats.md's pitfalls): the tests under tests/e2e open
 * them in the real tools; here, what each must hold.
 */
static void check_empty_files(const struct trie *t)
{
	/* marshal of {('~', 0, '<no samples>'): (0, 0, 0.0, 0.0, {})}:
	 * pstats.Stats refuses an empty dict. */
	static const char pstats[] =
		"{(\x03\0\0\0u\x01\0\0\0~i\0\0\0\0u\x0c\0\0\0<no samples>"
		"(\x05\0\0\0i\0\0\0\0i\0\0\0\0g\0\0\0\0\0\0\0\0"
		"g\0\0\0\0\0\0\0\0{00";
	size_t len;
	char *s;

	s = written_by("folded", t, &len);
	assert_int_equal(len, 0);
	free(s);

	s = written_by("svg", t, &len);
	assert_true(utf8_valid(s, len));
	assert_non_null(strstr(s, ">0 samples, 100 Hz, 2.00 s, gil, "));
	assert_non_null(strstr(s, "<g id=\"frames\">\n</g>\n"));
	assert_non_null(strstr(s, ">No samples</text>"));
	assert_non_null(strstr(s, "class=\"btn end off\""));
	assert_null(strstr(s, "<g data-x"));
	free(s);

	s = written_by("pstats", t, &len);
	assert_int_equal(len, sizeof(pstats) - 1);
	assert_memory_equal(s, pstats, len);
	free(s);

	s = written_by("callgrind", t, &len);
	assert_non_null(strstr(s, "\nevents: samples\nsummary: 0\n"));
	assert_null(strstr(s, "fn="));
	assert_non_null(strstr(s, "\ntotals: 0\n"));
	free(s);

	s = written_by("speedscope", t, &len);
	assert_non_null(strstr(
		s, "\"profiles\":[\n{\"type\":\"sampled\",\"name\":\"no "
		   "samples\",\"unit\":\"nanoseconds\",\"startValue\":0,"
		   "\"endValue\":0,\n\"samples\":[],\n\"weights\":[]}],"));
	free(s);

	s = written_by("pprof", t, &len);
	assert_true(len > 2 && (unsigned char)s[0] == 0x1f &&
		    (unsigned char)s[1] == 0x8b);
	free(s);

	s = written_by("raw", t, &len);
	assert_non_null(strstr(s, "\nroot 0\n"));
	free(s);
}

static void test_empty_profiles(void **state)
{
	struct trie *t = trie__new();
	uint32_t a, node;

	(void)state;
	assert_non_null(t);
	check_empty_files(t);
	/* Frames and stacks, but no count: as empty as no stack at all. */
	a = frame_py(t, "a", "/a.py", 1);
	assert_int_equal(trie__child(t, 0, a, &node), 0);
	check_empty_files(t);
	trie__free(t);
}

/* ---- writing files ---- */

static const char *atomic_target;
static int atomic_fail;
static int atomic_calls;

/* Writes, then checks the target is untouched while the write runs. */
static int fake_write(FILE *out, const struct trie *t,
		      const struct profile_meta *m, const struct output_opts *o)
{
	char *before;

	(void)t;
	(void)m;
	(void)o;
	atomic_calls++;
	if (fputs("new data\n", out) < 0)
		return -EIO;
	assert_int_equal(fflush(out), 0);
	before = read_path(atomic_target);
	assert_string_equal(before, "old\n");
	free(before);
	return atomic_fail;
}

static const struct output_format fake_format = {
	.name = "fake",
	.ext = ".fake",
	.help = "test",
	.write = fake_write,
};

static void test_write_atomic(void **state)
{
	char *dir = make_tmpdir();
	char target[512];
	char *text;
	struct stat st;
	mode_t old_mask;

	(void)state;
	(void)snprintf(target, sizeof(target), "%s/out.folded", dir);
	write_path(target, "old\n");
	atomic_target = target;

	/* A failing writer leaves the old file and no temporary. */
	atomic_fail = -ENOSPC;
	struct trie *empty = trie__new();
	assert_non_null(empty);
	assert_int_equal(output__write(&fake_format, target, empty, NULL, NULL),
			 -ENOSPC);
	assert_int_equal(atomic_calls, 1);
	text = read_path(target);
	assert_string_equal(text, "old\n");
	free(text);
	assert_int_equal(count_entries(dir), 1);

	/* A good write replaces it, with the umask's permissions. */
	old_mask = umask(027);
	atomic_fail = 0;
	assert_int_equal(output__write(&fake_format, target, empty, NULL, NULL),
			 0);
	trie__free(empty);
	umask(old_mask);
	assert_int_equal(atomic_calls, 2);
	text = read_path(target);
	assert_string_equal(text, "new data\n");
	free(text);
	assert_int_equal(count_entries(dir), 1);
	assert_int_equal(stat(target, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);

	remove_tree(dir);
	free(dir);
}

static void test_write_folded_file(void **state)
{
	char *dir = make_tmpdir();
	char target[512], cwd[4096];
	struct trie *t = sample_trie();
	char *expect, *got;

	(void)state;
	/* With --threads the file is what the writer makes of the trie. */
	static const struct output_opts threads = {.threads = true};
	expect = folded_text(t, NULL);
	(void)snprintf(target, sizeof(target), "%s/p.folded", dir);
	assert_int_equal(output__write(output__for_path(target), target, t,
				       NULL, &threads),
			 0);
	got = read_path(target);
	assert_string_equal(got, expect);
	free(got);
	assert_int_equal(count_entries(dir), 1);

	/* A bare file name is relative to the working directory. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	assert_int_equal(output__check("rel.folded"), 0);
	assert_int_equal(output__write(output__find("folded"), "rel.folded", t,
				       NULL, &threads),
			 0);
	assert_int_equal(chdir(cwd), 0);
	(void)snprintf(target, sizeof(target), "%s/rel.folded", dir);
	got = read_path(target);
	assert_string_equal(got, expect);
	free(got);
	assert_int_equal(count_entries(dir), 2);

	free(expect);
	trie__free(t);
	remove_tree(dir);
	free(dir);
}

static void test_write_errors(void **state)
{
	const struct output_format *fmt = output__find("folded");
	struct trie *t = sample_trie();
	char *dir = make_tmpdir();
	char path[512];
	struct stat st;

	(void)state;
	assert_int_equal(output__write(fmt, "/nonexistent-psample/x.folded", t,
				       NULL, NULL),
			 -ENOENT);

	/* /proc accepts no new files, even from root. */
	assert_true(output__write(fmt, "/proc/psample-test.folded", t, NULL,
				  NULL) < 0);
	assert_int_equal(access("/proc/psample-test.folded", F_OK), -1);

	/* A directory is not replaced, and nothing is left beside it. */
	(void)snprintf(path, sizeof(path), "%s/sub", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(output__write(fmt, path, t, NULL, NULL), -EISDIR);
	(void)snprintf(path, sizeof(path), "%s/sub/", dir);
	assert_int_equal(output__write(fmt, path, t, NULL, NULL), -EISDIR);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(count_entries(dir), 1);
	assert_int_equal(count_entries(path), 0);

	/* A device would be replaced by rename(), not written into. */
	assert_int_equal(output__write(fmt, "/dev/null", t, NULL, NULL),
			 -EINVAL);
	assert_int_equal(stat("/dev/null", &st), 0);
	assert_true(S_ISCHR(st.st_mode));

	assert_int_equal(output__write(NULL, path, t, NULL, NULL), -EINVAL);
	trie__free(t);
	remove_tree(dir);
	free(dir);
}

static void test_check(void **state)
{
	char *dir = make_tmpdir();
	char path[512];
	char *text;

	(void)state;
	(void)snprintf(path, sizeof(path), "%s/out.folded", dir);
	assert_int_equal(output__check(path), 0);
	assert_int_equal(count_entries(dir), 0); /* the probe is gone */

	/* An existing file may be replaced; check does not touch it. */
	write_path(path, "keep\n");
	assert_int_equal(output__check(path), 0);
	text = read_path(path);
	assert_string_equal(text, "keep\n");
	free(text);
	assert_int_equal(count_entries(dir), 1);

	assert_int_equal(output__check("/nonexistent-psample/x.folded"),
			 -ENOENT);
	assert_int_equal(output__check(dir), -EISDIR);
	assert_int_equal(output__check("/"), -EISDIR);
	assert_int_equal(output__check(""), -ENOENT);
	assert_int_equal(output__check(NULL), -EINVAL);

	/* A regular file used as a directory. */
	(void)snprintf(path, sizeof(path), "%s/out.folded/x.folded", dir);
	assert_int_equal(output__check(path), -ENOTDIR);

	assert_int_equal(output__check("/dev/null"), -EINVAL);
	assert_true(output__check("/proc/psample-test.folded") < 0);
	assert_true(output__check("/proc/self/psample.folded") < 0);

	if (geteuid() != 0) {
		(void)snprintf(path, sizeof(path), "%s/ro", dir);
		assert_int_equal(mkdir(path, 0555), 0);
		(void)snprintf(path, sizeof(path), "%s/ro/x.folded", dir);
		assert_int_equal(output__check(path), -EACCES);
	}
	remove_tree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_for_path),
		cmocka_unit_test(test_short_path),
		cmocka_unit_test(test_short_path_truncates),
		cmocka_unit_test(test_label_sanitises),
		cmocka_unit_test(test_label_appends_and_truncates),
		cmocka_unit_test(test_folded_sample),
		cmocka_unit_test(test_folded_awkward_names),
		cmocka_unit_test(test_folded_deep_stack),
		cmocka_unit_test(test_folded_nothing_counted),
		cmocka_unit_test(test_empty_profiles),
		cmocka_unit_test(test_write_atomic),
		cmocka_unit_test(test_write_folded_file),
		cmocka_unit_test(test_write_errors),
		cmocka_unit_test(test_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
