/*
 * test_layout.c - the version table and the reading of _Py_DebugOffsets.
 *
 * The debug-offsets reader is fed the values CPython 3.13.0 itself wrote
 * (read from a live 3.13.0's _PyRuntime, see cpython-internals.md §11)
 * and must derive the same layout psample's own table has for the fields
 * that did not move since 3.12; absurd values must be refused rather
 * than trusted.  The end-to-end tests run the result on real 3.13+.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "psample/error.h"
#include "psample/pylayout.h"
#include "layout.h"

static void test_table(void **state)
{
	static const struct {
		uint32_t version;
		const char *name;
	} known[] = {
		{0x030812F0u, "3.8"},  {0x030912F0u, "3.9"},
		{0x030A0DF0u, "3.10"}, {0x030B07F0u, "3.11"},
		{0x030B0000u, "3.11"}, {0x030C01F0u, "3.12"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		const struct py_layout *l = py_layout__find(known[i].version);
		assert_non_null(l);
		assert_string_equal(l->name, known[i].name);
	}
	/* 3.7 is too old; 3.13+ describe themselves. */
	assert_null(py_layout__find(0x030710F0u));
	assert_null(py_layout__find(0x030D00F0u));
	assert_ptr_equal(py_debug_desc__find(0x030D00F0u), &py_debug_313);
	assert_ptr_equal(py_debug_desc__find(0x030E0AF0u), &py_debug_314);
	assert_ptr_equal(py_debug_desc__find(0x030F02F0u), &py_debug_315);
	assert_null(py_debug_desc__find(0x030C01F0u));
	assert_null(py_debug_desc__find(0x031000A1u)); /* 3.16.0a1 */
	/* The run mark: 3.11-3.13 keep -1 in stacktop while a frame runs;
	 * 3.8-3.10 have no data stack, 3.14+ no such value. */
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		const struct py_layout *l = py_layout__find(known[i].version);
		bool chunks = (l->flags & PY_L_CHUNKS) != 0;
		assert_int_equal((l->flags & PY_L_RUN_MARK) != 0, chunks);
		if (chunks) {
			assert_int_equal(l->fr_stacktop, 64);
			assert_true(l->fr_stacktop + 4 <= l->fr_size);
		}
	}
	assert_int_equal(py_debug_313.stacktop_after_instr, 8);
	assert_int_equal(py_debug_314.stacktop_after_instr, 0);
	assert_int_equal(py_debug_315.stacktop_after_instr, 0);
}

/* _Py_DebugOffsets as 3.13.0 (GIL build) wrote it. */
static void fill_313(uint64_t *w)
{
	memset(w, 0, 73 * 8);
	memcpy(w, "xdebugpy", 8);
	w[1] = 0x030D00F0u;
	w[3] = 283320, w[4] = 608, w[5] = 632; /* runtime */
	w[6] = 7800, w[7] = 7272, w[8] = 7264, w[9] = 7344; /* interp */
	w[19] = 304, w[20] = 0, w[21] = 8, w[22] = 16, w[23] = 72;
	w[24] = 152, w[25] = 160, w[26] = 232, w[27] = 32; /* thread */
	w[28] = 80, w[29] = 8, w[30] = 0, w[31] = 56, w[32] = 72;
	w[33] = 70; /* frame */
	w[34] = 208, w[35] = 112, w[36] = 120, w[37] = 128, w[38] = 136;
	w[39] = 68, w[43] = 200; /* code */
	w[44] = 16, w[45] = 8; /* PyObject */
	w[50] = 24, w[51] = 24, w[52] = 16; /* tuple */
	w[64] = 33, w[65] = 16, w[66] = 32; /* bytes */
	w[67] = 64, w[68] = 32, w[69] = 16, w[70] = 40; /* unicode */
}

