/*
 * ebpf_none.c - the eBPF backend of a build without it (meson -Dbpf=
 * disabled, or clang, bpftool, libbpf or the kernel's BTF missing when
 * it was built): every entry point says so.
 */
#include <errno.h>

#include "psample/ebpf.h"
#include "psample/error.h"

int ebpf__open(double rate_hz, struct ebpf **out)
{
	(void)rate_hz;
	*out = NULL;
	return -PS_ENOBPF;
}

void ebpf__free(struct ebpf *e)
{
	(void)e;
}

const char *ebpf__why(void)
{
	return "this psample was built without it (meson -Dbpf)";
}

int ebpf__run(pid_t pid, struct py_target *t, struct trie *trie,
	      const struct sampler_opts *o, struct sampler_stats *st,
	      volatile sig_atomic_t *stop)
{
	(void)pid;
	(void)t;
	(void)trie;
	(void)o;
	(void)stop;
	*st = (struct sampler_stats){0};
	return -PS_ENOBPF;
}

int ebpf__run_all(struct trie *trie, const struct sampler_opts *o,
		  struct sampler_stats *st, volatile sig_atomic_t *stop)
{
	return ebpf__run(0, NULL, trie, o, st, stop);
}
