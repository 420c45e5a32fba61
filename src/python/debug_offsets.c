/*
 * debug_offsets.c - a layout from the interpreter's own description.
 *
 * CPython 3.13+ starts _PyRuntime with _Py_DebugOffsets: the offsetof()
 * of every field a debugger needs, computed when that very binary was
 * built.  Reading them makes psample right for every patch release and
 * for builds whose object header differs (free-threaded, debug), with
 * no per-build table.  What the struct does not say (the frame-owner
 * values, tag bits, the data-stack chunk header, where datastack_top and
 * co_framesize sit next to fields it does give) comes from the minor
 * version's descriptor and the headers of that minor version.
 */
#include <stddef.h>

#include "psample/error.h"
#include "psample/linetable.h"
#include "psample/pylayout.h"
#include "layout.h"

/* Struct sizes beyond this are not a real interpreter's. */
#define DBG_STRUCT_MAX (1u << 20)

struct dbg {
	const uint8_t *buf;
	size_t len;
	int bad;
};

static uint32_t dbg__word(struct dbg *g, uint16_t word)
{
	uint64_t v;

	if (!word || (size_t)word * 8 + 8 > g->len) {
		g->bad = 1;
		return 0;
	}
	v = py__u64(g->buf, (uint32_t)word * 8);
	if (v >= DBG_STRUCT_MAX) {
		g->bad = 1;
		return 0;
	}
	return (uint32_t)v;
}

/* An offset inside a struct of the given size, leaving room for width. */
static uint32_t dbg__field(struct dbg *g, uint16_t word, uint32_t size,
			   uint32_t width)
{
	uint32_t off = dbg__word(g, word);

	if (off + width > size)
		g->bad = 1;
	return off;
}

static uint32_t max4(uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
	uint32_t m = a > b ? a : b;
	m = m > c ? m : c;
	return m > d ? m : d;
}

/*
 * GIL and GC state: optional.  A value that does not fit its struct
 * leaves the feature unknown (0) rather than refusing the layout.
 */
static void debug__gil_gc(const struct py_debug_desc *d, const struct dbg *in,
			  struct py_layout *l)
{
	struct dbg g = {.buf = in->buf, .len = in->len};
	uint32_t is, ptr, gil, locked, holder, gc, coll;

	if (!d->is_size)
		return;
	is = dbg__word(&g, d->is_size);
	ptr = dbg__field(&g, d->is_ceval_gil, is, 8);
	gil = dbg__field(&g, d->is_gil_state, is, 24);
	locked = dbg__field(&g, d->is_gil_locked, is, 4);
	holder = dbg__field(&g, d->is_gil_holder, is, 8);
	/* The holder and the lock word are fields of the _gil_runtime_state
	 * that ceval.gil points to: keep their place within it. */
	if (!g.bad && locked >= gil && holder >= gil && locked - gil < 256 &&
	    holder - gil < 256) {
		l->is_gil = ptr;
		l->gil_locked = locked - gil;
		l->gil_holder = holder - gil;
		/* Free-threaded: the GIL may be switched on at run time.
		 * .enabled is the struct's first field, before both. */
		uint32_t en =
			d->gil_enabled ? dbg__word(&g, d->gil_enabled) : 256;
		if ((l->flags & PY_L_FREE_THREADED) && !g.bad &&
		    en + 4 <= l->gil_locked && en + 4 <= l->gil_holder) {
			l->gil_enabled = en;
			l->flags |= PY_L_GIL_SWITCH;
		}
	}
	g.bad = 0;
	gc = dbg__field(&g, d->is_gc, is, 8);
	coll = dbg__word(&g, d->gc_collecting);
	if (!g.bad && gc + coll + 4 <= is)
		l->gc_collecting = gc + coll;
}

