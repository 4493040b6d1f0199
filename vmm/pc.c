/* pc.c - the PC devices and interrupt delivery of pc.h. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "vmm/ioapic.h"
#include "vmm/lapic.h"
#include "vmm/pc.h"
#include "vmm/pic.h"
#include "vmm/pit.h"
#include "vmm/vm.h"

struct pc {
	struct vm *vm;
	pthread_mutex_t lock;    /* guards everything below */
	pthread_cond_t wake;     /* idle vCPUs wait on it */
	pthread_cond_t retime;   /* the timer thread waits on it */
	struct pic pic;
	struct pit pit;
	struct ioapic ioapic;
	struct lapic lapic[VM_MAX_CPUS];
	bool sipi[VM_MAX_CPUS];        /* a start-up IPI arrived */
	uint8_t sipi_vector[VM_MAX_CPUS];
	bool nmi[VM_MAX_CPUS];         /* an NMI IPI to inject */
	bool idle[VM_MAX_CPUS];        /* in pc_idle */
	bool kick_sent[VM_MAX_CPUS];   /* kicked for an interrupt it has not looked at yet */
	bool has_thread[VM_MAX_CPUS];  /* thread[i] runs vCPU i: it may be kicked */
	pthread_t thread[VM_MAX_CPUS];
	uint16_t isa_level;  /* the ISA lines' levels (pc_set_irq) */
	bool init_warned;
	bool no_inject;      /* KVM_INTERRUPT failed: no interrupts delivered any more */
	bool used;           /* the guest programmed a device: HLT with IF=1 waits */
	bool timer_started, quit;
	pthread_t timer;
	bool watch;          /* vm_run: end a guest nothing can wake */
	int alive;           /* vCPU threads not ended (with watch) */
	int nidle;
	bool dead;           /* nothing can wake the idle vCPUs: they end */
};

#define PC_PIT_GSI 2 /* the I/O APIC pin of the PIT (ISA IRQ 0, overridden as on PCs) */
#define TIMER_MIN_NS 20000ULL /* 50 kHz: above any tick rate a kernel uses */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int pc_create(struct vm *vm, bool sipi)
{
	struct pc *pc = calloc(1, sizeof(*pc));
	pthread_condattr_t ca;

	if (!pc)
		return -ENOMEM;
	pc->vm = vm;
	pthread_mutex_init(&pc->lock, NULL);
	pthread_cond_init(&pc->wake, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pc->retime, &ca);
	pthread_condattr_destroy(&ca);
	pic_reset(&pc->pic);
	pit_reset(&pc->pit);
	ioapic_reset(&pc->ioapic);
	for (int i = 0; i < vm->ncpus; i++) {
		lapic_reset(&pc->lapic[i], (uint32_t)i);
		vm->cpus[i].wait = sipi && i ? VCPU_WAITS_SIPI : VCPU_RUNS;
	}
	/* What a BIOS leaves on the boot processor: LINT0 ExtINT (the PIC's
	 * interrupts), LINT1 NMI. */
	pc->lapic[0].lvt[3] = 0x700;
	pc->lapic[0].lvt[4] = 0x400;
	vm->pc = pc;
	return 0;
}

void pc_destroy(struct vm *vm)
{
	struct pc *pc = vm->pc;

	if (!pc)
		return;
	if (pc->timer_started) {
		pthread_mutex_lock(&pc->lock);
		pc->quit = true;
		pthread_cond_signal(&pc->retime);
		pthread_mutex_unlock(&pc->lock);
		pthread_join(pc->timer, NULL);
	}
	pthread_cond_destroy(&pc->wake);
	pthread_cond_destroy(&pc->retime);
	pthread_mutex_destroy(&pc->lock);
	free(pc);
	vm->pc = NULL;
}

/* Does the PIC reach vCPU 0: LINT0 unmasked, or its APIC software-disabled
 * (virtual wire)? */
static bool pic_reaches_cpu0(struct pc *pc)
{
	const struct lapic *a = &pc->lapic[0];

	return !(a->svr & LAPIC_SVR_ENABLED) || !(a->lvt[3] & LAPIC_LVT_MASKED);
}

