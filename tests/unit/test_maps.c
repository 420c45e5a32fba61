/*
 * test_maps.c - tests of the /proc/PID/maps parser: crafted lines for each
 * quirk of the format, and this process's own real maps.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "psample/maps.h"

static void self_exe(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);

	assert_true(n > 0);
	buf[n] = '\0';
}

static void test_self_maps(void **state)
{
	struct maps *m = NULL;
	const struct map_entry *e;
	char exe[PATH_MAX];
	volatile int local = 1;
	uint64_t code = (uint64_t)(uintptr_t)&test_self_maps;
	uint64_t frame = (uint64_t)(uintptr_t)__builtin_frame_address(0);

	(void)state;
	self_exe(exe, sizeof(exe));
	assert_int_equal(maps__read(getpid(), &m), 0);
	assert_non_null(m);
	assert_true(m->n > 0);

	for (size_t i = 1; i < m->n; i++)
		assert_true(m->v[i - 1].end <= m->v[i].start);

	e = maps__find(m, code);
	assert_non_null(e);
	assert_true(e->start <= code && code < e->end);
	assert_int_equal(e->perms & (MAP_PERM_R | MAP_PERM_X | MAP_PERM_W),
			 MAP_PERM_R | MAP_PERM_X);
	assert_true(e->perms & MAP_PERM_P);
	assert_string_equal(e->path, exe);
	assert_false(e->deleted);
	assert_true(e->inode != 0);

	e = maps__file_base(m, exe);
	assert_non_null(e);
	assert_int_equal(e->offset, 0);
	assert_true(e->start <= code);

	/* ASan may move locals to a fake stack; the frame is the real one. */
	e = maps__find(m, frame);
	assert_non_null(e);
	assert_string_equal(e->path, "[stack]");
	assert_int_equal(e->perms, MAP_PERM_R | MAP_PERM_W | MAP_PERM_P);

	e = maps__find(m, (uint64_t)(uintptr_t)&local);
	assert_non_null(e);
	assert_true((e->perms & (MAP_PERM_R | MAP_PERM_W)) ==
		    (MAP_PERM_R | MAP_PERM_W));

	maps__free(m);
}

static void parse_ok(const char *line, struct map_entry *e)
{
	assert_int_equal(maps__parse_line(line, e), 0);
	assert_non_null(e->path);
}

static void test_line_basic(void **state)
{
	struct map_entry e;

	(void)state;
	parse_ok("562fc8e75000-562fc8e7a000 r-xp 00002000 fe:01 247134"
		 "                     /usr/bin/cat\n",
		 &e);
	assert_int_equal(e.start, 0x562fc8e75000ull);
	assert_int_equal(e.end, 0x562fc8e7a000ull);
	assert_int_equal(e.perms, MAP_PERM_R | MAP_PERM_X | MAP_PERM_P);
	assert_int_equal(e.offset, 0x2000);
	assert_int_equal(e.dev_major, 0xfe);
	assert_int_equal(e.dev_minor, 1);
	assert_int_equal(e.inode, 247134);
	assert_false(e.deleted);
	assert_string_equal(e.path, "/usr/bin/cat");
	free(e.path);

	/* Without the newline, shared, no permissions at all. */
	parse_ok("7f0000000000-7f0000001000 ---s 00000000 103:2a 7 /dev/x", &e);
	assert_int_equal(e.perms, 0);
	assert_int_equal(e.dev_major, 0x103);
	assert_int_equal(e.dev_minor, 0x2a);
	assert_string_equal(e.path, "/dev/x");
	free(e.path);

	parse_ok("7f0000000000-7f0000001000 rw-s 00000000 00:05 9 /SYSV0000",
		 &e);
	assert_int_equal(e.perms, MAP_PERM_R | MAP_PERM_W);
	free(e.path);
}

static void test_line_path_spaces(void **state)
{
	struct map_entry e;

	(void)state;
	parse_ok("7f0000000000-7f0000001000 r--p 00001000 08:02 1234"
		 "      /tmp/a b  c/lib x.so\n",
		 &e);
	assert_string_equal(e.path, "/tmp/a b  c/lib x.so");
	assert_false(e.deleted);
	free(e.path);

	/* Trailing spaces belong to the file name. */
	parse_ok("7f0000000000-7f0000001000 r--p 00001000 08:02 1234 /t/x  \n",
		 &e);
	assert_string_equal(e.path, "/t/x  ");
	free(e.path);
}

