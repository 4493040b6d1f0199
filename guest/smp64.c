/*
 * smp64 - every vCPU meets the others at a barrier, for the SMP tests.
 *
 *   vmm --cpus N build/guest/smp64.bin [--arg PATH]    (loaded at 0, long mode)
 *
 * Each vCPU enters _start with RDI = its index and RDX = the number of vCPUs
 * (the vmm's boot contract).  vCPU 0 builds two sets of page tables that map
 * PROBE_VA to different pages; vCPU 1 loads one, every other vCPU the other.
 * Then each one runs percpu_work (a locked increment of counter, its index
 * into slots[cpu]), waits at the barrier until all have arrived, prints
 * "smp64: cpu N arrived" (one OUT per line), and halts.  vCPU 0 waits until
 * every line is out, checks the counts, prints "smp64: N cpus, counter N"
 * and exits through port 0xF4 with SMP64_EXIT (status 85).  Lines are
 * written under console_lock: on kvm_pvm a rep outsb reaches the vmm one
 * byte per exit, and lines of several vCPUs would interleave.
 *
 * PATH (--arg, read into `path`): 0 as above; 1 every vCPU spins in spin()
 * after its line (for Ctrl-C); 2 vCPU 0 halts too (status 0); 3 the last
 * vCPU faults on PROBE_VA + 4 KiB once every line is out (triple fault,
 * status 6) while vCPU 0 waits for it; 4 each vCPU first writes CHATTER_LINES lines
 * "NN.", each with one 4-byte OUT and no lock (NN: its index; the vmm must
 * not tear one OUT), then as 0; 5 every vCPU but 0 spins after its line,
 * vCPU 0 exits as in 0 while they run; 6 every vCPU but 0 halts after its
 * line, vCPU 0 spins (halted and running vCPUs at once); 7 each vCPU first
 * hammers the one page of `hammer` (HAMMER_ROUNDS rounds of a locked
 * increment, a locked xadd, a cmpxchg loop and a plain increment under an
 * xchg spinlock), then as 0; vCPU 0 checks that no update was lost there
 * (with a write watchpoint on hammer.sentinel, every one of those writes is
 * the vmm's to do: the page is read-only) and prints "smp64: hammer N";
 * 8 after its line each vCPU runs laps forever: lap(cpu) (laps[cpu]++),
 * then an increment of spins[cpu] (for non-stop: a breakpoint on lap).
 */
#include "rt.h"

#define SMP64_MAX_CPUS	64
#define SMP64_EXIT	42
#define SMP64_FAILED	0x7f
#define PROBE_VA	0x8000000000ul	/* PML4 slot 1: outside the vmm's identity map */
#define CHATTER_LINES	40

#define HAMMER_ROUNDS	100

enum {
	PATH_EXIT, PATH_SPIN, PATH_HALT, PATH_FAULT, PATH_CHATTER, PATH_SPIN_EXIT, PATH_HALT_SPIN,
	PATH_HAMMER, PATH_LAPS,
};

/* Every shared object on a page of its own: a write watchpoint on one of
 * them (read-only slots) sees no other traffic. */
#define PAGE_ALONE __attribute__((aligned(4096)))

struct tables {
	uint64_t pml4[512], pdpt[512], pd[512], pt[512];
};

volatile unsigned long counter PAGE_ALONE;		/* lock-incremented by each vCPU */
volatile unsigned long slots[SMP64_MAX_CPUS] PAGE_ALONE;	/* slots[cpu] = cpu */
struct barrier {
	volatile unsigned int arrived;	/* vCPUs at the barrier */
	volatile unsigned int printed;	/* vCPUs whose line is out */
} barrier PAGE_ALONE;
volatile unsigned long spins[SMP64_MAX_CPUS] PAGE_ALONE;	/* path 1 */
volatile unsigned long laps[SMP64_MAX_CPUS] PAGE_ALONE;	/* path 8: calls of lap() */
unsigned long ncpus PAGE_ALONE;			/* RDX at entry */
unsigned long path PAGE_ALONE;			/* --arg */
volatile int ready PAGE_ALONE;			/* vCPU 0 has built the tables */
volatile int console_lock PAGE_ALONE;		/* held while a line is written */
struct hammer {
	volatile unsigned long incs;	/* lock incq: 1 a round */
	volatile unsigned long xadds;	/* lock xadd: 3 a round */
	volatile unsigned long cas;	/* lock cmpxchg loop: 5 a round */
	volatile int lock;		/* xchg spinlock over guarded */
	volatile unsigned long guarded;	/* plain increment under lock: 1 a round */
	volatile unsigned long sentinel; /* never written: watch it to watch the page */
} hammer PAGE_ALONE;				/* path 7 */
struct tables common_tables PAGE_ALONE;	/* PROBE_VA -> page_a: every vCPU but 1 */
struct tables cpu1_tables PAGE_ALONE;		/* PROBE_VA -> page_b: vCPU 1 */
char page_a[4096] PAGE_ALONE;			/* "smp64 page A" */
char page_b[4096] PAGE_ALONE;			/* "smp64 page B" */

