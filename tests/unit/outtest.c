/*
 * outtest.c - helpers of the output layer's unit tests (outtest.h).
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

char *read_stream(FILE *f, size_t *len)
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

char *read_path(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s;

	assert_non_null(f);
	s = read_stream(f, NULL);
	assert_int_equal(fclose(f), 0);
	return s;
}

void write_path(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(s, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

int count_entries(const char *dir)
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

void remove_tree(const char *dir)
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

char *make_tmpdir(void)
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
void assert_folded_lines(const char *text)
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

uint32_t frame_py(struct trie *t, const char *name, const char *file, int line)
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

uint32_t frame_root(struct trie *t, uint32_t kind, uint64_t num,
		    const char *name)
{
	struct ps_frame f = {.kind = kind, .num = num, .name = name};
	uint32_t id;

	assert_int_equal(trie__intern(t, &f, &id), 0);
	return id;
}

char *folded_text(const struct trie *t, const struct output_opts *o)
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

/* The profile from output-formats.md 4.1, plus roots of every kind. */
struct trie *sample_trie(void)
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
