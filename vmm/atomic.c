/* atomic.c - locked read-modify-write instructions, decoded and done with
 * host atomics.
 *
 * The decoder (atomic_decode.c) knows only the opcodes in atomic.h;
 * everything else is -EINVAL.  The executor, here, does the memory part with one __atomic builtin (a compare-
 * exchange loop where none fits), then computes the flags in C from the old
 * value it saw and the operand, so they are those of the one atomic step.
 */
#include "vmm/atomic.h"

#include <errno.h>
#include <linux/kvm.h>
#include <string.h>


void atomic_regs_from_kvm(struct atomic_regs *r, const struct kvm_regs *k)
{
	const uint64_t gpr[16] = { k->rax, k->rcx, k->rdx, k->rbx, k->rsp, k->rbp, k->rsi, k->rdi,
				   k->r8,  k->r9,  k->r10, k->r11, k->r12, k->r13, k->r14, k->r15 };

	memcpy(r->gpr, gpr, sizeof(gpr));
	r->rip = k->rip;
	r->rflags = k->rflags;
}

void atomic_regs_to_kvm(struct kvm_regs *k, const struct atomic_regs *r)
{
	const uint64_t *g = r->gpr;

	*k = (struct kvm_regs){
		.rax = g[ATOMIC_RAX], .rbx = g[ATOMIC_RBX], .rcx = g[ATOMIC_RCX], .rdx = g[ATOMIC_RDX],
		.rsi = g[ATOMIC_RSI], .rdi = g[ATOMIC_RDI], .rsp = g[ATOMIC_RSP], .rbp = g[ATOMIC_RBP],
		.r8 = g[ATOMIC_R8],   .r9 = g[ATOMIC_R9],   .r10 = g[ATOMIC_R10], .r11 = g[ATOMIC_R11],
		.r12 = g[ATOMIC_R12], .r13 = g[ATOMIC_R13], .r14 = g[ATOMIC_R14], .r15 = g[ATOMIC_R15],
		.rip = r->rip, .rflags = r->rflags,
	};
}

const char *atomic_op_name(enum atomic_op op)
{
	static const char *const names[] = {
		[ATOMIC_ADD] = "add",   [ATOMIC_OR] = "or",     [ATOMIC_ADC] = "adc",
		[ATOMIC_SBB] = "sbb",   [ATOMIC_AND] = "and",   [ATOMIC_SUB] = "sub",
		[ATOMIC_XOR] = "xor",   [ATOMIC_INC] = "inc",   [ATOMIC_DEC] = "dec",
		[ATOMIC_NOT] = "not",   [ATOMIC_NEG] = "neg",   [ATOMIC_BTS] = "bts",
		[ATOMIC_BTR] = "btr",   [ATOMIC_BTC] = "btc",   [ATOMIC_XADD] = "xadd",
		[ATOMIC_XCHG] = "xchg", [ATOMIC_CMPXCHG] = "cmpxchg",
		[ATOMIC_CMPXCHG8B] = "cmpxchg8b",
	};

	return (unsigned)op < sizeof(names) / sizeof(names[0]) ? names[op] : "?";
}

/* ---- registers ------------------------------------------------------------- */

static uint64_t size_mask(unsigned size)
{
	return size >= 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
}

static uint64_t reg_read(const struct atomic_regs *r, int reg, bool high8, unsigned size)
{
	uint64_t v = r->gpr[reg];

	return (high8 ? v >> 8 : v) & size_mask(size);
}

/* A write of size bytes: 1 and 2 merge, 4 zero-extends, as the CPU does. */
static void reg_write(struct atomic_regs *r, int reg, bool high8, unsigned size, uint64_t v)
{
	uint64_t *g = &r->gpr[reg];

	if (high8)
		*g = (*g & ~0xff00ULL) | (v & 0xff) << 8;
	else if (size < 4)
		*g = (*g & ~size_mask(size)) | (v & size_mask(size));
	else
		*g = v & size_mask(size);
}

/* The signed bit offset of BTS/BTR/BTC with a register operand. */
static int64_t bit_offset(const struct atomic_insn *in, const struct atomic_regs *r)
{
	uint64_t v = reg_read(r, in->reg, false, in->size);
	unsigned bits = 8 * in->size;

	return bits < 64 && (v >> (bits - 1)) & 1 ? (int64_t)(v | ~0ULL << bits) : (int64_t)v;
}

