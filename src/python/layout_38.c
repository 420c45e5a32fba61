/*
 * layout_38.c - CPython 3.8's layout (x86-64, GIL and debug builds).
 *
 * From CPython 3.8's Include/cpython/pystate.h, Include/frameobject.h and
 * Include/code.h, checked by self-inspection on 3.8.18 (shared
 * libpython).  Frames are heap PyFrameObjects linked by f_back; f_lasti
 * counts bytes; there is no qualname and no native thread id.
 */
#include "psample/linetable.h"
#include "psample/pylayout.h"
#include "layout.h"

const struct py_layout py_layout_38 = {
	.name = "3.8",
	.flags = PY_L_LASTI_BYTES | PY_L_FRAME_OBJECT,
	.linetable = PY_LINETABLE_LNOTAB,

	.rt_interp_head = 32,

	.is_next = 0,
	.is_threads_head = 8, /* tstate_head */

	.ts_size = 184,
	.ts_next = 8,
	.ts_interp = 16,
	.ts_frame = 24,
	.ts_thread_id = 176,

	.fr_size = 112,
	.fr_back = 24,
	.fr_code = 32,
	.fr_pos = 104, /* f_lasti, bytes */

	.ob_type = 8,

	.co_size = 128,
	.co_firstlineno = 40,
	.co_filename = 104,
	.co_name = 112,
	.co_linetable = 120, /* co_lnotab */

	.str_length = 16,
	.str_state = 32,
	.str_ascii_data = 48,
	.str_compact_data = 72,
	.bytes_size = 16,
	.bytes_data = 32,
};
