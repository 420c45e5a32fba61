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
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "psample/clock.h"
#include "psample/error.h"
#include "psample/output.h"
#include "psample/proc.h"
#include "psample/target.h"
#include "psample/sampler.h"
#include "psample/trie.h"
#include "backend.h"
#include "commands.h"
#include "fail.h"
#include "job.h"
#include "outputs.h"
#include "sampling.h"
#include "signals.h"
#include "target.h"

/* How long `record` waits for its command to become a Python process. */
#define RECORD_WAIT_NS (5LL * 1000000000LL)

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* Append ", N what" to buf when n is not zero. */
static void kind__add(char *buf, size_t n, uint64_t count, const char *what)
{
	size_t len = strlen(buf);
	if (count && len < n)
		snprintf(buf + len, n - len, "%s%llu %s", len ? ", " : "",
			 (unsigned long long)count, what);
}

/* With --subprocesses, a root that was never sampled: why, and what was. */
static void run__root(const struct profile_meta *meta,
		      const struct sampler_stats *st)
{
	if (st->root_python)
		return;
	fprintf(stderr, "psample: the root '%s' (pid %d) ", meta->cmdline,
		(int)meta->pid);
	if (!st->root_err || st->root_err == -PS_ENOTPYTHON)
		fprintf(stderr, "is not Python");
	else
		fprintf(stderr, "could not be sampled (%s)",
			ps_strerror(st->root_err));
	fprintf(stderr, "; %s\n",
		st->processes ? "its Python descendants were sampled"
			      : "none of its descendants was Python");
}

static void run__summary(const struct cli_opts *o,
			 const struct profile_meta *meta,
			 const struct sampler_stats *st, const char **written,
			 size_t nwritten)
{
	double secs = (double)st->elapsed_ns / 1e9;
	uint64_t errs = st->errors + st->thread_errors + st->threads_gone;
	uint64_t late = st->late + st->missed;
	uint64_t due = st->ticks + st->missed;
	char kinds[256] = "";

	fprintf(stderr,
		"psample: %llu samples in %.2f s (%.1f Hz achieved, %.0f Hz "
		"asked%s), %llu errors (%.2f%%), %llu late (%.2f%%), %.1f us "
		"CPU/sample%s",
		(unsigned long long)st->samples, secs,
		secs > 0 ? (double)st->ticks / secs : 0.0, o->rate_hz,
		o->poisson ? " as a mean" : "", (unsigned long long)errs,
		pct(errs, st->ticks + st->thread_samples + st->thread_errors),
		(unsigned long long)late, pct(late, due),
		st->ticks ? (double)st->cpu_ns / 1e3 / (double)st->ticks : 0.0,
		nwritten ? "; wrote " : "");
	for (size_t i = 0; i < nwritten; i++)
		fprintf(stderr, "%s%s", i ? ", " : "", written[i]);
	fputc('\n', stderr);

	kind__add(kinds, sizeof(kinds), st->errors, "unreadable samples");
	kind__add(kinds, sizeof(kinds), st->thread_errors,
		  "stacks torn while read");
	kind__add(kinds, sizeof(kinds), st->threads_gone,
		  "threads gone before read");
	kind__add(kinds, sizeof(kinds), st->missed, "ticks skipped (behind)");
	kind__add(kinds, sizeof(kinds), st->pause_errors,
		  "threads that could not be paused");
	if (kinds[0])
		fprintf(stderr, "psample: errors by kind: %s\n", kinds);
	if (o->all)
		fprintf(stderr, "psample: %llu Python processes sampled\n",
			(unsigned long long)st->processes);
	if (o->subprocesses) {
		run__root(meta, st);
		fprintf(stderr,
			"psample: %llu Python processes sampled, %llu "
			"descendants not Python (ignored)\n",
			(unsigned long long)st->processes,
			(unsigned long long)st->ignored);
	}
	if (o->mode == SAMPLER_CPU || o->idle)
		fprintf(stderr,
			"psample: %.1f%% of thread samples were on a CPU%s\n",
			pct(st->running, st->states_read),
			o->idle ? "; the others are marked <idle>" : "");
	if (st->gil_known)
		fprintf(stderr,
			"psample: the GIL was held at %.1f%% of ticks\n",
			pct(st->gil_held, st->gil_known));
	if (st->gc_ticks)
		fprintf(stderr,
			"psample: garbage collection ran at %.1f%% of "
			"ticks%s\n",
			pct(st->gc_ticks, st->ticks),
			o->no_gc || o->mode == SAMPLER_MEMORY
				? ""
				: " (the <GC> frame)");
	if (o->mode == SAMPLER_MEMORY)
		fprintf(stderr,
			"psample: resident memory grew by %lld bytes while "
			"sampled\n",
			(long long)st->mem_bytes);
}

