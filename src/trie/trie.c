/*
 * trie.c - the stack trie every sample is aggregated into.
 *
 * Three tables, all open addressing with power-of-two capacities:
 *  - strings: every distinct string once, in arena blocks that never move,
 *    so interned pointers stay valid for the trie's lifetime;
 *  - frames: struct ps_frame values whose strings point into the string
 *    table, so two frames are equal exactly when their fields (pointers
 *    included) are equal;
 *  - nodes: (parent, frame) -> child, the hot path of every sample.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "psample/function.h"
#include "psample/hash.h"
#include "psample/trie.h"

#define STR_BLOCK_SIZE (64 * 1024)
#define INITIAL_SLOTS 1024u

/* Grow past 70% load: linear probing degrades quickly above that. */
static bool table__needs_grow(size_t used, size_t cap)
{
	return (used + 1) * 10 > cap * 7;
}

struct str_block {
	struct str_block *next;
	size_t used;
	size_t cap;
	char data[];
};

struct str_slot {
	uint64_t hash;
	const char *s; /* NULL: empty slot */
};

struct strtab {
	struct str_block *blocks;
	struct str_slot *slots;
	size_t cap; /* power of two */
	size_t count;
};

/* A node-table slot.  Node 0 (the root) is never a child: 0 marks empty. */
struct node_slot {
	uint32_t parent;
	uint32_t frame;
	uint32_t node;
};

struct trie {
	struct strtab strs;

	struct ps_frame *frames;
	uint32_t nframes;
	uint32_t frames_cap;
	uint32_t *frame_slots; /* frame id + 1; 0 is empty */
	size_t frame_slots_cap;

	struct trie_node *nodes;
	uint32_t nnodes;
	uint32_t nodes_cap;
	struct node_slot *node_slots;
	size_t node_slots_cap;

	uint64_t total;
};

static uint64_t str__hash(const char *s, size_t len)
{
	uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ len;
	uint64_t w;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, s + i, 8);
		h = hash__mix64(h ^ w) + UINT64_C(0x9e3779b97f4a7c15);
	}
	w = 0;
	memcpy(&w, s + i, len - i);
	return hash__mix64(h ^ w);
}

static void strtab__free(struct strtab *st)
{
	struct str_block *b = st->blocks;

	while (b) {
		struct str_block *next = b->next;

		free(b);
		b = next;
	}
	free(st->slots);
}

/* Copy len bytes of s and a NUL into the arena.  NULL on ENOMEM. */
static char *strtab__store(struct strtab *st, const char *s, size_t len)
{
	struct str_block *b = st->blocks;
	char *p;

	if (!b || b->cap - b->used < len + 1) {
		/*
		 * A long string gets a block of its own, linked behind the
		 * current one, so the current block's free space is not
		 * wasted.
		 */
		size_t cap =
			len + 1 > STR_BLOCK_SIZE / 4 ? len + 1 : STR_BLOCK_SIZE;

		b = malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->used = 0;
		b->cap = cap;
		if (cap != STR_BLOCK_SIZE && st->blocks) {
			b->next = st->blocks->next;
			st->blocks->next = b;
		} else {
			b->next = st->blocks;
			st->blocks = b;
		}
	}
	p = b->data + b->used;
	memcpy(p, s, len);
	p[len] = '\0';
	b->used += len + 1;
	return p;
}

static int strtab__grow(struct strtab *st)
{
	size_t cap = st->cap ? st->cap * 2 : INITIAL_SLOTS;
	struct str_slot *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < st->cap; i++) {
		size_t j;

		if (!st->slots[i].s)
			continue;
		j = st->slots[i].hash & (cap - 1);
		while (slots[j].s)
			j = (j + 1) & (cap - 1);
		slots[j] = st->slots[i];
	}
	free(st->slots);
	st->slots = slots;
	st->cap = cap;
	return 0;
}

/* The interned copy of s (NULL stays NULL).  -ENOMEM. */
static int strtab__intern(struct strtab *st, const char *s, const char **out)
{
	size_t len, i;
	uint64_t h;
	char *copy;

	if (!s) {
		*out = NULL;
		return 0;
	}
	if (table__needs_grow(st->count, st->cap)) {
		int err = strtab__grow(st);

		if (err)
			return err;
	}
	len = strlen(s);
	h = str__hash(s, len);
	for (i = h & (st->cap - 1); st->slots[i].s;
	     i = (i + 1) & (st->cap - 1)) {
		if (st->slots[i].hash == h && !strcmp(st->slots[i].s, s)) {
			*out = st->slots[i].s;
			return 0;
		}
	}
	copy = strtab__store(st, s, len);
	if (!copy)
		return -ENOMEM;
	st->slots[i].hash = h;
	st->slots[i].s = copy;
	st->count++;
	*out = copy;
	return 0;
}

