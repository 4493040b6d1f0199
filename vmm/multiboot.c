/* multiboot.c - Multiboot (version 1) images; see multiboot.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/multiboot.h"
#include "vmm/vm.h"

#define MB_KNOWN_FLAGS 0xffffu /* bits 0-15: a loader must refuse those it does not know */
#define MB_LOW_END     0x9fc00ULL   /* 639 KiB of conventional memory */
#define MB_HIGH_START  0x100000ULL

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

int mb_find(const uint8_t *img, size_t size, struct mb_header *h, char *err, size_t errlen)
{
	size_t end = size < MB_SEARCH ? size : MB_SEARCH;

	for (size_t off = 0; off + 12 <= end; off += 4) {
		uint32_t flags, sum;

		if (get32(img + off) != MB_HEADER_MAGIC)
			continue;
		flags = get32(img + off + 4);
		sum = MB_HEADER_MAGIC + flags + get32(img + off + 8);
		if (sum != 0) {
			snprintf(err, errlen, "Multiboot header at offset 0x%zx: bad checksum "
				 "(magic + flags + checksum = 0x%x, not 0)", off, sum);
			return -ENOEXEC;
		}
		if (flags & MB_FLAG_VIDEO) {
			snprintf(err, errlen, "Multiboot header at offset 0x%zx asks for a video mode "
				 "(flag 2): the vmm has no display", off);
			return -ENOEXEC;
		}
		if (flags & MB_KNOWN_FLAGS & ~(MB_FLAG_ALIGN | MB_FLAG_MEMINFO)) {
			snprintf(err, errlen, "Multiboot header at offset 0x%zx asks for features "
				 "0x%x that the vmm does not know", off,
				 flags & MB_KNOWN_FLAGS & ~(MB_FLAG_ALIGN | MB_FLAG_MEMINFO));
			return -ENOEXEC;
		}
		*h = (struct mb_header){ .offset = (uint32_t)off, .flags = flags };
		if (flags & MB_FLAG_ADDRESS) {
			if (off + 32 > size) {
				snprintf(err, errlen, "Multiboot header at offset 0x%zx: its address fields "
					 "(flag 16) lie past the end of the file", off);
				return -ENOEXEC;
			}
			h->header_addr = get32(img + off + 12);
			h->load_addr = get32(img + off + 16);
			h->load_end_addr = get32(img + off + 20);
			h->bss_end_addr = get32(img + off + 24);
			h->entry_addr = get32(img + off + 28);
		}
		return 1;
	}
	return 0;
}

int mb_load_address_fields(struct vm *vm, const uint8_t *img, size_t size, const struct mb_header *h,
			   uint64_t *end, char *err, size_t errlen)
{
	uint64_t file_off, len, mem_end;

	if (h->load_addr > h->header_addr || h->header_addr - h->load_addr > h->offset) {
		snprintf(err, errlen, "Multiboot address fields: load_addr 0x%x and header_addr 0x%x "
			 "put the load address before the file's start", h->load_addr, h->header_addr);
		return -ENOEXEC;
	}
	file_off = h->offset - (uint64_t)(h->header_addr - h->load_addr);
	len = h->load_end_addr ? (uint64_t)h->load_end_addr - h->load_addr : size - file_off;
	if (h->load_end_addr && h->load_end_addr < h->load_addr) {
		snprintf(err, errlen, "Multiboot address fields: load_end_addr 0x%x is below load_addr 0x%x",
			 h->load_end_addr, h->load_addr);
		return -ENOEXEC;
	}
	if (len > size - file_off) {
		snprintf(err, errlen, "Multiboot address fields: 0x%llx bytes to load from offset 0x%llx "
			 "of a %zu-byte file", (unsigned long long)len, (unsigned long long)file_off, size);
		return -ENOEXEC;
	}
	mem_end = h->load_addr + len;
	if (h->bss_end_addr) {
		if (h->bss_end_addr < mem_end) {
			snprintf(err, errlen, "Multiboot address fields: bss_end_addr 0x%x is below the "
				 "end of what is loaded (0x%llx)", h->bss_end_addr, (unsigned long long)mem_end);
			return -ENOEXEC;
		}
		mem_end = h->bss_end_addr;
	}
	if (vm_check_range(vm, h->load_addr, mem_end - h->load_addr, "Multiboot kernel", err, errlen))
		return -EINVAL;
	memcpy(vm->ram + h->load_addr, img + file_off, len);
	memset(vm->ram + h->load_addr + len, 0, mem_end - h->load_addr - len);
	vm->entry = h->entry_addr;
	*end = mem_end;
	return 0;
}

/* The memory map: [base, base+len) of type (1 RAM, 2 reserved), 24 bytes
 * each with the size field that does not count itself. */
static uint8_t *mmap_entry(uint8_t *p, uint64_t base, uint64_t len, uint32_t type)
{
	put32(p, 20);
	put64(p + 4, base);
	put64(p + 12, len);
	put32(p + 20, type);
	return p + 24;
}

