/* record_irq.c - interrupts while recording.  A recorded vCPU single-steps
 * over read-only RAM, where KVM cannot inject an interrupt (the CPU would
 * push its frame onto a stack page KVM must not write, then run the whole
 * handler as the "step", since the gate clears TF).  So while recording the
 * vmm delivers an interrupt itself, as the CPU would, as one logged step:
 * the frame written and logged like an instruction's writes, RIP, RSP and
 * RFLAGS changed, the interrupt acknowledged at the PC devices.  Going back
 * over it undoes it like any instruction.  The devices are not rewound
 * step by step, but when history is cut before a delivery (the guest goes
 * on live from the past) the interrupt controllers go back to how they were
 * before it: the interrupt is pending again, not left in service forever.
 *
 * Done for what a kernel idling in HLT takes: 64-bit mode at CPL 0, an
 * interrupt or trap gate into the same code segment, no IST stack.  Any
 * other case leaves the interrupt pending and says why. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/pc.h"
#include "vmm/target.h"

#define RFLAGS_TF (1ULL << 8)
#define RFLAGS_IF (1ULL << 9)
#define RFLAGS_NT (1ULL << 14)
#define RFLAGS_RF (1ULL << 16)
#define RFLAGS_VM (1ULL << 17)
#define GATE_INTR 0xe
#define GATE_TRAP 0xf

bool rec_irq_mode_ok(struct tcpu *tc)
{
	const struct kvm_sregs *sr = &tc->st.sregs;

	return regs_fetch(tc, DIRTY_REGS | DIRTY_SREGS) == 0 && (sr->efer & EFER_LMA) && sr->cs.l &&
	       !(sr->cs.selector & 3);
}

/* Where the 8-byte word at linear va (8-aligned: within one page) is, in
 * the host. */
static uint8_t *word_at(struct tcpu *tc, const struct mmu_regs *mr, uint64_t va)
{
	struct mmu_walk w;

	if (mmu_translate(&tc->t->vm->mram, mr, va, &w))
		return NULL;
	return mmu_host(&tc->t->vm->mram, w.gpa, 8);
}

