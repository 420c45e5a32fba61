/*
 * commands.h - psample's subcommands, as main.c calls them.  Each
 * returns the process's exit code, its message already given.
 */
#ifndef PSAMPLE_CLI_COMMANDS_H
#define PSAMPLE_CLI_COMMANDS_H

#include "opts.h"

int cli__record(struct cli_opts *o); /* run.c */
int cli__attach(struct cli_opts *o); /* run.c */
int cli__dump(struct cli_opts *o); /* dump.c */
int cli__top(struct cli_opts *o); /* top.c */
int cli__convert(struct cli_opts *o); /* convert.c */
int cli__diff(struct cli_opts *o); /* convert.c */

#endif
