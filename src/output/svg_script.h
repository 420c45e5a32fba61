/*
 * svg_script.h - the flame graph's script (svg_script.c), for svg.c.
 */
#ifndef PSAMPLE_SRC_OUTPUT_SVG_SCRIPT_H
#define PSAMPLE_SRC_OUTPUT_SVG_SCRIPT_H

extern const char svg_script[];

#endif
