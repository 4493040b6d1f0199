/*
 * kernel64 - a small long-mode kernel in the higher half, for debugging.
 *
 *   vmm build/guest/kernel64.elf [--arg PATH]
 *   vmm --load 0x100000 build/guest/kernel64.bin [--arg PATH]
 *
 * kernel64_boot.S builds the low identity map and the 4 KiB mapping of the
 * image and calls kmain() here, which adds the special mappings below,
 * checks them, runs a call chain and a counting loop, and takes the path
 * chosen by `path` (from --arg, or set by a debugger at choose_path):
 *   0  print "kernel64: done", store 42 at physical 0x400, halt (status 0)
 *   1  spin forever, incrementing `spins`
 *   2  read the unmapped stack_guard: #PF without an IDT, a triple fault
 *   3  exit through port 0xF4 with exit_code (default 3: vmm status 7)
 *
 * Page tables (kernel64.h has the addresses; all in .bss, 4 KiB-aligned):
 *   pml4        root, loaded in CR3
 *   pdpt_low    pml4[0]
 *   pd_low      pdpt_low[0]: 2 MiB pages, identity 0 .. 4 MiB
 *   pdpt_high   pml4[511]; [511] is a 1 GiB page huge_1g -> physical 0, only
 *               when CPUID.80000001H:EDX[26] (pdpe1gb) is set
 *   pd_high     pdpt_high[510]; [1] is a 2 MiB page huge_2m -> physical 0
 *   pt_kernel   pd_high[0]: 4 KiB pages of the image (virtual KERNEL_VIRT +
 *               x -> physical 1 MiB + x), except:
 *                 ro_page      present, read-only
 *                 stack_guard  not present (just below the stack)
 *               and the window above the image:
 *                 alias_b      -> the physical page of alias_a
 *                 split_va     -> split_page_lo, split_va + 4K ->
 *                               split_page_hi: two pages that are physically
 *                               apart (and in reverse order)
 */
#include "rt.h"
#include "kernel64.h"

#define PHYS(p)	((uint64_t)(uintptr_t)(p) - KERNEL_VOFF)
#define PAGE	4096
#define ALIGNED_PAGE(sec) __attribute__((aligned(PAGE), section(sec)))

/* The tables; kernel64_boot.S fills in the first ones. */
uint64_t pml4[512] ALIGNED_PAGE(".bss.pagetables");
uint64_t pdpt_low[512] ALIGNED_PAGE(".bss.pagetables");
uint64_t pd_low[512] ALIGNED_PAGE(".bss.pagetables");
uint64_t pdpt_high[512] ALIGNED_PAGE(".bss.pagetables");
uint64_t pd_high[512] ALIGNED_PAGE(".bss.pagetables");
uint64_t pt_kernel[512] ALIGNED_PAGE(".bss.pagetables");
static uint8_t pt_pool[2][PAGE] ALIGNED_PAGE(".bss.pagetables");

uint8_t stack_guard[PAGE] ALIGNED_PAGE(".bss.stack_guard");
uint8_t kstack[KSTACK_SIZE] ALIGNED_PAGE(".bss.kstack");
uint8_t ap_stacks[MAX_CPUS][AP_STACK_SIZE] __attribute__((aligned(PAGE)));

/* Whole pages, placed one by one by kernel64.ld.S. */
const char ro_page[PAGE] ALIGNED_PAGE(".data.ro_page") = "kernel64 read-only page";
uint8_t split_page_lo[PAGE] ALIGNED_PAGE(".data.split_page_lo") = { [0 ... PAGE - 1] = SPLIT_LO_BYTE };
uint8_t split_page_hi[PAGE] ALIGNED_PAGE(".data.split_page_hi") = { [0 ... PAGE - 1] = SPLIT_HI_BYTE };
char alias_a[PAGE] ALIGNED_PAGE(".data.alias_a") = "kernel64 alias page";

/* The window of special mappings (addresses from kernel64.ld.S). */
extern volatile char alias_b[PAGE];
extern volatile uint8_t split_va[2 * PAGE];
extern volatile uint8_t huge_2m[];
extern volatile uint8_t huge_1g[];

/* For watchpoints: alone in their page, so a write-trapped page sees no
 * other traffic.  watched: 0 at boot, 1 before level1, 2 in level3, 3 after
 * count_loop.  read_me: only ever read (in level3). */
volatile uint64_t watched __attribute__((section(".data.watch")));
volatile uint64_t read_me __attribute__((section(".data.watch"))) = 0x1234abcd;

const char banner[] = "kernel64: hello from the higher half\n";

volatile int path;			/* 0 done, 1 spin, 2 fault, 3 exit */
volatile int exit_code = 3;		/* path 3: port 0xF4 value */
volatile unsigned long counter;		/* count_loop: one per iteration */
volatile int last_tick = -1;		/* tick: its last argument */
volatile unsigned long spins;		/* path 1 */
volatile unsigned long ap_ticks[MAX_CPUS];	/* other vCPUs, in ap_main */
volatile int kernel_done;		/* path 0 ends: the other vCPUs halt too */
uint64_t boot_cpu, boot_arg;		/* RDI and RSI at entry */
int gb_pages;				/* pdpe1gb offered and huge_1g mapped */

static void say(const char *s)
{
	rt_puts("kernel64: ");
	rt_puts(s);
	rt_putc('\n');
}

static void say_num(const char *s, unsigned long v)
{
	rt_puts("kernel64: ");
	rt_puts(s);
	rt_put_dec(v);
	rt_putc('\n');
}

