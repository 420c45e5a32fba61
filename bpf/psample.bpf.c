/*
 * psample.bpf.c - the eBPF walker: on each tick of a CPU-clock perf
 * event, the Python stack of the thread it interrupted, as a raw stack
 * (the code object, position and address of each frame, shims marked)
 * sent through a ring buffer.  User space names it with the same
 * resolver as the process_vm_readv walker.
 *
 * The thread state comes from a map user space fills from the
 * interpreter's thread list, checked against the thread with one read;
 * the frames are decoded by pylayout.h's functions with the layout user
 * space found for the process, so both backends read frames by the same
 * rules.  The walk runs in the interrupted thread itself: its stack
 * cannot change while it is read.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "psample.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct psb_config);
} pidns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PSB_MAX_PROCS);
	__type(key, u32);
	__type(value, struct psb_proc);
} procs SEC(".maps");

/* --all: processes met on a CPU that are not in procs (value unused).
 * LRU: when full, the longest unseen go, and come back if they run. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PSB_MAX_UNKNOWN);
	__type(key, u32);
	__type(value, u32);
} unknown SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PSB_MAX_THREADS);
	__type(key, u32);
	__type(value, struct psb_thread);
} threads SEC(".maps");

/* A sample being built, per CPU (too big for a per-CPU map value: user
 * space sizes this to the possible CPUs, indexed by CPU). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct psb_sample);
} samples SEC(".maps");

/*
 * 3.11+: frames sit in data-stack chunks, each caller below its callee,
 * so one read of WINDOW bytes ending where a frame ends holds several of
 * its callers too: a walk makes a few reads, not one per frame.  A power
 * of two: offsets into it are masked.
 */
#define WINDOW 2048

/* Bytes read from the target, each with room for the last word at the
 * largest masked offset (PY_OFF): a thread state or a frame, and a
 * window of a data-stack chunk. */
struct rbuf {
	uint8_t b[PY_MAX_READ + 8];
	uint8_t w[WINDOW + PY_MAX_READ + 8];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct rbuf);
} bufs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, PSB_RINGBUF_BYTES);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PSB_NCOUNTERS);
	__type(key, u32);
	__type(value, u64);
} counters SEC(".maps");

static void count(u32 which)
{
	u64 *c = bpf_map_lookup_elem(&counters, &which);

	if (c)
		(*c)++;
}

/* A read size from the layout, bounded for the verifier. */
static u32 read_size(u32 n)
{
	return n > PY_MAX_READ ? PY_MAX_READ : n;
}

struct walk {
	const struct psb_proc *proc;
	struct psb_sample *s;
	struct rbuf *buf;
	u64 frame;
	u64 wbase, wlen; /* the window: wlen bytes at wbase, in buf->w */
};

/* The fr_size bytes of frame f, or NULL when they cannot be read. */
static const uint8_t *walk__bytes(struct walk *w, const struct py_layout *l)
{
	u64 f = w->frame, sz = read_size(l->fr_size);

	if (l->flags & PY_L_CHUNKS) {
		if (f >= w->wbase && f + sz <= w->wbase + w->wlen)
			return w->buf->w + ((f - w->wbase) & (WINDOW - 1));
		/* Not below the frame's own page: what lies before the
		 * chunk may be unmapped, and the read would fault. */
		u64 start = f + sz > WINDOW ? f + sz - WINDOW : 0;
		if (start < (f & ~4095ull))
			start = f & ~4095ull;
		u64 len = f + sz - start;
		if (len > WINDOW)
			len = WINDOW;
		if (!bpf_probe_read_user(w->buf->w, len, (const void *)start)) {
			w->wbase = start;
			w->wlen = len;
			return w->buf->w + ((f - start) & (WINDOW - 1));
		}
	}
	if (bpf_probe_read_user(w->buf->b, sz, (const void *)f))
		return NULL;
	return w->buf->b;
}

/* One frame of the walk (a bpf_loop callback): 0 goes on, 1 stops. */
static long walk__frame(u32 i, void *arg)
{
	struct walk *w = arg;
	const struct py_layout *l = &w->proc->layout;
	struct psb_sample *s = w->s;
	struct py_rawframe rf;
	u32 n = s->nframes;

	(void)i;
	if (!w->frame)
		return 1;
	if (n >= PSB_MAX_FRAMES) {
		s->flags |= PSB_F_TRUNCATED;
		return 1;
	}
	const uint8_t *fb = walk__bytes(w, l);
	if (!fb) {
		s->flags |= PSB_F_READ_ERR;
		return 1;
	}
	/* A frame object freed and reused since it was linked. */
	if ((l->flags & PY_L_FRAME_OBJECT) && w->proc->frame_type &&
	    py__u64(fb, l->ob_type) != w->proc->frame_type) {
		s->flags |= PSB_F_CORRUPT;
		return 1;
	}
	pyframe__decode(l, fb, &rf);
	if (!pyframe__owner_ok(l, &rf)) {
		s->flags |= PSB_F_CORRUPT;
		return 1;
	}
	u32 marks = 0;
	if (pyframe__is_shim(l, &rf))
		marks = PY_RAW_SHIM;
	else if (!rf.code)
		marks = PY_RAW_NOCODE;
	else if (pyframe__is_entry(l, fb))
		marks = PY_RAW_ENTRY;
	/* The frame above a shim is the first of an eval loop entered
	 * from C. */
	if ((marks & PY_RAW_SHIM) && n) {
		struct psb_frame *up =
			&s->frames[(n - 1) & (PSB_MAX_FRAMES - 1)];
		if (!(up->marks & (PY_RAW_SHIM | PY_RAW_NOCODE)))
			up->marks |= PY_RAW_ENTRY;
	}
	struct psb_frame *e = &s->frames[n & (PSB_MAX_FRAMES - 1)];
	e->code = rf.code;
	e->pos = rf.pos;
	e->addr = w->frame;
	e->tlbc = rf.tlbc;
	e->marks = marks;
	s->nframes = n + 1;
	w->frame = rf.back;
	return 0;
}

