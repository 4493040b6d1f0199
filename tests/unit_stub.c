/* unit_stub.c - the protocol engine against a fake target over a socketpair.
 *
 * stub_serve (or stub_run) runs in a thread; the test thread plays gdb with
 * raw packets and checks exact replies.  Every read has a timeout so a stub
 * bug fails a test instead of hanging it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "stub/packet.h"
#include "stub/stub.h"
#include "tests/test.h"

#define TIMEOUT_MS 3000

/* ---- the fake target ---------------------------------------------------- */

#define RAM_SIZE 0x10000
#define NTHREADS 3
#define NREGS 5 /* r4 reads as "unknown" (size 0) */

static const int reg_size[NREGS] = { 8, 4, 2, 16, 0 };

static const char fake_xml[] =
	"<?xml version=\"1.0\"?><!-- specials: $ # } * --><target version=\"1.0\">"
	"<architecture>fake</architecture><xi:include href=\"extra.xml\"/></target>";
static const char fake_map[] =
	"<memory-map><memory type=\"ram\" start=\"0x0\" length=\"0x10000\"/></memory-map>";

struct fake {
	pthread_mutex_t lock;
	uint8_t ram[RAM_SIZE];
	uint8_t regs[NTHREADS + 1][NREGS][16];
	int pipe[2];
	struct stub_stop queue[16];
	int qlen;
	struct stub_stop current;
	bool running, interrupt_posted;

	bool stop_on_step;          /* a step posts SIGTRAP for its thread */
	bool has_on_continue;
	struct stub_stop on_continue;

	struct stub_resume last_resume;
	int resumes, interrupts, detaches, kills, attaches;
	int bp_type;
	uint64_t bp_addr, bp_kind;
	int bp_calls;
	int reg_writes, mem_writes;
	size_t last_read_len;
	int pc_after_calls, pc_after_tid;
	bool flat;                  /* no file to load symbols from */
	bool nonstop, refuse_nonstop;
	unsigned stopped_mask;      /* non-stop: bit tid-1 set: the thread is stopped */
};

static struct fake F;

static void fake_post(const struct stub_stop *st)
{
	pthread_mutex_lock(&F.lock);
	if (F.qlen < 16) {
		F.queue[F.qlen++] = *st;
		(void)!write(F.pipe[1], "s", 1);
	}
	pthread_mutex_unlock(&F.lock);
}

static void fake_init(void)
{
	static bool once;

	if (!once) {
		pthread_mutex_init(&F.lock, NULL);
		F.pipe[0] = F.pipe[1] = -1;
		once = true;
	}
	if (F.pipe[0] >= 0) {
		close(F.pipe[0]);
		close(F.pipe[1]);
	}
	pthread_mutex_t lock = F.lock;

	memset(&F, 0, sizeof(F));
	F.lock = lock;
	if (pipe2(F.pipe, O_CLOEXEC | O_NONBLOCK))
		abort();
	for (int i = 0; i < RAM_SIZE; i++)
		F.ram[i] = (uint8_t)(i * 7 + 3);
	for (int t = 1; t <= NTHREADS; t++)
		for (int r = 0; r < NREGS; r++)
			for (int i = 0; i < 16; i++)
				F.regs[t][r][i] = (uint8_t)(t << 4 | ((r + i) & 15));
	F.current.kind = STUB_STOP_SIGNAL;
	F.current.signo = GDB_SIGTRAP;
	F.current.tid = 1;
	F.stop_on_step = true;
}

static const char *f_xml(void *t, const char *annex)
{
	(void)t;
	if (!strcmp(annex, "target.xml"))
		return fake_xml;
	if (!strcmp(annex, "extra.xml"))
		return "<feature/>";
	return NULL;
}

static const char *f_memory_map(void *t)
{
	(void)t;
	return fake_map;
}

static int f_reg_count(void *t)
{
	(void)t;
	return NREGS;
}

static int f_expedite(void *t, int *regnos, int max)
{
	(void)t;
	if (max < 2)
		return 0;
	regnos[0] = 0;
	regnos[1] = 2;
	return 2;
}

static int f_read_reg(void *t, int tid, int regno, uint8_t *buf, size_t cap)
{
	(void)t;
	if (tid < 1 || tid > NTHREADS || regno < 0 || regno >= NREGS)
		return -EINVAL;
	if ((size_t)reg_size[regno] > cap)
		return -ENOSPC;
	memcpy(buf, F.regs[tid][regno], (size_t)reg_size[regno]);
	return reg_size[regno];
}

static int f_write_reg(void *t, int tid, int regno, const uint8_t *buf, size_t len)
{
	(void)t;
	F.reg_writes++;
	if (tid < 1 || tid > NTHREADS || regno < 0 || regno >= NREGS || !reg_size[regno])
		return -EINVAL;
	if (len != (size_t)reg_size[regno])
		return -EINVAL;
	memcpy(F.regs[tid][regno], buf, len);
	return 0;
}

static long f_read_mem(void *t, int tid, uint64_t addr, uint8_t *buf, size_t len)
{
	(void)t, (void)tid;
	F.last_read_len = len;
	if (addr >= RAM_SIZE)
		return -EFAULT;
	if (len > RAM_SIZE - addr)
		len = RAM_SIZE - addr;
	memcpy(buf, F.ram + addr, len);
	return (long)len;
}

static int f_write_mem(void *t, int tid, uint64_t addr, const uint8_t *buf, size_t len)
{
	(void)t, (void)tid;
	F.mem_writes++;
	if (addr >= RAM_SIZE || len > RAM_SIZE - addr)
		return -EFAULT;
	memcpy(F.ram + addr, buf, len);
	return 0;
}

static int f_bp(void *t, enum stub_bp_type type, uint64_t addr, uint64_t kind)
{
	(void)t;
	F.bp_calls++;
	F.bp_type = (int)type;
	F.bp_addr = addr;
	F.bp_kind = kind;
	return addr == 0xdead ? -EINVAL : 0;
}

/* 0xbad: refused with a reason (holding the characters framing reserves) */
static int f_insert_bp(void *t, enum stub_bp_type type, uint64_t addr, uint64_t kind, char *why,
		       size_t cap)
{
	if (addr == 0xbad) {
		snprintf(why, cap, "no such thing here (see $x #y}*)\n");
		return -EOPNOTSUPP;
	}
	return f_bp(t, type, addr, kind);
}

static int f_resume(void *t, const struct stub_resume *r)
{
	(void)t;
	pthread_mutex_lock(&F.lock);
	F.last_resume = *r;
	F.resumes++;
	F.running = true;
	F.interrupt_posted = false;
	pthread_mutex_unlock(&F.lock);
	for (int i = 0; i < r->nthreads; i++) {
		if (r->action[i] == STUB_STEP && F.stop_on_step) {
			struct stub_stop st = { .kind = STUB_STOP_SIGNAL, .signo = GDB_SIGTRAP, .tid = i + 1 };

			fake_post(&st);
			return 0;
		}
	}
	if (F.has_on_continue)
		fake_post(&F.on_continue);
	return 0;
}

/* Register 0 plays the PC: moved past a one-byte breakpoint instruction. */
static int f_pc_after_break(void *t, int tid, bool after)
{
	(void)t;
	F.pc_after_calls++;
	F.pc_after_tid = tid;
	F.regs[tid][0][0] += after ? 1 : -1;
	return 0;
}

static int f_interrupt(void *t)
{
	(void)t;
	F.interrupts++;
	if (F.running && !F.interrupt_posted) {
		struct stub_stop st = { .kind = STUB_STOP_SIGNAL, .signo = GDB_SIGINT, .tid = 1 };

		F.interrupt_posted = true;
		fake_post(&st);
	}
	return 0;
}

static int f_stop_fd(void *t)
{
	(void)t;
	return F.pipe[0];
}

static int f_get_stop(void *t, struct stub_stop *out)
{
	char c;

	(void)t;
	pthread_mutex_lock(&F.lock);
	if (!F.qlen) {
		pthread_mutex_unlock(&F.lock);
		return -EAGAIN;
	}
	*out = F.queue[0];
	memmove(F.queue, F.queue + 1, sizeof(F.queue[0]) * (size_t)--F.qlen);
	(void)!read(F.pipe[0], &c, 1);
	F.current = *out;
	F.running = false;
	pthread_mutex_unlock(&F.lock);
	return 0;
}

static int f_current_stop(void *t, struct stub_stop *out)
{
	(void)t;
	*out = F.current;
	return 0;
}

static int f_threads(void *t, int *tids, int max)
{
	int n = 0;

	(void)t;
	for (int i = 1; i <= NTHREADS && n < max; i++)
		tids[n++] = i;
	return n;
}

static int f_thread_info(void *t, int tid, char *buf, size_t cap)
{
	(void)t;
	snprintf(buf, cap, "vCPU %d", tid);
	return 0;
}

/* Thread 3's name holds what XML and JSON escape; thread 2's core is unknown. */
static int f_thread_desc(void *t, int tid, struct stub_thread_desc *out)
{
	(void)t;
	if (tid < 1 || tid > NTHREADS)
		return -ENOENT;
	snprintf(out->name, sizeof(out->name), tid == 3 ? "a\"b<c>&'\\" : "cpu%d", tid);
	out->core = tid == 2 ? -1 : 2 * tid;
	return 0;
}

/* The image is this test program itself: a real file of known bytes. */
static int f_exec_file(void *t, char *path, size_t cap)
{
	char buf[PATH_MAX];

	(void)t;
	if (F.flat || !realpath("/proc/self/exe", buf) || strlen(buf) >= cap)
		return -ENOENT;
	strcpy(path, buf);
	return 0;
}

static int f_arch_info(void *t, struct stub_arch_info *out)
{
	(void)t;
	snprintf(out->triple, sizeof(out->triple), "x86_64-unknown-none");
	out->ptr_size = 8;
	return 0;
}

static int f_monitor(void *t, const char *cmd, char *out, size_t cap)
{
	(void)t;
	if (!strcmp(cmd, "help")) {
		snprintf(out, cap, "help: this text\nregs: registers\n");
		return 0;
	}
	if (!strcmp(cmd, "big")) {
		size_t n = 100000 < cap - 1 ? 100000 : cap - 1;

		for (size_t i = 0; i < n; i++)
			out[i] = (char)('a' + i % 26);
		out[n] = '\0';
		return 0;
	}
	if (!strcmp(cmd, "fail"))
		return -EIO;
	return -ENOENT;
}

static void f_detach(void *t)
{
	(void)t;
	F.detaches++;
	F.running = true;
}

static void f_kill(void *t)
{
	(void)t;
	F.kills++;
}

static int f_nonstop(void *t, bool on, char *why, size_t cap)
{
	(void)t;
	if (F.refuse_nonstop) {
		snprintf(why, cap, "not now: recording");
		return -EBUSY;
	}
	F.nonstop = on;
	return 0;
}

static int f_thread_stop(void *t, int tid, struct stub_stop *out)
{
	(void)t;
	if (!(F.stopped_mask >> (tid - 1) & 1))
		return -EBUSY;
	memset(out, 0, sizeof(*out));
	out->kind = STUB_STOP_SIGNAL;
	out->signo = tid == 1 ? GDB_SIGTRAP : 0;
	out->tid = tid;
	return 0;
}

static void f_attach(void *t)
{
	(void)t;
	F.attaches++;
	F.running = false;
}

static const struct stub_ops fake_ops = {
	.xml = f_xml,
	.memory_map = f_memory_map,
	.arch_info = f_arch_info,
	.exec_file = f_exec_file,
	.reg_count = f_reg_count,
	.expedite = f_expedite,
	.read_reg = f_read_reg,
	.write_reg = f_write_reg,
	.read_mem = f_read_mem,
	.write_mem = f_write_mem,
	.insert_bp = f_insert_bp,
	.remove_bp = f_bp,
	.resume = f_resume,
	.interrupt = f_interrupt,
	.stop_fd = f_stop_fd,
	.get_stop = f_get_stop,
	.current_stop = f_current_stop,
	.pc_after_break = f_pc_after_break,
	.threads = f_threads,
	.thread_info = f_thread_info,
	.thread_desc = f_thread_desc,
	.monitor = f_monitor,
	.detach = f_detach,
	.kill = f_kill,
	.attach = f_attach,
	.nonstop = f_nonstop,
	.thread_stop = f_thread_stop,
};

