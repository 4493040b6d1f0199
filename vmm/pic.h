/* pic.h - the PC's two 8259A interrupt controllers: the master at
 * 0x20/0x21, the slave at 0xA0/0xA1 cascaded on the master's IRQ 2, and
 * the edge/level control registers (ELCR) at 0x4D0/0x4D1, as PC kernels
 * program them.
 *
 * Kept: the initialisation sequence ICW1..ICW4 (ICW3 and ICW4 only when
 * ICW1 asks for them; single mode honoured), the vector base (ICW2, low
 * 3 bits ignored), auto-EOI (ICW4 bit 1), the mask (OCW1), non-specific and
 * specific EOI and the rotate forms of OCW2 (rotation itself is not done:
 * priority stays fixed, IRQ 0 highest), OCW3's read-IRR / read-ISR select
 * and poll command, special mask mode.  Inputs are edge-triggered unless
 * the ELCR marks them level-triggered.  Interrupts of the slave reach the
 * CPU through the master's IRQ 2; fully nested mode is what kernels use.
 *
 * Pure: no KVM, no time, no locks (the caller serialises).
 */
#ifndef VMM_PIC_H
#define VMM_PIC_H

#include <stdbool.h>
#include <stdint.h>

#define PIC_MASTER_PORT 0x20 /* and 0x21 */
#define PIC_SLAVE_PORT  0xa0 /* and 0xa1 */
#define PIC_ELCR_PORT   0x4d0 /* and 0x4d1 */

struct pic_chip {
	uint8_t irr;        /* requests latched */
	uint8_t isr;        /* in service */
	uint8_t imr;        /* masked */
	uint8_t lines;      /* the input lines' levels (edge detection) */
	uint8_t elcr;       /* 1: level-triggered input */
	uint8_t base;       /* vector of IRQ 0 of this chip (ICW2 & 0xf8) */
	uint8_t icw_next;   /* 0: initialised; 2, 3, 4: the ICW expected next */
	bool icw4_wanted;   /* ICW1 bit 0 */
	bool single;        /* ICW1 bit 1: no slave */
	bool auto_eoi;      /* ICW4 bit 1 */
	bool read_isr;      /* OCW3: a read of the command port gives ISR (else IRR) */
	bool poll;          /* OCW3 poll: the next read of the command port acknowledges */
	bool special_mask;  /* OCW3 special mask mode */
};

struct pic {
	struct pic_chip master, slave;
};

/* The state a PC BIOS leaves: initialised with vector bases 0x08 (master)
 * and 0x70 (slave), the slave on the master's IRQ 2, edge-triggered, every
 * input masked but the cascade (master IMR 0xFB, slave 0xFF). */
void pic_reset(struct pic *p);

/* Is port one of the PIC's (0x20, 0x21, 0xA0, 0xA1, 0x4D0, 0x4D1)? */
bool pic_port(uint16_t port);
uint8_t pic_read(struct pic *p, uint16_t port);
void pic_write(struct pic *p, uint16_t port, uint8_t v);

/* Set input line irq (0-15) to level.  An edge-triggered input latches a
 * request on a rising edge; a level-triggered one requests while high. */
void pic_set_irq(struct pic *p, unsigned irq, bool level);
/* A rising then falling edge: what a timer tick is. */
void pic_pulse(struct pic *p, unsigned irq);

/* Does the master assert INTR to the CPU: an unmasked request of higher
 * priority than any in service (through the slave for IRQs 8-15)? */
bool pic_intr(const struct pic *p);

/* The CPU's interrupt acknowledge: the vector to deliver.  The request
 * moves from IRR to ISR (not with auto-EOI); a request that went away
 * gives the spurious vector of IRQ 7 (or IRQ 15 on the slave), with no ISR
 * bit set, as on hardware. */
uint8_t pic_ack(struct pic *p);

#endif
