/* replay.c - going back and forth through the record log: undoing and
 * redoing its entries, walking it for a step or a continue (on the replay
 * thread), and leaving and regaining the present. */
#include <string.h>

#include "vmm/target.h"

/* The cursor leaves the end of the log: keep the present of every vCPU. */
static int rec_leave_end(struct gdb_target *t)
{
	if (t->live_saved)
		return 0;
	for (int i = 0; i < t->vm->ncpus; i++) {
		struct tcpu *tc = &t->cpus[i];
		int r = regs_fetch(tc, ALL_STATE);

		if (r)
			return r;
		tc->live = tc->st;
		tc->live_state = tc->state;
		tc->live_dead = tc->dead_status;
		tc->dead_status = 0; /* (before a fault, the vCPU was fine) */
		if (tc->state == TS_HALTED)
			tc->state = TS_STOPPED; /* (nor was it halted) */
	}
	t->live_saved = true;
	return 0;
}

/* Back at the end of the log: the present again. */
static void rec_back_to_end(struct gdb_target *t)
{
	if (!t->live_saved)
		return;
	for (int i = 0; i < t->vm->ncpus; i++) {
		struct tcpu *tc = &t->cpus[i];

		tc->st = tc->live;
		tc->valid |= ALL_STATE;
		tc->dirty |= ALL_STATE;
		tc->state = tc->live_state;
		tc->dead_status = tc->live_dead;
	}
	t->live_saved = false;
}

/* Set a vCPU to the state an entry leads to (going either way). */
static void rec_set_cpu(struct gdb_target *t, const struct rec_view *v, bool back)
{
	struct tcpu *tc = &t->cpus[v->cpu];
	struct fpblob fb;

	rec_apply_state(v, tc->cur, STATE_WORDS);
	regs_unpack(tc->cur, &tc->st);
	tc->valid |= DIRTY_REGS | DIRTY_SREGS;
	tc->dirty |= DIRTY_REGS | DIRTY_SREGS;
	if (v->blob_len == sizeof(fb)) {
		memcpy(&fb, back ? v->blob_before : v->blob_after, sizeof(fb));
		tc->st.fpu = fb.fpu;
		memcpy(tc->st.msr, fb.msr, sizeof(fb.msr));
		tc->valid |= DIRTY_FPU | DIRTY_MSRS;
		tc->dirty |= DIRTY_FPU | DIRTY_MSRS;
	}
}

static void rec_undo(struct gdb_target *t, const struct rec_view *v)
{
	for (int i = (int)v->nwrites - 1; i >= 0; i--) {
		uint8_t *host = mmu_host(&t->vm->mram, v->writes[i].gpa, v->writes[i].len);

		if (host)
			memcpy(host, v->writes[i].old, v->writes[i].len);
	}
	rec_set_cpu(t, v, true);
}

static void rec_redo(struct gdb_target *t, const struct rec_view *v)
{
	for (uint32_t i = 0; i < v->nwrites; i++) {
		uint8_t *host = mmu_host(&t->vm->mram, v->writes[i].gpa, v->writes[i].len);

		if (host)
			memcpy(host, v->writes[i].new_, v->writes[i].len);
	}
	rec_set_cpu(t, v, false);
}

/* How a walk through the log ended. */
struct replay_end {
	struct tcpu *tc;         /* the vCPU to report */
	enum stub_stop_kind kind;
	uint64_t addr;           /* watchpoint */
	bool log_begin;          /* the start of the log */
	bool live;               /* forwards to the end: the rest runs live */
	bool stepped;
	bool interrupted;        /* Ctrl-C (or a detach) stopped it */
	const char *why;
};

/* Walk the log for a resume while recording: backwards (bs, bc), or
 * forwards while the cursor is in the past.  Every vCPU is stopped and the
 * cursor has left the end (rec_leave_end).  The lock is not held when
 * `checks' (a continue on the replay thread): then t->replay_stop is looked
 * at now and then. */
static void rec_walk(struct gdb_target *t, bool reverse, struct tcpu *stepper, bool checks,
		     struct replay_end *e)
{
	struct rec_view *v = &t->view;

