/* gdb.c - the vmm as a GDB remote target: struct stub_ops over KVM, and
 * gdb_serve, the server's life.
 *
 * This is the one file that calls the stub; the operations are thin
 * adapters over the target's files (target.h).  Each vCPU has a host thread
 * that runs it while gdb says so; the stub's thread calls the operations
 * below only while every vCPU is stopped (except interrupt, stop_fd and
 * get_stop), so vCPU state is cached per stop without locks.
 */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "stub/stub.h"
#include "vmm/gdb.h"
#include "vmm/pc.h"
#include "vmm/target.h"

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
	if (ns_running(t, tid))
		return -EBUSY;
	r = regs_fetch(tc, tdesc_needs(t->arch, regno));
	if (r)
		return r;
	return tdesc_read(t->arch, &tc->st, regno, buf);
}

static int op_write_reg(void *p, int tid, int regno, const uint8_t *buf, size_t len)
{
	struct gdb_target *t = p;
	struct tcpu *tc = cpu_of(t, tid);
	struct rec_user_regs before;
	int r = ns_running(t, tid) ? -EBUSY : regs_fetch(tc, tdesc_needs(t->arch, regno));

	if (r == 0 && t->rec_on)
		r = rec_user_regs_begin(tc, &before);
	if (r)
		return r;
	r = tdesc_write(t->arch, &tc->st, regno, buf, len, &tc->dirty);
	if (t->rec_on && r == 0)
		rec_log_user(tc, before.words, &before.fb);
	return r;
}

static long read_mem(void *p, int tid, uint64_t addr, uint8_t *buf, size_t len)
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
		bp_unpatch(t, addr, buf, n);
	return n;
}

static int write_mem(void *p, int tid, uint64_t addr, const uint8_t *buf, size_t len)
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
	if (t->rec_on)
		rec_log_mem_end(t, tc);
	bp_written(t, addr, buf, len);
	return 0;
}

/* In non-stop, what touches memory and breakpoints runs while no vCPU does
 * (nonstop.c); in all-stop nothing runs anyway. */
static long op_read_mem(void *p, int tid, uint64_t addr, uint8_t *buf, size_t len)
{
	long n;

	ns_hold(p);
	n = read_mem(p, tid, addr, buf, len);
	ns_release(p);
	return n;
}

static int op_write_mem(void *p, int tid, uint64_t addr, const uint8_t *buf, size_t len)
{
	int r;

	ns_hold(p);
	r = write_mem(p, tid, addr, buf, len);
	ns_release(p);
	return r;
}

static int op_insert_bp(void *p, enum stub_bp_type type, uint64_t addr, uint64_t kind, char *why,
			size_t cap)
{
	int r;

	ns_hold(p);
	r = bp_insert(p, type, addr, kind, why, cap);
	ns_release(p);
	return r;
}

static int op_remove_bp(void *p, enum stub_bp_type type, uint64_t addr, uint64_t kind)
{
	int r;

	ns_hold(p);
	r = bp_remove(p, type, addr, kind);
	ns_release(p);
	return r;
}

static int op_resume(void *p, const struct stub_resume *r)
{
	return ((struct gdb_target *)p)->nonstop ? ns_resume(p, r) : sched_resume(p, r);
}

static int op_interrupt(void *p)
{
	return ((struct gdb_target *)p)->nonstop ? ns_interrupt(p) : sched_interrupt(p);
}

static int op_nonstop(void *p, bool on, char *why, size_t cap)
{
	return ns_set(p, on, why, cap);
}

static int op_thread_stop(void *p, int tid, struct stub_stop *out)
{
	return ns_thread_stop(p, tid, out);
}

static int op_stop_fd(void *p)
{
	return ((struct gdb_target *)p)->efd;
}

