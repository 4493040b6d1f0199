/* sched.c - the gdb target's scheduler: one host thread per vCPU, run
 * while gdb says so, and the all-stop rules.
 *
 * All-stop with several vCPUs: a stop of one kicks the others, and the stop
 * reply goes out once none runs.  Stops of several at once are kept and
 * reported oldest first, one per resume, and only when the resume includes
 * that thread (gdb cannot take a stop of a thread it did not resume).  A
 * halted vCPU parks until gdb changes its registers.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vmm/pc.h"
#include "vmm/target.h"

/* Drop the lock, then wake whom the locked section asked to: a thread woken
 * while the lock is held would only block on it (a hand-off costs tens of
 * microseconds here, more across cores). */
void unlock_wake(struct gdb_target *t)
{
	uint64_t mask = t->wake_mask, one = 1;
	bool post = t->post_efd;

	t->wake_mask = 0;
	t->post_efd = false;
	pthread_mutex_unlock(&t->lock);
	for (int i = 0; mask; i++, mask >>= 1)
		if (mask & 1)
			pthread_cond_signal(&t->cpus[i].go);
	if (post && write(t->efd, &one, sizeof(one)) < 0)
		perror("vmm: eventfd");
}

static int nrunning(struct gdb_target *t)
{
	int n = t->replay_busy;

	for (int i = 0; i < t->vm->ncpus; i++)
		n += t->cpus[i].state == TS_RUNNING;
	return n;
}

static bool all_halted(struct gdb_target *t)
{
	for (int i = 0; i < t->vm->ncpus; i++)
		if (t->cpus[i].state != TS_HALTED)
			return false;
	return true;
}

void stop_all_locked(struct gdb_target *t)
{
	for (int i = 0; i < t->vm->ncpus; i++) {
		struct tcpu *tc = &t->cpus[i];

		if (tc->state == TS_RUNNING && !tc->stop_req) {
			tc->stop_req = true;
			vcpu_kick(tc->c);
		}
	}
	pthread_cond_broadcast(&t->rec_cond); /* (a vCPU waiting for its turn to record) */
	if (t->replay_busy)
		t->replay_stop = true;
}

/* Is there a stop to report?  Events of threads the last resume left
 * stopped stay kept until a resume includes them (gdb asserts on a stop of
 * a thread it did not resume).  A vCPU inside run_once_locked writes its
 * event without the lock: it counts once it is out (in all-stop none is in
 * then; in non-stop the others run meanwhile). */
bool pending_locked(struct gdb_target *t)
{
	if (t->exited || t->interrupt_req)
		return true;
	for (int i = 0; i < t->vm->ncpus; i++)
		if (!t->cpus[i].in_run && t->cpus[i].has_event && t->cpus[i].resumed)
			return true;
	return false;
}

/* Called with the lock held whenever a vCPU stops. */
void check_stopped_locked(struct gdb_target *t)
{
	bool idle = !nrunning(t);

	if (idle) /* (halt_all_locked waits for it) */
		pthread_cond_broadcast(&t->stopped);
	if (!idle && !t->nonstop) /* all-stop reports once nothing runs; non-stop as each comes */
		return;
	if (!t->nonstop && t->waiting && t->client && !pending_locked(t)) {
		/* Every resumed vCPU halted while others stayed stopped: nothing
		 * can happen any more, so say so rather than wait forever. */
		struct tcpu *tc = t->last_halted ? &t->cpus[t->last_halted - 1] : NULL;

		if (tc && !(tc->resumed && tc->state == TS_HALTED))
			tc = NULL;
		for (int i = 0; i < t->vm->ncpus && !tc; i++)
			if (t->cpus[i].resumed && t->cpus[i].state == TS_HALTED)
				tc = &t->cpus[i];
		if (tc) {
			set_event(tc, STUB_STOP_SIGNAL, SIGTRAP_, 0,
				  "vmm: vCPU %d halted (HLT); nothing runs: the other vCPUs were left stopped\n",
				  tc->c->index);
			tc->stepped = true; /* a continue of it forgets this stop */
			tc->seq = ++t->seq;
		}
	}
	if (pending_locked(t) && t->efd >= 0)
		t->post_efd = t->efd_set = true;
}

/* Run the vCPU once (one KVM_RUN, or a step over a breakpoint) and record
 * what came of it.  Called and returns with the lock held. */
