/*
 * svg.c - the svg output format (being written).
 */
#include <errno.h>
#include <stdio.h>

#include "psample/output.h"

int svg__write(FILE *out, const struct trie *t, const struct profile_meta *m,
		const struct output_opts *o)
{
	(void)out;
	(void)t;
	(void)m;
	(void)o;
	return -ENOSYS;
}

int svg__write_diff(FILE *out, const struct trie *base, const struct trie *new,
		    const struct profile_meta *m, const struct output_opts *o)
{
	(void)out;
	(void)base;
	(void)new;
	(void)m;
	(void)o;
	return -ENOSYS;
}