/* Thread names: optional too; fr_localsplus 0 turns them off. */
static void debug__names(const struct py_debug_desc *d, const struct dbg *in,
			 uint32_t fr, bool free_threaded, struct py_layout *l)
{
	struct dbg g = {.buf = in->buf, .len = in->len};
	uint32_t flags, ls;

	if (!d->fr_localsplus)
		return;
	ls = dbg__field(&g, d->fr_localsplus, fr, 8);
	flags = dbg__word(&g, d->tp_flags);
	/* PyVarObject's ob_size follows ob_type, then tp_name, then
	 * tp_basicsize. */
	l->tp_basicsize = d->tp_basicsize ? dbg__word(&g, d->tp_basicsize)
					  : l->ob_type + 24;
	l->tp_dictoffset = d->tp_dictoffset ? dbg__word(&g, d->tp_dictoffset)
					    : flags + d->dictoffset_after_flags;
	l->ht_cached_keys = d->ht_cached_keys
				    ? dbg__word(&g, d->ht_cached_keys)
				    : flags + d->cached_keys_after_flags;
	l->dict_keys = dbg__word(&g, d->dict_keys);
	l->dict_values = dbg__word(&g, d->dict_values);
	if (g.bad || !flags || l->tp_basicsize >= flags ||
	    l->ht_cached_keys > 4096 || l->dict_keys > 128 ||
	    l->dict_values > 128)
		return;
	l->tp_flags = flags;
	l->fr_localsplus = ls;
	l->values_data = d->values_data;
	l->managed_dict = free_threaded ? d->managed_dict_ft : d->managed_dict;
	l->flags |= PY_L_DICT_LOG2 | PY_L_MANAGED_DICT | PY_L_INLINE_VALUES;
}

