/* unit_sched.c - the all-stop rules of the gdb target's scheduler (vmm/sched.c)
 * and non-stop's (vmm/nonstop.c) against a fake KVM, no /dev/kvm needed.
 *
 * ioctl is wrapped (-Wl,--wrap=ioctl, see the Makefile).  Every vCPU runs on
 * its own thread, as under gdb_serve (sched_threads_start), and the test
 * thread plays the stub: sched_resume, sched_get_stop, sched_interrupt.  Each
 * vCPU's KVM_RUN plays a script, one entry per KVM_RUN: a breakpoint hit
 * (KVM_EXIT_DEBUG, #BP, RIP on the int3), a HLT, an OUT to port 0xF4, a
 * triple fault, or (past the script's end) running until kicked
 * (immediate_exit: EINTR).  An entry may wait until other vCPUs are in
 * KVM_RUN too, or until one has stopped, which makes "two stops at once"
 * happen in a known order (a vCPU kicked before it enters KVM_RUN only
 * leaves it at once, with EINTR).  A KVM_RUN with KVM_GUESTDBG_SINGLESTEP
 * armed runs one one-byte instruction and exits with #DB.  Every KVM_RUN is
 * logged (the vCPU, whether it single-steps, its RIP and the byte there), so
 * a test can tell who ran, when, and over what; UNIT_SCHED_LOG=1 prints the
 * log of each test to stderr.
 *
 * The target is built as target_new (gdb.c) builds it, with gdb attached:
 * every vCPU stopped, in protected mode without paging (linear addresses
 * are physical), software breakpoints as int3 (as the probe finds on
 * ordinary KVM).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "tests/test.h"
#include "vmm/target.h"

int __real_ioctl(int fd, unsigned long req, ...); // NOLINT(bugprone-reserved-identifier)

#define MAX_CPUS 3
#define RAM_SIZE (1ULL << 20)
#define RUN_SIZE 8192
#define IO_DATA 4096  /* where a port exit's data is in kvm_run */
#define LOG_MAX 1024
#define WAIT_MS 5000  /* longest wait for anything: a test fails rather than hangs */
#define NOP 0x90      /* guest RAM is all NOPs */

enum xkind { X_RUN, X_BP, X_HLT, X_EXIT, X_SHUTDOWN };

/* One KVM_RUN of a script.  X_RUN: runs until kicked; X_BP: the int3 at rip;
 * X_HLT: the hlt at rip; X_EXIT: OUT of status to port 0xF4; X_SHUTDOWN: a
 * triple fault at rip.  The exit comes
 * only once the vCPUs of the threads in meet (a mask: THR(tid) | ...) are in
 * KVM_RUN, and once thread after's has stopped (0: no such wait). */
struct xstep {
	enum xkind kind;
	uint64_t rip;
	int meet, after;
	int status;
};

#define THR(tid) (1 << (tid))
#define BP(rip_, ...) ((struct xstep){ .kind = X_BP, .rip = (rip_), __VA_ARGS__ })
#define HLT(rip_, ...) ((struct xstep){ .kind = X_HLT, .rip = (rip_), __VA_ARGS__ })
#define SHUTDOWN(rip_) ((struct xstep){ .kind = X_SHUTDOWN, .rip = (rip_) })
#define EXIT_PORT(v) ((struct xstep){ .kind = X_EXIT, .status = (v) })

/* A KVM_RUN as the fake saw it enter. */
struct krun {
	int cpu;      /* vCPU index */
	bool step;    /* KVM_GUESTDBG_SINGLESTEP armed */
	bool intr;    /* immediate_exit was set: EINTR at once */
	uint64_t rip;
	uint8_t byte; /* guest RAM at rip */
};

static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	int ncpus;
	struct fcpu {
		int fd;
		struct kvm_regs regs;
		struct kvm_sregs sregs;
		struct kvm_guest_debug dbg;
		struct xstep script[8];
		int nscript, next;
		bool in_run;  /* in a KVM_RUN that did not return at once */
	} cpu[MAX_CPUS];
	struct krun log[LOG_MAX];
	int nlog;
	int inside;   /* vCPUs in KVM_RUN now */
	int stepping; /* vCPU single-stepping now, + 1 */
	int overlaps; /* KVM_RUNs while another vCPU single-stepped */
	int timeouts; /* a scripted wait that ran out */
} F;

static struct vm vm;
static struct gdb_target *t;

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, us % 1000000 * 1000 };

	nanosleep(&ts, NULL);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* (fake_lock held) */
static void log_run(int i, bool step, bool intr)
{
	struct fcpu *fc = &F.cpu[i];

	if (F.nlog == LOG_MAX)
		return;
	F.log[F.nlog++] = (struct krun){ i, step, intr, fc->regs.rip,
					 fc->regs.rip < RAM_SIZE ? vm.ram[fc->regs.rip] : 0 };
}

static bool cpu_stopped(int i)
{
	bool r;

	pthread_mutex_lock(&t->lock);
	r = t->cpus[i].state != TS_RUNNING || t->quit;
	pthread_mutex_unlock(&t->lock);
	return r;
}

static void wait_scripted(bool (*done)(int), int arg)
{
	long end = now_ms() + WAIT_MS;

	while (!done(arg)) {
		if (now_ms() > end) {
			pthread_mutex_lock(&fake_lock);
			F.timeouts++;
			pthread_mutex_unlock(&fake_lock);
			return;
		}
		sleep_us(100);
	}
}

/* Are the vCPUs of the threads in mask all in KVM_RUN? */
static bool all_in_run(int mask)
{
	bool r = true;

	pthread_mutex_lock(&fake_lock);
	for (int i = 0; i < F.ncpus; i++)
		if (mask & THR(i + 1))
			r = r && F.cpu[i].in_run;
	pthread_mutex_unlock(&fake_lock);
	return r;
}

