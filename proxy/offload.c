/*
 * off: file offload. A backend that authorized a download names the file
 * (X-Accel-Redirect) and the gateway serves it: opening it safely beneath
 * the route's offload root, the pure parsers and formatters of its
 * validators (ETag, Last-Modified) and of the Range header, the head of
 * the gateway's answer (200, 206, 304, 416), and the transfer with
 * sendfile() paced by the client's writability (on TLS, read and written
 * through tls_sendfile()).
 */
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <linux/openat2.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "env.h"
#include "log.h"
#include "proxy.h"
#include "util.h"

#define OFF_HTTP_DATE	"%a, %d %b %Y %H:%M:%S GMT"
#define OFF_FILE_ROUND	(256 * 1024) /* bytes per loop round */

/* Whether each component of <rel> is a plain name: no "..", none longer
 * than NAME_MAX. Empty components ("a//b") and "." are harmless. */
static int
off_components_ok(const char *rel)
{
	const char *p = rel;
	size_t len;

	while (*p != '\0') {
		len = strcspn(p, "/");
		if (len > NAME_MAX)
			return 0;
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return 0;
		p += len;
		p += strspn(p, "/");
	}
	return 1;
}

int
off_open(int rootfd, struct str rel, struct stat *st, const char **why)
{
	char path[PATH_MAX];
	struct open_how how;
	int fd;

	/* A leading "/" means the root, not the file system's. */
	while (rel.len > 0 && rel.p[0] == '/') {
		rel.p++;
		rel.len--;
	}
	*why = "empty or over-long name";
	if (rel.len == 0 || rel.len >= sizeof(path))
		return -1;
	*why = "NUL byte in the name";
	if (memchr(rel.p, '\0', rel.len) != NULL)
		return -1;
	memcpy(path, rel.p, rel.len);
	path[rel.len] = '\0';
	*why = "\"..\" or an over-long component in the name";
	if (!off_components_ok(path))
		return -1;
	memset(&how, 0, sizeof(how));
	how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
	    RESOLVE_NO_MAGICLINKS;
	fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	if (fd == -1) {
		/* XXX no fallback without openat2 (Linux < 5.6): refusing
		 * is the only answer that cannot escape the root. */
		*why = errno == ENOSYS ? "openat2 unsupported" :
		    errno == ELOOP || errno == EXDEV ? "symlink or escape" :
		    "cannot open";
		return -1;
	}
	if (fstat(fd, st) == -1 || !S_ISREG(st->st_mode)) {
		*why = "not a regular file";
		close(fd);
		return -1;
	}
	return fd;
}

void
off_etag(const struct stat *st, char *out, size_t len)
{
	snprintf(out, len, "\"%llx-%llx-%llx\"",
	    (unsigned long long)st->st_ino, (unsigned long long)st->st_size,
	    (unsigned long long)st->st_mtime);
}

void
off_date(time_t t, char *out, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, len, OFF_HTTP_DATE, &tm);
}

int
off_date_parse(const char *s, time_t *t)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, OFF_HTTP_DATE, &tm);
	if (end == NULL || *end != '\0')
		return -1;
	*t = timegm(&tm);
	return *t == (time_t)-1 ? -1 : 0;
}

/* The next entity-tag of a comma list at *<p>, without "W/"; advances
 * *<p>. Returns 0 at the end of the list. */
static int
off_etag_next(const char **p, struct str *tag, int *weak)
{
	const char *s = *p;
	size_t len;

	s += strspn(s, " \t,");
	if (*s == '\0')
		return 0;
	*weak = strncmp(s, "W/", 2) == 0;
	if (*weak)
		s += 2;
	len = strcspn(s, ",");
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	*tag = str_make(s, len);
	*p = s + strcspn(s, ",");
	return 1;
}

int
off_etag_match(const char *list, const char *etag, int strong)
{
	struct str tag;
	const char *p = list;
	int weak;

	if (!strong && strcmp(list + strspn(list, " \t"), "*") == 0)
		return 1;
	while (off_etag_next(&p, &tag, &weak))
		if ((!strong || !weak) && str_eq(tag, etag))
			return 1;
	return 0;
}

