/*
 * pckernel.c - a small PC kernel, the test of the vmm's PC (and runnable
 * under QEMU): booted by Multiboot (pckernel_boot.S), it brings up COM1, an
 * IDT, the 8259 PICs and the 8254 PIT (IRQ 0 at 100 Hz), waits for ticks
 * with HLT, finds the CPUs in the ACPI MADT and starts the others with
 * INIT/SIPI.  Each step prints a line on COM1; the verdict ends through
 * port 0xF4: 0x10 all as expected (status 33), 0x11 not (status 35).
 *
 * Command line: ticks=N (timer ticks to wait, default 10), cpus=N (CPUs
 * expected online; default the MADT's count), irq=ioapic (IRQ 0 through the
 * MADT's IOAPIC, the PICs masked; the MADT is then read before the ticks),
 * timer=lapic (tick with the BSP's local APIC timer, calibrated by the PIT).
 */
#include <stdarg.h>
#include <stdint.h>

#include "pckernel.h"

#define COM1      0x3f8
#define PIC1      0x20
#define PIC2      0xa0
#define PIC_EOI   0x20
#define PIT_CH0   0x40
#define PIT_CTRL  0x43
#define PIT_HZ    1193182
#define TICK_HZ   100
#define CAL_TICKS (TICK_HZ / 10)	/* 100 ms of PIT ticks to count the APIC timer against */
#define VEC_IRQ0  0x20
#define VEC_APIC_TIMER 0x30
#define EXIT_PORT 0xf4
#define EXIT_OK   0x10
#define EXIT_FAIL 0x11
#define MB_MAGIC  0x2BADB002
#define MB_CMDLINE 0x4

enum {
	LAPIC_ID = 0x20, LAPIC_EOI = 0xb0, LAPIC_SVR = 0xf0, LAPIC_ICR_LO = 0x300, LAPIC_ICR_HI = 0x310,
	LAPIC_LVT_TIMER = 0x320, LAPIC_LINT0 = 0x350, LAPIC_TMICT = 0x380, LAPIC_TMCCT = 0x390,
	LAPIC_TDCR = 0x3e0,
};
#define ICR_BUSY     (1u << 12)
#define ICR_INIT     0x4500		/* INIT, level assert */
#define ICR_SIPI     0x4600
#define SVR_ENABLE   0x1ff		/* APIC on, spurious vector 0xFF */
#define LVT_EXTINT   0x700
#define LVT_MASKED   (1u << 16)
#define LVT_PERIODIC (1u << 17)
#define TDCR_DIV16   0x3
#define MSR_APIC_BASE 0x1b
#define APIC_BASE_ENABLE (1u << 11)

/* The IOAPIC: a register index at +0x00, its value at +0x10. */
#define IOAPIC_VER   0x01
#define IOAPIC_RTE(n) (0x10 + 2 * (n))	/* low half; the high half (destination) follows */
#define RTE_ACTIVE_LOW (1u << 13)
#define RTE_LEVEL    (1u << 15)
#define RTE_MASKED   (1u << 16)

struct mb_info { uint32_t flags, mem_lower, mem_upper, boot_device, cmdline; };

struct acpi_rsdp {
	char sig[8];
	uint8_t checksum;
	char oem[6];
	uint8_t revision;
	uint32_t rsdt, length;
	uint64_t xsdt;
	uint8_t ext_checksum, reserved[3];
} __attribute__((packed));

struct acpi_sdt {
	char sig[4];
	uint32_t length;
	uint8_t revision, checksum;
	char oem[6], oem_table[8];
	uint32_t oem_revision, creator, creator_revision;
} __attribute__((packed));

struct idt_gate {
	uint16_t off0, sel;
	uint8_t ist, type;
	uint16_t off1;
	uint32_t off2, zero;
};

/* For debuggers: stable names at file scope. */
volatile uint64_t ticks;
volatile uint32_t cpus_online = 1;		/* the BSP */
volatile uint32_t ap_ids[PCK_MAX_CPUS - 1];	/* in the order the APs checked in */
volatile uint32_t *lapic;

