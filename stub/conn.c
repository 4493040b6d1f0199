/* conn.c - the client connection: buffered reads, acks, framed writes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stub/internal.h"

int conn_init(struct conn *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->last = -1;
	c->in = malloc(STUB_RX_CHUNK);
	c->rxbuf = malloc(STUB_PACKET_SIZE + 1);
	c->frame[0] = malloc(STUB_FRAME_SIZE);
	c->frame[1] = malloc(STUB_FRAME_SIZE);
	c->nframe = malloc(STUB_NOTIFY_SIZE);
	if (!c->in || !c->rxbuf || !c->frame[0] || !c->frame[1] || !c->nframe)
		goto err_free;
	if (pthread_mutex_init(&c->lock, NULL))
		goto err_free;
	pkt_rx_init(&c->rx, c->rxbuf, STUB_PACKET_SIZE);
	return 0;

err_free:
	free(c->in);
	free(c->rxbuf);
	free(c->frame[0]);
	free(c->frame[1]);
	free(c->nframe);
	return -ENOMEM;
}

void conn_destroy(struct conn *c)
{
	pthread_mutex_destroy(&c->lock);
	free(c->in);
	free(c->rxbuf);
	free(c->frame[0]);
	free(c->frame[1]);
	free(c->nframe);
}

void conn_open(struct conn *c, int fd)
{
	pthread_mutex_lock(&c->lock);
	c->fd = fd;
	c->noack = false;
	c->ack_pending = false;
	c->live = false;
	c->in_pos = c->in_len = 0;
	c->last = -1;
	c->last_len = 0;
	pkt_rx_reset(&c->rx);
	pthread_mutex_unlock(&c->lock);
}

void conn_close(struct conn *c)
{
	pthread_mutex_lock(&c->lock);
	c->fd = -1;
	c->live = false;
	pthread_mutex_unlock(&c->lock);
}

void conn_set_live(struct conn *c, bool live)
{
	pthread_mutex_lock(&c->lock);
	c->live = live;
	pthread_mutex_unlock(&c->lock);
}

enum pkt_event conn_next(struct conn *c)
{
	enum pkt_event ev;
	size_t used;

	ev = pkt_rx_feed(&c->rx, c->in + c->in_pos, c->in_len - c->in_pos, &used);
	c->in_pos += used;
	if ((ev == PKT_PACKET || ev == PKT_TOO_BIG) && !c->noack) {
		pthread_mutex_lock(&c->lock);
		c->ack_pending = true;
		pthread_mutex_unlock(&c->lock);
	}
	return ev;
}

long conn_fill(struct conn *c)
{
	ssize_t n;

	do
		n = read(c->fd, c->in, STUB_RX_CHUNK);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	c->in_pos = 0;
	c->in_len = (size_t)n;
	return n;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		/* MSG_NOSIGNAL: a vanished client is an error, not a SIGPIPE. */
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

void conn_reply_begin(struct conn *c, struct pkt_buf *b)
{
	/* Only stub_console changes c->last concurrently, and only while the
	 * target runs, when no reply is being built. */
	c->building = c->last == 0 ? 1 : 0;
	b->buf = c->frame[c->building] + 2;
	b->cap = STUB_PACKET_SIZE;
	b->len = 0;
	b->overflow = false;
}

/* Frame the payload in frame[k] and send it, with an owed '+' in front. */
static int send_locked(struct conn *c, int k, size_t len)
{
	char *f = c->frame[k];
	size_t n = pkt_frame(f + 1, STUB_FRAME_SIZE - 1, len);
	int r;

	if (c->fd < 0)
		return -ENOTCONN;
	if (c->ack_pending) {
		f[0] = '+';
		r = write_all(c->fd, f, n + 1);
		c->ack_pending = false;
	} else {
		r = write_all(c->fd, f + 1, n);
	}
	c->last = k;
	c->last_len = n;
	return r;
}

int conn_reply_end(struct conn *c, struct pkt_buf *b)
{
	int r;

	pthread_mutex_lock(&c->lock);
	r = send_locked(c, c->building, b->len);
	pthread_mutex_unlock(&c->lock);
	return r;
}

int conn_reply_str(struct conn *c, const char *s)
{
	struct pkt_buf b;

	conn_reply_begin(c, &b);
	pkt_puts(&b, s);
	return conn_reply_end(c, &b);
}

static int write_locked(struct conn *c, const char *buf, size_t len)
{
	int r;

	pthread_mutex_lock(&c->lock);
	r = c->fd < 0 ? -ENOTCONN : write_all(c->fd, buf, len);
	pthread_mutex_unlock(&c->lock);
	return r;
}

int conn_nack(struct conn *c)
{
	if (c->noack)
		return 0;
	return write_locked(c, "-", 1);
}

int conn_flush_ack(struct conn *c)
{
	int r = 0;

	pthread_mutex_lock(&c->lock);
	if (c->ack_pending && c->fd >= 0)
		r = write_all(c->fd, "+", 1);
	c->ack_pending = false;
	pthread_mutex_unlock(&c->lock);
	return r;
}

int conn_resend(struct conn *c)
{
	int r = 0;

	pthread_mutex_lock(&c->lock);
	if (c->last >= 0 && !c->noack && c->fd >= 0)
		r = write_all(c->fd, c->frame[c->last] + 1, c->last_len);
	pthread_mutex_unlock(&c->lock);
	return r;
}

static int console_locked(struct conn *c, const char *text, size_t len)
{
	const size_t chunk = (STUB_PACKET_SIZE - 1) / 2;

	while (len) {
		size_t n = len < chunk ? len : chunk;
		int k = c->last == 0 ? 1 : 0;
		char *p = c->frame[k] + 2;
		int r;

		p[0] = 'O';
		pkt_hex_encode(p + 1, (const uint8_t *)text, n);
		r = send_locked(c, k, 1 + 2 * n);
		if (r)
			return r;
		text += n;
		len -= n;
	}
	return 0;
}

int conn_console(struct conn *c, const char *text, size_t len)
{
	int r;

	pthread_mutex_lock(&c->lock);
	r = console_locked(c, text, len);
	pthread_mutex_unlock(&c->lock);
	return r;
}

void conn_console_async(struct conn *c, const char *text, size_t len)
{
	pthread_mutex_lock(&c->lock);
	if (c->fd >= 0 && c->live)
		(void)console_locked(c, text, len);
	pthread_mutex_unlock(&c->lock);
}

void conn_notify_begin(struct conn *c, struct pkt_buf *b)
{
	b->buf = c->nframe + 1;
	b->cap = STUB_NOTIFY_SIZE / 2 - 4; /* room to escape every byte */
	b->len = 0;
	b->overflow = false;
}

/* A notification is framed as a packet with '%' for '$', is not
 * acknowledged, and is never the packet a '-' asks again for. */
int conn_notify_end(struct conn *c, struct pkt_buf *b)
{
	size_t n = pkt_frame(c->nframe, STUB_NOTIFY_SIZE, b->len);
	int r;

	if (!n || b->overflow)
		return -EMSGSIZE;
	c->nframe[0] = '%';
	pthread_mutex_lock(&c->lock);
	r = c->fd < 0 ? -ENOTCONN : write_all(c->fd, c->nframe, n);
	pthread_mutex_unlock(&c->lock);
	return r;
}