static bool kicked(int i)
{
	return __atomic_load_n(&vm.cpus[i].run->immediate_exit, __ATOMIC_SEQ_CST);
}

/* KVM_RUN of vCPU i. */
static int fake_run(int i)
{
	struct kvm_run *run = vm.cpus[i].run;
	struct fcpu *fc = &F.cpu[i];
	struct xstep x = { X_RUN, 0, 0, 0, 0 };
	bool step;

	pthread_mutex_lock(&fake_lock);
	if (kicked(i)) {
		log_run(i, false, true);
		pthread_mutex_unlock(&fake_lock);
		run->exit_reason = KVM_EXIT_INTR;
		return -EINTR;
	}
	step = fc->dbg.control & KVM_GUESTDBG_SINGLESTEP;
	log_run(i, step, false);
	F.overlaps += F.stepping || (step && F.inside);
	F.inside++;
	fc->in_run = true;
	if (step)
		F.stepping = i + 1;
	else if (fc->next < fc->nscript)
		x = fc->script[fc->next++];
	pthread_mutex_unlock(&fake_lock);

	if (step) {
		sleep_us(5000); /* time for a vCPU that should not run to show up */
	} else {
		if (x.meet)
			wait_scripted(all_in_run, x.meet);
		if (x.after)
			wait_scripted(cpu_stopped, x.after - 1);
		if (x.kind == X_RUN)
			wait_scripted(kicked, i);
	}

	pthread_mutex_lock(&fake_lock);
	F.inside--;
	fc->in_run = false;
	memset(&run->debug, 0, sizeof(run->debug));
	if (step) {
		F.stepping = 0;
		fc->regs.rip++;
		run->exit_reason = KVM_EXIT_DEBUG;
		run->debug.arch.exception = EXC_DB;
		run->debug.arch.dr6 = DR6_BS;
		run->debug.arch.pc = fc->regs.rip;
	} else if (x.kind == X_BP) {
		fc->regs.rip = x.rip;
		run->exit_reason = KVM_EXIT_DEBUG;
		run->debug.arch.exception = EXC_BP;
		run->debug.arch.pc = x.rip;
	} else if (x.kind == X_HLT) {
		fc->regs.rip = x.rip + 1;
		run->exit_reason = KVM_EXIT_HLT;
	} else if (x.kind == X_SHUTDOWN) {
		fc->regs.rip = x.rip;
		run->exit_reason = KVM_EXIT_SHUTDOWN;
	} else if (x.kind == X_EXIT) {
		run->exit_reason = KVM_EXIT_IO;
		run->io.direction = KVM_EXIT_IO_OUT;
		run->io.port = 0xf4;
		run->io.size = 1;
		run->io.count = 1;
		run->io.data_offset = IO_DATA;
		((uint8_t *)run)[IO_DATA] = (uint8_t)x.status;
	}
	pthread_mutex_unlock(&fake_lock);
	if (x.kind == X_RUN && !step) {
		run->exit_reason = KVM_EXIT_INTR;
		return -EINTR;
	}
	return 0;
}

static int fake_vcpu_ioctl(int i, unsigned long req, void *arg)
{
	struct fcpu *fc = &F.cpu[i];
	int r = 0;

	if (req == KVM_RUN)
		return fake_run(i);
	pthread_mutex_lock(&fake_lock);
	switch (req) {
	case KVM_GET_REGS:
		*(struct kvm_regs *)arg = fc->regs;
		break;
	case KVM_SET_REGS:
		fc->regs = *(struct kvm_regs *)arg;
		break;
	case KVM_GET_SREGS:
		*(struct kvm_sregs *)arg = fc->sregs;
		break;
	case KVM_SET_SREGS:
		fc->sregs = *(struct kvm_sregs *)arg;
		break;
	case KVM_SET_GUEST_DEBUG:
		fc->dbg = *(struct kvm_guest_debug *)arg;
		break;
	default:
		r = -ENOTTY;
	}
	pthread_mutex_unlock(&fake_lock);
	return r;
}

int __wrap_ioctl(int fd, unsigned long req, ...) // NOLINT(bugprone-reserved-identifier)
{
	va_list ap;
	void *arg;
	int r;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	for (int i = 0; i < F.ncpus; i++)
		if (F.cpu[i].fd == fd) {
			r = fake_vcpu_ioctl(i, req, arg);
			if (r < 0) {
				errno = -r;
				return -1;
			}
			return r;
		}
	return __real_ioctl(fd, req, arg);
}

/* ---- the rig: a VM of ncpus fake vCPUs and its gdb target, threads started ---- */

