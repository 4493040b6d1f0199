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
int cmd_parse_num(const char **p, const char *end, char sep, uint64_t *v)
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
int cmd_parse_tid(const char **p, const char *end, int *tid)
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

int cmd_thread_list(struct stub *s, int *tids, int max)
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

bool cmd_thread_alive(struct stub *s, int tid)
{
	int tids[STUB_MAX_THREADS];
	int n = cmd_thread_list(s, tids, STUB_MAX_THREADS);

	for (int i = 0; i < n; i++)
		if (tids[i] == tid)
			return true;
	return false;
}

/* A memory range addr .. addr + len - 1 that does not wrap around. */
bool cmd_range_ok(uint64_t addr, uint64_t len)
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
		s->stop_tid = cmd_thread_list(s, tids, STUB_MAX_THREADS) > 0 ? tids[0] : 1;
	st.tid = s->stop_tid;
	s->last_stop = st;
	s->g_tid = s->stop_tid;
	s->c_tid = 0;
	s->list_threads = false;
	s->pc_moved = 0;
	for (int i = 0; i < STUB_MAX_THREADS; i++)
		s->last_action[i] = STUB_STAY;
	memset(&s->client, 0, sizeof(s->client));
	s->nonstop = false;
	ns_reset(s);
}

void cmd_pc_settled(struct stub *s, int tid)
{
	if (tid >= 1 && tid <= STUB_MAX_THREADS)
		s->pc_moved &= ~(1ULL << (tid - 1));
}

void cmd_resumed(struct stub *s)
{
	for (int i = 0; i < STUB_MAX_THREADS; i++)
		if (s->resume.action[i] != STUB_STAY) {
			s->last_action[i] = s->resume.action[i];
			s->pc_moved &= ~(1ULL << i); /* the client resumes it from the PC it left */
		}
}

/* vMustReplyEmpty */
static enum cmd_result h_empty(struct stub *s, const char *a, const char *end,
			       struct pkt_buf *out)
{
	(void)s, (void)a, (void)end, (void)out;
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
