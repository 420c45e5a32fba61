/*
 * layout_38.c - CPython 3.8's layout (x86-64, GIL and debug builds).
 *
 * From CPython 3.8's Include/cpython/pystate.h, Include/frameobject.h and
 * Include/code.h, checked by self-inspection on 3.8.18 (shared
 * libpython).  Frames are heap PyFrameObjects linked by f_back; f_lasti
 * counts bytes; there is no qualname and no native thread id.
 * GIL (_PyRuntime.ceval.gil), GC (_PyRuntime.gc), f_localsplus and
 * the type/dict offsets thread names use: offsetof() against 3.8.18's
 * headers (Py_BUILD_CORE), checked on a running 3.8.18.
 */
#include "psample/linetable.h"
#include "psample/pylayout.h"
#include "layout.h"

const struct py_layout py_layout_38 = {
	.name = "3.8",
	.flags = PY_L_LASTI_BYTES | PY_L_FRAME_OBJECT | PY_L_GIL_IN_RUNTIME |
		 PY_L_GC_IN_RUNTIME,
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
	.co_bytecode = 48, /* co_code */
	.co_name = 112,
	.co_linetable = 120, /* co_lnotab */

	.str_length = 16,
	.str_state = 32,
	.str_ascii_data = 48,
	.str_compact_data = 72,
	.bytes_size = 16,
	.bytes_data = 32,

	.rt_gil = 1152, /* _PyRuntime.ceval.gil */
	.gil_holder = 8,
	.gil_locked = 16,
	.gc_collecting = 544, /* _PyRuntime.gc.collecting */

	.fr_localsplus = 360,
	.tp_flags = 168,
	.tp_basicsize = 32,
	.tp_dictoffset = 288,
	.ht_cached_keys = 872,
	.dict_keys = 32,
	.dict_values = 40,
};
