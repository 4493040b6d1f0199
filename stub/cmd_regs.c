/* cmd_regs.c - g, G, p, P: the registers of the selected thread, in the order
 * and sizes of the target description. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "stub/internal.h"

/* g */
enum cmd_result h_g(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	uint8_t reg[CMD_REG_MAX];
	int count;

	(void)a, (void)end;
	if (!s->ops->read_reg || !s->ops->reg_count)
		return CMD_REPLY;
	count = s->ops->reg_count(s->t);
	for (int r = 0; r < count; r++) {
		int size = s->ops->read_reg(s->t, s->g_tid, r, reg, sizeof(reg));

		if (size < 0) {
			cmd_error(s, out, size);
			return CMD_REPLY;
		}
		/* An unknown register ends the packet; gdb marks the rest unavailable. */
		if (size == 0 || size > CMD_REG_MAX)
			break;
		pkt_put_hex(out, reg, (size_t)size);
	}
	if (out->overflow)
		cmd_error(s, out, EMSGSIZE);
	return CMD_REPLY;
}

/* Size of each register up to the first unknown one; total in bytes or -errno. */
static long reg_sizes(struct stub *s, int *sizes, int max, int *nregs)
{
	uint8_t reg[CMD_REG_MAX];
	int count = s->ops->reg_count(s->t);
	long total = 0;
	int r;

	for (r = 0; r < count && r < max; r++) {
		int size = s->ops->read_reg(s->t, s->g_tid, r, reg, sizeof(reg));

		if (size < 0)
			return size;
		if (size == 0 || size > CMD_REG_MAX)
			break;
		sizes[r] = size;
		total += size;
	}
	*nregs = r;
	return total;
}

/* G XX... */
enum cmd_result h_G(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	int sizes[1024], nregs;
	long total, n;
	size_t off = 0;

	if (!s->ops->read_reg || !s->ops->write_reg || !s->ops->reg_count)
		return CMD_REPLY;
	total = reg_sizes(s, sizes, 1024, &nregs);
	if (total < 0) {
		cmd_error(s, out, (int)total);
		return CMD_REPLY;
	}
	if ((size_t)(end - a) != 2 * (size_t)total) {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	n = pkt_hex_decode(s->scratch, s->scratch_cap, a, (size_t)(end - a));
	if (n < 0) {
		cmd_error(s, out, (int)n);
		return CMD_REPLY;
	}
	for (int r = 0; r < nregs; r++) {
		int e = s->ops->write_reg(s->t, s->g_tid, r, s->scratch + off, (size_t)sizes[r]);

		if (e) {
			cmd_error(s, out, e);
			return CMD_REPLY;
		}
		off += (size_t)sizes[r];
	}
	cmd_pc_settled(s, s->g_tid);
	pkt_puts(out, "OK");
	return CMD_REPLY;
}

/* Register number n of the current layout, or -EINVAL. */
static int parse_regno(struct stub *s, const char **p, const char *end, char sep)
{
	uint64_t n;

	if (cmd_parse_num(p, end, sep, &n))
		return -EINVAL;
	if (n >= (uint64_t)s->ops->reg_count(s->t))
		return -EINVAL;
	return (int)n;
}

/* p n */
enum cmd_result h_p(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	uint8_t reg[CMD_REG_MAX];
	int regno, size;

	if (!s->ops->read_reg || !s->ops->reg_count)
		return CMD_REPLY;
	regno = parse_regno(s, &a, end, 0);
	if (regno < 0) {
		cmd_error(s, out, regno);
		return CMD_REPLY;
	}
	size = s->ops->read_reg(s->t, s->g_tid, regno, reg, sizeof(reg));
	if (size <= 0 || size > CMD_REG_MAX) {
		cmd_error(s, out, size < 0 ? size : EINVAL);
		return CMD_REPLY;
	}
	pkt_put_hex(out, reg, (size_t)size);
	return CMD_REPLY;
}

/* P n=value */
enum cmd_result h_P(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	uint8_t reg[CMD_REG_MAX];
	int regno, size, e;
	long n;

	if (!s->ops->read_reg || !s->ops->write_reg || !s->ops->reg_count)
		return CMD_REPLY;
	regno = parse_regno(s, &a, end, '=');
	if (regno < 0) {
		cmd_error(s, out, regno);
		return CMD_REPLY;
	}
	size = s->ops->read_reg(s->t, s->g_tid, regno, reg, sizeof(reg));
	if (size <= 0 || size > CMD_REG_MAX) {
		cmd_error(s, out, size < 0 ? size : EINVAL);
		return CMD_REPLY;
	}
	n = pkt_hex_decode(reg, sizeof(reg), a, (size_t)(end - a));
	if (n != size) {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	e = s->ops->write_reg(s->t, s->g_tid, regno, reg, (size_t)n);
	if (e) {
		cmd_error(s, out, e);
	} else {
		cmd_pc_settled(s, s->g_tid);
		pkt_puts(out, "OK");
	}
	return CMD_REPLY;
}
