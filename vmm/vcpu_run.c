/* vcpu_run.c - a vCPU's run loop: KVM_RUN until an exit the caller must see,
 * port I/O on the way (0xE9 and COM1 to the console, 0xF4 to end the
 * guest), the names of those exits, and the report of a vCPU that stopped
 * the guest.  Setup is vm.c's. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm/pc.h"
#include "vmm/vm.h"
#include "vmm/x86.h"

static void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* stdout gone: the guest goes on regardless */
		p += n;
		len -= n;
	}
}

/* Guest console output (port 0xE9, COM1): to stdout unless the debugger
 * took it, and to the debugger's hook.  vm->out_lock held. */
static void console_out(struct vm *vm, const void *data, size_t len)
{
	if (!vm->console_off)
		write_all(1, data, len);
	if (vm->hooks.console)
		vm->hooks.console(vm->hooks.opaque, (const char *)data, len);
}

/* Port I/O.  Returns true if the vCPU should go on. */
static bool handle_io(struct vcpu *c)
{
	struct kvm_run *run = c->run;
	struct vm *vm = c->vm;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	size_t len = (size_t)run->io.size * run->io.count;
	uint16_t port = run->io.port;

	if (run->io.direction == KVM_EXIT_IO_OUT && port == 0xe9) {
		pthread_mutex_lock(&vm->out_lock);
		console_out(vm, data, len);
		pthread_mutex_unlock(&vm->out_lock);
		return true;
	}
	if (port >= UART_COM1 && port < UART_COM1 + UART_PORTS) {
		/* byte by byte (a rep outsb/insb brings several; wider accesses
		 * reach the next registers, as on the ISA bus) */
		pthread_mutex_lock(&vm->out_lock);
		for (size_t i = 0; i < len; i++) {
			unsigned off = (unsigned)(port - UART_COM1 + i % run->io.size) % UART_PORTS;
			uint8_t tx;

			if (run->io.direction == KVM_EXIT_IO_IN)
				data[i] = uart_read(&vm->com1, off);
			else if (uart_write(&vm->com1, off, data[i], &tx))
				console_out(vm, &tx, 1);
		}
		pc_set_irq(vm, c->index, UART_IRQ, uart_irq(&vm->com1));
		serial_in_start_locked(vm);
		pthread_mutex_unlock(&vm->out_lock);
		return true;
	}
	if (run->io.direction == KVM_EXIT_IO_OUT && port == 0xf4) {
		c->exit_status = (data[0] << 1) | 1;
		return false;
	}
	if (run->io.direction == KVM_EXIT_IO_IN) {
		memset(data, port == 0xe9 ? 0xe9 : 0xff, len);
		if (port == 0xe9)
			return true;
	}
	uint64_t bit = 1ULL << (port % 64);
	uint64_t seen = __atomic_fetch_or(&vm->warned_ports[port / 64], bit, __ATOMIC_RELAXED);

	if (!vm->quiet_ports && !(seen & bit))
		fprintf(stderr, "vmm: guest %s port 0x%x (%u bytes): no device there, ignored\n",
			run->io.direction == KVM_EXIT_IO_OUT ? "wrote" : "read", port, run->io.size);
	return true;
}

enum vcpu_event vcpu_run(struct vcpu *c)
{
	struct kvm_run *run = c->run;

	for (;;) {
		if (c->vm->pc) {
			if (__atomic_load_n(&c->wait, __ATOMIC_ACQUIRE) != VCPU_RUNS) {
				int r = pc_idle(c, c->hold_irq);

				if (r == -EINTR)
					return EV_INTR;
				if (r == -EPIPE)
					return EV_HLT; /* nothing can wake it: it ends */
				if (r < 0) {
					c->err = -r;
					return EV_ERROR;
				}
			}
			pc_before_run(c);
		}
		if (ioctl(c->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR) {
				/* vcpu_kick sets it from another thread (or an
				 * interrupt for this vCPU came: EV_INTR is "run on"
				 * to every caller that was not asked to stop) */
				__atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
				__atomic_store_n(&c->kicked, 0, __ATOMIC_SEQ_CST);
				return EV_INTR;
			}
			if (errno == EAGAIN)
				continue;
			c->err = errno;
			return EV_ERROR;
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IRQ_WINDOW_OPEN:
			continue; /* pc_before_run injects now */
		case KVM_EXIT_IO:
			if (pc_io(c) || handle_io(c))
				continue;
			return EV_EXIT_PORT;
		case KVM_EXIT_HLT:
			return EV_HLT;
		case KVM_EXIT_DEBUG:
			return EV_DEBUG;
		case KVM_EXIT_SHUTDOWN:
			return EV_SHUTDOWN;
		case KVM_EXIT_FAIL_ENTRY:
			return EV_FAIL_ENTRY;
		case KVM_EXIT_MMIO:
			if (pc_mmio(c))
				continue;
			return EV_MMIO;
		case KVM_EXIT_INTR:
			return EV_INTR;
		case KVM_EXIT_INTERNAL_ERROR:
		default:
			return EV_INTERNAL;
		}
	}
}

