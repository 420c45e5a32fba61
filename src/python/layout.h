/*
 * layout.h - the per-version layout entries (private to src/python).
 * Adding a version: one layout_3XX.c file and one line in layout.c.
 */
#ifndef PSAMPLE_SRC_LAYOUT_H
#define PSAMPLE_SRC_LAYOUT_H

#include "psample/pylayout.h"

extern const struct py_layout py_layout_311;

#endif