/* Sample pid, whose interpreter is t (or NULL: see sampler__run), write,
 * summarise.  Returns an exit code. */
static int run__profile(struct cli_opts *o, pid_t pid, struct py_target *t,
			const struct cli_outputs *ro, pid_t child,
			struct sampler_stats *st)
{
	struct sampler_opts so;
	struct trie *trie = trie__new();
	int64_t start_wall;
	char cmdline[1024] = "";

	if (!trie)
		return cli__fail(-ENOMEM, pid, "profile");
	cli__sampler_opts(o, child, &so);
	so.warn_behind = !o->quiet;
	start_wall = clock__ns(CLOCK_REALTIME);
	if (pid) /* else --all: every process, each under its own root */
		proc__cmdline(pid, cmdline, sizeof(cmdline));

	int err = cli__backend_run(o, pid, t, trie, &so, st, &cli_stop);
	if (st->child_reaped)
		job__done(); /* the terminal back before anything is said */
	if (cli__refused(err, st)) {
		/* Refused at start: nothing was sampled. */
		trie__free(trie);
		return pid ? cli__start_error(err, o, pid, t)
			   : cli__fail(err, 0, "record --all");
	}
	if (err) {
		/* Keep going: what was sampled is still written. */
		fprintf(stderr, "psample: sampling stopped early: %s\n",
			ps_strerror(err));
	}
	int rc = 0;
	const char *written[CLI_MAX_OUTPUTS];
	size_t nwritten = 0;
	struct profile_meta meta = {
		.pid = pid,
		.interval_s = 1.0 / o->rate_hz,
		.start_unix_ns = start_wall,
		.duration_ns = st->elapsed_ns,
		.cmdline = cmdline,
		.mode = cli__mode_name(o->mode),
		.python = t ? t->version_str : st->root_version,
	};
	/* Nothing sampled still writes every file, empty, so what reads
	 * them next finds a profile. */
	rc = cli__write_outputs(o, ro, trie, &meta, written, &nwritten);
	if (!o->quiet) {
		if (!st->stacks)
			cli__say_empty(o, st);
		else if (o->mode != SAMPLER_MEMORY)
			cli__report(trie, &meta, o);
		run__summary(o, &meta, st, written, nwritten);
	}
	trie__free(trie);
	return rc;
}

int cli__attach(struct cli_opts *o)
{
	struct py_target *t;
	struct cli_outputs ro;
	struct sampler_stats st;
	int rc;

	cli__catch_signals();
	/* A process that is just starting gets a moment to initialise. */
	int err = cli__open(o->pid, 0, 1000000000LL, o->subprocesses, &t, NULL);
	if (err)
		return cli__fail_target(err, o->pid, "attach",
					!o->subprocesses);
	if ((rc = cli__outputs(o, o->pid, NULL, &ro)) ||
	    (rc = cli__check_mode(&ro, cli__mode_name(o->mode)))) {
		py_target__free(t);
		return rc;
	}
	rc = run__profile(o, o->pid, t, &ro, 0, &st);
	py_target__free(t);
	return rc;
}

/* Wait for the command, however many signals psample passes on. */
static int run__reap(pid_t child)
{
	int status;

	for (;;) {
		if (waitpid(child, &status, 0) < 0) {
			if (errno == EINTR)
				continue;
			job__done();
			return PS_EXIT_INTERNAL;
		}
		/* A stop of a thread --blocking still traced is not the
		 * end of the command. */
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			job__done();
			return cli__exit_code(status);
		}
	}
}