static void test_line_deleted(void **state)
{
	struct map_entry e;

	(void)state;
	parse_ok("7f0000000000-7f0000001000 r-xp 00000000 08:02 99"
		 "   /opt/py/lib/libpython3.11.so.1.0 (deleted)\n",
		 &e);
	assert_true(e.deleted);
	assert_string_equal(e.path, "/opt/py/lib/libpython3.11.so.1.0");
	free(e.path);

	parse_ok("7f0000000000-7f0000001000 r-xp 00000000 08:02 99"
		 "   /a dir/b c (deleted)",
		 &e);
	assert_true(e.deleted);
	assert_string_equal(e.path, "/a dir/b c");
	free(e.path);

	/* Only a suffix counts. */
	parse_ok("7f0000000000-7f0000001000 r-xp 00000000 08:02 99"
		 "   /x (deleted)/y\n",
		 &e);
	assert_false(e.deleted);
	assert_string_equal(e.path, "/x (deleted)/y");
	free(e.path);
}

static void test_line_anon_pseudo(void **state)
{
	struct map_entry e;

	(void)state;
	/* The kernel leaves one space after the inode of anonymous maps. */
	parse_ok("7f41302a5000-7f41302fc000 rw-p 00000000 00:00 0 \n", &e);
	assert_string_equal(e.path, "");
	assert_false(e.deleted);
	assert_int_equal(e.inode, 0);
	free(e.path);

	parse_ok("7f41302a5000-7f41302fc000 rw-p 00000000 00:00 0", &e);
	assert_string_equal(e.path, "");
	free(e.path);

	parse_ok("562ffb559000-562ffb57a000 rw-p 00000000 00:00 0"
		 "                          [heap]\n",
		 &e);
	assert_string_equal(e.path, "[heap]");
	free(e.path);

	parse_ok("7ffd1a9f1000-7ffd1a9f3000 r-xp 00000000 00:00 0"
		 "                          [vdso]\n",
		 &e);
	assert_string_equal(e.path, "[vdso]");
	assert_int_equal(e.perms, MAP_PERM_R | MAP_PERM_X | MAP_PERM_P);
	free(e.path);

	parse_ok("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0"
		 "                  [vsyscall]\n",
		 &e);
	assert_int_equal(e.start, 0xffffffffff600000ull);
	assert_int_equal(e.end, 0xffffffffff601000ull);
	assert_int_equal(e.perms, MAP_PERM_X | MAP_PERM_P);
	assert_string_equal(e.path, "[vsyscall]");
	free(e.path);
}

static void test_line_widths(void **state)
{
	struct map_entry e;

	(void)state;
	/* Short addresses are not zero-padded to 16 digits. */
	parse_ok("1000-2000 r--p 00000000 08:02 5 /short", &e);
	assert_int_equal(e.start, 0x1000);
	assert_int_equal(e.end, 0x2000);
	free(e.path);

	parse_ok("00400000-00452000 r-xp 00000000 08:02 173521 /usr/bin/x", &e);
	assert_int_equal(e.start, 0x400000);
	assert_int_equal(e.end, 0x452000);
	free(e.path);

	/* Offsets past 4 GiB, in both widths, and a 64-bit inode. */
	parse_ok("7f0000000000-7f0000001000 r--p 1ffffffff000 08:02"
		 " 18446744073709551615 /big",
		 &e);
	assert_int_equal(e.offset, 0x1ffffffff000ull);
	assert_int_equal(e.inode, UINT64_MAX);
	free(e.path);

	parse_ok("7f0000000000-7f0000001000 r--p fffffffffffff000 08:02 1 /b",
		 &e);
	assert_int_equal(e.offset, 0xfffffffffffff000ull);
	free(e.path);

	parse_ok("7F0000000000-7F0000001000 r--p 0000ABCD 08:02 1 /upper", &e);
	assert_int_equal(e.start, 0x7f0000000000ull);
	assert_int_equal(e.offset, 0xabcd);
	free(e.path);
}

