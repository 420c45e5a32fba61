/*
 * symbols.c - the code-object cache: names, file and line table of each
 * code object a sample has seen, read from the target once.
 *
 * Lookups run for every frame of every sample, so the table is an
 * open-addressing hash on the address.  Misses read the target (a few
 * small batched reads) and are rare once a program has warmed up.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "psample/error.h"
#include "psample/hash.h"
#include "psample/symbols.h"

#define STR_MAX_CHARS 4096
#define LINETABLE_MAX (1u << 20)
#define CODES_MAX (1u << 20)

struct py_codes {
	struct py_code **slots; /* open addressing, NULL = empty */
	uint32_t cap; /* power of two */
	uint32_t n;
	uint64_t loads;
};

/* The last serial handed to an entry (struct py_code). */
static uint64_t code_serial;

struct py_codes *py_codes__new(void)
{
	struct py_codes *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->cap = 1024;
	c->slots =
		calloc(c->cap,
		       sizeof(*c->slots)); // NOLINT(bugprone-sizeof-expression)
	if (!c->slots) {
		free(c);
		return NULL;
	}
	return c;
}

static void code__free(struct py_code *e)
{
	if (!e)
		return;
	free(e->name);
	if (e->qualname != e->name)
		free(e->qualname);
	free(e->filename);
	free(e->bytecode);
	py_lines__release(&e->lines);
	free(e);
}

static void codes__clear(struct py_codes *c)
{
	for (uint32_t i = 0; i < c->cap; i++) {
		code__free(c->slots[i]);
		c->slots[i] = NULL;
	}
	c->n = 0;
}

void py_codes__free(struct py_codes *c)
{
	if (!c)
		return;
	codes__clear(c);
	free(c->slots);
	free(c);
}

void py_codes__trim(struct py_codes *c)
{
	/* A program that makes code objects without end (exec, lambdas in
	 * a loop): start over rather than grow without bound. */
	if (c->n >= CODES_MAX)
		codes__clear(c);
}

uint64_t py_codes__count(const struct py_codes *c)
{
	return c->n;
}

uint64_t py_codes__loads(const struct py_codes *c)
{
	return c->loads;
}

static uint32_t codes__slot(const struct py_codes *c, uint64_t addr)
{
	uint32_t mask = c->cap - 1, i = (uint32_t)hash__mix64(addr) & mask;

	while (c->slots[i] && c->slots[i]->addr != addr)
		i = (i + 1) & mask;
	return i;
}

const struct py_code *py_codes__peek(const struct py_codes *c, uint64_t addr)
{
	if (!c->cap)
		return NULL;
	return c->slots[codes__slot(c, addr)];
}

static int codes__grow(struct py_codes *c)
{
	uint32_t cap = c->cap * 2;
	struct py_code *
		*old = c->slots,
	       **slots = calloc(
		       cap,
		       sizeof(*slots)); // NOLINT(bugprone-sizeof-expression)
	uint32_t oldcap = c->cap;

	if (!slots)
		return -ENOMEM;
	c->slots = slots;
	c->cap = cap;
	for (uint32_t i = 0; i < oldcap; i++)
		if (old[i])
			c->slots[codes__slot(c, old[i]->addr)] = old[i];
	free(old);
	return 0;
}

/* Append code point cp as UTF-8; surrogates are kept (3 bytes) so a
 * writer that needs the exact name (marshal) still has it. */
