/*
 * threadname.c - a threading.Thread's name, read from the target.
 *
 * The walker finds a threading thread's Thread object as the first local
 * (self) of its outermost frames, Thread._bootstrap and _bootstrap_inner.
 * Its name is the instance attribute _name, so this file does what
 * getattr does for an instance attribute, by hand: find the instance's
 * dict or values (where depends on the version: tp_dictoffset before
 * 3.11, the managed dict or values before the object in 3.11/3.12, the
 * inline values after it from 3.13), then the key "_name" among the keys
 * (the dict's own, or the type's shared ht_cached_keys for split values).
 *
 * Everything is untrusted: every object's type pointer is checked (the
 * instance's type must be a heap type, the dict a dict, keys and the
 * value exact str), sizes are bounded, at most MAX_ENTRIES keys are
 * looked at, and any doubt gives an error, never a guessed name.  It
 * costs a handful of reads, which is why the walker calls it only for a
 * new thread and then about once a second.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "psample/error.h"
#include "psample/symbols.h"
#include "threadname.h"

#define MAX_ENTRIES 128
#define KEY_MAX_HDR 128
#define TPF_INLINE_VALUES (1ull << 2) /* 3.13+ */
#define TPF_MANAGED_DICT (1ull << 4) /* 3.11+ */
#define TPF_HEAPTYPE (1ull << 9)
/* dk_kind in 3.11+: DICT_KEYS_GENERAL has {hash, key, value} entries,
 * UNICODE and SPLIT {key, value}. */
#define DK_GENERAL 0
#define DK_SPLIT 2

/*
 * Where a keys object's entries are.  PyDictKeysObject, the same in
 * every version of a family (offsetof() against the 3.11-3.15 headers;
 * Objects/dict-common.h for 3.8-3.10, which is not installed):
 * 3.8-3.10 {refcnt, dk_size @8, dk_lookup, dk_usable, dk_nentries @32,
 * indices @40}, indices of 1, 2, 4 or 8 bytes by dk_size; 3.11+
 * {refcnt, log2_size @8, log2_index_bytes @9, kind @10, version, usable,
 * nentries @24, indices @32}.
 */
struct keys {
	uint64_t entries;
	uint32_t n; /* entries to look at */
	uint32_t esize, ekey, evalue;
	int kind; /* 3.11+: dk_kind; -1 before */
};

static int keys__read(struct py_target *t, uint64_t addr, struct keys *k)
{
	const struct py_layout *l = t->layout;
	uint8_t h[40];
	int64_t n;
	int err;

	if (!addr)
		return -PS_ECORRUPT;
	if (l->flags & PY_L_DICT_LOG2) {
		if ((err = mem__read(&t->mem, addr, h, 32)))
			return err;
		uint32_t log2 = h[8], log2ix = h[9];
		n = (int64_t)py__u64(h, 24);
		if (log2 < 3 || log2 > 30 || log2ix < log2 ||
		    log2ix > log2 + 3 || h[10] > DK_SPLIT || n < 0 ||
		    n > ((int64_t)1 << log2))
			return -PS_ECORRUPT;
		k->kind = h[10];
		k->entries = addr + 32 + (1ull << log2ix);
		k->esize = k->kind == DK_GENERAL ? 24 : 16;
		k->ekey = k->kind == DK_GENERAL ? 8 : 0;
	} else {
		if ((err = mem__read(&t->mem, addr, h, 40)))
			return err;
		uint64_t size = py__u64(h, 8);
		n = (int64_t)py__u64(h, 32);
		if (size < 8 || size > (1ull << 30) || (size & (size - 1)) ||
		    n < 0 || (uint64_t)n > size)
			return -PS_ECORRUPT;
		uint64_t ix = size <= 0xff ? 1 : size <= 0xffff ? 2 : 4;
		k->kind = -1;
		k->entries = addr + 40 + size * ix;
		k->esize = 24;
		k->ekey = 8;
	}
	k->evalue = k->ekey + 8;
	k->n = n > MAX_ENTRIES ? MAX_ENTRIES : (uint32_t)n;
	return 0;
}

/* Whether hdr (str_ascii_data + 8 bytes of the object) is the exact str
 * want, compact ASCII, as interned attribute names are. */
static bool key__is(const struct py_target *t, const uint8_t *hdr,
		    const char *want)
{
	const struct py_layout *l = t->layout;
	size_t len = strlen(want);
	uint32_t state = (uint32_t)py__i32(hdr, l->str_state);
	uint32_t shift = l->str_kind_shift ? l->str_kind_shift : 2;

	return py__u64(hdr, l->ob_type) == t->str_type &&
	       py__u64(hdr, l->str_length) == len &&
	       ((state >> shift) & 7) == 1 && ((state >> (shift + 3)) & 1) &&
	       ((state >> (shift + 4)) & 1) &&
	       !memcmp(hdr + l->str_ascii_data, want, len);
}

