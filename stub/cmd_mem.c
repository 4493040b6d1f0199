/* cmd_mem.c - m, x, M, X: guest memory as the selected thread sees it, and
 * lldb's qMemoryRegionInfo. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "stub/internal.h"

/* "addr,length" then sep (':' for M / X) or the end; checks the range. */
static int parse_mem(const char **p, const char *end, char sep, uint64_t *addr, uint64_t *len)
{
	if (cmd_parse_num(p, end, ',', addr) || cmd_parse_num(p, end, sep, len))
		return -EINVAL;
	if (!cmd_range_ok(*addr, *len))
		return -EINVAL;
	return 0;
}

/* The memory a read packet asks for, into scratch: its length in *n, at most
 * cap bytes.  false if the reply is an error, already in out. */
static bool read_mem(struct stub *s, const char *a, const char *end, size_t cap,
		     struct pkt_buf *out, size_t *n)
{
	uint64_t addr, len;
	long got;

	if (parse_mem(&a, end, 0, &addr, &len) || len > STUB_PACKET_SIZE) {
		cmd_error(s, out, EINVAL);
		return false;
	}
	*n = len > cap ? cap : (size_t)len;
	if (!*n)
		return true;
	got = s->ops->read_mem(s->t, s->g_tid, addr, s->scratch, *n);
	if (got <= 0) {
		cmd_error(s, out, got < 0 ? (int)got : EFAULT);
		return false;
	}
	if ((size_t)got < *n)
		*n = (size_t)got;
	return true;
}

/* m addr,length */
enum cmd_result h_m(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	size_t n;

	if (!s->ops->read_mem)
		return CMD_REPLY;
	if (!read_mem(s, a, end, pkt_room(out) / 2, out, &n))
		return CMD_REPLY;
	/* Zero bytes in hex are an empty reply, which says "unsupported":
	 * OK instead, as lldb-server answers. */
	if (n)
		pkt_put_hex(out, s->scratch, n);
	else
		pkt_puts(out, "OK");
	return CMD_REPLY;
}

/* x addr,length (GDB 16): "b" and the bytes, binary (escaped when framed);
 * zero bytes are "b" alone.  lldb's older x has no "b" and answers its
 * x0,0 probe with OK: lldb 14 takes "b" for no, and reads with m. */
enum cmd_result h_x(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	size_t n;

	if (!s->ops->read_mem)
		return CMD_REPLY;
	if (!read_mem(s, a, end, pkt_room(out) - 1, out, &n))
		return CMD_REPLY;
	pkt_puts(out, "b");
	pkt_put(out, s->scratch, n);
	return CMD_REPLY;
}

static enum cmd_result write_mem(struct stub *s, uint64_t addr, size_t len, struct pkt_buf *out)
{
	int e = s->ops->write_mem(s->t, s->g_tid, addr, s->scratch, len);

	if (e)
		cmd_error(s, out, e);
	else
		pkt_puts(out, "OK");
	return CMD_REPLY;
}

/* M addr,length:XX... */
enum cmd_result h_M(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	uint64_t addr, len;
	long n;

	if (!s->ops->write_mem)
		return CMD_REPLY;
	if (parse_mem(&a, end, ':', &addr, &len) || len > s->scratch_cap ||
	    (size_t)(end - a) != 2 * len) {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	n = pkt_hex_decode(s->scratch, s->scratch_cap, a, (size_t)(end - a));
	if (n < 0) {
		cmd_error(s, out, (int)n);
		return CMD_REPLY;
	}
	if (len == 0) {
		pkt_puts(out, "OK");
		return CMD_REPLY;
	}
	return write_mem(s, addr, (size_t)len, out);
}

/* X addr,length:binary */
enum cmd_result h_X(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	uint64_t addr, len;
	long n;

	if (!s->ops->write_mem)
		return CMD_REPLY;
	if (parse_mem(&a, end, ':', &addr, &len) || len > s->scratch_cap) {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	n = pkt_unescape(s->scratch, s->scratch_cap, a, (size_t)(end - a));
	if (n < 0 || (uint64_t)n != len) {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	if (len == 0) { /* gdb's probe for X support */
		pkt_puts(out, "OK");
		return CMD_REPLY;
	}
	return write_mem(s, addr, (size_t)len, out);
}

/* qMemoryRegionInfo:addr (lldb): the run of pages around addr that read_mem
 * can or cannot read, probed page by page up to a bound.  lldb looks for an
 * unreadable run to place its expression results in; without an answer it
 * falls back to the memory map, whose last region ends at 2^64, which lldb
 * 14 cannot represent (it asserts).  The stub cannot see page-table bits:
 * a readable page is reported rwx, which is what a debugger may do there. */
enum cmd_result h_qregion(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	enum { PAGE = 4096, MAX_PAGES = 1 << 14 };
	uint64_t addr, start, size = 0;
	uint8_t byte;
	bool readable;

	if (!s->ops->read_mem)
		return CMD_REPLY;
	if (a >= end || *a++ != ':' || cmd_parse_num(&a, end, 0, &addr)) {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	start = addr & ~(uint64_t)(PAGE - 1);
	readable = s->ops->read_mem(s->t, s->g_tid, start, &byte, 1) == 1;
	for (int i = 0; i < MAX_PAGES; i++) {
		uint64_t page = start + size;

		if (i && (s->ops->read_mem(s->t, s->g_tid, page, &byte, 1) == 1) != readable)
			break;
		if (page + PAGE == 0) { /* the top: keep start + size representable */
			size += PAGE - 1;
			break;
		}
		size += PAGE;
	}
	pkt_printf(out, "start:%llx;size:%llx;", (unsigned long long)start,
		   (unsigned long long)size);
	if (readable)
		pkt_puts(out, "permissions:rwx;");
	return CMD_REPLY;
}
