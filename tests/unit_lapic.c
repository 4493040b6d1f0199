/* unit_lapic: the local APIC model (vmm/lapic.c) as kernels drive it: its
 * ID and version, enabling it, INIT and SIPI as an AP start-up sends them,
 * fixed interrupts with their priorities and EOI, the TPR, logical
 * destinations, and the timer (one-shot, periodic, divider, masked). */
#include "tests/test.h"
#include "vmm/lapic.h"

static struct lapic a;
static struct lapic_ipi ipi;

static void test_id_version_and_reset(void)
{
	lapic_reset(&a, 3);
	TEST_ASSERT_EQ(lapic_read(&a, LAPIC_ID, 0), 3u << 24);
	TEST_ASSERT_EQ(lapic_read(&a, LAPIC_VER, 0), LAPIC_VERSION);
	TEST_ASSERT_EQ(lapic_read(&a, LAPIC_SVR, 0), 0xff);
	TEST_ASSERT_EQ(lapic_read(&a, LAPIC_LVT_TIMER, 0), LAPIC_LVT_MASKED);
	TEST_ASSERT_EQ(lapic_read(&a, LAPIC_DFR, 0), 0xffffffffu);
	TEST_ASSERT(!lapic_write(&a, LAPIC_VER, 0, 0, &ipi)); /* read-only */
	TEST_ASSERT_EQ(lapic_read(&a, LAPIC_VER, 0), LAPIC_VERSION);
}

/* INIT then SIPI to APIC 2, as an AP start-up writes them. */
static void test_init_sipi_through_the_icr(void)
{
	lapic_reset(&a, 0);
	lapic_write(&a, LAPIC_SVR, 0x1ff, 0, &ipi);
	TEST_ASSERT(!lapic_write(&a, LAPIC_ICR_HI, 2u << 24, 0, &ipi));
	TEST_ASSERT(lapic_write(&a, LAPIC_ICR_LO, 0x4500, 0, &ipi));
	TEST_ASSERT_EQ(ipi.mode, IPI_INIT);
	TEST_ASSERT_EQ(ipi.dest, 2);
	TEST_ASSERT(!ipi.deassert && !ipi.logical);
	TEST_ASSERT_EQ(ipi.shorthand, IPI_DEST);
	TEST_ASSERT_EQ(lapic_read(&a, LAPIC_ICR_LO, 0) & (1u << 12), 0); /* delivered at once */
	TEST_ASSERT(lapic_write(&a, LAPIC_ICR_LO, 0x8500, 0, &ipi)); /* level de-assert */
	TEST_ASSERT(ipi.deassert);
	TEST_ASSERT(lapic_write(&a, LAPIC_ICR_LO, 0x4670, 0, &ipi));
	TEST_ASSERT_EQ(ipi.mode, IPI_SIPI);
	TEST_ASSERT_EQ(ipi.vector, 0x70);
	/* all-but-self shorthand */
	TEST_ASSERT(lapic_write(&a, LAPIC_ICR_LO, 0xc4500, 0, &ipi));
	TEST_ASSERT_EQ(ipi.shorthand, IPI_OTHERS);
	struct lapic b;
	lapic_reset(&b, 2);
	TEST_ASSERT(lapic_is_dest(&b, &ipi, 0));
	TEST_ASSERT(!lapic_is_dest(&a, &ipi, 0));
}

static void test_destinations(void)
{
	struct lapic b;
	struct lapic_ipi p = { .mode = IPI_FIXED, .vector = 0x40, .dest = 5 };

	lapic_reset(&b, 5);
	TEST_ASSERT(lapic_is_dest(&b, &p, 0));
	p.dest = 4;
	TEST_ASSERT(!lapic_is_dest(&b, &p, 0));
	p.dest = 0xff;
	TEST_ASSERT(lapic_is_dest(&b, &p, 0)); /* physical broadcast */
	/* logical, flat model: LDR bit 2 */
	lapic_write(&b, LAPIC_LDR, 0x04000000, 0, &ipi);
	p.logical = true;
	p.dest = 0x06;
	TEST_ASSERT(lapic_is_dest(&b, &p, 0));
	p.dest = 0x01;
	TEST_ASSERT(!lapic_is_dest(&b, &p, 0));
	/* cluster model: cluster 1, member bit 0 */
	lapic_write(&b, LAPIC_DFR, 0x0fffffff, 0, &ipi);
	lapic_write(&b, LAPIC_LDR, 0x11000000, 0, &ipi);
	p.dest = 0x11;
	TEST_ASSERT(lapic_is_dest(&b, &p, 0));
	p.dest = 0x21;
	TEST_ASSERT(!lapic_is_dest(&b, &p, 0));
	p.shorthand = IPI_SELF;
	TEST_ASSERT(lapic_is_dest(&b, &p, 5) && !lapic_is_dest(&b, &p, 0));
}

