/* unit_pc: the PC devices' glue (vmm/pc.c) against a fake KVM: port and
 * APIC-page exits reaching the models, a timer tick injected with
 * KVM_INTERRUPT when KVM can take it (else an interrupt window asked for),
 * an AP started by INIT/SIPI at its vector, a halted vCPU woken by its
 * interrupt or by a kick, and the guest nothing can wake any more.  The fake
 * KVM is this file's ioctl (the link wraps libc's). */
#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "tests/test.h"
#include "vmm/lapic.h"
#include "vmm/pc.h"
#include "vmm/vm.h"

#define FAKE_FD 1000 /* vCPU i has fd FAKE_FD + i */

static struct vm vm;
static struct {
	int injected[8], ninjected;  /* vectors given to KVM_INTERRUPT */
	struct kvm_sregs sregs[2];
	struct kvm_regs regs[2];
} F;

int __real_ioctl(int fd, unsigned long req, ...); // NOLINT(bugprone-reserved-identifier)
int __wrap_ioctl(int fd, unsigned long req, ...) // NOLINT(bugprone-reserved-identifier)
{
	va_list ap;
	void *arg;
	int i = fd - FAKE_FD;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (i < 0 || i > 1)
		return __real_ioctl(fd, req, arg);
	switch (req) {
	case KVM_INTERRUPT:
		if (F.ninjected < 8)
			F.injected[F.ninjected++] = (int)((struct kvm_interrupt *)arg)->irq;
		return 0;
	case KVM_GET_SREGS: memcpy(arg, &F.sregs[i], sizeof(F.sregs[i])); return 0;
	case KVM_SET_SREGS: memcpy(&F.sregs[i], arg, sizeof(F.sregs[i])); return 0;
	case KVM_GET_REGS: memcpy(arg, &F.regs[i], sizeof(F.regs[i])); return 0;
	case KVM_SET_REGS: memcpy(&F.regs[i], arg, sizeof(F.regs[i])); return 0;
	default: errno = ENOTTY; return -1;
	}
}

static struct kvm_run runs[2];

static void fresh(bool sipi)
{
	pc_destroy(&vm);
	memset(&vm, 0, sizeof(vm));
	memset(&F, 0, sizeof(F));
	memset(runs, 0, sizeof(runs));
	vm.ncpus = 2;
	vm.ram_size = 16 << 20;
	pthread_mutex_init(&vm.out_lock, NULL);
	for (int i = 0; i < 2; i++) {
		vm.cpus[i].vm = &vm;
		vm.cpus[i].index = i;
		vm.cpus[i].fd = FAKE_FD + i;
		vm.cpus[i].run = &runs[i];
	}
	TEST_ASSERT_EQ(pc_create(&vm, sipi), 0);
}

/* An OUT of one byte from vCPU c through the exit KVM would give. */
static void out(int c, uint16_t port, uint8_t v)
{
	struct kvm_run *r = &runs[c];

	r->exit_reason = KVM_EXIT_IO;
	r->io.direction = KVM_EXIT_IO_OUT;
	r->io.size = 1;
	r->io.port = port;
	r->io.count = 1;
	r->io.data_offset = offsetof(struct kvm_run, s); /* (KVM's is past the struct: the same to pc_io) */
	*((uint8_t *)r + r->io.data_offset) = v;
	TEST_ASSERT(pc_io(&vm.cpus[c]));
}

static void apic_write(int c, unsigned off, uint32_t v)
{
	struct kvm_run *r = &runs[c];

	r->exit_reason = KVM_EXIT_MMIO;
	r->mmio.phys_addr = LAPIC_BASE + off;
	r->mmio.len = 4;
	r->mmio.is_write = 1;
	memcpy(r->mmio.data, &v, 4);
	TEST_ASSERT(pc_mmio(&vm.cpus[c]));
}

/* PICs remapped to 0x20/0x28, all masked but IRQ 0, PIT at 1 kHz. */
static void program_timer(void)
{
	static const uint8_t pic[] = { 0x11, 0x20, 0x04, 0x01 }, spic[] = { 0x11, 0x28, 0x02, 0x01 };

	for (int k = 0; k < 4; k++) {
		out(0, k ? 0x21 : 0x20, pic[k]);
		out(0, k ? 0xa1 : 0xa0, spic[k]);
	}
	out(0, 0x21, 0xfe);
	out(0, 0xa1, 0xff);
	out(0, 0x43, 0x34);
	out(0, 0x40, 1193 & 0xff);
	out(0, 0x40, 1193 >> 8);
}

/* Before KVM_RUN, as vcpu_run does it: a kick of the timer thread (it
 * sets immediate_exit) has made KVM_RUN return and been cleared. */
static void before_run(int c)
{
	__atomic_store_n(&runs[c].immediate_exit, 0, __ATOMIC_SEQ_CST);
	pc_before_run(&vm.cpus[c]);
}

static void test_tick_injected_when_kvm_can_take_it(void)
{
	fresh(false);
	program_timer();
	usleep(5000); /* a few ticks: they coalesce into one request */
	runs[0].ready_for_interrupt_injection = 0;
	runs[0].if_flag = 0;
	before_run(0);
	TEST_ASSERT_EQ(F.ninjected, 0);
	TEST_ASSERT_EQ(runs[0].request_interrupt_window, 1);
	runs[0].ready_for_interrupt_injection = 1;
	runs[0].if_flag = 1;
	before_run(0);
	TEST_ASSERT_EQ(F.ninjected, 1);
	TEST_ASSERT_EQ(F.injected[0], 0x20);
	TEST_ASSERT_EQ(runs[0].request_interrupt_window, 0); /* in service: nothing more until EOI */
	/* a step takes none */
	out(0, 0x20, 0x20); /* EOI */
	usleep(3000);
	vm.cpus[0].hold_irq = true;
	before_run(0);
	TEST_ASSERT_EQ(F.ninjected, 1);
	vm.cpus[0].hold_irq = false;
	before_run(0);
	TEST_ASSERT_EQ(F.ninjected, 2);
	/* vCPU 1 never gets the PIC's interrupts */
	runs[1].ready_for_interrupt_injection = runs[1].if_flag = 1;
	out(0, 0x20, 0x20);
	usleep(3000);
	before_run(1);
	TEST_ASSERT_EQ(F.ninjected, 2);
}

