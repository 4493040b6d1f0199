/* unit_atomic.c - vmm/atomic.c against the host CPU, no KVM.
 *
 * The differential tests encode each instruction form with random registers,
 * addressing, prefixes, operands and flags into an executable page, between a
 * prologue that loads all sixteen registers and RFLAGS from a context and an
 * epilogue that stores them back; the page runs natively on a memory page,
 * and the very same bytes go through atomic_decode/atomic_linear/atomic_exec
 * on a copy of that page.  Registers, flags and every byte of the page must
 * come out the same.  The same run also checks atomic_unwind the way the vmm
 * will use it: from the state after the instruction (which is what KVM hands
 * over at its MMIO exit) back to the state before, and forward again.
 *
 * ATOMIC_SEED and ATOMIC_ITERS override the seed and the iterations per form.
 * 16-bit code cannot run here: those tests check hand-computed results.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <asm/prctl.h>
#include <unistd.h>

#include "tests/test.h"
#include "vmm/atomic.h"

#define PAGE 4096
#define STATUS_FLAGS ATOMIC_FLAGS
#define DF (1ULL << 10)

static uint64_t seed = 20260601, rng;
static unsigned iters = 2000;
static uint64_t fs_base, gs_base;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint64_t rnd_below(uint64_t n)
{
	return rnd() % n;
}

/* Values that make flags interesting more often than uniform ones would. */
static uint64_t rnd_value(void)
{
	static const uint64_t edges[] = {
		0, 1, 2, 0xf, 0x10, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff,
		0x7fffffff, 0x80000000, 0xffffffff, 0x7fffffffffffffff, 0x8000000000000000,
		0xffffffffffffffff, 0xfffffffffffffffe,
	};

	switch (rnd_below(8)) {
	case 0: return rnd_below(4);
	case 1: return -rnd_below(4);
	case 2: case 3: return edges[rnd_below(sizeof(edges) / sizeof(edges[0]))];
	default: return rnd();
	}
}

/* ---- the native harness ---------------------------------------------------- */

/* What the JIT code loads before the instruction and stores after it. */
struct ctx {
	uint64_t in[16], in_flags;
	uint64_t out[16], out_flags;
	uint64_t host_rsp;
};

#define OFF_IN(r) (offsetof(struct ctx, in) + 8 * (r))
#define OFF_OUT(r) (offsetof(struct ctx, out) + 8 * (r))

static struct ctx ctx;
static uint8_t *jit;   /* one RWX page below 2 GiB */
static uint8_t *arena; /* the native run's memory page, below 2 GiB */
static uint8_t *copy;  /* the emulator's */
static uint8_t *unwound; /* atomic_unwind's replay */

struct buf {
	uint8_t *p;
	size_t n;
};

static void put(struct buf *b, uint8_t x)
{
	b->p[b->n++] = x;
}

static void put32(struct buf *b, uint64_t v)
{
	for (int k = 0; k < 4; k++)
		put(b, (uint8_t)(v >> (8 * k)));
}

static void put64(struct buf *b, uint64_t v)
{
	put32(b, v);
	put32(b, v >> 32);
}

/* mov reg, [rax + off] (load) or mov [rax + off], reg (store): REX.W 8B/89 /r */
static void mov_rax_rel(struct buf *b, int reg, size_t off, bool store)
{
	put(b, 0x48 | (reg >= 8 ? 4 : 0));
	put(b, store ? 0x89 : 0x8b);
	put(b, 0x80 | (reg & 7) << 3);
	put32(b, off);
}