static uint64_t want_ticks = 10;
static uint32_t want_cpus;			/* 0: as many as the MADT lists */
static int irq_ioapic, timer_lapic;		/* irq=ioapic, timer=lapic */
static const struct acpi_sdt *madt;
static uint32_t madt_ids[PCK_MAX_CPUS], madt_cpus;
static volatile uint32_t *irq0_ioapic;		/* irq=ioapic: where IRQ 0's entry is */
static uint32_t irq0_pin, irq0_gsi, irq0_rte;
static uint32_t console_lock;
static struct idt_gate idt[256];
static struct { uint16_t limit; uint64_t base; } __attribute__((packed)) idt_ptr;

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline void pause(void) { __asm__ volatile("pause"); }
static uint32_t lapic_read(unsigned reg) { return lapic[reg / 4]; }
static void lapic_write(unsigned reg, uint32_t v) { lapic[reg / 4] = v; }

static uint32_t ioapic_read(volatile uint32_t *io, uint32_t reg)
{
	io[0] = reg;
	return io[4];
}

static void ioapic_write(volatile uint32_t *io, uint32_t reg, uint32_t v)
{
	io[0] = reg;
	io[4] = v;
}

static uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return lo | (uint64_t)hi << 32;
}

static void __attribute__((noreturn)) finish(uint8_t code)
{
	outb(EXIT_PORT, code);
	for (;;)			/* no exit device */
		__asm__ volatile("cli; hlt");
}

/* COM1 ---------------------------------------------------------------- */

static int serial_init(void)
{
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x80);
	outb(COM1 + 0, 0x03);		/* 38400 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03);
	outb(COM1 + 2, 0xc7);
	outb(COM1 + 4, 0x0b);
	outb(COM1 + 4, 0x1e);		/* loopback: what is sent comes back */
	outb(COM1 + 0, 0xae);
	if (inb(COM1 + 0) != 0xae)
		return -1;
	outb(COM1 + 4, 0x0f);
	return 0;
}

static void serial_putc(char c)
{
	while (!(inb(COM1 + 5) & 0x20))
		;
	outb(COM1, (uint8_t)c);
}

static void serial_puts(const char *s)
{
	while (*s)
		serial_putc(*s++);
}

static void put_num(uint64_t v, unsigned base)
{
	char b[20];
	int i = sizeof(b);

	do {
		b[--i] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (i < (int)sizeof(b))
		serial_putc(b[i++]);
}

/* printf's %s, %u, %x, %lu, %lx; the caller holds console_lock. */
static void vprint(const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		int wide = 0;

		if (*fmt != '%') {
			serial_putc(*fmt);
			continue;
		}
		if (fmt[1] == 'l') {
			wide = 1;
			fmt++;
		}
		switch (*++fmt) {
		case 's':
			serial_puts(va_arg(ap, const char *));
			break;
		case 'u':
		case 'x':
			put_num(wide ? va_arg(ap, uint64_t) : va_arg(ap, uint32_t), *fmt == 'u' ? 10 : 16);
			break;
		default:
			return;
		}
	}
}

/* One lock for the whole line: CPUs would interleave byte by byte. */
static void console_acquire(void)
{
	while (__atomic_exchange_n(&console_lock, 1, __ATOMIC_ACQUIRE))
		pause();
}

static void console_release(void) { __atomic_store_n(&console_lock, 0, __ATOMIC_RELEASE); }

static void __attribute__((format(printf, 1, 2))) print(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprint(fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 1, 2))) kprintf(const char *fmt, ...)
{
	va_list ap;

	console_acquire();
	va_start(ap, fmt);
	vprint(fmt, ap);
	va_end(ap);
	console_release();
}

static void __attribute__((format(printf, 1, 2), noreturn)) fail(const char *fmt, ...)
{
	va_list ap;

	console_acquire();
	serial_puts("pckernel: FAILED: ");
	va_start(ap, fmt);
	vprint(fmt, ap);
	va_end(ap);
	serial_putc('\n');
	console_release();
	finish(EXIT_FAIL);
}

/* Command line -------------------------------------------------------- */

/* If word w is KEY=N, store N; 0 if it is not KEY=, -1 if N is no number. */
static int word_value(const char *w, const char *key, uint64_t *v)
{
	uint64_t n = 0;
	int digits = 0;

	for (; *key; key++, w++)
		if (*w != *key)
			return 0;
	for (; *w >= '0' && *w <= '9' && digits < 9; w++, digits++)
		n = n * 10 + (uint64_t)(*w - '0');
	if (!digits || (*w && *w != ' '))
		return -1;
	*v = n;
	return 1;
}

