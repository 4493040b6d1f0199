/* stub.c - a debug session: stub_serve's packet loop, the wait while the
 * target runs, and stub_run's accept loop. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "stub/internal.h"

#define SESSION_ON 2 /* internal: the session goes on */

struct stub *stub_new(const struct stub_ops *ops, void *target)
{
	struct stub *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->ops = ops;
	s->t = target;
	s->listen_fd = -1;
	s->parked = PKT_NONE;
	s->scratch_cap = STUB_PACKET_SIZE;
	hostio_init(s);
	s->scratch = malloc(s->scratch_cap);
	if (!s->scratch)
		goto err_free;
	if (conn_init(&s->conn))
		goto err_scratch;
	return s;

err_scratch:
	free(s->scratch);
err_free:
	free(s);
	return NULL;
}

void stub_free(struct stub *s)
{
	if (!s)
		return;
	hostio_close_all(s);
	conn_destroy(&s->conn);
	free(s->scratch);
	free(s);
}

void stub_console(struct stub *s, const char *buf, size_t len)
{
	conn_console_async(&s->conn, buf, len);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

/* A second client: tell it why, in a packet gdb shows as an error. */
static void refuse(struct stub *s)
{
	static const char why[] = "E.another debugger is already attached";
	char frame[64];
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	size_t n;

	if (fd < 0)
		return;
	/* gdb shows the reply only as the answer to its first packet: wait for
	 * that briefly (the attached client waits meanwhile), ack it, answer. */
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char in[512];

	if (poll(&p, 1, 500) > 0)
		(void)!recv(fd, in, sizeof(in), 0);
	frame[0] = '+';
	memcpy(frame + 2, why, sizeof(why) - 1);
	n = pkt_frame(frame + 1, sizeof(frame) - 1, sizeof(why) - 1);
	(void)!send(fd, frame, n + 1, MSG_NOSIGNAL);
	shutdown(fd, SHUT_WR);
	/* Unread input would turn our close into a reset that loses the reply;
	 * drain it, but for 200 ms at most: the attached client waits meanwhile,
	 * and a client that keeps sending must not hold it up. */
	for (long left = 200, t0 = now_ms(); left > 0; left = 200 - (now_ms() - t0))
		if (poll(&p, 1, (int)left) <= 0 || recv(fd, in, sizeof(in), 0) <= 0)
			break;
	close(fd);
}

/* The client is gone: the target runs on without breakpoints, from a
 * breakpoint's own PC if the client was shown another. */
static int lost(struct stub *s)
{
	conn_set_live(&s->conn, false);
	for (int i = 0; i < STUB_MAX_THREADS && !s->exited; i++)
		if (s->pc_moved & (1ULL << i))
			(void)s->ops->pc_after_break(s->t, i + 1, false);
	s->pc_moved = 0;
	if (!s->exited && s->ops->detach)
		s->ops->detach(s->t);
	return 0;
}

static void note_stop(struct stub *s, const struct stub_stop *st)
{
	s->last_stop = *st;
	if (st->kind == STUB_STOP_EXITED) {
		s->exited = true;
		s->exit_status = st->status;
	} else if (st->tid > 0) {
		s->stop_tid = s->g_tid = st->tid;
	}
}

/* A client without swbreak: finds its breakpoint one instruction before
 * the PC and backs the PC up itself, unless it stepped the thread (gdb's
 * adjust_pc_after_break); lldb never asks for swbreak: and takes the PC as
 * lldb-server gives it, on the breakpoint.  Going backwards, gdb does not
 * back up either. */
void cmd_pc_for_client(struct stub *s, const struct stub_stop *st)
{
	int tid = st->tid;

	if (st->kind != STUB_STOP_SWBREAK || s->client.swbreak || s->client.lldb ||
	    !s->ops->pc_after_break || s->resume.reverse || tid < 1 || tid > STUB_MAX_THREADS ||
	    s->last_action[tid - 1] != STUB_CONTINUE || (s->pc_moved & (1ULL << (tid - 1))))
		return;
	if (s->ops->pc_after_break(s->t, tid, true) == 0)
		s->pc_moved |= 1ULL << (tid - 1);
}

static int send_stop(struct stub *s, const struct stub_stop *st)
{
	struct pkt_buf out;

	if (st->message[0] && conn_console(&s->conn, st->message,
					   strnlen(st->message, sizeof(st->message))))
		return -EPIPE;
	note_stop(s, st);
	cmd_pc_for_client(s, st);
	conn_reply_begin(&s->conn, &out);
	cmd_stop_reply(s, st, &out);
	return conn_reply_end(&s->conn, &out);
}

/* poll() looks at its fds one after another: a client that hung up just
 * before the next one connected can show only the newcomer.  Look at ours
 * once more (briefly: a TCP FIN may be a moment behind) before refusing. */
static bool client_ready(struct conn *c, short events)
{
	struct pollfd p = { .fd = c->fd, .events = events };

	return poll(&p, 1, 10) > 0;
}

/* Target running: wait for its stop, serving 0x03 and acks meanwhile. */
static int wait_stop(struct stub *s)
{
	struct conn *c = &s->conn;
	struct stub_stop st;

	/* A target may stop within resume (a single step run inline): then
	 * there is nothing to wait for. */
	memset(&st, 0, sizeof(st));
	if (s->ops->get_stop(s->t, &st) == 0) {
		conn_set_live(c, false);
		return send_stop(s, &st) ? lost(s) : SESSION_ON;
	}
	for (;;) {
		while (s->parked == PKT_NONE) {
			enum pkt_event ev = conn_next(c);
			int r = 0;

			if (ev == PKT_NONE)
				break;
			if (ev == PKT_INTERRUPT && s->ops->interrupt)
				s->ops->interrupt(s->t);
			else if (ev == PKT_NACK)
				r = conn_resend(c);
			else if (ev == PKT_BAD)
				r = conn_nack(c);
			else if (ev == PKT_PACKET || ev == PKT_TOO_BIG) {
				s->parked = ev;
				r = conn_flush_ack(c);
			}
			if (r)
				return lost(s);
		}

		struct pollfd p[3] = {
			{ .fd = s->ops->stop_fd(s->t), .events = POLLIN },
			/* A parked packet stops our reading until the stop, but a
			 * client that hangs up meanwhile must not hold the session
			 * (and the listener) until a stop that may never come. */
			{ .fd = c->fd, .events = s->parked == PKT_NONE ? POLLIN : POLLRDHUP },
			{ .fd = s->listen_fd, .events = POLLIN },
		};

		if (poll(p, 3, -1) < 0) {
			int e = -errno;

			if (e == -EINTR)
				continue;
			lost(s);
			return e;
		}
		if (p[0].revents) {
			int r;

			memset(&st, 0, sizeof(st));
			r = s->ops->get_stop(s->t, &st);
			if (r != -EAGAIN) {
				conn_set_live(c, false);
				if (r < 0) {
					lost(s);
					return r;
				}
				return send_stop(s, &st) ? lost(s) : SESSION_ON;
			}
			/* not yet: the client is served all the same (a stop_fd
			 * that stays readable must not starve it) */
		}
		if (p[1].revents && s->parked != PKT_NONE)
			return lost(s);
		if (p[1].revents) {
			long n = conn_fill(c);

			if (n <= 0)
				return lost(s);
			continue;
		}
		if (p[2].revents && !client_ready(c, p[1].events))
			refuse(s);
	}
}

/* c / s / vCont: s->resume is filled in. */
static int run_target(struct stub *s, struct pkt_buf *out)
{
	const struct stub_ops *o = s->ops;
	int e;

	if (!o->resume || !o->stop_fd || !o->get_stop)
		return conn_reply_end(&s->conn, out) ? lost(s) : SESSION_ON;
	/* Stops already pending are the target's to report on this resume
	 * (several vCPUs can stop at once): never drain them here. */
	if (s->exited) {
		struct stub_stop st = { .kind = STUB_STOP_EXITED, .status = s->exit_status };

		return send_stop(s, &st) ? lost(s) : SESSION_ON;
	}
	cmd_resumed(s);
	/* Live before the '+': once the client sees it, console output flows. */
	conn_set_live(&s->conn, true);
	if (conn_flush_ack(&s->conn))
		return lost(s);
	e = o->resume(s->t, &s->resume);
	if (e) {
		conn_set_live(&s->conn, false);
		cmd_error(s, out, e);
		return conn_reply_end(&s->conn, out) ? lost(s) : SESSION_ON;
	}
	return wait_stop(s);
}

static int handle_packet(struct stub *s)
{
	struct conn *c = &s->conn;
	struct pkt_buf out;

	conn_reply_begin(c, &out);
	switch (cmd_dispatch(s, c->rx.buf, c->rx.len, &out)) {
	case CMD_REPLY:
		return conn_reply_end(c, &out) ? lost(s) : SESSION_ON;
	case CMD_RESUME:
		if (s->nonstop)
			return ns_run(s, &out) ? lost(s) : SESSION_ON;
		return run_target(s, &out);
	case CMD_DETACH:
		(void)!conn_reply_end(c, &out); /* detach whether or not OK arrived */
		return lost(s);
	case CMD_KILL:
		(void)!conn_flush_ack(c);
		if (!s->exited && s->ops->kill)
			s->ops->kill(s->t);
		(void)!conn_reply_end(c, &out); /* killed whether or not it arrives */
		return 1;
	}
	return SESSION_ON;
}

/* Target stopped (all-stop), or anything (non-stop): block until the client
 * sends something, telling it of the target's stops meanwhile (non-stop). */
static int wait_input(struct stub *s)
{
	struct conn *c = &s->conn;
	bool ns = s->nonstop && !s->exited && s->ops->stop_fd && s->ops->get_stop;

	for (;;) {
		struct pollfd p[3] = {
			{ .fd = c->fd, .events = POLLIN },
			{ .fd = s->listen_fd, .events = POLLIN },
			{ .fd = ns ? s->ops->stop_fd(s->t) : -1, .events = POLLIN },
		};

		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p[2].revents && ns_collect(s))
			return 0;
		/* A client that left makes room for the next one: see it first. */
		if (p[0].revents || (p[1].revents && client_ready(c, POLLIN)))
			return conn_fill(c) > 0 ? 1 : 0;
		if (p[1].revents)
			refuse(s);
	}
}

