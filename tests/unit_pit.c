/* unit_pit: the 8254 PIT (vmm/pit.c) in fake time, as PC kernels drive
 * it: counter 0 as the periodic tick (mode 2, mode 3) and the one-shot
 * (modes 0 and 4) with the IRQ 0 edges it hands out, the byte access
 * sequences, the latch and read-back commands, counter 2 behind port 0x61
 * as Linux's TSC calibration uses it, and a hostile guest. */
#include "tests/test.h"
#include "vmm/pit.h"

#define T0   5000000000ull /* 5 s: time does not start at 0 */
#define MS   1000000ull

static struct pit t;

/* The ns at which clock n of a counter started at start comes. */
static uint64_t at_clock(uint64_t start, uint64_t n)
{
	return start + (uint64_t)(((unsigned __int128)n * 1000000000u + PIT_HZ - 1) / PIT_HZ);
}

/* Control word, then the count lobyte-then-hibyte, at now. */
static void program(unsigned counter, uint8_t cw, uint16_t count, uint64_t now)
{
	pit_write(&t, 0x43, cw, now);
	pit_write(&t, (uint16_t)(0x40 + counter), (uint8_t)count, now);
	pit_write(&t, (uint16_t)(0x40 + counter), (uint8_t)(count >> 8), now);
}

static uint16_t read16(unsigned counter, uint64_t now)
{
	uint8_t lo = pit_read(&t, (uint16_t)(0x40 + counter), now);

	return (uint16_t)(lo | pit_read(&t, (uint16_t)(0x40 + counter), now) << 8);
}

static void test_unarmed_gives_no_irq(void)
{
	uint64_t next = 0;

	pit_reset(&t);
	TEST_ASSERT(!pit_irq0_armed(&t));
	TEST_ASSERT_EQ(pit_irq0(&t, T0, &next), 0);
	TEST_ASSERT_EQ(next, UINT64_MAX);
	pit_write(&t, 0x43, 0x34, T0); /* a control word alone arms nothing */
	TEST_ASSERT(!pit_irq0_armed(&t));
	TEST_ASSERT_EQ(pit_irq0(&t, T0 + 1000 * MS, &next), 0);
	TEST_ASSERT_EQ(next, UINT64_MAX);
	TEST_ASSERT(pit_port(0x40) && pit_port(0x43) && pit_port(0x61));
	TEST_ASSERT(!pit_port(0x44) && !pit_port(0x3f) && !pit_port(0x60));
}

/* Linux's periodic tick: mode 2, divisor 11932 (LATCH for HZ=100). */
static void test_mode2_100hz_edges_over_one_second(void)
{
	uint64_t next, total = 0, now;

	pit_reset(&t);
	program(0, 0x34, 11932, T0);
	TEST_ASSERT(pit_irq0_armed(&t));
	TEST_ASSERT_EQ(pit_irq0(&t, T0, &next), 0);
	TEST_ASSERT_EQ(next, at_clock(T0, 11932));
	TEST_ASSERT_EQ(pit_irq0(&t, next - 1, &next), 0);
	TEST_ASSERT_EQ(pit_irq0(&t, next, &next), 1); /* right on time */
	for (now = T0 + MS; now <= T0 + 1000 * MS; now += MS)
		total += pit_irq0(&t, now, &next);
	/* 1 s is exactly 1193182 clocks: 99 whole periods */
	TEST_ASSERT_EQ(total + 1, 1193182 / 11932);
	TEST_ASSERT_EQ(next, at_clock(T0, 100 * 11932));
	/* late collection hands the missed edges out at once */
	TEST_ASSERT_EQ(pit_irq0(&t, T0 + 2000 * MS, &next), 1193182 * 2 / 11932 - 99);
	TEST_ASSERT(next > T0 + 2000 * MS && next <= T0 + 2000 * MS + 10 * MS + MS / 100);
}

