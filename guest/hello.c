/*
 * hello32, hello64 - print "Hello, world!\n" on port 0xE9, store the 32-bit
 * value 42 at physical 0x400 and halt.  Built twice from this file:
 *
 *   vmm --mode protected build/guest/hello32.bin   (-m32, loaded at 0)
 *   vmm build/guest/hello64.bin                    (-m64, loaded at 0, long mode)
 *
 * The stack is the vmm's (top of RAM); the image stays below 0x400.
 */
#include "rt.h"

__attribute__((section(".text.start"), noreturn)) void _start(void)
{
	rt_puts("Hello, world!\n");
	rt_store32(0x400, 42);
	rt_halt();
}
