/* nonstop.c - non-stop mode on the wire (GDB manual, "Remote Non-Stop").
 *
 * After QNonStop:1 a resume is answered "OK" at once and the session stays
 * in its packet loop while threads run.  Each stop the target reports goes
 * into a queue; the first one goes to the client as a "%Stop:" notification,
 * which it acknowledges with vStopped; the reply to vStopped is the next
 * stop of the queue (a plain packet, acknowledged in turn by another
 * vStopped), or "OK" once it is empty.  A new stop while a notification
 * waits for its vStopped only joins the queue.  '?' starts the same
 * exchange over with a stop of every stopped thread.  O packets are not
 * allowed in non-stop, so console output is not sent (the target keeps it
 * for the terminal).
 */
#include <errno.h>
#include <string.h>

#include "stub/internal.h"

void ns_reset(struct stub *s)
{
	s->notified = false;
	s->nq_head = s->nq_len = 0;
}

static void push(struct stub *s, const struct stub_stop *st)
{
	if (s->nq_len == STUB_NS_QUEUE) /* (one a thread, and an exit: cannot fill) */
		return;
	s->nq[(s->nq_head + s->nq_len++) % STUB_NS_QUEUE] = *st;
}

static void pop(struct stub *s)
{
	if (!s->nq_len)
		return;
	s->nq_head = (s->nq_head + 1) % STUB_NS_QUEUE;
	s->nq_len--;
}

static void note(struct stub *s, const struct stub_stop *st)
{
	s->last_stop = *st;
	if (st->kind == STUB_STOP_EXITED) {
		s->exited = true;
		s->exit_status = st->status;
	}
}

/* The queue's first stop as a reply (to '?' or vStopped), or OK. */
static void reply_head(struct stub *s, struct pkt_buf *out)
{
	if (!s->nq_len) {
		s->notified = false;
		pkt_puts(out, "OK");
		return;
	}
	s->notified = true;
	note(s, &s->nq[s->nq_head]);
	cmd_stop_reply(s, &s->nq[s->nq_head], out);
}

int ns_collect(struct stub *s)
{
	struct stub_stop st;
	struct pkt_buf b;

	for (;;) {
		memset(&st, 0, sizeof(st));
		if (s->ops->get_stop(s->t, &st))
			break;
		cmd_pc_for_client(s, &st); /* (once, as it is queued) */
		push(s, &st);
		if (st.kind == STUB_STOP_EXITED)
			break; /* (it stays readable: the guest is gone) */
	}
	if (s->notified || !s->nq_len)
		return 0;
	s->notified = true;
	note(s, &s->nq[s->nq_head]);
	conn_notify_begin(&s->conn, &b);
	pkt_puts(&b, "Stop:");
	cmd_stop_reply(s, &s->nq[s->nq_head], &b);
	return conn_notify_end(&s->conn, &b);
}

/* QNonStop:1 / QNonStop:0 */
enum cmd_result ns_qnonstop(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	char why[200] = "";
	bool on;
	int r;

	if (end - a != 2 || a[0] != ':' || (a[1] != '0' && a[1] != '1')) {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	on = a[1] == '1';
	if (!s->ops->nonstop)
		return CMD_REPLY; /* unsupported: gdb says "remote does not support non-stop" */
	r = s->ops->nonstop(s->t, on, why, sizeof(why));
	if (r) {
		cmd_error_why(s, out, r, why);
		return CMD_REPLY;
	}
	s->nonstop = on;
	ns_reset(s);
	pkt_puts(out, "OK");
	return CMD_REPLY;
}

/* vStopped: the client has the queue's first stop; the next, or OK. */
enum cmd_result ns_vstopped(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	(void)a, (void)end;
	if (!s->nonstop) {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	if (s->notified)
		pop(s);
	reply_head(s, out);
	return CMD_REPLY;
}

/* vCtrlC: stop one running thread, reported as SIGINT (all-stop: 0x03). */
enum cmd_result ns_vctrlc(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	int r = 0;

	(void)a, (void)end;
	if (s->nonstop && s->ops->interrupt)
		r = s->ops->interrupt(s->t);
	if (r)
		cmd_error(s, out, r);
	else
		pkt_puts(out, "OK");
	return CMD_REPLY;
}

/* '?': a stop of every stopped thread, the first as the reply. */
enum cmd_result ns_why(struct stub *s, struct pkt_buf *out)
{
	int tids[STUB_MAX_THREADS];
	int n = s->ops->threads ? s->ops->threads(s->t, tids, STUB_MAX_THREADS) : 0;

	ns_reset(s);
	for (int i = 0; i < n; i++) {
		struct stub_stop st;

		if (!s->ops->thread_stop || s->ops->thread_stop(s->t, tids[i], &st))
			continue;
		push(s, &st); /* (told again: a PC moved for it stays as it is) */
		if (st.kind == STUB_STOP_EXITED)
			break;
	}
	reply_head(s, out);
	return CMD_REPLY;
}

/* c / s / vCont in non-stop: started, and "OK" now; the stops come later. */
int ns_run(struct stub *s, struct pkt_buf *out)
{
	int r;

	cmd_resumed(s);
	r = s->exited ? -ESRCH /* the target is gone */
	    : s->ops->resume ? s->ops->resume(s->t, &s->resume) : -ENOSYS;

	if (r)
		cmd_error(s, out, r);
	else
		pkt_puts(out, "OK");
	return conn_reply_end(&s->conn, out);
}
