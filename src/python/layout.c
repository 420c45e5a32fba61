/*
 * layout.c - which layout describes which CPython version.
 *
 * Layouts are chosen by major.minor only: fields psample reads have not
 * moved within a minor release (checked against DWARF of every patch
 * release by other profilers), and a layout is validated against the
 * live target before use anyway (target.c).
 */
#include <stddef.h>

#include "psample/pylayout.h"
#include "layout.h"

static const struct {
	uint32_t minor; /* 0x030B0000 style: major and minor only */
	const struct py_layout *layout;
} py_layouts[] = {
	{0x030B0000u, &py_layout_311},
};

const struct py_layout *py_layout__find(uint32_t version)
{
	uint32_t minor = version & 0xffff0000u;

	for (size_t i = 0; i < sizeof(py_layouts) / sizeof(py_layouts[0]); i++)
		if (py_layouts[i].minor == minor)
			return py_layouts[i].layout;
	return NULL;
}
