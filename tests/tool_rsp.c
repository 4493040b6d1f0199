/* tool_rsp.c - a raw GDB remote protocol client for scripted tests.
 *
 *   tool_rsp HOST:PORT < script        (or unix:PATH)
 *
 * One command per line; blank lines and lines starting with '#' are skipped:
 *   send PAYLOAD        frame with a checksum, send, consume the '+' ack
 *                       (unless no-ack mode was negotiated with
 *                       "send QStartNoAckMode" answered by "expect OK")
 *   raw TEXT            send bytes exactly
 *   expect TEXT         next packet (acked) must be exactly TEXT
 *   expect_prefix TEXT  next packet must start with TEXT
 *   expect_re REGEX     next packet must match the POSIX extended REGEX
 *   expect_ack + | -    next byte must be that ack
 *   expect_eof          the server must close the connection
 *   sleep MS
 *   timeout SECONDS     for every later read (default 10)
 *   close               hang up
 * PAYLOAD and TEXT take C escapes: \xHH \n \r \t \\ .  Received packets are
 * checked against their checksum and their '}' escapes undone.  Prints
 * "ok LINE" per passed expectation; the first failure prints
 * "FAIL line N: got ... expected ..." and exits 1.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <regex.h>
#include <stdarg.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "stub/packet.h"

#define MAX_PACKET (1 << 21)

static int fd = -1;
static int timeout_ms = 10000;
static bool noack, noack_asked;
static int lineno;
static uint8_t inbuf[65536];
static size_t inpos, inlen;

__attribute__((format(printf, 1, 2), noreturn))
static void fail(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL line %d: ", lineno);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(1);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

/* Next byte; -1 on timeout, -2 at EOF or error. */
static int getbyte(long deadline)
{
	if (inpos == inlen) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long left = deadline - now_ms();
		ssize_t n;

		if (fd < 0)
			return -2;
		if (left < 0 || poll(&p, 1, (int)left) != 1)
			return -1;
		n = read(fd, inbuf, sizeof(inbuf));
		if (n <= 0)
			return -2;
		inpos = 0;
		inlen = (size_t)n;
	}
	return inbuf[inpos++];
}

static void put(const void *buf, size_t len)
{
	if (fd < 0)
		fail("not connected");
	if (send(fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len)
		fail("send: %s", strerror(errno));
}

/* Printable form of data for messages, cut at 300 characters. */
static const char *show(const char *s, size_t len)
{
	static char out[1300];
	size_t o = 0;

	for (size_t i = 0; i < len && o < sizeof(out) - 8; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i == 300) {
			o += (size_t)sprintf(out + o, "...(%zu bytes)", len);
			break;
		}
		if (c == '\\')
			o += (size_t)sprintf(out + o, "\\\\");
		else if (c >= 0x20 && c < 0x7f)
			out[o++] = (char)c;
		else
			o += (size_t)sprintf(out + o, "\\x%02x", c);
	}
	out[o] = '\0';
	return out;
}

/* C escapes in place; returns the new length. */
static size_t unescape_c(char *s)
{
	size_t o = 0;

	for (size_t i = 0; s[i]; i++) {
		if (s[i] != '\\' || !s[i + 1]) {
			s[o++] = s[i];
			continue;
		}
		switch (s[++i]) {
		case 'n':
			s[o++] = '\n';
			break;
		case 'r':
			s[o++] = '\r';
			break;
		case 't':
			s[o++] = '\t';
			break;
		case 'x': {
			int hi = pkt_hexval((uint8_t)s[i + 1]);
			int lo = hi >= 0 ? pkt_hexval((uint8_t)s[i + 2]) : -1;

			if (lo < 0)
				fail("bad \\x escape");
			s[o++] = (char)(hi << 4 | lo);
			i += 2;
			break;
		}
		default:
			s[o++] = s[i];
			break;
		}
	}
	s[o] = '\0';
	return o;
}

