/*
 * pylayout_check.bpf.c - the build compiles this with clang -target bpf:
 * include/psample/pylayout.h must stay usable from a BPF program (no
 * libc, no calls out, nothing the verifier refuses), since the eBPF
 * walker decodes frames with the same functions as the user-space one.
 * Every inline function of the header is called, so each is compiled
 * for BPF.  A real program gets these types from vmlinux.h.
 */
typedef unsigned char uint8_t;
typedef int int32_t;
typedef unsigned int uint32_t;
typedef long long int64_t;
typedef unsigned long long uint64_t;
typedef _Bool bool;
#define true 1
#define false 0

#include "psample/pylayout.h"

/* As libbpf's read-only data would hand them over. */
const volatile struct py_layout layout;
const volatile uint8_t frame[PY_MAX_READ], code[PY_MAX_READ];
volatile uint64_t sink;

__attribute__((section("perf_event"), used)) int pylayout_check(void *ctx)
{
	const struct py_layout *l = (const struct py_layout *)&layout;
	const uint8_t *fb = (const uint8_t *)frame;
	const uint8_t *cb = (const uint8_t *)code;
	struct py_rawframe f;
	uint64_t v = 0;

	(void)ctx;
	pyframe__decode(l, fb, &f);
	v += pyframe__is_shim(l, &f);
	v += pyframe__owner_ok(l, &f);
	v += pyframe__is_entry(l, fb);
	v += pyframe__runs(l, fb);
	v += pyframe__in_call(l, fb, pycode__nlocalsplus(l, cb));
	v += pyframe__callee_at(f.back, pycode__framesize(l, cb), f.code);
	v += pyframe__caller_below(f.code, f.back);
	v += (uint64_t)pyframe__lasti(l, &f, f.code, 100);
	v += pycode__ident(l, cb);
	sink = v;
	return 0;
}

char LICENSE[] __attribute__((section("license"), used)) = "GPL";
