/* fuzz_stub.c - libFuzzer target: arbitrary client bytes into stub_serve.
 *
 * Byte 0 of an input configures the fake target; the rest is what a client
 * sends, written into one end of a socketpair (then half-closed) before
 * stub_serve runs on the other end until it has read everything.  The fake target is a 4 KiB RAM image at 0x1000 and a few
 * registers of odd sizes; it traps on anything the stub promised never to
 * do (a register write of the wrong size, a resume of a dead thread), and
 * touches every byte of every buffer the stub hands it, so ASan sees a
 * buffer smaller than the stub claimed.
 *
 * Config byte:
 *   bits 0-1  threads: 1 | 1..3 | 1..64 | {2, 63, 64, 65, 200}
 *   bit 2     a resume runs until Ctrl-C (else it stops at once)
 *   bit 3     a 256-byte receive buffer, so "packet too big" is reachable
 *   bit 4     stops carry a console message (O packets before the stop)
 *   bit 5     a target with only the register and memory operations
 *   bits 6-7  which stop kind the next stops start from
 *
 * Built with libFuzzer by `make fuzz`; tests/unit_fuzz_replay.c includes this
 * file with FUZZ_ENTRY renamed to replay the seed corpus in `make test`.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stub/internal.h"

#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

#define FS_RAM_BASE 0x1000u
#define FS_RAM_SIZE 0x1000u
#define FS_NREGS 7
#define FS_MAX_TIDS 64

/* Sizes in target-description order; 0 = "unknown" ends g. */
static const int fs_reg_size[FS_NREGS] = { 8, 4, 2, 16, 64, 10, 0 };

struct fs_target {
	uint8_t cfg;
	uint8_t ram[FS_RAM_SIZE];
	uint8_t regs[FS_NREGS][64];
	int tids[FS_MAX_TIDS];
	int ntids;
	int pipe[2];
	bool running, exited;
	bool nonstop;     /* QNonStop:1: resumes while running are fine */
	int pending;      /* stops posted, not yet fetched */
	unsigned stops;   /* stops fetched so far: picks the next kind */
	struct stub_stop current;
};

static struct fs_target FT;

#define FS_CHECK(cond)                                                           \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "fuzz_stub: broken promise: %s (%s:%d)\n", \
				#cond, __FILE__, __LINE__);                      \
			abort();                                                 \
		}                                                                \
	} while (0)

static bool fs_alive(int tid)
{
	for (int i = 0; i < FT.ntids; i++)
		if (FT.tids[i] == tid)
			return true;
	return false;
}

static void fs_post(void)
{
	FT.pending++;
	(void)!write(FT.pipe[1], "s", 1);
}

static const char *fs_xml(void *t, const char *annex)
{
	(void)t;
	if (!strcmp(annex, "target.xml"))
		return "<?xml version=\"1.0\"?><!-- $#}* --><target version=\"1.0\">"
		       "<xi:include href=\"more.xml\"/></target>";
	if (!strcmp(annex, "more.xml"))
		return "<feature name=\"fuzz\"/>";
	return NULL;
}

static const char *fs_memory_map(void *t)
{
	(void)t;
	return "<memory-map><memory type=\"ram\" start=\"0x1000\" length=\"0x1000\"/></memory-map>";
}

static int fs_reg_count(void *t)
{
	(void)t;
	return FS_NREGS;
}

static int fs_expedite(void *t, int *regnos, int max)
{
	(void)t;
	FS_CHECK(max >= 0);
	if (max < 3)
		return 0;
	regnos[0] = 0;
	regnos[1] = 4;
	regnos[2] = FS_NREGS - 1; /* unknown: must be skipped */
	return 3;
}

static int fs_read_reg(void *t, int tid, int regno, uint8_t *buf, size_t cap)
{
	(void)t;
	FS_CHECK(cap >= 64);
	memset(buf, 0xa5, cap); /* the whole buffer the stub claims to have */
	if (!fs_alive(tid) || regno < 0 || regno >= FS_NREGS)
		return -ESRCH;
	memcpy(buf, FT.regs[regno], (size_t)fs_reg_size[regno]);
	buf[0] ^= (uint8_t)tid;
	return fs_reg_size[regno];
}

