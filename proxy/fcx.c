/*
 * fcx: the FastCGI client core. Backend exchanges (be.c), active health
 * checks (hc.c) and internal subrequests (sub.c) all reach an instance
 * through it: the non-blocking connect and its outcome, writing queued
 * records while the socket takes them, reading, decoding records into
 * events for the owner (after lighttpd's gw_backend.c, which serves
 * FastCGI, SCGI and proxy alike), and the instance's STDERR in the error
 * log. What an event means is the owner's business; the protocol itself
 * is the pure codec in fcgi.c.
 */
#include <sys/socket.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proxy.h"
#include "util.h"

int
fcx_connect(const struct instance *ins, int *fdp)
{
	int fd;

	*fdp = -1;
	fd = socket(ins->ins_addr.ga_ss.ss_family, SOCK_STREAM |
	    SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (connect(fd, (const struct sockaddr *)&ins->ins_addr.ga_ss,
	    ins->ins_addr.ga_len) == -1 && errno != EINPROGRESS) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -2;
	}
	*fdp = fd;
	return 0;
}

int
fcx_connected(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return -1;
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

enum fcx_io
fcx_write(int fd, struct buf *out, size_t *sent)
{
	ssize_t n;

	while (buf_avail(out) > 0) {
		n = write(fd, buf_data(out), buf_avail(out));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return FCX_AGAIN;
		if (n == -1)
			return FCX_ERR;
		buf_consume(out, (size_t)n);
		*sent += (size_t)n;
	}
	return FCX_OK;
}

enum fcx_io
fcx_read(int fd, struct buf *in, size_t chunk, size_t *got)
{
	ssize_t n;

	*got = 0;
	buf_reserve(in, chunk);
	do
		n = read(fd, buf_tail(in), chunk);
	while (n == -1 && errno == EINTR);
	if (n == -1 && errno == EAGAIN)
		return FCX_AGAIN;
	if (n == -1)
		return FCX_ERR;
	if (n == 0)
		return FCX_EOF;
	buf_commit(in, (size_t)n);
	*got = (size_t)n;
	return FCX_OK;
}

int
fcx_decode(struct fcgi_dec *dec, struct buf *in, fcx_event_cb cb, void *arg)
{
	struct fcgi_event e;
	ssize_t n;

	while (buf_avail(in) > 0) {
		n = fcgi_dec_run(dec, buf_data(in), buf_avail(in), &e);
		if (n > 0)
			buf_consume(in, (size_t)n);
		if (n == FCGI_BAD)
			e.ev_type = FCGI_EV_ERROR;
		if (e.ev_type == FCGI_EV_NONE)
			break;
		if (cb(arg, &e) == -1)
			return -1;
		if (n == FCGI_BAD)
			return -1;
	}
	return 0;
}

void
fcx_stderr(const struct instance *ins, const char *rid, struct str s)
{
	const char *p = s.p, *end = s.p + s.len, *nl;
	int len;

	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		len = (int)((nl - p) > 1024 ? 1024 : (nl - p));
		if (len > 0)
			log_warnx("rid=%s: %s: stderr: %.*s", rid,
			    ins->ins_name, len, p);
		p = nl + 1;
	}
}
