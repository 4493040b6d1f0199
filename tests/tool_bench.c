/* tool_bench.c - performance figures of the vmm and its gdb stub, and the
 * physical floors they are judged against.
 *
 *   tool_bench [-n RUNS] [-v] FIGURE...        (tests/bench.sh runs them all)
 *
 * Environment: VMM (the vmm binary, default build/vmm), GUESTS (the guest
 * directory, default build/guest); for experiments BENCH_VMM_CPUS and
 * BENCH_CLIENT_CPUS ("0", "0,1") pin the vmm and this client.  Each figure prints one or more lines
 * "name value unit", each the median of RUNS samples (default 7); -v also
 * prints every sample on stderr.
 *
 * The gdb figures speak raw RSP in no-ack mode (after QStartNoAckMode), so
 * they measure the stub, not gdb.  Each starts its own vmm on a free port,
 * reads "... for gdb on ..." from its stderr before connecting, and ends it
 * by PID.  The floors (kvm_exit, kvm_step) create a VM in this process with
 * libvmm and drive KVM_RUN by hand; tcp ping-pongs between two threads.
 *
 * Figures:
 *   boot           boot_ms, boot_gdb_nowait_ms: exec of hello64 to its exit;
 *                  boot_multiboot_ms: of mbexit32, a Multiboot kernel whose
 *                  first instruction exits
 *   attach         attach_ms: connect, qSupported, QStartNoAckMode, ?, g on a
 *                  running kernel64 (the vCPU must be stopped)
 *   regs           regs_rtt_us (g again and again), g_after_step_us (the
 *                  first g after a step: the cache is cold)
 *   step           step_rate: vCont;s:1 round trips per second in kernel64's spin
 *   bp             bp_rtt_us (Z0 in kernel64's spin loop: vCont;c to the
 *                  next hit), bp_hw_rtt_us (the same with Z1)
 *   mem            mem_read_MBps (4 KiB pages), mem_read_2m_MBps,
 *                  mem_read_phys_MBps, mem_read_1g_MBps (or n/a): m packets
 *                  of PacketSize/2 bytes; mem_read_x_MBps: the same 4 KiB
 *                  pages read with GDB 16's binary x packets, as many bytes
 *                  each
 *   interrupt      interrupt_us: 0x03 to the stop reply, kernel64 spinning
 *   run_overhead   run_overhead: loop64 with gdb attached and continued vs
 *                  without --gdb, by the vmm's CPU time (the fixed costs of a
 *                  1-iteration run taken off both); run_overhead_wall: by
 *                  wall time (c to the stop at its HLT vs exec to exit)
 *   record         record_rate: instructions per second of kernel64's spin
 *                  continued under 'monitor record on' (every instruction
 *                  stepped, every RAM write trapped); record_plain_rate: the
 *                  same loop without recording; record_slowdown: the ratio;
 *                  log_bytes_per_insn: log data per instruction;
 *                  reverse_rate: instructions per second of a bc over the
 *                  whole log to its start
 *   kvm_exit       kvm_exit_rate: OUT exits per second, no stub
 *   kvm_step       kvm_step_rate: KVM_GUESTDBG_SINGLESTEP exits per second
 *   kvm_ioctl      kvm_get_regs_us, kvm_get_regs_other_thread_us,
 *                  kvm_set_guest_debug_us: one vCPU ioctl from the thread
 *                  that runs the vCPU and from another
 *   tcp            tcp_rtt_us (default scheduling), tcp_rtt_same_core_us,
 *                  tcp_rtt_cross_core_us: loopback ping-pong of 8 bytes
 *   handoff        handoff_{cond,eventfd}_rtt[_same_core|_cross_core]_us: a
 *                  round trip between two threads by condition variable
 *                  (how the stub wakes a vCPU thread) and by eventfd + poll
 *                  (how a vCPU thread wakes the stub)
 *   guest_loop     guest_loop_*_ns: one iteration of a register-only guest
 *                  loop, and of one incrementing memory
 *   codec          codec_*_us: the stub's hex encoding and framing of one
 *                  full m reply, in this process
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "stub/packet.h"
#include "vmm/vm.h"

#define MAX_SAMPLES 64
#define RX_BUF (1 << 18)
#define PKT_MAX (1 << 20)

#define KERNEL_VIRT 0xffffffff80000000ULL

static int runs = 7;
static bool verbose;
static const char *vmm_path = "build/vmm";
static const char *guests = "build/guest";

/* ---- small things ------------------------------------------------------------ */

static pid_t children[16];
static int nchildren;

static void kill_children(void)
{
	for (int i = 0; i < nchildren; i++)
		if (children[i] > 0) {
			kill(children[i], SIGKILL);
			waitpid(children[i], NULL, 0);
			children[i] = 0;
		}
	nchildren = 0;
}

__attribute__((format(printf, 1, 2), noreturn))
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "tool_bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	kill_children();
	exit(1);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double s[MAX_SAMPLES] = { 0 };

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* One figure: the median of its samples, with the spread under -v. */
static void report(const char *name, const double *v, int n, const char *unit, int prec)
{
	double lo = v[0], hi = v[0];

	for (int i = 1; i < n; i++) {
		lo = v[i] < lo ? v[i] : lo;
		hi = v[i] > hi ? v[i] : hi;
	}
	printf("%s %.*f %s\n", name, prec, median(v, n), unit);
	if (verbose) {
		fprintf(stderr, "  %s samples:", name);
		for (int i = 0; i < n; i++)
			fprintf(stderr, " %.*f", prec, v[i]);
		fprintf(stderr, " (min %.*f max %.*f)\n", prec, lo, prec, hi);
	}
	fflush(stdout);
}

static char *guest(const char *name)
{
	static char paths[8][512];
	static int k;
	char *p = paths[k++ % 8];

	snprintf(p, 512, "%s/%s", guests, name);
	return p;
}

/* Address of a symbol of an ELF, by nm. */
static uint64_t sym(const char *elf, const char *name)
{
	char cmd[700], line[512];
	FILE *f;
	uint64_t addr = 0;
	bool found = false;

	snprintf(cmd, sizeof(cmd), "nm -- '%s'", elf);
	f = popen(cmd, "r");
	if (!f)
		die("cannot run nm: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char type, s[256];
		unsigned long long a;

		if (sscanf(line, "%llx %c %255s", &a, &type, s) == 3 && !strcmp(s, name)) {
			addr = a;
			found = true;
		}
	}
	pclose(f);
	if (!found)
		die("no symbol %s in %s", name, elf);
	return addr;
}

/* A free loopback port: the kernel's pick, released for the vmm to take. */
static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		die("free port: %s", strerror(errno));
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* ---- the vmm as a child ------------------------------------------------------ */

struct vmm {
	pid_t pid;
	int port;
	int err_fd; /* its stderr, or -1 */
};

/* Pin the calling thread to a list of CPUs such as "0" or "0,1". */
static void pin_list(const char *list)
{
	cpu_set_t set;
	char *end;

	CPU_ZERO(&set);
	for (const char *p = list; *p; p = *end ? end + 1 : end) {
		long cpu = strtol(p, &end, 10);

		if (end == p || cpu < 0 || cpu >= CPU_SETSIZE)
			die("bad CPU list '%s'", list);
		CPU_SET(cpu, &set);
	}
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		die("sched_setaffinity(%s): %s", list, strerror(errno));
}

