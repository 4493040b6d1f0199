/* cmd_query.c - what the client and the stub tell each other: qSupported
 * and the Q settings, the qXfer documents (target description, memory map,
 * exec file), lldb's qHostInfo and qProcessInfo, and qRcmd. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "stub/internal.h"

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
enum cmd_result h_qsupported(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
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
enum cmd_result h_noack(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	(void)a, (void)end;
	s->conn.noack = true; /* this packet's own '+' is still owed and sent */
	pkt_puts(out, "OK");
	return CMD_REPLY;
}

/* QListThreadsInStopReply (lldb): saves a qfThreadInfo after each stop. */
enum cmd_result h_list_threads(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	(void)a, (void)end;
	s->list_threads = true;
	s->client.lldb = true;
	pkt_puts(out, "OK");
	return CMD_REPLY;
}

/* QEnableErrorStrings (lldb): errors may carry their text, "Exx;hex-text". */
enum cmd_result h_error_strings(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	(void)a, (void)end;
	s->client.lldb = s->client.lldb_errors = true;
	pkt_puts(out, "OK");
	return CMD_REPLY;
}

/* The "offset,length" tail of qXfer:...:read, served from a string. */
void cmd_xfer_reply(struct stub *s, const char *doc, const char *a, const char *end,
		    struct pkt_buf *out)
{
	uint64_t off, len;
	size_t total = strlen(doc), n;

	if (cmd_parse_num(&a, end, ',', &off) || cmd_parse_num(&a, end, 0, &len) || off > total) {
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
enum cmd_result h_xfer_features(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
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
	cmd_xfer_reply(s, doc, colon + 1, end, out);
	return CMD_REPLY;
}

/* qXfer:exec-file:read:annex:offset,length: the image's name (annex: a pid,
 * ours is 1, or empty). */
enum cmd_result h_xfer_exec_file(struct stub *s, const char *a, const char *end,
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
	} else if (cmd_parse_num(&a, end, ':', &pid)) {
		cmd_error(s, out, EINVAL);
		return CMD_REPLY;
	}
	e = pid == 1 ? hostio_exec_file(s, path) : -ESRCH;
	if (e) {
		cmd_error(s, out, e);
		return CMD_REPLY;
	}
	cmd_xfer_reply(s, path, a, end, out);
	return CMD_REPLY;
}

/* qXfer:memory-map:read::offset,length */
enum cmd_result h_xfer_memmap(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
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
	cmd_xfer_reply(s, doc, a + 2, end, out);
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
enum cmd_result h_qhostinfo(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	(void)a, (void)end;
	s->client.lldb = true;
	put_arch_info(s, out);
	return CMD_REPLY;
}

/* qProcessInfo (lldb, several times a session): the guest as one
 * process, pid 1. */
enum cmd_result h_qprocessinfo(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	(void)a, (void)end;
	s->client.lldb = true;
	pkt_puts(out, "pid:1;");
	if (!put_arch_info(s, out))
		out->len = 0;
	return CMD_REPLY;
}

/* qRcmd,hex */
enum cmd_result h_qrcmd(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
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
