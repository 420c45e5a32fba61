/*
 * stacks.c - a thread's stack into the trie (see stacks.h), each frame
 * an id the trie gives a code object at a line, memoised.
 */
#include <stdlib.h>

#include "psample/hash.h"
#include "psample/stacks.h"

#define IDMEMO_BITS 12

struct idmemo {
	uint64_t serial; /* 0: empty */
	int32_t line;
	uint32_t id;
};

struct stack_memo {
	struct idmemo slot[1u << IDMEMO_BITS];
};

struct stack_memo *stack_memo__new(void)
{
	return calloc(1, sizeof(struct stack_memo));
}

void stack_memo__free(struct stack_memo *m)
{
	free(m);
}

/* The trie id of a code object at a line; memo may be NULL. */
static int frame__id(struct trie *trie, struct stack_memo *memo,
		     const struct py_code *c, int32_t line, uint32_t *id)
{
	struct idmemo *m = NULL;

	if (memo) {
		uint64_t h = hash__mix64(c->serial ^
					 ((uint64_t)(uint32_t)line << 40));
		m = &memo->slot[h & ((1u << IDMEMO_BITS) - 1)];
		if (m->serial == c->serial && m->line == line) {
			*id = m->id;
			return 0;
		}
	}
	struct ps_frame f = {
		.kind = PS_FRAME_PYTHON,
		.firstlineno = c->firstlineno,
		.line = line,
		.name = c->qualname,
		.file = c->filename,
		.func = c->name,
	};
	int err = trie__intern(trie, &f, id);
	if (err)
		return err;
	if (m)
		*m = (struct idmemo){
			.serial = c->serial, .line = line, .id = *id};
	return 0;
}

static int node__push(struct trie *trie, uint32_t *node, uint32_t id)
{
	return trie__child(trie, *node, id, node);
}

static int node__special(struct trie *trie, uint32_t *node, const char *label)
{
	struct ps_frame mark = {.kind = PS_FRAME_SPECIAL, .name = label};
	uint32_t id;
	int err = trie__intern(trie, &mark, &id);
	return err ? err : node__push(trie, node, id);
}

int stack__add(struct trie *trie, struct stack_memo *memo, uint32_t proc,
	       const struct py_thread *th, const char *thread_name,
	       const char *leaf, uint64_t n)
{
	uint32_t node = 0, id;
	int err;

	if (proc != STACK_NO_PROC && (err = node__push(trie, &node, proc)))
		return err;
	struct ps_frame root = {
		.kind = PS_FRAME_THREAD,
		.num = (uint64_t)(th->tid ? th->tid : 0),
		.name = thread_name,
	};
	if ((err = trie__intern(trie, &root, &id)) ||
	    (err = node__push(trie, &node, id)))
		return err;
	if (th->truncated && (err = node__special(trie, &node, "[truncated]")))
		return err;
	for (uint32_t k = th->depth; k-- > 0;) {
		const struct py_frame *f = &th->frames[k];
		if ((err = frame__id(trie, memo, f->code, f->line, &id)) ||
		    (err = node__push(trie, &node, id)))
			return err;
	}
	if (leaf && (err = node__special(trie, &node, leaf)))
		return err;
	trie__count(trie, node, n);
	return 0;
}
