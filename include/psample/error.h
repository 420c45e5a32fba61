/*
 * error.h - psample's error codes and the process exit codes the CLI maps
 * them to.
 *
 * Library functions return 0 (or a non-negative value) on success and a
 * negative number on failure: either -errno from the system, or one of the
 * -PS_E* codes below for failures the system has no errno for.  Only the CLI
 * turns them into messages and exit codes.
 */
#ifndef PSAMPLE_ERROR_H
#define PSAMPLE_ERROR_H

/* Above any errno value Linux uses (the largest is < 200). */
enum ps_error {
	PS_EFIRST = 10000,
	PS_ENOTPYTHON, /* the process has no CPython interpreter in it */
	PS_EUNSUPPORTED, /* a CPython version psample has no layout for */
	PS_EBADLAYOUT, /* the layout did not validate against the target */
	PS_ENOTREADY, /* the interpreter is not initialised (yet/any more) */
	PS_ECORRUPT, /* data read from the target is inconsistent */
	PS_ETOODEEP, /* a walk hit its bound */
	PS_EBADFORMAT, /* unknown output format */
	PS_EBADPROFILE, /* an input profile is truncated, corrupt or foreign */
	PS_ENOGIL, /* a free-threaded interpreter: there is no GIL to read */
	PS_ENOBPF, /* no eBPF backend here: not built, no BTF, old kernel */
	PS_EBPFPERM, /* not allowed to load BPF or open perf events */
	PS_EVERIFIER, /* the kernel's verifier rejected the BPF program */
	PS_ELAST,
};

/* A short description of a negative error code (errno or PS_E*). */
const char *ps_strerror(int err);

/*
 * Exit codes of the psample command.  Documented in README.md; tests rely
 * on them being distinct.
 */
enum ps_exit {
	PS_EXIT_OK = 0,
	PS_EXIT_USAGE = 2, /* bad command line */
	PS_EXIT_NO_PROCESS = 3, /* no such pid */
	PS_EXIT_NOT_PYTHON = 4, /* the process is not a Python interpreter */
	PS_EXIT_UNSUPPORTED = 5, /* unsupported or unreadable interpreter */
	PS_EXIT_PERMISSION = 6, /* not allowed to read the process */
	PS_EXIT_OUTPUT = 7, /* the output cannot be written (or disk full) */
	PS_EXIT_EXEC = 8, /* record: the command could not be started */
	PS_EXIT_INTERNAL = 9, /* anything else: a bug or resource failure */
	PS_EXIT_BAD_INPUT = 10, /* convert/diff: an input cannot be read */
	PS_EXIT_NO_BPF = 11, /* --backend ebpf: unavailable here */
	PS_EXIT_BPF_PERM = 12, /* --backend ebpf: not allowed */
	PS_EXIT_VERIFIER = 13, /* --backend ebpf: the program was rejected */
};

#endif
