/* atomic.h - locked read-modify-write instructions, carried out by the vmm.
 *
 * A write watchpoint maps its page read-only, and KVM emulates a locked
 * read-modify-write there as a plain read and an MMIO write, which another
 * vCPU can slip between.  This module decodes such an instruction and does it
 * again on guest RAM with one host atomic, giving the registers and flags the
 * CPU would.  Pure code: no KVM calls, no globals.
 *
 *   atomic_decode   instruction bytes -> struct atomic_insn (or a refusal)
 *   atomic_linear   the memory operand's linear address, to cross-check the
 *                   guest-physical address KVM reported
 *   atomic_exec     the operation on a host pointer, registers and RIP updated
 *   atomic_unwind   the registers before the instruction, from those after it
 *                   and the data of the write (KVM's exit comes after)
 *   atomic_find     the instruction that ends at RIP, when only RIP after it
 *                   is known (KVM's MMIO write exit)
 *
 * Covered, with or without LOCK (XCHG is locked either way), in 1/2/4/8-byte
 * operand sizes, in 16-, 32- and 64-bit code: ADD OR ADC SBB AND SUB XOR
 * (00-35 /r with memory destination, 80 81 83, and 82 outside 64-bit mode),
 * INC DEC (FE FF /0 /1), NOT NEG (F6 F7 /2 /3), BTS BTR BTC (0F AB B3 BB with
 * a register bit offset, which may reach outside the operand; 0F BA /5-/7),
 * XADD (0F C0 C1), XCHG (86 87), CMPXCHG (0F B0 B1), CMPXCHG8B and, with
 * REX.W, CMPXCHG16B (0F C7 /1).
 *
 * At KVM's MMIO write exit on a watched page (vmm/watch_write.c does this),
 * KVM has emulated the whole instruction and written back the
 * registers, RFLAGS and RIP; only the memory write is left, and completing
 * the exit does nothing more.  So: the registers, the 15 bytes before RIP,
 * atomic_find with a matches() that translates the linear address and
 * compares it with the exit's guest-physical address, and then
 *   0           atomic_exec from pre on the guest RAM the exit names, the
 *               registers it leaves set back, KVM's data dropped;
 *   -EALREADY   KVM's data dropped (a failed CMPXCHG* stores nothing);
 *   otherwise   KVM's data written as before (not atomic).
 *
 * Flags are the SDM's.  The ones it leaves undefined are as measured on an
 * AMD EPYC host by tests/unit_atomic.c: AND, OR and XOR clear AF; BTS, BTR
 * and BTC leave OF, SF, AF and PF as they were (and ZF, as defined).  The
 * test says so when another CPU does otherwise.
 */
#ifndef VMM_ATOMIC_H
#define VMM_ATOMIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* General-purpose registers in the order instructions encode them. */
enum atomic_gpr {
	ATOMIC_RAX, ATOMIC_RCX, ATOMIC_RDX, ATOMIC_RBX,
	ATOMIC_RSP, ATOMIC_RBP, ATOMIC_RSI, ATOMIC_RDI,
	ATOMIC_R8, ATOMIC_R9, ATOMIC_R10, ATOMIC_R11,
	ATOMIC_R12, ATOMIC_R13, ATOMIC_R14, ATOMIC_R15,
};

/* Segment registers in the order instructions encode them. */
enum atomic_seg { ATOMIC_ES, ATOMIC_CS, ATOMIC_SS, ATOMIC_DS, ATOMIC_FS, ATOMIC_GS };

/* RFLAGS status bits; ATOMIC_FLAGS is all the instructions here may change. */
#define ATOMIC_INSN_MAX 15 /* bytes of an x86 instruction, at most */

#define ATOMIC_CF (1ULL << 0)
#define ATOMIC_PF (1ULL << 2)
#define ATOMIC_AF (1ULL << 4)
#define ATOMIC_ZF (1ULL << 6)
#define ATOMIC_SF (1ULL << 7)
#define ATOMIC_OF (1ULL << 11)
#define ATOMIC_FLAGS (ATOMIC_CF | ATOMIC_PF | ATOMIC_AF | ATOMIC_ZF | ATOMIC_SF | ATOMIC_OF)

struct atomic_regs {
	uint64_t gpr[16]; /* enum atomic_gpr */
	uint64_t rip, rflags;
};

struct kvm_regs;
void atomic_regs_from_kvm(struct atomic_regs *r, const struct kvm_regs *k);
void atomic_regs_to_kvm(struct kvm_regs *k, const struct atomic_regs *r);

/* The ALU operations keep the order of their opcodes (ADD = 0 ... XOR = 6). */
enum atomic_op {
	ATOMIC_ADD, ATOMIC_OR, ATOMIC_ADC, ATOMIC_SBB, ATOMIC_AND, ATOMIC_SUB, ATOMIC_XOR,
	ATOMIC_INC, ATOMIC_DEC, ATOMIC_NOT, ATOMIC_NEG,
	ATOMIC_BTS, ATOMIC_BTR, ATOMIC_BTC,
	ATOMIC_XADD, ATOMIC_XCHG, ATOMIC_CMPXCHG,
	ATOMIC_CMPXCHG8B, /* CMPXCHG16B when size is 16 */
};

