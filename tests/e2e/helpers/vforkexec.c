/*
 * vforkexec.c - a vfork child that waits before its exec, loaded by
 * tests/e2e/workloads/family.py through ctypes.  subprocess starts its
 * children the same way (vfork, then exec), but the child's time in its
 * parent's memory is a few microseconds there; here it is long enough
 * for psample's scan to find the child in it every time, as it will,
 * rarely, for real.
 */
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

pid_t vforkexec(const char *path, char *const argv[], long wait_ms);

/*
 * Start path with argv after the child has spent wait_ms in its parent's
 * memory (the parent's calling thread is suspended all that time, as
 * vfork does).  The child's pid, or -1.
 */
pid_t vforkexec(const char *path, char *const argv[], long wait_ms)
{
	struct timespec ts = {.tv_sec = wait_ms / 1000,
			      .tv_nsec = (wait_ms % 1000) * 1000000L};
	// NOLINTNEXTLINE(clang-analyzer-security.insecureAPI.vfork)
	pid_t pid = vfork();

	if (pid == 0) {
		/* Only system calls here: the stack and memory are the
		 * parent's. */
		nanosleep(&ts, NULL);
		execv(path, argv);
		_exit(127);
	}
	return pid;
}