static bool deliverable_locked(struct pc *pc, int i)
{
	return pc->nmi[i] || lapic_pending(&pc->lapic[i]) >= 0 ||
	       (i == 0 && pic_intr(&pc->pic) && pic_reaches_cpu0(pc));
}

/* The vector vCPU i takes next (one is deliverable): its APIC's before the
 * PICs'.  With take the controller acknowledges it; without, nothing
 * changes (the vector of a copy's acknowledge). */
static uint8_t next_vector_locked(struct pc *pc, int i, bool take)
{
	struct lapic a = pc->lapic[i];
	struct pic p = pc->pic;
	bool apic = lapic_pending(&a) >= 0;
	uint8_t v = apic ? lapic_ack(&a) : pic_ack(&p);

	if (take && apic)
		pc->lapic[i] = a;
	else if (take)
		pc->pic = p;
	return v;
}

/* Can anything raise an interrupt for vCPU i by itself (a timer)? */
static bool wake_source_locked(struct pc *pc, int i)
{
	uint64_t next;
	struct lapic a = pc->lapic[i];

	if (deliverable_locked(pc, i))
		return true;
	lapic_timer(&a, 0, &next); /* (a copy: only whether it is armed) */
	if (next != UINT64_MAX && !(a.lvt[0] & LAPIC_LVT_MASKED))
		return true;
	if (pit_irq0_armed(&pc->pit) && !(pc->ioapic.redir[PC_PIT_GSI] & IOAPIC_MASKED))
		return true; /* (wherever the I/O APIC sends it) */
	return i == 0 && pit_irq0_armed(&pc->pit) && !(pc->pic.master.imr & 1) && pic_reaches_cpu0(pc);
}

/* Interrupt kick: out of KVM_RUN (vcpu_run returns EV_INTR, which every
 * caller takes as "run on" when nobody asked it to stop), to inject at the
 * next entry. */
static void irq_kick_locked(struct pc *pc, struct vcpu *c)
{
	__atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (pc->has_thread[c->index])
		pthread_kill(pc->thread[c->index], SIGUSR1);
}

/* Tell each vCPU that has an interrupt to take now, but self (-1: none),
 * which looks for itself before it enters the guest again. */
static void notify_locked(struct pc *pc, int self)
{
	bool wake = false;

	for (int i = 0; i < pc->vm->ncpus; i++) {
		if (i == self || pc->kick_sent[i] || !deliverable_locked(pc, i))
			continue;
		pc->kick_sent[i] = true;
		if (pc->idle[i])
			wake = true;
		else
			irq_kick_locked(pc, &pc->vm->cpus[i]);
	}
	if (wake)
		pthread_cond_broadcast(&pc->wake);
}

/* An interrupt message (an ICR write of the APIC whose ID is from, or the
 * I/O APIC's): to every destination, or the first for lowest priority. */
static void deliver_locked(struct pc *pc, uint32_t from, const struct lapic_ipi *ipi)
{
	struct vm *vm = pc->vm;
	bool wake = false;

	for (int i = 0; i < vm->ncpus; i++) {
		if (!lapic_is_dest(&pc->lapic[i], ipi, from))
			continue;
		switch (ipi->mode) {
		case IPI_INIT:
			if (ipi->deassert || vm->cpus[i].wait == VCPU_WAITS_SIPI)
				break;
			if (!pc->init_warned)
				fprintf(stderr, "vmm: INIT to vCPU %d, which runs: ignored (the vmm "
					"resets a vCPU only at start)\n", i);
			pc->init_warned = true;
			break;
		case IPI_SIPI:
			if (vm->cpus[i].wait == VCPU_WAITS_SIPI && !pc->sipi[i]) {
				pc->sipi[i] = true;
				pc->sipi_vector[i] = ipi->vector;
				wake = true;
			}
			break;
		case IPI_NMI:
			pc->nmi[i] = true;
			break;
		case IPI_FIXED:
			lapic_accept(&pc->lapic[i], ipi->vector);
			break;
		case IPI_LOWEST: /* no arbitration: the first one takes it */
			lapic_accept(&pc->lapic[i], ipi->vector);
			i = vm->ncpus;
			break;
		default: /* SMI (no SMM here), ExtINT (the 8259s reach vCPU 0 anyway) */
			break;
		}
	}
	if (wake)
		pthread_cond_broadcast(&pc->wake);
}