int py_layout__from_debug(const struct py_debug_desc *d, const uint8_t *buf,
			  size_t len, struct py_layout *l)
{
	struct dbg g = {.buf = buf, .len = len};
	uint32_t free_threaded;

	if (len < (size_t)d->words * 8 || len < 24)
		return -PS_EBADLAYOUT;
	free_threaded = (uint32_t)py__u64(buf, 16);
	*l = (struct py_layout){
		.name = d->name,
		.flags = PY_L_INSTR_PTR | PY_L_NATIVE_TID | PY_L_QUALNAME |
			 PY_L_CHUNKS | PY_L_OWNER | PY_L_STR_NO_WSTR | d->flags,
		.linetable = PY_LINETABLE_LOCATIONS,
		/* _PyStackChunk has kept its shape since 3.11. */
		.ck_prev = 0,
		.ck_size = 8,
		.ck_top = 16,
		.ck_data = 24,
		.owner_skip = 3, /* CSTACK (3.13), INTERPRETER (3.14+) */
		.owner_max = d->owner_max,
	};

	/* _PyRuntime and the interpreter: only list heads are read. */
	l->rt_interp_head = dbg__word(&g, d->rt_interp_head);
	l->is_next = dbg__word(&g, d->is_next);
	l->is_threads_head = dbg__word(&g, d->is_threads_head);

	uint32_t ts = dbg__word(&g, d->ts_size);
	l->ts_next = dbg__field(&g, d->ts_next, ts, 8);
	l->ts_interp = dbg__field(&g, d->ts_interp, ts, 8);
	l->ts_frame = dbg__field(&g, d->ts_current_frame, ts, 8);
	l->ts_thread_id = dbg__field(&g, d->ts_thread_id, ts, 8);
	l->ts_native_tid = dbg__field(&g, d->ts_native_tid, ts, 8);
	/* datastack_top follows datastack_chunk in every 3.11+ header. */
	l->ts_chunk = dbg__field(&g, d->ts_chunk, ts, 16);
	l->ts_top = l->ts_chunk + 8;
	l->ts_size = max4(max4(l->ts_next, l->ts_interp, l->ts_frame,
			       l->ts_thread_id),
			  l->ts_native_tid, l->ts_top, 0) +
		     8;

	uint32_t fr = dbg__word(&g, d->fr_size);
	l->fr_back = dbg__field(&g, d->fr_previous, fr, 8);
	l->fr_code = dbg__field(&g, d->fr_executable, fr, 8);
	l->fr_pos = dbg__field(&g, d->fr_instr_ptr, fr, 8);
	l->fr_owner = dbg__field(&g, d->fr_owner, fr, 1);
	l->fr_size = max4(l->fr_back, l->fr_code, l->fr_pos, 0) + 8;
	if (l->fr_owner + 1 > l->fr_size)
		l->fr_size = l->fr_owner + 1;
	if (d->stacktop_after_instr) {
		l->fr_stacktop = l->fr_pos + d->stacktop_after_instr;
		if (l->fr_stacktop + 4 > fr)
			g.bad = 1;
		l->flags |= PY_L_RUN_MARK;
		if (l->fr_stacktop + 4 > l->fr_size)
			l->fr_size = l->fr_stacktop + 4;
	}

	uint32_t co = dbg__word(&g, d->co_size);
	l->ob_type = dbg__word(&g, d->ob_type);
	l->ob_size = dbg__word(&g, d->tuple_ob_size);
	l->co_filename = dbg__field(&g, d->co_filename, co, 8);
	l->co_name = dbg__field(&g, d->co_name, co, 8);
	l->co_qualname = dbg__field(&g, d->co_qualname, co, 8);
	l->co_linetable = dbg__field(&g, d->co_linetable, co, 8);
	l->co_firstlineno = dbg__field(&g, d->co_firstlineno, co, 4);
	/* co_stacksize, co_firstlineno, co_nlocalsplus, co_framesize are
	 * consecutive ints in 3.12+ (Include/cpython/code.h). */
	l->co_nlocalsplus = l->co_firstlineno + 4;
	l->co_framesize = l->co_firstlineno + 8;
	l->co_code = dbg__word(&g, d->co_code_adaptive);
	l->co_size = max4(max4(l->co_filename, l->co_name, l->co_qualname,
			       l->co_linetable),
			  l->ob_type, l->ob_size, l->co_framesize) +
		     8;
	if (l->co_code < l->co_size - 4)
		g.bad = 1;

	/* Thread-local bytecode: only free-threaded builds copy it. */
	if (free_threaded && d->fr_tlbc_index && d->co_tlbc) {
		l->fr_tlbc = dbg__field(&g, d->fr_tlbc_index, fr, 4);
		l->co_tlbc = dbg__field(&g, d->co_tlbc, co, 8);
		if (l->co_tlbc) {
			l->flags |= PY_L_TLBC;
			if (l->fr_tlbc + 4 > l->fr_size)
				l->fr_size = l->fr_tlbc + 4;
			if (l->co_tlbc + 8 > l->co_size)
				l->co_size = l->co_tlbc + 8;
		}
	}

	l->str_state = dbg__word(&g, d->str_state);
	l->str_kind_shift = free_threaded && d->ft_interned_byte ? 8 : 2;
	l->str_length = dbg__word(&g, d->str_length);
	l->str_ascii_data = dbg__word(&g, d->str_ascii_size);
	/* PyCompactUnicodeObject adds utf8_length and utf8 to the ASCII
	 * header; 3.15 says so itself. */
	l->str_compact_data = d->str_compact_size
				      ? dbg__word(&g, d->str_compact_size)
				      : l->str_ascii_data + 16;
	l->bytes_size = dbg__word(&g, d->bytes_ob_size);
	l->bytes_data = dbg__word(&g, d->bytes_ob_sval);

	if (free_threaded)
		l->flags |= PY_L_FREE_THREADED;
	debug__gil_gc(d, &g, l);
	debug__names(d, &g, fr, free_threaded != 0, l);

	if (g.bad || l->ts_size > PY_MAX_READ || l->fr_size > PY_MAX_READ ||
	    l->co_size > PY_MAX_READ || l->str_compact_data > 128 ||
	    l->bytes_data > 64)
		return -PS_EBADLAYOUT;
	return 0;
}
