/*
 * target.h - a CPython interpreter found in another process.
 *
 * py_target__open finds the ELF file that defines _PyRuntime (the python
 * executable, or libpython), its load address, the interpreter's version
 * and the layout for it, and checks that layout against the live process
 * before anyone samples with it.
 */
#ifndef PSAMPLE_TARGET_H
#define PSAMPLE_TARGET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "psample/mem.h"
#include "psample/pylayout.h"

/* Bytes of _Py_DebugOffsets psample reads at most (3.15: 888). */
#define PY_DEBUG_OFFSETS_MAX 2048

struct py_target {
	pid_t pid;
	struct mem mem;
	const struct py_layout *layout; /* a table entry, or layout_buf */
	struct py_layout layout_buf; /* 3.13+: read from the target */
	bool debug_offsets; /* _PyRuntime starts with _Py_DebugOffsets */
	uint32_t version; /* PY_VERSION_HEX */
	char version_str[32]; /* "3.11.7", "3.13.0rc2" */
	uint64_t runtime; /* &_PyRuntime in the target */
	uint64_t code_type; /* &PyCode_Type in the target */
	uint64_t frame_type; /* &PyFrame_Type in the target */
	/* &PyUnicode_Type, &PyDict_Type, &PyType_Type: what thread names
	 * are checked against (0: names are not read) */
	uint64_t str_type;
	uint64_t dict_type;
	uint64_t type_type;
	bool shared; /* _PyRuntime is in libpython, not the exe */
	char binary[4096]; /* that file's path, as the target sees it */
};

/*
 * Open pid.  Errors: -ESRCH (no such process), -EACCES/-EPERM (not
 * allowed), -PS_ENOTPYTHON, -PS_EUNSUPPORTED (version_str, when out is
 * non-NULL on return... see py_target__version_hint), -PS_ENOTREADY (the
 * interpreter is not loaded or not initialised yet: try again).
 */
int py_target__open(pid_t pid, struct py_target **out);

/*
 * After py_target__open failed with -PS_EUNSUPPORTED: the version it
 * found, as text for the error message ("3.7", "3.15.0b2, a pre-release
 * whose layout psample does not know").
 */
const char *py_target__version_hint(void);

void py_target__free(struct py_target *t);

/* Format a PY_VERSION_HEX as "3.11.7" / "3.13.0b2". */
void py_version__format(uint32_t version, char *buf, size_t n);

#endif