static void test_mode2_count_and_out(void)
{
	pit_reset(&t);
	program(0, 0x34, 100, T0);
	TEST_ASSERT_EQ(read16(0, T0), 100);
	TEST_ASSERT_EQ(read16(0, at_clock(T0, 10)), 90);
	TEST_ASSERT_EQ(read16(0, at_clock(T0, 99)), 1);
	TEST_ASSERT_EQ(read16(0, at_clock(T0, 100)), 100); /* reloaded */
	pit_write(&t, 0x43, 0xe2, at_clock(T0, 99));      /* status of counter 0 */
	TEST_ASSERT_EQ(pit_read(&t, 0x40, 0) & 0x80, 0);  /* OUT low at count 1 */
	pit_write(&t, 0x43, 0xe2, at_clock(T0, 150));
	TEST_ASSERT_EQ(pit_read(&t, 0x40, 0) & 0x80, 0x80);
}

static void test_mode3_square_wave(void)
{
	uint64_t next, edges = 0;

	pit_reset(&t);
	program(0, 0x36, 1000, T0);
	pit_write(&t, 0x43, 0xe2, at_clock(T0, 499)); /* the first half: high */
	TEST_ASSERT_EQ(pit_read(&t, 0x40, 0) & 0x80, 0x80);
	pit_write(&t, 0x43, 0xe2, at_clock(T0, 500)); /* the second: low */
	TEST_ASSERT_EQ(pit_read(&t, 0x40, 0) & 0x80, 0);
	TEST_ASSERT_EQ(read16(0, at_clock(T0, 10)), 980); /* by twos */
	TEST_ASSERT_EQ(read16(0, at_clock(T0, 510)), 980);
	for (uint64_t n = 1; n <= 50; n++) {
		edges += pit_irq0(&t, at_clock(T0, n * 1000 - 1), &next);
		TEST_ASSERT_EQ(next, at_clock(T0, n * 1000));
		edges += pit_irq0(&t, at_clock(T0, n * 1000), &next);
		TEST_ASSERT_EQ(edges, n);
	}
}

static void test_mode0_one_shot_fires_once(void)
{
	uint64_t next;

	pit_reset(&t);
	program(0, 0x30, 1193, T0); /* about 1 ms */
	TEST_ASSERT_EQ(pit_irq0(&t, T0, &next), 0);
	TEST_ASSERT_EQ(next, at_clock(T0, 1193));
	TEST_ASSERT_EQ(pit_irq0(&t, T0 + 10 * MS, &next), 1);
	TEST_ASSERT_EQ(next, UINT64_MAX);
	TEST_ASSERT(!pit_irq0_armed(&t)); /* nothing more to come */
	TEST_ASSERT_EQ(pit_irq0(&t, T0 + 100000 * MS, &next), 0);
	TEST_ASSERT_EQ(next, UINT64_MAX);
	/* the count goes on down past 0 */
	TEST_ASSERT_EQ(read16(0, at_clock(T0, 1194)), 0xffff);
	/* a new count starts it again */
	program(0, 0x30, 1193, T0 + 200 * MS);
	TEST_ASSERT(pit_irq0_armed(&t));
	TEST_ASSERT_EQ(pit_irq0(&t, T0 + 202 * MS, &next), 1);
}

/* Linux's one-shot clockevent: mode 4, where OUT's one-clock low strobe
 * at terminal count ends with the rising edge. */
static void test_mode4_strobe_is_one_edge(void)
{
	uint64_t next;

	pit_reset(&t);
	program(0, 0x38, 500, T0);
	TEST_ASSERT_EQ(pit_irq0(&t, at_clock(T0, 500), &next), 0);
	TEST_ASSERT_EQ(next, at_clock(T0, 501));
	TEST_ASSERT_EQ(pit_irq0(&t, at_clock(T0, 501), &next), 1);
	TEST_ASSERT_EQ(pit_irq0(&t, at_clock(T0, 5000000), &next), 0);
	TEST_ASSERT_EQ(next, UINT64_MAX);
}

static void test_reload_zero_is_65536(void)
{
	uint64_t next;

	pit_reset(&t);
	program(0, 0x34, 0, T0);
	TEST_ASSERT_EQ(t.c[0].reload, 65536);
	TEST_ASSERT_EQ(pit_irq0(&t, T0, &next), 0);
	TEST_ASSERT_EQ(next, at_clock(T0, 65536));
	TEST_ASSERT_EQ(read16(0, at_clock(T0, 1)), 65535);
}

/* An edge nobody collected before the guest reprograms counter 0 is still
 * handed out. */