/* Parses the decimal digits at *<p> into <v> (at most 18 of them, so no
 * overflow); advances *<p>. Returns 0, or -1 when there are none. */
static int
off_num(const char **p, uint64_t *v)
{
	const char *s = *p;

	*v = 0;
	while (*s >= '0' && *s <= '9' && s - *p < 18)
		*v = *v * 10 + (uint64_t)(*s++ - '0');
	if (s == *p || (*s >= '0' && *s <= '9'))
		return -1;
	*p = s;
	return 0;
}

enum off_range
off_range_parse(const char *spec, uint64_t size, uint64_t *start,
    uint64_t *end)
{
	const char *p = spec;
	uint64_t a, b;

	if (strncasecmp(p, "bytes=", 6) != 0)
		return OFF_RANGE_IGNORE;
	p += 6;
	p += strspn(p, " \t");
	if (*p == '-') {
		p++;
		if (off_num(&p, &b) == -1)
			return OFF_RANGE_IGNORE;
		if (b == 0 || size == 0)
			goto unsat;
		a = b >= size ? 0 : size - b;
		b = size - 1;
	} else {
		if (off_num(&p, &a) == -1 || *p++ != '-')
			return OFF_RANGE_IGNORE;
		if (*p >= '0' && *p <= '9') {
			if (off_num(&p, &b) == -1 || b < a)
				return OFF_RANGE_IGNORE;
		} else
			b = UINT64_MAX;
		if (a >= size)
			goto unsat;
		if (b >= size)
			b = size - 1;
	}
	/* Only the first of several ranges is served (contract 4.6.2), but
	 * the rest must still look like a range list. */
	p += strspn(p, " \t");
	if (*p != '\0' && *p != ',')
		return OFF_RANGE_IGNORE;
	*start = a;
	*end = b + 1;
	return OFF_RANGE_OK;
unsat:
	p += strspn(p, " \t");
	return *p == '\0' || *p == ',' ? OFF_RANGE_UNSAT : OFF_RANGE_IGNORE;
}

/* The gateway side of an offloaded answer. */

/*
 * The X-Accel-Redirect of a backend answer that asks the gateway to serve
 * a file, or NULL: honoured only on a route with an offload root, and
 * only with a 2xx status (the backend's go-ahead).
 */
const struct fcgi_cgi_hdr *
off_find(const struct conn *c, const struct fcgi_cgi_head *h)
{
	if (c->c_r->r_route == NULL || c->c_r->r_route->rt_offload_fd == -1 ||
	    h->ch_status < 200 || h->ch_status > 299)
		return NULL;
	return fcgi_cgi_header_find(h, "X-Accel-Redirect");
}

/* Backend headers an offloaded answer replaces with the file's own. */
static int
off_header_dropped(struct str name)
{
	static const char *const drop[] = {
		"Content-Type", "Content-Length", "Content-Range", "ETag",
		"Last-Modified", "Accept-Ranges", "Location", "Status",
	};
	size_t i;

	for (i = 0; i < NITEMS(drop); i++)
		if (str_caseeq(name, drop[i]))
			return 1;
	return reply_header_dropped(name);
}

/* Whether the client's copy is current (304), RFC 7232 section 6: an
 * If-None-Match decides alone; If-Modified-Since only without it. */
static int
off_fresh(const struct conn *c, const char *etag, time_t mtime)
{
	time_t ims;

	if (c->c_r->r_a_inm != SIZE_MAX)
		return off_etag_match(conn_kept(c, c->c_r->r_a_inm), etag, 0);
	return c->c_r->r_a_ims != SIZE_MAX && off_date_parse(conn_kept(c,
	    c->c_r->r_a_ims), &ims) == 0 && mtime <= ims;
}

/*
 * The part of the file to send, into c_file_off/c_file_end. Returns 200
 * (whole file: no Range, not a GET, a stale If-Range or a malformed
 * Range), 206 or 416.
 */
