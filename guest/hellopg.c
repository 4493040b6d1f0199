/*
 * hellopg - 32-bit protected mode with the vmm's paging (CR0.PG, 4 MiB PSE
 * identity map): checks CR0.PG, prints "paging on\n" then "Hello, world!\n",
 * stores 42 at physical 0x400 and halts.  If paging is off it prints
 * "paging off\n" and exits through port 0xF4 with code 1 (vmm status 3).
 *
 *   vmm --mode paged build/guest/hellopg.bin       (loaded at 0)
 */
#include "rt.h"

#define CR0_PG 0x80000000u

__attribute__((section(".text.start"), noreturn)) void _start(void)
{
	if (!(rt_read_cr0() & CR0_PG)) {
		rt_puts("paging off\n");
		rt_exit(1);
	}
	rt_puts("paging on\n");
	rt_puts("Hello, world!\n");
	rt_store32(0x400, 42);
	rt_halt();
}
