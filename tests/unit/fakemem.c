/*
 * fakemem.c - a fake target address space (struct mem_ops over byte
 * arrays) and builders for a synthetic CPython 3.11 interpreter in it,
 * for the stack walker's unit tests and fuzzer.
 *
 * The fake reader behaves like mem.c's process reader where it matters to
 * the walker: an iovec is read whole or not at all, one readv is one
 * "system call" in mem->calls, and the buffer of a failed iovec holds
 * garbage afterwards (process_vm_readv may have copied part of it), so a
 * walker that trusts a failed read is caught.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psample/linetable.h"
#include "fakemem.h"

struct region {
	uint64_t addr;
	size_t len;
	uint8_t *bytes;
};

struct span {
	uint64_t addr;
	size_t len;
};

struct undo {
	uint64_t addr;
	uint8_t len;
	uint8_t old[16];
};

struct fakemem {
	struct region *r; /* sorted by addr, never overlapping */
	size_t n, cap;
	struct span *spans;
	size_t nspans, cap_spans;
	struct undo *journal;
	size_t njournal, cap_journal;
	uint64_t heap_next; /* where the next arena goes */
	uint64_t arena, arena_len, arena_used;
	int fail;
	uint64_t iovs, faults, calls;
	fakemem_hook_fn *hook;
	void *hook_arg;
};

#define HEAP_BASE 0x560000000000ull
#define ARENA_SIZE (64u * 1024)

/* Test scaffolding cannot go on without memory; say so and stop. */
static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q) {
		fprintf(stderr, "fakemem: out of memory\n");
		abort();
	}
	return q;
}

static void die(const char *what, uint64_t addr)
{
	fprintf(stderr, "fakemem: %s at 0x%llx\n", what,
		(unsigned long long)addr);
	abort();
}

struct fakemem *fakemem__new(void)
{
	struct fakemem *fm = xrealloc(NULL, sizeof(*fm));

	memset(fm, 0, sizeof(*fm));
	fm->heap_next = HEAP_BASE;
	return fm;
}

void fakemem__free(struct fakemem *fm)
{
	if (!fm)
		return;
	for (size_t i = 0; i < fm->n; i++)
		free(fm->r[i].bytes);
	free(fm->r);
	free(fm->spans);
	free(fm->journal);
	free(fm);
}

