/*
 * conn: the client side of the gateway: one HTTP/1.1 connection and its
 * request/response state machine, from the head to the response's last
 * byte (the framing of what a backend answers, the request body read
 * whole or streamed, the response read at the backend's speed), retries,
 * timeouts and the lifecycle (accept, close, deferred free). What it
 * writes itself is reply.c's, CORS is cors.c's, the FastCGI params are
 * params.c's, offloaded files offload.c's and the access log alog.c's.
 *
 * States (conn_set_state):
 *	HEAD     reading and parsing a request head (keep-alive idle too)
 *	AUTH     the token needs keys that are being fetched
 *	BODY     reading the whole request body (request buffering)
 *	QUEUED   every instance of the service is at maxconn: wait in line
 *	BACKEND  exchange running: body to the backend, response to us
 *	FLUSH    response complete in c_out (and its spill file), writing it
 *	FILE     offload: head in c_out, then the file by sendfile()
 *	LINGER   closing: FIN sent, discarding input for a moment
 *	CLOSING  unregistered, freed by the before-sleep hook
 * Pipelined requests wait in c_in and are parsed once the response to the
 * previous one is flushed, so responses go out in request order. A
 * request's state lives in struct creq (c_r), which exists from a
 * complete head to the end of its response only.
 */
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "env.h"
#include "log.h"
#include "proxy.h"
#include "util.h"

#define CONN_READ_CHUNK	16384
#define CONN_ACCEPT_MAX	64	/* accepts per listener wakeup */
#define CONN_LINGER_MS	2000	/* lingering close: input discarded */
#define CONN_DRAIN_GRACE_MS 1000 /* idle keep-alive life once draining */
#define CONN_FILE_ROUND	(256 * 1024) /* offloaded bytes per loop round */

#define CONN_RATE_GRACE_MS 5000 /* body time before min-body-rate counts */

static const char *const conn_state_names[CONN_ST_COUNT] = {
	"head", "auth", "body", "queued", "backend", "flush", "file",
	"linger", "closing", "aggregate",
};

static const char *const conn_end_names[CONN_END_COUNT] = {
	"ok", "client-abort", "client-slow", "cut",
};

static struct h1_req	conn_scratch;	/* parse target for whole heads */

const char *
conn_end_str(enum conn_end e)
{
	return e < CONN_END_COUNT ? conn_end_names[e] : "?";
}

const char *
conn_state_str(enum conn_state st)
{
	return st < CONN_ST_COUNT ? conn_state_names[st] : "?";
}

void
conn_set_state(struct conn *c, enum conn_state st)
{
	/* Several times per request: skip the call unless it logs. */
	if (log_get_level() >= LOG_LVL_DEBUG)
		log_debug("%s: fd %d: %s -> %s", __func__, c->c_fd,
		    conn_state_str(c->c_state), conn_state_str(st));
	c->c_state = st;
}

static void	conn_io_cb(struct ev *, int, void *, uint32_t);
static void	conn_forward_first(struct conn *);


static void
conn_peer(struct conn *c, const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &sin->sin_addr, c->c_peer,
		    sizeof(c->c_peer));
		snprintf(c->c_peer_port, sizeof(c->c_peer_port), "%u",
		    ntohs(sin->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &sin6->sin6_addr, c->c_peer,
		    sizeof(c->c_peer));
		snprintf(c->c_peer_port, sizeof(c->c_peer_port), "%u",
		    ntohs(sin6->sin6_port));
	} else {
		snprintf(c->c_peer, sizeof(c->c_peer), "unix");
		snprintf(c->c_peer_port, sizeof(c->c_peer_port), "0");
	}
}

static void
conn_new(struct listener *l, int fd, const struct sockaddr_storage *ss)
{
	struct conn *c;
	int one = 1;

	if (ss->ss_family != AF_UNIX)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	c = xcalloc(1, sizeof(*c));
	c->c_fd = fd;
	c->c_listener = l;
	c->c_flags = CONN_F_WR;
	conn_peer(c, ss);
	if (l->l_tls != NULL && tls_conn_new(c, l->l_tls) == -1) {
		close(fd);
		free(c);
		return;
	}
	if (ev_add(&gw->w_ev, fd, conn_io_cb, c) == -1) {
		log_warn("epoll add");
		tls_conn_free(c);
		close(fd);
		free(c);
		return;
	}
	c->c_next = gw->w_conns;
	if (gw->w_conns != NULL)
		gw->w_conns->c_prev = c;
	gw->w_conns = c;
	gw->w_nconns++;
	metrics_conns(1);
	c->c_deadline = gw_now_ms() + gw->w_conf->gc_to.to_header;
	c->c_state = CONN_ST_HEAD;
}

void
conn_accept_cb(struct ev *ev, int lfd, void *arg, uint32_t events)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, i;

	(void)ev;
	(void)events;
	for (i = 0; i < CONN_ACCEPT_MAX && !gw->w_draining; i++) {
		len = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		if (gw->w_nconns >=
		    (size_t)gw->w_conf->gc_lim.lim_connections) {
			metrics_reject(METRICS_REJ_CONN_LIMIT);
			log_warnx("connection limit %lld reached, refusing",
			    (long long)gw->w_conf->gc_lim.lim_connections);
			close(fd);
			continue;
		}
		conn_new(arg, fd, &ss);
	}
}

/* Gives <c> a fresh request (its head is complete or refused). */
static void
conn_req_new(struct conn *c)
{
	struct creq *r;

	if (c->c_r != NULL)
		return;
	r = c->c_r = xcalloc(1, sizeof(*r));
	r->r_file_fd = -1;
	r->r_rf_fd = -1;
	r->r_content_length = -1;
	r->r_resp_left = -1;
	r->r_a_range = r->r_a_inm = r->r_a_ims = r->r_a_ifrange = SIZE_MAX;
	spool_init(&r->r_body);
}

/* Frees the request of <c> and all it held: buffers, the buffered body,
 * the spill file, an offloaded file, claims. The caller detached any
 * backend exchange first. */
static void
conn_req_free(struct conn *c)
{
	struct creq *r = c->c_r;

	if (r == NULL)
		return;
	agg_free(c);
	buf_release(&r->r_arena);
	buf_release(&r->r_rhead);
	buf_release(&r->r_fcgi);
	spool_release(&r->r_body);
	if (r->r_rf_fd != -1)
		close(r->r_rf_fd);
	if (r->r_file_fd != -1)
		close(r->r_file_fd);
	json_decref(r->r_claims);
	free(r);
	c->c_r = NULL;
}

/* Closes the offloaded file, if any. */
void
conn_file_close(struct conn *c)
{
	if (c->c_r == NULL)
		return;
	if (c->c_r->r_file_fd != -1)
		close(c->c_r->r_file_fd);
	c->c_r->r_file_fd = -1;
}

/*
 * A request still open when its connection closes: the client went away
 * (499 when no head had gone out, as nginx logs it) or was too slow.
 */
static void
conn_close_log(struct conn *c)
{
	if (c->c_r == NULL || c->c_r->r_t_start == 0 ||
	    (c->c_flags & CONN_F_LOGGED))
		return;
	if (c->c_r->r_end == CONN_END_OK)
		c->c_r->r_end = CONN_END_ABORT;
	if (c->c_r->r_end == CONN_END_ABORT)
		metrics_client_abort();
	if (!(c->c_flags & CONN_F_HEADSENT))
		c->c_r->r_status = 499;
	alog_write(c);
	metrics_request(c->c_r->r_route, c->c_r->r_status);
}

void
conn_close(struct conn *c)
{
	if (c->c_state == CONN_ST_CLOSING)
		return;
	conn_close_log(c);
	conn_file_close(c);
	agg_abort(c);
	if (c->c_r != NULL && c->c_r->r_be != NULL)
		be_release(c->c_r->r_be, 0);
	if (c->c_state == CONN_ST_QUEUED && c->c_r->r_route != NULL)
		up_dequeue(c->c_r->r_route->rt_svc, c);
	if (c->c_state == CONN_ST_AUTH)
		tok_unwait(c);
	ev_del(&gw->w_ev, c->c_fd);
	conn_set_state(c, CONN_ST_CLOSING);
	if (c->c_prev != NULL)
		c->c_prev->c_next = c->c_next;
	else
		gw->w_conns = c->c_next;
	if (c->c_next != NULL)
		c->c_next->c_prev = c->c_prev;
	c->c_next = c->c_prev = NULL;
	gw->w_nconns--;
	metrics_conns(-1);
	c->c_cnext = gw->w_closing;
	gw->w_closing = c;
}