static void test_313(void **state)
{
	uint64_t w[73];
	struct py_layout l;
	const struct py_layout *t312 = py_layout__find(0x030C01F0u);

	(void)state;
	fill_313(w);
	assert_int_equal(py_layout__from_debug(&py_debug_313, (uint8_t *)w,
					       sizeof(w), &l),
			 0);
	assert_string_equal(l.name, "3.13");
	assert_int_equal(l.rt_interp_head, 632);
	assert_int_equal(l.is_next, 7264);
	assert_int_equal(l.is_threads_head, 7344);
	assert_int_equal(l.ts_frame, 72); /* no _PyCFrame any more */
	assert_false(l.flags & PY_L_CFRAME);
	assert_int_equal(l.ts_chunk, 232);
	assert_int_equal(l.ts_top, 240);
	assert_true(l.ts_size >= 248 && l.ts_size <= PY_MAX_READ);
	assert_int_equal(l.fr_code, 0);
	assert_int_equal(l.fr_back, 8);
	assert_int_equal(l.fr_pos, 56);
	assert_int_equal(l.fr_owner, 70);
	assert_true(l.fr_size >= 71);
	assert_int_equal(l.owner_max, 3);
	assert_false(l.flags & (PY_L_TAGGED_CODE | PY_L_TLBC));
	/* Fields that did not move since 3.12 come out as 3.12's table has
	 * them. */
	assert_int_equal(l.co_firstlineno, t312->co_firstlineno);
	assert_int_equal(l.co_framesize, t312->co_framesize);
	assert_int_equal(l.co_filename, t312->co_filename);
	assert_int_equal(l.co_qualname, t312->co_qualname);
	assert_int_equal(l.co_linetable, t312->co_linetable);
	assert_int_equal(l.ob_type, t312->ob_type);
	assert_int_equal(l.ob_size, t312->ob_size);
	assert_int_equal(l.str_ascii_data, t312->str_ascii_data);
	assert_int_equal(l.str_compact_data, t312->str_compact_data);
	assert_int_equal(l.bytes_data, t312->bytes_data);
	assert_int_equal(l.co_code, 200);
	assert_true(l.co_size >= 144 && l.co_size <= PY_MAX_READ);
	/* stacktop sits where 3.12 has it, and is read with the frame. */
	assert_true(l.flags & PY_L_RUN_MARK);
	assert_int_equal(l.fr_stacktop, t312->fr_stacktop);
	assert_true(l.fr_size >= l.fr_stacktop + 4);
}

static void test_absurd(void **state)
{
	uint64_t w[73];
	struct py_layout l;

	(void)state;
	fill_313(w);
	/* Too short to hold the struct. */
	assert_int_equal(
		py_layout__from_debug(&py_debug_313, (uint8_t *)w, 72 * 8, &l),
		-PS_EBADLAYOUT);
	/* owner outside the frame. */
	w[33] = 80;
	assert_int_equal(py_layout__from_debug(&py_debug_313, (uint8_t *)w,
					       sizeof(w), &l),
			 -PS_EBADLAYOUT);
	fill_313(w);
	/* A thread-state field beyond what psample reads at once. */
	w[19] = 100000, w[26] = 90000;
	assert_int_equal(py_layout__from_debug(&py_debug_313, (uint8_t *)w,
					       sizeof(w), &l),
			 -PS_EBADLAYOUT);
	fill_313(w);
	/* Garbage: all bits set. */
	w[35] = ~0ull;
	assert_int_equal(py_layout__from_debug(&py_debug_313, (uint8_t *)w,
					       sizeof(w), &l),
			 -PS_EBADLAYOUT);
}

/*
 * GIL, GC and the fields thread names need, as 3.13.0 wrote them (GIL
 * build; offsetof() against its headers): optional, so absurd values
 * switch the feature off instead of refusing the layout.
 */
static void test_313_state(void **state)
{
	uint64_t w[73];
	struct py_layout l;

	(void)state;
	fill_313(w);
	w[10] = 7400; /* gc */
	w[14] = 16, w[15] = 7752, w[17] = 7768, w[18] = 7760; /* GIL */
	w[49] = 168; /* tp_flags */
	w[57] = 32, w[58] = 40; /* ma_keys, ma_values */
	w[72] = 200; /* gc.collecting */
	assert_int_equal(py_layout__from_debug(&py_debug_313, (uint8_t *)w,
					       sizeof(w), &l),
			 0);
	assert_false(l.flags & (PY_L_GIL_IN_RUNTIME | PY_L_FREE_THREADED |
				PY_L_GIL_SWITCH));
	assert_int_equal(l.is_gil, 16);
	assert_int_equal(l.gil_holder, 8);
	assert_int_equal(l.gil_locked, 16);
	assert_int_equal(l.gc_collecting, 7600);
	assert_int_equal(l.fr_localsplus, 72);
	assert_int_equal(l.tp_flags, 168);
	assert_int_equal(l.tp_basicsize, 32);
	assert_int_equal(l.tp_dictoffset, 288);
	assert_int_equal(l.ht_cached_keys, 880);
	assert_int_equal(l.dict_keys, 32);
	assert_int_equal(l.dict_values, 40);
	assert_int_equal(l.managed_dict, -24);
	assert_int_equal(l.values_data, 8);
	assert_true(l.flags & PY_L_INLINE_VALUES);

	/* The lock word outside the interpreter: no GIL, still a layout. */
	w[17] = 9000;
	assert_int_equal(py_layout__from_debug(&py_debug_313, (uint8_t *)w,
					       sizeof(w), &l),
			 0);
	assert_int_equal(l.is_gil, 0);
	assert_int_equal(l.gc_collecting, 7600);
	/* The gc state beyond it: no gc flag. */
	w[72] = ~0ull;
	assert_int_equal(py_layout__from_debug(&py_debug_313, (uint8_t *)w,
					       sizeof(w), &l),
			 0);
	assert_int_equal(l.gc_collecting, 0);
	/* The locals outside the frame: no thread names. */
	w[32] = 4000;
	assert_int_equal(py_layout__from_debug(&py_debug_313, (uint8_t *)w,
					       sizeof(w), &l),
			 0);
	assert_int_equal(l.fr_localsplus, 0);
}

