/* target.h - the gdb target's state, shared by the files that implement it;
 * gdb.h is its public interface.
 *
 * gdb.c     the stub operations (thin adapters) and gdb_serve
 * regs.c    the cache of each vCPU's registers
 * bkpt.c    breakpoints, watchpoints, debug registers
 * exits.c   what a vCPU's exit means: the stop event, or none
 * sched.c   the vCPU threads and the all-stop rules
 * nonstop.c non-stop mode: one vCPU stops while the others run
 * decode.c  the recorder's instruction decoders (decode.h: pure)
 * record_run.c, record_mem.c  recording; replay.c  walking the log back and forth
 * monitor.c the monitor commands
 *
 * It includes stub/stub.h for the types the state is made of (the action
 * gdb asked for, the stop event, the breakpoint types); only gdb.c calls the
 * stub and fills in struct stub_ops. */
#ifndef VMM_TARGET_H
#define VMM_TARGET_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "stub/stub.h"
#include "vmm/gdb.h"
#include "vmm/pc.h"
#include "vmm/record.h"
#include "vmm/tdesc.h"
#include "vmm/vm.h"
#include "vmm/x86.h"

#define SIGINT_ 2
#define SIGILL_ 4
#define SIGTRAP_ 5
#define SIGSEGV_ 11
#define BP_BUCKETS 1024
#define MAX_WATCH 32
#define WATCH_PIECES 16
#define REC_IRQ_MARKS 256 /* interrupt deliveries whose controller state recording keeps */
#define REC_OPEN_MAX 32 /* page-table pages left writable while recording, at most */
#define PTP_MAX 65536   /* page-table pages of one hierarchy the recorder can tell apart */
#define HW_SLOTS 4      /* debug-register slots: DR0-DR3 */
#define CON_RING 65536  /* guest console kept for gdb in non-stop */
#define PAGE_DOWN(a) ((a) & ~(PAGE_SIZE - 1))

/* gdb's thread ids are the vCPUs, one each. */
_Static_assert(VM_MAX_CPUS == STUB_MAX_THREADS, "a gdb thread per vCPU");

/*
 * Threads: the stub thread (gdb_serve's: every stub operation), one thread
 * per vCPU (cpu_main) and the replay thread (replay_main).  What guards each
 * field of the structs below, as the code uses it:
 *
 *   once     set before the threads that read it start (target_new,
 *            sched_threads_start), never changed after
 *   lock     t->lock
 *   stopped  changed by the stub thread only while nothing runs (no vCPU
 *            TS_RUNNING, no replay walk); the threads that run read it
 *            without the lock, as it cannot change under them
 *   stub     the stub thread only
 *   runner   whoever runs the vCPU, without the lock: its thread while it
 *            is TS_RUNNING (the stub thread instead while inline_run), the
 *            replay walk for the register state while it walks; otherwise
 *            the stub thread, or a holder of the lock, while the vCPU does
 *            not run (a reader of other vCPUs' fields first sees under the
 *            lock that nrunning() is 0)
 *   turn     the vCPU thread whose turn it is to record (rec_owner),
 *            without the lock; the stub thread while nothing runs
 *   walk     the replay walk: the replay thread while replay_busy, or the
 *            stub thread (a step in the past, under the lock)
 */

enum tstate { TS_STOPPED, TS_RUNNING, TS_HALTED };

