/* loader.c - load a flat binary or an ELF image into guest RAM. */
#include <elf.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/multiboot.h"
#include "vmm/vm.h"

int vm_check_range(struct vm *vm, uint64_t gpa, uint64_t len, const char *what, char *err,
		       size_t errlen)
{
	if (gpa >= vm->ram_size || len > vm->ram_size - gpa) {
		snprintf(err, errlen,
			 "%s at 0x%llx (%llu bytes) lies outside guest RAM (%llu MiB; see --mem)", what,
			 (unsigned long long)gpa, (unsigned long long)len,
			 (unsigned long long)(vm->ram_size >> 20));
		return -E2BIG;
	}
	if (vm->mode != MODE_REAL && len && gpa < BOOT_END && gpa + len > BOOT_START) {
		snprintf(err, errlen,
			 "%s at 0x%llx-0x%llx overlaps the vmm's GDT and page tables at 0x%llx-0x%llx",
			 what, (unsigned long long)gpa, (unsigned long long)(gpa + len - 1),
			 (unsigned long long)BOOT_START, (unsigned long long)BOOT_END - 1);
		return -EINVAL;
	}
	return 0;
}

struct seg { uint64_t vaddr, paddr, filesz, memsz, offset; };

static int load_elf(struct vm *vm, const uint8_t *img, size_t size, char *err, size_t errlen)
{
	bool is64 = img[EI_CLASS] == ELFCLASS64;
	uint64_t phoff, entry;
	unsigned phnum, phentsize, machine;

	if (img[EI_CLASS] != ELFCLASS32 && img[EI_CLASS] != ELFCLASS64) {
		snprintf(err, errlen, "bad ELF class %u", img[EI_CLASS]);
		return -ENOEXEC;
	}
	if (img[EI_DATA] != ELFDATA2LSB) {
		snprintf(err, errlen, "ELF is not little-endian: not an x86 image");
		return -ENOEXEC;
	}
	if (size < (is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr))) {
		snprintf(err, errlen, "ELF file truncated: %zu bytes is shorter than its header", size);
		return -ENOEXEC;
	}
	if (is64) {
		const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;

		machine = eh->e_machine, phoff = eh->e_phoff, entry = eh->e_entry;
		phnum = eh->e_phnum, phentsize = eh->e_phentsize;
	} else {
		const Elf32_Ehdr *eh = (const Elf32_Ehdr *)img;

		machine = eh->e_machine, phoff = eh->e_phoff, entry = eh->e_entry;
		phnum = eh->e_phnum, phentsize = eh->e_phentsize;
	}
	if (machine != EM_386 && machine != EM_X86_64) {
		snprintf(err, errlen, "ELF machine %u is not x86 (EM_386 or EM_X86_64)", machine);
		return -ENOEXEC;
	}
	if (phentsize != (is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr)) ||
	    phoff > size || (uint64_t)phnum * phentsize > size - phoff) {
		snprintf(err, errlen, "ELF file truncated or corrupt: program headers lie outside the file");
		return -ENOEXEC;
	}
	int loaded = 0;

	vm->elf_machine = machine;
	vm->nsegs = 0;
	for (unsigned i = 0; i < phnum; i++) {
		const uint8_t *ph = img + phoff + (uint64_t)i * phentsize;
		struct seg s;
		uint32_t type;
		char what[48];
		int r;

		if (is64) {
			const Elf64_Phdr *p = (const Elf64_Phdr *)ph;

			type = p->p_type;
			s = (struct seg){ p->p_vaddr, p->p_paddr, p->p_filesz, p->p_memsz, p->p_offset };
		} else {
			const Elf32_Phdr *p = (const Elf32_Phdr *)ph;

			type = p->p_type;
			s = (struct seg){ p->p_vaddr, p->p_paddr, p->p_filesz, p->p_memsz, p->p_offset };
		}
		if (type != PT_LOAD || s.memsz == 0)
			continue;
		if (s.filesz > s.memsz || s.offset > size || s.filesz > size - s.offset) {
			snprintf(err, errlen, "ELF file truncated: segment %u needs bytes %llu-%llu of a %zu-byte file",
				 i, (unsigned long long)s.offset,
				 (unsigned long long)(s.offset + s.filesz), size);
			return -ENOEXEC;
		}
		snprintf(what, sizeof(what), "ELF segment %u", i);
		r = vm_check_range(vm, s.paddr, s.memsz, what, err, errlen);
		if (r)
			return r;
		memcpy(vm->ram + s.paddr, img + s.offset, s.filesz);
		memset(vm->ram + s.paddr + s.filesz, 0, s.memsz - s.filesz);
		/* Kept for breakpoints on addresses the guest has not mapped yet;
		 * a segment whose virtual range wraps maps nothing by it. */
		if (vm->nsegs < VM_MAX_SEGS && s.vaddr + (s.memsz - 1) >= s.vaddr)
			vm->segs[vm->nsegs++] = (struct vm_seg){ s.vaddr, s.paddr, s.memsz };
		loaded++;
	}
	if (!loaded) {
		snprintf(err, errlen, "ELF has no loadable segment");
		return -ENOEXEC;
	}
	vm->entry = entry;
	return 0;
}