static void test_line_long_path(void **state)
{
	size_t plen = 3 * 4096;
	const char *head = "7f0000000000-7f0000001000 r--p 00000000 08:02 1 ";
	char *line = malloc(strlen(head) + plen + 2);
	struct map_entry e;

	(void)state;
	assert_non_null(line);
	strcpy(line, head);
	line[strlen(head)] = '/';
	memset(line + strlen(head) + 1, 'a', plen - 1);
	strcpy(line + strlen(head) + plen, "\n");
	parse_ok(line, &e);
	assert_int_equal(strlen(e.path), plen);
	free(e.path);
	free(line);
}

static void test_line_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"\n",
		"garbage",
		"7f0000000000 r--p 00000000 08:02 1 /x",
		"7f0000000000-7f0000001000",
		"7f0000000000-7f0000001000 r--p",
		"7f0000000000-7f0000001000 r--p 00000000 08:02",
		"7f0000000000-7f0000001000 r--p 00000000 08:02 /x",
		"7f0000000000-7f0000001000 r--p 00000000 0802 1 /x",
		"7f0000000000-7f0000001000 r-- 00000000 08:02 1 /x",
		"7f0000000000-7f0000001000 r--q 00000000 08:02 1 /x",
		"7f0000000000-7f0000001000 w--p 00000000 08:02 1 /x",
		"7f0000000000-7f0000001000 r--pp 00000000 08:02 1 /x",
		"7g0000000000-7f0000001000 r--p 00000000 08:02 1 /x",
		"0x1000-0x2000 r--p 00000000 08:02 1 /x",
		" 1000-2000 r--p 00000000 08:02 1 /x",
		"1000-2000  r--p 00000000 08:02 1 /x",
		"-1000-2000 r--p 00000000 08:02 1 /x",
		"2000-1000 r--p 00000000 08:02 1 /x",
		"2000-2000 r--p 00000000 08:02 1 /x",
		"1000-2000 r--p 00000000 08:02 12x /x",
		"1000-2000 r--p 00000000 08:02 -1 /x",
		"1000-2000 r--p 00000000 08:02 18446744073709551616 /x",
		"10000000000000000-10000000000001000 r--p 0 08:02 1 /x",
		"1000-2000 r--p 00000000 100000000:02 1 /x",
		"1000-2000 r--p 00000000 08:02 1 /x\n/y",
		"1000-2000 r--p 00000000 08:02 1 /x\n\n",
	};
	struct map_entry e = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = maps__parse_line(bad[i], &e);

		if (r != -EINVAL)
			fail_msg("accepted \"%s\" (%d)", bad[i], r);
	}
	assert_int_equal(maps__parse_line(NULL, &e), -EINVAL);
}

static const char sample[] =
	"00400000-00401000 r--p 00000000 08:02 10 /usr/bin/py thon\n"
	"00401000-00402000 r-xp 00001000 08:02 10 /usr/bin/py thon\n"
	"00500000-00600000 rw-p 00000000 00:00 0                 [heap]\n"
	"7f0000000000-7f0000001000 r--p 00002000 08:02 11 /lib/libz.so\n"
	"7f0000001000-7f0000002000 r--p 00000000 08:02 11 /lib/libz.so\n"
	"7f0000002000-7f0000003000 r-xp 00001000 08:02 11 /lib/libz.so\n"
	"7f0000003000-7f0000004000 rw-p 00000000 00:00 0 \n"
	"7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0         [stack]";

static void test_parse_find(void **state)
{
	struct maps *m = NULL;
	const struct map_entry *e;

	(void)state;
	assert_int_equal(maps__parse(sample, strlen(sample), &m), 0);
	assert_int_equal(m->n, 8);

	assert_null(maps__find(m, 0));
	assert_null(maps__find(m, 0x3fffff));
	e = maps__find(m, 0x400000);
	assert_ptr_equal(e, &m->v[0]);
	assert_ptr_equal(maps__find(m, 0x400fff), &m->v[0]);
	assert_ptr_equal(maps__find(m, 0x401000), &m->v[1]);
	assert_null(maps__find(m, 0x402000));
	assert_null(maps__find(m, 0x4fffff));
	assert_ptr_equal(maps__find(m, 0x5fffff), &m->v[2]);
	assert_ptr_equal(maps__find(m, 0x7f0000003abcull), &m->v[6]);
	assert_ptr_equal(maps__find(m, 0x7ffd00020fffull), &m->v[7]);
	assert_null(maps__find(m, 0x7ffd00021000ull));
	assert_null(maps__find(m, UINT64_MAX));

	assert_ptr_equal(maps__file_base(m, "/usr/bin/py thon"), &m->v[0]);
	/* The lowest mapping has a non-zero offset: it is not the base. */
	assert_ptr_equal(maps__file_base(m, "/lib/libz.so"), &m->v[4]);
	assert_null(maps__file_base(m, "/lib/libz"));
	assert_null(maps__file_base(m, ""));
	assert_null(maps__file_base(m, NULL));
	maps__free(m);
}

