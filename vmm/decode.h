/* decode.h - the little x86 decoding the recorder needs: where an
 * instruction's opcode starts, and whether it may touch the FPU state, is a
 * HLT, or only jumps.  Pure: the instruction's bytes (b[0..n), n at most 15,
 * fewer where a page ends) and the CPU's mode in, the answer out. */
#ifndef VMM_DECODE_H
#define VMM_DECODE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

/* What decoding needs to know of the CPU's mode. */
struct insn_mode {
	bool x64; /* 64-bit code (EFER.LMA and CS.L): 0x40-0x4F are REX prefixes */
	int cpl;  /* privilege level: CS.RPL in protected mode, 0 in real mode */
};

struct insn_mode insn_mode_of(const struct kvm_sregs *sr);

/* Where the opcode starts, after the legacy prefixes (and REX in 64-bit
 * code); -1 if the bytes end first. */
long insn_opcode_at(const uint8_t *b, long n, struct insn_mode m);
/* May the instruction change the FPU/SSE state or KERNEL_GS_BASE?  Bytes
 * it cannot tell by: yes. */
bool insn_may_touch_fpu(const uint8_t *b, long n, struct insn_mode m);
/* The length of a HLT with its prefixes; 0 if it is none, or if it is one
 * that faults (not at CPL 0). */
int insn_hlt_len(const uint8_t *b, long n, struct insn_mode m);
/* Does the instruction only jump (near: short, near, conditional, LOOP and
 * JCXZ, indirect through a register or memory)? */
bool insn_near_jump(const uint8_t *b, long n, struct insn_mode m);

#endif
