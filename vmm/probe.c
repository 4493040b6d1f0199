/* probe.c - find out what this KVM can do, with tiny throwaway VMs.
 *
 * Our machines' KVM (kvm_pvm) refuses some things that ordinary KVM does
 * (see shared/PLATFORM.md), so the vmm asks instead of assuming.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm/vm.h"
#include "vmm/x86.h"

#define PROBE_CODE 0x8000ULL
#define PROBE_DATA 0x9000ULL

struct probe {
	struct vm vm;
	struct vcpu *c;
};

/* A one-vCPU VM in mode with code at PROBE_CODE. */
static struct probe *probe_new(enum vm_mode mode, const uint8_t *code, size_t len)
{
	struct vm_config cfg = { .mode = mode, .mem_size = 1 << 20, .ncpus = 1 };
	struct probe *p = calloc(1, sizeof(*p));
	char err[256];

	if (!p)
		return NULL;
	if (vm_create(&p->vm, &cfg, err, sizeof(err))) {
		free(p);
		return NULL;
	}
	p->vm.quiet_ports = true;
	memcpy(p->vm.ram + PROBE_CODE, code, len);
	p->vm.entry = PROBE_CODE;
	if (vm_setup_cpus(&p->vm, err, sizeof(err))) {
		vm_destroy(&p->vm);
		free(p);
		return NULL;
	}
	p->c = &p->vm.cpus[0];
	return p;
}

static void probe_free(struct probe *p)
{
	if (!p)
		return;
	vm_destroy(&p->vm);
	free(p);
}

static int set_debug(struct probe *p, uint32_t control, uint64_t dr0, uint64_t dr7)
{
	struct kvm_guest_debug d = { .control = control };

	d.arch.debugreg[0] = dr0;
	d.arch.debugreg[7] = dr7;
	return kvm_ioctl_raw(p->c->fd, KVM_SET_GUEST_DEBUG, &d);
}

/* Run code in mode; true if it reaches its final HLT. */
static bool reaches_hlt(enum vm_mode mode, const uint8_t *code, size_t len)
{
	struct probe *p = probe_new(mode, code, len);
	bool ok;

	if (!p)
		return false;
	ok = vcpu_run(p->c) == EV_HLT;
	probe_free(p);
	return ok;
}

/* Run with guest debugging set up; true if the first exit is a debug exit
 * with the given exception at pc. */
static bool debug_exit_at(const uint8_t *code, size_t len, uint32_t control, uint64_t dr0,
			  uint64_t dr7, uint32_t exception, uint64_t pc)
{
	struct probe *p = probe_new(MODE_LONG, code, len);
	bool ok = false;

	if (!p)
		return false;
	if (set_debug(p, control, dr0, dr7) == 0 && vcpu_run(p->c) == EV_DEBUG)
		ok = p->c->run->debug.arch.exception == exception &&
		     (pc == ~0ULL || p->c->run->debug.arch.pc == pc);
	probe_free(p);
	return ok;
}

static bool probe_readonly_slot(void)
{
	static const uint8_t code[] = { 0xc7, 0x04, 0x25, 0x00, 0x90, 0x00, 0x00, 0x2a, 0, 0, 0, /* movl $42, 0x9000 */
					0xf4 };
	struct probe *p;
	bool ok = false;

	p = probe_new(MODE_LONG, code, sizeof(code));
	if (!p)
		return false;
	if (vm_set_readonly(&p->vm, PROBE_DATA, PAGE_SIZE, true) == 0 && vcpu_run(p->c) == EV_MMIO)
		ok = p->c->run->mmio.is_write && p->c->run->mmio.phys_addr == PROBE_DATA &&
		     p->c->run->mmio.len == 4;
	probe_free(p);
	return ok;
}

/* Does a single step armed by KVM_SET_GUEST_DEBUG survive a RIP written
 * after it?  x86 KVM latches the RIP at KVM_SET_GUEST_DEBUG and keeps TF set
 * only while RIP is there: any later RIP write (KVM_SET_REGS, sync regs, its
 * own emulator finishing an instruction) makes the next step run free.  Where
 * it does not survive, the vmm re-arms the step before every KVM_RUN. */
