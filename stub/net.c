/* net.c - stub_listen: a listening socket from "[HOST:]PORT" or "unix:PATH". */
#include <errno.h>
#include <stdbool.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "stub/stub.h"

#define BACKLOG 4 /* room for a second client to be told it is refused */

__attribute__((format(printf, 4, 5)))
static int fail(char *err, size_t errlen, int e, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return e;
}

/* A socket file nobody listens on is left from a dead vmm: reuse its path. */
static bool unix_stale(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool stale;

	if (fd < 0)
		return false;
	stale = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 && errno == ECONNREFUSED;
	close(fd);
	return stale;
}

static int listen_unix(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, e;

	if (!*path)
		return fail(err, errlen, -EINVAL, "unix socket path is empty");
	if (strlen(path) >= sizeof(sa.sun_path))
		return fail(err, errlen, -ENAMETOOLONG, "unix socket path is too long: %s", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(err, errlen, -errno, "socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		e = errno;
		if (e == EADDRINUSE && unix_stale(&sa) && unlink(path) == 0)
			e = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? errno : 0;
		if (e) {
			close(fd);
			if (e == EADDRINUSE)
				return fail(err, errlen, -e, "%s is in use", path);
			return fail(err, errlen, -e, "cannot bind %s: %s", path, strerror(e));
		}
	}
	if (listen(fd, BACKLOG) < 0) {
		e = errno;
		close(fd);
		return fail(err, errlen, -e, "cannot listen on %s: %s", path, strerror(e));
	}
	return fd;
}

static int listen_tcp(const char *host, const char *port, char *err, size_t errlen)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
	}, *res, *ai;
	int fd = -1, e = 0, one = 1, g;

	g = getaddrinfo(host, port, &hints, &res);
	if (g)
		return fail(err, errlen, -EINVAL, "bad host '%s': %s", host, gai_strerror(g));
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
		    bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, BACKLOG) == 0)
			break;
		e = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd >= 0)
		return fd;
	switch (e) {
	case EADDRINUSE:
		return fail(err, errlen, -e, "port %s is in use", port);
	case EACCES:
		return fail(err, errlen, -e, "port %s needs privileges", port);
	case EADDRNOTAVAIL:
		return fail(err, errlen, -e, "host '%s' is not an address of this machine", host);
	default:
		return fail(err, errlen, -e, "cannot listen on %s:%s: %s", host, port, strerror(e));
	}
}

int stub_listen(const char *spec, char *err, size_t errlen)
{
	char host[256], port[8];
	const char *colon, *p;
	size_t hostlen;
	char *end;
	unsigned long n;

	if (!spec)
		return fail(err, errlen, -EINVAL, "no address given");
	if (!strncmp(spec, "unix:", 5))
		return listen_unix(spec + 5, err, errlen);

	colon = strrchr(spec, ':');
	p = colon ? colon + 1 : spec;
	hostlen = colon ? (size_t)(colon - spec) : 0;
	if (hostlen >= 2 && spec[0] == '[' && spec[hostlen - 1] == ']') {
		spec++; /* [::1]:1234 */
		hostlen -= 2;
	}
	if (hostlen >= sizeof(host))
		return fail(err, errlen, -EINVAL, "host name too long");
	if (hostlen)
		memcpy(host, spec, hostlen);
	host[hostlen] = '\0';
	if (!hostlen)
		strcpy(host, "127.0.0.1");

	errno = 0;
	n = strtoul(p, &end, 10);
	if (!*p || *end || *p < '0' || *p > '9' || errno || n > 65535)
		return fail(err, errlen, -EINVAL, "bad port '%s': want a number 0-65535", p);
	snprintf(port, sizeof(port), "%lu", n);
	return listen_tcp(host, port, err, errlen);
}
