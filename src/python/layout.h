/*
 * layout.h - the per-version layout entries (private to src/python).
 *
 * 3.8-3.12: a fixed struct py_layout per minor version (layout_3XX.c).
 * 3.13+: a struct py_debug_desc per minor version, saying where in that
 * minor's _Py_DebugOffsets each offset psample needs is written; the
 * layout itself is read from the target (debug_offsets.c), so a patch
 * release that moves a field needs no change.
 * Adding a version: one layout_3XX.c file and one line in layout.c.
 */
#ifndef PSAMPLE_SRC_LAYOUT_H
#define PSAMPLE_SRC_LAYOUT_H

#include "psample/pylayout.h"

extern const struct py_layout py_layout_38;
extern const struct py_layout py_layout_39;
extern const struct py_layout py_layout_310;
extern const struct py_layout py_layout_311;
extern const struct py_layout py_layout_312;

/*
 * Positions in _Py_DebugOffsets, counted in 8-byte words from its start
 * (every member is a uint64_t after the 8-byte cookie).  0 = not in this
 * version.  Besides these, a minor version has facts the table does not
 * carry: the frame-owner values and whether the code slot is tagged.
 */
struct py_debug_desc {
	const char *name; /* "3.13" */
	uint32_t minor; /* 0x030D0000 */
	uint32_t words; /* sizeof(_Py_DebugOffsets) / 8 */
	uint32_t owner_max; /* the highest enum _frameowner value */
	uint32_t flags; /* PY_L_TAGGED_CODE where f_executable is tagged */
	/* Free-threaded builds make the unicode state's interned field a
	 * whole byte (3.14+): kind and compact start at bit 8, not 2. */
	uint32_t ft_interned_byte;

	uint16_t rt_interp_head;
	uint16_t is_next, is_threads_head;
	uint16_t ts_size, ts_next, ts_interp, ts_current_frame, ts_thread_id,
		ts_native_tid, ts_chunk;
	uint16_t fr_size, fr_previous, fr_executable, fr_instr_ptr, fr_owner,
		fr_tlbc_index;
	/* Bytes from instr_ptr to the frame's int stacktop, where the
	 * version keeps -1 in it while the frame runs (PY_L_RUN_MARK); 0
	 * where it does not (3.14+ leaves the pointer that replaced it
	 * set in release builds). */
	uint16_t stacktop_after_instr;
	uint16_t co_size, co_filename, co_name, co_qualname, co_linetable,
		co_firstlineno, co_code_adaptive, co_tlbc;
	uint16_t ob_type;
	uint16_t tuple_ob_size; /* PyVarObject.ob_size, as in a tuple */
	uint16_t bytes_ob_size, bytes_ob_sval;
	uint16_t str_state, str_length, str_ascii_size, str_compact_size;

	/* GIL and GC: the interpreter's ceval.gil pointer, its own
	 * _gil_runtime_state and that struct's fields (as offsets in the
	 * interpreter; .enabled, free-threaded builds only, as an offset
	 * in the struct), and the interpreter's gc state. */
	uint16_t is_size, is_gc, is_ceval_gil, is_gil_state, is_gil_locked,
		is_gil_holder, gil_enabled, gc_collecting;
	/* Thread names: the frame's locals, the type and dict fields. */
	uint16_t fr_localsplus, tp_flags, dict_keys, dict_values;
	uint16_t tp_basicsize, tp_dictoffset, ht_cached_keys; /* 3.15+ */
	/* Where the version does not give them: bytes from tp_flags to
	 * tp_dictoffset and to PyHeapTypeObject.ht_cached_keys (the same
	 * in GIL and free-threaded builds: only the header before
	 * tp_flags grows). */
	uint16_t dictoffset_after_flags, cached_keys_after_flags;
	/* MANAGED_DICT_OFFSET in GIL and free-threaded builds, and where
	 * values[0] sits in a PyDictValues. */
	int16_t managed_dict, managed_dict_ft;
	uint16_t values_data;
};

extern const struct py_debug_desc py_debug_313;
extern const struct py_debug_desc py_debug_314;
extern const struct py_debug_desc py_debug_315;

/* The descriptor for a PY_VERSION_HEX's minor version, or NULL. */
const struct py_debug_desc *py_debug_desc__find(uint32_t version);

/*
 * Fill *out from the _Py_DebugOffsets in buf (len bytes, at least
 * d->words * 8), as described by d; the header's free_threaded flag
 * decides whether per-thread bytecode and the byte-wide interned field
 * apply.
 * -PS_EBADLAYOUT when an offset is absurd (outside its struct, or beyond
 * what psample reads at once).
 */
int py_layout__from_debug(const struct py_debug_desc *d, const uint8_t *buf,
			  size_t len, struct py_layout *out);

#endif