/* ---- a raw RSP client --------------------------------------------------- */

struct client {
	int fd;
	bool noack;
	uint8_t in[65536];
	size_t pos, len;
};

/* Next byte, -1 on timeout, -2 at EOF. */
static int cl_getc(struct client *c, int ms)
{
	if (c->pos == c->len) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, ms) != 1)
			return -1;
		n = read(c->fd, c->in, sizeof(c->in));
		if (n <= 0)
			return -2;
		c->pos = 0;
		c->len = (size_t)n;
	}
	return c->in[c->pos++];
}

static void cl_write(struct client *c, const void *p, size_t n)
{
	TEST_ASSERT(send(c->fd, p, n, MSG_NOSIGNAL) == (ssize_t)n, "client write failed");
}

static void cl_expect_byte(struct client *c, int want)
{
	int got = cl_getc(c, TIMEOUT_MS);

	if (got != want)
		TEST_FAIL("expected byte '%c', got %d", want, got);
}

/* Nothing at all arrives for ms milliseconds. */
static void cl_expect_silence(struct client *c, int ms)
{
	int got = cl_getc(c, ms);

	if (got != -1)
		TEST_FAIL("expected silence, got byte %d", got);
}

static void cl_send_bin(struct client *c, const char *body, size_t n)
{
	char tail[4];
	static char frame[2 * STUB_PACKET_SIZE + 16];

	TEST_ASSERT(n + 4 <= sizeof(frame));
	frame[0] = '$';
	memcpy(frame + 1, body, n);
	snprintf(tail, sizeof(tail), "#%02x", pkt_checksum(body, n));
	memcpy(frame + 1 + n, tail, 3);
	cl_write(c, frame, n + 4);
	if (!c->noack)
		cl_expect_byte(c, '+');
}

static void cl_send(struct client *c, const char *body)
{
	cl_send_bin(c, body, strlen(body));
}

/* The next packet's payload (escapes undone) into out; acks it. */
static size_t cl_recv(struct client *c, char *out, size_t cap)
{
	char raw[2 * STUB_PACKET_SIZE + 16];
	size_t n = 0;
	int ch, hi, lo;
	long len;

	ch = cl_getc(c, TIMEOUT_MS);
	if (ch != '$')
		TEST_FAIL("expected '$', got %d", ch);
	while ((ch = cl_getc(c, TIMEOUT_MS)) != '#') {
		if (ch < 0)
			TEST_FAIL("packet cut short (%d) after %zu bytes", ch, n);
		TEST_ASSERT(n < sizeof(raw));
		raw[n++] = (char)ch;
	}
	hi = pkt_hexval((uint8_t)cl_getc(c, TIMEOUT_MS));
	lo = pkt_hexval((uint8_t)cl_getc(c, TIMEOUT_MS));
	TEST_ASSERT(hi >= 0 && lo >= 0, "bad checksum digits");
	TEST_ASSERT_EQ(hi << 4 | lo, pkt_checksum(raw, n));
	for (size_t i = 0; i < n; i++)
		TEST_ASSERT(raw[i] != '$' && raw[i] != '*', "unescaped byte in reply");
	len = pkt_unescape((uint8_t *)out, cap - 1, raw, n);
	TEST_ASSERT(len >= 0);
	out[len] = '\0';
	if (!c->noack)
		cl_write(c, "+", 1);
	return (size_t)len;
}

static char reply[2 * STUB_PACKET_SIZE + 16];

/* The next notification ("%name:payload#cs", not acknowledged): its text. */
static const char *cl_notification(struct client *c)
{
	static char note[4096];
	size_t n = 0;
	int ch, hi, lo;

	ch = cl_getc(c, TIMEOUT_MS);
	if (ch != '%')
		TEST_FAIL("expected '%%', got %d", ch);
	while ((ch = cl_getc(c, TIMEOUT_MS)) != '#') {
		if (ch < 0)
			TEST_FAIL("notification cut short (%d) after %zu bytes", ch, n);
		TEST_ASSERT(n < sizeof(note) - 1);
		note[n++] = (char)ch;
	}
	hi = pkt_hexval((uint8_t)cl_getc(c, TIMEOUT_MS));
	lo = pkt_hexval((uint8_t)cl_getc(c, TIMEOUT_MS));
	TEST_ASSERT(hi >= 0 && lo >= 0, "bad checksum digits");
	TEST_ASSERT_EQ(hi << 4 | lo, pkt_checksum(note, n));
	note[n] = '\0';
	return note;
}

static const char *cl_cmd(struct client *c, const char *body)
{
	cl_send(c, body);
	cl_recv(c, reply, sizeof(reply));
	return reply;
}

/* ---- sessions: stub_serve in a thread ----------------------------------- */

struct session {
	struct stub *stub;
	int sfd;
	pthread_t th;
	bool live;
	int ret;
	struct client c;
};

static struct session S;

static void *serve_main(void *arg)
{
	struct session *s = arg;

	s->ret = stub_serve(s->stub, s->sfd);
	return NULL;
}

static void join_or_die(pthread_t th, const char *what)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	if (pthread_timedjoin_np(th, NULL, &ts)) {
		printf("FAIL %s: %s thread hung; giving up\n", test_name, what);
		exit(1);
	}
}

/* Wait for stub_serve to return on its own; its return value. */
static int session_wait(void)
{
	join_or_die(S.th, "stub_serve");
	S.live = false;
	close(S.c.fd);
	close(S.sfd);
	stub_free(S.stub);
	return S.ret;
}

/* Hang up like a client that goes away; stub_serve's return value. */
static int session_end(void)
{
	shutdown(S.c.fd, SHUT_RDWR);
	return session_wait();
}

static void session_start_ops(const struct stub_ops *ops)
{
	int sv[2];

	if (S.live)
		session_end(); /* left over by a failed test */
	fake_init();
	memset(&S, 0, sizeof(S));
	TEST_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	S.c.fd = sv[0];
	S.sfd = sv[1];
	S.stub = stub_new(ops, &F);
	TEST_ASSERT(S.stub);
	TEST_ASSERT(pthread_create(&S.th, NULL, serve_main, &S) == 0);
	S.live = true;
}

static void session_start(void)
{
	session_start_ops(&fake_ops);
}

static char *hex_of(const void *p, size_t n)
{
	static char buf[4][1024];
	static int k;
	char *h = buf[k++ & 3];

	pkt_hex_encode(h, p, n);
	h[2 * n] = '\0';
	return h;
}

static const char *reg_hex(int tid, int r)
{
	return hex_of(F.regs[tid][r], (size_t)reg_size[r]);
}

/* The stop reply the fake's registers give for tid, with a reason. */
static const char *stop_reply(int sig, int tid, const char *why)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "T%02x00:%s;02:%s;thread:%x;%s", sig, reg_hex(tid, 0),
		 reg_hex(tid, 2), tid, why);
	return buf;
}

static const char *all_regs_hex(int tid)
{
	static char buf[256];

	buf[0] = '\0';
	for (int r = 0; r < NREGS && reg_size[r]; r++)
		strcat(buf, reg_hex(tid, r));
	return buf;
}

/* The session still answers normally and nothing changed behind our back. */
static void check_still_sane(const uint8_t *ram_before, const uint8_t *regs_before)
{
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "?"), stop_reply(5, 1, ""));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "g"), all_regs_hex(1));
	if (ram_before)
		TEST_ASSERT(!memcmp(ram_before, F.ram, RAM_SIZE), "RAM changed");
	if (regs_before)
		TEST_ASSERT(!memcmp(regs_before, F.regs, sizeof(F.regs)), "registers changed");
}

static uint8_t ram_copy[RAM_SIZE];
static uint8_t regs_copy[sizeof(F.regs)];

static void snapshot(void)
{
	memcpy(ram_copy, F.ram, RAM_SIZE);
	memcpy(regs_copy, F.regs, sizeof(F.regs));
}


/* ---- non-stop ----------------------------------------------------------- */

static void test_nonstop_negotiation(void)
{
	session_start();
	TEST_ASSERT(strstr(cl_cmd(&S.c, "qSupported:swbreak+"), ";QNonStop+"));
	TEST_ASSERT(strstr(cl_cmd(&S.c, "vCont?"), ";t"));
	/* vCont;t is non-stop's only */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCont;t:1"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "QNonStop:2"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "QNonStop:1"), "OK");
	TEST_ASSERT(F.nonstop);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "QNonStop:0"), "OK");
	TEST_ASSERT(!F.nonstop);
	/* vStopped outside non-stop, vCtrlC with nothing to stop */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vStopped"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCtrlC"), "OK");
	TEST_ASSERT_EQ(F.interrupts, 0);
	session_end();
}

static void test_nonstop_refusal_says_why(void)
{
	session_start();
	cl_cmd(&S.c, "qSupported:error-message+");
	F.refuse_nonstop = true;
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "QNonStop:1"), "E.10.not now: recording");
	session_end();
}

static void test_nonstop_unsupported_reply_empty(void)
{
	struct stub_ops ops = fake_ops;

	ops.nonstop = NULL;
	session_start_ops(&ops);
	TEST_ASSERT(!strstr(cl_cmd(&S.c, "qSupported"), "QNonStop"));
	TEST_ASSERT(!strstr(cl_cmd(&S.c, "vCont?"), ";t"));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "QNonStop:1"), "");
	session_end();
}

/* '?': the stopped threads, one per reply, through vStopped. */
static void test_nonstop_why_lists_stopped_threads(void)
{
	session_start();
	cl_cmd(&S.c, "QNonStop:1");
	F.stopped_mask = 0x5; /* threads 1 and 3 */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "?"), stop_reply(5, 1, ""));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vStopped"), stop_reply(0, 3, ""));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vStopped"), "OK");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vStopped"), "OK");
	F.stopped_mask = 0;
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "?"), "OK");
	session_end();
}

/* Non-stop, a client without swbreak: each thread stopped at a software
 * breakpoint it continued has its PC past it, as such a client expects; a
 * resume of it makes the PC the client's; one the client leaves behind is
 * moved back when it goes. */
static void test_nonstop_pc_after_break(void)
{
	char want[300];
	uint8_t pc2, pc3;

	session_start();
	cl_cmd(&S.c, "qSupported:multiprocess+");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "QNonStop:1"), "OK");
	pc2 = F.regs[2][0][0];
	pc3 = F.regs[3][0][0];
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCont;c:2"), "OK");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCont;c:3"), "OK"); /* (another resume between) */
	F.regs[2][0][0] = (uint8_t)(pc2 + 1); /* (the reply wanted, made before the stub runs) */
	snprintf(want, sizeof(want), "Stop:%s", stop_reply(5, 2, ""));
	F.regs[2][0][0] = pc2;
	fake_post(&(struct stub_stop){ .kind = STUB_STOP_SWBREAK, .tid = 2 });
	TEST_ASSERT_STREQ(cl_notification(&S.c), want);
	TEST_ASSERT_EQ(F.pc_after_calls, 1);
	TEST_ASSERT_EQ(F.regs[2][0][0], (uint8_t)(pc2 + 1));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vStopped"), "OK");
	fake_post(&(struct stub_stop){ .kind = STUB_STOP_SWBREAK, .tid = 3 });
	cl_notification(&S.c);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vStopped"), "OK");
	TEST_ASSERT_EQ(F.pc_after_calls, 2);
	TEST_ASSERT_EQ(F.regs[3][0][0], (uint8_t)(pc3 + 1));
	/* thread 2 resumed by the client: its PC is the client's now */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCont;c:2"), "OK");
	session_end();
	/* thread 3 was left at the moved PC: moved back */
	TEST_ASSERT_EQ(F.pc_after_calls, 3);
	TEST_ASSERT_EQ(F.regs[3][0][0], pc3);
	TEST_ASSERT_EQ(F.regs[2][0][0], (uint8_t)(pc2 + 1));
}

