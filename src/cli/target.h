/*
 * target.h - the process a command samples, and the interpreter in it,
 * once it is one.
 */
#ifndef PSAMPLE_CLI_TARGET_H
#define PSAMPLE_CLI_TARGET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "psample/target.h"

/*
 * Open pid as a target, waiting up to wait_ns while it is not (yet) an
 * initialised interpreter.  child: our child, whose early exit ends the
 * wait with -ECHILD and its status in *child_status.  any_root
 * (--subprocesses): a pid that is not Python is taken as it is, with
 * *t NULL.
 */
int cli__open(pid_t pid, pid_t child, int64_t wait_ns, bool any_root,
	      struct py_target **t, int *child_status);

#endif
