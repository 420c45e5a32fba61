/*
 * proc.c - small readers of /proc/PID and /proc/PID/task/TID files.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "psample/hash.h"
#include "psample/proc.h"

/* Threads proc__nstids reads at most in one call. */
#define PROC_NSTIDS_MAX 4096

/* Open a /proc file: its fd, or -ESRCH when its process or thread is
 * gone (the file is then missing), or another -errno. */
static int proc__open(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	return fd;
}

/* Read a small /proc file whole into buf (NUL-terminated); its length. */
static ssize_t proc__slurp(const char *path, char *buf, size_t n)
{
	int fd = proc__open(path);
	if (fd < 0)
		return fd;
	size_t len = 0;
	while (len + 1 < n) {
		ssize_t r = read(fd, buf + len, n - 1 - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int err = -errno;
			close(fd);
			return err == -ENOENT ? -ESRCH : err;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	return (ssize_t)len;
}

/* The state letter follows the last ')' (comm may contain ')' itself). */
static int stat__state(const char *stat)
{
	const char *p = strrchr(stat, ')');
	if (!p || p[1] != ' ' || !p[2])
		return -EINVAL;
	return (unsigned char)p[2];
}

int proc__alive(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	ssize_t n = proc__slurp(path, buf, sizeof(buf));
	if (n == -ESRCH)
		return 0;
	if (n < 0)
		return (int)n;
	int st = stat__state(buf);
	if (st < 0)
		return st;
	return st != 'Z' && st != 'X';
}

int proc__thread_state(pid_t pid, pid_t tid)
{
	char path[96], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid,
		 (int)tid);
	ssize_t n = proc__slurp(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	return stat__state(buf);
}

int proc__thread_comm(pid_t pid, pid_t tid, char *buf, size_t n)
{
	char path[96];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid,
		 (int)tid);
	ssize_t len = proc__slurp(path, buf, n);
	if (len < 0)
		return (int)len;
	if (len > 0 && buf[len - 1] == '\n')
		buf[len - 1] = '\0';
	return 0;
}

int proc__thread_name(pid_t pid, pid_t tid, char *buf, size_t n)
{
	char own[64];
	int err = proc__thread_comm(pid, tid, buf, n);

	if (err) {
		if (n)
			buf[0] = '\0';
		return err;
	}
	/* CPython before 3.14 leaves every thread named after the
	 * process: only a name the thread set itself says anything. */
	if (!proc__thread_comm(pid, pid, own, sizeof(own)) && !strcmp(buf, own))
		buf[0] = '\0';
	return 0;
}

int proc__cmdline(pid_t pid, char *buf, size_t n)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	ssize_t len = proc__slurp(path, buf, n);
	if (len < 0)
		return (int)len;
	/* Arguments are NUL-separated; a trailing NUL ends the last one. */
	while (len > 0 && buf[len - 1] == '\0')
		len--;
	for (ssize_t i = 0; i < len; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[len] = '\0';
	return 0;
}

bool proc__has_thread(pid_t pid, pid_t tid)
{
	char path[96];
	struct stat st;
	snprintf(path, sizeof(path), "/proc/%d/task/%d", (int)pid, (int)tid);
	return stat(path, &st) == 0;
}

int proc__tasks(pid_t pid, pid_t *out, size_t max)
{
	char path[64];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? -ESRCH : -errno;
	while ((de = readdir(d)) && n < max) {
		char *end;
		long tid = strtol(de->d_name, &end, 10);
		if (end != de->d_name && !*end && tid > 0)
			out[n++] = (pid_t)tid;
	}
	closedir(d);
	return (int)n;
}

int proc__nspid(pid_t pid, pid_t tid, int *levels)
{
	char path[64], buf[4096];
	ssize_t n;

	if (tid > 0)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/status",
			 (int)pid, (int)tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	*levels = 0;
	if ((n = proc__slurp(path, buf, sizeof(buf))) < 0)
		return (int)n;
	const char *p = strstr(buf, "\nNSpid:");
	if (!p)
		return 0;
	long last = 0;
	char *end;
	for (p += strlen("\nNSpid:");; p = end) {
		long v = strtol(p, &end, 10);
		if (end == p || v <= 0)
			break;
		last = v;
		(*levels)++;
	}
	return (int)last;
}

int proc__nstids(pid_t pid, struct proc_nstid *out, size_t max)
{
	pid_t tids[PROC_NSTIDS_MAX];
	size_t n = 0;
	int levels;
	int nt = proc__tasks(pid, tids,
			     max < PROC_NSTIDS_MAX ? max : PROC_NSTIDS_MAX);

	if (nt < 0)
		return nt;
	for (int i = 0; i < nt; i++) {
		int ns = proc__nspid(pid, tids[i], &levels);
		if (ns == -ESRCH)
			continue; /* ended meanwhile */
		if (ns < 0)
			return ns;
		out[n++] = (struct proc_nstid){.host = tids[i],
					       .ns = ns ? ns : tids[i]};
	}
	if (!n && !proc__alive(pid))
		return -ESRCH;
	return (int)n;
}

int proc__identity(pid_t pid, struct proc_identity *id)
{
	char path[64], buf[4096];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((n = proc__slurp(path, buf, sizeof(buf))) < 0)
		return (int)n;
	int st = stat__state(buf);
	id->exited = st == 'Z' || st == 'X';
	/* Fields after comm: state is field 3, starttime field 22. */
	const char *p = strrchr(buf, ')');
	if (!p)
		return -EINVAL;
	int field = 2;
	id->start = 0;
	for (p++; *p; p++) {
		if (*p != ' ')
			continue;
		if (++field == 22) {
			id->start = strtoull(p + 1, NULL, 10);
			break;
		}
	}
	if (field != 22)
		return -EINVAL;
	id->exec = 0;
	if (id->exited)
		return 0; /* no program left to tell apart */
	/* The auxiliary vector is written by each execve and holds
	 * addresses (AT_RANDOM, AT_EXECFN on the new stack) that ASLR
	 * moves: it tells an exec that /proc's other fields do not. */
	snprintf(path, sizeof(path), "/proc/%d/auxv", (int)pid);
	if ((n = proc__slurp(path, buf, sizeof(buf))) < 0)
		return (int)n;
	id->exec = hash__fnv1a(HASH_FNV_OFFSET, buf, (size_t)n);
	return 0;
}

/* Children from /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN). */
static int proc__children_files(pid_t pid, pid_t *out, size_t max)
{
	pid_t tids[1024] = {0};
	char path[96], buf[4096] = "";
	size_t n = 0;
	int nt = proc__tasks(pid, tids, 1024);

	if (nt < 0)
		return nt;
	for (int i = 0; i < nt; i++) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children",
			 (int)pid, (int)tids[i]);
		ssize_t len = proc__slurp(path, buf, sizeof(buf));
		if (len == -ESRCH && i == 0 && tids[i] == pid &&
		    !proc__has_thread(pid, pid))
			return -ESRCH;
		if (len < 0) {
			/* The thread ended, or no such file at all. */
			struct stat st;
			snprintf(path, sizeof(path), "/proc/%d/task/%d",
				 (int)pid, (int)tids[i]);
			if (!stat(path, &st))
				return -ENOTSUP;
			continue;
		}
		for (char *p = buf, *end; *p && n < max; p = end) {
			long c = strtol(p, &end, 10);
			if (end == p)
				break;
			if (c > 0)
				out[n++] = (pid_t)c;
		}
	}
	return (int)n;
}

