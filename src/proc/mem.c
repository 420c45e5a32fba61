/*
 * mem.c - process memory reads with process_vm_readv.
 *
 * The kernel copies the remote iovecs in order and stops at the first one
 * it cannot read, reporting only a byte count.  mem__readv turns that into
 * a per-iovec result: it works out which iovec failed, marks it, and goes
 * on with the ones after it, so one bad pointer in a batch costs one more
 * call rather than the whole batch.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "psample/mem.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

enum { MEM_BATCH = 512 };

static int process_readv(struct mem *m, struct mem_iov *iov, size_t n)
{
	struct iovec local[MEM_BATCH], remote[MEM_BATCH];
	size_t i = 0;

	while (i < n) {
		size_t k = n - i < MEM_BATCH ? n - i : MEM_BATCH;
		size_t want = 0;

		for (size_t j = 0; j < k; j++) {
			local[j].iov_base = iov[i + j].buf;
			local[j].iov_len = iov[i + j].len;
			/* The target's addresses are numbers to this process.
			 */
			remote[j].iov_base =
				(void *)(uintptr_t)iov[i + j] // NOLINT
					.addr;
			remote[j].iov_len = iov[i + j].len;
			want += iov[i + j].len;
		}
		ssize_t got = process_vm_readv(m->pid, local, k, remote, k, 0);
		m->calls++;
		if (got < 0) {
			if (errno == ESRCH || errno == EPERM)
				return -errno;
			if (errno == ENOMEM)
				return -ENOMEM;
			/* EFAULT/EINVAL: the first iovec could not be read. */
			got = 0;
		}
		m->bytes += (uint64_t)got;
		if ((size_t)got == want) {
			for (size_t j = 0; j < k; j++)
				iov[i + j].err = 0;
			i += k;
			continue;
		}
		/* Everything before the iovec the copy stopped in is good. */
		size_t done = 0, j = 0;
		while (j < k && done + iov[i + j].len <= (size_t)got) {
			iov[i + j].err = 0;
			done += iov[i + j].len;
			j++;
		}
		iov[i + j].err = -EFAULT;
		i += j + 1;
	}
	return 0;
}

static const struct mem_ops process_ops = {.readv = process_readv};

void mem__init_process(struct mem *m, pid_t pid)
{
	memset(m, 0, sizeof(*m));
	m->ops = &process_ops;
	m->pid = pid;
}

int mem__readv(struct mem *m, struct mem_iov *iov, size_t n)
{
	for (size_t i = 0; i < n; i++)
		iov[i].err = 0;
	return m->ops->readv(m, iov, n);
}

int mem__read(struct mem *m, uint64_t addr, void *buf, size_t len)
{
	struct mem_iov iov = {.addr = addr, .buf = buf, .len = len};
	int err = mem__readv(m, &iov, 1);

	return err ? err : iov.err;
}

int mem__read_u64(struct mem *m, uint64_t addr, uint64_t *out)
{
	return mem__read(m, addr, out, sizeof(*out));
}

void mem_batch__free(struct mem_batch *b)
{
	free(b->iov);
	memset(b, 0, sizeof(*b));
}

int32_t mem_batch__add(struct mem_batch *b, uint64_t addr, void *buf,
		       size_t len)
{
	if (b->n == b->cap) {
		uint32_t cap = b->cap ? b->cap * 2 : 256;
		struct mem_iov *v = realloc(b->iov, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		b->iov = v;
		b->cap = cap;
	}
	b->iov[b->n] = (struct mem_iov){.addr = addr, .buf = buf, .len = len};
	return (int32_t)b->n++;
}

int mem_batch__read(struct mem *m, struct mem_batch *b)
{
	return mem__readv(m, b->iov, b->n);
}