/* Bring the timers to now; *next: the next deadline.  The PIT's IRQ 0 is
 * the 8259's input 0 and the I/O APIC's pin 2 (the MADT says so). */
static void advance_locked(struct pc *pc, uint64_t now, uint64_t *next)
{
	struct lapic_ipi msg;
	uint64_t n;

	if (pit_irq0(&pc->pit, now, next)) {
		pic_pulse(&pc->pic, 0);
		if (ioapic_pulse(&pc->ioapic, PC_PIT_GSI, &msg))
			deliver_locked(pc, 0, &msg);
	}
	for (int i = 0; i < pc->vm->ncpus; i++) {
		lapic_timer(&pc->lapic[i], now, &n);
		if (n < *next)
			*next = n;
	}
}

static void *timer_main(void *arg)
{
	struct pc *pc = arg;

	pthread_mutex_lock(&pc->lock);
	while (!pc->quit) {
		uint64_t next, now = now_ns();

		advance_locked(pc, now, &next);
		notify_locked(pc, -1);
		/* A timer programmed faster than interrupts can be taken
		 * coalesces: one wake-up per TIMER_MIN_NS at most. */
		if (next != UINT64_MAX && next < now + TIMER_MIN_NS)
			next = now + TIMER_MIN_NS;
		if (next == UINT64_MAX) {
			pthread_cond_wait(&pc->retime, &pc->lock);
		} else {
			struct timespec ts = { (time_t)(next / 1000000000ULL), (long)(next % 1000000000ULL) };

			pthread_cond_timedwait(&pc->retime, &pc->lock, &ts);
		}
	}
	pthread_mutex_unlock(&pc->lock);
	return NULL;
}

/* The guest programmed a timer: the timer thread recomputes its deadline
 * (started the first time). */
static void retime_locked(struct pc *pc)
{
	if (!pc->timer_started) {
		sigset_t all, old;
		int r;

		/* the kick signal is for vCPU threads */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		r = pthread_create(&pc->timer, NULL, timer_main, pc);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (r) {
			fprintf(stderr, "vmm: cannot start the timer thread: %s; timer interrupts "
				"come only when a vCPU exits\n", strerror(r));
			return;
		}
		pc->timer_started = true;
	}
	pthread_cond_signal(&pc->retime);
}

bool pc_io(struct vcpu *c)
{
	struct kvm_run *run = c->run;
	struct pc *pc = c->vm->pc;
	uint16_t port = run->io.port;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool out = run->io.direction == KVM_EXIT_IO_OUT;
	uint64_t now;

	if (!pc || !(pic_port(port) || pit_port(port)))
		return false;
	pthread_mutex_lock(&pc->lock);
	now = now_ns();
	/* byte by byte: a wider access reaches the next port, as on the ISA bus */
	for (uint32_t k = 0; k < run->io.count; k++)
		for (unsigned b = 0; b < run->io.size; b++) {
			uint16_t p = (uint16_t)(port + b);
			uint8_t *d = &data[k * run->io.size + b];

			if (pic_port(p) && out)
				pic_write(&pc->pic, p, *d);
			else if (pic_port(p))
				*d = pic_read(&pc->pic, p);
			else if (pit_port(p) && out)
				pit_write(&pc->pit, p, *d, now);
			else if (pit_port(p))
				*d = pit_read(&pc->pit, p, now);
			else if (!out)
				*d = 0xff;
		}
	if (out) {
		__atomic_store_n(&pc->used, true, __ATOMIC_RELEASE);
		if (pit_port(port))
			retime_locked(pc);
		notify_locked(pc, c->index);
	}
	pthread_mutex_unlock(&pc->lock);
	return true;
}

/* vCPU i's registers at a start-up IPI: real mode at vector << 12, as
 * KVM's own SIPI delivery sets them. */
