/*
 * target.c - finding and checking a CPython interpreter in a process.
 *
 * The search reads files, not the process, as far as it can: the ELF
 * that defines _PyRuntime is opened through /proc/PID/exe or
 * /proc/PID/root/<path> (so a process in a container resolves to its own
 * files), symbols give link-time addresses, and the mapping of the file
 * gives the load bias.  The version comes from _Py_DebugOffsets (3.13+),
 * then Py_Version (3.11+), then the file name.  Only then is the layout
 * checked against live memory.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "psample/elfsym.h"
#include "psample/error.h"
#include "psample/maps.h"
#include "psample/proc.h"
#include "psample/pytarget.h"

static char version_hint[32];

const char *py_target__version_hint(void)
{
	return version_hint;
}

void py_version__format(uint32_t v, char *buf, size_t n)
{
	unsigned major = v >> 24, minor = (v >> 16) & 0xff;
	unsigned micro = (v >> 8) & 0xff, level = (v >> 4) & 0xf;
	unsigned serial = v & 0xf;
	const char *tag = level == 0xa	 ? "a"
			  : level == 0xb ? "b"
			  : level == 0xc ? "rc"
					 : "";

	if (*tag)
		snprintf(buf, n, "%u.%u.%u%s%u", major, minor, micro, tag,
			 serial);
	else
		snprintf(buf, n, "%u.%u.%u", major, minor, micro);
}

/* "python3.11", "libpython3.11d.so.1.0" -> 0x030B0000; 0 if no match. */
static uint32_t version__from_name(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	const char *p = strstr(base, "python");
	if (!p)
		return 0;
	p += 6;
	char *end;
	long major = strtol(p, &end, 10);
	if (end == p || *end != '.' || major != 3)
		return 0;
	p = end + 1;
	long minor = strtol(p, &end, 10);
	if (end == p || minor < 0 || minor > 99)
		return 0;
	return (uint32_t)major << 24 | (uint32_t)minor << 16;
}

static bool path__is_libpython(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	return strncmp(base, "libpython3", 10) == 0 && strstr(base, ".so");
}

struct candidate {
	const struct map_entry *map; /* its offset-0 mapping */
	char open_path[PATH_MAX]; /* where psample opens it */
};

/*
 * Try one ELF: fill t from it if it defines _PyRuntime.  Returns 1 if it
 * does, 0 if not, negative on error.
 */
static int target__try(struct py_target *t, const struct candidate *c)
{
	struct elf_file *ef;
	uint64_t rt, rt_size, addr, size;
	int err = elf_file__open(c->open_path, &ef);

	if (err)
		return err == -ENOEXEC ? 0 : err;
	if (elf_file__symbol(ef, "_PyRuntime", &rt, &rt_size) &&
	    elf_file__section(ef, ".PyRuntime", &rt, &rt_size)) {
		elf_file__free(ef);
		return 0;
	}
	uint64_t bias = c->map->start - elf_file__base_vaddr(ef);
	t->runtime = bias + rt;
	snprintf(t->binary, sizeof(t->binary), "%s", c->map->path);
	t->shared = path__is_libpython(c->map->path);

	/* Version: debug offsets (live), then Py_Version (file), then name. */
	uint8_t head[16];
	t->version = 0;
	if (!mem__read(&t->mem, t->runtime, head, sizeof(head)) &&
	    !memcmp(head, "xdebugpy", 8))
		memcpy(&t->version, head + 8, sizeof(t->version));
	if (!t->version && !elf_file__symbol(ef, "Py_Version", &addr, &size)) {
		uint64_t v = 0;
		if (!elf_file__read(ef, addr, &v, sizeof(v)))
			t->version = (uint32_t)v;
	}
	if (!t->version)
		t->version = version__from_name(c->map->path);
	if (!elf_file__symbol(ef, "PyCode_Type", &addr, &size))
		t->code_type = bias + addr;
	elf_file__free(ef);
	if (!t->code_type)
		return -PS_EBADLAYOUT;
	return 1;
}

/*
 * Check the layout on the live process: the interpreter list, each
 * thread's back pointer to its interpreter.  -PS_ENOTREADY while the
 * interpreter is starting up or has no thread yet.
 */
