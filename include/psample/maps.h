/*
 * maps.h - the memory map of a process, parsed from /proc/PID/maps.
 *
 * Used to find which ELF files (the python executable, libpython) are
 * mapped and where, so symbol values can be turned into addresses in the
 * target.
 */
#ifndef PSAMPLE_MAPS_H
#define PSAMPLE_MAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum {
	MAP_PERM_R = 1u << 0,
	MAP_PERM_W = 1u << 1,
	MAP_PERM_X = 1u << 2,
	MAP_PERM_P = 1u << 3, /* private (copy on write); else shared */
};

struct map_entry {
	uint64_t start, end; /* [start, end) */
	uint64_t offset; /* file offset of start */
	uint64_t inode;
	unsigned int dev_major, dev_minor;
	unsigned int perms; /* MAP_PERM_* */
	bool deleted; /* path ended in " (deleted)", which is stripped */
	char *path; /* owned; "" for anonymous mappings */
};

struct maps {
	struct map_entry *v;
	size_t n;
};

/*
 * Parse one line of a maps file (without or with its trailing newline).
 * On success fills *out, whose path the caller frees with free().
 * Returns -EINVAL for a malformed line.  Paths may contain spaces.
 */
int maps__parse_line(const char *line, struct map_entry *out);

/* Parse a whole maps text.  -EINVAL if any line is malformed. */
int maps__parse(const char *text, size_t len, struct maps **out);

/* Read and parse /proc/PID/maps.  -ESRCH if the process is gone. */
int maps__read(pid_t pid, struct maps **out);

void maps__free(struct maps *m);

/* The mapping that contains addr, or NULL. */
const struct map_entry *maps__find(const struct maps *m, uint64_t addr);

/*
 * The lowest-addressed mapping of the file at path whose file offset is 0:
 * the one the ELF load bias is computed from.  NULL if none.
 */
const struct map_entry *maps__file_base(const struct maps *m, const char *path);

/*
 * Where psample opens the file of pid's mapping me, so that it is the
 * file the process mapped, into buf: the first of
 * /proc/PID/root/<path> (a process in another mount namespace names its
 * own files), <path> itself (a process chrooted below psample's root:
 * the kernel prints its paths from psample's root, under which
 * /proc/PID/root/<path> does not exist) and /proc/PID/map_files/START-END
 * (any mapping, but only for CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE)
 * that is the mapped file by device and inode; failing all three,
 * /proc/PID/root/<path> (an overlay file system may show other numbers
 * in maps than stat gives).  -ENAMETOOLONG if buf is too small.
 */
int maps__open_path(pid_t pid, const struct map_entry *me, char *buf, size_t n);

#endif