struct atomic_insn {
	enum atomic_op op;
	uint8_t bits;       /* the code segment's default size: 16, 32 or 64 */
	uint8_t len;        /* bytes, prefixes included */
	uint8_t size;       /* bytes of the memory operand: 1, 2, 4, 8 or 16 */
	uint8_t addr_size;  /* bytes of the address: 2, 4 or 8 */
	bool lock;          /* LOCK prefix (XCHG is locked without) */
	int8_t reg;         /* register operand (ModRM.reg, REX.R), -1: none */
	bool reg_high8;     /* reg is AH, CH, DH or BH (byte operand, no REX) */
	bool has_imm;
	uint64_t imm;       /* the immediate, sign-extended */
	/* the memory operand: seg:[base + index * scale + disp], or [rip + disp] */
	uint8_t seg;        /* enum atomic_seg: the override or the default */
	int8_t base, index; /* enum atomic_gpr, -1: none */
	uint8_t scale;
	bool rip_relative;  /* relative to the next instruction */
	int64_t disp;
};

/* Decode the instruction at code[0..n) in code of the given default size
 * (16, 32 or 64).  Returns 0, -EINVAL if it is not a read-modify-write of
 * memory this module does (CMP, MOV, a register destination, a LOCK that
 * would #UD, more than 15 bytes ...), or -ENODATA if it goes on past n. */
int atomic_decode(const uint8_t *code, size_t n, int bits, struct atomic_insn *insn)
	__attribute__((warn_unused_result));

/* Segment bases for atomic_linear (in 64-bit code only FS and GS count). */
struct atomic_segs {
	uint64_t base[6]; /* enum atomic_seg */
};

/* The linear address of the bytes the instruction reads and writes, from the
 * registers before it: the address size's wrap-around, RIP-relative, the
 * segment base, and for BTS/BTR/BTC with a register the operand the bit
 * offset selects (it may lie far from the ModRM address). */
uint64_t atomic_linear(const struct atomic_insn *insn, const struct atomic_segs *segs,
		       const struct atomic_regs *r);

/* What atomic_exec found and left in memory (16 bytes: [0] is the low half). */
struct atomic_mem {
	uint64_t old[2], new[2];
	bool stored; /* false only for a CMPXCHG* whose comparison failed */
};

/* Carry out the instruction on host, the operand's bytes in the vmm, with one
 * host atomic; update r (registers, RFLAGS, RIP past the instruction) as the
 * CPU would; fill m if not NULL.  Returns 0, or -EOPNOTSUPP and changes
 * nothing if host is not aligned to the operand's size: a host atomic there
 * would be a split lock, or the operand would cross a page (where guest pages
 * need not be adjacent in the vmm); the caller falls back on a plain write. */
int atomic_exec(const struct atomic_insn *insn, void *host, struct atomic_regs *r,
		struct atomic_mem *m) __attribute__((warn_unused_result));

/* KVM's MMIO write exit comes after its emulation has written back the
 * registers, RFLAGS and RIP.  From those (post) and the bytes written (data,
 * insn->size of them) rebuild the registers before the instruction into pre,
 * as far as atomic_exec needs them: the same registers, RIP back at the
 * instruction, and every register the instruction read as it was.  Returns
 *   0            pre holds them; run atomic_exec from pre on guest RAM;
 *   -EALREADY    the instruction stored nothing (a CMPXCHG* whose comparison
 *                failed: an atomic read, done): keep post, drop the write;
 *   -EOPNOTSUPP  the carry ADC/SBB read is lost (it is recoverable only when
 *                the result tells); keep post and write data, as before. */
int atomic_unwind(const struct atomic_insn *insn, const struct atomic_regs *post,
		  const void *data, struct atomic_regs *pre) __attribute__((warn_unused_result));

/* The locked instruction (LOCK, or XCHG) KVM emulated before an MMIO write
 * exit of len bytes with data, its registers now post (RIP past it).  tail
 * holds the n <= 15 bytes that end at post->rip.  Each start in tail is
 * decoded; a candidate must be locked, end at post->rip, write len bytes (8
 * for each half of a CMPXCHG16B), unwind, and have its operand where
 * matches() says the write went (the caller translates the linear address and
 * compares it with KVM's guest-physical address).  x86 does not decode
 * backwards: a byte before the instruction may read as a prefix.  Behind a
 * LOCK that changes nothing that passed the checks, but an XCHG without LOCK
 * after a byte 44-47 or 4C-4F (REX.R: r8d or eax?) stays ambiguous.  So every
 * candidate must have the same effect, tried on sample memory values, or
 * none is taken.  Returns atomic_unwind's answer with insn and pre filled
 * (for the longest candidate), -ENOENT if no start fits, -ENOTUNIQ if
 * candidates disagree. */
int atomic_find(const uint8_t *tail, size_t n, int bits, const struct atomic_segs *segs,
		const struct atomic_regs *post, const void *data, unsigned len,
		bool (*matches)(void *opaque, uint64_t linear), void *opaque,
		struct atomic_insn *insn, struct atomic_regs *pre)
	__attribute__((warn_unused_result));

const char *atomic_op_name(enum atomic_op op);

#endif
