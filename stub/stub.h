/* stub.h - the GDB Remote Serial Protocol engine and the target it drives.
 *
 * The stub knows packets, not KVM.  A target fills in struct stub_ops; a NULL
 * operation means "unsupported" and the stub answers such packets with an
 * empty reply.  Operations return 0 (or a byte count where said) on success
 * and -errno on failure; the stub turns a failure into an "Exx" reply and the
 * session goes on.
 *
 * Threads: gdb thread ids are 1..N (one per vCPU), N at most
 * STUB_MAX_THREADS.  Every per-thread
 * operation takes the thread id the client selected (Hg / Hc), already
 * resolved by the stub (never 0 or -1).
 *
 * Execution model (all-stop): resume() starts the target and returns at once.
 * The stub then waits on its socket and on stop_fd(); when stop_fd() becomes
 * readable the stub calls get_stop() and sends the stop reply.  A 0x03 byte
 * from the client calls interrupt(), which must make a stop appear soon.
 *
 * Non-stop (a target with nonstop(), after the client's QNonStop:1): each
 * thread runs and stops on its own.  resume() touches only the threads
 * whose action is not STUB_STAY (a thread already running keeps running);
 * STUB_STOP_THREAD asks a running thread to stop, which it reports as a
 * stop with signal 0.  Every stop comes through stop_fd()/get_stop() as in
 * all-stop, but while other threads run, and the stub tells the client of
 * each (%Stop notifications).  The other operations are called while threads
 * run: the target answers them as if nothing ran (a consistent view of
 * memory and breakpoints), and a register of a running thread is -EBUSY.
 * interrupt() (vCtrlC) stops one running thread, reported with GDB_SIGINT.
 */
#ifndef STUB_STUB_H
#define STUB_STUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STUB_PACKET_SIZE 0x20000 /* advertised PacketSize: 128 KiB */
#define STUB_MAX_THREADS 64      /* thread ids 1..64 */

/* GDB's own signal numbers (include/gdb/signals.def), which stop replies
 * carry: the host's <signal.h> may number them otherwise. */
#define GDB_SIGINT 2   /* interrupted (Ctrl-C) */
#define GDB_SIGILL 4
#define GDB_SIGTRAP 5  /* breakpoint, step, watchpoint */
#define GDB_SIGSEGV 11

enum stub_bp_type { /* numbering of Z/z packets */
	STUB_BP_SW = 0,
	STUB_BP_HW = 1,
	STUB_WP_WRITE = 2,
	STUB_WP_READ = 3,
	STUB_WP_ACCESS = 4,
};

enum stub_stop_kind {
	STUB_STOP_SIGNAL,  /* T<signo>: step done, Ctrl-C, fault */
	STUB_STOP_SWBREAK, /* T05 swbreak: */
	STUB_STOP_HWBREAK, /* T05 hwbreak: */
	STUB_STOP_WATCH,   /* T05 watch:addr */
	STUB_STOP_RWATCH,  /* T05 rwatch:addr */
	STUB_STOP_AWATCH,  /* T05 awatch:addr */
	STUB_STOP_EXITED,  /* W<status> */
};

struct stub_stop {
	enum stub_stop_kind kind;
	int tid;        /* thread that stopped */
	int signo;      /* for STUB_STOP_SIGNAL: GDB_SIGTRAP, GDB_SIGINT ... */
	uint64_t addr;  /* data address for watchpoints */
	int status;     /* exit status for STUB_STOP_EXITED */
	/* Reverse execution reached the start of the target's log (replaylog:
	 * begin): gdb says "No more reverse-execution history". */
	bool log_begin;
	char message[256]; /* if non-empty, sent as an O packet before the stop reply */
};

/* STUB_RANGE (vCont;r): step, and keep stepping while the thread's pc stays
 * in [range_start, range_end), then report it like a step. */
enum stub_action { STUB_CONTINUE, STUB_STEP, STUB_STAY, STUB_RANGE, STUB_STOP_THREAD };