static void test_parse_edges(void **state)
{
	static const char unsorted[] = "3000-4000 r--p 00000000 08:02 1 /b\n"
				       "1000-2000 r--p 00000000 08:02 1 /a\n";
	static const char bad_second[] =
		"1000-2000 r--p 00000000 08:02 1 /a\n"
		"3000-4000 r--p 00000000 08:02 1\t/b\n";
	static const char blank[] = "1000-2000 r--p 00000000 08:02 1 /a\n"
				    "\n"
				    "3000-4000 r--p 00000000 08:02 1 /b\n";
	struct maps *m = NULL;

	(void)state;
	assert_int_equal(maps__parse("", 0, &m), 0);
	assert_int_equal(m->n, 0);
	assert_null(maps__find(m, 0x1000));
	assert_null(maps__file_base(m, "/a"));
	maps__free(m);

	/* len bounds the text: the second line is not looked at. */
	assert_int_equal(maps__parse(unsorted, 35, &m), 0);
	assert_int_equal(m->n, 1);
	maps__free(m);

	assert_int_equal(maps__parse(unsorted, strlen(unsorted), &m), 0);
	assert_int_equal(m->n, 2);
	assert_string_equal(maps__find(m, 0x1800)->path, "/a");
	assert_string_equal(maps__find(m, 0x3800)->path, "/b");
	assert_null(maps__find(m, 0x2800));
	maps__free(m);

	m = NULL;
	assert_int_equal(maps__parse(bad_second, strlen(bad_second), &m),
			 -EINVAL);
	assert_null(m);
	assert_int_equal(maps__parse(blank, strlen(blank), &m), -EINVAL);
	assert_null(m);

	assert_null(maps__find(NULL, 0));
	maps__free(NULL);
}

static void test_parse_many(void **state)
{
	size_t n = 5000, cap = n * 64, len = 0;
	char *text = malloc(cap);
	struct maps *m = NULL;

	(void)state;
	assert_non_null(text);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(
			text + len, cap - len,
			"%zx-%zx r--p 00000000 08:02 %zu /f%zu\n",
			(i + 1) * 0x2000, (i + 1) * 0x2000 + 0x1000, i, i);
	assert_int_equal(maps__parse(text, len, &m), 0);
	assert_int_equal(m->n, n);
	for (size_t i = 0; i < n; i++) {
		const struct map_entry *e =
			maps__find(m, (i + 1) * 0x2000 + 0x800);

		assert_non_null(e);
		assert_int_equal(e->inode, i);
		assert_null(maps__find(m, (i + 1) * 0x2000 + 0x1800));
	}
	maps__free(m);
	free(text);
}

/* A real mapping of a file whose path has spaces, then deleted. */
static void test_read_spaces_deleted(void **state)
{
	char dir[] = "/tmp/psample maps XXXXXX";
	char path[PATH_MAX], real[PATH_MAX];
	struct maps *m = NULL;
	const struct map_entry *e;
	void *p;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_true(snprintf(path, sizeof(path), "%s/a file  name", dir) > 0);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 8192), 0);
	p = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, fd, 4096);
	assert_true(p != MAP_FAILED);
	assert_int_equal(close(fd), 0);
	assert_non_null(realpath(path, real));

	assert_int_equal(maps__read(getpid(), &m), 0);
	e = maps__find(m, (uint64_t)(uintptr_t)p);
	assert_non_null(e);
	assert_string_equal(e->path, real);
	assert_false(e->deleted);
	assert_int_equal(e->offset, 4096);
	assert_int_equal(e->perms, MAP_PERM_R | MAP_PERM_P);
	maps__free(m);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(maps__read(getpid(), &m), 0);
	e = maps__find(m, (uint64_t)(uintptr_t)p);
	assert_non_null(e);
	assert_string_equal(e->path, real);
	assert_true(e->deleted);
	maps__free(m);
	assert_int_equal(munmap(p, 8192), 0);
}