	memset(e, 0, sizeof(*e));
	for (uint64_t n = 1;; n++) {
		struct tcpu *tc;

		if (checks && !(n & 0xffff)) {
			bool stop;

			pthread_mutex_lock(&t->lock);
			stop = t->replay_stop;
			pthread_mutex_unlock(&t->lock);
			if (stop) {
				e->interrupted = true;
				return;
			}
		}
		if (!(reverse ? rec_prev(&t->log, v) : rec_next(&t->log, v))) {
			if (!reverse) {
				e->live = true;
				return;
			}
			e->tc = stepper;
			e->kind = STUB_STOP_SIGNAL;
			e->log_begin = true;
			e->why = "at the start of the record log";
			return;
		}
		if (v->cpu >= t->vm->ncpus)
			continue;
		if (reverse)
			rec_undo(t, v);
		else
			rec_redo(t, v);
		if (v->kind != REC_STEP)
			continue;
		tc = &t->cpus[v->cpu];
		e->tc = tc;
		if (stepper) {
			if (tc != stepper)
				continue;
			if (tc->action == STUB_RANGE && tc->st.regs.rip >= tc->range_lo &&
			    tc->st.regs.rip < tc->range_hi && !reverse)
				continue;
			e->kind = STUB_STOP_SIGNAL;
			e->stepped = true;
			e->why = "single step (replay)";
			return;
		}
		for (uint32_t k = 0; k < v->nwrites; k++) {
			struct watch *w = watch_hit(t, v->writes[k].gpa, v->writes[k].len);

			if (w) {
				e->kind = STUB_STOP_WATCH;
				e->addr = w->addr;
				e->why = "watchpoint (replay)";
				return;
			}
		}
		if (rec_bp_at(tc, &e->kind)) {
			e->why = "breakpoint (replay)";
			return;
		}
	}
}

/* The stop a walk came to (lock held).  Returns false if it reached the
 * end of the log going forward: the rest of the resume runs live. */
static bool rec_walk_done_locked(struct gdb_target *t, struct replay_end *e)
{
	struct tcpu *tc = e->tc ? e->tc : cpu_of(t, t->cur_tid);

	if (e->live || rec_at_end(&t->log))
		rec_back_to_end(t); /* the vCPUs are in the present again */
	if (e->live)
		return false;
	for (int i = 0; i < t->vm->ncpus; i++)
		if (t->cpus[i].state != TS_HALTED)
			t->cpus[i].why = t->live_saved ? "stopped (in the recorded past)" : "stopped";
	if (e->interrupted) {
		check_stopped_locked(t); /* Ctrl-C: sched_get_stop says SIGINT */
		return true;
	}
	set_event(tc, e->kind, SIGTRAP_, e->addr, NULL);
	tc->event.log_begin = e->log_begin;
	tc->stepped = e->stepped;
	tc->why = e->why;
	tc->resumed = true;
	tc->seq = ++t->seq;
	check_stopped_locked(t);
	return true;
}

/* The replay thread: walks the log for continues (bc, or c in the past),
 * so that Ctrl-C can stop a long walk. */
void *replay_main(void *arg)
{
	struct gdb_target *t = arg;
	struct replay_end e;

	pthread_mutex_lock(&t->lock);
	for (;;) {
		while (!t->replay_busy && !t->quit)
			pthread_cond_wait(&t->replay_go, &t->lock);
		if (t->quit)
			break;
		pthread_mutex_unlock(&t->lock);
		rec_walk(t, t->replay_reverse, NULL, true, &e);
		pthread_mutex_lock(&t->lock);
		t->replay_busy = false;
		t->replay_stop = false;
		if (!rec_walk_done_locked(t, &e))
			start_locked(t); /* the end of the log: on, live */
		unlock_wake(t);
		pthread_mutex_lock(&t->lock);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

/* A resume that goes back, or forward in the past (lock held, all stopped).
 * Steps walk here and now; continues on the replay thread. */
enum replay_how rec_replay_locked(struct gdb_target *t, const struct stub_resume *r)
{
	struct tcpu *stepper = NULL;
	struct replay_end e;

	for (int i = 0; i < t->vm->ncpus && !stepper; i++)
		if (t->cpus[i].action == STUB_STEP || t->cpus[i].action == STUB_RANGE)
			stepper = &t->cpus[i];
	if (!r->reverse && rec_at_end(&t->log))
		return REPLAY_LIVE;
	t->waiting = t->client;
	if (rec_leave_end(t)) {
		struct tcpu *tc = stepper ? stepper : cpu_of(t, t->cur_tid);

		set_event(tc, STUB_STOP_SIGNAL, SIGTRAP_, 0, "vmm: cannot read the vCPU state to replay\n");
		tc->resumed = true;
		tc->seq = ++t->seq;
		check_stopped_locked(t);
		return REPLAY_DONE;
	}
	if (stepper || !t->replay_started) {
		rec_walk(t, r->reverse, stepper, false, &e);
		return rec_walk_done_locked(t, &e) ? REPLAY_DONE : REPLAY_LIVE;
	}
	t->replay_reverse = r->reverse;
	t->replay_busy = true;
	t->replay_stop = false;
	pthread_cond_signal(&t->replay_go);
	return REPLAY_THREAD;
}