static void expect_byte(int want)
{
	int got = getbyte(now_ms() + timeout_ms);

	if (got == want)
		return;
	if (got == -1)
		fail("got nothing in %d ms, expected '%c'", timeout_ms, want);
	if (got == -2)
		fail("connection closed, expected '%c'", want);
	fail("got byte 0x%02x ('%c'), expected '%c'", got, got >= 0x20 && got < 0x7f ? got : '?',
	     want);
}

static void send_packet(const char *payload, size_t len)
{
	static char frame[MAX_PACKET + 8];

	if (len > MAX_PACKET)
		fail("packet too long");
	frame[0] = '$';
	memcpy(frame + 1, payload, len);
	snprintf(frame + 1 + len, 4, "#%02x", pkt_checksum(payload, len));
	put(frame, len + 4);
	if (!noack)
		expect_byte('+');
	noack_asked = len == 15 && !memcmp(payload, "QStartNoAckMode", 15);
}

/* The next packet's payload (escapes and run lengths undone); acks it. */
static size_t recv_packet(char *out, size_t cap)
{
	static char raw[MAX_PACKET];
	long deadline = now_ms() + timeout_ms;
	size_t n = 0, o = 0;
	int c, hi, lo;

	c = getbyte(deadline);
	if (c == -1)
		fail("got nothing in %d ms, expected a packet", timeout_ms);
	if (c == -2)
		fail("connection closed, expected a packet");
	if (c != '$')
		fail("got byte 0x%02x ('%c') where a packet should start", c,
		     c >= 0x20 && c < 0x7f ? c : '?');
	while ((c = getbyte(deadline)) != '#') {
		if (c < 0)
			fail("packet cut short after \"%s\"", show(raw, n));
		if (n == sizeof(raw))
			fail("packet too long");
		raw[n++] = (char)c;
	}
	hi = pkt_hexval((uint8_t)getbyte(deadline));
	lo = pkt_hexval((uint8_t)getbyte(deadline));
	if (hi < 0 || lo < 0 || (hi << 4 | lo) != pkt_checksum(raw, n))
		fail("bad checksum on \"%s\"", show(raw, n));
	for (size_t i = 0; i < n; i++) {
		char ch = raw[i];

		if (ch == '}') {
			if (++i == n)
				fail("'}' at the end of \"%s\"", show(raw, n));
			ch = (char)(raw[i] ^ 0x20);
		} else if (ch == '*' && o > 0 && i + 1 < n) {
			int run = (unsigned char)raw[++i] - 29;

			while (run-- > 0 && o < cap - 1) {
				out[o] = out[o - 1];
				o++;
			}
			continue;
		}
		if (o < cap - 1)
			out[o++] = ch;
	}
	out[o] = '\0';
	/* Best effort: a server that said its last word and left is no error. */
	if (!noack && fd >= 0)
		(void)!send(fd, "+", 1, MSG_NOSIGNAL);
	if (noack_asked && o == 2 && !memcmp(out, "OK", 2))
		noack = true;
	noack_asked = false;
	return o;
}

static int connect_once(const char *spec)
{
	int s;

	if (!strncmp(spec, "unix:", 5)) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		if (strlen(spec + 5) >= sizeof(sa.sun_path))
			return -ENAMETOOLONG;
		strcpy(sa.sun_path, spec + 5);
		s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0)
			return -errno;
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			int e = -errno;

			close(s);
			return e;
		}
		return s;
	}

	char host[256];
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int e = -ECONNREFUSED;

	if (!colon || (size_t)(colon - spec) >= sizeof(host))
		return -EINVAL;
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	if (getaddrinfo(host[0] ? host : "127.0.0.1", colon + 1, &hints, &res))
		return -EINVAL;
	for (ai = res; ai; ai = ai->ai_next) {
		s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (s < 0)
			continue;
		if (connect(s, ai->ai_addr, ai->ai_addrlen) == 0) {
			freeaddrinfo(res);
			return s;
		}
		e = -errno;
		close(s);
	}
	freeaddrinfo(res);
	return e;
}