void run_once_locked(struct tcpu *tc)
{
	struct gdb_target *t = tc->t;
	bool step, over, event = false;
	enum vcpu_event ev = EV_INTR;

	step = tc->action == STUB_STEP || tc->action == STUB_RANGE;
	over = tc->over;
	tc->over = false;
	tc->stepped = false;
	tc->reported_bp = false;
	tc->in_run = true;
	t->nactive++;
	unlock_wake(t);

	if (over && bp_step_over(tc, &ev) && (step || ev != EV_DEBUG)) {
		event = classify(tc, ev, step);
	} else if (over) {
		/* stepped over (or nothing to step over): stop */
	} else if (t->rec_on) {
		event = rec_run(tc, step, &ev);
	} else if (regs_flush(tc, step) || bp_set_guest_debug(tc, step)) {
		set_event(tc, STUB_STOP_SIGNAL, SIGILL_, 0, "vmm: vCPU %d: cannot set its state: %s\n",
			  tc->c->index, strerror(errno));
		event = true;
	} else {
		ev = vcpu_run(tc->c);
		event = classify(tc, ev, step);
	}

	pthread_mutex_lock(&t->lock);
	tc->in_run = false;
	if (--t->nactive == 0 && t->paused)
		pthread_cond_broadcast(&t->stopped);
	if (tc->halted_now) {
		tc->halted_now = false;
		tc->state = TS_HALTED;
		t->last_halted = tc->c->index + 1;
	}
	if (event && tc->event.kind == STUB_STOP_EXITED) {
		t->exited = true;
		t->exit_status = tc->event.status;
	}
	/* Range stepping: steps inside the range are not stops. */
	if (event && tc->stepped && tc->action == STUB_RANGE && !tc->stop_req &&
	    regs_fetch(tc, DIRTY_REGS) == 0 && tc->st.regs.rip >= tc->range_lo &&
	    tc->st.regs.rip < tc->range_hi) {
		tc->has_event = false;
		event = false;
	}
	if (event && !t->client && tc->event.kind != STUB_STOP_EXITED) {
		/* No debugger: a fault ends the guest as it would without --gdb;
		 * anything else (a stray debug trap) is not ours to report. */
		tc->has_event = false;
		if (tc->dead_status) {
			unlock_wake(t);
			vcpu_report(tc->c, ev);
			pthread_mutex_lock(&t->lock);
			t->exited = true;
			t->exit_status = tc->dead_status;
		} else {
			event = false;
		}
	}
	if (event || t->exited) {
		tc->seq = ++t->seq;
		if (tc->state != TS_HALTED)
			tc->state = TS_STOPPED;
		if (!t->nonstop || t->exited) /* (non-stop: the others run on) */
			stop_all_locked(t);
	} else if (tc->state == TS_HALTED) {
		if (all_halted(t) && !t->client) {
			t->exited = true;
			t->exit_status = 0;
		} else if (all_halted(t)) {
			set_event(tc, STUB_STOP_SIGNAL, SIGTRAP_, 0,
				  "vmm: the guest halted (HLT); memory stays readable, continuing ends it\n");
			tc->seq = ++t->seq;
		} else if (step && t->client) {
			/* a step onto HLT is done; the vCPU stays halted */
			set_event(tc, STUB_STOP_SIGNAL, SIGTRAP_, 0, NULL);
			tc->stepped = true;
			tc->seq = ++t->seq;
			if (!t->nonstop)
				stop_all_locked(t);
		}
	} else if (tc->stop_req || over) {
		tc->state = TS_STOPPED;
		tc->why = "stopped";
	}
	if (tc->state != TS_RUNNING)
		tc->stop_req = false;
	check_stopped_locked(t);
}

static void *cpu_main(void *arg)
{
	struct tcpu *tc = arg;
	struct gdb_target *t = tc->t;

	pc_thread_begin(tc->c);
	pthread_mutex_lock(&t->lock);
	for (;;) {
		/* (a vCPU stepped inline by the stub thread is not ours meanwhile) */
		while ((tc->state != TS_RUNNING || tc->inline_run || t->paused) && !t->quit)
			pthread_cond_wait(&tc->go, &t->lock);
		if (t->quit)
			break;
		run_once_locked(tc);
		if (t->post_efd || t->wake_mask) {
			unlock_wake(t);
			pthread_mutex_lock(&t->lock);
		}
	}
	unlock_wake(t);
	pc_thread_end(tc->c);
	return NULL;
}

/* A vCPU resumed after its fault (dead_status) ends the guest with that
 * status: the exit is its event (lock held). */
