/* gdb.c - the vmm as a GDB remote target: struct stub_ops over KVM.
 *
 * This is the one file that sees both the stub and KVM.  Each vCPU has a
 * host thread that runs it while gdb says so; the stub's thread calls the
 * operations below only while every vCPU is stopped (except interrupt,
 * stop_fd and get_stop), so vCPU state is cached per stop without locks.
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
 *
 * All-stop with several vCPUs: a stop of one kicks the others, and the stop
 * reply goes out once none runs.  Stops of several at once are kept and
 * reported oldest first, one per resume, and only when the resume includes
 * that thread (gdb cannot take a stop of a thread it did not resume).  A
 * halted vCPU parks until gdb changes its registers.
 */
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "stub/stub.h"
#include "vmm/gdb.h"
#include "vmm/record.h"
#include "vmm/tdesc.h"
#include "vmm/x86.h"

#define SIGINT_ 2
#define SIGILL_ 4
#define SIGTRAP_ 5
#define SIGSEGV_ 11
#define BP_BUCKETS 1024
#define MAX_WATCH 32
#define WATCH_PIECES 16
#define REC_OPEN_MAX 32 /* page-table pages left writable while recording, at most */

enum tstate { TS_STOPPED, TS_RUNNING, TS_HALTED };

struct tcpu {
	struct gdb_target *t;
	struct vcpu *c;
	enum tstate state;
	enum stub_action action;
	uint64_t range_lo, range_hi; /* STUB_RANGE: keep stepping while RIP is in it */
	bool stepped;                /* the last event was a plain single step */
	bool stop_req;
	bool inline_run;             /* being stepped by the stub thread itself */
	bool has_event;
	bool resumed;             /* by the last resume: only such threads' events are reported */
	bool halted_now;          /* classify saw a HLT; the state changes under the lock */
	bool over;                /* step over the reported breakpoint alone, before the others run */
	bool reported_bp;         /* the last stop reported for it: a breakpoint at reported_rip */
	bool event_alias;         /* the event: a breakpoint's byte run at another address */
	uint64_t reported_rip;
	uint64_t event_rip;       /* RIP of a breakpoint event */
	uint64_t seq;
	struct stub_stop event;
	int dead_status;          /* non-zero after a fault: resuming ends the guest */
	struct cpu_state st;
	unsigned valid, dirty;    /* DIRTY_* bits */
	struct kvm_regs entry_regs; /* the registers it was last resumed with */
	struct kvm_sregs entry_sregs;
	bool entry_valid;
	enum { FAULT_KEPT, FAULT_ENTRY, FAULT_LOST } fault_state; /* after a triple fault */
	struct kvm_guest_debug dbg; /* last set */
	bool dbg_set;
	const char *why;          /* last stop, for qThreadExtraInfo */
	pthread_cond_t go;
	/* recording (monitor record on) */
	struct rec_build bld;     /* the entry of the instruction being recorded */
	uint64_t cur[REC_WORDS];  /* registers at the log's cursor */
	struct cpu_state live;    /* state at the end of the log, while replaying */
	enum tstate live_state;
	int live_dead;            /* its dead_status there */
	bool rec_waiting;         /* waits for its turn to record */
	bool rec_trap_due;        /* a kick came after an instruction ran: its step trap is still due */
};

/* A software breakpoint: one patched byte at a guest-physical address fixed
 * when gdb inserts it (see sw_insert).  Breakpoints are found by gdb's
 * address (next, in bps[]) and by their byte (gnext, in gbps[]); two of
 * gdb's addresses on one byte share it, and its orig. */
struct swbp {
	struct swbp *next, *gnext;
	uint64_t addr, gpa;
	uint8_t orig;
};

struct hwslot {
	bool used;
	enum stub_bp_type type;
	uint64_t addr, len;
};

struct watch {
	uint64_t addr, len;
	int npieces;
	uint64_t gpa[WATCH_PIECES], plen[WATCH_PIECES];
};

struct gdb_target {
	struct vm *vm;
	const struct gdb_config *cfg;
	struct stub *stub;
	pthread_mutex_t lock;
	pthread_cond_t stopped;
	int efd;
	struct tcpu cpus[VM_MAX_CPUS];
	enum tdesc_arch arch;
	bool arch_fixed;
	bool client, phys, hold, quit, killed;
	bool bp_patched;        /* software breakpoints are written into guest memory */
	bool rec_on;            /* recording (monitor record on) */
	bool live_saved;        /* the log's cursor left its end: cpus[].live hold the present */
	bool ptp_valid;         /* ptp/nptp describe ptp_key's page tables */
	bool replay_busy;       /* the replay thread walks the log (counts as running) */
	bool replay_stop;       /* ... and is to stop */
	bool replay_reverse;
	bool sync_regs;         /* KVM_CAP_SYNC_REGS: registers come with each exit */
	bool rearm_step;        /* a step must be re-armed before each KVM_RUN (vmm --probe) */
	bool post_efd;          /* a stop to announce on efd once the lock is dropped */
	bool efd_set;           /* efd is (or is about to be) readable */
	uint64_t wake_mask;     /* vCPU threads to wake once the lock is dropped */
	bool console_gdb;       /* forward 0xE9 output to gdb as O packets */
	bool interrupt_req;
	bool waiting;           /* gdb waits for a stop of the resumed threads */
	int last_halted;        /* thread that halted last */
	bool exited;
	int exit_status;
	uint64_t seq;
	int cur_tid;            /* thread of the last stop */
	struct stub_stop last;
	uint8_t bp_insn;
	struct swbp *bps[BP_BUCKETS];  /* by gdb's address */
	struct swbp *gbps[BP_BUCKETS]; /* by guest-physical address */
	size_t nbp;
	struct hwslot hw[4];
	struct watch watches[MAX_WATCH];
	int nwatch;
	int nptp;
	char memmap[256];
	/* reverse debugging: every vCPU is single-stepped, every write to RAM
	 * trapped (all of RAM read-only), and both logged */
	struct rec_log log;
	uint64_t rec_limit;
	struct tcpu *rec_owner; /* the vCPU recording now (they take turns) */
	pthread_cond_t rec_cond;
	pthread_cond_t replay_go;
	pthread_t replay_thread;
	bool replay_started;
	uint64_t rec_dropped_said;
	struct rec_view view;
	uint64_t *ptp;          /* page-table pages of ptp_key's hierarchy */
	struct mmu_regs ptp_key;
	/* While recording, the page-table pages of the recording vCPU's
	 * hierarchy stay writable (rec_tables_open): a page walk that faults on
	 * read-only memory makes KVM emulate the instruction, and KVM on AMD
	 * then puts its data write at the table entry's address when the page
	 * offsets agree.  What an instruction changes there, the guest's own
	 * stores and the CPU's accessed/dirty bits, is found by comparing with
	 * a copy taken before it.  Used by the recording vCPU only (rec_owner). */
	bool open_valid;        /* open_gpa[] are the table pages of open_key */
	bool open_full_said;
	int nopen;
	struct mmu_regs open_key;
	uint64_t open_gpa[REC_OPEN_MAX];
	uint8_t (*open_copy)[4096];
};

/* Drop the lock, then wake whom the locked section asked to: a thread woken
 * while the lock is held would only block on it (a hand-off costs tens of
 * microseconds here, more across cores). */
static void unlock_wake(struct gdb_target *t)
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

/* ---- vCPU state cache ------------------------------------------------------ */

static int fetch(struct tcpu *tc, unsigned need)
{
	int fd = tc->c->fd, r;

	need &= ~tc->valid;
	if ((need & DIRTY_REGS) && ioctl(fd, KVM_GET_REGS, &tc->st.regs) < 0)
		return -errno;
	if ((need & DIRTY_SREGS) && ioctl(fd, KVM_GET_SREGS, &tc->st.sregs) < 0)
		return -errno;
	if ((need & DIRTY_FPU) && (r = vcpu_get_fpu(tc->c, &tc->st.fpu)))
		return r;
	if (need & DIRTY_KGSBASE) {
		struct { struct kvm_msrs h; struct kvm_msr_entry e; } m = {
			.h.nmsrs = 1, .e.index = MSR_KERNEL_GS_BASE,
		};

		if (ioctl(fd, KVM_GET_MSRS, &m) != 1)
			return -EIO;
		tc->st.kgsbase = m.e.data;
	}
	tc->valid |= need;
	return 0;
}

/* Put written state back before the vCPU runs (step: with a single step to
 * arm); forget the cache.  A copy left in kvm_run for KVM_RUN to take keeps
 * its part of the cache valid: it is the newest state until KVM takes it. */