/* If word w is KEY=VALUE, VALUE's index in vals (NULL-ended); -1 if it is not
 * KEY=, -2 if VALUE is none of vals. */
static int word_choice(const char *w, const char *key, const char *const *vals)
{
	for (; *key; key++, w++)
		if (*w != *key)
			return -1;
	for (int i = 0; vals[i]; i++) {
		const char *a = w, *b = vals[i];

		while (*b && *a == *b)
			a++, b++;
		if (!*b && (!*a || *a == ' '))
			return i;
	}
	return -2;
}

/* QEMU's command line starts with the kernel's file name: look at every word. */
static void parse_cmdline(const char *s)
{
	static const char *const irqs[] = { "pic", "ioapic", 0 }, *const timers[] = { "pit", "lapic", 0 };
	uint64_t v;
	int r;

	for (;;) {
		while (*s == ' ')
			s++;
		if (!*s)
			break;
		r = word_value(s, "ticks=", &v);
		if (r < 0)
			fail("bad ticks= on the command line");
		if (r > 0)
			want_ticks = v;
		r = word_value(s, "cpus=", &v);
		if (r < 0 || (r > 0 && v == 0))
			fail("bad cpus= on the command line");
		if (r > 0)
			want_cpus = (uint32_t)v;
		r = word_choice(s, "irq=", irqs);
		if (r == -2)
			fail("bad irq= on the command line (pic or ioapic)");
		if (r >= 0)
			irq_ioapic = r;
		r = word_choice(s, "timer=", timers);
		if (r == -2)
			fail("bad timer= on the command line (pit or lapic)");
		if (r >= 0)
			timer_lapic = r;
		while (*s && *s != ' ')
			s++;
	}
}

/* Interrupts ---------------------------------------------------------- */

static void set_gate(unsigned vector, void (*handler)(void))
{
	uintptr_t a = (uintptr_t)handler;

	idt[vector] = (struct idt_gate){
		.off0 = (uint16_t)a, .sel = PCK_SEL_CODE64, .type = 0x8e,	/* present interrupt gate */
		.off1 = (uint16_t)(a >> 16), .off2 = (uint32_t)(a >> 32),
	};
}

static void idt_init(void)
{
	for (unsigned v = 0; v < 256; v++)
		set_gate(v, (void (*)(void))(isr_stubs + v * PCK_ISR_STUB));
	set_gate(VEC_IRQ0, timer_irq);
	set_gate(VEC_APIC_TIMER, apic_timer_irq);
	set_gate(0x27, spurious_master);
	set_gate(0x2f, spurious_slave);
	set_gate(0xff, spurious_lapic);
	idt_ptr.limit = sizeof(idt) - 1;
	idt_ptr.base = (uintptr_t)idt;
	__asm__ volatile("lidt %0" : : "m"(idt_ptr));
}

void isr_fatal(const struct isr_frame *f)
{
	uint64_t cr2;

	/* A fault may come in the middle of a line: we end anyway. */
	console_release();
	if (f->vector >= 32)
		fail("unexpected interrupt %lu at 0x%lx", f->vector, f->rip);
	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	kprintf("pckernel: exception %lu at 0x%lx, error 0x%lx, CR2 0x%lx\n", f->vector, f->rip, f->error,
		cr2);
	fail("exception %lu", f->vector);
}

void timer_tick(void)
{
	ticks++;
	if (irq_ioapic)
		lapic_write(LAPIC_EOI, 0);
	else
		outb(PIC1, PIC_EOI);
}

void apic_timer_tick(void)
{
	ticks++;
	lapic_write(LAPIC_EOI, 0);
}

/* The PICs at vectors 0x20-0x2F (a stray one lands there), IRQs not in
 * master_imr enabled; the PIT's counter 0 at TICK_HZ. */