uint64_t atomic_linear(const struct atomic_insn *in, const struct atomic_segs *segs,
		       const struct atomic_regs *r)
{
	uint64_t off = (uint64_t)in->disp, lin;

	if (in->rip_relative)
		off += r->rip + in->len;
	if (in->base >= 0)
		off += r->gpr[in->base];
	if (in->index >= 0)
		off += r->gpr[in->index] * in->scale;
	if (in->reg >= 0 && in->op >= ATOMIC_BTS && in->op <= ATOMIC_BTC && !in->has_imm) {
		/* the operand-sized word that holds the bit, in whole words */
		int64_t words = bit_offset(in, r) >> (in->size == 2 ? 4 : in->size == 4 ? 5 : 6);

		off += (uint64_t)words * in->size;
	}
	off &= size_mask(in->addr_size);
	if (in->bits == 64)
		return in->seg == ATOMIC_FS || in->seg == ATOMIC_GS ? off + segs->base[in->seg] : off;
	lin = off + segs->base[in->seg];
	return lin & 0xffffffffULL;
}

/* ---- flags ----------------------------------------------------------------- */

static uint64_t parity_flag(uint64_t v)
{
	return __builtin_parity((unsigned)(v & 0xff)) ? 0 : ATOMIC_PF;
}

/* ZF, SF and PF of a result. */
static uint64_t szp(uint64_t res, unsigned size)
{
	uint64_t f = parity_flag(res);

	res &= size_mask(size);
	if (!res)
		f |= ATOMIC_ZF;
	if (res >> (8 * size - 1))
		f |= ATOMIC_SF;
	return f;
}

static uint64_t top(uint64_t v, unsigned size)
{
	return (v >> (8 * size - 1)) & 1;
}

/* a + b + carry = res: carry out of the top bit, signed overflow, carry out
 * of bit 3. */
static uint64_t flags_add(uint64_t a, uint64_t b, uint64_t res, unsigned size)
{
	uint64_t f = szp(res, size);

	if (top((a & b) | ((a | b) & ~res), size))
		f |= ATOMIC_CF;
	if (top((a ^ res) & (b ^ res), size))
		f |= ATOMIC_OF;
	if ((a ^ b ^ res) & 0x10)
		f |= ATOMIC_AF;
	return f;
}

/* a - b - borrow = res. */
static uint64_t flags_sub(uint64_t a, uint64_t b, uint64_t res, unsigned size)
{
	uint64_t f = szp(res, size);

	if (top((~a & b) | ((~a | b) & res), size))
		f |= ATOMIC_CF;
	if (top((a ^ b) & (a ^ res), size))
		f |= ATOMIC_OF;
	if ((a ^ b ^ res) & 0x10)
		f |= ATOMIC_AF;
	return f;
}

/* ---- memory ---------------------------------------------------------------- */

enum fetch_op { FETCH_ADD, FETCH_OR, FETCH_AND, FETCH_XOR, FETCH_XCHG };

/* NOLINTBEGIN(bugprone-macro-parentheses): T is a type */
#define DEFINE_SIZED(T)                                                                    \
	static uint64_t fetch_##T(void *p, enum fetch_op op, uint64_t v)                   \
	{                                                                                  \
		T *q = p, x = (T)v;                                                        \
		switch (op) {                                                              \
		case FETCH_ADD: return __atomic_fetch_add(q, x, __ATOMIC_SEQ_CST);         \
		case FETCH_OR: return __atomic_fetch_or(q, x, __ATOMIC_SEQ_CST);           \
		case FETCH_AND: return __atomic_fetch_and(q, x, __ATOMIC_SEQ_CST);         \
		case FETCH_XOR: return __atomic_fetch_xor(q, x, __ATOMIC_SEQ_CST);         \
		case FETCH_XCHG: return __atomic_exchange_n(q, x, __ATOMIC_SEQ_CST);       \
		}                                                                          \
		return 0;                                                                  \
	}                                                                                  \
	/* Store new if *p holds *expected, else put what it holds in *expected. */        \
	static bool cas_##T(void *p, uint64_t *expected, uint64_t new)                     \
	{                                                                                  \
		T *q = p, e = (T)*expected;                                                \
		bool ok = __atomic_compare_exchange_n(q, &e, (T)new, false,                \
						      __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); \
		*expected = e;                                                             \
		return ok;                                                                 \
	}                                                                                  \
	static uint64_t load_##T(const void *p)                                            \
	{                                                                                  \
		return __atomic_load_n((const T *)p, __ATOMIC_SEQ_CST);                    \
	}

DEFINE_SIZED(uint8_t)
DEFINE_SIZED(uint16_t)
DEFINE_SIZED(uint32_t)
DEFINE_SIZED(uint64_t)
/* NOLINTEND(bugprone-macro-parentheses) */