static int fs_write_reg(void *t, int tid, int regno, const uint8_t *buf, size_t len)
{
	(void)t;
	FS_CHECK(regno >= 0 && regno < FS_NREGS && fs_reg_size[regno] > 0);
	FS_CHECK(len == (size_t)fs_reg_size[regno]);
	if (!fs_alive(tid))
		return -ESRCH;
	memcpy(FT.regs[regno], buf, len);
	return 0;
}

static long fs_read_mem(void *t, int tid, uint64_t addr, uint8_t *buf, size_t len)
{
	(void)t, (void)tid;
	FS_CHECK(len <= STUB_PACKET_SIZE);
	if (len)
		memset(buf, 0x5a, len);
	if (addr < FS_RAM_BASE || addr - FS_RAM_BASE >= FS_RAM_SIZE)
		return -EFAULT;
	addr -= FS_RAM_BASE;
	if (len > FS_RAM_SIZE - addr)
		len = FS_RAM_SIZE - addr;
	memcpy(buf, FT.ram + addr, len);
	return (long)len;
}

static int fs_write_mem(void *t, int tid, uint64_t addr, const uint8_t *buf, size_t len)
{
	volatile uint8_t sink = 0;

	(void)t, (void)tid;
	FS_CHECK(len > 0 && len <= STUB_PACKET_SIZE);
	for (size_t i = 0; i < len; i++)
		sink ^= buf[i];
	(void)sink;
	if (addr < FS_RAM_BASE || addr - FS_RAM_BASE >= FS_RAM_SIZE ||
	    len > FS_RAM_SIZE - (addr - FS_RAM_BASE))
		return -EFAULT;
	memcpy(FT.ram + (addr - FS_RAM_BASE), buf, len);
	return 0;
}

static int fs_bp(void *t, enum stub_bp_type type, uint64_t addr, uint64_t kind)
{
	(void)t;
	FS_CHECK(type <= STUB_WP_ACCESS);
	if (kind == 0 || kind > 8)
		return -EINVAL;
	return addr < FS_RAM_BASE ? -EFAULT : 0;
}

static int fs_insert_bp(void *t, enum stub_bp_type type, uint64_t addr, uint64_t kind, char *why,
			size_t cap)
{
	FS_CHECK(why && cap > 0);
	if (type == STUB_BP_HW && addr & 1) /* a refusal with a reason */
		snprintf(why, cap, "odd address 0x%llx", (unsigned long long)addr);
	return type == STUB_BP_HW && addr & 1 ? -EOPNOTSUPP : fs_bp(t, type, addr, kind);
}

static int fs_resume(void *t, const struct stub_resume *r)
{
	bool any = false;

	(void)t;
	FS_CHECK((FT.nonstop || !FT.running) && !FT.exited);
	FS_CHECK(r->nthreads >= 0 && r->nthreads <= STUB_MAX_THREADS);
	for (int i = 0; i < STUB_MAX_THREADS; i++) {
		FS_CHECK(r->action[i] == STUB_CONTINUE || r->action[i] == STUB_STEP ||
			 r->action[i] == STUB_STAY ||
			 (FT.nonstop && r->action[i] == STUB_STOP_THREAD));
		if (r->action[i] != STUB_STAY) {
			FS_CHECK(i < r->nthreads && fs_alive(i + 1));
			any = true;
		}
	}
	if (!any)
		return -EINVAL;
	FT.running = true;
	if (!(FT.cfg & 4))
		fs_post();
	return 0;
}

static int fs_interrupt(void *t)
{
	(void)t;
	if (FT.running && !FT.pending)
		fs_post();
	return 0;
}

static int fs_stop_fd(void *t)
{
	(void)t;
	return FT.pipe[0];
}

static int fs_get_stop(void *t, struct stub_stop *out)
{
	static const enum stub_stop_kind kinds[] = {
		STUB_STOP_SIGNAL, STUB_STOP_SWBREAK, STUB_STOP_HWBREAK, STUB_STOP_WATCH,
		STUB_STOP_RWATCH, STUB_STOP_AWATCH, STUB_STOP_SIGNAL, STUB_STOP_EXITED,
	};
	char c;

	(void)t;
	if (!FT.pending)
		return -EAGAIN;
	FT.pending--;
	(void)!read(FT.pipe[0], &c, 1);
	memset(out, 0, sizeof(*out));
	out->kind = kinds[(FT.stops++ + (FT.cfg >> 6)) % 8];
	out->tid = FT.tids[FT.stops % (unsigned)FT.ntids];
	out->signo = (int)(FT.stops * 7 % 256);
	out->addr = FS_RAM_BASE + FT.stops;
	out->status = (int)FT.stops;
	out->log_begin = FT.stops % 3 == 0;
	if (FT.cfg & 0x10)
		snprintf(out->message, sizeof(out->message), "stop %u: $#}*\n", FT.stops);
	FT.running = false;
	FT.exited = out->kind == STUB_STOP_EXITED;
	FT.current = *out;
	return 0;
}

