/* atomic_decode.c - the decoder of atomic.h: the locked read-modify-write
 * instructions it knows, their operands and length; anything else is
 * -EINVAL.  Pure: no KVM, no guest memory (atomic.c executes them). */
#include "vmm/atomic.h"

#include <errno.h>
#include <string.h>


/* ---- decoding -------------------------------------------------------------- */

struct cursor {
	const uint8_t *code;
	size_t n, i;
	int err; /* -ENODATA or -EINVAL once a byte was missing */
};

static uint8_t next_byte(struct cursor *c)
{
	if (c->i >= ATOMIC_INSN_MAX) {
		c->err = c->err ? c->err : -EINVAL;
		return 0;
	}
	if (c->i >= c->n) {
		c->err = c->err ? c->err : -ENODATA;
		return 0;
	}
	return c->code[c->i++];
}

/* A little-endian immediate or displacement of size bytes, sign-extended. */
static int64_t next_signed(struct cursor *c, unsigned size)
{
	uint64_t v = 0;

	for (unsigned k = 0; k < size; k++)
		v |= (uint64_t)next_byte(c) << (8 * k);
	if (size < 8 && (v >> (8 * size - 1)) & 1)
		v |= ~0ULL << (8 * size);
	return (int64_t)v;
}

/* The 16-bit ModRM forms: [bx+si] [bx+di] [bp+si] [bp+di] [si] [di] [bp] [bx]. */
static const int8_t base16[8] = { ATOMIC_RBX, ATOMIC_RBX, ATOMIC_RBP, ATOMIC_RBP,
				  ATOMIC_RSI, ATOMIC_RDI, ATOMIC_RBP, ATOMIC_RBX };
static const int8_t index16[8] = { ATOMIC_RSI, ATOMIC_RDI, ATOMIC_RSI, ATOMIC_RDI, -1, -1, -1, -1 };

/* The memory operand of ModRM byte modrm; -EINVAL for a register operand. */
static int decode_modrm(struct cursor *c, uint8_t modrm, unsigned rex, struct atomic_insn *in)
{
	unsigned mod = modrm >> 6, rm = modrm & 7;

	if (mod == 3)
		return -EINVAL;
	in->scale = 1;
	if (in->addr_size == 2) {
		if (mod == 0 && rm == 6) {
			in->disp = next_signed(c, 2);
			return 0;
		}
		in->base = base16[rm];
		in->index = index16[rm];
	} else if (rm == 4) {
		uint8_t sib = next_byte(c);
		unsigned index = ((sib >> 3) & 7) | (rex & 2 ? 8 : 0);

		in->scale = (uint8_t)(1 << (sib >> 6));
		if (index != ATOMIC_RSP)
			in->index = (int8_t)index;
		if ((sib & 7) == 5 && mod == 0)
			mod = 2; /* no base, disp32 */
		else
			in->base = (int8_t)((sib & 7) | (rex & 1 ? 8 : 0));
	} else if (rm == 5 && mod == 0) {
		in->rip_relative = in->bits == 64;
		mod = 2;
	} else {
		in->base = (int8_t)(rm | (rex & 1 ? 8 : 0));
	}
	if (mod == 1)
		in->disp = next_signed(c, 1);
	else if (mod == 2)
		in->disp = next_signed(c, 4);
	return 0;
}

