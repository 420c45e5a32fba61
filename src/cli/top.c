/*
 * top.c - `psample top`: a live, full-screen view of where a Python
 * program spends its time, refreshed every second, in the manner of
 * py-spy top.  This file starts and ends it: the checks, the target,
 * the signals, the sampling thread and its hand-over of snapshots to the
 * screen, and the command top started (top.h has the design).
 */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "psample/clock.h"
#include "psample/error.h"
#include "psample/proc.h"
#include "psample/target.h"
#include "psample/sampler.h"
#include "psample/trie.h"
#include "backend.h"
#include "commands.h"
#include "fail.h"
#include "job.h"
#include "sampling.h"
#include "signals.h"
#include "target.h"
#include "top.h"

#define NSEC 1000000000LL
#define REFRESH_NS NSEC
/* How long `top -- cmd` waits for its command to become Python, as
 * record does; --pid gets a second for an interpreter still starting. */
#define SPAWN_WAIT_NS (5 * NSEC)
#define ATTACH_WAIT_NS NSEC

static void top__publish(struct top *tp, const struct trie *trie,
			 const struct sampler_stats *st, bool final, int err)
{
	int64_t now = clock__ns(CLOCK_MONOTONIC);

	if (!tp->agg_failed && top_agg__update(&tp->agg, trie))
		tp->agg_failed = true; /* out of memory: the header says */
	struct top_snap *s = top_agg__snapshot(&tp->agg);
	if (!s)
		return;
	s->st = *st;
	s->prev = tp->prev;
	s->elapsed_ns = now - tp->start_ns;
	s->window_ns = now - tp->last_ns;
	s->final = final;
	s->incomplete = tp->agg_failed;
	s->err = err;
	tp->prev = *st;
	tp->last_ns = now;

	pthread_mutex_lock(&tp->lock);
	struct top_snap *old = tp->pending;
	tp->pending = s;
	pthread_mutex_unlock(&tp->lock);
	top_snap__free(old);
	char c = 's';
	/* Non-blocking: a full pipe already says there is news. */
	if (write(tp->wake[1], &c, 1) < 0) {
		/* nothing to do */
	}
}

static int top__on_tick(void *arg, struct trie *trie,
			const struct sampler_stats *st)
{
	struct top *tp = arg;
	int64_t now = clock__ns(CLOCK_MONOTONIC);

	if (atomic_load(&tp->quit))
		return 1;
	if (now < tp->next_ns)
		return 0;
	/* On a one-second schedule, not "a second after the last draw". */
	tp->next_ns += REFRESH_NS;
	if (tp->next_ns <= now)
		tp->next_ns = now + REFRESH_NS;
	top__publish(tp, trie, st, false, 0);
	return 0;
}

static void *top__sample(void *arg)
{
	struct top *tp = arg;
	struct cli_opts *o = tp->o;
	struct sampler_opts so;

	cli__sampler_opts(o, tp->child, &so);
	so.thread_states = true;
	so.on_tick = top__on_tick;
	so.arg = tp;

	tp->start_ns = tp->last_ns = clock__ns(CLOCK_MONOTONIC);
	tp->next_ns = tp->start_ns + REFRESH_NS;
	tp->err = cli__backend_run(o, tp->pid, tp->t, tp->trie, &so, &tp->st,
				   &cli_stop);
	top__publish(tp, tp->trie, &tp->st, true, tp->err);
	return NULL;
}

/* Wakes the sampling thread's sleep so that it sees the stop flag. */
static void on_wake_signal(int sig)
{
	(void)sig;
}

static void top__signals(void)
{
	struct sigaction sa;

	cli__catch_signals();
	/* A closed terminal or Ctrl-\ ends top like q: the terminal is
	 * restored before psample exits. */
	cli__stop_on(SIGHUP);
	cli__stop_on(SIGQUIT);
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_wake_signal;
	sigaction(SIGUSR1, &sa, NULL);
}

