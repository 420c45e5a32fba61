/*
 * layout_314.c - where CPython 3.14 writes its own layout.
 *
 * Word positions in 3.14's _Py_DebugOffsets (Include/internal/
 * pycore_debug_offsets.h).  New since 3.13: thread-local bytecode
 * (tlbc_index, co_tlbc; free-threaded builds only), a tagged
 * f_executable (_PyStackRef, low bit), owners INTERPRETER (3) and
 * CSTACK (4), both shims, and in free-threaded builds a whole byte for the
 * unicode state's interned field.
 * GIL, GC and thread-name words: offsetof(_Py_DebugOffsets) against
 * the 3.14.10 and 3.14.7t headers; the type-field distances from tp_flags
 * and MANAGED_DICT_OFFSET from the same headers.
 */
#include "layout.h"

const struct py_debug_desc py_debug_314 = {
	.name = "3.14",
	.minor = 0x030E0000u,
	.words = 95,
	.owner_max = 4,
	.flags = PY_L_TAGGED_CODE,
	.ft_interned_byte = 1,

	.rt_interp_head = 5,
	.is_next = 8,
	.is_threads_head = 9,
	.ts_size = 22,
	.ts_next = 24,
	.ts_interp = 25,
	.ts_current_frame = 26,
	.ts_thread_id = 27,
	.ts_native_tid = 28,
	.ts_chunk = 29,
	.fr_size = 31,
	.fr_previous = 32,
	.fr_executable = 33,
	.fr_instr_ptr = 34,
	.fr_owner = 36,
	.fr_tlbc_index = 38,
	.co_size = 39,
	.co_filename = 40,
	.co_name = 41,
	.co_qualname = 42,
	.co_linetable = 43,
	.co_firstlineno = 44,
	.co_code_adaptive = 48,
	.co_tlbc = 49,
	.ob_type = 51,
	.tuple_ob_size = 58,
	.bytes_ob_size = 75,
	.bytes_ob_sval = 76,
	.str_state = 78,
	.str_length = 79,
	.str_ascii_size = 80,

	/* GIL, GC, thread names */
	.is_size = 6,
	.is_gc = 11,
	.is_ceval_gil = 15,
	.is_gil_state = 16,
	.gil_enabled = 17,
	.is_gil_locked = 18,
	.is_gil_holder = 19,
	.gc_collecting = 82,
	.fr_localsplus = 35,
	.tp_flags = 55,
	.dict_keys = 67,
	.dict_values = 68,
	.dictoffset_after_flags = 120,
	.cached_keys_after_flags = 712,
	.managed_dict = -24,
	.managed_dict_ft = -8,
	.values_data = 8,
};
