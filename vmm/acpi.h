/* acpi.h - the ACPI tables a PC kernel looks for to find its CPUs: an RSDP
 * (revision 2) on a 16-byte boundary at ACPI_RSDP, which PC kernels find by
 * scanning 0xE0000-0xFFFFF, pointing to an XSDT and an RSDT that each list
 * one MADT: the local APICs (one per vCPU, APIC ID = vCPU index, all
 * enabled) at LAPIC_BASE, PCAT_COMPAT (the two 8259s are there), the I/O
 * APIC (ID 0, GSI base 0) at IOAPIC_BASE, and the override every PC has:
 * ISA IRQ 0 (the PIT) is GSI 2.
 * Built for Multiboot kernels only (the boot contract leaves RAM to the
 * guest); the Multiboot memory map already reserves 0x9FC00-0xFFFFF.
 *
 * Pure: writes guest RAM, no KVM.
 */
#ifndef VMM_ACPI_H
#define VMM_ACPI_H

#include <stddef.h>
#include <stdint.h>

#define ACPI_RSDP 0xe0000ULL
#define ACPI_END  0xe1000ULL /* the tables fit in this page */

struct vm;

/* Write the tables for vm->ncpus CPUs.  0, or -errno with a reason (RAM
 * too small to hold them). */
int acpi_build(struct vm *vm, char *err, size_t errlen) __attribute__((warn_unused_result));

#endif