/* A line is built here and written with one OUT; 64-byte aligned, it never
 * crosses a page, so KVM takes it in one exit. */
struct line {
	char b[64];
	unsigned int n;
} __attribute__((aligned(64)));

static void add(struct line *l, const char *s)
{
	while (*s && l->n < sizeof(l->b))
		l->b[l->n++] = *s++;
}

static void add_dec(struct line *l, unsigned long v)
{
	char d[20];
	int i = 0;

	do {
		d[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i && l->n < sizeof(l->b))
		l->b[l->n++] = d[--i];
}

static void say(struct line *l)
{
	while (__atomic_exchange_n(&console_lock, 1, __ATOMIC_ACQUIRE))
		;
	rt_write(l->b, l->n);
	__atomic_store_n(&console_lock, 0, __ATOMIC_RELEASE);
	l->n = 0;
}

static __attribute__((noreturn)) void failed(const char *why)
{
	struct line l = { .n = 0 };

	add(&l, "smp64: FAILED: ");
	add(&l, why);
	add(&l, "\n");
	say(&l);
	rt_exit(SMP64_FAILED);
}

static void copy(char *to, const char *from)
{
	while ((*to++ = *from++))
		;
}

static void build_tables(struct tables *t, const char *page, const uint64_t *boot_pml4)
{
	t->pml4[0] = boot_pml4[0];	/* the vmm's identity map of 0-4 GiB */
	t->pml4[1] = (uintptr_t)t->pdpt | PTE_P | PTE_RW;
	t->pdpt[0] = (uintptr_t)t->pd | PTE_P | PTE_RW;
	t->pd[0] = (uintptr_t)t->pt | PTE_P | PTE_RW;
	t->pt[0] = (uintptr_t)page | PTE_P | PTE_RW;
}

static void load_cr3(const struct tables *t)
{
	__asm__ volatile("mov %0, %%cr3" : : "r"((uintptr_t)t->pml4) : "memory");
}

/* vCPU 0, before any other vCPU goes on. */
static void setup(unsigned long n, unsigned long arg)
{
	uintptr_t cr3;

	ncpus = n;
	path = arg;
	for (int i = 0; i < SMP64_MAX_CPUS; i++)
		slots[i] = ~0ul;
	copy(page_a, "smp64 page A");
	copy(page_b, "smp64 page B");
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	build_tables(&common_tables, page_a, (const uint64_t *)cr3);
	build_tables(&cpu1_tables, page_b, (const uint64_t *)cr3);
	__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
}

/* The per-CPU work: break here to see each vCPU arrive. */
__attribute__((noinline)) void percpu_work(int cpu)
{
	__asm__ volatile("lock incq %0" : "+m"(counter));
	slots[cpu] = cpu;
}

__attribute__((noinline)) void barrier_wait(int cpu)
{
	(void)cpu;
	__atomic_fetch_add(&barrier.arrived, 1, __ATOMIC_SEQ_CST);
	while (barrier.arrived < ncpus)
		;
}

/* Path 8: a breakpoint on lap's first instruction stops each vCPU once a
 * lap, before the increment; laps[cpu] counts the laps run. */
__attribute__((noinline)) void lap(int cpu)
{
	laps[cpu] = laps[cpu] + 1;
}

__attribute__((noinline, noreturn)) void lapping(int cpu)
{
	for (;;) { /* a tight loop: a vCPU is often at lap's first byte */
		lap(cpu);
		spins[cpu] = spins[cpu] + 1;
	}
}

__attribute__((noinline, noreturn)) void spin(int cpu)
{
	for (;;)
		spins[cpu] = spins[cpu] + 1;
}

static void chatter(int cpu)
{
	uint32_t word = ('0' + cpu / 10) | ('0' + cpu % 10) << 8 | '.' << 16 | '\n' << 24;

	for (int k = 0; k < CHATTER_LINES; k++)
		__asm__ volatile("outl %0, %1" : : "a"(word), "Nd"((uint16_t)RT_PORT_CONSOLE));
}

/* Path 7: locked read-modify-writes of every vCPU on one page. */
static void hammer_page(void)
{
	for (int k = 0; k < HAMMER_ROUNDS; k++) {
		unsigned long old, three = 3;

		__asm__ volatile("lock incq %0" : "+m"(hammer.incs));
		__asm__ volatile("lock xaddq %0, %1" : "+r"(three), "+m"(hammer.xadds));
		old = hammer.cas;
		while (!__atomic_compare_exchange_n(&hammer.cas, &old, old + 5, 0, __ATOMIC_SEQ_CST,
						    __ATOMIC_SEQ_CST))
			;
		while (__atomic_exchange_n(&hammer.lock, 1, __ATOMIC_ACQUIRE))
			while (hammer.lock)
				__asm__ volatile("pause");
		hammer.guarded = hammer.guarded + 1;
		__atomic_store_n(&hammer.lock, 0, __ATOMIC_RELEASE);
	}
}

static void hammer_check(void)
{
	struct line l = { .n = 0 };
	unsigned long want = HAMMER_ROUNDS * ncpus;

	if (hammer.incs != want)
		failed("hammer: a locked increment was lost");
	if (hammer.xadds != 3 * want)
		failed("hammer: a locked xadd was lost");
	if (hammer.cas != 5 * want)
		failed("hammer: a cmpxchg was lost");
	if (hammer.guarded != want)
		failed("hammer: two vCPUs held the xchg spinlock at once");
	add(&l, "smp64: hammer ");
	add_dec(&l, want);
	add(&l, "\n");
	say(&l);
}

/* vCPU 0 once every line is out. */
static void check_total(void)
{
	struct line l = { .n = 0 };

	if (counter != ncpus)
		failed("counter is not the number of vCPUs");
	for (unsigned long i = 0; i < ncpus; i++)
		if (slots[i] != i)
			failed("a slot does not hold its vCPU's index");
	add(&l, "smp64: ");
	add_dec(&l, ncpus);
	add(&l, " cpus, counter ");
	add_dec(&l, counter);
	add(&l, "\n");
	say(&l);
}

/* RDI = vCPU index, RSI = --arg, RDX = number of vCPUs. */
__attribute__((section(".text.start"), noreturn)) void _start(unsigned long cpu, unsigned long arg,
								unsigned long n)
{
	struct line l = { .n = 0 };

	if (cpu == 0) {
		if (n < 1 || n > SMP64_MAX_CPUS)
			failed("RDX does not hold the number of vCPUs");
		setup(n, arg);
	} else {
		while (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE))
			;
	}
	load_cr3(cpu == 1 ? &cpu1_tables : &common_tables);
	if (*(volatile char *)(PROBE_VA + 11) != (cpu == 1 ? 'B' : 'A'))
		failed("PROBE_VA maps the wrong page");
	if (path == PATH_CHATTER)
		chatter(cpu);
	if (path == PATH_HAMMER)
		hammer_page();
	percpu_work(cpu);
	barrier_wait(cpu);
	add(&l, "smp64: cpu ");
	add_dec(&l, cpu);
	add(&l, " arrived\n");
	say(&l);
	if (path == PATH_FAULT && cpu == ncpus - 1) {
		while (barrier.printed < ncpus - 1)
			;
		(void)*(volatile char *)(PROBE_VA + 4096);
	}
	__atomic_fetch_add(&barrier.printed, 1, __ATOMIC_SEQ_CST);
	if (path == PATH_LAPS)
		lapping(cpu);
	if (path == PATH_SPIN || (path == PATH_SPIN_EXIT && cpu != 0) ||
	    (path == PATH_HALT_SPIN && cpu == 0))
		spin(cpu);
	if (cpu != 0)
		rt_halt();
	while (barrier.printed < ncpus)
		;
	check_total();
	if (path == PATH_HAMMER)
		hammer_check();
	if (path == PATH_HALT)
		rt_halt();
	rt_exit(SMP64_EXIT);
}
