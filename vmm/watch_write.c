/* watch_write.c - a guest write to a watched page, carried out by the vmm.
 *
 * A write watchpoint maps its page read-only (bkpt.c), so every write there
 * reaches the vmm as an MMIO exit, after KVM has emulated the whole
 * instruction on a value it read some time before.  For a plain store that
 * is exact: its bytes are copied to RAM.  A locked read-modify-write
 * (LOCK ADD, XADD, XCHG, CMPXCHG ... see atomic.h) is not: another vCPU may
 * have written between KVM's read and this exit, and copying KVM's result
 * would undo that write.  So such an instruction is found (atomic_find),
 * rewound to its registers before (atomic_unwind) and done again here with
 * one host atomic on the value memory holds now (atomic_exec); its
 * registers and flags are those that gives, and KVM's bytes are dropped.
 *
 * All writes to watched pages go through here (they are read-only to every
 * vCPU), under the target lock, so that they are ordered among themselves;
 * reads there go straight to RAM, as on hardware.
 */
#include <errno.h>
#include <string.h>

#include "vmm/atomic.h"
#include "vmm/target.h"

/* A write of an exit: one KVM_EXIT_MMIO (KVM splits a 16-byte write in two). */
struct frag {
	uint64_t gpa;
	uint32_t len;
	uint8_t data[8];
};

struct operand_check {
	const struct mmu_ram *ram;
	struct mmu_regs mr;
	uint64_t gpa;
};

/* atomic_find's test: does the operand's linear address lead to the exit's
 * guest-physical address through this vCPU's page tables? */
static bool operand_is_at(void *opaque, uint64_t linear)
{
	struct operand_check *c = opaque;
	struct mmu_walk w;

	return mmu_translate(c->ram, &c->mr, linear, &w) == 0 && w.gpa == c->gpa;
}

/* The (up to 15) code bytes that end at RIP, into buf[15 - n .. 15);
 * returns n (0 if not even the bytes of RIP's own page can be read). */
static size_t code_before(struct tcpu *tc, const struct mmu_regs *mr, uint8_t *buf)
{
	const struct kvm_sregs *sr = &tc->st.sregs;
	bool x64 = (sr->efer & EFER_LMA) && sr->cs.l;
	uint64_t lin = tc->st.regs.rip + (x64 ? 0 : sr->cs.base);
	size_t n = 15, in_page;

	if (!x64)
		lin &= 0xffffffffULL;
	in_page = lin & (PAGE_SIZE - 1);
	if (lin >= n && mmu_read(&tc->t->vm->mram, mr, lin - n, buf, n) == (long)n)
		return n;
	n = in_page < n ? in_page : n; /* the page before is not mapped */
	if (n && mmu_read(&tc->t->vm->mram, mr, lin - n, buf + 15 - n, n) == (long)n)
		return n;
	return 0;
}

static int code_bits(const struct kvm_sregs *sr)
{
	if ((sr->efer & EFER_LMA) && sr->cs.l)
		return 64;
	return (sr->cr0 & CR0_PE) && sr->cs.db ? 32 : 16;
}

/* The write of frags[0..n) as one locked instruction, if it is one: 0 (done,
 * registers set), -EALREADY (a failed compare-exchange: nothing to store),
 * or another -errno: not one (copy KVM's bytes). */
static int redo_locked(struct tcpu *tc, const struct frag *f, int n)
{
	const struct kvm_sregs *sr = &tc->st.sregs;
	const struct kvm_segment *seg[6] = { &sr->es, &sr->cs, &sr->ss, &sr->ds, &sr->fs, &sr->gs };
	struct operand_check chk = { &tc->t->vm->mram, { sr->cr0, sr->cr3, sr->cr4, sr->efer }, f[0].gpa };
	struct atomic_segs segs;
	struct atomic_regs post, pre;
	struct atomic_insn insn;
	uint8_t code[15];
	size_t ncode;
	void *host;
	int r;

	ncode = code_before(tc, &chk.mr, code);
	if (!ncode)
		return -EFAULT;
	for (int i = 0; i < 6; i++)
		segs.base[i] = seg[i]->base;
	atomic_regs_from_kvm(&post, &tc->st.regs);
	r = atomic_find(code + 15 - ncode, ncode, code_bits(sr), &segs, &post, f[0].data, f[0].len,
			operand_is_at, &chk, &insn, &pre);
	if (r)
		return r;
	if (insn.size == 16 && (n != 2 || f[1].gpa != f[0].gpa + 8))
		return -EOPNOTSUPP; /* both halves of a CMPXCHG16B come through here, or none */
	if (insn.size != 16 && n != 1)
		return -EOPNOTSUPP;
	host = mmu_host(&tc->t->vm->mram, f[0].gpa, insn.size);
	if (!host || atomic_exec(&insn, host, &pre, NULL))
		return -EOPNOTSUPP; /* misaligned: a host atomic would be a split lock */
	atomic_regs_to_kvm(&tc->st.regs, &pre);
	tc->dirty |= DIRTY_REGS;
	return 0;
}

enum vcpu_event watch_write(struct tcpu *tc, struct watch **hit)
{
	struct gdb_target *t = tc->t;
	struct kvm_run *run = tc->c->run;
	struct frag f[2];
	enum vcpu_event ev;
	int n = 0, r;

	/* Collect the exit's writes, completing each without running on. */
	for (;;) {
		f[n].gpa = run->mmio.phys_addr;
		f[n].len = run->mmio.len <= 8 ? run->mmio.len : 8;
		memcpy(f[n].data, run->mmio.data, f[n].len);
		n++;
		__atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		ev = vcpu_run(tc->c);
		__atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		regs_ran(tc);
		if (ev != EV_MMIO || n == 2 || !run->mmio.is_write ||
		    !mmu_host(&t->vm->mram, run->mmio.phys_addr, run->mmio.len) ||
		    !watch_page(t, run->mmio.phys_addr))
			break;
	}

	r = regs_fetch(tc, DIRTY_REGS | DIRTY_SREGS);
	pthread_mutex_lock(&t->lock);
	if (!r)
		r = redo_locked(tc, f, n);
	if (r && r != -EALREADY)
		for (int i = 0; i < n; i++)
			memcpy(mmu_host(&t->vm->mram, f[i].gpa, f[i].len), f[i].data, f[i].len);
	unlock_wake(t);

	*hit = NULL;
	for (int i = 0; i < n && !*hit; i++)
		*hit = watch_hit(t, f[i].gpa, f[i].len);
	return ev;
}
