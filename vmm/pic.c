/* pic.c - the two 8259A PICs of pic.h. */
#include "vmm/pic.h"

#define ICW1        0x10 /* command port: bit 4 starts initialisation */
#define ICW1_IC4    0x01
#define ICW1_SNGL   0x02
#define ICW4_AEOI   0x02
#define OCW3        0x08 /* command port, bit 4 clear: bit 3 tells OCW3 from OCW2 */
#define OCW3_RR     0x02 /* the read register select is valid (RIS in bit 0) */
#define OCW3_POLL   0x04
#define OCW3_ESMM   0x40 /* the special mask bit is valid (SMM in bit 5) */
#define OCW3_SMM    0x20
#define OCW2_SL     0x40 /* specific: the level is in bits 2-0 */
#define OCW2_EOI    0x20
#define CASCADE     2    /* the master input the slave's INT drives */
#define SPURIOUS    7

/* The PIIX's ELCR: IRQs 0, 1, 2, 8 and 13 are edge-triggered by wiring. */
#define ELCR_MASK_MASTER 0xf8
#define ELCR_MASK_SLAVE  0xde

static bool cascaded(const struct pic *p) { return !p->master.single; }

/* The request this chip would raise INT for (-1: none).  Priority is fixed,
 * IRQ 0 highest.  Fully nested: an in-service level holds off itself and
 * every lower one.  In special mask mode only the mask and a level's own
 * ISR bit hold a request off, so levels below one in service get through:
 * the 8259A datasheet's reading, as Bochs has it (QEMU's still lets an
 * unmasked in-service level hold the lower ones off). */
static int chip_pending(const struct pic_chip *c)
{
	unsigned req = (unsigned)(c->irr & ~c->imr) & 0xff, isr = c->isr;

	if (c->special_mask)
		req &= ~isr;
	else if (isr)
		req &= (isr & -isr) - 1; /* higher priority than any in service */
	return req ? __builtin_ctz(req) : -1;
}

/* The master's cascade input follows the slave's INT as a level: nothing
 * is latched there, so a slave request that goes away takes the master's
 * request with it (and its acknowledge gives IRQ 7's spurious vector, as a
 * master whose IR input fell before INTA does). */
static void sync_cascade(struct pic *p)
{
	if (!cascaded(p))
		return;
	if (chip_pending(&p->slave) >= 0)
		p->master.irr |= 1u << CASCADE;
	else
		p->master.irr &= (uint8_t)~(1u << CASCADE);
}

/* INTA on one chip for level irq: IRR to ISR (not with auto-EOI).  A
 * level-triggered request stays in IRR while its line is high. */
static void chip_ack(struct pic_chip *c, int irq)
{
	uint8_t bit = (uint8_t)(1u << irq);

	if (!(c->elcr & bit))
		c->irr &= (uint8_t)~bit;
	if (!c->auto_eoi)
		c->isr |= bit;
}

static void chip_reset(struct pic_chip *c, uint8_t base, uint8_t imr)
{
	*c = (struct pic_chip){ .imr = imr, .base = base, .icw4_wanted = true };
}

void pic_reset(struct pic *p)
{
	chip_reset(&p->master, 0x08, 0xfb);
	chip_reset(&p->slave, 0x70, 0xff);
}

bool pic_port(uint16_t port)
{
	switch (port) {
	case PIC_MASTER_PORT:
	case PIC_MASTER_PORT + 1:
	case PIC_SLAVE_PORT:
	case PIC_SLAVE_PORT + 1:
	case PIC_ELCR_PORT:
	case PIC_ELCR_PORT + 1:
		return true;
	default:
		return false;
	}
}

/* Poll (OCW3 P): an acknowledge by the command port's read; bit 7 says
 * there was a request, bits 2-0 its level.  The master's answer for the
 * cascade is 0x82: the slave is polled next, as the datasheet has it. */
static uint8_t chip_poll(struct pic_chip *c)
{
	int irq = chip_pending(c);

	c->poll = false;
	if (irq < 0)
		return 0;
	chip_ack(c, irq);
	return (uint8_t)(0x80 | irq);
}

uint8_t pic_read(struct pic *p, uint16_t port)
{
	struct pic_chip *c = (port & ~1u) == PIC_SLAVE_PORT ? &p->slave : &p->master;
	uint8_t v;

	if (port == PIC_ELCR_PORT)
		return p->master.elcr;
	if (port == PIC_ELCR_PORT + 1)
		return p->slave.elcr;
	if (port & 1)
		return c->imr;
	if (!c->poll)
		return c->read_isr ? c->isr : c->irr;
	v = chip_poll(c);
	sync_cascade(p);
	return v;
}

/* Non-specific: the highest priority in service, the lowest bit (fixed
 * priority). */
