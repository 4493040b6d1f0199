/* multiboot.h - Multiboot (version 1) images: what GRUB and QEMU's -kernel
 * start.  The header sits 4-byte aligned in the first 8 KiB of the file
 * (magic 0x1BADB002, flags, checksum: the three add up to 0); the kernel is
 * loaded from its ELF program headers, or from the header's address fields
 * when flag 16 is set; it is entered in 32-bit protected mode, flat
 * segments, paging and interrupts off, EAX = 0x2BADB002 and EBX = the
 * guest-physical address of the Multiboot information (built here: memory
 * sizes, a memory map with the vmm's own areas reserved, the command line,
 * modules, the boot loader's name).  Pure: RAM is the struct vm's array;
 * no KVM. */
#ifndef VMM_MULTIBOOT_H
#define VMM_MULTIBOOT_H

#include <stddef.h>
#include <stdint.h>

#define MB_HEADER_MAGIC 0x1BADB002u
#define MB_BOOT_MAGIC   0x2BADB002u /* in EAX at the kernel's entry */
#define MB_SEARCH       8192        /* the header lies in the file's first 8 KiB */
#define MB_MAX_MODULES  16
/* Where the vmm puts the Multiboot information, its strings, module list
 * and memory map: after its own GDT and page tables (0x1000-0x7fff). */
#define MB_INFO_ADDR    0x8000ULL
#define MB_INFO_END     0x10000ULL

/* Header flags: 0 page-aligned modules, 1 memory information (both always
 * given), 2 a video mode (refused: no display), 16 the address fields. */
#define MB_FLAG_ALIGN   (1u << 0)
#define MB_FLAG_MEMINFO (1u << 1)
#define MB_FLAG_VIDEO   (1u << 2)
#define MB_FLAG_ADDRESS (1u << 16)

struct mb_header {
	uint32_t offset; /* of the header in the file */
	uint32_t flags;
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr; /* flag 16 */
};

/* What the command line asks the boot loader for (--append, --module). */
struct mb_module {
	const char *path;
	const char *string; /* the module's command line (FILE=STRING), "" if none */
};
struct mb_boot {
	const char *cmdline; /* NULL: none */
	int nmodules;
	struct mb_module modules[MB_MAX_MODULES];
};

struct vm;

/* Look for a Multiboot header in img: 1 found (*h filled), 0 none, or
 * -ENOEXEC for a header that is there but broken or asks for what the vmm
 * cannot give (err says which). */
int mb_find(const uint8_t *img, size_t size, struct mb_header *h, char *err, size_t errlen);

/* Load by the header's address fields (flag 16): the file from load_addr's
 * offset up to load_end_addr (or its end), bss zeroed up to bss_end_addr.
 * *end: the first byte past what the kernel occupies. */
int mb_load_address_fields(struct vm *vm, const uint8_t *img, size_t size, const struct mb_header *h,
			   uint64_t *end, char *err, size_t errlen);

/* Build the Multiboot information at MB_INFO_ADDR and load the modules,
 * page-aligned from kernel_end on.  Sets vm->mb_info. */
int mb_build_info(struct vm *vm, const struct mb_boot *b, uint64_t kernel_end, char *err, size_t errlen);

#endif
