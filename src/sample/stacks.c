/*
 * stacks.c - a thread's stack into the trie, the one way every backend
 * adds one: its process and thread roots, [truncated] where the walk
 * stopped short, its frames outermost first (each an id the trie gives
 * a code object at a line, memoised), and a synthetic leaf.
 */
#include "psample/hash.h"
#include "psample/sampler.h"
#include "stacks.h"

/* The trie id of a code object at a line; memo may be NULL. */
static int frame__id(struct trie *trie, struct idmemo *memo,
		     const struct py_code *c, int32_t line, uint32_t *id)
{
	struct idmemo *m = NULL;

	if (memo) {
		uint64_t h = hash__mix64(c->serial ^
					 ((uint64_t)(uint32_t)line << 40));
		m = &memo[h & ((1u << IDMEMO_BITS) - 1)];
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

int stack__add(struct trie *trie, struct idmemo *memo, uint32_t proc,
	       const struct py_thread *th, const char *thread_name,
	       const char *leaf, uint64_t n)
{
	uint32_t node = 0, id;
	int err;

	if (proc != NO_FRAME && (err = node__push(trie, &node, proc)))
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

int sampler__add_stack(struct trie *trie, const struct py_thread *th,
		       const char *thread_name)
{
	return stack__add(trie, NULL, NO_FRAME, th, thread_name, NULL, 1);
}

int sampler__add_proc_stack(struct trie *trie, uint32_t proc,
			    const struct py_thread *th, const char *thread_name)
{
	return stack__add(trie, NULL, proc, th, thread_name, NULL, 1);
}
