/* cmd_thread.c - threads: H, T, qC, qAttached, the thread lists,
 * qThreadExtraInfo, qXfer:threads:read and lldb's jThreadsInfo. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "stub/internal.h"

/* H op tid */
enum cmd_result h_H(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	char op;
	int tid;

	if (a >= end) {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	op = *a++;
	if ((op != 'g' && op != 'c') || cmd_parse_tid(&a, end, &tid) || a != end) {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	if (tid > 0 && !cmd_thread_alive(s, tid)) {
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
enum cmd_result h_T(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	int tid;

	if (cmd_parse_tid(&a, end, &tid) || a != end || tid <= 0 || !cmd_thread_alive(s, tid))
		cmd_error(s, out, ESRCH);
	else
		pkt_puts(out, "OK");
	return CMD_REPLY;
}

/* qC */
enum cmd_result h_qC(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	(void)a, (void)end;
	pkt_printf(out, "QC%x", s->stop_tid);
	return CMD_REPLY;
}

/* qAttached[:pid] */
enum cmd_result h_qattached(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	(void)s, (void)a, (void)end;
	pkt_puts(out, "1");
	return CMD_REPLY;
}

/* qfThreadInfo */
enum cmd_result h_qfthread(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	int tids[STUB_MAX_THREADS];
	int n = cmd_thread_list(s, tids, STUB_MAX_THREADS);

	(void)a, (void)end;
	pkt_puts(out, "m");
	for (int i = 0; i < n; i++)
		pkt_printf(out, i ? ",%x" : "%x", tids[i]);
	return CMD_REPLY;
}

/* qsThreadInfo */
enum cmd_result h_qsthread(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	(void)s, (void)a, (void)end;
	pkt_puts(out, "l");
	return CMD_REPLY;
}

/* qThreadExtraInfo,tid */
enum cmd_result h_qextra(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	char info[256];
	int tid, e;

	if (!s->ops->thread_info)
		return CMD_REPLY;
	if (a >= end || *a++ != ',' || cmd_parse_tid(&a, end, &tid) || a != end || tid <= 0 ||
	    !cmd_thread_alive(s, tid)) {
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
enum cmd_result h_xfer_threads(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
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
		cmd_xfer_reply(s, s->threads_doc, a + 2, end, out);
		return CMD_REPLY;
	}
	n = cmd_thread_list(s, tids, STUB_MAX_THREADS);
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
	cmd_xfer_reply(s, s->threads_doc, a + 2, end, out);
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
enum cmd_result h_jthreadsinfo(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	int tids[STUB_MAX_THREADS], regnos[CMD_EXPEDITE_MAX], nregs = 0;
	int n = cmd_thread_list(s, tids, STUB_MAX_THREADS);
	const struct stub_stop *st = &s->last_stop;
	uint8_t reg[CMD_REG_MAX];

	(void)a, (void)end;
	s->client.lldb = true;
	if (s->ops->expedite && s->ops->read_reg)
		nregs = s->ops->expedite(s->t, regnos, CMD_EXPEDITE_MAX);
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
		for (int r = 0, k = 0; r < nregs && r < CMD_EXPEDITE_MAX; r++) {
			int size = s->ops->read_reg(s->t, tids[i], regnos[r], reg, sizeof(reg));

			if (size <= 0 || size > CMD_REG_MAX)
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