/* The region holding addr, or NULL. */
static struct region *region__find(struct fakemem *fm, uint64_t addr)
{
	size_t lo = 0, hi = fm->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (fm->r[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	struct region *r = &fm->r[lo - 1];
	return addr - r->addr < r->len ? r : NULL;
}

uint8_t *fakemem__ptr(struct fakemem *fm, uint64_t addr, size_t len)
{
	struct region *r = region__find(fm, addr);

	if (!r || len > r->len - (addr - r->addr))
		return NULL;
	return r->bytes + (addr - r->addr);
}

static int fake_readv(struct mem *m, struct mem_iov *iov, size_t n)
{
	struct fakemem *fm = m->priv;

	m->calls++;
	fm->calls++;
	if (fm->fail)
		return fm->fail;
	for (size_t i = 0; i < n; i++) {
		uint8_t *src;

		if (fm->hook)
			fm->hook(fm->hook_arg, fm->calls, i, iov[i].addr);
		fm->iovs++;
		if (iov[i].len == 0) {
			iov[i].err = 0;
			continue;
		}
		src = fakemem__ptr(fm, iov[i].addr, iov[i].len);
		if (!src) {
			fm->faults++;
			memset(iov[i].buf, 0xa5, iov[i].len);
			iov[i].err = -EFAULT;
			continue;
		}
		memcpy(iov[i].buf, src, iov[i].len);
		m->bytes += iov[i].len;
		iov[i].err = 0;
	}
	return 0;
}

static const struct mem_ops fake_ops = {.readv = fake_readv};

void fakemem__attach(struct fakemem *fm, struct mem *m)
{
	m->ops = &fake_ops;
	m->priv = fm;
}

uint8_t *fakemem__map(struct fakemem *fm, uint64_t addr, size_t len)
{
	size_t i = 0;

	if (!len || addr + len < addr)
		die("bad mapping", addr);
	while (i < fm->n && fm->r[i].addr < addr)
		i++;
	if ((i > 0 && fm->r[i - 1].addr + fm->r[i - 1].len > addr) ||
	    (i < fm->n && addr + len > fm->r[i].addr))
		die("overlapping mapping", addr);
	if (fm->n == fm->cap) {
		fm->cap = fm->cap ? fm->cap * 2 : 64;
		fm->r = xrealloc(fm->r, fm->cap * sizeof(*fm->r));
	}
	memmove(&fm->r[i + 1], &fm->r[i], (fm->n - i) * sizeof(*fm->r));
	fm->r[i].addr = addr;
	fm->r[i].len = len;
	fm->r[i].bytes = xrealloc(NULL, len);
	memset(fm->r[i].bytes, 0, len);
	fm->n++;
	return fm->r[i].bytes;
}

void fakemem__unmap(struct fakemem *fm, uint64_t addr)
{
	struct region *r = region__find(fm, addr);
	size_t i, k = 0;

	if (!r || r->addr != addr)
		die("unmap of nothing", addr);
	/* Spans in it would make a fuzzer poke unmapped memory. */
	for (i = 0; i < fm->nspans; i++)
		if (fm->spans[i].addr - r->addr >= r->len)
			fm->spans[k++] = fm->spans[i];
	fm->nspans = k;
	free(r->bytes);
	i = (size_t)(r - fm->r);
	memmove(&fm->r[i], &fm->r[i + 1], (fm->n - i - 1) * sizeof(*fm->r));
	fm->n--;
}

void fakemem__span(struct fakemem *fm, uint64_t addr, size_t len)
{
	if (!fakemem__ptr(fm, addr, len))
		die("span of unmapped memory", addr);
	if (fm->nspans == fm->cap_spans) {
		fm->cap_spans = fm->cap_spans ? fm->cap_spans * 2 : 64;
		fm->spans =
			xrealloc(fm->spans, fm->cap_spans * sizeof(*fm->spans));
	}
	fm->spans[fm->nspans++] = (struct span){.addr = addr, .len = len};
}

size_t fakemem__nspans(const struct fakemem *fm)
{
	return fm->nspans;
}

void fakemem__span_at(const struct fakemem *fm, size_t i, uint64_t *addr,
		      size_t *len)
{
	*addr = fm->spans[i].addr;
	*len = fm->spans[i].len;
}

uint64_t fakemem__alloc(struct fakemem *fm, size_t len)
{
	size_t need = (len + 15) & ~(size_t)15;
	uint64_t a;

	if (!fm->arena || fm->arena_used + need > fm->arena_len) {
		size_t alen = need > ARENA_SIZE ? need : ARENA_SIZE;
		/* An unmapped gap between arenas, as between real mappings. */
		fm->arena = fm->heap_next;
		fm->arena_len = alen;
		fm->arena_used = 0;
		fakemem__map(fm, fm->arena, alen);
		fm->heap_next = fm->arena + alen + ARENA_SIZE;
	}
	a = fm->arena + fm->arena_used;
	fm->arena_used += need;
	fakemem__span(fm, a, len);
	return a;
}

void fakemem__write(struct fakemem *fm, uint64_t addr, const void *buf,
		    size_t len)
{
	uint8_t *p = fakemem__ptr(fm, addr, len);

	if (!p)
		die("write to unmapped memory", addr);
	memcpy(p, buf, len);
}

void fakemem__w64(struct fakemem *fm, uint64_t addr, uint64_t v)
{
	fakemem__write(fm, addr, &v, sizeof(v));
}

void fakemem__w32(struct fakemem *fm, uint64_t addr, uint32_t v)
{
	fakemem__write(fm, addr, &v, sizeof(v));
}

void fakemem__w8(struct fakemem *fm, uint64_t addr, uint8_t v)
{
	fakemem__write(fm, addr, &v, sizeof(v));
}

uint64_t fakemem__r64(struct fakemem *fm, uint64_t addr)
{
	uint8_t *p = fakemem__ptr(fm, addr, 8);
	uint64_t v;

	if (!p)
		die("read of unmapped memory", addr);
	memcpy(&v, p, sizeof(v));
	return v;
}

void fakemem__hook(struct fakemem *fm, fakemem_hook_fn *fn, void *arg)
{
	fm->hook = fn;
	fm->hook_arg = arg;
}

void fakemem__fail(struct fakemem *fm, int err)
{
	fm->fail = err;
}

uint64_t fakemem__calls(const struct fakemem *fm)
{
	return fm->calls;
}

uint64_t fakemem__iovs(const struct fakemem *fm)
{
	return fm->iovs;
}

uint64_t fakemem__faults(const struct fakemem *fm)
{
	return fm->faults;
}

void fakemem__poke(struct fakemem *fm, uint64_t addr, const void *buf,
		   size_t len)
{
	const uint8_t *b = buf;

	while (len) {
		size_t k = len < 16 ? len : 16;
		uint8_t *p = fakemem__ptr(fm, addr, k);
		struct undo *u;

		if (!p)
			die("poke of unmapped memory", addr);
		if (fm->njournal == fm->cap_journal) {
			fm->cap_journal =
				fm->cap_journal ? fm->cap_journal * 2 : 64;
			fm->journal = xrealloc(fm->journal,
					       fm->cap_journal *
						       sizeof(*fm->journal));
		}
		u = &fm->journal[fm->njournal++];
		u->addr = addr;
		u->len = (uint8_t)k;
		memcpy(u->old, p, k);
		memcpy(p, b, k);
		addr += k;
		b += k;
		len -= k;
	}
}

void fakemem__rollback(struct fakemem *fm)
{
	/* Newest first, so overlapping pokes come undone in order. */
	while (fm->njournal) {
		struct undo *u = &fm->journal[--fm->njournal];
		memcpy(fakemem__ptr(fm, u->addr, u->len), u->old, u->len);
	}
}

/* ---- a synthetic CPython 3.11 --------------------------------------- */

#define STATIC_BASE 0x550000000000ull
#define CHUNK_BASE 0x7f0000000000ull
#define STATIC_SIZE 4096u

static void *xcalloc(size_t n)
{
	void *p = xrealloc(NULL, n);

	memset(p, 0, n);
	return p;
}

struct fpy *fpy__new(void)
{
	const struct py_layout *l = py_layout__find(0x030B07F0);

	if (!l)
		die("no 3.11 layout", 0);
	return fpy__new_with(l);
}

struct fpy *fpy__new_with(const struct py_layout *l)
{
	struct fpy *p = xcalloc(sizeof(*p));

	p->l = l;
	p->fm = fakemem__new();
	p->next_chunk = CHUNK_BASE;
	/* Statics as in a binary's .data: separate mappings, like pages. */
	p->runtime = STATIC_BASE;
	fakemem__map(p->fm, p->runtime, STATIC_SIZE);
	fakemem__span(p->fm, p->runtime + l->rt_interp_head, 8);
	p->code_type = STATIC_BASE + 0x10000;
	fakemem__map(p->fm, p->code_type, STATIC_SIZE);
	p->str_type = STATIC_BASE + 0x20000;
	fakemem__map(p->fm, p->str_type, STATIC_SIZE);
	p->bytes_type = STATIC_BASE + 0x30000;
	fakemem__map(p->fm, p->bytes_type, STATIC_SIZE);
	p->type_type = STATIC_BASE + 0x40000;
	fakemem__map(p->fm, p->type_type, STATIC_SIZE);
	p->dict_type = STATIC_BASE + 0x50000;
	fakemem__map(p->fm, p->dict_type, STATIC_SIZE);

	p->t = xcalloc(sizeof(*p->t));
	p->t->pid = 4242;
	p->t->layout = l;
	p->t->version = 0x030B07F0;
	snprintf(p->t->version_str, sizeof(p->t->version_str), "3.11.7");
	p->t->runtime = p->runtime;
	p->t->code_type = p->code_type;
	p->t->str_type = p->str_type;
	p->t->dict_type = p->dict_type;
	p->t->type_type = p->type_type;
	p->t->mem.pid = p->t->pid;
	fakemem__attach(p->fm, &p->t->mem);

	p->interp = fpy__interp(p);
	return p;
}

void fpy__free(struct fpy *p)
{
	if (!p)
		return;
	while (p->codes) {
		struct fpy_code *c = p->codes;
		p->codes = c->next;
		free(c);
	}
	while (p->threads) {
		struct fpy_thread *th = p->threads;
		p->threads = th->next;
		free(th->frames);
		free(th);
	}
	fakemem__free(p->fm);
	free(p->t);
	free(p);
}

uint64_t fpy__interp(struct fpy *p)
{
	const struct py_layout *l = p->l;
	uint64_t head = p->runtime + l->rt_interp_head;
	uint32_t size = l->is_threads_head + 8;

	/* Room for the GIL pointer and the gc state too. */
	if (l->gc_collecting + 8 > size)
		size = l->gc_collecting + 8;
	if (l->is_gil + 8 > size)
		size = l->is_gil + 8;
	uint64_t is = fakemem__alloc(p->fm, size);

	fakemem__w64(p->fm, is + l->is_next, fakemem__r64(p->fm, head));
	fakemem__w64(p->fm, is + l->is_threads_head, 0);
	fakemem__w64(p->fm, head, is);
	return is;
}

uint64_t fpy__str(struct fpy *p, const char *s)
{
	const struct py_layout *l = p->l;
	size_t n = strlen(s);
	uint64_t a = fakemem__alloc(p->fm, l->str_ascii_data + n + 1);
	/* kind 1 (bits 2-4), compact (5), ascii (6), ready (7) */
	uint32_t state = 1u << 2 | 1u << 5 | 1u << 6 | 1u << 7;

	fakemem__w64(p->fm, a + l->ob_type, p->str_type);
	fakemem__w64(p->fm, a + l->str_length, n);
	fakemem__w32(p->fm, a + l->str_state, state);
	fakemem__write(p->fm, a + l->str_ascii_data, s, n + 1);
	return a;
}

uint64_t fpy__bytes(struct fpy *p, const void *data, size_t len)
{
	const struct py_layout *l = p->l;
	uint64_t a = fakemem__alloc(p->fm, l->bytes_data + len + 1);

	fakemem__w64(p->fm, a + l->ob_type, p->bytes_type);
	fakemem__w64(p->fm, a + l->bytes_size, len);
	if (len)
		fakemem__write(p->fm, a + l->bytes_data, data, len);
	return a;
}

static size_t put_byte(uint8_t *out, size_t cap, size_t o, uint8_t b)
{
	if (o < cap)
		out[o] = b;
	return o + 1;
}

size_t fpy__linetable(int32_t firstlineno, const struct fpy_line *lines,
		      uint32_t n, uint8_t *out, size_t cap)
{
	int64_t running = firstlineno;
	size_t o = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t left = lines[i].units;
		bool first = true;

		while (left) {
			uint32_t k = left < 8 ? left : 8;

			left -= k;
			if (lines[i].line < 0) {
				o = put_byte(
					out, cap, o,
					(uint8_t)(0x80 | 15 << 3 | (k - 1)));
				continue;
			}
			o = put_byte(out, cap, o,
				     (uint8_t)(0x80 | 13 << 3 | (k - 1)));
			int64_t d = first ? lines[i].line - running : 0;
			uint64_t v = d < 0 ? (uint64_t)-d << 1 | 1
					   : (uint64_t)d << 1;
			/* 6 bits a byte, low first, 0x40 = more follow */
			while (v >= 64) {
				o = put_byte(out, cap, o,
					     (uint8_t)(0x40 | (v & 63)));
				v >>= 6;
			}
			o = put_byte(out, cap, o, (uint8_t)v);
			running = lines[i].line;
			first = false;
		}
	}
	return o;
}

static void code__write_names(struct fpy *p, struct fpy_code *c)
{
	const struct py_layout *l = p->l;
	uint8_t table[FPY_MAX_LINES * 64];
	size_t n = fpy__linetable(c->firstlineno, c->lines, c->nlines, table,
				  sizeof(table));

	if (n > sizeof(table))
		die("line table too long", c->addr);
	c->name_obj = fpy__str(p, c->name);
	c->qualname_obj = fpy__str(p, c->qualname);
	c->filename_obj = fpy__str(p, c->filename);
	c->linetable_obj = fpy__bytes(p, table, n);
	fakemem__w32(p->fm, c->addr + l->co_firstlineno,
		     (uint32_t)c->firstlineno);
	fakemem__w64(p->fm, c->addr + l->co_filename, c->filename_obj);
	fakemem__w64(p->fm, c->addr + l->co_name, c->name_obj);
	fakemem__w64(p->fm, c->addr + l->co_qualname, c->qualname_obj);
	fakemem__w64(p->fm, c->addr + l->co_linetable, c->linetable_obj);
	/* Every fake frame takes FPY_FRAME_STRIDE bytes, as CPython's take
	 * nlocalsplus + stacksize + the specials: say so in the code. */
	uint32_t words = FPY_FRAME_STRIDE(l) / 8 - l->fr_specials;
	fakemem__w32(p->fm, c->addr + l->co_nlocalsplus, words / 2);
	fakemem__w32(p->fm, c->addr + l->co_stacksize, words - words / 2);
}

struct fpy_code *fpy__code(struct fpy *p, const char *filename,
			   const char *name, const char *qualname,
			   int32_t firstlineno, const struct fpy_line *lines,
			   uint32_t nlines)
{
	const struct py_layout *l = p->l;
	struct fpy_code *c = xcalloc(sizeof(*c));

	if (nlines == 0 || nlines > FPY_MAX_LINES)
		die("bad line count", nlines);
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->qualname, sizeof(c->qualname), "%s", qualname);
	snprintf(c->filename, sizeof(c->filename), "%s", filename);
	c->firstlineno = firstlineno;
	c->nlines = nlines;
	for (uint32_t i = 0; i < nlines; i++) {
		if (lines[i].units == 0)
			die("empty line entry", i);
		c->lines[i] = lines[i];
		c->nunits += lines[i].units;
	}
	c->addr = fakemem__alloc(p->fm, l->co_code + 2 * (size_t)c->nunits);
	fakemem__w64(p->fm, c->addr + l->ob_type, p->code_type);
	fakemem__w64(p->fm, c->addr + l->ob_size, c->nunits);
	/* Some bytecode, so the adaptive area is not all zeroes. */
	for (uint32_t u = 0; u < c->nunits; u++)
		fakemem__w8(p->fm, c->addr + l->co_code + 2 * u, 0x97);
	code__write_names(p, c);
	c->next = p->codes;
	p->codes = c;
	return c;
}