/* What each thread does on resume; the stub fills one entry per thread id
 * (index tid - 1) from c / s / vCont, STUB_STAY for threads left stopped
 * (non-stop: left as they are).  STUB_STOP_THREAD (vCont;t) only in
 * non-stop. */
struct stub_resume {
	int nthreads;
	bool reverse;    /* bs / bc: STEP or CONTINUE backwards (ops->reverse) */
	enum stub_action action[STUB_MAX_THREADS];
	uint64_t range_start[STUB_MAX_THREADS], range_end[STUB_MAX_THREADS]; /* for STUB_RANGE */
};

/* The machine as lldb asks about it (qHostInfo, qProcessInfo). */
struct stub_arch_info {
	char triple[64];  /* LLVM target triple, e.g. "x86_64-unknown-none" */
	int ptr_size;     /* bytes */
	bool big_endian;
};

/* A thread as qXfer:threads:read and lldb's jThreadsInfo show it. */
struct stub_thread_desc {
	char name[64];
	int core;         /* the processor it runs on; -1: unknown */
};

struct stub_ops {
	/* The target implements STUB_RANGE (advertised as vCont;r). */
	bool range_step;
	/* The target runs backwards: ReverseStep+ / ReverseContinue+, bs / bc
	 * reach resume() with reverse set. */
	bool reverse;

	/* The absolute name of the file the target runs, to load symbols from
	 * (qXfer:exec-file:read, and vFile reads of that file only): 0, or
	 * -ENOENT if there is none (a flat image). */
	int (*exec_file)(void *t, char *path, size_t cap);

	/* Target description: the XML for an annex ("target.xml", or an include
	 * it names).  Returns NULL for an unknown annex. */
	const char *(*xml)(void *t, const char *annex);
	/* Memory map XML for qXfer:memory-map:read, or NULL. */
	const char *(*memory_map)(void *t);
	/* The machine the target description describes, for lldb. */
	int (*arch_info)(void *t, struct stub_arch_info *out);

	/* Number of registers in the layout currently described, in the order
	 * of the target description (regnum 0..n-1). */
	int (*reg_count)(void *t);
	/* Registers to send with every T stop reply (so a step costs one round
	 * trip): fills regnos, returns how many (at most max). */
	int (*expedite)(void *t, int *regnos, int max);
	/* Read register regno of thread tid into buf (cap bytes, at least 64);
	 * returns its size in bytes, 0 if unknown, -errno on error. */
	int (*read_reg)(void *t, int tid, int regno, uint8_t *buf, size_t cap);
	/* Write register regno from len bytes (len must equal its size). */
	int (*write_reg)(void *t, int tid, int regno, const uint8_t *buf, size_t len);

	/* Read guest-virtual memory as seen by thread tid.  Returns the number of
	 * bytes read (may be fewer than len if a later page is unmapped) or
	 * -errno (-EFAULT) if the first byte cannot be read. */
	long (*read_mem)(void *t, int tid, uint64_t addr, uint8_t *buf, size_t len);
	/* Write all len bytes or nothing: 0 or -errno. */
	int (*write_mem)(void *t, int tid, uint64_t addr, const uint8_t *buf, size_t len);

	/* A refusal may say why in one line (why, cap bytes; left empty
	 * otherwise): the reply is then "E.NN.why" instead of "ENN".  gdb 13
	 * shows the text after the second '.' for a hardware breakpoint
	 * ("Remote failure reply: why") and nothing for the other types, so a
	 * target says it on its own side too. */
	int (*insert_bp)(void *t, enum stub_bp_type type, uint64_t addr, uint64_t kind, char *why,
			 size_t cap);
	int (*remove_bp)(void *t, enum stub_bp_type type, uint64_t addr, uint64_t kind);

