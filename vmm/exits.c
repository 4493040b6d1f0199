/* exits.c - what a vCPU's exit means to gdb: classify turns a vcpu_run
 * result into the stop event to report (set_event), or into none; after a
 * triple fault, which registers there are to show. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vmm/pc.h"
#include "vmm/target.h"

void set_event(struct tcpu *tc, enum stub_stop_kind kind, int signo, uint64_t addr,
	       const char *fmt, ...)
{
	va_list ap;

	memset(&tc->event, 0, sizeof(tc->event));
	tc->event_alias = false;
	tc->event.kind = kind;
	tc->event.tid = tc->c->index + 1;
	tc->event.signo = signo;
	tc->event.addr = addr;
	if ((kind == STUB_STOP_SWBREAK || kind == STUB_STOP_HWBREAK) && regs_fetch(tc, DIRTY_REGS) == 0)
		tc->event_rip = tc->st.regs.rip;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(tc->event.message, sizeof(tc->event.message), fmt, ap);
		va_end(ap);
	}
	tc->has_event = true;
}

/* After a triple fault: kvm_amd re-initialises the vCPU (its VMCB is
 * undefined after a shutdown), and the registers then read as the reset
 * state, which looks like anything but the fault.  Show the registers the
 * vCPU was last resumed with instead where the cache had them (those of the
 * faulting instruction after a stepi onto it), and say so. */
static void shutdown_state(struct tcpu *tc)
{
	tc->fault_state = FAULT_KEPT;
	if (regs_fetch(tc, DIRTY_REGS | DIRTY_SREGS) || !vcpu_state_is_reset(&tc->st.regs, &tc->st.sregs))
		return;
	tc->fault_state = FAULT_LOST;
	if (!tc->entry_valid || vcpu_state_is_reset(&tc->entry_regs, &tc->entry_sregs))
		return;
	tc->st.regs = tc->entry_regs;
	tc->st.sregs = tc->entry_sregs;
	tc->fault_state = FAULT_ENTRY;
}

const char *fault_note(const struct tcpu *tc)
{
	if (tc->fault_state == FAULT_ENTRY)
		return "vmm: KVM reset the vCPU at the fault: the registers shown are those it was last "
		       "resumed with, not the faulting ones\n";
	if (tc->fault_state == FAULT_LOST)
		return "vmm: KVM reset the vCPU at the fault: its faulting registers are lost (they read "
		       "as the reset state)\n";
	return "";
}

