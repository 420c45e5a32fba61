/*
 * signals.c - the stop flag that Ctrl-C, SIGTERM and the like set, which
 * the sampler and the commands' loops poll, and their passing on to the
 * command psample started (job.c).
 */
#include <errno.h>
#include <string.h>

#include "signals.h"

volatile sig_atomic_t cli_stop;
int cli_stop_signal;
volatile sig_atomic_t cli_forward_to;

static void on_signal(int sig)
{
	int e = errno;
	pid_t group = (pid_t)cli_forward_to;

	cli_stop = 1;
	cli_stop_signal = sig;
	/* Here, not in the loops: a command that ignores it must still
	 * get it at once, as from the terminal. */
	if (group > 0)
		kill(-group, sig);
	errno = e;
}

void cli__stop_on(int sig)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the sampler's sleep must wake up to stop. */
	sigaction(sig, &sa, NULL);
}

void cli__catch_signals(void)
{
	cli__stop_on(SIGINT);
	cli__stop_on(SIGTERM);
}