const char *vcpu_event_name(enum vcpu_event ev)
{
	switch (ev) {
	case EV_HLT: return "halt";
	case EV_DEBUG: return "debug exit";
	case EV_EXIT_PORT: return "exit through port 0xf4";
	case EV_SHUTDOWN: return "triple fault (KVM_EXIT_SHUTDOWN)";
	case EV_INTERNAL: return "KVM internal error";
	case EV_FAIL_ENTRY: return "failed VM entry";
	case EV_MMIO: return "access outside guest RAM";
	case EV_INTR: return "interrupted";
	case EV_ERROR: return "KVM_RUN failed";
	}
	return "?";
}

/* The mode the vCPU is in now, from its control registers. */
static const char *cpu_mode_name(const struct kvm_sregs *sr)
{
	if (!(sr->cr0 & CR0_PE))
		return "real";
	if (sr->efer & EFER_LMA)
		return sr->cs.l ? "long (64-bit)" : "long (compatibility)";
	if (sr->cr0 & CR0_PG)
		return sr->cr4 & CR4_PAE ? "protected, PAE paging" : "protected, 32-bit paging";
	return "protected";
}

bool vcpu_state_is_reset(const struct kvm_regs *regs, const struct kvm_sregs *sr)
{
	return regs->rip == 0xfff0 && sr->cs.selector == 0xf000 && sr->cs.base == 0xffff0000 &&
	       !(sr->cr0 & CR0_PE);
}

void vcpu_report(struct vcpu *c, enum vcpu_event ev)
{
	struct kvm_regs regs;
	struct kvm_sregs sr;
	struct kvm_run *run = c->run;
	char detail[160] = "";
	int r;

	if ((r = kvm_ioctl_raw(c->fd, KVM_GET_REGS, &regs)) < 0 ||
	    (r = kvm_ioctl_raw(c->fd, KVM_GET_SREGS, &sr)) < 0) {
		fprintf(stderr, "vmm: vCPU %d: %s (registers unreadable: %s)\n", c->index,
			vcpu_event_name(ev), strerror(-r));
		return;
	}
	if (ev == EV_INTERNAL && run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
		snprintf(detail, sizeof(detail), " (suberror %u)", run->internal.suberror);
	else if (ev == EV_INTERNAL)
		snprintf(detail, sizeof(detail), " (exit reason %u)", run->exit_reason);
	else if (ev == EV_FAIL_ENTRY)
		snprintf(detail, sizeof(detail), " (hardware reason 0x%llx)",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
	else if (ev == EV_MMIO)
		snprintf(detail, sizeof(detail), " (%s of %u bytes at guest-physical 0x%llx, RAM ends at 0x%llx)",
			 run->mmio.is_write ? "write" : "read", run->mmio.len,
			 (unsigned long long)run->mmio.phys_addr, (unsigned long long)c->vm->ram_size);
	else if (ev == EV_ERROR)
		snprintf(detail, sizeof(detail), ": %s", strerror(c->err));
	fprintf(stderr,
		"vmm: vCPU %d stopped: %s%s\n"
		"vmm:   mode %s, RIP=0x%llx RSP=0x%llx RFLAGS=0x%llx CS=0x%x\n"
		"vmm:   CR0=0x%llx CR2=0x%llx CR3=0x%llx CR4=0x%llx EFER=0x%llx\n",
		c->index, vcpu_event_name(ev), detail, cpu_mode_name(&sr),
		(unsigned long long)regs.rip, (unsigned long long)regs.rsp,
		(unsigned long long)regs.rflags, sr.cs.selector, (unsigned long long)sr.cr0,
		(unsigned long long)sr.cr2, (unsigned long long)sr.cr3, (unsigned long long)sr.cr4,
		(unsigned long long)sr.efer);
	if (ev == EV_SHUTDOWN && vcpu_state_is_reset(&regs, &sr))
		fprintf(stderr, "vmm:   (the reset state: %s re-initialised the vCPU at the triple fault, "
			"the faulting state is lost)\n", kvm_flavour());
}