static bool probe_step_after_rip_write(void)
{
	static const uint8_t nops[] = { 0x90, 0x90, 0x90, 0xf4 };
	struct probe *p = probe_new(MODE_LONG, nops, sizeof(nops));
	struct kvm_regs regs;
	bool ok = false;

	if (!p)
		return false;
	if (set_debug(p, KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP, 0, 0) == 0 &&
	    ioctl(p->c->fd, KVM_GET_REGS, &regs) == 0) {
		regs.rip = PROBE_CODE + 1;
		if (ioctl(p->c->fd, KVM_SET_REGS, &regs) == 0 && vcpu_run(p->c) == EV_DEBUG)
			ok = p->c->run->debug.arch.exception == EXC_DB &&
			     p->c->run->debug.arch.pc == PROBE_CODE + 2;
	}
	probe_free(p);
	return ok;
}

/* Does an interrupt injected with KVM_INTERRUPT (no in-kernel irqchip, as
 * the vmm's PC devices do it) reach the guest's handler?  The guest: sti,
 * nop, hlt; vector 0x20's gate leads to a hlt at PROBE_CODE + 0x10.  KVM
 * is asked for an interrupt window; the vector goes in at the window exit
 * (or at the hlt, if no window exit came first). */
static bool probe_irq_inject(void)
{
	static const uint8_t code[] = { 0xfb, 0x90, 0xf4 };
	struct probe *p = probe_new(MODE_PROTECTED, code, sizeof(code));
	struct kvm_interrupt irq = { 0x20 };
	struct kvm_sregs sr;
	struct kvm_regs regs;
	uint32_t gate[2] = { (SEL_CODE32 << 16) | (uint32_t)((PROBE_CODE + 0x10) & 0xffff),
			     (uint32_t)((PROBE_CODE + 0x10) & 0xffff0000) | 0x8e00 };
	bool ok = false;

	if (!p)
		return false;
	p->vm.ram[PROBE_CODE + 0x10] = 0xf4;
	memcpy(p->vm.ram + PROBE_DATA + 0x20 * 8, gate, sizeof(gate));
	if (ioctl(p->c->fd, KVM_GET_SREGS, &sr) == 0) {
		sr.idt.base = PROBE_DATA;
		sr.idt.limit = 0x21 * 8 - 1;
		p->c->run->request_interrupt_window = 1;
		if (ioctl(p->c->fd, KVM_SET_SREGS, &sr) == 0 && ioctl(p->c->fd, KVM_RUN, 0) == 0 &&
		    (p->c->run->exit_reason == KVM_EXIT_IRQ_WINDOW_OPEN || p->c->run->exit_reason == KVM_EXIT_HLT) &&
		    ioctl(p->c->fd, KVM_INTERRUPT, &irq) == 0) {
			p->c->run->request_interrupt_window = 0;
			ok = ioctl(p->c->fd, KVM_RUN, 0) == 0 && p->c->run->exit_reason == KVM_EXIT_HLT &&
			     ioctl(p->c->fd, KVM_GET_REGS, &regs) == 0 && regs.rip == PROBE_CODE + 0x11;
		}
	}
	probe_free(p);
	return ok;
}

/* Are the registers after a triple fault the faulting ones?  kvm_amd
 * re-initialises the vCPU on a shutdown (its VMCB is undefined then). */
static bool probe_shutdown_keeps_state(void)
{
	static const uint8_t fault[] = {
		0x48, 0xb8, 0x00, 0x00, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x00, /* mov $0x7fffffff0000,%rax (unmapped) */
		0x8b, 0x00,                                                 /* mov (%rax),%eax: no IDT, triple fault */
	};
	struct probe *p = probe_new(MODE_LONG, fault, sizeof(fault));
	struct kvm_regs regs;
	struct kvm_sregs sr;
	bool ok = false;

	if (!p)
		return false;
	if (vcpu_run(p->c) == EV_SHUTDOWN && ioctl(p->c->fd, KVM_GET_REGS, &regs) == 0 &&
	    ioctl(p->c->fd, KVM_GET_SREGS, &sr) == 0)
		ok = !vcpu_state_is_reset(&regs, &sr);
	probe_free(p);
	return ok;
}