static void rig_up(int ncpus)
{
	memset(&F, 0, sizeof(F));
	memset(&vm, 0, sizeof(vm));
	vm.kvm_fd = vm.vm_fd = -1;
	vm.ncpus = ncpus;
	vm.mode = MODE_PROTECTED;
	vm.ram_size = RAM_SIZE;
	vm.ram = malloc(RAM_SIZE);
	TEST_ASSERT(vm.ram);
	memset(vm.ram, NOP, RAM_SIZE);
	vm.mram = (struct mmu_ram){ vm.ram, RAM_SIZE };
	pthread_mutex_init(&vm.out_lock, NULL);
	for (int i = 0; i < ncpus; i++) {
		struct vcpu *c = &vm.cpus[i];
		struct fcpu *fc = &F.cpu[i];

		c->vm = &vm;
		c->index = i;
		c->fd = open("/dev/null", O_RDONLY | O_CLOEXEC); /* an fd of its own, the fake's */
		c->run = calloc(1, RUN_SIZE);
		TEST_ASSERT(c->fd >= 0 && c->run);
		fc->fd = c->fd;
		fc->regs.rip = 0x800 + i;
		fc->regs.rflags = 2;
		fc->sregs.cr0 = CR0_PE;
		fc->sregs.cs.db = 1;
	}
	F.ncpus = ncpus;

	/* as target_new, then op_attach */
	t = calloc(1, sizeof(*t));
	TEST_ASSERT(t);
	t->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	TEST_ASSERT(t->efd >= 0);
	t->vm = &vm;
	t->cur_tid = 1;
	t->bp_patched = true;
	t->rearm_step = true;
	t->rec_limit = 1 << 20;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->stopped, NULL);
	pthread_cond_init(&t->rec_cond, NULL);
	pthread_cond_init(&t->replay_go, NULL);
	t->arch = ARCH_I386;
	t->last.kind = STUB_STOP_SIGNAL;
	t->last.signo = SIGTRAP_;
	t->last.tid = 1;
	for (int i = 0; i < ncpus; i++) {
		struct tcpu *tc = &t->cpus[i];

		tc->t = t;
		tc->c = &vm.cpus[i];
		tc->state = TS_STOPPED;
		tc->action = STUB_CONTINUE;
		tc->why = "stopped at entry";
		pthread_cond_init(&tc->go, NULL);
	}
	t->client = true;
	t->bp_insn = OPC_INT3;
	TEST_ASSERT_EQ(sched_threads_start(t), 0);
}

/* UNIT_SCHED_LOG=1: the KVM_RUNs of a test, to stderr (for a failing one). */
static void dump_log(void)
{
	if (!getenv("UNIT_SCHED_LOG"))
		return;
	for (int i = 0; i < F.nlog; i++)
		fprintf(stderr, "  KVM_RUN %d: vCPU %d%s%s rip 0x%llx byte 0x%02x\n", i, F.log[i].cpu,
			F.log[i].step ? " step" : "", F.log[i].intr ? " EINTR at once" : "",
			(unsigned long long)F.log[i].rip, F.log[i].byte);
}

/* Idempotent: main calls it after every test, also one that failed midway. */
static void rig_down(void)
{
	if (!t)
		return;
	sched_threads_end(t);
	dump_log();
	bp_remove_all(t);
	for (int i = 0; i < vm.ncpus; i++) {
		pthread_cond_destroy(&t->cpus[i].go);
		close(vm.cpus[i].fd);
		free(vm.cpus[i].run);
	}
	pthread_cond_destroy(&t->replay_go);
	pthread_cond_destroy(&t->rec_cond);
	pthread_cond_destroy(&t->stopped);
	pthread_mutex_destroy(&t->lock);
	pthread_mutex_destroy(&vm.out_lock);
	close(t->efd);
	free(t);
	t = NULL;
	free(vm.ram);
	F.ncpus = 0;
}

/* The end of a test: the rig down, and no scripted wait ran out. */
static void rig_done(void)
{
	rig_down();
	TEST_ASSERT(F.timeouts == 0, "%d scripted wait(s) ran out", F.timeouts);
}

/* What vCPU tid's next KVM_RUNs do. */
static void script(int tid, int n, ...)
{
	struct fcpu *fc = &F.cpu[tid - 1];
	va_list ap;

	va_start(ap, n);
	pthread_mutex_lock(&fake_lock);
	for (int k = 0; k < n && fc->nscript < 8; k++)
		fc->script[fc->nscript++] = va_arg(ap, struct xstep);
	pthread_mutex_unlock(&fake_lock);
	va_end(ap);
}

static void insert_bp(uint64_t addr)
{
	char why[256] = "";

	TEST_ASSERT(bp_insert(t, STUB_BP_SW, addr, 1, why, sizeof(why)) == 0, "Z0 at 0x%llx: %s",
		    (unsigned long long)addr, why);
	TEST_ASSERT_EQ(vm.ram[addr], OPC_INT3);
}

/* vCont with one action per vCPU, as the stub fills it: to the all-stop
 * scheduler (resume) or to non-stop's (ns_res). */
static void resume_with(int (*fn)(struct gdb_target *, const struct stub_resume *), int n,
			va_list ap)
{
	struct stub_resume r = { .nthreads = n };

	for (int i = 0; i < n; i++)
		r.action[i] = (enum stub_action)va_arg(ap, int);
	TEST_ASSERT_EQ(fn(t, &r), 0);
}

static void resume(int n, ...)
{
	va_list ap;

	va_start(ap, n);
	resume_with(sched_resume, n, ap);
	va_end(ap);
}

static void ns_res(int n, ...)
{
	va_list ap;

	va_start(ap, n);
	resume_with(ns_resume, n, ap);
	va_end(ap);
}

static void resume_all(void)
{
	struct stub_resume r = { .nthreads = 0 }; /* c: every thread continues */

	TEST_ASSERT_EQ(sched_resume(t, &r), 0);
}

/* The stop the stub would send, waiting for it as the stub polls stop_fd. */
static struct stub_stop wait_stop(void)
{
	struct pollfd p = { .fd = t->efd, .events = POLLIN };
	struct stub_stop s;
	long end = now_ms() + WAIT_MS;
	int r;

	while ((r = sched_get_stop(t, &s)) == -EAGAIN && now_ms() < end)
		poll(&p, 1, 10);
	TEST_ASSERT(r == 0, "no stop within %d ms (%d)", WAIT_MS, r);
	return s;
}

/* A stop there to take right after the resume, nothing waited for. */
static struct stub_stop stop_now(void)
{
	struct stub_stop s;
	int r = sched_get_stop(t, &s);

	TEST_ASSERT(r == 0, "no stop at once (%d)", r);
	return s;
}