static int decode_opcode(struct cursor *c, unsigned rex, bool opsize, struct atomic_insn *in)
{
	uint8_t op = next_byte(c), modrm;
	bool byte = false, has_reg = true;
	unsigned imm_size = 0, sub;
	int err;

	if (op == 0x0f) {
		op = next_byte(c);
		if (c->err)
			return c->err;
		modrm = next_byte(c); /* a refusal for its sake waits until it is there */
		sub = (modrm >> 3) & 7;
		switch (op) {
		case 0xab: in->op = ATOMIC_BTS; break;
		case 0xb3: in->op = ATOMIC_BTR; break;
		case 0xbb: in->op = ATOMIC_BTC; break;
		case 0xba:
			if (sub < 5)
				return c->err ?: -EINVAL; /* BT, or undefined */
			in->op = (enum atomic_op)(ATOMIC_BTS + sub - 5);
			has_reg = false;
			imm_size = 1;
			break;
		case 0xc0: case 0xc1: in->op = ATOMIC_XADD; byte = op == 0xc0; break;
		case 0xb0: case 0xb1: in->op = ATOMIC_CMPXCHG; byte = op == 0xb0; break;
		case 0xc7:
			if (sub != 1)
				return c->err ?: -EINVAL;
			in->op = ATOMIC_CMPXCHG8B;
			has_reg = false;
			break;
		default:
			return -EINVAL;
		}
	} else {
		if (c->err)
			return c->err;
		modrm = next_byte(c);
		sub = (modrm >> 3) & 7;
		if (op < 0x36 && (op & 6) == 0) {
			in->op = (enum atomic_op)(op >> 3); /* 00 01 08 09 ... 30 31 */
			byte = !(op & 1);
		} else if (op == 0x80 || op == 0x81 || op == 0x83 || (op == 0x82 && in->bits != 64)) {
			if (sub == 7)
				return c->err ?: -EINVAL; /* CMP */
			in->op = (enum atomic_op)sub;
			byte = op == 0x80 || op == 0x82;
			has_reg = false;
			imm_size = op == 0x81 ? 4 : 1;
		} else if (op == 0x86 || op == 0x87) {
			in->op = ATOMIC_XCHG;
			byte = op == 0x86;
		} else if ((op == 0xf6 || op == 0xf7) && (sub == 2 || sub == 3)) {
			in->op = sub == 2 ? ATOMIC_NOT : ATOMIC_NEG;
			byte = op == 0xf6;
			has_reg = false;
		} else if ((op == 0xfe || op == 0xff) && sub < 2) {
			in->op = sub == 0 ? ATOMIC_INC : ATOMIC_DEC;
			byte = op == 0xfe;
			has_reg = false;
		} else if (op == 0xf6 || op == 0xf7 || op == 0xfe || op == 0xff) {
			return c->err ?: -EINVAL; /* TEST, MUL ..., CALL, JMP, PUSH */
		} else {
			return -EINVAL;
		}
	}
	if (c->err)
		return c->err;

	if (in->op == ATOMIC_CMPXCHG8B)
		in->size = rex & 8 ? 16 : 8;
	else if (byte)
		in->size = 1;
	else if (rex & 8)
		in->size = 8;
	else
		in->size = (in->bits == 16) != opsize ? 2 : 4;
	if (imm_size == 4 && in->size == 2)
		imm_size = 2;

	if (has_reg) {
		in->reg = (int8_t)(sub | (rex & 4 ? 8 : 0));
		if (byte && !rex && sub >= 4) {
			in->reg = (int8_t)(sub - 4);
			in->reg_high8 = true;
		}
	}
	err = decode_modrm(c, modrm, rex, in);
	if (err)
		return err;
	if (imm_size) {
		in->has_imm = true;
		in->imm = (uint64_t)next_signed(c, imm_size);
	}
	return c->err;
}

int atomic_decode(const uint8_t *code, size_t n, int bits, struct atomic_insn *in)
{
	struct cursor c = { .code = code, .n = n };
	bool opsize = false, adsize = false;
	int seg = -1;
	unsigned rex = 0;
	int err;

	memset(in, 0, sizeof(*in));
	in->reg = in->base = in->index = -1;
	if (bits != 16 && bits != 32 && bits != 64)
		return -EINVAL;
	in->bits = (uint8_t)bits;

	for (;;) {
		uint8_t b = c.i < n ? code[c.i] : 0;

		if (c.i >= n || c.i >= ATOMIC_INSN_MAX)
			return c.i >= ATOMIC_INSN_MAX ? -EINVAL : -ENODATA;
		if (bits == 64 && (b & 0xf0) == 0x40) {
			rex = b;
			c.i++;
			continue;
		}
		switch (b) {
		case 0xf0: in->lock = true; break;
		case 0xf2: case 0xf3: break; /* XACQUIRE/XRELEASE hints */
		case 0x66: opsize = true; break;
		case 0x67: adsize = true; break;
		case 0x26: seg = ATOMIC_ES; break;
		case 0x2e: seg = ATOMIC_CS; break;
		case 0x36: seg = ATOMIC_SS; break;
		case 0x3e: seg = ATOMIC_DS; break;
		case 0x64: seg = ATOMIC_FS; break;
		case 0x65: seg = ATOMIC_GS; break;
		default: goto opcode;
		}
		rex = 0; /* a REX prefix counts only right before the opcode */
		c.i++;
	}
opcode:
	if (bits == 64)
		in->addr_size = adsize ? 4 : 8;
	else
		in->addr_size = (bits == 16) != adsize ? 2 : 4;
	err = decode_opcode(&c, rex, opsize, in);
	if (err)
		return err;
	in->len = (uint8_t)c.i;
	if (seg >= 0)
		in->seg = (uint8_t)seg;
	else if (in->base == ATOMIC_RSP || in->base == ATOMIC_RBP)
		in->seg = ATOMIC_SS;
	else
		in->seg = ATOMIC_DS;
	return 0;
}
