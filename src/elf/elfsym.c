/*
 * elfsym.c - symbols, sections, load segments and DT_NEEDED entries of an
 * ELF file on disk, read with libelf.
 *
 * psample finds _PyRuntime, Py_Version and friends in the target's python
 * executable or libpython this way, so it never has to guess from the
 * target's memory.  Lookups happen a few times per attach, so plain linear
 * scans are used; the file stays open while the struct lives.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "psample/elfsym.h"

/*
 * The kernel maps ELF segments at page granularity, and psample only
 * targets x86-64, whose page is 4 KiB.
 */
#define ELF_PAGE_SIZE 4096u

struct elf_file {
	int fd;
	Elf *elf;
};

int elf_file__open(const char *path, struct elf_file **out)
{
	struct elf_file *ef;
	struct stat st;
	GElf_Ehdr ehdr;
	int err;

	if (!path || !out)
		return -EINVAL;
	/* Tells libelf which ELF version we understand; idempotent. */
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOSYS;

	ef = calloc(1, sizeof(*ef));
	if (!ef)
		return -ENOMEM;
	ef->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (ef->fd < 0) {
		err = -errno;
		free(ef);
		return err;
	}
	/* libelf would fail on a directory or device with a vaguer error. */
	if (fstat(ef->fd, &st) < 0) {
		err = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -ENOEXEC;
		goto fail;
	}
	ef->elf = elf_begin(ef->fd, ELF_C_READ_MMAP, NULL);
	if (!ef->elf || elf_kind(ef->elf) != ELF_K_ELF ||
	    !gelf_getehdr(ef->elf, &ehdr)) {
		err = -ENOEXEC;
		goto fail;
	}
	*out = ef;
	return 0;

fail:
	elf_file__free(ef);
	return err;
}

void elf_file__free(struct elf_file *ef)
{
	if (!ef)
		return;
	if (ef->elf)
		(void)elf_end(ef->elf);
	if (ef->fd >= 0)
		(void)close(ef->fd);
	free(ef);
}

/*
 * One section holding a table of fixed-size entries (symbols, dynamic
 * tags), as elf_file__next_table steps through them.
 */
struct elf_table {
	Elf_Scn *scn;
	GElf_Shdr shdr;
	Elf_Data *data;
	size_t n;
};

/*
 * Step t (zeroed to start) to the next readable section of the given
 * type.  False once there is none left.
 */
static bool elf_file__next_table(const struct elf_file *ef, Elf64_Word type,
				 struct elf_table *t)
{
	while ((t->scn = elf_nextscn(ef->elf, t->scn))) {
		if (!gelf_getshdr(t->scn, &t->shdr) ||
		    t->shdr.sh_type != type || t->shdr.sh_entsize == 0)
			continue;
		t->data = elf_getdata(t->scn, NULL);
		if (!t->data)
			continue;
		/* gelf_get* index with int; bound a hostile sh_size. */
		t->n = t->shdr.sh_size / t->shdr.sh_entsize;
		if (t->n > INT_MAX)
			t->n = INT_MAX;
		return true;
	}
	return false;
}

/*
 * Search every symbol table section of the given type.  Within one table a
 * global or weak definition beats a local one: a static of the same name in
 * some other translation unit is not the symbol the program refers to.
 */
static int elf_file__symbol_in(const struct elf_file *ef, Elf64_Word type,
			       const char *name, GElf_Sym *out)
{
	struct elf_table t = {0};
	bool have_local = false;

	while (elf_file__next_table(ef, type, &t)) {
		for (size_t i = 0; i < t.n; i++) {
			GElf_Sym sym;
			const char *s;

			if (!gelf_getsym(t.data, (int)i, &sym) ||
			    sym.st_shndx == SHN_UNDEF || sym.st_name == 0)
				continue;
			s = elf_strptr(ef->elf, t.shdr.sh_link, sym.st_name);
			if (!s || strcmp(s, name) != 0)
				continue;
			if (GELF_ST_BIND(sym.st_info) != STB_LOCAL) {
				*out = sym;
				return 0;
			}
			if (!have_local) {
				*out = sym;
				have_local = true;
			}
		}
	}
	return have_local ? 0 : -ENOENT;
}