static void assert_no_stop(void)
{
	struct stub_stop s;
	int r = sched_get_stop(t, &s);

	TEST_ASSERT(r == -EAGAIN, "a stop: kind %d, thread %d", s.kind, s.tid);
}

/* Until vCPU tid runs (in KVM_RUN): only then does a kick reach it there. */
static void wait_running(int tid)
{
	long end = now_ms() + WAIT_MS;

	while (!all_in_run(THR(tid))) {
		TEST_ASSERT(now_ms() < end, "vCPU %d not running within %d ms", tid - 1, WAIT_MS);
		sleep_us(1000);
	}
}

static void wait_halted(int tid)
{
	long end = now_ms() + WAIT_MS;
	enum tstate st;

	for (;;) {
		pthread_mutex_lock(&t->lock);
		st = t->cpus[tid - 1].state;
		pthread_mutex_unlock(&t->lock);
		if (st == TS_HALTED)
			return;
		TEST_ASSERT(now_ms() < end, "vCPU %d not halted within %d ms", tid - 1, WAIT_MS);
		sleep_us(1000);
	}
}

/* As gdb reads $pc (all stopped). */
static uint64_t pc_of(int tid)
{
	struct tcpu *tc = &t->cpus[tid - 1];

	TEST_ASSERT_EQ(regs_fetch(tc, DIRTY_REGS), 0);
	return tc->st.regs.rip;
}

/* As gdb writes $pc (op_write_reg). */
static void set_pc(int tid, uint64_t pc)
{
	struct tcpu *tc = &t->cpus[tid - 1];

	TEST_ASSERT_EQ(regs_fetch(tc, DIRTY_REGS), 0);
	tc->st.regs.rip = pc;
	tc->dirty |= DIRTY_REGS;
}

static int nruns(void)
{
	int n;

	pthread_mutex_lock(&fake_lock);
	n = F.nlog;
	pthread_mutex_unlock(&fake_lock);
	return n;
}

/* The k-th KVM_RUN from log entry from on that did run (not EINTR at once),
 * of vCPU tid (0: any); NULL if there is none. */
static const struct krun *nth_run(int from, int tid, int k)
{
	const struct krun *r = NULL;

	pthread_mutex_lock(&fake_lock);
	for (int i = from; i < F.nlog; i++)
		if (!F.log[i].intr && (!tid || F.log[i].cpu == tid - 1) && k-- == 0) {
			r = &F.log[i];
			break;
		}
	pthread_mutex_unlock(&fake_lock);
	return r;
}

#define ASSERT_STOP(s, kind_, tid_, signo_)                                      \
	do {                                                                     \
		TEST_ASSERT_EQ((s).kind, (kind_));                               \
		TEST_ASSERT_EQ((s).tid, (tid_));                                 \
		TEST_ASSERT_EQ((s).signo, (signo_));                             \
	} while (0)

/* ---- kept stops ---- */

/* Two vCPUs at their breakpoints at once: the older stop is reported; the
 * other is kept, not reported while a resume leaves its thread stopped, and
 * reported, nothing run, by the next resume that includes it. */
static void test_two_breakpoints_at_once_reported_one_per_resume(void)
{
	struct stub_stop s;
	int mark;

	rig_up(2);
	insert_bp(0x1000);
	insert_bp(0x1010);
	insert_bp(0x2000);
	script(1, 2, BP(0x1000, .meet = THR(2)), BP(0x1010));
	script(2, 1, BP(0x2000, .after = 1));
	resume_all();
	s = wait_stop();
	ASSERT_STOP(s, STUB_STOP_SWBREAK, 1, SIGTRAP_);
	TEST_ASSERT_EQ(pc_of(1), 0x1000);
	TEST_ASSERT(t->cpus[1].has_event, "vCPU 1's breakpoint is kept");

	/* vCPU 0 alone: its next breakpoint, not vCPU 1's kept one */
	resume(2, STUB_CONTINUE, STUB_STAY);
	s = wait_stop();
	ASSERT_STOP(s, STUB_STOP_SWBREAK, 1, SIGTRAP_);
	TEST_ASSERT_EQ(pc_of(1), 0x1010);

	/* both: the kept stop at once */
	mark = nruns();
	resume_all();
	s = stop_now();
	ASSERT_STOP(s, STUB_STOP_SWBREAK, 2, SIGTRAP_);
	TEST_ASSERT_EQ(pc_of(2), 0x2000);
	TEST_ASSERT_EQ(nruns(), mark);

	/* and nothing more is kept: the next stop is a new one */
	resume_all();
	assert_no_stop();
	wait_running(1);
	wait_running(2);
	TEST_ASSERT_EQ(sched_interrupt(t), 0);
	s = wait_stop();
	ASSERT_STOP(s, STUB_STOP_SIGNAL, 2, SIGINT_);
	rig_done();
}

/* A kept breakpoint stop of a thread whose PC gdb moved is dropped: the
 * thread runs from the new PC. */
static void test_kept_breakpoint_dropped_when_pc_moved(void)
{
	const struct krun *k;
	struct stub_stop s;
	int mark;

	rig_up(2);
	insert_bp(0x1000);
	insert_bp(0x2000);
	insert_bp(0x3000);
	script(1, 1, BP(0x1000, .meet = THR(2)));
	script(2, 2, BP(0x2000, .after = 1), BP(0x3000));
	resume_all();
	s = wait_stop();
	ASSERT_STOP(s, STUB_STOP_SWBREAK, 1, SIGTRAP_);
	TEST_ASSERT(t->cpus[1].has_event, "vCPU 1's breakpoint is kept");

	set_pc(2, 0x2400);
	mark = nruns();
	resume_all();
	s = wait_stop();
	ASSERT_STOP(s, STUB_STOP_SWBREAK, 2, SIGTRAP_);
	TEST_ASSERT_EQ(pc_of(2), 0x3000);
	k = nth_run(mark, 2, 0);
	TEST_ASSERT(k, "vCPU 1 ran");
	TEST_ASSERT_EQ(k->rip, 0x2400);
	TEST_ASSERT(!k->step, "vCPU 1 ran free, no step over the breakpoint it left");
	rig_done();
}