/* Hash of a frame whose strings are already interned (pointers compare). */
static uint64_t frame__hash(const struct ps_frame *f)
{
	uint64_t h;

	h = hash__mix64(((uint64_t)f->kind << 32) | (uint32_t)f->firstlineno);
	h = hash__mix64(h ^ (uint32_t)f->line);
	h = hash__mix64(h ^ f->num);
	h = hash__mix64(h ^ (uint64_t)(uintptr_t)f->name);
	h = hash__mix64(h ^ (uint64_t)(uintptr_t)f->file);
	h = hash__mix64(h ^ (uint64_t)(uintptr_t)f->func);
	return h;
}

static bool frame__equal(const struct ps_frame *a, const struct ps_frame *b)
{
	return a->kind == b->kind && a->firstlineno == b->firstlineno &&
	       a->line == b->line && a->num == b->num && a->name == b->name &&
	       a->file == b->file && a->func == b->func;
}

static inline size_t node__slot(uint32_t parent, uint32_t frame, size_t mask)
{
	return hash__mix64(((uint64_t)parent << 32) | frame) & mask;
}

static int trie__grow_frame_slots(struct trie *t)
{
	size_t cap = t->frame_slots_cap * 2;
	uint32_t *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (uint32_t id = 0; id < t->nframes; id++) {
		size_t j = frame__hash(&t->frames[id]) & (cap - 1);

		while (slots[j])
			j = (j + 1) & (cap - 1);
		slots[j] = id + 1;
	}
	free(t->frame_slots);
	t->frame_slots = slots;
	t->frame_slots_cap = cap;
	return 0;
}

static int trie__grow_node_slots(struct trie *t)
{
	size_t cap = t->node_slots_cap * 2;
	size_t mask = cap - 1;
	struct node_slot *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < t->node_slots_cap; i++) {
		const struct node_slot *s = &t->node_slots[i];
		size_t j;

		if (!s->node)
			continue;
		j = node__slot(s->parent, s->frame, mask);
		while (slots[j].node)
			j = (j + 1) & mask;
		slots[j] = *s;
	}
	free(t->node_slots);
	t->node_slots = slots;
	t->node_slots_cap = cap;
	return 0;
}

/*
 * Double an array indexed by uint32_t ids.  NULL on ENOMEM (arr is kept);
 * ids stay below UINT32_MAX so every count fits its type.
 */
static void *array__grow(void *arr, uint32_t *cap, size_t elem)
{
	void *p;

	if (*cap >= UINT32_MAX / 2)
		return NULL;
	p = realloc(arr, (size_t)*cap * 2 * elem);
	if (p)
		*cap *= 2;
	return p;
}

struct trie *trie__new(void)
{
	struct trie *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->frames_cap = INITIAL_SLOTS / 2;
	/* calloc: the analyzer cannot see that probing only reaches
	 * interned frames. */
	t->frames = calloc(t->frames_cap, sizeof(*t->frames));
	t->frame_slots_cap = INITIAL_SLOTS;
	t->frame_slots = calloc(t->frame_slots_cap, sizeof(*t->frame_slots));
	t->nodes_cap = INITIAL_SLOTS / 2;
	t->nodes = malloc(t->nodes_cap * sizeof(*t->nodes));
	t->node_slots_cap = INITIAL_SLOTS;
	t->node_slots = calloc(t->node_slots_cap, sizeof(*t->node_slots));
	if (!t->frames || !t->frame_slots || !t->nodes || !t->node_slots) {
		trie__free(t);
		return NULL;
	}
	t->nodes[0] = (struct trie_node){.parent = 0, .frame = 0, .self = 0};
	t->nnodes = 1;
	return t;
}

void trie__free(struct trie *t)
{
	if (!t)
		return;
	strtab__free(&t->strs);
	free(t->frames);
	free(t->frame_slots);
	free(t->nodes);
	free(t->node_slots);
	free(t);
}

int trie__intern(struct trie *t, const struct ps_frame *f, uint32_t *id)
{
	struct ps_frame key = *f;
	size_t mask, i;
	uint64_t h;
	int err;

	/* A new string implies a new frame, so interning first wastes nothing.
	 */
	err = strtab__intern(&t->strs, f->name, &key.name);
	if (!err)
		err = strtab__intern(&t->strs, f->file, &key.file);
	if (!err)
		err = strtab__intern(&t->strs, f->func, &key.func);
	if (err)
		return err;

	if (table__needs_grow(t->nframes, t->frame_slots_cap)) {
		err = trie__grow_frame_slots(t);
		if (err)
			return err;
	}
	h = frame__hash(&key);
	mask = t->frame_slots_cap - 1;
	for (i = h & mask; t->frame_slots[i]; i = (i + 1) & mask) {
		uint32_t cand = t->frame_slots[i] - 1;

		if (frame__equal(&t->frames[cand], &key)) {
			*id = cand;
			return 0;
		}
	}
	if (t->nframes == t->frames_cap) {
		struct ps_frame *p =
			array__grow(t->frames, &t->frames_cap, sizeof(*p));

		if (!p)
			return -ENOMEM;
		t->frames = p;
	}
	t->frames[t->nframes] = key;
	t->frame_slots[i] = t->nframes + 1;
	*id = t->nframes++;
	return 0;
}

