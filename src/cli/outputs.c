/*
 * outputs.c - which files a run writes: the formats -f names (a comma
 * list), else the one -o's extension names, else the default; and their
 * paths.  With one format -o is the file; with several it is the common
 * stem each format adds its extension to.  Shared by record, attach and
 * convert, so the rules are the same everywhere.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "psample/error.h"
#include "psample/sampler.h"
#include "outputs.h"

static int outputs__add(struct cli_outputs *out, const char *name, size_t len)
{
	char buf[64];

	if (len == 0 || len >= sizeof(buf)) {
		fprintf(stderr,
			"psample: empty or overlong format name in -f\n");
		return PS_EXIT_USAGE;
	}
	memcpy(buf, name, len);
	buf[len] = '\0';
	const struct output_format *f = output__find(buf);
	if (!f) {
		fprintf(stderr, "psample: unknown format '%s' (valid: %s)\n",
			buf, output__names());
		return PS_EXIT_USAGE;
	}
	for (size_t i = 0; i < out->n; i++)
		if (out->v[i].fmt == f)
			return 0; /* named twice: one file */
	if (out->n == CLI_MAX_OUTPUTS) {
		fprintf(stderr, "psample: too many formats in -f\n");
		return PS_EXIT_USAGE;
	}
	out->v[out->n++].fmt = f;
	return 0;
}

/* The stem of -o: the name without an extension a format knows. */
static void outputs__stem(const char *path, char *stem, size_t n)
{
	const struct output_format *f = output__for_path(path);
	size_t len = strlen(path);

	snprintf(stem, n, "%s", path);
	if (f && f->ext[0]) {
		size_t elen = strlen(f->ext);
		if (len > elen && len - elen < n)
			stem[len - elen] = '\0';
	}
}

int cli__outputs(const struct cli_opts *o, pid_t pid, const char *stem_hint,
		 struct cli_outputs *out)
{
	int rc;

	out->n = 0;
	if (o->format) {
		const char *s = o->format;
		for (;;) {
			const char *comma = strchr(s, ',');
			size_t len = comma ? (size_t)(comma - s) : strlen(s);
			if ((rc = outputs__add(out, s, len)))
				return rc;
			if (!comma)
				break;
			s = comma + 1;
		}
	} else if (o->output && output__for_path(o->output)) {
		out->v[out->n++].fmt = output__for_path(o->output);
	} else {
		/* A memory profile's byte counts can be negative, which
		 * only the folded format carries. */
		out->v[out->n++].fmt = output__find(
			o->mode == SAMPLER_MEMORY ? "folded" : "svg");
	}

	char stamp[32];
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);

	for (size_t i = 0; i < out->n; i++) {
		struct cli_output *co = &out->v[i];
		const struct output_format *f = co->fmt;
		char stem[4096];

		if (o->output && out->n == 1) {
			snprintf(co->path, sizeof(co->path), "%s", o->output);
			continue;
		}
		if (o->output)
			outputs__stem(o->output, stem, sizeof(stem));
		else if (stem_hint)
			snprintf(stem, sizeof(stem), "%s", stem_hint);
		else {
			output__default_name(f, pid, stamp, co->path,
					     sizeof(co->path));
			continue;
		}
		int len;
		if (f->prefix) {
			/* callgrind.out.<stem's name>, in the stem's dir */
			const char *slash = strrchr(stem, '/');
			int dlen = slash ? (int)(slash - stem + 1) : 0;
			len = snprintf(co->path, sizeof(co->path), "%.*s%s%s",
				       dlen, stem, f->prefix, stem + dlen);
		} else {
			len = snprintf(co->path, sizeof(co->path), "%s%s", stem,
				       f->ext);
		}
		if (len < 0 || (size_t)len >= sizeof(co->path)) {
			fprintf(stderr, "psample: output path too long\n");
			return PS_EXIT_USAGE;
		}
	}
	for (size_t i = 0; i < out->n; i++) {
		if (!strcmp(out->v[i].path, "-"))
			continue;
		int err = output__check(out->v[i].path);
		if (err) {
			fprintf(stderr, "psample: cannot write %s: %s\n",
				out->v[i].path, ps_strerror(err));
			return PS_EXIT_OUTPUT;
		}
	}
	return 0;
}

int cli__check_mode(const struct cli_outputs *outs, const char *mode)
{
	for (size_t i = 0; i < outs->n; i++) {
		if (output__takes_mode(outs->v[i].fmt, mode))
			continue;
		fprintf(stderr,
			"psample: a %s profile is written as folded, pprof or "
			"raw (counts are bytes, negative for frees), not %s\n",
			mode, outs->v[i].fmt->name);
		return PS_EXIT_USAGE;
	}
	return 0;
}

int cli__write_outputs(const struct cli_opts *o, const struct cli_outputs *out,
		       const struct trie *t, const struct profile_meta *m,
		       const char **written, size_t *nwritten)
{
	struct output_opts oo = {.full_paths = o->full_paths,
				 .function = o->function,
				 .threads = o->threads};
	int rc = 0;

	*nwritten = 0;
	for (size_t i = 0; i < out->n; i++) {
		int err =
			output__write(out->v[i].fmt, out->v[i].path, t, m, &oo);
		if (err) {
			fprintf(stderr, "psample: cannot write %s: %s\n",
				out->v[i].path, ps_strerror(err));
			rc = PS_EXIT_OUTPUT;
			continue;
		}
		written[(*nwritten)++] = out->v[i].path;
	}
	return rc;
}
