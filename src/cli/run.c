/*
 * run.c - `psample record` and `psample attach`: find the interpreter,
 * sample it until told to stop, write the profile, say how it went.
 *
 * Every way sampling can end (Ctrl-C, SIGTERM, --duration, the target
 * exiting) takes the same path out: the profile is written atomically and
 * a one-line summary goes to stderr.  The output path is checked before
 * sampling starts so that no run is wasted on an unwritable path.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "psample/error.h"
#include "psample/output.h"
#include "psample/proc.h"
#include "psample/pytarget.h"
#include "psample/sampler.h"
#include "psample/trie.h"
#include "cli.h"

/* How long `record` waits for its command to become a Python process. */
#define RECORD_WAIT_NS (5LL * 1000000000LL)

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void run__summary(const struct sampler_stats *st, double rate,
			 const char **written, size_t nwritten)
{
	double secs = (double)st->elapsed_ns / 1e9;
	uint64_t tried = st->samples + st->errors;
	uint64_t late = st->late + st->missed;
	uint64_t due = st->ticks + st->missed;

	fprintf(stderr,
		"psample: %llu samples in %.2f s (%.1f Hz achieved, %.0f Hz "
		"asked), %llu errors (%.2f%%), %llu late (%.2f%%), %.1f us "
		"CPU/sample%s",
		(unsigned long long)st->samples, secs,
		secs > 0 ? (double)st->ticks / secs : 0.0, rate,
		(unsigned long long)st->errors + st->thread_errors,
		tried ? 100.0 * (double)(st->errors + st->thread_errors) /
				(double)(tried + st->thread_errors)
		      : 0.0,
		(unsigned long long)late,
		due ? 100.0 * (double)late / (double)due : 0.0,
		st->ticks ? (double)st->cpu_ns / 1e3 / (double)st->ticks : 0.0,
		nwritten ? "; wrote " : "");
	for (size_t i = 0; i < nwritten; i++)
		fprintf(stderr, "%s%s", i ? ", " : "", written[i]);
	fputc('\n', stderr);
}

/* Sample, write, summarise.  Returns an exit code. */
static int run__profile(struct cli_opts *o, struct py_target *t,
			const struct cli_outputs *ro, pid_t child,
			struct sampler_stats *st)
{
	struct sampler_opts so = {
		.rate_hz = o->rate_hz,
		.duration_s = o->duration_s,
		.child = child,
	};
	struct trie *trie = trie__new();
	int64_t start_wall;
	struct timespec ts;
	char cmdline[1024] = "";

	if (!trie)
		return cli__fail(-ENOMEM, t->pid, "profile");
	clock_gettime(CLOCK_REALTIME, &ts);
	start_wall = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
	proc__cmdline(t->pid, cmdline, sizeof(cmdline));

	int err = sampler__run(t, trie, &so, st, &cli_stop);
	if (err) {
		/* Keep going: what was sampled is still written. */
		fprintf(stderr, "psample: sampling stopped early: %s\n",
			ps_strerror(err));
	}
	int rc = 0;
	const char *written[CLI_MAX_OUTPUTS];
	size_t nwritten = 0;
	struct profile_meta meta = {
		.pid = t->pid,
		.interval_s = 1.0 / o->rate_hz,
		.start_unix_ns = start_wall,
		.duration_ns = st->elapsed_ns,
		.cmdline = cmdline,
		.mode = "wall",
		.python = t->version_str,
	};
	if (trie__total(trie) == 0) {
		fprintf(stderr, "psample: no Python stacks were sampled; "
				"no profile written\n");
	} else {
		rc = cli__write_outputs(o, ro, trie, &meta, written, &nwritten);
	}
	if (!o->quiet) {
		if (trie__total(trie))
			cli__report(trie, &meta, o);
		run__summary(st, o->rate_hz, written, nwritten);
	}
	trie__free(trie);
	return rc;
}

/* Open pid, waiting while it is not (yet) an initialised interpreter. */
static int run__open(pid_t pid, pid_t child, int64_t wait_ns,
		     struct py_target **t, int *child_status)
{
	int64_t deadline = now_ns() + wait_ns;

