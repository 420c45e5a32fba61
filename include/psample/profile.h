/*
 * profile.h - a profile held in memory, as psample's raw format stores
 * it: the trie (frames with function, qualname, file, first line and
 * line; thread roots with tid and name) and what is known about the run.
 *
 * The raw format is written by the "raw" entry of the output table
 * (src/output/profile.c) and read back here, for psample convert and diff.
 */
#ifndef PSAMPLE_PROFILE_H
#define PSAMPLE_PROFILE_H

#include <stddef.h>

#include "psample/output.h"
#include "psample/trie.h"

struct profile {
	struct trie *trie;
	struct profile_meta meta; /* its strings point into strs */
	char *strs[3]; /* owned: cmdline, mode, python */
};

/*
 * Read a raw profile from path.  On failure returns a negative error
 * (-errno for I/O, -PS_EBADPROFILE for content) and, for content errors,
 * writes a one-line reason naming the line (no path, no newline) to
 * why: "line 12: frame 7 refers to a missing string".
 */
int profile__read(const char *path, struct profile **out, char *why,
		  size_t why_len);

void profile__free(struct profile *p);

#endif
