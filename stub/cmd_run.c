/* cmd_run.c - stops and resumes: the stop reply and '?', breakpoints and
 * watchpoints (Z/z), c/s/C/S, bs/bc, vCont. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "stub/internal.h"

void cmd_stop_reply(struct stub *s, const struct stub_stop *st, struct pkt_buf *out)
{
	int tid = st->tid > 0 ? st->tid : s->g_tid;
	int regnos[CMD_EXPEDITE_MAX]; /* registers expedited: the target says which */
	const int max_regnos = CMD_EXPEDITE_MAX;
	uint8_t reg[CMD_REG_MAX];
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

		if (size <= 0 || size > CMD_REG_MAX)
			continue;
		pkt_printf(out, "%02x:", regnos[i]);
		pkt_put_hex(out, reg, (size_t)size);
		pkt_puts(out, ";");
	}
	pkt_printf(out, "thread:%x;", tid);
	if (s->list_threads) {
		int tids[STUB_MAX_THREADS];
		int nt = cmd_thread_list(s, tids, STUB_MAX_THREADS);

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

/* ? */
enum cmd_result h_why(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
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

static enum cmd_result breakpoint(struct stub *s, const char *a, const char *end,
				  struct pkt_buf *out, bool insert)
{
	uint64_t type, addr, kind;
	char why[256] = "";
	int e;

	if (insert ? !s->ops->insert_bp : !s->ops->remove_bp)
		return CMD_REPLY;
	if (cmd_parse_num(&a, end, ',', &type) || cmd_parse_num(&a, end, ',', &addr)) {
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
enum cmd_result h_Z(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	return breakpoint(s, a, end, out, true);
}

/* z type,addr,kind */
enum cmd_result h_z(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	return breakpoint(s, a, end, out, false);
}

/* Every thread id slot STUB_STAY; returns the alive threads. */
static int resume_reset(struct stub *s, int *tids)
{
	int n = cmd_thread_list(s, tids, STUB_MAX_THREADS);

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
enum cmd_result h_c(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	return legacy_resume(s, a, end, out, false, false);
}

/* s [addr] */
enum cmd_result h_s(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	return legacy_resume(s, a, end, out, true, false);
}

/* C sig[;addr] */
enum cmd_result h_C(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	return legacy_resume(s, a, end, out, false, true);
}

/* S sig[;addr] */
enum cmd_result h_S(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
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

enum cmd_result h_bs(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	return reverse_resume(s, a, end, out, true);
}

enum cmd_result h_bc(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	return reverse_resume(s, a, end, out, false);
}

/* vCont? */
enum cmd_result h_vcont_query(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	(void)a, (void)end;
	pkt_puts(out, s->ops->range_step ? "vCont;c;C;s;S;r" : "vCont;c;C;s;S");
	if (s->ops->nonstop)
		pkt_puts(out, ";t");
	return CMD_REPLY;
}

/* vCont[;action[:tid]]... : the leftmost action that names a thread wins. */
enum cmd_result h_vcont(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
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
			if (cmd_parse_tid(&a, end, &tid) || tid == 0)
				goto err;
		}
		if (a < end && *a != ';')
			goto err;
		actions++;
		if (tid > 0) {
			if (!cmd_thread_alive(s, tid) || tid > STUB_MAX_THREADS) {
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