/* A resume is answered at once; each stop is a notification, the next
 * ones wait in the queue for vStopped, and no console output goes out. */
static void test_nonstop_resume_and_notifications(void)
{
	session_start();
	cl_cmd(&S.c, "qSupported:swbreak+");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "QNonStop:1"), "OK");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCont;c:2;t:3"), "OK");
	TEST_ASSERT_EQ(F.resumes, 1);
	TEST_ASSERT_EQ(F.last_resume.action[0], STUB_STAY);
	TEST_ASSERT_EQ(F.last_resume.action[1], STUB_CONTINUE);
	TEST_ASSERT_EQ(F.last_resume.action[2], STUB_STOP_THREAD);
	stub_console(S.stub, "not in non-stop", 15);
	fake_post(&(struct stub_stop){ .kind = STUB_STOP_SWBREAK, .tid = 2 });
	fake_post(&(struct stub_stop){ .kind = STUB_STOP_SIGNAL, .signo = 0, .tid = 3 });
	{
		char want[300];

		snprintf(want, sizeof(want), "Stop:%s", stop_reply(5, 2, "swbreak:;"));
		TEST_ASSERT_STREQ(cl_notification(&S.c), want);
	}
	cl_expect_silence(&S.c, 100); /* one notification until vStopped */
	/* packets are answered meanwhile */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qC"), "QC1");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vStopped"), stop_reply(0, 3, ""));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vStopped"), "OK");
	/* a stop after the queue emptied is notified again */
	fake_post(&(struct stub_stop){ .kind = STUB_STOP_SIGNAL, .signo = GDB_SIGINT, .tid = 1 });
	{
		char want[300];

		snprintf(want, sizeof(want), "Stop:%s", stop_reply(2, 1, ""));
		TEST_ASSERT_STREQ(cl_notification(&S.c), want);
	}
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vStopped"), "OK");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCtrlC"), "OK");
	TEST_ASSERT_EQ(F.interrupts, 1);
	/* the next session starts in all-stop */
	session_end();
	session_start();
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCont;t:1"), "E16");
	session_end();
}

/* The exit is notified once, then the session answers W to '?'. */
static void test_nonstop_exit_notified(void)
{
	session_start();
	cl_cmd(&S.c, "QNonStop:1");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCont;c"), "OK");
	fake_post(&(struct stub_stop){ .kind = STUB_STOP_EXITED, .status = 3 });
	TEST_ASSERT_STREQ(cl_notification(&S.c), "Stop:W03");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vStopped"), "OK");
	cl_expect_silence(&S.c, 100);
	session_end();
}

/* ---- framing and acks --------------------------------------------------- */

static void test_stop_reason_with_expedited_registers(void)
{
	session_start();
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "?"), stop_reply(5, 1, ""));
	TEST_ASSERT_EQ(session_end(), 0);
	TEST_ASSERT_EQ(F.detaches, 1);
}

static void test_nack_resends_last_reply(void)
{
	session_start();
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qC"), "QC1");
	cl_write(&S.c, "-", 1);
	cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT_STREQ(reply, "QC1");
	cl_write(&S.c, "-", 1);
	cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT_STREQ(reply, "QC1");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qAttached"), "1");
	session_end();
}

static void test_bad_checksum_nacked_then_resend_accepted(void)
{
	session_start();
	cl_write(&S.c, "$qC#00", 6);
	cl_expect_byte(&S.c, '-');
	cl_expect_silence(&S.c, 50);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qC"), "QC1");
	session_end();
}

static void test_short_or_nonhex_checksum_nacked(void)
{
	session_start();
	cl_write(&S.c, "$qC#zz", 6);
	cl_expect_byte(&S.c, '-');
	/* One digit, then a new packet: '-' for the first, the second is fine. */
	cl_write(&S.c, "$qC#b", 5);
	cl_expect_silence(&S.c, 20);
	cl_write(&S.c, "$", 1);
	cl_expect_byte(&S.c, '-');
	cl_write(&S.c, "qC#b4", 5);
	cl_expect_byte(&S.c, '+');
	cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT_STREQ(reply, "QC1");
	session_end();
}

static void test_garbage_between_packets_skipped(void)
{
	session_start();
	cl_write(&S.c, "hello\r\n}#*", 10);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qC"), "QC1");
	cl_write(&S.c, "++++", 4); /* stray acks too */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qAttached"), "1");
	session_end();
}

static void test_no_ack_mode(void)
{
	session_start();
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "QStartNoAckMode"), "OK");
	S.c.noack = true;
	/* No '+' comes first: cl_recv insists on '$'. */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qC"), "QC1");
	/* A bad packet is dropped silently, a '-' resends nothing. */
	cl_write(&S.c, "$qC#00", 6);
	cl_write(&S.c, "-", 1);
	cl_expect_silence(&S.c, 50);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qAttached"), "1");
	session_end();
}

static void test_ack_and_reply_in_order_under_pipelining(void)
{
	session_start();
	/* Two packets in one write: each gets its '+' then its reply. */
	cl_write(&S.c, "$qC#b4$qAttached#8f", 19);
	cl_expect_byte(&S.c, '+');
	cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT_STREQ(reply, "QC1");
	cl_expect_byte(&S.c, '+');
	cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT_STREQ(reply, "1");
	session_end();
}

static void test_oversized_packet_refused_session_goes_on(void)
{
	static char big[STUB_PACKET_SIZE + 200];
	size_t n;

	session_start();
	snapshot();
	n = (size_t)snprintf(big, sizeof(big), "M100,%x:", (STUB_PACKET_SIZE + 100) / 2);
	memset(big + n, '5', sizeof(big) - n - 1);
	n = sizeof(big) - 1;
	cl_send_bin(&S.c, big, n);
	cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT_STREQ(reply, "E16");
	check_still_sane(ram_copy, regs_copy);
	session_end();
}

static void test_packet_of_exactly_packet_size_accepted(void)
{
	static char big[STUB_PACKET_SIZE + 1];
	size_t hdr;
	uint64_t len;

	session_start();
	hdr = (size_t)snprintf(big, sizeof(big), "M0,%x:", 0x7ffc);
	len = (STUB_PACKET_SIZE - hdr) / 2;
	hdr = (size_t)snprintf(big, sizeof(big), "M0,%" PRIx64 ":", len);
	TEST_ASSERT_EQ(hdr + 2 * len, STUB_PACKET_SIZE);
	memset(big + hdr, 'a', 2 * len);
	cl_send_bin(&S.c, big, STUB_PACKET_SIZE);
	cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT_STREQ(reply, "OK");
	TEST_ASSERT_EQ(F.ram[0], 0xaa);
	TEST_ASSERT_EQ(F.ram[len - 1], 0xaa);
	TEST_ASSERT_EQ(F.ram[len], (uint8_t)(len * 7 + 3));
	session_end();
}

static void test_empty_and_unknown_packets_get_empty_reply(void)
{
	session_start();
	TEST_ASSERT_STREQ(cl_cmd(&S.c, ""), "");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vMustReplyEmpty"), "");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qFooBar"), "");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qCRC:0,4"), ""); /* not qC */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vContX"), "");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "!"), "");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qXfer:libraries:read::0,100"), "");
	check_still_sane(NULL, NULL);
	session_end();
}

static void test_qsupported(void)
{
	char want[256];

	session_start();
	snprintf(want, sizeof(want),
		 "PacketSize=%x;swbreak+;hwbreak+;qXfer:features:read+;qXfer:memory-map:read+;"
		 "qXfer:threads:read+;qXfer:exec-file:read+;"
		 "binary-upload+;vContSupported+;QStartNoAckMode+;error-message+;QNonStop+",
		 STUB_PACKET_SIZE);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qSupported:multiprocess+;swbreak+;xmlRegisters=i386"),
			  want);
	session_end();
}

static void test_qsupported_without_memory_map(void)
{
	struct stub_ops ops = fake_ops;
	char want[256];

	ops.memory_map = NULL;
	session_start_ops(&ops);
	snprintf(want, sizeof(want),
		 "PacketSize=%x;swbreak+;hwbreak+;qXfer:features:read+;qXfer:threads:read+;"
		 "qXfer:exec-file:read+;"
		 "binary-upload+;vContSupported+;QStartNoAckMode+;error-message+;QNonStop+",
		 STUB_PACKET_SIZE);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qSupported"), want);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qXfer:memory-map:read::0,100"), "");
	session_end();
}

/* lldb's qMemoryRegionInfo: runs of readable (rwx) and unreadable pages. */
static void test_memory_region_info(void)
{
	session_start();
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qMemoryRegionInfo:1234"),
			  "start:1000;size:f000;permissions:rwx;");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qMemoryRegionInfo:0"),
			  "start:0;size:10000;permissions:rwx;");
	/* unreadable: no permissions, a bounded run (2^14 pages) */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qMemoryRegionInfo:10000"), "start:10000;size:4000000;");
	/* the last page: start + size stays below 2^64 */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qMemoryRegionInfo:ffffffffffffffff"),
			  "start:fffffffffffff000;size:fff;");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qMemoryRegionInfo:zz"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qMemoryRegionInfo"), "E16");
	check_still_sane(NULL, NULL);
	session_end();
}

static void test_null_ops_answer_empty(void)
{
	static const struct stub_ops none;
	static const char *const empty[] = {
		"g", "G00", "p0", "P0=00", "m0,4", "x0,4", "M0,1:00", "X0,0:", "Z0,0,1", "z0,0,1",
		"c", "s", "vCont;c", "qXfer:features:read:target.xml:0,10",
		"qXfer:memory-map:read::0,10", "qRcmd,68656c70", "qThreadExtraInfo,1",
		"qMemoryRegionInfo:0", "qXfer:threads:read::0,10", "qHostInfo", "qProcessInfo",
		"qXfer:exec-file:read::0,10", "vFile:setfs:0", "vFile:open:2f,0,0",
		"vFile:pread:0,1,0", "vFile:close:0", "vFile:fstat:0",
	};
	char want[256];

	session_start_ops(&none);
	for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++)
		if (strcmp(cl_cmd(&S.c, empty[i]), ""))
			TEST_FAIL("%s -> \"%s\", want empty", empty[i], reply);
	snprintf(want, sizeof(want), "PacketSize=%x;swbreak+;hwbreak+;vContSupported+;"
		 "QStartNoAckMode+;error-message+", STUB_PACKET_SIZE);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qSupported"), want);
	/* With no thread list there is one thread, 1. */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "?"), "T05thread:1;");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qfThreadInfo"), "m1");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Hg1"), "OK");
	cl_write(&S.c, "\x03", 1);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "D"), "OK");
	TEST_ASSERT_EQ(session_wait(), 0);

	session_start_ops(&none);
	cl_send(&S.c, "k");
	TEST_ASSERT_EQ(session_wait(), 1);
}

/* ---- memory ------------------------------------------------------------- */

static void test_read_memory(void)
{
	session_start();
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "m100,4"), hex_of(F.ram + 0x100, 4));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "M100,4:deadbeef"), "OK");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "m100,4"), "deadbeef");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "m0100,0004"), "deadbeef");
	session_end();
}

static void test_read_memory_partial_and_fault(void)
{
	session_start();
	/* Only two bytes exist below the end of RAM. */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "mfffe,4"), hex_of(F.ram + 0xfffe, 2));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "m10000,4"), "E0e");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "mffffffff00000000,10"), "E0e");
	check_still_sane(NULL, NULL);
	session_end();
}

static void test_read_memory_length_capped_to_packet(void)
{
	session_start();
	cl_cmd(&S.c, "m0,20000");
	/* Half the packet of hex: all 64 KiB of the fake's RAM. */
	TEST_ASSERT_EQ(strlen(reply), STUB_PACKET_SIZE);
	TEST_ASSERT_EQ(F.last_read_len, STUB_PACKET_SIZE / 2);
	TEST_ASSERT(!memcmp(reply, hex_of(F.ram, 256), 512));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "m0,20001"), "E16");
	session_end();
}