int elf_file__symbol(const struct elf_file *ef, const char *name,
		     uint64_t *value, uint64_t *size)
{
	GElf_Sym sym;

	if (!ef || !name)
		return -EINVAL;
	/* .dynsym survives stripping; .symtab has the non-exported rest. */
	if (elf_file__symbol_in(ef, SHT_DYNSYM, name, &sym) &&
	    elf_file__symbol_in(ef, SHT_SYMTAB, name, &sym))
		return -ENOENT;
	if (value)
		*value = sym.st_value;
	if (size)
		*size = sym.st_size;
	return 0;
}

int elf_file__section(const struct elf_file *ef, const char *name,
		      uint64_t *addr, uint64_t *size)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (!ef || !name)
		return -EINVAL;
	if (elf_getshdrstrndx(ef->elf, &shstrndx) != 0)
		return -ENOENT;
	while ((scn = elf_nextscn(ef->elf, scn))) {
		GElf_Shdr shdr;
		const char *s;

		if (!gelf_getshdr(scn, &shdr))
			continue;
		s = elf_strptr(ef->elf, shstrndx, shdr.sh_name);
		if (!s || strcmp(s, name) != 0)
			continue;
		if (addr)
			*addr = shdr.sh_addr;
		if (size)
			*size = shdr.sh_size;
		return 0;
	}
	return -ENOENT;
}

uint64_t elf_file__base_vaddr(const struct elf_file *ef)
{
	uint64_t lowest = UINT64_MAX;
	size_t n;

	if (!ef || elf_getphdrnum(ef->elf, &n) != 0)
		return 0;
	if (n > INT_MAX)
		n = INT_MAX;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(ef->elf, (int)i, &ph) &&
		    ph.p_type == PT_LOAD && ph.p_vaddr < lowest)
			lowest = ph.p_vaddr;
	}
	if (lowest == UINT64_MAX)
		return 0;
	/*
	 * The kernel maps a segment from its page-aligned start (ELF_PAGESTART
	 * of p_vaddr, with the file offset rounded down alike), so the
	 * offset-0 mapping begins at the page holding the lowest p_vaddr.
	 * p_align does not enter into it: a larger p_align (64 KiB arm64-ready
	 * builds) only aligns the load bias, and with a smaller one the kernel
	 * still rounds to its page, so rounding to p_align would be wrong.
	 */
	return lowest & ~(uint64_t)(ELF_PAGE_SIZE - 1);
}

int elf_file__read(const struct elf_file *ef, uint64_t vaddr, void *buf,
		   size_t len)
{
	size_t n;

	if (!ef || (!buf && len))
		return -EINVAL;
	if (elf_getphdrnum(ef->elf, &n) != 0)
		return -ENOENT;
	if (n > INT_MAX)
		n = INT_MAX;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;
		uint64_t delta;
		size_t done = 0;

		if (!gelf_getphdr(ef->elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		/* Written to avoid overflow on hostile header values. */
		if (vaddr < ph.p_vaddr)
			continue;
		delta = vaddr - ph.p_vaddr;
		if (delta > ph.p_filesz || len > ph.p_filesz - delta)
			continue;
		if (ph.p_offset > (uint64_t)INT64_MAX - delta ||
		    len > (uint64_t)INT64_MAX - (ph.p_offset + delta))
			return -EINVAL;
		while (done < len) {
			ssize_t r =
				pread(ef->fd, (char *)buf + done, len - done,
				      (off_t)(ph.p_offset + delta + done));

			if (r < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			/* The headers promised more than the file holds. */
			if (r == 0)
				return -EIO;
			done += (size_t)r;
		}
		return 0;
	}
	return -ENOENT;
}

bool elf_file__needs(const struct elf_file *ef, const char *prefix)
{
	struct elf_table t = {0};
	size_t plen;

	if (!ef || !prefix)
		return false;
	plen = strlen(prefix);
	while (elf_file__next_table(ef, SHT_DYNAMIC, &t)) {
		for (size_t i = 0; i < t.n; i++) {
			GElf_Dyn dyn;
			const char *s;

			if (!gelf_getdyn(t.data, (int)i, &dyn) ||
			    dyn.d_tag == DT_NULL)
				break;
			if (dyn.d_tag != DT_NEEDED)
				continue;
			s = elf_strptr(ef->elf, t.shdr.sh_link, dyn.d_un.d_val);
			if (s && strncmp(s, prefix, plen) == 0)
				return true;
		}
	}
	return false;
}
