/*
 * nstids.c - a target's thread ids as /proc numbers them.
 *
 * A process in a pid namespace of its own (a container seen from the
 * host) knows its threads by the namespace's ids: native_thread_id and
 * the tid in struct pthread say 1 for its main thread.  /proc, tgkill
 * and ptrace want the ids of psample's namespace, so the walker hands
 * those out, and the namespace's id beside them for display.  The map
 * comes from each thread's NSpid line and is read again when a thread
 * is not in it (a new one) and every second (an id reused).
 */
#include <errno.h>
#include <stdlib.h>

#include "psample/proc.h"
#include "walker_priv.h"

#define NSEC 1000000000LL
/* How often a miss may read the map again, and how old it may get. */
#define NSTIDS_MISS_NS (NSEC / 50)
#define NSTIDS_MAX_AGE_NS NSEC

void nstids__init(struct nstids *m, pid_t pid)
{
	int levels = 0;
	int ns = proc__nspid(pid, 0, &levels);

	*m = (struct nstids){.pid = pid, .apart = ns > 0 && levels > 1};
}

void nstids__free(struct nstids *m)
{
	free(m->v);
	m->v = NULL;
	m->n = m->cap = 0;
}

static int nstid__cmp(const void *a, const void *b)
{
	pid_t x = ((const struct proc_nstid *)a)->ns;
	pid_t y = ((const struct proc_nstid *)b)->ns;

	return (x > y) - (x < y);
}

static int nstids__read(struct nstids *m, int64_t now)
{
	uint32_t want = m->cap ? m->cap : 64;

	for (;;) {
		if (want > m->cap) {
			struct proc_nstid *v = realloc(m->v, want * sizeof(*v));
			if (!v)
				return -ENOMEM;
			m->v = v;
			m->cap = want;
		}
		int n = proc__nstids(m->pid, m->v, m->cap);
		if (n < 0) {
			m->n = 0;
			return n;
		}
		m->read_at = now;
		m->n = (uint32_t)n;
		if ((uint32_t)n < m->cap || m->cap >= PY_MAX_THREADS) {
			/* Looked up for every thread at every sample. */
			qsort(m->v, m->n, sizeof(*m->v), nstid__cmp);
			return 0;
		}
		want = m->cap * 2;
	}
}

static pid_t nstids__find(const struct nstids *m, pid_t ns)
{
	struct proc_nstid key = {.ns = ns};
	const struct proc_nstid *e =
		m->n ? bsearch(&key, m->v, m->n, sizeof(*m->v), nstid__cmp)
		     : NULL;

	return e ? e->host : 0;
}

pid_t nstids__host(struct nstids *m, pid_t ns, int64_t now)
{
	if (!m->apart || ns <= 0)
		return ns;
	if (m->read_at && now - m->read_at > NSTIDS_MAX_AGE_NS)
		nstids__read(m, now);
	pid_t host = nstids__find(m, ns);
	if (!host && (!m->read_at || now - m->read_at > NSTIDS_MISS_NS)) {
		nstids__read(m, now);
		host = nstids__find(m, ns);
	}
	return host;
}

int nstids__list(struct nstids *m, pid_t *out, size_t max, int64_t now)
{
	if (!m->apart)
		return proc__tasks(m->pid, out, max);
	int err = nstids__read(m, now);
	if (err)
		return err;
	size_t n = 0;
	for (uint32_t i = 0; i < m->n && n < max; i++)
		out[n++] = m->v[i].ns;
	return (int)n;
}