/* GDB 16's x: "b" and the bytes as they are, escaped in the frame only. */
static void test_read_memory_binary_x(void)
{
	static const uint8_t special[] = { '$', '#', '}', '*', 0, 0x7d ^ 0x20, 0xff, '+' };
	size_t n;

	session_start();
	memcpy(F.ram + 0x100, special, sizeof(special));
	cl_send(&S.c, "x100,8");
	n = cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT_EQ(n, 9);
	TEST_ASSERT(reply[0] == 'b' && !memcmp(reply + 1, special, 8), "x100,8 -> \"%.9s\"", reply);
	/* The length is capped to what a packet holds; the fake has 64 KiB. */
	cl_send(&S.c, "x0,20000");
	n = cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT_EQ(F.last_read_len, STUB_PACKET_SIZE - 1);
	TEST_ASSERT_EQ(n, 1 + RAM_SIZE);
	TEST_ASSERT(reply[0] == 'b' && !memcmp(reply + 1, F.ram, RAM_SIZE));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "x10000,4"), "E0e");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "x0,20001"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "x100"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "xq,4"), "E16");
	check_still_sane(NULL, NULL);
	session_end();
}

/* An empty reply means "unsupported": reads of nothing say something. */
static void test_zero_length_reads_are_not_empty(void)
{
	session_start();
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "m100,0"), "OK");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "m10000,0"), "OK"); /* nothing to fault on */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "x100,0"), "b");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "x0,0"), "b"); /* lldb's probe: not its OK */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qXfer:features:read:target.xml:0,0"), "m");
	snprintf(reply, sizeof(reply), "qXfer:features:read:target.xml:%zx,0", strlen(fake_xml));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, reply), "l");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qXfer:memory-map:read::0,0"), "m");
	TEST_ASSERT_EQ(F.last_read_len, 0);
	session_end();
}

static void test_read_memory_malformed(void)
{
	static const char *const bad[] = {
		"m", "m100", "m100,", "m,4", "mx,4", "m100,4x", "m100;4", "m 100,4", "m100,-4",
		"m0,ffffffffffffffff", "mffffffffffffffff,2", "m10000000000000000,1",
		"m1,10000000000000000",
	};

	session_start();
	snapshot();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *r = cl_cmd(&S.c, bad[i]);

		if (strcmp(r, "E16"))
			TEST_FAIL("%s -> \"%s\", want E16", bad[i], r);
		check_still_sane(ram_copy, regs_copy);
	}
	/* The very last byte of the address space is a fine one-byte range. */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "mffffffffffffffff,1"), "E0e");
	session_end();
}

static void test_write_memory_M_malformed_writes_nothing(void)
{
	static const char *const bad[] = {
		"M100,4:deadbe",     /* short */
		"M100,2:deadbeef",   /* long */
		"M100,4:deadbeeg",   /* not hex */
		"M100,4:deadbee",    /* odd */
		"M100,4deadbeef",    /* no colon */
		"M100:deadbeef",     /* no length */
		"M,4:deadbeef",
		"Mffffffffffffffff,2:0000", /* wraps */
	};

	session_start();
	snapshot();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *r = cl_cmd(&S.c, bad[i]);

		if (strcmp(r, "E16"))
			TEST_FAIL("%s -> \"%s\", want E16", bad[i], r);
		check_still_sane(ram_copy, regs_copy);
	}
	TEST_ASSERT_EQ(F.mem_writes, 0);
	/* Runs past the end of RAM: the target refuses, nothing written. */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Mfffe,4:01020304"), "E0e");
	check_still_sane(ram_copy, regs_copy);
	session_end();
}

static void test_write_memory_X_binary_with_escapes(void)
{
	const uint8_t data[] = { 0x23, 0x24, 0x7d, 0x2a, 0x00, 0x03, 0x41 };
	char pkt[64];
	size_t n;

	session_start();
	n = (size_t)snprintf(pkt, sizeof(pkt), "X200,%zx:", sizeof(data));
	for (size_t i = 0; i < sizeof(data); i++) {
		if (data[i] == 0x23 || data[i] == 0x24 || data[i] == 0x7d || data[i] == 0x2a) {
			pkt[n++] = 0x7d;
			pkt[n++] = (char)(data[i] ^ 0x20);
		} else {
			pkt[n++] = (char)data[i];
		}
	}
	cl_send_bin(&S.c, pkt, n);
	cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT_STREQ(reply, "OK");
	TEST_ASSERT(!memcmp(F.ram + 0x200, data, sizeof(data)));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "X200,0:"), "OK"); /* gdb's probe */
	session_end();
}

static void test_write_memory_X_malformed_writes_nothing(void)
{
	static const struct {
		const char *pkt;
		size_t len;
	} bad[] = {
		{ "X200,4:abc", 10 },      /* short */
		{ "X200,2:abc", 10 },      /* long */
		{ "X200,2:a}", 9 },        /* '}' at the very end */
		{ "X200,1:}", 8 },
		{ "X200,2ab", 8 },         /* no colon */
		{ "X,2:ab", 6 },
		{ "Xffffffffffffffff,2:ab", 22 },
	};

	session_start();
	snapshot();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cl_send_bin(&S.c, bad[i].pkt, bad[i].len);
		cl_recv(&S.c, reply, sizeof(reply));
		if (strcmp(reply, "E16"))
			TEST_FAIL("%s -> \"%s\", want E16", bad[i].pkt, reply);
		check_still_sane(ram_copy, regs_copy);
	}
	TEST_ASSERT_EQ(F.mem_writes, 0);
	session_end();
}

/* ---- registers ---------------------------------------------------------- */

static void test_g_reads_registers_up_to_the_first_unknown(void)
{
	session_start();
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "g"), all_regs_hex(1));
	TEST_ASSERT_EQ(strlen(reply), 2 * (8 + 4 + 2 + 16));
	session_end();
}

static void test_G_writes_all_or_nothing(void)
{
	char pkt[128], hex[64];

	session_start();
	snapshot();
	/* Wrong sizes: two hex digits short, two long, non-hex. */
	strcpy(hex, all_regs_hex(1));
	snprintf(pkt, sizeof(pkt), "G%.*s", (int)strlen(hex) - 2, hex);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, pkt), "E16");
	snprintf(pkt, sizeof(pkt), "G%s00", hex);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, pkt), "E16");
	snprintf(pkt, sizeof(pkt), "G%s", hex);
	pkt[5] = 'x';
	TEST_ASSERT_STREQ(cl_cmd(&S.c, pkt), "E16");
	check_still_sane(ram_copy, regs_copy);
	TEST_ASSERT_EQ(F.reg_writes, 0);

	memset(hex, 'c', 60);
	hex[60] = '\0';
	snprintf(pkt, sizeof(pkt), "G%s", hex);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, pkt), "OK");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "g"), hex);
	TEST_ASSERT_EQ(F.regs[1][3][15], 0xcc);
	TEST_ASSERT_EQ(F.regs[2][0][0], regs_copy[sizeof(F.regs[0]) * 2]); /* other thread */
	session_end();
}

static void test_p_and_P(void)
{
	static const char *const bad_p[] = { "p", "px", "p4", "p5", "p1,", "p10000000000000000" };
	static const char *const bad_P[] = {
		"P1=aabb", "P1=aabbccddee", "P1=aabbccdx", "P1", "P1=", "P9=00", "P=00", "P4=00",
	};

	session_start();
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "p0"), reg_hex(1, 0));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "p3"), reg_hex(1, 3));
	snapshot();
	for (size_t i = 0; i < sizeof(bad_p) / sizeof(bad_p[0]); i++)
		if (cl_cmd(&S.c, bad_p[i])[0] != 'E')
			TEST_FAIL("%s -> \"%s\", want an error", bad_p[i], reply);
	for (size_t i = 0; i < sizeof(bad_P) / sizeof(bad_P[0]); i++)
		if (cl_cmd(&S.c, bad_P[i])[0] != 'E')
			TEST_FAIL("%s -> \"%s\", want an error", bad_P[i], reply);
	check_still_sane(ram_copy, regs_copy);
	TEST_ASSERT_EQ(F.reg_writes, 0); /* refused before the target saw them */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "P1=aabbccdd"), "OK");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "p1"), "aabbccdd");
	TEST_ASSERT_EQ(F.regs[1][1][0], 0xaa);
	session_end();
}

static void test_Hg_selects_the_register_thread(void)
{
	session_start();
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Hg2"), "OK");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "g"), all_regs_hex(2));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "P0=0102030405060708"), "OK");
	TEST_ASSERT_EQ(F.regs[2][0][7], 8);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Hg0"), "OK"); /* back to the stopped thread */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "g"), all_regs_hex(1));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Hg3"), "OK");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Hg-1"), "OK");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "g"), all_regs_hex(1));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Hg9"), "E03");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Hc-1"), "OK");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Hc2"), "OK");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Hcx"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Hx1"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "H"), "E16");
	session_end();
}

/* ---- threads and queries ------------------------------------------------ */

static void test_thread_queries(void)
{
	session_start();
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qfThreadInfo"), "m1,2,3");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qsThreadInfo"), "l");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qC"), "QC1");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qAttached"), "1");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "T2"), "OK");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "T9"), "E03");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "T0"), "E03");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qThreadExtraInfo,2"), hex_of("vCPU 2", 6));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qThreadExtraInfo,9"), "E03");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qThreadExtraInfo"), "E03");
	session_end();
}

static void test_qxfer_features_chunks_reassemble(void)
{
	char doc[1024] = "", pkt[128];
	size_t off = 0;

	session_start();
	for (int i = 0; i < 100; i++) {
		snprintf(pkt, sizeof(pkt), "qXfer:features:read:target.xml:%zx,7", off);
		cl_cmd(&S.c, pkt);
		TEST_ASSERT(reply[0] == 'm' || reply[0] == 'l', "got \"%s\"", reply);
		TEST_ASSERT(strlen(reply + 1) <= 7);
		strcat(doc, reply + 1);
		off += strlen(reply + 1);
		if (reply[0] == 'l')
			break;
	}
	TEST_ASSERT_STREQ(doc, fake_xml);
	snprintf(pkt, sizeof(pkt), "qXfer:features:read:target.xml:%zx,100", strlen(fake_xml));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, pkt), "l");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qXfer:features:read:target.xml:0,3"), "m<?x");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qXfer:features:read:extra.xml:0,1000"), "l<feature/>");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qXfer:features:read:extra.xml:2,3"), "meat");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qXfer:features:read:nope.xml:0,100"), "E02");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qXfer:features:read:target.xml:0"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qXfer:features:read:target.xml:10000,10"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qXfer:features:read:target.xml"), "E16");
	session_end();
}

/* qXfer:threads:read: names, processors and extra text, escaped, in one
 * document read in pieces. */
static void test_qxfer_threads(void)
{
	static const char doc[] =
		"<?xml version=\"1.0\"?>\n<threads>\n"
		"<thread id=\"1\" core=\"2\" name=\"cpu1\">vCPU 1</thread>\n"
		"<thread id=\"2\" name=\"cpu2\">vCPU 2</thread>\n"
		"<thread id=\"3\" core=\"6\" name=\"a&quot;b&lt;c&gt;&amp;&apos;\\\">vCPU 3</thread>\n"
		"</threads>\n";
	char got[1024] = "", pkt[64];

	session_start();
	TEST_ASSERT(strstr(cl_cmd(&S.c, "qSupported"), ";qXfer:threads:read+"));
	for (size_t off = 0;; off += 7) {
		snprintf(pkt, sizeof(pkt), "qXfer:threads:read::%zx,7", off);
		cl_cmd(&S.c, pkt);
		TEST_ASSERT(reply[0] == 'm' || reply[0] == 'l', "%s -> \"%s\"", pkt, reply);
		strcat(got, reply + 1);
		if (reply[0] == 'l')
			break;
	}
	TEST_ASSERT_STREQ(got, doc);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qXfer:threads:read:x:0,10"), "E02");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qXfer:threads:read::0"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qXfer:threads:read::0,0"), "m");
	session_end();
}

