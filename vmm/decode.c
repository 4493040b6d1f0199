/* decode.c - the little x86 decoding that recording needs (decode.h). */
#include "vmm/decode.h"
#include "vmm/x86.h"

struct insn_mode insn_mode_of(const struct kvm_sregs *sr)
{
	return (struct insn_mode){
		.x64 = (sr->efer & EFER_LMA) && sr->cs.l,
		.cpl = sr->cr0 & CR0_PE ? sr->cs.selector & 3 : 0,
	};
}

long insn_opcode_at(const uint8_t *b, long n, struct insn_mode m)
{
	for (long i = 0; i < n; i++) {
		uint8_t c = b[i];

		if (c != 0x66 && c != 0x67 && c != 0xf0 && c != 0xf2 && c != 0xf3 && c != 0x2e &&
		    c != 0x36 && c != 0x3e && c != 0x26 && c != 0x64 && c != 0x65 &&
		    !(m.x64 && (c & 0xf0) == 0x40))
			return i;
	}
	return -1;
}

/* x87 (D8-DF, 9B), VEX/EVEX (C4, C5, 62), and the 0F opcodes of SSE, MMX,
 * FXSAVE/XSAVE, SWAPGS/XSETBV (0F 01) and WRMSR. */
bool insn_may_touch_fpu(const uint8_t *b, long n, struct insn_mode m)
{
	long i = insn_opcode_at(b, n, m);
	uint8_t c, d;

	if (i < 0)
		return true;
	c = b[i];
	if ((c >= 0xd8 && c <= 0xdf) || c == 0x9b || c == 0xc4 || c == 0xc5 || c == 0x62)
		return true;
	if (c != 0x0f)
		return false;
	if (i + 1 >= n)
		return true;
	d = b[i + 1];
	return d == 0x01 || d == 0x0e || d == 0x0f || (d >= 0x10 && d <= 0x17) ||
	       (d >= 0x28 && d <= 0x2f) || d == 0x30 || d == 0x38 || d == 0x3a ||
	       (d >= 0x50 && d <= 0x7f) || d == 0xae || d == 0xc2 || d == 0xc3 ||
	       (d >= 0xc4 && d <= 0xc6) || d >= 0xd0;
}

/* Single-stepped, KVM finishes a HLT as a step and the vCPU never halts, so
 * recording carries it out itself: no interrupt ever comes to these guests. */
int insn_hlt_len(const uint8_t *b, long n, struct insn_mode m)
{
	long i = insn_opcode_at(b, n, m);

	if (m.cpl)
		return 0; /* not at CPL 0: a #GP, KVM's business */
	return i >= 0 && b[i] == OPC_HLT ? (int)i + 1 : 0;
}

/* A step that changes nothing is then a jump to itself, not an instruction
 * that could not run. */
bool insn_near_jump(const uint8_t *b, long n, struct insn_mode m)
{
	long i = insn_opcode_at(b, n, m);
	uint8_t c;

	if (i < 0)
		return false;
	c = b[i];
	if (c == 0xeb || c == 0xe9 || (c >= 0x70 && c <= 0x7f) || (c >= 0xe0 && c <= 0xe3))
		return true;
	if (c == 0x0f) /* Jcc rel32 */
		return i + 1 < n && (b[i + 1] & 0xf0) == 0x80;
	if (c == 0xff) /* FF /4: JMP r/m */
		return i + 1 < n && ((b[i + 1] >> 3) & 7) == 4;
	return false;
}
