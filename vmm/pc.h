/* pc.h - the PC around the vCPUs: the 8259 PICs and the 8254 PIT on their
 * ports, a local APIC per vCPU at LAPIC_BASE, the I/O APIC at IOAPIC_BASE
 * (the PIT on its pin 2), interrupt delivery into KVM,
 * HLT that waits for an interrupt, and application processors that wait for
 * INIT/SIPI.  All in user space, with no KVM_CREATE_IRQCHIP: KVM's in-kernel
 * local APIC handles HLT itself, and HLT is the vmm's software breakpoint
 * where int3 is not intercepted (kvm_pvm, the nested kvm_amd; see
 * docs/boot.md).
 *
 * Delivery: the PIC's INTR goes to vCPU 0 (through LINT0 in ExtINT mode, as
 * a BIOS leaves it), APIC interrupts (the APIC timer, IPIs, the I/O APIC's
 * messages) to their vCPUs.  Before each KVM_RUN the vCPU injects what is deliverable
 * (KVM_INTERRUPT) when KVM says it can take one, else asks KVM for an exit
 * when it can (request_interrupt_window).  A timer thread, started when the
 * guest first arms a timer, raises IRQ 0 and APIC timer interrupts on time
 * and kicks (or wakes) the vCPU they are for.  No interrupt is injected into
 * a vCPU that single-steps (gdb's stepi: it stays pending, as QEMU's gdbstub
 * does by default; recording delivers it itself, vmm/record_irq.c).
 *
 * HLT: a vCPU halting with interrupts on (IF=1) after the guest programmed
 * any of these devices waits for its next interrupt, as on hardware; with
 * interrupts off, or before the guest touched them, HLT ends the vCPU as the
 * boot contract says.  Without a debugger, when every vCPU left waits and
 * nothing can raise an interrupt any more, the guest is over.
 *
 * Locking: struct pc's lock guards the device models and the per-vCPU
 * state; it is taken inside the gdb target's lock, never around it.
 */
#ifndef VMM_PC_H
#define VMM_PC_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/lapic.h"
#include "vmm/pic.h"

struct vm;
struct vcpu;

/* The devices of vm (vm->pc), all idle; with sipi, vCPUs 1.. wait for
 * INIT/SIPI (a Multiboot kernel's application processors).  -ENOMEM. */
int pc_create(struct vm *vm, bool sipi);
void pc_destroy(struct vm *vm);

/* Port I/O and MMIO exits of c: true if they were the PC devices' (done). */
bool pc_io(struct vcpu *c);
bool pc_mmio(struct vcpu *c);

/* ISA interrupt line irq (0-15) of a device is at level: the 8259 input and
 * the I/O APIC pin of that number (a rising edge).  self: the vCPU whose
 * thread calls (it needs no kick), or -1. */
void pc_set_irq(struct vm *vm, int self, unsigned irq, bool level);

/* Before KVM_RUN: inject or ask for an interrupt window (vCPU thread). */
void pc_before_run(struct vcpu *c);

/* A HLT exit of c (not a breakpoint's): true if it waits for an interrupt
 * (c->wait = VCPU_HALTED; vcpu_run waits in pc_idle) rather than ends. */
bool pc_halt(struct vcpu *c);

/* Wait while c->wait says so (halted, or waiting for SIPI).  0: run it;
 * -EINTR: kicked (vcpu_kick); -EPIPE: nothing can wake it any more (the
 * guest is over).  At SIPI the vCPU's CS:IP are set to the start-up vector.
 * step: a single step, which a halted vCPU takes at once (it runs what
 * follows the HLT), interrupts waiting. */
int pc_idle(struct vcpu *c, bool step);

/* What a delivery changes in the interrupt controllers (the PICs, the
 * vCPU's local APIC), saved before it: going back past the delivery and on
 * live, the recorder puts it back, or the interrupt would stay in service
 * with no EOI ever to come. */
struct pc_irq_state {
	int cpu;
	struct pic pic;
	struct lapic lapic;
};

/* For recording, which delivers interrupts itself (vmm/record_irq.c): the
 * vector c would take now (-1: none; IF and the interrupt shadow are the
 * caller's to check), and its acknowledge once delivered, with the state
 * before it in *before (false: it is no longer the one to take). */
int pc_pending_vector(struct vcpu *c);
bool pc_ack_vector(struct vcpu *c, uint8_t vector, struct pc_irq_state *before);
void pc_restore_irq_state(struct vm *vm, const struct pc_irq_state *s);

/* The thread that runs c (vm_run's, the gdb target's) starts and ends:
 * between the two the timer thread may signal it to take an interrupt. */
void pc_thread_begin(struct vcpu *c);
void pc_thread_end(struct vcpu *c);

/* A vcpu_kick: wake c if it waits in pc_idle. */
void pc_wake(struct vcpu *c);

/* Without a debugger (vm_run): watch for the guest that can never wake
 * again; vCPU c's thread ended. */
void pc_watch_deadlock(struct vm *vm);
void pc_cpu_gone(struct vcpu *c);

/* What c waits for, for the debugger's thread list: "waiting for
 * INIT/SIPI", "halted, waiting for an interrupt", or NULL. */
const char *pc_cpu_waits(struct vcpu *c);

#endif
