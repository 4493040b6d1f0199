/* nonstop.c - non-stop mode: each vCPU stops, steps and resumes on its own
 * while the others run (gdb's "set non-stop on", QNonStop:1).
 *
 * The rest of the target is written for all-stop: the stub thread touches
 * breakpoints, watchpoints, memory and the register caches only while no
 * vCPU runs.  Non-stop keeps that rule with a pause: before the stub thread
 * works on the target, it kicks every running vCPU out of KVM_RUN and holds
 * its thread at the top of its loop (ns_pause_locked); then the operation
 * runs exactly as in all-stop, and the vCPUs go on (ns_unpause_locked).  gdb
 * never sees a paused vCPU stop: it is still running, it lost a few
 * microseconds.  So a memory read sees one moment of the guest, and a
 * breakpoint is written or removed while no vCPU executes.
 *
 * Stepping one vCPU off a software breakpoint needs its byte lifted for one
 * instruction.  Another vCPU must not run past it meanwhile, so the step
 * runs on the stub thread during a pause: no other vCPU executes while the
 * original byte is in guest memory (gdb itself does the same for native
 * non-stop without displaced stepping, but there the other threads' stops
 * are visible).  Emulating the instruction, or stepping a copy of it out of
 * line, would avoid the pause but has to get every instruction right; a
 * debug register per step-over would not work where the probe finds them
 * broken (the nested kvm_amd).
 *
 * In non-stop a vCPU's `resumed` says that gdb sees it running: set by a
 * resume, cleared when its stop is reported (sched_get_stop).  Recording
 * needs every vCPU stopped but one, so it refuses non-stop and non-stop
 * refuses it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/target.h"

int ns_set(struct gdb_target *t, bool on, char *why, size_t cap)
{
	pthread_mutex_lock(&t->lock);
	halt_all_locked(t);
	if (on && t->rec_on) {
		pthread_mutex_unlock(&t->lock);
		snprintf(why, cap, "recording (monitor record on) needs all-stop mode: "
			 "'monitor record off' first");
		return -EBUSY;
	}
	t->nonstop = on;
	t->interrupt_req = false;
	t->waiting = false;
	/* Everything is stopped and gdb knows it: stops kept by all-stop for a
	 * later resume would never be reported (a non-stop resume leaves a
	 * thread with a stop to report alone), so they go. */
	for (int i = 0; i < t->vm->ncpus; i++) {
		t->cpus[i].resumed = false;
		t->cpus[i].has_event = false;
	}
	unlock_wake(t);
	return 0;
}

void ns_pause_locked(struct gdb_target *t)
{
	t->paused = true;
	for (int i = 0; i < t->vm->ncpus; i++)
		if (t->cpus[i].in_run)
			vcpu_kick(t->cpus[i].c);
	while (t->nactive)
		pthread_cond_wait(&t->stopped, &t->lock);
}

void ns_unpause_locked(struct gdb_target *t)
{
	t->paused = false;
	for (int i = 0; i < t->vm->ncpus; i++)
		if (t->cpus[i].state == TS_RUNNING)
			t->wake_mask |= 1ULL << i;
}

/* Around a stub operation (the stub thread): nothing runs in between. */
void ns_hold(struct gdb_target *t)
{
	if (!t->nonstop)
		return;
	pthread_mutex_lock(&t->lock);
	ns_pause_locked(t);
	pthread_mutex_unlock(&t->lock);
}

void ns_release(struct gdb_target *t)
{
	if (!t->nonstop)
		return;
	pthread_mutex_lock(&t->lock);
	ns_unpause_locked(t);
	unlock_wake(t);
}

/* Does gdb see thread tid running (non-stop)? */
bool ns_running(struct gdb_target *t, int tid)
{
	bool r;

	if (!t->nonstop)
		return false;
	pthread_mutex_lock(&t->lock);
	r = cpu_of(t, tid)->resumed;
	pthread_mutex_unlock(&t->lock);
	return r;
}

/* A stop gdb asked for (vCont;t, vCtrlC): reported as its own event. */
static void stop_one_locked(struct tcpu *tc, int signo, const char *why)
{
	set_event(tc, STUB_STOP_SIGNAL, signo, 0, NULL);
	tc->why = why;
	tc->seq = ++tc->t->seq;
	if (tc->state == TS_RUNNING)
		tc->state = TS_STOPPED;
	/* (a halted vCPU stays halted: resumed, it waits as before) */
}

/* Start one vCPU gdb sees stopped (lock held, the others paused). */
static void start_one_locked(struct tcpu *tc, enum stub_action a, uint64_t lo, uint64_t hi)
{
	struct gdb_target *t = tc->t;

	tc->action = a;
	tc->range_lo = lo;
	tc->range_hi = hi;
	tc->resumed = true;
	if (tc->dead_status) {
		end_by_fault_locked(tc);
		tc->seq = ++t->seq;
		stop_all_locked(t);
		return;
	}
	if (tc->state == TS_HALTED && !(tc->dirty & DIRTY_REGS)) {
		/* It waits in HLT, as a running vCPU there does. */
		if (a != STUB_CONTINUE) {
			set_event(tc, STUB_STOP_SIGNAL, SIGTRAP_, 0,
				  "vmm: vCPU %d is halted (HLT): a step does not move it\n",
				  tc->c->index);
			tc->stepped = true;
			tc->seq = ++t->seq;
		}
		return;
	}
	if (needs_over(tc)) {
		/* Off its breakpoint first, on this thread, while nothing
		 * else runs: the byte is lifted for this one instruction. */
		tc->over = true;
		tc->state = TS_RUNNING;
		tc->stop_req = false;
		tc->inline_run = true;
		run_once_locked(tc);
		tc->inline_run = false;
		if (tc->has_event || t->exited)
			return; /* the step is done, or it stopped on the way */
	}
	tc->state = TS_RUNNING;
	tc->stop_req = false;
	tc->why = "running";
}