static void test_reprogram_keeps_uncollected_edge(void)
{
	uint64_t next;

	pit_reset(&t);
	program(0, 0x30, 100, T0);
	program(0, 0x30, 60000, at_clock(T0, 200));
	TEST_ASSERT_EQ(pit_irq0(&t, at_clock(T0, 201), &next), 1);
	TEST_ASSERT_EQ(next, at_clock(at_clock(T0, 200), 60000));
}

static void test_mode2_new_count_takes_effect_now(void)
{
	uint64_t next, now = at_clock(T0, 1500);

	pit_reset(&t);
	program(0, 0x34, 1000, T0);
	TEST_ASSERT_EQ(pit_irq0(&t, now, &next), 1);
	pit_write(&t, 0x40, 0x10, now); /* 0x2710: no new control word */
	pit_write(&t, 0x40, 0x27, now);
	TEST_ASSERT_EQ(read16(0, now), 10000);
	TEST_ASSERT_EQ(pit_irq0(&t, now, &next), 0);
	TEST_ASSERT_EQ(next, at_clock(now, 10000));
}

static void test_lobyte_hibyte_access(void)
{
	pit_reset(&t);
	pit_write(&t, 0x43, 0x14, T0); /* lobyte only */
	pit_write(&t, 0x40, 0x50, T0);
	TEST_ASSERT_EQ(t.c[0].reload, 0x50);
	TEST_ASSERT_EQ(pit_read(&t, 0x40, T0), 0x50);
	TEST_ASSERT_EQ(pit_read(&t, 0x40, T0), 0x50);
	pit_write(&t, 0x43, 0x24, T0); /* hibyte only */
	pit_write(&t, 0x40, 0x12, T0);
	TEST_ASSERT_EQ(t.c[0].reload, 0x1200);
	TEST_ASSERT_EQ(pit_read(&t, 0x40, T0), 0x12);
	pit_write(&t, 0x43, 0x34, T0); /* lobyte then hibyte */
	pit_write(&t, 0x40, 0x34, T0);
	TEST_ASSERT(!t.c[0].armed); /* half a count */
	pit_write(&t, 0x40, 0x12, T0);
	TEST_ASSERT_EQ(t.c[0].reload, 0x1234);
	TEST_ASSERT_EQ(pit_read(&t, 0x40, T0), 0x34);
	TEST_ASSERT_EQ(pit_read(&t, 0x40, T0), 0x12);
	TEST_ASSERT_EQ(pit_read(&t, 0x43, T0), 0xff); /* write-only */
}

static void test_counter_latch_holds_count(void)
{
	pit_reset(&t);
	program(0, 0x34, 0x1000, T0);
	pit_write(&t, 0x43, 0x00, at_clock(T0, 0x100)); /* latch counter 0 */
	pit_write(&t, 0x43, 0x00, at_clock(T0, 0x200)); /* ignored: one is held */
	TEST_ASSERT_EQ(read16(0, at_clock(T0, 0x800)), 0x0f00);
	TEST_ASSERT_EQ(read16(0, at_clock(T0, 0x800)), 0x0800); /* live again */
	/* and a latch after the first was read out is taken again */
	pit_write(&t, 0x43, 0x00, at_clock(T0, 0x900));
	TEST_ASSERT_EQ(read16(0, at_clock(T0, 0xa00)), 0x0700);
}

