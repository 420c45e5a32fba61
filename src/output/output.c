/*
 * output.c - the table of output formats, choosing a format by name or by
 * file extension, checking and atomically writing the output file, and the
 * path and label helpers every text writer shares.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "psample/output.h"
#include "psample/utf8.h"

#define WRITER(x)                                       \
	int x##__write(FILE *out, const struct trie *t, \
		       const struct profile_meta *m,    \
		       const struct output_opts *o)
#define DIFF_WRITER(x)                                                      \
	int x##__write_diff(                                                \
		FILE *out, const struct trie *base, const struct trie *new, \
		const struct profile_meta *m, const struct output_opts *o)
WRITER(folded);
WRITER(svg);
WRITER(pstats);
WRITER(callgrind);
WRITER(speedscope);
WRITER(pprof);
WRITER(raw);
DIFF_WRITER(folded);
DIFF_WRITER(svg);

/*
 * A new format is one entry here and one file in src/output/.  The
 * first entry is the default of record and attach.
 */
static const struct output_format formats[] = {
	{
		.name = "svg",
		.ext = ".svg",
		.help = "interactive flame graph for a web browser",
		.write = svg__write,
		.write_diff = svg__write_diff,
	},
	{
		.name = "folded",
		.ext = ".folded",
		.help = "folded stacks for flamegraph.pl, inferno, speedscope",
		.flags = OUT_SIGNED,
		.write = folded__write,
		.write_diff = folded__write_diff,
	},
	{
		.name = "pstats",
		.ext = ".pstats",
		.help = "cProfile's format: pstats, SnakeViz, gprof2dot",
		.write = pstats__write,
	},
	{
		.name = "callgrind",
		.ext = "",
		.prefix = "callgrind.out.",
		.help = "KCacheGrind, QCacheGrind, callgrind_annotate",
		.flags = OUT_THREADS,
		.write = callgrind__write,
	},
	{
		.name = "speedscope",
		.ext = ".speedscope.json",
		.help = "speedscope's JSON, one profile per thread",
		.flags = OUT_THREADS,
		.write = speedscope__write,
	},
	{
		.name = "pprof",
		.ext = ".pb.gz",
		.help = "gzipped profile.proto: go tool pprof, Pyroscope, "
			"Parca",
		.flags = OUT_THREADS | OUT_SIGNED,
		.write = pprof__write,
	},
	{
		.name = "raw",
		.ext = ".psample",
		.help = "psample's lossless profile, for convert and diff",
		.flags = OUT_RAW | OUT_SIGNED,
		.write = raw__write,
	},
};

/* Other extensions that name a format unambiguously. */
static const struct {
	const char *ext;
	const char *format;
} aliases[] = {
	{".prof", "pstats"},
};

#define NFORMATS (sizeof(formats) / sizeof(formats[0]))
#define NALIASES (sizeof(aliases) / sizeof(aliases[0]))

bool output__counts_bytes(const char *mode)
{
	return mode && !strcmp(mode, "memory");
}

bool output__takes_mode(const struct output_format *fmt, const char *mode)
{
	return !output__counts_bytes(mode) || (fmt->flags & OUT_SIGNED);
}

const struct output_format *output__find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < NFORMATS; i++)
		if (!strcmp(formats[i].name, name))
			return &formats[i];
	return NULL;
}