int trie__child(struct trie *t, uint32_t parent, uint32_t frame, uint32_t *node)
{
	size_t mask = t->node_slots_cap - 1;
	size_t i;
	int err;

	if (parent >= t->nnodes || frame >= t->nframes)
		return -EINVAL;
	for (i = node__slot(parent, frame, mask); t->node_slots[i].node;
	     i = (i + 1) & mask) {
		const struct node_slot *s = &t->node_slots[i];

		if (s->parent == parent && s->frame == frame) {
			*node = s->node;
			return 0;
		}
	}

	/* Not found: only now pay for growth checks. */
	if (t->nnodes == t->nodes_cap) {
		struct trie_node *p =
			array__grow(t->nodes, &t->nodes_cap, sizeof(*p));

		if (!p)
			return -ENOMEM;
		t->nodes = p;
	}
	if (table__needs_grow(t->nnodes, t->node_slots_cap)) {
		err = trie__grow_node_slots(t);
		if (err)
			return err;
		mask = t->node_slots_cap - 1;
		i = node__slot(parent, frame, mask);
		while (t->node_slots[i].node)
			i = (i + 1) & mask;
	}
	t->nodes[t->nnodes] =
		(struct trie_node){.parent = parent, .frame = frame, .self = 0};
	t->node_slots[i] = (struct node_slot){
		.parent = parent, .frame = frame, .node = t->nnodes};
	*node = t->nnodes++;
	return 0;
}

void trie__count(struct trie *t, uint32_t node, uint64_t n)
{
	if (node >= t->nnodes)
		return;
	t->nodes[node].self += n;
	t->total += n;
}

int trie__add_stack(struct trie *t, const uint32_t *frames, size_t depth,
		    uint64_t n)
{
	uint32_t node = 0;

	for (size_t i = 0; i < depth; i++) {
		int err = trie__child(t, node, frames[i], &node);

		if (err)
			return err;
	}
	trie__count(t, node, n);
	return 0;
}

uint32_t trie__nframes(const struct trie *t)
{
	return t->nframes;
}

const struct ps_frame *trie__frame(const struct trie *t, uint32_t id)
{
	return id < t->nframes ? &t->frames[id] : NULL;
}

uint32_t trie__nnodes(const struct trie *t)
{
	return t->nnodes;
}

const struct trie_node *trie__node(const struct trie *t, uint32_t id)
{
	return id < t->nnodes ? &t->nodes[id] : NULL;
}

uint64_t trie__total(const struct trie *t)
{
	return t->total;
}

/*
 * Copy src's frames and counts into dst, mapping each src node to the dst
 * node of the same path.  Parents have smaller ids than their children,
 * so one forward pass sees every parent mapped before its children.
 */
static int trie__copy_into(struct trie *dst, const struct trie *src,
			   unsigned flags)
{
	uint32_t *fmap = NULL, *nmap = NULL;
	int err = -ENOMEM;

	fmap = malloc(((size_t)src->nframes + 1) * sizeof(*fmap));
	nmap = malloc(((size_t)src->nnodes + 1) * sizeof(*nmap));
	if (!fmap || !nmap)
		goto out;
	for (uint32_t i = 0; i < src->nframes; i++) {
		struct ps_frame f = src->frames[i];

		fmap[i] = UINT32_MAX; /* dropped: the node maps to its parent */
		if ((flags & TRIE_NO_THREADS) && f.kind == PS_FRAME_THREAD)
			continue;
		if ((flags & TRIE_NO_PROCESSES) && f.kind == PS_FRAME_PROCESS)
			continue;
		if (flags & TRIE_FUNCTIONS)
			f = ps_frame__function(&f);
		if ((err = trie__intern(dst, &f, &fmap[i])))
			goto out;
	}
	nmap[0] = 0;
	for (uint32_t i = 1; i < src->nnodes; i++) {
		const struct trie_node *n = &src->nodes[i];
		uint32_t parent = nmap[n->parent];

		if (fmap[n->frame] == UINT32_MAX)
			nmap[i] = parent;
		else if ((err = trie__child(dst, parent, fmap[n->frame],
					    &nmap[i])))
			goto out;
		trie__count(dst, nmap[i], n->self);
	}
	err = 0;
out:
	free(fmap);
	free(nmap);
	return err;
}

int trie__merge(struct trie *dst, const struct trie *src)
{
	return trie__copy_into(dst, src, 0);
}

int trie__project(const struct trie *src, unsigned flags, struct trie **out)
{
	struct trie *t = trie__new();
	int err;

	*out = NULL;
	if (!t)
		return -ENOMEM;
	if ((err = trie__copy_into(t, src, flags))) {
		trie__free(t);
		return err;
	}
	*out = t;
	return 0;
}