static void pic_pit_init(uint8_t master_imr)
{
	const uint16_t divisor = (PIT_HZ + TICK_HZ / 2) / TICK_HZ;

	outb(PIC1, 0x11);		/* ICW1: edge, cascade, ICW4 follows */
	outb(PIC2, 0x11);
	outb(PIC1 + 1, 0x20);		/* ICW2: vector base */
	outb(PIC2 + 1, 0x28);
	outb(PIC1 + 1, 4);		/* ICW3: the slave on IRQ 2 */
	outb(PIC2 + 1, 2);
	outb(PIC1 + 1, 1);		/* ICW4: 8086 mode */
	outb(PIC2 + 1, 1);
	outb(PIC1 + 1, master_imr);
	outb(PIC2 + 1, 0xff);

	outb(PIT_CTRL, 0x34);		/* counter 0, lobyte/hibyte, mode 2 */
	outb(PIT_CH0, divisor & 0xff);
	outb(PIT_CH0, divisor >> 8);
}

/* The idle loop: a debugger interrupting pckernel usually finds it here. */
__attribute__((noinline)) void idle_until(uint64_t n)
{
	while (ticks < n)
		__asm__ volatile("hlt");
}

static void sleep_ticks(uint64_t n) { idle_until(ticks + n); }

/* ACPI ---------------------------------------------------------------- */

static int bytes_eq(const void *a, const void *b, uint32_t n)
{
	const uint8_t *x = a, *y = b;

	while (n--)
		if (*x++ != *y++)
			return 0;
	return 1;
}

static int checksum_ok(const void *p, uint32_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum = (uint8_t)(sum + *b++);
	return sum == 0;
}

static const struct acpi_rsdp *rsdp_scan(uintptr_t start, uintptr_t len)
{
	for (uintptr_t a = start; a + sizeof(struct acpi_rsdp) <= start + len; a += 16) {
		const struct acpi_rsdp *r = (const struct acpi_rsdp *)a;

		if (bytes_eq(r->sig, "RSD PTR ", 8) && checksum_ok(r, 20) &&
		    (r->revision < 2 || checksum_ok(r, sizeof(*r))))
			return r;
	}
	return 0;
}

static const struct acpi_rsdp *rsdp_find(void)
{
	uint16_t ebda;
	const struct acpi_rsdp *r;

	/* The BDA's EBDA segment; the asm keeps GCC from judging address 0x40E. */
	__asm__ volatile("movzwl 0x40e, %k0" : "=r"(ebda));
	if (ebda && (r = rsdp_scan((uintptr_t)ebda << 4, 1024)))
		return r;
	return rsdp_scan(0xe0000, 0x20000);
}

/* The table at addr if its checksum holds (we map 0-4 GiB only). */
static const struct acpi_sdt *sdt_at(uint64_t addr)
{
	const struct acpi_sdt *t = (const struct acpi_sdt *)(uintptr_t)addr;

	if (!addr || addr >= 0xffff0000ULL || t->length < sizeof(*t) || t->length > 0x10000)
		return 0;
	if (!checksum_ok(t, t->length)) {
		kprintf("pckernel: ACPI table at 0x%lx: bad checksum\n", addr);
		return 0;
	}
	return t;
}

static const struct acpi_sdt *madt_find(void)
{
	const struct acpi_rsdp *r = rsdp_find();
	const struct acpi_sdt *root, *t;
	int x;
	uint32_t n;

	if (!r)
		fail("no ACPI RSDP in the EBDA or 0xE0000-0xFFFFF");
	x = r->revision >= 2 && r->xsdt;
	root = sdt_at(x ? r->xsdt : r->rsdt);
	if (!root || !bytes_eq(root->sig, x ? "XSDT" : "RSDT", 4))
		fail("no valid %s", x ? "XSDT" : "RSDT");
	kprintf("pckernel: ACPI: RSDP revision %u at 0x%lx, %s at 0x%lx\n", r->revision, (uint64_t)(uintptr_t)r,
		x ? "XSDT" : "RSDT", (uint64_t)(uintptr_t)root);
	n = (root->length - sizeof(*root)) / (x ? 8 : 4);
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = (const uint8_t *)(root + 1) + i * (x ? 8 : 4);
		uint64_t addr = x ? ((const struct { uint64_t v; } __attribute__((packed)) *)e)->v
				  : *(const uint32_t *)e;

		t = sdt_at(addr);
		if (t && bytes_eq(t->sig, "APIC", 4))
			return t;
	}
	fail("no valid MADT (\"APIC\") in the %s", x ? "XSDT" : "RSDT");
}