void fpy__code_reuse(struct fpy *p, struct fpy_code *c, const char *name,
		     const char *qualname, int32_t firstlineno)
{
	int32_t shift = firstlineno - c->firstlineno;

	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->qualname, sizeof(c->qualname), "%s", qualname);
	c->firstlineno = firstlineno;
	for (uint32_t i = 0; i < c->nlines; i++)
		if (c->lines[i].line >= 0)
			c->lines[i].line += shift;
	code__write_names(p, c);
}

int32_t fpy_code__line(const struct fpy_code *c, int32_t unit)
{
	uint32_t start = 0;

	if (unit == -1)
		return c->firstlineno;
	if (unit < 0)
		return -1;
	for (uint32_t i = 0; i < c->nlines; i++) {
		if ((uint32_t)unit < start + c->lines[i].units)
			return c->lines[i].line;
		start += c->lines[i].units;
	}
	return -1;
}

static uint64_t chunk__new(struct fpy *p, uint32_t size, uint64_t prev)
{
	const struct py_layout *l = p->l;
	uint64_t a = p->next_chunk;

	/* Chunks are mmap'ed: each its own mapping, with gaps between. */
	p->next_chunk +=
		((uint64_t)size + 0xffff) / 0x10000 * 0x10000 + 0x10000;
	fakemem__map(p->fm, a, size);
	fakemem__w64(p->fm, a + l->ck_prev, prev);
	fakemem__w64(p->fm, a + l->ck_size, size);
	fakemem__span(p->fm, a, l->ck_data);
	return a;
}