static void test_priorities_and_eoi(void)
{
	lapic_reset(&a, 0);
	lapic_accept(&a, 0x41);
	TEST_ASSERT_EQ(lapic_pending(&a), -1); /* software-disabled */
	lapic_write(&a, LAPIC_SVR, 0x1ff, 0, &ipi);
	TEST_ASSERT_EQ(lapic_pending(&a), 0x41);
	lapic_accept(&a, 0x30);
	lapic_accept(&a, 0x90);
	TEST_ASSERT_EQ(lapic_ack(&a), 0x90);
	TEST_ASSERT_EQ(lapic_read(&a, LAPIC_ISR + 0x40, 0), 1u << 16); /* vector 0x90: ISR word 4 */
	TEST_ASSERT_EQ(lapic_pending(&a), -1); /* 0x41 and 0x30 are below 0x90's class */
	TEST_ASSERT_EQ(lapic_read(&a, LAPIC_PPR, 0), 0x90);
	lapic_write(&a, LAPIC_EOI, 0, 0, &ipi);
	TEST_ASSERT_EQ(lapic_pending(&a), 0x41);
	/* the TPR holds back a class */
	lapic_write(&a, LAPIC_TPR, 0x40, 0, &ipi);
	TEST_ASSERT_EQ(lapic_pending(&a), -1);
	lapic_write(&a, LAPIC_TPR, 0x30, 0, &ipi);
	TEST_ASSERT_EQ(lapic_ack(&a), 0x41);
	TEST_ASSERT_EQ(lapic_pending(&a), -1); /* 0x30: same class as the TPR */
	lapic_write(&a, LAPIC_EOI, 0, 0, &ipi);
	lapic_write(&a, LAPIC_TPR, 0, 0, &ipi);
	TEST_ASSERT_EQ(lapic_ack(&a), 0x30);
	TEST_ASSERT_EQ(lapic_ack(&a), 0xff); /* nothing left: the spurious vector */
	/* vectors below 16 are illegal */
	lapic_accept(&a, 3);
	TEST_ASSERT_EQ(lapic_read(&a, LAPIC_ESR, 0), 1u << 6);
}

static void test_timer_one_shot_and_periodic(void)
{
	uint64_t next;

	lapic_reset(&a, 0);
	lapic_write(&a, LAPIC_SVR, 0x1ff, 0, &ipi);
	lapic_write(&a, LAPIC_TIMER_DIV, 0xb, 0, &ipi);      /* divide by 1 */
	lapic_write(&a, LAPIC_LVT_TIMER, 0x40, 0, &ipi);     /* one-shot, vector 0x40 */
	lapic_write(&a, LAPIC_TIMER_INIT, 1000000, 1000, &ipi); /* 1 ms at 1 GHz */
	TEST_ASSERT_EQ(lapic_read(&a, LAPIC_TIMER_CUR, 1000 + 250000), 750000);
	TEST_ASSERT(!lapic_timer(&a, 500000, &next));
	TEST_ASSERT_EQ(next, 1000 + 1000000);
	TEST_ASSERT(lapic_timer(&a, 5000000, &next));
	TEST_ASSERT_EQ(next, UINT64_MAX);
	TEST_ASSERT_EQ(lapic_ack(&a), 0x40);
	TEST_ASSERT(!lapic_timer(&a, 9000000, &next)); /* one shot only */
	TEST_ASSERT_EQ(lapic_read(&a, LAPIC_TIMER_CUR, 9000000), 0);
	lapic_write(&a, LAPIC_EOI, 0, 0, &ipi);

	/* periodic, divide by 16: a period of 16 us for 1000 counts */
	lapic_write(&a, LAPIC_TIMER_DIV, 0x3, 0, &ipi);
	lapic_write(&a, LAPIC_LVT_TIMER, 0x20041, 0, &ipi);
	lapic_write(&a, LAPIC_TIMER_INIT, 1000, 0, &ipi);
	TEST_ASSERT(!lapic_timer(&a, 15999, &next));
	TEST_ASSERT_EQ(next, 16000);
	TEST_ASSERT(lapic_timer(&a, 16000, &next));
	TEST_ASSERT_EQ(next, 32000);
	/* not taken yet: a second expiry coalesces into the same IRR bit */
	TEST_ASSERT(!lapic_timer(&a, 40000, &next));
	TEST_ASSERT_EQ(next, 48000);
	TEST_ASSERT_EQ(lapic_ack(&a), 0x41);
	TEST_ASSERT_EQ(lapic_read(&a, LAPIC_TIMER_CUR, 40000), 1000 - 8000 / 16);
	/* masked: expiries pass, nothing pending */
	lapic_write(&a, LAPIC_EOI, 0, 0, &ipi);
	lapic_write(&a, LAPIC_LVT_TIMER, 0x30041, 40000, &ipi);
	TEST_ASSERT(!lapic_timer(&a, 100000, &next));
	TEST_ASSERT_EQ(lapic_pending(&a), -1);
	/* software-disabling masks every LVT */
	lapic_write(&a, LAPIC_LVT_TIMER, 0x20041, 100000, &ipi);
	lapic_write(&a, LAPIC_SVR, 0xff, 100000, &ipi);
	TEST_ASSERT(lapic_read(&a, LAPIC_LVT_TIMER, 0) & LAPIC_LVT_MASKED);
}

/* Every register offset, read and written with odd values, at odd times:
 * nothing breaks the model's invariants. */
static void test_hostile_register_writes(void)
{
	uint64_t next, now = 0;
	uint32_t x = 12345;

	lapic_reset(&a, 1);
	for (int i = 0; i < 200000; i++) {
		unsigned off = (x >> 8) & 0xff0;

		x = x * 1103515245u + 12345u;
		now += x & 0xffff;
		if (x & 0x80000000u)
			lapic_write(&a, off, x * 2654435761u, now, &ipi);
		else
			(void)lapic_read(&a, off, now);
		lapic_timer(&a, now, &next);
		if (lapic_pending(&a) >= 0 && (x & 3) == 0)
			lapic_ack(&a);
	}
	TEST_ASSERT(a.id < 256);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	RUN_TEST(test_id_version_and_reset);
	RUN_TEST(test_init_sipi_through_the_icr);
	RUN_TEST(test_destinations);
	RUN_TEST(test_priorities_and_eoi);
	RUN_TEST(test_timer_one_shot_and_periodic);
	RUN_TEST(test_hostile_register_writes);
	TEST_MAIN_END();
}