/* The thread state's current frame, 0 if none; -1 on a fault. */
static s64 tstate__frame(const struct py_layout *l, const uint8_t *ts)
{
	u64 f = py__u64(ts, l->ts_frame);

	if ((l->flags & PY_L_CFRAME) && f) {
		u64 cf = f;
		if (bpf_probe_read_user(&f, sizeof(f),
					(const void *)(cf + l->cf_current)))
			return -1;
	}
	return (s64)f;
}

/* The interrupted task's tgid and tid in psample's pid namespace; false
 * for the idle task, or a task outside that namespace. */
static bool task__ids(const struct psb_config *cfg, u32 *tgid, u32 *tid)
{
	u64 id = bpf_get_current_pid_tgid();

	if (!(u32)id)
		return false; /* idle */
	if (cfg && cfg->pidns_ino) {
		struct bpf_pidns_info ns;
		if (bpf_get_ns_current_pid_tgid(cfg->pidns_dev, cfg->pidns_ino,
						&ns, sizeof(ns)))
			return false;
		*tgid = ns.tgid;
		*tid = ns.pid;
		return *tid != 0;
	}
	*tgid = id >> 32;
	*tid = (u32)id;
	return true;
}

SEC("perf_event")
int psample_sample(void *ctx)
{
	u32 tgid, tid, zero = 0;
	const struct psb_proc *proc;
	const struct psb_thread *th;

	(void)ctx;
	const struct psb_config *cfg = bpf_map_lookup_elem(&pidns, &zero);
	if (!task__ids(cfg, &tgid, &tid))
		return 0;
	proc = bpf_map_lookup_elem(&procs, &tgid);
	if (!proc) {
		/* --all finds the processes to sample among those that run,
		 * not by reading every process of /proc every second. */
		if (cfg && cfg->watch)
			bpf_map_update_elem(&unknown, &tgid, &zero,
					    BPF_NOEXIST);
		return 0;
	}
	count(PSB_C_EVENTS);
	th = bpf_map_lookup_elem(&threads, &tid);
	if (!th) {
		count(PSB_C_NO_THREAD);
		return 0;
	}
	const struct py_layout *l = &proc->layout;
	u32 cpu = bpf_get_smp_processor_id();
	struct psb_sample *s = bpf_map_lookup_elem(&samples, &cpu);
	struct rbuf *buf = bpf_map_lookup_elem(&bufs, &zero);
	if (!s || !buf)
		return 0;

	/* One read of the thread state: whose it is, and its frame. */
	if (bpf_probe_read_user(buf->b, read_size(l->ts_size),
				(const void *)th->tstate)) {
		count(PSB_C_READ_ERR);
		return 0;
	}
	u64 expect = th->expect;
	if (l->flags & PY_L_NATIVE_TID) {
		if (py__u64(buf->b, l->ts_native_tid) != expect) {
			count(PSB_C_MISMATCH);
			return 0;
		}
	} else {
		struct task_struct *task = (void *)bpf_get_current_task();
		u64 fsbase = BPF_CORE_READ(task, thread.fsbase);
		if (py__u64(buf->b, l->ts_thread_id) != fsbase) {
			count(PSB_C_MISMATCH);
			return 0;
		}
	}
	s64 f = tstate__frame(l, buf->b);
	if (f < 0) {
		count(PSB_C_READ_ERR);
		return 0;
	}

	s->pid = tgid;
	s->tid = tid;
	s->tstate = th->tstate;
	s->time_ns = bpf_ktime_get_ns();
	s->nframes = 0;
	s->flags = 0;
	struct walk w = {.proc = proc, .s = s, .buf = buf, .frame = f};
	/* One more turn than frames: the last finds the stack deeper. */
	bpf_loop(PSB_MAX_FRAMES + 1, walk__frame, &w, 0);
	if (s->flags & (PSB_F_READ_ERR | PSB_F_CORRUPT))
		count(PSB_C_READ_ERR);
	if (s->flags & PSB_F_TRUNCATED)
		count(PSB_C_TRUNCATED);

	u64 n = s->nframes;
	if (n > PSB_MAX_FRAMES)
		n = PSB_MAX_FRAMES;
	u64 len = PSB_SAMPLE_HDR + n * sizeof(struct psb_frame);
	if (len > sizeof(*s))
		len = sizeof(*s);
	/* User space takes records on its own timer: no wake-up each. */
	if (bpf_ringbuf_output(&events, s, len, BPF_RB_NO_WAKEUP))
		count(PSB_C_RINGBUF_FULL);
	else
		count(PSB_C_SENT);
	return 0;
}