static int fs_current_stop(void *t, struct stub_stop *out)
{
	(void)t;
	*out = FT.current;
	return 0;
}

static int fs_threads(void *t, int *tids, int max)
{
	(void)t;
	FS_CHECK(max >= 1);
	memcpy(tids, FT.tids, sizeof(int) * (size_t)(FT.ntids < max ? FT.ntids : max));
	return FT.ntids; /* may exceed max: the stub must clamp */
}

static int fs_thread_info(void *t, int tid, char *buf, size_t cap)
{
	(void)t;
	FS_CHECK(fs_alive(tid) && cap > 0);
	memset(buf, 'x', cap - 1); /* as long as allowed */
	buf[cap - 1] = '\0';
	return 0;
}

/* Names as long as allowed, of what XML and JSON must escape. */
static int fs_thread_desc(void *t, int tid, struct stub_thread_desc *out)
{
	static const char odd[] = "<&>\"'\\\x01$#}*";

	(void)t;
	FS_CHECK(fs_alive(tid));
	for (size_t i = 0; i < sizeof(out->name) - 1; i++)
		out->name[i] = odd[(i + (size_t)tid) % (sizeof(odd) - 1)];
	out->name[sizeof(out->name) - 1] = '\0';
	out->core = tid % 3 ? tid : -1;
	return 0;
}

static int fs_arch_info(void *t, struct stub_arch_info *out)
{
	(void)t;
	memset(out->triple, 'x', sizeof(out->triple) - 1);
	out->triple[sizeof(out->triple) - 1] = '\0';
	out->ptr_size = 8;
	return 0;
}

/* A name that exists wherever the fuzzer runs, so that seeds open it. */
static int fs_exec_file(void *t, char *path, size_t cap)
{
	(void)t;
	FS_CHECK(cap >= PATH_MAX);
	snprintf(path, cap, "/proc/self/exe");
	return 0;
}

static int fs_pc_after_break(void *t, int tid, bool after)
{
	(void)t;
	FS_CHECK(fs_alive(tid));
	FT.regs[0][0] += after ? 1 : -1;
	return 0;
}

static int fs_monitor(void *t, const char *cmd, char *out, size_t cap)
{
	(void)t;
	FS_CHECK(cap > 0);
	if (!strcmp(cmd, "big")) {
		memset(out, '$', cap - 1);
		out[cap - 1] = '\0';
		return 0;
	}
	if (!strncmp(cmd, "echo ", 5)) {
		snprintf(out, cap, "%s\n", cmd + 5);
		return 0;
	}
	if (!strcmp(cmd, "fail"))
		return -EIO;
	if (!strcmp(cmd, "odd"))
		return -1000; /* out of the errno range */
	return -ENOENT;
}

static void fs_detach(void *t)
{
	(void)t;
	/* It would run on detached; the next session finds it stopped. */
	FT.running = false;
}

static void fs_kill(void *t)
{
	(void)t;
	FT.exited = true;
}

static void fs_attach(void *t)
{
	(void)t;
	FT.nonstop = false;
}

static int fs_nonstop(void *t, bool on, char *why, size_t cap)
{
	(void)t;
	FS_CHECK(why && cap > 0);
	if (on && FT.cfg & 0x20) { /* (never: the minimal target has no nonstop) */
		snprintf(why, cap, "refused");
		return -EBUSY;
	}
	FT.nonstop = on;
	FT.running = false; /* it stops every thread first */
	return 0;
}

/* Non-stop '?': odd thread ids stopped, even ones running. */
static int fs_thread_stop(void *t, int tid, struct stub_stop *out)
{
	(void)t;
	FS_CHECK(fs_alive(tid));
	if (!(tid & 1))
		return -EBUSY;
	*out = FT.current;
	out->tid = tid;
	return 0;
}