static int flush(struct tcpu *tc, bool step)
{
	int fd = tc->c->fd, r = 0, e;
	struct kvm_run *run = tc->c->run;

	if ((tc->valid & (DIRTY_REGS | DIRTY_SREGS)) == (DIRTY_REGS | DIRTY_SREGS)) {
		tc->entry_regs = tc->st.regs; /* (all a triple fault may leave, on kvm_amd) */
		tc->entry_sregs = tc->st.sregs;
		tc->entry_valid = true;
	} else {
		tc->entry_valid = false;
	}
	if (tc->t->sync_regs && step && tc->t->rearm_step) {
		/* KVM_SET_GUEST_DEBUG, next, latches the RIP to step from: the
		 * registers must reach KVM before it, by ioctl, copies left in
		 * kvm_run by an earlier flush too. */
		if (run->kvm_dirty_regs & KVM_SYNC_X86_REGS)
			tc->dirty |= DIRTY_REGS;
		if (run->kvm_dirty_regs & KVM_SYNC_X86_SREGS)
			tc->dirty |= DIRTY_SREGS;
		run->kvm_dirty_regs &= ~(KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS);
	} else if (tc->t->sync_regs) { /* KVM takes them from kvm_run on entry: no ioctl */
		if (tc->dirty & DIRTY_REGS) {
			run->s.regs.regs = tc->st.regs;
			run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
		}
		if (tc->dirty & DIRTY_SREGS) {
			run->s.regs.sregs = tc->st.sregs;
			run->kvm_dirty_regs |= KVM_SYNC_X86_SREGS;
		}
		tc->dirty &= ~(DIRTY_REGS | DIRTY_SREGS);
	}
	/* (sregs first: KVM checks the step's RIP as a linear address) */
	if ((tc->dirty & DIRTY_SREGS) && ioctl(fd, KVM_SET_SREGS, &tc->st.sregs) < 0)
		r = -errno;
	if ((tc->dirty & DIRTY_REGS) && ioctl(fd, KVM_SET_REGS, &tc->st.regs) < 0)
		r = -errno;
	if ((tc->dirty & (DIRTY_REGS | DIRTY_SREGS)) && step)
		tc->dbg_set = false; /* the step is armed for the RIP of KVM_SET_GUEST_DEBUG */
	if ((tc->dirty & DIRTY_FPU) && (e = vcpu_set_fpu(tc->c, &tc->st.fpu)))
		r = e;
	if (tc->dirty & DIRTY_KGSBASE) {
		struct { struct kvm_msrs h; struct kvm_msr_entry e; } m = {
			.h.nmsrs = 1, .e.index = MSR_KERNEL_GS_BASE, .e.data = tc->st.kgsbase,
		};

		if (ioctl(fd, KVM_SET_MSRS, &m) != 1)
			r = -EIO;
	}
	tc->dirty = 0;
	tc->valid &= (run->kvm_dirty_regs & KVM_SYNC_X86_REGS ? DIRTY_REGS : 0) |
		     (run->kvm_dirty_regs & KVM_SYNC_X86_SREGS ? DIRTY_SREGS : 0);
	return r;
}

/* After KVM_RUN: with KVM_CAP_SYNC_REGS, KVM has left the registers in
 * kvm_run (every exit then costs no register ioctl at all). */
static void ran(struct tcpu *tc)
{
	struct kvm_run *run = tc->c->run;

	tc->valid = 0;
	if (!tc->t->sync_regs)
		return;
	tc->st.regs = run->s.regs.regs;
	tc->st.sregs = run->s.regs.sregs;
	tc->valid = DIRTY_REGS | DIRTY_SREGS;
}

static struct tcpu *cpu_of(struct gdb_target *t, int tid)
{
	if (tid < 1 || tid > t->vm->ncpus)
		tid = t->cur_tid;
	return &t->cpus[tid - 1];
}

static int mmu_regs_of(struct tcpu *tc, struct mmu_regs *mr)
{
	int r = fetch(tc, DIRTY_SREGS);

	if (r)
		return r;
	*mr = (struct mmu_regs){ tc->st.sregs.cr0, tc->st.sregs.cr3, tc->st.sregs.cr4,
				 tc->st.sregs.efer };
	return 0;
}

static enum tdesc_arch arch_of_mode(const struct kvm_sregs *sr)
{
	if (!(sr->cr0 & 1))
		return ARCH_I8086;
	return (sr->efer & EFER_LMA) && sr->cs.l ? ARCH_X86_64 : ARCH_I386;
}

static const char *mode_name(const struct kvm_sregs *sr)
{
	if (!(sr->cr0 & 1))
		return "real";
	if (sr->efer & EFER_LMA)
		return "long";
	return sr->cr0 & CR0_PG ? "paged" : "protected";
}

/* ---- breakpoints ------------------------------------------------------------ */

static struct swbp **bp_slot(struct gdb_target *t, uint64_t addr)
{
	struct swbp **p = &t->bps[(addr ^ (addr >> 10)) % BP_BUCKETS];

	while (*p && (*p)->addr != addr)
		p = &(*p)->next;
	return p;
}

static struct swbp *bp_find(struct gdb_target *t, uint64_t addr)
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
	for (int i = 0; i < 4; i++)
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
		t->bp_insn = t->vm->feat.int3_exit ? 0xcc : 0xf4;
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
		for (int i = 0; i < 4; i++)
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

static bool hw_find(struct gdb_target *t, enum stub_bp_type type, uint64_t addr)
{
	for (int i = 0; i < 4; i++)
		if (t->hw[i].used && t->hw[i].type == type && t->hw[i].addr == addr)
			return true;
	return false;
}

static unsigned hw_len_bits(uint64_t len)
{
	return len == 1 ? 0 : len == 2 ? 1 : len == 8 ? 2 : 3;
}

/* The debug-register part of KVM_SET_GUEST_DEBUG for our hw slots. */
static void hw_debugregs(struct gdb_target *t, struct kvm_guest_debug *d)
{
	uint64_t dr7 = 0;

	for (int i = 0; i < 4; i++) {
		struct hwslot *h = &t->hw[i];
		unsigned rw;

		if (!h->used)
			continue;
		rw = h->type <= STUB_BP_HW ? 0 : h->type == STUB_WP_WRITE ? 1 : 3;
		d->arch.debugreg[i] = h->addr;
		dr7 |= (1ULL << (2 * i)) | ((uint64_t)rw << (16 + 4 * i)) |
		       ((uint64_t)(h->type <= STUB_BP_HW ? 0 : hw_len_bits(h->len)) << (18 + 4 * i));
	}
	d->arch.debugreg[7] = dr7;
	if (dr7)
		d->control |= KVM_GUESTDBG_USE_HW_BP;
}

