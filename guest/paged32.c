/*
 * paged32 - 32-bit paging by the guest itself, classic and PAE.
 *
 *   vmm --mode protected --load 0x100000 build/guest/paged32.bin
 *   vmm --mode protected build/guest/paged32.elf
 *
 * Entered in 32-bit protected mode with paging off, at 1 MiB.  It builds two
 * sets of tables in paged32_mem (both before turning paging on, so a debugger
 * or a memory dump can check them even where paging is refused):
 *
 *   classic (pd32, CR4.PSE):  0 .. 4 MiB identity, one 4 MiB page
 *                             0x80000000 -> physical 0, one 4 MiB page
 *                             0x40000000 -> data_page, one 4 KiB page
 *   PAE (pdpt_pae):           0 .. 4 MiB identity, two 2 MiB pages
 *                             0x80000000 -> physical 0, one 2 MiB page
 *                             0x40000000 -> data_page, one 4 KiB page
 *
 * Under each it writes and reads data_page through both of its addresses,
 * reads `magic` through the large-page alias, and calls alias_probe() through
 * the alias of the code (virtual 0x80000000 + its physical address); then it
 * calls stop_pse32() / stop_pae() (empty: places to break with paging on).
 * Output, one line per step:
 *
 *   paged32: tables built, paging off
 *   paged32: 32-bit paging: 4 KiB page ok, 4 MiB page ok, code alias ok
 *   paged32: PAE paging: 4 KiB page ok, 2 MiB page ok, code alias ok
 *   paged32: done
 *
 * then stores 42 at physical 0x400 and halts.  A failed check prints
 * "paged32: FAILED: ..." and exits with code 0x7f.  A KVM that refuses 32-bit
 * paging triple-faults right after the first line (setting CR0.PG).
 */
#include "rt.h"

#define PAGE		4096
#define CR0_PG		0x80000000u
#define CR4_PSE		0x00000010u
#define CR4_PAE		0x00000020u
#define DATA_VA		0x40000000u
#define ALIAS_VA	0x80000000u	/* -> physical 0 with a large page */

/* All the tables and the data page, contiguous (one memory dump shows all). */
struct paged32_mem {
	uint32_t pd32[1024];
	uint8_t pool32[2][PAGE];
	uint64_t pdpt_pae[512];		/* only 4 entries count */
	uint8_t pool_pae[4][PAGE];
	uint8_t data_page[PAGE];
};
struct paged32_mem paged32_mem __attribute__((aligned(PAGE)));
uint8_t paged32_stack[16384] __attribute__((aligned(16)));
volatile uint32_t magic = 0x600dcafe;

__asm__(".section .text.start, \"ax\"\n"
	".globl _start\n"
	"_start:\n"
	"	mov $paged32_stack + 16384, %esp\n"
	"	xor %ebp, %ebp\n"
	"	call pmain\n"
	"1:	cli\n"
	"	hlt\n"
	"	jmp 1b\n"
	".previous\n");

static void set_cr0(uint32_t v) { __asm__ volatile("mov %0, %%cr0" : : "r"(v) : "memory"); }
static void set_cr3(uint32_t v) { __asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory"); }
static void set_cr4(uint32_t v) { __asm__ volatile("mov %0, %%cr4" : : "r"(v) : "memory"); }
static uint32_t get_cr4(void)
{
	uint32_t v;

	__asm__ volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}

static __attribute__((noreturn)) void failed(const char *s)
{
	rt_puts("paged32: FAILED: ");
	rt_puts(s);
	rt_putc('\n');
	rt_exit(0x7f);
}

/* Runs from its own address and from ALIAS_VA + that: no absolute references. */
__attribute__((noinline)) int alias_probe(int x)
{
	return x * 7 + 1;
}

__attribute__((noinline)) void stop_pse32(void) { __asm__ volatile(""); }
__attribute__((noinline)) void stop_pae(void) { __asm__ volatile(""); }

static void build(struct pt *pt, uint64_t large)
{
	struct paged32_mem *m = &paged32_mem;
	int r = 0;

	r |= pt_map_range(pt, 0, 0, 0x400000, large, PTE_RW);
	r |= pt_map(pt, ALIAS_VA, 0, large, PTE_RW);
	r |= pt_map(pt, DATA_VA, (uintptr_t)m->data_page, PAGE_4K, PTE_RW);
	if (r)
		failed("pt_map");
}

/* The checks under the current tables; msg names the large-page size. */
static void check(const char *mode, const char *large)
{
	volatile uint32_t *data_virt = (volatile uint32_t *)DATA_VA;
	volatile uint32_t *data_phys = (volatile uint32_t *)paged32_mem.data_page;
	volatile uint32_t *magic_alias = (volatile uint32_t *)(ALIAS_VA + (uintptr_t)&magic);
	int (*probe)(int) = (int (*)(int))(ALIAS_VA + (uintptr_t)alias_probe);

	data_virt[1] = 0x11112222;
	if (data_phys[1] != 0x11112222)
		failed("write through the 4 KiB page, read at its physical address");
	data_phys[2] = 0x33334444;
	if (data_virt[2] != 0x33334444)
		failed("write at the physical address, read through the 4 KiB page");
	if (*magic_alias != 0x600dcafe)
		failed("read through the large page");
	if (probe(6) != 43)
		failed("call through the code alias");
	rt_puts("paged32: ");
	rt_puts(mode);
	rt_puts(" paging: 4 KiB page ok, ");
	rt_puts(large);
	rt_puts(" page ok, code alias ok\n");
}

void pmain(void)
{
	struct paged32_mem *m = &paged32_mem;
	struct pt pt32 = {
		.fmt = &pt_fmt_32, .root = (uintptr_t)m->pd32,
		.pool = (uintptr_t)m->pool32, .pool_end = (uintptr_t)m->pool32 + sizeof(m->pool32),
	};
	struct pt pae = {
		.fmt = &pt_fmt_pae, .root = (uintptr_t)m->pdpt_pae,
		.pool = (uintptr_t)m->pool_pae, .pool_end = (uintptr_t)m->pool_pae + sizeof(m->pool_pae),
	};

	build(&pt32, PAGE_4M);
	build(&pae, PAGE_2M);
	rt_puts("paged32: tables built, paging off\n");

	set_cr4(get_cr4() | CR4_PSE);
	set_cr3((uintptr_t)m->pd32);
	set_cr0(rt_read_cr0() | CR0_PG);
	check("32-bit", "4 MiB");
	stop_pse32();

	/* CR4.PAE may only change with paging off. */
	set_cr0(rt_read_cr0() & ~CR0_PG);
	set_cr4((get_cr4() & ~CR4_PSE) | CR4_PAE);
	set_cr3((uintptr_t)m->pdpt_pae);
	set_cr0(rt_read_cr0() | CR0_PG);
	check("PAE", "2 MiB");
	stop_pae();

	rt_puts("paged32: done\n");
	rt_store32(0x400, 42);
	rt_halt();
}
