/*
 * pause.c - stopping threads for one read (see pause.h).  Stub: the
 * real implementation is being written.
 */
#include <errno.h>
#include <stdlib.h>

#include "psample/pause.h"

struct pause {
	pid_t pid;
	struct pause_stats st;
};

int pause__new(pid_t pid, struct pause **out)
{
	struct pause *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->pid = pid;
	*out = p;
	return 0;
}

void pause__free(struct pause *p)
{
	free(p);
}

int pause__stop(struct pause *p, const pid_t *tids, size_t n)
{
	(void)p;
	(void)tids;
	(void)n;
	return -ENOSYS;
}

void pause__resume(struct pause *p)
{
	(void)p;
}

const struct pause_stats *pause__stats(const struct pause *p)
{
	return &p->st;
}
