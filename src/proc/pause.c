/*
 * pause.c - stopping threads for one read (see pause.h).
 *
 * A stop is PTRACE_SEIZE (attach without stopping, no options) and
 * PTRACE_INTERRUPT, then waitpid(tid, __WALL) for the thread's report;
 * the resume is PTRACE_DETACH.  A thread this object has seized is an
 * entry until it is detached or has gone:
 *   WAITING  seized and interrupted, its stop not seen yet
 *   STOPPED  in a ptrace stop, held for the current read
 *   DYING    killed while seized: its exit is reported to us, the
 *            tracer, and only once we reap it can the process end (and
 *            its parent learn of it)
 * Entries a timeout leaves WAITING or DYING are polled at every call.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "psample/clock.h"
#include "psample/pause.h"
#include "psample/proc.h"

#define NSEC 1000000000LL
/* Checks (1 ms apart) that must find a thread in D to give up on it. */
#define PAUSE_D_CHECKS 5
/* pause__free waits this long for threads a timeout left seized. */
#define PAUSE_FREE_WAIT_NS (1000 * 1000 * 1000LL)

enum { GONE, WAITING, STOPPED, DYING };
enum { W_NONE, W_STOP, W_EXIT };

struct entry {
	pid_t tid;
	int state;
	int sig; /* the signal to hand back on detach */
	bool want; /* asked for by the pause__stop under way */
	int in_d; /* checks in a row that found it in state D */
};

struct pause {
	pid_t pid;
	bool parent; /* we are pid's parent: its exit is the caller's */
	timer_t timer;
	int64_t t0; /* when the held stop began; 0 when nothing is held */
	int64_t soft; /* from then on, give up on a thread in 'D' */
	int64_t deadline; /* give up on any thread */
	struct entry *v;
	size_t n, cap;
	struct pause_stats st;
};

/* The timer handler is shared by every pause object of the process. */
static int handler_users;
static struct sigaction handler_old;

static void pause__on_timer(int sig)
{
	/* Nothing: its only purpose is to make a blocked waitpid return
	 * EINTR (the handler is installed without SA_RESTART). */
	(void)sig;
}

static int64_t pause__now(void)
{
	return clock__ns(CLOCK_MONOTONIC);
}

/* Field 4 of /proc/PID/stat, after the last ')' (comm may hold one). */
static pid_t pause__ppid(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r <= 0)
		return -1;
	buf[r] = '\0';
	const char *p = strrchr(buf, ')');
	int ppid;
	char state;
	if (!p || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
		return -1;
	return ppid;
}

/* Whether another process traces tid (SEIZE then fails with EPERM). */
static bool pause__traced_elsewhere(pid_t pid, pid_t tid)
{
	char path[96], buf[2048];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid,
		 (int)tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r <= 0)
		return false;
	buf[r] = '\0';
	const char *t = strstr(buf, "\nTracerPid:");
	int tracer = 0;
	if (!t || sscanf(t + 11, " %d", &tracer) != 1)
		return false;
	return tracer != 0 && tracer != getpid();
}

/*
 * Fire at soft and then every millisecond until disarmed, each time
 * interrupting the blocked waitpid so the wait can look at the clock and
 * the thread.  (Firing again also covers a tick that comes just before
 * waitpid blocks.)
 */
static void pause__arm(struct pause *p, int64_t soft, int64_t deadline)
{
	struct itimerspec its = {
		.it_value = {.tv_sec = soft / NSEC, .tv_nsec = soft % NSEC},
		.it_interval = {.tv_sec = 0, .tv_nsec = 1000 * 1000},
	};
	p->soft = soft;
	p->deadline = deadline;
	timer_settime(p->timer, TIMER_ABSTIME, &its, NULL);
}

/*
 * Whether to stop waiting for a thread: past the deadline, or past the
 * soft limit with the thread in an uninterruptible sleep, where the
 * interrupt cannot reach it until the sleep ends (disk I/O, a vfork
 * parent).  A runnable thread is waited for up to the deadline: on a
 * loaded machine it may take many milliseconds to get a CPU and stop.
 */
static bool pause__give_up(const struct pause *p, struct entry *e)
{
	int64_t now = pause__now();
	if (now >= p->deadline)
		return true;
	if (now < p->soft)
		return false;
	/* Checked every millisecond; a short D (a page fault, fork copying
	 * memory) must not count, so it takes PAUSE_D_CHECKS in a row. */
	if (proc__thread_state(p->pid, e->tid) != 'D')
		e->in_d = 0;
	else if (++e->in_d >= PAUSE_D_CHECKS)
		return true;
	return false;
}

static void pause__disarm(struct pause *p)
{
	struct itimerspec its;
	memset(&its, 0, sizeof(its));
	timer_settime(p->timer, 0, &its, NULL);
}

