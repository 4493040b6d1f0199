/* record_run.c - recording (monitor record on): the vCPUs take turns to
 * single-step, each instruction and what it wrote logged; the debugger's
 * own changes logged too; starting, stopping and the status of it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/decode.h"
#include "vmm/pc.h"
#include "vmm/target.h"

#define REC_QUANTUM 64 /* instructions a vCPU records before the others get a turn */

/* The bytes at tc's RIP (up to 15; fewer before an unmapped page). */
static long insn_bytes(struct tcpu *tc, uint8_t *b)
{
	const struct kvm_sregs *sr = &tc->st.sregs;
	bool x64 = (sr->efer & EFER_LMA) && sr->cs.l;
	uint64_t lin = tc->st.regs.rip + (x64 ? 0 : sr->cs.base);
	struct mmu_regs mr = { sr->cr0, sr->cr3, sr->cr4, sr->efer };

	if (!x64 && !(sr->efer & EFER_LMA))
		lin &= 0xffffffffULL;
	return mmu_read(&tc->t->vm->mram, &mr, lin, b, 15);
}

static void rec_drop_msg(struct gdb_target *t)
{
	if (t->log.dropped > t->rec_dropped_said) {
		if (!t->rec_dropped_said)
			fprintf(stderr, "vmm: the record log is full (--record-limit %llu bytes): "
				"its oldest instructions are dropped\n", (unsigned long long)t->rec_limit);
		t->rec_dropped_said = t->log.dropped;
	}
}

/* Record one instruction of tc (lock not held, tc's turn).  Returns what
 * vcpu_run said; *done tells whether an instruction ran and was logged;
 * *watch is the watchpoint one of its writes hit, if any. */
static enum vcpu_event rec_one(struct tcpu *tc, bool *done, struct watch **watch)
{
	struct gdb_target *t = tc->t;
	struct kvm_run *run = tc->c->run;
	struct rec_build *b = &tc->bld;
	uint64_t pre[REC_WORDS], post[REC_WORDS];
	struct fpblob fb[2];
	bool fpu, zap = false, wrote = false;
	enum vcpu_event ev;
	uint8_t insn[15];
	struct insn_mode mode;
	long dropped, ni;
	int hlt;