static const struct stub_ops fs_full_ops = {
	.reverse = true,
	.exec_file = fs_exec_file,
	.xml = fs_xml,
	.memory_map = fs_memory_map,
	.arch_info = fs_arch_info,
	.reg_count = fs_reg_count,
	.expedite = fs_expedite,
	.read_reg = fs_read_reg,
	.write_reg = fs_write_reg,
	.read_mem = fs_read_mem,
	.write_mem = fs_write_mem,
	.insert_bp = fs_insert_bp,
	.remove_bp = fs_bp,
	.resume = fs_resume,
	.interrupt = fs_interrupt,
	.stop_fd = fs_stop_fd,
	.get_stop = fs_get_stop,
	.current_stop = fs_current_stop,
	.pc_after_break = fs_pc_after_break,
	.threads = fs_threads,
	.thread_info = fs_thread_info,
	.thread_desc = fs_thread_desc,
	.monitor = fs_monitor,
	.detach = fs_detach,
	.kill = fs_kill,
	.attach = fs_attach,
	.nonstop = fs_nonstop,
	.thread_stop = fs_thread_stop,
};

static const struct stub_ops fs_min_ops = {
	.reg_count = fs_reg_count,
	.read_reg = fs_read_reg,
	.write_reg = fs_write_reg,
	.read_mem = fs_read_mem,
	.write_mem = fs_write_mem,
};

static void fs_setup(uint8_t cfg)
{
	static const int odd[] = { 2, 63, 64, 65, 200 };
	uint8_t c;

	FT.cfg = cfg;
	for (unsigned i = 0; i < FS_RAM_SIZE; i++)
		FT.ram[i] = (uint8_t)(i * 13 + 1);
	for (int r = 0; r < FS_NREGS; r++)
		for (int i = 0; i < 64; i++)
			FT.regs[r][i] = (uint8_t)(r * 16 + i);
	switch (cfg & 3) {
	case 0:
		FT.ntids = 1;
		FT.tids[0] = 1;
		break;
	case 1:
	case 2:
		FT.ntids = (cfg & 3) == 1 ? 3 : 64;
		for (int i = 0; i < FT.ntids; i++)
			FT.tids[i] = i + 1;
		break;
	default:
		FT.ntids = 5;
		memcpy(FT.tids, odd, sizeof(odd));
		break;
	}
	FT.running = FT.exited = FT.nonstop = false;
	FT.pending = 0;
	FT.stops = 0;
	memset(&FT.current, 0, sizeof(FT.current));
	FT.current.kind = STUB_STOP_SIGNAL;
	FT.current.signo = GDB_SIGTRAP;
	FT.current.tid = FT.tids[0];
	while (read(FT.pipe[0], &c, 1) == 1)
		;
}

static struct stub *fs_stub_full, *fs_stub_min;

static int fs_init(void)
{
	if (fs_stub_full)
		return 0;
	if (pipe2(FT.pipe, O_CLOEXEC | O_NONBLOCK))
		return -1;
	fs_stub_full = stub_new(&fs_full_ops, &FT);
	fs_stub_min = stub_new(&fs_min_ops, &FT);
	return fs_stub_full && fs_stub_min ? 0 : -1;
}

int FUZZ_ENTRY(const uint8_t *data, size_t size);

int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
	int big = 1 << 20;
	struct stub *s;
	int sv[2];

	if (size < 1 || fs_init())
		return 0;
	fs_setup(data[0]);
	s = data[0] & 0x20 ? fs_stub_min : fs_stub_full;
	/* A session starts from a fresh stub: undo what the last one left. */
	s->exited = false;
	s->exit_status = 0;
	pkt_rx_init(&s->conn.rx, s->conn.rxbuf, data[0] & 8 ? 256 : STUB_PACKET_SIZE);
	/* Non-blocking: a reply that finds the socket full ends the session as
	 * a vanished client would; no thread hand-offs, which cost more than
	 * the stub's work on our machines. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv))
		return 0;
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	(void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	for (size_t off = 1; off < size;) {
		ssize_t n = send(sv[1], data + off, size - off, MSG_NOSIGNAL);

		if (n <= 0)
			break; /* the rest does not fit: the client sends less */
		off += (size_t)n;
	}
	shutdown(sv[1], SHUT_WR);
	if (s->ops->attach)
		s->ops->attach(s->t);
	(void)stub_serve(s, sv[0]);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