/* lldb's qHostInfo, qProcessInfo and jThreadsInfo. */
static void test_lldb_host_process_and_threads_info(void)
{
	char want[1024];

	session_start();
	snprintf(want, sizeof(want), "triple:%s;ptrsize:8;endian:little;",
		 hex_of("x86_64-unknown-none", 19));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qHostInfo"), want);
	snprintf(want, sizeof(want), "pid:1;triple:%s;ptrsize:8;endian:little;",
		 hex_of("x86_64-unknown-none", 19));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qProcessInfo"), want);
	/* The stopped thread (3, by a watchpoint) says so; the others none. */
	F.has_on_continue = true;
	F.on_continue = (struct stub_stop){ .kind = STUB_STOP_WATCH, .tid = 3, .addr = 0x1234 };
	cl_cmd(&S.c, "c");
	/* (reg_hex's buffers are four: one thread at a time) */
	snprintf(want, sizeof(want), "[{\"tid\":1,\"name\":\"cpu1\",\"signal\":0,"
		 "\"registers\":{\"0\":\"%s\",\"2\":\"%s\"}},", reg_hex(1, 0), reg_hex(1, 2));
	snprintf(want + strlen(want), sizeof(want) - strlen(want),
		 "{\"tid\":2,\"name\":\"cpu2\",\"signal\":0,"
		 "\"registers\":{\"0\":\"%s\",\"2\":\"%s\"}},", reg_hex(2, 0), reg_hex(2, 2));
	snprintf(want + strlen(want), sizeof(want) - strlen(want),
		 "{\"tid\":3,\"name\":\"a\\\"b<c>&'\\\\\",\"signal\":5,\"reason\":\"watchpoint\","
		 "\"description\":\"4660 4294967295\",\"registers\":{\"0\":\"%s\",\"2\":\"%s\"}}]",
		 reg_hex(3, 0), reg_hex(3, 2));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "jThreadsInfo"), want);
	F.on_continue = (struct stub_stop){ .kind = STUB_STOP_SIGNAL, .signo = GDB_SIGSEGV, .tid = 1 };
	cl_cmd(&S.c, "c");
	TEST_ASSERT(strstr(cl_cmd(&S.c, "jThreadsInfo"), "{\"tid\":1,\"name\":\"cpu1\",\"signal\":11,"));
	session_end();
}

static int count_fds(void);

static const char *hex_str(const char *s)
{
	static char buf[2 * PATH_MAX + 1];

	pkt_hex_encode(buf, (const uint8_t *)s, strlen(s));
	buf[2 * strlen(s)] = '\0';
	return buf;
}

/* qXfer:exec-file:read names the image, for gdb to load its symbols from. */
static void test_qxfer_exec_file(void)
{
	char path[PATH_MAX], want[PATH_MAX + 2];

	TEST_ASSERT(realpath("/proc/self/exe", path));
	snprintf(want, sizeof(want), "l%s", path);
	session_start();
	TEST_ASSERT(strstr(cl_cmd(&S.c, "qSupported"), ";qXfer:exec-file:read+;"));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qXfer:exec-file:read::0,1000"), want);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qXfer:exec-file:read:1:0,1000"), want);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qXfer:exec-file:read:2:0,1000"), "E03");
	snprintf(want, sizeof(want), "m%.3s", path + 2);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qXfer:exec-file:read:1:2,3"), want);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qXfer:exec-file:read:x:0,10"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qXfer:exec-file:read::0"), "E16");
	session_end();

	/* A flat image has no symbols: not offered. */
	session_start();
	F.flat = true;
	TEST_ASSERT(!strstr(cl_cmd(&S.c, "qSupported"), "exec-file"));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qXfer:exec-file:read::0,1000"), "E02");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vFile:open:2f,0,0"), "F-1,d");
	session_end();
}

/* vFile reads the image and nothing else, read-only. */
static void test_vfile_reads_the_image_only(void)
{
	char path[PATH_MAX], pkt[2 * PATH_MAX + 64];
	uint8_t head[16];
	struct stat st;
	uint64_t size = 0;
	size_t n;
	int fd, fds;

	TEST_ASSERT(realpath("/proc/self/exe", path) && stat(path, &st) == 0);
	fd = open(path, O_RDONLY);
	TEST_ASSERT(fd >= 0 && pread(fd, head, sizeof(head), 0x40) == sizeof(head));
	close(fd);
	fds = count_fds();
	session_start();
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vFile:setfs:0"), "F0");
	snprintf(pkt, sizeof(pkt), "vFile:open:%s,0,1c0", hex_str(path));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, pkt), "F0");
	cl_send(&S.c, "vFile:pread:0,10,40");
	n = cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT(n == 4 + 16 && !memcmp(reply, "F10;", 4) && !memcmp(reply + 4, head, 16),
		    "pread -> \"%.4s\" and %zu bytes", reply, n);
	snprintf(pkt, sizeof(pkt), "vFile:pread:0,10,%llx", (unsigned long long)st.st_size);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, pkt), "F0;"); /* at the end */
	cl_send(&S.c, "vFile:fstat:0");
	n = cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT(n == 4 + 64 && !memcmp(reply, "F40;", 4));
	for (int i = 0; i < 8; i++) /* st_size: big-endian, after seven 4-byte fields */
		size = size << 8 | (uint8_t)reply[4 + 28 + i];
	TEST_ASSERT_EQ(size, st.st_size);
	TEST_ASSERT_EQ(((uint8_t)reply[4 + 8] << 24 | (uint8_t)reply[4 + 9] << 16 |
			(uint8_t)reply[4 + 10] << 8 | (uint8_t)reply[4 + 11]) & S_IFMT, S_IFREG);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vFile:close:0"), "F0");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vFile:close:0"), "F-1,9");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vFile:pread:0,10,0"), "F-1,9");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vFile:fstat:7"), "F-1,9");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vFile:fstat:ffffffffffffffff"), "F-1,9");

	/* Another file: not served.  Writing the image: read-only. */
	snprintf(pkt, sizeof(pkt), "vFile:open:%s,0,0", hex_str("/etc/passwd"));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, pkt), "F-1,d");
	snprintf(pkt, sizeof(pkt), "vFile:open:%s00,0,0", hex_str(path)); /* a NUL after it */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, pkt), "F-1,d");
	snprintf(pkt, sizeof(pkt), "vFile:open:%s,1,1c0", hex_str(path));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, pkt), "F-1,1e");
	snprintf(pkt, sizeof(pkt), "vFile:open:%s,602,1c0", hex_str(path));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, pkt), "F-1,1e");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vFile:open:zz,0,0"), "F-1,16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vFile:open:2f"), "F-1,16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vFile:pread:0,10"), "F-1,16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vFile:unlink:2f"), ""); /* no such packet here */

	/* Eight descriptors at most; the client's all close with the session. */
	snprintf(pkt, sizeof(pkt), "vFile:open:%s,0,0", hex_str(path));
	for (int i = 0; i < 8; i++) {
		char want[8];

		snprintf(want, sizeof(want), "F%x", i);
		TEST_ASSERT_STREQ(cl_cmd(&S.c, pkt), want);
	}
	TEST_ASSERT_STREQ(cl_cmd(&S.c, pkt), "F-1,18"); /* EMFILE */
	session_end();
	TEST_ASSERT_EQ(count_fds(), fds);
}

static void test_qxfer_memory_map(void)
{
	char want[256];

	session_start();
	snprintf(want, sizeof(want), "l%s", fake_map);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qXfer:memory-map:read::0,1000"), want);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qXfer:memory-map:read::1,4"), "mmemo");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qXfer:memory-map:read:x:0,4"), "E02");
	session_end();
}

static void test_breakpoints(void)
{
	session_start();
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Z0,1000,1"), "OK");
	TEST_ASSERT_EQ(F.bp_type, STUB_BP_SW);
	TEST_ASSERT_EQ(F.bp_addr, 0x1000);
	TEST_ASSERT_EQ(F.bp_kind, 1);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "z0,1000,1"), "OK");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Z2,ffff800000001234,8"), "OK");
	TEST_ASSERT_EQ(F.bp_type, STUB_WP_WRITE);
	TEST_ASSERT_EQ(F.bp_addr, 0xffff800000001234ull);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Z1,dead,1"), "E16"); /* the target refuses */
	TEST_ASSERT_EQ(F.bp_calls, 4);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Z9,1000,1"), "");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Z0,1000"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Z0,1000,"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Z0,,1"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Z0,1000,1;X1,0"), "E16");
	TEST_ASSERT_EQ(F.bp_calls, 4);
	session_end();
}

/* gdb 13 shows a hardware breakpoint's refusal as the text after the
 * second '.' of "E.NN.text". */
static void test_breakpoint_refusal_says_why(void)
{
	session_start();
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Z1,bad,1"), "E.5f.no such thing here (see ?x ?y?" "?)?");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Z1,dead,1"), "E16"); /* no reason: plain */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Z1,1000,1"), "OK");
	session_end();
}

/* Errors carry their text only in the form the client asked for: "E.text"
 * after error-message+, lldb's "Exx;hex" after QEnableErrorStrings. */
static void test_error_text_only_if_asked(void)
{
	static const char why[] = "no such thing here (see ?x ?y?" "?)?";
	char want[256];

	session_start();
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "m10000,4"), "E0e");
	cl_cmd(&S.c, "qSupported:multiprocess+;swbreak+;error-message+");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "m10000,4"), "E.Bad address");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Hg9"), "E.No such process");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Z1,bad,1"), "E.5f.no such thing here (see ?x ?y?" "?)?");
	session_end();

	session_start();
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "QEnableErrorStrings"), "OK");
	snprintf(want, sizeof(want), "E0e;%s", hex_of("Bad address", 11));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "m10000,4"), want);
	snprintf(want, sizeof(want), "E5f;%s", hex_of(why, strlen(why)));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Z1,bad,1"), want);
	session_end();

	session_start(); /* a new client: numbers again */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "m10000,4"), "E0e");
	session_end();
}

static void test_breakpoints_unsupported_reply_empty(void)
{
	struct stub_ops ops = fake_ops;

	ops.insert_bp = NULL;
	ops.remove_bp = NULL;
	session_start_ops(&ops);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Z0,1000,1"), "");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "z0,1000,1"), "");
	session_end();
}

/* ---- execution ---------------------------------------------------------- */

static void test_continue_to_software_breakpoint(void)
{
	session_start();
	cl_cmd(&S.c, "qSupported:swbreak+");
	F.has_on_continue = true;
	F.on_continue = (struct stub_stop){ .kind = STUB_STOP_SWBREAK, .tid = 2 };
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCont;c"), stop_reply(5, 2, "swbreak:;"));
	TEST_ASSERT_EQ(F.resumes, 1);
	TEST_ASSERT_EQ(F.last_resume.nthreads, 3);
	for (int i = 0; i < 3; i++)
		TEST_ASSERT_EQ(F.last_resume.action[i], STUB_CONTINUE);
	/* The stopped thread is now the current one. */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qC"), "QC2");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "g"), all_regs_hex(2));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "c"), stop_reply(5, 2, "swbreak:;"));
	TEST_ASSERT_EQ(F.resumes, 2);
	session_end();
}

/* lldb's QListThreadsInStopReply: every stop reply lists the threads,
 * for this session only. */
static void test_list_threads_in_stop_reply(void)
{
	session_start();
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "QListThreadsInStopReply"), "OK");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "?"), stop_reply(5, 1, "threads:1,2,3;"));
	F.has_on_continue = true;
	F.on_continue = (struct stub_stop){ .kind = STUB_STOP_SWBREAK, .tid = 2 };
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "c"), stop_reply(5, 2, "threads:1,2,3;"));
	session_end();
	session_start();
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "?"), stop_reply(5, 1, ""));
	session_end();
}

static void test_stop_reasons(void)
{
	static const struct {
		struct stub_stop st;
		const char *why;
	} cases[] = {
		{ { .kind = STUB_STOP_HWBREAK, .tid = 3 }, "hwbreak:;" },
		{ { .kind = STUB_STOP_WATCH, .tid = 3, .addr = 0x1234 }, "watch:1234;" },
		{ { .kind = STUB_STOP_RWATCH, .tid = 3, .addr = 0xffff8000 }, "rwatch:ffff8000;" },
		{ { .kind = STUB_STOP_AWATCH, .tid = 3, .addr = 0 }, "awatch:0;" },
	};

	session_start();
	cl_cmd(&S.c, "qSupported:swbreak+;hwbreak+");
	F.has_on_continue = true;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		F.on_continue = cases[i].st;
		TEST_ASSERT_STREQ(cl_cmd(&S.c, "c"), stop_reply(5, 3, cases[i].why));
	}
	F.on_continue = (struct stub_stop){ .kind = STUB_STOP_SIGNAL, .signo = GDB_SIGSEGV, .tid = 1 };
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "c"), stop_reply(11, 1, ""));
	session_end();
}