	*done = false;
	*watch = NULL;
	if (regs_fetch(tc, DIRTY_REGS | DIRTY_SREGS))
		return EV_ERROR;
	ni = insn_bytes(tc, insn);
	mode = insn_mode_of(&tc->st.sregs);
	fpu = insn_may_touch_fpu(insn, ni, mode);
	hlt = insn_hlt_len(insn, ni, mode);
	if (fpu && regs_fetch(tc, DIRTY_FPU | DIRTY_MSRS))
		return EV_ERROR;
	regs_pack(&tc->st, pre);
	if (fpu) {
		memset(&fb, 0, sizeof(fb));
		fb[0].fpu = tc->st.fpu;
		memcpy(fb[0].msr, tc->st.msr, sizeof(fb[0].msr));
	}
	rec_begin(b, tc->c->index, REC_STEP);
	if (hlt) {
		tc->st.regs.rip += hlt;
		tc->dirty |= DIRTY_REGS;
		regs_pack(&tc->st, post);
		if (regs_flush(tc, true))
			return EV_ERROR;
		ev = EV_HLT;
		goto log;
	}
	if (rec_tables_open(tc)) {
		fprintf(stderr, "vmm: recording: could not leave the guest's page tables writable\n");
		return EV_INTERNAL;
	}
	ev = rec_run_insn(tc, &wrote, watch, &zap);
	if (ev == EV_ERROR)
		return ev;
	if (regs_fetch(tc, DIRTY_REGS | DIRTY_SREGS))
		return EV_ERROR;
	if (rec_tables_diff(tc, watch, &wrote))
		return EV_INTERNAL;
	regs_pack(&tc->st, post);
	if (!wrote && ((ev == EV_DEBUG && run->debug.arch.exception == EXC_DB && !tc->rec_trap_due &&
			!memcmp(pre, post, STATE_WORDS * sizeof(pre[0])) && !insn_near_jump(insn, ni, mode)) ||
		       (ev == EV_INTERNAL && run->exit_reason == KVM_EXIT_INTERNAL_ERROR &&
			run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION))) {
		/* KVM could not run it on read-only memory */
		if (!rec_dt_writable(tc, pre, watch, &wrote, &zap, &ev))
			ev = rec_unprotected(tc, watch, &wrote);
		if (regs_fetch(tc, DIRTY_REGS | DIRTY_SREGS) || rec_tables_diff(tc, watch, &wrote))
			return EV_ERROR;
		regs_pack(&tc->st, post);
	}
log:
	rec_set_state(b, pre, post, STATE_WORDS);
	if (ev == EV_DEBUG && run->debug.arch.exception != EXC_DB)
		return ev; /* not a step: the caller reports it */
	if (ev == EV_DEBUG && rec_build_empty(b) && tc->rec_trap_due) {
		/* the trap of an instruction logged before a kick: nothing ran */
		tc->rec_trap_due = false;
		return EV_INTR;
	}
	if (ev == EV_INTR && rec_build_empty(b))
		return ev; /* a kick before the instruction ran */
	if (ev != EV_DEBUG && ev != EV_INTR && ev != EV_HLT && !wrote)
		return ev; /* it did not complete (exit port, fault, error) */
	tc->rec_trap_due = ev == EV_INTR; /* (after a write, KVM may or may not still owe the trap) */
	if (fpu) {
		if (regs_fetch(tc, DIRTY_FPU | DIRTY_MSRS) == 0) {
			fb[1].fpu = tc->st.fpu;
			memcpy(fb[1].msr, tc->st.msr, sizeof(fb[1].msr));
		} else {
			fb[1] = fb[0];
		}
		if (memcmp(&fb[0], &fb[1], sizeof(fb[0])))
			rec_set_blobs(b, &fb[0], &fb[1], sizeof(fb[0]));
	}
	dropped = rec_append(&t->log, b);
	if (dropped < 0) {
		fprintf(stderr, "vmm: the record log cannot grow: %s\n", strerror((int)-dropped));
		return EV_INTERNAL;
	}
	memcpy(tc->cur, post, STATE_WORDS * sizeof(post[0]));
	if (zap) {
		t->ptp_valid = false;
		if (vm_reload_slots(t->vm))
			fprintf(stderr, "vmm: could not reload the memory slots after a page-table write\n");
	}
	*done = true;
	return ev == EV_INTR ? EV_DEBUG : ev;
}

/* A breakpoint at tc's RIP (the instruction there has not run)? */
bool rec_bp_at(struct tcpu *tc, enum stub_stop_kind *kind)
{
	struct gdb_target *t = tc->t;
	uint64_t rip = code_linear(tc, tc->st.regs.rip);

	if (hw_find(t, STUB_BP_HW, rip))
		*kind = STUB_STOP_HWBREAK;
	else if (bp_find(t, rip) || hw_find(t, STUB_BP_SW, rip))
		*kind = STUB_STOP_SWBREAK;
	else
		return false;
	return true;
}

/* Take tc's turn to record (lock held); false if it is to stop instead. */
static bool rec_turn_locked(struct tcpu *tc)
{
	struct gdb_target *t = tc->t;

	tc->rec_waiting = true;
	while (t->rec_owner && t->rec_owner != tc && !tc->stop_req && !t->quit)
		pthread_cond_wait(&t->rec_cond, &t->lock);
	tc->rec_waiting = false;
	if (tc->stop_req || t->quit || !t->rec_on)
		return false;
	t->rec_owner = tc;
	return true;
}

/* Give the turn to the next vCPU waiting for one, round robin (lock held). */
static void rec_pass_locked(struct tcpu *tc)
{
	struct gdb_target *t = tc->t;
	int n = t->vm->ncpus;

	if (t->rec_owner != tc)
		return;
	t->rec_owner = NULL;
	for (int k = 1; k <= n; k++) {
		struct tcpu *o = &t->cpus[(tc->c->index + k) % n];

		if (o != tc && o->rec_waiting) {
			t->rec_owner = o;
			break;
		}
	}
	pthread_cond_broadcast(&t->rec_cond);
}

/* Run tc under recording: one instruction for a step, else up to a quantum
 * of them until something is to be reported.  Lock not held; returns true
 * with tc->event set for a stop to report. */
