/*
 * top.c - `psample top`: a live, full-screen view of where a Python
 * program spends its time.  Stub: being written.
 */
#include <stdio.h>

#include "psample/error.h"
#include "cli.h"

int cli__top(struct cli_opts *o)
{
	(void)o;
	fprintf(stderr, "psample: top is not built yet\n");
	return PS_EXIT_INTERNAL;
}