struct fpy_thread *fpy__thread(struct fpy *p, uint64_t interp, int64_t tid,
			       uint64_t thread_id, uint32_t chunk_size)
{
	const struct py_layout *l = p->l;
	struct fpy_thread *th = xcalloc(sizeof(*th));
	uint64_t head = interp + l->is_threads_head;

	th->interp = interp;
	th->tid = tid;
	th->thread_id = thread_id;
	th->chunk_size = chunk_size;
	th->ts = fakemem__alloc(p->fm, l->ts_size);
	th->cframe = fakemem__alloc(p->fm, l->cf_current + 16);
	th->chunks[0] = chunk__new(p, chunk_size, 0);
	th->nchunks = 1;
	th->top = th->chunks[0] + l->ck_data;

	fakemem__w64(p->fm, th->ts + l->ts_next, fakemem__r64(p->fm, head));
	fakemem__w64(p->fm, th->ts + l->ts_interp, interp);
	fakemem__w64(p->fm, th->ts + l->ts_frame, th->cframe);
	fakemem__w64(p->fm, th->ts + l->ts_thread_id, thread_id);
	fakemem__w64(p->fm, th->ts + l->ts_native_tid, (uint64_t)tid);
	fakemem__w64(p->fm, th->ts + l->ts_chunk, th->chunks[0]);
	fakemem__w64(p->fm, th->ts + l->ts_top, th->top);
	fakemem__w64(p->fm, th->cframe + l->cf_current, 0);
	fakemem__w64(p->fm, head, th->ts);

	th->next = p->threads;
	p->threads = th;
	return th;
}

