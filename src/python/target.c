/*
 * target.c - finding and checking a CPython interpreter in a process.
 *
 * The search reads files, not the process, as far as it can: the ELF
 * that defines _PyRuntime is opened through /proc/PID/exe or where
 * maps__open_path() finds the mapped file (so a process in a container
 * or a chroot resolves to its own files), symbols give link-time
 * addresses, and the mapping of the file
 * gives the load bias.  The version comes from _Py_DebugOffsets (3.13+),
 * then Py_Version (3.11+), then the API the file exports (3.8-3.10), and
 * only as a last hint from the file name.  3.13+ describe their own
 * layout (_Py_DebugOffsets); older versions use psample's table.  Either
 * way the layout is checked against live memory before it is used.
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
#include "psample/target.h"
#include "layout.h"

static char version_hint[128];

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
	if (end == p || *end != '.' || (major != 3 && major != 2))
		return 0;
	p = end + 1;
	long minor = strtol(p, &end, 10);
	if (end == p || minor < 0 || minor > 99)
		return 0;
	return (uint32_t)major << 24 | (uint32_t)minor << 16;
}

/*
 * 3.8-3.10 have no Py_Version: tell them apart by the oldest release that
 * exports each function, so a renamed binary is still recognised.
 */
static uint32_t version__from_api(const struct elf_file *ef)
{
	static const struct {
		const char *symbol;
		uint32_t version;
	} marks[] = {
		{"PyAIter_Check", 0x030A0000u}, /* new in 3.10 */
		{"PyFrame_GetCode", 0x03090000u}, /* new in 3.9 */
		{"PyCode_NewWithPosOnlyArgs", 0x03080000u}, /* new in 3.8 */
	};
	uint64_t addr, size;

	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if (!elf_file__symbol(ef, marks[i].symbol, &addr, &size))
			return marks[i].version;
	return 0;
}

/*
 * The full version of a 3.8-3.10, where the symbol table is there to say
 * it: Py_GetVersion() fills its static buffer ("3.9.18 (main, ...") at
 * start-up for sys.version.  Stripped binaries keep major.minor only.
 */
static uint32_t version__micro(struct py_target *t, const struct elf_file *ef,
			       uint64_t bias, uint32_t version)
{
	uint64_t addr, size;
	char buf[64];
	unsigned major, minor, micro;
	char tag[3] = "";
	unsigned serial = 0;

	if ((elf_file__symbol(ef, "version.0", &addr, &size) &&
	     elf_file__symbol(ef, "version", &addr, &size)) ||
	    size != 250 ||
	    mem__read(&t->mem, bias + addr, buf, sizeof(buf) - 1))
		return version;
	buf[sizeof(buf) - 1] = '\0';
	int n = sscanf(buf, "%u.%u.%u%2[abrc]%u", &major, &minor, &micro, tag,
		       &serial);
	if (n < 3 || major != 3 || minor != ((version >> 16) & 0xff) ||
	    micro > 255 || serial > 15)
		return version;
	unsigned level = !strcmp(tag, "a")    ? 0xa
			 : !strcmp(tag, "b")  ? 0xb
			 : !strcmp(tag, "rc") ? 0xc
					      : 0xf;
	if (level == 0xf)
		serial = 0;
	return (version & 0xffff0000u) | micro << 8 | level << 4 | serial;
}