static int
off_range_pick(struct conn *c, const char *etag, const struct stat *st)
{
	const char *ir;
	uint64_t a, b;
	time_t t;

	c->c_r->r_file_off = 0;
	c->c_r->r_file_end = st->st_size;
	if (c->c_r->r_a_range == SIZE_MAX || c->c_r->r_method != H1_M_GET)
		return 200;
	if (c->c_r->r_a_ifrange != SIZE_MAX) {
		ir = conn_kept(c, c->c_r->r_a_ifrange);
		if (*ir == '"' || strncmp(ir, "W/", 2) == 0) {
			if (!off_etag_match(ir, etag, 1))
				return 200;
		} else if (off_date_parse(ir, &t) == -1 || t != st->st_mtime)
			return 200;
	}
	switch (off_range_parse(conn_kept(c, c->c_r->r_a_range),
	    (uint64_t)st->st_size, &a, &b)) {
	case OFF_RANGE_OK:
		c->c_r->r_file_off = (off_t)a;
		c->c_r->r_file_end = (off_t)b;
		return 206;
	case OFF_RANGE_UNSAT:
		return 416;
	default:
		return 200;
	}
}

/* 416 with the contract's envelope and the file's size. */
static void
off_416(struct conn *c, const struct stat *st)
{
	struct buf body = BUF_INIT;

	env_error_write(&body, 416, "Requested range not satisfiable");
	reply_head_start(c, 416, reply_reason(416));
	buf_printf(&c->c_out, "Content-Type: application/json\r\n"
	    "Content-Length: %zu\r\nContent-Range: bytes */%lld\r\n"
	    "Accept-Ranges: bytes\r\n", buf_avail(&body),
	    (long long)st->st_size);
	reply_head_finish(c);
	if (!(c->c_flags & CONN_F_HEAD))
		buf_append(&c->c_out, buf_data(&body), buf_avail(&body));
	buf_release(&body);
	c->c_r->r_file_end = c->c_r->r_file_off;
}

/* The head of a 200, 206 or 304 for the open file <st>: the backend's
 * headers but those the file sets, then the file's. */
static void
off_ok(struct conn *c, const struct fcgi_cgi_head *h, int status,
    const struct stat *st, const char *etag)
{
	const struct fcgi_cgi_hdr *ct;
	char date[64];
	size_t i;

	off_date(st->st_mtime, date, sizeof(date));
	reply_head_start(c, status, reply_reason(status));
	for (i = 0; i < h->ch_nhdrs; i++)
		if (!off_header_dropped(h->ch_hdrs[i].name))
			buf_printf(&c->c_out, "%.*s: %.*s\r\n",
			    (int)h->ch_hdrs[i].name.len, h->ch_hdrs[i].name.p,
			    (int)h->ch_hdrs[i].value.len,
			    h->ch_hdrs[i].value.p);
	buf_printf(&c->c_out, "ETag: %s\r\nLast-Modified: %s\r\n", etag,
	    date);
	if (status != 304) {
		ct = fcgi_cgi_header_find(h, "Content-Type");
		buf_printf(&c->c_out, "Content-Type: %.*s\r\n"
		    "Accept-Ranges: bytes\r\nContent-Length: %lld\r\n",
		    ct != NULL ? (int)ct->value.len : 24,
		    ct != NULL ? ct->value.p : "application/octet-stream",
		    (long long)(c->c_r->r_file_end - c->c_r->r_file_off));
	}
	if (status == 206)
		buf_printf(&c->c_out, "Content-Range: bytes %lld-%lld/%lld\r\n",
		    (long long)c->c_r->r_file_off,
		    (long long)c->c_r->r_file_end - 1, (long long)st->st_size);
	reply_head_finish(c);
	if (status == 304 || (c->c_flags & CONN_F_HEAD))
		c->c_r->r_file_end = c->c_r->r_file_off;
}

/*
 * The backend named file <x> instead of answering: opens it beneath the
 * route's root and writes the head of the gateway's own answer. A refusal
 * (405, 404) is only noted in c_file_status and answered once the
 * exchange ended, so the backend connection goes back to its pool.
 */