void fpy__unlink(struct fpy *p, struct fpy_thread *th)
{
	const struct py_layout *l = p->l;
	uint64_t link = th->interp + l->is_threads_head;

	for (;;) {
		uint64_t ts = fakemem__r64(p->fm, link);
		if (!ts)
			die("thread not in its list", th->ts);
		if (ts == th->ts)
			break;
		link = ts + l->ts_next;
	}
	fakemem__w64(p->fm, link, fakemem__r64(p->fm, th->ts + l->ts_next));
}

static uint64_t thread__current(const struct fpy_thread *th)
{
	return th->depth ? th->frames[th->depth - 1].addr : 0;
}

/* Point the thread state at its current frame and data stack top. */
static void thread__sync(struct fpy *p, struct fpy_thread *th)
{
	const struct py_layout *l = p->l;

	fakemem__w64(p->fm, th->ts + l->ts_chunk, th->chunks[th->nchunks - 1]);
	fakemem__w64(p->fm, th->ts + l->ts_top, th->top);
	fakemem__w64(p->fm, th->cframe + l->cf_current, thread__current(th));
}

/* The run mark (PY_L_RUN_MARK): -1 while the frame runs, its stack
 * depth once it has called (or returned). */
static void frame__mark(struct fpy *p, const struct fpy_frame *f,
			int32_t stacktop)
{
	if (p->l->flags & PY_L_RUN_MARK)
		fakemem__w32(p->fm, f->addr + p->l->fr_stacktop,
			     (uint32_t)stacktop);
}

