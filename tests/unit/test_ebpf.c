/*
 * test_ebpf.c - the eBPF program loads: the kernel's verifier accepts it
 * and a perf event is attached on every online CPU.  Needs root (or
 * CAP_BPF + CAP_PERFMON) and a kernel with BTF; skipped otherwise, with
 * the reason.  Catches a verifier regression at every test run.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <unistd.h>

#include "psample/ebpf.h"
#include "psample/error.h"

static bool ebpf__testable(void)
{
	if (geteuid() != 0) {
		printf("# SKIP not root: loading BPF needs CAP_BPF and "
		       "CAP_PERFMON\n");
		return false;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		printf("# SKIP the kernel has no BTF\n");
		return false;
	}
	return true;
}

static void test_loads(void **state)
{
	struct ebpf *e = NULL;
	struct ebpf_counters c;

	(void)state;
	if (!ebpf__testable())
		skip();
	int err = ebpf__open(99, &e);
	if (err)
		print_message("ebpf__open: %s: %s\n", ps_strerror(err),
			      ebpf__why());
	assert_int_equal(err, 0);
	assert_non_null(e);
	/* Nothing to sample yet: no process is configured. */
	ebpf__counters(e, &c);
	assert_int_equal(c.sent, 0);
	assert_int_equal(ebpf__take(e), 0);
	ebpf__free(e);
}

/* A process that is not configured is never sampled; its thread map
 * entries are taken and dropped. */
static void test_maps(void **state)
{
	struct ebpf *e = NULL;
	struct py_layout l = {.fr_size = 64, .ts_size = 64};

	(void)state;
	if (!ebpf__testable())
		skip();
	assert_int_equal(ebpf__open(99, &e), 0);
	assert_int_equal(ebpf__add_proc(e, 1, &l, 0), 0);
	assert_int_equal(ebpf__set_thread(e, 1, 0x1000, 1), 0);
	assert_int_equal(ebpf__drop_thread(e, 1), 0);
	assert_int_equal(ebpf__drop_thread(e, 1), 0);
	/* A layout asking for reads beyond the bound is refused. */
	l.fr_size = PY_MAX_READ + 1;
	assert_int_equal(ebpf__add_proc(e, 2, &l, 0), -PS_EBADLAYOUT);
	ebpf__free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loads),
		cmocka_unit_test(test_maps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