static __attribute__((noreturn)) void panic(const char *s)
{
	rt_puts("kernel64: FAILED: ");
	rt_puts(s);
	rt_putc('\n');
	rt_exit(0x7f);
}

static int cpu_has_gb_pages(void)
{
	uint32_t r[4];

	rt_cpuid(0x80000000, 0, r);
	if (r[0] < 0x80000001)
		return 0;
	rt_cpuid(0x80000001, 0, r);
	return (r[3] >> 26) & 1;
}

static void write_cr3(uint64_t v)
{
	__asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory");
}

__attribute__((noinline)) void paging_setup(void)
{
	struct pt pt = {
		.fmt = &pt_fmt_4level, .root = PHYS(pml4), .virt_off = KERNEL_VOFF,
		.pool = PHYS(pt_pool), .pool_end = PHYS(pt_pool) + sizeof(pt_pool),
	};
	int r = 0;

	r |= pt_map(&pt, (uintptr_t)ro_page, PHYS(ro_page), PAGE_4K, 0);
	r |= pt_unmap(&pt, (uintptr_t)stack_guard, PAGE_4K);
	r |= pt_map(&pt, (uintptr_t)alias_b, PHYS(alias_a), PAGE_4K, PTE_RW);
	r |= pt_map(&pt, (uintptr_t)split_va, PHYS(split_page_lo), PAGE_4K, PTE_RW);
	r |= pt_map(&pt, (uintptr_t)split_va + PAGE, PHYS(split_page_hi), PAGE_4K, PTE_RW);
	r |= pt_map(&pt, (uintptr_t)huge_2m, 0, PAGE_2M, PTE_RW);
	gb_pages = cpu_has_gb_pages();
	if (gb_pages)
		r |= pt_map(&pt, (uintptr_t)huge_1g, 0, PAGE_1G, PTE_RW);
	if (r)
		panic("pt_map");
	write_cr3(PHYS(pml4));
	say("paging on");
	say(gb_pages ? "1G page mapped at huge_1g" : "1G page not offered, skipped");
}

/* Read the special mappings back through their other names. */
__attribute__((noinline)) void check_mappings(void)
{
	uint64_t across;

	alias_a[PAGE - 1] = 'A';
	if (alias_b[PAGE - 1] != 'A' || alias_b[0] != 'k')
		panic("alias_b does not show alias_a");
	alias_a[PAGE - 1] = 0;
	__builtin_memcpy(&across, (const void *)&split_va[PAGE - 4], sizeof(across));
	if (across != 0xb2b2b2b2a1a1a1a1ull)
		panic("split_va");
	if (huge_2m[KERNEL_PHYS] != *(volatile uint8_t *)KERNEL_VIRT)
		panic("huge_2m");
	if (gb_pages && huge_1g[KERNEL_PHYS] != huge_2m[KERNEL_PHYS])
		panic("huge_1g");
	say("mappings ok");
}

__attribute__((noinline)) unsigned long level3(unsigned long x)
{
	watched = 2;
	return x * 3 + read_me;
}

__attribute__((noinline)) unsigned long level2(unsigned long x)
{
	return level3(x + 2) + 1;
}

__attribute__((noinline)) unsigned long level1(unsigned long x)
{
	return level2(x + 1) + 1;
}

__attribute__((noinline)) void tick(int i)
{
	last_tick = i;
}

__attribute__((noinline)) void count_loop(void)
{
	int i;

	for (i = 0; i < COUNT_ITERATIONS; i++) {
		counter = counter + 1;
		tick(i);
	}
}

static __attribute__((noreturn)) void finish(void)
{
	rt_store32(0x400, 42);		/* through the low identity map */
	say("done");
	kernel_done = 1;
	rt_halt();
}

static __attribute__((noreturn)) void spin(void)
{
	for (;;)
		spins = spins + 1;
}

static __attribute__((noreturn)) void fault(void)
{
	say("faulting on stack_guard");
	(void)*(volatile uint8_t *)stack_guard;
	panic("no fault");
}

__attribute__((noinline, noreturn)) void choose_path(void)
{
	int p = path;

	say_num("path ", (unsigned long)p);
	switch (p) {
	case 0:
		finish();
	case 1:
		spin();
	case 2:
		fault();
	case 3:
		say_num("exit ", (unsigned long)exit_code);
		rt_exit((uint8_t)exit_code);
	default:
		panic("unknown path");
	}
}

/* The other vCPUs have all ticked at least once: a debugger stopping at
 * choose_path finds every one of them inside ap_main. */
static void wait_for_aps(uint64_t ncpus)
{
	if (ncpus > MAX_CPUS)
		ncpus = MAX_CPUS; /* the rest halt at once in _start */
	for (uint64_t i = 1; i < ncpus; i++)
		while (!ap_ticks[i])
			;
}

__attribute__((noreturn)) void kmain(uint64_t cpu, uint64_t arg, uint64_t ncpus)
{
	boot_cpu = cpu;
	boot_arg = arg;
	path = (int)arg;
	paging_setup();
	check_mappings();
	rt_puts(banner);
	watched = 1;
	if (level1(1) != 3 * 4 + 0x1234abcd + 2)
		panic("level1");
	count_loop();
	say_num("count ", counter);
	watched = 3;
	wait_for_aps(ncpus);
	choose_path();
}

/* Other vCPUs (RDI != 0), on kernel64's tables and their own stacks: count
 * in ap_ticks[cpu] until the boot vCPU is done, then halt. */
__attribute__((noreturn)) void ap_main(uint64_t cpu)
{
	while (!kernel_done) {
		ap_ticks[cpu] = ap_ticks[cpu] + 1;
		__asm__ volatile("pause");
	}
	rt_halt();
}