struct tcpu {
	struct gdb_target *t;        /* once */
	struct vcpu *c;              /* once */
	enum tstate state;           /* lock (op_thread_info reads it while nothing runs) */
	enum stub_action action;     /* lock; the replay walk reads it (nothing changes it then) */
	uint64_t range_lo, range_hi; /* lock, as action.  STUB_RANGE: keep stepping while RIP is in it */
	bool stepped;                /* runner: the last event was a plain single step */
	bool stop_req;               /* lock: to stop after its KVM_RUN (kicked) */
	bool inline_run;             /* lock: being stepped by the stub thread itself */
	bool in_run;                 /* lock: inside run_once_locked, maybe in KVM_RUN (a pause kicks it) */
	bool has_event;              /* runner: event is a stop not reported yet (others read it
					under the lock, and only while !in_run) */
	bool resumed;                /* lock: by the last resume: only such threads' events are reported
					(non-stop: gdb sees it running, until its stop is reported) */
	bool halted_now;             /* runner: classify saw a HLT; the state changes under the lock */
	bool over;                   /* lock: step over the reported breakpoint alone, before the others run */
	bool reported_bp;            /* lock: the last stop reported for it: a breakpoint at reported_rip */
	bool event_alias;            /* runner: the event: a breakpoint's byte run at another address */
	uint64_t reported_rip;       /* lock */
	uint64_t event_rip;          /* runner: RIP of a breakpoint event */
	uint64_t seq;                /* lock: the event's place in t->seq (oldest reported first) */
	struct stub_stop event;      /* runner */
	int dead_status;             /* runner: non-zero after a fault: resuming ends the guest */
	struct cpu_state st;         /* runner: the register cache (regs.c) */
	unsigned valid, dirty;       /* runner: DIRTY_* bits: what st holds, what was written */
	struct kvm_regs entry_regs;  /* runner: the registers it was last resumed with */
	struct kvm_sregs entry_sregs; /* runner */
	bool entry_valid;            /* runner */
	enum { FAULT_KEPT, FAULT_ENTRY, FAULT_LOST } fault_state; /* runner: after a triple fault */
	struct kvm_guest_debug dbg;  /* runner: KVM_SET_GUEST_DEBUG as last set */
	bool dbg_set;                /* runner */
	const char *why;             /* runner: last stop, for qThreadExtraInfo (read while nothing runs) */
	pthread_cond_t go;           /* once; waited on with the lock: run */
	/* recording (monitor record on) */
	struct rec_build bld;        /* turn: the entry of the instruction being recorded */
	uint64_t cur[REC_WORDS];     /* turn, walk: registers at the log's cursor */
	struct cpu_state live;       /* lock: state at the end of the log, while replaying */
	enum tstate live_state;      /* lock */
	int live_dead;               /* lock: its dead_status there */
	bool rec_waiting;            /* lock: waits for its turn to record */
	bool rec_trap_due;           /* turn: a kick came after an instruction ran: its step trap is still due */
};