/* The MADT entry after prev (NULL: the first); NULL at the end. */
static const uint8_t *madt_next(const struct acpi_sdt *madt, const uint8_t *prev)
{
	const uint8_t *end = (const uint8_t *)madt + madt->length;
	const uint8_t *e = prev ? prev + prev[1] : (const uint8_t *)madt + sizeof(*madt) + 8;

	return e + 2 <= end && e[1] >= 2 && e + e[1] <= end ? e : 0;
}

static uint16_t rd16(const uint8_t *p) { return *(const uint16_t *)p; }
static uint32_t rd32(const uint8_t *p) { return *(const uint32_t *)p; }

/* The local APIC address and the enabled CPUs' APIC IDs; the IOAPICs. */
static void madt_parse(void)
{
	uint64_t base;
	const uint8_t *e;

	madt = madt_find();
	base = rd32((const uint8_t *)madt + sizeof(*madt));

	for (e = madt_next(madt, 0); e; e = madt_next(madt, e)) {
		if (e[0] == 0 && e[1] >= 8 && (rd32(e + 4) & 1)) {	/* processor local APIC, enabled */
			if (madt_cpus == PCK_MAX_CPUS)
				fail("the MADT lists more than %u CPUs", PCK_MAX_CPUS);
			madt_ids[madt_cpus++] = e[3];
		} else if (e[0] == 5 && e[1] >= 12) {			/* local APIC address override */
			base = rd32(e + 4) | (uint64_t)rd32(e + 8) << 32;
		}
	}
	kprintf("pckernel: MADT: %u CPUs, local APIC at 0x%lx\n", madt_cpus, base);
	for (e = madt_next(madt, 0); e; e = madt_next(madt, e))
		if (e[0] == 1 && e[1] >= 12)
			kprintf("pckernel: IOAPIC %u at 0x%x, GSI base %u\n", e[2], rd32(e + 4), rd32(e + 8));
	if (!madt_cpus)
		fail("the MADT lists no enabled CPU");
	if (base >= 0xffff0000ULL)
		fail("local APIC at 0x%lx is outside our map", base);
	/* timer=lapic alone has been ticking at IA32_APIC_BASE's address. */
	if (lapic && lapic != (volatile uint32_t *)(uintptr_t)base)
		fail("the MADT's local APIC 0x%lx is not IA32_APIC_BASE's 0x%lx", base, (uint64_t)(uintptr_t)lapic);
	lapic = (volatile uint32_t *)(uintptr_t)base;
}

/* Timers -------------------------------------------------------------- */

/* Software-enabled, the PICs' INTR through LINT0 (virtual wire, as a BIOS
 * leaves it). */
static void lapic_enable(void)
{
	lapic_write(LAPIC_SVR, SVR_ENABLE);
	lapic_write(LAPIC_LINT0, LVT_EXTINT);
}

/* Before the MADT is read (timer=lapic alone): the address the CPU says. */
static void lapic_from_msr(void)
{
	uint64_t v = rdmsr(MSR_APIC_BASE), base = v & 0xffffffffff000ULL;

	if (!(v & APIC_BASE_ENABLE) || !base || base >= 0xffff0000ULL)
		fail("IA32_APIC_BASE is 0x%lx: no local APIC we can use", v);
	lapic = (volatile uint32_t *)(uintptr_t)base;
}

/*
 * ISA IRQ 0 by the MADT: its GSI (a type 2 override for bus 0 source 0, else
 * GSI 0, edge, active high) and the IOAPIC whose pins hold it; that entry to
 * the BSP at VEC_IRQ0.  The PICs are all masked already.
 */