/* A kept breakpoint stop whose breakpoint gdb removed is dropped: the
 * thread runs on from there, the original instruction back. */
static void test_kept_breakpoint_dropped_when_removed(void)
{
	const struct krun *k;
	struct stub_stop s;
	int mark;

	rig_up(2);
	insert_bp(0x1000);
	insert_bp(0x2000);
	insert_bp(0x3000);
	script(1, 1, BP(0x1000, .meet = THR(2)));
	script(2, 2, BP(0x2000, .after = 1), BP(0x3000));
	resume_all();
	s = wait_stop();
	ASSERT_STOP(s, STUB_STOP_SWBREAK, 1, SIGTRAP_);

	TEST_ASSERT_EQ(bp_remove(t, STUB_BP_SW, 0x2000, 1), 0);
	TEST_ASSERT_EQ(vm.ram[0x2000], NOP);
	mark = nruns();
	resume_all();
	s = wait_stop();
	ASSERT_STOP(s, STUB_STOP_SWBREAK, 2, SIGTRAP_);
	TEST_ASSERT_EQ(pc_of(2), 0x3000);
	k = nth_run(mark, 2, 0);
	TEST_ASSERT(k, "vCPU 1 ran");
	TEST_ASSERT_EQ(k->rip, 0x2000);
	TEST_ASSERT_EQ(k->byte, NOP);
	TEST_ASSERT(!k->step, "vCPU 1 ran free");
	rig_done();
}

/* Three vCPUs at their breakpoints at once: reported oldest first, one per
 * resume. */
static void test_three_breakpoints_at_once_reported_oldest_first(void)
{
	struct stub_stop s;

	rig_up(3);
	insert_bp(0x1000);
	insert_bp(0x2000);
	insert_bp(0x3000);
	script(1, 1, BP(0x1000, .meet = THR(2) | THR(3)));
	script(2, 1, BP(0x2000, .after = 1));
	script(3, 1, BP(0x3000, .after = 2));
	resume_all();
	s = wait_stop();
	ASSERT_STOP(s, STUB_STOP_SWBREAK, 1, SIGTRAP_);
	for (int tid = 2; tid <= 3; tid++) {
		resume_all();
		s = stop_now();
		ASSERT_STOP(s, STUB_STOP_SWBREAK, tid, SIGTRAP_);
		TEST_ASSERT_EQ(pc_of(tid), 0x1000 * tid);
	}
	rig_done();
}

/* A kept stop that is still good is not dropped by a moved PC of another
 * thread (the rule is per thread). */
static void test_kept_breakpoint_survives_other_threads_pc_change(void)
{
	struct stub_stop s;

	rig_up(2);
	insert_bp(0x1000);
	insert_bp(0x2000);
	script(1, 1, BP(0x1000, .meet = THR(2)));
	script(2, 1, BP(0x2000, .after = 1));
	resume_all();
	s = wait_stop();
	ASSERT_STOP(s, STUB_STOP_SWBREAK, 1, SIGTRAP_);
	set_pc(1, 0x1400);
	resume_all();
	s = stop_now();
	ASSERT_STOP(s, STUB_STOP_SWBREAK, 2, SIGTRAP_);
	TEST_ASSERT_EQ(pc_of(2), 0x2000);
	rig_done();
}

/* ---- step-overs ---- */

/* Continuing from a reported breakpoint: that vCPU first steps over it
 * alone, the int3 lifted, then all run, the int3 back. */
static void test_step_over_runs_alone_before_the_others(void)
{
	const struct krun *k;
	struct stub_stop s;
	int mark;

	rig_up(2);
	insert_bp(0x1000);
	script(1, 1, BP(0x1000, .meet = THR(2)));
	resume_all();
	s = wait_stop();
	ASSERT_STOP(s, STUB_STOP_SWBREAK, 1, SIGTRAP_);

	mark = nruns();
	resume_all();
	assert_no_stop();
	wait_running(1);
	wait_running(2);
	TEST_ASSERT_EQ(sched_interrupt(t), 0);
	s = wait_stop();
	ASSERT_STOP(s, STUB_STOP_SIGNAL, 1, SIGINT_);

	k = nth_run(mark, 0, 0);
	TEST_ASSERT(k, "something ran");
	TEST_ASSERT_EQ(k->cpu, 0);
	TEST_ASSERT(k->step, "the first KVM_RUN is vCPU 0's single step");
	TEST_ASSERT_EQ(k->rip, 0x1000);
	TEST_ASSERT_EQ(k->byte, NOP);
	k = nth_run(mark, 1, 1);
	TEST_ASSERT(k && !k->step, "then vCPU 0 runs free");
	k = nth_run(mark, 2, 0);
	TEST_ASSERT(k && !k->step, "and vCPU 1 runs");
	TEST_ASSERT_EQ(F.overlaps, 0);
	TEST_ASSERT_EQ(vm.ram[0x1000], OPC_INT3);
	rig_done();
}

/* Two vCPUs reported at one breakpoint step over it one at a time: each
 * sees the original byte, neither runs while the other steps. */
