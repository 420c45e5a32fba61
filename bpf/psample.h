/*
 * psample.h - what the eBPF program (psample.bpf.c) and the user-space
 * backend (src/bpf/) both read, and nothing else: the per-process
 * configuration, a thread's entry in the tid map, the record each sample
 * sends through the ring buffer, the error counters and the limits.
 *
 * Both sides are LP64 (x86-64 and BPF), so every struct here, the
 * struct py_layout inside the configuration included, has one layout.
 */
#ifndef PSAMPLE_BPF_PSAMPLE_H
#define PSAMPLE_BPF_PSAMPLE_H

#include "psample/pylayout.h"
#include "psample/rawstack.h"

/* Frames (Python and shims) a sample keeps, innermost first; a deeper
 * stack is marked truncated.  A power of two: indexes are masked. */
#define PSB_MAX_FRAMES 2048
/* Processes and threads the maps hold; processes not sampled that were
 * met on a CPU since user space last asked (--all). */
#define PSB_MAX_PROCS 256
#define PSB_MAX_THREADS 65536
#define PSB_MAX_UNKNOWN 1024
/* The ring buffer: records of about 1 s of the deepest stacks at 100 Hz
 * on two CPUs; a power of two of pages. */
#define PSB_RINGBUF_BYTES (16u << 20)

/*
 * The pid namespace psample runs in (the one its /proc numbers
 * processes in), so the program names tasks as psample does, in a
 * container too.  ino 0: the ids the kernel's root namespace gives.
 */
struct psb_config {
	uint64_t pidns_dev;
	uint64_t pidns_ino;
	/* --all: note the tgid of every task met that is not a configured
	 * process, for user space to look at */
	uint32_t watch;
	uint32_t pad;
};

/* Per process (key: tgid as psample's /proc numbers it). */
struct psb_proc {
	struct py_layout layout;
	/* &PyFrame_Type where frames are objects (3.8-3.10), else 0: a
	 * frame whose type differs is not walked further */
	uint64_t frame_type;
};

/* Per thread (key: tid as psample's /proc numbers it): filled from the
 * interpreter's thread list. */
struct psb_thread {
	uint64_t tstate;
	/* What the thread state must hold for the entry to be believed:
	 * native_thread_id (the thread's id in its own pid namespace) where
	 * the version has one, else thread_id, its pthread_self(), which
	 * is the fs base on x86-64 */
	uint64_t expect;
};

enum psb_flags {
	PSB_F_TRUNCATED = 1u << 0, /* deeper than PSB_MAX_FRAMES */
	PSB_F_READ_ERR = 1u << 1, /* a read faulted: the stack is partial */
	PSB_F_CORRUPT = 1u << 2, /* a frame did not check out */
};

/* One frame: a struct py_rawentry without the chunk (frames are read
 * where they are, never from a copy of a chunk). */
struct psb_frame {
	uint64_t code;
	uint64_t pos;
	uint64_t addr;
	int32_t tlbc;
	uint32_t marks; /* enum py_raw_mark */
};

/* A sample: a header, then nframes frames (only those are sent). */
struct psb_sample {
	uint32_t pid;
	uint32_t tid;
	uint64_t tstate;
	uint64_t time_ns;
	uint32_t nframes;
	uint32_t flags; /* enum psb_flags */
	struct psb_frame frames[PSB_MAX_FRAMES];
};

#define PSB_SAMPLE_HDR __builtin_offsetof(struct psb_sample, frames)

/* Per-CPU counters, summed by user space. */
enum psb_counter {
	PSB_C_EVENTS, /* perf events that interrupted a configured process */
	PSB_C_NO_THREAD, /* its thread is not in the tid map (yet) */
	PSB_C_MISMATCH, /* the thread state did not belong to the thread */
	PSB_C_READ_ERR, /* a read of the thread state or a frame faulted */
	PSB_C_TRUNCATED, /* stacks deeper than PSB_MAX_FRAMES */
	PSB_C_RINGBUF_FULL, /* records lost: the ring buffer was full */
	PSB_C_SENT, /* records sent */
	PSB_NCOUNTERS,
};

#endif