static void ioapic_route_irq0(void)
{
	uint32_t gsi = 0, flags = 0, addr = 0, base = 0, bsp;
	const uint8_t *e;

	for (e = madt_next(madt, 0); e; e = madt_next(madt, e))
		if (e[0] == 2 && e[1] >= 10 && e[2] == 0 && e[3] == 0) {
			gsi = rd32(e + 4);
			flags = rd16(e + 8);
		}
	for (e = madt_next(madt, 0); e; e = madt_next(madt, e)) {
		uint32_t pins;

		if (e[0] != 1 || e[1] < 12)
			continue;
		addr = rd32(e + 4);
		base = rd32(e + 8);
		pins = (ioapic_read((volatile uint32_t *)(uintptr_t)addr, IOAPIC_VER) >> 16 & 0xff) + 1;
		if (gsi >= base && gsi - base < pins)
			break;
	}
	if (!e)
		fail("no IOAPIC in the MADT has GSI %u (IRQ 0)", gsi);

	/* MPS INTI flags: polarity in bits 0-1, trigger in 2-3; 3 is active
	 * low / level, 0 the bus's (ISA: active high, edge). */
	irq0_ioapic = (volatile uint32_t *)(uintptr_t)addr;
	irq0_pin = gsi - base;
	irq0_gsi = gsi;
	irq0_rte = VEC_IRQ0 | ((flags & 3) == 3 ? RTE_ACTIVE_LOW : 0) | ((flags >> 2 & 3) == 3 ? RTE_LEVEL : 0);
	lapic_enable();
	bsp = lapic_read(LAPIC_ID) >> 24;
	ioapic_write(irq0_ioapic, IOAPIC_RTE(irq0_pin) + 1, bsp << 24);
	ioapic_write(irq0_ioapic, IOAPIC_RTE(irq0_pin), irq0_rte);	/* fixed, physical, unmasked */
	kprintf("pckernel: IRQ 0 through the IOAPIC at 0x%x, GSI %u%s%s\n", addr, gsi,
		irq0_rte & RTE_LEVEL ? ", level-triggered" : "", irq0_rte & RTE_ACTIVE_LOW ? ", active low" : "");
}

/*
 * With the PIT ticking: count the APIC timer (divide by 16) over CAL_TICKS
 * ticks from a tick's edge, make it periodic at TICK_HZ, then mask IRQ 0 so
 * that it alone ticks, from 0.
 */
static void apic_timer_start(void)
{
	uint32_t left, per_tick;
	uint64_t t;

	lapic_write(LAPIC_TDCR, TDCR_DIV16);
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | VEC_APIC_TIMER);	/* one-shot */
	t = ticks + 1;
	idle_until(t);
	lapic_write(LAPIC_TMICT, 0xffffffff);
	idle_until(t + CAL_TICKS);
	left = lapic_read(LAPIC_TMCCT);
	per_tick = (0xffffffff - left) / CAL_TICKS;
	if (!left)
		fail("the APIC timer ran out within %u PIT ticks", CAL_TICKS);
	if (!per_tick)
		fail("the APIC timer did not count in %u PIT ticks", CAL_TICKS);

	lapic_write(LAPIC_LVT_TIMER, LVT_PERIODIC | VEC_APIC_TIMER);
	lapic_write(LAPIC_TMICT, per_tick);
	if (irq_ioapic)
		ioapic_write(irq0_ioapic, IOAPIC_RTE(irq0_pin), irq0_rte | RTE_MASKED);
	else
		outb(PIC1 + 1, 0xff);
	ticks = 0;
	kprintf("pckernel: APIC timer at %u Hz (%u counts per %u ms, divide by 16), waiting for %lu ticks\n",
		TICK_HZ, per_tick, 1000 / TICK_HZ, want_ticks);
}

/* SMP ----------------------------------------------------------------- */

void ap_main(uint32_t apic_id)
{
	uint32_t n;

	__asm__ volatile("lidt %0" : : "m"(idt_ptr));
	/* Check in with the console held: the BSP, seeing cpus_online move,
	 * then prints nothing (its verdict) before our line is out. */
	console_acquire();
	n = __atomic_fetch_add(&cpus_online, 1, __ATOMIC_SEQ_CST);
	ap_ids[n - 1] = apic_id;
	print("pckernel: AP %u online\n", apic_id);
	console_release();
	for (;;)			/* the vmm ends a vCPU halted with interrupts off */
		__asm__ volatile("cli; hlt");
}

static void send_ipi(uint32_t apic_id, uint32_t icr)
{
	uint64_t deadline = ticks + TICK_HZ / 10;

	while (lapic_read(LAPIC_ICR_LO) & ICR_BUSY)
		if (ticks > deadline)
			fail("ICR still busy after 100 ms");
		else
			pause();
	lapic_write(LAPIC_ICR_HI, apic_id << 24);
	lapic_write(LAPIC_ICR_LO, icr);
}