void
conn_reap(void)
{
	struct conn *c;

	while ((c = gw->w_closing) != NULL) {
		gw->w_closing = c->c_cnext;
		tls_conn_free(c);
		if (c->c_fd != -1)
			close(c->c_fd);
		buf_release(&c->c_in);
		buf_release(&c->c_out);
		conn_req_free(c);
		free(c->c_req);
		free(c);
	}
}

/* Bytes of the response waiting to go out, in memory or the file. */
static int
conn_out_pending(const struct conn *c)
{
	return buf_avail(&c->c_out) > 0 || (c->c_r != NULL &&
	    c->c_r->r_rf_off < c->c_r->r_rf_len);
}

/* Sends the spilled part of a buffered response with sendfile(). Returns
 * 0, or -1 when the client is gone or the file broke. */
static int
conn_flush_file(struct conn *c)
{
	size_t sent = 0, want;
	off_t off;
	ssize_t n;

	if (c->c_r == NULL)
		return 0;
	while (
	    c->c_r->r_rf_off < c->c_r->r_rf_len && (c->c_flags & CONN_F_WR)) {
		if (sent >= CONN_FILE_ROUND) {
			conn_later(c);	/* the others get their turn */
			break;
		}
		want = (size_t)(c->c_r->r_rf_len - c->c_r->r_rf_off);
		if (want > CONN_FILE_ROUND)
			want = CONN_FILE_ROUND;
		off = (off_t)c->c_r->r_rf_off;
		n = c->c_ssl != NULL ? tls_sendfile(c, c->c_r->r_rf_fd, &off,
		    want) : sendfile(c->c_fd, c->c_r->r_rf_fd, &off, want);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			c->c_flags &= ~CONN_F_WR;
			break;
		}
		if (n <= 0)
			return -1;
		c->c_r->r_rf_off += (uint64_t)n;
		c->c_r->r_sent += (uint64_t)n;
		sent += (size_t)n;
		c->c_deadline = gw_now_ms() + gw->w_conf->gc_to.to_send;
	}
	/* Caught up: the file starts over, so it never grows beyond what
	 * the client is behind by. */
	if (c->c_r->r_rf_fd != -1 && c->c_r->r_rf_off == c->c_r->r_rf_len &&
	    c->c_r->r_rf_len > 0) {
		if (ftruncate(c->c_r->r_rf_fd, 0) == -1)
			return -1;
		c->c_r->r_rf_off = c->c_r->r_rf_len = 0;
	}
	return 0;
}

/* Writes c_out, then the spilled part. Returns 0, or -1 when the client
 * is gone. */
static int
conn_flush(struct conn *c)
{
	ssize_t n;
	/* The head of an offloaded file: the file follows at once, so let
	 * the kernel put both in full segments (like TCP_CORK). */
	int more = c->c_state == CONN_ST_FILE &&
	    c->c_r->r_file_off < c->c_r->r_file_end ? MSG_MORE : 0;

	while (buf_avail(&c->c_out) > 0 && (c->c_flags & CONN_F_WR)) {
		n = c->c_ssl != NULL ? tls_write(c, buf_data(&c->c_out),
		    buf_avail(&c->c_out)) : send(c->c_fd, buf_data(&c->c_out),
		    buf_avail(&c->c_out), MSG_NOSIGNAL | more);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				c->c_flags &= ~CONN_F_WR;
				break;
			}
			return -1;
		}
		buf_consume(&c->c_out, (size_t)n);
		if (c->c_r != NULL)
			c->c_r->r_sent += (uint64_t)n;
		c->c_deadline = gw_now_ms() + gw->w_conf->gc_to.to_send;
	}
	if (buf_avail(&c->c_out) == 0) {
		buf_reset(&c->c_out);
		if (conn_flush_file(c) == -1)
			return -1;
	}
	/* A client that takes nothing at all still gets the send timeout. */
	if (conn_out_pending(c) && !(c->c_flags & CONN_F_WR) &&
	    c->c_deadline == 0)
		c->c_deadline = gw_now_ms() + gw->w_conf->gc_to.to_send;
	return 0;
}

/*
 * Reads from the client into c_in until EAGAIN or until c_in holds <max>
 * bytes. Returns the bytes read, or -1 on EOF/error (CONN_F_EOF set).
 */
static ssize_t
conn_read(struct conn *c, size_t max)
{
	ssize_t n, total = 0;
	size_t want;

	while ((c->c_flags & CONN_F_RD) && buf_avail(&c->c_in) < max) {
		buf_compact(&c->c_in);
		want = max - buf_avail(&c->c_in);
		if (want > CONN_READ_CHUNK)
			want = CONN_READ_CHUNK;
		buf_reserve(&c->c_in, want);
		n = c->c_ssl != NULL ? tls_read(c, buf_tail(&c->c_in), want) :
		    read(c->c_fd, buf_tail(&c->c_in), want);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			c->c_flags &= ~CONN_F_RD;
			break;
		}
		if (n <= 0) {
			c->c_flags &= ~CONN_F_RD;
			c->c_flags |= CONN_F_EOF;
			return total > 0 ? total : -1;
		}
		/* A short read drained the socket: skip the EAGAIN read.
		 * Not so with TLS: a read returns one record at most. */
		if ((size_t)n < want && !(c->c_flags & CONN_F_RDHUP) &&
		    c->c_ssl == NULL)
			c->c_flags &= ~CONN_F_RD;
		buf_commit(&c->c_in, (size_t)n);
		total += n;
	}
	return total;
}

int
conn_out_room(const struct conn *c)
{
	const struct gw_buffering *bu = &gw->w_conf->gc_buf;

	if (!(c->c_flags & CONN_F_RESPBUF))
		return buf_avail(&c->c_out) < gw->w_conf->gc_lim.lim_buffer;
	/* Buffering: read as fast as the backend sends, up to the memory
	 * and then the file limit. */
	if (c->c_r->r_rf_len - c->c_r->r_rf_off > 0 || buf_avail(&c->c_out) >=
	    bu->bu_response_memory)
		return c->c_r->r_rf_len - c->c_r->r_rf_off <
		       bu->bu_max_temp_file;
	return 1;
}

/*
 * Queues response bytes for the client: in c_out, or, for a buffered
 * response beyond the memory size (or while part of it waits in the file,
 * so the order holds), at the end of the spill file. Returns 0, or -1
 * after conn_fail() when the file broke with bytes waiting in it.
 */
static int
conn_out_append(struct conn *c, const char *p, size_t len)
{
	const struct gw_buffering *bu = &gw->w_conf->gc_buf;
	ssize_t n;

	if (!(c->c_flags & CONN_F_RESPBUF) ||
	    (c->c_r->r_rf_off == c->c_r->r_rf_len &&
		buf_avail(&c->c_out) + len <= bu->bu_response_memory)) {
		buf_append(&c->c_out, p, len);
		return 0;
	}
	/*
	 * Before a byte goes to the file, what the client can take now
	 * leaves memory: a response a little larger than the memory size,
	 * to a client that reads, is never written to disk.
	 */
	if (c->c_r->r_rf_off == c->c_r->r_rf_len &&
	    (c->c_flags & CONN_F_WR) && buf_avail(&c->c_out) > 0 &&
	    conn_flush(c) == 0 &&
	    buf_avail(&c->c_out) + len <= bu->bu_response_memory) {
		buf_append(&c->c_out, p, len);
		return 0;
	}
	if (c->c_r->r_rf_fd == -1 &&
	    (c->c_r->r_rf_fd = spool_tmpfile(bu->bu_temp_dir)) == -1) {
		/* Nothing in a file yet: go on with backpressure. */
		log_warn("rid=%s: response buffer file in %s", c->c_r->r_reqid,
		    bu->bu_temp_dir);
		c->c_flags &= ~CONN_F_RESPBUF;
		buf_append(&c->c_out, p, len);
		return 0;
	}
	if (!(c->c_flags & CONN_F_RESPFILE)) {
		c->c_flags |= CONN_F_RESPFILE;
		metrics_buffered(METRICS_BUF_RESP_FILE);
	}
	while (len > 0) {
		n = pwrite(c->c_r->r_rf_fd, p, len, (off_t)c->c_r->r_rf_len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_warn(
			    "rid=%s: response buffer file", c->c_r->r_reqid);
			conn_fail(c, 502, "response buffer file failed");
			return -1;
		}
		p += n;
		len -= (size_t)n;
		c->c_r->r_rf_len += (uint64_t)n;
	}
	return 0;
}