void
off_head(struct conn *c, const struct fcgi_cgi_head *h,
    const struct fcgi_cgi_hdr *x)
{
	struct stat st;
	const char *why;
	char etag[64];
	int status;

	c->c_flags |= CONN_F_OFFLOAD;
	c->c_r->r_status = h->ch_status;
	c->c_r->r_resp_left = -1;
	c->c_r->r_resp_bytes = 0;
	if (c->c_r->r_method != H1_M_GET && c->c_r->r_method != H1_M_HEAD) {
		c->c_r->r_file_status = 405;
		return;
	}
	c->c_r->r_file_fd =
	    off_open(c->c_r->r_route->rt_offload_fd, x->value, &st, &why);
	if (c->c_r->r_file_fd == -1) {
		log_warnx("rid=%s route=%s: file \"%.*s\" refused: %s",
		    c->c_r->r_reqid, c->c_r->r_route->rt_prefix,
		    (int)(x->value.len > 256 ? 256 : x->value.len),
		    x->value.p, why);
		c->c_r->r_file_status = 404;
		return;
	}
	off_etag(&st, etag, sizeof(etag));
	status = off_fresh(c, etag, st.st_mtime) ? 304 :
	    off_range_pick(c, etag, &st);
	if (status == 416)
		off_416(c, &st);
	else
		off_ok(c, h, status, &st, etag);
}

/* The exchange of an offloaded answer ended: answer a refusal, or send
 * the file. */
void
off_start(struct conn *c)
{
	if (c->c_r->r_file_status != 0) {
		conn_fail(c, c->c_r->r_file_status,
		    c->c_r->r_file_status == 405
			? "Only GET and HEAD fetch a file"
			: "File not found");
		return;
	}
	if (c->c_r->r_file_fd != -1 &&
	    c->c_r->r_file_off < c->c_r->r_file_end) {
		c->c_deadline = util_now_ms() + gw->w_conf->gc_to.to_send;
		conn_set_state(c, CONN_ST_FILE);
		return;
	}
	conn_file_close(c);
	conn_set_state(c, CONN_ST_FLUSH);
}

/*
 * FILE state: the head first, then sendfile() while the socket takes
 * bytes, at most OFF_FILE_ROUND per loop round so the other connections
 * of the worker get their turn.
 */
enum step
off_step(struct conn *c)
{
	size_t sent = 0, want;
	ssize_t n;

	if (buf_avail(&c->c_out) > 0)
		return STEP_WAIT;
	while (c->c_r->r_file_off < c->c_r->r_file_end &&
	       (c->c_flags & CONN_F_WR)) {
		if (sent >= OFF_FILE_ROUND) {
			conn_later(c);
			return STEP_WAIT;
		}
		want = (size_t)(c->c_r->r_file_end - c->c_r->r_file_off);
		if (want > OFF_FILE_ROUND - sent)
			want = OFF_FILE_ROUND - sent;
		/* TLS: the file is read and encrypted in user space (no
		 * kernel TLS here). */
		n = c->c_ssl != NULL ? tls_sendfile(c, c->c_r->r_file_fd,
		    &c->c_r->r_file_off, want) : sendfile(c->c_fd,
		    c->c_r->r_file_fd, &c->c_r->r_file_off, want);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			c->c_flags &= ~CONN_F_WR;
			break;
		}
		if (n <= 0) {
			/* Client gone, or the file shrank under us: the
			 * announced length cannot be kept either way. */
			if (n == 0)
				log_warnx("rid=%s: offloaded file shrank",
				    c->c_r->r_reqid);
			conn_close(c);
			return STEP_DONE;
		}
		sent += (size_t)n;
		c->c_r->r_resp_bytes += (uint64_t)n;
		c->c_r->r_sent += (uint64_t)n;
		c->c_deadline = util_now_ms() + gw->w_conf->gc_to.to_send;
	}
	if (c->c_r->r_file_off < c->c_r->r_file_end)
		return STEP_WAIT;
	conn_file_close(c);
	conn_set_state(c, CONN_ST_FLUSH);
	return STEP_AGAIN;
}