/* What every /proc/N/stat says after its comm: ") S PPID PGRP ...". */
struct stat_head {
	pid_t pid;
	int state;
	long ppid, pgrp;
};

/* Call fn for every process until it returns non-zero: 0 or -errno. */
static int proc__scan(int (*fn)(const struct stat_head *h, void *arg),
		      void *arg)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	char path[64], buf[512];

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char *end;
		long c = strtol(de->d_name, &end, 10);
		if (end == de->d_name || *end || c <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/stat", c);
		if (proc__slurp(path, buf, sizeof(buf)) < 0)
			continue;
		const char *p = strrchr(buf, ')');
		if (!p || p[1] != ' ' || !p[2] || p[3] != ' ')
			continue;
		struct stat_head h = {.pid = (pid_t)c,
				      .state = (unsigned char)p[2]};
		h.ppid = strtol(p + 4, &end, 10);
		h.pgrp = strtol(end, NULL, 10);
		if (fn(&h, arg))
			break;
	}
	closedir(d);
	return 0;
}

struct children_scan {
	pid_t parent;
	pid_t *out;
	size_t n, max;
};

static int children__add(const struct stat_head *h, void *arg)
{
	struct children_scan *cs = arg;

	if (h->ppid == cs->parent)
		cs->out[cs->n++] = h->pid;
	return cs->n >= cs->max;
}

/* Children by parent pid, from every /proc/N/stat: the slow way. */
static int proc__children_scan(pid_t pid, pid_t *out, size_t max)
{
	struct children_scan cs = {.parent = pid, .out = out, .max = max};
	int err = max ? proc__scan(children__add, &cs) : 0;

	return err ? err : (int)cs.n;
}

int proc__children(pid_t pid, pid_t *out, size_t max)
{
	int n = proc__children_files(pid, out, max);
	return n == -ENOTSUP ? proc__children_scan(pid, out, max) : n;
}

struct group_scan {
	pid_t pgid;
	int n;
};

static int group__count(const struct stat_head *h, void *arg)
{
	struct group_scan *gs = arg;

	gs->n += h->pgrp == gs->pgid && h->state != 'Z' && h->state != 'X';
	return 0;
}

int proc__group_live(pid_t pgid)
{
	struct group_scan gs = {.pgid = pgid};
	int err = proc__scan(group__count, &gs);

	return err ? err : gs.n;
}

int proc__task_stat_open(pid_t pid, pid_t tid)
{
	char path[96];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid,
		 (int)tid);
	return proc__open(path);
}

int proc__task_stat_state(int fd)
{
	char buf[512];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	if (n == 0)
		return -ESRCH;
	buf[n] = '\0';
	return stat__state(buf);
}

int proc__statm_open(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	return proc__open(path);
}

int proc__image_open(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	return proc__open(path);
}

int proc__image_live(int fd, uint64_t addr)
{
	uint8_t b;

	/* End of file: the address space this fd was opened on is gone. */
	return pread(fd, &b, 1, (off_t)addr) == 0 ? 0 : 1;
}

int proc__shares_vm(pid_t a, pid_t b)
{
	long r = syscall(SYS_kcmp, (long)a, (long)b, (long)KCMP_VM, 0L, 0L);

	if (r < 0)
		return -errno;
	return r == 0;
}

int64_t proc__statm_resident(int fd)
{
	char buf[256];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return n < 0 ? -errno : -ESRCH;
	buf[n] = '\0';
	/* "size resident shared text lib data dt", in pages. */
	char *p = strchr(buf, ' ');
	if (!p)
		return -EINVAL;
	return (int64_t)strtoll(p + 1, NULL, 10) *
	       (int64_t)sysconf(_SC_PAGESIZE);
}