void end_by_fault_locked(struct tcpu *tc)
{
	struct gdb_target *t = tc->t;

	t->exited = true;
	t->exit_status = tc->dead_status;
	set_event(tc, STUB_STOP_EXITED, 0, 0, NULL);
	tc->event.status = tc->dead_status;
}

/* Start the vCPUs per their actions (lock held). */
void start_locked(struct gdb_target *t)
{
	for (int i = 0; i < t->vm->ncpus; i++)
		t->cpus[i].resumed = t->cpus[i].action != STUB_STAY;
	for (int i = 0; i < t->vm->ncpus; i++) {
		struct tcpu *tc = &t->cpus[i];

		if (tc->dead_status && !tc->has_event) {
			end_by_fault_locked(tc);
			check_stopped_locked(t);
			return;
		}
	}
	for (int i = 0; i < t->vm->ncpus; i++) {
		struct tcpu *tc = &t->cpus[i];

		if (tc->action == STUB_STAY)
			continue;
		if (tc->state == TS_HALTED && !(tc->dirty & DIRTY_REGS))
			continue; /* still halted: nothing wakes it */
		tc->state = TS_RUNNING;
		tc->stop_req = false;
		tc->why = "running";
		t->wake_mask |= 1ULL << i;
	}
	if (!nrunning(t) && all_halted(t)) {
		t->exited = true;
		t->exit_status = 0;
		set_event(&t->cpus[0], STUB_STOP_EXITED, 0, 0, NULL);
		t->cpus[0].event.status = 0;
	}
	check_stopped_locked(t);
}

/* Stop everything and wait until it is stopped (lock held). */
void halt_all_locked(struct gdb_target *t)
{
	stop_all_locked(t);
	while (nrunning(t))
		pthread_cond_wait(&t->stopped, &t->lock);
}

/* A kept event that means nothing any more: gdb moved the thread or removed
 * the breakpoint or watchpoint it reports (the thread simply runs on: a
 * breakpoint's instruction has not run), or a step that is not asked for
 * again. */
bool event_stale(struct tcpu *tc)
{
	struct gdb_target *t = tc->t;
	const struct stub_stop *e = &tc->event;
	uint64_t lin;

	switch (e->kind) {
	case STUB_STOP_SWBREAK:
	case STUB_STOP_HWBREAK:
		if (regs_fetch(tc, DIRTY_REGS) || tc->st.regs.rip != tc->event_rip)
			return true;
		lin = code_linear(tc, tc->event_rip);
		return e->kind == STUB_STOP_HWBREAK ? !hw_find(t, STUB_BP_HW, lin)
			: !bp_find(t, lin) && !hw_find(t, STUB_BP_SW, lin);
	case STUB_STOP_WATCH:
		for (int i = 0; i < t->nwatch; i++)
			if (t->watches[i].addr == e->addr)
				return false;
		return true;
	case STUB_STOP_RWATCH:
	case STUB_STOP_AWATCH:
		return !hw_find(t, e->kind == STUB_STOP_RWATCH ? STUB_WP_READ : STUB_WP_ACCESS, e->addr);
	case STUB_STOP_SIGNAL:
		return tc->stepped && e->signo == SIGTRAP_ && tc->action == STUB_CONTINUE;
	default:
		return false;
	}
}

/* Resumed from a breakpoint it reported, still there: step over it first. */
bool needs_over(struct tcpu *tc)
{
	bool alias;

	return tc->reported_bp && tc->state == TS_STOPPED && tc->t->nbp && tc->t->bp_patched &&
	       regs_fetch(tc, DIRTY_REGS) == 0 && tc->st.regs.rip == tc->reported_rip &&
	       bp_ran(tc, tc->reported_rip, &alias);
}

/* A single step of one vCPU while the others stay: the stub thread runs it
 * itself, saving two thread hand-offs per step (the step rate's floor is one
 * KVM exit plus one round trip to gdb).  NULL if the resume is not that. */
static struct tcpu *inline_step_of(struct gdb_target *t)
{
	struct tcpu *one = NULL;

	for (int i = 0; i < t->vm->ncpus; i++) {
		struct tcpu *tc = &t->cpus[i];

		if (tc->action == STUB_STAY)
			continue;
		if (one || tc->action != STUB_STEP || tc->state != TS_STOPPED || tc->dead_status)
			return NULL;
		one = tc;
	}
	return t->client ? one : NULL;
}

