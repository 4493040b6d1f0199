/* ioapic.c - the I/O APIC model of ioapic.h. */
#include <string.h>

#include "vmm/ioapic.h"

/* Bits of a redirection entry the guest can write: vector, delivery and
 * destination mode, polarity, trigger mode, mask, destination. */
#define REDIR_WRITABLE 0xff0000000001afffULL

void ioapic_reset(struct ioapic *io)
{
	memset(io, 0, sizeof(*io));
	for (int i = 0; i < IOAPIC_PINS; i++)
		io->redir[i] = IOAPIC_MASKED;
}

uint32_t ioapic_read(struct ioapic *io, unsigned off)
{
	unsigned r = io->sel;

	if (off == IOAPIC_REGSEL)
		return io->sel;
	if (off != IOAPIC_WIN)
		return 0;
	if (r == 0)
		return io->id << 24;
	if (r == 1)
		return IOAPIC_VERSION;
	if (r == 2)
		return io->id << 24; /* arbitration ID */
	if (r >= 0x10 && r < 0x10 + 2 * IOAPIC_PINS)
		return (uint32_t)(io->redir[(r - 0x10) / 2] >> (r & 1 ? 32 : 0));
	return 0;
}

void ioapic_write(struct ioapic *io, unsigned off, uint32_t v)
{
	unsigned r = io->sel;

	if (off == IOAPIC_REGSEL) {
		io->sel = (uint8_t)v;
		return;
	}
	if (off != IOAPIC_WIN)
		return;
	if (r == 0) {
		io->id = v >> 24 & 0xf;
	} else if (r >= 0x10 && r < 0x10 + 2 * IOAPIC_PINS) {
		uint64_t *e = &io->redir[(r - 0x10) / 2];
		uint64_t nv = r & 1 ? (*e & 0xffffffffULL) | (uint64_t)v << 32 : (*e & ~0xffffffffULL) | v;

		*e = (*e & ~REDIR_WRITABLE) | (nv & REDIR_WRITABLE);
	}
}

bool ioapic_pulse(struct ioapic *io, unsigned pin, struct lapic_ipi *msg)
{
	uint64_t e;

	if (pin >= IOAPIC_PINS || (io->redir[pin] & IOAPIC_MASKED))
		return false;
	e = io->redir[pin];
	memset(msg, 0, sizeof(*msg));
	msg->vector = (uint8_t)e;
	msg->mode = (enum lapic_delivery)(e >> 8 & 7);
	msg->logical = e >> 11 & 1;
	msg->dest = (uint8_t)(e >> 56);
	msg->shorthand = IPI_DEST;
	return true;
}