/* Prologue, instruction, epilogue; returns where the instruction starts. */
static uint8_t *jit_build(const uint8_t *insn, size_t len)
{
	struct buf b = { jit, 0 };
	uint8_t *at;

	put(&b, 0x53);                    /* push rbx */
	put(&b, 0x55);                    /* push rbp */
	for (int r = 12; r <= 15; r++) {  /* push r12..r15 */
		put(&b, 0x41);
		put(&b, 0x50 + (r & 7));
	}
	put(&b, 0x48), put(&b, 0xb8), put64(&b, (uintptr_t)&ctx); /* movabs rax, &ctx */
	mov_rax_rel(&b, ATOMIC_RSP, offsetof(struct ctx, host_rsp), true);
	put(&b, 0xff), put(&b, 0xb0), put32(&b, offsetof(struct ctx, in_flags)); /* push [rax+] */
	put(&b, 0x9d);                                                          /* popfq */
	for (int r = 1; r < 16; r++)
		mov_rax_rel(&b, r, OFF_IN(r), false);
	mov_rax_rel(&b, ATOMIC_RAX, OFF_IN(0), false);

	at = b.p + b.n;
	memcpy(at, insn, len);
	b.n += len;

	put(&b, 0x48), put(&b, 0xa3), put64(&b, (uintptr_t)&ctx.out[0]); /* movabs [], rax */
	put(&b, 0x48), put(&b, 0xb8), put64(&b, (uintptr_t)&ctx);
	for (int r = 1; r < 16; r++)
		mov_rax_rel(&b, r, OFF_OUT(r), true);
	mov_rax_rel(&b, ATOMIC_RSP, offsetof(struct ctx, host_rsp), false);
	put(&b, 0x9c);                                                          /* pushfq */
	put(&b, 0x8f), put(&b, 0x80), put32(&b, offsetof(struct ctx, out_flags)); /* pop [rax+] */
	for (int r = 15; r >= 12; r--) {
		put(&b, 0x41);
		put(&b, 0x58 + (r & 7));
	}
	put(&b, 0x5d), put(&b, 0x5b); /* pop rbp, rbx */
	put(&b, 0xfc);                /* cld: the test may have set DF */
	put(&b, 0xc3);
	return at;
}

static sigjmp_buf native_jmp;

static void native_fault(int sig)
{
	siglongjmp(native_jmp, sig);
}

/* Run the page; 0, or the signal the instruction raised. */
static int jit_run(void)
{
	void (*fn)(void) = (void (*)(void))(uintptr_t)jit;
	int sig = sigsetjmp(native_jmp, 1);

	if (sig)
		return sig;
	fn();
	return 0;
}

