/*
 * job.c - the command psample starts, run as a shell runs a job (job.h).
 *
 * A process group of its own makes ending the command exact: SIGTERM,
 * then SIGKILL, to the group reaches everything it started that stayed
 * in it (a shell's children, make's jobs) and nothing else.  The group
 * is named by the command's pid, which no other process can have while
 * the command is not reaped (a zombie keeps it), so the group is ended
 * before the command is reaped.
 *
 * A group of its own is not the terminal's foreground group: the
 * terminal's Ctrl-C, Ctrl-\ and Ctrl-Z reach psample's group, and
 * psample passes on the signals it catches (signals.c).  A command that
 * reads the terminal, or sets its modes, from the background is stopped
 * by the kernel (SIGTTIN, SIGTTOU); psample, seeing it stop so while
 * psample's group is in the foreground, makes the command's group the
 * foreground group and continues it, and the read is made again.  So an
 * interactive command gets the terminal, and its keys, as it would
 * without psample, while a command that never reads it leaves it to
 * psample's group: a pager psample's output is piped to keeps reading
 * it.  (Handing it over at the start would stop that pager.)  The
 * terminal is taken back when the command ends.  psample ignores
 * SIGTTOU meanwhile, so that it can take the terminal back and write to
 * it with TOSTOP set.
 *
 * A stop of either is made a stop of both, so that the shell's Ctrl-Z,
 * fg and bg work on the two as on one job: the command stopped (by the
 * terminal, or reading it while psample is in the background) stops
 * psample's group as the terminal would have stopped the job; psample
 * stopped stops the command; and psample continued continues the
 * command, giving it back the terminal it had if psample has it.
 *
 * All this only where psample has a controlling terminal: without one
 * there is no job control to take part in.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "psample/clock.h"
#include "psample/error.h"
#include "psample/proc.h"
#include "fail.h"
#include "job.h"
#include "signals.h"

#define NSEC 1000000000LL
/* How long a command given up on has between SIGTERM and SIGKILL. */
#define JOB_GRACE_NS (2 * NSEC)

/* Read by the handlers: the command's group, or 0; psample's terminal
 * when job control applies, or -1; whether the command had it when it
 * was stopped. */
static volatile sig_atomic_t job_group;
static volatile sig_atomic_t job_tty = -1;
static volatile sig_atomic_t job_had_tty;

/* The signals job control handles, and what they did before. */
static const int job_sigs[] = {SIGTTOU, SIGTSTP, SIGTTIN, SIGCONT, SIGCHLD};
#define JOB_NSIGS (sizeof(job_sigs) / sizeof(job_sigs[0]))
static struct sigaction job_saved[JOB_NSIGS];

