/*
 * layout_312.c - CPython 3.12's layout (x86-64, GIL and debug builds).
 *
 * From CPython 3.12's Include/cpython/pystate.h, Include/internal/
 * pycore_frame.h and Include/cpython/code.h, checked by self-inspection on
 * 3.12.1 (shared libpython).  Like 3.11, with the fields moved, a real
 * co_framesize, shim frames (owner CSTACK) at the base of each C-level
 * activation, and compact strings without wstr.
 * GIL (interp->ceval.gil, a pointer), GC (interp->gc), localsplus and
 * the type/dict offsets thread names use: offsetof() against 3.12.1's
 * headers (Py_BUILD_CORE), checked on a running 3.12.1.
 */
#include "psample/linetable.h"
#include "psample/pylayout.h"
#include "layout.h"

const struct py_layout py_layout_312 = {
	.name = "3.12",
	.flags = PY_L_CFRAME | PY_L_INSTR_PTR | PY_L_NATIVE_TID |
		 PY_L_QUALNAME | PY_L_CHUNKS | PY_L_OWNER | PY_L_STR_NO_WSTR |
		 PY_L_DICT_LOG2 | PY_L_MANAGED_DICT | PY_L_DICT_OR_VALUES |
		 PY_L_RUN_MARK,
	.linetable = PY_LINETABLE_LOCATIONS,

	.rt_interp_head = 40,

	.is_next = 0,
	.is_threads_head = 72,

	.ts_size = 248,
	.ts_next = 8,
	.ts_interp = 16,
	.ts_frame = 56, /* cframe */
	.cf_current = 0,
	.ts_thread_id = 136,
	.ts_native_tid = 144,
	.ts_chunk = 232,
	.ts_top = 240,

	.ck_prev = 0,
	.ck_size = 8,
	.ck_top = 16,
	.ck_data = 24,

	.fr_size = 72,
	.fr_code = 0,
	.fr_back = 8,
	.fr_pos = 56, /* prev_instr */
	.fr_stacktop = 64,
	.fr_owner = 70,
	.owner_skip = 3, /* FRAME_OWNED_BY_CSTACK */
	.owner_max = 3,

	.ob_type = 8,
	.ob_size = 16, /* code units of co_code_adaptive */

	.co_size = 144,
	.co_firstlineno = 68,
	.co_nlocalsplus = 72,
	.co_framesize = 76,
	.co_filename = 112,
	.co_name = 120,
	.co_qualname = 128,
	.co_linetable = 136,
	.co_code = 192,

	.str_length = 16,
	.str_state = 32,
	.str_ascii_data = 40,
	.str_compact_data = 56,
	.bytes_size = 16,
	.bytes_data = 32,

	.is_gil = 384, /* interp->ceval.gil */
	.gil_holder = 8,
	.gil_locked = 16,
	.gc_collecting = 312, /* interp->gc.collecting */

	.fr_localsplus = 72,
	.tp_flags = 168,
	.tp_basicsize = 32,
	.tp_dictoffset = 288,
	.ht_cached_keys = 880,
	.dict_keys = 32,
	.dict_values = 40,
	.managed_dict = -24, /* PyDictOrValues */
};
