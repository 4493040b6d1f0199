/* unit_pic: the two 8259A PICs (vmm/pic.c) as PC kernels drive them: the
 * BIOS state, Linux's remap, masks, edge and level (ELCR) inputs, fixed
 * priority and nesting, the cascade, auto-EOI, specific EOI, the OCW3 reads,
 * poll, special mask mode and the spurious vector. */
#include "tests/test.h"
#include "vmm/pic.h"

static struct pic p;

/* What Linux's init_8259A writes: everything masked, then ICW1..ICW4 on
 * each chip (vectors 0x20 and 0x28, the slave on IRQ 2, 8086 mode); then,
 * for the tests, everything unmasked. */
static void linux_init(void)
{
	pic_reset(&p);
	pic_write(&p, 0x21, 0xff);
	pic_write(&p, 0xa1, 0xff);
	pic_write(&p, 0x20, 0x11);
	pic_write(&p, 0x21, 0x20);
	pic_write(&p, 0x21, 0x04);
	pic_write(&p, 0x21, 0x01);
	pic_write(&p, 0xa0, 0x11);
	pic_write(&p, 0xa1, 0x28);
	pic_write(&p, 0xa1, 0x02);
	pic_write(&p, 0xa1, 0x01);
	pic_write(&p, 0x21, 0x00);
	pic_write(&p, 0xa1, 0x00);
}

static void eoi_master(void) { pic_write(&p, 0x20, 0x20); }
static void eoi_slave(void) { pic_write(&p, 0xa0, 0x20); }

static uint8_t read_isr(uint16_t cmd)
{
	uint8_t v;

	pic_write(&p, cmd, 0x0b);
	v = pic_read(&p, cmd);
	pic_write(&p, cmd, 0x0a);
	return v;
}

static void test_reset_is_the_bios_state(void)
{
	pic_reset(&p);
	TEST_ASSERT_EQ(pic_read(&p, 0x21), 0xfb);
	TEST_ASSERT_EQ(pic_read(&p, 0xa1), 0xff);
	TEST_ASSERT_EQ(pic_read(&p, 0x4d0), 0);
	pic_pulse(&p, 0);
	TEST_ASSERT(!pic_intr(&p)); /* masked */
	pic_write(&p, 0x21, 0xfa);
	TEST_ASSERT(pic_intr(&p));
	TEST_ASSERT_EQ(pic_ack(&p), 0x08);
	pic_write(&p, 0xa1, 0xfe);
	pic_pulse(&p, 8);
	eoi_master();
	TEST_ASSERT_EQ(pic_ack(&p), 0x70);
	TEST_ASSERT(pic_port(0x20) && pic_port(0xa1) && pic_port(0x4d1));
	TEST_ASSERT(!pic_port(0x22) && !pic_port(0x4d2) && !pic_port(0x40));
}

static void test_linux_remap_gives_vectors_20_28(void)
{
	linux_init();
	TEST_ASSERT_EQ(p.master.base, 0x20);
	TEST_ASSERT_EQ(p.slave.base, 0x28);
	TEST_ASSERT_EQ(p.master.icw_next, 0);
	TEST_ASSERT_EQ(p.slave.icw_next, 0);
	TEST_ASSERT(!pic_intr(&p));
	pic_pulse(&p, 1);
	TEST_ASSERT(pic_intr(&p));
	TEST_ASSERT_EQ(pic_ack(&p), 0x21);
	TEST_ASSERT(!pic_intr(&p));
	eoi_master();
	pic_pulse(&p, 14);
	TEST_ASSERT_EQ(pic_ack(&p), 0x2e);
}

static void test_mask_holds_request_until_unmasked(void)
{
	linux_init();
	pic_write(&p, 0x21, 0x02);
	TEST_ASSERT_EQ(pic_read(&p, 0x21), 0x02);
	pic_pulse(&p, 1);
	TEST_ASSERT(!pic_intr(&p));
	TEST_ASSERT_EQ(pic_read(&p, 0x20), 0x02); /* in IRR all the same */
	pic_write(&p, 0x21, 0x00);
	TEST_ASSERT(pic_intr(&p));
	TEST_ASSERT_EQ(pic_ack(&p), 0x21);
	/* masking the cascade holds the whole slave */
	eoi_master();
	pic_write(&p, 0x21, 0x04);
	pic_pulse(&p, 9);
	TEST_ASSERT(!pic_intr(&p));
	pic_write(&p, 0x21, 0x00);
	TEST_ASSERT_EQ(pic_ack(&p), 0x29);
}

