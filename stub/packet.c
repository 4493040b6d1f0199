/* packet.c - the RSP codec. */
#include "stub/packet.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Byte -> its two hex digits: one table load per byte on the g / m path. */
static const char hexpair[256][2] = {
#define D(n) ((n) < 10 ? '0' + (n) : 'a' + (n) - 10)
#define P(x) { D((x) >> 4), D((x) & 15) }
#define P4(x) P(x), P((x) + 1), P((x) + 2), P((x) + 3)
#define P16(x) P4(x), P4((x) + 4), P4((x) + 8), P4((x) + 12)
#define P64(x) P16(x), P16((x) + 16), P16((x) + 32), P16((x) + 48)
	P64(0), P64(64), P64(128), P64(192),
#undef P64
#undef P16
#undef P4
#undef P
#undef D
};

static const int8_t hexval_tab[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
	['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

uint8_t pkt_checksum(const void *data, size_t len)
{
	const uint8_t *p = data;
	unsigned sum = 0;

	for (size_t i = 0; i < len; i++)
		sum += p[i];
	return (uint8_t)sum;
}

int pkt_hexval(uint8_t c)
{
	return hexval_tab[c] - 1; /* stored +1 so that 0 means "not hex" */
}

void pkt_hex_encode(char *out, const uint8_t *in, size_t len)
{
	for (size_t i = 0; i < len; i++)
		memcpy(out + 2 * i, hexpair[in[i]], 2);
}

long pkt_hex_decode(uint8_t *out, size_t cap, const char *hex, size_t hexlen)
{
	if (hexlen % 2)
		return -EINVAL;
	if (hexlen / 2 > cap)
		return -ENOSPC;
	for (size_t i = 0; i < hexlen / 2; i++) {
		int hi = pkt_hexval((uint8_t)hex[2 * i]);
		int lo = pkt_hexval((uint8_t)hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (long)(hexlen / 2);
}

int pkt_parse_hex(const char **p, const char *end, uint64_t *val)
{
	const char *s = *p;
	uint64_t v = 0;
	int d;

	if (s >= end || pkt_hexval((uint8_t)*s) < 0)
		return -EINVAL;
	for (; s < end && (d = pkt_hexval((uint8_t)*s)) >= 0; s++) {
		if (v >> 60)
			return -ERANGE;
		v = v << 4 | (uint64_t)d;
	}
	*p = s;
	*val = v;
	return 0;
}

long pkt_unescape(uint8_t *out, size_t cap, const char *in, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)in[i];

		if (c == PKT_ESCAPE) {
			if (++i == len)
				return -EINVAL;
			c = (uint8_t)in[i] ^ 0x20;
		}
		if (n == cap)
			return -ENOSPC;
		out[n++] = c;
	}
	return (long)n;
}

size_t pkt_frame(char *buf, size_t cap, size_t len)
{
	const uint8_t *p = (const uint8_t *)buf + 1;
	size_t extra = 0, dst;
	unsigned sum = 0;

	/* One branch-free pass; hex replies (g, m) never need an escape. */
	for (size_t i = 0; i < len; i++) {
		sum += p[i];
		extra += pkt_needs_escape(p[i]);
	}
	if (len + extra + 4 > cap)
		return 0;
	if (extra) {
		/* Escape from the back so the payload can grow in place. */
		sum = 0;
		dst = len + extra;
		for (size_t i = len; i >= 1; i--) {
			uint8_t c = (uint8_t)buf[i];

			if (pkt_needs_escape(c)) {
				buf[dst--] = (char)(c ^ 0x20);
				buf[dst--] = PKT_ESCAPE;
				sum += PKT_ESCAPE + (c ^ 0x20u);
			} else {
				buf[dst--] = (char)c;
				sum += c;
			}
		}
	}
	buf[0] = '$';
	dst = 1 + len + extra;
	buf[dst] = '#';
	memcpy(buf + dst + 1, hexpair[sum & 0xff], 2);
	return dst + 3;
}

void pkt_put(struct pkt_buf *b, const void *data, size_t len)
{
	if (len > pkt_room(b)) {
		b->overflow = true;
		len = pkt_room(b);
	}
	memcpy(b->buf + b->len, data, len);
	b->len += len;
}

void pkt_puts(struct pkt_buf *b, const char *s)
{
	pkt_put(b, s, strlen(s));
}

void pkt_put_hex(struct pkt_buf *b, const uint8_t *data, size_t len)
{
	if (2 * len > pkt_room(b)) {
		b->overflow = true;
		len = pkt_room(b) / 2;
	}
	pkt_hex_encode(b->buf + b->len, data, len);
	b->len += 2 * len;
}

void pkt_printf(struct pkt_buf *b, const char *fmt, ...)
{
	char tmp[256]; /* replies built this way are short: "QC1", "T05..." */
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->overflow = true;
		return;
	}
	pkt_put(b, tmp, (size_t)n);
}

enum { RX_IDLE, RX_BODY, RX_CS1, RX_CS2 };

void pkt_rx_init(struct pkt_rx *rx, char *buf, size_t cap)
{
	rx->buf = buf;
	rx->cap = cap;
	pkt_rx_reset(rx);
}

void pkt_rx_reset(struct pkt_rx *rx)
{
	rx->len = 0;
	rx->state = RX_IDLE;
	rx->sum = 0;
	rx->cs = 0;
	rx->too_big = false;
	rx->buf[0] = '\0';
}

bool pkt_rx_busy(const struct pkt_rx *rx)
{
	return rx->state != RX_IDLE;
}

static void rx_start(struct pkt_rx *rx)
{
	rx->state = RX_BODY;
	rx->len = 0;
	rx->sum = 0;
	rx->too_big = false;
}

enum pkt_event pkt_rx_feed(struct pkt_rx *rx, const uint8_t *in, size_t len, size_t *used)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = in[i];
		int v;

		switch (rx->state) {
		case RX_IDLE:
			i++;
			switch (c) {
			case '$':
				rx_start(rx);
				break;
			case '+':
				*used = i;
				return PKT_ACK;
			case '-':
				*used = i;
				return PKT_NACK;
			case 0x03:
				*used = i;
				return PKT_INTERRUPT;
			default:
				break; /* noise between packets */
			}
			break;
		case RX_BODY: {
			/* The hot loop: copy body bytes up to '#' or '$'. */
			size_t j = i;
			unsigned sum = rx->sum;

			while (j < len && in[j] != '#' && in[j] != '$') {
				sum += in[j];
				j++;
			}
			size_t n = j - i, room = rx->cap - rx->len;

			if (n > room) {
				rx->too_big = true;
				n = room;
			}
			memcpy(rx->buf + rx->len, in + i, n);
			rx->len += n;
			rx->sum = (uint8_t)sum;
			i = j;
			if (i == len)
				break;
			if (in[i] == '$')
				rx_start(rx); /* a new packet abandons a broken one */
			else
				rx->state = RX_CS1;
			i++;
			break;
		}
		case RX_CS1:
		case RX_CS2:
			v = pkt_hexval(c);
			if (v < 0) {
				/* Leave a '$' to start the next packet. */
				rx->state = RX_IDLE;
				*used = c == '$' ? i : i + 1;
				return PKT_BAD;
			}
			i++;
			if (rx->state == RX_CS1) {
				rx->cs = (uint8_t)(v << 4);
				rx->state = RX_CS2;
				break;
			}
			rx->cs |= (uint8_t)v;
			rx->state = RX_IDLE;
			*used = i;
			if (rx->cs != rx->sum)
				return PKT_BAD;
			if (rx->too_big)
				return PKT_TOO_BIG;
			rx->buf[rx->len] = '\0';
			return PKT_PACKET;
		}
	}
	*used = i;
	return PKT_NONE;
}