int sched_resume(struct gdb_target *t, const struct stub_resume *r)
{
	struct tcpu *one;

	pthread_mutex_lock(&t->lock);
	for (int i = 0; i < t->vm->ncpus; i++) {
		struct tcpu *tc = &t->cpus[i];

		tc->action = i < r->nthreads ? r->action[i] : STUB_CONTINUE;
		tc->range_lo = r->range_start[i];
		tc->range_hi = r->range_end[i];
		tc->resumed = tc->action != STUB_STAY;
		if (tc->has_event && event_stale(tc)) {
			tc->has_event = false;
			tc->why = "stopped";
		}
		if (tc->resumed && !tc->has_event && tc->state == TS_HALTED &&
		    tc->action != STUB_CONTINUE && !(tc->dirty & DIRTY_REGS)) {
			set_event(tc, STUB_STOP_SIGNAL, SIGTRAP_, 0,
				  "vmm: vCPU %d is halted (HLT): a step does not move it\n", i);
			tc->stepped = true;
			tc->seq = ++t->seq;
		}
	}
	/* Going back, or forward in the past: the log has the answer. */
	if (!pending_locked(t) && (r->reverse || (t->rec_on && !rec_at_end(&t->log)))) {
		enum replay_how how = REPLAY_DONE;

		if (t->rec_on) {
			how = rec_replay_locked(t, r);
		} else {
			struct tcpu *tc = cpu_of(t, t->cur_tid);

			for (int i = 0; i < t->vm->ncpus; i++)
				if (t->cpus[i].action != STUB_STAY) {
					tc = &t->cpus[i];
					break;
				}
			set_event(tc, STUB_STOP_SIGNAL, SIGTRAP_, 0,
				  "vmm: nothing is recorded to go back through: 'monitor record on' first\n");
			tc->event.log_begin = true;
			tc->resumed = true;
			tc->seq = ++t->seq;
		}
		if (how == REPLAY_THREAD) {
			unlock_wake(t);
			return 0;
		}
		if (how == REPLAY_DONE) {
			t->waiting = t->client;
			check_stopped_locked(t);
			t->post_efd = t->efd_set = false; /* the stub asks get_stop before it polls */
			unlock_wake(t);
			return 0;
		}
	}
	/* A kept stop of a resumed thread goes first; then threads resumed from
	 * a breakpoint they reported step over it while every other vCPU stays
	 * stopped (the breakpoint is lifted meanwhile); then all go. */
	if (!pending_locked(t)) {
		for (int i = 0; i < t->vm->ncpus; i++) {
			struct tcpu *tc = &t->cpus[i];

			if (tc->resumed && needs_over(tc)) {
				tc->over = true;
				tc->state = TS_RUNNING;
				tc->stop_req = false;
				tc->why = "running";
				pthread_cond_signal(&tc->go);
				/* One at a time: two vCPUs stepping over the same
				 * breakpoint would put its byte back under each other. */
				while (nrunning(t))
					pthread_cond_wait(&t->stopped, &t->lock);
			}
		}
	}
	if (pending_locked(t)) {
		check_stopped_locked(t);
	} else if ((one = inline_step_of(t))) {
		t->waiting = t->client;
		one->state = TS_RUNNING;
		one->stop_req = false;
		one->why = "running";
		one->inline_run = true;
		while (one->state == TS_RUNNING) /* (again after a stale kick) */
			run_once_locked(one);
		one->inline_run = false;
		t->post_efd = t->efd_set = false; /* the stub asks get_stop before it polls */
	} else {
		t->waiting = t->client;
		start_locked(t);
	}
	unlock_wake(t);
	return 0;
}

int sched_interrupt(struct gdb_target *t)
{

	pthread_mutex_lock(&t->lock);
	t->interrupt_req = true;
	stop_all_locked(t);
	check_stopped_locked(t);
	unlock_wake(t);
	return 0;
}

