/*
 * loop64 - a compute-bound loop for benchmarks: N iterations (N = --arg,
 * RSI; 0 means LOOP64_DEFAULT), each incrementing the global `iterations`,
 * then prints "loop64: N iterations" and halts.
 *
 *   vmm build/guest/loop64.bin [--arg N]           (loaded at 0, long mode)
 *
 * For one vCPU: with --cpus > 1 every vCPU runs the loop on the same counter.
 */
#include "rt.h"

/* Small on purpose: on our kvm_pvm a guest loop iteration costs about 1-2 us
 * (measured: 1M iterations of dec/jnz take 1-2 s), on ordinary KVM ~1 ns. */
#define LOOP64_DEFAULT 1000000ul

volatile unsigned long iterations;

__attribute__((noinline)) void loop(unsigned long n)
{
	while (iterations < n)
		iterations = iterations + 1;
}

/* The vmm's RDI (vCPU index) and RSI (--arg) are the first two arguments. */
__attribute__((section(".text.start"), noreturn)) void _start(unsigned long cpu, unsigned long n)
{
	(void)cpu;
	loop(n ? n : LOOP64_DEFAULT);
	rt_puts("loop64: ");
	rt_put_dec(iterations);
	rt_puts(" iterations\n");
	rt_halt();
}
