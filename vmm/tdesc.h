/* tdesc.h - gdb target descriptions and the register file they describe.
 *
 * Three layouts, one per x86 architecture gdb knows: i8086 and i386 (the
 * 32-bit register file) and x86-64.  Registers are read from and written to
 * a cached copy of the vCPU state; no KVM calls here.
 */
#ifndef VMM_TDESC_H
#define VMM_TDESC_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

enum tdesc_arch { ARCH_I8086, ARCH_I386, ARCH_X86_64 };

/* What a write touched, so the caller knows which KVM state to put back. */
enum {
	DIRTY_REGS = 1,
	DIRTY_SREGS = 2,
	DIRTY_FPU = 4,
	DIRTY_MSRS = 8,
};

/* The MSRs kept with the registers: those WRMSR changes that no other
 * register shows (EFER and the FS/GS bases are in kvm_sregs).  gdb sees
 * KERNEL_GS_BASE (k_gs_base); `monitor msrs` shows them all; recording
 * rewinds them all. */
enum state_msr {
	SM_KERNEL_GS_BASE, SM_STAR, SM_LSTAR, SM_CSTAR, SM_SFMASK,
	SM_SYSENTER_CS, SM_SYSENTER_ESP, SM_SYSENTER_EIP, SM_PAT, SM_TSC_AUX,
	STATE_NMSRS
};

struct cpu_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	uint64_t msr[STATE_NMSRS]; /* enum state_msr (0 where this KVM has none) */
};

/* Which parts of struct cpu_state register regno needs (DIRTY_* bits). */
unsigned tdesc_needs(enum tdesc_arch a, int regno);

const char *tdesc_arch_name(enum tdesc_arch a);
/* The full target.xml for the layout (built once, static storage). */
const char *tdesc_xml(enum tdesc_arch a);
int tdesc_nregs(enum tdesc_arch a);
const char *tdesc_reg_name(enum tdesc_arch a, int regno);
int tdesc_find(enum tdesc_arch a, const char *name);
/* Read: bytes written to buf (at least 16 bytes), or -EINVAL. */
int tdesc_read(enum tdesc_arch a, const struct cpu_state *s, int regno, uint8_t *buf);
/* Write from len bytes (must be the register's size).  A register wider
 * than the layout's is written zero-extended.  ORs DIRTY_* into *dirty. */
int tdesc_write(enum tdesc_arch a, struct cpu_state *s, int regno, const uint8_t *buf, size_t len,
		unsigned *dirty);
/* Registers worth sending with every stop (frame pointer, stack, pc). */
int tdesc_expedite(enum tdesc_arch a, int *regnos, int max);

#endif
