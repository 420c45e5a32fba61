/*
 * target.c - the process a command samples: starting a command, and
 * opening its interpreter, waiting while it is still starting up.
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
#include "fail.h"
#include "signals.h"
#include "target.h"

int cli__open(pid_t pid, pid_t child, int64_t wait_ns, struct py_target **t,
	      int *child_status)
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

int cli__spawn(char **argv, bool apart, pid_t *out)
{
	int pfd[2];

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return cli__fail(-errno, 0, "pipe");
	fflush(NULL);
	pid_t child = fork();
	if (child < 0)
		return cli__fail(-errno, 0, "fork");
	if (child == 0) {
		close(pfd[0]);
		if (apart) {
			setpgid(0, 0);
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
		fprintf(stderr, "psample: cannot run '%s': %s\n", argv[0],
			strerror(e));
		return PS_EXIT_EXEC;
	}
	*out = child;
	return 0;
}
