/* regs.c - the gdb target's cache of vCPU state: read from KVM on demand
 * (regs_fetch), written back before the vCPU runs (regs_flush), refreshed from
 * kvm_run after an exit (regs_ran); the DIRTY_* bits of tdesc.h say which parts
 * are valid and which were written. */
#include <elf.h>
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/target.h"

const uint32_t state_msr_index[STATE_NMSRS] = {
	[SM_KERNEL_GS_BASE] = MSR_KERNEL_GS_BASE, [SM_STAR] = MSR_STAR, [SM_LSTAR] = MSR_LSTAR,
	[SM_CSTAR] = MSR_CSTAR, [SM_SFMASK] = MSR_SFMASK, [SM_SYSENTER_CS] = MSR_SYSENTER_CS,
	[SM_SYSENTER_ESP] = MSR_SYSENTER_ESP, [SM_SYSENTER_EIP] = MSR_SYSENTER_EIP,
	[SM_PAT] = MSR_PAT, [SM_TSC_AUX] = MSR_TSC_AUX,
};

const char *const state_msr_name[STATE_NMSRS] = {
	[SM_KERNEL_GS_BASE] = "kernel_gs_base", [SM_STAR] = "star", [SM_LSTAR] = "lstar",
	[SM_CSTAR] = "cstar", [SM_SFMASK] = "sfmask", [SM_SYSENTER_CS] = "sysenter_cs",
	[SM_SYSENTER_ESP] = "sysenter_esp", [SM_SYSENTER_EIP] = "sysenter_eip", [SM_PAT] = "pat",
	[SM_TSC_AUX] = "tsc_aux",
};

struct msr_batch {
	struct kvm_msrs h;
	struct kvm_msr_entry e[STATE_NMSRS];
};

/* Which of the MSRs this KVM reads for the vCPU (KVM_GET_MSRS stops at the
 * first it lacks, TSC_AUX without RDTSCP for one): asked once, one by one. */
unsigned regs_msr_probe(struct tcpu *tc)
{
	unsigned mask = 0;

	for (int i = 0; i < STATE_NMSRS; i++) {
		struct { struct kvm_msrs h; struct kvm_msr_entry e; } m = {
			.h.nmsrs = 1, .e.index = state_msr_index[i],
		};

		if (ioctl(tc->c->fd, KVM_GET_MSRS, &m) == 1)
			mask |= 1U << i;
	}
	return mask;
}

/* The batch of this KVM's MSRs, with the cached values (for KVM_SET_MSRS). */
static void msrs_batch(struct tcpu *tc, struct msr_batch *b)
{
	memset(b, 0, sizeof(*b));
	for (int i = 0; i < STATE_NMSRS; i++)
		if (tc->t->msr_mask & (1U << i)) {
			b->e[b->h.nmsrs].index = state_msr_index[i];
			b->e[b->h.nmsrs++].data = tc->st.msr[i];
		}
}

static int msrs_get(struct tcpu *tc)
{
	struct msr_batch b;
	unsigned k = 0;

	msrs_batch(tc, &b);
	if (ioctl(tc->c->fd, KVM_GET_MSRS, &b) != (int)b.h.nmsrs)
		return -EIO;
	for (int i = 0; i < STATE_NMSRS; i++)
		tc->st.msr[i] = tc->t->msr_mask & (1U << i) ? b.e[k++].data : 0;
	return 0;
}

static int msrs_set(struct tcpu *tc)
{
	struct msr_batch b;

	msrs_batch(tc, &b);
	return ioctl(tc->c->fd, KVM_SET_MSRS, &b) == (int)b.h.nmsrs ? 0 : -EIO;
}

int regs_fetch(struct tcpu *tc, unsigned need)
{
	int fd = tc->c->fd, r;

	need &= ~tc->valid;
	if ((need & DIRTY_REGS) && ioctl(fd, KVM_GET_REGS, &tc->st.regs) < 0)
		return -errno;
	if ((need & DIRTY_SREGS) && ioctl(fd, KVM_GET_SREGS, &tc->st.sregs) < 0)
		return -errno;
	if ((need & DIRTY_FPU) && (r = vcpu_get_fpu(tc->c, &tc->st.fpu)))
		return r;
	if ((need & DIRTY_MSRS) && (r = msrs_get(tc)))
		return r;
	tc->valid |= need;
	return 0;
}

/* Put written state back before the vCPU runs (step: with a single step to
 * arm); forget the cache.  A copy left in kvm_run for KVM_RUN to take keeps
 * its part of the cache valid: it is the newest state until KVM takes it. */
