/*
 * output.h - profile writers.
 *
 * Each format is one file in src/output/ and one entry in the table in
 * src/output/output.c.  Writers read only the trie and the profile's
 * metadata; output__write() makes the file appear atomically (temporary
 * file in the same directory, fsync, rename).
 */
#ifndef PSAMPLE_OUTPUT_H
#define PSAMPLE_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "psample/trie.h"

struct profile_meta {
	pid_t pid;
	double interval_s; /* sampling interval */
	int64_t start_unix_ns;
	int64_t duration_ns;
	const char *cmdline; /* the target's command line, or NULL */
	const char *mode; /* "wall" */
	const char *python; /* the target's version, e.g. "3.11.7" */
};

struct output_opts {
	bool full_paths; /* do not shorten file paths */
	bool function; /* one frame per function, at its first line */
	bool threads; /* a root per thread where the format has a choice */
};

enum {
	/* The writer gets the thread roots whatever --threads says
	 * (callgrind roots, speedscope profiles, pprof labels). */
	OUT_THREADS = 1,
	/* The writer gets the trie as sampled: no projection at all. */
	OUT_RAW = 2,
	/* The format carries counts that are not samples and may be
	 * negative: a memory profile's bytes. */
	OUT_SIGNED = 4,
};

struct output_format {
	const char *name;
	const char *ext; /* default extension, with the dot */
	/* Default file name prefix instead of psample-: the name is then
	 * prefix + pid ("callgrind.out." for KCacheGrind); also matched by
	 * output__for_path. */
	const char *prefix;
	const char *help;
	unsigned flags; /* OUT_* */
	/*
	 * Write the whole profile to out.  Returns 0 or -errno.  The trie
	 * has already been projected per o (function granularity, thread
	 * roots) unless the format says OUT_RAW.
	 */
	int (*write)(FILE *out, const struct trie *t,
		     const struct profile_meta *m, const struct output_opts *o);
	/*
	 * Optional: a comparison of two profiles (psample diff).  Both
	 * tries are projected alike.
	 */
	int (*write_diff)(FILE *out, const struct trie *base,
			  const struct trie *new, const struct profile_meta *m,
			  const struct output_opts *o);
};

/* Whether a profile of this mode (profile_meta.mode, NULL for wall)
 * counts signed bytes rather than samples. */
bool output__counts_bytes(const char *mode);

/* Whether fmt can hold a profile of this mode: counts in bytes only go
 * where signed counts can. */
bool output__takes_mode(const struct output_format *fmt, const char *mode);

/* The format called name, or NULL. */
const struct output_format *output__find(const char *name);

/* The format a path's extension names unambiguously, or NULL. */
const struct output_format *output__for_path(const char *path);

/* "folded, ..." - the valid names, for error messages. */
const char *output__names(void);

/*
 * Check, before any sampling, that path can be created: its directory
 * exists and is writable.  Returns 0 or -errno.
 */
int output__check(const char *path);

/*
 * Write the profile to path atomically ("-" is standard output).
 * Returns 0 or -errno (-ENOSPC).
 */
int output__write(const struct output_format *fmt, const char *path,
		  const struct trie *t, const struct profile_meta *m,
		  const struct output_opts *o);

/* The same for fmt->write_diff; -ENOTSUP if the format has none. */
int output__write_diff(const struct output_format *fmt, const char *path,
		       const struct trie *base, const struct trie *new,
		       const struct profile_meta *m,
		       const struct output_opts *o);

/*
 * The default file name for fmt: prefix + pid, or
 * "psample-<pid>-<stamp>" + ext.  Writes at most n bytes to buf.
 */
const char *output__default_name(const struct output_format *fmt, pid_t pid,
				 const char *stamp, char *buf, size_t n);

/*
 * The path as users expect to read it: relative to the site-packages,
 * dist-packages or lib/pythonX.Y directory it sits in, else unchanged.
 * Writes at most n bytes (NUL included) to buf and returns buf.
 */
const char *output__short_path(const char *path, char *buf, size_t n);

/*
 * Length of the valid UTF-8 sequence at s (NUL-terminated: a cut sequence
 * ends at the NUL), or 0 if it is not valid.  Overlong forms and code
 * points above U+10FFFF are never valid; lone surrogates are only with
 * surrogates set (what marshal's surrogatepass accepts).
 */
size_t output__utf8_len(const unsigned char *s, bool surrogates);

/* A growable byte buffer for the writers that build text piecewise. */
struct outbuf {
	char *p;
	size_t len;
	size_t cap;
};

/* Make room for extra more bytes after len.  -ENOMEM. */
int outbuf__reserve(struct outbuf *b, size_t extra);

/*
 * Append s to buf (capacity n, NUL-terminated) as a label that is safe in
 * line-oriented formats: ';' becomes ':', CR/LF become ' ', invalid UTF-8
 * becomes U+FFFD.  Returns the new length.
 */
size_t output__label(char *buf, size_t len, size_t n, const char *s);

/*
 * The label the folded format gives f under o ("qualname (path:line)",
 * "thread 42 (name)"), so other formats can name frames the same way.
 * *label is malloc'd and the caller's to free.  Returns 0 or -ENOMEM.
 */
int folded__label(const struct ps_frame *f, const struct output_opts *o,
		  char **label);

#endif