static pid_t spawn(char *const argv[], int *err_fd)
{
	int p[2] = { -1, -1 };
	pid_t pid;

	if (err_fd && pipe2(p, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		if (getenv("BENCH_VMM_CPUS"))
			pin_list(getenv("BENCH_VMM_CPUS"));

		dup2(null, 0);
		dup2(null, 1);
		dup2(err_fd ? p[1] : null, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	if (err_fd) {
		close(p[1]);
		*err_fd = p[0];
	}
	if (nchildren < 16)
		children[nchildren++] = pid;
	return pid;
}

static void forget(pid_t pid)
{
	for (int i = 0; i < nchildren; i++)
		if (children[i] == pid)
			children[i] = children[--nchildren];
}

/* CPU time (user + system) of the last child reaped, in us. */
static double reaped_cpu_us;

/* Wait for a child; its exit status, or -1 if it is still running at the
 * deadline (then it is killed). */
static int reap(pid_t pid, double timeout_us)
{
	double end = now_us() + timeout_us;
	struct rusage ru;
	int st;

	for (;;) {
		pid_t r = wait4(pid, &st, WNOHANG, &ru);

		if (r == pid)
			break;
		if (r < 0)
			die("waitpid: %s", strerror(errno));
		if (now_us() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			forget(pid);
			return -1;
		}
		sleep_us(200);
	}
	forget(pid);
	reaped_cpu_us = ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1e6 +
			ru.ru_stime.tv_usec;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Start "vmm --gdb PORT [--gdb-no-wait] IMAGE ARGS..." and wait until it
 * listens.  args is NULL-terminated. */
static void vmm_start(struct vmm *v, bool nowait, const char *image, const char *const *args)
{
	char *argv[32], port[16], buf[4096];
	size_t n = 0;
	int a = 0;
	double end;

	v->port = free_port();
	snprintf(port, sizeof(port), "%d", v->port);
	argv[a++] = (char *)vmm_path;
	argv[a++] = "--gdb";
	argv[a++] = port;
	if (nowait)
		argv[a++] = "--gdb-no-wait";
	argv[a++] = (char *)image;
	for (int i = 0; args && args[i] && a < 30; i++)
		argv[a++] = (char *)args[i];
	argv[a] = NULL;
	v->pid = spawn(argv, &v->err_fd);
	end = now_us() + 5e6;
	for (;;) {
		struct pollfd p = { .fd = v->err_fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 100) == 1) {
			r = read(v->err_fd, buf + n, sizeof(buf) - 1 - n);
			if (r <= 0)
				die("the vmm ended before it listened: %.*s", (int)n, buf);
			n += (size_t)r;
			buf[n] = 0;
			if (strstr(buf, "for gdb on"))
				return;
			if (n == sizeof(buf) - 1)
				n = 0;
		}
		if (now_us() > end)
			die("the vmm did not listen within 5 s: %s", buf);
	}
}

static void vmm_stop(struct vmm *v)
{
	if (v->pid > 0) {
		kill(v->pid, SIGKILL);
		waitpid(v->pid, NULL, 0);
		forget(v->pid);
	}
	if (v->err_fd >= 0)
		close(v->err_fd);
	v->pid = 0;
	v->err_fd = -1;
}

/* ---- a raw RSP client ---------------------------------------------------------- */

struct rsp {
	int fd;
	bool noack;
	size_t packet_size; /* the server's PacketSize */
	char *in;
	size_t pos, len;
	char *pkt;          /* payload of the last packet, NUL-terminated */
	size_t plen;
};

static void rsp_fill(struct rsp *r)
{
	ssize_t n;

	do
		n = read(r->fd, r->in, RX_BUF);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		die("the vmm closed the connection (%s)", n < 0 ? strerror(errno) : "EOF");
	r->pos = 0;
	r->len = (size_t)n;
}

static int rsp_byte(struct rsp *r)
{
	if (r->pos == r->len)
		rsp_fill(r);
	return (unsigned char)r->in[r->pos++];
}

static void rsp_write(struct rsp *r, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(r->fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("send: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

static void rsp_expect_ack(struct rsp *r)
{
	int c = rsp_byte(r);

	if (c != '+')
		die("expected '+', got 0x%02x", c);
}

static void rsp_send(struct rsp *r, const char *payload)
{
	char frame[1024];
	size_t len = strlen(payload);

	if (len + 4 > sizeof(frame))
		die("packet too long");
	frame[0] = '$';
	memcpy(frame + 1, payload, len);
	snprintf(frame + 1 + len, 4, "#%02x", pkt_checksum(payload, len));
	rsp_write(r, frame, len + 4);
	if (!r->noack)
		rsp_expect_ack(r);
}

/* Sum of bytes mod 256, 8 bytes at a time: the client must cost little
 * next to the stub when replies are 128 KiB. */
static uint8_t fast_checksum(const char *p, size_t len)
{
	const uint64_t lo = 0x00ff00ff00ff00ffULL;
	uint64_t acc = 0, w;
	unsigned sum = 0;
	size_t i = 0;

	while (len - i >= 8) {
		/* 16-bit lanes, two bytes each per word (up to 2 * 255): flush
		 * every 128 words, before any byte values can overflow them (250
		 * held only for hex digits, which binary x replies are not) */
		size_t end = i + 8 * 128 < len - 7 ? i + 8 * 128 : len - 7;

		for (acc = 0; i < end; i += 8) {
			memcpy(&w, p + i, 8);
			acc += (w & lo) + ((w >> 8) & lo);
		}
		acc = (acc & 0xffff) + (acc >> 16 & 0xffff) + (acc >> 32 & 0xffff) + (acc >> 48);
		sum += (unsigned)acc;
	}
	for (; i < len; i++)
		sum += (uint8_t)p[i];
	return (uint8_t)sum;
}

/* Two hex digits (as a little-endian 16-bit load) -> byte + 1, 0: not hex. */
static uint16_t *hex2;

static long fast_hex_decode(uint8_t *out, size_t cap, const char *hex, size_t hexlen)
{
	if (!hex2) {
		hex2 = calloc(65536, sizeof(*hex2));
		if (!hex2)
			die("out of memory");
		for (int a = 0; a < 256; a++)
			for (int b = 0; b < 256; b++)
				if (pkt_hexval((uint8_t)a) >= 0 && pkt_hexval((uint8_t)b) >= 0)
					hex2[a | b << 8] = (uint16_t)(1 + (pkt_hexval((uint8_t)a) << 4 |
									 pkt_hexval((uint8_t)b)));
	}
	if (hexlen % 2 || hexlen / 2 > cap)
		return -EINVAL;
	for (size_t i = 0; i < hexlen / 2; i++) {
		uint16_t pair, v;

		memcpy(&pair, hex + 2 * i, 2);
		v = hex2[pair];
		if (!v)
			return -EINVAL;
		out[i] = (uint8_t)(v - 1);
	}
	return (long)(hexlen / 2);
}

/* The next packet: payload in r->pkt (escapes undone), r->plen bytes.  The
 * body is copied a buffer at a time (memchr for '#'), so big m replies cost
 * the client little. */
static void rsp_recv(struct rsp *r)
{
	size_t n = 0;
	uint8_t sum = 0;
	int hi, lo;

	while (rsp_byte(r) != '$')
		;
	for (;;) {
		char *h;
		size_t chunk;

		if (r->pos == r->len)
			rsp_fill(r);
		h = memchr(r->in + r->pos, '#', r->len - r->pos);
		chunk = (h ? (size_t)(h - r->in) : r->len) - r->pos;
		if (n + chunk >= PKT_MAX)
			die("packet too long");
		memcpy(r->pkt + n, r->in + r->pos, chunk);
		sum += fast_checksum(r->in + r->pos, chunk);
		n += chunk;
		r->pos += chunk;
		if (h) {
			r->pos++;
			break;
		}
	}
	hi = pkt_hexval((uint8_t)rsp_byte(r));
	lo = pkt_hexval((uint8_t)rsp_byte(r));
	if (hi < 0 || lo < 0 || (hi << 4 | lo) != sum)
		die("bad checksum");
	if (memchr(r->pkt, '}', n)) {
		long m = pkt_unescape((uint8_t *)r->pkt, PKT_MAX, r->pkt, n);

		if (m < 0)
			die("bad escape");
		n = (size_t)m;
	}
	r->pkt[n] = 0;
	r->plen = n;
	if (!r->noack)
		rsp_write(r, "+", 1);
}

static const char *rsp_cmd(struct rsp *r, const char *payload)
{
	rsp_send(r, payload);
	rsp_recv(r);
	return r->pkt;
}

/* Replies a command must get exactly. */
static void rsp_ok(struct rsp *r, const char *payload, const char *want)
{
	if (strcmp(rsp_cmd(r, payload), want))
		die("%s: got \"%.80s\", expected \"%s\"", payload, r->pkt, want);
}

/* Wait for the stop reply (T.., S.., W.., X..), skipping console output. */
static const char *rsp_stop(struct rsp *r)
{
	for (;;) {
		rsp_recv(r);
		if (r->pkt[0] == 'T' || r->pkt[0] == 'S' || r->pkt[0] == 'W' || r->pkt[0] == 'X')
			return r->pkt;
		if (r->pkt[0] != 'O')
			die("expected a stop reply, got \"%.80s\"", r->pkt);
	}
}

static const char *rsp_resume(struct rsp *r, const char *payload)
{
	rsp_send(r, payload);
	return rsp_stop(r);
}

static int rsp_connect(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect to port %d: %s", port, strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void rsp_init(struct rsp *r)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
	r->in = malloc(RX_BUF);
	r->pkt = malloc(PKT_MAX);
	if (!r->in || !r->pkt)
		die("out of memory");
}

/* What gdb does first: qSupported, then no-ack mode. */
static void rsp_handshake(struct rsp *r, int port)
{
	const char *ps;

	r->fd = rsp_connect(port);
	r->noack = false;
	r->pos = r->len = 0;
	rsp_cmd(r, "qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+;xmlRegisters=i386");
	ps = strstr(r->pkt, "PacketSize=");
	r->packet_size = ps ? strtoul(ps + 11, NULL, 16) : 0;
	if (!r->packet_size)
		die("qSupported: no PacketSize in \"%s\"", r->pkt);
	rsp_ok(r, "QStartNoAckMode", "OK");
	r->noack = true;
}

static void rsp_close(struct rsp *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

static void rsp_free(struct rsp *r)
{
	rsp_close(r);
	free(r->in);
	free(r->pkt);
}

/* A session on a fresh vmm: handshake and '?'. */
static void session(struct vmm *v, struct rsp *r, bool nowait, const char *image,
		    const char *const *args)
{
	vmm_start(v, nowait, image, args);
	rsp_init(r);
	rsp_handshake(r, v->port);
	rsp_cmd(r, "?");
}

/* 'k' ends the vmm in its own way (so a tracer wrapping it can report),
 * SIGKILL if it does not. */
static void session_end(struct vmm *v, struct rsp *r)
{
	rsp_send(r, "k");
	if (reap(v->pid, 2e6) < 0)
		fprintf(stderr, "tool_bench: the vmm did not end on 'k'\n");
	v->pid = 0;
	rsp_free(r);
	vmm_stop(v);
}

/* Run to addr with a hardware breakpoint (it works before the guest maps
 * addr, unlike a software one). */
static void run_to(struct rsp *r, uint64_t addr)
{
	char p[64];
	const char *st;

	snprintf(p, sizeof(p), "Z1,%llx,1", (unsigned long long)addr);
	rsp_ok(r, p, "OK");
	st = rsp_resume(r, "vCont;c");
	if (strncmp(st, "T05", 3))
		die("run to 0x%llx: stopped with \"%.80s\"", (unsigned long long)addr, st);
	p[0] = 'z';
	rsp_ok(r, p, "OK");
}

/* A monitor command; its output (the O packets, decoded) in out if given. */
static void monitor_out(struct rsp *r, const char *cmd, char *out, size_t cap)
{
	char p[256] = "qRcmd,";
	size_t n = 0;

	pkt_hex_encode(p + 6, (const uint8_t *)cmd, strlen(cmd));
	p[6 + 2 * strlen(cmd)] = 0;
	rsp_send(r, p);
	for (rsp_recv(r); r->pkt[0] == 'O' && r->pkt[1] != 'K'; rsp_recv(r)) {
		long m;

		if (!out)
			continue;
		m = pkt_hex_decode((uint8_t *)out + n, cap - 1 - n, r->pkt + 1, r->plen - 1);
		if (m < 0)
			die("monitor %s: output \"%.80s\" does not decode or fit", cmd, r->pkt);
		n += (size_t)m;
	}
	if (out)
		out[n] = 0;
	if (strcmp(r->pkt, "OK"))
		die("monitor %s: \"%.80s\"", cmd, r->pkt);
}

static void monitor(struct rsp *r, const char *cmd)
{
	monitor_out(r, cmd, NULL, 0);
}

/* ---- figures over the gdb stub ---------------------------------------------------- */

static const char *const kernel_spin[] = { "--arg", "1", NULL };

/* Three samples per run: each is a few ms and the host's load comes and goes. */
static void fig_boot(void)
{
	double plain[MAX_SAMPLES * 3] = { 0 }, gdb[MAX_SAMPLES * 3] = { 0 }, mb[MAX_SAMPLES * 3] = { 0 };
	int n = runs * 3 > MAX_SAMPLES ? MAX_SAMPLES : runs * 3;
	char *argv[8], port[16];
	bool gdb_exits = true;

	for (int i = 0; i < n; i++) {
		double t0;
		int st;

		argv[0] = (char *)vmm_path;
		argv[1] = guest("hello64.bin");
		argv[2] = NULL;
		t0 = now_us();
		st = reap(spawn(argv, NULL), 10e6);
		plain[i] = (now_us() - t0) / 1e3;
		if (st != 0)
			die("vmm hello64.bin: status %d", st);

		snprintf(port, sizeof(port), "%d", free_port());
		argv[1] = "--gdb";
		argv[2] = port;
		argv[3] = "--gdb-no-wait";
		argv[4] = guest("hello64.bin");
		argv[5] = NULL;
		t0 = now_us();
		st = reap(spawn(argv, NULL), 5e6);
		gdb[i] = (now_us() - t0) / 1e3;
		if (st < 0)
			gdb_exits = false;
		else if (st != 0)
			die("vmm --gdb-no-wait hello64.bin: status %d", st);

		/* a Multiboot kernel entered in protected mode, to its first
		 * instruction (an exit through port 0xF4) */
		argv[1] = guest("mbexit32.elf");
		argv[2] = NULL;
		t0 = now_us();
		st = reap(spawn(argv, NULL), 10e6);
		mb[i] = (now_us() - t0) / 1e3;
		if (st != 33)
			die("vmm mbexit32.elf: status %d, want 33", st);
	}
	report("boot_ms", plain, n, "ms", 2);
	report("boot_multiboot_ms", mb, n, "ms", 2);
	if (gdb_exits)
		report("boot_gdb_nowait_ms", gdb, n, "ms", 2);
	else
		printf("boot_gdb_nowait_ms n/a (the vmm did not exit within 5 s after the guest halted)\n");
}

static void fig_attach(void)
{
	double s[MAX_SAMPLES] = { 0 };
	struct vmm v;
	struct rsp r;

	vmm_start(&v, true, guest("kernel64.elf"), kernel_spin);
	rsp_init(&r);
	sleep_us(100000); /* let it reach its spin loop */
	for (int i = 0; i < runs; i++) {
		double t0 = now_us();

		rsp_handshake(&r, v.port);
		rsp_cmd(&r, "?");
		if (r.pkt[0] != 'T')
			die("?: \"%.80s\"", r.pkt);
		rsp_cmd(&r, "g");
		s[i] = (now_us() - t0) / 1e3;
		if (r.plen < 100)
			die("g: \"%.80s\"", r.pkt);
		rsp_ok(&r, "D", "OK");
		rsp_close(&r);
		sleep_us(20000);
	}
	report("attach_ms", s, runs, "ms", 3);
	rsp_free(&r);
	vmm_stop(&v);
}

static void fig_regs(void)
{
	double rtt[MAX_SAMPLES] = { 0 }, cold[MAX_SAMPLES] = { 0 };
	const int n = 300, ns = 100;
	struct vmm v;
	struct rsp r;

	session(&v, &r, false, guest("kernel64.elf"), kernel_spin);
	run_to(&r, sym(guest("kernel64.elf"), "spin"));
	for (int i = 0; i < runs; i++) {
		double t0 = now_us(), sum = 0;

		for (int k = 0; k < n; k++)
			rsp_cmd(&r, "g");
		rtt[i] = (now_us() - t0) / n;
		for (int k = 0; k < ns; k++) {
			rsp_resume(&r, "vCont;s:1");
			t0 = now_us();
			rsp_cmd(&r, "g");
			sum += now_us() - t0;
		}
		cold[i] = sum / ns;
	}
	report("regs_rtt_us", rtt, runs, "us", 1);
	report("g_after_step_us", cold, runs, "us", 1);
	session_end(&v, &r);
}

static void fig_step(void)
{
	double s[MAX_SAMPLES] = { 0 };
	const int n = 300;
	struct vmm v;
	struct rsp r;

	session(&v, &r, false, guest("kernel64.elf"), kernel_spin);
	run_to(&r, sym(guest("kernel64.elf"), "spin"));
	for (int i = 0; i < runs; i++) {
		double t0 = now_us();

		for (int k = 0; k < n; k++)
			if (strncmp(rsp_resume(&r, "vCont;s:1"), "T05", 3))
				die("step: \"%.80s\"", r.pkt);
		s[i] = n / ((now_us() - t0) / 1e6);
	}
	report("step_rate", s, runs, "steps/s", 0);
	session_end(&v, &r);
}

static void bp_loop(struct rsp *r, const char *name, char type, uint64_t addr)
{
	double s[MAX_SAMPLES] = { 0 };
	const int n = 100;
	char z[64];

	snprintf(z, sizeof(z), "Z%c,%llx,1", type, (unsigned long long)addr);
	rsp_ok(r, z, "OK");
	for (int i = 0; i < runs; i++) {
		double t0 = now_us();

		for (int k = 0; k < n; k++)
			if (strncmp(rsp_resume(r, "vCont;c"), "T05", 3))
				die("%s: \"%.80s\"", name, r->pkt);
		s[i] = (now_us() - t0) / n;
	}
	z[0] = 'z';
	rsp_ok(r, z, "OK");
	report(name, s, runs, "us", 1);
}

static void fig_bp(void)
{
	const char *elf = guest("kernel64.elf");
	uint64_t spin = sym(elf, "spin");
	struct vmm v;
	struct rsp r;

	session(&v, &r, false, elf, kernel_spin);
	run_to(&r, sym(elf, "choose_path")); /* kernel64's tables are in place */
	bp_loop(&r, "bp_rtt_us", '0', spin);
	bp_loop(&r, "bp_hw_rtt_us", '1', spin);
	session_end(&v, &r);
}

/* Decoded bytes per second of m (or x) packets of PacketSize/2 bytes at
 * base + (k % wrap) * chunk. */
static void mem_loop(struct rsp *r, const char *name, uint64_t base, int wrap, char packet)
{
	double s[MAX_SAMPLES] = { 0 };
	size_t chunk = r->packet_size / 2;
	const int n = 64;
	uint8_t *buf = malloc(chunk);
	char p[64];

	if (!buf)
		die("out of memory");
	for (int i = 0; i < runs; i++) {
		double t0 = now_us(), bytes = 0;

		for (int k = 0; k < n; k++) {
			long got;

			snprintf(p, sizeof(p), "%c%llx,%zx", packet,
				 (unsigned long long)(base + (uint64_t)(k % wrap) * chunk), chunk);
			rsp_cmd(r, p);
			if (packet == 'x') { /* "b" and the bytes, unescaped by rsp_recv */
				got = r->pkt[0] == 'b' ? (long)r->plen - 1 : -1;
				if (got == (long)chunk)
					memcpy(buf, r->pkt + 1, chunk);
			} else {
				got = fast_hex_decode(buf, chunk, r->pkt, r->plen);
			}
			if (got != (long)chunk)
				die("%s: %s gave %zu bytes of reply: \"%.40s\"", name, p, r->plen, r->pkt);
			bytes += (double)got;
		}
		s[i] = bytes / (now_us() - t0); /* bytes per us = MB/s */
	}
	free(buf);
	report(name, s, runs, "MB/s", 1);
}

static void fig_mem(void)
{
	const char *elf = guest("kernel64.elf");
	struct vmm v;
	struct rsp r;
	char p[64];
	uint8_t gb = 0;

	session(&v, &r, false, elf, kernel_spin);
	run_to(&r, sym(elf, "spin"));
	/* 4 KiB pages: the image is mapped page by page from KERNEL_VIRT; its
	 * first 0x11000 bytes have no hole (stack_guard comes after). */
	if (r.packet_size / 2 > 0x11000)
		die("PacketSize 0x%zx: an m packet would run past kernel64's 4 KiB mappings",
		    r.packet_size);
	mem_loop(&r, "mem_read_MBps", KERNEL_VIRT, 1, 'm');
	mem_loop(&r, "mem_read_x_MBps", KERNEL_VIRT, 1, 'x');
	mem_loop(&r, "mem_read_2m_MBps", sym(elf, "huge_2m"), (int)(0x200000 / (r.packet_size / 2)), 'm');
	snprintf(p, sizeof(p), "m%llx,1", (unsigned long long)sym(elf, "gb_pages"));
	if (pkt_hex_decode(&gb, 1, rsp_cmd(&r, p), 2) != 1)
		die("reading gb_pages: \"%.40s\"", r.pkt);
	if (gb)
		mem_loop(&r, "mem_read_1g_MBps", sym(elf, "huge_1g"), 64, 'm');
	else
		printf("mem_read_1g_MBps n/a (no 1 GiB pages: this KVM's CPUID lacks pdpe1gb, "
		       "so kernel64 did not map huge_1g)\n");
	monitor(&r, "phys on");
	mem_loop(&r, "mem_read_phys_MBps", 0x100000, 64, 'm');
	monitor(&r, "phys off");
	session_end(&v, &r);
}

static void fig_interrupt(void)
{
	double s[MAX_SAMPLES * 3] = { 0 };
	int n = runs * 3 > MAX_SAMPLES ? MAX_SAMPLES : runs * 3;
	struct vmm v;
	struct rsp r;

	session(&v, &r, false, guest("kernel64.elf"), kernel_spin);
	run_to(&r, sym(guest("kernel64.elf"), "spin"));
	srand(1);
	for (int i = 0; i < n; i++) {
		double t0;

		rsp_send(&r, "vCont;c");
		sleep_us(3000 + rand() % 5000);
		t0 = now_us();
		rsp_write(&r, "\x03", 1);
		if (strncmp(rsp_stop(&r), "T02", 3))
			die("interrupt: \"%.80s\"", r.pkt);
		s[i] = now_us() - t0;
	}
	report("interrupt_us", s, n, "us", 1);
	session_end(&v, &r);
}

/* loop64 for iters iterations: wall time of the guest's run and CPU time
 * of the whole vmm, in us. */
static void loop_plain(const char *iters, double *wall, double *cpu)
{
	char *argv[] = { (char *)vmm_path, guest("loop64.bin"), "--arg", (char *)iters, NULL };
	double t0 = now_us();
	int st = reap(spawn(argv, NULL), 60e6);

	if (st != 0)
		die("loop64 --arg %s: status %d", iters, st);
	*wall = now_us() - t0;
	*cpu = reaped_cpu_us;
}

static void loop_gdb(const char *iters, double *wall, double *cpu)
{
	const char *args[] = { "--arg", iters, NULL };
	struct vmm v;
	struct rsp r;
	double t0;

	session(&v, &r, false, guest("loop64.bin"), args);
	t0 = now_us();
	/* With a client the final HLT stops first ("the guest halted"). */
	if (strncmp(rsp_resume(&r, "vCont;c"), "T05", 3))
		die("loop64 under gdb: \"%.80s\"", r.pkt);
	*wall = now_us() - t0;
	if (strcmp(rsp_resume(&r, "vCont;c"), "W00"))
		die("loop64 under gdb, after its HLT: \"%.80s\"", r.pkt);
	rsp_close(&r); /* the vmm ends when its client leaves */
	if (reap(v.pid, 5e6) != 0)
		die("loop64 under gdb: the vmm did not end with status 0");
	*cpu = reaped_cpu_us;
	v.pid = 0;
	rsp_free(&r);
	vmm_stop(&v);
}

/* The CPU time of the vmm is the measure: the host here is shared, and
 * wall time swings by tens of percent with its load; the guest's run is
 * system time of the vCPU thread either way. */
static void fig_run_overhead(void)
{
	double p1[MAX_SAMPLES] = { 0 }, g1[MAX_SAMPLES] = { 0 }, pn[MAX_SAMPLES] = { 0 };
	double gn[MAX_SAMPLES] = { 0 }, wp[MAX_SAMPLES] = { 0 }, wg[MAX_SAMPLES] = { 0 };
	double ratio[MAX_SAMPLES] = { 0 }, wall[MAX_SAMPLES] = { 0 }, w, base_p, base_g;
	const char *iters = getenv("BENCH_LOOP_ITERS") ? getenv("BENCH_LOOP_ITERS") : "50000";
	int n = runs > 5 ? 5 : runs;

	/* Interleaved, so that a slow spell of the host hits both alike. */
	for (int i = 0; i < n; i++) {
		loop_plain(iters, &wp[i], &pn[i]);
		loop_gdb(iters, &wg[i], &gn[i]);
		loop_plain("1", &w, &p1[i]);
		loop_gdb("1", &w, &g1[i]);
	}
	base_p = median(p1, n);
	base_g = median(g1, n);
	for (int i = 0; i < n; i++) {
		ratio[i] = ((gn[i] - base_g) / (pn[i] - base_p) - 1) * 100;
		wall[i] = (wg[i] / wp[i] - 1) * 100;
	}
	if (verbose) {
		report("loop_plain_cpu_us", pn, n, "us", 0);
		report("loop_gdb_cpu_us", gn, n, "us", 0);
		report("loop1_plain_cpu_us", p1, n, "us", 0);
		report("loop1_gdb_cpu_us", g1, n, "us", 0);
		report("loop_plain_wall_us", wp, n, "us", 0);
		report("loop_gdb_wall_us", wg, n, "us", 0);
	}
	report("run_overhead", ratio, n, "%", 2);
	report("run_overhead_wall", wall, n, "%", 2);
}

/* The number after key in a monitor command's output. */
static unsigned long long out_field(const char *out, const char *key)
{
	const char *p = strstr(out, key);
	unsigned long long v;
	char *end;

	if (!p)
		die("no \"%s\" in \"%s\"", key, out);
	p += strlen(key);
	errno = 0;
	v = strtoull(p, &end, 10);
	if (errno || end == p)
		die("no number after \"%s\" in \"%s\"", key, out);
	return v;
}

static uint64_t read_u64(struct rsp *r, uint64_t addr)
{
	char p[64];
	uint64_t v;

	snprintf(p, sizeof(p), "m%llx,8", (unsigned long long)addr);
	rsp_cmd(r, p);
	if (pkt_hex_decode((uint8_t *)&v, sizeof(v), r->pkt, r->plen) != sizeof(v))
		die("%s: \"%.40s\"", p, r->pkt);
	return v;
}

/* Continue for about us microseconds, then 0x03; the time to the stop. */
static double run_for(struct rsp *r, long us)
{
	double t0 = now_us();

	rsp_send(r, "vCont;c");
	sleep_us(us);
	rsp_write(r, "\x03", 1);
	if (strncmp(rsp_stop(r), "T02", 3))
		die("continued, then 0x03: \"%.80s\"", r->pkt);
	return now_us() - t0;
}

/* kernel64's spin (load, add, store, jmp: one RAM write in four
 * instructions) continued for a second under 'monitor record on', then
 * 0x03: instructions logged per second of the run and log bytes per
 * instruction, by 'monitor record status'; then bc back over the whole log
 * to its start (replayed in the vmm, no KVM_RUN).  Each run records afresh,
 * after half a second of the same loop without recording: the slowdown is
 * the ratio of the two loop rates (spins per second). */
static void fig_record(void)
{
	double rate[MAX_SAMPLES] = { 0 }, plain[MAX_SAMPLES] = { 0 }, slow[MAX_SAMPLES] = { 0 };
	double bytes[MAX_SAMPLES] = { 0 }, back[MAX_SAMPLES] = { 0 };
	const char *elf = guest("kernel64.elf");
	uint64_t spins = sym(elf, "spins");
	char out[2048];
	struct vmm v;
	struct rsp r;

	session(&v, &r, false, elf, kernel_spin);
	run_to(&r, sym(elf, "spin"));
	for (int i = 0; i < runs; i++) {
		unsigned long long n, used, dropped;
		uint64_t s0 = read_u64(&r, spins), s1, s2;
		double tp, tr, t0;

		tp = run_for(&r, 500000);
		s1 = read_u64(&r, spins);
		monitor(&r, "record on");
		tr = run_for(&r, 1000000);
		s2 = read_u64(&r, spins);
		monitor_out(&r, "record status", out, sizeof(out));
		n = out_field(out, "instructions: ");
		used = out_field(out, "log data: ");
		dropped = out_field(out, "dropped: ");
		if (!n || s2 == s1)
			die("nothing recorded in 1 s: \"%s\"", out);
		rate[i] = (double)(n + dropped) / (tr / 1e6);
		plain[i] = (double)(s1 - s0) * (double)(n + dropped) / (double)(s2 - s1) / (tp / 1e6);
		slow[i] = ((double)(s1 - s0) / tp) / ((double)(s2 - s1) / tr);
		bytes[i] = (double)used / (double)n;
		t0 = now_us();
		if (strncmp(rsp_resume(&r, "bc"), "T05", 3) || !strstr(r.pkt, "replaylog:begin;"))
			die("bc to the start of the log: \"%.80s\"", r.pkt);
		back[i] = (double)n / ((now_us() - t0) / 1e6);
		monitor_out(&r, "record status", out, sizeof(out));
		if (!strstr(out, "position: at the start"))
			die("after bc: \"%s\"", out);
		monitor(&r, "record off");
	}
	report("record_rate", rate, runs, "insns/s", 0);
	report("record_plain_rate", plain, runs, "insns/s", 0);
	report("record_slowdown", slow, runs, "x", 1);
	report("log_bytes_per_insn", bytes, runs, "bytes", 1);
	report("reverse_rate", back, runs, "insns/s", 0);
	session_end(&v, &r);
}

/* ---- floors without the stub ------------------------------------------------------ */

/* A one-vCPU long-mode VM with code at 0x10000. */
static void bare_vm(struct vm *vm, const uint8_t *code, size_t len)
{
	struct vm_config cfg = { .mode = MODE_LONG, .mem_size = 4 << 20, .ncpus = 1 };
	char err[256];

	if (vm_create(vm, &cfg, err, sizeof(err)))
		die("vm_create: %s", err);
	memcpy(vm->ram + 0x10000, code, len);
	vm->entry = 0x10000;
	if (vm_setup_cpus(vm, err, sizeof(err)))
		die("vm_setup_cpus: %s", err);
}

static void kvm_run_or_die(struct vcpu *c, unsigned want)
{
	if (ioctl(c->fd, KVM_RUN, 0) < 0)
		die("KVM_RUN: %s", strerror(errno));
	if (c->run->exit_reason != want)
		die("KVM_RUN: exit reason %u, expected %u", c->run->exit_reason, want);
}

static void fig_kvm_exit(void)
{
	/* mov $0x80,%edx; 1: out %al,(%dx); jmp 1b */
	static const uint8_t code[] = { 0xba, 0x80, 0, 0, 0, 0xee, 0xeb, 0xfd };
	double s[MAX_SAMPLES] = { 0 };
	const int n = 10000;
	struct vm vm;

	bare_vm(&vm, code, sizeof(code));
	kvm_run_or_die(&vm.cpus[0], KVM_EXIT_IO); /* first touch of the page */
	for (int i = 0; i < runs; i++) {
		double t0 = now_us();

		for (int k = 0; k < n; k++)
			kvm_run_or_die(&vm.cpus[0], KVM_EXIT_IO);
		s[i] = n / ((now_us() - t0) / 1e6);
	}
	vm_destroy(&vm);
	report("kvm_exit_rate", s, runs, "exits/s", 0);
}

static void set_step(struct vcpu *c, bool on)
{
	struct kvm_guest_debug d = { .control = on ? KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP : 0 };

	if (ioctl(c->fd, KVM_SET_GUEST_DEBUG, &d) < 0)
		die("KVM_SET_GUEST_DEBUG: %s", strerror(errno));
}

static void fig_kvm_step(void)
{
	/* 1: nop; nop; jmp 1b */
	static const uint8_t code[] = { 0x90, 0x90, 0xeb, 0xfc };
	double s[MAX_SAMPLES] = { 0 };
	const int n = 10000;
	struct vm vm;

	bare_vm(&vm, code, sizeof(code));
	set_step(&vm.cpus[0], true);
	kvm_run_or_die(&vm.cpus[0], KVM_EXIT_DEBUG);
	for (int i = 0; i < runs; i++) {
		double t0 = now_us();

		for (int k = 0; k < n; k++)
			kvm_run_or_die(&vm.cpus[0], KVM_EXIT_DEBUG);
		s[i] = n / ((now_us() - t0) / 1e6);
	}
	vm_destroy(&vm);
	report("kvm_step_rate", s, runs, "steps/s", 0);
}

struct ioctl_job {
	struct vcpu *c;
	int cpu;          /* pin to it, -1: not */
	double us;        /* result: one KVM_GET_REGS */
};

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		die("sched_setaffinity(%d): %s", cpu, strerror(errno));
}

static double get_regs_us(struct vcpu *c, int n)
{
	struct kvm_regs regs;
	double t0 = now_us();

	for (int k = 0; k < n; k++)
		if (ioctl(c->fd, KVM_GET_REGS, &regs) < 0)
			die("KVM_GET_REGS: %s", strerror(errno));
	return (now_us() - t0) / n;
}

static void *ioctl_thread(void *arg)
{
	struct ioctl_job *j = arg;

	if (j->cpu >= 0)
		pin(j->cpu);
	j->us = get_regs_us(j->c, 1000);
	return NULL;
}

/* What a stop costs in ioctls: GET_REGS from the thread that runs the vCPU,
 * and from another thread (as the stub's thread does in the vmm). */
static void fig_kvm_ioctl(void)
{
	static const uint8_t code[] = { 0x90, 0x90, 0xeb, 0xfc };
	double own[MAX_SAMPLES] = { 0 }, other[MAX_SAMPLES] = { 0 }, other_x[MAX_SAMPLES] = { 0 }, dbg[MAX_SAMPLES] = { 0 };
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	struct vm vm;
	cpu_set_t saved;

	sched_getaffinity(0, sizeof(saved), &saved);
	bare_vm(&vm, code, sizeof(code));
	pin(0);
	set_step(&vm.cpus[0], true);
	kvm_run_or_die(&vm.cpus[0], KVM_EXIT_DEBUG);
	for (int i = 0; i < runs; i++) {
		struct ioctl_job j = { &vm.cpus[0], 0, 0 }, jx = { &vm.cpus[0], ncpu > 1 ? 1 : 0, 0 };
		pthread_t th;
		double t0;

		own[i] = get_regs_us(&vm.cpus[0], 1000);
		kvm_run_or_die(&vm.cpus[0], KVM_EXIT_DEBUG);
		pthread_create(&th, NULL, ioctl_thread, &j);
		pthread_join(th, NULL);
		other[i] = j.us;
		kvm_run_or_die(&vm.cpus[0], KVM_EXIT_DEBUG);
		pthread_create(&th, NULL, ioctl_thread, &jx);
		pthread_join(th, NULL);
		other_x[i] = jx.us;
		kvm_run_or_die(&vm.cpus[0], KVM_EXIT_DEBUG);
		t0 = now_us();
		for (int k = 0; k < 500; k++) {
			set_step(&vm.cpus[0], k & 1);
		}
		dbg[i] = (now_us() - t0) / 500;
	}
	sched_setaffinity(0, sizeof(saved), &saved);
	vm_destroy(&vm);
	report("kvm_get_regs_us", own, runs, "us", 2);
	report("kvm_get_regs_other_thread_us", other, runs, "us", 2);
	report("kvm_get_regs_other_core_us", other_x, runs, "us", 2);
	report("kvm_set_guest_debug_us", dbg, runs, "us", 2);
}

/* Guest loop iteration cost: register-only, and incrementing memory in
 * another page or in the code's own page (as loop64 does). */
static double guest_loop_ns(const uint8_t *code, size_t len, uint32_t n)
{
	struct vm vm;
	uint8_t buf[64];
	double t0, t;

	memcpy(buf, code, len);
	memcpy(buf + 1, &n, 4);
	bare_vm(&vm, buf, len);
	t0 = now_us();
	kvm_run_or_die(&vm.cpus[0], KVM_EXIT_IO);
	t = (now_us() - t0) * 1e3 / n;
	vm_destroy(&vm);
	return t;
}

static void fig_guest_loop(void)
{
	/* mov $N,%ecx; 1: dec %ecx; jnz 1b; out %al,$0x80 */
	static const uint8_t reg[] = { 0xb9, 0, 0, 0, 0, 0xff, 0xc9, 0x75, 0xfc, 0xe6, 0x80 };
	/* mov $N,%ecx; 1: incq ADDR; dec %ecx; jnz 1b; out %al,$0x80 */
	static const uint8_t mem_other[] = { 0xb9, 0, 0, 0, 0, 0x48, 0xff, 0x04, 0x25, 0x00, 0x00,
					     0x02, 0x00, 0xff, 0xc9, 0x75, 0xf4, 0xe6, 0x80 };
	static const uint8_t mem_same[] = { 0xb9, 0, 0, 0, 0, 0x48, 0xff, 0x04, 0x25, 0x00, 0x08,
					    0x01, 0x00, 0xff, 0xc9, 0x75, 0xf4, 0xe6, 0x80 };
	double r[MAX_SAMPLES] = { 0 }, o[MAX_SAMPLES] = { 0 }, s[MAX_SAMPLES] = { 0 };

	for (int i = 0; i < runs; i++) {
		r[i] = guest_loop_ns(reg, sizeof(reg), 200000);
		o[i] = guest_loop_ns(mem_other, sizeof(mem_other), 20000);
		s[i] = guest_loop_ns(mem_same, sizeof(mem_same), 20000);
	}
	report("guest_loop_reg_ns", r, runs, "ns/iteration", 1);
	report("guest_loop_mem_other_page_ns", o, runs, "ns/iteration", 1);
	report("guest_loop_mem_code_page_ns", s, runs, "ns/iteration", 1);
}

/* The stub's codec on one full m reply: hex-encode PacketSize/2 bytes, then
 * frame the PacketSize hex digits (escape scan, checksum). */
static void fig_codec(void)
{
	double enc[MAX_SAMPLES] = { 0 }, frame[MAX_SAMPLES] = { 0 };
	const size_t n = 0x10000;
	uint8_t *mem = malloc(n);
	char *buf = malloc(4 * n + 8);

	if (!mem || !buf)
		die("out of memory");
	for (size_t i = 0; i < n; i++)
		mem[i] = (uint8_t)(i * 7);
	for (int i = 0; i < runs; i++) {
		double t0 = now_us();

		for (int k = 0; k < 20; k++)
			pkt_hex_encode(buf + 1, mem, n);
		enc[i] = (now_us() - t0) / 20;
		t0 = now_us();
		for (int k = 0; k < 20; k++)
			if (!pkt_frame(buf, 4 * n + 8, 2 * n))
				die("pkt_frame failed");
		frame[i] = (now_us() - t0) / 20;
	}
	free(mem);
	free(buf);
	report("codec_hex_encode_64k_us", enc, runs, "us", 1);
	report("codec_frame_128k_us", frame, runs, "us", 1);
}

/* ---- loopback TCP ------------------------------------------------------------ */

struct pong {
	int fd;
	int cpu;
	int n;
};

static void xfer(int fd, char *buf, bool out)
{
	size_t done = 0;

	while (done < 8) {
		ssize_t r = out ? send(fd, buf + done, 8 - done, MSG_NOSIGNAL)
				: recv(fd, buf + done, 8 - done, 0);

		if (r <= 0)
			die("tcp ping-pong: %s", r < 0 ? strerror(errno) : "EOF");
		done += (size_t)r;
	}
}

static void *pong_thread(void *arg)
{
	struct pong *p = arg;
	char buf[8];

	if (p->cpu >= 0)
		pin(p->cpu);
	for (int i = 0; i < p->n; i++) {
		xfer(p->fd, buf, false);
		xfer(p->fd, buf, true);
	}
	return NULL;
}

/* Mean round trip of n 8-byte ping-pongs, client on cpu_a, server on cpu_b. */
static double tcp_rtt(int cpu_a, int cpu_b, int n)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, cfd;
	struct pong p = { -1, cpu_b, n };
	cpu_set_t saved;
	pthread_t th;
	char buf[8] = "pingpong";
	double t0, t;

	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len) < 0)
		die("tcp listen: %s", strerror(errno));
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cfd < 0 || connect(cfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("tcp connect: %s", strerror(errno));
	p.fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (p.fd < 0)
		die("tcp accept: %s", strerror(errno));
	setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(p.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	sched_getaffinity(0, sizeof(saved), &saved);
	pthread_create(&th, NULL, pong_thread, &p);
	if (cpu_a >= 0)
		pin(cpu_a);
	for (int i = 0; i < 50 && i < n; i++) { /* warm up: same count as the thread expects */
		xfer(cfd, buf, true);
		xfer(cfd, buf, false);
	}
	t0 = now_us();
	for (int i = 50; i < n; i++) {
		xfer(cfd, buf, true);
		xfer(cfd, buf, false);
	}
	t = (now_us() - t0) / (n - 50);
	pthread_join(th, NULL);
	sched_setaffinity(0, sizeof(saved), &saved);
	close(cfd);
	close(p.fd);
	close(lfd);
	return t;
}

static void fig_tcp(void)
{
	double def[MAX_SAMPLES] = { 0 }, same[MAX_SAMPLES] = { 0 }, cross[MAX_SAMPLES] = { 0 };
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);

	for (int i = 0; i < runs; i++) {
		def[i] = tcp_rtt(-1, -1, 2050);
		same[i] = tcp_rtt(0, 0, 2050);
		if (ncpu > 1)
			cross[i] = tcp_rtt(0, 1, 1050);
	}
	report("tcp_rtt_us", def, runs, "us", 1);
	report("tcp_rtt_same_core_us", same, runs, "us", 1);
	if (ncpu > 1)
		report("tcp_rtt_cross_core_us", cross, runs, "us", 1);
	else
		printf("tcp_rtt_cross_core_us n/a (one CPU)\n");
}

/* ---- thread hand-offs -------------------------------------------------------- */

/* The two hand-offs of a resume in the vmm: the stub's thread wakes the
 * vCPU's with a condition variable, the vCPU's wakes the stub's with an
 * eventfd it polls.  Here one round trip of each kind between two threads. */
struct handoff {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int turn;          /* 0: main's, 1: the peer's */
	int efd[2];        /* eventfd: to the peer, to main */
	bool use_efd;
	int cpu, n;
};

static void efd_wait(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t v;

	/* poll then read, as the stub does */
	if (poll(&p, 1, -1) != 1 || read(fd, &v, sizeof(v)) != sizeof(v))
		die("eventfd: %s", strerror(errno));
}

static void efd_post(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) != sizeof(one))
		die("eventfd: %s", strerror(errno));
}

static void *handoff_peer(void *arg)
{
	struct handoff *h = arg;

	if (h->cpu >= 0)
		pin(h->cpu);
	for (int i = 0; i < h->n; i++) {
		if (h->use_efd) {
			efd_wait(h->efd[0]);
			efd_post(h->efd[1]);
			continue;
		}
		pthread_mutex_lock(&h->lock);
		while (h->turn != 1)
			pthread_cond_wait(&h->cond, &h->lock);
		h->turn = 0;
		pthread_cond_signal(&h->cond);
		pthread_mutex_unlock(&h->lock);
	}
	return NULL;
}

/* Mean round trip (two hand-offs) in us. */
static double handoff_rtt(bool use_efd, int cpu_a, int cpu_b, int n)
{
	struct handoff h = { .use_efd = use_efd, .cpu = cpu_b, .n = n };
	cpu_set_t saved;
	pthread_t th;
	double t0, t;

	pthread_mutex_init(&h.lock, NULL);
	pthread_cond_init(&h.cond, NULL);
	h.efd[0] = eventfd(0, EFD_CLOEXEC);
	h.efd[1] = eventfd(0, EFD_CLOEXEC);
	if (h.efd[0] < 0 || h.efd[1] < 0)
		die("eventfd: %s", strerror(errno));
	sched_getaffinity(0, sizeof(saved), &saved);
	if (cpu_a >= 0)
		pin(cpu_a);
	pthread_create(&th, NULL, handoff_peer, &h);
	t0 = now_us();
	for (int i = 0; i < n; i++) {
		if (use_efd) {
			efd_post(h.efd[0]);
			efd_wait(h.efd[1]);
			continue;
		}
		pthread_mutex_lock(&h.lock);
		h.turn = 1;
		pthread_cond_signal(&h.cond);
		while (h.turn != 0)
			pthread_cond_wait(&h.cond, &h.lock);
		pthread_mutex_unlock(&h.lock);
	}
	t = (now_us() - t0) / n;
	pthread_join(th, NULL);
	sched_setaffinity(0, sizeof(saved), &saved);
	close(h.efd[0]);
	close(h.efd[1]);
	return t;
}

static void fig_handoff(void)
{
	double c[3][MAX_SAMPLES] = { { 0 } }, e[3][MAX_SAMPLES] = { { 0 } };
	const int cpus[3][2] = { { -1, -1 }, { 0, 0 }, { 0, 1 } };
	const char *const where[3] = { "", "_same_core", "_cross_core" };
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN), nk = ncpu > 1 ? 3 : 2;
	char name[64];

	for (int i = 0; i < runs; i++)
		for (int k = 0; k < nk; k++) {
			c[k][i] = handoff_rtt(false, cpus[k][0], cpus[k][1], 2000);
			e[k][i] = handoff_rtt(true, cpus[k][0], cpus[k][1], 2000);
		}
	for (int k = 0; k < nk; k++) {
		snprintf(name, sizeof(name), "handoff_cond_rtt%s_us", where[k]);
		report(name, c[k], runs, "us", 1);
		snprintf(name, sizeof(name), "handoff_eventfd_rtt%s_us", where[k]);
		report(name, e[k], runs, "us", 1);
	}
}

/* ---- main ------------------------------------------------------------------------ */

static const struct {
	const char *name;
	void (*fn)(void);
} figures[] = {
	{ "boot", fig_boot },
	{ "attach", fig_attach },
	{ "regs", fig_regs },
	{ "step", fig_step },
	{ "bp", fig_bp },
	{ "mem", fig_mem },
	{ "interrupt", fig_interrupt },
	{ "run_overhead", fig_run_overhead },
	{ "record", fig_record },
	{ "kvm_exit", fig_kvm_exit },
	{ "kvm_step", fig_kvm_step },
	{ "kvm_ioctl", fig_kvm_ioctl },
	{ "guest_loop", fig_guest_loop },
	{ "codec", fig_codec },
	{ "tcp", fig_tcp },
	{ "handoff", fig_handoff },
};

int main(int argc, char **argv)
{
	int opt;

	while ((opt = getopt(argc, argv, "n:v")) != -1) {
		switch (opt) {
		case 'n':
			runs = atoi(optarg);
			if (runs < 1 || runs > MAX_SAMPLES)
				die("-n: 1 to %d", MAX_SAMPLES);
			break;
		case 'v':
			verbose = true;
			break;
		default:
			fprintf(stderr, "usage: tool_bench [-n RUNS] [-v] FIGURE...\n");
			return 2;
		}
	}
	if (getenv("VMM"))
		vmm_path = getenv("VMM");
	if (getenv("GUESTS"))
		guests = getenv("GUESTS");
	if (getenv("BENCH_CLIENT_CPUS"))
		pin_list(getenv("BENCH_CLIENT_CPUS"));
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (optind == argc) {
		fprintf(stderr, "usage: tool_bench [-n RUNS] [-v] FIGURE...\nfigures:");
		for (size_t i = 0; i < sizeof(figures) / sizeof(figures[0]); i++)
			fprintf(stderr, " %s", figures[i].name);
		fprintf(stderr, "\n");
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		size_t k;

		for (k = 0; k < sizeof(figures) / sizeof(figures[0]); k++)
			if (!strcmp(argv[i], figures[k].name))
				break;
		if (k == sizeof(figures) / sizeof(figures[0]))
			die("unknown figure '%s'", argv[i]);
		figures[k].fn();
	}
	kill_children();
	return 0;
}
