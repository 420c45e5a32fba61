/*
 * test_elfsym.c - tests of the libelf wrapper on real binaries: this test's
 * own executable and libc (symbol value + load bias must equal the runtime
 * address), Debian's non-PIE stripped python3.11 and pyenv's libpython.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "psample/elfsym.h"
#include "psample/maps.h"

#define DEBIAN_PYTHON "/usr/bin/python3.11"
#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"
#define PYENV "/root/.pyenv/versions/3.11.7"
#define PYENV_PYTHON PYENV "/bin/python3.11"
#define PYENV_LIBPYTHON PYENV "/lib/libpython3.11.so.1.0"

/* Symbols of this executable whose link-time values the tests look up. */
int psample_test_marker(int x);

__attribute__((used, noinline)) int psample_test_marker(int x)
{
	return x * 3 + 1;
}

__attribute__((used)) const uint64_t psample_test_data = 0x1122334455667788u;
__attribute__((used)) char psample_test_bss[64];

static void self_exe(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);

	assert_true(n > 0);
	buf[n] = '\0';
}

/* The load bias of the file mapped at path in this process. */
static uint64_t self_bias(const struct maps *m, const char *path,
			  const struct elf_file *ef)
{
	const struct map_entry *base = maps__file_base(m, path);

	assert_non_null(base);
	return base->start - elf_file__base_vaddr(ef);
}

static void test_self_exe(void **state)
{
	struct elf_file *ef = NULL;
	struct maps *m = NULL;
	char exe[PATH_MAX];
	uint64_t value, size, bias, data = 0;
	char buf[8];

	(void)state;
	self_exe(exe, sizeof(exe));
	assert_int_equal(elf_file__open(exe, &ef), 0);
	assert_int_equal(maps__read(getpid(), &m), 0);
	bias = self_bias(m, exe, ef);

	assert_int_equal(
		elf_file__symbol(ef, "psample_test_marker", &value, &size), 0);
	assert_true(size > 0);
	assert_int_equal(value + bias,
			 (uint64_t)(uintptr_t)&psample_test_marker);

	/* Initialised data is in the file, at the right place. */
	assert_int_equal(
		elf_file__symbol(ef, "psample_test_data", &value, &size), 0);
	assert_int_equal(size, 8);
	assert_int_equal(value + bias, (uint64_t)(uintptr_t)&psample_test_data);
	assert_int_equal(elf_file__read(ef, value, &data, sizeof(data)), 0);
	assert_int_equal(data, psample_test_data);

	/* .bss has an address but no bytes in the file. */
	assert_int_equal(
		elf_file__symbol(ef, "psample_test_bss", &value, &size), 0);
	assert_int_equal(size, 64);
	assert_int_equal(value + bias, (uint64_t)(uintptr_t)psample_test_bss);
	assert_int_equal(elf_file__read(ef, value, buf, sizeof(buf)), -ENOENT);

	assert_int_equal(elf_file__read(ef, UINT64_MAX - 3, buf, sizeof(buf)),
			 -ENOENT);
	assert_int_equal(
		elf_file__symbol(ef, "psample_no_such_symbol", &value, &size),
		-ENOENT);
	/* Imported (undefined) symbols do not count. */
	assert_int_equal(elf_file__symbol(ef, "close", &value, NULL), -ENOENT);
	assert_int_equal(elf_file__section(ef, ".text", &value, &size), 0);
	assert_true(size > 0);
	assert_int_equal(elf_file__section(ef, ".no_such", &value, &size),
			 -ENOENT);

	maps__free(m);
	elf_file__free(ef);
}

static void test_libc(void **state)
{
	struct elf_file *ef = NULL;
	struct maps *m = NULL;
	const struct map_entry *e;
	struct stat a, b;
	uint64_t value, size, addr;
	void *h, *fn;

	(void)state;
	/*
	 * Not &malloc: a sanitizer build interposes its own malloc, while a
	 * lookup through libc's handle finds libc's.
	 */
	h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	assert_non_null(h);
	fn = dlsym(h, "malloc");
	assert_non_null(fn);
	addr = (uint64_t)(uintptr_t)fn;

	assert_int_equal(maps__read(getpid(), &m), 0);
	e = maps__find(m, addr);
	assert_non_null(e);
	assert_true(e->perms & MAP_PERM_X);
	/* ld.so may have found it under /usr/lib: compare files, not names. */
	assert_int_equal(stat(e->path, &a), 0);
	assert_int_equal(stat(LIBC, &b), 0);
	assert_true(a.st_dev == b.st_dev && a.st_ino == b.st_ino);

	assert_int_equal(elf_file__open(LIBC, &ef), 0);
	assert_int_equal(elf_file__base_vaddr(ef), 0);
	assert_int_equal(elf_file__symbol(ef, "malloc", &value, &size), 0);
	assert_true(size > 0);
	assert_int_equal(value + self_bias(m, e->path, ef), addr);
	assert_false(elf_file__needs(ef, "libpython"));
	assert_true(elf_file__needs(ef, "ld-linux"));

	elf_file__free(ef);
	maps__free(m);
	(void)dlclose(h);
}

