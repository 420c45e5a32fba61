/*
 * target.c - the process a command samples: opening its interpreter,
 * waiting while it is still starting up.
 */
#include <errno.h>
#include <sys/wait.h>
#include <time.h>

#include "psample/clock.h"
#include "psample/error.h"
#include "signals.h"
#include "target.h"

int cli__open(pid_t pid, pid_t child, int64_t wait_ns, bool any_root,
	      struct py_target **t, int *child_status)
{
	int64_t deadline = clock__ns(CLOCK_MONOTONIC) + wait_ns;

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
		/* Not waited for: the sampler follows it, through an exec
		 * into Python too, while it samples what it starts. */
		if (any_root && err == -PS_ENOTPYTHON) {
			*t = NULL;
			return 0;
		}
		bool transient = err == -PS_ENOTPYTHON ||
				 err == -PS_ENOTREADY || err == -EFAULT ||
				 err == -PS_EBADLAYOUT;
		if (!transient || clock__ns(CLOCK_MONOTONIC) >= deadline ||
		    cli_stop)
			return err;
		struct timespec ts = {.tv_nsec = 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}