/* Copies <s> into the request arena; returns its offset there. */
static size_t
conn_keep(struct conn *c, struct str s)
{
	size_t off = buf_avail(&c->c_r->r_arena);

	buf_append(&c->c_r->r_arena, s.p, s.len);
	buf_append(&c->c_r->r_arena, "", 1);
	return off;
}

/* A string conn_keep() stored, or "-" when the request never got that
 * far (a refused head keeps nothing). */
const char *
conn_kept(const struct conn *c, size_t off)
{
	if (off >= buf_avail(&c->c_r->r_arena) ||
	    buf_data(&c->c_r->r_arena)[off] == '\0')
		return "-";
	return buf_data(&c->c_r->r_arena) + off;
}






void
conn_fail(struct conn *c, int status, const char *why)
{
	if (c->c_state == CONN_ST_CLOSING || c->c_state == CONN_ST_LINGER)
		return;
	conn_file_close(c);
	if (c->c_r->r_be != NULL)
		be_release(c->c_r->r_be, 0);
	if (c->c_state == CONN_ST_QUEUED)
		up_dequeue(c->c_r->r_route->rt_svc, c);
	if (c->c_state == CONN_ST_AUTH)
		tok_unwait(c);
	json_decref(c->c_r->r_claims);
	c->c_r->r_claims = NULL;
	if (c->c_flags & CONN_F_PART) {
		agg_part_fail(c, status, why);
		return;
	}
	agg_abort(c);
	if (c->c_flags & CONN_F_HEADSENT) {
		/* Too late for a status: cut the response short. */
		log_warnx("rid=%s: aborting response %d: %s", c->c_r->r_reqid,
		    c->c_r->r_status, why);
		c->c_flags |= CONN_F_CLOSE;
		c->c_r->r_end = CONN_END_CUT;
		conn_set_state(c, CONN_ST_FLUSH);
		return;
	}
	reply_error(c, status, why);
}




/* Whether <s> is an acceptable client-supplied request id. */
static int
conn_reqid_ok(struct str s)
{
	size_t i;

	if (s.len == 0 || s.len > GW_REQID_MAX)
		return 0;
	for (i = 0; i < s.len; i++) {
		unsigned char ch = (unsigned char)s.p[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		    ch == '.'))
			return 0;
	}
	return 1;
}

/* Writes 8 lowercase hex digits of <v> at <p>. */
static char *
conn_hex8(char *p, uint32_t v)
{
	static const char hex[] = "0123456789abcdef";
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = hex[v & 0xf];
		v >>= 4;
	}
	return p + 8;
}

/* A fresh request id for <c>'s request: worker seed, time, sequence, as
 * 24 hex digits (what "%08x%08x%08x" would print, without printf). */
static void
conn_reqid_new(struct conn *c)
{
	char *p = c->c_r->r_reqid;

	p = conn_hex8(p, gw->w_idseed);
	p = conn_hex8(p, (uint32_t)gw_now_ms());
	p = conn_hex8(p, ++gw->w_reqseq);
	*p = '\0';
}

static void
conn_reqid(struct conn *c, const struct h1_req *req)
{
	const struct h1_header *h;

	h = h1_header_find(req, "X-Request-Id", 12);
	if (h != NULL && conn_reqid_ok(h->value)) {
		memcpy(c->c_r->r_reqid, h->value.p, h->value.len);
		c->c_r->r_reqid[h->value.len] = '\0';
		return;
	}
	conn_reqid_new(c);
}

/* Appends the X-Forwarded-For fields of <req> to <out>, joined with
 * ", " (RFC 9110 5.3). */
static void
conn_xff(const struct h1_req *req, struct buf *out)
{
	size_t i;

	for (i = 0; i < req->nheaders; i++) {
		if (req->headers[i].value.len == 0 ||
		    !str_caseeq(req->headers[i].name, "X-Forwarded-For"))
			continue;
		if (buf_avail(out) > 0)
			buf_append(out, ", ", 2);
		buf_append(out, req->headers[i].value.p,
		    req->headers[i].value.len);
	}
}

/*
 * The client and the scheme of the request: the peer and the listener's
 * unless the peer is a trusted proxy (<real-ip from>), whose
 * X-Forwarded-For names the client (realip.c) and whose
 * X-Forwarded-Proto "https" says the client used TLS to reach it.
 */
static void
conn_note_client(struct conn *c, const struct h1_req *req)
{
	const struct gw_conf *gc = gw->w_conf;
	const struct h1_header *h;
	struct buf xff = BUF_INIT;
	struct str cl, peer = str_make(c->c_peer, strlen(c->c_peer));

	c->c_r->r_scheme = c->c_ssl != NULL ? "https" : "http";
	_Static_assert(sizeof(c->c_r->r_client) == sizeof(c->c_peer),
	    "r_client holds any c_peer");
	memcpy(c->c_r->r_client, c->c_peer, sizeof(c->c_r->r_client));
	if (gc->gc_nrealip == 0 ||
	    !realip_trusted(gc->gc_realip, gc->gc_nrealip, peer))
		return;
	conn_xff(req, &xff);
	if (buf_avail(&xff) > 0) {
		cl = realip_client(gc->gc_realip, gc->gc_nrealip, peer,
		    str_make(buf_data(&xff), buf_avail(&xff)));
		snprintf(c->c_r->r_client, sizeof(c->c_r->r_client), "%.*s",
		    (int)cl.len, cl.p);
	}
	h = h1_header_find(req, "X-Forwarded-Proto", 17);
	if (h != NULL && str_caseeq(h->value, "https"))
		c->c_r->r_scheme = "https";
	buf_release(&xff);
}

/* Builds BEGIN_REQUEST and the head's PARAMS into c_fcgi (params.c). The
 * backend gets the X-Forwarded-For received with the peer appended. */
static void
conn_build_params(struct conn *c, const struct h1_req *req)
{
	const struct route *rt = c->c_r->r_route;
	struct buf xff = BUF_INIT;
	struct params_in in = {
		.pi_req = req,
		.pi_rewrite = str_make(rt->rt_rewrite, rt->rt_rewrite_len),
		.pi_prefix_len = rt->rt_prefix_len,
		.pi_peer = c->c_r->r_client,
		.pi_peer_port = strcmp(c->c_r->r_client, c->c_peer) == 0 ?
		    c->c_peer_port : "",
		.pi_server = c->c_listener->l_name,
		.pi_reqid = c->c_r->r_reqid,
		.pi_scheme = c->c_r->r_scheme,
	};

	conn_xff(req, &xff);
	if (buf_avail(&xff) > 0)
		buf_append(&xff, ", ", 2);
	buf_append(&xff, c->c_peer, strlen(c->c_peer) + 1);
	in.pi_xff = buf_data(&xff);
	buf_reset(&c->c_r->r_fcgi);
	params_build(&c->c_r->r_fcgi, &c->c_r->r_arena, &in);
	buf_release(&xff);
}

/*
 * Ends the PARAMS stream: CONTENT_LENGTH when known, the verified claims
 * (if any) as AUTH_* params, which only the gateway can set (client
 * headers arrive as HTTP_*), then the empty PARAMS record.
 */
static void
conn_finish_params(struct conn *c, json_t *claims)
{
	params_finish(&c->c_r->r_fcgi, claims, c->c_r->r_content_length);
}



