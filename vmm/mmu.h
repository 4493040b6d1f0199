/* mmu.h - the guest page-table walker: virtual -> guest-physical -> host.
 *
 * Pure code: no KVM, no globals.  It reads guest page tables from a RAM image
 * (guest-physical 0 .. size-1 at host address base) and never forms a host
 * pointer outside it.  One data-driven loop serves every x86 paging mode.
 */
#ifndef VMM_MMU_H
#define VMM_MMU_H

#include <stddef.h>
#include <stdint.h>

/* The x86 base page: the unit of memory slots, watchpoint pieces and tables. */
#define PAGE_SHIFT 12
#define PAGE_SIZE (1ULL << PAGE_SHIFT)

struct mmu_ram {
	uint8_t *base;
	uint64_t size;
};

enum mmu_mode {
	MMU_OFF,    /* paging off: linear = physical (real mode, protected mode) */
	MMU_32,     /* 32-bit paging, 4 KiB pages, 4 MiB pages with CR4.PSE */
	MMU_PAE,    /* PAE paging: 3 levels, 4 KiB / 2 MiB pages */
	MMU_LONG4,  /* 4-level paging: 4 KiB / 2 MiB / 1 GiB pages */
	MMU_LONG5,  /* 5-level paging (CR4.LA57) */
};

/* The control-register state the walk depends on. */
struct mmu_regs {
	uint64_t cr0, cr3, cr4, efer;
};

/* One level of a walk, for `monitor walk`. */
struct mmu_step {
	int level;          /* 5,4,3,2,1 as in the Intel SDM (PML5=5 ... PT=1) */
	uint64_t entry_gpa; /* guest-physical address of the entry read */
	uint64_t entry;     /* its value (0 if it could not be read) */
};

/* Errors a walk can end in (also returned negated through errno values). */
enum mmu_fault {
	MMU_OK = 0,
	MMU_NOT_PRESENT,    /* an entry with P=0 */
	MMU_RESERVED,       /* reserved bits set in an entry */
	MMU_TABLE_OUTSIDE,  /* a table entry lies (even partly) outside guest RAM */
	MMU_NONCANONICAL,   /* virtual address not canonical for the mode */
	MMU_TOO_WIDE,       /* virtual address above 4 GiB in a 32-bit mode */
};

struct mmu_walk {
	enum mmu_mode mode;
	int nsteps;
	struct mmu_step steps[5];
	enum mmu_fault fault;
	uint64_t gpa;        /* result: guest-physical address of va */
	uint64_t page_size;  /* size of the page that maps va (4K, 2M, 4M, 1G); 4K with paging off */
	int writable, user, nx; /* effective permissions (AND/OR over levels) */
};

enum mmu_mode mmu_mode(const struct mmu_regs *r);
const char *mmu_mode_name(enum mmu_mode m);
const char *mmu_fault_name(enum mmu_fault f);

/* Translate va.  Returns 0 and fills w (gpa, page_size, steps), or -EFAULT
 * with w->fault saying why (w->steps holds the levels read so far).
 * The gpa returned may lie outside RAM: use mmu_host() to check. */
int mmu_translate(const struct mmu_ram *ram, const struct mmu_regs *r, uint64_t va,
		  struct mmu_walk *w) __attribute__((warn_unused_result));

/* Host pointer for [gpa, gpa+len) if it lies entirely inside RAM, else NULL. */
void *mmu_host(const struct mmu_ram *ram, uint64_t gpa, uint64_t len);

/* Copy between guest-virtual memory and a buffer, translating page by page.
 * Return the number of bytes done (may stop early at an unmapped page or a
 * gpa outside RAM), or -EFAULT if not even the first byte could be done.
 * mmu_write ignores write protection: a debugger may patch read-only code.
 * mmu_write checks every page first and writes nothing unless all of
 * [va, va+len) is writable through the tables (all or nothing). */
long mmu_read(const struct mmu_ram *ram, const struct mmu_regs *r, uint64_t va, void *buf,
	      size_t len);
int mmu_write(const struct mmu_ram *ram, const struct mmu_regs *r, uint64_t va,
	      const void *buf, size_t len) __attribute__((warn_unused_result));

/* The guest-physical pages (4 KiB-aligned, sorted, distinct) that hold the
 * paging structures reachable from CR3, at most max of them.  Returns how
 * many, 0 with paging off, or -E2BIG if there are more than max.  Tables
 * outside RAM are left out; cycles cannot loop (one pass per level). */
int mmu_table_pages(const struct mmu_ram *ram, const struct mmu_regs *r, uint64_t *pages, int max);

/* Human-readable walk for `monitor walk`: one line per level and a result. */
int mmu_format_walk(const struct mmu_ram *ram, const struct mmu_regs *r, uint64_t va,
		    char *out, size_t cap);

#endif
