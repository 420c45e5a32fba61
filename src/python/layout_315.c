/*
 * layout_315.c - where CPython 3.15 writes its own layout.
 *
 * Word positions in 3.15's _Py_DebugOffsets (Include/internal/
 * pycore_debug_offsets.h of the 3.15 releases; the betas differ, so
 * target.c refuses pre-releases).  The thread state gained base_frame and
 * the last-profiled-frame fields before thread_id, the owners are THREAD,
 * GENERATOR, FRAME_OBJECT and INTERPRETER (CSTACK is gone), and
 * f_executable carries two tag bits.
 * GIL, GC and thread-name words: offsetof(_Py_DebugOffsets) against
 * the 3.15.2 headers; the type-field distances from tp_flags
 * and MANAGED_DICT_OFFSET from the same headers.
 */
#include "layout.h"

const struct py_debug_desc py_debug_315 = {
	.name = "3.15",
	.minor = 0x030F0000u,
	.words = 111,
	.owner_max = 3,
	.flags = PY_L_TAGGED_CODE,
	.ft_interned_byte = 1,

	.rt_interp_head = 5,
	.is_next = 8,
	.is_threads_head = 9,
	.ts_size = 22,
	.ts_next = 24,
	.ts_interp = 25,
	.ts_current_frame = 26,
	.ts_thread_id = 30,
	.ts_native_tid = 31,
	.ts_chunk = 32,
	.fr_size = 39,
	.fr_previous = 40,
	.fr_executable = 41,
	.fr_instr_ptr = 42,
	.fr_owner = 44,
	.fr_tlbc_index = 46,
	.co_size = 47,
	.co_filename = 48,
	.co_name = 49,
	.co_qualname = 50,
	.co_linetable = 51,
	.co_firstlineno = 52,
	.co_code_adaptive = 56,
	.co_tlbc = 57,
	.ob_type = 59,
	.tuple_ob_size = 70,
	.bytes_ob_size = 87,
	.bytes_ob_sval = 88,
	.str_state = 90,
	.str_length = 91,
	.str_ascii_size = 92,
	.str_compact_size = 93,

	/* GIL, GC, thread names */
	.is_size = 6,
	.is_gc = 11,
	.is_ceval_gil = 15,
	.is_gil_state = 16,
	.gil_enabled = 17,
	.is_gil_locked = 18,
	.is_gil_holder = 19,
	.gc_collecting = 95,
	.fr_localsplus = 43,
	.tp_flags = 63,
	.dict_keys = 79,
	.dict_values = 80,
	.tp_basicsize = 64,
	.tp_dictoffset = 65,
	.ht_cached_keys = 67,
	.managed_dict = -24,
	.managed_dict_ft = -8,
	.values_data = 8,
};