static void test_debian_python(void **state)
{
	struct elf_file *ef = NULL;
	uint64_t value, size, addr, ver = 0;

	(void)state;
	if (access(DEBIAN_PYTHON, R_OK) != 0)
		skip();
	assert_int_equal(elf_file__open(DEBIAN_PYTHON, &ef), 0);
	/* Non-PIE: linked at 0x400000, so the bias is 0. */
	assert_int_equal(elf_file__base_vaddr(ef), 0x400000);

	/* Stripped: these come from .dynsym. */
	assert_int_equal(elf_file__symbol(ef, "_PyRuntime", &value, &size), 0);
	assert_true(value >= 0x400000);
	assert_true(size > 0);
	assert_int_equal(elf_file__section(ef, ".PyRuntime", &addr, NULL), 0);
	assert_int_equal(addr, value);

	assert_int_equal(elf_file__symbol(ef, "Py_Version", &value, &size), 0);
	assert_int_equal(size, 8);
	assert_int_equal(elf_file__read(ef, value, &ver, sizeof(ver)), 0);
	assert_int_equal(ver >> 16, 0x030B);
	assert_int_equal(ver & 0xf0, 0xf0);

	assert_int_equal(elf_file__symbol(ef, "PyCode_Type", &value, NULL), 0);
	assert_int_equal(
		elf_file__symbol(ef, "no_such_symbol_xyz", &value, NULL),
		-ENOENT);
	assert_false(elf_file__needs(ef, "libpython3.11"));
	assert_false(elf_file__needs(ef, "libpython"));
	assert_true(elf_file__needs(ef, "libc.so"));
	elf_file__free(ef);
}

static void test_pyenv_libpython(void **state)
{
	struct elf_file *ef = NULL;
	uint64_t value, size, addr, ver = 0;

	(void)state;
	if (access(PYENV_LIBPYTHON, R_OK) != 0)
		skip();
	assert_int_equal(elf_file__open(PYENV_LIBPYTHON, &ef), 0);
	assert_int_equal(elf_file__base_vaddr(ef), 0);

	assert_int_equal(elf_file__symbol(ef, "_PyRuntime", &value, &size), 0);
	assert_true(size > 0);
	assert_int_equal(elf_file__section(ef, ".PyRuntime", &addr, &size), 0);
	assert_int_equal(addr, value);

	assert_int_equal(elf_file__symbol(ef, "Py_Version", &value, &size), 0);
	assert_int_equal(elf_file__read(ef, value, &ver, sizeof(ver)), 0);
	assert_int_equal(ver, 0x030B07F0);

	/* A static function: only in .symtab. */
	assert_int_equal(elf_file__symbol(ef, "bytearray_length", &value, NULL),
			 0);
	assert_true(value != 0);
	elf_file__free(ef);
}

static void test_needs(void **state)
{
	struct elf_file *ef = NULL;

	(void)state;
	if (access(PYENV_PYTHON, R_OK) != 0)
		skip();
	assert_int_equal(elf_file__open(PYENV_PYTHON, &ef), 0);
	assert_true(elf_file__needs(ef, "libpython3.11"));
	assert_true(elf_file__needs(ef, "libpython3."));
	assert_false(elf_file__needs(ef, "libpython3.12"));
	/* _PyRuntime is in libpython, not in the executable. */
	assert_int_equal(elf_file__symbol(ef, "_PyRuntime", NULL, NULL),
			 -ENOENT);
	elf_file__free(ef);
}

static void test_open_errors(void **state)
{
	char path[] = "/tmp/psample-elfsym-XXXXXX";
	static const char text[] = "this is not an ELF file\n";
	struct elf_file *ef = NULL;
	int fd;

	(void)state;
	assert_int_equal(elf_file__open("/nonexistent/psample/x", &ef),
			 -ENOENT);
	assert_null(ef);
	assert_int_equal(elf_file__open("/", &ef), -ENOEXEC);
	assert_null(ef);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	/* Empty first, then text. */
	assert_int_equal(elf_file__open(path, &ef), -ENOEXEC);
	assert_int_equal(write(fd, text, sizeof(text) - 1),
			 (ssize_t)(sizeof(text) - 1));
	assert_int_equal(close(fd), 0);
	assert_int_equal(elf_file__open(path, &ef), -ENOEXEC);
	assert_null(ef);
	assert_int_equal(unlink(path), 0);

	elf_file__free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_self_exe),
		cmocka_unit_test(test_libc),
		cmocka_unit_test(test_debian_python),
		cmocka_unit_test(test_pyenv_libpython),
		cmocka_unit_test(test_needs),
		cmocka_unit_test(test_open_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
