/* hostio.c - vFile, the remote file I/O of gdb's "target:" files, limited
 * to one file: the image the target runs (ops->exec_file), read-only.
 *
 * With qXfer:exec-file:read gdb learns that file's name on "target remote"
 * and, its sysroot being "target:" by default, reads it through vFile to
 * load the symbols.  Any other name is refused (EACCES), and so is opening
 * it for writing (EROFS).  Replies are "Fresult[,errno][;data]", numbers in
 * hex, errno values those of the protocol's File-I/O (gdb/fileio.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stub/internal.h"

/* File-I/O errno values (the protocol's, not the host's) */
enum {
	FIO_EPERM = 1, FIO_ENOENT = 2, FIO_EINTR = 4, FIO_EBADF = 9, FIO_EACCES = 13,
	FIO_EFAULT = 14, FIO_EBUSY = 16, FIO_EEXIST = 17, FIO_ENODEV = 19, FIO_ENOTDIR = 20,
	FIO_EISDIR = 21, FIO_EINVAL = 22, FIO_ENFILE = 23, FIO_EMFILE = 24, FIO_EFBIG = 27,
	FIO_ENOSPC = 28, FIO_ESPIPE = 29, FIO_EROFS = 30, FIO_ENAMETOOLONG = 91,
	FIO_EUNKNOWN = 9999,
};

static int fio_errno(int err)
{
	switch (err < 0 ? -err : err) {
	case EPERM: return FIO_EPERM;
	case ENOENT: return FIO_ENOENT;
	case EINTR: return FIO_EINTR;
	case EBADF: return FIO_EBADF;
	case EACCES: return FIO_EACCES;
	case EFAULT: return FIO_EFAULT;
	case EBUSY: return FIO_EBUSY;
	case EEXIST: return FIO_EEXIST;
	case ENODEV: return FIO_ENODEV;
	case ENOTDIR: return FIO_ENOTDIR;
	case EISDIR: return FIO_EISDIR;
	case EINVAL: return FIO_EINVAL;
	case ENFILE: return FIO_ENFILE;
	case EMFILE: return FIO_EMFILE;
	case EFBIG: return FIO_EFBIG;
	case ENOSPC: return FIO_ENOSPC;
	case ESPIPE: return FIO_ESPIPE;
	case EROFS: return FIO_EROFS;
	case ENAMETOOLONG: return FIO_ENAMETOOLONG;
	default: return FIO_EUNKNOWN;
	}
}

static enum cmd_result fio_error(struct pkt_buf *out, int err)
{
	out->len = 0;
	pkt_printf(out, "F-1,%x", fio_errno(err));
	return CMD_REPLY;
}

void hostio_init(struct stub *s)
{
	for (int i = 0; i < STUB_MAX_FILES; i++)
		s->files[i] = -1;
}

void hostio_close_all(struct stub *s)
{
	for (int i = 0; i < STUB_MAX_FILES; i++)
		if (s->files[i] >= 0) {
			close(s->files[i]);
			s->files[i] = -1;
		}
}

/* The image's name into path (PATH_MAX bytes): 0, or -errno. */
int hostio_exec_file(struct stub *s, char *path)
{
	int e;

	if (!s->ops->exec_file)
		return -ENOSYS;
	path[0] = '\0';
	e = s->ops->exec_file(s->t, path, PATH_MAX);
	if (e)
		return e;
	return path[0] == '/' && memchr(path, '\0', PATH_MAX) ? 0 : -ENOENT;
}

/* "n1,n2,...": the next hex number, and its separator or the end. */
static bool next_num(const char **a, const char *end, char sep, uint64_t *v)
{
	if (pkt_parse_hex(a, end, v))
		return false;
	if (!sep)
		return *a == end;
	if (*a >= end || **a != sep)
		return false;
	(*a)++;
	return true;
}

/* The open file behind a client's fd, or -1. */
static int file_of(struct stub *s, uint64_t fd)
{
	return fd < STUB_MAX_FILES ? s->files[fd] : -1;
}

/* vFile:setfs:pid: every process sees the same files here. */
enum cmd_result hostio_setfs(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	uint64_t pid;

	if (!s->ops->exec_file)
		return CMD_REPLY;
	if (a >= end || *a++ != ':' || !next_num(&a, end, 0, &pid))
		return fio_error(out, EINVAL);
	pkt_puts(out, "F0");
	return CMD_REPLY;
}

