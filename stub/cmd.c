/* cmd.c - packet handlers and the table that dispatches to them.
 *
 * A handler gets the packet's arguments (the text after its name, NUL
 * terminated, binary data possible for X) and builds its reply payload in
 * out.  It never writes to the socket, except qRcmd's O packets.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "stub/internal.h"

#define REG_MAX 512 /* bytes of one register we can hold */

/* Error numbers go out in hex, as the manual has them ("E xx"): errno
 * values, which gdb shows without interpreting them. */
static int err_code(int err)
{
	if (err < 0)
		err = -err;
	return err <= 0 || err > 0xff ? EIO : err;
}

/* why as one line of text a packet can carry: characters the framing gives
 * a meaning to ($ # } *) and control characters become '?'. */
static void err_text(char *text, size_t cap, const char *why)
{
	size_t i;

	for (i = 0; i < cap - 1 && why[i]; i++)
		text[i] = why[i] < 0x20 || why[i] > 0x7e || strchr("$#}*", why[i]) ? '?' : why[i];
	text[i] = 0;
}

/* An error with the reason told in the form the client asked for: "E.text"
 * (error-message+ in its qSupported), lldb's "Exx;hex-text"
 * (QEnableErrorStrings), else the number alone. */
static void error_reply(struct stub *s, struct pkt_buf *out, int err, const char *why)
{
	char text[256];
	int code = err_code(err);

	err_text(text, sizeof(text), why && *why ? why : strerror(code));
	out->len = 0;
	if (s->client.error_message) {
		pkt_printf(out, "E.%s", text);
	} else if (s->client.lldb_errors) {
		pkt_printf(out, "E%02x;", code);
		pkt_put_hex(out, (const uint8_t *)text, strlen(text));
	} else {
		pkt_printf(out, "E%02x", code);
	}
}

void cmd_error(struct stub *s, struct pkt_buf *out, int err)
{
	error_reply(s, out, err, NULL);
}

/* A refusal of Z with the target's reason.  "E.NN.why" is what gdb's own
 * Z reply parser shows the text of (after the second '.', gdb 13 and since,
 * whatever it announced), and it is a valid "E.text" too. */
void cmd_error_why(struct stub *s, struct pkt_buf *out, int err, const char *why)
{
	char text[256];

	if (s->client.lldb_errors || !*why) {
		error_reply(s, out, err, why);
		return;
	}
	err_text(text, sizeof(text), why);
	out->len = 0;
	pkt_printf(out, "E.%02x.%s", err_code(err), text);
}

/* Parse a hex number that must end exactly at end or at the separator sep. */
static int parse_num(const char **p, const char *end, char sep, uint64_t *v)
{
	int r = pkt_parse_hex(p, end, v);

	if (r)
		return r;
	if (sep) {
		if (*p >= end || **p != sep)
			return -EINVAL;
		(*p)++;
	} else if (*p != end) {
		return -EINVAL;
	}
	return 0;
}

/* A thread id: hex, or -1 for "all". */
static int parse_tid(const char **p, const char *end, int *tid)
{
	uint64_t v;

	if (end - *p >= 2 && (*p)[0] == '-' && (*p)[1] == '1') {
		*p += 2;
		*tid = -1;
		return 0;
	}
	if (pkt_parse_hex(p, end, &v))
		return -EINVAL;
	if (v > INT_MAX)
		return -EINVAL;
	*tid = (int)v;
	return 0;
}

static int thread_list(struct stub *s, int *tids, int max)
{
	int n;

	if (!s->ops->threads) {
		tids[0] = 1;
		return 1;
	}
	n = s->ops->threads(s->t, tids, max);
	if (n < 0)
		return 0;
	return n > max ? max : n;
}

static bool thread_alive(struct stub *s, int tid)
{
	int tids[STUB_MAX_THREADS];
	int n = thread_list(s, tids, STUB_MAX_THREADS);

	for (int i = 0; i < n; i++)
		if (tids[i] == tid)
			return true;
	return false;
}

/* A memory range addr .. addr + len - 1 that does not wrap around. */
static bool range_ok(uint64_t addr, uint64_t len)
{
	return len == 0 || len - 1 <= UINT64_MAX - addr;
}

void cmd_session_start(struct stub *s)
{
	struct stub_stop st;
	int tids[STUB_MAX_THREADS];

	s->stop_tid = 0;
	memset(&st, 0, sizeof(st));
	st.kind = STUB_STOP_SIGNAL;
	st.signo = GDB_SIGTRAP;
	if (s->ops->current_stop && s->ops->current_stop(s->t, &st) == 0 && st.tid > 0)
		s->stop_tid = st.tid;
	if (s->stop_tid <= 0)
		s->stop_tid = thread_list(s, tids, STUB_MAX_THREADS) > 0 ? tids[0] : 1;
	st.tid = s->stop_tid;
	s->last_stop = st;
	s->g_tid = s->stop_tid;
	s->c_tid = 0;
	s->list_threads = false;
	s->pc_moved_tid = 0;
	memset(&s->client, 0, sizeof(s->client));
	s->nonstop = false;
	ns_reset(s);
}

void cmd_pc_settled(struct stub *s, int tid)
{
	if (s->pc_moved_tid == tid)
		s->pc_moved_tid = 0;
}

