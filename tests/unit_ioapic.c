/* unit_ioapic: the I/O APIC model (vmm/ioapic.c) as a kernel programs it:
 * ID and version through IOREGSEL/IOWIN, redirection entries written in
 * halves, masked pins silent, an edge becoming a message with the entry's
 * vector, delivery and destination, read-only bits kept. */
#include "tests/test.h"
#include "vmm/ioapic.h"

static struct ioapic io;

static uint32_t rd(unsigned reg)
{
	ioapic_write(&io, IOAPIC_REGSEL, reg);
	return ioapic_read(&io, IOAPIC_WIN);
}

static void wr(unsigned reg, uint32_t v)
{
	ioapic_write(&io, IOAPIC_REGSEL, reg);
	ioapic_write(&io, IOAPIC_WIN, v);
}

static void test_id_and_version(void)
{
	ioapic_reset(&io);
	TEST_ASSERT_EQ(rd(1), IOAPIC_VERSION);
	TEST_ASSERT_EQ((rd(1) >> 16 & 0xff) + 1, IOAPIC_PINS);
	wr(0, 0x0a000000);
	TEST_ASSERT_EQ(rd(0), 0x0a000000);
	TEST_ASSERT_EQ(ioapic_read(&io, IOAPIC_REGSEL), 0);
	wr(1, 0); /* read-only */
	TEST_ASSERT_EQ(rd(1), IOAPIC_VERSION);
}

static void test_masked_after_reset(void)
{
	struct lapic_ipi m;

	ioapic_reset(&io);
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
		TEST_ASSERT_EQ(rd(0x10 + 2 * pin), IOAPIC_MASKED);
		TEST_ASSERT(!ioapic_pulse(&io, pin, &m));
	}
	TEST_ASSERT(!ioapic_pulse(&io, IOAPIC_PINS, &m));
	TEST_ASSERT(!ioapic_pulse(&io, 1000, &m));
}

/* The PIT on GSI 2 to APIC 3, vector 0x20, as a kernel routes it. */
static void test_route_and_pulse(void)
{
	struct lapic_ipi m;

	ioapic_reset(&io);
	wr(0x10 + 2 * 2 + 1, 3u << 24);
	wr(0x10 + 2 * 2, 0x20);
	TEST_ASSERT_EQ(rd(0x10 + 2 * 2), 0x20);
	TEST_ASSERT_EQ(rd(0x10 + 2 * 2 + 1), 3u << 24);
	TEST_ASSERT(ioapic_pulse(&io, 2, &m));
	TEST_ASSERT_EQ(m.vector, 0x20);
	TEST_ASSERT_EQ(m.mode, IPI_FIXED);
	TEST_ASSERT_EQ(m.dest, 3);
	TEST_ASSERT(!m.logical);
	TEST_ASSERT_EQ(m.shorthand, IPI_DEST);
	/* lowest priority, logical destination 0x0f */
	wr(0x10 + 2 * 2 + 1, 0x0f000000);
	wr(0x10 + 2 * 2, 0x931);
	TEST_ASSERT(ioapic_pulse(&io, 2, &m));
	TEST_ASSERT_EQ(m.mode, IPI_LOWEST);
	TEST_ASSERT(m.logical);
	TEST_ASSERT_EQ(m.dest, 0x0f);
	TEST_ASSERT_EQ(m.vector, 0x31);
	/* masked again */
	wr(0x10 + 2 * 2, 0x10020);
	TEST_ASSERT(!ioapic_pulse(&io, 2, &m));
	/* delivery status and remote IRR are read-only */
	wr(0x10 + 2 * 5, 0x5020);
	TEST_ASSERT_EQ(rd(0x10 + 2 * 5), 0x0020);
}

static void test_hostile_registers(void)
{
	struct lapic_ipi m;
	uint32_t x = 99;

	ioapic_reset(&io);
	for (int i = 0; i < 100000; i++) {
		x = x * 1103515245u + 12345u;
		ioapic_write(&io, (x >> 4) & 0x1c, x * 2654435761u);
		(void)ioapic_read(&io, (x >> 8) & 0x1c);
		(void)ioapic_pulse(&io, (x >> 16) & 31, &m);
	}
	TEST_ASSERT(io.id < 16);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	RUN_TEST(test_id_and_version);
	RUN_TEST(test_masked_after_reset);
	RUN_TEST(test_route_and_pulse);
	RUN_TEST(test_hostile_registers);
	TEST_MAIN_END();
}
