/*
 * be: the backend side of an exchange: FastCGI connections to instances,
 * kept alive in a pool per instance, and the byte pumps between a backend
 * socket and its client connection.
 *
 * A connection is opened non-blocking; the request (BEGIN_REQUEST with
 * FCGI_KEEP_CONN, PARAMS, STDIN) is queued in b_out by the client side and
 * written as the socket accepts it. Responses are decoded with the pure
 * codec in fcgi.c; STDOUT goes to the client through conn_resp_*(), STDERR
 * to the error log tagged with the instance. After END_REQUEST the
 * connection goes back to its instance's idle pool.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proxy.h"
#include "util.h"

#define BE_READ_CHUNK	16384

static const char *const be_state_names[BE_ST_COUNT] = {
	"connecting", "idle", "send", "recv", "done", "closing",
};

const char *
be_state_str(enum be_state st)
{
	return st < BE_ST_COUNT ? be_state_names[st] : "?";
}

static void
be_set_state(struct bconn *b, enum be_state st)
{
	/* Several times per request: skip the call unless it logs. */
	if (log_get_level() >= LOG_LVL_DEBUG)
		log_debug("%s: %s fd %d: %s -> %s", __func__,
		    b->b_ins->ins_name, b->b_fd, be_state_str(b->b_state),
		    be_state_str(st));
	b->b_state = st;
}

static void	be_io_cb(struct ev *, int, void *, uint32_t);
static void	be_io(struct bconn *, uint32_t);

/* An exchange with <ins> ended: the count all workers share. */
static void
be_inflight_done(struct instance *ins)
{
	if (shm != NULL)
		atomic_fetch_sub(&shm->sh_ins[ins->ins_slot].si_inflight, 1);
}

/* Closes <b> now-ish: unregisters it and queues the free. */
static void
be_close(struct bconn *b)
{
	if (b->b_state == BE_ST_CLOSING)
		return;
	ev_del(&gw->w_ev, b->b_fd);
	be_set_state(b, BE_ST_CLOSING);
	b->b_ins->ins_nconn--;
	up_conn_closed(b->b_ins);
	b->b_next = gw->w_bclosing;
	gw->w_bclosing = b;
}

void
be_reap(void)
{
	struct bconn *b;

	while ((b = gw->w_bclosing) != NULL) {
		gw->w_bclosing = b->b_next;
		close(b->b_fd);
		buf_release(&b->b_in);
		buf_release(&b->b_out);
		free(b);
	}
}

/*
 * Opens a connection to <ins> within its maxconn, counted across all
 * workers. Returns it, or NULL with *<busy> set when the instance is at
 * capacity, or clear when the connection failed.
 */
static struct bconn *
be_connect(struct instance *ins, const char *rid, int *busy)
{
	struct bconn *b;
	int fd, rc;

	*busy = 0;
	if (!up_conn_open(ins)) {
		*busy = 1;
		return NULL;
	}
	if ((rc = fcx_connect(ins, &fd)) != 0) {
		log_warn("rid=%s: %s: %s", rid, ins->ins_name, rc == -1 ?
		    "socket" : "connect");
		if (rc == -2)
			up_report(ins, 0);
		goto fail;
	}
	if (ev_add(&gw->w_ev, fd, be_io_cb, NULL) == -1) {
		log_warn("rid=%s: %s: epoll", rid, ins->ins_name);
		goto fail;
	}
	b = xcalloc(1, sizeof(*b));
	b->b_fd = fd;
	b->b_ins = ins;
	b->b_state = BE_ST_CONNECTING;
	gw->w_ev.ev_fds[fd].ef_arg = b;
	ins->ins_nconn++;
	return b;
fail:
	if (fd != -1)
		close(fd);
	up_conn_closed(ins);
	return NULL;
}

/* Whether idle pooled <b> was closed by the app meanwhile (a worker
 * that exited): a request written to it would be lost. */