int rec_interrupt(struct tcpu *tc, char *why, size_t whylen)
{
	struct gdb_target *t = tc->t;
	struct kvm_vcpu_events ev;
	struct kvm_sregs *sr = &tc->st.sregs;
	struct kvm_regs *r = &tc->st.regs;
	uint64_t pre[REC_WORDS], post[REC_WORDS], frame[5], rsp, rip;
	uint8_t *host[5];
	uint64_t old[5];
	struct pc_irq_state before;
	struct mmu_regs mr;
	uint8_t g[16];
	int vec, type;
	long dropped;

	vec = pc_pending_vector(tc->c);
	if (vec < 0 || regs_fetch(tc, DIRTY_REGS | DIRTY_SREGS) || !(r->rflags & RFLAGS_IF))
		return 0;
	if (ioctl(tc->c->fd, KVM_GET_VCPU_EVENTS, &ev) == 0 && ev.interrupt.shadow)
		return 0; /* after sti or mov ss: one more instruction first */
	if (!rec_irq_mode_ok(tc)) {
		snprintf(why, whylen, "recording delivers interrupts in 64-bit kernel mode only");
		return -ENOTSUP;
	}
	mr = (struct mmu_regs){ sr->cr0, sr->cr3, sr->cr4, sr->efer };
	if ((uint32_t)vec * 16 + 15 > sr->idt.limit ||
	    mmu_read(&t->vm->mram, &mr, sr->idt.base + (uint64_t)vec * 16, g, 16) != 16) {
		snprintf(why, whylen, "vector 0x%x lies outside the IDT", vec);
		return -ENOTSUP;
	}
	type = g[5] & 0xf;
	if (!(g[5] & 0x80) || (type != GATE_INTR && type != GATE_TRAP) || (g[4] & 7) ||
	    (uint16_t)(g[2] | g[3] << 8) != sr->cs.selector) {
		snprintf(why, whylen, "vector 0x%x's gate is not a present interrupt or trap gate into the "
			 "current code segment without an IST stack", vec);
		return -ENOTSUP;
	}
	rip = (uint64_t)g[0] | (uint64_t)g[1] << 8 | (uint64_t)g[6] << 16 | (uint64_t)g[7] << 24 |
	      (uint64_t)g[8] << 32 | (uint64_t)g[9] << 40 | (uint64_t)g[10] << 48 | (uint64_t)g[11] << 56;

	regs_pack(&tc->st, pre);
	rec_begin(&tc->bld, tc->c->index, REC_STEP);
	/* the 64-bit frame, on a 16-byte aligned stack: SS, RSP, RFLAGS, CS, RIP */
	rsp = (r->rsp & ~0xfULL) - sizeof(frame);
	frame[0] = r->rip;
	frame[1] = sr->cs.selector;
	frame[2] = r->rflags;
	frame[3] = r->rsp;
	frame[4] = sr->ss.selector;
	for (int k = 0; k < 5; k++)
		if (!(host[k] = word_at(tc, &mr, rsp + 8 * (uint64_t)k))) {
			snprintf(why, whylen, "the interrupt frame at 0x%llx is not in RAM",
				 (unsigned long long)rsp);
			return -ENOTSUP;
		}
	/* taken from the controllers now, or left to them if it is no longer
	 * the one to take (a higher one came meanwhile) */
	if (!pc_ack_vector(tc->c, (uint8_t)vec, &before))
		return 0;
	for (int k = 0; k < 5; k++)
		memcpy(&old[k], host[k], 8);
	for (int k = 0; k < 5; k++) {
		if (rec_add_write(&tc->bld, (uint64_t)(host[k] - t->vm->ram), host[k], &frame[k], 8)) {
			snprintf(why, whylen, "the record log cannot take the interrupt frame");
			goto undo;
		}
		memcpy(host[k], &frame[k], 8);
	}
	r->rsp = rsp;
	r->rip = rip;
	r->rflags &= ~(RFLAGS_TF | RFLAGS_NT | RFLAGS_RF | RFLAGS_VM | (type == GATE_INTR ? RFLAGS_IF : 0));
	tc->dirty |= DIRTY_REGS;
	regs_pack(&tc->st, post);
	rec_set_state(&tc->bld, pre, post, STATE_WORDS);
	dropped = rec_append(&t->log, &tc->bld);
	if (dropped < 0) {
		snprintf(why, whylen, "the record log cannot grow: %s", strerror((int)-dropped));
		regs_unpack(pre, &tc->st);
		goto undo;
	}
	memcpy(tc->cur, post, STATE_WORDS * sizeof(post[0]));
	if (t->nirq_marks == REC_IRQ_MARKS) { /* the oldest goes */
		memmove(&t->irq_marks[0], &t->irq_marks[1], (REC_IRQ_MARKS - 1) * sizeof(t->irq_marks[0]));
		t->nirq_marks--;
	}
	t->irq_marks[t->nirq_marks].idx = t->log.dropped + t->log.steps - 1;
	t->irq_marks[t->nirq_marks].s = before;
	t->nirq_marks++;
	return 1;

undo: /* the guest and the controllers as they were */
	for (int k = 0; k < 5; k++)
		memcpy(host[k], &old[k], 8);
	pc_restore_irq_state(t->vm, &before);
	return -ENOMEM;
}

void rec_irq_rewind(struct gdb_target *t)
{
	uint64_t pos = t->log.dropped + t->log.steps - t->log.back;

	for (int i = 0; i < t->nirq_marks; i++)
		if (t->irq_marks[i].idx >= pos) {
			pc_restore_irq_state(t->vm, &t->irq_marks[i].s);
			t->nirq_marks = i;
			return;
		}
}
