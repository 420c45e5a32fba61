/*
 * signals.h - stopping on a signal instead of dying, so that every
 * command ends the same way (outputs written, terminal restored), and
 * passing it on to the command psample started.
 */
#ifndef PSAMPLE_CLI_SIGNALS_H
#define PSAMPLE_CLI_SIGNALS_H

#include <signal.h>

/* Set by a caught signal; cli_stop_signal says which. */
extern volatile sig_atomic_t cli_stop;
extern int cli_stop_signal;

/* A process group a caught signal is passed on to (job.c), or 0. */
extern volatile sig_atomic_t cli_forward_to;

/* Stop on SIGINT/SIGTERM (setting cli_stop) instead of dying. */
void cli__catch_signals(void);

/* Stop on sig too, as on SIGINT. */
void cli__stop_on(int sig);

#endif
