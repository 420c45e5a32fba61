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

#include <errno.h>
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

/*
 * A batched read being planned.  Each request added gets the index its
 * result will have, and whoever asked keeps that index: collecting then
 * needs no replay of the plan's order.  Buffers are the asker's and must
 * stay put until the batch is read.
 */
struct mem_batch {
	struct mem_iov *iov;
	uint32_t n, cap;
};

/* Empty the batch for a new plan; its memory is kept. */
static inline void mem_batch__reset(struct mem_batch *b)
{
	b->n = 0;
}

void mem_batch__free(struct mem_batch *b);

/* Add a request: its index (>= 0), or -ENOMEM. */
int32_t mem_batch__add(struct mem_batch *b, uint64_t addr, void *buf,
		       size_t len);

/* Read every request in one mem__readv; see mem_ops.readv. */
int mem_batch__read(struct mem *m, struct mem_batch *b);

/* The result of request iv: 0, its error, or -ENODATA if iv < 0 (the
 * request was not made). */
static inline int mem_batch__err(const struct mem_batch *b, int32_t iv)
{
	return iv < 0 ? -ENODATA : b->iov[iv].err;
}

#endif