	for (;;) {
		int status;
		int err = py_target__open(pid, t);
		if (!err)
			return 0;
		/* Our child gone (a zombie reads as no such process): hand
		 * back its status rather than a confusing error. */
		if (child > 0 && waitpid(child, &status, WNOHANG) == child) {
			*child_status = status;
			return -ECHILD;
		}
		bool transient = err == -PS_ENOTPYTHON ||
				 err == -PS_ENOTREADY || err == -EFAULT ||
				 err == -PS_EBADLAYOUT;
		if (!transient || now_ns() >= deadline || cli_stop)
			return err;
		struct timespec ts = {.tv_nsec = 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

int cli__attach(struct cli_opts *o)
{
	struct py_target *t;
	struct cli_outputs ro;
	struct sampler_stats st;
	int rc;

	cli__catch_signals();
	/* A process that is just starting gets a moment to initialise. */
	int err = run__open(o->pid, 0, 1000000000LL, &t, NULL);
	if (err)
		return cli__fail(err, o->pid, "attach");
	if ((rc = cli__outputs(o, o->pid, NULL, &ro))) {
		py_target__free(t);
		return rc;
	}
	rc = run__profile(o, t, &ro, 0, &st);
	py_target__free(t);
	return rc;
}

static int exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return PS_EXIT_INTERNAL;
}

/* Wait for the child, not giving up on EINTR (a second Ctrl-C). */
static int run__reap(pid_t child)
{
	int status;

	while (waitpid(child, &status, 0) < 0) {
		if (errno != EINTR)
			return PS_EXIT_INTERNAL;
		if (cli_stop_signal == SIGTERM)
			kill(child, SIGTERM);
	}
	return exit_code(status);
}

int cli__record(struct cli_opts *o)
{
	struct cli_outputs ro;
	struct sampler_stats st = {0};
	int pfd[2], rc;

	/* Check the output path before starting anything; the default
	 * name needs the child's pid, so check its directory then. */
	if ((rc = cli__outputs(o, getpid(), NULL, &ro)))
		return rc;
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return cli__fail(-errno, 0, "pipe");
	fflush(NULL);
	pid_t child = fork();
	if (child < 0)
		return cli__fail(-errno, 0, "fork");
	if (child == 0) {
		close(pfd[0]);
		execvp(o->argv[0], o->argv);
		int e = errno;
		if (write(pfd[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(pfd[1]);
	int e = 0;
	ssize_t n;
	while ((n = read(pfd[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(pfd[0]);
	if (n == (ssize_t)sizeof(e)) {
		waitpid(child, NULL, 0);
		fprintf(stderr, "psample: cannot run '%s': %s\n", o->argv[0],
			strerror(e));
		return PS_EXIT_EXEC;
	}
	cli__catch_signals();
	if (!o->output) {
		/* Now the default name can carry the child's pid. */
		if ((rc = cli__outputs(o, child, NULL, &ro))) {
			kill(child, SIGTERM);
			run__reap(child);
			return rc;
		}
	}

	struct py_target *t;
	int status = 0;
	int err = run__open(child, child, RECORD_WAIT_NS, &t, &status);
	if (err == -ECHILD) {
		fprintf(stderr,
			"psample: '%s' exited before Python could be "
			"sampled; no profile written\n",
			o->argv[0]);
		return exit_code(status);
	}
	if (err) {
		if (cli_stop) {
			/* Ctrl-C before Python started: nothing to write. */
			return run__reap(child);
		}
		rc = cli__fail(err, child, "record");
		kill(child, SIGTERM);
		run__reap(child);
		return rc;
	}

	rc = run__profile(o, t, &ro, child, &st);
	py_target__free(t);
	/* A SIGTERM meant for psample ends the command too, as it would
	 * end the command run without psample.  A terminal's Ctrl-C has
	 * already reached the whole foreground group. */
	if (cli_stop && cli_stop_signal == SIGTERM && !st.child_reaped)
		kill(child, SIGTERM);
	int child_rc =
		st.child_reaped ? exit_code(st.child_status) : run__reap(child);
	return rc ? rc : child_rc;
}