/* swbreak: and hwbreak: go only to a client that asked for them, and a
 * software breakpoint's PC is where that client expects it (stub.h,
 * pc_after_break). */
static void test_swbreak_only_if_asked(void)
{
	char want[256];

	session_start();
	cl_cmd(&S.c, "qSupported:multiprocess+;swbreak+;hwbreak+");
	F.has_on_continue = true;
	F.on_continue = (struct stub_stop){ .kind = STUB_STOP_SWBREAK, .tid = 2 };
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "c"), stop_reply(5, 2, "swbreak:;"));
	TEST_ASSERT_EQ(F.pc_after_calls, 0);
	session_end();

	session_start();
	cl_cmd(&S.c, "qSupported:multiprocess+;hwbreak+;qRelocInsn+");
	F.has_on_continue = true;
	F.on_continue = (struct stub_stop){ .kind = STUB_STOP_SWBREAK, .tid = 2 };
	F.regs[2][0][0] = 0x42; /* the PC past the breakpoint */
	snprintf(want, sizeof(want), "%s", stop_reply(5, 2, ""));
	F.regs[2][0][0] = 0x41; /* the PC on it */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "c"), want);
	TEST_ASSERT_EQ(F.pc_after_calls, 1);
	TEST_ASSERT_EQ(F.pc_after_tid, 2);
	/* '?' tells the same stop without moving anything again */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "?"), want);
	TEST_ASSERT_EQ(F.pc_after_calls, 1);
	F.on_continue = (struct stub_stop){ .kind = STUB_STOP_HWBREAK, .tid = 3 };
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "c"), stop_reply(5, 3, "hwbreak:;"));
	session_end();

	session_start();
	cl_cmd(&S.c, "qSupported");
	F.has_on_continue = true;
	F.on_continue = (struct stub_stop){ .kind = STUB_STOP_HWBREAK, .tid = 3 };
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "c"), stop_reply(5, 3, ""));
	TEST_ASSERT_EQ(F.pc_after_calls, 0);
	session_end();
}

/* gdb backs the PC up only for a thread it continued; lldb never does. */
static void test_pc_after_break_only_for_a_continued_thread_and_not_for_lldb(void)
{
	session_start();
	cl_cmd(&S.c, "qSupported");
	F.stop_on_step = false;
	F.has_on_continue = true;
	F.on_continue = (struct stub_stop){ .kind = STUB_STOP_SWBREAK, .tid = 1 };
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCont;s:1"), stop_reply(5, 1, ""));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCont;s:1;c"), stop_reply(5, 1, ""));
	TEST_ASSERT_EQ(F.pc_after_calls, 0);
	F.on_continue.tid = 2;
	cl_cmd(&S.c, "vCont;s:1;c");
	TEST_ASSERT_EQ(F.pc_after_calls, 1);
	TEST_ASSERT_EQ(F.pc_after_tid, 2);
	session_end();

	session_start();
	cl_cmd(&S.c, "qSupported:xmlRegisters=i386,arm,mips,arc;multiprocess+");
	cl_cmd(&S.c, "QListThreadsInStopReply");
	F.has_on_continue = true;
	F.on_continue = (struct stub_stop){ .kind = STUB_STOP_SWBREAK, .tid = 1 };
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "c"), stop_reply(5, 1, "threads:1,2,3;"));
	TEST_ASSERT_EQ(F.pc_after_calls, 0);
	session_end();
}

/* The PC moved for the client is the client's once it writes the thread's
 * registers or resumes; a client that leaves first has it moved back (the
 * target would run on from the middle of an instruction). */
static void test_pc_after_break_undone_for_a_client_that_leaves(void)
{
	uint8_t pc0;

	session_start();
	F.has_on_continue = true;
	F.on_continue = (struct stub_stop){ .kind = STUB_STOP_SWBREAK, .tid = 2 };
	pc0 = F.regs[2][0][0];
	cl_cmd(&S.c, "c");
	TEST_ASSERT_EQ(F.regs[2][0][0], (uint8_t)(pc0 + 1));
	session_end();
	TEST_ASSERT_EQ(F.regs[2][0][0], pc0);
	TEST_ASSERT_EQ(F.pc_after_calls, 2);

	/* gdb backs it up itself (P), then detaches: nothing more to undo */
	session_start();
	F.has_on_continue = true;
	F.on_continue = (struct stub_stop){ .kind = STUB_STOP_SWBREAK, .tid = 2 };
	cl_cmd(&S.c, "c");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Hg2"), "OK");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "P0=1011121314151617"), "OK");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "D"), "OK");
	session_wait();
	TEST_ASSERT_EQ(F.pc_after_calls, 1);

	/* a client that continues from there took it as it was */
	session_start();
	F.has_on_continue = true;
	F.on_continue = (struct stub_stop){ .kind = STUB_STOP_SWBREAK, .tid = 2 };
	cl_cmd(&S.c, "c");
	F.on_continue = (struct stub_stop){ .kind = STUB_STOP_SIGNAL, .signo = GDB_SIGINT, .tid = 2 };
	cl_cmd(&S.c, "c");
	session_end();
	TEST_ASSERT_EQ(F.pc_after_calls, 1);
}

static void test_stop_message_comes_first_as_O_packet(void)
{
	session_start();
	F.has_on_continue = true;
	F.on_continue = (struct stub_stop){ .kind = STUB_STOP_SIGNAL, .signo = GDB_SIGTRAP, .tid = 1 };
	strcpy(F.on_continue.message, "triple fault\n");
	cl_send(&S.c, "c");
	cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT(reply[0] == 'O');
	TEST_ASSERT_STREQ(reply + 1, hex_of("triple fault\n", 13));
	cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT_STREQ(reply, stop_reply(5, 1, ""));
	session_end();
}

static void test_exit_gives_W(void)
{
	session_start();
	F.has_on_continue = true;
	F.on_continue = (struct stub_stop){ .kind = STUB_STOP_EXITED, .status = 3 };
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCont;c"), "W03");
	/* After the exit nothing is detached: the target is gone. */
	TEST_ASSERT_EQ(session_end(), 0);
	TEST_ASSERT_EQ(F.detaches, 0);
}

static void test_step_one_thread(void)
{
	session_start();
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "s"), stop_reply(5, 1, ""));
	TEST_ASSERT_EQ(F.last_resume.action[0], STUB_STEP);
	TEST_ASSERT_EQ(F.last_resume.action[1], STUB_STAY);
	TEST_ASSERT_EQ(F.last_resume.action[2], STUB_STAY);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Hc3"), "OK");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "S05"), stop_reply(5, 3, ""));
	TEST_ASSERT_EQ(F.last_resume.action[2], STUB_STEP);
	TEST_ASSERT_EQ(F.last_resume.action[0], STUB_STAY);
	/* A resume address cannot be honoured: refused, target not resumed. */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "s1000"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "C05;1000"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Cxx"), "E16");
	TEST_ASSERT_EQ(F.resumes, 2);
	session_end();
}

static void test_ctrl_c_interrupts_a_running_target(void)
{
	session_start();
	cl_send(&S.c, "vCont;c");
	cl_expect_silence(&S.c, 50);
	pthread_mutex_lock(&F.lock);
	bool running = F.running;
	pthread_mutex_unlock(&F.lock);
	TEST_ASSERT(running);
	cl_write(&S.c, "\x03\x03\x03", 3);
	cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT_STREQ(reply, stop_reply(2, 1, ""));
	TEST_ASSERT(F.interrupts >= 1);
	/* More 0x03 while stopped are harmless; the next reply is ours. */
	cl_write(&S.c, "\x03\x03", 2);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "?"), stop_reply(2, 1, ""));
	session_end();
}

static void test_nack_while_running_resends_console_output(void)
{
	session_start();
	cl_send(&S.c, "c");
	cl_expect_silence(&S.c, 20);
	stub_console(S.stub, "hi", 2);
	cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT_STREQ(reply, "O6869");
	cl_write(&S.c, "-", 1);
	cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT_STREQ(reply, "O6869");
	cl_write(&S.c, "\x03", 1);
	cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT_STREQ(reply, stop_reply(2, 1, ""));
	session_end();
}

static void test_console_only_while_running(void)
{
	session_start();
	stub_console(S.stub, "dropped", 7); /* stopped: dropped */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qC"), "QC1");
	cl_send(&S.c, "c");
	stub_console(S.stub, "out\n", 4);
	cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT_STREQ(reply, "O6f75740a");
	cl_write(&S.c, "\x03", 1);
	cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT_STREQ(reply, stop_reply(2, 1, ""));
	stub_console(S.stub, "dropped", 7);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qC"), "QC1");
	session_end();
}

static void test_packet_while_running_answered_after_the_stop(void)
{
	struct stub_stop st = { .kind = STUB_STOP_SWBREAK, .tid = 1 };

	session_start();
	cl_cmd(&S.c, "qSupported:swbreak+");
	cl_send(&S.c, "c");
	cl_send(&S.c, "qC"); /* acked at once, answered after the stop */
	cl_expect_silence(&S.c, 20);
	fake_post(&st);
	cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT_STREQ(reply, stop_reply(5, 1, "swbreak:;"));
	cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT_STREQ(reply, "QC1");
	session_end();
}

static void test_spurious_stop_wakeup_keeps_waiting(void)
{
	session_start();
	cl_send(&S.c, "c");
	(void)!write(F.pipe[1], "x", 1); /* readable, but get_stop says EAGAIN */
	cl_expect_silence(&S.c, 50);
	pthread_mutex_lock(&F.lock);
	char c;
	(void)!read(F.pipe[0], &c, 1);
	pthread_mutex_unlock(&F.lock);
	cl_write(&S.c, "\x03", 1);
	cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT_STREQ(reply, stop_reply(2, 1, ""));
	session_end();
}

static void test_vcont(void)
{
	session_start();
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCont?"), "vCont;c;C;s;S;t");

	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCont;s:2;c"), stop_reply(5, 2, ""));
	TEST_ASSERT_EQ(F.last_resume.action[0], STUB_CONTINUE);
	TEST_ASSERT_EQ(F.last_resume.action[1], STUB_STEP);
	TEST_ASSERT_EQ(F.last_resume.action[2], STUB_CONTINUE);

	/* Leftmost wins; threads not named stay. */
	F.stop_on_step = false;
	F.has_on_continue = true;
	F.on_continue = (struct stub_stop){ .kind = STUB_STOP_SIGNAL, .signo = GDB_SIGTRAP, .tid = 1 };
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCont;c:1;s:1"), stop_reply(5, 1, ""));
	TEST_ASSERT_EQ(F.last_resume.action[0], STUB_CONTINUE);
	TEST_ASSERT_EQ(F.last_resume.action[1], STUB_STAY);
	TEST_ASSERT_EQ(F.last_resume.action[2], STUB_STAY);

	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCont;S05:3;C02"), stop_reply(5, 1, ""));
	TEST_ASSERT_EQ(F.last_resume.action[0], STUB_CONTINUE);
	TEST_ASSERT_EQ(F.last_resume.action[1], STUB_CONTINUE);
	TEST_ASSERT_EQ(F.last_resume.action[2], STUB_STEP);

	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCont;c:-1"), stop_reply(5, 1, ""));
	TEST_ASSERT_EQ(F.last_resume.action[2], STUB_CONTINUE);

	int before = F.resumes;
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCont;x"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCont;"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCont"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCont;c:"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCont;c:0"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCont;c:2x"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCont;C"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCont;c;;s"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCont;c:9"), "E03");
	TEST_ASSERT_EQ(F.resumes, before);
	session_end();
}

