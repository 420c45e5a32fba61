/*
 * convert.c - `psample convert` and `psample diff`: formats written from
 * saved raw profiles instead of a live process.
 *
 * convert merges its inputs (the merged profile is what sampling all of
 * them at once would have given: stacks and counts add up), then writes
 * any format.  diff writes a comparison of two profiles.  An input that
 * cannot be read stops the command with one line naming the file and
 * what is wrong with it (exit 10); nothing is written then.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psample/error.h"
#include "psample/profile.h"
#include "psample/sampler.h"
#include "commands.h"
#include "fail.h"
#include "outputs.h"

static int convert__read(const char *path, struct profile **p)
{
	char why[256] = "";
	int err = profile__read(path, p, why, sizeof(why));

	if (!err)
		return 0;
	if (err == -PS_EBADPROFILE && why[0])
		fprintf(stderr, "psample: cannot read %s: %s\n", path, why);
	else
		fprintf(stderr, "psample: cannot read %s: %s\n", path,
			ps_strerror(err));
	return err == -ENOMEM ? PS_EXIT_INTERNAL : PS_EXIT_BAD_INPUT;
}

/* The stem of an input's name, for outputs named after it. */
static void convert__stem(const char *in, char *stem, size_t n)
{
	const char *base = strrchr(in, '/');
	const char *dot;

	base = base ? base + 1 : in;
	snprintf(stem, n, "%s", base);
	dot = strrchr(stem, '.');
	if (dot && dot != stem)
		stem[dot - stem] = '\0';
}

static const char *convert__mode(const struct profile_meta *m)
{
	return m->mode ? m->mode : "wall";
}

/* Samples of wall, cpu and gil mode add up; bytes add only to bytes. */
static bool convert__same_mode(const struct profile_meta *a,
			       const struct profile_meta *b)
{
	return output__counts_bytes(a->mode) == output__counts_bytes(b->mode);
}

/* Whether no stack has a count (a memory profile's bytes can sum to 0
 * when some do). */
static bool convert__empty(const struct trie *t)
{
	for (uint32_t id = 0; id < trie__nnodes(t); id++)
		if (trie__node(t, id)->self)
			return false;
	return true;
}

int cli__convert(struct cli_opts *o)
{
	struct profile *all = NULL, *p = NULL;
	struct cli_outputs outs;
	char stem[1024];
	int rc;

	if (!o->argv[0]) {
		fprintf(stderr, "psample: convert needs input profiles: "
				"psample convert IN.psample... -f FORMAT "
				"-o OUT\n");
		return PS_EXIT_USAGE;
	}
	for (char **in = o->argv; *in; in++) {
		if ((rc = convert__read(*in, &p)))
			goto out;
		if (!all) {
			all = p;
			p = NULL;
			continue;
		}
		if (!convert__same_mode(&all->meta, &p->meta)) {
			fprintf(stderr,
				"psample: cannot merge %s (%s mode) with %s "
				"(%s mode): their counts mean different "
				"things\n",
				*in, convert__mode(&p->meta), o->argv[0],
				convert__mode(&all->meta));
			rc = PS_EXIT_USAGE;
			goto out;
		}
		if (p->meta.interval_s != all->meta.interval_s && !o->quiet)
			fprintf(stderr,
				"psample: warning: %s was sampled every %g s, "
				"%s every %g s; times use %g s\n",
				*in, p->meta.interval_s, o->argv[0],
				all->meta.interval_s, all->meta.interval_s);
		if (trie__merge(all->trie, p->trie)) {
			rc = cli__fail(-ENOMEM, 0, "convert");
			goto out;
		}
		all->meta.duration_ns += p->meta.duration_ns;
		profile__free(p);
		p = NULL;
	}
	/* Chosen once the inputs are known: a memory profile's default
	 * format is folded, as when it was recorded. */
	if (output__counts_bytes(all->meta.mode))
		o->mode = SAMPLER_MEMORY;
	convert__stem(o->argv[0], stem, sizeof(stem));
	if ((rc = cli__outputs(o, 0, stem, &outs)) ||
	    (rc = cli__check_mode(&outs, all->meta.mode)))
		goto out;
	const char *written[CLI_MAX_OUTPUTS];
	size_t nwritten;
	/* A run that sampled nothing saved an empty profile: it converts to
	 * empty profiles, as record would have written them. */
	rc = cli__write_outputs(o, &outs, all->trie, &all->meta, written,
				&nwritten);
	if (!o->quiet) {
		if (convert__empty(all->trie))
			fprintf(stderr,
				"psample: the input%s no samples: the "
				"profiles are empty\n",
				o->argv[1] ? "s hold" : " holds");
		else if (!output__counts_bytes(all->meta.mode))
			cli__report(all->trie, &all->meta, o);
		for (size_t i = 0; i < nwritten; i++)
			if (strcmp(written[i], "-") != 0)
				fprintf(stderr, "psample: wrote %s\n",
					written[i]);
	}
out:
	profile__free(p);
	profile__free(all);
	return rc;
}

int cli__diff(struct cli_opts *o)
{
	struct profile *base = NULL, *new = NULL;
	const struct output_format *fmt;
	const char *path = o->output ? o->output : "-";
	int rc;

	if (!o->argv[0] || !o->argv[1] || o->argv[2]) {
		fprintf(stderr, "psample: diff needs two profiles: psample "
				"diff BASE.psample NEW.psample -o diff.svg\n");
		return PS_EXIT_USAGE;
	}
	if (o->format)
		fmt = output__find(o->format);
	else if (o->output && output__for_path(o->output))
		fmt = output__for_path(o->output);
	else
		fmt = output__find(o->output ? "svg" : "folded");
	if (!fmt || !fmt->write_diff) {
		fprintf(stderr,
			"psample: diff writes svg or folded, not '%s'\n",
			o->format ? o->format : o->output);
		return PS_EXIT_USAGE;
	}
	if (strcmp(path, "-") != 0) {
		int err = output__check(path);
		if (err) {
			fprintf(stderr, "psample: cannot write %s: %s\n", path,
				ps_strerror(err));
			return PS_EXIT_OUTPUT;
		}
	}
	if ((rc = convert__read(o->argv[0], &base)) ||
	    (rc = convert__read(o->argv[1], &new)))
		goto out;
	if (output__counts_bytes(base->meta.mode) ||
	    output__counts_bytes(new->meta.mode)) {
		/* A difference of signed counts has no flame graph colour
		 * scale; pprof compares them. */
		fprintf(stderr, "psample: diff compares sampled time, not "
				"memory profiles; write both as pprof and use "
				"go tool pprof -diff_base\n");
		rc = PS_EXIT_USAGE;
		goto out;
	}
	struct output_opts oo = {.full_paths = o->full_paths,
				 .function = o->function,
				 .threads = o->threads};
	int err = output__write_diff(fmt, path, base->trie, new->trie,
				     &new->meta, &oo);
	if (err) {
		fprintf(stderr, "psample: cannot write %s: %s\n",
			strcmp(path, "-") != 0 ? path : "standard output",
			ps_strerror(err));
		rc = PS_EXIT_OUTPUT;
	} else if (!o->quiet && strcmp(path, "-") != 0) {
		fprintf(stderr, "psample: wrote %s\n", path);
	}
out:
	profile__free(base);
	profile__free(new);
	return rc;
}
