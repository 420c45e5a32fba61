/*
 * task.c - small readers of /proc/PID and /proc/PID/task/TID files.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "psample/proc.h"

/* Read a small /proc file whole into buf (NUL-terminated); its length. */
static ssize_t proc__slurp(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
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

int proc__root_path(pid_t pid, const char *path, char *buf, size_t n)
{
	int len = snprintf(buf, n, "/proc/%d/root%s", (int)pid, path);
	if (len < 0 || (size_t)len >= n)
		return -ENAMETOOLONG;
	return 0;
}
