/*
 * test_proc.c - tests of the /proc helpers that need a real process to
 * change under them: an image handle (proc__image_open) across the
 * child's exec and its exit, a vfork child sharing its parent's
 * address space until its exec (proc__shares_vm), and a process in a pid
 * namespace of its own, known by two pids (proc__nspid, proc__nstids).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "psample/proc.h"

/* Mapped at the same address in a forked child, until it execs. */
static volatile uint64_t marker = 0x5053414d504c45ull;

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000,
			      .tv_nsec = (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Whether pid's executable is path, waiting up to 5 s for it. */
static bool exe_becomes(pid_t pid, const char *path)
{
	char link[64], buf[PATH_MAX];

	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	for (int i = 0; i < 500; i++) {
		ssize_t n = readlink(link, buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = '\0';
			if (strcmp(buf, path) == 0)
				return true;
		}
		sleep_ms(10);
	}
	return false;
}

/* The start of the first mapping in pid's maps. */
static uint64_t first_mapping(pid_t pid)
{
	char path[64];
	unsigned long long a = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%llx", &a), 1);
	fclose(f);
	return a;
}

static void test_image_exec_and_exit(void **state)
{
	int go[2];
	char c = 0;

	(void)state;
	assert_int_equal(pipe(go), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(go[1]);
		if (read(go[0], &c, 1) == 1)
			execl("/bin/sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	close(go[0]);

	int before = proc__image_open(pid);
	assert_true(before >= 0);
	assert_int_equal(proc__image_live(before, (uint64_t)&marker), 1);
	assert_int_equal(proc__image_live(before, (uint64_t)&marker), 1);

	assert_int_equal(write(go[1], &c, 1), 1);
	close(go[1]);
	char sleep_path[PATH_MAX];
	assert_non_null(realpath("/bin/sleep", sleep_path));
	assert_true(exe_becomes(pid, sleep_path));
	/* The old program is gone; a handle opened now sees the new one. */
	assert_int_equal(proc__image_live(before, (uint64_t)&marker), 0);
	int after = proc__image_open(pid);
	assert_true(after >= 0);
	uint64_t mapped = first_mapping(pid);
	assert_int_equal(proc__image_live(after, mapped), 1);

	/* Ended: nothing to read either. */
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_int_equal(proc__image_live(after, mapped), 0);
	close(before);
	close(after);

	/* No such process: an error, not a handle. */
	assert_true(proc__image_open(pid) < 0);
}

static const struct timespec vfork_nap = {.tv_nsec = 300 * 1000 * 1000};

/*
 * A forked child (own memory) that vforks a grandchild: the grandchild
 * spends 300 ms in the child's memory, then execs.
 */
static void test_shares_vm_vfork(void **state)
{
	pid_t g = 0;

	(void)state;
	pid_t c = fork();
	assert_true(c >= 0);
	if (c == 0) {
		// NOLINTNEXTLINE(clang-analyzer-security.insecureAPI.vfork)
		pid_t v = vfork();
		if (v == 0) {
			// NOLINTNEXTLINE(clang-analyzer-unix.Vfork)
			nanosleep(&vfork_nap, NULL);
			execl("/bin/sleep", "sleep", "30", (char *)NULL);
			_exit(127);
		}
		pause();
		_exit(0);
	}
	for (int i = 0; i < 500 && proc__children(c, &g, 1) < 1; i++)
		sleep_ms(1);
	assert_true(g > 0);

	/* In the vfork: the child's memory, not this process's. */
	assert_int_equal(proc__shares_vm(g, c), 1);
	assert_int_equal(proc__shares_vm(c, g), 1);
	assert_int_equal(proc__shares_vm(c, getpid()), 0);
	/* After its exec: its own. */
	char sleep_path[PATH_MAX];
	assert_non_null(realpath("/bin/sleep", sleep_path));
	assert_true(exe_becomes(g, sleep_path));
	assert_int_equal(proc__shares_vm(g, c), 0);

	kill(g, SIGKILL);
	kill(c, SIGKILL);
	assert_int_equal(waitpid(c, NULL, 0), c);
}

/*
 * A child unshares a user and a pid namespace and forks: the grandchild
 * is pid 1 of the new namespace.  Skipped where the kernel refuses.
 */
static void test_nspid(void **state)
{
	(void)state;
	int levels = 0;
	struct proc_nstid self[8];

	assert_int_equal(proc__nspid(getpid(), 0, &levels), getpid());
	assert_true(levels >= 1);
	int n = proc__nstids(getpid(), self, 8);
	assert_int_equal(n, 1);
	if (levels == 1)
		assert_int_equal(self[0].ns, getpid());
	assert_int_equal(self[0].host, getpid());

	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	pid_t c = fork();
	assert_true(c >= 0);
	if (c == 0) {
		close(pfd[0]);
		pid_t g = -1;
		if (!unshare(CLONE_NEWUSER | CLONE_NEWPID) &&
		    (g = fork()) == 0) {
			for (;;)
				pause();
		}
		if (write(pfd[1], &g, sizeof(g)) < 0)
			_exit(1);
		if (g > 0)
			waitpid(g, NULL, 0);
		_exit(0);
	}
	close(pfd[1]);
	pid_t g = -1;
	assert_int_equal(read(pfd[0], &g, sizeof(g)), (ssize_t)sizeof(g));
	close(pfd[0]);
	if (g <= 0) {
		kill(c, SIGKILL);
		waitpid(c, NULL, 0);
		skip(); /* no new namespaces here */
	}
	int ns = proc__nspid(g, 0, &levels);
	struct proc_nstid v[8];
	int nv = proc__nstids(g, v, 8);
	int tns = proc__nspid(g, g, &levels);
	kill(g, SIGKILL);
	waitpid(c, NULL, 0);
	assert_int_equal(ns, 1);
	assert_int_equal(tns, 1);
	assert_true(levels >= 2);
	assert_int_equal(nv, 1);
	assert_int_equal(v[0].host, g);
	assert_int_equal(v[0].ns, 1);
	/* Gone: the error a caller tells from a missing field. */
	assert_int_equal(proc__nspid(g, 0, &levels), -ESRCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_image_exec_and_exit),
		cmocka_unit_test(test_shares_vm_vfork),
		cmocka_unit_test(test_nspid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