int kvm_probe(int kvm_fd, struct kvm_features *f, int what)
{
	static const uint8_t hlt[] = { 0xf4 };
	/* 32-bit: PSE page directory at 0x2000 is built by the probe itself. */
	static const uint8_t paging32[] = {
		0x0f, 0x20, 0xe0,             /* mov %cr4,%eax */
		0x83, 0xc8, 0x10,             /* or $0x10,%eax (PSE) */
		0x0f, 0x22, 0xe0,             /* mov %eax,%cr4 */
		0xb8, 0x00, 0x20, 0x00, 0x00, /* mov $0x2000,%eax */
		0x0f, 0x22, 0xd8,             /* mov %eax,%cr3 */
		0x0f, 0x20, 0xc0,             /* mov %cr0,%eax */
		0x0d, 0x00, 0x00, 0x00, 0x80, /* or $0x80000000,%eax */
		0x0f, 0x22, 0xc0,             /* mov %eax,%cr0 */
		0xf4,
	};
	static const uint8_t long_by_guest[] = {
		0x0f, 0x20, 0xe0,             /* mov %cr4,%eax */
		0x83, 0xc8, 0x20,             /* or $0x20,%eax (PAE) */
		0x0f, 0x22, 0xe0,             /* mov %eax,%cr4 */
		0xb8, 0x00, 0x20, 0x00, 0x00, /* mov $0x2000,%eax */
		0x0f, 0x22, 0xd8,             /* mov %eax,%cr3 */
		0xb9, 0x80, 0x00, 0x00, 0xc0, /* mov $0xc0000080,%ecx (EFER) */
		0x0f, 0x32,                   /* rdmsr */
		0x0d, 0x00, 0x01, 0x00, 0x00, /* or $0x100,%eax (LME) */
		0x0f, 0x30,                   /* wrmsr */
		0x0f, 0x20, 0xc0,             /* mov %cr0,%eax */
		0x0d, 0x00, 0x00, 0x00, 0x80, /* or $0x80000000,%eax */
		0x0f, 0x22, 0xc0,             /* mov %eax,%cr0 */
		0xf4,
	};
	static const uint8_t int3[] = { 0xcc, 0xf4 };
	static const uint8_t nops[] = { 0x90, 0x90, 0xf4 };
	static const uint8_t store[] = { 0x89, 0x04, 0x25, 0x00, 0x90, 0x00, 0x00, /* mov %eax,0x9000 */
					 0xf4 };
	struct probe *p;
	int r;

	what &= ~f->probed;
	if (!(what & PROBE_MODES))
		goto debug;
	f->real = reaches_hlt(MODE_REAL, hlt, sizeof(hlt));
	f->protected_ = reaches_hlt(MODE_PROTECTED, hlt, sizeof(hlt));
	f->paged = reaches_hlt(MODE_PAGED, hlt, sizeof(hlt));
	f->long_ = reaches_hlt(MODE_LONG, hlt, sizeof(hlt));

	/* Both guests load CR3 with 0x2000 (BOOT_PML4), in place of the vmm's tables. */
	p = probe_new(MODE_PROTECTED, paging32, sizeof(paging32));
	if (p) {
		uint32_t *pd = (uint32_t *)(p->vm.ram + BOOT_PML4);

		for (uint32_t i = 0; i < 1024; i++)
			pd[i] = (i << 22) | PTE_P | PTE_RW | PTE_PS;
		f->paging_by_guest = vcpu_run(p->c) == EV_HLT;
		probe_free(p);
	}
	p = probe_new(MODE_PROTECTED, long_by_guest, sizeof(long_by_guest));
	if (p) {
		uint64_t *pml4 = (uint64_t *)(p->vm.ram + BOOT_PML4);
		uint64_t *pdpt = (uint64_t *)(p->vm.ram + BOOT_PDPT);
		uint64_t *pd = (uint64_t *)(p->vm.ram + BOOT_PD);

		pml4[0] = BOOT_PDPT | PTE_P | PTE_RW;
		pdpt[0] = BOOT_PD | PTE_P | PTE_RW;
		pd[0] = PTE_P | PTE_RW | PTE_PS;
		if (vcpu_run(p->c) == EV_HLT) {
			struct kvm_sregs sr;

			/* It must really be in long mode (EFER.LMA), not merely halted. */
			f->long_by_guest = ioctl(p->c->fd, KVM_GET_SREGS, &sr) == 0 &&
					   (sr.efer & EFER_LMA) && (sr.cr0 & CR0_PG);
		}
		probe_free(p);
	}
	f->irq_inject = probe_irq_inject();
	{
		struct kvm_cpuid2 *c = kvm_supported_cpuid(kvm_fd);

		cpuid_features(c, f);
		free(c);
	}
debug:
	if (what & PROBE_INT3)
		f->int3_exit = debug_exit_at(int3, sizeof(int3),
					     KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP, 0, 0, EXC_BP,
					     PROBE_CODE);
	if (what & PROBE_STEPS) {
		f->single_step = debug_exit_at(nops, sizeof(nops),
					       KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP, 0, 0, EXC_DB,
					       PROBE_CODE + 1);
		f->hw_exec_bp = debug_exit_at(nops, sizeof(nops),
					      KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP, PROBE_CODE + 1,
					      DR7_L(0) | DR7_RW(0, DR7_RW_EXEC), EXC_DB, PROBE_CODE + 1);
	}
	if (what & PROBE_WATCH) {
		f->data_bp = debug_exit_at(store, sizeof(store),
					   KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP, PROBE_DATA,
					   DR7_L(0) | DR7_RW(0, DR7_RW_WRITE) | DR7_LEN(0, DR7_LEN_4), EXC_DB,
					   ~0ULL);
		f->readonly_slot = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) > 0 &&
				   probe_readonly_slot();
	}
	if (what & PROBE_KEEPS) {
		f->step_after_rip_write = probe_step_after_rip_write();
		f->shutdown_keeps_state = probe_shutdown_keeps_state();
	}
	r = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	f->max_vcpus = r > 0 ? r : VM_MAX_CPUS;
	f->probed |= what;
	return 0;
}