static int start_up(struct vcpu *c, uint8_t vector)
{
	struct kvm_sregs sr;
	struct kvm_regs regs;
	int r;

	if ((r = kvm_ioctl_raw(c->fd, KVM_GET_SREGS, &sr)) < 0 || (r = kvm_ioctl_raw(c->fd, KVM_GET_REGS, &regs)) < 0)
		return r;
	sr.cs.selector = (uint16_t)(vector << 8);
	sr.cs.base = (uint64_t)vector << 12;
	regs.rip = 0;
	if ((r = kvm_ioctl_raw(c->fd, KVM_SET_SREGS, &sr)) < 0 || (r = kvm_ioctl_raw(c->fd, KVM_SET_REGS, &regs)) < 0)
		return r;
	return 0;
}

/* A local APIC access of vCPU i at off (lock held). */
static void lapic_mmio_locked(struct pc *pc, int i, struct kvm_run *run, unsigned off)
{
	struct lapic_ipi ipi;
	uint32_t v = 0;

	if (run->mmio.is_write) {
		/* 32-bit accesses at 16-byte aligned offsets; others are ignored */
		if (run->mmio.len != 4 || (off & 0xf))
			return;
		memcpy(&v, run->mmio.data, 4);
		if (lapic_write(&pc->lapic[i], off, v, now_ns(), &ipi))
			deliver_locked(pc, pc->lapic[i].id, &ipi);
		if (off == LAPIC_TIMER_INIT || off == LAPIC_LVT_TIMER || off == LAPIC_TIMER_DIV)
			retime_locked(pc);
		return;
	}
	if ((off & 0xf) < 4) /* a narrower read of a register's low bytes */
		v = lapic_read(&pc->lapic[i], off & ~0xfu, now_ns()) >> (8 * (off & 3));
	memcpy(run->mmio.data, &v, run->mmio.len < 4 ? run->mmio.len : 4);
}

/* An I/O APIC access at off (lock held): IOREGSEL and IOWIN, 32 bits. */
static void ioapic_mmio_locked(struct pc *pc, struct kvm_run *run, unsigned off)
{
	uint32_t v = 0;

	if (run->mmio.len != 4)
		return;
	if (run->mmio.is_write) {
		memcpy(&v, run->mmio.data, 4);
		ioapic_write(&pc->ioapic, off, v);
	} else {
		v = ioapic_read(&pc->ioapic, off);
		memcpy(run->mmio.data, &v, 4);
	}
}

bool pc_mmio(struct vcpu *c)
{
	struct kvm_run *run = c->run;
	struct pc *pc = c->vm->pc;
	uint64_t gpa = run->mmio.phys_addr;
	bool lapic = gpa >= LAPIC_BASE && gpa < LAPIC_BASE + LAPIC_SIZE;
	bool ioapic = gpa >= IOAPIC_BASE && gpa < IOAPIC_BASE + IOAPIC_SIZE;

	if (!pc || (!lapic && !ioapic) || gpa < c->vm->ram_size)
		return false;
	if (!run->mmio.is_write)
		memset(run->mmio.data, 0, sizeof(run->mmio.data));
	pthread_mutex_lock(&pc->lock);
	__atomic_store_n(&pc->used, true, __ATOMIC_RELEASE);
	if (lapic)
		lapic_mmio_locked(pc, c->index, run, (unsigned)(gpa - LAPIC_BASE));
	else
		ioapic_mmio_locked(pc, run, (unsigned)(gpa - IOAPIC_BASE));
	if (run->mmio.is_write)
		notify_locked(pc, c->index);
	pthread_mutex_unlock(&pc->lock);
	return true;
}

