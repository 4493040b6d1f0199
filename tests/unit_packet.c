/* unit_packet.c - the RSP codec: checksums, hex, escapes, numbers, framing. */
#include <errno.h>

#include "stub/packet.h"
#include "tests/test.h"

static void test_checksum_known_values(void)
{
	TEST_ASSERT_EQ(pkt_checksum("", 0), 0);
	TEST_ASSERT_EQ(pkt_checksum("OK", 2), 0x9a);
	TEST_ASSERT_EQ(pkt_checksum("qSupported", 10), 0x37);
	/* Wraps modulo 256. */
	TEST_ASSERT_EQ(pkt_checksum("\xff\xff", 2), 0xfe);
}

static void test_hex_round_trip_every_byte(void)
{
	uint8_t in[256], back[256];
	char hex[512];

	for (int i = 0; i < 256; i++)
		in[i] = (uint8_t)i;
	pkt_hex_encode(hex, in, sizeof(in));
	TEST_ASSERT(!memcmp(hex, "000102", 6));
	TEST_ASSERT(!memcmp(hex + 2 * 0xab, "ab", 2));
	TEST_ASSERT(!memcmp(hex + 510, "ff", 2));
	TEST_ASSERT_EQ(pkt_hex_decode(back, sizeof(back), hex, sizeof(hex)), 256);
	TEST_ASSERT(!memcmp(in, back, sizeof(in)));
}

static void test_hex_decode_rejects_bad_input(void)
{
	uint8_t out[4];

	TEST_ASSERT_EQ(pkt_hex_decode(out, 4, "ABcd", 4), 2);
	TEST_ASSERT_EQ(out[0], 0xab);
	TEST_ASSERT_EQ(out[1], 0xcd);
	TEST_ASSERT_EQ(pkt_hex_decode(out, 4, "abc", 3), -EINVAL);
	TEST_ASSERT_EQ(pkt_hex_decode(out, 4, "0g", 2), -EINVAL);
	TEST_ASSERT_EQ(pkt_hex_decode(out, 4, " 1", 2), -EINVAL);
	TEST_ASSERT_EQ(pkt_hex_decode(out, 2, "001122", 6), -ENOSPC);
	TEST_ASSERT_EQ(pkt_hex_decode(out, 0, "", 0), 0);
}

static void test_parse_hex_strict(void)
{
	const char *s, *e;
	uint64_t v = 0;

	s = "1f,2";
	e = s + strlen(s);
	TEST_ASSERT_EQ(pkt_parse_hex(&s, e, &v), 0);
	TEST_ASSERT_EQ(v, 0x1f);
	TEST_ASSERT_EQ(*s, ',');

	s = "ffffffffffffffff";
	TEST_ASSERT_EQ(pkt_parse_hex(&s, s + 16, &v), 0);
	TEST_ASSERT_EQ(v, UINT64_MAX);

	s = "0000000000000000000001"; /* leading zeros are not an overflow */
	TEST_ASSERT_EQ(pkt_parse_hex(&s, s + strlen(s), &v), 0);
	TEST_ASSERT_EQ(v, 1);

	s = "10000000000000000";
	v = 7;
	TEST_ASSERT_EQ(pkt_parse_hex(&s, s + 17, &v), -ERANGE);
	TEST_ASSERT_EQ(v, 7);

	s = "";
	TEST_ASSERT_EQ(pkt_parse_hex(&s, s, &v), -EINVAL);
	s = ",1";
	TEST_ASSERT_EQ(pkt_parse_hex(&s, s + 2, &v), -EINVAL);
	s = "-1";
	TEST_ASSERT_EQ(pkt_parse_hex(&s, s + 2, &v), -EINVAL);
	/* end bounds the parse even without a NUL. */
	s = "1234";
	TEST_ASSERT_EQ(pkt_parse_hex(&s, s + 2, &v), 0);
	TEST_ASSERT_EQ(v, 0x12);
}

