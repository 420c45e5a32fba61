/*
 * raw.c - the raw output format (being written).
 */
#include <errno.h>
#include <stdio.h>

#include "psample/output.h"

int raw__write(FILE *out, const struct trie *t, const struct profile_meta *m,
		const struct output_opts *o)
{
	(void)out;
	(void)t;
	(void)m;
	(void)o;
	return -ENOSYS;
}
