/* acpi.c - the ACPI tables of acpi.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/acpi.h"
#include "vmm/ioapic.h"
#include "vmm/lapic.h"
#include "vmm/vm.h"

#define SDT_HEADER 36
#define MADT_PCAT_COMPAT 1u

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
/* n characters of a signature or ID: no terminating NUL in the table */
static void put_chars(uint8_t *p, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)s[i];
}
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	for (size_t i = 0; i < len; i++)
		s += p[i];
	return (uint8_t)-s;
}

/* A system description table's header; the checksum is set once the table
 * is complete (finish). */
static void sdt_header(uint8_t *p, const char *sig, uint32_t len, uint8_t rev)
{
	put_chars(p, sig, 4);
	put32(p + 4, len);
	p[8] = rev;
	put_chars(p + 10, "VMM   ", 6);   /* OEM ID */
	put_chars(p + 16, "VMMVMM  ", 8); /* OEM table ID */
	put32(p + 24, 1);              /* OEM revision */
	put_chars(p + 28, "VMM ", 4);     /* creator ID */
	put32(p + 32, 1);              /* creator revision */
}

static void finish(uint8_t *p, uint32_t len)
{
	p[9] = 0;
	p[9] = checksum(p, len);
}

int acpi_build(struct vm *vm, char *err, size_t errlen)
{
	/* Layout within the page: RSDP (36 bytes), XSDT, RSDT, MADT. */
	const uint64_t xsdt = ACPI_RSDP + 0x40, rsdt = xsdt + 0x40, madt = rsdt + 0x40;
	uint32_t madt_len = SDT_HEADER + 8 + 8 * (uint32_t)vm->ncpus + 12 + 10;
	uint8_t *ram = vm->ram, *p;

	_Static_assert(0xc0 + SDT_HEADER + 8 + 8 * VM_MAX_CPUS + 12 + 10 <= ACPI_END - ACPI_RSDP,
		       "the ACPI tables fit in their page");
	if (vm->ram_size < ACPI_END) {
		snprintf(err, errlen, "RAM of %llu bytes cannot hold the ACPI tables at 0x%llx",
			 (unsigned long long)vm->ram_size, (unsigned long long)ACPI_RSDP);
		return -ENOMEM;
	}
	memset(ram + ACPI_RSDP, 0, ACPI_END - ACPI_RSDP);

	p = ram + madt;
	sdt_header(p, "APIC", madt_len, 4);
	put32(p + 36, (uint32_t)LAPIC_BASE);
	put32(p + 40, MADT_PCAT_COMPAT);
	for (int i = 0; i < vm->ncpus; i++) {
		uint8_t *e = p + 44 + 8 * i;

		e[0] = 0;           /* processor local APIC */
		e[1] = 8;
		e[2] = (uint8_t)i;  /* ACPI processor UID */
		e[3] = (uint8_t)i;  /* APIC ID */
		put32(e + 4, 1);    /* enabled */
	}
	{
		uint8_t *e = p + 44 + 8 * vm->ncpus;

		e[0] = 1;            /* I/O APIC */
		e[1] = 12;
		e[2] = 0;            /* its ID */
		put32(e + 4, (uint32_t)IOAPIC_BASE);
		put32(e + 8, 0);     /* GSI base */
		e += 12;
		e[0] = 2;            /* interrupt source override: ISA IRQ 0 is GSI 2 */
		e[1] = 10;
		e[2] = 0;            /* ISA */
		e[3] = 0;            /* IRQ 0, the PIT */
		put32(e + 4, 2);
		e[8] = e[9] = 0;     /* bus-default polarity and trigger: edge, high */
	}
	finish(p, madt_len);

	p = ram + rsdt;
	sdt_header(p, "RSDT", SDT_HEADER + 4, 1);
	put32(p + 36, (uint32_t)madt);
	finish(p, SDT_HEADER + 4);

	p = ram + xsdt;
	sdt_header(p, "XSDT", SDT_HEADER + 8, 1);
	put64(p + 36, madt);
	finish(p, SDT_HEADER + 8);

	p = ram + ACPI_RSDP;
	put_chars(p, "RSD PTR ", 8);
	put_chars(p + 9, "VMM   ", 6);
	p[15] = 2;                    /* revision: ACPI 2.0+, with the XSDT */
	put32(p + 16, (uint32_t)rsdt);
	put32(p + 20, 36);            /* length */
	put64(p + 24, xsdt);
	p[8] = checksum(p, 20);       /* over the ACPI 1.0 part */
	p[32] = checksum(p, 36);      /* extended checksum, over all */
	return 0;
}