static void test_step_overs_of_one_breakpoint_take_turns(void)
{
	const struct krun *k;
	struct stub_stop s;
	int mark;

	rig_up(2);
	insert_bp(0x1000);
	script(1, 1, BP(0x1000, .meet = THR(2)));
	script(2, 1, BP(0x1000, .after = 1));
	resume_all();
	s = wait_stop();
	ASSERT_STOP(s, STUB_STOP_SWBREAK, 1, SIGTRAP_);
	resume_all();
	s = stop_now();
	ASSERT_STOP(s, STUB_STOP_SWBREAK, 2, SIGTRAP_);

	mark = nruns();
	resume_all();
	assert_no_stop();
	wait_running(1);
	wait_running(2);
	TEST_ASSERT_EQ(sched_interrupt(t), 0);
	s = wait_stop();
	ASSERT_STOP(s, STUB_STOP_SIGNAL, 2, SIGINT_);
	for (int i = 0; i < 2; i++) {
		k = nth_run(mark, 0, i);
		TEST_ASSERT(k, "KVM_RUN %d", i);
		TEST_ASSERT_EQ(k->cpu, i);
		TEST_ASSERT(k->step, "KVM_RUN %d steps", i);
		TEST_ASSERT_EQ(k->rip, 0x1000);
		TEST_ASSERT_EQ(k->byte, NOP);
	}
	k = nth_run(mark, 0, 2);
	TEST_ASSERT(k && !k->step, "then they run free");
	TEST_ASSERT_EQ(F.overlaps, 0);
	TEST_ASSERT_EQ(vm.ram[0x1000], OPC_INT3);
	rig_done();
}

/* A single step of one vCPU while the others stay (run on the stub thread
 * itself): only that vCPU runs, one step, and the stop is ready when the
 * resume returns. */
static void test_single_step_of_one_vcpu_runs_it_alone(void)
{
	const struct krun *k;
	struct stub_stop s;

	rig_up(2);
	resume(2, STUB_STEP, STUB_STAY);
	s = stop_now();
	ASSERT_STOP(s, STUB_STOP_SIGNAL, 1, SIGTRAP_);
	TEST_ASSERT_EQ(pc_of(1), 0x801);
	TEST_ASSERT_EQ(nruns(), 1);
	k = nth_run(0, 1, 0);
	TEST_ASSERT(k && k->step, "vCPU 0 single-stepped");
	TEST_ASSERT_EQ(k->rip, 0x800);
	rig_done();
}

/* ---- Ctrl-C ---- */

/* Ctrl-C while one vCPU is halted and the other runs: the stop names the
 * running one, though the last stop was the halted one's. */
static void test_ctrl_c_names_a_running_vcpu_not_a_halted_one(void)
{
	struct stub_stop s;

	rig_up(2);
	script(1, 1, HLT(0x1100));
	resume_all();
	wait_halted(1);
	assert_no_stop();
	TEST_ASSERT_EQ(t->cur_tid, 1);
	wait_running(2);
	TEST_ASSERT_EQ(sched_interrupt(t), 0);
	s = wait_stop();
	ASSERT_STOP(s, STUB_STOP_SIGNAL, 2, SIGINT_);
	TEST_ASSERT_EQ(t->cpus[0].state, TS_HALTED);
	rig_done();
}

/* The same with three vCPUs, the current one and the first halted: the
 * first running one is named. */
static void test_ctrl_c_skips_every_halted_vcpu(void)
{
	struct stub_stop s;

	rig_up(3);
	script(1, 1, HLT(0x1100));
	script(2, 1, HLT(0x2100));
	resume_all();
	wait_halted(1);
	wait_halted(2);
	wait_running(3);
	TEST_ASSERT_EQ(sched_interrupt(t), 0);
	s = wait_stop();
	ASSERT_STOP(s, STUB_STOP_SIGNAL, 3, SIGINT_);
	rig_done();
}

/* Ctrl-C while only vCPU 1 was resumed: the stop names it, not the
 * current thread that stayed stopped. */
static void test_ctrl_c_names_a_resumed_vcpu(void)
{
	struct stub_stop s;
	const struct krun *k;

	rig_up(2);
	resume(2, STUB_STAY, STUB_CONTINUE);
	assert_no_stop();
	wait_running(2);
	TEST_ASSERT_EQ(sched_interrupt(t), 0);
	s = wait_stop();
	ASSERT_STOP(s, STUB_STOP_SIGNAL, 2, SIGINT_);
	TEST_ASSERT(!nth_run(0, 1, 0), "vCPU 0 stayed");
	k = nth_run(0, 2, 0);
	TEST_ASSERT(k, "vCPU 1 ran");
	rig_done();
}

/* ---- halted vCPUs ---- */

/* All vCPUs halted: a SIGTRAP stop of the last to halt says so; continuing
 * then ends the guest (status 0), nothing run. */
static void test_all_halted_is_a_stop_and_continuing_ends_the_guest(void)
{
	struct stub_stop s;
	int mark;

	rig_up(2);
	script(1, 1, HLT(0x1100));
	script(2, 1, HLT(0x2100, .after = 1));
	resume_all();
	s = wait_stop();
	ASSERT_STOP(s, STUB_STOP_SIGNAL, 2, SIGTRAP_);
	TEST_ASSERT(strstr(s.message, "the guest halted"), "message \"%s\"", s.message);
	TEST_ASSERT_EQ(pc_of(2), 0x2101);
	TEST_ASSERT_EQ(t->cpus[0].state, TS_HALTED);
	TEST_ASSERT_EQ(t->cpus[1].state, TS_HALTED);

	mark = nruns();
	resume_all();
	s = stop_now();
	TEST_ASSERT_EQ(s.kind, STUB_STOP_EXITED);
	TEST_ASSERT_EQ(s.status, 0);
	TEST_ASSERT_EQ(nruns(), mark);
	rig_done();
}

