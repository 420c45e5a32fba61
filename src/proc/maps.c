/*
 * maps.c - parse /proc/PID/maps into a sorted table of mappings.
 *
 * The table tells psample which ELF files the target has mapped and where,
 * so link-time symbol values can be turned into addresses in the target.
 * The parser is strict (anything the kernel would not print is -EINVAL)
 * because a misparsed line would silently give wrong addresses later.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "psample/hex.h"
#include "psample/maps.h"

static const char deleted_suffix[] = " (deleted)";

/* A cursor over one line; the line is not NUL-terminated. */
struct cursor {
	const char *p, *end;
};

/*
 * Not strtoull: it accepts signs, spaces and "0x", which the kernel never
 * prints.
 */
static int cursor__hex(struct cursor *c, uint64_t *out)
{
	uint64_t v = 0;
	const char *start = c->p;
	int d;

	while (c->p < c->end && (d = hex__digit((unsigned char)*c->p)) >= 0) {
		if (v > (UINT64_MAX >> 4))
			return -EINVAL;
		v = (v << 4) | (uint64_t)d;
		c->p++;
	}
	if (c->p == start)
		return -EINVAL;
	*out = v;
	return 0;
}

static int cursor__dec(struct cursor *c, uint64_t *out)
{
	uint64_t v = 0;
	const char *start = c->p;

	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		uint64_t d = (uint64_t)(*c->p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
		c->p++;
	}
	if (c->p == start)
		return -EINVAL;
	*out = v;
	return 0;
}

static int cursor__expect(struct cursor *c, char ch)
{
	if (c->p >= c->end || *c->p != ch)
		return -EINVAL;
	c->p++;
	return 0;
}

/* One perms character: either the flag letter or '-'. */
static int cursor__perm(struct cursor *c, char letter, unsigned int flag,
			unsigned int *perms)
{
	if (c->p >= c->end)
		return -EINVAL;
	if (*c->p == letter)
		*perms |= flag;
	else if (*c->p != '-')
		return -EINVAL;
	c->p++;
	return 0;
}

static int cursor__perms(struct cursor *c, unsigned int *perms)
{
	*perms = 0;
	if (cursor__perm(c, 'r', MAP_PERM_R, perms) ||
	    cursor__perm(c, 'w', MAP_PERM_W, perms) ||
	    cursor__perm(c, 'x', MAP_PERM_X, perms))
		return -EINVAL;
	if (c->p >= c->end)
		return -EINVAL;
	if (*c->p == 'p')
		*perms |= MAP_PERM_P;
	else if (*c->p != 's')
		return -EINVAL;
	c->p++;
	return 0;
}

static int cursor__dev(struct cursor *c, struct map_entry *e)
{
	uint64_t major, minor;

	if (cursor__hex(c, &major) || cursor__expect(c, ':') ||
	    cursor__hex(c, &minor))
		return -EINVAL;
	if (major > 0xffffffffu || minor > 0xffffffffu)
		return -EINVAL;
	e->dev_major = (unsigned int)major;
	e->dev_minor = (unsigned int)minor;
	return 0;
}

/* Parse one line of len bytes, without its newline. */
static int map_entry__parse(const char *line, size_t len, struct map_entry *out)
{
	struct cursor c = {line, line + len};
	struct map_entry e = {0};
	size_t plen;

	/* A NUL inside the span would silently truncate the path. */
	if (memchr(line, '\0', len))
		return -EINVAL;

	if (cursor__hex(&c, &e.start) || cursor__expect(&c, '-') ||
	    cursor__hex(&c, &e.end) || cursor__expect(&c, ' ') ||
	    cursor__perms(&c, &e.perms) || cursor__expect(&c, ' ') ||
	    cursor__hex(&c, &e.offset) || cursor__expect(&c, ' ') ||
	    cursor__dev(&c, &e) || cursor__expect(&c, ' ') ||
	    cursor__dec(&c, &e.inode))
		return -EINVAL;
	/* maps__find's binary search relies on non-empty ranges. */
	if (e.start >= e.end)
		return -EINVAL;

	/*
	 * The kernel pads to a column before the path, and leaves a lone
	 * space for anonymous mappings; the path itself then runs to the end
	 * of the line, spaces and all (real paths start with '/' or '[').
	 */
	if (c.p < c.end && *c.p != ' ')
		return -EINVAL;
	while (c.p < c.end && *c.p == ' ')
		c.p++;

	plen = (size_t)(c.end - c.p);
	if (plen > sizeof(deleted_suffix) - 1 &&
	    memcmp(c.end - (sizeof(deleted_suffix) - 1), deleted_suffix,
		   sizeof(deleted_suffix) - 1) == 0) {
		plen -= sizeof(deleted_suffix) - 1;
		e.deleted = true;
	}
	e.path = malloc(plen + 1);
	if (!e.path)
		return -ENOMEM;
	memcpy(e.path, c.p, plen);
	e.path[plen] = '\0';

	*out = e;
	return 0;
}

