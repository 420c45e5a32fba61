/*
 * test_pause.c - tests of pause (psample --blocking) against a real
 * forked child: a C process with a sleeping main thread and three
 * spinning worker threads that count in shared memory, so the test sees
 * from outside whether each thread runs.  Worker 1 can also signal
 * itself in a tight loop, fork, or sit in vfork, to give the kernel's
 * harder cases: a signal caught while stopping, a fork under ptrace, a
 * thread that cannot stop.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "psample/pause.h"
#include "psample/proc.h"

#define NWORK 3
#define NTIDS (NWORK + 1) /* the main thread and the workers */

enum mode { MODE_SPIN, MODE_STORM, MODE_FORK, MODE_VFORK };

struct shared {
	pid_t tids[NTIDS]; /* [0] the main thread */
	pid_t gone_tid; /* a thread that has exited */
	volatile uint64_t count[NTIDS];
	volatile uint64_t sent, handled; /* MODE_STORM */
	volatile uint64_t forks_ok, forks_bad; /* MODE_FORK */
	volatile int in_vfork; /* MODE_VFORK: 1 inside, 2 returned */
	volatile int quiet; /* worker 0: stop its mode's work */
	int ready;
	enum mode mode;
};

static struct shared *sh;
static int sig_pipe[2] = {-1, -1};
static pid_t child = -1;
/* The test's pause, freed by teardown if an assertion left it. */
static struct pause *cur;

/* ---------------------------------------------------------------- child */

static void on_usr1(int sig)
{
	char c = 'u';
	(void)sig;
	if (write(sig_pipe[1], &c, 1) < 0)
		_exit(3);
}

static void on_usr2(int sig)
{
	(void)sig;
	sh->handled++;
}

/* The grandchild fails if it finds itself traced. */
static void child_fork_once(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		char buf[2048];
		int fd = open("/proc/self/status", O_RDONLY);
		ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
		if (n <= 0)
			_exit(2);
		buf[n] = '\0';
		const char *t = strstr(buf, "TracerPid:\t");
		_exit(t && t[11] == '0' ? 0 : 1);
	}
	int status;
	if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0)
		sh->forks_ok++;
	else
		sh->forks_bad++;
}

static const struct timespec vfork_nap = {.tv_nsec = 300 * 1000 * 1000};

/*
 * The vforking thread waits, unkillable but for SIGKILL, for its child:
 * the state the test needs (the child only sleeps, then _exits).
 */