void cmd_stop_reply(struct stub *s, const struct stub_stop *st, struct pkt_buf *out)
{
	int tid = st->tid > 0 ? st->tid : s->g_tid;
	int regnos[64]; /* registers expedited: the target says which, up to 64 */
	const int max_regnos = (int)(sizeof(regnos) / sizeof(regnos[0]));
	uint8_t reg[REG_MAX];
	int n = 0;

	if (st->kind == STUB_STOP_EXITED) {
		pkt_printf(out, "W%02x", st->status & 0xff);
		return;
	}
	pkt_printf(out, "T%02x", st->kind == STUB_STOP_SIGNAL ? st->signo & 0xff : GDB_SIGTRAP);
	if (s->ops->expedite && s->ops->read_reg)
		n = s->ops->expedite(s->t, regnos, max_regnos);
	for (int i = 0; i < n && i < max_regnos; i++) {
		int size = s->ops->read_reg(s->t, tid, regnos[i], reg, sizeof(reg));

		if (size <= 0 || size > REG_MAX)
			continue;
		pkt_printf(out, "%02x:", regnos[i]);
		pkt_put_hex(out, reg, (size_t)size);
		pkt_puts(out, ";");
	}
	pkt_printf(out, "thread:%x;", tid);
	if (s->list_threads) {
		int tids[STUB_MAX_THREADS];
		int nt = thread_list(s, tids, STUB_MAX_THREADS);

		pkt_puts(out, "threads:");
		for (int i = 0; i < nt; i++)
			pkt_printf(out, i ? ",%x" : "%x", tids[i]);
		pkt_puts(out, ";");
	}
	/* Only to a client that asked for them: gdb 13 refuses a stop reason
	 * it did not ask for ("Unexpected swbreak stop reason"). */
	switch (st->kind) {
	case STUB_STOP_SWBREAK:
		if (s->client.swbreak)
			pkt_puts(out, "swbreak:;");
		break;
	case STUB_STOP_HWBREAK:
		if (s->client.hwbreak)
			pkt_puts(out, "hwbreak:;");
		break;
	case STUB_STOP_WATCH:
		pkt_printf(out, "watch:%llx;", (unsigned long long)st->addr);
		break;
	case STUB_STOP_RWATCH:
		pkt_printf(out, "rwatch:%llx;", (unsigned long long)st->addr);
		break;
	case STUB_STOP_AWATCH:
		pkt_printf(out, "awatch:%llx;", (unsigned long long)st->addr);
		break;
	default:
		break;
	}
	if (st->log_begin)
		pkt_puts(out, "replaylog:begin;");
}

typedef enum cmd_result (*cmd_fn)(struct stub *s, const char *a, const char *end,
				  struct pkt_buf *out);

/* ? */
static enum cmd_result h_why(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	struct stub_stop st;

	(void)a, (void)end;
	if (s->nonstop)
		return ns_why(s, out);
	memset(&st, 0, sizeof(st));
	st.kind = STUB_STOP_SIGNAL;
	st.signo = GDB_SIGTRAP;
	st.tid = s->stop_tid;
	if (s->ops->current_stop) {
		int r = s->ops->current_stop(s->t, &st);

		if (r) {
			cmd_error(s, out, r);
			return CMD_REPLY;
		}
	}
	if (st.tid > 0 && st.kind != STUB_STOP_EXITED)
		s->stop_tid = s->g_tid = st.tid;
	s->last_stop = st;
	/* No O packet here: gdb reads this reply outside its wait loop. */
	cmd_stop_reply(s, &st, out);
	return CMD_REPLY;
}

/* g */
static enum cmd_result h_g(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	uint8_t reg[REG_MAX];
	int count;

	(void)a, (void)end;
	if (!s->ops->read_reg || !s->ops->reg_count)
		return CMD_REPLY;
	count = s->ops->reg_count(s->t);
	for (int r = 0; r < count; r++) {
		int size = s->ops->read_reg(s->t, s->g_tid, r, reg, sizeof(reg));

		if (size < 0) {
			cmd_error(s, out, size);
			return CMD_REPLY;
		}
		/* An unknown register ends the packet; gdb marks the rest unavailable. */
		if (size == 0 || size > REG_MAX)
			break;
		pkt_put_hex(out, reg, (size_t)size);
	}
	if (out->overflow)
		cmd_error(s, out, EMSGSIZE);
	return CMD_REPLY;
}

/* Size of each register up to the first unknown one; total in bytes or -errno. */
static long reg_sizes(struct stub *s, int *sizes, int max, int *nregs)
{
	uint8_t reg[REG_MAX];
	int count = s->ops->reg_count(s->t);
	long total = 0;
	int r;

	for (r = 0; r < count && r < max; r++) {
		int size = s->ops->read_reg(s->t, s->g_tid, r, reg, sizeof(reg));

		if (size < 0)
			return size;
		if (size == 0 || size > REG_MAX)
			break;
		sizes[r] = size;
		total += size;
	}
	*nregs = r;
	return total;
}