static void test_edge_latches_once_while_line_high(void)
{
	linux_init();
	pic_set_irq(&p, 3, true);
	TEST_ASSERT_EQ(pic_ack(&p), 0x23);
	eoi_master();
	TEST_ASSERT(!pic_intr(&p)); /* still high: no new edge */
	pic_set_irq(&p, 3, true);
	TEST_ASSERT(!pic_intr(&p));
	pic_set_irq(&p, 3, false);
	TEST_ASSERT(!pic_intr(&p));
	pic_set_irq(&p, 3, true);
	TEST_ASSERT(pic_intr(&p));
	/* an edge request stays latched when its line falls */
	pic_set_irq(&p, 3, false);
	TEST_ASSERT(pic_intr(&p));
	TEST_ASSERT_EQ(pic_ack(&p), 0x23);
}

static void test_priority_and_nesting(void)
{
	linux_init();
	pic_pulse(&p, 3);
	pic_pulse(&p, 1);
	TEST_ASSERT_EQ(pic_ack(&p), 0x21); /* the higher priority first */
	TEST_ASSERT(!pic_intr(&p));        /* IRQ 3 waits behind IRQ 1 */
	pic_pulse(&p, 0);
	TEST_ASSERT(pic_intr(&p));         /* IRQ 0 nests */
	TEST_ASSERT_EQ(pic_ack(&p), 0x20);
	TEST_ASSERT_EQ(read_isr(0x20), 0x03);
	eoi_master();                      /* ends IRQ 0 */
	TEST_ASSERT_EQ(read_isr(0x20), 0x02);
	TEST_ASSERT(!pic_intr(&p));
	eoi_master();
	TEST_ASSERT(pic_intr(&p));
	TEST_ASSERT_EQ(pic_ack(&p), 0x23);
}

static void test_slave_irq10_through_cascade_needs_both_eois(void)
{
	linux_init();
	pic_pulse(&p, 10);
	TEST_ASSERT(pic_intr(&p));
	TEST_ASSERT_EQ(pic_ack(&p), 0x2a);
	TEST_ASSERT_EQ(read_isr(0x20), 0x04);
	TEST_ASSERT_EQ(read_isr(0xa0), 0x04);
	pic_pulse(&p, 11);
	TEST_ASSERT(!pic_intr(&p));
	eoi_slave();
	TEST_ASSERT(!pic_intr(&p)); /* the master's IRQ 2 is still in service */
	TEST_ASSERT_EQ(pic_read(&p, 0x20) & 0x04, 0x04); /* but requested */
	pic_pulse(&p, 4);
	TEST_ASSERT(!pic_intr(&p)); /* and it holds off IRQ 4 too */
	eoi_master();
	TEST_ASSERT_EQ(pic_ack(&p), 0x2b);
	eoi_slave();
	eoi_master();
	TEST_ASSERT_EQ(pic_ack(&p), 0x24);
	eoi_master();
	TEST_ASSERT_EQ(read_isr(0x20), 0);
	TEST_ASSERT_EQ(read_isr(0xa0), 0);
	TEST_ASSERT(!pic_intr(&p));
}

static void test_auto_eoi_leaves_nothing_in_service(void)
{
	linux_init();
	pic_write(&p, 0x20, 0x11);
	pic_write(&p, 0x21, 0x20);
	pic_write(&p, 0x21, 0x04);
	pic_write(&p, 0x21, 0x03); /* 8086, auto-EOI */
	TEST_ASSERT(p.master.auto_eoi);
	pic_pulse(&p, 1);
	TEST_ASSERT_EQ(pic_ack(&p), 0x21);
	TEST_ASSERT_EQ(read_isr(0x20), 0);
	pic_pulse(&p, 3);
	TEST_ASSERT(pic_intr(&p)); /* no EOI needed */
	TEST_ASSERT_EQ(pic_ack(&p), 0x23);
}

static void test_specific_eoi_ends_that_level(void)
{
	linux_init();
	pic_pulse(&p, 1);
	TEST_ASSERT_EQ(pic_ack(&p), 0x21);
	pic_pulse(&p, 0);
	TEST_ASSERT_EQ(pic_ack(&p), 0x20);
	pic_write(&p, 0x20, 0x61); /* specific EOI, IRQ 1 */
	TEST_ASSERT_EQ(read_isr(0x20), 0x01);
	pic_write(&p, 0x20, 0x60);
	TEST_ASSERT_EQ(read_isr(0x20), 0);
	pic_write(&p, 0x20, 0x60); /* nothing in service: harmless */
	pic_write(&p, 0x20, 0x20);
	TEST_ASSERT_EQ(read_isr(0x20), 0);
}