static void child_vfork_once(void)
{
	sh->in_vfork = 1;
	// NOLINTNEXTLINE(clang-analyzer-security.insecureAPI.vfork)
	pid_t pid = vfork();
	if (pid == 0) {
		// NOLINTNEXTLINE(clang-analyzer-unix.Vfork)
		nanosleep(&vfork_nap, NULL);
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
	sh->in_vfork = 2;
}

static void *child_worker(void *arg)
{
	int i = *(const int *)arg;

	sh->tids[i] = gettid();
	__atomic_add_fetch(&sh->ready, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		if (i == 1 && !sh->quiet) {
			switch (sh->mode) {
			case MODE_STORM:
				sh->sent++;
				tgkill(getpid(), gettid(), SIGUSR2);
				break;
			case MODE_FORK: child_fork_once(); break;
			case MODE_VFORK:
				if (!sh->in_vfork)
					child_vfork_once();
				break;
			case MODE_SPIN: break;
			}
		}
		sh->count[i]++;
	}
	return NULL;
}

static void *child_gone(void *arg)
{
	(void)arg;
	sh->gone_tid = gettid();
	return NULL;
}

static void child_main(void)
{
	pthread_t th;
	struct sigaction sa;

	/* Under Yama ptrace_scope 1 only ancestors may trace: let the
	 * test's other processes (a sibling tracer) do it too. */
	prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_usr2;
	sigaction(SIGUSR2, &sa, NULL);
	sh->tids[0] = gettid();
	if (pthread_create(&th, NULL, child_gone, NULL) ||
	    pthread_join(th, NULL))
		_exit(4);
	static int index[NTIDS];
	for (int i = 1; i < NTIDS; i++) {
		index[i] = i;
		if (pthread_create(&th, NULL, child_worker, &index[i]))
			_exit(4);
	}
	for (;;) {
		struct timespec ts = {.tv_nsec = 1000 * 1000};
		nanosleep(&ts, NULL);
		sh->count[0]++;
	}
}

/* ---------------------------------------------------------------- helpers */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000,
			      .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int start_child(enum mode mode)
{
	memset(sh, 0, sizeof(*sh));
	sh->mode = mode;
	if (pipe2(sig_pipe, O_CLOEXEC) < 0)
		return -1;
	child = fork();
	if (child < 0)
		return -1;
	if (child == 0) {
		close(sig_pipe[0]);
		child_main();
	}
	close(sig_pipe[1]);
	sig_pipe[1] = -1;
	fcntl(sig_pipe[0], F_SETFL, O_NONBLOCK);
	int64_t end = now_ms() + 5000;
	while (__atomic_load_n(&sh->ready, __ATOMIC_SEQ_CST) < NWORK) {
		if (now_ms() > end)
			return -1;
		sleep_ms(1);
	}
	return 0;
}

static int setup_spin(void **state)
{
	(void)state;
	return start_child(MODE_SPIN);
}

static int setup_storm(void **state)
{
	(void)state;
	return start_child(MODE_STORM);
}

static int setup_fork(void **state)
{
	(void)state;
	return start_child(MODE_FORK);
}

static int setup_vfork(void **state)
{
	(void)state;
	return start_child(MODE_VFORK);
}

static int teardown(void **state)
{
	(void)state;
	pause__free(cur);
	cur = NULL;
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	child = -1;
	if (sig_pipe[0] >= 0)
		close(sig_pipe[0]);
	sig_pipe[0] = -1;
	return 0;
}

static int new_pause(struct pause **p)
{
	int r = pause__new(child, p);
	cur = r ? NULL : *p;
	return r;
}

static void free_pause(struct pause *p)
{
	pause__free(p);
	cur = NULL;
}

/*
 * Stop every thread.  On a loaded machine a runnable thread may not get
 * a CPU to stop on within pause's timeout (that is counted, and the
 * thread left running): then let go and try again, a few times.  On a
 * miscount, say what pause counted.
 */
static int stop_some(struct pause *p, const pid_t *tids, size_t n, int want)
{
	const struct pause_stats *st = pause__stats(p);
	int r = 0;
	for (int attempt = 0; attempt < 10; attempt++) {
		uint64_t timeouts = st->timeouts;
		r = pause__stop(p, tids, n);
		if (r == want || st->timeouts == timeouts)
			break;
		print_message("# a thread did not stop within the timeout "
			      "(load average above the CPUs?); again\n");
		pause__resume(p);
	}
	if (r != want) {
		print_message("# stop: %d; gone %llu errors %llu timeouts "
			      "%llu busy %llu\n",
			      r, (unsigned long long)st->gone,
			      (unsigned long long)st->errors,
			      (unsigned long long)st->timeouts,
			      (unsigned long long)st->busy);
		for (int i = 0; i < NTIDS; i++)
			print_message("#   thread %d: %c\n", i,
				      proc__thread_state(child, sh->tids[i]));
	}
	return r;
}

static int stop_all(struct pause *p)
{
	return stop_some(p, sh->tids, NTIDS, NTIDS);
}

static int state_of(int i)
{
	return proc__thread_state(child, sh->tids[i]);
}

/* Whether every thread's state is (or, with not, is not) letter. */
static bool all_in(int letter, bool not )
{
	for (int i = 0; i < NTIDS; i++)
		if ((state_of(i) == letter) == not )
			return false;
	return true;
}

/* Wait up to ms for all_in(letter, not). */
static bool soon_all_in(int letter, bool not, int ms)
{
	int64_t end = now_ms() + ms;
	while (!all_in(letter, not )) {
		if (now_ms() > end)
			return false;
		sleep_ms(1);
	}
	return true;
}

/* Whether thread i counts on within ms. */
static bool advances(int i, int ms)
{
	uint64_t c = sh->count[i];
	int64_t end = now_ms() + ms;
	while (sh->count[i] == c) {
		if (now_ms() > end)
			return false;
		sleep_ms(1);
	}
	return true;
}

static bool none_counts(int ms)
{
	uint64_t c[NTIDS];
	for (int i = 0; i < NTIDS; i++)
		c[i] = sh->count[i];
	sleep_ms(ms);
	for (int i = 0; i < NTIDS; i++)
		if (sh->count[i] != c[i])
			return false;
	return true;
}

static bool all_count(int ms)
{
	for (int i = 0; i < NTIDS; i++)
		if (!advances(i, ms))
			return false;
	return true;
}

static int pipe_bytes(int ms)
{
	char buf[64];
	int n = 0;
	int64_t end = now_ms() + ms;
	do {
		ssize_t r = read(sig_pipe[0], buf, sizeof(buf));
		if (r > 0) {
			n += (int)r;
			continue;
		}
		if (ms)
			sleep_ms(1);
	} while (now_ms() < end);
	return n;
}

/* ---------------------------------------------------------------- tests */

static void test_stop_resume(void **state)
{
	struct pause *p;
	(void)state;

	assert_int_equal(new_pause(&p), 0);
	assert_int_equal(stop_all(p), NTIDS);
	assert_true(all_in('t', false)); /* tracing stop, every one */
	assert_true(none_counts(30));
	pause__resume(p);
	assert_true(soon_all_in('t', true, 1000));
	assert_true(all_count(1000));
	/* Again and again: the target is never left traced between. */
	for (int k = 0; k < 200; k++) {
		assert_int_equal(stop_all(p), NTIDS);
		pause__resume(p);
	}
	assert_true(soon_all_in('t', true, 1000));
	assert_true(all_count(1000));
	const struct pause_stats *st = pause__stats(p);
	assert_true(st->stops >= 201);
	assert_true(st->threads >= 201 * NTIDS);
	assert_int_equal(st->gone, 0);
	assert_int_equal(st->errors, st->timeouts);
	assert_true(st->stopped_ns > 0);
	free_pause(p);
}

static void test_gone_tid(void **state)
{
	struct pause *p;
	pid_t tids[NTIDS + 2];
	(void)state;

	memcpy(tids, sh->tids, sizeof(sh->tids));
	tids[NTIDS] = sh->gone_tid; /* exited */
	tids[NTIDS + 1] = getpid(); /* alive, but not the child's */
	assert_int_equal(new_pause(&p), 0);
	assert_int_equal(stop_some(p, tids, NTIDS + 2, NTIDS), NTIDS);
	assert_true(all_in('t', false));
	assert_true(pause__stats(p)->gone >= 2);
	assert_int_equal(pause__stats(p)->gone % 2, 0);
	assert_int_equal(pause__stats(p)->errors, pause__stats(p)->timeouts);
	pause__resume(p);
	assert_true(all_count(1000));
	free_pause(p);
}

static void test_signal_while_stopped(void **state)
{
	struct pause *p;
	(void)state;

	assert_int_equal(new_pause(&p), 0);
	for (int k = 0; k < 5; k++) {
		assert_int_equal(stop_all(p), NTIDS);
		/* Every thread is held, so no handler can run yet. */
		assert_int_equal(kill(child, SIGUSR1), 0);
		assert_int_equal(pipe_bytes(50), 0);
		pause__resume(p);
		assert_int_equal(pipe_bytes(300), 1);
	}
	/* The same, aimed at one thread. */
	assert_int_equal(stop_all(p), NTIDS);
	assert_int_equal(tgkill(child, sh->tids[2], SIGUSR1), 0);
	assert_int_equal(pipe_bytes(50), 0);
	pause__resume(p);
	assert_int_equal(pipe_bytes(300), 1);
	free_pause(p);
}

/*
 * Worker 1 signals itself without pause, so signals reach it between
 * the seize and the interrupt: the kernel reports those as signal-
 * delivery-stops, and each must be handed back, not dropped.
 */
static void test_signal_storm(void **state)
{
	struct pause *p;
	(void)state;

	assert_int_equal(new_pause(&p), 0);
	for (int k = 0; k < 500; k++) {
		assert_int_equal(stop_all(p), NTIDS);
		pause__resume(p);
	}
	sh->quiet = 1;
	sleep_ms(50);
	print_message("# %llu signals sent, %llu handled, %llu caught while "
		      "stopping and handed back\n",
		      (unsigned long long)sh->sent,
		      (unsigned long long)sh->handled,
		      (unsigned long long)pause__stats(p)->signals);
	assert_true(sh->sent > 0);
	assert_int_equal(sh->sent, sh->handled);
	assert_int_equal(pause__stats(p)->errors, pause__stats(p)->timeouts);
	free_pause(p);
}

static void test_free_resumes(void **state)
{
	struct pause *p;
	(void)state;

	assert_int_equal(new_pause(&p), 0);
	assert_int_equal(stop_all(p), NTIDS);
	assert_true(all_in('t', false));
	free_pause(p);
	assert_true(soon_all_in('t', true, 1000));
	assert_true(all_count(1000));
}

/* A job-control stop is the target's: pause must leave it stopped. */
static void test_job_control(void **state)
{
	struct pause *p;
	int status;
	(void)state;

	assert_int_equal(kill(child, SIGSTOP), 0);
	assert_int_equal(waitpid(child, &status, WUNTRACED), child);
	assert_true(WIFSTOPPED(status));
	assert_true(soon_all_in('T', false, 1000));
	assert_int_equal(new_pause(&p), 0);
	for (int k = 0; k < 3; k++) {
		assert_int_equal(stop_all(p), NTIDS);
		pause__resume(p);
		assert_true(soon_all_in('T', false, 1000));
	}
	assert_int_equal(pause__stats(p)->job_stopped, 3 * NTIDS);
	assert_true(none_counts(50));
	/* The parent is not told of a second stop. */
	assert_int_equal(waitpid(child, &status, WUNTRACED | WNOHANG), 0);
	assert_int_equal(kill(child, SIGCONT), 0);
	assert_true(all_count(1000));
	free_pause(p);
}

/*
 * The safety guarantee: a tracer that dies (here SIGKILL) with threads
 * in SEIZE+INTERRUPT stops leaves them running.  Also: while another
 * process traces them, pause counts them busy and does not hang.
 */
static void test_tracer_killed(void **state)
{
	int fds[2];
	(void)state;

	assert_int_equal(pipe(fds), 0);
	pid_t tracer = fork();
	assert_true(tracer >= 0);
	if (tracer == 0) {
		struct pause *p;
		int r = pause__new(child, &p);
		if (!r)
			r = stop_all(p);
		if (write(fds[1], &r, sizeof(r)) < 0)
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	int r = -1;
	assert_int_equal(read(fds[0], &r, sizeof(r)), (ssize_t)sizeof(r));
	close(fds[0]);
	assert_int_equal(r, NTIDS);
	assert_true(all_in('t', false));
	assert_true(none_counts(30));

	struct pause *p;
	assert_int_equal(new_pause(&p), 0);
	assert_int_equal(pause__stop(p, sh->tids, NTIDS), 0);
	assert_int_equal(pause__stats(p)->busy, NTIDS);
	pause__resume(p);
	free_pause(p);

	assert_int_equal(kill(tracer, SIGKILL), 0);
	assert_int_equal(waitpid(tracer, NULL, 0), tracer);
	assert_true(soon_all_in('t', true, 1000));
	assert_true(all_count(1000));
}

/*
 * Worker 1 forks (and reaps) one grandchild after another, held and
 * let go 300 times; the grandchildren exit 1 if they find themselves
 * traced, and a stopped one would hang worker 1 in waitpid.  While the
 * other threads are held, worker 1 forks on.
 */
static void test_fork_in_pause(void **state)
{
	struct pause *p;
	(void)state;

	assert_int_equal(new_pause(&p), 0);
	for (int k = 0; k < 300; k++) {
		assert_int_equal(stop_all(p), NTIDS);
		pause__resume(p);
	}
	pid_t others[] = {sh->tids[0], sh->tids[2], sh->tids[3]};
	assert_int_equal(stop_some(p, others, 3, 3), 3);
	uint64_t forks = sh->forks_ok;
	assert_true(advances(1, 1000));
	sleep_ms(20);
	assert_true(sh->forks_ok > forks);
	pause__resume(p);
	assert_true(all_count(1000));
	sh->quiet = 1;
	sleep_ms(20);
	assert_true(sh->forks_ok > 0);
	assert_int_equal(sh->forks_bad, 0);
	assert_int_equal(pause__stats(p)->errors, pause__stats(p)->timeouts);
	free_pause(p);
}

/*
 * A thread in vfork waits in an unkillable sleep and cannot stop: pause
 * gives up on it after its timeout, holds the others, and lets it go as
 * soon as it reaches its stop after the vfork child has exited.
 */
static void test_timeout(void **state)
{
	struct pause *p;
	(void)state;

	int64_t end = now_ms() + 2000;
	while (!(sh->in_vfork == 1 && state_of(1) == 'D') && now_ms() < end)
		sleep_ms(1);
	assert_int_equal(state_of(1), 'D');
	assert_int_equal(new_pause(&p), 0);
	int r = pause__stop(p, sh->tids, NTIDS);
	/* (Fewer if the machine is so loaded that another thread too
	 * could not get a CPU to stop on in time.) */
	assert_true(r == NTIDS - 1 ||
		    (r >= 0 && r < NTIDS - 1 && pause__stats(p)->timeouts > 1));
	assert_true(pause__stats(p)->timeouts >= 1);
	assert_int_equal(pause__stats(p)->errors, pause__stats(p)->timeouts);
	assert_true(state_of(1) != 't');
	pause__resume(p);
	assert_true(advances(2, 1000));
	/* The vfork child exits; worker 1 stops at its pending interrupt
	 * and stays so until pause's next call. */
	end = now_ms() + 2000;
	while (sh->in_vfork != 2 && state_of(1) != 't' && now_ms() < end)
		sleep_ms(1);
	assert_int_equal(state_of(1), 't');
	pid_t one[] = {sh->tids[2]};
	assert_int_equal(stop_some(p, one, 1, 1), 1);
	pause__resume(p);
	assert_true(soon_all_in('t', true, 1000));
	assert_true(all_count(1000));
	assert_int_equal(sh->in_vfork, 2);
	free_pause(p);
}

/* As timeout, but the thread is let go by pause__free. */
static void test_timeout_free(void **state)
{
	struct pause *p;
	(void)state;

	int64_t end = now_ms() + 2000;
	while (!(sh->in_vfork == 1 && state_of(1) == 'D') && now_ms() < end)
		sleep_ms(1);
	assert_int_equal(state_of(1), 'D');
	assert_int_equal(new_pause(&p), 0);
	assert_true(pause__stop(p, sh->tids, NTIDS) <= NTIDS - 1);
	pause__resume(p);
	free_pause(p); /* waits for the vfork child (300 ms) */
	assert_true(soon_all_in('t', true, 1000));
	assert_true(all_count(1000));
}

/* Not allowed to trace: -EPERM, which the CLI turns into advice. */
static void test_eperm(void **state)
{
	(void)state;

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct pause *p;
		if (setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0)
			_exit(2);
		if (pause__new(child, &p))
			_exit(3);
		int r = pause__stop(p, sh->tids, NTIDS);
		pause__free(p);
		_exit(r == -EPERM ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 2)
		skip(); /* not root: cannot become another user */
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(all_count(1000));
}

int main(void)
{
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stop_resume, setup_spin,
						teardown),
		cmocka_unit_test_setup_teardown(test_gone_tid, setup_spin,
						teardown),
		cmocka_unit_test_setup_teardown(test_signal_while_stopped,
						setup_spin, teardown),
		cmocka_unit_test_setup_teardown(test_signal_storm, setup_storm,
						teardown),
		cmocka_unit_test_setup_teardown(test_free_resumes, setup_spin,
						teardown),
		cmocka_unit_test_setup_teardown(test_job_control, setup_spin,
						teardown),
		cmocka_unit_test_setup_teardown(test_tracer_killed, setup_spin,
						teardown),
		cmocka_unit_test_setup_teardown(test_fork_in_pause, setup_fork,
						teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup_vfork,
						teardown),
		cmocka_unit_test_setup_teardown(test_timeout_free, setup_vfork,
						teardown),
		cmocka_unit_test_setup_teardown(test_eperm, setup_spin,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