/* Resuming only halted vCPUs while the others stay: a stop at once, of
 * the halted one, nothing run. */
static void test_resuming_only_halted_vcpus_stops_at_once(void)
{
	struct stub_stop s;
	int mark;

	rig_up(2);
	insert_bp(0x2000);
	script(1, 1, HLT(0x1100));
	script(2, 1, BP(0x2000, .after = 1));
	resume_all();
	s = wait_stop();
	ASSERT_STOP(s, STUB_STOP_SWBREAK, 2, SIGTRAP_);
	TEST_ASSERT_EQ(t->cpus[0].state, TS_HALTED);

	mark = nruns();
	resume(2, STUB_CONTINUE, STUB_STAY);
	s = stop_now();
	ASSERT_STOP(s, STUB_STOP_SIGNAL, 1, SIGTRAP_);
	TEST_ASSERT(strstr(s.message, "nothing runs"), "message \"%s\"", s.message);
	TEST_ASSERT_EQ(nruns(), mark);
	rig_done();
}

/* A step of a halted vCPU stops at once: it does not move. */
static void test_step_of_a_halted_vcpu_stops_at_once(void)
{
	struct stub_stop s;
	int mark;

	rig_up(2);
	insert_bp(0x2000);
	script(1, 1, HLT(0x1100));
	script(2, 1, BP(0x2000, .after = 1));
	resume_all();
	s = wait_stop();
	ASSERT_STOP(s, STUB_STOP_SWBREAK, 2, SIGTRAP_);

	mark = nruns();
	resume(2, STUB_STEP, STUB_STAY);
	s = stop_now();
	ASSERT_STOP(s, STUB_STOP_SIGNAL, 1, SIGTRAP_);
	TEST_ASSERT(strstr(s.message, "a step does not move it"), "message \"%s\"", s.message);
	TEST_ASSERT_EQ(pc_of(1), 0x1101);
	TEST_ASSERT_EQ(nruns(), mark);
	rig_done();
}

/* A halted vCPU whose PC gdb wrote runs again, from there. */
static void test_halted_vcpu_runs_again_once_gdb_moves_it(void)
{
	const struct krun *k;
	struct stub_stop s;
	int mark;

	rig_up(2);
	insert_bp(0x2000);
	insert_bp(0x1300);
	script(1, 2, HLT(0x1100), BP(0x1300));
	script(2, 1, BP(0x2000, .after = 1));
	resume_all();
	s = wait_stop();
	ASSERT_STOP(s, STUB_STOP_SWBREAK, 2, SIGTRAP_);

	set_pc(1, 0x1200);
	mark = nruns();
	resume(2, STUB_CONTINUE, STUB_STAY);
	s = wait_stop();
	ASSERT_STOP(s, STUB_STOP_SWBREAK, 1, SIGTRAP_);
	TEST_ASSERT_EQ(pc_of(1), 0x1300);
	k = nth_run(mark, 1, 0);
	TEST_ASSERT(k, "vCPU 0 ran");
	TEST_ASSERT_EQ(k->rip, 0x1200);
	TEST_ASSERT(!nth_run(mark, 2, 0), "vCPU 1 stayed");
	rig_done();
}

/* ---- the guest's end ---- */

/* An OUT to port 0xF4 ends the guest: the stop is its exit, with status
 * (V << 1) | 1, and stays the answer. */
static void test_exit_port_ends_the_guest_with_its_status(void)
{
	struct stub_stop s;

	rig_up(2);
	script(1, 1, EXIT_PORT(3));
	resume_all();
	s = wait_stop();
	TEST_ASSERT_EQ(s.kind, STUB_STOP_EXITED);
	TEST_ASSERT_EQ(s.status, 7);
	s = stop_now();
	TEST_ASSERT_EQ(s.kind, STUB_STOP_EXITED);
	rig_done();
}

/* A triple fault: a SIGSEGV stop of that vCPU, its registers those of the
 * fault; the next resume ends the guest with STATUS_SHUTDOWN, nothing run. */
static void test_triple_fault_stops_then_resuming_ends_the_guest(void)
{
	struct stub_stop s;
	int mark;

	rig_up(2);
	script(2, 1, SHUTDOWN(0x2200));
	resume_all();
	s = wait_stop();
	ASSERT_STOP(s, STUB_STOP_SIGNAL, 2, SIGSEGV_);
	TEST_ASSERT(strstr(s.message, "triple fault"), "message \"%s\"", s.message);
	TEST_ASSERT_EQ(pc_of(2), 0x2200);

	mark = nruns();
	resume_all();
	s = stop_now();
	TEST_ASSERT_EQ(s.kind, STUB_STOP_EXITED);
	TEST_ASSERT_EQ(s.status, STATUS_SHUTDOWN);
	TEST_ASSERT_EQ(nruns(), mark);
	rig_done();
}


/* ---- non-stop (vmm/nonstop.c) ---- */

static void nonstop_on(void)
{
	char why[128] = "";

	TEST_ASSERT_EQ(ns_set(t, true, why, sizeof(why)), 0);
}

/* Non-stop, two vCPUs continued: vCPU 0 stops at its breakpoint at 0x1000,
 * vCPU 1 runs on (in KVM_RUN).  The log mark from before the resume. */
static int two_run_one_at_breakpoint(void)
{
	struct stub_stop s;
	int mark;

	rig_up(2);
	nonstop_on();
	insert_bp(0x1000);
	script(1, 1, BP(0x1000, .meet = THR(2)));
	mark = nruns();
	ns_res(2, STUB_CONTINUE, STUB_CONTINUE);
	s = wait_stop();
	ASSERT_STOP(s, STUB_STOP_SWBREAK, 1, SIGTRAP_);
	wait_running(2);
	return mark;
}