int vm_elf_paddr(const struct vm *vm, uint64_t va, uint64_t *gpa)
{
	for (int i = 0; i < vm->nsegs; i++) {
		const struct vm_seg *s = &vm->segs[i];

		if (va >= s->vaddr && va - s->vaddr < s->memsz) {
			*gpa = s->paddr + (va - s->vaddr);
			return 0;
		}
	}
	return -EFAULT;
}

int vm_read_file(const char *path, const char *what, uint64_t max, uint8_t **data, size_t *sizep, char *err,
		 size_t errlen)
{
	struct stat st;
	uint8_t *img = NULL;
	size_t size, done = 0;
	int fd, r;

	*data = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot open %s %s: %s", what, path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s %s is not a regular file", what, path);
		r = -EINVAL;
		goto out;
	}
	size = st.st_size;
	if (size == 0) {
		snprintf(err, errlen, "%s %s is empty", what, path);
		r = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		snprintf(err, errlen, "%s %s (%zu bytes) is larger than guest RAM (%llu bytes; see --mem)",
			 what, path, size, (unsigned long long)max);
		r = -E2BIG;
		goto out;
	}
	img = malloc(size);
	if (!img) {
		snprintf(err, errlen, "out of memory reading %s", path);
		r = -ENOMEM;
		goto out;
	}
	while (done < size) {
		ssize_t n = read(fd, img + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "cannot read %s %s: %s", what, path,
				 n < 0 ? strerror(errno) : "file shrank");
			r = -EIO;
			goto out;
		}
		done += n;
	}
	*data = img;
	*sizep = size;
	img = NULL;
	r = 0;
out:
	free(img);
	close(fd);
	return r;
}

/* A Multiboot kernel: by its address fields or its ELF program headers,
 * then the Multiboot information and modules. */
static int load_multiboot(struct vm *vm, const uint8_t *img, size_t size, const struct mb_header *h,
			  char *err, size_t errlen)
{
	uint64_t end = 0;
	int r;

	if (h->flags & MB_FLAG_ADDRESS) {
		r = mb_load_address_fields(vm, img, size, h, &end, err, errlen);
		/* An ELF file loaded by its address fields still carries the
		 * kernel's symbols: its machine says which layout gdb wants. */
		if (size >= sizeof(Elf32_Ehdr) && !memcmp(img, ELFMAG, SELFMAG)) {
			uint16_t m;

			memcpy(&m, img + offsetof(Elf32_Ehdr, e_machine), sizeof(m));
			if (m == EM_386 || m == EM_X86_64)
				vm->elf_machine = m;
		}
	} else if (size >= EI_NIDENT && !memcmp(img, ELFMAG, SELFMAG)) {
		r = load_elf(vm, img, size, err, errlen);
		for (int i = 0; r == 0 && i < vm->nsegs; i++)
			if (vm->segs[i].paddr + vm->segs[i].memsz > end)
				end = vm->segs[i].paddr + vm->segs[i].memsz;
	} else {
		snprintf(err, errlen, "Multiboot header at offset 0x%x without address fields (flag 16) "
			 "in a file that is not ELF: nowhere to load it", h->offset);
		r = -ENOEXEC;
	}
	if (r)
		return r;
	if (vm->entry >= (1ULL << 32)) {
		snprintf(err, errlen, "Multiboot entry point 0x%llx is beyond 4 GiB",
			 (unsigned long long)vm->entry);
		return -ENOEXEC;
	}
	vm->multiboot = true;
	return mb_build_info(vm, &vm->boot, end, err, errlen);
}

int vm_load_image(struct vm *vm, const char *path, uint64_t load_addr, char *err, size_t errlen)
{
	struct mb_header mb;
	uint8_t *img = NULL;
	size_t size = 0;
	int r;

	r = vm_read_file(path, "image", vm->ram_size, &img, &size, err, errlen);
	if (r || !img)
		return r ? r : -EIO;
	r = mb_find(img, size, &mb, err, errlen);
	if (r < 0)
		goto out;
	if (r == 1) {
		r = load_multiboot(vm, img, size, &mb, err, errlen);
		goto out;
	}
	if (vm->boot.cmdline || vm->boot.nmodules) {
		snprintf(err, errlen, "--append and --module are for Multiboot kernels; %s has no "
			 "Multiboot header in its first 8 KiB", path);
		r = -EINVAL;
		goto out;
	}
	if (size >= 4 && !memcmp(img, ELFMAG, SELFMAG)) {
		if (size < EI_NIDENT) {
			snprintf(err, errlen, "ELF file truncated: %zu bytes", size);
			r = -ENOEXEC;
			goto out;
		}
		r = load_elf(vm, img, size, err, errlen);
		goto out;
	}
	r = vm_check_range(vm, load_addr, size, "image", err, errlen);
	if (r)
		goto out;
	memcpy(vm->ram + load_addr, img, size);
	vm->entry = load_addr;
out:
	free(img);
	return r;
}