static int target__validate(struct py_target *t)
{
	const struct py_layout *l = t->layout;
	uint64_t interp, ts, back;
	int err =
		mem__read_u64(&t->mem, t->runtime + l->rt_interp_head, &interp);
	if (err)
		return err == -EFAULT ? -PS_EBADLAYOUT : err;
	if (!interp)
		return -PS_ENOTREADY;
	err = mem__read_u64(&t->mem, interp + l->is_threads_head, &ts);
	if (err)
		return err == -EFAULT ? -PS_EBADLAYOUT : err;
	if (!ts)
		return -PS_ENOTREADY;
	err = mem__read_u64(&t->mem, ts + l->ts_interp, &back);
	if (err)
		return err == -EFAULT ? -PS_EBADLAYOUT : err;
	if (back != interp)
		return -PS_EBADLAYOUT;
	/* PyCode_Type is a type: its own type is PyType_Type, a type too. */
	uint64_t meta, metameta;
	if (mem__read_u64(&t->mem, t->code_type + l->ob_type, &meta) ||
	    mem__read_u64(&t->mem, meta + l->ob_type, &metameta) ||
	    metameta != meta)
		return -PS_EBADLAYOUT;
	return 0;
}

int py_target__open(pid_t pid, struct py_target **out)
{
	struct maps *maps;
	struct py_target *t;
	int err, alive = proc__alive(pid);

	*out = NULL;
	version_hint[0] = '\0';
	if (alive == 0)
		return -ESRCH;
	if (alive < 0)
		return alive;
	err = maps__read(pid, &maps);
	if (err)
		return err;
	t = calloc(1, sizeof(*t));
	if (!t) {
		maps__free(maps);
		return -ENOMEM;
	}
	t->pid = pid;
	mem__init_process(&t->mem, pid);

	/* The executable first (via /proc/PID/exe: deleted or foreign-ns
	 * binaries still open), then any libpython. */
	char exe[PATH_MAX];
	char link[64];
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	ssize_t n = readlink(link, exe, sizeof(exe) - 1);
	if (n < 0) {
		err = errno == ENOENT ? -ESRCH : -errno;
		goto fail;
	}
	exe[n] = '\0';
	if (n > 10 && !strcmp(exe + n - 10, " (deleted)"))
		exe[n - 10] = '\0';

	err = -PS_ENOTPYTHON;
	for (size_t i = 0; i < maps->n; i++) {
		const struct map_entry *me = &maps->v[i];
		struct candidate c = {.map = me};
		bool is_exe = !strcmp(me->path, exe);

		if (me->offset != 0 || !me->path[0])
			continue;
		if (!is_exe && !path__is_libpython(me->path))
			continue;
		if (maps__file_base(maps, me->path) != me)
			continue;
		if (is_exe)
			snprintf(c.open_path, sizeof(c.open_path), "%s", link);
		else if (proc__root_path(pid, me->path, c.open_path,
					 sizeof(c.open_path)))
			continue;
		int r = target__try(t, &c);
		if (r == 1) {
			err = 0;
			break;
		}
		if (r == -EACCES || r == -EPERM) {
			err = r;
			break;
		}
	}
	if (err)
		goto fail;

	py_version__format(t->version, t->version_str, sizeof(t->version_str));
	if (!(t->version & 0xffff)) {
		/* Only the file name said which version: no micro to show. */
		snprintf(t->version_str, sizeof(t->version_str), "%u.%u",
			 t->version >> 24, (t->version >> 16) & 0xff);
	}
	t->layout = py_layout__find(t->version);
	if (!t->layout) {
		snprintf(version_hint, sizeof(version_hint), "%s",
			 t->version ? t->version_str : "unknown");
		err = -PS_EUNSUPPORTED;
		goto fail;
	}
	err = target__validate(t);
	if (err)
		goto fail;
	maps__free(maps);
	*out = t;
	return 0;
fail:
	maps__free(maps);
	free(t);
	return err;
}

void py_target__free(struct py_target *t)
{
	free(t);
}