static void eoi(struct pic_chip *c, uint8_t v)
{
	if (v & OCW2_SL)
		c->isr &= (uint8_t)~(1u << (v & 7));
	else if (c->isr)
		c->isr &= (uint8_t)(c->isr - 1u); /* clears the lowest set bit */
}

/* ICW1: the datasheet's reset of the chip: edge sense reset (an input that
 * is high must fall and rise again to request), IMR and ISR cleared, IRR
 * selected for reading, special mask mode off, ICW4's functions off. */
static void icw1(struct pic_chip *c, uint8_t v)
{
	c->irr &= c->lines & c->elcr;
	c->isr = 0;
	c->imr = 0;
	c->icw_next = 2;
	c->icw4_wanted = v & ICW1_IC4;
	c->single = v & ICW1_SNGL;
	c->auto_eoi = false;
	c->read_isr = false;
	c->poll = false;
	c->special_mask = false;
}

static void chip_write_command(struct pic_chip *c, uint8_t v)
{
	if (v & ICW1) {
		icw1(c, v);
	} else if (v & OCW3) {
		if (v & OCW3_RR)
			c->read_isr = v & 1;
		c->poll = v & OCW3_POLL;
		if (v & OCW3_ESMM)
			c->special_mask = v & OCW3_SMM;
	} else if (v & OCW2_EOI) {
		/* non-specific, specific, and their rotating forms alike:
		 * priority stays fixed */
		eoi(c, v);
	}
	/* the rest of OCW2 sets rotation or priority, which we do not do */
}

static void chip_write_data(struct pic_chip *c, uint8_t v)
{
	switch (c->icw_next) {
	case 2:
		c->base = v & 0xf8;
		c->icw_next = !c->single ? 3 : c->icw4_wanted ? 4 : 0;
		break;
	case 3: /* the wiring is fixed: the slave on IRQ 2, whatever ICW3 says */
		c->icw_next = c->icw4_wanted ? 4 : 0;
		break;
	case 4: /* 8086 mode (bit 0) assumed; buffered mode and SFNM ignored */
		c->auto_eoi = v & ICW4_AEOI;
		c->icw_next = 0;
		break;
	default:
		c->imr = v;
		break;
	}
}

/* A newly level-triggered input requests while its line is high. */
static void write_elcr(struct pic_chip *c, uint8_t v, uint8_t mask)
{
	c->elcr = v & mask;
	c->irr = (uint8_t)((c->irr & ~c->elcr) | (c->lines & c->elcr));
}

void pic_write(struct pic *p, uint16_t port, uint8_t v)
{
	struct pic_chip *c = (port & ~1u) == PIC_SLAVE_PORT ? &p->slave : &p->master;

	if (port == PIC_ELCR_PORT)
		write_elcr(&p->master, v, ELCR_MASK_MASTER);
	else if (port == PIC_ELCR_PORT + 1)
		write_elcr(&p->slave, v, ELCR_MASK_SLAVE);
	else if (port & 1)
		chip_write_data(c, v);
	else
		chip_write_command(c, v);
	sync_cascade(p);
}

void pic_set_irq(struct pic *p, unsigned irq, bool level)
{
	struct pic_chip *c = irq < 8 ? &p->master : &p->slave;
	uint8_t bit = (uint8_t)(1u << (irq & 7));
	bool was;

	if (irq >= 16)
		return;
	was = c->lines & bit;
	if (level)
		c->lines |= bit;
	else
		c->lines &= (uint8_t)~bit;
	if (c->elcr & bit) {
		c->irr = (uint8_t)((c->irr & ~bit) | (c->lines & bit));
	} else if (level && !was) {
		c->irr |= bit;
	}
	/* an edge request stays latched when its line falls; the master's
	 * IRQ 2, when cascaded, is the slave's INT whatever its line says */
	sync_cascade(p);
}

void pic_pulse(struct pic *p, unsigned irq)
{
	pic_set_irq(p, irq, true);
	pic_set_irq(p, irq, false);
}

bool pic_intr(const struct pic *p)
{
	return chip_pending(&p->master) >= 0;
}

uint8_t pic_ack(struct pic *p)
{
	int m = chip_pending(&p->master), s;
	uint8_t vector;

	if (m < 0)
		return p->master.base + SPURIOUS;
	chip_ack(&p->master, m);
	if (m != CASCADE || !cascaded(p)) {
		vector = (uint8_t)(p->master.base + m);
	} else if ((s = chip_pending(&p->slave)) < 0) {
		/* the master took IRQ 2 (its ISR bit is set, it wants its EOI);
		 * the slave's request went away */
		vector = p->slave.base + SPURIOUS;
	} else {
		chip_ack(&p->slave, s);
		vector = (uint8_t)(p->slave.base + s);
	}
	sync_cascade(p);
	return vector;
}