static void test_unescape_binary(void)
{
	uint8_t out[8];

	TEST_ASSERT_EQ(pkt_unescape(out, 8, "a}\x03}\x04}]}\x0a", 9), 5);
	TEST_ASSERT(!memcmp(out, "a#$}*", 5));
	TEST_ASSERT_EQ(pkt_unescape(out, 8, "ab}", 3), -EINVAL);
	TEST_ASSERT_EQ(pkt_unescape(out, 2, "abc", 3), -ENOSPC);
	TEST_ASSERT_EQ(pkt_unescape(out, 8, "", 0), 0);
}

/* Frame payload p into a fresh buffer; returns the frame as a string. */
static const char *frame(char *buf, size_t cap, const char *p)
{
	size_t n, len = strlen(p);

	memcpy(buf + 1, p, len);
	n = pkt_frame(buf, cap, len);
	if (!n)
		return NULL;
	buf[n] = '\0';
	return buf;
}

static void test_frame_plain_and_empty(void)
{
	char buf[64];

	TEST_ASSERT_STREQ(frame(buf, sizeof(buf), "OK"), "$OK#9a");
	TEST_ASSERT_STREQ(frame(buf, sizeof(buf), ""), "$#00");
}

static void test_frame_escapes_special_bytes(void)
{
	char buf[64], expect[64];
	const char *esc = "a}\x03}\x04}]}\x0a" "b";

	/* The checksum covers the escaped bytes, as sent. */
	snprintf(expect, sizeof(expect), "$%s#%02x", esc, pkt_checksum(esc, strlen(esc)));
	TEST_ASSERT_STREQ(frame(buf, sizeof(buf), "a#$}*b"), expect);
}

static void test_frame_refuses_what_does_not_fit(void)
{
	char buf[16]; /* cap 8, plus room for frame()'s NUL */

	TEST_ASSERT(frame(buf, 8, "abcd") != NULL); /* $abcd#xx = 8 */
	TEST_ASSERT(frame(buf, 8, "abcde") == NULL);
	TEST_ASSERT(frame(buf, 8, "ab}") != NULL); /* $ab}]#xx = 8 */
	TEST_ASSERT(frame(buf, 8, "abc}") == NULL);
}

static void test_buf_overflow_is_flagged_not_overrun(void)
{
	char mem[8] = "--------";
	struct pkt_buf b = { .buf = mem, .cap = 4 };

	pkt_puts(&b, "ab");
	TEST_ASSERT(!b.overflow);
	pkt_put_hex(&b, (const uint8_t *)"\x12\x34", 2);
	TEST_ASSERT(b.overflow);
	TEST_ASSERT_EQ(b.len, 4);
	TEST_ASSERT(!memcmp(mem, "ab12----", 8));
	pkt_printf(&b, "%d", 5);
	TEST_ASSERT_EQ(b.len, 4);
}

/* Feed a whole string, collecting events as letters: P packet, B bad, T too
 * big, + ack, - nack, I interrupt; the last packet lands in pkt. */
static void feed(struct pkt_rx *rx, const char *in, size_t len, char *events, char *pkt,
		 bool bytewise)
{
	size_t pos = 0, used;
	int n = 0;

	while (pos < len) {
		size_t chunk = bytewise ? 1 : len - pos;
		enum pkt_event ev = pkt_rx_feed(rx, (const uint8_t *)in + pos, chunk, &used);

		pos += used;
		switch (ev) {
		case PKT_NONE:
			continue;
		case PKT_PACKET:
			events[n++] = 'P';
			strcpy(pkt, rx->buf);
			break;
		case PKT_BAD:
			events[n++] = 'B';
			break;
		case PKT_TOO_BIG:
			events[n++] = 'T';
			break;
		case PKT_ACK:
			events[n++] = '+';
			break;
		case PKT_NACK:
			events[n++] = '-';
			break;
		case PKT_INTERRUPT:
			events[n++] = 'I';
			break;
		}
	}
	events[n] = '\0';
}

