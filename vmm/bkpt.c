/* bkpt.c - the gdb target's breakpoints and watchpoints.
 *
 * Mechanisms, chosen by probing this KVM (vmm --probe):
 * - software breakpoints: int3 with KVM_GUESTDBG_USE_SW_BP where KVM
 *   intercepts it, else HLT (0xF4): a KVM_EXIT_HLT whose RIP-1 holds one of
 *   our breakpoints is a hit (kvm_pvm fails int3 with an internal error);
 *   the byte is the guest-physical one the address maps to, or where the
 *   ELF loaded it while unmapped (sw_insert);
 * - write watchpoints: the guest-physical pages under the watched range are
 *   mapped read-only, guest writes there exit as MMIO, the vmm applies them
 *   and stops only when the write touched the watched bytes;
 * - hardware breakpoints, and read/access watchpoints: DR0-DR3 through
 *   KVM_SET_GUEST_DEBUG, each refused with the reason where the probe finds
 *   that kind of debug-register breakpoint never fires.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/target.h"

static struct swbp **bp_slot(struct gdb_target *t, uint64_t addr)
{
	struct swbp **p = &t->bps[(addr ^ (addr >> 10)) % BP_BUCKETS];

	while (*p && (*p)->addr != addr)
		p = &(*p)->next;
	return p;
}

struct swbp *bp_find(struct gdb_target *t, uint64_t addr)
{
	return t->nbp ? *bp_slot(t, addr) : NULL;
}

/* The first breakpoint on guest-physical byte gpa (or where a new one goes). */
static struct swbp **bp_gslot(struct gdb_target *t, uint64_t gpa)
{
	struct swbp **p = &t->gbps[(gpa ^ (gpa >> 10)) % BP_BUCKETS];

	while (*p && (*p)->gpa != gpa)
		p = &(*p)->gnext;
	return p;
}

static struct swbp *bp_gfind(struct gdb_target *t, uint64_t gpa)
{
	return t->nbp ? *bp_gslot(t, gpa) : NULL;
}

/* What the byte under every breakpoint on gpa hides. */
static void bp_set_orig(struct gdb_target *t, uint64_t gpa, uint8_t orig)
{
	for (struct swbp *bp = bp_gfind(t, gpa); bp && bp->gpa == gpa; bp = bp->gnext)
		bp->orig = orig;
}

/* A refusal: the reason goes to gdb (E.NN.why, which gdb shows for hbreak)
 * and to stderr (gdb shows nothing for the other types). */