/*
 * The command ended before it could be sampled (a 1 ms script, or a
 * command that is not Python): its files are still written, empty, so
 * what reads them next finds a profile, and one line says why.
 */
static int run__none(const struct cli_opts *o, const struct cli_outputs *ro,
		     pid_t child, int64_t ran_ns)
{
	struct trie *trie = trie__new();
	const char *written[CLI_MAX_OUTPUTS];
	size_t nwritten = 0;
	char cmdline[1024] = "";

	if (!trie)
		return cli__fail(-ENOMEM, child, "profile");
	for (int i = 0; o->argv[i]; i++) {
		size_t len = strlen(cmdline);
		snprintf(cmdline + len, sizeof(cmdline) - len, "%s%s",
			 i ? " " : "", o->argv[i]);
	}
	struct profile_meta meta = {
		.pid = child,
		.interval_s = 1.0 / o->rate_hz,
		.start_unix_ns = clock__ns(CLOCK_REALTIME) - ran_ns,
		.duration_ns = ran_ns,
		.cmdline = cmdline,
		.mode = cli__mode_name(o->mode),
	};
	int rc = cli__write_outputs(o, ro, trie, &meta, written, &nwritten);
	trie__free(trie);
	if (!o->quiet) {
		fprintf(stderr,
			"psample: nothing was sampled: '%s' exited after "
			"%.1f ms, before Python could be sampled; wrote ",
			o->argv[0], (double)ran_ns / 1e6);
		for (size_t i = 0; i < nwritten; i++)
			fprintf(stderr, "%s%s", i ? ", " : "", written[i]);
		fputc('\n', stderr);
	}
	return rc;
}

int cli__record(struct cli_opts *o)
{
	struct cli_outputs ro;
	struct sampler_stats st = {0};
	int rc;

	if (o->all) {
		/* Every Python process of the host: no command, no target. */
		if ((rc = cli__outputs(o, getpid(), NULL, &ro)))
			return rc;
		cli__catch_signals();
		return run__profile(o, 0, NULL, &ro, 0, &st);
	}
	/* Check the output path before starting anything; the default
	 * name needs the child's pid, so check its directory then. */
	if ((rc = cli__outputs(o, getpid(), NULL, &ro)) ||
	    (rc = cli__check_mode(&ro, cli__mode_name(o->mode))))
		return rc;
	/* Caught before the command starts, and passed on to it (job.c):
	 * a hang-up or Ctrl-\ stops sampling as Ctrl-C does, and the
	 * command is not left without it. */
	cli__catch_signals();
	cli__stop_on(SIGHUP);
	cli__stop_on(SIGQUIT);
	pid_t child = 0;
	if ((rc = job__spawn(o->argv, false, &child)))
		return rc;
	if (!o->output) {
		/* Now the default name can carry the child's pid. */
		if ((rc = cli__outputs(o, child, NULL, &ro))) {
			job__end(child);
			return rc;
		}
	}

	struct py_target *t;
	int status = 0;
	int64_t t0 = clock__ns(CLOCK_MONOTONIC);
	int err = cli__open(child, child, RECORD_WAIT_NS, o->subprocesses, &t,
			    &status);
	if (err == -ECHILD) {
		job__done();
		rc = run__none(o, &ro, child, clock__ns(CLOCK_MONOTONIC) - t0);
		return rc ? rc : cli__exit_code(status);
	}
	if (err) {
		if (cli_stop) {
			/* Stopped before Python started: nothing to write,
			 * and the command was told as psample was. */
			return run__reap(child);
		}
		rc = cli__fail_target(err, child, "record", !o->subprocesses);
		job__end(child);
		return rc;
	}

	rc = run__profile(o, child, t, &ro, child, &st);
	py_target__free(t);
	if (rc && !st.ticks && !st.child_reaped) {
		/* Refused at start: the command is not left running. */
		job__end(child);
		return rc;
	}
	/* A signal that stopped sampling was passed on to the command,
	 * which ends (or not) as it would have without psample. */
	int child_rc = st.child_reaped ? cli__exit_code(st.child_status)
				       : run__reap(child);
	return rc ? rc : child_rc;
}
