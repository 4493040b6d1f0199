/*
 * msr64 - writes the MSRs the vmm keeps with the registers (STAR, LSTAR,
 * CSTAR, SFMASK, SYSENTER_CS/ESP/EIP, PAT, KERNEL_GS_BASE, and TSC_AUX where
 * CPUID offers RDTSCP), then reads each back: for the recording tests
 * (going back before msr_write_all and forward again must give these
 * values bit for bit).
 *
 *   vmm build/guest/msr64.elf      (long mode, loaded at 1 MiB)
 *
 * A KVM may refuse some of them (#GP): a #GP handler skips the WRMSR or
 * RDMSR and the MSR is left out.  Prints "msr64: wrote NAME ..." (those
 * accepted), then "msr64: ok" and halts, or "msr64: FAILED <msr>" (read back
 * as another value) and exits with code 0x7f (status 255).
 */
#include "rt.h"

struct msr_value {
	uint32_t index;
	uint64_t value;
	const char *name;
};

/* Canonical addresses, 32-bit SYSENTER values (AMD keeps 32 bits there for
 * some guests), a PAT of valid memory types. */
const struct msr_value msr_values[] = {
	{ 0xc0000081, 0x0023001000000000ULL, "star" },
	{ 0xc0000082, 0xffffffff81000000ULL, "lstar" },
	{ 0xc0000083, 0xffffffff81000100ULL, "cstar" },
	{ 0xc0000084, 0x0000000000047700ULL, "sfmask" },
	{ 0x174, 0x10, "sysenter_cs" },
	{ 0x175, 0x00012000, "sysenter_esp" },
	{ 0x176, 0x00013000, "sysenter_eip" },
	{ 0x277, 0x0007010600070106ULL, "pat" },
	{ 0xc0000102, 0x00007f0011223344ULL, "kernel_gs_base" },
	{ 0xc0000103, 0x2a, "tsc_aux" },
};
#define NVALUES (sizeof(msr_values) / sizeof(msr_values[0]))

/* An interrupt gate of the 64-bit IDT. */
struct gate {
	uint16_t off0, sel;
	uint8_t ist, type;
	uint16_t off1;
	uint32_t off2, zero;
} __attribute__((packed));

static struct gate idt[14] __attribute__((aligned(16)));
volatile int gp_seen;		/* set by gp_entry */
int accepted[16];		/* msr_values[i] was written */

/* #GP: drop the error code, step over the 2-byte WRMSR/RDMSR, say so. */
void gp_entry(void);
__asm__(".pushsection .text\n"
	".globl gp_entry\n"
	"gp_entry:\n"
	"	addq $8, %rsp\n"
	"	addq $2, (%rsp)\n"
	"	movl $1, gp_seen(%rip)\n"
	"	iretq\n"
	".popsection\n");

static void idt_setup(void)
{
	uint64_t h = (uint64_t)(uintptr_t)gp_entry;
	uint16_t cs;
	struct __attribute__((packed)) { uint16_t limit; uint64_t base; } d = {
		sizeof(idt) - 1, (uint64_t)(uintptr_t)idt,
	};

	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	idt[13] = (struct gate){ (uint16_t)h, cs, 0, 0x8e, (uint16_t)(h >> 16), (uint32_t)(h >> 32), 0 };
	__asm__ volatile("lidt %0" : : "m"(d));
}

static int wrmsr(uint32_t index, uint64_t v)
{
	gp_seen = 0;
	__asm__ volatile("wrmsr" : : "c"(index), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
			 : "memory");
	return !gp_seen;
}

static uint64_t rdmsr(uint32_t index)
{
	uint32_t lo = 0, hi = 0;

	__asm__ volatile("rdmsr" : "+a"(lo), "+d"(hi) : "c"(index) : "memory");
	return (uint64_t)hi << 32 | lo;
}

static int has_tsc_aux(void)
{
	uint32_t r[4];

	rt_cpuid(0x80000000, 0, r);
	if (r[0] < 0x80000001)
		return 0;
	rt_cpuid(0x80000001, 0, r);
	return (r[3] >> 27) & 1; /* RDTSCP */
}

__attribute__((noinline)) void msr_write_all(int tsc_aux)
{
	for (unsigned i = 0; i < NVALUES; i++)
		if (msr_values[i].index != 0xc0000103 || tsc_aux)
			accepted[i] = wrmsr(msr_values[i].index, msr_values[i].value);
}

__attribute__((noinline)) void msr_check(int tsc_aux)
{
	(void)tsc_aux;
	rt_puts("msr64: wrote");
	for (unsigned i = 0; i < NVALUES; i++)
		if (accepted[i]) {
			rt_puts(" ");
			rt_puts(msr_values[i].name);
		}
	rt_puts("\n");
	for (unsigned i = 0; i < NVALUES; i++) {
		if (!accepted[i])
			continue;
		if (rdmsr(msr_values[i].index) != msr_values[i].value || gp_seen) {
			rt_puts("msr64: FAILED ");
			rt_puts(msr_values[i].name);
			rt_puts("\n");
			rt_exit(0x7f);
		}
	}
	rt_puts("msr64: ok\n");
}

__attribute__((section(".text.start"), noreturn)) void _start(void)
{
	int tsc_aux = has_tsc_aux();

	idt_setup();
	msr_write_all(tsc_aux);
	msr_check(tsc_aux);
	rt_halt();
}
