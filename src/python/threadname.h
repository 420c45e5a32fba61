/*
 * threadname.h - a threading.Thread's name, read from the target
 * (private to src/python; the walker caches what it returns).
 */
#ifndef PSAMPLE_SRC_THREADNAME_H
#define PSAMPLE_SRC_THREADNAME_H

#include <stddef.h>
#include <stdint.h>

#include "psample/target.h"

/* Bytes of a name kept, not counting the NUL; longer names are cut at
 * a character boundary. */
#define PY_NAME_MAX 64

/*
 * The object in the first local slot of the frame at frame (self, for a
 * method), tag bits cleared.  0 or a negative error.
 */
int py_frame__self(struct py_target *t, uint64_t frame, uint64_t *obj);

/*
 * The _name attribute of the object at obj (a threading.Thread) as UTF-8
 * in out (PY_NAME_MAX + 1 bytes).  0, or a negative error:
 * -PS_ECORRUPT when anything read does not check out (wrong type, absurd
 * size, no such attribute), -PS_EUNSUPPORTED when the layout cannot
 * tell.
 */
int py_thread__name(struct py_target *t, uint64_t obj, char *out);

#endif