static int top__check(const struct cli_opts *o)
{
	if (o->all && (o->pid || o->argv[0])) {
		fprintf(stderr, "psample: top --all takes no --pid or "
				"command: it shows every Python process\n");
		return PS_EXIT_USAGE;
	}
	if (o->pid && o->argv[0]) {
		fprintf(stderr, "psample: top takes --pid PID or -- COMMAND, "
				"not both\n");
		return PS_EXIT_USAGE;
	}
	if (!o->pid && !o->argv[0] && !o->all) {
		fprintf(stderr, "psample: top needs --pid PID or a command: "
				"psample top -- python3 app.py\n");
		return PS_EXIT_USAGE;
	}
	if (o->output || o->format || o->json) {
		fprintf(stderr, "psample: top writes no profile: -o, -f and "
				"--json do not apply (use record or attach)\n");
		return PS_EXIT_USAGE;
	}
	if (o->mode == SAMPLER_MEMORY) {
		fprintf(stderr, "psample: top shows time, not memory: use "
				"record --mode memory -f folded\n");
		return PS_EXIT_USAGE;
	}
	if (!isatty(STDOUT_FILENO)) {
		fprintf(stderr, "psample: top needs a terminal on standard "
				"output; use record or attach to write a "
				"profile instead\n");
		return PS_EXIT_USAGE;
	}
	return 0;
}

/* Everything after the target is open.  Returns the exit code. */
static int top__session(struct top *tp)
{
	struct top_screen u = {.tp = tp};
	pthread_t th;
	sigset_t all, old;
	int rc;

	if (pipe2(tp->wake, O_CLOEXEC | O_NONBLOCK) < 0)
		return cli__fail(-errno, tp->pid, "pipe");
	pthread_mutex_init(&tp->lock, NULL);
	if ((rc = top_screen__start(&u)))
		goto out_screen;
	/* Signals go to the main thread, whose poll they interrupt; the
	 * sampling thread takes only the wake-up. */
	sigfillset(&all);
	sigdelset(&all, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int err = pthread_create(&th, NULL, top__sample, tp);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		top_screen__end();
		rc = cli__fail(-err, tp->pid, "thread");
		goto out_screen;
	}

	top_screen__run(&u);
	top_screen__end();
	atomic_store(&tp->quit, true);
	cli_stop = 1;
	pthread_kill(th, SIGUSR1);
	pthread_join(th, NULL);
	if (tp->st.child_reaped && !tp->child_reaped) {
		/* It ended by itself while the screen was closing. */
		tp->child_reaped = true;
		tp->child_status = tp->st.child_status;
	}

	rc = 0;
	if (cli__refused(tp->err, &tp->st))
		rc = cli__start_error(tp->err, tp->o, tp->pid, tp->t);
	else if (tp->child > 0 && tp->child_reaped)
		rc = cli__exit_code(tp->child_status);
out_screen:
	top_screen__free(&u);
	top_snap__free(tp->pending);
	top_agg__free(&tp->agg);
	pthread_mutex_destroy(&tp->lock);
	close(tp->wake[0]);
	close(tp->wake[1]);
	return rc;
}

int cli__top(struct cli_opts *o)
{
	struct top tp = {.o = o};
	int rc, status = 0;

	if ((rc = top__check(o)))
		return rc;
	setlocale(LC_ALL, "");
	top__signals();
	if (o->argv[0] && (rc = job__spawn(o->argv, true, &tp.child)))
		return rc;

	if (o->all) {
		/* Every Python process: no target of its own. */
		tp.trie = trie__new();
		rc = tp.trie ? top__session(&tp) : cli__fail(-ENOMEM, 0, "top");
		trie__free(tp.trie);
		return rc;
	}
	pid_t pid = tp.child ? tp.child : o->pid;
	tp.pid = pid;
	int err = cli__open(pid, tp.child,
			    tp.child ? SPAWN_WAIT_NS : ATTACH_WAIT_NS, false,
			    &tp.t, &status);
	if (err == -ECHILD) {
		fprintf(stderr,
			"psample: '%s' exited before Python could be "
			"sampled\n",
			o->argv[0]);
		return cli__exit_code(status);
	}
	if (err) {
		/* No hint of --subprocesses: top takes a Python root only. */
		rc = cli_stop && tp.child
			     ? 0
			     : cli__fail_target(err, pid, "top", false);
		if (tp.child)
			job__end(tp.child);
		return rc;
	}
	tp.trie = trie__new();
	if (!tp.trie) {
		rc = cli__fail(-ENOMEM, pid, "top");
	} else {
		proc__cmdline(pid, tp.cmdline, sizeof(tp.cmdline));
		rc = top__session(&tp);
	}
	if (tp.child && !tp.child_reaped)
		job__end(tp.child);
	trie__free(tp.trie);
	py_target__free(tp.t);
	return rc;
}