int pause__new(pid_t pid, struct pause **out)
{
	struct pause *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->pid = pid;
	p->parent = pause__ppid(pid) == getpid();
	if (!handler_users) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = pause__on_timer;
		sigemptyset(&sa.sa_mask);
		if (sigaction(PAUSE_SIGNAL, &sa, &handler_old) < 0) {
			int err = -errno;
			free(p);
			return err;
		}
	}
	handler_users++;
	struct sigevent sev;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = PAUSE_SIGNAL;
	/* glibc before 2.41 has no sigev_notify_thread_id name for it. */
	sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
	if (timer_create(CLOCK_MONOTONIC, &sev, &p->timer) < 0) {
		int err = -errno;
		if (!--handler_users)
			sigaction(PAUSE_SIGNAL, &handler_old, NULL);
		free(p);
		return err;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, PAUSE_SIGNAL);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	*out = p;
	return 0;
}

static struct entry *pause__find(struct pause *p, pid_t tid)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].tid == tid && p->v[i].state != GONE)
			return &p->v[i];
	return NULL;
}

static struct entry *pause__add(struct pause *p, pid_t tid)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct entry *v = realloc(p->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		p->v = v;
		p->cap = cap;
	}
	struct entry *e = &p->v[p->n++];
	*e = (struct entry){.tid = tid, .state = WAITING};
	return e;
}

static void pause__compact(struct pause *p)
{
	size_t k = 0;
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].state != GONE)
			p->v[k++] = p->v[i];
	p->n = k;
}

/* What a ptrace stop of a seized thread means for its detach. */
static void pause__took_stop(struct pause *p, struct entry *e, int event,
			     int sig)
{
	e->state = STOPPED;
	e->sig = 0;
	if (event == PTRACE_EVENT_STOP) {
		/* The interrupt (SIGTRAP), or a group stop (the stop signal):
		 * the kernel puts a group-stopped thread back on detach. */
		if (sig != SIGTRAP)
			p->st.job_stopped++;
	} else if (event == 0) {
		/* A signal-delivery-stop: a signal reached the thread before
		 * the interrupt did.  Detaching with it delivers it. */
		e->sig = sig;
		p->st.signals++;
	}
}

/*
 * Wait for what e's thread reports: W_STOP (e is then STOPPED), W_EXIT
 * (it is gone, reaped unless it is our child's exit), or W_NONE (nothing
 * yet, or the deadline passed while blocking).
 */
static int pause__wait(struct pause *p, struct entry *e, bool block)
{
	int nohang = block ? 0 : WNOHANG;

	e->in_d = 0;
	for (;;) {
		int status;
		if (e->tid == p->pid && p->parent) {
			/* Look before taking: our child's exit status is the
			 * caller's to collect. */
			siginfo_t si;
			memset(&si, 0, sizeof(si));
			if (waitid(P_PID, (id_t)e->tid, &si,
				   WEXITED | WSTOPPED | __WALL | WNOWAIT |
					   nohang) < 0) {
				if (errno == EINTR && block &&
				    !pause__give_up(p, e))
					continue;
				return errno == EINTR ? W_NONE : W_EXIT;
			}
			if (si.si_pid == 0)
				return W_NONE;
			if (si.si_code == CLD_EXITED ||
			    si.si_code == CLD_KILLED ||
			    si.si_code == CLD_DUMPED)
				return W_EXIT;
			nohang = WNOHANG; /* a stop is there: take it */
		}
		pid_t r = waitpid(e->tid, &status, __WALL | nohang);
		if (r == e->tid) {
			if (!WIFSTOPPED(status))
				return W_EXIT;
			pause__took_stop(p, e, (int)((unsigned)status >> 16),
					 WSTOPSIG(status));
			return W_STOP;
		}
		if (r == 0)
			return W_NONE;
		if (errno == EINTR) {
			if (block && !pause__give_up(p, e))
				continue;
			return W_NONE;
		}
		/* ECHILD: not ours any more (reaped by our caller). */
		return W_EXIT;
	}
}

/*
 * Without blocking, whether a thread left WAITING has stopped by now.
 * Its report may have been taken by our caller's waitpid (the main
 * thread of our own child): then the stop is recognised from the
 * thread's siginfo, which only a thread in a ptrace stop has.
 */
static int pause__poll(struct pause *p, struct entry *e)
{
	int w = pause__wait(p, e, false);
	if (w != W_NONE || e->state != WAITING)
		return w;
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	if (ptrace(PTRACE_GETSIGINFO, e->tid, NULL, &si) < 0)
		return W_NONE;
	int event =
		(si.si_code >> 8) == PTRACE_EVENT_STOP ? PTRACE_EVENT_STOP : 0;
	pause__took_stop(p, e, event, si.si_signo);
	return W_STOP;
}

static void pause__detach(struct entry *e)
{
	/* The raw call: its data argument is the signal as a long. */
	if (syscall(SYS_ptrace, (long)PTRACE_DETACH, (long)e->tid, 0L,
		    (long)e->sig) == 0) {
		e->state = GONE;
		return;
	}
	/* ESRCH: no longer in its stop, so a SIGKILL (or another thread's
	 * execve) woke it to exit, and it exits as our tracee. */
	e->state = DYING;
}