void
conn_fail_unavailable(struct conn *c)
{
	char msg[256];

	c->c_r->r_retry_after = up_unavailable(c->c_r->r_route->rt_svc);
	snprintf(msg, sizeof(msg), "Service %s is unavailable",
	    c->c_r->r_route->rt_service);
	conn_fail(c, 503, msg);
}


/* Keeps what the access log and the exchange need beyond the head. */
static void
conn_note_request(struct conn *c, const struct h1_req *req)
{
	const struct h1_header *h;

	c->c_r->r_method = req->method;
	c->c_r->r_minor = req->minor;
	if (req->flags & H1_F_KEEPALIVE)
		c->c_flags |= CONN_F_KEEP;
	if (req->method == H1_M_HEAD)
		c->c_flags |= CONN_F_HEAD;
	conn_reqid(c, req);
	buf_reset(&c->c_r->r_arena);
	h = h1_header_find(req, "Origin", 6);
	if (h != NULL && h->value.len > 0) {
		c->c_flags |= CONN_F_ORIGIN;
		c->c_r->r_a_origin = conn_keep(c, h->value);
	}
	c->c_r->r_token_len = 0;
	h = h1_header_find(req, "Authorization", 13);
	if (h != NULL && h->value.len > 7 && h->value.len - 7 <= JWT_MAX_LEN &&
	    str_caseeq(str_make(h->value.p, 7), "Bearer ")) {
		c->c_r->r_a_token = conn_keep(c, str_make(h->value.p + 7,
		    h->value.len - 7));
		c->c_r->r_token_len = h->value.len - 7;
	}
	c->c_r->r_a_range = c->c_r->r_a_inm = c->c_r->r_a_ims =
	    c->c_r->r_a_ifrange = SIZE_MAX;
	c->c_r->r_file_status = 0;
	c->c_r->r_tried = 0;
	c->c_r->r_retries = 0;
	c->c_r->r_end = CONN_END_OK;
	c->c_r->r_sent = c->c_r->r_head_len = 0;
	c->c_r->r_body_sent = c->c_r->r_body_got = 0;
	c->c_r->r_content_length = -1;
	c->c_r->r_a_method = conn_keep(c, req->method_str);
	c->c_r->r_a_target = conn_keep(c, req->target);
	h = h1_header_find(req, "User-Agent", 10);
	c->c_r->r_a_ua = conn_keep(c, h != NULL ? h->value : STR_NULL);
	h = h1_header_find(req, "Referer", 7);
	c->c_r->r_a_ref = conn_keep(c, h != NULL ? h->value : STR_NULL);
	c->c_r->r_t_start = gw_now_ms();
	conn_note_client(c, req);
}

/*
 * Body framing and limits. Returns 0, or -1 after conn_fail(). A body is
 * buffered (read whole before a backend is taken) when the route says so,
 * and always when chunked: CGI needs its CONTENT_LENGTH up front.
 */
static int
conn_body_setup(struct conn *c, const struct h1_req *req)
{
	uint64_t max = c->c_r->r_route != NULL ? c->c_r->r_route->rt_max_body :
	    gw->w_conf->gc_lim.lim_max_body;

	c->c_r->r_body_left = 0;
	c->c_r->r_body_max = max;
	if (req->flags & H1_F_CHUNKED) {
		c->c_flags |= CONN_F_REQBODY;
		h1_chunk_init(
		    &c->c_r->r_chunk, max, gw->w_conf->gc_lim.lim_header_bytes);
	} else if (req->flags & H1_F_LENGTH) {
		/* Checked before reading a byte of it. */
		if (req->content_length > max) {
			conn_fail(c, 413, "Request body too large");
			return -1;
		}
		c->c_r->r_body_left = req->content_length;
		c->c_r->r_content_length = (int64_t)req->content_length;
	}
	if (c->c_r->r_body_left == 0 && !(c->c_flags & CONN_F_REQBODY)) {
		c->c_flags |= CONN_F_BODYDONE | CONN_F_BODYREAD;
		return 0;
	}
	if ((req->flags & H1_F_CONTINUE))
		c->c_flags |= CONN_F_CONTINUE;
	if ((c->c_flags & CONN_F_REQBODY) || (c->c_r->r_route != NULL &&
	    c->c_r->r_route->rt_req_buffering))
		c->c_flags |= CONN_F_BUFFERED;
	return 0;
}

/* Whether the token's roles include one of the route's (comma list). */
static int
conn_roles_ok(const struct route *rt, json_t *claims)
{
	const char *p = rt->rt_auth;
	char role[64];
	size_t len;

	while (*p != '\0') {
		len = strcspn(p, ",");
		if (len > 0 && len < sizeof(role)) {
			memcpy(role, p, len);
			role[len] = '\0';
			if (jwt_has_role(claims, role))
				return 1;
		}
		p += len + (p[len] == ',');
	}
	return 0;
}

/* 401 with the WWW-Authenticate header of RFC 6750. */
static void
conn_fail_401(struct conn *c, enum jwt_err err)
{
	static char hdr[256];

	if (err == JWT_OK) {
		c->c_r->r_www_auth = "Bearer";
		conn_fail(c, 401, "Missing access token");
		return;
	}
	snprintf(hdr, sizeof(hdr), "Bearer error=\"invalid_token\", "
	    "error_description=\"%s\"", jwt_err_str(err));
	c->c_r->r_www_auth = hdr;
	conn_fail(c, 401, jwt_err_str(err));
}

/*
 * Applies the route's token policy (contract 2.5, 2.6): a public route
 * passes a valid token's claims on and ignores a bad token; a protected
 * one answers 401 without a valid token and 403 without a required role.
 * A token that cannot be checked (no keys to be had) gets 503 with
 * Retry-After on every route: neither 401 nor anonymous.
 */