int sched_get_stop(struct gdb_target *t, struct stub_stop *out)
{
	struct tcpu *best = NULL;
	uint64_t v;

	pthread_mutex_lock(&t->lock);
	if ((!t->nonstop && nrunning(t)) || !pending_locked(t)) {
		/* Nothing to report yet: drain the eventfd, or a stale post (a
		 * stop of a session whose client left before asking) would keep
		 * it readable while the guest runs and spin the stub.  A stop that
		 * becomes reportable posts again (check_stopped_locked). */
		if (read(t->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			perror("vmm: eventfd");
		t->efd_set = false;
		unlock_wake(t);
		return -EAGAIN;
	}
	for (int i = 0; i < t->vm->ncpus; i++) {
		struct tcpu *tc = &t->cpus[i];

		if (!tc->in_run && tc->has_event && tc->resumed && (!best || tc->seq < best->seq))
			best = tc;
	}
	t->waiting = false;
	if (t->exited) {
		memset(out, 0, sizeof(*out));
		out->kind = STUB_STOP_EXITED;
		out->status = t->exit_status;
		out->tid = t->cur_tid;
		/* stay readable: whoever asks next learns the guest has ended */
		unlock_wake(t);
		return 0;
	}
	if (best) {
		*out = best->event;
		best->has_event = false;
		if (t->nonstop)
			best->resumed = false; /* stopped, as gdb now sees it */
		best->reported_bp = best->event.kind == STUB_STOP_SWBREAK || best->event_alias;
		best->reported_rip = best->event_rip;
	} else {
		/* Ctrl-C: name a thread that was running, not a halted one, nor
		 * one that still waits for its start-up IPI */
		struct tcpu *tc = cpu_of(t, t->cur_tid);

		for (int i = 0; i < t->vm->ncpus; i++)
			if (tc->state == TS_HALTED || !tc->resumed ||
			    __atomic_load_n(&tc->c->wait, __ATOMIC_ACQUIRE) == VCPU_WAITS_SIPI)
				tc = &t->cpus[i];
		memset(out, 0, sizeof(*out));
		out->kind = STUB_STOP_SIGNAL;
		out->signo = SIGINT_;
		out->tid = tc->c->index + 1;
		tc->why = "interrupted";
	}
	t->interrupt_req = false;
	/* Drain the eventfd only when it was written (not after an inline step);
	 * a write still on its way is drained by the spurious wake it causes. */
	if (!pending_locked(t) && t->efd_set) {
		if (read(t->efd, &v, sizeof(v)) == sizeof(v))
			t->efd_set = false;
		else if (errno != EAGAIN)
			perror("vmm: eventfd");
	}
	t->cur_tid = out->tid;
	t->last = *out;
	t->last.message[0] = 0;
	unlock_wake(t);

	/* Tell the user when the guest left the mode the session describes. */
	if (!t->arch_fixed && out->kind != STUB_STOP_EXITED && !out->message[0]) {
		struct tcpu *tc = cpu_of(t, out->tid);

		if (regs_fetch(tc, DIRTY_SREGS) == 0 && arch_of_mode(t->vm, &tc->st.sregs) != t->arch)
			snprintf(out->message, sizeof(out->message),
				 "vmm: vCPU %d is now in %s mode (%s); this session describes %s: "
				 "reconnect to follow it (gdbinit does this; 'monitor hold' keeps the guest stopped)\n",
				 tc->c->index, mode_name(&tc->st.sregs),
				 tdesc_arch_name(arch_of_mode(t->vm, &tc->st.sregs)), tdesc_arch_name(t->arch));
	}
	return 0;
}

/* Start a thread per vCPU, and the replay thread (without which the replay
 * walks on the stub thread).  0, or -errno if a vCPU thread cannot start:
 * that vCPU would never run, so the threads started are ended again. */
int sched_threads_start(struct gdb_target *t)
{
	for (int i = 0; i < t->vm->ncpus; i++) {
		struct tcpu *tc = &t->cpus[i];
		int r = pthread_create(&tc->c->thread, NULL, cpu_main, tc);

		if (r) {
			fprintf(stderr, "vmm: cannot start the thread of vCPU %d: %s\n", i, strerror(r));
			sched_threads_end(t);
			return -r;
		}
		tc->c->thread_started = true;
	}
	t->replay_started = pthread_create(&t->replay_thread, NULL, replay_main, t) == 0;
	return 0;
}

/* End every thread sched_threads_start started: quit, wake, join. */
void sched_threads_end(struct gdb_target *t)
{
	pthread_mutex_lock(&t->lock);
	t->quit = true;
	stop_all_locked(t);
	for (int i = 0; i < t->vm->ncpus; i++)
		pthread_cond_signal(&t->cpus[i].go);
	pthread_cond_signal(&t->replay_go);
	unlock_wake(t);
	if (t->replay_started)
		pthread_join(t->replay_thread, NULL);
	for (int i = 0; i < t->vm->ncpus; i++)
		if (t->cpus[i].c->thread_started) {
			pthread_join(t->cpus[i].c->thread, NULL);
			t->cpus[i].c->thread_started = false;
		}
}
