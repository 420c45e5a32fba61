/*
 * family.c - the processes one run samples (see family.h).
 *
 * Descendants are found by polling: each scan reads the children of
 * every member and checks every member's identity.  Polling, not the
 * kernel's process events connector, because that needs CAP_NET_ADMIN
 * and psample must work as the target's own user.  A process whose
 * parent exits before a scan sees it (a double fork) is missed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "psample/clock.h"
#include "psample/error.h"
#include "psample/family.h"

#define FAMILY_MAX 512
#define NSEC 1000000000LL
/* A process that has just exec'd may not have mapped libpython yet; one
 * that is still not Python after this is not going to be. */
#define NOT_PYTHON_GRACE_NS (NSEC / 2)
/* A root gets as long as record gives a command to become Python (a
 * launcher may load libpython late, as uWSGI's plugins do). */
#define ROOT_NOT_PYTHON_GRACE_NS (5 * NSEC)
/* Past the first grace, it is looked at this often: an exec is seen by
 * its identity at every scan anyway. */
#define ROOT_RETRY_NS (NSEC / 10)
/* An interpreter that is starting up (site imports, a slow disk). */
#define NOT_READY_GRACE_NS (20 * NSEC)

struct family {
	pid_t root;
	bool follow;
	uint32_t n;
	struct member *v[FAMILY_MAX];
	struct family_stats st;
	family_release_fn *release;
	void *arg;
};

static void member__close(struct family *f, struct member *m)
{
	if (f->release)
		f->release(f->arg, m);
	py_walker__free(m->w);
	m->w = NULL;
	if (m->image >= 0)
		close(m->image);
	m->image = -1;
	if (m->own_t)
		py_target__free(m->t);
	m->t = NULL;
	m->own_t = false;
}

/*
 * A child between vfork (as subprocess and multiprocessing's spawn start
 * one from 3.10 on, and posix_spawn) and its exec runs in its parent's
 * memory: read then, it looks like the parent, program, stacks and
 * command line, and the image kept open would be the parent's, which
 * lives on past the child's exec.  It is opened once it has an address
 * space of its own: -EAGAIN until then.  An error is no answer (a kernel
 * without kcmp; a parent that has ended, whose child is then not in its
 * memory), and is not waited on: opening the child tells if it is gone.
 */
static int member__own_vm(const struct member *m)
{
	if (!m->parent)
		return 0;
	return proc__shares_vm(m->pid, m->parent) == 1 ? -EAGAIN : 0;
}

/* Try to make a PENDING member a sampled one.  -ESRCH if it is gone. */
static int member__open(struct family *f, struct member *m, int64_t now)
{
	int err = member__own_vm(m);

	m->tried = now;
	/* The image first: whatever is learnt after is of this program,
	 * or of a later one that the image then tells.  Without it (no
	 * right to open it) the identity alone tells an exec, within a
	 * check's period. */
	if (!err && m->image < 0)
		m->image = proc__image_open(m->pid);
	if (!err && !m->t) {
		err = py_target__open(m->pid, &m->t);
		if (!err)
			m->own_t = true;
	}
	if (!err)
		err = py_walker__new(m->t, &m->w);
	if (!err) {
		m->state = MEMBER_PYTHON;
		m->fails = 0;
		proc__cmdline(m->pid, m->cmdline, sizeof(m->cmdline));
		f->st.pythons++;
		if (m->root && !f->st.root_python) {
			f->st.root_python = true;
			snprintf(f->st.root_version, sizeof(f->st.root_version),
				 "%s", m->t->version_str);
		}
		return 0;
	}
	if (m->image >= 0)
		close(m->image);
	m->image = -1;
	if (m->own_t) {
		py_target__free(m->t);
		m->t = NULL;
		m->own_t = false;
	}
	/* Ending says nothing about what the process ran: keep the answer
	 * of the last attempt that found it alive. */
	if (err == -ESRCH)
		return -ESRCH;
	m->last_err = err;
	if (m->root)
		f->st.root_err = err;
	int64_t grace = NOT_READY_GRACE_NS;
	if (err == -PS_ENOTPYTHON)
		grace = m->root ? ROOT_NOT_PYTHON_GRACE_NS
				: NOT_PYTHON_GRACE_NS;
	bool final = err == -EPERM || err == -EACCES ||
		     err == -PS_EUNSUPPORTED || err == -ENOMEM;
	if (final || now - m->pending_since > grace)
		m->state = MEMBER_IGNORED;
	return 0;
}

/*
 * Whether a member counts as given up on.  It is asked when the process
 * ends, or when the run does, rather than when it is given up on, so a
 * process counts once however many programs it runs and however little
 * of its life a scan saw: one that ends inside its grace counts, and so
 * does one still alive when the run ends.
 */
static bool member__ignored(const struct member *m)
{
	return m->state == MEMBER_IGNORED ||
	       (m->state == MEMBER_PENDING && m->last_err == -PS_ENOTPYTHON);
}

/* Whether a PENDING member is to be tried again now: past the first
 * grace, only a root is still PENDING as not Python. */