static void *idle_thread(void *arg)
{
	return (void *)(intptr_t)pc_idle(arg, false);
}

/* A halted vCPU with interrupts on waits until the timer's tick comes. */
static void test_halt_waits_for_the_tick(void)
{
	pthread_t th;
	void *r;

	fresh(false);
	runs[0].if_flag = 1;
	TEST_ASSERT(!pc_halt(&vm.cpus[0])); /* no device programmed: HLT ends it */
	program_timer();
	out(0, 0x21, 0xff); /* masked for now */
	TEST_ASSERT(pc_halt(&vm.cpus[0]));
	TEST_ASSERT_STREQ(pc_cpu_waits(&vm.cpus[0]), "halted, waiting for an interrupt");
	TEST_ASSERT_EQ(pthread_create(&th, NULL, idle_thread, &vm.cpus[0]), 0);
	usleep(20000);
	out(1, 0x21, 0xfe); /* (another vCPU unmasks IRQ 0) */
	TEST_ASSERT_EQ(pthread_join(th, &r), 0);
	TEST_ASSERT_EQ((intptr_t)r, 0);
	TEST_ASSERT_EQ(vm.cpus[0].wait, VCPU_RUNS);
	/* runs[0] still says ready: it is injected at once */
	runs[0].ready_for_interrupt_injection = 1;
	before_run(0);
	TEST_ASSERT_EQ(F.injected[0], 0x20);
}

/* vcpu_kick ends the wait of a vCPU that nothing else would wake. */
static void test_kick_ends_the_wait(void)
{
	pthread_t th;
	void *r;

	fresh(false);
	runs[0].if_flag = 1;
	out(0, 0x21, 0xff); /* the guest touched the PIC: HLT waits */
	TEST_ASSERT(pc_halt(&vm.cpus[0]));
	TEST_ASSERT_EQ(pthread_create(&th, NULL, idle_thread, &vm.cpus[0]), 0);
	usleep(20000);
	vcpu_kick(&vm.cpus[0]);
	TEST_ASSERT_EQ(pthread_join(th, &r), 0);
	TEST_ASSERT_EQ((intptr_t)r, -EINTR);
	TEST_ASSERT_EQ(vm.cpus[0].wait, VCPU_HALTED); /* still halted when it runs again */
	TEST_ASSERT_EQ(__atomic_load_n(&runs[0].immediate_exit, __ATOMIC_SEQ_CST), 0);
}

/* INIT, then SIPI vector 0x70 from vCPU 0: vCPU 1 starts at 7000:0000. */
static void test_init_sipi_starts_the_ap(void)
{
	pthread_t th;
	void *r;

	fresh(true);
	TEST_ASSERT_EQ(vm.cpus[1].wait, VCPU_WAITS_SIPI);
	TEST_ASSERT_STREQ(pc_cpu_waits(&vm.cpus[1]), "waiting for INIT/SIPI");
	F.sregs[1].cs.base = 0xffff0000;
	F.regs[1].rip = 0xfff0;
	TEST_ASSERT_EQ(pthread_create(&th, NULL, idle_thread, &vm.cpus[1]), 0);
	apic_write(0, LAPIC_SVR, 0x1ff);
	apic_write(0, LAPIC_ICR_HI, 1u << 24);
	apic_write(0, LAPIC_ICR_LO, 0x4500);
	usleep(10000);
	TEST_ASSERT_EQ(vm.cpus[1].wait, VCPU_WAITS_SIPI); /* INIT alone starts nothing */
	apic_write(0, LAPIC_ICR_LO, 0x4670);
	TEST_ASSERT_EQ(pthread_join(th, &r), 0);
	TEST_ASSERT_EQ((intptr_t)r, 0);
	TEST_ASSERT_EQ(F.sregs[1].cs.selector, 0x7000);
	TEST_ASSERT_EQ(F.sregs[1].cs.base, 0x70000);
	TEST_ASSERT_EQ(F.regs[1].rip, 0);
	TEST_ASSERT_EQ(vm.cpus[1].wait, VCPU_RUNS);
	TEST_ASSERT(pc_cpu_waits(&vm.cpus[1]) == NULL);
}

/* Without a debugger: the last vCPU left waits with no timer armed: over. */
static void test_nothing_can_wake_ends_the_guest(void)
{
	fresh(true);
	pc_watch_deadlock(&vm);
	runs[0].if_flag = 1;
	out(0, 0x21, 0xff);
	pc_cpu_gone(&vm.cpus[0]); /* vCPU 0 ended (HLT with interrupts off) */
	TEST_ASSERT_EQ(pc_idle(&vm.cpus[1], false), -EPIPE); /* vCPU 1 waits for a SIPI nobody sends */
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	vm_install_kick_handler();
	RUN_TEST(test_tick_injected_when_kvm_can_take_it);
	RUN_TEST(test_halt_waits_for_the_tick);
	RUN_TEST(test_kick_ends_the_wait);
	RUN_TEST(test_init_sipi_starts_the_ap);
	RUN_TEST(test_nothing_can_wake_ends_the_guest);
	pc_destroy(&vm);
	TEST_MAIN_END();
}
