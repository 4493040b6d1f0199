/*
 * rt.c - console, exit and small helpers of the guests' runtime; see rt.h.
 * Compiled twice: -m32 and -m64.
 */
#include "rt.h"

void rt_write(const char *s, size_t n)
{
	/* One string OUT: KVM batches it into few exits, which are costly here. */
	__asm__ volatile("cld; rep outsb"
			 : "+S"(s), "+c"(n)
			 : "d"((uint16_t)RT_PORT_CONSOLE)
			 : "memory");
}

void rt_putc(char c)
{
	rt_outb(RT_PORT_CONSOLE, (uint8_t)c);
}

void rt_puts(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	rt_write(s, n);
}

void rt_put_hex(uint64_t v)
{
	char buf[18];
	int i = sizeof(buf);

	do {
		buf[--i] = "0123456789abcdef"[v & 0xf];
		v >>= 4;
	} while (v);
	buf[--i] = 'x';
	buf[--i] = '0';
	rt_write(buf + i, sizeof(buf) - i);
}

void rt_put_dec(unsigned long v)
{
	char buf[20];
	int i = sizeof(buf);

	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	rt_write(buf + i, sizeof(buf) - i);
}

/* Through asm: gcc warns about (and may drop) stores to small literal addresses. */
void rt_store32(uintptr_t addr, uint32_t v)
{
	__asm__ volatile("movl %1, (%0)" : : "r"(addr), "r"(v) : "memory");
}

uint32_t rt_load32(uintptr_t addr)
{
	uint32_t v;

	__asm__ volatile("movl (%1), %0" : "=r"(v) : "r"(addr) : "memory");
	return v;
}

void rt_exit(uint8_t code)
{
	rt_outb(RT_PORT_EXIT, code);
	/* Only reached if the vmm did not exit: stop anyway. */
	rt_halt();
}

void rt_halt(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}