/* A software breakpoint: one patched byte at a guest-physical address fixed
 * when gdb inserts it (see sw_insert).  Breakpoints are found by gdb's
 * address (next, in bps[]) and by their byte (gnext, in gbps[]); two of
 * gdb's addresses on one byte share it, and its orig.  Stopped, as the
 * tables that hold them. */
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
	struct vm *vm;          /* once */
	const char *image;      /* once: the image file gdb may read (qXfer:exec-file, vFile), or NULL */
	struct stub *stub;      /* once */
	pthread_mutex_t lock;   /* once */
	pthread_cond_t stopped; /* once; broadcast with the lock when nothing runs any more */
	int efd;                /* once: readable while a stop is to report (stub_ops.stop_fd) */
	struct tcpu cpus[VM_MAX_CPUS];
	enum tdesc_arch arch;   /* stub: the register layout of the session */
	bool arch_fixed;        /* once (--gdb-arch) */
	bool client;            /* lock (but forward_console reads it without) */
	bool phys, hold;        /* stub (monitor phys, monitor hold) */
	bool quit;              /* lock: the threads are to end */
	bool nonstop;           /* stopped, and lock: non-stop mode (QNonStop:1; nonstop.c) */
	bool paused;            /* lock: non-stop: the stub thread holds every vCPU out of KVM_RUN */
	int nactive;            /* lock: vCPUs inside run_once_locked */
	bool bp_patched;        /* stopped: software breakpoints are written into guest memory */
	bool rec_on;            /* stopped: recording (monitor record on) */
	/* turn, stopped: the interrupt controllers before each interrupt the
	 * recorder delivered, oldest first (record_irq.c; idx: the delivery's
	 * step in the log, counting dropped ones) */
	struct rec_irq_mark { uint64_t idx; struct pc_irq_state s; } irq_marks[REC_IRQ_MARKS];
	int nirq_marks;
	bool live_saved;        /* stopped, and lock at a walk's end: the log's cursor left its end:
				   cpus[].live hold the present */
	bool ptp_valid;         /* turn: ptp/nptp describe ptp_key's page tables */
	bool replay_busy;       /* lock: the replay thread walks the log (counts as running) */
	bool replay_stop;       /* lock: ... and is to stop */
	bool replay_reverse;    /* lock (the replay thread reads it once busy, unchanged then) */
	bool sync_regs;         /* once: KVM_CAP_SYNC_REGS: registers come with each exit */
	unsigned msr_mask;      /* once: the enum state_msr MSRs this KVM reads and writes */
	bool rearm_step;        /* stopped: a step must be re-armed before each KVM_RUN (vmm --probe) */
	bool post_efd;          /* lock: a stop to announce on efd once the lock is dropped */
	bool efd_set;           /* lock: efd is (or is about to be) readable */
	uint64_t wake_mask;     /* lock: vCPU threads to wake once the lock is dropped */
	bool console_gdb;       /* vm->out_lock: forward 0xE9 output to gdb as O packets */
	/* Non-stop forbids O packets: output for gdb waits here for 'monitor
	 * console read' (nonstop.c).  All vm->out_lock. */
	char con_ring[CON_RING];
	size_t con_head, con_len;
	uint64_t con_lost;      /* bytes that did not fit, since the last read */
	bool interrupt_req;     /* lock: Ctrl-C, not reported yet */
	bool waiting;           /* lock: gdb waits for a stop of the resumed threads */
	int last_halted;        /* lock: thread that halted last */
	bool exited;            /* lock (read without by the stub thread while nothing runs) */
	int exit_status;        /* lock, as exited */
	uint64_t seq;           /* lock: events so far */
	int cur_tid;            /* lock; the stub thread, its only writer, reads it without:
				   thread of the last stop */
	struct stub_stop last;  /* stub: the last stop reported, for '?' */
	uint8_t bp_insn;        /* stopped: OPC_INT3 or OPC_HLT, once probed */
	struct swbp *bps[BP_BUCKETS];  /* stopped: by gdb's address */
	struct swbp *gbps[BP_BUCKETS]; /* stopped: by guest-physical address */
	size_t nbp;             /* stopped */
	struct hwslot hw[HW_SLOTS]; /* stopped: DR0-DR3 */
	struct watch watches[MAX_WATCH]; /* stopped: write watchpoints */
	int nwatch;             /* stopped */
	int nptp;               /* turn */
	char memmap[256];       /* stub */
	/* reverse debugging: every vCPU is single-stepped, every write to RAM
	 * trapped (all of RAM read-only), and both logged */
	struct rec_log log;     /* turn (appended), walk (walked) */
	uint64_t rec_limit;     /* once: --record-limit */
	struct tcpu *rec_owner; /* lock: the vCPU recording now (they take turns) */
	pthread_cond_t rec_cond;  /* once; with the lock: a turn came free */
	pthread_cond_t replay_go; /* once; with the lock: the replay thread has work */
	pthread_t replay_thread;  /* once */
	bool replay_started;    /* once: without the replay thread, walks run on the stub thread */
	uint64_t rec_dropped_said; /* lock, or the stub thread while nothing runs */
	struct rec_view view;   /* walk: the entry at the cursor */
	uint64_t *ptp;          /* turn: page-table pages of ptp_key's hierarchy */
	struct mmu_regs ptp_key; /* turn */
	/* While recording, the page-table pages of the recording vCPU's
	 * hierarchy stay writable (rec_tables_open): a page walk that faults on
	 * read-only memory makes KVM emulate the instruction, and KVM on AMD
	 * then puts its data write at the table entry's address when the page
	 * offsets agree.  What an instruction changes there, the guest's own
	 * stores and the CPU's accessed/dirty bits, is found by comparing with
	 * a copy taken before it.  All turn: the recording vCPU's only. */
	bool open_valid;        /* open_gpa[] are the table pages of open_key */
	bool open_full_said;
	int nopen;
	struct mmu_regs open_key;
	uint64_t open_gpa[REC_OPEN_MAX];
	uint8_t (*open_copy)[PAGE_SIZE];
};

enum replay_how {
	REPLAY_LIVE,    /* nothing (more) to walk: resume live */
	REPLAY_DONE,    /* walked: the stop is set */
	REPLAY_THREAD,  /* the replay thread walks */
};