/* The signals psample passes on: held while the group is made. */
static const int job_passed[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

/* Give the terminal to group, from the background too. */
static void tty__give(int tty, pid_t group)
{
	sigset_t ttou, old;

	sigemptyset(&ttou);
	sigaddset(&ttou, SIGTTOU);
	sigprocmask(SIG_BLOCK, &ttou, &old);
	tcsetpgrp(tty, group);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* psample is continued: so is the command, with the terminal again if
 * it had it and psample has it. */
static void job__resume(void)
{
	pid_t group = (pid_t)job_group;

	if (group <= 0)
		return;
	if (job_had_tty && tcgetpgrp(job_tty) == getpgrp()) {
		tty__give(job_tty, group);
		job_had_tty = 0;
	}
	kill(-group, SIGCONT);
}

static void job__on_cont(int sig)
{
	int e = errno;

	(void)sig;
	job__resume();
	errno = e;
}

/* psample is stopped: the command first, then psample, the usual way;
 * going on when continued. */
static void job__on_stop(int sig)
{
	int e = errno;
	pid_t group = (pid_t)job_group;
	struct sigaction dfl, mine;
	sigset_t set;

	if (group > 0) {
		kill(-group, SIGTSTP);
		if (tcgetpgrp(job_tty) == group) {
			job_had_tty = 1;
			tty__give(job_tty, getpgrp());
		}
	}
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, &mine);
	sigemptyset(&set);
	sigaddset(&set, sig);
	raise(sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL); /* stops here */
	sigaction(sig, &mine, NULL);
	/* Also when the stop was discarded (an orphaned group). */
	job__resume();
	errno = e;
}

/* The command stopped: by asking for the terminal, which it gets if
 * psample has it; else as the terminal would have stopped the job. */
static void job__on_child(int sig)
{
	int e = errno;
	pid_t group = (pid_t)job_group;
	siginfo_t si;

	(void)sig;
	memset(&si, 0, sizeof(si));
	/* Looked at first: an exit, or a ptrace stop of --blocking, is
	 * for others to collect. */
	if (group <= 0 ||
	    waitid(P_PID, (id_t)group, &si, WSTOPPED | WNOHANG | WNOWAIT) ||
	    si.si_pid != group || si.si_code != CLD_STOPPED ||
	    (si.si_status != SIGTSTP && si.si_status != SIGTTIN &&
	     si.si_status != SIGTTOU)) {
		errno = e;
		return;
	}
	waitid(P_PID, (id_t)group, &si, WSTOPPED | WNOHANG);
	if (si.si_status != SIGTSTP && tcgetpgrp(job_tty) == getpgrp()) {
		tty__give(job_tty, group);
		kill(-group, SIGCONT);
	} else {
		kill(0, SIGTSTP);
	}
	errno = e;
}

/* Job control, where psample has a controlling terminal. */
static void job__control_on(void)
{
	struct sigaction sa;
	int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (tty < 0)
		return;
	if (tcgetpgrp(tty) < 0) {
		close(tty);
		return;
	}
	job_tty = tty;
	for (size_t i = 0; i < JOB_NSIGS; i++) {
		memset(&sa, 0, sizeof(sa));
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_RESTART;
		switch (job_sigs[i]) {
		case SIGTTOU: sa.sa_handler = SIG_IGN; break;
		case SIGCONT: sa.sa_handler = job__on_cont; break;
		case SIGCHLD: sa.sa_handler = job__on_child; break;
		default: sa.sa_handler = job__on_stop; break;
		}
		sigaction(job_sigs[i], &sa, &job_saved[i]);
	}
}

void job__done(void)
{
	pid_t group = (pid_t)job_group;
	int tty = (int)job_tty;

	cli_forward_to = 0;
	job_group = 0;
	if (tty < 0)
		return;
	/* Unless the shell took it (psample sent to the background). */
	if (group > 0 && tcgetpgrp(tty) == group)
		tty__give(tty, getpgrp());
	for (size_t i = 0; i < JOB_NSIGS; i++)
		sigaction(job_sigs[i], &job_saved[i], NULL);
	job_tty = -1;
	job_had_tty = 0;
	close(tty);
}

/* The child's side of job__spawn; old: the signal mask to run with. */
static void job__child(char **argv, bool apart, int pfd, const sigset_t *old)
{
	setpgid(0, 0);
	/* Ignored signals stay ignored across exec: not this one. */
	signal(SIGTTOU, SIG_DFL);
	sigprocmask(SIG_SETMASK, old, NULL);
	if (apart) {
		/* Not left running if psample is killed outright. */
		prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
		int fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, STDIN_FILENO);
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
			if (fd > STDERR_FILENO)
				close(fd);
		}
	}
	execvp(argv[0], argv);
	/* Tell the parent why, through the close-on-exec pipe. */
	int e = errno;
	if (write(pfd, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

int job__spawn(char **argv, bool apart, pid_t *out)
{
	int pfd[2];
	sigset_t held, old;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return cli__fail(-errno, 0, "pipe");
	if (!apart)
		job__control_on();
	/* A signal to pass on waits until there is a group to pass it
	 * to. */
	sigemptyset(&held);
	for (size_t i = 0; i < sizeof(job_passed) / sizeof(job_passed[0]); i++)
		sigaddset(&held, job_passed[i]);
	sigprocmask(SIG_BLOCK, &held, &old);
	fflush(NULL);
	pid_t child = fork();
	if (child == 0) {
		close(pfd[0]);
		job__child(argv, apart, pfd[1], &old);
	}
	int fork_errno = errno;
	if (child > 0) {
		/* In both: whichever runs first, the group exists before
		 * anything is sent to it (EACCES once it has exec'd). */
		setpgid(child, child);
		if (!apart) {
			job_group = child;
			cli_forward_to = child;
		}
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(pfd[1]);
	if (child < 0) {
		close(pfd[0]);
		job__done();
		return cli__fail(-fork_errno, 0, "fork");
	}
	int e = 0;
	ssize_t n;
	while ((n = read(pfd[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(pfd[0]);
	if (n == (ssize_t)sizeof(e)) {
		job__done();
		while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
			;
		fprintf(stderr, "psample: cannot run '%s': %s\n", argv[0],
			strerror(e));
		return PS_EXIT_EXEC;
	}
	if (job_tty >= 0)
		job__on_child(SIGCHLD); /* a stop before job_group was set */
	*out = child;
	return 0;
}

/* Whether the command, or anything left in its group, still runs. */
static bool job__live(pid_t pid)
{
	return proc__alive(pid) == 1 || proc__group_live(pid) > 0;
}

static void job__signal(pid_t pid, int sig)
{
	kill(-pid, sig);
	kill(pid, sig); /* should it have left its group */
}

int job__end(pid_t pid)
{
	int64_t deadline = clock__ns(CLOCK_MONOTONIC) + JOB_GRACE_NS;
	int status = 0;

	/* Nothing passed on from here: it is being ended. */
	cli_forward_to = 0;
	job__signal(pid, SIGTERM);
	/* A stopped process holds SIGTERM until continued. */
	job__signal(pid, SIGCONT);
	while (job__live(pid)) {
		if (clock__ns(CLOCK_MONOTONIC) >= deadline) {
			job__signal(pid, SIGKILL);
			break;
		}
		struct timespec ts = {.tv_nsec = 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	job__done();
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}