static bool path__is_libpython(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	/* libpython2.x too: to name it when refusing it. */
	return (strncmp(base, "libpython3", 10) == 0 ||
		strncmp(base, "libpython2", 10) == 0) &&
	       strstr(base, ".so");
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
		/* A Python older than 3.7 has no _PyRuntime: say which. */
		int old = !elf_file__symbol(ef, "PyCode_Type", &addr, &size);
		if (old)
			t->version = version__from_name(c->map->path);
		elf_file__free(ef);
		return old ? 2 : 0;
	}
	uint64_t bias = c->map->start - elf_file__base_vaddr(ef);
	t->runtime = bias + rt;
	snprintf(t->binary, sizeof(t->binary), "%s", c->map->path);
	t->shared = path__is_libpython(c->map->path);

	/* Version: debug offsets (live), then Py_Version (file), then the
	 * exported API, then the name. */
	uint8_t head[16];
	t->version = 0;
	t->debug_offsets = false;
	if (!mem__read(&t->mem, t->runtime, head, sizeof(head)) &&
	    !memcmp(head, "xdebugpy", 8)) {
		memcpy(&t->version, head + 8, sizeof(t->version));
		t->debug_offsets = true;
	} else if (!elf_file__read(ef, rt, head, sizeof(head)) &&
		   !memcmp(head, "xdebugpy", 8)) {
		/* The file has the offsets, the process not yet: the loader
		 * has mapped the file's first page but not its data (a
		 * process that has just exec'd).  Not a version to refuse. */
		elf_file__free(ef);
		return -PS_ENOTREADY;
	}
	if (!t->version && !elf_file__symbol(ef, "Py_Version", &addr, &size)) {
		uint64_t v = 0;
		if (!elf_file__read(ef, addr, &v, sizeof(v)))
			t->version = (uint32_t)v;
	}
	if (!t->version) {
		t->version = version__from_api(ef);
		if (t->version)
			t->version = version__micro(t, ef, bias, t->version);
	}
	if (!t->version)
		t->version = version__from_name(c->map->path);
	if (!elf_file__symbol(ef, "PyCode_Type", &addr, &size))
		t->code_type = bias + addr;
	if (!elf_file__symbol(ef, "PyFrame_Type", &addr, &size))
		t->frame_type = bias + addr;
	if (!elf_file__symbol(ef, "PyUnicode_Type", &addr, &size))
		t->str_type = bias + addr;
	if (!elf_file__symbol(ef, "PyDict_Type", &addr, &size))
		t->dict_type = bias + addr;
	if (!elf_file__symbol(ef, "PyType_Type", &addr, &size))
		t->type_type = bias + addr;
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

/*
 * Choose the layout: the interpreter's own description where it has one
 * and psample knows how to read it, else the table.  Pre-releases before
 * rc are refused: their layouts changed from one beta to the next.
 */
static int target__layout(struct py_target *t)
{
	const struct py_debug_desc *d = py_debug_desc__find(t->version);
	uint32_t level = (t->version >> 4) & 0xf;

	if (d && t->debug_offsets && (level == 0xf || level == 0xc)) {
		uint8_t buf[PY_DEBUG_OFFSETS_MAX];
		size_t len = (size_t)d->words * 8;
		int err;

		if (len > sizeof(buf))
			return -PS_EBADLAYOUT;
		err = mem__read(&t->mem, t->runtime, buf, len);
		if (err)
			return err == -EFAULT ? -PS_EBADLAYOUT : err;
		err = py_layout__from_debug(d, buf, len, &t->layout_buf);
		if (err)
			return err;
		t->layout = &t->layout_buf;
		return 0;
	}
	if (!d && !(t->debug_offsets && t->version >= 0x030D0000u))
		t->layout = py_layout__find(t->version);
	if (t->layout)
		return 0;
	if (!t->version)
		snprintf(version_hint, sizeof(version_hint),
			 "of an unknown version");
	else if (d && t->debug_offsets)
		snprintf(version_hint, sizeof(version_hint),
			 "%s, a pre-release whose layout psample does not know",
			 t->version_str);
	else
		snprintf(version_hint, sizeof(version_hint), "%s",
			 t->version_str);
	return -PS_EUNSUPPORTED;
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
		else if (maps__open_path(pid, me, c.open_path,
					 sizeof(c.open_path)))
			continue;
		int r = target__try(t, &c);
		if (r == 1) {
			err = 0;
			break;
		}
		if (r == 2) {
			snprintf(version_hint, sizeof(version_hint), "%u.%u",
				 t->version >> 24, (t->version >> 16) & 0xff);
			if (!t->version)
				snprintf(version_hint, sizeof(version_hint),
					 "older than 3.7");
			err = -PS_EUNSUPPORTED;
		}
		if (r == -EACCES || r == -EPERM || r == -PS_ENOTREADY) {
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
	err = target__layout(t);
	if (err)
		goto fail;
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