/* Reap a DYING entry, or detach a WAITING one that has stopped since. */
static void pause__settle(struct pause *p, struct entry *e)
{
	int w = pause__poll(p, e);
	if (w == W_EXIT)
		e->state = GONE;
	else if (w == W_STOP)
		pause__detach(e);
}

void pause__resume(struct pause *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].state == STOPPED)
			pause__detach(&p->v[i]);
	if (p->t0) {
		p->st.stopped_ns += pause__now() - p->t0;
		p->t0 = 0;
	}
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].state != GONE)
			pause__settle(p, &p->v[i]);
	pause__compact(p);
}

int pause__stop(struct pause *p, const pid_t *tids, size_t n)
{
	bool eperm = false;
	size_t waiting = 0;
	int stopped = 0;

	if (p->t0)
		pause__resume(p);
	p->st.stops++;
	for (size_t i = 0; i < p->n; i++)
		pause__settle(p, &p->v[i]);
	pause__compact(p);

	p->t0 = pause__now();
	for (size_t i = 0; i < n; i++) {
		pid_t tid = tids[i];
		struct entry *e = pause__find(p, tid);
		if (e) {
			/* Still seized from a call that gave up on it (or
			 * named twice): wait for it again, unless it is still
			 * where it could not stop. */
			if (e->state == WAITING && !e->want) {
				if (proc__thread_state(p->pid, tid) == 'D') {
					p->st.errors++;
					p->st.timeouts++;
					continue;
				}
				e->want = true;
				waiting++;
			} else if (e->state == DYING) {
				p->st.gone++;
			}
			continue;
		}
		/* tids come from an earlier sample: one that has exited
		 * (its number possibly reused elsewhere) is not touched. */
		if (tid <= 0 ||
		    (tgkill(p->pid, tid, 0) < 0 && errno == ESRCH)) {
			p->st.gone++;
			continue;
		}
		if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) < 0) {
			if (errno == ESRCH) {
				p->st.gone++;
			} else if (errno == EPERM &&
				   pause__traced_elsewhere(p->pid, tid)) {
				p->st.errors++;
				p->st.busy++;
			} else {
				eperm |= errno == EPERM;
				p->st.errors++;
			}
			continue;
		}
		e = pause__add(p, tid);
		if (!e) {
			/* Not recorded, so let it go at once. */
			ptrace(PTRACE_DETACH, tid, NULL, NULL);
			p->st.errors++;
			continue;
		}
		if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0) {
			/* Killed right after the seize: reap it later. */
			e->state = DYING;
			p->st.gone++;
			continue;
		}
		e->want = true;
		waiting++;
	}

	if (waiting) {
		pause__arm(p, p->t0 + PAUSE_SOFT_NS, p->t0 + PAUSE_TIMEOUT_NS);
		for (size_t i = 0; i < p->n; i++) {
			struct entry *e = &p->v[i];
			if (!e->want || e->state != WAITING)
				continue;
			int w = pause__wait(p, e, true);
			if (w == W_EXIT) {
				e->state = GONE;
				p->st.gone++;
			} else if (w == W_NONE) {
				/* Stays seized; a later call detaches it. */
				p->st.errors++;
				p->st.timeouts++;
			}
		}
		pause__disarm(p);
	}
	for (size_t i = 0; i < p->n; i++) {
		if (p->v[i].want && p->v[i].state == STOPPED)
			stopped++;
		p->v[i].want = false;
	}
	pause__compact(p);
	p->st.threads += (uint64_t)stopped;
	if (!stopped) {
		p->t0 = 0;
		if (eperm)
			return -EPERM;
	}
	return stopped;
}

void pause__free(struct pause *p)
{
	if (!p)
		return;
	pause__resume(p);
	/* Threads a timeout left seized: give them a moment to reach their
	 * stop (then detach them) or to exit (then reap them).  Any still
	 * seized after that are detached by the kernel when we exit. */
	if (p->n) {
		int64_t end = pause__now() + PAUSE_FREE_WAIT_NS;
		pause__arm(p, end, end);
		for (size_t i = 0; i < p->n; i++) {
			struct entry *e = &p->v[i];
			while (e->state != GONE) {
				pause__settle(p, e);
				if (e->state == GONE ||
				    pause__now() >= p->deadline)
					break;
				if (pause__wait(p, e, true) == W_EXIT)
					e->state = GONE;
				else if (e->state == STOPPED)
					pause__detach(e);
			}
		}
		pause__disarm(p);
	}
	timer_delete(p->timer);
	if (!--handler_users)
		sigaction(PAUSE_SIGNAL, &handler_old, NULL);
	free(p->v);
	free(p);
}

const struct pause_stats *pause__stats(const struct pause *p)
{
	return &p->st;
}
