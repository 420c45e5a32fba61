/*
 * family.h - the processes one run samples: the target and, with
 * --subprocesses, every Python process descended from it.
 *
 * A process is known by its pid together with its identity (start time
 * and exec hash, proc.h): a pid that is reused, or a process that execs,
 * becomes a new member, so its samples never go to the wrong program.
 * Descendants that are not Python are kept (their children may be) but
 * never sampled.  So may the root be, when it is followed: a shell, make
 * or a C launcher is the root of the Python processes it starts, and is
 * sampled itself once (if ever) it is Python.
 */
#ifndef PSAMPLE_FAMILY_H
#define PSAMPLE_FAMILY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "psample/proc.h"
#include "psample/walker.h"
#include "psample/target.h"

enum member_state {
	MEMBER_PENDING, /* not (yet) an interpreter psample can read */
	MEMBER_PYTHON, /* sampled */
	MEMBER_IGNORED, /* not Python, or a Python psample cannot read */
};

struct member {
	pid_t pid;
	pid_t parent; /* the member it was found a child of, or 0 */
	struct proc_identity id;
	enum member_state state;
	bool root; /* the run's target */
	int64_t pending_since; /* ns: when it started to be PENDING */
	int64_t tried; /* ns: when it was last tried as Python */
	int last_err; /* why it is PENDING or IGNORED */
	struct py_target *t;
	bool own_t;
	struct py_walker *w;
	int image; /* proc__image_open when w was made, or -1 */
	char cmdline[512];
	uint64_t samples; /* its samples taken */
	uint32_t fails; /* consecutive samples that failed */
	void *priv; /* the sampler's */
};

struct family;

/* Called before a member's walker goes (it exited, exec'd, or the end). */
typedef void family_release_fn(void *arg, struct member *m);

/*
 * A family of root, whose interpreter t stays the caller's; follow: find
 * descendants at each scan.  t NULL: root is not (yet) Python, and is
 * opened as any member is.  -ENOMEM, or why root cannot be sampled: any
 * reason without follow, only a final one (-EPERM, -PS_EUNSUPPORTED...)
 * with it.
 */
int family__new(pid_t root, struct py_target *t, bool follow,
		family_release_fn *release, void *arg, struct family **out);

/* Free every member's target and walker (not the caller's target). */
void family__free(struct family *f);

/*
 * Notice new descendants, execs, reused pids and exits, and open the
 * PENDING members that have become readable Python.  now: monotonic ns.
 * Members that end are released, then dropped.  Returns 0, or -ESRCH
 * once the root process is gone.
 */
int family__scan(struct family *f, int64_t now);

/* Check one member now (after a failed sample): as in family__scan. */
int family__check(struct family *f, struct member *m, int64_t now);

/*
 * Whether m still runs the program its walker was made for.  After an
 * exec into the same interpreter binary (a static one's _PyRuntime is
 * at the same address) the old walker reads the new program, whose
 * samples would go under the old command line until the next check.
 */
bool family__same_image(const struct member *m);

uint32_t family__count(const struct family *f);
struct member *family__member(struct family *f, uint32_t i);

struct family_stats {
	uint64_t pythons; /* members that became sampled interpreters */
	uint64_t ignored; /* descendants given up on, counted once each */
	uint64_t execs; /* execs noticed */
	bool root_python; /* the root was a sampled interpreter, once */
	int root_err; /* else why not: its last error (0: none yet) */
	char root_version[32]; /* its Python version when first sampled */
};

/* The counts so far, members still present included. */
void family__stats(const struct family *f, struct family_stats *out);

#endif