static void test_readback_status_and_count(void)
{
	pit_reset(&t);
	pit_write(&t, 0x43, 0x34, T0);
	pit_write(&t, 0x43, 0xe2, T0); /* status only */
	TEST_ASSERT_EQ(pit_read(&t, 0x40, T0), 0x80 | 0x40 | 0x34); /* OUT high, null count */
	program(0, 0x34, 1000, T0);
	pit_write(&t, 0x43, 0xc2, at_clock(T0, 10)); /* status and count */
	TEST_ASSERT_EQ(pit_read(&t, 0x40, T0), 0x80 | 0x34);
	TEST_ASSERT_EQ(read16(0, at_clock(T0, 500)), 990);
	/* counters 0 and 2 at once, count only */
	pit_write(&t, 0x61, 0x01, T0);
	program(2, 0xb0, 300, T0);
	pit_write(&t, 0x43, 0xda, at_clock(T0, 100));
	TEST_ASSERT_EQ(read16(0, at_clock(T0, 200)), 900);
	TEST_ASSERT_EQ(read16(2, at_clock(T0, 200)), 200);
	/* mode 0 status: OUT low, then high at terminal count; BCD bit kept */
	pit_write(&t, 0x43, 0x31, T0);
	pit_write(&t, 0x40, 0x10, T0);
	pit_write(&t, 0x40, 0x00, T0);
	pit_write(&t, 0x43, 0xe2, at_clock(T0, 15));
	TEST_ASSERT_EQ(pit_read(&t, 0x40, 0), 0x31);
	pit_write(&t, 0x43, 0xe2, at_clock(T0, 16));
	TEST_ASSERT_EQ(pit_read(&t, 0x40, 0), 0xb1);
}

/* Linux's pit_calibrate_tsc: gate on, speaker off, counter 2 in mode 0
 * with 0xFFFF, then wait for port 0x61 bit 5. */
static void test_channel2_gate_and_out_for_tsc_calibration(void)
{
	uint8_t p61;
	uint16_t prev = 0xffff, c;

	pit_reset(&t);
	p61 = pit_read(&t, 0x61, T0);
	TEST_ASSERT_EQ(p61 & 0x23, 0);
	pit_write(&t, 0x61, (uint8_t)((p61 & ~0x02) | 0x01), T0);
	pit_write(&t, 0x43, 0xb0, T0);
	pit_write(&t, 0x42, 0xff, T0);
	pit_write(&t, 0x42, 0xff, T0);
	TEST_ASSERT_EQ(pit_read(&t, 0x61, T0) & 0x21, 0x01);
	/* quick_pit_calibrate reads the count going down */
	for (uint64_t n = 1000; n < 65535; n += 1000) {
		c = read16(2, at_clock(T0, n));
		TEST_ASSERT(c < prev, "count 0x%x after 0x%x", c, prev);
		TEST_ASSERT_EQ(c, 0xffff - n);
		prev = c;
	}
	TEST_ASSERT_EQ(pit_read(&t, 0x61, at_clock(T0, 65534)) & 0x20, 0);
	TEST_ASSERT_EQ(pit_read(&t, 0x61, at_clock(T0, 65535)) & 0x20, 0x20);
	TEST_ASSERT_EQ(pit_read(&t, 0x61, T0 + 1000 * MS) & 0x20, 0x20); /* stays */
	/* counter 2 is no IRQ 0 */
	TEST_ASSERT(!pit_irq0_armed(&t));
}

/* A low gate holds a mode 0 count; raising it resumes where it was. */
static void test_channel2_gate_holds_count(void)
{
	uint64_t up = at_clock(T0, 500), down = at_clock(up, 300), resumed;

	pit_reset(&t);
	program(2, 0xb0, 1000, T0); /* the gate is low from reset */
	TEST_ASSERT_EQ(read16(2, up), 1000);
	pit_write(&t, 0x61, 0x01, up);
	TEST_ASSERT_EQ(read16(2, down), 700);
	pit_write(&t, 0x61, 0x00, down);
	TEST_ASSERT_EQ(read16(2, T0 + 100 * MS), 700);
	TEST_ASSERT_EQ(pit_read(&t, 0x61, T0 + 100 * MS) & 0x20, 0);
	pit_write(&t, 0x61, 0x01, T0 + 100 * MS);
	/* as if it had started the ns it had counted before */
	resumed = T0 + 100 * MS - (down - up);
	TEST_ASSERT_EQ(read16(2, at_clock(resumed, 400)), 600);
	TEST_ASSERT_EQ(pit_read(&t, 0x61, at_clock(resumed, 999)) & 0x20, 0);
	TEST_ASSERT_EQ(pit_read(&t, 0x61, at_clock(resumed, 1000)) & 0x20, 0x20);
}