static void test_read_dead(void **state)
{
	struct maps *m = NULL;
	pid_t pid;
	int status;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(maps__read(pid, &m), -ESRCH);
	assert_null(m);
	assert_int_equal(maps__read(0, &m), -ESRCH);
	assert_int_equal(maps__read(-1, &m), -ESRCH);
	assert_null(m);
}

/* Whether the file mapped at addr in pid, as its maps shows it, opened
 * where maps__open_path() says, is the file at path: 0 if so, else the
 * step that failed.  No assertion, so a caller can clean up first. */
static int opens(pid_t pid, const char *path, uint64_t addr)
{
	struct maps *m = NULL;
	const struct map_entry *e;
	struct stat want, got;
	char where[PATH_MAX];
	int err = 0;

	if (stat(path, &want) || maps__read(pid, &m))
		return 1;
	e = maps__find(m, addr);
	if (!e)
		err = 2;
	else if (maps__open_path(pid, e, where, sizeof(where)))
		err = 3;
	else if (stat(where, &got) || got.st_ino != want.st_ino ||
		 got.st_dev != want.st_dev)
		err = 4;
	else if (maps__open_path(pid, e, where, 8) != -ENAMETOOLONG)
		err = 5;
	maps__free(m);
	return err;
}

static void test_open_path_self(void **state)
{
	char dir[] = "/tmp/psample-open-XXXXXX";
	char path[PATH_MAX];
	void *p;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_true(snprintf(path, sizeof(path), "%s/lib", dir) > 0);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	assert_true(p != MAP_FAILED);
	assert_int_equal(close(fd), 0);
	assert_int_equal(opens(getpid(), path, (uint64_t)(uintptr_t)p), 0);
	assert_int_equal(munmap(p, 4096), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* A process chrooted into a folder of ours (as the test set-up's Debian
 * chroot runs interpreters): maps shows its files from our root, while
 * its /proc/PID/root is the folder, so /proc/PID/root + path is no file. */
static void test_open_path_chroot(void **state)
{
	char dir[] = "/tmp/psample-chroot-XXXXXX";
	char path[PATH_MAX];
	uint64_t addr = 0;
	int fds[2], status;
	pid_t pid;

	(void)state;
	if (geteuid() != 0) {
		skip();
		return;
	}
	assert_non_null(mkdtemp(dir));
	assert_true(snprintf(path, sizeof(path), "%s/lib", dir) > 0);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	assert_int_equal(close(fd), 0);
	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		void *p = MAP_FAILED;

		if (chroot(dir) == 0 && chdir("/") == 0 &&
		    (fd = open("/lib", O_RDONLY)) >= 0)
			p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
		addr = p == MAP_FAILED ? 0 : (uint64_t)(uintptr_t)p;
		if (write(fds[1], &addr, sizeof(addr)) != sizeof(addr))
			_exit(1);
		pause();
		_exit(0);
	}
	int err = read(fds[0], &addr, sizeof(addr)) != sizeof(addr) || !addr
			  ? -1
			  : opens(pid, path, addr);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(fds[0]);
	close(fds[1]);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(err, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_self_maps),
		cmocka_unit_test(test_line_basic),
		cmocka_unit_test(test_line_path_spaces),
		cmocka_unit_test(test_line_deleted),
		cmocka_unit_test(test_line_anon_pseudo),
		cmocka_unit_test(test_line_widths),
		cmocka_unit_test(test_line_long_path),
		cmocka_unit_test(test_line_malformed),
		cmocka_unit_test(test_parse_find),
		cmocka_unit_test(test_parse_edges),
		cmocka_unit_test(test_parse_many),
		cmocka_unit_test(test_read_spaces_deleted),
		cmocka_unit_test(test_read_dead),
		cmocka_unit_test(test_open_path_self),
		cmocka_unit_test(test_open_path_chroot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