/* INIT, 10 ms, SIPI, up to 200 ms for it to check in, maybe a second SIPI. */
static void start_ap(uint32_t apic_id)
{
	uint32_t before = cpus_online;

	send_ipi(apic_id, ICR_INIT);
	sleep_ticks(2);			/* a tick boundary may come at once: 2 are >= 10 ms */
	for (int sipi = 0; sipi < 2 && cpus_online == before; sipi++) {
		uint64_t deadline = ticks + TICK_HZ / 5;

		send_ipi(apic_id, ICR_SIPI | (PCK_TRAMP_BASE >> 12));
		while (cpus_online == before && ticks < deadline)
			__asm__ volatile("hlt");
	}
	if (cpus_online == before)
		kprintf("pckernel: AP %u did not check in\n", apic_id);
}

static void smp_start(void)
{
	uint32_t bsp, cr3, i;
	uint64_t cr3_64;

	bsp = lapic_read(LAPIC_ID) >> 24;
	lapic_enable();
	for (i = 0; i < madt_cpus && madt_ids[i] != bsp; i++)
		;
	if (i == madt_cpus)
		fail("the BSP's APIC ID %u is not in the MADT", bsp);

	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3_64));
	cr3 = (uint32_t)cr3_64;
	{
		void *dst = (void *)PCK_TRAMP_BASE;
		const void *src = tramp_start;
		uint64_t len = (uint64_t)(tramp_end - tramp_start);

		__asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(len) : : "memory");
	}
	*(volatile uint32_t *)(PCK_TRAMP_BASE + (tramp_cr3 - tramp_start)) = cr3;

	kprintf("pckernel: BSP is APIC %u, starting %u APs\n", bsp, madt_cpus - 1);
	for (i = 0; i < madt_cpus; i++)
		if (madt_ids[i] != bsp)
			start_ap(madt_ids[i]);
}

/* The boot CPU -------------------------------------------------------- */

void kmain(void)
{
	const struct mb_info *mbi = (const struct mb_info *)(uintptr_t)mb_info;
	uint32_t expected;

	if (serial_init()) {
		outb(0xe9, '!');	/* no UART: say so where we can */
		finish(EXIT_FAIL);
	}
	kprintf("pckernel: long mode\n");
	if (mb_magic != MB_MAGIC)
		fail("not booted by Multiboot: EAX was 0x%x", mb_magic);
	/* The vmm's Multiboot information is at 0x8000-0xFFFF: read it all now. */
	if (mbi->flags & MB_CMDLINE) {
		const char *cmdline = (const char *)(uintptr_t)mbi->cmdline;

		kprintf("pckernel: command line '%s'\n", cmdline);
		parse_cmdline(cmdline);
	} else {
		kprintf("pckernel: no command line\n");
	}

	idt_init();
	kprintf("pckernel: IDT loaded\n");

	/* irq=ioapic: step 5 (the MADT) comes before the ticks. */
	if (irq_ioapic) {
		madt_parse();
		pic_pit_init(0xff);
		ioapic_route_irq0();
	} else {
		pic_pit_init(0xfe);
	}
	if (timer_lapic) {
		if (!lapic)
			lapic_from_msr();
		lapic_enable();
	}
	console_acquire();
	if (irq_ioapic)
		print("pckernel: IOAPIC GSI %u", irq0_gsi);
	else
		print("pckernel: PIC at 0x20/0x28");
	print(", PIT at %u Hz, ", TICK_HZ);
	if (timer_lapic)
		print("%u ticks to calibrate the APIC timer\n", CAL_TICKS);
	else
		print("waiting for %lu ticks\n", want_ticks);
	console_release();
	__asm__ volatile("sti");
	if (timer_lapic)
		apic_timer_start();
	idle_until(want_ticks);
	kprintf("pckernel: %lu ticks\n", ticks);

	if (!irq_ioapic)
		madt_parse();
	smp_start();

	expected = want_cpus ? want_cpus : madt_cpus;
	kprintf("pckernel: %u of %u CPUs online\n", cpus_online, expected);
	if (cpus_online != expected)
		fail("%u CPUs online, %u expected", cpus_online, expected);
	if (ticks < want_ticks)
		fail("%lu ticks, %lu expected", ticks, want_ticks);
	kprintf("pckernel: ok\n");
	finish(EXIT_OK);
}