static void test_ocw3_reads_irr_and_isr(void)
{
	linux_init();
	pic_pulse(&p, 5);
	pic_pulse(&p, 6);
	TEST_ASSERT_EQ(pic_read(&p, 0x20), 0x60); /* IRR after init */
	TEST_ASSERT_EQ(pic_ack(&p), 0x25);
	pic_write(&p, 0x20, 0x0b);
	TEST_ASSERT_EQ(pic_read(&p, 0x20), 0x20);
	TEST_ASSERT_EQ(pic_read(&p, 0x20), 0x20); /* the selection stays */
	pic_write(&p, 0x20, 0x08);                /* RR clear: no change */
	TEST_ASSERT_EQ(pic_read(&p, 0x20), 0x20);
	pic_write(&p, 0x20, 0x0a);
	TEST_ASSERT_EQ(pic_read(&p, 0x20), 0x40);
	TEST_ASSERT_EQ(pic_read(&p, 0x21), 0x00); /* the data port gives IMR */
}

static void test_poll_acknowledges(void)
{
	linux_init();
	pic_write(&p, 0x20, 0x0c);
	TEST_ASSERT_EQ(pic_read(&p, 0x20), 0x00); /* nothing */
	pic_pulse(&p, 6);
	pic_pulse(&p, 4);
	pic_write(&p, 0x20, 0x0c);
	TEST_ASSERT_EQ(pic_read(&p, 0x20), 0x84);
	TEST_ASSERT_EQ(read_isr(0x20), 0x10);
	TEST_ASSERT_EQ(pic_read(&p, 0x20), 0x40); /* one read only: IRR again */
	eoi_master();
	/* a slave request: the master says IRQ 2, then the slave is polled */
	pic_pulse(&p, 13);
	pic_write(&p, 0x20, 0x0c);
	TEST_ASSERT_EQ(pic_read(&p, 0x20), 0x82);
	pic_write(&p, 0xa0, 0x0c);
	TEST_ASSERT_EQ(pic_read(&p, 0xa0), 0x85);
	TEST_ASSERT_EQ(read_isr(0xa0), 0x20);
}

static void test_spurious_vector_on_vanished_level_request(void)
{
	linux_init();
	pic_write(&p, 0x4d0, 0x20); /* IRQ 5 level-triggered */
	pic_set_irq(&p, 5, true);
	TEST_ASSERT(pic_intr(&p));
	pic_set_irq(&p, 5, false);
	TEST_ASSERT(!pic_intr(&p));
	TEST_ASSERT_EQ(pic_ack(&p), 0x27);
	TEST_ASSERT_EQ(read_isr(0x20), 0); /* no ISR bit for a spurious one */
	/* on the slave: its INT falls, and the master sees IRQ 2 vanish */
	pic_write(&p, 0x4d1, 0x08);
	pic_set_irq(&p, 11, true);
	TEST_ASSERT(pic_intr(&p));
	pic_set_irq(&p, 11, false);
	TEST_ASSERT_EQ(pic_ack(&p), 0x27);
	TEST_ASSERT_EQ(read_isr(0x20), 0);
	TEST_ASSERT_EQ(read_isr(0xa0), 0);
}

static void test_elcr_level_requests_while_high(void)
{
	linux_init();
	pic_write(&p, 0x4d0, 0xff);
	pic_write(&p, 0x4d1, 0xff);
	TEST_ASSERT_EQ(pic_read(&p, 0x4d0), 0xf8); /* IRQs 0-2 are edge by wiring */
	TEST_ASSERT_EQ(pic_read(&p, 0x4d1), 0xde); /* and 8, 13 */
	pic_write(&p, 0x4d0, 0);
	pic_write(&p, 0x4d1, 0x04); /* IRQ 10 level */
	pic_set_irq(&p, 10, true);
	TEST_ASSERT_EQ(pic_ack(&p), 0x2a);
	eoi_slave();
	eoi_master();
	TEST_ASSERT(pic_intr(&p)); /* still high: requests again */
	TEST_ASSERT_EQ(pic_ack(&p), 0x2a);
	eoi_slave();
	eoi_master();
	pic_set_irq(&p, 10, false);
	TEST_ASSERT(!pic_intr(&p));
	/* a line already high when made level-triggered requests at once */
	pic_set_irq(&p, 9, true);
	TEST_ASSERT_EQ(pic_ack(&p), 0x29);
	eoi_slave();
	eoi_master();
	TEST_ASSERT(!pic_intr(&p));
	pic_write(&p, 0x4d1, 0x06);
	TEST_ASSERT(pic_intr(&p));
}