static void check_stream(const char *in, size_t cap, const char *want_events, const char *want_pkt)
{
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		char buf[64], ev[32], pkt[64] = "";
		struct pkt_rx rx;

		pkt_rx_init(&rx, buf, cap);
		feed(&rx, in, strlen(in), ev, pkt, bytewise);
		TEST_ASSERT_STREQ(ev, want_events);
		TEST_ASSERT_STREQ(pkt, want_pkt);
		TEST_ASSERT(!pkt_rx_busy(&rx));
	}
}

static void test_rx_good_packet_and_acks(void)
{
	check_stream("+$OK#9a-", 32, "+P-", "OK");
	check_stream("$OK#9A", 32, "P", "OK"); /* uppercase checksum digits */
}

static void test_rx_skips_garbage_between_packets(void)
{
	check_stream("xyz\n\r$OK#9ajunk$g#67", 32, "PP", "g");
}

static void test_rx_bad_checksum(void)
{
	check_stream("$OK#00$OK#9a", 32, "BP", "OK");
}

static void test_rx_short_or_nonhex_checksum(void)
{
	check_stream("$OK#9$g#67", 32, "BP", "g");   /* one digit, then '$' */
	check_stream("$OK#$g#67", 32, "BP", "g");    /* no digit */
	check_stream("$OK#zz$g#67", 32, "BP", "g");  /* non-hex digits */
	check_stream("$OK#9z", 32, "B", "");
}

static void test_rx_interrupt_only_between_packets(void)
{
	char in[] = "\x03$X0,1:\x03#..\x03";
	char cs[3];

	/* The 0x03 in the body is data; fix up the checksum for it. */
	snprintf(cs, sizeof(cs), "%02x", pkt_checksum("X0,1:\x03", 6));
	memcpy(strchr(in, '#') + 1, cs, 2);
	check_stream(in, 32, "IPI", "X0,1:\x03");
}

static void test_rx_too_big_is_discarded_whole(void)
{
	/* cap 4: "abcdef" does not fit; the next packet is fine. */
	check_stream("$abcdef#55$OK#9a", 4, "TP", "OK");
	/* Exactly cap fits. */
	check_stream("$abcd#8a", 4, "P", "abcd");
}

static void test_rx_dollar_restarts_a_packet(void)
{
	check_stream("$abc$OK#9a", 32, "P", "OK");
}

static void test_rx_busy_mid_packet(void)
{
	char buf[16];
	struct pkt_rx rx;
	size_t used;

	pkt_rx_init(&rx, buf, sizeof(buf) - 1);
	TEST_ASSERT_EQ(pkt_rx_feed(&rx, (const uint8_t *)"$O", 2, &used), PKT_NONE);
	TEST_ASSERT_EQ(used, 2);
	TEST_ASSERT(pkt_rx_busy(&rx));
	TEST_ASSERT_EQ(pkt_rx_feed(&rx, (const uint8_t *)"K#9a+", 5, &used), PKT_PACKET);
	TEST_ASSERT_EQ(used, 4);
	TEST_ASSERT_STREQ(rx.buf, "OK");
	TEST_ASSERT(!pkt_rx_busy(&rx));
}

int main(void)
{
	RUN_TEST(test_checksum_known_values);
	RUN_TEST(test_hex_round_trip_every_byte);
	RUN_TEST(test_hex_decode_rejects_bad_input);
	RUN_TEST(test_parse_hex_strict);
	RUN_TEST(test_unescape_binary);
	RUN_TEST(test_frame_plain_and_empty);
	RUN_TEST(test_frame_escapes_special_bytes);
	RUN_TEST(test_frame_refuses_what_does_not_fit);
	RUN_TEST(test_buf_overflow_is_flagged_not_overrun);
	RUN_TEST(test_rx_good_packet_and_acks);
	RUN_TEST(test_rx_skips_garbage_between_packets);
	RUN_TEST(test_rx_bad_checksum);
	RUN_TEST(test_rx_short_or_nonhex_checksum);
	RUN_TEST(test_rx_interrupt_only_between_packets);
	RUN_TEST(test_rx_too_big_is_discarded_whole);
	RUN_TEST(test_rx_dollar_restarts_a_packet);
	RUN_TEST(test_rx_busy_mid_packet);
	TEST_MAIN_END();
}