/* The server may still be starting: retry refused connections a while. */
static int connect_to(const char *spec)
{
	long deadline = now_ms() + timeout_ms;

	for (;;) {
		int s = connect_once(spec);

		if (s >= 0)
			return s;
		if ((s != -ECONNREFUSED && s != -ENOENT) || now_ms() > deadline) {
			fprintf(stderr, "tool_rsp: cannot connect to %s: %s\n", spec,
				s == -EINVAL ? "bad address" : strerror(-s));
			exit(2);
		}
		poll(NULL, 0, 50);
	}
}

static char got[MAX_PACKET];

static void run_line(char *cmd, char *arg)
{
	size_t len, n;

	if (!strcmp(cmd, "send")) {
		len = unescape_c(arg);
		send_packet(arg, len);
	} else if (!strcmp(cmd, "raw")) {
		len = unescape_c(arg);
		put(arg, len);
	} else if (!strcmp(cmd, "expect") || !strcmp(cmd, "expect_prefix")) {
		bool prefix = cmd[6] == '_';

		len = unescape_c(arg);
		n = recv_packet(got, sizeof(got));
		if (prefix ? n < len || memcmp(got, arg, len) : n != len || memcmp(got, arg, len)) {
			printf("FAIL line %d: got \"%s\"", lineno, show(got, n));
			printf(" expected %s\"%s\"\n", prefix ? "prefix " : "", show(arg, len));
			exit(1);
		}
		printf("ok %d\n", lineno);
	} else if (!strcmp(cmd, "expect_re")) {
		regex_t re;
		int r = regcomp(&re, arg, REG_EXTENDED | REG_NOSUB);

		if (r)
			fail("bad regex \"%s\"", arg);
		n = recv_packet(got, sizeof(got));
		r = regexec(&re, got, 0, NULL, 0);
		regfree(&re);
		if (r || strlen(got) != n) {
			printf("FAIL line %d: got \"%s\"", lineno, show(got, n));
			printf(" expected a match of /%s/\n", arg);
			exit(1);
		}
		printf("ok %d\n", lineno);
	} else if (!strcmp(cmd, "expect_ack")) {
		if (strcmp(arg, "+") && strcmp(arg, "-"))
			fail("expect_ack takes + or -");
		expect_byte(arg[0]);
		printf("ok %d\n", lineno);
	} else if (!strcmp(cmd, "expect_eof")) {
		int c = getbyte(now_ms() + timeout_ms);

		if (c != -2)
			fail(c == -1 ? "still open after %d ms" : "got data, expected the end (%d)",
			     c == -1 ? timeout_ms : c);
		printf("ok %d\n", lineno);
	} else if (!strcmp(cmd, "sleep")) {
		poll(NULL, 0, atoi(arg));
	} else if (!strcmp(cmd, "timeout")) {
		timeout_ms = atoi(arg) * 1000;
		if (timeout_ms <= 0)
			fail("bad timeout \"%s\"", arg);
	} else if (!strcmp(cmd, "close")) {
		if (fd >= 0)
			close(fd);
		fd = -1;
	} else {
		fail("unknown command \"%s\"", cmd);
	}
}

int main(int argc, char **argv)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (argc != 2) {
		fprintf(stderr, "usage: tool_rsp HOST:PORT | unix:PATH < script\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	fd = connect_to(argv[1]);
	while ((n = getline(&line, &cap, stdin)) >= 0) {
		char *cmd = line, *arg;

		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		while (*cmd == ' ' || *cmd == '\t')
			cmd++;
		if (!*cmd || *cmd == '#')
			continue;
		arg = strchr(cmd, ' ');
		if (arg)
			*arg++ = '\0';
		else
			arg = cmd + strlen(cmd);
		run_line(cmd, arg);
	}
	free(line);
	if (fd >= 0)
		close(fd);
	return 0;
}