static int serve(struct stub *s)
{
	struct conn *c = &s->conn;

	for (;;) {
		enum pkt_event ev = s->parked;
		int r = SESSION_ON;

		s->parked = PKT_NONE;
		if (ev == PKT_NONE)
			ev = conn_next(c);
		switch (ev) {
		case PKT_NONE:
			r = wait_input(s);
			if (r < 0) {
				lost(s);
				return r;
			}
			r = r ? SESSION_ON : lost(s);
			break;
		case PKT_PACKET:
			r = handle_packet(s);
			break;
		case PKT_TOO_BIG: /* EINVAL, in hex */
			r = conn_reply_str(c, "E16") ? lost(s) : SESSION_ON;
			break;
		case PKT_BAD:
			r = conn_nack(c) ? lost(s) : SESSION_ON;
			break;
		case PKT_NACK:
			r = conn_resend(c) ? lost(s) : SESSION_ON;
			break;
		case PKT_INTERRUPT: /* all-stop: nothing runs, nothing to interrupt */
			if (s->nonstop && s->ops->interrupt)
				s->ops->interrupt(s->t);
			break;
		case PKT_ACK:
			break;
		}
		if (r != SESSION_ON)
			return r;
	}
}

int stub_serve(struct stub *s, int fd)
{
	int r;

	conn_open(&s->conn, fd);
	s->parked = PKT_NONE;
	cmd_session_start(s);
	r = serve(s);
	hostio_close_all(s); /* the client's descriptors end with it */
	conn_close(&s->conn);
	return r;
}