bool rec_run(struct tcpu *tc, bool step, enum vcpu_event *evp)
{
	struct gdb_target *t = tc->t;
	enum stub_stop_kind kind;
	bool event = false, go;

	int wait = __atomic_load_n(&tc->c->wait, __ATOMIC_ACQUIRE);
	bool woke = wait == VCPU_HALTED && !step;
	char why[200];

	*evp = EV_INTR;
	/* A vCPU halted until its next interrupt, or an application processor
	 * waiting for its start-up IPI, waits without the turn, which the one
	 * that will send it needs. */
	if (woke || wait == VCPU_WAITS_SIPI) {
		int r = pc_idle(tc->c, false);

		if (wait == VCPU_WAITS_SIPI)
			regs_ran(tc); /* (a SIPI set CS:IP) */
		if (r)
			return false; /* kicked: the caller sees whether to stop */
	}
	pthread_mutex_lock(&t->lock);
	go = rec_turn_locked(tc);
	pthread_mutex_unlock(&t->lock);
	for (int n = 0; go && n < REC_QUANTUM && !event; n++) {
		struct watch *w;
		bool done;
		enum vcpu_event ev;
		int irq = step ? 0 : rec_interrupt(tc, why, sizeof(why)); /* (a step takes none) */

		if (irq > 0) {
			/* delivered, as a step: a breakpoint on the handler stops here */
			woke = false;
			*evp = EV_DEBUG;
			if (rec_bp_at(tc, &kind)) {
				bp_event(tc, kind, tc->st.regs.rip);
				event = true;
			}
			continue;
		}
		if (irq < 0 && woke) {
			/* woken for an interrupt it cannot take: HLT again would spin */
			set_event(tc, STUB_STOP_SIGNAL, SIGTRAP_, 0,
				  "vmm: vCPU %d waits in HLT for an interrupt recording cannot deliver (%s): "
				  "'monitor record off' lets it come\n", tc->c->index, why);
			tc->why = "halted, waiting for an interrupt recording cannot deliver";
			event = true;
			break;
		}
		woke = false;
		ev = rec_one(tc, &done, &w);

		*evp = ev;
		if (!done && ev == EV_INTERNAL && tc->c->run->exit_reason == KVM_EXIT_INTERNAL_ERROR &&
		    tc->c->run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) {
			/* The instruction has not run; without recording it can. */
			regs_ran(tc);
			set_event(tc, STUB_STOP_SIGNAL, SIGILL_, 0,
				  "vmm: vCPU %d: KVM cannot emulate the instruction at 0x%llx on read-only "
				  "memory, as recording needs; 'monitor record off' lets it run\n",
				  tc->c->index,
				  regs_fetch(tc, DIRTY_REGS) ? 0ULL : (unsigned long long)tc->st.regs.rip);
			tc->why = "not recordable";
			event = true;
			break;
		}
		if (!done) {
			if (ev != EV_INTR)
				event = classify(tc, ev, step);
			break;
		}
		if (w) {
			set_event(tc, STUB_STOP_WATCH, SIGTRAP_, w->addr, NULL);
			tc->why = "watchpoint";
			event = true;
		} else if (ev == EV_HLT) {
			event = classify(tc, ev, step);
			break;
		} else if (ev != EV_DEBUG) {
			event = classify(tc, ev, step);
		} else if (rec_bp_at(tc, &kind)) {
			bp_event(tc, kind, tc->st.regs.rip);
			event = true;
		} else if (step) {
			set_event(tc, STUB_STOP_SIGNAL, SIGTRAP_, 0, NULL);
			tc->stepped = true;
			tc->why = "single step";
			event = true;
		}
	}
	pthread_mutex_lock(&t->lock);
	rec_pass_locked(tc);
	rec_drop_msg(t);
	pthread_mutex_unlock(&t->lock);
	return event;
}

/* The debugger changes registers or memory: in the past, the log after the
 * cursor is forgotten first (the past changed; KVM forgets its shadow page
 * tables too, built for a future that will not come). */