static void
conn_auth(struct conn *c)
{
	const struct route *rt = c->c_r->r_route;
	json_t *claims = NULL;
	enum jwt_err err = JWT_OK;
	enum tok_res r = TOK_INVALID;

	if (c->c_r->r_token_len > 0) {
		r = tok_verify(c, str_make(conn_kept(c, c->c_r->r_a_token),
		    c->c_r->r_token_len), &claims, &err);
		if (r == TOK_WAIT) {
			conn_set_state(c, CONN_ST_AUTH);
			c->c_deadline = gw_now_ms() +
			    gw->w_conf->gc_auth.au_timeout + 500;
			return;
		}
		if (r == TOK_UNAVAILABLE) {
			c->c_r->r_retry_after = tok_retry_after();
			conn_fail(c, 503, "Identity provider keys unavailable");
			return;
		}
	}
	if ((rt != NULL ? rt->rt_auth_kind : agg_auth_kind(c)) !=
	    ROUTE_AUTH_PUBLIC && r != TOK_VALID) {
		conn_fail_401(c, err);
		return;
	}
	if (rt == NULL) {
		/* An aggregate (agg.c): its parts get the claims. */
		c->c_r->r_claims = r == TOK_VALID ? claims : NULL;
		if (r != TOK_VALID)
			json_decref(claims);
		agg_start(c);
		return;
	}
	if (rt->rt_auth_kind == ROUTE_AUTH_ROLES && !conn_roles_ok(rt,
	    claims)) {
		json_decref(claims);
		conn_fail(c, 403, "Access Denied");
		return;
	}
	c->c_r->r_claims = r == TOK_VALID ? claims : NULL;
	if (r != TOK_VALID)
		json_decref(claims);
	if (c->c_flags & CONN_F_BODYREAD || !(c->c_flags & CONN_F_BUFFERED)) {
		conn_forward_first(c);
		return;
	}
	/* The token was good: now the body, whole, before a backend. */
	conn_set_state(c, CONN_ST_BODY);
	c->c_r->r_t_body = gw_now_ms();
	c->c_deadline = c->c_r->r_t_body + gw->w_conf->gc_to.to_body_idle;
	if (c->c_flags & CONN_F_CONTINUE) {
		conn_out_append(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
		c->c_flags &= ~CONN_F_CONTINUE;
	}
}

/* The request is complete as far as the gateway needs it: finish the
 * params (the claims, the body's length) and send it on. */
static void
conn_forward_first(struct conn *c)
{
	conn_finish_params(c, c->c_r->r_claims);
	json_decref(c->c_r->r_claims);
	c->c_r->r_claims = NULL;
	conn_forward(c);
}

/*
 * Moves body bytes from c_in into the spool: Content-Length bytes as they
 * are, chunked ones decoded. Returns 0, or -1 after conn_fail(). Sets
 * CONN_F_BODYREAD once the body is whole.
 */
static int
conn_body_take(struct conn *c)
{
	const struct gw_buffering *bu = &gw->w_conf->gc_buf;
	struct str data;
	ssize_t n;

	while (buf_avail(&c->c_in) > 0 && !(c->c_flags & CONN_F_BODYREAD)) {
		if (c->c_flags & CONN_F_REQBODY) {
			n = h1_chunk_decode(&c->c_r->r_chunk,
			    buf_data(&c->c_in), buf_avail(&c->c_in), &data);
			if (n == H1_BAD) {
				conn_fail(c, c->c_r->r_chunk.ch_status,
				    c->c_r->r_chunk.ch_status == 413 ?
				    "Request body too large" :
				    "Invalid chunked request body");
				return -1;
			}
			if (n == 0)
				break;
		} else {
			data = str_make(buf_data(&c->c_in),
			    buf_avail(&c->c_in) > c->c_r->r_body_left
				? (size_t)c->c_r->r_body_left
				: buf_avail(&c->c_in));
			n = (ssize_t)data.len;
			c->c_r->r_body_left -= data.len;
		}
		if (data.len > 0 &&
		    spool_append(&c->c_r->r_body, data.p, data.len,
			bu->bu_request_memory, bu->bu_temp_dir) == -1) {
			log_warn("rid=%s: request body file in %s",
			    c->c_r->r_reqid, bu->bu_temp_dir);
			conn_fail(c, 500, "The gateway could not store the "
			    "request body");
			return -1;
		}
		buf_consume(&c->c_in, (size_t)n);
		c->c_r->r_body_got += data.len;
		c->c_deadline = gw_now_ms() + gw->w_conf->gc_to.to_body_idle;
		if ((c->c_flags & CONN_F_REQBODY)
			? h1_chunk_done(&c->c_r->r_chunk)
			: c->c_r->r_body_left == 0)
			c->c_flags |= CONN_F_BODYREAD;
	}
	if (c->c_flags & CONN_F_BODYREAD) {
		c->c_r->r_content_length = (int64_t)c->c_r->r_body.sp_len;
		metrics_buffered(spool_in_file(&c->c_r->r_body) ?
		    METRICS_BUF_REQ_FILE : METRICS_BUF_REQ_MEMORY);
	}
	return 0;
}

/* BODY state: read until the body is whole, then go to a backend. */
static enum step
conn_step_body(struct conn *c)
{
	for (;;) {
		if (conn_body_take(c) == -1)
			return STEP_AGAIN;
		if (c->c_flags & CONN_F_BODYREAD) {
			c->c_deadline = 0;
			conn_forward_first(c);
			return STEP_AGAIN;
		}
		if (c->c_flags & CONN_F_EOF) {
			conn_fail(c, 400, "Client closed before sending the "
			    "whole request body");
			return STEP_AGAIN;
		}
		if (!(c->c_flags & CONN_F_RD) || conn_read(c,
		    gw->w_conf->gc_lim.lim_buffer) <= 0)
			break;
	}
	return (c->c_flags & CONN_F_EOF) ? STEP_AGAIN : STEP_WAIT;
}

void
conn_auth_resume(struct conn *c)
{
	if (c->c_state != CONN_ST_AUTH)
		return;
	conn_auth(c);
	conn_run(c);
}

/* Keeps the headers an offloaded file answer needs (the views into c_in
 * do not live that long). */
static void
conn_keep_validators(struct conn *c, const struct h1_req *req)
{
	const struct h1_header *h;

	if ((h = h1_header_find(req, "Range", 5)) != NULL)
		c->c_r->r_a_range = conn_keep(c, h->value);
	if ((h = h1_header_find(req, "If-None-Match", 13)) != NULL)
		c->c_r->r_a_inm = conn_keep(c, h->value);
	if ((h = h1_header_find(req, "If-Modified-Since", 17)) != NULL)
		c->c_r->r_a_ims = conn_keep(c, h->value);
	if ((h = h1_header_find(req, "If-Range", 8)) != NULL)
		c->c_r->r_a_ifrange = conn_keep(c, h->value);
}

/*
 * The route's rate limits (rl.c), keyed by the client address after the
 * trusted proxies: checked before the token, the body and a backend
 * connection. Returns 1 after answering 429 with Retry-After.
 */
static int
conn_rate_limited(struct conn *c, const struct h1_req *req)
{
	const char *zone = NULL;
	uint32_t wait;

	if (c->c_r->r_route->rt_nlimits == 0)
		return 0;
	wait = rl_check(c->c_r->r_route, req->method, req->path,
	    c->c_r->r_client, &zone);
	if (wait == 0)
		return 0;
	c->c_r->r_limited = zone;
	c->c_r->r_retry_after = wait;
	conn_fail(c, 429, "Too many requests, try again later");
	return 1;
}

/* A complete head is parsed: route it and start the exchange. */
static void
conn_request(struct conn *c, const struct h1_req *req)
{
	char msg[256];

	conn_note_request(c, req);
	if (!h1_absolute_ok(req,
	    (const char *const *)c->c_listener->l_hosts)) {
		conn_fail(c, 400, "Absolute request target names another host");
		return;
	}
	c->c_r->r_route =
	    route_find(gw->w_conf, c->c_listener->l_idx, req->path);
	if (c->c_r->r_route != NULL && c->c_r->r_route->rt_offload_fd != -1)
		conn_keep_validators(c, req);
	if (c->c_r->r_route != NULL && c->c_r->r_route->rt_resp_buffering)
		c->c_flags |= CONN_F_RESPBUF;
	cors_decide(c);
	if (cors_preflight(c, req) || reply_admin(c, req))
		return;
	if (conn_body_setup(c, req) == -1)
		return;
	if (c->c_listener->l_redirect != 0) {
		reply_redirect(c, req);
		return;
	}
	if (c->c_r->r_route == NULL) {
		switch (agg_request(c, req)) {
		case 1:
			conn_auth(c);
			return;
		case 0:
			return;
		}
		snprintf(msg, sizeof(msg), "No endpoint %s %.*s",
		    h1_method_str(req->method), (int)(req->path.len > 200 ?
		    200 : req->path.len), req->path.p);
		conn_fail(c, 404, msg);
		return;
	}
	if (conn_rate_limited(c, req))
		return;
	conn_build_params(c, req);
	conn_auth(c);
}

/* Waits for a backend slot; 503 with Retry-After when the queue is full. */
static void
conn_queue(struct conn *c)
{
	conn_set_state(c, CONN_ST_QUEUED);
	c->c_deadline = gw_now_ms() + gw->w_conf->gc_to.to_queue;
	if (up_enqueue(c->c_r->r_route->rt_svc, c) == 0)
		return;
	c->c_r->r_retry_after = 1;
	conn_fail(c, 503, "Too many requests waiting for this service");
}

/* Picks an instance (not one that failed this request, if others are
 * usable) and starts the exchange, or queues, or answers 503. */
void
conn_forward(struct conn *c)
{
	int busy;

	c->c_r->r_ins =
	    up_pick(c->c_r->r_route->rt_svc, c->c_r->r_tried, &busy);
	if (c->c_r->r_ins == NULL && busy) {
		conn_queue(c);
		return;
	}
	if (c->c_r->r_ins == NULL) {
		conn_fail_unavailable(c);
		return;
	}
	conn_dispatch(c);
}

void
conn_dispatch(struct conn *c)
{
	conn_set_state(c, CONN_ST_BACKEND);
	c->c_deadline = 0;
	if (c->c_flags & CONN_F_CONTINUE) {
		conn_out_append(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
		c->c_flags &= ~CONN_F_CONTINUE;
	}
	switch (be_start(c, c->c_r->r_ins)) {
	case 0:
		return;
	case BE_BUSY:
		/* Another worker took the last slot: wait in line. */
		conn_queue(c);
		return;
	}
	if (conn_can_retry(c, METRICS_RETRY_CONNECT)) {
		conn_retry(c, c->c_r->r_ins, METRICS_RETRY_CONNECT);
		return;
	}
	conn_fail_unavailable(c);
}

int
conn_can_retry(const struct conn *c, enum metrics_retry why)
{
	if (c->c_flags & CONN_F_HEADSENT || c->c_r->r_route == NULL ||
	    c->c_r->r_retries >= c->c_r->r_route->rt_retries)
		return 0;
	/* A streamed body cannot be sent twice once bytes of it left. */
	if (!(c->c_flags & CONN_F_BUFFERED) && (c->c_flags & CONN_F_PUMPED))
		return 0;
	/* The backend may have acted on a request it read: only a safe
	 * method may go again then (RFC 9110 9.2.1). */
	if (why == METRICS_RETRY_RESET)
		return c->c_r->r_method == H1_M_GET ||
		       c->c_r->r_method == H1_M_HEAD ||
		       c->c_r->r_method == H1_M_OPTIONS;
	return 1;
}

void
conn_retry(struct conn *c, struct instance *failed, enum metrics_retry why)
{
	struct service *svc = c->c_r->r_route->rt_svc;

	c->c_r->r_retries++;
	if (failed != NULL)
		c->c_r->r_tried |= (uint64_t)1 << failed->ins_sidx;
	metrics_retry(svc, why);
	log_info("rid=%s: %s failed (%s), trying again (%d of %lld)",
	    c->c_r->r_reqid, failed != NULL ? failed->ins_name : svc->svc_name,
	    metrics_retry_str(why), c->c_r->r_retries,
	    (long long)c->c_r->r_route->rt_retries);
	c->c_r->r_body_sent = 0;
	if (c->c_flags & CONN_F_BUFFERED)
		c->c_flags &= ~CONN_F_BODYDONE;
	c->c_flags &= ~CONN_F_SENT_BE;
	c->c_r->r_ins = NULL;
	conn_forward(c);
}

/* Moves Content-Length body bytes from c_in to the backend. */
static void
conn_pump_length(struct conn *c, struct bconn *b)
{
	size_t n;

	while (c->c_r->r_body_left > 0 && buf_avail(&c->c_in) > 0 &&
	    be_out_room(b)) {
		n = buf_avail(&c->c_in);
		if (n > c->c_r->r_body_left)
			n = (size_t)c->c_r->r_body_left;
		if (n > FCGI_MAX_CONTENT)
			n = FCGI_MAX_CONTENT;
		be_put_stdin(b, buf_data(&c->c_in), n);
		buf_consume(&c->c_in, n);
		c->c_r->r_body_left -= n;
		c->c_r->r_body_got += n;
		c->c_flags |= CONN_F_PUMPED;
	}
	if (c->c_r->r_body_left == 0) {
		be_end_stdin(b);
		c->c_flags |= CONN_F_BODYDONE | CONN_F_BODYREAD;
	}
}

/* Sends the buffered body from the replay cursor as STDIN records, as
 * far as the backend buffer takes them. */
static void
conn_pump_spool(struct conn *c, struct bconn *b)
{
	static char tmp[FCGI_MAX_CONTENT];
	const char *view;
	ssize_t n;

	while (c->c_r->r_body_sent < c->c_r->r_body.sp_len && be_out_room(b)) {
		n = spool_read(&c->c_r->r_body, c->c_r->r_body_sent, tmp,
		    sizeof(tmp), &view);
		if (n <= 0) {
			log_warn(
			    "rid=%s: buffered request body", c->c_r->r_reqid);
			conn_fail(c, 500, "The gateway could not read back the "
			    "request body");
			return;
		}
		be_put_stdin(b, view, (size_t)n);
		c->c_r->r_body_sent += (uint64_t)n;
	}
	if (c->c_r->r_body_sent == c->c_r->r_body.sp_len) {
		be_end_stdin(b);
		c->c_flags |= CONN_F_BODYDONE;
	}
}

void
conn_pump_body(struct conn *c)
{
	struct bconn *b = c->c_r->r_be;
	size_t want;
	int got;

	if (b == NULL)
		return;
	if (c->c_flags & CONN_F_BUFFERED) {
		if (!(c->c_flags & CONN_F_BODYDONE))
			conn_pump_spool(c, b);
		return;
	}
	got = c->c_deadline == 0;	/* first pump: start the clock */
	if (c->c_r->r_t_body == 0)
		c->c_r->r_t_body = gw_now_ms();
	while (!(c->c_flags & CONN_F_BODYDONE) && be_out_room(b)) {
		conn_pump_length(c, b);
		if (c->c_flags & CONN_F_BODYDONE)
			break;
		/* Need more body bytes from the client. */
		want = gw->w_conf->gc_lim.lim_buffer;
		if (!(c->c_flags & CONN_F_RD) || conn_read(c, want) <= 0)
			break;
		got = 1;
	}
	if (c->c_flags & CONN_F_BODYDONE)
		be_end_stdin(b);	/* once; bodiless requests too */
	if (!(c->c_flags & CONN_F_BODYDONE)) {
		if (c->c_flags & CONN_F_EOF)
			conn_fail(c, 400, "Client closed before sending the "
			    "whole request body");
		else if (got)	/* idle time counts from the last byte */
			c->c_deadline = gw_now_ms() +
			    gw->w_conf->gc_to.to_body_idle;
	} else if (!conn_out_pending(c))
		c->c_deadline = 0;
}













/* Appends the header field "<name>: <value>" to <c>'s response head. */
static void
conn_head_field(struct conn *c, struct str name, struct str value)
{
	buf_reserve(&c->c_out, name.len + value.len + 4);
	buf_append(&c->c_out, name.p, name.len);
	buf_append(&c->c_out, ": ", 2);
	buf_append(&c->c_out, value.p, value.len);
	buf_append(&c->c_out, "\r\n", 2);
}

int
conn_resp_head(struct conn *c, const struct fcgi_cgi_head *h)
{
	const struct fcgi_cgi_hdr *x;
	size_t i;

	if (c->c_flags & CONN_F_PART)
		return agg_part_head(c, h);
	if ((x = off_find(c, h)) != NULL) {
		off_head(c, h, x);
		return 0;
	}
	reply_head_start(c, h->ch_status, h->ch_reason.len > 0 ?
	    h->ch_reason : reply_reason(h->ch_status));
	for (i = 0; i < h->ch_nhdrs; i++)
		if (!reply_header_dropped(h->ch_hdrs[i].name) &&
		    !reply_hsts_dropped(c, h->ch_hdrs[i].name))
			conn_head_field(c, h->ch_hdrs[i].name,
			    h->ch_hdrs[i].value);
	if (h->ch_location.len > 0)
		conn_head_field(c, str_make("Location", 8), h->ch_location);
	c->c_r->r_resp_left = h->ch_content_length;
	c->c_r->r_resp_bytes = 0;
	if (h->ch_content_length >= 0) {
		buf_append(&c->c_out, "Content-Length: ", 16);
		buf_append_u64(&c->c_out, (uint64_t)h->ch_content_length);
		buf_append(&c->c_out, "\r\n", 2);
	}
	else if (!reply_bodiless(c, h->ch_status)) {
		if (c->c_r->r_minor >= 1) {
			c->c_flags |= CONN_F_CHUNKED;
			buf_append_str(&c->c_out,
			    "Transfer-Encoding: chunked\r\n");
		} else
			c->c_flags |= CONN_F_EOFBODY | CONN_F_CLOSE;
	}
	if (!(c->c_flags & CONN_F_BODYREAD))
		c->c_flags |= CONN_F_CLOSE;	/* body left unread */
	cors_headers(c);
	reply_connection(c);
	buf_append(&c->c_out, "\r\n", 2);
	reply_head_done(c);
	/* Not flushed here: head and body go out in one write when the
	 * backend read is done (conn_run). */
	return 0;
}

int
conn_resp_body(struct conn *c, const char *p, size_t len)
{
	char size[24];
	int n;

	if (c->c_flags & CONN_F_PART)
		return agg_part_body(c, p, len);
	if (len == 0 || reply_bodiless(c, c->c_r->r_status) ||
	    (c->c_flags & CONN_F_OFFLOAD))
		return 0;
	if (c->c_r->r_resp_left >= 0) {
		if ((int64_t)len > c->c_r->r_resp_left) {
			/* More than the backend announced: framing broke. */
			log_warnx("rid=%s: backend sent more than its "
			    "Content-Length", c->c_r->r_reqid);
			len = (size_t)c->c_r->r_resp_left;
			c->c_flags |= CONN_F_CLOSE;
		}
		c->c_r->r_resp_left -= (int64_t)len;
	}
	if (c->c_flags & CONN_F_CHUNKED) {
		n = snprintf(size, sizeof(size), "%zx\r\n", len);
		if (conn_out_append(c, size, (size_t)n) == -1)
			return -1;
	}
	if (conn_out_append(c, p, len) == -1)
		return -1;
	if ((c->c_flags & CONN_F_CHUNKED) && conn_out_append(c, "\r\n", 2) ==
	    -1)
		return -1;
	c->c_r->r_resp_bytes += len;
	return 0;
}

void
conn_resp_done(struct conn *c, int ok)
{
	struct bconn *b = c->c_r->r_be;

	if (c->c_flags & CONN_F_PART) {
		if (b != NULL)
			be_release(b, ok);
		agg_part_done(c, ok);
		return;
	}
	if ((c->c_flags & CONN_F_CHUNKED) && conn_out_append(c, "0\r\n\r\n",
	    5) == -1)
		return;
	if (c->c_r->r_resp_left > 0 && !reply_bodiless(c, c->c_r->r_status)) {
		log_warnx("rid=%s: backend response shorter than its "
		    "Content-Length", c->c_r->r_reqid);
		c->c_flags |= CONN_F_CLOSE;
		c->c_r->r_end = CONN_END_CUT;
	}
	if (!(c->c_flags & CONN_F_BODYREAD))
		c->c_flags |= CONN_F_CLOSE;
	if (b != NULL)
		be_release(b, ok);
	if (c->c_flags & CONN_F_OFFLOAD) {
		off_start(c);
		return;
	}
	conn_set_state(c, CONN_ST_FLUSH);
}



/* The response is flushed: log it, then close or await the next one. */
static void
conn_request_end(struct conn *c)
{
	alog_write(c);
	metrics_request(c->c_r->r_route, c->c_r->r_status);
	conn_req_free(c);
	gw->w_last_end = gw_now_ms();
	gw->w_trim_due = 1;
	if (c->c_flags & CONN_F_CLOSE) {
		/* Lingering close: send the FIN but keep reading for a
		 * moment, so unread request bytes do not make the kernel
		 * reset the connection before the client read our answer. */
		tls_shutdown(c);
		(void)shutdown(c->c_fd, SHUT_WR);
		buf_reset(&c->c_in);
		c->c_deadline = gw_now_ms() + CONN_LINGER_MS;
		conn_set_state(c, CONN_ST_LINGER);
		return;
	}
	c->c_flags &= CONN_F_RD | CONN_F_WR | CONN_F_EOF;
	/* Idle keep-alive: hold no buffer (nginx frees its request pool
	 * the same way), so an idle connection costs its struct alone. */
	buf_release(&c->c_out);
	if (buf_avail(&c->c_in) == 0)
		buf_release(&c->c_in);
	else
		buf_compact(&c->c_in);
	c->c_deadline = gw_now_ms() + (buf_avail(&c->c_in) > 0 ?
	    gw->w_conf->gc_to.to_header : gw->w_conf->gc_to.to_keepalive);
	/* Draining, yet the head promised keep-alive (it went out before
	 * the drain began): the client may already be sending its next
	 * request, which is answered with "Connection: close". */
	if (gw->w_draining && buf_avail(&c->c_in) == 0)
		c->c_deadline = gw_now_ms() + CONN_DRAIN_GRACE_MS;
	conn_set_state(c, CONN_ST_HEAD);
}

static void
conn_limits(struct h1_limits *lim)
{
	const struct gw_limits *gl = &gw->w_conf->gc_lim;

	memset(lim, 0, sizeof(*lim));
	lim->lim_target = gl->lim_target;
	lim->lim_field = gl->lim_header_bytes;
	lim->lim_head = gl->lim_header_bytes;
	lim->lim_headers = (size_t)gl->lim_headers;
}

/* Fails a request whose head was never parsed: answer as HTTP/1.1 with a
 * fresh request id, and close. */
static void
conn_fail_head(struct conn *c, int status, const char *why)
{
	conn_req_new(c);
	c->c_r->r_minor = 1;
	buf_reset(&c->c_r->r_arena);
	conn_reqid_new(c);
	c->c_r->r_t_start = gw_now_ms();
	c->c_flags |= CONN_F_CLOSE;
	conn_fail(c, status, why);
}

/* HEAD state: read and parse. Returns STEP_AGAIN when a request started. */
static enum step
conn_step_head(struct conn *c)
{
	struct h1_limits lim;
	struct h1_req *req;
	ssize_t n;
	int status;

	if (buf_avail(&c->c_in) == 0 && conn_read(c,
	    gw->w_conf->gc_lim.lim_header_bytes + 1) == -1) {
		conn_close(c);		/* closed between requests */
		return STEP_DONE;
	}
	if (buf_avail(&c->c_in) == 0)
		return STEP_WAIT;
	conn_limits(&lim);
	req = c->c_req;
	if (req == NULL) {
		req = &conn_scratch;
		h1_req_init(req);
	}
	n = h1_parse_head(buf_data(&c->c_in), buf_avail(&c->c_in), &lim, req,
	    &status);
	if (n == H1_AGAIN) {
		if (c->c_req == NULL) {
			/* Partial head: keep the parse state per connection
			 * so the next bytes resume it. */
			c->c_req = xmalloc(sizeof(*c->c_req));
			memcpy(c->c_req, req, sizeof(*req));
		}
		c->c_deadline = c->c_deadline ? c->c_deadline : gw_now_ms() +
		    gw->w_conf->gc_to.to_header;
		if (c->c_flags & CONN_F_EOF) {
			conn_close(c);
			return STEP_DONE;
		}
		if ((c->c_flags & CONN_F_RD) && conn_read(c,
		    gw->w_conf->gc_lim.lim_header_bytes + 1) > 0)
			return STEP_AGAIN;
		return STEP_WAIT;
	}
	if (n == H1_BAD) {
		conn_fail_head(c, status, reply_h1_reason(status));
		return STEP_AGAIN;
	}
	/* Consume the head first: the exchange may start pumping the body
	 * from c_in at once. The views in <req> stay valid until the next
	 * read into c_in, which only the body pump does, after the params
	 * are built. */
	buf_consume(&c->c_in, (size_t)n);
	conn_req_new(c);
	conn_request(c, req);
	free(c->c_req);
	c->c_req = NULL;
	return STEP_AGAIN;
}


/* One step of the state machine. */
static enum step
conn_step(struct conn *c)
{
	if (conn_flush(c) == -1) {
		conn_close(c);
		return STEP_DONE;
	}
	switch (c->c_state) {
	case CONN_ST_HEAD:
		return conn_step_head(c);
	case CONN_ST_QUEUED:
		if (c->c_flags & CONN_F_DISPATCH) {
			c->c_flags &= ~CONN_F_DISPATCH;
			conn_dispatch(c);
			return STEP_AGAIN;
		}
		return STEP_WAIT;
	case CONN_ST_AUTH:
	case CONN_ST_AGG:
		return STEP_WAIT;
	case CONN_ST_BODY:
		return conn_step_body(c);
	case CONN_ST_BACKEND:
		/* More body from the client, or room for the response. */
		if (c->c_r->r_be != NULL)
			be_pump(c->c_r->r_be);
		if (c->c_state != CONN_ST_BACKEND)
			return STEP_AGAIN;
		/* The pump refilled c_out and the client can take it: go
		 * round again rather than wait for an edge that may not come.
		 */
		return (c->c_flags & CONN_F_WR) && conn_out_pending(c) ?
		    STEP_AGAIN : STEP_WAIT;
	case CONN_ST_FILE:
		return off_step(c);
	case CONN_ST_FLUSH:
		if (conn_out_pending(c))
			return STEP_WAIT;
		conn_request_end(c);
		return c->c_state == CONN_ST_CLOSING ? STEP_DONE : STEP_AGAIN;
	case CONN_ST_LINGER:
		while (conn_read(c, CONN_READ_CHUNK) > 0)
			buf_reset(&c->c_in);
		if (c->c_flags & CONN_F_EOF) {
			conn_close(c);
			return STEP_DONE;
		}
		return STEP_WAIT;
	default:
		return STEP_DONE;
	}
}

void
conn_run(struct conn *c)
{
	enum step st;
	int rounds = 0;

	if (c->c_flags & CONN_F_PART) {
		agg_part_run(c);
		return;
	}
	/* Bounded, so one connection pipelining many requests cannot
	 * starve the others on this worker. */
	do {
		st = conn_step(c);
	} while (st == STEP_AGAIN && ++rounds < 64);
	if (st == STEP_AGAIN && c->c_state != CONN_ST_CLOSING)
		conn_later(c);
}

/*
 * Whether the client closed while its request waits for keys, a slot or
 * a backend, when nothing reads its socket: a FIN with no bytes left
 * before it (as nginx, which logs 499) or an error. The backend exchange
 * is then abandoned, never counted against the instance.
 */
static int
conn_gone(struct conn *c)
{
	char byte;
	ssize_t n;

	if (c->c_state != CONN_ST_AUTH && c->c_state != CONN_ST_QUEUED &&
	    c->c_state != CONN_ST_AGG &&
	    !(c->c_state == CONN_ST_BACKEND && (c->c_flags & CONN_F_BODYREAD)))
		return 0;
	n = recv(c->c_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR);
}

static void
conn_io_cb(struct ev *ev, int fd, void *arg, uint32_t events)
{
	struct conn *c = arg;

	(void)ev;
	(void)fd;
	if (c->c_ssl != NULL)
		events = tls_events(c, events);
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->c_flags |= CONN_F_RD;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		c->c_flags |= CONN_F_WR;
	if (events & EPOLLRDHUP)
		c->c_flags |= CONN_F_RDHUP;
	if ((events & (EPOLLHUP | EPOLLERR)) && c->c_state != CONN_ST_BACKEND)
		c->c_flags |= CONN_F_EOF;
	if ((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && conn_gone(c)) {
		conn_close(c);	/* logged 499 when no head went out */
		return;
	}
	conn_run(c);
}

/* A deadline passed: what it means depends on the state. */
static void
conn_timeout(struct conn *c, uint64_t now)
{
	switch (c->c_state) {
	case CONN_ST_HEAD:
		if (buf_avail(&c->c_in) == 0 && c->c_req == NULL)
			conn_close(c);	/* idle keep-alive: silently */
		else
			conn_fail_head(c, 408,
			    "Request head not received in time");
		break;
	case CONN_ST_AUTH:
		c->c_r->r_retry_after = tok_retry_after();
		conn_fail(c, 503, "Identity provider keys unavailable");
		break;
	case CONN_ST_QUEUED:
		metrics_reject(METRICS_REJ_QUEUE_TIMEOUT);
		c->c_r->r_retry_after = 1;
		conn_fail(c, 503, "No free backend connection in time");
		break;
	case CONN_ST_BODY:
		conn_fail(c, 408, "Request body not received in time");
		break;
	case CONN_ST_BACKEND:
		if (!(c->c_flags & CONN_F_BODYREAD)) {
			conn_fail(c, 408, "Request body not received in time");
			break;
		}
		if (!conn_out_pending(c)) {
			c->c_deadline = 0;	/* the backend's clock runs */
			return;
		}
		/* FALLTHROUGH */
	default:
		/* The client, not the backend, is at fault: no breaker
		 * failure, and the log says so. */
		log_info("rid=%s: client %s too slow reading the response, "
		    "closing", c->c_r->r_reqid, c->c_peer);
		c->c_r->r_end = CONN_END_SLOW;
		conn_close(c);
		return;
	case CONN_ST_LINGER:
		conn_close(c);
		return;
	}
	(void)now;
	if (c->c_state != CONN_ST_CLOSING)
		conn_run(c);
}

/*
 * Whether a request body arrives slower than the route's min-body-rate,
 * averaged since its start, once CONN_RATE_GRACE_MS have passed (Apache
 * mod_reqtimeout's MinRate): a trickle that beats body-idle byte by byte
 * still ends.
 */
static int
conn_body_too_slow(const struct conn *c, uint64_t now)
{
	uint64_t rate, ms;

	if (c->c_r == NULL || c->c_r->r_route == NULL ||
	    c->c_r->r_route->rt_min_body_rate == 0 ||
	    c->c_r->r_t_body == 0 || (c->c_flags & CONN_F_BODYREAD) ||
	    (c->c_state != CONN_ST_BODY && c->c_state != CONN_ST_BACKEND))
		return 0;
	if ((ms = now - c->c_r->r_t_body) < CONN_RATE_GRACE_MS)
		return 0;
	rate = c->c_r->r_body_got * 1000 / ms;
	return rate < c->c_r->r_route->rt_min_body_rate;
}

void
conn_sweep(uint64_t now)
{
	struct conn *c, *next;

	for (c = gw->w_conns; c != NULL; c = next) {
		next = c->c_next;
		if (c->c_r != NULL && c->c_r->r_be != NULL)
			be_check_timeout(c->c_r->r_be, now);
		if (c->c_state == CONN_ST_AGG)
			agg_sweep(c, now);
		if (c->c_state == CONN_ST_CLOSING)
			continue;
		if (conn_body_too_slow(c, now)) {
			conn_fail(c, 408, "Request body arrives too slowly");
			if (c->c_state != CONN_ST_CLOSING)
				conn_run(c);
			continue;
		}
		if (c->c_deadline != 0 && now >= c->c_deadline)
			conn_timeout(c, now);
		else if (c->c_state == CONN_ST_FLUSH || (c->c_r != NULL &&
		    c->c_r->r_be != NULL))
			conn_run(c);
	}
}

static void
conn_later_cb(struct ev *ev, void *arg)
{
	(void)ev;
	(void)arg;	/* conn_run_later() does the work before sleeping */
}

/* Connections with work left after a bounded run: resumed in the
 * before-sleep hook, after the other ready connections had their turn. */
void
conn_later(struct conn *c)
{
	static struct ev_timer now;

	if (c->c_flags & CONN_F_LATER)
		return;
	/* Due at once, so the loop polls instead of sleeping while work
	 * is left (edge-triggered: no new event would wake it). */
	now.et_cb = conn_later_cb;
	ev_timer_set(&gw->w_ev, &now, 0);
	c->c_flags |= CONN_F_LATER;
	c->c_lnext = gw->w_later;
	gw->w_later = c;
}

void
conn_run_later(void)
{
	struct conn *c, *list = gw->w_later;

	gw->w_later = NULL;
	while ((c = list) != NULL) {
		list = c->c_lnext;
		c->c_flags &= ~CONN_F_LATER;
		if (c->c_state != CONN_ST_CLOSING)
			conn_run(c);
	}
}

/*
 * Drain: every connection closes after the next response whose head says
 * "Connection: close" (all heads do once draining). A response whose head
 * went out before still promised keep-alive, so its connection stays for
 * the request that may follow. Idle keep-alive connections get a short
 * grace instead of an immediate close, so a request already on its way
 * is answered rather than cut off (the keep-alive close race).
 */
void
conn_drain(void)
{
	struct conn *c;
	uint64_t grace = gw_now_ms() + CONN_DRAIN_GRACE_MS;

	for (c = gw->w_conns; c != NULL; c = c->c_next) {
		if (c->c_state == CONN_ST_HEAD && buf_avail(&c->c_in) == 0 &&
		    (c->c_deadline == 0 || c->c_deadline > grace))
			c->c_deadline = grace;
	}
}
