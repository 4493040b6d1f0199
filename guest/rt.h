/*
 * rt.h - the guests' tiny runtime (rt.c, pt.c), built once for -m32 and once
 * for -m64 (build/guest/librt32.a, librt64.a).  16-bit code uses the macros
 * in rt16.inc instead.
 *
 * Ports of the vmm's boot contract: bytes written to 0xE9 go to the vmm's
 * stdout; a byte V written to 0xF4 ends the vmm with status (V << 1) | 1; HLT
 * with interrupts off ends it with status 0.
 */
#ifndef GUEST_RT_H
#define GUEST_RT_H

#include <stdint.h>
#include <stddef.h>

#define RT_PORT_CONSOLE	0xE9
#define RT_PORT_EXIT	0xF4

void rt_putc(char c);
void rt_puts(const char *s);			/* no newline added */
void rt_write(const char *s, size_t n);
void rt_put_hex(uint64_t v);			/* "0x" and at least one digit */
void rt_put_dec(unsigned long v);
void rt_store32(uintptr_t addr, uint32_t v);	/* for low fixed addresses such as 0x400 */
uint32_t rt_load32(uintptr_t addr);
__attribute__((noreturn)) void rt_exit(uint8_t code);	/* vmm exits with (code << 1) | 1 */
__attribute__((noreturn)) void rt_halt(void);		/* cli; hlt: vmm exits with 0 */

static inline void rt_outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void rt_cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
			 : "a"(leaf), "c"(sub));
}

static inline uintptr_t rt_read_cr0(void)
{
	uintptr_t v;
	__asm__ volatile("mov %%cr0, %0" : "=r"(v));
	return v;
}

/*
 * Page tables.  One builder for every x86 format, driven by a description of
 * its levels (like the vmm's walker): classic 32-bit (4 KiB, 4 MiB with PSE),
 * PAE (4 KiB, 2 MiB) and 4-level (4 KiB, 2 MiB, 1 GiB).  Tables are found by
 * physical address; the guest says how to reach them (phys + virt_off) and
 * gives a pool of zeroed, page-aligned physical pages for new tables.
 */
#define PTE_P	0x001ull
#define PTE_RW	0x002ull
#define PTE_US	0x004ull
#define PTE_PWT	0x008ull
#define PTE_PCD	0x010ull
#define PTE_A	0x020ull
#define PTE_D	0x040ull
#define PTE_PS	0x080ull
#define PTE_G	0x100ull
#define PTE_NX	(1ull << 63)

#define PAGE_4K	0x1000ull
#define PAGE_2M	0x200000ull
#define PAGE_4M	0x400000ull
#define PAGE_1G	0x40000000ull

struct pt_format {
	const char *name;
	int levels;			/* level 0 is the root */
	int entry_size;			/* 4 or 8 bytes */
	uint8_t shift[4];		/* index shift per level */
	uint8_t bits[4];		/* index width per level */
	uint8_t large_ok[4];		/* may this level map a page (PS)? */
	uint64_t root_flags_mask;	/* PAE PDPTEs take only P, PWT, PCD */
};

extern const struct pt_format pt_fmt_32, pt_fmt_pae, pt_fmt_4level;

struct pt {
	const struct pt_format *fmt;
	uint64_t root;			/* physical address of the top table */
	uintptr_t virt_off;		/* a table is at pointer (phys + virt_off) */
	uint64_t pool, pool_end;	/* free physical pages for new tables */
};

/* Map [va, va+size) to pa with one entry of that size (4 KiB or a large page
 * the format allows at some level); flags are added to P (and PS).  Replaces an
 * existing entry.  Returns 0, -1 for a bad size/alignment, -2 when the pool is
 * empty, -3 when a large page is in the way. */
int pt_map(struct pt *pt, uint64_t va, uint64_t pa, uint64_t size, uint64_t flags)
	__attribute__((warn_unused_result));
/* Map size bytes with pages of page_size each: pa, pa+page_size, ... */
int pt_map_range(struct pt *pt, uint64_t va, uint64_t pa, uint64_t size,
		 uint64_t page_size, uint64_t flags) __attribute__((warn_unused_result));
/* Clear the entry of that size mapping va (the tables stay). */
int pt_unmap(struct pt *pt, uint64_t va, uint64_t size) __attribute__((warn_unused_result));

static inline void rt_invlpg(uintptr_t va)
{
	__asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
}

#endif