static void test_monitor_output_as_O_packets(void)
{
	char pkt[64];
	static char out[200000];
	size_t got = 0;
	int packets = 0;

	session_start();
	snprintf(pkt, sizeof(pkt), "qRcmd,%s", hex_of("help", 4));
	cl_send(&S.c, pkt);
	cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT_STREQ(reply + 1, hex_of("help: this text\nregs: registers\n", 32));
	cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT_STREQ(reply, "OK");

	/* Long output: several O packets, each within the packet size. */
	snprintf(pkt, sizeof(pkt), "qRcmd,%s", hex_of("big", 3));
	cl_send(&S.c, pkt);
	for (;;) {
		size_t n = cl_recv(&S.c, reply, sizeof(reply));
		long m;

		if (!strcmp(reply, "OK"))
			break;
		TEST_ASSERT(reply[0] == 'O' && n <= STUB_PACKET_SIZE);
		m = pkt_hex_decode((uint8_t *)out + got, sizeof(out) - got, reply + 1, n - 1);
		TEST_ASSERT(m > 0);
		got += (size_t)m;
		packets++;
	}
	TEST_ASSERT_EQ(got, 100000);
	TEST_ASSERT(packets >= 2);
	for (size_t i = 0; i < got; i++)
		TEST_ASSERT_EQ(out[i], 'a' + i % 26);

	snprintf(pkt, sizeof(pkt), "qRcmd,%s", hex_of("nope", 4));
	cl_send(&S.c, pkt);
	cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT_STREQ(reply + 1,
			  hex_of("unknown monitor command, try 'monitor help'\n", 44));
	cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT_STREQ(reply, "OK");

	snprintf(pkt, sizeof(pkt), "qRcmd,%s", hex_of("fail", 4));
	TEST_ASSERT_STREQ(cl_cmd(&S.c, pkt), "E05");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qRcmd,6"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qRcmd,zz"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qRcmd,6800"), "E16"); /* NUL inside */
	session_end();
}

static void test_monitor_unsupported_replies_empty(void)
{
	struct stub_ops ops = fake_ops;

	ops.monitor = NULL;
	session_start_ops(&ops);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qRcmd,68656c70"), "");
	session_end();
}

/* ---- reverse execution: bs, bc, replaylog ------------------------------ */

/* The fake with ops->reverse set (static: the stub keeps the pointer). */
static struct stub_ops reverse_ops;

static void session_start_reverse(void)
{
	reverse_ops = fake_ops;
	reverse_ops.reverse = true;
	session_start_ops(&reverse_ops);
}

static void test_qsupported_advertises_reverse_only_if_the_target_can(void)
{
	char want[256];

	session_start_reverse();
	snprintf(want, sizeof(want),
		 "PacketSize=%x;swbreak+;hwbreak+;qXfer:features:read+;qXfer:memory-map:read+;"
		 "qXfer:threads:read+;qXfer:exec-file:read+;"
		 "binary-upload+;vContSupported+;QStartNoAckMode+;error-message+;"
		 "ReverseStep+;ReverseContinue+;QNonStop+", STUB_PACKET_SIZE);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qSupported:multiprocess+;swbreak+;xmlRegisters=i386"),
			  want);
	/* vCont? says nothing of reverse execution. */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "vCont?"), "vCont;c;C;s;S;t");
	session_end();

	session_start();
	TEST_ASSERT(!strstr(cl_cmd(&S.c, "qSupported"), "Reverse"), "no reverse without ops->reverse");
	session_end();
}

static void test_reverse_unsupported_replies_empty(void)
{
	session_start();
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "bs"), "");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "bc"), "");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Hc2"), "OK");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "bs"), "");
	TEST_ASSERT_EQ(F.resumes, 0);
	check_still_sane(NULL, NULL);
	session_end();
}

static void test_reverse_step_steps_the_hc_thread_backwards(void)
{
	session_start_reverse();
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "bs"), stop_reply(5, 1, ""));
	TEST_ASSERT_EQ(F.resumes, 1);
	TEST_ASSERT(F.last_resume.reverse);
	TEST_ASSERT_EQ(F.last_resume.nthreads, 3);
	TEST_ASSERT_EQ(F.last_resume.action[0], STUB_STEP);
	TEST_ASSERT_EQ(F.last_resume.action[1], STUB_STAY);
	TEST_ASSERT_EQ(F.last_resume.action[2], STUB_STAY);

	/* Hc's thread, as for s. */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Hc3"), "OK");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "bs"), stop_reply(5, 3, ""));
	TEST_ASSERT(F.last_resume.reverse);
	TEST_ASSERT_EQ(F.last_resume.action[0], STUB_STAY);
	TEST_ASSERT_EQ(F.last_resume.action[1], STUB_STAY);
	TEST_ASSERT_EQ(F.last_resume.action[2], STUB_STEP);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "qC"), "QC3");

	/* Without Hc (or Hc0): Hg's thread, as for s. */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Hc0"), "OK");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Hg2"), "OK");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "bs"), stop_reply(5, 2, ""));
	TEST_ASSERT_EQ(F.last_resume.action[1], STUB_STEP);
	TEST_ASSERT_EQ(F.last_resume.action[0], STUB_STAY);
	TEST_ASSERT_EQ(F.resumes, 3);
	session_end();
}

static void test_reverse_continue_and_forward_again(void)
{
	session_start_reverse();
	F.has_on_continue = true;
	F.on_continue = (struct stub_stop){ .kind = STUB_STOP_SWBREAK, .tid = 2 };
	/* Going back gdb backs up no PC: a client without swbreak: gets it
	 * where the target put it, on the breakpoint. */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "bc"), stop_reply(5, 2, ""));
	TEST_ASSERT_EQ(F.pc_after_calls, 0);
	cl_cmd(&S.c, "qSupported:swbreak+");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "bc"), stop_reply(5, 2, "swbreak:;"));
	TEST_ASSERT(F.last_resume.reverse);
	for (int i = 0; i < 3; i++)
		TEST_ASSERT_EQ(F.last_resume.action[i], STUB_CONTINUE);

	/* With Hc, only that thread, as for c. */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Hc3"), "OK");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "bc"), stop_reply(5, 2, "swbreak:;"));
	TEST_ASSERT(F.last_resume.reverse);
	TEST_ASSERT_EQ(F.last_resume.action[0], STUB_STAY);
	TEST_ASSERT_EQ(F.last_resume.action[1], STUB_STAY);
	TEST_ASSERT_EQ(F.last_resume.action[2], STUB_CONTINUE);
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "Hc0"), "OK");

	/* Every forward resume after it goes forward. */
	static const char *const fwd[] = { "c", "s", "C05", "S05", "vCont;c", "vCont;s:1" };
	for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++) {
		TEST_ASSERT_STREQ(cl_cmd(&S.c, "bc"), stop_reply(5, 2, "swbreak:;"));
		TEST_ASSERT(F.last_resume.reverse);
		int n = F.resumes;
		cl_cmd(&S.c, fwd[i]);
		TEST_ASSERT_EQ(F.resumes, n + 1);
		if (F.last_resume.reverse)
			TEST_FAIL("%s after bc resumed backwards", fwd[i]);
	}
	/* A malformed bc / bs resumes nothing. */
	int n = F.resumes;
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "bc;1"), "E16");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "bsx"), "");
	TEST_ASSERT_EQ(F.resumes, n);
	check_still_sane(NULL, NULL);
	session_end();
}

static void test_reverse_continue_interrupted_by_ctrl_c(void)
{
	session_start_reverse();
	cl_send(&S.c, "bc");
	cl_expect_silence(&S.c, 30);
	cl_write(&S.c, "\x03", 1);
	cl_recv(&S.c, reply, sizeof(reply));
	TEST_ASSERT_STREQ(reply, stop_reply(2, 1, ""));
	TEST_ASSERT(F.last_resume.reverse);
	TEST_ASSERT(F.interrupts >= 1);
	session_end();
}

static void test_stop_reply_replaylog_begin(void)
{
	static const struct {
		struct stub_stop st;
		const char *why;
	} cases[] = {
		{ { .kind = STUB_STOP_SIGNAL, .signo = GDB_SIGTRAP, .tid = 1, .log_begin = true },
		  "replaylog:begin;" },
		{ { .kind = STUB_STOP_SWBREAK, .tid = 2, .log_begin = true },
		  "swbreak:;replaylog:begin;" },
		{ { .kind = STUB_STOP_WATCH, .tid = 3, .addr = 0x1234, .log_begin = true },
		  "watch:1234;replaylog:begin;" },
		{ { .kind = STUB_STOP_SIGNAL, .signo = GDB_SIGTRAP, .tid = 3 }, "" }, /* not sticky */
	};

	session_start_reverse();
	cl_cmd(&S.c, "qSupported:swbreak+");
	F.has_on_continue = true;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		F.on_continue = cases[i].st;
		TEST_ASSERT_STREQ(cl_cmd(&S.c, "bc"), stop_reply(5, cases[i].st.tid, cases[i].why));
	}
	/* A reverse step that reaches the start of the log. */
	F.stop_on_step = false;
	F.on_continue = (struct stub_stop){ .kind = STUB_STOP_SIGNAL, .signo = GDB_SIGTRAP, .tid = 1,
					    .log_begin = true };
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "bs"), stop_reply(5, 1, "replaylog:begin;"));
	/* After the thread list (lldb's QListThreadsInStopReply). */
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "QListThreadsInStopReply"), "OK");
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "bc"), stop_reply(5, 1, "threads:1,2,3;replaylog:begin;"));
	/* An exit is a W packet, with nothing else. */
	F.on_continue = (struct stub_stop){ .kind = STUB_STOP_EXITED, .status = 3,
					    .log_begin = true };
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "c"), "W03");
	session_end();
}

/* ---- ending a session --------------------------------------------------- */

static void test_detach(void)
{
	session_start();
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "D"), "OK");
	TEST_ASSERT_EQ(session_wait(), 0);
	TEST_ASSERT_EQ(F.detaches, 1);

	session_start();
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "D;1"), "OK");
	TEST_ASSERT_EQ(session_wait(), 0);
	TEST_ASSERT_EQ(F.detaches, 1);
}

/* k is answered once the target is gone (lldb waits for it; gdb does not
 * read it): killed by signal 9. */
static void test_kill(void)
{
	session_start();
	TEST_ASSERT_STREQ(cl_cmd(&S.c, "k"), "X09");
	TEST_ASSERT_EQ(session_wait(), 1);
	TEST_ASSERT_EQ(F.kills, 1);
	TEST_ASSERT_EQ(F.detaches, 0);
}

static void test_eof_mid_packet_detaches(void)
{
	session_start();
	cl_write(&S.c, "$m0,4", 5);
	TEST_ASSERT_EQ(session_end(), 0);
	TEST_ASSERT_EQ(F.detaches, 1);
}

static void test_eof_while_running_detaches(void)
{
	session_start();
	cl_send(&S.c, "c");
	cl_expect_silence(&S.c, 20);
	TEST_ASSERT_EQ(session_end(), 0);
	TEST_ASSERT_EQ(F.detaches, 1);
	TEST_ASSERT_EQ(F.interrupts, 0);
}

/* ---- stub_run: listening, refusing, re-attaching ------------------------ */

struct runner {
	struct stub *stub;
	int lfd;
	pthread_t th;
	int ret;
};

static void *run_main(void *arg)
{
	struct runner *r = arg;

	r->ret = stub_run(r->stub, r->lfd);
	return NULL;
}

static void runner_start(struct runner *r, const char *spec)
{
	char err[128] = "";

	if (S.live)
		session_end();
	fake_init();
	r->lfd = stub_listen(spec, err, sizeof(err));
	TEST_ASSERT(r->lfd >= 0, "%s", err);
	r->stub = stub_new(&fake_ops, &F);
	TEST_ASSERT(r->stub);
	TEST_ASSERT(pthread_create(&r->th, NULL, run_main, r) == 0);
}

static int runner_wait(struct runner *r)
{
	join_or_die(r->th, "stub_run");
	stub_free(r->stub);
	close(r->lfd);
	return r->ret;
}

