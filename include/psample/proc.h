/*
 * proc.h - facts about a process and its threads from /proc.
 */
#ifndef PSAMPLE_PROC_H
#define PSAMPLE_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Whether the process exists (and is not a zombie).  Returns 1, 0, or a
 * negative errno when it cannot be told.
 */
int proc__alive(pid_t pid);

/*
 * The scheduler state letter of a thread (field 3 of
 * /proc/PID/task/TID/stat: 'R' running, 'S' sleeping, ...).  Returns the
 * letter, or a negative errno (-ESRCH if the thread is gone).
 */
int proc__thread_state(pid_t pid, pid_t tid);

/* The thread's name from /proc/PID/task/TID/comm, into buf. */
int proc__thread_comm(pid_t pid, pid_t tid, char *buf, size_t n);

/*
 * The name a thread gave itself: its comm, or "" when that is just the
 * process's own name (what every thread inherits).
 */
int proc__thread_name(pid_t pid, pid_t tid, char *buf, size_t n);

/* The command line, arguments joined by spaces, into buf. */
int proc__cmdline(pid_t pid, char *buf, size_t n);

/* Up to max of the process's thread ids into out; their number, or
 * -ESRCH. */
int proc__tasks(pid_t pid, pid_t *out, size_t max);

/*
 * The pid of a process or thread in the innermost pid namespace it
 * belongs to (the last number of the NSpid: line of its status file),
 * what it calls itself; path is /proc/PID/status or
 * /proc/PID/task/TID/status.  Returns that id (the same as the /proc
 * one outside a container), 0 on a kernel without NSpid (before 4.1),
 * or a negative errno (-ESRCH: gone).  *levels gets the number of
 * namespaces listed: 1 when the process is in /proc's own.
 */
int proc__nspid(pid_t pid, pid_t tid, int *levels);

/* A thread as /proc numbers it (host) and as its own namespace does. */
struct proc_nstid {
	pid_t host;
	pid_t ns;
};

/*
 * Up to max of the process's threads with both their ids into out; their
 * number, or a negative errno (-ESRCH: the process is gone).  Threads
 * that end while read are left out.
 */
int proc__nstids(pid_t pid, struct proc_nstid *out, size_t max);

/* Whether tid is a thread of pid. */
bool proc__has_thread(pid_t pid, pid_t tid);

/*
 * What tells one process from another with the same pid: its start time
 * (a reused pid starts later) and a hash of its auxiliary vector, which
 * each execve writes anew.
 */
struct proc_identity {
	uint64_t start; /* field 22 of /proc/PID/stat, clock ticks */
	uint64_t exec;
	bool exited; /* a zombie: ended, not yet reaped */
};

int proc__identity(pid_t pid, struct proc_identity *id);

/*
 * Up to max child pids of pid (of all its threads) into out; their
 * number, or -ESRCH.  Reads /proc/PID/task/TID/children, or scans every
 * process's parent where the kernel has no such file.
 */
int proc__children(pid_t pid, pid_t *out, size_t max);

/*
 * How many processes of process group pgid are alive (zombies do not
 * count), from every process's /proc/N/stat; or a negative errno.
 */
int proc__group_live(pid_t pgid);

/*
 * A thread's /proc stat file kept open, so its scheduler state costs one
 * pread per sample: the fd (the caller closes it) or a negative errno.
 */
int proc__task_stat_open(pid_t pid, pid_t tid);

/* The state letter from an fd of proc__task_stat_open, or -ESRCH. */
int proc__task_stat_state(int fd);

/* /proc/PID/statm kept open; and the resident bytes it says now. */
int proc__statm_open(pid_t pid);
int64_t proc__statm_resident(int fd);

/*
 * The program the process runs now, kept open (/proc/PID/mem, read
 * only): reads through it see this program's memory and nothing once
 * the process has exec'd another or ended, since the kernel lets the old
 * address space go.  That tells an exec for certain, where the identity
 * may not (the same binary run again without ASLR has the same auxv).
 * Not for a process that shares its address space (proc__shares_vm):
 * that one outlives the exec.  The fd (the caller closes it) or a
 * negative errno.
 */
int proc__image_open(pid_t pid);

/*
 * Whether the image of proc__image_open is still the process's: 0 once
 * it exec'd or ended, 1 otherwise (also when a read cannot tell).  addr
 * is any address mapped in that image.
 */
int proc__image_live(int fd, uint64_t addr);

/*
 * Whether processes a and b share one address space (kcmp KCMP_VM):
 * 1, 0, or a negative errno (a kernel without kcmp says -ENOSYS).  A
 * vfork child shares its parent's until it execs or exits: read then,
 * it is the parent's memory, program and command line.
 */
int proc__shares_vm(pid_t a, pid_t b);

#endif
