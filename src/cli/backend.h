/*
 * backend.h - which reader samples the target for record and attach:
 * the process_vm_readv walker (ptrace, the default) or the eBPF program.
 */
#ifndef PSAMPLE_CLI_BACKEND_H
#define PSAMPLE_CLI_BACKEND_H

#include <signal.h>

#include "psample/sampler.h"
#include "psample/target.h"
#include "psample/trie.h"
#include "opts.h"

/* --backend NAME into o: 0, or -1 after saying why. */
int cli__backend_parse(const char *name, struct cli_opts *o);

/* Whether the backend fits the command and the other options (ebpf:
 * record or attach, cpu mode, which it sets): 0 or an exit code. */
int cli__backend_check(struct cli_opts *o, const char *cmd);

/* Sample with the chosen backend: sampler__run's contract (t is NULL
 * with --all, pid 0). */
int cli__backend_run(const struct cli_opts *o, pid_t pid, struct py_target *t,
		     struct trie *trie, const struct sampler_opts *so,
		     struct sampler_stats *st, volatile sig_atomic_t *stop);

#endif
