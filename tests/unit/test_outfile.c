/*
 * test_outfile.c - unit tests for the output layer's files: every
 * format's empty profile, the atomic write (a failure leaves the old
 * file and no temporary), and the checked writing of a profile.
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
		cmocka_unit_test(test_folded_nothing_counted),
		cmocka_unit_test(test_empty_profiles),
		cmocka_unit_test(test_write_atomic),
		cmocka_unit_test(test_write_folded_file),
		cmocka_unit_test(test_write_errors),
		cmocka_unit_test(test_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
