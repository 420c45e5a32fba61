/*
 * walker.h - reading every Python thread's stack from a target.
 *
 * A walker keeps what it learnt from the last sample - the interpreter
 * and thread lists, each thread's data-stack chunks, the code objects on
 * the stacks - and reads all of it again in one batched call, then checks
 * that what it read still links up the same way.  When it does (the
 * steady state of a running program), a sample costs one system call;
 * when it does not, the walker falls back to following pointers one read
 * at a time and relearns.
 */
#ifndef PSAMPLE_WALKER_H
#define PSAMPLE_WALKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "psample/symbols.h"
#include "psample/rawstack.h"
#include "psample/target.h"

#define PY_MAX_DEPTH 2048 /* frames kept per stack; deeper ones truncate */
#define PY_MAX_THREADS 4096
#define PY_MAX_INTERPS 64

struct py_frame {
	struct py_code *code;
	uint64_t addr; /* the frame's own address */
	int32_t lasti; /* code units; -1 not started */
	int32_t line; /* decoded from the line table; -1 unknown */
};

struct py_thread {
	uint64_t tstate;
	uint64_t interp;
	uint32_t interp_index;
	pid_t tid; /* kernel thread id as /proc numbers it, 0 unknown */
	pid_t ns_tid; /* the target's own id for it, when in a pid namespace
			 of its own (a container seen from the host); else 0 */
	uint64_t thread_id; /* pthread_t */
	int err; /* 0, or why this thread's stack is missing */
	bool truncated; /* deeper than PY_MAX_DEPTH */
	uint32_t depth;
	struct py_frame *frames; /* innermost first */
	/* The stack as walked, before naming: Python frames and the shims
	 * between them (rawstack.h). */
	const struct py_rawstack *raw;
	/* threading.Thread.name, NULL if unknown (not a threading thread,
	 * or not read yet).  Cached by the walker; valid until the next
	 * sample. */
	const char *name;
	int8_t gil; /* 1 holds the GIL at this sample, 0 not, -1 unknown */
};

struct py_sample {
	uint32_t nthreads;
	struct py_thread *threads;
	int8_t gc; /* 1 the interpreter is collecting garbage, 0 not,
		      -1 unknown */
};

struct py_walker_stats {
	uint64_t samples;
	uint64_t relists; /* thread list changed: walked it again */
	uint64_t chunk_reloads; /* a data-stack chunk was read on its own */
	uint64_t stray_frames; /* frames outside any chunk, read on their own */
	uint64_t code_reads; /* code headers not in the speculative batch */
	uint64_t torn; /* a thread's stack changed while being read */
	uint64_t returned; /* frames dropped: returned while being read */
	uint64_t recopied; /* walked in the newest chunk's second copy */
	uint64_t moved; /* innermost frame found by its run mark elsewhere
			   than the current-frame word said */
	uint64_t midcall; /* newest chunk read again: no frame had the mark */
	uint64_t bad_frames; /* frames that did not validate */
	uint64_t name_reads; /* thread names read (a few reads each) */
};

struct py_walker;

int py_walker__new(struct py_target *t, struct py_walker **out);
void py_walker__free(struct py_walker *w);

/*
 * Take one sample of every thread of every interpreter.  *out stays valid
 * until the next call.  Returns 0 (per-thread problems are in each
 * thread's err), -ESRCH when the process is gone, -PS_ENOTREADY when the
 * interpreter has no threads (starting up or finalising), or another
 * negative error when nothing could be read.
 */
int py_walker__sample(struct py_walker *w, const struct py_sample **out);

const struct py_walker_stats *py_walker__stats(const struct py_walker *w);

/*
 * Whether the target's Python threads are stopped while sampled
 * (--blocking): what is read is then one moment, and the current-frame
 * word is followed as it is.  Otherwise the walker looks for the frame
 * that was running when the stack was copied (the run mark, 3.11-3.13).
 */
void py_walker__set_still(struct py_walker *w, bool still);

/*
 * Whether py_thread.gil can be read for this target: 0, -PS_ENOGIL on a
 * free-threaded build running without its GIL (asked of the target now:
 * PYTHON_GIL=1 or an extension module can switch it on), -PS_EUNSUPPORTED
 * where the version's GIL state is not known to psample.
 */
int py_walker__gil_support(struct py_walker *w);

#endif