void pc_before_run(struct vcpu *c)
{
	struct pc *pc = c->vm->pc;
	struct kvm_run *run = c->run;
	int i = c->index, r;
	uint64_t next;

	if (!pc || !__atomic_load_n(&pc->used, __ATOMIC_ACQUIRE)) /* (set once, under the lock) */
		return;
	pthread_mutex_lock(&pc->lock);
	advance_locked(pc, now_ns(), &next);
	notify_locked(pc, i);
	pc->kick_sent[i] = false;
	run->request_interrupt_window = 0;
	if (c->hold_irq || __atomic_load_n(&run->immediate_exit, __ATOMIC_SEQ_CST)) {
		/* single-stepping (interrupts wait), or not entering the guest */
	} else if (pc->nmi[i]) {
		pc->nmi[i] = false;
		if ((r = kvm_ioctl_raw(c->fd, KVM_NMI, 0)) < 0)
			fprintf(stderr, "vmm: vCPU %d: KVM_NMI: %s; the NMI is lost\n", i, strerror(-r));
	} else if (!pc->no_inject && deliverable_locked(pc, i)) {
		/* (no_inject: this KVM takes no interrupt from user space, said once) */
		if (run->ready_for_interrupt_injection && run->if_flag) {
			/* acknowledged only once KVM has taken it */
			struct kvm_interrupt irq = { next_vector_locked(pc, i, false) };

			r = kvm_ioctl_raw(c->fd, KVM_INTERRUPT, &irq);
			if (r == 0)
				next_vector_locked(pc, i, true);
			else if (r != -EEXIST) {
				/* asking for windows again would spin: stop delivering */
				pc->no_inject = true;
				fprintf(stderr, "vmm: KVM_INTERRUPT: %s: this KVM takes no interrupts from the "
					"vmm, so the guest gets none (see 'vmm --probe')\n", strerror(-r));
			}
		}
		if (!pc->no_inject && deliverable_locked(pc, i))
			run->request_interrupt_window = 1;
	}
	pthread_mutex_unlock(&pc->lock);
}

int pc_pending_vector(struct vcpu *c)
{
	struct pc *pc = c->vm->pc;
	int i = c->index, v = -1;

	if (!pc || !__atomic_load_n(&pc->used, __ATOMIC_ACQUIRE)) /* (each recorded step asks) */
		return -1;
	pthread_mutex_lock(&pc->lock);
	if (!pc->nmi[i] && deliverable_locked(pc, i))
		v = next_vector_locked(pc, i, false);
	pthread_mutex_unlock(&pc->lock);
	return v;
}

bool pc_ack_vector(struct vcpu *c, uint8_t vector, struct pc_irq_state *before)
{
	struct pc *pc = c->vm->pc;
	int i = c->index;
	bool ok;

	if (!pc)
		return false;
	pthread_mutex_lock(&pc->lock);
	ok = deliverable_locked(pc, i) && next_vector_locked(pc, i, false) == vector;
	if (ok) {
		before->cpu = i;
		before->pic = pc->pic;
		before->lapic = pc->lapic[i];
		next_vector_locked(pc, i, true);
	}
	pthread_mutex_unlock(&pc->lock);
	return ok;
}

void pc_restore_irq_state(struct vm *vm, const struct pc_irq_state *s)
{
	struct pc *pc = vm->pc;

	if (!pc || s->cpu < 0 || s->cpu >= vm->ncpus)
		return;
	pthread_mutex_lock(&pc->lock);
	pc->pic = s->pic;
	pc->lapic[s->cpu] = s->lapic;
	pthread_mutex_unlock(&pc->lock);
}

bool pc_halt(struct vcpu *c)
{
	struct pc *pc = c->vm->pc;

	if (!pc || !c->run->if_flag || !__atomic_load_n(&pc->used, __ATOMIC_ACQUIRE))
		return false;
	pthread_mutex_lock(&pc->lock);
	__atomic_store_n(&c->wait, VCPU_HALTED, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&pc->lock);
	return true;
}

/* vm_run: all vCPUs left wait, and none has a timer: it is over. */
static void check_dead_locked(struct pc *pc)
{
	if (!pc->watch || pc->nidle < pc->alive || pc->dead)
		return;
	for (int i = 0; i < pc->vm->ncpus; i++)
		if (pc->idle[i] && pc->vm->cpus[i].wait == VCPU_HALTED && wake_source_locked(pc, i))
			return;
	pc->dead = true;
	fprintf(stderr, "vmm: every vCPU left waits (HLT with interrupts on, or for INIT/SIPI) and no "
		"timer can raise an interrupt: the guest is over\n");
	pthread_cond_broadcast(&pc->wake);
}