static int
be_idle_dead(struct bconn *b)
{
	char byte;
	ssize_t n;

	n = recv(b->b_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
	return !(n == -1 && (errno == EAGAIN || errno == EINTR));
}

/*
 * The first live idle pooled connection of <ins>, or NULL. One that was
 * idle when the last epoll_wait() returned needs no look: a close before
 * then came with that batch, whose events of idle connections run first
 * (ev_set_early), so it is gone from the list already. One that went idle
 * in this batch is looked at, as its close may not have been reported;
 * so is every one when the batch was full (events may wait for the next).
 */
static struct bconn *
be_take_idle(struct instance *ins)
{
	struct bconn *b, **pp;

	/* The newest of those idle before the batch: no look needed. */
	if (!gw->w_ev.ev_partial)
		for (pp = &ins->ins_idle; (b = *pp) != NULL;
		    pp = &b->b_next)
			if (b->b_idle_gen != gw->w_ev.ev_gen) {
				*pp = b->b_next;
				b->b_next = NULL;
				ev_set_early(&gw->w_ev, b->b_fd, 0);
				return b;
			}
	while ((b = ins->ins_idle) != NULL) {
		ins->ins_idle = b->b_next;
		b->b_next = NULL;
		ev_set_early(&gw->w_ev, b->b_fd, 0);
		if (!be_idle_dead(b))
			return b;
		be_close(b);
	}
	return NULL;
}

int
be_start(struct conn *c, struct instance *ins)
{
	struct bconn *b;
	int busy;

	if ((b = be_take_idle(ins)) != NULL) {
		b->b_flags |= BE_F_REUSED;
		be_set_state(b, BE_ST_SEND);
	} else if ((b = be_connect(ins, c->c_r->r_reqid, &busy)) == NULL)
		return busy ? BE_BUSY : -1;
	else
		b->b_flags &= ~BE_F_REUSED;
	b->b_flags &= ~(BE_F_HEADDONE | BE_F_GOTBYTE | BE_F_STDIN_END |
	    BE_F_PAUSED);
	b->b_conn = c;
	b->b_reqid = 1;
	fcgi_dec_init(&b->b_dec, b->b_reqid);
	buf_reset(&b->b_in);
	/* The client side built BEGIN_REQUEST + PARAMS in c_fcgi; it keeps
	 * them until the exchange ends so a retry can resend them. */
	buf_reset(&b->b_out);
	buf_append(
	    &b->b_out, buf_data(&c->c_r->r_fcgi), buf_avail(&c->c_r->r_fcgi));
	buf_reset(&c->c_r->r_rhead);
	c->c_r->r_be = b;
	c->c_r->r_ins = ins;
	c->c_r->r_t_be = gw_now_ms();
	ins->ins_outstanding++;
	if (shm != NULL)
		atomic_fetch_add(&shm->sh_ins[ins->ins_slot].si_inflight, 1);
	b->b_deadline = c->c_r->r_t_be + (b->b_state == BE_ST_CONNECTING ?
	    gw->w_conf->gc_to.to_connect : gw->w_conf->gc_to.to_response);
	if (b->b_state != BE_ST_CONNECTING)
		be_pump(b);
	return 0;
}

void
be_release(struct bconn *b, int reuse)
{
	struct instance *ins = b->b_ins;
	struct conn *c = b->b_conn;

	if (c != NULL) {
		/*
		 * A client that leaves once the head came (often right after
		 * its whole answer, before END_REQUEST): the backend's status
		 * still counts, so a 5xx is never hidden from the breaker.
		 */
		if (b->b_state != BE_ST_DONE && (b->b_flags & BE_F_HEADDONE)) {
			metrics_exchange(ins, c->c_r->r_status,
			    gw_now_ms() - c->c_r->r_t_be);
			up_report(ins, c->c_r->r_status < 500);
		}
		c->c_r->r_be = NULL;
		ins->ins_outstanding--;
		be_inflight_done(ins);
	}
	b->b_conn = NULL;
	/*
	 * Kept alive only if the whole request went out (a backend that
	 * answered before reading all of STDIN, say a 413 or 415 of an
	 * upload, would otherwise find the rest, or half a record, in front
	 * of its next request) and no other worker waits for this slot.
	 */
	if (reuse && b->b_state == BE_ST_DONE && buf_avail(&b->b_in) == 0 &&
	    (b->b_flags & BE_F_STDIN_END) && buf_avail(&b->b_out) == 0 &&
	    !up_give_back(ins)) {
		buf_reset(&b->b_out);
		b->b_flags &= ~BE_F_RD;
		be_set_state(b, BE_ST_IDLE);
		b->b_idle_since = gw_now_ms();
		b->b_idle_gen = gw->w_ev.ev_gen;
		ev_set_early(&gw->w_ev, b->b_fd, 1);
		b->b_next = ins->ins_idle;
		ins->ins_idle = b;
	} else
		be_close(b);
	up_slot_freed(ins);
}

/* Writes queued request bytes. Returns 0, or -1 when the socket failed. */
static int
be_flush(struct bconn *b)
{
	enum fcx_io r;
	size_t sent = 0;

	if (!(b->b_flags & BE_F_WR) || buf_avail(&b->b_out) == 0)
		return 0;
	r = fcx_write(b->b_fd, &b->b_out, &sent);
	if (sent > 0) {
		if (b->b_conn != NULL)
			b->b_conn->c_flags |= CONN_F_SENT_BE;
		/* The response timeout runs between bytes moved, both
		 * ways: a long upload is not a backend slow to answer. */
		b->b_deadline = gw_now_ms() + gw->w_conf->gc_to.to_response;
	}
	if (r == FCX_AGAIN)
		b->b_flags &= ~BE_F_WR;
	return r == FCX_ERR ? -1 : 0;
}

/* Appends one STDIN record with <len> bytes of <data> (<= 65535). */
void
be_put_stdin(struct bconn *b, const char *data, size_t len)
{
	size_t pad = fcgi_padding(len);

	buf_reserve(&b->b_out, FCGI_HEADER_LEN + len + pad);
	buf_commit(&b->b_out, fcgi_put_stdin_header(buf_tail(&b->b_out),
	    buf_room(&b->b_out), b->b_reqid, len));
	buf_append(&b->b_out, data, len);
	buf_append(&b->b_out, fcgi_zero_pad, pad);
}

void
be_end_stdin(struct bconn *b)
{
	if (b->b_flags & BE_F_STDIN_END)
		return;
	buf_reserve(&b->b_out, FCGI_HEADER_LEN);
	buf_commit(&b->b_out, fcgi_put_stdin_header(buf_tail(&b->b_out),
	    buf_room(&b->b_out), b->b_reqid, 0));
	b->b_flags |= BE_F_STDIN_END;
}

int
be_out_room(const struct bconn *b)
{
	return buf_avail(&b->b_out) < gw->w_conf->gc_lim.lim_buffer;
}

/* Fails the exchange: the client gets <status> unless a head went out. */
static void
be_fail(struct bconn *b, int status, const char *why)
{
	struct conn *c = b->b_conn;

	log_warnx("rid=%s: %s: %s", c != NULL ? c->c_r->r_reqid : "-",
	    b->b_ins->ins_name, why);
	b->b_conn = NULL;
	if (c != NULL) {
		c->c_r->r_be = NULL;
		b->b_ins->ins_outstanding--;
		be_inflight_done(b->b_ins);
		metrics_exchange(
		    b->b_ins, status, gw_now_ms() - c->c_r->r_t_be);
	}
	up_report(b->b_ins, 0);
	be_close(b);
	if (c != NULL)
		conn_fail(c, status, why);
	up_slot_freed(b->b_ins);
}

/* Removes idle <b> from its instance's pool list. */
static void
be_unpool(struct bconn *b)
{
	struct bconn **pp;

	for (pp = &b->b_ins->ins_idle; *pp != NULL; pp = &(*pp)->b_next)
		if (*pp == b) {
			*pp = b->b_next;
			b->b_next = NULL;
			return;
		}
}

/* An idle pooled connection became readable: the app closed it (worker
 * restart) or broke the protocol. Either way it is useless now. */
static void
be_idle_event(struct bconn *b)
{
	if (!be_idle_dead(b))
		return;		/* nothing there: still a good connection */
	log_debug("%s: %s: idle connection closed by the backend", __func__,
	    b->b_ins->ins_name);
	be_unpool(b);
	be_close(b);
}

/*
 * The health checker found <ins> too busy to answer (its idle pooled
 * connections may hold every app worker): give one back.
 */
static void
be_trim(struct instance *ins)
{
	struct bconn *b;
	uint32_t want;

	if (shm == NULL)
		return;
	want = atomic_load_explicit(&shm->sh_ins[ins->ins_slot].si_trim,
	    memory_order_relaxed);
	if (want == ins->ins_trim_seen)
		return;
	ins->ins_trim_seen = want;
	if ((b = ins->ins_idle) != NULL) {
		be_unpool(b);
		be_close(b);
	}
}

void
be_trim_idle(struct service *svc)
{
	struct instance *ins;
	struct bconn *b;
	size_t i;

	for (i = 0; i < svc->svc_nins; i++) {
		ins = svc->svc_ins[i];
		while ((b = ins->ins_idle) != NULL && up_give_back(ins)) {
			be_unpool(b);
			be_close(b);
		}
	}
}

/* Closes <ins>'s idle connections past <ttl> (all of them once the
 * instance left the registry). */
static void
be_sweep_ins(struct instance *ins, uint64_t now, uint64_t ttl)
{
	struct bconn *b, *next;

	be_trim(ins);
	for (b = ins->ins_idle; b != NULL; b = next) {
		next = b->b_next;
		if (ins->ins_gone || now - b->b_idle_since >= ttl) {
			be_unpool(b);
			be_close(b);
		}
	}
}

void
be_sweep(uint64_t now)
{
	struct instance *ins;
	size_t i;
	uint64_t ttl = gw->w_conf->gc_to.to_backend_idle;

	for (i = 0; i < gw->w_conf->gc_ninstances; i++)
		be_sweep_ins(&gw->w_conf->gc_instances[i], now, ttl);
	for (ins = lease_list(); ins != NULL; ins = ins->ins_lnext)
		be_sweep_ins(ins, now, ttl);
}

/* STDOUT bytes: CGI head first (accumulated until complete), then body. */
static int
be_stdout(struct bconn *b, struct str s)
{
	struct conn *c = b->b_conn;
	struct fcgi_cgi_head head;
	struct fcgi_head_limits lim;
	ssize_t n;

	if (b->b_flags & BE_F_HEADDONE)
		return conn_resp_body(c, s.p, s.len);
	buf_append(&c->c_r->r_rhead, s.p, s.len);
	lim.hl_max_bytes = gw->w_conf->gc_lim.lim_response_head;
	lim.hl_max_headers = FCGI_CGI_MAX_HEADERS;
	n = fcgi_parse_cgi_head(buf_data(&c->c_r->r_rhead),
	    buf_avail(&c->c_r->r_rhead), &lim, &head);
	if (n == FCGI_AGAIN)
		return 0;
	if (n == FCGI_BAD) {
		be_fail(b, 502, "invalid response head from the backend");
		return -1;
	}
	b->b_flags |= BE_F_HEADDONE;
	if (conn_resp_head(c, &head) == -1)
		return -1;
	if ((size_t)n < buf_avail(&c->c_r->r_rhead))
		return conn_resp_body(c, buf_data(&c->c_r->r_rhead) + n,
		    buf_avail(&c->c_r->r_rhead) - (size_t)n);
	return 0;
}

/* END_REQUEST: account the outcome (5xx and an incomplete end count as
 * failures for the breaker), then let the client side finish. */
static void
be_done(struct bconn *b, int complete)
{
	struct conn *c = b->b_conn;

	metrics_exchange(
	    b->b_ins, c->c_r->r_status, gw_now_ms() - c->c_r->r_t_be);
	up_report(b->b_ins, complete && c->c_r->r_status < 500);
	conn_resp_done(c, complete);
}

/* Handles one decoder event. Returns 0 to go on, -1 when <b> is done
 * with (failed, released, or its client is gone). */
static int
be_event(void *arg, const struct fcgi_event *e)
{
	struct bconn *b = arg;

	switch (e->ev_type) {
	case FCGI_EV_STDOUT:
		return be_stdout(b, e->ev_data);
	case FCGI_EV_STDERR:
		fcx_stderr(b->b_ins,
		    b->b_conn != NULL ? b->b_conn->c_r->r_reqid : "-",
		    e->ev_data);
		return 0;
	case FCGI_EV_END:
		if (!(b->b_flags & BE_F_HEADDONE)) {
			be_fail(b, 502, "backend ended without a response");
			return -1;
		}
		be_set_state(b, BE_ST_DONE);
		be_done(b, e->ev_proto_status == FCGI_REQUEST_COMPLETE);
		return -1;
	case FCGI_EV_ERROR:
		be_fail(b, 502, fcgi_err_str(e->ev_err));
		return -1;
	default:
		/* Management replies: nothing to do for a request. */
		return 0;
	}
}

/*
 * Detaches the client of <b> (which is closed) for a retry of <why>,
 * and sends the request again. <c> must be attached.
 */
static void
be_retry(struct bconn *b, enum metrics_retry why)
{
	struct conn *c = b->b_conn;
	struct instance *ins = b->b_ins;

	c->c_r->r_be = NULL;
	b->b_conn = NULL;
	ins->ins_outstanding--;
	be_inflight_done(ins);
	be_close(b);
	conn_retry(c, ins, why);
	up_slot_freed(ins);
}

/*
 * The backend closed or reset before END_REQUEST. A request nothing of
 * which was answered is sent again when conn_can_retry() allows: a dead
 * pooled connection or a worker killed while serving it says nothing of
 * the instance, so only a connection that was not reused counts for the
 * breaker.
 */
static void
be_eof(struct bconn *b)
{
	struct conn *c = b->b_conn;

	if (c != NULL && (b->b_flags & BE_F_HEADDONE) &&
	    c->c_r->r_resp_left == 0) {
		/* Every byte the head announced arrived, only END_REQUEST
		 * is missing (the app died right after writing): the client
		 * has its whole answer, and its connection, announced as
		 * kept alive, must stay usable for the next request. */
		log_warnx("rid=%s: %s: closed after the response, before its "
		    "end", c->c_r->r_reqid, b->b_ins->ins_name);
		be_done(b, 0);
		return;
	}
	if (c != NULL && !(b->b_flags & BE_F_GOTBYTE) &&
	    conn_can_retry(c, METRICS_RETRY_RESET)) {
		if (!(b->b_flags & BE_F_REUSED))
			up_report(b->b_ins, 0);
		be_retry(b, METRICS_RETRY_RESET);
		return;
	}
	be_fail(b, 502, b->b_flags & BE_F_GOTBYTE ?
	    "backend closed the connection mid-response" :
	    "backend closed the connection before answering");
}

/* Reads and decodes while the client can take more. */
static void
be_read(struct bconn *b)
{
	enum fcx_io r;
	size_t got;

	b->b_flags &= ~BE_F_PAUSED;
	while ((b->b_flags & BE_F_RD) && b->b_conn != NULL) {
		if (!conn_out_room(b->b_conn)) {
			/* The client is behind: it, not the backend, holds
			 * the exchange up (be_check_timeout). */
			b->b_flags |= BE_F_PAUSED;
			break;
		}
		r = fcx_read(b->b_fd, &b->b_in, BE_READ_CHUNK, &got);
		if (r == FCX_AGAIN) {
			b->b_flags &= ~BE_F_RD;
			break;
		}
		if (r != FCX_OK) {
			be_eof(b);
			return;
		}
		/* A short read drained the socket (edge-triggered): skip
		 * the read that would only say EAGAIN, unless a close is
		 * pending and must still be seen. */
		if (got < BE_READ_CHUNK && !(b->b_flags & BE_F_RDHUP))
			b->b_flags &= ~BE_F_RD;
		b->b_flags |= BE_F_GOTBYTE;
		b->b_deadline = gw_now_ms() + gw->w_conf->gc_to.to_response;
		if (fcx_decode(&b->b_dec, &b->b_in, be_event, b) == -1)
			return;
		buf_compact(&b->b_in);
	}
}

/* Nothing reached the backend: try another instance (or fail 503). */
static void
be_connect_failed(struct bconn *b)
{
	struct conn *c = b->b_conn;

	b->b_conn = NULL;
	be_close(b);
	up_report(b->b_ins, 0);
	if (c == NULL)
		return;
	c->c_r->r_be = NULL;
	b->b_ins->ins_outstanding--;
	be_inflight_done(b->b_ins);
	if (conn_can_retry(c, METRICS_RETRY_CONNECT))
		conn_retry(c, b->b_ins, METRICS_RETRY_CONNECT);
	else
		conn_fail_unavailable(c);
	up_slot_freed(b->b_ins);
}

void
be_check_timeout(struct bconn *b, uint64_t now)
{
	struct conn *c = b->b_conn;

	if (b->b_deadline == 0 || now < b->b_deadline)
		return;
	/* Still waiting for the client's body: its body-idle timeout
	 * governs; the backend's clock starts again with the next bytes. */
	if (b->b_state == BE_ST_SEND && c != NULL &&
	    !(c->c_flags & CONN_F_BODYREAD) && buf_avail(&b->b_out) == 0)
		return;
	/* Reading paused because the client does not take the response:
	 * its send timeout decides, never the backend's. */
	if (b->b_flags & BE_F_PAUSED) {
		b->b_deadline = now + gw->w_conf->gc_to.to_response;
		return;
	}
	if (b->b_state == BE_ST_CONNECTING) {
		log_warnx("rid=%s: %s: connect timed out", c != NULL ?
		    c->c_r->r_reqid : "-", b->b_ins->ins_name);
		be_connect_failed(b);
		return;
	}
	be_fail(b, 504, "backend did not answer in time");
}

static int
be_connected(struct bconn *b)
{
	if (fcx_connected(b->b_fd) == -1) {
		log_warn("rid=%s: %s: connect", b->b_conn != NULL ?
		    b->b_conn->c_r->r_reqid : "-", b->b_ins->ins_name);
		return -1;
	}
	be_set_state(b, BE_ST_SEND);
	b->b_deadline = gw_now_ms() + gw->w_conf->gc_to.to_response;
	return 0;
}

void
be_pump(struct bconn *b)
{
	struct conn *c = b->b_conn;

	if (b->b_state == BE_ST_CONNECTING || c == NULL)
		return;
	conn_pump_body(c);
	if (b->b_conn == NULL)
		return;		/* the client side failed the request */
	if (be_flush(b) == -1) {
		/* Not a byte accepted: provably unsent, whatever the
		 * method (a pooled connection whose worker is gone). */
		if (!(c->c_flags & CONN_F_SENT_BE) &&
		    conn_can_retry(c, METRICS_RETRY_UNSENT)) {
			be_retry(b, METRICS_RETRY_UNSENT);
			return;
		}
		be_fail(b, 502, "cannot send the request to the backend");
		return;
	}
	if (b->b_state == BE_ST_SEND && (b->b_flags & BE_F_STDIN_END) &&
	    buf_avail(&b->b_out) == 0)
		be_set_state(b, BE_ST_RECV);
	be_read(b);
}

static void
be_io_cb(struct ev *ev, int fd, void *arg, uint32_t events)
{
	struct bconn *b = arg;
	struct conn *c = b->b_conn;

	(void)ev;
	(void)fd;
	be_io(b, events);
	/* Whatever happened, let the client side move on (flush, next
	 * request, close). Frees are deferred, so <c> is still valid. */
	if (c != NULL)
		conn_run(c);
}

static void
be_io(struct bconn *b, uint32_t events)
{
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		b->b_flags |= BE_F_RD;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		b->b_flags |= BE_F_WR;
	if (events & EPOLLRDHUP)
		b->b_flags |= BE_F_RDHUP;
	switch (b->b_state) {
	case BE_ST_IDLE:
		/* Only this event matters: the flags may be left over from
		 * the exchange that ended. */
		if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			be_idle_event(b);
		return;
	case BE_ST_CONNECTING:
		if (!(b->b_flags & BE_F_WR))
			return;
		if (be_connected(b) == -1) {
			be_connect_failed(b);
			return;
		}
		/* FALLTHROUGH */
	case BE_ST_SEND:
	case BE_ST_RECV:
		be_pump(b);
		return;
	default:
		return;
	}
}