/* 3.14: the same values moved to 3.14's word positions. */
static void fill_314(uint64_t *w, int free_threaded)
{
	uint32_t obj = free_threaded ? 16 : 0; /* FT objects: +16 */

	memset(w, 0, 95 * 8);
	memcpy(w, "xdebugpy", 8);
	w[1] = 0x030E0AF0u;
	w[2] = (uint64_t)free_threaded;
	w[3] = 300000, w[5] = 632;
	w[6] = 8000, w[8] = 7264, w[9] = 7344;
	w[22] = 320, w[24] = 8, w[25] = 16, w[26] = 72, w[27] = 152;
	w[28] = 160, w[29] = 232;
	w[31] = 88, w[32] = 8, w[33] = 0, w[34] = 56, w[36] = 78, w[38] = 72;
	w[39] = 240, w[40] = 112 + obj, w[41] = 120 + obj, w[42] = 128 + obj;
	w[43] = 136 + obj, w[44] = 68 + obj, w[48] = 208 + obj;
	w[49] = free_threaded ? 232 : 0;
	w[50] = 16 + obj, w[51] = 8 + obj; /* ob_type @24 in FT */
	w[58] = 16 + obj;
	w[75] = 16 + obj, w[76] = 32 + obj;
	w[78] = 32 + obj, w[79] = 16 + obj, w[80] = 40 + obj;
}

static void test_314(void **state)
{
	uint64_t w[95];
	struct py_layout l;

	(void)state;
	fill_314(w, 0);
	assert_int_equal(py_layout__from_debug(&py_debug_314, (uint8_t *)w,
					       sizeof(w), &l),
			 0);
	assert_true(l.flags & PY_L_TAGGED_CODE);
	assert_false(l.flags & PY_L_TLBC);
	assert_int_equal(l.owner_max, 4);
	assert_int_equal(l.fr_owner, 78);

	fill_314(w, 1);
	assert_int_equal(py_layout__from_debug(&py_debug_314, (uint8_t *)w,
					       sizeof(w), &l),
			 0);
	assert_true(l.flags & PY_L_TLBC);
	assert_int_equal(l.ob_type, 24);
	assert_int_equal(l.ob_size, 32);
	assert_int_equal(l.co_framesize, 84 + 8);
	assert_int_equal(l.fr_tlbc, 72);
	assert_int_equal(l.co_tlbc, 232);
	assert_true(l.co_size >= 240);
	assert_int_equal(l.str_compact_data,
			 40 + 16 + 16); /* ascii + utf8 fields */
	assert_int_equal(l.str_kind_shift, 8); /* interned is a byte */
	assert_true(l.flags & PY_L_FREE_THREADED);

	/* Free-threaded 3.14.7, offsetof() against its headers: the type
	 * fields follow a 16 bytes longer header, the managed dict sits
	 * right before the object. */
	w[11] = 7400, w[15] = 16, w[16] = 7808, w[18] = 7832, w[19] = 7824;
	w[35] = 80, w[55] = 184, w[67] = 48, w[68] = 56, w[82] = 200;
	w[31] = 88;
	assert_int_equal(py_layout__from_debug(&py_debug_314, (uint8_t *)w,
					       sizeof(w), &l),
			 0);
	assert_int_equal(l.fr_localsplus, 80);
	assert_int_equal(l.tp_basicsize, 48);
	assert_int_equal(l.tp_dictoffset, 304);
	assert_int_equal(l.ht_cached_keys, 896);
	assert_int_equal(l.managed_dict, -8);
	assert_int_equal(l.gil_holder, 16);
	assert_int_equal(l.gil_locked, 24);
	assert_int_equal(l.gc_collecting, 7600);
	/* Its GIL can be switched on: .enabled is the struct's first int. */
	assert_true(l.flags & PY_L_GIL_SWITCH);
	assert_int_equal(l.gil_enabled, 0);
	/* .enabled where the holder is: not believed, gil mode refused. */
	w[17] = 16;
	assert_int_equal(py_layout__from_debug(&py_debug_314, (uint8_t *)w,
					       sizeof(w), &l),
			 0);
	assert_false(l.flags & PY_L_GIL_SWITCH);
	assert_int_equal(l.gil_locked, 24);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),  cmocka_unit_test(test_313),
		cmocka_unit_test(test_absurd), cmocka_unit_test(test_313_state),
		cmocka_unit_test(test_314),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
