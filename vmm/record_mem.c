/* record_mem.c - recording one instruction over read-only RAM, and finding
 * every byte it writes: trapped writes carried out and logged, the
 * page-table pages left writable and compared with a copy, and the
 * fallbacks for what KVM cannot finish on read-only memory. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/target.h"

/* Is gpa in a page of the writing vCPU's page tables?  KVM may keep shadow
 * page tables built from such a page; a write the vmm applies behind its
 * back must make KVM forget them. */
static int table_pages_refresh(struct tcpu *tc)
{
	struct gdb_target *t = tc->t;
	const struct kvm_sregs *sr = &tc->st.sregs;
	struct mmu_regs mr = { sr->cr0, sr->cr3, sr->cr4, sr->efer };
	int n;

	if (t->ptp_valid && !memcmp(&mr, &t->ptp_key, sizeof(mr)))
		return 0;
	if (!t->ptp && !(t->ptp = malloc(PTP_MAX * sizeof(*t->ptp))))
		return -ENOMEM;
	n = mmu_table_pages(&t->vm->mram, &mr, t->ptp, PTP_MAX);
	if (n < 0)
		return n; /* too many to tell */
	t->nptp = n;
	t->ptp_key = mr;
	t->ptp_valid = true;
	return 0;
}

static bool is_table_page(struct tcpu *tc, uint64_t gpa)
{
	struct gdb_target *t = tc->t;
	int lo = 0, hi;

	if (table_pages_refresh(tc))
		return true; /* cannot tell: assume so */
	gpa = PAGE_DOWN(gpa);
	for (hi = t->nptp; lo < hi;) {
		int mid = (lo + hi) / 2;

		if (t->ptp[mid] == gpa)
			return true;
		if (t->ptp[mid] < gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* The table pages rec_tables_open left writable back to read-only, as all
 * of RAM is while recording. */
static int rec_tables_close(struct gdb_target *t)
{
	int r = 0;

	for (int i = 0; i < t->nopen; i++)
		r |= vm_set_readonly(t->vm, t->open_gpa[i], PAGE_SIZE, true);
	t->nopen = 0;
	t->open_valid = false;
	return r ? -EIO : 0;
}

/* Before tc records an instruction: leave the page-table pages of its
 * hierarchy writable (see struct gdb_target) and copy them, to find what
 * the instruction changes there.  Where there are more than REC_OPEN_MAX,
 * or a slot cannot be split, the rest stay read-only (trapped as before). */
int rec_tables_open(struct tcpu *tc)
{
	struct gdb_target *t = tc->t;
	const struct kvm_sregs *sr = &tc->st.sregs;
	struct mmu_regs mr = { sr->cr0, sr->cr3, sr->cr4, sr->efer };

	if (!t->open_valid || memcmp(&mr, &t->open_key, sizeof(mr))) {
		if (rec_tables_close(t))
			return -EIO;
		t->open_key = mr;
		t->open_valid = true;
		if (table_pages_refresh(tc) == 0 && t->nptp > REC_OPEN_MAX && !t->open_full_said) {
			fprintf(stderr, "vmm: recording: the guest's page tables take %d pages; the first %d "
				"stay writable, the CPU's walks through the others exit to KVM\n",
				t->nptp, REC_OPEN_MAX);
			t->open_full_said = true;
		}
		if (!t->open_copy && !(t->open_copy = malloc(REC_OPEN_MAX * sizeof(*t->open_copy))))
			return -ENOMEM;
		for (int i = 0, k; t->ptp_valid && i < t->nptp && t->nopen < REC_OPEN_MAX; i = k) {
			/* a run of adjacent pages at a time: one rebuild of the slots */
			for (k = i + 1; k < t->nptp && k - i < REC_OPEN_MAX - t->nopen &&
			     t->ptp[k] == t->ptp[k - 1] + PAGE_SIZE; k++)
				;
			if (vm_set_readonly(t->vm, t->ptp[i], (uint64_t)(k - i) * PAGE_SIZE, false))
				break; /* (no slot left: the rest stay trapped) */
			while (i < k)
				t->open_gpa[t->nopen++] = t->ptp[i++];
		}
	}
	for (int i = 0; i < t->nopen; i++)
		memcpy(t->open_copy[i], t->vm->ram + t->open_gpa[i], PAGE_SIZE);
	return 0;
}

static int rec_diff(struct tcpu *tc, const uint8_t *was, uint64_t gpa0, uint64_t len0,
		    struct watch **watch, bool *wrote);

/* After the instruction: log what it changed in the open table pages.  A
 * change there may have changed the hierarchy: its pages are derived again
 * before the next instruction. */
int rec_tables_diff(struct tcpu *tc, struct watch **watch, bool *wrote)
{
	struct gdb_target *t = tc->t;
	bool changed = false;

	for (int i = 0; i < t->nopen; i++) {
		const uint8_t *now = t->vm->ram + t->open_gpa[i];

		if (!memcmp(now, t->open_copy[i], PAGE_SIZE))
			continue;
		if (rec_diff(tc, t->open_copy[i], t->open_gpa[i], PAGE_SIZE, watch, wrote))
			return -1;
		changed = true;
	}
	if (changed) {
		/* the same pages still (accessed and dirty bits, new entries
		 * into known tables), or others to open before the next one */
		bool same;

		t->ptp_valid = false;
		same = table_pages_refresh(tc) == 0 && t->nopen == (t->nptp < REC_OPEN_MAX ? t->nptp : REC_OPEN_MAX);
		for (int i = 0; same && i < t->nopen; i++)
			same = t->open_gpa[i] == t->ptp[i];
		if (!same && rec_tables_close(t))
			return -1;
	}
	return 0;
}

/* Run tc's instruction: KVM_RUN until it is done, carrying out (and logging
 * into tc->bld) each write it makes to read-only RAM.  *zap: one of them
 * hit a page table. */
enum vcpu_event rec_run_insn(struct tcpu *tc, bool *wrote, struct watch **watch, bool *zap)
{
	struct gdb_target *t = tc->t;
	struct kvm_run *run = tc->c->run;
	enum vcpu_event ev;

	if (regs_flush(tc, true) || bp_set_guest_debug(tc, true))
		return EV_ERROR;
	for (;;) {
		uint64_t gpa;
		uint32_t len;
		uint8_t *host;
		struct watch *w;

		ev = vcpu_run(tc->c);
		regs_ran(tc);
		if (ev != EV_MMIO || !run->mmio.is_write || run->mmio.len > 8)
			return ev;
		gpa = run->mmio.phys_addr;
		len = run->mmio.len;
		host = mmu_host(&t->vm->mram, gpa, len);
		if (!host)
			return ev; /* outside RAM: a fault */
		if (rec_add_write(&tc->bld, gpa, host, run->mmio.data, len))
			return EV_INTERNAL;
		memcpy(host, run->mmio.data, len);
		*wrote = true;
		w = watch_hit(t, gpa, len);
		if (w && !*watch)
			*watch = w;
		if (!*zap && regs_fetch(tc, DIRTY_SREGS) == 0)
			*zap = is_table_page(tc, gpa);
		/* Let KVM finish the instruction (or hand over its next
		 * fragment) without running another. */
		__atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	}
}

/* Log what differs between now and was for [gpa, gpa+len) of RAM, as
 * ranges (close ones merged; the last takes all the rest if there are more
 * than an entry holds).  -1 if the log cannot take them. */
static int rec_diff(struct tcpu *tc, const uint8_t *was, uint64_t gpa0, uint64_t len0,
		    struct watch **watch, bool *wrote)
{
	struct gdb_target *t = tc->t;
	const uint8_t *ram = t->vm->ram;
	uint64_t ranges[REC_MAX_WRITES][2];
	int nr = 0;

	for (uint64_t off = 0; off < len0; off += PAGE_SIZE) {
		const uint8_t *now = ram + gpa0 + off, *old = was + off;

		if (!memcmp(now, old, PAGE_SIZE))
			continue;
		for (uint64_t i = 0; i < PAGE_SIZE; i++) {
			uint64_t a = gpa0 + off + i;

			if (now[i] == old[i])
				continue;
			if (nr && (a - ranges[nr - 1][1] < 16 || nr == REC_MAX_WRITES)) {
				ranges[nr - 1][1] = a + 1;
			} else {
				ranges[nr][0] = a;
				ranges[nr++][1] = a + 1;
			}
		}
	}
	for (int i = 0; i < nr; i++) {
		uint64_t gpa = ranges[i][0], len = ranges[i][1] - ranges[i][0];
		struct watch *w = watch_hit(t, gpa, len);

		if (len > UINT32_MAX ||
		    rec_add_write(&tc->bld, gpa, was + (gpa - gpa0), ram + gpa, (uint32_t)len)) {
			fprintf(stderr, "vmm: the record log cannot take a write of %llu bytes\n",
				(unsigned long long)len);
			return -1;
		}
		if (w && !*watch)
			*watch = w;
		*wrote = true;
	}
	return 0;
}

#define DT_PAGES 16

/* The guest-physical pages of the descriptor tables a segment load may
 * write (GDT, LDT, TSS: the accessed and busy bits), at most DT_PAGES. */
static int dt_pages(struct tcpu *tc, uint64_t *pages)
{
	const struct kvm_sregs *sr = &tc->st.sregs;
	struct mmu_regs mr = { sr->cr0, sr->cr3, sr->cr4, sr->efer };
	const uint64_t tab[3][2] = {
		{ sr->gdt.base, sr->gdt.limit },
		{ sr->ldt.base, sr->ldt.unusable || !sr->ldt.present ? 0 : sr->ldt.limit },
		{ sr->tr.base, sr->tr.unusable || !sr->tr.present ? 0 : sr->tr.limit },
	};
	int n = 0;

	for (int k = 0; k < 3; k++) {
		if (!tab[k][1])
			continue;
		for (uint64_t va = PAGE_DOWN(tab[k][0]); va <= tab[k][0] + tab[k][1] && n < DT_PAGES;
		     va += PAGE_SIZE) {
			struct mmu_walk w;
			bool dup = false;

			if (mmu_translate(&tc->t->vm->mram, &mr, va, &w) ||
			    !mmu_host(&tc->t->vm->mram, PAGE_DOWN(w.gpa), PAGE_SIZE))
				continue;
			for (int i = 0; i < n; i++)
				dup |= pages[i] == PAGE_DOWN(w.gpa);
			if (!dup)
				pages[n++] = PAGE_DOWN(w.gpa);
		}
	}
	return n;
}

/* What KVM cannot finish on read-only memory, first with only the
 * descriptor tables writable (the accessed bit of a descriptor that a far
 * jump or a segment load sets: KVM retries such an instruction for ever),
 * their pages compared with a copy afterwards; other writes still trap.
 * Returns true if the instruction ran. */
bool rec_dt_writable(struct tcpu *tc, const uint64_t *pre, struct watch **watch,
		     bool *wrote, bool *zap, enum vcpu_event *ev)
{
	struct vm *vm = tc->t->vm;
	uint64_t pages[DT_PAGES], post[REC_WORDS];
	uint8_t (*copy)[PAGE_SIZE];
	int n = dt_pages(tc, pages), ok = 0;

	if (!n || !(copy = malloc((size_t)n * PAGE_SIZE)))
		return false;
	for (int i = 0; i < n; i++) {
		memcpy(copy[i], vm->ram + pages[i], PAGE_SIZE);
		if (vm_set_readonly(vm, pages[i], PAGE_SIZE, false)) {
			n = i + 1; /* (this one and those before go back below) */
			break;
		}
	}
	*ev = rec_run_insn(tc, wrote, watch, zap);
	for (int i = 0; i < n; i++) {
		ok |= vm_set_readonly(vm, pages[i], PAGE_SIZE, true);
		if (rec_diff(tc, copy[i], pages[i], PAGE_SIZE, watch, wrote))
			*ev = EV_INTERNAL;
	}
	free(copy);
	if (ok) {
		fprintf(stderr, "vmm: could not make guest RAM read-only again: recording is broken\n");
		*ev = EV_INTERNAL;
	}
	if (regs_fetch(tc, DIRTY_REGS | DIRTY_SREGS))
		return false;
	regs_pack(&tc->st, post);
	return *wrote || memcmp(pre, post, STATE_WORDS * sizeof(pre[0])) ||
	       (*ev != EV_DEBUG && *ev != EV_INTERNAL);
}

/* Run one instruction with all of RAM writable, and find what it wrote by
 * comparing RAM with a copy taken before.  For what KVM cannot finish on
 * read-only memory: the accessed bit of a descriptor a far jump or a
 * segment load sets (KVM retries such an instruction forever), instructions
 * its emulator does not know (FXSAVE, XSAVE...).  Costs two copies of RAM's
 * size, so it is the fallback only. */
enum vcpu_event rec_unprotected(struct tcpu *tc, struct watch **watch, bool *wrote)
{
	struct gdb_target *t = tc->t;
	struct vm *vm = t->vm;
	uint8_t *snap = malloc(vm->ram_size);
	enum vcpu_event ev;

	if (!snap) {
		fprintf(stderr, "vmm: no memory for a copy of guest RAM, needed to record this instruction\n");
		return EV_INTERNAL;
	}
	memcpy(snap, vm->ram, vm->ram_size);
	if (vm_set_readonly(vm, 0, vm->ram_size, false)) {
		free(snap);
		return EV_INTERNAL;
	}
	if (regs_flush(tc, true) || bp_set_guest_debug(tc, true))
		ev = EV_ERROR;
	else
		ev = vcpu_run(tc->c);
	regs_ran(tc);
	t->ptp_valid = false;
	t->nopen = 0; /* (all of RAM is read-only again, and compared below) */
	t->open_valid = false;
	if (vm_set_readonly(vm, 0, vm->ram_size, true)) {
		fprintf(stderr, "vmm: could not make guest RAM read-only again: recording is broken\n");
		ev = EV_INTERNAL;
	} else if (rec_diff(tc, snap, 0, vm->ram_size, watch, wrote)) {
		ev = EV_INTERNAL;
	}
	free(snap);
	return ev;
}
