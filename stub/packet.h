/* packet.h - the RSP codec: pure functions over caller-owned buffers.
 *
 * Checksums, hex, the '}' escape of binary data, strict hex numbers, framing a
 * reply in place, and a receive state machine that turns a byte stream into
 * packets, acks and interrupts.  No I/O, no allocation, no global state.
 */
#ifndef STUB_PACKET_H
#define STUB_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKT_ESCAPE 0x7d /* '}': next byte is XORed with 0x20 */

uint8_t pkt_checksum(const void *data, size_t len);

/* Hex digit value, or -1. */
int pkt_hexval(uint8_t c);

/* Two lowercase hex digits per byte into out (2 * len bytes, no NUL). */
void pkt_hex_encode(char *out, const uint8_t *in, size_t len);

/* hexlen hex digits into hexlen / 2 bytes of out (cap bytes).  Returns the
 * byte count, or -EINVAL (odd length, non-hex digit), -ENOSPC. */
long pkt_hex_decode(uint8_t *out, size_t cap, const char *hex, size_t hexlen)
	__attribute__((warn_unused_result));

/* Parse one hex number starting at *p, at least one digit, stopping at the
 * first non-hex character or at end; advances *p.  0, -EINVAL (no digit),
 * -ERANGE (does not fit in 64 bits). */
int pkt_parse_hex(const char **p, const char *end, uint64_t *val)
	__attribute__((warn_unused_result));

/* Undo the '}' escape of binary packet data into out (cap bytes).  Returns
 * the decoded length, -EINVAL for a '}' with nothing after it, -ENOSPC. */
long pkt_unescape(uint8_t *out, size_t cap, const char *in, size_t len)
	__attribute__((warn_unused_result));

/* Does byte c need the '}' escape in a packet we send? ($ # } *) */
static inline bool pkt_needs_escape(uint8_t c)
{
	return c == '$' || c == '#' || c == '}' || c == '*';
}

/* Frame a reply in place.  buf holds the raw payload at buf[1 .. len]; the
 * result is "$payload#cs" with $ # } * escaped, starting at buf[0].  Returns
 * the frame length, or 0 if it does not fit in cap (cap >= 2 * len + 4
 * always fits). */
size_t pkt_frame(char *buf, size_t cap, size_t len);

/* An append-only payload builder over a fixed buffer.  Appends past cap set
 * overflow and keep len unchanged beyond cap, so a reply never overruns. */
struct pkt_buf {
	char *buf;
	size_t cap;
	size_t len;
	bool overflow;
};

void pkt_put(struct pkt_buf *b, const void *data, size_t len);
void pkt_puts(struct pkt_buf *b, const char *s);
void pkt_put_hex(struct pkt_buf *b, const uint8_t *data, size_t len);
void pkt_printf(struct pkt_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline size_t pkt_room(const struct pkt_buf *b)
{
	return b->cap - b->len;
}

/* Receive state machine. */
enum pkt_event {
	PKT_NONE,      /* input exhausted, nothing complete yet */
	PKT_PACKET,    /* a good packet: rx->buf[0 .. rx->len - 1], NUL after */
	PKT_BAD,       /* bad checksum or malformed "#cs": answer '-' */
	PKT_TOO_BIG,   /* a whole packet longer than the buffer was discarded */
	PKT_ACK,       /* '+' */
	PKT_NACK,      /* '-' */
	PKT_INTERRUPT, /* 0x03 between packets */
};

struct pkt_rx {
	char *buf;     /* packet body (escapes left in), cap + 1 bytes */
	size_t cap;
	size_t len;
	int state;
	uint8_t sum;   /* running checksum of the body */
	uint8_t cs;    /* checksum digits received so far */
	bool too_big;
};

void pkt_rx_init(struct pkt_rx *rx, char *buf, size_t cap);
void pkt_rx_reset(struct pkt_rx *rx);
/* Consume bytes from in until one event completes; *used says how many were
 * consumed.  PKT_NONE means all len bytes were consumed. */
enum pkt_event pkt_rx_feed(struct pkt_rx *rx, const uint8_t *in, size_t len, size_t *used);
/* True while a packet is partly received. */
bool pkt_rx_busy(const struct pkt_rx *rx);

#endif