static void harness_setup(void)
{
	static uint8_t altstack[64 * 1024];
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	struct sigaction sa = { .sa_handler = native_fault, .sa_flags = SA_ONSTACK | SA_NODEFER };
	const char *s;

	if ((s = getenv("ATOMIC_SEED")))
		seed = strtoull(s, NULL, 0);
	if ((s = getenv("ATOMIC_ITERS")))
		iters = (unsigned)strtoul(s, NULL, 0);
	printf("# seed %" PRIu64 " (ATOMIC_SEED), %u iterations per form (ATOMIC_ITERS)\n", seed,
	       iters);
	jit = mmap(NULL, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	arena = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT,
		     -1, 0);
	copy = aligned_alloc(PAGE, PAGE);
	unwound = aligned_alloc(PAGE, PAGE);
	if (jit == MAP_FAILED || arena == MAP_FAILED || !copy || !unwound) {
		jit = NULL;
		return;
	}
	sigaltstack(&ss, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGILL, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
	syscall(SYS_arch_prctl, ARCH_GET_FS, &fs_base);
	syscall(SYS_arch_prctl, ARCH_GET_GS, &gs_base);
}

/* ---- instruction forms ----------------------------------------------------- */

enum src { SRC_NONE, SRC_REG, SRC_IMM8, SRC_IMMZ };

struct form {
	const char *name;
	enum atomic_op op;
	uint8_t opc[2], nopc;
	int ext;       /* ModRM.reg as an opcode extension; -1: a register operand */
	enum src src;
	unsigned size;
	uint64_t undefined; /* flags the SDM leaves undefined */
};

/* Everything random about one instance of a form. */
struct instance {
	const struct form *f;
	uint8_t bytes[16];
	size_t len;
	uint64_t target; /* linear address of the operand the CPU touches */
	int reg;         /* register operand, -1: none */
	int base, index; /* addressing registers, -1: none */
};

static uint64_t mask_of(unsigned size)
{
	return size >= 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
}

/* x such that a * x = 1 modulo 2^64, for odd a. */
static uint64_t inverse(uint64_t a)
{
	uint64_t x = a;

	for (int k = 0; k < 6; k++)
		x *= 2 - a * x;
	return x;
}

static bool fits32(int64_t v)
{
	return v >= INT32_MIN && v <= INT32_MAX;
}

/* Build one instance: registers in ctx.in, memory in arena, bytes. */
static void make_instance(const struct form *f, struct instance *x)
{
	const unsigned size = f->size;
	const bool bt_reg = f->op >= ATOMIC_BTS && f->op <= ATOMIC_BTC && f->src == SRC_REG;
	uint8_t pfx[8];
	size_t npfx = 0, disp_at = 0;
	unsigned rex = 0, adsize, dsize, mod, scale;
	int seg = -1, mode;
	uint64_t final_off, t0, segbase = 0, ea, amask;
	int64_t words = 0, disp = 0;
	struct buf b = { x->bytes, 0 };

	memset(x, 0, sizeof(*x));
	x->f = f;
	for (int r = 0; r < 16; r++)
		ctx.in[r] = rnd_value();
	ctx.in_flags = 2 | (rnd() & (STATUS_FLAGS | DF));
	for (int k = 0; k < PAGE; k += 8)
		memcpy(arena + k, &(uint64_t){ rnd() }, 8);

	/* where the operand is, and for BTx with a register how far off ModRM */
	final_off = rnd_below(PAGE / size) * size;
	if (bt_reg && rnd_below(4)) {
		int64_t lo = -(int64_t)(final_off / size), hi = (PAGE - size - final_off) / size;

		words = rnd_below(2) ? lo + (int64_t)rnd_below(hi - lo + 1)
				     : (int64_t)rnd_below(5) - 2;
		if (words < lo || words > hi)
			words = 0;
	}
	t0 = final_off - words * size;
	x->target = (uintptr_t)arena + final_off;

	/* the register operand */
	x->reg = -1;
	if (f->src == SRC_REG) {
		x->reg = (int)rnd_below(16);
	}

	/* addressing: 0 [base], 1 [base+index*s], 2 [index*s], 3 [disp32], 4 [rip] */
	adsize = rnd_below(5) ? 8 : 4;
	amask = mask_of(adsize);
	x->base = x->index = -1;
	mode = (int)rnd_below(8);
	mode = mode < 3 ? 0 : mode < 5 ? 1 : mode - 3;
	if (mode == 0 || mode == 1)
		x->base = (int)rnd_below(16);
	if (mode == 1 || mode == 2)
		do
			x->index = (int)rnd_below(16);
		while (x->index == ATOMIC_RSP);
	while (bt_reg && (x->reg == x->base || x->reg == x->index))
		x->reg = (x->reg + 1) & 15; /* it holds the bit offset */
	scale = 1u << rnd_below(4);
	dsize = mode >= 2 ? 4 : (unsigned[]){ 0, 1, 4 }[rnd_below(3)];
	if (x->base >= 0 && (x->base & 7) == 5 && dsize == 0)
		dsize = 1; /* [rbp] and [r13] need a displacement */
	if (dsize == 1)
		disp = (int64_t)(rnd() & 0xff) - 128;
	else if (dsize == 4)
		disp = (int32_t)rnd();

	/* a segment override: ignored ones, or FS/GS where they can reach */
	switch (rnd_below(6)) {
	case 0: seg = (int)(rnd_below(4)); break; /* ES CS SS DS */
	case 1: seg = ATOMIC_FS + (int)rnd_below(2); break;
	default: break;
	}
	if (seg >= ATOMIC_FS) {
		segbase = seg == ATOMIC_FS ? fs_base : gs_base;
		if (mode >= 3 || (adsize == 4 && (uintptr_t)arena + t0 - segbase > 0xffffffffULL))
			seg = -1, segbase = 0;
	}
	ea = ((uintptr_t)arena + t0 - segbase) & amask;

	/* prefixes */
	if (f->op != ATOMIC_XCHG || rnd_below(2))
		pfx[npfx++] = 0xf0;
	if (size == 2 || (rnd_below(8) == 0 && (size == 1 || size >= 8)))
		pfx[npfx++] = 0x66;
	if (adsize == 4)
		pfx[npfx++] = 0x67;
	if (seg >= 0)
		pfx[npfx++] = (uint8_t[]){ 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65 }[seg];
	if (rnd_below(16) == 0)
		pfx[npfx++] = rnd_below(2) ? 0xf2 : 0xf3; /* XACQUIRE/XRELEASE hints */
	for (size_t k = npfx; k > 1; k--) {
		size_t j = rnd_below(k);
		uint8_t t = pfx[k - 1];

		pfx[k - 1] = pfx[j];
		pfx[j] = t;
	}
	if (npfx && rnd_below(16) == 0)
		put(&b, 0x40 | (uint8_t)rnd_below(16)); /* a REX before legacy prefixes counts not */
	for (size_t k = 0; k < npfx; k++)
		put(&b, pfx[k]);

	if (size == 16 || (size == 8 && f->op != ATOMIC_CMPXCHG8B))
		rex |= 8;
	if (x->reg >= 8)
		rex |= 4;
	if (x->index >= 8)
		rex |= 2;
	if (x->base >= 8)
		rex |= 1;
	if (rex || (size == 1 && rnd_below(2)))
		put(&b, 0x40 | rex); /* with REX, byte registers 4-7 are SPL..DIL */

	for (unsigned k = 0; k < f->nopc; k++)
		put(&b, f->opc[k]);
	{
		unsigned regf = f->ext >= 0 ? (unsigned)f->ext : (unsigned)(x->reg & 7);

		mod = dsize == 0 ? 0 : dsize == 1 ? 1 : 2;
		if (mode == 4) {
			put(&b, (uint8_t)(regf << 3 | 5));
		} else if (mode == 0 && (x->base & 7) != 4 && rnd_below(4)) {
			put(&b, (uint8_t)(mod << 6 | regf << 3 | (x->base & 7)));
		} else {
			unsigned ss = scale == 1 ? 0 : scale == 2 ? 1 : scale == 4 ? 2 : 3;
			unsigned idx = x->index < 0 ? 4 : (unsigned)(x->index & 7);
			unsigned bas = x->base < 0 ? 5 : (unsigned)(x->base & 7);

			if (x->base < 0)
				mod = 0;
			put(&b, (uint8_t)(mod << 6 | regf << 3 | 4));
			put(&b, (uint8_t)(ss << 6 | idx << 3 | bas));
		}
	}
	disp_at = b.n;
	if (dsize == 1)
		put(&b, (uint8_t)disp);
	else if (dsize == 4)
		put32(&b, (uint64_t)disp);
	if (f->src == SRC_IMM8)
		put(&b, (uint8_t)rnd_value());
	else if (f->src == SRC_IMMZ && size == 2)
		put(&b, (uint8_t)rnd_value()), put(&b, (uint8_t)rnd());
	else if (f->src == SRC_IMMZ)
		put32(&b, rnd_value());
	x->len = b.n;

	/* register values that make the address come out at the operand */
	if (mode == 4) {
		uint64_t next = (uintptr_t)jit_build(x->bytes, x->len) + x->len;

		disp = (int64_t)(ea - next);
		if (adsize == 4)
			disp = (int32_t)(uint32_t)disp;
	} else if (mode == 3) {
		disp = (int32_t)(uint32_t)ea;
	} else if (mode == 2) {
		uint64_t rest = (ea - (uint64_t)disp) & amask;

		disp += (int64_t)(rest & (scale - 1));
		rest = (ea - (uint64_t)disp) & amask;
		/* any multiple of 2^address bits / scale may be added */
		uint64_t period = adsize == 4 ? (1ULL << 32) / scale
				  : scale > 1 ? 1ULL << (64 - __builtin_ctz(scale)) : 0;

		ctx.in[x->index] = rest / scale + period * (rnd() & 0xff);
	} else if (x->index >= 0 && x->index == x->base) {
		uint64_t rest = (ea - (uint64_t)disp) & amask;

		if (scale == 1) {
			if (rest & 1) {
				if (dsize == 0)
					x->len = 0; /* no displacement to make it even */
				disp += disp == 127 || disp == INT32_MAX ? -1 : 1;
				rest = (ea - (uint64_t)disp) & amask;
			}
			ctx.in[x->base] = rest / 2 + (rnd_below(2) ? (amask >> 1) + 1 : 0);
		} else {
			ctx.in[x->base] = rest * inverse(scale + 1);
		}
	} else {
		if (x->index >= 0)
			ctx.in[x->index] = rnd();
		ctx.in[x->base] = ea - (uint64_t)disp -
				  (x->index >= 0 ? ctx.in[x->index] * scale : 0);
	}
	if (adsize == 4) /* upper halves are ignored: make them noise */
		for (int r = 0; r < 16; r++)
			if (r == x->base || r == x->index)
				ctx.in[r] = (ctx.in[r] & 0xffffffff) | rnd() << 32;
	if (dsize == 1)
		x->bytes[disp_at] = (uint8_t)disp;
	else if (dsize == 4)
		for (int k = 0; k < 4; k++)
			x->bytes[disp_at + k] = (uint8_t)((uint64_t)disp >> (8 * k));
	if (!fits32(disp) || (dsize == 1 && disp != (int8_t)disp) || x->len > 15)
		x->len = 0; /* cannot be encoded: the caller tries again */

	/* the bit offset register of BTx */
	if (bt_reg) {
		int64_t off = words * 8 * (int64_t)size + (int64_t)rnd_below(8 * size);

		ctx.in[x->reg] = (rnd() & ~mask_of(size)) | ((uint64_t)off & mask_of(size));
	}
	/* CMPXCHG*: about half the comparisons succeed */
	if (rnd_below(2)) {
		if (f->op == ATOMIC_CMPXCHG) {
			memcpy(arena + final_off, &ctx.in[ATOMIC_RAX], size);
		} else if (f->op == ATOMIC_CMPXCHG8B && size == 8) {
			uint32_t pair[2] = { (uint32_t)ctx.in[ATOMIC_RAX], (uint32_t)ctx.in[ATOMIC_RDX] };

			memcpy(arena + final_off, pair, 8);
		} else if (f->op == ATOMIC_CMPXCHG8B) {
			memcpy(arena + final_off, &ctx.in[ATOMIC_RAX], 8);
			memcpy(arena + final_off + 8, &ctx.in[ATOMIC_RDX], 8);
		}
	} else {
		uint64_t v = rnd_value();

		memcpy(arena + final_off, &v, size < 8 ? size : 8);
	}
}

/* ---- the comparison -------------------------------------------------------- */

static char *hex(const uint8_t *p, size_t n)
{
	static char s[64];

	s[0] = 0;
	for (size_t k = 0; k < n && k < 20; k++)
		snprintf(s + 2 * k, 3, "%02x", p[k]);
	return s;
}

static unsigned undefined_mismatches, sigill_retries;
static uint64_t undefined_seen;

/* The native run and the emulation of one instance must agree. */
static void check_instance(const struct instance *x, unsigned it)
{
	const struct form *f = x->f;
	struct atomic_insn in;
	struct atomic_segs segs = { .base = { [ATOMIC_FS] = fs_base, [ATOMIC_GS] = gs_base } };
	struct atomic_regs pre, emu, post, back;
	struct atomic_mem m;
	uint8_t *at = jit_build(x->bytes, x->len);
	uint64_t lin, diff;
	int err, sig;

	memcpy(copy, arena, PAGE);
	memcpy(unwound, arena, PAGE);
	memcpy(pre.gpr, ctx.in, sizeof(pre.gpr));
	pre.rip = (uintptr_t)at;
	pre.rflags = ctx.in_flags;

	/* This host may itself be a guest: its hypervisor emulates an
	 * instruction now and then (a write to a page it write-protects), and
	 * KVM's emulator answers one it cannot do with #UD.  A #UD does nothing,
	 * so the same run is tried again. */
	for (int tries = 0; (sig = jit_run()) == SIGILL && tries < 3; tries++)
		sigill_retries++;
	TEST_ASSERT(!sig, "%s #%u: the host raised signal %d on %s", f->name, it, sig,
		    hex(x->bytes, x->len));

	err = atomic_decode(at, 15, 64, &in);
	TEST_ASSERT(!err, "%s #%u: decode %s: %d", f->name, it, hex(x->bytes, x->len), err);
	TEST_ASSERT(in.op == f->op && in.size == f->size && in.len == x->len,
		    "%s #%u: %s decoded as %s size %u len %u", f->name, it,
		    hex(x->bytes, x->len), atomic_op_name(in.op), in.size, in.len);
	lin = atomic_linear(&in, &segs, &pre);
	TEST_ASSERT(lin == x->target, "%s #%u: %s: linear 0x%" PRIx64 " != 0x%" PRIx64, f->name,
		    it, hex(x->bytes, x->len), lin, x->target);

	emu = pre;
	err = atomic_exec(&in, copy + (lin - (uintptr_t)arena), &emu, &m);
	TEST_ASSERT(!err, "%s #%u: exec: %d", f->name, it, err);
	for (int r = 0; r < 16; r++)
		TEST_ASSERT(emu.gpr[r] == ctx.out[r],
			    "%s #%u: %s: r%d emulated 0x%" PRIx64 ", host 0x%" PRIx64 " (was 0x%"
			    PRIx64 ")", f->name, it, hex(x->bytes, x->len), r, emu.gpr[r],
			    ctx.out[r], ctx.in[r]);
	TEST_ASSERT(emu.rip == pre.rip + x->len, "%s #%u: rip", f->name, it);
	diff = (emu.rflags ^ ctx.out_flags) & (STATUS_FLAGS | DF);
	TEST_ASSERT(!(diff & ~f->undefined),
		    "%s #%u: %s: flags emulated 0x%" PRIx64 ", host 0x%" PRIx64 " (were 0x%"
		    PRIx64 ")", f->name, it, hex(x->bytes, x->len), emu.rflags & 0xcd5,
		    ctx.out_flags & 0xcd5, ctx.in_flags);
	undefined_seen |= f->undefined;
	if (diff) {
		if (!undefined_mismatches)
			printf("# %s: undefined flags 0x%" PRIx64 " differ from the host's\n",
			       f->name, diff);
		undefined_mismatches++;
	}
	TEST_ASSERT(!memcmp(copy, arena, PAGE), "%s #%u: %s: memory differs", f->name, it,
		    hex(x->bytes, x->len));

	/* What the vmm gets at KVM's MMIO exit: the state after, and the data
	 * written.  Back to before, and forward again, on the memory before. */
	memcpy(post.gpr, ctx.out, sizeof(post.gpr));
	post.rip = pre.rip + x->len;
	post.rflags = ctx.out_flags;
	err = atomic_unwind(&in, &post, arena + (lin - (uintptr_t)arena), &back);
	if (f->op == ATOMIC_ADC || f->op == ATOMIC_SBB) {
		TEST_ASSERT(err == -EOPNOTSUPP, "%s #%u: unwind %d", f->name, it, err);
		return;
	}
	if (err == -EALREADY) {
		TEST_ASSERT((f->op == ATOMIC_CMPXCHG || f->op == ATOMIC_CMPXCHG8B) && !m.stored,
			    "%s #%u: unwind -EALREADY after a store", f->name, it);
		return;
	}
	TEST_ASSERT(!err, "%s #%u: unwind %d", f->name, it, err);
	TEST_ASSERT(back.rip == pre.rip, "%s #%u: unwound rip", f->name, it);
	err = atomic_exec(&in, unwound + (lin - (uintptr_t)arena), &back, NULL);
	TEST_ASSERT(!err, "%s #%u: exec after unwind: %d", f->name, it, err);
	for (int r = 0; r < 16; r++)
		TEST_ASSERT(back.gpr[r] == ctx.out[r], "%s #%u: %s: r%d after unwind 0x%" PRIx64
			    ", host 0x%" PRIx64, f->name, it, hex(x->bytes, x->len), r,
			    back.gpr[r], ctx.out[r]);
	TEST_ASSERT(!((back.rflags ^ emu.rflags) & (STATUS_FLAGS | DF) & ~f->undefined),
		    "%s #%u: flags after unwind", f->name, it);
	TEST_ASSERT(!memcmp(unwound, arena, PAGE), "%s #%u: memory after unwind", f->name, it);
}

static void run_forms(const struct form *forms, size_t n)
{
	struct instance x;

	if (!jit)
		TEST_SKIP("no executable page below 2 GiB (mmap MAP_32BIT, PROT_EXEC)");
	rng = seed ^ (uintptr_t)forms->name[0] << 32 ^ forms->op;
	for (size_t k = 0; k < n; k++) {
		for (unsigned it = 0; it < iters; it++) {
			do
				make_instance(&forms[k], &x);
			while (!x.len);
			check_instance(&x, it);
		}
	}
}

#define LOGIC_UNDEF ATOMIC_AF
#define BT_UNDEF (ATOMIC_OF | ATOMIC_SF | ATOMIC_AF | ATOMIC_PF)

/* ADD OR ADC SBB AND SUB XOR: 00+8n r/m8,r8; 01+8n r/m,r; 80 81 83 /n. */
static void test_diff_alu(void)
{
	static const char *const names[] = { "add", "or", "adc", "sbb", "and", "sub", "xor" };
	static struct form forms[7 * 11];
	static char label[7 * 11][32];
	size_t n = 0;

	for (int op = 0; op < 7; op++) {
		uint64_t undef = op == ATOMIC_OR || op == ATOMIC_AND || op == ATOMIC_XOR ? LOGIC_UNDEF : 0;

		for (unsigned size = 1; size <= 8; size *= 2) {
			snprintf(label[n], sizeof(label[n]), "%s m%u,r", names[op], 8 * size);
			forms[n] = (struct form){ label[n], (enum atomic_op)op,
						  { (uint8_t)(op * 8 + (size > 1)) }, 1, -1, SRC_REG,
						  size, undef };
			n++;
			snprintf(label[n], sizeof(label[n]), "%s m%u,imm", names[op], 8 * size);
			forms[n] = (struct form){ label[n], (enum atomic_op)op,
						  { size == 1 ? 0x80 : 0x81 }, 1, op, size == 1 ? SRC_IMM8 : SRC_IMMZ,
						  size, undef };
			n++;
			if (size > 1) {
				snprintf(label[n], sizeof(label[n]), "%s m%u,imm8", names[op], 8 * size);
				forms[n] = (struct form){ label[n], (enum atomic_op)op, { 0x83 }, 1, op,
							  SRC_IMM8, size, undef };
				n++;
			}
		}
	}
	run_forms(forms, n);
}

/* INC DEC (FE FF /0 /1), NOT NEG (F6 F7 /2 /3). */
static void test_diff_unary(void)
{
	static struct form forms[16];
	static char label[16][16];
	static const struct { const char *name; enum atomic_op op; uint8_t opc; int ext; } u[] = {
		{ "inc", ATOMIC_INC, 0xfe, 0 }, { "dec", ATOMIC_DEC, 0xfe, 1 },
		{ "not", ATOMIC_NOT, 0xf6, 2 }, { "neg", ATOMIC_NEG, 0xf6, 3 },
	};
	size_t n = 0;

	for (int k = 0; k < 4; k++)
		for (unsigned size = 1; size <= 8; size *= 2) {
			snprintf(label[n], sizeof(label[n]), "%s m%u", u[k].name, 8 * size);
			forms[n] = (struct form){ label[n], u[k].op, { (uint8_t)(u[k].opc + (size > 1)) },
						  1, u[k].ext, SRC_NONE, size, 0 };
			n++;
		}
	run_forms(forms, n);
}

/* BTS BTR BTC: 0F AB/B3/BB with a register, 0F BA /5-/7 with imm8. */
static void test_diff_bt(void)
{
	static struct form forms[18];
	static char label[18][24];
	static const struct { const char *name; enum atomic_op op; uint8_t opc; int ext; } u[] = {
		{ "bts", ATOMIC_BTS, 0xab, 5 }, { "btr", ATOMIC_BTR, 0xb3, 6 },
		{ "btc", ATOMIC_BTC, 0xbb, 7 },
	};
	size_t n = 0;

	for (int k = 0; k < 3; k++)
		for (unsigned size = 2; size <= 8; size *= 2) {
			snprintf(label[n], sizeof(label[n]), "%s m%u,r", u[k].name, 8 * size);
			forms[n] = (struct form){ label[n], u[k].op, { 0x0f, u[k].opc }, 2, -1, SRC_REG,
						  size, BT_UNDEF };
			n++;
			snprintf(label[n], sizeof(label[n]), "%s m%u,imm8", u[k].name, 8 * size);
			forms[n] = (struct form){ label[n], u[k].op, { 0x0f, 0xba }, 2, u[k].ext,
						  SRC_IMM8, size, BT_UNDEF };
			n++;
		}
	run_forms(forms, n);
}

/* XADD (0F C0 C1), XCHG (86 87), CMPXCHG (0F B0 B1). */
static void test_diff_exchange(void)
{
	static struct form forms[12];
	static char label[12][24];
	size_t n = 0;

	for (unsigned size = 1; size <= 8; size *= 2) {
		uint8_t w = size > 1;

		snprintf(label[n], sizeof(label[n]), "xadd m%u,r", 8 * size);
		forms[n] = (struct form){ label[n], ATOMIC_XADD, { 0x0f, 0xc0 | w }, 2, -1, SRC_REG,
					  size, 0 };
		n++;
		snprintf(label[n], sizeof(label[n]), "xchg m%u,r", 8 * size);
		forms[n] = (struct form){ label[n], ATOMIC_XCHG, { 0x86 | w }, 1, -1, SRC_REG, size, 0 };
		n++;
		snprintf(label[n], sizeof(label[n]), "cmpxchg m%u,r", 8 * size);
		forms[n] = (struct form){ label[n], ATOMIC_CMPXCHG, { 0x0f, 0xb0 | w }, 2, -1, SRC_REG,
					  size, 0 };
		n++;
	}
	run_forms(forms, n);
}

/* CMPXCHG8B, CMPXCHG16B (0F C7 /1, REX.W). */
static void test_diff_cmpxchg8b16b(void)
{
	static const struct form forms[] = {
		{ "cmpxchg8b", ATOMIC_CMPXCHG8B, { 0x0f, 0xc7 }, 2, 1, SRC_NONE, 8, 0 },
		{ "cmpxchg16b", ATOMIC_CMPXCHG8B, { 0x0f, 0xc7 }, 2, 1, SRC_NONE, 16, 0 },
	};

	run_forms(forms, 2);
}

/* The flags the SDM leaves undefined, as this host sets them: atomic.c models
 * an AMD EPYC.  Another CPU may differ; that is said, not failed. */
static void test_undefined_flags_as_host(void)
{
	if (!jit)
		TEST_SKIP("no native runs");
	TEST_ASSERT(undefined_seen == (LOGIC_UNDEF | BT_UNDEF));
	if (undefined_mismatches)
		TEST_SKIP("%u runs set undefined flags unlike the model (AND/OR/XOR: AF=0; "
			  "BTx: OF SF AF PF kept): this CPU is not the one measured",
			  undefined_mismatches);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	harness_setup();
	RUN_TEST(test_diff_alu);
	RUN_TEST(test_diff_unary);
	RUN_TEST(test_diff_bt);
	RUN_TEST(test_diff_exchange);
	RUN_TEST(test_diff_cmpxchg8b16b);
	RUN_TEST(test_undefined_flags_as_host);
	if (sigill_retries)
		printf("# %u native runs raised SIGILL once and were run again\n", sigill_retries);
	TEST_MAIN_END();
}
