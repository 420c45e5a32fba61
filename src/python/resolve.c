/*
 * resolve.c - the one resolver: raw stacks into code objects, names and
 * exact lines.
 *
 * Each sample has a table of the code objects its stacks name, keyed by
 * address, each with the header read for it this sample.  The headers of
 * the last sample's code objects (the hot set) ride in the reader's
 * batch; the others are read in one more batch.  A header is checked
 * against the code cache (symbols.c) by identity before its names and
 * line table are used, and nothing else in the reader decodes a code
 * object.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "psample/error.h"
#include "psample/resolve.h"
#include "psample/symbols.h"

#define HOT_MAX 256
#define SEEN_BITS 12 /* per-sample code table: 4096 slots */

struct seen {
	uint64_t addr;
	uint32_t gen;
	int32_t hdr; /* index into hdrs, -1 none */
	uint32_t hot; /* == gen once put in the next hot set */
};

struct py_resolver {
	struct py_target *t;
	const struct py_layout *l;
	struct py_codes *codes;

	/* Code headers read this sample: hot ones first, then the rest. */
	uint32_t nhot;
	uint64_t hot[HOT_MAX];
	int32_t iv_hot; /* the first of the hot headers' requests */
	uint32_t nhdrs, cap_hdrs;
	uint64_t *hdr_addr;
	uint8_t *hdrs; /* cap_hdrs * co_size */
	int *hdr_err;
	uint32_t gen;
	struct seen seen[1u << SEEN_BITS];
	struct mem_batch batch; /* the headers the hot set missed */

	/* py_resolver__stack: the raw entry of each frame named. */
	uint32_t at[PY_MAX_DEPTH];
};

