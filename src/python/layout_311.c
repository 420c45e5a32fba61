/*
 * layout_311.c - CPython 3.11's layout (x86-64, GIL and debug builds).
 *
 * From CPython 3.11's Include/cpython/pystate.h, Include/internal/
 * pycore_frame.h and Include/cpython/code.h, checked by self-inspection
 * on 3.11.2 (Debian, static and debug) and 3.11.7 (shared libpython).
 * Debug builds (Py_DEBUG without Py_TRACE_REFS) share this layout.
 * GIL (_PyRuntime.ceval.gil), GC (interp->gc), localsplus and the
 * type/dict offsets thread names use: offsetof() against 3.11.7's
 * headers (Py_BUILD_CORE), checked on 3.11.7, 3.11.2 and 3.11.2-dbg.
 */
#include "psample/linetable.h"
#include "psample/pylayout.h"
#include "layout.h"

const struct py_layout py_layout_311 = {
	.name = "3.11",
	.flags = PY_L_CFRAME | PY_L_INSTR_PTR | PY_L_NATIVE_TID |
		 PY_L_QUALNAME | PY_L_CHUNKS | PY_L_OWNER |
		 PY_L_GIL_IN_RUNTIME | PY_L_DICT_LOG2 | PY_L_MANAGED_DICT |
		 PY_L_RUN_MARK,
	.linetable = PY_LINETABLE_LOCATIONS,

	.rt_interp_head = 40,

	.is_next = 0,
	.is_threads_head = 16,

	.ts_size = 320,
	.ts_next = 8,
	.ts_interp = 16,
	.ts_frame = 56, /* cframe */
	.cf_current = 8, /* after use_tracing */
	.ts_thread_id = 152,
	.ts_native_tid = 160,
	.ts_chunk = 296,
	.ts_top = 304,

	.ck_prev = 0,
	.ck_size = 8,
	.ck_top = 16,
	.ck_data = 24,

	.fr_size = 72,
	.fr_code = 32,
	.fr_back = 48,
	.fr_pos = 56, /* prev_instr */
	.fr_stacktop = 64,
	.fr_is_entry = 68, /* the first frame of an eval loop */
	.fr_owner = 69,
	.owner_skip = 3, /* 3.11 has no shim frames */
	.owner_max = 2, /* THREAD, GENERATOR, FRAME_OBJECT */

	.ob_type = 8,
	.ob_size = 16, /* code units of co_code_adaptive */

	.co_size = 144,
	.co_firstlineno = 72,
	.co_filename = 112,
	.co_name = 120,
	.co_qualname = 128,
	.co_linetable = 136,
	.co_code = 184,
	/* No co_framesize before 3.12: _PyFrame_NumSlotsForCodeObject is
	 * nlocalsplus + stacksize + FRAME_SPECIALS_SIZE, which is
	 * (sizeof(_PyInterpreterFrame) - 1) / 8 = (80 - 1) / 8 = 9 words. */
	.co_nlocalsplus = 76,
	.co_stacksize = 68,
	.fr_specials = 9,

	.str_length = 16,
	.str_state = 32,
	.str_ascii_data = 48,
	.str_compact_data = 72,
	.bytes_size = 16,
	.bytes_data = 32,

	.rt_gil = 360, /* _PyRuntime.ceval.gil */
	.gil_holder = 8,
	.gil_locked = 16,
	.gc_collecting = 848, /* interp->gc.collecting */

	.fr_localsplus = 72,
	.tp_flags = 168,
	.tp_basicsize = 32,
	.tp_dictoffset = 288,
	.ht_cached_keys = 872,
	.dict_keys = 32,
	.dict_values = 40,
	.managed_dict = -24, /* dict; values at -32 */
	.managed_values = -32,
};