static void test_special_mask_mode_lets_lower_levels_in(void)
{
	linux_init();
	pic_pulse(&p, 1);
	TEST_ASSERT_EQ(pic_ack(&p), 0x21);
	pic_pulse(&p, 3);
	TEST_ASSERT(!pic_intr(&p));
	pic_write(&p, 0x21, 0x02);
	pic_write(&p, 0x20, 0x68); /* set special mask mode */
	TEST_ASSERT(pic_intr(&p));
	TEST_ASSERT_EQ(pic_ack(&p), 0x23);
	pic_write(&p, 0x20, 0x48); /* reset it: IRQ 1 holds IRQ 5 off again */
	pic_pulse(&p, 5);
	TEST_ASSERT(!pic_intr(&p));
}

static void test_icw1_single_mode_skips_icw3(void)
{
	pic_reset(&p);
	pic_write(&p, 0x20, 0x13); /* single, ICW4 */
	pic_write(&p, 0x21, 0x40);
	pic_write(&p, 0x21, 0x01); /* ICW4, not ICW3 */
	TEST_ASSERT_EQ(p.master.icw_next, 0);
	pic_write(&p, 0x21, 0xfe); /* OCW1 */
	TEST_ASSERT_EQ(pic_read(&p, 0x21), 0xfe);
	pic_pulse(&p, 0);
	TEST_ASSERT_EQ(pic_ack(&p), 0x40);
	/* and without ICW4: 0x10 wants ICW2 then ICW3 only */
	pic_write(&p, 0x20, 0x10);
	TEST_ASSERT_EQ(pic_read(&p, 0x21), 0x00); /* ICW1 clears the mask */
	pic_write(&p, 0x21, 0x30);
	pic_write(&p, 0x21, 0x04);
	TEST_ASSERT_EQ(p.master.icw_next, 0);
	TEST_ASSERT_EQ(read_isr(0x20), 0); /* and ISR */
}

/* Whatever a guest writes and however the lines move: a vector from one of
 * the chips' ranges, and no sanitizer complaint. */
static void test_hostile_sequence_never_breaks(void)
{
	static const uint16_t ports[] = { 0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1 };
	uint64_t x = 0x9e3779b97f4a7c15ull;

	pic_reset(&p);
	for (int i = 0; i < 200000; i++) {
		unsigned r;
		uint8_t v;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		r = (unsigned)(x >> 32);
		switch (r % 5) {
		case 0:
			pic_write(&p, ports[(r >> 8) % 6], (uint8_t)(r >> 16));
			break;
		case 1:
			(void)pic_read(&p, ports[(r >> 8) % 6]);
			break;
		case 2:
			pic_set_irq(&p, (r >> 8) % 20, r >> 16 & 1);
			break;
		case 3:
			v = pic_ack(&p);
			TEST_ASSERT((v & 0xf8) == p.master.base || (v & 0xf8) == p.slave.base,
				    "vector 0x%x", v);
			break;
		default:
			(void)pic_intr(&p);
			break;
		}
	}
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	RUN_TEST(test_reset_is_the_bios_state);
	RUN_TEST(test_linux_remap_gives_vectors_20_28);
	RUN_TEST(test_mask_holds_request_until_unmasked);
	RUN_TEST(test_edge_latches_once_while_line_high);
	RUN_TEST(test_priority_and_nesting);
	RUN_TEST(test_slave_irq10_through_cascade_needs_both_eois);
	RUN_TEST(test_auto_eoi_leaves_nothing_in_service);
	RUN_TEST(test_specific_eoi_ends_that_level);
	RUN_TEST(test_ocw3_reads_irr_and_isr);
	RUN_TEST(test_poll_acknowledges);
	RUN_TEST(test_spurious_vector_on_vanished_level_request);
	RUN_TEST(test_elcr_level_requests_while_high);
	RUN_TEST(test_special_mask_mode_lets_lower_levels_in);
	RUN_TEST(test_icw1_single_mode_skips_icw3);
	RUN_TEST(test_hostile_sequence_never_breaks);
	TEST_MAIN_END();
}