/* Classify a vcpu_run result; returns true if it is a stop to report. */
bool classify(struct tcpu *tc, enum vcpu_event ev, bool stepping)
{
	struct gdb_target *t = tc->t;
	struct kvm_run *run = tc->c->run;

	regs_ran(tc);
	switch (ev) {
	case EV_INTR:
		return false;
	case EV_DEBUG: {
		uint64_t dr6 = run->debug.arch.dr6;

		if (run->debug.arch.exception == EXC_BP && t->bp_patched) {
			/* RIP is on the int3 (or after it, as the trap leaves it) */
			if (regs_fetch(tc, DIRTY_REGS) == 0 &&
			    (bp_trap(tc, tc->st.regs.rip) || bp_trap(tc, tc->st.regs.rip - 1)))
				return true;
			set_event(tc, STUB_STOP_SWBREAK, SIGTRAP_, 0, NULL);
			tc->why = "breakpoint";
			return true;
		}
		for (int i = 0; i < HW_SLOTS; i++) {
			struct hwslot *h = &t->hw[i];

			if (!(dr6 & DR6_B(i)) || !h->used)
				continue;
			if (h->type <= STUB_BP_HW && regs_fetch(tc, DIRTY_REGS) == 0) {
				bp_event(tc, h->type == STUB_BP_SW ? STUB_STOP_SWBREAK : STUB_STOP_HWBREAK,
					 tc->st.regs.rip);
			} else if (h->type <= STUB_BP_HW) {
				set_event(tc, STUB_STOP_HWBREAK, SIGTRAP_, 0, NULL);
				tc->why = "breakpoint";
			} else {
				set_event(tc, h->type == STUB_WP_READ ? STUB_STOP_RWATCH : STUB_STOP_AWATCH,
					  SIGTRAP_, h->addr, NULL);
				tc->why = "watchpoint";
			}
			return true;
		}
		set_event(tc, STUB_STOP_SIGNAL, SIGTRAP_, 0, NULL);
		tc->stepped = stepping || (dr6 & DR6_BS);
		tc->why = tc->stepped ? "single step" : "debug trap";
		return true;
	}
	case EV_HLT:
		if (t->bp_insn == OPC_HLT && regs_fetch(tc, DIRTY_REGS) == 0 && bp_trap(tc, tc->st.regs.rip - 1))
			return true;
		if (pc_halt(tc->c)) {
			/* Recording delivers interrupts itself, in 64-bit kernel
			 * mode only (vmm/record_irq.c): elsewhere the wait would
			 * never end, so it is a stop that says why. */
			if (t->rec_on && !rec_irq_mode_ok(tc)) {
				set_event(tc, STUB_STOP_SIGNAL, SIGTRAP_, 0,
					  "vmm: vCPU %d waits in HLT for an interrupt, and recording delivers "
					  "interrupts in 64-bit kernel mode only: 'monitor record off' lets them "
					  "come\n", tc->c->index);
				tc->why = "halted, waiting for an interrupt recording holds back";
				return true;
			}
			/* waits for an interrupt: it runs on, unless this was a step */
			if (!stepping)
				return false;
			set_event(tc, STUB_STOP_SIGNAL, SIGTRAP_, 0, NULL);
			tc->stepped = true;
			tc->why = "single step";
			return true;
		}
		tc->why = "halted";
		tc->halted_now = true;
		return false; /* the caller decides whether all have halted */
	case EV_EXIT_PORT:
		set_event(tc, STUB_STOP_EXITED, 0, 0, NULL);
		tc->event.status = tc->c->exit_status;
		return true;
	case EV_MMIO: {
		uint64_t gpa = run->mmio.phys_addr, len = run->mmio.len;
		uint8_t *host = mmu_host(&t->vm->mram, gpa, len);
		struct watch *w;

		if (run->mmio.is_write && host && watch_page(t, gpa)) {
			enum vcpu_event next = watch_write(tc, &w);

			if (w) {
				set_event(tc, STUB_STOP_WATCH, SIGTRAP_, w->addr, NULL);
				tc->why = "watchpoint";
				return true;
			}
			if (next != EV_INTR)
				return classify(tc, next, stepping);
			if (stepping) {
				/* The instruction is done, and KVM leaves its step
				 * trap out after an MMIO exit: this is the step. */
				set_event(tc, STUB_STOP_SIGNAL, SIGTRAP_, 0, NULL);
				tc->stepped = true;
				tc->why = "single step";
				return true;
			}
			return false; /* same page, other bytes: go on */
		}
		set_event(tc, STUB_STOP_SIGNAL, SIGSEGV_, 0,
			  "vmm: vCPU %d: %s of %u bytes at guest-physical 0x%llx, outside guest RAM\n",
			  tc->c->index, run->mmio.is_write ? "write" : "read", run->mmio.len,
			  (unsigned long long)gpa);
		tc->dead_status = STATUS_MMIO;
		tc->why = "fault";
		return true;
	}
	case EV_SHUTDOWN:
		shutdown_state(tc);
		set_event(tc, STUB_STOP_SIGNAL, SIGSEGV_, 0,
			  "vmm: vCPU %d: triple fault (KVM_EXIT_SHUTDOWN); continuing ends the guest\n%s",
			  tc->c->index, fault_note(tc));
		tc->dead_status = STATUS_SHUTDOWN;
		tc->why = tc->fault_state == FAULT_ENTRY ? "triple fault, registers as last resumed"
			  : tc->fault_state == FAULT_LOST ? "triple fault, registers lost" : "triple fault";
		return true;
	default:
		set_event(tc, STUB_STOP_SIGNAL, SIGILL_, 0, "vmm: vCPU %d: %s; continuing ends the guest\n",
			  tc->c->index, vcpu_event_name(ev));
		tc->dead_status = STATUS_INTERNAL;
		tc->why = "KVM error";
		return true;
	}
}