int regs_flush(struct tcpu *tc, bool step)
{
	int fd = tc->c->fd, r = 0, e;
	struct kvm_run *run = tc->c->run;

	if ((tc->valid & (DIRTY_REGS | DIRTY_SREGS)) == (DIRTY_REGS | DIRTY_SREGS)) {
		tc->entry_regs = tc->st.regs; /* (all a triple fault may leave, on kvm_amd) */
		tc->entry_sregs = tc->st.sregs;
		tc->entry_valid = true;
	} else {
		tc->entry_valid = false;
	}
	if (tc->t->sync_regs && step && tc->t->rearm_step) {
		/* KVM_SET_GUEST_DEBUG, next, latches the RIP to step from: the
		 * registers must reach KVM before it, by ioctl, copies left in
		 * kvm_run by an earlier regs_flush too. */
		if (run->kvm_dirty_regs & KVM_SYNC_X86_REGS)
			tc->dirty |= DIRTY_REGS;
		if (run->kvm_dirty_regs & KVM_SYNC_X86_SREGS)
			tc->dirty |= DIRTY_SREGS;
		run->kvm_dirty_regs &= ~(KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS);
	} else if (tc->t->sync_regs) { /* KVM takes them from kvm_run on entry: no ioctl */
		if (tc->dirty & DIRTY_REGS) {
			run->s.regs.regs = tc->st.regs;
			run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
		}
		if (tc->dirty & DIRTY_SREGS) {
			run->s.regs.sregs = tc->st.sregs;
			run->kvm_dirty_regs |= KVM_SYNC_X86_SREGS;
		}
		tc->dirty &= ~(DIRTY_REGS | DIRTY_SREGS);
	}
	/* (sregs first: KVM checks the step's RIP as a linear address) */
	if ((tc->dirty & DIRTY_SREGS) && ioctl(fd, KVM_SET_SREGS, &tc->st.sregs) < 0)
		r = -errno;
	if ((tc->dirty & DIRTY_REGS) && ioctl(fd, KVM_SET_REGS, &tc->st.regs) < 0)
		r = -errno;
	if ((tc->dirty & (DIRTY_REGS | DIRTY_SREGS)) && step)
		tc->dbg_set = false; /* the step is armed for the RIP of KVM_SET_GUEST_DEBUG */
	if ((tc->dirty & DIRTY_FPU) && (e = vcpu_set_fpu(tc->c, &tc->st.fpu)))
		r = e;
	if ((tc->dirty & DIRTY_MSRS) && (e = msrs_set(tc)))
		r = e;
	tc->dirty = 0;
	tc->valid &= (run->kvm_dirty_regs & KVM_SYNC_X86_REGS ? DIRTY_REGS : 0) |
		     (run->kvm_dirty_regs & KVM_SYNC_X86_SREGS ? DIRTY_SREGS : 0);
	return r;
}

/* After KVM_RUN: with KVM_CAP_SYNC_REGS, KVM has left the registers in
 * kvm_run (every exit then costs no register ioctl at all). */
void regs_ran(struct tcpu *tc)
{
	struct kvm_run *run = tc->c->run;

	tc->valid = 0;
	if (!tc->t->sync_regs)
		return;
	tc->st.regs = run->s.regs.regs;
	tc->st.sregs = run->s.regs.sregs;
	tc->valid = DIRTY_REGS | DIRTY_SREGS;
}

struct tcpu *cpu_of(struct gdb_target *t, int tid)
{
	if (tid < 1 || tid > t->vm->ncpus)
		tid = t->cur_tid;
	return &t->cpus[tid - 1];
}

uint64_t code_linear(struct tcpu *tc, uint64_t rip)
{
	const struct kvm_sregs *sr = &tc->st.sregs;

	if (regs_fetch(tc, DIRTY_SREGS) || ((sr->efer & EFER_LMA) && sr->cs.l))
		return rip;
	return (sr->cs.base + rip) & 0xffffffffULL;
}

int mmu_regs_of(struct tcpu *tc, struct mmu_regs *mr)
{
	int r = regs_fetch(tc, DIRTY_SREGS);

	if (r)
		return r;
	*mr = (struct mmu_regs){ tc->st.sregs.cr0, tc->st.sregs.cr3, tc->st.sregs.cr4,
				 tc->st.sregs.efer };
	return 0;
}

/* A Multiboot kernel in an ELF64 file starts in protected mode and goes to
 * long mode by itself: outside real mode it has the x86-64 layout (that of
 * its symbols, and what QEMU's gdbstub gives such kernels), so that gdb
 * takes the ELF at once and needs no reconnect at the switch. */
bool wide_kernel(const struct vm *vm)
{
	return vm->multiboot && vm->elf_machine == EM_X86_64;
}

enum tdesc_arch arch_at_start(const struct vm *vm)
{
	if (vm->mode == MODE_REAL)
		return ARCH_I8086;
	return vm->mode == MODE_LONG || wide_kernel(vm) ? ARCH_X86_64 : ARCH_I386;
}

enum tdesc_arch arch_of_mode(const struct vm *vm, const struct kvm_sregs *sr)
{
	if (!(sr->cr0 & CR0_PE))
		return ARCH_I8086;
	return ((sr->efer & EFER_LMA) && sr->cs.l) || wide_kernel(vm) ? ARCH_X86_64 : ARCH_I386;
}

const char *mode_name(const struct kvm_sregs *sr)
{
	if (!(sr->cr0 & CR0_PE))
		return "real";
	if (sr->efer & EFER_LMA)
		return "long";
	return sr->cr0 & CR0_PG ? "paged" : "protected";
}

void regs_pack(const struct cpu_state *st, uint64_t *w)
{
	memcpy(w, &st->regs, sizeof(st->regs));
	memcpy((uint8_t *)w + sizeof(st->regs), &st->sregs, sizeof(st->sregs));
}

void regs_unpack(const uint64_t *w, struct cpu_state *st)
{
	memcpy(&st->regs, w, sizeof(st->regs));
	memcpy(&st->sregs, (const uint8_t *)w + sizeof(st->regs), sizeof(st->sregs));
}
