/*
 * backend.c - --backend: the ptrace backend (the sampler, every mode) or
 * the eBPF one (record and attach, on-CPU only: it samples from a
 * CPU-clock perf event, so cpu mode is implied and other modes, and the
 * options that need the ptrace reader, are refused with exit code 2;
 * --subprocesses works with both).
 * record --all (every Python process of the host) implies it.
 */
#include <stdio.h>
#include <string.h>

#include "psample/ebpf.h"
#include "psample/error.h"
#include "backend.h"

int cli__backend_parse(const char *name, struct cli_opts *o)
{
	o->backend_set = true;
	if (!strcmp(name, "ptrace")) {
		o->backend = CLI_BACKEND_PTRACE;
	} else if (!strcmp(name, "ebpf")) {
		o->backend = CLI_BACKEND_EBPF;
	} else {
		fprintf(stderr, "psample: bad backend: %s (ptrace or ebpf)\n",
			name);
		return -1;
	}
	return 0;
}

/* The first option of o the eBPF backend does not take, or NULL. */
static const char *backend__refused(const struct cli_opts *o)
{
	if (o->mode_set && o->mode != SAMPLER_CPU)
		return "--mode other than cpu (it samples threads on a CPU "
		       "only)";
	if (o->idle)
		return "--idle";
	if (o->blocking)
		return "--blocking";
	if (o->poisson)
		return "--poisson";
	return NULL;
}

int cli__backend_check(struct cli_opts *o, const char *cmd)
{
	if (o->all) {
		/* Every process of a host: only the kernel can afford it. */
		if ((strcmp(cmd, "record") != 0 && strcmp(cmd, "top") != 0) ||
		    (o->backend_set && o->backend != CLI_BACKEND_EBPF)) {
			fprintf(stderr, "psample: --all works with record and "
					"top, and --backend ebpf only\n");
			return PS_EXIT_USAGE;
		}
		if (o->subprocesses) {
			fprintf(stderr, "psample: --all samples every process "
					"already; leave out --subprocesses\n");
			return PS_EXIT_USAGE;
		}
		o->backend = CLI_BACKEND_EBPF;
	}
	if (o->backend != CLI_BACKEND_EBPF)
		return 0;
	if (strcmp(cmd, "record") != 0 && strcmp(cmd, "attach") != 0 &&
	    strcmp(cmd, "top") != 0) {
		fprintf(stderr, "psample: --backend ebpf works with record, "
				"attach and top only\n");
		return PS_EXIT_USAGE;
	}
	const char *no = backend__refused(o);
	if (no) {
		fprintf(stderr,
			"psample: --backend ebpf does not take %s; use "
			"--backend ptrace\n",
			no);
		return PS_EXIT_USAGE;
	}
	o->mode = SAMPLER_CPU;
	return 0;
}

int cli__backend_run(const struct cli_opts *o, pid_t pid, struct py_target *t,
		     struct trie *trie, const struct sampler_opts *so,
		     struct sampler_stats *st, volatile sig_atomic_t *stop)
{
	if (o->all)
		return ebpf__run_all(trie, so, st, stop);
	if (o->backend == CLI_BACKEND_EBPF)
		return ebpf__run(pid, t, trie, so, st, stop);
	return sampler__run(pid, t, trie, so, st, stop);
}