int py_resolver__new(struct py_target *t, struct py_resolver **out)
{
	struct py_resolver *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (!r)
		return -ENOMEM;
	r->t = t;
	r->l = t->layout;
	r->codes = py_codes__new();
	if (!r->codes) {
		free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

void py_resolver__free(struct py_resolver *r)
{
	if (!r)
		return;
	free(r->hdr_addr);
	free(r->hdrs);
	free(r->hdr_err);
	mem_batch__free(&r->batch);
	py_codes__free(r->codes);
	free(r);
}

void py_resolver__trim(struct py_resolver *r)
{
	py_codes__trim(r->codes);
}

/* A slot for a code header; -ENOMEM. */
static int resolver__hdr(struct py_resolver *r, uint64_t addr)
{
	if (r->nhdrs == r->cap_hdrs) {
		uint32_t cap = r->cap_hdrs ? r->cap_hdrs * 2 : 512;
		uint64_t *a = realloc(r->hdr_addr, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		r->hdr_addr = a;
		uint8_t *h = realloc(r->hdrs, (size_t)cap * r->l->co_size);
		if (!h)
			return -ENOMEM;
		r->hdrs = h;
		int *e = realloc(r->hdr_err, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		r->hdr_err = e;
		r->cap_hdrs = cap;
	}
	r->hdr_addr[r->nhdrs] = addr;
	r->hdr_err[r->nhdrs] = -EFAULT;
	return (int)r->nhdrs++;
}

static const uint8_t *resolver__hdr_bytes(const struct py_resolver *r,
					  int32_t h)
{
	return r->hdrs + (size_t)h * r->l->co_size;
}

/* The slot of addr in this sample's code table, or the free slot it
 * would take (gen not this sample's); NULL when the table is full. */
static const struct seen *resolver__seen_slot(const struct py_resolver *r,
					      uint64_t addr)
{
	uint32_t mask = (1u << SEEN_BITS) - 1;
	uint64_t h = (addr >> 4) * 0x9e3779b97f4a7c15ull;
	uint32_t i = (uint32_t)(h >> 40) & mask;

	for (uint32_t probe = 0; probe <= mask; probe++) {
		const struct seen *s = &r->seen[(i + probe) & mask];
		if (s->gen != r->gen || s->addr == addr)
			return s;
	}
	return NULL;
}

static struct seen *resolver__seen(struct py_resolver *r, uint64_t addr)
{
	const struct seen *c = resolver__seen_slot(r, addr);
	if (!c)
		return NULL;
	struct seen *s = &r->seen[c - r->seen];
	if (s->gen != r->gen) {
		s->gen = r->gen;
		s->addr = addr;
		s->hdr = -1;
		s->hot = 0;
	}
	return s;
}

/* This sample's header of code, read without error; NULL if none. */
static const uint8_t *resolver__header(const struct py_resolver *r,
				       uint64_t code)
{
	const struct seen *s = resolver__seen_slot(r, code);

	if (s && s->gen == r->gen && s->hdr >= 0 && !r->hdr_err[s->hdr])
		return resolver__hdr_bytes(r, s->hdr);
	return NULL;
}

int py_resolver__plan(struct py_resolver *r, struct mem_batch *b)
{
	const struct py_layout *l = r->l;

	r->gen++;
	r->nhdrs = 0;
	/* The hot set's headers take slots 0.. of the code table, in one
	 * run of requests: iv_hot is the first's index. */
	r->iv_hot = -1;
	for (uint32_t i = 0; i < r->nhot; i++) {
		int h = resolver__hdr(r, r->hot[i]);
		if (h < 0)
			return h;
		struct seen *s = resolver__seen(r, r->hot[i]);
		if (s)
			s->hdr = h;
		int32_t iv = mem_batch__add(b, r->hot[i],
					    r->hdrs + (size_t)h * l->co_size,
					    l->co_size);
		if (iv < 0)
			return iv;
		if (i == 0)
			r->iv_hot = iv;
	}
	return 0;
}

void py_resolver__collect(struct py_resolver *r, const struct mem_batch *b)
{
	for (uint32_t i = 0; i < r->nhot; i++)
		r->hdr_err[i] = mem_batch__err(b, r->iv_hot + (int32_t)i);
}

uint64_t py_resolver__framesize(const struct py_resolver *r, uint64_t code)
{
	const uint8_t *hdr = resolver__header(r, code);

	if (hdr)
		return pycode__framesize(r->l, hdr);
	const struct py_code *c = py_codes__peek(r->codes, code);
	return c ? c->framesize : 0;
}

int32_t py_resolver__nlocalsplus(const struct py_resolver *r, uint64_t code)
{
	const uint8_t *hdr = resolver__header(r, code);

	if (hdr)
		return pycode__nlocalsplus(r->l, hdr);
	const struct py_code *c = py_codes__peek(r->codes, code);
	return c ? c->nlocalsplus : -1;
}

bool py_resolver__at_call(const struct py_resolver *r, uint64_t code,
			  uint64_t pos)
{
	const struct py_code *c = py_codes__peek(r->codes, code);
	uint64_t at = (r->l->flags & PY_L_LASTI_BYTES) ? pos : 2 * pos;

	/* pos is untrusted: an int read from the frame, maybe -1. */
	if (!c || !c->bytecode || pos >= c->nbytecode || at >= c->nbytecode)
		return false;
	switch (c->bytecode[at]) {
	case 131: /* CALL_FUNCTION: one number in 3.8-3.10 */
	case 141: /* CALL_FUNCTION_KW */
	case 142: /* CALL_FUNCTION_EX */
	case 161: /* CALL_METHOD */ return true;
	default: return false;
	}
}

int py_resolver__headers(struct py_resolver *r,
			 const struct py_rawstack *const *stacks, uint32_t n)
{
	const struct py_layout *l = r->l;
	uint32_t first = r->nhdrs;

	/* Reserve every slot before pointing any request into r->hdrs: a
	 * reservation may move the buffer. */
	for (uint32_t i = 0; i < n; i++) {
		const struct py_rawstack *raw = stacks[i];
		for (uint32_t k = 0; k < raw->depth; k++) {
			const struct py_rawentry *e = &raw->frames[k];
			if (!py_rawentry__is_code(e))
				continue;
			struct seen *sn = resolver__seen(r, e->code);
			if (!sn ||
			    (sn->hdr >= 0 && ((uint32_t)sn->hdr >= first ||
					      !r->hdr_err[sn->hdr])))
				continue;
			int h = resolver__hdr(r, e->code);
			if (h < 0)
				return h;
			sn->hdr = h;
		}
	}
	/* The hot set is made anew from the stacks named next. */
	r->nhot = 0;
	if (r->nhdrs == first)
		return 0;
	/* One run of requests: header h is request h - first. */
	mem_batch__reset(&r->batch);
	for (uint32_t h = first; h < r->nhdrs; h++)
		if (mem_batch__add(&r->batch, r->hdr_addr[h],
				   r->hdrs + (size_t)h * l->co_size,
				   l->co_size) < 0)
			return -ENOMEM;
	int err = mem_batch__read(&r->t->mem, &r->batch);
	if (err)
		return err;
	for (uint32_t h = first; h < r->nhdrs; h++)
		r->hdr_err[h] = mem_batch__err(&r->batch, (int32_t)(h - first));
	return (int)(r->nhdrs - first);
}

/*
 * Free-threaded 3.14+: a thread may run its own copy of a code object's
 * bytecode (co_tlbc[tlbc_index]), and the frame's position points into
 * that copy.  The address to measure the position from, as if it were a
 * code object's (so pyframe__lasti applies unchanged), or 0 if the copy
 * cannot be found.  Copies live as long as their thread, so their start
 * is cached per code object and re-read when a position falls outside.
 */
static uint64_t resolver__tlbc_code(struct py_resolver *r, struct py_code *code,
				    const uint8_t *hdr, int32_t idx,
				    uint64_t pos)
{
	const struct py_layout *l = r->l;
	uint64_t arr, n, base = 0;
	bool cached = idx < 8 && code->tlbc_base[idx];

	if (idx <= 0)
		return code->addr;
	if (cached) {
		base = code->tlbc_base[idx];
		if (pos >= base - 2 && pos - base <= code->nunits * 2)
			return base - l->co_code;
	}
	/* _PyCodeArray { Py_ssize_t size; char *entries[]; } */
	arr = py__u64(hdr, l->co_tlbc);
	if (!arr || mem__read_u64(&r->t->mem, arr, &n) || (uint64_t)idx >= n ||
	    n > 4096 ||
	    mem__read_u64(&r->t->mem, arr + 8 + 8 * (uint64_t)idx, &base) ||
	    !base)
		return 0;
	if (idx < 8)
		code->tlbc_base[idx] = base;
	return base - l->co_code;
}

/* Name one raw entry into fr: 0 or a negative error. */
static int resolver__frame(struct py_resolver *r, const struct py_rawentry *e,
			   struct py_frame *fr)
{
	const struct py_layout *l = r->l;
	struct seen *sn = resolver__seen(r, e->code);
	int err = 0;

	fr->code = NULL;
	fr->addr = e->addr;
	if (sn && sn->hdr >= 0 && !r->hdr_err[sn->hdr])
		fr->code = py_codes__get(r->codes, r->t, e->code,
					 resolver__hdr_bytes(r, sn->hdr), &err);
	if (!fr->code)
		return err ? err : -EFAULT;
	struct py_rawframe rf = {.code = e->code, .pos = e->pos};
	uint64_t from = e->code;
	if ((l->flags & PY_L_TLBC) && e->tlbc > 0)
		from = resolver__tlbc_code(r, fr->code,
					   resolver__hdr_bytes(r, sn->hdr),
					   e->tlbc, rf.pos);
	fr->lasti = from ? pyframe__lasti(l, &rf, from, fr->code->nunits) : -2;
	if (fr->lasti == -2)
		return -PS_ECORRUPT;
	fr->line = fr->lasti < 0
			   ? fr->code->firstlineno
			   : py_lines__lookup(&fr->code->lines, fr->lasti);
	if (sn->hot != r->gen && r->nhot < HOT_MAX) {
		sn->hot = r->gen;
		r->hot[r->nhot++] = e->code;
	}
	return 0;
}

/*
 * How many of the innermost of the depth frames named are stale.  A
 * frame that has not run its first instruction has made no call, so
 * whatever sits above it is a callee of an earlier call that returned
 * while the stack was copied (the slot reused by a call of the same
 * function).  And a callee is pushed where its caller's frame ends: one
 * that sits elsewhere in the caller's chunk is left over from an earlier
 * call whose slot the caller has since reused for a frame of another
 * size, and it and everything above it are stale.
 */
static uint32_t resolver__stale(const struct py_resolver *r,
				const struct py_rawstack *raw,
				const struct py_frame *fr, uint32_t depth)
{
	uint32_t k = depth;

	while (k > 1 && fr[k - 1].lasti >= 0)
		k--;
	k = k > 1 ? k - 1 : 0; /* fr[k]: the deepest unstarted caller */
	for (uint32_t i = depth - 1; i > k && i >= 1; i--) {
		const struct py_rawentry *caller = &raw->frames[r->at[i]],
					 *callee = &raw->frames[r->at[i - 1]];
		uint64_t size = fr[i].code->framesize;

		/* Only a callee right above its caller in the same chunk
		 * can be placed; a shim between them ends a C call. */
		if (r->at[i] != r->at[i - 1] + 1 ||
		    callee->chunk == PY_RAW_NO_CHUNK ||
		    callee->chunk != caller->chunk || !size)
			continue;
		if (!pyframe__callee_at(caller->addr, size, callee->addr))
			return i;
	}
	return k;
}

int py_resolver__stack(struct py_resolver *r, const struct py_rawstack *raw,
		       struct py_frame *out, uint32_t *depth, uint32_t *dropped)
{
	uint32_t n = 0;

	*depth = 0;
	*dropped = 0;
	for (uint32_t k = 0; k < raw->depth && n < PY_MAX_DEPTH; k++) {
		const struct py_rawentry *e = &raw->frames[k];
		if (!py_rawentry__is_code(e))
			continue;
		int err = resolver__frame(r, e, &out[n]);
		if (err)
			return err;
		if (out[n].code->shim)
			continue; /* its neighbours then skip the slot check */
		r->at[n++] = k;
	}
	if (!n)
		return 0;
	uint32_t k = resolver__stale(r, raw, out, n);
	if (k) {
		memmove(out, out + k, (n - k) * sizeof(out[0]));
		n -= k;
	}
	*dropped = k;
	*depth = n;
	return 0;
}