static int set_debug(struct tcpu *tc, bool step)
{
	struct gdb_target *t = tc->t;
	struct kvm_guest_debug d;

	memset(&d, 0, sizeof(d));
	if (step || t->rec_on)
		d.control |= KVM_GUESTDBG_SINGLESTEP;
	if (t->nbp && t->bp_insn == 0xcc && t->bp_patched)
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

static struct watch *watch_hit(struct gdb_target *t, uint64_t gpa, uint64_t len)
{
	for (int i = 0; i < t->nwatch; i++)
		for (int k = 0; k < t->watches[i].npieces; k++) {
			uint64_t g = t->watches[i].gpa[k], l = t->watches[i].plen[k];

			if (gpa < g + l && g < gpa + len)
				return &t->watches[i];
		}
	return NULL;
}

static bool page_watched(struct gdb_target *t, uint64_t gpa)
{
	uint64_t page = gpa & ~0xfffULL;

	for (int i = 0; i < t->nwatch; i++)
		for (int k = 0; k < t->watches[i].npieces; k++)
			if ((t->watches[i].gpa[k] & ~0xfffULL) <= page &&
			    page <= ((t->watches[i].gpa[k] + t->watches[i].plen[k] - 1) & ~0xfffULL))
				return true;
	return false;
}

/* Re-derive the read-only pages from the watch list. */
static int watch_apply(struct gdb_target *t, const struct watch *gone)
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
	if (len == 0 || len > WATCH_PIECES * 4096ULL / 2 || addr + len < addr)
		return -EINVAL;
	if (t->nwatch == MAX_WATCH)
		return -ENOSPC;
	r = mmu_regs_of(tc, &mr);
	if (r)
		return r;
	for (uint64_t va = addr; va < addr + len;) {
		uint64_t chunk = 4096 - (va & 0xfff);
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

static void remove_all(struct gdb_target *t)
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

/* ---- running ---------------------------------------------------------------- */

static void set_event(struct tcpu *tc, enum stub_stop_kind kind, int signo, uint64_t addr,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void set_event(struct tcpu *tc, enum stub_stop_kind kind, int signo, uint64_t addr,
		      const char *fmt, ...)
{
	va_list ap;

	memset(&tc->event, 0, sizeof(tc->event));
	tc->event_alias = false;
	tc->event.kind = kind;
	tc->event.tid = tc->c->index + 1;
	tc->event.signo = signo;
	tc->event.addr = addr;
	if ((kind == STUB_STOP_SWBREAK || kind == STUB_STOP_HWBREAK) && fetch(tc, DIRTY_REGS) == 0)
		tc->event_rip = tc->st.regs.rip;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(tc->event.message, sizeof(tc->event.message), fmt, ap);
		va_end(ap);
	}
	tc->has_event = true;
}

/* The breakpoint whose byte a vCPU runs at pc, found by the guest-physical
 * address pc translates to in its page tables now: the one gdb set at pc if
 * it is on that byte, else (*alias) one set at another address on it (the
 * page aliased, or pc mapped elsewhere since); NULL if the byte is none of
 * ours (a HLT or int3 of the guest's own). */
static struct swbp *bp_ran(struct tcpu *tc, uint64_t pc, bool *alias)
{
	struct gdb_target *t = tc->t;
	struct swbp *bp;
	struct mmu_regs mr;
	struct mmu_walk w;

	if (!t->nbp || !t->bp_patched || mmu_regs_of(tc, &mr) ||
	    mmu_translate(&t->vm->mram, &mr, pc, &w))
		return NULL;
	bp = bp_find(t, pc);
	*alias = !bp || bp->gpa != w.gpa;
	return *alias ? bp_gfind(t, w.gpa) : bp;
}

/* A HLT or int3 exit whose byte was at pc: if it is one of our breakpoints,
 * rewind RIP onto it and make the event.  At gdb's address it is a hit;
 * elsewhere gdb knows no breakpoint, so it is a SIGTRAP that says whose byte
 * ran (continuing runs the original instruction, see needs_over). */
static bool bp_trap(struct tcpu *tc, uint64_t pc)
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
		set_event(tc, STUB_STOP_SWBREAK, SIGTRAP_, 0, NULL);
		tc->why = "breakpoint";
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
static bool step_over(struct tcpu *tc, enum vcpu_event *ev)
{
	struct gdb_target *t = tc->t;
	struct swbp *bp;
	uint8_t *host;
	bool alias;

	if (!t->nbp || !t->bp_patched || fetch(tc, DIRTY_REGS))
		return false;
	bp = bp_ran(tc, tc->st.regs.rip, &alias);
	if (!bp || !(host = mmu_host(&t->vm->mram, bp->gpa, 1)))
		return false;
	if (flush(tc, true) || set_debug(tc, true))
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
	ran(tc);
	return true;
}

/* After a triple fault: kvm_amd re-initialises the vCPU (its VMCB is
 * undefined after a shutdown), and the registers then read as the reset
 * state, which looks like anything but the fault.  Show the registers the
 * vCPU was last resumed with instead where the cache had them (those of the
 * faulting instruction after a stepi onto it), and say so. */
static void shutdown_state(struct tcpu *tc)
{
	tc->fault_state = FAULT_KEPT;
	if (fetch(tc, DIRTY_REGS | DIRTY_SREGS) || !vcpu_state_is_reset(&tc->st.regs, &tc->st.sregs))
		return;
	tc->fault_state = FAULT_LOST;
	if (!tc->entry_valid || vcpu_state_is_reset(&tc->entry_regs, &tc->entry_sregs))
		return;
	tc->st.regs = tc->entry_regs;
	tc->st.sregs = tc->entry_sregs;
	tc->fault_state = FAULT_ENTRY;
}

static const char *fault_note(const struct tcpu *tc)
{
	if (tc->fault_state == FAULT_ENTRY)
		return "vmm: KVM reset the vCPU at the fault: the registers shown are those it was last "
		       "resumed with, not the faulting ones\n";
	if (tc->fault_state == FAULT_LOST)
		return "vmm: KVM reset the vCPU at the fault: its faulting registers are lost (they read "
		       "as the reset state)\n";
	return "";
}

/* Classify a vcpu_run result; returns true if it is a stop to report. */
static bool classify(struct tcpu *tc, enum vcpu_event ev, bool stepping)
{
	struct gdb_target *t = tc->t;
	struct kvm_run *run = tc->c->run;

	ran(tc);
	switch (ev) {
	case EV_INTR:
		return false;
	case EV_DEBUG: {
		uint64_t dr6 = run->debug.arch.dr6;

		if (run->debug.arch.exception == 3 && t->bp_patched) {
			/* RIP is on the int3 (or after it, as the trap leaves it) */
			if (fetch(tc, DIRTY_REGS) == 0 &&
			    (bp_trap(tc, tc->st.regs.rip) || bp_trap(tc, tc->st.regs.rip - 1)))
				return true;
			set_event(tc, STUB_STOP_SWBREAK, SIGTRAP_, 0, NULL);
			tc->why = "breakpoint";
			return true;
		}
		for (int i = 0; i < 4; i++) {
			struct hwslot *h = &t->hw[i];

			if (!(dr6 & (1ULL << i)) || !h->used)
				continue;
			if (h->type <= STUB_BP_HW) {
				set_event(tc, h->type == STUB_BP_SW ? STUB_STOP_SWBREAK : STUB_STOP_HWBREAK,
					  SIGTRAP_, 0, NULL);
				tc->why = "breakpoint";
			} else {
				set_event(tc, h->type == STUB_WP_READ ? STUB_STOP_RWATCH : STUB_STOP_AWATCH,
					  SIGTRAP_, h->addr, NULL);
				tc->why = "watchpoint";
			}
			return true;
		}
		set_event(tc, STUB_STOP_SIGNAL, SIGTRAP_, 0, NULL);
		tc->stepped = stepping || (dr6 & DR6_BS);
		tc->why = tc->stepped ? "single step" : "debug trap";
		return true;
	}
	case EV_HLT:
		if (t->bp_insn == 0xf4 && fetch(tc, DIRTY_REGS) == 0 && bp_trap(tc, tc->st.regs.rip - 1))
			return true;
		tc->why = "halted";
		tc->halted_now = true;
		return false; /* the caller decides whether all have halted */
	case EV_EXIT_PORT:
		set_event(tc, STUB_STOP_EXITED, 0, 0, NULL);
		tc->event.status = tc->c->exit_status;
		return true;
	case EV_MMIO: {
		uint64_t gpa = run->mmio.phys_addr, len = run->mmio.len;
		uint8_t *host = mmu_host(&t->vm->mram, gpa, len);
		struct watch *w;

		if (run->mmio.is_write && host && page_watched(t, gpa)) {
			pthread_mutex_lock(&t->lock); /* other vCPUs may write there too */
			memcpy(host, run->mmio.data, len);
			unlock_wake(t);
			w = watch_hit(t, gpa, len);
			if (!w)
				return false; /* same page, other bytes: go on */
			/* Let KVM finish the instruction without running another. */
			__atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
			vcpu_run(tc->c);
			__atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
			ran(tc);
			set_event(tc, STUB_STOP_WATCH, SIGTRAP_, w->addr, NULL);
			tc->why = "watchpoint";
			return true;
		}
		set_event(tc, STUB_STOP_SIGNAL, SIGSEGV_, 0,
			  "vmm: vCPU %d: %s of %u bytes at guest-physical 0x%llx, outside guest RAM\n",
			  tc->c->index, run->mmio.is_write ? "write" : "read", run->mmio.len,
			  (unsigned long long)gpa);
		tc->dead_status = STATUS_MMIO;
		tc->why = "fault";
		return true;
	}
	case EV_SHUTDOWN:
		shutdown_state(tc);
		set_event(tc, STUB_STOP_SIGNAL, SIGSEGV_, 0,
			  "vmm: vCPU %d: triple fault (KVM_EXIT_SHUTDOWN); continuing ends the guest\n%s",
			  tc->c->index, fault_note(tc));
		tc->dead_status = STATUS_SHUTDOWN;
		tc->why = tc->fault_state == FAULT_ENTRY ? "triple fault, registers as last resumed"
			  : tc->fault_state == FAULT_LOST ? "triple fault, registers lost" : "triple fault";
		return true;
	default:
		set_event(tc, STUB_STOP_SIGNAL, SIGILL_, 0, "vmm: vCPU %d: %s; continuing ends the guest\n",
			  tc->c->index, vcpu_event_name(ev));
		tc->dead_status = STATUS_INTERNAL;
		tc->why = "KVM error";
		return true;
	}
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

static void stop_all_locked(struct gdb_target *t)
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
 * a thread it did not resume). */
static bool pending_locked(struct gdb_target *t)
{
	if (t->exited || t->interrupt_req)
		return true;
	for (int i = 0; i < t->vm->ncpus; i++)
		if (t->cpus[i].has_event && t->cpus[i].resumed)
			return true;
	return false;
}

/* Called with the lock held whenever a vCPU stops. */
static void check_stopped_locked(struct gdb_target *t)
{
	if (nrunning(t))
		return;
	pthread_cond_broadcast(&t->stopped);
	if (t->waiting && t->client && !pending_locked(t)) {
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

/* ---- recording ------------------------------------------------------------------ */

/* The registers a log entry describes: kvm_regs then kvm_sregs, as words. */
#define STATE_WORDS ((int)((sizeof(struct kvm_regs) + sizeof(struct kvm_sregs)) / 8))
_Static_assert(sizeof(struct kvm_regs) % 8 == 0 && sizeof(struct kvm_sregs) % 8 == 0 &&
	       STATE_WORDS <= REC_WORDS, "register state as log words");
#define REC_QUANTUM 64 /* instructions a vCPU records before the others get a turn */

/* FPU state and KERNEL_GS_BASE: logged whole, before and after, for the
 * instructions that may change them. */
struct fpblob {
	struct kvm_fpu fpu;
	uint64_t kgsbase;
};
_Static_assert(sizeof(struct fpblob) <= REC_BLOB_MAX, "FPU blob");

static void pack(const struct cpu_state *st, uint64_t *w)
{
	memcpy(w, &st->regs, sizeof(st->regs));
	memcpy((uint8_t *)w + sizeof(st->regs), &st->sregs, sizeof(st->sregs));
}

static void unpack(const uint64_t *w, struct cpu_state *st)
{
	memcpy(&st->regs, w, sizeof(st->regs));
	memcpy(&st->sregs, (const uint8_t *)w + sizeof(st->regs), sizeof(st->sregs));
}

/* Where the opcode of the instruction in b[0..n) starts, after its legacy
 * prefixes (and REX in 64-bit code); -1 if the bytes end first. */
static long opcode_at(struct tcpu *tc, const uint8_t *b, long n)
{
	const struct kvm_sregs *sr = &tc->st.sregs;
	bool x64 = (sr->efer & EFER_LMA) && sr->cs.l;

	for (long i = 0; i < n; i++) {
		uint8_t c = b[i];

		if (c != 0x66 && c != 0x67 && c != 0xf0 && c != 0xf2 && c != 0xf3 && c != 0x2e &&
		    c != 0x36 && c != 0x3e && c != 0x26 && c != 0x64 && c != 0x65 &&
		    !(x64 && (c & 0xf0) == 0x40))
			return i;
	}
	return -1;
}

/* May the instruction change the FPU/SSE state or KERNEL_GS_BASE?  x87
 * (D8-DF, 9B), VEX/EVEX (C4, C5, 62), and the 0F opcodes of SSE, MMX,
 * FXSAVE/XSAVE, SWAPGS/XSETBV (0F 01) and WRMSR.  Unknown bytes: yes. */
static bool insn_may_touch_fpu(struct tcpu *tc, const uint8_t *b, long n)
{
	long i = opcode_at(tc, b, n);
	uint8_t c, d;

	if (i < 0)
		return true;
	c = b[i];
	if ((c >= 0xd8 && c <= 0xdf) || c == 0x9b || c == 0xc4 || c == 0xc5 || c == 0x62)
		return true;
	if (c != 0x0f)
		return false;
	if (i + 1 >= n)
		return true;
	d = b[i + 1];
	return d == 0x01 || d == 0x0e || d == 0x0f || (d >= 0x10 && d <= 0x17) ||
	       (d >= 0x28 && d <= 0x2f) || d == 0x30 || d == 0x38 || d == 0x3a ||
	       (d >= 0x50 && d <= 0x7f) || d == 0xae || d == 0xc2 || d == 0xc3 ||
	       (d >= 0xc4 && d <= 0xc6) || d >= 0xd0;
}

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

/* Length of a HLT at RIP (with prefixes), else 0.  Single-stepped, KVM
 * finishes a HLT as a step and the vCPU never halts, so recording carries
 * it out itself: no interrupt ever comes to these guests. */
static int hlt_len(struct tcpu *tc, const uint8_t *b, long n)
{
	const struct kvm_sregs *sr = &tc->st.sregs;
	long i = opcode_at(tc, b, n);

	if ((sr->cs.selector & 3) && (sr->cr0 & 1))
		return 0; /* not at CPL 0: a #GP, KVM's business */
	return i >= 0 && b[i] == 0xf4 ? (int)i + 1 : 0;
}

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
	if (!t->ptp && !(t->ptp = malloc(65536 * sizeof(*t->ptp))))
		return -ENOMEM;
	n = mmu_table_pages(&t->vm->mram, &mr, t->ptp, 65536);
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
	gpa &= ~0xfffULL;
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
		r |= vm_set_readonly(t->vm, t->open_gpa[i], 4096, true);
	t->nopen = 0;
	t->open_valid = false;
	return r ? -EIO : 0;
}

/* Before tc records an instruction: leave the page-table pages of its
 * hierarchy writable (see struct gdb_target) and copy them, to find what
 * the instruction changes there.  Where there are more than REC_OPEN_MAX,
 * or a slot cannot be split, the rest stay read-only (trapped as before). */
static int rec_tables_open(struct tcpu *tc)
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
			     t->ptp[k] == t->ptp[k - 1] + 4096; k++)
				;
			if (vm_set_readonly(t->vm, t->ptp[i], (uint64_t)(k - i) * 4096, false))
				break; /* (no slot left: the rest stay trapped) */
			while (i < k)
				t->open_gpa[t->nopen++] = t->ptp[i++];
		}
	}
	for (int i = 0; i < t->nopen; i++)
		memcpy(t->open_copy[i], t->vm->ram + t->open_gpa[i], 4096);
	return 0;
}

