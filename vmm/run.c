/* run.c - run a VM without a debugger: one host thread per vCPU until every
 * vCPU has halted, or one exits through port 0xF4, or one fails. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "vmm/pc.h"
#include "vmm/vm.h"

struct run_state {
	struct vm *vm;
	pthread_mutex_t lock;
	int status;      /* first terminal status; -1 while none */
};

static struct run_state *state_of(struct vm *vm) { return vm->runner; }

/* Kick a vCPU out of KVM_RUN: immediate_exit covers the race where the
 * signal lands before the thread enters KVM_RUN. */
void vcpu_kick(struct vcpu *c)
{
	__atomic_store_n(&c->kicked, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (c->thread_started)
		pthread_kill(c->thread, SIGUSR1);
	pc_wake(c); /* (a vCPU waiting in HLT or for SIPI is in no KVM_RUN) */
}

static void finish(struct vcpu *c, int status)
{
	struct vm *vm = c->vm;
	struct run_state *st = state_of(vm);

	pthread_mutex_lock(&st->lock);
	if (st->status < 0) {
		st->status = status;
		for (int i = 0; i < vm->ncpus; i++)
			if (i != c->index)
				vcpu_kick(&vm->cpus[i]);
	}
	pthread_mutex_unlock(&st->lock);
}

static bool stopping(struct vm *vm)
{
	struct run_state *st = state_of(vm);
	bool r;

	pthread_mutex_lock(&st->lock);
	r = st->status >= 0;
	pthread_mutex_unlock(&st->lock);
	return r;
}

static void *cpu_loop(struct vcpu *c)
{
	for (;;) {
		enum vcpu_event ev = vcpu_run(c);

		switch (ev) {
		case EV_HLT:
			if (pc_halt(c))
				continue; /* waits for an interrupt */
			return NULL; /* halted: done, the others go on */
		case EV_EXIT_PORT:
			finish(c, c->exit_status);
			return NULL;
		case EV_INTR:
			if (stopping(c->vm))
				return NULL;
			continue;
		case EV_SHUTDOWN:
			vcpu_report(c, ev);
			finish(c, STATUS_SHUTDOWN);
			return NULL;
		case EV_MMIO:
			vcpu_report(c, ev);
			finish(c, STATUS_MMIO);
			return NULL;
		case EV_ERROR:
			if (stopping(c->vm))
				return NULL;
			vcpu_report(c, ev);
			finish(c, STATUS_KVM);
			return NULL;
		default:
			vcpu_report(c, ev);
			finish(c, STATUS_INTERNAL);
			return NULL;
		}
	}
}

static void *cpu_thread(void *arg)
{
	struct vcpu *c = arg;

	pc_thread_begin(c);
	(void)cpu_loop(c);
	if (!stopping(c->vm)) /* (a guest that ended is not one that cannot wake) */
		pc_cpu_gone(c);
	pc_thread_end(c);
	return NULL;
}

static void on_kick(int sig) { (void)sig; }

void vm_install_kick_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_kick; /* no SA_RESTART: KVM_RUN must return EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
}

int vm_run(struct vm *vm)
{
	struct run_state st = { .vm = vm, .status = -1 };
	int r;

	pthread_mutex_init(&st.lock, NULL);
	vm->runner = &st;
	vm_install_kick_handler();
	pc_watch_deadlock(vm);
	pthread_mutex_lock(&st.lock); /* threads start only when all are known */
	for (int i = 0; i < vm->ncpus; i++) {
		r = pthread_create(&vm->cpus[i].thread, NULL, cpu_thread, &vm->cpus[i]);
		if (r) {
			fprintf(stderr, "vmm: cannot start vCPU thread %d: %s\n", i, strerror(r));
			st.status = STATUS_KVM;
			break;
		}
		vm->cpus[i].thread_started = true;
	}
	if (st.status >= 0) /* one could not start: stop the others */
		for (int i = 0; i < vm->ncpus; i++)
			if (vm->cpus[i].thread_started)
				vcpu_kick(&vm->cpus[i]);
	pthread_mutex_unlock(&st.lock);
	for (int i = 0; i < vm->ncpus; i++)
		if (vm->cpus[i].thread_started)
			pthread_join(vm->cpus[i].thread, NULL);
	for (int i = 0; i < vm->ncpus; i++)
		vm->cpus[i].thread_started = false;
	vm->runner = NULL;
	pthread_mutex_destroy(&st.lock);
	return st.status < 0 ? STATUS_OK : st.status;
}
