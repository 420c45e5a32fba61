/*
 * ebpf.c - the loaded eBPF program (struct ebpf): loading it through its
 * libbpf skeleton, a CPU-clock perf event per CPU, its maps, its ring
 * buffer and counters, and why it could not load.
 *
 * The program sends records without waking the reader; the reader takes
 * them when it is ready to name them, and they are kept until it has,
 * so a batch of samples costs one wake-up and one or two reads of code
 * objects, not one of each per sample.
 */
#include <errno.h>
#include <linux/perf_event.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "psample/ebpf.h"
#include "psample/error.h"
#include "psample.h"
#include "psample.skel.h"

_Static_assert(sizeof(struct psb_frame) == 32, "a frame is 32 bytes");
_Static_assert(PSB_SAMPLE_HDR == 32, "a record's header is 32 bytes");

#define WHY_MAX 256

struct ebpf {
	/* The object from the skeleton's bytes, opened with libbpf's own
	 * calls (the skeleton's would work as well). */
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_map *config, *procs, *threads, *samples, *events, *counters;
	struct bpf_map *unknown;
	struct psb_config cfg;
	struct bpf_link **links;
	uint32_t nlinks;
	struct ring_buffer *rb;
	int ncpus;
	/* Records kept: headers, and all their frames in one array (the
	 * records point into it once ebpf__records is called). */
	struct ebpf_record *recs;
	uint32_t nrecs, cap_recs;
	struct py_rawentry *frames;
	uint64_t nframes, cap_frames;
	int err; /* a record could not be kept: -ENOMEM */
};

/*
 * libbpf's messages, caught rather than printed: a failed load says one
 * line, the verifier's reason.  The verifier log comes as one message
 * between BEGIN and END markers; its useful line is the last before the
 * "processed N insns" statistics that is not an instruction (N: ...) or a
 * source line (; ...).
 */
static char why[WHY_MAX];

static bool why__starts(const char *line, const char *prefix)
{
	return strncmp(line, prefix, strlen(prefix)) == 0;
}

static void why__from_log(const char *log)
{
	const char *p = log, *best = NULL;
	size_t best_len = 0;

	while (*p) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		bool insn = len && p[0] >= '0' && p[0] <= '9' &&
			    memchr(p, ':', len) != NULL;
		if (why__starts(p, "processed ") || why__starts(p, "-- END"))
			break;
		if (len && !insn && p[0] != ';' &&
		    !why__starts(p, "-- BEGIN") && !why__starts(p, "func#") &&
		    !why__starts(p, "last_idx") && !why__starts(p, "regs=") &&
		    !why__starts(p, "parent ") &&
		    !why__starts(p, "Validating")) {
			best = p;
			best_len = len;
		}
		p = end ? end + 1 : p + len;
	}
	if (best) {
		if (best_len >= sizeof(why))
			best_len = sizeof(why) - 1;
		memcpy(why, best, best_len);
		why[best_len] = 0;
	}
}

static int ebpf__print(enum libbpf_print_level level, const char *fmt,
		       va_list ap)
{
	static char msg[65536];

	if (getenv("PSAMPLE_BPF_DEBUG"))
		return vfprintf(stderr, fmt, ap);
	if (level == LIBBPF_DEBUG)
		return 0;
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n > 0 && strstr(msg, "-- BEGIN PROG LOAD LOG --"))
		why__from_log(strstr(msg, "-- BEGIN PROG LOAD LOG --"));
	return n;
}

const char *ebpf__why(void)
{
	return why;
}

/* An error from loading, as psample's own. */
static int ebpf__load_error(int err)
{
	if (why[0])
		return -PS_EVERIFIER;
	if (err == -EPERM || err == -EACCES)
		return -PS_EBPFPERM;
	if (err == -ENOSYS || err == -EOPNOTSUPP)
		return -PS_ENOBPF;
	return err;
}

static int ebpf__on_record(void *ctx, void *data, size_t size)
{
	struct ebpf *e = ctx;
	const struct psb_sample *s = data;

	if (e->err || size < PSB_SAMPLE_HDR)
		return 0;
	uint32_t n = s->nframes;
	if (n > PSB_MAX_FRAMES ||
	    PSB_SAMPLE_HDR + (size_t)n * sizeof(s->frames[0]) > size)
		return 0;
	if (e->nrecs == e->cap_recs) {
		uint32_t cap = e->cap_recs ? e->cap_recs * 2 : 64;
		struct ebpf_record *v = reallocarray(e->recs, cap, sizeof(*v));
		if (!v) {
			e->err = -ENOMEM;
			return 0;
		}
		e->recs = v;
		e->cap_recs = cap;
	}
	if (e->nframes + n > e->cap_frames) {
		uint64_t cap = e->cap_frames ? e->cap_frames : 1024;
		while (cap < e->nframes + n)
			cap *= 2;
		struct py_rawentry *v =
			reallocarray(e->frames, cap, sizeof(*v));
		if (!v) {
			e->err = -ENOMEM;
			return 0;
		}
		e->frames = v;
		e->cap_frames = cap;
	}
	struct ebpf_record *r = &e->recs[e->nrecs++];
	*r = (struct ebpf_record){
		.pid = (pid_t)s->pid,
		.tid = (pid_t)s->tid,
		.tstate = s->tstate,
		.time_ns = s->time_ns,
		.raw = {.depth = n,
			.cap = n,
			.truncated = (s->flags & PSB_F_TRUNCATED) != 0,
			.err = (s->flags & PSB_F_READ_ERR)  ? -EFAULT
			       : (s->flags & PSB_F_CORRUPT) ? -PS_ECORRUPT
							    : 0},
	};
	/* frames is set by ebpf__records: e->frames may still move. */
	for (uint32_t k = 0; k < n; k++)
		e->frames[e->nframes++] = (struct py_rawentry){
			.code = s->frames[k].code,
			.pos = s->frames[k].pos,
			.addr = s->frames[k].addr,
			.tlbc = s->frames[k].tlbc,
			.chunk = PY_RAW_NO_CHUNK,
			.marks = s->frames[k].marks,
		};
	return 0;
}