/* The registers a log entry describes: kvm_regs then kvm_sregs, as words. */
#define STATE_WORDS ((int)((sizeof(struct kvm_regs) + sizeof(struct kvm_sregs)) / 8))
_Static_assert(sizeof(struct kvm_regs) % 8 == 0 && sizeof(struct kvm_sregs) % 8 == 0 &&
	       STATE_WORDS <= REC_WORDS, "register state as log words");

/* FPU state and the MSRs of enum state_msr: logged whole, before and after, for the
 * instructions that may change them. */
struct fpblob {
	struct kvm_fpu fpu;
	uint64_t msr[STATE_NMSRS];
};
_Static_assert(sizeof(struct fpblob) <= REC_BLOB_MAX, "FPU blob");

#define ALL_STATE (DIRTY_REGS | DIRTY_SREGS | DIRTY_FPU | DIRTY_MSRS)

/* A vCPU's state before the debugger changes it while recording. */
struct rec_user_regs {
	uint64_t words[REC_WORDS];
	struct fpblob fb;
};

/* ---- between the files ---- */

/* regs.c */
int regs_fetch(struct tcpu *tc, unsigned need);
int regs_flush(struct tcpu *tc, bool step);
void regs_ran(struct tcpu *tc);
struct tcpu *cpu_of(struct gdb_target *t, int tid);
int mmu_regs_of(struct tcpu *tc, struct mmu_regs *mr);
/* The linear address of a RIP value (an offset in CS outside 64-bit mode):
 * gdb's breakpoint addresses are linear in every mode, as its memory
 * addresses are, so a real-mode boot sector at 07C0:0000 is 0x7c00. */
uint64_t code_linear(struct tcpu *tc, uint64_t rip);
extern const uint32_t state_msr_index[STATE_NMSRS];
extern const char *const state_msr_name[STATE_NMSRS];
unsigned regs_msr_probe(struct tcpu *tc);
bool wide_kernel(const struct vm *vm);
/* The layout of the mode the guest is entered in. */
enum tdesc_arch arch_at_start(const struct vm *vm);
enum tdesc_arch arch_of_mode(const struct vm *vm, const struct kvm_sregs *sr);
const char *mode_name(const struct kvm_sregs *sr);
void regs_pack(const struct cpu_state *st, uint64_t *w);
void regs_unpack(const uint64_t *w, struct cpu_state *st);

/* bkpt.c */
struct swbp *bp_find(struct gdb_target *t, uint64_t addr);
void bp_written(struct gdb_target *t, uint64_t addr, const uint8_t *buf, size_t len);
bool hw_find(struct gdb_target *t, enum stub_bp_type type, uint64_t addr);
int bp_set_guest_debug(struct tcpu *tc, bool step);
struct watch *watch_hit(struct gdb_target *t, uint64_t gpa, uint64_t len);
bool watch_page(struct gdb_target *t, uint64_t gpa);
int watch_apply(struct gdb_target *t, const struct watch *gone);
void bp_remove_all(struct gdb_target *t);
struct swbp *bp_ran(struct tcpu *tc, uint64_t pc, bool *alias);
bool bp_trap(struct tcpu *tc, uint64_t pc);
void bp_event(struct tcpu *tc, enum stub_stop_kind kind, uint64_t pc);
bool bp_step_over(struct tcpu *tc, enum vcpu_event *ev);
void bp_patch_all(struct gdb_target *t, bool on);
void bp_unpatch(struct gdb_target *t, uint64_t addr, uint8_t *buf, size_t len);
int bp_insert(struct gdb_target *t, enum stub_bp_type type, uint64_t addr, uint64_t kind,
	      char *why, size_t cap);
int bp_remove(struct gdb_target *t, enum stub_bp_type type, uint64_t addr, uint64_t kind);