const struct output_format *output__for_path(const char *path)
{
	const struct output_format *best = NULL;
	const char *base;
	size_t blen, best_len = 0;
	bool tie = false;

	if (!path)
		return NULL;
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	blen = strlen(base);
	/*
	 * The longest matching extension wins (".speedscope.json" over
	 * ".json"); two formats claiming the same one is ambiguous.  The
	 * name must have a stem: ".folded" alone is a hidden file.  A
	 * prefix ("callgrind.out.") matches the start of the name instead.
	 */
	for (size_t i = 0; i < NFORMATS + NALIASES; i++) {
		const struct output_format *f =
			i < NFORMATS
				? &formats[i]
				: output__find(aliases[i - NFORMATS].format);
		const char *ext =
			i < NFORMATS ? f->ext : aliases[i - NFORMATS].ext;
		size_t elen = strlen(ext);
		bool hit = elen && elen < blen &&
			   !strcasecmp(base + blen - elen, ext);

		if (!hit && i < NFORMATS && f->prefix) {
			elen = strlen(f->prefix);
			hit = elen < blen && !strncmp(base, f->prefix, elen);
		}
		if (!hit)
			continue;
		if (elen > best_len) {
			best = f;
			best_len = elen;
			tie = false;
		} else if (elen == best_len && best != f) {
			tie = true;
		}
	}
	return tie ? NULL : best;
}

static char names_buf[256];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void output__build_names(void)
{
	size_t len = 0;

	for (size_t i = 0; i < NFORMATS; i++) {
		int r = snprintf(names_buf + len, sizeof(names_buf) - len,
				 "%s%s", i ? ", " : "", formats[i].name);

		if (r < 0 || (size_t)r >= sizeof(names_buf) - len)
			break;
		len += (size_t)r;
	}
}

const char *output__names(void)
{
	/* Built once from the table, so it cannot fall out of date. */
	if (pthread_once(&names_once, output__build_names))
		return "";
	return names_buf;
}

/* The directory part of path, malloc'd ("." for a bare name).  NULL: ENOMEM */
static char *path__dir(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/* The target must be absent or a regular file we can replace. */
static int output__check_target(const char *path)
{
	struct stat st;
	size_t len = strlen(path);

	if (!len)
		return -ENOENT;
	if (path[len - 1] == '/')
		return -EISDIR;
	if (stat(path, &st)) {
		if (errno == ENOENT)
			return 0;
		return -errno;
	}
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	/* rename() would replace a device or fifo node, not write into it. */
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	return 0;
}

/* mkstemp() template next to path: "<dir>/.<base>.XXXXXX". */
static char *path__temp(const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t dlen = slash ? (size_t)(slash - path) + 1 : 0;
	size_t len = strlen(path) + sizeof("/..XXXXXX");
	char *tmp = malloc(len);

	if (!tmp)
		return NULL;
	memcpy(tmp, path, dlen);
	tmp[dlen] = '.';
	strcpy(tmp + dlen + 1, path + dlen);
	strcat(tmp, ".XXXXXX");
	return tmp;
}

/* Create and remove a temporary file: the only reliable writability test. */
static int output__probe(const char *path)
{
	char *tmp = path__temp(path);
	int fd, err = 0;

	if (!tmp)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
	} else {
		close(fd);
		unlink(tmp);
	}
	free(tmp);
	return err;
}

int output__check(const char *path)
{
	struct stat st;
	char *dir;
	int err;

	if (!path)
		return -EINVAL;
	err = output__check_target(path);
	if (err)
		return err;
	dir = path__dir(path);
	if (!dir)
		return -ENOMEM;
	err = stat(dir, &st) ? -errno : 0;
	if (!err && !S_ISDIR(st.st_mode))
		err = -ENOTDIR;
	if (!err && access(dir, W_OK | X_OK))
		err = -errno;
	free(dir);
	if (err)
		return err;
	/* access() says yes to root on a read-only or synthetic (/proc) fs. */
	return output__probe(path);
}

/*
 * The process umask, without umask(2)'s set-and-restore race with other
 * threads: mkstemp() creates 0600 files and the profile should get the
 * permissions any other file the user creates would get.
 */
static mode_t output__umask(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	unsigned int mask;
	mode_t ret = 022;

	if (!f)
		return ret;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Umask: %o", &mask) == 1) {
			ret = (mode_t)(mask & 0777);
			break;
		}
	}
	(void)fclose(f);
	return ret;
}

/* errno after a failed stdio call, or EIO if stdio did not set one. */
static int stdio__err(void)
{
	return errno ? -errno : -EIO;
}