/* One vCPU's breakpoint stops it alone: the other stays in KVM_RUN, never
 * kicked; vCont;t stops that one as a stop of its own (signal 0). */
static void test_nonstop_a_stop_leaves_the_others_running(void)
{
	struct stub_stop s;
	int mark = two_run_one_at_breakpoint();

	TEST_ASSERT(nth_run(mark, 2, 0) && !nth_run(mark, 2, 1), "vCPU 1 entered KVM_RUN once");
	TEST_ASSERT(!ns_running(t, 1) && ns_running(t, 2));
	assert_no_stop();
	ns_res(2, STUB_STAY, STUB_STOP_THREAD);
	s = wait_stop();
	ASSERT_STOP(s, STUB_STOP_SIGNAL, 2, 0);
	TEST_ASSERT(!ns_running(t, 2));
	rig_done();
}

/* Stepping off a breakpoint while another vCPU runs: that one is held out
 * of KVM_RUN during the step (the byte is lifted), then runs again. */
static void test_nonstop_step_over_pauses_the_running_ones(void)
{
	const struct krun *k;
	struct stub_stop s;
	int mark;

	two_run_one_at_breakpoint();
	mark = nruns();
	ns_res(2, STUB_CONTINUE, STUB_STAY);
	wait_running(1);
	wait_running(2);
	assert_no_stop();
	k = nth_run(mark, 1, 0);
	TEST_ASSERT(k && k->step && k->rip == 0x1000 && k->byte == NOP,
		    "vCPU 0 first steps the original instruction");
	TEST_ASSERT_EQ(F.overlaps, 0);
	TEST_ASSERT_EQ(vm.ram[0x1000], OPC_INT3);

	/* vCtrlC: the current thread, SIGINT; the other runs on */
	TEST_ASSERT_EQ(ns_interrupt(t), 0);
	s = wait_stop();
	ASSERT_STOP(s, STUB_STOP_SIGNAL, 1, SIGINT_);
	wait_running(2);
	rig_done();
}

/* A hold (around a stub operation) has no vCPU in KVM_RUN until released. */
static void test_nonstop_hold_keeps_every_vcpu_out_of_kvm_run(void)
{
	rig_up(3);
	nonstop_on();
	ns_res(3, STUB_CONTINUE, STUB_CONTINUE, STUB_CONTINUE);
	wait_running(1);
	wait_running(2);
	wait_running(3);
	ns_hold(t);
	pthread_mutex_lock(&fake_lock);
	TEST_ASSERT_EQ(F.inside, 0);
	pthread_mutex_unlock(&fake_lock);
	sleep_us(20000);
	pthread_mutex_lock(&fake_lock);
	TEST_ASSERT_EQ(F.inside, 0);
	pthread_mutex_unlock(&fake_lock);
	TEST_ASSERT(ns_running(t, 1) && ns_running(t, 2) && ns_running(t, 3), "gdb still sees them run");
	ns_release(t);
	wait_running(1);
	wait_running(2);
	wait_running(3);
	assert_no_stop();
	rig_done();
}

/* '?' in non-stop: the current thread is reported, the other stopped ones
 * start (gdb 13 takes one stopped thread at a connect). */
static void test_nonstop_why_reports_one_and_starts_the_others(void)
{
	struct stub_stop s;

	rig_up(3);
	nonstop_on();
	TEST_ASSERT_EQ(ns_thread_stop(t, 1, &s), 0);
	TEST_ASSERT_EQ(s.tid, 1);
	TEST_ASSERT_EQ(ns_thread_stop(t, 2, &s), -EBUSY);
	TEST_ASSERT_EQ(ns_thread_stop(t, 3, &s), -EBUSY);
	wait_running(2);
	wait_running(3);
	TEST_ASSERT(!ns_running(t, 1));
	TEST_ASSERT_EQ(ns_thread_stop(t, 1, &s), 0);
	rig_done();
}

#define RUN(fn)                                                                  \
	do {                                                                     \
		RUN_TEST(fn);                                                    \
		rig_down(); /* (after a failed assertion) */                     \
	} while (0)

int main(void)
{
	vm_install_kick_handler();
	RUN(test_two_breakpoints_at_once_reported_one_per_resume);
	RUN(test_kept_breakpoint_dropped_when_pc_moved);
	RUN(test_kept_breakpoint_dropped_when_removed);
	RUN(test_three_breakpoints_at_once_reported_oldest_first);
	RUN(test_kept_breakpoint_survives_other_threads_pc_change);
	RUN(test_step_over_runs_alone_before_the_others);
	RUN(test_step_overs_of_one_breakpoint_take_turns);
	RUN(test_single_step_of_one_vcpu_runs_it_alone);
	RUN(test_ctrl_c_names_a_running_vcpu_not_a_halted_one);
	RUN(test_ctrl_c_skips_every_halted_vcpu);
	RUN(test_ctrl_c_names_a_resumed_vcpu);
	RUN(test_all_halted_is_a_stop_and_continuing_ends_the_guest);
	RUN(test_resuming_only_halted_vcpus_stops_at_once);
	RUN(test_step_of_a_halted_vcpu_stops_at_once);
	RUN(test_halted_vcpu_runs_again_once_gdb_moves_it);
	RUN(test_exit_port_ends_the_guest_with_its_status);
	RUN(test_triple_fault_stops_then_resuming_ends_the_guest);
	RUN(test_nonstop_a_stop_leaves_the_others_running);
	RUN(test_nonstop_step_over_pauses_the_running_ones);
	RUN(test_nonstop_hold_keeps_every_vcpu_out_of_kvm_run);
	RUN(test_nonstop_why_reports_one_and_starts_the_others);
	TEST_MAIN_END();
}