static void frame__write(struct fpy *p, const struct fpy_frame *f,
			 uint64_t back)
{
	const struct py_layout *l = p->l;

	fakemem__w64(p->fm, f->addr + l->fr_code, f->code->addr);
	fakemem__w64(p->fm, f->addr + l->fr_back, back);
	/* prev_instr: one unit before the first while not started */
	fakemem__w64(p->fm, f->addr + l->fr_pos,
		     f->code->addr + l->co_code + 2 * (int64_t)f->unit);
	fakemem__w8(p->fm, f->addr + l->fr_owner, f->stray ? 1 : 0);
	frame__mark(p, f, -1);
}

static struct fpy_frame *thread__add(struct fpy_thread *th)
{
	if (th->depth == th->cap) {
		th->cap = th->cap ? th->cap * 2 : 16;
		th->frames =
			xrealloc(th->frames, th->cap * sizeof(*th->frames));
	}
	return &th->frames[th->depth++];
}

/* A frame that makes a call has started: CPython's caller is on its CALL
 * by then, never before its first instruction. */
static void thread__caller_started(struct fpy *p, struct fpy_thread *th)
{
	if (th->depth && th->frames[th->depth - 1].unit < 0)
		fpy__set_unit(p, th, th->depth - 1, 0);
	if (th->depth)
		frame__mark(p, &th->frames[th->depth - 1], 2);
}

