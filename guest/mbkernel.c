/*
 * mbkernel.c - mboot32's kernel: checks what the Multiboot boot loader (the
 * vmm) handed over and prints it on COM1, the 16550 serial port, set up as
 * hobby kernels do (with the loopback check).  Ends through port 0xF4:
 * 0x10 all as expected (vmm status 33), 0x11 something was not.
 *   EAX 0x2BADB002; flags with memory sizes, memory map and boot loader
 *   name; mem_lower 639 KiB, mem_upper = RAM above 1 MiB; the memory map
 *   (each entry printed); the command line and modules if given (each
 *   module's string and first line).  With the command line "echo" it
 *   reads a line from COM1 (the vmm's stdin) and prints it back.
 */
#include <stddef.h>
#include <stdint.h>

#define COM1 0x3f8

struct mb_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr, drives_length, drives_addr, config_table, boot_loader_name;
};
struct mb_module { uint32_t start, end, string, reserved; };
struct mb_mmap { uint32_t size; uint64_t base, len; uint32_t type; } __attribute__((packed));

static int bad;

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static int serial_init(void)
{
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x80);
	outb(COM1 + 0, 0x03);
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03);
	outb(COM1 + 2, 0xc7);
	outb(COM1 + 4, 0x0b);
	outb(COM1 + 4, 0x1e);	/* loopback: what is sent comes back */
	outb(COM1 + 0, 0xae);
	if (inb(COM1 + 0) != 0xae)
		return -1;
	outb(COM1 + 4, 0x0f);
	return 0;
}

static void putc_serial(char c)
{
	while (!(inb(COM1 + 5) & 0x20))
		;
	outb(COM1, (uint8_t)c);
}

static void puts_serial(const char *s)
{
	while (*s)
		putc_serial(*s++);
}

static void put_hex(uint64_t v)
{
	char b[19];
	int i = 18;

	b[i] = 0;
	do {
		b[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	b[--i] = 'x';
	b[--i] = '0';
	puts_serial(b + i);
}

static void put_dec(uint32_t v)
{
	char b[11];
	int i = 10;

	b[i] = 0;
	do {
		b[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	puts_serial(b + i);
}

static void expect(int ok, const char *what)
{
	if (!ok) {
		puts_serial("mboot32: WRONG ");
		puts_serial(what);
		puts_serial("\n");
		bad = 1;
	}
}

/* With the command line "echo": one line typed on COM1 (the vmm's stdin),
 * read by polling the line status as a boot loader's prompt does. */
static void echo_line(void)
{
	char line[80];
	unsigned n = 0;

	for (;;) {
		char c;

		while (!(inb(COM1 + 5) & 0x01))
			;
		c = (char)inb(COM1);
		if (c == '\n' || n == sizeof(line) - 1)
			break;
		line[n++] = c;
	}
	line[n] = 0;
	puts_serial("mboot32: read '");
	puts_serial(line);
	puts_serial("'\n");
}

static int streq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

void mb_main(uint32_t magic, const struct mb_info *mbi)
{
	if (serial_init()) {
		outb(0xe9, '!');	/* no UART: say so where we can */
		outb(0xf4, 0x11);
	}
	puts_serial("mboot32: magic ");
	put_hex(magic);
	puts_serial(", flags ");
	put_hex(mbi->flags);
	puts_serial("\n");
	expect(magic == 0x2BADB002, "magic");
	expect((mbi->flags & 0x241) == 0x241, "flags");
	puts_serial("mboot32: mem_lower ");
	put_dec(mbi->mem_lower);
	puts_serial(" KiB, mem_upper ");
	put_dec(mbi->mem_upper);
	puts_serial(" KiB\n");
	expect(mbi->mem_lower == 639, "mem_lower");
	for (uint32_t off = 0; (mbi->flags & 0x40) && off < mbi->mmap_length;) {
		const struct mb_mmap *m = (const struct mb_mmap *)(uintptr_t)(mbi->mmap_addr + off);

		puts_serial("mboot32: map ");
		put_hex(m->base);
		puts_serial(" ");
		put_hex(m->len);
		puts_serial(m->type == 1 ? " ram\n" : " reserved\n");
		off += m->size + 4;
	}
	if (mbi->flags & 0x4) {
		puts_serial("mboot32: cmdline '");
		puts_serial((const char *)(uintptr_t)mbi->cmdline);
		puts_serial("'\n");
		if (streq((const char *)(uintptr_t)mbi->cmdline, "echo"))
			echo_line();
	}
	for (uint32_t i = 0; (mbi->flags & 0x8) && i < mbi->mods_count; i++) {
		const struct mb_module *m = (const struct mb_module *)(uintptr_t)mbi->mods_addr + i;
		const char *p = (const char *)(uintptr_t)m->start;

		puts_serial("mboot32: module '");
		puts_serial((const char *)(uintptr_t)m->string);
		puts_serial("' ");
		put_dec(m->end - m->start);
		puts_serial(" bytes: ");
		for (; p < (const char *)(uintptr_t)m->end && *p != '\n'; p++)
			putc_serial(*p);
		puts_serial("\n");
		expect((m->start & 0xfff) == 0, "module alignment");
	}
	puts_serial("mboot32: loader '");
	puts_serial((const char *)(uintptr_t)mbi->boot_loader_name);
	puts_serial("'\n");
	puts_serial(bad ? "mboot32: FAILED\n" : "mboot32: ok\n");
	outb(0xf4, bad ? 0x11 : 0x10);
}
