/*
 * fail.c - error codes as messages and exit codes (documented in
 * README.md): what a failed command prints and returns.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/wait.h>

#include "psample/ebpf.h"
#include "psample/error.h"
#include "psample/proc.h"
#include "psample/target.h"
#include "fail.h"

/* cli__fail, with a hint for a process that is not Python. */
static int fail__report(int err, pid_t pid, const char *what,
			const char *not_python_hint)
{
	char comm[64] = "";

	if (err < 0)
		err = -err;
	switch (err) {
	case ESRCH:
		fprintf(stderr, "psample: no such process: %d\n", (int)pid);
		return PS_EXIT_NO_PROCESS;
	case PS_ENOTPYTHON:
		proc__thread_comm(pid, pid, comm, sizeof(comm));
		fprintf(stderr,
			"psample: process %d (%s) is not a Python interpreter: "
			"neither its executable nor a loaded libpython defines "
			"_PyRuntime%s\n",
			(int)pid, comm[0] ? comm : "?", not_python_hint);
		return PS_EXIT_NOT_PYTHON;
	case PS_EUNSUPPORTED:
		fprintf(stderr,
			"psample: process %d runs Python %s, which psample "
			"does not support (supported: CPython 3.8 to 3.15)\n",
			(int)pid, py_target__version_hint());
		return PS_EXIT_UNSUPPORTED;
	case PS_EBADLAYOUT:
	case PS_ENOTREADY:
		fprintf(stderr,
			"psample: cannot read the Python interpreter in "
			"process %d: %s\n",
			(int)pid, ps_strerror(-err));
		return PS_EXIT_UNSUPPORTED;
	case EPERM:
	case EACCES:
		fprintf(stderr,
			"psample: permission denied reading process %d: run "
			"psample as root or as the process's user with "
			"CAP_SYS_PTRACE (e.g. sudo setcap cap_sys_ptrace+ep "
			"$(which psample)), and check that "
			"kernel.yama.ptrace_scope allows it (sysctl "
			"kernel.yama.ptrace_scope=0)\n",
			(int)pid);
		return PS_EXIT_PERMISSION;
	case PS_ENOBPF:
		fprintf(stderr,
			"psample: --backend ebpf is not available: %s; use "
			"--backend ptrace\n",
			ebpf__why()[0] ? ebpf__why()
				       : "the kernel lacks what it needs");
		return PS_EXIT_NO_BPF;
	case PS_EBPFPERM:
		fprintf(stderr,
			"psample: --backend ebpf: not allowed to load BPF "
			"programs or open perf events: run psample as root, or "
			"with CAP_BPF and CAP_PERFMON (and CAP_SYS_PTRACE); or "
			"use --backend ptrace\n");
		return PS_EXIT_BPF_PERM;
	case PS_EVERIFIER:
		fprintf(stderr,
			"psample: --backend ebpf: the kernel's verifier "
			"rejected the BPF program: %s; use --backend ptrace\n",
			ebpf__why());
		return PS_EXIT_VERIFIER;
	default:
		fprintf(stderr, "psample: %s: %s\n", what, ps_strerror(-err));
		return PS_EXIT_INTERNAL;
	}
}

int cli__fail(int err, pid_t pid, const char *what)
{
	return fail__report(err, pid, what, "");
}

int cli__fail_target(int err, pid_t pid, const char *what, bool hint)
{
	return fail__report(err, pid, what,
			    hint ? "; add --subprocesses to sample the Python "
				   "processes it starts"
				 : "");
}

int cli__exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return PS_EXIT_INTERNAL;
}