/* What one output__atomic call writes. */
struct job {
	const struct output_format *fmt;
	const struct trie *t, *base;
	const struct profile_meta *m;
	const struct output_opts *o;
};

static int job__run(FILE *f, const struct job *j)
{
	if (j->base)
		return j->fmt->write_diff(f, j->base, j->t, j->m, j->o);
	return j->fmt->write(f, j->t, j->m, j->o);
}

static int output__write_file(const struct job *j, int fd)
{
	FILE *f;
	int err;

	if (fchmod(fd, 0666 & ~output__umask())) {
		err = -errno;
		close(fd);
		return err;
	}
	f = fdopen(fd, "w");
	if (!f) {
		err = -errno;
		close(fd);
		return err;
	}
	errno = 0;
	err = job__run(f, j);
	if (!err && ferror(f))
		err = -EIO;
	if (!err) {
		errno = 0;
		if (fflush(f) || ferror(f))
			err = stdio__err();
	}
	/* Without fsync a crash after rename can leave an empty file. */
	if (!err && fsync(fileno(f)))
		err = -errno;
	errno = 0;
	if (fclose(f) && !err)
		err = stdio__err();
	return err;
}

static int output__atomic(const char *path, const struct job *j)
{
	char *tmp, *dir;
	int fd, err;

	if (!strcmp(path, "-")) {
		/* Standard output: nothing to make atomic. */
		errno = 0;
		err = job__run(stdout, j);
		if (!err && (fflush(stdout) || ferror(stdout)))
			err = stdio__err();
		return err;
	}
	err = output__check_target(path);
	if (err)
		return err;
	tmp = path__temp(path);
	if (!tmp)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		free(tmp);
		return err;
	}
	err = output__write_file(j, fd);
	if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		unlink(tmp);
		free(tmp);
		return err;
	}
	free(tmp);

	/* Make the rename itself durable; the file is complete either way. */
	dir = path__dir(path);
	if (dir) {
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			(void)fsync(fd);
			close(fd);
		}
		free(dir);
	}
	return 0;
}

/* The trie as fmt wants it under o; *owned is what to free after. */
static int output__view(const struct output_format *fmt, const struct trie *t,
			const struct output_opts *o, const struct trie **view,
			struct trie **owned)
{
	unsigned flags = 0;

	*view = t;
	*owned = NULL;
	if (fmt->flags & OUT_RAW)
		return 0;
	if (o && o->function)
		flags |= TRIE_FUNCTIONS;
	if (!(fmt->flags & OUT_THREADS) && !(o && o->threads))
		flags |= TRIE_NO_THREADS;
	if (!flags)
		return 0;
	int err = trie__project(t, flags, owned);
	if (!err)
		*view = *owned;
	return err;
}

int output__write(const struct output_format *fmt, const char *path,
		  const struct trie *t, const struct profile_meta *m,
		  const struct output_opts *o)
{
	static const struct output_opts none;
	struct job j = {.fmt = fmt, .m = m, .o = o ? o : &none};
	struct trie *owned;
	int err;

	if (!fmt || !path || !t)
		return -EINVAL;
	if ((err = output__view(fmt, t, o, &j.t, &owned)))
		return err;
	err = output__atomic(path, &j);
	trie__free(owned);
	return err;
}

int output__write_diff(const struct output_format *fmt, const char *path,
		       const struct trie *base, const struct trie *new,
		       const struct profile_meta *m,
		       const struct output_opts *o)
{
	static const struct output_opts none;
	struct job j = {.fmt = fmt, .m = m, .o = o ? o : &none};
	struct trie *owned_base = NULL, *owned_new = NULL;
	int err;

	if (!fmt || !path || !base || !new)
		return -EINVAL;
	if (!fmt->write_diff)
		return -ENOTSUP;
	if (!(err = output__view(fmt, base, o, &j.base, &owned_base)) &&
	    !(err = output__view(fmt, new, o, &j.t, &owned_new)))
		err = output__atomic(path, &j);
	trie__free(owned_base);
	trie__free(owned_new);
	return err;
}