/* vFile:open:hex-name,flags,mode */
enum cmd_result hostio_open(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	char path[PATH_MAX], name[PATH_MAX];
	const char *comma;
	uint64_t flags, mode;
	long n;
	int slot, fd;

	if (!s->ops->exec_file)
		return CMD_REPLY;
	comma = a < end ? memchr(a, ',', (size_t)(end - a)) : NULL;
	if (a >= end || *a != ':' || !comma)
		return fio_error(out, EINVAL);
	n = pkt_hex_decode((uint8_t *)name, sizeof(name) - 1, a + 1, (size_t)(comma - a - 1));
	a = comma + 1;
	if (n < 0 || !next_num(&a, end, ',', &flags) || !next_num(&a, end, 0, &mode))
		return fio_error(out, n == -ENOSPC ? ENAMETOOLONG : EINVAL);
	name[n] = '\0';
	if (hostio_exec_file(s, path) || strlen(name) != (size_t)n || strcmp(name, path))
		return fio_error(out, EACCES); /* not the image: not ours to show */
	if (flags != 0) /* O_RDONLY is 0; anything else writes or creates */
		return fio_error(out, EROFS);
	for (slot = 0; slot < STUB_MAX_FILES && s->files[slot] >= 0; slot++)
		;
	if (slot == STUB_MAX_FILES)
		return fio_error(out, EMFILE);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fio_error(out, errno);
	s->files[slot] = fd;
	pkt_printf(out, "F%x", slot);
	return CMD_REPLY;
}

/* vFile:pread:fd,count,offset: "Fcount;" and the bytes, binary */
enum cmd_result hostio_pread(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	uint64_t fd, count, off;
	size_t room = pkt_room(out) - 32; /* "F" and the count go first */
	ssize_t n;

	if (!s->ops->exec_file)
		return CMD_REPLY;
	if (a >= end || *a++ != ':' || !next_num(&a, end, ',', &fd) ||
	    !next_num(&a, end, ',', &count) || !next_num(&a, end, 0, &off) || off > INT64_MAX)
		return fio_error(out, EINVAL);
	if (file_of(s, fd) < 0)
		return fio_error(out, EBADF);
	if (count > room)
		count = room;
	if (count > s->scratch_cap)
		count = s->scratch_cap;
	n = pread(file_of(s, fd), s->scratch, (size_t)count, (off_t)off);
	if (n < 0)
		return fio_error(out, errno);
	pkt_printf(out, "F%zx;", (size_t)n);
	pkt_put(out, s->scratch, (size_t)n); /* escaped when framed */
	return CMD_REPLY;
}

/* vFile:close:fd */
enum cmd_result hostio_close(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	uint64_t fd;

	if (!s->ops->exec_file)
		return CMD_REPLY;
	if (a >= end || *a++ != ':' || !next_num(&a, end, 0, &fd))
		return fio_error(out, EINVAL);
	if (file_of(s, fd) < 0)
		return fio_error(out, EBADF);
	close(s->files[fd]);
	s->files[fd] = -1;
	pkt_puts(out, "F0");
	return CMD_REPLY;
}

static void put_be(uint8_t **p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--)
		*(*p)++ = (uint8_t)(v >> (8 * i));
}

/* vFile:fstat:fd: "F40;" and File-I/O's struct stat, 64 bytes big-endian */
enum cmd_result hostio_fstat(struct stub *s, const char *a, const char *end, struct pkt_buf *out)
{
	uint8_t st_buf[64], *p = st_buf;
	struct stat st;
	uint64_t fd;

	if (!s->ops->exec_file)
		return CMD_REPLY;
	if (a >= end || *a++ != ':' || !next_num(&a, end, 0, &fd))
		return fio_error(out, EINVAL);
	if (file_of(s, fd) < 0)
		return fio_error(out, EBADF);
	if (fstat(file_of(s, fd), &st))
		return fio_error(out, errno);
	put_be(&p, st.st_dev, 4);
	put_be(&p, st.st_ino, 4);
	put_be(&p, st.st_mode & (S_IFMT | 0777), 4); /* File-I/O's bits are the same */
	put_be(&p, st.st_nlink, 4);
	put_be(&p, st.st_uid, 4);
	put_be(&p, st.st_gid, 4);
	put_be(&p, st.st_rdev, 4);
	put_be(&p, (uint64_t)st.st_size, 8);
	put_be(&p, (uint64_t)st.st_blksize, 8);
	put_be(&p, (uint64_t)st.st_blocks, 8);
	put_be(&p, (uint64_t)st.st_atime, 4);
	put_be(&p, (uint64_t)st.st_mtime, 4);
	put_be(&p, (uint64_t)st.st_ctime, 4);
	pkt_printf(out, "F%zx;", sizeof(st_buf));
	pkt_put(out, st_buf, sizeof(st_buf));
	return CMD_REPLY;
}