static const char *yes(bool b) { return b ? "yes" : "no"; }

/* Name of the KVM module, to name the cause of a refusal. */
const char *kvm_flavour(void)
{
	if (access("/sys/module/kvm_pvm", F_OK) == 0)
		return "kvm_pvm";
	if (access("/sys/module/kvm_intel", F_OK) == 0)
		return "kvm_intel";
	if (access("/sys/module/kvm_amd", F_OK) == 0)
		return "kvm_amd";
	return "kvm";
}

void kvm_probe_print(const struct kvm_features *f, FILE *out)
{
	fprintf(out, "kvm module:                    %s\n", kvm_flavour());
	fprintf(out, "mode real:                     %s\n", yes(f->real));
	fprintf(out, "mode protected:                %s\n", yes(f->protected_));
	fprintf(out, "mode paged (32-bit paging):    %s\n", yes(f->paged));
	fprintf(out, "mode long:                     %s\n", yes(f->long_));
	fprintf(out, "guest enables 32-bit paging:   %s\n", yes(f->paging_by_guest));
	fprintf(out, "guest enters long mode itself: %s\n", yes(f->long_by_guest));
	fprintf(out, "1 GiB pages (pdpe1gb):         %s\n", yes(f->gb_pages));
	fprintf(out, "5-level paging (la57):         %s\n", yes(f->la57));
	fprintf(out, "no-execute (nx):               %s\n", yes(f->nx));
	fprintf(out, "interrupt injection:           %s\n", yes(f->irq_inject));
	fprintf(out, "int3 intercepted (sw bp):      %s%s\n", yes(f->int3_exit),
		f->int3_exit ? "" : " (software breakpoints use hlt instead)");
	fprintf(out, "single step:                   %s\n", yes(f->single_step));
	fprintf(out, "step after a RIP write:        %s%s\n", yes(f->step_after_rip_write),
		f->step_after_rip_write ? "" : " (steps are re-armed before each run)");
	fprintf(out, "hw execution breakpoints:      %s\n", yes(f->hw_exec_bp));
	fprintf(out, "hw data breakpoints:           %s%s\n", yes(f->data_bp),
		f->data_bp ? "" : " (write watchpoints use read-only slots; read/access refused)");
	fprintf(out, "read-only memory slots:        %s\n", yes(f->readonly_slot));
	fprintf(out, "state after a triple fault:    %s\n",
		f->shutdown_keeps_state ? "kept" : "reset by KVM (the faulting registers are lost)");
	fprintf(out, "max vCPUs:                     %d\n", f->max_vcpus);
}
