/*
 * msr64 - writes the MSRs the vmm keeps with the registers (STAR, LSTAR,
 * CSTAR, SFMASK, SYSENTER_CS/ESP/EIP, PAT, KERNEL_GS_BASE, and TSC_AUX where
 * CPUID offers RDTSCP), then reads each back: for the recording tests
 * (going back before msr_write_all and forward again must give these
 * values bit for bit).
 *
 *   vmm build/guest/msr64.elf      (long mode, loaded at 1 MiB)
 *
 * Prints "msr64: ok" and halts, or "msr64: FAILED <msr>" and exits with
 * code 0x7f (status 255).
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

static void wrmsr(uint32_t index, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(index), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static uint64_t rdmsr(uint32_t index)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(index));
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
			wrmsr(msr_values[i].index, msr_values[i].value);
}

__attribute__((noinline)) void msr_check(int tsc_aux)
{
	for (unsigned i = 0; i < NVALUES; i++) {
		if (msr_values[i].index == 0xc0000103 && !tsc_aux)
			continue;
		if (rdmsr(msr_values[i].index) != msr_values[i].value) {
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

	msr_write_all(tsc_aux);
	msr_check(tsc_aux);
	rt_halt();
}