/* Mode 1 on counter 2: the gate's rising edge triggers the one-shot. */
static void test_channel2_mode1_needs_gate_edge(void)
{
	uint64_t trig = at_clock(T0, 60);

	pit_reset(&t);
	pit_write(&t, 0x61, 0x01, T0);
	program(2, 0xb2, 100, T0);
	TEST_ASSERT_EQ(pit_read(&t, 0x61, at_clock(T0, 50)) & 0x20, 0x20); /* not triggered */
	pit_write(&t, 0x61, 0x00, at_clock(T0, 50));
	pit_write(&t, 0x61, 0x01, trig);
	TEST_ASSERT_EQ(pit_read(&t, 0x61, at_clock(trig, 1)) & 0x20, 0);
	TEST_ASSERT_EQ(read16(2, at_clock(trig, 10)), 90);
	TEST_ASSERT_EQ(pit_read(&t, 0x61, at_clock(trig, 99)) & 0x20, 0);
	TEST_ASSERT_EQ(pit_read(&t, 0x61, at_clock(trig, 100)) & 0x20, 0x20);
	/* a second trigger starts it again */
	pit_write(&t, 0x61, 0x00, at_clock(trig, 200));
	pit_write(&t, 0x61, 0x01, at_clock(trig, 300));
	TEST_ASSERT_EQ(pit_read(&t, 0x61, at_clock(trig, 301)) & 0x20, 0);
}

static void test_port61_bits(void)
{
	pit_reset(&t);
	pit_write(&t, 0x61, 0xff, 0);
	TEST_ASSERT_EQ(pit_read(&t, 0x61, 0) & 0x0f, 0x03);
	TEST_ASSERT_EQ(pit_read(&t, 0x61, 0) & 0x10, 0);
	TEST_ASSERT_EQ(pit_read(&t, 0x61, 15085) & 0x10, 0x10);
	TEST_ASSERT_EQ(pit_read(&t, 0x61, 2 * 15085) & 0x10, 0);
	TEST_ASSERT_EQ(pit_read(&t, 0x61, 0) & 0xc0, 0);
}

/* Whatever a guest writes, at times going forward by any amount: no
 * crash, no sanitizer complaint, and a next edge that is in the future. */
static void test_hostile_sequence_never_breaks(void)
{
	static const uint16_t ports[] = { 0x40, 0x41, 0x42, 0x43, 0x61 };
	uint64_t x = 0x2545f4914f6cdd1dull, now = 0, next, step;

	pit_reset(&t);
	for (int i = 0; i < 300000; i++) {
		unsigned r;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		r = (unsigned)(x >> 32);
		step = (x & 15) == 0 ? x >> 20 : (x & 15) < 4 ? x >> 40 : 0; /* up to 2^44 ns */
		now = now + step < now ? UINT64_MAX : now + step;
		if (i == 250000)
			now = UINT64_MAX - (1ull << 32); /* the end of time */
		if (r & 1)
			pit_write(&t, ports[(r >> 1) % 5], (uint8_t)(r >> 8), now);
		else
			(void)pit_read(&t, ports[(r >> 1) % 5], now);
		(void)pit_irq0(&t, now, &next);
		TEST_ASSERT(next > now || next == UINT64_MAX, "next %" PRIu64 " now %" PRIu64, next, now);
		(void)pit_irq0_armed(&t);
	}
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	RUN_TEST(test_unarmed_gives_no_irq);
	RUN_TEST(test_mode2_100hz_edges_over_one_second);
	RUN_TEST(test_mode2_count_and_out);
	RUN_TEST(test_mode3_square_wave);
	RUN_TEST(test_mode0_one_shot_fires_once);
	RUN_TEST(test_mode4_strobe_is_one_edge);
	RUN_TEST(test_reload_zero_is_65536);
	RUN_TEST(test_reprogram_keeps_uncollected_edge);
	RUN_TEST(test_mode2_new_count_takes_effect_now);
	RUN_TEST(test_lobyte_hibyte_access);
	RUN_TEST(test_counter_latch_holds_count);
	RUN_TEST(test_readback_status_and_count);
	RUN_TEST(test_channel2_gate_and_out_for_tsc_calibration);
	RUN_TEST(test_channel2_gate_holds_count);
	RUN_TEST(test_channel2_mode1_needs_gate_edge);
	RUN_TEST(test_port61_bits);
	RUN_TEST(test_hostile_sequence_never_breaks);
	TEST_MAIN_END();
}