/*
 * Tasks are named by the ids of psample's own pid namespace, the ones
 * its /proc shows: in a container that is not the kernel's root one.
 */
static int ebpf__set_config(struct ebpf *e)
{
	uint32_t key = 0;

	if (bpf_map__update_elem(e->config, &key, sizeof(key), &e->cfg,
				 sizeof(e->cfg), BPF_ANY))
		return -errno;
	return 0;
}

static int ebpf__set_pidns(struct ebpf *e)
{
	struct stat st;

	if (stat("/proc/self/ns/pid", &st) == 0) {
		e->cfg.pidns_dev = (uint64_t)st.st_dev;
		e->cfg.pidns_ino = (uint64_t)st.st_ino;
	}
	return ebpf__set_config(e);
}

int ebpf__watch(struct ebpf *e)
{
	e->cfg.watch = 1;
	return ebpf__set_config(e);
}

int ebpf__unknown(struct ebpf *e, pid_t *out, uint32_t max)
{
	uint32_t key, next, n = 0;
	const void *prev = NULL;

	/* Keys first, then deleted: deleting while walking a hash map
	 * restarts the walk. */
	while (n < max &&
	       !bpf_map__get_next_key(e->unknown, prev, &next, sizeof(next))) {
		out[n++] = (pid_t)next;
		key = next;
		prev = &key;
	}
	for (uint32_t i = 0; i < n; i++) {
		key = (uint32_t)out[i];
		bpf_map__delete_elem(e->unknown, &key, sizeof(key), 0);
	}
	return (int)n;
}

/* A CPU-clock perf event on cpu every period_ns, its fd or -errno. */
static int perf__open(int cpu, uint64_t period_ns)
{
	struct perf_event_attr a = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(a),
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.sample_period = period_ns,
	};
	long fd = syscall(__NR_perf_event_open, &a, -1, cpu, -1,
			  PERF_FLAG_FD_CLOEXEC);
	return fd < 0 ? -errno : (int)fd;
}

static int ebpf__attach(struct ebpf *e, double rate_hz)
{
	uint64_t period = (uint64_t)(1e9 / rate_hz);

	e->links = calloc(
		(size_t)e->ncpus,
		sizeof(*e->links)); // NOLINT(bugprone-sizeof-expression):
				    // an array of pointers
	if (!e->links)
		return -ENOMEM;
	for (int cpu = 0; cpu < e->ncpus; cpu++) {
		int fd = perf__open(cpu, period ? period : 1);
		if (fd == -ENODEV)
			continue; /* offline */
		if (fd < 0)
			return fd == -EACCES || fd == -EPERM ? -PS_EBPFPERM
							     : fd;
		struct bpf_link *l =
			bpf_program__attach_perf_event(e->prog, fd);
		if (!l) {
			int err = -errno;
			close(fd);
			return err == -EPERM || err == -EACCES ? -PS_EBPFPERM
							       : err;
		}
		/* The link owns the fd now. */
		e->links[e->nlinks++] = l;
	}
	return e->nlinks ? 0 : -PS_ENOBPF;
}