/*
 * The index of the entry whose key is the str want, and that entry's
 * value word (NULL in a split table).  Keys are read in one batch.
 */
static int keys__find(struct py_target *t, const struct keys *k,
		      const char *want, uint32_t *ix, uint64_t *value)
{
	const struct py_layout *l = t->layout;
	uint32_t hlen = l->str_ascii_data + 8;
	uint8_t *ent = NULL, *hdrs = NULL;
	struct mem_iov *iov = NULL;
	uint32_t niov = 0;
	uint32_t *which = NULL;
	int err;

	if (!k->n)
		return -PS_ECORRUPT;
	if (hlen > KEY_MAX_HDR || l->str_length + 8 > hlen ||
	    l->str_state + 4 > hlen || l->ob_type + 8 > hlen)
		return -PS_EUNSUPPORTED;
	ent = malloc((size_t)k->n * k->esize);
	hdrs = malloc((size_t)k->n * hlen);
	iov = malloc(k->n * sizeof(*iov));
	which = malloc(k->n * sizeof(*which));
	err = -ENOMEM;
	if (!ent || !hdrs || !iov || !which)
		goto out;
	if ((err = mem__read(&t->mem, k->entries, ent,
			     (size_t)k->n * k->esize)))
		goto out;
	for (uint32_t i = 0; i < k->n; i++) {
		uint64_t key = py__u64(ent + (size_t)i * k->esize, k->ekey);
		if (!key)
			continue; /* a deleted entry */
		which[niov] = i;
		iov[niov] = (struct mem_iov){.addr = key,
					     .buf = hdrs + (size_t)niov * hlen,
					     .len = hlen};
		niov++;
	}
	if ((err = mem__readv(&t->mem, iov, niov)))
		goto out;
	err = -PS_ECORRUPT;
	for (uint32_t j = 0; j < niov; j++) {
		if (iov[j].err || !key__is(t, hdrs + (size_t)j * hlen, want))
			continue;
		*ix = which[j];
		*value = py__u64(ent + (size_t)which[j] * k->esize, k->evalue);
		err = 0;
		break;
	}
out:
	free(ent);
	free(hdrs);
	free(iov);
	free(which);
	return err;
}

/*
 * The value of attribute want given the keys and, for a split table, the
 * values array (values[0] at values + values_data; capacity 0 unknown).
 */
static int attr__lookup(struct py_target *t, uint64_t keys_addr,
			uint64_t values, uint32_t capacity, const char *want,
			uint64_t *out)
{
	const struct py_layout *l = t->layout;
	struct keys k;
	uint32_t ix;
	uint64_t v;
	int err;

	if ((err = keys__read(t, keys_addr, &k)) ||
	    (err = keys__find(t, &k, want, &ix, &v)))
		return err;
	if (values) {
		/* Shared keys: the values array holds the values. */
		if (k.kind >= 0 && k.kind != DK_SPLIT)
			return -PS_ECORRUPT;
		if (capacity && ix >= capacity)
			return -PS_ECORRUPT;
		err = mem__read_u64(&t->mem,
				    values + l->values_data + 8ull * ix, &v);
		if (err)
			return err;
	}
	if (!v)
		return -PS_ECORRUPT;
	*out = v;
	return 0;
}

/* Look want up in the dict object at dict. */
static int dict__lookup(struct py_target *t, uint64_t dict, const char *want,
			uint64_t *out)
{
	const struct py_layout *l = t->layout;
	uint8_t h[256];
	uint32_t len =
		l->dict_keys > l->dict_values ? l->dict_keys : l->dict_values;
	int err;

	len += 8;
	if (!dict || len > sizeof(h) || l->ob_type + 8 > len)
		return -PS_ECORRUPT;
	if ((err = mem__read(&t->mem, dict, h, len)))
		return err;
	if (py__u64(h, l->ob_type) != t->dict_type)
		return -PS_ECORRUPT;
	uint64_t values = py__u64(h, l->dict_values);
	uint32_t capacity = 0;
	if (values && (l->flags & PY_L_INLINE_VALUES)) {
		uint8_t vh[8];
		if ((err = mem__read(&t->mem, values, vh, sizeof(vh))))
			return err;
		capacity = vh[0];
	}
	return attr__lookup(t, py__u64(h, l->dict_keys), values, capacity, want,
			    out);
}