static int connect_to(int lfd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd;

	TEST_ASSERT(getsockname(lfd, (struct sockaddr *)&ss, &len) == 0);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	TEST_ASSERT(fd >= 0);
	TEST_ASSERT(connect(fd, (struct sockaddr *)&ss, len) == 0);
	return fd;
}

static void test_run_refuses_a_second_client(void)
{
	struct runner r;
	struct client a = { .fd = -1 }, b = { .fd = -1 }, c = { .fd = -1 };

	runner_start(&r, "127.0.0.1:0");
	a.fd = connect_to(r.lfd);
	TEST_ASSERT_STREQ(cl_cmd(&a, "qC"), "QC1");
	TEST_ASSERT_EQ(F.attaches, 1);

	b.fd = connect_to(r.lfd);
	cl_send(&b, "qSupported"); /* as gdb does; acked, then refused */
	cl_recv(&b, reply, sizeof(reply));
	TEST_ASSERT_STREQ(reply, "E.another debugger is already attached");
	TEST_ASSERT_EQ(cl_getc(&b, TIMEOUT_MS), -2); /* closed */
	close(b.fd);

	/* The first client did not notice. */
	TEST_ASSERT_STREQ(cl_cmd(&a, "g"), all_regs_hex(1));
	/* Also while its target runs. */
	cl_send(&a, "c");
	b.fd = connect_to(r.lfd);
	cl_send(&b, "qSupported");
	cl_recv(&b, reply, sizeof(reply));
	TEST_ASSERT(reply[0] == 'E');
	close(b.fd);
	cl_write(&a, "\x03", 1);
	cl_recv(&a, reply, sizeof(reply));
	TEST_ASSERT_STREQ(reply, stop_reply(2, 1, ""));

	TEST_ASSERT_STREQ(cl_cmd(&a, "D"), "OK");
	close(a.fd);

	/* After a detach the next client attaches. */
	c.fd = connect_to(r.lfd);
	TEST_ASSERT_STREQ(cl_cmd(&c, "qC"), "QC1");
	TEST_ASSERT_EQ(F.attaches, 2);
	F.has_on_continue = true;
	F.on_continue = (struct stub_stop){ .kind = STUB_STOP_EXITED, .status = 42 };
	TEST_ASSERT_STREQ(cl_cmd(&c, "c"), "W2a");
	close(c.fd);
	TEST_ASSERT_EQ(runner_wait(&r), 42);
	TEST_ASSERT_EQ(F.detaches, 1);
}

static void test_run_returns_exit_status_without_client(void)
{
	struct runner r;
	struct stub_stop st = { .kind = STUB_STOP_EXITED, .status = 7 };
	struct stub_stop other = { .kind = STUB_STOP_SIGNAL, .signo = GDB_SIGSEGV, .tid = 1 };

	runner_start(&r, "127.0.0.1:0");
	fake_post(&other); /* a stop with nobody attached does not end it */
	usleep(20000);
	fake_post(&st);
	TEST_ASSERT_EQ(runner_wait(&r), 7);
}

static void test_run_kill_returns_minus_one(void)
{
	struct runner r;
	struct client a = { .fd = -1 };

	runner_start(&r, "127.0.0.1:0");
	a.fd = connect_to(r.lfd);
	cl_send(&a, "k");
	TEST_ASSERT_EQ(runner_wait(&r), -1);
	TEST_ASSERT_EQ(F.kills, 1);
	close(a.fd);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void test_run_many_connections_leak_nothing(void)
{
	char path[64];
	struct runner r;
	int before, after;

	snprintf(path, sizeof(path), "unix:/tmp/unit_stub.%d.sock", getpid());
	before = count_fds();
	runner_start(&r, path);
	for (int i = 0; i < 10000; i++) {
		struct client a = { .fd = connect_to(r.lfd) };

		if (i % 2)
			TEST_ASSERT_STREQ(cl_cmd(&a, "qC"), "QC1");
		else
			cl_write(&a, "$qC#b", 5); /* gone mid-packet */
		close(a.fd);
	}
	/* End it: a last client kills the target. */
	struct client k = { .fd = connect_to(r.lfd) };

	cl_send(&k, "k");
	TEST_ASSERT_EQ(runner_wait(&r), -1);
	close(k.fd);
	unlink(path + 5);
	after = count_fds();
	TEST_ASSERT_EQ(after, before);
	TEST_ASSERT_EQ(F.attaches, 10001);
	TEST_ASSERT_EQ(F.detaches, 10000);
}

static void test_listen_errors_are_clear(void)
{
	char err[128], spec[64], path[200];
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd, fd2;

	TEST_ASSERT(stub_listen("127.0.0.1:99999", err, sizeof(err)) < 0);
	TEST_ASSERT(strstr(err, "bad port '99999'"), "%s", err);
	TEST_ASSERT(stub_listen("abc", err, sizeof(err)) < 0);
	TEST_ASSERT(strstr(err, "bad port"), "%s", err);
	TEST_ASSERT(stub_listen("localhost:", err, sizeof(err)) < 0);
	TEST_ASSERT(strstr(err, "bad port"), "%s", err);
	TEST_ASSERT(stub_listen("1.2.3.4.5:1234", err, sizeof(err)) < 0);
	TEST_ASSERT(strstr(err, "bad host '1.2.3.4.5'"), "%s", err);
	TEST_ASSERT(stub_listen("unix:", err, sizeof(err)) < 0);
	TEST_ASSERT(strstr(err, "empty"), "%s", err);
	memset(path, 'x', sizeof(path));
	memcpy(path, "unix:/tmp/", 10);
	path[sizeof(path) - 1] = '\0';
	TEST_ASSERT(stub_listen(path, err, sizeof(err)) < 0);
	TEST_ASSERT(strstr(err, "too long"), "%s", err);

	fd = stub_listen("0", err, sizeof(err)); /* port only: 127.0.0.1 */
	TEST_ASSERT(fd >= 0, "%s", err);
	TEST_ASSERT(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
	TEST_ASSERT_EQ(sa.sin_family, AF_INET);
	TEST_ASSERT_EQ(ntohl(sa.sin_addr.s_addr), 0x7f000001);
	snprintf(spec, sizeof(spec), "127.0.0.1:%d", ntohs(sa.sin_port));
	fd2 = stub_listen(spec, err, sizeof(err));
	TEST_ASSERT(fd2 < 0);
	snprintf(spec, sizeof(spec), "port %d is in use", ntohs(sa.sin_port));
	TEST_ASSERT_STREQ(err, spec);
	close(fd);
}

static void test_listen_unix_reuses_a_stale_socket_only(void)
{
	char spec[64], err[128];
	int fd, fd2;

	snprintf(spec, sizeof(spec), "unix:/tmp/unit_stub_stale.%d.sock", getpid());
	fd = stub_listen(spec, err, sizeof(err));
	TEST_ASSERT(fd >= 0, "%s", err);
	fd2 = stub_listen(spec, err, sizeof(err));
	TEST_ASSERT(fd2 < 0);
	TEST_ASSERT(strstr(err, "is in use"), "%s", err);
	close(fd); /* the file stays, nobody listens: stale */
	fd = stub_listen(spec, err, sizeof(err));
	TEST_ASSERT(fd >= 0, "%s", err);
	close(fd);
	unlink(spec + 5);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);

	RUN_TEST(test_stop_reason_with_expedited_registers);
	RUN_TEST(test_nack_resends_last_reply);
	RUN_TEST(test_bad_checksum_nacked_then_resend_accepted);
	RUN_TEST(test_short_or_nonhex_checksum_nacked);
	RUN_TEST(test_garbage_between_packets_skipped);
	RUN_TEST(test_no_ack_mode);
	RUN_TEST(test_ack_and_reply_in_order_under_pipelining);
	RUN_TEST(test_oversized_packet_refused_session_goes_on);
	RUN_TEST(test_packet_of_exactly_packet_size_accepted);
	RUN_TEST(test_empty_and_unknown_packets_get_empty_reply);
	RUN_TEST(test_qsupported);
	RUN_TEST(test_qsupported_without_memory_map);
	RUN_TEST(test_null_ops_answer_empty);
	RUN_TEST(test_read_memory);
	RUN_TEST(test_read_memory_partial_and_fault);
	RUN_TEST(test_read_memory_length_capped_to_packet);
	RUN_TEST(test_read_memory_binary_x);
	RUN_TEST(test_zero_length_reads_are_not_empty);
	RUN_TEST(test_read_memory_malformed);
	RUN_TEST(test_write_memory_M_malformed_writes_nothing);
	RUN_TEST(test_write_memory_X_binary_with_escapes);
	RUN_TEST(test_write_memory_X_malformed_writes_nothing);
	RUN_TEST(test_g_reads_registers_up_to_the_first_unknown);
	RUN_TEST(test_G_writes_all_or_nothing);
	RUN_TEST(test_p_and_P);
	RUN_TEST(test_Hg_selects_the_register_thread);
	RUN_TEST(test_thread_queries);
	RUN_TEST(test_qxfer_features_chunks_reassemble);
	RUN_TEST(test_qxfer_memory_map);
	RUN_TEST(test_qxfer_threads);
	RUN_TEST(test_lldb_host_process_and_threads_info);
	RUN_TEST(test_qxfer_exec_file);
	RUN_TEST(test_vfile_reads_the_image_only);
	RUN_TEST(test_memory_region_info);
	RUN_TEST(test_breakpoints);
	RUN_TEST(test_breakpoint_refusal_says_why);
	RUN_TEST(test_error_text_only_if_asked);
	RUN_TEST(test_breakpoints_unsupported_reply_empty);
	RUN_TEST(test_continue_to_software_breakpoint);
	RUN_TEST(test_stop_reasons);
	RUN_TEST(test_swbreak_only_if_asked);
	RUN_TEST(test_pc_after_break_only_for_a_continued_thread_and_not_for_lldb);
	RUN_TEST(test_pc_after_break_undone_for_a_client_that_leaves);
	RUN_TEST(test_list_threads_in_stop_reply);
	RUN_TEST(test_stop_message_comes_first_as_O_packet);
	RUN_TEST(test_exit_gives_W);
	RUN_TEST(test_step_one_thread);
	RUN_TEST(test_ctrl_c_interrupts_a_running_target);
	RUN_TEST(test_nack_while_running_resends_console_output);
	RUN_TEST(test_console_only_while_running);
	RUN_TEST(test_packet_while_running_answered_after_the_stop);
	RUN_TEST(test_spurious_stop_wakeup_keeps_waiting);
	RUN_TEST(test_vcont);
	RUN_TEST(test_qsupported_advertises_reverse_only_if_the_target_can);
	RUN_TEST(test_reverse_unsupported_replies_empty);
	RUN_TEST(test_reverse_step_steps_the_hc_thread_backwards);
	RUN_TEST(test_reverse_continue_and_forward_again);
	RUN_TEST(test_reverse_continue_interrupted_by_ctrl_c);
	RUN_TEST(test_stop_reply_replaylog_begin);
	RUN_TEST(test_monitor_output_as_O_packets);
	RUN_TEST(test_monitor_unsupported_replies_empty);
	RUN_TEST(test_detach);
	RUN_TEST(test_kill);
	RUN_TEST(test_eof_mid_packet_detaches);
	RUN_TEST(test_eof_while_running_detaches);
	RUN_TEST(test_run_refuses_a_second_client);
	RUN_TEST(test_run_returns_exit_status_without_client);
	RUN_TEST(test_run_kill_returns_minus_one);
	RUN_TEST(test_run_many_connections_leak_nothing);
	RUN_TEST(test_listen_errors_are_clear);
	RUN_TEST(test_listen_unix_reuses_a_stale_socket_only);
	RUN_TEST(test_nonstop_negotiation);
	RUN_TEST(test_nonstop_refusal_says_why);
	RUN_TEST(test_nonstop_unsupported_reply_empty);
	RUN_TEST(test_nonstop_why_lists_stopped_threads);
	RUN_TEST(test_nonstop_resume_and_notifications);
	RUN_TEST(test_nonstop_pc_after_break);
	RUN_TEST(test_nonstop_exit_notified);
	if (S.live)
		session_end();
	TEST_MAIN_END();
}