static int op_get_stop(void *p, struct stub_stop *out)
{
	int r = sched_get_stop(p, out);

	/* Non-stop forbids O packets: a stop's note goes to the terminal. */
	if (r == 0 && ((struct gdb_target *)p)->nonstop && out->message[0]) {
		fputs(out->message, stderr);
		out->message[0] = 0;
	}
	return r;
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
	r = regs_fetch(tc, DIRTY_REGS);
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
	const char *waits;
	int r = 0;

	if (tid < 1 || tid > t->vm->ncpus)
		return -ENOENT;
	tc = &t->cpus[tid - 1];
	ns_hold(t);
	waits = pc_cpu_waits(tc->c);
	if (regs_fetch(tc, DIRTY_SREGS))
		r = -EIO;
	else
		snprintf(buf, cap, "vCPU %d, %s mode, %s%s%s%s", tid - 1, mode_name(&tc->st.sregs),
			 tc->state == TS_HALTED ? "halted" : tc->why ? tc->why : "stopped",
			 waits ? ", " : "", waits ? waits : "", tc->has_event ? " (not reported yet)" : "");
	ns_release(t);
	return r;
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
	enum tdesc_arch a = arch_at_start(t->vm);
	unsigned start = a == ARCH_X86_64 ? EM_X86_64 : a == ARCH_I386 ? EM_386 : 0;

	if (!t->image || !machine || machine != start || t->vm->elf_machine != machine)
		return -ENOENT;
	return snprintf(path, cap, "%s", t->image) < (int)cap ? 0 : -ENAMETOOLONG;
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

static int op_monitor(void *p, const char *cmd, char *out, size_t cap)
{
	int r;

	ns_hold(p);
	r = monitor_run(p, cmd, out, cap);
	ns_release(p);
	return r;
}

static void op_detach(void *p)
{
	struct gdb_target *t = p;

	pthread_mutex_lock(&t->lock);
	halt_all_locked(t);
	t->nonstop = false; /* the next client starts in all-stop */
	if (t->rec_on && !t->hold) {
		rec_stop(t);
		fprintf(stderr, "vmm: gdb left: recording stopped, its log dropped ('monitor hold on' keeps both)\n");
	}
	bp_remove_all(t);
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
	halt_all_locked(t);
	t->nonstop = false;
	unlock_wake(t);
}

static void op_attach(void *p)
{
	struct gdb_target *t = p;
	struct tcpu *tc;

	pthread_mutex_lock(&t->lock);
	t->client = true;
	halt_all_locked(t);
	t->nonstop = false;
	unlock_wake(t);
	/* (every vCPU is stopped: nothing steps while this changes) */
	kvm_probe(t->vm->kvm_fd, &t->vm->feat, PROBE_KEEPS);
	t->rearm_step = !t->vm->feat.step_after_rip_write;
	tc = cpu_of(t, t->cur_tid);
	if (!t->arch_fixed && regs_fetch(tc, DIRTY_SREGS) == 0)
		t->arch = arch_of_mode(t->vm, &tc->st.sregs);
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

	if (!t->console_gdb || !t->client)
		return;
	if (t->nonstop)
		ns_console_put(t, buf, len);
	else
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
	.nonstop = op_nonstop,
	.thread_stop = op_thread_stop,
	.threads = op_threads,
	.thread_info = op_thread_info,
	.thread_desc = op_thread_desc,
	.monitor = op_monitor,
	.detach = op_detach,
	.kill = op_kill,
	.attach = op_attach,
};

/* ---- the server ------------------------------------------------------------------ */

static void listen_where(const char *spec, char *out, size_t cap)
{
	if (!strncmp(spec, "unix:", 5) || strchr(spec, ':'))
		snprintf(out, cap, "%s", spec);
	else
		snprintf(out, cap, "127.0.0.1:%s", spec);
}

/* The target, every vCPU stopped at entry, no thread started yet. */
static struct gdb_target *target_new(struct vm *vm, const struct gdb_config *cfg)
{
	struct gdb_target *t = calloc(1, sizeof(*t));
	int sync;

	if (!t)
		return NULL;
	t->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->efd < 0) {
		perror("vmm: eventfd");
		free(t);
		return NULL;
	}
	t->vm = vm;
	t->cur_tid = 1;
	t->bp_patched = true;
	t->rearm_step = true; /* until the probe at attach says otherwise */
	t->image = cfg->image;
	t->rec_limit = cfg->record_limit ? cfg->record_limit : 256ULL << 20;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->stopped, NULL);
	pthread_cond_init(&t->rec_cond, NULL);
	pthread_cond_init(&t->replay_go, NULL);
	/* Probes run lazily: int3 at the first Z0, watchpoints at the first Z2-4. */
	t->arch_fixed = strcmp(cfg->arch, "auto") != 0;
	t->arch = !strcmp(cfg->arch, "i8086") ? ARCH_I8086
		  : !strcmp(cfg->arch, "i386") ? ARCH_I386 : ARCH_X86_64;
	if (!t->arch_fixed)
		t->arch = arch_at_start(vm);
	memset(&t->last, 0, sizeof(t->last));
	t->last.kind = STUB_STOP_SIGNAL;
	t->last.signo = SIGTRAP_;
	t->last.tid = 1;
	sync = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
	t->sync_regs = sync > 0 && (sync & (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS)) ==
				   (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS);
	for (int i = 0; i < vm->ncpus; i++) {
		struct tcpu *tc = &t->cpus[i];

		tc->t = t;
		tc->c = &vm->cpus[i];
		tc->state = TS_STOPPED;
		tc->action = STUB_CONTINUE;
		tc->why = "stopped at entry";
		pthread_cond_init(&tc->go, NULL);
		if (t->sync_regs)
			tc->c->run->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
	}
	if (vm->ncpus)
		t->msr_mask = regs_msr_probe(&t->cpus[0]);
	return t;
}

static void target_free(struct gdb_target *t)
{
	free(t->ptp);
	free(t->open_copy);
	close(t->efd);
	free(t);
}

int gdb_serve(struct vm *vm, const struct gdb_config *cfg)
{
	struct gdb_target *t = target_new(vm, cfg);
	char err[256], where[300];
	int lfd, status = STATUS_KVM;

	if (!t)
		return STATUS_KVM;
	lfd = stub_listen(cfg->spec, err, sizeof(err));
	if (lfd < 0) {
		fprintf(stderr, "vmm: --gdb %s: %s\n", cfg->spec, err);
		status = STATUS_USAGE;
		goto out_target;
	}
	t->stub = stub_new(&gdb_ops, t);
	if (!t->stub)
		goto out_listen;
	vm_install_kick_handler();
	vm->hooks.console = forward_console;
	vm->hooks.opaque = t;
	if (sched_threads_start(t))
		goto out_hooks;

	listen_where(cfg->spec, where, sizeof(where));
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
	sched_threads_end(t);
	rec_stop(t);
	bp_remove_all(t);
out_hooks:
	vm->hooks.console = NULL;
	vm->console_off = false;
	stub_free(t->stub);
out_listen:
	close(lfd);
out_target:
	target_free(t);
	return status;
}
