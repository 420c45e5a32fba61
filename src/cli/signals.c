/*
 * signals.c - the stop flag that Ctrl-C, SIGTERM and the like set, which
 * the sampler and the commands' loops poll.
 */
#include <string.h>

#include "signals.h"

volatile sig_atomic_t cli_stop;
int cli_stop_signal;

static void on_signal(int sig)
{
	cli_stop = 1;
	cli_stop_signal = sig;
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