static bool member__due(const struct member *m, int64_t now)
{
	return m->last_err != -PS_ENOTPYTHON ||
	       now - m->pending_since <= NOT_PYTHON_GRACE_NS ||
	       now - m->tried >= ROOT_RETRY_NS;
}

static void family__drop(struct family *f, uint32_t i)
{
	struct member *m = f->v[i];

	if (member__ignored(m) && !m->root)
		f->st.ignored++;
	member__close(f, m);
	free(f->v[i]);
	f->v[i] = f->v[--f->n];
}

static uint32_t family__index(const struct family *f, const struct member *m)
{
	for (uint32_t i = 0; i < f->n; i++)
		if (f->v[i] == m)
			return i;
	return UINT32_MAX;
}

int family__check(struct family *f, struct member *m, int64_t now)
{
	struct proc_identity id;
	uint32_t i = family__index(f, m);
	int err = proc__identity(m->pid, &id);
	bool gone = err == -ESRCH ||
		    (!err && (id.exited || id.start != m->id.start));

	if (i == UINT32_MAX)
		return 0;
	if (gone) {
		/* Exited, or the pid is another process's now: either way
		 * this member has ended (a new process is found anew). */
		bool root = m->root;
		family__drop(f, i);
		return root ? -ESRCH : 0;
	}
	if (!err && (id.exec != m->id.exec || !family__same_image(m))) {
		/* A new program in the same process: relearn it. */
		f->st.execs++;
		m->id = id;
		member__close(f, m);
		m->state = MEMBER_PENDING;
		m->pending_since = now;
		m->last_err = 0;
		m->samples = 0;
	}
	if (m->state == MEMBER_PENDING && member__due(m, now) &&
	    member__open(f, m, now) == -ESRCH) {
		bool root = m->root;
		family__drop(f, family__index(f, m));
		return root ? -ESRCH : 0;
	}
	return 0;
}

bool family__same_image(const struct member *m)
{
	return m->image < 0 || !m->t ||
	       proc__image_live(m->image, m->t->runtime) != 0;
}

static bool family__has(const struct family *f, pid_t pid)
{
	for (uint32_t i = 0; i < f->n; i++)
		if (f->v[i]->pid == pid)
			return true;
	return false;
}

static int family__add(struct family *f, pid_t pid, pid_t parent, int64_t now)
{
	struct member *m;

	if (f->n == FAMILY_MAX)
		return -ENOSPC;
	if (!(m = calloc(1, sizeof(*m))))
		return -ENOMEM;
	m->pid = pid;
	m->parent = parent;
	m->image = -1;
	m->state = MEMBER_PENDING;
	m->pending_since = now;
	if (proc__identity(pid, &m->id)) {
		free(m); /* gone already */
		return 0;
	}
	f->v[f->n++] = m;
	if (member__open(f, m, now) == -ESRCH)
		family__drop(f, f->n - 1);
	return 0;
}

int family__new(pid_t root, struct py_target *t, bool follow,
		family_release_fn *release, void *arg, struct family **out)
{
	struct family *f = calloc(1, sizeof(*f));
	struct member *m = calloc(1, sizeof(*m));
	int err;

	if (!f || !m) {
		free(f);
		free(m);
		return -ENOMEM;
	}
	f->root = root;
	f->follow = follow;
	f->release = release;
	f->arg = arg;
	m->pid = root;
	m->image = -1;
	m->root = true;
	m->t = t;
	m->state = MEMBER_PENDING;
	m->pending_since = clock__ns(CLOCK_MONOTONIC);
	proc__identity(root, &m->id);
	f->v[f->n++] = m;
	err = member__open(f, m, m->pending_since);
	if (!err && m->state != MEMBER_PYTHON &&
	    (!follow || m->state == MEMBER_IGNORED))
		err = m->last_err;
	if (err) {
		family__free(f);
		return err;
	}
	*out = f;
	return 0;
}

void family__free(struct family *f)
{
	if (!f)
		return;
	while (f->n)
		family__drop(f, f->n - 1);
	free(f);
}

int family__scan(struct family *f, int64_t now)
{
	pid_t kids[256];
	int err;

	for (uint32_t i = f->n; i-- > 0;) {
		if (i >= f->n)
			continue;
		if ((err = family__check(f, f->v[i], now)))
			return err;
	}
	if (!f->follow)
		return 0;
	/* Members added here are scanned for children next time. */
	for (uint32_t i = 0, n = f->n; i < n && i < f->n; i++) {
		int k = proc__children(f->v[i]->pid, kids, 256);
		for (int j = 0; j < k; j++) {
			if (family__has(f, kids[j]))
				continue;
			if ((err = family__add(f, kids[j], f->v[i]->pid,
					       now)) == -ENOMEM)
				return err;
		}
	}
	return 0;
}

uint32_t family__count(const struct family *f)
{
	return f->n;
}

struct member *family__member(struct family *f, uint32_t i)
{
	return i < f->n ? f->v[i] : NULL;
}

void family__stats(const struct family *f, struct family_stats *out)
{
	*out = f->st;
	for (uint32_t i = 0; i < f->n; i++)
		if (member__ignored(f->v[i]) && !f->v[i]->root)
			out->ignored++;
}
