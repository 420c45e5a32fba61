/*
 * embed.c - a C program that embeds Python the way uWSGI's plugins do:
 * it runs as plain C for a while, then loads libpython with dlopen and
 * runs code in it.  psample must sample it as Python once it is one,
 * and, with --subprocesses, as the root, not as a root that is not
 * Python.  It needs no Python headers: the two functions it calls are
 * looked up by name.
 *
 * usage: embed LIBPYTHON DELAY_MS CODE (PYTHONHOME: the prefix); exits
 * with PyRun_SimpleString's status (0 or 1).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: embed LIBPYTHON DELAY_MS CODE\n");
		return 2;
	}
	long ms = strtol(argv[2], NULL, 10);
	struct timespec ts = {.tv_sec = ms / 1000,
			      .tv_nsec = (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
	void *lib = dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL);
	if (!lib) {
		fprintf(stderr, "embed: %s\n", dlerror());
		return 2;
	}
	void (*init)(void) = (void (*)(void))dlsym(lib, "Py_Initialize");
	int (*run)(const char *) =
		(int (*)(const char *))dlsym(lib, "PyRun_SimpleString");
	if (!init || !run) {
		fprintf(stderr, "embed: no Py_Initialize/PyRun_SimpleString\n");
		return 2;
	}
	init();
	return run(argv[3]) ? 1 : 0;
}