struct fpy_frame *fpy__push(struct fpy *p, struct fpy_thread *th,
			    struct fpy_code *code, int32_t unit)
{
	const struct py_layout *l = p->l;
	uint32_t stride = FPY_FRAME_STRIDE(l);
	uint64_t newest = th->chunks[th->nchunks - 1];
	uint64_t back = thread__current(th);

	thread__caller_started(p, th);
	if (th->top + stride > newest + th->chunk_size) {
		if (th->nchunks == FPY_MAX_CHUNKS)
			die("too many chunks", th->ts);
		/* CPython saves the old chunk's top, in words, on a push. */
		fakemem__w64(p->fm, newest + l->ck_top,
			     (th->top - (newest + l->ck_data)) / 8);
		newest = chunk__new(p, th->chunk_size, newest);
		th->chunks[th->nchunks++] = newest;
		th->top = newest + l->ck_data;
	}
	struct fpy_frame *f = thread__add(th);
	*f = (struct fpy_frame){.addr = th->top, .code = code, .unit = unit};
	th->top += stride;
	fakemem__span(p->fm, f->addr, l->fr_size);
	frame__write(p, f, back);
	thread__sync(p, th);
	return f;
}

struct fpy_frame *fpy__push_stray(struct fpy *p, struct fpy_thread *th,
				  struct fpy_code *code, int32_t unit)
{
	uint64_t back = thread__current(th);
	uint64_t a;

	thread__caller_started(p, th);
	a = fakemem__alloc(p->fm, FPY_FRAME_STRIDE(p->l));
	struct fpy_frame *f = thread__add(th);

	*f = (struct fpy_frame){
		.addr = a, .code = code, .unit = unit, .stray = true};
	frame__write(p, f, back);
	thread__sync(p, th);
	return f;
}

void fpy__pop(struct fpy *p, struct fpy_thread *th)
{
	const struct py_layout *l = p->l;
	struct fpy_frame *f;

	if (!th->depth)
		die("pop of an empty stack", th->ts);
	f = &th->frames[--th->depth];
	frame__mark(p, f, 1);
	if (th->depth)
		frame__mark(p, &th->frames[th->depth - 1], -1);
	if (!f->stray) {
		th->top = f->addr;
		if (th->nchunks > 1 &&
		    f->addr == th->chunks[th->nchunks - 1] + l->ck_data) {
			fakemem__unmap(p->fm, th->chunks[--th->nchunks]);
			th->top = th->chunks[th->nchunks - 1] + l->ck_data;
			for (uint32_t i = th->depth; i-- > 0;) {
				if (!th->frames[i].stray) {
					th->top = th->frames[i].addr +
						  FPY_FRAME_STRIDE(l);
					break;
				}
			}
		}
	}
	thread__sync(p, th);
}

void fpy__set_unit(struct fpy *p, struct fpy_thread *th, uint32_t i,
		   int32_t unit)
{
	const struct py_layout *l = p->l;
	struct fpy_frame *f = &th->frames[i];

	f->unit = unit;
	fakemem__w64(p->fm, f->addr + l->fr_pos,
		     f->code->addr + l->co_code + 2 * (int64_t)unit);
}

/* ---- objects: types, dicts, instances --------------------------------- */

