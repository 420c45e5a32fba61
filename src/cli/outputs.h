/*
 * outputs.h - the files a run writes (-f, -o), checked before sampling
 * and written after, and the end-of-run table on stderr.
 */
#ifndef PSAMPLE_CLI_OUTPUTS_H
#define PSAMPLE_CLI_OUTPUTS_H

#include <stddef.h>
#include <sys/types.h>

#include "psample/output.h"
#include "psample/trie.h"
#include "opts.h"

#define CLI_MAX_OUTPUTS 8

struct cli_output {
	const struct output_format *fmt;
	char path[4096];
};

struct cli_outputs {
	size_t n;
	struct cli_output v[CLI_MAX_OUTPUTS];
};

/*
 * Decide the formats and paths from -f and -o (stem_hint: the stem to
 * use when there is no -o, or NULL for the default names), and check
 * each path can be written.  Returns 0 or an exit code (message given).
 */
int cli__outputs(const struct cli_opts *o, pid_t pid, const char *stem_hint,
		 struct cli_outputs *out);

/*
 * Refuse, before any work, the outputs that cannot hold a profile of
 * this mode (memory profiles: only signed-count formats).  Returns 0 or
 * PS_EXIT_USAGE (message given).
 */
int cli__check_mode(const struct cli_outputs *outs, const char *mode);

/* Write t to every output; the paths written go to written[].  Returns 0
 * or PS_EXIT_OUTPUT (each failure reported). */
int cli__write_outputs(const struct cli_opts *o, const struct cli_outputs *out,
		       const struct trie *t, const struct profile_meta *m,
		       const char **written, size_t *nwritten);

/* The end-of-run table of top functions, on stderr (report.c). */
void cli__report(const struct trie *t, const struct profile_meta *m,
		 const struct cli_opts *o);

#endif
