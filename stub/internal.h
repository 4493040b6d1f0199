/* internal.h - what the stub's modules share; not part of the API.
 *
 * conn.c   the client connection: buffered reads, acks, framed writes, resend
 * cmd.c    the dispatch table, error replies, the parsers handlers share
 * cmd_regs.c, cmd_mem.c, cmd_run.c, cmd_thread.c, cmd_query.c  the handlers:
 *          registers; memory; stops, breakpoints and resumes; threads;
 *          qSupported, qXfer documents, lldb's queries, qRcmd
 * nonstop.c non-stop mode: the stop notifications and their queue
 * hostio.c vFile: host file I/O, limited to the target's image, read-only
 * stub.c   stub_new / stub_serve / stub_run / stub_console: the session loops
 * net.c    stub_listen
 */
#ifndef STUB_INTERNAL_H
#define STUB_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "stub/packet.h"
#include "stub/stub.h"

#define STUB_RX_CHUNK (64 * 1024)
#define STUB_MAX_FILES 8 /* vFile descriptors open at once */
/* '+' slot, '$', every payload byte escaped, '#', two digits. */
#define STUB_FRAME_SIZE (2 * STUB_PACKET_SIZE + 8)
#define STUB_NOTIFY_SIZE 8192 /* a framed notification: a stop reply with its registers */
#define STUB_NS_QUEUE (STUB_MAX_THREADS + 2) /* stops a thread each, and an exit */

struct conn {
	int fd;                /* -1: no client */
	bool noack;            /* after QStartNoAckMode */
	bool ack_pending;      /* a received packet still owes its '+' */
	bool live;             /* target running: stub_console may write */
	pthread_mutex_t lock;  /* fd as seen by stub_console, live, frames, writes */

	uint8_t *in;           /* raw bytes read, not yet fed to rx */
	size_t in_pos, in_len;
	struct pkt_rx rx;
	char *rxbuf;

	/* Two frame buffers: one holds the last packet sent (for '-'), the
	 * next reply is built in the other.  frame[k][0] is a slot for a '+'
	 * owed to the client, so an ack and its reply leave in one write. */
	char *frame[2];
	char *nframe;          /* the notification being sent (stub thread) */
	int last;              /* frame holding the last packet, -1: none */
	size_t last_len;       /* its length from frame[last] + 1 */
	int building;          /* frame given out by conn_reply_begin */
};

int conn_init(struct conn *c) __attribute__((warn_unused_result));
void conn_destroy(struct conn *c);
void conn_open(struct conn *c, int fd);
void conn_close(struct conn *c);

/* Next event from bytes already read; PKT_NONE: call conn_fill. */
enum pkt_event conn_next(struct conn *c);
/* One read() of whatever is there: > 0 bytes, 0 at EOF, or -errno. */
long conn_fill(struct conn *c) __attribute__((warn_unused_result));

/* Build a reply in b (payload only, unescaped), then send it framed. */
void conn_reply_begin(struct conn *c, struct pkt_buf *b);
int conn_reply_end(struct conn *c, struct pkt_buf *b) __attribute__((warn_unused_result));
/* Send a payload given as a string. */
int conn_reply_str(struct conn *c, const char *s) __attribute__((warn_unused_result));
/* '-' for a bad packet; the owed '+' on its own (before a long wait). */
int conn_nack(struct conn *c) __attribute__((warn_unused_result));
int conn_flush_ack(struct conn *c) __attribute__((warn_unused_result));
/* The last packet again, after the client's '-'. */
int conn_resend(struct conn *c) __attribute__((warn_unused_result));
/* A notification ("%Stop:..."): build its payload in b, then send it. */
void conn_notify_begin(struct conn *c, struct pkt_buf *b);
int conn_notify_end(struct conn *c, struct pkt_buf *b) __attribute__((warn_unused_result));
/* Text as O packets, each within the packet size. */
int conn_console(struct conn *c, const char *text, size_t len) __attribute__((warn_unused_result));
/* The same from another thread: only while live, errors dropped. */
void conn_console_async(struct conn *c, const char *text, size_t len);
void conn_set_live(struct conn *c, bool live);

