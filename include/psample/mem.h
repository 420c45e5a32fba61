/*
 * mem.h - reading another process's memory.
 *
 * Everything psample knows about a target comes through here, in batches:
 * one process_vm_readv call can carry many iovecs, and a sample is planned
 * so that most of it needs a single call.  The reader is a small vtable so
 * unit tests and fuzzers can walk a fake address space.
 *
 * The target is never written to.
 */
#ifndef PSAMPLE_MEM_H
#define PSAMPLE_MEM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One piece of a batched read. */
struct mem_iov {
	uint64_t addr;
	void *buf;
	size_t len;
	int err; /* out: 0, or -EFAULT if it could not be read whole */
};

struct mem;

struct mem_ops {
	/*
	 * Read every iov it can; set each one's err.  Returns 0, or a
	 * negative errno when the process itself is unreadable (-ESRCH,
	 * -EPERM), in which case the errs are meaningless.
	 */
	int (*readv)(struct mem *m, struct mem_iov *iov, size_t n);
};

struct mem {
	const struct mem_ops *ops;
	pid_t pid;
	void *priv; /* for fake readers */
	uint64_t calls; /* system calls made (for the summary/bench) */
	uint64_t bytes; /* bytes read */
};

/* A reader for a live process, by process_vm_readv. */
void mem__init_process(struct mem *m, pid_t pid);

/* A batched read; see mem_ops.readv. */
int mem__readv(struct mem *m, struct mem_iov *iov, size_t n);

/* Read one block whole: 0, -EFAULT, -ESRCH, -EPERM. */
int mem__read(struct mem *m, uint64_t addr, void *buf, size_t len);

/* Read a pointer-sized word. */
int mem__read_u64(struct mem *m, uint64_t addr, uint64_t *out);

#endif