/* vCont in non-stop: only the threads it names change; one that runs, or
 * whose stop is still to be reported, is left alone. */
int ns_resume(struct gdb_target *t, const struct stub_resume *r)
{
	pthread_mutex_lock(&t->lock);
	ns_pause_locked(t);
	for (int i = 0; i < t->vm->ncpus && i < r->nthreads && !t->exited; i++) {
		struct tcpu *tc = &t->cpus[i];
		enum stub_action a = r->action[i];

		if (a == STUB_STAY || tc->has_event)
			continue;
		if (a == STUB_STOP_THREAD) {
			if (tc->resumed)
				stop_one_locked(tc, 0, "stopped");
			continue;
		}
		if (!tc->resumed)
			start_one_locked(tc, a, r->range_start[i], r->range_end[i]);
	}
	ns_unpause_locked(t);
	check_stopped_locked(t);
	unlock_wake(t);
	return 0;
}

/* vCtrlC: stop one running vCPU (the current thread if it runs). */
int ns_interrupt(struct gdb_target *t)
{
	struct tcpu *tc = NULL, *cur;

	pthread_mutex_lock(&t->lock);
	ns_pause_locked(t);
	cur = cpu_of(t, t->cur_tid);
	if (cur->resumed && !cur->has_event)
		tc = cur;
	for (int i = 0; i < t->vm->ncpus && !tc; i++)
		if (t->cpus[i].resumed && !t->cpus[i].has_event)
			tc = &t->cpus[i];
	if (tc)
		stop_one_locked(tc, SIGINT_, "interrupted");
	ns_unpause_locked(t);
	check_stopped_locked(t);
	unlock_wake(t);
	return 0;
}

/* The one thread '?' reports in non-stop: the current one if stopped, else
 * the first stopped one; 0 if none (lock held). */
static int reported_tid_locked(struct gdb_target *t)
{
	if (!cpu_of(t, t->cur_tid)->resumed)
		return t->cur_tid;
	for (int i = 0; i < t->vm->ncpus; i++)
		if (!t->cpus[i].resumed)
			return i + 1;
	return 0;
}

/* '?' in non-stop.  gdb 13 takes one stopped thread at a non-stop connect
 * (with two or more its remote.c asserts in wait(): measured); it then
 * takes every thread it was not told of as running.  So the one stopped
 * thread is reported (its last stop, or signal 0), and every other stopped
 * vCPU is started, to be what gdb believes: running ("interrupt -a" stops
 * them all again). */
int ns_thread_stop(struct gdb_target *t, int tid, struct stub_stop *out)
{
	struct tcpu *tc = cpu_of(t, tid);
	int r = 0;

	pthread_mutex_lock(&t->lock);
	memset(out, 0, sizeof(*out));
	if (t->exited) {
		out->kind = STUB_STOP_EXITED;
		out->status = t->exit_status;
	} else if (tc->resumed) {
		r = -EBUSY;
	} else if (reported_tid_locked(t) != tid) {
		ns_pause_locked(t);
		start_one_locked(tc, STUB_CONTINUE, 0, 0);
		ns_unpause_locked(t);
		check_stopped_locked(t);
		r = -EBUSY;
	} else if (t->last.tid == tid) {
		*out = t->last;
	} else {
		out->kind = STUB_STOP_SIGNAL;
		out->tid = tid;
	}
	unlock_wake(t);
	return r;
}

/* Console output for gdb in non-stop (vm->out_lock held): kept, the oldest
 * bytes dropped when full. */
void ns_console_put(struct gdb_target *t, const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (t->con_len == CON_RING) {
			t->con_head = (t->con_head + 1) % CON_RING;
			t->con_len--;
			t->con_lost++;
		}
		t->con_ring[(t->con_head + t->con_len++) % CON_RING] = buf[i];
	}
}

/* monitor console read: the kept output, NUL-terminated; its length. */
size_t ns_console_read(struct gdb_target *t, char *out, size_t cap)
{
	size_t n = 0;

	if (cap < 80)
		return 0;
	pthread_mutex_lock(&t->vm->out_lock);
	if (t->con_lost)
		n = (size_t)snprintf(out, cap, "(%llu bytes lost: more than %d came between reads)\n",
				     (unsigned long long)t->con_lost, CON_RING);
	while (t->con_len && n < cap - 1) {
		out[n++] = t->con_ring[t->con_head];
		t->con_head = (t->con_head + 1) % CON_RING;
		t->con_len--;
	}
	out[n] = 0;
	t->con_lost = 0;
	pthread_mutex_unlock(&t->vm->out_lock);
	return n;
}