enum cmd_result {
	CMD_REPLY,   /* send the built reply */
	CMD_RESUME,  /* s->resume is filled: start the target, wait for a stop */
	CMD_DETACH,  /* send the reply, detach, end the session (0) */
	CMD_KILL,    /* kill, send the reply, end the session (1) */
};

struct stub {
	const struct stub_ops *ops;
	void *t;
	int listen_fd;         /* refuse second clients on it; -1: none */
	struct conn conn;
	uint8_t *scratch;      /* decoded packet data, memory, registers */
	size_t scratch_cap;

	int g_tid;             /* Hg: thread for registers and memory */
	int c_tid;             /* Hc: thread to step, 0: all */
	int stop_tid;          /* thread of the last stop */
	struct stub_resume resume;
	/* A packet that arrived while the target ran: handled after the stop. */
	enum pkt_event parked;

	bool list_threads;     /* QListThreadsInStopReply: threads:... in T */
	/* What the client said it understands (qSupported), or showed it is by
	 * what it asks (lldb's own packets); reset with each session. */
	struct {
		bool swbreak, hwbreak; /* the swbreak: / hwbreak: stop reasons */
		bool error_message;    /* errors as "E.text" (error-message+) */
		bool lldb;             /* asked qHostInfo, qProcessInfo, jThreadsInfo ... */
		bool lldb_errors;      /* errors as "Exx;hex-text" (QEnableErrorStrings) */
	} client;
	struct stub_stop last_stop; /* the last stop reported, for jThreadsInfo */
	/* Threads (bit tid - 1) whose PC the stub moved past a breakpoint for
	 * the client (pc_after_break), each until the client writes its
	 * registers or resumes it.  A client that leaves first gets them
	 * moved back. */
	uint64_t pc_moved;
	/* What each thread was last resumed with (a non-stop stop comes long
	 * after other resumes); STUB_STAY: not since the session began. */
	enum stub_action last_action[STUB_MAX_THREADS];
	int files[STUB_MAX_FILES]; /* vFile: open descriptors, -1: free */
	/* qXfer:threads:read's document, made at offset 0 and read in pieces */
	char threads_doc[STUB_MAX_THREADS * 512];

	/* Non-stop (QNonStop:1): stops not yet acknowledged, oldest first.
	 * The first went out as a %Stop notification (or as the reply to '?'
	 * or vStopped) when notified is set; the client's vStopped drops it
	 * and asks for the next. */
	bool nonstop;
	bool notified;
	struct stub_stop nq[STUB_NS_QUEUE];
	int nq_head, nq_len;

	bool exited;           /* the target is gone: W was seen */
	int exit_status;
};

enum cmd_result cmd_dispatch(struct stub *s, char *pkt, size_t len, struct pkt_buf *out);

/* A packet handler: the packet's arguments a .. end (after its name), the
 * reply built in out (cmd.c's table dispatches to them). */
typedef enum cmd_result cmd_handler(struct stub *s, const char *a, const char *end,
				    struct pkt_buf *out);
typedef cmd_handler *cmd_fn;

#define CMD_REG_MAX 512 /* bytes of one register the handlers can hold */
#define CMD_EXPEDITE_MAX 64 /* registers a stop reply carries, at most */

/* The parsers and lists the handlers share (cmd.c): a hex number ending
 * exactly at end or at sep; a thread id (hex, or -1 for all); the alive
 * threads, at most max (thread 1 alone without ops->threads); whether tid is
 * one; a memory range that does not wrap around. */
int cmd_parse_num(const char **p, const char *end, char sep, uint64_t *v);
int cmd_parse_tid(const char **p, const char *end, int *tid);
int cmd_thread_list(struct stub *s, int *tids, int max);
bool cmd_thread_alive(struct stub *s, int tid);
bool cmd_range_ok(uint64_t addr, uint64_t len);
/* The "offset,length" tail of a qXfer read, served from doc (cmd_query.c). */
void cmd_xfer_reply(struct stub *s, const char *doc, const char *a, const char *end,
		    struct pkt_buf *out);