	int (*resume)(void *t, const struct stub_resume *r);
	int (*interrupt)(void *t);
	/* fd that is readable while a stop is pending (level-triggered is fine
	 * as long as get_stop() consumes it). */
	int (*stop_fd)(void *t);
	/* Fetch the pending stop: 0, or -EAGAIN if none yet. */
	int (*get_stop)(void *t, struct stub_stop *out);
	/* Why the target is stopped now (for '?'). */
	int (*current_stop)(void *t, struct stub_stop *out);
	/* Stops report a software breakpoint with the PC on it (the target
	 * backs it up over the breakpoint instruction).  A client that did not
	 * ask for swbreak: (gdb before 7.10, or with its swbreak feature packet
	 * off) expects the PC where the instruction left it, as native
	 * debugging sees it, and backs it up itself (gdb's decr_pc_after_break).
	 * For such a client the stub calls this before it reports a
	 * STUB_STOP_SWBREAK of a thread it had continued: move thread tid's PC
	 * past the breakpoint instruction (after), or back onto it (!after: the
	 * client went away before it did so).  NULL, or an error: it stays. */
	int (*pc_after_break)(void *t, int tid, bool after);

	/* Non-stop mode on or off (QNonStop:1 / 0): the target stops every
	 * thread first (gdb sends it before it resumes any, but a client may
	 * not); 0, or -errno with the reason in why (cap bytes).  NULL: the
	 * target is all-stop only. */
	int (*nonstop)(void *t, bool on, char *why, size_t cap);
	/* Non-stop: 0 and the thread's stop (its last one reported, or a stop
	 * with signal 0) if thread tid is stopped, -EBUSY if it runs ('?'). */
	int (*thread_stop)(void *t, int tid, struct stub_stop *out);

	/* Thread ids currently alive, up to max; returns how many. */
	int (*threads)(void *t, int *tids, int max);
	/* Human-readable description for qThreadExtraInfo (and the text of a
	 * thread in qXfer:threads:read). */
	int (*thread_info)(void *t, int tid, char *buf, size_t cap);
	/* Its name and processor (qXfer:threads:read is offered with it). */
	int (*thread_desc)(void *t, int tid, struct stub_thread_desc *out);

	/* qRcmd: run a monitor command, write its text output (NUL-terminated)
	 * into out.  Returns 0, or -ENOENT for an unknown command. */
	int (*monitor)(void *t, const char *cmd, char *out, size_t cap);

	/* Debugger went away (D or lost connection): remove every breakpoint and
	 * watchpoint and let the target run on. */
	void (*detach)(void *t);
	/* k: end the target (the client is told "X09": ended by SIGKILL). */
	void (*kill)(void *t);
	/* A client attached: stop the target (if running) so the first '?' sees
	 * a stopped target. */
	void (*attach)(void *t);
};

struct stub;

/* A stub bound to a target.  Owns nothing of the target. */
struct stub *stub_new(const struct stub_ops *ops, void *target);
void stub_free(struct stub *s);

/* Serve one client on a connected fd until it detaches, kills, or vanishes.
 * Returns 0 after a detach or disconnect, 1 after 'k' (target killed), or
 * -errno on an internal error.  Does not close fd. */
int stub_serve(struct stub *s, int fd);

/* The whole life of a debug server: accept clients on a listening fd one at
 * a time (a second client while one is attached gets a clear refusal and is
 * closed), serve each, and go on after a detach or disconnect.  While no
 * client is attached it still watches stop_fd(): a STUB_STOP_EXITED stop ends
 * it.  Returns the exit status of the target (EXITED), or -1 after 'k'. */
int stub_run(struct stub *s, int listen_fd);

/* Listening: "[HOST:]PORT" or "unix:PATH".  Returns a listening fd or
 * -errno and fills err with a one-line reason. */
int stub_listen(const char *spec, char *err, size_t errlen);

/* Send an O (console output) packet to the attached client, if any, from any
 * thread.  Safe to call when no client is attached (no-op). */
void stub_console(struct stub *s, const char *buf, size_t len);

#endif