static void rec_change_history(struct gdb_target *t, bool say)
{
	if (!t->rec_on || rec_at_end(&t->log))
		return;
	rec_irq_rewind(t);
	rec_truncate(&t->log);
	t->live_saved = false;
	t->ptp_valid = false;
	if (vm_reload_slots(t->vm))
		fprintf(stderr, "vmm: could not reload the memory slots\n");
	if (say)
		fprintf(stderr, "vmm: history changed: the record log after this point is dropped\n");
}

/* Log a change the debugger made (REC_USER), so going back undoes it. */
void rec_log_user(struct tcpu *tc, const uint64_t *before, const struct fpblob *fb_before)
{
	struct gdb_target *t = tc->t;
	uint64_t after[REC_WORDS];
	struct fpblob fb;

	if (regs_fetch(tc, ALL_STATE))
		return;
	regs_pack(&tc->st, after);
	rec_set_state(&tc->bld, before, after, STATE_WORDS);
	fb.fpu = tc->st.fpu;
	memcpy(fb.msr, tc->st.msr, sizeof(fb.msr));
	if (fb_before && memcmp(fb_before, &fb, sizeof(fb)))
		rec_set_blobs(&tc->bld, fb_before, &fb, sizeof(fb));
	if (!rec_build_empty(&tc->bld) && rec_append(&t->log, &tc->bld) < 0)
		fprintf(stderr, "vmm: the record log cannot grow\n");
	memcpy(tc->cur, after, STATE_WORDS * sizeof(after[0]));
	rec_drop_msg(t);
}

/* "256 MiB", "64 KiB", "1536 KiB", "100 bytes". */
static const char *size_text(uint64_t n, char *buf, size_t cap)
{
	if (n && !(n % (1ULL << 30)))
		snprintf(buf, cap, "%llu GiB", (unsigned long long)(n >> 30));
	else if (n && !(n % (1ULL << 20)))
		snprintf(buf, cap, "%llu MiB", (unsigned long long)(n >> 20));
	else if (n && !(n % 1024))
		snprintf(buf, cap, "%llu KiB", (unsigned long long)(n >> 10));
	else
		snprintf(buf, cap, "%llu bytes", (unsigned long long)n);
	return buf;
}

int rec_start(struct gdb_target *t, char *out, size_t cap)
{
	char lim[32];
	int r;

	if (t->rec_on) {
		snprintf(out, cap, "recording is already on\n");
		return 0;
	}
	if (t->nonstop) {
		snprintf(out, cap, "cannot record in non-stop mode: every vCPU but the recording one "
			 "must be stopped ('set non-stop off' before connecting)\n");
		return 0;
	}
	kvm_probe(t->vm->kvm_fd, &t->vm->feat, PROBE_WATCH);
	if (!t->vm->feat.readonly_slot) {
		snprintf(out, cap, "cannot record: this KVM does not trap writes to read-only memory\n");
		return 0;
	}
	for (int i = 0; i < HW_SLOTS; i++)
		if (t->hw[i].used && (t->hw[i].type == STUB_WP_READ || t->hw[i].type == STUB_WP_ACCESS)) {
			snprintf(out, cap, "cannot record with read or access watchpoints set: "
				 "recording sees writes only; delete them first\n");
			return 0;
		}
	for (int i = 0; i < t->vm->ncpus; i++) {
		if (regs_fetch(&t->cpus[i], DIRTY_REGS | DIRTY_SREGS))
			return -EIO;
		regs_pack(&t->cpus[i].st, t->cpus[i].cur);
		t->cpus[i].rec_trap_due = false;
	}
	r = vm_set_readonly(t->vm, 0, t->vm->ram_size, true);
	if (r) {
		snprintf(out, cap, "cannot record: read-only memory slots refused: %s\n", strerror(-r));
		if (vm_set_readonly(t->vm, 0, t->vm->ram_size, false) == 0)
			watch_apply(t, NULL);
		return 0;
	}
	bp_patch_all(t, false);
	rec_init(&t->log, t->rec_limit);
	t->rec_dropped_said = 0;
	t->live_saved = false;
	t->ptp_valid = false;
	t->rec_on = true;
	t->nirq_marks = 0;
	snprintf(out, cap, "recording: every instruction of every vCPU and every write to guest RAM "
		 "is logged (limit %s); reverse-stepi, reverse-continue and friends go back\n",
		 size_text(t->rec_limit, lim, sizeof(lim)));
	return 0;
}

