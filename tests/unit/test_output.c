/*
 * test_output.c - unit tests for the output layer: format lookup, path
 * shortening, label sanitising and the folded writer (compared with what
 * a user expects to read).  Files and empty profiles: test_outfile.c.
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
#include "outtest.h"

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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