int ebpf__open(double rate_hz, struct ebpf **out)
{
	struct ebpf *e;
	int err;

	*out = NULL;
	why[0] = 0;
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		snprintf(why, sizeof(why),
			 "the kernel has no BTF (/sys/kernel/btf/vmlinux)");
		return -PS_ENOBPF;
	}
	libbpf_set_print(ebpf__print);
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->ncpus = libbpf_num_possible_cpus();
	if (e->ncpus <= 0) {
		err = e->ncpus ? e->ncpus : -ENODEV;
		free(e);
		return err;
	}
	size_t size;
	const void *elf = psample_bpf__elf_bytes(&size);
	e->obj = bpf_object__open_mem(elf, size, NULL);
	if (!e->obj) {
		err = -errno;
		free(e);
		return ebpf__load_error(err);
	}
	e->prog = bpf_object__find_program_by_name(e->obj, "psample_sample");
	e->config = bpf_object__find_map_by_name(e->obj, "pidns");
	e->procs = bpf_object__find_map_by_name(e->obj, "procs");
	e->threads = bpf_object__find_map_by_name(e->obj, "threads");
	e->samples = bpf_object__find_map_by_name(e->obj, "samples");
	e->events = bpf_object__find_map_by_name(e->obj, "events");
	e->counters = bpf_object__find_map_by_name(e->obj, "counters");
	e->unknown = bpf_object__find_map_by_name(e->obj, "unknown");
	if (!e->prog || !e->config || !e->procs || !e->threads || !e->samples ||
	    !e->events || !e->counters || !e->unknown) {
		ebpf__free(e);
		return -ENOENT;
	}
	if ((err = bpf_map__set_max_entries(e->samples, (uint32_t)e->ncpus)) ||
	    (err = bpf_object__load(e->obj))) {
		err = ebpf__load_error(err);
		ebpf__free(e);
		return err;
	}
	if ((err = ebpf__set_pidns(e)) || (err = ebpf__attach(e, rate_hz))) {
		ebpf__free(e);
		return err;
	}
	e->rb = ring_buffer__new(bpf_map__fd(e->events), ebpf__on_record, e,
				 NULL);
	if (!e->rb) {
		err = -errno;
		ebpf__free(e);
		return err;
	}
	*out = e;
	return 0;
}

void ebpf__free(struct ebpf *e)
{
	if (!e)
		return;
	ring_buffer__free(e->rb);
	for (uint32_t i = 0; i < e->nlinks; i++)
		bpf_link__destroy(e->links[i]);
	free(e->links);
	bpf_object__close(e->obj);
	free(e->recs);
	free(e->frames);
	free(e);
}

int ebpf__add_proc(struct ebpf *e, pid_t pid, const struct py_layout *l,
		   uint64_t frame_type)
{
	struct psb_proc p = {.layout = *l, .frame_type = frame_type};
	uint32_t key = (uint32_t)pid;

	/* The program cannot follow pointers: no name goes over. */
	p.layout.name = NULL;
	if (l->fr_size > PY_MAX_READ || l->ts_size > PY_MAX_READ)
		return -PS_EBADLAYOUT;
	if (bpf_map__update_elem(e->procs, &key, sizeof(key), &p, sizeof(p),
				 BPF_ANY))
		return -errno;
	return 0;
}

int ebpf__drop_proc(struct ebpf *e, pid_t pid)
{
	uint32_t key = (uint32_t)pid;

	if (bpf_map__delete_elem(e->procs, &key, sizeof(key), 0) &&
	    errno != ENOENT)
		return -errno;
	return 0;
}

int ebpf__set_thread(struct ebpf *e, pid_t tid, uint64_t tstate,
		     uint64_t expect)
{
	struct psb_thread th = {.tstate = tstate, .expect = expect};
	uint32_t key = (uint32_t)tid;

	if (bpf_map__update_elem(e->threads, &key, sizeof(key), &th, sizeof(th),
				 BPF_ANY))
		return -errno;
	return 0;
}

int ebpf__drop_thread(struct ebpf *e, pid_t tid)
{
	uint32_t key = (uint32_t)tid;

	if (bpf_map__delete_elem(e->threads, &key, sizeof(key), 0) &&
	    errno != ENOENT)
		return -errno;
	return 0;
}

int ebpf__take(struct ebpf *e)
{
	int n = ring_buffer__consume(e->rb);

	if (n < 0)
		return n;
	return e->err ? e->err : n;
}

uint32_t ebpf__records(struct ebpf *e, const struct ebpf_record **out)
{
	uint64_t at = 0;

	/* Each record's frames follow the previous one's. */
	for (uint32_t i = 0; i < e->nrecs; i++) {
		e->recs[i].raw.frames = e->frames + at;
		at += e->recs[i].raw.depth;
	}
	*out = e->recs;
	return e->nrecs;
}

void ebpf__clear(struct ebpf *e)
{
	e->nrecs = 0;
	e->nframes = 0;
	e->err = 0;
}

void ebpf__counters(const struct ebpf *e, struct ebpf_counters *c)
{
	uint64_t sum[PSB_NCOUNTERS] = {0};
	uint64_t *v = calloc((size_t)e->ncpus, sizeof(*v));

	memset(c, 0, sizeof(*c));
	if (!v)
		return;
	for (uint32_t k = 0; k < PSB_NCOUNTERS; k++) {
		if (bpf_map__lookup_elem(e->counters, &k, sizeof(k), v,
					 (size_t)e->ncpus * sizeof(*v), 0))
			continue;
		for (int cpu = 0; cpu < e->ncpus; cpu++)
			sum[k] += v[cpu];
	}
	free(v);
	c->events = sum[PSB_C_EVENTS];
	c->no_thread = sum[PSB_C_NO_THREAD];
	c->mismatch = sum[PSB_C_MISMATCH];
	c->read_err = sum[PSB_C_READ_ERR];
	c->truncated = sum[PSB_C_TRUNCATED];
	c->lost = sum[PSB_C_RINGBUF_FULL];
	c->sent = sum[PSB_C_SENT];
}