int maps__parse_line(const char *line, struct map_entry *out)
{
	size_t len = 0;

	if (!line || !out)
		return -EINVAL;
	len = strlen(line);
	if (len > 0 && line[len - 1] == '\n')
		len--;
	/* One line only: anything after a newline is not part of it. */
	if (memchr(line, '\n', len))
		return -EINVAL;
	return map_entry__parse(line, len, out);
}

void maps__free(struct maps *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].path);
	free(m->v);
	free(m);
}

static int map_entry__cmp(const void *a, const void *b)
{
	const struct map_entry *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

int maps__parse(const char *text, size_t len, struct maps **out)
{
	struct maps *m;
	size_t cap = 0, pos = 0;
	bool sorted = true;
	int err;

	if ((!text && len) || !out)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;

	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t llen = nl ? (size_t)(nl - line) : len - pos;

		pos += llen + (nl ? 1 : 0);
		if (m->n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct map_entry *nv;

			nv = reallocarray(m->v, ncap, sizeof(*nv));
			if (!nv) {
				err = -ENOMEM;
				goto fail;
			}
			m->v = nv;
			cap = ncap;
		}
		err = map_entry__parse(line, llen, &m->v[m->n]);
		if (err)
			goto fail;
		if (m->n && m->v[m->n].start < m->v[m->n - 1].start)
			sorted = false;
		m->n++;
	}

	/*
	 * The kernel prints mappings in address order; sort anyway so that a
	 * hand-made text cannot break maps__find's binary search.
	 */
	if (!sorted)
		qsort(m->v, m->n, sizeof(*m->v), map_entry__cmp);
	*out = m;
	return 0;

fail:
	maps__free(m);
	return err;
}

/* Read a whole file whose size stat cannot tell (procfs reports 0). */
static int fd__read_all(int fd, char **buf_out, size_t *len_out)
{
	size_t cap = 64 * 1024, len = 0;
	char *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t r;

		if (len == cap) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0) {
			int err = errno;

			if (err == EINTR)
				continue;
			free(buf);
			return -err;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	*buf_out = buf;
	*len_out = len;
	return 0;
}

int maps__read(pid_t pid, struct maps **out)
{
	char path[64];
	char *buf = NULL;
	size_t len = 0;
	int fd, err;

	if (!out)
		return -EINVAL;
	if (pid <= 0)
		return -ESRCH;
	(void)snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		return err == ENOENT ? -ESRCH : -err;
	}
	err = fd__read_all(fd, &buf, &len);
	(void)close(fd);
	if (err)
		/* The process died between open and read. */
		return err == -ENOENT ? -ESRCH : err;
	err = maps__parse(buf, len, out);
	free(buf);
	return err;
}

const struct map_entry *maps__find(const struct maps *m, uint64_t addr)
{
	size_t lo = 0, hi;

	if (!m)
		return NULL;
	/* Find the last mapping that starts at or below addr. */
	hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->v[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	if (addr < m->v[lo - 1].end)
		return &m->v[lo - 1];
	return NULL;
}

const struct map_entry *maps__file_base(const struct maps *m, const char *path)
{
	/* "" would match anonymous mappings, which are no file. */
	if (!m || !path || !*path)
		return NULL;
	/* Entries are sorted, so the first match is the lowest. */
	for (size_t i = 0; i < m->n; i++) {
		if (m->v[i].offset == 0 && strcmp(m->v[i].path, path) == 0)
			return &m->v[i];
	}
	return NULL;
}

/* Whether path is the file me maps (same device and inode). */
static bool maps__same_file(const char *path, const struct map_entry *me)
{
	struct stat st;

	return stat(path, &st) == 0 && st.st_ino == me->inode &&
	       major(st.st_dev) == me->dev_major &&
	       minor(st.st_dev) == me->dev_minor;
}

int maps__open_path(pid_t pid, const struct map_entry *me, char *buf, size_t n)
{
	char path[3][PATH_MAX];
	int len[3];

	len[0] = snprintf(path[0], sizeof(path[0]), "/proc/%d/root%s", (int)pid,
			  me->path);
	len[1] = snprintf(path[1], sizeof(path[1]), "%s", me->path);
	len[2] = snprintf(path[2], sizeof(path[2]),
			  "/proc/%d/map_files/%llx-%llx", (int)pid,
			  (unsigned long long)me->start,
			  (unsigned long long)me->end);
	int pick = 0;
	for (int i = 0; i < 3; i++) {
		if (len[i] < 0 || (size_t)len[i] >= sizeof(path[i]))
			continue;
		if (maps__same_file(path[i], me)) {
			pick = i;
			break;
		}
	}
	if (len[pick] < 0 || (size_t)len[pick] >= n)
		return -ENAMETOOLONG;
	memcpy(buf, path[pick], (size_t)len[pick] + 1);
	return 0;
}