static uint64_t mem_fetch(void *p, unsigned size, enum fetch_op op, uint64_t v)
{
	switch (size) {
	case 1: return fetch_uint8_t(p, op, v);
	case 2: return fetch_uint16_t(p, op, v);
	case 4: return fetch_uint32_t(p, op, v);
	default: return fetch_uint64_t(p, op, v);
	}
}

static bool mem_cas(void *p, unsigned size, uint64_t *expected, uint64_t new)
{
	switch (size) {
	case 1: return cas_uint8_t(p, expected, new);
	case 2: return cas_uint16_t(p, expected, new);
	case 4: return cas_uint32_t(p, expected, new);
	default: return cas_uint64_t(p, expected, new);
	}
}

static uint64_t mem_load(const void *p, unsigned size)
{
	switch (size) {
	case 1: return load_uint8_t(p);
	case 2: return load_uint16_t(p);
	case 4: return load_uint32_t(p);
	default: return load_uint64_t(p);
	}
}

/* GCC inlines no 16-byte compare-exchange without libatomic: the instruction
 * itself.  expected[] gets what memory held. */
static bool cas16(void *p, uint64_t expected[2], const uint64_t new[2])
{
	bool ok;

	__asm__ volatile("lock cmpxchg16b %[m]"
			 : "=@ccz"(ok), [m] "+m"(*(unsigned __int128 *)p), "+a"(expected[0]),
			   "+d"(expected[1])
			 : "b"(new[0]), "c"(new[1])
			 : "memory");
	return ok;
}

/* ---- execution ------------------------------------------------------------- */

/* One operation: old and new memory, the status flags it sets (set) and
 * which of them it changes (changed). */
struct outcome {
	uint64_t old, new, set, changed;
	bool stored;
};

/* ADD ... XOR, INC, DEC, NOT, NEG: memory op= src. */
static struct outcome alu(const struct atomic_insn *in, void *p, uint64_t src, uint64_t cf)
{
	unsigned size = in->size;
	uint64_t mask = size_mask(size);
	struct outcome o = { .changed = ATOMIC_FLAGS, .stored = true };

	switch (in->op) {
	case ATOMIC_ADD: case ATOMIC_INC:
		o.old = mem_fetch(p, size, FETCH_ADD, src);
		o.new = (o.old + src) & mask;
		o.set = flags_add(o.old, src, o.new, size);
		break;
	case ATOMIC_SUB: case ATOMIC_DEC:
		o.old = mem_fetch(p, size, FETCH_ADD, -src);
		o.new = (o.old - src) & mask;
		o.set = flags_sub(o.old, src, o.new, size);
		break;
	case ATOMIC_OR: case ATOMIC_AND: case ATOMIC_XOR: case ATOMIC_NOT: {
		static const enum fetch_op fop[] = { [ATOMIC_OR] = FETCH_OR, [ATOMIC_AND] = FETCH_AND,
						     [ATOMIC_XOR] = FETCH_XOR, [ATOMIC_NOT] = FETCH_XOR };

		o.old = mem_fetch(p, size, fop[in->op], in->op == ATOMIC_NOT ? mask : src);
		o.new = in->op == ATOMIC_OR ? o.old | src : in->op == ATOMIC_AND ? o.old & src
			: o.old ^ (in->op == ATOMIC_NOT ? mask : src);
		o.set = szp(o.new, size); /* CF = OF = 0; AF undefined: 0 */
		if (in->op == ATOMIC_NOT)
			o.changed = 0;
		break;
	}
	default: /* ADC, SBB, NEG: a compare-exchange loop */
		o.old = mem_load(p, size);
		do {
			if (in->op == ATOMIC_ADC)
				o.new = (o.old + src + cf) & mask;
			else if (in->op == ATOMIC_SBB)
				o.new = (o.old - src - cf) & mask;
			else
				o.new = -o.old & mask;
		} while (!mem_cas(p, size, &o.old, o.new));
		if (in->op == ATOMIC_ADC)
			o.set = flags_add(o.old, src, o.new, size);
		else if (in->op == ATOMIC_SBB)
			o.set = flags_sub(o.old, src, o.new, size);
		else
			o.set = flags_sub(0, o.old, o.new, size);
		break;
	}
	if (in->op == ATOMIC_INC || in->op == ATOMIC_DEC)
		o.changed &= ~ATOMIC_CF;
	return o;
}

