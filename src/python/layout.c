/*
 * layout.c - which layout describes which CPython version.
 *
 * Layouts are chosen by major.minor only.  Up to 3.12 the fields psample
 * reads have not moved within a minor release (checked against DWARF of
 * every patch release by other profilers), and a layout is validated
 * against the live target before use anyway (target.c).  From 3.13 the
 * interpreter describes itself (_Py_DebugOffsets), and the table only
 * says how to read that description.
 */
#include <stddef.h>

#include "psample/pylayout.h"
#include "layout.h"

static const struct {
	uint32_t minor; /* 0x030B0000 style: major and minor only */
	const struct py_layout *layout;
} py_layouts[] = {
	{0x03080000u, &py_layout_38},  {0x03090000u, &py_layout_39},
	{0x030A0000u, &py_layout_310}, {0x030B0000u, &py_layout_311},
	{0x030C0000u, &py_layout_312},
};

static const struct py_debug_desc *py_debug_descs[] = {
	&py_debug_313,
	&py_debug_314,
	&py_debug_315,
};

const struct py_layout *py_layout__find(uint32_t version)
{
	uint32_t minor = version & 0xffff0000u;

	for (size_t i = 0; i < sizeof(py_layouts) / sizeof(py_layouts[0]); i++)
		if (py_layouts[i].minor == minor)
			return py_layouts[i].layout;
	return NULL;
}

const struct py_debug_desc *py_debug_desc__find(uint32_t version)
{
	uint32_t minor = version & 0xffff0000u;

	for (size_t i = 0;
	     i < sizeof(py_debug_descs) / sizeof(py_debug_descs[0]); i++)
		if (py_debug_descs[i]->minor == minor)
			return py_debug_descs[i];
	return NULL;
}