uint64_t fpy__type(struct fpy *p, uint64_t flags, uint64_t basicsize,
		   int64_t dictoffset, uint64_t cached_keys)
{
	const struct py_layout *l = p->l;
	uint64_t t = fakemem__alloc(p->fm, l->ht_cached_keys + 8);

	fakemem__w64(p->fm, t + l->ob_type, p->type_type);
	fakemem__w64(p->fm, t + l->tp_flags, flags);
	fakemem__w64(p->fm, t + l->tp_basicsize, basicsize);
	fakemem__w64(p->fm, t + l->tp_dictoffset, (uint64_t)dictoffset);
	fakemem__w64(p->fm, t + l->ht_cached_keys, cached_keys);
	return t;
}

uint64_t fpy__keys(struct fpy *p, const char *const *names,
		   const uint64_t *values, uint32_t n, int kind)
{
	const struct py_layout *l = p->l;
	uint32_t log2 = 3;
	uint64_t k, entries, esize, ekey;

	while ((1u << log2) * 2 < n * 3)
		log2++;
	if (l->flags & PY_L_DICT_LOG2) {
		/* One-byte indices up to 128 slots. */
		uint32_t log2ix = log2 < 8 ? log2 : log2 + 1;
		esize = kind == 0 ? 24 : 16;
		ekey = kind == 0 ? 8 : 0;
		k = fakemem__alloc(p->fm, 32 + (1u << log2ix) + n * esize);
		fakemem__w64(p->fm, k, 1);
		fakemem__w8(p->fm, k + 8, (uint8_t)log2);
		fakemem__w8(p->fm, k + 9, (uint8_t)log2ix);
		fakemem__w8(p->fm, k + 10, (uint8_t)kind);
		fakemem__w64(p->fm, k + 24, n);
		entries = k + 32 + (1u << log2ix);
	} else {
		uint64_t size = 1u << log2;
		uint64_t ix = size <= 0xff ? 1 : 2;
		esize = 24;
		ekey = 8;
		k = fakemem__alloc(p->fm, 40 + size * ix + n * esize);
		fakemem__w64(p->fm, k, 1);
		fakemem__w64(p->fm, k + 8, size);
		fakemem__w64(p->fm, k + 32, n);
		entries = k + 40 + size * ix;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint64_t e = entries + i * esize;
		fakemem__w64(p->fm, e + ekey,
			     names[i] ? fpy__str(p, names[i]) : 0);
		fakemem__w64(p->fm, e + ekey + 8, values ? values[i] : 0);
		if (esize == 24)
			fakemem__w64(p->fm, e, 0x1234 + i); /* a hash */
	}
	return k;
}

uint64_t fpy__values(struct fpy *p, const uint64_t *values, uint32_t n)
{
	const struct py_layout *l = p->l;
	uint64_t v = fakemem__alloc(p->fm, l->values_data + 8 * n);

	if (l->values_data) {
		/* capacity, size, embedded, valid */
		fakemem__w8(p->fm, v, (uint8_t)n);
		fakemem__w8(p->fm, v + 1, (uint8_t)n);
		fakemem__w8(p->fm, v + 3, 1);
	}
	for (uint32_t i = 0; i < n; i++)
		fakemem__w64(p->fm, v + l->values_data + 8 * i, values[i]);
	return v;
}

uint64_t fpy__dict(struct fpy *p, uint64_t keys, uint64_t values)
{
	const struct py_layout *l = p->l;
	uint32_t len = (l->dict_keys > l->dict_values ? l->dict_keys
						      : l->dict_values) +
		       8;
	uint64_t d = fakemem__alloc(p->fm, len);

	fakemem__w64(p->fm, d + l->ob_type, p->dict_type);
	fakemem__w64(p->fm, d + l->dict_keys, keys);
	fakemem__w64(p->fm, d + l->dict_values, values);
	return d;
}

uint64_t fpy__object(struct fpy *p, uint64_t type, uint32_t before,
		     uint32_t size)
{
	uint64_t o = fakemem__alloc(p->fm, before + size) + before;

	fakemem__w64(p->fm, o + p->l->ob_type, type);
	return o;
}