/* BTS, BTR, BTC: CF is the bit before; the other flags stay (see atomic.h). */
static struct outcome bit_op(const struct atomic_insn *in, void *p, uint64_t offset)
{
	uint64_t bit = 1ULL << (offset & (8 * in->size - 1));
	struct outcome o = { .changed = ATOMIC_CF, .stored = true };

	if (in->op == ATOMIC_BTS)
		o.old = mem_fetch(p, in->size, FETCH_OR, bit);
	else if (in->op == ATOMIC_BTR)
		o.old = mem_fetch(p, in->size, FETCH_AND, ~bit);
	else
		o.old = mem_fetch(p, in->size, FETCH_XOR, bit);
	o.new = in->op == ATOMIC_BTS ? o.old | bit : in->op == ATOMIC_BTR ? o.old & ~bit : o.old ^ bit;
	o.set = o.old & bit ? ATOMIC_CF : 0;
	return o;
}

/* CMPXCHG8B and CMPXCHG16B: EDX:EAX (RDX:RAX) against memory, ZF says. */
static struct outcome cmpxchg_wide(const struct atomic_insn *in, void *p, struct atomic_regs *r,
				   struct atomic_mem *m)
{
	uint64_t *g = r->gpr;
	struct outcome o = { .changed = ATOMIC_ZF };

	if (in->size == 16) {
		uint64_t exp[2] = { g[ATOMIC_RAX], g[ATOMIC_RDX] };
		const uint64_t new[2] = { g[ATOMIC_RBX], g[ATOMIC_RCX] };

		o.stored = cas16(p, exp, new);
		m->old[0] = exp[0];
		m->old[1] = exp[1];
		m->new[0] = o.stored ? new[0] : exp[0];
		m->new[1] = o.stored ? new[1] : exp[1];
		if (!o.stored) {
			g[ATOMIC_RAX] = exp[0];
			g[ATOMIC_RDX] = exp[1];
		}
	} else {
		uint64_t exp = (g[ATOMIC_RDX] << 32) | (uint32_t)g[ATOMIC_RAX];
		uint64_t new = (g[ATOMIC_RCX] << 32) | (uint32_t)g[ATOMIC_RBX];

		o.stored = mem_cas(p, 8, &exp, new);
		m->old[0] = exp;
		m->new[0] = o.stored ? new : exp;
		if (!o.stored) {
			reg_write(r, ATOMIC_RAX, false, 4, exp);
			reg_write(r, ATOMIC_RDX, false, 4, exp >> 32);
		}
	}
	o.set = o.stored ? ATOMIC_ZF : 0;
	return o;
}

int atomic_exec(const struct atomic_insn *in, void *host, struct atomic_regs *r,
		struct atomic_mem *m)
{
	unsigned size = in->size;
	uint64_t mask = size_mask(size), src = 0;
	struct atomic_mem scratch;
	struct outcome o = { .stored = true };

	if ((uintptr_t)host & (size - 1))
		return -EOPNOTSUPP;
	if (!m)
		m = &scratch;
	memset(m, 0, sizeof(*m));
	if (in->has_imm)
		src = in->imm & mask;
	else if (in->reg >= 0)
		src = reg_read(r, in->reg, in->reg_high8, size);

	switch (in->op) {
	case ATOMIC_INC: case ATOMIC_DEC:
		src = 1;
		/* fall through */
	case ATOMIC_ADD: case ATOMIC_OR: case ATOMIC_ADC: case ATOMIC_SBB:
	case ATOMIC_AND: case ATOMIC_SUB: case ATOMIC_XOR: case ATOMIC_NOT: case ATOMIC_NEG:
		o = alu(in, host, src, r->rflags & ATOMIC_CF);
		break;
	case ATOMIC_BTS: case ATOMIC_BTR: case ATOMIC_BTC:
		o = bit_op(in, host, src);
		break;
	case ATOMIC_XADD:
		o.old = mem_fetch(host, size, FETCH_ADD, src);
		o.new = (o.old + src) & mask;
		o.set = flags_add(o.old, src, o.new, size);
		o.changed = ATOMIC_FLAGS;
		reg_write(r, in->reg, in->reg_high8, size, o.old);
		break;
	case ATOMIC_XCHG:
		o.old = mem_fetch(host, size, FETCH_XCHG, src);
		o.new = src;
		reg_write(r, in->reg, in->reg_high8, size, o.old);
		break;
	case ATOMIC_CMPXCHG: {
		uint64_t acc = reg_read(r, ATOMIC_RAX, false, size);

		o.old = acc;
		o.stored = mem_cas(host, size, &o.old, src);
		o.new = o.stored ? src : o.old;
		o.set = flags_sub(acc, o.old, (acc - o.old) & mask, size);
		o.changed = ATOMIC_FLAGS;
		if (!o.stored)
			reg_write(r, ATOMIC_RAX, false, size, o.old);
		break;
	}
	case ATOMIC_CMPXCHG8B:
		o = cmpxchg_wide(in, host, r, m);
		break;
	}
	if (in->op != ATOMIC_CMPXCHG8B) {
		m->old[0] = o.old;
		m->new[0] = o.new;
	}
	m->stored = o.stored;
	r->rflags = (r->rflags & ~o.changed) | (o.set & o.changed);
	r->rip += in->len;
	if (in->bits != 64)
		r->rip &= in->bits == 16 ? 0xffff : 0xffffffff;
	return 0;
}