/* The handlers, by the file that holds them (one declaration each: the
 * function type above). */
/* cmd_regs.c */
cmd_handler h_g, h_G, h_p, h_P;
/* cmd_mem.c */
cmd_handler h_m, h_x, h_M, h_X, h_qregion;
/* cmd_run.c */
cmd_handler h_why, h_Z, h_z, h_c, h_s, h_C, h_S, h_bs, h_bc, h_vcont_query, h_vcont;
/* cmd_thread.c */
cmd_handler h_H, h_T, h_qC, h_qattached, h_qfthread, h_qsthread, h_qextra, h_xfer_threads,
	h_jthreadsinfo;
/* cmd_query.c */
cmd_handler h_qsupported, h_noack, h_list_threads, h_error_strings, h_xfer_features,
	h_xfer_exec_file, h_xfer_memmap, h_qhostinfo, h_qprocessinfo, h_qrcmd;

/* T.../W... for a stop (the message is sent by the caller). */
void cmd_stop_reply(struct stub *s, const struct stub_stop *st, struct pkt_buf *out);
/* An error reply ("Exx", or with text where the client asked for it). */
void cmd_error(struct stub *s, struct pkt_buf *out, int err);
/* ... with the target's reason (why may be empty). */
void cmd_error_why(struct stub *s, struct pkt_buf *out, int err, const char *why);
/* vFile (hostio.c): the handlers, named as cmd_fn; descriptors set free,
 * all closed (at a session's end). */
enum cmd_result hostio_setfs(struct stub *s, const char *a, const char *end, struct pkt_buf *out);
enum cmd_result hostio_open(struct stub *s, const char *a, const char *end, struct pkt_buf *out);
enum cmd_result hostio_pread(struct stub *s, const char *a, const char *end, struct pkt_buf *out);
enum cmd_result hostio_close(struct stub *s, const char *a, const char *end, struct pkt_buf *out);
enum cmd_result hostio_fstat(struct stub *s, const char *a, const char *end, struct pkt_buf *out);
void hostio_init(struct stub *s);
void hostio_close_all(struct stub *s);
/* The image's absolute name (ops->exec_file) into path, PATH_MAX bytes. */
int hostio_exec_file(struct stub *s, char *path) __attribute__((warn_unused_result));

/* The client wrote thread tid's registers, or resumes: a PC the stub moved
 * for it is the client's now. */
void cmd_pc_settled(struct stub *s, int tid);
/* A resume is about to go out (s->resume): each named thread's action is
 * kept, and its moved PC is the client's. */
void cmd_resumed(struct stub *s);
/* A stop for a client without swbreak: a software breakpoint's thread that
 * it continued gets its PC past the breakpoint, where such a client looks
 * (gdb's decr_pc_after_break); lldb takes it on the breakpoint. */
void cmd_pc_for_client(struct stub *s, const struct stub_stop *st);

/* Session start: pick the threads Hg / Hc refer to. */
void cmd_session_start(struct stub *s);

/* nonstop.c: QNonStop, vStopped, vCtrlC, '?' in non-stop (named as cmd_fn);
 * ns_run answers a resume at once; ns_collect takes the target's stops and
 * notifies the client of the first (0, or -errno: the client is lost). */
enum cmd_result ns_qnonstop(struct stub *s, const char *a, const char *end, struct pkt_buf *out);
enum cmd_result ns_vstopped(struct stub *s, const char *a, const char *end, struct pkt_buf *out);
enum cmd_result ns_vctrlc(struct stub *s, const char *a, const char *end, struct pkt_buf *out);
enum cmd_result ns_why(struct stub *s, struct pkt_buf *out);
int ns_run(struct stub *s, struct pkt_buf *out);
int ns_collect(struct stub *s);
void ns_reset(struct stub *s);

#endif
