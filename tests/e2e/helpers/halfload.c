/*
 * halfload.c - a process caught as the dynamic loader is loading a
 * library: the file is mapped from offset 0 in one piece, as ld.so's
 * first mmap of it does, but its data segment is not yet mapped over
 * it.  psample, attached at that moment (record does attach then, to a
 * command it has just started), must see an interpreter that is not
 * ready, not a version it does not support.
 *
 * usage: halfload LIBRARY; prints "ready" and waits to be killed.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct stat st;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: halfload LIBRARY\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		perror(argv[1]);
		return 1;
	}
	if (mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0) ==
	    MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	puts("ready");
	fflush(stdout);
	for (;;)
		pause();
}