int atomic_unwind(const struct atomic_insn *in, const struct atomic_regs *post,
		  const void *data, struct atomic_regs *pre)
{
	uint64_t d = 0, now;

	if (in->size <= 8)
		memcpy(&d, data, in->size);
	*pre = *post;
	pre->rip = post->rip - in->len;
	if (in->bits != 64)
		pre->rip &= in->bits == 16 ? 0xffff : 0xffffffff;
	switch (in->op) {
	case ATOMIC_ADC: case ATOMIC_SBB:
		return -EOPNOTSUPP;
	case ATOMIC_XADD: /* the register holds the old memory; data is old + it */
		now = reg_read(post, in->reg, in->reg_high8, in->size);
		reg_write(pre, in->reg, in->reg_high8, in->size, d - now);
		return 0;
	case ATOMIC_XCHG:
		reg_write(pre, in->reg, in->reg_high8, in->size, d);
		return 0;
	case ATOMIC_CMPXCHG: case ATOMIC_CMPXCHG8B:
		return post->rflags & ATOMIC_ZF ? 0 : -EALREADY;
	default: /* only flags and memory changed, and the flags read are kept */
		return 0;
	}
}

/* Do a and b (from their registers before) leave the same registers and
 * memory, on a few memory values? */
static bool same_effect(const struct atomic_insn *a, const struct atomic_regs *pre_a,
			const struct atomic_insn *b, const struct atomic_regs *pre_b,
			const void *data)
{
	uint64_t samples[5][2] = { { 0, 0 }, { ~0ULL, ~0ULL }, { 0x5a5a5a5a5a5a5a5a, 1 } };

	memcpy(samples[3], data, a->size < 16 ? a->size : 8);
	samples[4][0] = samples[3][0] ^ 0x0101010101010101;
	for (int k = 0; k < 5; k++) {
		_Alignas(16) uint64_t ma[2], mb[2];
		struct atomic_regs ra = *pre_a, rb = *pre_b;

		memcpy(ma, samples[k], sizeof(ma));
		memcpy(mb, samples[k], sizeof(mb));
		if (atomic_exec(a, ma, &ra, NULL) || atomic_exec(b, mb, &rb, NULL))
			return false;
		if (memcmp(ra.gpr, rb.gpr, sizeof(ra.gpr)) || ra.rip != rb.rip ||
		    ra.rflags != rb.rflags || memcmp(ma, mb, sizeof(ma)))
			return false;
	}
	return true;
}

int atomic_find(const uint8_t *tail, size_t n, int bits, const struct atomic_segs *segs,
		const struct atomic_regs *post, const void *data, unsigned len,
		bool (*matches)(void *opaque, uint64_t linear), void *opaque,
		struct atomic_insn *insn, struct atomic_regs *pre)
{
	int found = -ENOENT;

	for (size_t k = n < ATOMIC_INSN_MAX ? n : ATOMIC_INSN_MAX; k > 0; k--) {
		struct atomic_insn in;
		struct atomic_regs before;
		int ret;

		if (atomic_decode(tail + n - k, k, bits, &in) || in.len != k)
			continue;
		if (!in.lock && in.op != ATOMIC_XCHG)
			continue; /* not atomic on the CPU either: KVM's emulation is right */
		if (in.size != len && !(in.size == 16 && len == 8))
			continue;
		ret = atomic_unwind(&in, post, data, &before);
		if (ret && ret != -EALREADY && ret != -EOPNOTSUPP)
			continue;
		if (!matches(opaque, atomic_linear(&in, segs, &before)))
			continue;
		if (found == -ENOENT) {
			*insn = in;
			*pre = before;
			found = ret;
		} else if (ret != found || (!ret && !same_effect(insn, pre, &in, &before, data))) {
			return -ENOTUNIQ;
		}
	}
	return found;
}