static bool accept_error_transient(int err)
{
	return err == EINTR || err == EAGAIN || err == ECONNABORTED || err == EPROTO ||
	       err == EPERM || err == ENETDOWN || err == EHOSTUNREACH || err == ENETUNREACH;
}

int stub_run(struct stub *s, int listen_fd)
{
	const struct stub_ops *o = s->ops;
	int ret = -1;

	s->listen_fd = listen_fd;
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = listen_fd, .events = POLLIN },
			{ .fd = o->stop_fd && o->get_stop ? o->stop_fd(s->t) : -1, .events = POLLIN },
		};
		int fd, one = 1, r;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "gdb stub: poll: %s\n", strerror(errno));
			break;
		}
		if (p[1].revents && o->get_stop) { /* polled only with get_stop */
			struct stub_stop st;

			memset(&st, 0, sizeof(st));
			/* A stop with no debugger stays for the next one's '?'. */
			if (o->get_stop(s->t, &st) == 0 && st.kind == STUB_STOP_EXITED) {
				ret = st.status;
				break;
			}
		}
		if (!p[0].revents)
			continue;
		fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (accept_error_transient(errno))
				continue;
			/* Out of fds or memory: say so and try again shortly. */
			fprintf(stderr, "gdb stub: accept: %s\n", strerror(errno));
			poll(NULL, 0, 100);
			continue;
		}
		/* Fails harmlessly on AF_UNIX. */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (o->attach)
			o->attach(s->t);
		r = stub_serve(s, fd);
		close(fd);
		if (r < 0)
			fprintf(stderr, "gdb stub: session ended: %s\n", strerror(-r));
		if (s->exited) {
			ret = s->exit_status;
			break;
		}
		if (r == 1)
			break;
	}
	s->listen_fd = -1;
	return ret;
}
