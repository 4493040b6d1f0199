/* ioapic.h - an I/O APIC (82093AA-style, version 0x11, 24 pins) at
 * IOAPIC_BASE, as PC kernels that leave the 8259s program it: IOREGSEL and
 * IOWIN, the ID, version and arbitration registers, and a redirection entry
 * per pin (vector, delivery mode, destination mode and APIC, mask).  An
 * edge on an unmasked pin becomes a message to the local APICs.  Pins are
 * edge-triggered (the ISA interrupts the vmm raises are): an entry marked
 * level-triggered is delivered the same way, with no remote IRR to wait
 * on an EOI for.
 *
 * Pure: no KVM, no locks (the caller serialises).
 */
#ifndef VMM_IOAPIC_H
#define VMM_IOAPIC_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/lapic.h"

#define IOAPIC_BASE    0xfec00000ULL
#define IOAPIC_SIZE    0x1000ULL
#define IOAPIC_PINS    24
#define IOAPIC_VERSION 0x00170011u /* version 0x11, highest entry 23 */
#define IOAPIC_REGSEL  0x00
#define IOAPIC_WIN     0x10
#define IOAPIC_MASKED  (1ULL << 16)

struct ioapic {
	uint32_t id;      /* bits 24-27 of register 0 */
	uint8_t sel;      /* IOREGSEL */
	uint64_t redir[IOAPIC_PINS];
};

/* After reset: ID 0, every entry masked. */
void ioapic_reset(struct ioapic *io);

/* A 32-bit access at off (IOAPIC_REGSEL or IOAPIC_WIN; others read 0 and
 * ignore writes). */
uint32_t ioapic_read(struct ioapic *io, unsigned off);
void ioapic_write(struct ioapic *io, unsigned off, uint32_t v);

/* An edge on pin: true, with the message for the local APICs in *msg
 * (mode IPI_FIXED, IPI_LOWEST, IPI_NMI, IPI_INIT; ExtINT as IPI_EXTINT),
 * unless the pin is masked or out of range. */
#define IPI_EXTINT 7
bool ioapic_pulse(struct ioapic *io, unsigned pin, struct lapic_ipi *msg);

#endif