static int refuse(char *why, size_t cap, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int refuse(char *why, size_t cap, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	fprintf(stderr, "vmm: %s\n", why);
	return err;
}

/* Do DR0-DR3 execution breakpoints fire here?  (probed once, lazily) */
static bool hw_exec_works(struct gdb_target *t)
{
	kvm_probe(t->vm->kvm_fd, &t->vm->feat, PROBE_STEPS);
	return t->vm->feat.hw_exec_bp;
}

/* A software breakpoint where the byte cannot be patched: a debug register
 * on the linear address, where they fire. */
static int sw_insert_hw(struct gdb_target *t, uint64_t addr, char *why, size_t cap)
{
	const char *where = t->vm->nsegs ? "in no ELF segment" : "the image is flat (no ELF segments)";

	if (!hw_exec_works(t))
		return refuse(why, cap, -EFAULT,
			      "breakpoint at 0x%llx refused: not mapped and %s, and debug-register "
			      "breakpoints never fire on this KVM (vmm --probe: hw execution breakpoints: "
			      "no)", (unsigned long long)addr, where);
	for (int i = 0; i < HW_SLOTS; i++)
		if (!t->hw[i].used) {
			t->hw[i] = (struct hwslot){ true, STUB_BP_SW, addr, 1 };
			return 0;
		}
	return refuse(why, cap, -ENOSPC,
		      "breakpoint at 0x%llx refused: not mapped and %s, and all four debug registers "
		      "are taken", (unsigned long long)addr, where);
}

/*
 * The byte a software breakpoint patches is fixed at insertion, and gdb
 * inserts its breakpoints afresh at every resume (unless always-inserted):
 * - where the page tables of the selected vCPU map addr now;
 * - else, if an ELF segment holds addr, where the ELF loaded it (p_paddr +
 *   addr - p_vaddr): a kernel's higher half before it loads its own CR3;
 * - else a debug register on the linear address, where they fire; else the
 *   breakpoint is refused.
 * Should the guest map addr elsewhere later, the breakpoint stays on its
 * byte: a hit is the byte run at addr (see bp_ran), and removal puts the
 * original back on that same byte.
 */
static int sw_insert(struct gdb_target *t, uint64_t addr, char *why, size_t cap)
{
	struct tcpu *tc = cpu_of(t, t->cur_tid);
	struct swbp **slot = bp_slot(t, addr), *bp, *same;
	struct mmu_regs mr;
	struct mmu_walk w;
	uint64_t gpa;
	uint8_t *host;
	int r;

	if (*slot)
		return 0;
	if (!t->bp_insn) {
		kvm_probe(t->vm->kvm_fd, &t->vm->feat, PROBE_INT3);
		t->bp_insn = t->vm->feat.int3_exit ? OPC_INT3 : OPC_HLT;
	}
	r = mmu_regs_of(tc, &mr);
	if (r)
		return r;
	if (t->phys)
		gpa = addr;
	else if (mmu_translate(&t->vm->mram, &mr, addr, &w) == 0)
		gpa = w.gpa;
	else if (vm_elf_paddr(t->vm, addr, &gpa))
		return sw_insert_hw(t, addr, why, cap);
	host = mmu_host(&t->vm->mram, gpa, 1);
	if (!host)
		return refuse(why, cap, -EFAULT,
			      "breakpoint at 0x%llx refused: its guest-physical address 0x%llx is outside "
			      "guest RAM", (unsigned long long)addr, (unsigned long long)gpa);
	bp = calloc(1, sizeof(*bp));
	if (!bp)
		return -ENOMEM;
	bp->addr = addr;
	bp->gpa = gpa;
	same = bp_gfind(t, gpa);
	bp->orig = same ? same->orig : *host;
	if (t->bp_patched) /* (while recording, breakpoints are checked by address) */
		*host = t->bp_insn;
	*slot = bp;
	slot = bp_gslot(t, gpa);
	bp->gnext = *slot;
	*slot = bp;
	t->nbp++;
	return 0;
}

static int sw_remove(struct gdb_target *t, uint64_t addr)
{
	struct swbp **slot = bp_slot(t, addr), *bp = *slot, **g;
	uint8_t *host;

	if (!bp) {
		for (int i = 0; i < HW_SLOTS; i++)
			if (t->hw[i].used && t->hw[i].type == STUB_BP_SW && t->hw[i].addr == addr) {
				t->hw[i].used = false;
				return 0;
			}
		return -ENOENT;
	}
	*slot = bp->next;
	for (g = bp_gslot(t, bp->gpa); *g && *g != bp; g = &(*g)->gnext)
		;
	if (*g)
		*g = bp->gnext;
	t->nbp--;
	/* The byte goes back unless another breakpoint keeps it, or the guest
	 * wrote it meanwhile. */
	host = mmu_host(&t->vm->mram, bp->gpa, 1);
	if (host && t->bp_patched && *host == t->bp_insn && !bp_gfind(t, bp->gpa))
		*host = bp->orig;
	free(bp);
	return 0;
}

bool hw_find(struct gdb_target *t, enum stub_bp_type type, uint64_t addr)
{
	for (int i = 0; i < HW_SLOTS; i++)
		if (t->hw[i].used && t->hw[i].type == type && t->hw[i].addr == addr)
			return true;
	return false;
}

static unsigned hw_len_bits(uint64_t len)
{
	return len == 1 ? DR7_LEN_1 : len == 2 ? DR7_LEN_2 : len == 8 ? DR7_LEN_8 : DR7_LEN_4;
}

/* The debug-register part of KVM_SET_GUEST_DEBUG for our hw slots. */
static void hw_debugregs(struct gdb_target *t, struct kvm_guest_debug *d)
{
	uint64_t dr7 = 0;

	for (int i = 0; i < HW_SLOTS; i++) {
		struct hwslot *h = &t->hw[i];
		unsigned rw;

		if (!h->used)
			continue;
		rw = h->type <= STUB_BP_HW ? DR7_RW_EXEC
		     : h->type == STUB_WP_WRITE ? DR7_RW_WRITE : DR7_RW_ACCESS;
		d->arch.debugreg[i] = h->addr;
		dr7 |= DR7_L(i) | DR7_RW(i, rw) |
		       DR7_LEN(i, h->type <= STUB_BP_HW ? DR7_LEN_1 : hw_len_bits(h->len));
	}
	d->arch.debugreg[7] = dr7;
	if (dr7)
		d->control |= KVM_GUESTDBG_USE_HW_BP;
}

int bp_set_guest_debug(struct tcpu *tc, bool step)
{
	struct gdb_target *t = tc->t;
	struct kvm_guest_debug d;

	memset(&d, 0, sizeof(d));
	if (step || t->rec_on)
		d.control |= KVM_GUESTDBG_SINGLESTEP;
	tc->c->hold_irq = step || t->rec_on; /* (vmm/pc.h: no interrupt into a step) */
	if (t->nbp && t->bp_insn == OPC_INT3 && t->bp_patched)
		d.control |= KVM_GUESTDBG_USE_SW_BP;
	if (!t->rec_on) /* (recording compares addresses itself, before each step) */
		hw_debugregs(t, &d);
	if (d.control)
		d.control |= KVM_GUESTDBG_ENABLE;
	/* Where KVM drops a step once RIP has moved by other means than the
	 * step itself (its emulator finishing an instruction does too), each
	 * KVM_RUN that steps needs it armed anew: one ioctl per step there. */
	if (tc->dbg_set && !memcmp(&d, &tc->dbg, sizeof(d)) &&
	    !((d.control & KVM_GUESTDBG_SINGLESTEP) && t->rearm_step))
		return 0;
	if (ioctl(tc->c->fd, KVM_SET_GUEST_DEBUG, &d) < 0)
		return -errno;
	tc->dbg = d;
	tc->dbg_set = true;
	return 0;
}

struct watch *watch_hit(struct gdb_target *t, uint64_t gpa, uint64_t len)
{
	for (int i = 0; i < t->nwatch; i++)
		for (int k = 0; k < t->watches[i].npieces; k++) {
			uint64_t g = t->watches[i].gpa[k], l = t->watches[i].plen[k];

			if (gpa < g + l && g < gpa + len)
				return &t->watches[i];
		}
	return NULL;
}

bool watch_page(struct gdb_target *t, uint64_t gpa)
{
	uint64_t page = PAGE_DOWN(gpa);

	for (int i = 0; i < t->nwatch; i++)
		for (int k = 0; k < t->watches[i].npieces; k++)
			if (PAGE_DOWN(t->watches[i].gpa[k]) <= page &&
			    page <= PAGE_DOWN(t->watches[i].gpa[k] + t->watches[i].plen[k] - 1))
				return true;
	return false;
}

/* Re-derive the read-only pages from the watch list. */
int watch_apply(struct gdb_target *t, const struct watch *gone)
{
	int r = 0;

	if (t->rec_on)
		return 0; /* all of RAM is read-only while recording */
	if (gone)
		for (int k = 0; k < gone->npieces && !r; k++)
			r = vm_set_readonly(t->vm, gone->gpa[k], gone->plen[k], false);
	for (int i = 0; i < t->nwatch && !r; i++)
		for (int k = 0; k < t->watches[i].npieces && !r; k++)
			r = vm_set_readonly(t->vm, t->watches[i].gpa[k], t->watches[i].plen[k], true);
	return r;
}

static int watch_insert(struct gdb_target *t, uint64_t addr, uint64_t len)
{
	struct tcpu *tc = cpu_of(t, t->cur_tid);
	struct watch w = { .addr = addr, .len = len };
	struct mmu_regs mr;
	int r;

	kvm_probe(t->vm->kvm_fd, &t->vm->feat, PROBE_WATCH);
	if (!t->vm->feat.readonly_slot)
		return -EOPNOTSUPP;
	if (len == 0 || len > WATCH_PIECES * PAGE_SIZE / 2 || addr + len < addr)
		return -EINVAL;
	if (t->nwatch == MAX_WATCH)
		return -ENOSPC;
	r = mmu_regs_of(tc, &mr);
	if (r)
		return r;
	for (uint64_t va = addr; va < addr + len;) {
		uint64_t chunk = PAGE_SIZE - (va & (PAGE_SIZE - 1));
		struct mmu_walk mw;

		if (chunk > addr + len - va)
			chunk = addr + len - va;
		if (t->phys)
			mw.gpa = va;
		else if (mmu_translate(&t->vm->mram, &mr, va, &mw))
			return -EFAULT;
		if (!mmu_host(&t->vm->mram, mw.gpa, chunk) || w.npieces == WATCH_PIECES)
			return -EFAULT;
		w.gpa[w.npieces] = mw.gpa;
		w.plen[w.npieces++] = chunk;
		va += chunk;
	}
	t->watches[t->nwatch++] = w;
	r = watch_apply(t, NULL);
	if (r) {
		t->nwatch--;
		watch_apply(t, &w);
	}
	return r;
}

static int watch_remove(struct gdb_target *t, uint64_t addr, uint64_t len)
{
	for (int i = 0; i < t->nwatch; i++) {
		if (t->watches[i].addr != addr || t->watches[i].len != len)
			continue;
		struct watch gone = t->watches[i];

		t->watches[i] = t->watches[--t->nwatch];
		return watch_apply(t, &gone);
	}
	return -ENOENT;
}

void bp_remove_all(struct gdb_target *t)
{
	for (int i = 0; i < BP_BUCKETS; i++)
		while (t->bps[i])
			sw_remove(t, t->bps[i]->addr);
	memset(t->hw, 0, sizeof(t->hw));
	while (t->nwatch) {
		struct watch gone = t->watches[--t->nwatch];

		if (watch_apply(t, &gone))
			fprintf(stderr, "vmm: could not restore a watched page to read-write\n");
	}
}

/* The breakpoint whose byte a vCPU runs at RIP pc, found by the
 * guest-physical address its linear address translates to in the vCPU's
 * page tables now: the one gdb set at that linear address if it is on that
 * byte, else (*alias) one set at another address on it (the page aliased,
 * or mapped elsewhere since); NULL if the byte is none of ours (a HLT or
 * int3 of the guest's own). */
struct swbp *bp_ran(struct tcpu *tc, uint64_t pc, bool *alias)
{
	struct gdb_target *t = tc->t;
	uint64_t lin = code_linear(tc, pc);
	struct swbp *bp;
	struct mmu_regs mr;
	struct mmu_walk w;

	if (!t->nbp || !t->bp_patched || mmu_regs_of(tc, &mr) ||
	    mmu_translate(&t->vm->mram, &mr, lin, &w))
		return NULL;
	bp = bp_find(t, lin);
	*alias = !bp || bp->gpa != w.gpa;
	return *alias ? bp_gfind(t, w.gpa) : bp;
}

/* Report a breakpoint of gdb's (kind: STUB_STOP_SWBREAK or _HWBREAK) hit
 * with RIP at pc.  Where CS has a base (real mode with CS != 0), gdb's $pc
 * is the offset and cannot match the linear address gdb set the breakpoint
 * at: gdb would take a swbreak there for one it had removed and run on.  So
 * it is a SIGTRAP that says which breakpoint it is, and continuing steps
 * over it as over any of ours. */
void bp_event(struct tcpu *tc, enum stub_stop_kind kind, uint64_t pc)
{
	uint64_t lin = code_linear(tc, pc);

	tc->why = "breakpoint";
	if (lin == pc) {
		set_event(tc, kind, SIGTRAP_, 0, NULL);
		return;
	}
	set_event(tc, STUB_STOP_SIGNAL, SIGTRAP_, 0,
		  "vmm: vCPU %d stopped at the breakpoint at 0x%llx, CS:IP %04llx:%04llx (gdb's $pc is "
		  "the offset from CS's base 0x%llx; breakpoint addresses are linear)\n",
		  tc->c->index, (unsigned long long)lin, (unsigned long long)tc->st.sregs.cs.selector,
		  (unsigned long long)pc, (unsigned long long)tc->st.sregs.cs.base);
	tc->event_alias = kind == STUB_STOP_SWBREAK; /* step over it on continue */
	tc->event_rip = pc;
}

/* A HLT or int3 exit whose byte was at pc: if it is one of our breakpoints,
 * rewind RIP onto it and make the event.  At gdb's address it is a hit;
 * elsewhere gdb knows no breakpoint, so it is a SIGTRAP that says whose byte
 * ran (continuing runs the original instruction, see needs_over). */
bool bp_trap(struct tcpu *tc, uint64_t pc)
{
	bool alias;
	struct swbp *bp = bp_ran(tc, pc, &alias);

	if (!bp)
		return false;
	if (tc->st.regs.rip != pc) {
		tc->st.regs.rip = pc;
		tc->dirty |= DIRTY_REGS;
	}
	if (!alias) {
		bp_event(tc, STUB_STOP_SWBREAK, pc);
		return true;
	}
	set_event(tc, STUB_STOP_SIGNAL, SIGTRAP_, 0,
		  "vmm: vCPU %d ran the breakpoint at 0x%llx through 0x%llx (the same guest-physical "
		  "byte 0x%llx); continuing runs the original instruction\n", tc->c->index,
		  (unsigned long long)bp->addr, (unsigned long long)pc, (unsigned long long)bp->gpa);
	tc->event_alias = true;
	tc->event_rip = pc;
	tc->why = "breakpoint elsewhere";
	return true;
}

/* If RIP sits on one of our software breakpoints, run the original
 * instruction once with the breakpoint lifted (the caller makes sure no other
 * vCPU runs meanwhile).  Returns true (and the event in *ev) if it did. */
bool bp_step_over(struct tcpu *tc, enum vcpu_event *ev)
{
	struct gdb_target *t = tc->t;
	struct swbp *bp;
	uint8_t *host;
	bool alias;

	if (!t->nbp || !t->bp_patched || regs_fetch(tc, DIRTY_REGS))
		return false;
	bp = bp_ran(tc, tc->st.regs.rip, &alias);
	if (!bp || !(host = mmu_host(&t->vm->mram, bp->gpa, 1)))
		return false;
	if (regs_flush(tc, true) || bp_set_guest_debug(tc, true))
		return false;
	*host = bp->orig;
	for (;;) {
		bool stop;

		*ev = vcpu_run(tc->c);
		if (*ev != EV_INTR)
			break;
		/* A kick left over from an earlier stop is not a reason to skip
		 * the step (the vCPU would hit the same breakpoint again). */
		pthread_mutex_lock(&t->lock);
		stop = tc->stop_req || t->quit;
		pthread_mutex_unlock(&t->lock);
		if (stop)
			break;
	}
	*host = t->bp_insn;
	regs_ran(tc);
	return true;
}

void bp_patch_all(struct gdb_target *t, bool on)
{
	/* by byte: the first breakpoint on one reads it, the others share it */
	for (int i = 0; i < BP_BUCKETS; i++)
		for (struct swbp *bp = t->gbps[i], *prev = NULL; bp; prev = bp, bp = bp->gnext) {
			uint8_t *host = mmu_host(&t->vm->mram, bp->gpa, 1);

			if (!host || (prev && prev->gpa == bp->gpa))
				continue;
			if (on) {
				bp_set_orig(t, bp->gpa, *host);
				*host = t->bp_insn;
			} else if (*host == t->bp_insn) {
				*host = bp->orig;
			}
		}
	t->bp_patched = on;
}

/* Show the original bytes under our breakpoints. */
void bp_unpatch(struct gdb_target *t, uint64_t addr, uint8_t *buf, size_t len)
{
	if (!t->nbp || !t->bp_patched)
		return;
	for (int i = 0; i < BP_BUCKETS; i++)
		for (struct swbp *bp = t->bps[i]; bp; bp = bp->next) {
			uint64_t a = t->phys ? bp->gpa : bp->addr;

			if (a >= addr && a - addr < len)
				buf[a - addr] = bp->orig;
		}
}

/* The debugger wrote [addr, addr+len) from buf: a write over one of our
 * breakpoints changes what it hides, and the breakpoint stays. */
void bp_written(struct gdb_target *t, uint64_t addr, const uint8_t *buf, size_t len)
{
	for (int i = 0; t->nbp && t->bp_patched && i < BP_BUCKETS; i++)
		for (struct swbp *bp = t->bps[i]; bp; bp = bp->next) {
			uint64_t a = t->phys ? bp->gpa : bp->addr;
			uint8_t *host = mmu_host(&t->vm->mram, bp->gpa, 1);

			if (a >= addr && a - addr < len && host) {
				bp_set_orig(t, bp->gpa, buf[a - addr]);
				*host = t->bp_insn;
			}
		}
}

/* A mechanism the probe found dead is refused, never accepted and silent. */
int bp_insert(struct gdb_target *t, enum stub_bp_type type, uint64_t addr, uint64_t kind,
	      char *why, size_t cap)
{
	const char *what = type == STUB_WP_READ ? "rwatch" : "awatch";

	switch (type) {
	case STUB_BP_SW:
		return sw_insert(t, addr, why, cap);
	case STUB_WP_WRITE:
		return watch_insert(t, addr, kind);
	case STUB_WP_READ:
	case STUB_WP_ACCESS:
		if (t->rec_on)
			return refuse(why, cap, -EOPNOTSUPP, "%s at 0x%llx refused: recording sees "
				      "writes only", what, (unsigned long long)addr);
		kvm_probe(t->vm->kvm_fd, &t->vm->feat, PROBE_WATCH);
		if (!t->vm->feat.data_bp)
			return refuse(why, cap, -EOPNOTSUPP,
				      "%s at 0x%llx refused: debug-register data breakpoints never fire "
				      "on this KVM (vmm --probe: hw data breakpoints: no); watch (write) "
				      "works", what, (unsigned long long)addr);
		if (kind != 1 && kind != 2 && kind != 4 && kind != 8)
			return -EINVAL;
		if (addr & (kind - 1))
			return -EINVAL;
		/* fall through */
	case STUB_BP_HW:
		if (type == STUB_BP_HW && !hw_exec_works(t))
			return refuse(why, cap, -EOPNOTSUPP,
				      "hbreak at 0x%llx refused: debug-register execution breakpoints never "
				      "fire on this KVM (vmm --probe: hw execution breakpoints: no); break "
				      "works", (unsigned long long)addr);
		for (int i = 0; i < HW_SLOTS; i++)
			if (!t->hw[i].used) {
				t->hw[i] = (struct hwslot){ true, type, addr, type == STUB_BP_HW ? 1 : kind };
				return 0;
			}
		return -ENOSPC;
	}
	return -EINVAL;
}

int bp_remove(struct gdb_target *t, enum stub_bp_type type, uint64_t addr, uint64_t kind)
{

	switch (type) {
	case STUB_BP_SW:
		return sw_remove(t, addr);
	case STUB_WP_WRITE:
		return watch_remove(t, addr, kind);
	default:
		for (int i = 0; i < HW_SLOTS; i++)
			if (t->hw[i].used && t->hw[i].type == type && t->hw[i].addr == addr) {
				t->hw[i].used = false;
				return 0;
			}
		return -ENOENT;
	}
}
