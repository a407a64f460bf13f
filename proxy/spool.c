/*
 * spool: a body held by the gateway: its first bytes in memory, the rest
 * in an unlinked temporary file (O_TMPFILE, or a named file removed at
 * once where the filesystem lacks it), so a request body can be read whole
 * before a backend connection is taken, and sent again on a retry.
 *
 * A spool only grows until it is released; readers address it by offset.
 * Nothing here touches the event loop: the file is a regular file, whose
 * reads and writes do not block on the network.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy.h"
#include "util.h"

void
spool_init(struct spool *sp)
{
	memset(sp, 0, sizeof(*sp));
	sp->sp_fd = -1;
}

void
spool_release(struct spool *sp)
{
	buf_release(&sp->sp_mem);
	if (sp->sp_fd != -1)
		close(sp->sp_fd);
	sp->sp_fd = -1;
	sp->sp_len = 0;
}

int
spool_tmpfile(const char *dir)
{
	char *path;
	int fd;

	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd != -1 || (errno != EOPNOTSUPP && errno != EISDIR &&
	    errno != EINVAL))
		return fd;
	/* No O_TMPFILE here: a unique name, removed before any use. */
	path = xasprintf("%s/elp-gateway.XXXXXX", dir);
	if ((fd = mkostemp(path, O_CLOEXEC)) != -1)
		(void)unlink(path);
	free(path);
	return fd;
}

/* Writes all of <p>/<len> at the end of the file. 0 or -1 (errno). */
static int
spool_write_file(struct spool *sp, const char *p, size_t len)
{
	uint64_t at = sp->sp_len - buf_avail(&sp->sp_mem);
	ssize_t n;

	while (len > 0) {
		n = pwrite(sp->sp_fd, p, len, (off_t)at);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0) {
			errno = ENOSPC;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		at += (uint64_t)n;
		sp->sp_len += (uint64_t)n;
	}
	return 0;
}

int
spool_append(struct spool *sp, const char *p, size_t len, size_t memmax,
    const char *dir)
{
	size_t k;

	if (sp->sp_fd == -1 && buf_avail(&sp->sp_mem) < memmax) {
		k = memmax - buf_avail(&sp->sp_mem);
		if (k > len)
			k = len;
		buf_append(&sp->sp_mem, p, k);
		sp->sp_len += k;
		p += k;
		len -= k;
	}
	if (len == 0)
		return 0;
	if (sp->sp_fd == -1 && (sp->sp_fd = spool_tmpfile(dir)) == -1)
		return -1;
	return spool_write_file(sp, p, len);
}

ssize_t
spool_read(const struct spool *sp, uint64_t off, char *out, size_t len,
    const char **view)
{
	uint64_t mem = buf_avail(&sp->sp_mem);
	ssize_t n;

	if (off >= sp->sp_len || len == 0)
		return 0;
	if (off < mem) {
		if (len > mem - off)
			len = (size_t)(mem - off);
		*view = buf_data(&sp->sp_mem) + off;
		return (ssize_t)len;
	}
	if (len > sp->sp_len - off)
		len = (size_t)(sp->sp_len - off);
	do
		n = pread(sp->sp_fd, out, len, (off_t)(off - mem));
	while (n == -1 && errno == EINTR);
	if (n == 0) {
		errno = EIO;	/* the file lost bytes: cannot go on */
		return -1;
	}
	*view = out;
	return n;
}

int
spool_in_file(const struct spool *sp)
{
	return sp->sp_fd != -1;
}