/* exits.c */
void set_event(struct tcpu *tc, enum stub_stop_kind kind, int signo, uint64_t addr,
	       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
const char *fault_note(const struct tcpu *tc);
bool classify(struct tcpu *tc, enum vcpu_event ev, bool stepping);

/* watch_write.c: the write of tc's MMIO exit on a watched page (in RAM),
 * done (atomically where the instruction is locked), the exit completed
 * without running on; *hit: the watchpoint it hit, or NULL.  Returns what the
 * completing KVM_RUN said (EV_INTR: nothing more). */
enum vcpu_event watch_write(struct tcpu *tc, struct watch **hit);

/* sched.c */
void unlock_wake(struct gdb_target *t);
void check_stopped_locked(struct gdb_target *t);
void start_locked(struct gdb_target *t);
void halt_all_locked(struct gdb_target *t);
int sched_resume(struct gdb_target *t, const struct stub_resume *r);
int sched_interrupt(struct gdb_target *t);
int sched_get_stop(struct gdb_target *t, struct stub_stop *out);
int sched_threads_start(struct gdb_target *t) __attribute__((warn_unused_result));
void sched_threads_end(struct gdb_target *t);
/* (the rules nonstop.c shares) */
void stop_all_locked(struct gdb_target *t);
void end_by_fault_locked(struct tcpu *tc);
bool pending_locked(struct gdb_target *t);
void run_once_locked(struct tcpu *tc);
bool event_stale(struct tcpu *tc);
bool needs_over(struct tcpu *tc);

/* nonstop.c: non-stop mode.  A pause holds every running vCPU out of KVM_RUN
 * while the stub thread works on the target (gdb still sees them running);
 * hold/release do that around a stub operation, and nothing in all-stop. */
int ns_set(struct gdb_target *t, bool on, char *why, size_t cap);
void ns_pause_locked(struct gdb_target *t);
void ns_unpause_locked(struct gdb_target *t);
void ns_hold(struct gdb_target *t);
void ns_release(struct gdb_target *t);
int ns_resume(struct gdb_target *t, const struct stub_resume *r);
int ns_interrupt(struct gdb_target *t);
int ns_thread_stop(struct gdb_target *t, int tid, struct stub_stop *out);
bool ns_running(struct gdb_target *t, int tid);
void ns_console_put(struct gdb_target *t, const char *buf, size_t len);
size_t ns_console_read(struct gdb_target *t, char *out, size_t cap);

/* record_mem.c */
int rec_tables_open(struct tcpu *tc);
int rec_tables_diff(struct tcpu *tc, struct watch **watch, bool *wrote);
enum vcpu_event rec_run_insn(struct tcpu *tc, bool *wrote, struct watch **watch, bool *zap);
bool rec_dt_writable(struct tcpu *tc, const uint64_t *pre, struct watch **watch,
		     bool *wrote, bool *zap, enum vcpu_event *ev);
enum vcpu_event rec_unprotected(struct tcpu *tc, struct watch **watch, bool *wrote);

/* record_run.c */
bool rec_bp_at(struct tcpu *tc, enum stub_stop_kind *kind);
bool rec_run(struct tcpu *tc, bool step, enum vcpu_event *evp);
/* record_irq.c: deliver the interrupt the PC devices have for tc as one
 * logged step: 1 done, 0 none to take now, -errno (why says it) one the
 * vmm cannot deliver while recording.  rec_irq_mode_ok: tc is in the mode
 * where it can (64-bit, CPL 0). */
int rec_interrupt(struct tcpu *tc, char *why, size_t whylen);
/* History is cut at the log's cursor: the interrupt controllers go back to
 * before the first delivery cut (lock not needed: nothing runs). */
void rec_irq_rewind(struct gdb_target *t);
bool rec_irq_mode_ok(struct tcpu *tc);
void rec_log_user(struct tcpu *tc, const uint64_t *before, const struct fpblob *fb_before);
int rec_user_regs_begin(struct tcpu *tc, struct rec_user_regs *u) __attribute__((warn_unused_result));
void rec_log_mem_end(struct gdb_target *t, struct tcpu *tc);
int rec_start(struct gdb_target *t, char *out, size_t cap);
void rec_stop(struct gdb_target *t);
void rec_status(struct gdb_target *t, char *out, size_t cap);
int rec_log_mem(struct gdb_target *t, struct tcpu *tc, uint64_t addr, const uint8_t *buf,
		size_t len);

/* replay.c */
void *replay_main(void *arg);
enum replay_how rec_replay_locked(struct gdb_target *t, const struct stub_resume *r);

/* monitor.c */
int monitor_run(struct gdb_target *t, const char *cmd, char *out, size_t cap);

#endif
