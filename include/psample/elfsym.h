/*
 * elfsym.h - symbols, sections and load segments of an ELF file (libelf).
 *
 * psample reads the target's python executable or libpython from disk (via
 * /proc/PID/root so a container's files resolve) to find _PyRuntime,
 * Py_Version and PyCode_Type without touching the target.
 */
#ifndef PSAMPLE_ELFSYM_H
#define PSAMPLE_ELFSYM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct elf_file;

/* Open path for reading.  -ENOENT, -EACCES, or -ENOEXEC if not an ELF. */
int elf_file__open(const char *path, struct elf_file **out);
void elf_file__free(struct elf_file *ef);

/*
 * Look a defined symbol up by name, in .dynsym first and then .symtab.
 * Fills its value (link-time address) and size.  -ENOENT if absent.
 */
int elf_file__symbol(const struct elf_file *ef, const char *name,
		     uint64_t *value, uint64_t *size);

/* A section's link-time address and size.  -ENOENT if absent. */
int elf_file__section(const struct elf_file *ef, const char *name,
		      uint64_t *addr, uint64_t *size);

/*
 * The lowest PT_LOAD p_vaddr, rounded down to its page: subtract from the
 * start of the file's offset-0 mapping to get the load bias.
 */
uint64_t elf_file__base_vaddr(const struct elf_file *ef);

/*
 * Read len bytes of file-backed data at link-time address vaddr (through
 * the PT_LOAD segment that holds it).  -ENOENT if no segment holds all of
 * it in the file (e.g. it is .bss).
 */
int elf_file__read(const struct elf_file *ef, uint64_t vaddr, void *buf,
		   size_t len);

/* Whether a DT_NEEDED entry starts with prefix (e.g. "libpython3."). */
bool elf_file__needs(const struct elf_file *ef, const char *prefix);

#endif
