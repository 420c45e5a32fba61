/*
 * layout_313.c - where CPython 3.13 writes its own layout.
 *
 * Word positions in 3.13's _Py_DebugOffsets (Include/internal/
 * pycore_runtime.h), checked against the values read from 3.13.0's
 * _PyRuntime.  The frame owners are THREAD, GENERATOR, FRAME_OBJECT and
 * CSTACK (3, a shim whose f_executable is None); f_executable is a plain
 * pointer.  The int stacktop that follows instr_ptr is -1 while the
 * frame runs (_PyFrame_GetStackPointer), seen on 3.13.0 and 3.13t.
 * GIL, GC and thread-name words: offsetof(_Py_DebugOffsets) against
 * the 3.13.0 and 3.13t headers; the type-field distances from tp_flags
 * and MANAGED_DICT_OFFSET from the same headers.
 */
#include "layout.h"

const struct py_debug_desc py_debug_313 = {
	.name = "3.13",
	.minor = 0x030D0000u,
	.words = 73,
	.owner_max = 3,

	.rt_interp_head = 5,
	.is_next = 8,
	.is_threads_head = 9,
	.ts_size = 19,
	.ts_next = 21,
	.ts_interp = 22,
	.ts_current_frame = 23,
	.ts_thread_id = 24,
	.ts_native_tid = 25,
	.ts_chunk = 26,
	.fr_size = 28,
	.fr_previous = 29,
	.fr_executable = 30,
	.fr_instr_ptr = 31,
	.fr_owner = 33,
	.stacktop_after_instr = 8,
	.co_size = 34,
	.co_filename = 35,
	.co_name = 36,
	.co_qualname = 37,
	.co_linetable = 38,
	.co_firstlineno = 39,
	.co_code_adaptive = 43,
	.ob_type = 45,
	.tuple_ob_size = 52,
	.bytes_ob_size = 65,
	.bytes_ob_sval = 66,
	.str_state = 68,
	.str_length = 69,
	.str_ascii_size = 70,

	/* GIL, GC, thread names */
	.is_size = 6,
	.is_gc = 10,
	.is_ceval_gil = 14,
	.is_gil_state = 15,
	.gil_enabled = 16,
	.is_gil_locked = 17,
	.is_gil_holder = 18,
	.gc_collecting = 72,
	.fr_localsplus = 32,
	.tp_flags = 49,
	.dict_keys = 57,
	.dict_values = 58,
	.dictoffset_after_flags = 120,
	.cached_keys_after_flags = 712,
	.managed_dict = -24,
	.managed_dict_ft = -8,
	.values_data = 8,
};