/* G XX... */
static enum cmd_result h_G(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	int sizes[1024], nregs;
	long total, n;
	size_t off = 0;

	if (!s->ops->read_reg || !s->ops->write_reg || !s->ops->reg_count)
		return CMD_REPLY;
	total = reg_sizes(s, sizes, 1024, &nregs);
	if (total < 0) {
		cmd_error(s, out, (int)total);
		return CMD_REPLY;
	}
	if ((size_t)(end - a) != 2 * (size_t)total) {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	n = pkt_hex_decode(s->scratch, s->scratch_cap, a, (size_t)(end - a));
	if (n < 0) {
		cmd_error(s, out, (int)n);
		return CMD_REPLY;
	}
	for (int r = 0; r < nregs; r++) {
		int e = s->ops->write_reg(s->t, s->g_tid, r, s->scratch + off, (size_t)sizes[r]);

		if (e) {
			cmd_error(s, out, e);
			return CMD_REPLY;
		}
		off += (size_t)sizes[r];
	}
	cmd_pc_settled(s, s->g_tid);
	pkt_puts(out, "OK");
	return CMD_REPLY;
}

/* Register number n of the current layout, or -EINVAL. */
static int parse_regno(struct stub *s, const char **p, const char *end, char sep)
{
	uint64_t n;

	if (parse_num(p, end, sep, &n))
		return -EINVAL;
	if (n >= (uint64_t)s->ops->reg_count(s->t))
		return -EINVAL;
	return (int)n;
}

/* p n */
static enum cmd_result h_p(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	uint8_t reg[REG_MAX];
	int regno, size;

	if (!s->ops->read_reg || !s->ops->reg_count)
		return CMD_REPLY;
	regno = parse_regno(s, &a, end, 0);
	if (regno < 0) {
		cmd_error(s, out, regno);
		return CMD_REPLY;
	}
	size = s->ops->read_reg(s->t, s->g_tid, regno, reg, sizeof(reg));
	if (size <= 0 || size > REG_MAX) {
		cmd_error(s, out, size < 0 ? size : EINVAL);
		return CMD_REPLY;
	}
	pkt_put_hex(out, reg, (size_t)size);
	return CMD_REPLY;
}

/* P n=value */
static enum cmd_result h_P(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	uint8_t reg[REG_MAX];
	int regno, size, e;
	long n;

	if (!s->ops->read_reg || !s->ops->write_reg || !s->ops->reg_count)
		return CMD_REPLY;
	regno = parse_regno(s, &a, end, '=');
	if (regno < 0) {
		cmd_error(s, out, regno);
		return CMD_REPLY;
	}
	size = s->ops->read_reg(s->t, s->g_tid, regno, reg, sizeof(reg));
	if (size <= 0 || size > REG_MAX) {
		cmd_error(s, out, size < 0 ? size : EINVAL);
		return CMD_REPLY;
	}
	n = pkt_hex_decode(reg, sizeof(reg), a, (size_t)(end - a));
	if (n != size) {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	e = s->ops->write_reg(s->t, s->g_tid, regno, reg, (size_t)n);
	if (e) {
		cmd_error(s, out, e);
	} else {
		cmd_pc_settled(s, s->g_tid);
		pkt_puts(out, "OK");
	}
	return CMD_REPLY;
}

/* "addr,length" then sep (':' for M / X) or the end; checks the range. */
static int parse_mem(const char **p, const char *end, char sep, uint64_t *addr, uint64_t *len)
{
	if (parse_num(p, end, ',', addr) || parse_num(p, end, sep, len))
		return -EINVAL;
	if (!range_ok(*addr, *len))
		return -EINVAL;
	return 0;
}

/* The memory a read packet asks for, into scratch: its length in *n, at most
 * cap bytes.  false if the reply is an error, already in out. */
static bool read_mem(struct stub *s, const char *a, const char *end, size_t cap,
		     struct pkt_buf *out, size_t *n)
{
	uint64_t addr, len;
	long got;

	if (parse_mem(&a, end, 0, &addr, &len) || len > STUB_PACKET_SIZE) {
		cmd_error(s, out, EINVAL);
		return false;
	}
	*n = len > cap ? cap : (size_t)len;
	if (!*n)
		return true;
	got = s->ops->read_mem(s->t, s->g_tid, addr, s->scratch, *n);
	if (got <= 0) {
		cmd_error(s, out, got < 0 ? (int)got : EFAULT);
		return false;
	}
	if ((size_t)got < *n)
		*n = (size_t)got;
	return true;
}

/* m addr,length */
static enum cmd_result h_m(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	size_t n;

	if (!s->ops->read_mem)
		return CMD_REPLY;
	if (!read_mem(s, a, end, pkt_room(out) / 2, out, &n))
		return CMD_REPLY;
	/* Zero bytes in hex are an empty reply, which says "unsupported":
	 * OK instead, as lldb-server answers. */
	if (n)
		pkt_put_hex(out, s->scratch, n);
	else
		pkt_puts(out, "OK");
	return CMD_REPLY;
}

/* x addr,length (GDB 16): "b" and the bytes, binary (escaped when framed);
 * zero bytes are "b" alone.  lldb's older x has no "b" and answers its
 * x0,0 probe with OK: lldb 14 takes "b" for no, and reads with m. */
static enum cmd_result h_x(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	size_t n;

	if (!s->ops->read_mem)
		return CMD_REPLY;
	if (!read_mem(s, a, end, pkt_room(out) - 1, out, &n))
		return CMD_REPLY;
	pkt_puts(out, "b");
	pkt_put(out, s->scratch, n);
	return CMD_REPLY;
}

static enum cmd_result write_mem(struct stub *s, uint64_t addr, size_t len, struct pkt_buf *out)
{
	int e = s->ops->write_mem(s->t, s->g_tid, addr, s->scratch, len);

	if (e)
		cmd_error(s, out, e);
	else
		pkt_puts(out, "OK");
	return CMD_REPLY;
}

/* M addr,length:XX... */
static enum cmd_result h_M(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	uint64_t addr, len;
	long n;

	if (!s->ops->write_mem)
		return CMD_REPLY;
	if (parse_mem(&a, end, ':', &addr, &len) || len > s->scratch_cap ||
	    (size_t)(end - a) != 2 * len) {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	n = pkt_hex_decode(s->scratch, s->scratch_cap, a, (size_t)(end - a));
	if (n < 0) {
		cmd_error(s, out, (int)n);
		return CMD_REPLY;
	}
	if (len == 0) {
		pkt_puts(out, "OK");
		return CMD_REPLY;
	}
	return write_mem(s, addr, (size_t)len, out);
}

/* X addr,length:binary */
static enum cmd_result h_X(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	uint64_t addr, len;
	long n;

	if (!s->ops->write_mem)
		return CMD_REPLY;
	if (parse_mem(&a, end, ':', &addr, &len) || len > s->scratch_cap) {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	n = pkt_unescape(s->scratch, s->scratch_cap, a, (size_t)(end - a));
	if (n < 0 || (uint64_t)n != len) {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	if (len == 0) { /* gdb's probe for X support */
		pkt_puts(out, "OK");
		return CMD_REPLY;
	}
	return write_mem(s, addr, (size_t)len, out);
}

static enum cmd_result breakpoint(struct stub *s, const char *a, const char *end,
				  struct pkt_buf *out, bool insert)
{
	uint64_t type, addr, kind;
	char why[256] = "";
	int e;

	if (insert ? !s->ops->insert_bp : !s->ops->remove_bp)
		return CMD_REPLY;
	if (parse_num(&a, end, ',', &type) || parse_num(&a, end, ',', &addr)) {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	/* kind may be followed by ";cond..." lists, which we do not support. */
	if (pkt_parse_hex(&a, end, &kind) || a != end) {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	if (type > STUB_WP_ACCESS)
		return CMD_REPLY; /* unsupported type: empty */
	if (insert)
		e = s->ops->insert_bp(s->t, (enum stub_bp_type)type, addr, kind, why, sizeof(why));
	else
		e = s->ops->remove_bp(s->t, (enum stub_bp_type)type, addr, kind);
	if (e)
		cmd_error_why(s, out, e, why);
	else
		pkt_puts(out, "OK");
	return CMD_REPLY;
}

/* Z type,addr,kind */
static enum cmd_result h_Z(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	return breakpoint(s, a, end, out, true);
}

/* z type,addr,kind */
static enum cmd_result h_z(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	return breakpoint(s, a, end, out, false);
}

/* Every thread id slot STUB_STAY; returns the alive threads. */
static int resume_reset(struct stub *s, int *tids)
{
	int n = thread_list(s, tids, STUB_MAX_THREADS);

	memset(&s->resume, 0, sizeof(s->resume));
	for (int i = 0; i < STUB_MAX_THREADS; i++)
		s->resume.action[i] = STUB_STAY;
	for (int i = 0; i < n; i++)
		if (tids[i] > s->resume.nthreads && tids[i] <= STUB_MAX_THREADS)
			s->resume.nthreads = tids[i];
	return n;
}

/* c, s, C, S: an optional resume address we cannot honour (the stub does
 * not know which register is the PC), so refuse it rather than ignore it. */
static enum cmd_result legacy_resume(struct stub *s, const char *a, const char *end,
				     struct pkt_buf *out, bool step, bool has_sig)
{
	int tids[STUB_MAX_THREADS];
	int n = resume_reset(s, tids);
	uint64_t sig;

	if (has_sig && pkt_parse_hex(&a, end, &sig)) {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	if (a != end) {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	if (step || s->c_tid > 0) {
		/* Hc / Hg accept any live thread; the resume slots end at STUB_MAX_THREADS. */
		int tid = s->c_tid > 0 ? s->c_tid : s->g_tid;

		if (tid < 1 || tid > STUB_MAX_THREADS) {
			cmd_error(s, out, ESRCH);
			return CMD_REPLY;
		}
		s->resume.action[tid - 1] = step ? STUB_STEP : STUB_CONTINUE;
	} else {
		for (int i = 0; i < n; i++)
			if (tids[i] >= 1 && tids[i] <= STUB_MAX_THREADS)
				s->resume.action[tids[i] - 1] = STUB_CONTINUE;
	}
	return CMD_RESUME;
}

/* c [addr] */
static enum cmd_result h_c(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	return legacy_resume(s, a, end, out, false, false);
}

/* s [addr] */
static enum cmd_result h_s(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	return legacy_resume(s, a, end, out, true, false);
}

/* C sig[;addr] */
static enum cmd_result h_C(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	return legacy_resume(s, a, end, out, false, true);
}

/* S sig[;addr] */
static enum cmd_result h_S(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	return legacy_resume(s, a, end, out, true, true);
}

/* bs, bc: step or continue backwards (Hc's thread, as for s / c). */
static enum cmd_result reverse_resume(struct stub *s, const char *a, const char *end,
				      struct pkt_buf *out, bool step)
{
	enum cmd_result r;

	if (!s->ops->reverse)
		return CMD_REPLY; /* empty: gdb says reverse execution is not supported */
	r = legacy_resume(s, a, end, out, step, false);
	s->resume.reverse = true;
	return r;
}

static enum cmd_result h_bs(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	return reverse_resume(s, a, end, out, true);
}

static enum cmd_result h_bc(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	return reverse_resume(s, a, end, out, false);
}

/* vCont? */
static enum cmd_result h_vcont_query(struct stub *s, const char *a, const char *end,
				     struct pkt_buf *out)
{
	(void)a, (void)end;
	pkt_puts(out, s->ops->range_step ? "vCont;c;C;s;S;r" : "vCont;c;C;s;S");
	if (s->ops->nonstop)
		pkt_puts(out, ";t");
	return CMD_REPLY;
}

/* vCont[;action[:tid]]... : the leftmost action that names a thread wins. */
static enum cmd_result h_vcont(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	int tids[STUB_MAX_THREADS];
	bool set[STUB_MAX_THREADS] = { false };
	int n = resume_reset(s, tids);
	int actions = 0;

	while (a < end) {
		enum stub_action act;
		uint64_t sig, lo = 0, hi = 0;
		int tid = -1;

		if (*a++ != ';' || a >= end)
			goto err;
		switch (*a++) {
		case 'c':
			act = STUB_CONTINUE;
			break;
		case 's':
			act = STUB_STEP;
			break;
		case 'C':
			act = STUB_CONTINUE;
			if (pkt_parse_hex(&a, end, &sig))
				goto err;
			break;
		case 'S':
			act = STUB_STEP;
			if (pkt_parse_hex(&a, end, &sig))
				goto err;
			break;
		case 't': /* stop the thread (non-stop only) */
			if (!s->nonstop)
				goto err;
			act = STUB_STOP_THREAD;
			break;
		case 'r': /* r start,end */
			act = STUB_RANGE;
			if (!s->ops->range_step || pkt_parse_hex(&a, end, &lo) || a >= end ||
			    *a++ != ',' || pkt_parse_hex(&a, end, &hi))
				goto err;
			break;
		default:
			goto err;
		}
		if (a < end && *a == ':') {
			a++;
			if (parse_tid(&a, end, &tid) || tid == 0)
				goto err;
		}
		if (a < end && *a != ';')
			goto err;
		actions++;
		if (tid > 0) {
			if (!thread_alive(s, tid) || tid > STUB_MAX_THREADS) {
				cmd_error(s, out, ESRCH);
				return CMD_REPLY;
			}
			if (!set[tid - 1]) {
				set[tid - 1] = true;
				s->resume.action[tid - 1] = act;
				s->resume.range_start[tid - 1] = lo;
				s->resume.range_end[tid - 1] = hi;
			}
			continue;
		}
		for (int i = 0; i < n; i++) {
			int t = tids[i];

			if (t >= 1 && t <= STUB_MAX_THREADS && !set[t - 1]) {
				set[t - 1] = true;
				s->resume.action[t - 1] = act;
				s->resume.range_start[t - 1] = lo;
				s->resume.range_end[t - 1] = hi;
			}
		}
	}
	if (!actions)
		goto err;
	return CMD_RESUME;

err:
	cmd_error(s, out, EINVAL);
	return CMD_REPLY;
}

/* H op tid */
static enum cmd_result h_H(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	char op;
	int tid;

	if (a >= end) {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	op = *a++;
	if ((op != 'g' && op != 'c') || parse_tid(&a, end, &tid) || a != end) {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	if (tid > 0 && !thread_alive(s, tid)) {
		cmd_error(s, out, ESRCH);
		return CMD_REPLY;
	}
	if (op == 'g')
		s->g_tid = tid > 0 ? tid : s->stop_tid;
	else
		s->c_tid = tid > 0 ? tid : 0;
	pkt_puts(out, "OK");
	return CMD_REPLY;
}

/* T tid */
static enum cmd_result h_T(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	int tid;

	if (parse_tid(&a, end, &tid) || a != end || tid <= 0 || !thread_alive(s, tid))
		cmd_error(s, out, ESRCH);
	else
		pkt_puts(out, "OK");
	return CMD_REPLY;
}

/* qC */
static enum cmd_result h_qC(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	(void)a, (void)end;
	pkt_printf(out, "QC%x", s->stop_tid);
	return CMD_REPLY;
}

/* qAttached[:pid] */
static enum cmd_result h_qattached(struct stub *s, const char *a, const char *end,
				   struct pkt_buf *out)
{
	(void)s, (void)a, (void)end;
	pkt_puts(out, "1");
	return CMD_REPLY;
}

/* qfThreadInfo */
static enum cmd_result h_qfthread(struct stub *s, const char *a, const char *end,
				  struct pkt_buf *out)
{
	int tids[STUB_MAX_THREADS];
	int n = thread_list(s, tids, STUB_MAX_THREADS);

	(void)a, (void)end;
	pkt_puts(out, "m");
	for (int i = 0; i < n; i++)
		pkt_printf(out, i ? ",%x" : "%x", tids[i]);
	return CMD_REPLY;
}

/* qsThreadInfo */
static enum cmd_result h_qsthread(struct stub *s, const char *a, const char *end,
				  struct pkt_buf *out)
{
	(void)s, (void)a, (void)end;
	pkt_puts(out, "l");
	return CMD_REPLY;
}

/* qThreadExtraInfo,tid */
static enum cmd_result h_qextra(struct stub *s, const char *a, const char *end,
				struct pkt_buf *out)
{
	char info[256];
	int tid, e;

	if (!s->ops->thread_info)
		return CMD_REPLY;
	if (a >= end || *a++ != ',' || parse_tid(&a, end, &tid) || a != end || tid <= 0 ||
	    !thread_alive(s, tid)) {
		cmd_error(s, out, ESRCH);
		return CMD_REPLY;
	}
	info[0] = '\0';
	e = s->ops->thread_info(s->t, tid, info, sizeof(info));
	if (e < 0) {
		cmd_error(s, out, e);
		return CMD_REPLY;
	}
	pkt_put_hex(out, (const uint8_t *)info, strnlen(info, sizeof(info)));
	return CMD_REPLY;
}

/* Is feature (e.g. "swbreak+") one of the ';'-separated ones in a .. end? */
static bool has_feature(const char *a, const char *end, const char *feature)
{
	size_t n = strlen(feature);

	while (a < end) {
		const char *semi = memchr(a, ';', (size_t)(end - a));
		const char *f_end = semi ? semi : end;

		if ((size_t)(f_end - a) == n && !memcmp(a, feature, n))
			return true;
		a = f_end + 1;
	}
	return false;
}

/* qSupported[:feature;...] */
static enum cmd_result h_qsupported(struct stub *s, const char *a, const char *end,
				    struct pkt_buf *out)
{
	if (a < end && *a == ':')
		a++;
	s->client.swbreak = has_feature(a, end, "swbreak+");
	s->client.hwbreak = has_feature(a, end, "hwbreak+");
	s->client.error_message = has_feature(a, end, "error-message+");
	pkt_printf(out, "PacketSize=%x;swbreak+;hwbreak+", STUB_PACKET_SIZE);
	if (s->ops->xml)
		pkt_puts(out, ";qXfer:features:read+");
	if (s->ops->memory_map)
		pkt_puts(out, ";qXfer:memory-map:read+");
	if (s->ops->thread_desc)
		pkt_puts(out, ";qXfer:threads:read+");
	if (hostio_exec_file(s, (char *)s->scratch) == 0)
		pkt_puts(out, ";qXfer:exec-file:read+");
	if (s->ops->read_mem)
		pkt_puts(out, ";binary-upload+"); /* x: GDB 16 uses it only if told */
	pkt_puts(out, ";vContSupported+;QStartNoAckMode+;error-message+");
	if (s->ops->reverse)
		pkt_puts(out, ";ReverseStep+;ReverseContinue+");
	if (s->ops->nonstop)
		pkt_puts(out, ";QNonStop+");
	return CMD_REPLY;
}

/* QStartNoAckMode */
static enum cmd_result h_noack(struct stub *s, const char *a, const char *end,
			       struct pkt_buf *out)
{
	(void)a, (void)end;
	s->conn.noack = true; /* this packet's own '+' is still owed and sent */
	pkt_puts(out, "OK");
	return CMD_REPLY;
}

/* QListThreadsInStopReply (lldb): saves a qfThreadInfo after each stop. */
static enum cmd_result h_list_threads(struct stub *s, const char *a, const char *end,
				      struct pkt_buf *out)
{
	(void)a, (void)end;
	s->list_threads = true;
	s->client.lldb = true;
	pkt_puts(out, "OK");
	return CMD_REPLY;
}

/* QEnableErrorStrings (lldb): errors may carry their text, "Exx;hex-text". */
static enum cmd_result h_error_strings(struct stub *s, const char *a, const char *end,
				       struct pkt_buf *out)
{
	(void)a, (void)end;
	s->client.lldb = s->client.lldb_errors = true;
	pkt_puts(out, "OK");
	return CMD_REPLY;
}

/* vMustReplyEmpty */
static enum cmd_result h_empty(struct stub *s, const char *a, const char *end,
			       struct pkt_buf *out)
{
	(void)s, (void)a, (void)end, (void)out;
	return CMD_REPLY;
}

/* The "offset,length" tail of qXfer:...:read, served from a string. */
static void xfer_reply(struct stub *s, const char *doc, const char *a, const char *end,
		       struct pkt_buf *out)
{
	uint64_t off, len;
	size_t total = strlen(doc), n;

	if (parse_num(&a, end, ',', &off) || parse_num(&a, end, 0, &len) || off > total) {
		cmd_error(s, out, EINVAL);
		return;
	}
	n = total - (size_t)off;
	if (n > len)
		n = (size_t)len;
	if (n > pkt_room(out) - 1)
		n = pkt_room(out) - 1;
	pkt_puts(out, (size_t)off + n < total ? "m" : "l");
	pkt_put(out, doc + off, n); /* escaped when framed */
}

/* qXfer:features:read:annex:offset,length */
static enum cmd_result h_xfer_features(struct stub *s, const char *a, const char *end,
				       struct pkt_buf *out)
{
	const char *colon, *doc;
	char annex[128];

	if (!s->ops->xml)
		return CMD_REPLY;
	colon = a < end && *a == ':' ? memchr(a + 1, ':', (size_t)(end - a - 1)) : NULL;
	if (!colon || (size_t)(colon - a - 1) >= sizeof(annex)) {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	memcpy(annex, a + 1, (size_t)(colon - a - 1));
	annex[colon - a - 1] = '\0';
	doc = s->ops->xml(s->t, annex);
	if (!doc) {
		cmd_error(s, out, ENOENT);
		return CMD_REPLY;
	}
	xfer_reply(s, doc, colon + 1, end, out);
	return CMD_REPLY;
}

/* qXfer:exec-file:read:annex:offset,length: the image's name (annex: a pid,
 * ours is 1, or empty). */
static enum cmd_result h_xfer_exec_file(struct stub *s, const char *a, const char *end,
					struct pkt_buf *out)
{
	char path[PATH_MAX];
	uint64_t pid = 1;
	int e;

	if (!s->ops->exec_file)
		return CMD_REPLY;
	if (a >= end || *a++ != ':') {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	if (a < end && *a == ':') {
		a++;
	} else if (parse_num(&a, end, ':', &pid)) {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	e = pid == 1 ? hostio_exec_file(s, path) : -ESRCH;
	if (e) {
		cmd_error(s, out, e);
		return CMD_REPLY;
	}
	xfer_reply(s, path, a, end, out);
	return CMD_REPLY;
}

/* qXfer:memory-map:read::offset,length */
static enum cmd_result h_xfer_memmap(struct stub *s, const char *a, const char *end,
				     struct pkt_buf *out)
{
	const char *doc;

	if (!s->ops->memory_map)
		return CMD_REPLY;
	if (end - a < 2 || a[0] != ':' || a[1] != ':') {
		cmd_error(s, out, ENOENT);
		return CMD_REPLY;
	}
	doc = s->ops->memory_map(s->t);
	if (!doc) {
		cmd_error(s, out, ENOENT);
		return CMD_REPLY;
	}
	xfer_reply(s, doc, a + 2, end, out);
	return CMD_REPLY;
}

/* qMemoryRegionInfo:addr (lldb): the run of pages around addr that read_mem
 * can or cannot read, probed page by page up to a bound.  lldb looks for an
 * unreadable run to place its expression results in; without an answer it
 * falls back to the memory map, whose last region ends at 2^64, which lldb
 * 14 cannot represent (it asserts).  The stub cannot see page-table bits:
 * a readable page is reported rwx, which is what a debugger may do there. */
static enum cmd_result h_qregion(struct stub *s, const char *a, const char *end,
				 struct pkt_buf *out)
{
	enum { PAGE = 4096, MAX_PAGES = 1 << 14 };
	uint64_t addr, start, size = 0;
	uint8_t byte;
	bool readable;

	if (!s->ops->read_mem)
		return CMD_REPLY;
	if (a >= end || *a++ != ':' || parse_num(&a, end, 0, &addr)) {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	start = addr & ~(uint64_t)(PAGE - 1);
	readable = s->ops->read_mem(s->t, s->g_tid, start, &byte, 1) == 1;
	for (int i = 0; i < MAX_PAGES; i++) {
		uint64_t page = start + size;

		if (i && (s->ops->read_mem(s->t, s->g_tid, page, &byte, 1) == 1) != readable)
			break;
		if (page + PAGE == 0) { /* the top: keep start + size representable */
			size += PAGE - 1;
			break;
		}
		size += PAGE;
	}
	pkt_printf(out, "start:%llx;size:%llx;", (unsigned long long)start,
		   (unsigned long long)size);
	if (readable)
		pkt_puts(out, "permissions:rwx;");
	return CMD_REPLY;
}

/* The thread's name and processor, if the target tells them. */
static bool thread_desc(struct stub *s, int tid, struct stub_thread_desc *d)
{
	memset(d, 0, sizeof(*d));
	d->core = -1;
	return s->ops->thread_desc && s->ops->thread_desc(s->t, tid, d) == 0;
}

/* text into b with XML's five special characters as entities */
static void put_xml_text(struct pkt_buf *b, const char *text, size_t max)
{
	for (size_t i = 0; i < max && text[i]; i++) {
		switch (text[i]) {
		case '&': pkt_puts(b, "&amp;"); break;
		case '<': pkt_puts(b, "&lt;"); break;
		case '>': pkt_puts(b, "&gt;"); break;
		case '"': pkt_puts(b, "&quot;"); break;
		case '\'': pkt_puts(b, "&apos;"); break;
		default: pkt_put(b, &text[i], 1); break;
		}
	}
}

/* qXfer:threads:read::offset,length: every thread, with its name, its
 * processor and its qThreadExtraInfo text, in one document (one round trip
 * for gdb's "info threads").  Made anew at offset 0, read in pieces after. */
static enum cmd_result h_xfer_threads(struct stub *s, const char *a, const char *end,
				      struct pkt_buf *out)
{
	int tids[STUB_MAX_THREADS];
	struct pkt_buf doc = { .buf = s->threads_doc, .cap = sizeof(s->threads_doc) - 1 };
	const char *p;
	uint64_t off;
	int n;

	if (!s->ops->thread_desc)
		return CMD_REPLY;
	if (end - a < 2 || a[0] != ':' || a[1] != ':') {
		cmd_error(s, out, ENOENT);
		return CMD_REPLY;
	}
	p = a + 2;
	if (pkt_parse_hex(&p, end, &off) == 0 && off > 0) {
		xfer_reply(s, s->threads_doc, a + 2, end, out);
		return CMD_REPLY;
	}
	n = thread_list(s, tids, STUB_MAX_THREADS);
	pkt_puts(&doc, "<?xml version=\"1.0\"?>\n<threads>\n");
	for (int i = 0; i < n; i++) {
		struct stub_thread_desc d;
		char info[256] = "";

		pkt_printf(&doc, "<thread id=\"%x\"", tids[i]);
		if (thread_desc(s, tids[i], &d)) {
			if (d.core >= 0)
				pkt_printf(&doc, " core=\"%d\"", d.core);
			if (d.name[0]) {
				pkt_puts(&doc, " name=\"");
				put_xml_text(&doc, d.name, sizeof(d.name));
				pkt_puts(&doc, "\"");
			}
		}
		pkt_puts(&doc, ">");
		if (s->ops->thread_info && s->ops->thread_info(s->t, tids[i], info, sizeof(info)) == 0)
			put_xml_text(&doc, info, sizeof(info));
		pkt_puts(&doc, "</thread>\n");
	}
	pkt_puts(&doc, "</threads>\n");
	if (doc.overflow) {
		s->threads_doc[0] = '\0';
		cmd_error(s, out, EMSGSIZE);
		return CMD_REPLY;
	}
	s->threads_doc[doc.len] = '\0';
	xfer_reply(s, s->threads_doc, a + 2, end, out);
	return CMD_REPLY;
}

/* What qHostInfo and qProcessInfo tell of the machine (lldb): false if the
 * target does not say. */
static bool put_arch_info(struct stub *s, struct pkt_buf *out)
{
	struct stub_arch_info ai;

	memset(&ai, 0, sizeof(ai));
	if (!s->ops->arch_info || s->ops->arch_info(s->t, &ai) || !ai.triple[0] || ai.ptr_size <= 0)
		return false;
	pkt_puts(out, "triple:");
	pkt_put_hex(out, (const uint8_t *)ai.triple, strnlen(ai.triple, sizeof(ai.triple)));
	pkt_printf(out, ";ptrsize:%d;endian:%s;", ai.ptr_size, ai.big_endian ? "big" : "little");
	return true;
}

/* qHostInfo (lldb): the machine.  A VM has no host OS to tell of; lldb
 * takes the OS from the triple ("none"). */
static enum cmd_result h_qhostinfo(struct stub *s, const char *a, const char *end,
				   struct pkt_buf *out)
{
	(void)a, (void)end;
	s->client.lldb = true;
	put_arch_info(s, out);
	return CMD_REPLY;
}

/* qProcessInfo (lldb, several times a session): the guest as one
 * process, pid 1. */
static enum cmd_result h_qprocessinfo(struct stub *s, const char *a, const char *end,
				      struct pkt_buf *out)
{
	(void)a, (void)end;
	s->client.lldb = true;
	pkt_puts(out, "pid:1;");
	if (!put_arch_info(s, out))
		out->len = 0;
	return CMD_REPLY;
}

/* text as a JSON string's contents */
static void put_json_text(struct pkt_buf *b, const char *text, size_t max)
{
	for (size_t i = 0; i < max && text[i]; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == '"' || c == '\\')
			pkt_printf(b, "\\%c", c);
		else if (c < 0x20)
			pkt_printf(b, "\\u%04x", c);
		else
			pkt_put(b, &text[i], 1);
	}
}

/* jThreadsInfo (lldb): every thread with its name, the registers a stop
 * reply expedites (keys decimal, values as in p replies) and why it
 * stopped.  lldb takes a thread's stop from here only when its stop reply
 * has not told it (other threads: none, "signal":0), so the stopped thread
 * gets what lldb reads in that reply: the signal, or a watchpoint as
 * "address index" (the index unknown here). */
static enum cmd_result h_jthreadsinfo(struct stub *s, const char *a, const char *end,
				      struct pkt_buf *out)
{
	int tids[STUB_MAX_THREADS], regnos[64], nregs = 0;
	int n = thread_list(s, tids, STUB_MAX_THREADS);
	const struct stub_stop *st = &s->last_stop;
	uint8_t reg[REG_MAX];

	(void)a, (void)end;
	s->client.lldb = true;
	if (s->ops->expedite && s->ops->read_reg)
		nregs = s->ops->expedite(s->t, regnos, (int)(sizeof(regnos) / sizeof(regnos[0])));
	pkt_puts(out, "[");
	for (int i = 0; i < n; i++) {
		struct stub_thread_desc d;
		bool stopped = tids[i] == s->stop_tid && st->kind != STUB_STOP_EXITED;

		pkt_printf(out, "%s{\"tid\":%d", i ? "," : "", tids[i]);
		if (thread_desc(s, tids[i], &d) && d.name[0]) {
			pkt_puts(out, ",\"name\":\"");
			put_json_text(out, d.name, sizeof(d.name));
			pkt_puts(out, "\"");
		}
		pkt_printf(out, ",\"signal\":%d",
			   !stopped ? 0 : st->kind == STUB_STOP_SIGNAL ? st->signo : GDB_SIGTRAP);
		if (stopped && st->kind >= STUB_STOP_WATCH && st->kind <= STUB_STOP_AWATCH)
			pkt_printf(out, ",\"reason\":\"watchpoint\",\"description\":\"%llu %u\"",
				   (unsigned long long)st->addr, 0xffffffffu);
		pkt_puts(out, ",\"registers\":{");
		for (int r = 0, k = 0; r < nregs && r < 64; r++) {
			int size = s->ops->read_reg(s->t, tids[i], regnos[r], reg, sizeof(reg));

			if (size <= 0 || size > REG_MAX)
				continue;
			pkt_printf(out, "%s\"%d\":\"", k++ ? "," : "", regnos[r]);
			pkt_put_hex(out, reg, (size_t)size);
			pkt_puts(out, "\"");
		}
		pkt_puts(out, "}}");
	}
	pkt_puts(out, "]");
	if (out->overflow)
		cmd_error(s, out, EMSGSIZE);
	return CMD_REPLY;
}

/* qRcmd,hex */
static enum cmd_result h_qrcmd(struct stub *s, const char *a, const char *end,
			       struct pkt_buf *out)
{
	static const char unknown[] = "unknown monitor command, try 'monitor help'\n";
	/* The packet buffer is ours: decode the command in place (it shrinks),
	 * leaving all of scratch for the output. */
	char *cmd = (char *)a, *text = (char *)s->scratch;
	long n;
	int e;

	if (!s->ops->monitor)
		return CMD_REPLY;
	if (a >= end || *a++ != ',') {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	n = pkt_hex_decode((uint8_t *)cmd, (size_t)(end - a), a, (size_t)(end - a));
	if (n < 0 || memchr(cmd, '\0', (size_t)n)) {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	cmd[n] = '\0';
	text[0] = '\0';
	e = s->ops->monitor(s->t, cmd, text, s->scratch_cap);
	if (e == -ENOENT)
		strcpy(text, unknown);
	else if (e) {
		cmd_error(s, out, e);
		return CMD_REPLY;
	}
	if (conn_console(&s->conn, text, strnlen(text, s->scratch_cap)))
		return CMD_REPLY; /* the client is gone: so will the reply be */
	pkt_puts(out, "OK");
	return CMD_REPLY;
}

/* D[;pid] */
static enum cmd_result h_D(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	(void)s, (void)a, (void)end;
	pkt_puts(out, "OK");
	return CMD_DETACH;
}

/* k: the reply (sent once the target is killed) says it ended by SIGKILL.
 * lldb waits for it and reports an error without one; gdb does not read it. */
static enum cmd_result h_k(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	(void)s, (void)a, (void)end;
	pkt_puts(out, "X09");
	return CMD_KILL;
}

/* One letter commands take their arguments right after the letter; named
 * packets match when the name is followed by the end, ':', ',' or ';'. */
static const struct {
	const char *name;
	bool letter;
	cmd_fn fn;
} cmds[] = {
	{ "?", true, h_why },
	{ "g", true, h_g },
	{ "G", true, h_G },
	{ "p", true, h_p },
	{ "P", true, h_P },
	{ "m", true, h_m },
	{ "x", true, h_x },
	{ "M", true, h_M },
	{ "X", true, h_X },
	{ "Z", true, h_Z },
	{ "z", true, h_z },
	{ "c", true, h_c },
	{ "s", true, h_s },
	{ "C", true, h_C },
	{ "S", true, h_S },
	{ "H", true, h_H },
	{ "T", true, h_T },
	{ "D", true, h_D },
	{ "k", true, h_k },
	{ "bs", false, h_bs },
	{ "bc", false, h_bc },
	{ "vCont?", false, h_vcont_query },
	{ "vCont", false, h_vcont },
	{ "vMustReplyEmpty", false, h_empty },
	{ "qSupported", false, h_qsupported },
	{ "QStartNoAckMode", false, h_noack },
	{ "qC", false, h_qC },
	{ "qAttached", false, h_qattached },
	{ "qfThreadInfo", false, h_qfthread },
	{ "qsThreadInfo", false, h_qsthread },
	{ "qThreadExtraInfo", false, h_qextra },
	{ "qXfer:features:read", false, h_xfer_features },
	{ "qXfer:memory-map:read", false, h_xfer_memmap },
	{ "qXfer:threads:read", false, h_xfer_threads },
	{ "qXfer:exec-file:read", false, h_xfer_exec_file },
	{ "vFile:setfs", false, hostio_setfs },
	{ "vFile:open", false, hostio_open },
	{ "vFile:pread", false, hostio_pread },
	{ "vFile:close", false, hostio_close },
	{ "vFile:fstat", false, hostio_fstat },
	{ "qHostInfo", false, h_qhostinfo },
	{ "qProcessInfo", false, h_qprocessinfo },
	{ "jThreadsInfo", false, h_jthreadsinfo },
	{ "qRcmd", false, h_qrcmd },
	{ "qMemoryRegionInfo", false, h_qregion },
	{ "QListThreadsInStopReply", false, h_list_threads },
	{ "QEnableErrorStrings", false, h_error_strings },
	{ "QNonStop", false, ns_qnonstop },
	{ "vStopped", false, ns_vstopped },
	{ "vCtrlC", false, ns_vctrlc },
};

enum cmd_result cmd_dispatch(struct stub *s, char *pkt, size_t len, struct pkt_buf *out)
{
	const char *end = pkt + len;

	if (len == 0)
		return CMD_REPLY;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		size_t n = strlen(cmds[i].name);

		if (cmds[i].letter) {
			if (pkt[0] == cmds[i].name[0])
				return cmds[i].fn(s, pkt + 1, end, out);
			continue;
		}
		if (n > len || memcmp(pkt, cmds[i].name, n))
			continue;
		if (n == len || pkt[n] == ':' || pkt[n] == ',' || pkt[n] == ';')
			return cmds[i].fn(s, pkt + n, end, out);
	}
	return CMD_REPLY; /* unknown: empty reply */
}