static size_t utf8__put(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	if (cp > 0x10ffff)
		cp = 0xfffd;
	if (cp == 0xfffd)
		return utf8__put(out, cp);
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static bool str__canonical(uint32_t ascii, uint32_t kind, uint32_t top,
			   bool whole)
{
	static const uint32_t floor[5] = {0, 0x80, 0x100, 0, 0x10000};

	if (ascii)
		return top < 0x80;
	if (top > (kind == 1 ? 0xffu : kind == 2 ? 0xffffu : 0x10ffffu))
		return false;
	/* The largest code point may lie in the part not read. */
	return !whole || top >= floor[kind];
}

char *py_str__read(struct py_target *t, uint64_t addr, uint32_t max, int *err)
{
	const struct py_layout *l = t->layout;
	uint8_t hdr[128];

	*err = 0;
	if (!addr || l->str_compact_data > sizeof(hdr)) {
		*err = -PS_ECORRUPT;
		return NULL;
	}
	/* Only the ASCII header: a short ASCII string is smaller than the
	 * compact header and may end where its mapping ends. */
	*err = mem__read(&t->mem, addr, hdr, l->str_ascii_data);
	if (*err)
		return NULL;
	int64_t len = (int64_t)py__u64(hdr, l->str_length);
	uint32_t state = (uint32_t)py__i32(hdr, l->str_state);
	uint32_t shift = l->str_kind_shift ? l->str_kind_shift : 2;
	uint32_t kind = (state >> shift) & 7,
		 compact = (state >> (shift + 3)) & 1;
	uint32_t ascii = (state >> (shift + 4)) & 1;

	if (len < 0 || !compact || (kind != 1 && kind != 2 && kind != 4) ||
	    (ascii && kind != 1) ||
	    (t->str_type && py__u64(hdr, l->ob_type) != t->str_type)) {
		*err = -PS_ECORRUPT;
		return NULL;
	}
	bool whole = len <= max;
	if (len > max)
		len = max;
	size_t bytes = (size_t)len * kind;
	uint64_t data =
		addr + (ascii ? l->str_ascii_data : l->str_compact_data);
	uint8_t *raw = malloc(bytes + 1);
	char *out = malloc((size_t)len * 4 + 1);
	if (!raw || !out) {
		free(raw);
		free(out);
		*err = -ENOMEM;
		return NULL;
	}
	if (bytes && (*err = mem__read(&t->mem, data, raw, bytes))) {
		free(raw);
		free(out);
		return NULL;
	}
	size_t o = 0;
	uint32_t top = 0;
	for (int64_t i = 0; i < len; i++) {
		uint32_t cp;
		if (kind == 1) {
			cp = raw[i];
		} else if (kind == 2) {
			uint16_t u;
			memcpy(&u, raw + i * 2, 2);
			cp = u;
		} else {
			memcpy(&cp, raw + i * 4, 4);
		}
		if (cp > top)
			top = cp;
		o += utf8__put(out + o, cp);
	}
	out[o] = '\0';
	free(raw);
	/* CPython stores each string in the narrowest kind that holds its
	 * largest code point.  Bytes that break that rule are not a live
	 * string: one being built or freed while it was read (a debug build
	 * fills both with 0xcd/0xdd). */
	if (!str__canonical(ascii, kind, top, whole)) {
		free(out);
		*err = -PS_ECORRUPT;
		return NULL;
	}
	return out;
}

/* Read the whole bytes object at addr (the line table). */
static uint8_t *bytes__read(struct py_target *t, uint64_t addr, size_t *len,
			    int *err)
{
	const struct py_layout *l = t->layout;
	uint8_t hdr[64];
	int64_t n;

	*err = mem__read(&t->mem, addr, hdr, l->bytes_data);
	if (*err)
		return NULL;
	n = (int64_t)py__u64(hdr, l->bytes_size);
	if (n < 0 || n > LINETABLE_MAX) {
		*err = -PS_ECORRUPT;
		return NULL;
	}
	uint8_t *buf = malloc((size_t)n + 1);
	if (!buf) {
		*err = -ENOMEM;
		return NULL;
	}
	if (n &&
	    (*err = mem__read(&t->mem, addr + l->bytes_data, buf, (size_t)n))) {
		free(buf);
		return NULL;
	}
	*len = (size_t)n;
	return buf;
}

/* The strings were read after the header, and a code object's strings
 * can die with it: 3.11 frees a module's "<module>" with the last module
 * code that held it, and the next import builds one at the same place.
 * What was read is the code's only if the code is still there after. */
static int code__still(struct py_target *t, uint64_t addr, uint64_t ident)
{
	const struct py_layout *l = t->layout;
	uint8_t now[PY_MAX_READ];
	int err;

	if (l->co_size > sizeof(now))
		return -PS_ECORRUPT;
	if ((err = mem__read(&t->mem, addr, now, l->co_size)))
		return err;
	return pycode__ident(l, now) == ident ? 0 : -PS_ECORRUPT;
}

static struct py_code *code__load(struct py_target *t, uint64_t addr,
				  const uint8_t *hdr, int *err)
{
	const struct py_layout *l = t->layout;
	struct py_code *e = calloc(1, sizeof(*e));
	uint8_t *table = NULL;
	size_t tlen = 0;

	if (!e) {
		*err = -ENOMEM;
		return NULL;
	}
	e->addr = addr;
	e->serial = __atomic_add_fetch(&code_serial, 1, __ATOMIC_RELAXED);
	e->ident = pycode__ident(l, hdr);
	e->firstlineno = py__i32(hdr, l->co_firstlineno);
	e->framesize = pycode__framesize(l, hdr);
	e->nlocalsplus = pycode__nlocalsplus(l, hdr);
	if (l->ob_size)
		e->nunits = py__u64(hdr, l->ob_size);
	e->name = py_str__read(t, py__u64(hdr, l->co_name), 1024, err);
	if (!e->name)
		goto fail;
	if (l->flags & PY_L_QUALNAME) {
		e->qualname = py_str__read(t, py__u64(hdr, l->co_qualname),
					   1024, err);
		if (!e->qualname)
			goto fail;
	} else {
		e->qualname = e->name;
	}
	e->filename = py_str__read(t, py__u64(hdr, l->co_filename),
				   STR_MAX_CHARS, err);
	if (!e->filename)
		goto fail;
	/* _Py_InitCleanup is a static code object, local to libpython (no
	 * symbol in stripped builds): what names it is that its name,
	 * qualified name and file name are all "__init__". */
	e->shim = !strcmp(e->name, "__init__") &&
		  !strcmp(e->qualname, "__init__") &&
		  !strcmp(e->filename, "__init__");
	if (l->co_bytecode) {
		size_t n = 0;
		e->bytecode =
			bytes__read(t, py__u64(hdr, l->co_bytecode), &n, err);
		if (!e->bytecode)
			goto fail;
		e->nbytecode = n;
	}
	table = bytes__read(t, py__u64(hdr, l->co_linetable), &tlen, err);
	if (!table)
		goto fail;
	*err = py_lines__build(&e->lines, (enum py_linetable_kind)l->linetable,
			       table, tlen, e->firstlineno);
	free(table);
	if (*err)
		goto fail;
	if ((*err = code__still(t, addr, e->ident)))
		goto fail;
	return e;
fail:
	code__free(e);
	return NULL;
}

struct py_code *py_codes__get(struct py_codes *c, struct py_target *t,
			      uint64_t addr, const uint8_t *hdr, int *err)
{
	const struct py_layout *l = t->layout;
	uint64_t ident;
	uint32_t i;

	*err = 0;
	if (py__u64(hdr, l->ob_type) != t->code_type) {
		*err = -PS_ECORRUPT;
		return NULL;
	}
	ident = pycode__ident(l, hdr);
	i = codes__slot(c, addr);
	if (c->slots[i]) {
		if (c->slots[i]->ident == ident)
			return c->slots[i];
		/* The address was reused by another code object. */
		struct py_code *e = code__load(t, addr, hdr, err);
		if (!e)
			return NULL;
		code__free(c->slots[i]);
		c->slots[i] = e;
		c->loads++;
		return e;
	}
	if ((c->n + 1) * 10 > c->cap * 7) {
		if ((*err = codes__grow(c)))
			return NULL;
		i = codes__slot(c, addr);
	}
	struct py_code *e = code__load(t, addr, hdr, err);
	if (!e)
		return NULL;
	c->slots[i] = e;
	c->n++;
	c->loads++;
	return e;
}