/* The instance attribute want of the object at obj: its value's address. */
static int obj__attr(struct py_target *t, uint64_t obj, const char *want,
		     uint64_t *out)
{
	const struct py_layout *l = t->layout;
	uint64_t type, meta, flags, basicsize, dictoffset, cached, word;
	struct mem_iov iov[5];
	int err;

	if ((err = mem__read_u64(&t->mem, obj + l->ob_type, &type)))
		return err;
	if (!type)
		return -PS_ECORRUPT;
	iov[0] = (struct mem_iov){type + l->ob_type, &meta, 8, 0};
	iov[1] = (struct mem_iov){type + l->tp_flags, &flags, 8, 0};
	iov[2] = (struct mem_iov){type + l->tp_basicsize, &basicsize, 8, 0};
	iov[3] = (struct mem_iov){type + l->tp_dictoffset, &dictoffset, 8, 0};
	iov[4] = (struct mem_iov){type + l->ht_cached_keys, &cached, 8, 0};
	if ((err = mem__readv(&t->mem, iov, 5)))
		return err;
	for (int i = 0; i < 5; i++)
		if (iov[i].err)
			return iov[i].err;
	/* A class statement's type: a heap type whose metatype is type (or
	 * a metaclass, itself of type type). */
	if (!(flags & TPF_HEAPTYPE))
		return -PS_ECORRUPT;
	if (meta != t->type_type) {
		uint64_t mm;
		if (!meta || mem__read_u64(&t->mem, meta + l->ob_type, &mm) ||
		    mm != t->type_type)
			return -PS_ECORRUPT;
	}
	if (!(l->flags & PY_L_MANAGED_DICT) || !(flags & TPF_MANAGED_DICT)) {
		/* A dict pointer at tp_dictoffset (negative: a variable-size
		 * object, which a Thread is not). */
		if ((int64_t)dictoffset <= 0 || dictoffset > 4096)
			return -PS_ECORRUPT;
		if ((err = mem__read_u64(&t->mem, obj + dictoffset, &word)))
			return err;
		return dict__lookup(t, word, want, out);
	}
	if ((l->flags & PY_L_INLINE_VALUES) && (flags & TPF_INLINE_VALUES)) {
		/* PyDictValues {capacity, size, embedded, valid, values[]}
		 * right after the object, while valid. */
		uint8_t vh[8];
		if (basicsize < 16 || basicsize > 4096)
			return -PS_ECORRUPT;
		if ((err = mem__read(&t->mem, obj + basicsize, vh, sizeof(vh))))
			return err;
		if (vh[3])
			return attr__lookup(t, cached, obj + basicsize, vh[0],
					    want, out);
	}
	if (l->managed_values) {
		/* 3.11: values before the dict pointer, NULL once a dict
		 * was made. */
		uint64_t values;
		if ((err = mem__read_u64(
			     &t->mem,
			     obj + (uint64_t)(int64_t)l->managed_values,
			     &values)))
			return err;
		if (values)
			return attr__lookup(t, cached, values, 0, want, out);
	}
	if ((err = mem__read_u64(
		     &t->mem, obj + (uint64_t)(int64_t)l->managed_dict, &word)))
		return err;
	if ((l->flags & PY_L_DICT_OR_VALUES) && (word & 1))
		/* 3.12 keeps values - 1 there, tagged by the odd address. */
		return attr__lookup(t, cached, word + 1, 0, want, out);
	return dict__lookup(t, word, want, out);
}

int py_frame__self(struct py_target *t, uint64_t frame, uint64_t *obj)
{
	const struct py_layout *l = t->layout;
	uint64_t v;
	int err;

	if (!l->fr_localsplus)
		return -PS_EUNSUPPORTED;
	if ((err = mem__read_u64(&t->mem, frame + l->fr_localsplus, &v)))
		return err;
	/* 3.14+ locals are _PyStackRefs: the low bits are tags. */
	v &= ~(uint64_t)7;
	if (!v)
		return -PS_ECORRUPT;
	*obj = v;
	return 0;
}

int py_thread__name(struct py_target *t, uint64_t obj, char *out)
{
	const struct py_layout *l = t->layout;
	uint64_t v, type;
	int err;

	out[0] = '\0';
	if (!l->fr_localsplus || !l->tp_flags || !t->str_type ||
	    !t->dict_type || !t->type_type)
		return -PS_EUNSUPPORTED;
	if ((err = obj__attr(t, obj, "_name", &v)))
		return err;
	if ((err = mem__read_u64(&t->mem, v + l->ob_type, &type)))
		return err;
	if (type != t->str_type)
		return -PS_ECORRUPT;
	char *s = py_str__read(t, v, PY_NAME_MAX, &err);
	if (!s)
		return err ? err : -PS_ECORRUPT;
	size_t n = strlen(s);
	if (n > PY_NAME_MAX) {
		/* Cut before a continuation byte's character. */
		n = PY_NAME_MAX;
		while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	/* A control character would break line-based outputs. */
	for (size_t i = 0; i < n; i++)
		out[i] =
			(unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	out[n] = '\0';
	free(s);
	return 0;
}