const char *output__default_name(const struct output_format *fmt, pid_t pid,
				 const char *stamp, char *buf, size_t n)
{
	if (fmt->prefix)
		snprintf(buf, n, "%s%d", fmt->prefix, (int)pid);
	else
		snprintf(buf, n, "psample-%d-%s%s", (int)pid, stamp, fmt->ext);
	return buf;
}

/* Length of a "lib/pythonX.Y[abi]/" component starting at p, or 0. */
static size_t path__pylib_len(const char *p)
{
	const char *q;

	if (strncmp(p, "lib/", 4) == 0)
		q = p + 4;
	else if (strncmp(p, "lib64/", 6) == 0)
		q = p + 6;
	else
		return 0;
	if (strncmp(q, "python", 6) != 0)
		return 0;
	q += 6;
	if (*q < '0' || *q > '9')
		return 0;
	while (*q >= '0' && *q <= '9')
		q++;
	if (*q++ != '.')
		return 0;
	if (*q < '0' || *q > '9')
		return 0;
	while (*q >= '0' && *q <= '9')
		q++;
	/* ABI flags: d (debug), t (free-threaded), m (before 3.8). */
	while (*q >= 'a' && *q <= 'z')
		q++;
	if (*q != '/')
		return 0;
	return (size_t)(q + 1 - p);
}

/* Where the user-facing part of path starts, or NULL to keep it whole. */
static const char *path__short_start(const char *path)
{
	static const char *const pkgdirs[] = {"/site-packages/",
					      "/dist-packages/"};
	const char *start = NULL;

	for (size_t i = 0; i < 2; i++) {
		size_t len = strlen(pkgdirs[i]);
		const char *p = path;

		while ((p = strstr(p, pkgdirs[i]))) {
			if (!start || p + len > start)
				start = p + len;
			p++;
		}
	}
	if (!start) {
		for (const char *p = path; (p = strchr(p, '/')); p++) {
			size_t len = path__pylib_len(p + 1);

			if (len)
				start = p + 1 + len;
		}
	}
	return start && *start ? start : NULL;
}

const char *output__short_path(const char *path, char *buf, size_t n)
{
	const char *start;
	size_t len;

	if (!n)
		return buf;
	if (!path) {
		buf[0] = '\0';
		return buf;
	}
	start = path__short_start(path);
	if (!start)
		start = path;
	len = strlen(start);
	if (len >= n) {
		len = n - 1;
		/* Do not cut a UTF-8 sequence in half. */
		while (len > 0 && ((unsigned char)start[len] & 0xc0) == 0x80)
			len--;
	}
	memcpy(buf, start, len);
	buf[len] = '\0';
	return buf;
}

size_t output__utf8_len(const unsigned char *s, bool surrogates)
{
	return utf8__seq(s, surrogates, NULL, NULL);
}

int outbuf__reserve(struct outbuf *b, size_t extra)
{
	size_t cap = b->cap ? b->cap : 256;
	char *p;

	if (extra > SIZE_MAX / 4 - b->len)
		return -ENOMEM;
	while (cap < b->len + extra)
		cap *= 2;
	if (cap == b->cap)
		return 0;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

size_t output__label(char *buf, size_t len, size_t n, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (!n)
		return 0;
	if (len >= n)
		len = n - 1;
	while (p && *p) {
		size_t bad = 0, k = utf8__seq(p, false, NULL, &bad);
		const char *out = (const char *)p;
		size_t olen = k;

		if (!k) {
			out = "\xef\xbf\xbd";
			olen = 3;
			k = bad;
		} else if (*p == ';') {
			out = ":";
		} else if (*p == '\n' || *p == '\r') {
			out = " ";
		}
		/* Whole characters only, and always room for the NUL. */
		if (olen > n - 1 - len)
			break;
		memcpy(buf + len, out, olen);
		len += olen;
		p += k;
	}
	buf[len] = '\0';
	return len;
}