int pc_idle(struct vcpu *c, bool step)
{
	struct pc *pc = c->vm->pc;
	int i = c->index, r = 0;

	if (!pc)
		return 0;
	pthread_mutex_lock(&pc->lock);
	if (step && c->wait == VCPU_HALTED) /* a step of a halted vCPU runs what follows the HLT */
		__atomic_store_n(&c->wait, VCPU_RUNS, __ATOMIC_RELEASE);
	pc->idle[i] = true;
	pc->nidle++;
	check_dead_locked(pc);
	for (;;) {
		if (__atomic_exchange_n(&c->kicked, 0, __ATOMIC_SEQ_CST)) {
			__atomic_store_n(&c->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
			r = -EINTR;
			break;
		}
		if (pc->dead) {
			r = -EPIPE;
			break;
		}
		if (c->wait == VCPU_WAITS_SIPI) {
			if (pc->sipi[i]) {
				r = start_up(c, pc->sipi_vector[i]);
				pc->sipi[i] = false;
				__atomic_store_n(&c->wait, VCPU_RUNS, __ATOMIC_RELEASE);
				break;
			}
		} else if (c->wait != VCPU_HALTED || deliverable_locked(pc, i)) {
			__atomic_store_n(&c->wait, VCPU_RUNS, __ATOMIC_RELEASE);
			break;
		}
		pthread_cond_wait(&pc->wake, &pc->lock);
	}
	pc->idle[i] = false;
	pc->nidle--;
	pthread_mutex_unlock(&pc->lock);
	return r;
}

void pc_wake(struct vcpu *c)
{
	struct pc *pc = c->vm->pc;

	if (!pc)
		return;
	pthread_mutex_lock(&pc->lock);
	if (pc->idle[c->index])
		pthread_cond_broadcast(&pc->wake);
	pthread_mutex_unlock(&pc->lock);
}

void pc_set_irq(struct vm *vm, int self, unsigned irq, bool level)
{
	struct pc *pc = vm->pc;
	struct lapic_ipi msg;
	uint16_t bit = (uint16_t)(1u << irq);

	if (!pc || irq >= 16)
		return;
	pthread_mutex_lock(&pc->lock);
	pic_set_irq(&pc->pic, irq, level);
	if (level && !(pc->isa_level & bit) && ioapic_pulse(&pc->ioapic, irq, &msg))
		deliver_locked(pc, 0, &msg);
	pc->isa_level = level ? pc->isa_level | bit : pc->isa_level & ~bit;
	notify_locked(pc, self);
	pthread_mutex_unlock(&pc->lock);
}

void pc_thread_begin(struct vcpu *c)
{
	struct pc *pc = c->vm->pc;

	if (!pc)
		return;
	pthread_mutex_lock(&pc->lock);
	pc->thread[c->index] = pthread_self();
	pc->has_thread[c->index] = true;
	pthread_mutex_unlock(&pc->lock);
}

void pc_thread_end(struct vcpu *c)
{
	struct pc *pc = c->vm->pc;

	if (!pc)
		return;
	pthread_mutex_lock(&pc->lock);
	pc->has_thread[c->index] = false;
	pthread_mutex_unlock(&pc->lock);
}

void pc_watch_deadlock(struct vm *vm)
{
	struct pc *pc = vm->pc;

	if (!pc)
		return;
	pthread_mutex_lock(&pc->lock);
	pc->watch = true;
	pc->alive = vm->ncpus;
	pthread_mutex_unlock(&pc->lock);
}

void pc_cpu_gone(struct vcpu *c)
{
	struct pc *pc = c->vm->pc;

	if (!pc)
		return;
	pthread_mutex_lock(&pc->lock);
	pc->alive--;
	check_dead_locked(pc);
	pthread_mutex_unlock(&pc->lock);
}

const char *pc_cpu_waits(struct vcpu *c)
{
	struct pc *pc = c->vm->pc;
	const char *r = NULL;

	if (!pc)
		return NULL;
	pthread_mutex_lock(&pc->lock);
	if (c->wait == VCPU_WAITS_SIPI)
		r = "waiting for INIT/SIPI";
	else if (c->wait == VCPU_HALTED)
		r = "halted, waiting for an interrupt";
	pthread_mutex_unlock(&pc->lock);
	return r;
}