/* Room in the information area: n bytes at *cur, 4-byte aligned. */
static int take(uint64_t *cur, size_t n, uint64_t *at, char *err, size_t errlen)
{
	*cur = (*cur + 3) & ~3ULL;
	if (n > MB_INFO_END - *cur) {
		snprintf(err, errlen, "the Multiboot information (command line, module strings) does not "
			 "fit in its %llu KiB at 0x%llx", (unsigned long long)(MB_INFO_END - MB_INFO_ADDR) >> 10,
			 (unsigned long long)MB_INFO_ADDR);
		return -E2BIG;
	}
	*at = *cur;
	*cur += n;
	return 0;
}

static int put_string(struct vm *vm, uint64_t *cur, const char *s, uint32_t *addr, char *err, size_t errlen)
{
	size_t n = strlen(s) + 1;
	uint64_t at;

	if (take(cur, n, &at, err, errlen))
		return -E2BIG;
	memcpy(vm->ram + at, s, n);
	*addr = (uint32_t)at;
	return 0;
}

int mb_build_info(struct vm *vm, const struct mb_boot *b, uint64_t kernel_end, char *err, size_t errlen)
{
	uint64_t cur = MB_INFO_ADDR, info, mods, map, top, next;
	uint32_t flags = 0x1 | 0x40 | 0x200; /* memory sizes, memory map, boot loader name */
	uint32_t str;
	uint8_t *p;

	if (vm->ram_size <= MB_HIGH_START || vm->ram_size < MB_INFO_END) {
		snprintf(err, errlen, "a Multiboot kernel needs more than 1 MiB of RAM (see --mem)");
		return -E2BIG;
	}
	for (int i = 0; i < vm->nsegs; i++)
		if (vm->segs[i].paddr < MB_INFO_END && vm->segs[i].paddr + vm->segs[i].memsz > MB_INFO_ADDR) {
			snprintf(err, errlen, "the kernel's segment at 0x%llx overlaps the Multiboot "
				 "information the vmm puts at 0x%llx-0x%llx",
				 (unsigned long long)vm->segs[i].paddr, (unsigned long long)MB_INFO_ADDR,
				 (unsigned long long)MB_INFO_END - 1);
			return -EINVAL;
		}
	memset(vm->ram + MB_INFO_ADDR, 0, MB_INFO_END - MB_INFO_ADDR);
	if (take(&cur, 120, &info, err, errlen))
		return -E2BIG;
	p = vm->ram + info;
	top = vm->ram_size < (4ULL << 30) ? vm->ram_size : (4ULL << 30);
	put32(p + 4, (uint32_t)(MB_LOW_END >> 10));
	put32(p + 8, (uint32_t)((top - MB_HIGH_START) >> 10));
	if (b->cmdline) {
		if (put_string(vm, &cur, b->cmdline, &str, err, errlen))
			return -E2BIG;
		put32(p + 16, str);
		flags |= 0x4;
	}
	/* modules, page-aligned after the kernel */
	if (b->nmodules) {
		if (take(&cur, (size_t)b->nmodules * 16, &mods, err, errlen))
			return -E2BIG;
		next = kernel_end > MB_HIGH_START ? kernel_end : MB_HIGH_START;
		for (int i = 0; i < b->nmodules; i++) {
			uint8_t *m = vm->ram + mods + i * 16, *data;
			size_t size;
			char what[64];
			int r;

			next = (next + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
			r = vm_read_file(b->modules[i].path, "module", vm->ram_size, &data, &size, err, errlen);
			if (r || !data)
				return r ? r : -EIO;
			snprintf(what, sizeof(what), "module %d (%zu bytes)", i + 1, size);
			r = vm_check_range(vm, next, size, what, err, errlen);
			if (r == 0 && next + size > top) {
				snprintf(err, errlen, "%s does not fit below 4 GiB", what);
				r = -E2BIG;
			}
			if (r) {
				free(data);
				return r;
			}
			memcpy(vm->ram + next, data, size);
			free(data);
			put32(m, (uint32_t)next);
			put32(m + 4, (uint32_t)(next + size));
			if (put_string(vm, &cur, b->modules[i].string, &str, err, errlen))
				return -E2BIG;
			put32(m + 8, str);
			next += size;
		}
		put32(p + 20, (uint32_t)b->nmodules);
		put32(p + 24, (uint32_t)mods);
		flags |= 0x8;
	}
	/* the memory map: the vmm's GDT, page tables and this information
	 * reserved, as is the legacy hole below 1 MiB */
	if (take(&cur, 5 * 24, &map, err, errlen))
		return -E2BIG;
	p = vm->ram + map;
	p = mmap_entry(p, 0, BOOT_START, 1);
	p = mmap_entry(p, BOOT_START, MB_INFO_END - BOOT_START, 2);
	p = mmap_entry(p, MB_INFO_END, MB_LOW_END - MB_INFO_END, 1);
	p = mmap_entry(p, MB_LOW_END, MB_HIGH_START - MB_LOW_END, 2);
	p = mmap_entry(p, MB_HIGH_START, vm->ram_size - MB_HIGH_START, 1);
	put32(vm->ram + info + 44, (uint32_t)(p - (vm->ram + map)));
	put32(vm->ram + info + 48, (uint32_t)map);
	if (put_string(vm, &cur, "vmm " VMM_VERSION, &str, err, errlen))
		return -E2BIG;
	put32(vm->ram + info + 64, str);
	put32(vm->ram + info, flags);
	vm->mb_info = (uint32_t)info;
	return 0;
}