static int rec_diff(struct tcpu *tc, const uint8_t *was, uint64_t gpa0, uint64_t len0,
		    struct watch **watch, bool *wrote);

/* After the instruction: log what it changed in the open table pages.  A
 * change there may have changed the hierarchy: its pages are derived again
 * before the next instruction. */
static int rec_tables_diff(struct tcpu *tc, struct watch **watch, bool *wrote)
{
	struct gdb_target *t = tc->t;
	bool changed = false;

	for (int i = 0; i < t->nopen; i++) {
		const uint8_t *now = t->vm->ram + t->open_gpa[i];

		if (!memcmp(now, t->open_copy[i], 4096))
			continue;
		if (rec_diff(tc, t->open_copy[i], t->open_gpa[i], 4096, watch, wrote))
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

/* Does the instruction at RIP only jump (near)?  Then a step that changes
 * nothing is a jump to itself, not an instruction that could not run. */
static bool insn_near_jump(struct tcpu *tc, const uint8_t *b, long n)
{
	long i = opcode_at(tc, b, n);
	uint8_t c;

	if (i < 0)
		return false;
	c = b[i];
	if (c == 0xeb || c == 0xe9 || (c >= 0x70 && c <= 0x7f) || (c >= 0xe0 && c <= 0xe3))
		return true;
	if (c == 0x0f)
		return i + 1 < n && (b[i + 1] & 0xf0) == 0x80;
	if (c == 0xff)
		return i + 1 < n && ((b[i + 1] >> 3) & 7) == 4;
	return false;
}

/* Run tc's instruction: KVM_RUN until it is done, carrying out (and logging
 * into tc->bld) each write it makes to read-only RAM.  *zap: one of them
 * hit a page table. */
static enum vcpu_event rec_run_insn(struct tcpu *tc, bool *wrote, struct watch **watch, bool *zap)
{
	struct gdb_target *t = tc->t;
	struct kvm_run *run = tc->c->run;
	enum vcpu_event ev;

	if (flush(tc, true) || set_debug(tc, true))
		return EV_ERROR;
	for (;;) {
		uint64_t gpa;
		uint32_t len;
		uint8_t *host;
		struct watch *w;

		ev = vcpu_run(tc->c);
		ran(tc);
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
		if (!*zap && fetch(tc, DIRTY_SREGS) == 0)
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

	for (uint64_t off = 0; off < len0; off += 4096) {
		const uint8_t *now = ram + gpa0 + off, *old = was + off;

		if (!memcmp(now, old, 4096))
			continue;
		for (uint64_t i = 0; i < 4096; i++) {
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
		for (uint64_t va = tab[k][0] & ~0xfffULL; va <= tab[k][0] + tab[k][1] && n < DT_PAGES;
		     va += 4096) {
			struct mmu_walk w;
			bool dup = false;

			if (mmu_translate(&tc->t->vm->mram, &mr, va, &w) ||
			    !mmu_host(&tc->t->vm->mram, w.gpa & ~0xfffULL, 4096))
				continue;
			for (int i = 0; i < n; i++)
				dup |= pages[i] == (w.gpa & ~0xfffULL);
			if (!dup)
				pages[n++] = w.gpa & ~0xfffULL;
		}
	}
	return n;
}

/* What KVM cannot finish on read-only memory, first with only the
 * descriptor tables writable (the accessed bit of a descriptor that a far
 * jump or a segment load sets: KVM retries such an instruction for ever),
 * their pages compared with a copy afterwards; other writes still trap.
 * Returns true if the instruction ran. */
static bool rec_dt_writable(struct tcpu *tc, const uint64_t *pre, struct watch **watch,
			    bool *wrote, bool *zap, enum vcpu_event *ev)
{
	struct vm *vm = tc->t->vm;
	uint64_t pages[DT_PAGES], post[REC_WORDS];
	uint8_t (*copy)[4096];
	int n = dt_pages(tc, pages), ok = 0;

	if (!n || !(copy = malloc((size_t)n * 4096)))
		return false;
	for (int i = 0; i < n; i++) {
		memcpy(copy[i], vm->ram + pages[i], 4096);
		if (vm_set_readonly(vm, pages[i], 4096, false)) {
			n = i + 1; /* (this one and those before go back below) */
			break;
		}
	}
	*ev = rec_run_insn(tc, wrote, watch, zap);
	for (int i = 0; i < n; i++) {
		ok |= vm_set_readonly(vm, pages[i], 4096, true);
		if (rec_diff(tc, copy[i], pages[i], 4096, watch, wrote))
			*ev = EV_INTERNAL;
	}
	free(copy);
	if (ok) {
		fprintf(stderr, "vmm: could not make guest RAM read-only again: recording is broken\n");
		*ev = EV_INTERNAL;
	}
	if (fetch(tc, DIRTY_REGS | DIRTY_SREGS))
		return false;
	pack(&tc->st, post);
	return *wrote || memcmp(pre, post, STATE_WORDS * sizeof(pre[0])) ||
	       (*ev != EV_DEBUG && *ev != EV_INTERNAL);
}

/* Run one instruction with all of RAM writable, and find what it wrote by
 * comparing RAM with a copy taken before.  For what KVM cannot finish on
 * read-only memory: the accessed bit of a descriptor a far jump or a
 * segment load sets (KVM retries such an instruction forever), instructions
 * its emulator does not know (FXSAVE, XSAVE...).  Costs two copies of RAM's
 * size, so it is the fallback only. */
static enum vcpu_event rec_unprotected(struct tcpu *tc, struct watch **watch, bool *wrote)
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
	if (flush(tc, true) || set_debug(tc, true))
		ev = EV_ERROR;
	else
		ev = vcpu_run(tc->c);
	ran(tc);
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
	long dropped, ni;
	int hlt;

	*done = false;
	*watch = NULL;
	if (fetch(tc, DIRTY_REGS | DIRTY_SREGS))
		return EV_ERROR;
	ni = insn_bytes(tc, insn);
	fpu = insn_may_touch_fpu(tc, insn, ni);
	hlt = hlt_len(tc, insn, ni);
	if (fpu && fetch(tc, DIRTY_FPU | DIRTY_KGSBASE))
		return EV_ERROR;
	pack(&tc->st, pre);
	if (fpu) {
		memset(&fb, 0, sizeof(fb));
		fb[0].fpu = tc->st.fpu;
		fb[0].kgsbase = tc->st.kgsbase;
	}
	rec_begin(b, tc->c->index, REC_STEP);
	if (hlt) {
		tc->st.regs.rip += hlt;
		tc->dirty |= DIRTY_REGS;
		pack(&tc->st, post);
		if (flush(tc, true))
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
	if (fetch(tc, DIRTY_REGS | DIRTY_SREGS))
		return EV_ERROR;
	if (rec_tables_diff(tc, watch, &wrote))
		return EV_INTERNAL;
	pack(&tc->st, post);
	if (!wrote && ((ev == EV_DEBUG && run->debug.arch.exception == 1 && !tc->rec_trap_due &&
			!memcmp(pre, post, STATE_WORDS * sizeof(pre[0])) && !insn_near_jump(tc, insn, ni)) ||
		       (ev == EV_INTERNAL && run->exit_reason == KVM_EXIT_INTERNAL_ERROR &&
			run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION))) {
		/* KVM could not run it on read-only memory */
		if (!rec_dt_writable(tc, pre, watch, &wrote, &zap, &ev))
			ev = rec_unprotected(tc, watch, &wrote);
		if (fetch(tc, DIRTY_REGS | DIRTY_SREGS) || rec_tables_diff(tc, watch, &wrote))
			return EV_ERROR;
		pack(&tc->st, post);
	}
log:
	rec_set_state(b, pre, post, STATE_WORDS);
	if (ev == EV_DEBUG && run->debug.arch.exception != 1)
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
		if (fetch(tc, DIRTY_FPU | DIRTY_KGSBASE) == 0) {
			fb[1].fpu = tc->st.fpu;
			fb[1].kgsbase = tc->st.kgsbase;
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
static bool rec_bp_at(struct tcpu *tc, enum stub_stop_kind *kind)
{
	struct gdb_target *t = tc->t;
	uint64_t rip = tc->st.regs.rip;

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
static bool rec_run(struct tcpu *tc, bool step, enum vcpu_event *evp)
{
	struct gdb_target *t = tc->t;
	enum stub_stop_kind kind;
	bool event = false, go;

	pthread_mutex_lock(&t->lock);
	go = rec_turn_locked(tc);
	pthread_mutex_unlock(&t->lock);
	*evp = EV_INTR;
	for (int n = 0; go && n < REC_QUANTUM && !event; n++) {
		struct watch *w;
		bool done;
		enum vcpu_event ev = rec_one(tc, &done, &w);

		*evp = ev;
		if (!done && ev == EV_INTERNAL && tc->c->run->exit_reason == KVM_EXIT_INTERNAL_ERROR &&
		    tc->c->run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) {
			/* The instruction has not run; without recording it can. */
			ran(tc);
			set_event(tc, STUB_STOP_SIGNAL, SIGILL_, 0,
				  "vmm: vCPU %d: KVM cannot emulate the instruction at 0x%llx on read-only "
				  "memory, as recording needs; 'monitor record off' lets it run\n",
				  tc->c->index, fetch(tc, DIRTY_REGS) ? 0ULL : (unsigned long long)tc->st.regs.rip);
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
			set_event(tc, kind, SIGTRAP_, 0, NULL);
			tc->why = "breakpoint";
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

/* Run the vCPU once (one KVM_RUN, or a step over a breakpoint) and record
 * what came of it.  Called and returns with the lock held. */
static void run_once_locked(struct tcpu *tc)
{
	struct gdb_target *t = tc->t;
	bool step, over, event = false;
	enum vcpu_event ev = EV_INTR;

	step = tc->action == STUB_STEP || tc->action == STUB_RANGE;
	over = tc->over;
	tc->over = false;
	tc->stepped = false;
	tc->reported_bp = false;
	unlock_wake(t);

	if (over && step_over(tc, &ev) && (step || ev != EV_DEBUG)) {
		event = classify(tc, ev, step);
	} else if (over) {
		/* stepped over (or nothing to step over): stop */
	} else if (t->rec_on) {
		event = rec_run(tc, step, &ev);
	} else if (flush(tc, step) || set_debug(tc, step)) {
		set_event(tc, STUB_STOP_SIGNAL, SIGILL_, 0, "vmm: vCPU %d: cannot set its state: %s\n",
			  tc->c->index, strerror(errno));
		event = true;
	} else {
		ev = vcpu_run(tc->c);
		event = classify(tc, ev, step);
	}

	pthread_mutex_lock(&t->lock);
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
	    fetch(tc, DIRTY_REGS) == 0 && tc->st.regs.rip >= tc->range_lo &&
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

	pthread_mutex_lock(&t->lock);
	for (;;) {
		/* (a vCPU stepped inline by the stub thread is not ours meanwhile) */
		while ((tc->state != TS_RUNNING || tc->inline_run) && !t->quit)
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
	return NULL;
}

/* Start the vCPUs per their actions (lock held). */
static void start_locked(struct gdb_target *t)
{
	for (int i = 0; i < t->vm->ncpus; i++)
		t->cpus[i].resumed = t->cpus[i].action != STUB_STAY;
	for (int i = 0; i < t->vm->ncpus; i++) {
		struct tcpu *tc = &t->cpus[i];

		if (tc->dead_status && !tc->has_event) {
			t->exited = true;
			t->exit_status = tc->dead_status;
			set_event(tc, STUB_STOP_EXITED, 0, 0, NULL);
			tc->event.status = tc->dead_status;
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
static void halt_all_locked(struct gdb_target *t)
{
	stop_all_locked(t);
	while (nrunning(t))
		pthread_cond_wait(&t->stopped, &t->lock);
}

/* ---- replaying the record log ------------------------------------------------------ */

#define ALL_STATE (DIRTY_REGS | DIRTY_SREGS | DIRTY_FPU | DIRTY_KGSBASE)

/* The cursor leaves the end of the log: keep the present of every vCPU. */
static int rec_leave_end(struct gdb_target *t)
{
	if (t->live_saved)
		return 0;
	for (int i = 0; i < t->vm->ncpus; i++) {
		struct tcpu *tc = &t->cpus[i];
		int r = fetch(tc, ALL_STATE);

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
	unpack(tc->cur, &tc->st);
	tc->valid |= DIRTY_REGS | DIRTY_SREGS;
	tc->dirty |= DIRTY_REGS | DIRTY_SREGS;
	if (v->blob_len == sizeof(fb)) {
		memcpy(&fb, back ? v->blob_before : v->blob_after, sizeof(fb));
		tc->st.fpu = fb.fpu;
		tc->st.kgsbase = fb.kgsbase;
		tc->valid |= DIRTY_FPU | DIRTY_KGSBASE;
		tc->dirty |= DIRTY_FPU | DIRTY_KGSBASE;
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
		check_stopped_locked(t); /* Ctrl-C: op_get_stop says SIGINT */
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
static void *replay_main(void *arg)
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

enum replay_how {
	REPLAY_LIVE,    /* nothing (more) to walk: resume live */
	REPLAY_DONE,    /* walked: the stop is set */
	REPLAY_THREAD,  /* the replay thread walks */
};

/* A resume that goes back, or forward in the past (lock held, all stopped).
 * Steps walk here and now; continues on the replay thread. */
static enum replay_how rec_replay_locked(struct gdb_target *t, const struct stub_resume *r)
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

/* The debugger changes registers or memory: in the past, the log after the
 * cursor is forgotten first (the past changed; KVM forgets its shadow page
 * tables too, built for a future that will not come). */
static void rec_change_history(struct gdb_target *t, bool say)
{
	if (!t->rec_on || rec_at_end(&t->log))
		return;
	rec_truncate(&t->log);
	t->live_saved = false;
	t->ptp_valid = false;
	if (vm_reload_slots(t->vm))
		fprintf(stderr, "vmm: could not reload the memory slots\n");
	if (say)
		fprintf(stderr, "vmm: history changed: the record log after this point is dropped\n");
}

/* Log a change the debugger made (REC_USER), so going back undoes it. */
static void rec_log_user(struct tcpu *tc, const uint64_t *before, const struct fpblob *fb_before)
{
	struct gdb_target *t = tc->t;
	uint64_t after[REC_WORDS];
	struct fpblob fb;

	if (fetch(tc, ALL_STATE))
		return;
	pack(&tc->st, after);
	rec_set_state(&tc->bld, before, after, STATE_WORDS);
	fb.fpu = tc->st.fpu;
	fb.kgsbase = tc->st.kgsbase;
	if (fb_before && memcmp(fb_before, &fb, sizeof(fb)))
		rec_set_blobs(&tc->bld, fb_before, &fb, sizeof(fb));
	if (!rec_build_empty(&tc->bld) && rec_append(&t->log, &tc->bld) < 0)
		fprintf(stderr, "vmm: the record log cannot grow\n");
	memcpy(tc->cur, after, STATE_WORDS * sizeof(after[0]));
	rec_drop_msg(t);
}

static void patch_all(struct gdb_target *t, bool on)
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

static int rec_start(struct gdb_target *t, char *out, size_t cap)
{
	char lim[32];
	int r;

	if (t->rec_on) {
		snprintf(out, cap, "recording is already on\n");
		return 0;
	}
	kvm_probe(t->vm->kvm_fd, &t->vm->feat, PROBE_WATCH);
	if (!t->vm->feat.readonly_slot) {
		snprintf(out, cap, "cannot record: this KVM does not trap writes to read-only memory\n");
		return 0;
	}
	for (int i = 0; i < 4; i++)
		if (t->hw[i].used && (t->hw[i].type == STUB_WP_READ || t->hw[i].type == STUB_WP_ACCESS)) {
			snprintf(out, cap, "cannot record with read or access watchpoints set: "
				 "recording sees writes only; delete them first\n");
			return 0;
		}
	for (int i = 0; i < t->vm->ncpus; i++) {
		if (fetch(&t->cpus[i], DIRTY_REGS | DIRTY_SREGS))
			return -EIO;
		pack(&t->cpus[i].st, t->cpus[i].cur);
		t->cpus[i].rec_trap_due = false;
	}
	r = vm_set_readonly(t->vm, 0, t->vm->ram_size, true);
	if (r) {
		snprintf(out, cap, "cannot record: read-only memory slots refused: %s\n", strerror(-r));
		if (vm_set_readonly(t->vm, 0, t->vm->ram_size, false) == 0)
			watch_apply(t, NULL);
		return 0;
	}
	patch_all(t, false);
	rec_init(&t->log, t->rec_limit);
	t->rec_dropped_said = 0;
	t->live_saved = false;
	t->ptp_valid = false;
	t->rec_on = true;
	snprintf(out, cap, "recording: every instruction of every vCPU and every write to guest RAM "
		 "is logged (limit %s); reverse-stepi, reverse-continue and friends go back\n",
		 size_text(t->rec_limit, lim, sizeof(lim)));
	return 0;
}

static void rec_stop(struct gdb_target *t)
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
	patch_all(t, true);
	for (int i = 0; i < t->vm->ncpus; i++)
		rec_build_free(&t->cpus[i].bld);
}

static void rec_status(struct gdb_target *t, char *out, size_t cap)
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

/* ---- stub operations ---------------------------------------------------------- */

static const char *op_xml(void *p, const char *annex)
{
	struct gdb_target *t = p;

	return strcmp(annex, "target.xml") ? NULL : tdesc_xml(t->arch);
}

static const char *op_memory_map(void *p)
{
	struct gdb_target *t = p;

	/* Guest RAM, and the rest of the address space too: through the guest's
	 * page tables any virtual address may be RAM, and gdb refuses to touch
	 * addresses a memory map leaves out. */
	snprintf(t->memmap, sizeof(t->memmap),
		 "<memory-map><memory type=\"ram\" start=\"0x0\" length=\"0x%llx\"/>"
		 "<memory type=\"ram\" start=\"0x%llx\" length=\"0x%llx\"/></memory-map>",
		 (unsigned long long)t->vm->ram_size, (unsigned long long)t->vm->ram_size,
		 (unsigned long long)(0 - t->vm->ram_size));
	return t->memmap;
}

static int op_reg_count(void *p)
{
	return tdesc_nregs(((struct gdb_target *)p)->arch);
}

static int op_expedite(void *p, int *regnos, int max)
{
	return tdesc_expedite(((struct gdb_target *)p)->arch, regnos, max);
}

static int op_read_reg(void *p, int tid, int regno, uint8_t *buf, size_t cap)
{
	struct gdb_target *t = p;
	struct tcpu *tc = cpu_of(t, tid);
	int r;

	if (cap < 16 || regno < 0 || regno >= tdesc_nregs(t->arch))
		return -EINVAL;
	r = fetch(tc, tdesc_needs(t->arch, regno));
	if (r)
		return r;
	return tdesc_read(t->arch, &tc->st, regno, buf);
}

static int op_write_reg(void *p, int tid, int regno, const uint8_t *buf, size_t len)
{
	struct gdb_target *t = p;
	struct tcpu *tc = cpu_of(t, tid);
	uint64_t before[REC_WORDS];
	struct fpblob fb;
	int r = fetch(tc, tdesc_needs(t->arch, regno));

	if (r)
		return r;
	if (t->rec_on) {
		rec_change_history(t, true);
		if ((r = fetch(tc, ALL_STATE)))
			return r;
		pack(&tc->st, before);
		fb.fpu = tc->st.fpu;
		fb.kgsbase = tc->st.kgsbase;
		rec_begin(&tc->bld, tc->c->index, REC_USER);
	}
	r = tdesc_write(t->arch, &tc->st, regno, buf, len, &tc->dirty);
	if (t->rec_on && r == 0)
		rec_log_user(tc, before, &fb);
	return r;
}

/* Show the original bytes under our breakpoints. */
static void unpatch(struct gdb_target *t, uint64_t addr, uint8_t *buf, size_t len)
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

/* Recording: the debugger writes memory.  Build its log entry (old and new
 * bytes, page by page) before the write; op_write_mem appends it. */
static int rec_log_mem(struct gdb_target *t, struct tcpu *tc, uint64_t addr, const uint8_t *buf,
		       size_t len)
{
	struct mmu_regs mr;
	int r;

	rec_change_history(t, true);
	rec_begin(&tc->bld, tc->c->index, REC_USER);
	if (!t->phys && (r = mmu_regs_of(tc, &mr)))
		return r;
	for (size_t done = 0; done < len;) {
		uint64_t va = addr + done, chunk = 4096 - (va & 0xfff);
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

static long op_read_mem(void *p, int tid, uint64_t addr, uint8_t *buf, size_t len)
{
	struct gdb_target *t = p;
	struct mmu_regs mr = { 0 };
	long n;

	if (t->phys) {
		uint64_t avail;

		if (addr >= t->vm->ram_size)
			return -EFAULT;
		avail = t->vm->ram_size - addr;
		n = len < avail ? (long)len : (long)avail;
		memcpy(buf, t->vm->ram + addr, n);
	} else {
		int r = mmu_regs_of(cpu_of(t, tid), &mr);

		if (r)
			return r;
		n = mmu_read(&t->vm->mram, &mr, addr, buf, len);
	}
	if (n > 0)
		unpatch(t, addr, buf, n);
	return n;
}

static int op_write_mem(void *p, int tid, uint64_t addr, const uint8_t *buf, size_t len)
{
	struct gdb_target *t = p;
	struct tcpu *tc = cpu_of(t, tid);
	struct mmu_regs mr;
	int r;

	if (t->rec_on) {
		r = rec_log_mem(t, tc, addr, buf, len);
		if (r)
			return r;
	}
	if (t->phys) {
		if (addr >= t->vm->ram_size || len > t->vm->ram_size - addr)
			return -EFAULT;
		memcpy(t->vm->ram + addr, buf, len);
	} else {
		r = mmu_regs_of(cpu_of(t, tid), &mr);
		if (r)
			return r;
		r = mmu_write(&t->vm->mram, &mr, addr, buf, len);
		if (r)
			return r;
	}
	if (t->rec_on) {
		/* logged: going back undoes it */
		long dropped = rec_append(&t->log, &tc->bld);

		if (dropped < 0)
			fprintf(stderr, "vmm: the record log cannot grow\n");
		rec_drop_msg(t);
	}
	/* A write over one of our breakpoints changes what it hides. */
	for (int i = 0; t->nbp && t->bp_patched && i < BP_BUCKETS; i++)
		for (struct swbp *bp = t->bps[i]; bp; bp = bp->next) {
			uint64_t a = t->phys ? bp->gpa : bp->addr;
			uint8_t *host = mmu_host(&t->vm->mram, bp->gpa, 1);

			if (a >= addr && a - addr < len && host) {
				bp_set_orig(t, bp->gpa, buf[a - addr]);
				*host = t->bp_insn;
			}
		}
	return 0;
}

/* A mechanism the probe found dead is refused, never accepted and silent. */
static int op_insert_bp(void *p, enum stub_bp_type type, uint64_t addr, uint64_t kind, char *why,
			size_t cap)
{
	struct gdb_target *t = p;
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
		for (int i = 0; i < 4; i++)
			if (!t->hw[i].used) {
				t->hw[i] = (struct hwslot){ true, type, addr, type == STUB_BP_HW ? 1 : kind };
				return 0;
			}
		return -ENOSPC;
	}
	return -EINVAL;
}

static int op_remove_bp(void *p, enum stub_bp_type type, uint64_t addr, uint64_t kind)
{
	struct gdb_target *t = p;

	switch (type) {
	case STUB_BP_SW:
		return sw_remove(t, addr);
	case STUB_WP_WRITE:
		return watch_remove(t, addr, kind);
	default:
		for (int i = 0; i < 4; i++)
			if (t->hw[i].used && t->hw[i].type == type && t->hw[i].addr == addr) {
				t->hw[i].used = false;
				return 0;
			}
		return -ENOENT;
	}
}

/* A kept event that means nothing any more: gdb moved the thread or removed
 * the breakpoint or watchpoint it reports (the thread simply runs on: a
 * breakpoint's instruction has not run), or a step that is not asked for
 * again. */
static bool event_stale(struct tcpu *tc)
{
	struct gdb_target *t = tc->t;
	const struct stub_stop *e = &tc->event;

	switch (e->kind) {
	case STUB_STOP_SWBREAK:
	case STUB_STOP_HWBREAK:
		if (fetch(tc, DIRTY_REGS) || tc->st.regs.rip != tc->event_rip)
			return true;
		return e->kind == STUB_STOP_HWBREAK ? !hw_find(t, STUB_BP_HW, tc->event_rip)
			: !bp_find(t, tc->event_rip) && !hw_find(t, STUB_BP_SW, tc->event_rip);
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
static bool needs_over(struct tcpu *tc)
{
	bool alias;

	return tc->reported_bp && tc->state == TS_STOPPED && tc->t->nbp && tc->t->bp_patched &&
	       fetch(tc, DIRTY_REGS) == 0 && tc->st.regs.rip == tc->reported_rip &&
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

static int op_resume(void *p, const struct stub_resume *r)
{
	struct gdb_target *t = p;
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

static int op_interrupt(void *p)
{
	struct gdb_target *t = p;

	pthread_mutex_lock(&t->lock);
	t->interrupt_req = true;
	stop_all_locked(t);
	check_stopped_locked(t);
	unlock_wake(t);
	return 0;
}

static int op_stop_fd(void *p)
{
	return ((struct gdb_target *)p)->efd;
}

static int op_get_stop(void *p, struct stub_stop *out)
{
	struct gdb_target *t = p;
	struct tcpu *best = NULL;
	uint64_t v;

	pthread_mutex_lock(&t->lock);
	if (nrunning(t) || !pending_locked(t)) {
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

		if (tc->has_event && tc->resumed && (!best || tc->seq < best->seq))
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
		best->reported_bp = best->event.kind == STUB_STOP_SWBREAK || best->event_alias;
		best->reported_rip = best->event_rip;
	} else {
		/* Ctrl-C: name a thread that was running, not a halted one */
		struct tcpu *tc = cpu_of(t, t->cur_tid);

		for (int i = 0; i < t->vm->ncpus; i++)
			if (tc->state == TS_HALTED || !tc->resumed)
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

		if (fetch(tc, DIRTY_SREGS) == 0 && arch_of_mode(&tc->st.sregs) != t->arch)
			snprintf(out->message, sizeof(out->message),
				 "vmm: vCPU %d is now in %s mode (%s); this session describes %s: "
				 "reconnect to follow it (gdbinit does this; 'monitor hold' keeps the guest stopped)\n",
				 tc->c->index, mode_name(&tc->st.sregs),
				 tdesc_arch_name(arch_of_mode(&tc->st.sregs)), tdesc_arch_name(t->arch));
	}
	return 0;
}

static int op_current_stop(void *p, struct stub_stop *out)
{
	struct gdb_target *t = p;

	*out = t->last;
	if (t->exited) {
		out->kind = STUB_STOP_EXITED;
		out->status = t->exit_status;
	}
	return 0;
}

/* For a client that backs the PC up over a breakpoint itself (stub.h):
 * the PC where its int3 or hlt, one byte each, left it (or back on it).
 * Not while recording: the client's write back would enter the log. */
static int op_pc_after_break(void *p, int tid, bool after)
{
	struct gdb_target *t = p;
	struct tcpu *tc = cpu_of(t, tid);
	int r;

	if (t->rec_on)
		return -EBUSY;
	r = fetch(tc, DIRTY_REGS);
	if (r)
		return r;
	tc->st.regs.rip += after ? 1 : -1;
	tc->dirty |= DIRTY_REGS;
	return 0;
}

static int op_threads(void *p, int *tids, int max)
{
	struct gdb_target *t = p;
	int n = 0;

	for (int i = 0; i < t->vm->ncpus && n < max; i++)
		tids[n++] = i + 1;
	return n;
}

static int op_thread_info(void *p, int tid, char *buf, size_t cap)
{
	struct gdb_target *t = p;
	struct tcpu *tc;

	if (tid < 1 || tid > t->vm->ncpus)
		return -ENOENT;
	tc = &t->cpus[tid - 1];
	if (fetch(tc, DIRTY_SREGS))
		return -EIO;
	snprintf(buf, cap, "vCPU %d, %s mode, %s%s", tid - 1, mode_name(&tc->st.sregs),
		 tc->state == TS_HALTED ? "halted" : tc->why ? tc->why : "stopped",
		 tc->has_event ? " (not reported yet)" : "");
	return 0;
}

/* A vCPU is named by its index, and runs on the guest's processor of that
 * number (what a kernel calls CPU n), not on any one host core. */
static int op_thread_desc(void *p, int tid, struct stub_thread_desc *out)
{
	struct gdb_target *t = p;

	if (tid < 1 || tid > t->vm->ncpus)
		return -ENOENT;
	snprintf(out->name, sizeof(out->name), "vCPU %d", tid - 1);
	out->core = tid - 1;
	return 0;
}

/* The ELF the guest was loaded from, for gdb's symbols, where its machine
 * is the layout of the session and of the mode the guest starts in: gdb
 * lets an i386 ELF override the i8086 layout, warns of one of the other
 * width, and keeps it across reconnects (gdbinit's, following the guest
 * into another mode).  A flat image has none. */
static int op_exec_file(void *p, char *path, size_t cap)
{
	struct gdb_target *t = p;
	unsigned machine = t->arch == ARCH_X86_64 ? EM_X86_64 : t->arch == ARCH_I386 ? EM_386 : 0;
	unsigned start = t->vm->mode == MODE_LONG ? EM_X86_64 : t->vm->mode == MODE_REAL ? 0 : EM_386;

	if (!t->cfg->image || !machine || machine != start || t->vm->elf_machine != machine)
		return -ENOENT;
	return snprintf(path, cap, "%s", t->cfg->image) < (int)cap ? 0 : -ENAMETOOLONG;
}

/* For lldb: the machine of the session's register layout, with no OS. */
static int op_arch_info(void *p, struct stub_arch_info *out)
{
	struct gdb_target *t = p;
	bool x64 = t->arch == ARCH_X86_64;

	snprintf(out->triple, sizeof(out->triple), "%s-unknown-none", x64 ? "x86_64" : "i386");
	out->ptr_size = x64 ? 8 : 4;
	out->big_endian = false;
	return 0;
}

static void format_flags(char *out, size_t cap, uint64_t v, const char *const names[64])
{
	size_t n = 0;

	out[0] = 0;
	for (int i = 0; i < 64; i++)
		if ((v >> i & 1) && names[i] && n < cap)
			n += snprintf(out + n, cap - n, "%s%s", n ? " " : "", names[i]);
}

static int monitor_regs(struct gdb_target *t, char *out, size_t cap)
{
	static const char *const cr0n[64] = { [0] = "PE", [1] = "MP", [2] = "EM", [3] = "TS", [4] = "ET",
		[5] = "NE", [16] = "WP", [18] = "AM", [29] = "NW", [30] = "CD", [31] = "PG" };
	static const char *const cr4n[64] = { [0] = "VME", [1] = "PVI", [2] = "TSD", [3] = "DE",
		[4] = "PSE", [5] = "PAE", [6] = "MCE", [7] = "PGE", [8] = "PCE", [9] = "OSFXSR",
		[10] = "OSXMMEXCPT", [11] = "UMIP", [12] = "LA57", [13] = "VMXE", [16] = "FSGSBASE",
		[17] = "PCIDE", [18] = "OSXSAVE", [20] = "SMEP", [21] = "SMAP", [22] = "PKE" };
	static const char *const efern[64] = { [0] = "SCE", [8] = "LME", [10] = "LMA", [11] = "NXE",
		[12] = "SVME", [14] = "FFXSR" };
	struct tcpu *tc = cpu_of(t, t->cur_tid);
	struct kvm_sregs *s = &tc->st.sregs;
	struct mmu_regs mr;
	char f0[128], f4[160], fe[64];
	size_t n;

	if (mmu_regs_of(tc, &mr))
		return -EIO;
	format_flags(f0, sizeof(f0), s->cr0, cr0n);
	format_flags(f4, sizeof(f4), s->cr4, cr4n);
	format_flags(fe, sizeof(fe), s->efer, efern);
	n = snprintf(out, cap,
		 "vCPU %d: %s mode, paging %s\n"
		 "cr0  0x%016llx  %s\n"
		 "cr2  0x%016llx\n"
		 "cr3  0x%016llx\n"
		 "cr4  0x%016llx  %s\n"
		 "cr8  0x%016llx\n"
		 "efer 0x%016llx  %s\n"
		 "gdt  base 0x%llx limit 0x%x    idt  base 0x%llx limit 0x%x\n"
		 "cs   0x%04x base 0x%llx %s\n",
		 tc->c->index, mode_name(s), mmu_mode_name(mmu_mode(&mr)),
		 (unsigned long long)s->cr0, f0, (unsigned long long)s->cr2,
		 (unsigned long long)s->cr3, (unsigned long long)s->cr4, f4,
		 (unsigned long long)s->cr8, (unsigned long long)s->efer, fe,
		 (unsigned long long)s->gdt.base, s->gdt.limit, (unsigned long long)s->idt.base,
		 s->idt.limit, s->cs.selector, (unsigned long long)s->cs.base,
		 s->cs.l ? "64-bit" : s->cs.db ? "32-bit" : "16-bit");
	if (n < cap && tc->dead_status == STATUS_SHUTDOWN)
		snprintf(out + n, cap - n, "%s", fault_note(tc));
	return 0;
}

static const char monitor_help[] =
	"vmm monitor commands:\n"
	"  help            this list\n"
	"  regs            control registers decoded: mode, paging, CR0/CR4/EFER flags\n"
	"  walk ADDR       the page walk of a virtual address, level by level\n"
	"  phys on|off     addresses are guest-physical (on) or virtual (off, default)\n"
	"  mem             guest RAM layout and memory slots\n"
	"  probe           what this KVM offers and which mechanisms are in use\n"
	"  hold on|off     keep the guest stopped when gdb disconnects (for a reconnect)\n"
	"  arch            the register layout of this session and of each vCPU's mode\n"
	"  console stdout|gdb|both\n"
	"                  where the guest's port-0xE9 output goes (default stdout)\n"
	"  record on|off|status\n"
	"                  log every instruction and memory write, for reverse-stepi,\n"
	"                  reverse-continue, reverse-finish; off drops the log\n";

static int op_monitor(void *p, const char *cmd, char *out, size_t cap)
{
	struct gdb_target *t = p;
	char *end;

	while (*cmd == ' ')
		cmd++;
	if (!strcmp(cmd, "help") || !*cmd) {
		snprintf(out, cap, "%s", monitor_help);
	} else if (!strcmp(cmd, "regs")) {
		return monitor_regs(t, out, cap);
	} else if (!strncmp(cmd, "walk", 4) && (cmd[4] == ' ' || !cmd[4])) {
		struct mmu_regs mr;
		uint64_t va;

		errno = 0;
		va = strtoull(cmd + 4, &end, 0);
		if (errno || end == cmd + 4 || *end) {
			snprintf(out, cap, "usage: monitor walk ADDR (e.g. monitor walk 0xffffffff80001000)\n");
			return 0;
		}
		if (mmu_regs_of(cpu_of(t, t->cur_tid), &mr))
			return -EIO;
		mmu_format_walk(&t->vm->mram, &mr, va, out, cap);
	} else if (!strcmp(cmd, "phys on") || !strcmp(cmd, "phys off") || !strcmp(cmd, "phys")) {
		if (cmd[4])
			t->phys = !strcmp(cmd, "phys on");
		snprintf(out, cap, "addresses are guest-%s\n", t->phys ? "physical" : "virtual");
	} else if (!strcmp(cmd, "hold on") || !strcmp(cmd, "hold off") || !strcmp(cmd, "hold")) {
		if (cmd[4])
			t->hold = !strcmp(cmd, "hold on");
		snprintf(out, cap, "on disconnect the guest %s\n",
			 t->hold ? "stays stopped" : "runs on");
	} else if (!strncmp(cmd, "console", 7) && (cmd[7] == ' ' || !cmd[7])) {
		const char *how = cmd[7] ? cmd + 8 : "";

		if (!strcmp(how, "stdout") || !strcmp(how, "gdb") || !strcmp(how, "both")) {
			pthread_mutex_lock(&t->vm->out_lock);
			t->console_gdb = strcmp(how, "stdout") != 0;
			t->vm->console_off = !strcmp(how, "gdb");
			pthread_mutex_unlock(&t->vm->out_lock);
		} else if (*how) {
			snprintf(out, cap, "usage: monitor console stdout|gdb|both\n");
			return 0;
		}
		snprintf(out, cap, "guest console (port 0xE9) goes to %s\n",
			 t->vm->console_off ? "gdb" : t->console_gdb ? "stdout and gdb" : "stdout");
	} else if (!strcmp(cmd, "mem")) {
		size_t n = snprintf(out, cap, "guest RAM: 0x0-0x%llx (%llu MiB), %d vCPU(s)\n",
				    (unsigned long long)t->vm->ram_size - 1,
				    (unsigned long long)(t->vm->ram_size >> 20), t->vm->ncpus);

		for (int i = 0; i < t->vm->nslots && n < cap; i++)
			n += snprintf(out + n, cap - n, "slot %d: 0x%llx-0x%llx %s\n", i,
				      (unsigned long long)t->vm->slots[i].gpa,
				      (unsigned long long)(t->vm->slots[i].gpa + t->vm->slots[i].size - 1),
				      t->vm->slots[i].readonly ? "read-only (write watchpoints)" : "read-write");
		if (n < cap && t->vm->mode != MODE_REAL)
			snprintf(out + n, cap - n, "vmm boot area: GDT 0x1000, page tables 0x2000-0x7fff\n");
	} else if (!strncmp(cmd, "record", 6) && (cmd[6] == ' ' || !cmd[6])) {
		const char *what = cmd[6] ? cmd + 7 : "status";

		if (!strcmp(what, "on"))
			return rec_start(t, out, cap);
		if (!strcmp(what, "off")) {
			bool was = t->rec_on, past = was && !rec_at_end(&t->log);

			rec_stop(t);
			snprintf(out, cap, "%s\n", !was ? "recording was off"
				 : past ? "recording off: the log is dropped and the guest goes on from here"
				 : "recording off: the log is dropped");
		} else if (!strcmp(what, "status")) {
			rec_status(t, out, cap);
		} else {
			snprintf(out, cap, "usage: monitor record on|off|status\n");
		}
	} else if (!strcmp(cmd, "probe")) {
		FILE *f = fmemopen(out, cap, "w");

		if (!f)
			return -ENOMEM;
		kvm_probe(t->vm->kvm_fd, &t->vm->feat, PROBE_ALL);
		kvm_probe_print(&t->vm->feat, f);
		fprintf(f, "software breakpoints use:      %s\n", t->vm->feat.int3_exit ? "int3" : "hlt");
		fclose(f);
	} else if (!strcmp(cmd, "arch")) {
		size_t n = snprintf(out, cap, "session layout: %s%s\n", tdesc_arch_name(t->arch),
				    t->arch_fixed ? " (fixed by --gdb-arch)" : "");

		for (int i = 0; i < t->vm->ncpus && n < cap; i++)
			if (fetch(&t->cpus[i], DIRTY_SREGS) == 0)
				n += snprintf(out + n, cap - n, "vCPU %d: %s mode (%s)\n", i,
					      mode_name(&t->cpus[i].st.sregs),
					      tdesc_arch_name(arch_of_mode(&t->cpus[i].st.sregs)));
	} else {
		return -ENOENT;
	}
	return 0;
}

static void op_detach(void *p)
{
	struct gdb_target *t = p;

	pthread_mutex_lock(&t->lock);
	halt_all_locked(t);
	if (t->rec_on && !t->hold) {
		rec_stop(t);
		fprintf(stderr, "vmm: gdb left: recording stopped, its log dropped ('monitor hold on' keeps both)\n");
	}
	remove_all(t);
	t->client = false;
	t->interrupt_req = false;
	t->waiting = false;
	for (int i = 0; i < t->vm->ncpus; i++) {
		t->cpus[i].has_event = false;
		t->cpus[i].action = STUB_CONTINUE;
	}
	if (!t->hold && !t->exited)
		start_locked(t);
	unlock_wake(t);
}

static void op_kill(void *p)
{
	struct gdb_target *t = p;

	pthread_mutex_lock(&t->lock);
	t->killed = true;
	halt_all_locked(t);
	unlock_wake(t);
}

static void op_attach(void *p)
{
	struct gdb_target *t = p;
	struct tcpu *tc;

	pthread_mutex_lock(&t->lock);
	t->client = true;
	halt_all_locked(t);
	unlock_wake(t);
	/* (every vCPU is stopped: nothing steps while this changes) */
	kvm_probe(t->vm->kvm_fd, &t->vm->feat, PROBE_KEEPS);
	t->rearm_step = !t->vm->feat.step_after_rip_write;
	tc = cpu_of(t, t->cur_tid);
	if (!t->arch_fixed && fetch(tc, DIRTY_SREGS) == 0)
		t->arch = arch_of_mode(&tc->st.sregs);
	if (!t->exited) {
		memset(&t->last, 0, sizeof(t->last));
		t->last.kind = STUB_STOP_SIGNAL;
		t->last.signo = SIGTRAP_;
		t->last.tid = t->cur_tid;
	}
}

/* Port 0xE9 output, from a vCPU thread (vm->out_lock held). */
static void forward_console(void *p, const char *buf, size_t len)
{
	struct gdb_target *t = p;

	if (t->console_gdb && t->client)
		stub_console(t->stub, buf, len);
}

static const struct stub_ops gdb_ops = {
	.range_step = true,
	.reverse = true,
	.xml = op_xml,
	.memory_map = op_memory_map,
	.arch_info = op_arch_info,
	.exec_file = op_exec_file,
	.reg_count = op_reg_count,
	.expedite = op_expedite,
	.read_reg = op_read_reg,
	.write_reg = op_write_reg,
	.read_mem = op_read_mem,
	.write_mem = op_write_mem,
	.insert_bp = op_insert_bp,
	.remove_bp = op_remove_bp,
	.resume = op_resume,
	.interrupt = op_interrupt,
	.stop_fd = op_stop_fd,
	.get_stop = op_get_stop,
	.current_stop = op_current_stop,
	.pc_after_break = op_pc_after_break,
	.threads = op_threads,
	.thread_info = op_thread_info,
	.thread_desc = op_thread_desc,
	.monitor = op_monitor,
	.detach = op_detach,
	.kill = op_kill,
	.attach = op_attach,
};

/* ---- the server ------------------------------------------------------------------ */

static void describe(const char *spec, char *out, size_t cap)
{
	if (!strncmp(spec, "unix:", 5) || strchr(spec, ':'))
		snprintf(out, cap, "%s", spec);
	else
		snprintf(out, cap, "127.0.0.1:%s", spec);
}

int gdb_serve(struct vm *vm, const struct gdb_config *cfg)
{
	struct gdb_target *t = calloc(1, sizeof(*t));
	char err[256], where[300];
	int lfd, status;

	if (!t)
		return STATUS_KVM;
	t->vm = vm;
	t->cfg = cfg;
	t->cur_tid = 1;
	t->bp_patched = true;
	t->rearm_step = true; /* until the probe at attach says otherwise */
	t->rec_limit = cfg->record_limit ? cfg->record_limit : 256ULL << 20;
	pthread_cond_init(&t->rec_cond, NULL);
	pthread_cond_init(&t->replay_go, NULL);
	t->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->stopped, NULL);
	if (t->efd < 0) {
		perror("vmm: eventfd");
		free(t);
		return STATUS_KVM;
	}
	/* Probes run lazily: int3 at the first Z0, watchpoints at the first Z2-4. */
	t->arch_fixed = strcmp(cfg->arch, "auto") != 0;
	t->arch = !strcmp(cfg->arch, "i8086") ? ARCH_I8086
		  : !strcmp(cfg->arch, "i386") ? ARCH_I386 : ARCH_X86_64;
	if (!t->arch_fixed)
		t->arch = vm->mode == MODE_REAL ? ARCH_I8086 : vm->mode == MODE_LONG ? ARCH_X86_64 : ARCH_I386;
	memset(&t->last, 0, sizeof(t->last));
	t->last.kind = STUB_STOP_SIGNAL;
	t->last.signo = SIGTRAP_;
	t->last.tid = 1;

	lfd = stub_listen(cfg->spec, err, sizeof(err));
	if (lfd < 0) {
		fprintf(stderr, "vmm: --gdb %s: %s\n", cfg->spec, err);
		close(t->efd);
		free(t);
		return STATUS_USAGE;
	}
	t->stub = stub_new(&gdb_ops, t);
	if (!t->stub) {
		close(lfd);
		close(t->efd);
		free(t);
		return STATUS_KVM;
	}
	vm_install_kick_handler();
	vm->hooks.console = forward_console;
	vm->hooks.opaque = t;
	t->sync_regs = (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS) &
			(KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS)) == (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS);
	for (int i = 0; t->sync_regs && i < vm->ncpus; i++)
		vm->cpus[i].run->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
	for (int i = 0; i < vm->ncpus; i++) {
		struct tcpu *tc = &t->cpus[i];

		tc->t = t;
		tc->c = &vm->cpus[i];
		tc->state = TS_STOPPED;
		tc->action = STUB_CONTINUE;
		tc->why = "stopped at entry";
		pthread_cond_init(&tc->go, NULL);
		if (pthread_create(&tc->c->thread, NULL, cpu_main, tc) == 0)
			tc->c->thread_started = true;
	}
	t->replay_started = pthread_create(&t->replay_thread, NULL, replay_main, t) == 0;
	describe(cfg->spec, where, sizeof(where));
	if (cfg->wait) {
		fprintf(stderr, "vmm: waiting for gdb on %s (the guest is held at its first instruction)\n",
			where);
	} else {
		fprintf(stderr, "vmm: listening for gdb on %s (the guest runs)\n", where);
		pthread_mutex_lock(&t->lock);
		start_locked(t);
		unlock_wake(t);
	}
	status = stub_run(t->stub, lfd);
	if (status < 0) {
		fprintf(stderr, "vmm: killed from gdb\n");
		status = STATUS_KILLED;
	} else if (t->exited && t->exit_status == STATUS_SHUTDOWN) {
		fprintf(stderr, "vmm: the guest ended with a triple fault\n");
		for (int i = 0; i < vm->ncpus; i++)
			if (t->cpus[i].dead_status == STATUS_SHUTDOWN && t->cpus[i].fault_state != FAULT_KEPT)
				fprintf(stderr, "vmm: vCPU %d: %s", i, fault_note(&t->cpus[i]) + 5);
	}

	pthread_mutex_lock(&t->lock);
	t->quit = true;
	stop_all_locked(t);
	for (int i = 0; i < vm->ncpus; i++)
		pthread_cond_signal(&t->cpus[i].go);
	pthread_cond_signal(&t->replay_go);
	unlock_wake(t);
	if (t->replay_started)
		pthread_join(t->replay_thread, NULL);
	for (int i = 0; i < vm->ncpus; i++)
		if (vm->cpus[i].thread_started) {
			pthread_join(vm->cpus[i].thread, NULL);
			vm->cpus[i].thread_started = false;
		}
	rec_stop(t);
	remove_all(t);
	free(t->ptp);
	free(t->open_copy);
	vm->hooks.console = NULL;
	vm->console_off = false;
	stub_free(t->stub);
	close(lfd);
	close(t->efd);
	free(t);
	return status;
}