void rec_stop(struct gdb_target *t)
{
	if (!t->rec_on)
		return;
	rec_change_history(t, false); /* the present is where the cursor is */
	rec_free(&t->log);
	t->rec_on = false;
	t->live_saved = false;
	t->nopen = 0;
	t->open_valid = false;
	if (vm_set_readonly(t->vm, 0, t->vm->ram_size, false) || watch_apply(t, NULL))
		fprintf(stderr, "vmm: could not restore the memory slots after recording\n");
	bp_patch_all(t, true);
	for (int i = 0; i < t->vm->ncpus; i++)
		rec_build_free(&t->cpus[i].bld);
}

void rec_status(struct gdb_target *t, char *out, size_t cap)
{
	const struct rec_log *l = &t->log;
	char lim[32];

	if (!t->rec_on) {
		snprintf(out, cap, "recording: off (monitor record on starts it; limit %s)\n",
			 size_text(t->rec_limit, lim, sizeof(lim)));
		return;
	}
	snprintf(out, cap,
		 "recording: on\n"
		 "instructions: %llu in the log (%llu entries)%s\n"
		 "log data: %llu bytes (%.1f bytes per instruction)\n"
		 "memory: %llu bytes of %llu allowed (--record-limit)\n"
		 "dropped: %llu oldest instructions\n"
		 "position: %s%llu instructions before the end\n",
		 (unsigned long long)l->steps, (unsigned long long)l->entries,
		 l->steps ? "" : " - nothing recorded yet",
		 (unsigned long long)l->used, l->steps ? (double)l->used / (double)l->steps : 0.0,
		 (unsigned long long)l->bytes, (unsigned long long)t->rec_limit,
		 (unsigned long long)l->dropped,
		 rec_at_end(l) ? "at the end (live), " : rec_at_begin(l) ? "at the start, " : "replaying, ",
		 (unsigned long long)l->back);
}

/* The debugger changes a register while recording: the history after the
 * cursor goes, and the vCPU's state before the change is kept in *u, an
 * entry begun; rec_log_user logs it once changed. */
int rec_user_regs_begin(struct tcpu *tc, struct rec_user_regs *u)
{
	int r;

	rec_change_history(tc->t, true);
	r = regs_fetch(tc, ALL_STATE);
	if (r)
		return r;
	regs_pack(&tc->st, u->words);
	u->fb.fpu = tc->st.fpu;
	memcpy(u->fb.msr, tc->st.msr, sizeof(u->fb.msr));
	rec_begin(&tc->bld, tc->c->index, REC_USER);
	return 0;
}

/* Recording: the debugger writes memory.  Build its log entry (old and new
 * bytes, page by page) before the write; op_write_mem appends it. */
int rec_log_mem(struct gdb_target *t, struct tcpu *tc, uint64_t addr, const uint8_t *buf,
		size_t len)
{
	struct mmu_regs mr;
	int r;

	rec_change_history(t, true);
	rec_begin(&tc->bld, tc->c->index, REC_USER);
	if (!t->phys && (r = mmu_regs_of(tc, &mr)))
		return r;
	for (size_t done = 0; done < len;) {
		uint64_t va = addr + done, chunk = PAGE_SIZE - (va & (PAGE_SIZE - 1));
		struct mmu_walk w;
		uint8_t *host;

		if (chunk > len - done)
			chunk = len - done;
		if (t->phys)
			w.gpa = va;
		else if (mmu_translate(&t->vm->mram, &mr, va, &w))
			return -EFAULT;
		host = mmu_host(&t->vm->mram, w.gpa, chunk);
		if (!host)
			return -EFAULT;
		r = rec_add_write(&tc->bld, w.gpa, host, buf + done, (uint32_t)chunk);
		if (r)
			return r == -ENOSPC ? -EINVAL : r;
		done += chunk;
	}
	return 0;
}

/* The write rec_log_mem built its entry for is done: logged, going back
 * undoes it. */
void rec_log_mem_end(struct gdb_target *t, struct tcpu *tc)
{
	if (rec_append(&t->log, &tc->bld) < 0)
		fprintf(stderr, "vmm: the record log cannot grow\n");
	rec_drop_msg(t);
}
